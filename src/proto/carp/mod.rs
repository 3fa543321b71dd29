//! CARP (Common Address Redundancy Protocol) version 2, as ucarp 1.5.2 speaks it on Linux, beside
//! VRRP: the same IP protocol 112, the same group 224.0.0.18, the same first byte `0x21` as VRRPv2.
//!
//! CARP has no RFC. This module follows the wire format and the election of ucarp 1.5.2 (derived
//! from OpenBSD's `ip_carp.c` of 2004), checked byte for byte against frames captured from Debian's
//! `ucarp` (`tests/data/ucarp-1.5.2.json`, produced by `cargo xtask carp-vectors`).
//!
//! - [`packet`]: typed view over the 36-byte header, checksum, HMAC-SHA1, the owned [`packet::Advert`].
//! - [`frame`]: the whole Ethernet frame of an advert (source MAC `00:00:5e:00:00:{vhid}`).
//! - [`election`]: the sans-I/O state machine, driven by `handle(now, event)` like
//!   [`crate::proto::fsm::Instance`].
//!
//! Telling CARP from VRRP ([`classify`]): a CARP payload is exactly 36 bytes, version 2 type 1, and
//! byte 3 (authlen, VRRPv2's address count) is 7. A VRRPv2 advert with 7 addresses is
//! 8 + 28 + 8 = 44 bytes (RFC 3768 §5.1), never 36, so the two tests exclude each other; VRRPv3
//! carries version 3 (RFC 9568 §5.2.1).

pub mod election;
pub mod frame;
pub mod packet;

/// Which protocol an IP protocol 112 payload belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// A CARP version 2 advertisement (36 bytes, `0x21`, authlen 7).
    Carp,
    /// Anything else: VRRP (RFC 3768, RFC 9568) or garbage, left to the VRRP parser.
    Vrrp,
}

/// Classify the bytes after the IP header (exactly the IP payload: total length − IHL·4).
pub fn classify(payload: &[u8]) -> Protocol {
    if payload.len() == packet::HEADER_LEN
        && payload.first() == Some(&packet::VER_TYPE)
        && payload.get(packet::field::AUTHLEN) == Some(&packet::AUTHLEN)
    {
        Protocol::Carp
    } else {
        Protocol::Vrrp
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::packet::{Advert, Auth};
    use crate::proto::{ChecksumForm, Version};
    use core::net::{IpAddr, Ipv4Addr};

    #[test]
    fn vrrpv2_with_seven_addresses_is_not_carp() {
        let vips: Vec<IpAddr> = (1..=7)
            .map(|i| IpAddr::V4(Ipv4Addr::new(192, 0, 2, i)))
            .collect();
        let adv = Advert {
            version: Version::V2,
            vrid: 7,
            priority: 100,
            interval: 1,
            addrs: vips,
            auth: Auth::None,
        };
        let src = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
        let dst = IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18));
        let bytes = adv.to_bytes(src, dst, ChecksumForm::Plain).expect("emit");
        assert_eq!(bytes.len(), 44);
        assert_eq!(bytes[0], 0x21);
        assert_eq!(bytes[3], 7);
        assert_eq!(classify(&bytes), Protocol::Vrrp);
        assert_eq!(classify(&bytes[..36]), Protocol::Carp);
        let mut v3 = bytes[..36].to_vec();
        v3[0] = 0x31;
        assert_eq!(classify(&v3), Protocol::Vrrp);
        assert_eq!(classify(&[]), Protocol::Vrrp);
    }
}
