//! Network namespaces created by a test: [`Lab`], a switch namespace with a bridge and hosts on
//! it (veth pairs), and [`Pair`], two bare namespaces joined by one veth pair (for the `sys`
//! layer tests). Names carry a prefix unique to this run and lab (`vt<pid>x<n>-`); everything is
//! deleted on drop (processes in the namespaces by PID, then the namespaces), on every exit path.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::{sh, try_sh, wait_for};

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A namespace prefix unique to this run and call: `vt<pid>x<n>-`.
pub fn unique_prefix() -> String {
    let n = LAB_COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("vt{}x{}-", std::process::id() % 100_000, n)
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
        let prefix = unique_prefix();
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

    pub(crate) fn add_ns(&mut self, ns: &str) {
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
    ///
    /// Written beside and renamed over the old one: a test may rewrite a script that a program
    /// it started (ucarp, keepalived, a vrrpd) is executing at that moment, and Linux refuses to
    /// open for writing a file that an `execve` is loading (ETXTBSY, "Text file busy"; CI failed
    /// that way in carp_interop). The rename also means nobody ever runs a half-written script.
    pub fn script(&self, name: &str, body: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let p = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.new"));
        std::fs::write(&tmp, body).expect("write script");
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::rename(&tmp, &p).expect("rename script into place");
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
        remove_group_segments(&self.namespaces, Some(&self.prefix));
        for ns in self.namespaces.iter().rev() {
            let _ = try_sh(&["ip", "netns", "del", ns]);
        }
        if std::env::var("VRRPD_KEEP_LOGS").is_err() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Removes the host-group segments (`/dev/shm/vrrpd-group-*`) that daemons of a test left: a
/// kill -9 leaves its segment on purpose (`vrrpd --cleanup` or the next start deals with it).
/// The default group is named after its network namespace's inode (`ns<inode>`), which the
/// kernel hands out again once the namespace is gone, so this runs while `namespaces` still
/// exist; groups named by a test carry its lab's `prefix`. Best effort: what is not there is
/// not an error.
fn remove_group_segments(namespaces: &[String], prefix: Option<&str>) {
    use std::os::unix::fs::MetadataExt;
    for ns in namespaces {
        if let Ok(m) = std::fs::metadata(Path::new("/run/netns").join(ns)) {
            let _ = std::fs::remove_file(format!("/dev/shm/vrrpd-group-ns{}", m.ino()));
        }
    }
    let Some(prefix) = prefix else { return };
    let named = format!("vrrpd-group-{prefix}");
    if let Ok(dir) = std::fs::read_dir("/dev/shm") {
        for e in dir.flatten() {
            if e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with(&named))
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Run `f` in a thread that has entered network namespace `ns`; a panic in `f` is the caller's.
pub fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let path = Path::new("/run/netns").join(ns);
    std::thread::spawn(move || {
        let file = File::open(&path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        enter_netns(&file);
        f()
    })
    .join()
    .unwrap_or_else(|e| std::panic::resume_unwind(e))
}

/// setns(2) the calling thread into the network namespace open as `file`.
pub(crate) fn enter_netns(file: &File) {
    // SAFETY: setns on a namespace file descriptor we hold open; affects only this thread.
    let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    assert_eq!(r, 0, "setns: {}", io::Error::last_os_error());
}

/// Serialises `ip netns add/del` of [`Netns`]: the first `add` sets up the /run/netns mount, and
/// two racing first calls would stack two mounts.
static NETNS_LOCK: Mutex<()> = Mutex::new(());

/// A bare named network namespace, deleted on drop.
pub struct Netns {
    /// Its name.
    pub name: String,
}

impl Netns {
    /// `ip netns add NAME`.
    pub fn new(name: String) -> Netns {
        let _g = NETNS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        std::fs::create_dir_all("/run/netns").expect("create /run/netns");
        sh(&["ip", "netns", "add", &name]);
        Netns { name }
    }

    /// `/run/netns/NAME`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.name)
    }

    /// `ip -n <ns> <args>` (space-separated).
    pub fn ip(&self, args: &str) -> String {
        let mut full = vec!["ip", "-n", self.name.as_str()];
        full.extend(args.split_whitespace());
        sh(&full)
    }

    /// Runs `f` on a thread inside this namespace; a panic in `f` is the caller's panic.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let path = self.path();
        std::thread::scope(|s| {
            s.spawn(move || {
                let file = File::open(&path).expect("open netns file");
                enter_netns(&file);
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _g = NETNS_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        remove_group_segments(std::slice::from_ref(&self.name), None);
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// Two namespaces joined by veth `va` (in A, MAC 02:00:00:00:00:0a) and `vb` (in B, MAC
/// 02:00:00:00:00:0b), both down.
pub struct Pair {
    /// Side A.
    pub a: Netns,
    /// Side B.
    pub b: Netns,
}

impl Pair {
    /// Create the pair (links down).
    pub fn new() -> Pair {
        let stem = unique_prefix();
        let a = Netns::new(format!("{stem}a"));
        let b = Netns::new(format!("{stem}b"));
        a.ip(&format!(
            "link add va type veth peer name vb netns {}",
            b.name
        ));
        a.ip("link set va address 02:00:00:00:00:0a");
        b.ip("link set vb address 02:00:00:00:00:0b");
        Pair { a, b }
    }

    /// Both ends up.
    pub fn up(&self) {
        self.a.ip("link set va up");
        self.b.ip("link set vb up");
    }
}
