//! What waits for a mayor's confirmation — a reset (`!reset yes`) or a rollback
//! (`!rollback yes`) — one per room, mayor and resident, for a while. A confirmation is the
//! same mayor, to the same resident, in the same room, in time, of the same kind, and does
//! what was offered there; anything else changes nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const WAIT: Duration = Duration::from_secs(120);

/// What was offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// End this resident's round, or the town's when `all`.
    Reset { all: bool },
    /// Roll this resident's home back to checkpoint N.
    Rollback(u64),
}

impl Offer {
    fn same_kind(&self, other: &Offer) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

/// (room, mayor, resident) → when it was offered, and what.
type Asked = HashMap<(String, String, String), (Instant, Offer)>;

/// The offers waiting, per room, mayor and resident.
#[derive(Debug, Default)]
pub struct Offers(Mutex<Asked>);

impl Offers {
    /// `who` was shown in `room` what `offer` to `resident` would do.
    pub fn asked(&self, room: &str, who: &str, resident: &str, offer: Offer) {
        let mut a = self.0.lock().expect("lock");
        a.retain(|_, (at, _)| at.elapsed() < WAIT);
        a.insert(
            (room.into(), who.into(), resident.into()),
            (Instant::now(), offer),
        );
    }

    /// The offer of `kind` (its number aside) that `who` confirms in `room` to `resident`
    /// now; a confirmation is used up.
    pub fn confirmed(&self, room: &str, who: &str, resident: &str, kind: Offer) -> Option<Offer> {
        take(
            &mut self.0.lock().expect("lock"),
            (room, who, resident),
            kind,
            Instant::now(),
        )
    }
}

fn take(
    a: &mut Asked,
    (room, who, resident): (&str, &str, &str),
    kind: Offer,
    now: Instant,
) -> Option<Offer> {
    let key = (room.to_string(), who.to_string(), resident.to_string());
    let (_, offer) = a.get(&key)?;
    if !offer.same_kind(&kind) {
        return None;
    }
    a.remove(&key)
        .filter(|(at, _)| now.duration_since(*at) < WAIT)
        .map(|(_, offer)| offer)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESET: Offer = Offer::Reset { all: false };

    #[test]
    fn only_the_same_mayor_to_the_same_resident_in_the_same_room_in_time_confirms_once() {
        let mut a = Asked::new();
        let t0 = Instant::now();
        a.insert(("!r".into(), "@mayor".into(), "ada".into()), (t0, RESET));
        let key = |room, who, resident| (room, who, resident);
        for (k, why) in [
            (key("!other", "@mayor", "ada"), "another room"),
            (key("!r", "@deputy", "ada"), "another mayor"),
            (key("!r", "@mayor", "vox"), "another resident"),
        ] {
            assert_eq!(take(&mut a.clone(), k, RESET, t0), None, "{why}");
        }
        assert_eq!(
            take(&mut a.clone(), key("!r", "@mayor", "ada"), RESET, t0 + WAIT),
            None,
            "too late"
        );
        assert_eq!(
            take(
                &mut a.clone(),
                key("!r", "@mayor", "ada"),
                Offer::Rollback(0),
                t0
            ),
            None,
            "a rollback's yes does not confirm a reset"
        );
        let soon = t0 + Duration::from_secs(5);
        assert_eq!(
            take(&mut a, key("!r", "@mayor", "ada"), RESET, soon),
            Some(RESET)
        );
        assert_eq!(
            take(&mut a, key("!r", "@mayor", "ada"), RESET, soon),
            None,
            "used up"
        );
        a.insert(
            ("!r".into(), "@mayor".into(), "ada".into()),
            (t0, Offer::Rollback(3)),
        );
        assert_eq!(
            take(&mut a, key("!r", "@mayor", "ada"), Offer::Rollback(0), soon),
            Some(Offer::Rollback(3)),
            "the checkpoint that was offered"
        );
    }
}
