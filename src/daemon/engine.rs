//! The protocol core the daemon drives: VRRP ([`crate::proto::fsm::Instance`]) or CARP
//! ([`crate::proto::carp::election::Instance`]). Both take the same events (the VRRP
//! [`Event`] type, translated for CARP) and give [`Step`]s that `perform` carries out, so the loop,
//! the host group, link supervision, hooks and atropos are the same for both.

use core::net::IpAddr;
use core::time::Duration;

use crate::proto::carp::election::{self as carp, Action as CAction, Notice as CNotice};
use crate::proto::counters::Counters;
use crate::proto::fsm::{Action, Event, Instance, Notice, State};
use crate::proto::DiscardReason;

/// One thing for the daemon to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A VRRP action, or a CARP one of the same meaning (VIPs, announce, hooks, discards, stop).
    /// VRRP transitions come as [`Step::Transition`].
    Act(Action),
    /// Send a CARP advert (36 bytes).
    SendCarp([u8; crate::proto::carp::packet::HEADER_LEN]),
    /// The state changed.
    Transition {
        /// Old state.
        from: State,
        /// New state.
        to: State,
        /// Why, for the log.
        reason: String,
    },
    /// A CARP warning to log (rate-limited).
    Warn(String),
}

/// The protocol core.
#[derive(Debug)]
pub enum Core {
    /// VRRP (RFC 3768, RFC 9568).
    Vrrp(Instance),
    /// CARP, as ucarp.
    Carp(carp::Instance),
}

fn from_carp(a: CAction) -> Step {
    match a {
        CAction::Send { bytes, .. } => Step::SendCarp(bytes),
        CAction::AddVips => Step::Act(Action::AddVips),
        CAction::RemoveVips => Step::Act(Action::RemoveVips),
        CAction::Announce => Step::Act(Action::Announce),
        CAction::RunHook { hook, prev } => Step::Act(Action::RunHook { hook, prev }),
        CAction::Transition { from, to, reason } => Step::Transition {
            from,
            to,
            reason: reason.to_string(),
        },
        CAction::Notice(CNotice::Discard { reason, peer }) => {
            Step::Act(Action::Notice(Notice::Discard { reason, peer }))
        }
        CAction::Notice(n) => Step::Warn(n.to_string()),
        CAction::Stopped => Step::Act(Action::Stopped),
    }
}

fn from_vrrp(a: Action) -> Step {
    match a {
        Action::Transition { from, to, reason } => Step::Transition {
            from,
            to,
            reason: reason.to_string(),
        },
        a => Step::Act(a),
    }
}

impl Core {
    /// Handle one event.
    pub fn handle(&mut self, now: Duration, ev: Event<'_>) -> Vec<Step> {
        match self {
            Core::Vrrp(i) => i.handle(now, ev).into_iter().map(from_vrrp).collect(),
            Core::Carp(i) => {
                let ev = match ev {
                    Event::Startup => carp::Event::Startup,
                    Event::Shutdown => carp::Event::Shutdown,
                    Event::Packet {
                        src, ttl, payload, ..
                    } => carp::Event::Packet { src, ttl, payload },
                    Event::Advert { .. } => return Vec::new(),
                    Event::Timeout => carp::Event::Timeout,
                    Event::FaultSet(r) => carp::Event::FaultSet(r),
                    Event::FaultClear(r) => carp::Event::FaultClear(r),
                    Event::PrimaryAddress(a) => carp::Event::PrimaryAddress(a),
                    Event::ForceBackup(b) => carp::Event::ForceBackup(b),
                    Event::GroupHold(b) => carp::Event::GroupHold(b),
                    Event::SetPriority(p) => carp::Event::SetAdvskew(p),
                    // Weights move the advskew the other way (carp::tracked_advskew).
                    Event::Weights(w) => carp::Event::Weights(w),
                    // CARP is IPv4 only: no Router Advertisements.
                    Event::RouterSolicit { .. } => return Vec::new(),
                };
                i.handle(now, ev).into_iter().map(from_carp).collect()
            }
        }
    }

    /// VRRP: [`Instance::quiet_armable`]. CARP: never (ucarp interop: every advert is read).
    pub fn quiet_armable(&self, now: Duration) -> bool {
        match self {
            Core::Vrrp(i) => i.quiet_armable(now),
            Core::Carp(_) => false,
        }
    }
    /// VRRP: [`Instance::quiet_holds`]. CARP: never.
    pub fn quiet_holds(&self) -> bool {
        match self {
            Core::Vrrp(i) => i.quiet_holds(),
            Core::Carp(_) => false,
        }
    }
    /// VRRP: [`Instance::record_repeats`].
    pub fn record_repeats(&mut self, n: u64, priority: u8) {
        if let Core::Vrrp(i) = self {
            i.record_repeats(n, priority);
        }
    }
    /// Whether this is the CARP core.
    pub fn is_carp(&self) -> bool {
        matches!(self, Core::Carp(_))
    }
    /// Next deadline.
    pub fn next_deadline(&self) -> Option<Duration> {
        match self {
            Core::Vrrp(i) => i.next_deadline(),
            Core::Carp(i) => i.next_deadline(),
        }
    }
    /// VRRP: the effective priority. CARP: the advskew with tracker weights in force
    /// ([`carp::tracked_advskew`]).
    pub fn priority(&self) -> u8 {
        match self {
            Core::Vrrp(i) => i.priority(),
            Core::Carp(i) => i.tracked_advskew(),
        }
    }
    /// What [`Core::priority`] would be with these tracker weights in force.
    pub fn priority_with(&self, weights: i32) -> u8 {
        match self {
            Core::Vrrp(i) => crate::proto::track::effective_priority(i.base_priority(), weights),
            Core::Carp(i) => carp::tracked_advskew(i.advskew(), i.config().advbase, weights),
        }
    }
    /// VRRP: the configured priority (without tracker weights). CARP: the configured advskew
    /// (what atropos and SIGTTIN/SIGTTOU change).
    pub fn base_priority(&self) -> u8 {
        match self {
            Core::Vrrp(i) => i.base_priority(),
            Core::Carp(i) => i.advskew(),
        }
    }
    /// State.
    pub fn state(&self) -> State {
        match self {
            Core::Vrrp(i) => i.state(),
            Core::Carp(i) => i.state(),
        }
    }
    /// Held by the host group.
    pub fn group_held(&self) -> bool {
        match self {
            Core::Vrrp(i) => i.group_held(),
            Core::Carp(i) => i.group_held(),
        }
    }
    /// Held and would be Master.
    pub fn would_be_master(&self) -> bool {
        match self {
            Core::Vrrp(i) => i.would_be_master(),
            Core::Carp(i) => i.would_be_master(),
        }
    }
    /// Forced backup.
    pub fn forced_backup(&self) -> bool {
        match self {
            Core::Vrrp(i) => i.forced_backup(),
            Core::Carp(i) => i.forced_backup(),
        }
    }
    /// VIPs configured.
    pub fn holds_vips(&self) -> bool {
        match self {
            Core::Vrrp(i) => i.holds_vips(),
            Core::Carp(i) => i.holds_vips(),
        }
    }
    /// Master-down interval.
    pub fn master_down_interval(&self) -> Duration {
        match self {
            Core::Vrrp(i) => i.master_down_interval(),
            Core::Carp(i) => i.master_down_interval(),
        }
    }
    /// The master's advert interval (CARP: our own).
    pub fn master_adver_interval(&self) -> Duration {
        match self {
            Core::Vrrp(i) => i.master_adver_interval(),
            Core::Carp(i) => i.adver_interval(),
        }
    }
    /// Skew_Time (CARP: the advskew as time).
    pub fn skew_time(&self) -> Duration {
        match self {
            Core::Vrrp(i) => i.skew_time(),
            Core::Carp(i) => carp::skew(i.effective_advskew()),
        }
    }
    /// The master's address.
    pub fn master_addr(&self) -> Option<IpAddr> {
        match self {
            Core::Vrrp(i) => i.master_addr(),
            Core::Carp(i) => i.master_addr(),
        }
    }
    /// When the state was entered.
    pub fn since(&self) -> Duration {
        match self {
            Core::Vrrp(i) => i.since(),
            Core::Carp(i) => i.since(),
        }
    }
    /// Why, as text.
    pub fn last_reason(&self) -> Option<String> {
        match self {
            Core::Vrrp(i) => i.last_reason().map(|r| r.to_string()),
            Core::Carp(i) => i.last_reason().map(|r| r.to_string()),
        }
    }
    /// Counters.
    pub fn counters(&self) -> &Counters {
        match self {
            Core::Vrrp(i) => i.counters(),
            Core::Carp(i) => i.counters(),
        }
    }
    /// Count a discard seen by the shell.
    pub fn record_discard(&mut self, reason: DiscardReason) {
        match self {
            Core::Vrrp(i) => i.record_discard(reason),
            Core::Carp(i) => i.record_discard(reason),
        }
    }
    /// A send failed.
    pub fn record_send_error(&mut self) -> Vec<Step> {
        match self {
            Core::Vrrp(i) => {
                i.record_send_error();
                Vec::new()
            }
            Core::Carp(i) => {
                let mut out = Vec::new();
                i.record_send_error(&mut out);
                out.into_iter().map(from_carp).collect()
            }
        }
    }
    /// A send succeeded.
    pub fn record_send_ok(&mut self) -> Vec<Step> {
        match self {
            Core::Vrrp(_) => Vec::new(),
            Core::Carp(i) => {
                let mut out = Vec::new();
                i.record_send_ok(&mut out);
                out.into_iter().map(from_carp).collect()
            }
        }
    }
}
