//! IPv6 Neighbor Discovery frames on Ethernet: the unsolicited Neighbor Advertisement of
//! RFC 9568 §6.4.1/§6.4.2 and RFC 4861 §7.2.6 (to ff02::1, Router flag set, Solicited clear,
//! Override set, target = VIP, Target Link-Layer Address option = the VR MAC, hop limit 255),
//! the ICMPv6 checksum, solicited-node groups and multicast MACs. Router Advertisements
//! (RFC 9568 §8.2.x, RFC 4861 §4.2) belong here too.

use core::net::Ipv6Addr;

use crate::proto::packet::internet_checksum;

/// EtherType of IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// Length of an unsolicited NA frame: 14 Ethernet + 40 IPv6 + 32 ICMPv6.
pub const NA_FRAME_LEN: usize = 86;
/// NA Router flag (RFC 4861 §4.4), in the first byte after the checksum.
pub const NA_FLAG_ROUTER: u8 = 0x80;
/// NA Solicited flag.
pub const NA_FLAG_SOLICITED: u8 = 0x40;
/// NA Override flag.
pub const NA_FLAG_OVERRIDE: u8 = 0x20;
const ICMPV6_NEIGHBOR_ADVERT: u8 = 136;
const ND_OPT_TARGET_LL_ADDR: u8 = 2;
const IPPROTO_ICMPV6: u8 = 58;
/// The all-nodes multicast address (RFC 4291 §2.7.1), destination of unsolicited NAs.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The unsolicited NA for `ip` as RFC 9568 §6.4.1/§6.4.2 asks: R=1 S=0 O=1, TLLA = `src_mac`.
pub fn build_unsolicited_na(src_mac: [u8; 6], ip: Ipv6Addr) -> [u8; NA_FRAME_LEN] {
    build_na(src_mac, ip, NA_FLAG_ROUTER | NA_FLAG_OVERRIDE)
}

/// A Neighbor Advertisement frame for `ip` with the given flag byte (`NA_FLAG_*`): Ethernet
/// 33:33:00:00:00:01 from `src_mac`; IPv6 traffic class 0, flow label 0, hop limit 255, source
/// `ip`, destination ff02::1; ICMPv6 type 136 with target `ip` and a Target Link-Layer Address
/// option carrying `src_mac` (RFC 4861 §4.4, §4.6.1).
pub fn build_na(src_mac: [u8; 6], ip: Ipv6Addr, flags: u8) -> [u8; NA_FRAME_LEN] {
    const ICMP_LEN: usize = 32;
    let mut icmp = [0u8; ICMP_LEN];
    icmp[0] = ICMPV6_NEIGHBOR_ADVERT;
    icmp[1] = 0; // code
                 // icmp[2..4]: checksum, below
    icmp[4] = flags;
    icmp[8..24].copy_from_slice(&ip.octets());
    icmp[24] = ND_OPT_TARGET_LL_ADDR;
    icmp[25] = 1; // option length in units of 8 bytes
    icmp[26..32].copy_from_slice(&src_mac);
    let csum = icmpv6_checksum(ip, ALL_NODES, &icmp);
    icmp[2..4].copy_from_slice(&csum.to_be_bytes());

    let mut f = [0u8; NA_FRAME_LEN];
    f[0..6].copy_from_slice(&ipv6_multicast_mac(ALL_NODES));
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&ETH_P_IPV6.to_be_bytes());
    f[14] = 0x60; // version 6, traffic class 0, flow label 0
    f[18..20].copy_from_slice(&(ICMP_LEN as u16).to_be_bytes());
    f[20] = IPPROTO_ICMPV6;
    f[21] = 255; // hop limit
    f[22..38].copy_from_slice(&ip.octets());
    f[38..54].copy_from_slice(&ALL_NODES.octets());
    f[54..86].copy_from_slice(&icmp);
    f
}

/// The ICMPv6 checksum (RFC 4443 §2.3) of `msg` (its checksum field zero) from `src` to `dst`,
/// over the RFC 8200 §8.1 pseudo-header.
pub fn icmpv6_checksum(src: Ipv6Addr, dst: Ipv6Addr, msg: &[u8]) -> u16 {
    let len = u32::try_from(msg.len()).unwrap_or(u32::MAX).to_be_bytes();
    let next = [0, 0, 0, IPPROTO_ICMPV6];
    internet_checksum(&[&src.octets(), &dst.octets(), &len, &next, msg])
}

/// The solicited-node multicast group of `ip` (RFC 4291 §2.7.1): ff02::1:ffXX:XXXX with the
/// low 24 bits of `ip`.
pub fn solicited_node(ip: Ipv6Addr) -> Ipv6Addr {
    let o = ip.octets();
    Ipv6Addr::from([
        0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff, o[13], o[14], o[15],
    ])
}

/// The Ethernet address of IPv6 multicast group `group` (RFC 2464 §7): 33:33 + low 32 bits.
pub fn ipv6_multicast_mac(group: Ipv6Addr) -> [u8; 6] {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wire::vectors::vector_frame;

    const MAC: [u8; 6] = [0xda, 0x55, 0xe7, 0xf0, 0x1d, 0x2d];

    #[test]
    fn na_with_override_only_matches_keepalived_vectors() {
        for (what, ip) in [
            ("ipv6 unsolicited NA fe80::53", "fe80::53"),
            ("ipv6 unsolicited NA 2001:db8::fe", "2001:db8::fe"),
        ] {
            let ip: Ipv6Addr = ip.parse().unwrap();
            let want = vector_frame(what);
            assert_eq!(
                build_na(MAC, ip, NA_FLAG_OVERRIDE).as_slice(),
                want.as_slice(),
                "{ip}"
            );
        }
    }

    #[test]
    fn unsolicited_na_sets_router_and_override() {
        let ip: Ipv6Addr = "2001:db8::fe".parse().unwrap();
        let ours = build_unsolicited_na(MAC, ip);
        let vector = vector_frame("ipv6 unsolicited NA 2001:db8::fe");
        // Same frame except the flag byte and hence the checksum.
        for (i, (a, b)) in ours.iter().zip(vector.iter()).enumerate() {
            if !(56..=58).contains(&i) {
                assert_eq!(a, b, "byte {i}");
            }
        }
        assert_eq!(ours[58], 0xa0); // R=1 S=0 O=1
        assert_eq!(ours[21], 255); // hop limit
                                   // Checksum verifies over the pseudo-header.
        assert_eq!(icmpv6_checksum(ip, ALL_NODES, &ours[54..]), 0);
        assert_eq!(icmpv6_checksum(ip, ALL_NODES, &vector[54..]), 0);
    }

    #[test]
    fn solicited_node_and_mac() {
        let ip: Ipv6Addr = "2001:db8::12:34fe".parse().unwrap();
        let g = solicited_node(ip);
        assert_eq!(g, "ff02::1:ff12:34fe".parse::<Ipv6Addr>().unwrap());
        assert_eq!(ipv6_multicast_mac(g), [0x33, 0x33, 0xff, 0x12, 0x34, 0xfe]);
        assert_eq!(ipv6_multicast_mac(ALL_NODES), [0x33, 0x33, 0, 0, 0, 1]);
    }
}
