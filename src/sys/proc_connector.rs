//! The netlink process connector (`NETLINK_CONNECTOR`, group `CN_IDX_PROC`): the kernel's
//! multicast of process events (fork, exec, comm change, exit), so process trackers see new
//! processes as they start instead of rescanning `/proc`.
//!
//! The kernel's connector exists only in the initial network namespace: in any other (a
//! container, `ip netns exec`) the listen request is refused with `ECONNREFUSED`, and without
//! `CONFIG_PROC_EVENTS` the socket cannot be made. [`Connector::open`] returns that error and
//! the caller falls back to rescanning `/proc`. The messages are built and parsed in
//! [`crate::proto::wire::proc_event`]; this only moves them.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use netlink_sys::{protocols::NETLINK_CONNECTOR, Socket, SocketAddr};

use crate::proto::wire::proc_event::{self, ProcEvent, CN_IDX_PROC, MCAST_LISTEN};

/// Receive buffer asked for (events come in bursts when many processes start at once).
const RCVBUF: i32 = 1 << 20;
/// Most datagrams read per call (one event each, normally).
const BATCH: usize = 1024;
/// Room for one datagram.
const RECV_BUF: usize = 4096;

/// What one read gave.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Batch {
    /// The events, in order.
    pub events: Vec<ProcEvent>,
    /// Events were lost (`ENOBUFS`, a truncated or unparsable datagram): rescan `/proc`.
    pub overrun: bool,
}

/// A subscribed, non-blocking process-connector socket.
pub struct Connector {
    sock: Socket,
    buf: Vec<u8>,
}

impl Connector {
    /// Open the socket, join `CN_IDX_PROC` and send the listen request. Fails with the
    /// kernel's error: `ECONNREFUSED` outside the initial network namespace,
    /// `EPROTONOSUPPORT` without `CONFIG_PROC_EVENTS`, `EPERM` without `CAP_NET_ADMIN`.
    pub fn open() -> io::Result<Connector> {
        let mut sock = Socket::new(NETLINK_CONNECTOR)?;
        sock.bind(&SocketAddr::new(0, CN_IDX_PROC))?;
        let _ = super::setsockopt_int(sock.as_fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, RCVBUF);
        sock.send(&proc_event::request(MCAST_LISTEN, 1), 0)?;
        sock.set_non_blocking(true)?;
        Ok(Connector {
            sock,
            buf: Vec::with_capacity(RECV_BUF),
        })
    }

    /// Every queued event (bounded), without blocking.
    pub fn read(&mut self) -> io::Result<Batch> {
        let mut out = Batch::default();
        for _ in 0..BATCH {
            self.buf.clear();
            let n = match self.sock.recv(&mut self.buf, libc::MSG_TRUNC) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.raw_os_error() == Some(libc::ENOBUFS) => {
                    out.overrun = true;
                    continue;
                }
                Err(e) => return Err(e),
            };
            if n > self.buf.len() || proc_event::parse(&self.buf, &mut out.events).is_err() {
                out.overrun = true;
            }
        }
        Ok(out)
    }
}

impl AsFd for Connector {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where the connector answers (the initial network namespace, as root) a started process
    /// shows as its exec event; elsewhere the listen request is refused with ECONNREFUSED (a
    /// test network namespace) or EPERM (no CAP_NET_ADMIN): what the daemon falls back on.
    #[test]
    fn answers_with_exec_events_or_refuses_with_the_kernel_error() {
        let mut c = match Connector::open() {
            Ok(c) => c,
            Err(e) => {
                let code = e.raw_os_error();
                assert!(
                    matches!(
                        code,
                        Some(libc::ECONNREFUSED) | Some(libc::EPERM) | Some(libc::EPROTONOSUPPORT)
                    ),
                    "unexpected error {e}"
                );
                println!("SKIPPED: process connector not available here ({e})");
                return;
            }
        };
        let mut child = std::process::Command::new("/bin/sleep")
            .arg("2")
            .spawn()
            .expect("sleep");
        let pid = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        let mut seen = Vec::new();
        while std::time::Instant::now() < deadline {
            let b = c.read().expect("read");
            seen.extend(b.events);
            if seen
                .iter()
                .any(|e| matches!(e, ProcEvent::Exec { tgid, .. } if *tgid == pid))
            {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
        // The kernel may refuse in the acknowledgement instead (EPERM as err).
        if let Some(ProcEvent::Ack { err }) = seen
            .iter()
            .find(|e| matches!(e, ProcEvent::Ack { err } if *err != 0))
        {
            println!("SKIPPED: process connector refused the listen request (errno {err})");
            return;
        }
        assert!(
            seen.iter()
                .any(|e| matches!(e, ProcEvent::Exec { tgid, .. } if *tgid == pid)),
            "no exec event for {pid} in {} events",
            seen.len()
        );
    }
}
