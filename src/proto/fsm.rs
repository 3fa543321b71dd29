//! The VRRP state machine (RFC 9568 §6.4, RFC 3768 §6.4), sans I/O.
//!
//! Feed [`Event`]s with the current time to [`Instance::handle`]; carry out the returned
//! [`Action`]s in order; call again with [`Event::Timeout`] at [`Instance::next_deadline`].
//! "Master" is RFC 9568's "Active".
//!
//! | #   | state, event                                    | actions → next                              |
//! |-----|-------------------------------------------------|---------------------------------------------|
//! | S1  | Init, Startup, prio 255 (§6.4.1)                | send, AddVips, Announce, Adver_Timer → Master |
//! | S2  | Init, Startup, prio < 255 (§6.4.1)              | MAI = own, down = MDI → Backup              |
//! | S3  | Backup, Shutdown (§6.4.2)                       | cancel timer → Init, Stopped                |
//! | S4  | Backup, down timer (§6.4.2)                     | as S1 → Master (forced: re-arm, stay)       |
//! | S5  | Backup, prio 0 (§6.4.2)                         | down = Skew_Time                            |
//! | S6  | Backup, prio > 0, preempt off or prio ≥ ours    | v3: learn interval; down = MDI              |
//! | S7  | Backup, prio > 0, preempt on, prio < ours       | record the Master; timer left alone         |
//! | S8  | Master, Shutdown (§6.4.3)                       | send prio 0, release VIPs → Init, Stopped   |
//! | S9  | Master, Adver_Timer (§6.4.3)                    | send, re-arm (drift-free, on the grid)      |
//! | S10 | Master, prio 0 (§6.4.3)                         | send, re-arm                                |
//! | S11 | Master, prio > ours, or = and src > ours        | v3: learn; down = MDI; RemoveVips → Backup  |
//! | S12 | Master, other non-zero (§6.4.3)                 | discard; v3 (RFC 9568): send at once; Announce |
//! | F1  | any, FaultSet                                   | Master: send prio 0; RemoveVips → Fault     |
//! | F2  | Fault, last FaultClear                          | → Init → as S1/S2                           |
//! | H1  | Master, Shutdown / ForceBackup, `handover`      | send prio 0, keep VIPs → Init / Backup      |
//! | H2  | releasing, advert prio > 0 or deadline (MDI)    | RemoveVips, hook Backup (shutdown: Stopped) |
//! | D1  | Init, Startup, start-up delay, interface not ready | stay Init; timer at +delay; notice         |
//! | D2  | Init, start-up delay timer                      | notice → Fault (F1) or as S1/S2             |
//! | D3  | Backup, prio > 0, < ours, preempt delay running | as S6 (notice once per window)              |
//!
//! Receive checks (RFC 9568 §7.1, RFC 3768 §7.1): R1 TTL (§5.1.1.3, §5.1.2.3) in [`Event::Packet`], R2/R4/R5 in [`packet::parse`], then R3
//! version, R6 VRID (silent), R14 own packet, family, R7–R8, R9 IPv6 first address (noted,
//! processed: keepalived and FRR send a global address first), R11 auth, R10 owner conflict
//! (erratum 8298: noted, processed by S11), R12 addresses (v2 discards unless prio 255), R13
//! interval (v2 discards; v3 notes and learns). Timers are nanosecond-exact (see
//! [`crate::proto::timers`]).
//!
//! IPv6 Router Advertisements ([`Config::router_adverts`], [`super::ra`]): one on every entry to
//! Master (after `AddVips`), then on the RA schedule (its deadline is part of
//! [`Instance::next_deadline`]), answers to [`Event::RouterSolicit`] only as Master. Leaving
//! Master with no successor known (S8 or a step-down without handover, F1, H2 by deadline) the
//! final RA (lifetime 0) goes before `RemoveVips`; none after S11 or H2 by a new Master's advert
//! (it sends RAs from the same link-local address), none when a handover begins (owed until H2).
//!
//! Adverts are heard (and counted) only in Backup, Master, or while a handover releases the VIPs.
//! Hooks: Master on every entry to Master; Backup when VIPs are given up after Master (at once,
//! or when a handover completes) and when leaving Fault, never at first Startup; Fault on entry.
//!
//! Holds (atropos `--backup`, the host group): a held Backup hears adverts exactly like any Backup
//! (S5–S7: the Master is recorded, S6 restarts the down timer); only S4 is replaced: the down
//! timer firing makes the instance *ready* (no better Master heard for Master_Down_Interval) and
//! re-arms. Released, a ready instance becomes Master at once; any other resumes as a plain
//! Backup, with no transition and no hook. An operator hold is never ready to the host group
//! ([`Instance::would_be_master`]): the group must not go Master around a member held back.
//!
//! Delays (keepalived's `preempt_delay` and `vrrp_startup_delay`; the RFCs have neither):
//! the preemption delay window opens whenever the instance joins the election from Initialize
//! (S2 at start-up, after a start-up delay, F2 when a fault clears) and lasts
//! [`Config::preempt_delay`]; inside it a lower-priority Master is accepted as in S6 (D3), so the
//! down timer keeps running from its adverts; after it, S7 as usual, and the down timer armed by
//! the last advert accepted promotes us: the takeover comes between delay + Master_Down_Interval
//! − one interval and delay + Master_Down_Interval after joining. The window never holds back
//! S4/S5 (a Master gone or leaving is replaced at once) and never applies to the address owner,
//! which always preempts (RFC 9568 §6.1). keepalived starts its timer at the first lower advert
//! heard, not at joining, and re-arms it after a higher-priority Master; counting from joining is
//! what "a rebooted router does not take over while its links and services come up" needs, and
//! differs by at most one advert interval at start-up. The start-up delay (D1, D2) applies only
//! when the interface is not ready at Startup (link down, interface gone, no primary address —
//! the fault reasons of the interface itself; a tracker or group fault does not count): the
//! instance stays in Initialize, hears nothing, sends nothing and runs no hook for
//! [`Config::startup_delay`], even if the interface becomes ready meanwhile (a link that just came
//! up may still flap or not forward yet), then enters Fault or the election as Startup would.
//!
//! A choice against the RFC's letter, on by default ([`Config::align_adverts`]): S1, S4 and S10
//! arm the Adver_Timer at the next point of a host-wide grid of whole intervals, at most one
//! Advertisement_Interval away, instead of exactly one interval away, so that the Masters of one
//! host advertise in the same instant ([`timers::next_on_grid`] says why).
//!
//! Choices where the RFC is silent: S12's immediate advert leaves the Adver_Timer schedule alone;
//! the immediate adverts of S10 and S12, and a Master's advert of a changed priority, are limited to [`MAX_REPLIES_PER_INTERVAL`] per
//! advertisement interval (beyond it the advert is discarded with no reply, so a flood is not
//! reflected);
//! [`Event::SetPriority`] in Backup changes Skew_Time and Master_Down_Interval for the next re-arm
//! and leaves the armed deadline, except when the Master heard last is better than the new
//! priority (it would be S6 now): the down timer then runs from that Master's last advert, as
//! S6 would have armed it, and the instance is no longer ready; a Master's new priority is
//! advertised at once.

use core::fmt;
use core::net::IpAddr;
use core::time::Duration;

use super::carp;
use super::counters::Counters;
use super::packet::{self, Advert, Auth};
use super::timers;
use super::{ChecksumForm, DiscardReason, Family, Version};

mod config;
pub use config::{
    is_owner_priority, Config, ConfigError, PreemptDelayError, MAX_PREEMPT_DELAY,
    MAX_STARTUP_DELAY, OWNER_PRIORITY,
};

/// VRRP router state. RFC 9568 calls Master "Active"; we keep Master, as Advanced Vrrpd and
/// keepalived users know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Not running (before Startup, after Shutdown), or passing through after a fault clears.
    Initialize,
    /// Monitoring the Master.
    Backup,
    /// Forwarding for the virtual addresses.
    Master,
    /// A fault (link down, no primary address, ...) keeps the instance out of the election.
    Fault,
}

impl State {
    /// Every state, in counter order.
    pub const ALL: [State; 4] = [
        State::Initialize,
        State::Backup,
        State::Master,
        State::Fault,
    ];

    /// Index into per-state counter arrays.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Upper-case name: `INIT`, `BACKUP`, `MASTER`, `FAULT`.
    pub fn name(self) -> &'static str {
        match self {
            State::Initialize => "INIT",
            State::Backup => "BACKUP",
            State::Master => "MASTER",
            State::Fault => "FAULT",
        }
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an instance is in Fault. Several may be active at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultReason {
    /// The interface lost carrier.
    LinkDown,
    /// The interface disappeared.
    InterfaceGone,
    /// No primary address (IPv4: first address; IPv6: link-local) to send from.
    NoPrimaryAddress,
    /// A member of the `-M` group failed (the whole group goes Backup).
    Group,
    /// A health tracker with weight 0 is down (see [`super::track`]).
    Tracker,
}

impl FaultReason {
    /// Every reason, in reporting order.
    pub const ALL: [FaultReason; 5] = [
        FaultReason::LinkDown,
        FaultReason::InterfaceGone,
        FaultReason::NoPrimaryAddress,
        FaultReason::Group,
        FaultReason::Tracker,
    ];

    /// This reason's bit in a fault mask (the VRRP and the CARP instance keep active faults
    /// as one `u8`).
    pub(crate) fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The reasons set in `mask`, in reporting order.
    pub(crate) fn in_mask(mask: u8) -> impl Iterator<Item = FaultReason> {
        FaultReason::ALL
            .into_iter()
            .filter(move |r| mask & r.bit() != 0)
    }
}

impl fmt::Display for FaultReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FaultReason::LinkDown => "link down",
            FaultReason::InterfaceGone => "interface gone",
            FaultReason::NoPrimaryAddress => "no primary address",
            FaultReason::Group => "group fault",
            FaultReason::Tracker => "tracker down",
        })
    }
}

/// Something that happened, fed to [`Instance::handle`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Start the instance (RFC 9568 §6.4.1). Ignored while running.
    Startup,
    /// Stop the instance; [`Action::Stopped`] follows, at once or after a handover.
    Shutdown,
    /// A raw received packet: checks R1 (TTL), parses it with [`packet::parse`] (a parse error is
    /// counted under [`packet::Error::reason`]), then goes on as [`Event::Advert`].
    Packet {
        /// IP source.
        src: IpAddr,
        /// IP destination.
        dst: IpAddr,
        /// IPv4 TTL / IPv6 hop limit.
        ttl: u8,
        /// IPv4 header options present (IHL > 5), or an IPv6 Hop-by-Hop options header:
        /// discarded as [`DiscardReason::IpOptions`] (hardening, not in RFC 9568 §7.1).
        ip_options: bool,
        /// Bytes after the IP header.
        payload: &'a [u8],
    },
    /// An already parsed advert: instance-level checks (R3, R6, R14, family, R7–R9, R11, R10,
    /// R12, R13), then the state table.
    Advert {
        /// IP source (the sender's primary address).
        src: IpAddr,
        /// The decoded advert.
        advert: &'a Advert,
        /// Which checksum form verified (v3 over IPv4), counted per peer.
        checksum_form: Option<ChecksumForm>,
    },
    /// The caller's timer fired: whatever is due at `now` runs; early calls are ignored.
    Timeout,
    /// A fault reason became active.
    FaultSet(FaultReason),
    /// A fault reason cleared; the instance leaves Fault when none is left.
    FaultClear(FaultReason),
    /// Our primary address (IPv4: first address; IPv6: link-local). `None`, or an address of the
    /// other family, sets [`FaultReason::NoPrimaryAddress`]. A new instance has none: send this
    /// before [`Event::Startup`].
    PrimaryAddress(Option<IpAddr>),
    /// atropos `--backup` / SIGUSR2: `true` steps a Master down and keeps the instance from
    /// promoting until `false`. Never *ready* to the host group while in force.
    ForceBackup(bool),
    /// Host group (`-M`): `true` holds the instance in Backup like [`Event::ForceBackup`] (a
    /// Master steps down); a Backup whose down timer fires while held (no better Master heard)
    /// becomes *ready* (see [`Instance::would_be_master`]) and is promoted at once when the last
    /// hold is released.
    GroupHold(bool),
    /// SIGTTIN/SIGTTOU/atropos: new configured priority, clamped to 1..=254. Ignored for an
    /// address owner.
    SetPriority(u8),
    /// Health trackers: the sum of the weights in force (see [`super::track::combine`]). The
    /// priority advertised is the configured one plus this, clamped to 1..=254; an address owner
    /// stays 255. A change takes effect at once, like [`Event::SetPriority`].
    Weights(i32),
    /// An ICMPv6 Router Solicitation (type 133, checksum verified by the kernel) received on
    /// the interface: checked ([`crate::proto::wire::nd::parse_router_solicit`], a failure is
    /// counted as `bad_solicit`) and answered while Master (RFC 4861 §6.2.6); ignored in any
    /// other state (RFC 9568 §8.2: a Backup sends no RA) and without RAs configured.
    RouterSolicit {
        /// IPv6 source.
        src: core::net::Ipv6Addr,
        /// Hop limit it arrived with.
        hop_limit: u8,
        /// The ICMPv6 message.
        msg: &'a [u8],
    },
}

/// A script to run, with the state left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Hook {
    /// Became Master (`-U`).
    Master,
    /// Gave up the VIPs after being Master, or left Fault into Backup (`-D`).
    Backup,
    /// Entered Fault.
    Fault,
}

impl fmt::Display for Hook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Hook::Master => "master",
            Hook::Backup => "backup",
            Hook::Fault => "fault",
        })
    }
}

/// Why a transition happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// [`Event::Startup`] (S1, S2).
    Startup,
    /// The down timer expired without adverts (S4).
    MasterDown,
    /// The down timer expired Skew_Time after a priority-0 advert (S5, S4).
    PriorityZero {
        /// Who left.
        peer: IpAddr,
    },
    /// A higher priority advert (S11).
    HigherPriority {
        /// The new Master.
        peer: IpAddr,
        /// Its priority.
        priority: u8,
    },
    /// An equal priority advert from a higher primary address (S11 tie-break).
    PreemptedBy {
        /// The new Master.
        peer: IpAddr,
        /// Its (equal) priority.
        priority: u8,
    },
    /// A fault reason became active.
    Fault(FaultReason),
    /// The last fault reason cleared.
    FaultCleared,
    /// [`Event::Shutdown`] (S3, S8).
    Shutdown,
    /// [`Event::ForceBackup`].
    ForcedBackup,
    /// [`Event::GroupHold`].
    GroupHold,
    /// The last hold was released while the down timer had already expired: no Master heard
    /// (`preempting: None`), or only a lower-priority one that we preempt (S7, then S4).
    HoldReleased {
        /// The lower-priority Master heard last, and its priority.
        preempting: Option<(IpAddr, u8)>,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::Startup => f.write_str("startup"),
            Reason::MasterDown => f.write_str("master down timer expired"),
            Reason::PriorityZero { peer } => write!(f, "priority 0 advert from {peer}"),
            Reason::HigherPriority { peer, priority } => {
                write!(f, "higher priority advert from {peer} (prio {priority})")
            }
            Reason::PreemptedBy { peer, priority } => {
                write!(
                    f,
                    "preempted by {peer} (equal prio {priority}, higher address)"
                )
            }
            Reason::Fault(r) => write!(f, "{r}"),
            Reason::FaultCleared => f.write_str("fault cleared"),
            Reason::Shutdown => f.write_str("shutdown"),
            Reason::ForcedBackup => f.write_str("forced backup"),
            Reason::GroupHold => f.write_str("host group holds backup"),
            Reason::HoldReleased { preempting: None } => {
                f.write_str("hold released, no master heard")
            }
            Reason::HoldReleased {
                preempting: Some((peer, priority)),
            } => write!(
                f,
                "hold released, preempting lower-priority master {peer} (prio {priority})"
            ),
        }
    }
}

/// Something for the daemon to log (rate-limited).
///
/// Every discard yields `Discard` (except R6 `other_vrid`, silent). `VersionMismatch`,
/// `OwnerConflict`, `IntervalMismatch`, `AddrMismatch` and `V6FirstNotLinkLocal` add detail; they
/// come alone when the advert is still processed, beside a `Discard` when it is not. Each counts
/// once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Notice {
    /// R3: a peer speaks the other version on our VRID (split brain risk).
    VersionMismatch {
        /// The peer.
        peer: IpAddr,
        /// Its version.
        theirs: Version,
    },
    /// R10: we own the addresses and so does `peer` (erratum 8298: processed).
    OwnerConflict {
        /// The peer.
        peer: IpAddr,
    },
    /// R13: the advert interval differs from ours (centiseconds; v2 seconds × 100).
    IntervalMismatch {
        /// The peer.
        peer: IpAddr,
        /// Its interval, centiseconds.
        theirs: u16,
        /// Ours, centiseconds.
        ours: u16,
    },
    /// R12: the address list differs from ours.
    AddrMismatch {
        /// The peer.
        peer: IpAddr,
    },
    /// R9: an IPv6 advert whose first address is not link-local (RFC 9568 §5.2.9, erratum 8300).
    /// Counted as `bad_v6_first_addr` but processed: keepalived 2.2.7 and FRR 8.4 send such
    /// adverts (only the global VIP), see [`packet::parse`].
    V6FirstNotLinkLocal {
        /// The peer.
        peer: IpAddr,
    },
    /// A CARP advert (see [`crate::proto::carp::classify`]) carrying our VRID as its vhid: CARP and
    /// VRRP share the id on this segment. Counted as `foreign_protocol`, never acted on.
    ForeignSameId {
        /// The peer.
        peer: IpAddr,
    },
    /// D1: the interface is not ready at start-up; the instance stays in Initialize for `wait`.
    StartupDelay {
        /// The start-up delay.
        wait: Duration,
        /// What is not ready.
        why: FaultReason,
    },
    /// D2: the start-up delay is over; Fault follows when `fault` is set, else the election.
    StartupDelayOver {
        /// How long the instance waited.
        waited: Duration,
        /// A fault still active.
        fault: Option<FaultReason>,
    },
    /// D3: a lower-priority Master accepted (not preempted) because the preemption delay
    /// runs; once per window.
    PreemptDelayed {
        /// The Master.
        peer: IpAddr,
        /// Its priority.
        priority: u8,
        /// Time left in the window.
        left: Duration,
    },
    /// D3: the window closed; this lower-priority Master is preempted when the down timer fires.
    PreemptDelayOver {
        /// The Master.
        peer: IpAddr,
        /// Its priority.
        priority: u8,
    },
    /// A packet was discarded and counted under `reason`.
    Discard {
        /// Counter.
        reason: DiscardReason,
        /// Its IP source.
        peer: Option<IpAddr>,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Notice::VersionMismatch { peer, theirs } => write!(
                f,
                "{peer} sends VRRPv{} on our VRID: version mismatch, split brain risk",
                theirs.number()
            ),
            Notice::OwnerConflict { peer } => {
                write!(f, "{peer} also claims to own the addresses (priority 255)")
            }
            Notice::IntervalMismatch { peer, theirs, ours } => write!(
                f,
                "{peer} advertises every {theirs} cs, we are configured for {ours} cs"
            ),
            Notice::AddrMismatch { peer } => {
                write!(f, "{peer} advertises a different address list")
            }
            Notice::V6FirstNotLinkLocal { peer } => write!(
                f,
                "{peer} lists a non-link-local IPv6 address first (RFC 9568 §5.2.9); \
                 processed anyway for interoperability"
            ),
            Notice::ForeignSameId { peer } => write!(
                f,
                "{peer} sends CARP on our VRID: CARP and VRRP share the id on this segment"
            ),
            Notice::StartupDelay { wait, why } => write!(
                f,
                "start-up delay: {why}, staying in INIT for {:.3}s while the link settles",
                wait.as_secs_f64()
            ),
            Notice::StartupDelayOver { waited, fault } => {
                write!(
                    f,
                    "start-up delay over after {:.3}s: ",
                    waited.as_secs_f64()
                )?;
                match fault {
                    Some(r) => write!(f, "{r}, entering FAULT"),
                    None => f.write_str("interface ready, joining the election"),
                }
            }
            Notice::PreemptDelayed {
                peer,
                priority,
                left,
            } => write!(
                f,
                "preempt delay: not preempting lower-priority master {peer} (prio {priority}) \
                 for another {:.3}s",
                left.as_secs_f64()
            ),
            Notice::PreemptDelayOver { peer, priority } => write!(
                f,
                "preempt delay over: preempting lower-priority master {peer} (prio {priority}) \
                 when the down timer fires"
            ),
            Notice::Discard {
                reason,
                peer: Some(p),
            } => write!(f, "discarded advert from {p}: {}", reason.name()),
            Notice::Discard { reason, peer: None } => {
                write!(f, "discarded advert: {}", reason.name())
            }
        }
    }
}

/// What the daemon must do, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send this advert to the group (priority 0 included); the daemon picks src/dst and emits.
    Send(Advert),
    /// Add the virtual addresses (and VMAC) to the interface.
    AddVips,
    /// Remove them.
    RemoveVips,
    /// Gratuitous ARP per IPv4 VIP / unsolicited NA per IPv6 VIP (after joining the
    /// solicited-node groups); the daemon repeats per `--garp-count`.
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
    /// Send a Router Advertisement for the virtual router (IPv6, RFC 9568 §8.2; the bytes are
    /// [`crate::proto::wire::nd::build_router_advert`]) with this Router Lifetime, seconds. 0 is
    /// the final one on leaving Master with no successor known ([`crate::proto::ra`]); it comes
    /// before `RemoveVips`, while the virtual MAC is still up.
    RouterAdvert {
        /// Router Lifetime, seconds.
        lifetime_s: u16,
    },
    /// After [`Event::Shutdown`]: the instance is finished; the daemon may exit.
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timer {
    Off,
    /// Master: next advert.
    Adver(Duration),
    /// Backup: Master_Down_Timer; `after_prio0` when set by S5.
    Down {
        at: Duration,
        after_prio0: Option<IpAddr>,
    },
    /// Initialize, started: the start-up delay ends (D2).
    Startup {
        at: Duration,
        since: Duration,
    },
}

/// A planned handover in progress: VIPs kept until a new Master is heard or `at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Release {
    at: Duration,
    /// Shutdown: emit `Stopped` when done.
    stop: bool,
}

/// One virtual router: configuration, state, timers, counters.
#[derive(Debug, Clone)]
pub struct Instance {
    cfg: Config,
    started: bool,
    state: State,
    /// The effective priority: `base` + `weights`, clamped (see [`super::track::effective_priority`]).
    priority: u8,
    /// The configured priority (command line, then [`Event::SetPriority`]).
    base: u8,
    /// Sum of the tracker weights in force ([`Event::Weights`]).
    weights: i32,
    /// Master_Adver_Interval, centiseconds (learned in v3).
    mai_cs: u16,
    timer: Timer,
    release: Option<Release>,
    faults: u8,
    primary: Option<IpAddr>,
    /// Holds keeping the instance in Backup: [`HOLD_OPERATOR`] | [`HOLD_GROUP`].
    holds: u8,
    /// The down timer expired while held: no better master is around.
    ready: bool,
    holds_vips: bool,
    master: Option<IpAddr>,
    /// Priority of `master`'s last advert (Backup), and when it was heard.
    master_prio: u8,
    master_at: Duration,
    since: Duration,
    last_reason: Option<Reason>,
    counters: Counters,
    /// Interop: peers heard sending VRRPv3 (their VRRPv2 adverts are ignored), capped.
    v3_speakers: Vec<IpAddr>,
    /// Immediate replies (S10, S12) in the current window: (window start, count).
    replies: (Duration, u8),
    /// When S12 last re-announced the addresses ([`REANNOUNCE_MIN_GAP`]).
    reannounced: Option<Duration>,
    /// IPv6 Router Advertisements ([`Config::router_adverts`]).
    ra: Option<super::ra::Scheduler>,
    /// End of the current preemption delay window (D3); zero when none was opened.
    preempt_until: Duration,
    /// A lower-priority Master was accepted in the current window (its notice is out; the end of
    /// the window is noted at the next lower advert).
    preempt_held: bool,
}

/// S12 re-announcements (a Master hearing a lower-priority Master: a split brain healing) are
/// at most one per this gap, so a peer that keeps advertising does not draw a GARP/NA burst per
/// advert.
pub const REANNOUNCE_MIN_GAP: Duration = Duration::from_secs(1);

/// Most immediate adverts (the S10 and S12 replies, a Master's changed priority) per advertisement interval: an on-link flood of lower or
/// zero priority adverts is not reflected 1:1 (the RFCs set no bound; issue 13 defect 10).
pub const MAX_REPLIES_PER_INTERVAL: u8 = 2;

const MAX_V3_SPEAKERS: usize = 16;
/// Hold by an operator (atropos `--backup`, SIGUSR2).
const HOLD_OPERATOR: u8 = 1;
/// Hold by the host group.
const HOLD_GROUP: u8 = 2;

/// `a > b` as unsigned big-endian integers (S11 tie-break); `false` across families.
fn addr_greater(a: IpAddr, b: Option<IpAddr>) -> bool {
    match (a, b) {
        (IpAddr::V4(a), Some(IpAddr::V4(b))) => u32::from(a) > u32::from(b),
        (IpAddr::V6(a), Some(IpAddr::V6(b))) => u128::from(a) > u128::from(b),
        _ => false,
    }
}

fn same_set(a: &[IpAddr], b: &[IpAddr]) -> bool {
    a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
}

/// An advert's interval in centiseconds (v2 carries seconds).
fn interval_cs(adv: &Advert) -> u16 {
    match adv.version {
        Version::V3 => adv.interval,
        Version::V2 => adv.interval.saturating_mul(100),
    }
}

impl Instance {
    /// A new instance in Initialize; it does nothing until [`Event::Startup`]. The configuration
    /// should have passed [`Config::validate`]; out-of-range values are clamped (priority and
    /// interval at least 1), never a panic.
    pub fn new(cfg: Config) -> Self {
        let priority = cfg.priority.max(1);
        let mai_cs = cfg.adver_interval_cs.max(1);
        let ra = cfg
            .router_adverts
            .filter(|_| cfg.family == Family::V6)
            .map(super::ra::Scheduler::new);
        Instance {
            cfg,
            started: false,
            state: State::Initialize,
            priority,
            base: priority,
            weights: 0,
            mai_cs,
            timer: Timer::Off,
            release: None,
            faults: FaultReason::NoPrimaryAddress.bit(),
            primary: None,
            holds: 0,
            ready: false,
            holds_vips: false,
            master: None,
            master_prio: 0,
            master_at: Duration::ZERO,
            since: Duration::ZERO,
            last_reason: None,
            counters: Counters::default(),
            v3_speakers: Vec::new(),
            replies: (Duration::ZERO, 0),
            reannounced: None,
            ra,
            preempt_until: Duration::ZERO,
            preempt_held: false,
        }
    }

    /// Whether S12 may re-announce the addresses now (one per [`REANNOUNCE_MIN_GAP`]).
    fn reannounce_allowed(&mut self, now: Duration) -> bool {
        let due = self
            .reannounced
            .is_none_or(|t| now < t || now.saturating_sub(t) >= REANNOUNCE_MIN_GAP);
        if due {
            self.reannounced = Some(now);
        }
        due
    }

    /// Whether an immediate reply may go out now ([`MAX_REPLIES_PER_INTERVAL`] per interval).
    fn reply_allowed(&mut self, now: Duration) -> bool {
        let (start, n) = self.replies;
        if n == 0 || now.saturating_sub(start) >= self.adver_interval() || now < start {
            self.replies = (now, 1);
            return true;
        }
        if n < MAX_REPLIES_PER_INTERVAL {
            self.replies = (start, n + 1);
            return true;
        }
        false
    }

    /// Handle one event at time `now`, returning the actions to carry out in order.
    pub fn handle(&mut self, now: Duration, ev: Event<'_>) -> Vec<Action> {
        let mut out = Vec::new();
        self.handle_into(now, ev, &mut out);
        out
    }

    /// As [`Instance::handle`], appending to `out` (no allocation when `out` has room).
    pub fn handle_into(&mut self, now: Duration, ev: Event<'_>, out: &mut Vec<Action>) {
        match ev {
            Event::Startup => self.on_startup(now, out),
            Event::Shutdown => self.on_shutdown(now, out),
            Event::Packet {
                src,
                dst,
                ttl,
                ip_options,
                payload,
            } => self.on_packet(now, src, dst, (ttl, ip_options), payload, out),
            Event::Advert {
                src,
                advert,
                checksum_form,
            } => self.on_advert(now, src, advert, checksum_form, out),
            Event::Timeout => self.on_timeout(now, out),
            Event::FaultSet(r) => self.on_fault_set(now, r, out),
            Event::FaultClear(r) => self.on_fault_clear(now, r, out),
            Event::PrimaryAddress(a) => self.on_primary(now, a, out),
            Event::ForceBackup(on) => self.on_hold(now, HOLD_OPERATOR, on, out),
            Event::GroupHold(on) => self.on_hold(now, HOLD_GROUP, on, out),
            Event::SetPriority(p) => {
                if !self.cfg.is_owner() {
                    self.base = p.clamp(1, 254);
                    let p = super::track::effective_priority(self.base, self.weights);
                    self.on_set_priority(now, p, out);
                }
            }
            Event::Weights(w) => {
                self.weights = w;
                let p = super::track::effective_priority(self.base, self.weights);
                self.on_set_priority(now, p, out);
            }
            Event::RouterSolicit {
                src,
                hop_limit,
                msg,
            } => self.on_solicit(now, src, hop_limit, msg, out),
        }
        self.counters.note_master(self.master);
    }

    /// The quiet Backup (issue #14, `crate::proto::wire::quiet`): whether the advert just
    /// handled at `now` left this instance where a repeat of it would change nothing but the
    /// Master_Down_Timer: Backup, started, not held, no handover running, and the
    /// Master_Down_Timer just reset to `now` + Master_Down_Interval by that advert (RFC 9568
    /// §6.4.2, "reset the Master_Down_Timer to Master_Down_Interval"), not the Skew_Time of a
    /// priority-0 advert.
    ///
    /// Not inside a preemption delay (D3): there the same lower-priority advert is accepted
    /// before the delay ends and not after, so a repeat's meaning depends on when it came, and
    /// the Backup reads every advert until the window closes.
    pub fn quiet_armable(&self, now: Duration) -> bool {
        self.quiet_holds()
            && !self.in_preempt_delay(now)
            && matches!(self.timer, Timer::Down { at, .. }
                if at == now.saturating_add(self.master_down_interval()))
    }

    /// Whether an armed quiet Backup may stay armed: as [`Instance::quiet_armable`] without
    /// the timer's value (it runs from the last advert heard).
    #[inline]
    pub fn quiet_holds(&self) -> bool {
        self.started
            && self.state == State::Backup
            && self.holds == 0
            && self.release.is_none()
            && self.master.is_some()
            && matches!(
                self.timer,
                Timer::Down {
                    after_prio0: None,
                    ..
                }
            )
    }

    /// Adverts the quiet Backup's filter counted beyond those fed again (see
    /// `crate::daemon::quiet`): received, with `priority`, and nothing else.
    pub fn record_repeats(&mut self, n: u64, priority: u8) {
        for _ in 0..n {
            self.counters.record_rcvd(priority);
        }
    }

    /// When to call with [`Event::Timeout`] next, if anything is armed.
    pub fn next_deadline(&self) -> Option<Duration> {
        let timer = match self.timer {
            Timer::Off => None,
            Timer::Adver(at) | Timer::Down { at, .. } | Timer::Startup { at, .. } => Some(at),
        };
        [
            timer,
            self.release.map(|r| r.at),
            self.ra.as_ref().and_then(|r| r.next_deadline()),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The daemon failed to send an advert: count it.
    pub fn record_send_error(&mut self) {
        self.counters.record_send_error();
    }

    /// Count a packet the I/O layer discarded before it reached the core (e.g. a truncated IP
    /// header), so that every discard shows in the same counters.
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

    /// Current (effective) priority: the configured one ([`Instance::base_priority`]) plus the
    /// tracker weights in force, clamped to 1..=254; 255 for an address owner.
    pub fn priority(&self) -> u8 {
        self.priority
    }

    /// The configured priority: the command line's, unless changed by [`Event::SetPriority`].
    pub fn base_priority(&self) -> u8 {
        self.base
    }

    /// The tracker weights in force ([`Event::Weights`]).
    pub fn weights(&self) -> i32 {
        self.weights
    }

    /// Counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Between Startup and Shutdown.
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

    /// Our primary address as last reported.
    pub fn primary(&self) -> Option<IpAddr> {
        self.primary
    }

    /// Whether [`Event::ForceBackup`] is in force.
    pub fn forced_backup(&self) -> bool {
        self.holds & HOLD_OPERATOR != 0
    }

    /// Whether the host group holds this instance in Backup.
    pub fn group_held(&self) -> bool {
        self.holds & HOLD_GROUP != 0
    }

    /// Master, or held in Backup by the host group alone after its down timer expired (it would
    /// be Master but for the hold). The host group goes Master when every member would be. An
    /// operator hold ([`Event::ForceBackup`]) is never ready: the instance will not be Master.
    pub fn would_be_master(&self) -> bool {
        self.state == State::Master
            || (self.state == State::Backup && self.ready && !self.forced_backup())
    }

    /// While a planned handover keeps the VIPs: when they go at the latest.
    pub fn release_deadline(&self) -> Option<Duration> {
        self.release.map(|r| r.at)
    }

    /// Master_Adver_Interval: our own interval, or (v3 Backup) the Master's.
    pub fn master_adver_interval(&self) -> Duration {
        timers::centiseconds(self.mai_cs)
    }

    /// Skew_Time for the current priority and Master_Adver_Interval.
    pub fn skew_time(&self) -> Duration {
        timers::skew_time(self.cfg.version, self.priority, self.mai_cs)
    }

    /// Master_Down_Interval for the current priority and Master_Adver_Interval.
    pub fn master_down_interval(&self) -> Duration {
        timers::master_down_interval(self.cfg.version, self.priority, self.mai_cs)
    }

    /// The current Master as last heard (ourselves when Master); `None` when unknown.
    pub fn master_addr(&self) -> Option<IpAddr> {
        self.master
    }

    /// Time of the last transition (zero before any).
    pub fn since(&self) -> Duration {
        self.since
    }

    /// Reason of the last transition.
    pub fn last_reason(&self) -> Option<&Reason> {
        self.last_reason.as_ref()
    }

    /// While the start-up delay keeps the instance in Initialize (D1): when it ends.
    pub fn startup_delay_until(&self) -> Option<Duration> {
        match self.timer {
            Timer::Startup { at, .. } => Some(at),
            _ => None,
        }
    }

    /// While the preemption delay window is open at `now` (D3): when it closes.
    pub fn preempt_delay_until(&self, now: Duration) -> Option<Duration> {
        (self.state == State::Backup && now < self.preempt_until).then_some(self.preempt_until)
    }

    /// Whether the VIPs are on the interface (as far as our actions say).
    pub fn holds_vips(&self) -> bool {
        self.holds_vips
    }

    // ---- helpers -------------------------------------------------------------------------

    fn own_interval_cs(&self) -> u16 {
        self.cfg.adver_interval_cs.max(1)
    }

    /// S6 rather than S7: an advert at `priority` comes from a Master we do not preempt (the
    /// owner preempts whatever Preempt_Mode says, §6.1), or not yet (D3: the preemption delay).
    fn yields_to(&self, now: Duration, priority: u8) -> bool {
        !(self.cfg.preempt || self.cfg.is_owner())
            || priority >= self.priority
            || self.in_preempt_delay(now)
    }

    /// D3: the preemption delay window is open (never for the owner).
    fn in_preempt_delay(&self, now: Duration) -> bool {
        !self.cfg.is_owner() && now < self.preempt_until
    }

    fn record_master(&mut self, now: Duration, src: IpAddr, priority: u8) {
        self.master = Some(src);
        self.master_prio = priority;
        self.master_at = now;
    }

    fn adver_interval(&self) -> Duration {
        timers::centiseconds(self.own_interval_cs())
    }

    /// When the regular advert after one sent at `now` is due: one Advertisement_Interval on
    /// (RFC 9568 §6.4.1, §6.4.3), or with [`Config::align_adverts`] and an interval of at least
    /// [`timers::GRID_MIN_INTERVAL`] the next point of the host-wide grid, within one interval
    /// ([`timers::next_on_grid`]).
    /// After an Adver_Timer handled an interval or more late (a stopped or starved process):
    /// one interval on, or on the grid ([`Config::align_adverts`]) the first grid point at
    /// least half an interval on, so that the late advert is not followed by another one a few
    /// milliseconds later (the immediate replies to what queued meanwhile may already follow it).
    fn resync_advert(&self, now: Duration) -> Duration {
        let half = self.adver_interval() / 2;
        match self.next_regular_advert(now) {
            next if next < now.saturating_add(half) => {
                self.next_regular_advert(now.saturating_add(half))
            }
            next => next,
        }
    }

    fn next_regular_advert(&self, now: Duration) -> Duration {
        let interval = self.adver_interval();
        if self.cfg.align_adverts && interval >= timers::GRID_MIN_INTERVAL {
            timers::next_on_grid(now, interval)
        } else {
            now.saturating_add(interval)
        }
    }

    fn active_fault(&self) -> Option<FaultReason> {
        self.faults().next()
    }

    /// Adverts are heard in Backup and Master, and while a handover release is pending.
    fn listening(&self) -> bool {
        (self.started && matches!(self.state, State::Backup | State::Master))
            || self.release.is_some()
    }

    fn make_advert(&self, version: Version, priority: u8) -> Advert {
        let cs = self.own_interval_cs();
        let (interval, auth) = match version {
            Version::V3 => (cs.min(4095), Auth::None),
            Version::V2 => (cs.div_ceil(100).clamp(1, 255), self.cfg.auth),
        };
        Advert {
            version,
            vrid: self.cfg.vrid,
            priority,
            interval,
            addrs: self.cfg.vips.clone(),
            auth,
        }
    }

    fn send(&mut self, priority: u8, out: &mut Vec<Action>) {
        out.push(Action::Send(self.make_advert(self.cfg.version, priority)));
        self.counters.record_sent(priority);
        if self.cfg.interop_v2 && self.cfg.version == Version::V3 {
            out.push(Action::Send(self.make_advert(Version::V2, priority)));
            self.counters.record_sent(priority);
        }
    }

    fn transition(&mut self, now: Duration, to: State, reason: Reason, out: &mut Vec<Action>) {
        let from = self.state;
        self.state = to;
        self.since = now;
        self.last_reason = Some(reason);
        self.counters.record_transition(from, to);
        out.push(Action::Transition { from, to, reason });
    }

    fn arm_down(&mut self, now: Duration, after_prio0: Option<IpAddr>) {
        let wait = match after_prio0 {
            Some(_) => self.skew_time(),
            None => self.master_down_interval(),
        };
        self.timer = Timer::Down {
            at: now.saturating_add(wait),
            after_prio0,
        };
    }

    /// Leaving Master with no successor known: the final RA (lifetime 0), if one is owed.
    fn ra_final(&mut self, out: &mut Vec<Action>) {
        if self.ra.as_mut().is_some_and(|r| r.take_final()) {
            out.push(Action::RouterAdvert { lifetime_s: 0 });
        }
    }

    /// Leaving Master for a successor that sends RAs from the same link-local address: no
    /// final RA (hosts would drop the route the successor now serves).
    fn ra_quiet(&mut self) {
        if let Some(r) = self.ra.as_mut() {
            r.quiet();
        }
    }

    fn remove_vips(&mut self, out: &mut Vec<Action>) {
        if self.holds_vips {
            out.push(Action::RemoveVips);
            self.holds_vips = false;
        }
    }

    /// H2: the planned handover is over; `successor`: because a new Master was heard (then no
    /// final RA), else it timed out or was cut short (then the final RA goes).
    fn complete_release(&mut self, successor: bool, out: &mut Vec<Action>) {
        if let Some(r) = self.release.take() {
            if successor {
                self.ra_quiet();
            } else {
                self.ra_final(out);
            }
            self.remove_vips(out);
            out.push(Action::RunHook {
                hook: Hook::Backup,
                prev: State::Master,
            });
            if r.stop {
                out.push(Action::Stopped);
            }
        }
    }

    fn discard(&mut self, reason: DiscardReason, peer: Option<IpAddr>, out: &mut Vec<Action>) {
        self.counters.record_discard(reason);
        if reason != DiscardReason::OtherVrid {
            out.push(Action::Notice(Notice::Discard { reason, peer }));
        }
    }

    fn note(&mut self, reason: DiscardReason, notice: Notice, out: &mut Vec<Action>) {
        self.counters.record_discard(reason);
        out.push(Action::Notice(notice));
    }

    /// S1/S4: become Master. `hook_prev` overrides the state reported to the hook.
    fn become_master(
        &mut self,
        now: Duration,
        reason: Reason,
        hook_prev: Option<State>,
        out: &mut Vec<Action>,
    ) {
        self.ready = false;
        let prev = hook_prev.unwrap_or(self.state);
        self.release = None;
        self.send(self.priority, out);
        if !self.holds_vips {
            out.push(Action::AddVips);
            self.holds_vips = true;
        }
        out.push(Action::Announce);
        if let Some(ra) = self.ra.as_mut() {
            ra.start(now);
            let lifetime_s = ra.config().lifetime_s;
            out.push(Action::RouterAdvert { lifetime_s });
        }
        self.mai_cs = self.own_interval_cs();
        self.timer = Timer::Adver(self.next_regular_advert(now));
        self.master = self.primary;
        out.push(Action::RunHook {
            hook: Hook::Master,
            prev,
        });
        self.transition(now, State::Master, reason, out);
    }

    /// S1/S2 from Initialize. `hook_prev` is `Some(Fault)` when leaving Fault (hooks run then;
    /// the Backup hook does not run at first startup).
    fn enter_from_init(
        &mut self,
        now: Duration,
        reason: Reason,
        hook_prev: Option<State>,
        out: &mut Vec<Action>,
    ) {
        if is_owner_priority(self.priority) && self.holds == 0 {
            self.become_master(now, reason, hook_prev, out);
            return;
        }
        self.mai_cs = self.own_interval_cs();
        self.master = None;
        self.arm_down(now, None);
        // D3: the preemption delay counts from joining the election.
        self.preempt_held = false;
        if self.cfg.preempt && !self.cfg.is_owner() && !self.cfg.preempt_delay.is_zero() {
            self.preempt_until = now.saturating_add(self.cfg.preempt_delay);
        }
        if let Some(prev) = hook_prev {
            out.push(Action::RunHook {
                hook: Hook::Backup,
                prev,
            });
        }
        self.transition(now, State::Backup, reason, out);
    }

    /// F1.
    fn enter_fault(&mut self, now: Duration, reason: FaultReason, out: &mut Vec<Action>) {
        self.ready = false;
        let from = self.state;
        if from == State::Fault {
            return;
        }
        if from == State::Master {
            self.send(0, out);
        }
        // From Master, or a handover cut short: nobody is known to have taken over.
        self.ra_final(out);
        self.release = None;
        self.remove_vips(out);
        self.timer = Timer::Off;
        self.master = None;
        out.push(Action::RunHook {
            hook: Hook::Fault,
            prev: from,
        });
        self.transition(now, State::Fault, Reason::Fault(reason), out);
    }

    // ---- events --------------------------------------------------------------------------

    fn on_startup(&mut self, now: Duration, out: &mut Vec<Action>) {
        if self.started {
            return;
        }
        self.started = true;
        if let Some(r) = &mut self.release {
            // Restarted during a shutdown handover: the release goes on, without `Stopped`.
            r.stop = false;
        }
        let delay = self.cfg.startup_delay;
        if let (false, Some(why)) = (delay.is_zero(), self.interface_fault()) {
            // D1: the interface is not ready; let it settle.
            self.timer = Timer::Startup {
                at: now.saturating_add(delay),
                since: now,
            };
            out.push(Action::Notice(Notice::StartupDelay { wait: delay, why }));
            return;
        }
        self.join(now, out);
    }

    /// Startup proper, or the end of the start-up delay (D2): Fault, or S1/S2.
    fn join(&mut self, now: Duration, out: &mut Vec<Action>) {
        match self.active_fault() {
            Some(f) => self.enter_fault(now, f, out),
            None => self.enter_from_init(now, Reason::Startup, None, out),
        }
    }

    /// The first active fault of the interface itself (not a tracker's or the group's): what
    /// makes the start-up delay apply (D1).
    fn interface_fault(&self) -> Option<FaultReason> {
        self.faults().find(|r| {
            matches!(
                r,
                FaultReason::LinkDown | FaultReason::InterfaceGone | FaultReason::NoPrimaryAddress
            )
        })
    }

    fn on_shutdown(&mut self, now: Duration, out: &mut Vec<Action>) {
        if !self.started {
            // Idle, or a second Shutdown during a handover: finish now.
            match self.release {
                Some(_) => self.complete_release(false, out),
                None => out.push(Action::Stopped),
            }
            return;
        }
        self.started = false;
        self.timer = Timer::Off;
        self.master = None;
        if self.state == State::Master {
            // S8.
            self.send(0, out);
            if self.cfg.handover {
                // Keep hosts' route: the successor's RA, from the same link-local address,
                // replaces ours; a final RA now would make them drop the route it serves.
                if let Some(r) = self.ra.as_mut() {
                    r.defer_final();
                }
                self.release = Some(Release {
                    at: now.saturating_add(self.master_down_interval()),
                    stop: true,
                });
                self.transition(now, State::Initialize, Reason::Shutdown, out);
                return;
            }
            self.ra_final(out);
            self.remove_vips(out);
            out.push(Action::RunHook {
                hook: Hook::Backup,
                prev: State::Master,
            });
        } else if self.release.is_some() {
            self.complete_release(false, out);
        }
        if self.state != State::Initialize {
            self.transition(now, State::Initialize, Reason::Shutdown, out);
        }
        out.push(Action::Stopped);
    }

    fn on_timeout(&mut self, now: Duration, out: &mut Vec<Action>) {
        let promoting = self.holds == 0
            && self.state == State::Backup
            && matches!(self.timer, Timer::Down { at, .. } if now >= at);
        if self.release.is_some_and(|r| now >= r.at) {
            if promoting && self.release.is_some_and(|r| !r.stop) {
                // Nobody took over while we released (e.g. SIGUSR2 with no peer) and S4 fires
                // now: keep the VIPs rather than remove and re-add them in one go.
                self.release = None;
            } else {
                // Nobody took over within Master_Down_Interval.
                self.complete_release(false, out);
            }
        }
        if self.ra.as_mut().is_some_and(|r| r.due(now)) {
            let lifetime_s = self.ra.as_ref().map_or(0, |r| r.config().lifetime_s);
            out.push(Action::RouterAdvert { lifetime_s });
        }
        match self.timer {
            Timer::Adver(at) if now >= at && self.state == State::Master => {
                // S9, drift-free: the schedule advances by whole intervals.
                self.send(self.priority, out);
                let interval = self.adver_interval();
                let mut next = at.saturating_add(interval);
                if next <= now {
                    // The loop was late by a whole interval or more: resynchronise rather than
                    // send a burst of adverts to catch up.
                    next = self.resync_advert(now);
                }
                self.timer = Timer::Adver(next);
            }
            Timer::Startup { at, since }
                if now >= at && self.started && self.state == State::Initialize =>
            {
                // D2.
                self.timer = Timer::Off;
                out.push(Action::Notice(Notice::StartupDelayOver {
                    waited: now.saturating_sub(since),
                    fault: self.active_fault(),
                }));
                self.join(now, out);
            }
            Timer::Down { at, after_prio0 } if now >= at && self.state == State::Backup => {
                if self.holds != 0 {
                    // S4 while held: ready. A Master not heard for a whole interval is gone.
                    if self.master.is_some()
                        && now >= self.master_at.saturating_add(self.master_down_interval())
                    {
                        self.master = None;
                    }
                    self.ready = true;
                    self.arm_down(now, None);
                } else {
                    // S4.
                    let reason = match after_prio0 {
                        Some(peer) => Reason::PriorityZero { peer },
                        None => Reason::MasterDown,
                    };
                    self.become_master(now, reason, None, out);
                }
            }
            _ => {}
        }
    }

    fn on_fault_set(&mut self, now: Duration, r: FaultReason, out: &mut Vec<Action>) {
        if self.fault_active(r) {
            return;
        }
        self.faults |= r.bit();
        if self.started && self.startup_delay_until().is_some() {
            // D1: recorded; the end of the delay decides.
        } else if self.started {
            self.enter_fault(now, r, out);
        } else {
            // Shutting down with a handover pending: no point waiting any longer.
            self.complete_release(false, out);
        }
    }

    fn on_fault_clear(&mut self, now: Duration, r: FaultReason, out: &mut Vec<Action>) {
        if !self.fault_active(r) {
            return;
        }
        self.faults &= !r.bit();
        if self.faults == 0 && self.started && self.state == State::Fault {
            // F2.
            self.transition(now, State::Initialize, Reason::FaultCleared, out);
            self.enter_from_init(now, Reason::FaultCleared, Some(State::Fault), out);
        }
    }

    fn on_primary(&mut self, now: Duration, addr: Option<IpAddr>, out: &mut Vec<Action>) {
        match addr.filter(|&a| Family::of(a) == self.cfg.family) {
            Some(a) => {
                self.primary = Some(a);
                if self.state == State::Master {
                    self.master = Some(a);
                }
                self.on_fault_clear(now, FaultReason::NoPrimaryAddress, out);
            }
            None => {
                self.primary = None;
                self.on_fault_set(now, FaultReason::NoPrimaryAddress, out);
            }
        }
    }

    fn on_hold(&mut self, now: Duration, bit: u8, on: bool, out: &mut Vec<Action>) {
        let was = self.holds;
        if on {
            self.holds |= bit;
        } else {
            self.holds &= !bit;
        }
        if !self.started {
            return;
        }
        if !on {
            if was != 0 && self.holds == 0 && self.ready && self.state == State::Backup {
                // Ready: no Master heard, or only one that S7 preempts (a better one, S6, or a
                // priority change that makes it better, clears `ready`).
                let preempting = self.master.map(|m| (m, self.master_prio));
                self.become_master(now, Reason::HoldReleased { preempting }, None, out);
            }
            return;
        }
        if was != 0 || self.state != State::Master {
            return;
        }
        let reason = if bit == HOLD_GROUP {
            Reason::GroupHold
        } else {
            Reason::ForcedBackup
        };
        // Step down: priority 0 first, so a Backup takes over after its Skew_Time.
        self.send(0, out);
        self.mai_cs = self.own_interval_cs();
        let mdi = self.master_down_interval();
        if self.cfg.handover {
            if let Some(r) = self.ra.as_mut() {
                r.defer_final();
            }
            self.release = Some(Release {
                at: now.saturating_add(mdi),
                stop: false,
            });
        } else {
            self.ra_final(out);
            self.remove_vips(out);
            out.push(Action::RunHook {
                hook: Hook::Backup,
                prev: State::Master,
            });
        }
        self.master = None;
        self.ready = false;
        self.arm_down(now, None);
        self.transition(now, State::Backup, reason, out);
    }

    fn on_set_priority(&mut self, now: Duration, p: u8, out: &mut Vec<Action>) {
        if self.cfg.is_owner() {
            return;
        }
        let p = p.clamp(1, 254);
        if p == self.priority {
            return;
        }
        self.priority = p;
        if !self.started {
            return;
        }
        match self.state {
            // Advertised at once, within the immediate-advert budget ([`MAX_REPLIES_PER_INTERVAL`]
            // per interval, shared with S10 and S12): a flapping tracker or a control client in
            // a loop is not reflected 1:1 onto the wire; beyond it the regular advert on its
            // schedule carries the new priority.
            State::Master => {
                if self.reply_allowed(now) {
                    self.send(p, out);
                }
            }
            State::Backup => {
                // The Master heard last may be better than us now: had its last advert come at
                // this priority it would have been S6, so the down timer runs from it (a timer
                // about to fire, or `ready` from the old priority, would promote us only to be
                // demoted by its next advert).
                let at = self.master_at.saturating_add(self.master_down_interval());
                let s7_timer = matches!(
                    self.timer,
                    Timer::Down {
                        after_prio0: None,
                        ..
                    }
                );
                if self.master.is_some()
                    && self.yields_to(now, self.master_prio)
                    && s7_timer
                    && at > now
                {
                    self.ready = false;
                    self.timer = Timer::Down {
                        at,
                        after_prio0: None,
                    };
                }
            }
            State::Initialize | State::Fault => {}
        }
    }

    fn on_solicit(
        &mut self,
        now: Duration,
        src: core::net::Ipv6Addr,
        hop_limit: u8,
        msg: &[u8],
        out: &mut Vec<Action>,
    ) {
        let Some(ra) = self.ra.as_mut() else { return };
        if self.state != State::Master {
            return;
        }
        match super::wire::nd::parse_router_solicit(msg, src, hop_limit) {
            Ok(_) => ra.solicited(now),
            Err(_) => self.discard(DiscardReason::BadSolicit, Some(IpAddr::V6(src)), out),
        }
    }

    /// [`Event::Packet`]; `(ttl, ip_options)` are its IP header facts.
    fn on_packet(
        &mut self,
        now: Duration,
        src: IpAddr,
        dst: IpAddr,
        (ttl, ip_options): (u8, bool),
        payload: &[u8],
        out: &mut Vec<Action>,
    ) {
        if !self.listening() {
            return;
        }
        // CARP shares IP protocol 112 and VRRPv2's first byte: never read it as VRRP.
        if carp::classify(payload) == carp::Protocol::Carp {
            self.counters.record_discard(DiscardReason::Foreign);
            if payload.get(1) == Some(&self.cfg.vrid) {
                out.push(Action::Notice(Notice::ForeignSameId { peer: src }));
            }
            return;
        }
        // R1 (multicast), or the unicast peer check (source, destination, TTL).
        if let Err(reason) = self.cfg.transport.check(src, dst, ttl, self.primary) {
            self.discard(reason, Some(src), out);
            return;
        }
        // A source no router may use (RFC 9568 §5.1.1.1, §5.1.2.1), before anything is parsed.
        if !packet::is_router_source(src) {
            self.discard(DiscardReason::BadSource, Some(src), out);
            return;
        }
        // IP options / Hop-by-Hop header: not a check of RFC 9568 §7.1, vrrpd's hardening (no
        // VRRP implementation sends them, so the advert is crafted).
        if ip_options {
            self.discard(DiscardReason::IpOptions, Some(src), out);
            return;
        }
        match packet::parse(payload, src, dst) {
            Ok(p) => self.on_advert(now, src, &p.advert, p.checksum_form, out),
            Err(e) => self.discard(e.reason(), Some(src), out),
        }
    }

    /// The instance-level receive checks; `false` if the advert is to be dropped.
    fn accept(
        &mut self,
        src: IpAddr,
        adv: &Advert,
        form: Option<ChecksumForm>,
        out: &mut Vec<Action>,
    ) -> bool {
        let cfg_version = self.cfg.version;
        let interop = self.cfg.interop_v2 && cfg_version == Version::V3;
        let peer = Some(src);
        // Injected adverts ([`Event::Advert`]) get the source check of [`Event::Packet`] too.
        if !packet::is_router_source(src) {
            self.discard(DiscardReason::BadSource, peer, out);
            return false;
        }
        // R3.
        if adv.version != cfg_version && !(interop && adv.version == Version::V2) {
            self.note(
                DiscardReason::BadVersion,
                Notice::VersionMismatch {
                    peer: src,
                    theirs: adv.version,
                },
                out,
            );
            out.push(Action::Notice(Notice::Discard {
                reason: DiscardReason::BadVersion,
                peer,
            }));
            return false;
        }
        // R6 (silent).
        if adv.vrid != self.cfg.vrid {
            self.discard(DiscardReason::OtherVrid, peer, out);
            return false;
        }
        // R14: before R10, or our own looped advert would look like an owner conflict.
        if peer == self.primary {
            self.discard(DiscardReason::OwnPacket, peer, out);
            return false;
        }
        // A virtual address as the source: only its owner sends from it (its own interface
        // address), and the owner advertises 255 (RFC 9568 §5.2.4, RFC 3768 §5.3.4), or 0 when it
        // stops. Anything else is a spoof, or a Master's own address looped (IPv6: the kernel
        // delivers adverts from our own addresses), and must not elect a Master.
        if self.cfg.vips.contains(&src) && !matches!(adv.priority, 0 | 255) {
            self.discard(DiscardReason::BadSource, peer, out);
            return false;
        }
        let family = self.cfg.family;
        if Family::of(src) != family || adv.addrs.iter().any(|&a| Family::of(a) != family) {
            self.discard(DiscardReason::BadFamily, peer, out);
            return false;
        }
        if let Some(f) = form {
            self.counters.record_checksum(src, f);
        }
        // R7, R8, normally caught by the parser; repeated for injected adverts.
        let bad = if adv.addrs.is_empty() {
            Some(DiscardReason::BadAddrCount)
        } else if adv.interval == 0 || (adv.version == Version::V3 && adv.interval > 4095) {
            Some(DiscardReason::BadInterval)
        } else {
            None
        };
        if let Some(reason) = bad {
            self.discard(reason, peer, out);
            return false;
        }
        // R9 (erratum 8300 says discard): noted, then processed, like a v3 address mismatch.
        // keepalived 2.2.7 and FRR 8.4 list only the configured VIPs, usually one global address;
        // discarding their adverts would leave both sides Master.
        if family == Family::V6
            && !adv
                .addrs
                .first()
                .is_some_and(|&a| matches!(a, IpAddr::V6(v) if packet::is_ipv6_link_local(&v)))
        {
            self.note(
                DiscardReason::BadV6FirstAddr,
                Notice::V6FirstNotLinkLocal { peer: src },
                out,
            );
        }
        // R11.
        if adv.version == Version::V2 && adv.auth != self.cfg.auth {
            let reason = match (adv.auth, self.cfg.auth) {
                (Auth::Password(_), Auth::Password(_)) => DiscardReason::BadAuth,
                _ => DiscardReason::BadAuthType,
            };
            self.discard(reason, peer, out);
            return false;
        }
        // RFC 9568 §8.4.2: ignore VRRPv2 from a router also sending VRRPv3.
        if interop {
            let known = self.v3_speakers.contains(&src);
            if adv.version == Version::V3 && !known && self.v3_speakers.len() < MAX_V3_SPEAKERS {
                self.v3_speakers.push(src);
            }
            if adv.version == Version::V2 && known {
                return false;
            }
        }
        // R10 (erratum 8298): note, then process.
        if self.cfg.is_owner() && is_owner_priority(adv.priority) {
            self.note(
                DiscardReason::OwnerConflict,
                Notice::OwnerConflict { peer: src },
                out,
            );
        }
        // R12.
        if !same_set(&adv.addrs, &self.cfg.vips) {
            self.note(
                DiscardReason::AddrMismatch,
                Notice::AddrMismatch { peer: src },
                out,
            );
            if cfg_version == Version::V2 && !is_owner_priority(adv.priority) {
                out.push(Action::Notice(Notice::Discard {
                    reason: DiscardReason::AddrMismatch,
                    peer,
                }));
                return false;
            }
        }
        // R13.
        let (theirs, ours) = (interval_cs(adv), self.own_interval_cs());
        if theirs != ours {
            self.note(
                DiscardReason::IntervalMismatch,
                Notice::IntervalMismatch {
                    peer: src,
                    theirs,
                    ours,
                },
                out,
            );
            if cfg_version == Version::V2 {
                out.push(Action::Notice(Notice::Discard {
                    reason: DiscardReason::IntervalMismatch,
                    peer,
                }));
                return false;
            }
        }
        true
    }

    fn on_advert(
        &mut self,
        now: Duration,
        src: IpAddr,
        adv: &Advert,
        form: Option<ChecksumForm>,
        out: &mut Vec<Action>,
    ) {
        if !self.listening() || !self.accept(src, adv, form, out) {
            return;
        }
        self.counters.record_rcvd(adv.priority);
        if adv.priority > 0 {
            // H2: someone else is Master now (or still Backup and about to be).
            self.complete_release(true, out);
        }
        let learn = self.cfg.version == Version::V3;
        match self.state {
            State::Backup => {
                if adv.priority == 0 {
                    // S5.
                    if self.master == Some(src) {
                        self.master = None;
                    }
                    self.arm_down(now, Some(src));
                } else if self.yields_to(now, adv.priority) {
                    // S6 (D3: a lower-priority Master inside the preemption delay).
                    if adv.priority < self.priority
                        && self.in_preempt_delay(now)
                        && !self.preempt_held
                    {
                        self.preempt_held = true;
                        out.push(Action::Notice(Notice::PreemptDelayed {
                            peer: src,
                            priority: adv.priority,
                            left: self.preempt_until.saturating_sub(now),
                        }));
                    }
                    if learn {
                        self.mai_cs = interval_cs(adv);
                    }
                    self.record_master(now, src, adv.priority);
                    self.ready = false;
                    self.arm_down(now, None);
                } else {
                    // S7: the Master is recorded (atropos shows it); we preempt when the down
                    // timer fires (or, held, become ready).
                    if self.preempt_held {
                        self.preempt_held = false;
                        out.push(Action::Notice(Notice::PreemptDelayOver {
                            peer: src,
                            priority: adv.priority,
                        }));
                    }
                    self.record_master(now, src, adv.priority);
                }
            }
            State::Master => {
                if adv.priority == 0 {
                    // S10 (rate-limited: beyond the limit the regular schedule stands).
                    if self.reply_allowed(now) {
                        self.send(self.priority, out);
                        self.timer = Timer::Adver(self.next_regular_advert(now));
                    }
                } else if adv.priority > self.priority
                    || (adv.priority == self.priority && addr_greater(src, self.primary))
                {
                    // S11.
                    let reason = if adv.priority > self.priority {
                        Reason::HigherPriority {
                            peer: src,
                            priority: adv.priority,
                        }
                    } else {
                        Reason::PreemptedBy {
                            peer: src,
                            priority: adv.priority,
                        }
                    };
                    if learn {
                        self.mai_cs = interval_cs(adv);
                    }
                    self.record_master(now, src, adv.priority);
                    self.arm_down(now, None);
                    // The new Master already sends RAs from the same link-local address.
                    self.ra_quiet();
                    self.remove_vips(out);
                    out.push(Action::RunHook {
                        hook: Hook::Backup,
                        prev: State::Master,
                    });
                    self.transition(now, State::Backup, reason, out);
                } else {
                    // S12 (RFC 9568): assert ourselves at once (rate-limited).
                    if learn && self.reply_allowed(now) {
                        self.send(self.priority, out);
                    }
                    // Another Master on the link (a split brain healing): switches and hosts
                    // may have learnt the VIPs at its port; announce them again at once, as
                    // keepalived's lower-priority GARP burst does (rate-limited, v2 and v3).
                    if self.reannounce_allowed(now) {
                        out.push(Action::Announce);
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
    use crate::proto::packet::Auth;

    /// Issue 13: IPv4 options / an IPv6 Hop-by-Hop header is `ip_options` before parsing (not an
    /// RFC 9568 §7.1 check: hardening); the same advert without them is received.
    #[test]
    fn ip_options_discarded_before_parsing() {
        let vip: IpAddr = IpAddr::V4(core::net::Ipv4Addr::new(192, 0, 2, 250));
        let me = IpAddr::V4(core::net::Ipv4Addr::new(192, 0, 2, 1));
        let peer = IpAddr::V4(core::net::Ipv4Addr::new(192, 0, 2, 2));
        let group = IpAddr::V4(core::net::Ipv4Addr::new(224, 0, 0, 18));
        let mut inst = Instance::new(Config::new(Version::V3, Family::V4, 7, vec![vip]));
        let t = Duration::from_secs(10);
        inst.handle(t, Event::PrimaryAddress(Some(me)));
        inst.handle(t, Event::Startup);
        let adv = Advert {
            version: Version::V3,
            vrid: 7,
            priority: 200,
            interval: 100,
            addrs: vec![vip],
            auth: Auth::None,
        };
        let mut buf = [0u8; 64];
        let n = adv
            .emit(&mut buf, peer, group, ChecksumForm::Pseudo)
            .expect("emit");
        let pkt = |ip_options| Event::Packet {
            src: peer,
            dst: group,
            ttl: 255,
            ip_options,
            payload: &buf[..n],
        };
        let out = inst.handle(t, pkt(true));
        assert_eq!(
            out,
            [Action::Notice(Notice::Discard {
                reason: DiscardReason::IpOptions,
                peer: Some(peer)
            })]
        );
        assert_eq!(inst.counters().discards(DiscardReason::IpOptions), 1);
        assert_eq!(inst.counters().adverts_rcvd(), 0);
        inst.handle(t, pkt(false));
        assert_eq!(inst.counters().adverts_rcvd(), 1);
        assert_eq!(inst.counters().discards(DiscardReason::IpOptions), 1);
    }

    /// The quiet Backup's query (issue #14): an accepted advert arms; a priority-0 advert, a
    /// repeat inside a preemption delay, a Master and a held Backup do not; a later repeat at
    /// another time arms again (the timer reset to that time).
    #[test]
    fn quiet_armable_only_after_a_plain_accepted_advert() {
        let vip: IpAddr = IpAddr::V4(core::net::Ipv4Addr::new(192, 0, 2, 250));
        let me = IpAddr::V4(core::net::Ipv4Addr::new(192, 0, 2, 1));
        let peer = IpAddr::V4(core::net::Ipv4Addr::new(192, 0, 2, 2));
        let group = IpAddr::V4(core::net::Ipv4Addr::new(224, 0, 0, 18));
        let start = |delay: Duration| {
            let mut cfg = Config::new(Version::V3, Family::V4, 7, vec![vip]);
            cfg.priority = 100;
            cfg.preempt_delay = delay;
            let mut inst = Instance::new(cfg);
            let t = Duration::from_secs(10);
            inst.handle(t, Event::PrimaryAddress(Some(me)));
            inst.handle(t, Event::Startup);
            inst
        };
        let advert = |priority: u8| {
            let adv = Advert {
                version: Version::V3,
                vrid: 7,
                priority,
                interval: 100,
                addrs: vec![vip],
                auth: Auth::None,
            };
            let mut buf = [0u8; 64];
            let n = adv
                .emit(&mut buf, peer, group, ChecksumForm::Pseudo)
                .expect("emit");
            buf[..n].to_vec()
        };
        fn packet<'a>(src: IpAddr, dst: IpAddr, payload: &'a [u8]) -> Event<'a> {
            Event::Packet {
                src,
                dst,
                ttl: 255,
                ip_options: false,
                payload,
            }
        }
        let ms = Duration::from_millis;
        let mut inst = start(Duration::ZERO);
        let a200 = advert(200);
        inst.handle(ms(10_100), packet(peer, group, &a200));
        assert_eq!(inst.state(), State::Backup);
        assert!(inst.quiet_armable(ms(10_100)));
        assert!(
            !inst.quiet_armable(ms(10_200)),
            "the timer runs from 10.1 s"
        );
        assert!(inst.quiet_holds());
        inst.handle(ms(10_200), packet(peer, group, &a200));
        assert!(inst.quiet_armable(ms(10_200)));
        // Priority 0: Skew_Time, not armable, not held.
        inst.handle(ms(10_300), packet(peer, group, &advert(0)));
        assert!(!inst.quiet_armable(ms(10_300)));
        assert!(!inst.quiet_holds());
        // Held by the operator: not held.
        let mut inst = start(Duration::ZERO);
        inst.handle(ms(10_100), packet(peer, group, &a200));
        inst.handle(ms(10_100), Event::ForceBackup(true));
        assert!(!inst.quiet_holds());
        // Inside a preemption delay a lower-priority Master is accepted, but not armed on.
        let mut inst = start(Duration::from_secs(5));
        let a50 = advert(50);
        inst.handle(ms(10_100), packet(peer, group, &a50));
        inst.handle(ms(10_200), packet(peer, group, &a50));
        assert_eq!(inst.state(), State::Backup);
        assert!(!inst.quiet_armable(ms(10_200)));
        // A Master is never armable.
        let mut inst = start(Duration::ZERO);
        inst.handle(ms(20_000), Event::Timeout);
        assert_eq!(inst.state(), State::Master);
        assert!(!inst.quiet_holds());
    }
}
