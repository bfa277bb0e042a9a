//! `townhall mcp`: the town's MCP server, on stdio, started by the resident's CLI as the
//! resident. It holds nothing and decides nothing: each call becomes one request on root's
//! socket with the turn's token, and root's answer is what the tool returns.

use rmcp::handler::server::{router::tool::ToolRouter, wrapper::Parameters};
use rmcp::model::{CallToolResult, ContentBlock, Implementation, ServerCapabilities, ServerConfig};
use rmcp::{ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use super::{Answer, Call, MAX_ANSWER, MAX_CALL, SOCKET, TOKEN_ENV, Tool};

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AskMayor {
    /// The question, as the mayor will read it on a phone: short and self-contained.
    question: String,
    /// Up to 9 short answers the mayor can pick by reacting (e.g. ["yes", "no"]). Leave
    /// out to take a free-text reply.
    #[serde(default)]
    choices: Vec<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct TellMayor {
    /// What to tell the mayor now (markdown), while the turn goes on.
    text: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct RequestDevice {
    /// The device's name, as `town` lists it under "devices" (e.g. "ttyS0").
    device: String,
    /// For how long, e.g. "30m" or "2h".
    duration: String,
    /// Why, in one sentence the mayor reads before deciding.
    reason: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SendFile {
    /// The file: a path in your home, absolute or relative to your workspace.
    path: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AskResident {
    /// The resident to ask, by name (e.g. "vox").
    name: String,
    /// What to ask, self-contained: the other resident does not see your conversation.
    message: String,
}

/// The tools; `turn` is this turn's token, if the CLI was started by a turn.
#[derive(Clone)]
pub struct TownTools {
    turn: Option<String>,
    #[allow(dead_code)] // read by the tool_handler macro
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl TownTools {
    #[tool(
        description = "Ask the mayor (the human who runs this town) a question and wait for the answer. The question is posted in this conversation's room with a mention, so the mayor's phone notifies. With `choices`, the mayor picks one by reacting and you get that choice back; without, you get the mayor's reply. Returns \"no answer\" if nobody answers in time: then decide yourself or ask again later."
    )]
    async fn ask_mayor(&self, Parameters(a): Parameters<AskMayor>) -> CallToolResult {
        self.call(Tool::AskMayor {
            question: a.question,
            choices: a.choices,
        })
        .await
    }

    #[tool(
        description = "Tell the mayor something now, in this conversation's room, without ending your turn: progress on a long task, a finding, a warning. Rate-limited; your final answer is posted anyway, so do not repeat it here."
    )]
    async fn tell_mayor(&self, Parameters(t): Parameters<TellMayor>) -> CallToolResult {
        self.call(Tool::TellMayor { text: t.text }).await
    }

    #[tool(
        description = "Ask the mayor for a device (a serial port, a board) for a while. The mayor decides with a reaction; on yes you may use the device node until the lease ends. Returns when decided: \"granted …\" or \"refused …\". Call `town` first to see the devices you may ask for."
    )]
    async fn request_device(&self, Parameters(d): Parameters<RequestDevice>) -> CallToolResult {
        self.call(Tool::RequestDevice {
            device: d.device,
            duration: d.duration,
            reason: d.reason,
        })
        .await
    }

    #[tool(
        description = "Send a file from your home to the mayor now: it is uploaded into this conversation's room (a picture shows inline). Only a regular file you can read, inside your home, up to your town's file size limit. Returns \"sent …\" once it is in the room."
    )]
    async fn send_file(&self, Parameters(f): Parameters<SendFile>) -> CallToolResult {
        self.call(Tool::SendFile { path: f.path }).await
    }

    #[tool(
        description = "Ask another resident of this town (another agent, with its own home and skills) and wait for its answer. Allowed only if that resident takes asks from you; it answers in a turn of its own, which the mayor sees in its room. Returns its answer, or why it could not be asked."
    )]
    async fn ask_resident(&self, Parameters(a): Parameters<AskResident>) -> CallToolResult {
        self.call(Tool::AskResident {
            resident: a.name,
            message: a.message,
        })
        .await
    }

    #[tool(
        description = "What you may know of the town: the round, your devices and leases, your branches on the town remote, and your budget left this round."
    )]
    async fn town(&self) -> CallToolResult {
        self.call(Tool::Town).await
    }
}

impl TownTools {
    pub fn new(turn: Option<String>) -> Self {
        Self {
            turn,
            tool_router: Self::tool_router(),
        }
    }

    async fn call(&self, tool: Tool) -> CallToolResult {
        let a = match &self.turn {
            Some(token) => ask_root(&Call {
                token: token.clone(),
                tool,
            })
            .await
            .unwrap_or_else(Answer::refused),
            None => Answer::refused(format!(
                "not in a turn: {TOKEN_ENV} is not set (the town's tools work only inside a turn townhall started)"
            )),
        };
        match a.ok {
            true => CallToolResult::success(vec![ContentBlock::text(a.text)]),
            false => CallToolResult::error(vec![ContentBlock::text(a.text)]),
        }
    }
}

#[tool_handler]
impl ServerHandler for TownTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("townhall", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "The town you run in: ask or tell the mayor, ask for a device, see what is yours.",
            )
    }
}

/// One request on root's socket, one answer back.
async fn ask_root(call: &Call) -> Result<Answer, String> {
    let mut line = serde_json::to_vec(call).map_err(|e| e.to_string())?;
    if line.len() > MAX_CALL {
        return Err(format!(
            "the call is {} bytes, over the {MAX_CALL} the town reads: say it shorter",
            line.len()
        ));
    }
    line.push(b'\n');
    let mut s = tokio::net::UnixStream::connect(SOCKET)
        .await
        .map_err(|e| format!("townhall is not answering on {SOCKET}: {e}"))?;
    s.write_all(&line).await.map_err(|e| e.to_string())?;
    let mut answer = String::new();
    tokio::io::BufReader::new(s)
        .take(MAX_ANSWER)
        .read_line(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&answer).map_err(|e| format!("townhall's answer is unreadable: {e}"))
}

/// Serve on stdin/stdout until the CLI closes them.
pub async fn run() -> anyhow::Result<()> {
    let turn = std::env::var(TOKEN_ENV).ok().filter(|t| !t.is_empty());
    let server = TownTools::new(turn).serve(rmcp::transport::stdio()).await?;
    server.waiting().await?;
    Ok(())
}
