//! The thin Linux shell: everything that talks to the kernel, and nothing that decides.
//!
//! This layer moves bytes. It never parses or checks a VRRP message (that is [`crate::proto`]'s
//! job) and it keeps no protocol state; each module wraps one kind of kernel object:
//!
//! - [`iface`]: interface lookup (index, MAC), the interface's primary IPv4 address and its IPv6
//!   link-local address (the VRRP source addresses, RFC 9568 §5.1.1.1 and §5.1.2.1), and the
//!   network-namespace identity used to scope run-time files.
//! - [`netlink`]: a small synchronous rtnetlink client (add, delete and list addresses; read a
//!   link) and a non-blocking link/address event monitor.
//! - [`bpf`]: the quiet Backup's eBPF socket filter: `bpf(2)`, its mapped map, attaching it.
//! - [`socket`]: the IP protocol 112 sockets that send and receive advertisements
//!   (RFC 9568 §5.1.1 for IPv4, §5.1.2 for IPv6).
//! - [`announce`]: an `AF_PACKET` sender for gratuitous ARP (RFC 9568 §6.4.1/§6.4.2, errata 7947
//!   and 7949) and unsolicited Neighbor Advertisements (RFC 4861 §7.2.6), with pure frame
//!   builders.
//! - [`ndisc`]: the ICMPv6 socket receiving Router Solicitations (RFC 4861 §6.2.6) for the
//!   virtual router's Router Advertisements.
//! - [`pidfile`]: the locked pid file and the per-instance run-time paths.
//! - [`linkcheck`]: link state by rtnetlink, `SIOCETHTOOL`/`ETHTOOL_GLINK` or MII (BMSR).
//! - [`vmac`]: the virtual router MAC (RFC 9568 §7.3) on a macvlan stacked on the interface,
//!   with the sysctls it needs and crash clean-up.
//! - [`nft`]: the `nft` tool, run with a script and a bounded wait (the Accept_Mode filter).
//! - [`magic`]: the `-I`/`-O` magic packet (ARP request and echo request to the gateway).
//! - [`clock`]: CLOCK_MONOTONIC and the event loop's timerfd; [`poll`]: `poll(2)`.
//! - [`process`]: pidfds, process-group kills, the effective user, detaching (fork/setsid).
//! - [`procscan`]: processes by name and arguments in `/proc`; [`proc_connector`]: the netlink
//!   process connector (exec/fork/exit events; the initial network namespace only).
//! - [`syslog`]: the syslog(3) client.
//! - [`sched`]: real-time scheduling (`SCHED_RR`, `RLIMIT_RTTIME`, the `SIGXCPU` fallback).
//! - [`alloc`]: vrrpd's global allocator (dlmalloc on a region of its own; no glibc tcache).
//! - [`mem`]: glibc malloc's settings and giving back the heap and stack start-up touched.
//! - [`shm`]: the host group's shared-memory table (storage only; the verdict is in
//!   [`crate::proto::group`]).
//!
//! Rules kept throughout: every descriptor is `O_CLOEXEC`; sockets on the event loop's path are
//! non-blocking; nothing here panics on input from the network or the kernel; every `unsafe`
//! block states why it is sound.
#![allow(unsafe_code)]
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod alloc;
pub mod announce;
pub mod bpf;
pub mod clock;
pub mod iface;
pub mod inotify;
pub mod linkcheck;
pub mod magic;
pub mod mem;
pub mod ndisc;
pub mod netlink;
pub mod nft;
pub mod pidfile;
pub mod poll;
pub mod proc_connector;
pub mod process;
pub mod procscan;
pub mod sched;
pub mod shm;
pub mod socket;
pub mod syslog;
pub mod vmac;

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// Turns a libc return value into an `io::Result`, reading `errno` when it is negative.
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Runs the raw libc call `f` (a negative return means failure, with `errno`) again as long as
/// a signal interrupts it (EINTR), as an `io::Result`. The kernel restarts few calls by
/// itself, and a tracer or seccomp filter may interrupt any (issue 13, "EINTR everywhere").
fn retry_libc<T: Copy + PartialOrd + Default>(mut f: impl FnMut() -> T) -> io::Result<T> {
    loop {
        let r = f();
        if r >= T::default() {
            return Ok(r);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// [`retry_libc`] for a call through `nix`.
fn retry_nix<T>(mut f: impl FnMut() -> nix::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(nix::errno::Errno::EINTR) => continue,
            other => return other.map_err(io::Error::from),
        }
    }
}

/// [`retry_libc`] for a call that already answers an `io::Result`.
fn retry_io<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// `socket(2)` with `SOCK_CLOEXEC` added, returning an owned descriptor.
fn new_socket(domain: libc::c_int, ty: libc::c_int, protocol: libc::c_int) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes plain integers and touches no memory of ours.
    let fd = cvt(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, protocol) })?;
    // SAFETY: `fd` was just returned by socket(2), is valid, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `setsockopt(2)` with a value of any plain-data type (`c_int`, `ip_mreqn`, `timeval`, ...).
///
/// `T` must be the exact C type the kernel expects for `(level, name)`; callers pass libc types.
fn setsockopt<T: Copy>(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<T>())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "socket option too large"))?;
    // SAFETY: `value` points to `len` readable bytes for the duration of the call; the kernel
    // copies them and keeps no pointer. `fd` is a live descriptor borrowed from its owner.
    let ret = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast::<libc::c_void>(),
            len,
        )
    };
    cvt(ret).map(drop)
}

/// `setsockopt(2)` with a `c_int` value.
fn setsockopt_int(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    setsockopt(fd, level, name, &value)
}

/// `SO_BINDTODEVICE`: only packets received on `ifname` reach the socket, and packets it sends
/// leave through `ifname` (socket(7)). Needs `CAP_NET_RAW`.
fn bind_to_device(fd: BorrowedFd<'_>, ifname: &str) -> io::Result<()> {
    let bytes = ifname.as_bytes();
    if bytes.is_empty() || bytes.len() >= libc::IFNAMSIZ || bytes.contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid interface name {ifname:?}"),
        ));
    }
    let len = libc::socklen_t::try_from(bytes.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name too long"))?;
    // SAFETY: `bytes` is readable for `len` bytes during the call; the kernel copies the name
    // (it does not need a NUL when the length is given) and keeps no pointer.
    let ret = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_BINDTODEVICE,
            bytes.as_ptr().cast::<libc::c_void>(),
            len,
        )
    };
    cvt(ret).map(drop)
}

/// The uid of the process at the other end of a connected Unix socket (`SO_PEERCRED`).
pub fn peer_uid(fd: BorrowedFd<'_>) -> io::Result<u32> {
    nix::sys::socket::getsockopt(&fd, nix::sys::socket::sockopt::PeerCredentials)
        .map(|c| c.uid())
        .map_err(io::Error::from)
}

/// Our effective uid.
pub fn effective_uid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

/// Run `f` with the file-creation mask `mask` (such as 0o177 so that a socket is created 0600,
/// with no window in which it has a looser mode), then restore the previous mask.
pub fn with_umask<T>(mask: u32, f: impl FnOnce() -> T) -> T {
    let m = nix::sys::stat::Mode::from_bits_truncate(mask as nix::libc::mode_t);
    let old = nix::sys::stat::umask(m);
    let r = f();
    nix::sys::stat::umask(old);
    r
}

/// The device and inode numbers of `fd` (`fstat(2)`), as systemd writes them in
/// `$JOURNAL_STREAM` for a stream connected to the journal.
pub fn dev_ino(fd: BorrowedFd<'_>) -> Option<(u64, u64)> {
    nix::sys::stat::fstat(fd)
        .ok()
        .map(|st| (st.st_dev, st.st_ino))
}

/// Whether a write to `fd` now would raise SIGTTOU: `fd` is a terminal with `tostop` set and
/// we are not in its foreground process group (`vrrpd --foreground &`). The write would then
/// stop the process (before the handlers are installed) or, with SIGTTOU caught (it is the
/// priority-up signal) and SA_RESTART, restart for ever.
pub fn tty_write_would_stop(fd: BorrowedFd<'_>) -> bool {
    let fd = fd.as_raw_fd();
    // SAFETY: isatty(3), tcgetpgrp(3), getpgrp(2) and tcgetattr(3) on a descriptor we borrow;
    // `t` is a plain struct filled by the call.
    unsafe {
        if libc::isatty(fd) != 1 {
            return false;
        }
        let fg = libc::tcgetpgrp(fd);
        if fg < 0 || fg == libc::getpgrp() {
            return false;
        }
        let mut t: libc::termios = std::mem::zeroed();
        libc::tcgetattr(fd, &mut t) == 0 && t.c_lflag & libc::TOSTOP != 0
    }
}

/// Writes `buf` to `fd` only if that cannot block: `poll(2)` for `POLLOUT` with no timeout,
/// then `pwritev2(2)` with `RWF_NOWAIT` (Linux 4.14; pipes and sockets honour it on recent
/// kernels), else a plain `write(2)` of what poll said fits. A descriptor with no room (a pipe
/// or journal stream nobody reads) is `WouldBlock` at once: the event loop must never wait
/// for a log reader (issue 13, defect 7). The descriptor's flags are not changed — setting
/// `O_NONBLOCK` would change them for every process sharing it (hooks, the shell).
/// A line of at most `PIPE_BUF` (4096) bytes is written whole or not at all on a pipe.
pub fn write_nowait(fd: BorrowedFd<'_>, buf: &[u8]) -> std::io::Result<usize> {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // Without a timeout the kernel does not fail it with EINTR, a tracer or seccomp may: a
    // line dropped for that would be reported as a stalled reader.
    // SAFETY: poll(2) on one pollfd we own, no timeout.
    let n = retry_libc(|| unsafe { libc::poll(&mut p, 1, 0) })?;
    if n == 0 || p.revents & libc::POLLOUT == 0 {
        return Err(std::io::ErrorKind::WouldBlock.into());
    }
    let iov = libc::iovec {
        iov_base: buf.as_ptr() as *mut libc::c_void,
        iov_len: buf.len(),
    };
    loop {
        // SAFETY: one iovec describing `buf`, valid for the call; offset -1 = the file position.
        let w = unsafe { libc::pwritev2(fd.as_raw_fd(), &iov, 1, -1, libc::RWF_NOWAIT) };
        if w >= 0 {
            return Ok(w as usize);
        }
        let e = std::io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EOPNOTSUPP) | Some(libc::EINVAL) | Some(libc::ENOSYS) => break,
            _ => return Err(e),
        }
    }
    loop {
        // SAFETY: write(2) of `buf`, valid for its length; poll said there is room.
        let w = unsafe { libc::write(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
        if w >= 0 {
            return Ok(w as usize);
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    // The RFC 1071 Internet checksum has one implementation, the protocol core's.
    use crate::proto::packet::internet_checksum;

    #[test]
    fn checksum_rfc1071_example() {
        // RFC 1071 §3 example: 00 01 f2 03 f4 f5 f6 f7 sums to 0xddf2 (checksum 0x220d).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(internet_checksum(&[&data]), !0xddf2);
        // Split at odd boundaries: same answer.
        assert_eq!(internet_checksum(&[&data[..3], &data[3..]]), !0xddf2);
        assert_eq!(
            internet_checksum(&[&data[..1], &data[1..5], &data[5..]]),
            !0xddf2
        );
    }

    #[test]
    fn checksum_odd_length_and_empty() {
        assert_eq!(internet_checksum(&[]), 0xffff);
        assert_eq!(internet_checksum(&[&[0x12]]), !0x1200);
    }
}
