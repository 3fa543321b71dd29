//! The event loop: one thread, `poll(2)` over the VRRP socket, a timerfd, the signal pipe, netlink
//! link/address events and the running hook's pidfd. Every wake-up turns into events for the
//! protocol core ([`crate::proto::fsm::Instance`]), whose actions are carried out here.
//!
//! Files: this one holds the loop ([`Daemon::run`]) and the dispatch of each wake-up (signals,
//! netlink, the socket, the control socket, timers); every event reaches the core through
//! `feed`, which also carries out the actions and keeps the host group in step. Start-up is in
//! `startup`, carrying out actions in `perform`, link and address re-reads in `link`, what is
//! reported (atropos, SIGUSR1) in `report`; detaching is [`crate::sys::process::Detached`].
//!
//! State: [`Daemon`] holds one instance's state (configuration, interface, protocol core,
//! socket, egress, hooks, announcements, group membership, pid file); [`Shared`] holds the
//! process's resources (netlink, link monitor, timerfd, signals, control socket, systemd
//! notification). Serving several instances from one process means a list of instances beside
//! one `Shared`, dispatching socket input by VRID and control requests by instance name.
//!
//! Seams: a *transport* (multicast today; unicast peers) is a socket type in
//! [`crate::sys::socket`] chosen at start-up, behind the same `send`/`recv`; a *priority input*
//! (health tracker) is one more descriptor or deadline in the loop whose observations become
//! events passed to `feed`; a *second protocol* is one more arm of `engine::Core`.
//!
//! Timers: the core returns absolute deadlines on CLOCK_MONOTONIC; the timerfd is armed at the
//! earliest of them (core timer, next gratuitous ARP, hook timeout), so adverts are scheduled from
//! the previous deadline and do not drift.
#![forbid(unsafe_code)]

pub mod cleanup;
pub mod config;
pub mod egress;
pub mod engine;
pub mod events;
pub mod filter;
pub mod group;
pub mod hooks;
mod link;
pub mod log;
pub mod notify;
mod perform;
pub mod quiet;
pub mod realtime;
mod report;
pub mod signals;
mod startup;
pub mod track;

pub use self::startup::{check_capabilities, pid_path, StartError};

use core::net::IpAddr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use self::config::Settings;
use self::engine::{Core, Step};
use crate::proto::fsm::{is_owner_priority, Event, State};
use crate::proto::{DiscardReason, Family};
use crate::sys::clock;
use crate::sys::iface::Interface;
use crate::sys::netlink::{LinkMonitor, NetEvent, Rtnl};
use crate::sys::pidfile::PidFile;
use crate::sys::socket::VrrpSocket;
use crate::vlog;

use self::hooks::Hooks;
use self::link::LinkPoll;
use self::log::RateLimit;
use self::signals::{Sig, Signals};

/// What the event loop polls, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// The VRRP socket.
    Socket,
    /// The Router Solicitation socket (IPv6 with Router Advertisements).
    Solicit,
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
    /// Running check commands' pidfds and the tracked files' inotify descriptor.
    Track,
    /// Event-stream subscribers (input: a close; output: room for what waits).
    Events,
}

/// Which [`Slot`]s one `poll(2)` found ready.
#[derive(Debug, Default)]
struct Ready {
    socket: bool,
    solicit: bool,
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
            Slot::Solicit => self.solicit = true,
            Slot::Timer => self.timer = true,
            Slot::Signals => self.signals = true,
            Slot::Netlink => self.netlink = true,
            Slot::Hook => self.hook = true,
            Slot::Track | Slot::Events => {}
            Slot::Control => self.control = true,
        }
    }
}

/// Gratuitous ARP / unsolicited NA rounds still to send.
#[derive(Debug, Default)]
struct Announce {
    remaining: u32,
    next: Option<Duration>,
    /// `--garp-refresh`: when the next refresh round is due (while master).
    refresh: Option<Duration>,
}

/// The process's shared resources: what one process has once however many instances it
/// serves (netlink, the link monitor, the timerfd, signals, the control socket, systemd
/// notification, the receive buffer). Kept apart from the instance's state in [`Daemon`] so that
/// serving several instances means a list of instances beside one `Shared`.
pub struct Shared {
    rtnl: Rtnl,
    monitor: Option<LinkMonitor>,
    timer: clock::Timer,
    signals: Signals,
    control: Option<crate::control::server::Server>,
    /// The event stream (`atropos --follow`): the ring of recent events and its subscribers.
    stream: events::Stream,
    notify: notify::Notifier,
    ready_sent: bool,
    /// The event loop's poll(2) set and what each of its descriptors is, kept between
    /// wake-ups.
    poll: crate::sys::poll::PollSet,
    slots: Vec<Slot>,
    buf: Vec<u8>,
    /// Where adverts are encoded before they are sent.
    tx_buf: Vec<u8>,
    /// IPv4 identification of the CARP advert frames built here.
    ip_id: u16,
}

/// A running instance: its configuration, interface, protocol core, socket and egress, hooks,
/// announcements, host-group membership and pid file, plus the process's [`Shared`] resources.
pub struct Daemon {
    s: Settings,
    iface: Interface,
    inst: Core,
    sock: VrrpSocket,
    /// Router Solicitations (IPv6 with Router Advertisements on).
    solicit: Option<crate::sys::ndisc::SolicitSocket>,
    egress: Option<egress::Egress>,
    /// The Accept_Mode packet filter (None: Accept_Mode on, owner, CARP).
    filter: Option<filter::AcceptFilter>,
    /// `nft` runs that failed after start-up (rewriting or removing the filter).
    filter_errors: u64,
    /// Times the link monitor lost notifications (`ENOBUFS`) and everything was re-read.
    netlink_overruns: u64,
    link_poll: Option<LinkPoll>,
    hooks: Hooks,
    /// Health trackers (`--track-*`).
    trackers: track::Trackers,
    /// Whether the trackers hold [`crate::proto::fsm::FaultReason::Tracker`].
    track_fault: bool,
    announce: Announce,
    primary: Option<IpAddr>,
    /// A read of the addresses failed: when to read them again (the last known primary stays).
    primary_retry: Option<Duration>,
    /// A state transition ran code the steady loop does not (the takeover's address, ARP and
    /// netlink work): when to give back again the stack below the loop, the free heap and the
    /// executable's clean pages (issue #14, [`crate::sys::mem::release_startup`]). Rides on
    /// the first wake-up after it; never wakes the loop by itself.
    release_at: Option<Duration>,
    /// Addresses that were on the interface before we started and that an owner must keep.
    keep: Vec<IpAddr>,
    stopped: bool,
    /// Start-up events are fed; the host group follows every event from now on.
    started: bool,
    stop_deadline: Option<Duration>,
    discard_log: RateLimit,
    notice_log: RateLimit,
    /// (kind, peer) of the once-per-peer notices already warned about.
    noted: Vec<(u8, IpAddr)>,
    group: Option<group::Member>,
    /// When the event loop last returned from `poll(2)` (reported as its liveness tick).
    last_wake: Duration,
    /// The latest time an event was fed at (the quiet Backup feeds no earlier).
    last_fed: Duration,
    /// The quiet Backup's filter (`--quiet-backup auto`, VRRP, the kernel allowing it).
    quiet: Option<quiet::Quiet>,
    /// Test hook, debug builds only (see `startup`): panic on this advert sent as master.
    test_panic: u32,
    /// Test hook (debug builds): `VRRPD_TEST_IGNORE_LINK_EVENTS` ignores netlink link events
    /// of our interface while the monitor stays open, as a driver that does not report its
    /// carrier to netlink would, so a test sees the ethtool/MII poll alone.
    test_ignore_link_events: bool,
    /// Test hook (debug builds): `VRRPD_TEST_TAKEOVER_PAUSE_MS=N` sleeps N ms right after the
    /// advert that takes the Master role, as a loaded machine that takes the CPU away from the
    /// new Master at that point would (see `perform`).
    test_takeover_pause: Duration,
    _pidfile: PidFile,
    /// `--pid-file`, when it is not the identity's own pid file.
    _extra_pidfile: Option<PidFile>,
    io: Shared,
}

/// A panic unwinding out of the loop (or a daemon dropped without [`Daemon::run`] finishing)
/// must not leave the network changed: the VIPs are removed and the virtual MAC deleted, which
/// restores the parent's sysctls (issue 13, defect 14). A normal exit has done all this in
/// `run` already (the egress is gone then), so this does nothing. The pid file and the control
/// socket go with their own `Drop`s. (The release profile unwinds too: `panic = "abort"`
/// would skip this.)
impl Drop for Daemon {
    fn drop(&mut self) {
        let Some(eg) = self.egress.take() else {
            return;
        };
        if std::thread::panicking() {
            vlog!(
                Error,
                "{}: panicked: removing the VIPs and the virtual MAC",
                self.tag()
            );
        }
        self.hooks.kill_all();
        self.trackers.kill_all();
        let dev = eg.vip_ifindex(&self.iface);
        for vip in &self.s.vips {
            if !self.keep.contains(&vip.addr) {
                let _ = self.io.rtnl.del_addr(dev, vip.addr, vip.prefix);
            }
        }
        eg.close(&mut self.io.rtnl);
    }
}

impl Daemon {
    fn tag(&self) -> String {
        crate::proto::tag(&self.s.interface, self.s.vrid).to_string()
    }

    /// Run until stopped. Returns the exit status.
    pub fn run(&mut self) -> i32 {
        let now = clock::now();
        self.emit_start();
        if let Some(c) = &self.s.carp {
            vlog!(
                Info,
                "{}: starting, CARP vhid {} advbase {} s advskew {} deadratio {}, VIP {}",
                self.tag(),
                self.s.vrid,
                self.s.interval_cs / 100,
                c.advskew,
                c.deadratio,
                self.vips_text()
            );
        } else {
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
        }
        let interval = Duration::from_millis(u64::from(self.s.interval_cs) * 10);
        if let Some(p) = self.io.notify.tie_watchdog(interval) {
            vlog!(
                Info,
                "{}: systemd watchdog {} ms (advert interval {} ms)",
                self.tag(),
                p.as_millis(),
                interval.as_millis()
            );
        }
        self.remove_stale_vips();
        self.refresh_interface(now);
        self.warn_missing_unicast_source();
        if let Some(g) = &self.group {
            vlog!(
                Info,
                "{}: monitoring {} processes (host group {})",
                self.tag(),
                g.size(),
                g.name()
            );
            self.feed(now, Event::GroupHold(true));
        }
        self.track_start(now);
        self.feed(now, Event::Startup);
        // From here on every event is followed by a group sync (see `feed`).
        self.started = true;
        self.group_sync(now, true);
        // Start-up is done: give back the heap and stack it used (issue #14, sys::mem).
        let buffers = self.release_buffers();
        match crate::sys::mem::release_startup() {
            Ok(r) => vlog!(
                Debug,
                "{}: released {} KiB of start-up stack, {} KiB of executable mappings, {} KiB of \
                 receive buffers; heap {} KiB, {} KiB in use",
                self.tag(),
                r.stack / 1024,
                r.image / 1024,
                buffers / 1024,
                crate::sys::alloc::region_len() / 1024,
                crate::sys::alloc::small_in_use() / 1024,
            ),
            Err(e) => vlog!(Debug, "{}: cannot release start-up memory: {e}", self.tag()),
        }
        // Start-up is done: the loop runs real-time from here on (`--realtime`), or asks for
        // a short slice at its normal priority.
        if let Some(prio) = self.s.realtime {
            self.enter_realtime(prio);
        } else if let Err(e) = realtime::short_slice() {
            vlog!(
                Debug,
                "{}: cannot ask for a short scheduler slice: {e}",
                self.tag()
            );
        }
        let why = loop {
            if self.stopped && self.hooks.idle() {
                break "signal";
            }
            if let Some(d) = self.stop_deadline {
                if clock::now() >= d {
                    vlog!(Warn, "{}: stop did not finish in time; exiting", self.tag());
                    break "stop timed out";
                }
            }
            if let Err(e) = self.wait_once() {
                vlog!(Error, "{}: event loop: {e}", self.tag());
                std::thread::sleep(Duration::from_millis(10));
            }
            if self.release_at.is_some_and(|t| clock::now() >= t) {
                self.release_at = None;
                // The stack below this frame, the free heap, the executable's clean pages and
                // the receive buffers' pages that the transition's work left (issue #14).
                self.release_buffers();
                if let Err(e) = crate::sys::mem::release_startup() {
                    vlog!(
                        Debug,
                        "{}: cannot release memory after a transition: {e}",
                        self.tag()
                    );
                }
            }
        };
        self.hooks.kill_all();
        self.trackers.kill_all();
        if let Some(eg) = self.egress.take() {
            eg.close(&mut self.io.rtnl);
        }
        if let Some(f) = self.filter.take() {
            let table = f.table();
            if let Err(e) = f.remove() {
                self.filter_errors += 1;
                vlog!(
                    Error,
                    "{}: cannot remove packet filter table {table}: {e}",
                    self.tag()
                );
            }
        }
        self.io.notify.send("STOPPING=1");
        vlog!(Info, "{}: exiting", self.tag());
        self.finish_stream(why);
        0
    }

    /// The receive buffers, whose contents are dead between reads, given back with the rest of
    /// start-up's memory (issue #14): the netlink request and monitor sockets' 64 KiB mappings
    /// go (mapped again by the next request or notification), the advert socket's 9000 bytes
    /// keep their memory but not its pages ([`crate::sys::mem::release_buffer`]). Returns the
    /// bytes given back.
    fn release_buffers(&mut self) -> usize {
        let mut n = self.io.rtnl.release_buffer();
        if let Some(m) = self.io.monitor.as_mut() {
            n += m.release_buffer();
        }
        n + crate::sys::mem::release_buffer(&mut self.io.buf)
    }

    #[inline]
    fn quiet_armed(&self) -> bool {
        self.quiet.as_ref().is_some_and(|q| q.is_armed())
    }

    fn next_deadline(&self) -> Option<Duration> {
        [
            self.inst.next_deadline(),
            self.announce.next,
            self.announce.refresh,
            self.hooks.deadline(),
            self.trackers.deadline(),
            self.stop_deadline,
            self.io.notify.next(),
            // Quiet Backup with netlink events: the poll rides on the wake-ups that remain
            // (see `quiet`); a backstop every 1.25 intervals would undo the quiet.
            self.link_poll
                .as_ref()
                .filter(|_| !(self.io.monitor.is_some() && self.quiet_armed()))
                .map(|p| p.next),
            self.primary_retry,
            self.io.control.as_ref().and_then(|c| c.deadline()),
            self.group.as_ref().map(|g| g.next_tick()),
            self.io.stream.deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    fn wait_once(&mut self) -> io::Result<()> {
        self.io.timer.arm(self.next_deadline())?;
        let ready = {
            // The set is rebuilt on every wake-up (a hook, a check or a control client may have
            // come or gone), in storage kept between wake-ups: no allocation, one poll(2).
            let set = &mut self.io.poll;
            let slots = &mut self.io.slots;
            set.clear();
            slots.clear();
            let mut add = |slot: Slot, fd: BorrowedFd<'_>| {
                set.readable(fd);
                slots.push(slot);
            };
            add(Slot::Socket, self.sock.as_fd());
            add(Slot::Timer, self.io.timer.as_fd());
            add(Slot::Signals, self.io.signals.as_fd());
            if let Some(m) = &self.io.monitor {
                add(Slot::Netlink, m.as_fd());
            }
            if let Some(rs) = &self.solicit {
                add(Slot::Solicit, rs.as_fd());
            }
            if let Some(fd) = self.hooks.fd() {
                add(Slot::Hook, fd);
            }
            for fd in self.trackers.fds() {
                add(Slot::Track, fd);
            }
            if let Some(c) = &self.io.control {
                for fd in c.fds() {
                    add(Slot::Control, fd);
                }
            }
            let st = &self.io.stream;
            for fd in st.read_fds() {
                add(Slot::Events, fd);
            }
            // Subscribers are served on every wake-up; room to write only has to wake the loop.
            for fd in st.write_fds() {
                set.writable(fd);
            }
            set.wait()?;
            self.last_wake = clock::now();
            let mut ready = Ready::default();
            for (i, slot) in slots.iter().enumerate() {
                if set.ready(i) {
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
            for sig in self.io.signals.take() {
                self.on_signal(sig);
            }
        }
        if mon_ready {
            self.on_netlink();
        }
        if sock_ready {
            self.on_socket();
        }
        if ready.solicit {
            self.on_solicit();
        }
        if timer_ready {
            // No read(2): the re-arm at the top of the next wake-up clears the expiry.
            self.io.timer.expired();
        }
        if ctl_ready
            || self
                .io
                .control
                .as_ref()
                .is_some_and(|c| c.deadline().is_some())
        {
            self.on_control();
        }
        // Timers are checked on every wake-up: cheap, and robust against a missed timerfd edge.
        self.on_time();
        // Last: what this wake-up recorded goes out in it.
        self.serve_subscribers(clock::now());
        Ok(())
    }

    #[inline(never)]
    fn on_time(&mut self) {
        let now = clock::now();
        // The kernel's arrival times first: a repeat it dropped resets the Master_Down_Timer.
        self.quiet_collect(now);
        if self.inst.next_deadline().is_some_and(|d| now >= d) {
            // A Backup about to take over asks the ethtool/MII poll first, due or not: a
            // carrier loss that netlink did not report (the poll's reason to exist) would
            // otherwise make it Master until the next poll, up to `--link-poll` later, and a
            // quiet Backup has no poll backstop between its wake-ups at all. One ioctl per
            // takeover; a Backup without link must not take over.
            if self.inst.state() == State::Backup {
                self.check_link_now(now);
            }
            if self.inst.next_deadline().is_some_and(|d| now >= d) {
                self.feed(now, Event::Timeout);
            }
        }
        if self.announce.next.is_some_and(|d| now >= d) {
            self.send_announcements(now);
        }
        if let (Some(due), Some(every)) = (self.announce.refresh, self.s.garp_refresh) {
            if now >= due {
                // Drift-free; a loop late by a whole period resynchronises.
                let next = due + every;
                self.announce.refresh = Some(if next <= now { now + every } else { next });
                self.announce_round(now);
            }
        }
        self.hooks.poll(now);
        self.poll_trackers(now);
        self.io.notify.tick(now);
        self.poll_link(now);
        self.retry_primary(now);
        let tick = self.group.as_ref().is_some_and(|g| now >= g.next_tick());
        self.group_sync(now, tick);
    }

    /// Feed one event to the state machine, carry out its actions, and follow up on the host
    /// group (publish a changed member state, obey the verdict). Every event goes through here.
    ///
    /// The quiet Backup's dropped repeats are taken in first ([`quiet`]), so that every event
    /// meets the core as it would have been had every advert been read. Returns whether the
    /// core handled the event cleanly ([`Daemon::feed_one`]).
    fn feed(&mut self, now: Duration, ev: Event<'_>) -> bool {
        self.quiet_collect(now);
        let keeps = matches!(ev, Event::Packet { .. } | Event::Timeout);
        let clean = self.feed_one(now, ev);
        self.quiet_after_event(keeps);
        clean
    }

    /// [`Daemon::feed`] without the quiet Backup's bookkeeping. Returns whether the core
    /// handled the event cleanly: no discard, notice, warning or transition.
    fn feed_one(&mut self, now: Duration, ev: Event<'_>) -> bool {
        self.last_fed = self.last_fed.max(now);
        let before = (self.inst.priority(), self.inst.group_held());
        let actions = self.inst.handle(now, ev);
        let clean = !actions.iter().any(|a| {
            matches!(
                a,
                Step::Act(crate::proto::fsm::Action::Notice(_))
                    | Step::Transition { .. }
                    | Step::Warn(_)
            )
        });
        // The stream records a cause before its effects: a host-group hold (or a priority
        // change) before the transition and hooks it brings.
        self.emit_changes(before);
        self.perform(now, actions);
        if self.started {
            self.group_sync(now, false);
        }
        clean
    }

    /// Publish our member state when it changed (waking the other members), and follow the
    /// group's verdict: hold every member in Backup unless all of them are (or would be) Master.
    #[inline(never)]
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
        let tag = crate::proto::tag(&self.s.interface, self.s.vrid).to_string();
        match verdict {
            crate::proto::group::Verdict::Go if held => {
                vlog!(
                    Info,
                    "{tag}: host group {}: all {} members ready",
                    g.name(),
                    g.size()
                );
                g.note_hold_reason(&tag, None);
                self.feed(now, Event::GroupHold(false));
            }
            crate::proto::group::Verdict::Hold { reason } if !held => {
                g.note_hold_reason(&tag, Some(&reason));
                self.feed(now, Event::GroupHold(true));
            }
            crate::proto::group::Verdict::Hold { reason } => {
                g.note_hold_reason(&tag, Some(&reason))
            }
            crate::proto::group::Verdict::Go => {}
        }
    }

    #[inline(never)]
    fn on_control(&mut self) {
        let Some(mut server) = self.io.control.take() else {
            return;
        };
        let now = clock::now();
        let before = server.refused.map_or(0, |(n, _)| n);
        server.poll(now, |req| self.control_request(now, req));
        self.adopt_subscribers(server.take_subscribed());
        if let Some((n, uid)) = server.refused {
            // The first few, then one in a hundred: a local user cannot flood the log.
            if n > before && (before < 3 || n / 100 > before / 100) {
                vlog!(
                    Warn,
                    "{}: control connection from uid {uid} refused: only root and uid {} may \
                     control vrrpd ({n} refused so far)",
                    crate::proto::tag(&self.s.interface, self.s.vrid),
                    crate::sys::effective_uid()
                );
            }
        }
        self.io.control = Some(server);
    }

    fn control_request(
        &mut self,
        now: Duration,
        req: crate::control::Request,
    ) -> crate::control::Response {
        use crate::control::{Command as C, Response};
        let tag = self.tag();
        // What is reported counts every advert the quiet Backup's filter dropped.
        self.quiet_collect(now);
        let ev = match req.cmd {
            C::State => return Response::ok(self.info(false)),
            C::Dump => return Response::ok(self.info(true)),
            C::Subscribe => {
                return match self.io.stream.room() {
                    Ok(()) => Response::ok(self.info(false)),
                    Err(e) => Response::error(e),
                }
            }
            C::Backup => {
                vlog!(Info, "{tag}: atropos: forced backup");
                Event::ForceBackup(true)
            }
            C::Resume => {
                vlog!(Info, "{tag}: atropos: resume");
                Event::ForceBackup(false)
            }
            C::Reduce | C::Increase | C::Priority => {
                if !self.inst.is_carp() && is_owner_priority(self.inst.priority()) {
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
        self.feed(now, ev);
        Response::ok(self.info(false))
    }

    /// SIGTTIN / SIGTTOU and atropos --reduce / --increase: the -z / -x value, else ∓10 within 1-254.
    /// Changes the configured part: tracker weights stay in force on top of it.
    fn stepped_priority(&self, down: bool) -> u8 {
        let cur = self.inst.base_priority();
        if self.inst.is_carp() {
            // CARP: the value is the advskew, where more means less preferred.
            return if down {
                self.s.priority_down.unwrap_or(cur.saturating_add(10))
            } else {
                self.s.priority_up.unwrap_or(cur.saturating_sub(10))
            };
        }
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

    /// One datagram per wake-up: poll(2) is level-triggered, so a second one queued behind it
    /// wakes the loop again at once, and the usual wake-up (one advert) costs one recvmsg(2)
    /// rather than a second one that only says "nothing more" (`EAGAIN`). A flood is bounded
    /// the same way: timers are checked between any two datagrams.
    #[inline(never)]
    fn on_socket(&mut self) {
        let mut buf = std::mem::take(&mut self.io.buf);
        // The kernel never interrupts a non-blocking read, but a tracer's fault injection or a
        // seccomp filter may: read again (bounded; past that, poll(2) brings us back).
        let mut got = self.sock.recv(&mut buf);
        for _ in 0..8 {
            match &got {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => got = self.sock.recv(&mut buf),
                _ => break,
            }
        }
        match got {
            Ok(Some(r)) => {
                if let Some(payload) = buf.get(r.payload.clone()) {
                    let now = clock::now();
                    let clean = self.feed(
                        now,
                        Event::Packet {
                            src: r.src,
                            dst: r.dst,
                            ttl: r.ttl,
                            ip_options: r.ip_options,
                            payload,
                        },
                    );
                    self.quiet_after_packet(now, &buf, &r, clean);
                }
            }
            Ok(None) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let now = clock::now();
                self.log_discard(now, DiscardReason::BadLength, None);
                self.inst.record_discard(DiscardReason::BadLength);
            }
            Err(e) => vlog!(Warn, "{}: receive error: {e}", self.tag()),
        }
        self.io.buf = buf;
    }

    /// Router Solicitations, each an [`Event::RouterSolicit`] (bounded per wake-up as adverts).
    #[inline(never)]
    fn on_solicit(&mut self) {
        for _ in 0..64 {
            let Some(rs) = self.solicit.as_ref() else {
                return;
            };
            let mut buf = std::mem::take(&mut self.io.buf);
            let got = rs.recv(&mut buf);
            match got {
                Ok(Some(r)) => {
                    let now = clock::now();
                    if let Some(msg) = buf.get(..r.len) {
                        self.feed(
                            now,
                            Event::RouterSolicit {
                                src: r.src,
                                hop_limit: r.hop_limit,
                                msg,
                            },
                        );
                    }
                    self.io.buf = buf;
                }
                Ok(None) => {
                    self.io.buf = buf;
                    return;
                }
                Err(e) => {
                    self.io.buf = buf;
                    if e.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    if e.kind() == io::ErrorKind::InvalidData {
                        let now = clock::now();
                        self.log_discard(now, DiscardReason::BadSolicit, None);
                        self.inst.record_discard(DiscardReason::BadSolicit);
                        continue;
                    }
                    vlog!(Warn, "{}: Router Solicitation socket: {e}", self.tag());
                    return;
                }
            }
        }
    }

    #[inline(never)]
    fn on_netlink(&mut self) {
        let Some(m) = self.io.monitor.as_mut() else {
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
        let mut tracked = Vec::new();
        let overrun = events.contains(&NetEvent::Overrun);
        for ev in events {
            match &ev {
                NetEvent::Link {
                    ifindex,
                    name,
                    up,
                    deleted,
                } => tracked.extend(self.trackers.on_link(*ifindex, name, *up, *deleted)),
                NetEvent::Overrun => {
                    tracked.extend(self.trackers.reread_links(&mut self.io.rtnl));
                }
                _ => {}
            }
            match ev {
                NetEvent::Link {
                    ifindex,
                    deleted: true,
                    ..
                } if Some(ifindex) == vmac_index => vmac_gone = true,
                NetEvent::Link {
                    ifindex, ref name, ..
                } if (ifindex == self.iface.index || *name == self.iface.name)
                    && !self.test_ignore_link_events =>
                {
                    reread = true;
                }
                NetEvent::Addr { ifindex, .. } if ifindex == self.iface.index => reread = true,
                NetEvent::Overrun => reread = true,
                _ => {}
            }
        }
        if overrun {
            self.netlink_overruns += 1;
            let (log, suppressed) = self.notice_log.allow(now);
            if log {
                vlog!(
                    Warn,
                    "{}: netlink events lost (ENOBUFS, {} overrun(s) so far{}): re-reading the interface{}",
                    self.tag(),
                    self.netlink_overruns,
                    if suppressed > 0 {
                        format!(", {suppressed} notice(s) suppressed")
                    } else {
                        String::new()
                    },
                    if vmac_index.is_some() {
                        " and the virtual MAC"
                    } else {
                        ""
                    }
                );
            }
            // Its RTM_DELLINK may be among the lost: ask the kernel (only "no such device"
            // counts; a transient error leaves it to the next event).
            if let Some(ix) = vmac_index {
                if let Err(e) = self.io.rtnl.link(ix) {
                    vmac_gone |= e.raw_os_error() == Some(libc::ENODEV);
                }
            }
        }
        if reread {
            self.refresh_interface(now);
        }
        self.track_results(now, tracked);
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
                if let Err(e) = eg.recreate(&mut self.io.rtnl) {
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
                        Step::Act(crate::proto::fsm::Action::AddVips),
                        Step::Act(crate::proto::fsm::Action::Announce),
                    ],
                );
            }
        }
    }

    /// `--realtime PRIO`: `SCHED_RR` from here on (see [`realtime`]). [`realtime::check`]
    /// passed at start, so this fails only if the system changed since; the daemon then keeps
    /// running at normal priority (it has started: its peers count on it) and says so.
    fn enter_realtime(&mut self, prio: u8) {
        match self
            .io
            .signals
            .add_xcpu()
            .and_then(|()| realtime::enter(prio))
        {
            Ok(e) => vlog!(
                Info,
                "{}: realtime scheduling: SCHED_RR priority {prio} (RLIMIT_RTTIME soft {} ms, \
                 hard {} ms)",
                self.tag(),
                e.soft_us / 1000,
                e.hard_us / 1000
            ),
            Err(e) => vlog!(
                Error,
                "{}: --realtime {prio}: cannot set SCHED_RR ({e}): running at normal priority",
                self.tag()
            ),
        }
    }

    fn on_signal(&mut self, sig: Sig) {
        let now = clock::now();
        match sig {
            // Its handler already put the loop back at SCHED_OTHER (sys::sched).
            Sig::Xcpu => vlog!(
                Error,
                "{}: realtime scheduling: SIGXCPU (RLIMIT_RTTIME: {} ms on the CPU without \
                 blocking): {}",
                self.tag(),
                realtime::RTTIME_SOFT_US / 1000,
                if realtime::is_realtime() {
                    "still real-time"
                } else {
                    "now at normal priority (SCHED_OTHER)"
                }
            ),
            Sig::Term => {
                if self.stop_deadline.is_none() {
                    vlog!(Info, "{}: stopping (signal)", self.tag());
                    // Bound the whole stop: handover (≤ Master_Down_Interval) plus the hook timeout.
                    self.stop_deadline = Some(
                        now + self.inst.master_down_interval()
                            + self.s.script_timeout
                            + Duration::from_secs(1),
                    );
                    self.feed(now, Event::Shutdown);
                }
            }
            Sig::Hup => {
                vlog!(Info, "{}: SIGHUP: re-reading the interface", self.tag());
                self.refresh_interface(now);
            }
            Sig::Usr1 => {
                self.quiet_collect(now);
                self.dump();
            }
            Sig::Usr2 => {
                if self.inst.state() == State::Master {
                    vlog!(Info, "{}: SIGUSR2: stepping down to backup", self.tag());
                    self.feed(now, Event::ForceBackup(true));
                    self.feed(now, Event::ForceBackup(false));
                }
            }
            // Re-read the group only if it changed since we last looked: wake-ups from several
            // members coalesce into one verdict (issue 14).
            Sig::Group => self.group_sync(now, false),
            Sig::Ttin | Sig::Ttou => {
                if !self.inst.is_carp() && is_owner_priority(self.inst.priority()) {
                    vlog!(
                        Info,
                        "{}: priority 255 (address owner) is never changed",
                        self.tag()
                    );
                    return;
                }
                let new = self.stepped_priority(sig == Sig::Ttin);
                vlog!(Info, "{}: new priority {new}", self.tag());
                self.feed(now, Event::SetPriority(new));
            }
        }
    }
}
