//! A lossy, jittery hub standing in for netem: **this kernel has no `sch_netem`** (`tc qdisc add
//! ... netem` answers "Specified qdisc kind is unknown"), so the impairment is done in user space.
//!
//! [`Impair::start`] takes a [`Lab`]'s switch ports (`p0`, `p1`, ... in the switch namespace,
//! the far ends of the hosts' `eth0`) off the bridge and relays frames between them itself, one
//! `AF_PACKET` socket per port (promiscuous, every EtherType), like a hub: each frame a host
//! sends is offered to every other port, and independently per output port
//! - dropped with probability `loss` (netem `loss 5%`: independent, no bursts), else
//! - delayed by a uniform random `base ± jitter` (netem `delay 10ms 10ms` with no distribution
//!   table: uniform over [0, 20 ms]) and sent then. Frames are not kept in order (netem with
//!   jitter reorders too); frames more than `2 × jitter` apart never are.
//!
//! One thread, in the switch namespace, polls the ports and a time-ordered queue; the delay
//! actually applied (receive to send, as measured here) is recorded, so a loaded machine shows
//! up in the figures rather than silently adding delay. The random stream is a seeded
//! xorshift64*: the seed is printed, and `VRRPD_SOAK_SEED` replays a run's drop pattern.

use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::lab::enter_netns;
use super::{sh, Lab};

/// What the hub does to each frame on each output port.
#[derive(Debug, Clone, Copy)]
pub struct Impairment {
    /// Drop probability, 0.0 to 1.0.
    pub loss: f64,
    /// Mean delay.
    pub base: Duration,
    /// Half-width of the uniform delay around `base` (netem's jitter).
    pub jitter: Duration,
    /// Seed of the random stream.
    pub seed: u64,
}

/// What happened to the VRRP frames of one VRID on their way from one port to another.
#[derive(Debug, Clone, Default)]
pub struct Flow {
    /// Frames offered to the output port.
    pub offered: u64,
    /// Of them, dropped.
    pub dropped: u64,
    /// Sum of the delays applied to the delivered ones.
    pub delay_sum: Duration,
    /// The longest delay applied.
    pub delay_max: Duration,
}

impl Flow {
    /// Dropped / offered, in percent.
    pub fn loss_pct(&self) -> f64 {
        if self.offered == 0 {
            0.0
        } else {
            100.0 * self.dropped as f64 / self.offered as f64
        }
    }

    /// Mean delay applied to delivered frames.
    pub fn delay_mean(&self) -> Duration {
        let n = self.offered - self.dropped;
        if n == 0 {
            Duration::ZERO
        } else {
            self.delay_sum / n as u32
        }
    }
}

/// Per (input port, output port, VRID) figures of VRRP frames (IPv4 and IPv6, protocol 112).
pub type Flows = HashMap<(usize, usize, u8), Flow>;

/// The running hub; stopped (and its thread joined) by [`Impair::finish`] or on drop.
pub struct Impair {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<()>>,
    flows: Arc<Mutex<Flows>>,
}

impl Impair {
    /// Take the switch ports of `lab`'s hosts off the bridge and relay between them with `imp`.
    pub fn start(lab: &Lab, imp: Impairment) -> Impair {
        let ports: Vec<String> = (0..lab.hosts.len()).map(|i| format!("p{i}")).collect();
        for p in &ports {
            sh(&["ip", "-n", &lab.switch, "link", "set", p, "nomaster"]);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let flows = Arc::new(Mutex::new(Flows::new()));
        let path = Path::new("/run/netns").join(&lab.switch);
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let (stop2, flows2) = (stop.clone(), flows.clone());
        let handle = std::thread::spawn(move || {
            let file = File::open(&path).expect("open switch netns");
            enter_netns(&file);
            let socks: Vec<OwnedFd> = ports.iter().map(|p| hub_socket(p)).collect();
            let _ = tx.send(());
            relay(&socks, imp, &stop2, &flows2);
        });
        if rx.recv_timeout(Duration::from_secs(5)).is_err() {
            match handle.join() {
                Err(e) => std::panic::resume_unwind(e),
                Ok(()) => panic!("impairment hub did not start"),
            }
        }
        Impair {
            stop,
            handle: Some(handle),
            flows,
        }
    }

    /// The figures so far.
    pub fn flows(&self) -> Flows {
        self.flows.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Stop the hub; a panic of its thread is the caller's. Returns the figures.
    pub fn finish(mut self) -> Flows {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(Err(e)) = self.handle.take().map(|h| h.join()) {
            std::panic::resume_unwind(e);
        }
        self.flows()
    }
}

impl Drop for Impair {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// A non-blocking, promiscuous `AF_PACKET` socket on `dev`, every EtherType.
fn hub_socket(dev: &str) -> OwnedFd {
    let proto = (libc::ETH_P_ALL as u16).to_be();
    // SAFETY: socket(2) with integer arguments.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            i32::from(proto),
        )
    };
    assert!(fd >= 0, "hub socket: {}", io::Error::last_os_error());
    // SAFETY: a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let name = std::ffi::CString::new(dev).expect("port name");
    // SAFETY: a NUL-terminated name.
    let idx = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert!(idx != 0, "hub: no port {dev}");
    let sll = libc::sockaddr_ll {
        sll_family: libc::AF_PACKET as u16,
        sll_protocol: proto,
        sll_ifindex: idx as i32,
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
    assert_eq!(rc, 0, "bind hub socket: {}", io::Error::last_os_error());
    let mr = libc::packet_mreq {
        mr_ifindex: idx as i32,
        mr_type: libc::PACKET_MR_PROMISC as u16,
        mr_alen: 0,
        mr_address: [0; 8],
    };
    // SAFETY: `mr` is initialised and outlives the call; the length is its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_PACKET,
            libc::PACKET_ADD_MEMBERSHIP,
            (&mr as *const libc::packet_mreq).cast(),
            std::mem::size_of::<libc::packet_mreq>() as u32,
        )
    };
    assert_eq!(
        rc,
        0,
        "promiscuous hub port: {}",
        io::Error::last_os_error()
    );
    fd
}

/// xorshift64* (Vigna): enough for drop and delay draws.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A frame waiting for its send time (ordered earliest first in the max-heap).
struct Pending {
    due: Instant,
    seq: u64,
    rx: Instant,
    out: usize,
    key: Option<(usize, usize, u8)>,
    frame: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.due, self.seq) == (o.due, o.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.due, o.seq).cmp(&(self.due, self.seq))
    }
}

/// The VRID of a VRRP frame (IPv4 or IPv6, protocol 112), if it is one.
fn vrrp_vrid(f: &[u8]) -> Option<u8> {
    let et = u16::from_be_bytes([*f.get(12)?, *f.get(13)?]);
    let ip = f.get(14..)?;
    match et {
        0x0800 if ip.len() >= 20 && ip[9] == 112 => {
            let ihl = usize::from(ip[0] & 15) * 4;
            ip.get(ihl + 1).copied()
        }
        0x86dd if ip.len() >= 42 && ip[6] == 112 => ip.get(41).copied(),
        _ => None,
    }
}

fn relay(socks: &[OwnedFd], imp: Impairment, stop: &AtomicBool, flows: &Mutex<Flows>) {
    let mut rng = Rng(imp.seed | 1);
    let mut queue: BinaryHeap<Pending> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut buf = vec![0u8; 4096];
    let lo = imp.base.saturating_sub(imp.jitter);
    let span = (imp.base + imp.jitter).saturating_sub(lo);
    while !stop.load(Ordering::SeqCst) {
        let now = Instant::now();
        // Send what is due.
        while queue.peek().is_some_and(|p| p.due <= now) {
            let Some(p) = queue.pop() else { break };
            // SAFETY: the frame buffer is valid for its length during the call.
            let _ = unsafe {
                libc::send(
                    socks[p.out].as_raw_fd(),
                    p.frame.as_ptr().cast(),
                    p.frame.len(),
                    0,
                )
            };
            if let Some(key) = p.key {
                let d = Instant::now() - p.rx;
                let mut f = flows.lock().unwrap_or_else(|e| e.into_inner());
                let fl = f.entry(key).or_default();
                fl.delay_sum += d;
                fl.delay_max = fl.delay_max.max(d);
            }
        }
        let wait = queue
            .peek()
            .map(|p| p.due.saturating_duration_since(Instant::now()))
            .unwrap_or(Duration::from_millis(20))
            .min(Duration::from_millis(20));
        let mut pfds: Vec<libc::pollfd> = socks
            .iter()
            .map(|s| libc::pollfd {
                fd: s.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        // Round up: a poll that returns early only spins once more.
        let ms = wait.as_micros().div_ceil(1000) as i32;
        // SAFETY: `pfds` is a valid array of its length.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
        if n <= 0 {
            continue;
        }
        for (i, pfd) in pfds.iter().enumerate() {
            if pfd.revents == 0 {
                continue;
            }
            loop {
                // SAFETY: zeroed sockaddr_ll is a valid out-parameter.
                let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
                let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
                // SAFETY: `buf` and `from` are writable for the lengths given.
                let r = unsafe {
                    libc::recvfrom(
                        socks[i].as_raw_fd(),
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        0,
                        (&mut from as *mut libc::sockaddr_ll).cast(),
                        &mut len,
                    )
                };
                if r <= 0 {
                    break;
                }
                if from.sll_pkttype == libc::PACKET_OUTGOING {
                    continue; // our own sends on this port
                }
                let rx = Instant::now();
                let frame = &buf[..r as usize];
                let vrid = vrrp_vrid(frame);
                for out in (0..socks.len()).filter(|&o| o != i) {
                    let key = vrid.map(|v| (i, out, v));
                    let drop = rng.unit() < imp.loss;
                    if let Some(key) = key {
                        let mut f = flows.lock().unwrap_or_else(|e| e.into_inner());
                        let fl = f.entry(key).or_default();
                        fl.offered += 1;
                        fl.dropped += u64::from(drop);
                    }
                    if drop {
                        continue;
                    }
                    let delay = lo + span.mul_f64(rng.unit());
                    seq += 1;
                    queue.push(Pending {
                        due: rx + delay,
                        seq,
                        rx,
                        out,
                        key,
                        frame: frame.to_vec(),
                    });
                }
            }
        }
    }
}
