//! The "magic packet" (`-I VIP -O GATEWAY`): tell the gateway, and the switches on the way to
//! it, that a virtual address now lives at our MAC.
//!
//! Advanced Vrrpd meant to do this with one TCP SYN from the VIP to `GATEWAY:1100`, but its bind
//! address had family 0, so nothing was ever sent (reference §6). What a takeover needs is
//! link-layer, not TCP: with `-n` (no virtual MAC) the VIP moves to another router's *own* MAC,
//! and a gateway that ignores gratuitous ARP (some routers and firewalls do, and Linux with
//! `arp_accept=0` only updates entries it already has) keeps sending to the old router until its
//! ARP entry expires. So [`magic_packet`] sends, through an [`Announcer`] (an `AF_PACKET`
//! socket: the frames leave exactly as built):
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

use super::announce::{build_arp_request, Announcer, ARP_FRAME_LEN, ETH_BROADCAST};
use super::internet_checksum;
use super::netlink::Rtnl;

/// Identifier (and IPv4 identification) of the magic echo request: "vr".
pub const MAGIC_ICMP_ID: u16 = 0x7672;
/// Sequence number of the magic echo request.
pub const MAGIC_ICMP_SEQ: u16 = 1;
/// Data of the magic echo request.
pub const MAGIC_ICMP_DATA: [u8; 16] = *b"vrrpd takeover\0\0";
/// Length of the magic echo frame: 14 Ethernet + 20 IPv4 + 8 ICMP + 16 data.
pub const ECHO_FRAME_LEN: usize = 58;

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

/// The ARP request of the magic packet (module documentation, item 1).
pub fn build_magic_arp(
    src_mac: [u8; 6],
    vip: Ipv4Addr,
    gateway: Ipv4Addr,
    gateway_mac: Option<[u8; 6]>,
) -> [u8; ARP_FRAME_LEN] {
    build_arp_request(src_mac, vip, gateway_mac.unwrap_or(ETH_BROADCAST), gateway)
}

/// The ICMP echo request frame of the magic packet (module documentation, item 2).
pub fn build_magic_echo(
    src_mac: [u8; 6],
    vip: Ipv4Addr,
    gateway: Ipv4Addr,
    gateway_mac: [u8; 6],
) -> [u8; ECHO_FRAME_LEN] {
    let mut icmp = [0u8; 8 + MAGIC_ICMP_DATA.len()];
    icmp[0] = 8; // echo request
    icmp[1] = 0; // code
    icmp[4..6].copy_from_slice(&MAGIC_ICMP_ID.to_be_bytes());
    icmp[6..8].copy_from_slice(&MAGIC_ICMP_SEQ.to_be_bytes());
    icmp[8..].copy_from_slice(&MAGIC_ICMP_DATA);
    let csum = internet_checksum(&[&icmp]);
    icmp[2..4].copy_from_slice(&csum.to_be_bytes());

    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    // Total length 44 always fits.
    ip[2..4].copy_from_slice(&((20 + icmp.len()) as u16).to_be_bytes());
    ip[4..6].copy_from_slice(&MAGIC_ICMP_ID.to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = 64; // TTL
    ip[9] = 1; // ICMP
    ip[12..16].copy_from_slice(&vip.octets());
    ip[16..20].copy_from_slice(&gateway.octets());
    let csum = internet_checksum(&[&ip]);
    ip[10..12].copy_from_slice(&csum.to_be_bytes());

    let mut f = [0u8; ECHO_FRAME_LEN];
    f[0..6].copy_from_slice(&gateway_mac);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    f[14..34].copy_from_slice(&ip);
    f[34..].copy_from_slice(&icmp);
    f
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

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0a];
    const GW_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x0b];

    #[test]
    fn arp_unicast_and_broadcast() {
        let vip = Ipv4Addr::new(192, 0, 2, 250);
        let gw = Ipv4Addr::new(192, 0, 2, 254);
        let f = build_magic_arp(MAC, vip, gw, Some(GW_MAC));
        assert_eq!(&f[0..6], &GW_MAC);
        assert_eq!(&f[6..12], &MAC);
        assert_eq!(&f[12..14], &[0x08, 0x06]);
        assert_eq!(&f[20..22], &[0, 1]); // request
        assert_eq!(&f[22..28], &MAC); // sender MAC
        assert_eq!(&f[28..32], &vip.octets()); // sender IP = VIP
        assert_eq!(&f[32..38], &[0; 6]);
        assert_eq!(&f[38..42], &gw.octets()); // target = gateway
        let b = build_magic_arp(MAC, vip, gw, None);
        assert_eq!(&b[0..6], &ETH_BROADCAST);
        assert_eq!(&b[6..], &f[6..]);
    }

    #[test]
    fn echo_layout_and_checksums() {
        let vip = Ipv4Addr::new(192, 0, 2, 250);
        let gw = Ipv4Addr::new(192, 0, 2, 254);
        let f = build_magic_echo(MAC, vip, gw, GW_MAC);
        let mut want = Vec::new();
        want.extend_from_slice(&GW_MAC);
        want.extend_from_slice(&MAC);
        want.extend_from_slice(&[0x08, 0x00]);
        // IPv4: 45 00 002c 7672 4000 40 01 cksum c0000 2fa c0000 2fe
        want.extend_from_slice(&[0x45, 0, 0, 44, 0x76, 0x72, 0x40, 0, 64, 1]);
        want.extend_from_slice(&f[24..26]); // header checksum, verified below
        want.extend_from_slice(&vip.octets());
        want.extend_from_slice(&gw.octets());
        want.extend_from_slice(&[8, 0]);
        want.extend_from_slice(&f[36..38]); // ICMP checksum, verified below
        want.extend_from_slice(&[0x76, 0x72, 0, 1]);
        want.extend_from_slice(b"vrrpd takeover\0\0");
        assert_eq!(f.as_slice(), want.as_slice());
        // A correct checksum makes the sum over the covered bytes 0.
        assert_eq!(internet_checksum(&[&f[14..34]]), 0);
        assert_eq!(internet_checksum(&[&f[34..]]), 0);
    }
}
