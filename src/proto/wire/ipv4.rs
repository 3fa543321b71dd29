//! The IPv4 header of an advertisement (RFC 791; RFC 9568 §5.1.1): what the shell writes when it
//! sends (source = the primary address, destination 224.0.0.18, TTL 255, TOS 0xc0, protocol 112)
//! and what it checks when a raw socket delivers a packet.

use core::fmt;
use core::net::Ipv4Addr;
use core::ops::Range;

use super::{IPV4_HEADER_LEN, VRRP_GROUP_V4, VRRP_TOS, VRRP_TTL};
use crate::proto::packet::{internet_checksum, IP_PROTOCOL};

/// Why an IPv4 header was refused or could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Error {
    /// Fewer than 20 bytes.
    Short,
    /// The version nibble is not 4.
    NotIpv4,
    /// IHL below 5 or beyond the total length.
    BadHeaderLength,
    /// The total length exceeds the bytes received.
    Truncated,
    /// The protocol is not 112.
    NotVrrp,
    /// The payload does not fit an IPv4 packet.
    TooLong,
}

impl fmt::Display for Ipv4Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ipv4Error::Short => "shorter than an IPv4 header",
            Ipv4Error::NotIpv4 => "not IPv4",
            Ipv4Error::BadHeaderLength => "bad IPv4 header length",
            Ipv4Error::Truncated => "IPv4 packet truncated",
            Ipv4Error::NotVrrp => "not IP protocol 112",
            Ipv4Error::TooLong => "VRRP message too long",
        })
    }
}

/// The fields of a received IPv4 header the shell reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Header {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Time to live.
    pub ttl: u8,
    /// Protocol number.
    pub protocol: u8,
    /// The payload's range in the parsed buffer (after IHL, up to the total length).
    pub payload: Range<usize>,
}

/// Parses the IPv4 header at the start of `data` (as a raw socket delivers it), with bounds
/// checks: version 4, 20 ≤ IHL×4 ≤ total length ≤ `data.len()`, protocol 112. Anything else
/// is an [`Ipv4Error`].
pub fn parse_ipv4_header(data: &[u8]) -> Result<Ipv4Header, Ipv4Error> {
    let hdr: &[u8; IPV4_HEADER_LEN] = data
        .get(..IPV4_HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or(Ipv4Error::Short)?;
    if hdr[0] >> 4 != 4 {
        return Err(Ipv4Error::NotIpv4);
    }
    let ihl = usize::from(hdr[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([hdr[2], hdr[3]]));
    if ihl < IPV4_HEADER_LEN || ihl > total {
        return Err(Ipv4Error::BadHeaderLength);
    }
    if total > data.len() {
        return Err(Ipv4Error::Truncated);
    }
    if hdr[9] != IP_PROTOCOL {
        return Err(Ipv4Error::NotVrrp);
    }
    Ok(Ipv4Header {
        src: Ipv4Addr::new(hdr[12], hdr[13], hdr[14], hdr[15]),
        dst: Ipv4Addr::new(hdr[16], hdr[17], hdr[18], hdr[19]),
        ttl: hdr[8],
        protocol: hdr[9],
        payload: ihl..total,
    })
}

/// The IPv4 packet we send for `payload`: 20-byte header (TOS 0xc0, identification `id`, DF
/// clear, TTL 255, protocol 112, `src` → 224.0.0.18, checksum filled in) followed by `payload`.
/// A payload that does not fit an IPv4 packet is [`Ipv4Error::TooLong`].
pub fn build_ipv4_packet(src: Ipv4Addr, payload: &[u8], id: u16) -> Result<Vec<u8>, Ipv4Error> {
    build_ipv4_packet_to(src, VRRP_GROUP_V4, payload, id)
}

/// [`build_ipv4_packet`] to `dst`: the group, or a unicast peer ([`crate::proto::unicast`]);
/// same TTL 255 and TOS.
pub fn build_ipv4_packet_to(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    payload: &[u8],
    id: u16,
) -> Result<Vec<u8>, Ipv4Error> {
    let hdr = ipv4_header_to(src, dst, payload.len(), id)?;
    let total = IPV4_HEADER_LEN + payload.len();
    let mut packet = Vec::with_capacity(total);
    packet.extend_from_slice(&hdr);
    packet.extend_from_slice(payload);
    Ok(packet)
}

/// The 20-byte header alone of [`build_ipv4_packet_to`] for a payload of `payload_len` bytes,
/// so that a sender can hand header and payload to the kernel as two pieces (no copy).
pub fn ipv4_header_to(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    payload_len: usize,
    id: u16,
) -> Result<[u8; IPV4_HEADER_LEN], Ipv4Error> {
    let total = u16::try_from(IPV4_HEADER_LEN + payload_len).map_err(|_| Ipv4Error::TooLong)?;
    let mut hdr = [0u8; IPV4_HEADER_LEN];
    hdr[0] = 0x45; // version 4, IHL 5
    hdr[1] = VRRP_TOS;
    hdr[2..4].copy_from_slice(&total.to_be_bytes());
    hdr[4..6].copy_from_slice(&id.to_be_bytes());
    // hdr[6..8]: flags and fragment offset 0 (DF clear, as keepalived sends)
    hdr[8] = VRRP_TTL;
    hdr[9] = IP_PROTOCOL;
    hdr[12..16].copy_from_slice(&src.octets());
    hdr[16..20].copy_from_slice(&dst.octets());
    let csum = internet_checksum(&[&hdr]);
    hdr[10..12].copy_from_slice(&csum.to_be_bytes());
    Ok(hdr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::wire::vectors::vector_frame;

    #[test]
    fn ipv4_packet_matches_keepalived_vector() {
        // keepalived's frame: 14-byte Ethernet header, then the IP packet (identification 1).
        for what in [
            "ipv4 vrrpv3 vrid=52 prio=200",
            "ipv4 vrrpv2 vrid=51 prio=150 auth=1",
            "ipv4 vrrpv2 vrid=54 prio=254 auth=0",
        ] {
            let frame = vector_frame(what);
            let ip = &frame[14..];
            let id = u16::from_be_bytes([ip[4], ip[5]]);
            let payload = &ip[20..];
            let built = build_ipv4_packet(Ipv4Addr::new(192, 0, 2, 1), payload, id).unwrap();
            assert_eq!(built.as_slice(), ip, "{what}");
        }
    }

    #[test]
    fn parse_vector_header() {
        let frame = vector_frame("ipv4 vrrpv3 vrid=52 prio=200");
        let h = parse_ipv4_header(&frame[14..]).unwrap();
        assert_eq!(h.src, Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(h.dst, VRRP_GROUP_V4);
        assert_eq!(h.ttl, 255);
        assert_eq!(h.payload, 20..32);
    }

    #[test]
    fn parse_rejects_garbage_without_panicking() {
        let good = build_ipv4_packet(Ipv4Addr::new(192, 0, 2, 1), &[0x31; 12], 0).unwrap();
        // Every truncation is an error, not a panic.
        for n in 0..good.len() {
            assert!(parse_ipv4_header(&good[..n]).is_err(), "len {n}");
        }
        // Trailing bytes beyond the total length are not payload.
        let mut long = good.clone();
        long.extend_from_slice(&[0; 6]);
        assert_eq!(parse_ipv4_header(&long).unwrap().payload, 20..32);
        // IHL below 5, IHL beyond the total length, wrong version, wrong protocol.
        let mut bad = good.clone();
        bad[0] = 0x44;
        assert!(parse_ipv4_header(&bad).is_err());
        let mut bad = good.clone();
        bad[0] = 0x4f;
        assert!(parse_ipv4_header(&bad).is_err());
        let mut bad = good.clone();
        bad[0] = 0x65;
        assert!(parse_ipv4_header(&bad).is_err());
        let mut bad = good.clone();
        bad[9] = 17;
        assert!(parse_ipv4_header(&bad).is_err());
        // Options: IHL 6 is fine when the bytes are there.
        let mut opt = good.clone();
        opt[0] = 0x46;
        assert_eq!(parse_ipv4_header(&opt).unwrap().payload, 24..32);
    }

    /// A cheap deterministic fuzz that reaches past the first checks: most inputs carry a valid
    /// prefix (version 4, IHL 5-15, a total length near the buffer's, protocol 112 most of the
    /// time), so the length and protocol checks are exercised, not only the version check. Every
    /// accepted input must be consistent: payload from IHL to the total length, in bounds, and
    /// the case counts prove that each outcome was reached.
    #[test]
    fn parse_arbitrary_bytes_never_panics() {
        let mut state: u32 = 0x1234_5678;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state
        };
        let (mut ok, mut short, mut bad_len, mut truncated, mut not_vrrp) = (0, 0, 0, 0, 0);
        for len in 0..96usize {
            for _ in 0..256 {
                let mut buf: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                let r = next();
                if len >= 4 && r % 8 != 0 {
                    buf[0] = 0x40 | (5 + (next() % 11) as u8);
                    let total = (len as u32 + 8).saturating_sub(next() % 24) as u16;
                    buf[2..4].copy_from_slice(&total.to_be_bytes());
                    if len > 9 && r % 4 != 1 {
                        buf[9] = 112;
                    }
                }
                match parse_ipv4_header(&buf) {
                    Ok(h) => {
                        ok += 1;
                        let ihl = usize::from(buf[0] & 0x0f) * 4;
                        let total = usize::from(u16::from_be_bytes([buf[2], buf[3]]));
                        assert_eq!(h.payload, ihl..total, "{buf:02x?}");
                        assert!(h.payload.end <= buf.len() && ihl >= 20);
                        assert_eq!(h.protocol, 112);
                    }
                    Err(Ipv4Error::Short) => short += 1,
                    Err(Ipv4Error::BadHeaderLength) => bad_len += 1,
                    Err(Ipv4Error::Truncated) => truncated += 1,
                    Err(Ipv4Error::NotVrrp) => not_vrrp += 1,
                    Err(_) => {}
                }
            }
        }
        for (what, n) in [
            ("accepted", ok),
            ("short", short),
            ("bad length", bad_len),
            ("truncated", truncated),
            ("not protocol 112", not_vrrp),
        ] {
            assert!(
                n > 500,
                "only {n} inputs {what}: the generator misses that path"
            );
        }
    }

    #[test]
    fn build_rejects_oversize() {
        assert!(build_ipv4_packet(Ipv4Addr::new(192, 0, 2, 1), &vec![0; 65536], 0).is_err());
    }
}
