//! The gate over real loopback sockets: the kernel names the caller (this test's own uid),
//! the upstream stand-in sees the real key and never the placeholder, and a caller with
//! no route, or an upstream that is down, gets words that say so.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::{Routes, serve};
use crate::count::FakeCount;
use crate::credential::{Api, Scheme};

/// What the stand-in upstream received: method, path, headers as `name: value`, body.
type Seen = Arc<Mutex<Vec<(String, String, Vec<String>, String)>>>;

/// An upstream on loopback that answers `answer` and records each request.
async fn upstream() -> (SocketAddr, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    let seen: Seen = Default::default();
    let record = seen.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let record = record.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let record = record.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        let headers = parts
                            .headers
                            .iter()
                            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
                            .collect();
                        record.lock().unwrap().push((
                            parts.method.to_string(),
                            parts.uri.to_string(),
                            headers,
                            String::from_utf8_lossy(&body).into(),
                        ));
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                            Bytes::from_static(b"answer"),
                        )))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (at, seen)
}

/// The gate on loopback, routing this process's uid to `api` when given.
async fn gate(api: Option<Api>) -> SocketAddr {
    gate_counted(api, Arc::new(FakeCount::default())).await
}

async fn gate_counted(api: Option<Api>, count: Arc<FakeCount>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    let mut by_uid = HashMap::new();
    if let Some(api) = api {
        let me = nix::unistd::geteuid().as_raw();
        by_uid.insert(me, ("ada".to_string(), Arc::new(api)));
    }
    let routes = Arc::new(RwLock::new(Routes {
        by_uid,
        ..Routes::default()
    }));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    tokio::spawn(serve(listener, routes, client, count));
    at
}

fn api(upstream: SocketAddr) -> Api {
    Api {
        name: "anthropic".into(),
        upstream: format!("http://{upstream}"),
        scheme: Scheme::XApiKey,
        key: "sk-real-key".into(),
    }
}

/// A CLI's request: the placeholder as its key.
async fn ask(gate: SocketAddr) -> (StatusCode, String) {
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let answer = client
        .post(format!("http://{gate}/v1/messages?beta=true"))
        .header("x-api-key", "townhall-placeholder")
        .header("authorization", "Bearer townhall-placeholder")
        .header("anthropic-version", "2023-06-01")
        .body("hello")
        .send()
        .await
        .unwrap();
    (answer.status(), answer.text().await.unwrap())
}

#[tokio::test]
async fn the_upstream_gets_the_real_key_and_never_the_placeholder() {
    let (up, seen) = upstream().await;
    let gate = gate(Some(api(up))).await;
    assert_eq!(ask(gate).await, (StatusCode::OK, "answer".into()));
    let seen = seen.lock().unwrap().clone();
    let [(method, path, headers, body)] = seen.as_slice() else {
        panic!("{seen:?}")
    };
    assert_eq!(
        (method.as_str(), path.as_str(), body.as_str()),
        ("POST", "/v1/messages?beta=true", "hello")
    );
    assert!(
        headers.contains(&"x-api-key: sk-real-key".to_string()),
        "{headers:?}"
    );
    assert!(
        headers.contains(&"anthropic-version: 2023-06-01".to_string()),
        "{headers:?}"
    );
    assert!(
        !headers.iter().any(|h| h.contains("placeholder")),
        "the placeholder went upstream: {headers:?}"
    );
}

#[tokio::test]
async fn a_caller_without_a_route_gets_words_and_the_upstream_nothing() {
    let (_, seen) = upstream().await;
    let gate = gate(None).await;
    let (status, said) = ask(gate).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        said.contains("is not a resident with a model API"),
        "{said}"
    );
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_upstream_that_is_down_is_named() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = closed.local_addr().unwrap();
    drop(closed);
    let gate = gate(Some(api(down))).await;
    let (status, said) = ask(gate).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(said.contains("anthropic did not answer"), "{said}");
}

#[tokio::test]
async fn a_spent_budget_is_refused_in_words_and_the_upstream_gets_nothing() {
    let (up, seen) = upstream().await;
    let count = Arc::new(FakeCount {
        refuse: Some("ada has spent $1.00 of this round's budget of $1.00".into()),
        ..FakeCount::default()
    });
    let gate = gate_counted(Some(api(up)), count.clone()).await;
    let (status, said) = ask(gate).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let said: serde_json::Value = serde_json::from_str(&said).unwrap();
    let message = said["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("budget of $1.00"), "{said}");
    assert!(seen.lock().unwrap().is_empty());
    assert!(count.used.lock().unwrap().is_empty());
}

#[tokio::test]
async fn each_answered_call_is_counted_once_it_has_streamed() {
    let (up, _) = upstream().await;
    let count = Arc::new(FakeCount::default());
    let gate = gate_counted(Some(api(up)), count.clone()).await;
    assert_eq!(ask(gate).await.0, StatusCode::OK);
    // The tally is said when hyper drops the answer's body, just after its last byte.
    for _ in 0..200 {
        if !count.used.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let used = count.used.lock().unwrap().clone();
    let me = nix::unistd::geteuid().as_raw();
    assert_eq!(used.iter().map(|(uid, _)| *uid).collect::<Vec<_>>(), [me]);
}

/// A CONNECT through the gate, as curl's `-p` or git make it: the status line and words.
async fn tunnel(gate: SocketAddr, to: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(gate).await.unwrap();
    let ask = format!("CONNECT {to} HTTP/1.1\r\nHost: {to}\r\n\r\n");
    s.write_all(ask.as_bytes()).await.unwrap();
    let mut buf = vec![0; 4096];
    let n = s.read(&mut buf).await.unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

async fn gate_allowing(hosts: &[&str], count: Arc<FakeCount>) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let at = listener.local_addr().unwrap();
    let me = nix::unistd::geteuid().as_raw();
    let allowed = super::Allowed {
        resident: "ada".into(),
        hosts: hosts
            .iter()
            .map(|h| townhall_config::network::reach(h).unwrap())
            .collect(),
    };
    let mut routes = Routes::default();
    routes.allow.insert(me, Arc::new(allowed));
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    tokio::spawn(serve(
        listener,
        Arc::new(RwLock::new(routes)),
        client,
        count,
    ));
    at
}

#[tokio::test]
async fn a_tunnel_goes_only_to_an_allowed_host_at_a_public_address() {
    let count = Arc::new(FakeCount {
        refuse: Some("no mayor said yes".into()),
        ..FakeCount::default()
    });
    let gate = gate_allowing(&["localhost:8008"], count).await;
    // Allowed by name, but the name leads back to this host.
    let back = tunnel(gate, "localhost:8008").await;
    assert!(back.starts_with("HTTP/1.1 403"), "{back}");
    assert!(
        back.contains("resolves only to addresses of this host"),
        "{back}"
    );
    // Not allowed: root is asked, and its no is said.
    let other = tunnel(gate, "registry.npmjs.org:443").await;
    assert!(other.starts_with("HTTP/1.1 403"), "{other}");
    assert!(
        other.contains("not in [network] allow of residents/ada.toml")
            && other.contains("no mayor said yes"),
        "{other}"
    );
}
