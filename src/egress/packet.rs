//! Where a dropped packet was going, read from the start of its IP header (what the kernel
//! copies to the log group): the address, the port for TCP and UDP, and the protocol.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub to: IpAddr,
    pub port: Option<u16>,
    pub protocol: u8,
}

impl Packet {
    /// Read an IPv4 or IPv6 packet's destination; None for anything shorter or else.
    pub fn parse(bytes: &[u8]) -> Option<Packet> {
        let (to, protocol, rest) = match bytes.first()? >> 4 {
            4 => {
                let header = usize::from(bytes[0] & 0x0f) * 4;
                let to: [u8; 4] = bytes.get(16..20)?.try_into().ok()?;
                (
                    IpAddr::V4(Ipv4Addr::from(to)),
                    *bytes.get(9)?,
                    bytes.get(header..),
                )
            }
            6 => {
                let to: [u8; 16] = bytes.get(24..40)?.try_into().ok()?;
                (
                    IpAddr::V6(Ipv6Addr::from(to)),
                    *bytes.get(6)?,
                    bytes.get(40..),
                )
            }
            _ => return None,
        };
        // TCP, UDP, UDP-Lite and SCTP all put the destination port second.
        let port = match protocol {
            6 | 17 | 132 | 136 => rest
                .and_then(|r| r.get(2..4))
                .map(|p| u16::from_be_bytes([p[0], p[1]])),
            _ => None,
        };
        Some(Packet { to, port, protocol })
    }
}

fn protocol_name(p: u8) -> Option<&'static str> {
    Some(match p {
        1 => "icmp",
        6 => "tcp",
        17 => "udp",
        58 => "ipv6-icmp",
        132 => "sctp",
        136 => "udplite",
        _ => return None,
    })
}

/// `203.0.113.2 80/tcp`, `2001:db8::2 icmp`, `203.0.113.2 protocol 255`.
impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.port, protocol_name(self.protocol)) {
            (Some(port), Some(name)) => write!(f, "{} {port}/{name}", self.to),
            (None, Some(name)) => write!(f, "{} {name}", self.to),
            (_, None) => write!(f, "{} protocol {}", self.to, self.protocol),
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    pub fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn a_tcp_syn_and_a_datagram_as_the_kernel_logged_them() {
        // Seen from nfnetlink_log: a SYN to 203.0.113.2:80 and a datagram to its port 53.
        let syn = hex("4500003caae24000400617d5cb007101cb007102c2d00050c07989a700000000a002ffd7");
        assert_eq!(
            Packet::parse(&syn).unwrap().to_string(),
            "203.0.113.2 80/tcp"
        );
        let dns = hex("4500001d218d40004011a13ecb007101cb007102e23000350009781f0a");
        assert_eq!(
            Packet::parse(&dns).unwrap().to_string(),
            "203.0.113.2 53/udp"
        );
    }

    #[test]
    fn ipv6_and_portless_protocols() {
        let mut v6 = vec![0u8; 44];
        v6[0] = 0x60;
        v6[6] = 6;
        v6[24..40].copy_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
        v6[42..44].copy_from_slice(&443u16.to_be_bytes());
        assert_eq!(
            Packet::parse(&v6).unwrap().to_string(),
            "2001:db8::2 443/tcp"
        );
        let mut raw = hex("4500001d218d4000400000000000000000cb007102");
        raw.truncate(20);
        raw[9] = 255;
        raw[16..20].copy_from_slice(&[203, 0, 113, 2]);
        assert_eq!(
            Packet::parse(&raw).unwrap().to_string(),
            "203.0.113.2 protocol 255"
        );
        raw[9] = 1;
        assert_eq!(Packet::parse(&raw).unwrap().to_string(), "203.0.113.2 icmp");
    }

    #[test]
    fn short_or_foreign_bytes_are_nothing() {
        assert_eq!(Packet::parse(&[]), None);
        assert_eq!(Packet::parse(&[0x45, 0, 0]), None);
        assert_eq!(Packet::parse(&[0x20; 40]), None);
    }
}
