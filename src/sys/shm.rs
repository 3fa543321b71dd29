//! The host group's shared table: a POSIX shared-memory segment `/dev/shm/vrrpd-group-<name>`.
//!
//! Every vrrpd process of a host group (`-M N`) claims one slot, publishes its
//! [`MemberState`] there and heartbeats; every member reads the whole table and feeds it to
//! [`crate::proto::group::verdict`]. Waking the others after a change is the caller's job (a real-time
//! signal to [`GroupShm::member_pids`], or [`GroupShm::signal_members`]).
//!
//! # Group name
//!
//! `--group NAME` (1–32 characters of `[A-Za-z0-9_.-]`, see [`validate_group_name`]) or by default
//! `ns<inode of /proc/self/ns/net>` ([`default_group_name`]): two routers simulated on one host in
//! different network namespaces do not share a group.
//!
//! # Segment
//!
//! Made whole under a private name (`/dev/shm/.vrrpd-group-<name>.<pid>.<n>`, `O_CREAT|O_EXCL|
//! O_NOFOLLOW`, mode 0600, `ftruncate`d to [`SEGMENT_SIZE`], header written), then `link(2)`ed to
//! its name, which fails if the name exists: the name never shows a half-written segment, and a
//! creator killed half-way leaves only its private file. Others open the name without `O_CREAT`
//! and map it `MAP_SHARED`. An existing segment is never trusted: it must be a regular file owned
//! by our effective uid, not writable by group or others, exactly [`SEGMENT_SIZE`] bytes, with the
//! right magic, version, header size, slot size and slot count, else [`ShmError`] (`Corrupt`,
//! `Incompatible`, `Insecure`, each naming the file). What stands at the name and is not ours
//! (by `lstat(2)`: not a regular file, e.g. a symlink, or another uid's, or writable by group
//! or others: another local user created the guessable name first) was not made by a vrrpd of
//! ours, so no member can be using it: it is never opened, but `rename(2)`d aside and removed,
//! and ours made instead, with a warning for the caller to log ([`GroupShm::replaced_notice`];
//! issue 13, defect 6). Where we may not remove it (a non-root vrrpd) it is refused naming it. One of ours that
//! never got its header (empty, or no magic after 100 ms: a creator of an older vrrpd killed
//! half-way) is removed and made again, under the lock below, instead of being refused for ever.
//!
//! # Joining and leaving
//!
//! [`GroupShm::join`] and [`GroupShm::leave`] hold an `flock(2)` on the segment while they claim
//! (resp. release the slot, look for live members and, for the last one out, `shm_unlink`): a
//! joiner that locked a segment checks that the name still names it (else it was unlinked by the
//! last member leaving: it starts again), so a new member can never claim a slot in a segment
//! that is being removed, which would split the group (issue 13, defect 5).
//!
//! # PID namespaces
//!
//! Containers may share `/dev/shm` (and the network) without sharing the PID namespace: a pid in
//! a slot means nothing in another namespace. Each slot records its owner's PID namespace; a
//! slot of *another* namespace is judged by its heartbeat alone (alive while it is younger than
//! [`FOREIGN_STALE`]), never by `kill(2)` or `/proc`, and its owner is never signalled (it sees
//! changes at its next heartbeat tick). A member whose slot was nevertheless taken (by an older
//! vrrpd) claims a new one instead of failing to publish for ever (`daemon::group`).
//!
//! # Layout (version 1, native byte order, 16384 bytes)
//!
//! Header, 64 bytes at offset 0:
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0  | u64 | `magic` = [`MAGIC`], the bytes `"VRRPDGRP"` in memory |
//! | 8  | u32 | `version` = 1 |
//! | 12 | u32 | `header_size` = 64 |
//! | 16 | u32 | `slot_size` = 64 |
//! | 20 | u32 | `nslots` = 255 |
//! | 24 | u32 | `seq`: bumped after every change (claim, publish, release, reap) |
//! | 28 | 36 bytes | reserved, zero |
//!
//! Then 255 slots of 64 bytes, slot `i` at `64 + 64 * i`:
//!
//! | offset | type | field |
//! |---|---|---|
//! | 0  | u32 | `pid` (0 = free) |
//! | 4  | u32 | `generation`: odd while the owner rewrites the slot's identity |
//! | 8  | u8  | `state` ([`MemberState::to_u8`]) |
//! | 9  | u8  | `priority` |
//! | 10 | u8  | `vrid` |
//! | 11 | u8  | `family`: 0 IPv4 (what layout 1 segments written before it hold), 1 IPv6 |
//! | 12 | [u8; 16] | `ifname`, NUL padded (at most 15 bytes) |
//! | 28 | u32 | reserved |
//! | 32 | u64 | `heartbeat_ns`: CLOCK_MONOTONIC of the last update |
//! | 40 | u64 | `claimed_ns`: CLOCK_MONOTONIC of the claim |
//! | 48 | u64 | `start_ticks`: the owner's start time (`/proc/<pid>/stat` field 22), 0 = unknown |
//! | 56 | u64 | `pidns`: inode of the owner's PID namespace (`/proc/self/ns/pid`), 0 = unknown |
//!
//! # Concurrency
//!
//! Lock-free: every field is read and written through an atomic placed in the mapping, so a
//! reader never blocks a writer and a crashed process cannot leave a lock held. `pid` and
//! `generation` form one 64-bit *owner word* changed by compare-and-swap only:
//!
//! - **claim**: `(0, g)` → `(me, odd)`, write identity (vrid, ifname, start, times, state
//!   `Starting`), then `(me, odd + 1)`. A slot whose owner is dead — `kill(pid, 0)` fails with
//!   `ESRCH`, the process is a zombie, or its start time differs from `start_ticks` (pid reused) — is
//!   reaped the same way (`(dead, g)` → `(me, odd)`, identity cleared, → `(0, odd + 1)`).
//! - **identity reads** are a seqlock on the owner word: retried while it is odd or changes.
//! - **state, priority, heartbeat** are single atomics written by the owner only, after checking
//!   that it still owns the slot.
//!
//! # Liveness cost (issue 14)
//!
//! Each handle checks a slot's owner through `/proc` once per owner (owner word and start
//! time), after opening a pidfd to it, then by one `poll(2)` over all the pidfds it keeps: a
//! view of the group reads no `/proc` file, and a wake-up goes through the same pidfd. A join
//! reaps dead slots before taking the lock, so the lock covers a claim and nothing else.
//!
//! Two instances with the same `(ifname, vrid, family)` are refused ([`ShmError::AlreadyMember`]);
//! an IPv4 and an IPv6 virtual router with one VRID are two routers (with distinct virtual MACs,
//! RFC 9568 §7.3) and both may be members. If two duplicates start at the very same moment, a post-claim check (SeqCst fence, then a re-scan) guarantees that
//! at least one of them sees the other; each one that sees a duplicate backs off, so at worst both
//! fail and never both run.
//!
//! Every value read from a slot is sanitized: unreadable interface names become `"?"`, an unknown
//! state byte is reported as [`MemberState::Fault`] (a failed member), pids outside `1..=i32::MAX`
//! are never passed to `kill`. Nothing read from the segment can make this module panic.

use std::fs::File;
use std::io;
use std::num::NonZeroUsize;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::mman::{mmap, munmap, shm_open, shm_unlink, MapFlags, ProtFlags};
use nix::sys::stat::Mode;

use crate::proto::group::{MemberState, MemberView};
use crate::proto::Family;

/// `"VRRPDGRP"` as stored in memory (native byte order).
pub const MAGIC: u64 = u64::from_ne_bytes(*b"VRRPDGRP");
/// Layout version.
pub const VERSION: u32 = 1;
/// Header size in bytes.
pub const HEADER_SIZE: usize = 64;
/// Slot size in bytes.
pub const SLOT_SIZE: usize = 64;
/// Number of slots.
pub const NSLOTS: usize = 255;
/// Total segment size in bytes (16384: four 4 KiB pages).
pub const SEGMENT_SIZE: usize = HEADER_SIZE + NSLOTS * SLOT_SIZE;
/// Prefix of the shared-memory object name (`/dev/shm/vrrpd-group-<name>`).
pub const NAME_PREFIX: &str = "vrrpd-group-";
/// Longest group name.
pub const MAX_GROUP_NAME: usize = 32;
/// Longest interface name stored (IFNAMSIZ - 1).
pub const MAX_IFNAME: usize = 15;

/// How long an opener waits for a concurrent creator to size and initialize the segment.
const INIT_WAIT: Duration = Duration::from_millis(100);
/// Seqlock read attempts before a slot is skipped as "being rewritten".
const READ_TRIES: usize = 64;
/// A slot of another PID namespace is dead once its heartbeat is this old. Heartbeats come at
/// least every advert interval (at most 40.95 s); this leaves room for a loaded host.
pub const FOREIGN_STALE: Duration = Duration::from_secs(120);
/// How long [`GroupShm::join`] and [`GroupShm::leave`] try to take the segment's lock (held
/// for microseconds by the others, longer only by a stopped process).
/// A join holds the lock for a few slot reads and one claim (no `/proc` scan: dead slots
/// are reaped before the lock is taken), so a long wait means a stopped holder.
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Header as mapped. Every field is an atomic: any bit pattern is a valid value.
#[repr(C)]
struct Header {
    magic: AtomicU64,
    version: AtomicU32,
    header_size: AtomicU32,
    slot_size: AtomicU32,
    nslots: AtomicU32,
    seq: AtomicU32,
    _reserved: [AtomicU32; 9],
}

/// One slot as mapped. `owner` covers the documented `pid` (offset 0) and `generation`
/// (offset 4) fields, see [`pack`].
#[repr(C)]
struct Slot {
    owner: AtomicU64,
    state: AtomicU8,
    priority: AtomicU8,
    vrid: AtomicU8,
    family: AtomicU8,
    ifname: [AtomicU8; 16],
    _reserved1: AtomicU32,
    heartbeat_ns: AtomicU64,
    claimed_ns: AtomicU64,
    start_ticks: AtomicU64,
    pidns: AtomicU64,
}

const _: () = {
    assert!(std::mem::size_of::<Header>() == HEADER_SIZE);
    assert!(std::mem::size_of::<Slot>() == SLOT_SIZE);
    assert!(std::mem::align_of::<Header>() <= 8);
    assert!(std::mem::align_of::<Slot>() <= 8);
    assert!(HEADER_SIZE % 8 == 0 && SLOT_SIZE % 8 == 0);
    assert!(std::mem::offset_of!(Header, seq) == 24);
    assert!(std::mem::offset_of!(Slot, state) == 8);
    assert!(std::mem::offset_of!(Slot, priority) == 9);
    assert!(std::mem::offset_of!(Slot, vrid) == 10);
    assert!(std::mem::offset_of!(Slot, family) == 11);
    assert!(std::mem::offset_of!(Slot, ifname) == 12);
    assert!(std::mem::offset_of!(Slot, heartbeat_ns) == 32);
    assert!(std::mem::offset_of!(Slot, claimed_ns) == 40);
    assert!(std::mem::offset_of!(Slot, start_ticks) == 48);
};

const SEGMENT_LEN: NonZeroUsize = match NonZeroUsize::new(SEGMENT_SIZE) {
    Some(n) => n,
    None => panic!("segment size is zero"),
};

/// Packs `(pid, generation)` so that `pid` sits at byte offset 0 and `generation` at 4
/// whatever the byte order.
fn pack(pid: u32, gen: u32) -> u64 {
    let p = pid.to_ne_bytes();
    let g = gen.to_ne_bytes();
    u64::from_ne_bytes([p[0], p[1], p[2], p[3], g[0], g[1], g[2], g[3]])
}

/// Inverse of [`pack`].
fn unpack(w: u64) -> (u32, u32) {
    let b = w.to_ne_bytes();
    (
        u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
    )
}

/// The next odd generation after `g` (marks "identity being rewritten").
fn next_odd(g: u32) -> u32 {
    if g % 2 == 0 {
        g.wrapping_add(1)
    } else {
        g.wrapping_add(2)
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Errors of the shared group table.
#[derive(Debug)]
pub enum ShmError {
    /// Group or interface name not acceptable.
    InvalidName(String),
    /// A system call failed.
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: io::Error,
    },
    /// The existing segment is not a vrrpd group table (or is damaged); it is not used.
    Corrupt(String),
    /// The existing segment has another layout version.
    Incompatible {
        /// The version found in the header.
        found_version: u32,
    },
    /// The existing segment could be tampered with (wrong owner, mode or file type).
    Insecure(String),
    /// Another live process already is the member for this `(ifname, vrid)`.
    AlreadyMember(u32),
    /// All 255 slots are held by live processes.
    Full,
    /// The slot is not (or no longer) held by this handle.
    NotOwner(usize),
}

impl std::fmt::Display for ShmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ShmError::InvalidName(s) => write!(f, "invalid name: {s}"),
            ShmError::Io { context, source } => write!(f, "{context}: {source}"),
            ShmError::Corrupt(s) => write!(f, "group segment corrupt: {s}"),
            ShmError::Incompatible { found_version } => write!(
                f,
                "group segment has layout version {found_version}, this vrrpd uses {VERSION} \
                 (stop all group members and remove the segment)"
            ),
            ShmError::Insecure(s) => write!(f, "group segment refused: {s}"),
            ShmError::AlreadyMember(pid) => write!(
                f,
                "another vrrpd (pid {pid}) already runs for this interface, VRID and family"
            ),
            ShmError::Full => write!(f, "group table full ({NSLOTS} members)"),
            ShmError::NotOwner(slot) => write!(f, "slot {slot} is not held by this process"),
        }
    }
}

impl std::error::Error for ShmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ShmError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_err(context: impl Into<String>, e: impl Into<io::Error>) -> ShmError {
    ShmError::Io {
        context: context.into(),
        source: e.into(),
    }
}

/// Checks a group name: 1–32 characters of `[A-Za-z0-9_.-]`.
pub fn validate_group_name(name: &str) -> Result<(), ShmError> {
    if name.is_empty() || name.len() > MAX_GROUP_NAME {
        return Err(ShmError::InvalidName(format!(
            "group name must be 1-{MAX_GROUP_NAME} characters, got {}",
            name.len()
        )));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-')))
    {
        return Err(ShmError::InvalidName(format!(
            "group name {name:?}: character {c:?} not allowed (use A-Z a-z 0-9 _ . -)"
        )));
    }
    Ok(())
}

/// The default group name: `ns<inode of /proc/self/ns/net>`, so that each network namespace
/// (each simulated router) has its own group.
pub fn default_group_name() -> io::Result<String> {
    let meta = std::fs::metadata("/proc/self/ns/net")?;
    Ok(format!("ns{}", meta.ino()))
}

fn validate_ifname(ifname: &str) -> Result<[u8; 16], ShmError> {
    let b = ifname.as_bytes();
    if b.is_empty() || b.len() > MAX_IFNAME || ifname.chars().any(|c| c == '\0' || c.is_control()) {
        return Err(ShmError::InvalidName(format!(
            "interface name {ifname:?} must be 1-{MAX_IFNAME} bytes without control characters"
        )));
    }
    let mut out = [0u8; 16];
    out[..b.len()].copy_from_slice(b);
    Ok(out)
}

/// Decodes a stored interface name; anything but clean UTF-8 up to a NUL becomes `"?"`.
fn decode_ifname(raw: &[u8; 16]) -> String {
    let Some(end) = raw.iter().position(|&b| b == 0) else {
        return "?".to_string();
    };
    match std::str::from_utf8(&raw[..end]) {
        Ok(s) if !s.is_empty() && !s.chars().any(char::is_control) => s.to_string(),
        _ => "?".to_string(),
    }
}

thread_local! {
    /// How many times this thread read a `/proc/PID/stat` (see [`proc_stat_reads`]).
    static PROC_STAT_READS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// How many `/proc/PID/stat` reads the calling thread made so far: liveness checks must not
/// grow with the group (issue 14). For tests.
#[doc(hidden)]
pub fn proc_stat_reads() -> u64 {
    PROC_STAT_READS.with(std::cell::Cell::get)
}

/// State letter and start time (field 22, clock ticks since boot) of a process.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    PROC_STAT_READS.with(|n| n.set(n.get() + 1));
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid ..." — comm may hold spaces and ')', so split after the last ')'.
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.chars().next()?;
    // Fields after comm start at number 3 (state); starttime is number 22.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((state, start))
}

fn valid_pid(pid: u32) -> Option<i32> {
    i32::try_from(pid).ok().filter(|&p| p > 0)
}

/// Does the process `pid` exist? `kill(pid, 0)` plus, when `/proc` tells, not a zombie and
/// (when `start_ticks != 0`) started at `start_ticks` (guards against pid reuse).
fn pid_alive(pid: u32, start_ticks: u64) -> bool {
    let Some(p) = valid_pid(pid) else {
        return false;
    };
    // EPERM: it exists but is not ours to signal; any other error: assume it exists.
    if let Err(Errno::ESRCH) = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), None) {
        return false;
    }
    match proc_stat(pid) {
        Some((state, _)) if state == 'Z' || state == 'X' => false,
        Some((_, start)) if start_ticks != 0 => start == start_ticks,
        // No /proc or raced with exit: kill said it exists.
        _ => true,
    }
}

/// Whether a slot's owner is dead, for reaping. Conservative: `false` unless sure.
/// `start_ticks` is `None` when the identity is unreadable (a claim in progress or interrupted by
/// a crash): then only `kill` and the zombie check are trusted.
fn owner_dead(pid: u32, start_ticks: Option<u64>) -> bool {
    !pid_alive(pid, start_ticks.unwrap_or(0))
}

/// The inode of our PID namespace (`/proc/self/ns/pid`), 0 if unknown.
fn pid_namespace() -> u64 {
    std::fs::metadata("/proc/self/ns/pid").map_or(0, |m| m.ino())
}

/// Whether `path` (not followed) is the file open as `file` (same device and inode).
/// Why what stands at a group segment's name (its `lstat(2)`) is not ours, or `None` when it
/// may be: a regular file owned by our effective uid, not writable by group or others (size and
/// header are checked after opening). vrrpd makes segments only that way, so anything else was
/// made by someone else and no member of ours can be using it (issue 13, defect 6).
fn judge_existing(meta: &std::fs::Metadata, euid: u32) -> Option<Foreign> {
    foreign_reason(meta.file_type().is_file(), meta.uid(), meta.mode(), euid)
}

/// Why an existing object is not a segment of ours (see [`judge_existing`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Foreign {
    NotAFile,
    OtherUid,
    Writable,
}

fn foreign_reason(is_file: bool, uid: u32, mode: u32, euid: u32) -> Option<Foreign> {
    if !is_file {
        Some(Foreign::NotAFile)
    } else if uid != euid {
        Some(Foreign::OtherUid)
    } else if mode & 0o022 != 0 {
        Some(Foreign::Writable)
    } else {
        None
    }
}

/// "symlink, uid 1000, mode 777", for the warning.
fn describe(meta: &std::fs::Metadata) -> String {
    let t = meta.file_type();
    let kind = if t.is_symlink() {
        "symlink"
    } else if t.is_dir() {
        "directory"
    } else if t.is_file() {
        "regular file"
    } else {
        "special file"
    };
    format!(
        "{kind}, uid {}, mode {:o}",
        meta.uid(),
        meta.mode() & 0o7777
    )
}

fn names_file(path: &Path, file: &File) -> bool {
    match (std::fs::symlink_metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// An exclusive `flock(2)` on a segment, released on drop.
struct FileLock(std::os::fd::RawFd);

impl FileLock {
    /// Takes the lock, retrying for up to [`LOCK_WAIT`]; `None` if it stays held.
    fn take(file: &File) -> Option<FileLock> {
        use std::os::fd::AsRawFd;
        let fd = file.as_raw_fd();
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            // SAFETY: flock(2) on a descriptor the caller keeps open while the lock lives.
            if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Some(FileLock(fd));
            }
            if io::Error::last_os_error().raw_os_error() != Some(libc::EWOULDBLOCK)
                || Instant::now() >= deadline
            {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        // SAFETY: flock(2) on the descriptor locked in `take`, still open.
        unsafe { libc::flock(self.0, libc::LOCK_UN) };
    }
}

/// A consistent snapshot of a slot's identity (taken under the seqlock).
struct Identity {
    /// The owner word (`pid`, `generation`) the identity was read under.
    word: u64,
    pid: u32,
    vrid: u8,
    family: u8,
    ifname: [u8; 16],
    start_ticks: u64,
    state: u8,
    priority: u8,
    heartbeat_ns: u64,
    pidns: u64,
}

fn read_ifname(slot: &Slot, order: Ordering) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, a) in out.iter_mut().zip(slot.ifname.iter()) {
        *o = a.load(order);
    }
    out
}

/// Seqlock read of a slot. `None` if free, or if its identity is being rewritten.
fn read_identity(slot: &Slot) -> Option<Identity> {
    for _ in 0..READ_TRIES {
        let w1 = slot.owner.load(Ordering::Acquire);
        let (pid, gen) = unpack(w1);
        if pid == 0 {
            return None;
        }
        if gen % 2 == 1 {
            std::hint::spin_loop();
            continue;
        }
        let id = Identity {
            word: w1,
            pid,
            vrid: slot.vrid.load(Ordering::Relaxed),
            family: slot.family.load(Ordering::Relaxed),
            ifname: read_ifname(slot, Ordering::Relaxed),
            start_ticks: slot.start_ticks.load(Ordering::Relaxed),
            state: slot.state.load(Ordering::Relaxed),
            priority: slot.priority.load(Ordering::Relaxed),
            heartbeat_ns: slot.heartbeat_ns.load(Ordering::Relaxed),
            pidns: slot.pidns.load(Ordering::Relaxed),
        };
        fence(Ordering::Acquire);
        if slot.owner.load(Ordering::Relaxed) == w1 {
            return Some(id);
        }
    }
    None
}

/// The header checks of an initialized segment (magic, layout version, sizes), shared by
/// [`GroupShm::open_existing`] and [`decode_image`].
fn check_header(name: &str, magic: u64, version: u32, sizes: [u32; 3]) -> Result<(), ShmError> {
    if magic != MAGIC {
        return Err(ShmError::Corrupt(format!(
            "group segment {name}: bad magic {magic:#018x}"
        )));
    }
    if version != VERSION {
        return Err(ShmError::Incompatible {
            found_version: version,
        });
    }
    let [hs, ss, ns] = sizes;
    if (hs, ss, ns) != (HEADER_SIZE as u32, SLOT_SIZE as u32, NSLOTS as u32) {
        return Err(ShmError::Corrupt(format!(
            "group segment {name}: header_size {hs}, slot_size {ss}, nslots {ns}; \
             expected {HEADER_SIZE}, {SLOT_SIZE}, {NSLOTS}"
        )));
    }
    Ok(())
}

/// Decodes a copy of a whole segment (`SEGMENT_SIZE` bytes, in this host's byte order, as
/// mapped): the header checks of [`GroupShm::open_existing`], then every slot in use (pid set,
/// generation even) whose state is not `Empty`, as [`GroupShm::members`] reads them, with
/// `alive` false (a copy says nothing about processes). Pure; used by the fuzzer
/// (`fuzz/targets.rs`) and by tools that inspect a saved segment. Never panics on any bytes.
pub fn decode_image(image: &[u8]) -> Result<Vec<(usize, MemberView)>, ShmError> {
    let name = "image";
    if image.len() != SEGMENT_SIZE {
        return Err(ShmError::Corrupt(format!(
            "group segment {name} is {} bytes, expected {SEGMENT_SIZE}",
            image.len()
        )));
    }
    let u64_at = |b: &[u8], off: usize| -> u64 {
        b.get(off..off + 8)
            .and_then(|x| x.try_into().ok())
            .map_or(0, u64::from_ne_bytes)
    };
    let u32_at = |b: &[u8], off: usize| -> u32 {
        b.get(off..off + 4)
            .and_then(|x| x.try_into().ok())
            .map_or(0, u32::from_ne_bytes)
    };
    let u8_at = |b: &[u8], off: usize| -> u8 { b.get(off).copied().unwrap_or(0) };
    check_header(
        name,
        u64_at(image, std::mem::offset_of!(Header, magic)),
        u32_at(image, std::mem::offset_of!(Header, version)),
        [
            u32_at(image, std::mem::offset_of!(Header, header_size)),
            u32_at(image, std::mem::offset_of!(Header, slot_size)),
            u32_at(image, std::mem::offset_of!(Header, nslots)),
        ],
    )?;
    let mut out = Vec::new();
    for i in 0..NSLOTS {
        let base = HEADER_SIZE + i * SLOT_SIZE;
        let Some(slot) = image.get(base..base + SLOT_SIZE) else {
            break;
        };
        let (pid, gen) = unpack(u64_at(slot, std::mem::offset_of!(Slot, owner)));
        if pid == 0 || gen % 2 == 1 {
            continue;
        }
        let mut ifname = [0u8; 16];
        let off = std::mem::offset_of!(Slot, ifname);
        if let Some(src) = slot.get(off..off + 16) {
            ifname.copy_from_slice(src);
        }
        let id = Identity {
            word: u64_at(slot, std::mem::offset_of!(Slot, owner)),
            pid,
            vrid: u8_at(slot, std::mem::offset_of!(Slot, vrid)),
            family: u8_at(slot, std::mem::offset_of!(Slot, family)),
            ifname,
            start_ticks: u64_at(slot, std::mem::offset_of!(Slot, start_ticks)),
            state: u8_at(slot, std::mem::offset_of!(Slot, state)),
            priority: u8_at(slot, std::mem::offset_of!(Slot, priority)),
            heartbeat_ns: u64_at(slot, std::mem::offset_of!(Slot, heartbeat_ns)),
            pidns: u64_at(slot, std::mem::offset_of!(Slot, pidns)),
        };
        if id.state == MemberState::Empty.to_u8() {
            continue;
        }
        out.push((i, view_of(&id, false)));
    }
    Ok(out)
}

/// A mapped group table. See the module documentation.
pub struct GroupShm {
    base: NonNull<u8>,
    name: String,
    path: PathBuf,
    /// Slots claimed through this handle, with the pid they were claimed for.
    owned: Vec<(usize, u32)>,
    pid: u32,
    start_ticks: u64,
    /// Our PID namespace's inode (0 = unknown).
    pidns: u64,
    /// The segment's file, for the join/leave lock and to tell whether its name still names it.
    file: File,
    /// A warning for the caller to log: what stood at the segment's name and was replaced.
    replaced: Option<String>,
    /// What this handle learnt about each slot's owner, see [`Known`].
    known: Mutex<Vec<Option<Known>>>,
}

/// What a handle knows about a slot's owner (of our PID namespace): checked once through
/// `/proc` (start time, not a zombie) after opening a pidfd, then by polling that pidfd
/// (readable once the process has exited, zombie included; it can never name a process that
/// reused the pid). Valid while the slot keeps the owner word and start time it was checked
/// under. Without it every check read `/proc/PID/stat` of every member: N reads per verdict,
/// N² per change in the group (issue 14).
struct Known {
    word: u64,
    start_ticks: u64,
    /// `None` where pidfds fail (ENOSYS, seccomp, EMFILE): checked through `/proc` each time.
    pidfd: Option<std::os::fd::OwnedFd>,
    dead: bool,
}

// SAFETY: the mapping is owned by the handle and unmapped only in Drop; all shared access goes
// through atomics, so moving the handle to or sharing it between threads is sound (`owned` is
// only changed through `&mut self`).
unsafe impl Send for GroupShm {}
// SAFETY: see `Send`; `&self` methods only touch the mapping through atomics.
unsafe impl Sync for GroupShm {}

impl std::fmt::Debug for GroupShm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupShm")
            .field("path", &self.path)
            .field("owned", &self.owned)
            .finish()
    }
}

impl GroupShm {
    /// Opens (creating if needed) the group table `name` and validates it.
    pub fn open(name: &str) -> Result<GroupShm, ShmError> {
        Self::open_impl(name, true)
    }

    /// Opens an existing group table without ever creating one (for status tools): a missing
    /// segment is an [`ShmError::Io`] whose source has kind [`io::ErrorKind::NotFound`].
    pub fn open_existing(name: &str) -> Result<GroupShm, ShmError> {
        Self::open_impl(name, false)
    }

    fn open_impl(name: &str, create: bool) -> Result<GroupShm, ShmError> {
        validate_group_name(name)?;
        let obj = format!("/{NAME_PREFIX}{name}");
        let base_flags = OFlag::O_RDWR | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
        if !create {
            return match shm_open(obj.as_str(), base_flags, Mode::empty()) {
                Ok(fd) => Self::attach(name, File::from(fd)),
                Err(Errno::ELOOP) => Err(ShmError::Insecure(format!("/dev/shm{obj} is a symlink"))),
                Err(e) => Err(io_err(format!("opening /dev/shm{obj}"), e)),
            };
        }
        let path = format!("/dev/shm{obj}");
        let mut replaced = None;
        let mut last = None;
        for _ in 0..8 {
            // Look before opening (lstat: a symlink is seen, never followed): what is not ours
            // is never opened, let alone written; it is moved away and a segment of ours made.
            match std::fs::symlink_metadata(&path) {
                // Ours but writable by others (an operator's chmod: it may be in use) is not
                // replaced: opening it refuses it as `Insecure`, naming the file.
                Ok(meta)
                    if matches!(
                        judge_existing(&meta, nix::unistd::geteuid().as_raw()),
                        Some(Foreign::NotAFile | Foreign::OtherUid)
                    ) =>
                {
                    if let Some(note) = Self::replace_foreign(name, &path)? {
                        replaced = Some(note);
                    }
                    continue;
                }
                _ => {}
            }
            match shm_open(obj.as_str(), base_flags, Mode::empty()) {
                Ok(fd) => {
                    let file = File::from(fd);
                    match Self::attach(name, file) {
                        Err(ShmError::Corrupt(msg)) => {
                            // One of ours that never got its header: remove it and make it
                            // again, unless it changed (or went) meanwhile.
                            if !Self::remove_uninitialized(name, &obj)? {
                                return Err(ShmError::Corrupt(msg));
                            }
                        }
                        // Swapped for something not ours after we looked: look again.
                        Err(e @ ShmError::Insecure(_)) => last = Some(e),
                        other => return other.map(|g| g.with_notice(replaced)),
                    }
                }
                Err(Errno::ENOENT) => {
                    if let Some(g) = Self::create_linked(name)? {
                        return Ok(g.with_notice(replaced));
                    }
                    // Someone else linked theirs first: open that one.
                }
                Err(Errno::ELOOP) => {
                    last = Some(ShmError::Insecure(format!("{path} is a symlink")));
                }
                Err(e) => return Err(io_err(format!("opening {path}"), e)),
            }
        }
        Err(last.unwrap_or_else(|| {
            io_err(
                format!("opening {path}"),
                io::Error::other("segment keeps disappearing"),
            )
        }))
    }

    fn with_notice(mut self, replaced: Option<String>) -> GroupShm {
        self.replaced = replaced;
        self
    }

    /// Moves what stands at `path` (found not ours by [`judge_existing`]) to a private name
    /// with `rename(2)` (atomic, never follows a symlink, never opens the object) and removes
    /// it. Not ours, so no vrrpd of ours made it and no member can be using it (issue 13,
    /// defect 6: a squatter must not stop the group). Allowed in the sticky `/dev/shm` to its
    /// owner, root, without `CAP_FOWNER`; refused (`Insecure`, naming the file) where we are
    /// not allowed to. Returns the warning to log, or `None` when there was nothing to replace
    /// after all (it went, or a vrrpd of ours replaced it first: that one is put back).
    fn replace_foreign(name: &str, path: &str) -> Result<Option<String>, ShmError> {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let aside = format!(
            "/dev/shm/.{NAME_PREFIX}{name}.{}.{n}.foreign",
            std::process::id()
        );
        match std::fs::rename(path, &aside) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                let what = std::fs::symlink_metadata(path)
                    .map(|m| describe(&m))
                    .unwrap_or_default();
                return Err(ShmError::Insecure(format!(
                    "{path} is not ours ({what}; another user created it first?) and could not be \
                     replaced ({e}): remove it, or choose another --group"
                )));
            }
        }
        let euid = nix::unistd::geteuid().as_raw();
        let meta = match std::fs::symlink_metadata(&aside) {
            Ok(m) => m,
            Err(e) => return Err(io_err(format!("stat {aside}"), e)),
        };
        if judge_existing(&meta, euid).is_none() {
            // A vrrpd of ours replaced it between our look and our rename: put its segment
            // back (if the name was taken again meanwhile, the next round sees that one).
            let _ = std::fs::hard_link(&aside, path);
            let _ = std::fs::remove_file(&aside);
            return Ok(None);
        }
        let what = describe(&meta);
        let removed = if meta.file_type().is_dir() {
            std::fs::remove_dir(&aside)
        } else {
            std::fs::remove_file(&aside)
        };
        Ok(Some(match removed {
            Ok(()) => format!(
                "{path} was not ours ({what}), so no vrrpd of ours could be using it: removed it \
                 and replaced it with a new segment"
            ),
            Err(e) => format!(
                "{path} was not ours ({what}), so no vrrpd of ours could be using it: moved it \
                 to {aside} (could not remove it: {e}) and replaced it with a new segment"
            ),
        }))
    }

    /// Removes the segment at `obj` if it is one of ours that never got its header (empty, or
    /// the right size with no magic), holding its lock so that no member uses it meanwhile.
    /// Returns whether it did (the caller then starts again).
    fn remove_uninitialized(name: &str, obj: &str) -> Result<bool, ShmError> {
        let fd = match shm_open(
            obj,
            OFlag::O_RDWR | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ENOENT) => return Ok(true),
            Err(e) => return Err(io_err(format!("opening /dev/shm{obj}"), e)),
        };
        let file = File::from(fd);
        let Some(_lock) = FileLock::take(&file) else {
            return Ok(false);
        };
        let meta = file
            .metadata()
            .map_err(|e| io_err(format!("fstat group segment {name}"), e))?;
        if meta.uid() != nix::unistd::geteuid().as_raw() {
            return Ok(false);
        }
        let uninitialized = match meta.len() {
            0 => true,
            n if n == SEGMENT_SIZE as u64 => {
                use std::os::unix::fs::FileExt;
                let mut magic = [0u8; 8];
                file.read_exact_at(&mut magic, 0).is_ok() && magic == [0u8; 8]
            }
            _ => false,
        };
        if !uninitialized || !names_file(Path::new(&format!("/dev/shm{obj}")), &file) {
            return Ok(false);
        }
        match shm_unlink(obj) {
            Ok(()) | Err(Errno::ENOENT) => Ok(true),
            Err(e) => Err(io_err(format!("removing /dev/shm{obj}"), e)),
        }
    }

    /// Makes a whole segment under a private name and links it to the group's name. `None` when
    /// the name exists already (another creator was first).
    fn create_linked(name: &str) -> Result<Option<GroupShm>, ShmError> {
        use std::os::unix::fs::OpenOptionsExt;
        static TMP: std::sync::atomic::AtomicU32 = AtomicU32::new(0);
        let n = TMP.fetch_add(1, Ordering::Relaxed);
        let final_path = format!("/dev/shm/{NAME_PREFIX}{name}");
        let tmp = format!("/dev/shm/.{NAME_PREFIX}{name}.{}.{n}", std::process::id());
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
            .map_err(|e| io_err(format!("creating {tmp}"), e))?;
        let r = (|| {
            // Exactly 0600 whatever the umask.
            file.set_permissions(std::fs::Permissions::from_mode(0o600))
                .map_err(|e| io_err(format!("chmod {tmp}"), e))?;
            file.set_len(SEGMENT_SIZE as u64)
                .map_err(|e| io_err(format!("sizing {tmp}"), e))?;
            let shm = Self::map(name, file)?;
            let h = shm.header();
            h.version.store(VERSION, Ordering::Relaxed);
            h.header_size.store(HEADER_SIZE as u32, Ordering::Relaxed);
            h.slot_size.store(SLOT_SIZE as u32, Ordering::Relaxed);
            h.nslots.store(NSLOTS as u32, Ordering::Relaxed);
            h.seq.store(0, Ordering::Relaxed);
            h.magic.store(MAGIC, Ordering::Release);
            match std::fs::hard_link(&tmp, &final_path) {
                Ok(()) => Ok(Some(shm)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(None),
                Err(e) => Err(io_err(format!("creating {final_path}"), e)),
            }
        })();
        let _ = std::fs::remove_file(&tmp);
        r
    }

    /// Opens (or creates) the group table `name` and claims a slot for this process as the
    /// member `(ifname, vrid, family)`, holding the segment's lock throughout so that the last
    /// member leaving cannot remove the segment in between (see the module documentation).
    pub fn join(
        name: &str,
        ifname: &str,
        vrid: u8,
        family: Family,
        now: Duration,
    ) -> Result<(GroupShm, usize), ShmError> {
        Self::join_with(name, ifname, vrid, family, now, || {})
    }

    /// Test helper: [`join`](Self::join) running `between` after the segment is opened and
    /// locked, before the slot is claimed. Not for production use.
    #[doc(hidden)]
    pub fn join_with(
        name: &str,
        ifname: &str,
        vrid: u8,
        family: Family,
        now: Duration,
        mut between: impl FnMut(),
    ) -> Result<(GroupShm, usize), ShmError> {
        for _ in 0..8 {
            let mut g = Self::open(name)?;
            // Dead slots are reaped before the lock (reaping is lock-free): the lock is held for
            // the claim only, never for a check of every member (issue 14).
            g.reap_dead();
            let Some(lock) = FileLock::take(&g.file) else {
                return Err(io_err(
                    format!("locking {}", g.path.display()),
                    io::Error::from(io::ErrorKind::TimedOut),
                ));
            };
            if !names_file(&g.path, &g.file) {
                // The last member left and removed it after we opened it: start again.
                drop(lock);
                continue;
            }
            between();
            let (pid, start) = (g.pid, g.start_ticks);
            let slot = g.claim_for(pid, start, (ifname, vrid, family_byte(family)), now, false);
            drop(lock);
            return slot.map(|s| (g, s));
        }
        Err(io_err(
            format!("joining group {name}"),
            io::Error::other("segment keeps disappearing"),
        ))
    }

    /// Gives `slot` back and, when no live member remains, removes the segment (nothing is
    /// left in `/dev/shm`), under the segment's lock (see [`join`](Self::join)). Returns
    /// whether it removed the segment.
    pub fn leave(&mut self, slot: usize) -> bool {
        let lock = FileLock::take(&self.file);
        self.release(slot);
        // Without the lock, leave the segment: a joiner may be about to claim a slot in it.
        let last = lock.is_some()
            && self.members().iter().all(|(_, m)| !m.alive)
            && names_file(&self.path, &self.file);
        let removed = last && Self::unlink(&self.name).is_ok();
        drop(lock);
        removed
    }

    /// `vrrpd --cleanup` of the member `(ifname, vrid, family)` of group `name`, killed
    /// without leaving (SIGKILL, a crash): frees its slot if its recorded owner is dead (never
    /// a live member's), and, when no live member remains, removes the segment, under the
    /// segment's lock as [`leave`](Self::leave) does (a joiner cannot be claiming a slot in it).
    /// Returns the slots freed and whether the segment was removed; no segment is no error.
    pub fn clean_dead_member(
        name: &str,
        ifname: &str,
        vrid: u8,
        family: Family,
    ) -> Result<(Vec<MemberView>, bool), ShmError> {
        let g = match Self::open_existing(name) {
            Ok(g) => g,
            Err(ShmError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                return Ok((Vec::new(), false))
            }
            Err(e) => return Err(e),
        };
        let reaped = g.reap_dead_member(ifname, vrid, family);
        let Some(lock) = FileLock::take(&g.file) else {
            return Ok((reaped, false));
        };
        let last = g.members().iter().all(|(_, m)| !m.alive) && names_file(&g.path, &g.file);
        let removed = last && Self::unlink(&g.name).is_ok();
        drop(lock);
        Ok((reaped, removed))
    }

    /// Removes the group table `name` (`shm_unlink`). Processes that have it mapped keep their
    /// mapping. A missing segment is not an error.
    pub fn unlink(name: &str) -> Result<(), ShmError> {
        validate_group_name(name)?;
        let obj = format!("/{NAME_PREFIX}{name}");
        match shm_unlink(obj.as_str()) {
            Ok(()) | Err(Errno::ENOENT) => Ok(()),
            Err(e) => Err(io_err(format!("removing /dev/shm{obj}"), e)),
        }
    }

    fn map(name: &str, file: File) -> Result<GroupShm, ShmError> {
        // SAFETY: a fresh shared mapping of SEGMENT_SIZE bytes of a file we checked (or just made)
        // to be that long; the kernel picks the address, so no existing memory is affected. The
        // object is 0600 and owned by us, so only our uid could later truncate it (which would
        // make an access raise SIGBUS, not read garbage).
        let ptr = unsafe {
            mmap(
                None,
                SEGMENT_LEN,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_SHARED,
                &file,
                0,
            )
        }
        .map_err(|e| io_err(format!("mapping group segment {name}"), e))?;
        let pid = std::process::id();
        Ok(GroupShm {
            base: ptr.cast::<u8>(),
            name: name.to_string(),
            path: PathBuf::from(format!("/dev/shm/{NAME_PREFIX}{name}")),
            owned: Vec::new(),
            pid,
            start_ticks: proc_stat(pid).map_or(0, |(_, s)| s),
            pidns: pid_namespace(),
            file,
            replaced: None,
            known: Mutex::new((0..NSLOTS).map(|_| None).collect()),
        })
    }

    fn attach(name: &str, file: File) -> Result<GroupShm, ShmError> {
        let deadline = Instant::now() + INIT_WAIT;
        let euid = nix::unistd::geteuid().as_raw();
        loop {
            let meta = file
                .metadata()
                .map_err(|e| io_err(format!("fstat group segment {name}"), e))?;
            if !meta.file_type().is_file() {
                return Err(ShmError::Insecure(format!(
                    "group segment {name} is not a regular file"
                )));
            }
            if meta.uid() != euid {
                return Err(ShmError::Insecure(format!(
                    "/dev/shm/{NAME_PREFIX}{name} is owned by uid {}, not {euid} (another user \
                     created it first?): remove it, or choose another --group",
                    meta.uid()
                )));
            }
            if meta.mode() & 0o022 != 0 {
                return Err(ShmError::Insecure(format!(
                    "group segment {name} is writable by group or others (mode {:o})",
                    meta.mode() & 0o7777
                )));
            }
            let len = meta.len();
            if len == SEGMENT_SIZE as u64 {
                break;
            }
            // Size 0: the creator has not sized it yet; give it a moment.
            if len == 0 && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            return Err(ShmError::Corrupt(if len == 0 {
                format!("group segment {name} is empty (its creator died?); remove it")
            } else {
                format!("group segment {name} is {len} bytes, expected {SEGMENT_SIZE}")
            }));
        }
        let shm = Self::map(name, file)?;
        let h = shm.header();
        let mut magic = h.magic.load(Ordering::Acquire);
        while magic == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
            magic = h.magic.load(Ordering::Acquire);
        }
        if magic == 0 {
            return Err(ShmError::Corrupt(format!(
                "group segment {name} was never initialized (its creator died?); remove it"
            )));
        }
        check_header(
            name,
            magic,
            h.version.load(Ordering::Relaxed),
            [
                h.header_size.load(Ordering::Relaxed),
                h.slot_size.load(Ordering::Relaxed),
                h.nslots.load(Ordering::Relaxed),
            ],
        )?;
        Ok(shm)
    }

    fn header(&self) -> &Header {
        // SAFETY: `base` is the start of a live, page-aligned mapping of SEGMENT_SIZE bytes that
        // outlives `&self` (unmapped only in Drop). Header is 64 bytes with alignment <= 8, so it
        // is in bounds and aligned; it consists of atomics only, for which any bit pattern is
        // valid and concurrent writes from other processes are permitted (interior mutability).
        unsafe { &*(self.base.as_ptr() as *const Header) }
    }

    fn slot(&self, i: usize) -> Option<&Slot> {
        if i >= NSLOTS {
            return None;
        }
        // SAFETY: i < NSLOTS, so HEADER_SIZE + i * SLOT_SIZE + SLOT_SIZE <= SEGMENT_SIZE: the slot
        // is inside the mapping, which lives as long as `&self`. The offset is a multiple of 8 and
        // the base is page-aligned, satisfying Slot's alignment (<= 8). Slot holds atomics only
        // (valid for any bytes, shared mutation allowed).
        unsafe {
            let p = self.base.as_ptr().add(HEADER_SIZE + i * SLOT_SIZE);
            Some(&*(p as *const Slot))
        }
    }

    fn slots(&self) -> impl Iterator<Item = (usize, &Slot)> {
        (0..NSLOTS).filter_map(move |i| self.slot(i).map(|s| (i, s)))
    }

    fn bump_seq(&self) {
        self.header().seq.fetch_add(1, Ordering::AcqRel);
    }

    /// When opening found something that was not ours at the segment's name (another user's
    /// file, a symlink, a directory...) and replaced it: a warning naming it, for the caller to
    /// log (issue 13, defect 6).
    pub fn replaced_notice(&self) -> Option<&str> {
        self.replaced.as_deref()
    }

    /// The group name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/dev/shm/vrrpd-group-<name>`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The change counter: differs after any claim, publish, release or reap.
    pub fn seq(&self) -> u32 {
        self.header().seq.load(Ordering::Acquire)
    }

    /// Takes a slot for this process as the member `(ifname, vrid)`; its state is
    /// [`MemberState::Starting`] until the first [`publish`](Self::publish).
    ///
    /// First reaps every slot whose owner is dead (crash leftovers, including our own previous
    /// incarnation). Fails with [`ShmError::AlreadyMember`] when a live process holds the same
    /// `(ifname, vrid)`, [`ShmError::Full`] when no slot is free.
    pub fn claim(&mut self, ifname: &str, vrid: u8, now: Duration) -> Result<usize, ShmError> {
        self.claim_family(ifname, vrid, Family::V4, now)
    }

    /// [`claim`](Self::claim) for the member `(ifname, vrid, family)`: an IPv4 and an IPv6
    /// instance of one VRID are distinct members.
    pub fn claim_family(
        &mut self,
        ifname: &str,
        vrid: u8,
        family: Family,
        now: Duration,
    ) -> Result<usize, ShmError> {
        let (pid, start) = (self.pid, self.start_ticks);
        self.claim_for(pid, start, (ifname, vrid, family_byte(family)), now, true)
    }

    /// Test helper: claims a slot on behalf of another process `pid` (start time read from
    /// `/proc` if the process exists). Not for production use.
    #[doc(hidden)]
    pub fn claim_as(
        &mut self,
        pid: u32,
        ifname: &str,
        vrid: u8,
        now: Duration,
    ) -> Result<usize, ShmError> {
        if valid_pid(pid).is_none() {
            return Err(ShmError::InvalidName(format!("pid {pid}")));
        }
        let start = proc_stat(pid).map_or(0, |(_, s)| s);
        self.claim_for(
            pid,
            start,
            (ifname, vrid, family_byte(Family::V4)),
            now,
            true,
        )
    }

    /// Claims a slot; `reap` first frees every dead member's slot, else that is done only
    /// when no slot is free (a join reaps before taking the lock).
    fn claim_for(
        &mut self,
        pid: u32,
        start: u64,
        (ifname, vrid, family): (&str, u8, u8),
        now: Duration,
        reap: bool,
    ) -> Result<usize, ShmError> {
        let mine = validate_ifname(ifname)?;
        if self.is_forked_copy() {
            return Err(io_err(
                "claiming a group slot",
                io::Error::other("handle inherited through fork; open a new one"),
            ));
        }
        let free = || {
            self.slots()
                .any(|(_, s)| unpack(s.owner.load(Ordering::Acquire)).0 == 0)
        };
        if reap || !free() {
            self.reap_dead();
        }
        // Forget held slots that were reaped meanwhile (claimed for a pid now dead).
        let owned = std::mem::take(&mut self.owned);
        self.owned = owned
            .into_iter()
            .filter(|&(s, p)| {
                self.slot(s)
                    .is_some_and(|sl| unpack(sl.owner.load(Ordering::Acquire)).0 == p)
            })
            .collect();

        // Refuse a duplicate.
        for (j, slot) in self.slots() {
            if let Some(id) = read_identity(slot) {
                if id.ifname == mine
                    && id.vrid == vrid
                    && id.family == family
                    && self.id_alive(j, &id)
                {
                    return Err(ShmError::AlreadyMember(id.pid));
                }
            }
        }

        // Take the first free slot.
        let mut taken = None;
        for (i, slot) in self.slots() {
            let w = slot.owner.load(Ordering::Acquire);
            let (p, g) = unpack(w);
            if p != 0 {
                continue;
            }
            let odd = next_odd(g);
            if slot
                .owner
                .compare_exchange(w, pack(pid, odd), Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            // Seqlock writer: the odd mark must be visible before any field written below
            // (an AcqRel CAS orders only what precedes it; aarch64 reorders later stores).
            fence(Ordering::Release);
            slot.state
                .store(MemberState::Starting.to_u8(), Ordering::Relaxed);
            slot.priority.store(0, Ordering::Relaxed);
            slot.vrid.store(vrid, Ordering::Relaxed);
            slot.family.store(family, Ordering::Relaxed);
            for (a, b) in slot.ifname.iter().zip(mine.iter()) {
                a.store(*b, Ordering::Relaxed);
            }
            slot.start_ticks.store(start, Ordering::Relaxed);
            slot.pidns.store(self.pidns, Ordering::Relaxed);
            slot.claimed_ns.store(nanos(now), Ordering::Relaxed);
            slot.heartbeat_ns.store(nanos(now), Ordering::Relaxed);
            slot.owner
                .store(pack(pid, odd.wrapping_add(1)), Ordering::Release);
            taken = Some(i);
            break;
        }
        let Some(i) = taken else {
            return Err(ShmError::Full);
        };
        self.owned.push((i, pid));

        // Simultaneous duplicate start. Each claimer finishes its identity (even generation)
        // before this fence; of two racing claimers, the one whose fence comes second in the
        // SeqCst order is guaranteed to read the other's finished identity, so at least one of
        // them backs off. Only consistent (even) identities are compared: a slot being reaped
        // or released (odd) is not a live duplicate.
        fence(Ordering::SeqCst);
        let mut conflict = None;
        for (j, slot) in self.slots() {
            if j == i {
                continue;
            }
            if let Some(id) = read_identity(slot) {
                if id.ifname == mine
                    && id.vrid == vrid
                    && id.family == family
                    && self.id_alive(j, &id)
                {
                    conflict = Some(id.pid);
                    break;
                }
            }
        }
        if let Some(p) = conflict {
            self.release(i);
            return Err(ShmError::AlreadyMember(p));
        }
        self.bump_seq();
        Ok(i)
    }

    /// Frees every slot whose owner is dead; returns what was removed (for logging).
    pub fn reap_dead(&self) -> Vec<MemberView> {
        self.reap_dead_where(None)
    }

    /// Frees the slots of member `(ifname, vrid, family)` whose owner is dead (a live owner's
    /// slot is never touched); returns what was removed. For `vrrpd --cleanup`.
    pub fn reap_dead_member(&self, ifname: &str, vrid: u8, family: Family) -> Vec<MemberView> {
        let Ok(name) = validate_ifname(ifname) else {
            return Vec::new();
        };
        self.reap_dead_where(Some((name, vrid, family_byte(family))))
    }

    /// [`reap_dead`](Self::reap_dead), limited to the slots of one identity (ifname, vrid,
    /// family byte) when `only` is given (a slot being rewritten is then never judged).
    fn reap_dead_where(&self, only: Option<([u8; 16], u8, u8)>) -> Vec<MemberView> {
        let mut reaped = Vec::new();
        for (i, slot) in self.slots() {
            let w = slot.owner.load(Ordering::Acquire);
            let (p, g) = unpack(w);
            if p == 0 {
                continue;
            }
            let id = read_identity(slot).filter(|id| id.word == w);
            if let Some((ifname, vrid, family)) = &only {
                match &id {
                    Some(id)
                        if id.ifname == *ifname && id.vrid == *vrid && id.family == *family => {}
                    _ => continue,
                }
            }
            let dead = match &id {
                Some(id) => !self.id_alive(i, id),
                // Being rewritten: judged by pid only if the owner is of our namespace.
                None if self.foreign(slot.pidns.load(Ordering::Relaxed)) => false,
                _ => owner_dead(p, id.as_ref().map(|id| id.start_ticks)),
            };
            if !dead {
                continue;
            }
            // Only reap the exact owner word we judged: if it changed meanwhile, the CAS fails.
            let odd = next_odd(g);
            if slot
                .owner
                .compare_exchange(w, pack(self.pid, odd), Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
            {
                continue;
            }
            // Seqlock writer: the odd mark must be visible before any field written below
            // (an AcqRel CAS orders only what precedes it; aarch64 reorders later stores).
            fence(Ordering::Release);
            if let Some(id) = id {
                reaped.push(view_of(&id, false));
            }
            clear_slot(slot);
            slot.owner
                .store(pack(0, odd.wrapping_add(1)), Ordering::Release);
            self.bump_seq();
        }
        reaped
    }

    /// Whether a slot recorded PID namespace `ns` is another one than ours (0: unknown, taken
    /// as ours, as slots written by older versions hold).
    fn foreign(&self, ns: u64) -> bool {
        ns != 0 && self.pidns != 0 && ns != self.pidns
    }

    /// Whether a slot's owner lives: by its pid in our PID namespace, by its heartbeat
    /// (younger than [`FOREIGN_STALE`]) in another.
    fn id_alive(&self, slot: usize, id: &Identity) -> bool {
        self.alive_all(&[(slot, id)])
            .first()
            .copied()
            .unwrap_or(false)
    }

    /// [`id_alive`](Self::id_alive) for many slots at once: members of our namespace already
    /// known (see [`Known`]) are checked by one `poll(2)` over their pidfds, without reading
    /// `/proc`; only a slot with a new owner (or start time) is checked through `/proc`.
    fn alive_all(&self, ids: &[(usize, &Identity)]) -> Vec<bool> {
        use std::os::fd::AsRawFd;
        let mut out = vec![false; ids.len()];
        let mut known = match self.known.lock() {
            Ok(k) => k,
            Err(poisoned) => poisoned.into_inner(),
        };
        // (index in `ids`, pollfd) of the members to poll.
        let mut polls: Vec<(usize, libc::pollfd)> = Vec::new();
        for (n, &(slot, id)) in ids.iter().enumerate() {
            if self.foreign(id.pidns) {
                let now = nanos(super::clock::now());
                out[n] = now.saturating_sub(id.heartbeat_ns) < nanos(FOREIGN_STALE);
                continue;
            }
            let Some(entry) = known.get_mut(slot) else {
                out[n] = pid_alive(id.pid, id.start_ticks);
                continue;
            };
            let fresh = entry
                .as_ref()
                .is_some_and(|k| k.word == id.word && k.start_ticks == id.start_ticks);
            if !fresh {
                *entry = Some(learn(id));
            }
            match entry {
                Some(k) if k.dead => out[n] = false,
                Some(Known {
                    pidfd: Some(fd), ..
                }) => polls.push((
                    n,
                    libc::pollfd {
                        fd: fd.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    },
                )),
                _ => out[n] = pid_alive(id.pid, id.start_ticks),
            }
        }
        if polls.is_empty() {
            return out;
        }
        let mut fds: Vec<libc::pollfd> = polls.iter().map(|(_, p)| *p).collect();
        let nfds = libc::nfds_t::try_from(fds.len()).unwrap_or(libc::nfds_t::MAX);
        // SAFETY: poll(2) on a vector of `nfds` initialized pollfd structs that lives across the
        // call; a zero timeout never blocks. The descriptors are pidfds held in `known`.
        let r = unsafe { libc::poll(fds.as_mut_ptr(), nfds, 0) };
        for ((n, _), p) in polls.iter().zip(fds.iter()) {
            let (slot, id) = ids[*n];
            out[*n] = if r < 0 || p.revents & libc::POLLNVAL != 0 {
                // Could not poll: ask /proc.
                pid_alive(id.pid, id.start_ticks)
            } else if p.revents != 0 {
                // Exited (readable), or worse: dead for good under this owner word.
                if let Some(Some(k)) = known.get_mut(slot) {
                    k.dead = true;
                }
                false
            } else {
                true
            };
        }
        out
    }

    /// `true` in a child that inherited this handle through `fork` (e.g. a hook before `exec`):
    /// such a copy must not touch the parent's slots.
    fn is_forked_copy(&self) -> bool {
        std::process::id() != self.pid
    }

    fn owned_pid(&self, slot: usize) -> Option<u32> {
        self.owned.iter().find(|(s, _)| *s == slot).map(|(_, p)| *p)
    }

    /// The slot, if this handle holds it and it still belongs to the pid it was claimed for.
    fn own_slot(&self, slot: usize) -> Result<&Slot, ShmError> {
        if self.is_forked_copy() {
            return Err(ShmError::NotOwner(slot));
        }
        let pid = self.owned_pid(slot).ok_or(ShmError::NotOwner(slot))?;
        let s = self.slot(slot).ok_or(ShmError::NotOwner(slot))?;
        let (p, g) = unpack(s.owner.load(Ordering::Acquire));
        if p != pid || g % 2 == 1 {
            return Err(ShmError::NotOwner(slot));
        }
        Ok(s)
    }

    /// Publishes this member's state and priority, refreshes its heartbeat, then bumps `seq`.
    /// The caller then wakes the other members (see [`member_pids`](Self::member_pids)).
    pub fn publish(
        &self,
        slot: usize,
        state: MemberState,
        priority: u8,
        now: Duration,
    ) -> Result<(), ShmError> {
        let s = self.own_slot(slot)?;
        s.priority.store(priority, Ordering::Relaxed);
        s.heartbeat_ns.store(nanos(now), Ordering::Relaxed);
        s.state.store(state.to_u8(), Ordering::Release);
        self.bump_seq();
        Ok(())
    }

    /// Refreshes this member's heartbeat only (no `seq` bump: others check staleness on their
    /// own schedule).
    pub fn heartbeat(&self, slot: usize, now: Duration) -> Result<(), ShmError> {
        let s = self.own_slot(slot)?;
        s.heartbeat_ns.store(nanos(now), Ordering::Release);
        Ok(())
    }

    /// Gives a slot back (state `Empty`, identity cleared, pid 0) and bumps `seq`. Also done for
    /// every held slot on Drop. Releasing a slot not held is a no-op.
    pub fn release(&mut self, slot: usize) {
        let Some(pos) = self.owned.iter().position(|(s, _)| *s == slot) else {
            return;
        };
        let (_, pid) = self.owned.swap_remove(pos);
        if self.is_forked_copy() {
            return;
        }
        let Some(s) = self.slot(slot) else {
            return;
        };
        let w = s.owner.load(Ordering::Acquire);
        let (p, g) = unpack(w);
        if p != pid {
            // Already reaped or taken by someone else: not ours to touch.
            return;
        }
        let odd = next_odd(g);
        if s.owner
            .compare_exchange(w, pack(pid, odd), Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        // Seqlock writer: the odd mark must be visible before the fields are cleared.
        fence(Ordering::Release);
        clear_slot(s);
        s.owner
            .store(pack(0, odd.wrapping_add(1)), Ordering::Release);
        self.bump_seq();
    }

    /// The group's members: slots in use whose state is not `Empty`, with `alive` computed
    /// (`kill(pid, 0)`, not a zombie, start time matches). Slots being rewritten at this instant
    /// are skipped.
    pub fn members(&self) -> Vec<(usize, MemberView)> {
        let mut ids = Vec::new();
        for (i, slot) in self.slots() {
            let Some(id) = read_identity(slot) else {
                continue;
            };
            if id.state == MemberState::Empty.to_u8() {
                continue;
            }
            ids.push((i, id));
        }
        let refs: Vec<(usize, &Identity)> = ids.iter().map(|(i, id)| (*i, id)).collect();
        let alive = self.alive_all(&refs);
        ids.iter()
            .zip(alive)
            .map(|((i, id), a)| (*i, view_of(id, a)))
            .collect()
    }

    /// Pids of the other live members (this process excluded), to wake after a publish.
    ///
    /// Prefer [`signal_members`](Self::signal_members), which closes the window in which a pid
    /// could be reused between this check and `kill`.
    pub fn member_pids(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .members()
            .into_iter()
            .filter(|(i, m)| {
                m.alive
                    && m.pid != self.pid
                    && !self
                        .slot(*i)
                        .is_some_and(|s| self.foreign(s.pidns.load(Ordering::Relaxed)))
            })
            .map(|(_, m)| m.pid)
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// Sends signal `sig` (e.g. `SIGRTMIN() + 1`) to every other live member. Uses a pidfd
    /// (checked against the slot's start time after opening it) so that a reused pid is never
    /// signalled; falls back to `kill` (after the same check) wherever pidfds fail (no pidfds,
    /// a seccomp EPERM, EMFILE; see [`take_pidfd_fallback_notice`]). Returns how many were
    /// signalled.
    pub fn signal_members(&self, sig: i32) -> usize {
        let mut sent = 0;
        let mut done: Vec<u32> = Vec::new();
        for (i, slot) in self.slots() {
            let Some(id) = read_identity(slot) else {
                continue;
            };
            // A member of another PID namespace cannot be signalled by its pid (it would be
            // some process of ours): it sees the change at its next heartbeat tick.
            if id.pid == self.pid
                || id.state == MemberState::Empty.to_u8()
                || self.foreign(id.pidns)
                || done.contains(&id.pid)
            {
                continue;
            }
            if let Some(ok) = self.signal_known(i, &id, sig) {
                if ok {
                    sent += 1;
                    done.push(id.pid);
                }
                continue;
            }
            if signal_checked(id.pid, id.start_ticks, sig) {
                sent += 1;
                done.push(id.pid);
            }
        }
        sent
    }

    /// Signals a member through the pidfd this handle keeps for its slot (see [`Known`]), with
    /// no `/proc` read: `Some(sent)`, or `None` when there is no such pidfd (the caller then
    /// checks and signals it the long way).
    fn signal_known(&self, slot: usize, id: &Identity, sig: i32) -> Option<bool> {
        if !self.id_alive(slot, id) {
            return Some(false);
        }
        let known = match self.known.lock() {
            Ok(k) => k,
            Err(poisoned) => poisoned.into_inner(),
        };
        let k = known.get(slot)?.as_ref()?;
        if k.word != id.word || k.start_ticks != id.start_ticks {
            return None;
        }
        let fd = k.pidfd.as_ref()?;
        match super::process::pidfd_send_signal(fd, sig) {
            Ok(()) => Some(true),
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Some(false),
            Err(e) => {
                note_pidfd_fallback("pidfd_send_signal", id.pid, &e);
                None
            }
        }
    }

    /// The members as [`crate::proto::group::verdict`] takes them, and the index among them of the member in
    /// `slot` (`None` if that slot is not a member). The table decides nothing.
    pub fn views(&self, slot: usize) -> (Vec<MemberView>, Option<usize>) {
        let members = self.members();
        let me = members.iter().position(|(i, _)| *i == slot);
        (members.into_iter().map(|(_, m)| m).collect(), me)
    }
}

/// Checks a slot's new owner once: a pidfd opened first, then its start time and state read
/// from `/proc` (so the pidfd names the process the slot means, see [`signal_checked`]).
fn learn(id: &Identity) -> Known {
    let pidfd = match valid_pid(id.pid).map(|_| super::process::pidfd_open(id.pid)) {
        Some(Ok(fd)) => Some(fd),
        Some(Err(e)) if e.raw_os_error() == Some(libc::ESRCH) => {
            return Known {
                word: id.word,
                start_ticks: id.start_ticks,
                pidfd: None,
                dead: true,
            }
        }
        Some(Err(e)) => {
            note_pidfd_fallback("pidfd_open", id.pid, &e);
            None
        }
        None => None,
    };
    let alive = pid_alive(id.pid, id.start_ticks);
    Known {
        word: id.word,
        start_ticks: id.start_ticks,
        // Without a pidfd every check asks /proc again (pid_alive), as before.
        dead: pidfd.is_some() && !alive,
        pidfd: pidfd.filter(|_| alive),
    }
}

fn view_of(id: &Identity, alive: bool) -> MemberView {
    MemberView {
        pid: id.pid,
        ifname: decode_ifname(&id.ifname),
        vrid: id.vrid,
        family: if id.family == family_byte(Family::V6) {
            Family::V6
        } else {
            Family::V4
        },
        // Unknown state byte: a failed member.
        state: MemberState::from_u8(id.state).unwrap_or(MemberState::Fault),
        priority: id.priority,
        heartbeat: Duration::from_nanos(id.heartbeat_ns),
        alive,
    }
}

/// The `family` byte of a slot (0 for IPv4: layout 1 segments written before the field existed
/// hold zero there).
fn family_byte(f: Family) -> u8 {
    match f {
        Family::V4 => 0,
        Family::V6 => 1,
    }
}

/// Clears a slot's contents; the caller holds it with an odd generation.
fn clear_slot(slot: &Slot) {
    slot.state
        .store(MemberState::Empty.to_u8(), Ordering::Relaxed);
    slot.priority.store(0, Ordering::Relaxed);
    slot.vrid.store(0, Ordering::Relaxed);
    slot.family.store(0, Ordering::Relaxed);
    for a in &slot.ifname {
        a.store(0, Ordering::Relaxed);
    }
    slot.start_ticks.store(0, Ordering::Relaxed);
    slot.pidns.store(0, Ordering::Relaxed);
    slot.claimed_ns.store(0, Ordering::Relaxed);
    slot.heartbeat_ns.store(0, Ordering::Relaxed);
}

/// Set once the first pidfd failure was recorded (the fallback is reported once per process).
static PIDFD_FALLBACK_SEEN: AtomicBool = AtomicBool::new(false);
/// The first pidfd failure, until [`take_pidfd_fallback_notice`] hands it to the caller to log.
static PIDFD_FALLBACK_NOTE: Mutex<Option<String>> = Mutex::new(None);

fn note_pidfd_fallback(call: &str, pid: u32, e: &io::Error) {
    if !PIDFD_FALLBACK_SEEN.swap(true, Ordering::Relaxed) {
        if let Ok(mut n) = PIDFD_FALLBACK_NOTE.lock() {
            *n = Some(format!(
                "{call} failed for group member pid {pid} ({e}); waking members with kill(2) after checking their start time"
            ));
        }
    }
}

/// The first pidfd failure that made [`GroupShm::signal_members`] fall back to `kill(2)`,
/// once per process (later calls return `None`), for the daemon to log.
pub fn take_pidfd_fallback_notice() -> Option<String> {
    PIDFD_FALLBACK_NOTE.lock().ok().and_then(|mut n| n.take())
}

/// Signals `pid` only if it is still the process that started at `start_ticks`.
///
/// Prefers a pidfd; where pidfd_open(2) or pidfd_send_signal(2) fails for any reason
/// (ENOSYS before Linux 5.3, EPERM from a container's seccomp profile, EMFILE) the wake-up is
/// not lost: it is sent with `kill(2)` after checking the pid's start time.
fn signal_checked(pid: u32, start_ticks: u64, sig: i32) -> bool {
    let Some(p) = valid_pid(pid) else {
        return false;
    };
    let _pidfd = match super::process::pidfd_open(pid) {
        Ok(pidfd) => {
            // Checked after opening: the pidfd names the process in the slot now, if any.
            if !pid_alive(pid, start_ticks) {
                return false;
            }
            match super::process::pidfd_send_signal(&pidfd, sig) {
                Ok(()) => return true,
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => return false,
                Err(e) => note_pidfd_fallback("pidfd_send_signal", pid, &e),
            }
            Some(pidfd)
        }
        Err(e) => {
            note_pidfd_fallback("pidfd_open", pid, &e);
            None
        }
    };
    if !pid_alive(pid, start_ticks) {
        return false;
    }
    // SAFETY: plain kill(2) on a validated positive pid; no memory is involved.
    unsafe { libc::kill(p, sig) == 0 }
}

impl Drop for GroupShm {
    fn drop(&mut self) {
        let slots: Vec<usize> = self.owned.iter().map(|(s, _)| *s).collect();
        for s in slots {
            self.release(s);
        }
        // SAFETY: `base` was returned by mmap for SEGMENT_SIZE bytes and is unmapped exactly
        // once, here; no reference into the mapping outlives `self`.
        let _ = unsafe { munmap(self.base.cast(), SEGMENT_SIZE) };
    }
}

#[cfg(test)]
mod tests {
    /// A segment image with a valid header and slot 3 held by pid 4242 (generation 2).
    fn image_with_one_member() -> Vec<u8> {
        let mut img = vec![0u8; SEGMENT_SIZE];
        img[0..8].copy_from_slice(&MAGIC.to_ne_bytes());
        img[8..12].copy_from_slice(&VERSION.to_ne_bytes());
        img[12..16].copy_from_slice(&(HEADER_SIZE as u32).to_ne_bytes());
        img[16..20].copy_from_slice(&(SLOT_SIZE as u32).to_ne_bytes());
        img[20..24].copy_from_slice(&(NSLOTS as u32).to_ne_bytes());
        let base = HEADER_SIZE + 3 * SLOT_SIZE;
        img[base..base + 8].copy_from_slice(&pack(4242, 2).to_ne_bytes());
        img[base + 8] = MemberState::Master.to_u8();
        img[base + 9] = 150;
        img[base + 10] = 51;
        img[base + 12..base + 16].copy_from_slice(b"eth0");
        img
    }

    #[test]
    fn decode_image_reads_members_and_refuses_corruption() {
        let img = image_with_one_member();
        let m = decode_image(&img).unwrap();
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].0, 3);
        assert_eq!((m[0].1.pid, m[0].1.vrid, m[0].1.priority), (4242, 51, 150));
        assert_eq!(m[0].1.ifname, "eth0");
        assert_eq!(m[0].1.state, MemberState::Master);
        let mut bad = img.clone();
        bad[0] ^= 1;
        assert!(matches!(decode_image(&bad), Err(ShmError::Corrupt(_))));
        let mut bad = img.clone();
        bad[8] = 9;
        assert!(matches!(
            decode_image(&bad),
            Err(ShmError::Incompatible { .. })
        ));
        assert!(decode_image(&img[..SEGMENT_SIZE - 1]).is_err());
        // A slot being rewritten (odd generation) is skipped, as the seqlock reader does.
        let mut busy = img;
        let base = HEADER_SIZE + 3 * SLOT_SIZE;
        busy[base..base + 8].copy_from_slice(&pack(4242, 3).to_ne_bytes());
        assert!(decode_image(&busy).unwrap().is_empty());
    }

    use super::*;

    #[test]
    fn pack_puts_pid_first_in_memory() {
        let w = pack(0x0102_0304, 0x0a0b_0c0d);
        let b = w.to_ne_bytes();
        assert_eq!(&b[..4], &0x0102_0304u32.to_ne_bytes());
        assert_eq!(&b[4..], &0x0a0b_0c0du32.to_ne_bytes());
        assert_eq!(unpack(w), (0x0102_0304, 0x0a0b_0c0d));
    }

    #[test]
    fn magic_spells_vrrpdgrp() {
        assert_eq!(&MAGIC.to_ne_bytes(), b"VRRPDGRP");
        assert_eq!(SEGMENT_SIZE, 16384);
    }

    #[test]
    fn next_odd_is_odd() {
        for g in [0u32, 1, 2, 3, u32::MAX - 1, u32::MAX] {
            assert_eq!(next_odd(g) % 2, 1);
        }
    }

    #[test]
    fn only_a_private_file_of_ours_is_kept() {
        assert_eq!(foreign_reason(true, 0, 0o100600, 0), None);
        assert_eq!(foreign_reason(true, 1000, 0o100400, 1000), None);
        assert_eq!(
            foreign_reason(true, 65534, 0o100600, 0),
            Some(Foreign::OtherUid)
        );
        assert_eq!(
            foreign_reason(true, 0, 0o100620, 0),
            Some(Foreign::Writable)
        );
        assert_eq!(
            foreign_reason(true, 0, 0o100602, 0),
            Some(Foreign::Writable)
        );
        // A symlink, a directory, a FIFO: never ours, whoever owns it.
        assert_eq!(
            foreign_reason(false, 0, 0o120777, 0),
            Some(Foreign::NotAFile)
        );
        assert_eq!(
            foreign_reason(false, 0, 0o040700, 0),
            Some(Foreign::NotAFile)
        );
    }

    #[test]
    fn group_names() {
        assert!(validate_group_name("a").is_ok());
        assert!(validate_group_name("ns4026531840").is_ok());
        assert!(validate_group_name("A-b_c.9").is_ok());
        assert!(validate_group_name(&"x".repeat(32)).is_ok());
        assert!(validate_group_name(&"x".repeat(33)).is_err());
        assert!(validate_group_name("").is_err());
        assert!(validate_group_name("a/b").is_err());
        assert!(validate_group_name("a b").is_err());
        assert!(validate_group_name("é").is_err());
    }

    #[test]
    fn default_name_is_valid() {
        let n = default_group_name().expect("netns inode");
        assert!(n.starts_with("ns"));
        validate_group_name(&n).expect("valid");
    }

    #[test]
    fn ifnames() {
        assert!(validate_ifname("eth0").is_ok());
        assert!(validate_ifname(&"e".repeat(15)).is_ok());
        assert!(validate_ifname(&"e".repeat(16)).is_err());
        assert!(validate_ifname("").is_err());
        assert!(validate_ifname("a\0b").is_err());
        assert!(validate_ifname("a\nb").is_err());
        let mut raw = [0u8; 16];
        raw[..4].copy_from_slice(b"eth0");
        assert_eq!(decode_ifname(&raw), "eth0");
        assert_eq!(decode_ifname(&[b'a'; 16]), "?");
        assert_eq!(decode_ifname(&[0; 16]), "?");
        let mut bad = [0u8; 16];
        bad[0] = 0xff;
        assert_eq!(decode_ifname(&bad), "?");
        let mut ctl = [0u8; 16];
        ctl[0] = b'\x1b';
        assert_eq!(decode_ifname(&ctl), "?");
    }

    #[test]
    fn own_process_is_alive_with_its_start_time() {
        let me = std::process::id();
        let (state, start) = proc_stat(me).expect("/proc/self/stat");
        assert_ne!(state, 'Z');
        assert!(pid_alive(me, start));
        assert!(pid_alive(me, 0));
        assert!(!pid_alive(me, start.wrapping_add(12345)));
        assert!(!pid_alive(0, 0));
        assert!(!pid_alive(u32::MAX, 0));
        assert!(!pid_alive(0x8000_0000, 0));
    }
}
