//! A resident's device rule checked: a udev subsystem, narrowed by a kernel glob, attrs or
//! properties, with a known permission and baud rate.

use super::Checker;
use crate::*;

pub(super) fn device(c: &mut Checker, d: &crate::raw::RawDevice) -> Option<DeviceRule> {
    let sub = d.subsystem.get_ref();
    if sub.is_empty()
        || !sub
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
    {
        c.err(
            &d.subsystem,
            format!("`{sub}` is not a udev subsystem"),
            "use a subsystem name such as tty, usb or hidraw",
        );
        return None;
    }
    if let Some(k) = &d.kernel
        && let Err(e) = glob::Pattern::new(k.get_ref())
    {
        c.err(
            k,
            format!("`{}` is not a valid glob: {}", k.get_ref(), e.msg),
            "write a kernel name or glob such as ttyUSB*",
        );
        return None;
    }
    if d.kernel.is_none() && d.properties.is_empty() && d.attrs.is_empty() {
        c.err(
            &d.subsystem,
            format!("this rule matches every `{sub}` device"),
            "narrow it with kernel = \"…\", attrs or properties",
        );
        return None;
    }
    let permission = match d.permission.get_ref().as_str() {
        "r" => Permission::R,
        "rw" => Permission::Rw,
        other => {
            c.err(
                &d.permission,
                format!("unknown permission `{other}`"),
                "use \"r\" or \"rw\"",
            );
            return None;
        }
    };
    if let Some(b) = &d.baud
        && !crate::serial::is_rate(*b.get_ref())
    {
        c.err(
            b,
            format!("{} is not a baud rate townhall sets", b.get_ref()),
            format!("use {}", crate::serial::RATES),
        );
        return None;
    }
    Some(DeviceRule {
        baud: d.baud.as_ref().map(|b| *b.get_ref()),
        subsystem: sub.clone(),
        kernel: d.kernel.as_ref().map(|k| k.get_ref().clone()),
        properties: d.properties.clone(),
        attrs: d.attrs.clone(),
        permission,
    })
}
