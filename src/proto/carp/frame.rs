//! The whole Ethernet frame of a CARP advert, as ucarp 1.5.2 writes it (70 bytes, no padding):
//!
//! ```text
//!  0..6    destination: 01:00:5e:00:00:12 (224.0.0.18), ff:ff:ff:ff:ff:ff with --nomcast
//!  6..12   source: 00:00:5e:00:00:{vhid} (not the NIC MAC, not VRRP's 00:00:5e:00:01:{id})
//! 12..14   EtherType 0x0800
//! 14..34   IPv4: 0x45, TOS 0x10, total 56, identification, DF, TTL 255, protocol 112,
//!          header checksum, the source address, 224.0.0.18 (also with --nomcast)
//! 34..70   the CARP header ([`crate::proto::carp::packet`])
//! ```
//!
//! Checked byte for byte against ucarp's frames in `tests/data/ucarp-1.5.2.json`
//! (`tests/carp_vectors.rs`). Gratuitous ARPs keep the NIC MAC and are built by
//! [`crate::proto::wire::arp`].

use core::net::Ipv4Addr;

use super::packet::HEADER_LEN;
use crate::proto::packet::{internet_checksum, IP_PROTOCOL};
use crate::proto::wire::{IPV4_HEADER_LEN, VRRP_GROUP_V4, VRRP_TTL};

/// Ethernet header length.
pub const ETH_HEADER_LEN: usize = 14;
/// A CARP advert frame: Ethernet + IPv4 + CARP, 70 bytes.
pub const FRAME_LEN: usize = ETH_HEADER_LEN + IPV4_HEADER_LEN + HEADER_LEN;
/// The IPv4 total length of an advert: 20 + 36.
const IP_TOTAL_LEN: u16 = 56;
/// ucarp's IP TOS (IPTOS_LOWDELAY).
pub const CARP_TOS: u8 = 0x10;
/// `01:00:5e:00:00:12`, the Ethernet group of 224.0.0.18 (RFC 1112 §6.4).
pub const GROUP_MAC: [u8; 6] = [0x01, 0x00, 0x5e, 0x00, 0x00, 0x12];

/// The source MAC of vhid `vhid`'s adverts: `00:00:5e:00:00:{vhid}`.
pub fn source_mac(vhid: u8) -> [u8; 6] {
    [0x00, 0x00, 0x5e, 0x00, 0x00, vhid]
}

/// The advert frame for `payload` (the 36-byte CARP header) of vhid `vhid` from `src`, IPv4
/// identification `id`, to the group MAC or, with `broadcast` (ucarp `--nomcast`), to
/// ff:ff:ff:ff:ff:ff. The IP destination is 224.0.0.18 either way.
pub fn build_frame(
    vhid: u8,
    src: Ipv4Addr,
    payload: &[u8; HEADER_LEN],
    id: u16,
    broadcast: bool,
) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    let dst = if broadcast { [0xff; 6] } else { GROUP_MAC };
    f[0..6].copy_from_slice(&dst);
    f[6..12].copy_from_slice(&source_mac(vhid));
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let mut ip = [0u8; IPV4_HEADER_LEN];
    ip[0] = 0x45;
    ip[1] = CARP_TOS;
    ip[2..4].copy_from_slice(&IP_TOTAL_LEN.to_be_bytes());
    ip[4..6].copy_from_slice(&id.to_be_bytes());
    ip[6] = 0x40; // DF
    ip[8] = VRRP_TTL;
    ip[9] = IP_PROTOCOL;
    ip[12..16].copy_from_slice(&src.octets());
    ip[16..20].copy_from_slice(&VRRP_GROUP_V4.octets());
    let csum = internet_checksum(&[&ip]);
    ip[10..12].copy_from_slice(&csum.to_be_bytes());
    f[ETH_HEADER_LEN..ETH_HEADER_LEN + IPV4_HEADER_LEN].copy_from_slice(&ip);
    f[ETH_HEADER_LEN + IPV4_HEADER_LEN..].copy_from_slice(payload);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_layout() {
        let payload = [0x21u8; HEADER_LEN];
        let f = build_frame(7, Ipv4Addr::new(192, 0, 2, 1), &payload, 0x5849, false);
        assert_eq!(
            &f[0..14],
            &[1, 0, 0x5e, 0, 0, 0x12, 0, 0, 0x5e, 0, 0, 7, 8, 0]
        );
        assert_eq!(internet_checksum(&[&f[14..34]]), 0);
        assert_eq!(&f[34..], &payload[..]);
        let b = build_frame(8, Ipv4Addr::new(192, 0, 2, 1), &payload, 1, true);
        assert_eq!(
            &b[0..12],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x5e, 0, 0, 8]
        );
        assert_eq!(&b[30..34], &[224, 0, 0, 18]);
    }
}
