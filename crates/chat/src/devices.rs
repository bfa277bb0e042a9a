//! Device commands from a room, asked of the daemon through the hall, and their words:
//! `!devices`, `!lease`, `!release`, and `!tail`'s stream of console batches.

use tokio::sync::mpsc;

use super::policy::DeviceCommand;
use townhall_wire::hall::Permission;
use townhall_wire::hall::{Ask, Counter, Said};
use townhall_wire::hall::{DeviceStatus, Lease};

/// Ask for `c` and say each answer (for a tail: until it ends).
pub async fn ask(counter: &Counter, by: &str, c: DeviceCommand, said: mpsc::Sender<String>) {
    let by = by.to_string();
    let (ask, device) = match c {
        DeviceCommand::List => (Ask::Devices, String::new()),
        DeviceCommand::Lease {
            device,
            resident,
            secs,
        } => (
            Ask::Lease {
                by,
                device: device.clone(),
                resident,
                secs,
            },
            device,
        ),
        DeviceCommand::Release(device) => (
            Ask::Release {
                by,
                device: device.clone(),
            },
            device,
        ),
        DeviceCommand::Tail { device, baud } => (
            Ask::Tail {
                by,
                device: device.clone(),
                baud,
            },
            device,
        ),
        DeviceCommand::Untail(device) => (
            Ask::Untail {
                by,
                device: device.clone(),
            },
            device,
        ),
    };
    let mut replies = match counter.open(ask).await {
        Ok(r) => r,
        Err(e) => {
            return drop(
                said.send(format!("_The supervisor did not answer: {e}_"))
                    .await,
            );
        }
    };
    loop {
        let text = match replies.next().await {
            Ok(Some(Said::Devices { devices })) => list(&devices),
            Ok(Some(Said::Leased(l))) => leased(&l),
            Ok(Some(Said::Released { leases })) => released(&leases),
            Ok(Some(Said::Done)) => format!("_Stopped tailing {device}._"),
            Ok(Some(Said::Tailing { devnode, baud })) => {
                let rate = baud.map_or("its current rate".to_string(), |b| format!("{b} baud"));
                format!(
                    "_Tailing {devnode} at {rate}, read-only; what it prints follows here. `!untail {device}` stops it._"
                )
            }
            Ok(Some(Said::Serial { text })) => text,
            Ok(Some(Said::TailEnded { why })) => format!("_The tail of {device} ended: {why}._"),
            Ok(Some(other)) => format!("_unexpected answer {other:?}_"),
            Ok(None) => return,
            Err(e) => return drop(said.send(format!("_{e}_")).await),
        };
        if said.send(text).await.is_err() {
            return;
        }
    }
}

fn perm(p: Permission) -> &'static str {
    if p == Permission::Rw { "rw" } else { "r" }
}

/// `!devices`: what the rules match, who holds each and since when, and leases' ends.
pub fn list(devices: &[DeviceStatus]) -> String {
    if devices.is_empty() {
        return "_No present device matches the town's rules._".into();
    }
    let mut out = String::from("**Devices** the town's rules match:");
    for d in devices {
        let who: Vec<String> = d
            .holders
            .iter()
            .map(|h| match &h.until {
                Some(until) => format!(
                    "{} ({}, leased since {}, until {until})",
                    h.resident,
                    perm(h.perm),
                    h.since
                ),
                None => format!("{} ({}, since {})", h.resident, perm(h.perm), h.since),
            })
            .collect();
        let who = match &d.refused {
            Some(why) => format!("not granted: {why}"),
            None if who.is_empty() => "nobody".into(),
            None => who.join(", "),
        };
        out.push_str(&format!(
            "\n- `{}` ({}): {who}",
            d.devnode.display(),
            d.subsystem
        ));
    }
    out
}

fn leased(l: &Lease) -> String {
    format!(
        "_Leased {} to {} until {} (`!release {}` ends it sooner)._",
        l.devnode.display(),
        l.resident,
        l.until,
        l.devnode.display()
    )
}

fn released(leases: &[Lease]) -> String {
    let who: Vec<&str> = leases.iter().map(|l| l.resident.as_str()).collect();
    let node = leases
        .first()
        .map(|l| l.devnode.display().to_string())
        .unwrap_or_default();
    format!("_Released {node}: the lease to {} ended._", who.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use townhall_wire::hall::Held;

    #[test]
    fn the_list_says_who_holds_what_and_when_a_lease_ends() {
        let held = |who: &str, until: Option<&str>| Held {
            resident: who.into(),
            perm: Permission::Rw,
            since: "2026-12-02T10:00:00Z".into(),
            until: until.map(String::from),
        };
        let d = DeviceStatus {
            devnode: "/dev/ttyS0".into(),
            subsystem: "tty".into(),
            sysname: "ttyS0".into(),
            holders: vec![held("ada", None), held("vox", Some("2026-12-02T12:00:00Z"))],
            refused: None,
            baud: None,
        };
        let text = list(&[d]);
        assert!(text.contains("`/dev/ttyS0` (tty): ada (rw, since 2026-12-02T10:00:00Z), vox (rw, leased since 2026-12-02T10:00:00Z, until 2026-12-02T12:00:00Z)"), "{text}");
        assert!(list(&[]).contains("No present device"));
    }
}
