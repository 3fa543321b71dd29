//! Start-up: open everything an instance needs, in an order that leaves nothing behind when a
//! step fails (the virtual MAC last), and clean what a crashed predecessor left.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::Settings;
use crate::proto::fsm::{Config, Instance};
use crate::sys::clock;
use crate::sys::iface::Interface;
use crate::sys::netlink::{LinkMonitor, Rtnl};
use crate::sys::pidfile::{self, PidFile, PidFileError};
use crate::sys::socket::VrrpSocket;
use crate::vlog;

use super::hooks::Hooks;
use super::link::link_poll_for;
use super::log::RateLimit;
use super::signals::Signals;
use super::{egress, group, notify, Announce, Daemon};

/// How a start-up failed: the message and the exit status.
#[derive(Debug)]
pub struct StartError {
    /// One line for the operator.
    pub msg: String,
    /// Exit status (2: bad configuration, 1: system error).
    pub status: i32,
}

impl StartError {
    fn sys(what: &str, e: io::Error) -> Self {
        StartError {
            msg: format!("{what}: {e}"),
            status: 1,
        }
    }
}

/// The pid file of an instance (explicit `--pid-file`, or the per-namespace default).
pub fn pid_path(s: &Settings) -> io::Result<PathBuf> {
    if let Some(p) = &s.pid_file {
        return Ok(p.clone());
    }
    let (pid, _ctl) = pidfile::instance_paths(&s.interface, s.vrid, s.family)?;
    Ok(pid)
}

impl Daemon {
    /// Open everything an instance needs. Errors here end the process before it detaches.
    pub fn start(s: Settings) -> Result<Daemon, StartError> {
        let iface = Interface::lookup(&s.interface).map_err(|e| StartError {
            msg: format!(
                "invalid value '{}' for '-i <IF>': no such interface ({e})",
                s.interface
            ),
            status: 2,
        })?;
        let path = pid_path(&s).map_err(|e| StartError::sys("cannot find the run directory", e))?;
        let pidfile = match PidFile::create(&path) {
            Ok(p) => p,
            Err(PidFileError::Running(pid)) => {
                return Err(StartError {
                    msg: format!(
                        "another vrrpd (pid {}) already runs {}/{} in this network namespace ({})",
                        pid.map_or_else(|| "?".to_string(), |p| p.to_string()),
                        s.interface,
                        s.vrid,
                        path.display()
                    ),
                    status: 1,
                })
            }
            Err(PidFileError::Io(e)) => {
                return Err(StartError::sys(&format!("pid file {}", path.display()), e))
            }
        };
        let sock = VrrpSocket::open(s.family, iface.index, &iface.name)
            .map_err(|e| StartError::sys(&format!("VRRP socket on {}", iface.name), e))?;
        if let Err(e) = sock.set_vrid_filter(s.vrid) {
            vlog!(
                Warn,
                "{}: no socket filter ({e}): every VRID's adverts are read",
                crate::proto::tag(&s.interface, s.vrid)
            );
        }
        let mut rtnl = Rtnl::open().map_err(|e| StartError::sys("netlink", e))?;
        let link_poll = link_poll_for(&s, clock::now())?;
        if s.magic.is_some() && s.vmac {
            vlog!(
                Info,
                "{}: -I/-O ignored: the virtual MAC needs no magic packet (it applies with -n)",
                crate::proto::tag(&s.interface, s.vrid)
            );
        }
        let monitor = match LinkMonitor::open() {
            Ok(m) => Some(m),
            Err(e) => {
                vlog!(Warn, "netlink link monitor unavailable ({e}); link and address changes are seen on SIGHUP only");
                None
            }
        };
        let timer = clock::Timer::new().map_err(|e| StartError::sys("timerfd", e))?;
        let signals = Signals::install().map_err(|e| StartError::sys("signal handlers", e))?;
        let cfg = Config {
            version: s.version,
            family: s.family,
            vrid: s.vrid,
            priority: s.priority,
            adver_interval_cs: s.interval_cs,
            preempt: s.preempt,
            accept_mode: s.accept,
            vips: s.vips.iter().map(|v| v.addr).collect(),
            auth: s.auth,
            checksum_form: s.checksum_form,
            handover: s.handover,
            interop_v2: false,
        };
        cfg.validate().map_err(|e| StartError {
            msg: e.to_string(),
            status: 2,
        })?;
        let hooks = Hooks::new(s.script_timeout);
        let control = match pidfile::instance_paths(&s.interface, s.vrid, s.family) {
            Ok((_, sock)) => match crate::control::server::Server::bind(&sock) {
                Ok(c) => Some(c),
                Err(e) => {
                    return Err(StartError::sys(
                        &format!("control socket {}", sock.display()),
                        e,
                    ));
                }
            },
            Err(e) => return Err(StartError::sys("control socket", e)),
        };
        let group = match s.monitor {
            Some(n) => Some(
                group::Member::join(&s, n, clock::now())
                    .map_err(|msg| StartError { msg, status: 1 })?,
            ),
            None => None,
        };
        // Last, so that no error after it leaves a macvlan or changed sysctls behind.
        let egress = egress::Egress::open(&s, &iface, &mut rtnl)
            .map_err(|e| StartError::sys(&format!("virtual MAC on {}", iface.name), e))?;
        Ok(Daemon {
            inst: Instance::new(cfg),
            iface,
            sock,
            rtnl,
            monitor,
            egress: Some(egress),
            link_poll,
            timer,
            signals,
            hooks,
            announce: Announce::default(),
            primary: None,
            keep: Vec::new(),
            stopped: false,
            started: false,
            stop_deadline: None,
            discard_log: RateLimit::new(Duration::from_secs(10), 5),
            noted: Vec::new(),
            notice_log: RateLimit::new(Duration::from_secs(10), 10),
            notify: notify::Notifier::from_env(),
            ready_sent: false,
            control,
            group,
            _pidfile: pidfile,
            buf: vec![0u8; 9000],
            s,
        })
    }

    pub(super) fn remove_stale_vips(&mut self) {
        let present = match self.rtnl.list_addrs(self.iface.index) {
            Ok(v) => v,
            Err(e) => {
                vlog!(Warn, "{}: cannot list addresses: {e}", self.tag());
                return;
            }
        };
        for vip in &self.s.vips {
            if present.iter().any(|(a, _, _)| *a == vip.addr) {
                if self.s.priority == 255 {
                    // The owner's virtual addresses are its own interface addresses.
                    self.keep.push(vip.addr);
                    continue;
                }
                vlog!(
                    Info,
                    "{}: removing {} left on {} (by a crash?)",
                    self.tag(),
                    vip,
                    self.iface.name
                );
                if let Err(e) = self.rtnl.del_addr(self.iface.index, vip.addr, vip.prefix) {
                    vlog!(Warn, "{}: cannot remove {vip}: {e}", self.tag());
                }
            }
        }
    }
}
