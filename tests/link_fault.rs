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
/// takes over; link up: Initialize -> Backup, then preemption gives it back.
#[test]
fn own_link_down_faults_and_recovers() {
    if !require_root("own_link_down_faults_and_recovers") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let (a, b, r1, r2) = pair(&mut lab);
    sh(&["ip", "-n", &r1, "link", "set", "eth0", "down"]);
    assert!(
        wait_for(Duration::from_secs(1), || a
            .log_text()
            .contains("MASTER -> FAULT (link down)"))
        .is_some(),
        "{}",
        a.log_text()
    );
    assert!(!lab.has_addr(&r1, VIP));
    assert!(
        wait_for(Duration::from_secs(3), || lab.has_addr(&r2, VIP)).is_some(),
        "{}",
        b.log_text()
    );
    sh(&["ip", "-n", &r1, "link", "set", "eth0", "up"]);
    assert!(
        wait_for(Duration::from_secs(3), || a
            .log_text()
            .contains("FAULT -> INIT"))
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
    // Adverts are heard again after the flap (multicast membership renewed): r2 stays backup.
    std::thread::sleep(Duration::from_millis(500));
    assert!(!lab.has_addr(&r2, VIP));
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
        wait_for(Duration::from_secs(2), || a.log_text().contains("-> FAULT")).is_some(),
        "{}",
        a.log_text()
    );
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
