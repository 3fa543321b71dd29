//! `cargo xtask bench`: vrrpd beside keepalived and FRR in network namespaces (normally run through
//! `scripts/bench`, which builds, installs the peers and provides a private mount namespace).
//!
//! Phases: failover (same implementation on both sides, then mixed pairs), advert jitter,
//! start-up, resources (CPU and memory for 1..1000 instances). Raw rows go to `--out`
//! (`results.json` plus one CSV per phase, rewritten after every phase); `--markdown FILE` renders
//! the report (`BENCHMARKS.md`). `bench report DIR` re-renders from a results directory.
//!
//! # Hand-written sections: `bench/notes/*.md`
//!
//! BENCHMARKS.md is generated: a re-run rewrites all of it. Anything written by hand (a one-off
//! measurement, a profile, a before/after comparison) goes into its own file `bench/notes/*.md`,
//! never into BENCHMARKS.md itself. The renderer ([`report::load_notes`]) copies every such file
//! verbatim, in file-name order (prefix them `10-`, `20-`, ... to order them), after the
//! generated tables and before the generated "Notes", marked with an HTML comment naming the
//! file. Each file holds whole sections (start with `## `, a title that does not repeat a
//! generated one) and says which command, build, date and load average its figures come from.
//! `cargo xtask bench report bench/results/<date> --markdown BENCHMARKS.md` re-renders with
//! the current notes without re-measuring.
//!
//! # Figures README.md quotes
//!
//! README.md points to BENCHMARKS.md rather than copying its figures. Where it does quote one,
//! [`report::readme_figures`] lists it (where README says it, and the value in this run) and
//! every run prints that list at its end: after a re-run, update README from it. Whoever makes
//! README quote another BENCHMARKS.md figure adds its line there.

mod hostgroup;
pub(crate) mod lab;
mod measure;
mod report;
mod routers;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

use self::lab::R;
use self::measure::{Ctx, Event, Start};
use self::routers::Impl;

/// Usage text of the bench subcommand.
pub const USAGE: &str = "cargo xtask bench [--quick] [--out DIR] [--markdown FILE] [--vrrpd BIN]
                  [--impls vrrpd,keepalived,frr]
                  [--only failover,mixed,jitter,startup,resources,short,wakeups,hostgroup,tracking]
                  [--reps N] [--intervals 1000,100,10] [--counts 1,100,1000] [--window SECS]
                  [--members 2,10,255] [--group-timeout DURATION] [--tracked N]
       cargo xtask bench report DIR [--markdown FILE]";

const PHASES: [&str; 9] = [
    "failover",
    "mixed",
    "jitter",
    "startup",
    "resources",
    "short",
    "wakeups",
    "hostgroup",
    "tracking",
];

/// The short-interval rows (issue 14): instances and intervals; vrrpd and keepalived only.
const SHORT_INSTANCES: usize = 100;
const SHORT_INTERVALS: [u32; 2] = [100, 10];
/// The interval of the short-interval rows run again at real-time priority 1 (issue 14: the
/// 10 ms target).
const SHORT_REALTIME_INTERVAL: u32 = 10;

struct Opts {
    quick: bool,
    out: PathBuf,
    markdown: Option<PathBuf>,
    vrrpd: PathBuf,
    impls: Vec<Impl>,
    phases: Vec<String>,
    reps: usize,
    intervals: Vec<u32>,
    counts: Vec<usize>,
    window: Duration,
    /// Implementations in the resources phase (quick: vrrpd only).
    resource_impls: Vec<Impl>,
    /// Host group sizes (`--members`).
    members: Vec<usize>,
    /// Instances of the tracking phase (`--tracked`).
    tracked: usize,
    /// The host group members' `--group-timeout` (default: vrrpd's own).
    group_timeout: Option<String>,
}

fn list<T>(s: &str, f: impl Fn(&str) -> Option<T>) -> R<Vec<T>> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| f(x.trim()).ok_or_else(|| format!("bad list item '{x}'")))
        .collect()
}

fn parse(args: &[String], root: &Path) -> R<Opts> {
    let quick = args.iter().any(|a| a == "--quick");
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| root.join("target/release"));
    let mut o = Opts {
        quick,
        out: root.join("bench/results/latest"),
        markdown: None,
        vrrpd: exe_dir.join("vrrpd"),
        impls: Impl::ALL.to_vec(),
        phases: PHASES.iter().map(|s| s.to_string()).collect(),
        reps: if quick { 1 } else { 5 },
        intervals: if quick {
            vec![100]
        } else {
            vec![1000, 100, 10]
        },
        counts: if quick {
            vec![1, 10]
        } else {
            vec![1, 100, 1000]
        },
        window: Duration::from_secs(if quick { 2 } else { 30 }),
        resource_impls: if quick {
            vec![Impl::Vrrpd]
        } else {
            Impl::ALL.to_vec()
        },
        members: if quick { vec![2] } else { vec![2, 10, 255] },
        tracked: if quick { 10 } else { 100 },
        group_timeout: None,
    };
    if quick {
        o.impls = vec![Impl::Vrrpd, Impl::Keepalived];
        o.phases.retain(|p| p != "mixed");
    }
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = || it.next().cloned().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--quick" => {}
            "--out" => o.out = PathBuf::from(val()?),
            "--markdown" => o.markdown = Some(PathBuf::from(val()?)),
            "--vrrpd" => o.vrrpd = PathBuf::from(val()?),
            "--impls" => {
                o.impls = list(&val()?, Impl::parse)?;
                o.resource_impls = o.impls.clone();
            }
            "--only" => o.phases = list(&val()?, |p| PHASES.contains(&p).then(|| p.to_string()))?,
            "--reps" => o.reps = val()?.parse().map_err(|_| "--reps: a number")?,
            "--intervals" => {
                o.intervals = list(&val()?, |x| {
                    x.parse()
                        .ok()
                        .filter(|v: &u32| *v >= 10 && (v / 10) * 10 == *v)
                })?
            }
            "--counts" => {
                o.counts = list(&val()?, |x| {
                    x.parse().ok().filter(|v: &usize| (1..=1000).contains(v))
                })?
            }
            "--members" => {
                o.members = list(&val()?, |x| {
                    x.parse().ok().filter(|v: &usize| (2..=255).contains(v))
                })?
            }
            "--group-timeout" => o.group_timeout = Some(val()?),
            "--tracked" => {
                o.tracked = val()?
                    .parse()
                    .ok()
                    .filter(|v| (1..=250).contains(v))
                    .ok_or("--tracked: 1 to 250")?
            }
            "--window" => {
                o.window = Duration::from_secs_f64(val()?.parse().map_err(|_| "--window: seconds")?)
            }
            other => return Err(format!("unknown argument '{other}'\n{USAGE}")),
        }
    }
    Ok(o)
}

/// Entry point of `cargo xtask bench ARGS`.
pub fn main(args: &[String], root: &Path) -> R<Vec<PathBuf>> {
    if args.first().map(String::as_str) == Some("report") {
        let dir = PathBuf::from(args.get(1).ok_or(USAGE)?);
        let md = match args.get(2).map(String::as_str) {
            Some("--markdown") => PathBuf::from(args.get(3).ok_or(USAGE)?),
            _ => root.join("BENCHMARKS.md"),
        };
        let text = std::fs::read_to_string(dir.join("results.json"))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        write(
            &md,
            &report::render(&v, &rel(root, &dir), &hand_notes(root)),
        )?;
        return Ok(vec![md]);
    }
    let o = parse(args, root)?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err("the bench needs root (network namespaces); run scripts/bench as root".into());
    }
    if !o.vrrpd.exists() {
        return Err(format!(
            "{}: no such vrrpd binary (--vrrpd)",
            o.vrrpd.display()
        ));
    }
    lab::install_signal_handlers();
    lab::raise_priority();
    let mut impls = Vec::new();
    for i in &o.impls {
        if i.available() {
            impls.push(*i);
        } else {
            eprintln!("bench: {} is not installed: skipped", i.name());
        }
    }
    let scratch = std::env::var_os("VRRPD_BENCH_TMP")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
        .join(format!("vrrpd-bench-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    lab::chmod(&scratch, 0o755)?;
    std::fs::create_dir_all(&o.out).map_err(|e| format!("{}: {e}", o.out.display()))?;
    let ctx = Ctx {
        root: scratch.clone(),
        vrrpd: o.vrrpd.clone(),
    };
    let mut results = json!({
        "meta": meta(&o, &impls, root),
        "failover": [], "jitter": [], "startup": [], "resources": [], "short": [], "wakeups": [],
        "hostgroup": [], "tracking": [],
    });
    let outcome = run_phases(&o, &ctx, &impls, &mut results);
    results["meta"]["finished"] = json!(outcome.is_ok());
    results["meta"]["end_utc"] = json!(utc_now());
    results["meta"]["loadavg_end"] = json!(loadavg());
    let mut written = save(&o.out, &results)?;
    let md = o
        .markdown
        .clone()
        .unwrap_or_else(|| o.out.join("BENCHMARKS.md"));
    write(
        &md,
        &report::render(&results, &rel(root, &o.out), &hand_notes(root)),
    )?;
    written.push(md);
    eprintln!("bench: figures README.md quotes from this report (update README from them):");
    for l in report::readme_figures(&results) {
        eprintln!("  - {l}");
    }
    if std::env::var_os("VRRPD_BENCH_KEEP").is_none() {
        let _ = std::fs::remove_dir_all(&scratch);
    }
    outcome.map(|_| written)
}

/// The hand-written sections of the report (`bench/notes/*.md`).
fn hand_notes(root: &Path) -> Vec<report::Note> {
    report::load_notes(&root.join("bench/notes"))
}

fn rel(root: &Path, p: &Path) -> String {
    let abs = std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    abs.strip_prefix(&root)
        .map(|r| r.display().to_string())
        .unwrap_or_else(|_| abs.display().to_string())
}

fn push(results: &mut Value, key: &str, row: Value) {
    if let Some(a) = results[key].as_array_mut() {
        a.push(row);
    }
}

/// Run one measurement: an error becomes a row with "error" (the bench goes on), except an
/// interrupt, which ends the run.
fn attempt(what: &str, base: Value, f: impl FnOnce() -> R<Value>) -> R<Value> {
    let started = std::time::Instant::now();
    let row = match f() {
        Ok(v) => v,
        Err(e) => {
            lab::check()?;
            let mut b = base;
            b["error"] = json!(e);
            b
        }
    };
    let summary = match row.get("error") {
        Some(e) => format!(
            "ERROR {}",
            e.as_str().unwrap_or("").lines().next().unwrap_or("")
        ),
        None => report::summary(&row),
    };
    eprintln!(
        "bench: {what}: {summary} ({:.1} s)",
        started.elapsed().as_secs_f64()
    );
    Ok(row)
}

fn run_phases(o: &Opts, ctx: &Ctx, impls: &[Impl], results: &mut Value) -> R<()> {
    let has = |p: &str| o.phases.iter().any(|x| x == p);
    if has("failover") {
        let t_phase = std::time::Instant::now();
        for &iv in &o.intervals {
            for &imp in impls {
                for ev in Event::ALL {
                    for rep in 1..=o.reps {
                        let base = json!({"a": imp.name(), "b": imp.name(), "interval_ms": iv, "event": ev.name()});
                        let what = format!("failover {} {iv} ms {} #{rep}", imp.name(), ev.name());
                        let mut row =
                            attempt(&what, base, || measure::failover(ctx, imp, imp, iv, ev))?;
                        row["rep"] = json!(rep);
                        push(results, "failover", row);
                    }
                }
            }
        }
        save(&o.out, results)?;
        phase_done(results, "failover", t_phase);
    }
    if has("mixed") && impls.contains(&Impl::Vrrpd) {
        let t_phase = std::time::Instant::now();
        let iv = 100;
        let mut pairs = Vec::new();
        for &p in impls.iter().filter(|&&p| p != Impl::Vrrpd) {
            pairs.push((Impl::Vrrpd, p));
            pairs.push((p, Impl::Vrrpd));
        }
        for (a, b) in pairs {
            for ev in Event::ALL {
                for rep in 1..=o.reps.min(3) {
                    let base = json!({"a": a.name(), "b": b.name(), "interval_ms": iv, "event": ev.name()});
                    let what = format!(
                        "mixed {}->{} {iv} ms {} #{rep}",
                        a.name(),
                        b.name(),
                        ev.name()
                    );
                    let mut row = attempt(&what, base, || measure::failover(ctx, a, b, iv, ev))?;
                    row["rep"] = json!(rep);
                    push(results, "failover", row);
                }
            }
        }
        save(&o.out, results)?;
        phase_done(results, "mixed", t_phase);
    }
    if has("jitter") {
        let t_phase = std::time::Instant::now();
        for &iv in &o.intervals {
            let dur = match (o.quick, iv) {
                (true, _) => Duration::from_secs(2),
                (_, 1000) => Duration::from_secs(45),
                _ => Duration::from_secs(20),
            };
            for &imp in impls {
                let base = json!({"impl": imp.name(), "interval_ms": iv});
                let what = format!("jitter {} {iv} ms", imp.name());
                let row = attempt(&what, base, || measure::jitter(ctx, imp, iv, dur))?;
                push(results, "jitter", row);
            }
        }
        save(&o.out, results)?;
        phase_done(results, "jitter", t_phase);
    }
    if has("startup") {
        let t_phase = std::time::Instant::now();
        let mut kinds = vec![];
        for &imp in impls {
            match imp {
                Impl::Vrrpd => {
                    kinds.push((imp, Start::Immediate));
                    if !o.quick {
                        kinds.push((imp, Start::BackupWait));
                    }
                }
                Impl::Keepalived => kinds.push((imp, Start::Immediate)),
                Impl::Frr => kinds.push((imp, Start::BackupWait)),
            }
        }
        for (imp, kind) in kinds {
            for rep in 1..=o.reps {
                let base = json!({"impl": imp.name(), "kind": format!("{kind:?}")});
                let what = format!("startup {} {kind:?} #{rep}", imp.name());
                let mut row = attempt(&what, base, || measure::startup(ctx, imp, kind))?;
                row["rep"] = json!(rep);
                push(results, "startup", row);
            }
        }
        save(&o.out, results)?;
        phase_done(results, "startup", t_phase);
    }
    if has("resources") {
        let t_phase = std::time::Instant::now();
        for &n in &o.counts {
            for &imp in impls.iter().filter(|i| o.resource_impls.contains(i)) {
                let what = format!("resources {} x{n}", imp.name());
                let started = std::time::Instant::now();
                match measure::resources(ctx, imp, n, o.window) {
                    Ok(rows) => {
                        for r in rows {
                            eprintln!(
                                "bench: {what}: {} ({:.1} s)",
                                report::summary(&r),
                                started.elapsed().as_secs_f64()
                            );
                            push(results, "resources", r);
                        }
                    }
                    Err(e) => {
                        lab::check()?;
                        eprintln!("bench: {what}: ERROR {e}");
                        push(
                            results,
                            "resources",
                            json!({"impl": imp.name(), "instances": n, "error": e}),
                        );
                    }
                }
                save(&o.out, results)?;
            }
        }
        phase_done(results, "resources", t_phase);
    }
    if has("short") {
        let t_phase = std::time::Instant::now();
        // 100 instances at 100 ms and at 10 ms beside keepalived, the window at least 30 s
        // (the target: no Backup advert in 30 s at 10 ms); --quick: 10 instances at 10 ms, its
        // window.
        let (n, window) = if o.quick {
            (10, o.window)
        } else {
            (SHORT_INSTANCES, o.window.max(Duration::from_secs(30)))
        };
        // --quick: 10 ms only (the bench smoke test has a time limit). Then 10 ms again with
        // both at real-time priority 1 (vrrpd --realtime 1, keepalived vrrp_rt_priority 1).
        let mut runs: Vec<(u32, bool)> = if o.quick {
            vec![(10, false)]
        } else {
            SHORT_INTERVALS.iter().map(|&iv| (iv, false)).collect()
        };
        if !o.quick {
            runs.push((SHORT_REALTIME_INTERVAL, true));
        }
        for (iv, realtime) in runs {
            for &imp in impls
                .iter()
                .filter(|i| o.resource_impls.contains(i) && **i != Impl::Frr)
            {
                let what = format!(
                    "short {} x{n} {iv} ms{}",
                    imp.name(),
                    if realtime { " real-time" } else { "" }
                );
                let started = std::time::Instant::now();
                match measure::resources_at(ctx, imp, n, iv, window, realtime) {
                    Ok(rows) => {
                        for r in rows {
                            eprintln!(
                                "bench: {what}: {} ({:.1} s)",
                                report::summary(&r),
                                started.elapsed().as_secs_f64()
                            );
                            push(results, "short", r);
                        }
                    }
                    Err(e) => {
                        lab::check()?;
                        eprintln!("bench: {what}: ERROR {e}");
                        push(
                            results,
                            "short",
                            json!({"impl": imp.name(), "instances": n, "interval_ms": iv,
                                "realtime": realtime, "error": e}),
                        );
                    }
                }
                save(&o.out, results)?;
            }
        }
        phase_done(results, "short", t_phase);
    }
    if has("wakeups") {
        let t_phase = std::time::Instant::now();
        // Idle wake-ups at 1 s and 100 ms (the intervals the targets name), whatever --intervals.
        let dur = if o.quick {
            Duration::from_secs(2)
        } else {
            o.window.min(Duration::from_secs(10))
        };
        for iv in [1000, 100] {
            for &imp in impls.iter().filter(|i| o.resource_impls.contains(i)) {
                let base = json!({"impl": imp.name(), "interval_ms": iv});
                let what = format!("wakeups {} {iv} ms", imp.name());
                let row = attempt(&what, base, || measure::wakeups(ctx, imp, iv, dur))?;
                push(results, "wakeups", row);
            }
        }
        save(&o.out, results)?;
        phase_done(results, "wakeups", t_phase);
    }
    if has("hostgroup") && impls.contains(&Impl::Vrrpd) {
        let t_phase = std::time::Instant::now();
        // 1 s adverts (the resources phase's interval); the quick run at 100 ms to be short.
        // The CPU at rest of the largest group only, over the resources window.
        let iv = if o.quick { 100 } else { 1000 };
        let largest = o.members.iter().copied().max().unwrap_or(0);
        for &n in &o.members {
            let rest = (n == largest).then_some(o.window);
            let base = json!({"members": n, "interval_ms": iv, "group_timeout": o.group_timeout});
            let what = format!("hostgroup vrrpd -M {n}");
            let row = attempt(&what, base, || {
                hostgroup::host_group(ctx, n, iv, o.reps, rest, o.group_timeout.as_deref())
            })?;
            push(results, "hostgroup", row);
            save(&o.out, results)?;
        }
        phase_done(results, "hostgroup", t_phase);
    }
    if has("tracking") {
        let t_phase = std::time::Instant::now();
        // One check every 2 s per instance, beside the same instances without checks.
        let win = if o.quick {
            Duration::from_secs(2)
        } else {
            o.window.min(Duration::from_secs(20))
        };
        for &imp in impls
            .iter()
            .filter(|i| o.resource_impls.contains(i) && **i != Impl::Frr)
        {
            for checks in [false, true] {
                let n = o.tracked;
                let base = json!({"impl": imp.name(), "instances": n, "checks": checks});
                let what = format!(
                    "tracking {} x{n} {}",
                    imp.name(),
                    if checks { "with checks" } else { "without" }
                );
                let iv = if o.quick { 100 } else { 1000 };
                let row = attempt(&what, base, || {
                    hostgroup::tracking(ctx, imp, n, iv, checks, win)
                })?;
                push(results, "tracking", row);
            }
        }
        save(&o.out, results)?;
        phase_done(results, "tracking", t_phase);
    }
    Ok(())
}

/// Record how long a phase took (`meta.phase_s`, printed at the end of the run), so that the next
/// full run's duration can be planned from the last one.
fn phase_done(results: &mut Value, phase: &str, t: std::time::Instant) {
    let secs = t.elapsed().as_secs_f64();
    eprintln!("bench: phase {phase} took {:.1} min", secs / 60.0);
    results["meta"]["phase_s"][phase] = json!(secs);
}

fn utc_now() -> String {
    lab::run(&["date", "-u", "+%Y-%m-%dT%H:%M:%SZ"])
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn meta(o: &Opts, impls: &[Impl], root: &Path) -> Value {
    let sh = |args: &[&str]| {
        lab::run(args)
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let root_s = root.to_string_lossy();
    let rev = sh(&["git", "-C", &root_s, "rev-parse", "--short", "HEAD"]);
    let dirty = !sh(&["git", "-C", &root_s, "status", "--porcelain", "--", "src"]).is_empty();
    let versions: serde_json::Map<String, Value> = routers::versions(&o.vrrpd)
        .into_iter()
        .map(|(i, v)| (i.name().to_string(), json!(v)))
        .collect();
    json!({
        "start_utc": utc_now(), "loadavg_start": loadavg(), "quick": o.quick, "nproc": sh(&["nproc"]),
        "kernel": sh(&["uname", "-r"]), "cpu": cpu,
        "git": format!("{rev}{}", if dirty { " (src modified)" } else { "" }),
        "vrrpd_binary": o.vrrpd.display().to_string(),
        "versions": versions,
        "impls": impls.iter().map(|i| i.name()).collect::<Vec<_>>(),
        "phases": o.phases, "reps": o.reps, "intervals_ms": o.intervals,
        "counts": o.counts, "window_s": o.window.as_secs_f64(),
        "members": o.members, "tracked": o.tracked, "group_timeout": o.group_timeout,
        "probe_interval_ms": 10,
    })
}

fn write(path: &Path, text: &str) -> R<()> {
    if let Some(d) = path.parent() {
        let _ = std::fs::create_dir_all(d);
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

const CSV: [(&str, &[&str]); 8] = [
    (
        "failover",
        &[
            "a",
            "b",
            "interval_ms",
            "event",
            "rep",
            "theory_ms",
            "failover_ms",
            "detect_ms",
            "probes",
            "lost",
            "outage_ms",
            "error",
        ],
    ),
    (
        "jitter",
        &[
            "impl",
            "interval_ms",
            "gaps",
            "p50_ms",
            "p99_ms",
            "max_ms",
            "mean_signed_ms",
            "min_gap_ms",
            "max_gap_ms",
            "system_busy_pct",
            "error",
        ],
    ),
    (
        "startup",
        &["impl", "kind", "rep", "prio", "ms", "note", "error"],
    ),
    (
        "resources",
        &[
            "impl",
            "instances",
            "side",
            "interfaces",
            "namespaces_per_router",
            "processes",
            "alive",
            "window_s",
            "cpu_ns",
            "utime_stime_ticks",
            "cpu_pct_core",
            "cpu_s_per_hour",
            "ticks_s_per_hour",
            "pss_kib_total",
            "rss_kib_total",
            "pss_kib_median",
            "pss_kib_max",
            "rss_kib_median",
            "pss_anon_kib_median",
            "pss_anon_kib_total",
            "adverts_per_s_from_master",
            "adverts_from_backup",
            "masters_seen_before",
            "masters_seen_after",
            "masters_wait_s",
            "settle_s",
            "system_busy_pct",
            "cpu_pct_core_with_backup",
            "delivery_pct_core",
            "saturated",
            "error",
        ],
    ),
    (
        "short",
        &[
            "impl",
            "instances",
            "interval_ms",
            "side",
            "processes",
            "alive",
            "window_s",
            "cpu_ns",
            "cpu_pct_core",
            "cpu_pct_core_with_backup",
            "delivery_pct_core",
            "wakeups_per_s",
            "us_per_advert_sent",
            "us_per_advert_received",
            "adverts_per_s_from_master",
            "adverts_from_backup",
            "masters_seen_before",
            "masters_seen_after",
            "pss_kib_total",
            "pss_kib_median",
            "system_busy_pct",
            "saturated",
            "error",
        ],
    ),
    (
        "wakeups",
        &[
            "impl",
            "interval_ms",
            "window_s",
            "adverts_per_s",
            "master_wakeups_per_s",
            "master_involuntary_per_s",
            "backup_wakeups_per_s",
            "backup_involuntary_per_s",
            "loadavg",
            "error",
        ],
    ),
    (
        "hostgroup",
        &[
            "members",
            "interfaces",
            "interval_ms",
            "processes",
            "ready_s",
            "reps",
            "propagation_ms_median",
            "propagation_ms_max",
            "first_sibling_ms_median",
            "return_s_median",
            "window_s",
            "cpu_pct_core",
            "cpu_s_per_hour",
            "pss_kib_total",
            "pss_kib_median",
            "pss_anon_kib_median",
            "system_busy_pct",
            "loadavg",
            "error",
        ],
    ),
    (
        "tracking",
        &[
            "impl",
            "instances",
            "checks",
            "check_interval_s",
            "processes",
            "window_s",
            "cpu_pct_core",
            "children_pct_core",
            "total_pct_core",
            "cpu_s_per_hour",
            "adverts_per_s",
            "adverts_from_peer",
            "pss_kib_total",
            "system_busy_pct",
            "loadavg",
            "error",
        ],
    ),
];

fn csv_cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => {
            let s = s.replace('\n', " ");
            if s.contains([',', '"']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s
            }
        }
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.4}"),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// Write results.json and the CSVs; returns the paths.
fn save(out: &Path, results: &Value) -> R<Vec<PathBuf>> {
    let mut paths = vec![out.join("results.json")];
    write(
        &paths[0],
        &serde_json::to_string_pretty(results).map_err(|e| e.to_string())?,
    )?;
    for (name, cols) in CSV {
        let mut text = cols.join(",");
        text.push('\n');
        for row in results[name].as_array().into_iter().flatten() {
            let cells: Vec<String> = cols.iter().map(|c| csv_cell(&row[*c])).collect();
            text.push_str(&cells.join(","));
            text.push('\n');
        }
        let p = out.join(format!("{name}.csv"));
        write(&p, &text)?;
        paths.push(p);
    }
    Ok(paths)
}
