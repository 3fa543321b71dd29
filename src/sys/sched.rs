//! Real-time scheduling (`--realtime`): the calling thread's policy (sched_setscheduler(2),
//! sched(7)), its `RLIMIT_RTTIME` (getrlimit(2)) and a `SIGXCPU` action that gives the
//! real-time policy up. What to set and when is the daemon's decision (`daemon::realtime`).
//!
//! Every policy set here carries `SCHED_RESET_ON_FORK`: a child (a hook, a tracker's check,
//! `nft`, a thread) starts at `SCHED_OTHER` whatever the daemon runs at (sched(7)).

use std::io;

/// The `SCHED_*` policy and real-time priority of the calling thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// `SCHED_OTHER` (0), `SCHED_FIFO` (1), `SCHED_RR` (2), ... without the reset-on-fork flag.
    pub policy: i32,
    /// 1..=99 under a real-time policy, 0 otherwise.
    pub priority: i32,
}

/// `sched_setscheduler(0, policy | SCHED_RESET_ON_FORK, priority)`.
fn set(policy: libc::c_int, priority: libc::c_int) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: sched_setscheduler(2) reads the sched_param we pass, which lives for the call.
    super::cvt(unsafe { libc::sched_setscheduler(0, policy | libc::SCHED_RESET_ON_FORK, &param) })?;
    Ok(())
}

/// `SCHED_RR` at `priority` (1..=99) with `SCHED_RESET_ON_FORK`. EPERM without
/// `CAP_SYS_NICE` when `RLIMIT_RTPRIO` is below `priority`, or under a seccomp filter that
/// forbids real-time policies (systemd's `RestrictRealtime=yes`).
pub fn set_round_robin(priority: u8) -> io::Result<()> {
    set(libc::SCHED_RR, libc::c_int::from(priority))
}

/// Back to `SCHED_OTHER` (keeping the nice value), still with `SCHED_RESET_ON_FORK`: an
/// unprivileged thread may always lower its policy but may not clear that flag (sched(7)).
pub fn set_normal() -> io::Result<()> {
    set(libc::SCHED_OTHER, 0)
}

/// `struct sched_attr` of sched_setattr(2) (`SCHED_ATTR_SIZE_VER0`, 48 bytes: the fields up to
/// `sched_period`); libc does not declare it.
#[repr(C)]
struct SchedAttr {
    size: u32,
    sched_policy: u32,
    sched_flags: u64,
    sched_nice: i32,
    sched_priority: u32,
    sched_runtime: u64,
    sched_deadline: u64,
    sched_period: u64,
}

/// Ask the fair scheduler (EEVDF, Linux 6.12 and later) for a slice of `slice` for the calling
/// thread: `sched_setattr(2)` with `SCHED_OTHER` at the thread's nice value and `sched_runtime`
/// set (sched(7), "SCHED_OTHER": the runtime is the requested slice, clamped by the kernel to
/// 0.1-100 ms). A task that asks for a shorter slice than the one running gets an earlier
/// virtual deadline, so when it wakes it preempts a task that has run past its own shorter
/// deadline instead of waiting for that task's slice (3 ms by default) to end. No privilege is
/// needed. An older kernel ignores the runtime of a fair-class task (the call succeeds and
/// nothing changes); `SCHED_RESET_ON_FORK` is kept, so children start at the default slice.
pub fn request_slice(slice: std::time::Duration) -> io::Result<()> {
    let nice = {
        // getpriority(2) may return -1 as a valid value: errno is cleared first.
        // SAFETY: __errno_location() is this thread's errno; getpriority touches no memory.
        unsafe { *libc::__errno_location() = 0 };
        // SAFETY: as above; `PRIO_PROCESS` with who 0 is the calling thread.
        let n = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
        // SAFETY: reading this thread's errno.
        if n == -1 && unsafe { *libc::__errno_location() } != 0 {
            return Err(io::Error::last_os_error());
        }
        n
    };
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        sched_policy: libc::SCHED_OTHER as u32,
        sched_flags: SCHED_FLAG_RESET_ON_FORK,
        sched_nice: nice,
        sched_priority: 0,
        sched_runtime: u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX),
        sched_deadline: 0,
        sched_period: 0,
    };
    // SAFETY: sched_setattr(2) reads `size` bytes of the attribute we pass, which lives for
    // the call; pid 0 is the calling thread, flags must be 0.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_sched_setattr,
            0 as libc::c_long,
            &attr as *const SchedAttr,
            0 as libc::c_long,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `SCHED_FLAG_RESET_ON_FORK` of sched_setattr(2) (linux/sched.h).
const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;

/// The calling thread's policy and real-time priority.
pub fn current() -> io::Result<Policy> {
    // SAFETY: sched_getscheduler(2) takes a pid and touches no memory of ours.
    let policy = super::cvt(unsafe { libc::sched_getscheduler(0) })?;
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: sched_getparam(2) writes one sched_param, which lives for the call.
    super::cvt(unsafe { libc::sched_getparam(0, &mut param) })?;
    Ok(Policy {
        policy: policy & !libc::SCHED_RESET_ON_FORK,
        priority: param.sched_priority,
    })
}

/// A resource limit's (soft, hard) values; `u64::MAX` is `RLIM_INFINITY`.
fn get_limit(resource: libc::__rlimit_resource_t) -> io::Result<(u64, u64)> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit(2) writes one rlimit, which lives for the call.
    super::cvt(unsafe { libc::getrlimit(resource, &mut r) })?;
    Ok((r.rlim_cur, r.rlim_max))
}

/// `RLIMIT_RTPRIO` (soft): the highest real-time priority allowed without `CAP_SYS_NICE`.
pub fn rtprio_limit() -> io::Result<u64> {
    get_limit(libc::RLIMIT_RTPRIO).map(|l| l.0)
}

/// Lowers `RLIMIT_RTTIME` (µs of CPU a real-time thread may use without blocking) to at most
/// `soft_us` / `hard_us`; a limit already lower (systemd's `LimitRTTIME=`, prlimit(1)) is kept,
/// as raising a hard limit needs `CAP_SYS_RESOURCE`. Returns the (soft, hard) limits now set.
/// At the soft limit the kernel sends `SIGXCPU` (then once a second), at the hard one
/// `SIGKILL` (getrlimit(2)).
pub fn limit_rttime(soft_us: u64, hard_us: u64) -> io::Result<(u64, u64)> {
    let (cur_soft, cur_hard) = get_limit(libc::RLIMIT_RTTIME)?;
    let hard = cur_hard.min(hard_us);
    let soft = cur_soft.min(soft_us).min(hard);
    let r = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: setrlimit(2) reads one rlimit, which lives for the call.
    super::cvt(unsafe { libc::setrlimit(libc::RLIMIT_RTTIME, &r) })?;
    Ok((soft, hard))
}

/// On `SIGXCPU`, the signal handler itself puts the thread that receives it back at
/// `SCHED_OTHER`: a real-time loop that spins never returns to the event loop to read a
/// signal flag, so only the handler can end the spin's hold on a core before the hard
/// `RLIMIT_RTTIME` kills the process. The default action (terminate with a core dump) is
/// replaced; the caller registers its own flag for the signal too, to log it.
pub fn normal_on_sigxcpu() -> io::Result<()> {
    // SAFETY: the action makes one raw system call with a stack-allocated argument: no
    // allocation, no lock, nothing that is not async-signal-safe (signal-hook saves and
    // restores errno around the handlers).
    unsafe {
        signal_hook::low_level::register(libc::SIGXCPU, || {
            let param = libc::sched_param { sched_priority: 0 };
            libc::syscall(
                libc::SYS_sched_setscheduler,
                0 as libc::c_long,
                libc::c_long::from(libc::SCHED_OTHER | libc::SCHED_RESET_ON_FORK),
                &param as *const libc::sched_param,
            );
        })
    }
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lowering our own RLIMIT_RTTIME needs no privilege; a lower limit already set is kept.
    /// (The limit is the test process's: it only goes down, and no other test runs real-time.)
    #[test]
    fn rttime_is_lowered_never_raised() {
        let (s, h) = limit_rttime(5_000_000, 6_000_000).unwrap();
        assert!(s <= 5_000_000 && h <= 6_000_000 && s <= h, "{s} {h}");
        let (s2, h2) = limit_rttime(u64::MAX, u64::MAX).unwrap();
        assert_eq!((s2, h2), (s, h), "a lower limit was raised");
        assert_eq!(get_limit(libc::RLIMIT_RTTIME).unwrap(), (s, h));
    }

    #[test]
    fn normal_policy_has_priority_0() {
        let p = current().unwrap();
        // The test harness runs at a normal policy (nice does not change it).
        assert!(
            p.policy != libc::SCHED_RR && p.policy != libc::SCHED_FIFO,
            "{p:?}"
        );
        assert_eq!(p.priority, 0, "{p:?}");
    }
    /// Linux 6.12 or later (EEVDF custom slices), from /proc/sys/kernel/osrelease.
    fn custom_slices() -> bool {
        let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let mut v = r
            .split(|c: char| !c.is_ascii_digit())
            .map(|x| x.parse::<u32>().unwrap_or(0));
        let (major, minor) = (v.next().unwrap_or(0), v.next().unwrap_or(0));
        (major, minor) >= (6, 12)
    }

    /// The requested slice is the thread's from then on (/proc/thread-self/sched `se.slice`,
    /// in ns); without the call a thread runs at the kernel's base slice (0.75 ms times
    /// 1 + log2 of the CPU count, 3 ms at most). Runs on a thread of its own so that no other
    /// test's thread is changed. A kernel without custom slices (before 6.12) has no such
    /// line or keeps the base slice: nothing to check there.
    #[test]
    fn requested_slice_is_the_threads() {
        std::thread::spawn(|| {
            let slice = || {
                std::fs::read_to_string("/proc/thread-self/sched")
                    .ok()?
                    .lines()
                    .find(|l| l.starts_with("se.slice"))?
                    .split(':')
                    .nth(1)?
                    .trim()
                    .parse::<f64>()
                    .ok()
            };
            let Some(before) = slice() else {
                assert!(!custom_slices(), "no se.slice in /proc/thread-self/sched");
                eprintln!("skipped: no se.slice in /proc/thread-self/sched");
                return;
            };
            request_slice(std::time::Duration::from_micros(100)).unwrap();
            let after = slice().unwrap();
            if !custom_slices() {
                eprintln!("skipped: a kernel before 6.12 keeps the base slice ({before} ns)");
                return;
            }
            assert_eq!(after, 100_000.0, "before {before}");
            let p = current().unwrap();
            assert_eq!((p.policy, p.priority), (libc::SCHED_OTHER, 0), "{p:?}");
        })
        .join()
        .unwrap();
    }
}
