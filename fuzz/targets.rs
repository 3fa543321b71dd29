//! The fuzz targets' bodies, shared by the cargo-fuzz binaries (`fuzz/fuzz_targets/*.rs`, nightly)
//! and the stable smoke test (`tests/fuzz_corpus.rs`, which runs every corpus file and a few
//! thousand pseudo-random inputs through them). Each must never panic on any input; the state
//! machine target also asserts the invariants of `tests/fsm_props.rs`. Issue #13, "Fuzzing".

use std::net::IpAddr;
use std::time::Duration;

use vrrpd::proto::fsm::{Action, Config, Event, FaultReason, Instance, State};
use vrrpd::proto::packet::{Advert, Auth};
use vrrpd::proto::{Family, Version};

/// A target: one input, no result (a panic is the finding).
pub type Target = fn(&[u8]);

/// The targets by name (the corpus directories under `fuzz/corpus/`).
pub const TARGETS: &[(&str, Target)] = &[
    ("packet", packet),
    ("carp", carp),
    ("fsm", fsm),
    ("control", control),
    ("cli", cli),
    ("shm", shm),
];

/// VRRP v2/v3 parser (RFC 3768 §5, RFC 9568 §5): byte 0 picks the family and whether the
/// destination is the group or a unicast peer; the rest is the IP payload.
pub fn packet(data: &[u8]) {
    let Some((&sel, payload)) = data.split_first() else {
        return;
    };
    let (src, dst): (IpAddr, IpAddr) = match sel % 4 {
        0 => ([192, 0, 2, 1].into(), [224, 0, 0, 18].into()),
        1 => (
            "fe80::1".parse().unwrap_or(IpAddr::from([0u8; 16])),
            "ff02::12".parse().unwrap_or(IpAddr::from([0u8; 16])),
        ),
        2 => ([192, 0, 2, 1].into(), [192, 0, 2, 2].into()),
        _ => (
            [192, 0, 2, 1].into(),
            "ff02::12".parse().unwrap_or(IpAddr::from([0u8; 16])),
        ),
    };
    let _ = vrrpd::proto::carp::classify(payload);
    if let Ok(p) = vrrpd::proto::packet::parse(payload, src, dst) {
        let _ = format!("{p:?}");
    }
}

/// CARP parser (the ucarp/OpenBSD layout): the whole input is the IP payload.
pub fn carp(data: &[u8]) {
    let _ = vrrpd::proto::carp::classify(data);
    if let Ok(a) = vrrpd::proto::carp::packet::parse(data) {
        let _ = format!("{a:?}");
    }
}

/// The control protocol's request parser (one JSON line from a client).
pub fn control(data: &[u8]) {
    let _ = vrrpd::control::parse_request(data);
}

thread_local! {
    /// The clap command of `vrrpd`, built on the first input and reused: it does not depend on
    /// the input, and building its ~100 arguments again for every input (what `cli::parse`
    /// does, once per daemon start) took most of an execution, which held the target at
    /// ~700 executions/s. `cli::parse_with` is `cli::parse` with the command kept; its unit
    /// test checks that a reused command answers as a fresh one.
    static CLI: std::cell::RefCell<vrrpd::cli::Command> = std::cell::RefCell::new(vrrpd::cli::command());
}

/// The command line: NUL-separated arguments through clap and into `Settings`.
pub fn cli(data: &[u8]) {
    let mut args = vec![std::ffi::OsString::from("vrrpd")];
    for a in data.split(|b| *b == 0).take(64) {
        args.push(String::from_utf8_lossy(a).into_owned().into());
    }
    let parsed = CLI.with(|cmd| vrrpd::cli::parse_with(&mut cmd.borrow_mut(), args));
    if let Ok(a) = parsed {
        let _ = a.validate();
    }
}

/// A little reader over the fuzz input: every byte drives a choice, exhaustion ends the run.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn u16(&mut self) -> Option<u16> {
        Some(u16::from_be_bytes([self.u8()?, self.u8()?]))
    }
}

/// The state machine (RFC 9568 §6.4) fed an arbitrary event sequence, with the invariants of
/// `tests/fsm_props.rs` checked after every event: one state at a time (transitions chain),
/// timers armed in Backup and Master, VIPs owned exactly while Master (or while a handover's
/// release is pending), no timer in Fault or when stopped.
pub fn fsm(data: &[u8]) {
    let mut b = Bytes(data);
    let (Some(c0), Some(prio), Some(c2)) = (b.u8(), b.u8(), b.u8()) else {
        return;
    };
    let version = if c0 & 1 == 0 {
        Version::V2
    } else {
        Version::V3
    };
    let mut cfg = Config::new(version, Family::V4, 9, vec![[192, 0, 2, 250].into()]);
    cfg.priority = prio.max(1);
    cfg.adver_interval_cs = u16::from(c2 % 3 + 1) * 100;
    cfg.preempt = c0 & 2 != 0;
    cfg.handover = c0 & 4 != 0;
    let mut inst = Instance::new(cfg);
    let mut now = Duration::from_secs(10);
    let me: IpAddr = [192, 0, 2, 5].into();
    inst.handle(now, Event::PrimaryAddress(Some(me)));
    let mut vips = false;
    let mut transitions = 0u64;
    let mut state = State::Initialize;
    while let Some(op) = b.u8() {
        let actions = match op % 11 {
            0 => {
                now += Duration::from_millis(u64::from(b.u16().unwrap_or(0)));
                Vec::new()
            }
            1 | 2 => {
                if let Some(d) = inst.next_deadline() {
                    now = now.max(d);
                }
                inst.handle(now, Event::Timeout)
            }
            3 => inst.handle(now, Event::Startup),
            4 => inst.handle(now, Event::Shutdown),
            5 => {
                let peer = b.u8().unwrap_or(1) % 3 + 1;
                let priority = b.u8().unwrap_or(100);
                let interval = b.u16().unwrap_or(100);
                let adv = Advert {
                    version,
                    vrid: 9,
                    priority,
                    interval,
                    addrs: vec![[192, 0, 2, 250].into()],
                    auth: Auth::None,
                };
                let src = IpAddr::from([192, 0, 2, peer * 3]);
                inst.handle(
                    now,
                    Event::Advert {
                        src,
                        advert: &adv,
                        checksum_form: None,
                    },
                )
            }
            6 => {
                let r = b.u8().unwrap_or(0);
                let reason = FaultReason::ALL[usize::from(r) % FaultReason::ALL.len()];
                inst.handle(
                    now,
                    if r & 0x80 != 0 {
                        Event::FaultSet(reason)
                    } else {
                        Event::FaultClear(reason)
                    },
                )
            }
            7 => {
                let on = b.u8().unwrap_or(0) & 1 != 0;
                inst.handle(now, Event::PrimaryAddress(on.then_some(me)))
            }
            8 => inst.handle(now, Event::ForceBackup(b.u8().unwrap_or(0) & 1 != 0)),
            9 => inst.handle(now, Event::SetPriority(b.u8().unwrap_or(100))),
            _ => inst.handle(
                now,
                Event::Weights(i32::from(b.u16().unwrap_or(0) as i16) % 300),
            ),
        };
        for a in &actions {
            match a {
                Action::AddVips => {
                    assert!(!vips, "AddVips twice");
                    vips = true;
                }
                Action::RemoveVips => {
                    assert!(vips, "RemoveVips without VIPs");
                    vips = false;
                }
                Action::Transition { from, to, .. } => {
                    assert_eq!(*from, state, "transition from a state not held");
                    assert_ne!(from, to);
                    state = *to;
                    transitions += 1;
                }
                Action::Send(adv) => {
                    assert!(adv.priority == 0 || adv.priority == inst.priority());
                }
                _ => {}
            }
        }
        assert_eq!(inst.state(), state);
        assert_eq!(inst.holds_vips(), vips);
        assert_eq!(inst.counters().transitions_total(), transitions);
        if state == State::Master {
            assert!(vips, "Master without VIPs");
            assert!(inst.next_deadline().is_some(), "Master without a timer");
        }
        if vips {
            assert!(state == State::Master || inst.release_deadline().is_some());
        }
        if state == State::Backup {
            assert!(inst.next_deadline().is_some(), "Backup without a timer");
        }
        if state == State::Fault {
            assert_eq!(inst.next_deadline(), None);
            assert!(inst.faults().next().is_some());
        }
        if !inst.is_running() && inst.release_deadline().is_none() {
            assert_eq!(state, State::Initialize);
            assert_eq!(inst.next_deadline(), None);
        }
    }
}

/// The host group's shared-memory reader (`sys::shm::decode_image`) on a corrupted segment
/// image: byte 0 bit 0 set writes a valid header first (so the slots are reached), then the
/// rest of the input overlays the image from byte 1 on; the image is padded with zeros to the
/// segment size, unless bit 1 asks for the input's own length (the size check).
pub fn shm(data: &[u8]) {
    use vrrpd::sys::shm::{
        decode_image, HEADER_SIZE, MAGIC, NSLOTS, SEGMENT_SIZE, SLOT_SIZE, VERSION,
    };
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    if sel & 2 != 0 {
        let _ = decode_image(rest);
        return;
    }
    let mut img = vec![0u8; SEGMENT_SIZE];
    if sel & 1 != 0 {
        img[0..8].copy_from_slice(&MAGIC.to_ne_bytes());
        img[8..12].copy_from_slice(&VERSION.to_ne_bytes());
        img[12..16].copy_from_slice(&(HEADER_SIZE as u32).to_ne_bytes());
        img[16..20].copy_from_slice(&(SLOT_SIZE as u32).to_ne_bytes());
        img[20..24].copy_from_slice(&(NSLOTS as u32).to_ne_bytes());
    }
    let start = if sel & 1 != 0 { HEADER_SIZE } else { 0 };
    for (d, s) in img[start..].iter_mut().zip(rest) {
        *d = *s;
    }
    if let Ok(m) = decode_image(&img) {
        assert!(m.len() <= NSLOTS);
        let _ = format!("{m:?}");
    }
}
