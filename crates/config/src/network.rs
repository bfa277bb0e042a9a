//! A resident's `[network] allow`: `host` or `host:port` (443 when no port is said), each a
//! DNS name or an address. What a name resolves to is the gate's to check, at each
//! connection: a name is never trusted to stay public.

use std::collections::HashSet;

use super::raw::RawNetwork;
use super::validate::Checker;
use super::{Network, Reach};

/// The port of a host written without one: the registries and forges are HTTPS.
pub const DEFAULT_PORT: u16 = 443;

pub(super) fn network(c: &mut Checker, raw: &RawNetwork) -> Network {
    let mut seen = HashSet::new();
    let mut allow = Vec::new();
    for entry in &raw.allow {
        match reach(entry.get_ref()) {
            Ok(r) => {
                if seen.insert(r.clone()) {
                    allow.push(r);
                } else {
                    c.err(
                        entry,
                        format!("{r} is allowed twice"),
                        "remove this one",
                    );
                }
            }
            Err(why) => c.err(
                entry,
                format!("`{}` is not a host to allow: {why}", entry.get_ref()),
                "write a host name, with its port if not 443, e.g. \"registry.npmjs.org\" or \"github.com:22\"",
            ),
        }
    }
    Network { allow }
}

/// Parse `host[:port]`, `[v6]:port` or a bare address.
pub fn reach(s: &str) -> Result<Reach, String> {
    let s = s.trim();
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or("an IPv6 address needs its `]`")?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err("write `[address]:port`".into()),
        };
        (h.to_string(), port)
    } else if s.matches(':').count() > 1 {
        (s.to_string(), None)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (s.to_string(), None),
        }
    };
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => match p.parse::<u16>() {
            Ok(0) | Err(_) => return Err(format!("`{p}` is not a port")),
            Ok(p) => p,
        },
    };
    let host = host.to_ascii_lowercase();
    let is_address = host.parse::<std::net::IpAddr>().is_ok();
    let is_name = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '-')
        });
    if !is_address && !is_name {
        return Err(format!("`{host}` is not a host name or address"));
    }
    Ok(Reach { host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_ports_and_addresses() {
        let r = |s: &str| reach(s).map(|r| r.to_string());
        assert_eq!(r("registry.npmjs.org"), Ok("registry.npmjs.org:443".into()));
        assert_eq!(r("GitHub.com:22"), Ok("github.com:22".into()));
        assert_eq!(r("203.0.113.2:80"), Ok("203.0.113.2:80".into()));
        assert_eq!(r("[2001:db8::2]:8080"), Ok("[2001:db8::2]:8080".into()));
        assert_eq!(r("2001:db8::2"), Ok("[2001:db8::2]:443".into()));
        for bad in [
            "",
            "a b.com",
            "*.npmjs.org",
            "host:0",
            "host:http",
            "-x.com",
            "[::1",
        ] {
            assert!(reach(bad).is_err(), "{bad}");
        }
    }
}
