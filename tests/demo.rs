//! `scripts/demo`, the README's first command, run end to end: `scripts/demo --non-interactive
//! --quick` with this build's binaries. Needs root (network namespaces): without it the test
//! prints a loud SKIPPED line and passes, except under `CI=true`, where it fails.
//!
//! Checked: exit status 0; one result line per event with a takeover time and a lost-ping count;
//! no lost ping on the SIGTERM handover (the daemon's lossless planned stop) and exit status 0
//! of the stopped daemon; every takeover within bounds near its RFC 9568 value; the atropos
//! step ran (a skipped one fails); the whole run
//! within 60 s; and nothing left behind: no namespace with the demo's prefix (`vd<PID>-`) and no
//! temporary directory.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The whole run must end within this (the demo takes about 10 s at 100 ms; the issue allows 60).
const RUN_LIMIT: Duration = Duration::from_secs(60);
/// Past [`RUN_LIMIT`]: SIGTERM (the demo cleans up), then SIGKILL after this much more.
const TERM_GRACE: Duration = Duration::from_secs(15);

mod common;

use common::require_root;

/// The namespaces whose name starts with `prefix`.
fn namespaces(prefix: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .stdin(Stdio::null())
        .output()
        .expect("cannot run ip netns list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// The demo's temporary directories for `prefix`.
fn temp_dirs(prefix: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    for dir in [std::env::temp_dir(), PathBuf::from("/tmp")] {
        if let Ok(rd) = fs::read_dir(&dir) {
            for e in rd.flatten() {
                if e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{prefix}demo."))
                {
                    v.push(e.path());
                }
            }
        }
    }
    v.sort();
    v.dedup();
    v
}

/// Last resort after a timeout: what the demo's own cleanup would have done.
fn remove_lab(prefix: &str) {
    for ns in namespaces(prefix) {
        if let Ok(out) = Command::new("ip").args(["netns", "pids", &ns]).output() {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                if let Ok(pid) = pid.parse::<i32>() {
                    // SAFETY: plain kill(2) of a process in the demo's namespace, by PID.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    }
    for d in temp_dirs(prefix) {
        let _ = fs::remove_dir_all(d);
    }
}

/// One event's result line: `result ID: takeover N ms, client lost N pings; NOTES`.
#[derive(Debug)]
struct Outcome {
    takeover_ms: u64,
    lost: u64,
    notes: String,
}

fn outcome(output: &str, id: &str) -> Option<Outcome> {
    let tag = format!("result {id}: takeover ");
    let line = output.lines().find(|l| l.contains(&tag))?;
    let rest = &line[line.find(&tag)? + tag.len()..];
    let (ms, rest) = rest.split_once(" ms, client lost ")?;
    let (lost, notes) = rest.split_once(" pings")?;
    Some(Outcome {
        takeover_ms: ms.trim().parse().ok()?,
        lost: lost.trim().parse().ok()?,
        notes: notes.trim_start_matches(';').trim().to_string(),
    })
}

#[test]
fn demo_runs_every_event_and_leaves_nothing() {
    if !require_root("demo_runs_every_event_and_leaves_nothing") {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let log_path = std::env::temp_dir().join(format!("vrrpd-demo-test-{}.out", std::process::id()));
    let log = File::create(&log_path).expect("cannot create the output file");
    let start = Instant::now();
    let mut child = Command::new(root.join("scripts/demo"))
        .args(["--non-interactive", "--quick"])
        .current_dir(root)
        .env("VRRPD_BIN", env!("CARGO_BIN_EXE_vrrpd"))
        .env("ATROPOS_BIN", env!("CARGO_BIN_EXE_atropos"))
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .expect("cannot run scripts/demo");
    let pid = child.id();
    let prefix = format!("vd{pid}-");

    let mut timed_out = false;
    let mut termed_at: Option<Instant> = None;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for scripts/demo") {
            break st;
        }
        let elapsed = start.elapsed();
        if elapsed > RUN_LIMIT && termed_at.is_none() {
            timed_out = true;
            // SAFETY: kill(2) of our own child, by PID: SIGTERM lets the demo clean up.
            unsafe { libc::kill(pid as i32, libc::SIGTERM) };
            termed_at = Some(Instant::now());
        }
        if termed_at.is_some_and(|t| t.elapsed() > TERM_GRACE) {
            let _ = child.kill();
            break child.wait().expect("wait for scripts/demo");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = start.elapsed();
    let output = fs::read_to_string(&log_path).unwrap_or_default();
    let _ = fs::remove_file(&log_path);
    eprintln!(
        "--- scripts/demo --non-interactive --quick ({elapsed:.1?}, {status}) ---\n{output}---"
    );

    // Nothing left behind, checked before anything else can fail (and then removed regardless).
    let left_ns = namespaces(&prefix);
    let left_dirs = temp_dirs(&prefix);
    if timed_out || !left_ns.is_empty() || !left_dirs.is_empty() {
        remove_lab(&prefix);
    }
    assert!(!timed_out, "scripts/demo did not end within {RUN_LIMIT:?}");
    assert!(left_ns.is_empty(), "namespaces left behind: {left_ns:?}");
    assert!(
        left_dirs.is_empty(),
        "temporary directories left behind: {left_dirs:?}"
    );

    assert!(status.success(), "scripts/demo failed: {status}");
    assert!(elapsed < RUN_LIMIT, "the demo took {elapsed:?}");

    // Each takeover near its RFC 9568 value at 100 ms (r1 priority 150, r2 100):
    // Master_Down_Interval 360.9 ms for r2, 341.4 ms for r1, Skew_Time 60.9 ms for r2.
    const MDI_R2: u64 = 361;
    const MDI_R1: u64 = 341;
    const SKEW_R2: u64 = 61;
    let bounds: [(&str, u64, u64, &str); 8] = [
        // r1's last advert came up to one interval before the kill.
        (
            "1",
            MDI_R2 - 110,
            MDI_R2 + 100,
            "kill -9: r2 after its Master_Down_Interval",
        ),
        // From the restart command: the process start-up (bash, ip netns exec, the daemon's
        // sockets and its log readers) comes on top, loose on purpose: under the full suite's
        // load on 2 cores that start-up alone took 190 ms. The lower bound is the protocol's.
        (
            "2",
            MDI_R1 - 10,
            MDI_R1 + 400,
            "restart: r1 preempts after its Master_Down_Interval",
        ),
        (
            "3",
            0,
            SKEW_R2 + 100,
            "SIGTERM: r2 after Skew_Time (priority 0)",
        ),
        ("4a", MDI_R1 - 10, MDI_R1 + 400, "restart: as event 2"),
        (
            "4b",
            MDI_R2 - 110,
            MDI_R2 + 100,
            "link down: r2 after its Master_Down_Interval",
        ),
        // From the link-up command: link detection and re-reading the interface come on top
        // (loose for the same load).
        (
            "4c",
            MDI_R1 - 10,
            MDI_R1 + 250,
            "link up: r1 preempts after its Master_Down_Interval",
        ),
        // atropos's own start and request come on top.
        (
            "5a",
            0,
            SKEW_R2 + 140,
            "atropos --backup: r2 after Skew_Time (priority 0)",
        ),
        // Held in Backup while its down timer ran out: master at once (measured ~10 ms); at most
        // a down interval.
        (
            "5b",
            0,
            MDI_R1 + 150,
            "atropos --resume: r1 takes back over",
        ),
    ];
    let mut outcomes = Vec::new();
    for (id, lo, hi, what) in bounds {
        if id.starts_with('5') && output.contains("atropos step skipped") {
            // atropos is part of this build: a skipped step is a failure, never a pass.
            panic!("the demo skipped its atropos step (events 5a, 5b)");
        }
        let o = outcome(&output, id).unwrap_or_else(|| {
            panic!("no result line with a takeover time and lost pings for event {id}")
        });
        assert!(
            (lo..=hi).contains(&o.takeover_ms),
            "event {id} ({what}): takeover {} ms, want [{lo}, {hi}] ms",
            o.takeover_ms
        );
        outcomes.push((id, o));
    }
    // The planned stop (SIGTERM) is a lossless handover: the old master keeps the VIP until it
    // hears the new one, then exits 0.
    let (_, term) = outcomes.iter().find(|(id, _)| *id == "3").unwrap();
    assert!(
        term.notes.contains("exited with status 0"),
        "after SIGTERM the daemon did not exit 0: {}",
        term.notes
    );
    assert_eq!(
        term.lost, 0,
        "the SIGTERM handover lost {} pings (it must be lossless)",
        term.lost
    );
}

/// `scripts/demo` passes shellcheck (needs no root; shellcheck is required under `CI=true`).
#[test]
fn demo_script_passes_shellcheck() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/demo");
    let out = match Command::new("shellcheck")
        .arg(&script)
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(e) => {
            common::skip(
                "demo_script_passes_shellcheck",
                &format!("shellcheck not available ({e}; apt-get install shellcheck)"),
            );
            return;
        }
    };
    assert!(
        out.status.success(),
        "shellcheck scripts/demo:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
