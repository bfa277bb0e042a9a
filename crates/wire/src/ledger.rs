//! The ledger socket: the gate tells root what each resident's model calls used, as the
//! upstream reported it, asks before each call whether the resident may still spend, and
//! asks for a host a resident's `[network] allow` does not name.
//! Root answers only the gate's user (SO_PEERCRED) and keeps the figures where no resident
//! can edit them; the uid in a request is the kernel's answer the gate got for the caller.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::lines;

/// The gate's system user (dist/townhall.sysusers, the NixOS module).
pub const GATE_USER: &str = "townhall-gate";
/// The tool an approval about a host names: the chat words it as a network question.
pub const NETWORK_TOOL: &str = "network";
/// A request is one short line.
pub const MAX_LINE: usize = 4096;

/// Reachable by anyone (mode 0666), answered only for the gate user and root.
pub fn socket() -> &'static Path {
    Path::new("/run/townhall-ledger.sock")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "ask", rename_all = "snake_case", deny_unknown_fields)]
pub enum GateAsk {
    /// May `uid`'s next model call go upstream?
    Admit { uid: u32 },
    /// `uid` asks for a host its `[network] allow` does not name: root asks the mayor in
    /// the room of the resident's running turn, and a yes holds for the round.
    Reach { uid: u32, host: String, port: u16 },
    /// What one of `uid`'s calls used.
    Used {
        uid: u32,
        model: Option<String>,
        input_tokens: u64,
        output_tokens: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "said", rename_all = "snake_case", deny_unknown_fields)]
pub enum GateSaid {
    Admitted,
    Recorded,
    /// Not admitted, or not understood: the words say why.
    Refused {
        why: String,
    },
}

impl lines::Answer for GateSaid {
    fn refusal(message: String) -> Self {
        GateSaid::Refused { why: message }
    }
}

/// Ask root once and read its one answer.
pub async fn ask(req: &GateAsk) -> io::Result<GateSaid> {
    ask_at(socket(), req).await
}

pub async fn ask_at(path: &Path, req: &GateAsk) -> io::Result<GateSaid> {
    let mut answers = lines::ask(path, req, false).await?;
    match answers.next::<GateSaid>().await? {
        Ok(Some(said)) => Ok(said),
        Ok(None) => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "root closed the ledger socket without an answer",
        )),
        Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lines_are_as_root_and_the_gate_agree() {
        let used = GateAsk::Used {
            uid: 1001,
            model: Some("claude-sonnet-4-5".into()),
            input_tokens: 12,
            output_tokens: 42,
        };
        assert_eq!(
            serde_json::to_string(&used).unwrap(),
            r#"{"ask":"used","uid":1001,"model":"claude-sonnet-4-5","input_tokens":12,"output_tokens":42}"#
        );
        assert_eq!(
            serde_json::to_string(&GateAsk::Admit { uid: 7 }).unwrap(),
            r#"{"ask":"admit","uid":7}"#
        );
        let refused: GateSaid =
            serde_json::from_str(r#"{"said":"refused","why":"spent"}"#).unwrap();
        assert_eq!(
            refused,
            GateSaid::Refused {
                why: "spent".into()
            }
        );
        assert!(serde_json::from_str::<GateAsk>(r#"{"ask":"admit","uid":7,"more":1}"#).is_err());
    }
}
