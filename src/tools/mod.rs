//! Town tools: what a resident's agent may ask of the town in the middle of a turn, over
//! MCP. The CLI starts `townhall mcp` (mcp.rs) as the resident, declared for each kind the
//! way that kind reads it (declare.rs); each tool call is one request on root's socket,
//! which knows the resident by SO_PEERCRED and the turn by a token root made for that turn
//! alone (token.rs), and checks every field again (src/serve/tools).

pub mod declare;
pub mod mcp;
pub mod token;

use serde::{Deserialize, Serialize};

pub const SOCKET: &str = "/run/townhall-tools.sock";
/// The turn's token, in the turn's environment and nowhere else.
pub const TOKEN_ENV: &str = "TOWNHALL_TURN_TOKEN";
/// The longest request root reads; a longer one is refused unread.
pub const MAX_CALL: usize = 64 * 1024;
/// The longest answer `townhall mcp` reads back.
pub const MAX_ANSWER: u64 = 256 * 1024;
/// The server's name in every kind's MCP settings: claude calls its tools `mcp__town__…`.
pub const SERVER: &str = "town";

/// One tool call, as the MCP server asks root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub token: String,
    pub tool: Tool,
}

/// The tools, with what the agent gave each (untrusted: root checks sizes and names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "name", rename_all = "snake_case")]
pub enum Tool {
    AskMayor {
        question: String,
        #[serde(default)]
        choices: Vec<String>,
    },
    TellMayor {
        text: String,
    },
    RequestDevice {
        device: String,
        duration: String,
        reason: String,
    },
    Town,
    SendFile {
        path: String,
    },
    AskResident {
        resident: String,
        message: String,
    },
}

impl Tool {
    /// The tool's name, as the agent called it and the audit log says.
    pub fn name(&self) -> &'static str {
        match self {
            Tool::AskMayor { .. } => "ask_mayor",
            Tool::TellMayor { .. } => "tell_mayor",
            Tool::RequestDevice { .. } => "request_device",
            Tool::Town => "town",
            Tool::SendFile { .. } => "send_file",
            Tool::AskResident { .. } => "ask_resident",
        }
    }
}

impl Tool {
    /// What a turn did when this call was done, for its answer's footer ("asked the mayor
    /// once").
    pub fn done(&self) -> &'static str {
        match self {
            Tool::AskMayor { .. } => "asked the mayor",
            Tool::TellMayor { .. } => "told the mayor",
            Tool::RequestDevice { .. } => "asked for a device",
            Tool::Town => "looked at the town",
            Tool::SendFile { .. } => "sent a file",
            Tool::AskResident { .. } => "asked another resident",
        }
    }
}

/// Root's answer: what the tool returns to the agent, or why it was refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Answer {
    pub ok: bool,
    pub text: String,
}

impl Answer {
    pub fn ok(text: impl Into<String>) -> Self {
        Answer {
            ok: true,
            text: text.into(),
        }
    }

    pub fn refused(text: impl Into<String>) -> Self {
        Answer {
            ok: false,
            text: text.into(),
        }
    }
}

impl townhall_wire::lines::Answer for Answer {
    fn refusal(message: String) -> Self {
        Answer::refused(message)
    }
}
