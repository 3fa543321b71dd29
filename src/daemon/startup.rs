//! Start-up: open everything an instance needs, in an order that leaves nothing behind when a
//! step fails (the virtual MAC last), and clean what a crashed predecessor left.

use core::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use super::config::Settings;
use crate::proto::fsm::{Config, ConfigError, Instance};
use crate::proto::unicast::{Peers, Transport};

use super::config::CarpSettings;
use super::engine::Core;
use crate::sys::clock;
use crate::sys::iface::Interface;
use crate::sys::netlink::{LinkMonitor, Rtnl};
use crate::sys::pidfile::{self, PidFile, PidFileError};
use crate::vlog;

use super::hooks::Hooks;
use super::link::link_poll_for;
use super::log::RateLimit;
use super::signals::Signals;
use super::{egress, group, notify, Announce, Daemon, Shared};

/// The capabilities vrrpd needs, checked before anything else (capabilities(7)): with both it
/// runs as any user (root with a bounding set of just these two, or a service user with
/// `AmbientCapabilities=`); without one it would fail half-way (a socket, an address) with a
/// bare EPERM. Returns the one-line reason naming what is missing (exit status 1).
pub fn check_capabilities() -> Result<(), String> {
    use crate::sys::process::{has_capability, CAP_NET_ADMIN, CAP_NET_RAW};
    let needed = [
        (
            CAP_NET_ADMIN,
            "CAP_NET_ADMIN (virtual addresses, the virtual MAC, sysctls)",
        ),
        (CAP_NET_RAW, "CAP_NET_RAW (raw VRRP and ARP sockets)"),
    ];
    let mut missing = Vec::new();
    for (cap, what) in needed {
        match has_capability(cap) {
            Ok(true) => {}
            Ok(false) => missing.push(what),
            Err(e) => return Err(format!("cannot read the process's capabilities: {e}")),
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "needs {}: run as root or grant {} (setpriv, setcap, systemd AmbientCapabilities=)",
        missing.join(" and "),
        if missing.len() == 1 { "it" } else { "them" }
    ))
}

/// How a start-up failed. [`StartError::status`] is the exit status; `Display` is one line for
/// the operator, naming the bad flag and value where there is one.
#[derive(Debug)]
pub enum StartError {
    /// `-i IF` names no interface (exit 2).
    NoInterface {
        /// The name given.
        name: String,
        /// What the lookup said.
        err: io::Error,
    },
    /// `--link-check` names a method the driver does not support (exit 2).
    LinkCheckUnsupported {
        /// The method (`ethtool`, `mii`).
        method: &'static str,
        /// The interface.
        iface: String,
        /// What the driver answered.
        err: io::Error,
    },
    /// The protocol core refused the configuration (exit 2).
    Config(ConfigError),
    /// The CARP core refused the configuration (exit 2).
    CarpConfig(String),
    /// Another vrrpd runs this instance in this network namespace (exit 1).
    AlreadyRunning {
        /// Its pid, when the pid file could be read.
        pid: Option<u32>,
        /// `IF/VRID`.
        tag: String,
        /// The pid file.
        path: PathBuf,
    },
    /// Joining the host group failed (exit 1).
    Group(group::JoinError),
    /// The virtual MAC (macvlan) could not be created (exit 1).
    Vmac {
        /// The interface.
        iface: String,
        /// The error.
        err: io::Error,
    },
    /// `--no-accept`: the Accept_Mode packet filter could not be installed (exit 1).
    Filter(super::filter::InstallError),
    /// A system resource could not be set up (exit 1).
    Sys {
        /// What was being set up.
        what: String,
        /// The error.
        err: io::Error,
    },
}

impl StartError {
    pub(super) fn sys(what: &str, err: io::Error) -> Self {
        StartError::Sys {
            what: what.to_string(),
            err,
        }
    }

    /// The exit status: 2 for a bad configuration, 1 for a system error.
    pub fn status(&self) -> u8 {
        match self {
            StartError::NoInterface { .. }
            | StartError::LinkCheckUnsupported { .. }
            | StartError::Config(_)
            | StartError::CarpConfig(_) => 2,
            StartError::AlreadyRunning { .. }
            | StartError::Group(_)
            | StartError::Vmac { .. }
            | StartError::Filter(_)
            | StartError::Sys { .. } => 1,
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::NoInterface { name, err } => write!(
                f,
                "invalid value '{name}' for '--interface <IF>': no such interface ({err})"
            ),
            StartError::LinkCheckUnsupported { method, iface, err } => write!(
                f,
                "invalid value '{method}' for '--link-check <HOW>': the driver of {iface} does not support it ({err})"
            ),
            StartError::Config(e) => write!(f, "{e}"),
            StartError::CarpConfig(e) => write!(f, "CARP: {e}"),
            StartError::AlreadyRunning { pid, tag, path } => write!(
                f,
                "another vrrpd (pid {}) already runs {tag} in this network namespace ({})",
                pid.map_or_else(|| "?".to_string(), |p| p.to_string()),
                path.display()
            ),
            StartError::Group(e) => write!(f, "{e}"),
            StartError::Vmac { iface, err } => {
                write!(f, "virtual MAC on {iface}: {err}")?;
                if err.raw_os_error() == Some(libc::EINVAL) {
                    write!(
                        f,
                        " (this interface cannot carry a macvlan; run with -n, --no-vmac)"
                    )?;
                }
                Ok(())
            }
            StartError::Filter(e) => write!(
                f,
                "--no-accept: cannot install packet filter table {}: {}; install nftables (and \
                 a kernel with nf_tables), or run without --no-accept",
                e.table, e.err
            ),
            StartError::Sys { what, err } => write!(f, "{what}: {err}"),
        }
    }
}

impl std::error::Error for StartError {}

/// The pid file of an instance (explicit `--pid-file`, or the per-namespace default).
pub fn pid_path(s: &Settings) -> io::Result<PathBuf> {
    if let Some(p) = &s.pid_file {
        return Ok(p.clone());
    }
    let (pid, _ctl) = pidfile::instance_paths(&s.interface, s.vrid, s.family)?;
    Ok(pid)
}

/// Takes the pid file at `path`, or says who holds it.
fn take_pidfile(s: &Settings, path: PathBuf) -> Result<PidFile, StartError> {
    match PidFile::create(&path) {
        Ok(p) => Ok(p),
        Err(PidFileError::Running(pid)) => Err(StartError::AlreadyRunning {
            pid,
            tag: crate::proto::tag(&s.interface, s.vrid).to_string(),
            path,
        }),
        Err(PidFileError::Io(e)) => {
            Err(StartError::sys(&format!("pid file {}", path.display()), e))
        }
    }
}

/// Locks the instance's identity: the per-namespace pid file of (interface, VRID, family),
/// always, whatever `--pid-file` says. Every per-instance resource hangs off that one identity
/// — this lock, the control socket beside it, the virtual MAC's name, the stale-resource
/// clean-up, the host-group slot — so two daemons for one virtual router cannot both run, even
/// with different `--pid-file`s (they would delete each other's socket and macvlan and both be
/// master). Taking this lock also creates the run directory the control socket is bound in.
/// `--pid-file`, when given, is a second pid file (for init scripts), locked too.
fn lock_identity(s: &Settings) -> Result<(PidFile, Option<PidFile>), StartError> {
    let (ident, _ctl) = pidfile::instance_paths(&s.interface, s.vrid, s.family)
        .map_err(|e| StartError::sys("cannot find the run directory", e))?;
    let identity = take_pidfile(s, ident.clone())?;
    let extra = match &s.pid_file {
        Some(p) if *p != ident => Some(take_pidfile(s, p.clone())?),
        _ => None,
    };
    Ok((identity, extra))
}

impl Daemon {
    /// Open everything an instance needs. Errors here end the process before it detaches.
    pub fn start(s: Settings) -> Result<Daemon, StartError> {
        let iface = Interface::lookup(&s.interface).map_err(|err| StartError::NoInterface {
            name: s.interface.clone(),
            err,
        })?;
        let (pidfile, extra_pidfile) = lock_identity(&s)?;
        let sock = super::link::open_socket(&s, &iface)
            .map_err(|e| StartError::sys(&format!("VRRP socket on {}", iface.name), e))?;
        if let Some(u) = &s.unicast {
            vlog!(
                Info,
                "{}: unicast peers {} (source {}, TTL at least {}); no multicast group joined",
                crate::proto::tag(&s.interface, s.vrid),
                u.peers
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(" "),
                u.src
                    .map_or_else(|| "the interface's".to_string(), |a| a.to_string()),
                u.min_ttl
            );
        }
        if let Err(e) = sock.set_vrid_filter(s.vrid) {
            vlog!(
                Warn,
                "{}: no socket filter ({e}): every VRID's adverts are read",
                crate::proto::tag(&s.interface, s.vrid)
            );
        }
        let tag = crate::proto::tag(&s.interface, s.vrid).to_string();
        let mut quiet = super::quiet::open(&s, &tag);
        if let Some(q) = quiet.as_mut() {
            match q.attach(std::os::fd::AsFd::as_fd(&sock)) {
                Ok(()) => vlog!(
                    Info,
                    "{tag}: quiet Backup on: the kernel drops repeated adverts while Backup \
                     (eBPF socket filter)"
                ),
                Err(e) => {
                    vlog!(
                        Info,
                        "{tag}: quiet Backup unavailable (SO_ATTACH_BPF: {e}): every advert \
                         wakes the Backup"
                    );
                    quiet = None;
                }
            }
        }
        let mut rtnl = Rtnl::open().map_err(|e| StartError::sys("netlink", e))?;
        if s.family == crate::proto::Family::V6
            && !s.vips.first().is_some_and(|v| match v.addr {
                core::net::IpAddr::V6(a) => crate::proto::packet::is_ipv6_link_local(&a),
                core::net::IpAddr::V4(_) => false,
            })
        {
            vlog!(
                Warn,
                "{}: no link-local virtual address: peers applying RFC 9568 erratum 8300 drop \
                 adverts whose first address is not link-local; list the virtual router's \
                 link-local address first (such as fe80::{:x}/64){}",
                crate::proto::tag(&s.interface, s.vrid),
                s.vrid,
                if s.router_adverts.is_some() {
                    "; no Router Advertisements are sent without one (RFC 4861 §6.1.2)"
                } else {
                    ""
                }
            );
        }
        if s.magic.is_some() && s.vmac {
            vlog!(
                Info,
                "{}: -I/-O ignored: the virtual MAC needs no magic packet (it applies with -n)",
                crate::proto::tag(&s.interface, s.vrid)
            );
        }
        // Test hook (tests/link_fault.rs): VRRPD_TEST_NO_LINK_MONITOR runs as if the monitor
        // were unavailable, so that a test can see the ethtool/MII poll alone detect a link loss
        // (netlink always reports a carrier change first).
        let monitor = if std::env::var_os("VRRPD_TEST_NO_LINK_MONITOR").is_some() {
            Err(std::io::Error::other(
                "disabled by VRRPD_TEST_NO_LINK_MONITOR",
            ))
        } else {
            LinkMonitor::open()
        };
        let monitor = match monitor {
            Ok(m) => Some(m),
            Err(e) => {
                vlog!(Warn, "netlink link monitor unavailable ({e}); link and address changes are seen on SIGHUP only");
                None
            }
        };
        let link_poll = link_poll_for(&s, clock::now(), monitor.is_some())?;
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
            transport: match &s.unicast {
                None => Transport::Multicast,
                Some(u) => Transport::Unicast(Peers {
                    addrs: u.peers.clone(),
                    min_ttl: u.min_ttl,
                }),
            },
            router_adverts: ra_config(&s),
            preempt_delay: s.preempt_delay,
            startup_delay: s.startup_delay,
            align_adverts: s.align_adverts,
        };
        let inst = match &s.carp {
            None => {
                cfg.validate().map_err(StartError::Config)?;
                Core::Vrrp(Instance::new(cfg))
            }
            Some(c) => Core::Carp(carp_instance(&s, c)?),
        };
        // IPv6 Router Advertisements: the solicitations they answer (a warning, not an error:
        // the unsolicited RAs still go out).
        let solicit = match &inst {
            Core::Vrrp(i) if i.config().router_adverts.is_some() => {
                match crate::sys::ndisc::SolicitSocket::open(iface.index, &iface.name) {
                    Ok(sock) => Some(sock),
                    Err(e) => {
                        vlog!(
                            Warn,
                            "{}: cannot receive Router Solicitations ({e}); Router \
                             Advertisements are sent unsolicited only",
                            crate::proto::tag(&s.interface, s.vrid)
                        );
                        None
                    }
                }
            }
            _ => None,
        };
        let hooks = Hooks::new(s.script_timeout);
        let trackers = super::track::Trackers::new(
            &s.trackers,
            vec![
                ("VRRP_IFACE".to_string(), s.interface.clone()),
                ("VRRP_VRID".to_string(), s.vrid.to_string()),
            ],
            clock::now(),
        );
        let control = match pidfile::instance_paths(&s.interface, s.vrid, s.family) {
            Ok((_, sock)) => match crate::sys::with_umask(0o177, || {
                crate::control::server::Server::bind(
                    &sock,
                    crate::sys::effective_uid(),
                    crate::sys::peer_uid,
                )
            }) {
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
            Some(n) => Some(group::Member::join(&s, n, clock::now()).map_err(StartError::Group)?),
            None => None,
        };
        // Last, so that no error after it leaves a macvlan or changed sysctls behind.
        let egress =
            egress::Egress::open(&s, &iface, &mut rtnl).map_err(|err| StartError::Vmac {
                iface: iface.name.clone(),
                err,
            })?;
        // Before the loop, so before any VIP is added: the filter is in place when they are.
        let ifnames: Vec<String> = [Some(iface.name.clone()), egress.vmac_name()]
            .into_iter()
            .flatten()
            .collect();
        let filter = match super::filter::AcceptFilter::open(&s, &ifnames) {
            Ok(f) => f,
            Err(e) => {
                egress.close(&mut rtnl);
                return Err(StartError::Filter(e));
            }
        };
        Ok(Daemon {
            inst,
            iface,
            sock,
            solicit,
            egress: Some(egress),
            filter,
            filter_errors: 0,
            netlink_overruns: 0,
            link_poll,
            hooks,
            trackers,
            track_fault: false,
            announce: Announce::default(),
            primary: None,
            primary_retry: None,
            release_at: None,
            keep: Vec::new(),
            stopped: false,
            started: false,
            stop_deadline: None,
            discard_log: RateLimit::new(Duration::from_secs(10), 5),
            noted: Vec::new(),
            notice_log: RateLimit::new(Duration::from_secs(10), 10),
            group,
            last_wake: clock::now(),
            last_fed: Duration::ZERO,
            quiet,
            // Test hook (tests/hardening.rs, issue 13 defect 14): VRRPD_TEST_PANIC_AS_MASTER=N
            // panics on the N-th advert sent as master, to show that an unwinding panic
            // releases the VIPs, the virtual MAC and the sysctls. Only in debug builds (the
            // ones `cargo test` runs): a release build has no way to panic on purpose.
            test_panic: if cfg!(debug_assertions) {
                std::env::var("VRRPD_TEST_PANIC_AS_MASTER")
                    .ok()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            } else {
                0
            },
            test_ignore_link_events: cfg!(debug_assertions)
                && std::env::var_os("VRRPD_TEST_IGNORE_LINK_EVENTS").is_some(),
            // Test hook (tests/handover.rs): see `Daemon::test_takeover_pause`.
            test_takeover_pause: if cfg!(debug_assertions) {
                std::env::var("VRRPD_TEST_TAKEOVER_PAUSE_MS")
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok())
                    .map_or(Duration::ZERO, |ms| Duration::from_millis(ms.min(5000)))
            } else {
                Duration::ZERO
            },
            _pidfile: pidfile,
            _extra_pidfile: extra_pidfile,
            io: Shared {
                rtnl,
                monitor,
                timer,
                signals,
                control,
                stream: super::events::Stream::new(),
                notify: notify::Notifier::from_env(),
                ready_sent: false,
                poll: crate::sys::poll::PollSet::new(),
                slots: Vec::new(),
                buf: vec![0u8; 9000],
                tx_buf: Vec::new(),
                ip_id: 0,
            },
            s,
        })
    }

    pub(super) fn remove_stale_vips(&mut self) {
        let present = match self.io.rtnl.list_addrs(self.iface.index) {
            Ok(v) => v,
            Err(e) => {
                vlog!(Warn, "{}: cannot list addresses: {e}", self.tag());
                return;
            }
        };
        for vip in &self.s.vips {
            if present.iter().any(|(a, _, _)| *a == vip.addr) {
                if self.s.is_owner() {
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
                if let Err(e) = self
                    .io
                    .rtnl
                    .del_addr(self.iface.index, vip.addr, vip.prefix)
                {
                    vlog!(Warn, "{}: cannot remove {vip}: {e}", self.tag());
                }
            }
        }
    }
}

/// The Router Advertisements of an IPv6 instance: on unless `--no-router-adverts`, and only with
/// a link-local first VIP (RFC 4861 §6.1.2: hosts drop RAs from any other source). The jitter
/// seed comes from the OS through the standard library, so that two routers never pace alike.
fn ra_config(s: &Settings) -> Option<crate::proto::ra::RaConfig> {
    use std::hash::BuildHasher;
    let r = s.router_adverts?;
    if s.carp.is_some() || virtual_link_local(s).is_none() {
        return None;
    }
    Some(crate::proto::ra::RaConfig {
        interval: r.interval,
        lifetime_s: r.lifetime_s,
        seed: std::collections::hash_map::RandomState::new().hash_one(s.vrid),
    })
}

/// The virtual router's link-local address: the first VIP, when it is an IPv6 link-local one.
pub(super) fn virtual_link_local(s: &Settings) -> Option<core::net::Ipv6Addr> {
    match s.vips.first()?.addr {
        core::net::IpAddr::V6(a) if crate::proto::packet::is_ipv6_link_local(&a) => Some(a),
        _ => None,
    }
}

/// The CARP core of `--protocol carp`: the first VIP, the password, ucarp's options, a random
/// starting counter (see [`crate::proto::carp::election`]).
fn carp_instance(
    s: &Settings,
    c: &CarpSettings,
) -> Result<crate::proto::carp::election::Instance, StartError> {
    use crate::proto::carp::{election, packet};
    use std::hash::BuildHasher;
    let vip = match s.vips.first().map(|v| v.addr) {
        Some(core::net::IpAddr::V4(a)) => a,
        _ => return Err(StartError::CarpConfig("one IPv4 virtual address".into())),
    };
    let auth =
        packet::Auth::new(&c.password, vip).map_err(|e| StartError::CarpConfig(e.to_string()))?;
    let mut cfg = election::Config::new(s.vrid, auth);
    cfg.advbase = u8::try_from(s.interval_cs / 100).unwrap_or(u8::MAX);
    cfg.advskew = c.advskew;
    cfg.deadratio = c.deadratio;
    cfg.preempt = s.preempt;
    cfg.neutral = c.neutral;
    cfg.shutdown_hook = c.shutdown_hook;
    cfg.handover = s.handover;
    // Seeded from the OS by the standard library: an unpredictable starting counter.
    cfg.initial_counter =
        std::collections::hash_map::RandomState::new().hash_one(std::process::id());
    cfg.validate()
        .map_err(|e| StartError::CarpConfig(e.to_string()))?;
    Ok(election::Instance::new(cfg))
}
