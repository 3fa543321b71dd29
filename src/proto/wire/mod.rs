//! Byte layouts other than the VRRP message itself, pure and tested against captured frames:
//! everything the shell puts on the wire around or beside an advertisement. The shell in
//! `src/sys` only moves these bytes; it builds and parses none of them itself.
//!
//! - [`ipv4`]: the IPv4 header of an advertisement (RFC 9568 §5.1.1), built and checked.
//! - [`arp`]: gratuitous ARP (RFC 9568 §6.4.1/§6.4.2, errata 7947 and 7949) and unicast ARP
//!   requests (RFC 826).
//! - [`nd`]: unsolicited Neighbor Advertisements (RFC 4861 §7.2.6), the ICMPv6 checksum,
//!   solicited-node groups. Router Advertisements (RFC 9568 §8.2.x) go here as well.
//! - [`magic`]: the `-I`/`-O` magic packet's frames (an ARP request and an ICMP echo request).
//! - [`quiet`]: the quiet Backup's eBPF socket filter, its map layout and the advert pattern
//!   it compares (issue #14).
//! - [`proc_event`]: the netlink process connector's listen request and process events
//!   (fork, exec, comm, exit), for process trackers.
//!
//! The VRRP message is [`crate::proto::packet`]; CARP's header is `crate::proto::carp::packet`.
//! Shared constants live here once: the VRRP groups, TTL and TOS. The protocol number 112 is
//! [`crate::proto::packet::IP_PROTOCOL`], the link-local test
//! [`crate::proto::packet::is_ipv6_link_local`], the family of an address [`crate::proto::Family::of`].

pub mod arp;
pub mod ipv4;
pub mod magic;
pub mod nd;
pub mod proc_event;
pub mod quiet;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::proto::Family;

/// The IPv4 VRRP group, 224.0.0.18 (RFC 9568 §5.1.1.2).
pub const VRRP_GROUP_V4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv6 VRRP group, ff02::12 (RFC 9568 §5.1.2.2).
pub const VRRP_GROUP_V6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// TTL / hop limit of every advert (RFC 9568 §5.1.1.3, §5.1.2.3).
pub const VRRP_TTL: u8 = 255;
/// IPv4 TOS / IPv6 traffic class: DSCP CS6 "internetwork control", as keepalived sends.
pub const VRRP_TOS: u8 = 0xc0;
/// Length of the IPv4 header we send (no options).
pub const IPV4_HEADER_LEN: usize = 20;

/// The VRRP group of a family (RFC 9568 §5.1.1.2, §5.1.2.2).
pub fn vrrp_group(family: Family) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(VRRP_GROUP_V4),
        Family::V6 => IpAddr::V6(VRRP_GROUP_V6),
    }
}

/// Captured keepalived frames (`tests/data`, produced by `cargo xtask vectors`) for the tests.
#[cfg(test)]
pub(crate) mod vectors {
    /// The vector file.
    pub const VECTORS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/keepalived-2.2.7.json"
    );

    /// The frame of the vector entry whose `what` is `what`; panics loudly if the vector file
    /// or the entry is missing.
    pub fn vector_frame(what: &str) -> Vec<u8> {
        let text = std::fs::read_to_string(VECTORS)
            .unwrap_or_else(|e| panic!("test vectors missing at {VECTORS}: {e}"));
        let json: serde_json::Value = serde_json::from_str(&text).expect("vector JSON");
        let frames = json["frames"].as_array().expect("frames array");
        let entry = frames
            .iter()
            .find(|f| f["what"] == what)
            .unwrap_or_else(|| panic!("no vector frame {what:?}"));
        let hex = entry["frame_hex"].as_str().expect("frame_hex");
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect()
    }

    #[test]
    fn groups_and_family() {
        use super::*;
        assert_eq!(Family::of("192.0.2.1".parse().unwrap()), Family::V4);
        assert_eq!(Family::of("2001:db8::1".parse().unwrap()), Family::V6);
        assert_eq!(vrrp_group(Family::V4), IpAddr::V4(VRRP_GROUP_V4));
        assert_eq!(vrrp_group(Family::V6), IpAddr::V6(VRRP_GROUP_V6));
    }
}
