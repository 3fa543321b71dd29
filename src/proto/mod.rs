//! The protocol core, pure and deterministic: no sockets, no clocks, no logging side effects.
//!
//! - [`packet`]: typed views over advertisement bytes and the owned [`packet::Advert`] repr.
//! - [`fsm`]: the RFC 9568 §6 state machine, driven by `handle(now, event)`.
//! - [`timers`]: Skew_Time and Master_Down_Interval, nanosecond-exact.
//! - [`track`]: health trackers (checks, processes, interfaces, files) as priority inputs.
//! - [`counters`]: per-instance counters shared by every front end.
//! - [`carp`]: CARP version 2 as ucarp speaks it, the second advertisement protocol on IP
//!   protocol 112 (codec and its own election, same event/action shape as [`fsm`]).
//! - [`wire`]: the other byte layouts the shell sends (IPv4 header, ARP, NA, magic packet).
//! - [`group`]: the host group's verdict (`-M N`), pure, taking `now`.
//! - [`ra`]: when an IPv6 Active sends Router Advertisements (RFC 9568 §8.2, RFC 4861 §6.2).
//! - [`unicast`]: unicast peers: destinations and the source / destination / TTL receive check.
//! - [`accept`]: Accept_Mode: the packet filter a non-owner master needs, as data and script.
//!
//! Seams for what comes next:
//! - *A second advertisement protocol beside VRRP* (CARP is one): a codec and a state machine
//!   of its own under `proto/`, with the same `handle(now, event) -> actions` shape, so the
//!   daemon drives either through one path (`daemon::engine::Core`).
//! - *Priority inputs* (health trackers: scripts, routes, interfaces): the shell observes, the
//!   core decides. A tracker's result reaches the machine as an event (`Event::SetPriority`,
//!   a `FaultSet`/`FaultClear` reason); no tracker logic lives here and the machine needs no
//!   new I/O.
//! - *Transports* (multicast, or unicast peers: [`unicast`]): the shell sends and receives; the
//!   core sees each packet's source, destination and TTL and checks them against the
//!   configured [`unicast::Transport`], never where the packet came from.
//!
//! Time is a [`core::time::Duration`] since an arbitrary epoch chosen by the caller (the daemon uses
//! CLOCK_MONOTONIC; tests use a fake clock).
#![forbid(unsafe_code)]

pub mod accept;
pub mod carp;
pub mod counters;
pub mod fsm;
pub mod group;
pub mod packet;
pub mod ra;
pub mod timers;
pub mod track;
pub mod unicast;
pub mod wire;

/// How an instance is named in logs, hold reasons and atropos output: `eth1/52`
/// (interface/VRID).
pub fn tag(ifname: &str, vrid: u8) -> Tag<'_> {
    Tag { ifname, vrid }
}

/// See [`tag`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag<'a> {
    ifname: &'a str,
    vrid: u8,
}

impl core::fmt::Display for Tag<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}/{}", self.ifname, self.vrid)
    }
}

/// VRRP protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    /// VRRPv2, RFC 3768 (IPv4 only).
    V2,
    /// VRRPv3, RFC 9568 (IPv4 and IPv6).
    V3,
}

impl Version {
    /// The value of the header's version nibble.
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// Address family of a virtual router.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// IPv4: adverts to 224.0.0.18.
    V4,
    /// IPv6: adverts to ff02::12 (VRRPv3 only).
    V6,
}

impl Family {
    /// The family of an address (the one helper for it).
    pub fn of(a: core::net::IpAddr) -> Family {
        match a {
            core::net::IpAddr::V4(_) => Family::V4,
            core::net::IpAddr::V6(_) => Family::V6,
        }
    }
}

/// The form of the VRRPv3-over-IPv4 checksum (RFC 9568 §5.2.8, §1.1 item 4; RFC 5798 §5.2.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChecksumForm {
    /// Message preceded by the IPv4 pseudo-header (keepalived, FRR, nvrrp defaults). Our default.
    Pseudo,
    /// Message only, as RFC 9568 §5.2.8 says for IPv4 and as VRRPv2 does.
    Plain,
}

/// Why a received packet was discarded or noted, one counter each (RFC 9568 §7.1,
/// RFC 3768 §7.1, errata 8298-8301). Names match the counter names shown in state dumps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DiscardReason {
    /// R1: TTL / hop limit is not 255 (RFC 9568 §5.1.1.3, §5.1.2.3).
    BadTtl,
    /// R2: shorter than the length its address count implies (§7.1).
    BadLength,
    /// R3: version is not the configured one (§7.1).
    BadVersion,
    /// R4: type is not 1, ADVERTISEMENT (§5.2.2).
    BadType,
    /// R5: checksum matches no accepted form (§7.1).
    BadChecksum,
    /// R6: VRID is not ours (§7.1); silent.
    OtherVrid,
    /// R7: address count is 0 (§5.2.5, erratum 8299).
    BadAddrCount,
    /// R8: VRRPv3 Max Advertise Interval is 0 (erratum 8301).
    BadInterval,
    /// R9: IPv6 advert whose first address is not link-local (erratum 8300).
    BadV6FirstAddr,
    /// R10: we are the address owner and another router claims 255 (erratum 8298: noted, processed).
    OwnerConflict,
    /// R11: VRRPv2 authentication type differs, or is type 2 (IP AH), unsupported.
    BadAuthType,
    /// R11: VRRPv2 simple password differs (RFC 3768 §5.3.6).
    BadAuth,
    /// R12: address list differs (v2: discarded unless priority 255; v3: noted only).
    AddrMismatch,
    /// R13: advertisement interval differs (v2: discarded; v3: noted, the Backup adopts it).
    IntervalMismatch,
    /// R14: our own advert looped back.
    OwnPacket,
    /// Address family of the packet does not match the instance (e.g. IPv6 address in IPv4 VRRP).
    BadFamily,
    /// The other advertisement protocol on IP protocol 112: a CARP advert heard by a VRRP
    /// instance, or a VRRP advert heard by a CARP instance (see [`carp::classify`]). Never acted on.
    Foreign,
    /// CARP: an advert repeating a counter already accepted (a replayed frame; ucarp has no check).
    Replay,
    /// Unicast peers: the source is not a configured peer ([`unicast`]).
    NotPeer,
    /// Unicast peers: addressed to something other than our unicast source address (another
    /// local address, the VRRP group) ([`unicast`]).
    BadDestination,
    /// An ICMPv6 Router Solicitation failing the RFC 4861 §6.1.1 checks (hop limit, options).
    BadSolicit,
    /// The IP source is an address no router may send from ([`packet::is_router_source`]):
    /// unspecified, 0.0.0.0/8, multicast, loopback, 240.0.0.0/4 (broadcast included), IPv4-mapped.
    /// RFC 9568 §5.1.1.1 and §5.1.2.1 make it the sender's interface address; RFC 1122
    /// §3.2.1.3 forbids these as sources. The kernel lets some through (0.0.0.0 to
    /// 224.0.0.0/24, 240.0.0.0/4, `::`), and an advert from one must not elect a Master.
    /// Also: one of our virtual addresses as the source of an advert whose priority is neither
    /// 255 nor 0 (only the owner sends from it, RFC 9568 §5.2.4).
    BadSource,
    /// The advert came with IPv4 header options (IHL > 5) or an IPv6 Hop-by-Hop options
    /// header. RFC 9568 §7.1 has no such check; vrrpd discards them as hardening: no VRRP
    /// sender adds options (keepalived and FRR send a 20-byte IPv4 header and no IPv6 extension
    /// header), so such an advert is crafted, and it is dropped before it is parsed.
    IpOptions,
}

impl DiscardReason {
    /// Every reason, in counter order.
    pub const ALL: [DiscardReason; 23] = [
        DiscardReason::BadTtl,
        DiscardReason::BadLength,
        DiscardReason::BadVersion,
        DiscardReason::BadType,
        DiscardReason::BadChecksum,
        DiscardReason::OtherVrid,
        DiscardReason::BadAddrCount,
        DiscardReason::BadInterval,
        DiscardReason::BadV6FirstAddr,
        DiscardReason::OwnerConflict,
        DiscardReason::BadAuthType,
        DiscardReason::BadAuth,
        DiscardReason::AddrMismatch,
        DiscardReason::IntervalMismatch,
        DiscardReason::OwnPacket,
        DiscardReason::BadFamily,
        DiscardReason::Foreign,
        DiscardReason::Replay,
        DiscardReason::NotPeer,
        DiscardReason::BadDestination,
        DiscardReason::BadSolicit,
        DiscardReason::BadSource,
        DiscardReason::IpOptions,
    ];

    /// The counter name, as shown in state dumps (`bad_ttl`, `other_vrid`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DiscardReason::BadTtl => "bad_ttl",
            DiscardReason::BadLength => "bad_length",
            DiscardReason::BadVersion => "bad_version",
            DiscardReason::BadType => "bad_type",
            DiscardReason::BadChecksum => "bad_checksum",
            DiscardReason::OtherVrid => "other_vrid",
            DiscardReason::BadAddrCount => "bad_addr_count",
            DiscardReason::BadInterval => "bad_interval",
            DiscardReason::BadV6FirstAddr => "bad_v6_first_addr",
            DiscardReason::OwnerConflict => "owner_conflict",
            DiscardReason::BadAuthType => "bad_auth_type",
            DiscardReason::BadAuth => "bad_auth",
            DiscardReason::AddrMismatch => "addr_mismatch",
            DiscardReason::IntervalMismatch => "interval_mismatch",
            DiscardReason::OwnPacket => "own_packet",
            DiscardReason::BadFamily => "bad_family",
            DiscardReason::Foreign => "foreign_protocol",
            DiscardReason::Replay => "replay",
            DiscardReason::NotPeer => "not_peer",
            DiscardReason::BadDestination => "bad_dst",
            DiscardReason::BadSolicit => "bad_solicit",
            DiscardReason::BadSource => "bad_src",
            DiscardReason::IpOptions => "ip_options",
        }
    }

    /// Index into a counter array of length `ALL.len()`.
    pub fn index(self) -> usize {
        self as usize
    }
}
