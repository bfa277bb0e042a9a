//! Deleting retired rounds in the background, at idle priority, on a thread of its own:
//! after each round and at start (an interrupted deletion resumes). A round that cannot be
//! deleted waits to be tried again, longer after each failure, while the others go on, and
//! `townhall status` says why it is still there. Before a round is first tried, `Before`
//! reads what it held (the rooms hear what the round lost).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::config::Town;
use crate::machine::Machine;
use crate::round::{delete_retired, retired};

const FIRST_RETRY: Duration = Duration::from_secs(2);
const LAST_RETRY: Duration = Duration::from_secs(300);

/// Called with each retired round before it is first deleted.
pub type Before = Arc<dyn Fn(&Town, &Path) + Send + Sync>;

/// A round that could not be deleted, and when it is tried again.
struct Waiting {
    failures: u32,
    error: String,
    next: Instant,
}

pub struct Retirement<H> {
    /// Whose subvolumes are listed and deleted.
    machine: Arc<H>,
    waiting: Mutex<BTreeMap<PathBuf, Waiting>>,
    /// Whether the thread runs, and whether it was woken since it last looked.
    state: Mutex<(bool, bool)>,
    /// The town as the last start saw it (a reload may move the volume), and what to do
    /// before a deletion.
    town: Mutex<Option<(Arc<Town>, Before)>>,
    /// Retired rounds `Before` has seen.
    seen: Mutex<BTreeSet<PathBuf>>,
    wake: Condvar,
}

impl<H: Machine> Retirement<H> {
    pub fn new(machine: Arc<H>) -> Self {
        Self {
            machine,
            waiting: Default::default(),
            state: Default::default(),
            town: Default::default(),
            seen: Default::default(),
            wake: Default::default(),
        }
    }

    /// Delete what is retired: start the thread, or wake it if it waits.
    pub fn start(self: &Arc<Self>, town: Arc<Town>, before: Before) {
        *self.town.lock().expect("lock") = Some((town.clone(), before.clone()));
        let mut state = self.state.lock().expect("lock");
        state.1 = true;
        if state.0 {
            self.wake.notify_all();
            return;
        }
        state.0 = true;
        let me = self.clone();
        let spawned = std::thread::Builder::new()
            .name("retired".into())
            .spawn(move || {
                crate::os::lower_priority();
                me.run(town, before);
            });
        if let Err(e) = spawned {
            state.0 = false;
            tracing::error!("no thread to delete retired rounds: {e}");
        }
    }

    fn run(&self, mut town: Arc<Town>, mut before: Before) {
        loop {
            self.state.lock().expect("lock").1 = false;
            if let Some((t, b)) = self.town.lock().expect("lock").clone() {
                (town, before) = (t, b);
            }
            let now_retired = retired(&town, self.machine.round().subvolumes).unwrap_or_default();
            self.seen
                .lock()
                .expect("lock")
                .retain(|p| now_retired.contains(p));
            for p in now_retired {
                if self.seen.lock().expect("lock").insert(p.clone()) {
                    before(&town, &p);
                }
            }
            let now = Instant::now();
            let wait = |p: &Path| {
                self.waiting
                    .lock()
                    .expect("lock")
                    .get(p)
                    .is_some_and(|w| w.next > now)
            };
            match delete_retired(&town, self.machine.round().subvolumes, &wait, &mut |m| {
                tracing::info!("{m}")
            }) {
                Ok(done) => done.into_iter().for_each(|(p, r)| self.tried(p, r)),
                Err(e) => tracing::error!("listing the retired rounds: {e}"),
            }
            let left = retired(&town, self.machine.round().subvolumes).unwrap_or_default();
            let next = {
                let mut waiting = self.waiting.lock().expect("lock");
                waiting.retain(|p, _| left.contains(p));
                left.iter()
                    .map(|p| waiting.get(p).map_or(now, |w| w.next))
                    .min()
            };
            let mut state = self.state.lock().expect("lock");
            let Some(next) = next else {
                if !state.1 {
                    state.0 = false;
                    return;
                }
                continue;
            };
            let pause = next.saturating_duration_since(Instant::now());
            if !state.1 && !pause.is_zero() {
                drop(
                    self.wake
                        .wait_timeout_while(state, pause, |s| !s.1)
                        .expect("lock"),
                );
            }
        }
    }

    fn tried(&self, path: PathBuf, r: Result<Duration, crate::os::OsError>) {
        let mut waiting = self.waiting.lock().expect("lock");
        match r {
            Ok(took) => {
                waiting.remove(&path);
                tracing::info!(
                    "deleted the retired round {} in {} ms",
                    path.display(),
                    took.as_millis()
                );
            }
            Err(e) => {
                let w = waiting.entry(path).or_insert(Waiting {
                    failures: 0,
                    error: String::new(),
                    next: Instant::now(),
                });
                w.failures += 1;
                w.error = e.to_string();
                let pause = townhall_wire::backoff::delay(w.failures, FIRST_RETRY, LAST_RETRY);
                w.next = Instant::now() + pause;
                tracing::error!(
                    "{} (failure {}; tried again in {} s)",
                    w.error,
                    w.failures,
                    pause.as_secs()
                );
            }
        }
    }

    /// Each retired round still there, with why when deleting it failed.
    pub fn status(&self, town: &Town) -> Vec<String> {
        let waiting = self.waiting.lock().expect("lock");
        let now = Instant::now();
        retired(town, self.machine.round().subvolumes)
            .unwrap_or_default()
            .into_iter()
            .map(|p| match waiting.get(&p) {
                None => p.display().to_string(),
                Some(w) => format!(
                    "{} (not deleted after {} attempt(s): {}; next attempt in {} s)",
                    p.display(),
                    w.failures,
                    w.error,
                    w.next.saturating_duration_since(now).as_secs()
                ),
            })
            .collect()
    }
}
