//! `tell_mayor`: a new message in the turn's room now. Rate-limited per resident, so an
//! agent in a loop fills at most a few lines a minute of its own room.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::super::Daemon;
use crate::grant::Acls;
use crate::hall::Said;
use crate::machine::Machine;
use crate::tools::Answer;
use crate::turn::RunningTurn;
use crate::units::UserManagers;

/// Messages (or files) one resident may send in a minute.
pub(super) const PER_MINUTE: usize = 6;
const MINUTE: Duration = Duration::from_secs(60);

/// When each resident last told, over the last minute.
#[derive(Default)]
pub struct Tells(Mutex<HashMap<String, VecDeque<Instant>>>);

impl Tells {
    /// Whether `resident` may tell one more now (and it is counted), else how long to wait.
    pub(super) fn take(&self, resident: &str, now: Instant) -> Result<(), Duration> {
        let mut all = self.0.lock().expect("lock");
        let recent = all.entry(resident.to_string()).or_default();
        while recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= MINUTE)
        {
            recent.pop_front();
        }
        if recent.len() >= PER_MINUTE {
            let oldest = *recent.front().expect("full");
            return Err(MINUTE.saturating_sub(now.duration_since(oldest)));
        }
        recent.push_back(now);
        Ok(())
    }
}

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    pub(super) fn tell_mayor(
        &self,
        r: &crate::config::Resident,
        turn: &RunningTurn,
        text: String,
    ) -> Answer {
        let reply = match self.room_of_turn(&r.name, turn) {
            Ok(reply) => reply,
            Err(a) => return a,
        };
        if let Err(wait) = self.tells.take(&r.name, Instant::now()) {
            return Answer::refused(format!(
                "refused: {PER_MINUTE} messages in the last minute already; tell again in {} s, or put it in your answer",
                wait.as_secs().max(1)
            ));
        }
        let told = self.broadcast(Said::Told {
            resident: r.name.clone(),
            room: reply.room,
            thread: reply.thread,
            text,
        });
        if !told {
            return Answer::refused("refused: the chat is not connected; put it in your answer");
        }
        Answer::ok("told")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resident_tells_a_few_a_minute_and_then_waits() {
        let (tells, t0) = (Tells::default(), Instant::now());
        for _ in 0..PER_MINUTE {
            tells.take("ada", t0).unwrap();
        }
        assert_eq!(
            tells.take("ada", t0 + Duration::from_secs(20)),
            Err(Duration::from_secs(40))
        );
        assert!(
            tells.take("vox", t0).is_ok(),
            "another resident's share is its own"
        );
        assert!(tells.take("ada", t0 + MINUTE).is_ok());
    }
}
