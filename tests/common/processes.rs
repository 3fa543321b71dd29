//! Daemons and peers started inside a lab namespace (through `ip netns exec`, logging to a file
//! in the lab's scratch directory) and ended by PID: the lab's drop kills whatever still runs in
//! its namespaces, by the PIDs `ip netns pids` lists.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::Lab;

/// A running process started by the lab.
pub struct Proc {
    /// The child.
    pub child: Child,
    /// Its log file (stdout and stderr).
    pub log: PathBuf,
}

impl Proc {
    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// PID.
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
}

impl Lab {
    /// Start `program args…` inside host `ns`, logging to `<dir>/<tag>.log`.
    pub fn spawn(
        &mut self,
        ns: &str,
        tag: &str,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Proc {
        let log = self.dir.join(format!("{tag}.log"));
        let f = File::create(&log).expect("log file");
        let f2 = f.try_clone().expect("log file");
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, program])
            .args(args)
            .stdin(Stdio::null())
            .stdout(f)
            .stderr(f2);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        Proc { child, log }
    }

    /// Start `program args…` from the test's own network namespace, logging to
    /// `<dir>/<tag>.log`: only for a program that enters one of the lab's namespaces itself at
    /// once (`keepalived -s NS`), so that the lab's drop still finds it there and kills it.
    pub fn spawn_entering(
        &mut self,
        tag: &str,
        program: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Proc {
        let log = self.dir.join(format!("{tag}.log"));
        let f = File::create(&log).expect("log file");
        let f2 = f.try_clone().expect("log file");
        let mut cmd = Command::new(program);
        cmd.args(args).stdin(Stdio::null()).stdout(f).stderr(f2);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        Proc { child, log }
    }

    /// Start vrrpd in the foreground in `ns` with the given arguments.
    pub fn vrrpd(&mut self, ns: &str, tag: &str, args: &[&str]) -> Proc {
        let mut all = vec!["--foreground", "--debug"];
        all.extend_from_slice(args);
        let run_dir = self.dir.join("run");
        let run = run_dir.to_string_lossy().into_owned();
        self.spawn(
            ns,
            tag,
            env!("CARGO_BIN_EXE_vrrpd"),
            &all,
            &[("VRRPD_RUN_DIR", &run)],
        )
    }

    /// [`Lab::vrrpd`] with the arguments as one space-separated line.
    pub fn vrrpd_line(&mut self, ns: &str, tag: &str, line: &str) -> Proc {
        let args: Vec<&str> = line.split_whitespace().collect();
        self.vrrpd(ns, tag, &args)
    }
}

/// Whether a started process still runs (and is not a zombie).
pub fn alive(p: &Proc) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", p.pid())).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("");
    !state.is_empty() && state != "Z"
}

/// Send a signal to a process by PID.
pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a PID we started.
    unsafe { libc::kill(pid, sig) };
}

/// Wait (bounded) for a child to exit; returns its exit code, or None on timeout.
pub fn wait_exit(p: &mut Proc, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Ok(Some(st)) = p.child.try_wait() {
            use std::os::unix::process::ExitStatusExt;
            return Some(st.code().unwrap_or(128 + st.signal().unwrap_or(0)));
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether a process (by PID) still runs: present in /proc and not a zombie.
pub fn pid_alive(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat
        .rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("");
    !state.is_empty() && state != "Z"
}

/// (policy, rt_priority) of a `/proc/PID/stat` line: fields 41 and 40 (proc(5)); policy 0 is
/// SCHED_OTHER, 2 SCHED_RR.
pub fn sched_of_stat(stat: &str) -> Option<(u32, u32)> {
    let rest = stat.rsplit_once(')')?.1;
    // After the command: field 3 (the state) first.
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some((f.get(41 - 3)?.parse().ok()?, f.get(40 - 3)?.parse().ok()?))
}

/// [`sched_of_stat`] of a running process.
pub fn sched_of(pid: i32) -> Option<(u32, u32)> {
    sched_of_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The "Max realtime timeout" soft and hard limits of a process, µs, from /proc/PID/limits.
pub fn rttime_limits(pid: i32) -> Option<(String, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = text
        .lines()
        .find(|l| l.starts_with("Max realtime timeout"))?;
    let mut w = line
        .trim_start_matches("Max realtime timeout")
        .split_whitespace();
    Some((w.next()?.to_string(), w.next()?.to_string()))
}

/// The PIDs of the live members of process group `pgid` (from /proc; zombies excluded).
pub fn group_members(pgid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in dir.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let Some(rest) = stat.rsplit(')').next() else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        // After the command: state, ppid, pgrp.
        if f.len() > 2 && f[2].parse::<i32>().ok() == Some(pgid) && f[0] != "Z" {
            out.push(pid);
        }
    }
    out
}

impl Lab {
    /// Run atropos inside `ns` with the lab's run directory: (exit status, stdout, stderr).
    pub fn atropos(&self, ns: &str, args: &[&str]) -> (i32, String, String) {
        let out = Command::new("ip")
            .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_atropos")])
            .args(args)
            .env("VRRPD_RUN_DIR", self.dir.join("run"))
            .stdin(Stdio::null())
            .output()
            .expect("run atropos");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The state (MASTER, BACKUP, FAULT, ...) of VRID `vrid` in `ns` as `atropos --state --json`
    /// reports it, or None when no such instance answers.
    pub fn state(&self, ns: &str, vrid: u8) -> Option<String> {
        let (_, out, _) = self.atropos(ns, &["--state", "--json"]);
        let j: serde_json::Value = serde_json::from_str(&out).ok()?;
        j.as_array()?
            .iter()
            .find(|r| r["vrid"].as_u64() == Some(u64::from(vrid)))
            .and_then(|r| r["state"].as_str().map(str::to_string))
    }
}

/// `(transmitted, received)` from the summary of ping `p`, once it exits within `limit`.
pub fn ping_summary(p: &mut Proc, limit: Duration) -> (u32, u32) {
    assert!(wait_exit(p, limit).is_some(), "ping did not finish");
    let text = p.log_text();
    let line = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("{text}"));
    let nums: Vec<u32> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[0], nums[1])
}

/// The CLOCK_MONOTONIC stamp (`vrrpd[PID] SECONDS.MICROS level: ...`) of the first log line of
/// `p` containing `needle`: where no frame marks a moment (a state entered without sending
/// anything), the daemon's own stamp is the reference, and the event is timed on the wire.
pub fn log_stamp(p: &Proc, needle: &str) -> Option<Duration> {
    p.log_text()
        .lines()
        .find(|l| l.contains(needle))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(Duration::from_secs_f64)
}
