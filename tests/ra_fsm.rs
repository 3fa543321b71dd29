//! Router Advertisements in the state machine (RFC 9568 §6.4.3, §8.2; RFC 4861 §6.2), with a
//! fake clock: one RA on entering Master, the initial burst, answers to solicitations only while
//! Master, and the final RA (router lifetime 0) exactly when the addresses are given up with no
//! successor known, never when a new Master (sending RAs from the same link-local address) has
//! been heard.

use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use vrrpd::proto::fsm::{Action, Config, Event, FaultReason, Instance, Notice, State};
use vrrpd::proto::packet::{Advert, Auth};
use vrrpd::proto::ra::RaConfig;
use vrrpd::proto::{DiscardReason, Family, Version};

const T0: Duration = Duration::from_secs(1000);
const VRID: u8 = 51;
const ME: &str = "fe80::1:1";
const PEER: &str = "fe80::1:2";
const HOST: &str = "fe80::100";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cfg(priority: u8, handover: bool) -> Config {
    let mut c = Config::new(
        Version::V3,
        Family::V6,
        VRID,
        vec![ip("fe80::51"), ip("2001:db8::51")],
    );
    c.priority = priority;
    c.handover = handover;
    c.router_adverts = Some(RaConfig::new(7));
    c
}

fn advert(priority: u8) -> Advert {
    Advert {
        version: Version::V3,
        vrid: VRID,
        priority,
        interval: 100,
        addrs: vec![ip("fe80::51"), ip("2001:db8::51")],
        auth: Auth::None,
    }
}

struct Rig {
    inst: Instance,
    now: Duration,
}

impl Rig {
    fn start(c: Config) -> (Rig, Vec<Action>) {
        let mut inst = Instance::new(c);
        inst.handle(T0, Event::PrimaryAddress(Some(ip(ME))));
        let a = inst.handle(T0, Event::Startup);
        (Rig { inst, now: T0 }, a)
    }
    fn ev(&mut self, ev: Event<'_>) -> Vec<Action> {
        self.inst.handle(self.now, ev)
    }
    fn fire(&mut self) -> Vec<Action> {
        self.now = self.inst.next_deadline().expect("armed");
        self.ev(Event::Timeout)
    }
    fn rx(&mut self, prio: u8) -> Vec<Action> {
        let adv = advert(prio);
        self.ev(Event::Advert {
            src: ip(PEER),
            advert: &adv,
            checksum_form: None,
        })
    }
    fn rs(&mut self, hop_limit: u8) -> Vec<Action> {
        let msg = [133u8, 0, 0, 0, 0, 0, 0, 0];
        let src: Ipv6Addr = HOST.parse().unwrap();
        self.ev(Event::RouterSolicit {
            src,
            hop_limit,
            msg: &msg,
        })
    }
    /// A Master by S4 (the down timer).
    fn master(c: Config) -> Rig {
        let (mut r, _) = Rig::start(c);
        let a = r.fire();
        assert_eq!(r.inst.state(), State::Master, "{a:?}");
        r
    }
}

fn ras(a: &[Action]) -> Vec<u16> {
    a.iter()
        .filter_map(|x| match x {
            Action::RouterAdvert { lifetime_s } => Some(*lifetime_s),
            _ => None,
        })
        .collect()
}

fn pos(a: &[Action], f: impl Fn(&Action) -> bool) -> Option<usize> {
    a.iter().position(f)
}

/// The final RA comes before the addresses (and the virtual MAC) go.
fn final_before_remove(a: &[Action]) {
    let ra = pos(a, |x| matches!(x, Action::RouterAdvert { lifetime_s: 0 })).expect("final RA");
    let rm = pos(a, |x| matches!(x, Action::RemoveVips)).expect("RemoveVips");
    assert!(ra < rm, "{a:?}");
}

#[test]
fn owner_sends_one_ra_on_startup_after_the_vips() {
    let (_, a) = Rig::start(cfg(255, true));
    assert_eq!(ras(&a), vec![600]);
    let add = pos(&a, |x| matches!(x, Action::AddVips)).unwrap();
    let ra = pos(&a, |x| matches!(x, Action::RouterAdvert { .. })).unwrap();
    assert!(add < ra, "{a:?}");
}

#[test]
fn no_ras_when_off_for_ipv4_or_as_backup() {
    let mut c = cfg(255, true);
    c.router_adverts = None;
    let (mut r, a) = Rig::start(c);
    assert!(ras(&a).is_empty());
    for _ in 0..100 {
        assert!(ras(&r.fire()).is_empty());
    }
    // IPv4 with an RA config (never built so by the daemon): ignored.
    let mut c4 = Config::new(Version::V3, Family::V4, VRID, vec![ip("192.0.2.250")]);
    c4.priority = 255;
    c4.router_adverts = Some(RaConfig::new(1));
    let mut i = Instance::new(c4);
    i.handle(T0, Event::PrimaryAddress(Some(ip("192.0.2.1"))));
    assert!(ras(&i.handle(T0, Event::Startup)).is_empty());
    // A Backup hearing its Master: never an RA.
    let (mut b, a) = Rig::start(cfg(100, true));
    assert!(ras(&a).is_empty());
    for k in 1..=50u64 {
        b.now = T0 + Duration::from_secs(k);
        assert!(ras(&b.rx(200)).is_empty());
        assert!(ras(&b.rs(255)).is_empty(), "a Backup answers no RS");
    }
    assert_eq!(b.inst.state(), State::Backup);
}

#[test]
fn initial_burst_and_periodic_while_master() {
    let mut r = Rig::master(cfg(100, true));
    let start = r.now;
    let mut times = vec![start];
    while r.now < start + Duration::from_secs(900) {
        let a = r.fire();
        for l in ras(&a) {
            assert_eq!(l, 600);
            times.push(r.now);
        }
    }
    let gaps: Vec<u64> = times.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect();
    assert!(gaps[0] <= 16 && gaps[1] <= 16, "initial burst: {gaps:?}");
    assert!(
        gaps[2..].iter().all(|g| (66..=200).contains(g)),
        "periodic: {gaps:?}"
    );
}

#[test]
fn solicitation_answered_as_master_and_bad_one_counted() {
    let mut r = Rig::master(cfg(100, true));
    // Past the initial burst.
    while r.now < T0 + Duration::from_secs(60) {
        r.fire();
    }
    let rs_at = r.now + Duration::from_secs(5);
    r.now = rs_at;
    assert!(r.rs(255).is_empty());
    let mut answered = None;
    while r.now < rs_at + Duration::from_secs(1) {
        if !ras(&r.fire()).is_empty() {
            answered = Some(r.now);
            break;
        }
    }
    let at = answered.expect("RS answered within 1 s");
    assert!(at - rs_at <= Duration::from_millis(500), "{:?}", at - rs_at);
    // Hop limit 64: a discard, counted and noticed.
    let a = r.rs(64);
    assert!(a.contains(&Action::Notice(Notice::Discard {
        reason: DiscardReason::BadSolicit,
        peer: Some(ip(HOST)),
    })));
    assert_eq!(r.inst.counters().discards(DiscardReason::BadSolicit), 1);
}

#[test]
fn preempted_by_a_higher_master_sends_no_final_ra() {
    let mut r = Rig::master(cfg(100, true));
    r.now += Duration::from_millis(300);
    let a = r.rx(200);
    assert_eq!(r.inst.state(), State::Backup);
    assert!(a.contains(&Action::RemoveVips));
    assert!(ras(&a).is_empty(), "{a:?}");
    // A demoted Master neither sends nor answers (300 s: past the initial burst's 16 s).
    for _ in 0..300 {
        assert!(ras(&r.rx(200)).is_empty());
        assert!(ras(&r.rs(255)).is_empty());
        r.now += Duration::from_millis(500);
        assert!(ras(&r.ev(Event::Timeout)).is_empty());
        r.now += Duration::from_millis(500);
    }
    assert_eq!(r.inst.state(), State::Backup);
}

#[test]
fn shutdown_with_handover_final_ra_only_if_nobody_takes_over() {
    // A successor is heard: no final RA at all.
    let mut r = Rig::master(cfg(100, true));
    let a = r.ev(Event::Shutdown);
    assert!(ras(&a).is_empty(), "{a:?}");
    r.now += Duration::from_millis(700);
    let a = r.rx(100);
    assert!(a.contains(&Action::RemoveVips));
    assert!(ras(&a).is_empty(), "{a:?}");
    assert!(a.contains(&Action::Stopped));

    // Nobody: the final RA at the release deadline, before the VIPs go.
    let mut r = Rig::master(cfg(100, true));
    let a = r.ev(Event::Shutdown);
    assert!(ras(&a).is_empty());
    let a = r.fire();
    assert_eq!(ras(&a), vec![0]);
    final_before_remove(&a);
}

#[test]
fn shutdown_or_step_down_without_handover_sends_the_final_ra_at_once() {
    let mut r = Rig::master(cfg(100, false));
    let a = r.ev(Event::Shutdown);
    assert_eq!(ras(&a), vec![0]);
    final_before_remove(&a);

    let mut r = Rig::master(cfg(100, false));
    let a = r.ev(Event::ForceBackup(true));
    assert_eq!(ras(&a), vec![0]);
    final_before_remove(&a);
    // Held in Backup: nothing more, and RS unanswered.
    for _ in 0..5 {
        r.now += Duration::from_secs(2);
        assert!(ras(&r.rs(255)).is_empty());
        assert!(ras(&r.ev(Event::Timeout)).is_empty());
    }

    // With handover: deferred, and sent when the release times out.
    let mut r = Rig::master(cfg(100, true));
    assert!(ras(&r.ev(Event::ForceBackup(true))).is_empty());
    let a = r.fire();
    assert_eq!(ras(&a), vec![0], "{a:?}");
}

#[test]
fn fault_as_master_sends_the_final_ra() {
    let mut r = Rig::master(cfg(100, true));
    let a = r.ev(Event::FaultSet(FaultReason::Tracker));
    assert_eq!(r.inst.state(), State::Fault);
    assert_eq!(ras(&a), vec![0]);
    final_before_remove(&a);
    // Back to Master later: RAs again.
    let a = r.ev(Event::FaultClear(FaultReason::Tracker));
    assert!(ras(&a).is_empty(), "Backup first");
    let a = r.fire();
    assert_eq!(r.inst.state(), State::Master);
    assert_eq!(ras(&a), vec![600]);
}
