//! Advanced Vrrpd's signals (SIGTTIN/SIGTTOU priority, SIGUSR2 step-down, SIGUSR1 dump, SIGHUP)
//! and systemd's notify protocol (READY=1, WATCHDOG=1, STOPPING=1) against a running vrrpd.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use common::*;

const VIP: &str = "192.0.2.254";

/// SIGTTIN lowers the priority by 10 (or to -z), SIGTTOU raises it (or to -x); the new priority
/// is advertised at once and preemption applies; SIGUSR2 makes a master step down; SIGUSR1 dumps.
#[test]
fn priority_and_step_down_signals() {
    if !require_root("priority_and_step_down_signals") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2", "client"]);
    let [r1, r2, c] = lab.ns_names();
    let a = lab.vrrpd(
        &r1,
        "r1",
        &[
            "-i", "eth0", "-v", "51", "-p", "105", "-d", "100ms", "-n", "-x", "200", VIP,
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
    // SIGTTIN: 105 -> 95 < 100: r2 preempts; the new priority is on the wire.
    let cap = Capture::start(&c, "eth0");
    signal(a.pid(), libc::SIGTTIN);
    assert!(
        wait_for(Duration::from_secs(3), || lab.has_addr(&r2, VIP)).is_some(),
        "{}",
        b.log_text()
    );
    let seen = cap.finish();
    assert!(
        seen.iter()
            .any(|s| s.src.to_string() == "192.0.2.1" && prio(s) == 95),
        "priority 95 not advertised"
    );
    assert!(a.log_text().contains("new priority 95"));
    // SIGTTOU with -x 200: r1 takes over again.
    signal(a.pid(), libc::SIGTTOU);
    assert!(
        wait_for(Duration::from_secs(3), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    assert!(a.log_text().contains("new priority 200"));
    // SIGUSR2: the master steps down (priority 0); r2 takes over, then r1 (higher priority,
    // preempting) takes the VIP back once it hears r2's lower priority.
    let cap = Capture::start(&c, "eth0");
    signal(a.pid(), libc::SIGUSR2);
    assert!(wait_for(Duration::from_secs(3), || a
        .log_text()
        .contains("MASTER -> BACKUP (forced backup)"))
    .is_some());
    assert!(
        wait_for(Duration::from_secs(3), || b
            .log_text()
            .matches("-> MASTER")
            .count()
            >= 2)
        .is_some(),
        "{}",
        b.log_text()
    );
    assert!(
        wait_for(Duration::from_secs(3), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    let seen = cap.finish();
    assert!(seen
        .iter()
        .any(|s| s.src.to_string() == "192.0.2.1" && prio(s) == 0));
    // SIGUSR1: a dump with timers and counters; SIGHUP: re-read the interface.
    signal(a.pid(), libc::SIGUSR1);
    signal(a.pid(), libc::SIGHUP);
    assert!(wait_for(Duration::from_secs(2), || a
        .log_text()
        .contains("adverts_sent="))
    .is_some());
    assert!(wait_for(Duration::from_secs(2), || a.log_text().contains("SIGHUP")).is_some());
    assert!(alive(&a));
}

/// systemd notify protocol through a fake $NOTIFY_SOCKET: READY=1 once the first state is known,
/// WATCHDOG=1 from the loop every half $WATCHDOG_USEC, STOPPING=1 on SIGTERM.
#[test]
fn systemd_notify_ready_watchdog_stopping() {
    if !require_root("systemd_notify_ready_watchdog_stopping") {
        return;
    }
    let mut lab = Lab::new(&["r1"]);
    let r1 = lab.host(0).ns.clone();
    let path = lab.dir.join("notify.sock");
    let sock = UnixDatagram::bind(&path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let run = lab.dir.join("run");
    let notify = path.to_string_lossy().into_owned();
    let mut a = lab.spawn(
        &r1,
        "r1",
        env!("CARGO_BIN_EXE_vrrpd"),
        &[
            "--foreground",
            "-i",
            "eth0",
            "-v",
            "51",
            "-d",
            "100ms",
            "-n",
            VIP,
        ],
        &[
            ("VRRPD_RUN_DIR", &run.to_string_lossy()),
            ("NOTIFY_SOCKET", &notify),
            ("WATCHDOG_USEC", "200000"),
        ],
    );
    let mut got: Vec<String> = Vec::new();
    let mut buf = [0u8; 512];
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while std::time::Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
        if got.iter().filter(|m| *m == "WATCHDOG=1").count() >= 5
            && got.iter().any(|m| m == "READY=1")
        {
            break;
        }
    }
    assert!(got.iter().any(|m| m == "READY=1"), "{got:?}");
    assert!(
        got.iter().filter(|m| *m == "WATCHDOG=1").count() >= 5,
        "{got:?}"
    );
    assert!(got.iter().any(|m| m.starts_with("STATUS=")), "{got:?}");
    signal(a.pid(), libc::SIGTERM);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while std::time::Instant::now() < deadline && !got.iter().any(|m| m == "STOPPING=1") {
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    assert!(got.iter().any(|m| m == "STOPPING=1"), "{got:?}");
    assert_eq!(
        wait_exit(&mut a, Duration::from_secs(5)),
        Some(0),
        "{}",
        a.log_text()
    );
}
