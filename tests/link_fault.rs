//! Link supervision and the Fault state on real interfaces (issue "Link supervision, the Fault
//! state, and the virtual MAC").

mod common;

use std::time::Duration;

use common::*;

const VIP: &str = "192.0.2.254";

fn pair(lab: &mut Lab) -> (Proc, Proc, String, String) {
    let [r1, r2] = lab.ns_names();
    let a = lab.vrrpd(
        &r1,
        "r1",
        &[
            "-i", "eth0", "-v", "51", "-p", "150", "-d", "100ms", "-n", VIP,
        ],
    );
    let b = lab.vrrpd(
        &r2,
        "r2",
        &[
            "-i", "eth0", "-v", "51", "-p", "100", "-d", "100ms", "-n", VIP,
        ],
    );
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    (a, b, r1, r2)
}

fn count(p: &Proc, needle: &str) -> usize {
    p.log_text().matches(needle).count()
}

/// Link down on the master's own interface: Fault at once (netlink), VIP released, the backup
/// takes over; link up: Initialize -> Backup, then preemption gives it back after r1's
/// Master_Down_Interval (341.4 ms), timed on the wire.
#[test]
fn own_link_down_faults_and_recovers() {
    if !require_root("own_link_down_faults_and_recovers") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let (a, b, r1, r2) = pair(&mut lab);
    let t0 = std::time::Instant::now();
    sh(&["ip", "-n", &r1, "link", "set", "eth0", "down"]);
    let released = wait_for(Duration::from_secs(1), || !lab.has_addr(&r1, VIP));
    // "At once": the netlink event, not a timer. 100 ms covers the `ip` commands this test runs
    // to look (a few ms each).
    let took = t0.elapsed();
    assert!(
        released.is_some(),
        "VIP kept on r1 after link down:\n{}",
        a.log_text()
    );
    assert!(
        took <= Duration::from_millis(100),
        "VIP released {took:?} after link down\n{}",
        a.log_text()
    );
    assert_eq!(
        lab.state(&r1, 51).as_deref(),
        Some("FAULT"),
        "{}",
        a.log_text()
    );
    assert!(
        wait_for(Duration::from_secs(3), || lab.has_addr(&r2, VIP)).is_some(),
        "{}",
        b.log_text()
    );
    let cap = Capture::start(&r2, "eth0");
    let up_at = cap.started.elapsed();
    sh(&["ip", "-n", &r1, "link", "set", "eth0", "up"]);
    // Recovery: Initialize -> Backup (not Master: r2 is master), seen by atropos at once.
    let backup = wait_for(Duration::from_secs(1), || {
        lab.state(&r1, 51).as_deref() == Some("BACKUP")
    });
    assert!(
        backup.is_some(),
        "r1 not BACKUP after link up: {:?}\n{}",
        lab.state(&r1, 51),
        a.log_text()
    );
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    assert!(
        wait_for(Duration::from_secs(3), || !lab.has_addr(&r2, VIP)).is_some(),
        "{}",
        b.log_text()
    );
    // Adverts are heard again after the flap (multicast membership renewed): r2 stays backup.
    std::thread::sleep(Duration::from_millis(500));
    let seen = cap.finish();
    assert!(!lab.has_addr(&r2, VIP));
    let first = seen
        .iter()
        .find(|s| s.src.to_string() == "192.0.2.1" && prio(s) == 150)
        .unwrap_or_else(|| panic!("no advert from r1 after link up"))
        .at;
    let took = first - up_at;
    eprintln!("link up -> r1 master: {took:?}");
    // [MDI − 10 ms, MDI + 150 ms]: the link-up command and its netlink event come on top.
    assert!(
        took >= Duration::from_micros(331_406) && took <= Duration::from_micros(491_406),
        "r1 back as master {took:?} after link up (MDI 341.4 ms)\n{}",
        a.log_text()
    );
    assert_eq!(lab.state(&r1, 51).as_deref(), Some("MASTER"));
    assert_eq!(lab.state(&r2, 51).as_deref(), Some("BACKUP"));
}

/// Carrier lost (the peer end of the veth goes down): the same Fault and recovery.
#[test]
fn carrier_loss_faults_and_recovers() {
    if !require_root("carrier_loss_faults_and_recovers") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let (a, b, r1, r2) = pair(&mut lab);
    let sw = lab.switch.clone();
    sh(&["ip", "-n", &sw, "link", "set", "p0", "down"]);
    assert!(
        wait_for(Duration::from_secs(1), || a.log_text().contains("-> FAULT")).is_some(),
        "{}",
        a.log_text()
    );
    assert!(!lab.has_addr(&r1, VIP));
    assert!(
        wait_for(Duration::from_secs(3), || lab.has_addr(&r2, VIP)).is_some(),
        "{}",
        b.log_text()
    );
    sh(&["ip", "-n", &sw, "link", "set", "p0", "up"]);
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    assert_eq!(count(&a, "-> FAULT"), 1);
}

/// The interface deleted (fault: interface gone) and created again with a new index (recovery:
/// sockets reopened on the new index, election again).
#[test]
fn interface_deleted_and_recreated() {
    if !require_root("interface_deleted_and_recreated") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let (a, b, r1, r2) = pair(&mut lab);
    let sw = lab.switch.clone();
    sh(&["ip", "-n", &r1, "link", "del", "eth0"]);
    assert!(
        wait_for(Duration::from_secs(2), || a.log_text().contains("-> FAULT")).is_some(),
        "{}",
        a.log_text()
    );
    assert!(
        wait_for(Duration::from_secs(3), || lab.has_addr(&r2, VIP)).is_some(),
        "{}",
        b.log_text()
    );
    sh(&[
        "ip", "-n", &r1, "link", "add", "eth0", "type", "veth", "peer", "name", "p0", "netns", &sw,
    ]);
    sh(&["ip", "-n", &sw, "link", "set", "p0", "master", "br0"]);
    sh(&["ip", "-n", &sw, "link", "set", "p0", "up"]);
    sh(&[
        "ip",
        "-n",
        &r1,
        "addr",
        "add",
        "192.0.2.1/24",
        "dev",
        "eth0",
    ]);
    sh(&["ip", "-n", &r1, "link", "set", "eth0", "up"]);
    assert!(
        wait_for(Duration::from_secs(3), || a
            .log_text()
            .contains("interface is back"))
        .is_some(),
        "{}",
        a.log_text()
    );
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    assert!(
        wait_for(Duration::from_secs(3), || !lab.has_addr(&r2, VIP)).is_some(),
        "{}",
        b.log_text()
    );
    assert!(alive(&a));
}

/// The primary address removed (fault: no address) and added again (recovery); a new primary
/// address becomes the advert source.
#[test]
fn primary_address_removed_and_readded() {
    if !require_root("primary_address_removed_and_readded") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2", "client"]);
    let (a, b, r1, r2) = pair(&mut lab);
    let c = lab.host(2).ns.clone();
    sh(&[
        "ip",
        "-n",
        &r1,
        "addr",
        "del",
        "192.0.2.1/24",
        "dev",
        "eth0",
    ]);
    assert!(
        wait_for(Duration::from_secs(2), || a.log_text().contains("-> FAULT")).is_some(),
        "{}",
        a.log_text()
    );
    assert!(
        wait_for(Duration::from_secs(3), || lab.has_addr(&r2, VIP)).is_some(),
        "{}",
        b.log_text()
    );
    sh(&[
        "ip",
        "-n",
        &r1,
        "addr",
        "add",
        "192.0.2.11/24",
        "dev",
        "eth0",
    ]);
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    let cap = Capture::start(&c, "eth0");
    std::thread::sleep(Duration::from_millis(350));
    let seen = cap.finish();
    assert!(
        seen.iter().any(|s| s.src.to_string() == "192.0.2.11"),
        "new primary not used as source"
    );
    assert!(!seen.iter().any(|s| s.src.to_string() == "192.0.2.1"));
}

/// `--link-check ethtool` on a veth (it answers ETHTOOL_GLINK): accepted, logged, and a carrier
/// loss is seen; `--link-check mii` (veth has no MII) is refused with status 2.
#[test]
fn link_check_methods_on_veth() {
    if !require_root("link_check_methods_on_veth") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let r1 = lab.host(0).ns.clone();
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
            "--link-check",
            "ethtool",
            "--link-poll",
            "200ms",
            VIP,
        ],
    );
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    assert!(
        a.log_text()
            .contains("link check: netlink events + ethtool every 200ms"),
        "{}",
        a.log_text()
    );
    let sw = lab.switch.clone();
    sh(&["ip", "-n", &sw, "link", "set", "p0", "down"]);
    assert!(
        wait_for(Duration::from_secs(2), || lab.state(&r1, 51).as_deref()
            == Some("FAULT"))
        .is_some(),
        "{}",
        a.log_text()
    );
    // The poll alone: the same with the netlink monitor off (a test hook), so that only the
    // ethtool poll (every 200 ms) can see the carrier come back and go again.
    let p = lab.spawn(
        &r1,
        "polled",
        env!("CARGO_BIN_EXE_vrrpd"),
        &[
            "--foreground",
            "--debug",
            "-i",
            "eth0",
            "-v",
            "53",
            "-d",
            "100ms",
            "-n",
            "--link-check",
            "ethtool",
            "--link-poll",
            "200ms",
            "192.0.2.252",
        ],
        &[
            ("VRRPD_RUN_DIR", &lab.dir.join("run").to_string_lossy()),
            ("VRRPD_TEST_NO_LINK_MONITOR", "1"),
        ],
    );
    assert!(
        wait_for(Duration::from_secs(3), || lab.state(&r1, 53).as_deref()
            == Some("FAULT"))
        .is_some(),
        "no carrier at start: not FAULT {:?}\n{}",
        lab.state(&r1, 53),
        p.log_text()
    );
    sh(&["ip", "-n", &sw, "link", "set", "p0", "up"]);
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, "192.0.2.252")).is_some(),
        "the poll did not see the carrier back\n{}",
        p.log_text()
    );
    let t0 = std::time::Instant::now();
    sh(&["ip", "-n", &sw, "link", "set", "p0", "down"]);
    let fault = wait_for(Duration::from_secs(2), || {
        lab.state(&r1, 53).as_deref() == Some("FAULT")
    });
    assert!(
        fault.is_some(),
        "the ethtool poll did not see the carrier loss\n{}",
        p.log_text()
    );
    // Within one poll period (200 ms) and a loop turn; atropos itself takes a few ms.
    let took = t0.elapsed();
    eprintln!("carrier loss -> FAULT by the ethtool poll: {took:?}");
    assert!(
        took <= Duration::from_millis(300),
        "poll saw the loss {took:?} after it"
    );
    assert!(!lab.has_addr(&r1, "192.0.2.252"), "{}", p.log_text());
    let mut m = lab.vrrpd_line(&r1, "mii", "-i eth0 -v 52 -n --link-check mii 192.0.2.253");
    assert_eq!(
        wait_exit(&mut m, Duration::from_secs(5)),
        Some(2),
        "{}",
        m.log_text()
    );
    assert!(
        m.log_text().contains("'mii' for '--link-check <HOW>'"),
        "{}",
        m.log_text()
    );
}

/// The ethtool poll keeps its socket open and rides on the adverts (issue #14, wake-ups): strace,
/// attached to an idle master (advert interval 500 ms, `--link-poll 200ms`) for a window, sees
/// the poll's ethtool ioctls but no `socket(2)` call, and no more returns from poll(2) than the
/// adverts sent in the window plus two (the window's edges: attaching interrupts one wait).
/// Counts, not timings: a loaded machine delays wake-ups but does not add any. Before: one
/// socket() per poll, and a wake-up every 200 ms besides every advert (~21 in 3 s, not ~6).
#[test]
fn link_poll_keeps_its_socket_and_rides_on_adverts() {
    if !require_root("link_poll_keeps_its_socket_and_rides_on_adverts") {
        return;
    }
    if !try_sh(&["strace", "-V"]) {
        skip(
            "link_poll_keeps_its_socket_and_rides_on_adverts",
            "strace is not installed",
        );
        return;
    }
    let mut lab = Lab::new(&["r1"]);
    let r1 = lab.host(0).ns.clone();
    let a = lab.vrrpd_line(
        &r1,
        "r1",
        &format!(
            "-i eth0 -v 51 -d 500ms -n --garp-count 1 --link-check ethtool --link-poll 200ms {VIP}"
        ),
    );
    assert!(
        wait_for(Duration::from_secs(10), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    assert!(
        a.log_text()
            .contains("link check: netlink events + ethtool every 200ms on other wake-ups"),
        "{}",
        a.log_text()
    );
    // At rest: the takeover's announcements (one, --garp-count 1) are over.
    std::thread::sleep(Duration::from_secs(1));
    let out = lab.dir.join("strace.txt");
    let out_s = out.to_string_lossy().into_owned();
    let pid = a.pid().to_string();
    let window = Duration::from_secs(3);
    // `timeout` bounds the window; on SIGINT strace detaches and the daemon runs on.
    let _ = std::process::Command::new("timeout")
        .args([
            "-k", "2", "-s", "INT", "3", "strace", "-qq", "-p", &pid, "-o", &out_s,
        ])
        .args(["-e", "trace=socket,ioctl,poll,ppoll"])
        .status();
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let calls = |name: &str| {
        text.lines()
            .filter(|l| l.starts_with(name) && !l.contains("resumed>"))
            .count()
    };
    let (sockets, ethtool) = (calls("socket("), text.matches("SIOCETHTOOL").count());
    let polls = calls("poll(") + calls("ppoll(");
    let adverts = (window.as_millis() / 500) as usize;
    eprintln!("in {window:?}: {polls} poll(2) returns, {ethtool} ethtool ioctls, {sockets} socket(2) calls");
    assert!(alive(&a), "vrrpd died under strace\n{}", a.log_text());
    assert!(ethtool >= 2, "the ethtool poll did not run:\n{text}");
    assert_eq!(sockets, 0, "the poll opened sockets:\n{text}");
    assert!(
        polls <= adverts + 2,
        "{polls} wake-ups in {window:?} at a 500 ms advert interval:\n{text}"
    );
}

/// Issue 14 ("Short intervals"): a wake-up makes only the system calls its work needs. A
/// Master at rest wakes for its timer and sends: poll(2), the timerfd re-armed at the next
/// advert, one send; no read(2) of the timerfd (re-arming clears its expiry). A Backup wakes
/// for an advert: poll(2), one recvmsg(2) (no second one that only answers EAGAIN), the down
/// timer re-armed. strace over 3 s of both at a 50 ms interval; counts, not timings (a loaded
/// machine delays wake-ups but adds no system calls). Before: four calls per wake-up on each
/// side (the Master's read, the Backup's EAGAIN recvmsg).
#[test]
fn a_wake_up_makes_only_the_calls_it_needs() {
    if !require_root("a_wake_up_makes_only_the_calls_it_needs") {
        return;
    }
    if !try_sh(&["strace", "-V"]) {
        skip(
            "a_wake_up_makes_only_the_calls_it_needs",
            "strace is not installed",
        );
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let [r1, r2] = lab.ns_names();
    let a = lab.vrrpd_line(
        &r1,
        "r1",
        &format!("-i eth0 -v 51 -p 150 -d 50ms -n --garp-count 1 {VIP}"),
    );
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    let b = lab.vrrpd_line(
        &r2,
        "r2",
        // Eager: the quiet Backup (tests/quiet_backup.rs) reads only the adverts that differ.
        &format!("-i eth0 -v 51 -p 100 -d 50ms -n --garp-count 1 --quiet-backup off {VIP}"),
    );
    // At rest: r1's announcements are over and r2 has heard it for a while.
    std::thread::sleep(Duration::from_secs(1));
    let trace = |p: &Proc, name: &str| {
        let out = lab.dir.join(format!("strace-{name}.txt"));
        let out_s = out.to_string_lossy().into_owned();
        let pid = p.pid().to_string();
        // `timeout` bounds the window; on SIGINT strace detaches and the daemon runs on.
        std::process::Command::new("timeout")
            .args(["-k", "2", "-s", "INT", "3", "strace", "-qq", "-p", &pid])
            .args(["-o", &out_s])
            .spawn()
            .expect("strace")
    };
    let read = |name: &str| {
        std::fs::read_to_string(lab.dir.join(format!("strace-{name}.txt"))).unwrap_or_default()
    };
    // A window in which the Backup took over (a loaded machine can stall the Master for a
    // Master_Down_Interval) counts other wake-ups: up to three windows, the first clean one.
    let mut windows = 0;
    let (ma, bk) = loop {
        windows += 1;
        let flaps = count(&b, "-> MASTER");
        let (mut ta, mut tb) = (trace(&a, "master"), trace(&b, "backup"));
        let _ = (ta.wait(), tb.wait());
        let (ma, bk) = (read("master"), read("backup"));
        if windows == 3 || (count(&b, "-> MASTER") == flaps && !ma.contains("recvmsg(")) {
            break (ma, bk);
        }
        eprintln!("window {windows}: the Backup took over; once more");
    };
    let calls = |text: &str, name: &str| {
        text.lines()
            .filter(|l| l.starts_with(name) && !l.contains("resumed>"))
            .count()
    };
    let polls = |text: &str| calls(text, "poll(") + calls(text, "ppoll(");
    let sends = calls(&ma, "sendmsg(") + calls(&ma, "sendto(");
    let (m_polls, b_polls, b_recvs) = (polls(&ma), polls(&bk), calls(&bk, "recvmsg("));
    eprintln!(
        "master: {m_polls} poll(2), {sends} sends, {} read(2), {} timerfd_settime; \
         backup: {b_polls} poll(2), {b_recvs} recvmsg(2), {} EAGAIN, {} timerfd_settime",
        calls(&ma, "read("),
        calls(&ma, "timerfd_settime("),
        bk.matches("EAGAIN").count(),
        calls(&bk, "timerfd_settime("),
    );
    assert!(alive(&a) && alive(&b), "{}\n{}", a.log_text(), b.log_text());
    // About 60 adverts in 3 s; a few wake-ups of other kinds (the ethtool poll) are allowed.
    assert!(sends >= 20, "the Master hardly sent:\n{ma}");
    assert!(b_recvs >= 20, "the Backup hardly received:\n{bk}");
    assert_eq!(
        calls(&ma, "read("),
        0,
        "the Master read(2) something:\n{ma}"
    );
    assert_eq!(
        calls(&ma, "recvmsg("),
        0,
        "the Master read its socket:\n{ma}"
    );
    assert!(
        bk.matches("EAGAIN").count() <= 2,
        "the Backup read its socket until EAGAIN:\n{bk}"
    );
    // Besides poll(2): what each wake-up did, less the once-a-second ethtool poll and the
    // strace attach's restart.
    let work = |text: &str| {
        text.lines()
            .filter(|l| !l.contains("resumed>"))
            .filter(|l| !l.starts_with("poll(") && !l.starts_with("ppoll("))
            .filter(|l| !l.starts_with("restart_syscall(") && !l.contains("SIOCETHTOOL"))
            .count()
    };
    assert!(
        work(&ma) <= 2 * m_polls + 2,
        "more than a re-arm and a send per Master wake-up:\n{ma}"
    );
    assert!(
        work(&bk) <= 2 * b_polls + 2,
        "more than a recvmsg and a re-arm per Backup wake-up:\n{bk}"
    );
}
