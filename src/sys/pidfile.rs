//! The pid file, and where each instance keeps its run-time files.
//!
//! # Layout
//! ```text
//! <run dir>/                         /run/vrrpd, or $VRRPD_RUN_DIR (tests)      mode 0755
//!   ns<inode>/                       one directory per network namespace         mode 0755
//!     vrrpd_<if>_<vrid>.pid          IPv4 instance: "PID\n"                      mode 0644
//!     vrrpd_<if>_<vrid>.sock         IPv4 instance: control socket
//!     vrrpd_<if>_<vrid>_v6.pid       IPv6 instance
//!     vrrpd_<if>_<vrid>_v6.sock
//! ```
//! `<inode>` is [`super::iface::netns_id`], the inode of the namespace's nsfs file: two daemons
//! for `eth0` VRID 51 in two namespaces are two different instances, and must not see each
//! other's lock. One pid file per instance (interface, VRID, family), so several VRIDs may run
//! on one interface. (A compatibility name such as `/var/run/vrrpd_<if>.pid` for Advanced Vrrpd
//! tools is the daemon's business, not this module's.) Keep the run directory short: a control
//! socket path must fit `sun_path` (108 bytes).
//!
//! # Syscalls
//! [`PidFile::create`]:
//! 1. `mkdir(2)` of the missing parent directories, mode 0755;
//! 2. `open(2)` with `O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC`, mode 0644 — `O_NOFOLLOW` so a
//!    symlink planted at the path is refused (`ELOOP`) instead of followed; `fstat(2)` to refuse
//!    anything but a regular file;
//! 3. `flock(2)` with `LOCK_EX | LOCK_NB`: the lock, not the file's existence, says whether an
//!    instance runs, so a stale file left by a crash (`SIGKILL`) is simply reused. If the lock
//!    is held, the file's content is the running instance's pid: [`PidFileError::Running`];
//! 4. `stat(2)` of the path compared with `fstat(2)` of the descriptor (device and inode): if a
//!    previous owner unlinked the file between our `open` and `flock`, we locked an orphan inode;
//!    start again;
//! 5. `ftruncate(2)`, `write(2)` of `"PID\n"`, `fchmod(2)` 0644.
//!
//! [`Drop`] unlinks the path if it still names our inode, then `close(2)` releases the lock
//! (unlink first, so nobody can lock the file between the two and then lose it).

use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::iface::netns_id;
use crate::proto::Family;

/// Default run-time directory.
pub const DEFAULT_RUN_DIR: &str = "/run/vrrpd";
/// Environment variable overriding [`DEFAULT_RUN_DIR`] (tests, unprivileged runs).
pub const RUN_DIR_ENV: &str = "VRRPD_RUN_DIR";

/// How many times [`PidFile::create`] starts over when the file is swapped under it.
const CREATE_ATTEMPTS: usize = 5;

/// Why a pid file could not be taken.
#[derive(Debug)]
pub enum PidFileError {
    /// Another process holds the lock: an instance is running. Its pid as read from the file,
    /// or `None` if the file held no valid pid (the owner had not written it yet).
    Running(Option<u32>),
    /// Any other failure (permissions, a symlink at the path, not a regular file, ...).
    Io(io::Error),
}

impl fmt::Display for PidFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PidFileError::Running(Some(pid)) => write!(f, "already running as pid {pid}"),
            PidFileError::Running(None) => write!(f, "already running (pid unknown)"),
            PidFileError::Io(e) => write!(f, "pid file: {e}"),
        }
    }
}

impl std::error::Error for PidFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PidFileError::Io(e) => Some(e),
            PidFileError::Running(_) => None,
        }
    }
}

impl From<io::Error> for PidFileError {
    fn from(e: io::Error) -> Self {
        PidFileError::Io(e)
    }
}

/// A locked pid file; dropping it removes the file and releases the lock.
#[derive(Debug)]
pub struct PidFile {
    path: PathBuf,
    file: File,
    dev: u64,
    ino: u64,
}

impl PidFile {
    /// Creates (or takes over a stale) pid file at `path` and writes our pid into it. See the
    /// module documentation for each step.
    pub fn create(path: &Path) -> Result<PidFile, PidFileError> {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        for _ in 0..CREATE_ATTEMPTS {
            if let Some(parent) = parent {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o755)
                    .create(parent)?;
            }
            let opened = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false) // only once we hold the lock
                .mode(0o644)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(path);
            let mut file = match opened {
                // The last instance leaving removed the empty directory meanwhile
                // (see `remove_empty_ns_dir`): make it again.
                Err(e) if e.kind() == io::ErrorKind::NotFound && parent.is_some() => continue,
                other => other?,
            };
            let meta = file.metadata()?;
            if !meta.file_type().is_file() {
                return Err(PidFileError::Io(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("{} is not a regular file", path.display()),
                )));
            }
            // SAFETY: flock(2) on a descriptor we own; it touches no memory of ours.
            let ret = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
            if ret != 0 {
                let err = io::Error::last_os_error();
                if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                    return Err(PidFileError::Running(read_pid(&mut file)));
                }
                return Err(PidFileError::Io(err));
            }
            // Did we lock the file that is at the path now?
            match fs::symlink_metadata(path) {
                Ok(now) if now.dev() == meta.dev() && now.ino() == meta.ino() => {}
                _ => continue, // replaced or removed meanwhile: start again
            }
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(format!("{}\n", std::process::id()).as_bytes())?;
            file.set_permissions(fs::Permissions::from_mode(0o644))?;
            return Ok(PidFile {
                path: path.to_owned(),
                file,
                dev: meta.dev(),
                ino: meta.ino(),
            });
        }
        Err(PidFileError::Io(io::Error::other(format!(
            "{} keeps being replaced",
            path.display()
        ))))
    }

    /// The pid file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        // Remove the path only while it still names our file; the lock goes with `self.file`.
        if let Ok(now) = fs::symlink_metadata(&self.path) {
            if now.dev() == self.dev && now.ino() == self.ino {
                let _ = fs::remove_file(&self.path);
            }
        }
        let _ = self.file.flush();
    }
}

/// Removes this network namespace's directory under the run directory (`ns<inode>/`) if it is
/// empty: the last instance to exit leaves nothing behind, so a glob such as
/// `/run/vrrpd/ns*/vrrpd_eth0_51.pid` never matches files of namespaces long gone. `rmdir(2)`
/// removes only an empty directory, so a running instance's files are never touched; one being
/// created at that moment retries ([`PidFile::create`]).
pub fn remove_empty_ns_dir() {
    if let Ok(id) = netns_id() {
        let _ = fs::remove_dir(run_dir().join(format!("ns{id}")));
    }
}

/// Reads the pid a lock holder wrote. The holder writes right after locking, so an empty file
/// is retried briefly.
fn read_pid(file: &mut File) -> Option<u32> {
    for _ in 0..10 {
        let mut text = String::new();
        if file.seek(SeekFrom::Start(0)).is_ok() && file.read_to_string(&mut text).is_ok() {
            if let Ok(pid) = text.trim().parse::<u32>() {
                return Some(pid);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// The run-time directory: `$VRRPD_RUN_DIR` if set and not empty, else `/run/vrrpd`.
pub fn run_dir() -> PathBuf {
    match std::env::var_os(RUN_DIR_ENV) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => PathBuf::from(DEFAULT_RUN_DIR),
    }
}

/// `(pid file, control socket)` of the instance for interface `ifname`, `vrid` and `family`
/// in the caller's network namespace, under [`run_dir`]. See the module documentation.
pub fn instance_paths(ifname: &str, vrid: u8, family: Family) -> io::Result<(PathBuf, PathBuf)> {
    instance_paths_in(&run_dir(), netns_id()?, ifname, vrid, family)
}

/// Pure part of [`instance_paths`]. An `ifname` that could not be an interface name (empty, too
/// long, or containing `/`, NUL or whitespace) is `InvalidInput`, so no name can escape the
/// directory.
pub fn instance_paths_in(
    run_dir: &Path,
    netns: u64,
    ifname: &str,
    vrid: u8,
    family: Family,
) -> io::Result<(PathBuf, PathBuf)> {
    let bad = ifname.is_empty()
        || ifname.len() >= libc::IFNAMSIZ
        || ifname == "."
        || ifname == ".."
        || ifname
            .chars()
            .any(|c| c == '/' || c == '\0' || c.is_whitespace() || c == ':');
    if bad {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("invalid interface name {ifname:?}"),
        ));
    }
    let suffix = match family {
        Family::V4 => "",
        Family::V6 => "_v6",
    };
    let dir = run_dir.join(format!("ns{netns}"));
    let stem = format!("vrrpd_{ifname}_{vrid}{suffix}");
    Ok((
        dir.join(format!("{stem}.pid")),
        dir.join(format!("{stem}.sock")),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_layout() {
        let (pid, sock) =
            instance_paths_in(Path::new("/run/vrrpd"), 4026531840, "eth0", 51, Family::V4).unwrap();
        assert_eq!(pid, Path::new("/run/vrrpd/ns4026531840/vrrpd_eth0_51.pid"));
        assert_eq!(
            sock,
            Path::new("/run/vrrpd/ns4026531840/vrrpd_eth0_51.sock")
        );
        let (pid, sock) =
            instance_paths_in(Path::new("/tmp/x"), 7, "eth0.100", 255, Family::V6).unwrap();
        assert_eq!(pid, Path::new("/tmp/x/ns7/vrrpd_eth0.100_255_v6.pid"));
        assert_eq!(sock, Path::new("/tmp/x/ns7/vrrpd_eth0.100_255_v6.sock"));
    }

    #[test]
    fn paths_reject_escaping_names() {
        for bad in [
            "",
            "..",
            ".",
            "a/b",
            "../../etc",
            "a b",
            "0123456789abcdef",
            "a\0",
        ] {
            let r = instance_paths_in(Path::new("/run/vrrpd"), 1, bad, 1, Family::V4);
            assert!(r.is_err(), "{bad:?}");
        }
    }

    #[test]
    fn instance_paths_use_this_namespace() {
        let (pid, _) = instance_paths("eth0", 1, Family::V4).unwrap();
        let ns = format!("ns{}", netns_id().unwrap());
        assert!(pid.parent().unwrap().ends_with(ns));
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vrrpd-pidfile-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn create_lock_and_remove() {
        let dir = scratch("basic");
        let path = dir.join("sub/dir/vrrpd_eth0_1.pid");
        let pf = PidFile::create(&path).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let dmode = fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(dmode & 0o700, 0o700);
        // flock locks belong to the open file description: a second open in this process
        // conflicts just like another process would.
        match PidFile::create(&path) {
            Err(PidFileError::Running(Some(pid))) => assert_eq!(pid, std::process::id()),
            other => panic!("expected Running, got {other:?}"),
        }
        // The failed attempt must not have removed or truncated the file.
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        drop(pf);
        assert!(!path.exists());
        // Free again.
        let pf = PidFile::create(&path).unwrap();
        drop(pf);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stale_file_is_taken_over_and_truncated() {
        let dir = scratch("stale");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.pid");
        fs::write(&path, "999999999\nlots of junk that must go away\n").unwrap();
        let pf = PidFile::create(&path).unwrap();
        assert_eq!(
            fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        drop(pf);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn symlink_is_refused() {
        let dir = scratch("symlink");
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("target");
        fs::write(&target, "keep").unwrap();
        let path = dir.join("p.pid");
        std::os::unix::fs::symlink(&target, &path).unwrap();
        assert!(matches!(PidFile::create(&path), Err(PidFileError::Io(_))));
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn drop_leaves_a_replaced_file_alone() {
        let dir = scratch("replaced");
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join("p.pid");
        let pf = PidFile::create(&path).unwrap();
        fs::remove_file(&path).unwrap();
        fs::write(&path, "someone else\n").unwrap();
        drop(pf);
        assert_eq!(fs::read_to_string(&path).unwrap(), "someone else\n");
        fs::remove_dir_all(&dir).unwrap();
    }
}
