//! `vrrpd --cleanup ARGS`: remove what a dead instance of the same configuration left behind.
//!
//! A vrrpd that exits normally (SIGTERM) removes its addresses, its virtual MAC link, its pid
//! file and control socket and runs its backup hook. One killed with SIGKILL (or by systemd's
//! watchdog, or a crash) leaves all of them: the virtual addresses stay up beside the new
//! master's (RFC 9568 §6.4.3: only the Active router may own them), and what the master hook
//! started keeps running. The next start of the same instance cleans up too
//! ([`super::Daemon::start`]), but an instance that is not restarted (`systemctl stop`, a start
//! limit reached) never would. Run from the unit's `ExecStopPost=` with the same arguments, so
//! the resource names come from the same configuration:
//!
//! 1. the pid file is locked (not merely opened): a running instance holds the lock, and then
//!    nothing is touched (exit 1). Holding it ourselves keeps a new instance from starting
//!    until the clean-up is done;
//! 2. the virtual addresses still on the interface (not for an address owner, priority 255,
//!    whose addresses are its own) and the virtual MAC link (`vr<index>.<vrid>`, with the VIPs
//!    on it) are removed; the parent's ARP sysctls are restored from the link's alias
//!    ([`crate::sys::vmac::remove_stale`]);
//! 3. the Accept_Mode packet filter table (`--no-accept`) is deleted
//!    ([`super::filter::remove_stale`]);
//! 4. the stale control socket and pid file are removed;
//! 5. with `-M`, the instance's slot in the host group's table is freed if its recorded owner
//!    is dead (never a live member's), and the segment is removed when no live member remains
//!    ([`crate::sys::shm::GroupShm::clean_dead_member`]). Left there, the slot made the
//!    survivors show it as a member (`atropos`, `vrrpd_group_member_state`) in its last
//!    published state, `MASTER (dead)`, and give "eth0/52 (pid N) died" as their reason for
//!    as long as the instance stays stopped; and a group whose last member was killed left its
//!    segment in `/dev/shm` for good. Freed, the survivors count live members only: with
//!    fewer than `N` they still hold backup ("waiting for N members, k running"), which is
//!    right while the unit restarts, and the restarted instance claims a slot again;
//! 6. if anything was stale, the backup hook (`-D`) runs (state `BACKUP`, previous state
//!    `MASTER` when addresses were found, else `INIT`) and is waited for, at most
//!    `--script-timeout`;
//! 7. under systemd (`NotifyAccess=exec`), `STATUS=` says what was done, replacing the dead
//!    daemon's last `MASTER`.
//!
//! After a normal stop nothing is stale, and nothing is done (exit 0).

use core::fmt;
use std::io;
use std::time::Duration;

use super::config::Settings;
use super::hooks::{Hooks, Job};
use super::notify::Notifier;
use crate::sys::clock;
use crate::sys::iface::Interface;
use crate::sys::netlink::Rtnl;
use crate::sys::pidfile::{self, PidFile, PidFileError};
use crate::sys::vmac;
use crate::vlog;

/// What a clean-up did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Cleaned {
    /// The dead instance's pid, from its pid file.
    pub dead_pid: Option<u32>,
    /// Whether a pid file was left.
    pub pid_file: bool,
    /// Whether a control socket was left.
    pub socket: bool,
    /// Virtual addresses removed from the interface.
    pub vips: Vec<String>,
    /// The virtual MAC link removed (its name).
    pub vmac: Option<String>,
    /// Whether the backup hook ran.
    pub hook: bool,
    /// The Accept_Mode packet filter table removed (`ip vrrpd_eth0_51_v4`).
    pub filter: Option<String>,
    /// The host group (`-M`) whose table held a slot of the dead instance, freed.
    pub group_slot: Option<String>,
    /// The host group's segment removed (no live member was left).
    pub group_segment: Option<String>,
}

impl Cleaned {
    /// Whether anything was left behind.
    pub fn anything(&self) -> bool {
        self.pid_file
            || self.socket
            || !self.vips.is_empty()
            || self.vmac.is_some()
            || self.filter.is_some()
            || self.group_slot.is_some()
            || self.group_segment.is_some()
    }
}

impl fmt::Display for Cleaned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.anything() {
            return write!(f, "nothing left behind");
        }
        let mut parts = Vec::new();
        if !self.vips.is_empty() {
            parts.push(format!("removed {}", self.vips.join(" ")));
        }
        if let Some(v) = &self.vmac {
            parts.push(format!("removed {v}"));
        }
        if let Some(t) = &self.filter {
            parts.push(format!("removed packet filter table {t}"));
        }
        if let Some(g) = &self.group_slot {
            parts.push(format!("freed its slot in host group {g}"));
        }
        if let Some(p) = &self.group_segment {
            parts.push(format!("removed the host group's segment {p}"));
        }
        if self.pid_file || self.socket {
            parts.push("removed the pid file and control socket".to_string());
        }
        if self.hook {
            parts.push("ran the backup hook".to_string());
        }
        match self.dead_pid {
            Some(p) => write!(f, "cleaned up after pid {p}: {}", parts.join(", ")),
            None => write!(f, "cleaned up: {}", parts.join(", ")),
        }
    }
}

/// Why a clean-up did nothing.
#[derive(Debug)]
pub enum CleanupError {
    /// The instance runs (its pid file is locked): exit 1, nothing touched.
    Running {
        /// Its pid.
        pid: Option<u32>,
        /// `IF/VRID`.
        tag: String,
    },
    /// A system error (exit 1).
    Sys(String, io::Error),
}

impl fmt::Display for CleanupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CleanupError::Running { pid, tag } => write!(
                f,
                "--cleanup: {tag} is running (pid {}): nothing cleaned",
                pid.map_or_else(|| "?".to_string(), |p| p.to_string())
            ),
            CleanupError::Sys(what, e) => write!(f, "--cleanup: {what}: {e}"),
        }
    }
}

impl std::error::Error for CleanupError {}

/// Clean up after a dead instance of `s` (see the module documentation).
pub fn run(s: &Settings) -> Result<Cleaned, CleanupError> {
    let tag = crate::proto::tag(&s.interface, s.vrid).to_string();
    // The instance's own pid file is its identity lock (always taken, `--pid-file` or not);
    // `--pid-file` names a second one.
    let (path, sock) = pidfile::instance_paths(&s.interface, s.vrid, s.family)
        .map_err(|e| CleanupError::Sys("run directory".into(), e))?;
    let extra_path = s.pid_file.clone().filter(|p| *p != path);
    let mut done = Cleaned {
        pid_file: path.exists() || extra_path.as_ref().is_some_and(|p| p.exists()),
        ..Cleaned::default()
    };
    done.dead_pid = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| t.trim().parse().ok());
    // Held until the end: no instance can start while we clean; dropped, they remove the files.
    let lock = take(&path, &tag)?;
    let extra = match &extra_path {
        Some(p) => Some(take(p, &tag)?),
        None => None,
    };
    if std::fs::symlink_metadata(&sock).is_ok() {
        done.socket = true;
        if let Err(e) = std::fs::remove_file(&sock) {
            vlog!(Warn, "{tag}: cannot remove {}: {e}", sock.display());
        }
    }
    let mut was_master = false;
    match Interface::lookup(&s.interface) {
        Ok(iface) => {
            let mut rtnl = Rtnl::open().map_err(|e| CleanupError::Sys("netlink".into(), e))?;
            was_master = remove_addresses(s, &tag, &iface, &mut rtnl, &mut done);
        }
        // The interface is gone, and its addresses and links with it.
        Err(e) => vlog!(Info, "{tag}: --cleanup: {} not present ({e})", s.interface),
    }
    // The Accept_Mode table is per network namespace, not per interface.
    done.filter = super::filter::remove_stale(s);
    if s.monitor.is_some() {
        clean_group(s, &tag, &mut done);
    }
    if done.anything() {
        if let Some(hook) = &s.backup_script {
            run_hook(s, hook, if was_master { "MASTER" } else { "INIT" });
            done.hook = true;
        }
    }
    drop(extra);
    drop(lock);
    pidfile::remove_empty_ns_dir();
    let msg = done.to_string();
    if done.anything() {
        vlog!(Notice, "{tag}: {msg}");
    } else {
        vlog!(Info, "{tag}: --cleanup: {msg}");
    }
    Notifier::from_env().send(&format!("STATUS=stopped ({msg})"));
    Ok(done)
}

/// Frees the dead instance's host-group slot, and the segment if no live member is left
/// (module documentation, step 5). Under the pid-file lock: the instance cannot be starting.
fn clean_group(s: &Settings, tag: &str, done: &mut Cleaned) {
    let name = match &s.group {
        Some(n) => n.clone(),
        None => match crate::sys::shm::default_group_name() {
            Ok(n) => n,
            Err(e) => {
                vlog!(Warn, "{tag}: --cleanup: cannot name the host group: {e}");
                return;
            }
        },
    };
    match crate::sys::shm::GroupShm::clean_dead_member(&name, &s.interface, s.vrid, s.family) {
        Ok((freed, removed)) => {
            if let Some(m) = freed.first() {
                done.group_slot = Some(format!("{name} (pid {})", m.pid));
            }
            if removed {
                done.group_segment =
                    Some(format!("/dev/shm/{}{name}", crate::sys::shm::NAME_PREFIX));
            }
        }
        Err(e) => vlog!(Warn, "{tag}: --cleanup: host group {name}: {e}"),
    }
}

/// Locks the pid file at `path` (creating it if need be), or says who holds it.
fn take(path: &std::path::Path, tag: &str) -> Result<PidFile, CleanupError> {
    match PidFile::create(path) {
        Ok(l) => Ok(l),
        Err(PidFileError::Running(pid)) => Err(CleanupError::Running {
            pid,
            tag: tag.to_string(),
        }),
        Err(PidFileError::Io(e)) => {
            Err(CleanupError::Sys(format!("pid file {}", path.display()), e))
        }
    }
}

/// Removes the VIPs left on the interface and the virtual MAC link; returns whether the dead
/// instance looked like a master (addresses present, or its link up).
fn remove_addresses(
    s: &Settings,
    tag: &str,
    iface: &Interface,
    rtnl: &mut Rtnl,
    done: &mut Cleaned,
) -> bool {
    let mut master = false;
    if !s.is_owner() {
        match rtnl.list_addrs(iface.index) {
            Ok(present) => {
                for vip in &s.vips {
                    if present.iter().any(|(a, _, _)| *a == vip.addr) {
                        match rtnl.del_addr(iface.index, vip.addr, vip.prefix) {
                            Ok(()) => done.vips.push(vip.to_string()),
                            Err(e) => vlog!(Warn, "{tag}: cannot remove {vip}: {e}"),
                        }
                    }
                }
            }
            Err(e) => vlog!(Warn, "{tag}: cannot list addresses: {e}"),
        }
    }
    master |= !done.vips.is_empty();
    if s.vmac && !s.is_owner() {
        let name = vmac::vmac_ifname(iface.index, s.vrid, s.family);
        let links = rtnl.list_links().unwrap_or_default();
        if let Some(l) = links.iter().find(|l| l.name == name) {
            master |= l.flags & libc::IFF_UP as u32 != 0;
            if let Ok(on_vmac) = rtnl.list_addrs(l.index) {
                for vip in &s.vips {
                    if on_vmac.iter().any(|(a, _, _)| *a == vip.addr) {
                        done.vips.push(vip.to_string());
                        master = true;
                    }
                }
            }
        }
        match vmac::remove_stale(rtnl, iface.index, s.vrid, s.family) {
            Ok(true) => done.vmac = Some(name),
            Ok(false) => {}
            Err(e) => vlog!(Warn, "{tag}: cannot remove {name}: {e}"),
        }
    }
    master
}

/// Run the backup hook and wait for it (at most `--script-timeout`, then it is killed).
fn run_hook(s: &Settings, path: &std::path::Path, prev: &'static str) {
    let mut hooks = Hooks::new(s.script_timeout);
    let args = s.carp.as_ref().map(|c| {
        let mut a = vec![s.interface.clone()];
        a.extend(s.vips.first().map(|v| v.addr.to_string()));
        a.extend(c.xparam.clone());
        a
    });
    hooks.push(
        Job {
            path: path.to_path_buf(),
            state: "BACKUP",
            prev,
            iface: s.interface.clone(),
            vrid: s.vrid,
            priority: s.priority,
            vips: s
                .vips
                .iter()
                .map(|v| v.addr.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            args,
        },
        clock::now(),
    );
    // The hook is killed at the timeout; a little more for it to be reaped.
    let limit = clock::now() + s.script_timeout + Duration::from_secs(2);
    while !hooks.idle() && clock::now() < limit {
        std::thread::sleep(Duration::from_millis(10));
        hooks.poll(clock::now());
    }
}
