//! Logging: stderr in the foreground, syslog(3) (facility daemon, ident `vrrpd`) otherwise, or
//! a file when no syslog daemon listens (see [`init_file`]), and a rate limiter for lines triggered by the network (RFC 9568 §7.1 asks for rate-limited logs).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

/// Severity, mapped to syslog priorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// LOG_ERR.
    Error = 3,
    /// LOG_WARNING.
    Warn = 4,
    /// LOG_NOTICE.
    Notice = 5,
    /// LOG_INFO.
    Info = 6,
    /// LOG_DEBUG.
    Debug = 7,
}

static TO_SYSLOG: AtomicBool = AtomicBool::new(false);
/// Set by [`init_file`]: lines go there (as on stderr) instead of syslog.
static TO_FILE: std::sync::OnceLock<std::fs::File> = std::sync::OnceLock::new();
static MAX_LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
/// Lines dropped because the destination had no room (stderr nobody reads, a full `/dev/log`),
/// not yet reported.
static DROPPED: AtomicU64 = AtomicU64::new(0);
/// Longest line written to stderr: within `PIPE_BUF`, so a pipe takes it whole or not at all.
const MAX_LINE: usize = 4000;

/// Choose the destination and verbosity. With `syslog`, openlog(3) is called once.
pub fn init(syslog: bool, debug: bool) {
    MAX_LEVEL.store(
        if debug {
            Level::Debug as u8
        } else {
            Level::Info as u8
        },
        Ordering::Relaxed,
    );
    if syslog {
        crate::sys::syslog::open();
    }
    TO_SYSLOG.store(syslog, Ordering::Relaxed);
}

/// Log to the file at `path` (appended, created mode 0640) instead of syslog: for a detached
/// daemon on a host without a syslog daemon, whose lines would otherwise be lost.
pub fn init_file(path: &std::path::Path, debug: bool) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)?;
    init(false, debug);
    let _ = TO_FILE.set(f);
    Ok(())
}

/// Whether `level` would be written.
pub fn enabled(level: Level) -> bool {
    level as u8 <= MAX_LEVEL.load(Ordering::Relaxed)
}

/// Write one line.
pub fn write(level: Level, msg: &str) {
    if !enabled(level) {
        return;
    }
    // Nothing here may block the event loop (issue 13, defect 7): a line the destination has
    // no room for is dropped and counted, and the count is reported with the next line that
    // gets through.
    if TO_SYSLOG.load(Ordering::Relaxed) {
        let dropped = DROPPED.swap(0, Ordering::Relaxed);
        if dropped > 0
            && !crate::sys::syslog::write(Level::Warn as i32, &dropped_note(dropped, "syslog"))
        {
            DROPPED.fetch_add(dropped, Ordering::Relaxed);
        }
        if !crate::sys::syslog::write(level as i32, msg) {
            DROPPED.fetch_add(1, Ordering::Relaxed);
        }
    } else {
        let t = crate::sys::clock::now();
        let dropped = DROPPED.swap(0, Ordering::Relaxed);
        let mut line = String::new();
        if dropped > 0 {
            line = stamp_line(t, Level::Warn, &dropped_note(dropped, "stderr"));
        }
        line.push_str(&stamp_line(t, level, msg));
        use std::io::Write;
        match TO_FILE.get() {
            Some(mut f) => {
                let _ = f.write_all(line.as_bytes());
            }
            None => {
                let err = std::io::stderr();
                let fd = std::os::fd::AsFd::as_fd(&err);
                // In the background of a `stty tostop` terminal the line is dropped: writing it
                // would stop vrrpd or loop on SIGTTOU (issue 13, defect 12).
                let written = !crate::sys::tty_write_would_stop(fd)
                    && crate::sys::write_nowait(fd, line.as_bytes()).is_ok();
                if !written {
                    DROPPED.fetch_add(1 + dropped, Ordering::Relaxed);
                }
            }
        }
    }
}

/// The line saying how many lines were lost.
fn dropped_note(n: u64, dest: &str) -> String {
    format!("{n} log line(s) dropped: {dest} was not accepting them (a stalled log reader)")
}

/// One stderr line: `vrrpd[PID] SECS.MICROS LEVEL: MSG\n`, cut to [`MAX_LINE`] bytes.
fn stamp_line(t: Duration, level: Level, msg: &str) -> String {
    let tag = match level {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Notice => "notice",
        Level::Info => "info",
        Level::Debug => "debug",
    };
    // One write per line, so lines of concurrent processes never interleave.
    let mut line = format!(
        "vrrpd[{}] {}.{:06} {tag}: {msg}",
        std::process::id(),
        t.as_secs(),
        t.subsec_micros()
    );
    if line.len() > MAX_LINE {
        let mut cut = MAX_LINE;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
        line.push_str(" [...]");
    }
    line.push('\n');
    line
}

/// Log at a level with `format!` syntax.
#[macro_export]
macro_rules! vlog {
    ($lvl:ident, $($arg:tt)*) => {
        $crate::daemon::log::write($crate::daemon::log::Level::$lvl, &format!($($arg)*))
    };
}

/// Allows `burst` lines per `window`, then counts what it suppressed and reports it once the
/// window has passed.
#[derive(Debug)]
pub struct RateLimit {
    window: Duration,
    burst: u32,
    start: Duration,
    used: u32,
    suppressed: u64,
}

impl RateLimit {
    /// A limiter of `burst` lines per `window`.
    pub fn new(window: Duration, burst: u32) -> Self {
        RateLimit {
            window,
            burst,
            start: Duration::ZERO,
            used: 0,
            suppressed: 0,
        }
    }

    /// Whether a line may be written at `now`; the second value is the count suppressed in the
    /// previous window (to be mentioned once).
    pub fn allow(&mut self, now: Duration) -> (bool, u64) {
        let mut previously = 0;
        if now.saturating_sub(self.start) >= self.window {
            previously = self.suppressed;
            self.start = now;
            self.used = 0;
            self.suppressed = 0;
        }
        if self.used < self.burst {
            self.used += 1;
            (true, previously)
        } else {
            self.suppressed += 1;
            (false, previously)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_allows_burst_then_reports_suppressed() {
        let mut r = RateLimit::new(Duration::from_secs(10), 2);
        let t0 = Duration::from_secs(100);
        assert_eq!(r.allow(t0), (true, 0));
        assert_eq!(r.allow(t0), (true, 0));
        assert_eq!(r.allow(t0), (false, 0));
        assert_eq!(r.allow(t0), (false, 0));
        assert_eq!(r.allow(t0 + Duration::from_secs(11)), (true, 2));
    }
}
