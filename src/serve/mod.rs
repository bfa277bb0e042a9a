//! `townhall serve`: the root daemon. Holds the town, runs turns, answers root's CLI on the
//! control socket (control.rs) and the unprivileged chat process on the hall (hall.rs).
//! It speaks no network protocol: every Matrix connection is the chat process's.

mod allowed;
mod approvals;
mod asker;
mod checkpoints;
mod consoles;
mod control;
mod credentials;
mod declined;
mod deliveries;
mod devices;
mod doing;
mod events;
mod files;
mod hall;
mod history;
mod ledger;
mod losses;
mod modes;
mod network;
mod notices;
mod outbox;
mod parked;
mod pushes;
mod reach;
mod reports;
mod reset;
mod retirement;
mod schedules;
mod signing;
mod status;
mod tools;
mod turns;
mod worktrees;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use tokio::sync::Notify;

use crate::config::Town;
use crate::grant::{Acls, Keeper};
use crate::machine::Machine;
use crate::turn::Desk;
use crate::units::UserManagers;
use crate::worktree::Worktrees as _;

type EventTurns = tokio::sync::mpsc::UnboundedReceiver<(
    crate::turn::conversation::Key,
    crate::turn::conversation::Batch<asker::Asker>,
)>;

/// How long start-up waits for the device grants before it reports ready anyway.
const READY_WITHIN: std::time::Duration = std::time::Duration::from_secs(20);

pub struct Daemon<H, M, G> {
    town: RwLock<Arc<Town>>,
    /// Per resident: how its Matrix sync loop is doing, and its last turn.
    chat_health: std::sync::Mutex<std::collections::HashMap<String, String>>,
    last_turn: std::sync::Mutex<std::collections::HashMap<String, crate::turn::Outcome>>,
    /// What goes to the chat's subscription unasked (queued per resident), and notices
    /// kept while no chat is subscribed.
    teller: notices::Teller,
    /// Answers the chat has not confirmed yet.
    deliveries: deliveries::Deliveries,
    /// Turns residents' doings started in a row, per room (the hop limit).
    hops: events::Hops,
    /// Turns the device watcher's events start, to the task that runs them.
    event_turns: tokio::sync::mpsc::UnboundedSender<(
        crate::turn::conversation::Key,
        crate::turn::conversation::Batch<asker::Asker>,
    )>,
    event_turns_rx: Mutex<Option<EventTurns>>,
    /// The schedules mayors made in chat.
    schedules: crate::schedule::Kept,
    /// Held from reading the schedules to PID 1 having their timers, so two changes at
    /// once (a reload, an `!every`) never leave the older one's list last.
    timers_applied: tokio::sync::Mutex<()>,
    /// Each conversation's running turn and the messages waiting for its next.
    conversations: crate::turn::conversation::Conversations<asker::Asker>,
    /// Each resident's signing agent.
    agents: crate::sign::Agents,
    /// The machine's seams, shared with the blocking threads resets run on.
    machine: Arc<H>,
    desk: Desk<M>,
    keeper: Keeper<G>,
    /// Tool calls waiting for a mayor, and the rooms to ask in.
    approvals: approvals::Approvals,
    /// What each resident is doing, for its bot's presence.
    doing: doing::Doing,
    /// What each resident told its rooms through the town's tools, for their rate.
    tells: tools::Tells,
    /// Files the town's tools are sending into rooms.
    sends: tools::Sends,
    /// Files received, for each conversation's next prompt.
    received: files::Received,
    /// Serial consoles being tailed into rooms.
    tails: crate::grant::console::Tails,
    /// Deletes retired rounds in the background, one at a time.
    retirement: Arc<retirement::Retirement<H>>,
    /// True once the device watcher has reconciled what is present: `Ready` waits for it.
    reconciled: tokio::sync::watch::Sender<bool>,
    /// Woken on reload and when a lease begins or ends, so the device watcher reconciles.
    reloaded: Notify,
    /// Set at SIGTERM: the turns it stops are interrupted, to run again after the restart.
    stopping: std::sync::atomic::AtomicBool,
    /// The round each resident was last told its budget is spent at the gate.
    told_spent: Mutex<HashMap<String, u64>>,
    /// What each resident's network did this round: hosts mayors opened, what was refused.
    network: Arc<crate::egress::Record>,
    started: Instant,
}

/// Serve `socket` (mode 0666, each request checked by its server) with `serve`; when it
/// cannot be bound, say what the town goes without.
fn serve_on<F, Fut>(
    socket: &std::path::Path,
    without: &str,
    serve: F,
) -> Option<tokio::task::JoinHandle<()>>
where
    F: FnOnce(tokio::net::UnixListener) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    match townhall_wire::lines::bind(socket, 0o666) {
        Ok(listener) => Some(tokio::spawn(serve(listener))),
        Err(e) => {
            tracing::error!("{without}: cannot bind {}: {e}", socket.display());
            None
        }
    }
}

/// Make PID 1 hold each resident's user manager to its declared limits (a blocking call:
/// it writes drop-ins and may reload PID 1).
fn confine(presence: &impl crate::level::Presence, town: &Town) -> Result<(), crate::os::OsError> {
    let residents: Vec<_> = town
        .residents
        .iter()
        .map(|r| (r.uid, r.limits.clone()))
        .collect();
    presence.confine(&residents)
}

/// Name the deployed secrets as the chat's and the gate's credentials; a unit whose set
/// changed restarts (blocking: it may reload PID 1).
fn unit_credentials(town: &Town) -> Result<(), crate::os::OsError> {
    let changed = credentials::write(town)?;
    if !changed.is_empty() {
        crate::level::reload_pid1(&changed)?;
    }
    // The gate reads its routes from the config: a gate that was not restarted reads
    // them again (where it runs).
    // A host without the gate's unit has nothing to reload.
    if !changed.contains(&crate::hall::GATE_UNIT)
        && let Err(e) = crate::level::reload_units(&[crate::hall::GATE_UNIT])
    {
        tracing::debug!("{e}");
    }
    Ok(())
}

/// The machine's worktrees, lent to the turn desk for as long as it lives.
struct Lent<H>(Arc<H>);

impl<H: Machine> crate::worktree::Worktrees for Lent<H> {
    fn open(
        &self,
        r: &crate::config::Resident,
        home: &std::path::Path,
        names: &crate::worktree::Names,
    ) -> Result<crate::worktree::Opened, crate::os::OsError> {
        self.0.worktrees().open(r, home, names)
    }

    fn dirty(
        &self,
        r: &crate::config::Resident,
        home: &std::path::Path,
        slugs: &[String],
    ) -> Vec<Option<u64>> {
        self.0.worktrees().dirty(r, home, slugs)
    }

    fn prune(
        &self,
        r: &crate::config::Resident,
        home: &std::path::Path,
    ) -> Result<(), crate::os::OsError> {
        self.0.worktrees().prune(r, home)
    }
}

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    /// Fails when a state file (sessions, the grants ledger) is corrupt, naming it.
    pub fn new(town: Town, machine: H, managers: M, acls: G) -> Result<Self, crate::os::OsError> {
        let machine = Arc::new(machine);
        let worktrees = Arc::new(Lent(machine.clone()));
        let desk = Desk::new(
            managers,
            Box::new(machine.public().clone()),
            worktrees,
            &town,
        )?;
        let keeper = Keeper::new(acls, &town.state)?;
        let deliveries = deliveries::Deliveries::new(&town.state)?;
        let conversations = crate::turn::conversation::Conversations::new(&town.state)?;
        let schedules = crate::schedule::Kept::load(&town.state)?;
        let (event_turns, rx) = tokio::sync::mpsc::unbounded_channel();
        Ok(Self {
            event_turns,
            event_turns_rx: Mutex::new(Some(rx)),
            hops: Default::default(),
            timers_applied: Default::default(),
            schedules,
            town: RwLock::new(Arc::new(town)),
            chat_health: Default::default(),
            last_turn: Default::default(),
            teller: Default::default(),
            deliveries,
            conversations,
            agents: Default::default(),
            retirement: Arc::new(retirement::Retirement::new(machine.clone())),
            machine,
            desk,
            keeper,
            tails: Default::default(),
            received: Default::default(),
            approvals: Default::default(),
            doing: Default::default(),
            tells: Default::default(),
            sends: Default::default(),
            reconciled: tokio::sync::watch::Sender::new(false),
            reloaded: Notify::new(),
            stopping: Default::default(),
            told_spent: Default::default(),
            network: Default::default(),
            started: Instant::now(),
        })
    }

    pub fn town(&self) -> Arc<Town> {
        self.town.read().expect("lock").clone()
    }

    pub fn chat_health(&self, resident: &str, health: String) {
        self.chat_health
            .lock()
            .expect("lock")
            .insert(resident.to_string(), health);
    }

    /// At start: finish or roll back a reset that was killed, hold each resident's manager to
    /// its limits through PID 1, and stop turn units an earlier daemon left behind.
    async fn settle(&self, town: &Arc<Town>) {
        let t = town.clone();
        let machine = self.machine.clone();
        let r = tokio::task::spawn_blocking(move || -> Result<Vec<String>, crate::os::OsError> {
            let seams = machine.round();
            // A reset running right now (the CLI's) holds the lock and tidies up itself.
            let Ok(_lock) = crate::round::lock(&t.state) else {
                return Ok(vec![]);
            };
            let done = crate::round::recover(&t, seams.subvolumes, seams.files)?;
            confine(seams.presence, &t)?;
            Ok(done)
        })
        .await;
        match r {
            Ok(Ok(done)) => done.iter().for_each(|d| tracing::warn!("recovered: {d}")),
            Ok(Err(e)) => tracing::error!("{e}"),
            Err(e) => tracing::error!("settling the town: {e}"),
        }
        self.desk.stop_strays(town).await;
    }

    /// Delete the retired rounds in the background: after each round and at start. Before
    /// one is deleted, what its homes held is told, and then (the report read) their
    /// residents' repositories forget the worktrees that went with them.
    pub(super) fn clear_retired(&self) {
        let (teller, machine) = (self.teller.clone(), self.machine.clone());
        let before: retirement::Before = Arc::new(move |town: &Town, retired: &std::path::Path| {
            losses::tell(&teller, town, retired);
            for r in losses::homes_in(town, retired) {
                if let Err(e) = machine.worktrees().prune(r, &town.home(r)) {
                    tracing::warn!("{e}");
                }
            }
        });
        self.retirement.start(self.town(), before);
    }

    /// Read the config again; on errors keep the current town and say why. What it sets in
    /// the system (limits, units' credentials, egress rules) is applied on a thread of its
    /// own, whose handle says when that is done.
    pub fn reload(
        &self,
    ) -> Result<(Arc<Town>, std::thread::JoinHandle<()>), crate::config::Diagnostics> {
        let dir = self.town().dir.clone();
        let town = Arc::new(crate::schedule::calendar::load(&dir)?);
        *self.town.write().expect("lock") = town.clone();
        self.reloaded.notify_waiters();
        self.start_agents();
        // Off the async workers: writing drop-ins may reload PID 1.
        let (t, machine) = (town.clone(), self.machine.clone());
        let schedules = crate::schedule::all(&town, &self.schedules.all());
        let applied = std::thread::spawn(move || {
            if let Err(e) =
                confine(machine.round().presence, &t).and_then(|()| unit_credentials(&t))
            {
                tracing::error!("{e}");
            }
            use crate::schedule::Timers as _;
            if let Err(e) = machine.timers().apply(&schedules) {
                tracing::error!("{e}");
            }
            // Apart: rules for the residents who remain even when a unit failed.
            crate::egress::load(&t);
        });
        self.broadcast(crate::hall::Said::Reloaded);
        tracing::info!(
            residents = town.residents.len(),
            "configuration reloaded from {}",
            dir.display()
        );
        Ok((town, applied))
    }

    /// Answer on the control socket until SIGTERM or SIGINT.
    pub async fn run(self) -> anyhow::Result<()> {
        let daemon = Arc::new(self);
        let socket = Town::control_socket();
        let server = tokio::spawn({
            let daemon = daemon.clone();
            async move { crate::control::serve(socket, daemon).await }
        });
        // The chat and gate units start after us: their credentials must be named before we
        // are ready.
        let t = daemon.town();
        // The egress rules too, before any turn runs: a resident's first turn is held to them.
        let named = tokio::task::spawn_blocking(move || {
            let named = unit_credentials(&t);
            crate::egress::load(&t);
            named
        });
        match named.await {
            Ok(Err(e)) => tracing::error!("{e}"),
            Err(e) => tracing::error!("naming the units' credentials: {e}"),
            Ok(Ok(())) => {}
        }
        let hall_socket = crate::hall::socket();
        let hall = serve_on(hall_socket, "no chat", |l| daemon.clone().serve_hall(l));
        let approvals = serve_on(
            std::path::Path::new(crate::approve::SOCKET),
            "no approvals (every call a rule names is denied)",
            |l| daemon.clone().serve_approvals(l),
        );
        let tools = serve_on(
            std::path::Path::new(crate::tools::SOCKET),
            "no town tools (every call is refused)",
            |l| daemon.clone().serve_tools(l),
        );
        let gate_ledger = serve_on(
            townhall_wire::ledger::socket(),
            "the gate cannot count (it admits no model call)",
            |l| daemon.clone().serve_ledger(l),
        );
        tokio::spawn(daemon.clone().hear_drops());
        tokio::spawn(daemon.clone().wake_parked());
        if let Some(rx) = daemon.event_turns_rx.lock().expect("lock").take() {
            tokio::spawn(daemon.clone().run_event_turns(rx));
        }
        // Ready once the socket is bound: `systemctl start` returns when status can answer.
        while !socket.exists() && !server.is_finished() {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        // Ready once status can answer and the present devices are granted: what
        // `systemctl start townhall` returns to holds.
        let watcher = tokio::spawn({
            let daemon = daemon.clone();
            async move { daemon.watch_devices(&crate::grant::Udev).await }
        });
        let mut reconciled = daemon.reconciled.subscribe();
        if tokio::time::timeout(READY_WITHIN, reconciled.wait_for(|done| *done))
            .await
            .is_err()
        {
            tracing::warn!(
                "the device grants were not reconciled within {READY_WITHIN:?}: ready without them"
            );
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        let town = daemon.town();
        daemon.settle(&town).await;
        daemon.serve_pushes(&town).await;
        // Once the daemon answers: a schedule missed while it was stopped fires now.
        if let Err(e) = daemon.apply_timers().await {
            tracing::error!("{e}");
        }
        // Starts the signing agents too, and tells the rooms what a boot reset reported.
        daemon.round_began();
        // Messages that waited across a restart get their turn; the answers are delivered.
        for (key, batch) in daemon.conversations.resume() {
            let d = daemon.clone();
            tokio::spawn(async move { d.run_lane(&key, batch).await });
        }
        tracing::info!(town = %town.name, residents = town.residents.len(), "townhall is serving on {}", socket.display());
        for r in &town.residents {
            if !r.matrix.password_file.exists() {
                tracing::warn!(resident = %r.name, "no Matrix bot: {} is missing", r.matrix.password_file.display());
                daemon.chat_health(
                    &r.name,
                    format!("no bot: {} is missing", r.matrix.password_file.display()),
                );
            }
        }
        use tokio::signal::unix::{SignalKind, signal};
        let (mut term, mut hup) = (
            signal(SignalKind::terminate())?,
            signal(SignalKind::hangup())?,
        );
        let mut server = server;
        loop {
            tokio::select! {
                r = &mut server => { r??; break; }
                _ = term.recv() => { tracing::info!("SIGTERM: stopping"); break; }
                _ = tokio::signal::ctrl_c() => { tracing::info!("SIGINT: stopping"); break; }
                _ = hup.recv() => {
                    if let Err(e) = daemon.reload() {
                        tracing::error!("reload refused, keeping the running configuration:\n{e}");
                    }
                }
            }
        }
        watcher.abort();
        for h in [hall, approvals, tools, gate_ledger].into_iter().flatten() {
            h.abort();
        }
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        daemon
            .stopping
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = daemon.desk.stop(None).await;
        let _ = std::fs::remove_file(socket);
        let _ = std::fs::remove_file(hall_socket);
        let _ = std::fs::remove_file(crate::approve::SOCKET);
        let _ = std::fs::remove_file(crate::tools::SOCKET);
        Ok(())
    }
}

/// A daemon for unit tests: on a machine of fakes, its state in a temporary directory.
#[cfg(test)]
pub(crate) mod testing {
    use std::sync::{Arc, Mutex};

    use tokio::sync::mpsc;

    use super::Daemon;
    use crate::grant::{DeviceEvent, FakeAcls, FakeDevices};
    use crate::testing::{FakeMachine, ftdi_adapter};
    use crate::units::FakeUserManagers;

    pub type TestDaemon = Daemon<FakeMachine, FakeUserManagers, FakeAcls>;

    /// The daemon watching an FTDI adapter at /dev/ttyUSB0 (ada's shipped rule grants it):
    /// the sender feeds it further udev events; abort the task to stop watching.
    pub fn watching(
        state: &std::path::Path,
        machine: FakeMachine,
    ) -> (
        Arc<TestDaemon>,
        mpsc::Sender<DeviceEvent>,
        tokio::task::JoinHandle<()>,
    ) {
        let mut town = crate::testing::demo_town();
        town.state = state.into();
        let (tx, rx) = mpsc::channel(4);
        let devices = FakeDevices {
            devices: vec![ftdi_adapter("/dev/ttyUSB0")],
            events: Mutex::new(Some(rx)),
            ..Default::default()
        };
        let d = Arc::new(
            Daemon::new(
                town,
                machine,
                FakeUserManagers::default(),
                FakeAcls::default(),
            )
            .unwrap(),
        );
        let watcher = tokio::spawn({
            let d = d.clone();
            async move { d.watch_devices(&devices).await }
        });
        (d, tx, watcher)
    }
}
