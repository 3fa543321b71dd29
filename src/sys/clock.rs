//! CLOCK_MONOTONIC time and a timerfd armed at absolute deadlines.
//!
//! The protocol core takes time as a [`Duration`] since an arbitrary epoch; the daemon's epoch is
//! the CLOCK_MONOTONIC origin, so deadlines computed by the core can be handed to the timerfd as
//! absolute times (TFD_TIMER_ABSTIME) without conversion and without drift.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::time::Duration;

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

/// The current CLOCK_MONOTONIC time.
pub fn now() -> Duration {
    // CLOCK_MONOTONIC always exists on Linux; the error arm is unreachable in practice.
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => Duration::new(
            ts.tv_sec().max(0) as u64,
            ts.tv_nsec().clamp(0, 999_999_999) as u32,
        ),
        Err(_) => Duration::ZERO,
    }
}

/// The current CLOCK_REALTIME time since the Unix epoch: only to stamp what people read (the
/// event stream); every deadline is on [`now`].
pub fn wall() -> Duration {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_REALTIME) {
        Ok(ts) => Duration::new(
            ts.tv_sec().max(0) as u64,
            ts.tv_nsec().clamp(0, 999_999_999) as u32,
        ),
        Err(_) => Duration::ZERO,
    }
}

/// A random identifier of this process's run (16 hex digits from the kernel's random UUID
/// source), so that a restarted daemon is told apart from the one before; falls back to the
/// monotonic and wall clocks when /proc is not mounted.
pub fn run_id() -> String {
    match std::fs::read_to_string("/proc/sys/kernel/random/uuid") {
        Ok(u) => u.trim().replace('-', "").chars().take(16).collect(),
        Err(_) => format!(
            "{:016x}",
            (wall().as_nanos() as u64) ^ (now().as_nanos() as u64).rotate_left(32)
        ),
    }
}

/// A non-blocking CLOCK_MONOTONIC timerfd.
///
/// It remembers where it is armed, so that arming it again at the same deadline costs no
/// system call; once [`Timer::expired`] says it fired, the next [`Timer::arm`] always re-arms
/// it, which also clears the expiry (`timerfd_settime(2)` resets the count), so the loop never
/// has to `read(2)` it.
pub struct Timer {
    fd: TimerFd,
    /// Where the timerfd is armed (`None`: disarmed), while it has not fired.
    armed: Option<Option<Duration>>,
}

impl Timer {
    /// Create the timerfd (CLOEXEC, NONBLOCK).
    pub fn new() -> io::Result<Timer> {
        let fd = TimerFd::new(
            ClockId::CLOCK_MONOTONIC,
            TimerFlags::TFD_CLOEXEC | TimerFlags::TFD_NONBLOCK,
        )?;
        Ok(Timer { fd, armed: None })
    }

    /// Arm at the absolute monotonic time `at`, or disarm with `None`. Nothing is done when
    /// the timer is already armed there and has not fired since.
    pub fn arm(&mut self, at: Option<Duration>) -> io::Result<()> {
        if self.armed == Some(at) {
            return Ok(());
        }
        // Unknown until the call succeeds.
        self.armed = None;
        match at {
            Some(d) => {
                // A zero it_value disarms, so an already passed deadline is armed 1 ns after
                // the epoch.
                let nsec = if d.is_zero() { 1 } else { d.subsec_nanos() };
                let ts = TimeSpec::new(
                    d.as_secs().min(i64::MAX as u64) as libc::time_t,
                    nsec as libc::c_long,
                );
                self.fd.set(
                    Expiration::OneShot(ts),
                    TimerSetTimeFlags::TFD_TIMER_ABSTIME,
                )?;
            }
            None => self.fd.unset()?,
        }
        self.armed = Some(at);
        Ok(())
    }

    /// The timer was found readable: it fired, and the next [`Timer::arm`] must re-arm it
    /// (clearing the expiry) even at the same deadline.
    pub fn expired(&mut self) {
        self.armed = None;
    }

    /// Consume an expiry notification (no-op when none is pending).
    pub fn drain(&self) {
        let mut buf = [0u8; 8];
        let _ = nix::unistd::read(self.fd.as_fd(), &mut buf);
    }
}

impl AsFd for Timer {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_and_timer_arms_and_disarms() {
        let a = now();
        let b = now();
        assert!(b >= a);
        let mut t = Timer::new().unwrap();
        t.arm(Some(Duration::ZERO)).unwrap();
        t.arm(Some(now() + Duration::from_secs(3600))).unwrap();
        t.arm(None).unwrap();
        t.drain();
    }
}
