//! The hostile neighbour (issue 13): builds broken and suspicious VRRP frames, whole Ethernet
//! frames byte by byte, and sends them from a lab host with an `AF_PACKET` socket, in
//! `sendmmsg(2)` batches fast enough for a 50,000 frames/s flood on veth.
//!
//! Why `AF_PACKET` and not a raw IP socket: with `IP_HDRINCL` the kernel rewrites the total
//! length and the header checksum and refuses some headers, and an IPv6 raw socket builds the
//! header itself; the anomalies this tool exists for (a wrong header checksum, lengths that
//! disagree, fragments, options, any source address) must reach the wire as written. Frames go
//! to one router's own MAC address ([`Target`]) with the IP destination of the VRRP group, so a
//! test can address the master and the backup separately and a watcher on the segment does not
//! receive the flood (the bridge forwards unicast frames to the learned port only).
//!
//! The VRRP messages are built with vrrpd's own encoder ([`vrrpd::proto::packet::Advert::emit`])
//! where the message is a valid one, then changed by hand for the anomaly (and the checksum
//! recomputed with [`fix_checksum`] so that a frame carries one anomaly only); the IPv4 and IPv6
//! headers are built here ([`V4`], [`V6`]), independently of `vrrpd::proto::wire`, so a header
//! the daemon would refuse can be written at all.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::{Duration, Instant};

use vrrpd::proto::packet::{internet_checksum, Advert, InternetChecksum};
use vrrpd::proto::ChecksumForm;

/// 224.0.0.18.
pub const GROUP4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// ff02::12.
pub const GROUP6: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);

/// Where a frame goes: a router's interface (its MAC), as read in its namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Destination MAC of the frames.
    pub mac: [u8; 6],
}

/// The MAC address of `dev` in namespace `ns` (`/sys/class/net/DEV/address` read inside it).
pub fn mac_of(ns: &str, dev: &str) -> [u8; 6] {
    let out = super::sh(&["ip", "-n", ns, "-o", "link", "show", "dev", dev]);
    let word = out
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no MAC for {dev} in {ns}: {out}"));
    parse_mac(word)
}

fn parse_mac(s: &str) -> [u8; 6] {
    let mut m = [0u8; 6];
    let parts: Vec<&str> = s.split(':').collect();
    assert_eq!(parts.len(), 6, "MAC {s}");
    for (b, p) in m.iter_mut().zip(parts) {
        *b = u8::from_str_radix(p, 16).unwrap_or_else(|e| panic!("MAC {s}: {e}"));
    }
    m
}

/// The IPv6 link-local address of `dev` in `ns`, other than those in `not` (a master's
/// link-local VIP is on the interface too).
pub fn link_local_of(ns: &str, dev: &str, not: &[IpAddr]) -> Ipv6Addr {
    let out = super::sh(&[
        "ip", "-n", ns, "-6", "-o", "addr", "show", "dev", dev, "scope", "link",
    ]);
    out.split_whitespace()
        .filter_map(|w| w.split('/').next()?.parse::<Ipv6Addr>().ok())
        .find(|a| !not.contains(&IpAddr::V6(*a)))
        .unwrap_or_else(|| panic!("no link-local address on {dev} in {ns}: {out}"))
}

// ---------------------------------------------------------------------------------------------
// VRRP messages
// ---------------------------------------------------------------------------------------------

/// A valid advert as vrrpd itself encodes it, from `src` to `dst` (VRRPv3 over IPv4: the
/// pseudo-header checksum form, as keepalived and FRR send). The interval is centiseconds (v3)
/// or seconds (v2).
pub fn advert(a: &Advert, src: IpAddr, dst: IpAddr) -> Vec<u8> {
    let mut buf = vec![0u8; a.buffer_len()];
    let n = a
        .emit(&mut buf, src, dst, ChecksumForm::Pseudo)
        .unwrap_or_else(|e| panic!("emit {a:?}: {e}"));
    buf.truncate(n);
    buf
}

/// Recompute the checksum of `msg` (changed by hand) for `src` → `dst`, so that the frame
/// carries only the anomaly made on purpose: RFC 3768 §5.3.8 (v2, message only) or
/// RFC 9568 §5.2.8 (v3 with the pseudo-header; IPv4 in the pseudo-header form). The version is
/// read from the message's first nibble; any nibble but 2 gets the v3 rule. Messages shorter
/// than 8 bytes are left alone.
pub fn fix_checksum(msg: &mut [u8], src: IpAddr, dst: IpAddr) {
    if msg.len() < 8 {
        return;
    }
    msg[6] = 0;
    msg[7] = 0;
    let mut acc = InternetChecksum::new();
    if msg[0] >> 4 != 2 {
        match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                acc.add_ipv4_pseudo_header(s, d, 112, msg.len() as u16);
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                acc.add_ipv6_pseudo_header(s, d, 112, msg.len() as u32);
            }
            _ => panic!("fix_checksum: families differ"),
        }
    }
    acc.add_bytes(msg);
    let c = acc.checksum();
    msg[6..8].copy_from_slice(&c.to_be_bytes());
}

/// A CARP advert (ucarp's layout: version 2, type 1, 36 bytes, authlen 7) for `vhid`: what a
/// VRRP instance must count as `foreign_protocol` and never parse as VRRPv2.
pub fn carp_advert(vhid: u8) -> Vec<u8> {
    let mut m = vec![0u8; 36];
    m[0] = 0x21;
    m[1] = vhid;
    m[2] = 0; // advskew
    m[3] = 7; // authlen
    m[5] = 1; // advbase
    let c = internet_checksum(&[&m]);
    m[6..8].copy_from_slice(&c.to_be_bytes());
    m
}

// ---------------------------------------------------------------------------------------------
// IP headers and Ethernet frames
// ---------------------------------------------------------------------------------------------

/// An IPv4 header to write, every field settable, including wrong ones.
#[derive(Debug, Clone)]
pub struct V4 {
    /// Source.
    pub src: Ipv4Addr,
    /// Destination (224.0.0.18 by default).
    pub dst: Ipv4Addr,
    /// TTL (255 by default).
    pub ttl: u8,
    /// Protocol (112 by default).
    pub protocol: u8,
    /// Flags and fragment offset, as the 16-bit field (0 by default; 0x2000 is MF).
    pub frag: u16,
    /// Identification.
    pub id: u16,
    /// Options bytes (padded with End of Option List to a multiple of 4).
    pub options: Vec<u8>,
    /// Total length written instead of the true one.
    pub total_len: Option<u16>,
    /// IHL (in 32-bit words) written instead of the true one.
    pub ihl: Option<u8>,
    /// Header checksum written instead of the true one.
    pub checksum: Option<u16>,
}

impl V4 {
    /// A correct header from `src` to the VRRP group, TTL 255, protocol 112.
    pub fn new(src: Ipv4Addr) -> V4 {
        V4 {
            src,
            dst: GROUP4,
            ttl: 255,
            protocol: 112,
            frag: 0,
            id: 0x4242,
            options: Vec::new(),
            total_len: None,
            ihl: None,
            checksum: None,
        }
    }

    /// The IPv4 packet: this header, then `payload`.
    pub fn packet(&self, payload: &[u8]) -> Vec<u8> {
        let mut opts = self.options.clone();
        while opts.len() % 4 != 0 {
            opts.push(0);
        }
        let hlen = 20 + opts.len();
        let ihl = self.ihl.unwrap_or((hlen / 4) as u8);
        let total = self.total_len.unwrap_or((hlen + payload.len()) as u16);
        let mut p = Vec::with_capacity(hlen + payload.len());
        p.push(0x40 | (ihl & 0x0f));
        p.push(0xc0);
        p.extend_from_slice(&total.to_be_bytes());
        p.extend_from_slice(&self.id.to_be_bytes());
        p.extend_from_slice(&self.frag.to_be_bytes());
        p.extend_from_slice(&[self.ttl, self.protocol, 0, 0]);
        p.extend_from_slice(&self.src.octets());
        p.extend_from_slice(&self.dst.octets());
        p.extend_from_slice(&opts);
        let c = self
            .checksum
            .unwrap_or_else(|| internet_checksum(&[&p[..hlen]]));
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p.extend_from_slice(payload);
        p
    }
}

/// An IPv6 header to write.
#[derive(Debug, Clone)]
pub struct V6 {
    /// Source.
    pub src: Ipv6Addr,
    /// Destination (ff02::12 by default).
    pub dst: Ipv6Addr,
    /// Hop limit (255 by default).
    pub hop_limit: u8,
    /// Next header of the fixed header (112 by default; another value with `ext`).
    pub next_header: u8,
    /// Extension headers written between the fixed header and the payload, as bytes.
    pub ext: Vec<u8>,
    /// Payload length written instead of the true one.
    pub payload_len: Option<u16>,
}

impl V6 {
    /// A correct header from `src` to the VRRP group, hop limit 255, next header 112.
    pub fn new(src: Ipv6Addr) -> V6 {
        V6 {
            src,
            dst: GROUP6,
            hop_limit: 255,
            next_header: 112,
            ext: Vec::new(),
            payload_len: None,
        }
    }

    /// The IPv6 packet: this header, the extension headers, then `payload`.
    pub fn packet(&self, payload: &[u8]) -> Vec<u8> {
        let len = self
            .payload_len
            .unwrap_or((self.ext.len() + payload.len()) as u16);
        let mut p = Vec::with_capacity(40 + self.ext.len() + payload.len());
        p.extend_from_slice(&[0x6c, 0x00, 0x00, 0x00]); // version 6, traffic class 0xc0
        p.extend_from_slice(&len.to_be_bytes());
        p.push(self.next_header);
        p.push(self.hop_limit);
        p.extend_from_slice(&self.src.octets());
        p.extend_from_slice(&self.dst.octets());
        p.extend_from_slice(&self.ext);
        p.extend_from_slice(payload);
        p
    }
}

/// An Ethernet frame to `to` from `from` carrying `ip` (EtherType from the IP version nibble).
pub fn ether(to: [u8; 6], from: [u8; 6], ip: &[u8]) -> Vec<u8> {
    let ethertype: u16 = if ip.first().map(|b| b >> 4) == Some(6) {
        0x86dd
    } else {
        0x0800
    };
    let mut f = Vec::with_capacity(14 + ip.len());
    f.extend_from_slice(&to);
    f.extend_from_slice(&from);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(ip);
    f
}

// ---------------------------------------------------------------------------------------------
// The sender
// ---------------------------------------------------------------------------------------------

/// An `AF_PACKET` sender on one interface of the namespace it was opened in.
pub struct Injector {
    fd: OwnedFd,
    ifindex: u32,
    /// The interface's own MAC (the source of the frames built by the tests).
    pub mac: [u8; 6],
}

/// What a [`Injector::flood`] achieved.
#[derive(Debug, Clone, Copy, Default)]
pub struct FloodStats {
    /// Frames the kernel accepted.
    pub sent: u64,
    /// Frames refused (`ENOBUFS`, `EAGAIN`): the sender could not keep up.
    pub refused: u64,
    /// How long the flood ran.
    pub elapsed: Duration,
}

impl FloodStats {
    /// Frames per second accepted.
    pub fn rate(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl Injector {
    /// Open on `dev` of the calling thread's namespace (call it inside [`super::in_netns`]; the
    /// socket stays in that namespace whichever thread uses it later).
    pub fn open(dev: &str) -> Injector {
        // SAFETY: socket(2) with integer arguments; protocol 0: send only, receive nothing.
        let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        assert!(fd >= 0, "AF_PACKET socket: {}", io::Error::last_os_error());
        // SAFETY: a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let name = std::ffi::CString::new(dev).expect("interface name");
        // SAFETY: a valid NUL-terminated name.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        assert!(ifindex != 0, "inject: no interface {dev}");
        // A large send buffer: a batch of 256 frames must not hit ENOBUFS at once.
        let sz: libc::c_int = 4 << 20;
        // SAFETY: an int option, valid for its size during the call.
        unsafe {
            libc::setsockopt(
                fd.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_SNDBUFFORCE,
                (&sz as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as u32,
            )
        };
        let mac = read_mac(dev);
        Injector { fd, ifindex, mac }
    }

    fn addr(&self) -> libc::sockaddr_ll {
        libc::sockaddr_ll {
            sll_family: libc::AF_PACKET as u16,
            sll_protocol: 0,
            sll_ifindex: self.ifindex as i32,
            sll_hatype: 0,
            sll_pkttype: 0,
            sll_halen: 6,
            sll_addr: [0; 8],
        }
    }

    /// Send every frame once, in order (batches of up to 256 per `sendmmsg`); panics when the
    /// kernel refuses one, since a test that meant to inject it would judge nothing.
    pub fn send(&self, frames: &[Vec<u8>]) {
        let mut at = 0;
        let mut retries = 0;
        while at < frames.len() {
            match self.send_batch(&frames[at..frames.len().min(at + 256)]) {
                Ok(n) => {
                    at += n;
                    retries = 0;
                }
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) && retries < 100 => {
                    retries += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(e) => panic!("inject: sendmmsg: {e}"),
            }
        }
    }

    /// One `sendmmsg(2)` of up to `frames.len()` frames: how many the kernel took.
    fn send_batch(&self, frames: &[Vec<u8>]) -> io::Result<usize> {
        if frames.is_empty() {
            return Ok(0);
        }
        let mut sll = self.addr();
        let mut iov: Vec<libc::iovec> = frames
            .iter()
            .map(|f| libc::iovec {
                iov_base: f.as_ptr() as *mut libc::c_void,
                iov_len: f.len(),
            })
            .collect();
        let mut msgs: Vec<libc::mmsghdr> = iov
            .iter_mut()
            .map(|v| {
                // SAFETY: an all-zero msghdr is a valid empty one; the pointers set below stay
                // valid for the call.
                let mut h: libc::msghdr = unsafe { std::mem::zeroed() };
                h.msg_name = (&mut sll as *mut libc::sockaddr_ll).cast();
                h.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
                h.msg_iov = v;
                h.msg_iovlen = 1;
                libc::mmsghdr {
                    msg_hdr: h,
                    msg_len: 0,
                }
            })
            .collect();
        // SAFETY: `msgs` describes `frames` and `sll`, all alive and unmoved during the call.
        let n =
            unsafe { libc::sendmmsg(self.fd.as_raw_fd(), msgs.as_mut_ptr(), msgs.len() as u32, 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Send `frames` round-robin at `rate` frames per second for `dur`, paced in 1 ms slots
    /// (each slot sends what the schedule owes, in one `sendmmsg`); frames the kernel refuses
    /// are counted, not retried.
    pub fn flood(&self, frames: &[Vec<u8>], rate: u32, dur: Duration) -> FloodStats {
        assert!(!frames.is_empty(), "flood: no frames");
        let start = Instant::now();
        let mut st = FloodStats::default();
        let mut next = 0usize;
        let mut batch: Vec<Vec<u8>> = Vec::with_capacity(512);
        loop {
            let el = start.elapsed();
            if el >= dur {
                break;
            }
            let owed = (el.as_secs_f64() * f64::from(rate)) as u64;
            let mut want = owed.saturating_sub(st.sent + st.refused).min(512);
            batch.clear();
            while want > 0 {
                batch.push(frames[next % frames.len()].clone());
                next += 1;
                want -= 1;
            }
            let mut done = 0;
            while done < batch.len() {
                match self.send_batch(&batch[done..]) {
                    Ok(0) => break,
                    Ok(n) => {
                        st.sent += n as u64;
                        done += n;
                    }
                    Err(_) => {
                        st.refused += (batch.len() - done) as u64;
                        break;
                    }
                }
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        st.elapsed = start.elapsed();
        st
    }
}

fn read_mac(dev: &str) -> [u8; 6] {
    // SAFETY: an ioctl on a fresh datagram socket with an ifreq we own.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        assert!(s >= 0, "socket: {}", io::Error::last_os_error());
        let mut ifr: libc::ifreq = std::mem::zeroed();
        for (d, b) in ifr.ifr_name.iter_mut().zip(dev.as_bytes()) {
            *d = *b as libc::c_char;
        }
        let r = libc::ioctl(s, libc::SIOCGIFHWADDR, &mut ifr);
        libc::close(s);
        assert_eq!(r, 0, "SIOCGIFHWADDR {dev}: {}", io::Error::last_os_error());
        let sa = ifr.ifr_ifru.ifru_hwaddr.sa_data;
        std::array::from_fn(|i| sa[i] as u8)
    }
}
