//! Receiving ICMPv6 Router Solicitations (RFC 4861 §4.1, §6.2.6) for the virtual router's
//! Router Advertisements. The Router Advertisements themselves leave as whole Ethernet frames
//! through [`crate::sys::announce::Announcer`] (from the virtual MAC, with the virtual
//! router's link-local source, which the kernel's ICMPv6 socket would not let us choose on the
//! parent interface); their bytes are [`crate::proto::wire::nd::build_router_advert`]. The
//! checks of a solicitation are [`crate::proto::wire::nd::parse_router_solicit`], in the
//! protocol core.
//!
//! # Syscalls
//! [`SolicitSocket::open`]: `socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
//! IPPROTO_ICMPV6)`; `ICMP6_FILTER` (RFC 3542 §3.2) blocks every ICMPv6 type but 133, so the
//! kernel wakes us for solicitations only; `SO_BINDTODEVICE` (the interface, not the
//! macvlan: one copy of each multicast frame); `IPV6_RECVHOPLIMIT` (the §6.1.1 hop-limit-255
//! check needs it); `IPV6_ADD_MEMBERSHIP` of ff02::2, the all-routers group solicitations go
//! to (RFC 4291 §2.7.1; the kernel joins it itself only when the interface forwards). The
//! kernel verifies the ICMPv6 checksum of raw ICMPv6 sockets and drops bad ones. Needs
//! `CAP_NET_RAW`.

use std::io::{self, IoSliceMut};
use std::net::Ipv6Addr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrIn6};

use super::{bind_to_device, new_socket, setsockopt, setsockopt_int};
use crate::proto::wire::nd::ICMPV6_ROUTER_SOLICIT;

/// The all-routers group, ff02::2 (RFC 4291 §2.7.1).
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// `ICMP6_FILTER` (linux/icmpv6.h), not in the libc crate.
const ICMP6_FILTER: libc::c_int = 1;

/// One received solicitation: source, hop limit, and where the ICMPv6 message lies in the
/// buffer given to [`SolicitSocket::recv`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Solicitation {
    /// IPv6 source (:: for a host without an address yet).
    pub src: Ipv6Addr,
    /// Hop limit as received.
    pub hop_limit: u8,
    /// Length of the ICMPv6 message at the start of the buffer.
    pub len: usize,
}

/// The Router Solicitation socket of one interface. See the module documentation.
#[derive(Debug)]
pub struct SolicitSocket {
    fd: OwnedFd,
    ifindex: u32,
}

/// `struct icmp6_filter`: a bit set per type blocks it.
fn filter_pass_only(ty: u8) -> [u32; 8] {
    let mut f = [u32::MAX; 8];
    let t = usize::from(ty);
    if let Some(w) = f.get_mut(t >> 5) {
        *w &= !(1u32 << (t & 31));
    }
    f
}

impl SolicitSocket {
    /// Opens the socket on interface `ifindex` named `ifname`. Non-blocking.
    pub fn open(ifindex: u32, ifname: &str) -> io::Result<SolicitSocket> {
        let fd = new_socket(
            libc::AF_INET6,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK,
            libc::IPPROTO_ICMPV6,
        )?;
        setsockopt(
            fd.as_fd(),
            libc::IPPROTO_ICMPV6,
            ICMP6_FILTER,
            &filter_pass_only(ICMPV6_ROUTER_SOLICIT),
        )?;
        bind_to_device(fd.as_fd(), ifname)?;
        setsockopt_int(fd.as_fd(), libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
        let s = SolicitSocket { fd, ifindex };
        s.membership(libc::IPV6_ADD_MEMBERSHIP)?;
        Ok(s)
    }

    fn membership(&self, op: libc::c_int) -> io::Result<()> {
        let m = libc::ipv6_mreq {
            ipv6mr_multiaddr: libc::in6_addr {
                s6_addr: ALL_ROUTERS.octets(),
            },
            ipv6mr_interface: self.ifindex,
        };
        setsockopt(self.fd.as_fd(), libc::IPPROTO_IPV6, op, &m)
    }

    /// Drop and re-add the ff02::2 membership (after a link flap, as
    /// [`crate::sys::socket::VrrpSocket::rejoin`]).
    pub fn rejoin(&self) -> io::Result<()> {
        let _ = self.membership(libc::IPV6_DROP_MEMBERSHIP);
        match self.membership(libc::IPV6_ADD_MEMBERSHIP) {
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => Ok(()),
            other => other,
        }
    }

    /// One solicitation, `None` when nothing is queued. A message longer than `buf` is
    /// `InvalidData`.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Solicitation>> {
        #[repr(C, align(8))]
        struct Cmsg([u8; 64]);
        let mut cmsg = Cmsg([0; 64]);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = match recvmsg::<SockaddrIn6>(
            self.fd.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg.0),
            MsgFlags::empty(),
        ) {
            Ok(m) => m,
            Err(Errno::EAGAIN) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
        if msg.flags.contains(MsgFlags::MSG_TRUNC) {
            return Err(bad("solicitation larger than the receive buffer"));
        }
        let src = msg
            .address
            .map(|a| a.ip())
            .ok_or_else(|| bad("no source address"))?;
        let mut hop_limit = None;
        for c in msg.cmsgs().map_err(|_| bad("control messages truncated"))? {
            if let ControlMessageOwned::Ipv6HopLimit(h) = c {
                hop_limit = u8::try_from(h).ok();
            }
        }
        let hop_limit = hop_limit.ok_or_else(|| bad("no IPV6_HOPLIMIT"))?;
        Ok(Some(Solicitation {
            src,
            hop_limit,
            len: msg.bytes,
        }))
    }
}

impl AsRawFd for SolicitSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for SolicitSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_passes_type_133_only() {
        let f = filter_pass_only(133);
        for t in 0u16..=255 {
            let blocked = f[usize::from(t) >> 5] & (1 << (t & 31)) != 0;
            assert_eq!(blocked, t != 133, "type {t}");
        }
    }
}
