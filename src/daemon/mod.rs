//! The event loop: one thread, `poll(2)` over the VRRP socket, a timerfd, the signal pipe, netlink
//! link/address events and the running hook's pidfd. Every wake-up turns into events for the
//! protocol core ([`crate::proto::fsm::Instance`]), whose actions are carried out here.
//!
//! Timers: the core returns absolute deadlines on CLOCK_MONOTONIC; the timerfd is armed at the
//! earliest of them (core timer, next gratuitous ARP, hook timeout), so adverts are scheduled from
//! the previous deadline and do not drift.
#![forbid(unsafe_code)]

pub mod control;
pub mod egress;
pub mod group;
pub mod hooks;
pub mod log;
pub mod notify;
pub mod signals;

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::Settings;
use crate::control::{Detail, InstanceInfo};
use crate::proto::fsm::{Action, Config, Event, FaultReason, Hook, Instance, Notice, State};
use crate::proto::{DiscardReason, Family};
use crate::sys::clock;
use crate::sys::iface::{self, Interface};
use crate::sys::linkcheck::{self, LinkCheckKind};
use crate::sys::netlink::{LinkMonitor, NetEvent, Rtnl};
use crate::sys::pidfile::{self, PidFile, PidFileError};
use crate::sys::socket::VrrpSocket;
use crate::vlog;

use self::hooks::{Hooks, Job};
use self::log::RateLimit;
use self::signals::{Sig, Signals};

pub use crate::sys::socket::{VRRP_GROUP_V4 as GROUP_V4, VRRP_GROUP_V6 as GROUP_V6};

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

    fn hint(mut self, hint: &str) -> Self {
        self.msg.push_str(hint);
        self
    }
}

/// What the event loop polls, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// The VRRP socket.
    Socket,
    /// The timerfd armed at the earliest deadline.
    Timer,
    /// The signal self-pipe.
    Signals,
    /// The netlink link/address monitor.
    Netlink,
    /// The running hook's pidfd.
    Hook,
    /// The control socket's listener and connections.
    Control,
}

/// Which [`Slot`]s one `poll(2)` found ready.
#[derive(Debug, Default)]
struct Ready {
    socket: bool,
    timer: bool,
    signals: bool,
    netlink: bool,
    hook: bool,
    control: bool,
}

impl Ready {
    fn set(&mut self, slot: Slot) {
        match slot {
            Slot::Socket => self.socket = true,
            Slot::Timer => self.timer = true,
            Slot::Signals => self.signals = true,
            Slot::Netlink => self.netlink = true,
            Slot::Hook => self.hook = true,
            Slot::Control => self.control = true,
        }
    }
}

/// Gratuitous ARP / unsolicited NA rounds still to send.
#[derive(Debug, Default)]
struct Announce {
    remaining: u32,
    next: Option<Duration>,
}

/// ethtool / MII link polling beside netlink events.
#[derive(Debug)]
struct LinkPoll {
    kind: LinkCheckKind,
    every: Duration,
    next: Duration,
    up: bool,
}

/// Choose the link check from `--link-check` and what the driver answers.
fn link_poll_for(s: &Settings, now: Duration) -> Result<Option<LinkPoll>, StartError> {
    use crate::cli::LinkCheckArg;
    let forced = match s.link_check {
        LinkCheckArg::Netlink => None,
        LinkCheckArg::Ethtool => Some(LinkCheckKind::Ethtool),
        LinkCheckArg::Mii => Some(LinkCheckKind::Mii),
        LinkCheckArg::Auto => {
            let found = linkcheck::probe(&s.interface);
            [LinkCheckKind::Ethtool, LinkCheckKind::Mii]
                .into_iter()
                .find(|k| found.contains(k))
        }
    };
    if let (Some(kind), true) = (forced, s.link_check != LinkCheckArg::Auto) {
        if let Err(e) = linkcheck::check(kind, &s.interface) {
            if linkcheck::is_unsupported(&e) {
                return Err(StartError {
                    msg: format!(
                        "invalid value '{}' for '--link-check <HOW>': the driver of {} does not support it ({e})",
                        kind.name(),
                        s.interface
                    ),
                    status: 2,
                });
            }
        }
    }
    let poll = match forced {
        Some(kind) if !s.link_poll.is_zero() => Some(LinkPoll {
            kind,
            every: s.link_poll,
            next: now + s.link_poll,
            up: true,
        }),
        _ => None,
    };
    match &poll {
        Some(p) => vlog!(
            Info,
            "{}/{}: link check: netlink events + {} every {:?}",
            s.interface,
            s.vrid,
            p.kind.name(),
            p.every
        ),
        None => vlog!(
            Info,
            "{}/{}: link check: netlink events",
            s.interface,
            s.vrid
        ),
    }
    Ok(poll)
}

/// A running instance.
pub struct Daemon {
    s: Settings,
    iface: Interface,
    inst: Instance,
    sock: VrrpSocket,
    rtnl: Rtnl,
    monitor: Option<LinkMonitor>,
    egress: Option<egress::Egress>,
    link_poll: Option<LinkPoll>,
    timer: clock::Timer,
    signals: Signals,
    hooks: Hooks,
    announce: Announce,
    primary: Option<IpAddr>,
    /// Addresses that were on the interface before we started and that an owner must keep.
    keep: Vec<IpAddr>,
    stopped: bool,
    stop_deadline: Option<Duration>,
    discard_log: RateLimit,
    notice_log: RateLimit,
    /// (kind, peer) of the once-per-peer notices already warned about.
    noted: Vec<(u8, IpAddr)>,
    notify: notify::Notifier,
    ready_sent: bool,
    control: Option<control::Server>,
    group: Option<group::Member>,
    _pidfile: PidFile,
    buf: Vec<u8>,
}

/// The group address for a family.
pub fn group(family: Family) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(GROUP_V4),
        Family::V6 => IpAddr::V6(GROUP_V6),
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
                "invalid value '{}' for '--interface <IF>': no such interface ({e})",
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
                "{}/{}: no socket filter ({e}): every VRID's adverts are read",
                s.interface,
                s.vrid
            );
        }
        let mut rtnl = Rtnl::open().map_err(|e| StartError::sys("netlink", e))?;
        let link_poll = link_poll_for(&s, clock::now())?;
        if s.magic.is_some() && s.vmac {
            vlog!(
                Info,
                "{}/{}: -I/-O ignored: the virtual MAC needs no magic packet (it applies with -n)",
                s.interface,
                s.vrid
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
            Ok((_, sock)) => match control::Server::bind(&sock) {
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
        let egress = egress::Egress::open(&s, &iface, &mut rtnl).map_err(|e| {
            let hint = if e.raw_os_error() == Some(libc::EINVAL) {
                " (this interface cannot carry a macvlan; run with -n, --no-vmac)"
            } else {
                ""
            };
            StartError::sys(&format!("virtual MAC on {}", iface.name), e).hint(hint)
        })?;
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

    fn tag(&self) -> String {
        format!("{}/{}", self.s.interface, self.s.vrid)
    }

    /// Run until stopped. Returns the exit status.
    pub fn run(&mut self) -> i32 {
        let now = clock::now();
        vlog!(
            Info,
            "{}: starting, VRRPv{} {} priority {} interval {}0 ms, VIPs {}",
            self.tag(),
            self.s.version.number(),
            if self.s.family == Family::V4 {
                "IPv4"
            } else {
                "IPv6"
            },
            self.s.priority,
            self.s.interval_cs,
            self.vips_text()
        );
        self.remove_stale_vips();
        self.refresh_interface(now);
        if let Some(g) = &self.group {
            vlog!(
                Info,
                "{}: monitoring {} processes (host group {})",
                self.tag(),
                g.size(),
                g.name()
            );
            let a = self.inst.handle(now, Event::GroupHold(true));
            self.perform(now, a);
        }
        let actions = self.inst.handle(now, Event::Startup);
        self.perform(now, actions);
        self.group_sync(now, true);
        loop {
            if self.stopped && self.hooks.idle() {
                break;
            }
            if let Some(d) = self.stop_deadline {
                if clock::now() >= d {
                    vlog!(Warn, "{}: stop did not finish in time; exiting", self.tag());
                    break;
                }
            }
            if let Err(e) = self.wait_once() {
                vlog!(Error, "{}: event loop: {e}", self.tag());
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        self.hooks.kill_all();
        if let Some(eg) = self.egress.take() {
            eg.close(&mut self.rtnl);
        }
        self.notify.send("STOPPING=1");
        vlog!(Info, "{}: exiting", self.tag());
        0
    }

    fn next_deadline(&self) -> Option<Duration> {
        [
            self.inst.next_deadline(),
            self.announce.next,
            self.hooks.deadline(),
            self.stop_deadline,
            self.notify.next(),
            self.link_poll.as_ref().map(|p| p.next),
            self.control.as_ref().and_then(|c| c.deadline()),
            self.group.as_ref().map(|g| g.next_tick()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn wait_once(&mut self) -> io::Result<()> {
        self.timer.arm(self.next_deadline())?;
        let ready = {
            let mut slots: Vec<(Slot, BorrowedFd<'_>)> = vec![
                (Slot::Socket, self.sock.as_fd()),
                (Slot::Timer, self.timer.as_fd()),
                (Slot::Signals, self.signals.as_fd()),
            ];
            if let Some(m) = &self.monitor {
                slots.push((Slot::Netlink, m.as_fd()));
            }
            if let Some(fd) = self.hooks.fd() {
                slots.push((Slot::Hook, fd));
            }
            if let Some(c) = &self.control {
                slots.extend(c.fds().into_iter().map(|fd| (Slot::Control, fd)));
            }
            let fds: Vec<BorrowedFd<'_>> = slots.iter().map(|(_, fd)| *fd).collect();
            let flags = crate::sys::poll::wait_readable(&fds)?;
            let mut ready = Ready::default();
            for ((slot, _), on) in slots.iter().zip(flags) {
                if on {
                    ready.set(*slot);
                }
            }
            ready
        };
        let (sig_ready, sock_ready, mon_ready, timer_ready, ctl_ready) = (
            ready.signals,
            ready.socket,
            ready.netlink,
            ready.timer,
            ready.control,
        );
        if sig_ready {
            for sig in self.signals.take() {
                self.on_signal(sig);
            }
        }
        if mon_ready {
            self.on_netlink();
        }
        if sock_ready {
            self.on_socket();
        }
        if timer_ready {
            self.timer.drain();
        }
        if ctl_ready
            || self
                .control
                .as_ref()
                .is_some_and(|c| c.deadline().is_some())
        {
            self.on_control();
        }
        // Timers are checked on every wake-up: cheap, and robust against a missed timerfd edge.
        self.on_time();
        Ok(())
    }

    fn on_time(&mut self) {
        let now = clock::now();
        if self.inst.next_deadline().is_some_and(|d| now >= d) {
            let a = self.inst.handle(now, Event::Timeout);
            self.perform(now, a);
        }
        if self.announce.next.is_some_and(|d| now >= d) {
            self.send_announcements(now);
        }
        self.hooks.poll(now);
        self.notify.tick(now);
        self.poll_link(now);
        let tick = self.group.as_ref().is_some_and(|g| now >= g.next_tick());
        self.group_sync(now, tick);
    }

    /// ethtool / MII polling: a change of the polled link state re-reads the interface.
    fn poll_link(&mut self, now: Duration) {
        let Some(p) = self.link_poll.as_mut() else {
            return;
        };
        if now < p.next {
            return;
        }
        p.next = now + p.every;
        // An error (e.g. the interface is gone) leaves the decision to netlink.
        let up = linkcheck::check(p.kind, &self.s.interface).unwrap_or(true);
        if up != p.up {
            p.up = up;
            let kind = p.kind.name();
            vlog!(
                Info,
                "{}: {kind} reports the link {}",
                self.tag(),
                if up { "up" } else { "down" }
            );
            self.refresh_interface(now);
        }
    }

    /// Publish our member state when it changed (waking the other members), and follow the
    /// group's verdict: hold every member in Backup unless all of them are (or would be) Master.
    fn group_sync(&mut self, now: Duration, check: bool) {
        let Some(g) = self.group.as_mut() else { return };
        let mine = group::member_state(&self.inst, self.stop_deadline.is_some());
        let changed = g.publish(mine, self.inst.priority(), now);
        if !(changed || check || g.seq_changed()) {
            return;
        }
        g.heartbeat(now);
        let verdict = g.verdict(now);
        let held = self.inst.group_held();
        let tag = format!("{}/{}", self.s.interface, self.s.vrid);
        match verdict {
            crate::group::Verdict::Go if held => {
                vlog!(
                    Info,
                    "{tag}: host group {}: all {} members ready",
                    g.name(),
                    g.size()
                );
                g.note_hold_reason(&tag, "");
                let a = self.inst.handle(now, Event::GroupHold(false));
                self.perform(now, a);
                self.group_sync(now, false);
            }
            crate::group::Verdict::Hold { reason } if !held => {
                g.note_hold_reason(&tag, &reason);
                let a = self.inst.handle(now, Event::GroupHold(true));
                self.perform(now, a);
                self.group_sync(now, false);
            }
            crate::group::Verdict::Hold { reason } => g.note_hold_reason(&tag, &reason),
            crate::group::Verdict::Go => {}
        }
    }

    fn on_control(&mut self) {
        let Some(mut server) = self.control.take() else {
            return;
        };
        let now = clock::now();
        server.poll(now, |req| self.control_request(now, req));
        self.control = Some(server);
    }

    fn control_request(
        &mut self,
        now: Duration,
        req: crate::control::Request,
    ) -> crate::control::Response {
        use crate::control::{Command as C, Response};
        let tag = self.tag();
        let ev = match req.cmd {
            C::State => return Response::ok(self.info(false)),
            C::Dump => return Response::ok(self.info(true)),
            C::Backup => {
                vlog!(Info, "{tag}: atropos: forced backup");
                Event::ForceBackup(true)
            }
            C::Resume => {
                vlog!(Info, "{tag}: atropos: resume");
                Event::ForceBackup(false)
            }
            C::Reduce | C::Increase | C::Priority => {
                if self.inst.priority() == 255 {
                    return Response::error("priority 255 (address owner) is never changed");
                }
                let p = match req.priority {
                    Some(p) if req.cmd == C::Priority => p,
                    _ => self.stepped_priority(req.cmd == C::Reduce),
                };
                vlog!(Info, "{tag}: atropos: new priority {p}");
                Event::SetPriority(p)
            }
        };
        let a = self.inst.handle(now, ev);
        self.perform(now, a);
        self.group_sync(now, false);
        Response::ok(self.info(false))
    }

    /// SIGTTIN / SIGTTOU and atropos --reduce / --increase: the -z / -x value, else ∓10 within 1-254.
    fn stepped_priority(&self, down: bool) -> u8 {
        let cur = self.inst.priority();
        if down {
            self.s
                .priority_down
                .unwrap_or(cur.saturating_sub(10).max(1))
        } else {
            self.s
                .priority_up
                .unwrap_or(cur.saturating_add(10).min(254))
        }
    }

    fn on_socket(&mut self) {
        // Bounded: at most 64 packets per wake-up so timers are never starved by a flood.
        for _ in 0..64 {
            let mut buf = std::mem::take(&mut self.buf);
            let got = self.sock.recv(&mut buf);
            match got {
                Ok(Some(r)) => {
                    let now = clock::now();
                    if let Some(payload) = buf.get(r.payload.clone()) {
                        let a = self.inst.handle(
                            now,
                            Event::Packet {
                                src: r.src,
                                dst: r.dst,
                                ttl: r.ttl,
                                payload,
                            },
                        );
                        self.buf = buf;
                        self.perform(now, a);
                    } else {
                        self.buf = buf;
                    }
                }
                Ok(None) => {
                    self.buf = buf;
                    return;
                }
                Err(e) => {
                    self.buf = buf;
                    if e.kind() == io::ErrorKind::InvalidData {
                        let now = clock::now();
                        self.log_discard(now, DiscardReason::BadLength, None);
                        self.inst.record_discard(DiscardReason::BadLength);
                        continue;
                    }
                    vlog!(Warn, "{}: receive error: {e}", self.tag());
                    return;
                }
            }
        }
    }

    fn on_netlink(&mut self) {
        let Some(m) = self.monitor.as_mut() else {
            return;
        };
        let events = match m.read_events() {
            Ok(ev) => ev,
            Err(e) => {
                vlog!(Warn, "{}: netlink: {e}", self.tag());
                return;
            }
        };
        let now = clock::now();
        let mut reread = false;
        let mut vmac_gone = false;
        let vmac_index = self.egress.as_ref().and_then(|e| e.vmac_ifindex());
        for ev in events {
            match ev {
                NetEvent::Link {
                    ifindex,
                    deleted: true,
                    ..
                } if Some(ifindex) == vmac_index => vmac_gone = true,
                NetEvent::Link {
                    ifindex, ref name, ..
                } if ifindex == self.iface.index || *name == self.iface.name => {
                    reread = true;
                }
                NetEvent::Addr { ifindex, .. } if ifindex == self.iface.index => reread = true,
                NetEvent::Overrun => reread = true,
                _ => {}
            }
        }
        if reread {
            self.refresh_interface(now);
        }
        if vmac_gone
            && Interface::lookup(&self.s.interface).is_ok_and(|i| i.index == self.iface.index)
        {
            // Deleted behind our back while the parent stays: create it again, and if we are
            // master put the VIPs back on it and announce them.
            vlog!(
                Warn,
                "{}: the virtual MAC interface was deleted; creating it again",
                self.tag()
            );
            if let Some(eg) = self.egress.as_mut() {
                if let Err(e) = eg.recreate(&mut self.rtnl) {
                    vlog!(
                        Error,
                        "{}: cannot create the virtual MAC interface again: {e}",
                        self.tag()
                    );
                }
            }
            if self.inst.holds_vips() {
                self.perform(
                    now,
                    vec![
                        crate::proto::fsm::Action::AddVips,
                        crate::proto::fsm::Action::Announce,
                    ],
                );
            }
        }
    }

    fn on_signal(&mut self, sig: Sig) {
        let now = clock::now();
        match sig {
            Sig::Term => {
                if self.stop_deadline.is_none() {
                    vlog!(Info, "{}: stopping (signal)", self.tag());
                    // Bound the whole stop: handover (≤ Master_Down_Interval) plus the hook timeout.
                    self.stop_deadline = Some(
                        now + self.inst.master_down_interval()
                            + self.s.script_timeout
                            + Duration::from_secs(1),
                    );
                    let a = self.inst.handle(now, Event::Shutdown);
                    self.perform(now, a);
                }
            }
            Sig::Hup => {
                vlog!(Info, "{}: SIGHUP: re-reading the interface", self.tag());
                self.refresh_interface(now);
            }
            Sig::Usr1 => self.dump(),
            Sig::Usr2 => {
                if self.inst.state() == State::Master {
                    vlog!(Info, "{}: SIGUSR2: stepping down to backup", self.tag());
                    let a = self.inst.handle(now, Event::ForceBackup(true));
                    self.perform(now, a);
                    let a = self.inst.handle(now, Event::ForceBackup(false));
                    self.perform(now, a);
                }
            }
            Sig::Group => self.group_sync(now, true),
            Sig::Ttin | Sig::Ttou => {
                let cur = self.inst.priority();
                if cur == 255 {
                    vlog!(
                        Info,
                        "{}: priority 255 (address owner) is never changed",
                        self.tag()
                    );
                    return;
                }
                let new = self.stepped_priority(sig == Sig::Ttin);
                vlog!(Info, "{}: new priority {new}", self.tag());
                let a = self.inst.handle(now, Event::SetPriority(new));
                self.perform(now, a);
            }
        }
    }

    fn dump(&self) {
        let info = self.info(true);
        vlog!(
            Info,
            "{}: state {} since {:.1}s priority {} master {} reason: {}",
            self.tag(),
            info.state,
            info.since_secs,
            info.priority,
            info.master.as_deref().unwrap_or("-"),
            info.reason.as_deref().unwrap_or("-")
        );
        if let Some(d) = info.detail {
            let discards: Vec<String> = d
                .discards
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| format!("{k}={n}"))
                .collect();
            let transitions: Vec<String> = d
                .transitions
                .iter()
                .map(|(k, n)| format!("{k}={n}"))
                .collect();
            vlog!(
                Info,
                "{}: adverts_sent={} adverts_rcvd={} prio0_sent={} prio0_rcvd={} send_errors={} transitions: {} discards: {}",
                self.tag(),
                d.adverts_sent,
                d.adverts_rcvd,
                d.prio0_sent,
                d.prio0_rcvd,
                d.send_errors,
                if transitions.is_empty() { "-".to_string() } else { transitions.join(" ") },
                if discards.is_empty() { "-".to_string() } else { discards.join(" ") }
            );
            vlog!(
                Info,
                "{}: adver_interval={:.1}ms master_adver_interval={:.1}ms master_down_interval={:.3}ms skew_time={:.3}ms hooks: {:?}",
                self.tag(),
                d.adver_interval_ms,
                d.master_adver_interval_ms,
                d.master_down_interval_ms,
                d.skew_time_ms,
                d.hooks
            );
            for (peer, forms) in &d.checksum_forms {
                let f: Vec<String> = forms
                    .iter()
                    .map(|(k, n)| format!("csum_form_{k}={n}"))
                    .collect();
                vlog!(Info, "{}: peer {peer}: {}", self.tag(), f.join(" "));
            }
        }
    }

    /// What the instance reports to atropos and in dumps.
    pub fn info(&self, detail: bool) -> InstanceInfo {
        let now = clock::now();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let detail = detail.then(|| {
            let c = self.inst.counters();
            let mut d = Detail {
                adver_interval_ms: f64::from(self.s.interval_cs) * 10.0,
                master_adver_interval_ms: ms(self.inst.master_adver_interval()),
                master_down_interval_ms: ms(self.inst.master_down_interval()),
                skew_time_ms: ms(self.inst.skew_time()),
                preempt: self.s.preempt,
                accept: self.s.accept,
                adverts_sent: c.adverts_sent(),
                adverts_rcvd: c.adverts_rcvd(),
                prio0_sent: c.prio0_sent(),
                prio0_rcvd: c.prio0_rcvd(),
                send_errors: c.send_errors(),
                ..Detail::default()
            };
            for from in State::ALL {
                for to in State::ALL {
                    let n = c.transitions(from, to);
                    if n > 0 {
                        d.transitions
                            .insert(format!("{}->{}", State::name(from), State::name(to)), n);
                    }
                }
            }
            for (reason, n) in c.discard_table() {
                d.discards.insert(reason.name().to_string(), n);
            }
            for p in c.checksum_forms() {
                let mut m = std::collections::BTreeMap::new();
                m.insert("pseudo".to_string(), p.pseudo);
                m.insert("plain".to_string(), p.plain);
                d.checksum_forms.insert(p.peer.to_string(), m);
            }
            d.hooks.insert("started".into(), self.hooks.started);
            d.hooks.insert("timed_out".into(), self.hooks.timed_out);
            d.hooks.insert("failed".into(), self.hooks.failed);
            d
        });
        InstanceInfo {
            interface: self.s.interface.clone(),
            vrid: self.s.vrid,
            family: if self.s.family == Family::V4 {
                "ipv4"
            } else {
                "ipv6"
            }
            .to_string(),
            vrrp_version: self.s.version.number(),
            state: State::name(self.inst.state()).to_string(),
            priority: self.inst.priority(),
            configured_priority: self.s.priority,
            vips: self.s.vips.iter().map(|v| v.to_string()).collect(),
            master: self.inst.master_addr().map(|a| a.to_string()),
            since_secs: now.saturating_sub(self.inst.since()).as_secs_f64(),
            reason: self.inst.last_reason().map(|r| r.to_string()),
            forced_backup: self.inst.forced_backup(),
            pid: std::process::id(),
            group: self.group.as_ref().map(|g| g.describe()),
            detail,
        }
    }

    /// Re-read link state and the primary address and feed what changed to the core.
    fn refresh_interface(&mut self, now: Duration) {
        match Interface::lookup(&self.s.interface) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                // A transient error (EMFILE, netlink busy) is not a fault: keep the state.
                vlog!(Warn, "{}: cannot read the interface: {e}", self.tag());
                return;
            }
            Err(_) => {
                let a = self
                    .inst
                    .handle(now, Event::FaultSet(FaultReason::InterfaceGone));
                self.perform(now, a);
                return;
            }
            Ok(i) => {
                if i.index != self.iface.index {
                    vlog!(
                        Info,
                        "{}: interface is back with index {}",
                        self.tag(),
                        i.index
                    );
                    // Gone and back between two reads: what hung off the old device (VIPs,
                    // macvlan) went with it, so go through Fault and Initialize.
                    let a = self
                        .inst
                        .handle(now, Event::FaultSet(FaultReason::InterfaceGone));
                    self.perform(now, a);
                    self.iface = i;
                    self.reopen_socket();
                }
                let a = self
                    .inst
                    .handle(now, Event::FaultClear(FaultReason::InterfaceGone));
                self.perform(now, a);
            }
        }
        let netlink_up = self
            .rtnl
            .link(self.iface.index)
            .map(|l| l.up)
            .unwrap_or(true);
        // Ask the polled method again now rather than trust its last (possibly stale) answer.
        if let Some(p) = self.link_poll.as_mut() {
            p.up = linkcheck::check(p.kind, &self.s.interface).unwrap_or(true);
        }
        let up = netlink_up && self.link_poll.as_ref().is_none_or(|p| p.up);
        let ev = if up {
            Event::FaultClear(FaultReason::LinkDown)
        } else {
            Event::FaultSet(FaultReason::LinkDown)
        };
        let a = self.inst.handle(now, ev);
        self.perform(now, a);
        // The primary address is never one of our VIPs (a master holds them too), except for
        // an address owner, whose VIPs are its own addresses.
        let owner = self.s.priority == 255;
        let v4: Vec<Ipv4Addr> = self
            .s
            .vips
            .iter()
            .filter(|_| !owner)
            .filter_map(|v| match v.addr {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => None,
            })
            .collect();
        let v6: Vec<Ipv6Addr> = self
            .s
            .vips
            .iter()
            .filter(|_| !owner)
            .filter_map(|v| match v.addr {
                IpAddr::V6(a) => Some(a),
                IpAddr::V4(_) => None,
            })
            .collect();
        let primary = match self.s.family {
            Family::V4 => iface::primary_ipv4(self.iface.index, &v4)
                .ok()
                .flatten()
                .map(IpAddr::V4),
            Family::V6 => iface::link_local_ipv6(self.iface.index, &v6)
                .ok()
                .flatten()
                .map(IpAddr::V6),
        };
        if primary != self.primary {
            match primary {
                Some(p) => vlog!(Info, "{}: primary address {p}", self.tag()),
                None => vlog!(
                    Warn,
                    "{}: no primary address on {}",
                    self.tag(),
                    self.iface.name
                ),
            }
            self.primary = primary;
            let a = self.inst.handle(now, Event::PrimaryAddress(primary));
            self.perform(now, a);
        }
    }

    fn reopen_socket(&mut self) {
        match VrrpSocket::open(self.s.family, self.iface.index, &self.iface.name) {
            Ok(s) => {
                let _ = s.set_vrid_filter(self.s.vrid);
                self.sock = s;
            }
            Err(e) => vlog!(Error, "{}: cannot reopen the VRRP socket: {e}", self.tag()),
        }
        if let Some(eg) = self.egress.as_mut() {
            if let Err(e) = eg.attach(&self.iface, &mut self.rtnl) {
                vlog!(
                    Error,
                    "{}: cannot set up the virtual MAC again: {e}",
                    self.tag()
                );
            }
        }
    }

    fn remove_stale_vips(&mut self) {
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

    fn add_vips(&mut self) {
        if let Some(eg) = self.egress.as_mut() {
            eg.activate(&mut self.rtnl);
        }
        let dev = self.vip_ifindex();
        for vip in &self.s.vips {
            if let Err(e) = self.rtnl.add_addr(dev, vip.addr, vip.prefix) {
                vlog!(
                    Error,
                    "{}: cannot add {vip} to {}: {e}",
                    self.tag(),
                    self.iface.name
                );
            }
        }
    }

    /// The device the VIPs are put on (the macvlan with a VMAC, else the interface).
    fn vip_ifindex(&self) -> u32 {
        self.egress
            .as_ref()
            .map_or(self.iface.index, |e| e.vip_ifindex(&self.iface))
    }

    fn vips_text(&self) -> String {
        self.s
            .vips
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn perform(&mut self, now: Duration, actions: Vec<Action>) {
        // Becoming master: the VIPs (and the macvlan, up) are in place before the first advert
        // and gratuitous ARP leave, so that no packet drawn by them finds the address missing.
        if actions.iter().any(|a| matches!(a, Action::AddVips)) {
            self.add_vips();
        }
        for a in actions {
            match a {
                Action::Send(advert) => {
                    let Some(src) = self.primary else {
                        self.inst.record_send_error();
                        continue;
                    };
                    let dst = group(self.s.family);
                    match advert.to_bytes(src, dst, self.s.checksum_form) {
                        Ok(bytes) => {
                            let sent = match &self.egress {
                                Some(eg) => eg.send(&self.sock, src, &bytes),
                                None => self.sock.send(src, &bytes),
                            };
                            if let Err(e) = sent {
                                self.inst.record_send_error();
                                let (ok, _) = self.notice_log.allow(now);
                                if ok {
                                    vlog!(Warn, "{}: sending advert: {e}", self.tag());
                                }
                            }
                        }
                        Err(e) => {
                            self.inst.record_send_error();
                            vlog!(Error, "{}: cannot encode advert: {e:?}", self.tag());
                        }
                    }
                }
                Action::AddVips => {} // done first, above
                Action::RemoveVips => {
                    let dev = self.vip_ifindex();
                    for vip in &self.s.vips {
                        if self.keep.contains(&vip.addr) {
                            continue;
                        }
                        if let Err(e) = self.rtnl.del_addr(dev, vip.addr, vip.prefix) {
                            vlog!(
                                Warn,
                                "{}/{}: cannot remove {vip}: {e}",
                                self.s.interface,
                                self.s.vrid
                            );
                        }
                    }
                    self.announce = Announce::default();
                    if let Some(eg) = self.egress.as_mut() {
                        eg.deactivate(&mut self.rtnl);
                    }
                }
                Action::Announce => {
                    self.announce = Announce {
                        remaining: self.s.garp_count,
                        next: Some(now),
                    };
                    self.send_announcements(now);
                }
                Action::RunHook { hook, prev } => {
                    let (path, state) = match hook {
                        Hook::Master => (self.s.master_script.clone(), "MASTER"),
                        Hook::Backup => (self.s.backup_script.clone(), "BACKUP"),
                        Hook::Fault => (
                            self.s
                                .fault_script
                                .clone()
                                .or_else(|| self.s.backup_script.clone()),
                            "FAULT",
                        ),
                    };
                    if let Some(path) = path {
                        let job = Job {
                            path,
                            state,
                            prev: State::name(prev),
                            iface: self.s.interface.clone(),
                            vrid: self.s.vrid,
                            priority: self.inst.priority(),
                            vips: self
                                .s
                                .vips
                                .iter()
                                .map(|v| v.addr.to_string())
                                .collect::<Vec<_>>()
                                .join(" "),
                        };
                        self.hooks.push(job, now);
                    }
                }
                Action::Transition { from, to, reason } => {
                    vlog!(
                        Info,
                        "{}: {} -> {} ({reason})",
                        self.tag(),
                        State::name(from),
                        State::name(to)
                    );
                    match to {
                        State::Master => {
                            vlog!(Info, "{}: we are now the master router", self.tag())
                        }
                        State::Backup => vlog!(Info, "{}: we are now a backup router", self.tag()),
                        State::Fault => {
                            vlog!(Warn, "{}: Link down or no address: fault", self.tag())
                        }
                        State::Initialize => {}
                    }
                    if from == State::Fault || to == State::Initialize {
                        if let Err(e) = self.sock.rejoin() {
                            vlog!(
                                Warn,
                                "{}: cannot renew the multicast membership: {e}",
                                self.tag()
                            );
                        }
                    }
                    if !self.ready_sent
                        && matches!(to, State::Master | State::Backup | State::Fault)
                    {
                        self.ready_sent = true;
                        self.notify.send("READY=1");
                    }
                    self.notify.send(&format!("STATUS={}", State::name(to)));
                }
                Action::Notice(n) => self.log_notice(now, n),
                Action::Stopped => self.stopped = true,
            }
        }
    }

    fn send_announcements(&mut self, now: Duration) {
        if self.announce.remaining == 0 {
            self.announce.next = None;
            return;
        }
        self.announce.remaining -= 1;
        self.announce.next = if self.announce.remaining > 0 {
            Some(now + self.s.garp_interval)
        } else {
            None
        };
        let first_round = self.announce.remaining + 1 == self.s.garp_count;
        let Some(eg) = self.egress.as_ref() else {
            return;
        };
        let Some(ann) = eg.announcer() else {
            return;
        };
        let mac = eg.mac(&self.iface);
        if first_round && !eg.uses_vmac() {
            if let Some((IpAddr::V4(vip), IpAddr::V4(gw))) = self.s.magic {
                // Advanced Vrrpd's magic packet (-I/-O), made to work: see sys::magic.
                let gw_mac = crate::sys::magic::gateway_mac(&mut self.rtnl, self.iface.index, gw)
                    .ok()
                    .flatten();
                match crate::sys::magic::magic_packet(ann, mac, vip, gw, gw_mac) {
                    Ok(kind) => vlog!(
                        Info,
                        "{}/{}: magic packet to {gw} from {vip} ({kind:?})",
                        self.s.interface,
                        self.s.vrid
                    ),
                    Err(e) => vlog!(
                        Warn,
                        "{}/{}: magic packet to {gw}: {e}",
                        self.s.interface,
                        self.s.vrid
                    ),
                }
            }
        }
        for vip in &self.s.vips {
            let r = match vip.addr {
                IpAddr::V4(a) => ann.gratuitous_arp(mac, a),
                IpAddr::V6(a) => ann.unsolicited_na(mac, a),
            };
            if let Err(e) = r {
                let (ok, _) = self.notice_log.allow(now);
                if ok {
                    vlog!(
                        Warn,
                        "{}/{}: gratuitous ARP/NA for {vip}: {e}",
                        self.s.interface,
                        self.s.vrid
                    );
                }
            }
        }
    }

    fn log_discard(&mut self, now: Duration, reason: DiscardReason, peer: Option<IpAddr>) {
        if reason == DiscardReason::OtherVrid || !log::enabled(log::Level::Debug) {
            return;
        }
        let (ok, suppressed) = self.discard_log.allow(now);
        if suppressed > 0 {
            vlog!(
                Debug,
                "{}: {suppressed} more discards not logged",
                self.tag()
            );
        }
        if ok {
            let peer = peer.map_or_else(|| "?".to_string(), |p| p.to_string());
            vlog!(
                Debug,
                "{}: discarded packet from {peer}: {}",
                self.tag(),
                reason.name()
            );
        }
    }

    fn log_notice(&mut self, now: Duration, n: Notice) {
        if let Notice::Discard { reason, peer } = n {
            self.log_discard(now, reason, peer);
            return;
        }
        // Steady-state notices (a peer's different address list, interval, or global-first IPv6
        // list) are warned about once per peer and kind, then logged at debug level only; a
        // version mismatch or owner conflict (split-brain risks) keeps warning, rate-limited.
        let once = match n {
            Notice::AddrMismatch { peer } => Some((0u8, peer)),
            Notice::IntervalMismatch { peer, .. } => Some((1, peer)),
            Notice::V6FirstNotLinkLocal { peer } => Some((2, peer)),
            _ => None,
        };
        if let Some(key) = once {
            if self.noted.contains(&key) {
                vlog!(Debug, "{}: {n}", self.tag());
                return;
            }
            if self.noted.len() < 64 {
                self.noted.push(key);
            }
        }
        let (ok, suppressed) = self.notice_log.allow(now);
        if suppressed > 0 {
            vlog!(
                Warn,
                "{}: {suppressed} more warnings not logged",
                self.tag()
            );
        }
        if ok {
            vlog!(Warn, "{}: {n}", self.tag());
        }
    }
}
