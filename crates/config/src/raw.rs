//! The config files exactly as written. Values that later checks point at are `Spanned`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

type S<T> = Spanned<T>;

/// `town.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTown {
    pub name: S<String>,
    #[serde(default)]
    pub agents: Option<S<PathBuf>>,
    #[serde(default)]
    pub persist: Option<S<PathBuf>>,
    #[serde(default)]
    pub state: Option<S<PathBuf>>,
    #[serde(default)]
    pub accounts: Option<S<AccountsMode>>,
    pub btrfs: RawBtrfs,
    pub matrix: RawTownMatrix,
    #[serde(default, rename = "repo")]
    pub repos: Vec<RawRepo>,
    #[serde(default)]
    pub push: Option<RawPush>,
    #[serde(default)]
    pub gate: Option<RawGate>,
}

/// `[gate]`: where residents reach their model APIs, and `[[gate.api]]`, the APIs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGate {
    #[serde(default)]
    pub listen: Option<S<String>>,
    #[serde(default)]
    pub api: Vec<RawApi>,
    #[serde(default)]
    pub price: Vec<RawPrice>,
}

/// `[[gate.price]]`: what a model's tokens cost, in dollars per million.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPrice {
    pub model: S<String>,
    pub input: S<f64>,
    pub output: S<f64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    pub name: S<String>,
    pub upstream: S<String>,
    pub key: S<KeyScheme>,
    pub credential: S<PathBuf>,
}

/// How a model API takes its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum KeyScheme {
    /// `x-api-key: KEY` (Anthropic).
    #[serde(rename = "x-api-key")]
    XApiKey,
    /// `Authorization: Bearer KEY` (OpenAI; Anthropic's auth tokens).
    #[serde(rename = "bearer")]
    Bearer,
    /// `x-goog-api-key: KEY` (Gemini).
    #[serde(rename = "x-goog-api-key")]
    GoogApiKey,
}

/// `[push]`: what one push to the town remote may take.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPush {
    #[serde(default)]
    pub max_size: Option<S<String>>,
    #[serde(default)]
    pub idle: Option<S<String>>,
    #[serde(default)]
    pub time: Option<S<String>>,
    #[serde(default)]
    pub at_once: Option<S<i64>>,
}

/// `[[repo]]`: a repository on the town remote, and who may push to it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRepo {
    pub name: S<String>,
    #[serde(default)]
    pub push: Vec<S<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountsMode {
    /// townhall creates missing Unix accounts with `useradd`.
    Create,
    /// Accounts are declared elsewhere (NixOS); townhall only checks them.
    Verify,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBtrfs {
    pub volume: S<PathBuf>,
    #[serde(default)]
    pub live: Option<S<String>>,
    #[serde(default)]
    pub blank: Option<S<String>>,
    #[serde(default)]
    pub checkpoints: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTownMatrix {
    pub homeserver: S<String>,
    pub mayors: S<Vec<S<String>>>,
}

/// `residents/<name>.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResident {
    pub name: S<String>,
    pub uid: S<i64>,
    pub description: S<String>,
    pub matrix: RawResidentMatrix,
    pub agent: RawAgent,
    #[serde(default)]
    pub persist: RawPersist,
    #[serde(default, rename = "secret")]
    pub secrets: Vec<RawSecret>,
    #[serde(default, rename = "device")]
    pub devices: Vec<RawDevice>,
    #[serde(default)]
    pub rooms: Vec<S<String>>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub budget: RawBudget,
    #[serde(default)]
    pub files: RawFiles,
    pub git: RawGit,
    #[serde(default)]
    pub network: RawNetwork,
    #[serde(default, rename = "schedule")]
    pub schedules: Vec<RawSchedule>,
    #[serde(default, rename = "on")]
    pub events: Vec<RawOn>,
}

/// `[[schedule]]`: a turn that comes by itself at the times `on` names.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    pub on: S<String>,
    pub prompt: S<String>,
    pub room: S<String>,
    #[serde(default)]
    pub conversation: Option<S<String>>,
}

/// `[[on]]`: a turn that comes when something happens in the town.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOn {
    #[serde(default)]
    pub push: Option<S<String>>,
    #[serde(default)]
    pub device: Option<S<String>>,
    pub prompt: S<String>,
    pub room: S<String>,
}

/// `[network]`: the hosts a resident may reach through the gate's proxy.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    #[serde(default)]
    pub allow: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResidentMatrix {
    pub user: S<String>,
    pub password_file: S<PathBuf>,
    #[serde(default)]
    pub recovery_file: Option<S<PathBuf>>,
    #[serde(default)]
    pub allow: Vec<S<String>>,
    #[serde(default)]
    pub approve_by: Option<S<Vec<S<String>>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AgentKind {
    Claude,
    Codex,
    Gemini,
    Command,
}

impl AgentKind {
    /// Where the CLI keeps its sessions in the home: persisted by default, or `--resume`
    /// finds nothing after a reset.
    pub fn state_dir(self) -> Option<&'static str> {
        match self {
            AgentKind::Claude => Some(".claude"),
            AgentKind::Codex => Some(".codex"),
            AgentKind::Gemini => Some(".gemini"),
            AgentKind::Command => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgent {
    pub kind: S<AgentKind>,
    #[serde(default)]
    pub argv: Option<S<Vec<String>>>,
    #[serde(default)]
    pub workspace: Option<S<PathBuf>>,
    #[serde(default)]
    pub environment: BTreeMap<S<String>, String>,
    #[serde(default)]
    pub environment_files: Vec<S<PathBuf>>,
    #[serde(default)]
    pub defaults: Option<S<bool>>,
    #[serde(default)]
    pub base_url: Option<S<String>>,
    #[serde(default)]
    pub api: Option<S<String>>,
    #[serde(default)]
    pub approve: Vec<S<String>>,
    #[serde(default)]
    pub approve_timeout: Option<S<String>>,
    #[serde(default)]
    pub models: Vec<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPersist {
    #[serde(default)]
    pub directories: Vec<S<PathBuf>>,
    #[serde(default)]
    pub files: Vec<S<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSecret {
    pub source: S<PathBuf>,
    pub target: S<PathBuf>,
    #[serde(default)]
    pub mode: Option<S<String>>,
    #[serde(default)]
    pub owner: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDevice {
    pub subsystem: S<String>,
    #[serde(default)]
    pub kernel: Option<S<String>>,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    #[serde(default)]
    pub attrs: BTreeMap<String, String>,
    pub permission: S<String>,
    #[serde(default)]
    pub baud: Option<S<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    #[serde(default)]
    pub memory: Option<S<String>>,
    #[serde(default)]
    pub cpu: Option<S<String>>,
    #[serde(default)]
    pub tasks: Option<S<i64>>,
    #[serde(default)]
    pub turn_timeout: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFiles {
    #[serde(default)]
    pub max_size: Option<S<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBudget {
    #[serde(default)]
    pub usd: Option<S<f64>>,
    #[serde(default)]
    pub tokens: Option<S<i64>>,
    #[serde(default)]
    pub show_from_usd: Option<S<f64>>,
    #[serde(default)]
    pub show_from_tokens: Option<S<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGit {
    pub name: S<String>,
    pub email: S<String>,
}
