//! Health trackers on real routers (issue #16): check commands that move the priority or
//! fault the instance, a hanging check killed at its timeout without delaying adverts,
//! start-up without flapping, interface and file tracking. Times are printed (`--nocapture`).

mod common;

use std::time::{Duration, Instant};

use common::peers::require_peers;
use common::*;

const VIP: &str = "192.0.2.254";
/// Advert interval of the routers under test.
const ADVER: Duration = Duration::from_millis(100);

/// The check the tests break: passes while `flag` does not exist.
fn check(flag: &str, opts: &str) -> String {
    format!("{opts},cmd=/usr/bin/test ! -e {flag}")
}

fn start(lab: &mut Lab, ns: &str, tag: &str, prio: &str, extra: &[&str]) -> Proc {
    let mut args = vec!["-i", "eth0", "-v", "51", "-p", prio, "-d", "100ms", "-n"];
    args.extend_from_slice(extra);
    args.push(VIP);
    lab.vrrpd(ns, tag, &args)
}

fn master_of(lab: &Lab, r1: &str, r2: &str) -> Option<usize> {
    match (lab.has_addr(r1, VIP), lab.has_addr(r2, VIP)) {
        (true, false) => Some(1),
        (false, true) => Some(2),
        _ => None,
    }
}

/// Waits up to `limit` for router `which` (1 or 2) to hold the VIP alone and returns how long
/// that took; otherwise panics with the logs of `procs`.
#[track_caller]
fn expect_master(
    lab: &Lab,
    r: (&str, &str),
    which: usize,
    limit: Duration,
    procs: &[&Proc],
) -> Duration {
    wait_for(limit, || master_of(lab, r.0, r.1) == Some(which)).unwrap_or_else(|| {
        let logs: Vec<String> = procs.iter().map(|p| p.log_text()).collect();
        panic!(
            "r{which} not master alone within {limit:?}\n{}",
            logs.join("\n")
        )
    })
}

/// The effective priority `atropos --state --json` reports for the instance in `ns`.
fn effective_priority(lab: &Lab, ns: &str) -> Option<u64> {
    let (_, out, _) = lab.atropos(ns, &["--state", "--json"]);
    let j: serde_json::Value = serde_json::from_str(&out).ok()?;
    j[0]["priority"].as_u64()
}

/// A failing check with a negative weight hands the VIP to the peer within INTERVAL × FALL +
/// the takeover time; RISE successes bring the priority back and preemption returns the VIP.
#[test]
fn failing_check_hands_over_and_rise_brings_it_back() {
    if !require_root("failing_check_hands_over_and_rise_brings_it_back") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let [r1, r2] = lab.ns_names();
    let flag = format!("{}/broken", lab.dir_str());
    let spec = check(&flag, "name=svc,interval=200ms,fall=2,rise=2,weight=-60");
    let seen = format!("{}/hook.log", lab.dir_str());
    let hook = lab.script(
        "hook.sh",
        &format!("#!/bin/sh\necho \"$VRRP_STATE $VRRP_PRIORITY $4\" >> {seen}\n"),
    );
    let hook = hook.to_string_lossy().into_owned();
    let a = start(
        &mut lab,
        &r1,
        "r1",
        "150",
        &["--track-check", &spec, "-D", &hook],
    );
    let b = start(&mut lab, &r2, "r2", "100", &[]);
    expect_master(&lab, (&r1, &r2), 1, Duration::from_secs(5), &[&a]);
    assert!(
        a.log_text()
            .contains("check \"svc\" up (exit 0, 1 of 1): priority 90 -> 150"),
        "{}",
        a.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    std::fs::write(&flag, "").unwrap();
    let took = expect_master(&lab, (&r1, &r2), 2, Duration::from_secs(5), &[&a, &b]);
    // INTERVAL × FALL, plus up to one interval of phase, plus r2's Master_Down_Interval
    // (3 × 100 ms + (256 − 100)/256 × 100 ms = 361 ms) and slack for a loaded machine.
    let bound = Duration::from_millis(200 * 2 + 200 + 361 + 400);
    println!("tracking: check fail (interval 200ms, fall 2, weight -60) -> VIP on the peer after {took:?} (bound {bound:?})");
    assert!(took <= bound, "took {took:?}");
    assert!(
        a.log_text()
            .contains("check \"svc\" down (exit 1, 2 of 2): priority 150 -> 90"),
        "{}",
        a.log_text()
    );
    assert!(
        t0.elapsed() >= Duration::from_millis(200),
        "not before FALL failures"
    );
    // The effective priority, visible to atropos.
    let (_, out, _) = lab.atropos(&r1, &["--state", "--json"]);
    let j: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(j[0]["priority"].as_u64(), Some(90), "{out}");
    let (_, out, _) = lab.atropos(&r1, &["--dump", "--json"]);
    let j: serde_json::Value = serde_json::from_str(&out).expect("json");
    let t = &j[0]["trackers"][0];
    assert_eq!(t["kind"], "check", "{out}");
    assert_eq!(t["name"], "svc");
    assert_eq!(t["status"], "down");
    assert_eq!(t["applied"], "-60");
    assert_eq!(t["last_result"], "exit 1");
    assert!(
        t["failures"].as_u64() >= Some(2) && t["last_secs_ago"].as_f64() < Some(1.0),
        "{out}"
    );
    let (_, text, _) = lab.atropos(&r1, &["--dump"]);
    assert!(
        text.contains("check \"svc\": down (weight -60, applies -60), last: exit 1"),
        "{text}"
    );
    // The hooks get the effective priority.
    assert!(
        wait_for(Duration::from_secs(2), || std::fs::read_to_string(&seen)
            .unwrap_or_default()
            .contains("BACKUP 90 90"))
        .is_some(),
        "{:?}",
        std::fs::read_to_string(&seen)
    );
    // atropos changes the configured part; the penalty stays in force on top of it.
    let (rc, out, err) = lab.atropos(&r1, &["--priority", "140"]);
    assert_eq!(rc, 0, "{out}{err}");
    let (_, out, _) = lab.atropos(&r1, &["--state", "--json"]);
    let j: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(j[0]["priority"].as_u64(), Some(80), "{out}");
    let (rc, _, _) = lab.atropos(&r1, &["--priority", "150"]);
    assert_eq!(rc, 0);
    // RISE: two successes, then preemption.
    std::fs::remove_file(&flag).unwrap();
    let back = expect_master(&lab, (&r1, &r2), 1, Duration::from_secs(5), &[&a, &b]);
    println!("tracking: check repaired (rise 2) -> VIP back on r1 after {back:?}");
    assert!(
        back <= Duration::from_millis(200 * 2 + 200 + 341 + 400),
        "took {back:?}"
    );
    assert!(a
        .log_text()
        .contains("check \"svc\" up (exit 0, 2 of 2): priority 90 -> 150"));
    // One log line per change, never per run.
    assert_eq!(
        a.log_text().matches("check \"svc\" down (exit 1, ").count(),
        1
    );
}

/// Weight 0: a failing check takes the master to Fault (priority 0 first: the peer takes over
/// after its Skew_Time), and back when it passes again.
#[test]
fn weight_zero_check_faults_the_instance() {
    if !require_root("weight_zero_check_faults_the_instance") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let [r1, r2] = lab.ns_names();
    let flag = format!("{}/broken", lab.dir_str());
    let spec = check(&flag, "name=svc,interval=200ms");
    let a = start(&mut lab, &r1, "r1", "150", &["--track-check", &spec]);
    let b = start(&mut lab, &r2, "r2", "100", &[]);
    expect_master(&lab, (&r1, &r2), 1, Duration::from_secs(5), &[&a]);
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&flag, "").unwrap();
    let took = expect_master(&lab, (&r1, &r2), 2, Duration::from_secs(5), &[&a, &b]);
    println!("tracking: weight-0 check fail -> VIP on the peer after {took:?}");
    assert!(
        took <= Duration::from_millis(200 + 200 + 400),
        "took {took:?}"
    );
    assert!(
        a.log_text().contains("MASTER -> FAULT (tracker down)"),
        "{}",
        a.log_text()
    );
    assert!(a
        .log_text()
        .contains("check \"svc\" down (exit 1, 1 of 1): fault (priority 150 -> 0)"));
    assert_eq!(lab.state(&r1, 51).as_deref(), Some("FAULT"));
    std::fs::remove_file(&flag).unwrap();
    expect_master(&lab, (&r1, &r2), 1, Duration::from_secs(5), &[&a]);
}

/// A check that hangs is killed with its process group at its timeout, counts as failing, and
/// never delays an advert: the master's adverts keep their 100 ms spacing while checks hang.
#[test]
fn hanging_check_is_killed_and_never_delays_adverts() {
    if !require_root("hanging_check_is_killed_and_never_delays_adverts") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let [r1, _r2] = lab.ns_names();
    // The check and a child of it hang; both are in the check's process group.
    let marker = format!("{}/hang-marker", lab.dir_str());
    let hang = lab.script(
        "hang.sh",
        &format!("#!/bin/sh\nsleep 30 &\necho $$ > {marker}\nexec sleep 30\n"),
    );
    let spec = format!(
        "name=hang,interval=500ms,timeout=300ms,weight=-10,cmd={}",
        hang.display()
    );
    let a = start(&mut lab, &r1, "r1", "150", &["--track-check", &spec]);
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    let cap = Capture::start(&r1, "eth0");
    std::thread::sleep(Duration::from_secs(3));
    let seen = cap.finish();
    let ours: Vec<_> = seen.iter().filter(|s| prio(s) > 0).collect();
    assert!(ours.len() >= 25, "only {} adverts in 3 s", ours.len());
    let gaps: Vec<Duration> = ours.windows(2).map(|w| w[1].at - w[0].at).collect();
    let worst = gaps.iter().max().copied().unwrap_or_default();
    let jitter = gaps
        .iter()
        .map(|g| g.abs_diff(ADVER))
        .max()
        .unwrap_or_default();
    println!(
        "tracking: {} adverts in 3 s while checks hang; largest gap {worst:?}, worst jitter {jitter:?}",
        ours.len()
    );
    assert!(
        worst < Duration::from_millis(150),
        "an advert was delayed: {worst:?}"
    );
    let log = a.log_text();
    assert!(
        log.contains("check \"hang\" down (timed out after 300ms, 1 of 1): priority 140 -> 140"),
        "{log}"
    );
    // The whole group was killed: the check's pgid has no member left once reaped.
    let pgid: i32 = read(std::path::Path::new(&marker))
        .trim()
        .parse()
        .expect("pgid");
    assert!(
        wait_for(Duration::from_millis(800), || group_members(pgid)
            .is_empty())
        .is_some(),
        "members of the check's group still alive: {:?}",
        group_members(pgid)
    );
    assert_eq!(
        log.matches("check \"hang\" down (timed out after 300ms, ")
            .count(),
        1,
        "{log}"
    );
}

/// Start-up without flapping: a healthy router that starts beside a running master does not
/// take the VIP (its check's bonus applies only after the first result), and a starting
/// router whose weight-0 check fails never becomes master, even with the higher priority.
#[test]
fn startup_does_not_flap() {
    if !require_root("startup_does_not_flap") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2", "r3"]);
    let [r1, r2, r3] = lab.ns_names();
    let flag = format!("{}/broken", lab.dir_str());
    let a = start(&mut lab, &r1, "r1", "150", &[]);
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    // Healthy, lower priority even with its bonus: stays backup.
    let ok = check(&flag, "name=svc,interval=200ms,weight=20");
    let b = start(&mut lab, &r2, "r2", "100", &["--track-check", &ok]);
    // Failing weight-0 check, higher priority: never master.
    std::fs::write(&flag, "").unwrap();
    let bad = check(&flag, "name=svc,interval=200ms");
    let c = start(&mut lab, &r3, "r3", "200", &["--track-check", &bad]);
    std::thread::sleep(Duration::from_secs(2));
    assert!(lab.has_addr(&r1, VIP));
    assert!(!lab.has_addr(&r2, VIP) && !lab.has_addr(&r3, VIP));
    assert!(!b.log_text().contains("-> MASTER"), "{}", b.log_text());
    assert!(!c.log_text().contains("-> MASTER"), "{}", c.log_text());
    assert!(
        b.log_text()
            .contains("check \"svc\" weight 20: runs /usr/bin/test"),
        "{}",
        b.log_text()
    );
    assert!(b
        .log_text()
        .contains("until its first result it counts as down (adds nothing)"));
    assert!(c
        .log_text()
        .contains("until its first result it counts as down (holds Fault)"));
    assert_eq!(lab.state(&r3, 51).as_deref(), Some("FAULT"));
    assert_eq!(lab.state(&r2, 51).as_deref(), Some("BACKUP"));
}

/// Another interface's link: weight 0 faults the instance while it is down; a weighted one
/// moves the priority.
#[test]
fn tracked_interface_down_faults() {
    if !require_root("tracked_interface_down_faults") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let [r1, r2] = lab.ns_names();
    sh(&[
        "ip", "-n", &r1, "link", "add", "up0", "type", "veth", "peer", "name", "up1",
    ]);
    sh(&["ip", "-n", &r1, "link", "set", "up1", "up"]);
    sh(&["ip", "-n", &r1, "link", "set", "up0", "up"]);
    let a = start(&mut lab, &r1, "r1", "150", &["--track-interface", "up0"]);
    let _b = start(&mut lab, &r2, "r2", "100", &[]);
    expect_master(&lab, (&r1, &r2), 1, Duration::from_secs(5), &[&a]);
    sh(&["ip", "-n", &r1, "link", "set", "up0", "down"]);
    let took = expect_master(&lab, (&r1, &r2), 2, Duration::from_secs(3), &[&a]);
    println!("tracking: tracked interface down -> VIP on the peer after {took:?}");
    assert!(
        a.log_text()
            .contains("interface \"up0\" down (link down, 1 of 1): fault"),
        "{}",
        a.log_text()
    );
    sh(&["ip", "-n", &r1, "link", "set", "up0", "up"]);
    expect_master(&lab, (&r1, &r2), 1, Duration::from_secs(5), &[&a]);
    sh(&["ip", "-n", &r1, "link", "del", "up0"]);
    expect_master(&lab, (&r1, &r2), 2, Duration::from_secs(3), &[&a]);
    assert!(
        a.log_text()
            .contains("interface \"up0\" down (no such interface"),
        "{}",
        a.log_text()
    );
}

/// A tracked file: value × weight moves the priority (inotify, no polling); a file that
/// disappears or holds no number is a failure with a clear log line.
#[test]
fn tracked_file_moves_priority() {
    if !require_root("tracked_file_moves_priority") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let [r1, r2] = lab.ns_names();
    let file = format!("{}/weight", lab.dir_str());
    std::fs::write(&file, "0\n").unwrap();
    let arg = format!("{file},weight=-10");
    let a = start(&mut lab, &r1, "r1", "150", &["--track-file", &arg]);
    let b = start(&mut lab, &r2, "r2", "100", &[]);
    expect_master(&lab, (&r1, &r2), 1, Duration::from_secs(5), &[&a]);
    let prio = |lab: &Lab| effective_priority(lab, &r1);
    // 6 × −10 = −60: 90, below the peer.
    let t0 = Instant::now();
    std::fs::write(&file, "6\n").unwrap();
    assert!(
        wait_for(Duration::from_secs(2), || prio(&lab) == Some(90)).is_some(),
        "{}",
        a.log_text()
    );
    println!(
        "tracking: file written -> priority 90 after {:?}",
        t0.elapsed()
    );
    expect_master(&lab, (&r1, &r2), 2, Duration::from_secs(3), &[&a, &b]);
    assert!(
        a.log_text().contains("file \"") && a.log_text().contains("(reads 6): priority 150 -> 90"),
        "{}",
        a.log_text()
    );
    // Deleted: a failure (nothing applied), logged.
    std::fs::remove_file(&file).unwrap();
    assert!(
        wait_for(Duration::from_secs(2), || prio(&lab) == Some(150)).is_some(),
        "{}",
        a.log_text()
    );
    assert!(
        a.log_text()
            .contains("down (is missing, 1 of 1): priority 90 -> 150"),
        "{}",
        a.log_text()
    );
    std::fs::write(&file, "2\n").unwrap();
    assert!(
        wait_for(Duration::from_secs(2), || prio(&lab) == Some(130)).is_some(),
        "{}",
        a.log_text()
    );
    std::fs::write(&file, "lots\n").unwrap();
    assert!(
        wait_for(Duration::from_secs(2), || prio(&lab) == Some(150)).is_some(),
        "{}",
        a.log_text()
    );
    assert!(
        a.log_text()
            .contains("down (does not hold an integer (\"lots\"), 1 of 1): priority 130 -> 150"),
        "{}",
        a.log_text()
    );
}

/// The tracked process, killed by PID on every exit path.
struct Service(std::process::Child);

impl Service {
    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A tracked process: its exit is seen through its pidfd (milliseconds) and hands the VIP
/// over; a new one is found by the /proc rescan (at most 1 s) and the VIP comes back.
#[test]
fn tracked_process_exit_and_restart() {
    if !require_root("tracked_process_exit_and_restart") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let [r1, r2] = lab.ns_names();
    // A copy of sleep with a name of its own (its comm), so no other process matches.
    let name = format!("vtrk{}", std::process::id() % 100_000);
    let prog = format!("{}/{name}", lab.dir_str());
    std::fs::copy("/bin/sleep", &prog).unwrap();
    let spawn = || {
        Service(
            std::process::Command::new(&prog)
                .arg("60")
                .spawn()
                .expect("start the tracked process"),
        )
    };
    let mut svc = spawn();
    let arg = format!("{name},weight=-60");
    let a = start(&mut lab, &r1, "r1", "150", &["--track-process", &arg]);
    let b = start(&mut lab, &r2, "r2", "100", &[]);
    expect_master(&lab, (&r1, &r2), 1, Duration::from_secs(5), &[&a]);
    assert!(
        a.log_text().contains(&format!(
            "process \"{name}\" up (1 running, quorum 1, 1 of 1): priority 90 -> 150"
        )),
        "{}",
        a.log_text()
    );
    assert!(
        a.log_text().contains("follows exits by pidfd"),
        "{}",
        a.log_text()
    );
    // Inside a test network namespace the process connector refuses (ECONNREFUSED): the
    // daemon falls back to the /proc rescan and says so.
    assert!(
        a.log_text().contains(
            "process trackers: the netlink process connector refused (ECONNREFUSED: it answers only in the initial network namespace): new processes are found by looking in /proc every 1s while below quorum, exits by pidfd"
        ),
        "{}",
        a.log_text()
    );
    std::thread::sleep(Duration::from_millis(300));
    let m0 = monotonic();
    svc.stop();
    let took = expect_master(&lab, (&r1, &r2), 2, Duration::from_secs(5), &[&a, &b]);
    let seen = log_stamp(&a, &format!("process \"{name}\" down"))
        .expect("down line")
        .saturating_sub(m0);
    println!("tracking: tracked process killed -> exit seen after {seen:?}, VIP on the peer after {took:?}");
    assert!(
        seen < Duration::from_millis(100),
        "the exit was seen after {seen:?} (pidfd)"
    );
    assert!(
        took <= Duration::from_millis(100 + 361 + 400),
        "took {took:?}"
    );
    assert!(a.log_text().contains(&format!(
        "process \"{name}\" down (0 running, quorum 1, 1 of 1): priority 150 -> 90"
    )));
    let mut svc = spawn();
    let back = expect_master(&lab, (&r1, &r2), 1, Duration::from_secs(5), &[&a]);
    println!("tracking: tracked process restarted -> VIP back on r1 after {back:?}");
    assert!(
        back <= Duration::from_millis(1000 + 341 + 500),
        "took {back:?}"
    );
    svc.stop();
}

/// Process arguments (keepalived's param_match): two processes with the same name and different
/// arguments; `args=` exact, `match=initial` (the last argument a prefix) and `match=partial`
/// (the first arguments) each count only the ones they describe.
#[test]
fn tracked_process_arguments() {
    if !require_root("tracked_process_arguments") {
        return;
    }
    let mut lab = Lab::new(&["r1"]);
    let [r1] = lab.ns_names();
    let name = format!("vtra{}", std::process::id() % 100_000);
    let prog = format!("{}/{name}", lab.dir_str());
    std::fs::copy("/bin/sleep", &prog).unwrap();
    let spawn = |arg: &str| {
        Service(
            std::process::Command::new(&prog)
                .arg(arg)
                .spawn()
                .expect("start the tracked process"),
        )
    };
    let mut short = spawn("60");
    let exact = format!("{name},weight=-10,args=3600");
    let initial = format!("{name},weight=-20,match=initial,args=36");
    let partial = format!("{name},weight=-40,match=partial,args=60");
    let by_path = format!("{prog},weight=-80,args=");
    let a = start(
        &mut lab,
        &r1,
        "r1",
        "200",
        &[
            "--track-process",
            &exact,
            "--track-process",
            &initial,
            "--track-process",
            &partial,
            "--track-process",
            &by_path,
        ],
    );
    // Only "NAME 60" runs: exact 3600 and initial 36 are down, partial 60 up; nothing runs
    // without arguments: 200 - 10 - 20 - 80 = 90.
    let prio = |lab: &Lab| effective_priority(lab, &r1);
    assert!(
        wait_for(Duration::from_secs(3), || prio(&lab) == Some(90)).is_some(),
        "priority {:?}\n{}",
        prio(&lab),
        a.log_text()
    );
    // "NAME 3600" starts: exact and initial come up (found by the rescan, within 1 s): 120.
    let mut long = spawn("3600");
    assert!(
        wait_for(Duration::from_secs(3), || prio(&lab) == Some(120)).is_some(),
        "priority {:?}\n{}",
        prio(&lab),
        a.log_text()
    );
    // "NAME 60" exits: partial goes down, the others stay: 80.
    short.stop();
    assert!(
        wait_for(Duration::from_secs(2), || prio(&lab) == Some(80)).is_some(),
        "priority {:?}\n{}",
        prio(&lab),
        a.log_text()
    );
    let log = a.log_text();
    for line in [
        format!("process \"{name} 3600\" up (1 running, quorum 1, 1 of 1)"),
        format!("process \"{name} 36\" up (1 running, quorum 1, 1 of 1)"),
        format!("process \"{name} 60\" down (0 running, quorum 1, 1 of 1): priority 120 -> 80"),
        format!("process \"{name} 36\" weight -20: needs 1 running with arguments (initial match)"),
        format!("process \"{prog}\" weight -80: needs 1 running without arguments"),
    ] {
        assert!(log.contains(&line), "missing {line:?}\n{log}");
    }
    long.stop();
}

/// Tracking with `-M`: a failing weight-0 check on one member faults it, and the host group
/// pulls the other member to backup too: the peer holds both VIPs; repaired, both come back.
#[test]
fn tracker_fault_pulls_the_host_group() {
    if !require_root("tracker_fault_pulls_the_host_group") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let [r1, r2] = lab.ns_names();
    let flag = format!("{}/broken", lab.dir_str());
    let spec = check(&flag, "name=svc,interval=200ms");
    let vips = ["192.0.2.251", "192.0.2.252"];
    let mut procs = Vec::new();
    for (ns, prio) in [(&r1, "150"), (&r2, "100")] {
        for (vrid, vip) in [("51", vips[0]), ("52", vips[1])] {
            let mut args = vec![
                "-i", "eth0", "-v", vrid, "-p", prio, "-d", "100ms", "-n", "-M", "2",
            ];
            if ns == &r1 && vrid == "51" {
                args.extend(["--track-check", spec.as_str()]);
            }
            args.push(vip);
            procs.push(lab.vrrpd(ns, &format!("{ns}-{vrid}"), &args));
        }
    }
    let holds = |lab: &Lab, ns: &str| vips.iter().all(|v| lab.has_addr(ns, v));
    let none = |lab: &Lab, ns: &str| vips.iter().all(|v| !lab.has_addr(ns, v));
    let logs = |procs: &[Proc]| {
        procs
            .iter()
            .map(|p| p.log_text())
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        wait_for(Duration::from_secs(6), || holds(&lab, &r1)
            && none(&lab, &r2))
        .is_some(),
        "{}",
        logs(&procs)
    );
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&flag, "").unwrap();
    let took = wait_for(Duration::from_secs(5), || {
        holds(&lab, &r2) && none(&lab, &r1)
    })
    .unwrap_or_else(|| panic!("group did not follow\n{}", logs(&procs)));
    println!("tracking: weight-0 check on one -M member -> both VIPs on the peer after {took:?}");
    assert!(procs[0]
        .log_text()
        .contains("MASTER -> FAULT (tracker down)"));
    std::fs::remove_file(&flag).unwrap();
    assert!(
        wait_for(Duration::from_secs(6), || holds(&lab, &r1)
            && none(&lab, &r2))
        .is_some(),
        "{}",
        logs(&procs)
    );
}

/// keepalived's `vrrp_script` block equivalent to `spec` (interval 1, fall 2, rise 2,
/// weight -60), in a VRRPv3 instance with 1 s adverts.
fn keepalived_tracked(prio: u8, flag: Option<&str>) -> String {
    let (script, track) = match flag {
        Some(f) => (
            format!(
                "vrrp_script chk {{\n    script \"/usr/bin/test ! -e {f}\"\n    interval 1\n    \
                 fall 2\n    rise 2\n    weight -60\n}}\n"
            ),
            "    track_script {\n        chk\n    }\n",
        ),
        None => (String::new(), ""),
    };
    format!(
        "{script}vrrp_instance VI {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         version 3\n    priority {prio}\n    advert_int 1\n{track}    virtual_ipaddress {{\n        \
         {VIP}/24 dev eth0\n    }}\n    notify NOTIFY\n}}\n"
    )
}

/// Side by side with keepalived: the same failing check (`vrrp_script` interval 1, fall 2,
/// rise 2, weight -60 against `--track-check interval=1s,fall=2,rise=2,weight=-60`) on the
/// master of a pair with 1 s adverts: both hand the VIP over and take it back, and both times
/// are printed.
#[test]
fn side_by_side_with_keepalived_vrrp_script() {
    if !require_peers("side_by_side_with_keepalived_vrrp_script") {
        return;
    }
    let mut times = Vec::new();
    for who in ["vrrpd", "keepalived"] {
        let mut lab = Lab::new(&["r1", "r2"]);
        let [r1, r2] = lab.ns_names();
        let flag = format!("{}/broken", lab.dir_str());
        let spec = check(&flag, "name=chk,interval=1s,fall=2,rise=2,weight=-60");
        let mut _procs = Vec::new();
        let mut _kas = Vec::new();
        if who == "vrrpd" {
            for (ns, tag, prio, track) in [(&r1, "r1", "150", true), (&r2, "r2", "100", false)] {
                let mut args = vec!["-i", "eth0", "-v", "51", "-p", prio, "-d", "1", "-n"];
                if track {
                    args.extend(["--track-check", spec.as_str()]);
                }
                args.push(VIP);
                _procs.push(lab.vrrpd(ns, tag, &args));
            }
        } else {
            _kas.push(lab.keepalived(&r1, "ka1", &keepalived_tracked(150, Some(&flag))));
            _kas.push(lab.keepalived(&r2, "ka2", &keepalived_tracked(100, None)));
        }
        let logs = || {
            _procs
                .iter()
                .map(|p| p.log_text())
                .chain(_kas.iter().map(|k| k.log()))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert!(
            wait_for(Duration::from_secs(15), || master_of(&lab, &r1, &r2)
                == Some(1))
            .is_some(),
            "{who}: r1 never master\n{}",
            logs()
        );
        // Settle into the steady state (keepalived's first script result, adverts heard).
        std::thread::sleep(Duration::from_millis(2500));
        assert_eq!(master_of(&lab, &r1, &r2), Some(1), "{who}\n{}", logs());
        let m0 = monotonic();
        std::fs::write(&flag, "").unwrap();
        let over = wait_for(Duration::from_secs(15), || {
            master_of(&lab, &r1, &r2) == Some(2)
        })
        .unwrap_or_else(|| panic!("{who}: no handover\n{}", logs()));
        if let Some(p) = _procs.first() {
            let seen = log_stamp(p, "check \"chk\" down (").map(|t| t.saturating_sub(m0));
            // The last "-> MASTER" of the peer (it may have been master before r1 came up).
            let took = _procs.get(1).and_then(|b| {
                b.log_text()
                    .lines()
                    .rfind(|l| l.contains("-> MASTER"))
                    .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
                    .map(|t| Duration::from_secs_f64(t).saturating_sub(m0))
            });
            println!("tracking: side by side: vrrpd: check down after {seen:?}, peer master after {took:?}");
        }
        std::thread::sleep(Duration::from_millis(500));
        std::fs::remove_file(&flag).unwrap();
        let back = wait_for(Duration::from_secs(15), || {
            master_of(&lab, &r1, &r2) == Some(1)
        })
        .unwrap_or_else(|| panic!("{who}: VIP not back\n{}", logs()));
        println!("tracking: side by side: {who}: check fails -> VIP on the peer after {over:?}; repaired -> back after {back:?}");
        times.push((who, over, back));
    }
    // Same decisions, and both within the same bound: the check's FALL runs (up to INTERVAL ×
    // FALL after the break, the runs' phase being random), then the peer's Master_Down_Interval
    // (3 × 1 s + (256 − 100)/256 s = 3.61 s) counted from the last advert it yielded to; one
    // sample each, so which of the two is faster is chance, not a finding.
    let bound = Duration::from_millis(2000 + 3610 + 700);
    for (who, over, back) in &times {
        assert!(*over <= bound, "{who}: {over:?} > {bound:?}: {times:?}");
        assert!(*back <= bound, "{who}: {back:?} > {bound:?}: {times:?}");
    }
}

/// A check whose program is missing, or crashes, counts as failing (keepalived counts a
/// program it cannot exec as a success), with one clear log line.
#[test]
fn missing_or_crashing_check_counts_as_failing() {
    if !require_root("missing_or_crashing_check_counts_as_failing") {
        return;
    }
    let mut lab = Lab::new(&["r1"]);
    let [r1] = lab.ns_names();
    let crash = lab.script("crash.sh", "#!/bin/sh\nkill -SEGV $$\n");
    let missing = "name=gone,interval=200ms,weight=-10,cmd=/nonexistent/check".to_string();
    let crashing = format!(
        "name=crash,interval=200ms,weight=-20,cmd={}",
        crash.display()
    );
    let a = start(
        &mut lab,
        &r1,
        "r1",
        "150",
        &["--track-check", &missing, "--track-check", &crashing],
    );
    let prio = || effective_priority(&lab, &r1);
    assert!(
        wait_for(Duration::from_secs(3), || prio() == Some(120)).is_some(),
        "{}",
        a.log_text()
    );
    std::thread::sleep(Duration::from_millis(600));
    let log = a.log_text();
    assert!(
        log.contains(
            "check \"gone\" down (cannot run /nonexistent/check: No such file or directory"
        ),
        "{log}"
    );
    assert!(
        log.contains("check \"crash\" down (killed by signal 11, 1 of 1)"),
        "{log}"
    );
    assert_eq!(log.matches("(os error 2), 1 of 1)").count(), 1, "{log}");
}

/// keepalived's `vrrp_track_process` block equivalent to `--track-process NAME,weight=-60`
/// (quorum 1), in a VRRPv3 instance with 1 s adverts; no tracker when `name` is `None`.
fn keepalived_process(prio: u8, name: Option<&str>) -> String {
    let (block, track) = match name {
        Some(n) => (
            format!(
                "vrrp_track_process trk {{\n    process {n}\n    weight -60\n    quorum 1\n}}\n"
            ),
            "    track_process {\n        trk\n    }\n",
        ),
        None => (String::new(), ""),
    };
    format!(
        "{block}vrrp_instance VI {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         version 3\n    priority {prio}\n    advert_int 1\n{track}    virtual_ipaddress {{\n        \
         {VIP}/24 dev eth0\n    }}\n    notify NOTIFY\n}}\n"
    )
}

/// Side by side with keepalived's `track_process` (weight -60, quorum 1, against
/// `--track-process NAME,weight=-60`) on the master of a pair with 1 s adverts, the tracked
/// process running from the start, then killed, then started again. Three runs:
/// - vrrpd under `ip netns exec`: the connector is refused, the /proc rescan takes over; the
///   VIP leaves with the process and comes back with it;
/// - keepalived started as `keepalived -s NS` (it opens the connector before entering the
///   namespace): the same decisions;
/// - keepalived under `ip netns exec`: the listen request is refused ("Connection refused") and
///   keepalived never counts the process: the penalty applies from the start, the peer holds
///   the VIP although the process runs, and neither the kill nor the restart changes anything.
///
/// The times of every run are printed.
#[test]
fn side_by_side_with_keepalived_track_process() {
    if !require_peers("side_by_side_with_keepalived_track_process") {
        return;
    }
    let mut times = Vec::new();
    for who in ["vrrpd", "keepalived -s NS", "keepalived in ip netns exec"] {
        let mut lab = Lab::new(&["r1", "r2"]);
        let [r1, r2] = lab.ns_names();
        let name = format!("kptrk{}", std::process::id() % 100_000);
        let prog = format!("{}/{name}", lab.dir_str());
        std::fs::copy("/bin/sleep", &prog).unwrap();
        let spawn = || {
            Service(
                std::process::Command::new(&prog)
                    .arg("120")
                    .spawn()
                    .expect("start the tracked process"),
            )
        };
        let mut svc = spawn();
        let mut procs = Vec::new();
        let mut kas = Vec::new();
        match who {
            "vrrpd" => {
                let arg = format!("{name},weight=-60");
                for (ns, tag, prio, track) in [(&r1, "r1", "150", true), (&r2, "r2", "100", false)]
                {
                    let mut args = vec!["-i", "eth0", "-v", "51", "-p", prio, "-d", "1", "-n"];
                    if track {
                        args.extend(["--track-process", arg.as_str()]);
                    }
                    args.push(VIP);
                    procs.push(lab.vrrpd(ns, tag, &args));
                }
            }
            "keepalived -s NS" => {
                kas.push(lab.keepalived_entering(
                    &r1,
                    "ka1",
                    &keepalived_process(150, Some(&name)),
                ));
                kas.push(lab.keepalived_entering(&r2, "ka2", &keepalived_process(100, None)));
            }
            _ => {
                kas.push(lab.keepalived(&r1, "ka1", &keepalived_process(150, Some(&name))));
                kas.push(lab.keepalived(&r2, "ka2", &keepalived_process(100, None)));
            }
        }
        let logs = |procs: &[Proc], kas: &[common::peers::Keepalived]| {
            procs
                .iter()
                .map(|p| p.log_text())
                .chain(kas.iter().map(|k| k.log()))
                .collect::<Vec<_>>()
                .join("\n")
        };
        let broken = who == "keepalived in ip netns exec";
        // With the process running the tracker is up and r1 (150) is master; keepalived that
        // cannot count it runs r1 at 150 - 60 = 90 and the peer (100) is master.
        let first = if broken { 2 } else { 1 };
        assert!(
            wait_for(Duration::from_secs(15), || master_of(&lab, &r1, &r2)
                == Some(first))
            .is_some(),
            "{who}: r{first} never master\n{}",
            logs(&procs, &kas)
        );
        std::thread::sleep(Duration::from_millis(2500));
        assert_eq!(
            master_of(&lab, &r1, &r2),
            Some(first),
            "{who}\n{}",
            logs(&procs, &kas)
        );
        svc.stop();
        let over = if broken {
            std::thread::sleep(Duration::from_secs(5));
            assert_eq!(master_of(&lab, &r1, &r2), Some(2), "{who}");
            None
        } else {
            Some(
                wait_for(Duration::from_secs(15), || {
                    master_of(&lab, &r1, &r2) == Some(2)
                })
                .unwrap_or_else(|| panic!("{who}: no handover\n{}", logs(&procs, &kas))),
            )
        };
        std::thread::sleep(Duration::from_millis(500));
        let mut svc = spawn();
        let back = if broken {
            std::thread::sleep(Duration::from_secs(6));
            // The decision never changed: the process ran, exited and ran again, and the peer
            // held the VIP throughout.
            assert_eq!(
                master_of(&lab, &r1, &r2),
                Some(2),
                "{who}\n{}",
                logs(&procs, &kas)
            );
            assert!(
                kas[0].log().contains("Connection refused"),
                "{who}: keepalived did not say the connector was refused\n{}",
                kas[0].log()
            );
            None
        } else {
            Some(
                wait_for(Duration::from_secs(15), || {
                    master_of(&lab, &r1, &r2) == Some(1)
                })
                .unwrap_or_else(|| panic!("{who}: VIP not back\n{}", logs(&procs, &kas))),
            )
        };
        println!(
            "tracking: side by side track_process: {who}: process killed -> VIP on the peer after {over:?}; restarted -> back after {back:?}"
        );
        svc.stop();
        for k in &mut kas {
            k.stop();
        }
        times.push((who, over, back));
    }
    // Process exit seen at once (pidfd / connector), then up to one advert interval (1 s) for
    // the lower priority to go out and the peer's Master_Down_Interval (3.61 s) from the last
    // advert it yielded to; the return: vrrpd's rescan (≤ 1 s) or keepalived's connector, then
    // r1's Master_Down_Interval (3.41 s) as it waits out the lower adverts; margin for a loaded
    // machine.
    let bound = Duration::from_millis(1000 + 1000 + 3610 + 700);
    for (who, over, back) in &times {
        for t in [over, back].into_iter().flatten() {
            assert!(*t <= bound, "{who}: {t:?} > {bound:?}: {times:?}");
        }
    }
}

/// Start-up without flapping, the case where it would show: a router with the higher
/// configured priority (170) starts beside a running master (150) with a check that takes 1 s
/// to fail (weight -40). Were the check counted as up before its first result, the newcomer
/// would preempt at once (170 > 150) and give the VIP back a second later; counted as down it
/// stays at 130, backup throughout, and the master never loses the VIP.
#[test]
fn startup_with_a_slow_failing_check_does_not_take_the_vip() {
    if !require_root("startup_with_a_slow_failing_check_does_not_take_the_vip") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let [r1, r2] = lab.ns_names();
    let a = start(&mut lab, &r1, "r1", "150", &[]);
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    let slow = lab.script("slow.sh", "#!/bin/sh\nsleep 1\nexit 1\n");
    let spec = format!(
        "name=slow,interval=2s,timeout=2s,weight=-40,cmd={}",
        slow.display()
    );
    let b = start(&mut lab, &r2, "r2", "170", &["--track-check", &spec]);
    // Sample who holds the VIP every 20 ms through the first result and well past it.
    let t0 = Instant::now();
    let mut lost = None;
    while t0.elapsed() < Duration::from_secs(3) {
        if !lab.has_addr(&r1, VIP) || lab.has_addr(&r2, VIP) {
            lost.get_or_insert(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = b.log_text();
    assert!(
        lost.is_none(),
        "the VIP moved at {lost:?}\n{log}\n{}",
        a.log_text()
    );
    assert!(!log.contains("-> MASTER"), "{log}");
    assert!(
        log.contains("check \"slow\" down (exit 1, 1 of 1): priority 130 -> 130"),
        "{log}"
    );
    assert_eq!(effective_priority(&lab, &r2), Some(130));
}

/// A check program that stops being executable (chmod 644) fails (unlike keepalived, where an
/// exec failure counts as a success), logged once; with weight 0 the master goes to Fault and
/// sends priority 0 first, so the peer takes over after its Skew_Time, not Master_Down.
#[test]
fn non_executable_check_faults_and_priority_zero_goes_first() {
    if !require_root("non_executable_check_faults_and_priority_zero_goes_first") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let mut lab = Lab::new(&["r1", "r2"]);
    let [r1, r2] = lab.ns_names();
    let ok = lab.script("ok.sh", "#!/bin/sh\nexit 0\n");
    let spec = format!("name=svc,interval=200ms,cmd={}", ok.display());
    let a = start(&mut lab, &r1, "r1", "150", &["--track-check", &spec]);
    let b = start(&mut lab, &r2, "r2", "100", &[]);
    expect_master(&lab, (&r1, &r2), 1, Duration::from_secs(5), &[&a]);
    std::thread::sleep(Duration::from_millis(500));
    let cap = Capture::start(&r2, "eth0");
    std::thread::sleep(Duration::from_millis(300));
    std::fs::set_permissions(&ok, std::fs::Permissions::from_mode(0o644)).unwrap();
    let took = expect_master(&lab, (&r1, &r2), 2, Duration::from_secs(3), &[&a, &b]);
    std::thread::sleep(Duration::from_millis(800));
    let seen = cap.finish();
    let r1_addr: std::net::IpAddr = lab.host(0).v4.parse().unwrap();
    let zero = seen.iter().position(|s| s.src == r1_addr && prio(s) == 0);
    let first_b = seen.iter().position(|s| s.src != r1_addr && prio(s) == 100);
    let log = a.log_text();
    println!("tracking: check made non-executable -> VIP on the peer after {took:?}");
    assert!(
        matches!((zero, first_b), (Some(z), Some(f)) if z < f),
        "r1's priority-0 advert must come before r2's first (zero {zero:?}, first {first_b:?})\n{log}"
    );
    if let (Some(z), Some(f)) = (zero, first_b) {
        let gap = seen[f].at - seen[z].at;
        println!("tracking: priority 0 -> peer's first advert after {gap:?}");
        // Skew_Time of priority 100 with 100 ms adverts: (256 - 100) / 256 × 0.1 s = 61 ms;
        // far below its Master_Down_Interval (361 ms); margin for a loaded machine.
        assert!(gap < Duration::from_millis(250), "{gap:?}");
    }
    let down = "check \"svc\" down (cannot run ";
    assert!(
        log.contains(down) && log.contains("Permission denied"),
        "{log}"
    );
    assert!(log.contains(": fault (priority 150 -> 0)"), "{log}");
    // Logged once, not once per run (several runs failed by now; --debug shows each run, the
    // change line is the one with the count).
    assert_eq!(log.matches("(os error 13), 1 of 1)").count(), 1, "{log}");
    assert_eq!(lab.state(&r1, 51).as_deref(), Some("FAULT"));
    std::fs::set_permissions(&ok, std::fs::Permissions::from_mode(0o755)).unwrap();
    expect_master(&lab, (&r1, &r2), 1, Duration::from_secs(3), &[&a, &b]);
}
