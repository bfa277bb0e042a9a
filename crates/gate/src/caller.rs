//! Who is calling, by the kernel's word: the uid that owns the client end of an accepted
//! loopback TCP connection, looked up with NETLINK_SOCK_DIAG by the exact 4-tuple. TCP has
//! no SO_PEERCRED; the socket's owner is what nftables' `meta skuid` matches too. Any
//! process may ask (the kernel checks no capability for this lookup), and it only sees
//! sockets of its own network namespace.

use std::io;
use std::net::SocketAddr;

use netlink_packet_core::{NLM_F_REQUEST, NetlinkHeader, NetlinkMessage, NetlinkPayload};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, TCP_TIME_WAIT};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr as NetlinkAddr};

/// Why the caller is not known.
#[derive(Debug, thiserror::Error)]
pub enum Unknown {
    #[error("asking the kernel who owns the socket: {0}")]
    Io(#[from] io::Error),
    #[error("the kernel has no socket {peer} → {local}")]
    NoSocket { local: SocketAddr, peer: SocketAddr },
    /// A closed socket waiting out TIME_WAIT reports uid 0: never read that as root.
    #[error("the socket {peer} → {local} is already closing")]
    Closing { local: SocketAddr, peer: SocketAddr },
    #[error("the kernel's answer did not parse: {0}")]
    Garbled(String),
}

/// The uid owning the client socket of a connection this process accepted: `local` and
/// `peer` as the accepted stream sees them (the client's socket runs peer → local).
pub fn uid_of(local: SocketAddr, peer: SocketAddr) -> Result<u32, Unknown> {
    owner_of(local, peer).map(|o| o.uid)
}

/// The client socket as the kernel reports it.
#[derive(Debug, PartialEq, Eq)]
struct Owner {
    uid: u32,
    inode: u32,
}

fn owner_of(local: SocketAddr, peer: SocketAddr) -> Result<Owner, Unknown> {
    let family = match (local, peer) {
        (SocketAddr::V4(_), SocketAddr::V4(_)) => AF_INET,
        (SocketAddr::V6(_), SocketAddr::V6(_)) => AF_INET6,
        _ => return Err(Unknown::NoSocket { local, peer }),
    };
    let request = InetRequest {
        family,
        protocol: IPPROTO_TCP,
        extensions: ExtensionFlags::empty(),
        // Ignored by an exact lookup.
        states: StateFlags::all(),
        socket_id: SocketId {
            source_port: peer.port(),
            destination_port: local.port(),
            source_address: peer.ip(),
            destination_address: local.ip(),
            interface_id: 0,
            // INET_DIAG_NOCOOKIE: any other cookie must equal the socket's own.
            cookie: [0xff; 8],
        },
    };
    let mut header = NetlinkHeader::default();
    // Without NLM_F_DUMP the kernel looks up this one socket.
    header.flags = NLM_F_REQUEST;
    header.sequence_number = 1;
    let mut message = NetlinkMessage::new(header, SockDiagMessage::InetRequest(request).into());
    message.finalize();
    let mut buf = vec![0u8; message.buffer_len()];
    message.serialize(&mut buf);

    let mut socket = Socket::new(NETLINK_SOCK_DIAG)?;
    socket.bind_auto()?;
    socket.connect(&NetlinkAddr::new(0, 0))?;
    socket.send(&buf, 0)?;
    let (answer, _) = socket.recv_from_full()?;
    let reply = NetlinkMessage::<SockDiagMessage>::deserialize(&answer)
        .map_err(|e| Unknown::Garbled(e.to_string()))?;
    match reply.payload {
        NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
            if r.header.state == TCP_TIME_WAIT || r.header.inode == 0 {
                return Err(Unknown::Closing { local, peer });
            }
            Ok(Owner {
                uid: r.header.uid,
                inode: r.header.inode,
            })
        }
        NetlinkPayload::Error(e) if e.code.is_some() => {
            let e = e.to_io();
            match e.kind() {
                io::ErrorKind::NotFound => Err(Unknown::NoSocket { local, peer }),
                _ => Err(Unknown::Io(e)),
            }
        }
        _ => Err(Unknown::NoSocket { local, peer }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_names_the_uid_of_a_loopback_caller_and_of_no_stranger() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, peer) = listener.accept().unwrap();
        let local = accepted.local_addr().unwrap();
        let me = nix::unistd::geteuid().as_raw();
        assert_eq!(uid_of(local, peer).unwrap(), me);
        // The client's own socket, not the accepted end (as root both are uid 0).
        let inode = |s: &std::net::TcpStream| nix::sys::stat::fstat(s).unwrap().st_ino as u32;
        let owner = owner_of(local, peer).unwrap();
        assert_eq!(owner.inode, inode(&client));
        assert_ne!(owner.inode, inode(&accepted));
        // A 4-tuple nobody holds is no one's, never root's.
        let stranger: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(matches!(
            uid_of(local, stranger),
            Err(Unknown::NoSocket { .. })
        ));
        drop(client);
    }
}
