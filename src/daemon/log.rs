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
/// stderr is systemd's journal stream (see [`journal_stream_matches`]): lines carry sd-daemon(3)
/// `<N>` priority prefixes, and no pid or time (the journal records both).
static TO_JOURNAL: AtomicBool = AtomicBool::new(false);
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
    let journal = !syslog
        && journal_stream_matches(
            std::env::var("JOURNAL_STREAM").ok().as_deref(),
            crate::sys::dev_ino(std::os::fd::AsFd::as_fd(&std::io::stderr())),
        );
    TO_JOURNAL.store(journal, Ordering::Relaxed);
}

/// Whether `$JOURNAL_STREAM` (`DEVICE:INODE`, decimal, set by systemd when stdout or stderr is
/// connected to the journal; systemd.exec(5)) names `stderr` (its device and inode). A stderr
/// redirected elsewhere by a wrapper keeps the variable but not the match: plain lines then.
pub fn journal_stream_matches(var: Option<&str>, stderr: Option<(u64, u64)>) -> bool {
    let (Some(var), Some(stderr)) = (var, stderr) else {
        return false;
    };
    let Some((dev, ino)) = var.trim().split_once(':') else {
        return false;
    };
    matches!((dev.parse::<u64>(), ino.parse::<u64>()), (Ok(d), Ok(i)) if (d, i) == stderr)
}

/// Whether lines go to the journal with `<N>` prefixes.
pub fn to_journal() -> bool {
    TO_JOURNAL.load(Ordering::Relaxed) && TO_FILE.get().is_none()
}

/// One line of a start-up failure or other fatal error, `vrrpd: MSG`, on stderr: at error
/// priority (`<3>`) when stderr is the journal (`journalctl -p err` shows it).
pub fn fatal(msg: &str) {
    let prefix = if to_journal() { "<3>" } else { "" };
    eprintln!("{prefix}vrrpd: {msg}");
}

/// The text of one stderr (or file) line: `vrrpd[PID] SECS.MICROS LEVEL: MSG\n`, or with the
/// journal `<N>LEVEL: MSG\n` (sd-daemon(3) prefix; the journal adds pid and time), cut to
/// [`MAX_LINE`] bytes.
fn format_line(level: Level, msg: &str, journal: bool, pid: u32, t: Duration) -> String {
    let tag = match level {
        Level::Error => "error",
        Level::Warn => "warning",
        Level::Notice => "notice",
        Level::Info => "info",
        Level::Debug => "debug",
    };
    // One write per line, so lines of concurrent processes never interleave.
    let mut line = if journal {
        format!("<{}>{tag}: {msg}", level as u8)
    } else {
        format!(
            "vrrpd[{pid}] {}.{:06} {tag}: {msg}",
            t.as_secs(),
            t.subsec_micros()
        )
    };
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

/// Reports a panic through [`write`] (one line, never blocking on a stalled stderr or
/// `/dev/log`) instead of the default hook's blocking write to stderr, so that the unwinding
/// that follows reaches the daemon's clean-up (issue 13, defect 14) even with a stalled log.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        write(Level::Error, &format!("panic: {info}").replace('\n', " "));
    }));
}

/// The line saying how many lines were lost.
fn dropped_note(n: u64, dest: &str) -> String {
    format!("{n} log line(s) dropped: {dest} was not accepting them (a stalled log reader)")
}

/// One stderr (or file) line, cut to [`MAX_LINE`] bytes (see [`format_line`]).
fn stamp_line(t: Duration, level: Level, msg: &str) -> String {
    format_line(level, msg, to_journal(), std::process::id(), t)
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
    fn journal_stream_must_name_stderr() {
        assert!(journal_stream_matches(Some("8:1234"), Some((8, 1234))));
        assert!(journal_stream_matches(Some("8:1234\n"), Some((8, 1234))));
        assert!(!journal_stream_matches(Some("8:1235"), Some((8, 1234))));
        assert!(!journal_stream_matches(Some("9:1234"), Some((8, 1234))));
        assert!(!journal_stream_matches(Some("8"), Some((8, 1234))));
        assert!(!journal_stream_matches(Some(""), Some((8, 1234))));
        assert!(!journal_stream_matches(Some("x:y"), Some((8, 1234))));
        assert!(!journal_stream_matches(None, Some((8, 1234))));
        assert!(!journal_stream_matches(Some("8:1234"), None));
    }

    #[test]
    fn journal_lines_carry_the_priority_and_no_pid_or_time() {
        let t = Duration::from_micros(12_000_345);
        assert_eq!(
            format_line(Level::Warn, "eth0/51: x", true, 42, t),
            "<4>warning: eth0/51: x\n"
        );
        assert_eq!(format_line(Level::Error, "e", true, 42, t), "<3>error: e\n");
        assert_eq!(format_line(Level::Info, "i", true, 42, t), "<6>info: i\n");
        assert_eq!(
            format_line(Level::Warn, "eth0/51: x", false, 42, t),
            "vrrpd[42] 12.000345 warning: eth0/51: x\n"
        );
    }

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
