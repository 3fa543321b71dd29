//! Signals, delivered to the event loop through a self-pipe (signal-hook): the handlers only set
//! a flag and write a byte, all work happens in the loop (Advanced Vrrpd did its work inside the
//! handlers; see the reference's "bugs" list).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGTTIN, SIGTTOU, SIGUSR1, SIGUSR2};
use signal_hook::iterator::backend::SignalDelivery;
use signal_hook::iterator::exfiltrator::SignalOnly;

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

/// The self-pipe the handlers write to and the signals caught, in table order.
///
/// One socket pair serves every signal (signal-hook's `SignalDelivery`: its handlers note the
/// signal in a shared table and write a byte to the one write end), instead of a flag and a
/// duplicated write end per signal.
pub struct Signals {
    delivery: SignalDelivery<UnixStream, SignalOnly>,
    caught: Vec<(i32, Sig)>,
}

impl Signals {
    /// Install the handlers.
    pub fn install() -> io::Result<Signals> {
        let (rx, tx) = UnixStream::pair()?;
        rx.set_nonblocking(true)?;
        tx.set_nonblocking(true)?;
        let caught = table().to_vec();
        let delivery =
            SignalDelivery::with_pipe(rx, tx, SignalOnly, caught.iter().map(|(num, _)| *num))?;
        Ok(Signals { delivery, caught })
    }

    /// Also catch SIGXCPU ([`Sig::Xcpu`]): only with `--realtime`, where `RLIMIT_RTTIME` sends
    /// it. Without, its default action stays (the end of the process, as `RLIMIT_CPU` means).
    pub fn add_xcpu(&mut self) -> io::Result<()> {
        self.delivery.handle().add_signal(libc::SIGXCPU)?;
        self.caught.push((libc::SIGXCPU, Sig::Xcpu));
        Ok(())
    }

    /// Drain the pipe and return the signals that arrived (each once, in table order).
    pub fn take(&mut self) -> Vec<Sig> {
        let arrived: Vec<i32> = self.delivery.pending().collect();
        let mut out = Vec::new();
        for (num, sig) in &self.caught {
            if arrived.contains(num) && !out.contains(sig) {
                out.push(*sig);
            }
        }
        out
    }
}

impl AsFd for Signals {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.delivery.get_read().as_fd()
    }
}
