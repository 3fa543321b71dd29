//! Network-namespace lab for the integration tests.
//!
//! Every lab creates its own namespaces, named with a prefix unique to this test run and lab
//! (`vt<pid>x<n>-`), connects them to a bridge in a "switch" namespace through veth pairs, and
//! deletes everything (processes by PID, then namespaces) when dropped, on every exit path.
//! Only documentation addresses are used: 192.0.2.0/24, 2001:db8::/32 and link-locals.
#![allow(dead_code)]

use std::fs::File;
use std::io::Read;
use std::net::IpAddr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub mod peers;

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// Whether this process may create namespaces. Without root: print a loud SKIPPED line and return
/// false, except under CI=true, where it panics (nothing may be skipped in CI).
pub fn require_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: needs root for network namespaces, and CI=true forbids skipping");
    }
    eprintln!("\n*** SKIPPED {test}: needs root (network namespaces) ***\n");
    false
}

/// Run a command, panicking with its output when it fails.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a command, returning whether it succeeded (output discarded).
pub fn try_sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Poll `cond` every 10 ms until it holds or `limit` passes; returns the elapsed time on success.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A host in the lab: its namespace name and its address on the shared segment.
#[derive(Debug, Clone)]
pub struct Host {
    /// Full namespace name.
    pub ns: String,
    /// IPv4 address on eth0.
    pub v4: String,
    /// IPv6 global address on eth0.
    pub v6: String,
}

/// A running process started by the lab.
pub struct Proc {
    /// The child.
    pub child: Child,
    /// Its log file (stdout and stderr).
    pub log: PathBuf,
}

impl Proc {
    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// PID.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

/// A lab: a switch namespace with a bridge, and hosts attached to it.
pub struct Lab {
    /// Unique namespace prefix.
    pub prefix: String,
    /// Scratch directory for logs, configs and the run directory.
    pub dir: PathBuf,
    /// The switch namespace.
    pub switch: String,
    /// Hosts by index.
    pub hosts: Vec<Host>,
    namespaces: Vec<String>,
}

impl Lab {
    /// Create a lab with `names.len()` hosts (router or client), host i having 192.0.2.(i+1) and
    /// 2001:db8::(i+1); a host named "client" gets .100 / ::100.
    pub fn new(names: &[&str]) -> Lab {
        let n = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
        let prefix = format!("vt{}x{}-", std::process::id() % 100_000, n);
        let dir = std::env::temp_dir().join(format!("vrrpd-{prefix}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("scratch dir");
        let mut lab = Lab {
            switch: format!("{prefix}sw"),
            prefix: prefix.clone(),
            dir,
            hosts: Vec::new(),
            namespaces: Vec::new(),
        };
        lab.add_ns(&lab.switch.clone());
        let sw = lab.switch.clone();
        sh(&[
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
        ]);
        sh(&["ip", "-n", &sw, "link", "set", "br0", "up"]);
        for (i, name) in names.iter().enumerate() {
            let ns = format!("{prefix}{name}");
            lab.add_ns(&ns);
            let last = if *name == "client" { 100 } else { i + 1 };
            let port = format!("p{i}");
            sh(&[
                "ip", "-n", &ns, "link", "add", "eth0", "type", "veth", "peer", "name", &port,
                "netns", &sw,
            ]);
            sh(&["ip", "-n", &sw, "link", "set", &port, "master", "br0"]);
            sh(&["ip", "-n", &sw, "link", "set", &port, "up"]);
            let v4 = format!("192.0.2.{last}");
            let v6 = format!("2001:db8::{last:x}");
            sh(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{v4}/24"),
                "dev",
                "eth0",
            ]);
            sh(&[
                "ip",
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{v6}/64"),
                "dev",
                "eth0",
                "nodad",
            ]);
            sh(&["ip", "-n", &ns, "link", "set", "eth0", "up"]);
            lab.hosts.push(Host { ns, v4, v6 });
        }
        // Wait for the link-local addresses to leave the tentative state (DAD is off anyway).
        for h in lab.hosts.clone() {
            let ok = wait_for(Duration::from_secs(5), || {
                let out = sh(&[
                    "ip", "-n", &h.ns, "-6", "addr", "show", "dev", "eth0", "scope", "link",
                ]);
                out.contains("fe80") && !out.contains("tentative")
            });
            assert!(
                ok.is_some(),
                "link-local address on {} never became usable",
                h.ns
            );
        }
        lab
    }

    /// Add another segment: a bridge `br-<dev>` in the switch namespace and an interface `dev` on
    /// each listed host, with the given address (`(host index, "198.51.100.1/26")`).
    pub fn add_link(&mut self, dev: &str, addrs: &[(usize, &str)]) {
        let sw = self.switch.clone();
        let br = format!("br-{dev}");
        sh(&[
            "ip",
            "-n",
            &sw,
            "link",
            "add",
            &br,
            "type",
            "bridge",
            "mcast_snooping",
            "0",
            "stp_state",
            "0",
        ]);
        sh(&["ip", "-n", &sw, "link", "set", &br, "up"]);
        for (i, cidr) in addrs {
            let ns = self.hosts[*i].ns.clone();
            let port = format!("{dev}p{i}");
            sh(&[
                "ip", "-n", &ns, "link", "add", dev, "type", "veth", "peer", "name", &port,
                "netns", &sw,
            ]);
            sh(&["ip", "-n", &sw, "link", "set", &port, "master", &br]);
            sh(&["ip", "-n", &sw, "link", "set", &port, "up"]);
            sh(&["ip", "-n", &ns, "addr", "add", cidr, "dev", dev]);
            sh(&["ip", "-n", &ns, "link", "set", dev, "up"]);
        }
    }

    fn add_ns(&mut self, ns: &str) {
        sh(&["ip", "netns", "add", ns]);
        self.namespaces.push(ns.to_string());
        for (k, v) in [
            ("net.ipv6.conf.all.accept_dad", "0"),
            ("net.ipv6.conf.default.accept_dad", "0"),
            ("net.ipv4.conf.all.arp_ignore", "1"),
            ("net.ipv4.conf.all.arp_announce", "2"),
        ] {
            let _ = try_sh(&[
                "ip",
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                &format!("{k}={v}"),
            ]);
        }
        sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
    }

    /// Host by index.
    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i]
    }

    /// Start `program args…` inside host `ns`, logging to `<dir>/<tag>.log`.
    pub fn spawn(
        &mut self,
        ns: &str,
        tag: &str,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Proc {
        let log = self.dir.join(format!("{tag}.log"));
        let f = File::create(&log).expect("log file");
        let f2 = f.try_clone().expect("log file");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(f)
            .stderr(f2);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        Proc { child, log }
    }

    /// Start vrrpd in the foreground in `ns` with the given arguments.
    pub fn vrrpd(&mut self, ns: &str, tag: &str, args: &[&str]) -> Proc {
        let mut all = vec!["--foreground", "--debug"];
        all.extend_from_slice(args);
        let run_dir = self.dir.join("run");
        let run = run_dir.to_string_lossy().into_owned();
        self.spawn(
            ns,
            tag,
            env!("CARGO_BIN_EXE_vrrpd"),
            &all,
            &[("VRRPD_RUN_DIR", &run)],
        )
    }

    /// [`Lab::vrrpd`] with the arguments as one space-separated line.
    pub fn vrrpd_line(&mut self, ns: &str, tag: &str, line: &str) -> Proc {
        let args: Vec<&str> = line.split_whitespace().collect();
        self.vrrpd(ns, tag, &args)
    }

    /// The namespace names of the first `n` hosts.
    pub fn ns_names<const N: usize>(&self) -> [String; N] {
        std::array::from_fn(|i| self.hosts[i].ns.clone())
    }

    /// The addresses on `dev` in `ns` (`ip -o addr`).
    pub fn addrs(&self, ns: &str, dev: &str) -> String {
        let out = Command::new("ip")
            .args(["-n", ns, "-o", "addr", "show", "dev", dev])
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// Whether `ns` holds `addr` on any interface.
    pub fn has_addr(&self, ns: &str, addr: &str) -> bool {
        let out = Command::new("ip")
            .args(["-n", ns, "-o", "addr", "show"])
            .output();
        let text = out
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        text.split_whitespace()
            .any(|w| w.split('/').next() == Some(addr))
    }

    /// Write an executable script into the scratch dir.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.dir.join(name);
        std::fs::write(&p, body).expect("write script");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        p
    }

    /// The scratch directory as a string.
    pub fn dir_str(&self) -> String {
        self.dir.to_string_lossy().into_owned()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // Not by the PIDs of the spawned children: a child already reaped (wait_exit) frees its
        // PID, which the kernel hands out again (pid_max is 32768 here), possibly to another
        // lab's daemon, another test's thread or another program (concurrent runs killed each
        // other's keepalived and zebra that way). Every spawned program runs inside one of the
        // lab's namespaces, so killing what `ip netns pids` lists is enough, and safe.
        for ns in self.namespaces.iter().rev() {
            // Kill whatever still runs in the namespace, by PID (ip netns pids lists them).
            if let Ok(out) = Command::new("ip").args(["netns", "pids", ns]).output() {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    if let Ok(p) = pid.parse::<i32>() {
                        // SAFETY: kill(2) by PID of a process inside our own test namespace.
                        unsafe { libc::kill(p, libc::SIGKILL) };
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
        for ns in self.namespaces.iter().rev() {
            let _ = try_sh(&["ip", "netns", "del", ns]);
        }
        if std::env::var("VRRPD_KEEP_LOGS").is_err() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Whether a started process still runs (and is not a zombie).
pub fn alive(p: &Proc) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", p.pid())).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("");
    !state.is_empty() && state != "Z"
}

/// Send a signal to a process by PID.
pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a PID we started.
    unsafe { libc::kill(pid, sig) };
}

/// Wait (bounded) for a child to exit; returns its exit code, or None on timeout.
pub fn wait_exit(p: &mut Proc, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Ok(Some(st)) = p.child.try_wait() {
            use std::os::unix::process::ExitStatusExt;
            return Some(st.code().unwrap_or(128 + st.signal().unwrap_or(0)));
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Run `f` in a thread that has entered network namespace `ns`.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = Path::new("/run/netns").join(ns);
    std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        enter_netns(&file);
        f()
    })
    .join()
    .expect("netns thread")
}

/// A VRRP frame seen on the wire.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Time since the capture started.
    pub at: Duration,
    /// IP source.
    pub src: IpAddr,
    /// IP TTL / hop limit.
    pub ttl: u8,
    /// Source MAC.
    pub mac: [u8; 6],
    /// The VRRP payload.
    pub payload: Vec<u8>,
}

/// Capture VRRP packets (IPv4 and IPv6, protocol 112) on `dev` in `ns` in the background.
pub struct Capture {
    handle: Option<std::thread::JoinHandle<Vec<Seen>>>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// When the capture started.
    pub started: Instant,
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
        let handle = std::thread::spawn(move || {
            let file = File::open(&path).expect("open netns");
            enter_netns(&file);
            capture_loop(&dev, &stop2, tx, started)
        });
        let _ = rx.recv_timeout(Duration::from_secs(5));
        Capture {
            handle: Some(handle),
            stop,
            started,
        }
    }

    /// Stop and return what was seen.
    pub fn finish(mut self) -> Vec<Seen> {
        self.stop.store(true, Ordering::SeqCst);
        self.handle
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

fn capture_loop(
    dev: &str,
    stop: &std::sync::atomic::AtomicBool,
    ready: std::sync::mpsc::Sender<()>,
    started: Instant,
) -> Vec<Seen> {
    // SAFETY: plain socket syscalls on descriptors we own; buffers are ours.
    unsafe {
        let fd = libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW,
            (libc::ETH_P_ALL as u16).to_be() as i32,
        );
        assert!(fd >= 0, "packet socket");
        let name = std::ffi::CString::new(dev).unwrap();
        let idx = libc::if_nametoindex(name.as_ptr());
        let mut sll: libc::sockaddr_ll = std::mem::zeroed();
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = (libc::ETH_P_ALL as u16).to_be();
        sll.sll_ifindex = idx as i32;
        let r = libc::bind(
            fd,
            &sll as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        );
        assert!(r == 0, "bind packet socket");
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
            if f.len() < 14 {
                continue;
            }
            let mut mac = [0u8; 6];
            mac.copy_from_slice(&f[6..12]);
            let et = u16::from_be_bytes([f[12], f[13]]);
            let ip = &f[14..];
            if et == 0x0800 && ip.len() >= 20 && ip[9] == 112 {
                let ihl = ((ip[0] & 15) as usize) * 4;
                let src = IpAddr::from([ip[12], ip[13], ip[14], ip[15]]);
                out.push(Seen {
                    at,
                    src,
                    ttl: ip[8],
                    mac,
                    payload: ip[ihl.min(ip.len())..].to_vec(),
                });
            } else if et == 0x86dd && ip.len() >= 40 && ip[6] == 112 {
                let mut s = [0u8; 16];
                s.copy_from_slice(&ip[8..24]);
                out.push(Seen {
                    at,
                    src: IpAddr::from(s),
                    ttl: ip[7],
                    mac,
                    payload: ip[40..].to_vec(),
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

/// Read a whole file to a string (empty when missing).
pub fn read(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

/// setns(2) the calling thread into the network namespace open as `file`.
fn enter_netns(file: &File) {
    // SAFETY: setns on a namespace file descriptor we hold open; affects only this thread.
    let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
}
