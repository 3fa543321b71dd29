//! Netlink faults (issue 13): the link monitor's socket overflowing for real (`ENOBUFS`: the
//! kernel dropped notifications, the daemon must re-read what it watches and miss no link
//! event), and transient errors of the request socket while the primary address is read
//! (defect 3: not a fault, and the 250 ms reply timeout does not stall the loop).

mod common;

use std::time::Duration;

use common::*;

const VIP: &str = "192.0.2.254";

/// vrrpd in `ns` at the default log level (no `--debug`), foreground, logging to `<tag>.log`.
fn vrrpd_quiet(lab: &mut Lab, ns: &str, tag: &str, line: &str) -> Proc {
    let mut args: Vec<&str> = vec!["--foreground"];
    args.extend(line.split_whitespace());
    let run = lab.dir.join("run").to_string_lossy().into_owned();
    lab.spawn(
        ns,
        tag,
        env!("CARGO_BIN_EXE_vrrpd"),
        &args,
        &[("VRRPD_RUN_DIR", &run)],
    )
}

/// Notifications the kernel dropped on `pid`'s link monitor socket: the `Drops` of the netlink
/// sockets in its namespace subscribed to exactly RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR and
/// RTNLGRP_IPV6_IFADDR (groups 1, 5, 9: mask 0x111), from `/proc/PID/net/netlink`.
fn monitor_drops(pid: i32) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/net/netlink")).unwrap_or_default();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
            (f.len() >= 9 && f[1] == "0" && f[3] == "00000111").then(|| f[8].parse::<u64>().ok())?
        })
        .sum()
}

/// Whether `pid` is stopped (state `T`).
fn stopped(pid: i32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    stat.rsplit(')')
        .next()
        .and_then(|r| r.split_whitespace().next())
        == Some("T")
}

/// With the daemon SIGSTOPped: thousands of address notifications in its namespace (an address
/// added to and deleted from the veth `fa`, `ip -b`) until its monitor socket has dropped some,
/// then `last` (the change the test wants lost), which must be dropped too. The daemon is
/// continued at the end. (Not link flaps: each is a carrier change for the kernel's linkwatch
/// work, which on a loaded machine then takes seconds to report any other carrier change.)
fn overflow_then(lab: &Lab, ns: &str, p: &Proc, last: impl FnOnce()) {
    let pid = p.pid();
    signal(pid, libc::SIGSTOP);
    assert!(
        wait_for(Duration::from_secs(2), || stopped(pid)).is_some(),
        "vrrpd did not stop"
    );
    let batch = lab.dir.join("flood.batch");
    let mut text = String::new();
    for _ in 0..4000 {
        text.push_str("addr add 198.51.100.1/32 dev fa\naddr del 198.51.100.1/32 dev fa\n");
    }
    std::fs::write(&batch, text).expect("batch file");
    sh(&["ip", "-n", ns, "-b", &batch.to_string_lossy()]);
    let before = monitor_drops(pid);
    last();
    // A carrier change reaches netlink through the kernel's linkwatch work, a little later.
    let _ = wait_for(Duration::from_secs(3), || monitor_drops(pid) > before);
    let after = monitor_drops(pid);
    signal(pid, libc::SIGCONT);
    assert!(
        before > 0 && after > before,
        "the monitor socket did not overflow (drops {before} after the flood, {after} after the \
         change): the test proves nothing"
    );
}

/// A veth `fa` in `ns` (down) for the flood's addresses.
fn flood_pair(ns: &str) {
    sh(&[
        "ip", "-n", ns, "link", "add", "fa", "type", "veth", "peer", "name", "fb",
    ]);
}

/// The link goes down while the daemon's monitor socket is full (its notification is dropped,
/// checked in `/proc/net/netlink`): on `ENOBUFS` the daemon logs the overrun, re-reads the
/// interface and faults (VIP released); when the link comes back it is master again and
/// advertises. `--link-check netlink`, so no ethtool poll can see the carrier loss instead.
#[test]
fn netlink_overrun_does_not_miss_a_link_down() {
    if !require_root("netlink_overrun_does_not_miss_a_link_down") {
        return;
    }
    let mut lab = Lab::new(&["r1"]);
    let r1 = lab.host(0).ns.clone();
    let sw = lab.switch.clone();
    flood_pair(&r1);
    let a = vrrpd_quiet(
        &mut lab,
        &r1,
        "r1",
        &format!("-i eth0 -v 51 -p 200 -d 100ms -n --link-check netlink {VIP}/24"),
    );
    let limit = Duration::from_secs(10);
    assert!(
        wait_for(limit, || lab.state(&r1, 51).as_deref() == Some("MASTER")).is_some()
            && lab.has_addr(&r1, VIP),
        "{}",
        a.log_text()
    );
    // The carrier of r1's eth0 goes with its peer, the switch port.
    overflow_then(&lab, &r1, &a, || {
        sh(&["ip", "-n", &sw, "link", "set", "p0", "down"]);
    });
    assert!(
        wait_for(Duration::from_secs(3), || {
            lab.state(&r1, 51).as_deref() == Some("FAULT") && !lab.has_addr(&r1, VIP)
        })
        .is_some(),
        "the link-down lost in the overrun was missed: state {:?}\n{}",
        lab.state(&r1, 51),
        a.log_text()
    );
    let log = a.log_text();
    assert!(
        log.lines()
            .any(|l| l.contains("warn") && l.contains("netlink events lost")),
        "the overrun was not logged:\n{log}"
    );
    let cap = Capture::start(&sw, "p0");
    sh(&["ip", "-n", &sw, "link", "set", "p0", "up"]);
    assert!(
        wait_for(limit, || lab.state(&r1, 51).as_deref() == Some("MASTER")).is_some()
            && lab.has_addr(&r1, VIP),
        "not master again after the link came back: {:?}\n{}\n{}\n{}",
        lab.state(&r1, 51),
        sh(&["ip", "-n", &r1, "-br", "link"]),
        std::fs::read_to_string(format!("/proc/{}/net/netlink", a.pid())).unwrap_or_default(),
        a.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    let seen = cap.finish();
    let adverts = seen
        .iter()
        .filter(|s| s.src.to_string() == lab.host(0).v4 && prio(s) == 200)
        .count();
    assert!(
        adverts >= 3,
        "{adverts} adverts after the link came back\n{}",
        a.log_text()
    );
}

/// The virtual MAC device is deleted behind the daemon's back while its monitor socket is full
/// (the RTM_DELLINK is dropped): after the overrun the daemon notices, creates it again, puts
/// the VIP back on it and advertises from the virtual MAC.
#[test]
fn netlink_overrun_does_not_miss_a_vmac_deletion() {
    if !require_root("netlink_overrun_does_not_miss_a_vmac_deletion") {
        return;
    }
    let mut lab = Lab::new(&["r1"]);
    let r1 = lab.host(0).ns.clone();
    let sw = lab.switch.clone();
    flood_pair(&r1);
    let a = vrrpd_quiet(
        &mut lab,
        &r1,
        "r1",
        &format!("-i eth0 -v 51 -p 200 -d 100ms --link-check netlink {VIP}/24"),
    );
    let limit = Duration::from_secs(10);
    let index = sh(&[
        "ip",
        "netns",
        "exec",
        &r1,
        "cat",
        "/sys/class/net/eth0/ifindex",
    ]);
    let vmac = format!("vr{}.51", index.trim());
    assert!(
        wait_for(limit, || lab.state(&r1, 51).as_deref() == Some("MASTER")).is_some()
            && wait_for(limit, || lab.addrs(&r1, &vmac).contains(VIP)).is_some(),
        "{}",
        a.log_text()
    );
    overflow_then(&lab, &r1, &a, || {
        sh(&["ip", "-n", &r1, "link", "del", &vmac]);
    });
    let cap = Capture::start(&sw, "p0");
    assert!(
        wait_for(Duration::from_secs(3), || lab
            .addrs(&r1, &vmac)
            .contains(VIP))
        .is_some(),
        "the virtual MAC's deletion lost in the overrun was missed: {}\n{}",
        sh(&["ip", "-n", &r1, "-br", "link"]),
        a.log_text()
    );
    std::thread::sleep(Duration::from_millis(500));
    let seen = cap.finish();
    let vmac_mac = [0x00, 0x00, 0x5e, 0x00, 0x01, 51];
    let adverts = seen
        .iter()
        .filter(|s| s.mac == vmac_mac && prio(s) == 200)
        .count();
    assert!(
        adverts >= 3,
        "{adverts} adverts from the virtual MAC after the overrun\n{}",
        a.log_text()
    );
    assert_eq!(lab.state(&r1, 51).as_deref(), Some("MASTER"));
    assert!(
        a.log_text().contains("netlink events lost"),
        "the overrun was not logged:\n{}",
        a.log_text()
    );
}
