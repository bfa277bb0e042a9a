//! The gate's HTTP side: each connection on loopback is asked who owns it (the kernel's
//! answer, `caller`), each request on it goes to that resident's API upstream with the
//! real key in place of the placeholder, and the answer streams back as it comes.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::count::{Admission, Count};
use crate::credential::Api;
use crate::usage::Meter;

type Error = Box<dyn std::error::Error + Send + Sync>;
type Body = BoxBody<Bytes, Error>;

/// Which resident each uid is, and the API it may reach.
#[derive(Debug, Default)]
pub struct Routes {
    pub by_uid: HashMap<u32, (String, Arc<Api>)>,
    /// Every resident by uid, with the hosts its `[network] allow` opens (maybe none).
    pub allow: HashMap<u32, Arc<Allowed>>,
}

/// A resident's name and the hosts its tools may reach through the tunnel.
#[derive(Debug, Default)]
pub struct Allowed {
    pub resident: String,
    pub hosts: Vec<townhall_config::Reach>,
}

/// Serve the gate on `listener` until the task is dropped. `routes` may be replaced
/// while it serves (a reload); a connection keeps the route it started with.
pub async fn serve(
    listener: TcpListener,
    routes: Arc<RwLock<Routes>>,
    upstream: reqwest::Client,
    count: Arc<dyn Count>,
) {
    let mut backoff = townhall_wire::backoff::Backoff::new(
        std::time::Duration::from_millis(10),
        std::time::Duration::from_secs(1),
    );
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => {
                backoff.succeeded();
                accepted
            }
            Err(e) => {
                let pause = backoff.failed().expect("a backoff without a deadline");
                tracing::warn!("the gate could not accept a connection: {e}; again in {pause:?}");
                tokio::time::sleep(pause).await;
                continue;
            }
        };
        let Ok(local) = stream.local_addr() else {
            continue;
        };
        // Asked at once: a socket that closes first reads as no one's.
        let caller = tokio::task::spawn_blocking(move || crate::caller::uid_of(local, peer));
        let (route, allowed) = match caller.await {
            Ok(Ok(uid)) => {
                let r = routes.read().expect("lock");
                let allowed = r.allow.get(&uid).cloned();
                ((uid, r.by_uid.get(&uid).cloned()), allowed)
            }
            Ok(Err(e)) => {
                tracing::warn!(%peer, "a caller the kernel does not name: {e}");
                continue;
            }
            Err(e) => {
                tracing::warn!(%peer, "asking who calls failed: {e}");
                continue;
            }
        };
        let (client, count) = (upstream.clone(), count.clone());
        tokio::spawn(async move {
            let route = Arc::new(route);
            let service = service_fn(move |req: Request<Incoming>| {
                let (route, client, count) = (route.clone(), client.clone(), count.clone());
                let allowed = allowed.clone();
                async move {
                    if req.method() == hyper::Method::CONNECT {
                        let tunnel = connect(route.0, allowed.as_deref(), &count, req).await;
                        return Ok::<_, Infallible>(tunnel);
                    }
                    Ok::<_, Infallible>(forward(&route, &client, &count, req).await)
                }
            });
            let served = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .with_upgrades()
                .await;
            if let Err(e) = served {
                tracing::debug!(%peer, "a gate connection ended: {e}");
            }
        });
    }
}

fn said(status: StatusCode, text: String) -> Response<Body> {
    let body = Full::new(Bytes::from(text)).map_err(|e| match e {}).boxed();
    let mut r = Response::new(body);
    *r.status_mut() = status;
    r
}

/// A refusal every CLI shows in its own words: Anthropic's and OpenAI's clients read
/// `error.message`, Gemini's `error.status` and `error.message`.
fn refused(why: &str) -> Response<Body> {
    let body = serde_json::json!({
        "type": "error",
        "error": {
            "type": "permission_error",
            "code": 403,
            "status": "PERMISSION_DENIED",
            "message": format!("townhall gate: {why}"),
        },
    });
    let mut r = said(StatusCode::FORBIDDEN, body.to_string());
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// Feeds an answer's bytes to the meter as they pass, and says what the call used once
/// the answer is done with (ended, or dropped when the caller went away).
struct Tally {
    uid: u32,
    meter: Option<Meter>,
    count: Arc<dyn Count>,
}

impl Drop for Tally {
    fn drop(&mut self) {
        if let Some(m) = self.meter.take() {
            self.count.used(self.uid, m.finish());
        }
    }
}

/// A CONNECT of `uid`'s: to a host its `[network] allow` names, at a public address the
/// gate resolved itself; then the bytes flow both ways until either side closes.
async fn connect(
    uid: u32,
    allowed: Option<&Allowed>,
    count: &Arc<dyn Count>,
    req: Request<Incoming>,
) -> Response<Body> {
    let wanted = req.uri().authority().and_then(|a| {
        let host = a.host().trim_start_matches('[').trim_end_matches(']');
        Some(townhall_config::Reach {
            host: host.to_ascii_lowercase(),
            port: a.port_u16()?,
        })
    });
    let Some(townhall_config::Reach { host, port }) = wanted else {
        return said(
            StatusCode::BAD_REQUEST,
            "townhall gate: CONNECT needs host:port\n".into(),
        );
    };
    let Some(allowed) = allowed else {
        let why = format!("townhall gate: uid {uid} is not a resident\n");
        return said(StatusCode::FORBIDDEN, why);
    };
    let resident = &allowed.resident;
    // Not allowed: root asks the mayor, whose yes holds for the round.
    let listed = allowed
        .hosts
        .iter()
        .any(|r| r.host == host && r.port == port);
    if !listed {
        let why = match count.reach(uid, host.clone(), port).await {
            Admission::Admitted => None,
            Admission::Refused(why) | Admission::Unasked(why) => Some(why),
        };
        if let Some(why) = why {
            tracing::info!(uid, %resident, %host, port, "refused: not allowed ({why})");
            let why = format!(
                "townhall gate: {resident} may not reach {host}:{port}: it is not in [network] allow of residents/{resident}.toml, and {why}\n"
            );
            return said(StatusCode::FORBIDDEN, why);
        }
        tracing::info!(uid, %resident, %host, port, "allowed by a mayor for this round");
    }
    let far = match crate::tunnel::open(&host, port).await {
        Ok(far) => far,
        Err(e) => {
            tracing::info!(uid, %resident, %host, port, "refused: {e}");
            let status = match e {
                crate::tunnel::TunnelError::Private { .. } => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_GATEWAY,
            };
            return said(status, format!("townhall gate: {e}\n"));
        }
    };
    tracing::info!(uid, %resident, %host, port, "tunnel open");
    tokio::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => {
                let (mut near, mut far) = (TokioIo::new(upgraded), far);
                let _ = tokio::io::copy_bidirectional(&mut near, &mut far).await;
            }
            Err(e) => tracing::debug!("a tunnel was never taken up: {e}"),
        }
    });
    said(StatusCode::OK, String::new())
}

/// One request of `uid`'s, to its API's upstream; what it answers, or why not.
async fn forward(
    route: &(u32, Option<(String, Arc<Api>)>),
    client: &reqwest::Client,
    count: &Arc<dyn Count>,
    req: Request<Incoming>,
) -> Response<Body> {
    let (uid, Some((resident, api))) = route else {
        let why = format!(
            "townhall gate: uid {} is not a resident with a model API (`api` in its residents/NAME.toml [agent])\n",
            route.0
        );
        return said(StatusCode::FORBIDDEN, why);
    };
    match count.admit(*uid).await {
        Admission::Admitted => {}
        Admission::Refused(why) => {
            tracing::info!(uid, %resident, "refused at the gate: {why}");
            return refused(&why);
        }
        Admission::Unasked(why) => {
            tracing::error!(uid, %resident, "{why}");
            let why = format!("townhall gate: no call goes out uncounted, and {why}\n");
            return said(StatusCode::SERVICE_UNAVAILABLE, why);
        }
    }
    let (parts, body) = req.into_parts();
    let headers = match api.outgoing(&parts.headers) {
        Ok(h) => h,
        Err(e) => {
            return said(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("townhall gate: {e}\n"),
            );
        }
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{path}", api.upstream.trim_end_matches('/'));
    let sent = client
        .request(parts.method.clone(), &url)
        .headers(headers)
        .body(reqwest::Body::wrap(body))
        .send()
        .await;
    match sent {
        Ok(answer) => {
            tracing::info!(uid, %resident, api = %api.name, method = %parts.method, path, status = answer.status().as_u16(), "through the gate");
            let kind = answer.headers().get(hyper::header::CONTENT_TYPE);
            let mut tally = Tally {
                uid: *uid,
                meter: Some(Meter::new(kind.and_then(|v| v.to_str().ok()))),
                count: count.clone(),
            };
            let answer: Response<reqwest::Body> = answer.into();
            answer.map(|b| {
                b.map_err(|e| Box::new(e) as Error)
                    .map_frame(move |frame| {
                        if let (Some(d), Some(m)) = (frame.data_ref(), tally.meter.as_mut()) {
                            m.feed(d);
                        }
                        frame
                    })
                    .boxed()
            })
        }
        Err(e) => {
            tracing::warn!(uid, %resident, api = %api.name, "the upstream did not answer: {e}");
            let why = format!("townhall gate: {} did not answer: {e}\n", api.name);
            said(StatusCode::BAD_GATEWAY, why)
        }
    }
}

#[cfg(test)]
mod tests;
