//! Sockets for VRRP advertisements (IP protocol 112).
//!
//! Advertisements go to 224.0.0.18 / ff02::12 with TTL / hop limit 255, and receivers drop any
//! other TTL (RFC 9568 §5.1.1.3 and §5.1.2.3; RFC 3768 §5.2.3): the value proves the sender is
//! on the link. This module makes sure both hold, and reports the received TTL so
//! [`crate::proto`] can check it. It neither builds nor checks VRRP messages: `send` takes the
//! finished message (checksum included) and `recv` hands back its bytes.
//!
//! Transports: [`VrrpSocket::open`] is the multicast transport (RFC 9568 §5.1.1.2, §5.1.2.2);
//! [`VrrpSocket::open_unicast`] the unicast one (adverts to configured peers, as keepalived's
//! `unicast_peer`, see [`crate::proto::unicast`]): the same sockets, but joined to no group and
//! with `IP_MULTICAST_ALL` / `IPV6_MULTICAST_ALL` off, so that the groups other sockets of the
//! host join are not delivered here either; each advert is sent with [`VrrpSocket::send_to`] to
//! one peer (TTL / hop limit 255, routed normally: no ARP or multicast needed beyond what
//! reaching the peer takes, so tunnels and `multicast off` links work). Which packets are kept
//! is the protocol core's decision (source, destination, TTL), not the socket's: a socket
//! `bind()` to our address would drop adverts sent to another local address silently.
//!
//! # Receiving (both families)
//! `socket(AF_INET[6], SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 112)`, then:
//! - `SO_BINDTODEVICE` (the interface name): only packets that arrived on the interface;
//! - `IP_ADD_MEMBERSHIP` with an `ip_mreqn` naming the interface index (IPv4) or
//!   `IPV6_ADD_MEMBERSHIP` with an `ipv6_mreq` (IPv6): join the VRRP group on that interface
//!   (without it the NIC and the kernel drop the group's packets). Memberships are lost when
//!   the interface goes away; [`VrrpSocket::rejoin`] drops and re-adds them after a link flap
//!   (keepalived issue #1847). If the interface was deleted and re-created (new index), open a
//!   new socket instead;
//! - IPv4: no control message. A raw IPv4 socket delivers the IP header with the payload;
//!   `recv` parses it (IHL, total length, TTL, source, destination) with bounds checks (IHL > 5
//!   is reported as [`Received::ip_options`]), and the
//!   arrival interface is the one the socket is bound to (`SO_BINDTODEVICE`), so `IP_PKTINFO`
//!   would only cost a control message per advert (built by the kernel, parsed here);
//! - IPv6 `IPV6_RECVHOPLIMIT` and `IPV6_RECVPKTINFO`: control messages with the hop limit and the
//!   destination address / arrival interface (raw IPv6 sockets do not deliver the IPv6 header);
//!   the source comes from the `sockaddr_in6`. `IPV6_RECVHOPOPTS`: the kernel strips a
//!   Hop-by-Hop options header from the data and reports it as a control message, so that
//!   `recv` can flag it ([`Received::ip_options`]). `IPV6_CHECKSUM` is deliberately *not* set: with
//!   it the kernel would silently drop packets whose checksum fails, uncounted; the protocol
//!   layer verifies checksums and counts failures (RFC 9568 §7.1).
//!
//! # Sending
//! - IPv4: a second socket, `socket(AF_INET, SOCK_RAW, IPPROTO_RAW)` (which implies
//!   `IP_HDRINCL` and receives nothing), bound to the interface with `SO_BINDTODEVICE`, with
//!   `IP_MULTICAST_IF` (the interface index), `IP_MULTICAST_TTL` = `IP_TTL` = 255 and
//!   `IP_MULTICAST_LOOP` off. We write the IP header ourselves ([`build_ipv4_packet`]): source =
//!   the caller's address (the interface's primary address, RFC 9568 §5.1.1.1), destination
//!   224.0.0.18, TTL 255, TOS 0xc0 (internetwork control, as keepalived sends), protocol 112, DF
//!   clear, identification 0 (the kernel then picks one), header checksum computed here (the
//!   kernel recomputes it anyway). Writing the header is the only way to choose the source
//!   address regardless of the routing table and to be sure of the TTL (the "wrong TTL"
//!   pitfall: `IP_TTL` does not apply to multicast).
//! - IPv6: the receive socket itself, with `IPV6_MULTICAST_IF` (index), `IPV6_MULTICAST_HOPS`
//!   = `IPV6_UNICAST_HOPS` = 255, `IPV6_MULTICAST_LOOP` off and `IPV6_TCLASS` 0xc0; each advert is
//!   one `sendmsg(2)` to ff02::12 (scope id = interface index) with an `IPV6_PKTINFO` control
//!   message (source = the caller's link-local address, RFC 9568 §5.1.2.1; interface index)
//!   and an `IPV6_HOPLIMIT` control message of 255.
//!
//! # Sending from the virtual-MAC macvlan
//! [`VrrpSender`] is the send half alone, opened on the macvlan of [`crate::sys::vmac`] so
//! adverts leave with the virtual MAC while a [`VrrpSocket`] on the parent receives. Same
//! packets; IPv6 adds `IPV6_FREEBIND` so the parent's link-local source is accepted on the
//! macvlan (see its documentation).
//!
//! All sockets need `CAP_NET_RAW`. Multicast loopback is off, so a router does not hear its own
//! adverts; the protocol layer still drops its own packets (R14) in case another socket loops
//! them back.

use std::io::{self, IoSlice, IoSliceMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{
    recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn, SockaddrIn6,
};

use super::{bind_to_device, new_socket, retry_nix, setsockopt, setsockopt_int};
use crate::proto::wire::nd::solicited_node;
use crate::proto::Family;

use crate::proto::packet::IP_PROTOCOL as IPPROTO_VRRP;
pub use crate::proto::wire::ipv4::{
    build_ipv4_packet, build_ipv4_packet_to, ipv4_header_to, parse_ipv4_header, Ipv4Header,
};
pub use crate::proto::wire::{IPV4_HEADER_LEN, VRRP_GROUP_V4, VRRP_GROUP_V6, VRRP_TOS, VRRP_TTL};

/// [`parse_ipv4_header`] as the receive path reports it: a refused header is `InvalidData`.
fn parse_ipv4(data: &[u8]) -> io::Result<Ipv4Header> {
    parse_ipv4_header(data).map_err(|e| invalid_data(&e.to_string()))
}

/// One received packet. Addresses and TTL come from the IP layer; the VRRP message is
/// `buf[payload]` of the buffer given to [`VrrpSocket::recv`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// IP source address.
    pub src: IpAddr,
    /// IP destination address (224.0.0.18 / ff02::12 for a well-formed advert).
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit as received.
    pub ttl: u8,
    /// IPv4: the header carried options (IHL > 5); IPv6: a Hop-by-Hop options header came
    /// with it (an `IPV6_HOPOPTS` control message, `IPV6_RECVHOPOPTS`).
    pub ip_options: bool,
    /// Arrival interface index (IPv4: the bound interface; IPv6: from `IPV6_PKTINFO`), if known.
    pub ifindex: Option<u32>,
    /// Where the IP payload (the VRRP message) lies in the receive buffer.
    pub payload: Range<usize>,
}

/// The VRRP advert sockets of one virtual router on one interface. See the module docs.
#[derive(Debug)]
pub struct VrrpSocket {
    family: Family,
    ifindex: u32,
    /// Receive socket; for IPv6 also the send socket.
    rx: OwnedFd,
    /// IPv4 header-including send socket.
    tx4: Option<OwnedFd>,
    /// Solicited-node groups joined with [`VrrpSocket::join_solicited_node`].
    solicited: Vec<Ipv6Addr>,
    /// Joined to the VRRP group (multicast transport); false for unicast peers.
    multicast: bool,
}

/// `IPV6_MULTICAST_ALL` (linux/in6.h), not in the libc crate.
const IPV6_MULTICAST_ALL: libc::c_int = 29;

/// Control-message buffer with the alignment `struct cmsghdr` needs: `IPV6_PKTINFO`,
/// `IPV6_HOPLIMIT` and an `IPV6_HOPOPTS` of the largest Hop-by-Hop header (2048 bytes,
/// RFC 8200 §4.3), so that no control message is cut.
#[repr(C, align(8))]
struct CmsgBuf([u8; CMSG_BUF_LEN]);

/// Size of [`CmsgBuf`].
const CMSG_BUF_LEN: usize = 2304;

impl VrrpSocket {
    /// Opens the sockets for `family` on interface `ifindex` named `ifname`, joined to the VRRP
    /// group there. Non-blocking.
    pub fn open(family: Family, ifindex: u32, ifname: &str) -> io::Result<VrrpSocket> {
        Self::open_with(family, ifindex, ifname, true)
    }

    /// Opens the sockets for unicast peers: as [`VrrpSocket::open`], but joined to no group and
    /// with `IP_MULTICAST_ALL` / `IPV6_MULTICAST_ALL` off (module docs). Send with
    /// [`VrrpSocket::send_to`].
    pub fn open_unicast(family: Family, ifindex: u32, ifname: &str) -> io::Result<VrrpSocket> {
        Self::open_with(family, ifindex, ifname, false)
    }

    fn open_with(
        family: Family,
        ifindex: u32,
        ifname: &str,
        multicast: bool,
    ) -> io::Result<VrrpSocket> {
        let index = libc::c_int::try_from(ifindex)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index too big"))?;
        let proto = libc::c_int::from(IPPROTO_VRRP);
        let ty = libc::SOCK_RAW | libc::SOCK_NONBLOCK;
        match family {
            Family::V4 => {
                let rx = new_socket(libc::AF_INET, ty, proto)?;
                bind_to_device(rx.as_fd(), ifname)?;
                if multicast {
                    add_membership_v4(rx.as_fd(), index)?;
                } else {
                    setsockopt_int(rx.as_fd(), libc::IPPROTO_IP, libc::IP_MULTICAST_ALL, 0)?;
                }

                let tx = open_tx_v4(index, ifname)?;
                Ok(VrrpSocket {
                    family,
                    ifindex,
                    rx,
                    tx4: Some(tx),
                    solicited: Vec::new(),
                    multicast,
                })
            }
            Family::V6 => {
                let rx = new_socket(libc::AF_INET6, ty, proto)?;
                let fd = rx.as_fd();
                bind_to_device(fd, ifname)?;
                setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPLIMIT, 1)?;
                setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO, 1)?;
                // The kernel strips a Hop-by-Hop header from a raw socket's data: have it
                // reported, so that the daemon can discard such adverts (`ip_options`).
                setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_RECVHOPOPTS, 1)?;
                configure_tx_v6(fd, index)?;
                if multicast {
                    membership_v6(fd, libc::IPV6_ADD_MEMBERSHIP, VRRP_GROUP_V6, ifindex)?;
                } else {
                    setsockopt_int(fd, libc::IPPROTO_IPV6, IPV6_MULTICAST_ALL, 0)?;
                }
                Ok(VrrpSocket {
                    family,
                    ifindex,
                    rx,
                    tx4: None,
                    solicited: Vec::new(),
                    multicast,
                })
            }
        }
    }

    /// The address family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The interface index the socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Sends one advert: `payload` is the complete VRRP message (checksum included), `src` the
    /// IP source (IPv4 primary address, or IPv6 link-local address). A family mismatch is
    /// `InvalidInput`; a full socket buffer is `WouldBlock`.
    pub fn send(&self, src: IpAddr, payload: &[u8]) -> io::Result<()> {
        self.send_to(src, crate::proto::wire::vrrp_group(self.family), payload)
    }

    /// Sends one advert to `dst`: the VRRP group, or a unicast peer (then `payload`'s VRRPv3
    /// checksum must have been computed with `dst`, RFC 9568 §5.2.8). TTL / hop limit 255 either
    /// way. Errors as [`VrrpSocket::send`].
    pub fn send_to(&self, src: IpAddr, dst: IpAddr, payload: &[u8]) -> io::Result<()> {
        match (self.family, src, dst, &self.tx4) {
            (Family::V4, IpAddr::V4(src), IpAddr::V4(dst), Some(tx)) => {
                send_v4(tx.as_fd(), src, dst, payload)
            }
            (Family::V6, IpAddr::V6(src), IpAddr::V6(dst), _) => {
                send_v6(self.rx.as_fd(), self.ifindex, src, dst, payload)
            }
            _ => Err(family_mismatch(src)),
        }
    }

    /// Receives one packet into `buf` without blocking; `Ok(None)` when nothing is queued.
    ///
    /// Malformed or truncated input (short or inconsistent IPv4 header, datagram larger than
    /// `buf`, missing control messages) is `io::ErrorKind::InvalidData`, never a panic: the
    /// caller counts it and reads on. Size `buf` for the link MTU (e.g. 1500 or 65536 bytes).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Option<Received>> {
        match self.family {
            Family::V4 => {
                let (n, flags) = {
                    let mut iov = [IoSliceMut::new(&mut *buf)];
                    // Non-blocking: recvmsg never sleeps, so the kernel never fails it with
                    // EINTR; a tracer or seccomp filter may (`Interrupted`: read again).
                    let msg = match recvmsg::<SockaddrIn>(
                        self.rx.as_raw_fd(),
                        &mut iov,
                        None,
                        MsgFlags::empty(),
                    ) {
                        Ok(m) => m,
                        Err(Errno::EAGAIN) => return Ok(None),
                        Err(e) => return Err(e.into()),
                    };
                    (msg.bytes, msg.flags)
                };
                if flags.contains(MsgFlags::MSG_TRUNC) || n > buf.len() {
                    return Err(invalid_data("datagram larger than the receive buffer"));
                }
                let data = buf
                    .get(..n)
                    .ok_or_else(|| invalid_data("bad receive length"))?;
                let hdr = parse_ipv4(data)?;
                Ok(Some(Received {
                    src: IpAddr::V4(hdr.src),
                    dst: IpAddr::V4(hdr.dst),
                    ttl: hdr.ttl,
                    ip_options: hdr.payload.start > IPV4_HEADER_LEN,
                    // SO_BINDTODEVICE: only packets that arrived on the bound interface.
                    ifindex: Some(self.ifindex),
                    payload: hdr.payload,
                }))
            }
            Family::V6 => {
                let mut cmsg = CmsgBuf([0; CMSG_BUF_LEN]);
                let mut iov = [IoSliceMut::new(&mut *buf)];
                let msg = match recvmsg::<SockaddrIn6>(
                    self.rx.as_raw_fd(),
                    &mut iov,
                    Some(&mut cmsg.0),
                    MsgFlags::empty(),
                ) {
                    Ok(m) => m,
                    Err(Errno::EAGAIN) => return Ok(None),
                    Err(e) => return Err(e.into()),
                };
                if msg.flags.contains(MsgFlags::MSG_TRUNC) {
                    return Err(invalid_data("datagram larger than the receive buffer"));
                }
                let src = msg
                    .address
                    .map(|a| a.ip())
                    .ok_or_else(|| invalid_data("no source address"))?;
                let mut dst = None;
                let mut ttl = None;
                let mut ifindex = None;
                let mut ip_options = false;
                let cmsgs = msg
                    .cmsgs()
                    .map_err(|_| invalid_data("control messages truncated"))?;
                for c in cmsgs {
                    match c {
                        ControlMessageOwned::Ipv6PacketInfo(info) => {
                            dst = Some(Ipv6Addr::from(info.ipi6_addr.s6_addr));
                            ifindex = Some(info.ipi6_ifindex);
                        }
                        ControlMessageOwned::Ipv6HopLimit(h) => ttl = u8::try_from(h).ok(),
                        ControlMessageOwned::Unknown(u)
                            if u.cmsg_header.cmsg_level == libc::IPPROTO_IPV6
                                && u.cmsg_header.cmsg_type == libc::IPV6_HOPOPTS =>
                        {
                            ip_options = true;
                        }
                        _ => {}
                    }
                }
                let (Some(dst), Some(ttl)) = (dst, ttl) else {
                    return Err(invalid_data("missing IPV6_PKTINFO or IPV6_HOPLIMIT"));
                };
                Ok(Some(Received {
                    src: IpAddr::V6(src),
                    dst: IpAddr::V6(dst),
                    ttl,
                    ip_options,
                    ifindex,
                    payload: 0..msg.bytes,
                }))
            }
        }
    }

    /// Let the kernel drop adverts of other VRIDs (a classic BPF socket filter), so that a
    /// process per virtual router does not wake up for every router on the link: with 100
    /// VRIDs on one segment each process would otherwise read 100 adverts per interval. Only
    /// the VRID byte is checked; everything else is left to the parser and the receive checks.
    /// Packets filtered out here are not counted as `other_vrid`.
    pub fn set_vrid_filter(&self, vrid: u8) -> io::Result<()> {
        // IPv4 raw sockets deliver the IP header: X = 4 * IHL, then load the byte at X + 1.
        // IPv6 raw sockets deliver the VRRP message itself: load the byte at 1.
        const LD_B_ABS: u16 = 0x30; // BPF_LD | BPF_B | BPF_ABS
        const LDX_MSH: u16 = 0xb1; // BPF_LDX | BPF_B | BPF_MSH
        const LD_B_IND: u16 = 0x50; // BPF_LD | BPF_B | BPF_IND
        const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
        const RET_K: u16 = 0x06; // BPF_RET | BPF_K
        let ins = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
        let prog: Vec<libc::sock_filter> = match self.family {
            Family::V4 => vec![
                ins(LDX_MSH, 0, 0, 0),
                ins(LD_B_IND, 0, 0, 1),
                ins(JEQ_K, 0, 1, u32::from(vrid)),
                ins(RET_K, 0, 0, 0xffff_ffff),
                ins(RET_K, 0, 0, 0),
            ],
            Family::V6 => vec![
                ins(LD_B_ABS, 0, 0, 1),
                ins(JEQ_K, 0, 1, u32::from(vrid)),
                ins(RET_K, 0, 0, 0xffff_ffff),
                ins(RET_K, 0, 0, 0),
            ],
        };
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: SO_ATTACH_FILTER copies the program; `prog` outlives the call; the length and
        // pointer describe it exactly.
        let r = unsafe {
            libc::setsockopt(
                self.rx.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                (&fprog as *const libc::sock_fprog).cast(),
                std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Drops and re-adds the VRRP group membership (and any solicited-node groups joined with
    /// [`VrrpSocket::join_solicited_node`]) on the interface: call after the link comes back
    /// up, since the kernel may have forgotten them (keepalived #1847, PR #2681).
    pub fn rejoin(&self) -> io::Result<()> {
        if !self.multicast {
            return Ok(());
        }
        match self.family {
            Family::V4 => {
                let index = libc::c_int::try_from(self.ifindex).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidInput, "interface index too big")
                })?;
                let m = mreqn(VRRP_GROUP_V4, index);
                ignore_errno(
                    setsockopt(
                        self.rx.as_fd(),
                        libc::IPPROTO_IP,
                        libc::IP_DROP_MEMBERSHIP,
                        &m,
                    ),
                    &[libc::EADDRNOTAVAIL, libc::ENODEV],
                )?;
                add_membership_v4(self.rx.as_fd(), index)
            }
            Family::V6 => {
                let groups = std::iter::once(VRRP_GROUP_V6).chain(self.solicited.iter().copied());
                for group in groups {
                    ignore_errno(
                        membership_v6(
                            self.rx.as_fd(),
                            libc::IPV6_DROP_MEMBERSHIP,
                            group,
                            self.ifindex,
                        ),
                        &[libc::EADDRNOTAVAIL, libc::ENODEV],
                    )?;
                    membership_v6(
                        self.rx.as_fd(),
                        libc::IPV6_ADD_MEMBERSHIP,
                        group,
                        self.ifindex,
                    )?;
                }
                Ok(())
            }
        }
    }

    /// Joins the solicited-node multicast group of IPv6 VIP `ip` on the interface (RFC 9568
    /// §6.4.2: on becoming Active, before the NAs, so Neighbor Solicitations for the VIP reach
    /// us even before the address is configured). Joining twice is fine. IPv4 sockets:
    /// `InvalidInput`. The membership lasts until [`VrrpSocket::leave_solicited_node`] or until
    /// the socket is closed.
    pub fn join_solicited_node(&mut self, ip: Ipv6Addr) -> io::Result<()> {
        if self.family != Family::V6 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "solicited-node groups need an IPv6 socket",
            ));
        }
        let group = solicited_node(ip);
        if self.solicited.contains(&group) {
            return Ok(());
        }
        ignore_errno(
            membership_v6(
                self.rx.as_fd(),
                libc::IPV6_ADD_MEMBERSHIP,
                group,
                self.ifindex,
            ),
            &[libc::EADDRINUSE],
        )?;
        self.solicited.push(group);
        Ok(())
    }

    /// Leaves the solicited-node group of `ip` (when no longer Active). Not joined: no-op.
    pub fn leave_solicited_node(&mut self, ip: Ipv6Addr) -> io::Result<()> {
        let group = solicited_node(ip);
        let Some(pos) = self.solicited.iter().position(|g| *g == group) else {
            return Ok(());
        };
        self.solicited.swap_remove(pos);
        ignore_errno(
            membership_v6(
                self.rx.as_fd(),
                libc::IPV6_DROP_MEMBERSHIP,
                group,
                self.ifindex,
            ),
            &[libc::EADDRNOTAVAIL, libc::ENODEV],
        )
    }
}

impl AsRawFd for VrrpSocket {
    /// The receive descriptor, to poll for readability.
    fn as_raw_fd(&self) -> RawFd {
        self.rx.as_raw_fd()
    }
}

impl AsFd for VrrpSocket {
    /// The receive descriptor, to poll for readability.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.rx.as_fd()
    }
}

/// A send-only advert socket on one interface: for sending from the virtual-MAC macvlan
/// ([`crate::sys::vmac`]) while receiving on the parent with a [`VrrpSocket`].
///
/// It joins no group and is never read (nothing to poll); `SO_RCVBUF` is set to the minimum so
/// that whatever the kernel might queue on it stays bounded.
/// - IPv4: the same `IPPROTO_RAW` (header-including) socket as [`VrrpSocket`]'s sender, bound
///   to the device: the caller's source address (the *parent's* primary address) goes out
///   unchanged, although it is not configured on the macvlan; routing to 224.0.0.18 with an
///   output interface needs no address on it (`ip_route_output_key_hash_rcu()`, local
///   multicast), only `IFF_UP` (else `ENETUNREACH`).
/// - IPv6: a raw protocol-112 socket with the same options as [`VrrpSocket`]'s plus
///   `IPV6_FREEBIND`. The source (the parent's link-local address, RFC 9568 §5.1.2.1) is
///   passed in `IPV6_PKTINFO` with the macvlan's index; the kernel requires a link-local
///   `IPV6_PKTINFO` source to be configured *on that interface* (`ip6_datagram_send_ctl()`,
///   `EINVAL` otherwise) unless the socket may bind non-local addresses, which
///   `IPV6_FREEBIND` grants. Copying the parent's link-local address onto the macvlan instead
///   would make the macvlan answer Neighbor Solicitations for it with the VMAC.
#[derive(Debug)]
pub struct VrrpSender {
    family: Family,
    ifindex: u32,
    fd: OwnedFd,
}

impl VrrpSender {
    /// Opens the sender for `family` on interface `ifindex` named `ifname`. Non-blocking.
    pub fn open(family: Family, ifindex: u32, ifname: &str) -> io::Result<VrrpSender> {
        let index = libc::c_int::try_from(ifindex)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index too big"))?;
        let fd = match family {
            Family::V4 => open_tx_v4(index, ifname)?,
            Family::V6 => {
                let fd = new_socket(
                    libc::AF_INET6,
                    libc::SOCK_RAW | libc::SOCK_NONBLOCK,
                    libc::c_int::from(IPPROTO_VRRP),
                )?;
                bind_to_device(fd.as_fd(), ifname)?;
                configure_tx_v6(fd.as_fd(), index)?;
                setsockopt_int(fd.as_fd(), libc::IPPROTO_IPV6, libc::IPV6_FREEBIND, 1)?;
                fd
            }
        };
        // Best effort: the kernel clamps 0 to its minimum receive buffer.
        let _ = setsockopt_int(fd.as_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, 0);
        Ok(VrrpSender {
            family,
            ifindex,
            fd,
        })
    }

    /// The address family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The interface index the socket sends on.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Sends one advert, exactly as [`VrrpSocket::send`] does (same packet, same errors).
    pub fn send(&self, src: IpAddr, payload: &[u8]) -> io::Result<()> {
        let group = crate::proto::wire::vrrp_group(self.family);
        match (self.family, src, group) {
            (Family::V4, IpAddr::V4(src), IpAddr::V4(dst)) => {
                send_v4(self.fd.as_fd(), src, dst, payload)
            }
            (Family::V6, IpAddr::V6(src), IpAddr::V6(dst)) => {
                send_v6(self.fd.as_fd(), self.ifindex, src, dst, payload)
            }
            _ => Err(family_mismatch(src)),
        }
    }
}

impl AsRawFd for VrrpSender {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for VrrpSender {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// The IPv4 header-including send socket on interface `index` / `ifname` (module docs).
fn open_tx_v4(index: libc::c_int, ifname: &str) -> io::Result<OwnedFd> {
    let tx = new_socket(
        libc::AF_INET,
        libc::SOCK_RAW | libc::SOCK_NONBLOCK,
        libc::IPPROTO_RAW,
    )?;
    setsockopt_int(tx.as_fd(), libc::IPPROTO_IP, libc::IP_HDRINCL, 1)?;
    bind_to_device(tx.as_fd(), ifname)?;
    setsockopt(
        tx.as_fd(),
        libc::IPPROTO_IP,
        libc::IP_MULTICAST_IF,
        &mreqn(Ipv4Addr::UNSPECIFIED, index),
    )?;
    setsockopt_int(tx.as_fd(), libc::IPPROTO_IP, libc::IP_MULTICAST_TTL, 255)?;
    setsockopt_int(tx.as_fd(), libc::IPPROTO_IP, libc::IP_TTL, 255)?;
    setsockopt_int(tx.as_fd(), libc::IPPROTO_IP, libc::IP_MULTICAST_LOOP, 0)?;
    Ok(tx)
}

/// The IPv6 sending options (module docs): multicast interface, hop limits 255, no loop,
/// traffic class 0xc0.
fn configure_tx_v6(fd: BorrowedFd<'_>, index: libc::c_int) -> io::Result<()> {
    setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_IF, index)?;
    setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_HOPS, 255)?;
    setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_UNICAST_HOPS, 255)?;
    setsockopt_int(fd, libc::IPPROTO_IPV6, libc::IPV6_MULTICAST_LOOP, 0)?;
    setsockopt_int(
        fd,
        libc::IPPROTO_IPV6,
        libc::IPV6_TCLASS,
        libc::c_int::from(VRRP_TOS),
    )
}

/// One IPv4 advert to `dst` (the group or a peer) on the header-including socket `tx`.
fn send_v4(tx: BorrowedFd<'_>, src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> io::Result<()> {
    // Header and payload as two pieces of one sendmsg(2): no packet buffer to fill per advert.
    let hdr = ipv4_header_to(src, dst, payload.len(), 0)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let dst = SockaddrIn::from(SocketAddrV4::new(dst, 0));
    let iov = [IoSlice::new(&hdr), IoSlice::new(payload)];
    let sent = retry_nix(|| sendmsg(tx.as_raw_fd(), &iov, &[], MsgFlags::empty(), Some(&dst)))?;
    check_len(sent, hdr.len() + payload.len())
}

/// One IPv6 advert to `dst` (the group or a peer) on `fd` out of interface `ifindex`, from
/// `src` (`IPV6_PKTINFO`), hop limit 255 (`IPV6_HOPLIMIT`, which covers unicast too).
fn send_v6(
    fd: BorrowedFd<'_>,
    ifindex: u32,
    src: Ipv6Addr,
    dst: Ipv6Addr,
    payload: &[u8],
) -> io::Result<()> {
    let dst = SockaddrIn6::from(SocketAddrV6::new(dst, 0, 0, ifindex));
    let info = libc::in6_pktinfo {
        ipi6_addr: libc::in6_addr {
            s6_addr: src.octets(),
        },
        ipi6_ifindex: ifindex,
    };
    let hops: libc::c_int = libc::c_int::from(VRRP_TTL);
    let cmsgs = [
        ControlMessage::Ipv6PacketInfo(&info),
        ControlMessage::Ipv6HopLimit(&hops),
    ];
    let iov = [IoSlice::new(payload)];
    let sent = retry_nix(|| sendmsg(fd.as_raw_fd(), &iov, &cmsgs, MsgFlags::empty(), Some(&dst)))?;
    check_len(sent, payload.len())
}

fn family_mismatch(src: IpAddr) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("source {src} does not match the socket's address family"),
    )
}

fn mreqn(group: Ipv4Addr, ifindex: libc::c_int) -> libc::ip_mreqn {
    libc::ip_mreqn {
        imr_multiaddr: libc::in_addr {
            s_addr: u32::from_ne_bytes(group.octets()),
        },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: ifindex,
    }
}

fn add_membership_v4(fd: BorrowedFd<'_>, ifindex: libc::c_int) -> io::Result<()> {
    setsockopt(
        fd,
        libc::IPPROTO_IP,
        libc::IP_ADD_MEMBERSHIP,
        &mreqn(VRRP_GROUP_V4, ifindex),
    )
}

fn membership_v6(
    fd: BorrowedFd<'_>,
    op: libc::c_int,
    group: Ipv6Addr,
    ifindex: u32,
) -> io::Result<()> {
    let m = libc::ipv6_mreq {
        ipv6mr_multiaddr: libc::in6_addr {
            s6_addr: group.octets(),
        },
        ipv6mr_interface: ifindex,
    };
    setsockopt(fd, libc::IPPROTO_IPV6, op, &m)
}

/// Maps the listed errno values to success.
fn ignore_errno(r: io::Result<()>, ok: &[libc::c_int]) -> io::Result<()> {
    match r {
        Err(e) if e.raw_os_error().is_some_and(|c| ok.contains(&c)) => Ok(()),
        other => other,
    }
}

fn check_len(sent: usize, want: usize) -> io::Result<()> {
    if sent == want {
        Ok(())
    } else {
        Err(io::Error::new(io::ErrorKind::WriteZero, "short send"))
    }
}

fn invalid_data(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_errors_are_invalid_data() {
        let good = build_ipv4_packet(Ipv4Addr::new(192, 0, 2, 1), &[0x31; 12], 0).unwrap();
        // Every truncation is InvalidData (the loop counts it as bad_length), not a panic.
        for n in 0..good.len() {
            let e = parse_ipv4(&good[..n]).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "len {n}");
        }
        assert_eq!(parse_ipv4(&good).unwrap().payload, 20..32);
    }
}
