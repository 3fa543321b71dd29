//! Link-layer announcements: gratuitous ARP and unsolicited Neighbor Advertisements.
//!
//! When a router becomes Active it tells the LAN that the virtual addresses now live at its
//! MAC address:
//! - **IPv4**, RFC 9568 §6.4.1 (Startup as owner) and §6.4.2 (Backup timer fires): "broadcast a
//!   gratuitous ARP request containing the virtual router MAC address for each IP address
//!   associated with the virtual router". Errata 7947 (§6.4.1) and 7949 (§6.4.2) fix the text:
//!   the ARP carries the VR's *IPv4 address* (sender = target = VIP), with the virtual router
//!   MAC as sender hardware address. [`build_garp`] is an ARP *request* (RFC 826, op 1) with
//!   target hardware address ff:ff:ff:ff:ff:ff, byte for byte the layout keepalived sends
//!   (`tests/data/keepalived-2.2.7.json`, captured by `cargo xtask vectors`).
//! - **IPv6**, RFC 9568 §6.4.1/§6.4.2 and RFC 4861 §7.2.6: an unsolicited Neighbor
//!   Advertisement per VIP to the all-nodes group ff02::1, Router flag set, Solicited flag clear,
//!   Override flag set, target = VIP, Target Link-Layer Address option = the VR MAC; hop limit
//!   255 (RFC 4861 §7.1.2 makes receivers drop anything else); ICMPv6 checksum over the RFC 8200
//!   §8.1 pseudo-header. The IPv6 source is the VIP itself (RFC 4861 §7.2.6 leaves it to the
//!   sender; keepalived does the same).
//!
//!   keepalived 2.2.7 sets the Router flag only when the interface forwards IPv6; the vector
//!   frames (captured without forwarding) carry flags 0x20 (O only). We follow RFC 9568 and set
//!   R=1 S=0 O=1 (0xa0) in [`build_unsolicited_na`]; [`build_na`] takes the flags explicitly and
//!   reproduces the vector frames exactly with [`NA_FLAG_OVERRIDE`].
//!
//! # Syscalls
//! [`Announcer::open`]: `socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)` — protocol
//! 0 so the socket receives nothing — then `bind(2)` to a `sockaddr_ll` with the interface
//! index. Each frame is one `sendto(2)` with a `sockaddr_ll` naming the interface, the
//! EtherType and the destination MAC; the frame is complete (Ethernet header included) and
//! leaves as is. Needs `CAP_NET_RAW`. A full socket buffer gives `WouldBlock`.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use super::{cvt, internet_checksum, new_socket};

/// Ethernet broadcast address.
pub const ETH_BROADCAST: [u8; 6] = [0xff; 6];
/// EtherType of ARP.
pub const ETH_P_ARP: u16 = 0x0806;
/// EtherType of IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// Length of an Ethernet ARP frame without padding (14 + 28); the NIC pads to 60.
pub const ARP_FRAME_LEN: usize = 42;
/// Length of an unsolicited NA frame: 14 Ethernet + 40 IPv6 + 32 ICMPv6.
pub const NA_FRAME_LEN: usize = 86;

/// NA Router flag (RFC 4861 §4.4), in the first byte after the checksum.
pub const NA_FLAG_ROUTER: u8 = 0x80;
/// NA Solicited flag.
pub const NA_FLAG_SOLICITED: u8 = 0x40;
/// NA Override flag.
pub const NA_FLAG_OVERRIDE: u8 = 0x20;

const ARP_OP_REQUEST: u16 = 1;
const ICMPV6_NEIGHBOR_ADVERT: u8 = 136;
const ND_OPT_TARGET_LL_ADDR: u8 = 2;
const IPPROTO_ICMPV6: u8 = 58;
const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// The gratuitous ARP for `ip` (RFC 9568 §6.4.1/§6.4.2 with errata 7947/7949): Ethernet
/// broadcast from `src_mac`, ARP request, sender = (`src_mac`, `ip`), target =
/// (ff:ff:ff:ff:ff:ff, `ip`).
pub fn build_garp(src_mac: [u8; 6], ip: Ipv4Addr) -> [u8; ARP_FRAME_LEN] {
    arp_frame(ETH_BROADCAST, src_mac, src_mac, ip, ETH_BROADCAST, ip)
}

/// A unicast ARP request to `target_mac` asking for `target_ip`, from (`src_mac`,
/// `sender_ip`). The target hardware address field is zero, as Linux sends its unicast probes
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

/// An `AF_PACKET` sender bound to one interface. See the module documentation.
#[derive(Debug)]
pub struct Announcer {
    fd: OwnedFd,
    ifindex: libc::c_int,
}

impl Announcer {
    /// Opens the packet socket on interface `ifindex`.
    pub fn open(ifindex: u32) -> io::Result<Announcer> {
        let ifindex = libc::c_int::try_from(ifindex)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface index too big"))?;
        let fd = new_socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_NONBLOCK, 0)?;
        let sll = sockaddr_ll(ifindex, 0, [0; 6]);
        // SAFETY: `sll` is a fully initialised sockaddr_ll that outlives the call, and the
        // length passed is its size; the kernel copies it.
        let ret = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sll as *const libc::sockaddr_ll).cast::<libc::sockaddr>(),
                sockaddr_ll_len(),
            )
        };
        cvt(ret)?;
        Ok(Announcer { fd, ifindex })
    }

    /// Sends the gratuitous ARP for `ip` with sender MAC `src_mac` ([`build_garp`]).
    pub fn gratuitous_arp(&self, src_mac: [u8; 6], ip: Ipv4Addr) -> io::Result<()> {
        self.send_frame(&build_garp(src_mac, ip))
    }

    /// Sends the unsolicited NA for `ip` with TLLA `src_mac` ([`build_unsolicited_na`]).
    pub fn unsolicited_na(&self, src_mac: [u8; 6], ip: Ipv6Addr) -> io::Result<()> {
        self.send_frame(&build_unsolicited_na(src_mac, ip))
    }

    /// Sends a unicast ARP request ([`build_arp_request`]).
    pub fn unicast_arp_request(
        &self,
        src_mac: [u8; 6],
        sender_ip: Ipv4Addr,
        target_mac: [u8; 6],
        target_ip: Ipv4Addr,
    ) -> io::Result<()> {
        self.send_frame(&build_arp_request(
            src_mac, sender_ip, target_mac, target_ip,
        ))
    }

    /// Sends a complete Ethernet frame (destination MAC and EtherType are read from its
    /// header). Frames shorter than an Ethernet header are `InvalidInput`.
    pub fn send_frame(&self, frame: &[u8]) -> io::Result<()> {
        let dst = frame.get(0..6).and_then(|d| <[u8; 6]>::try_from(d).ok());
        let ethertype = frame.get(12..14).and_then(|e| <[u8; 2]>::try_from(e).ok());
        let (Some(dst), Some(ethertype)) = (dst, ethertype) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "frame shorter than an Ethernet header",
            ));
        };
        let sll = sockaddr_ll(self.ifindex, u16::from_be_bytes(ethertype), dst);
        // SAFETY: `frame` is readable for `frame.len()` bytes and `sll` is a fully initialised
        // sockaddr_ll of the length given, both alive for the call; the kernel copies them.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast::<libc::c_void>(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast::<libc::sockaddr>(),
                sockaddr_ll_len(),
            )
        };
        if sent < 0 {
            return Err(io::Error::last_os_error());
        }
        if usize::try_from(sent).ok() != Some(frame.len()) {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short frame send"));
        }
        Ok(())
    }
}

impl AsRawFd for Announcer {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for Announcer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

fn sockaddr_ll(ifindex: libc::c_int, ethertype: u16, dst: [u8; 6]) -> libc::sockaddr_ll {
    let mut addr = [0u8; 8];
    addr[..6].copy_from_slice(&dst);
    libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as libc::c_ushort,
        sll_protocol: ethertype.to_be(),
        sll_ifindex: ifindex,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 6,
        sll_addr: addr,
    }
}

fn sockaddr_ll_len() -> libc::socklen_t {
    // sizeof(struct sockaddr_ll) is 20: always fits.
    std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t
}

#[cfg(test)]
mod tests {
    use super::*;

    const VECTORS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/keepalived-2.2.7.json"
    );
    const MAC: [u8; 6] = [0xda, 0x55, 0xe7, 0xf0, 0x1d, 0x2d];

    /// The frame of the vector entry whose `what` is `what`; panics loudly if the vector file
    /// or the entry is missing.
    fn vector_frame(what: &str) -> Vec<u8> {
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

    #[test]
    fn solicited_node_and_mac() {
        let ip: Ipv6Addr = "2001:db8::12:34fe".parse().unwrap();
        let g = solicited_node(ip);
        assert_eq!(g, "ff02::1:ff12:34fe".parse::<Ipv6Addr>().unwrap());
        assert_eq!(ipv6_multicast_mac(g), [0x33, 0x33, 0xff, 0x12, 0x34, 0xfe]);
        assert_eq!(ipv6_multicast_mac(ALL_NODES), [0x33, 0x33, 0, 0, 0, 1]);
    }
}
