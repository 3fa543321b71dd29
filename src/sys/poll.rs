//! `poll(2)` over borrowed descriptors, for the event loop.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

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

/// A `poll(2)` set kept between waits, for the event loop: the descriptors are pushed anew
/// before every wait (the set changes: a hook runs, a control client connects), into storage
/// that keeps its capacity, so a wait allocates nothing and makes exactly one system call.
#[derive(Debug, Default)]
pub struct PollSet {
    fds: Vec<libc::pollfd>,
}

impl PollSet {
    /// An empty set.
    pub fn new() -> PollSet {
        PollSet::default()
    }

    /// Empty the set (keeping its storage).
    pub fn clear(&mut self) {
        self.fds.clear();
    }

    /// Add `fd`, to wake when it is readable or hung up; returns its index for [`PollSet::ready`].
    pub fn readable(&mut self, fd: BorrowedFd<'_>) -> usize {
        self.push(fd, libc::POLLIN)
    }

    /// Add `fd`, to wake when it can take more bytes (`POLLOUT`); returns its index.
    pub fn writable(&mut self, fd: BorrowedFd<'_>) -> usize {
        self.push(fd, libc::POLLOUT)
    }

    fn push(&mut self, fd: BorrowedFd<'_>, events: libc::c_short) -> usize {
        self.fds.push(libc::pollfd {
            fd: fd.as_raw_fd(),
            events,
            revents: 0,
        });
        self.fds.len() - 1
    }

    /// Number of descriptors in the set.
    pub fn len(&self) -> usize {
        self.fds.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.fds.is_empty()
    }

    /// Wait without a timeout (a timerfd is among the descriptors) until one is ready. A signal
    /// interrupting the wait leaves every descriptor not ready (the signal's own descriptor is
    /// then ready on the next call).
    ///
    /// The descriptors were pushed as borrowed ones by the caller, which keeps them open until
    /// the next [`PollSet::clear`]; a descriptor closed meanwhile is reported by the kernel as
    /// `POLLNVAL` (ready), never undefined behaviour.
    pub fn wait(&mut self) -> io::Result<()> {
        for p in &mut self.fds {
            p.revents = 0;
        }
        let n = libc::nfds_t::try_from(self.fds.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many descriptors"))?;
        // SAFETY: `fds` points to `n` initialised `pollfd`s that stay alive and unaliased for
        // the call; poll(2) only writes their `revents`.
        let r = unsafe { libc::poll(self.fds.as_mut_ptr(), n, -1) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                return Ok(());
            }
            return Err(e);
        }
        Ok(())
    }

    /// Whether the descriptor at `index` was found ready by the last [`PollSet::wait`].
    pub fn ready(&self, index: usize) -> bool {
        self.fds.get(index).is_some_and(|p| p.revents != 0)
    }
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
