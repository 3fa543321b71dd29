//! syslog(3): facility daemon, ident `vrrpd`, the pid in every line.

use std::ffi::CString;

/// openlog(3), once, before the first [`write`].
pub fn open() {
    // SAFETY: the ident is a 'static C string literal, as openlog requires (it keeps the pointer).
    unsafe {
        libc::openlog(
            c"vrrpd".as_ptr(),
            libc::LOG_PID | libc::LOG_NDELAY,
            libc::LOG_DAEMON,
        )
    };
}

/// One line at syslog priority `priority` (LOG_ERR .. LOG_DEBUG). NUL bytes become spaces.
pub fn write(priority: i32, msg: &str) {
    let c = CString::new(msg.replace('\0', " ")).unwrap_or_default();
    // SAFETY: "%s" with one valid NUL-terminated string argument.
    unsafe { libc::syslog(priority as libc::c_int, c"%s".as_ptr(), c.as_ptr()) };
}

/// The socket syslog(3) writes to.
pub const SOCKET: &str = "/dev/log";

/// Whether a syslog daemon (or journald) listens on [`SOCKET`]: without one, syslog(3) drops
/// every line silently.
pub fn available() -> bool {
    use std::os::unix::net::{UnixDatagram, UnixStream};
    UnixDatagram::unbound().is_ok_and(|s| s.connect(SOCKET).is_ok())
        || UnixStream::connect(SOCKET).is_ok()
}
