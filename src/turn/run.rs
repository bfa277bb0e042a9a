//! Running one turn: pipes for stdin/stdout/stderr, the unit in the resident's user
//! manager, and the driver reading the output as it is written.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use tokio::io::BufReader;
use tokio::sync::mpsc;

use super::bounds::{BoundedLines, MAX_ANSWER, MAX_LINE, MAX_LOGGED_STDERR, MAX_STDERR_LINE, clip};
use super::{Invocation, Reader, TurnEvent, drivers};
use crate::config::{AgentKind, Limits};
use crate::os::{OsContext, OsError};
use crate::units::{TurnUnit, UserManagers};

pub struct TurnSpec {
    pub uid: u32,
    pub unit: String,
    pub kind: AgentKind,
    pub invocation: Invocation,
    pub workdir: PathBuf,
    pub environment: Vec<String>,
    pub environment_files: Vec<PathBuf>,
    pub limits: Limits,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Outcome {
    /// systemd's result for the unit: success, exit-code, signal, timeout, …
    pub result: String,
    pub status: i32,
    pub stopped: bool,
    pub timed_out: bool,
    /// The last lines the CLI wrote to stderr.
    pub stderr_tail: Vec<String>,
    pub duration_ms: u64,
    /// What the turn spent by the CLI's own reports, and its conversation this round.
    #[serde(default)]
    pub spent: Option<super::Spent>,
    #[serde(default)]
    pub conversation_spent: Option<super::Spent>,
    /// The CLI session the conversation continues in (to hand over: `townhall attach`).
    #[serde(default)]
    pub session: Option<String>,
    /// What the turn left in its outbox, ready to post; and what it left there unsent.
    #[serde(default)]
    pub files: Vec<crate::files::Outgoing>,
    #[serde(default)]
    pub files_left: Vec<String>,
    /// What the turn used the town's tools for, and how often ("asked the mayor": 1).
    #[serde(default)]
    pub tools: std::collections::BTreeMap<String, u32>,
    /// The branch of the conversation's own worktree, when it has one.
    #[serde(default)]
    pub branch: Option<String>,
}

const STDERR_TAIL: usize = 20;

fn pipe() -> Result<(OwnedFd, OwnedFd), OsError> {
    nix::unistd::pipe2(OFlag::O_CLOEXEC).os(|| "creating a pipe".into())
}

fn reader(fd: OwnedFd) -> Result<BufReader<tokio::net::unix::pipe::Receiver>, OsError> {
    let r = tokio::net::unix::pipe::Receiver::from_owned_fd(fd).os(|| "reading a pipe".into())?;
    Ok(BufReader::new(r))
}

/// Run the turn to its end, sending events as output arrives. `stopped` is set by whoever
/// stops the unit, so the outcome can say the turn was stopped rather than failed.
pub async fn run_turn<M: UserManagers>(
    managers: &M,
    spec: TurnSpec,
    stopped: Arc<AtomicBool>,
    events: mpsc::Sender<TurnEvent>,
) -> Result<Outcome, OsError> {
    let started = Instant::now();
    let (in_r, in_w) = pipe()?;
    let (out_r, out_w) = pipe()?;
    let (err_r, err_w) = pipe()?;
    let (verified_tx, verified_rx) = tokio::sync::oneshot::channel();
    let verified =
        futures_util::future::FutureExt::shared(async move { verified_rx.await.is_ok() });
    let unit = TurnUnit {
        name: spec.unit.clone(),
        description: format!("townhall turn ({:?})", spec.kind),
        argv: spec.invocation.argv.clone(),
        workdir: spec.workdir,
        environment: spec.environment,
        environment_files: spec.environment_files,
        stdin: Some(in_r),
        stdout: Some(out_w),
        stderr: Some(err_w),
        runtime_max: spec.limits.turn_timeout,
        memory_max: spec.limits.memory_bytes,
        cpu_percent: spec.limits.cpu_percent,
        tasks_max: spec.limits.tasks,
        verified: Some(verified_tx),
    };
    let prompt = spec.invocation.stdin.clone();
    // A blocking write: the pipe may hold less than the prompt until the CLI reads it.
    let feed = tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let _ = std::fs::File::from(in_w).write_all(prompt.as_bytes());
    });
    let mut out = BoundedLines::new(reader(out_r)?, MAX_LINE);
    let mut err = BoundedLines::new(reader(err_r)?, MAX_LINE);
    let kind = spec.kind;
    let (v_out, v_err) = (verified.clone(), verified);
    let read_out = async {
        // Nothing is read from a unit that does not run what was asked (the pipe holds it).
        if !v_out.await {
            return;
        }
        let (mut answered, mut cut_told) = (0usize, false);
        let mut reader = Reader::new(kind);
        loop {
            let read = out.next_line().await;
            if let Some(line) = &read
                && line.cut
            {
                let _ = events
                    .send(TurnEvent::Error {
                        message: format!(
                            "an output line longer than {} KiB was cut",
                            MAX_LINE >> 10
                        ),
                    })
                    .await;
            }
            let evs = match &read {
                Some(line) => reader.line(&line.text),
                None => reader.finish(),
            };
            for ev in evs {
                // Past the cap the CLI is still drained (so it can finish), but not shown.
                let ev = match ev {
                    TurnEvent::Text { text } if answered + text.len() > MAX_ANSWER => {
                        let room = MAX_ANSWER.saturating_sub(answered);
                        answered = MAX_ANSWER;
                        if !std::mem::replace(&mut cut_told, true) {
                            let _ = events
                                .send(TurnEvent::Text {
                                    text: clip(&text, room).to_string(),
                                })
                                .await;
                            let message = format!("the answer was cut at {} KiB", MAX_ANSWER >> 10);
                            let _ = events.send(TurnEvent::Error { message }).await;
                        }
                        continue;
                    }
                    TurnEvent::Text { text } => {
                        answered += text.len();
                        TurnEvent::Text { text }
                    }
                    other => other,
                };
                let _ = events.send(ev).await;
            }
            if read.is_none() {
                break;
            }
        }
    };
    let read_err = async {
        let (mut tail, mut seen) = (std::collections::VecDeque::new(), 0usize);
        if !v_err.await {
            return vec![];
        }
        while let Some(line) = err.next_line().await {
            let line = clip(&line.text, MAX_STDERR_LINE).to_string();
            if drivers::stderr_noise(kind, &line) {
                tracing::debug!(unit = %spec.unit, "turn stderr (routine): {line}");
                continue;
            }
            seen += 1;
            // The resident's stderr must not drown the supervisor's own log.
            if seen <= MAX_LOGGED_STDERR {
                tracing::info!(unit = %spec.unit, uid = spec.uid, "turn stderr: {line}");
            }
            if tail.len() == STDERR_TAIL {
                tail.pop_front();
            }
            tail.push_back(line);
        }
        if seen > MAX_LOGGED_STDERR {
            tracing::info!(unit = %spec.unit, uid = spec.uid, "turn stderr: {} more line(s) not logged", seen - MAX_LOGGED_STDERR);
        }
        tail.into_iter().collect::<Vec<_>>()
    };
    let (end, (), stderr_tail) = tokio::join!(managers.run(spec.uid, unit), read_out, read_err);
    feed.abort();
    // A stopped turn whose manager was ended under it (`!stop`) lost its connection: stopped.
    let end = match end {
        Err(e) if stopped.load(Ordering::SeqCst) => {
            tracing::info!("a stopped turn's manager went away: {e}");
            crate::units::UnitEnd {
                result: "stopped".into(),
                status: 0,
            }
        }
        r => r?,
    };
    Ok(Outcome {
        timed_out: end.result == "timeout",
        stopped: stopped.load(Ordering::SeqCst),
        result: end.result,
        status: end.status,
        stderr_tail,
        duration_ms: started.elapsed().as_millis() as u64,
        spent: None,
        conversation_spent: None,
        session: None,
        files: vec![],
        files_left: vec![],
        tools: Default::default(),
        branch: None,
    })
}

/// A unit name no other turn of this supervisor uses.
pub fn unit_name(resident: &str) -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::SeqCst);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis();
    format!("townhall-turn-{resident}-{t}-{n}.service")
}
