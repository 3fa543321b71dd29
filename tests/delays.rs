//! Preemption and start-up delays on the wire (issue #17): `--preempt-delay` keeps a restarted
//! higher-priority router from preempting a lower-priority master for the delay, but not from
//! replacing a master that dies; `--startup-delay` keeps an instance whose interface is not
//! ready at start in INIT for the delay, and starts one whose interface is ready at once. Every
//! figure is measured: the daemon's start from its own log stamp (CLOCK_MONOTONIC), the takeover
//! from its first advert captured on the segment (the capture's time on the same clock).

mod common;

use std::time::Duration;

use common::*;

const VIP: &str = "192.0.2.254";

/// Master_Down_Interval of a prio-200 VRRPv3 router at 100 ms: 3 × 100 ms + 56/256 × 100 ms.
const MDI_200: f64 = 0.321_875;

/// The adverts of VRID 51 at priority `p`, as CLOCK_MONOTONIC.
fn adverts(mono0: Duration, seen: &[Seen], p: u8) -> Vec<Duration> {
    seen.iter()
        .filter(|s| s.payload.get(1) == Some(&51) && prio(s) == p)
        .map(|s| mono0 + s.at)
        .collect()
}

/// The daemon's start, from its log stamp.
fn started(p: &Proc) -> Duration {
    wait_some(Duration::from_secs(5), || log_stamp(p, ": starting,"))
        .unwrap_or_else(|| panic!("no start line\n{}", p.log_text()))
}

fn stop(p: &mut Proc) {
    signal(p.pid(), libc::SIGTERM);
    assert!(
        wait_exit(p, Duration::from_secs(5)).is_some(),
        "{}",
        p.log_text()
    );
}

/// r1 (prio 200, 100 ms adverts) starts with `extra` on `r1_ns` while a prio-100 master runs,
/// and preempts it. Returns the time from r1's start to its first advert on the wire (seconds).
fn takeover_after_start(lab: &mut Lab, r1_ns: &str, c_ns: &str, tag: &str, extra: &str) -> f64 {
    let cap = Capture::start(c_ns, "eth0");
    let mono0 = cap.mono_start;
    let mut a = lab.vrrpd_line(
        r1_ns,
        tag,
        &format!("-i eth0 -v 51 -p 200 -d 100ms -n {extra} {VIP}/24"),
    );
    let t0 = started(&a);
    let took = wait_for(Duration::from_secs(8), || lab.has_addr(r1_ns, VIP));
    std::thread::sleep(Duration::from_millis(200));
    let seen = cap.finish();
    assert!(took.is_some(), "r1 never took over\n{}", a.log_text());
    let first = adverts(mono0, &seen, 200)
        .into_iter()
        .find(|&t| t >= t0)
        .unwrap_or_else(|| panic!("no prio-200 advert captured\n{}", a.log_text()));
    stop(&mut a);
    (first - t0).as_secs_f64()
}

/// A restarted prio-200 router with `--preempt-delay 1s` preempts a running prio-100 master only
/// after the delay: the delay + Master_Down_Interval after its start (the down timer armed by the
/// last advert it accepted, at most one interval before the delay ends), where without the delay
/// it takes over one Master_Down_Interval after its start. With a 10 s delay, the master killed
/// is still replaced within a Master_Down_Interval of its last advert: the delay never holds back
/// a takeover from a dead master.
#[test]
fn preempt_delay_measured_on_the_wire() {
    if !require_root("preempt_delay_measured_on_the_wire") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2", "client"]);
    let [r1, r2, c] = lab.ns_names();
    let mut b = lab.vrrpd_line(
        &r2,
        "r2",
        &format!("-i eth0 -v 51 -p 100 -d 100ms -n {VIP}/24"),
    );
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r2, VIP)).is_some(),
        "{}",
        b.log_text()
    );

    // Without the delay: one Master_Down_Interval (the first lower advert is not accepted).
    let plain = takeover_after_start(&mut lab, &r1, &c, "r1-plain", "");
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r2, VIP)).is_some(),
        "r2 back as master after r1's stop\n{}",
        b.log_text()
    );
    // With 1 s.
    let delayed = takeover_after_start(&mut lab, &r1, &c, "r1-delay", "--preempt-delay 1s");
    println!(
        "MEASURED: takeover from a prio-100 master at 100 ms adverts, from the prio-200 \
         router's start: {plain:.3} s without a delay, {delayed:.3} s with --preempt-delay 1s \
         (expected {MDI_200:.3} s and 1 s + {:.3}-{MDI_200:.3} s, plus start-up)",
        MDI_200 - 0.1
    );
    // The lower bound is the feature: not before the delay plus the down interval less one
    // advert interval (an unloaded machine adds ~10 ms of start-up). Less one interval exactly
    // only if r2's adverts left on time: the delay ends at a random phase of r2's 100 ms grid,
    // and when it ends just after a grid point whose advert is late (r2's wake-up), that advert
    // reaches r1 after the delay, is discarded, and the last accepted one is up to an interval
    // plus that lateness earlier (the bound was then met by the start line's 0.4 ms lead over
    // the delay's start alone). 40 ms of lateness allowed (faults.rs allows 70 ms on one advert
    // gap); a takeover before the delay's end is still caught by 180 ms. The upper bounds leave
    // a loaded machine (2 cores, several builds) 0.5 s.
    assert!(
        plain < MDI_200 + 0.5,
        "without the delay the takeover took {plain:.3} s"
    );
    assert!(
        delayed >= 1.0 + MDI_200 - 0.1 - 0.04,
        "with --preempt-delay 1s r1 took over after {delayed:.3} s, before the delay"
    );
    assert!(
        delayed < 1.0 + MDI_200 + 0.5,
        "with --preempt-delay 1s r1 took over after {delayed:.3} s"
    );
    let log = std::fs::read_to_string(lab.dir.join("r1-delay.log")).unwrap_or_default();
    assert!(
        log.contains("preempt delay: not preempting lower-priority master 192.0.2.2 (prio 100)")
            && log.contains("preempt delay over: preempting lower-priority master 192.0.2.2"),
        "{log}"
    );

    // A 10 s delay, and the master dies 1 s in: replaced at once.
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r2, VIP)).is_some(),
        "{}",
        b.log_text()
    );
    let cap = Capture::start(&c, "eth0");
    let mono0 = cap.mono_start;
    let mut a = lab.vrrpd_line(
        &r1,
        "r1-long",
        &format!("-i eth0 -v 51 -p 200 -d 100ms -n --preempt-delay 10s {VIP}/24"),
    );
    let t0 = started(&a);
    std::thread::sleep(Duration::from_millis(1000));
    assert!(!lab.has_addr(&r1, VIP), "r1 preempted inside a 10 s delay");
    signal(b.pid(), libc::SIGKILL);
    let _ = wait_exit(&mut b, Duration::from_secs(5));
    let took = wait_for(Duration::from_secs(3), || lab.has_addr(&r1, VIP));
    std::thread::sleep(Duration::from_millis(200));
    let seen = cap.finish();
    assert!(
        took.is_some(),
        "r1 never replaced the dead master\n{}",
        a.log_text()
    );
    let last_r2 = *adverts(mono0, &seen, 100).last().expect("r2's adverts");
    let first_r1 = adverts(mono0, &seen, 200)
        .into_iter()
        .find(|&t| t >= t0)
        .expect("r1's first advert");
    let gap = first_r1.saturating_sub(last_r2).as_secs_f64();
    println!(
        "MEASURED: --preempt-delay 10s, master killed {:.3} s after start: replaced {gap:.3} s \
         after its last advert (Master_Down_Interval {MDI_200:.3} s)",
        (last_r2 - t0).as_secs_f64()
    );
    assert!(
        gap < MDI_200 + 0.5,
        "a dead master was replaced only {gap:.3} s after its last advert"
    );
    stop(&mut a);
}

/// Start with `extra` on r1 (alone: prio 200, 100 ms adverts) after `prepare` left its eth0 in
/// some state, run `during` 500 ms after the start, and return (seconds from start to the first
/// advert on the wire, the log).
fn first_advert_after_start(
    lab: &mut Lab,
    tag: &str,
    extra: &str,
    prepare: &[&[&str]],
    during: &[&[&str]],
) -> (f64, String) {
    let [r1, c] = lab.ns_names();
    for cmd in prepare {
        sh(cmd);
    }
    let cap = Capture::start(&c, "eth0");
    let mono0 = cap.mono_start;
    let mut a = lab.vrrpd_line(
        &r1,
        tag,
        &format!("-i eth0 -v 51 -p 200 -d 100ms -n {extra} {VIP}/24"),
    );
    let t0 = started(&a);
    std::thread::sleep(Duration::from_millis(500));
    for cmd in during {
        sh(cmd);
    }
    let took = wait_for(Duration::from_secs(6), || lab.has_addr(&r1, VIP));
    std::thread::sleep(Duration::from_millis(200));
    let seen = cap.finish();
    assert!(took.is_some(), "r1 never became master\n{}", a.log_text());
    let first = adverts(mono0, &seen, 200)
        .into_iter()
        .find(|&t| t >= t0)
        .unwrap_or_else(|| panic!("no advert captured\n{}", a.log_text()));
    stop(&mut a);
    ((first - t0).as_secs_f64(), a.log_text())
}

/// `--startup-delay 2s`: with eth0 down at start (up 0.5 s later), or without its address (back
/// 0.5 s later), the instance stays in INIT for the whole 2 s (logged when it starts and ends
/// waiting), then becomes master a Master_Down_Interval later; without the delay it would be
/// master 0.5 s + Master_Down_Interval after the start. With eth0 up and addressed it starts at
/// once: master one Master_Down_Interval after its start, no wait logged.
#[test]
fn startup_delay_measured_on_the_wire() {
    if !require_root("startup_delay_measured_on_the_wire") {
        return;
    }
    let mut lab = Lab::new(&["r1", "client"]);
    let [r1, _c] = lab.ns_names();
    let addr = "192.0.2.1/24";
    let link_down: &[&str] = &["ip", "-n", &r1, "link", "set", "eth0", "down"];
    let link_up: &[&str] = &["ip", "-n", &r1, "link", "set", "eth0", "up"];
    let del_addr: &[&str] = &["ip", "-n", &r1, "addr", "del", addr, "dev", "eth0"];
    let add_addr: &[&str] = &["ip", "-n", &r1, "addr", "add", addr, "dev", "eth0"];
    let sd = "--startup-delay 2s";

    let (ready, ready_log) = first_advert_after_start(&mut lab, "ready", sd, &[], &[]);
    let (down, down_log) = first_advert_after_start(&mut lab, "down", sd, &[link_down], &[link_up]);
    let (noaddr, noaddr_log) =
        first_advert_after_start(&mut lab, "noaddr", sd, &[del_addr], &[add_addr]);
    let (plain, _) = first_advert_after_start(&mut lab, "plain", "", &[link_down], &[link_up]);
    println!(
        "MEASURED: --startup-delay 2s at 100 ms adverts, start to first advert: interface \
         ready {ready:.3} s; link down until +0.5 s {down:.3} s; no address until +0.5 s \
         {noaddr:.3} s; link down until +0.5 s without the delay {plain:.3} s (expected \
         {MDI_200:.3}, 2 + {MDI_200:.3}, 2 + {MDI_200:.3}, 0.5 + {MDI_200:.3})"
    );
    // Ready: no wait (bounds: 0.5 s of margin for a loaded machine).
    assert!(ready < MDI_200 + 0.5, "ready interface: {ready:.3} s");
    assert!(!ready_log.contains("start-up delay"), "{ready_log}");
    // Not ready: never before the delay plus the down interval. Less 5 ms: t is counted from the
    // "starting," log line, but the daemon reads its start time (which the delay counts from) a
    // little before it writes that line (0.3 ms earlier in the CI run that failed with 2.322 s,
    // under 2 + MDI_200 = 2.3219 s), and the wire stamps come from the capture's clock.
    const EARLY: f64 = 0.005;
    for (what, t, log, why) in [
        ("link down", down, &down_log, "link down"),
        ("no address", noaddr, &noaddr_log, "no primary address"),
    ] {
        assert!(
            (2.0 + MDI_200 - EARLY..2.0 + MDI_200 + 0.5).contains(&t),
            "{what} at start: first advert {t:.3} s after the start\n{log}"
        );
        assert!(
            log.contains(&format!(
                "start-up delay: {why}, staying in INIT for 2.000s while the link settles"
            )) && log.contains("start-up delay over after 2.0")
                && log.contains("interface ready, joining the election"),
            "{log}"
        );
        assert!(
            !log.contains("-> FAULT"),
            "no FAULT while the start-up delay runs\n{log}"
        );
    }
    // The control: the same start without the delay goes through FAULT and is master sooner.
    assert!(plain < 2.0, "without the delay: {plain:.3} s");
}
