//! The three implementations as routers in a lab namespace: vrrpd (one process per instance),
//! keepalived (parent + VRRP child, every instance in one config) and FRR (zebra + vrrpd, with
//! the macvlans FRR needs).

use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::lab::{self, chmod, run, signal, wait_until, Lab, R};

/// An implementation under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    /// This project.
    Vrrpd,
    /// keepalived 2.2.x.
    Keepalived,
    /// FRR's vrrpd (with zebra).
    Frr,
}

impl Impl {
    /// All, in table order.
    pub const ALL: [Impl; 3] = [Impl::Vrrpd, Impl::Keepalived, Impl::Frr];

    /// Name used in results.
    pub fn name(self) -> &'static str {
        match self {
            Impl::Vrrpd => "vrrpd",
            Impl::Keepalived => "keepalived",
            Impl::Frr => "frr",
        }
    }

    /// Parse a name.
    pub fn parse(s: &str) -> Option<Impl> {
        Impl::ALL.into_iter().find(|i| i.name() == s)
    }

    /// Whether the peer is installed.
    pub fn available(self) -> bool {
        match self {
            Impl::Vrrpd => true,
            Impl::Keepalived => run(&["keepalived", "--version"]).is_ok(),
            Impl::Frr => {
                Path::new("/usr/lib/frr/vrrpd").exists() && Path::new("/usr/lib/frr/zebra").exists()
            }
        }
    }
}

/// One virtual router instance.
#[derive(Debug, Clone)]
pub struct Inst {
    /// Interface.
    pub ifname: String,
    /// VRID.
    pub vrid: u8,
    /// Virtual address.
    pub vip: Ipv4Addr,
    /// Its prefix length.
    pub plen: u8,
}

/// What to run on one router.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Priority (keepalived/vrrpd: 1-255, FRR: 1-254).
    pub prio: u8,
    /// Advertisement interval in ms (multiple of 10).
    pub interval_ms: u32,
    /// Instances.
    pub insts: Vec<Inst>,
    /// keepalived: start in state MASTER instead of BACKUP.
    pub start_master: bool,
    /// Keep daemon output in log files (else discarded).
    pub logs: bool,
    /// Real-time scheduling at priority 1: vrrpd `--realtime 1`, keepalived
    /// `vrrp_rt_priority 1` (issue 14; FRR has no such setting).
    pub realtime: bool,
}

/// A started router.
pub struct Router {
    /// Implementation.
    pub imp: Impl,
    /// The process that the kill/term events hit: vrrpd, keepalived's parent, FRR's vrrpd.
    pub main: i32,
    /// Every process it started (vrrpd: one per instance; keepalived: parent; FRR: zebra, vrrpd).
    pub pids: Vec<i32>,
    /// Its directory.
    pub dir: PathBuf,
    /// CLOCK_REALTIME ns just before the VRRP process was spawned.
    pub started: i64,
}

impl Router {
    /// Start `imp` in `ns` with `spec`; `tag` names its directory.
    pub fn start(
        lab: &mut Lab,
        vrrpd_bin: &Path,
        imp: Impl,
        ns: &str,
        tag: &str,
        spec: &Spec,
    ) -> R<Router> {
        let dir = lab.dir.join(tag);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        match imp {
            Impl::Vrrpd => start_vrrpd(lab, vrrpd_bin, ns, dir, spec),
            Impl::Keepalived => start_keepalived(lab, ns, tag, dir, spec),
            Impl::Frr => start_frr(lab, ns, tag, dir, spec),
        }
    }

    /// keepalived's VRRP child, from its pid file.
    fn ka_child(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("vrrp.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Every process of the implementation (for CPU and memory).
    pub fn processes(&self) -> Vec<i32> {
        let mut p = self.pids.clone();
        if self.imp == Impl::Keepalived {
            p.extend(self.ka_child());
        }
        p
    }

    /// A hard failure: SIGKILL (keepalived: SIGSTOP the tree first, as killing the parent alone
    /// makes the child send priority 0).
    pub fn hard_kill(&self) {
        match self.imp {
            Impl::Keepalived => {
                let child = self.ka_child();
                signal(self.main, libc::SIGSTOP);
                if let Some(c) = child {
                    signal(c, libc::SIGSTOP);
                    signal(c, libc::SIGKILL);
                }
                signal(self.main, libc::SIGKILL);
            }
            _ => signal(self.main, libc::SIGKILL),
        }
    }

    /// A planned stop: SIGTERM.
    pub fn term(&self) {
        signal(self.main, libc::SIGTERM);
    }

    /// The tail of the daemons' logs, for error messages.
    pub fn log_tail(&self) -> String {
        let mut out = String::new();
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                let p = e.path();
                if p.extension().is_some_and(|x| x == "log") {
                    let text = std::fs::read_to_string(&p).unwrap_or_default();
                    let lines: Vec<&str> = text.lines().collect();
                    let tail = lines[lines.len().saturating_sub(8)..].join("\n  ");
                    let _ = write!(out, "\n  --- {}\n  {tail}", p.display());
                }
            }
        }
        out
    }
}

fn start_vrrpd(lab: &mut Lab, bin: &Path, ns: &str, dir: PathBuf, spec: &Spec) -> R<Router> {
    let run_dir = dir.join("run");
    std::fs::create_dir_all(&run_dir).map_err(|e| e.to_string())?;
    let env = [("VRRPD_RUN_DIR", run_dir.to_string_lossy().into_owned())];
    let bin = bin.to_string_lossy().into_owned();
    let mut pids = Vec::new();
    let started = lab::now_ns();
    for i in &spec.insts {
        let args = [
            "-i".to_string(),
            i.ifname.clone(),
            "-v".into(),
            i.vrid.to_string(),
            "-p".into(),
            spec.prio.to_string(),
            "-d".into(),
            format!("{}ms", spec.interval_ms),
            "-n".into(),
            "--foreground".into(),
            format!("{}/{}", i.vip, i.plen),
        ];
        let args: Vec<String> = if spec.realtime {
            ["--realtime".to_string(), "1".into()]
                .into_iter()
                .chain(args)
                .collect()
        } else {
            args.to_vec()
        };
        let log = dir.join(format!("vrrpd-{}-{}.log", i.ifname, i.vrid));
        pids.push(lab.spawn(ns, &bin, &args, &env, spec.logs.then_some(log.as_path()))?);
    }
    Ok(Router {
        imp: Impl::Vrrpd,
        main: pids[0],
        pids,
        dir,
        started,
    })
}

/// keepalived's advert_int: seconds with decimals.
fn ka_interval(ms: u32) -> String {
    let s = format!("{}.{:03}", ms / 1000, ms % 1000);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn start_keepalived(lab: &mut Lab, ns: &str, tag: &str, dir: PathBuf, spec: &Spec) -> R<Router> {
    chmod(&dir, 0o700)?;
    // vrrp_rt_priority: the VRRP child at SCHED_RR (keepalived.conf(5)). Its RLIMIT_RTTIME is
    // vrrp_rlimit_rttime, default 10000 us: with 100 instances at 10 ms on a busy machine the
    // child exceeded it and was killed (one run, 2026-12-03: 1 of 2 processes gone on each
    // router), so it gets vrrpd's soft limit, 1 s, for the comparison to be of scheduling.
    let rt = if spec.realtime {
        "    vrrp_rt_priority 1\n    vrrp_rlimit_rttime 1000000\n"
    } else {
        ""
    };
    let mut conf = format!("global_defs {{\n    router_id {tag}\n{rt}}}\n");
    for i in &spec.insts {
        let _ = write!(
            conf,
            "vrrp_instance i_{}_{} {{\n    state {}\n    interface {}\n    virtual_router_id {}\n    \
             version 3\n    priority {}\n    advert_int {}\n    virtual_ipaddress {{\n        \
             {}/{} dev {}\n    }}\n}}\n",
            i.ifname,
            i.vrid,
            if spec.start_master { "MASTER" } else { "BACKUP" },
            i.ifname,
            i.vrid,
            spec.prio,
            ka_interval(spec.interval_ms),
            i.vip,
            i.plen,
            i.ifname
        );
    }
    let d = dir.to_string_lossy().into_owned();
    std::fs::write(dir.join("keepalived.conf"), conf).map_err(|e| e.to_string())?;
    let args: Vec<String> = [
        "-n",
        "-l",
        "-G",
        "-P",
        "-f",
        &format!("{d}/keepalived.conf"),
        "-p",
        &format!("{d}/ka.pid"),
        "-r",
        &format!("{d}/vrrp.pid"),
        "-c",
        &format!("{d}/chk.pid"),
        "-b",
        &format!("{d}/bfd.pid"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let log = dir.join("keepalived.log");
    let started = lab::now_ns();
    let pid = lab.spawn(
        ns,
        "keepalived",
        &args,
        &[("TMPDIR", d.clone())],
        spec.logs.then_some(log.as_path()),
    )?;
    let r = Router {
        imp: Impl::Keepalived,
        main: pid,
        pids: vec![pid],
        dir,
        started,
    };
    if !wait_until(Duration::from_secs(10), Duration::from_millis(2), || {
        r.ka_child().is_some_and(lab::alive)
    })? {
        return Err(format!(
            "keepalived did not start its VRRP child{}",
            r.log_tail()
        ));
    }
    Ok(r)
}

fn start_frr(lab: &mut Lab, ns: &str, tag: &str, dir: PathBuf, spec: &Spec) -> R<Router> {
    // FRR adds no VIPs: one macvlan per VRID (VMAC, mode bridge, addrgenmode random, VIP on it).
    let mut batch = String::new();
    let mut conf = String::new();
    let mut by_if: Vec<(&str, Vec<&Inst>)> = Vec::new();
    for i in &spec.insts {
        let name = format!("m{}-{}", i.ifname.trim_start_matches("eth"), i.vrid);
        let _ = writeln!(
            batch,
            "link add {name} link {} type macvlan mode bridge",
            i.ifname
        );
        let _ = writeln!(batch, "link set {name} addrgenmode random");
        let _ = writeln!(
            batch,
            "link set {name} address 00:00:5e:00:01:{:02x}",
            i.vrid
        );
        let _ = writeln!(batch, "addr add {}/{} dev {name}", i.vip, i.plen);
        let _ = writeln!(batch, "link set {name} up");
        match by_if.iter_mut().find(|(n, _)| *n == i.ifname) {
            Some((_, v)) => v.push(i),
            None => by_if.push((&i.ifname, vec![i])),
        }
    }
    let bpath = dir.join("macvlans.batch");
    std::fs::write(&bpath, batch).map_err(|e| e.to_string())?;
    run(&["ip", "-n", ns, "-batch", &bpath.to_string_lossy()])?;
    for (ifname, insts) in by_if {
        let _ = writeln!(conf, "interface {ifname}");
        for i in insts {
            let v = i.vrid;
            let _ = write!(
                conf,
                " vrrp {v} version 3\n vrrp {v} priority {}\n vrrp {v} advertisement-interval {}\n \
                 vrrp {v} ip {}\n",
                spec.prio, spec.interval_ms, i.vip
            );
        }
        conf.push_str("!\n");
    }
    std::fs::write(dir.join("zebra.conf"), format!("hostname {tag}\n"))
        .map_err(|e| e.to_string())?;
    std::fs::write(dir.join("vrrpd.conf"), conf).map_err(|e| e.to_string())?;
    run(&["chown", "-R", "frr:frr", &dir.to_string_lossy()])?;
    let d = dir.to_string_lossy().into_owned();
    let common = |name: &str| -> Vec<String> {
        [
            "-f",
            &format!("{d}/{name}.conf"),
            "-i",
            &format!("{d}/{name}.pid"),
            "-z",
            &format!("{d}/zserv.api"),
            "--vty_socket",
            &d,
            "-P",
            "0",
            "-u",
            "frr",
            "-g",
            "frr",
            "--log",
            "stdout",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let zlog = dir.join("zebra.log");
    let zebra = lab.spawn(
        ns,
        "/usr/lib/frr/zebra",
        &common("zebra"),
        &[],
        spec.logs.then_some(zlog.as_path()),
    )?;
    let sock = dir.join("zserv.api");
    if !wait_until(Duration::from_secs(20), Duration::from_millis(2), || {
        sock.exists()
    })? {
        return Err("zebra did not open zserv.api".into());
    }
    let vlog = dir.join("vrrpd.log");
    let started = lab::now_ns();
    let vrrpd = lab.spawn(
        ns,
        "/usr/lib/frr/vrrpd",
        &common("vrrpd"),
        &[],
        spec.logs.then_some(vlog.as_path()),
    )?;
    Ok(Router {
        imp: Impl::Frr,
        main: vrrpd,
        pids: vec![zebra, vrrpd],
        dir,
        started,
    })
}

/// Versions of the installed implementations, for the report.
pub fn versions(vrrpd_bin: &Path) -> Vec<(Impl, String)> {
    let first = |args: &[&str]| -> String {
        std::process::Command::new(args[0])
            .args(&args[1..])
            .output()
            .map(|o| {
                let mut s = String::from_utf8_lossy(&o.stdout).into_owned();
                s.push_str(&String::from_utf8_lossy(&o.stderr));
                s.lines().next().unwrap_or("").trim().to_string()
            })
            .unwrap_or_else(|_| "not installed".into())
    };
    vec![
        (
            Impl::Vrrpd,
            first(&[&vrrpd_bin.to_string_lossy(), "--version"]),
        ),
        (Impl::Keepalived, first(&["keepalived", "--version"])),
        (Impl::Frr, first(&["/usr/lib/frr/vrrpd", "--version"])),
    ]
}
