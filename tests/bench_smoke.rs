//! `scripts/bench --quick` as a smoke test: runs the quick benchmark into a temporary directory and
//! checks that every output file exists and holds sane numbers. Root only (a loud SKIPPED line
//! otherwise; under CI=true a failure). Bounded: after the time limit the script's process group
//! (the group it leads, started here) gets SIGTERM, then SIGKILL.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const LIMIT: Duration = Duration::from_secs(180);

mod common;

fn root_or_skip(test: &str) -> bool {
    common::require_root(test)
}

fn signal_group(pgid: i32, sig: i32) {
    // SAFETY: kill(2) on the process group led by the child this test started.
    unsafe { libc::kill(-pgid, sig) };
}

fn run_quick(out: &Path, log: &Path) -> Result<(), String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let logf = std::fs::File::create(log).map_err(|e| e.to_string())?;
    let mut child = Command::new(root.join("scripts/bench"))
        .args(["--quick", "--out"])
        .arg(out)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(logf.try_clone().map_err(|e| e.to_string())?)
        .stderr(logf)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start scripts/bench: {e}"))?;
    let pid = child.id() as i32;
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().map_err(|e| e.to_string())? {
            return if st.success() {
                Ok(())
            } else {
                Err(format!("scripts/bench --quick failed: {st}"))
            };
        }
        if start.elapsed() > LIMIT {
            signal_group(pid, libc::SIGTERM);
            let grace = Instant::now();
            while grace.elapsed() < Duration::from_secs(20) {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            signal_group(pid, libc::SIGKILL);
            let _ = child.wait();
            return Err(format!("scripts/bench --quick took more than {LIMIT:?}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn num(row: &Value, key: &str) -> f64 {
    row[key]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} missing in {row}"))
}

fn rows<'a>(r: &'a Value, key: &str) -> Vec<&'a Value> {
    r[key]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

#[test]
fn quick_bench_writes_sane_results() {
    if !root_or_skip("quick_bench_writes_sane_results") {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tracked = std::fs::read(root.join("BENCHMARKS.md")).ok();
    let out = std::env::temp_dir().join(format!("vrrpd-bench-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let log = std::env::temp_dir().join(format!("vrrpd-bench-smoke-{}.log", std::process::id()));
    let result = run_quick(&out, &log);
    let log_text = std::fs::read_to_string(&log).unwrap_or_default();
    if let Err(e) = result {
        panic!("{e}\n--- output\n{log_text}");
    }
    assert_eq!(
        std::fs::read(root.join("BENCHMARKS.md")).ok(),
        tracked,
        "a quick run must not touch BENCHMARKS.md"
    );
    for f in [
        "results.json",
        "failover.csv",
        "jitter.csv",
        "startup.csv",
        "resources.csv",
        "hostgroup.csv",
        "tracking.csv",
        "BENCHMARKS.md",
    ] {
        let p = out.join(f);
        let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "{} missing or empty\n{log_text}", p.display());
    }
    let r: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    assert_eq!(r["meta"]["quick"], Value::Bool(true));
    assert_eq!(r["meta"]["finished"], Value::Bool(true));

    // Failover, vrrpd pair at 100 ms: B's Master_Down_Interval is 360.9 ms, its Skew_Time 60.9 ms.
    for ev in ["kill", "term", "link"] {
        let row = rows(&r, "failover")
            .into_iter()
            .find(|x| x["a"] == "vrrpd" && x["b"] == "vrrpd" && x["event"] == ev)
            .unwrap_or_else(|| panic!("no vrrpd {ev} row\n{log_text}"));
        assert!(row.get("error").is_none(), "{ev}: {row}");
        let (fo, th) = (num(row, "failover_ms"), num(row, "theory_ms"));
        // Wire to wire (A's last advert, or its priority 0, to B's first): [theory − 10 ms,
        // theory + 100 ms]; full runs measure within 2 ms of it.
        assert!(
            fo >= th - 10.0 && fo <= th + 100.0,
            "{ev}: failover {fo} ms, theory {th} ms"
        );
        assert!(
            num(row, "lost") >= 0.0 && num(row, "probes") > 20.0,
            "{row}"
        );
    }
    let jit = rows(&r, "jitter")
        .into_iter()
        .find(|x| x["impl"] == "vrrpd")
        .expect("vrrpd jitter row");
    assert!(num(jit, "gaps") >= 10.0, "{jit}");
    assert!((0.0..50.0).contains(&num(jit, "p50_ms")), "{jit}");
    assert!(num(jit, "max_ms") >= num(jit, "p99_ms"), "{jit}");
    let st = rows(&r, "startup")
        .into_iter()
        .find(|x| x["impl"] == "vrrpd" && x["kind"] == "immediate")
        .expect("vrrpd start-up row");
    assert!((0.0..1000.0).contains(&num(st, "ms")), "{st}");
    for n in [1, 10] {
        for side in ["master", "backup"] {
            let row = rows(&r, "resources")
                .into_iter()
                .find(|x| x["impl"] == "vrrpd" && x["instances"] == n && x["side"] == side)
                .unwrap_or_else(|| panic!("no vrrpd x{n} {side} row\n{log_text}"));
            assert_eq!(row["processes"], n, "{row}");
            assert!((0.0..200.0).contains(&num(row, "cpu_pct_core")), "{row}");
            let pss = num(row, "pss_kib_median");
            assert!(pss > 100.0 && pss < 65536.0, "{row}");
        }
    }
    // The host group (2 members): link down on member 1 -> the sibling's priority 0, bounded.
    let hg = rows(&r, "hostgroup")
        .into_iter()
        .find(|x| x["members"] == 2)
        .unwrap_or_else(|| panic!("no host group row\n{log_text}"));
    assert!(hg.get("error").is_none(), "{hg}");
    assert!(
        (0.0..1000.0).contains(&num(hg, "propagation_ms_median")),
        "{hg}"
    );
    // Tracking: the same instances with and without one check every 2 s.
    for checks in [false, true] {
        let row = rows(&r, "tracking")
            .into_iter()
            .find(|x| x["impl"] == "vrrpd" && x["checks"] == checks)
            .unwrap_or_else(|| panic!("no vrrpd tracking row (checks {checks})\n{log_text}"));
        assert!(row.get("error").is_none(), "{row}");
        assert!((0.0..200.0).contains(&num(row, "total_pct_core")), "{row}");
    }
    let md = std::fs::read_to_string(out.join("BENCHMARKS.md")).unwrap();
    assert!(md.contains("# Benchmarks") && !md.contains("host group not landed"));
    assert!(md.contains("## Host group") && md.contains("## Health-tracking overhead"));
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_file(&log);
}
