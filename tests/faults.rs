//! Fault runs (issue 13, "Faults"): hooks that crash, leave processes behind, go missing or lose
//! their execute bit at run time; signals arriving at a high rate (EINTR everywhere); a host-group
//! member SIGSTOPped; a restart after kill -9 under load. Each runs in network namespaces the
//! test creates (tests/common) and checks, on the wire, that vrrpd keeps its state and its advert
//! cadence, and what it logs.

mod common;

use std::net::IpAddr;
use std::time::{Duration, Instant};

use common::*;

const VIP: &str = "192.0.2.254/24";
/// The advert interval of every run here.
const INTERVAL: Duration = Duration::from_millis(100);
/// Lateness allowed on one advert gap on a loaded 2-core machine shared by several test runs:
/// a missed advert makes a gap of 200 ms, which this still catches.
const SLACK: Duration = Duration::from_millis(70);

/// Lines of `p`'s log containing `needle`.
fn count(p: &Proc, needle: &str) -> usize {
    p.log_text().lines().filter(|l| l.contains(needle)).count()
}

/// Log lines at level error.
fn errors(p: &Proc) -> Vec<String> {
    p.log_text()
        .lines()
        .filter(|l| l.contains(" error: "))
        .map(str::to_string)
        .collect()
}

/// The adverts from `src` in `seen`, and the largest gap between two consecutive ones.
fn cadence(seen: &[Seen], src: &str) -> (usize, Duration) {
    let src: IpAddr = src.parse().expect("address");
    let at: Vec<Duration> = seen
        .iter()
        .filter(|s| s.src == src && prio(s) > 0)
        .map(|s| s.at)
        .collect();
    let gap = at
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .max()
        .unwrap_or(Duration::MAX);
    (at.len(), gap)
}

/// Where the largest gap between adverts from `src` ends, on CLOCK_MONOTONIC (the clock of the
/// log stamps), for the failure message.
fn gap_end(cap_mono: Duration, seen: &[Seen], src: &str) -> Duration {
    let src: IpAddr = src.parse().expect("address");
    let at: Vec<Duration> = seen
        .iter()
        .filter(|s| s.src == src && prio(s) > 0)
        .map(|s| s.at)
        .collect();
    at.windows(2)
        .max_by_key(|w| w[1].saturating_sub(w[0]))
        .map(|w| cap_mono + w[1])
        .unwrap_or_default()
}

/// The largest gap between two consecutive adverts of VRID `vrid`, whoever sent them.
fn wire_gap(seen: &[Seen], vrid: u8) -> Duration {
    let at: Vec<Duration> = seen
        .iter()
        .filter(|s| s.payload.get(1) == Some(&vrid))
        .map(|s| s.at)
        .collect();
    at.windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .max()
        .unwrap_or(Duration::MAX)
}

/// `atropos --dump --json` of VRID `vrid` in `ns`: the instance's object.
fn dump(lab: &Lab, ns: &str, vrid: u8) -> serde_json::Value {
    let (_, out, _) = lab.atropos(ns, &["--dump", "--json", "-v", &vrid.to_string()]);
    let j = json(&out);
    j.as_array()
        .and_then(|a| a.first().cloned())
        .unwrap_or_else(|| panic!("no instance {vrid} in {out}"))
}

/// SIGKILL to every live member of process group `pgid` on drop: what a failing test leaves.
struct KillGroup(i32);

impl Drop for KillGroup {
    fn drop(&mut self) {
        if self.0 > 1 && !group_members(self.0).is_empty() {
            // SAFETY: killpg(2) on the process group of a hook this test started.
            unsafe { libc::killpg(self.0, libc::SIGKILL) };
        }
    }
}

/// A hook that leaves ~140 processes behind in its process group (100 background `sleep`s and a
/// fork chain 20 subshells deep, bounded: never a real fork bomb on a shared machine) and exits 0:
/// at --script-timeout after its start the whole group is killed, nothing of it survives, and
/// the master's adverts keep their cadence throughout. The hook renices itself to 19 first: at
/// equal niceness its fork storm competes with the daemon for CPU, and on a loaded 2-core
/// machine that delayed one advert by ~100 ms (vrrpd does not raise its own CPU priority; that
/// would take CAP_SYS_NICE, which it does not have).
#[test]
fn hook_leaving_processes_behind_has_its_group_killed_at_timeout() {
    let t = "hook_leaving_processes_behind_has_its_group_killed_at_timeout";
    if !require_root(t) {
        return;
    }
    const TIMEOUT: Duration = Duration::from_millis(1500);
    let mut lab = Lab::new(&["r1"]);
    let [r1] = lab.ns_names();
    let pid_file = lab.dir.join("hook.pid");
    let hook = lab.script(
        "spawner",
        &format!(
            "#!/bin/sh\n\
             echo $$ > {pf}.tmp && mv {pf}.tmp {pf}\n\
             renice -n 19 $$ >/dev/null; sleep 0.5; i=0\n\
             while [ $i -lt 100 ]; do sleep 1000 & i=$((i+1)); done\n\
             chain() {{ if [ $1 -gt 0 ]; then ( chain $(($1-1)) ) & fi; sleep 1000; }}\n\
             ( chain 20 ) &\n\
             exit 0\n",
            pf = pid_file.display()
        ),
    );
    let cap = Capture::start(&lab.switch, "br0");
    let a = lab.vrrpd(
        &r1,
        "r1",
        &[
            "-i",
            "eth0",
            "-v",
            "51",
            "-d",
            "100ms",
            "-n",
            "--script-timeout",
            "1500ms",
            "-U",
            hook.to_str().expect("path"),
            VIP,
        ],
    );
    assert!(
        wait_for(Duration::from_secs(5), || read(&pid_file)
            .trim()
            .parse::<i32>()
            .is_ok())
        .is_some(),
        "the hook never ran:\n{}",
        a.log_text()
    );
    let started = Instant::now();
    let pgid: i32 = read(&pid_file).trim().parse().expect("pgid");
    let _guard = KillGroup(pgid);
    // The hook itself exits at once; what it started stays in its group.
    assert!(
        wait_for(Duration::from_secs(3), || a
            .log_text()
            .contains("exited with status 0"))
        .is_some(),
        "{}",
        a.log_text()
    );
    let most = wait_some(Duration::from_millis(800), || {
        let n = group_members(pgid).len();
        (n >= 110).then_some(n)
    });
    let left_at_exit = group_members(pgid).len();
    assert!(
        most.is_some(),
        "the hook's background processes: {left_at_exit}"
    );
    let gone = wait_for(Duration::from_secs(6), || group_members(pgid).is_empty());
    let seen_gone = started.elapsed();
    std::thread::sleep(Duration::from_millis(300));
    let mono = cap.mono_start;
    let seen = cap.finish();
    let log = a.log_text();
    assert!(
        gone.is_some(),
        "{} processes of the hook's group outlived --script-timeout:\n{log}",
        group_members(pgid).len()
    );
    // Killed at the timeout counted from the hook's start, by the daemon's own log stamps (the
    // test's view of the start is late by a loaded machine's scheduling).
    let ran = log_stamp(&a, "running hook").expect("hook start logged");
    let killed = log_stamp(&a, "killed the").unwrap_or_else(|| panic!("no kill logged:\n{log}"));
    let took = killed.saturating_sub(ran);
    assert!(
        // The deadline is counted from the loop turn that spawned the hook, the stamp is taken
        // after the spawn (tens of ms on a loaded machine).
        took + Duration::from_millis(50) >= TIMEOUT && took <= TIMEOUT + Duration::from_millis(300),
        "leftovers killed {took:?} after the hook started, timeout {TIMEOUT:?}\n{log}"
    );
    assert!(
        log.contains("left") && log.contains(hook.to_str().expect("path")),
        "no line naming the hook and what it left:\n{log}"
    );
    let (n, gap) = cadence(&seen, "192.0.2.1");
    eprintln!(
        "hook left {left_at_exit} processes; group killed {took:?} after its start (gone from \
         /proc {seen_gone:?} after the test saw it start); {n} adverts, largest gap {gap:?}"
    );
    assert!(n >= 15, "{n} adverts\n{log}");
    assert!(
        gap <= INTERVAL + SLACK,
        "advert gap {gap:?} ending at {:?}\n{log}",
        gap_end(mono, &seen, "192.0.2.1")
    );
    assert_eq!(lab.state(&r1, 51).as_deref(), Some("MASTER"));
    assert_eq!(count(&a, "-> MASTER"), 1, "{log}");
    let d = dump(&lab, &r1, 51);
    assert_eq!(d["detail"]["hooks"]["timed_out"], 1, "{d}");
    assert!(errors(&a).is_empty(), "{:?}", errors(&a));
}

/// Wait (bounded) until VRID `vrid` in `ns` reports `state`.
fn wait_state(lab: &Lab, ns: &str, vrid: u8, state: &str, limit: Duration) -> bool {
    wait_for(limit, || lab.state(ns, vrid).as_deref() == Some(state)).is_some()
}

/// `atropos ARGS` in `ns`, which must succeed.
fn atropos_ok(lab: &Lab, ns: &str, args: &[&str]) {
    let (rc, out, err) = lab.atropos(ns, args);
    assert_eq!(rc, 0, "atropos {args:?}: {out}{err}");
}

/// Two routers for VRID 51 at 100 ms: r1 (priority 200, `extra` flags, e.g. hooks) and r2
/// (priority 100); returns once r1 is master.
fn pair(lab: &mut Lab, extra: &[&str]) -> (Proc, Proc) {
    let [r1, r2] = lab.ns_names();
    let b = lab.vrrpd_line(&r2, "r2", "-i eth0 -v 51 -p 100 -d 100ms -n 192.0.2.254/24");
    let mut args = vec!["-i", "eth0", "-v", "51", "-p", "200", "-d", "100ms", "-n"];
    args.extend_from_slice(extra);
    args.push(VIP);
    let a = lab.vrrpd(&r1, "r1", &args);
    assert!(
        wait_state(lab, &r1, 51, "MASTER", Duration::from_secs(5)),
        "{}",
        a.log_text()
    );
    (a, b)
}

/// Hooks that crash (SIGSEGV, SIGABRT) at each transition: each is logged with its signal and
/// counted as failed, the transitions all happen, and VRID 51 is advertised on the wire without
/// a gap through them (r1 → r2 → r1).
#[test]
fn crashing_hooks_are_logged_and_counted() {
    let t = "crashing_hooks_are_logged_and_counted";
    if !require_root(t) {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let [r1, _] = lab.ns_names();
    let segv = lab.script("segv", "#!/bin/sh\nulimit -c 0\nkill -SEGV $$\n");
    let abrt = lab.script("abrt", "#!/bin/sh\nulimit -c 0\nkill -ABRT $$\n");
    let cap = Capture::start(&lab.switch, "br0");
    let (a, _b) = pair(
        &mut lab,
        &[
            "-U",
            segv.to_str().expect("path"),
            "-D",
            abrt.to_str().expect("path"),
        ],
    );
    let crashed = |n: usize| {
        wait_for(Duration::from_secs(3), || {
            count(&a, "killed by signal") >= n
        })
        .is_some()
    };
    assert!(crashed(1), "{}", a.log_text());
    atropos_ok(&lab, &r1, &["--backup", "-v", "51"]);
    assert!(wait_state(&lab, &r1, 51, "BACKUP", Duration::from_secs(3)));
    assert!(crashed(2), "{}", a.log_text());
    atropos_ok(&lab, &r1, &["--resume", "-v", "51"]);
    assert!(wait_state(&lab, &r1, 51, "MASTER", Duration::from_secs(3)));
    assert!(crashed(3), "{}", a.log_text());
    std::thread::sleep(Duration::from_millis(300));
    let seen = cap.finish();
    let log = a.log_text();
    let segv_s = segv.to_str().expect("path");
    let abrt_s = abrt.to_str().expect("path");
    assert_eq!(
        count(&a, &format!("hook {segv_s} killed by signal 11")),
        2,
        "{log}"
    );
    assert_eq!(
        count(&a, &format!("hook {abrt_s} killed by signal 6")),
        1,
        "{log}"
    );
    let d = dump(&lab, &r1, 51);
    assert_eq!(d["detail"]["hooks"]["failed"], 3, "{d}");
    assert_eq!(d["detail"]["hooks"]["started"], 3, "{d}");
    let gap = wire_gap(&seen, 51);
    eprintln!("3 crashing hooks over r1 -> r2 -> r1: largest gap between VRID 51 adverts {gap:?}");
    assert!(gap <= INTERVAL + SLACK, "gap {gap:?}\n{log}");
    assert!(errors(&a).is_empty(), "{:?}", errors(&a));
}

/// Hooks that go missing (deleted) or lose their execute bit after start: at the next
/// transition a logged error names the file and says why, the hook is counted as failed, the
/// transition happens all the same, and once the files are restored the next transitions run
/// them again. VRID 51 stays advertised on the wire without a gap throughout.
#[test]
fn hooks_missing_or_not_executable_at_run_time() {
    let t = "hooks_missing_or_not_executable_at_run_time";
    if !require_root(t) {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let mut lab = Lab::new(&["r1", "r2"]);
    let [r1, _] = lab.ns_names();
    let marks = lab.dir.join("marks");
    let body = format!("#!/bin/sh\necho \"$1\" >> {}\n", marks.display());
    let up = lab.script("up", &body);
    let down = lab.script("down", &body);
    let (up_s, down_s) = (
        up.to_str().expect("path").to_string(),
        down.to_str().expect("path").to_string(),
    );
    let cap = Capture::start(&lab.switch, "br0");
    let (a, _b) = pair(&mut lab, &["-U", &up_s, "-D", &down_s]);
    let marked =
        |n: usize| wait_for(Duration::from_secs(3), || read(&marks).lines().count() >= n).is_some();
    assert!(marked(1), "{}", a.log_text());
    // Run time: one deleted, one no longer executable.
    std::fs::remove_file(&up).expect("rm up");
    std::fs::set_permissions(&down, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    atropos_ok(&lab, &r1, &["--backup", "-v", "51"]);
    assert!(wait_state(&lab, &r1, 51, "BACKUP", Duration::from_secs(3)));
    atropos_ok(&lab, &r1, &["--resume", "-v", "51"]);
    assert!(wait_state(&lab, &r1, 51, "MASTER", Duration::from_secs(3)));
    let failed = wait_for(Duration::from_secs(3), || {
        count(&a, "could not be started") >= 2
    });
    assert!(failed.is_some(), "{}", a.log_text());
    let log = a.log_text();
    assert!(
        log.contains(&format!(
            "hook {down_s} could not be started: Permission denied"
        )),
        "{log}"
    );
    assert!(
        log.contains(&format!(
            "hook {up_s} could not be started: No such file or directory"
        )),
        "{log}"
    );
    assert_eq!(read(&marks), "MASTER\n", "nothing ran meanwhile");
    // Restored: the next transitions run them.
    std::fs::write(&up, &body).expect("write up");
    std::fs::set_permissions(&up, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&down, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    atropos_ok(&lab, &r1, &["--backup", "-v", "51"]);
    assert!(wait_state(&lab, &r1, 51, "BACKUP", Duration::from_secs(3)));
    assert!(marked(2), "{}", a.log_text());
    atropos_ok(&lab, &r1, &["--resume", "-v", "51"]);
    assert!(wait_state(&lab, &r1, 51, "MASTER", Duration::from_secs(3)));
    assert!(marked(3), "{}", a.log_text());
    std::thread::sleep(Duration::from_millis(300));
    let seen = cap.finish();
    let log = a.log_text();
    assert_eq!(read(&marks), "MASTER\nBACKUP\nMASTER\n", "{log}");
    let d = dump(&lab, &r1, 51);
    assert_eq!(d["detail"]["hooks"]["failed"], 2, "{d}");
    assert_eq!(d["detail"]["transitions"]["MASTER->BACKUP"], 2, "{d}");
    assert_eq!(d["detail"]["transitions"]["BACKUP->MASTER"], 3, "{d}");
    assert_eq!(errors(&a).len(), 2, "{:?}", errors(&a));
    let gap = wire_gap(&seen, 51);
    eprintln!("hooks missing / not executable over 4 transitions: largest gap {gap:?}");
    assert!(gap <= INTERVAL + SLACK, "gap {gap:?}\n{log}");
}
