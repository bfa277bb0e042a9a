//! The `townhall` command line as clap reads it: every subcommand, its flags and their help.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use townhall::config;

#[derive(Parser)]
#[command(
    name = "townhall",
    version,
    about = "AI agents as real Unix users, reset between rounds"
)]
pub(super) struct Cli {
    /// Directory holding town.toml and residents/.
    #[arg(long, global = true, env = "TOWNHALL_CONFIG", default_value = config::DEFAULT_CONFIG_DIR)]
    pub(super) config: PathBuf,
    #[command(subcommand)]
    pub(super) command: Command,
}

#[derive(Subcommand)]
pub(super) enum Command {
    /// Run the supervisor (normally as the townhall systemd service, as root).
    Serve,
    /// Run every resident's Matrix bot: the `townhall-chat` binary beside this one
    /// (normally townhall-chat.service, as its own unprivileged user).
    Chat,
    /// Validate the configuration and print the resolved town; `--host` checks the host's
    /// settings instead (sysctls, /proc, cgroups).
    Check {
        #[arg(long)]
        json: bool,
        #[arg(long)]
        host: bool,
    },
    /// Ask the running daemon how the town is doing.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Devices that match a rule, who holds them and since when.
    Devices {
        #[arg(long)]
        json: bool,
    },
    /// claude's PreToolUse hook in a resident's turn: asks the supervisor whether a tool
    /// call a rule names may run (townhall passes it to claude itself).
    #[command(hide = true)]
    ApproveHook {
        /// Answer in gemini's hook output, not claude's.
        #[arg(long)]
        gemini: bool,
    },
    /// Run by a schedule's timer (townhall-at-RESIDENT-ID.service): asks the daemon to fire
    /// the schedule, and returns once its turn is taken.
    #[command(hide = true)]
    Fire { resident: String, id: String },
    /// The town's MCP server on stdio: a resident's CLI starts it inside a turn (townhall
    /// declares it to each kind of CLI itself).
    #[command(hide = true)]
    Mcp,
    /// Run by root in a unit of its own with a resident's home bound at /run/townhall-losses:
    /// becomes the resident and prints what a reset loses of that home (JSON).
    #[command(hide = true)]
    Losses {
        #[arg(long)]
        resident: String,
    },
    /// Run by the daemon as a resident whose device grant ended: the pids of the resident's
    /// processes holding PATH open, and with --kill, ends them.
    #[command(hide = true)]
    Holders {
        path: PathBuf,
        #[arg(long)]
        kill: bool,
    },
    /// Make the daemon read the configuration again (same as `systemctl reload townhall`).
    Reload,
    /// Run a turn: `turn NAME PROMPT…` streams the answer; `turn stop NAME` ends it.
    Turn {
        #[arg(required = true, num_args = 1.., value_name = "NAME PROMPT… | stop NAME")]
        args: Vec<String>,
        /// The conversation (each has its own queue and CLI session).
        #[arg(long, default_value = "cli")]
        conversation: String,
        /// Start a fresh CLI session instead of continuing the conversation's.
        #[arg(long)]
        new: bool,
        /// Print each event as a JSON line.
        #[arg(long)]
        json: bool,
    },
    /// Continue a conversation's CLI session at this terminal, as the resident in its
    /// workspace and user manager (then a shell there); the chat goes on from it after.
    Attach {
        name: String,
        /// The chat conversation (its room ID, as `!session` shows); default: the latest.
        #[arg(long)]
        conversation: Option<String>,
    },
    /// Prepare a fresh host: blank and live subvolumes, accounts, /persist, the state dir.
    Init {
        #[arg(long)]
        json: bool,
    },
    /// End the round: level the agents subvolume to the blank and rebuild every home; with
    /// names, end only those residents' rounds, each home exchanged alone.
    Reset {
        /// The residents whose rounds end alone (none: every resident's).
        residents: Vec<String>,
        /// Print what would be done, change nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
        /// Who asked, for the audit log (default: the invoking user).
        #[arg(long)]
        by: Option<String>,
        /// End the round without asking (it still prints what is lost). Without it, a
        /// terminal is asked, and anything else is refused.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Take a checkpoint of a resident's home: a read-only snapshot, until its round ends.
    Checkpoint {
        resident: String,
        /// Words to know it by.
        label: Vec<String>,
    },
    /// A resident's checkpoints, oldest first.
    Checkpoints {
        resident: String,
        #[arg(long)]
        json: bool,
    },
    /// Roll a resident's home back to checkpoint N: its turns end, it is levelled, its home
    /// exchanged for the checkpoint; what persists under /persist is not rolled back.
    Rollback {
        resident: String,
        n: u64,
        /// Who asked, for the audit log (default: the invoking user).
        #[arg(long)]
        by: Option<String>,
        /// Without it, a terminal is asked, and anything else is refused.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// The audit log, asked: turns, resets, grants, pushes, approvals… (as root: it reads
    /// the state dir). Every condition given holds.
    Audit {
        /// Only what concerns this resident.
        #[arg(long)]
        resident: Option<String>,
        /// Only since this RFC 3339 time, or this long ago (90m, 2h, 7days).
        #[arg(long)]
        since: Option<String>,
        /// Only entries of this kind (turn, reset, device, lease, push, approval-decided, …);
        /// repeat for several.
        #[arg(long = "kind")]
        kinds: Vec<String>,
        /// Only the last N of what the rest picks.
        #[arg(long)]
        last: Option<usize>,
        /// The entries as they are logged, a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Spending per day, from the audit log's turns: a table, the chart as SVG, or JSON.
    Usage {
        /// One resident's (default: the whole town's).
        #[arg(long)]
        resident: Option<String>,
        /// How many days back, today included.
        #[arg(long, default_value_t = 14)]
        days: u32,
        /// The chart `!usage` sends, as SVG on stdout.
        #[arg(long, conflicts_with = "json")]
        svg: bool,
        #[arg(long)]
        json: bool,
    },
    /// End every resident's presence now — sessions, user managers, processes, IPC, keyrings,
    /// files in the shared dirs — and leave the homes alone (a reset's first step; also run
    /// at shutdown, so no resident's process can hold a reboot up).
    Level {
        #[arg(long)]
        json: bool,
    },
    /// Each resident's commit signing key and the town's allowed_signers (`rotate NAME`
    /// makes a new key; commits signed with the old one still verify).
    Keys {
        #[command(subcommand)]
        command: Option<KeysCommand>,
        #[arg(long)]
        json: bool,
    },
    /// git's receive-pack for the town remote (`remote.town.receivepack`): hands this push
    /// to the daemon, which knows the pusher by its uid.
    Push {
        /// The repository path git passes (its name picks the repository).
        path: PathBuf,
    },
    /// Hooks the town remote's repositories run (`hook pre-receive`).
    Hook {
        #[arg(value_parser = ["pre-receive"])]
        name: String,
    },
    /// Measure townhall against the alternatives.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Residents as declared in the configuration.
    Resident {
        #[command(subcommand)]
        command: ResidentCommand,
    },
}

#[derive(Subcommand)]
pub(super) enum KeysCommand {
    /// A new signing key for NAME, in use at once; the old one stays in allowed_signers with
    /// `valid-before` set to now.
    Rotate { name: String },
}

#[derive(Subcommand)]
pub(super) enum BenchCommand {
    /// Time from a udev event to the ACL entry: townhall vs a udev RUN+="setfacl" rule.
    Grant {
        /// A device node whose uevents may be triggered (e.g. /dev/ttyS0).
        #[arg(long)]
        node: PathBuf,
        #[arg(long, default_value_t = 65000)]
        uid: u32,
        #[arg(long, default_value_t = 50)]
        count: usize,
    },
    /// In a running town: the mayor's message → the CLI started → its first line back, beside
    /// Synapse's own client-to-client delivery (tests/town/bench-chat.sh sets it up).
    Chat {
        /// JSON with homeserver, user, password: the mayor.
        #[arg(long)]
        mayor: PathBuf,
        /// The same for another user, for Synapse's own delivery time.
        #[arg(long)]
        other: PathBuf,
        /// The resident to talk to (its CLI must answer `stamp N`, as the test stand-in does).
        #[arg(long, default_value = "@ada:town.test")]
        resident: String,
        #[arg(long, default_value_t = 30)]
        runs: usize,
        #[arg(long)]
        json: bool,
    },
    /// In a running town (it ends rounds): `townhall reset --yes` end to end as one
    /// resident's home grows, beside the walk of the home it no longer waits for.
    ResetTown {
        #[arg(long, default_value = "ada")]
        resident: String,
        /// Files in the home, one set of runs each.
        #[arg(long, value_delimiter = ',', default_value = "1000,200000")]
        files: Vec<usize>,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long)]
        json: bool,
    },
    /// In a running town (it ends rounds): one resident's home reset alone while another's
    /// turn streams: the critical path and the stream's longest pause, beside the town's reset.
    ResetAlone {
        #[arg(long, default_value = "ada")]
        resident: String,
        /// The resident whose turn streams (its CLI must answer `ticks fast`, as the test
        /// stand-in does).
        #[arg(long, default_value = "vox")]
        streamer: String,
        #[arg(long, value_delimiter = ',', default_value = "200000")]
        files: Vec<usize>,
        #[arg(long, default_value_t = 3)]
        runs: usize,
        #[arg(long)]
        json: bool,
    },
    /// Reset time (ioctls) vs the btrfs CLI vs rm -rf, as homes grow.
    Reset {
        /// A directory on btrfs to work in (scratch subvolumes are made and removed there).
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 4)]
        residents: usize,
        /// Files per home, one run each.
        #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
        files: Vec<usize>,
        /// Drop the dentry/inode caches before each measurement (needs the host's /proc/sys).
        #[arg(long)]
        cold: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub(super) enum ResidentCommand {
    /// One line per resident.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Everything declared about one resident.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
}
