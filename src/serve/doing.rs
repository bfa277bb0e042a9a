//! What each resident is doing, for its bot's presence: its running turns (with the start
//! of each prompt) and its approvals waiting for an answer. The chat is told only when
//! what it would show changes.

use std::collections::HashMap;
use std::sync::Mutex;

use townhall_wire::hall::Activity;

#[derive(Default)]
struct Of {
    /// Running turns, oldest first: an id and what it works on.
    turns: Vec<(u64, Activity)>,
    waiting: usize,
    /// What the chat was last told.
    told: Option<Activity>,
}

impl Of {
    /// Waiting beats working beats idle; the newest turn names the work.
    fn now(&self) -> Activity {
        match (self.waiting, self.turns.last()) {
            (1.., _) => Activity::WaitingForApproval,
            (0, Some((_, a))) => a.clone(),
            (0, None) => Activity::Idle,
        }
    }
}

#[derive(Default)]
pub(super) struct Doing {
    next: std::sync::atomic::AtomicU64,
    of: Mutex<HashMap<String, Of>>,
}

impl Doing {
    /// A turn of `resident`'s on `prompt` began: its id, for `ended`.
    pub fn began(&self, resident: &str, prompt: &str) -> u64 {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut of = self.of.lock().expect("lock");
        let of = of.entry(resident.to_string()).or_default();
        of.turns.push((id, Activity::working(prompt)));
        id
    }

    pub fn ended(&self, resident: &str, id: u64) {
        if let Some(of) = self.of.lock().expect("lock").get_mut(resident) {
            of.turns.retain(|(i, _)| *i != id);
        }
    }

    /// One more (`true`) or one fewer of `resident`'s approvals waits.
    pub fn waiting(&self, resident: &str, more: bool) {
        let mut of = self.of.lock().expect("lock");
        let of = of.entry(resident.to_string()).or_default();
        of.waiting = match more {
            true => of.waiting + 1,
            false => of.waiting.saturating_sub(1),
        };
    }

    /// What `resident`'s presence should say, if the chat was not told it already; once
    /// returned it counts as told unless `untold` is called.
    pub fn news(&self, resident: &str) -> Option<Activity> {
        let mut of = self.of.lock().expect("lock");
        let of = of.entry(resident.to_string()).or_default();
        let now = of.now();
        (of.told.as_ref() != Some(&now)).then(|| {
            of.told = Some(now.clone());
            now
        })
    }

    /// The chat did not hear the last news (not connected): tell it again next time.
    pub fn untold(&self, resident: &str) {
        if let Some(of) = self.of.lock().expect("lock").get_mut(resident) {
            of.told = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiting_beats_working_beats_idle_and_only_changes_are_news() {
        let d = Doing::default();
        assert_eq!(d.news("ada"), Some(Activity::Idle));
        assert_eq!(d.news("ada"), None, "no change, no news");
        let first = d.began("ada", "fix the build");
        let second = d.began("ada", "write the docs");
        assert_eq!(d.news("ada"), Some(Activity::working("write the docs")));
        d.waiting("ada", true);
        assert_eq!(d.news("ada"), Some(Activity::WaitingForApproval));
        d.waiting("ada", false);
        d.ended("ada", second);
        assert_eq!(d.news("ada"), Some(Activity::working("fix the build")));
        d.ended("ada", first);
        assert_eq!(d.news("ada"), Some(Activity::Idle));
        d.untold("ada");
        assert_eq!(
            d.news("ada"),
            Some(Activity::Idle),
            "said again after untold"
        );
    }
}
