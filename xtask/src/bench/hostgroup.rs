//! The host group (`-M N`, README "Host group") and the health-tracking overhead (README "Health
//! tracking"): measurements that need vrrpd options the shared [`super::routers`] do not give.
//!
//! Host group: N sibling vrrpd processes on one router (one network namespace, so the default
//! group of that namespace), as users run them: member 1 alone on eth0 (VRID 1), members 2..N on
//! eth1 (VRIDs 1..N−1), each a veth pair to a silent peer namespace that captures (AF_PACKET,
//! kernel receive timestamps). Once every member is Master, eth0 is set down with one ioctl
//! ([`lab::set_link`]); propagation = the last sibling's first priority-0 advert on eth1 minus the
//! instant just before that ioctl. Then eth0 comes back and the group returns to Master together
//! before the next repetition. At rest (all Master, nothing happening) the group's CPU is the sum
//! over its processes, as in the resources phase.
//!
//! Tracking: n instances on one router, each with one check every 2 s (`/bin/true`), beside the
//! same n without checks, in the same run; keepalived with n `vrrp_script`s (interval 2, one per
//! instance) beside. CPU counts the daemons' own run time and, separately, what the check
//! processes they reaped used (`cutime + cstime`, /proc/PID/stat).

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::Ipv4Addr;
use std::time::Duration;

use serde_json::{json, Value};

use super::lab::{self, mem_of, now_ns, run, wait_until, Adv, Capture, Lab, R};
use super::measure::{cpu_window, median, settle, Ctx};
use super::routers::{Impl, Router};

const MS: f64 = 1e6;
/// Host group members started at once, then a pause (see [`host_group`]).
const JOIN_BATCH: usize = 5;

/// The host group's addresses: eth0 (member 1) and eth1 (the siblings), router and peer.
const ETH0: (Ipv4Addr, Ipv4Addr) = (
    Ipv4Addr::new(198, 51, 100, 1),
    Ipv4Addr::new(198, 51, 100, 2),
);
const ETH1: (Ipv4Addr, Ipv4Addr) = (Ipv4Addr::new(203, 0, 113, 1), Ipv4Addr::new(203, 0, 113, 2));

/// Start one vrrpd in `ns`; returns its PID.
#[allow(clippy::too_many_arguments)]
fn vrrpd(
    lab: &mut Lab,
    ctx: &Ctx,
    ns: &str,
    run_dir: &std::path::Path,
    ifname: &str,
    vrid: u8,
    vip: &str,
    prio: u8,
    interval_ms: u32,
    extra: &[String],
    log: bool,
) -> R<i32> {
    let mut args: Vec<String> = [
        "-i",
        ifname,
        "-v",
        &vrid.to_string(),
        "-p",
        &prio.to_string(),
        "-d",
        &format!("{interval_ms}ms"),
        "-n",
        "--foreground",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(extra.iter().cloned());
    args.push(vip.to_string());
    let env = [("VRRPD_RUN_DIR", run_dir.to_string_lossy().into_owned())];
    let logf = lab.dir.join(format!("vrrpd-{ifname}-{vrid}.log"));
    let bin = ctx.vrrpd.to_string_lossy().into_owned();
    lab.spawn(ns, &bin, &args, &env, log.then_some(logf.as_path()))
}

fn log_tail(lab: &Lab) -> String {
    // Up to three logs, those whose last line is not an info line (an exit, an error) first.
    let mut logs: Vec<(bool, std::path::PathBuf, Vec<String>)> = std::fs::read_dir(&lab.dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .map(|p| {
            let t = std::fs::read_to_string(&p).unwrap_or_default();
            let l: Vec<String> = t.lines().map(str::to_string).collect();
            let info = l.last().is_some_and(|x| x.contains(" info: "));
            (info, p, l)
        })
        .collect();
    logs.sort();
    let mut out = String::new();
    for (_, p, l) in logs.iter().take(3) {
        let _ = write!(
            out,
            "\n  --- {}\n  {}",
            p.display(),
            l[l.len().saturating_sub(6)..].join("\n  ")
        );
    }
    out
}

/// VRIDs (per ifindex) heard from `src` at a non-zero priority after `since`.
fn advertising(v: &[Adv], src: Ipv4Addr, since: i64) -> HashSet<(i32, u8)> {
    v.iter()
        .filter(|x| !x.outgoing && x.src == src && x.t > since && x.prio > 0)
        .map(|x| (x.ifindex, x.vrid))
        .collect()
}

fn mem_fields(pids: &[i32]) -> Value {
    let m: Vec<(u64, u64, u64)> = pids.iter().filter_map(|&p| mem_of(p)).collect();
    let pss: Vec<f64> = m.iter().map(|m| m.1 as f64).collect();
    let anon: Vec<f64> = m.iter().map(|m| m.2 as f64).collect();
    json!({
        "pss_kib_total": pss.iter().sum::<f64>(), "pss_kib_median": median(&pss),
        "pss_anon_kib_median": median(&anon),
    })
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// A host group of `n` members (2..=255) at `interval_ms`: `reps` link-down propagations and,
/// with `rest` set, the group's CPU and memory at rest over that window.
pub fn host_group(
    ctx: &Ctx,
    n: usize,
    interval_ms: u32,
    reps: usize,
    rest: Option<Duration>,
    group_timeout: Option<&str>,
) -> R<Value> {
    if !(2..=255).contains(&n) {
        return Err(format!("{n} members: a host group here has 2 to 255"));
    }
    let mut lab = Lab::new(&ctx.root, "hostgroup")?;
    let g = lab.add_ns("g")?;
    let p = lab.add_ns("peer")?;
    for (dev, (a, b)) in [("eth0", ETH0), ("eth1", ETH1)] {
        lab.veth(&g, dev, &p, dev)?;
        for (ns, addr) in [(&g, a), (&p, b)] {
            run(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                dev,
            ])?;
            run(&["ip", "-n", ns, "link", "set", dev, "up"])?;
        }
    }
    let (if0, if1) = (lab::ifindex(&p, "eth0")?, lab::ifindex(&p, "eth1")?);
    let cap = Capture::start(&p)?;
    let run_dir = lab.dir.join("run");
    std::fs::create_dir_all(&run_dir).map_err(|e| e.to_string())?;
    // Logs: every member of a small group; of a large one member 1 and the last.
    let logs = |_: usize| true;
    let mut m = vec!["-M".to_string(), n.to_string()];
    if let Some(t) = group_timeout {
        m.extend(["--group-timeout".to_string(), t.to_string()]);
    }
    let t_start = now_ns();
    let mut pids = vec![vrrpd(
        &mut lab,
        ctx,
        &g,
        &run_dir,
        "eth0",
        1,
        "198.51.100.254/24",
        200,
        interval_ms,
        &m,
        logs(0),
    )?];
    // Joining is bounded as a whole (a failing 255-member start must not eat the run's time).
    let join_end =
        std::time::Instant::now() + Duration::from_secs(30) + Duration::from_millis(100 * n as u64);
    for v in 1..n {
        // Started in batches, each joined before the next: 255 members joining at the same
        // instant on a busy 2-core host time out on the segment's lock (src/sys/shm.rs
        // LOCK_WAIT, 1 s) and exit.
        if v % JOIN_BATCH == 0 {
            let first = v - JOIN_BATCH;
            let joined = |k: usize| {
                let (dev, vrid) = if k == 0 { ("eth0", 1) } else { ("eth1", k) };
                std::fs::read_to_string(lab.dir.join(format!("vrrpd-{dev}-{vrid}.log")))
                    .is_ok_and(|t| t.contains("monitoring "))
            };
            let left = join_end.saturating_duration_since(std::time::Instant::now());
            if !wait_until(left, Duration::from_millis(10), || (first..v).all(joined))? {
                let why = format!("while starting (members {first}..{v} not joined)");
                return Err(not_settled(&lab, &pids, n, t_start, &why));
            }
        }
        let vip = format!("192.0.2.{v}/24");
        pids.push(vrrpd(
            &mut lab,
            ctx,
            &g,
            &run_dir,
            "eth1",
            v as u8,
            &vip,
            200,
            interval_ms,
            &m,
            logs(v),
        )?);
    }
    let iv = Duration::from_millis(u64::from(interval_ms));
    // Every member Master: member 1 heard on eth0, every sibling on eth1, since `since`.
    let all_master = |since: i64| {
        cap.with(|v| {
            let a0 = advertising(v, ETH0.0, since);
            let a1 = advertising(v, ETH1.0, since);
            a0.contains(&(if0, 1)) && (1..n).all(|vr| a1.contains(&(if1, vr as u8)))
        })
    };
    let limit = iv * 8 + Duration::from_secs(20) + Duration::from_millis(100 * n as u64);
    if !wait_until(limit, Duration::from_millis(20), || all_master(t_start))? {
        return Err(not_settled(&lab, &pids, n, t_start, "after the start"));
    }
    let ready_s = (now_ns() - t_start) as f64 / 1e9;
    let mut row = json!({
        "members": n, "interfaces": 2, "interval_ms": interval_ms, "processes": pids.len(),
        "group_timeout": group_timeout,
        "ready_s": ready_s,
    });
    if let Some(w) = rest {
        let settle_s = settle(&pids, Duration::from_secs(30))?;
        let win = cpu_window(std::slice::from_ref(&pids), w, None)?;
        let cpu = win.cpu[0].0;
        let o = row.as_object_mut().ok_or("row")?;
        o.insert("settle_s".into(), json!(settle_s));
        o.insert("window_s".into(), json!(win.secs));
        o.insert("cpu_pct_core".into(), json!(cpu * 100.0));
        o.insert("cpu_s_per_hour".into(), json!(cpu * 3600.0));
        o.insert("system_busy_pct".into(), json!(win.busy_pct));
        o.insert(
            "alive".into(),
            json!(pids.iter().filter(|&&p| lab::alive(p)).count()),
        );
        if let Value::Object(mf) = mem_fields(&pids) {
            o.extend(mf);
        }
    }
    let mut prop = Vec::new();
    let mut first = Vec::new();
    let mut back = Vec::new();
    for rep in 1..=reps {
        let t0 = lab::set_link(&g, "eth0", false)?;
        // Each sibling's first priority-0 advert after the link went down.
        let zeros = || {
            cap.with(|v| {
                let mut z: HashMap<u8, i64> = HashMap::new();
                for x in v.iter().filter(|x| {
                    !x.outgoing && x.ifindex == if1 && x.src == ETH1.0 && x.prio == 0 && x.t > t0
                }) {
                    z.entry(x.vrid).or_insert(x.t);
                }
                z
            })
        };
        let bound = Duration::from_secs(5) + Duration::from_millis(50 * n as u64);
        let seen = wait_until(bound, Duration::from_millis(2), || zeros().len() >= n - 1)?;
        let z = zeros();
        if !seen {
            return Err(format!(
                "rep {rep}: {} of {} siblings sent priority 0 within {:.1} s of the link going down{}",
                z.len(),
                n - 1,
                bound.as_secs_f64(),
                log_tail(&lab)
            ));
        }
        let last = z.values().copied().max().unwrap_or(t0);
        let earliest = z.values().copied().min().unwrap_or(t0);
        prop.push((last - t0) as f64 / MS);
        first.push((earliest - t0) as f64 / MS);
        // Let the group settle as Backup, then bring the link back: it returns together.
        lab::sleep(iv.min(Duration::from_millis(300)))?;
        let t_up = lab::set_link(&g, "eth0", true)?;
        if !wait_until(limit, Duration::from_millis(20), || all_master(t_up))? {
            let why = format!("in rep {rep}, after the link came back");
            return Err(not_settled(&lab, &pids, n, t_up, &why));
        }
        back.push((now_ns() - t_up) as f64 / 1e9);
    }
    let o = row.as_object_mut().ok_or("row")?;
    let mx = |v: &[f64]| v.iter().copied().fold(f64::NAN, f64::max);
    o.insert("reps".into(), json!(reps));
    o.insert("propagation_ms".into(), json!(prop));
    o.insert("propagation_ms_median".into(), json!(median(&prop)));
    o.insert("propagation_ms_max".into(), json!(mx(&prop)));
    o.insert("first_sibling_ms_median".into(), json!(median(&first)));
    o.insert("return_s_median".into(), json!(median(&back)));
    o.insert("loadavg".into(), json!(loadavg()));
    drop(cap);
    Ok(row)
}

/// Why a group never settled as all Master: members that exited (and their last line), how
/// often members held back for a stale heartbeat, and the group's CPU since `since`.
fn not_settled(lab: &Lab, pids: &[i32], n: usize, since: i64, when: &str) -> String {
    let dead = pids.iter().filter(|&&p| !lab::alive(p)).count();
    let (mut stale, mut reasons) = (0usize, HashMap::<String, usize>::new());
    for e in std::fs::read_dir(&lab.dir).into_iter().flatten().flatten() {
        let t = std::fs::read_to_string(e.path()).unwrap_or_default();
        stale += t.matches("heartbeat stale").count();
        if let Some(l) = t.lines().last().filter(|l| !l.contains(" info: ")) {
            let r = l.split(": ").last().unwrap_or(l).to_string();
            *reasons.entry(r).or_default() += 1;
        }
    }
    let cpu_s: f64 = pids
        .iter()
        .filter_map(|&p| lab::cpu_of(p))
        .map(|c| c.0 as f64 / 1e9)
        .sum();
    let secs = (now_ns() - since) as f64 / 1e9;
    format!(
        "the {n} members were not all Master within {secs:.0} s {when}: {dead} exited \
         ({reasons:?}), {stale} \"heartbeat stale\" holds logged, the live members used {cpu_s:.1} \
         CPU-s since their start{}",
        log_tail(lab)
    )
}

/// Children's CPU of `pid`: cutime + cstime ticks (what the check processes it reaped used).
fn children_ticks(pid: i32) -> u64 {
    let Ok(st) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0;
    };
    let after = st.rfind(')').map(|i| &st[i + 1..]).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    // After the command: state is field 3, cutime 16, cstime 17 (1-based over the whole line).
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    num(13) + num(14)
}

fn keepalived(lab: &mut Lab, ns: &str, n: usize, interval_ms: u32, checks: bool) -> R<Router> {
    let dir = lab.dir.join("ka");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    lab::chmod(&dir, 0o700)?;
    let mut conf = "global_defs {\n    router_id t\n    script_user root\n}\n".to_string();
    for v in 1..=n {
        if checks {
            let _ = write!(
                conf,
                "vrrp_script chk_{v} {{\n    script \"/bin/true\"\n    interval 2\n}}\n"
            );
        }
        let _ = write!(
            conf,
            "vrrp_instance i_{v} {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {v}\n    \
             version 3\n    priority 200\n    advert_int {}\n    virtual_ipaddress {{\n        \
             192.0.2.{v}/24 dev eth0\n    }}\n{}}}\n",
            f64::from(interval_ms) / 1000.0,
            if checks {
                format!("    track_script {{\n        chk_{v}\n    }}\n")
            } else {
                String::new()
            }
        );
    }
    let d = dir.to_string_lossy().into_owned();
    std::fs::write(dir.join("keepalived.conf"), conf).map_err(|e| e.to_string())?;
    let args: Vec<String> = [
        "-n",
        "-l",
        "-G",
        "-P",
        "-f",
        &format!("{d}/keepalived.conf"),
        "-p",
        &format!("{d}/ka.pid"),
        "-r",
        &format!("{d}/vrrp.pid"),
        "-c",
        &format!("{d}/chk.pid"),
        "-b",
        &format!("{d}/bfd.pid"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let log = dir.join("keepalived.log");
    let started = now_ns();
    let pid = lab.spawn(
        ns,
        "keepalived",
        &args,
        &[("TMPDIR", d.clone())],
        Some(&log),
    )?;
    let r = Router {
        imp: Impl::Keepalived,
        main: pid,
        pids: vec![pid],
        dir,
        started,
    };
    if !wait_until(Duration::from_secs(10), Duration::from_millis(5), || {
        r.processes().len() == 2
    })? {
        return Err(format!(
            "keepalived did not start its VRRP child{}",
            r.log_tail()
        ));
    }
    Ok(r)
}

/// `n` instances at `interval_ms` on one router (all Master, a silent peer), each with one check
/// every 2 s (`checks`) or none: the router's CPU over `window`.
pub fn tracking(
    ctx: &Ctx,
    imp: Impl,
    n: usize,
    interval_ms: u32,
    checks: bool,
    window: Duration,
) -> R<Value> {
    if !(1..=250).contains(&n) {
        return Err(format!("{n} instances: 1 to 250 here"));
    }
    let mut lab = Lab::new(&ctx.root, "tracking")?;
    let a = lab.add_ns("a")?;
    let b = lab.add_ns("b")?;
    lab.veth(&a, "eth0", &b, "eth0")?;
    let (a_addr, b_addr) = (Ipv4Addr::new(192, 0, 2, 251), Ipv4Addr::new(192, 0, 2, 252));
    for (ns, addr) in [(&a, a_addr), (&b, b_addr)] {
        run(&[
            "ip",
            "-n",
            ns,
            "addr",
            "add",
            &format!("{addr}/24"),
            "dev",
            "eth0",
        ])?;
        run(&["ip", "-n", ns, "link", "set", "eth0", "up"])?;
    }
    let cap = Capture::start(&b)?;
    let t_start = now_ns();
    let pids = match imp {
        Impl::Vrrpd => {
            let run_dir = lab.dir.join("run");
            std::fs::create_dir_all(&run_dir).map_err(|e| e.to_string())?;
            let extra: Vec<String> = if checks {
                vec![
                    "--track-check".into(),
                    "name=chk,interval=2s,cmd=/bin/true".into(),
                ]
            } else {
                vec![]
            };
            let mut pids = Vec::new();
            for v in 1..=n {
                let vip = format!("192.0.2.{v}/24");
                pids.push(vrrpd(
                    &mut lab,
                    ctx,
                    &a,
                    &run_dir,
                    "eth0",
                    v as u8,
                    &vip,
                    200,
                    interval_ms,
                    &extra,
                    n <= 10,
                )?);
            }
            pids
        }
        Impl::Keepalived => keepalived(&mut lab, &a, n, interval_ms, checks)?.processes(),
        Impl::Frr => return Err("FRR has no health-check scripts".into()),
    };
    let masters = |since: i64| cap.with(|v| advertising(v, a_addr, since).len());
    if !wait_until(
        Duration::from_secs(30) + Duration::from_millis(30 * n as u64),
        Duration::from_millis(50),
        || masters(t_start) >= n,
    )? {
        return Err(format!(
            "{} of {n} instances became Master{}",
            masters(t_start),
            log_tail(&lab)
        ));
    }
    let ready_s = (now_ns() - t_start) as f64 / 1e9;
    // Checks run every 2 s, so 1 s samples alternate and never look steady: a full run waits two
    // check periods instead of `settle`.
    let t_settle = std::time::Instant::now();
    lab::sleep(if window >= Duration::from_secs(10) {
        Duration::from_secs(4)
    } else {
        Duration::from_secs(1)
    })?;
    let settle_s = t_settle.elapsed().as_secs_f64();
    let ch0: u64 = pids.iter().map(|&p| children_ticks(p)).sum();
    let win = cpu_window(std::slice::from_ref(&pids), window, None)?;
    let ch1: u64 = pids.iter().map(|&p| children_ticks(p)).sum();
    let (cpu, ticks) = win.cpu[0];
    let children = ch1.saturating_sub(ch0) as f64 / 100.0 / win.secs;
    let adverts = cap.with(|v| {
        v.iter()
            .filter(|x| !x.outgoing && x.src == a_addr && x.t >= win.t0 && x.t < win.t1)
            .count()
    }) as f64
        / win.secs;
    let from_b = cap.with(|v| v.iter().filter(|x| x.src == b_addr).count());
    let mut row = json!({
        "impl": imp.name(), "instances": n, "checks": checks, "interval_ms": interval_ms,
        "check_interval_s": if checks { json!(2) } else { Value::Null },
        "processes": pids.len(), "alive": pids.iter().filter(|&&p| lab::alive(p)).count(),
        "ready_s": ready_s, "settle_s": settle_s, "window_s": win.secs,
        "cpu_pct_core": cpu * 100.0, "utime_stime_ticks_per_s": ticks,
        "children_pct_core": children * 100.0,
        "total_pct_core": (cpu + children) * 100.0,
        "cpu_s_per_hour": (cpu + children) * 3600.0,
        "adverts_per_s": adverts, "adverts_from_peer": from_b,
        "system_busy_pct": win.busy_pct, "loadavg": loadavg(),
    });
    if let (Some(o), Value::Object(mf)) = (row.as_object_mut(), mem_fields(&pids)) {
        o.extend(mf);
    }
    drop(cap);
    Ok(row)
}
