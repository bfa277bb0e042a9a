//! `townhall-gate bench`: what the gate adds between a CLI and its model API, measured in
//! one run beside a direct connection to the same upstream. The upstream is a loopback
//! server in this process; the gate is the real one (the kernel names the caller, the key
//! is swapped, each call is admitted over a ledger socket and its usage metered and told),
//! with a ledger that answers at once standing in for root.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, UnixListener};

use crate::count::RootLedger;
use crate::credential::{Api, Scheme};
use crate::proxy::{Routes, serve};

/// One figure per way, side by side.
#[derive(Debug, serde::Serialize)]
pub struct Figures {
    pub requests: usize,
    pub direct_first_byte_p50_ms: f64,
    pub gate_first_byte_p50_ms: f64,
    pub direct_first_byte_p90_ms: f64,
    pub gate_first_byte_p90_ms: f64,
    pub megabytes: usize,
    pub direct_mb_per_s: f64,
    pub gate_mb_per_s: f64,
}

const CHUNK: usize = 64 * 1024;
/// A small streamed answer, as a model's first event would be.
const EVENT: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"bench\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n";

/// The upstream: `/first` answers one event; `/stream/N` streams N MiB in 64 KiB chunks.
async fn upstream() -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let at = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = service_fn(|req: Request<hyper::body::Incoming>| async move {
                    let path = req.uri().path().to_string();
                    let _ = req.into_body().collect().await;
                    let mib: usize = path
                        .strip_prefix("/stream/")
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    let chunks = (mib * 1024 * 1024).div_ceil(CHUNK);
                    let first = std::iter::once(Bytes::from_static(EVENT.as_bytes()));
                    let rest = (0..chunks).map(|_| Bytes::from(vec![b'x'; CHUNK]));
                    let frames = futures_util::stream::iter(
                        first
                            .chain(rest)
                            .map(|b| Ok::<_, Infallible>(Frame::data(b))),
                    );
                    let body = StreamBody::new(frames);
                    let mut r = Response::new(body);
                    r.headers_mut().insert(
                        hyper::header::CONTENT_TYPE,
                        hyper::header::HeaderValue::from_static("text/event-stream"),
                    );
                    Ok::<_, Infallible>(r)
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(at)
}

/// A ledger that admits every call and records nothing: root's part, at its cheapest.
async fn ledger(dir: &std::path::Path) -> anyhow::Result<std::path::PathBuf> {
    let path = dir.join("ledger.sock");
    let listener = UnixListener::bind(&path)?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut line = String::new();
                if BufReader::new(read).read_line(&mut line).await.is_ok() {
                    let said = if line.contains("\"used\"") {
                        "recorded"
                    } else {
                        "admitted"
                    };
                    let _ = write
                        .write_all(format!("{{\"said\":\"{said}\"}}\n").as_bytes())
                        .await;
                }
            });
        }
    });
    Ok(path)
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    ms(sorted[i])
}

/// A call as a CLI makes it, with the placeholder for a key.
async fn ask(client: &reqwest::Client, url: &str) -> anyhow::Result<reqwest::Response> {
    let answer = client
        .post(url)
        .header("x-api-key", "townhall-gate-placeholder")
        .body("{}")
        .send()
        .await?;
    anyhow::ensure!(answer.status().is_success(), "{url}: {}", answer.status());
    Ok(answer)
}

/// Time to the first byte of `n` answers from `base`, then the median rate of `STREAMS`
/// long streams.
async fn measure(
    client: &reqwest::Client,
    base: &str,
    n: usize,
    megabytes: usize,
) -> anyhow::Result<(Vec<Duration>, f64)> {
    let mut firsts = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let mut answer = ask(client, &format!("{base}/first")).await?;
        answer.chunk().await?;
        firsts.push(t.elapsed());
        while answer.chunk().await?.is_some() {}
    }
    firsts.sort();
    // The rate of one long stream swings with where the scheduler puts the three parties
    // on few cores: the median of several.
    let mut rates = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS {
        let t = Instant::now();
        let mut answer = ask(client, &format!("{base}/stream/{megabytes}")).await?;
        let mut bytes = 0usize;
        while let Some(c) = answer.chunk().await? {
            bytes += c.len();
        }
        rates.push((bytes as f64 / (1024.0 * 1024.0)) / t.elapsed().as_secs_f64());
    }
    rates.sort_by(f64::total_cmp);
    Ok((firsts, rates[STREAMS / 2]))
}

/// Long streams timed each way; the median rate is reported.
const STREAMS: usize = 5;

pub async fn run(requests: usize, megabytes: usize) -> anyhow::Result<Figures> {
    anyhow::ensure!(
        requests > 0 && megabytes > 0,
        "give --requests and --megabytes above 0"
    );
    let dir = tempfile::tempdir()?;
    let up = upstream().await?;
    let ledger = ledger(dir.path()).await?;
    let me = nix::unistd::geteuid().as_raw();
    let api = Api {
        name: "bench".into(),
        upstream: format!("http://{up}"),
        scheme: Scheme::XApiKey,
        key: "sk-bench".into(),
    };
    let mut routes = Routes::default();
    routes.by_uid.insert(me, ("bench".into(), Arc::new(api)));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let gate = listener.local_addr()?;
    let client = reqwest::Client::builder().no_proxy().build()?;
    let count = Arc::new(RootLedger { path: ledger });
    tokio::spawn(serve(
        listener,
        Arc::new(RwLock::new(routes)),
        client.clone(),
        count,
    ));
    // Warm both ways once (connections, the allocator) before measuring.
    measure(&client, &format!("http://{up}"), 5, 1).await?;
    measure(&client, &format!("http://{gate}"), 5, 1).await?;
    eprintln!("bench: {requests} answers and {megabytes} MiB each way…");
    let (direct, direct_rate) =
        measure(&client, &format!("http://{up}"), requests, megabytes).await?;
    let (through, gate_rate) =
        measure(&client, &format!("http://{gate}"), requests, megabytes).await?;
    Ok(Figures {
        requests,
        direct_first_byte_p50_ms: percentile(&direct, 0.5),
        gate_first_byte_p50_ms: percentile(&through, 0.5),
        direct_first_byte_p90_ms: percentile(&direct, 0.9),
        gate_first_byte_p90_ms: percentile(&through, 0.9),
        megabytes,
        direct_mb_per_s: (direct_rate * 10.0).round() / 10.0,
        gate_mb_per_s: (gate_rate * 10.0).round() / 10.0,
    })
}
