//! Link-layer announcements: gratuitous ARP and unsolicited Neighbor Advertisements.
//!
//! When a router becomes Active it tells the LAN that the virtual addresses now live at its
//! MAC address:
//! - **IPv4**, RFC 9568 §6.4.1 (Startup as owner) and §6.4.2 (Backup timer fires): "broadcast a
//!   gratuitous ARP request containing the virtual router MAC address for each IP address
//!   associated with the virtual router". Errata 7947 (§6.4.1) and 7949 (§6.4.2) fix the text:
//!   the ARP carries the VR's *IPv4 address* (sender = target = VIP), with the virtual router
//!   MAC as sender hardware address. [`build_garp`] is an ARP *request* (RFC 826, op 1) with
//!   target hardware address ff:ff:ff:ff:ff:ff, byte for byte the layout keepalived sends
//!   (`tests/data/keepalived-2.2.7.json`, captured by `cargo xtask vectors`). The frame
//!   layouts are pure, in [`crate::proto::wire::arp`] and [`crate::proto::wire::nd`].
//! - **IPv6**, RFC 9568 §6.4.1/§6.4.2 and RFC 4861 §7.2.6: an unsolicited Neighbor
//!   Advertisement per VIP to the all-nodes group ff02::1, Router flag set, Solicited flag clear,
//!   Override flag set, target = VIP, Target Link-Layer Address option = the VR MAC; hop limit
//!   255 (RFC 4861 §7.1.2 makes receivers drop anything else); ICMPv6 checksum over the RFC 8200
//!   §8.1 pseudo-header. The IPv6 source is the VIP itself (RFC 4861 §7.2.6 leaves it to the
//!   sender; keepalived does the same).
//!
//!   keepalived 2.2.7 sets the Router flag only when the interface forwards IPv6; the vector
//!   frames (captured without forwarding) carry flags 0x20 (O only). We follow RFC 9568 and set
//!   R=1 S=0 O=1 (0xa0) in [`build_unsolicited_na`]; [`build_na`] takes the flags explicitly and
//!   reproduces the vector frames exactly with [`NA_FLAG_OVERRIDE`].
//!
//! # Syscalls
//! [`Announcer::open`]: `socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)` — protocol
//! 0 so the socket receives nothing — then `bind(2)` to a `sockaddr_ll` with the interface
//! index. Each frame is one `sendto(2)` with a `sockaddr_ll` naming the interface, the
//! EtherType and the destination MAC; the frame is complete (Ethernet header included) and
//! leaves as is. Needs `CAP_NET_RAW`. A full socket buffer gives `WouldBlock`.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use super::{cvt, new_socket};

pub use crate::proto::wire::arp::{
    build_arp_request, build_garp, ARP_FRAME_LEN, ETH_BROADCAST, ETH_P_ARP,
};
pub use crate::proto::wire::nd::{
    build_na, build_unsolicited_na, icmpv6_checksum, ipv6_multicast_mac, solicited_node,
    ETH_P_IPV6, NA_FLAG_OVERRIDE, NA_FLAG_ROUTER, NA_FLAG_SOLICITED, NA_FRAME_LEN,
};

/// An `AF_PACKET` sender bound to one interface. See the module documentation.
#[derive(Debug)]
pub struct Announcer {
    fd: OwnedFd,
    ifindex: libc::c_int,
}

impl Announcer {
    /// Opens the packet socket on interface `ifindex`.
    pub fn open(ifindex: u32) -> io::Result<Announcer> {
        let ifindex = libc::c_int::try_from(ifindex)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index too big"))?;
        let fd = new_socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_NONBLOCK, 0)?;
        let sll = sockaddr_ll(ifindex, 0, [0; 6]);
        // SAFETY: `sll` is a fully initialised sockaddr_ll that outlives the call, and the
        // length passed is its size; the kernel copies it.
        let ret = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast::<libc::sockaddr>(),
                sockaddr_ll_len(),
            )
        };
        cvt(ret)?;
        Ok(Announcer { fd, ifindex })
    }

    /// Sends the gratuitous ARP for `ip` with sender MAC `src_mac` ([`build_garp`]).
    pub fn gratuitous_arp(&self, src_mac: [u8; 6], ip: Ipv4Addr) -> io::Result<()> {
        self.send_frame(&build_garp(src_mac, ip))
    }

    /// Sends the unsolicited NA for `ip` with TLLA `src_mac` ([`build_unsolicited_na`]).
    pub fn unsolicited_na(&self, src_mac: [u8; 6], ip: Ipv6Addr) -> io::Result<()> {
        self.send_frame(&build_unsolicited_na(src_mac, ip))
    }

    /// Sends a unicast ARP request ([`build_arp_request`]).
    pub fn unicast_arp_request(
        &self,
        src_mac: [u8; 6],
        sender_ip: Ipv4Addr,
        target_mac: [u8; 6],
        target_ip: Ipv4Addr,
    ) -> io::Result<()> {
        self.send_frame(&build_arp_request(
            src_mac, sender_ip, target_mac, target_ip,
        ))
    }

    /// Sends a complete Ethernet frame (destination MAC and EtherType are read from its
    /// header). Frames shorter than an Ethernet header are `InvalidInput`.
    pub fn send_frame(&self, frame: &[u8]) -> io::Result<()> {
        let dst = frame.get(0..6).and_then(|d| <[u8; 6]>::try_from(d).ok());
        let ethertype = frame.get(12..14).and_then(|e| <[u8; 2]>::try_from(e).ok());
        let (Some(dst), Some(ethertype)) = (dst, ethertype) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame shorter than an Ethernet header",
            ));
        };
        let sll = sockaddr_ll(self.ifindex, u16::from_be_bytes(ethertype), dst);
        // A send waiting for room in the socket buffer is interrupted by any signal.
        // SAFETY: `frame` is readable for `frame.len()` bytes and `sll` is a fully initialised
        // sockaddr_ll of the length given, both alive for the call; the kernel copies them.
        let sent = super::retry_libc(|| unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast::<libc::c_void>(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast::<libc::sockaddr>(),
                sockaddr_ll_len(),
            )
        })?;
        if usize::try_from(sent).ok() != Some(frame.len()) {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short frame send"));
        }
        Ok(())
    }
}

impl AsRawFd for Announcer {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Announcer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn sockaddr_ll(ifindex: libc::c_int, ethertype: u16, dst: [u8; 6]) -> libc::sockaddr_ll {
    let mut addr = [0u8; 8];
    addr[..6].copy_from_slice(&dst);
    libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as libc::c_ushort,
        sll_protocol: ethertype.to_be(),
        sll_ifindex: ifindex,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 6,
        sll_addr: addr,
    }
}

fn sockaddr_ll_len() -> libc::socklen_t {
    // sizeof(struct sockaddr_ll) is 20: always fits.
    std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t
}
