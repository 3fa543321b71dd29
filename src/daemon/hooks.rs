//! The operator's hook scripts (`-U`, `-D`, `--fault-script`).
//!
//! Contract (README "Hooks"): the file is exec'd directly, without a shell, with the arguments
//! `STATE IFNAME VRID PRIORITY` and the environment `VRRP_STATE`, `VRRP_IFACE`, `VRRP_VRID`,
//! `VRRP_PRIORITY`, `VRRP_VIPS` (space separated), `VRRP_PREV_STATE`. Hooks of one instance run one
//! at a time, in transition order. They never block the event loop: the child's pidfd is polled and
//! the child reaped from the loop. A hook still running after the timeout is killed with its whole
//! process group (it runs in a group of its own), with a log line. A hook that exits leaving
//! processes in its group (`cmd &`, a fork bomb) has them killed at the same timeout, counted from
//! its start: its exit is seen without reaping it (`WNOWAIT`), and the zombie is reaped only after
//! the group is killed, so that the group's number cannot be reused meanwhile. The next hook
//! does not wait for that. Processes that leave the group (`setsid`, daemons) are not followed.

use std::collections::VecDeque;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::sys::process;
use crate::vlog;

/// One hook invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// The file to exec.
    pub path: PathBuf,
    /// New state name (MASTER, BACKUP, FAULT).
    pub state: &'static str,
    /// Previous state name.
    pub prev: &'static str,
    /// Interface.
    pub iface: String,
    /// VRID.
    pub vrid: u8,
    /// Current priority.
    pub priority: u8,
    /// The VIPs, space separated.
    pub vips: String,
    /// Arguments instead of `STATE IFACE VRID PRIORITY` (CARP: ucarp's `IFNAME VIP [XPARAM]`).
    pub args: Option<Vec<String>>,
}

struct Running {
    child: Child,
    /// `None` where pidfd_open(2) is refused (ENOSYS, a seccomp EPERM, EMFILE): the hook is
    /// then checked with a non-blocking wait every [`NO_PIDFD_POLL`].
    pidfd: Option<OwnedFd>,
    deadline: Duration,
    /// Without a pidfd: when to check the hook again.
    next_check: Duration,
    path: PathBuf,
    killed: bool,
}

/// A hook that exited leaving processes in its process group: killed at `deadline`. `child` is
/// its zombie, not reaped until then (it pins the group's number).
struct Lingering {
    child: Child,
    deadline: Duration,
    path: PathBuf,
}

/// Most hooks waiting behind the running one.
pub const MAX_QUEUED: usize = 8;

/// How often a hook without a pidfd is checked for exit (a non-blocking wait).
pub const NO_PIDFD_POLL: Duration = Duration::from_millis(50);

/// The queue of hooks of one instance.
pub struct Hooks {
    timeout: Duration,
    queue: VecDeque<Job>,
    running: Option<Running>,
    /// Hooks that exited leaving processes behind, until their timeout.
    lingering: Vec<Lingering>,
    /// Hooks started so far.
    pub started: u64,
    /// Hooks killed at the timeout (or whose leftover processes were).
    pub timed_out: u64,
    /// Hooks that exited non-zero or could not start.
    pub failed: u64,
}

impl Hooks {
    /// An idle queue with the given per-hook timeout.
    pub fn new(timeout: Duration) -> Self {
        Hooks {
            timeout,
            queue: VecDeque::new(),
            running: None,
            lingering: Vec::new(),
            started: 0,
            timed_out: 0,
            failed: 0,
        }
    }

    /// Queue a hook; starts it at once when none is running. At most [`MAX_QUEUED`] wait: on a
    /// flapping link the oldest waiting one is dropped (logged), so hooks never fall minutes
    /// behind the state.
    pub fn push(&mut self, job: Job, now: Duration) {
        if self.queue.len() >= MAX_QUEUED {
            if let Some(old) = self.queue.pop_front() {
                self.failed += 1;
                vlog!(
                    Warn,
                    "{}: too many hooks waiting: {} {} not run",
                    crate::proto::tag(&old.iface, old.vrid),
                    old.path.display(),
                    old.state
                );
            }
        }
        self.queue.push_back(job);
        self.start_next(now);
    }

    /// Whether no hook is running or queued (what hooks left behind may still wait for their
    /// timeout).
    pub fn idle(&self) -> bool {
        self.running.is_none() && self.queue.is_empty()
    }

    /// The pidfd of the running hook, to poll for its exit.
    pub fn fd(&self) -> Option<BorrowedFd<'_>> {
        self.running
            .as_ref()
            .and_then(|r| r.pidfd.as_ref())
            .map(|f| f.as_fd())
    }

    /// When the running hook must be killed.
    pub fn deadline(&self) -> Option<Duration> {
        let left = self.lingering.iter().map(|l| l.deadline);
        let Some(r) = self.running.as_ref() else {
            return left.min();
        };
        let kill = (!r.killed).then_some(r.deadline);
        let check = r.pidfd.is_none().then_some(r.next_check);
        kill.into_iter().chain(check).chain(left).min()
    }

    fn start_next(&mut self, now: Duration) {
        while self.running.is_none() {
            let Some(job) = self.queue.pop_front() else {
                return;
            };
            let mut cmd = Command::new(&job.path);
            match &job.args {
                Some(args) => cmd.args(args),
                None => cmd
                    .arg(job.state)
                    .arg(&job.iface)
                    .arg(job.vrid.to_string())
                    .arg(job.priority.to_string()),
            };
            cmd.env("VRRP_STATE", job.state)
                .env("VRRP_IFACE", &job.iface)
                .env("VRRP_VRID", job.vrid.to_string())
                .env("VRRP_PRIORITY", job.priority.to_string())
                .env("VRRP_VIPS", &job.vips)
                .env("VRRP_PREV_STATE", job.prev)
                .stdin(Stdio::null())
                .process_group(0);
            self.started += 1;
            match cmd.spawn() {
                Ok(child) => {
                    let pidfd = match process::pidfd_open(child.id()) {
                        Ok(fd) => Some(fd),
                        Err(e) => {
                            vlog!(
                                Warn,
                                "hook {}: pidfd_open failed ({e}); checking it every {:?}",
                                job.path.display(),
                                NO_PIDFD_POLL
                            );
                            None
                        }
                    };
                    vlog!(
                        Info,
                        "{}: running hook {} {}",
                        crate::proto::tag(&job.iface, job.vrid),
                        job.path.display(),
                        job.state
                    );
                    self.running = Some(Running {
                        child,
                        pidfd,
                        deadline: now + self.timeout,
                        next_check: now + NO_PIDFD_POLL,
                        path: job.path,
                        killed: false,
                    });
                }
                Err(e) => {
                    self.failed += 1;
                    vlog!(
                        Error,
                        "{}: hook {} could not be started: {e}",
                        crate::proto::tag(&job.iface, job.vrid),
                        job.path.display()
                    );
                }
            }
        }
    }

    /// On exit: kill a hook still running (with its process group) and reap it; drop the queue.
    pub fn kill_all(&mut self) {
        if let Some(mut r) = self.running.take() {
            vlog!(
                Warn,
                "hook {} still running at exit: killing its process group",
                r.path.display()
            );
            // The hook runs in a process group of its own (pgid = pid).
            let _ = process::kill_group(r.child.id());
            let _ = r.child.wait();
        }
        for mut l in self.lingering.drain(..) {
            vlog!(
                Warn,
                "hook {}: killing what it left in its process group: exiting",
                l.path.display()
            );
            let _ = process::kill_group(l.child.id());
            let _ = l.child.wait();
        }
        for j in self.queue.drain(..) {
            vlog!(
                Warn,
                "hook {} {} not run: exiting",
                j.path.display(),
                j.state
            );
        }
    }

    /// Call when the pidfd is readable or the timer fired: reaps a finished hook, kills an overdue
    /// one (or what a finished one left behind), and starts the next.
    #[inline(never)]
    pub fn poll(&mut self, now: Duration) {
        if let Some(r) = self.running.as_mut() {
            r.next_check = now + NO_PIDFD_POLL;
            if !r.killed && now >= r.deadline {
                vlog!(
                    Warn,
                    "hook {} still running after {:?}: killing its process group",
                    r.path.display(),
                    self.timeout
                );
                // The hook runs in a process group of its own (pgid = pid).
                let _ = process::kill_group(r.child.id());
                r.killed = true;
                self.timed_out += 1;
            }
            // Seen without reaping: the zombie pins the number of its process group.
            match process::peek_exit(r.child.id()) {
                Ok(Some(status)) => {
                    if status.success() {
                        vlog!(Info, "hook {} exited with status 0", r.path.display());
                    } else if let Some(code) = status.code() {
                        self.failed += 1;
                        vlog!(Warn, "hook {} exited with status {code}", r.path.display());
                    } else {
                        self.failed += 1;
                        vlog!(
                            Warn,
                            "hook {} killed by signal {}",
                            r.path.display(),
                            status.signal().unwrap_or(0)
                        );
                    }
                    if let Some(r) = self.running.take() {
                        self.exited(r, now);
                    }
                }
                Ok(None) => {}
                Err(e) => {
                    vlog!(Error, "hook {}: wait failed: {e}", r.path.display());
                    self.running = None;
                }
            }
        }
        self.kill_leftovers(now);
        self.start_next(now);
    }

    /// The hook `r` has exited (not reaped yet): reap it, unless it left processes in its group,
    /// which then wait for its deadline.
    fn exited(&mut self, mut r: Running, now: Duration) {
        let pgid = r.child.id();
        if r.killed {
            // Again: a fork racing the first kill.
            let _ = process::kill_group(pgid);
            let _ = r.child.wait();
            return;
        }
        let left = crate::sys::procscan::group_members(pgid).len();
        if left == 0 {
            let _ = r.child.wait();
            return;
        }
        vlog!(
            Warn,
            "hook {} exited but left {left} process(es) in its process group: they are killed \
             {:?} after its start (--script-timeout)",
            r.path.display(),
            self.timeout
        );
        self.lingering.push(Lingering {
            child: r.child,
            deadline: r.deadline.max(now),
            path: r.path,
        });
    }

    /// Kill the process groups hooks left behind whose timeout has come, and reap the hooks.
    fn kill_leftovers(&mut self, now: Duration) {
        let mut i = 0;
        while i < self.lingering.len() {
            if self.lingering[i].deadline > now {
                i += 1;
                continue;
            }
            let mut l = self.lingering.swap_remove(i);
            let pgid = l.child.id();
            let left = crate::sys::procscan::group_members(pgid).len();
            let _ = process::kill_group(pgid);
            let _ = l.child.wait();
            if left > 0 {
                self.timed_out += 1;
                vlog!(
                    Warn,
                    "hook {}: killed the {left} process(es) it left in its process group, \
                     {:?} after its start",
                    l.path.display(),
                    self.timeout
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::clock;

    fn job(path: &str) -> Job {
        Job {
            path: PathBuf::from(path),
            state: "MASTER",
            prev: "BACKUP",
            iface: "eth0".into(),
            vrid: 51,
            priority: 150,
            vips: "192.0.2.254".into(),
            args: None,
        }
    }

    fn wait_idle(h: &mut Hooks, limit: Duration) {
        let end = clock::now() + limit;
        while !h.idle() && clock::now() < end {
            std::thread::sleep(Duration::from_millis(5));
            h.poll(clock::now());
        }
    }

    #[test]
    fn runs_in_order_and_reaps() {
        let mut h = Hooks::new(Duration::from_secs(5));
        h.push(job("/bin/true"), clock::now());
        h.push(job("/bin/false"), clock::now());
        wait_idle(&mut h, Duration::from_secs(5));
        assert!(h.idle());
        assert_eq!(h.started, 2);
        assert_eq!(h.failed, 1);
    }

    /// Live (non-zombie) members of process group `pgid`, from /proc.
    fn group_members(pgid: i32) -> Vec<i32> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let f: Vec<&str> = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            if f.len() > 2 && f[2].parse::<i32>().ok() == Some(pgid) && f[0] != "Z" {
                out.push(pid);
            }
        }
        out
    }

    /// The hook (a shell and its `sleep`, one process group) is killed whole, at the timeout:
    /// idle within [timeout, timeout + 100 ms] of its start, and nothing of its group left.
    #[test]
    fn hung_hook_is_killed_at_timeout() {
        let dir = std::env::temp_dir().join(format!("vrrpd-hook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("hang.sh");
        let pid_file = dir.join("hook.pid");
        std::fs::write(
            &p,
            format!("#!/bin/sh\necho $$ > {}\nsleep 60\n", pid_file.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let timeout = Duration::from_millis(200);
        let mut h = Hooks::new(timeout);
        let start = clock::now();
        h.push(job(p.to_str().unwrap()), start);
        let pgid = h.running.as_ref().map(|r| r.child.id() as i32).unwrap();
        // The shell has started its sleep (two members) before the timeout.
        let end = start + Duration::from_secs(2);
        while group_members(pgid).len() < 2 && clock::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(group_members(pgid).len(), 2, "shell and sleep");
        wait_idle(&mut h, Duration::from_secs(5));
        let took = clock::now() - start;
        assert!(h.idle());
        assert_eq!(h.timed_out, 1);
        assert!(
            took >= timeout && took <= timeout + Duration::from_millis(100),
            "killed {took:?} after start, timeout {timeout:?}"
        );
        // SIGKILL is delivered at once but acted on when the `sleep` next runs: on a loaded
        // machine it can still be listed (not yet a zombie) just after the shell was reaped
        // (CI saw it so). Gone within a second, or the kill missed it.
        let end = clock::now() + Duration::from_secs(1);
        let mut left = group_members(pgid);
        while !left.is_empty() && clock::now() < end {
            std::thread::sleep(Duration::from_millis(5));
            left = group_members(pgid);
        }
        assert!(
            left.is_empty(),
            "hook's process group outlived the kill by 1 s: {left:?}"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A hook that exits at once leaving two `sleep`s in its group: it is reaped (the next hook
    /// may run), and what it left is killed at the timeout from its start, not before.
    #[test]
    fn leftovers_are_killed_at_timeout() {
        let dir = std::env::temp_dir().join(format!("vrrpd-hook-left-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("left.sh");
        std::fs::write(&p, "#!/bin/sh\nsleep 60 &\nsleep 60 &\nexit 0\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let timeout = Duration::from_millis(400);
        let mut h = Hooks::new(timeout);
        let start = clock::now();
        h.push(job(p.to_str().unwrap()), start);
        let pgid = h.running.as_ref().map(|r| r.child.id() as i32).unwrap();
        wait_idle(&mut h, Duration::from_secs(5));
        assert!(h.idle(), "the hook itself exits at once");
        assert!(clock::now() < start + timeout, "reaped before the timeout");
        assert_eq!(group_members(pgid).len(), 2, "its two sleeps");
        assert!(h.deadline().is_some_and(|d| d >= start + timeout));
        let end = start + Duration::from_secs(5);
        while !group_members(pgid).is_empty() && clock::now() < end {
            std::thread::sleep(Duration::from_millis(5));
            h.poll(clock::now());
        }
        let took = clock::now() - start;
        assert!(group_members(pgid).is_empty(), "leftovers survived");
        assert!(
            took >= timeout && took <= timeout + Duration::from_millis(150),
            "killed {took:?} after start, timeout {timeout:?}"
        );
        assert_eq!(h.timed_out, 1);
        assert_eq!(h.failed, 0);
        assert!(h.deadline().is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    /// At exit what a hook left is killed at once, not at its timeout.
    #[test]
    fn leftovers_are_killed_at_exit() {
        let dir = std::env::temp_dir().join(format!("vrrpd-hook-exit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("left.sh");
        std::fs::write(&p, "#!/bin/sh\nsleep 60 &\nexit 0\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut h = Hooks::new(Duration::from_secs(30));
        h.push(job(p.to_str().unwrap()), clock::now());
        let pgid = h.running.as_ref().map(|r| r.child.id() as i32).unwrap();
        wait_idle(&mut h, Duration::from_secs(5));
        assert_eq!(group_members(pgid).len(), 1, "its sleep");
        h.kill_all();
        let end = clock::now() + Duration::from_secs(2);
        while !group_members(pgid).is_empty() && clock::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(group_members(pgid).is_empty(), "leftover survived the exit");
        assert!(h.deadline().is_none());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn missing_hook_is_counted_not_fatal() {
        let mut h = Hooks::new(Duration::from_secs(1));
        h.push(job("/nonexistent/hook"), clock::now());
        assert!(h.idle());
        assert_eq!(h.failed, 1);
    }
}
