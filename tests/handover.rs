//! Lossless planned handover (issue "Benchmarks … and a lossless planned handover"): on SIGTERM,
//! atropos --backup or a priority drop, the master sends priority 0 and keeps serving the VIP
//! until it hears the new master's first advert. A client pinging the VIP every 10 ms loses
//! nothing — against vrrpd, keepalived and FRR as the router that takes over.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::peers::require_peers;
use common::*;

const VIP: &str = "192.0.2.254";

/// Ping the VIP from `ns` every 10 ms, `count` times, in the background.
fn start_ping(lab: &mut Lab, ns: &str, count: u32) -> Proc {
    lab.spawn(
        ns,
        &format!("ping-{count}"),
        "ping",
        &["-n", "-i", "0.01", "-W", "1", "-c", &count.to_string(), VIP],
        &[],
    )
}

/// (transmitted, received) from ping's summary.
fn ping_result(p: &mut Proc) -> (u32, u32) {
    ping_summary(p, Duration::from_secs(15))
}

fn warm_up(lab: &Lab, c: &str) {
    // The client knows the VIP's MAC before the handover.
    let ok = Command::new("ip")
        .args([
            "netns", "exec", c, "ping", "-c", "3", "-i", "0.1", "-W", "1", VIP,
        ])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "client cannot reach the VIP before the handover ({})",
        lab.prefix
    );
}

/// vrrpd → vrrpd: SIGTERM, atropos --backup (forced) and a priority drop, each with 0 lost.
#[test]
fn planned_handovers_between_vrrpd_lose_nothing() {
    if !require_root("planned_handovers_between_vrrpd_lose_nothing") {
        return;
    }
    // "term-no-handover" is the control: releasing the VIP at once (as keepalived does) loses
    // the pings sent during the backup's Skew_Time, which shows this test can fail.
    for event in ["term", "backup", "priority", "term-no-handover"] {
        let mut lab = Lab::new(&["r1", "r2", "client"]);
        let [r1, r2, c] = lab.ns_names();
        let mut args = vec![
            "-i",
            "eth0",
            "-v",
            "51",
            "-p",
            "150",
            "-d",
            "100ms",
            "-n",
            "-z",
            "50",
            "192.0.2.254/24",
        ];
        if event == "term-no-handover" {
            args.push("--no-handover");
        }
        let mut a = lab.vrrpd(&r1, "r1", &args);
        let b = lab.vrrpd_line(&r2, "r2", "-i eth0 -v 51 -p 100 -d 100ms -n 192.0.2.254/24");
        assert!(
            wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
            "{}",
            a.log_text()
        );
        warm_up(&lab, &c);
        let mut ping = start_ping(&mut lab, &c, 150);
        std::thread::sleep(Duration::from_millis(300));
        match event {
            "term" | "term-no-handover" => signal(a.pid(), libc::SIGTERM),
            "backup" => {
                let st = Command::new("ip")
                    .args([
                        "netns",
                        "exec",
                        &r1,
                        env!("CARGO_BIN_EXE_atropos"),
                        "--backup",
                        "--quiet",
                    ])
                    .env("VRRPD_RUN_DIR", lab.dir.join("run"))
                    .status()
                    .unwrap();
                assert!(st.success());
            }
            _ => {
                // -z 50: SIGTTIN drops to 50, below r2's 100; r2 preempts.
                signal(a.pid(), libc::SIGTTIN);
            }
        }
        let (tx, rx) = ping_result(&mut ping);
        eprintln!("vrrpd -> vrrpd {event}: {tx} sent, {} lost", tx - rx);
        assert!(
            lab.has_addr(&r2, VIP),
            "{event}: r2 not master:\n{}",
            b.log_text()
        );
        // Every event, the priority drop included: the old master gives the VIP up once it
        // hears r2 (it keeps serving until then: that is the lossless part).
        assert!(
            wait_for(Duration::from_secs(1), || !lab.has_addr(&r1, VIP)).is_some(),
            "{event}: r1 kept the VIP:\n{}",
            a.log_text()
        );
        if event != "term" && event != "term-no-handover" {
            assert_eq!(lab.state(&r1, 51).as_deref(), Some("BACKUP"), "{event}");
            assert_eq!(lab.state(&r2, 51).as_deref(), Some("MASTER"), "{event}");
        }
        if event == "term-no-handover" {
            assert!(
                tx - rx > 0,
                "the control lost nothing: the test cannot see losses"
            );
            continue;
        }
        assert_eq!(
            tx - rx,
            0,
            "{event}: lost pings\n{}\n{}",
            a.log_text(),
            b.log_text()
        );
        if event == "term" {
            assert_eq!(wait_exit(&mut a, Duration::from_secs(5)), Some(0));
        }
    }
}

/// A planned handover without virtual MAC (`-n`) stays lossless when the new master loses the
/// CPU right after its takeover advert, as on a loaded machine (`VRRPD_TEST_TAKEOVER_PAUSE_MS`,
/// debug builds: 40 ms). The old master lets go of the VIP when it reads that advert; the
/// client's ARP entry still names the old master's MAC until the new master's gratuitous ARP.
/// Sent after the advert (RFC 9568 §6.4.2's order), the gratuitous ARP came a pause later and
/// every echo of the pause went to a router without the VIP (4 of 4 lost in the run that
/// showed it); sent before the advert, the client moves first, to a router that already holds
/// the VIP. IPv4 and IPv6 (unsolicited NA), pings every 10 ms.
#[test]
fn handover_without_vmac_survives_a_paused_new_master() {
    if !require_root("handover_without_vmac_survives_a_paused_new_master") {
        return;
    }
    let mut failures = Vec::new();
    for (v6, vip) in [(false, VIP), (true, "2001:db8::254")] {
        let mut lab = Lab::new(&["r1", "r2", "client"]);
        let [r1, r2, c] = lab.ns_names();
        let vips = if v6 {
            "fe80::51/64 2001:db8::254/64"
        } else {
            "192.0.2.254/24"
        };
        let mut a = lab.vrrpd_line(
            &r1,
            "r1",
            &format!("-i eth0 -v 51 -p 150 -d 100ms -n {vips}"),
        );
        let run = lab.dir.join("run").to_string_lossy().into_owned();
        let b_line = format!("--foreground --debug -i eth0 -v 51 -p 100 -d 100ms -n {vips}");
        let b_args: Vec<&str> = b_line.split_whitespace().collect();
        let b = lab.spawn(
            &r2,
            "r2",
            env!("CARGO_BIN_EXE_vrrpd"),
            &b_args,
            &[
                ("VRRPD_RUN_DIR", &run),
                ("VRRPD_TEST_TAKEOVER_PAUSE_MS", "40"),
            ],
        );
        assert!(
            wait_for(Duration::from_secs(5), || lab.has_addr(&r1, vip)).is_some(),
            "{}",
            a.log_text()
        );
        assert!(
            wait_for(Duration::from_secs(5), || lab.state(&r2, 51).as_deref()
                == Some("BACKUP"))
            .is_some(),
            "{}",
            b.log_text()
        );
        let family = if v6 { "-6" } else { "-4" };
        assert!(
            try_sh(&[
                "ip", "netns", "exec", &c, "ping", family, "-c", "3", "-i", "0.1", "-W", "1", vip
            ]),
            "client cannot reach {vip} before the handover"
        );
        let mut ping = lab.spawn(
            &c,
            "ping",
            "ping",
            &[family, "-n", "-i", "0.01", "-W", "1", "-c", "150", vip],
            &[],
        );
        std::thread::sleep(Duration::from_millis(300));
        signal(a.pid(), libc::SIGTERM);
        let (tx, rx) = ping_result(&mut ping);
        eprintln!(
            "-n handover to a new master paused 40 ms after its advert ({vip}): {tx} sent, {} lost",
            tx - rx
        );
        assert_eq!(
            wait_exit(&mut a, Duration::from_secs(5)),
            Some(0),
            "{}",
            a.log_text()
        );
        assert!(lab.has_addr(&r2, vip), "r2 not master:\n{}", b.log_text());
        if tx != rx {
            failures.push(format!("{vip}: {} of {tx} lost", tx - rx));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// vrrpd → keepalived and vrrpd → FRR on SIGTERM of vrrpd: 0 lost.
#[test]
fn sigterm_handover_to_keepalived_and_frr_loses_nothing() {
    if !require_peers("sigterm_handover_to_keepalived_and_frr_loses_nothing") {
        return;
    }
    for peer in ["keepalived", "frr"] {
        let mut lab = Lab::new(&["r1", "r2", "client"]);
        let [r1, r2, c] = lab.ns_names();
        let mut a = lab.vrrpd_line(&r1, "r1", "-i eth0 -v 51 -p 200 -d 100ms -n 192.0.2.254/24");
        assert!(
            wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
            "{}",
            a.log_text()
        );
        let taker_is_master: Box<dyn Fn() -> bool> = if peer == "keepalived" {
            let ka = lab.keepalived(
                &r2,
                "ka",
                "vrrp_instance v4 {\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  version 3\n  priority 100\n  advert_int 0.1\n  virtual_ipaddress {\n    192.0.2.254/24 dev eth0\n  }\n  notify NOTIFY\n}\n",
            );
            assert!(
                ka.wait_state("v4", "BACKUP", Duration::from_secs(10)),
                "{}",
                ka.log()
            );
            Box::new(move || ka.state("v4").as_deref() == Some("MASTER"))
        } else {
            let frr = lab.frr(
                &r2,
                "frr",
                "interface eth0\n vrrp 51 version 3\n vrrp 51 priority 100\n vrrp 51 advertisement-interval 100\n vrrp 51 ip 192.0.2.254\n",
                &[("vrrp4-51", "00:00:5e:00:01:33", "192.0.2.254/24")],
            );
            assert!(
                frr.wait_status(51, "v4", "Backup", Duration::from_secs(15)),
                "{}",
                frr.log()
            );
            Box::new(move || frr.status(51, "v4").as_deref() == Some("Master"))
        };
        warm_up(&lab, &c);
        let mut ping = start_ping(&mut lab, &c, 150);
        std::thread::sleep(Duration::from_millis(300));
        signal(a.pid(), libc::SIGTERM);
        let (tx, rx) = ping_result(&mut ping);
        eprintln!("vrrpd -> {peer} SIGTERM: {tx} sent, {} lost", tx - rx);
        assert!(
            wait_for(Duration::from_secs(3), &*taker_is_master).is_some(),
            "{peer} did not take over"
        );
        assert_eq!(
            wait_exit(&mut a, Duration::from_secs(5)),
            Some(0),
            "{}",
            a.log_text()
        );
        assert_eq!(tx - rx, 0, "{peer}: lost pings\n{}", a.log_text());
    }
}
