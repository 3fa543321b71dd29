//! This instance as a member of a host group (`-M N`): the glue between the event loop, the shared
//! segment ([`crate::sys::shm`]) and the verdict ([`crate::proto::group`]).
//!
//! Propagation: a member that changes state publishes it in its slot and sends SIGRTMIN+1
//! ([`super::signals::group_signal`]) to every other live member (through pidfds, so a reused
//! pid is never signalled); each wakes at once, reads the table and follows the verdict. A
//! member that dies without publishing is noticed at the next heartbeat tick (every advert
//! interval, at most a third of `--group-timeout`) from its pid, and a wedged one when its
//! heartbeat is older than `--group-timeout`.

use std::time::Duration;

use super::config::Settings;
use crate::proto::fsm::State;

use super::engine::Core;
use crate::proto::group::{self, HoldReason, MemberState, Verdict};
use crate::sys::shm::{self, GroupShm, ShmError};
use crate::vlog;

/// Why [`Member::join`] failed.
#[derive(Debug)]
pub enum JoinError {
    /// No `--group` given and the default name (from the network namespace) is unknown.
    Name(std::io::Error),
    /// The group's table could not be opened, or it has no free slot.
    Table {
        /// The group name.
        group: String,
        /// What the table said.
        err: ShmError,
    },
}

impl std::fmt::Display for JoinError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            JoinError::Name(e) => write!(f, "host group: cannot name the group: {e}"),
            JoinError::Table { group, err } => write!(f, "host group {group}: {err}"),
        }
    }
}

impl std::error::Error for JoinError {}

/// Membership of this instance.
pub struct Member {
    shm: GroupShm,
    slot: usize,
    /// Who we are in the table, to claim a slot again if ours was taken.
    ident: (String, u8, crate::proto::Family),
    size: u8,
    timeout: Duration,
    tick: Duration,
    next_tick: Duration,
    published: Option<(MemberState, u8)>,
    seen_seq: u32,
    hold_reason: String,
}

/// The member state an instance publishes.
pub fn member_state(inst: &Core, stopping: bool) -> MemberState {
    if stopping {
        return MemberState::Stopping;
    }
    match inst.state() {
        State::Master => MemberState::Master,
        State::Backup if inst.would_be_master() => MemberState::Ready,
        State::Backup => MemberState::Backup,
        State::Fault => MemberState::Fault,
        State::Initialize => MemberState::Starting,
    }
}

impl Member {
    /// Open (or create) the group's segment and claim a slot.
    pub fn join(s: &Settings, size: u8, now: Duration) -> Result<Member, JoinError> {
        let name = match &s.group {
            Some(n) => n.clone(),
            None => shm::default_group_name().map_err(JoinError::Name)?,
        };
        let (g, slot) =
            GroupShm::join(&name, &s.interface, s.vrid, s.family, now).map_err(|err| {
                JoinError::Table {
                    group: name.clone(),
                    err,
                }
            })?;
        if let Some(note) = g.replaced_notice() {
            vlog!(Warn, "host group {name}: {note}");
        }
        let interval = Duration::from_millis(u64::from(s.interval_cs) * 10);
        let tick = interval
            .min(s.group_timeout / 3)
            .max(Duration::from_millis(10));
        let seen_seq = g.seq();
        Ok(Member {
            shm: g,
            slot,
            ident: (s.interface.clone(), s.vrid, s.family),
            size,
            timeout: s.group_timeout,
            tick,
            next_tick: now,
            published: None,
            seen_seq,
            hold_reason: String::new(),
        })
    }

    /// N.
    pub fn size(&self) -> u8 {
        self.size
    }

    /// The group name.
    pub fn name(&self) -> &str {
        self.shm.name()
    }

    /// When to refresh the heartbeat and re-check the others.
    pub fn next_tick(&self) -> Duration {
        self.next_tick
    }

    /// Publish when the state or priority changed; wakes the other members. Returns whether it did.
    pub fn publish(&mut self, state: MemberState, priority: u8, now: Duration) -> bool {
        if self.published == Some((state, priority)) {
            return false;
        }
        let mut published = self.shm.publish(self.slot, state, priority, now);
        if let Err(ShmError::NotOwner(_)) = published {
            if self.reclaim(now) {
                published = self.shm.publish(self.slot, state, priority, now);
            }
        }
        if let Err(e) = published {
            vlog!(Error, "host group {}: cannot publish: {e}", self.shm.name());
            return false;
        }
        self.published = Some((state, priority));
        self.seen_seq = self.shm.seq();
        self.wake_members();
        true
    }

    /// Signals the other members; logs (once per process) a fall back from pidfds to kill(2).
    fn wake_members(&self) {
        self.shm.signal_members(super::signals::group_signal());
        if let Some(note) = shm::take_pidfd_fallback_notice() {
            vlog!(Warn, "host group {}: {note}", self.shm.name());
        }
    }

    /// Whether another member published since we last looked.
    pub fn seq_changed(&mut self) -> bool {
        let seq = self.shm.seq();
        let changed = seq != self.seen_seq;
        self.seen_seq = seq;
        changed
    }

    /// Refresh our heartbeat and schedule the next tick.
    pub fn heartbeat(&mut self, now: Duration) {
        if let Err(ShmError::NotOwner(_)) = self.shm.heartbeat(self.slot, now) {
            if self.reclaim(now) {
                // Publish again at the next sync: the new slot says Starting.
                self.published = None;
            }
        }
        self.next_tick = now + self.tick;
    }

    /// Our slot was taken from us (reaped by a member that could not see our pid, in another
    /// PID namespace, running an older vrrpd): claim one again instead of failing to publish
    /// for ever (issue 13, defect 13). Returns whether we hold a slot again.
    fn reclaim(&mut self, now: Duration) -> bool {
        let (ifname, vrid, family) = self.ident.clone();
        match self.shm.claim_family(&ifname, vrid, family, now) {
            Ok(slot) => {
                vlog!(
                    Warn,
                    "host group {}: our slot {} was taken by another member; claimed slot {slot}",
                    self.shm.name(),
                    self.slot
                );
                self.slot = slot;
                true
            }
            Err(e) => {
                vlog!(
                    Error,
                    "host group {}: lost our slot and cannot claim another: {e}",
                    self.shm.name()
                );
                false
            }
        }
    }

    /// The group's verdict for us now.
    pub fn verdict(&self, now: Duration) -> Verdict {
        let (views, me) = self.shm.views(self.slot);
        group::verdict(
            &views,
            self.size,
            me.unwrap_or(usize::MAX),
            now,
            self.timeout,
        )
    }

    /// Log a changed reason for an ongoing hold (once per reason).
    pub fn note_hold_reason(&mut self, tag: &str, reason: Option<&HoldReason>) {
        let reason = reason.map(|r| r.to_string()).unwrap_or_default();
        if self.hold_reason != reason && !reason.is_empty() {
            vlog!(
                Info,
                "{tag}: host group {}: holding backup: {reason}",
                self.shm.name()
            );
        }
        self.hold_reason = reason;
    }

    /// The group, its size and its members, for atropos.
    pub fn describe(&self) -> crate::control::GroupInfo {
        let members = self
            .shm
            .members()
            .into_iter()
            .map(|(_, m)| crate::control::GroupMember {
                member: m.label(),
                pid: m.pid,
                state: m.state.to_string(),
                alive: m.alive,
            })
            .collect();
        crate::control::GroupInfo {
            name: self.shm.name().to_string(),
            size: self.size,
            members,
        }
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        // The last member out removes the segment: nothing is left behind in /dev/shm.
        self.shm.leave(self.slot);
        self.wake_members();
    }
}
