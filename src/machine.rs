//! The machine the town runs on, as one value: every seam the daemon's long-lived work acts
//! through (rounds, accounts, levelling, host settings, signing keys, the town remote,
//! serial consoles, the files' way in and out, conversations' worktrees, the schedules' timers). The real one is
//! put together once, at the binary's edge (`townhall serve`); the core only ever receives
//! it, so the daemon is tested on fakes.

use crate::files::Post;
use crate::git::Git;
use crate::grant::SerialPorts;
use crate::level::{Host, Presence};
use crate::public::PublicFiles;
use crate::remote::TownRemote;
use crate::resident::Accounts;
use crate::round::{Files, Seams, Subvolumes};
use crate::schedule::Timers;
use crate::sign::KeyStore;
use crate::worktree::Worktrees;

/// The round's seams as a machine lends them.
pub type RoundSeams<'a, M> = Seams<
    'a,
    <M as Machine>::Subvolumes,
    <M as Machine>::Files,
    <M as Machine>::Accounts,
    <M as Machine>::Git,
    <M as Machine>::Presence,
>;

/// What the daemon holds and shares with the blocking threads resets and deletions run on.
pub trait Machine: Send + Sync + 'static {
    type Subvolumes: Subvolumes + Send + Sync + 'static;
    type Files: Files + Send + Sync + 'static;
    type Accounts: Accounts + Send + Sync + 'static;
    type Git: Git + Send + Sync + 'static;
    type Presence: Presence + Send + Sync + 'static;
    type Settings: Host + Send + Sync + 'static;
    type Keys: KeyStore + Send + Sync + 'static;
    type Remote: TownRemote + Send + Sync + 'static;
    type Serial: SerialPorts + Send + Sync + 'static;
    type Public: PublicFiles + Clone + Send + Sync + 'static;
    type Post: Post + Send + Sync + 'static;
    type Worktrees: Worktrees + Send + Sync + 'static;
    type Timers: Timers + Send + Sync + 'static;

    /// The seams a round acts through.
    fn round(&self) -> RoundSeams<'_, Self>;
    /// The host's kernel settings and cgroup files, read only.
    fn settings(&self) -> &Self::Settings;
    /// The residents' signing keys.
    fn keys(&self) -> &Self::Keys;
    /// The town remote's repositories and the residents' workspaces.
    fn remote(&self) -> &Self::Remote;
    /// The serial devices `!tail` reads.
    fn serial(&self) -> &Self::Serial;
    /// What the town publishes for anyone on the host to read.
    fn public(&self) -> &Self::Public;
    /// Files from the chat's spool into an inbox, and from an outbox to the chat.
    fn post(&self) -> &Self::Post;
    /// Conversations' own worktrees in the residents' workspaces.
    fn worktrees(&self) -> &Self::Worktrees;
    /// PID 1's timers for the schedules.
    fn timers(&self) -> &Self::Timers;
}

/// A machine made of its parts: the real adapters in `townhall serve`, fakes in tests.
pub struct Parts<S, F, A, G, P, H, K, R, C, U, O, W, T> {
    pub subvolumes: S,
    pub files: F,
    pub accounts: A,
    pub git: G,
    pub presence: P,
    pub settings: H,
    pub keys: K,
    pub remote: R,
    pub serial: C,
    pub public: U,
    pub post: O,
    pub worktrees: W,
    pub timers: T,
}

impl<S, F, A, G, P, H, K, R, C, U, O, W, T> Machine for Parts<S, F, A, G, P, H, K, R, C, U, O, W, T>
where
    S: Subvolumes + Send + Sync + 'static,
    F: Files + Send + Sync + 'static,
    A: Accounts + Send + Sync + 'static,
    G: Git + Send + Sync + 'static,
    P: Presence + Send + Sync + 'static,
    H: Host + Send + Sync + 'static,
    K: KeyStore + Send + Sync + 'static,
    R: TownRemote + Send + Sync + 'static,
    C: SerialPorts + Send + Sync + 'static,
    U: PublicFiles + Clone + Send + Sync + 'static,
    O: Post + Send + Sync + 'static,
    W: Worktrees + Send + Sync + 'static,
    T: Timers + Send + Sync + 'static,
{
    type Subvolumes = S;
    type Files = F;
    type Accounts = A;
    type Git = G;
    type Presence = P;
    type Settings = H;
    type Keys = K;
    type Remote = R;
    type Serial = C;
    type Public = U;
    type Post = O;
    type Worktrees = W;
    type Timers = T;

    fn round(&self) -> Seams<'_, S, F, A, G, P> {
        Seams {
            subvolumes: &self.subvolumes,
            files: &self.files,
            accounts: &self.accounts,
            git: &self.git,
            presence: &self.presence,
        }
    }

    fn settings(&self) -> &H {
        &self.settings
    }

    fn keys(&self) -> &K {
        &self.keys
    }

    fn remote(&self) -> &R {
        &self.remote
    }

    fn serial(&self) -> &C {
        &self.serial
    }

    fn public(&self) -> &U {
        &self.public
    }

    fn post(&self) -> &O {
        &self.post
    }

    fn worktrees(&self) -> &W {
        &self.worktrees
    }

    fn timers(&self) -> &T {
        &self.timers
    }
}

/// The real machine's parts, named once for the binary that puts them together.
pub type Real = Parts<
    crate::round::Btrfs,
    crate::round::HostFiles,
    crate::resident::SystemAccounts,
    crate::git::Git2,
    crate::level::HostPresence,
    crate::level::ThisHost,
    crate::sign::Keys,
    crate::remote::HostRemote,
    crate::grant::Termios,
    crate::public::PublicDir,
    crate::files::HostPost,
    crate::worktree::HostWorktrees,
    crate::schedule::HostTimers,
>;
