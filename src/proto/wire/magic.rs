//! The frames of the `-I`/`-O` magic packet (why and when they are sent: `crate::sys::magic`):
//! a unicast (or broadcast) ARP request to the gateway from the VIP (RFC 826 merge rule), and an
//! ICMP echo request (RFC 792) from the VIP to the gateway.

use core::net::Ipv4Addr;

use super::arp::{build_arp_request, ARP_FRAME_LEN, ETH_BROADCAST};
use crate::proto::packet::internet_checksum;

/// Identifier (and IPv4 identification) of the magic echo request: "vr".
pub const MAGIC_ICMP_ID: u16 = 0x7672;
/// Sequence number of the magic echo request.
pub const MAGIC_ICMP_SEQ: u16 = 1;
/// Data of the magic echo request.
pub const MAGIC_ICMP_DATA: [u8; 16] = *b"vrrpd takeover\0\0";
/// Length of the magic echo frame: 14 Ethernet + 20 IPv4 + 8 ICMP + 16 data.
pub const ECHO_FRAME_LEN: usize = 58;

/// The ARP request of the magic packet (`crate::sys::magic`, item 1).
pub fn build_magic_arp(
    src_mac: [u8; 6],
    vip: Ipv4Addr,
    gateway: Ipv4Addr,
    gateway_mac: Option<[u8; 6]>,
) -> [u8; ARP_FRAME_LEN] {
    build_arp_request(src_mac, vip, gateway_mac.unwrap_or(ETH_BROADCAST), gateway)
}

/// The ICMP echo request frame of the magic packet (`crate::sys::magic`, item 2).
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
