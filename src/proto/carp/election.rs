//! The CARP election as ucarp 1.5.2 codes it, sans I/O, in the shape of
//! [`crate::proto::fsm::Instance`]: feed [`Event`]s with the current time to [`Instance::handle`],
//! carry out the [`Action`]s in order, call again with [`Event::Timeout`] at
//! [`Instance::next_deadline`].
//!
//! Timers (T = advbase s + ⌊advskew·10⁶/256⌋ µs, compared as durations):
//!
//! | timer          | value                                                               |
//! |----------------|---------------------------------------------------------------------|
//! | advert (Master)| T of our own advbase/advskew                                        |
//! | master-down    | advbase × deadratio s + ⌊advskew·10⁶/256⌋ µs (the skew is not multiplied) |
//!
//! | #  | state, event                                           | actions → next                     |
//! |----|--------------------------------------------------------|------------------------------------|
//! | C1 | Init, Startup                                          | Backup hook (not `neutral`), arm down → Backup |
//! | C2 | Backup, down timer                                     | AddVips, Master hook, Announce, send → Master |
//! | C3 | Backup, `preempt` and T_ours < T                       | as C2 (preemption)                  |
//! | C4 | Backup, advbase·deadratio + own skew < T (bow-out 255/255 included) | as C2 ("going to time out") |
//! | C5 | Backup, other valid advert                             | re-arm down                         |
//! | C6 | Master, T_ours > T, or = and key(src) < key(own)       | send, RemoveVips, Backup hook → Backup |
//! | C7 | Master, otherwise                                      | Announce now and after the 2nd next advert |
//! | C8 | Master, advert timer                                   | send, re-arm (drift-free)           |
//! | C9 | Master, Shutdown / ForceBackup / GroupHold             | send bow-out (255/255); `handover`: keep VIPs until a new Master is heard or master-down passes |
//! | F1 | any, FaultSet                                          | Master: bow-out, RemoveVips, Backup hook; Fault hook → Fault |
//! | F2 | Fault, last FaultClear                                 | arm down → Backup                   |
//!
//! key(ip) is ucarp's equal-timer tie-break between two Masters: the four source-address bytes read
//! as a little-endian `u32` (what ucarp computes on x86, amd64 and arm64, where Debian runs it: the
//! *last* octet weighs most). Two nodes with equal timers are warned about ([`Notice::EqualTimers`]).
//!
//! Receive checks, in order: the packet must be CARP ([`super::classify`], else `foreign_protocol`,
//! with a notice when it carries our id), IPv4 source (`bad_family`), not our own (`own_packet`),
//! TTL 255 (`bad_ttl`), length/version/type/authlen/checksum ([`super::packet::parse`]), our vhid
//! (`other_vrid`, silent), digest (`bad_auth`), and on top of ucarp: a counter equal to one of the
//! last [`REPLAY_WINDOW`] accepted is a replayed frame (`replay`). ucarp's counters are random while
//! it has heard nobody and chain (+1 per advert) once it has, so an exact repeat never happens
//! between honest nodes. advbase and advskew are not covered by the digest: nothing can detect a
//! forged election field.
//!
//! Counter sent: [`Config::initial_counter`] (the daemon draws it at random) + 1 per advert; after
//! accepting an advert we continue from its counter, as ucarp does.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr};
use core::time::Duration;

use super::packet::{self, Advert, Auth, BOW_OUT, HEADER_LEN};
use super::{classify, Protocol};
use crate::proto::counters::Counters;
use crate::proto::fsm::{FaultReason, Hook, State};
use crate::proto::DiscardReason;

/// How many accepted counters are remembered for the replay check.
pub const REPLAY_WINDOW: usize = 16;

/// ucarp's "suppress preempt" advskew, used after 3 failed sends in a row.
pub const SUPPRESS_ADVSKEW: u8 = 240;

/// Configuration of one CARP virtual host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Virtual host id, 1..=255.
    pub vhid: u8,
    /// Base advertisement interval, seconds.
    pub advbase: u8,
    /// Skew, 1/256 s (the lower, the more preferred).
    pub advskew: u8,
    /// Master-down multiplier (ucarp `--deadratio`, default 3, at least 1).
    pub deadratio: u8,
    /// ucarp `--preempt`: a Backup displaces a slower Master.
    pub preempt: bool,
    /// ucarp `--neutral`: no Backup hook at start.
    pub neutral: bool,
    /// ucarp `--shutdown`: run the Backup hook at exit when the VIP is given up.
    pub shutdown_hook: bool,
    /// Lossless planned handover: keep the VIP after the bow-out advert until a new Master is heard
    /// or master-down passes.
    pub handover: bool,
    /// Password and virtual address (both covered by the digest).
    pub auth: Auth,
    /// Counter before the first advert sent (the daemon draws a random one).
    pub initial_counter: u64,
}

/// A configuration value out of range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// vhid 0.
    Vhid,
    /// advbase and advskew both 0 (an advert interval of zero).
    ZeroInterval,
    /// deadratio 0.
    DeadRatio,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigError::Vhid => "vhid must be 1..=255",
            ConfigError::ZeroInterval => "advbase and advskew are both 0",
            ConfigError::DeadRatio => "deadratio must be at least 1",
        })
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// ucarp's defaults: advbase 1, advskew 0, deadratio 3, no preempt, not neutral, no hook at
    /// exit; handover on.
    pub fn new(vhid: u8, auth: Auth) -> Config {
        Config {
            vhid,
            advbase: 1,
            advskew: 0,
            deadratio: 3,
            preempt: false,
            neutral: false,
            shutdown_hook: false,
            handover: true,
            auth,
            initial_counter: 0,
        }
    }

    /// Check the ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.vhid == 0 {
            return Err(ConfigError::Vhid);
        }
        if self.advbase == 0 && self.advskew == 0 {
            return Err(ConfigError::ZeroInterval);
        }
        if self.deadratio == 0 {
            return Err(ConfigError::DeadRatio);
        }
        Ok(())
    }
}

/// ⌊advskew·10⁶/256⌋ µs, as ucarp computes it.
pub fn skew(advskew: u8) -> Duration {
    Duration::from_micros(u64::from(advskew) * 1_000_000 / 256)
}

/// The advertisement interval T of (advbase, advskew).
pub fn interval(advbase: u8, advskew: u8) -> Duration {
    Duration::from_secs(u64::from(advbase)).saturating_add(skew(advskew))
}

/// Master-down: advbase × deadratio seconds plus the skew (not multiplied).
pub fn master_down(advbase: u8, advskew: u8, deadratio: u8) -> Duration {
    Duration::from_secs(u64::from(advbase) * u64::from(deadratio)).saturating_add(skew(advskew))
}

/// ucarp's tie-break key: the address bytes as a little-endian `u32` (last octet most
/// significant).
pub fn tie_key(a: Ipv4Addr) -> u32 {
    u32::from_le_bytes(a.octets())
}

/// Something that happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Start (always into Backup first, as ucarp).
    Startup,
    /// Stop; [`Action::Stopped`] follows, at once or after a handover.
    Shutdown,
    /// A received IP protocol 112 packet.
    Packet {
        /// IP source.
        src: IpAddr,
        /// IPv4 TTL.
        ttl: u8,
        /// Bytes after the IP header.
        payload: &'a [u8],
    },
    /// The caller's timer fired.
    Timeout,
    /// A fault reason became active.
    FaultSet(FaultReason),
    /// A fault reason cleared.
    FaultClear(FaultReason),
    /// Our source address (ucarp `--srcip`); `None` or IPv6 sets
    /// [`FaultReason::NoPrimaryAddress`].
    PrimaryAddress(Option<IpAddr>),
    /// atropos `--backup` / SIGUSR2.
    ForceBackup(bool),
    /// Host group hold.
    GroupHold(bool),
    /// New advskew (atropos, SIGTTIN/SIGTTOU).
    SetAdvskew(u8),
    /// The health trackers' weights in force (VRRP priority points): see [`tracked_advskew`].
    Weights(i32),
}

/// The advskew advertised with tracker weights in force: a CARP node wins with the smaller
/// advskew (it advertises more often), so a weight moves the advskew the other way, one point
/// for one point: `advskew − weights`, capped to 0..=254 (255 is left to the bow-out advert).
/// A penalty of 20 on advskew 0 advertises 20; a bonus of 20 on advskew 50 advertises 30. With
/// no weight in force the configured advskew stays as it is; with advbase 0 it stays ≥ 1 (an
/// interval of zero is not allowed).
pub fn tracked_advskew(advskew: u8, advbase: u8, weights: i32) -> u8 {
    if weights == 0 {
        return advskew;
    }
    let v = i32::from(advskew).saturating_sub(weights).clamp(0, 254);
    let v = u8::try_from(v).unwrap_or(254);
    if advbase == 0 && v == 0 {
        1
    } else {
        v
    }
}

/// Why a transition happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Startup (C1).
    Startup,
    /// The master-down timer expired (C2).
    MasterDown,
    /// `--preempt` and a slower Master (C3).
    Preempt {
        /// The Master displaced.
        peer: IpAddr,
    },
    /// The Master advertises slower than our master-down (C4); its bow-out advert is one.
    MasterTimingOut {
        /// The Master.
        peer: IpAddr,
        /// Whether it was the bow-out advert (255/255).
        bow_out: bool,
    },
    /// A preferred Master was heard (C6).
    PreferredMaster {
        /// The new Master.
        peer: IpAddr,
        /// Its advbase.
        advbase: u8,
        /// Its advskew.
        advskew: u8,
    },
    /// A fault reason became active.
    Fault(FaultReason),
    /// The last fault cleared.
    FaultCleared,
    /// Shutdown.
    Shutdown,
    /// Forced backup.
    ForcedBackup,
    /// Host group hold.
    GroupHold,
    /// The last hold was released while no Master was heard.
    HoldReleased,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Startup => f.write_str("startup"),
            Reason::MasterDown => f.write_str("master down timer expired"),
            Reason::Preempt { peer } => write!(f, "preempting slower master {peer}"),
            Reason::MasterTimingOut {
                peer,
                bow_out: true,
            } => write!(f, "bow-out advert from {peer}"),
            Reason::MasterTimingOut { peer, .. } => {
                write!(f, "master {peer} advertises slower than our master-down")
            }
            Reason::PreferredMaster {
                peer,
                advbase,
                advskew,
            } => write!(
                f,
                "preferred master {peer} (advbase {advbase} advskew {advskew})"
            ),
            Reason::Fault(r) => write!(f, "{r}"),
            Reason::FaultCleared => f.write_str("fault cleared"),
            Reason::Shutdown => f.write_str("shutdown"),
            Reason::ForcedBackup => f.write_str("forced backup"),
            Reason::GroupHold => f.write_str("host group holds backup"),
            Reason::HoldReleased => f.write_str("hold released, no master heard"),
        }
    }
}

/// Something to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// A peer runs the same advbase and advskew: only ucarp's address tie-break separates two
    /// Masters. Once per peer in a row.
    EqualTimers {
        /// The peer.
        peer: IpAddr,
    },
    /// A less preferred Master advertises: we stay and announce again (C7).
    NonPreferredMaster {
        /// The peer.
        peer: IpAddr,
    },
    /// A VRRP advert carrying our id as its VRID: VRRP and CARP share the id on this segment.
    /// Once per peer.
    ForeignSameId {
        /// The peer.
        peer: IpAddr,
    },
    /// Three sends failed in a row: advertising advskew 240 (`true`) until three succeed (`false`).
    SuppressPreempt(bool),
    /// A packet was discarded (not sent for `other_vrid`, silent).
    Discard {
        /// Counter.
        reason: DiscardReason,
        /// IP source.
        peer: Option<IpAddr>,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::EqualTimers { peer } => write!(
                f,
                "{peer} advertises the same advbase and advskew: give each node its own advskew \
                 (equal masters are split by ucarp's address tie-break)"
            ),
            Notice::NonPreferredMaster { peer } => write!(
                f,
                "non-preferred master {peer} advertising: reasserting the address"
            ),
            Notice::ForeignSameId { peer } => write!(
                f,
                "{peer} sends VRRP on our vhid: VRRP and CARP share the id on this segment"
            ),
            Notice::SuppressPreempt(true) => {
                f.write_str("3 sends failed in a row: advertising advskew 240")
            }
            Notice::SuppressPreempt(false) => {
                f.write_str("sends succeed again: advertising the configured advskew")
            }
            Notice::Discard {
                reason,
                peer: Some(p),
            } => write!(f, "discarded CARP advert from {p}: {}", reason.name()),
            Notice::Discard { reason, peer: None } => {
                write!(f, "discarded CARP advert: {}", reason.name())
            }
        }
    }
}

/// What the daemon must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this advert (36 bytes, digest and checksum filled) to the group.
    Send {
        /// The advert.
        advert: Advert,
        /// Its bytes.
        bytes: [u8; HEADER_LEN],
    },
    /// Add the virtual address.
    AddVips,
    /// Remove it.
    RemoveVips,
    /// Gratuitous ARP for the virtual address.
    Announce,
    /// Run a state hook.
    RunHook {
        /// Which.
        hook: Hook,
        /// The state left.
        prev: State,
    },
    /// The state changed.
    Transition {
        /// Old state.
        from: State,
        /// New state.
        to: State,
        /// Why.
        reason: Reason,
    },
    /// Log this.
    Notice(Notice),
    /// After Shutdown: finished.
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Off,
    Adver(Duration),
    Down(Duration),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Release {
    at: Duration,
    stop: bool,
}

const HOLD_OPERATOR: u8 = 1;
const HOLD_GROUP: u8 = 2;

/// One CARP virtual host.
#[derive(Debug, Clone)]
pub struct Instance {
    cfg: Config,
    started: bool,
    state: State,
    advskew: u8,
    /// Tracker weights in force ([`Event::Weights`]).
    weights: i32,
    timer: Timer,
    release: Option<Release>,
    faults: u8,
    primary: Option<Ipv4Addr>,
    holds: u8,
    ready: bool,
    holds_vips: bool,
    master: Option<IpAddr>,
    since: Duration,
    last_reason: Option<Reason>,
    counters: Counters,
    counter: u64,
    recent: [u64; REPLAY_WINDOW],
    recent_len: usize,
    recent_next: usize,
    arp_countdown: u8,
    fail_row: u8,
    ok_row: u8,
    suppress: bool,
    equal_warned: Option<IpAddr>,
    foreign_warned: Vec<IpAddr>,
}

impl Instance {
    /// A new instance in Initialize. Out-of-range values are clamped, never a panic.
    pub fn new(mut cfg: Config) -> Instance {
        cfg.vhid = cfg.vhid.max(1);
        cfg.deadratio = cfg.deadratio.max(1);
        if cfg.advbase == 0 && cfg.advskew == 0 {
            cfg.advbase = 1;
        }
        Instance {
            advskew: cfg.advskew,
            weights: 0,
            counter: cfg.initial_counter,
            cfg,
            started: false,
            state: State::Initialize,
            timer: Timer::Off,
            release: None,
            faults: FaultReason::NoPrimaryAddress.bit(),
            primary: None,
            holds: 0,
            ready: false,
            holds_vips: false,
            master: None,
            since: Duration::ZERO,
            last_reason: None,
            counters: Counters::default(),
            recent: [0; REPLAY_WINDOW],
            recent_len: 0,
            recent_next: 0,
            arp_countdown: 0,
            fail_row: 0,
            ok_row: 0,
            suppress: false,
            equal_warned: None,
            foreign_warned: Vec::new(),
        }
    }

    /// Handle one event.
    pub fn handle(&mut self, now: Duration, ev: Event<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        self.handle_into(now, ev, &mut out);
        out
    }

    /// As [`Instance::handle`], appending to `out`.
    pub fn handle_into(&mut self, now: Duration, ev: Event<'_>, out: &mut Vec<Action>) {
        match ev {
            Event::Startup => self.on_startup(now, out),
            Event::Shutdown => self.on_shutdown(now, out),
            Event::Packet { src, ttl, payload } => self.on_packet(now, src, ttl, payload, out),
            Event::Timeout => self.on_timeout(now, out),
            Event::FaultSet(r) => self.on_fault_set(now, r, out),
            Event::FaultClear(r) => self.on_fault_clear(now, r, out),
            Event::PrimaryAddress(a) => match a {
                Some(IpAddr::V4(a)) => {
                    self.primary = Some(a);
                    self.on_fault_clear(now, FaultReason::NoPrimaryAddress, out);
                }
                _ => {
                    self.primary = None;
                    self.on_fault_set(now, FaultReason::NoPrimaryAddress, out);
                }
            },
            Event::ForceBackup(on) => self.set_hold(now, HOLD_OPERATOR, on, out),
            Event::GroupHold(on) => self.set_hold(now, HOLD_GROUP, on, out),
            Event::SetAdvskew(v) => {
                self.advskew = v;
                if self.cfg.advbase == 0 && v == 0 {
                    self.advskew = 1;
                }
                if self.state == State::Master && self.started {
                    self.send_normal(out);
                }
            }
            Event::Weights(w) => {
                let before = self.effective_advskew();
                self.weights = w;
                // A changed advskew is advertised at once, as a changed priority is in VRRP.
                if self.effective_advskew() != before && self.state == State::Master && self.started
                {
                    self.send_normal(out);
                }
            }
        }
        self.counters.note_master(self.master);
    }

    /// When to call again with [`Event::Timeout`].
    pub fn next_deadline(&self) -> Option<Duration> {
        let t = match self.timer {
            Timer::Off => None,
            Timer::Adver(at) | Timer::Down(at) => Some(at),
        };
        match (t, self.release.map(|r| r.at)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A send failed (ucarp's "suppress preempt" after three in a row).
    pub fn record_send_error(&mut self, out: &mut Vec<Action>) {
        self.counters.record_send_error();
        self.ok_row = 0;
        self.fail_row = self.fail_row.saturating_add(1);
        if self.fail_row >= 3 && !self.suppress {
            self.suppress = true;
            out.push(Action::Notice(Notice::SuppressPreempt(true)));
        }
    }

    /// A send succeeded.
    pub fn record_send_ok(&mut self, out: &mut Vec<Action>) {
        self.fail_row = 0;
        self.ok_row = self.ok_row.saturating_add(1);
        if self.ok_row >= 3 && self.suppress {
            self.suppress = false;
            out.push(Action::Notice(Notice::SuppressPreempt(false)));
        }
    }

    /// Count a discard noticed by the daemon before the packet got here (e.g. a short read).
    pub fn record_discard(&mut self, reason: DiscardReason) {
        self.counters.record_discard(reason);
    }

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }
    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }
    /// The advskew in use (configured, changed by [`Event::SetAdvskew`]).
    pub fn advskew(&self) -> u8 {
        self.advskew
    }
    /// The advskew with the tracker weights in force ([`tracked_advskew`]).
    pub fn tracked_advskew(&self) -> u8 {
        tracked_advskew(self.advskew, self.cfg.advbase, self.weights)
    }
    /// The advskew advertised and compared: [`Self::tracked_advskew`], or 240 while
    /// suppressing preemption.
    pub fn effective_advskew(&self) -> u8 {
        let t = self.tracked_advskew();
        if self.suppress && t <= SUPPRESS_ADVSKEW {
            SUPPRESS_ADVSKEW
        } else {
            t
        }
    }
    /// Our advert interval.
    pub fn adver_interval(&self) -> Duration {
        interval(self.cfg.advbase, self.effective_advskew())
    }
    /// Our master-down interval.
    pub fn master_down_interval(&self) -> Duration {
        master_down(
            self.cfg.advbase,
            self.effective_advskew(),
            self.cfg.deadratio,
        )
    }
    /// Counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    /// The counter of the last advert sent or accepted.
    pub fn counter(&self) -> u64 {
        self.counter
    }
    /// Whether started.
    pub fn is_running(&self) -> bool {
        self.started
    }
    /// Whether `reason` is active.
    pub fn fault_active(&self, reason: FaultReason) -> bool {
        self.faults & reason.bit() != 0
    }
    /// Active fault reasons.
    pub fn faults(&self) -> impl Iterator<Item = FaultReason> + '_ {
        FaultReason::in_mask(self.faults)
    }
    /// Our source address.
    pub fn primary(&self) -> Option<IpAddr> {
        self.primary.map(IpAddr::V4)
    }
    /// Held by an operator.
    pub fn forced_backup(&self) -> bool {
        self.holds & HOLD_OPERATOR != 0
    }
    /// Held by the host group.
    pub fn group_held(&self) -> bool {
        self.holds & HOLD_GROUP != 0
    }
    /// Held, and would be Master otherwise.
    pub fn would_be_master(&self) -> bool {
        self.ready || self.state == State::Master
    }
    /// Whether the VIP is (to be) configured.
    pub fn holds_vips(&self) -> bool {
        self.holds_vips
    }
    /// The current Master, if known.
    pub fn master_addr(&self) -> Option<IpAddr> {
        self.master
    }
    /// When the current state was entered.
    pub fn since(&self) -> Duration {
        self.since
    }
    /// Why.
    pub fn last_reason(&self) -> Option<&Reason> {
        self.last_reason.as_ref()
    }
    /// A planned handover's deadline while one is in progress.
    pub fn release_deadline(&self) -> Option<Duration> {
        self.release.map(|r| r.at)
    }

    // ---- internals ----

    fn transition(&mut self, now: Duration, to: State, reason: Reason, out: &mut Vec<Action>) {
        let from = self.state;
        self.state = to;
        self.since = now;
        self.last_reason = Some(reason);
        self.counters.record_transition(from, to);
        out.push(Action::Transition { from, to, reason });
    }

    fn next_counter(&mut self) -> u64 {
        self.counter = self.counter.wrapping_add(1);
        self.counter
    }

    fn send_advert(&mut self, advbase: u8, advskew: u8, out: &mut Vec<Action>) {
        let counter = self.next_counter();
        let mut advert = Advert::new(self.cfg.vhid, advbase, advskew, counter);
        let bytes = advert.to_bytes(&self.cfg.auth);
        advert.md = self.cfg.auth.digest(self.cfg.vhid, counter.to_be_bytes());
        let bow_out = advert.is_bow_out();
        self.counters.record_sent(if bow_out { 0 } else { 1 });
        out.push(Action::Send { advert, bytes });
    }

    fn send_normal(&mut self, out: &mut Vec<Action>) {
        let skew = self.effective_advskew();
        self.send_advert(self.cfg.advbase, skew, out);
    }

    fn arm_down(&mut self, now: Duration) {
        self.timer = Timer::Down(now.saturating_add(self.master_down_interval()));
    }

    fn discard(&mut self, reason: DiscardReason, peer: Option<IpAddr>, out: &mut Vec<Action>) {
        self.counters.record_discard(reason);
        if reason != DiscardReason::OtherVrid {
            out.push(Action::Notice(Notice::Discard { reason, peer }));
        }
    }

    fn listening(&self) -> bool {
        (self.started && matches!(self.state, State::Backup | State::Master))
            || self.release.is_some()
    }

    fn become_master(&mut self, now: Duration, reason: Reason, out: &mut Vec<Action>) {
        self.ready = false;
        if self.release.take().is_none() && !self.holds_vips {
            out.push(Action::AddVips);
        }
        self.holds_vips = true;
        let prev = self.state;
        self.transition(now, State::Master, reason, out);
        self.master = self.primary.map(IpAddr::V4);
        out.push(Action::RunHook {
            hook: Hook::Master,
            prev,
        });
        out.push(Action::Announce);
        self.send_normal(out);
        self.arp_countdown = 2;
        self.timer = Timer::Adver(now.saturating_add(self.adver_interval()));
    }

    /// Give the VIP up now (hook Backup), as after C6.
    fn drop_vips(&mut self, hook: bool, out: &mut Vec<Action>) {
        if self.holds_vips {
            self.holds_vips = false;
            out.push(Action::RemoveVips);
            if hook {
                out.push(Action::RunHook {
                    hook: Hook::Backup,
                    prev: State::Master,
                });
            }
        }
    }

    fn complete_release(&mut self, out: &mut Vec<Action>) {
        if let Some(r) = self.release.take() {
            self.drop_vips(!r.stop || self.cfg.shutdown_hook, out);
            if r.stop {
                out.push(Action::Stopped);
            }
        }
    }

    /// Leave Master for Backup after a bow-out advert (C9), keeping the VIP when `handover`.
    fn bow_out(&mut self, now: Duration, stop: bool, out: &mut Vec<Action>) {
        self.send_advert(BOW_OUT, BOW_OUT, out);
        if self.cfg.handover {
            self.release = Some(Release {
                at: now.saturating_add(self.master_down_interval()),
                stop,
            });
        } else {
            self.drop_vips(!stop || self.cfg.shutdown_hook, out);
        }
    }

    fn on_startup(&mut self, now: Duration, out: &mut Vec<Action>) {
        if self.started {
            return;
        }
        self.started = true;
        self.master = None;
        if self.faults != 0 {
            let r = self
                .faults()
                .next()
                .unwrap_or(FaultReason::NoPrimaryAddress);
            self.transition(now, State::Fault, Reason::Fault(r), out);
            out.push(Action::RunHook {
                hook: Hook::Fault,
                prev: State::Initialize,
            });
            return;
        }
        self.enter_backup(now, Reason::Startup, out);
    }

    fn enter_backup(&mut self, now: Duration, reason: Reason, out: &mut Vec<Action>) {
        let prev = self.state;
        self.transition(now, State::Backup, reason, out);
        if prev == State::Initialize && !self.cfg.neutral {
            out.push(Action::RunHook {
                hook: Hook::Backup,
                prev,
            });
        }
        self.arm_down(now);
    }

    fn on_shutdown(&mut self, now: Duration, out: &mut Vec<Action>) {
        if !self.started {
            match self.release {
                Some(_) => {
                    if let Some(r) = self.release.as_mut() {
                        r.stop = true;
                    }
                    self.complete_release(out);
                }
                None => out.push(Action::Stopped),
            }
            return;
        }
        self.started = false;
        self.timer = Timer::Off;
        self.master = None;
        let was = self.state;
        if was == State::Master {
            self.bow_out(now, true, out);
            self.transition(now, State::Initialize, Reason::Shutdown, out);
            if self.release.is_some() {
                return;
            }
        } else {
            if let Some(r) = self.release.as_mut() {
                r.stop = false;
            }
            self.complete_release(out);
            if was != State::Initialize {
                self.transition(now, State::Initialize, Reason::Shutdown, out);
            }
        }
        out.push(Action::Stopped);
    }

    fn on_timeout(&mut self, now: Duration, out: &mut Vec<Action>) {
        if self.release.is_some_and(|r| now >= r.at) {
            self.complete_release(out);
        }
        match self.timer {
            Timer::Adver(at) if now >= at && self.state == State::Master => {
                self.send_normal(out);
                if self.arp_countdown > 0 {
                    self.arp_countdown -= 1;
                    if self.arp_countdown == 0 {
                        out.push(Action::Announce);
                    }
                }
                let iv = self.adver_interval();
                let next = at.saturating_add(iv);
                self.timer = Timer::Adver(if next > now {
                    next
                } else {
                    now.saturating_add(iv)
                });
            }
            Timer::Down(at) if now >= at && self.state == State::Backup => {
                if self.holds != 0 {
                    self.ready = true;
                    self.timer = Timer::Off;
                } else {
                    self.become_master(now, Reason::MasterDown, out);
                }
            }
            _ => {}
        }
    }

    fn on_fault_set(&mut self, now: Duration, r: FaultReason, out: &mut Vec<Action>) {
        let was_clear = self.faults == 0;
        self.faults |= r.bit();
        if !was_clear || !self.started {
            return;
        }
        let prev = self.state;
        if self.release.is_some() {
            if let Some(rel) = self.release.as_mut() {
                rel.stop = false;
            }
            self.complete_release(out);
        }
        if prev == State::Master {
            self.send_advert(BOW_OUT, BOW_OUT, out);
            self.drop_vips(true, out);
        }
        self.timer = Timer::Off;
        self.master = None;
        self.ready = false;
        self.transition(now, State::Fault, Reason::Fault(r), out);
        out.push(Action::RunHook {
            hook: Hook::Fault,
            prev,
        });
    }

    fn on_fault_clear(&mut self, now: Duration, r: FaultReason, out: &mut Vec<Action>) {
        if self.faults & r.bit() == 0 {
            return;
        }
        self.faults &= !r.bit();
        if self.faults == 0 && self.started && self.state == State::Fault {
            self.enter_backup(now, Reason::FaultCleared, out);
        }
    }

    fn set_hold(&mut self, now: Duration, bit: u8, on: bool, out: &mut Vec<Action>) {
        if on {
            self.holds |= bit;
            if self.started && self.state == State::Master {
                self.bow_out(now, false, out);
                let reason = if bit == HOLD_GROUP {
                    Reason::GroupHold
                } else {
                    Reason::ForcedBackup
                };
                self.transition(now, State::Backup, reason, out);
                self.master = None;
                self.arm_down(now);
            }
        } else {
            self.holds &= !bit;
            if self.holds == 0 && self.ready && self.started && self.state == State::Backup {
                self.become_master(now, Reason::HoldReleased, out);
            }
        }
    }

    fn replayed(&self, counter: u64) -> bool {
        self.recent
            .get(..self.recent_len)
            .is_some_and(|r| r.contains(&counter))
    }

    fn remember(&mut self, counter: u64) {
        if let Some(slot) = self.recent.get_mut(self.recent_next) {
            *slot = counter;
        }
        self.recent_next = (self.recent_next + 1) % REPLAY_WINDOW;
        self.recent_len = (self.recent_len + 1).min(REPLAY_WINDOW);
    }

    fn on_packet(
        &mut self,
        now: Duration,
        src: IpAddr,
        ttl: u8,
        payload: &[u8],
        out: &mut Vec<Action>,
    ) {
        if !self.listening() {
            return;
        }
        let peer = Some(src);
        if classify(payload) != Protocol::Carp {
            self.counters.record_discard(DiscardReason::Foreign);
            if payload.get(1) == Some(&self.cfg.vhid) && !self.foreign_warned.contains(&src) {
                // Once per peer (at most 16 remembered).
                if self.foreign_warned.len() < 16 {
                    self.foreign_warned.push(src);
                }
                out.push(Action::Notice(Notice::ForeignSameId { peer: src }));
            }
            return;
        }
        let IpAddr::V4(src4) = src else {
            self.discard(DiscardReason::BadFamily, peer, out);
            return;
        };
        if self.primary == Some(src4) {
            self.counters.record_discard(DiscardReason::OwnPacket);
            return;
        }
        if ttl != 255 {
            self.discard(DiscardReason::BadTtl, peer, out);
            return;
        }
        // A source no router may use (0.0.0.0/8, loopback, multicast, 240.0.0.0/4), as VRRP.
        if !crate::proto::packet::is_router_source(src) {
            self.discard(DiscardReason::BadSource, peer, out);
            return;
        }
        let adv = match packet::parse(payload) {
            Ok(a) => a,
            Err(e) => {
                self.discard(e.reason(), peer, out);
                return;
            }
        };
        if adv.vhid != self.cfg.vhid {
            self.discard(DiscardReason::OtherVrid, peer, out);
            return;
        }
        if !adv.verify(&self.cfg.auth) {
            self.discard(DiscardReason::BadAuth, peer, out);
            return;
        }
        if self.replayed(adv.counter) {
            self.discard(DiscardReason::Replay, peer, out);
            return;
        }
        self.remember(adv.counter);
        self.counter = adv.counter;
        let bow_out = adv.is_bow_out();
        self.counters.record_rcvd(if bow_out { 0 } else { 1 });
        if self.release.is_some_and(|r| r.stop) {
            // Shutting down after a bow-out: a new Master speaks, the VIP can go.
            if !bow_out {
                self.complete_release(out);
            }
            return;
        }
        if self.release.is_some() && !bow_out {
            self.complete_release(out);
        }
        if !self.started {
            return;
        }
        let theirs = interval(adv.advbase, adv.advskew);
        let ours = self.adver_interval();
        if theirs == ours {
            if self.equal_warned != Some(src) {
                self.equal_warned = Some(src);
                out.push(Action::Notice(Notice::EqualTimers { peer: src }));
            }
        } else if self.equal_warned == Some(src) {
            self.equal_warned = None;
        }
        match self.state {
            State::Master => {
                let own_key = self.primary.map(tie_key).unwrap_or(0);
                let yields = ours > theirs || (ours == theirs && tie_key(src4) < own_key);
                if yields {
                    // C6: one advert, then Backup.
                    self.send_normal(out);
                    self.drop_vips(true, out);
                    self.transition(
                        now,
                        State::Backup,
                        Reason::PreferredMaster {
                            peer: src,
                            advbase: adv.advbase,
                            advskew: adv.advskew,
                        },
                        out,
                    );
                    self.master = Some(src);
                    self.arm_down(now);
                } else {
                    // C7.
                    out.push(Action::Notice(Notice::NonPreferredMaster { peer: src }));
                    out.push(Action::Announce);
                    self.arp_countdown = 2;
                }
            }
            State::Backup => {
                self.master = Some(src);
                let timing_out = Duration::from_secs(
                    u64::from(self.cfg.advbase) * u64::from(self.cfg.deadratio),
                )
                .saturating_add(skew(self.effective_advskew()))
                    < theirs;
                let reason = if self.cfg.preempt && ours < theirs {
                    Some(Reason::Preempt { peer: src })
                } else if timing_out {
                    Some(Reason::MasterTimingOut { peer: src, bow_out })
                } else {
                    None
                };
                match reason {
                    Some(_) if self.holds != 0 => {
                        self.ready = true;
                        self.timer = Timer::Off;
                    }
                    Some(r) => self.become_master(now, r, out),
                    None => {
                        self.ready = false;
                        self.arm_down(now);
                    }
                }
            }
            State::Initialize | State::Fault => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
    const ME: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const PEER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    fn auth() -> Auth {
        Auth::new(b"secret", VIP).expect("password")
    }

    fn cfg(advskew: u8) -> Config {
        let mut c = Config::new(7, auth());
        c.advskew = advskew;
        c.initial_counter = 100;
        c
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn started(c: Config, now: Duration) -> (Instance, Vec<Action>) {
        let mut i = Instance::new(c);
        let mut out = i.handle(now, Event::PrimaryAddress(Some(IpAddr::V4(ME))));
        out.extend(i.handle(now, Event::Startup));
        (i, out)
    }

    fn frame(advbase: u8, advskew: u8, counter: u64, a: &Auth) -> [u8; HEADER_LEN] {
        Advert::new(7, advbase, advskew, counter).to_bytes(a)
    }

    fn pkt(src: Ipv4Addr, bytes: &[u8]) -> Event<'_> {
        Event::Packet {
            src: IpAddr::V4(src),
            ttl: 255,
            payload: bytes,
        }
    }

    fn sends(out: &[Action]) -> Vec<Advert> {
        out.iter()
            .filter_map(|a| match a {
                Action::Send { advert, .. } => Some(*advert),
                _ => None,
            })
            .collect()
    }

    fn master(c: Config) -> Instance {
        let (mut i, _) = started(c, ms(0));
        let at = i.next_deadline().expect("down timer");
        i.handle(at, Event::Timeout);
        assert_eq!(i.state(), State::Master);
        i
    }

    #[test]
    fn timers_as_ucarp() {
        assert_eq!(skew(50), Duration::from_micros(195_312));
        assert_eq!(interval(1, 50), Duration::from_micros(1_195_312));
        assert_eq!(master_down(1, 50, 3), Duration::from_micros(3_195_312));
        assert_eq!(master_down(2, 0, 5), Duration::from_secs(10));
        assert_eq!(tie_key(Ipv4Addr::new(192, 0, 2, 200)), 0xc802_00c0);
    }

    #[test]
    fn startup_backup_with_down_hook_unless_neutral() {
        let (i, out) = started(cfg(50), ms(0));
        assert_eq!(i.state(), State::Backup);
        assert!(out.contains(&Action::RunHook {
            hook: Hook::Backup,
            prev: State::Initialize
        }));
        assert_eq!(i.next_deadline(), Some(Duration::from_micros(3_195_312)));
        let mut c = cfg(50);
        c.neutral = true;
        let (_, out) = started(c, ms(0));
        assert!(!out.iter().any(|a| matches!(a, Action::RunHook { .. })));
    }

    #[test]
    fn down_timer_takeover_order_and_delayed_arp() {
        let (mut i, _) = started(cfg(0), ms(0));
        let out = i.handle(ms(3000), Event::Timeout);
        assert!(matches!(out.first(), Some(Action::AddVips)));
        let pos = |f: &dyn Fn(&Action) -> bool| out.iter().position(f).expect("present");
        let hook = pos(&|a| {
            matches!(
                a,
                Action::RunHook {
                    hook: Hook::Master,
                    ..
                }
            )
        });
        let arp = pos(&|a| matches!(a, Action::Announce));
        let send = pos(&|a| matches!(a, Action::Send { .. }));
        assert!(hook < arp && arp < send);
        assert_eq!(sends(&out)[0].counter, 101);
        assert_eq!(i.next_deadline(), Some(ms(4000)));
        let out = i.handle(ms(4000), Event::Timeout);
        assert!(!out.contains(&Action::Announce));
        let out = i.handle(ms(5000), Event::Timeout);
        assert!(
            out.contains(&Action::Announce),
            "delayed ARP after 2nd advert"
        );
        assert_eq!(sends(&out)[0].counter, 103);
        let out = i.handle(ms(6000), Event::Timeout);
        assert!(!out.contains(&Action::Announce));
        // Late wake: no burst, next due one interval later.
        i.handle(ms(9500), Event::Timeout);
        assert_eq!(i.next_deadline(), Some(ms(10500)));
    }

    #[test]
    fn backup_rearms_and_follows_counter() {
        let (mut i, _) = started(cfg(50), ms(0));
        let a = auth();
        let f = frame(1, 0, 0xdead_beef, &a);
        i.handle(ms(1000), pkt(PEER, &f));
        assert_eq!(i.state(), State::Backup);
        assert_eq!(i.master_addr(), Some(IpAddr::V4(PEER)));
        assert_eq!(
            i.next_deadline(),
            Some(ms(1000) + Duration::from_micros(3_195_312))
        );
        assert_eq!(i.counter(), 0xdead_beef);
        assert_eq!(i.counters().adverts_rcvd(), 1);
    }

    #[test]
    fn master_yields_to_faster_and_stays_against_slower() {
        let a = auth();
        let mut i = master(cfg(50));
        let out = i.handle(ms(5000), pkt(PEER, &frame(1, 100, 1, &a)));
        assert_eq!(i.state(), State::Master);
        assert!(out.contains(&Action::Announce));
        assert!(out.contains(&Action::Notice(Notice::NonPreferredMaster {
            peer: IpAddr::V4(PEER)
        })));
        let out = i.handle(ms(5100), pkt(PEER, &frame(1, 0, 2, &a)));
        assert_eq!(i.state(), State::Backup);
        // C6: one advert, then the VIP goes with the Backup hook.
        assert_eq!(sends(&out).len(), 1);
        assert_eq!(sends(&out)[0].counter, 3, "chained on the accepted counter");
        assert!(out.contains(&Action::RemoveVips));
        assert!(out.contains(&Action::RunHook {
            hook: Hook::Backup,
            prev: State::Master
        }));
    }

    #[test]
    fn equal_timer_tie_break_on_host_order_key() {
        let a = auth();
        // ucarp's tie trio: 192.0.2.200 vs 198.51.100.1, both advskew 0. Keys 0xc80200c0 and
        // 0x016433c6: 198.51.100.1 is lower, so it stays Master; numerically it is higher.
        let low = Ipv4Addr::new(198, 51, 100, 1);
        let high = Ipv4Addr::new(192, 0, 2, 200);
        assert!(tie_key(low) < tie_key(high));
        for (me, peer, stays) in [(high, low, false), (low, high, true)] {
            let (mut i, _) = {
                let mut i = Instance::new(cfg(0));
                let mut out = i.handle(ms(0), Event::PrimaryAddress(Some(IpAddr::V4(me))));
                out.extend(i.handle(ms(0), Event::Startup));
                (i, out)
            };
            i.handle(ms(3000), Event::Timeout);
            assert_eq!(i.state(), State::Master);
            let out = i.handle(ms(3100), pkt(peer, &frame(1, 0, 9, &a)));
            assert_eq!(i.state() == State::Master, stays, "{me} vs {peer}");
            assert!(out.contains(&Action::Notice(Notice::EqualTimers {
                peer: IpAddr::V4(peer)
            })));
            // Warned once per peer.
            let out = i.handle(ms(3200), pkt(peer, &frame(1, 0, 10, &a)));
            assert!(!out
                .iter()
                .any(|x| matches!(x, Action::Notice(Notice::EqualTimers { .. }))));
        }
    }

    #[test]
    fn preempt_only_with_flag_and_timing_out_master_always() {
        let a = auth();
        let (mut i, _) = started(cfg(0), ms(0));
        i.handle(ms(500), pkt(PEER, &frame(1, 50, 1, &a)));
        assert_eq!(i.state(), State::Backup, "no preempt by default");
        let mut c = cfg(0);
        c.preempt = true;
        let (mut i, _) = started(c, ms(0));
        i.handle(ms(500), pkt(PEER, &frame(1, 50, 1, &a)));
        assert_eq!(i.state(), State::Master);
        assert_eq!(
            i.last_reason(),
            Some(&Reason::Preempt {
                peer: IpAddr::V4(PEER)
            })
        );
        // advbase 4 > 1 × 3: going to time out, preempt or not.
        let (mut i, _) = started(cfg(0), ms(0));
        i.handle(ms(500), pkt(PEER, &frame(4, 0, 1, &a)));
        assert_eq!(i.state(), State::Master);
        // Bow-out: at once.
        let (mut i, _) = started(cfg(200), ms(0));
        i.handle(ms(500), pkt(PEER, &frame(BOW_OUT, BOW_OUT, 1, &a)));
        assert_eq!(
            i.last_reason(),
            Some(&Reason::MasterTimingOut {
                peer: IpAddr::V4(PEER),
                bow_out: true
            })
        );
    }

    #[test]
    fn receive_checks_are_counted() {
        let a = auth();
        let (mut i, _) = started(cfg(50), ms(0));
        let good = frame(1, 0, 1, &a);
        let mut bad_sum = good;
        bad_sum[10] ^= 1;
        let wrong = frame(1, 0, 2, &Auth::new(b"other", VIP).expect("password"));
        let other = Advert::new(8, 1, 0, 3).to_bytes(&a);
        i.handle(ms(1), pkt(PEER, &bad_sum));
        i.handle(ms(2), pkt(PEER, &wrong));
        let out = i.handle(ms(3), pkt(PEER, &other));
        assert!(out.is_empty(), "other vhid is silent");
        i.handle(
            ms(4),
            Event::Packet {
                src: IpAddr::V4(PEER),
                ttl: 64,
                payload: &good,
            },
        );
        i.handle(ms(5), pkt(PEER, &good[..35]));
        i.handle(ms(6), pkt(ME, &good));
        let c = i.counters();
        assert_eq!(c.discards(DiscardReason::BadChecksum), 1);
        assert_eq!(c.discards(DiscardReason::BadAuth), 1);
        assert_eq!(c.discards(DiscardReason::OtherVrid), 1);
        assert_eq!(c.discards(DiscardReason::BadTtl), 1);
        assert_eq!(
            c.discards(DiscardReason::Foreign),
            1,
            "35 bytes is not CARP"
        );
        assert_eq!(c.discards(DiscardReason::OwnPacket), 1);
        assert_eq!(c.adverts_rcvd(), 0);
        // None of these re-armed the timer.
        assert_eq!(i.next_deadline(), Some(Duration::from_micros(3_195_312)));
    }

    #[test]
    fn replayed_counter_cannot_hold_a_backup() {
        let a = auth();
        let (mut i, _) = started(cfg(50), ms(0));
        let f = frame(1, 0, 42, &a);
        i.handle(ms(1000), pkt(PEER, &f));
        let armed = i.next_deadline();
        i.handle(ms(2000), pkt(PEER, &f));
        assert_eq!(i.counters().discards(DiscardReason::Replay), 1);
        assert_eq!(i.next_deadline(), armed);
        let out = i.handle(armed.expect("armed"), Event::Timeout);
        assert!(out.contains(&Action::AddVips));
    }

    #[test]
    fn vrrp_advert_is_foreign_and_noticed_on_same_id() {
        use crate::proto::packet::{Advert as VAdvert, Auth as VAuth};
        use crate::proto::{ChecksumForm, Version};
        let (mut i, _) = started(cfg(50), ms(0));
        let v = VAdvert {
            version: Version::V2,
            vrid: 7,
            priority: 200,
            interval: 1,
            addrs: vec![IpAddr::V4(VIP)],
            auth: VAuth::None,
        };
        let bytes = v
            .to_bytes(
                IpAddr::V4(PEER),
                IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
                ChecksumForm::Plain,
            )
            .expect("emit");
        let out = i.handle(ms(10), pkt(PEER, &bytes));
        assert_eq!(
            out,
            vec![Action::Notice(Notice::ForeignSameId {
                peer: IpAddr::V4(PEER)
            })]
        );
        assert_eq!(i.counters().discards(DiscardReason::Foreign), 1);
        assert_eq!(i.next_deadline(), Some(Duration::from_micros(3_195_312)));
        let out = i.handle(ms(20), pkt(PEER, &bytes));
        assert!(out.is_empty(), "warned once per peer");
        assert_eq!(i.counters().discards(DiscardReason::Foreign), 2);
    }

    #[test]
    fn shutdown_bows_out_and_keeps_vip_until_taken_over() {
        let a = auth();
        let mut i = master(cfg(0));
        let out = i.handle(ms(10_000), Event::Shutdown);
        let s = sends(&out);
        assert_eq!(s.len(), 1);
        assert!(s[0].is_bow_out());
        assert!(!out.contains(&Action::RemoveVips));
        assert!(!out.contains(&Action::Stopped));
        assert_eq!(i.counters().prio0_sent(), 1);
        let out = i.handle(ms(10_010), pkt(PEER, &frame(1, 50, 77, &a)));
        assert!(out.contains(&Action::RemoveVips));
        assert!(out.contains(&Action::Stopped));
        assert!(
            !out.iter().any(|x| matches!(x, Action::RunHook { .. })),
            "no --shutdown"
        );
        // Without a taker: master-down later.
        let mut c = cfg(0);
        c.shutdown_hook = true;
        let mut i = master(c);
        i.handle(ms(10_000), Event::Shutdown);
        assert_eq!(i.next_deadline(), Some(ms(13_000)));
        let out = i.handle(ms(13_000), Event::Timeout);
        assert_eq!(
            out,
            vec![
                Action::RemoveVips,
                Action::RunHook {
                    hook: Hook::Backup,
                    prev: State::Master
                },
                Action::Stopped
            ]
        );
    }

    #[test]
    fn shutdown_without_handover_and_from_backup() {
        let mut c = cfg(0);
        c.handover = false;
        let mut i = master(c);
        let out = i.handle(ms(10_000), Event::Shutdown);
        assert!(out.contains(&Action::RemoveVips));
        assert_eq!(out.last(), Some(&Action::Stopped));
        let (mut i, _) = started(cfg(0), ms(0));
        let out = i.handle(ms(1), Event::Shutdown);
        assert_eq!(out.last(), Some(&Action::Stopped));
        assert!(sends(&out).is_empty());
    }

    #[test]
    fn force_backup_holds_and_release_promotes() {
        let a = auth();
        let mut i = master(cfg(0));
        let out = i.handle(ms(10_000), Event::ForceBackup(true));
        assert!(sends(&out)[0].is_bow_out());
        assert_eq!(i.state(), State::Backup);
        // The taker's advert completes the handover.
        let out = i.handle(ms(10_010), pkt(PEER, &frame(1, 50, 5, &a)));
        assert!(out.contains(&Action::RemoveVips));
        // Taker dies: the down timer fires but the hold keeps us Backup, ready.
        let at = i.next_deadline().expect("down");
        let out = i.handle(at, Event::Timeout);
        assert!(out.is_empty());
        assert!(i.would_be_master());
        let out = i.handle(at + ms(1), Event::ForceBackup(false));
        assert!(out.contains(&Action::AddVips));
        assert_eq!(i.state(), State::Master);
    }

    #[test]
    fn fault_from_master_and_back() {
        let mut i = master(cfg(0));
        let out = i.handle(ms(10_000), Event::FaultSet(FaultReason::LinkDown));
        assert_eq!(i.state(), State::Fault);
        assert!(sends(&out)[0].is_bow_out());
        assert!(out.contains(&Action::RemoveVips));
        assert!(out.contains(&Action::RunHook {
            hook: Hook::Backup,
            prev: State::Master
        }));
        assert!(out.contains(&Action::RunHook {
            hook: Hook::Fault,
            prev: State::Master
        }));
        assert_eq!(i.next_deadline(), None);
        i.handle(ms(20_000), Event::FaultClear(FaultReason::LinkDown));
        assert_eq!(i.state(), State::Backup);
        assert_eq!(i.next_deadline(), Some(ms(23_000)));
    }

    #[test]
    fn suppress_preempt_after_three_send_errors() {
        let mut i = master(cfg(10));
        let mut out = Vec::new();
        for _ in 0..3 {
            i.record_send_error(&mut out);
        }
        assert_eq!(out, vec![Action::Notice(Notice::SuppressPreempt(true))]);
        assert_eq!(i.effective_advskew(), SUPPRESS_ADVSKEW);
        let at = i.next_deadline().expect("adver");
        let out = i.handle(at, Event::Timeout);
        assert_eq!(sends(&out)[0].advskew, SUPPRESS_ADVSKEW);
        let mut out = Vec::new();
        for _ in 0..3 {
            i.record_send_ok(&mut out);
        }
        assert_eq!(out, vec![Action::Notice(Notice::SuppressPreempt(false))]);
        assert_eq!(i.effective_advskew(), 10);
    }

    #[test]
    fn set_advskew_advertised_at_once() {
        let mut i = master(cfg(0));
        let out = i.handle(ms(3500), Event::SetAdvskew(77));
        assert_eq!(sends(&out)[0].advskew, 77);
        assert_eq!(i.adver_interval(), interval(1, 77));
    }

    #[test]
    fn tracker_weights_move_the_advskew_the_other_way() {
        assert_eq!(tracked_advskew(0, 1, -20), 20);
        assert_eq!(tracked_advskew(50, 1, 20), 30);
        assert_eq!(tracked_advskew(10, 1, 100), 0);
        assert_eq!(tracked_advskew(200, 1, -100), 254);
        assert_eq!(
            tracked_advskew(10, 0, 100),
            1,
            "advbase 0 keeps advskew >= 1"
        );
        assert_eq!(tracked_advskew(255, 1, 0), 255, "no weight: as configured");
        // A master whose check fails advertises the larger advskew at once.
        let mut i = master(cfg(0));
        let out = i.handle(ms(3500), Event::Weights(-60));
        assert_eq!(sends(&out)[0].advskew, 60);
        assert_eq!(i.adver_interval(), interval(1, 60));
        assert_eq!(i.advskew(), 0, "the configured part is unchanged");
        // The same weights again: nothing new to say.
        assert!(sends(&i.handle(ms(3600), Event::Weights(-60))).is_empty());
    }

    /// The pure election with weights: a preempting backup at advskew 30 takes over from a
    /// master at advskew 0 whose tracker penalty (-60) makes it advertise 60, and the master,
    /// repaired, preempts back.
    #[test]
    fn tracker_penalty_hands_over_in_the_election() {
        let bytes = |out: &[Action]| {
            out.iter()
                .find_map(|a| match a {
                    Action::Send { bytes, .. } => Some(*bytes),
                    _ => None,
                })
                .expect("an advert")
        };
        let mut c = cfg(30);
        c.preempt = true;
        let (mut b, _) = started(c, ms(0));
        let mut pc = cfg(0);
        pc.preempt = true;
        let mut a = master(pc);
        // a advertises 0: b stays backup.
        let at = a.next_deadline().expect("adver");
        let f = bytes(&a.handle(at, Event::Timeout));
        b.handle(at, pkt(PEER, &f));
        assert_eq!(b.state(), State::Backup);
        // The penalty: a says 60 at once; b (30, preempt) takes over on it.
        let f = bytes(&a.handle(at + ms(100), Event::Weights(-60)));
        b.handle(at + ms(101), pkt(PEER, &f));
        assert_eq!(b.state(), State::Master);
        // a hears b's 30 and, advertising 60, yields.
        let bt = b.next_deadline().expect("adver");
        let fb = bytes(&b.handle(bt, Event::Timeout));
        a.handle(bt, pkt(PEER, &fb));
        assert_eq!(a.state(), State::Backup);
        // Repaired: a at 0 preempts b's 30 on b's next advert.
        a.handle(bt + ms(10), Event::Weights(0));
        let bt = b.next_deadline().expect("adver");
        let fb = bytes(&b.handle(bt, Event::Timeout));
        a.handle(bt, pkt(PEER, &fb));
        assert_eq!(a.state(), State::Master);
    }

    #[test]
    fn no_primary_address_is_fault() {
        let mut i = Instance::new(cfg(0));
        i.handle(ms(0), Event::Startup);
        assert_eq!(i.state(), State::Fault);
        i.handle(ms(1), Event::PrimaryAddress(Some(IpAddr::V4(ME))));
        assert_eq!(i.state(), State::Backup);
    }

    #[test]
    fn config_validation() {
        let mut c = cfg(0);
        assert_eq!(c.validate(), Ok(()));
        c.advbase = 0;
        assert_eq!(c.validate(), Err(ConfigError::ZeroInterval));
        c.advskew = 1;
        assert_eq!(c.validate(), Ok(()));
        c.deadratio = 0;
        assert_eq!(c.validate(), Err(ConfigError::DeadRatio));
        c.deadratio = 1;
        c.vhid = 0;
        assert_eq!(c.validate(), Err(ConfigError::Vhid));
    }
}
