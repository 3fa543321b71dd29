//! systemd's notify protocol (sd_notify(3)), written by hand: one datagram per message to the
//! socket named by `$NOTIFY_SOCKET` (a path, or an abstract name starting with `@`). READY=1 when
//! the first state is known, STATUS=<state> on transitions, STOPPING=1 on exit, and WATCHDOG=1 from
//! the event loop, so that a wedged loop is restarted.
//!
//! # The watchdog follows the advert interval
//! A hung master (stopped, or stuck in a system call) keeps its virtual addresses while its
//! peer takes over once its Master_Down_Interval has run out (RFC 9568 §6.4.2): at the earliest
//! 2 × Advertisement_Interval + Skew_Time after the hang (its last advert may have gone just
//! before). Both would then own the addresses until systemd's watchdog kills the hung one and
//! `ExecStopPost=vrrpd --cleanup` removes them. So, when systemd enabled a watchdog
//! (`$WATCHDOG_USEC` set), vrrpd shortens it to [`tied_watchdog`] (1.5 × its advert interval,
//! at least [`MIN_WATCHDOG`]) with `WATCHDOG_USEC=` (sd_notify(3)) and pings three times per
//! period: the kill comes 1-1.5 intervals after the hang, before the peer takes over. A unit
//! watchdog already shorter is kept. The floor: below 1 s, a loaded machine's scheduling
//! delays would kill healthy daemons (each kill is a failover, worse than the overlap it
//! prevents); with adverts faster than 1 s the overlap is at most about the floor.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// The shortest watchdog period [`tied_watchdog`] sets.
pub const MIN_WATCHDOG: Duration = Duration::from_secs(1);

/// The watchdog period for an instance advertising every `interval` whose unit set `unit`:
/// 1.5 × `interval`, at least [`MIN_WATCHDOG`], never longer than `unit`. See the module
/// documentation.
pub fn tied_watchdog(unit: Duration, interval: Duration) -> Duration {
    (interval * 3 / 2).max(MIN_WATCHDOG).min(unit)
}

/// Where to send notifications, if anywhere.
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    /// The watchdog period (`$WATCHDOG_USEC`, possibly shortened by [`Notifier::tie_watchdog`]).
    period: Option<Duration>,
    /// Time between pings: a third of the period.
    watchdog: Option<Duration>,
    next_ping: Option<Duration>,
    /// The unit's own period (`$WATCHDOG_USEC`) and the tied one ([`tied_watchdog`]), when
    /// tying shortened it.
    unit_and_tied: Option<(Duration, Duration)>,
    /// A quiet Backup runs on the unit's period ([`Notifier::relax`]); its pings ride on other
    /// wake-ups from `soft_ping` on.
    soft_ping: Option<Duration>,
}

impl Notifier {
    /// From `$NOTIFY_SOCKET` and `$WATCHDOG_USEC` (and `$WATCHDOG_PID`, which must be ours if set).
    pub fn from_env() -> Notifier {
        let target = std::env::var("NOTIFY_SOCKET").ok().and_then(|path| {
            let addr = if let Some(name) = path.strip_prefix('@') {
                SocketAddr::from_abstract_name(name.as_bytes()).ok()?
            } else {
                SocketAddr::from_pathname(&path).ok()?
            };
            let sock = UnixDatagram::unbound().ok()?;
            // Never block the event loop on a busy systemd.
            sock.set_nonblocking(true).ok()?;
            Some((sock, addr))
        });
        let pid_ok = std::env::var("WATCHDOG_PID")
            .ok()
            .and_then(|p| p.parse::<u32>().ok())
            .is_none_or(|p| p == std::process::id());
        let period = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|u| *u > 0 && pid_ok)
            .map(Duration::from_micros);
        let next_ping = period.map(|_| Duration::ZERO);
        Notifier {
            target,
            period,
            watchdog: period.map(|p| p / 3),
            next_ping,
            unit_and_tied: None,
            soft_ping: None,
        }
    }

    /// Shorten systemd's watchdog to [`tied_watchdog`] of the advert `interval` (sends
    /// `WATCHDOG_USEC=` when that is shorter than the unit's). Returns the period in force.
    pub fn tie_watchdog(&mut self, interval: Duration) -> Option<Duration> {
        let unit = self.period?;
        let p = tied_watchdog(unit, interval);
        if p < unit {
            self.send(&format!("WATCHDOG_USEC={}", p.as_micros()));
            self.period = Some(p);
            self.watchdog = Some(p / 3);
            self.unit_and_tied = Some((unit, p));
        }
        self.period
    }

    /// The quiet Backup (`super::quiet`): `on`, the unit's own period again, pinged on any
    /// wake-up from a third of it on and at the latest at half of it, so that pings ride on the
    /// few wake-ups a quiet Backup has; off (leaving Backup, or anything that disarms), the tied
    /// period at once. A hung Backup holds no address: the tie (see the module documentation)
    /// is for Masters. Each change pings first, then sets the period (systemd restarts its timer
    /// from the new one).
    pub fn relax(&mut self, on: bool, now: Duration) {
        let Some((unit, tied)) = self.unit_and_tied else {
            return;
        };
        if on == self.soft_ping.is_some() {
            return;
        }
        let p = if on { unit } else { tied };
        self.send("WATCHDOG=1");
        self.send(&format!("WATCHDOG_USEC={}", p.as_micros()));
        self.period = Some(p);
        self.watchdog = Some(p / 3);
        if on {
            self.soft_ping = Some(now + p / 3);
            self.next_ping = Some(now + p / 2);
        } else {
            self.soft_ping = None;
            self.next_ping = Some(now + p / 3);
        }
    }

    /// Send one message (ignored when not under systemd).
    pub fn send(&self, msg: &str) {
        if let Some((sock, addr)) = &self.target {
            let _ = sock.send_to_addr(msg.as_bytes(), addr);
        }
    }

    /// The next watchdog ping time.
    pub fn next(&self) -> Option<Duration> {
        self.next_ping
    }

    /// Send WATCHDOG=1 when due.
    #[inline(never)]
    pub fn tick(&mut self, now: Duration) {
        if let (Some(every), Some(next)) = (self.watchdog, self.next_ping) {
            let due = self.soft_ping.unwrap_or(next);
            if now >= due {
                self.send("WATCHDOG=1");
                match self.soft_ping {
                    // Relaxed: soft at a third, hard at half the period.
                    Some(_) => {
                        self.soft_ping = Some(now + every);
                        self.next_ping = Some(now + every * 3 / 2);
                    }
                    None => self.next_ping = Some(now + every),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_follows_the_interval_with_a_floor_and_never_grows() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        // 1 s adverts: 1.5 s, under the peer's earliest takeover (2 s + skew).
        assert_eq!(tied_watchdog(s(10), s(1)), ms(1500));
        assert_eq!(tied_watchdog(s(10), s(3)), ms(4500));
        // Fast adverts: the floor.
        assert_eq!(tied_watchdog(s(10), ms(100)), s(1));
        // A unit watchdog already shorter (or an interval so long) stays.
        assert_eq!(tied_watchdog(ms(200), ms(100)), ms(200));
        assert_eq!(tied_watchdog(s(10), s(40)), s(10));
    }
}
