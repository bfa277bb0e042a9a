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
use tokio_rustls::TlsAcceptor;

use crate::count::RootLedger;
use crate::credential::{Api, Scheme};
use crate::proxy::{Routes, serve};

mod cpu;

/// What one way measured: to the first byte, and the rate of a long stream.
#[derive(Debug, serde::Serialize)]
pub struct Way {
    pub first_byte_p50_ms: f64,
    pub first_byte_p90_ms: f64,
    pub mb_per_s: f64,
    /// CPU time per GiB of the long streams, by each party: what each way costs the
    /// machine, whatever the scheduler did with the two rates.
    pub client_cpu_s_per_gib: f64,
    pub upstream_cpu_s_per_gib: f64,
    pub gate_cpu_s_per_gib: f64,
}

/// Both ways to the same upstream, side by side.
#[derive(Debug, serde::Serialize)]
pub struct Pair {
    pub direct: Way,
    pub gate: Way,
}

/// The figures of one run: the upstream over HTTPS, as every real model API is (the CLI
/// speaks TLS to it directly, or plain HTTP to the gate on loopback and the gate speaks TLS),
/// and over plain HTTP, where the second hop is all the gate adds.
#[derive(Debug, serde::Serialize)]
pub struct Figures {
    pub requests: usize,
    pub megabytes: usize,
    pub https: Pair,
    pub plain: Pair,
}

/// About how much of the stream is written at once.
const CHUNK: usize = 64 * 1024;
/// What most of a model's stream is: text, an event at a time, in Anthropic's words.
const DELTA: &str = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" and so the answer streams on, a few words to an event, as a model writes it\"}}\n\n";
/// Whole text events to about CHUNK bytes, made once: each write sends the same bytes.
static TEXT: std::sync::LazyLock<Bytes> =
    std::sync::LazyLock::new(|| Bytes::from(DELTA.repeat(CHUNK / DELTA.len())));
/// The end of the answer, with its usage.
const LAST: &str = "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":9}}\n\n";
/// A small streamed answer, as a model's first event would be.
const EVENT: &str = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"bench\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n";

/// The upstream's answers: `/first` answers two events; `/stream/N` streams N MiB of text
/// events between them, about 64 KiB at a time.
async fn answer<T>(io: T)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(|req: Request<hyper::body::Incoming>| async move {
        let path = req.uri().path().to_string();
        let _ = req.into_body().collect().await;
        let mib: usize = path
            .strip_prefix("/stream/")
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let chunk = TEXT.clone();
        let chunks = (mib * 1024 * 1024).div_ceil(chunk.len());
        let first = std::iter::once(Bytes::from_static(EVENT.as_bytes()));
        let rest = std::iter::repeat_n(chunk, chunks);
        let last = std::iter::once(Bytes::from_static(LAST.as_bytes()));
        let frames = futures_util::stream::iter(
            first
                .chain(rest)
                .chain(last)
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
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// The stand-in upstream on loopback, over TLS when given an acceptor.
async fn upstream(tls: Option<TlsAcceptor>) -> anyhow::Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let at = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    Some(tls) => {
                        if let Ok(stream) = tls.accept(stream).await {
                            answer(stream).await;
                        }
                    }
                    None => answer(stream).await,
                }
            });
        }
    });
    Ok(at)
}

/// A certificate for 127.0.0.1, made for this run: the acceptor that serves it, and the
/// root the clients (the bench's and the gate's) trust it by.
fn certificate() -> anyhow::Result<(TlsAcceptor, reqwest::Certificate)> {
    let made = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()])?;
    let cert = made.cert.der().clone();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(made.signing_key.serialize_der());
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key.into())?;
    let root = reqwest::Certificate::from_der(&cert)?;
    Ok((TlsAcceptor::from(Arc::new(config)), root))
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

/// Times to the first byte of `n` answers from `base`, sorted.
async fn firsts(client: &reqwest::Client, base: &str, n: usize) -> anyhow::Result<Vec<Duration>> {
    let mut firsts = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let mut answer = ask(client, &format!("{base}/first")).await?;
        answer.chunk().await?;
        firsts.push(t.elapsed());
        while answer.chunk().await?.is_some() {}
    }
    firsts.sort();
    Ok(firsts)
}

/// One long stream from `base`: its rate in MiB/s, and the CPU each party spent on it
/// (client, upstream, gate).
async fn stream(
    client: &reqwest::Client,
    base: &str,
    megabytes: usize,
) -> anyhow::Result<(f64, [Duration; 3])> {
    let before = [CLIENT, UPSTREAM, GATE].map(cpu::used);
    let t = Instant::now();
    let mut answer = ask(client, &format!("{base}/stream/{megabytes}")).await?;
    let mut bytes = 0usize;
    while let Some(c) = answer.chunk().await? {
        bytes += c.len();
    }
    let rate = (bytes as f64 / (1024.0 * 1024.0)) / t.elapsed().as_secs_f64();
    let after = [CLIENT, UPSTREAM, GATE].map(cpu::used);
    Ok((rate, [0, 1, 2].map(|i| after[i] - before[i])))
}

/// What the answers and streams of one way came to.
fn way(firsts: &[Duration], mut rates: Vec<f64>, spent: [Duration; 3], gib: f64) -> Way {
    rates.sort_by(f64::total_cmp);
    let per_gib = |d: Duration| (d.as_secs_f64() / gib * 1000.0).round() / 1000.0;
    Way {
        first_byte_p50_ms: percentile(firsts, 0.5),
        first_byte_p90_ms: percentile(firsts, 0.9),
        mb_per_s: (rates[rates.len() / 2] * 10.0).round() / 10.0,
        client_cpu_s_per_gib: per_gib(spent[0]),
        upstream_cpu_s_per_gib: per_gib(spent[1]),
        gate_cpu_s_per_gib: per_gib(spent[2]),
    }
}

/// Long streams timed each way; the median rate is reported. The rate of one swings with
/// where the scheduler puts the three parties on few cores.
const STREAMS: usize = 7;

/// The names of the runtimes' threads, whose CPU is counted apart: the client (a CLI), the
/// upstream (a model API, here on the same machine) and the gate.
const CLIENT: &str = "bench-client";
const UPSTREAM: &str = "bench-upstream";
const GATE: &str = "bench-gate";

/// A client as a CLI's or the gate's own: no proxy, and this run's root trusted.
fn client(root: &reqwest::Certificate) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only([root.clone()])
        .build()?)
}

/// The real gate on a loopback port of its own, routing this process's uid to `upstream`,
/// served on `on`: a runtime of its own, as the gate is a process of its own.
fn gate(
    on: &tokio::runtime::Handle,
    upstream: String,
    ledger: std::path::PathBuf,
    root: &reqwest::Certificate,
) -> anyhow::Result<SocketAddr> {
    let me = nix::unistd::geteuid().as_raw();
    let api = Api {
        name: "bench".into(),
        upstream,
        scheme: Scheme::XApiKey,
        key: "sk-bench".into(),
    };
    let mut routes = Routes::default();
    routes.by_uid.insert(me, ("bench".into(), Arc::new(api)));
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let at = listener.local_addr()?;
    let count = Arc::new(RootLedger { path: ledger });
    let client = client(root)?;
    on.spawn(async move {
        match TcpListener::from_std(listener) {
            Ok(listener) => serve(listener, Arc::new(RwLock::new(routes)), client, count).await,
            Err(e) => eprintln!("bench: the gate could not listen: {e}"),
        }
    });
    Ok(at)
}

/// Both ways to `upstream` (a base URL), warmed once, then measured: first bytes one way
/// and then the other, and long streams taken in turns, so a slow spell of the machine's
/// falls on both ways alike; the median rate of each.
async fn pair(
    client: &reqwest::Client,
    upstream: &str,
    gate: SocketAddr,
    requests: usize,
    megabytes: usize,
) -> anyhow::Result<Pair> {
    let gate = format!("http://{gate}");
    let ways = [upstream, gate.as_str()];
    // Connections, TLS sessions and the allocator warmed before anything is timed.
    for base in ways {
        firsts(client, base, 5).await?;
        stream(client, base, 1).await?;
    }
    let direct_firsts = firsts(client, upstream, requests).await?;
    let gate_firsts = firsts(client, &gate, requests).await?;
    let mut rates = [Vec::new(), Vec::new()];
    let mut spent = [[Duration::ZERO; 3]; 2];
    for _ in 0..STREAMS {
        for (i, base) in ways.into_iter().enumerate() {
            let (rate, cpu) = stream(client, base, megabytes).await?;
            rates[i].push(rate);
            for (sum, d) in spent[i].iter_mut().zip(cpu) {
                *sum += d;
            }
        }
    }
    let gib = (STREAMS * megabytes) as f64 / 1024.0;
    let [direct_rates, gate_rates] = rates;
    Ok(Pair {
        direct: way(&direct_firsts, direct_rates, spent[0], gib),
        gate: way(&gate_firsts, gate_rates, spent[1], gib),
    })
}

/// A runtime whose threads are named `name`, so their CPU can be counted apart.
fn runtime(name: &str) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name(name)
        .enable_all()
        .build()
}

pub fn run(requests: usize, megabytes: usize) -> anyhow::Result<Figures> {
    anyhow::ensure!(
        requests > 0 && megabytes > 0,
        "give --requests and --megabytes above 0"
    );
    // Three parties, each on a runtime of its own as each is a process of its own.
    let (far, gates, near) = (runtime(UPSTREAM)?, runtime(GATE)?, runtime(CLIENT)?);
    let dir = tempfile::tempdir()?;
    let (acceptor, root) = certificate()?;
    let https = format!("https://{}", far.block_on(upstream(Some(acceptor)))?);
    let plain = format!("http://{}", far.block_on(upstream(None))?);
    let ledger = far.block_on(ledger(dir.path()))?;
    let https_gate = gate(gates.handle(), https.clone(), ledger.clone(), &root)?;
    let plain_gate = gate(gates.handle(), plain.clone(), ledger, &root)?;
    let client = client(&root)?;
    eprintln!("bench: {requests} answers and {megabytes} MiB each way, over HTTPS and plain HTTP…");
    near.block_on(async {
        Ok(Figures {
            requests,
            megabytes,
            https: pair(&client, &https, https_gate, requests, megabytes).await?,
            plain: pair(&client, &plain, plain_gate, requests, megabytes).await?,
        })
    })
}
