//! One request line in, answer lines out, over a Unix socket: the plumbing shared by the
//! control socket (root's CLI), the hall (the chat process) and the approvals socket. The
//! peer's uid is checked before a byte is read and holds at most its cap of connections
//! (admit.rs), the request line is bounded, a peer that never finishes its line or stops
//! reading its answers is dropped, so a caller can cost the daemon at most a few small
//! tasks; and no accept error ends the listener.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

/// A response type that can carry a refusal.
pub trait Answer: Serialize + Send + Sync + 'static {
    fn refusal(message: String) -> Self;
}

pub struct Rules {
    /// The socket, for the log.
    pub name: &'static str,
    /// Whether a peer with this uid may ask at all.
    pub permit: Box<dyn Fn(u32) -> bool + Send + Sync>,
    /// How many connections a peer with this uid may hold open at once.
    pub per_uid: Box<dyn Fn(u32) -> usize + Send + Sync>,
    /// Said to a peer that may not.
    pub refused: &'static str,
    pub max_line: usize,
    /// Keep reading after the request: the peer's EOF means it went away, and the answers
    /// stop (the handler sees its sender closed). Off where clients half-close after asking.
    pub watch_peer: bool,
}

const REQUEST_WITHIN: Duration = Duration::from_secs(10);
/// A peer that takes longer than this to read one answer line is dropped.
const ANSWER_READ_WITHIN: Duration = Duration::from_secs(60);

/// Answer connections for ever. `handle` gets each parsed request, the peer's uid, and a
/// sender for its answers; it runs in a task of its own, so a turn goes on when its asker
/// goes away.
pub async fn serve<L, Req, E, Resp, H, F>(
    mut listener: L,
    rules: Arc<Rules>,
    parse: fn(&str) -> Result<Req, E>,
    handle: H,
) -> !
where
    L: crate::admit::Listener<Stream = UnixStream>,
    Req: Send + 'static,
    E: std::fmt::Display + Send + 'static,
    Resp: Answer,
    H: Fn(Req, u32, mpsc::Sender<Resp>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(crate::admit::Slots::default());
    loop {
        let stream = crate::admit::next(&mut listener, rules.name).await;
        let Ok(uid) = stream.peer_cred().map(|c| c.uid()) else {
            continue;
        };
        let Some(slot) = slots.take(uid, (rules.per_uid)(uid), rules.name) else {
            continue;
        };
        let (rules, handle) = (rules.clone(), handle.clone());
        tokio::spawn(async move {
            if let Err(e) = connection(stream, uid, &rules, parse, handle).await {
                tracing::debug!("{}: {e}", rules.name);
            }
            drop(slot);
        });
    }
}

async fn connection<Req, E, Resp, H, F>(
    stream: UnixStream,
    uid: u32,
    rules: &Rules,
    parse: fn(&str) -> Result<Req, E>,
    handle: H,
) -> io::Result<()>
where
    Req: Send + 'static,
    E: std::fmt::Display + Send,
    Resp: Answer,
    H: Fn(Req, u32, mpsc::Sender<Resp>) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let (read, mut write) = stream.into_split();
    let (tx, mut rx) = mpsc::channel(64);
    let mut reader = BufReader::new(read);
    if !(rules.permit)(uid) {
        tracing::warn!(uid, "refused a request: {}", rules.refused);
        return send(&mut write, &Resp::refusal(rules.refused.into())).await;
    }
    match tokio::time::timeout(REQUEST_WITHIN, read_line(&mut reader, rules.max_line)).await {
        Err(_) => {
            return send(
                &mut write,
                &Resp::refusal(format!("no request line within {REQUEST_WITHIN:?}")),
            )
            .await;
        }
        Ok(Ok(None)) => return Ok(()),
        Ok(Err(e)) => {
            tracing::warn!(uid, "bad request: {e}");
            return send(&mut write, &Resp::refusal(format!("bad request: {e}"))).await;
        }
        Ok(Ok(Some(line))) => match parse(&line) {
            Ok(req) => drop(tokio::spawn(handle(req, uid, tx))),
            Err(e) => {
                tracing::warn!(uid, "bad request: {e}");
                return send(&mut write, &Resp::refusal(format!("bad request: {e}"))).await;
            }
        },
    }
    loop {
        tokio::select! {
            answer = rx.recv() => match answer {
                Some(a) => send(&mut write, &a).await?,
                None => return Ok(()),
            },
            () = gone(&mut reader), if rules.watch_peer => return Ok(()),
        }
    }
}

/// Returns when the peer closed its end (whatever else it sends is ignored).
async fn gone(reader: &mut BufReader<OwnedReadHalf>) {
    let mut buf = [0u8; 512];
    while matches!(reader.read(&mut buf).await, Ok(n) if n > 0) {}
}

async fn send<T: Serialize>(write: &mut OwnedWriteHalf, answer: &T) -> io::Result<()> {
    let mut out = serde_json::to_vec(answer).map_err(io::Error::other)?;
    out.push(b'\n');
    match tokio::time::timeout(ANSWER_READ_WITHIN, write.write_all(&out)).await {
        Ok(r) => r,
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the peer read no answer within {ANSWER_READ_WITHIN:?}"),
        )),
    }
}

/// Why a request line was not read.
#[derive(Debug, thiserror::Error)]
pub enum BadLine {
    #[error("reading the request: {0}")]
    Io(#[from] io::Error),
    #[error("the request line is over {0} bytes")]
    TooLong(usize),
    #[error("the request is not UTF-8")]
    NotUtf8,
}

/// An answer line that is not an answer this side knows.
#[derive(Debug, thiserror::Error)]
#[error("{source}: {line:.200?}")]
pub struct Unreadable {
    pub line: String,
    pub source: serde_json::Error,
}

/// One line of at most `max` bytes; None when the peer closed without one.
pub async fn read_line<R: AsyncBufRead + Unpin>(
    r: &mut R,
    max: usize,
) -> Result<Option<String>, BadLine> {
    let mut buf = Vec::new();
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            if buf.is_empty() {
                return Ok(None);
            }
            break;
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i, true),
            None => (chunk.len(), false),
        };
        buf.extend_from_slice(&chunk[..take]);
        r.consume(if done { take + 1 } else { take });
        if buf.len() > max {
            return Err(BadLine::TooLong(max));
        }
        if done {
            break;
        }
    }
    String::from_utf8(buf)
        .map(Some)
        .map_err(|_| BadLine::NotUtf8)
}

/// Bind `path` with `mode`, replacing a stale socket.
pub fn bind(path: &Path, mode: u32) -> io::Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    Ok(listener)
}

/// The asking side: answers arrive line by line.
pub struct Answers {
    lines: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    /// Held open where the server watches for the asker going away.
    _write: Option<OwnedWriteHalf>,
}

/// Send `req`; with `stay`, keep our end open (the server then knows we are still here).
pub async fn ask<Req: Serialize>(path: &Path, req: &Req, stay: bool) -> io::Result<Answers> {
    let stream = UnixStream::connect(path).await?;
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_vec(req).map_err(io::Error::other)?;
    line.push(b'\n');
    write.write_all(&line).await?;
    let write = if stay {
        Some(write)
    } else {
        write.shutdown().await?;
        None
    };
    Ok(Answers {
        lines: BufReader::new(read).lines(),
        _write: write,
    })
}

impl Answers {
    /// The next answer; None once the server is done. Err(text) for a line that does not parse.
    pub async fn next<Resp: DeserializeOwned>(
        &mut self,
    ) -> io::Result<Result<Option<Resp>, Unreadable>> {
        Ok(match self.lines.next_line().await? {
            None => Ok(None),
            Some(line) => match serde_json::from_str(&line) {
                Ok(a) => Ok(Some(a)),
                Err(source) => Err(Unreadable { line, source }),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fails `fails` times with EMFILE, then hands out `streams`, then waits for ever.
    struct Failing {
        fails: u32,
        streams: Vec<UnixStream>,
    }

    impl crate::admit::Listener for Failing {
        type Stream = UnixStream;
        async fn accept(&mut self) -> io::Result<UnixStream> {
            if self.fails > 0 {
                self.fails -= 1;
                return Err(io::Error::from_raw_os_error(libc::EMFILE));
            }
            match self.streams.pop() {
                Some(s) => Ok(s),
                None => std::future::pending().await,
            }
        }
    }

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Echo(String);

    impl Answer for Echo {
        fn refusal(message: String) -> Self {
            Echo(message)
        }
    }

    #[tokio::test]
    async fn a_listener_outlives_accept_errors_and_a_uid_holds_only_its_cap() {
        let mine = nix::unistd::geteuid().as_raw();
        let pairs: Vec<(UnixStream, UnixStream)> =
            (0..3).map(|_| UnixStream::pair().unwrap()).collect();
        let (ours, theirs): (Vec<_>, Vec<_>) = pairs.into_iter().unzip();
        let rules = Rules {
            name: "test",
            permit: Box::new(|_| true),
            per_uid: Box::new(|_| 2),
            refused: "",
            max_line: 100,
            watch_peer: true,
        };
        let parse = |l: &str| Ok::<_, std::convert::Infallible>(l.to_string());
        let server = tokio::spawn(serve(
            Failing {
                fails: 5,
                streams: theirs,
            },
            Arc::new(rules),
            parse,
            move |req: String, uid, out: mpsc::Sender<Echo>| async move {
                assert_eq!(uid, mine);
                let _ = out.send(Echo(req)).await;
                // Held open until the peer goes: each holds a place.
                out.closed().await;
            },
        ));
        let mut answered = 0;
        let mut closed = 0;
        for (i, mut s) in ours.into_iter().rev().enumerate() {
            let mut line = String::new();
            // The one over the cap is closed at once: writing to it may fail, reading ends.
            let _ = s.write_all(format!("ask {i}\n").as_bytes()).await;
            let n = tokio::time::timeout(
                Duration::from_secs(5),
                BufReader::new(&mut s).read_line(&mut line),
            )
            .await
            .unwrap()
            .unwrap_or(0);
            if n == 0 {
                closed += 1;
            } else {
                assert_eq!(
                    serde_json::from_str::<Echo>(&line).unwrap(),
                    Echo(format!("ask {i}"))
                );
                answered += 1;
                std::mem::forget(s);
            }
        }
        assert_eq!(
            (answered, closed),
            (2, 1),
            "five EMFILEs later, two answered and the third over the cap closed"
        );
        assert!(!server.is_finished());
        server.abort();
    }

    #[tokio::test]
    async fn lines_are_bounded_and_must_be_utf8() {
        let mut ok = BufReader::new(&b"one\ntwo"[..]);
        assert_eq!(read_line(&mut ok, 10).await.unwrap(), Some("one".into()));
        assert_eq!(read_line(&mut ok, 10).await.unwrap(), Some("two".into()));
        assert_eq!(read_line(&mut ok, 10).await.unwrap(), None);
        let long = [b'x'; 100];
        assert!(matches!(
            read_line(&mut BufReader::with_capacity(8, &long[..]), 50).await,
            Err(BadLine::TooLong(50))
        ));
        assert!(matches!(
            read_line(&mut BufReader::new(&b"\xff\xfe\n"[..]), 50).await,
            Err(BadLine::NotUtf8)
        ));
    }
}
