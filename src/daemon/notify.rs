//! systemd's notify protocol (sd_notify(3)), written by hand: one datagram per message to the
//! socket named by `$NOTIFY_SOCKET` (a path, or an abstract name starting with `@`). READY=1 when
//! the first state is known, STATUS=<state> on transitions, STOPPING=1 on exit, and WATCHDOG=1 from
//! the event loop every half `$WATCHDOG_USEC`, so that a wedged loop is restarted.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

/// Where to send notifications, if anywhere.
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
    next_ping: Option<Duration>,
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
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|u| u.parse::<u64>().ok())
            .filter(|u| *u > 0 && pid_ok)
            .map(|u| Duration::from_micros(u) / 2);
        let next_ping = watchdog.map(|_| Duration::ZERO);
        Notifier {
            target,
            watchdog,
            next_ping,
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
    pub fn tick(&mut self, now: Duration) {
        if let (Some(every), Some(next)) = (self.watchdog, self.next_ping) {
            if now >= next {
                self.send("WATCHDOG=1");
                self.next_ping = Some(now + every);
            }
        }
    }
}
