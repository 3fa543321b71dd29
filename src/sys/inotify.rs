//! inotify(7) on directories: a non-blocking descriptor that becomes readable when a file in a
//! watched directory is written and closed, deleted or moved.

use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};

/// One inotify instance.
pub struct Watcher {
    ino: Inotify,
}

impl Watcher {
    /// A new non-blocking, close-on-exec inotify instance.
    pub fn new() -> io::Result<Watcher> {
        let ino = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)?;
        Ok(Watcher { ino })
    }

    /// Watch `dir` for files written and closed, deleted, or moved in or out.
    pub fn watch_dir(&self, dir: &Path) -> io::Result<()> {
        self.ino
            .add_watch(
                dir,
                // Not IN_CREATE or IN_MODIFY: a file being written would be read half-written
                // (empty after the truncation); IN_CLOSE_WRITE follows every write.
                AddWatchFlags::IN_CLOSE_WRITE
                    | AddWatchFlags::IN_DELETE
                    | AddWatchFlags::IN_MOVED_FROM
                    | AddWatchFlags::IN_MOVED_TO
                    | AddWatchFlags::IN_DELETE_SELF
                    | AddWatchFlags::IN_MOVE_SELF,
            )
            .map(|_| ())
            .map_err(io::Error::from)
    }

    /// Watch `dir` for entries created, deleted or moved in or out (a socket bound or renamed
    /// into place, a subdirectory made), and for the directory's own deletion: `atropos
    /// --follow` watching the run directory for instances.
    pub fn watch_entries(&self, dir: &Path) -> io::Result<()> {
        self.ino
            .add_watch(
                dir,
                AddWatchFlags::IN_CREATE
                    | AddWatchFlags::IN_DELETE
                    | AddWatchFlags::IN_MOVED_FROM
                    | AddWatchFlags::IN_MOVED_TO
                    | AddWatchFlags::IN_DELETE_SELF
                    | AddWatchFlags::IN_MOVE_SELF,
            )
            .map(|_| ())
            .map_err(io::Error::from)
    }

    /// Drain pending events (bounded); returns whether there were any. The caller re-reads
    /// the files it watches: events are only a prompt.
    pub fn drain(&self) -> io::Result<bool> {
        let mut any = false;
        for _ in 0..64 {
            match self.ino.read_events() {
                Ok(ev) if ev.is_empty() => break,
                Ok(_) => any = true,
                Err(Errno::EAGAIN) => break,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(any)
    }
}

impl AsFd for Watcher {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.ino.as_fd()
    }
}
