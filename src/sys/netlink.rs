//! A small synchronous rtnetlink client, and a non-blocking link/address event monitor.
//!
//! # Why a crate
//! Message building and parsing use `netlink-packet-route` / `netlink-packet-core` (attribute
//! TLVs, alignment, header bookkeeping) and the socket uses `netlink-sys`; both are small, widely
//! used, and spare us hand-written TLV code. The *protocol* of a request (sequence numbers,
//! waiting for the ACK, multipart dumps, timeouts) is done here, synchronously, with no async
//! runtime: the daemon is a single-threaded event loop and an address change is one round trip.
//!
//! # Syscalls and kernel objects
//! - [`Rtnl::open`]: `socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)`, `bind(2)` with
//!   port 0 (the kernel assigns a port id), `connect(2)` to the kernel (port 0) so only kernel
//!   messages are read, and `SO_RCVTIMEO` = 250 ms (`REPLY_TIMEOUT`) so a lost reply cannot block the daemon for long;
//!   `NETLINK_GET_STRICT_CHK` so dump filters (an interface index) are applied by the kernel.
//! - Requests are one `send(2)` each with `NLM_F_REQUEST | NLM_F_ACK` (`RTM_NEWADDR` also
//!   `NLM_F_CREATE | NLM_F_EXCL`); replies are read with `recv(2)` until the `NLMSG_ERROR` whose
//!   sequence number is ours (error 0 = ACK). Dumps (`NLM_F_DUMP`) read until `NLMSG_DONE`, and are
//!   retried when the kernel flags them `NLM_F_DUMP_INTR` (the table changed mid-dump). Replies
//!   with another sequence number (late answers to a request that timed out) are skipped.
//! - [`LinkMonitor::open`]: a second, non-blocking `NETLINK_ROUTE` socket joined with
//!   `NETLINK_ADD_MEMBERSHIP` to `RTNLGRP_LINK`, `RTNLGRP_IPV4_IFADDR` and `RTNLGRP_IPV6_IFADDR`,
//!   with a 1 MiB `SO_RCVBUF`. When the kernel cannot queue a notification, the next `recv(2)`
//!   fails with `ENOBUFS`: events were lost, reported as [`NetEvent::Overrun`] so the caller
//!   re-reads the state it cares about.
//!
//! - Links (for the virtual MAC, [`crate::sys::vmac`]): [`Rtnl::create_macvlan`] is one
//!   `RTM_NEWLINK` with `NLM_F_CREATE | NLM_F_EXCL` carrying `IFLA_IFNAME`, `IFLA_LINK` (the
//!   parent), `IFLA_ADDRESS` and `IFLA_LINKINFO` { `IFLA_INFO_KIND` "macvlan",
//!   `IFLA_INFO_DATA` { `IFLA_MACVLAN_MODE` } }, created down; [`Rtnl::set_link_up`],
//!   [`Rtnl::set_link_address`] and [`Rtnl::set_link_alias`] are `RTM_SETLINK` (flags with an
//!   `IFF_UP` change mask, `IFLA_ADDRESS`, `IFLA_IFALIAS`); [`Rtnl::del_link`] is
//!   `RTM_DELLINK`; [`Rtnl::list_links`] a `RTM_GETLINK` dump; [`Rtnl::link_by_name`] a
//!   `RTM_GETLINK` with `IFLA_IFNAME`.
//! - [`Rtnl::neighbour`]: a `RTM_GETNEIGH` dump of one family, filtered here by interface and
//!   address (the kernel filters dumps only with strict checking, which this socket does not
//!   enable).
//!
//! Error mapping: a non-zero `NLMSG_ERROR` becomes `io::Error::from_raw_os_error(-code)`; no reply
//! within the deadline is `io::ErrorKind::TimedOut`; a malformed reply is
//! `io::ErrorKind::InvalidData`.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use netlink_packet_core::{
    NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLMSG_DONE, NLMSG_ERROR,
    NLM_F_ACK, NLM_F_CREATE, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_EXCL, NLM_F_MULTIPART,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{
    AddressAttribute, AddressHeaderFlags, AddressMessage, AddressScope,
};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoMacVlan, LinkAttribute, LinkFlags, LinkInfo as NlLinkInfo, LinkMessage,
    MacVlanMode,
};
use netlink_packet_route::neighbour::{
    NeighbourAddress, NeighbourAttribute, NeighbourMessage, NeighbourState,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

/// `IFA_F_SECONDARY`: an IPv4 address in the same subnet as an earlier (primary) one.
pub const IFA_F_SECONDARY: u32 = 0x01;
/// `IFA_F_NODAD`: no Duplicate Address Detection (IPv6).
pub const IFA_F_NODAD: u32 = 0x02;
/// `IFA_F_DADFAILED`: DAD found a duplicate; the address is unusable (IPv6).
pub const IFA_F_DADFAILED: u32 = 0x08;
/// `IFA_F_TENTATIVE`: DAD has not finished; the address cannot be used as a source yet (IPv6).
pub const IFA_F_TENTATIVE: u32 = 0x40;

/// How long one request waits for its reply (also the `SO_RCVTIMEO` of the request socket).
/// The kernel handles an rtnetlink request inside the sending `send(2)` and queues the reply
/// (or a dump's first part) before it returns, so a reply that is not there at once is lost
/// (a full receive buffer), not late: waiting long only blocks the event loop (issue 13,
/// defect 7: adverts stop while it waits). 250 ms is ample on a loaded machine and shorter
/// than every advert interval but the smallest.
const REPLY_TIMEOUT: Duration = Duration::from_millis(250);
/// Receive buffer for one datagram (also a request socket's: a dump's datagrams are at most
/// about 32 KiB). At least `M_MMAP_THRESHOLD` ([`crate::sys::mem::MMAP_THRESHOLD`]), so it is a
/// mapping of its own of which only the pages written are resident.
const RECV_BUF: usize = 64 * 1024;
/// The length a request socket ([`Rtnl`]) reads with. The kernel fills a dump's datagrams up to
/// the largest length this socket ever passed to recv(2) (at most about 32 KiB), so reading
/// with a short length makes short datagrams and only the first pages of [`RECV_BUF`] are ever
/// written: with the whole 64 KiB a dump of 250 addresses (250 instances on one interface) left
/// 7 pages of it resident in every process (issue #14). A longer datagram (one message longer
/// than this: a link with many VFs) is measured first (`MSG_PEEK | MSG_TRUNC`) and read whole.
const REQUEST_READ: usize = 8 * 1024;
/// How often an interrupted (`NLM_F_DUMP_INTR`) dump is retried.
const DUMP_ATTEMPTS: usize = 3;
/// Receive buffer of the monitor socket: room for bursts of notifications.
const MONITOR_RCVBUF: libc::c_int = 1 << 20;
/// At most this many datagrams per [`LinkMonitor::read_events`] call, so a flood of
/// notifications cannot starve the event loop (the descriptor stays readable).
const MONITOR_BATCH: usize = 256;

/// One address as listed by [`Rtnl::list_addrs`]: (address, prefix length, `IFA_F_*` flags).
pub type AddrEntry = (IpAddr, u8, u32);

/// A link as the kernel reports it (`RTM_NEWLINK`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkInfo {
    /// Interface index.
    pub index: u32,
    /// Interface name (`IFLA_IFNAME`); empty if the kernel sent none.
    pub name: String,
    /// Hardware address (`IFLA_ADDRESS`) when it is 6 bytes long (Ethernet).
    pub mac: Option<[u8; 6]>,
    /// `IFF_*` flags.
    pub flags: u32,
    /// `IFF_UP` and `IFF_RUNNING` both set: administratively up and operationally up (the kernel
    /// sets `IFF_RUNNING` when the operational state is UP or UNKNOWN, i.e. carrier present).
    pub up: bool,
    /// `IFLA_INFO_KIND` (`"macvlan"`, `"veth"`, `"vlan"`, ...); `None` for physical devices.
    pub kind: Option<String>,
    /// `IFLA_LINK`: the lower device of a macvlan or VLAN (same namespace), or a veth's peer.
    pub parent: Option<u32>,
    /// `IFLA_IFALIAS`, if set.
    pub alias: Option<String>,
    /// `IFLA_MACVLAN_MODE` of a macvlan.
    pub macvlan_mode: Option<MacvlanMode>,
}

/// The mode of a macvlan device (`IFLA_MACVLAN_MODE`, `enum macvlan_mode` in
/// `<linux/if_link.h>`). See [`crate::sys::vmac`] for why the virtual MAC uses `Bridge`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacvlanMode {
    /// `MACVLAN_MODE_PRIVATE` (1): no traffic between macvlans of one parent; a multicast frame
    /// whose *source* MAC is an up macvlan's goes to that macvlan only.
    Private,
    /// `MACVLAN_MODE_VEPA` (2): traffic between macvlans goes out and back via the switch.
    Vepa,
    /// `MACVLAN_MODE_BRIDGE` (4): macvlans of one parent talk directly.
    Bridge,
    /// `MACVLAN_MODE_PASSTHRU` (8): one macvlan takes over the parent.
    Passthru,
    /// `MACVLAN_MODE_SOURCE` (16): receive by source MAC.
    Source,
    /// Any other value.
    Other(u32),
}

impl MacvlanMode {
    fn to_nl(self) -> MacVlanMode {
        match self {
            MacvlanMode::Private => MacVlanMode::Private,
            MacvlanMode::Vepa => MacVlanMode::Vepa,
            MacvlanMode::Bridge => MacVlanMode::Bridge,
            MacvlanMode::Passthru => MacVlanMode::Passthrough,
            MacvlanMode::Source => MacVlanMode::Source,
            MacvlanMode::Other(v) => MacVlanMode::Other(v),
        }
    }

    fn from_nl(m: MacVlanMode) -> MacvlanMode {
        match m {
            MacVlanMode::Private => MacvlanMode::Private,
            MacVlanMode::Vepa => MacvlanMode::Vepa,
            MacVlanMode::Bridge => MacvlanMode::Bridge,
            MacVlanMode::Passthrough => MacvlanMode::Passthru,
            MacVlanMode::Source => MacvlanMode::Source,
            MacVlanMode::Other(v) => MacvlanMode::Other(v),
            // The enum is non-exhaustive; map anything new through its number.
            other => MacvlanMode::Other(u32::from(other)),
        }
    }
}

/// A change seen by [`LinkMonitor`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetEvent {
    /// `RTM_NEWLINK` / `RTM_DELLINK`.
    Link {
        /// Interface index.
        ifindex: u32,
        /// Interface name (empty if the message carried none).
        name: String,
        /// `IFF_UP && IFF_RUNNING` (false for a deleted link).
        up: bool,
        /// The link was deleted (`RTM_DELLINK`).
        deleted: bool,
    },
    /// `RTM_NEWADDR` / `RTM_DELADDR` (IPv4 or IPv6).
    Addr {
        /// Interface index.
        ifindex: u32,
        /// The local address.
        addr: IpAddr,
        /// Prefix length.
        prefix: u8,
        /// Added (or changed, e.g. DAD finished) rather than deleted.
        added: bool,
    },
    /// Notifications were lost (`ENOBUFS`) or one could not be parsed: re-read the state.
    Overrun,
}

/// What a request waits for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// An `NLMSG_ERROR` with code 0.
    Ack,
    /// One reply message (or an error).
    Reply,
    /// Messages until `NLMSG_DONE`.
    Dump,
}

/// A synchronous rtnetlink request socket. See the module documentation.
pub struct Rtnl {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
    /// Bytes of replies received so far (see [`Rtnl::bytes_received`]).
    received: u64,
}

impl std::fmt::Debug for Rtnl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rtnl")
            .field("fd", &self.sock.as_raw_fd())
            .field("seq", &self.seq)
            .finish()
    }
}

impl Rtnl {
    /// Opens a `NETLINK_ROUTE` socket in the caller's network namespace.
    pub fn open() -> io::Result<Rtnl> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        let timeout = libc::timeval {
            tv_sec: REPLY_TIMEOUT.as_secs() as libc::time_t,
            tv_usec: libc::suseconds_t::from(REPLY_TIMEOUT.subsec_micros() as i32),
        };
        super::setsockopt(sock.as_fd(), libc::SOL_SOCKET, libc::SO_RCVTIMEO, &timeout)?;
        // Strict checking (Linux 4.20) makes the kernel honour the filters of a dump request
        // (`ifa_index` of [`Rtnl::list_addrs`]); older kernels refuse the option and dump
        // everything, which is filtered here.
        let _ = super::setsockopt_int(
            sock.as_fd(),
            libc::SOL_NETLINK,
            libc::NETLINK_GET_STRICT_CHK,
            1,
        );
        // Start from a per-process value so that two sockets of one process are easy to tell
        // apart in `nlmon` captures; any value works.
        let seq = std::process::id().wrapping_mul(0x9e37_79b9) | 1;
        Ok(Rtnl {
            sock,
            seq,
            buf: Vec::with_capacity(RECV_BUF),
            received: 0,
        })
    }

    /// Bytes of netlink replies this socket has received since [`Rtnl::open`], every message
    /// counted (also those filtered out afterwards): what a request really cost, e.g. whether a
    /// [`Rtnl::list_addrs`] dump carried only the interface's addresses.
    pub fn bytes_received(&self) -> u64 {
        self.received
    }

    /// Adds `ip/prefix` to interface `ifindex` (`RTM_NEWADDR`, `NLM_F_CREATE | NLM_F_EXCL`).
    ///
    /// IPv6 addresses get `IFA_F_NODAD`: a VIP must be usable at once (RFC 9568 §6.4.2 has the
    /// Active answer for it immediately), and two routers owning it is VRRP's job, not DAD's.
    /// An address that already exists (`EEXIST`) is success.
    pub fn add_addr(&mut self, ifindex: u32, ip: IpAddr, prefix: u8) -> io::Result<()> {
        let msg = addr_message(ifindex, ip, prefix)?;
        match self.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            Expect::Ack,
        ) {
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => Ok(()),
            other => other.map(drop),
        }
    }

    /// Removes `ip/prefix` from interface `ifindex` (`RTM_DELADDR`). An address that is not there
    /// (`EADDRNOTAVAIL`, `ENOENT`) is success.
    pub fn del_addr(&mut self, ifindex: u32, ip: IpAddr, prefix: u8) -> io::Result<()> {
        let msg = addr_message(ifindex, ip, prefix)?;
        match self.request(RouteNetlinkMessage::DelAddress(msg), NLM_F_ACK, Expect::Ack) {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EADDRNOTAVAIL) | Some(libc::ENOENT)
                ) =>
            {
                Ok(())
            }
            other => other.map(drop),
        }
    }

    /// Every IPv4 and IPv6 address of interface `ifindex`, in the kernel's order (for IPv4:
    /// primaries before their secondaries, each in the order added), as
    /// `(address, prefix length, IFA_F_* flags)`.
    ///
    /// The request carries `ifa_index`, so the kernel (with `NETLINK_GET_STRICT_CHK`, set by
    /// [`Rtnl::open`]) dumps only this interface's addresses rather than every address of the
    /// host; the answer is filtered here too, for kernels without strict checking.
    pub fn list_addrs(&mut self, ifindex: u32) -> io::Result<Vec<AddrEntry>> {
        self.dump(
            RouteNetlinkMessage::GetAddress(addr_dump_request(ifindex)),
            |m| match m {
                RouteNetlinkMessage::NewAddress(a) if a.header.index == ifindex => addr_entry(&a),
                _ => None,
            },
        )
    }

    /// The link with index `ifindex` (`RTM_GETLINK`). A missing link is `ENODEV`.
    pub fn link(&mut self, ifindex: u32) -> io::Result<LinkInfo> {
        let mut msg = LinkMessage::default();
        msg.header.index = ifindex;
        let replies = self.request(RouteNetlinkMessage::GetLink(msg), 0, Expect::Reply)?;
        replies
            .iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_info(l)),
                _ => None,
            })
            .ok_or_else(|| invalid_data("RTM_GETLINK: no RTM_NEWLINK in the reply"))
    }

    /// The link named `name` (`RTM_GETLINK` with `IFLA_IFNAME`). A missing link is `ENODEV`.
    pub fn link_by_name(&mut self, name: &str) -> io::Result<LinkInfo> {
        check_ifname(name)?;
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        let replies = self.request(RouteNetlinkMessage::GetLink(msg), 0, Expect::Reply)?;
        replies
            .iter()
            .find_map(|m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_info(l)),
                _ => None,
            })
            .ok_or_else(|| invalid_data("RTM_GETLINK: no RTM_NEWLINK in the reply"))
    }

    /// Every link of the namespace (`RTM_GETLINK` dump), in index order.
    pub fn list_links(&mut self) -> io::Result<Vec<LinkInfo>> {
        self.dump(
            RouteNetlinkMessage::GetLink(LinkMessage::default()),
            |m| match m {
                RouteNetlinkMessage::NewLink(l) => Some(link_info(&l)),
                _ => None,
            },
        )
    }

    /// Creates a macvlan named `name` on top of `parent` with hardware address `mac` and mode
    /// `mode`, administratively down, and returns its index. A name already in use is
    /// `EEXIST`; a missing parent `ENODEV` (or `EINVAL` on some kernels).
    pub fn create_macvlan(
        &mut self,
        name: &str,
        parent: u32,
        mac: [u8; 6],
        mode: MacvlanMode,
    ) -> io::Result<u32> {
        check_ifname(name)?;
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.to_owned()));
        msg.attributes.push(LinkAttribute::Link(parent));
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            NlLinkInfo::Kind(InfoKind::MacVlan),
            NlLinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(mode.to_nl())])),
        ]));
        self.request(
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
            Expect::Ack,
        )?;
        Ok(self.link_by_name(name)?.index)
    }

    /// Deletes link `ifindex` (`RTM_DELLINK`). A link that is not there (`ENODEV`) is success.
    pub fn del_link(&mut self, ifindex: u32) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = ifindex;
        match self.request(RouteNetlinkMessage::DelLink(msg), NLM_F_ACK, Expect::Ack) {
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            other => other.map(drop),
        }
    }

    /// Sets or clears `IFF_UP` on link `ifindex` (`RTM_SETLINK`, change mask `IFF_UP`: no other
    /// flag is touched).
    pub fn set_link_up(&mut self, ifindex: u32, up: bool) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = ifindex;
        msg.header.flags = if up {
            LinkFlags::Up
        } else {
            LinkFlags::empty()
        };
        msg.header.change_mask = LinkFlags::Up;
        self.request(RouteNetlinkMessage::SetLink(msg), NLM_F_ACK, Expect::Ack)
            .map(drop)
    }

    /// Sets the hardware address of link `ifindex` (`RTM_SETLINK` with `IFLA_ADDRESS`).
    pub fn set_link_address(&mut self, ifindex: u32, mac: [u8; 6]) -> io::Result<()> {
        let mut msg = LinkMessage::default();
        msg.header.index = ifindex;
        msg.attributes.push(LinkAttribute::Address(mac.to_vec()));
        self.request(RouteNetlinkMessage::SetLink(msg), NLM_F_ACK, Expect::Ack)
            .map(drop)
    }

    /// Sets the alias (`IFLA_IFALIAS`, at most 255 bytes) of link `ifindex`; an empty string
    /// removes it.
    pub fn set_link_alias(&mut self, ifindex: u32, alias: &str) -> io::Result<()> {
        if alias.len() > 255 || alias.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "interface alias longer than 255 bytes or with a NUL",
            ));
        }
        let mut msg = LinkMessage::default();
        msg.header.index = ifindex;
        msg.attributes
            .push(LinkAttribute::IfAlias(alias.to_owned()));
        self.request(RouteNetlinkMessage::SetLink(msg), NLM_F_ACK, Expect::Ack)
            .map(drop)
    }

    /// The link-layer address the kernel's neighbour table holds for `ip` on interface
    /// `ifindex` (`RTM_GETNEIGH` dump), if the entry is usable: REACHABLE, STALE, DELAY, PROBE,
    /// PERMANENT or NOARP with a 6-byte address. INCOMPLETE, FAILED and absent entries are
    /// `None`.
    pub fn neighbour(&mut self, ifindex: u32, ip: IpAddr) -> io::Result<Option<[u8; 6]>> {
        let mut msg = NeighbourMessage::default();
        msg.header.family = match ip {
            IpAddr::V4(_) => AddressFamily::Inet,
            IpAddr::V6(_) => AddressFamily::Inet6,
        };
        let found = self.dump(RouteNetlinkMessage::GetNeighbour(msg), |m| match m {
            RouteNetlinkMessage::NewNeighbour(n) if n.header.ifindex == ifindex => {
                neighbour_mac(&n, ip)
            }
            _ => None,
        })?;
        Ok(found.first().copied())
    }

    /// Runs a dump, retrying when the kernel marks it interrupted, and keeps what `pick` makes
    /// of each message. Each message is parsed, handed to `pick` and dropped before the next
    /// one is parsed: a dump of many addresses (one per instance when many run on one
    /// interface) never holds more than one parsed message, so its transient heap stays small
    /// and does not scatter the heap (issue #14).
    fn dump<T>(
        &mut self,
        msg: RouteNetlinkMessage,
        mut pick: impl FnMut(RouteNetlinkMessage) -> Option<T>,
    ) -> io::Result<Vec<T>> {
        let mut last = None;
        for _ in 0..DUMP_ATTEMPTS {
            // A fresh list per attempt: an interrupted dump's entries are not kept.
            let mut out = Vec::new();
            let done = self.request_each(msg.clone(), NLM_F_DUMP, Expect::Dump, &mut |m| {
                out.extend(pick(m))
            });
            match done {
                Ok(()) => return Ok(out),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from(io::ErrorKind::Interrupted)))
    }

    /// Sends one request and collects its reply according to `expect`.
    fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        expect: Expect,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        let mut all = Vec::new();
        self.request_each(msg, flags, expect, &mut |m| all.push(m))?;
        Ok(all)
    }

    /// Reads the next datagram into `self.buf` whole ([`recv_whole`]), returning its length.
    fn recv_datagram(&mut self) -> io::Result<usize> {
        reserve_recv_buf(&mut self.buf);
        recv_whole(self.sock.as_raw_fd(), &mut self.buf, REQUEST_READ)
    }

    /// Sends one request and hands each message of its reply to `each`, in order, according to
    /// `expect`.
    fn request_each(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
        expect: Expect,
        each: &mut dyn FnMut(RouteNetlinkMessage),
    ) -> io::Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | flags;
        header.sequence_number = seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(msg));
        packet.finalize();
        let mut out = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut out);
        let sent = super::retry_io(|| self.sock.send(&out, 0))?;
        if sent != out.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "netlink: short send",
            ));
        }

        drop(out);
        let deadline = Instant::now() + REPLY_TIMEOUT;
        let mut interrupted = false;
        loop {
            if Instant::now() >= deadline {
                return Err(timed_out());
            }
            let n = match self.recv_datagram() {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(timed_out()),
                Err(e) => return Err(e),
            };
            self.received = self.received.saturating_add(n as u64);
            if n > self.buf.len() {
                return Err(invalid_data(
                    "netlink: reply larger than the receive buffer",
                ));
            }
            for item in split_datagram(&self.buf) {
                let (hdr, body) = item?;
                if hdr.seq != seq {
                    continue; // a late reply to an earlier request
                }
                match hdr.kind {
                    NLMSG_ERROR | NLMSG_DONE => {
                        let parsed = NetlinkMessage::<RouteNetlinkMessage>::deserialize(body)
                            .map_err(|e| invalid_data(format!("netlink: {e}")))?;
                        match parsed.payload {
                            NetlinkPayload::Error(err) => match err.code {
                                Some(_) => return Err(err.to_io()),
                                // An ACK; for Reply/Dump it only comes after the data.
                                None => return Ok(()),
                            },
                            NetlinkPayload::Done(done) => {
                                if done.code < 0 {
                                    return Err(io::Error::from_raw_os_error(-done.code));
                                }
                                if interrupted {
                                    return Err(io::Error::new(
                                        io::ErrorKind::Interrupted,
                                        "netlink dump interrupted",
                                    ));
                                }
                                return Ok(());
                            }
                            _ => {}
                        }
                    }
                    _ => {
                        if hdr.flags & NLM_F_DUMP_INTR != 0 {
                            interrupted = true;
                        }
                        match NetlinkMessage::<RouteNetlinkMessage>::deserialize(body) {
                            Ok(m) => {
                                if let NetlinkPayload::InnerMessage(inner) = m.payload {
                                    each(inner);
                                }
                            }
                            // In a dump, skip an entry the crate cannot parse (e.g. an attribute
                            // from a newer kernel) rather than fail the whole listing.
                            Err(_) if expect == Expect::Dump => {}
                            Err(e) => return Err(invalid_data(format!("netlink: {e}"))),
                        }
                        if expect == Expect::Reply && hdr.flags & NLM_F_MULTIPART == 0 {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }
}

/// Reads the next datagram of socket `fd` into `buf` whole, returning its length: peeked first
/// with `limit` bytes (`MSG_PEEK | MSG_TRUNC` answers its full length and copies what fits),
/// then dequeued by a zero-length read when it fitted, else read again whole (`buf` grown if
/// it has to). Only the caller reads `fd`, so the datagram peeked is the one read.
fn recv_whole(fd: RawFd, buf: &mut Vec<u8>, limit: usize) -> io::Result<usize> {
    let n = recv_into(fd, buf, limit, libc::MSG_PEEK | libc::MSG_TRUNC)?;
    if n <= buf.len() {
        // SAFETY: a zero-length recv(2) writes no memory; it only dequeues the datagram just
        // peeked.
        let rc = unsafe { libc::recv(fd, std::ptr::null_mut(), 0, libc::MSG_TRUNC) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        return Ok(n);
    }
    if n > buf.capacity() {
        buf.reserve_exact(n);
    }
    recv_into(fd, buf, n, libc::MSG_TRUNC)
}

/// A receive buffer given back by a `release_buffer` is [`RECV_BUF`] again before a read.
fn reserve_recv_buf(buf: &mut Vec<u8>) {
    if buf.capacity() < RECV_BUF {
        buf.clear();
        buf.reserve_exact(RECV_BUF);
    }
}

/// recv(2) of at most `limit` bytes (and at most `buf`'s capacity) into `buf`, which is
/// cleared first and then holds what was copied. Returns recv(2)'s answer: with `MSG_TRUNC`
/// the datagram's full length, which may exceed what was copied.
fn recv_into(fd: RawFd, buf: &mut Vec<u8>, limit: usize, flags: libc::c_int) -> io::Result<usize> {
    buf.clear();
    let len = limit.min(buf.capacity());
    // SAFETY: the kernel writes at most `len` bytes at `buf`'s start, within its capacity.
    let rc = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), len, flags) };
    let n = usize::try_from(rc).map_err(|_| io::Error::last_os_error())?;
    // SAFETY: the first min(n, len) bytes were just written by the kernel (u8 has no invalid
    // values), and len <= capacity.
    unsafe { buf.set_len(n.min(len)) };
    Ok(n)
}

impl Rtnl {
    /// Gives the receive buffer back between requests: its mapping goes (the next request maps
    /// a new one), so neither the pages a dump's reply wrote nor the page of the allocator's
    /// header stay resident while the loop makes no request (issue #14). Returns the bytes of
    /// the buffer's capacity.
    pub fn release_buffer(&mut self) -> usize {
        std::mem::take(&mut self.buf).capacity()
    }
}

impl AsRawFd for Rtnl {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

/// A non-blocking subscriber to link and address notifications. See the module documentation.
pub struct LinkMonitor {
    sock: Socket,
    buf: Vec<u8>,
}

impl std::fmt::Debug for LinkMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkMonitor")
            .field("fd", &self.sock.as_raw_fd())
            .finish()
    }
}

impl LinkMonitor {
    /// Opens the monitor socket in the caller's network namespace, subscribed to
    /// `RTNLGRP_LINK`, `RTNLGRP_IPV4_IFADDR` and `RTNLGRP_IPV6_IFADDR`.
    pub fn open() -> io::Result<LinkMonitor> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        for group in [
            libc::RTNLGRP_LINK,
            libc::RTNLGRP_IPV4_IFADDR,
            libc::RTNLGRP_IPV6_IFADDR,
        ] {
            sock.add_membership(group)?;
        }
        // Best effort: a smaller buffer only makes overruns likelier, and they are handled.
        let _ = super::setsockopt_int(
            sock.as_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            MONITOR_RCVBUF,
        );
        sock.set_non_blocking(true)?;
        Ok(LinkMonitor {
            sock,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// Gives the receive buffer back between reads, as [`Rtnl::release_buffer`] (issue #14).
    /// Returns the bytes of its capacity.
    pub fn release_buffer(&mut self) -> usize {
        std::mem::take(&mut self.buf).capacity()
    }

    /// Reads every queued notification (up to a batch limit) without blocking. An empty vector
    /// means nothing was pending. `ENOBUFS` (lost notifications) and unparsable messages yield
    /// [`NetEvent::Overrun`]; other errors are returned.
    pub fn read_events(&mut self) -> io::Result<Vec<NetEvent>> {
        let mut events = Vec::new();
        reserve_recv_buf(&mut self.buf);
        for _ in 0..MONITOR_BATCH {
            self.buf.clear();
            let n = match self.sock.recv(&mut self.buf, libc::MSG_TRUNC) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    push_overrun(&mut events);
                    continue;
                }
                Err(e) => return Err(e),
            };
            if n > self.buf.len() {
                push_overrun(&mut events);
                continue;
            }
            for item in split_datagram(&self.buf) {
                let Ok((hdr, body)) = item else {
                    push_overrun(&mut events);
                    break;
                };
                if hdr.kind == NLMSG_ERROR || hdr.kind == NLMSG_DONE || hdr.kind < 16 {
                    continue; // control messages are not notifications
                }
                match NetlinkMessage::<RouteNetlinkMessage>::deserialize(body) {
                    Ok(m) => {
                        if let NetlinkPayload::InnerMessage(inner) = m.payload {
                            if let Some(ev) = net_event(&inner) {
                                events.push(ev);
                            }
                        }
                    }
                    Err(_) => push_overrun(&mut events),
                }
            }
        }
        Ok(events)
    }
}

impl AsRawFd for LinkMonitor {
    fn as_raw_fd(&self) -> RawFd {
        self.sock.as_raw_fd()
    }
}

impl AsFd for LinkMonitor {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

/// Appends `Overrun` unless the previous event already is one.
fn push_overrun(events: &mut Vec<NetEvent>) {
    if events.last() != Some(&NetEvent::Overrun) {
        events.push(NetEvent::Overrun);
    }
}

/// The fields of a netlink header we route on.
struct MsgHeader {
    kind: u16,
    flags: u16,
    seq: u32,
}

/// Splits one datagram into its netlink messages (each `NLMSG_ALIGN`ed), with bounds checks.
fn split_datagram(buf: &[u8]) -> impl Iterator<Item = io::Result<(MsgHeader, &[u8])>> {
    let mut offset = 0usize;
    let mut failed = false;
    std::iter::from_fn(move || {
        if failed {
            return None;
        }
        let rest = buf.get(offset..).filter(|r| !r.is_empty())?;
        let parsed = NetlinkBuffer::new_checked(rest)
            .map_err(|e| invalid_data(format!("netlink: {e}")))
            .and_then(|nb| {
                let len = usize::try_from(nb.length())
                    .map_err(|_| invalid_data("netlink: bad length"))?;
                let body = rest
                    .get(..len)
                    .ok_or_else(|| invalid_data("netlink: truncated message"))?;
                let hdr = MsgHeader {
                    kind: nb.message_type(),
                    flags: nb.flags(),
                    seq: nb.sequence_number(),
                };
                Ok((hdr, body, len))
            });
        match parsed {
            Ok((hdr, body, len)) => {
                // new_checked guarantees len >= 16, so this always advances.
                offset = offset.saturating_add((len + 3) & !3);
                Some(Ok((hdr, body)))
            }
            Err(e) => {
                failed = true;
                Some(Err(e))
            }
        }
    })
}

/// Builds the `ifaddrmsg` + attributes for adding or deleting `ip/prefix` on `ifindex`.
/// The `RTM_GETADDR` dump request of [`Rtnl::list_addrs`]: every family, `ifa_index` =
/// `ifindex` (the other header fields zero, as strict checking requires).
fn addr_dump_request(ifindex: u32) -> AddressMessage {
    let mut msg = AddressMessage::default();
    msg.header.index = ifindex;
    msg
}

fn addr_message(ifindex: u32, ip: IpAddr, prefix: u8) -> io::Result<AddressMessage> {
    let max = if ip.is_ipv4() { 32 } else { 128 };
    if prefix > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("prefix length {prefix} too long for {ip}"),
        ));
    }
    let mut msg = AddressMessage::default();
    msg.header.index = ifindex;
    msg.header.prefix_len = prefix;
    msg.header.scope = AddressScope::Universe;
    match ip {
        IpAddr::V4(_) => {
            msg.header.family = AddressFamily::Inet;
        }
        IpAddr::V6(v6) => {
            msg.header.family = AddressFamily::Inet6;
            msg.header.flags = AddressHeaderFlags::Nodad;
            if crate::proto::packet::is_ipv6_link_local(&v6) {
                msg.header.scope = AddressScope::Link;
            }
        }
    }
    // As iproute2 does: IFA_LOCAL is the address; IFA_ADDRESS the same (no point-to-point peer).
    msg.attributes.push(AddressAttribute::Local(ip));
    msg.attributes.push(AddressAttribute::Address(ip));
    Ok(msg)
}

/// `(address, prefix, flags)` of an `RTM_NEWADDR` message: the address is `IFA_LOCAL` if present
/// (on point-to-point links `IFA_ADDRESS` is the peer), else `IFA_ADDRESS`; the flags are
/// `IFA_FLAGS` if present (32 bits), else the 8-bit header flags.
fn addr_entry(msg: &AddressMessage) -> Option<AddrEntry> {
    let mut local = None;
    let mut address = None;
    let mut flags = u32::from(msg.header.flags.bits());
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Flags(f) => flags = f.bits(),
            _ => {}
        }
    }
    local
        .or(address)
        .map(|ip| (ip, msg.header.prefix_len, flags))
}

/// The [`LinkInfo`] of an `RTM_NEWLINK` / `RTM_DELLINK` message.
fn link_info(msg: &LinkMessage) -> LinkInfo {
    let mut name = String::new();
    let mut mac = None;
    let mut kind = None;
    let mut parent = None;
    let mut alias = None;
    let mut macvlan_mode = None;
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => name.clone_from(n),
            LinkAttribute::Address(bytes) => mac = <[u8; 6]>::try_from(bytes.as_slice()).ok(),
            LinkAttribute::Link(l) => parent = Some(*l),
            LinkAttribute::IfAlias(a) => alias = Some(a.clone()),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    match info {
                        NlLinkInfo::Kind(k) => kind = Some(k.to_string()),
                        NlLinkInfo::Data(InfoData::MacVlan(data)) => {
                            for d in data {
                                if let InfoMacVlan::Mode(m) = d {
                                    macvlan_mode = Some(MacvlanMode::from_nl(*m));
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    let flags = msg.header.flags;
    LinkInfo {
        index: msg.header.index,
        name,
        mac,
        flags: flags.bits(),
        up: flags.contains(LinkFlags::Up) && flags.contains(LinkFlags::Running),
        kind,
        parent,
        alias,
        macvlan_mode,
    }
}

/// The MAC of neighbour entry `msg` if it is for `ip` and usable (see [`Rtnl::neighbour`]).
fn neighbour_mac(msg: &NeighbourMessage, ip: IpAddr) -> Option<[u8; 6]> {
    if !matches!(
        msg.header.state,
        NeighbourState::Reachable
            | NeighbourState::Stale
            | NeighbourState::Delay
            | NeighbourState::Probe
            | NeighbourState::Permanent
            | NeighbourState::Noarp
    ) {
        return None;
    }
    let mut dst = None;
    let mut lladdr = None;
    for attr in &msg.attributes {
        match attr {
            NeighbourAttribute::Destination(NeighbourAddress::Inet(a)) => {
                dst = Some(IpAddr::V4(*a));
            }
            NeighbourAttribute::Destination(NeighbourAddress::Inet6(a)) => {
                dst = Some(IpAddr::V6(*a));
            }
            NeighbourAttribute::LinkLayerAddress(b) => {
                lladdr = <[u8; 6]>::try_from(b.as_slice()).ok();
            }
            _ => {}
        }
    }
    if dst == Some(ip) {
        lladdr
    } else {
        None
    }
}

/// An interface name the kernel accepts: 1 to 15 bytes, no NUL, `/`, `:` or whitespace
/// (`dev_valid_name()`), not `.` or `..`.
pub fn check_ifname(name: &str) -> io::Result<()> {
    let bad = name.is_empty()
        || name.len() >= libc::IFNAMSIZ
        || name == "."
        || name == ".."
        || name
            .chars()
            .any(|c| c == '\0' || c == '/' || c == ':' || c.is_whitespace());
    if bad {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid interface name {name:?}"),
        ));
    }
    Ok(())
}

/// The event a notification stands for, if it is one we report.
fn net_event(msg: &RouteNetlinkMessage) -> Option<NetEvent> {
    match msg {
        RouteNetlinkMessage::NewLink(l) | RouteNetlinkMessage::DelLink(l) => {
            let deleted = matches!(msg, RouteNetlinkMessage::DelLink(_));
            let info = link_info(l);
            Some(NetEvent::Link {
                ifindex: info.index,
                name: info.name,
                up: info.up && !deleted,
                deleted,
            })
        }
        RouteNetlinkMessage::NewAddress(a) | RouteNetlinkMessage::DelAddress(a) => {
            let (addr, prefix, _) = addr_entry(a)?;
            Some(NetEvent::Addr {
                ifindex: a.header.index,
                addr,
                prefix,
                added: matches!(msg, RouteNetlinkMessage::NewAddress(_)),
            })
        }
        _ => None,
    }
}

fn invalid_data(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

fn timed_out() -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "netlink: no reply from the kernel within {} ms",
            REPLY_TIMEOUT.as_millis()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    /// Issue 14: between requests the receive buffers hold no memory, and a request or a
    /// read after the release works as before.
    #[test]
    fn released_receive_buffers_hold_nothing_and_come_back_for_the_next_read() {
        let mut nl = Rtnl::open().unwrap();
        assert_eq!(nl.link_by_name("lo").unwrap().name, "lo");
        assert_eq!(nl.release_buffer(), RECV_BUF);
        assert_eq!(nl.buf.capacity(), 0);
        assert_eq!(nl.link_by_name("lo").unwrap().name, "lo");
        assert!(nl.buf.capacity() >= RECV_BUF);
        let mut m = LinkMonitor::open().unwrap();
        assert_eq!(m.release_buffer(), RECV_BUF);
        assert_eq!(m.buf.capacity(), 0);
        assert!(m.read_events().is_ok());
        assert!(m.buf.capacity() >= RECV_BUF);
    }

    /// Issue 13, defect 3: the address dump asks for one interface, not the whole host.
    #[test]
    fn addr_dump_request_names_the_interface() {
        let m = addr_dump_request(42);
        assert_eq!(m.header.index, 42);
        assert_eq!(m.header.family, AddressFamily::Unspec);
        assert_eq!(m.header.prefix_len, 0);
        assert_eq!(m.header.scope, AddressScope::Universe);
        assert!(m.attributes.is_empty());
        // On the wire: struct ifaddrmsg, ifa_index at offset 4.
        use netlink_packet_core::Emitable;
        let mut buf = vec![0u8; m.buffer_len()];
        m.emit(&mut buf);
        assert_eq!(&buf[4..8], &42u32.to_ne_bytes());
    }

    #[test]
    fn addr_message_v6_nodad_and_scope() {
        let ip: IpAddr = "fe80::53".parse().unwrap();
        let m = addr_message(7, ip, 64).unwrap();
        assert_eq!(m.header.family, AddressFamily::Inet6);
        assert!(m.header.flags.contains(AddressHeaderFlags::Nodad));
        assert_eq!(m.header.scope, AddressScope::Link);
        assert_eq!(m.header.index, 7);
        let g: IpAddr = "2001:db8::fe".parse().unwrap();
        assert_eq!(
            addr_message(7, g, 64).unwrap().header.scope,
            AddressScope::Universe
        );
    }

    #[test]
    fn addr_message_rejects_long_prefix() {
        assert!(addr_message(1, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 33).is_err());
        assert!(addr_message(1, IpAddr::V6(Ipv6Addr::LOCALHOST), 129).is_err());
        assert!(addr_message(1, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 32).is_ok());
    }

    #[test]
    fn recv_whole_reads_short_and_long_datagrams_whole_in_order() {
        use std::os::unix::net::UnixDatagram;
        let (tx, rx) = UnixDatagram::pair().unwrap();
        let sizes = [
            100usize,
            8 * 1024,
            8 * 1024 + 1,
            20_000,
            RECV_BUF + 5000,
            0,
            16,
        ];
        for (i, &n) in sizes.iter().enumerate() {
            tx.send(&vec![i as u8 + 1; n]).unwrap();
        }
        let mut buf = Vec::with_capacity(RECV_BUF);
        for (i, &n) in sizes.iter().enumerate() {
            let got = recv_whole(rx.as_raw_fd(), &mut buf, 8 * 1024).unwrap();
            assert_eq!(got, n, "datagram {i}");
            assert_eq!(buf.len(), n, "datagram {i}");
            assert!(buf.iter().all(|&b| b == i as u8 + 1), "datagram {i}");
        }
        // Nothing left: every datagram was dequeued exactly once.
        rx.set_nonblocking(true).unwrap();
        assert_eq!(
            rx.recv(&mut [0u8; 16]).unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
    }

    #[test]
    fn addr_entry_prefers_local_and_flags_attr() {
        let mut m = AddressMessage::default();
        m.header.prefix_len = 24;
        m.header.flags = AddressHeaderFlags::Secondary;
        m.attributes
            .push(AddressAttribute::Address(IpAddr::V4(Ipv4Addr::new(
                192, 0, 2, 9,
            ))));
        assert_eq!(
            addr_entry(&m),
            Some((IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)), 24, IFA_F_SECONDARY))
        );
        m.attributes
            .push(AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(
                192, 0, 2, 1,
            ))));
        m.attributes.push(AddressAttribute::Flags(
            netlink_packet_route::address::AddressFlags::from_bits_retain(0x480),
        ));
        assert_eq!(
            addr_entry(&m),
            Some((IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 24, 0x480))
        );
    }

    #[test]
    fn split_datagram_rejects_garbage() {
        // Too short for a header.
        let items: Vec<_> = split_datagram(&[1, 2, 3]).collect();
        assert_eq!(items.len(), 1);
        assert!(items[0].is_err());
        // Length field larger than the buffer.
        let mut b = [0u8; 16];
        b[0] = 200;
        let items: Vec<_> = split_datagram(&b).collect();
        assert!(items[0].is_err());
        // Empty datagram: nothing.
        assert_eq!(split_datagram(&[]).count(), 0);
    }

    #[test]
    fn split_datagram_walks_aligned_messages() {
        // Two NLMSG_NOOP messages: one of 17 bytes (padded to 20), one of 16.
        let mut b = vec![0u8; 36];
        b[0] = 17;
        b[4] = 1; // NLMSG_NOOP
        b[8] = 5; // seq
        b[20] = 16;
        b[24] = 1;
        b[28] = 6;
        let seqs: Vec<u32> = split_datagram(&b).map(|r| r.unwrap().0.seq).collect();
        assert_eq!(seqs, vec![5, 6]);
    }

    #[test]
    fn link_info_reads_macvlan_attributes() {
        let mut l = LinkMessage::default();
        l.header.index = 9;
        l.attributes.push(LinkAttribute::IfName("vr3.51".into()));
        l.attributes
            .push(LinkAttribute::Address(vec![0, 0, 0x5e, 0, 1, 51]));
        l.attributes.push(LinkAttribute::Link(3));
        l.attributes
            .push(LinkAttribute::IfAlias("vrrpd vmac".into()));
        l.attributes.push(LinkAttribute::LinkInfo(vec![
            NlLinkInfo::Kind(InfoKind::MacVlan),
            NlLinkInfo::Data(InfoData::MacVlan(vec![InfoMacVlan::Mode(
                MacVlanMode::Bridge,
            )])),
        ]));
        let info = link_info(&l);
        assert_eq!(info.index, 9);
        assert_eq!(info.name, "vr3.51");
        assert_eq!(info.mac, Some([0, 0, 0x5e, 0, 1, 51]));
        assert_eq!(info.kind.as_deref(), Some("macvlan"));
        assert_eq!(info.parent, Some(3));
        assert_eq!(info.alias.as_deref(), Some("vrrpd vmac"));
        assert_eq!(info.macvlan_mode, Some(MacvlanMode::Bridge));
        for m in [
            MacvlanMode::Private,
            MacvlanMode::Vepa,
            MacvlanMode::Bridge,
            MacvlanMode::Passthru,
            MacvlanMode::Source,
        ] {
            assert_eq!(MacvlanMode::from_nl(m.to_nl()), m);
        }
        // A physical device: no kind, no parent.
        let plain = link_info(&LinkMessage::default());
        assert_eq!((plain.kind, plain.parent, plain.alias), (None, None, None));
    }

    #[test]
    fn neighbour_mac_needs_a_usable_entry_for_the_address() {
        let gw = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254));
        let mut n = NeighbourMessage::default();
        n.header.family = AddressFamily::Inet;
        n.header.state = NeighbourState::Stale;
        n.attributes
            .push(NeighbourAttribute::Destination(NeighbourAddress::Inet(
                Ipv4Addr::new(192, 0, 2, 254),
            )));
        n.attributes.push(NeighbourAttribute::LinkLayerAddress(vec![
            2, 0, 0, 0, 0, 0x0b,
        ]));
        assert_eq!(neighbour_mac(&n, gw), Some([2, 0, 0, 0, 0, 0x0b]));
        assert_eq!(
            neighbour_mac(&n, IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))),
            None
        );
        for bad in [
            NeighbourState::Incomplete,
            NeighbourState::Failed,
            NeighbourState::None,
        ] {
            n.header.state = bad;
            assert_eq!(neighbour_mac(&n, gw), None, "{bad:?}");
        }
        n.header.state = NeighbourState::Permanent;
        n.attributes.pop();
        assert_eq!(neighbour_mac(&n, gw), None, "no lladdr");
    }

    #[test]
    fn ifname_checks() {
        for good in ["eth0", "eth0.190", "vr3.51.6", "a", "012345678901234"] {
            assert!(check_ifname(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a:b",
            "a b",
            "0123456789012345",
            "a\0",
        ] {
            assert!(check_ifname(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn link_event_up_needs_up_and_running() {
        let mut l = LinkMessage::default();
        l.header.index = 3;
        l.header.flags = LinkFlags::Up;
        l.attributes.push(LinkAttribute::IfName("va".into()));
        let ev = net_event(&RouteNetlinkMessage::NewLink(l.clone()));
        assert_eq!(
            ev,
            Some(NetEvent::Link {
                ifindex: 3,
                name: "va".into(),
                up: false,
                deleted: false
            })
        );
        l.header.flags = LinkFlags::Up | LinkFlags::Running;
        let ev = net_event(&RouteNetlinkMessage::NewLink(l.clone()));
        assert_eq!(
            ev,
            Some(NetEvent::Link {
                ifindex: 3,
                name: "va".into(),
                up: true,
                deleted: false
            })
        );
        let ev = net_event(&RouteNetlinkMessage::DelLink(l));
        assert_eq!(
            ev,
            Some(NetEvent::Link {
                ifindex: 3,
                name: "va".into(),
                up: false,
                deleted: true
            })
        );
    }
}
