//! Health trackers, the shell side: running check commands, reading tracked files, following
//! other interfaces' links. Each observation is handed to the pure counting in
//! [`crate::proto::track`]; the daemon turns the combined effect into [`Event::Weights`] and the
//! [`FaultReason::Tracker`] fault, fed to the state machine like every other input.
//!
//! Check commands are exec'd directly (no shell) with stdio on /dev/null, in a process group of
//! their own; a run still going at its timeout is killed with its whole group and counts as a
//! failure. Runs start every interval after the previous start, one at a time (the timeout
//! never exceeds the interval), and are reaped from the loop: the pidfd of each running check is
//! polled, nothing here ever waits.
//!
//! [`Event::Weights`]: crate::proto::fsm::Event::Weights
//! [`FaultReason::Tracker`]: crate::proto::fsm::FaultReason::Tracker

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::config::{TrackSource, TrackSpec};
use crate::proto::track::{self, Change, Kind, ProcessPattern, Spec, Tracker};
use crate::proto::wire::proc_event::ProcEvent;
use crate::sys::inotify::Watcher;
use crate::sys::netlink::Rtnl;
use crate::sys::proc_connector::Connector;
use crate::sys::process;
use crate::vlog;

struct Running {
    child: Child,
    pidfd: OwnedFd,
    deadline: Duration,
    killed: bool,
}

enum Runner {
    Check {
        argv: Vec<String>,
        interval: Duration,
        timeout: Duration,
        next: Duration,
        running: Option<Running>,
    },
    Interface {
        index: Option<u32>,
    },
    File(std::path::PathBuf),
    Process {
        pattern: ProcessPattern,
        quorum: u32,
        /// The matching processes known, each with its pidfd (readable when it exits).
        pids: Vec<(u32, OwnedFd)>,
        /// Below quorum: when to look in /proc for new ones.
        next_scan: Option<Duration>,
        /// The count last reported.
        reported: Option<usize>,
    },
}

/// Below quorum, without the process connector, /proc is scanned for new processes this often.
pub const PROCESS_RESCAN: Duration = Duration::from_secs(1);
/// Most processes followed per tracker.
const MAX_PIDS: usize = 64;

/// Look in /proc for the processes `pattern` counts: keep the known ones still there, open a
/// pidfd for each new one.
fn rescan(pattern: &ProcessPattern, pids: &mut Vec<(u32, OwnedFd)>) {
    let found = crate::sys::procscan::scan(pattern, MAX_PIDS);
    pids.retain(|(p, _)| found.contains(p));
    for p in found {
        if pids.iter().any(|(q, _)| *q == p) {
            continue;
        }
        // A process that exited since the scan has no pidfd: skipped, as it should be.
        if let Ok(fd) = process::pidfd_open(p) {
            pids.push((p, fd));
        }
    }
}

/// One tracker: its name, counting state, how it observes, and the last result's words.
pub struct Entry {
    /// Name in logs and reports.
    pub name: String,
    /// The counting state.
    pub tracker: Tracker,
    /// The last result in words (`exit 1`, `timed out after 1s`, `reads 3`).
    pub detail: String,
    runner: Runner,
}

/// One result of one tracker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Which tracker ([`Trackers::entries`] index).
    pub index: usize,
    /// Passed.
    pub ok: bool,
    /// A value tracker's reading.
    pub value: Option<i64>,
    /// The result in words.
    pub detail: String,
}

/// How process trackers learn of new processes.
pub enum ProcWatch {
    /// No process tracker.
    None,
    /// The netlink process connector (exec, fork and comm events).
    Connector(Connector),
    /// A rescan of /proc every [`PROCESS_RESCAN`] while below quorum; why the connector is
    /// not used.
    Rescan(String),
}

/// Every tracker of one instance.
pub struct Trackers {
    entries: Vec<Entry>,
    inotify: Option<Watcher>,
    procs: ProcWatch,
    env: Vec<(String, String)>,
    /// The weights last given to the state machine.
    fed_weights: i32,
}

fn kind_of(s: &TrackSource) -> Kind {
    match s {
        TrackSource::Check { .. } => Kind::Check,
        TrackSource::Interface => Kind::Interface,
        TrackSource::File(_) => Kind::File,
        TrackSource::Process { .. } => Kind::Process,
    }
}

/// A file's integer: leading and trailing white space allowed, nothing else.
pub fn parse_value(text: &str) -> Result<i64, String> {
    let t = text.trim();
    if t.is_empty() {
        return Err("is empty".to_string());
    }
    t.parse::<i64>().map_err(|_| {
        let shown: String = t.chars().take(20).collect();
        format!("does not hold an integer (\"{}\")", shown.escape_debug())
    })
}

fn read_value(path: &Path) -> (Option<i64>, String) {
    use std::io::Read;
    let mut buf = [0u8; 128];
    let got = std::fs::File::open(path).and_then(|mut f| f.read(&mut buf));
    match got {
        Ok(n) => {
            let text = String::from_utf8_lossy(buf.get(..n).unwrap_or_default());
            match parse_value(&text) {
                Ok(v) => (Some(v), format!("reads {v}")),
                Err(e) => (None, e),
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (None, "is missing".to_string()),
        Err(e) => (None, format!("cannot be read ({e})")),
    }
}

impl Trackers {
    /// The trackers of `specs`, all in Init; checks make their first run at `now`. `env` is
    /// given to every check command.
    pub fn new(specs: &[TrackSpec], env: Vec<(String, String)>, now: Duration) -> Trackers {
        let entries = specs
            .iter()
            .map(|s| {
                let tracker = Tracker::new(Spec {
                    kind: kind_of(&s.source),
                    weight: s.weight,
                    rise: s.rise,
                    fall: s.fall,
                    reverse: s.reverse,
                });
                let runner = match &s.source {
                    TrackSource::Check {
                        argv,
                        interval,
                        timeout,
                    } => Runner::Check {
                        argv: argv.clone(),
                        interval: *interval,
                        timeout: *timeout,
                        next: now,
                        running: None,
                    },
                    TrackSource::Interface => Runner::Interface { index: None },
                    TrackSource::File(p) => Runner::File(p.clone()),
                    TrackSource::Process { pattern, quorum } => Runner::Process {
                        pattern: pattern.clone(),
                        quorum: *quorum,
                        pids: Vec::new(),
                        next_scan: Some(now),
                        reported: None,
                    },
                };
                Entry {
                    name: s.name.clone(),
                    tracker,
                    detail: "no result yet".to_string(),
                    runner,
                }
            })
            .collect();
        Trackers {
            entries,
            inotify: None,
            procs: ProcWatch::None,
            env,
            fed_weights: 0,
        }
    }

    /// Subscribe to the process connector when a process tracker needs it (before the first
    /// /proc scan, so that no process starting in between is missed); otherwise say why not.
    pub fn open_connector(&mut self) {
        let wanted = self
            .entries
            .iter()
            .any(|e| matches!(e.runner, Runner::Process { .. }));
        if !wanted {
            return;
        }
        self.procs = match Connector::open() {
            Ok(c) => ProcWatch::Connector(c),
            Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => ProcWatch::Rescan(
                "the netlink process connector refused (ECONNREFUSED: it answers only in the initial network namespace)"
                    .to_string(),
            ),
            Err(e) => ProcWatch::Rescan(format!("the netlink process connector is unavailable ({e})")),
        };
    }

    /// How new processes are found, for the log.
    pub fn proc_watch(&self) -> &ProcWatch {
        &self.procs
    }

    /// Whether there are no trackers.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The trackers, in command-line order.
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// First observations that need no waiting: the links of tracked interfaces and the values
    /// of tracked files (watched from now on with inotify on their directories).
    pub fn start(&mut self, rtnl: &mut Rtnl, tag: &str, now: Duration) -> Vec<Observation> {
        let mut dirs: Vec<std::path::PathBuf> = Vec::new();
        for e in &self.entries {
            if let Runner::File(p) = &e.runner {
                if let Some(d) = p.parent() {
                    if !dirs.iter().any(|x| x == d) {
                        dirs.push(d.to_path_buf());
                    }
                }
            }
        }
        if !dirs.is_empty() {
            match Watcher::new() {
                Ok(w) => {
                    for d in &dirs {
                        if let Err(e) = w.watch_dir(d) {
                            vlog!(
                                Error,
                                "{tag}: cannot watch directory {} for tracked files ({e}): their values will not change",
                                d.display()
                            );
                        }
                    }
                    self.inotify = Some(w);
                }
                Err(e) => vlog!(Error, "{tag}: inotify: {e}: tracked files are read once"),
            }
        }
        let mut out = self.reread_links(rtnl);
        out.extend(self.reread_files());
        out.extend(self.poll_processes(now));
        out
    }

    fn reread_files(&self) -> Vec<Observation> {
        let mut out = Vec::new();
        for (index, e) in self.entries.iter().enumerate() {
            if let Runner::File(p) = &e.runner {
                let (value, detail) = read_value(p);
                out.push(Observation {
                    index,
                    ok: value.is_some(),
                    value,
                    detail,
                });
            }
        }
        out
    }

    /// Read every tracked interface's link again (at start, after a netlink overrun).
    pub fn reread_links(&mut self, rtnl: &mut Rtnl) -> Vec<Observation> {
        let mut out = Vec::new();
        for (i, e) in self.entries.iter_mut().enumerate() {
            if let Runner::Interface { index } = &mut e.runner {
                let (up, detail) = match crate::sys::iface::link_state(rtnl, &e.name) {
                    Ok(Some((ix, up))) => {
                        *index = Some(ix);
                        (up, if up { "link up" } else { "link down" }.to_string())
                    }
                    Ok(None) => {
                        *index = None;
                        (false, "no such interface".to_string())
                    }
                    Err(err) => (false, format!("cannot read the link ({err})")),
                };
                out.push(Observation {
                    index: i,
                    ok: up,
                    value: None,
                    detail,
                });
            }
        }
        out
    }

    /// A netlink link event: the observation for a tracked interface it concerns.
    pub fn on_link(
        &mut self,
        ifindex: u32,
        name: &str,
        up: bool,
        deleted: bool,
    ) -> Vec<Observation> {
        let mut out = Vec::new();
        for (i, e) in self.entries.iter_mut().enumerate() {
            if let Runner::Interface { index } = &mut e.runner {
                let same = *index == Some(ifindex) || (!name.is_empty() && e.name == name);
                if !same {
                    continue;
                }
                // A rename away from the tracked name counts as the interface going.
                let gone = deleted || (!name.is_empty() && e.name != name);
                *index = if gone { None } else { Some(ifindex) };
                let ok = up && !gone;
                out.push(Observation {
                    index: i,
                    ok,
                    value: None,
                    detail: if gone {
                        "no such interface".to_string()
                    } else if ok {
                        "link up".to_string()
                    } else {
                        "link down".to_string()
                    },
                });
            }
        }
        out
    }

    /// Descriptors to poll: the running checks' pidfds and the inotify descriptor.
    pub fn fds(&self) -> Vec<BorrowedFd<'_>> {
        let mut v: Vec<BorrowedFd<'_>> = self
            .entries
            .iter()
            .filter_map(|e| match &e.runner {
                Runner::Check {
                    running: Some(r), ..
                } => Some(vec![r.pidfd.as_fd()]),
                Runner::Process { pids, .. } => {
                    Some(pids.iter().map(|(_, fd)| fd.as_fd()).collect())
                }
                _ => None,
            })
            .flatten()
            .collect();
        if let Some(w) = &self.inotify {
            v.push(w.as_fd());
        }
        if let ProcWatch::Connector(c) = &self.procs {
            v.push(c.as_fd());
        }
        v
    }

    /// The next time a check is due to start or to be killed.
    pub fn deadline(&self) -> Option<Duration> {
        self.entries
            .iter()
            .filter_map(|e| match &e.runner {
                Runner::Check {
                    running: Some(r), ..
                } => (!r.killed).then_some(r.deadline),
                Runner::Check {
                    running: None,
                    next,
                    ..
                } => Some(*next),
                Runner::Process { next_scan, .. } => *next_scan,
                _ => None,
            })
            .min()
    }

    /// On every wake-up: reap finished checks, kill overdue ones, start due ones, re-read the
    /// files when inotify spoke. Never waits.
    pub fn poll(&mut self, now: Duration, tag: &str) -> Vec<Observation> {
        let mut out = Vec::new();
        let files_changed = match &self.inotify {
            Some(w) => match w.drain() {
                Ok(any) => any,
                Err(e) => {
                    vlog!(Warn, "{tag}: inotify: {e}");
                    false
                }
            },
            None => false,
        };
        if files_changed {
            out.extend(self.reread_files());
        }
        self.read_connector(now, tag);
        out.extend(self.poll_processes(now));
        for (index, e) in self.entries.iter_mut().enumerate() {
            let Runner::Check {
                argv,
                interval,
                timeout,
                next,
                running,
            } = &mut e.runner
            else {
                continue;
            };
            if let Some(r) = running.as_mut() {
                if !r.killed && now >= r.deadline {
                    // The check runs in a process group of its own (pgid = pid).
                    let _ = process::kill_group(r.child.id());
                    r.killed = true;
                }
                match r.child.try_wait() {
                    Ok(Some(status)) => {
                        let (ok, detail) = if r.killed {
                            (
                                false,
                                format!("timed out after {}", humantime::format_duration(*timeout)),
                            )
                        } else if status.success() {
                            (true, "exit 0".to_string())
                        } else if let Some(code) = status.code() {
                            (false, format!("exit {code}"))
                        } else {
                            (
                                false,
                                format!("killed by signal {}", status.signal().unwrap_or(0)),
                            )
                        };
                        *running = None;
                        out.push(Observation {
                            index,
                            ok,
                            value: None,
                            detail,
                        });
                    }
                    Ok(None) => {}
                    Err(err) => {
                        vlog!(Warn, "{tag}: check \"{}\": wait: {err}", e.name);
                        *running = None;
                    }
                }
            }
            if running.is_none() && now >= *next {
                // Every interval after the previous start; a late wake-up skips, never bursts.
                while *next <= now {
                    *next += *interval;
                }
                match spawn(argv, &self.env) {
                    Ok((child, pidfd)) => {
                        *running = Some(Running {
                            child,
                            pidfd,
                            deadline: now + *timeout,
                            killed: false,
                        })
                    }
                    Err(detail) => out.push(Observation {
                        index,
                        ok: false,
                        value: None,
                        detail,
                    }),
                }
            }
        }
        out
    }

    /// Process trackers: drop the processes whose pidfd says they exited (then look in /proc
    /// at once for others of the same name), and below quorum rescan /proc every
    /// [`PROCESS_RESCAN`]. An observation whenever the count changes.
    fn poll_processes(&mut self, now: Duration) -> Vec<Observation> {
        let mut out = Vec::new();
        let connected = matches!(self.procs, ProcWatch::Connector(_));
        for (index, e) in self.entries.iter_mut().enumerate() {
            let Runner::Process {
                pattern,
                quorum,
                pids,
                next_scan,
                reported,
            } = &mut e.runner
            else {
                continue;
            };
            let mut scan = next_scan.is_some_and(|t| now >= t);
            if !pids.is_empty() {
                let fds: Vec<BorrowedFd<'_>> = pids.iter().map(|(_, fd)| fd.as_fd()).collect();
                let gone = crate::sys::poll::ready_now(&fds).unwrap_or_default();
                drop(fds);
                if gone.iter().any(|g| *g) {
                    let mut flags = gone.into_iter();
                    pids.retain(|_| !flags.next().unwrap_or(false));
                    // Without the connector another process of the name may have started
                    // unseen: look at once.
                    scan |= !connected;
                }
            }
            if scan {
                rescan(pattern, pids);
            }
            let n = pids.len();
            let q = *quorum as usize;
            *next_scan = if n < q && !connected {
                Some(if scan {
                    now + PROCESS_RESCAN
                } else {
                    next_scan.unwrap_or(now)
                })
            } else {
                None
            };
            if *reported != Some(n) {
                *reported = Some(n);
                out.push(Observation {
                    index,
                    ok: n >= q,
                    value: None,
                    detail: format!("{n} running, quorum {q}"),
                });
            }
        }
        out
    }

    /// Read the process connector: a process that execs, changes its comm, or is forked by a
    /// process already counted is checked against every process tracker and counted or
    /// dropped (exits come through the pidfds). Lost events: rescan /proc. A failing
    /// connector: fall back to rescans, said in the log.
    fn read_connector(&mut self, now: Duration, tag: &str) {
        let ProcWatch::Connector(c) = &mut self.procs else {
            return;
        };
        let batch = match c.read() {
            Ok(b) => b,
            Err(e) => {
                let why = format!("the netlink process connector failed ({e})");
                vlog!(
                    Warn,
                    "{tag}: {why}: new processes are now found by looking in /proc every {}",
                    humantime::format_duration(PROCESS_RESCAN)
                );
                self.procs = ProcWatch::Rescan(why);
                self.rescan_all(now);
                return;
            }
        };
        if batch.overrun {
            vlog!(
                Warn,
                "{tag}: process events were lost (connector overrun): looking in /proc again"
            );
            self.rescan_all(now);
        }
        for ev in batch.events {
            let (pid, fork_of) = match ev {
                ProcEvent::Exec { tgid, .. } => (tgid, None),
                ProcEvent::Comm { pid, tgid } if pid == tgid => (tgid, None),
                ProcEvent::Fork {
                    parent_tgid,
                    child_pid,
                    child_tgid,
                } if child_pid == child_tgid => (child_tgid, Some(parent_tgid)),
                ProcEvent::Ack { err } if err != 0 => {
                    let why = format!(
                        "the netlink process connector refused to listen ({})",
                        std::io::Error::from_raw_os_error(i32::try_from(err).unwrap_or(0))
                    );
                    vlog!(
                        Warn,
                        "{tag}: {why}: new processes are found by looking in /proc every {}",
                        humantime::format_duration(PROCESS_RESCAN)
                    );
                    self.procs = ProcWatch::Rescan(why);
                    self.rescan_all(now);
                    return;
                }
                _ => continue,
            };
            for e in &mut self.entries {
                let Runner::Process { pattern, pids, .. } = &mut e.runner else {
                    continue;
                };
                let known = pids.iter().position(|(p, _)| *p == pid);
                // A fork is only of interest when the parent is counted (its child carries
                // the same name); anything else shows again at its exec.
                if let Some(parent) = fork_of {
                    if !pids.iter().any(|(p, _)| *p == parent) {
                        continue;
                    }
                }
                let ours = crate::sys::procscan::matches(pid, pattern);
                match (ours, known) {
                    (true, None) if pids.len() < MAX_PIDS => {
                        if let Ok(fd) = process::pidfd_open(pid) {
                            pids.push((pid, fd));
                        }
                    }
                    (false, Some(i)) => {
                        pids.swap_remove(i);
                    }
                    _ => {}
                }
            }
        }
    }

    /// Every process tracker looks in /proc at the next poll.
    fn rescan_all(&mut self, now: Duration) {
        for e in &mut self.entries {
            if let Runner::Process { next_scan, .. } = &mut e.runner {
                *next_scan = Some(now);
            }
        }
    }

    /// Apply one observation to its tracker; the status change, if any.
    pub fn apply(&mut self, now: Duration, ob: &Observation) -> Option<Change> {
        let e = self.entries.get_mut(ob.index)?;
        e.detail.clone_from(&ob.detail);
        if e.tracker.spec().kind == Kind::File {
            e.tracker.observe_value(now, ob.value)
        } else {
            e.tracker.observe(now, ob.ok)
        }
    }

    /// The sum of the weights in force and whether a tracker holds Fault.
    pub fn combined(&self) -> (i32, bool) {
        track::combine(self.entries.iter().map(|e| &e.tracker))
    }

    /// On exit: kill running checks with their process groups and reap them.
    pub fn kill_all(&mut self) {
        for e in &mut self.entries {
            if let Runner::Check { running, .. } = &mut e.runner {
                if let Some(mut r) = running.take() {
                    let _ = process::kill_group(r.child.id());
                    let _ = r.child.wait();
                }
            }
        }
    }
}

fn spawn(argv: &[String], env: &[(String, String)]) -> Result<(Child, OwnedFd), String> {
    let Some((prog, args)) = argv.split_first() else {
        return Err("cannot run: no command".to_string());
    };
    let mut cmd = Command::new(prog);
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    let mut child = cmd.spawn().map_err(|e| format!("cannot run {prog}: {e}"))?;
    match process::pidfd_open(child.id()) {
        Ok(fd) => Ok((child, fd)),
        Err(e) => {
            let _ = process::kill_group(child.id());
            let _ = child.wait();
            Err(format!("cannot watch {prog}: pidfd_open: {e}"))
        }
    }
}

impl super::Daemon {
    /// Before Startup: say what every tracker is until its first result, take the first
    /// observations that need no waiting, and give the state machine the trackers' effect (Init
    /// counts as down: a penalty applies and a weight-0 tracker holds Fault until it passes).
    pub(super) fn track_start(&mut self, now: Duration) {
        if self.trackers.is_empty() {
            return;
        }
        let tag = self.tag();
        self.trackers.open_connector();
        match self.trackers.proc_watch() {
            ProcWatch::None => {}
            ProcWatch::Connector(_) => vlog!(
                Info,
                "{tag}: process trackers: new processes through the netlink process connector, exits by pidfd"
            ),
            ProcWatch::Rescan(why) => vlog!(
                Info,
                "{tag}: process trackers: {why}: new processes are found by looking in /proc every {} while below quorum, exits by pidfd",
                humantime::format_duration(PROCESS_RESCAN)
            ),
        }
        let connected = matches!(self.trackers.proc_watch(), ProcWatch::Connector(_));
        for e in self.trackers.entries() {
            let sp = e.tracker.spec();
            let what = match e.tracker.effect() {
                track::Effect::Fault => "holds Fault".to_string(),
                track::Effect::Weight(0) => "adds nothing".to_string(),
                track::Effect::Weight(w) => format!("applies weight {w}"),
            };
            let how = match &e.runner {
                Runner::Check {
                    argv,
                    interval,
                    timeout,
                    ..
                } => format!(
                    "runs {} every {}, timeout {}, rise {}, fall {}",
                    argv.join(" "),
                    humantime::format_duration(*interval),
                    humantime::format_duration(*timeout),
                    sp.rise,
                    sp.fall
                ),
                Runner::Interface { .. } => "follows the link (netlink)".to_string(),
                Runner::File(_) => "reads an integer (inotify on its directory)".to_string(),
                Runner::Process {
                    pattern, quorum, ..
                } => {
                    let args = match &pattern.args {
                        None => String::new(),
                        Some(a) if a.is_empty() => " without arguments".to_string(),
                        Some(_) => format!(" with arguments ({} match)", pattern.arg_match.name()),
                    };
                    let how = if connected {
                        "new ones through the netlink process connector".to_string()
                    } else {
                        format!(
                            "new ones by looking in /proc every {} while below quorum",
                            humantime::format_duration(PROCESS_RESCAN)
                        )
                    };
                    format!("needs {quorum} running{args}; follows exits by pidfd, {how}")
                }
            };
            vlog!(
                Info,
                "{tag}: {} \"{}\" weight {}{}: {how}; until its first result it counts as down ({what})",
                sp.kind.name(),
                e.name,
                sp.weight,
                if sp.reverse { " reverse" } else { "" }
            );
        }
        let obs = self.trackers.start(&mut self.io.rtnl, &tag, now);
        self.track_results(now, obs);
        // Init trackers that saw nothing yet still count (as down).
        self.track_sync(now);
    }

    /// On every wake-up: run, reap and kill checks, re-read files. The check for none stays in
    /// the caller's frame: the work's frame is 4.5 KiB, and a prologue touches its stack pages
    /// whether or not the body returns at once (issue #14: they stayed resident in every
    /// process, trackers or not).
    pub(super) fn poll_trackers(&mut self, now: Duration) {
        if !self.trackers.is_empty() {
            self.poll_trackers_now(now);
        }
    }

    #[inline(never)]
    fn poll_trackers_now(&mut self, now: Duration) {
        let tag = self.tag();
        let obs = self.trackers.poll(now, &tag);
        self.track_results(now, obs);
    }

    /// Apply observations: one log line per status change (or, for a file, per change of the
    /// weight it applies), then the combined effect to the state machine.
    pub(super) fn track_results(&mut self, now: Duration, obs: Vec<Observation>) {
        for ob in obs {
            let (before_w, before_f) = self.trackers.combined();
            let before_effect = self
                .trackers
                .entries()
                .get(ob.index)
                .map(|e| e.tracker.effect());
            let change = self.trackers.apply(now, &ob);
            let Some(e) = self.trackers.entries().get(ob.index) else {
                continue;
            };
            let effect = e.tracker.effect();
            if change.is_none() && before_effect == Some(effect) {
                vlog!(
                    Debug,
                    "{}: {} \"{}\" {} ({})",
                    self.tag(),
                    e.tracker.spec().kind.name(),
                    e.name,
                    e.tracker.status(),
                    ob.detail
                );
                continue;
            }
            let (w, f) = self.trackers.combined();
            let p0 = self.inst.priority_with(before_w);
            let p1 = self.inst.priority_with(w);
            // CARP: the weights move the advskew (the other way).
            let word = if self.inst.is_carp() {
                "advskew"
            } else {
                "priority"
            };
            let outcome = match (before_f, f) {
                (false, true) if self.inst.is_carp() => format!("fault (advskew {p0})"),
                (false, true) => format!("fault (priority {p0} -> 0)"),
                (true, false) => format!("fault cleared, {word} {p1}"),
                (true, true) => format!("still fault ({word} {p1} when it clears)"),
                (false, false) => format!("{word} {p0} -> {p1}"),
            };
            let counts = match change {
                Some(c) => format!(", {} of {}", c.count, c.of),
                None => String::new(),
            };
            let level = if e.tracker.status() == track::Status::Up {
                crate::daemon::log::Level::Info
            } else {
                crate::daemon::log::Level::Warn
            };
            crate::daemon::log::write(
                level,
                &format!(
                    "{}: {} \"{}\" {} ({}{counts}): {outcome}",
                    self.tag(),
                    e.tracker.spec().kind.name(),
                    e.name,
                    e.tracker.status(),
                    ob.detail
                ),
            );
            let ev = crate::control::events::Event::Tracker {
                kind: e.tracker.spec().kind.name().to_string(),
                name: e.name.clone(),
                status: e.tracker.status().name().to_string(),
                detail: ob.detail.clone(),
            };
            self.emit(ev);
            self.track_sync(now);
        }
    }

    /// Give the state machine the trackers' combined effect, when it changed.
    fn track_sync(&mut self, now: Duration) {
        use crate::proto::fsm::{Event, FaultReason};
        let (w, f) = self.trackers.combined();
        if self.trackers.fed_weights != w {
            self.trackers.fed_weights = w;
            self.feed(now, Event::Weights(w));
        }
        if f != self.track_fault {
            self.track_fault = f;
            self.feed(
                now,
                if f {
                    Event::FaultSet(FaultReason::Tracker)
                } else {
                    Event::FaultClear(FaultReason::Tracker)
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::config::TrackSource;

    #[test]
    fn file_values() {
        assert_eq!(parse_value(" 12\n"), Ok(12));
        assert_eq!(parse_value("-5"), Ok(-5));
        assert!(parse_value("").unwrap_err().contains("empty"));
        assert!(parse_value("abc").unwrap_err().contains("integer"));
        assert!(parse_value("12xyz").is_err());
    }

    /// The process connector end to end where it answers (the initial network namespace, as
    /// root): a tracker with no /proc rescan pending learns of a new process from its exec
    /// event and of its exit from its pidfd. Where the connector is refused (a test network
    /// namespace) the tracker falls back to rescans, tested for real in tests/tracking.rs.
    #[test]
    fn connector_counts_a_new_process_without_a_rescan() {
        let dir = std::env::temp_dir().join(format!("vrrpd-cn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let name = format!("vcn{}", std::process::id() % 100_000);
        let prog = dir.join(&name);
        std::fs::copy("/bin/sleep", &prog).unwrap();
        let spec = TrackSpec {
            name: name.clone(),
            source: TrackSource::Process {
                pattern: ProcessPattern {
                    name: name.clone(),
                    args: Some(vec!["30".into()]),
                    arg_match: track::ArgMatch::Exact,
                },
                quorum: 1,
            },
            weight: -10,
            rise: 1,
            fall: 1,
            reverse: false,
        };
        let t0 = crate::sys::clock::now();
        let mut t = Trackers::new(&[spec], Vec::new(), t0);
        t.open_connector();
        if let ProcWatch::Rescan(why) = t.proc_watch() {
            println!("SKIPPED: connector_counts_a_new_process_without_a_rescan: {why}");
            let _ = std::fs::remove_dir_all(&dir);
            return;
        }
        let mut rtnl = Rtnl::open().expect("rtnetlink");
        let first = t.start(&mut rtnl, "test", t0);
        assert_eq!(first.len(), 1);
        assert!(!first[0].ok, "{first:?}");
        // Started with other arguments: not counted.
        let mut other = Command::new(&prog).arg("31").spawn().expect("spawn");
        let mut child = Command::new(&prog).arg("30").spawn().expect("spawn");
        let started = std::time::Instant::now();
        let mut seen = None;
        while started.elapsed() < Duration::from_secs(2) && seen.is_none() {
            let now = crate::sys::clock::now();
            assert!(
                t.deadline().is_none(),
                "no rescan is due with the connector"
            );
            seen = t.poll(now, "test").into_iter().find(|o| o.ok);
            std::thread::sleep(Duration::from_millis(5));
        }
        let took = started.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        let mut gone = None;
        let killed = std::time::Instant::now();
        while killed.elapsed() < Duration::from_secs(2) && gone.is_none() {
            gone = t
                .poll(crate::sys::clock::now(), "test")
                .into_iter()
                .find(|o| !o.ok);
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = other.kill();
        let _ = other.wait();
        let _ = std::fs::remove_dir_all(&dir);
        let seen = seen.expect("the exec event counted the new process");
        assert_eq!(seen.detail, "1 running, quorum 1");
        println!(
            "connector: new process counted after {took:?}, exit after {:?}",
            killed.elapsed()
        );
        assert!(
            took < Duration::from_secs(1),
            "{took:?} (the rescan would take 1 s)"
        );
        assert_eq!(gone.expect("exit seen").detail, "0 running, quorum 1");
    }
}
