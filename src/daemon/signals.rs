//! Signals, delivered to the event loop through a self-pipe (signal-hook): the handlers only set
//! a flag and write a byte, all work happens in the loop (Advanced Vrrpd did its work inside the
//! handlers; see the reference's "bugs" list).

use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2};

/// Signals the daemon acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sig {
    /// SIGTERM / SIGINT: planned stop.
    Term,
    /// SIGHUP: re-read the interface state.
    Hup,
    /// SIGUSR1: state dump.
    Usr1,
    /// SIGUSR2: a master steps down to backup.
    Usr2,
    /// SIGTTIN: lower the priority (or set -z).
    Ttin,
    /// SIGTTOU: raise the priority (or set -x).
    Ttou,
    /// [`group_signal`]: a host-group member changed state; re-read the group.
    Group,
    /// SIGXCPU, caught only with `--realtime` ([`Signals::add_xcpu`]): the real-time CPU limit.
    Xcpu,
}

/// The signal host-group members send each other after publishing a change (SIGRTMIN+1).
pub fn group_signal() -> i32 {
    libc::SIGRTMIN() + 1
}

fn table() -> [(i32, Sig); 8] {
    [
        (SIGTERM, Sig::Term),
        (SIGINT, Sig::Term),
        (SIGHUP, Sig::Hup),
        (SIGUSR1, Sig::Usr1),
        (SIGUSR2, Sig::Usr2),
        (SIGTTIN, Sig::Ttin),
        (SIGTTOU, Sig::Ttou),
        (group_signal(), Sig::Group),
    ]
}

/// Flags set by the handlers plus the read end of the wake-up pipe.
pub struct Signals {
    flags: Vec<(Sig, Arc<AtomicBool>)>,
    rx: UnixStream,
    /// The write end the handlers wake the loop through, for [`Signals::add_xcpu`].
    tx: UnixStream,
}

impl Signals {
    /// Install the handlers.
    pub fn install() -> io::Result<Signals> {
        let (rx, tx) = UnixStream::pair()?;
        rx.set_nonblocking(true)?;
        tx.set_nonblocking(true)?;
        let mut s = Signals {
            flags: Vec::new(),
            rx,
            tx,
        };
        for (num, sig) in table() {
            s.add(num, sig)?;
        }
        Ok(s)
    }

    fn add(&mut self, num: i32, sig: Sig) -> io::Result<()> {
        let flag = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(num, Arc::clone(&flag))?;
        signal_hook::low_level::pipe::register(num, self.tx.try_clone()?)?;
        self.flags.push((sig, flag));
        Ok(())
    }

    /// Also catch SIGXCPU ([`Sig::Xcpu`]): only with `--realtime`, where `RLIMIT_RTTIME` sends
    /// it. Without, its default action stays (the end of the process, as `RLIMIT_CPU` means).
    pub fn add_xcpu(&mut self) -> io::Result<()> {
        self.add(libc::SIGXCPU, Sig::Xcpu)
    }

    /// Drain the pipe and return the signals that arrived (each once, in table order).
    pub fn take(&mut self) -> Vec<Sig> {
        let mut buf = [0u8; 64];
        while matches!(self.rx.read(&mut buf), Ok(n) if n > 0) {}
        let mut out = Vec::new();
        for (sig, flag) in &self.flags {
            if flag.swap(false, Ordering::SeqCst) && !out.contains(sig) {
                out.push(*sig);
            }
        }
        out
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.rx.as_fd()
    }
}
