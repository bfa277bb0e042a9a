//! `!tail`: a mayor watches a device's serial console from a room. Root reads the device
//! read-only on a thread of its own; what arrives goes out in capped batches, at most one
//! every two seconds, until `!untail`, the device goes away, or the chat hangs up.

use std::sync::atomic::Ordering;

use tokio::sync::{mpsc, oneshot};

use super::Daemon;
use super::declined::Declined;
use crate::grant::console::{self, Batch};
use crate::grant::{Acls, SerialPorts};
use crate::hall::Said;
use crate::machine::Machine;
use crate::units::UserManagers;

impl<H, M, G> Daemon<H, M, G>
where
    H: Machine,
    M: UserManagers + Send + Sync + 'static,
    G: Acls + Send + Sync + 'static,
{
    pub(super) async fn tail(
        &self,
        device: &str,
        baud: Option<u32>,
        by: &str,
        out: mpsc::Sender<Said>,
    ) {
        let refuse = |why: String| async {
            let _ = out.send(crate::hall::refused(why)).await;
        };
        let dev = match self.present(device) {
            Ok(d) => d,
            Err(e) => return refuse(e.to_string()).await,
        };
        let node = dev.devnode.clone();
        let Some(stop) = self.tails.start(&node) else {
            return refuse(format!(
                "{} is tailed already; `!untail {device}` first",
                node.display()
            ))
            .await;
        };
        let rate = baud.or(dev.baud);
        let file = match self.machine.serial().open(&node, rate) {
            Ok(f) => f,
            Err(e) => {
                self.tails.ended(&node, &stop);
                return refuse(e.to_string()).await;
            }
        };
        tracing::info!(%by, ?rate, "tailing {}", node.display());
        if let Err(e) = crate::audit::append(
            &self.town().state,
            "tail",
            &serde_json::json!({ "devnode": node, "by": by, "baud": rate }),
        ) {
            tracing::warn!("{e}");
        }
        let _ = out
            .send(Said::Tailing {
                devnode: node.display().to_string(),
                baud: rate,
            })
            .await;
        let (tx, mut rx) = mpsc::channel(16);
        let (done, ended) = oneshot::channel();
        let flag = stop.clone();
        let (again, machine) = (node.clone(), self.machine.clone());
        let spawned = std::thread::Builder::new()
            .name("tail".into())
            .spawn(move || {
                // A device that went away cannot be opened: the reader ends.
                let reopen = || machine.serial().open(&again, rate).ok();
                let _ = done.send(console::follow(file, &reopen, &flag, tx));
            });
        if let Err(e) = spawned {
            self.tails.ended(&node, &stop);
            return refuse(format!("could not start reading {}: {e}", node.display())).await;
        }
        let mut batch = Batch::default();
        let mut tick = tokio::time::interval(console::EVERY);
        loop {
            tokio::select! {
                bytes = rx.recv() => match bytes {
                    Some(b) => batch.push(&b),
                    None => break,
                },
                _ = tick.tick() => {
                    if let Some(text) = batch.take()
                        && out.send(Said::Serial { text }).await.is_err()
                    {
                        break;
                    }
                }
                () = out.closed() => break,
            }
        }
        stop.store(true, Ordering::Relaxed);
        let mut why = ended.await.unwrap_or_else(|_| "the reader ended".into());
        while let Ok(b) = rx.try_recv() {
            batch.push(&b);
        }
        if let Some(text) = batch.take() {
            let _ = out.send(Said::Serial { text }).await;
        }
        if self.present(device).is_err() {
            why = "the device went away".into();
        }
        self.tails.ended(&node, &stop);
        tracing::info!("tail of {} ended: {why}", node.display());
        let _ = out.send(Said::TailEnded { why }).await;
    }

    pub(super) fn untail(&self, device: &str) -> Result<(), Declined> {
        let dev = self.present(device)?;
        if self.tails.stop(&dev.devnode) {
            Ok(())
        } else {
            Err(Declined::NotTailed(dev.devnode))
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    #[tokio::test]
    async fn a_tail_sends_what_the_port_says_and_ends_when_the_port_goes() {
        let state = tempfile::tempdir().unwrap();
        let machine = crate::testing::fake_machine(vec![]);
        let mut wire = machine.serial.plug();
        let (d, _events, watcher) = crate::serve::testing::watching(state.path(), machine);
        for _ in 0..200 {
            if d.present("ttyUSB0").is_ok() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        let (out, mut said) = mpsc::channel(16);
        let tail = tokio::spawn({
            let d = d.clone();
            async move { d.tail("ttyUSB0", Some(9600), "@mayor:town.test", out).await }
        });
        wire.write_all(b"hello from the wire\n").unwrap();
        // The port hangs up and cannot be opened again: the reader ends, the batch goes.
        drop(wire);
        let mut got = vec![];
        while let Some(s) = said.recv().await {
            got.push(s);
        }
        tail.await.unwrap();
        watcher.abort();
        assert_eq!(
            got.first(),
            Some(&Said::Tailing {
                devnode: "/dev/ttyUSB0".into(),
                baud: Some(9600),
            })
        );
        assert!(
            got.iter().any(
                |s| matches!(s, Said::Serial { text } if text.contains("hello from the wire"))
            ),
            "{got:?}"
        );
        assert_eq!(
            got.last(),
            Some(&Said::TailEnded {
                why: "the device went away".into()
            })
        );
        assert_eq!(
            d.machine.serial.calls.calls(),
            [
                "open /dev/ttyUSB0 Some(9600)",
                "open /dev/ttyUSB0 Some(9600)"
            ],
            "opened, and once more after the hangup"
        );
    }
}
