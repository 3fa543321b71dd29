//! State machine conformance tests against RFC 9568 §6 (and RFC 3768 §6 for VRRPv2): cases
//! labelled N27–N53 and N55 (each names the RFC section it checks), plus faults, forced backup, priority changes, planned
//! handover, timers and counters. Driven by a fake clock and injected, already parsed adverts.

use std::net::IpAddr;
use std::time::Duration;

use vrrpd::proto::counters::MAX_CHECKSUM_PEERS;
use vrrpd::proto::fsm::{
    Action, Config, ConfigError, Event, FaultReason, Hook, Instance, Notice, Reason, State,
    MAX_REPLIES_PER_INTERVAL,
};
use vrrpd::proto::packet::{self, Advert, Auth};
use vrrpd::proto::{ChecksumForm, DiscardReason, Family, Version};

const T0: Duration = Duration::from_secs(1000);
const VRID: u8 = 51;
const ME: &str = "192.0.2.1";
const PEER: &str = "192.0.2.2";
const VIP: &str = "192.0.2.250";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ns(n: u64) -> Duration {
    Duration::from_nanos(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cfg(version: Version, priority: u8) -> Config {
    let mut c = Config::new(version, Family::V4, VRID, vec![ip(VIP)]);
    c.priority = priority;
    c
}

/// `c` with the RFC's Adver_Timer to the letter (`Config::align_adverts` off): for the tests of
/// the schedule's arithmetic and of the reply budget, which count whole intervals from a
/// transition.
fn literal(mut c: Config) -> Config {
    c.align_adverts = false;
    c
}

fn cfg6(priority: u8) -> Config {
    let mut c = Config::new(
        Version::V3,
        Family::V6,
        VRID,
        vec![ip("fe80::1"), ip("2001:db8::1")],
    );
    c.priority = priority;
    c
}

fn advert(version: Version, priority: u8, interval: u16) -> Advert {
    Advert {
        version,
        vrid: VRID,
        priority,
        interval,
        addrs: vec![ip(VIP)],
        auth: Auth::None,
    }
}

fn v3(priority: u8, interval_cs: u16) -> Advert {
    advert(Version::V3, priority, interval_cs)
}

fn v2(priority: u8, interval_s: u16) -> Advert {
    advert(Version::V2, priority, interval_s)
}

/// An instance and a fake clock.
struct Rig {
    inst: Instance,
    now: Duration,
}

impl Rig {
    fn new(c: Config, primary: &str) -> Rig {
        assert_eq!(c.validate(), Ok(()));
        let mut inst = Instance::new(c);
        assert!(inst
            .handle(T0, Event::PrimaryAddress(Some(ip(primary))))
            .is_empty());
        Rig { inst, now: T0 }
    }

    /// Primary address set, then Startup at T0.
    fn start(c: Config, primary: &str) -> (Rig, Vec<Action>) {
        let mut r = Rig::new(c, primary);
        let a = r.ev(Event::Startup);
        (r, a)
    }

    fn ev(&mut self, ev: Event<'_>) -> Vec<Action> {
        self.inst.handle(self.now, ev)
    }

    fn at(&mut self, t: Duration) -> &mut Self {
        self.now = t;
        self
    }

    fn rx(&mut self, src: &str, adv: &Advert) -> Vec<Action> {
        self.rx_form(src, adv, None)
    }

    fn rx_form(&mut self, src: &str, adv: &Advert, form: Option<ChecksumForm>) -> Vec<Action> {
        self.ev(Event::Advert {
            src: ip(src),
            advert: adv,
            checksum_form: form,
        })
    }

    /// Jump to the next deadline and fire.
    fn fire(&mut self) -> Vec<Action> {
        self.now = self.inst.next_deadline().expect("a timer is armed");
        self.ev(Event::Timeout)
    }

    fn deadline(&self) -> Duration {
        self.inst.next_deadline().expect("a timer is armed")
    }

    fn state(&self) -> State {
        self.inst.state()
    }

    fn count(&self, r: DiscardReason) -> u64 {
        self.inst.counters().discards(r)
    }

    /// A non-owner that has taken over after its down timer (S4), at prio `priority`.
    fn master(c: Config, primary: &str) -> Rig {
        let (mut r, _) = Rig::start(c, primary);
        if r.state() == State::Backup {
            r.fire();
        }
        assert_eq!(r.state(), State::Master);
        r
    }
}

fn sends(a: &[Action]) -> Vec<&Advert> {
    a.iter()
        .filter_map(|x| match x {
            Action::Send(adv) => Some(adv),
            _ => None,
        })
        .collect()
}

fn send_prios(a: &[Action]) -> Vec<u8> {
    sends(a).iter().map(|adv| adv.priority).collect()
}

fn transitions(a: &[Action]) -> Vec<(State, State, Reason)> {
    a.iter()
        .filter_map(|x| match x {
            Action::Transition { from, to, reason } => Some((*from, *to, *reason)),
            _ => None,
        })
        .collect()
}

fn notices(a: &[Action]) -> Vec<Notice> {
    a.iter()
        .filter_map(|x| match x {
            Action::Notice(n) => Some(*n),
            _ => None,
        })
        .collect()
}

fn discard(reason: DiscardReason, peer: &str) -> Notice {
    Notice::Discard {
        reason,
        peer: Some(ip(peer)),
    }
}

fn has(a: &[Action], want: &Action) -> bool {
    a.contains(want)
}

// ---- §6.1 timers ----------------------------------------------------------------------------

/// N27 (§6.1): prio 100, 100 cs → Skew_Time 609.375 ms, Master_Down_Interval 3609.375 ms, armed
/// exactly (not in whole centiseconds).
#[test]
fn n27_timers_prio100_interval_1s() {
    let (r, _) = Rig::start(cfg(Version::V3, 100), ME);
    assert_eq!(r.inst.master_adver_interval(), ms(1000));
    assert_eq!(r.inst.skew_time(), ns(609_375_000));
    assert_eq!(r.inst.master_down_interval(), ns(3_609_375_000));
    assert_eq!(r.deadline(), T0 + ns(3_609_375_000));
}

/// N28 (§6.1): prio 150, 10 cs → 41.40625 ms / 341.40625 ms.
#[test]
fn n28_timers_prio150_interval_100ms() {
    let mut c = cfg(Version::V3, 150);
    c.adver_interval_cs = 10;
    let (r, _) = Rig::start(c, ME);
    assert_eq!(r.inst.skew_time(), ns(41_406_250));
    assert_eq!(r.inst.master_down_interval(), ns(341_406_250));
    assert_eq!(r.deadline(), T0 + ns(341_406_250));
}

/// N29 (§6.1): 1 cs, prio 100 vs 150 → 36.09375 vs 34.140625 ms: the skew survives at 1 cs.
#[test]
fn n29_timers_1cs_skew_survives() {
    let mut downs = Vec::new();
    for prio in [100, 150] {
        let mut c = cfg(Version::V3, prio);
        c.adver_interval_cs = 1;
        let (r, _) = Rig::start(c, ME);
        downs.push(r.deadline() - T0);
    }
    assert_eq!(downs, [ns(36_093_750), ns(34_140_625)]);
}

/// N30 (RFC 3768 §6.1): v2 prio 100: 1 s → 3.609375 s; 2 s → 6.609375 s (skew ignores interval).
#[test]
fn n30_timers_v2() {
    for (cs, down) in [(100, 3_609_375_000), (200, 6_609_375_000)] {
        let mut c = cfg(Version::V2, 100);
        c.adver_interval_cs = cs;
        let (r, _) = Rig::start(c, ME);
        assert_eq!(r.inst.skew_time(), ns(609_375_000));
        assert_eq!(r.inst.master_down_interval(), ns(down));
        assert_eq!(r.deadline(), T0 + ns(down));
    }
}

// ---- §6.4.1 Initialize ----------------------------------------------------------------------

/// N31 (§6.4.1, S1): owner at Startup → advert, VIPs, GARP, hook, Master; Adver_Timer armed.
#[test]
fn n31_s1_owner_startup_becomes_master() {
    let (r, a) = Rig::start(cfg(Version::V3, 255), ME);
    assert_eq!(
        a,
        vec![
            Action::Send(v3(255, 100)),
            Action::AddVips,
            Action::Announce,
            Action::RunHook {
                hook: Hook::Master,
                prev: State::Initialize
            },
            Action::Transition {
                from: State::Initialize,
                to: State::Master,
                reason: Reason::Startup
            },
        ]
    );
    assert_eq!(r.state(), State::Master);
    assert!(r.inst.holds_vips());
    assert_eq!(r.deadline(), T0 + ms(1000));
    assert_eq!(r.inst.master_addr(), Some(ip(ME)));
}

/// N32 (§6.4.1, S2): prio 100 at Startup → Backup, nothing sent, no hook.
#[test]
fn n32_s2_startup_backup_nothing_sent() {
    let (r, a) = Rig::start(cfg(Version::V3, 100), ME);
    assert_eq!(
        a,
        vec![Action::Transition {
            from: State::Initialize,
            to: State::Backup,
            reason: Reason::Startup
        }]
    );
    assert!(!r.inst.holds_vips());
    assert_eq!(r.inst.master_addr(), None);
}

/// N49 (§6.1): an owner with Preempt_Mode off still starts Master.
#[test]
fn n49_owner_preempt_off_starts_master() {
    let mut c = cfg(Version::V3, 255);
    c.preempt = false;
    let (r, _) = Rig::start(c, ME);
    assert_eq!(r.state(), State::Master);
}

// ---- §6.4.2 Backup --------------------------------------------------------------------------

/// N33 (§6.4.2, S4): a Backup that hears nothing for the down interval sends, adds VIPs,
/// announces, becomes Master.
#[test]
fn n33_s4_down_timer_promotes() {
    let (mut r, _) = Rig::start(literal(cfg(Version::V3, 100)), ME);
    let a = r.fire();
    assert_eq!(r.now, T0 + ns(3_609_375_000));
    assert_eq!(
        a,
        vec![
            Action::Send(v3(100, 100)),
            Action::AddVips,
            Action::Announce,
            Action::RunHook {
                hook: Hook::Master,
                prev: State::Backup
            },
            Action::Transition {
                from: State::Backup,
                to: State::Master,
                reason: Reason::MasterDown
            },
        ]
    );
    assert_eq!(r.deadline(), r.now + ms(1000));
}

/// N33 with the default `align_adverts`: the same actions, and the next advert at the next
/// whole second of the clock (T0 is one), within one interval, then every interval on.
#[test]
fn n33_aligned_next_advert_on_the_grid() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    let a = r.fire();
    assert_eq!(r.now, T0 + ns(3_609_375_000));
    assert_eq!(send_prios(&a), [100]);
    assert_eq!(r.state(), State::Master);
    assert_eq!(r.deadline(), T0 + ms(4000), "the next whole second");
    for k in 5..8 {
        assert_eq!(send_prios(&r.fire()), [100]);
        assert_eq!(r.deadline(), T0 + ms(1000 * k));
    }
}

/// Aligned Masters that took over at different moments advertise in the same instants from
/// their second advert on, whatever their interval, as long as one interval divides the other;
/// no gap is longer than the interval.
#[test]
fn aligned_masters_share_the_grid_whatever_their_start() {
    let mut times = Vec::new();
    for (start_ms, cs) in [(0u64, 100u16), (333, 100), (999, 100), (1234, 10), (77, 50)] {
        let mut c = cfg(Version::V3, 255);
        c.adver_interval_cs = cs;
        let mut r = Rig::new(c, ME);
        r.at(T0 + ms(start_ms));
        assert_eq!(send_prios(&r.ev(Event::Startup)), [255]);
        let interval = ms(u64::from(cs) * 10);
        let mut last = r.now;
        let mut mine = Vec::new();
        while r.deadline() < T0 + ms(6000) {
            r.fire();
            assert!(
                r.now - last <= interval,
                "gap {:?} > {interval:?}",
                r.now - last
            );
            last = r.now;
            mine.push(r.now);
        }
        assert!(mine
            .iter()
            .all(|t| (t.as_nanos() % interval.as_nanos()) == 0));
        times.push(mine);
    }
    // The 1 s Masters send at the same instants: T0 + 1 s, 2 s, ... (the one at 999 ms first at
    // T0 + 1 s, one millisecond after its first advert).
    assert_eq!(times[0][..5], times[1][..5]);
    assert_eq!(times[1][1..5], times[2][1..5]);
    // And the 100 ms and 500 ms ones send at every whole second too (once they run).
    for t in times[0].iter().filter(|&&t| t >= T0 + ms(2000)) {
        assert!(times[3].contains(t) && times[4].contains(t), "{t:?}");
    }
}

/// Under 100 ms (`timers::GRID_MIN_INTERVAL`) the grid is off even with `align_adverts`: a 10 ms
/// and a 90 ms Master keep the phase of their takeover at 3 ms.
#[test]
fn short_intervals_keep_their_own_phase() {
    for cs in [1u16, 9] {
        let mut c = cfg(Version::V3, 255);
        c.adver_interval_cs = cs;
        let mut r = Rig::new(c, ME);
        r.at(T0 + ms(3));
        r.ev(Event::Startup);
        for k in 1..5u64 {
            r.fire();
            assert_eq!(r.now, T0 + ms(3 + u64::from(cs) * 10 * k), "{cs} cs");
        }
    }
}

/// `align_adverts` off: a Master that took over at 333 ms keeps that phase (RFC 9568 §6.4.1).
#[test]
fn unaligned_master_keeps_its_own_phase() {
    let mut r = Rig::new(literal(cfg(Version::V3, 255)), ME);
    r.at(T0 + ms(333));
    r.ev(Event::Startup);
    for k in 1..5 {
        r.fire();
        assert_eq!(r.now, T0 + ms(333 + 1000 * k));
    }
}

/// N34 (§6.4.2): IPv6 Backup timeout → Announce (the daemon joins solicited-node groups and
/// sends NAs), advert listing the link-local VIP first.
#[test]
fn n34_s4_ipv6_timeout_announces() {
    let (mut r, _) = Rig::start(cfg6(100), "fe80::2");
    let a = r.fire();
    assert_eq!(r.state(), State::Master);
    assert!(has(&a, &Action::Announce));
    assert_eq!(sends(&a)[0].addrs[0], ip("fe80::1"));
}

/// N35 (§6.4.2, S3): Backup Shutdown → Init, nothing sent, Stopped at once.
#[test]
fn n35_s3_backup_shutdown() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    let a = r.ev(Event::Shutdown);
    assert_eq!(
        a,
        vec![
            Action::Transition {
                from: State::Backup,
                to: State::Initialize,
                reason: Reason::Shutdown
            },
            Action::Stopped
        ]
    );
    assert_eq!(r.inst.next_deadline(), None);
    assert!(!r.inst.is_running());
}

/// N36 (§6.4.2, S5): Backup prio 100, 1 s, priority-0 advert → takes over after Skew_Time
/// (609.375 ms), with the reason naming the leaver.
#[test]
fn n36_s5_prio0_down_timer_is_skew() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    r.at(T0 + ms(500));
    assert!(r.rx(PEER, &v3(0, 100)).is_empty());
    assert_eq!(r.deadline(), T0 + ms(500) + ns(609_375_000));
    let a = r.fire();
    assert_eq!(
        transitions(&a),
        [(
            State::Backup,
            State::Master,
            Reason::PriorityZero { peer: ip(PEER) }
        )]
    );
    assert_eq!(r.inst.counters().prio0_rcvd(), 1);
}

/// N37 (§6.4.2, S6; RFC 9568 recomputes Skew too): Backup hears prio 200 at 50 cs → learns 50 cs.
#[test]
fn n37_s6_backup_learns_interval() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    r.at(T0 + ms(100));
    r.rx(PEER, &v3(200, 50));
    assert_eq!(r.inst.master_adver_interval(), ms(500));
    assert_eq!(r.inst.skew_time(), ns(304_687_500));
    assert_eq!(r.inst.master_down_interval(), ns(1_804_687_500));
    assert_eq!(r.deadline(), T0 + ms(100) + ns(1_804_687_500));
    assert_eq!(r.inst.master_addr(), Some(ip(PEER)));
}

/// N38 (§6.4.2, S7): Backup 150 with preempt hears 100 → discarded (no re-arm, nothing learned);
/// takes over when its down timer fires.
#[test]
fn n38_s7_preempt_discards_lower() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 150), ME);
    let first = r.deadline();
    r.at(T0 + ms(1000));
    assert!(r
        .rx(PEER, &v3(100, 50))
        .iter()
        .all(|a| matches!(a, Action::Notice(_))));
    assert_eq!(r.deadline(), first);
    assert_eq!(r.inst.master_adver_interval(), ms(1000));
    r.fire();
    assert_eq!(r.state(), State::Master);
    assert_eq!(r.now, first);
}

/// N39 (§6.4.2, S6): Backup 150 with preempt off hears 100 → down timer reset.
#[test]
fn n39_s6_no_preempt_resets_timer() {
    let mut c = cfg(Version::V3, 150);
    c.preempt = false;
    let (mut r, _) = Rig::start(c, ME);
    r.at(T0 + ms(3000));
    r.rx(PEER, &v3(100, 100));
    assert_eq!(r.deadline(), T0 + ms(3000) + ns(3_414_062_500));
    assert_eq!(r.inst.master_addr(), Some(ip(PEER)));
}

/// N39 (§6.4.2, S6): preempt on, equal priority → down timer reset (no tie-break in Backup).
#[test]
fn n39_s6_equal_priority_resets_timer() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 150), "192.0.2.200");
    r.at(T0 + ms(3000));
    r.rx(PEER, &v3(150, 100));
    assert_eq!(r.deadline(), T0 + ms(3000) + ns(3_414_062_500));
    assert_eq!(r.state(), State::Backup);
}

/// §6.1: an owner demoted to Backup (N48) preempts regardless of Preempt_Mode: lower adverts are
/// discarded (S7), so it takes over when the timer fires.
#[test]
fn owner_in_backup_preempts_despite_preempt_off() {
    let mut c = cfg(Version::V3, 255);
    c.preempt = false;
    let (mut r, _) = Rig::start(c, ME);
    r.at(T0 + ms(10));
    r.rx(PEER, &v3(255, 100)); // higher address: owner goes Backup (N48)
    assert_eq!(r.state(), State::Backup);
    let d = r.deadline();
    r.at(T0 + ms(20));
    r.rx(PEER, &v3(200, 100));
    assert_eq!(
        r.deadline(),
        d,
        "lower advert must not reset an owner's timer"
    );
}

// ---- §6.4.3 Master --------------------------------------------------------------------------

/// N40 (§6.4.3, S9): Adver_Timer → advert, re-armed one interval later.
#[test]
fn n40_s9_adver_timer_sends_and_rearms() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 255), ME);
    let a = r.fire();
    assert_eq!(a, vec![Action::Send(v3(255, 100))]);
    assert_eq!(r.now, T0 + ms(1000));
    assert_eq!(r.deadline(), T0 + ms(2000));
    assert_eq!(r.inst.counters().adverts_sent(), 2);
}

/// N41 (§6.4.3, S8), handover off: priority-0 advert first, VIPs released, Init, Stopped.
#[test]
fn n41_s8_master_shutdown_sends_prio0() {
    let mut c = cfg(Version::V3, 255);
    c.handover = false;
    let (mut r, _) = Rig::start(c, ME);
    let a = r.ev(Event::Shutdown);
    assert_eq!(
        a,
        vec![
            Action::Send(v3(0, 100)),
            Action::RemoveVips,
            Action::RunHook {
                hook: Hook::Backup,
                prev: State::Master
            },
            Action::Transition {
                from: State::Master,
                to: State::Initialize,
                reason: Reason::Shutdown
            },
            Action::Stopped,
        ]
    );
    assert_eq!(r.inst.next_deadline(), None);
    assert!(!r.inst.holds_vips());
    assert_eq!(r.inst.counters().prio0_sent(), 1);
}

/// N42 (§6.4.3, S10): Master hears priority 0 → advert at once, Adver_Timer reset.
#[test]
fn n42_s10_prio0_immediate_advert() {
    let (mut r, _) = Rig::start(literal(cfg(Version::V3, 255)), ME);
    r.at(T0 + ms(300));
    let a = r.rx(PEER, &v3(0, 100));
    assert_eq!(send_prios(&a), [255]);
    assert_eq!(r.deadline(), T0 + ms(1300));
    // Aligned (the default): the advert at once, and the schedule stays on the grid.
    let (mut r, _) = Rig::start(cfg(Version::V3, 255), ME);
    r.at(T0 + ms(300));
    assert_eq!(send_prios(&r.rx(PEER, &v3(0, 100))), [255]);
    assert_eq!(r.deadline(), T0 + ms(1000));
}

/// N43 (§6.4.3, S11): Master 100 hears 150 at 200 cs → Backup, learns 200 cs, down = 600 cs +
/// Skew (1.21875 s).
#[test]
fn n43_s11_higher_priority_demotes() {
    let mut r = Rig::master(cfg(Version::V3, 100), ME);
    r.at(r.now + ms(10));
    let a = r.rx(PEER, &v3(150, 200));
    assert_eq!(
        a,
        vec![
            Action::Notice(Notice::IntervalMismatch {
                peer: ip(PEER),
                theirs: 200,
                ours: 100
            }),
            Action::RemoveVips,
            Action::RunHook {
                hook: Hook::Backup,
                prev: State::Master
            },
            Action::Transition {
                from: State::Master,
                to: State::Backup,
                reason: Reason::HigherPriority {
                    peer: ip(PEER),
                    priority: 150
                }
            },
        ]
    );
    assert_eq!(r.inst.master_adver_interval(), ms(2000));
    assert_eq!(r.inst.master_down_interval(), ns(7_218_750_000));
    assert_eq!(r.deadline(), r.now + ns(7_218_750_000));
    assert_eq!(r.inst.master_addr(), Some(ip(PEER)));
    assert!(!r.inst.holds_vips());
}

/// N44 (§6.4.3, S12, RFC 9568): Master 100 hears 50 → discard and send an advert at once; the
/// Adver_Timer schedule is left alone.
#[test]
fn n44_s12_lower_priority_v3_sends_at_once() {
    let mut r = Rig::master(cfg(Version::V3, 100), ME);
    let d = r.deadline();
    r.at(r.now + ms(10));
    let a = r.rx(PEER, &v3(50, 100));
    assert_eq!(a, vec![Action::Send(v3(100, 100)), Action::Announce]);
    assert_eq!(r.state(), State::Master);
    assert_eq!(r.deadline(), d);
}

/// N44 (RFC 3768 §6.4.3): v2 Master hearing a lower priority sends no advert; it re-announces
/// its addresses (issue #17, address refresh: a split brain healing).
#[test]
fn n44_s12_lower_priority_v2_discards_only() {
    let mut r = Rig::master(cfg(Version::V2, 100), ME);
    r.at(r.now + ms(10));
    assert_eq!(r.rx(PEER, &v2(50, 1)), vec![Action::Announce]);
    assert_eq!(r.state(), State::Master);
}

/// Issue #17 (address refresh): a Master hearing lower-priority adverts re-announces its
/// addresses at once, at most once per REANNOUNCE_MIN_GAP (1 s); S10 (priority 0) and S11 do not.
#[test]
fn s12_reannounce_is_rate_limited_to_one_per_second() {
    use vrrpd::proto::fsm::REANNOUNCE_MIN_GAP;
    assert_eq!(REANNOUNCE_MIN_GAP, ms(1000));
    let mut r = Rig::master(cfg(Version::V3, 100), ME);
    let t = r.now + ms(10);
    let mut announces = Vec::new();
    for k in 0..25u64 {
        r.at(t + ms(100 * k));
        if r.rx(PEER, &v3(50, 100)).contains(&Action::Announce) {
            announces.push(100 * k);
        }
    }
    assert_eq!(announces, [0, 1000, 2000]);
    assert!(!r.rx(PEER, &v3(0, 100)).contains(&Action::Announce));
}

/// N45 (§6.4.3, S11 tie-break): equal priority from a greater address, compared as unsigned
/// big-endian integers (198.51.100.1 > 192.0.2.2, though a little-endian s_addr compare says
/// otherwise) → Backup.
#[test]
fn n45_s11_tie_break_higher_address_wins() {
    for peer in ["198.51.100.1", "192.0.2.10"] {
        let mut r = Rig::master(cfg(Version::V3, 100), "192.0.2.2");
        r.at(r.now + ms(10));
        let a = r.rx(peer, &v3(100, 100));
        assert_eq!(
            transitions(&a),
            [(
                State::Master,
                State::Backup,
                Reason::PreemptedBy {
                    peer: ip(peer),
                    priority: 100
                }
            )],
            "peer {peer}"
        );
    }
}

/// N46 (§6.4.3, S12): equal priority from a lower address → stays Master (and asserts itself).
#[test]
fn n46_s12_tie_break_lower_address_loses() {
    let mut r = Rig::master(cfg(Version::V3, 100), "198.51.100.1");
    r.at(r.now + ms(10));
    let a = r.rx("192.0.2.2", &v3(100, 100));
    assert_eq!(r.state(), State::Master);
    assert_eq!(send_prios(&a), [100]);
}

/// N47 (§6.4.3): IPv6 tie-break on link-local sources: fe80::2 hears equal prio from fe80::10.
#[test]
fn n47_s11_ipv6_tie_break() {
    let mut r = Rig::master(cfg6(100), "fe80::2");
    r.at(r.now + ms(10));
    let mut adv = v3(100, 100);
    adv.addrs = vec![ip("fe80::1"), ip("2001:db8::1")];
    r.rx("fe80::10", &adv);
    assert_eq!(r.state(), State::Backup);
    // And the other way round: fe80::10 stays Master.
    let mut r = Rig::master(cfg6(100), "fe80::10");
    r.rx("fe80::2", &adv);
    assert_eq!(r.state(), State::Master);
}

/// N48 (erratum 8298, R10): an owner hearing 255 from another router notes owner_conflict and
/// processes it by S11: the higher address wins.
#[test]
fn n48_r10_owner_conflict_processed() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 255), ME);
    r.at(T0 + ms(10));
    let a = r.rx(PEER, &v3(255, 100));
    assert_eq!(notices(&a), [Notice::OwnerConflict { peer: ip(PEER) }]);
    assert_eq!(r.count(DiscardReason::OwnerConflict), 1);
    assert_eq!(r.state(), State::Backup);
    // The owner with the greater address notes it too but stays Master.
    let (mut r, _) = Rig::start(cfg(Version::V3, 255), PEER);
    let a = r.rx(ME, &v3(255, 100));
    assert_eq!(notices(&a), [Notice::OwnerConflict { peer: ip(ME) }]);
    assert_eq!(r.state(), State::Master);
}

// ---- §7.1 receive checks --------------------------------------------------------------------

/// N50 (RFC 9568 §7.1, R13): v3 interval 50 vs ours 100 → processed, interval_mismatch counted.
#[test]
fn n50_r13_v3_interval_mismatch_noted() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    r.at(T0 + ms(1));
    let a = r.rx(PEER, &v3(200, 50));
    assert_eq!(
        notices(&a),
        [Notice::IntervalMismatch {
            peer: ip(PEER),
            theirs: 50,
            ours: 100
        }]
    );
    assert_eq!(r.count(DiscardReason::IntervalMismatch), 1);
    assert_eq!(r.inst.counters().adverts_rcvd(), 1);
    assert_eq!(r.inst.master_adver_interval(), ms(500));
}

/// N51 (RFC 3768 §7.1, R13): v2 interval mismatch → discarded, counted, timer untouched.
#[test]
fn n51_r13_v2_interval_mismatch_discarded() {
    let (mut r, _) = Rig::start(cfg(Version::V2, 100), ME);
    let d = r.deadline();
    r.at(T0 + ms(1));
    let a = r.rx(PEER, &v2(200, 2));
    assert!(notices(&a).contains(&discard(DiscardReason::IntervalMismatch, PEER)));
    assert_eq!(r.count(DiscardReason::IntervalMismatch), 1);
    assert_eq!(r.deadline(), d);
    assert_eq!(r.inst.counters().adverts_rcvd(), 0);
}

fn pw(s: &str) -> Auth {
    let mut b = [0u8; 8];
    b[..s.len()].copy_from_slice(s.as_bytes());
    Auth::Password(b)
}

/// N52 (RFC 3768 §5.3.6, R11): no auth configured, type 1 received → bad_auth_type.
#[test]
fn n52_r11_v2_auth_type_mismatch() {
    let (mut r, _) = Rig::start(cfg(Version::V2, 100), ME);
    let d = r.deadline();
    let mut adv = v2(200, 1);
    adv.auth = pw("secret1");
    let a = r.rx(PEER, &adv);
    assert_eq!(notices(&a), [discard(DiscardReason::BadAuthType, PEER)]);
    assert_eq!(r.count(DiscardReason::BadAuthType), 1);
    assert_eq!(r.deadline(), d);
}

/// N52 (RFC 3768 §5.3.6, R11): password configured: wrong password → bad_auth; none →
/// bad_auth_type; right password → processed.
#[test]
fn n52_r11_v2_password() {
    let mut c = cfg(Version::V2, 100);
    c.auth = pw("secret1");
    let (mut r, _) = Rig::start(c, ME);
    let d = r.deadline();
    let mut adv = v2(200, 1);
    adv.auth = pw("secret2");
    assert_eq!(
        notices(&r.rx(PEER, &adv)),
        [discard(DiscardReason::BadAuth, PEER)]
    );
    adv.auth = Auth::None;
    assert_eq!(
        notices(&r.rx(PEER, &adv)),
        [discard(DiscardReason::BadAuthType, PEER)]
    );
    assert_eq!(r.deadline(), d);
    adv.auth = pw("secret1");
    r.at(T0 + ms(5));
    assert!(r.rx(PEER, &adv).is_empty());
    assert_eq!(r.deadline(), T0 + ms(5) + ns(3_609_375_000));
    assert_eq!(r.count(DiscardReason::BadAuth), 1);
    assert_eq!(r.count(DiscardReason::BadAuthType), 1);
}

/// N53 (RFC 3768 §7.1, R12): v2 address list mismatch from prio 100 → discarded.
#[test]
fn n53_r12_v2_addr_mismatch_discarded() {
    let (mut r, _) = Rig::start(cfg(Version::V2, 100), ME);
    let d = r.deadline();
    let mut adv = v2(200, 1);
    adv.addrs = vec![ip("192.0.2.251")];
    r.at(T0 + ms(5));
    let a = r.rx(PEER, &adv);
    assert_eq!(
        notices(&a),
        [
            Notice::AddrMismatch { peer: ip(PEER) },
            discard(DiscardReason::AddrMismatch, PEER)
        ]
    );
    assert_eq!(r.deadline(), d);
    assert_eq!(r.count(DiscardReason::AddrMismatch), 1);
}

/// N53 (RFC 3768 §7.1, R12): v2 mismatch from the owner (prio 255) → processed.
#[test]
fn n53_r12_v2_addr_mismatch_owner_processed() {
    let (mut r, _) = Rig::start(cfg(Version::V2, 100), ME);
    let mut adv = v2(255, 1);
    adv.addrs = vec![ip("192.0.2.251")];
    r.at(T0 + ms(5));
    let a = r.rx(PEER, &adv);
    assert_eq!(notices(&a), [Notice::AddrMismatch { peer: ip(PEER) }]);
    assert_eq!(r.deadline(), T0 + ms(5) + ns(3_609_375_000));
}

/// N53 (RFC 9568 §7.1, R12): v3 mismatch → noted and processed; the same set in another order
/// is no mismatch.
#[test]
fn n53_r12_v3_addr_mismatch_noted() {
    let mut c = cfg(Version::V3, 100);
    c.vips = vec![ip("192.0.2.250"), ip("192.0.2.251")];
    let (mut r, _) = Rig::start(c, ME);
    let mut adv = v3(200, 100);
    adv.addrs = vec![ip("192.0.2.251"), ip("192.0.2.250")];
    r.at(T0 + ms(5));
    assert!(r.rx(PEER, &adv).is_empty());
    adv.addrs = vec![ip("192.0.2.251")];
    r.at(T0 + ms(10));
    let a = r.rx(PEER, &adv);
    assert_eq!(notices(&a), [Notice::AddrMismatch { peer: ip(PEER) }]);
    assert_eq!(r.deadline(), T0 + ms(10) + ns(3_609_375_000));
    assert_eq!(r.count(DiscardReason::AddrMismatch), 1);
}

/// N55 (RFC 9568 §8.4.2): a v3 Backup in v2 interop mode times out on a v2 Master's rate: 1 s →
/// 300 cs + Skew, though its own interval is 10 cs.
#[test]
fn n55_interop_backup_times_out_on_v2_rate() {
    let mut c = cfg(Version::V3, 100);
    c.adver_interval_cs = 10;
    c.interop_v2 = true;
    let (mut r, _) = Rig::start(c, ME);
    r.at(T0 + ms(5));
    let a = r.rx(PEER, &v2(200, 1));
    assert!(!notices(&a)
        .iter()
        .any(|n| matches!(n, Notice::Discard { .. })));
    assert_eq!(r.inst.master_adver_interval(), ms(1000));
    assert_eq!(r.deadline(), T0 + ms(5) + ns(3_609_375_000));
}

/// RFC 9568 §8.4.2: in interop mode, VRRPv2 adverts from a router also heard sending VRRPv3 are
/// ignored, and a Master sends both versions.
#[test]
fn interop_ignores_v2_from_v3_speaker_and_master_sends_both() {
    let mut c = cfg(Version::V3, 100);
    c.interop_v2 = true;
    let (mut r, _) = Rig::start(c, ME);
    r.at(T0 + ms(5));
    r.rx(PEER, &v3(200, 100));
    r.at(T0 + ms(10));
    assert!(r.rx(PEER, &v2(200, 3)).is_empty());
    assert_eq!(r.deadline(), T0 + ms(5) + ns(3_609_375_000));
    let a = r.fire();
    let s = sends(&a);
    assert_eq!(s.len(), 2);
    assert_eq!((s[0].version, s[0].interval), (Version::V3, 100));
    assert_eq!((s[1].version, s[1].interval), (Version::V2, 1));
}

/// N21 (§7.1, R3): a v2 advert at a v3 instance → bad_version, with a split-brain notice.
#[test]
fn r3_version_mismatch_notice() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    let d = r.deadline();
    let a = r.rx(PEER, &v2(200, 1));
    assert_eq!(
        notices(&a),
        [
            Notice::VersionMismatch {
                peer: ip(PEER),
                theirs: Version::V2
            },
            discard(DiscardReason::BadVersion, PEER)
        ]
    );
    assert_eq!(r.count(DiscardReason::BadVersion), 1);
    assert_eq!(r.deadline(), d);
}

/// N26 (§7.1, R6): another VRID → other_vrid counted, silently.
#[test]
fn r6_other_vrid_silent() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    let d = r.deadline();
    let mut adv = v3(200, 100);
    adv.vrid = 7;
    assert!(r.rx(PEER, &adv).is_empty());
    assert_eq!(r.count(DiscardReason::OtherVrid), 1);
    assert_eq!(r.deadline(), d);
}

/// R14: our own advert looped back (src == our primary) → own_packet, even as owner (no false
/// owner conflict).
#[test]
fn r14_own_packet() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 255), ME);
    let a = r.rx(ME, &v3(255, 100));
    assert_eq!(notices(&a), [discard(DiscardReason::OwnPacket, ME)]);
    assert_eq!(r.count(DiscardReason::OwnPacket), 1);
    assert_eq!(r.count(DiscardReason::OwnerConflict), 0);
    assert_eq!(r.state(), State::Master);
}

/// R7–R9 repeated for injected adverts: count 0, interval 0 (erratum 8301) are discarded; an IPv6
/// first address that is not link-local (erratum 8300) is counted as `bad_v6_first_addr` but
/// processed, because keepalived 2.2.7 and FRR 8.4 send only the global VIP (tests/interop.rs).
#[test]
fn r7_r8_r9_injected_adverts_checked() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    let mut adv = v3(200, 100);
    adv.addrs.clear();
    assert_eq!(
        notices(&r.rx(PEER, &adv)),
        [discard(DiscardReason::BadAddrCount, PEER)]
    );
    assert_eq!(
        notices(&r.rx(PEER, &v3(200, 0))),
        [discard(DiscardReason::BadInterval, PEER)]
    );
    assert_eq!(r.inst.counters().adverts_rcvd(), 0);
    let (mut r, _) = Rig::start(cfg6(100), "fe80::2");
    let mut adv = v3(200, 100);
    // An IPv4 source at an IPv6 instance.
    adv.addrs = vec![ip("fe80::1"), ip("2001:db8::1")];
    assert_eq!(
        notices(&r.rx(PEER, &adv)),
        [discard(DiscardReason::BadFamily, PEER)]
    );
    assert_eq!(r.inst.counters().adverts_rcvd(), 0);
    // Same set, global address first: noted and processed (the Backup follows the Master).
    adv.addrs = vec![ip("2001:db8::1"), ip("fe80::1")];
    assert_eq!(
        notices(&r.rx("fe80::3", &adv)),
        [Notice::V6FirstNotLinkLocal {
            peer: ip("fe80::3")
        }]
    );
    assert_eq!(r.count(DiscardReason::BadV6FirstAddr), 1);
    assert_eq!(r.inst.counters().adverts_rcvd(), 1);
    assert_eq!(r.inst.master_addr(), Some(ip("fe80::3")));
    // What keepalived and FRR send: the global VIP alone. Also an address mismatch (v3: noted).
    adv.addrs = vec![ip("2001:db8::1")];
    assert_eq!(
        notices(&r.rx("fe80::3", &adv)),
        [
            Notice::V6FirstNotLinkLocal {
                peer: ip("fe80::3")
            },
            Notice::AddrMismatch {
                peer: ip("fe80::3")
            }
        ]
    );
    assert_eq!(r.count(DiscardReason::BadV6FirstAddr), 2);
    assert_eq!(r.inst.counters().adverts_rcvd(), 2);
    assert_eq!(r.state(), State::Backup);
}

/// N22 (RFC 9568 §5.1.1.3, R1): TTL 254 → bad_ttl, before parsing.
#[test]
fn r1_packet_bad_ttl() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    let a = r.ev(Event::Packet {
        src: ip(PEER),
        dst: ip("224.0.0.18"),
        ttl: 254,
        ip_options: false,
        payload: &[0x31, VRID, 200, 1, 0, 100, 0, 0, 192, 0, 2, 250],
    });
    assert_eq!(notices(&a), [discard(DiscardReason::BadTtl, PEER)]);
    assert_eq!(r.count(DiscardReason::BadTtl), 1);
}

/// §7.1: a packet that does not parse is counted under `Error::reason` (3 bytes: too short).
#[test]
fn r2_packet_parse_error_counted() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    let payload = [0x31, VRID, 200];
    let err = packet::parse(&payload, ip(PEER), ip("224.0.0.18")).unwrap_err();
    let a = r.ev(Event::Packet {
        src: ip(PEER),
        dst: ip("224.0.0.18"),
        ttl: 255,
        ip_options: false,
        payload: &payload,
    });
    assert_eq!(notices(&a), [discard(err.reason(), PEER)]);
    assert_eq!(r.count(err.reason()), 1);
}

/// Issue 13 (hostile neighbours): an otherwise valid advert carried with IPv4 options (or, on
/// IPv6, a Hop-by-Hop options header) is `ip_options`, before parsing; the same advert without
/// them is received. RFC 9568 §7.1 has no such check: vrrpd's hardening (no VRRP sender adds
/// options).
#[test]
fn ip_options_discarded() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    let adv = v3(200, 100);
    let mut payload = vec![0u8; adv.buffer_len()];
    let n = adv
        .emit(
            &mut payload,
            ip(PEER),
            ip("224.0.0.18"),
            ChecksumForm::Pseudo,
        )
        .unwrap();
    let pkt = |ip_options| Event::Packet {
        src: ip(PEER),
        dst: ip("224.0.0.18"),
        ttl: 255,
        ip_options,
        payload: &payload[..n],
    };
    let a = r.ev(pkt(true));
    assert_eq!(notices(&a), [discard(DiscardReason::IpOptions, PEER)]);
    assert_eq!(r.count(DiscardReason::IpOptions), 1);
    assert_eq!(r.inst.counters().adverts_rcvd(), 0);
    r.ev(pkt(false));
    assert_eq!(r.inst.counters().adverts_rcvd(), 1);
    assert_eq!(r.count(DiscardReason::IpOptions), 1);
}

/// Issue 13 (hostile neighbours): an advert from a source no router may use (RFC 9568
/// §5.1.1.1, §5.1.2.1; RFC 1122 §3.2.1.3; RFC 4291 §2.5.2, §2.5.3, §2.7) is `bad_src`, as a raw
/// packet and as a parsed advert, and elects nobody: a priority-254 advert from 0.0.0.0 made a
/// Master step down before (the kernel delivers 0.0.0.0 → 224.0.0.18).
#[test]
fn bogus_sources_discarded_as_bad_src() {
    for src in [
        "0.0.0.0",
        "0.1.2.3",
        "127.0.0.1",
        "224.0.0.18",
        "240.0.0.1",
        "255.255.255.255",
    ] {
        let mut r = Rig::master(cfg(Version::V3, 200), ME);
        let mut adv = v3(254, 100);
        adv.addrs = vec![ip(VIP)];
        let mut payload = vec![0u8; adv.buffer_len()];
        let n = adv
            .emit(
                &mut payload,
                ip(src),
                ip("224.0.0.18"),
                ChecksumForm::Pseudo,
            )
            .unwrap();
        let a = r.ev(Event::Packet {
            src: ip(src),
            dst: ip("224.0.0.18"),
            ttl: 255,
            ip_options: false,
            payload: &payload[..n],
        });
        assert_eq!(
            notices(&a),
            [discard(DiscardReason::BadSource, src)],
            "{src}"
        );
        let a = r.rx(src, &adv);
        assert_eq!(
            notices(&a),
            [discard(DiscardReason::BadSource, src)],
            "{src}"
        );
        assert_eq!(r.count(DiscardReason::BadSource), 2, "{src}");
        assert_eq!(r.state(), State::Master, "{src}");
    }
    for src in ["::", "::1", "ff02::1", "::ffff:192.0.2.9"] {
        let (mut r, _) = Rig::start(cfg6(100), "fe80::2");
        let d = r.deadline();
        let mut adv = v3(254, 100);
        adv.addrs = vec![ip("fe80::1"), ip("2001:db8::1")];
        let a = r.rx(src, &adv);
        assert_eq!(
            notices(&a),
            [discard(DiscardReason::BadSource, src)],
            "{src}"
        );
        assert_eq!(r.deadline(), d, "{src}: the down timer moved");
        assert_eq!(r.inst.counters().adverts_rcvd(), 0);
    }
    // A virtual address as the source: only the owner's adverts (255, or 0 when it stops).
    let mut r = Rig::master(cfg(Version::V3, 200), ME);
    let a = r.rx(VIP, &v3(254, 100));
    assert_eq!(notices(&a), [discard(DiscardReason::BadSource, VIP)]);
    assert_eq!(r.state(), State::Master);
    assert!(r
        .rx(VIP, &v3(0, 100))
        .iter()
        .any(|a| matches!(a, Action::Send(_))));
    assert_eq!(r.count(DiscardReason::BadSource), 1);
    r.rx(VIP, &v3(255, 100));
    assert_eq!(r.state(), State::Backup, "the owner's advert is heard");
    // Unicast sources of every kind are fine (a link-local IPv4 one included).
    for src in [
        "192.0.2.2",
        "169.254.1.1",
        "198.51.100.7",
        "fe80::9",
        "2001:db8::9",
    ] {
        assert!(packet::is_router_source(ip(src)), "{src}");
    }
}

/// Digest §2 (N9/N10 decision): checksum forms counted per peer; peers past the cap share a row.
#[test]
fn checksum_forms_counted_per_peer() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    r.rx_form(PEER, &v3(200, 100), Some(ChecksumForm::Pseudo));
    r.rx_form(PEER, &v3(200, 100), Some(ChecksumForm::Pseudo));
    r.rx_form(PEER, &v3(200, 100), Some(ChecksumForm::Plain));
    r.rx_form("192.0.2.3", &v3(50, 100), Some(ChecksumForm::Plain));
    let c = r.inst.counters();
    assert_eq!(c.checksum_forms_of(ip(PEER)), (2, 1));
    assert_eq!(c.checksum_forms_of(ip("192.0.2.3")), (0, 1));
    assert_eq!(c.checksum_forms().len(), 2);
    for i in 0..MAX_CHECKSUM_PEERS as u8 {
        let src = format!("192.0.2.{}", 100 + i);
        r.rx_form(&src, &v3(200, 100), Some(ChecksumForm::Plain));
    }
    let c = r.inst.counters();
    assert_eq!(c.checksum_forms().len(), MAX_CHECKSUM_PEERS);
    assert_eq!(c.checksum_forms_other(), (0, 2));
}

// ---- Fault ----------------------------------------------------------------------------------

/// Fault from Master: priority-0 advert first, VIPs removed, fault hook, no timer armed.
#[test]
fn fault_from_master() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 255), ME);
    r.at(T0 + ms(100));
    let a = r.ev(Event::FaultSet(FaultReason::LinkDown));
    assert_eq!(
        a,
        vec![
            Action::Send(v3(0, 100)),
            Action::RemoveVips,
            Action::RunHook {
                hook: Hook::Fault,
                prev: State::Master
            },
            Action::Transition {
                from: State::Master,
                to: State::Fault,
                reason: Reason::Fault(FaultReason::LinkDown)
            },
        ]
    );
    assert_eq!(r.inst.next_deadline(), None);
    assert!(!r.inst.holds_vips());
    assert_eq!(r.inst.last_reason().unwrap().to_string(), "link down");
    // Adverts are not heard in Fault.
    assert!(r.rx(PEER, &v3(0, 100)).is_empty());
    assert_eq!(r.inst.counters().adverts_rcvd(), 0);
}

/// Fault with several reasons: stays until the last clears, then Init → Backup (hook Backup).
#[test]
fn fault_several_reasons_leave_on_last_clear() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    r.ev(Event::FaultSet(FaultReason::LinkDown));
    assert!(r.ev(Event::FaultSet(FaultReason::Group)).is_empty());
    assert!(r.ev(Event::FaultSet(FaultReason::Group)).is_empty());
    assert_eq!(r.state(), State::Fault);
    r.at(T0 + ms(50));
    assert!(r.ev(Event::FaultClear(FaultReason::LinkDown)).is_empty());
    assert_eq!(r.state(), State::Fault);
    r.at(T0 + ms(60));
    let a = r.ev(Event::FaultClear(FaultReason::Group));
    assert_eq!(
        a,
        vec![
            Action::Transition {
                from: State::Fault,
                to: State::Initialize,
                reason: Reason::FaultCleared
            },
            Action::RunHook {
                hook: Hook::Backup,
                prev: State::Fault
            },
            Action::Transition {
                from: State::Initialize,
                to: State::Backup,
                reason: Reason::FaultCleared
            },
        ]
    );
    assert_eq!(r.deadline(), T0 + ms(60) + ns(3_609_375_000));
}

/// Fault at Startup, and an owner returns to Master when it clears.
#[test]
fn fault_at_startup_then_owner_back_to_master() {
    let mut r = Rig::new(cfg(Version::V3, 255), ME);
    r.ev(Event::FaultSet(FaultReason::LinkDown));
    let a = r.ev(Event::Startup);
    assert_eq!(
        transitions(&a),
        [(
            State::Initialize,
            State::Fault,
            Reason::Fault(FaultReason::LinkDown)
        )]
    );
    assert!(sends(&a).is_empty());
    let a = r.ev(Event::FaultClear(FaultReason::LinkDown));
    assert_eq!(r.state(), State::Master);
    assert!(has(&a, &Action::AddVips));
    assert!(has(
        &a,
        &Action::RunHook {
            hook: Hook::Master,
            prev: State::Fault
        }
    ));
}

/// No primary address: Startup goes to Fault(NoPrimaryAddress); learning one leaves it.
#[test]
fn fault_no_primary_address() {
    let mut inst = Instance::new(cfg(Version::V3, 100));
    let a = inst.handle(T0, Event::Startup);
    assert_eq!(inst.state(), State::Fault);
    assert_eq!(
        transitions(&a)[0].2,
        Reason::Fault(FaultReason::NoPrimaryAddress)
    );
    inst.handle(T0, Event::PrimaryAddress(Some(ip(ME))));
    assert_eq!(inst.state(), State::Backup);
    inst.handle(T0, Event::PrimaryAddress(None));
    assert_eq!(inst.state(), State::Fault);
    // An address of the other family counts as none.
    inst.handle(T0, Event::PrimaryAddress(Some(ip("fe80::1"))));
    assert_eq!(inst.state(), State::Fault);
    assert!(inst.fault_active(FaultReason::NoPrimaryAddress));
}

/// Shutdown in Fault: Init, Stopped at once.
#[test]
fn fault_shutdown() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    r.ev(Event::FaultSet(FaultReason::InterfaceGone));
    let a = r.ev(Event::Shutdown);
    assert_eq!(
        transitions(&a),
        [(State::Fault, State::Initialize, Reason::Shutdown)]
    );
    assert_eq!(a.last(), Some(&Action::Stopped));
}

// ---- ForceBackup ----------------------------------------------------------------------------

/// ForceBackup(true) as Master (atropos --backup, SIGUSR2): priority 0 at once, Backup; with
/// handover the VIPs stay until the new Master is heard.
#[test]
fn force_backup_master_steps_down() {
    let mut r = Rig::master(cfg(Version::V3, 100), ME);
    let a = r.ev(Event::ForceBackup(true));
    assert_eq!(send_prios(&a), [0]);
    assert!(!has(&a, &Action::RemoveVips));
    assert_eq!(
        transitions(&a),
        [(State::Master, State::Backup, Reason::ForcedBackup)]
    );
    assert!(r.inst.holds_vips());
    assert!(r.inst.forced_backup());
}

/// A forced Backup never promotes: the down timer just re-arms; cleared, it promotes again.
#[test]
fn force_backup_blocks_promotion_until_cleared() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 200), ME);
    r.ev(Event::ForceBackup(true));
    for _ in 0..3 {
        assert!(r.fire().is_empty());
        assert_eq!(r.state(), State::Backup);
        assert_eq!(r.deadline(), r.now + ns(3_218_750_000));
    }
    assert!(
        !r.inst.would_be_master(),
        "an operator hold is never ready to the host group"
    );
    // Released after the down timer expired with no master heard: promoted at once.
    let a = r.ev(Event::ForceBackup(false));
    assert_eq!(r.state(), State::Master);
    assert_eq!(
        transitions(&a)[0].2,
        Reason::HoldReleased { preempting: None }
    );
}

/// Released before the down timer expired: the normal rules apply (S4 when it fires).
#[test]
fn force_backup_released_early_waits_for_down_timer() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 200), ME);
    r.ev(Event::ForceBackup(true));
    assert!(!r.inst.would_be_master());
    assert!(r.ev(Event::ForceBackup(false)).is_empty());
    let a = r.fire();
    assert_eq!(r.state(), State::Master);
    assert_eq!(transitions(&a)[0].2, Reason::MasterDown);
}

/// Host group hold: a Master steps down with priority 0 (lossless handover), a held Backup
/// hearing a better Master is not ready, and the group release promotes a ready member at once.
#[test]
fn group_hold_steps_down_and_release_promotes_ready_member() {
    let mut r = Rig::master(cfg(Version::V3, 100), ME);
    let a = r.ev(Event::GroupHold(true));
    assert_eq!(send_prios(&a), [0]);
    assert_eq!(
        transitions(&a),
        [(State::Master, State::Backup, Reason::GroupHold)]
    );
    assert!(r.inst.group_held() && !r.inst.forced_backup());
    assert!(!r.inst.would_be_master());
    // Nobody else answers: the down timer fires while held, the member becomes ready.
    r.fire();
    r.fire();
    assert_eq!(r.state(), State::Backup);
    assert!(r.inst.would_be_master());
    let a = r.ev(Event::GroupHold(false));
    assert_eq!(
        transitions(&a),
        [(
            State::Backup,
            State::Master,
            Reason::HoldReleased { preempting: None }
        )]
    );
}

/// A held Backup that hears a better Master (S6) is not ready; the release changes nothing.
#[test]
fn group_hold_better_master_heard_is_not_ready() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    r.ev(Event::GroupHold(true));
    r.fire();
    assert!(r.inst.would_be_master());
    let adv = advert(Version::V3, 200, 100);
    r.rx(PEER, &adv);
    assert!(!r.inst.would_be_master());
    assert!(r.ev(Event::GroupHold(false)).is_empty());
    assert_eq!(r.state(), State::Backup);
}

/// A forced owner starts Backup too.
#[test]
fn force_backup_before_startup_keeps_owner_backup() {
    let mut r = Rig::new(cfg(Version::V3, 255), ME);
    r.ev(Event::ForceBackup(true));
    r.ev(Event::Startup);
    assert_eq!(r.state(), State::Backup);
}

// ---- SetPriority ----------------------------------------------------------------------------

/// SetPriority never changes an owner's 255.
#[test]
fn set_priority_owner_untouched() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 255), ME);
    assert!(r.ev(Event::SetPriority(100)).is_empty());
    assert_eq!(r.inst.priority(), 255);
}

/// SetPriority clamps a non-owner to 1..=254.
#[test]
fn set_priority_clamped() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    r.ev(Event::SetPriority(255));
    assert_eq!(r.inst.priority(), 254);
    r.ev(Event::SetPriority(0));
    assert_eq!(r.inst.priority(), 1);
}

/// SetPriority as Master: the new priority is advertised at once.
#[test]
fn set_priority_master_advertises_at_once() {
    let mut r = Rig::master(cfg(Version::V3, 100), ME);
    let d = r.deadline();
    let a = r.ev(Event::SetPriority(90));
    assert_eq!(send_prios(&a), [90]);
    assert_eq!(r.deadline(), d);
    assert_eq!(send_prios(&r.fire()), [90]);
}

/// SetPriority as Master, many times in one interval (a flapping tracker, a control client in
/// a loop): the immediate adverts share the S10/S12 budget of [`MAX_REPLIES_PER_INTERVAL`] per
/// advertisement interval, so the changes are not reflected 1:1 onto the wire; the regular
/// advert on its schedule carries the last priority.
#[test]
fn set_priority_master_immediate_adverts_rate_limited() {
    let mut r = Rig::master(literal(cfg(Version::V3, 100)), ME);
    let d = r.deadline();
    let mut sent = 0;
    for i in 0..1000u64 {
        r.at(r.now + Duration::from_micros(500));
        let p = if i % 2 == 0 { 90 } else { 80 };
        sent += send_prios(&r.ev(Event::SetPriority(p))).len();
    }
    assert!(r.now < d, "the changes overran the interval");
    assert!(
        (1..=usize::from(MAX_REPLIES_PER_INTERVAL)).contains(&sent),
        "{sent} immediate adverts for 1000 priority changes in one interval"
    );
    assert_eq!(r.deadline(), d, "the changes moved the Adver_Timer");
    assert_eq!(send_prios(&r.fire()), [80]);
    // The next interval's first change goes out at once again.
    r.at(r.now + ms(1));
    assert_eq!(send_prios(&r.ev(Event::SetPriority(70))), [70]);
}

/// SetPriority as Backup: Skew_Time and Master_Down_Interval follow; the armed deadline stays
/// until the next advert re-arms it.
#[test]
fn set_priority_backup_recomputes_timers() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    let d = r.deadline();
    assert!(r.ev(Event::SetPriority(150)).is_empty());
    assert_eq!(r.inst.skew_time(), ns(414_062_500));
    assert_eq!(r.inst.master_down_interval(), ns(3_414_062_500));
    assert_eq!(r.deadline(), d);
    r.at(T0 + ms(10));
    r.rx(PEER, &v3(200, 100));
    assert_eq!(r.deadline(), T0 + ms(10) + ns(3_414_062_500));
}

// ---- planned handover -----------------------------------------------------------------------

/// Handover on Shutdown: priority 0 at once, VIPs kept; the new Master's advert releases them,
/// runs the Backup hook and stops.
#[test]
fn handover_shutdown_keeps_vips_until_new_master() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 255), ME);
    r.at(T0 + ms(400));
    let a = r.ev(Event::Shutdown);
    assert_eq!(
        a,
        vec![
            Action::Send(v3(0, 100)),
            Action::Transition {
                from: State::Master,
                to: State::Initialize,
                reason: Reason::Shutdown
            },
        ]
    );
    assert!(r.inst.holds_vips());
    assert_eq!(
        r.inst.release_deadline(),
        Some(T0 + ms(400) + ns(3_003_906_250))
    );
    // A priority-0 advert from someone else does not release.
    r.at(T0 + ms(500));
    assert!(r.rx(PEER, &v3(0, 100)).is_empty());
    assert!(r.inst.holds_vips());
    r.at(T0 + ms(900));
    let a = r.rx(PEER, &v3(100, 100));
    assert_eq!(
        a,
        vec![
            Action::RemoveVips,
            Action::RunHook {
                hook: Hook::Backup,
                prev: State::Master
            },
            Action::Stopped
        ]
    );
    assert!(!r.inst.holds_vips());
    assert_eq!(r.inst.next_deadline(), None);
    assert_eq!(r.state(), State::Initialize);
}

/// Handover on Shutdown with nobody taking over: VIPs released at the deadline (MDI).
#[test]
fn handover_shutdown_releases_on_deadline() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 255), ME);
    r.ev(Event::Shutdown);
    r.at(T0 + ms(3000));
    assert!(r.ev(Event::Timeout).is_empty());
    let a = r.fire();
    assert_eq!(r.now, T0 + ns(3_003_906_250));
    assert_eq!(
        a,
        vec![
            Action::RemoveVips,
            Action::RunHook {
                hook: Hook::Backup,
                prev: State::Master
            },
            Action::Stopped
        ]
    );
    assert_eq!(r.inst.next_deadline(), None);
}

/// Handover off: VIPs released at once on ForceBackup.
#[test]
fn handover_off_releases_at_once() {
    let mut c = cfg(Version::V3, 100);
    c.handover = false;
    let mut r = Rig::master(c, ME);
    let a = r.ev(Event::ForceBackup(true));
    assert_eq!(
        a[..3],
        [
            Action::Send(v3(0, 100)),
            Action::RemoveVips,
            Action::RunHook {
                hook: Hook::Backup,
                prev: State::Master
            }
        ]
    );
    assert!(!r.inst.holds_vips());
    assert_eq!(r.inst.release_deadline(), None);
}

/// Handover in forced Backup: the new Master's advert both completes the release and is
/// processed normally: S6 with preempt off (timer re-armed, interval learned, master recorded),
/// S7 with preempt on (a lower priority: discarded, timer left alone).
#[test]
fn handover_forced_backup_release_and_s6() {
    for preempt in [false, true] {
        let mut c = cfg(Version::V3, 100);
        c.preempt = preempt;
        let mut r = Rig::master(c, ME);
        r.ev(Event::ForceBackup(true));
        let down = r.deadline();
        r.at(r.now + ms(700));
        let a = r.rx(PEER, &v3(90, 50));
        assert_eq!(
            a[a.len() - 2..],
            [
                Action::RemoveVips,
                Action::RunHook {
                    hook: Hook::Backup,
                    prev: State::Master
                }
            ]
        );
        assert!(!r.inst.holds_vips());
        assert_eq!(r.inst.release_deadline(), None);
        if preempt {
            // Recorded (shown by atropos), but S7 leaves the down timer alone.
            assert_eq!(r.inst.master_addr(), Some(ip(PEER)));
            assert_eq!(r.deadline(), down);
        } else {
            assert_eq!(r.inst.master_addr(), Some(ip(PEER)));
            assert_eq!(r.inst.master_adver_interval(), ms(500));
            assert_eq!(r.deadline(), r.now + r.inst.master_down_interval());
        }
    }
}

/// A second Shutdown during a handover finishes it at once.
#[test]
fn handover_second_shutdown_finishes() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 255), ME);
    r.ev(Event::Shutdown);
    let a = r.ev(Event::Shutdown);
    assert_eq!(a.first(), Some(&Action::RemoveVips));
    assert_eq!(a.last(), Some(&Action::Stopped));
    assert!(r.ev(Event::Shutdown) == vec![Action::Stopped]);
}

// ---- timers and counters --------------------------------------------------------------------

/// S9 without drift: a late Timeout does not shift the schedule.
#[test]
fn adver_timer_drift_free() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 255), ME);
    r.at(T0 + ms(1030));
    assert_eq!(send_prios(&r.ev(Event::Timeout)), [255]);
    assert_eq!(r.deadline(), T0 + ms(2000));
    r.at(T0 + ms(2999));
    assert_eq!(send_prios(&r.ev(Event::Timeout)), [255]);
    assert_eq!(r.deadline(), T0 + ms(3000));
}

/// S9: when more than an interval behind (e.g. suspended), resync to now + interval.
#[test]
fn adver_timer_resyncs_when_far_behind() {
    let (mut r, _) = Rig::start(literal(cfg(Version::V3, 255)), ME);
    r.at(T0 + ms(5500));
    assert_eq!(send_prios(&r.ev(Event::Timeout)), [255]);
    assert_eq!(r.deadline(), T0 + ms(6500));
    // Aligned (the default): back on the grid, the next whole second at least half an
    // interval on (5.5 s -> 6 s; 5.8 s -> 7 s, not 6 s: no second advert 200 ms after the late
    // one; tests/faults.rs group_member_sigstopped_group_goes_backup_and_recovers saw it).
    let (mut r, _) = Rig::start(cfg(Version::V3, 255), ME);
    r.at(T0 + ms(5500));
    assert_eq!(send_prios(&r.ev(Event::Timeout)), [255]);
    assert_eq!(r.deadline(), T0 + ms(6000));
    let (mut r, _) = Rig::start(cfg(Version::V3, 255), ME);
    r.at(T0 + ms(5800));
    assert_eq!(send_prios(&r.ev(Event::Timeout)), [255]);
    assert_eq!(r.deadline(), T0 + ms(7000));
}

/// A Timeout before the deadline is ignored (Backup and Master).
#[test]
fn timeout_before_deadline_ignored() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    let d = r.deadline();
    r.at(d - ns(1));
    assert!(r.ev(Event::Timeout).is_empty());
    assert_eq!(r.state(), State::Backup);
    let (mut r, _) = Rig::start(cfg(Version::V3, 255), ME);
    r.at(T0 + ms(999));
    assert!(r.ev(Event::Timeout).is_empty());
    assert_eq!(r.inst.counters().adverts_sent(), 1);
}

/// Transitions are counted per (from, to); `since` and `last_reason` follow the last one.
#[test]
fn transition_counters_since_reason() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    r.fire(); // Backup → Master
    r.at(r.now + ms(10));
    r.rx(PEER, &v3(200, 100)); // Master → Backup
    r.fire(); // Backup → Master
    let t = r.now;
    r.at(t + ms(1));
    r.ev(Event::FaultSet(FaultReason::LinkDown));
    let c = r.inst.counters();
    assert_eq!(c.transitions(State::Initialize, State::Backup), 1);
    assert_eq!(c.transitions(State::Backup, State::Master), 2);
    assert_eq!(c.transitions(State::Master, State::Backup), 1);
    assert_eq!(c.transitions(State::Master, State::Fault), 1);
    assert_eq!(c.transitions_into(State::Master), 2);
    assert_eq!(c.transitions_total(), 5);
    assert_eq!(r.inst.since(), t + ms(1));
    assert_eq!(
        r.inst.last_reason(),
        Some(&Reason::Fault(FaultReason::LinkDown))
    );
    assert_eq!(c.prio0_sent(), 1);
    assert_eq!(c.adverts_rcvd(), 1);
}

/// Nothing happens before Startup; a second Startup is ignored; send errors are counted.
#[test]
fn idle_before_startup() {
    let mut r = Rig::new(cfg(Version::V3, 100), ME);
    assert!(r.rx(PEER, &v3(200, 100)).is_empty());
    assert!(r.ev(Event::Timeout).is_empty());
    assert_eq!(r.inst.next_deadline(), None);
    assert_eq!(r.inst.counters().discards(DiscardReason::OtherVrid), 0);
    r.ev(Event::Startup);
    assert!(r.ev(Event::Startup).is_empty());
    r.inst.record_send_error();
    assert_eq!(r.inst.counters().send_errors(), 1);
}

/// Display strings used in logs and state dumps.
#[test]
fn display_strings() {
    let names: Vec<String> = State::ALL.iter().map(|s| s.to_string()).collect();
    assert_eq!(names, ["INIT", "BACKUP", "MASTER", "FAULT"]);
    assert_eq!(Reason::MasterDown.to_string(), "master down timer expired");
    assert_eq!(
        Reason::HigherPriority {
            peer: ip(PEER),
            priority: 200
        }
        .to_string(),
        "higher priority advert from 192.0.2.2 (prio 200)"
    );
    assert_eq!(
        Reason::PriorityZero { peer: ip(PEER) }.to_string(),
        "priority 0 advert from 192.0.2.2"
    );
}

/// N6 (erratum 8301) and the other ranges: validate names the field and the allowed range.
#[test]
fn config_validation() {
    let mut c = cfg(Version::V3, 100);
    for bad in [0, 4096] {
        c.adver_interval_cs = bad;
        let e = c.validate().unwrap_err();
        assert_eq!(
            e,
            ConfigError::Interval {
                version: Version::V3,
                cs: bad
            }
        );
        assert!(e.to_string().contains("adver_interval_cs") && e.to_string().contains("4095"));
    }
    let mut c = cfg(Version::V2, 100);
    c.adver_interval_cs = 150;
    assert!(c.validate().is_err());
    let mut c = cfg(Version::V3, 100);
    c.vrid = 0;
    assert!(c.validate().unwrap_err().to_string().starts_with("vrid"));
    let mut c = cfg(Version::V3, 0);
    assert!(c
        .validate()
        .unwrap_err()
        .to_string()
        .starts_with("priority"));
    c.priority = 255;
    c.auth = pw("x");
    assert_eq!(c.validate(), Err(ConfigError::AuthNeedsV2));
    // A global IPv6 address first (or alone) is allowed: keepalived and FRR configure and send
    // such lists (RFC 9568 §5.2.9 would want the link-local first; tests/interop.rs).
    let mut c = cfg6(100);
    c.vips.reverse();
    assert_eq!(c.validate(), Ok(()));
    c.vips = vec![ip("2001:db8::1")];
    assert_eq!(c.validate(), Ok(()));
    let mut c = cfg(Version::V2, 100);
    c.family = Family::V6;
    assert_eq!(c.validate(), Err(ConfigError::V2Ipv6));
    let mut c = cfg(Version::V3, 100);
    c.vips.push(ip(VIP));
    assert_eq!(c.validate(), Err(ConfigError::DuplicateVip(ip(VIP))));
    c.vips = vec![];
    assert_eq!(c.validate(), Err(ConfigError::NoVips));
}

/// SIGUSR2 (step down, then no hold) with no peer: the handover release and S4 fall due
/// together; the instance becomes Master again keeping its VIPs (no remove-then-add).
#[test]
fn step_down_without_peer_keeps_vips_when_promoted_again() {
    let mut r = Rig::master(cfg(Version::V3, 100), ME);
    r.ev(Event::ForceBackup(true));
    r.ev(Event::ForceBackup(false));
    assert_eq!(r.state(), State::Backup);
    assert!(r.inst.holds_vips());
    let a = r.fire();
    assert_eq!(r.state(), State::Master);
    assert!(
        !has(&a, &Action::RemoveVips) && !has(&a, &Action::AddVips),
        "{a:?}"
    );
    assert!(r.inst.holds_vips());
}

/// S9: an Adver_Timer handled more than an interval late resynchronises instead of bursting.
#[test]
fn late_adver_timer_resynchronises() {
    let mut r = Rig::master(literal(cfg(Version::V3, 100)), ME);
    let due = r.deadline();
    r.at(due + ms(1500));
    let a = r.ev(Event::Timeout);
    assert_eq!(send_prios(&a), [100]);
    assert_eq!(r.deadline(), due + ms(1500) + ms(1000));
}

// ---- a held Backup goes on hearing the Master (issue #20 item 1) ----------------------------

impl Rig {
    /// Advance to `until`, delivering `adv` from PEER at `first`, `first + every`, … and firing
    /// every deadline that falls due in between, in time order. Returns all the actions.
    fn run_with_peer(
        &mut self,
        adv: &Advert,
        first: Duration,
        every: Duration,
        until: Duration,
    ) -> Vec<Action> {
        let mut out = Vec::new();
        let mut next_adv = first;
        loop {
            let deadline = self.inst.next_deadline().filter(|&d| d <= until);
            match deadline {
                Some(d) if d < next_adv || next_adv > until => {
                    self.at(d);
                    out.extend(self.ev(Event::Timeout));
                }
                _ if next_adv <= until => {
                    self.at(next_adv);
                    out.extend(self.rx(PEER, adv));
                    next_adv += every;
                }
                _ => break,
            }
        }
        self.at(until);
        out
    }
}

/// The sequence: A (150) is Master, `--backup`; B (100) takes over and advertises every
/// second. A's Master_Down_Interval at 150 (3.41 s) passes while held. `--priority 50`, then
/// `--resume` before B's next advert: B is the better Master now, so A resumes as a plain Backup
/// (no transition, no hook) and shows B as the Master throughout.
#[test]
fn held_backup_resumes_quietly_under_a_better_master_after_priority_change() {
    let mut r = Rig::master(cfg(Version::V3, 150), ME);
    let t = r.now;
    r.ev(Event::ForceBackup(true));
    let b = v3(100, 100);
    let a = r.run_with_peer(&b, t + ms(610), ms(1000), t + ms(5000));
    assert!(transitions(&a).is_empty(), "{a:?}");
    assert_eq!(r.state(), State::Backup);
    assert_eq!(
        r.inst.master_addr(),
        Some(ip(PEER)),
        "a held Backup records the Master it hears, even a lower-priority one"
    );
    // 4.61 s is B's last advert; 5.0 s: priority 50, then resume, before B's advert at 5.61 s.
    assert!(r.ev(Event::SetPriority(50)).is_empty());
    assert!(!r.inst.would_be_master());
    let a = r.ev(Event::ForceBackup(false));
    assert!(a.is_empty(), "resumed under a better Master: {a:?}");
    assert_eq!(r.state(), State::Backup);
    // The down timer runs from B's last advert at the new priority, and B's adverts restart it.
    assert_eq!(r.deadline(), t + ms(4610) + r.inst.master_down_interval());
    let a = r.run_with_peer(&b, t + ms(5610), ms(1000), t + ms(20_000));
    assert!(transitions(&a).is_empty(), "{a:?}");
    assert_eq!(r.inst.master_addr(), Some(ip(PEER)));
}

/// The same with `--reduce` steps (150 → 140 → … → 90) and with a second `--backup` while
/// already Backup before the priority change.
#[test]
fn held_backup_reduce_steps_and_second_backup_resume_quietly() {
    for second_backup in [false, true] {
        let mut r = Rig::master(cfg(Version::V3, 150), ME);
        let t = r.now;
        r.ev(Event::ForceBackup(true));
        let b = v3(100, 100);
        r.run_with_peer(&b, t + ms(610), ms(1000), t + ms(5000));
        if second_backup {
            assert!(r.ev(Event::ForceBackup(true)).is_empty());
        }
        for p in (90..=140).rev().step_by(10) {
            assert!(r.ev(Event::SetPriority(p)).is_empty());
        }
        assert_eq!(r.inst.priority(), 90);
        let a = r.ev(Event::ForceBackup(false));
        assert!(a.is_empty(), "second --backup {second_backup}: {a:?}");
        let a = r.run_with_peer(&b, t + ms(5610), ms(1000), t + ms(20_000));
        assert!(transitions(&a).is_empty(), "{a:?}");
        assert_eq!(r.state(), State::Backup);
    }
}

/// A held Backup hearing a better Master restarts its down timer like any Backup (S6), and
/// never becomes ready while that Master advertises.
#[test]
fn held_backup_restarts_down_timer_on_better_master() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    r.ev(Event::ForceBackup(true));
    let b = v3(200, 100);
    let a = r.run_with_peer(&b, T0 + ms(500), ms(1000), T0 + ms(30_000));
    assert!(a.iter().all(|x| !matches!(x, Action::Transition { .. })));
    assert_eq!(
        r.deadline(),
        T0 + ms(29_500) + r.inst.master_down_interval()
    );
    assert_eq!(r.inst.master_addr(), Some(ip(PEER)));
    assert!(!r.inst.would_be_master());
    assert!(r.ev(Event::ForceBackup(false)).is_empty());
}

/// An operator hold (atropos --backup) never counts as ready to the host group, however long
/// it lasts: the group must not go Master around a member the operator holds. Once the operator
/// resumes, a member still held by the group is ready again.
#[test]
fn forced_backup_is_never_ready_to_the_group() {
    let mut r = Rig::master(cfg(Version::V3, 150), ME);
    let t = r.now;
    r.ev(Event::ForceBackup(true));
    r.ev(Event::GroupHold(true));
    r.run_with_peer(&v3(100, 100), t + ms(610), ms(1000), t + ms(10_000));
    assert!(!r.inst.would_be_master(), "forced backup counted as ready");
    // Alone, no peer at all: still not ready.
    let (mut r2, _) = Rig::start(cfg(Version::V3, 150), ME);
    r2.ev(Event::ForceBackup(true));
    r2.fire();
    r2.fire();
    assert!(!r2.inst.would_be_master());
    // The operator resumes; the group still holds: ready (a lower-priority Master, would preempt).
    assert!(r.ev(Event::ForceBackup(false)).is_empty());
    assert!(r.inst.group_held());
    assert!(r.inst.would_be_master());
    let a = r.ev(Event::GroupHold(false));
    assert_eq!(
        transitions(&a),
        [(
            State::Backup,
            State::Master,
            Reason::HoldReleased {
                preempting: Some((ip(PEER), 100))
            }
        )]
    );
    assert_eq!(
        Reason::HoldReleased {
            preempting: Some((ip(PEER), 100))
        }
        .to_string(),
        "hold released, preempting lower-priority master 192.0.2.2 (prio 100)"
    );
}

/// Raising the priority of a held Backup above the Master it hears makes it ready once its
/// down timer runs out (S7: the lower Master's adverts no longer restart it), as a plain Backup
/// would preempt.
#[test]
fn held_backup_priority_raised_above_master_becomes_ready() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    r.ev(Event::GroupHold(true));
    let b = v3(120, 100);
    r.run_with_peer(&b, T0 + ms(500), ms(1000), T0 + ms(5000));
    assert!(!r.inst.would_be_master());
    r.ev(Event::SetPriority(150));
    r.run_with_peer(&b, T0 + ms(5500), ms(1000), T0 + ms(10_000));
    assert!(r.inst.would_be_master());
    assert_eq!(r.inst.master_addr(), Some(ip(PEER)));
}

/// Not held either: a Backup at 150 hearing a Master at 100 (S7) lowered to 50 before its down
/// timer fires does not promote (only to be demoted by the next advert): the timer runs from the
/// Master's last advert at the new Master_Down_Interval.
#[test]
fn backup_priority_lowered_below_heard_master_does_not_flap() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 150), ME);
    let b = v3(100, 100);
    r.run_with_peer(&b, T0 + ms(100), ms(1000), T0 + ms(3200));
    r.ev(Event::SetPriority(50));
    let a = r.run_with_peer(&b, T0 + ms(4100), ms(1000), T0 + ms(20_000));
    assert!(transitions(&a).is_empty(), "{a:?}");
    // And after a demotion by S11, the recorded Master's priority is known too.
    let mut r = Rig::master(cfg(Version::V3, 150), ME);
    r.rx(PEER, &v3(200, 100));
    assert_eq!(r.state(), State::Backup);
    let t = r.now;
    r.ev(Event::SetPriority(100));
    assert_eq!(r.deadline(), t + r.inst.master_down_interval());
}

// ---- health trackers: Weights and the Tracker fault (issue #16) -------------------------------

/// Weights as Master: the effective priority (configured + weights) is advertised at once;
/// SetPriority changes the configured part and the weights stay in force.
#[test]
fn weights_master_advertises_effective_priority_at_once() {
    let mut r = Rig::master(literal(cfg(Version::V3, 150)), ME);
    let d = r.deadline();
    assert_eq!(send_prios(&r.ev(Event::Weights(-20))), [130]);
    assert_eq!((r.inst.priority(), r.inst.base_priority()), (130, 150));
    assert_eq!(r.deadline(), d, "the advert timer keeps its cadence");
    assert_eq!(send_prios(&r.ev(Event::SetPriority(100))), [80]);
    assert_eq!(r.inst.weights(), -20);
    // Two immediate adverts spent this interval's budget (MAX_REPLIES_PER_INTERVAL): the next
    // changes go out at once again after the regular advert, one interval on.
    assert_eq!(send_prios(&r.fire()), [80]);
    assert_eq!(send_prios(&r.ev(Event::Weights(0))), [100]);
    assert!(r.ev(Event::Weights(0)).is_empty(), "no change, no advert");
    assert_eq!(send_prios(&r.fire()), [100]);
    // Clamped to 1..=254.
    assert_eq!(send_prios(&r.ev(Event::Weights(-500))), [1]);
    assert_eq!(send_prios(&r.ev(Event::Weights(500))), [254]);
}

/// An address owner stays 255 whatever the weights; SetPriority leaves it alone too.
#[test]
fn weights_owner_stays_255() {
    let mut r = Rig::master(cfg(Version::V3, 255), ME);
    assert!(r.ev(Event::Weights(-100)).is_empty());
    assert!(r.ev(Event::SetPriority(100)).is_empty());
    assert_eq!(r.inst.priority(), 255);
}

/// A Backup whose weights lift it above the Master heard preempts it (S7 from then on): it
/// takes over one Master_Down_Interval after the last advert it yielded to.
#[test]
fn weights_backup_rises_and_preempts() {
    let (mut r, _) = Rig::start(cfg(Version::V3, 100), ME);
    let adv = v3(120, 100);
    let a = r.run_with_peer(&adv, T0 + ms(100), ms(1000), T0 + ms(5000));
    assert_eq!(r.state(), State::Backup, "{a:?}");
    r.at(T0 + ms(5050));
    assert!(r.ev(Event::Weights(30)).is_empty());
    assert_eq!(r.inst.priority(), 130);
    let a = r.run_with_peer(&adv, T0 + ms(5100), ms(1000), T0 + ms(12_000));
    assert_eq!(r.state(), State::Master, "{a:?}");
    assert_eq!(send_prios(&a).first(), Some(&130));
}

/// A tracker Fault takes a Master to Fault with priority 0 sent first, as a link fault does;
/// the effective priority is advertised when it comes back.
#[test]
fn tracker_fault_from_master_sends_priority_zero_first() {
    let mut r = Rig::master(cfg(Version::V3, 150), ME);
    r.ev(Event::Weights(-20));
    let a = r.ev(Event::FaultSet(FaultReason::Tracker));
    assert_eq!(a.first(), Some(&Action::Send(v3(0, 100))), "{a:?}");
    assert!(has(&a, &Action::RemoveVips));
    assert_eq!(r.state(), State::Fault);
    assert_eq!(FaultReason::Tracker.to_string(), "tracker down");
    r.ev(Event::FaultClear(FaultReason::Tracker));
    assert_eq!(r.state(), State::Backup);
    let a = r.fire();
    assert_eq!(r.state(), State::Master);
    assert_eq!(send_prios(&a), [130]);
}

/// Issue 13 defect 10: the immediate replies of a Master (S12 to a lower priority, S10 to
/// priority 0) are rate-limited, so an on-link flood is not reflected 1:1: at most 2 extra
/// adverts per advertisement interval, and the regular adverts keep their schedule.
#[test]
fn immediate_replies_rate_limited() {
    let mut r = Rig::master(literal(cfg(Version::V3, 100)), ME);
    let d = r.deadline();
    // 1000 lower-priority and 1000 priority-0 adverts within one 1 s interval.
    let mut sent = 0;
    for i in 0..2000u64 {
        r.at(r.now + Duration::from_micros(400));
        let prio = if i % 2 == 0 { 50 } else { 0 };
        sent += sends(&r.rx(PEER, &v3(prio, 100))).len();
    }
    assert!(r.now < d, "the flood overran the interval");
    assert!(sent <= 2, "{sent} immediate replies in one interval");
    assert!(sent >= 1, "no immediate reply at all");
    assert_eq!(r.state(), State::Master);
    // The regular advert still goes out on time, and replies resume in the next interval.
    // (An allowed S10 reply re-arms it; the flood cannot push it further.)
    assert!(
        r.deadline() <= d + ms(1000),
        "the flood held back the Adver_Timer"
    );
    let a = r.fire();
    assert_eq!(sends(&a).len(), 1);
    r.at(r.now + ms(1));
    assert_eq!(sends(&r.rx(PEER, &v3(50, 100))).len(), 1);
}

// ---- Preemption and start-up delays (issue #17; keepalived's preempt_delay and
// vrrp_startup_delay, the RFCs have neither) ------------------------------------------------

/// A v3 backup at prio 200, 100 ms adverts (Master_Down_Interval 321.875 ms), with a delay.
fn delayed(preempt_delay: Duration) -> Config {
    let mut c = cfg(Version::V3, 200);
    c.adver_interval_cs = 10;
    c.preempt_delay = preempt_delay;
    c
}

/// Feeds prio-100 adverts from PEER every 100 ms from T0 + 50 ms until `until` (or until the
/// instance is Master); returns the transitions and notices seen, with their times.
fn lower_master_until(r: &mut Rig, until: Duration) -> (Vec<(Duration, Reason)>, Vec<Notice>) {
    let low = v3(100, 10);
    let (mut trans, mut notes) = (Vec::new(), Vec::new());
    let mut t = T0 + ms(50);
    while t <= until && r.state() != State::Master {
        // The down timer first, if it is due before the next advert.
        while r.deadline() <= t && r.state() != State::Master {
            let a = r.fire();
            trans.extend(transitions(&a).into_iter().map(|x| (r.now, x.2)));
            notes.extend(notices(&a));
        }
        if r.state() == State::Master {
            break;
        }
        let a = r.at(t).rx(PEER, &low);
        trans.extend(transitions(&a).into_iter().map(|x| (t, x.2)));
        notes.extend(notices(&a));
        t += ms(100);
    }
    (trans, notes)
}

/// D3: with a 1 s preemption delay, a prio-200 backup accepts a prio-100 master's adverts (as
/// S6) until T0 + 1 s, then lets them go by (S7): the down timer armed by the last advert
/// accepted (T0 + 950 ms) promotes it at T0 + 950 ms + 321.875 ms. Without the delay the first
/// lower advert is already S7 and the takeover is at T0 + 321.875 ms.
#[test]
fn d3_preempt_delay_holds_back_preemption_of_a_lower_master() {
    let (mut r, _) = Rig::start(delayed(Duration::ZERO), ME);
    let (trans, notes) = lower_master_until(&mut r, T0 + ms(5000));
    assert_eq!(trans, vec![(T0 + ns(321_875_000), Reason::MasterDown)]);
    assert!(notes.is_empty(), "{notes:?}");

    let (mut r, _) = Rig::start(delayed(ms(1000)), ME);
    assert_eq!(r.inst.preempt_delay_until(T0), Some(T0 + ms(1000)));
    let (trans, notes) = lower_master_until(&mut r, T0 + ms(5000));
    assert_eq!(trans, vec![(T0 + ns(1_271_875_000), Reason::MasterDown)]);
    assert_eq!(
        notes,
        vec![
            Notice::PreemptDelayed {
                peer: ip(PEER),
                priority: 100,
                left: ms(950),
            },
            Notice::PreemptDelayOver {
                peer: ip(PEER),
                priority: 100,
            },
        ]
    );
    assert_eq!(r.inst.preempt_delay_until(r.now), None);
}

/// D3: the delay never holds back a takeover from a master that falls silent (S4) or leaves
/// with priority 0 (S5): both happen at once, well inside a 10 s window.
#[test]
fn d3_preempt_delay_does_not_delay_a_takeover_from_a_gone_master() {
    let (mut r, _) = Rig::start(delayed(ms(10_000)), ME);
    let (trans, _) = lower_master_until(&mut r, T0 + ms(350));
    assert!(trans.is_empty());
    // Last advert at T0 + 350 ms, then silence: Master_Down_Interval later.
    let a = r.fire();
    assert_eq!(r.now, T0 + ms(350) + ns(321_875_000));
    assert_eq!(
        transitions(&a),
        vec![(State::Backup, State::Master, Reason::MasterDown)]
    );

    let (mut r, _) = Rig::start(delayed(ms(10_000)), ME);
    lower_master_until(&mut r, T0 + ms(350));
    r.at(T0 + ms(400)).rx(PEER, &v3(0, 10));
    let a = r.fire();
    assert_eq!(
        r.now,
        T0 + ms(400) + ns(21_875_000),
        "Skew_Time after prio 0"
    );
    assert_eq!(
        transitions(&a),
        vec![(
            State::Backup,
            State::Master,
            Reason::PriorityZero { peer: ip(PEER) }
        )]
    );
}

/// D3: the window opens again when the instance joins the election after a fault (links and
/// services coming back): a lower master is preempted only 1 s after the fault cleared.
#[test]
fn d3_preempt_delay_window_reopens_when_a_fault_clears() {
    let (mut r, _) = Rig::start(delayed(ms(1000)), ME);
    r.at(T0 + ms(20)).ev(Event::FaultSet(FaultReason::LinkDown));
    assert_eq!(r.state(), State::Fault);
    let t1 = T0 + ms(5000);
    r.at(t1).ev(Event::FaultClear(FaultReason::LinkDown));
    assert_eq!(r.state(), State::Backup);
    assert_eq!(r.inst.preempt_delay_until(t1), Some(t1 + ms(1000)));
    let low = v3(100, 10);
    let mut t = t1 + ms(50);
    while r.state() == State::Backup && t < t1 + ms(3000) {
        while r.deadline() <= t && r.state() == State::Backup {
            r.fire();
        }
        if r.state() == State::Backup {
            r.at(t).rx(PEER, &low);
        }
        t += ms(100);
    }
    assert_eq!(r.state(), State::Master);
    assert_eq!(r.inst.since(), t1 + ns(1_271_875_000));
}

/// D3: a higher or equal-priority master is S6 as always; the delay changes nothing for it and
/// says nothing.
#[test]
fn d3_preempt_delay_leaves_a_better_master_alone() {
    let (mut r, _) = Rig::start(delayed(ms(1000)), ME);
    for i in 0..30 {
        let a = r.at(T0 + ms(50 + 100 * i)).rx(PEER, &v3(250, 10));
        assert!(notices(&a).is_empty() && transitions(&a).is_empty());
    }
    assert_eq!(r.state(), State::Backup);
}

/// The preemption delay is refused where it cannot apply: the owner always preempts (RFC 9568
/// §6.1), Preempt_Mode off has nothing to delay, and keepalived's range ends at 1000 s.
#[test]
fn preempt_and_startup_delay_config_errors() {
    use vrrpd::proto::fsm::PreemptDelayError as P;
    let mut c = delayed(ms(1000));
    c.priority = 255;
    assert_eq!(c.validate(), Err(ConfigError::PreemptDelay(P::Owner)));
    let mut c = delayed(ms(1000));
    c.preempt = false;
    assert_eq!(c.validate(), Err(ConfigError::PreemptDelay(P::NoPreempt)));
    let c = delayed(Duration::from_secs(1001));
    assert_eq!(c.validate(), Err(ConfigError::PreemptDelay(P::TooLong)));
    let mut c = delayed(Duration::ZERO);
    c.startup_delay = Duration::from_secs(3601);
    assert_eq!(c.validate(), Err(ConfigError::StartupDelayTooLong));
    c.startup_delay = Duration::from_secs(3600);
    assert_eq!(c.validate(), Ok(()));
}

fn startup_delayed(priority: u8, delay: Duration) -> Config {
    let mut c = cfg(Version::V3, priority);
    c.startup_delay = delay;
    c
}

/// D1/D2: link down at Startup with a 3 s start-up delay: the instance stays in Initialize
/// (no transition, no hook, adverts not heard) even when the link comes up meanwhile, then joins
/// the election at T0 + 3 s as Startup would, and its down timer starts then.
#[test]
fn d1_startup_delay_waits_while_the_link_is_down() {
    let mut r = Rig::new(startup_delayed(100, ms(3000)), ME);
    r.ev(Event::FaultSet(FaultReason::LinkDown));
    let a = r.ev(Event::Startup);
    assert_eq!(
        a,
        vec![Action::Notice(Notice::StartupDelay {
            wait: ms(3000),
            why: FaultReason::LinkDown
        })]
    );
    assert_eq!(r.state(), State::Initialize);
    assert_eq!(r.inst.startup_delay_until(), Some(T0 + ms(3000)));
    assert!(r.at(T0 + ms(500)).rx(PEER, &v3(50, 100)).is_empty());
    assert_eq!(
        r.inst.counters().adverts_rcvd(),
        0,
        "nothing heard in Initialize"
    );
    // The link comes up (and flaps): recorded, nothing else.
    assert!(r
        .at(T0 + ms(1000))
        .ev(Event::FaultClear(FaultReason::LinkDown))
        .is_empty());
    assert!(r
        .at(T0 + ms(1100))
        .ev(Event::FaultSet(FaultReason::LinkDown))
        .is_empty());
    assert!(r
        .at(T0 + ms(1200))
        .ev(Event::FaultClear(FaultReason::LinkDown))
        .is_empty());
    assert_eq!(r.state(), State::Initialize);
    let a = r.fire();
    assert_eq!(r.now, T0 + ms(3000));
    assert_eq!(
        a,
        vec![
            Action::Notice(Notice::StartupDelayOver {
                waited: ms(3000),
                fault: None
            }),
            Action::Transition {
                from: State::Initialize,
                to: State::Backup,
                reason: Reason::Startup
            },
        ]
    );
    assert_eq!(r.deadline(), T0 + ms(3000) + ns(3_609_375_000));
}

/// D1: an interface up with its address at Startup: no delay at all (S2 at once); the delay
/// also ignores a tracker fault (only the interface's own readiness counts).
#[test]
fn d1_startup_delay_skipped_when_the_interface_is_ready() {
    let (r, a) = Rig::start(startup_delayed(100, ms(3000)), ME);
    assert_eq!(
        transitions(&a),
        vec![(State::Initialize, State::Backup, Reason::Startup)]
    );
    assert!(notices(&a).is_empty());
    assert_eq!(r.inst.startup_delay_until(), None);

    let mut r = Rig::new(startup_delayed(100, ms(3000)), ME);
    r.ev(Event::FaultSet(FaultReason::Tracker));
    let a = r.ev(Event::Startup);
    assert_eq!(
        transitions(&a),
        vec![(
            State::Initialize,
            State::Fault,
            Reason::Fault(FaultReason::Tracker)
        )]
    );
}

/// D1/D2: no primary address at Startup (IPv4 address or IPv6 link-local missing): the delay
/// applies; still missing at its end: Fault, with its hook, as Startup would.
#[test]
fn d2_startup_delay_ends_in_fault_when_still_not_ready() {
    let mut inst = Instance::new(startup_delayed(100, ms(2000)));
    let a = inst.handle(T0, Event::Startup);
    assert_eq!(
        a,
        vec![Action::Notice(Notice::StartupDelay {
            wait: ms(2000),
            why: FaultReason::NoPrimaryAddress
        })]
    );
    let at = inst.next_deadline().unwrap();
    assert_eq!(at, T0 + ms(2000));
    assert!(inst.handle(at - ns(1), Event::Timeout).is_empty());
    let a = inst.handle(at, Event::Timeout);
    assert_eq!(
        a,
        vec![
            Action::Notice(Notice::StartupDelayOver {
                waited: ms(2000),
                fault: Some(FaultReason::NoPrimaryAddress)
            }),
            Action::RunHook {
                hook: Hook::Fault,
                prev: State::Initialize
            },
            Action::Transition {
                from: State::Initialize,
                to: State::Fault,
                reason: Reason::Fault(FaultReason::NoPrimaryAddress)
            },
        ]
    );
    // The address arrives: F2 as usual.
    let a = inst.handle(at + ms(10), Event::PrimaryAddress(Some(ip(ME))));
    assert_eq!(inst.state(), State::Backup, "{a:?}");
}

/// D1: an owner waits too (keepalived: master at start + delay); Shutdown during the wait ends
/// at once with nothing sent and no transition.
#[test]
fn d1_startup_delay_owner_and_shutdown_during_the_wait() {
    let mut r = Rig::new(startup_delayed(255, ms(1500)), ME);
    r.ev(Event::FaultSet(FaultReason::LinkDown));
    r.ev(Event::Startup);
    r.at(T0 + ms(10))
        .ev(Event::FaultClear(FaultReason::LinkDown));
    let a = r.fire();
    assert_eq!(r.now, T0 + ms(1500));
    assert_eq!(
        transitions(&a),
        vec![(State::Initialize, State::Master, Reason::Startup)]
    );

    let mut r = Rig::new(startup_delayed(100, ms(1500)), ME);
    r.ev(Event::FaultSet(FaultReason::LinkDown));
    r.ev(Event::Startup);
    let a = r.at(T0 + ms(10)).ev(Event::Shutdown);
    assert_eq!(a, vec![Action::Stopped]);
    assert_eq!(r.inst.next_deadline(), None);
}

/// D1 then D3: the preemption delay counts from the end of the start-up delay, when the
/// instance joins the election.
#[test]
fn d1_d3_preempt_delay_counts_from_the_end_of_the_startup_delay() {
    let mut c = delayed(ms(1000));
    c.startup_delay = ms(2000);
    let mut r = Rig::new(c, ME);
    r.ev(Event::FaultSet(FaultReason::LinkDown));
    r.ev(Event::Startup);
    r.at(T0 + ms(100))
        .ev(Event::FaultClear(FaultReason::LinkDown));
    r.fire();
    assert_eq!(r.state(), State::Backup);
    assert_eq!(r.inst.preempt_delay_until(r.now), Some(T0 + ms(3000)));
}
