//! One ssh-agent per resident (the protocol is ssh-agent-lib's): it lists that resident's
//! one identity and signs only SSHSIG requests in the `git` namespace, for that uid only
//! (SO_PEERCRED), at a bounded rate, with an audit line per signature. Everything else —
//! other namespaces, SSH authentication, add/remove/lock — is refused.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use signature::Signer;
use ssh_agent_lib::agent::{Agent, ListeningSocket, Session};
use ssh_agent_lib::error::AgentError;
use ssh_agent_lib::proto::{Identity, PublicCredential, SignRequest};
use ssh_key::{PrivateKey, Signature};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{UnixListener, UnixStream};

use townhall_wire::admit::{Slot, Slots};

/// Bytes one connection may send: SSHSIG requests are a few hundred bytes, and the
/// protocol's own length prefix would otherwise let a client make root buffer 4 GiB.
const MAX_CONNECTION_BYTES: usize = 64 << 10;
/// Connections the resident may hold open at once (git asks on one at a time).
const MAX_CONNECTIONS: usize = 16;
/// A connection that sends nothing for this long is closed.
const IDLE: Duration = Duration::from_secs(10);
/// Signatures per resident per minute.
const MAX_PER_MINUTE: usize = 120;

/// Why the signing agent refuses to sign data a resident sent it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotSigned {
    #[error("not an SSHSIG request (raw SSH authentication is never signed)")]
    NotSshsig,
    #[error("a truncated SSHSIG request")]
    Truncated,
    #[error("trailing bytes after the SSHSIG request")]
    Trailing,
    #[error("namespace {0:?} refused: only \"git\" is signed")]
    Namespace(String),
}

/// Why a sign request's data is refused, or the namespace and hash it carries.
pub fn check_request(data: &[u8]) -> Result<(String, Vec<u8>), NotSigned> {
    let rest = data.strip_prefix(b"SSHSIG").ok_or(NotSigned::NotSshsig)?;
    let mut fields = Vec::new();
    let mut r = rest;
    for _ in 0..4 {
        let (len, tail) = r.split_first_chunk::<4>().ok_or(NotSigned::Truncated)?;
        let len = u32::from_be_bytes(*len) as usize;
        let (field, tail) = (tail.get(..len).ok_or(NotSigned::Truncated)?, &tail[len..]);
        fields.push(field);
        r = tail;
    }
    if !r.is_empty() {
        return Err(NotSigned::Trailing);
    }
    let namespace = String::from_utf8_lossy(fields[0]).into_owned();
    if namespace != "git" {
        return Err(NotSigned::Namespace(namespace));
    }
    Ok((namespace, fields[3].to_vec()))
}

/// A sliding one-minute window of signatures.
#[derive(Debug, Default)]
pub struct SignPolicy {
    recent: std::collections::VecDeque<Instant>,
}

impl SignPolicy {
    pub fn allow(&mut self, now: Instant) -> bool {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(60))
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= MAX_PER_MINUTE {
            return false;
        }
        self.recent.push_back(now);
        true
    }
}

/// An accepted connection that stops reading after `MAX_CONNECTION_BYTES` or `IDLE`
/// without a byte, and holds one of its uid's places while open.
#[derive(Debug)]
pub struct Capped {
    inner: UnixStream,
    left: usize,
    idle: Pin<Box<tokio::time::Sleep>>,
    _slot: Slot,
}

impl AsyncRead for Capped {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.left == 0 {
            return Poll::Ready(Err(io::Error::other(
                "the connection sent more than an agent request needs",
            )));
        }
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        if r.is_pending() {
            if self.idle.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "the connection was idle",
                )));
            }
            return Poll::Pending;
        }
        self.left = self.left.saturating_sub(n);
        let again = tokio::time::Instant::now() + IDLE;
        self.idle.as_mut().reset(again);
        r
    }
}

impl AsyncWrite for Capped {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        b: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, b)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The agent's listener: at most `MAX_CONNECTIONS` per uid, and accept errors retried.
#[derive(Debug)]
pub struct CappedListener {
    listener: UnixListener,
    slots: Arc<Slots>,
}

impl CappedListener {
    pub fn new(listener: UnixListener) -> Self {
        Self {
            listener,
            slots: Default::default(),
        }
    }
}

#[ssh_agent_lib::async_trait]
impl ListeningSocket for CappedListener {
    type Stream = Capped;
    async fn accept(&mut self) -> io::Result<Capped> {
        loop {
            let inner = townhall_wire::admit::next(&mut self.listener, "a signing agent").await;
            let Ok(uid) = inner.peer_cred().map(|c| c.uid()) else {
                continue;
            };
            let Some(slot) = self.slots.take(uid, MAX_CONNECTIONS, "a signing agent") else {
                continue;
            };
            let idle = Box::pin(tokio::time::sleep(IDLE));
            return Ok(Capped {
                inner,
                left: MAX_CONNECTION_BYTES,
                idle,
                _slot: slot,
            });
        }
    }
}

/// What a signature is recorded as: (resident, namespace, sha256 of the signed data).
pub type Audit = Arc<dyn Fn(&str, &str, &str) + Send + Sync>;

/// One resident's agent: makes a session per connection.
#[derive(Clone)]
pub struct ResidentAgent {
    pub resident: String,
    pub uid: u32,
    pub key: Arc<PrivateKey>,
    pub policy: Arc<Mutex<SignPolicy>>,
    pub audit: Audit,
}

struct SignSession {
    agent: ResidentAgent,
    /// The peer is the resident (SO_PEERCRED at accept).
    allowed: bool,
}

fn refuse(why: impl Into<String>) -> AgentError {
    AgentError::Other(why.into().into())
}

impl Agent<CappedListener> for ResidentAgent {
    fn new_session(&mut self, socket: &Capped) -> impl Session {
        let peer = socket.inner.peer_cred().map(|c| c.uid()).ok();
        let allowed = peer == Some(self.uid);
        if !allowed {
            tracing::warn!(resident = %self.resident, ?peer, "refused a connection to the signing agent from another uid");
        }
        SignSession {
            agent: self.clone(),
            allowed,
        }
    }
}

#[ssh_agent_lib::async_trait]
impl Session for SignSession {
    async fn request_identities(&mut self) -> Result<Vec<Identity>, AgentError> {
        if !self.allowed {
            return Err(refuse("not this resident's agent"));
        }
        let public = self.agent.key.public_key();
        Ok(vec![Identity {
            credential: PublicCredential::Key(public.key_data().clone()),
            comment: public.comment().to_string(),
        }])
    }

    async fn sign(&mut self, request: SignRequest) -> Result<Signature, AgentError> {
        let a = &self.agent;
        if !self.allowed {
            return Err(refuse("not this resident's agent"));
        }
        if request.credential.key_data() != a.key.public_key().key_data() {
            return Err(refuse("not this resident's key"));
        }
        let (namespace, _) = check_request(&request.data).map_err(|why| {
            tracing::warn!(resident = %a.resident, "refused a signature: {why}");
            refuse(why.to_string())
        })?;
        if !a.policy.lock().expect("lock").allow(Instant::now()) {
            tracing::warn!(resident = %a.resident, "refused a signature: over {MAX_PER_MINUTE} a minute");
            return Err(refuse("rate limit"));
        }
        let signature = a
            .key
            .try_sign(&request.data)
            .map_err(|e| refuse(e.to_string()))?;
        let digest = <ssh_key::sha2::Sha256 as ssh_key::sha2::Digest>::digest(&request.data);
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        (a.audit)(&a.resident, &namespace, &hex);
        Ok(signature)
    }
}

/// The running agents, one per resident, restarted when a round begins.
#[derive(Default)]
pub struct Agents {
    running: Mutex<HashMap<String, tokio::task::JoinHandle<()>>>,
}

impl Agents {
    /// (Re)start every resident's agent on a fresh socket.
    pub fn restart(&self, agents: Vec<ResidentAgent>) {
        let mut running = self.running.lock().expect("lock");
        for (_, task) in running.drain() {
            task.abort();
        }
        for agent in agents {
            let name = agent.resident.clone();
            match super::socket::bind(&name, agent.uid) {
                Ok(listener) => {
                    let task = tokio::spawn(async move {
                        if let Err(e) =
                            ssh_agent_lib::agent::listen(CappedListener::new(listener), agent).await
                        {
                            tracing::error!("signing agent: {e}");
                        }
                    });
                    running.insert(name, task);
                }
                Err(e) => tracing::error!(resident = %name, "no signing agent: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sshsig(namespace: &str) -> Vec<u8> {
        let mut d = b"SSHSIG".to_vec();
        for f in [namespace.as_bytes(), b"", b"sha512", &[7u8; 64]] {
            d.extend_from_slice(&(f.len() as u32).to_be_bytes());
            d.extend_from_slice(f);
        }
        d
    }

    #[test]
    fn only_git_sshsig_requests_are_signed() {
        let (ns, hash) = check_request(&sshsig("git")).unwrap();
        assert_eq!((ns.as_str(), hash.len()), ("git", 64));
        assert_eq!(
            check_request(&sshsig("file")),
            Err(NotSigned::Namespace("file".into()))
        );
        assert_eq!(
            check_request(b"\x00\x00\x00\x20session-id-of-an-ssh-login"),
            Err(NotSigned::NotSshsig)
        );
        let mut t = sshsig("git");
        t.truncate(20);
        assert_eq!(check_request(&t), Err(NotSigned::Truncated));
        let mut extra = sshsig("git");
        extra.push(0);
        assert_eq!(check_request(&extra), Err(NotSigned::Trailing));
    }

    #[test]
    fn the_rate_is_capped_per_minute() {
        let mut p = SignPolicy::default();
        let t = Instant::now();
        assert!((0..MAX_PER_MINUTE).all(|_| p.allow(t)));
        assert!(!p.allow(t));
        assert!(p.allow(t + Duration::from_secs(61)));
    }
}
