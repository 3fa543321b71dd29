//! When an IPv6 Active router sends Router Advertisements for its virtual router (RFC 9568
//! §6.4.3 and §8.2; RFC 4861 §6.2), sans I/O: a scheduler the state machine
//! ([`crate::proto::fsm`]) starts on entering Master and stops on leaving it. The bytes are
//! [`crate::proto::wire::nd::build_router_advert`]; the daemon only sends them.
//!
//! Schedule (RFC 4861 §6.2.4): one RA on entering Master, then one every uniformly random
//! interval in [MinRtrAdvInterval, MaxRtrAdvInterval] (`interval` below is MaxRtrAdvInterval;
//! MinRtrAdvInterval is 0.33 × it, at least 3 s), except that the first
//! [`MAX_INITIAL_RTR_ADVERTISEMENTS`] go at most [`MAX_INITIAL_RTR_ADVERT_INTERVAL`] apart, so a
//! host that missed the first one learns the router within seconds. Solicitations (RFC 4861
//! §6.2.6) are answered with a multicast RA after a random delay of at most
//! [`MAX_RA_DELAY_TIME`], and at most one per [`MIN_DELAY_BETWEEN_RAS`]; one already due
//! sooner answers them.
//!
//! The randomness is a small deterministic generator (xorshift64*) seeded by the caller: the
//! same seed and events give the same schedule, which is what the tests check.

use core::time::Duration;

/// RFC 4861 §10: initial RAs sent at most [`MAX_INITIAL_RTR_ADVERT_INTERVAL`] apart.
pub const MAX_INITIAL_RTR_ADVERTISEMENTS: u8 = 3;
/// RFC 4861 §10: 16 s.
pub const MAX_INITIAL_RTR_ADVERT_INTERVAL: Duration = Duration::from_secs(16);
/// RFC 4861 §10: multicast RAs at least 3 s apart (answers to solicitations).
pub const MIN_DELAY_BETWEEN_RAS: Duration = Duration::from_secs(3);
/// RFC 4861 §10: an answer to a solicitation waits a random 0–500 ms.
pub const MAX_RA_DELAY_TIME: Duration = Duration::from_millis(500);

/// Default MaxRtrAdvInterval (`--ra-interval`): 200 s. RFC 4861 §6.2.1 allows 4–1800 s and
/// defaults to 600 s; a third of that keeps a host that lost its route (a reboot, a missed
/// takeover) without it for minutes at most, for one 78-byte frame per 2–3 minutes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(200);
/// Lowest `--ra-interval` (RFC 4861 §6.2.1 MaxRtrAdvInterval).
pub const MIN_INTERVAL: Duration = Duration::from_secs(4);
/// Highest `--ra-interval`.
pub const MAX_INTERVAL: Duration = Duration::from_secs(1800);
/// Highest `--ra-lifetime` (RFC 4861 §6.2.1 AdvDefaultLifetime), seconds.
pub const MAX_LIFETIME_S: u16 = 9000;

/// The RA settings of one virtual router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaConfig {
    /// MaxRtrAdvInterval.
    pub interval: Duration,
    /// Router Lifetime advertised while Active, seconds (AdvDefaultLifetime).
    pub lifetime_s: u16,
    /// Seed of the jitter generator.
    pub seed: u64,
}

impl RaConfig {
    /// The defaults: [`DEFAULT_INTERVAL`], lifetime [`default_lifetime`].
    pub fn new(seed: u64) -> RaConfig {
        RaConfig {
            interval: DEFAULT_INTERVAL,
            lifetime_s: default_lifetime(DEFAULT_INTERVAL),
            seed,
        }
    }

    /// MinRtrAdvInterval: 0.33 × MaxRtrAdvInterval (RFC 4861 §6.2.1 default), at least 3 s
    /// and at most 0.75 × MaxRtrAdvInterval.
    pub fn min_interval(&self) -> Duration {
        let third = self.interval.mul_f64(0.33);
        let most = self.interval.mul_f64(0.75);
        third.max(Duration::from_secs(3)).min(most)
    }
}

/// AdvDefaultLifetime by default: 3 × MaxRtrAdvInterval (RFC 4861 §6.2.1), whole seconds, at
/// most [`MAX_LIFETIME_S`].
pub fn default_lifetime(interval: Duration) -> u16 {
    let s = interval.as_secs().saturating_mul(3);
    u16::try_from(s.min(u64::from(MAX_LIFETIME_S))).unwrap_or(MAX_LIFETIME_S)
}

/// The RA schedule of one virtual router. See the module documentation.
#[derive(Debug, Clone)]
pub struct Scheduler {
    cfg: RaConfig,
    active: bool,
    /// The next periodic RA.
    next: Option<Duration>,
    /// A pending answer to solicitations.
    answer: Option<Duration>,
    /// When the last RA went out.
    last: Option<Duration>,
    /// RAs sent since becoming active (counts up to the initial ones).
    sent: u8,
    /// Stopped by a planned handover: the final RA (lifetime 0) is owed unless a successor
    /// is heard ([`Scheduler::take_final`], [`Scheduler::quiet`]).
    owed_final: bool,
    rng: u64,
}

impl Scheduler {
    /// A stopped scheduler.
    pub fn new(cfg: RaConfig) -> Scheduler {
        Scheduler {
            cfg,
            active: false,
            next: None,
            answer: None,
            last: None,
            sent: 0,
            owed_final: false,
            // xorshift needs a non-zero state.
            rng: cfg.seed | 1,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &RaConfig {
        &self.cfg
    }

    /// Whether RAs are being sent (the router is Active).
    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Entering Master: send one RA now (the caller does) and schedule the next.
    pub fn start(&mut self, now: Duration) {
        self.active = true;
        self.owed_final = false;
        self.sent = 0;
        self.answer = None;
        self.record_sent(now);
    }

    /// Leaving Master with a successor known to be sending RAs from the same link-local
    /// address (S11, a completed handover): stop, and owe no final RA.
    pub fn quiet(&mut self) {
        self.active = false;
        self.owed_final = false;
        self.next = None;
        self.answer = None;
    }

    /// A planned handover begins: stop sending and answering, but owe the final RA in case no
    /// successor appears ([`Scheduler::take_final`]).
    pub fn defer_final(&mut self) {
        let owed = self.active || self.owed_final;
        self.quiet();
        self.owed_final = owed;
    }

    /// Leaving Master with no successor known (shutdown or step-down without handover, a fault,
    /// a handover nobody took): stop; true when the final RA (lifetime 0, RFC 4861 §6.2.5) is to
    /// be sent, i.e. when active or owed.
    pub fn take_final(&mut self) -> bool {
        let send = self.active || self.owed_final;
        self.quiet();
        send
    }

    /// A valid Router Solicitation arrived (RFC 4861 §6.2.6). Ignored unless active.
    pub fn solicited(&mut self, now: Duration) {
        if !self.active {
            return;
        }
        let delay = self.jitter(MAX_RA_DELAY_TIME);
        let mut at = now.saturating_add(delay);
        if let Some(last) = self.last {
            // At most one multicast RA per MIN_DELAY_BETWEEN_RAS.
            at = at.max(last.saturating_add(MIN_DELAY_BETWEEN_RAS));
        }
        if self.next.is_some_and(|n| n <= at) || self.answer.is_some_and(|a| a <= at) {
            // The periodic RA, or an answer already scheduled, comes first and answers it.
            return;
        }
        self.answer = Some(at);
    }

    /// When to call [`Scheduler::due`] next.
    pub fn next_deadline(&self) -> Option<Duration> {
        match (self.next, self.answer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether an RA is due at `now`; if so it counts as sent and the next is scheduled.
    pub fn due(&mut self, now: Duration) -> bool {
        if !self.active || self.next_deadline().is_none_or(|d| now < d) {
            return false;
        }
        self.record_sent(now);
        true
    }

    fn record_sent(&mut self, now: Duration) {
        self.last = Some(now);
        self.answer = None;
        self.sent = self.sent.saturating_add(1);
        let (lo, hi) = (self.cfg.min_interval(), self.cfg.interval);
        let mut wait = lo.saturating_add(self.jitter(hi.saturating_sub(lo)));
        if self.sent < MAX_INITIAL_RTR_ADVERTISEMENTS {
            wait = wait.min(MAX_INITIAL_RTR_ADVERT_INTERVAL);
        }
        self.next = Some(now.saturating_add(wait));
    }

    /// Uniform in [0, span], microsecond steps.
    fn jitter(&mut self, span: Duration) -> Duration {
        // xorshift64* (Vigna): plenty for spreading timers.
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        let r = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        let us = u64::try_from(span.as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(r % us.saturating_add(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: f64) -> Duration {
        Duration::from_secs_f64(x)
    }

    fn run_until(sch: &mut Scheduler, from: Duration, until: Duration) -> Vec<Duration> {
        let mut sent = Vec::new();
        let mut now = from;
        while let Some(d) = sch.next_deadline() {
            if d > until {
                break;
            }
            now = now.max(d);
            assert!(sch.due(now));
            sent.push(now);
        }
        sent
    }

    #[test]
    fn initial_burst_then_periodic_within_bounds() {
        for seed in [1, 2, 42, 0xdead_beef] {
            let mut sch = Scheduler::new(RaConfig::new(seed));
            let t0 = s(1000.0);
            sch.start(t0);
            let mut times = vec![t0];
            times.extend(run_until(&mut sch, t0, t0 + s(3600.0)));
            let gaps: Vec<f64> = times
                .windows(2)
                .map(|w| (w[1] - w[0]).as_secs_f64())
                .collect();
            // RAs 1-3 (the one at start and two more) at most 16 s apart.
            for g in &gaps[..2] {
                assert!(*g <= 16.0 && *g >= 3.0, "initial gap {g} ({seed})");
            }
            // Then uniformly within [66 s, 200 s].
            for g in &gaps[2..] {
                assert!((66.0..=200.0).contains(g), "periodic gap {g} ({seed})");
            }
            assert!(gaps.len() > 15, "{gaps:?}");
            // Not all the same: jittered.
            assert!(gaps[2..].windows(2).any(|w| (w[0] - w[1]).abs() > 1.0));
        }
    }

    #[test]
    fn same_seed_same_schedule() {
        let run = |seed| {
            let mut sch = Scheduler::new(RaConfig::new(seed));
            sch.start(Duration::ZERO);
            run_until(&mut sch, Duration::ZERO, s(2000.0))
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn stopped_sends_nothing_and_ignores_solicitations() {
        let mut sch = Scheduler::new(RaConfig::new(3));
        sch.solicited(s(1.0));
        assert_eq!(sch.next_deadline(), None);
        assert!(!sch.due(s(100.0)));
        sch.start(s(10.0));
        assert!(sch.next_deadline().is_some());
        assert!(sch.take_final());
        assert!(!sch.take_final(), "one final RA only");
        assert_eq!(sch.next_deadline(), None);
        sch.solicited(s(20.0));
        assert_eq!(sch.next_deadline(), None);
        assert!(!sch.due(s(1000.0)));
    }

    #[test]
    fn solicitation_answered_within_500ms_and_rate_limited() {
        let mut cfg = RaConfig::new(5);
        cfg.interval = Duration::from_secs(1800);
        cfg.lifetime_s = 5400;
        let mut sch = Scheduler::new(cfg);
        let t0 = s(100.0);
        sch.start(t0);
        // Past the initial burst.
        run_until(&mut sch, t0, t0 + s(40.0));
        let last = sch.last.unwrap();
        let periodic = sch.next.unwrap();
        // An RS 10 s after the last RA: answered 0-500 ms later.
        let rs = last + s(10.0);
        sch.solicited(rs);
        let at = sch.next_deadline().unwrap();
        assert!(at >= rs && at <= rs + MAX_RA_DELAY_TIME, "{at:?} {rs:?}");
        assert!(!sch.due(at - Duration::from_micros(1)));
        assert!(sch.due(at));
        // The periodic schedule restarts from the answer (RFC 4861 §6.2.4: any multicast RA).
        assert_ne!(sch.next, Some(periodic));
        // A second RS 1 s later: not before 3 s after the answer.
        sch.solicited(at + s(1.0));
        let again = sch.next_deadline().unwrap();
        assert_eq!(again, at + MIN_DELAY_BETWEEN_RAS);
        // A flood of them changes nothing.
        for i in 0..100 {
            sch.solicited(at + s(1.0) + Duration::from_millis(i));
        }
        assert_eq!(sch.next_deadline(), Some(again));
        assert!(sch.due(again));
    }

    #[test]
    fn final_ra_owed_across_a_handover_unless_a_successor_is_heard() {
        let mut sch = Scheduler::new(RaConfig::new(4));
        // Never active: nothing owed.
        assert!(!sch.take_final());
        sch.start(Duration::ZERO);
        sch.defer_final();
        assert_eq!(sch.next_deadline(), None, "silent while handing over");
        sch.solicited(s(1.0));
        assert_eq!(sch.next_deadline(), None, "no answers while handing over");
        sch.defer_final();
        assert!(sch.take_final(), "nobody took over: the final RA goes");
        assert!(!sch.take_final());
        sch.start(s(10.0));
        sch.defer_final();
        sch.quiet();
        assert!(!sch.take_final(), "a successor was heard: no final RA");
        sch.start(s(20.0));
        sch.quiet();
        assert!(!sch.take_final(), "preempted (S11): no final RA");
        // Back to Master after a deferred handover: nothing owed any more.
        sch.start(s(30.0));
        sch.defer_final();
        sch.start(s(31.0));
        sch.quiet();
        assert!(!sch.take_final());
    }

    #[test]
    fn solicitation_just_before_a_periodic_ra_is_answered_by_it() {
        let mut sch = Scheduler::new(RaConfig::new(9));
        sch.start(Duration::ZERO);
        let next = sch.next_deadline().unwrap();
        sch.solicited(next - Duration::from_millis(1));
        assert_eq!(sch.next_deadline(), Some(next));
    }

    #[test]
    fn min_interval_and_default_lifetime() {
        let mut c = RaConfig::new(1);
        assert_eq!(c.min_interval(), s(66.0));
        assert_eq!(c.lifetime_s, 600);
        c.interval = s(4.0);
        assert_eq!(c.min_interval(), s(3.0));
        assert_eq!(default_lifetime(s(4.0)), 12);
        assert_eq!(default_lifetime(s(1800.0)), 5400);
        assert_eq!(default_lifetime(s(3601.0)), 9000);
    }
}
