//! `--realtime PRIO`: the daemon runs its event loop at `SCHED_RR` priority PRIO (sched(7)), so
//! that a busy machine cannot delay an advert or the Master_Down timer past the Skew_Time
//! (RFC 9568 §6.1): with 100 instances at 10 ms on two busy cores, Backups under normal
//! scheduling time out and advertise now and then; at `SCHED_RR` they do not (issue #14,
//! BENCHMARKS.md "Short intervals"). Opt-in, as keepalived's `vrrp_rt_priority`.
//!
//! - **When.** [`check`] at start, before anything is opened: a refusal is an error at once
//!   (exit 1, before detaching), naming the flag and the fix. Start-up itself (and the first
//!   transition's set-up) runs at normal priority: [`enter`] is called just before the event
//!   loop.
//! - **Children.** The policy carries `SCHED_RESET_ON_FORK`: hooks, tracker checks and `nft`
//!   run at `SCHED_OTHER`.
//! - **Safety net.** `RLIMIT_RTTIME` (CPU time without a blocking system call) soft
//!   [`RTTIME_SOFT_US`], hard [`RTTIME_HARD_US`]. A wake-up of the loop takes about 50 µs and a
//!   transition (forking a hook, netlink requests that block on their answer, a gratuitous
//!   ARP burst paced by the timer) a few ms: only a loop that spins reaches 1 s. At the soft
//!   limit the kernel sends `SIGXCPU`, whose handler puts the daemon back at `SCHED_OTHER`
//!   (so it keeps running, and the machine is not held), and the loop logs it as an error;
//!   at the hard limit, reached only if that failed, the kernel kills the process. Unlike
//!   keepalived's default 10 ms (`vrrp_rlimit_rttime`), a slow transition is never cut short.

use std::io;

use crate::sys::sched;

/// `RLIMIT_RTTIME` soft limit, µs: `SIGXCPU`, and back to `SCHED_OTHER`.
pub const RTTIME_SOFT_US: u64 = 1_000_000;
/// `RLIMIT_RTTIME` hard limit, µs: `SIGKILL` by the kernel.
pub const RTTIME_HARD_US: u64 = 2_000_000;

/// Whether `SCHED_RR` at `prio` is allowed, by trying it and going back to `SCHED_OTHER` at
/// once: the kernel's answer covers every reason (`CAP_SYS_NICE`, `RLIMIT_RTPRIO`, a seccomp
/// filter such as systemd's `RestrictRealtime=yes`). Returns the one-line reason (exit 1).
pub fn check(prio: u8) -> Result<(), String> {
    match sched::set_round_robin(prio) {
        Ok(()) => sched::set_normal()
            .map_err(|e| format!("--realtime {prio}: cannot leave SCHED_RR again: {e}")),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Err(refused(prio, &e)),
        Err(e) => Err(format!("--realtime {prio}: cannot set SCHED_RR: {e}")),
    }
}

/// The error of a refused `--realtime`, in the capability errors' style.
fn refused(prio: u8, e: &io::Error) -> String {
    let limit = match sched::rtprio_limit() {
        Ok(u64::MAX) => "unlimited".to_string(),
        Ok(l) => l.to_string(),
        Err(_) => "?".to_string(),
    };
    format!(
        "--realtime {prio} needs CAP_SYS_NICE or RLIMIT_RTPRIO of at least {prio} (it is \
         {limit}; sched_setscheduler: {e}): run as root, grant CAP_SYS_NICE (setpriv, setcap, \
         systemd AmbientCapabilities=) or raise the limit (prlimit --rtprio={prio}; under \
         systemd a drop-in with RestrictRealtime=no and LimitRTPRIO={prio})"
    )
}

/// What [`enter`] set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entered {
    /// `RLIMIT_RTTIME` soft limit now in force, µs.
    pub soft_us: u64,
    /// `RLIMIT_RTTIME` hard limit now in force, µs.
    pub hard_us: u64,
}

/// The safety net first (`RLIMIT_RTTIME`, the `SIGXCPU` action), then `SCHED_RR` at `prio`.
pub fn enter(prio: u8) -> io::Result<Entered> {
    let (soft_us, hard_us) = sched::limit_rttime(RTTIME_SOFT_US, RTTIME_HARD_US)?;
    sched::normal_on_sigxcpu()?;
    sched::set_round_robin(prio)?;
    Ok(Entered { soft_us, hard_us })
}

/// Whether the thread still runs at a real-time policy (after a `SIGXCPU` it does not).
pub fn is_realtime() -> bool {
    sched::current().is_ok_and(|p| p.policy == libc::SCHED_RR || p.policy == libc::SCHED_FIFO)
}

/// The slice the event loop asks the fair scheduler for (see [`short_slice`]): the kernel's
/// floor. A wake-up of the loop runs about 50 µs, so it never uses it up.
pub const LOOP_SLICE: std::time::Duration = std::time::Duration::from_micros(100);

/// Without `--realtime`: the loop asks for a [`LOOP_SLICE`] slice (sched(7), EEVDF custom
/// slices, Linux 6.12 and later; no privilege needed), so that when its timer fires on a
/// busy core it preempts a task that has run past its deadline instead of waiting up to that
/// task's whole slice (3 ms by default) — the tail of advert jitter and of the
/// Master_Down_Interval on a shared machine (bench/notes/70-timing-regressions.md). Its share
/// of the CPU is unchanged (the nice value is kept). Children (hooks, checks, `nft`) start at
/// the default slice (`SCHED_RESET_ON_FORK`).
pub fn short_slice() -> io::Result<()> {
    sched::request_slice(LOOP_SLICE)
}
