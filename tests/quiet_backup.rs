//! The quiet Backup (issue #14, `--quiet-backup`): the kernel drops adverts that repeat the last
//! one, the Backup wakes about once per Master_Down_Interval and still counts, fails over and
//! reacts as if it had read every advert. Two routers on a bridge, 100 ms VRRPv3, IPv4 and IPv6.

mod common;

use std::time::Duration;

use common::*;

/// `voluntary_ctxt_switches` of `pid` (one per return from poll(2) after sleeping).
fn wakeups(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}

fn rcvd(lab: &Lab, ns: &str) -> u64 {
    let (_, dump, _) = lab.atropos(ns, &["--dump", "--json"]);
    let j: serde_json::Value = serde_json::from_str(&dump).expect("dump json");
    j[0]["detail"]["adverts_rcvd"]
        .as_u64()
        .unwrap_or_else(|| panic!("no adverts_rcvd: {dump}"))
}

struct Setup {
    vrid: &'static str,
    vips: &'static [&'static str],
}

const V4: Setup = Setup {
    vrid: "51",
    vips: &["192.0.2.254/24"],
};
const V6: Setup = Setup {
    vrid: "53",
    vips: &["fe80::53/64", "2001:db8::fe/64"],
};

fn args<'a>(s: &'a Setup, prio: &'a str, mode: &'a str) -> Vec<&'a str> {
    let mut a = vec![
        "-i",
        "eth0",
        "-v",
        s.vrid,
        "-p",
        prio,
        "-d",
        "100ms",
        "--quiet-backup",
        mode,
    ];
    a.extend_from_slice(s.vips);
    a
}

/// Start the Backup (r2, priority 100) in `mode`, then the Master (r1, 150), a capture on r2's
/// link running from before either. Returns when r2 is Backup and has armed.
fn start(lab: &mut Lab, s: &Setup, mode: &str) -> (Proc, Proc, Capture) {
    let [r1, r2] = lab.ns_names();
    let cap = Capture::start(&r2, "eth0");
    let b = lab.vrrpd(&r2, "r2", &args(s, "100", mode));
    assert!(
        wait_for(Duration::from_secs(5), || b.log_text().contains("starting")).is_some(),
        "{}",
        b.log_text()
    );
    let a = lab.vrrpd(&r1, "r1", &args(s, "150", mode));
    let vrid: u8 = s.vrid.parse().unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || {
            lab.state(&r1, vrid).as_deref() == Some("MASTER")
                && lab.state(&r2, vrid).as_deref() == Some("BACKUP")
        })
        .is_some(),
        "r1:\n{}\nr2:\n{}",
        a.log_text(),
        b.log_text()
    );
    (a, b, cap)
}

/// (1), (2), (5), (6): wake-ups over 3 s as Backup; every advert of the Master counted exactly;
/// after the Master's SIGKILL, the takeover within Master_Down_Interval on the wire.
fn wakes_counts_and_fails_over(s: &Setup, mode: &str) -> f64 {
    let mut lab = Lab::new(&["r1", "r2"]);
    let [r1, r2] = lab.ns_names();
    let (mut a, b, cap) = start(&mut lab, s, mode);
    let want = if mode == "auto" {
        "quiet Backup on"
    } else {
        "quiet Backup off"
    };
    assert!(b.log_text().contains(want), "{}", b.log_text());
    std::thread::sleep(Duration::from_millis(500));
    let w0 = wakeups(b.pid());
    std::thread::sleep(Duration::from_secs(3));
    let per_s = (wakeups(b.pid()) - w0) as f64 / 3.0;
    // Stop the Master: no advert after this; what the Backup counts is final (its
    // Master_Down_Timer, 361 ms, has not run out when it is asked).
    signal(a.pid(), libc::SIGSTOP);
    std::thread::sleep(Duration::from_millis(120));
    let got = rcvd(&lab, &r2);
    signal(a.pid(), libc::SIGKILL);
    let _ = wait_exit(&mut a, Duration::from_secs(2));
    let vrid: u8 = s.vrid.parse().unwrap();
    assert!(
        wait_for(Duration::from_secs(3), || lab.state(&r2, vrid).as_deref()
            == Some("MASTER"))
        .is_some(),
        "{}",
        b.log_text()
    );
    std::thread::sleep(Duration::from_millis(150));
    let seen = cap.finish();
    let master = seen
        .iter()
        .find(|x| prio(x) == 150)
        .map(|x| x.src)
        .expect("adverts of r1");
    let from_a: Vec<_> = seen.iter().filter(|x| x.src == master).collect();
    let sent = from_a.len() as u64;
    let last_a = from_a.iter().map(|x| x.at).max().unwrap();
    let first_b = seen
        .iter()
        .filter(|x| x.src != master && x.at > last_a)
        .map(|x| x.at)
        .min()
        .expect("adverts of r2 after r1's last");
    let gap = first_b - last_a;
    eprintln!(
        "{mode} {}: {per_s:.2} wake-ups/s as Backup, r1 sent {sent}, r2 counted {got}, takeover {gap:?}",
        s.vrid
    );
    assert_eq!(got, sent, "every advert counted\n{}", b.log_text());
    // Master_Down_Interval for priority 100 at 10 cs: 360.9375 ms; [MDI − 10 ms, MDI + 100 ms].
    assert!(gap >= Duration::from_micros(350_938), "too early: {gap:?}");
    assert!(gap <= Duration::from_micros(460_938), "too late: {gap:?}");
    drop(lab);
    let _ = r1;
    per_s
}

#[test]
fn quiet_backup_wakes_less_counts_every_advert_and_fails_over() {
    if !require_root("quiet_backup_wakes_less_counts_every_advert_and_fails_over") {
        return;
    }
    for s in [&V4, &V6] {
        let off = wakes_counts_and_fails_over(s, "off");
        let quiet = wakes_counts_and_fails_over(s, "auto");
        assert!(
            quiet * 2.0 <= off,
            "VRID {}: quiet {quiet:.2}/s, off {off:.2}/s",
            s.vrid
        );
    }
}

/// (3): a Master leaving with priority 0 (SIGTERM): the quiet Backup takes over after its
/// Skew_Time (61 ms at priority 100), not its Master_Down_Interval (361 ms).
#[test]
fn quiet_backup_takes_over_at_skew_time_after_priority_zero() {
    if !require_root("quiet_backup_takes_over_at_skew_time_after_priority_zero") {
        return;
    }
    for s in [&V4, &V6] {
        let mut lab = Lab::new(&["r1", "r2"]);
        let (mut a, b, cap) = start(&mut lab, s, "auto");
        std::thread::sleep(Duration::from_millis(800));
        signal(a.pid(), libc::SIGTERM);
        let _ = wait_exit(&mut a, Duration::from_secs(3));
        std::thread::sleep(Duration::from_millis(500));
        let seen = cap.finish();
        let zero = seen
            .iter()
            .find(|x| prio(x) == 0)
            .expect("a priority-0 advert");
        let first_b = seen
            .iter()
            .filter(|x| prio(x) == 100 && x.at > zero.at)
            .map(|x| x.at)
            .min()
            .unwrap_or_else(|| panic!("r2 never advertised:\n{}", b.log_text()));
        let gap = first_b - zero.at;
        eprintln!("VRID {}: priority 0 -> takeover {gap:?}", s.vrid);
        assert!(
            gap <= Duration::from_millis(160),
            "{gap:?}\n{}",
            b.log_text()
        );
    }
}

/// (4): a changed advert reaches the quiet Backup: the Master's priority lowered below the
/// Backup's with atropos. The Backup discards an advert of lower priority (RFC 9568 §6.4.2,
/// Preempt_Mode on) and so takes over once its Master_Down_Interval (361 ms) from the last
/// advert at 150 has run out. Had the filter taken the changed advert for a repeat, its
/// Master_Down_Timer would be reset by every one of them and it would stay Backup.
#[test]
fn quiet_backup_sees_a_changed_advert_at_once() {
    if !require_root("quiet_backup_sees_a_changed_advert_at_once") {
        return;
    }
    for s in [&V4, &V6] {
        let mut lab = Lab::new(&["r1", "r2"]);
        let [r1, r2] = lab.ns_names();
        let (_a, b, _cap) = start(&mut lab, s, "auto");
        std::thread::sleep(Duration::from_millis(800));
        let vrid: u8 = s.vrid.parse().unwrap();
        let (rc, out, err) = lab.atropos(&r1, &["--priority", "90"]);
        assert_eq!(rc, 0, "{out}{err}");
        let took = wait_for(Duration::from_secs(2), || {
            lab.state(&r2, vrid).as_deref() == Some("MASTER")
        })
        .unwrap_or_else(|| panic!("r2 did not preempt:\n{}", b.log_text()));
        eprintln!(
            "VRID {}: priority 150 -> 90, r2 Master after {took:?}",
            s.vrid
        );
        assert!(
            took <= Duration::from_millis(600),
            "{took:?}\n{}",
            b.log_text()
        );
        assert!(
            b.log_text()
                .contains("BACKUP -> MASTER (master down timer expired)"),
            "{}",
            b.log_text()
        );
    }
}

/// systemd's watchdog: tied to 1.5 advert intervals (at least 1 s) it would wake a quiet Backup
/// several times per Master_Down_Interval. While armed the Backup goes back to the unit's own
/// period (here 4 s, pinged at the latest every 2 s), and on taking over ties it again at
/// once (1 s).
#[test]
fn quiet_backup_relaxes_the_watchdog_until_it_takes_over() {
    if !require_root("quiet_backup_relaxes_the_watchdog_until_it_takes_over") {
        return;
    }
    use std::os::unix::net::UnixDatagram;
    let mut lab = Lab::new(&["r1", "r2"]);
    let [r1, r2] = lab.ns_names();
    let path = lab.dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let run = lab.dir.join("run").to_string_lossy().into_owned();
    let notify = path.to_string_lossy().into_owned();
    let mut all = vec!["--foreground"];
    all.extend(args(&V4, "100", "auto"));
    let b = lab.spawn(
        &r2,
        "r2",
        env!("CARGO_BIN_EXE_vrrpd"),
        &all,
        &[
            ("VRRPD_RUN_DIR", &run),
            ("NOTIFY_SOCKET", &notify),
            ("WATCHDOG_USEC", "4000000"),
        ],
    );
    let mut a = lab.vrrpd(&r1, "r1", &args(&V4, "150", "auto"));
    let t0 = std::time::Instant::now();
    let mut got: Vec<(Duration, String)> = Vec::new();
    let mut buf = [0u8; 512];
    let mut killed = None;
    while t0.elapsed() < Duration::from_secs(12) {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push((
                t0.elapsed(),
                String::from_utf8_lossy(&buf[..n]).into_owned(),
            ));
        }
        if killed.is_none() && t0.elapsed() > Duration::from_secs(8) {
            signal(a.pid(), libc::SIGKILL);
            let _ = wait_exit(&mut a, Duration::from_secs(2));
            killed = Some(t0.elapsed());
        }
    }
    let text = format!("{got:?}\n{}", b.log_text());
    let killed = killed.unwrap();
    // Relaxed to the unit's 4 s while armed, before the kill.
    assert!(
        got.iter()
            .any(|(t, m)| *t < killed && m == "WATCHDOG_USEC=4000000"),
        "{text}"
    );
    // Pings while relaxed: at most 2 s apart (the unit's 4 s would kill at 4 s).
    let pings: Vec<Duration> = got
        .iter()
        .filter(|(t, m)| m == "WATCHDOG=1" && *t > Duration::from_secs(3) && *t < killed)
        .map(|(t, _)| *t)
        .collect();
    let gap = pings
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    eprintln!(
        "{} pings in the quiet window, largest gap {gap:?}",
        pings.len()
    );
    assert!(pings.len() >= 2, "{text}");
    assert!(gap <= Duration::from_millis(2200), "{gap:?}\n{text}");
    // Fewer pings than tied (one per 333 ms: 15 in 5 s).
    assert!(pings.len() <= 6, "{text}");
    // Master after the kill: tied again (1 s, the floor).
    assert!(
        got.iter()
            .any(|(t, m)| *t > killed && m == "WATCHDOG_USEC=1000000"),
        "{text}"
    );
}

/// A carrier loss that only the ethtool poll sees (netlink link events of the interface
/// ignored, a debug-build test hook, as with a driver that does not report its carrier to
/// netlink), with the poll not due when the adverts stop (`--link-poll 4s`; a quiet Backup has
/// no poll backstop between its wake-ups at all): the Backup asks the poll before its
/// Master_Down_Timer makes it Master, and goes to FAULT without a moment as Master. Before the
/// check it became Master at the timeout and went to FAULT only at the next poll, seconds on.
#[test]
fn quiet_backup_checks_the_link_before_taking_over() {
    if !require_root("quiet_backup_checks_the_link_before_taking_over") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let [r1, r2] = lab.ns_names();
    let a = lab.vrrpd(&r1, "r1", &args(&V4, "150", "auto"));
    assert!(
        wait_for(Duration::from_secs(5), || lab.state(&r1, 51).as_deref()
            == Some("MASTER"))
        .is_some(),
        "{}",
        a.log_text()
    );
    let mut bargs = vec![
        "--foreground",
        "--debug",
        "--link-check",
        "ethtool",
        "--link-poll",
        "4s",
    ];
    bargs.extend(args(&V4, "100", "auto"));
    let run = lab.dir.join("run").to_string_lossy().into_owned();
    let b = lab.spawn(
        &r2,
        "r2",
        env!("CARGO_BIN_EXE_vrrpd"),
        &bargs,
        &[
            ("VRRPD_RUN_DIR", &run),
            ("VRRPD_TEST_IGNORE_LINK_EVENTS", "1"),
        ],
    );
    assert!(
        wait_for(Duration::from_secs(5), || lab.state(&r2, 51).as_deref()
            == Some("BACKUP"))
        .is_some(),
        "{}",
        b.log_text()
    );
    assert!(b.log_text().contains("quiet Backup on"), "{}", b.log_text());
    // Armed after the first adverts; then r2's switch port goes down: no advert reaches it,
    // and netlink's carrier event is ignored.
    std::thread::sleep(Duration::from_millis(500));
    let sw = lab.switch.clone();
    sh(&["ip", "-n", &sw, "link", "set", "p1", "down"]);
    assert!(
        wait_for(Duration::from_secs(7), || lab.state(&r2, 51).as_deref()
            == Some("FAULT"))
        .is_some(),
        "{}",
        b.log_text()
    );
    let (_, dump, _) = lab.atropos(&r2, &["--dump", "--json"]);
    let j: serde_json::Value = serde_json::from_str(&dump).expect("dump json");
    let t = &j[0]["detail"]["transitions"];
    assert!(
        t["BACKUP->MASTER"].as_u64().unwrap_or(0) == 0,
        "the quiet Backup was Master before the poll saw the link down: {t}\n{}",
        b.log_text()
    );
    assert!(
        b.log_text().contains("ethtool reports the link down"),
        "{}",
        b.log_text()
    );
}

/// Whether `pid` has the quiet filter's map mapped (`/proc/PID/maps` names it
/// `anon_inode:bpf-map`).
fn maps_bpf_map(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .unwrap_or_default()
        .contains("bpf-map")
}

/// The map's page is the Backup's only: a quiet Backup disarmed while still Backup (its
/// priority changed with atropos while the Master is stopped, so no advert arms it again) that
/// then takes over gives the page back as Master. Before, only a disarm on leaving Backup did,
/// and this Master kept it.
#[test]
fn a_master_keeps_no_page_of_the_quiet_filter() {
    if !require_root("a_master_keeps_no_page_of_the_quiet_filter") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let [_r1, r2] = lab.ns_names();
    let (a, b, _cap) = start(&mut lab, &V4, "auto");
    std::thread::sleep(Duration::from_millis(500));
    assert!(maps_bpf_map(b.pid()), "armed Backup without the map's page");
    signal(a.pid(), libc::SIGSTOP);
    let (rc, out, err) = lab.atropos(&r2, &["--priority", "110"]);
    assert_eq!(rc, 0, "{out}{err}");
    assert!(
        wait_for(Duration::from_secs(3), || lab.state(&r2, 51).as_deref()
            == Some("MASTER"))
        .is_some(),
        "{}",
        b.log_text()
    );
    std::thread::sleep(Duration::from_millis(100));
    let mapped = maps_bpf_map(b.pid());
    signal(a.pid(), libc::SIGKILL);
    assert!(
        !mapped,
        "the new Master still maps the quiet filter's map\n{}",
        b.log_text()
    );
}
