//! The declared town: `town.toml` (the host) and `residents/<name>.toml` (one per resident).
//!
//! Loading validates everything first and reports every problem with its file:line:column;
//! nothing else in townhall ever sees an unchecked value.

mod agent;
mod diagnostic;
pub mod events;
mod gate;
mod load;
pub mod network;
mod price;
mod raw;
mod repos;
pub mod rule;
pub mod schedule;
pub mod serial;
#[cfg(test)]
mod testing;
mod validate;
pub mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

pub use diagnostic::{Diagnostic, Diagnostics};
pub use load::{load, load_checked};
pub use raw::{AccountsMode, AgentKind, KeyScheme};

/// Where `townhall` looks for its config when `--config` is not given.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/townhall";

#[derive(Debug, Clone, Serialize)]
pub struct Town {
    pub name: String,
    /// The directory the config was read from.
    pub dir: PathBuf,
    pub agents: PathBuf,
    pub persist: PathBuf,
    pub state: PathBuf,
    pub accounts: AccountsMode,
    pub btrfs: Btrfs,
    pub matrix: TownMatrix,
    pub residents: Vec<Resident>,
    /// `[[repo]]`: the town remote's repositories.
    pub repos: Vec<Repo>,
    /// `[push]`: what one push to the town remote may take.
    pub push: PushLimits,
    /// `[gate]`: where residents reach their model APIs without holding the keys.
    pub gate: Gate,
}

/// `[gate]`: the gate listens on loopback; `[[gate.api]]` are the model APIs behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gate {
    pub listen: std::net::SocketAddr,
    pub apis: Vec<GateApi>,
    /// `[[gate.price]]`: what the gate charges a resident's budget per model.
    pub prices: Vec<Price>,
}

/// A model's price in dollars per million tokens; `model` matches names it begins
/// (upstreams add dates and versions to the names they answer with).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Price {
    pub model: String,
    pub input: f64,
    pub output: f64,
}

/// Where the gate listens unless `[gate] listen` says otherwise.
pub const GATE_LISTEN: &str = "127.0.0.1:8447";

impl Default for Gate {
    fn default() -> Self {
        Self {
            listen: GATE_LISTEN.parse().expect("a socket address"),
            apis: Vec::new(),
            prices: Vec::new(),
        }
    }
}

impl Gate {
    /// What `input` and `output` tokens of `model` cost, by the longest price that names
    /// it; nothing when no price does (a token budget still counts them).
    pub fn cost(&self, model: Option<&str>, input: u64, output: u64) -> f64 {
        let Some(model) = model else {
            return 0.0;
        };
        self.prices
            .iter()
            .filter(|p| model.starts_with(&p.model))
            .max_by_key(|p| p.model.len())
            .map_or(0.0, |p| {
                (input as f64 * p.input + output as f64 * p.output) / 1_000_000.0
            })
    }

    /// The base URL a resident's CLI is given.
    pub fn url(&self) -> String {
        format!("http://{}", self.listen)
    }

    pub fn api(&self, name: &str) -> Option<&GateApi> {
        self.apis.iter().find(|a| a.name == name)
    }
}

/// The API a resident's turns reach through the gate, and how its CLI sends the key.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentApi {
    pub name: String,
    pub key: KeyScheme,
}

/// A model API behind the gate: its upstream base URL, how it takes its key, and the
/// file (root's) that holds the key, which the gate gets as a systemd credential.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GateApi {
    pub name: String,
    pub upstream: String,
    pub key: KeyScheme,
    pub credential: PathBuf,
}

/// Bounds on each push to the town remote (its receive-pack runs as a unit of its own).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PushLimits {
    /// A pack larger than this is refused (git's receive.maxInputSize, and the relay).
    pub max_size: u64,
    /// A push that sends nothing for this long is ended.
    pub idle: std::time::Duration,
    /// No push runs longer.
    pub time: std::time::Duration,
    /// Pushes one resident may run at once; more are refused at once.
    pub at_once: u32,
}

impl Default for PushLimits {
    fn default() -> Self {
        Self {
            max_size: 100 << 20,
            idle: std::time::Duration::from_secs(60),
            time: std::time::Duration::from_secs(600),
            at_once: 2,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Repo {
    pub name: String,
    /// Residents who may push (to their own `refs/heads/NAME/…` only).
    pub push: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Btrfs {
    /// Mount point of the btrfs volume that holds the live and blank subvolumes.
    pub volume: PathBuf,
    pub live: String,
    pub blank: String,
    /// Checkpoints kept per resident within a round; taking one more retires the oldest.
    pub checkpoints: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct TownMatrix {
    pub homeserver: String,
    pub mayors: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Resident {
    pub name: String,
    pub uid: u32,
    pub description: String,
    pub matrix: ResidentMatrix,
    pub agent: Agent,
    pub persist: Persist,
    pub secrets: Vec<Secret>,
    pub devices: Vec<DeviceRule>,
    pub rooms: Vec<String>,
    pub limits: Limits,
    pub budget: Budget,
    pub files: Files,
    pub git: GitIdentity,
    /// `[network] allow`: what the gate's proxy opens for this resident.
    pub network: Network,
    /// `[[schedule]]`: turns that come by themselves.
    pub schedules: Vec<schedule::Schedule>,
    /// `[[on]]`: turns that come when something happens in the town.
    pub events: Vec<events::OnEvent>,
}

/// A resident's way out: every other address is closed to its sockets (src/egress), and
/// these hosts open through the gate's proxy, each on its port.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Network {
    pub allow: Vec<Reach>,
}

/// A host and port a resident may reach through the gate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Reach {
    pub host: String,
    pub port: u16,
}

impl std::fmt::Display for Reach {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.host.contains(':') {
            true => write!(f, "[{}]:{}", self.host, self.port),
            false => write!(f, "{}:{}", self.host, self.port),
        }
    }
}

/// Files the mayor sends (to the workspace's `inbox/`) and a turn leaves in `outbox/` (sent
/// to the room): each at most `max_bytes`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Files {
    pub max_bytes: u64,
}

impl Default for Files {
    fn default() -> Self {
        Self {
            max_bytes: 20 << 20,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ResidentMatrix {
    pub user: String,
    pub password_file: PathBuf,
    pub recovery_file: Option<PathBuf>,
    /// Users besides the mayors who may command this resident.
    pub allow: Vec<String>,
    /// Who may answer its approvals (`approve_by`): None, the mayors.
    pub approve_by: Option<Vec<String>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Agent {
    pub kind: AgentKind,
    pub argv: Vec<String>,
    /// Working directory of turns, relative to the home.
    pub workspace: PathBuf,
    pub environment: BTreeMap<String, String>,
    pub environment_files: Vec<PathBuf>,
    /// What townhall sets up for the kind to run headless (docs/agent-clis.md).
    pub defaults: bool,
    /// The model API's base URL, for a proxy or a stand-in.
    pub base_url: Option<String>,
    /// `[[gate.api]]` its turns reach through the gate (then it holds no key, and
    /// `base_url` is the gate's).
    pub api: Option<AgentApi>,
    /// The gate's proxy, when the town has a gate (and so egress rules): set as
    /// HTTPS_PROXY and its kin in turns, so tools reach `[network] allow` through it.
    pub proxy: Option<String>,
    /// Tool calls that wait for a mayor's yes (claude only), and how long they wait.
    pub approve: Vec<rule::Rule>,
    pub approve_timeout: Duration,
    /// The models `!model` may choose for a conversation (none declared: no choice).
    pub models: Vec<String>,
}

/// The variables that send a resident's tools through the gate's proxy at `proxy`, and
/// the CLI to the gate itself directly (turns, login shells and the user manager).
pub fn proxy_environment(proxy: &str) -> Vec<(String, String)> {
    let via = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"]
        .map(|v| (v.to_string(), proxy.to_string()));
    let not =
        ["NO_PROXY", "no_proxy"].map(|v| (v.to_string(), "127.0.0.1,localhost,::1".to_string()));
    via.into_iter().chain(not).collect()
}

pub const DEFAULT_APPROVE_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, Default, Serialize)]
pub struct Persist {
    pub directories: Vec<PathBuf>,
    pub files: Vec<PathBuf>,
}

impl Persist {
    /// Every persisted path, directories first: what a reset keeps of the home.
    pub fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        self.directories.iter().chain(&self.files)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Secret {
    pub source: PathBuf,
    /// Relative to the home.
    pub target: PathBuf,
    pub mode: u32,
    /// A user name: the resident itself unless declared.
    pub owner: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    R,
    Rw,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeviceRule {
    pub subsystem: String,
    pub kernel: Option<String>,
    /// Matched against the device's own udev properties.
    pub properties: BTreeMap<String, String>,
    /// Matched against the sysfs attributes of the device or any parent (udev's ATTRS).
    pub attrs: BTreeMap<String, String>,
    pub permission: Permission,
    /// The serial line's rate for `!tail` (its current rate when unset).
    pub baud: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    pub memory_bytes: Option<u64>,
    pub cpu_percent: Option<u32>,
    pub tasks: Option<u64>,
    #[serde(with = "secs")]
    pub turn_timeout: Duration,
}

/// What a resident may spend per round, and from when an answer shows what it cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budget {
    pub usd: Option<f64>,
    pub tokens: Option<u64>,
    pub show_from_usd: f64,
    pub show_from_tokens: u64,
}

impl Default for Budget {
    fn default() -> Self {
        Self {
            usd: None,
            tokens: None,
            show_from_usd: 0.05,
            show_from_tokens: 50_000,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GitIdentity {
    pub name: String,
    pub email: String,
}

pub const DEFAULT_TURN_TIMEOUT: Duration = Duration::from_secs(30 * 60);

impl Town {
    pub fn live_path(&self) -> PathBuf {
        self.btrfs.volume.join(&self.btrfs.live)
    }

    pub fn blank_path(&self) -> PathBuf {
        self.btrfs.volume.join(&self.btrfs.blank)
    }

    pub fn resident(&self, name: &str) -> Option<&Resident> {
        self.residents.iter().find(|r| r.name == name)
    }

    pub fn home(&self, r: &Resident) -> PathBuf {
        self.agents.join(&r.name)
    }

    /// Who answers `r`'s approvals: its `approve_by`, else the mayors.
    pub fn approvers<'t>(&'t self, r: &'t Resident) -> &'t [String] {
        r.matrix
            .approve_by
            .as_deref()
            .unwrap_or(&self.matrix.mayors)
    }

    pub fn persist_dir(&self, r: &Resident) -> PathBuf {
        self.persist.join(&r.name)
    }

    /// The supervisor's control socket (root only).
    pub fn control_socket() -> &'static Path {
        Path::new("/run/townhall/control.sock")
    }
}

mod secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
}
