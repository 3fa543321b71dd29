//! IPv6 Neighbor Discovery frames on Ethernet: the unsolicited Neighbor Advertisement of
//! RFC 9568 §6.4.1/§6.4.2 and RFC 4861 §7.2.6 (to ff02::1, Router flag set, Solicited clear,
//! Override set, target = VIP, Target Link-Layer Address option = the VR MAC, hop limit 255),
//! the ICMPv6 checksum, solicited-node groups and multicast MACs; the Router Advertisement of
//! the virtual router (RFC 9568 §8.2.2, RFC 4861 §4.2) and the Router Solicitation checks
//! (RFC 4861 §6.1.1). When RAs go is [`crate::proto::ra`]; the daemon sends the frames through
//! [`crate::sys::announce::Announcer`] and receives solicitations on
//! [`crate::sys::ndisc::SolicitSocket`].

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

/// ICMPv6 type of a Router Solicitation (RFC 4861 §4.1).
pub const ICMPV6_ROUTER_SOLICIT: u8 = 133;
/// ICMPv6 type of a Router Advertisement (RFC 4861 §4.2).
pub const ICMPV6_ROUTER_ADVERT: u8 = 134;
const ND_OPT_SOURCE_LL_ADDR: u8 = 1;
/// Length of a Router Advertisement frame with one Source Link-Layer Address option:
/// 14 Ethernet + 40 IPv6 + 16 RA + 8 option.
pub const RA_FRAME_LEN: usize = 78;

/// A Router Advertisement for the virtual router (RFC 9568 §8.2.2, RFC 4861 §4.2): Ethernet
/// 33:33:00:00:00:01 from `src_mac`; IPv6 hop limit 255 from the virtual router's link-local
/// address `src_ll` to ff02::1; Cur Hop Limit 0 and Reachable Time / Retrans Timer 0
/// (unspecified: hosts keep their own), M=0 O=0, Router Lifetime `lifetime_s` seconds (0: "not
/// a default router", RFC 4861 §6.2.5), and a Source Link-Layer Address option = `src_mac`.
pub fn build_router_advert(
    src_mac: [u8; 6],
    src_ll: Ipv6Addr,
    lifetime_s: u16,
) -> [u8; RA_FRAME_LEN] {
    const ICMP_LEN: usize = 24;
    let mut icmp = [0u8; ICMP_LEN];
    icmp[0] = ICMPV6_ROUTER_ADVERT;
    // icmp[1]: code 0; icmp[2..4]: checksum, below; icmp[4]: Cur Hop Limit 0; icmp[5]: M, O 0.
    icmp[6..8].copy_from_slice(&lifetime_s.to_be_bytes());
    // icmp[8..12]: Reachable Time 0; icmp[12..16]: Retrans Timer 0.
    icmp[16] = ND_OPT_SOURCE_LL_ADDR;
    icmp[17] = 1; // option length in units of 8 bytes
    icmp[18..24].copy_from_slice(&src_mac);
    let csum = icmpv6_checksum(src_ll, ALL_NODES, &icmp);
    icmp[2..4].copy_from_slice(&csum.to_be_bytes());

    let mut f = [0u8; RA_FRAME_LEN];
    f[0..6].copy_from_slice(&ipv6_multicast_mac(ALL_NODES));
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&ETH_P_IPV6.to_be_bytes());
    f[14] = 0x60;
    f[18..20].copy_from_slice(&(ICMP_LEN as u16).to_be_bytes());
    f[20] = IPPROTO_ICMPV6;
    f[21] = 255;
    f[22..38].copy_from_slice(&src_ll.octets());
    f[38..54].copy_from_slice(&ALL_NODES.octets());
    f[54..78].copy_from_slice(&icmp);
    f
}

/// Why a received ICMPv6 message is not a valid Router Solicitation (RFC 4861 §6.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RsError {
    /// Shorter than the 8-byte RS header.
    Short,
    /// Not type 133, or code not 0.
    NotSolicitation,
    /// Hop limit not 255 (it crossed a router).
    HopLimit,
    /// An option of length 0, or one running past the end.
    BadOption,
    /// Source :: with a Source Link-Layer Address option.
    UnspecifiedWithLlAddr,
}

/// A valid Router Solicitation: the soliciting host's link-layer address, if it gave one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouterSolicit {
    /// Source Link-Layer Address option (Ethernet), if present.
    pub src_mac: Option<[u8; 6]>,
}

/// Validate the ICMPv6 message `msg` (checksum already checked by the kernel) received from
/// `src` with hop limit `hop_limit` as a Router Solicitation (RFC 4861 §6.1.1).
pub fn parse_router_solicit(
    msg: &[u8],
    src: Ipv6Addr,
    hop_limit: u8,
) -> Result<RouterSolicit, RsError> {
    let head = msg.get(..8).ok_or(RsError::Short)?;
    if head[0] != ICMPV6_ROUTER_SOLICIT || head[1] != 0 {
        return Err(RsError::NotSolicitation);
    }
    if hop_limit != 255 {
        return Err(RsError::HopLimit);
    }
    let mut src_mac = None;
    let mut opts = msg.get(8..).unwrap_or(&[]);
    while !opts.is_empty() {
        let (Some(&kind), Some(&len8)) = (opts.first(), opts.get(1)) else {
            return Err(RsError::BadOption);
        };
        let len = usize::from(len8) * 8;
        let opt = opts
            .get(..len)
            .filter(|_| len > 0)
            .ok_or(RsError::BadOption)?;
        if kind == ND_OPT_SOURCE_LL_ADDR {
            src_mac = opt.get(2..8).and_then(|m| <[u8; 6]>::try_from(m).ok());
        }
        opts = opts.get(len..).unwrap_or(&[]);
    }
    if src.is_unspecified() && src_mac.is_some() {
        return Err(RsError::UnspecifiedWithLlAddr);
    }
    Ok(RouterSolicit { src_mac })
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
    fn router_advert_layout() {
        let ll: Ipv6Addr = "fe80::51".parse().unwrap();
        let f = build_router_advert(MAC, ll, 1800);
        assert_eq!(&f[0..6], &[0x33, 0x33, 0, 0, 0, 1]);
        assert_eq!(&f[6..12], &MAC);
        assert_eq!(f[20], 58); // ICMPv6
        assert_eq!(f[21], 255); // hop limit (RFC 4861 §6.1.2)
        assert_eq!(u16::from_be_bytes([f[18], f[19]]), 24); // payload length
        assert_eq!(&f[22..38], &ll.octets());
        assert_eq!(&f[38..54], &ALL_NODES.octets());
        assert_eq!(f[54], 134);
        assert_eq!(f[55], 0);
        assert_eq!(u16::from_be_bytes([f[60], f[61]]), 1800); // Router Lifetime
        assert_eq!(&f[70..72], &[1, 1]); // SLLA option, 8 bytes
        assert_eq!(&f[72..78], &MAC);
        assert_eq!(icmpv6_checksum(ll, ALL_NODES, &f[54..]), 0);
        let ceasing = build_router_advert(MAC, ll, 0);
        assert_eq!(&ceasing[60..62], &[0, 0]);
        assert_eq!(icmpv6_checksum(ll, ALL_NODES, &ceasing[54..]), 0);
    }

    #[test]
    fn router_solicit_checks() {
        let host: Ipv6Addr = "fe80::100".parse().unwrap();
        let mut rs = vec![133, 0, 0, 0, 0, 0, 0, 0, 1, 1];
        rs.extend_from_slice(&MAC);
        assert_eq!(
            parse_router_solicit(&rs, host, 255),
            Ok(RouterSolicit { src_mac: Some(MAC) })
        );
        assert_eq!(parse_router_solicit(&rs, host, 64), Err(RsError::HopLimit));
        assert_eq!(
            parse_router_solicit(&rs, Ipv6Addr::UNSPECIFIED, 255),
            Err(RsError::UnspecifiedWithLlAddr)
        );
        assert_eq!(
            parse_router_solicit(&rs[..8], Ipv6Addr::UNSPECIFIED, 255),
            Ok(RouterSolicit { src_mac: None })
        );
        assert_eq!(
            parse_router_solicit(&rs[..5], host, 255),
            Err(RsError::Short)
        );
        assert_eq!(
            parse_router_solicit(&rs[..12], host, 255),
            Err(RsError::BadOption)
        );
        let mut zero = rs.clone();
        zero[9] = 0;
        assert_eq!(
            parse_router_solicit(&zero, host, 255),
            Err(RsError::BadOption)
        );
        let mut na = rs.clone();
        na[0] = 136;
        assert_eq!(
            parse_router_solicit(&na, host, 255),
            Err(RsError::NotSolicitation)
        );
        let mut code = rs;
        code[1] = 1;
        assert_eq!(
            parse_router_solicit(&code, host, 255),
            Err(RsError::NotSolicitation)
        );
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
