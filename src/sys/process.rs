//! Processes: pidfds, signals to process groups, the effective user, and detaching from the
//! terminal (fork, new session, stdio to /dev/null).

use std::io;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd, RawFd};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;

/// pidfd_open(2): a descriptor that refers to process `pid` (readable when it exits; it also
/// pins the pid, so a signal sent through it never reaches a process that reused the number).
pub fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid = libc::pid_t::try_from(pid)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "pid out of range"))?;
    // SAFETY: pidfd_open(2) takes a pid and flags, touches no memory, returns a new fd or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_pidfd_open,
            libc::c_long::from(pid),
            0 as libc::c_long,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    let raw = RawFd::try_from(fd)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "pidfd out of range"))?;
    // SAFETY: `raw` is a descriptor just returned by the kernel and owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// pidfd_send_signal(2) with no siginfo and no flags.
pub fn pidfd_send_signal(pidfd: &OwnedFd, sig: i32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: a valid fd we own, a null siginfo pointer (allowed: the kernel fills in a
    // default), no other memory.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            libc::c_long::from(pidfd.as_raw_fd()),
            libc::c_long::from(sig),
            std::ptr::null::<libc::siginfo_t>(),
            0 as libc::c_long,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// SIGKILL to the process group `pgid` (a child started in a group of its own has pgid = pid).
pub fn kill_group(pgid: u32) -> io::Result<()> {
    let pgid = i32::try_from(pgid)
        .ok()
        .filter(|p| *p > 1)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad process group"))?;
    killpg(Pid::from_raw(pgid), Signal::SIGKILL).map_err(io::Error::from)
}

/// Whether child `pid` has exited, without reaping it (waitid(2) with `WNOWAIT`): its wait
/// status, or `None` while it runs. Until it is reaped the zombie keeps its pid, and so the
/// number of the process group it leads, from being handed out again: a signal to that group
/// can reach only what the child left in it.
pub fn peek_exit(pid: u32) -> io::Result<Option<std::process::ExitStatus>> {
    use nix::sys::wait::{waitid, Id, WaitPidFlag, WaitStatus};
    use std::os::unix::process::ExitStatusExt;
    let pid = libc::pid_t::try_from(pid)
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "bad pid"))?;
    let flags = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    Ok(
        match super::retry_nix(|| waitid(Id::Pid(Pid::from_raw(pid)), flags))? {
            // The raw wait status of wait(2): the code in the second byte, a signal in the
            // first (0x80: core dumped).
            WaitStatus::Exited(_, code) => {
                Some(std::process::ExitStatus::from_raw((code & 0xff) << 8))
            }
            WaitStatus::Signaled(_, sig, core) => Some(std::process::ExitStatus::from_raw(
                (sig as i32) | if core { 0x80 } else { 0 },
            )),
            _ => None,
        },
    )
}

/// `CAP_NET_ADMIN` (capabilities(7)): addresses, links (the macvlan), netlink changes.
pub const CAP_NET_ADMIN: u32 = 12;
/// `CAP_NET_RAW` (capabilities(7)): raw IP protocol 112 sockets and `AF_PACKET` (ARP, NA).
pub const CAP_NET_RAW: u32 = 13;
/// `CAP_SYS_ADMIN` (capabilities(7)): loads eBPF programs where `CAP_BPF` is unknown.
pub const CAP_SYS_ADMIN: u32 = 21;
/// `CAP_BPF` (capabilities(7), Linux 5.8): eBPF maps and programs (the quiet Backup's filter).
pub const CAP_BPF: u32 = 39;

/// The header of capget(2) (`struct __user_cap_header_struct`).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: libc::c_int,
}

/// One 32-bit word of capget(2)'s data (`struct __user_cap_data_struct`).
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// `_LINUX_CAPABILITY_VERSION_3`: two data words (64 capabilities).
const CAP_VERSION_3: u32 = 0x2008_0522;

/// Whether capability `cap` (a `CAP_*` number) is in this process's effective set, by
/// capget(2). The effective set is what the kernel checks, whatever the user id: root with a
/// reduced bounding set lacks what it lost, a non-root user with ambient capabilities has them.
pub fn has_capability(cap: u32) -> io::Result<bool> {
    let mut header = CapHeader {
        version: CAP_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget(2) with a version-3 header and room for the two data words that version
    // writes; both are plain repr(C) structs that live for the duration of the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_capget,
            std::ptr::addr_of_mut!(header),
            data.as_mut_ptr(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    let word = usize::try_from(cap / 32).unwrap_or(usize::MAX);
    Ok(data
        .get(word)
        .is_some_and(|d| d.effective & (1u32 << (cap % 32)) != 0))
}

/// Detaching from the terminal, in two steps so that start-up errors still reach the caller
/// with a non-zero status (Advanced Vrrpd forked first and always exited 0):
///
/// 1. [`fork_and_wait`] forks *before* start-up. The parent waits on a pipe and exits with the
///    status byte the child writes there (1 if the child dies without writing one). Everything
///    pid-based (pid file, host-group slot) is thus created by the process that runs the loop.
/// 2. The child starts up, printing errors on the terminal as usual, then calls
///    [`Detached::finish`]: new session, `chdir /`, stdio to /dev/null, status 0 to the parent.
pub struct Detached {
    pipe: OwnedFd,
}

/// Fork; only the child returns. See [`Detached`].
pub fn fork_and_wait() -> io::Result<Detached> {
    let (rd, wr) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    // SAFETY: single-threaded at this point (no threads are started before the loop), so the
    // child may run arbitrary code after the fork.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Child => {
            drop(rd);
            Ok(Detached { pipe: wr })
        }
        nix::unistd::ForkResult::Parent { .. } => {
            drop(wr);
            let mut b = [1u8; 1];
            let mut f = std::fs::File::from(rd);
            let status = match std::io::Read::read(&mut f, &mut b) {
                Ok(1) => b[0],
                _ => 1,
            };
            // SAFETY: _exit skips destructors: nothing of the parent's is to be cleaned up.
            unsafe { libc::_exit(i32::from(status)) }
        }
    }
}

impl Detached {
    /// Start-up failed: the parent exits with `status`.
    pub fn fail(self, status: u8) {
        let _ = std::io::Write::write_all(&mut std::fs::File::from(self.pipe), &[status]);
    }

    /// Start-up succeeded: leave the terminal and let the parent exit 0.
    pub fn finish(self) -> io::Result<()> {
        nix::unistd::setsid()?;
        let _ = nix::unistd::chdir("/");
        if let Ok(null) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
        {
            let _ = nix::unistd::dup2_stdin(&null);
            let _ = nix::unistd::dup2_stdout(&null);
            let _ = nix::unistd::dup2_stderr(&null);
            // /dev/null opened as 0, 1 or 2 is now that stdio descriptor: keep it open.
            let raw = null.into_raw_fd();
            if raw > 2 {
                // SAFETY: `raw` came from into_raw_fd just above and is owned by nobody else.
                drop(unsafe { OwnedFd::from_raw_fd(raw) });
            }
        }
        let _ = std::io::Write::write_all(&mut std::fs::File::from(self.pipe), &[0]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfd_of_self_and_bad_pids() {
        assert!(pidfd_open(std::process::id()).is_ok());
        assert!(pidfd_open(u32::MAX).is_err());
        assert!(kill_group(0).is_err());
        // A capability number beyond the two data words is never held.
        assert!(!has_capability(200).unwrap());
        assert!(kill_group(1).is_err());
    }
}
