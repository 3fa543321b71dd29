//! The measurements. Each builds a fresh lab, measures, and drops it (processes ended by PID,
//! namespaces deleted) before returning one or more JSON rows.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};

use super::lab::{self, mem_of, now_ns, run, sleep, wait_until, Adv, Capture, Lab, Prober, R};
use super::routers::{Impl, Inst, Router, Spec};

const VRID: u8 = 51;
const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
const PROBE_EVERY: Duration = Duration::from_millis(10);
const MS: f64 = 1e6;

/// What every measurement needs.
pub struct Ctx {
    /// Scratch root for the labs.
    pub root: PathBuf,
    /// The vrrpd binary.
    pub vrrpd: PathBuf,
}

/// A failover trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// SIGKILL (keepalived: SIGSTOP the tree, then SIGKILL).
    Kill,
    /// SIGTERM: planned stop.
    Term,
    /// The master's eth0 set down.
    Link,
}

impl Event {
    /// All, in table order.
    pub const ALL: [Event; 3] = [Event::Kill, Event::Term, Event::Link];

    /// Name used in results.
    pub fn name(self) -> &'static str {
        match self {
            Event::Kill => "kill",
            Event::Term => "term",
            Event::Link => "link",
        }
    }
}

/// RFC 9568 §6.1 Skew_Time in ns (v3: centisecond interval, computed exactly).
pub fn skew_ns(prio: u8, interval_ms: u32) -> i64 {
    (256 - i64::from(prio)) * i64::from(interval_ms) * 1_000_000 / 256
}

/// RFC 9568 §6.1 Master_Down_Interval in ns.
pub fn mdi_ns(prio: u8, interval_ms: u32) -> i64 {
    3 * i64::from(interval_ms) * 1_000_000 + skew_ns(prio, interval_ms)
}

fn inst(ifname: &str, vrid: u8, vip: Ipv4Addr) -> Inst {
    Inst {
        ifname: ifname.into(),
        vrid,
        vip,
        plen: 24,
    }
}

fn spec(prio: u8, interval_ms: u32, insts: Vec<Inst>, logs: bool) -> Spec {
    Spec {
        prio,
        interval_ms,
        insts,
        start_master: false,
        logs,
        realtime: false,
    }
}

/// Adverts of VRID `vrid` arriving from bridge port `port`.
fn from_port(v: &[Adv], port: i32, vrid: u8) -> Vec<Adv> {
    v.iter()
        .filter(|a| a.ifindex == port && !a.outgoing && a.vrid == vrid)
        .copied()
        .collect()
}

/// Failover from A (prio 200, Master) to B (prio 100) on `event`, with a client pinging the VIP.
pub fn failover(ctx: &Ctx, a: Impl, b: Impl, interval_ms: u32, event: Event) -> R<Value> {
    let mut lab = Lab::new(&ctx.root, "failover")?;
    let (sw, hosts) = lab.bridged(&["a", "b", "client"])?;
    let (pa, pb) = (hosts[0].port, hosts[1].port);
    let cap = Capture::start(&sw)?;
    let insts = vec![inst("eth0", VRID, VIP)];
    let ra = Router::start(
        &mut lab,
        &ctx.vrrpd,
        a,
        &hosts[0].ns,
        "a",
        &spec(200, interval_ms, insts.clone(), true),
    )?;
    let rb = Router::start(
        &mut lab,
        &ctx.vrrpd,
        b,
        &hosts[1].ns,
        "b",
        &spec(100, interval_ms, insts, true),
    )?;
    let iv = i64::from(interval_ms) * 1_000_000;
    // Settled: A's last k adverts in a row (at least 300 ms' worth) with no advert from B between.
    let k = 3.max((300_000_000 + iv - 1) / iv) as usize;
    let settled = wait_until(
        Duration::from_nanos(4 * iv as u64) + Duration::from_secs(15),
        Duration::from_millis(5),
        || {
            cap.with(|v| {
                let mut streak = 0;
                for x in v.iter().filter(|x| !x.outgoing && x.vrid == VRID) {
                    if x.ifindex == pa && x.prio == 200 {
                        streak += 1;
                    } else if x.ifindex == pb {
                        streak = 0;
                    }
                }
                streak >= k
            })
        },
    )?;
    if !settled {
        return Err(format!(
            "A never became a steady Master{}{}",
            ra.log_tail(),
            rb.log_tail()
        ));
    }
    let prober = Prober::start(&hosts[2].ns, VIP, PROBE_EVERY)?;
    if !wait_until(Duration::from_secs(3), Duration::from_millis(5), || {
        prober.answering(20, 20_000_000)
    })? {
        return Err("the client never got replies from the VIP".into());
    }
    let t_ev = now_ns();
    match event {
        Event::Kill => ra.hard_kill(),
        Event::Term => ra.term(),
        Event::Link => {
            run(&["ip", "-n", &hosts[0].ns, "link", "set", "eth0", "down"])?;
        }
    }
    let theory = match event {
        Event::Term => skew_ns(100, interval_ms),
        _ => mdi_ns(100, interval_ms),
    };
    let b_after = |v: &[Adv]| {
        from_port(v, pb, VRID)
            .into_iter()
            .find(|x| x.t > t_ev && x.prio > 0)
    };
    let took_over = wait_until(
        Duration::from_nanos(3 * theory as u64) + Duration::from_secs(2),
        Duration::from_millis(1),
        || cap.with(|v| b_after(v).is_some()),
    )?;
    if took_over {
        // Let the client settle: 300 ms after the takeover and 20 answered probes in a row.
        let t_b = cap.with(|v| b_after(v).map(|x| x.t)).unwrap_or(t_ev);
        wait_until(Duration::from_secs(3), Duration::from_millis(10), || {
            now_ns() > t_b + 300_000_000 && prober.answering(20, 20_000_000)
        })?;
    }
    let t_end = now_ns();
    let probes = prober.finish();
    let advs = cap.finish();
    if event == Event::Term {
        // A hands over, then exits by itself (bounded; the lab kills it anyway).
        let _ = lab.wait_exit(ra.main, Duration::from_secs(2));
    }
    let mut row = json!({
        "a": a.name(), "b": b.name(), "interval_ms": interval_ms, "event": event.name(),
        "theory_ms": theory as f64 / MS,
        "fsm_note": if b == Impl::Frr { "FRR computes skew in whole centiseconds" } else { "" },
    });
    let Some(b_first) = b_after(&advs) else {
        row["error"] = json!(format!(
            "B never advertised after the event{}",
            rb.log_tail()
        ));
        return Ok(row);
    };
    let a_adv = from_port(&advs, pa, VRID);
    let a_ref = match event {
        Event::Term => a_adv
            .iter()
            .find(|x| x.prio == 0 && x.t >= t_ev - 1_000_000),
        _ => a_adv.iter().rev().find(|x| x.t < b_first.t && x.prio > 0),
    };
    let Some(a_ref) = a_ref else {
        row["error"] = json!(match event {
            Event::Term => "no priority-0 advert from A",
            _ => "no advert from A before B's",
        });
        return Ok(row);
    };
    row["failover_ms"] = json!((b_first.t - a_ref.t) as f64 / MS);
    row["detect_ms"] = json!((b_first.t - t_ev) as f64 / MS);
    // Client: probes from 200 ms before the event until 100 ms before the end.
    let win: Vec<_> = probes
        .iter()
        .filter(|p| p.sent >= t_ev - 200_000_000 && p.sent < t_end - 100_000_000)
        .collect();
    let lost = win.iter().filter(|p| p.reply.is_none()).count();
    let mut replies: Vec<i64> = win.iter().filter_map(|p| p.reply).collect();
    replies.sort_unstable();
    let max_gap = replies.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    let outage = if lost == 0 {
        0
    } else {
        (max_gap - PROBE_EVERY.as_nanos() as i64).max(0)
    };
    row["probes"] = json!(win.len());
    row["lost"] = json!(lost);
    row["outage_ms"] = json!(outage as f64 / MS);
    Ok(row)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Median of unsorted values.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    percentile(&s, 50.0)
}

/// Inter-advert gaps of a lone Master over `dur`, minus the interval.
pub fn jitter(ctx: &Ctx, imp: Impl, interval_ms: u32, dur: Duration) -> R<Value> {
    let mut lab = Lab::new(&ctx.root, "jitter")?;
    let (sw, hosts) = lab.bridged(&["a"])?;
    let pa = hosts[0].port;
    let cap = Capture::start(&sw)?;
    let r = Router::start(
        &mut lab,
        &ctx.vrrpd,
        imp,
        &hosts[0].ns,
        "a",
        &spec(200, interval_ms, vec![inst("eth0", VRID, VIP)], true),
    )?;
    let iv = i64::from(interval_ms) * 1_000_000;
    if !wait_until(
        Duration::from_nanos(4 * iv as u64) + Duration::from_secs(15),
        Duration::from_millis(5),
        || cap.with(|v| from_port(v, pa, VRID).len() >= 3),
    )? {
        return Err(format!("no adverts{}", r.log_tail()));
    }
    let s0 = lab::sys_stat();
    sleep(dur)?;
    let s1 = lab::sys_stat();
    let advs = from_port(&cap.finish(), pa, VRID);
    // Skip the first three (start-up), then every gap.
    let t: Vec<i64> = advs.iter().skip(3).map(|a| a.t).collect();
    let dev: Vec<f64> = t
        .windows(2)
        .map(|w| (w[1] - w[0] - iv) as f64 / MS)
        .collect();
    let mut abs: Vec<f64> = dev.iter().map(|d| d.abs()).collect();
    abs.sort_by(f64::total_cmp);
    let mean = dev.iter().sum::<f64>() / dev.len().max(1) as f64;
    Ok(json!({
        "impl": imp.name(), "interval_ms": interval_ms, "gaps": dev.len(),
        "p50_ms": percentile(&abs, 50.0), "p99_ms": percentile(&abs, 99.0),
        "max_ms": abs.last().copied().unwrap_or(f64::NAN), "mean_signed_ms": mean,
        "system_busy_pct": 100.0 * (s1.0 - s0.0) as f64 / (s1.1 - s0.1).max(1) as f64,
        "min_gap_ms": dev.iter().copied().fold(f64::INFINITY, f64::min) + f64::from(interval_ms),
        "max_gap_ms": dev.iter().copied().fold(f64::NEG_INFINITY, f64::max) + f64::from(interval_ms),
    }))
}

/// Start-up kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Address owner (priority 255) / keepalived state MASTER: advertises at once.
    Immediate,
    /// Ordinary priority: Backup for Master_Down_Interval first.
    BackupWait,
}

/// Process start → first advert on the wire, at 100 ms.
pub fn startup(ctx: &Ctx, imp: Impl, kind: Start) -> R<Value> {
    let mut lab = Lab::new(&ctx.root, "startup")?;
    let (sw, hosts) = lab.bridged(&["a"])?;
    let pa = hosts[0].port;
    let cap = Capture::start(&sw)?;
    let interval_ms = 100;
    let (prio, vip, note) = match (imp, kind) {
        (Impl::Vrrpd, Start::Immediate) => {
            // The owner's VIP is one of its own addresses; vrrpd takes the first non-VIP,
            // non-secondary IPv4 address as the advert source, so the VIP is a second address.
            run(&[
                "ip",
                "-n",
                &hosts[0].ns,
                "addr",
                "add",
                &format!("{VIP}/24"),
                "dev",
                "eth0",
            ])?;
            (
                255,
                VIP,
                "priority 255, the VIP is a (secondary) address of eth0: owner".to_string(),
            )
        }
        (Impl::Keepalived, Start::Immediate) => {
            (255, VIP, "state MASTER, priority 255".to_string())
        }
        (Impl::Frr, _) | (_, Start::BackupWait) => {
            let p = if imp == Impl::Frr { 254 } else { 200 };
            let wait = if imp == Impl::Frr {
                3 * interval_ms as i64 * 1_000_000
            } else {
                mdi_ns(p, interval_ms)
            };
            (
                p,
                VIP,
                format!(
                    "priority {p}: includes the Backup wait of {:.1} ms{}",
                    wait as f64 / MS,
                    if imp == Impl::Frr {
                        " (no owner mode; counted from FRR vrrpd's start, zebra already up)"
                    } else {
                        ""
                    }
                ),
            )
        }
    };
    let mut s = spec(prio, interval_ms, vec![inst("eth0", VRID, vip)], true);
    s.start_master = kind == Start::Immediate;
    let r = Router::start(&mut lab, &ctx.vrrpd, imp, &hosts[0].ns, "a", &s)?;
    if !wait_until(Duration::from_secs(10), Duration::from_millis(1), || {
        cap.with(|v| !from_port(v, pa, VRID).is_empty())
    })? {
        return Err(format!("no advert within 10 s{}", r.log_tail()));
    }
    let first = from_port(&cap.finish(), pa, VRID)[0];
    Ok(json!({
        "impl": imp.name(), "kind": match kind { Start::Immediate => "immediate", Start::BackupWait => "backup-wait" },
        "prio": prio, "ms": (first.t - r.started) as f64 / MS, "note": note,
    }))
}

/// One capture per Backup namespace, restricted to the segment interfaces there.
struct Caps(Vec<(Capture, HashSet<i32>)>);

impl Caps {
    /// Distinct VRIDs (per segment) heard from `src` with priority 200 in the last 1.5 s.
    fn masters(&self, src: Ipv4Addr) -> usize {
        let cut = now_ns() - 1_500_000_000;
        self.0
            .iter()
            .map(|(c, eths)| {
                c.with(|v| {
                    v.iter()
                        .rev()
                        .take_while(|x| x.t > cut)
                        .filter(|x| eths.contains(&x.ifindex) && x.src == src && x.prio == 200)
                        .map(|x| (x.ifindex, x.vrid))
                        .collect::<HashSet<_>>()
                        .len()
                })
            })
            .sum()
    }

    /// Adverts from `src` on the segments between `t0` and `t1`.
    fn count(&self, src: Ipv4Addr, t0: i64, t1: i64) -> usize {
        self.0
            .iter()
            .map(|(c, eths)| {
                c.with(|v| {
                    v.iter()
                        .filter(|x| {
                            x.t >= t0 && x.t < t1 && eths.contains(&x.ifindex) && x.src == src
                        })
                        .count()
                })
            })
            .sum()
    }
}

/// CPU and memory of `n` instances at 1 s on a Master router, then with a Backup router.
///
/// Segments of up to 250 VRIDs (1000 = 4 × 250), each a veth pair between the routers. keepalived
/// and FRR: one namespace per router with one interface per segment (one daemon serves all).
/// vrrpd: one namespace pair per segment, so that one segment's address changes do not wake the
/// other segments' processes (each vrrpd re-reads its interface's addresses on every address
/// event of that interface; see BENCHMARKS.md).
pub fn resources(ctx: &Ctx, imp: Impl, n: usize, window: Duration) -> R<Vec<Value>> {
    resources_at(ctx, imp, n, 1000, window, false)
}

/// [`resources`] at `interval_ms` (the short-interval rows: 100 instances at 100 ms and 10 ms).
/// Besides CPU and memory each row has the router's wake-ups per second (voluntary context
/// switches of its processes over the window) and, for the Backup router, the CPU per advert
/// received (the run time over the Master's adverts seen on the Backup's segments).
/// `realtime`: both routers at real-time priority 1 ([`Spec::realtime`]); the rows say so.
pub fn resources_at(
    ctx: &Ctx,
    imp: Impl,
    n: usize,
    interval_ms: u32,
    window: Duration,
    realtime: bool,
) -> R<Vec<Value>> {
    let mut lab = Lab::new(&ctx.root, "resources")?;
    let segs = n.div_ceil(250);
    let per_ns = imp == Impl::Vrrpd;
    // (A namespace, B namespace, interface, instances)
    let mut layout: Vec<(String, String, String, Vec<Inst>)> = Vec::new();
    for k in 0..segs {
        let (a, b, ifname) = if per_ns {
            (
                lab.add_ns(&format!("a{k}"))?,
                lab.add_ns(&format!("b{k}"))?,
                "eth0".to_string(),
            )
        } else if k == 0 {
            (lab.add_ns("a")?, lab.add_ns("b")?, "eth0".to_string())
        } else {
            (layout[0].0.clone(), layout[0].1.clone(), format!("eth{k}"))
        };
        lab.veth(&a, &ifname, &b, &ifname)?;
        for (ns, last) in [(&a, 251), (&b, 252)] {
            run(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("192.0.2.{last}/24"),
                "dev",
                &ifname,
            ])?;
            run(&["ip", "-n", ns, "link", "set", &ifname, "up"])?;
        }
        let insts = (1..=(n - 250 * k).min(250))
            .map(|v| inst(&ifname, v as u8, Ipv4Addr::new(192, 0, 2, v as u8)))
            .collect();
        layout.push((a, b, ifname, insts));
    }
    // Routers: one per A (B) namespace, with the instances of its segments.
    let mut groups: Vec<(String, String, Vec<Inst>)> = Vec::new();
    for (a, b, _, insts) in &layout {
        match groups.iter_mut().find(|g| g.0 == *a) {
            Some(g) => g.2.extend(insts.iter().cloned()),
            None => groups.push((a.clone(), b.clone(), insts.clone())),
        }
    }
    let mut caps = Vec::new();
    for (_, b, _) in &groups {
        let eths = layout
            .iter()
            .filter(|l| l.1 == *b)
            .map(|l| lab::ifindex(b, &l.2))
            .collect::<R<HashSet<i32>>>()?;
        caps.push((Capture::start(b)?, eths));
    }
    let caps = Caps(caps);
    let a_addr = Ipv4Addr::new(192, 0, 2, 251);
    let b_addr = Ipv4Addr::new(192, 0, 2, 252);
    let logs = n <= 10;
    // The Master router first, alone: its instances (priority 200) become Master after their
    // Master_Down_Interval (3.2 s); wait until every VRID is heard and its CPU use is steady.
    let t_start = now_ns();
    let mut ra = Vec::new();
    for (k, (a, _, insts)) in groups.iter().enumerate() {
        let s = Spec {
            realtime,
            ..spec(200, interval_ms, insts.clone(), logs)
        };
        ra.push(Router::start(
            &mut lab,
            &ctx.vrrpd,
            imp,
            a,
            &format!("a{k}"),
            &s,
        )?);
    }
    wait_until(
        Duration::from_secs(30) + Duration::from_millis(30 * n as u64),
        Duration::from_millis(100),
        || caps.masters(a_addr) >= n,
    )?;
    let masters_wait = (now_ns() - t_start) as f64 / 1e9;
    let masters_before = caps.masters(a_addr);
    let pa: Vec<i32> = ra.iter().flat_map(Router::processes).collect();
    let settle_a = settle(&pa, Duration::from_secs(60))?;
    let ctx_a0 = switches(&pa);
    let w1 = cpu_window(
        std::slice::from_ref(&pa),
        (window * 2 / 3).max(Duration::from_secs(1)),
        None,
    )?;
    let wake_a = (switches(&pa).saturating_sub(ctx_a0)) as f64 / w1.secs;
    let alive_a = pa.iter().filter(|&&p| lab::alive(p)).count();
    let mem_a: Vec<(u64, u64, u64)> = pa.iter().filter_map(|&p| mem_of(p)).collect();
    // Then the Backup router: it hears the Masters within 1 s, well before its own 3.6 s.
    let mut rb = Vec::new();
    for (k, (_, b, insts)) in groups.iter().enumerate() {
        let s = Spec {
            realtime,
            ..spec(100, interval_ms, insts.clone(), logs)
        };
        rb.push(Router::start(
            &mut lab,
            &ctx.vrrpd,
            imp,
            b,
            &format!("b{k}"),
            &s,
        )?);
    }
    sleep(Duration::from_millis(1500))?;
    let pb: Vec<i32> = rb.iter().flat_map(Router::processes).collect();
    let both: Vec<i32> = pa.iter().chain(&pb).copied().collect();
    let settle_b = settle(&both, Duration::from_secs(15))?;
    let ctx_b0 = switches(&pb);
    let w2 = cpu_window(&[pa.clone(), pb.clone()], window, Some(1))?;
    let wake_b = (switches(&pb).saturating_sub(ctx_b0)) as f64 / w2.secs;
    let masters_after = caps.masters(a_addr);
    let mem_b: Vec<(u64, u64, u64)> = pb.iter().filter_map(|&p| mem_of(p)).collect();
    let alive_b = pb.iter().filter(|&&p| lab::alive(p)).count();
    let mem_fields = |m: &[(u64, u64, u64)]| {
        let pss: Vec<f64> = m.iter().map(|m| m.1 as f64).collect();
        let rss: Vec<f64> = m.iter().map(|m| m.0 as f64).collect();
        let anon: Vec<f64> = m.iter().map(|m| m.2 as f64).collect();
        json!({
            "pss_kib_total": pss.iter().sum::<f64>(), "rss_kib_total": rss.iter().sum::<f64>(),
            "pss_kib_median": median(&pss), "pss_kib_max": pss.iter().copied().fold(0.0, f64::max),
            "rss_kib_median": median(&rss), "pss_anon_kib_median": median(&anon),
            "pss_anon_kib_total": anon.iter().sum::<f64>(),
        })
    };
    let row = |side: &str,
               procs: usize,
               alive: usize,
               w: &Win,
               cpu: (f64, f64),
               m: &[(u64, u64, u64)]| {
        let mut r = json!({
            "impl": imp.name(), "instances": n, "interval_ms": interval_ms, "side": side,
            "realtime": realtime, "interfaces": segs,
            "namespaces_per_router": groups.len(),
            "processes": procs, "alive": alive, "window_s": w.secs,
            "cpu_ns": (cpu.0 * w.secs * 1e9) as u64,
            "utime_stime_ticks": (cpu.1 * w.secs).round() as u64,
            "cpu_pct_core": cpu.0 * 100.0, "cpu_s_per_hour": cpu.0 * 3600.0,
            "ticks_s_per_hour": cpu.1 / 100.0 * 3600.0,
            "system_busy_pct": w.busy_pct, "masters_wait_s": masters_wait,
            "masters_seen_before": masters_before, "masters_seen_after": masters_after,
            "adverts_per_s_from_master": caps.count(a_addr, w.t0, w.t1) as f64 / w.secs,
            "adverts_from_backup": caps.count(b_addr, w.t0, w.t1),
        });
        if let (Some(o), Value::Object(mf)) = (r.as_object_mut(), mem_fields(m)) {
            o.extend(mf);
        }
        r
    };
    // Master: measured alone (w1). With the Backup listening (w2) its run time also holds the
    // kernel's delivery of each advert into the Backup's sockets (veth: in the sender's context).
    let mut master = row("master", pa.len(), alive_a, &w1, w1.cpu[0], &mem_a);
    master["settle_s"] = json!(settle_a);
    master["cpu_pct_core_with_backup"] = json!(w2.cpu[0].0 * 100.0);
    master["wakeups_per_s"] = json!(wake_a);
    let mut backup = row("backup", pb.len(), alive_b, &w2, w2.cpu[1], &mem_b);
    backup["settle_s"] = json!(settle_b);
    backup["delivery_pct_core"] = json!((w2.cpu[0].0 - w1.cpu[0].0) * 100.0);
    backup["saturated"] = json!(w2.saturated);
    backup["wakeups_per_s"] = json!(wake_b);
    // Per advert received: the Backup router's run time over the Master's adverts on the wire.
    let heard = caps.count(a_addr, w2.t0, w2.t1);
    if heard > 0 {
        backup["us_per_advert_received"] = json!(w2.cpu[1].0 * w2.secs * 1e6 / heard as f64);
    }
    // Per advert sent, the Master alone (w1: no Backup listening, so no delivery in it).
    let sent = caps.count(a_addr, w1.t0, w1.t1);
    if sent > 0 {
        master["us_per_advert_sent"] = json!(w1.cpu[0].0 * w1.secs * 1e6 / sent as f64);
    }
    drop(caps);
    drop(ra);
    drop(rb);
    Ok(vec![master, backup])
}

/// CPU over a window.
pub(super) struct Win {
    pub(super) t0: i64,
    pub(super) t1: i64,
    pub(super) secs: f64,
    /// Per group: (cores in use, utime+stime ticks per second).
    pub(super) cpu: Vec<(f64, f64)>,
    /// Whole machine busy, % of all cores (other jobs on the host included).
    pub(super) busy_pct: f64,
    /// The watched group used more than one core after 3 s: the window was cut to 10 s.
    saturated: bool,
}

/// Per process: (when read, run time ns, ticks). Reading a thousand processes takes a while on a
/// saturated machine, so every process carries its own read time.
type Snap = Vec<Option<(i64, u64, u64)>>;

fn snap(pids: &[i32]) -> Snap {
    pids.iter()
        .map(|&p| lab::cpu_of(p).map(|(ns, ticks)| (now_ns(), ns, ticks)))
        .collect()
}

/// Sum over the processes of their own rate between two snapshots: (cores, ticks per second).
fn rate(a: &Snap, b: &Snap) -> (f64, f64) {
    a.iter()
        .zip(b)
        .filter_map(|(a, b)| {
            let (a, b) = ((*a)?, (*b)?);
            let dt = (b.0 - a.0).max(1) as f64;
            Some((
                b.1.saturating_sub(a.1) as f64 / dt,
                b.2.saturating_sub(a.2) as f64 * 1e9 / dt,
            ))
        })
        .fold((0.0, 0.0), |s, d| (s.0 + d.0, s.1 + d.1))
}

/// Wait until the CPU use of `pids` is steady (two 1 s samples within 25 %, or below 0.5 % of a
/// core), bounded by `limit`; returns the seconds waited.
pub(super) fn settle(pids: &[i32], limit: Duration) -> R<f64> {
    let start = std::time::Instant::now();
    let mut prev: Option<f64> = None;
    loop {
        let a = snap(pids);
        sleep(Duration::from_secs(1))?;
        let r = rate(&a, &snap(pids)).0;
        let steady = r < 0.005 || prev.is_some_and(|p| (r - p).abs() <= 0.25 * p.max(r));
        if steady || start.elapsed() >= limit {
            return Ok(start.elapsed().as_secs_f64());
        }
        prev = Some(r);
    }
}

pub(super) fn cpu_window(groups: &[Vec<i32>], dur: Duration, watch: Option<usize>) -> R<Win> {
    let s0 = lab::sys_stat();
    let t0 = now_ns();
    let b0: Vec<Snap> = groups.iter().map(|g| snap(g)).collect();
    let first = dur.min(Duration::from_secs(3));
    sleep(first)?;
    let saturated = watch.is_some_and(|g| rate(&b0[g], &snap(&groups[g])).0 > 1.0);
    let total = if saturated {
        dur.min(Duration::from_secs(10))
    } else {
        dur
    };
    sleep(total.saturating_sub(first))?;
    let cpu = groups
        .iter()
        .zip(&b0)
        .map(|(g, b)| rate(b, &snap(g)))
        .collect();
    let t1 = now_ns();
    let s1 = lab::sys_stat();
    Ok(Win {
        t0,
        t1,
        secs: (t1 - t0) as f64 / 1e9,
        cpu,
        busy_pct: 100.0 * (s1.0 - s0.0) as f64 / (s1.1 - s0.1).max(1) as f64,
        saturated,
    })
}

/// Voluntary context switches summed over `pids` (wake-ups after sleeping).
fn switches(pids: &[i32]) -> u64 {
    pids.iter()
        .filter_map(|&p| ctxt_switches(p))
        .map(|c| c.0)
        .sum()
}

/// Voluntary and involuntary context switches of `pid` (`/proc/PID/status`). A process that
/// sleeps in poll(2) and is woken counts one voluntary switch per wake-up.
fn ctxt_switches(pid: i32) -> Option<(u64, u64)> {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        st.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
    };
    Some((
        field("voluntary_ctxt_switches:")?,
        field("nonvoluntary_ctxt_switches:")?,
    ))
}

/// Wake-ups of one idle Master and one idle Backup (one instance each, default link checking,
/// on a veth pair) at `interval_ms`: voluntary context switches per second of every process of
/// each router over `window`, once the Backup has heard five of the Master's adverts. The floor is 1000 / `interval_ms` per router (one advert sent, or received).
pub fn wakeups(ctx: &Ctx, imp: Impl, interval_ms: u32, window: Duration) -> R<Value> {
    let mut lab = Lab::new(&ctx.root, "wakeups")?;
    let a = lab.add_ns("a")?;
    let b = lab.add_ns("b")?;
    lab.veth(&a, "eth0", &b, "eth0")?;
    for (ns, last) in [(&a, 251), (&b, 252)] {
        let addr = format!("192.0.2.{last}/24");
        run(&["ip", "-n", ns, "addr", "add", &addr, "dev", "eth0"])?;
        run(&["ip", "-n", ns, "link", "set", "eth0", "up"])?;
    }
    let cap = Capture::start(&b)?;
    let insts = vec![inst("eth0", VRID, VIP)];
    let ra = Router::start(
        &mut lab,
        &ctx.vrrpd,
        imp,
        &a,
        "a",
        &spec(200, interval_ms, insts.clone(), false),
    )?;
    let rb = Router::start(
        &mut lab,
        &ctx.vrrpd,
        imp,
        &b,
        "b",
        &spec(100, interval_ms, insts, false),
    )?;
    let a_addr = Ipv4Addr::new(192, 0, 2, 251);
    // Settled: five adverts from the Master heard on B.
    let iv = Duration::from_millis(u64::from(interval_ms));
    let settled = wait_until(iv * 10 + Duration::from_secs(15), iv / 4, || {
        cap.with(|v| {
            v.iter()
                .filter(|x| !x.outgoing && x.src == a_addr && x.prio == 200)
                .count()
                >= 5
        })
    })?;
    if !settled {
        return Err(format!(
            "no Master on A\n{}\n{}",
            ra.log_tail(),
            rb.log_tail()
        ));
    }
    let (pa, pb) = (ra.processes(), rb.processes());
    let sum = |pids: &[i32]| {
        pids.iter()
            .filter_map(|&p| ctxt_switches(p))
            .fold((0u64, 0u64), |s, c| (s.0 + c.0, s.1 + c.1))
    };
    let (a0, b0, t0) = (sum(&pa), sum(&pb), now_ns());
    sleep(window)?;
    let (a1, b1, t1) = (sum(&pa), sum(&pb), now_ns());
    let secs = (t1 - t0) as f64 / 1e9;
    let per_s = |x: u64, y: u64| y.saturating_sub(x) as f64 / secs;
    let adverts = cap.with(|v| {
        v.iter()
            .filter(|x| !x.outgoing && x.src == a_addr && x.t >= t0 && x.t <= t1)
            .count()
    }) as f64
        / secs;
    Ok(json!({
        "impl": imp.name(), "interval_ms": interval_ms, "window_s": secs,
        "adverts_per_s": adverts,
        "master_wakeups_per_s": per_s(a0.0, a1.0),
        "master_involuntary_per_s": per_s(a0.1, a1.1),
        "backup_wakeups_per_s": per_s(b0.0, b1.0),
        "backup_involuntary_per_s": per_s(b0.1, b1.1),
        "loadavg": std::fs::read_to_string("/proc/loadavg").unwrap_or_default().trim(),
    }))
}
