//! The host group (`-M N`), pure part: member states and the group decision.
//!
//! Several vrrpd processes on one router form a *host group*: the box is all master or all
//! backup. When one member turns backup, faults or dies, every member holds back; when all `N`
//! members have won their elections again, the group goes master together.
//!
//! Each member publishes its [`MemberState`] in a shared table (kept in shared memory by the shell, which makes no decision); every
//! member reads the table and asks [`verdict`] whether it may be master. This module does no I/O:
//! liveness (`alive`) and the clock (`now`) are supplied by the caller.
//!
//! Compared with Advanced Vrrpd (files, `ps`, self-SIGTERM), a dead member here makes the others
//! *hold* (stay or turn backup), it never makes them exit, and a dead member's entry never blocks
//! the group forever: as soon as its slot is reclaimed or released the count is exact again.

use core::fmt;
use core::time::Duration;

/// What a group member says about itself in the shared table.
///
/// Encoded as one byte in the shared segment ([`MemberState::to_u8`]); an unknown byte read back
/// from the segment decodes to `None` and must be treated as a failed member.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemberState {
    /// Slot not (yet) in use. Such entries are not members.
    Empty,
    /// Process starting up (VRRP Initialize state, before its first election).
    Starting,
    /// A better master exists on its link: this member cannot be master.
    Backup,
    /// Won its election, held back by the group (would be master if the group allowed).
    Ready,
    /// Master.
    Master,
    /// Interface down, link lost or another local fault.
    Fault,
    /// Shutting down (releasing its addresses).
    Stopping,
}

impl MemberState {
    /// All states, in encoding order.
    pub const ALL: [MemberState; 7] = [
        MemberState::Empty,
        MemberState::Starting,
        MemberState::Backup,
        MemberState::Ready,
        MemberState::Master,
        MemberState::Fault,
        MemberState::Stopping,
    ];

    /// The byte stored in the shared segment.
    pub fn to_u8(self) -> u8 {
        match self {
            MemberState::Empty => 0,
            MemberState::Starting => 1,
            MemberState::Backup => 2,
            MemberState::Ready => 3,
            MemberState::Master => 4,
            MemberState::Fault => 5,
            MemberState::Stopping => 6,
        }
    }

    /// Decodes a byte read from the shared segment; `None` for an unknown value.
    pub fn from_u8(v: u8) -> Option<MemberState> {
        Self::ALL.get(usize::from(v)).copied()
    }

    /// Upper-case name used in logs and status output.
    pub fn name(self) -> &'static str {
        match self {
            MemberState::Empty => "EMPTY",
            MemberState::Starting => "INIT",
            MemberState::Backup => "BACKUP",
            MemberState::Ready => "READY",
            MemberState::Master => "MASTER",
            MemberState::Fault => "FAULT",
            MemberState::Stopping => "STOPPING",
        }
    }

    /// `true` for the states that let the group go master (`Master`, `Ready`).
    pub fn is_go(self) -> bool {
        matches!(self, MemberState::Master | MemberState::Ready)
    }
}

impl fmt::Display for MemberState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One member as seen in the shared table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberView {
    /// Process id (as seen in the caller's pid namespace).
    pub pid: u32,
    /// Interface name (sanitized; `"?"` when unreadable).
    pub ifname: String,
    /// Virtual router id.
    pub vrid: u8,
    /// Address family: an IPv4 and an IPv6 virtual router of one VRID are two members.
    pub family: crate::proto::Family,
    /// Published state.
    pub state: MemberState,
    /// Published priority (informational).
    pub priority: u8,
    /// CLOCK_MONOTONIC time of the member's last update.
    pub heartbeat: Duration,
    /// Caller-supplied: the process still exists.
    pub alive: bool,
}

impl MemberView {
    /// `"eth1/52"` (`"eth1/52 IPv6"`): how a member is named in reasons and logs.
    pub fn label(&self) -> String {
        let tag = crate::proto::tag(&self.ifname, self.vrid);
        match self.family {
            crate::proto::Family::V4 => tag.to_string(),
            crate::proto::Family::V6 => format!("{tag} IPv6"),
        }
    }
}

/// Why one member keeps the group from going master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hold {
    /// The caller's own entry is not (or no longer) in the table.
    OwnEntryMissing,
    /// A member's process is gone.
    Died {
        /// `eth1/52`.
        member: String,
        /// Its process id.
        pid: u32,
    },
    /// A member's heartbeat is older than the timeout.
    Stale {
        /// `eth1/52`.
        member: String,
        /// How old its heartbeat is.
        age: Duration,
    },
    /// Fewer live members than the group needs.
    Waiting {
        /// `N`.
        need: usize,
        /// Live members.
        running: usize,
    },
    /// A live member is neither `Master` nor `Ready`.
    NotReady {
        /// `eth1/52`.
        member: String,
        /// Its published state.
        state: MemberState,
    },
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hold::OwnEntryMissing => f.write_str("own entry missing from the group table"),
            Hold::Died { member, pid } => write!(f, "{member} (pid {pid}) died"),
            Hold::Stale { member, age } => {
                write!(f, "{member} heartbeat stale ({:.1}s)", age.as_secs_f64())
            }
            Hold::Waiting { need, running } => {
                write!(f, "waiting for {need} members, {running} running")
            }
            Hold::NotReady { member, state } => write!(f, "{member} is {state}"),
        }
    }
}

/// The reason for a hold: the first failing member and how many more fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldReason {
    /// The first reason, by the rule order of [`verdict`].
    pub first: Hold,
    /// How many further reasons there are.
    pub more: usize,
}

impl fmt::Display for HoldReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.more == 0 {
            write!(f, "{}", self.first)
        } else {
            write!(f, "{} (+{} more)", self.first, self.more)
        }
    }
}

impl From<Hold> for HoldReason {
    fn from(first: Hold) -> Self {
        HoldReason { first, more: 0 }
    }
}

/// The group's answer to "may I be master?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// All `N` members are live and each is `Master` or `Ready`: go master.
    Go,
    /// Stay (or turn) backup.
    Hold {
        /// Why; displayed for logs, e.g. `"eth1/52 is BACKUP"`.
        reason: HoldReason,
    },
}

impl Verdict {
    /// `true` for [`Verdict::Go`].
    pub fn is_go(&self) -> bool {
        matches!(self, Verdict::Go)
    }

    /// The hold reason as logged, `None` for [`Verdict::Go`].
    pub fn hold_text(&self) -> Option<String> {
        match self {
            Verdict::Go => None,
            Verdict::Hold { reason } => Some(reason.to_string()),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Go => f.write_str("go"),
            Verdict::Hold { reason } => write!(f, "hold: {reason}"),
        }
    }
}

/// The group decision.
///
/// - `members`: the table's non-empty entries (entries with `state == Empty` or `pid == 0` are
///   ignored here too).
/// - `size`: `N`, the number of members the group needs (`-M N`). `0` is treated as `1`.
/// - `me`: index **in `members`** of the caller's own entry. The caller is running, so its own
///   entry is never considered dead or stale (its loop may just have been slow to heartbeat),
///   but its published state counts like everyone else's: publish `Ready` before asking.
///   An out-of-range `me` yields `Hold`.
/// - `now`, `timeout`: a member whose heartbeat is older than `timeout` (strictly) is stale.
///
/// A member is *failed* if it is not alive, its heartbeat is stale, or its state is `Fault`,
/// `Backup`, `Stopping` or `Starting`. The decision, first matching rule wins:
/// 1. a dead member → `Hold("eth1/52 (pid 123) died")`;
/// 2. a stale member → `Hold("eth1/52 heartbeat stale (4.1s)")`;
/// 3. fewer than `N` live members → `Hold("waiting for N members, k running")` (not counted as
///    an extra reason when the dead and stale members already make up the difference);
/// 4. a live member that is not `Master`/`Ready` → `Hold("eth1/52 is BACKUP")`;
/// 5. otherwise `Go`. More than `N` live members is accepted as long as all of them are
///    `Master` or `Ready` (every member counts; a misconfigured `N` cannot make one ignored).
///
/// When several members fail, the first reason is given followed by `" (+K more)"`.
pub fn verdict(
    members: &[MemberView],
    size: u8,
    me: usize,
    now: Duration,
    timeout: Duration,
) -> Verdict {
    let Some(own) = members.get(me) else {
        return Verdict::Hold {
            reason: Hold::OwnEntryMissing.into(),
        };
    };
    if own.pid == 0 || own.state == MemberState::Empty {
        return Verdict::Hold {
            reason: Hold::OwnEntryMissing.into(),
        };
    }
    let need = usize::from(size.max(1));

    let mut dead: Vec<Hold> = Vec::new();
    let mut stale: Vec<Hold> = Vec::new();
    let mut bad_state: Vec<Hold> = Vec::new();
    let mut live = 0usize;

    for (i, m) in members.iter().enumerate() {
        if m.pid == 0 || m.state == MemberState::Empty {
            continue;
        }
        let is_me = i == me;
        if !is_me && !m.alive {
            dead.push(Hold::Died {
                member: m.label(),
                pid: m.pid,
            });
            continue;
        }
        let age = now.saturating_sub(m.heartbeat);
        if !is_me && age > timeout {
            stale.push(Hold::Stale {
                member: m.label(),
                age,
            });
            continue;
        }
        live += 1;
        if !m.state.is_go() {
            bad_state.push(Hold::NotReady {
                member: m.label(),
                state: m.state,
            });
        }
    }

    // Dead or stale members are already reported; "waiting" only adds members missing altogether.
    let known = live + dead.len() + stale.len();
    let mut reasons = dead;
    reasons.extend(stale);
    if live < need && (known < need || reasons.is_empty()) {
        reasons.push(Hold::Waiting {
            need,
            running: live,
        });
    }
    reasons.extend(bad_state);

    let mut it = reasons.into_iter();
    match it.next() {
        None => Verdict::Go,
        Some(first) => Verdict::Hold {
            reason: HoldReason {
                first,
                more: it.count(),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(3);

    fn now() -> Duration {
        Duration::from_secs(100)
    }

    fn m(ifname: &str, vrid: u8, state: MemberState) -> MemberView {
        MemberView {
            pid: 1000 + u32::from(vrid),
            ifname: ifname.to_string(),
            vrid,
            family: crate::proto::Family::V4,
            state,
            priority: 100,
            heartbeat: now() - Duration::from_millis(500),
            alive: true,
        }
    }

    fn hold(v: Verdict) -> String {
        match v {
            Verdict::Hold { reason } => reason.to_string(),
            Verdict::Go => panic!("expected Hold, got Go"),
        }
    }

    #[test]
    fn state_encoding_round_trips() {
        for s in MemberState::ALL {
            assert_eq!(MemberState::from_u8(s.to_u8()), Some(s));
        }
        for v in 7..=255u8 {
            assert_eq!(MemberState::from_u8(v), None);
        }
        assert_eq!(MemberState::Starting.to_string(), "INIT");
        assert_eq!(MemberState::Backup.to_string(), "BACKUP");
        assert_eq!(MemberState::Ready.to_string(), "READY");
        assert_eq!(MemberState::Master.to_string(), "MASTER");
        assert_eq!(MemberState::Fault.to_string(), "FAULT");
        assert_eq!(MemberState::Stopping.to_string(), "STOPPING");
        assert_eq!(MemberState::Empty.to_string(), "EMPTY");
    }

    #[test]
    fn all_ready_or_master_goes() {
        let ms = vec![
            m("eth0", 1, MemberState::Ready),
            m("eth1", 2, MemberState::Master),
            m("eth2", 3, MemberState::Ready),
        ];
        assert_eq!(verdict(&ms, 3, 0, now(), T), Verdict::Go);
        assert!(verdict(&ms, 3, 1, now(), T).is_go());
    }

    #[test]
    fn single_member_group() {
        let ms = vec![m("eth0", 1, MemberState::Ready)];
        assert_eq!(verdict(&ms, 1, 0, now(), T), Verdict::Go);
        // N = 0 is treated as 1.
        assert_eq!(verdict(&ms, 0, 0, now(), T), Verdict::Go);
    }

    #[test]
    fn too_few_members_waits() {
        let ms = vec![
            m("eth0", 1, MemberState::Ready),
            m("eth1", 2, MemberState::Ready),
        ];
        assert_eq!(
            hold(verdict(&ms, 3, 0, now(), T)),
            "waiting for 3 members, 2 running"
        );
    }

    #[test]
    fn more_members_than_n_all_ready_goes() {
        let ms = vec![
            m("eth0", 1, MemberState::Ready),
            m("eth1", 2, MemberState::Ready),
            m("eth2", 3, MemberState::Master),
        ];
        assert_eq!(verdict(&ms, 2, 0, now(), T), Verdict::Go);
    }

    #[test]
    fn more_members_than_n_one_backup_holds() {
        let ms = vec![
            m("eth0", 1, MemberState::Ready),
            m("eth1", 2, MemberState::Ready),
            m("eth2", 3, MemberState::Backup),
        ];
        assert_eq!(hold(verdict(&ms, 2, 0, now(), T)), "eth2/3 is BACKUP");
    }

    #[test]
    fn each_failed_state_holds() {
        for (s, name) in [
            (MemberState::Backup, "BACKUP"),
            (MemberState::Fault, "FAULT"),
            (MemberState::Stopping, "STOPPING"),
            (MemberState::Starting, "INIT"),
        ] {
            let ms = vec![m("eth0", 1, MemberState::Ready), m("eth1", 52, s)];
            assert_eq!(
                hold(verdict(&ms, 2, 0, now(), T)),
                format!("eth1/52 is {name}")
            );
        }
    }

    #[test]
    fn own_state_counts() {
        let ms = vec![
            m("eth0", 1, MemberState::Backup),
            m("eth1", 2, MemberState::Ready),
        ];
        assert_eq!(hold(verdict(&ms, 2, 0, now(), T)), "eth0/1 is BACKUP");
    }

    #[test]
    fn dead_member_holds() {
        let mut dead = m("eth1", 52, MemberState::Master);
        dead.pid = 123;
        dead.alive = false;
        let ms = vec![m("eth0", 1, MemberState::Ready), dead];
        assert_eq!(hold(verdict(&ms, 2, 0, now(), T)), "eth1/52 (pid 123) died");
    }

    #[test]
    fn dead_reported_before_waiting() {
        let mut dead = m("eth1", 52, MemberState::Ready);
        dead.pid = 123;
        dead.alive = false;
        let ms = vec![m("eth0", 1, MemberState::Ready), dead];
        // Three needed, one running, one dead: the death is the first reason.
        assert_eq!(
            hold(verdict(&ms, 3, 0, now(), T)),
            "eth1/52 (pid 123) died (+1 more)"
        );
    }

    #[test]
    fn stale_heartbeat_holds() {
        let mut st = m("eth1", 52, MemberState::Master);
        st.heartbeat = now() - Duration::from_millis(4100);
        let ms = vec![m("eth0", 1, MemberState::Ready), st];
        assert_eq!(
            hold(verdict(&ms, 2, 0, now(), T)),
            "eth1/52 heartbeat stale (4.1s)"
        );
    }

    #[test]
    fn heartbeat_exactly_at_timeout_is_fresh() {
        let mut st = m("eth1", 52, MemberState::Master);
        st.heartbeat = now() - T;
        let ms = vec![m("eth0", 1, MemberState::Ready), st];
        assert_eq!(verdict(&ms, 2, 0, now(), T), Verdict::Go);
    }

    #[test]
    fn heartbeat_in_the_future_is_fresh() {
        let mut st = m("eth1", 52, MemberState::Master);
        st.heartbeat = now() + Duration::from_secs(10);
        let ms = vec![m("eth0", 1, MemberState::Ready), st];
        assert_eq!(verdict(&ms, 2, 0, now(), T), Verdict::Go);
    }

    #[test]
    fn own_stale_heartbeat_and_liveness_ignored() {
        let mut me = m("eth0", 1, MemberState::Ready);
        me.heartbeat = Duration::ZERO;
        me.alive = false;
        let ms = vec![me, m("eth1", 2, MemberState::Master)];
        assert_eq!(verdict(&ms, 2, 0, now(), T), Verdict::Go);
    }

    #[test]
    fn empty_entries_are_skipped() {
        let mut e = m("eth9", 9, MemberState::Empty);
        e.alive = false;
        let mut z = m("eth8", 8, MemberState::Backup);
        z.pid = 0;
        let ms = vec![e, m("eth0", 1, MemberState::Ready), z];
        assert_eq!(verdict(&ms, 1, 1, now(), T), Verdict::Go);
        assert_eq!(
            hold(verdict(&ms, 2, 1, now(), T)),
            "waiting for 2 members, 1 running"
        );
    }

    #[test]
    fn own_index_out_of_range_or_empty_holds() {
        let ms = vec![m("eth0", 1, MemberState::Ready)];
        assert!(hold(verdict(&ms, 1, 5, now(), T)).contains("own entry"));
        assert!(hold(verdict(&[], 1, 0, now(), T)).contains("own entry"));
        let ms = vec![m("eth0", 1, MemberState::Empty)];
        assert!(hold(verdict(&ms, 1, 0, now(), T)).contains("own entry"));
    }

    #[test]
    fn several_failures_counted() {
        let mut dead = m("eth1", 2, MemberState::Master);
        dead.alive = false;
        dead.pid = 7;
        let mut st = m("eth2", 3, MemberState::Master);
        st.heartbeat = Duration::from_secs(1);
        let ms = vec![
            m("eth0", 1, MemberState::Ready),
            dead,
            st,
            m("eth3", 4, MemberState::Fault),
        ];
        // dead, stale, eth3 FAULT; the dead and stale ones explain the 2 missing live members.
        assert_eq!(
            hold(verdict(&ms, 4, 0, now(), T)),
            "eth1/2 (pid 7) died (+2 more)"
        );
        // With N = 5 a fifth member is missing altogether: "waiting" is one more reason.
        assert_eq!(
            hold(verdict(&ms, 5, 0, now(), T)),
            "eth1/2 (pid 7) died (+3 more)"
        );
    }

    #[test]
    fn verdict_display() {
        assert_eq!(Verdict::Go.to_string(), "go");
        let h = Verdict::Hold {
            reason: Hold::Waiting {
                need: 2,
                running: 1,
            }
            .into(),
        };
        assert_eq!(h.to_string(), "hold: waiting for 2 members, 1 running");
        assert!(!h.is_go());
    }
}
