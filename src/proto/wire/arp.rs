//! ARP frames (RFC 826) on Ethernet: the gratuitous ARP of RFC 9568 §6.4.1/§6.4.2 (errata 7947
//! and 7949: the ARP carries the virtual router's IPv4 address, sender = target = VIP, with the
//! virtual router MAC as sender hardware address), byte for byte the layout keepalived sends, and
//! a unicast ARP request (the magic packet's).

use core::net::Ipv4Addr;

/// Ethernet broadcast address.
pub const ETH_BROADCAST: [u8; 6] = [0xff; 6];
/// EtherType of ARP.
pub const ETH_P_ARP: u16 = 0x0806;
/// Length of an Ethernet ARP frame without padding (14 + 28); the NIC pads to 60.
pub const ARP_FRAME_LEN: usize = 42;
const ARP_OP_REQUEST: u16 = 1;
/// (ff:ff:ff:ff:ff:ff, `ip`).
pub fn build_garp(src_mac: [u8; 6], ip: Ipv4Addr) -> [u8; ARP_FRAME_LEN] {
    arp_frame(ETH_BROADCAST, src_mac, src_mac, ip, ETH_BROADCAST, ip)
}
/// (RFC 826 leaves it unspecified in requests); the Ethernet destination is `target_mac`.
pub fn build_arp_request(
    src_mac: [u8; 6],
    sender_ip: Ipv4Addr,
    target_mac: [u8; 6],
    target_ip: Ipv4Addr,
) -> [u8; ARP_FRAME_LEN] {
    arp_frame(target_mac, src_mac, src_mac, sender_ip, [0; 6], target_ip)
}

fn arp_frame(
    eth_dst: [u8; 6],
    eth_src: [u8; 6],
    sha: [u8; 6],
    spa: Ipv4Addr,
    tha: [u8; 6],
    tpa: Ipv4Addr,
) -> [u8; ARP_FRAME_LEN] {
    let mut f = [0u8; ARP_FRAME_LEN];
    f[0..6].copy_from_slice(&eth_dst);
    f[6..12].copy_from_slice(&eth_src);
    f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // hardware type Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // protocol type IPv4
    f[18] = 6; // hardware address length
    f[19] = 4; // protocol address length
    f[20..22].copy_from_slice(&ARP_OP_REQUEST.to_be_bytes());
    f[22..28].copy_from_slice(&sha);
    f[28..32].copy_from_slice(&spa.octets());
    f[32..38].copy_from_slice(&tha);
    f[38..42].copy_from_slice(&tpa.octets());
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wire::vectors::vector_frame;

    const MAC: [u8; 6] = [0xda, 0x55, 0xe7, 0xf0, 0x1d, 0x2d];

    #[test]
    fn garp_matches_keepalived_vectors() {
        for last in [250u8, 254, 253, 240] {
            let ip = Ipv4Addr::new(192, 0, 2, last);
            let want = vector_frame(&format!("arp gratuitous {ip}"));
            assert_eq!(build_garp(MAC, ip).as_slice(), want.as_slice(), "{ip}");
        }
    }

    #[test]
    fn garp_fields() {
        let f = build_garp(MAC, Ipv4Addr::new(192, 0, 2, 250));
        assert_eq!(&f[0..6], &ETH_BROADCAST);
        assert_eq!(&f[20..22], &[0, 1]); // request
        assert_eq!(&f[28..32], &f[38..42]); // sender IP = target IP = VIP
    }

    #[test]
    fn unicast_arp_request_layout() {
        let peer = [0x02, 0, 0, 0, 0, 0x0b];
        let f = build_arp_request(
            MAC,
            Ipv4Addr::new(192, 0, 2, 250),
            peer,
            Ipv4Addr::new(192, 0, 2, 2),
        );
        let mut want = Vec::new();
        want.extend_from_slice(&peer);
        want.extend_from_slice(&MAC);
        want.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1]);
        want.extend_from_slice(&MAC);
        want.extend_from_slice(&[192, 0, 2, 250]);
        want.extend_from_slice(&[0; 6]);
        want.extend_from_slice(&[192, 0, 2, 2]);
        assert_eq!(f.as_slice(), want.as_slice());
    }
}
