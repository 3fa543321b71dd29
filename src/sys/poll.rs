//! `poll(2)` over borrowed descriptors, for the event loop.

use std::io;
use std::os::fd::BorrowedFd;

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};

/// Wait, without a timeout (a timerfd is among the descriptors), until one of `fds` is readable
/// or hung up. Returns one flag per descriptor, in order: whether it is ready. A signal
/// interrupting the wait returns all `false` (the signal's own descriptor is then ready on the
/// next call).
pub fn wait_readable(fds: &[BorrowedFd<'_>]) -> io::Result<Vec<bool>> {
    poll_readable(fds, PollTimeout::NONE)
}

/// [`wait_readable`] over `readable`, also waking when one of `writable` can take more bytes
/// (`POLLOUT`; the event stream's subscribers with lines waiting). Returns the flags of each
/// list, in order.
pub fn wait_ready(
    readable: &[BorrowedFd<'_>],
    writable: &[BorrowedFd<'_>],
) -> io::Result<(Vec<bool>, Vec<bool>)> {
    let mut pfds: Vec<PollFd<'_>> = readable
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .chain(
            writable
                .iter()
                .map(|fd| PollFd::new(*fd, PollFlags::POLLOUT)),
        )
        .collect();
    let flags: Vec<bool> = match nix::poll::poll(&mut pfds, PollTimeout::NONE) {
        Ok(_) => pfds
            .iter()
            .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
            .collect(),
        Err(Errno::EINTR) => vec![false; pfds.len()],
        Err(e) => return Err(e.into()),
    };
    let (r, w) = flags.split_at(readable.len().min(flags.len()));
    Ok((r.to_vec(), w.to_vec()))
}

/// [`wait_readable`] bounded by `timeout` (`None`: no bound), for `atropos --follow`.
pub fn wait_readable_for(
    fds: &[BorrowedFd<'_>],
    timeout: Option<std::time::Duration>,
) -> io::Result<Vec<bool>> {
    let t = match timeout {
        None => PollTimeout::NONE,
        Some(d) => PollTimeout::try_from(d).unwrap_or(PollTimeout::MAX),
    };
    poll_readable(fds, t)
}

/// Without waiting: which of `fds` are readable or hung up now (a pidfd: its process exited).
pub fn ready_now(fds: &[BorrowedFd<'_>]) -> io::Result<Vec<bool>> {
    poll_readable(fds, PollTimeout::ZERO)
}

/// `poll(2)` for `POLLIN` on `fds` with `timeout`; one flag per descriptor (any `revents`), all
/// `false` when a signal interrupted the call.
fn poll_readable(fds: &[BorrowedFd<'_>], timeout: PollTimeout) -> io::Result<Vec<bool>> {
    let mut pfds: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
        .collect();
    match nix::poll::poll(&mut pfds, timeout) {
        Ok(_) => Ok(pfds
            .iter()
            .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
            .collect()),
        Err(Errno::EINTR) => Ok(vec![false; fds.len()]),
        Err(e) => Err(e.into()),
    }
}
