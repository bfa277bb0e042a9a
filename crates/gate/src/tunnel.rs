//! The gate's CONNECT proxy: a resident's tools (git, npm, pip, cargo) reach the hosts its
//! `[network] allow` names, and nothing else. The gate resolves each name itself, at each
//! connection, and connects only to public addresses: a name that resolves to loopback, a
//! private network or a link-local address is refused, so no DNS answer leads around the
//! allowlist to the town's own services.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::net::TcpStream;

/// How long a connection to an allowed host may take.
const CONNECT_WITHIN: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum TunnelError {
    #[error("{host} does not resolve: {source}")]
    Unresolved {
        host: String,
        source: std::io::Error,
    },
    #[error(
        "{host} resolves only to addresses of this host or a private network ({found}): refused"
    )]
    Private { host: String, found: String },
    #[error("{host}:{port} did not answer: {why}")]
    Unreachable {
        host: String,
        port: u16,
        why: String,
    },
}

/// Whether `ip` is an address of the public internet (documentation ranges included: they
/// route nowhere real, and the town tests stand them in for the internet).
pub fn public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || a == 0
                // Shared address space (carrier-grade NAT), 100.64.0.0/10.
                || (a == 100 && (64..128).contains(&b))
                // Protocol assignments, 192.0.0.0/24.
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                // Benchmarking, 198.18.0.0/15, and reserved, 240.0.0.0/4.
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                // Unique local, fc00::/7, and link-local, fe80::/10.
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80)
        }
    }
}

/// Resolve `host` here and connect to the first public address that answers.
pub async fn open(host: &str, port: u16) -> Result<TcpStream, TunnelError> {
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|source| TunnelError::Unresolved {
            host: host.to_string(),
            source,
        })?
        .collect();
    let usable: Vec<SocketAddr> = found.iter().copied().filter(|a| public(a.ip())).collect();
    if usable.is_empty() {
        let found: Vec<String> = found.iter().map(|a| a.ip().to_string()).collect();
        return Err(TunnelError::Private {
            host: host.to_string(),
            found: found.join(", "),
        });
    }
    let mut why = String::new();
    for addr in usable {
        match tokio::time::timeout(CONNECT_WITHIN, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => why = format!("{addr}: {e}"),
            Err(_) => why = format!("{addr}: no answer within {CONNECT_WITHIN:?}"),
        }
    }
    Err(TunnelError::Unreachable {
        host: host.to_string(),
        port,
        why,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_reached() {
        for ok in [
            "203.0.113.2",
            "140.82.112.3",
            "2001:db8::2",
            "2606:4700::1111",
        ] {
            assert!(public(ok.parse().unwrap()), "{ok}");
        }
        for no in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!public(no.parse().unwrap()), "{no}");
        }
    }

    #[tokio::test]
    async fn a_name_for_loopback_is_refused_without_connecting() {
        let e = open("localhost", 80).await.unwrap_err();
        assert!(matches!(e, TunnelError::Private { .. }), "{e}");
        assert!(e.to_string().contains("refused"), "{e}");
    }
}
