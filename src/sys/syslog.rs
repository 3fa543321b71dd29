//! Logging to the local syslog daemon (facility daemon, ident `vrrpd`, the pid in every line),
//! over a **non-blocking** datagram socket connected to `/dev/log`, as syslog(3) formats it
//! (`<PRI>Mmm dd hh:mm:ss vrrpd[PID]: MSG`, RFC 3164 as local syslog daemons and journald
//! read it). syslog(3) itself is not used: its socket blocks when the daemon's queue is full
//! (a stalled journald or rsyslog), which would stop the event loop and the adverts (issue 13,
//! defect 7). A line that finds the queue full is dropped ([`write`] says so, the caller
//! counts). A syslog daemon offering only a stream socket gets the same lines, NUL-terminated,
//! on a non-blocking stream.

use std::io::Write;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::sync::Mutex;

/// The socket syslog(3) writes to.
pub const SOCKET: &str = "/dev/log";

enum Conn {
    Dgram(UnixDatagram),
    Stream(UnixStream),
}

static CONN: Mutex<Option<Conn>> = Mutex::new(None);

fn connect(path: &str) -> Option<Conn> {
    if let Ok(s) = UnixDatagram::unbound() {
        if s.connect(path).is_ok() && s.set_nonblocking(true).is_ok() {
            return Some(Conn::Dgram(s));
        }
    }
    let s = UnixStream::connect(path).ok()?;
    s.set_nonblocking(true).ok()?;
    Some(Conn::Stream(s))
}

/// Connects to [`SOCKET`], once, before the first [`write`] (a daemon that is not there yet is
/// connected to at the first line).
pub fn open() {
    if let Ok(mut c) = CONN.lock() {
        if c.is_none() {
            *c = connect(SOCKET);
        }
    }
}

/// `Mmm dd hh:mm:ss` of the local time now, as syslog(3) writes it.
fn timestamp() -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    // SAFETY: time(2) with a null pointer; localtime_r(3) fills the zeroed `tm` we own.
    let tm = unsafe {
        let t = libc::time(std::ptr::null_mut());
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            return "Jan  1 00:00:00".to_string();
        }
        tm
    };
    let month = MONTHS
        .get(usize::try_from(tm.tm_mon).unwrap_or(0))
        .copied()
        .unwrap_or("Jan");
    format!(
        "{month} {:2} {:02}:{:02}:{:02}",
        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec
    )
}

/// The datagram of one line at syslog priority `priority`. NUL bytes become spaces.
fn format_line(priority: i32, msg: &str) -> String {
    format!(
        "<{}>{} vrrpd[{}]: {}",
        libc::LOG_DAEMON | (priority & 7),
        timestamp(),
        std::process::id(),
        msg.replace('\0', " ")
    )
}

/// One line at syslog priority `priority` (LOG_ERR .. LOG_DEBUG). Never blocks: returns false
/// when the line was dropped (no syslog daemon, its queue full).
pub fn write(priority: i32, msg: &str) -> bool {
    let line = format_line(priority, msg);
    match CONN.lock() {
        Ok(mut guard) => send_line(&mut guard, SOCKET, &line),
        Err(_) => false,
    }
}

/// Sends `line` on `conn`, (re)connecting to `path` when needed; never blocks.
fn send_line(conn: &mut Option<Conn>, path: &str, line: &str) -> bool {
    for attempt in 0..2 {
        if conn.is_none() {
            *conn = connect(path);
        }
        let sent = match conn.as_mut() {
            None => return false,
            Some(Conn::Dgram(s)) => s.send(line.as_bytes()).map(|_| ()),
            Some(Conn::Stream(s)) => {
                let mut b = line.as_bytes().to_vec();
                b.push(0);
                s.write(&b).and_then(|n| {
                    if n == b.len() {
                        Ok(())
                    } else {
                        // A part of a line went: the stream is out of step, start afresh.
                        Err(std::io::ErrorKind::BrokenPipe.into())
                    }
                })
            }
        };
        match sent {
            Ok(()) => return true,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            // The syslog daemon restarted (ECONNREFUSED, ENOTCONN, EPIPE): reconnect once.
            Err(_) if attempt == 0 => *conn = None,
            Err(_) => return false,
        }
    }
    false
}

/// Whether a syslog daemon (or journald) listens on [`SOCKET`]: without one, every line would
/// be dropped silently.
pub fn available() -> bool {
    UnixDatagram::unbound().is_ok_and(|s| s.connect(SOCKET).is_ok())
        || UnixStream::connect(SOCKET).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13, defect 7: a syslog daemon that stops reading fills its socket's queue; the
    /// next lines are dropped at once instead of blocking the caller, and sending works again
    /// once it reads.
    #[test]
    fn full_syslog_socket_drops_instead_of_blocking() {
        let dir = std::env::temp_dir().join(format!("vrrpd-syslog-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("log");
        let path_s = path.to_str().unwrap().to_string();
        let daemon = UnixDatagram::bind(&path).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let p2 = path_s.clone();
        std::thread::spawn(move || {
            let mut conn = None;
            let mut sent = 0u32;
            while sent < 1_000_000 && send_line(&mut conn, &p2, &format_line(libc::LOG_INFO, "x")) {
                sent += 1;
            }
            let _ = tx.send((conn, sent));
        });
        // A blocking socket waits for ever once the queue is full.
        let (mut conn, sent) = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("a write to a full syslog socket blocked");
        assert!(sent > 0 && sent < 1_000_000, "{sent} lines sent");
        assert!(
            !send_line(&mut conn, &path_s, "y"),
            "the queue is still full"
        );
        let mut buf = [0u8; 512];
        daemon.recv(&mut buf).unwrap();
        daemon.recv(&mut buf).unwrap();
        assert!(
            send_line(&mut conn, &path_s, "z"),
            "room again, but dropped"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn line_format_is_syslog3s() {
        let l = format_line(libc::LOG_WARNING, "a\0b");
        // LOG_DAEMON (3 << 3) | LOG_WARNING (4) = 28.
        assert!(l.starts_with("<28>"), "{l}");
        let rest = &l[4..];
        assert_eq!(rest.as_bytes()[3], b' ');
        assert!(
            rest[15..].starts_with(&format!(" vrrpd[{}]: a b", std::process::id())),
            "{l}"
        );
    }
}
