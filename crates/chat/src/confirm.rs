//! Resets waiting for the mayor's `!reset yes`: one per room, mayor and resident, for a
//! while. A confirmation is the same mayor, to the same resident, in the same room, in
//! time, and ends what was offered there (that resident's round, or the town's); anything
//! else changes nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(120);

/// (room, mayor, resident) → when it was offered, and whether for the whole town.
type Asked = HashMap<(String, String, String), (Instant, bool)>;

/// The offers waiting, per room, mayor and resident.
#[derive(Debug, Default)]
pub struct Offers(Mutex<Asked>);

impl Offers {
    /// `who` was shown in `room` what ending `resident`'s round (the town's when `all`)
    /// would lose.
    pub fn asked(&self, room: &str, who: &str, resident: &str, all: bool) {
        let mut a = self.0.lock().expect("lock");
        a.retain(|_, (at, _)| at.elapsed() < WAIT);
        a.insert(
            (room.into(), who.into(), resident.into()),
            (Instant::now(), all),
        );
    }

    /// What `who` confirms in `room` to `resident` now: Some(whether the town's round);
    /// a confirmation is used up.
    pub fn confirmed(&self, room: &str, who: &str, resident: &str) -> Option<bool> {
        take(
            &mut self.0.lock().expect("lock"),
            (room, who, resident),
            Instant::now(),
        )
    }
}

fn take(a: &mut Asked, (room, who, resident): (&str, &str, &str), now: Instant) -> Option<bool> {
    a.remove(&(room.to_string(), who.to_string(), resident.to_string()))
        .filter(|(at, _)| now.duration_since(*at) < WAIT)
        .map(|(_, all)| all)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_mayor_to_the_same_resident_in_the_same_room_in_time_confirms_once() {
        let mut a = Asked::new();
        let t0 = Instant::now();
        a.insert(("!r".into(), "@mayor".into(), "ada".into()), (t0, false));
        let key = |room, who, resident| (room, who, resident);
        assert_eq!(
            take(&mut a.clone(), key("!other", "@mayor", "ada"), t0),
            None,
            "another room"
        );
        assert_eq!(
            take(&mut a.clone(), key("!r", "@deputy", "ada"), t0),
            None,
            "another mayor"
        );
        assert_eq!(
            take(&mut a.clone(), key("!r", "@mayor", "vox"), t0),
            None,
            "another resident"
        );
        assert_eq!(
            take(&mut a.clone(), key("!r", "@mayor", "ada"), t0 + WAIT),
            None,
            "too late"
        );
        let soon = t0 + Duration::from_secs(5);
        assert_eq!(take(&mut a, key("!r", "@mayor", "ada"), soon), Some(false));
        assert_eq!(
            take(&mut a, key("!r", "@mayor", "ada"), soon),
            None,
            "used up"
        );
        a.insert(("!r".into(), "@mayor".into(), "ada".into()), (t0, true));
        assert_eq!(
            take(&mut a, key("!r", "@mayor", "ada"), soon),
            Some(true),
            "the town's round, as offered"
        );
    }
}
