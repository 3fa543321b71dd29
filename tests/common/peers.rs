//! keepalived and FRR as VRRP peers inside a lab's namespaces: started
//! in the foreground with config, pid files and sockets in the lab's scratch directory, ended by
//! PID when the lab is dropped.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::{require_root, signal, wait_for, Lab, Proc};

/// Whether the peer daemons are installed. Missing: SKIPPED loudly, or a failure under CI=true.
pub fn require_peers(test: &str) -> bool {
    if !require_root(test) {
        return false;
    }
    let ka = Command::new("keepalived").arg("--version").output().is_ok();
    let frr = std::path::Path::new("/usr/lib/frr/vrrpd").exists()
        && std::path::Path::new("/usr/lib/frr/zebra").exists();
    if ka && frr {
        return true;
    }
    super::skip(
        test,
        "keepalived or FRR not installed (scripts/test installs them as root)",
    )
}

/// A keepalived started in a namespace.
pub struct Keepalived {
    /// The parent process.
    pub proc: Proc,
    /// Its directory.
    pub dir: PathBuf,
}

impl Keepalived {
    /// The last state its notify script reported for `instance` (MASTER, BACKUP, FAULT, STOP).
    pub fn state(&self, instance: &str) -> Option<String> {
        let text = std::fs::read_to_string(self.dir.join("notify.log")).unwrap_or_default();
        text.lines()
            .rev()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                let _kind = w.next()?;
                let name = w.next()?;
                let state = w.next()?;
                (name == instance).then(|| state.to_string())
            })
            .next()
    }

    /// Wait until `instance` reports `state`.
    pub fn wait_state(&self, instance: &str, state: &str, limit: Duration) -> bool {
        wait_for(limit, || self.state(instance).as_deref() == Some(state)).is_some()
    }

    /// PID of the VRRP child process.
    pub fn vrrp_pid(&self) -> Option<i32> {
        std::fs::read_to_string(self.dir.join("vrrp.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// A hard failure: stop the whole tree, then kill it (killing the parent alone makes the
    /// child send priority 0).
    pub fn hard_kill(&self) {
        let child = self.vrrp_pid();
        signal(self.proc.pid(), libc::SIGSTOP);
        if let Some(c) = child {
            signal(c, libc::SIGSTOP);
            signal(c, libc::SIGKILL);
        }
        signal(self.proc.pid(), libc::SIGKILL);
    }

    /// SIGTERM, then wait (bounded) for the parent to exit.
    pub fn stop(&mut self) {
        signal(self.proc.pid(), libc::SIGTERM);
        let _ = super::wait_exit(&mut self.proc, Duration::from_secs(5));
    }

    /// The keepalived log.
    pub fn log(&self) -> String {
        self.proc.log_text()
    }
}

/// FRR's zebra + vrrpd started in a namespace.
pub struct Frr {
    /// zebra.
    pub zebra: Proc,
    /// vrrpd.
    pub vrrpd: Proc,
    /// Config and socket directory.
    pub dir: PathBuf,
}

impl Frr {
    /// Run vtysh commands against this FRR.
    pub fn vtysh(&self, cmds: &[&str]) -> String {
        let mut c = Command::new("vtysh");
        c.arg("--vty_socket").arg(&self.dir);
        for cmd in cmds {
            c.arg("-c").arg(cmd);
        }
        c.output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    /// `show vrrp json`, parsed.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.vtysh(&["show vrrp json"])).unwrap_or(serde_json::Value::Null)
    }

    /// The status (Initialize/Backup/Master) of `vrid` for family "v4" or "v6".
    pub fn status(&self, vrid: u8, family: &str) -> Option<String> {
        let j = self.json();
        j.as_array()?
            .iter()
            .find(|r| r["vrid"].as_u64() == Some(vrid as u64))
            .and_then(|r| r[family]["status"].as_str().map(str::to_string))
    }

    /// Wait until `vrid`/`family` reports `status`.
    pub fn wait_status(&self, vrid: u8, family: &str, status: &str, limit: Duration) -> bool {
        wait_for(limit, || {
            self.status(vrid, family).as_deref() == Some(status)
        })
        .is_some()
    }

    /// Logs of both daemons.
    pub fn log(&self) -> String {
        format!(
            "--- zebra\n{}\n--- vrrpd\n{}",
            self.zebra.log_text(),
            self.vrrpd.log_text()
        )
    }
}

/// A keepalived `vrrp_instance` block, multicast or unicast (keepalived.conf(5)): what the
/// interop tests configure, rendered by [`KaInstance::render`].
#[derive(Debug, Clone)]
pub struct KaInstance {
    /// Instance name (the notify script's second argument).
    pub name: String,
    /// Interface.
    pub interface: String,
    /// VRID.
    pub vrid: u8,
    /// VRRP version, 2 or 3.
    pub version: u8,
    /// Priority.
    pub priority: u8,
    /// `advert_int` as keepalived reads it: seconds (`1`, `0.1`).
    pub advert_int: String,
    /// Virtual addresses with prefix (`192.0.2.254/24`), on `interface`.
    pub vips: Vec<String>,
    /// `unicast_src_ip`.
    pub unicast_src: Option<String>,
    /// `unicast_peer { … }` (empty: multicast).
    pub unicast_peers: Vec<String>,
    /// `unicast_ttl` (keepalived's IPv6 default is the kernel's hop limit, 64).
    pub unicast_ttl: Option<u8>,
    /// Further lines inside the block, verbatim.
    pub extra: String,
}

impl KaInstance {
    /// An instance `VI` on eth0, VRRPv`version`, state BACKUP at start, multicast.
    pub fn new(vrid: u8, version: u8, priority: u8, advert_int: &str, vips: &[&str]) -> KaInstance {
        KaInstance {
            name: "VI".into(),
            interface: "eth0".into(),
            vrid,
            version,
            priority,
            advert_int: advert_int.into(),
            vips: vips.iter().map(|v| v.to_string()).collect(),
            unicast_src: None,
            unicast_peers: Vec::new(),
            unicast_ttl: None,
            extra: String::new(),
        }
    }

    /// Unicast: `unicast_src_ip` (if any) and the peers.
    pub fn unicast(mut self, src: Option<&str>, peers: &[&str]) -> KaInstance {
        self.unicast_src = src.map(str::to_string);
        self.unicast_peers = peers.iter().map(|p| p.to_string()).collect();
        self
    }

    /// The block, notifying `NOTIFY` (replaced by [`Lab::keepalived`]).
    pub fn render(&self) -> String {
        let mut b = format!(
            "vrrp_instance {} {{\n    state BACKUP\n    interface {}\n    virtual_router_id {}\n    \
             version {}\n    priority {}\n    advert_int {}\n",
            self.name, self.interface, self.vrid, self.version, self.priority, self.advert_int
        );
        if let Some(src) = &self.unicast_src {
            b += &format!("    unicast_src_ip {src}\n");
        }
        if !self.unicast_peers.is_empty() {
            b += "    unicast_peer {\n";
            for p in &self.unicast_peers {
                b += &format!("        {p}\n");
            }
            b += "    }\n";
        }
        if let Some(t) = self.unicast_ttl {
            b += &format!("    unicast_ttl {t}\n");
        }
        b += &self.extra;
        b += "    virtual_ipaddress {\n";
        for v in &self.vips {
            b += &format!("        {v} dev {}\n", self.interface);
        }
        b += "    }\n    notify NOTIFY\n}\n";
        b
    }
}

impl Lab {
    /// Start keepalived in `ns` with the given `vrrp_instance` blocks. Every instance notifies
    /// `notify.log` in its directory.
    pub fn keepalived(&mut self, ns: &str, tag: &str, instances: &str) -> Keepalived {
        self.keepalived_as(ns, tag, instances, false)
    }

    /// [`Lab::keepalived`] started as `keepalived -s NS` from the test's own namespace instead
    /// of under `ip netns exec`: keepalived opens its process-connector socket first (the
    /// connector answers only in the initial network namespace) and then enters `ns`, where
    /// its VRRP runs. Stop it with [`Keepalived::stop`] (it unmounts and removes
    /// `/run/keepalived/NS` on a clean exit).
    pub fn keepalived_entering(&mut self, ns: &str, tag: &str, instances: &str) -> Keepalived {
        self.keepalived_as(ns, tag, instances, true)
    }

    fn keepalived_as(
        &mut self,
        ns: &str,
        tag: &str,
        instances: &str,
        entering: bool,
    ) -> Keepalived {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.dir.join(tag);
        std::fs::create_dir_all(&dir).expect("keepalived dir");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let notify = dir.join("notify.sh");
        std::fs::write(
            &notify,
            format!(
                "#!/bin/sh\necho \"$1 $2 $3 $4\" >> {}/notify.log\n",
                dir.display()
            ),
        )
        .expect("notify script");
        std::fs::set_permissions(&notify, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        let conf = format!(
            "global_defs {{\n    router_id {tag}\n    script_user root\n    enable_script_security\n}}\n{}",
            instances.replace("NOTIFY", &notify.to_string_lossy())
        );
        let conf_path = dir.join("keepalived.conf");
        std::fs::write(&conf_path, conf).expect("keepalived.conf");
        let d = dir.to_string_lossy().into_owned();
        let args = [
            "-n",
            "-l",
            "-D",
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
        ];
        let mut args: Vec<&str> = args.iter().map(|s| &**s).collect();
        let proc = if entering {
            args.splice(0..0, ["-s", ns]);
            self.spawn_entering(tag, "keepalived", &args, &[("TMPDIR", &d)])
        } else {
            self.spawn(ns, tag, "keepalived", &args, &[("TMPDIR", &d)])
        };
        Keepalived { proc, dir }
    }

    /// Start FRR (zebra, then vrrpd) in `ns`. `macvlans` are (name, mac, address) created on eth0
    /// first, as FRR needs them (mode bridge, addrgenmode random, the VIP on the macvlan).
    pub fn frr(
        &mut self,
        ns: &str,
        tag: &str,
        vrrpd_conf: &str,
        macvlans: &[(&str, &str, &str)],
    ) -> Frr {
        for (name, mac, addr) in macvlans {
            super::sh(&[
                "ip", "-n", ns, "link", "add", name, "link", "eth0", "type", "macvlan", "mode",
                "bridge",
            ]);
            super::sh(&["ip", "-n", ns, "link", "set", name, "addrgenmode", "random"]);
            super::sh(&["ip", "-n", ns, "link", "set", name, "address", mac]);
            if addr.contains(':') {
                super::sh(&["ip", "-n", ns, "addr", "add", addr, "dev", name, "nodad"]);
            } else {
                super::sh(&["ip", "-n", ns, "addr", "add", addr, "dev", name]);
            }
            super::sh(&["ip", "-n", ns, "link", "set", name, "up"]);
        }
        let dir = self.dir.join(tag);
        std::fs::create_dir_all(&dir).expect("frr dir");
        std::fs::write(dir.join("zebra.conf"), format!("hostname {tag}\n")).expect("zebra.conf");
        std::fs::write(dir.join("vrrpd.conf"), vrrpd_conf).expect("vrrpd.conf");
        // FRR drops privileges to frr:frr and must reach its directory (and the scratch dir above).
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&self.dir, std::fs::Permissions::from_mode(0o755));
        super::sh(&["chown", "-R", "frr:frr", &dir.to_string_lossy()]);
        let d = dir.to_string_lossy().into_owned();
        let common = [
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
        ];
        let mut za = vec![
            "-f",
            &format!("{d}/zebra.conf"),
            "-i",
            &format!("{d}/zebra.pid"),
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        za.extend(common.iter().map(|s| s.to_string()));
        let za: Vec<&str> = za.iter().map(|s| &**s).collect();
        let zebra = self.spawn(ns, &format!("{tag}-zebra"), "/usr/lib/frr/zebra", &za, &[]);
        let sock = dir.join("zserv.api");
        assert!(
            wait_for(Duration::from_secs(10), || sock.exists()).is_some(),
            "zebra did not start:\n{}",
            zebra.log_text()
        );
        let mut va = vec![
            "-f",
            &format!("{d}/vrrpd.conf"),
            "-i",
            &format!("{d}/vrrpd.pid"),
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        va.extend(common.iter().map(|s| s.to_string()));
        let va: Vec<&str> = va.iter().map(|s| &**s).collect();
        let vrrpd = self.spawn(ns, &format!("{tag}-vrrpd"), "/usr/lib/frr/vrrpd", &va, &[]);
        Frr { zebra, vrrpd, dir }
    }
}
