//! Unicast peers (keepalived's `unicast_peer`): where adverts go and which ones are heard when a
//! virtual router runs over a link without multicast (clouds, tunnels, `multicast off`).
//!
//! RFC 9568 §5.1.1.2 and §5.1.2.2 send adverts to the VRRP group. With configured peers the
//! same message goes, once per peer and in list order, to each peer's own address; the TTL /
//! hop limit stays 255 and the VRRPv3 checksum's pseudo-header (§5.2.8) is the IP header
//! actually sent, so its destination is the peer's address (keepalived 2.2.7 does the same).
//!
//! [`Transport::check`] is the first receive check (it replaces R1, §5.1.1.3 / §5.1.2.3), in
//! this order for unicast:
//! 1. the source must be one of the peers, else [`DiscardReason::NotPeer`] (keepalived accepts
//!    any source unless `check_unicast_src` is set: a stranger could become master);
//! 2. the destination must be our own unicast source address, the one the peers send to, else
//!    [`DiscardReason::BadDestination`]. keepalived binds its socket to that address, so adverts
//!    to another local address (a secondary, the VIP) or to the group never reach it and are
//!    dropped silently; vrrpd counts them, since a peer listing us by another address is a
//!    split brain;
//! 3. the TTL / hop limit must be at least [`Peers::min_ttl`], 255 unless lowered
//!    (`--unicast-min-ttl`), else [`DiscardReason::BadTtl`]. keepalived checks no TTL in
//!    unicast mode unless told; 255 proves, as for multicast, that the sender is on the link,
//!    one hop away, so a spoofed advert from anywhere beyond a router is refused.
//!
//! Multicast keeps R1 alone: TTL 255.

use core::fmt;
use core::net::IpAddr;

use super::{DiscardReason, Family};

/// The peer list of a unicast instance and its TTL floor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peers {
    /// The peers' addresses, in the order adverts are sent.
    pub addrs: Vec<IpAddr>,
    /// Lowest TTL / hop limit accepted from a peer; 255 (the RFC rule) by default.
    pub min_ttl: u8,
}

/// How an instance's adverts travel.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Transport {
    /// To the VRRP group (224.0.0.18, ff02::12): RFC 9568 §5.1.1.2, §5.1.2.2.
    #[default]
    Multicast,
    /// To each configured peer.
    Unicast(Peers),
}

/// Why a peer list was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeersError {
    /// The list is empty.
    Empty,
    /// A peer of the other address family.
    Family(IpAddr),
    /// A peer that is not a unicast address (unspecified, multicast, broadcast, loopback).
    NotUnicast(IpAddr),
    /// A peer listed twice.
    Duplicate(IpAddr),
    /// A TTL floor of 0.
    MinTtl,
}

impl fmt::Display for PeersError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeersError::Empty => write!(f, "unicast peers: at least one peer is required"),
            PeersError::Family(a) => {
                write!(
                    f,
                    "unicast peer {a} is not of the instance's address family"
                )
            }
            PeersError::NotUnicast(a) => write!(
                f,
                "unicast peer {a} is not a unicast address (not 0, loopback, multicast or broadcast)"
            ),
            PeersError::Duplicate(a) => write!(f, "unicast peer {a} is listed twice"),
            PeersError::MinTtl => write!(f, "unicast min_ttl 0: allowed 1..=255"),
        }
    }
}

impl std::error::Error for PeersError {}

/// Whether `a` can be a peer: a unicast address.
pub fn is_unicast(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v) => {
            !(v.is_unspecified() || v.is_multicast() || v.is_broadcast() || v.is_loopback())
        }
        IpAddr::V6(v) => !(v.is_unspecified() || v.is_multicast() || v.is_loopback()),
    }
}

impl Peers {
    /// Peers with the default TTL floor, 255.
    pub fn new(addrs: Vec<IpAddr>) -> Peers {
        Peers {
            addrs,
            min_ttl: super::wire::VRRP_TTL,
        }
    }

    /// Check the list against the instance's family.
    pub fn validate(&self, family: Family) -> Result<(), PeersError> {
        if self.addrs.is_empty() {
            return Err(PeersError::Empty);
        }
        if self.min_ttl == 0 {
            return Err(PeersError::MinTtl);
        }
        for (i, &a) in self.addrs.iter().enumerate() {
            if Family::of(a) != family {
                return Err(PeersError::Family(a));
            }
            if !is_unicast(a) {
                return Err(PeersError::NotUnicast(a));
            }
            if self.addrs[..i].contains(&a) {
                return Err(PeersError::Duplicate(a));
            }
        }
        Ok(())
    }

    /// Whether every peer is an IPv6 link-local address (then our link-local is the source).
    pub fn all_link_local(&self) -> bool {
        self.addrs
            .iter()
            .all(|a| matches!(a, IpAddr::V6(v) if super::packet::is_ipv6_link_local(v)))
    }
}

impl Transport {
    /// The receive check of one packet from `src` to `dst` with `ttl`, `local` being our own
    /// source address (the primary address the core was told). See the module docs.
    pub fn check(
        &self,
        src: IpAddr,
        dst: IpAddr,
        ttl: u8,
        local: Option<IpAddr>,
    ) -> Result<(), DiscardReason> {
        match self {
            Transport::Multicast => {
                if ttl == super::wire::VRRP_TTL {
                    Ok(())
                } else {
                    Err(DiscardReason::BadTtl)
                }
            }
            Transport::Unicast(p) => {
                if !p.addrs.contains(&src) {
                    return Err(DiscardReason::NotPeer);
                }
                if local != Some(dst) {
                    return Err(DiscardReason::BadDestination);
                }
                if ttl < p.min_ttl {
                    return Err(DiscardReason::BadTtl);
                }
                Ok(())
            }
        }
    }

    /// The destinations of one advert: the group, or every peer in order.
    pub fn destinations(&self, family: Family) -> Vec<IpAddr> {
        match self {
            Transport::Multicast => vec![super::wire::vrrp_group(family)],
            Transport::Unicast(p) => p.addrs.clone(),
        }
    }

    /// Whether adverts go to peers.
    pub fn is_unicast(&self) -> bool {
        matches!(self, Transport::Unicast(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn uni(peers: &[&str], min_ttl: u8) -> Transport {
        Transport::Unicast(Peers {
            addrs: peers.iter().map(|p| ip(p)).collect(),
            min_ttl,
        })
    }

    #[test]
    fn multicast_keeps_r1() {
        let t = Transport::Multicast;
        let (a, g) = (ip("192.0.2.2"), ip("224.0.0.18"));
        assert_eq!(t.check(a, g, 255, None), Ok(()));
        assert_eq!(t.check(a, g, 254, None), Err(DiscardReason::BadTtl));
        assert_eq!(t.destinations(Family::V4), vec![g]);
    }

    #[test]
    fn unicast_source_then_destination_then_ttl() {
        let t = uni(&["192.0.2.2", "192.0.2.3"], 255);
        let me = Some(ip("192.0.2.1"));
        let to_me = ip("192.0.2.1");
        assert_eq!(t.check(ip("192.0.2.2"), to_me, 255, me), Ok(()));
        assert_eq!(t.check(ip("192.0.2.3"), to_me, 255, me), Ok(()));
        // A stranger, whatever its TTL (keepalived's lab: TTL 10 taken as master).
        for ttl in [10, 255] {
            assert_eq!(
                t.check(ip("192.0.2.9"), to_me, ttl, me),
                Err(DiscardReason::NotPeer)
            );
        }
        // To another local address, to the group, or before we know our own address.
        for dst in ["192.0.2.99", "224.0.0.18"] {
            assert_eq!(
                t.check(ip("192.0.2.2"), ip(dst), 255, me),
                Err(DiscardReason::BadDestination)
            );
        }
        assert_eq!(
            t.check(ip("192.0.2.2"), to_me, 255, None),
            Err(DiscardReason::BadDestination)
        );
        // TTL 255 by default; a lower floor only when configured.
        assert_eq!(
            t.check(ip("192.0.2.2"), to_me, 64, me),
            Err(DiscardReason::BadTtl)
        );
        let low = uni(&["192.0.2.2"], 64);
        assert_eq!(low.check(ip("192.0.2.2"), to_me, 64, me), Ok(()));
        assert_eq!(
            low.check(ip("192.0.2.2"), to_me, 63, me),
            Err(DiscardReason::BadTtl)
        );
        assert_eq!(
            t.destinations(Family::V4),
            vec![ip("192.0.2.2"), ip("192.0.2.3")]
        );
    }

    #[test]
    fn unicast_ipv6() {
        let t = uni(&["2001:db8::2"], 255);
        let me = Some(ip("2001:db8::1"));
        assert_eq!(
            t.check(ip("2001:db8::2"), ip("2001:db8::1"), 255, me),
            Ok(())
        );
        assert_eq!(
            t.check(ip("fe80::2"), ip("2001:db8::1"), 255, me),
            Err(DiscardReason::NotPeer)
        );
        assert_eq!(
            t.check(ip("2001:db8::2"), ip("ff02::12"), 255, me),
            Err(DiscardReason::BadDestination)
        );
    }

    /// keepalived 2.2.7 in unicast mode, VRRPv3 IPv4 VRID 51 priority 200 1 s, VIP 192.0.2.254,
    /// 192.0.2.1 → peer 192.0.2.2 (a lab capture, identification 1): the same IP header and the
    /// pseudo-header checksum with the *peer's* address, 0xbee7 (0xa0d7 with 224.0.0.18).
    #[test]
    fn unicast_advert_matches_keepalived_capture() {
        use crate::proto::packet::{Advert, Auth};
        use crate::proto::{ChecksumForm, Version};
        let frame: [u8; 32] = [
            0x45, 0xc0, 0x00, 0x20, 0x00, 0x01, 0x00, 0x00, 0xff, 0x70, 0x36, 0xa9, 0xc0, 0x00,
            0x02, 0x01, 0xc0, 0x00, 0x02, 0x02, 0x31, 0x33, 0xc8, 0x01, 0x00, 0x64, 0xbe, 0xe7,
            0xc0, 0x00, 0x02, 0xfe,
        ];
        let adv = Advert {
            version: Version::V3,
            vrid: 51,
            priority: 200,
            interval: 100,
            addrs: vec![ip("192.0.2.254")],
            auth: Auth::None,
        };
        let (src, peer) = (ip("192.0.2.1"), ip("192.0.2.2"));
        let msg = adv.to_bytes(src, peer, ChecksumForm::Pseudo).unwrap();
        let (IpAddr::V4(s4), IpAddr::V4(p4)) = (src, peer) else {
            unreachable!()
        };
        let pkt = crate::proto::wire::ipv4::build_ipv4_packet_to(s4, p4, &msg, 1).unwrap();
        assert_eq!(pkt.as_slice(), &frame[..]);
        let group = adv
            .to_bytes(src, ip("224.0.0.18"), ChecksumForm::Pseudo)
            .unwrap();
        assert_eq!(&group[6..8], &[0xa0, 0xd7]);
        // And the receive side: it verifies only against the peer's address.
        assert!(crate::proto::packet::parse(&frame[20..], src, peer).is_ok());
        assert!(crate::proto::packet::parse(&frame[20..], src, ip("224.0.0.18")).is_err());
    }

    #[test]
    fn validation() {
        let p = |v: &[&str]| Peers::new(v.iter().map(|s| ip(s)).collect());
        assert_eq!(p(&["192.0.2.2"]).validate(Family::V4), Ok(()));
        assert_eq!(p(&[]).validate(Family::V4), Err(PeersError::Empty));
        assert_eq!(
            p(&["2001:db8::2"]).validate(Family::V4),
            Err(PeersError::Family(ip("2001:db8::2")))
        );
        for bad in ["224.0.0.18", "0.0.0.0", "255.255.255.255", "127.0.0.1"] {
            assert_eq!(
                p(&[bad]).validate(Family::V4),
                Err(PeersError::NotUnicast(ip(bad)))
            );
        }
        assert_eq!(
            p(&["ff02::12"]).validate(Family::V6),
            Err(PeersError::NotUnicast(ip("ff02::12")))
        );
        assert_eq!(
            p(&["192.0.2.2", "192.0.2.2"]).validate(Family::V4),
            Err(PeersError::Duplicate(ip("192.0.2.2")))
        );
        let mut z = p(&["192.0.2.2"]);
        z.min_ttl = 0;
        assert_eq!(z.validate(Family::V4), Err(PeersError::MinTtl));
        assert!(p(&["fe80::2", "fe80::3"]).all_link_local());
        assert!(!p(&["fe80::2", "2001:db8::3"]).all_link_local());
    }
}
