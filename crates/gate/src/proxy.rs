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
        let route = match caller.await {
            Ok(Ok(uid)) => (uid, routes.read().expect("lock").by_uid.get(&uid).cloned()),
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
            let service = service_fn(move |req| {
                let (route, client, count) = (route.clone(), client.clone(), count.clone());
                async move { Ok::<_, Infallible>(forward(&route, &client, &count, req).await) }
            });
            let served = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
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
