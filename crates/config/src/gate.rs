//! `[gate]` in town.toml: where the gate listens (loopback only) and `[[gate.api]]`, the
//! model APIs behind it; and a resident's `[agent] api`, which must name one its CLI can
//! speak to.

use std::collections::HashMap;
use std::path::PathBuf;

use super::raw::{AgentKind, KeyScheme, RawApi, RawGate};
use super::validate::{Checker, inside};
use super::{AgentApi, Gate, GateApi};

pub(super) fn gate(c: &mut Checker, raw: RawGate, reachable: &[&PathBuf]) -> Gate {
    let mut gate = Gate::default();
    if let Some(l) = &raw.listen {
        let addr = l.get_ref().parse::<std::net::SocketAddr>();
        match addr {
            Ok(a) if a.ip().is_loopback() => gate.listen = a,
            Ok(a) => c.err(
                l,
                format!("the gate would listen on {a}, which is not loopback"),
                "the gate serves this host's residents only: use 127.0.0.1:PORT",
            ),
            Err(_) => c.err(
                l,
                format!("`{}` is not an address and port", l.get_ref()),
                format!("write one such as \"{}\"", super::GATE_LISTEN),
            ),
        }
    }
    let mut seen = HashMap::new();
    for a in raw.api {
        if let Some(api) = api(c, &a, reachable) {
            if let Some(first) = seen.insert(api.name.clone(), c.location(&a.name)) {
                c.err(
                    &a.name,
                    format!("API `{}` is declared twice", api.name),
                    format!("remove this one; it is already at {first}"),
                );
                continue;
            }
            gate.apis.push(api);
        }
    }
    gate.prices = crate::price::prices(c, raw.price);
    gate
}

fn api(c: &mut Checker, raw: &RawApi, reachable: &[&PathBuf]) -> Option<GateApi> {
    let name = raw.name.get_ref();
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-_".contains(ch));
    if !plain {
        c.err(
            &raw.name,
            format!("`{name}` is not an API name"),
            "use letters, digits, `-` and `_` (a resident names it in [agent] api)",
        );
    }
    let upstream = raw.upstream.get_ref().trim_end_matches('/').to_string();
    let url = url::Url::parse(&upstream).ok();
    let loopback = url.as_ref().is_some_and(|u| match u.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    });
    let upstream_ok = match url.as_ref().map(|u| u.scheme()) {
        Some("https") => true,
        // A stand-in on this host: the key never crosses a network in the clear.
        Some("http") => loopback,
        _ => false,
    };
    if !upstream_ok {
        c.err(
            &raw.upstream,
            format!("`{upstream}` is not an https:// URL"),
            "write the API's base URL, e.g. \"https://api.anthropic.com\" (http:// only to loopback: the key would cross the network in the clear)",
        );
    }
    let credential = raw.credential.get_ref();
    let credential_ok = match credential.is_absolute() {
        false => Err("write the absolute path of the file that holds the key".to_string()),
        true => match reachable.iter().find(|d| inside(credential, d)) {
            Some(d) => Err(format!(
                "residents can reach {}: keep the key in a file of root's, e.g. /etc/townhall/gate/{name}.key",
                d.display()
            )),
            None => Ok(()),
        },
    };
    if let Err(help) = &credential_ok {
        let msg = format!("the key of API `{name}` at {}", credential.display());
        c.err(&raw.credential, format!("{msg} cannot be used"), help);
    }
    (plain && upstream_ok && credential_ok.is_ok()).then(|| GateApi {
        name: name.clone(),
        upstream,
        key: *raw.key.get_ref(),
        credential: credential.clone(),
    })
}

/// A resident's `[agent] api`: a declared API its kind's CLI can send a key to, and no
/// `base_url` beside it.
pub(super) fn resident_api(
    c: &mut Checker,
    raw: &Option<toml::Spanned<String>>,
    kind: AgentKind,
    base_url: bool,
    gate: &Gate,
) -> Option<AgentApi> {
    let at = raw.as_ref()?;
    let name = at.get_ref();
    let kind_name = format!("{kind:?}").to_lowercase();
    if kind == AgentKind::Command {
        c.err(
            at,
            "a `command` agent has no model API for townhall to point at the gate",
            "remove `api`; a command reads what it needs from its environment",
        );
        return None;
    }
    if base_url {
        c.err(at, "`api` and `base_url` are both set", "keep one: `api` reaches the model through the gate, `base_url` points the CLI elsewhere (and it then needs a key of its own)");
        return None;
    }
    let Some(api) = gate.api(name) else {
        let known: Vec<&str> = gate.apis.iter().map(|a| a.name.as_str()).collect();
        let help = match known.is_empty() {
            true => {
                "declare it in town.toml as [[gate.api]] with name, upstream, key and credential"
                    .to_string()
            }
            false => format!("name one of town.toml's [[gate.api]]: {}", known.join(", ")),
        };
        c.err(
            at,
            format!("no [[gate.api]] named `{name}` in town.toml"),
            help,
        );
        return None;
    };
    if !schemes(kind).contains(&api.key) {
        let can: Vec<String> = schemes(kind).iter().map(|s| format!("{s:?}")).collect();
        c.err(
            at,
            format!(
                "{kind_name} cannot send its key the way API `{name}` takes it ({:?})",
                api.key
            ),
            format!(
                "{kind_name} sends {}: give this resident an API that takes that",
                can.join(" or ")
            ),
        );
        return None;
    }
    Some(AgentApi {
        name: name.clone(),
        key: api.key,
    })
}

/// The key schemes a kind's CLI can send: what its `api` must take.
fn schemes(kind: AgentKind) -> &'static [KeyScheme] {
    match kind {
        AgentKind::Claude => &[KeyScheme::XApiKey, KeyScheme::Bearer],
        AgentKind::Codex => &[KeyScheme::Bearer],
        AgentKind::Gemini => &[KeyScheme::GoogApiKey],
        AgentKind::Command => &[],
    }
}

#[cfg(test)]
mod tests;
