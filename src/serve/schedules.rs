//! The daemon's side of the schedules: their timers made to match the town (at start, on
//! reload, when a mayor makes or removes one), a timer's `townhall fire` turned into a turn
//! in the schedule's conversation (skipped with a notice while a turn runs there), and
//! `!every`, `!schedules` and `!unschedule`.

use super::Daemon;
use crate::grant::Acls;
use crate::hall::{Came, Notice, ScheduleInfo};
use crate::machine::Machine;
use crate::schedule::{self, Entry, Made, Origin, Timers as _};
use crate::turn::conversation::{Batch, Key, Message, Waiting};
use crate::units::UserManagers;

use super::asker::Asker;

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    /// Every schedule of the town as it is now.
    fn entries(&self) -> Vec<Entry> {
        schedule::all(&self.town(), &self.schedules.all())
    }

    /// Make PID 1's timers the town's schedules (a blocking call: it may reload PID 1).
    pub(super) async fn apply_timers(&self) -> Result<(), String> {
        let _one_at_a_time = self.timers_applied.lock().await;
        let (wanted, machine) = (self.entries(), self.machine.clone());
        match tokio::task::spawn_blocking(move || machine.timers().apply(&wanted)).await {
            Ok(r) => r.map_err(|e| e.to_string()),
            Err(e) => Err(format!("starting the schedules' timers: {e}")),
        }
    }

    /// A timer's `townhall fire`: the turn to run now, or None when it was skipped (the
    /// room is told) because its conversation's turn still runs.
    pub(super) fn fire(
        &self,
        resident: &str,
        id: &str,
    ) -> Result<Option<(Key, Batch<Asker>)>, String> {
        let e = self
            .entries()
            .into_iter()
            .find(|e| e.resident == resident && e.id == id)
            .ok_or_else(|| {
                format!("{resident} has no schedule {id} (removed since its timer was made?)")
            })?;
        let came = Came::Schedule {
            id: e.id.clone(),
            on: e.on.clone(),
        };
        let w = Waiting::unasked(
            format!("schedule {id}"),
            e.prompt.clone(),
            e.room.clone(),
            came,
        );
        let key = (e.resident.clone(), e.conversation.clone());
        match self
            .conversations
            .arrive_idle(key.clone(), Message::Chat(w))
        {
            Some(batch) => {
                tracing::info!(%resident, schedule = %id, "a schedule came due: its turn runs");
                Ok(Some((key, batch)))
            }
            None => {
                tracing::info!(%resident, schedule = %id, "a schedule came due while its conversation's turn ran: skipped");
                let skipped = Notice::ScheduleSkipped {
                    id: e.id,
                    on: e.on,
                    room: e.room,
                };
                self.teller.tell(resident, skipped);
                Ok(None)
            }
        }
    }

    /// `!every`: a schedule whose calendar spec systemd reads and that comes due again.
    pub(super) async fn every(&self, made: Made) -> Result<Vec<ScheduleInfo>, String> {
        let on = made.on.clone();
        let next = tokio::task::spawn_blocking(move || schedule::calendar::read(&on))
            .await
            .map_err(|e| e.to_string())?;
        match next {
            Ok(schedule::calendar::Next::At(_)) => {}
            Ok(schedule::calendar::Next::Never) => {
                return Err(format!(
                    "`{}` never comes due again: nothing was scheduled",
                    made.on
                ));
            }
            Err(why) => {
                return Err(why.unwrap_or_else(|| {
                    "systemd-analyze cannot be run here to read the calendar spec".into()
                }));
            }
        }
        let resident = made.resident.clone();
        let kept = self.schedules.add(made)?;
        tracing::info!(%resident, n = kept.n, on = %kept.on, by = %kept.by, "a schedule was made in chat");
        self.apply_timers().await?;
        Ok(self.schedules_of(&resident).await)
    }

    /// `!unschedule N`: only a schedule made in chat; a declared one is its file's.
    pub(super) async fn unschedule(
        &self,
        resident: &str,
        n: u64,
    ) -> Result<Vec<ScheduleInfo>, String> {
        match self.schedules.remove(resident, n)? {
            Some(gone) => {
                tracing::info!(%resident, n, on = %gone.on, "a schedule was removed in chat");
                self.apply_timers().await?;
                Ok(self.schedules_of(resident).await)
            }
            None => Err(format!(
                "{resident} has no schedule {n} made in chat (`!schedules` lists them; a declared one is removed from its file)"
            )),
        }
    }

    /// `resident`'s schedules, each with when systemd says it next comes due.
    pub(super) async fn schedules_of(&self, resident: &str) -> Vec<ScheduleInfo> {
        let mine: Vec<Entry> = self
            .entries()
            .into_iter()
            .filter(|e| e.resident == resident)
            .collect();
        let listed = tokio::task::spawn_blocking(move || {
            mine.into_iter()
                .map(|e| {
                    let next = match schedule::calendar::read(&e.on) {
                        Ok(schedule::calendar::Next::At(at)) => Some(at),
                        _ => None,
                    };
                    let (declared, by) = match e.origin {
                        Origin::Declared(at) => (Some(at), None),
                        Origin::Made { by } => (None, Some(by)),
                    };
                    ScheduleInfo {
                        id: e.id,
                        on: e.on,
                        prompt: e.prompt,
                        room: e.room,
                        next,
                        declared,
                        by,
                    }
                })
                .collect()
        });
        listed.await.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
