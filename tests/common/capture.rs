//! Frames seen on the wire: an `AF_PACKET` capture of every frame on one interface of a
//! namespace, in a background thread, with kernel receive timestamps ([`Capture`]), and a
//! non-blocking capture socket read in the caller's thread ([`packet_socket`], [`captured`]).
//! A capture that fails (cannot open its socket, or its thread panics) fails the test: an empty
//! capture never passes for an absence.

use std::fs::File;
use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::lab::enter_netns;
use super::wait_some;

/// Any frame seen on the wire.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Time since the capture started (kernel receive time).
    pub at: Duration,
    /// The whole Ethernet frame.
    pub bytes: Vec<u8>,
}

impl Frame {
    /// The EtherType.
    pub fn ethertype(&self) -> u16 {
        u16::from_be_bytes([self.bytes[12], self.bytes[13]])
    }

    /// Source MAC.
    pub fn src_mac(&self) -> [u8; 6] {
        self.bytes[6..12].try_into().unwrap_or([0; 6])
    }

    /// Destination MAC.
    pub fn dst_mac(&self) -> [u8; 6] {
        self.bytes[0..6].try_into().unwrap_or([0; 6])
    }

    /// ARP (RFC 826): (op, sender IPv4, target IPv4), or None for anything else.
    pub fn arp(&self) -> Option<(u16, std::net::Ipv4Addr, std::net::Ipv4Addr)> {
        let p = self.bytes.get(14..42)?;
        if self.ethertype() != 0x0806 {
            return None;
        }
        let op = u16::from_be_bytes([p[6], p[7]]);
        Some((
            op,
            std::net::Ipv4Addr::new(p[14], p[15], p[16], p[17]),
            std::net::Ipv4Addr::new(p[24], p[25], p[26], p[27]),
        ))
    }
}

/// A VRRP frame seen on the wire.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Time since the capture started.
    pub at: Duration,
    /// IP source.
    pub src: IpAddr,
    /// IP destination (the VRRP group, or a unicast peer).
    pub dst: IpAddr,
    /// IP TTL / hop limit.
    pub ttl: u8,
    /// Source MAC.
    pub mac: [u8; 6],
    /// The VRRP payload.
    pub payload: Vec<u8>,
}

/// Capture VRRP packets (IPv4 and IPv6, protocol 112) on `dev` in `ns` in the background.
pub struct Capture {
    handle: Option<std::thread::JoinHandle<Vec<Frame>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// When the capture started.
    pub started: Instant,
    /// CLOCK_MONOTONIC at `started` (the clock of vrrpd's log stamps).
    pub mono_start: Duration,
}

impl Capture {
    /// Start capturing.
    pub fn start(ns: &str, dev: &str) -> Capture {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stop2 = stop.clone();
        let path = Path::new("/run/netns").join(ns);
        let dev = dev.to_string();
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let started = Instant::now();
        let mono_start = monotonic();
        let handle = std::thread::spawn(move || {
            let file = File::open(&path).expect("open netns");
            enter_netns(&file);
            capture_loop(&dev, &stop2, tx, started)
        });
        if rx.recv_timeout(Duration::from_secs(5)).is_err() {
            // The thread died before its socket was bound (its panic names why) or hangs.
            match handle.join() {
                Err(e) => std::panic::resume_unwind(e),
                Ok(_) => panic!("capture on {ns} did not start"),
            }
        }
        Capture {
            handle: Some(handle),
            stop,
            started,
            mono_start,
        }
    }

    /// A capture time (`Seen::at`, `Frame::at`) on CLOCK_MONOTONIC, the clock of vrrpd's log
    /// stamps ([`super::log_stamp`]), to microseconds.
    pub fn mono(&self, at: Duration) -> Duration {
        self.mono_start + at
    }

    /// Stop and return the VRRP adverts seen. A panic of the capture thread is the caller's.
    pub fn finish(self) -> Vec<Seen> {
        self.finish_all().iter().filter_map(vrrp_of).collect()
    }

    /// Stop and return every frame seen. A panic of the capture thread is the caller's.
    pub fn finish_all(mut self) -> Vec<Frame> {
        self.stop.store(true, Ordering::SeqCst);
        match self.handle.take().map(|h| h.join()) {
            Some(Ok(frames)) => frames,
            Some(Err(e)) => std::panic::resume_unwind(e),
            None => Vec::new(),
        }
    }
}

fn capture_loop(
    dev: &str,
    stop: &std::sync::atomic::AtomicBool,
    ready: std::sync::mpsc::Sender<()>,
    started: Instant,
) -> Vec<Frame> {
    // SAFETY: plain socket syscalls on descriptors we own; buffers are ours.
    unsafe {
        let fd = libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW,
            (libc::ETH_P_ALL as u16).to_be() as i32,
        );
        assert!(fd >= 0, "packet socket: {}", io::Error::last_os_error());
        let name = std::ffi::CString::new(dev).unwrap();
        let idx = libc::if_nametoindex(name.as_ptr());
        assert!(idx != 0, "capture: no interface {dev}");
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = idx as i32;
        let r = libc::bind(
            fd,
            &sll as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        );
        assert!(r == 0, "bind packet socket: {}", io::Error::last_os_error());
        let tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 20_000,
        };
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &tv as *const _ as *const libc::c_void,
            16,
        );
        // Kernel receive timestamps (CLOCK_REALTIME), so that the times do not depend on when
        // this thread gets to run: the first SIOCGSTAMPNS enables them (and fails: no packet
        // yet), then it returns the last packet's. `base` is the real time at `started`.
        let mut ts: libc::timespec = std::mem::zeroed();
        let _ = libc::ioctl(fd, SIOCGSTAMPNS, &mut ts);
        let base = realtime().saturating_sub(started.elapsed());
        let _ = ready.send(());
        let mut out = Vec::new();
        let mut buf = vec![0u8; 4096];
        while !stop.load(Ordering::SeqCst) {
            let n = libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0);
            if n <= 0 {
                continue;
            }
            let at = if libc::ioctl(fd, SIOCGSTAMPNS, &mut ts) == 0 {
                Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32).saturating_sub(base)
            } else {
                started.elapsed()
            };
            let f = &buf[..n as usize];
            if f.len() >= 14 {
                out.push(Frame {
                    at,
                    bytes: f.to_vec(),
                });
            }
        }
        libc::close(fd);
        out
    }
}

/// SIOCGSTAMPNS (asm-generic/sockios.h SIOCGSTAMPNS_OLD, a native timespec): the receive time of
/// the last packet read.
const SIOCGSTAMPNS: libc::Ioctl = 0x8907;

/// CLOCK_MONOTONIC now.
pub fn monotonic() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Sleeps until CLOCK_MONOTONIC is `phase` past a whole multiple of `interval`, and returns that
/// moment. vrrpd Masters send their regular adverts on that grid (`proto::timers::next_on_grid`,
/// from 100 ms up, unless `--no-align`), just after each grid point (their wake-up latency,
/// well under a millisecond when idle). A test that acts relative to a Master's adverts
/// (a kill just after or just before one, a heal between two) picks its moment with this
/// instead of leaving it to chance. `phase` must be below `interval`.
pub fn sleep_until_grid_phase(interval: Duration, phase: Duration) -> Duration {
    assert!(phase < interval, "phase {phase:?} >= interval {interval:?}");
    let i = interval.as_nanos();
    let now = monotonic();
    let mut at = now.as_nanos() / i * i + phase.as_nanos();
    if at <= now.as_nanos() {
        at += i;
    }
    let at = Duration::from_nanos(u64::try_from(at).expect("CLOCK_MONOTONIC fits in u64 ns"));
    std::thread::sleep(at.saturating_sub(monotonic()));
    at
}

/// CLOCK_REALTIME now, since the epoch.
fn realtime() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// VRRP priority of a captured payload (byte 2).
pub fn prio(s: &Seen) -> u8 {
    s.payload.get(2).copied().unwrap_or(0)
}

/// The VRRP advert in a frame (IPv4 or IPv6, protocol 112), if it is one.
pub fn vrrp_of(fr: &Frame) -> Option<Seen> {
    let f = &fr.bytes;
    let mac = fr.src_mac();
    let ip = &f[14..];
    match fr.ethertype() {
        0x0800 if ip.len() >= 20 && ip[9] == 112 => {
            let ihl = ((ip[0] & 15) as usize) * 4;
            Some(Seen {
                at: fr.at,
                src: IpAddr::from([ip[12], ip[13], ip[14], ip[15]]),
                dst: IpAddr::from([ip[16], ip[17], ip[18], ip[19]]),
                ttl: ip[8],
                mac,
                payload: ip[ihl.min(ip.len())..].to_vec(),
            })
        }
        0x86dd if ip.len() >= 40 && ip[6] == 112 => {
            let s: [u8; 16] = ip[8..24].try_into().ok()?;
            let d: [u8; 16] = ip[24..40].try_into().ok()?;
            Some(Seen {
                at: fr.at,
                src: IpAddr::from(s),
                dst: IpAddr::from(d),
                ttl: ip[7],
                mac,
                payload: ip[40..].to_vec(),
            })
        }
        _ => None,
    }
}

/// A non-blocking `AF_PACKET` socket on interface `ifindex`, every EtherType, created in the
/// calling thread's namespace.
pub fn packet_socket(ifindex: u32) -> OwnedFd {
    let proto = (libc::ETH_P_ALL as u16).to_be() as libc::c_int;
    // SAFETY: socket(2) with integer arguments.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_NONBLOCK, proto) };
    assert!(fd >= 0, "capture socket: {}", io::Error::last_os_error());
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let sll = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: proto as u16,
        sll_ifindex: ifindex as i32,
        sll_hatype: 0,
        sll_pkttype: 0,
        sll_halen: 0,
        sll_addr: [0; 8],
    };
    // SAFETY: `sll` is initialised and outlives the call; the length is its size.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    assert_eq!(rc, 0, "bind capture: {}", io::Error::last_os_error());
    fd
}

/// Reads frames from a [`packet_socket`] for up to 3 s until one satisfies `pred`.
pub fn captured(fd: &OwnedFd, mut pred: impl FnMut(&[u8]) -> bool) -> Option<Vec<u8>> {
    let mut buf = [0u8; 2048];
    wait_some(Duration::from_secs(3), || loop {
        // SAFETY: `buf` is writable for its whole length during the call.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return None;
        }
        let frame = &buf[..n as usize];
        if pred(frame) {
            return Some(frame.to_vec());
        }
    })
}
