//! Resets waiting for the mayor's `!reset yes`: one per room and mayor, for a while. A
//! confirmation is the same mayor, in the same room, in time; anything else changes nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(120);

type Asked = HashMap<(String, String), Instant>;

/// The offers waiting, per room and mayor.
#[derive(Debug, Default)]
pub struct Offers(Mutex<Asked>);

impl Offers {
    /// `who` was shown what a reset in `room` would lose.
    pub fn asked(&self, room: &str, who: &str) {
        let mut a = self.0.lock().expect("lock");
        a.retain(|_, at| at.elapsed() < WAIT);
        a.insert((room.into(), who.into()), Instant::now());
    }

    /// Whether `who` may confirm in `room` now; a confirmation is used up.
    pub fn confirmed(&self, room: &str, who: &str) -> bool {
        take(&mut self.0.lock().expect("lock"), room, who, Instant::now())
    }
}

fn take(a: &mut Asked, room: &str, who: &str, now: Instant) -> bool {
    a.remove(&(room.to_string(), who.to_string()))
        .is_some_and(|at| now.duration_since(at) < WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_mayor_in_the_same_room_in_time_confirms_once() {
        let mut a = Asked::new();
        let t0 = Instant::now();
        a.insert(("!r".into(), "@mayor".into()), t0);
        assert!(
            !take(&mut a.clone(), "!other", "@mayor", t0),
            "another room"
        );
        assert!(!take(&mut a.clone(), "!r", "@deputy", t0), "another mayor");
        assert!(!take(&mut a.clone(), "!r", "@mayor", t0 + WAIT), "too late");
        assert!(take(&mut a, "!r", "@mayor", t0 + Duration::from_secs(5)));
        assert!(
            !take(&mut a, "!r", "@mayor", t0 + Duration::from_secs(6)),
            "used up"
        );
    }
}
