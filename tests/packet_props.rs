//! Property tests for the advertisement codec (RFC 3768 §5, RFC 9568 §5).
//!
//! The checksum expectations use an independent RFC 1071 implementation written here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use vrrpd::proto::packet::{
    internet_checksum, parse, Advert, Auth, Error, InternetChecksum, Packet,
};
use vrrpd::proto::{ChecksumForm, Family, Version};

// ---- independent reference helpers -----------------------------------------------------------

/// RFC 1071 folded one's complement sum, written independently of the crate.
fn ref_sum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut i = 0;
    while i < data.len() {
        let hi = u32::from(data[i]);
        let lo = u32::from(*data.get(i + 1).unwrap_or(&0));
        sum += (hi << 8) | lo;
        i += 2;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

fn ipv4_pseudo(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend(src.octets());
    p.extend(dst.octets());
    p.extend([0, 112]);
    p.extend((len as u16).to_be_bytes());
    p
}

fn ipv6_pseudo(src: Ipv6Addr, dst: Ipv6Addr, len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend(src.octets());
    p.extend(dst.octets());
    p.extend((len as u32).to_be_bytes());
    p.extend([0, 0, 0, 112]);
    p
}

/// The checksum a correct encoder must store, computed independently.
fn ref_checksum(msg: &[u8], src: IpAddr, dst: IpAddr, form: ChecksumForm) -> u16 {
    let mut m = msg.to_vec();
    m[6] = 0;
    m[7] = 0;
    let v3 = m[0] >> 4 == 3;
    let mut data = match (v3, src, dst, form) {
        (true, IpAddr::V4(s), IpAddr::V4(d), ChecksumForm::Pseudo) => ipv4_pseudo(s, d, m.len()),
        (true, IpAddr::V6(s), IpAddr::V6(d), _) => ipv6_pseudo(s, d, m.len()),
        _ => Vec::new(),
    };
    data.extend(&m);
    !ref_sum(&data)
}

/// Both v3 IPv4 checksum forms coincide exactly when the pseudo-header sums to negative zero.
fn forms_coincide(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> bool {
    ref_sum(&ipv4_pseudo(src, dst, len)) == 0xffff
}

// ---- strategies --------------------------------------------------------------------------

fn any_v4() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b)))
}

fn any_v6() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b)))
}

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![any_v4(), any_v6()]
}

/// An address in fe80::/10 (RFC 9568 §5.2.9).
fn link_local_v6() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 16]>().prop_map(|mut b| {
        b[0] = 0xfe;
        b[1] = 0x80 | (b[1] & 0x3f);
        IpAddr::V6(Ipv6Addr::from(b))
    })
}

fn any_form() -> impl Strategy<Value = ChecksumForm> {
    prop_oneof![Just(ChecksumForm::Pseudo), Just(ChecksumForm::Plain)]
}

fn any_auth() -> impl Strategy<Value = Auth> {
    prop_oneof![Just(Auth::None), any::<[u8; 8]>().prop_map(Auth::Password)]
}

/// A valid advert with matching IP source and destination, and a checksum form.
fn valid_case() -> impl Strategy<Value = (Advert, IpAddr, IpAddr, ChecksumForm)> {
    let v2 = (
        any::<u8>(),
        any::<u8>(),
        1u16..=255,
        prop::collection::vec(any_v4(), 1..=20),
        any_auth(),
        any_v4(),
        any_v4(),
        any_form(),
    )
        .prop_map(|(vrid, priority, interval, addrs, auth, src, dst, form)| {
            let a = Advert {
                version: Version::V2,
                vrid,
                priority,
                interval,
                addrs,
                auth,
            };
            (a, src, dst, form)
        });
    let v3_v4 = (
        any::<u8>(),
        any::<u8>(),
        1u16..=4095,
        prop::collection::vec(any_v4(), 1..=20),
        any_v4(),
        any_v4(),
        any_form(),
    )
        .prop_map(|(vrid, priority, interval, addrs, src, dst, form)| {
            let a = Advert {
                version: Version::V3,
                vrid,
                priority,
                interval,
                addrs,
                auth: Auth::None,
            };
            (a, src, dst, form)
        });
    let v3_v6 = (
        any::<u8>(),
        any::<u8>(),
        1u16..=4095,
        link_local_v6(),
        prop::collection::vec(any_v6(), 0..=19),
        link_local_v6(),
        any_v6(),
        any_form(),
    )
        .prop_map(|(vrid, priority, interval, first, rest, src, dst, form)| {
            let mut addrs = vec![first];
            addrs.extend(rest);
            let a = Advert {
                version: Version::V3,
                vrid,
                priority,
                interval,
                addrs,
                auth: Auth::None,
            };
            (a, src, dst, form)
        });
    prop_oneof![v2, v3_v4, v3_v6]
}

/// The checksum form `parse` must report for a packet emitted with `form`.
fn expected_form(
    a: &Advert,
    src: IpAddr,
    dst: IpAddr,
    form: ChecksumForm,
    len: usize,
) -> Option<ChecksumForm> {
    match (a.version, src, dst) {
        (Version::V3, IpAddr::V4(s), IpAddr::V4(d)) => {
            if forms_coincide(s, d, len) {
                Some(ChecksumForm::Pseudo)
            } else {
                Some(form)
            }
        }
        _ => None,
    }
}

fn family(ip: IpAddr) -> Family {
    match ip {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    }
}

// ---- properties ------------------------------------------------------------------------------

proptest! {
    /// Nothing panics on arbitrary bytes with arbitrary IPv4/IPv6 source and destination, and
    /// any accepted packet is at least as long as its count implies.
    #[test]
    fn parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600), src in any_ip(), dst in any_ip()) {
        if let Ok(p) = parse(&bytes, src, dst) {
            prop_assert!(!p.advert.addrs.is_empty());
        }
        // The view never panics either, whatever the buffer.
        let view = Packet::new_unchecked(&bytes[..]);
        for f in [Family::V4, Family::V6] {
            let _ = view.check_len(f);
            let _ = view.required_len(f);
            let _ = view.message(f);
            let _ = view.addrs(f).count();
            for i in [0usize, 1, 254, 255, 256, usize::MAX / 32] {
                let _ = view.addr(f, i);
            }
        }
        let _ = (view.version(), view.kind(), view.vrid(), view.priority(), view.addr_count());
        let _ = (view.auth_type(), view.adver_int(), view.max_adver_int(), view.reserved(), view.checksum());
        let _ = view.auth_data();
        let _ = view.verify_checksum(src, dst);
    }

    /// Structured fuzz that gets past the checksum: a plausible header with arbitrary fields,
    /// arbitrary body, and a valid checksum in a random form. Parse never panics; if it accepts,
    /// the fields are those on the wire and re-emitting reproduces the message (reserve bits aside).
    #[test]
    fn parse_plausible_packets(
        version in prop_oneof![4 => prop_oneof![Just(2u8), Just(3u8)], 1 => 0u8..16],
        kind in prop_oneof![4 => Just(1u8), 1 => 0u8..16],
        head in any::<[u8; 3]>(),
        byte4 in prop_oneof![Just(0u8), Just(1u8), any::<u8>()],
        count in prop_oneof![4 => 1u8..6, 1 => Just(0u8)],
        mut body in prop::collection::vec(any::<u8>(), 0..120),
        link_local_first in any::<bool>(),
        (src, dst) in prop_oneof![(any_v4(), any_v4()), (any_v6(), any_v6()), (any_ip(), any_ip())],
        form in any_form(),
    ) {
        if link_local_first && body.len() >= 2 {
            body[0] = 0xfe;
            body[1] = 0x80;
        }
        let mut b = vec![(version << 4) | kind, head[0], head[1], count, byte4, head[2], 0, 0];
        b.extend(&body);
        let len = Packet::new_unchecked(&b[..]).required_len(family(src)).min(b.len());
        let c = ref_checksum(&b[..len], src, dst, form);
        b[6..8].copy_from_slice(&c.to_be_bytes());
        if let Ok(p) = parse(&b, src, dst) {
            let a = &p.advert;
            prop_assert_eq!(a.version.number(), version);
            prop_assert_eq!(kind, 1);
            prop_assert_eq!(a.vrid, head[0]);
            prop_assert_eq!(a.priority, head[1]);
            prop_assert_eq!(a.addrs.len(), usize::from(count));
            let out_form = p.checksum_form.unwrap_or(ChecksumForm::Pseudo);
            match a.to_bytes(src, dst, out_form) {
                Ok(again) => {
                    prop_assert_eq!(again.len(), len);
                    // Canonical input re-encodes byte for byte. Not canonical: v3 reserve bits
                    // (RFC 9568 §5.2.6: sent as 0) and v2 type-0 Auth Data (RFC 3768 §5.3.10:
                    // zero on transmission, ignored on receipt); both also change the checksum.
                    let canonical = match a.version {
                        Version::V3 => byte4 >> 4 == 0,
                        Version::V2 => a.auth != Auth::None || b[len - 8..len].iter().all(|&x| x == 0),
                    };
                    if canonical {
                        prop_assert_eq!(&again[..], &b[..len]);
                    }
                    prop_assert_eq!(parse(&again, src, dst), Ok(p.clone()));
                }
                // A v2 Adver Int of 0 parses but is never emitted.
                Err(e) => {
                    prop_assert_eq!(e, Error::BadInterval);
                    prop_assert_eq!((a.version, a.interval), (Version::V2, 0));
                }
            }
        }
    }

    /// Emit-then-parse returns the same fields for every valid combination (v2 over IPv4, v3 over
    /// IPv4 and IPv6, both forms, counts 1–20, all intervals, all priorities, v2 auth none and
    /// password), with the checksum a reference RFC 1071 implementation computes, and the form
    /// reported as emitted (`Pseudo` when the two forms coincide).
    #[test]
    fn emit_parse_round_trip((a, src, dst, form) in valid_case()) {
        let bytes = a.to_bytes(src, dst, form).unwrap();
        prop_assert_eq!(bytes.len(), a.buffer_len());
        let stored = u16::from_be_bytes([bytes[6], bytes[7]]);
        prop_assert_eq!(stored, ref_checksum(&bytes, src, dst, form));
        let parsed = parse(&bytes, src, dst).unwrap();
        prop_assert_eq!(&parsed.advert, &a);
        prop_assert_eq!(parsed.checksum_form, expected_form(&a, src, dst, form, bytes.len()));
    }

    /// Padding after the message is ignored and never summed (RFC 9568 §7.1).
    #[test]
    fn padding_is_ignored((a, src, dst, form) in valid_case(), pad in prop::collection::vec(any::<u8>(), 1..40)) {
        let mut bytes = a.to_bytes(src, dst, form).unwrap();
        let plain = parse(&bytes, src, dst).unwrap();
        bytes.extend(&pad);
        prop_assert_eq!(parse(&bytes, src, dst).unwrap(), plain);
    }

    /// Any truncation below the computed length is refused (RFC 9568 §7.1, RFC 3768 §7.1).
    #[test]
    fn truncation_is_refused((a, src, dst, form) in valid_case(), cut in any::<prop::sample::Index>()) {
        let bytes = a.to_bytes(src, dst, form).unwrap();
        let at = cut.index(bytes.len());
        let err = parse(&bytes[..at], src, dst).unwrap_err();
        prop_assert!(matches!(err, Error::TooShort | Error::BadLength), "{:?}", err);
    }

    /// A v3 IPv4 packet verifies in the pseudo form only with the IP addresses it was made for.
    #[test]
    fn v3_ipv4_pseudo_binds_ip_addresses(
        vrid in any::<u8>(),
        interval in 1u16..=4095,
        addrs in prop::collection::vec(any_v4(), 1..=20),
        src in any_v4(),
        dst in any_v4(),
        other in any_v4(),
    ) {
        prop_assume!(other != dst);
        let a = Advert { version: Version::V3, vrid, priority: 100, interval, addrs, auth: Auth::None };
        let bytes = a.to_bytes(src, dst, ChecksumForm::Pseudo).unwrap();
        match parse(&bytes, src, other) {
            // Plain form coincidence or a collision of the pseudo sums is the only way through.
            Ok(p) => {
                let (IpAddr::V4(s), IpAddr::V4(d), IpAddr::V4(o)) = (src, dst, other) else { unreachable!() };
                let n = bytes.len();
                prop_assert!(
                    forms_coincide(s, d, n)
                        || ref_sum(&ipv4_pseudo(s, d, n)) == ref_sum(&ipv4_pseudo(s, o, n)),
                    "{:?}", p
                );
            }
            Err(e) => prop_assert_eq!(e, Error::BadChecksum),
        }
    }

    /// The accumulator equals the reference sum however the data is split (RFC 1071 §4.1).
    #[test]
    fn checksum_chunking(data in prop::collection::vec(any::<u8>(), 0..200), c1 in any::<prop::sample::Index>(), c2 in any::<prop::sample::Index>()) {
        let (mut x, mut y) = (c1.index(data.len() + 1), c2.index(data.len() + 1));
        if x > y {
            std::mem::swap(&mut x, &mut y);
        }
        let expect = !ref_sum(&data);
        prop_assert_eq!(internet_checksum(&[&data[..x], &data[x..y], &data[y..]]), expect);
        let mut acc = InternetChecksum::new();
        acc.add_bytes(&data[..x]).add_bytes(&data[x..y]).add_bytes(&data[y..]);
        prop_assert_eq!(acc.checksum(), expect);
    }
}

// ---- exhaustive sweeps (cheap enough to run in full) ---------------------------------------------

/// Every v3 interval 1–4095 (RFC 9568 §5.2.7) and every v2 interval 1–255 (RFC 3768 §5.3.7)
/// round-trips in every family and form.
#[test]
fn all_intervals_round_trip() {
    let s4: IpAddr = "192.0.2.1".parse().unwrap();
    let d4: IpAddr = "224.0.0.18".parse().unwrap();
    let s6: IpAddr = "fe80::1".parse().unwrap();
    let d6: IpAddr = "ff02::12".parse().unwrap();
    for interval in 1..=4095u16 {
        for (src, dst, vip) in [(s4, d4, "192.0.2.250"), (s6, d6, "fe80::53")] {
            for form in [ChecksumForm::Pseudo, ChecksumForm::Plain] {
                let a = Advert {
                    version: Version::V3,
                    vrid: 52,
                    priority: 100,
                    interval,
                    addrs: vec![vip.parse().unwrap()],
                    auth: Auth::None,
                };
                let bytes = a.to_bytes(src, dst, form).unwrap();
                assert_eq!(u16::from_be_bytes([bytes[4], bytes[5]]), interval);
                assert_eq!(parse(&bytes, src, dst).unwrap().advert, a);
            }
        }
        if interval <= 255 {
            let a = Advert {
                version: Version::V2,
                vrid: 54,
                priority: 100,
                interval,
                addrs: vec!["192.0.2.240".parse().unwrap()],
                auth: Auth::None,
            };
            let bytes = a.to_bytes(s4, d4, ChecksumForm::Plain).unwrap();
            assert_eq!(parse(&bytes, s4, d4).unwrap().advert, a);
        }
    }
}

/// RFC 1071 one's complement sum, written here independently of the crate's.
fn rfc1071(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]);
        sum += u32::from(w);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The bytes RFC 3768 §5.1 / RFC 9568 §5.1 lay down for one IPv4 address, built by hand: the
/// encoder is checked against the RFC's layout, not only against the crate's own decoder.
fn by_hand(
    version: Version,
    vrid: u8,
    prio: u8,
    interval: u16,
    addr: [u8; 4],
    src: [u8; 4],
    dst: [u8; 4],
) -> Vec<u8> {
    let mut b = match version {
        // Version 2, type 1; count 1; auth type 0; Adver Int (s); checksum; address; 8 bytes of
        // authentication data.
        Version::V2 => vec![0x21, vrid, prio, 1, 0, interval as u8, 0, 0],
        // Version 3, type 1; count 1; 4 reserved bits and a 12-bit Max Adver Int (cs); checksum.
        Version::V3 => vec![
            0x31,
            vrid,
            prio,
            1,
            (interval >> 8) as u8 & 0x0f,
            interval as u8,
            0,
            0,
        ],
    };
    b.extend_from_slice(&addr);
    if version == Version::V2 {
        b.extend_from_slice(&[0; 8]);
    }
    let sum = match version {
        // RFC 3768 §5.3.8: over the VRRP message only.
        Version::V2 => rfc1071(&b),
        // RFC 9568 §5.2.8: with the IPv4 pseudo-header (src, dst, 0, protocol 112, length).
        Version::V3 => {
            let mut pseudo = Vec::new();
            pseudo.extend_from_slice(&src);
            pseudo.extend_from_slice(&dst);
            pseudo.extend_from_slice(&[0, 112, 0, b.len() as u8]);
            pseudo.extend_from_slice(&b);
            rfc1071(&pseudo)
        }
    };
    b[6..8].copy_from_slice(&sum.to_be_bytes());
    b
}

/// Every priority and VRID byte value (RFC 9568 §5.2.3–5.2.4) encodes to the RFC's layout,
/// byte for byte, and round-trips.
#[test]
fn all_priorities_and_vrids_round_trip() {
    let s4: IpAddr = "192.0.2.1".parse().unwrap();
    let d4: IpAddr = "224.0.0.18".parse().unwrap();
    for x in 0..=255u8 {
        for (version, interval) in [(Version::V2, 1u16), (Version::V3, 0x0fff), (Version::V3, 1)] {
            let a = Advert {
                version,
                vrid: x,
                priority: 255 - x,
                interval,
                addrs: vec!["192.0.2.250".parse().unwrap()],
                auth: Auth::None,
            };
            let bytes = a.to_bytes(s4, d4, ChecksumForm::Pseudo).unwrap();
            let want = by_hand(
                version,
                x,
                255 - x,
                interval,
                [192, 0, 2, 250],
                [192, 0, 2, 1],
                [224, 0, 0, 18],
            );
            assert_eq!(bytes, want, "{version:?} vrid {x} interval {interval}");
            assert_eq!(parse(&bytes, s4, d4).unwrap().advert, a);
        }
    }
}

/// Every count 1–255 (RFC 9568 §5.2.5) round-trips, IPv4 and IPv6.
#[test]
fn all_counts_round_trip() {
    let s4: IpAddr = "192.0.2.1".parse().unwrap();
    let d4: IpAddr = "224.0.0.18".parse().unwrap();
    let s6: IpAddr = "fe80::1".parse().unwrap();
    let d6: IpAddr = "ff02::12".parse().unwrap();
    for n in 1..=255u32 {
        let v4: Vec<IpAddr> = (0..n)
            .map(|i| IpAddr::V4(Ipv4Addr::from(0xc000_0200 + i)))
            .collect();
        let v6: Vec<IpAddr> = (0..n)
            .map(|i| IpAddr::V6(Ipv6Addr::from(0xfe80_u128 << 112 | u128::from(i))))
            .collect();
        for (src, dst, addrs, version) in [
            (s4, d4, v4.clone(), Version::V2),
            (s4, d4, v4, Version::V3),
            (s6, d6, v6, Version::V3),
        ] {
            let a = Advert {
                version,
                vrid: 1,
                priority: 100,
                interval: 1,
                addrs,
                auth: Auth::None,
            };
            let bytes = a.to_bytes(src, dst, ChecksumForm::Pseudo).unwrap();
            assert_eq!(bytes[3], n as u8);
            assert_eq!(parse(&bytes, src, dst).unwrap().advert, a);
        }
    }
}
