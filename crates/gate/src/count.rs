//! Counting at the gate: before a resident's call goes upstream the gate asks whether its
//! budget allows it, and after the answer has streamed it says what the call used. The
//! real counter is root's ledger socket; tests use a recording fake.

use std::future::Future;
use std::pin::Pin;

use townhall_wire::ledger::{self, GateAsk, GateSaid};

use crate::usage::Usage;

/// Whether a call may go upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    Admitted,
    /// Root said no (the budget is spent): its words, for the CLI to show.
    Refused(String),
    /// Root could not be asked: nothing goes out uncounted.
    Unasked(String),
}

pub type Pending<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

pub trait Count: Send + Sync + 'static {
    fn admit(&self, uid: u32) -> Pending<'_, Admission>;
    /// May `uid` reach `host:port`, which its `[network] allow` does not name? (A mayor
    /// is asked; this may take minutes.)
    fn reach(&self, uid: u32, host: String, port: u16) -> Pending<'_, Admission>;
    /// Say what a call used; it must not hold the answer back, so it returns at once.
    fn used(&self, uid: u32, usage: Usage);
}

/// Root's ledger socket (`townhall_wire::ledger::socket()`, or another path for a bench).
#[derive(Debug, Clone)]
pub struct RootLedger {
    pub path: std::path::PathBuf,
}

impl Default for RootLedger {
    fn default() -> Self {
        Self {
            path: ledger::socket().to_path_buf(),
        }
    }
}

/// Root's answer to a question, as an admission.
fn said(path: &std::path::Path, answer: std::io::Result<GateSaid>) -> Admission {
    match answer {
        Ok(GateSaid::Admitted) => Admission::Admitted,
        Ok(GateSaid::Refused { why }) => Admission::Refused(why),
        Ok(other) => Admission::Unasked(format!("root answered {other:?}")),
        Err(e) => Admission::Unasked(format!(
            "townhall is not answering on {}: {e}",
            path.display()
        )),
    }
}

impl Count for RootLedger {
    fn admit(&self, uid: u32) -> Pending<'_, Admission> {
        Box::pin(async move {
            let asked = ledger::ask_at(&self.path, &GateAsk::Admit { uid }).await;
            said(&self.path, asked)
        })
    }

    fn reach(&self, uid: u32, host: String, port: u16) -> Pending<'_, Admission> {
        Box::pin(async move {
            let asked = ledger::ask_at(&self.path, &GateAsk::Reach { uid, host, port }).await;
            said(&self.path, asked)
        })
    }

    fn used(&self, uid: u32, usage: Usage) {
        let ask = GateAsk::Used {
            uid,
            model: usage.model,
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
        };
        let path = self.path.clone();
        tokio::spawn(async move {
            match ledger::ask_at(&path, &ask).await {
                Ok(GateSaid::Recorded) => {}
                Ok(other) => tracing::warn!("root did not record {ask:?}: {other:?}"),
                Err(e) => {
                    tracing::error!("a call's usage is lost, root is not answering: {e} ({ask:?})")
                }
            }
        });
    }
}

#[cfg(test)]
mod fake;
#[cfg(test)]
pub use fake::FakeCount;
