//! Property tests: random event sequences keep the state machine's invariants.

use std::net::IpAddr;
use std::time::Duration;

use proptest::prelude::*;
use vrrpd::proto::fsm::{Action, Config, Event, FaultReason, Instance, State};
use vrrpd::proto::packet::{Advert, Auth};
use vrrpd::proto::{Family, Version};

#[derive(Debug, Clone)]
enum Step {
    Wait(u64),
    Fire,
    Startup,
    Shutdown,
    Rx {
        peer: u8,
        priority: u8,
        interval: u16,
    },
    Fault(bool, u8),
    Primary(bool),
    Force(bool),
    Prio(u8),
    Weights(i32),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u64..5_000).prop_map(Step::Wait),
        Just(Step::Fire),
        Just(Step::Fire),
        Just(Step::Startup),
        Just(Step::Shutdown),
        (
            1u8..4,
            prop_oneof![Just(0u8), Just(100), Just(255), any::<u8>()],
            1u16..300
        )
            .prop_map(|(peer, priority, interval)| Step::Rx {
                peer,
                priority,
                interval
            }),
        (any::<bool>(), 0u8..5).prop_map(|(on, r)| Step::Fault(on, r)),
        any::<bool>().prop_map(Step::Primary),
        any::<bool>().prop_map(Step::Force),
        any::<u8>().prop_map(Step::Prio),
        (-300i32..300).prop_map(Step::Weights),
    ]
}

fn config() -> impl Strategy<Value = Config> {
    (
        prop_oneof![Just(Version::V2), Just(Version::V3)],
        prop_oneof![Just(255u8), Just(100), Just(1), 1u8..=255],
        1u16..=3,
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(version, priority, secs, preempt, handover)| {
            let mut c = Config::new(version, Family::V4, 9, vec!["192.0.2.250".parse().unwrap()]);
            c.priority = priority;
            c.adver_interval_cs = secs * 100;
            c.preempt = preempt;
            c.handover = handover;
            c
        })
}

proptest! {
    #[test]
    fn invariants_hold(cfg in config(), steps in proptest::collection::vec(step(), 1..80)) {
        let version = cfg.version;
        let mut inst = Instance::new(cfg);
        let mut now = Duration::from_secs(10);
        let me: IpAddr = "192.0.2.5".parse().unwrap();
        inst.handle(now, Event::PrimaryAddress(Some(me)));
        let mut vips = false;
        let mut transitions = 0u64;
        let mut state = State::Initialize;
        for s in steps {
            let ev_actions = match s {
                Step::Wait(ms) => { now += Duration::from_millis(ms); Vec::new() }
                Step::Fire => {
                    if let Some(d) = inst.next_deadline() { now = now.max(d); }
                    inst.handle(now, Event::Timeout)
                }
                Step::Startup => inst.handle(now, Event::Startup),
                Step::Shutdown => inst.handle(now, Event::Shutdown),
                Step::Rx { peer, priority, interval } => {
                    let adv = Advert {
                        version,
                        vrid: 9,
                        priority,
                        interval: if version == Version::V2 { interval / 100 + 1 } else { interval },
                        addrs: vec!["192.0.2.250".parse().unwrap()],
                        auth: Auth::None,
                    };
                    let src = IpAddr::from([192, 0, 2, peer * 3]);
                    inst.handle(now, Event::Advert { src, advert: &adv, checksum_form: None })
                }
                Step::Fault(on, r) => {
                    let r = FaultReason::ALL[usize::from(r) % FaultReason::ALL.len()];
                    inst.handle(now, if on { Event::FaultSet(r) } else { Event::FaultClear(r) })
                }
                Step::Primary(on) => inst.handle(now, Event::PrimaryAddress(on.then_some(me))),
                Step::Force(on) => inst.handle(now, Event::ForceBackup(on)),
                Step::Prio(p) => inst.handle(now, Event::SetPriority(p)),
                Step::Weights(w) => inst.handle(now, Event::Weights(w)),
            };
            for a in &ev_actions {
                match a {
                    Action::AddVips => { prop_assert!(!vips, "AddVips twice"); vips = true; }
                    Action::RemoveVips => { prop_assert!(vips, "RemoveVips without VIPs"); vips = false; }
                    Action::Transition { from, to, .. } => {
                        prop_assert_eq!(*from, state);
                        prop_assert_ne!(from, to);
                        state = *to;
                        transitions += 1;
                    }
                    Action::Send(adv) => prop_assert!(adv.priority == 0 || adv.priority == inst.priority()),
                    _ => {}
                }
            }
            prop_assert_eq!(inst.state(), state);
            prop_assert_eq!(inst.holds_vips(), vips);
            prop_assert_eq!(inst.counters().transitions_total(), transitions);
            if state == State::Master {
                prop_assert!(vips);
                prop_assert!(inst.next_deadline().is_some());
            }
            if vips {
                prop_assert!(state == State::Master || inst.release_deadline().is_some());
            }
            if state == State::Fault {
                prop_assert_eq!(inst.next_deadline(), None);
                prop_assert!(inst.faults().next().is_some());
            }
            if state == State::Backup {
                prop_assert!(inst.next_deadline().is_some());
            }
            if !inst.is_running() && inst.release_deadline().is_none() {
                prop_assert_eq!(state, State::Initialize);
                prop_assert_eq!(inst.next_deadline(), None);
            }
        }
    }
}
