//! The "magic packet" (`-I VIP -O GATEWAY`): tell the gateway, and the switches on the way to
//! it, that a virtual address now lives at our MAC.
//!
//! Advanced Vrrpd meant to do this with one TCP SYN from the VIP to `GATEWAY:1100`, but its bind
//! address had family 0, so nothing was ever sent (reference §6). What a takeover needs is
//! link-layer, not TCP: with `-n` (no virtual MAC) the VIP moves to another router's *own* MAC,
//! and a gateway that ignores gratuitous ARP (some routers and firewalls do, and Linux with
//! `arp_accept=0` only updates entries it already has) keeps sending to the old router until its
//! ARP entry expires. So [`magic_packet`] sends, through an [`Announcer`] (an `AF_PACKET`
//! socket: the frames leave exactly as built; their layouts are in [`crate::proto::wire::magic`]):
//!
//! 1. **An ARP request to the gateway** ([`build_magic_arp`]): Ethernet destination = the
//!    gateway's MAC if known, else ff:ff:ff:ff:ff:ff; Ethernet source = `src_mac`; ARP op 1,
//!    sender = (`src_mac`, VIP), target = (00:00:00:00:00:00, gateway). By RFC 826's merge rule
//!    a host that is the *target* of a request enters or updates the sender's mapping: the
//!    gateway now maps VIP → `src_mac` (Linux: `arp_process()` → `neigh_event_ns()`, which
//!    creates or overrides the entry, state STALE, whatever `arp_accept` says). The gateway
//!    answers with an ARP reply to VIP at `src_mac`, which our kernel ignores. Broadcast when
//!    the MAC is unknown: every host then applies the merge rule to an entry it already has.
//! 2. **An ICMP echo request from the VIP to the gateway**, only when the gateway's MAC is known
//!    ([`build_magic_echo`]): Ethernet (gateway MAC ← `src_mac`, type 0x0800); IPv4 (TOS 0,
//!    identification 0x7672, DF, TTL 64, protocol 1, VIP → gateway, header checksum); ICMP
//!    type 8 code 0, identifier 0x7672 ("vr"), sequence 1, 16 bytes of data
//!    `"vrrpd takeover\0\0"`. It is an ordinary IP packet *from the VIP*, so a stateful
//!    gateway/firewall sees the address active at once, and its echo reply (which our kernel
//!    drops: no socket waits for it) makes the gateway resolve the VIP if it had no entry.
//!
//! Both frames come from `src_mac`, so every switch they cross learns that `src_mac` now lives
//! on our port (the ARP alone does that; with a broadcast ARP, every switch of the LAN).
//!
//! It is meant for `-n` mode, sent once after the gratuitous ARPs on becoming Active: `src_mac`
//! = the interface's MAC, the announcer open on the interface. With a virtual MAC the gateway
//! already maps VIP → VMAC and the GARPs from the VMAC move the switch ports, so it is not
//! needed (it works all the same with `src_mac` = VMAC and the announcer on the macvlan).
//!
//! [`gateway_mac`] reads the gateway's MAC from the kernel's neighbour table (`RTM_GETNEIGH`);
//! `None` (no usable entry) selects the broadcast form. IPv4 only: for IPv6 the unsolicited
//! NAs (Override flag) already update every neighbour's entry for the VIP.

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use super::announce::Announcer;
use super::netlink::Rtnl;
pub use crate::proto::wire::magic::{
    build_magic_arp, build_magic_echo, ECHO_FRAME_LEN, MAGIC_ICMP_DATA, MAGIC_ICMP_ID,
    MAGIC_ICMP_SEQ,
};

/// What [`magic_packet`] sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MagicSent {
    /// The unicast ARP request and the echo request (gateway MAC known).
    UnicastArpAndEcho,
    /// The broadcast ARP request only (gateway MAC unknown).
    BroadcastArp,
}

impl std::fmt::Display for MagicSent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MagicSent::UnicastArpAndEcho => "ARP request and ICMP echo, unicast to its MAC",
            MagicSent::BroadcastArp => "ARP request, broadcast (its MAC is not known yet)",
        })
    }
}

/// Sends the magic packet (module documentation) through `announcer`: the ARP request, then
/// the echo request when `gateway_mac` is known. A full socket buffer is `WouldBlock`.
pub fn magic_packet(
    announcer: &Announcer,
    src_mac: [u8; 6],
    vip: Ipv4Addr,
    gateway: Ipv4Addr,
    gateway_mac: Option<[u8; 6]>,
) -> io::Result<MagicSent> {
    announcer.send_frame(&build_magic_arp(src_mac, vip, gateway, gateway_mac))?;
    match gateway_mac {
        Some(mac) => {
            announcer.send_frame(&build_magic_echo(src_mac, vip, gateway, mac))?;
            Ok(MagicSent::UnicastArpAndEcho)
        }
        None => Ok(MagicSent::BroadcastArp),
    }
}

/// The gateway's MAC from the kernel's neighbour table on interface `ifindex`, if it has a
/// usable entry (see [`Rtnl::neighbour`]).
pub fn gateway_mac(
    rtnl: &mut Rtnl,
    ifindex: u32,
    gateway: Ipv4Addr,
) -> io::Result<Option<[u8; 6]>> {
    rtnl.neighbour(ifindex, IpAddr::V4(gateway))
}
