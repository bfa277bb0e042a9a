//! The recording fake of this seam (FakeUserManagers, FakeRun), compiled for tests only.

use crate::os::Recorder;

use super::*;

/// Records what would have been started and stopped. Told `runs`, each turn in order
/// prints that stdout and stderr and ends so (a CLI's recorded output, a failure).
#[derive(Debug, Default)]
pub struct FakeUserManagers {
    pub calls: Recorder,
    pub runs: std::sync::Mutex<std::collections::VecDeque<FakeRun>>,
}

#[derive(Debug, Clone)]
pub struct FakeRun {
    pub stdout: String,
    pub stderr: String,
    pub end: UnitEnd,
}

impl UserManagers for FakeUserManagers {
    async fn linger(&self, uid: u32) -> Result<(), OsError> {
        self.calls.record(format!("linger {uid}"));
        Ok(())
    }

    async fn run(&self, uid: u32, mut unit: TurnUnit) -> Result<UnitEnd, OsError> {
        self.calls.record(format!(
            "run {uid} {} {:?} in {}",
            unit.name,
            unit.argv,
            unit.workdir.display()
        ));
        if let Some(v) = unit.verified.take() {
            let _ = v.send(());
        }
        let Some(run) = self.runs.lock().expect("lock").pop_front() else {
            return Ok(UnitEnd {
                result: "success".into(),
                status: 0,
            });
        };
        // Written off the runtime (a pipe blocks when full), then closed: the CLI exited.
        let (out, err) = (unit.stdout.take(), unit.stderr.take());
        let written = tokio::task::spawn_blocking(move || {
            use std::io::Write;
            for (fd, text) in [(out, run.stdout), (err, run.stderr)] {
                if let Some(fd) = fd {
                    let _ = std::fs::File::from(fd).write_all(text.as_bytes());
                }
            }
        });
        let _ = written.await;
        Ok(run.end)
    }

    async fn stop(&self, uid: u32, unit: &str) -> Result<(), OsError> {
        self.calls.record(format!("stop {uid} {unit}"));
        Ok(())
    }

    async fn end_manager(&self, uid: u32) -> Result<(), OsError> {
        self.calls.record(format!("end_manager {uid}"));
        Ok(())
    }

    async fn stop_strays(
        &self,
        uid: u32,
        _ours: &(dyn Fn(&str) -> bool + Send + Sync),
    ) -> Result<Vec<String>, OsError> {
        self.calls.record(format!("stop_strays {uid}"));
        Ok(vec![])
    }
}
