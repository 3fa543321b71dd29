//! IPv6 Router Advertisements on the wire (issue #17; RFC 9568 §6.4.3, §8.2; RFC 4861 §6.2):
//! a client namespace that accepts RAs (accept_ra=2, forwarding off) learns its default route
//! through the virtual router's link-local address and keeps it across a crash (kill -9 and the
//! link down), a preemption and a SIGTERM handover, pinging an address behind the routers (on
//! their loopback) every 10 ms; lost pings are measured and reported. No RA with router
//! lifetime 0 leaves during any of these (the successor sends RAs from the same link-local
//! address: a final RA would make hosts drop the route it now serves); the last router's
//! SIGTERM, with nobody to take over, ends in one, and the client drops the route. Router
//! Solicitations are answered by the master only, rate-limited; `--no-router-adverts` sends
//! none.

mod common;

use std::net::Ipv6Addr;
use std::time::Duration;

use common::*;

const LL: &str = "fe80::51";
/// On both routers' loopback: reachable only through the default route.
const BEHIND: &str = "2001:db8:ff::1";
/// The IPv6 virtual MAC of VRID 51 (RFC 9568 §7.3).
const VMAC6: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x02, 51];

/// A Router Advertisement seen on the wire.
#[derive(Debug, Clone)]
struct Ra {
    at: Duration,
    mac: [u8; 6],
    src: Ipv6Addr,
    lifetime: u16,
}

fn ras(frames: &[Frame]) -> Vec<Ra> {
    frames
        .iter()
        .filter(|f| {
            f.ethertype() == 0x86dd && f.bytes.get(20) == Some(&58) && f.bytes.get(54) == Some(&134)
        })
        .map(|f| {
            let b = &f.bytes;
            let src = Ipv6Addr::from(<[u8; 16]>::try_from(&b[22..38]).unwrap());
            Ra {
                at: f.at,
                mac: f.src_mac(),
                src,
                lifetime: u16::from_be_bytes([b[60], b[61]]),
            }
        })
        .collect()
}

/// Router Solicitations seen on the wire (by capture time).
fn solicits(frames: &[Frame]) -> Vec<Duration> {
    frames
        .iter()
        .filter(|f| {
            f.ethertype() == 0x86dd && f.bytes.get(20) == Some(&58) && f.bytes.get(54) == Some(&133)
        })
        .map(|f| f.at)
        .collect()
}

fn mac_of(ns: &str, dev: &str) -> [u8; 6] {
    let text = sh(&["ip", "-n", ns, "-o", "link", "show", "dev", dev]);
    let word = text
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or_else(|| panic!("no MAC in {text}"));
    let b: Vec<u8> = word
        .split(':')
        .map(|x| u8::from_str_radix(x, 16).unwrap())
        .collect();
    b.try_into().unwrap()
}

/// CLOCK_MONOTONIC stamps of every "now the master" line of a vrrpd log.
fn master_stamps_of(log: &std::path::Path) -> Vec<Duration> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("we are now the master"))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        .map(Duration::from_secs_f64)
        .collect()
}

fn master_stamps(p: &Proc) -> Vec<Duration> {
    master_stamps_of(&p.log)
}

fn sysctl(ns: &str, kv: &str) {
    sh(&["ip", "netns", "exec", ns, "sysctl", "-qw", kv]);
}

/// The client's default route, if any (`ip -6 route show default`).
fn default_route(c: &str) -> String {
    sh(&["ip", "-n", c, "-6", "route", "show", "default"])
        .trim()
        .to_string()
}

fn has_default_via_ll(c: &str) -> bool {
    default_route(c).starts_with(&format!("default via {LL} dev eth0"))
}

/// Routers forward (and so ignore RAs, as routers do) and hold [`BEHIND`] on their loopback;
/// the client does not forward and accepts RAs (accept_ra=2: even if it did).
fn setup(routers: &[&str], c: &str) {
    for r in routers {
        sysctl(r, "net.ipv6.conf.all.forwarding=1");
        sh(&[
            "ip",
            "-n",
            r,
            "addr",
            "add",
            &format!("{BEHIND}/128"),
            "dev",
            "lo",
        ]);
    }
    sysctl(c, "net.ipv6.conf.all.forwarding=0");
    sysctl(c, "net.ipv6.conf.eth0.accept_ra=2");
    assert!(
        default_route(c).is_empty(),
        "client has a default route before any RA: {}",
        default_route(c)
    );
}

/// Pings [`BEHIND`] from `c` every 10 ms, `count` times.
fn start_ping(lab: &mut Lab, c: &str, tag: &str, count: u32) -> Proc {
    let n = count.to_string();
    lab.spawn(
        c,
        tag,
        "ping",
        &["-6", "-n", "-i", "0.01", "-c", &n, "-W", "1", BEHIND],
        &[],
    )
}

const V6_LINE: &str = "-i eth0 -v 51 -d 100ms fe80::51/64 2001:db8::51/64";

#[test]
fn client_keeps_its_default_route_via_the_virtual_ll_across_failovers() {
    failovers(
        "client_keeps_its_default_route_via_the_virtual_ll_across_failovers",
        true,
    );
}

/// The same with -n: the RAs come from each router's own MAC, and the client's neighbour
/// entry for the virtual link-local address follows the takeover's unsolicited NAs.
#[test]
fn client_keeps_its_default_route_across_failovers_without_vmac() {
    failovers(
        "client_keeps_its_default_route_across_failovers_without_vmac",
        false,
    );
}

fn failovers(test: &str, vmac: bool) {
    if !require_root(test) {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2", "client"]);
    let [r1, r2, c] = lab.ns_names();
    setup(&[&r1, &r2], &c);
    let macs = if vmac {
        vec![VMAC6]
    } else {
        vec![mac_of(&r1, "eth0"), mac_of(&r2, "eth0")]
    };
    let line = if vmac {
        V6_LINE.to_string()
    } else {
        format!("{V6_LINE} -n")
    };
    let mode = if vmac { "VMAC" } else { "-n" };
    let cap = Capture::start(&c, "eth0");
    let mut a = lab.vrrpd_line(&r1, "r1", &format!("{line} -p 200"));
    let learnt = wait_for(Duration::from_secs(5), || has_default_via_ll(&c));
    assert!(
        learnt.is_some(),
        "the client learnt no default route via {LL}: '{}'\n{}",
        default_route(&c),
        a.log_text()
    );
    println!(
        "MEASURED: default route via {LL} learnt {:.0} ms after vrrpd started: {}",
        learnt.unwrap().as_secs_f64() * 1000.0,
        default_route(&c)
    );
    let mut b = lab.vrrpd_line(&r2, "r2", &format!("{line} -p 100"));
    std::thread::sleep(Duration::from_millis(800));
    // Reachable through the router before anything happens.
    assert!(
        try_sh(&[
            "ip", "netns", "exec", &c, "ping", "-6", "-c", "2", "-i", "0.1", "-W", "1", BEHIND
        ]),
        "{BEHIND} unreachable through the virtual router\n{}",
        a.log_text()
    );

    let mut losses = Vec::new();
    let mut windows = Vec::new();
    // 1. A crash: kill -9 and the link down (the box is gone); r2 takes over after
    // Master_Down_Interval (360.9 ms at 100 ms, priority 100).
    let w0 = cap.started.elapsed();
    let mut ping = start_ping(&mut lab, &c, "ping-crash", 200);
    std::thread::sleep(Duration::from_millis(400));
    signal(a.pid(), libc::SIGKILL);
    sh(&["ip", "-n", &r1, "link", "set", "eth0", "down"]);
    let _ = wait_exit(&mut a, Duration::from_secs(5));
    let (tx, rx) = ping_summary(&mut ping, Duration::from_secs(20));
    losses.push(("kill -9 (crash)", tx, rx));
    windows.push((w0, cap.started.elapsed()));
    assert!(
        has_default_via_ll(&c),
        "route lost after the crash: '{}'",
        default_route(&c)
    );

    // 2. r1 comes back and preempts r2 (S11 on r2: no final RA).
    sh(&["ip", "-n", &r1, "link", "set", "eth0", "up"]);
    std::thread::sleep(Duration::from_millis(300));
    let w0 = cap.started.elapsed();
    let mut ping = start_ping(&mut lab, &c, "ping-preempt", 200);
    std::thread::sleep(Duration::from_millis(200));
    let mut a = lab.vrrpd_line(&r1, "r1b", &format!("{line} -p 200"));
    let (tx, rx) = ping_summary(&mut ping, Duration::from_secs(20));
    losses.push(("preemption by the returning master", tx, rx));
    windows.push((w0, cap.started.elapsed()));
    assert!(
        log_stamp(&a, "we are now the master").is_some(),
        "r1 did not preempt\n{}",
        a.log_text()
    );
    assert!(
        has_default_via_ll(&c),
        "route lost after the preemption: '{}'",
        default_route(&c)
    );

    // 3. A planned stop: SIGTERM, lossless handover to r2.
    let w0 = cap.started.elapsed();
    let mut ping = start_ping(&mut lab, &c, "ping-term", 150);
    std::thread::sleep(Duration::from_millis(400));
    let term_at = cap.started.elapsed();
    signal(a.pid(), libc::SIGTERM);
    let (tx, rx) = ping_summary(&mut ping, Duration::from_secs(20));
    losses.push(("SIGTERM (planned handover)", tx, rx));
    windows.push((w0, cap.started.elapsed()));
    assert!(
        wait_exit(&mut a, Duration::from_secs(5)).is_some(),
        "r1 did not exit"
    );
    assert!(
        has_default_via_ll(&c),
        "route lost after the handover: '{}'",
        default_route(&c)
    );
    let before_last = cap.started.elapsed();

    // 4. The last router stops: nobody takes over; its final RA (after Master_Down_Interval,
    // the handover's wait) makes the client drop the route at once.
    let stop = std::time::Instant::now();
    signal(b.pid(), libc::SIGTERM);
    let dropped = wait_for(Duration::from_secs(5), || default_route(&c).is_empty());
    let _ = wait_exit(&mut b, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(200));
    let mono0 = cap.mono(Duration::ZERO);
    let frames = cap.finish_all();

    // Echo replies reaching the client, by capture time: the longest gap in each window is
    // how long the client had no working path through the virtual router.
    let replies: Vec<Duration> = frames
        .iter()
        .filter(|f| {
            f.ethertype() == 0x86dd && f.bytes.get(20) == Some(&58) && f.bytes.get(54) == Some(&129)
        })
        .map(|f| f.at)
        .collect();
    for ((what, tx, rx), (from, to)) in losses.iter().zip(&windows) {
        let inside: Vec<Duration> = replies
            .iter()
            .copied()
            .filter(|t| t >= from && t <= to)
            .collect();
        let gap = inside
            .windows(2)
            .map(|w| w[1] - w[0])
            .max()
            .unwrap_or_default();
        println!(
            "MEASURED: IPv6 failover ({mode}), {what}: lost {} of {tx} pings sent every 10 ms; longest \
             gap between echo replies {:.0} ms",
            tx - rx,
            gap.as_secs_f64() * 1000.0
        );
    }
    let all = ras(&frames);
    let ours: Vec<&Ra> = all.iter().filter(|r| r.src.to_string() == LL).collect();
    assert!(!ours.is_empty(), "no RA from {LL} on the wire");
    for r in &ours {
        assert!(
            macs.contains(&r.mac),
            "RA from {LL} not from {macs:?}: {r:?}"
        );
    }
    // Every RA's bytes: hop limit 255, checksum, SLLA = the virtual MAC.
    for f in frames.iter().filter(|f| {
        f.ethertype() == 0x86dd
            && f.bytes.get(54) == Some(&134)
            && f.bytes[22..38] == LL.parse::<Ipv6Addr>().unwrap().octets()
    }) {
        assert_eq!(f.bytes[21], 255, "hop limit");
        assert_eq!(&f.bytes[70..72], &[1, 1], "SLLA option");
        assert_eq!(f.bytes[72..78], f.bytes[6..12], "SLLA = the source MAC");
        let csum = vrrpd::proto::wire::nd::icmpv6_checksum(
            LL.parse().unwrap(),
            "ff02::1".parse().unwrap(),
            &f.bytes[54..],
        );
        assert_eq!(csum, 0, "ICMPv6 checksum");
    }
    // One RA on every entry to Master (RFC 9568 §8.2; the client's kernel also solicits every
    // 4 s until it has a router, so the route alone does not show it): within 300 ms either
    // side of each "now the master" log line (logged after the RA went; 300 ms is a loaded
    // machine's slack, and an answer to a solicitation comes 3 s after the last RA at best).
    let mut entries = Vec::new();
    for (who, p) in [("r1 (back)", &a), ("r2", &b)] {
        entries.extend(master_stamps(p).into_iter().map(|t| (who, t)));
    }
    entries.extend(
        master_stamps_of(&lab.dir.join("r1.log"))
            .into_iter()
            .map(|t| ("r1 (before the crash)", t)),
    );
    assert!(entries.len() >= 4, "master entries: {entries:?}");
    for (who, t) in &entries {
        let t = t.saturating_sub(mono0);
        let near = |r: &&&Ra| r.lifetime > 0 && r.at + Duration::from_millis(300) >= t;
        let ra = ours.iter().find(near).map(|r| r.at);
        assert!(
            ra.is_some_and(|at| at <= t + Duration::from_millis(300)),
            "{who} became master at {t:?} (capture time) without an RA within 300 ms: {ours:?}"
        );
    }
    println!(
        "MEASURED: an RA within 300 ms of each of the {} entries to master",
        entries.len()
    );
    let early_final: Vec<&&Ra> = ours
        .iter()
        .filter(|r| r.lifetime == 0 && r.at < before_last)
        .collect();
    assert!(
        early_final.is_empty(),
        "lifetime-0 RA while a successor took over (SIGTERM at {term_at:?}): {early_final:?}"
    );
    let finals: Vec<&&Ra> = ours
        .iter()
        .filter(|r| r.lifetime == 0 && r.at >= before_last)
        .collect();
    assert_eq!(
        finals.len(),
        1,
        "one final RA expected: {ours:?}\n{}",
        b.log_text()
    );
    assert!(
        dropped.is_some(),
        "the client kept '{}' after the last router left",
        default_route(&c)
    );
    println!(
        "MEASURED: last router's SIGTERM -> client's default route gone after {:.0} ms (final RA \
         after the handover wait, Master_Down_Interval 360.9 ms)",
        stop.elapsed()
            .min(dropped.unwrap() + Duration::from_millis(10))
            .as_secs_f64()
            * 1000.0
    );
    println!(
        "MEASURED: {} RAs from {LL} with lifetime {:?}",
        ours.len(),
        ours.iter()
            .map(|r| r.lifetime)
            .collect::<std::collections::BTreeSet<_>>()
    );
    // Bounds. A crash costs Master_Down_Interval (~361 ms = 36 pings) plus the loaded
    // machine's slack; without the RA the client has no route and loses them all. The
    // preemption and the handover keep the VIPs until the successor is heard: a few pings at
    // most (a loaded machine can delay the new master's NA/VMAC by tens of ms).
    let lost = |i: usize| losses[i].1 - losses[i].2;
    assert!(lost(0) <= 100, "crash: lost {} pings", lost(0));
    assert!(lost(1) <= 10, "preemption: lost {} pings", lost(1));
    assert!(lost(2) <= 10, "SIGTERM: lost {} pings", lost(2));
}

#[test]
fn solicitations_answered_by_the_master_only_and_no_router_adverts_sends_none() {
    let test = "solicitations_answered_by_the_master_only_and_no_router_adverts_sends_none";
    if !require_root(test) {
        return;
    }
    if !try_sh(&["sh", "-c", "command -v rdisc6"]) {
        skip(test, "rdisc6 (package ndisc6) is not installed");
        return;
    }
    let mut lab = Lab::new(&["r1", "r2", "client"]);
    let [r1, r2, c] = lab.ns_names();
    setup(&[&r1, &r2], &c);
    let (m1, m2) = (mac_of(&r1, "eth0"), mac_of(&r2, "eth0"));
    let cap = Capture::start(&c, "eth0");
    let mono0 = cap.mono(Duration::ZERO);
    // -n: the routers' RAs come from their own MACs, so master and backup tell apart. VRID 52
    // on r1 runs with --no-router-adverts.
    // r2 first: master for a while, then preempted by r1, a backup that has been master.
    let b = lab.vrrpd_line(
        &r2,
        "r2",
        "-i eth0 -v 51 -d 100ms -n -p 100 fe80::51/64 2001:db8::51/64",
    );
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r2, "fe80::51")).is_some(),
        "{}",
        b.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    let a = lab.vrrpd_line(
        &r1,
        "r1",
        "-i eth0 -v 51 -d 100ms -n -p 200 fe80::51/64 2001:db8::51/64",
    );
    let quiet = lab.vrrpd_line(
        &r1,
        "r1-quiet",
        "-i eth0 -v 52 -d 100ms -n -p 200 --no-router-adverts fe80::52/64 2001:db8::52/64",
    );
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, "fe80::52")
            && lab.has_addr(&r1, "fe80::51"))
        .is_some(),
        "{}\n{}",
        a.log_text(),
        quiet.log_text()
    );
    // Past the initial burst's second RA would take up to 16 s: solicit at once instead; the
    // start RA went out less than 3 s ago, so the answer waits for MIN_DELAY_BETWEEN_RAS.
    std::thread::sleep(Duration::from_millis(500));
    // rdisc6: one RS (-r 1), wait up to 4 s (-w) for the answer, exit on the first (-1).
    let rd = |lab: &mut Lab, tag: &str| {
        lab.spawn(
            &c,
            tag,
            "rdisc6",
            &["-1", "-r", "1", "-w", "4000", "eth0"],
            &[],
        )
    };
    // The client's kernel solicits too (before the first RA): rdisc6's RS is the first one
    // after it starts.
    let mut starts = vec![cap.started.elapsed()];
    let mut p1 = rd(&mut lab, "rdisc6-1");
    let _ = wait_exit(&mut p1, Duration::from_secs(8));
    starts.push(cap.started.elapsed());
    let mut p2 = rd(&mut lab, "rdisc6-2");
    let _ = wait_exit(&mut p2, Duration::from_secs(8));
    // 3.5 s after the last answer: no rate limit in the way, answered within 500 ms.
    std::thread::sleep(Duration::from_millis(3500));
    starts.push(cap.started.elapsed());
    let mut p3 = rd(&mut lab, "rdisc6-3");
    let _ = wait_exit(&mut p3, Duration::from_secs(8));
    std::thread::sleep(Duration::from_millis(300));
    let frames = cap.finish_all();
    let all_rs = solicits(&frames);
    let rs: Vec<Duration> = starts
        .iter()
        .filter_map(|&s| all_rs.iter().copied().find(|&t| t >= s))
        .collect();
    let all = ras(&frames);
    assert!(
        rs.len() == 3,
        "rdisc6 sent {} solicitations\n{}",
        rs.len(),
        p1.log_text()
    );
    let from_master: Vec<&Ra> = all.iter().filter(|r| r.mac == m1).collect();
    let answer = |after: Duration| from_master.iter().find(|r| r.at >= after).map(|r| r.at);
    let a1 = answer(rs[0])
        .unwrap_or_else(|| panic!("RS at {:?} not answered: {all:?}\n{}", rs[0], a.log_text()));
    let a2 = answer(rs[1]).unwrap_or_else(|| panic!("second RS not answered: {all:?}"));
    let a3 = answer(rs[2]).unwrap_or_else(|| panic!("third RS not answered: {all:?}"));
    println!(
        "MEASURED: RS answered {:.0} ms, {:.0} ms and {:.0} ms later; the first two answers \
         {:.0} ms apart (MIN_DELAY_BETWEEN_RAS 3 s, MAX_RA_DELAY_TIME 500 ms)",
        (a1 - rs[0]).as_secs_f64() * 1000.0,
        (a2 - rs[1]).as_secs_f64() * 1000.0,
        (a3 - rs[2]).as_secs_f64() * 1000.0,
        (a2 - a1).as_secs_f64() * 1000.0
    );
    // The random delay (at most 500 ms) plus a loaded machine's slack.
    assert!(
        a3 - rs[2] <= Duration::from_millis(900),
        "unlimited RS answered after {:?}",
        a3 - rs[2]
    );
    // 500 ms (random delay) or the 3 s spacing from the start RA, plus a loaded machine.
    assert!(a1 - rs[0] <= Duration::from_millis(3600), "{a1:?} {rs:?}");
    assert!(
        a2 - a1 >= Duration::from_millis(2990),
        "answers {a1:?} {a2:?} closer than 3 s"
    );
    assert!(
        p1.log_text().contains(LL),
        "rdisc6 saw no RA from {LL}: {}",
        p1.log_text()
    );
    // The backup (master until r1 preempted it) no longer sends or answers; VRID 52 sends
    // nothing.
    let preempted = log_stamp(&b, "MASTER -> BACKUP").expect("r2 preempted");
    let preempted = preempted.saturating_sub(mono0);
    assert!(
        all.iter().all(|r| r.mac != m2 || r.at <= preempted),
        "the backup sent an RA: {all:?}\n{}",
        b.log_text()
    );
    assert!(
        all.iter().all(|r| r.src.to_string() != "fe80::52"),
        "--no-router-adverts sent an RA: {all:?}"
    );
    // The master's RAs come from the NIC's MAC with -n, source the virtual LL.
    assert!(from_master
        .iter()
        .all(|r| r.src.to_string() == LL && r.lifetime == 600));
}
