//! The kernel's word on what it dropped: the resident chain logs each refused packet (at a
//! bounded rate, in the rule) to netlink log group LOG_GROUP, and root reads that group on
//! a thread of its own. The kernel names the sending socket's uid beside the packet.

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_netfilter::nflog::{
    ConfigCmd, ConfigMode, PacketNla, ULogMessage, config_request,
};
use netlink_packet_netfilter::{NetfilterMessage, NetfilterMessageInner, NetfilterProtoFamily};
use netlink_sys::{Socket, constants::NETLINK_NETFILTER};
use std::time::Instant;

use tokio::sync::mpsc;

use super::packet::Packet;
use crate::os::OsError;

/// The netlink log group the rules log to (`log group` in nftables).
pub const LOG_GROUP: u16 = 7447;
/// Bytes of each packet copied: enough for an IPv6 header and the ports after it.
const COPY: u32 = 64;
const ACTION: &str = "listening for packets the egress rules drop (netlink log group)";

/// A packet of `uid`'s the kernel dropped, and when root heard of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    pub uid: u32,
    pub packet: Packet,
    pub heard: Instant,
}

/// Bind the log group, then read it on a thread of its own for as long as `to` is open.
/// What `to` has no room for is let go: the rule's rate limit already bounds the flow.
pub fn listen(to: mpsc::Sender<Dropped>) -> Result<(), OsError> {
    let mut socket = Socket::new(NETLINK_NETFILTER).map_err(|e| OsError::new(ACTION, e))?;
    socket.bind_auto().map_err(|e| OsError::new(ACTION, e))?;
    let bind = config_request(
        NetfilterProtoFamily::Unspec,
        LOG_GROUP,
        vec![ConfigCmd::Bind.into(), ConfigMode::new_packet(COPY).into()],
    );
    let mut buf = vec![0; bind.header.length as usize];
    bind.serialize(&mut buf);
    socket.send(&buf, 0).map_err(|e| OsError::new(ACTION, e))?;
    let mut answer = vec![0; 4096];
    let n = socket
        .recv(&mut &mut answer[..], 0)
        .map_err(|e| OsError::new(ACTION, e))?;
    let acked = NetlinkMessage::<NetfilterMessage>::deserialize(&answer[..n])
        .map_err(|e| OsError::new(ACTION, e))?;
    if let NetlinkPayload::Error(e) = acked.payload
        && let Some(code) = e.code
    {
        return Err(OsError::new(
            ACTION,
            std::io::Error::from_raw_os_error(-code.get()),
        ));
    }
    std::thread::Builder::new()
        .name("egress-drops".into())
        .spawn(move || read(socket, to))
        .map_err(|e| OsError::new(ACTION, e))?;
    Ok(())
}

fn read(socket: Socket, to: mpsc::Sender<Dropped>) {
    let mut buf = vec![0; 64 * 1024];
    while !to.is_closed() {
        let n = match socket.recv(&mut &mut buf[..], 0) {
            Ok(n) => n,
            // ENOBUFS: the kernel had more than the socket held; the rest still comes.
            Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::error!("{ACTION}: {e}; no more drops are heard");
                return;
            }
        };
        for dropped in messages(&buf[..n], Instant::now()) {
            let _ = to.try_send(dropped);
        }
    }
}

/// Every logged packet in one read (netlink batches several messages in one datagram).
fn messages(mut bytes: &[u8], heard: Instant) -> Vec<Dropped> {
    let mut found = Vec::new();
    while !bytes.is_empty() {
        let Ok(m) = NetlinkMessage::<NetfilterMessage>::deserialize(bytes) else {
            break;
        };
        let len = (m.header.length as usize).next_multiple_of(4);
        if let NetlinkPayload::InnerMessage(NetfilterMessage {
            inner: NetfilterMessageInner::ULog(ULogMessage::Packet(nlas)),
            ..
        }) = &m.payload
        {
            let uid = nlas.iter().find_map(|n| match n {
                PacketNla::Uid(u) => Some(*u),
                _ => None,
            });
            let packet = nlas.iter().find_map(|n| match n {
                PacketNla::Payload(p) => Packet::parse(p),
                _ => None,
            });
            if let (Some(uid), Some(packet)) = (uid, packet) {
                found.push(Dropped { uid, packet, heard });
            }
        }
        if len == 0 || len >= bytes.len() {
            break;
        }
        bytes = &bytes[len..];
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::egress::packet::tests::hex;

    /// One read of group 7447 as the kernel sent it (uid 65534 connecting to 203.0.113.2:80
    /// twice): two packet messages and the batch's NLMSG_DONE.
    const BATCH: &str = "7c00000000040000000000000000000002001d17080001000800030005000a0000000000080005000000000108000b000000fffe08000e000000fffe400009004500003c32e6400040068fd1cb007101cb007102ae3000501676532100000000a002ffd7783300000204ffd70402080a301299c8000000000103030a7c00000000040000000000000000000002001d17080001000800030005000a0000000000080005000000000108000b000000fffe08000e000000fffe400009004500003c32e7400040068fd0cb007101cb007102ae3000501676532100000000a002ffd7783300000204ffd70402080a30129dc8000000000103030a1400000003000000000000000000000000001d17";

    #[test]
    fn a_batch_read_from_the_kernel_is_every_packet_with_its_uid() {
        let found = messages(&hex(BATCH), Instant::now());
        assert_eq!(found.len(), 2, "{found:?}");
        for d in found {
            assert_eq!(d.uid, 65534);
            assert_eq!(d.packet.to_string(), "203.0.113.2 80/tcp");
        }
    }

    #[test]
    fn a_datagram_read_alone() {
        let one = "6000000000040000000000000000000002001d17080001000800030005000a0000000000080005000000000108000b000000fffe08000e000000fffe210009004500001d49184000401179b3cb007101cb007102b19100350009781f0a000000";
        let found = messages(&hex(one), Instant::now());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].packet.to_string(), "203.0.113.2 53/udp");
    }

    #[test]
    fn garbage_is_nothing() {
        assert!(messages(&[0xff; 7], Instant::now()).is_empty());
        assert!(messages(&[], Instant::now()).is_empty());
    }
}
