//! Accept_Mode (RFC 9568 §6.1, §6.4.3) on real kernels: with `--no-accept` a non-owner master
//! drops ping and TCP to its IPv4 and IPv6 VIPs through an nftables table of its own, while ARP
//! and ND still resolve the VIPs so hosts keep routing through it; by default (and with
//! `--accept`) the VIPs answer; an owner always answers; the table is gone after SIGTERM, left
//! by kill -9 and replaced by the next start, and each instance keeps its own. Issue #17.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::*;

const VIP4: &str = "192.0.2.254";
const VIP6: &str = "2001:db8::fe";
const VIP6_LL: &str = "fe80::52";
const FAR4: &str = "198.51.100.2";
const FAR6: &str = "2001:db8:2::2";
const PORT: u16 = 7017;

/// r1 (router), client, and `far` behind r1 on a second segment (198.51.100.0/24,
/// 2001:db8:2::/64). The client routes to `far` through the VIPs (IPv6: through the
/// link-local VIP, as hosts do); r1 forwards. A TCP listener on r1 (any address) stands in for
/// a service on the router.
fn gateway_lab() -> (Lab, TcpListener) {
    let mut lab = Lab::new(&["r1", "client", "far"]);
    let [r1, c, far] = lab.ns_names();
    sh(&["ip", "-n", &far, "link", "del", "eth0"]);
    lab.add_link("net2", &[(0, "198.51.100.1/24"), (2, "198.51.100.2/24")]);
    for (ns, a) in [(&r1, "2001:db8:2::1/64"), (&far, "2001:db8:2::2/64")] {
        sh(&["ip", "-n", ns, "addr", "add", a, "dev", "net2", "nodad"]);
    }
    for k in [
        "net.ipv4.ip_forward=1",
        "net.ipv6.conf.all.forwarding=1",
        "net.ipv6.conf.default.forwarding=1",
    ] {
        sh(&["ip", "netns", "exec", &r1, "sysctl", "-qw", k]);
    }
    sh(&[
        "ip",
        "-n",
        &far,
        "route",
        "add",
        "default",
        "via",
        "198.51.100.1",
    ]);
    sh(&[
        "ip",
        "-n",
        &far,
        "-6",
        "route",
        "add",
        "default",
        "via",
        "2001:db8:2::1",
    ]);
    sh(&[
        "ip",
        "-n",
        &c,
        "route",
        "add",
        "198.51.100.0/24",
        "via",
        VIP4,
    ]);
    sh(&[
        "ip",
        "-n",
        &c,
        "-6",
        "route",
        "add",
        "2001:db8:2::/64",
        "via",
        VIP6_LL,
        "dev",
        "eth0",
    ]);
    // Dual-stack: IPv4 connections reach it too (bindv6only is 0 in a new namespace).
    let listener = in_netns(&r1, || {
        TcpListener::bind(("::", PORT)).expect("listener on r1")
    });
    (lab, listener)
}

/// Start the IPv4 (VRID 51) and IPv6 (VRID 52) instances on r1 with `extra` and wait until both
/// are master.
fn start_pair(lab: &mut Lab, extra: &[&str]) -> (Proc, Proc) {
    let r1 = lab.host(0).ns.clone();
    let mut a4 = vec!["-i", "eth0", "-v", "51", "-p", "150", "-d", "100ms"];
    a4.extend_from_slice(extra);
    a4.push("192.0.2.254/24");
    let mut a6 = vec!["-i", "eth0", "-v", "52", "-p", "150", "-d", "100ms"];
    a6.extend_from_slice(extra);
    a6.extend_from_slice(&["fe80::52/64", "2001:db8::fe/64"]);
    let p4 = lab.vrrpd(&r1, "r1-v4", &a4);
    let p6 = lab.vrrpd(&r1, "r1-v6", &a6);
    for (vrid, p) in [(51, &p4), (52, &p6)] {
        let ok = wait_for(Duration::from_secs(8), || {
            lab.state(&r1, vrid).as_deref() == Some("MASTER")
        });
        assert!(ok.is_some(), "VRID {vrid} never master:\n{}", p.log_text());
    }
    assert!(wait_for(Duration::from_secs(3), || lab.has_addr(&r1, VIP6)).is_some());
    (p4, p6)
}

/// Whether `ns` gets an echo reply from `addr` (3 tries 200 ms apart, 1 s for the last reply).
fn ping(ns: &str, addr: &str) -> bool {
    try_sh(&[
        "ip", "netns", "exec", ns, "ping", "-c", "3", "-i", "0.2", "-W", "1", addr,
    ])
}

/// Whether a TCP connection from `ns` to `addr` completes within 1 s (a dropped SYN times out).
fn tcp(ns: &str, addr: &str) -> bool {
    let sa: SocketAddr = SocketAddr::new(addr.parse().expect("address"), PORT);
    in_netns(ns, move || {
        TcpStream::connect_timeout(&sa, Duration::from_secs(1)).is_ok()
    })
}

fn ruleset(ns: &str) -> String {
    sh(&["ip", "netns", "exec", ns, "nft", "list", "ruleset"])
}

/// The client's neighbour entry for `addr` (ARP or ND), e.g. `... lladdr 00:00:5e:00:01:33 REACHABLE`.
fn neigh(ns: &str, addr: &str) -> String {
    sh(&["ip", "-n", ns, "neigh", "show", addr])
}

fn require_nft(test: &str) -> bool {
    require_root(test) && (try_sh(&["nft", "--version"]) || skip(test, "nft not installed"))
}

/// `--no-accept`: ping and TCP to the IPv4, IPv6 and link-local VIPs are dropped (counted by the
/// table), yet ARP and ND answer for them, so the client still routes through the VIPs to `far`
/// (pings through the router work, both families). atropos shows the table.
#[test]
fn no_accept_master_drops_vip_traffic_but_still_routes() {
    if !require_nft("no_accept_master_drops_vip_traffic_but_still_routes") {
        return;
    }
    let (mut lab, _listener) = gateway_lab();
    let [r1, c] = lab.ns_names();
    let (p4, p6) = start_pair(&mut lab, &["--no-accept"]);
    let logs = || format!("{}\n{}", p4.log_text(), p6.log_text());
    // Routing through the VIPs first: it also proves ARP/ND for them work.
    assert!(ping(&c, FAR4), "no IPv4 through the VIP\n{}", logs());
    assert!(ping(&c, FAR6), "no IPv6 through the VIP\n{}", logs());
    assert!(
        neigh(&c, VIP4).contains("00:00:5e:00:01:33"),
        "{}",
        neigh(&c, VIP4)
    );
    assert!(
        neigh(&c, VIP6_LL).contains("00:00:5e:00:02:34"),
        "{}",
        neigh(&c, VIP6_LL)
    );
    // ND for the global VIP (its own solicitation; the ping below is dropped).
    assert!(!ping(&c, VIP6), "IPv6 VIP answered ping\n{}", ruleset(&r1));
    assert!(
        neigh(&c, VIP6).contains("00:00:5e:00:02:34"),
        "no ND answer for {VIP6}: {}",
        neigh(&c, VIP6)
    );
    // Unicast NS to each IPv6 VIP (neighbour unreachability detection, RFC 4861 §7.3.3: what
    // keeps a host's gateway entry alive) is answered too: a probe left unanswered ends FAILED.
    for vip in [VIP6, VIP6_LL] {
        sh(&[
            "ip",
            "-n",
            &c,
            "neigh",
            "replace",
            vip,
            "dev",
            "eth0",
            "lladdr",
            "00:00:5e:00:02:34",
            "nud",
            "probe",
        ]);
        // 3 unicast probes 1 s apart (the kernel's defaults); REACHABLE at the first answer.
        let ok = wait_for(Duration::from_secs(4), || {
            neigh(&c, vip).contains("REACHABLE")
        });
        assert!(
            ok.is_some(),
            "unicast NS to {vip} unanswered: {}\n{}",
            neigh(&c, vip),
            ruleset(&r1)
        );
    }
    assert!(!ping(&c, VIP4), "IPv4 VIP answered ping\n{}", ruleset(&r1));
    assert!(
        !ping(&c, &format!("{VIP6_LL}%eth0")),
        "link-local VIP answered ping\n{}",
        ruleset(&r1)
    );
    assert!(!tcp(&c, VIP4), "TCP to the IPv4 VIP connected");
    assert!(!tcp(&c, VIP6), "TCP to the IPv6 VIP connected");
    // The router's own address still serves (only the VIPs are refused).
    assert!(tcp(&c, "192.0.2.1"), "TCP to r1's own address failed");
    let rules = ruleset(&r1);
    eprintln!("r1's ruleset with --no-accept:\n{rules}");
    for p in [&p4, &p6] {
        let log = p.log_text();
        if let Some(l) = log.lines().find(|l| l.contains("nft took")) {
            eprintln!("{l}");
        }
    }
    assert!(rules.contains("table ip vrrpd_eth0_51_v4"), "{rules}");
    assert!(rules.contains("table ip6 vrrpd_eth0_52_v6"), "{rules}");
    let (_, dump, _) = lab.atropos(&r1, &["--dump", "--json"]);
    let j = json(&dump);
    let filters: Vec<&str> = j
        .as_array()
        .expect("instances")
        .iter()
        .filter_map(|i| i["detail"]["accept_filter"].as_str())
        .collect();
    assert!(filters.contains(&"ip vrrpd_eth0_51_v4"), "{dump}");
    assert!(filters.contains(&"ip6 vrrpd_eth0_52_v6"), "{dump}");
    // The SIGUSR1 dump names it too.
    signal(p4.pid(), libc::SIGUSR1);
    let dumped = wait_for(Duration::from_secs(3), || {
        p4.log_text()
            .contains("Accept_Mode off: packet filter table ip vrrpd_eth0_51_v4 filter_errors=0")
    });
    assert!(dumped.is_some(), "{}", p4.log_text());
    // Still master: the adverts were not dropped with the rest.
    assert_eq!(lab.state(&r1, 51).as_deref(), Some("MASTER"));
    assert_eq!(lab.state(&r1, 52).as_deref(), Some("MASTER"));
}

/// The default (keepalived without vrrp_strict, FRR) and `--accept`: the VIPs answer ping and
/// TCP, and vrrpd installs no table.
#[test]
fn accept_mode_is_the_default_and_vips_answer() {
    if !require_nft("accept_mode_is_the_default_and_vips_answer") {
        return;
    }
    let (mut lab, _listener) = gateway_lab();
    let [r1, c] = lab.ns_names();
    // IPv4 with the default, IPv6 with an explicit --accept.
    let r1c = r1.clone();
    let p4 = lab.vrrpd(
        &r1c,
        "r1-v4",
        &[
            "-i",
            "eth0",
            "-v",
            "51",
            "-p",
            "150",
            "-d",
            "100ms",
            "192.0.2.254/24",
        ],
    );
    let p6 = lab.vrrpd(
        &r1c,
        "r1-v6",
        &[
            "-i",
            "eth0",
            "-v",
            "52",
            "-p",
            "150",
            "-d",
            "100ms",
            "--accept",
            "fe80::52/64",
            "2001:db8::fe/64",
        ],
    );
    for vrid in [51, 52] {
        let ok = wait_for(Duration::from_secs(8), || {
            lab.state(&r1, vrid).as_deref() == Some("MASTER")
        });
        assert!(ok.is_some(), "{}\n{}", p4.log_text(), p6.log_text());
    }
    assert!(wait_for(Duration::from_secs(3), || lab.has_addr(&r1, VIP6)).is_some());
    assert!(ping(&c, VIP4), "IPv4 VIP silent\n{}", p4.log_text());
    assert!(ping(&c, VIP6), "IPv6 VIP silent\n{}", p6.log_text());
    assert!(
        ping(&c, &format!("{VIP6_LL}%eth0")),
        "link-local VIP silent"
    );
    assert!(tcp(&c, VIP4), "TCP to the IPv4 VIP failed");
    assert!(tcp(&c, VIP6), "TCP to the IPv6 VIP failed");
    assert!(ping(&c, FAR4) && ping(&c, FAR6), "routing through the VIPs");
    let rules = ruleset(&r1);
    assert!(!rules.contains("vrrpd_"), "{rules}");
}

/// An address owner (priority 255) accepts whatever `--no-accept` says (§6.4.3).
#[test]
fn owner_accepts_despite_no_accept() {
    if !require_nft("owner_accepts_despite_no_accept") {
        return;
    }
    let (mut lab, _listener) = gateway_lab();
    let [r1, c] = lab.ns_names();
    let p = lab.vrrpd(
        &r1,
        "owner",
        &[
            "-i",
            "eth0",
            "-v",
            "51",
            "-p",
            "255",
            "-d",
            "100ms",
            "--no-accept",
            "192.0.2.1/24",
        ],
    );
    let ok = wait_for(Duration::from_secs(5), || {
        lab.state(&r1, 51).as_deref() == Some("MASTER")
    });
    assert!(ok.is_some(), "{}", p.log_text());
    assert!(
        ping(&c, "192.0.2.1"),
        "owner's VIP silent\n{}",
        ruleset(&r1)
    );
    assert!(tcp(&c, "192.0.2.1"), "TCP to the owner's VIP failed");
    assert!(!ruleset(&r1).contains("vrrpd_"), "{}", ruleset(&r1));
    assert!(p
        .log_text()
        .contains("address owner: traffic to its addresses is accepted"));
}

/// The table's life: two `--no-accept` instances (VRID 51 VRRPv3, VRID 53 VRRPv2) each have
/// their own; kill -9 of the first leaves its table (and the other's untouched), a restart
/// replaces it (one drop rule, not two, and the VIP still refused), a restart with the default
/// Accept_Mode removes it, and after SIGTERM of both nothing of vrrpd's is in the ruleset.
#[test]
fn filter_table_removed_on_sigterm_and_recovered_after_kill9() {
    if !require_nft("filter_table_removed_on_sigterm_and_recovered_after_kill9") {
        return;
    }
    let (mut lab, _listener) = gateway_lab();
    let [r1, c] = lab.ns_names();
    let a51 = [
        "-i",
        "eth0",
        "-v",
        "51",
        "-p",
        "150",
        "-d",
        "100ms",
        "--no-accept",
        "192.0.2.254/24",
    ];
    let mut a = lab.vrrpd(&r1, "a", &a51);
    let mut b = lab.vrrpd(
        &r1,
        "b",
        &[
            "-i",
            "eth0",
            "-v",
            "53",
            "-p",
            "150",
            "--vrrp-version",
            "2",
            "--no-accept",
            "192.0.2.253/24",
        ],
    );
    for vrid in [51, 53] {
        let ok = wait_for(Duration::from_secs(8), || {
            lab.state(&r1, vrid).as_deref() == Some("MASTER")
        });
        assert!(ok.is_some(), "{}\n{}", a.log_text(), b.log_text());
    }
    let b_table = || {
        sh(&[
            "ip",
            "netns",
            "exec",
            &r1,
            "nft",
            "list",
            "table",
            "ip",
            "vrrpd_eth0_53_v4",
        ])
    };
    assert!(b_table().contains("192.0.2.253"), "{}", b_table());
    assert!(!ping(&c, "192.0.2.253"), "VRRPv2 --no-accept VIP answered");

    signal(a.pid(), libc::SIGKILL);
    assert!(wait_exit(&mut a, Duration::from_secs(3)).is_some());
    let rules = ruleset(&r1);
    assert!(
        rules.contains("table ip vrrpd_eth0_51_v4"),
        "kill -9 removed the table?\n{rules}"
    );
    assert!(rules.contains("table ip vrrpd_eth0_53_v4"), "{rules}");

    let mut a2 = lab.vrrpd(&r1, "a2", &a51);
    let ok = wait_for(Duration::from_secs(8), || {
        lab.state(&r1, 51).as_deref() == Some("MASTER")
    });
    assert!(ok.is_some(), "{}", a2.log_text());
    assert!(
        a2.log_text().contains("left by a crash: replacing it"),
        "{}",
        a2.log_text()
    );
    let t51 = sh(&[
        "ip",
        "netns",
        "exec",
        &r1,
        "nft",
        "list",
        "table",
        "ip",
        "vrrpd_eth0_51_v4",
    ]);
    assert_eq!(t51.matches(" drop").count(), 1, "{t51}");
    assert_eq!(ruleset(&r1).matches("table ip vrrpd_eth0_51_v4").count(), 1);
    assert!(!ping(&c, VIP4), "VIP answered after the restart\n{t51}");
    assert!(b_table().contains("192.0.2.253"), "{}", b_table());

    // kill -9 again, then a start with the default Accept_Mode: no stale table may stay.
    signal(a2.pid(), libc::SIGKILL);
    assert!(wait_exit(&mut a2, Duration::from_secs(3)).is_some());
    let mut a3 = lab.vrrpd(
        &r1,
        "a3",
        &[
            "-i",
            "eth0",
            "-v",
            "51",
            "-p",
            "150",
            "-d",
            "100ms",
            "192.0.2.254/24",
        ],
    );
    let ok = wait_for(Duration::from_secs(8), || {
        lab.state(&r1, 51).as_deref() == Some("MASTER")
    });
    assert!(ok.is_some(), "{}", a3.log_text());
    assert!(
        !ruleset(&r1).contains("vrrpd_eth0_51_v4"),
        "stale table kept:\n{}",
        ruleset(&r1)
    );
    assert!(
        a3.log_text()
            .contains("left by a crash: deleting it (Accept_Mode on)"),
        "{}",
        a3.log_text()
    );
    assert!(
        ping(&c, VIP4),
        "VIP silent after the stale table\n{}",
        ruleset(&r1)
    );

    for p in [&mut a3, &mut b] {
        signal(p.pid(), libc::SIGTERM);
        assert!(
            wait_exit(p, Duration::from_secs(5)).is_some(),
            "{}",
            p.log_text()
        );
    }
    let rules = ruleset(&r1);
    assert!(!rules.contains("vrrpd_"), "left after SIGTERM:\n{rules}");
}

/// `--no-accept` where `nft` cannot be run: vrrpd does not start (status 1, one line naming the
/// flag and what to do) and leaves no virtual MAC; the default Accept_Mode needs no nft.
#[test]
fn no_accept_without_nft_is_a_start_up_error() {
    if !require_root("no_accept_without_nft_is_a_start_up_error") {
        return;
    }
    let mut lab = Lab::new(&["r1"]);
    let [r1] = lab.ns_names();
    let run = lab.dir.join("run").to_string_lossy().into_owned();
    let env = [
        ("VRRPD_RUN_DIR", run.as_str()),
        ("VRRPD_TEST_NFT", "/nonexistent/nft"),
    ];
    let mut p = lab.spawn(
        &r1,
        "nonft",
        env!("CARGO_BIN_EXE_vrrpd"),
        &[
            "--foreground",
            "-i",
            "eth0",
            "-v",
            "51",
            "--no-accept",
            VIP4,
        ],
        &env,
    );
    let st = wait_exit(&mut p, Duration::from_secs(5));
    assert_eq!(st, Some(1), "{}", p.log_text());
    let log = p.log_text();
    assert!(
        log.contains(
            "vrrpd: --no-accept: cannot install packet filter table ip vrrpd_eth0_51_v4: nft not \
             found (install the nftables package)"
        ),
        "{log}"
    );
    let links = sh(&["ip", "-n", &r1, "-o", "link", "show"]);
    assert!(!links.contains(": vr"), "virtual MAC left behind:\n{links}");
    let p2 = lab.spawn(
        &r1,
        "nonft-accept",
        env!("CARGO_BIN_EXE_vrrpd"),
        &[
            "--foreground",
            "-i",
            "eth0",
            "-v",
            "51",
            "-d",
            "100ms",
            VIP4,
        ],
        &env,
    );
    let ok = wait_for(Duration::from_secs(5), || {
        lab.state(&r1, 51).as_deref() == Some("MASTER")
    });
    assert!(ok.is_some(), "{}", p2.log_text());
}

/// A default start asks the kernel itself whether a crashed predecessor left a table (one
/// nf_tables netlink request): no `nft` runs before the first advert when none is there, and
/// only the deletion runs it when one is (BENCHMARKS.md "Start-up": running `nft list table`
/// cost milliseconds of every start). An `nft` wrapper records each run.
#[test]
fn a_default_start_runs_nft_only_to_delete_a_stale_table() {
    if !require_nft("a_default_start_runs_nft_only_to_delete_a_stale_table") {
        return;
    }
    let mut lab = Lab::new(&["r1"]);
    let [r1] = lab.ns_names();
    let runs = lab.dir.join("nft-runs");
    let wrapper = lab.dir.join("nft");
    let real = String::from_utf8(
        std::process::Command::new("sh")
            .args(["-c", "command -v nft"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho \"$*\" >> {}\nexec {} \"$@\"\n",
            runs.display(),
            real.trim()
        ),
    )
    .unwrap();
    sh(&["chmod", "755", &wrapper.to_string_lossy()]);
    let run = lab.dir.join("run").to_string_lossy().into_owned();
    let nft = wrapper.to_string_lossy().into_owned();
    let env = [
        ("VRRPD_RUN_DIR", run.as_str()),
        ("VRRPD_TEST_NFT", nft.as_str()),
    ];
    let args = |vrid: &'static str, vip: &'static str| {
        ["--foreground", "-i", "eth0", "-v", vrid, "-d", "100ms", vip]
    };
    let p = lab.spawn(
        &r1,
        "plain",
        env!("CARGO_BIN_EXE_vrrpd"),
        &args("51", VIP4),
        &env,
    );
    let ok = wait_for(Duration::from_secs(5), || {
        lab.state(&r1, 51).as_deref() == Some("MASTER")
    });
    assert!(ok.is_some(), "{}", p.log_text());
    let ran = std::fs::read_to_string(&runs).unwrap_or_default();
    assert!(ran.is_empty(), "nft ran at a default start: {ran}");

    // A table of VRID 52's name, as a kill -9 of a --no-accept instance leaves it.
    sh(&[
        "ip",
        "netns",
        "exec",
        &r1,
        "nft",
        "add",
        "table",
        "ip",
        "vrrpd_eth0_52_v4",
    ]);
    let p2 = lab.spawn(
        &r1,
        "stale",
        env!("CARGO_BIN_EXE_vrrpd"),
        &args("52", "192.0.2.252/24"),
        &env,
    );
    let ok = wait_for(Duration::from_secs(5), || {
        lab.state(&r1, 52).as_deref() == Some("MASTER")
    });
    assert!(ok.is_some(), "{}", p2.log_text());
    assert!(
        p2.log_text()
            .contains("vrrpd_eth0_52_v4 left by a crash: deleting it (Accept_Mode on)"),
        "{}",
        p2.log_text()
    );
    assert!(
        !ruleset(&r1).contains("vrrpd_eth0_52_v4"),
        "{}",
        ruleset(&r1)
    );
    let ran = std::fs::read_to_string(&runs).unwrap_or_default();
    assert_eq!(ran, "-f -\n", "one nft run, the deletion");
}

/// `vrrpd --cleanup` (the unit's ExecStopPost=) after a kill -9 of a `--no-accept` master
/// deletes its table with the rest, and says so; the other instance's table stays.
#[test]
fn cleanup_after_kill9_deletes_the_filter_table() {
    if !require_nft("cleanup_after_kill9_deletes_the_filter_table") {
        return;
    }
    let mut lab = Lab::new(&["r1"]);
    let [r1] = lab.ns_names();
    let args = [
        "-i",
        "eth0",
        "-v",
        "51",
        "-d",
        "100ms",
        "--no-accept",
        "192.0.2.254/24",
    ];
    let mut a = lab.vrrpd(&r1, "a", &args);
    let b = lab.vrrpd(
        &r1,
        "b",
        &[
            "-i",
            "eth0",
            "-v",
            "53",
            "-d",
            "100ms",
            "--no-accept",
            "192.0.2.253/24",
        ],
    );
    for vrid in [51, 53] {
        let ok = wait_for(Duration::from_secs(8), || {
            lab.state(&r1, vrid).as_deref() == Some("MASTER")
        });
        assert!(ok.is_some(), "{}\n{}", a.log_text(), b.log_text());
    }
    signal(a.pid(), libc::SIGKILL);
    assert!(wait_exit(&mut a, Duration::from_secs(3)).is_some());
    assert!(ruleset(&r1).contains("table ip vrrpd_eth0_51_v4"));
    let out = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &r1,
            env!("CARGO_BIN_EXE_vrrpd"),
            "--cleanup",
        ])
        .args(args)
        .env("VRRPD_RUN_DIR", lab.dir.join("run"))
        .stdin(std::process::Stdio::null())
        .output()
        .expect("vrrpd --cleanup");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("removed packet filter table ip vrrpd_eth0_51_v4"),
        "{err}"
    );
    let rules = ruleset(&r1);
    assert!(!rules.contains("vrrpd_eth0_51_v4"), "{rules}");
    assert!(rules.contains("table ip vrrpd_eth0_53_v4"), "{rules}");
}

/// The link-local VIP's rule names the virtual MAC device, which is named after the parent's
/// index: when the interface is deleted and created again (a new index, a new `vr<index>.52.6`),
/// the table is rewritten to name the new device, and the link-local VIP stays refused.
#[test]
fn link_local_rule_follows_a_recreated_vmac() {
    if !require_nft("link_local_rule_follows_a_recreated_vmac") {
        return;
    }
    let mut lab = Lab::new(&["r1", "client"]);
    let [r1, c] = lab.ns_names();
    let sw = lab.switch.clone();
    let p = lab.vrrpd(
        &r1,
        "r1-v6",
        &[
            "-i",
            "eth0",
            "-v",
            "52",
            "-p",
            "150",
            "-d",
            "100ms",
            "--no-accept",
            "fe80::52/64",
            "2001:db8::fe/64",
        ],
    );
    assert!(
        wait_for(Duration::from_secs(8), || lab.has_addr(&r1, VIP6)).is_some(),
        "{}",
        p.log_text()
    );
    let vmac_name = || {
        sh(&["ip", "-n", &r1, "-o", "link", "show"])
            .split_whitespace()
            .find(|w| w.starts_with("vr") && w.contains(".52.6"))
            .map(|w| {
                w.split('@')
                    .next()
                    .unwrap_or(w)
                    .trim_end_matches(':')
                    .to_string()
            })
    };
    let table = || {
        sh(&[
            "ip",
            "netns",
            "exec",
            &r1,
            "nft",
            "list",
            "table",
            "ip6",
            "vrrpd_eth0_52_v6",
        ])
    };
    let old = vmac_name().expect("a virtual MAC device");
    assert!(table().contains(&format!("\"{old}\"")), "{}", table());
    sh(&["ip", "-n", &r1, "link", "del", "eth0"]);
    assert!(
        wait_for(Duration::from_secs(3), || p.log_text().contains("-> FAULT")).is_some(),
        "{}",
        p.log_text()
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
        "2001:db8::1/64",
        "dev",
        "eth0",
        "nodad",
    ]);
    sh(&["ip", "-n", &r1, "link", "set", "eth0", "up"]);
    let new = wait_some(Duration::from_secs(8), || {
        vmac_name().filter(|n| *n != old && lab.has_addr(&r1, VIP6))
    })
    .unwrap_or_else(|| panic!("no new virtual MAC device:\n{}", p.log_text()));
    let ok = wait_for(Duration::from_secs(3), || {
        table().contains(&format!("\"{new}\""))
    });
    assert!(
        ok.is_some(),
        "table still names {old}, not {new}:\n{}\n{}",
        table(),
        p.log_text()
    );
    assert!(p.log_text().contains("now names eth0"), "{}", p.log_text());
    assert!(
        !ping(&c, &format!("{VIP6_LL}%eth0")),
        "link-local VIP answered after the interface came back\n{}",
        table()
    );
}
