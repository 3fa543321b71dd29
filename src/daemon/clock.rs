//! CLOCK_MONOTONIC time and a timerfd armed at absolute deadlines.
//!
//! The protocol core takes time as a [`Duration`] since an arbitrary epoch; the daemon's epoch is
//! the CLOCK_MONOTONIC origin, so deadlines computed by the core can be handed to the timerfd as
//! absolute times (TFD_TIMER_ABSTIME) without conversion and without drift.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// The current CLOCK_MONOTONIC time.
pub fn now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    Duration::new(
        ts.tv_sec.max(0) as u64,
        ts.tv_nsec.clamp(0, 999_999_999) as u32,
    )
}

/// A non-blocking CLOCK_MONOTONIC timerfd.
pub struct Timer {
    fd: OwnedFd,
}

impl Timer {
    /// Create the timerfd (CLOEXEC, NONBLOCK).
    pub fn new() -> io::Result<Timer> {
        // SAFETY: plain syscall; the returned descriptor is checked and then owned.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_CLOEXEC | libc::TFD_NONBLOCK,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor owned by nobody else.
        Ok(Timer {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Arm at the absolute monotonic time `at`, or disarm with `None`.
    pub fn arm(&self, at: Option<Duration>) -> io::Result<()> {
        let value = match at {
            // A zero it_value disarms, so an already passed deadline is armed 1 ns after the epoch.
            Some(d) => libc::timespec {
                tv_sec: d.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: if d.is_zero() {
                    1
                } else {
                    d.subsec_nanos() as libc::c_long
                },
            },
            None => libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
        };
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: value,
        };
        // SAFETY: fd is our timerfd; spec is a valid itimerspec; old value not requested.
        let r = unsafe {
            libc::timerfd_settime(
                self.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Consume an expiry notification (no-op when none is pending).
    pub fn drain(&self) {
        let mut buf = [0u8; 8];
        // SAFETY: reading at most 8 bytes into our buffer from our non-blocking fd.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
    }
}

impl AsRawFd for Timer {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
