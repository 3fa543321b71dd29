//! Integration tests of the host-group shared table (`vrrpd::sys::shm`).
//!
//! Each test uses its own group name and unlinks the segment when done (even on failure).

use std::fs::OpenOptions;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use proptest::prelude::*;
use vrrpd::proto::group::{self, Hold, MemberState, Verdict};
mod common;

use vrrpd::sys::shm::{self, GroupShm, ShmError, HEADER_SIZE, NSLOTS, SEGMENT_SIZE, SLOT_SIZE};

/// The verdict for the member in `slot`: the table's views fed to the pure decision.
fn verdict(g: &GroupShm, slot: usize, size: u8, now: Duration, timeout: Duration) -> Verdict {
    let (views, me) = g.views(slot);
    group::verdict(&views, size, me.unwrap_or(usize::MAX), now, timeout)
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A unique group name; the segment is unlinked on drop.
struct Seg(String);

impl Seg {
    fn new() -> Seg {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("test-{}-{n}", std::process::id());
        GroupShm::unlink(&name).expect("unlink leftover");
        Seg(name)
    }

    fn name(&self) -> &str {
        &self.0
    }

    fn path(&self) -> String {
        format!("/dev/shm/vrrpd-group-{}", self.0)
    }

    fn open(&self) -> GroupShm {
        GroupShm::open(&self.0).expect("open group")
    }

    fn write_at(&self, off: usize, bytes: &[u8]) {
        let f = OpenOptions::new()
            .write(true)
            .open(self.path())
            .expect("open segment file");
        f.write_all_at(bytes, off as u64).expect("write segment");
    }

    fn slot_off(slot: usize) -> usize {
        HEADER_SIZE + slot * SLOT_SIZE
    }
}

impl Drop for Seg {
    fn drop(&mut self) {
        let _ = GroupShm::unlink(&self.0);
    }
}

/// Kills and reaps a child on drop.
struct Kid(Child);

impl Kid {
    fn sleeper() -> Kid {
        Kid(Command::new("sleep")
            .arg("30")
            .spawn()
            .expect("spawn sleep"))
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Kid {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The pid of a process that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().expect("spawn true");
    let pid = c.id();
    c.wait().expect("wait true");
    pid
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

const TIMEOUT: Duration = Duration::from_secs(3);

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| (self.next() >> 24) as u8).collect()
    }
}

#[test]
fn creates_segment_root_only() {
    let seg = Seg::new();
    let g = seg.open();
    assert_eq!(g.path().to_str(), Some(seg.path().as_str()));
    assert_eq!(g.name(), seg.name());
    let meta = std::fs::metadata(seg.path()).expect("segment exists");
    assert_eq!(meta.len(), SEGMENT_SIZE as u64);
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let bytes = std::fs::read(seg.path()).expect("read");
    assert_eq!(&bytes[..8], b"VRRPDGRP");
}

#[test]
fn open_existing_never_creates() {
    let seg = Seg::new();
    match GroupShm::open_existing(seg.name()) {
        Err(ShmError::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound)
        }
        other => panic!("expected NotFound, got {other:?}"),
    }
    assert!(!std::path::Path::new(&seg.path()).exists());
    let mut g = seg.open();
    let s = g.claim("eth0", 1, secs(1)).expect("claim");
    g.publish(s, MemberState::Master, 100, secs(1))
        .expect("publish");
    let r = GroupShm::open_existing(seg.name()).expect("open existing");
    assert_eq!(r.members()[0].1.state, MemberState::Master);
}

#[test]
fn invalid_group_names_refused() {
    for bad in ["", "a/b", "../x", "a b", &"x".repeat(33)] {
        assert!(matches!(GroupShm::open(bad), Err(ShmError::InvalidName(_))));
    }
}

#[test]
fn two_handles_claim_two_slots() {
    let seg = Seg::new();
    let mut a = seg.open();
    let mut b = seg.open();
    let s0 = a.seq();
    let sa = a.claim("eth0", 1, secs(10)).expect("claim a");
    let sb = b.claim("eth1", 2, secs(10)).expect("claim b");
    assert_ne!(sa, sb);
    assert!(b.seq() != s0);
    let ms = b.members();
    assert_eq!(ms.len(), 2);
    assert!(ms
        .iter()
        .all(|(_, m)| m.state == MemberState::Starting && m.alive));
    // Same (ifname, vrid) a second time: refused, even from this same process.
    match b.claim("eth0", 1, secs(10)) {
        Err(ShmError::AlreadyMember(pid)) => assert_eq!(pid, std::process::id()),
        other => panic!("expected AlreadyMember, got {other:?}"),
    }
    // Same interface, other VRID: fine.
    let sc = b.claim("eth0", 3, secs(10)).expect("claim eth0/3");
    assert_eq!(a.members().len(), 3);
    b.release(sc);
    assert_eq!(a.members().len(), 2);
}

#[test]
fn invalid_ifnames_refused() {
    let seg = Seg::new();
    let mut g = seg.open();
    for bad in ["", "a\nb", "0123456789abcdef"] {
        assert!(matches!(
            g.claim(bad, 1, secs(1)),
            Err(ShmError::InvalidName(_))
        ));
    }
}

#[test]
fn publish_members_round_trip() {
    let seg = Seg::new();
    let mut a = seg.open();
    let b = seg.open();
    let slot = a.claim("eth1", 52, secs(10)).expect("claim");
    let before = b.seq();
    a.publish(slot, MemberState::Master, 150, secs(11))
        .expect("publish");
    assert_ne!(b.seq(), before);
    let ms = b.members();
    assert_eq!(ms.len(), 1);
    let (s, m) = &ms[0];
    assert_eq!(*s, slot);
    assert_eq!(m.pid, std::process::id());
    assert_eq!(m.ifname, "eth1");
    assert_eq!(m.vrid, 52);
    assert_eq!(m.state, MemberState::Master);
    assert_eq!(m.priority, 150);
    assert_eq!(m.heartbeat, secs(11));
    assert!(m.alive);

    // A heartbeat moves the time but does not bump seq.
    let seq = b.seq();
    a.heartbeat(slot, secs(12)).expect("heartbeat");
    assert_eq!(b.seq(), seq);
    assert_eq!(b.members()[0].1.heartbeat, secs(12));

    // Only the owning handle may publish.
    assert!(matches!(
        b.publish(slot, MemberState::Fault, 1, secs(13)),
        Err(ShmError::NotOwner(_))
    ));
    assert!(matches!(
        a.publish(NSLOTS + 3, MemberState::Fault, 1, secs(13)),
        Err(ShmError::NotOwner(_))
    ));

    a.release(slot);
    assert!(b.members().is_empty());
    assert!(matches!(
        a.publish(slot, MemberState::Master, 1, secs(13)),
        Err(ShmError::NotOwner(_))
    ));
}

#[test]
fn drop_releases_slots() {
    let seg = Seg::new();
    let watcher = seg.open();
    {
        let mut g = seg.open();
        g.claim("eth0", 1, secs(1)).expect("claim");
        g.claim("eth1", 1, secs(1)).expect("claim");
        assert_eq!(watcher.members().len(), 2);
    }
    assert!(watcher.members().is_empty());
}

#[test]
fn verdict_through_the_table() {
    let seg = Seg::new();
    let mut a = seg.open();
    let mut b = seg.open();
    let sa = a.claim("eth0", 1, secs(10)).expect("claim");
    let sb = b.claim("eth1", 2, secs(10)).expect("claim");
    a.publish(sa, MemberState::Ready, 100, secs(10))
        .expect("publish");
    assert_eq!(
        verdict(&a, sa, 2, secs(10), TIMEOUT),
        Verdict::Hold {
            reason: Hold::NotReady {
                member: "eth1/2".into(),
                state: MemberState::Starting
            }
            .into()
        }
    );
    b.publish(sb, MemberState::Master, 100, secs(10))
        .expect("publish");
    assert_eq!(verdict(&a, sa, 2, secs(11), TIMEOUT), Verdict::Go);
    assert_eq!(
        verdict(&a, sa, 3, secs(11), TIMEOUT),
        Verdict::Hold {
            reason: Hold::Waiting {
                need: 3,
                running: 2
            }
            .into()
        }
    );
    b.publish(sb, MemberState::Backup, 100, secs(12))
        .expect("publish");
    assert_eq!(
        verdict(&a, sa, 2, secs(12), TIMEOUT),
        Verdict::Hold {
            reason: Hold::NotReady {
                member: "eth1/2".into(),
                state: MemberState::Backup
            }
            .into()
        }
    );
    b.publish(sb, MemberState::Master, 100, secs(12))
        .expect("publish");
    match verdict(&a, sa, 2, secs(16), TIMEOUT) {
        Verdict::Hold { reason } => {
            assert_eq!(reason.to_string(), "eth1/2 heartbeat stale (4.0s)")
        }
        Verdict::Go => panic!("stale member accepted"),
    }
    // Not a member: hold.
    assert!(!verdict(&a, 200, 1, secs(12), TIMEOUT).is_go());
}

#[test]
fn dead_pid_slot_is_reclaimed() {
    let seg = Seg::new();
    let mut a = seg.open();
    let dead = dead_pid();
    let s = a.claim_as(dead, "eth9", 9, secs(1)).expect("claim_as");
    assert_eq!(s, 0);
    let ms = a.members();
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].1.pid, dead);
    assert!(!ms[0].1.alive);
    assert!(a.member_pids().is_empty());
    // The group sees the death.
    let mut b = seg.open();
    let sb = b.claim("eth0", 1, secs(2)).expect("claim");
    // The dead slot was reaped and reused.
    assert_eq!(sb, 0);
    let ms = b.members();
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0].1.ifname, "eth0");
    assert!(ms[0].1.alive);
}

/// `vrrpd --cleanup`'s part ([`GroupShm::clean_dead_member`]): the slot of the member asked for
/// is freed only when its owner is dead (a live one's never), another dead member's is left,
/// and the segment goes once no live member is left; no segment at all is no error.
#[test]
fn clean_dead_member_frees_only_a_dead_owners_slot() {
    use vrrpd::proto::Family;
    let seg = Seg::new();
    let mut a = seg.open();
    let (kid, kid2) = (Kid::sleeper(), Kid::sleeper());
    a.claim_as(kid.pid(), "eth0", 51, secs(1))
        .expect("claim_as");
    a.claim_as(kid2.pid(), "eth0", 53, secs(1))
        .expect("claim_as");
    // (A claim reaps every dead slot: the dead one comes last.)
    let dead = dead_pid();
    a.claim_as(dead, "eth0", 52, secs(1)).expect("claim_as");
    let clean = |vrid| GroupShm::clean_dead_member(seg.name(), "eth0", vrid, Family::V4);
    let vrids = |g: &GroupShm| -> Vec<(u8, bool)> {
        g.members().iter().map(|(_, m)| (m.vrid, m.alive)).collect()
    };
    let (freed, removed) = clean(51).expect("clean");
    assert!(
        freed.is_empty() && !removed,
        "a live member's slot: {freed:?}"
    );
    let (freed, removed) = clean(52).expect("clean");
    assert_eq!(freed.len(), 1, "{freed:?}");
    assert_eq!((freed[0].pid, freed[0].vrid), (dead, 52));
    assert!(!removed, "removed with live members");
    assert_eq!(vrids(&a), vec![(51, true), (53, true)]);
    // IPv6 eth0/53 is another member: nothing to free.
    let (freed, _) =
        GroupShm::clean_dead_member(seg.name(), "eth0", 53, Family::V6).expect("clean");
    assert!(freed.is_empty(), "{freed:?}");
    // eth0/53 dies: the clean-up of eth0/51 (alive) frees nothing, not even eth0/53's slot.
    drop(kid2);
    let (freed, removed) = clean(51).expect("clean");
    assert!(freed.is_empty() && !removed, "{freed:?}");
    assert_eq!(vrids(&a), vec![(51, true), (53, false)]);
    // eth0/51 dies too: its clean-up frees its slot and, no live member left, the segment.
    drop(kid);
    let (freed, removed) = clean(51).expect("clean");
    assert_eq!(freed.len(), 1, "{freed:?}");
    assert!(removed, "no live member left, the segment stays");
    assert!(!std::path::Path::new(&seg.path()).exists());
    assert_eq!(clean(51).expect("no segment").0.len(), 0);
}

#[test]
fn own_stale_slot_is_reclaimed() {
    let seg = Seg::new();
    let mut a = seg.open();
    let mut b = seg.open();
    b.claim("eth5", 5, secs(1)).expect("claim");
    // A crashed previous incarnation of eth0/1.
    let dead = dead_pid();
    let stale = a.claim_as(dead, "eth0", 1, secs(1)).expect("claim_as");
    let s = a.claim("eth0", 1, secs(2)).expect("restart claims");
    assert_eq!(s, stale);
    let ms = b.members();
    assert_eq!(ms.len(), 2);
    assert!(ms.iter().all(|(_, m)| m.alive));
    assert_eq!(
        ms.iter().filter(|(_, m)| m.ifname == "eth0").count(),
        1,
        "no duplicate left: {ms:?}"
    );
}

#[test]
fn reap_dead_reports_what_it_removed() {
    let seg = Seg::new();
    let mut a = seg.open();
    let dead = dead_pid();
    a.claim_as(dead, "eth3", 7, secs(1)).expect("claim_as");
    let seq = a.seq();
    let reaped = a.reap_dead();
    assert_eq!(reaped.len(), 1);
    assert_eq!(reaped[0].pid, dead);
    assert_eq!(reaped[0].ifname, "eth3");
    assert_eq!(reaped[0].vrid, 7);
    assert_ne!(a.seq(), seq);
    assert!(a.members().is_empty());
    assert!(a.reap_dead().is_empty());
}

#[test]
fn live_duplicate_is_refused() {
    let seg = Seg::new();
    let mut a = seg.open();
    let kid = Kid::sleeper();
    a.claim_as(kid.pid(), "eth0", 1, secs(1)).expect("claim_as");
    let mut b = seg.open();
    match b.claim("eth0", 1, secs(2)) {
        Err(ShmError::AlreadyMember(pid)) => assert_eq!(pid, kid.pid()),
        other => panic!("expected AlreadyMember, got {other:?}"),
    }
    assert_eq!(a.member_pids(), vec![kid.pid()]);
    drop(kid);
    // Once it is gone, its slot is reclaimed.
    b.claim("eth0", 1, secs(3)).expect("claim after death");
    assert_eq!(b.members().len(), 1);
}

#[test]
fn zombie_is_dead() {
    let seg = Seg::new();
    let mut a = seg.open();
    let mut c = Command::new("true").spawn().expect("spawn");
    let pid = c.id();
    // Wait until it has exited but is not reaped yet.
    for _ in 0..500 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat
            .rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    a.claim_as(pid, "eth0", 1, secs(1)).expect("claim_as");
    let ms = a.members();
    assert_eq!(ms.len(), 1);
    assert!(!ms[0].1.alive, "zombie counted as alive");
    c.wait().expect("reap");
}

#[test]
fn reused_pid_is_dead() {
    let seg = Seg::new();
    let mut a = seg.open();
    let kid = Kid::sleeper();
    let s = a.claim_as(kid.pid(), "eth0", 1, secs(1)).expect("claim_as");
    assert!(a.members()[0].1.alive);
    // Pretend the slot was written by an earlier process with the same pid.
    seg.write_at(Seg::slot_off(s) + 48, &1u64.to_ne_bytes());
    let ms = a.members();
    assert!(!ms[0].1.alive, "pid reuse not detected");
    assert!(a.member_pids().is_empty());
    assert_eq!(a.signal_members(libc::SIGTERM), 0);
    let mut b = seg.open();
    b.claim("eth0", 1, secs(2)).expect("reclaimed");
    drop(kid);
}

#[test]
fn signal_members_reaches_live_members_only() {
    let seg = Seg::new();
    let mut a = seg.open();
    a.claim("eth0", 1, secs(1)).expect("claim");
    let mut kid = Kid::sleeper();
    a.claim_as(kid.pid(), "eth1", 1, secs(1)).expect("claim_as");
    a.claim_as(dead_pid(), "eth2", 1, secs(1))
        .expect("claim_as");
    assert_eq!(a.member_pids(), vec![kid.pid()]);
    // Own pid excluded, dead pid skipped: only the sleeper gets SIGTERM.
    assert_eq!(a.signal_members(libc::SIGTERM), 1);
    let status = kid.0.wait().expect("wait");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGTERM));
}

#[test]
fn two_group_names_are_independent() {
    let s1 = Seg::new();
    let s2 = Seg::new();
    let mut a = s1.open();
    let mut b = s2.open();
    a.claim("eth0", 1, secs(1)).expect("claim");
    b.claim("eth0", 1, secs(1))
        .expect("same member in another group");
    a.claim("eth1", 1, secs(1)).expect("claim");
    assert_eq!(a.members().len(), 2);
    assert_eq!(b.members().len(), 1);
    assert_ne!(a.path(), b.path());
}

#[test]
fn default_group_name_is_per_netns() {
    let n = shm::default_group_name().expect("netns");
    assert!(n.starts_with("ns"));
    assert!(shm::validate_group_name(&n).is_ok());
}

#[test]
fn garbage_segment_is_refused() {
    let mut rng = XorShift(0x9e37_79b9_7f4a_7c15);
    for _ in 0..20 {
        let seg = Seg::new();
        drop(seg.open());
        seg.write_at(0, &rng.bytes(SEGMENT_SIZE));
        match GroupShm::open(seg.name()) {
            Err(ShmError::Corrupt(_)) | Err(ShmError::Incompatible { .. }) => {}
            other => panic!("garbage accepted: {other:?}"),
        }
    }
}

#[test]
fn header_mismatches_are_refused() {
    let seg = Seg::new();
    drop(seg.open());
    let good = std::fs::read(seg.path()).expect("read");
    let patch = |off: usize, val: u32| {
        seg.write_at(0, &good[..HEADER_SIZE]);
        seg.write_at(off, &val.to_ne_bytes());
        GroupShm::open(seg.name())
    };
    match patch(8, 2) {
        Err(ShmError::Incompatible { found_version }) => assert_eq!(found_version, 2),
        other => panic!("expected Incompatible, got {other:?}"),
    }
    for (off, val) in [(12, 32), (16, 48), (20, 254), (20, 9)] {
        match patch(off, val) {
            Err(ShmError::Corrupt(msg)) => assert!(msg.contains("expected"), "{msg}"),
            other => panic!("expected Corrupt for {off}={val}, got {other:?}"),
        }
    }
    // Bad magic.
    seg.write_at(0, &good[..HEADER_SIZE]);
    seg.write_at(0, b"VRRPDGRQ");
    assert!(matches!(
        GroupShm::open(seg.name()),
        Err(ShmError::Corrupt(_))
    ));
    // Restored: fine again.
    seg.write_at(0, &good[..HEADER_SIZE]);
    seg.open();
}

#[test]
fn truncated_or_grown_segment_is_refused() {
    let seg = Seg::new();
    drop(seg.open());
    for len in [4096u64, SEGMENT_SIZE as u64 + 4096, SEGMENT_SIZE as u64 - 1] {
        let f = OpenOptions::new()
            .write(true)
            .open(seg.path())
            .expect("open");
        f.set_len(len).expect("truncate");
        match GroupShm::open(seg.name()) {
            Err(ShmError::Corrupt(msg)) => assert!(!msg.is_empty()),
            other => panic!("size {len} accepted: {other:?}"),
        }
    }
}

#[test]
fn insecure_segments_are_refused() {
    let seg = Seg::new();
    drop(seg.open());
    std::fs::set_permissions(seg.path(), std::fs::Permissions::from_mode(0o666)).expect("chmod");
    assert!(matches!(
        GroupShm::open(seg.name()),
        Err(ShmError::Insecure(_))
    ));
    std::fs::set_permissions(seg.path(), std::fs::Permissions::from_mode(0o600)).expect("chmod");
    seg.open();

    // A symlink at the name, or a segment another user owns, is replaced instead (never
    // followed, never opened): segment_created_by_another_user_is_replaced_with_a_warning and
    // symlink_at_the_segment_name_is_replaced_not_followed.
}

/// Eight processes' worth of openers race to create the same new segment (released together by
/// a barrier), each claiming a slot at once: exactly one initialises it, and no later opener
/// wipes an earlier one's claim: every claim is there, in distinct slots, seen from a fresh open.
#[test]
fn concurrent_open_of_new_segment() {
    let seg = Seg::new();
    let name = seg.name().to_string();
    let _ = GroupShm::unlink(&name);
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
    let handles: Vec<_> = (0..8u8)
        .map(|i| {
            let name = name.clone();
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let mut g = GroupShm::open(&name).expect("open");
                let slot = g.claim(&format!("eth{i}"), i + 1, secs(1)).expect("claim");
                (g, slot)
            })
        })
        .collect();
    let held: Vec<(GroupShm, usize)> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let mut slots: Vec<usize> = held.iter().map(|(_, s)| *s).collect();
    slots.sort_unstable();
    slots.dedup();
    assert_eq!(slots.len(), 8, "slots {slots:?}");
    let fresh = seg.open();
    let mut labels: Vec<String> = fresh.members().iter().map(|(_, m)| m.label()).collect();
    labels.sort();
    let want: Vec<String> = (0..8u8).map(|i| format!("eth{i}/{}", i + 1)).collect();
    assert_eq!(labels, want, "claims lost in the race");
    for (g, _) in &held {
        assert_eq!(g.members().len(), 8);
    }
}

#[test]
fn concurrent_claims_get_distinct_slots() {
    let seg = Seg::new();
    let name = seg.name().to_string();
    let handles: Vec<_> = (0..16u8)
        .map(|i| {
            let name = name.clone();
            std::thread::spawn(move || {
                let mut g = GroupShm::open(&name).expect("open");
                let s = g.claim(&format!("eth{i}"), i + 1, secs(1)).expect("claim");
                (g, s)
            })
        })
        .collect();
    let mut held: Vec<(GroupShm, usize)> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let mut slots: Vec<usize> = held.iter().map(|(_, s)| *s).collect();
    slots.sort_unstable();
    slots.dedup();
    assert_eq!(slots.len(), 16);
    assert_eq!(held[0].0.members().len(), 16);
    held.clear();
    assert!(seg.open().members().is_empty());
}

#[test]
fn racing_duplicates_never_both_win() {
    let seg = Seg::new();
    for round in 0..20u8 {
        let name = seg.name().to_string();
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(4));
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let name = name.clone();
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    let mut g = GroupShm::open(&name).expect("open");
                    barrier.wait();
                    let r = g.claim("eth0", round, secs(1));
                    (g, r.is_ok())
                })
            })
            .collect();
        let results: Vec<(GroupShm, bool)> = handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect();
        let winners = results.iter().filter(|(_, ok)| *ok).count();
        assert!(winners <= 1, "round {round}: {winners} winners");
        let n = results[0].0.members().len();
        assert!(n <= 1, "round {round}: {n} members");
    }
}

/// One slot's worth of bytes: either raw garbage or plausible values with random fields.
fn slot_bytes() -> impl Strategy<Value = Vec<u8>> {
    let raw = proptest::collection::vec(any::<u8>(), SLOT_SIZE);
    let own = std::process::id();
    let structured = (
        prop_oneof![Just(0u32), Just(own), Just(1u32), any::<u32>()],
        any::<u32>(),
        0u8..10,
        any::<u8>(),
        any::<u8>(),
        any::<[u8; 16]>(),
        any::<u64>(),
        prop_oneof![Just(0u64), any::<u64>()],
    )
        .prop_map(|(pid, gen, state, prio, vrid, ifname, hb, start)| {
            let mut b = vec![0u8; SLOT_SIZE];
            b[0..4].copy_from_slice(&pid.to_ne_bytes());
            b[4..8].copy_from_slice(&(gen & !1).to_ne_bytes());
            b[8] = state;
            b[9] = prio;
            b[10] = vrid;
            b[12..28].copy_from_slice(&ifname);
            b[32..40].copy_from_slice(&hb.to_ne_bytes());
            b[48..56].copy_from_slice(&start.to_ne_bytes());
            b
        });
    prop_oneof![raw, structured]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn garbage_slots_never_panic(
        slots in proptest::collection::vec((0..NSLOTS, slot_bytes()), 1..12),
        size in any::<u8>(),
        now in any::<u64>(),
    ) {
        let seg = Seg::new();
        let mut g = seg.open();
        for (i, bytes) in &slots {
            seg.write_at(Seg::slot_off(*i), bytes);
        }
        let ms = g.members();
        for (i, m) in &ms {
            prop_assert!(*i < NSLOTS);
            prop_assert!(m.pid != 0);
            prop_assert!(m.state != MemberState::Empty);
            prop_assert!(!m.ifname.is_empty());
            prop_assert!(!m.ifname.chars().any(char::is_control));
        }
        let _ = g.member_pids();
        let now = Duration::from_nanos(now);
        for (i, _) in &ms {
            let _ = verdict(&g, *i, size, now, TIMEOUT);
        }
        if let Ok(s) = g.claim("eth0", 200, now) {
            let _ = g.publish(s, MemberState::Ready, 100, now);
            let _ = verdict(&g, s, size, now, TIMEOUT);
            g.release(s);
        }
        let _ = g.reap_dead();
        let _ = g.members();
    }

    #[test]
    fn garbage_headers_never_panic(header in proptest::collection::vec(any::<u8>(), HEADER_SIZE)) {
        let seg = Seg::new();
        drop(seg.open());
        seg.write_at(0, &header);
        match GroupShm::open(seg.name()) {
            Ok(_) => prop_assert!(header.starts_with(b"VRRPDGRP")),
            Err(ShmError::Corrupt(_)) | Err(ShmError::Incompatible { .. }) => {}
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }
}

/// Issue 13, defect 6: a creator killed between creating the segment and writing its header
/// (empty, or sized with no magic — as older vrrpds could leave it) does not block the group
/// for ever: the next opener removes it and makes a whole one.
#[test]
fn half_written_segment_is_recovered() {
    for len in [0usize, SEGMENT_SIZE] {
        let seg = Seg::new();
        let f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(seg.path())
            .expect("create");
        std::fs::set_permissions(seg.path(), std::fs::Permissions::from_mode(0o600))
            .expect("chmod");
        f.set_len(len as u64).expect("size");
        drop(f);
        let mut g = match GroupShm::open(seg.name()) {
            Ok(g) => g,
            Err(e) => panic!("half-written segment ({len} bytes) refused: {e}"),
        };
        g.claim("eth0", 1, secs(1)).expect("claim");
        let fresh = seg.open();
        assert_eq!(fresh.members().len(), 1);
        assert_eq!(
            std::fs::metadata(seg.path()).expect("stat").len(),
            SEGMENT_SIZE as u64
        );
    }
}

/// Issue 13, defect 6: another local user created the segment's name first (the default name
/// is guessable). No vrrpd of ours made it, so no member can be using it: it is replaced (moved
/// away and removed, never opened or written), the group is joined, and the handle carries a
/// warning naming the file, the foreign uid and its mode.
#[test]
fn segment_created_by_another_user_is_replaced_with_a_warning() {
    let test = "segment_created_by_another_user_is_replaced_with_a_warning";
    if !nix::unistd::geteuid().is_root() {
        common::skip(test, "needs root (to chown a segment to another user)");
        return;
    }
    let seg = Seg::new();
    std::fs::write(seg.path(), b"squatter").expect("create");
    std::os::unix::fs::chown(seg.path(), Some(65534), Some(65534)).expect("chown");
    std::fs::set_permissions(seg.path(), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (g, slot) = GroupShm::join(seg.name(), "eth0", 1, vrrpd::proto::Family::V4, secs(1))
        .unwrap_or_else(|e| panic!("squatted segment not replaced: {e}"));
    let note = g
        .replaced_notice()
        .expect("a warning about the replaced segment");
    assert!(note.contains(&seg.path()), "{note}");
    assert!(note.contains("uid 65534") && note.contains("644"), "{note}");
    assert!(note.contains("replaced"), "{note}");
    let m = std::fs::symlink_metadata(seg.path()).expect("stat");
    assert_eq!(
        (m.uid(), m.mode() & 0o7777, m.len()),
        (nix::unistd::geteuid().as_raw(), 0o600, SEGMENT_SIZE as u64)
    );
    assert_eq!(g.members().len(), 1);
    // Nothing of the squatter's (or of a private name) is left behind.
    let prefix = format!(".vrrpd-group-{}.", seg.name());
    let left: Vec<String> = std::fs::read_dir("/dev/shm")
        .expect("readdir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(left.is_empty(), "left in /dev/shm: {left:?}");
    let _ = slot;
}

/// Issue 13, defect 6: a symlink at the segment's name (to a file of the test's) is never
/// followed: the link is replaced, the file it points at is untouched.
#[test]
fn symlink_at_the_segment_name_is_replaced_not_followed() {
    let test = "symlink_at_the_segment_name_is_replaced_not_followed";
    if !nix::unistd::geteuid().is_root() {
        println!("SKIPPED: {test}: needs root");
        return;
    }
    let seg = Seg::new();
    let target = std::env::temp_dir().join(format!("{test}-{}", std::process::id()));
    std::fs::write(&target, b"precious").expect("target");
    std::os::unix::fs::symlink(&target, seg.path()).expect("symlink");
    std::os::unix::fs::lchown(seg.path(), Some(65534), Some(65534)).expect("lchown");
    let r = GroupShm::open(seg.name());
    let content = std::fs::read(&target).expect("read target");
    let tm = std::fs::metadata(&target).expect("stat target");
    let _ = std::fs::remove_file(&target);
    let g = r.unwrap_or_else(|e| panic!("symlink not replaced: {e}"));
    assert_eq!(content, b"precious", "the symlink was followed");
    assert_eq!(tm.len(), 8);
    let m = std::fs::symlink_metadata(seg.path()).expect("stat");
    assert!(m.file_type().is_file(), "{m:?}");
    assert_eq!(m.len(), SEGMENT_SIZE as u64);
    let note = g.replaced_notice().expect("a warning");
    assert!(
        note.contains(&seg.path()) && note.contains("symlink"),
        "{note}"
    );
}

/// Issue 13, defect 5: the last member leaving while a new member has opened the segment but not
/// yet claimed its slot must not remove the segment under it (the group would split: a third
/// member would create a new one and never see the second). `join` holds the segment's lock
/// from open to claim; `leave` waits for it.
#[test]
fn last_member_leaving_does_not_split_a_joining_member() {
    let seg = Seg::new();
    let name = seg.name().to_string();
    let (a, sa) = GroupShm::join(&name, "eth0", 1, vrrpd::proto::Family::V4, secs(1)).expect("a");
    let mut a = Some((a, sa));
    let mut leaver = None;
    let (b, _sb) = GroupShm::join_with(&name, "eth1", 2, vrrpd::proto::Family::V4, secs(2), || {
        if let Some((mut a, sa)) = a.take() {
            leaver = Some(std::thread::spawn(move || a.leave(sa)));
            // Time for the leaver to release its slot and (unfixed) remove the segment.
            std::thread::sleep(Duration::from_millis(200));
        }
    })
    .expect("b");
    let removed = leaver.expect("leaver").join().expect("leaver thread");
    assert!(
        !removed,
        "the last member removed the segment a member was joining"
    );
    let c = seg.open();
    let labels: Vec<String> = c.members().iter().map(|(_, m)| m.label()).collect();
    assert_eq!(labels, vec!["eth1/2".to_string()], "the group split");
    assert_eq!(b.members().len(), 1);
}

/// Issue 13, defect 13: a slot owned by a process of another PID namespace (a container
/// sharing /dev/shm) holds a pid that means nothing here: it is alive while its heartbeat is
/// fresh, is not reaped by our claims, and is never signalled; once its heartbeat is older
/// than `FOREIGN_STALE` it is reaped.
#[test]
fn slot_of_another_pid_namespace_is_not_reaped() {
    let seg = Seg::new();
    drop(seg.open());
    let now = vrrpd::sys::clock::now();
    // A pid that does not exist here (dead_pid), in a namespace that is not ours.
    let pid = dead_pid();
    let write_slot = |slot: usize, heartbeat: Duration| {
        let off = Seg::slot_off(slot);
        let mut b = vec![0u8; SLOT_SIZE];
        b[0..4].copy_from_slice(&pid.to_ne_bytes());
        b[4..8].copy_from_slice(&2u32.to_ne_bytes());
        b[8] = MemberState::Backup.to_u8();
        b[9] = 100;
        b[10] = 7;
        b[12..16].copy_from_slice(b"eth7");
        let hb = heartbeat.as_nanos() as u64;
        b[32..40].copy_from_slice(&hb.to_ne_bytes());
        b[40..48].copy_from_slice(&hb.to_ne_bytes());
        b[48..56].copy_from_slice(&12345u64.to_ne_bytes());
        b[56..64].copy_from_slice(&1u64.to_ne_bytes()); // no real namespace has inode 1
        seg.write_at(off, &b);
    };
    write_slot(0, now);
    let mut g = seg.open();
    assert!(
        g.reap_dead().is_empty(),
        "a live member of another namespace was reaped"
    );
    let sg = g.claim("eth0", 1, now).expect("claim");
    assert_ne!(sg, 0, "its slot was taken");
    let ms = g.members();
    let foreign = ms.iter().find(|(i, _)| *i == 0).expect("still a member");
    assert!(foreign.1.alive, "judged by its pid, not its heartbeat");
    assert_eq!(
        g.member_pids(),
        Vec::<u32>::new(),
        "a foreign pid would be signalled"
    );
    assert_eq!(g.signal_members(0), 0);
    // Silent for longer than FOREIGN_STALE: dead, reaped.
    let old = now.saturating_sub(shm::FOREIGN_STALE + secs(1));
    write_slot(0, old.max(Duration::from_nanos(1)));
    if now > shm::FOREIGN_STALE + secs(1) {
        assert_eq!(g.reap_dead().len(), 1, "a stale foreign slot was kept");
    }
}

/// Issue 14: a 255-member group never came up, because every check of the group read
/// `/proc/PID/stat` of every member (N reads per verdict and per wake-up sent, N² per change in
/// the group) and a join did it under the segment's lock. Now a member already checked costs
/// no `/proc` read (its pidfd is polled), and the locked part of a join reads none either.
#[test]
fn checks_do_not_read_proc_for_every_member() {
    const N: usize = 40;
    let seg = Seg::new();
    let mut a = seg.open();
    let kids: Vec<Kid> = (0..N).map(|_| Kid::sleeper()).collect();
    for (n, k) in kids.iter().enumerate() {
        a.claim_as(k.pid(), "eth0", u8::try_from(n + 1).expect("vrid"), secs(1))
            .expect("claim_as");
    }
    // The first look checks each new owner once.
    assert!(a.members().iter().all(|(_, m)| m.alive));
    let before = shm::proc_stat_reads();
    for _ in 0..10 {
        let ms = a.members();
        assert_eq!(ms.len(), N);
        assert!(ms.iter().all(|(_, m)| m.alive));
    }
    assert_eq!(a.signal_members(0), N);
    let reads = shm::proc_stat_reads() - before;
    assert!(
        reads <= 2,
        "10 views and one wake-up of {N} known members read /proc {reads} times"
    );

    // A join's locked part (after `between`) reads no /proc of the others.
    let mut locked_from = 0;
    let (b, _slot) = GroupShm::join_with(
        seg.name(),
        "eth9",
        1,
        vrrpd::proto::Family::V4,
        secs(2),
        || locked_from = shm::proc_stat_reads(),
    )
    .expect("join");
    let locked = shm::proc_stat_reads() - locked_from;
    assert!(
        locked <= 2,
        "the locked claim read /proc {locked} times with {N} members"
    );

    // A member that exits is still seen dead at once (zombie first, then reaped).
    let mut kids = kids;
    let mut gone = kids.pop().expect("a kid");
    let gone_pid = gone.pid();
    gone.0.kill().expect("kill");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while a
        .members()
        .iter()
        .any(|(_, m)| m.pid == gone_pid && m.alive)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "exited member still alive"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(a.signal_members(0), N - 1);
    let _ = gone.0.wait();
    assert!(a
        .members()
        .iter()
        .any(|(_, m)| m.pid == gone_pid && !m.alive));
    drop(b);
    drop(kids);
}
