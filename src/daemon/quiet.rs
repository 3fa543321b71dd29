//! The quiet Backup (issue #14): while Backup, the kernel drops adverts that repeat the last
//! one and notes when the last came ([`crate::proto::wire::quiet`], loaded by
//! [`crate::sys::bpf`]); the daemon reads that note when it wakes anyway, and at the latest
//! when its Master_Down_Timer runs out, and feeds the stored advert as if it had just been
//! read. A Backup of a Master advertising every second then wakes about every 3 s (its
//! Master_Down_Interval less one interval) instead of every second.
//!
//! - **Arm** after an [`Event::Packet`] that the core handled without a discard, notice or
//!   transition and that left it Backup with its Master_Down_Timer reset to now +
//!   Master_Down_Interval ([`crate::proto::fsm::Instance::quiet_armable`]): the advert's
//!   pattern goes into the map, and the advert is kept.
//! - **Disarm** when the core leaves that condition
//!   ([`crate::proto::fsm::Instance::quiet_holds`]), and on any event other than an advert or
//!   a timeout (a priority, weight, hold, fault or address change may change what a repeat
//!   means: the next advert is read and arms again). An advert that differs from the pattern
//!   (priority 0, another Master, a changed interval, a bad packet) is passed by the filter and
//!   read as ever; if it does not arm, the filter is disarmed.
//! - **Collect** at the start of every [`Daemon::feed`] (the one path for every event), before
//!   the timer check of each wake-up and before control requests and `SIGUSR1`: if the filter
//!   dropped adverts since the last look, the stored advert is fed again once per dropped
//!   advert (at most [`REFEED_MAX`]; past that the rest are only counted) at the last one's
//!   kernel arrival time, clamped to no earlier than the last event fed and no later than now.
//!   Every counter (`adverts_rcvd`, checksum forms) then says what it would have said.
//!
//! Nothing else may wake a quiet Backup every interval, or the gain is lost: the ethtool link
//! poll's backstop is not armed while quiet and netlink link events are watched (the poll rides
//! on the wake-ups that remain, so a loss only ethtool sees is noticed within a
//! Master_Down_Interval instead of 1.25 `--link-poll`: a Backup holds no addresses), and
//! systemd's watchdog goes back to the unit's own period (`WatchdogSec=`, 10 s in the shipped
//! unit) while armed, pinged on the wake-ups that remain ([`super::notify::Notifier::relax`]):
//! tied to 1.5 intervals it would wake a Backup twice a second. Host-group ticks, trackers and
//! control clients keep their own schedules.
//!
//! Fallback: when the program cannot be loaded (no `CAP_BPF`, a seccomp filter, an old
//! kernel, the verifier) the classic VRID filter stays and every advert wakes the Backup, as
//! with `--quiet-backup off`; start-up says which is in force.

use std::net::IpAddr;
use std::time::Duration;

use crate::proto::fsm::Event;
use crate::proto::wire::quiet::Pattern;
use crate::proto::Family;
use crate::sys::bpf::QuietFilter;
use crate::sys::socket::Received;
use crate::vlog;

use super::Daemon;

/// The most times one collection feeds the stored advert again; more dropped adverts (a
/// Backup that did not run for many intervals) are counted as received without being fed.
pub const REFEED_MAX: u64 = 8;

/// The advert armed on, as fed to the core.
#[derive(Debug, Default)]
struct Stored {
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    ttl: u8,
    payload: Vec<u8>,
    priority: u8,
}

/// The quiet Backup's state: the loaded filter, the advert and pattern armed on, and how much
/// of the filter's note has been taken in.
#[derive(Debug)]
pub struct Quiet {
    filter: QuietFilter,
    armed: Option<Pattern>,
    stored: Stored,
    /// `count` as last taken in.
    seen_count: u64,
    /// `last_ns` as last taken in.
    seen_ns: u64,
    /// Times the filter was armed with a new pattern (a changed advert), for the debug log.
    pub arms: u64,
}

/// Load the filter when `--quiet-backup auto` and VRRP; log which mode is in force.
pub(super) fn open(s: &super::config::Settings, tag: &str) -> Option<Quiet> {
    if s.carp.is_some() {
        return None;
    }
    if !s.quiet_backup {
        vlog!(
            Info,
            "{tag}: quiet Backup off: every advert wakes the Backup"
        );
        return None;
    }
    use crate::sys::process::{has_capability, CAP_BPF, CAP_SYS_ADMIN};
    if !has_capability(CAP_BPF).unwrap_or(true) && !has_capability(CAP_SYS_ADMIN).unwrap_or(true) {
        vlog!(
            Info,
            "{tag}: quiet Backup unavailable (no CAP_BPF): every advert wakes the Backup"
        );
        return None;
    }
    match QuietFilter::load(s.family, s.vrid) {
        Ok(filter) => Some(Quiet {
            filter,
            armed: None,
            stored: Stored::default(),
            seen_count: 0,
            seen_ns: 0,
            arms: 0,
        }),
        Err(e) => {
            vlog!(
                Info,
                "{tag}: quiet Backup unavailable (eBPF socket filter: {e}): every advert wakes \
                 the Backup"
            );
            None
        }
    }
}

impl Quiet {
    /// Attach the filter to the socket (start-up, a reopened socket). Disarmed.
    pub(super) fn attach(&mut self, sock: std::os::fd::BorrowedFd<'_>) -> std::io::Result<()> {
        self.disarm();
        self.filter.attach(sock)
    }

    /// Whether a pattern is in force.
    pub(super) fn is_armed(&self) -> bool {
        self.armed.is_some()
    }

    fn disarm(&mut self) {
        if self.armed.take().is_some() {
            self.filter.disarm();
        }
    }
}

/// The pattern of a received advert (`packet`: the raw socket's data; `r`: what `recv` said).
fn pattern_of(family: Family, packet: &[u8], r: &Received) -> Option<Pattern> {
    match (family, r.src, r.dst) {
        (Family::V4, IpAddr::V4(_), IpAddr::V4(_)) => packet
            .get(..r.payload.end)
            .and_then(|p| Pattern::ipv4(p).ok()),
        (Family::V6, IpAddr::V6(src), IpAddr::V6(dst)) => {
            let vrrp = packet.get(r.payload.clone())?;
            Pattern::ipv6(src, dst, r.ttl, r.ip_options, vrrp).ok()
        }
        _ => None,
    }
}

impl Daemon {
    /// After the advert `r` (in `packet`) was fed at `now` and handled cleanly (`clean`: no
    /// discard, notice or transition): arm on it, or disarm.
    pub(super) fn quiet_after_packet(
        &mut self,
        now: Duration,
        packet: &[u8],
        r: &Received,
        clean: bool,
    ) {
        let family = self.s.family;
        let armable = clean && self.inst.quiet_armable(now);
        let Some(q) = self.quiet.as_mut() else { return };
        let pattern = if armable {
            pattern_of(family, packet, r)
        } else {
            None
        };
        let Some(p) = pattern else {
            self.quiet_disarm();
            return;
        };
        if q.armed.as_ref() == Some(&p) {
            return;
        }
        let Some(payload) = packet.get(r.payload.clone()) else {
            self.quiet_disarm();
            return;
        };
        // Whatever the filter dropped under the old pattern was taken in by the collection at
        // the start of this feed.
        q.stored.src = Some(r.src);
        q.stored.dst = Some(r.dst);
        q.stored.ttl = r.ttl;
        q.stored.payload.clear();
        q.stored.payload.extend_from_slice(payload);
        q.stored.priority = payload.get(2).copied().unwrap_or(0);
        if let Err(e) = q.filter.arm(&p) {
            let tag = crate::proto::tag(&self.s.interface, self.s.vrid);
            vlog!(
                Debug,
                "{tag}: quiet Backup: cannot map the filter's map: {e}"
            );
            q.armed = None;
            return;
        }
        q.armed = Some(p);
        q.arms += 1;
        self.io.notify.relax(true, now);
        let Some(q) = self.quiet.as_mut() else { return };
        let (ns, count) = q.filter.read().unwrap_or_default();
        q.seen_ns = ns;
        q.seen_count = count;
    }

    /// After any event: disarm if the core left the armed condition, or (`keeps`: false) the
    /// event was not an advert or a timeout.
    #[inline]
    pub(super) fn quiet_after_event(&mut self, keeps: bool) {
        if self.quiet_armed() && !(keeps && self.inst.quiet_holds()) {
            self.quiet_disarm();
        }
        // The one place the map's page goes: a Backup disarmed while still Backup (a priority
        // change, a non-repeat advert) keeps it for the next arm; once it is no longer Backup
        // (Master, Fault) the page goes, however it was disarmed.
        if !self.quiet_armed() && self.inst.state() != crate::proto::fsm::State::Backup {
            if let Some(q) = self.quiet.as_mut() {
                q.filter.unmap();
            }
        }
    }

    /// Disarm, counting the repeats dropped since the collection at the start of this feed (a
    /// window of microseconds) as received without feeding them. A filter run that passed its
    /// last `seq` check before the disarm and notes its advert after this read (nanoseconds) is
    /// not counted: the map is read only while armed, so that a Master never touches its page.
    #[inline(never)]
    fn quiet_disarm(&mut self) {
        let Some(q) = self.quiet.as_mut() else { return };
        if !q.is_armed() {
            return;
        }
        q.disarm();
        let (ns, count) = q.filter.read().unwrap_or((q.seen_ns, q.seen_count));
        let n = count.wrapping_sub(q.seen_count);
        q.seen_count = count;
        q.seen_ns = ns;
        let prio = q.stored.priority;
        if n > 0 {
            self.inst.record_repeats(n, prio);
        }
        self.io.notify.relax(false, crate::sys::clock::now());
    }

    /// Take in what the filter dropped since the last look (see the module docs).
    #[inline]
    pub(super) fn quiet_collect(&mut self, now: Duration) {
        if self.quiet_armed() {
            self.quiet_collect_armed(now);
        }
    }

    #[inline(never)]
    fn quiet_collect_armed(&mut self, now: Duration) {
        let Some(q) = self.quiet.as_mut() else { return };
        let Some((ns, count)) = q.filter.read() else {
            return;
        };
        if count == q.seen_count {
            return;
        }
        let n = count.wrapping_sub(q.seen_count);
        let newer = ns > q.seen_ns;
        q.seen_count = count;
        q.seen_ns = ns;
        let payload = std::mem::take(&mut q.stored.payload);
        let (src, dst, ttl, prio) = (q.stored.src, q.stored.dst, q.stored.ttl, q.stored.priority);
        let (Some(src), Some(dst), true, false) = (src, dst, newer, payload.is_empty()) else {
            self.inst.record_repeats(n, prio);
            if let Some(q) = self.quiet.as_mut() {
                q.stored.payload = payload;
            }
            return;
        };
        let at = Duration::from_nanos(ns).min(now).max(self.last_fed);
        let fed = n.min(REFEED_MAX);
        for _ in 0..fed {
            self.feed_one(
                at,
                Event::Packet {
                    src,
                    dst,
                    ttl,
                    ip_options: false,
                    payload: &payload,
                },
            );
        }
        self.inst.record_repeats(n - fed, prio);
        if let Some(q) = self.quiet.as_mut() {
            q.stored.payload = payload;
        }
        self.quiet_after_event(true);
    }

    /// The debug line of a dump: how often the filter was armed.
    pub(super) fn quiet_text(&self) -> String {
        match &self.quiet {
            None => "off".to_string(),
            Some(q) => format!(
                "on ({}, armed {} times)",
                if q.is_armed() { "armed" } else { "disarmed" },
                q.arms
            ),
        }
    }
}
