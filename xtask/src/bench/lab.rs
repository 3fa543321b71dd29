//! The bench's own network-namespace lab (compact; the integration tests have their own): network
//! namespaces joined by veth pairs or a bridge, processes started inside a namespace (setns(2)
//! between fork and exec), a VRRP capture with kernel receive timestamps and an ICMP prober.
//! Processes are ended by PID and namespaces deleted when a [`Lab`] is dropped, on every path.
//! Only documentation addresses are used (192.0.2.0/24).

use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Errors are one line of text.
pub type R<T> = Result<T, String>;

static STOP: AtomicBool = AtomicBool::new(false);
static COUNTER: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// SIGINT/SIGTERM/SIGHUP make every wait return an error, so the labs unwind and clean up.
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
}

/// Run the bench at nice -10, so that its capture and its /proc reads keep up while the daemons
/// under test saturate the machine (1000 vrrpd Backups do). Children are reset to nice 0.
pub fn raise_priority() {
    // SAFETY: setpriority on our own process.
    unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, -10) };
}

/// Err once a stop signal arrived.
pub fn check() -> R<()> {
    if STOP.load(Ordering::SeqCst) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

/// CLOCK_REALTIME in ns: the clock of SO_TIMESTAMPNS.
pub fn now_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we pass.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// Sleep, waking every 50 ms to notice a stop signal.
pub fn sleep(d: Duration) -> R<()> {
    let end = Instant::now() + d;
    loop {
        check()?;
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        std::thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

/// Poll `cond` every `step` until it holds (true) or `limit` passes (false).
pub fn wait_until(limit: Duration, step: Duration, mut cond: impl FnMut() -> bool) -> R<bool> {
    let end = Instant::now() + limit;
    loop {
        if cond() {
            return Ok(true);
        }
        check()?;
        if Instant::now() >= end {
            return Ok(false);
        }
        std::thread::sleep(step);
    }
}

/// Run a command to completion; its stdout, or an error with its stderr.
pub fn run(args: &[&str]) -> R<String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{}: {e}", args[0]))?;
    if !out.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Send `sig` to `pid` (a process this bench started).
pub fn signal(pid: i32, sig: i32) {
    if pid > 1 {
        // SAFETY: kill(2) by PID; no memory is involved.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Whether `pid` is still alive (zombies count as gone).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(s) => !matches!(after_comm(&s).split_whitespace().next(), Some("Z" | "X")),
        Err(_) => false,
    }
}

fn after_comm(stat: &str) -> &str {
    stat.rfind(')').map(|i| &stat[i + 1..]).unwrap_or("")
}

/// A set of namespaces and the processes started in them.
pub struct Lab {
    /// Namespace name prefix, unique to this run and lab.
    pub prefix: String,
    /// Scratch directory (configs, logs).
    pub dir: PathBuf,
    namespaces: Vec<String>,
    children: Vec<Child>,
    keep: bool,
}

/// A host on a bridge lab.
#[derive(Debug, Clone)]
pub struct Host {
    /// Namespace.
    pub ns: String,
    /// ifindex of its bridge port in the switch namespace.
    pub port: i32,
}

impl Lab {
    /// An empty lab with a scratch directory under `root`.
    pub fn new(root: &Path, tag: &str) -> R<Lab> {
        check()?;
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("vb{}x{n}-", std::process::id() % 100_000);
        let dir = root.join(format!("{tag}-{n}"));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        chmod(&dir, 0o755)?;
        Ok(Lab {
            prefix,
            dir,
            namespaces: Vec::new(),
            children: Vec::new(),
            keep: std::env::var_os("VRRPD_BENCH_KEEP").is_some(),
        })
    }

    /// Create namespace `<prefix><name>` with loopback up and router sysctls; returns its name.
    pub fn add_ns(&mut self, name: &str) -> R<String> {
        let ns = format!("{}{name}", self.prefix);
        run(&["ip", "netns", "add", &ns])?;
        self.namespaces.push(ns.clone());
        run(&[
            "ip",
            "netns",
            "exec",
            &ns,
            "sysctl",
            "-qw",
            "net.ipv6.conf.all.accept_dad=0",
            "net.ipv6.conf.default.accept_dad=0",
            "net.ipv4.conf.all.arp_ignore=1",
            "net.ipv4.conf.all.arp_announce=2",
        ])?;
        run(&["ip", "-n", &ns, "link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// A veth pair `ns1:if1` — `ns2:if2`, both ends down.
    pub fn veth(&self, ns1: &str, if1: &str, ns2: &str, if2: &str) -> R<()> {
        run(&[
            "ip", "-n", ns1, "link", "add", if1, "type", "veth", "peer", "name", if2, "netns", ns2,
        ])
        .map(drop)
    }

    /// A switch namespace with bridge br0 and one host per name, each with eth0 on a bridge
    /// port; host i gets 192.0.2.(i+1), a host named "client" 192.0.2.100. Returns the switch
    /// namespace and the hosts.
    pub fn bridged(&mut self, names: &[&str]) -> R<(String, Vec<Host>)> {
        let sw = self.add_ns("sw")?;
        run(&[
            "ip",
            "-n",
            &sw,
            "link",
            "add",
            "br0",
            "type",
            "bridge",
            "mcast_snooping",
            "0",
            "stp_state",
            "0",
        ])?;
        run(&["ip", "-n", &sw, "link", "set", "br0", "up"])?;
        let mut hosts = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let ns = self.add_ns(name)?;
            let port = format!("p{i}");
            self.veth(&ns, "eth0", &sw, &port)?;
            run(&["ip", "-n", &sw, "link", "set", &port, "master", "br0"])?;
            run(&["ip", "-n", &sw, "link", "set", &port, "up"])?;
            let last = if *name == "client" { 100 } else { i as u8 + 1 };
            let addr = Ipv4Addr::new(192, 0, 2, last);
            run(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                "eth0",
            ])?;
            run(&["ip", "-n", &ns, "link", "set", "eth0", "up"])?;
            let port = ifindex(&sw, &port)?;
            hosts.push(Host { ns, port });
        }
        Ok((sw, hosts))
    }

    /// Start `program args` inside namespace `ns` (setns before exec, in its own process group),
    /// output to `log` (or nowhere). Returns the PID.
    pub fn spawn(
        &mut self,
        ns: &str,
        program: &str,
        args: &[String],
        env: &[(&str, String)],
        log: Option<&Path>,
    ) -> R<i32> {
        check()?;
        let nsf = File::open(Path::new("/run/netns").join(ns)).map_err(|e| format!("{ns}: {e}"))?;
        let fd = nsf.as_raw_fd();
        let mut cmd = Command::new(program);
        cmd.args(args).stdin(Stdio::null()).process_group(0);
        match log {
            Some(p) => {
                let f = File::create(p).map_err(|e| format!("{}: {e}", p.display()))?;
                let f2 = f.try_clone().map_err(|e| e.to_string())?;
                cmd.stdout(f).stderr(f2);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        // SAFETY: between fork and exec we only call setpriority(2) and setns(2), plain syscalls; `fd`
        // stays open in the parent until spawn returns.
        unsafe {
            cmd.pre_exec(move || {
                // The bench itself may run at a raised priority (see `raise_priority`); the
                // daemons get the ordinary one.
                libc::setpriority(libc::PRIO_PROCESS, 0, 0);
                if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(io::Error::last_os_error())
                }
            });
        }
        let child = cmd.spawn().map_err(|e| format!("{program}: {e}"))?;
        drop(nsf);
        let pid = child.id() as i32;
        self.children.push(child);
        Ok(pid)
    }

    /// Wait (bounded) for a child of ours to exit; true if it did.
    pub fn wait_exit(&mut self, pid: i32, limit: Duration) -> R<bool> {
        let Some(c) = self.children.iter_mut().find(|c| c.id() as i32 == pid) else {
            return wait_until(limit, Duration::from_millis(5), || !alive(pid));
        };
        let end = Instant::now() + limit;
        loop {
            if let Ok(Some(_)) = c.try_wait() {
                return Ok(true);
            }
            check()?;
            if Instant::now() >= end {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &self.children {
            signal(c.id() as i32, libc::SIGKILL);
        }
        // Whatever else still runs in our namespaces (e.g. keepalived's VRRP child), by PID.
        for ns in &self.namespaces {
            if let Ok(out) = run(&["ip", "netns", "pids", ns]) {
                for pid in out.split_whitespace().filter_map(|p| p.parse().ok()) {
                    signal(pid, libc::SIGKILL);
                }
            }
        }
        let end = Instant::now() + Duration::from_secs(5);
        for c in &mut self.children {
            while !matches!(c.try_wait(), Ok(Some(_)) | Err(_)) && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        for ns in self.namespaces.iter().rev() {
            let _ = run(&["ip", "netns", "del", ns]);
        }
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// chmod.
pub fn chmod(p: &Path, mode: u32) -> R<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", p.display()))
}

/// ifindex of `dev` in `ns`.
pub fn ifindex(ns: &str, dev: &str) -> R<i32> {
    let out = run(&["ip", "-n", ns, "-o", "link", "show", "dev", dev])?;
    out.split(':')
        .next()
        .and_then(|n| n.trim().parse().ok())
        .ok_or_else(|| format!("no ifindex for {dev} in {ns}"))
}

/// Set `dev` in `ns` up or down with one SIOCSIFFLAGS ioctl (the kernel sends its netlink link
/// event during the call); returns CLOCK_REALTIME ns taken just before the call, the instant a
/// measurement that starts at "link down" counts from (no `ip` process start in between).
pub fn set_link(ns: &str, dev: &str, up: bool) -> R<i64> {
    let name = dev.as_bytes().to_vec();
    if name.len() >= libc::IFNAMSIZ {
        return Err(format!("{dev}: interface name too long"));
    }
    let h = in_ns_thread(ns, move || -> R<i64> {
        // SAFETY: an ioctl on a socket we own, with a zeroed ifreq we own and fill; the name
        // fits (checked above) and stays NUL-terminated.
        unsafe {
            let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
            if fd < 0 {
                return Err(format!("socket: {}", io::Error::last_os_error()));
            }
            let mut ifr: libc::ifreq = std::mem::zeroed();
            for (d, s) in ifr.ifr_name.iter_mut().zip(&name) {
                *d = *s as libc::c_char;
            }
            if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut ifr) < 0 {
                let e = io::Error::last_os_error();
                libc::close(fd);
                return Err(format!("SIOCGIFFLAGS: {e}"));
            }
            let f = ifr.ifr_ifru.ifru_flags;
            let iff_up = libc::IFF_UP as libc::c_short;
            ifr.ifr_ifru.ifru_flags = if up { f | iff_up } else { f & !iff_up };
            let t = now_ns();
            let r = libc::ioctl(fd, libc::SIOCSIFFLAGS, &ifr);
            let e = io::Error::last_os_error();
            libc::close(fd);
            if r < 0 {
                return Err(format!("SIOCSIFFLAGS: {e}"));
            }
            Ok(t)
        }
    })?;
    h.join().map_err(|_| format!("{ns}: setns failed"))?
}

/// Run `f` on a new thread that entered network namespace `ns`.
fn in_ns_thread<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> R<JoinHandle<T>> {
    let file = File::open(Path::new("/run/netns").join(ns)).map_err(|e| format!("{ns}: {e}"))?;
    Ok(std::thread::spawn(move || {
        // SAFETY: setns on a namespace fd we hold; it affects only this thread.
        let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns: {}", io::Error::last_os_error());
        f()
    }))
}

fn setsockopt<T>(fd: i32, level: i32, name: i32, val: &T) -> i32 {
    // SAFETY: the option value points at a live T of the size given.
    unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            val as *const T as *const libc::c_void,
            std::mem::size_of::<T>() as u32,
        )
    }
}

/// A VRRP-over-IPv4 advert seen by a [`Capture`].
#[derive(Debug, Clone, Copy)]
pub struct Adv {
    /// Kernel receive timestamp, CLOCK_REALTIME ns.
    pub t: i64,
    /// Interface it was seen on.
    pub ifindex: i32,
    /// Seen leaving (PACKET_OUTGOING) rather than arriving.
    pub outgoing: bool,
    /// IP source.
    pub src: Ipv4Addr,
    /// VRID.
    pub vrid: u8,
    /// Priority.
    pub prio: u8,
}

/// Background capture of VRRP adverts on every interface of a namespace (AF_PACKET, with
/// SO_TIMESTAMPNS receive timestamps).
pub struct Capture {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<Adv>>>,
    handle: Option<JoinHandle<()>>,
}

impl Capture {
    /// Start capturing in `ns`; returns once the socket is open.
    pub fn start(ns: &str) -> R<Capture> {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel::<Result<(), String>>();
        let (s2, seen2) = (stop.clone(), seen.clone());
        let handle = in_ns_thread(ns, move || capture_loop(&s2, &seen2, tx))?;
        let cap = Capture {
            stop,
            seen,
            handle: Some(handle),
        };
        match rx.recv_timeout(Duration::from_secs(5)) {
            Ok(Ok(())) => Ok(cap),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("capture did not start".into()),
        }
    }

    /// Everything seen so far.
    pub fn snapshot(&self) -> Vec<Adv> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Apply `f` to what was seen so far, without copying.
    pub fn with<T>(&self, f: impl FnOnce(&[Adv]) -> T) -> T {
        match self.seen.lock() {
            Ok(v) => f(&v),
            Err(p) => f(&p.into_inner()),
        }
    }

    /// Stop and return everything seen.
    pub fn finish(mut self) -> Vec<Adv> {
        self.halt();
        self.snapshot()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.halt();
    }
}

fn capture_loop(stop: &AtomicBool, seen: &Mutex<Vec<Adv>>, ready: mpsc::Sender<R<()>>) {
    // SAFETY: plain socket syscalls on a descriptor we own, with buffers we own.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW,
            (libc::ETH_P_ALL as u16).to_be() as i32,
        )
    };
    if fd < 0 {
        let _ = ready.send(Err(format!(
            "packet socket: {}",
            io::Error::last_os_error()
        )));
        return;
    }
    let one: libc::c_int = 1;
    let buf_size: libc::c_int = 8 << 20;
    let tv = libc::timeval {
        tv_sec: 0,
        tv_usec: 20_000,
    };
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_TIMESTAMPNS, &one);
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, &buf_size);
    setsockopt(fd, libc::SOL_SOCKET, libc::SO_RCVTIMEO, &tv);
    let _ = ready.send(Ok(()));
    let mut buf = vec![0u8; 2048];
    let mut ctrl = [0u64; 16];
    while !stop.load(Ordering::SeqCst) {
        // SAFETY: zeroed sockaddr_ll / msghdr are valid; every pointer refers to our buffers.
        let (n, sll, t) = unsafe {
            let mut sll: libc::sockaddr_ll = std::mem::zeroed();
            let mut iov = libc::iovec {
                iov_base: buf.as_mut_ptr() as *mut libc::c_void,
                iov_len: buf.len(),
            };
            let mut msg: libc::msghdr = std::mem::zeroed();
            msg.msg_name = &mut sll as *mut _ as *mut libc::c_void;
            msg.msg_namelen = std::mem::size_of::<libc::sockaddr_ll>() as u32;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = ctrl.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = std::mem::size_of_val(&ctrl);
            let n = libc::recvmsg(fd, &mut msg, 0);
            let mut t = None;
            if n > 0 {
                let mut c = libc::CMSG_FIRSTHDR(&msg);
                while !c.is_null() {
                    if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_TIMESTAMPNS
                    {
                        let ts =
                            std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::timespec);
                        t = Some(ts.tv_sec * 1_000_000_000 + ts.tv_nsec);
                    }
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
            }
            (n, sll, t)
        };
        if n < 34 {
            continue;
        }
        let f = &buf[..n as usize];
        if u16::from_be_bytes([f[12], f[13]]) != 0x0800 || f[14 + 9] != 112 {
            continue;
        }
        let ip = &f[14..];
        let ihl = usize::from(ip[0] & 15) * 4;
        let Some(payload) = ip.get(ihl..) else {
            continue;
        };
        use vrrpd::proto::packet::Packet;
        use vrrpd::proto::Family;
        let Ok(p) = Packet::new_checked(payload, Family::V4) else {
            continue;
        };
        let adv = Adv {
            t: t.unwrap_or_else(now_ns),
            ifindex: sll.sll_ifindex,
            outgoing: sll.sll_pkttype == libc::PACKET_OUTGOING,
            src: Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]),
            vrid: p.vrid(),
            prio: p.priority(),
        };
        if let Ok(mut v) = seen.lock() {
            v.push(adv);
        }
    }
    // SAFETY: closing the descriptor we opened.
    unsafe { libc::close(fd) };
}

/// One ICMP echo of a [`Prober`].
#[derive(Debug, Clone, Copy)]
pub struct Probe {
    /// Sent at (CLOCK_REALTIME ns).
    pub sent: i64,
    /// Reply received at.
    pub reply: Option<i64>,
}

/// Pings an address every `every` from a namespace (raw ICMP socket) in the background.
pub struct Prober {
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<Vec<Probe>>>,
    handle: Option<JoinHandle<()>>,
}

impl Prober {
    /// Start pinging `dst` from `ns`.
    pub fn start(ns: &str, dst: Ipv4Addr, every: Duration) -> R<Prober> {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (s2, l2) = (stop.clone(), log.clone());
        let handle = in_ns_thread(ns, move || probe_loop(&s2, &l2, dst, every))?;
        Ok(Prober {
            stop,
            log,
            handle: Some(handle),
        })
    }

    /// The probes so far.
    pub fn snapshot(&self) -> Vec<Probe> {
        self.log.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Whether the last `n` probes sent at least `grace` ago were all answered.
    pub fn answering(&self, n: usize, grace: i64) -> bool {
        let v = self.snapshot();
        let cut = now_ns() - grace;
        let done: Vec<_> = v.iter().filter(|p| p.sent < cut).collect();
        done.len() >= n && done[done.len() - n..].iter().all(|p| p.reply.is_some())
    }

    /// Stop and return every probe.
    pub fn finish(mut self) -> Vec<Probe> {
        self.halt();
        self.snapshot()
    }

    fn halt(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.halt();
    }
}

fn probe_loop(stop: &AtomicBool, log: &Mutex<Vec<Probe>>, dst: Ipv4Addr, every: Duration) {
    // SAFETY: socket syscalls on a descriptor we own, with buffers we own.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK,
            libc::IPPROTO_ICMP,
        )
    };
    if fd < 0 {
        return;
    }
    let id = (std::process::id() as u16) ^ (COUNTER.fetch_add(1, Ordering::SeqCst) as u16) << 8;
    // SAFETY: a zeroed sockaddr_in is valid.
    let mut to: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    to.sin_family = libc::AF_INET as u16;
    to.sin_addr.s_addr = u32::from(dst).to_be();
    let step = every.as_nanos() as i64;
    let mut next = now_ns();
    let mut seq: u16 = 0;
    let mut buf = [0u8; 1500];
    while !stop.load(Ordering::SeqCst) {
        let now = now_ns();
        if now >= next {
            let mut pkt = [0u8; 24];
            pkt[0] = 8;
            pkt[4..6].copy_from_slice(&id.to_be_bytes());
            pkt[6..8].copy_from_slice(&seq.to_be_bytes());
            let ck = vrrpd::proto::packet::internet_checksum(&[&pkt]);
            pkt[2..4].copy_from_slice(&ck.to_be_bytes());
            // SAFETY: pkt and `to` are live for the call.
            unsafe {
                libc::sendto(
                    fd,
                    pkt.as_ptr() as *const libc::c_void,
                    pkt.len(),
                    0,
                    &to as *const _ as *const libc::sockaddr,
                    std::mem::size_of::<libc::sockaddr_in>() as u32,
                )
            };
            if let Ok(mut l) = log.lock() {
                l.push(Probe {
                    sent: now,
                    reply: None,
                });
            }
            seq = seq.wrapping_add(1);
            next += step;
            if next < now {
                next = now + step;
            }
        }
        let wait_ms = ((next - now_ns()).max(0) / 1_000_000) as i32;
        let mut pfd = libc::pollfd {
            fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd we own.
        unsafe { libc::poll(&mut pfd, 1, wait_ms.min(20)) };
        loop {
            // SAFETY: buf is ours.
            let n = unsafe { libc::recv(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), 0) };
            if n <= 0 {
                break;
            }
            let at = now_ns();
            let ip = &buf[..n as usize];
            let ihl = usize::from(ip[0] & 15) * 4;
            let Some(icmp) = ip.get(ihl..ihl + 8) else {
                continue;
            };
            if icmp[0] != 0 || u16::from_be_bytes([icmp[4], icmp[5]]) != id {
                continue;
            }
            let s = u16::from_be_bytes([icmp[6], icmp[7]]);
            if let Ok(mut l) = log.lock() {
                // Sequence numbers wrap after 65536 probes (11 min at 10 ms): match the newest.
                let len = l.len();
                let base = len - len % 65536;
                let mut i = base + usize::from(s);
                if i >= len {
                    i = i.wrapping_sub(65536);
                }
                if let Some(p) = l.get_mut(i) {
                    p.reply.get_or_insert(at);
                }
            }
        }
    }
    // SAFETY: closing our descriptor.
    unsafe { libc::close(fd) };
}

/// CPU time of a process, all threads: (sum_exec_runtime ns from schedstat, utime+stime ticks).
pub fn cpu_of(pid: i32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f: Vec<&str> = after_comm(&stat).split_whitespace().collect();
    // After the command: state is field 3, utime 14, stime 15 (1-based over the whole line).
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let mut ns = 0;
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let s = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
        ns += s
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
    }
    Some((ns, ticks))
}

/// (RSS, PSS, anonymous PSS) in KiB from /proc/PID/smaps_rollup.
pub fn mem_of(pid: i32) -> Option<(u64, u64, u64)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let field = |name: &str| {
        s.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
    };
    Some((
        field("Rss:")?,
        field("Pss:")?,
        field("Pss_Anon:").unwrap_or(0),
    ))
}

/// Whole-machine (busy, total) jiffies from /proc/stat.
pub fn sys_stat() -> (u64, u64) {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let v: Vec<u64> = s
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    (total - idle, total)
}
