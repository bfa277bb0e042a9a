//! Grants against recorded device trees and a fake ACL store.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::*;
use crate::config::{DeviceRule, Permission, Town};
use crate::testing::demo_town;

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// An FTDI serial adapter as udev records it: ttyUSB0 → interface → USB device (ATTRS).
fn ftdi() -> Device {
    Device {
        syspath: "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2/1-2:1.0/ttyUSB0/tty/ttyUSB0".into(),
        devnode: Some("/dev/ttyUSB0".into()),
        subsystem: "tty".into(),
        sysname: "ttyUSB0".into(),
        properties: map(&[("ID_VENDOR_ID", "0403"), ("ID_MODEL_ID", "6001")]),
        tags: vec!["systemd".into()],
        attrs: vec![
            map(&[]),
            map(&[("bInterfaceNumber", "00")]),
            map(&[
                ("idVendor", "0403"),
                ("idProduct", "6001"),
                ("product", "FT232R USB UART"),
                ("serial", "A10K3XYZ"),
            ]),
            map(&[
                ("idVendor", "1d6b"),
                ("idProduct", "0002"),
                ("product", "xHCI Host Controller"),
            ]),
        ],
    }
}

/// An STM32 in DFU mode: a USB device whose own product string says so.
fn stm32_dfu(tags: &[&str]) -> Device {
    Device {
        syspath: "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-3".into(),
        devnode: Some("/dev/bus/usb/001/007".into()),
        subsystem: "usb".into(),
        sysname: "1-3".into(),
        properties: map(&[("DEVTYPE", "usb_device")]),
        tags: tags.iter().map(|t| t.to_string()).collect(),
        attrs: vec![map(&[
            ("idVendor", "0483"),
            ("idProduct", "df11"),
            ("product", "STM32  BOOTLOADER"),
        ])],
    }
}

fn rule(sub: &str, kernel: Option<&str>, attrs: &[(&str, &str)]) -> DeviceRule {
    DeviceRule {
        subsystem: sub.into(),
        kernel: kernel.map(String::from),
        properties: BTreeMap::new(),
        attrs: map(attrs),
        permission: Permission::Rw,
        baud: None,
    }
}

#[test]
fn parent_attributes_match_like_udev_attrs() {
    let d = ftdi();
    assert!(matches(
        &rule(
            "tty",
            Some("ttyUSB*"),
            &[("idVendor", "0403"), ("idProduct", "6001")]
        ),
        &d
    ));
    assert!(matches(&rule("tty", None, &[("serial", "A10K3XYZ")]), &d));
    assert!(
        !matches(&rule("tty", None, &[("idVendor", "0483")]), &d),
        "another vendor"
    );
    assert!(
        !matches(&rule("hidraw", None, &[("idVendor", "0403")]), &d),
        "another subsystem"
    );
    assert!(
        !matches(&rule("tty", Some("ttyACM*"), &[]), &d),
        "another kernel name"
    );
    // udev's ATTRS must all hold on one device: vendor of the adapter, product of the hub.
    assert!(!matches(
        &rule(
            "tty",
            None,
            &[("idVendor", "0403"), ("product", "xHCI Host Controller")]
        ),
        &d
    ));
}

#[test]
fn the_shipped_rules_grant_ada_the_adapter_and_the_dfu_bootloader() {
    let town = demo_town();
    let ada = |d: &Device| {
        wanted(&town, d)
            .unwrap()
            .iter()
            .map(|w| (w.resident.clone(), w.perm))
            .collect::<Vec<_>>()
    };
    assert_eq!(ada(&ftdi()), [("ada".to_string(), Permission::Rw)]);
    assert_eq!(ada(&stm32_dfu(&[])), [("ada".to_string(), Permission::Rw)]);
}

#[test]
fn a_device_with_uaccess_is_refused() {
    let err = wanted(&demo_town(), &stm32_dfu(&["seat", "uaccess"])).unwrap_err();
    assert_eq!(err.residents, ["ada"]);
    assert!(err.to_string().contains("uaccess"), "{err}");
}

fn town_with_tty_rule(perm: Option<Permission>) -> Town {
    let mut town = demo_town();
    let ada = town.residents.iter_mut().find(|r| r.name == "ada").unwrap();
    ada.devices = perm
        .map(|p| DeviceRule {
            permission: p,
            ..rule("tty", Some("ttyS0"), &[])
        })
        .into_iter()
        .collect();
    town
}

fn serial() -> Device {
    Device {
        syspath: "/sys/devices/pnp0/00:00/00:00:0/00:00:0.0/tty/ttyS0".into(),
        devnode: Some("/dev/ttyS0".into()),
        subsystem: "tty".into(),
        sysname: "ttyS0".into(),
        properties: BTreeMap::new(),
        tags: vec![],
        attrs: vec![map(&[])],
    }
}

#[test]
fn grants_reapply_on_change_and_revoke_only_their_own_entries() {
    let state = tempfile::tempdir().unwrap();
    let acls = FakeAcls::default();
    acls.grant(Path::new("/dev/ttyS0"), 4242, Permission::R)
        .unwrap(); // someone else's entry
    let keeper = Keeper::new(acls, state.path()).unwrap();
    let town = town_with_tty_rule(Some(Permission::Rw));
    let node = PathBuf::from("/dev/ttyS0");

    let c = keeper.device(&town, &serial(), false, "t1").unwrap();
    assert!(
        matches!(&c[..], [Change::Granted { resident, perm: Permission::Rw, .. }] if resident == "ada"),
        "{c:?}"
    );
    // A change event: nothing new to say, but the entry is written again (MODE= reset the mask).
    let calls_before = keeper_calls(&keeper);
    assert!(
        keeper
            .device(&town, &serial(), true, "t2")
            .unwrap()
            .is_empty()
    );
    assert_eq!(keeper_calls(&keeper) - calls_before, 1);
    assert_eq!(keeper.status()[0].holders[0].since, "t1");

    // The rule is removed and the town reloaded: ada's entry goes, the other stays.
    let c = keeper
        .all(&town_with_tty_rule(None), &[serial()], "t3")
        .unwrap();
    assert!(
        matches!(&c[..], [Change::Revoked { resident, .. }] if resident == "ada"),
        "{c:?}"
    );
    let left = keeper_acls(&keeper).users(&node).unwrap();
    assert_eq!(
        left.into_iter().collect::<Vec<_>>(),
        [(4242, Permission::R)]
    );
    assert!(keeper.status().is_empty());
}

#[test]
fn the_ledger_survives_a_restart_so_stale_grants_are_still_revoked() {
    let state = tempfile::tempdir().unwrap();
    let keeper = Keeper::new(FakeAcls::default(), state.path()).unwrap();
    keeper
        .device(
            &town_with_tty_rule(Some(Permission::R)),
            &serial(),
            false,
            "t1",
        )
        .unwrap();
    drop(keeper);
    let again = Keeper::new(FakeAcls::default(), state.path()).unwrap();
    let c = again
        .all(&town_with_tty_rule(None), &[serial()], "t2")
        .unwrap();
    assert!(
        matches!(&c[..], [Change::Revoked { uid: 1100, .. }]),
        "{c:?}"
    );
}

fn keeper_acls<A: Acls>(k: &Keeper<A>) -> &A {
    k.acls()
}

fn keeper_calls(k: &Keeper<FakeAcls>) -> usize {
    k.acls()
        .calls
        .calls()
        .iter()
        .filter(|c| c.starts_with("grant"))
        .count()
}

#[test]
fn a_corrupt_ledger_is_an_error_that_names_the_file() {
    let state = tempfile::tempdir().unwrap();
    std::fs::write(state.path().join("grants.json"), "{ not json").unwrap();
    let Err(e) = Keeper::new(FakeAcls::default(), state.path()) else {
        panic!("a corrupt ledger was taken as empty")
    };
    let e = e.to_string();
    assert!(e.contains("grants.json") && e.contains("help:"), "{e}");
}

#[test]
fn a_grant_failing_mid_reconcile_leaves_the_others_and_a_true_ledger() {
    let state = tempfile::tempdir().unwrap();
    // Both residents want the serial port; vox's entry cannot be written.
    let mut town = town_with_tty_rule(Some(Permission::Rw));
    let ada_rule = town.resident("ada").unwrap().devices.clone();
    town.residents
        .iter_mut()
        .find(|r| r.name == "vox")
        .unwrap()
        .devices = ada_rule;
    let vox = town.resident("vox").unwrap().uid;
    let acls = FakeAcls::default();
    acls.failing.lock().unwrap().push(vox);
    let keeper = Keeper::new(acls, state.path()).unwrap();
    let c = keeper.all(&town, &[serial()], "t1").unwrap();
    assert!(
        c.iter()
            .any(|c| matches!(c, Change::Granted { resident, .. } if resident == "ada")),
        "{c:?}"
    );
    assert!(
        c.iter()
            .any(|c| matches!(c, Change::Failed { resident, .. } if resident == "vox")),
        "{c:?}"
    );
    // The ledger on disk names ada's entry, and only it.
    let again = Keeper::new(FakeAcls::default(), state.path()).unwrap();
    let revoked = again
        .all(&town_with_tty_rule(None), &[serial()], "t2")
        .unwrap();
    let mut who: Vec<_> = revoked
        .iter()
        .filter_map(|c| {
            if let Change::Revoked { resident, .. } = c {
                Some(resident.as_str())
            } else {
                None
            }
        })
        .collect();
    who.sort();
    assert_eq!(who, ["ada"], "{revoked:?}");
    // Once the ACL store works again, the next reconcile grants what failed.
    keeper_acls(&keeper).failing.lock().unwrap().clear();
    let c = keeper.all(&town, &[serial()], "t3").unwrap();
    assert!(
        matches!(&c[..], [Change::Granted { resident, .. }] if resident == "vox"),
        "{c:?}"
    );
}

#[test]
fn a_lease_grants_beside_the_rules_and_its_end_revokes_only_it() {
    let state = tempfile::tempdir().unwrap();
    let keeper = Keeper::new(FakeAcls::default(), state.path()).unwrap();
    let town = town_with_tty_rule(Some(Permission::R));
    let at = |secs: u64| {
        humantime::format_rfc3339_seconds(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs),
        )
        .to_string()
    };
    let lease = |who: &str, until: u64| Lease {
        devnode: "/dev/ttyS0".into(),
        resident: who.into(),
        by: "@mayor:town.test".into(),
        since: at(0),
        until: at(until),
    };
    keeper.leases.add(lease("vox", 100)).unwrap();
    keeper.leases.add(lease("ada", 100)).unwrap();
    let c = keeper.all(&town, &[serial()], &at(10)).unwrap();
    let granted: Vec<_> = c.iter().map(|c| format!("{c:?}")).collect();
    assert_eq!(granted.len(), 2, "{granted:?}");
    let holders = &keeper.status()[0].holders;
    let vox = holders.iter().find(|h| h.resident == "vox").unwrap();
    assert_eq!(
        (vox.perm, vox.until.as_deref()),
        (Permission::Rw, Some(at(100).as_str())),
        "a lease lends read-write, until its end"
    );
    let ada = holders.iter().find(|h| h.resident == "ada").unwrap();
    assert_eq!(
        (ada.perm, ada.until.as_deref()),
        (Permission::R, None),
        "a rule's grant is not turned into a lease"
    );
    // Past its end: vox's entry goes, said as a lease's end; ada keeps her rule's.
    let c = keeper.all(&town, &[serial()], &at(101)).unwrap();
    assert!(
        matches!(&c[..], [Change::Revoked { resident, leased: true, .. }] if resident == "vox"),
        "{c:?}"
    );
    let calls = keeper_acls(&keeper).calls.calls();
    let revoked = calls
        .iter()
        .position(|c| c == "revoke /dev/ttyS0 1101")
        .unwrap();
    assert_eq!(
        calls[revoked + 1..],
        ["cut /dev/ttyS0 1101"],
        "what vox has open is cut off, once the ledger is saved: {calls:?}"
    );
    assert!(keeper.leases.all().is_empty(), "ended leases are forgotten");
    assert_eq!(
        keeper.status()[0]
            .holders
            .iter()
            .map(|h| h.resident.as_str())
            .collect::<Vec<_>>(),
        ["ada"]
    );
}
