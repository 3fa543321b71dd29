//! The virtual MAC through a running vrrpd (RFC 9568 §7.3), `-n` mode with gratuitous ARPs, and
//! the magic packet (`-I/-O`). Issue "Link supervision, the Fault state, and the virtual MAC".

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const VIP: &str = "192.0.2.254";
const VMAC4: &str = "00:00:5e:00:01:33";

/// The MAC the client's neighbour table has for `ip` (lladdr), if any.
fn neigh(ns: &str, ip: &str) -> Option<String> {
    let out = Command::new("ip")
        .args(["-n", ns, "neigh", "show", ip])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut w = text.split_whitespace();
    while let Some(x) = w.next() {
        if x == "lladdr" {
            return w.next().map(str::to_string);
        }
    }
    None
}

fn ping_ok(ns: &str, ip: &str) -> bool {
    Command::new("ip")
        .args([
            "netns", "exec", ns, "ping", "-c", "2", "-i", "0.1", "-W", "1", ip,
        ])
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn mac_of(ns: &str, dev: &str) -> String {
    let out = sh(&["ip", "-n", ns, "-o", "link", "show", dev]);
    out.split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .unwrap_or("")
        .to_string()
}

fn links(ns: &str) -> String {
    sh(&["ip", "-n", ns, "-o", "link", "show"])
}

fn sysctl(ns: &str, key: &str) -> String {
    sh(&["ip", "netns", "exec", ns, "sysctl", "-n", key])
        .trim()
        .to_string()
}

/// Default mode (VMAC on): the client sees the VIP at the virtual MAC; a SIGTERM handover keeps
/// the MAC and the client's pings continue (0 lost); nothing is left behind after SIGTERM
/// (macvlan, sysctls), nor after kill -9 and a restart.
#[test]
fn vmac_owned_by_master_kept_across_handover_and_cleaned() {
    if !require_root("vmac_owned_by_master_kept_across_handover_and_cleaned") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2", "client"]);
    let [r1, r2, c] = lab.ns_names();
    let before = (
        sysctl(&r1, "net.ipv4.conf.eth0.arp_ignore"),
        sysctl(&r1, "net.ipv4.conf.eth0.arp_filter"),
    );
    let mut a = lab.vrrpd_line(&r1, "r1", "-i eth0 -v 51 -p 150 -d 100ms 192.0.2.254/24");
    let b = lab.vrrpd_line(&r2, "r2", "-i eth0 -v 51 -p 100 -d 100ms 192.0.2.254/24");
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    assert!(
        links(&r1).contains("vr"),
        "no macvlan on r1: {}",
        links(&r1)
    );
    assert!(
        a.log_text().contains(&format!("virtual MAC {VMAC4}")),
        "{}",
        a.log_text()
    );
    assert!(ping_ok(&c, VIP), "client cannot reach the VIP");
    assert_eq!(neigh(&c, VIP).as_deref(), Some(VMAC4));
    // Adverts leave from the VMAC.
    let cap = Capture::start(&c, "eth0");
    std::thread::sleep(Duration::from_millis(300));
    let seen = cap.finish();
    assert!(
        seen.iter().any(|s| s.mac == [0, 0, 0x5e, 0, 1, 0x33]),
        "adverts not from the VMAC"
    );
    // SIGTERM handover: pings continue, MAC unchanged, r1 leaves nothing behind.
    let mut ping = lab.spawn(
        &c,
        "ping",
        "ping",
        &["-n", "-i", "0.01", "-W", "1", "-c", "120", VIP],
        &[],
    );
    std::thread::sleep(Duration::from_millis(300));
    signal(a.pid(), libc::SIGTERM);
    assert_eq!(
        wait_exit(&mut a, Duration::from_secs(5)),
        Some(0),
        "{}",
        a.log_text()
    );
    assert!(wait_exit(&mut ping, Duration::from_secs(10)).is_some());
    let text = ping.log_text();
    assert!(
        text.contains("120 received"),
        "lost pings across the VMAC handover:\n{text}\n{}",
        b.log_text()
    );
    assert!(lab.has_addr(&r2, VIP));
    assert_eq!(neigh(&c, VIP).as_deref(), Some(VMAC4));
    assert!(
        !links(&r1).contains("macvlan") && !links(&r1).contains(" vr"),
        "macvlan left: {}",
        links(&r1)
    );
    assert_eq!(
        (
            sysctl(&r1, "net.ipv4.conf.eth0.arp_ignore"),
            sysctl(&r1, "net.ipv4.conf.eth0.arp_filter")
        ),
        before
    );
    // kill -9 leaves the macvlan; a restart cleans it and works again.
    let a2 = lab.vrrpd_line(&r1, "r1b", "-i eth0 -v 51 -p 150 -d 100ms 192.0.2.254/24");
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a2.log_text()
    );
    signal(a2.pid(), libc::SIGKILL);
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        links(&r1).contains(" vr"),
        "kill -9 should leave the macvlan behind"
    );
    let mut a3 = lab.vrrpd_line(&r1, "r1c", "-i eth0 -v 51 -p 150 -d 100ms 192.0.2.254/24");
    assert!(
        wait_for(Duration::from_secs(3), || a3
            .log_text()
            .contains("left by a crash"))
        .is_some(),
        "{}",
        a3.log_text()
    );
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a3.log_text()
    );
    assert!(ping_ok(&c, VIP));
    signal(a3.pid(), libc::SIGTERM);
    assert_eq!(wait_exit(&mut a3, Duration::from_secs(5)), Some(0));
    assert!(!links(&r1).contains(" vr"), "macvlan left: {}", links(&r1));
    assert_eq!(
        (
            sysctl(&r1, "net.ipv4.conf.eth0.arp_ignore"),
            sysctl(&r1, "net.ipv4.conf.eth0.arp_filter")
        ),
        before
    );
}

/// IPv6 with the VMAC: the client's neighbour entry for the VIP is 00:00:5e:00:02:{VRID}.
#[test]
fn vmac_ipv6_neighbour_entry() {
    if !require_root("vmac_ipv6_neighbour_entry") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2", "client"]);
    let [r1, r2, c] = lab.ns_names();
    let a = lab.vrrpd_line(
        &r1,
        "r1",
        "-i eth0 -v 51 -p 150 -d 100ms fe80::51/64 2001:db8::fe/64",
    );
    let _b = lab.vrrpd_line(
        &r2,
        "r2",
        "-i eth0 -v 51 -p 100 -d 100ms fe80::51/64 2001:db8::fe/64",
    );
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, "2001:db8::fe")).is_some(),
        "{}",
        a.log_text()
    );
    assert!(
        wait_for(Duration::from_secs(3), || ping_ok(&c, "2001:db8::fe")).is_some(),
        "{}",
        a.log_text()
    );
    assert_eq!(
        neigh(&c, "2001:db8::fe").as_deref(),
        Some("00:00:5e:00:02:33")
    );
    assert!(!lab.has_addr(&r2, "2001:db8::fe"));
}

/// `-n`: the VIPs on the interface itself; after a failover the client's neighbour entry moves
/// to the new master's own MAC (gratuitous ARPs), and the gateway named by -O learns it from the
/// magic packet.
#[test]
fn no_vmac_garp_moves_client_and_magic_packet_updates_gateway() {
    if !require_root("no_vmac_garp_moves_client_and_magic_packet_updates_gateway") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2", "client", "gw"]);
    let [r1, r2, c, gw] = lab.ns_names();
    let gw_ip = lab.host(3).v4.clone();
    let magic = ["-I", VIP, "-O", &gw_ip];
    let mut args_a = vec![
        "-i",
        "eth0",
        "-v",
        "51",
        "-p",
        "150",
        "-d",
        "100ms",
        "-n",
        "192.0.2.254/24",
    ];
    args_a.extend(magic);
    let mut a = lab.vrrpd(&r1, "r1", &args_a);
    let mut args_b = vec![
        "-i",
        "eth0",
        "-v",
        "51",
        "-p",
        "100",
        "-d",
        "100ms",
        "-n",
        "192.0.2.254/24",
    ];
    args_b.extend(magic);
    let b = lab.vrrpd(&r2, "r2", &args_b);
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    let (mac1, mac2) = (mac_of(&r1, "eth0"), mac_of(&r2, "eth0"));
    assert!(ping_ok(&c, VIP));
    assert_eq!(neigh(&c, VIP), Some(mac1.clone()));
    // The gateway knows r2 (so it has a neighbour entry to refresh) and r1's VIP.
    assert!(ping_ok(&gw, VIP));
    assert_eq!(neigh(&gw, VIP), Some(mac1));
    assert!(ping_ok(&gw, &lab.host(1).v4.clone()));
    // The gateway ignores gratuitous ARP (as some routers and firewalls do; Linux:
    // drop_gratuitous_arp), so only the magic packet's ARP request (target = the gateway) and
    // echo can move its entry.
    sh(&[
        "ip",
        "netns",
        "exec",
        &gw,
        "sysctl",
        "-qw",
        "net.ipv4.conf.eth0.drop_gratuitous_arp=1",
    ]);
    let cap = Capture::start(&gw, "eth0");
    signal(a.pid(), libc::SIGKILL);
    let _ = wait_exit(&mut a, Duration::from_secs(2));
    // The killed daemon's VIP stays on r1's interface (as after a crash): remove it, as an
    // operator would, so only r2 answers.
    sh(&[
        "ip",
        "-n",
        &r1,
        "addr",
        "del",
        "192.0.2.254/24",
        "dev",
        "eth0",
    ]);
    assert!(
        wait_for(Duration::from_secs(3), || lab.has_addr(&r2, VIP)).is_some(),
        "{}",
        b.log_text()
    );
    let moved = wait_for(Duration::from_secs(3), || {
        neigh(&c, VIP).as_deref() == Some(mac2.as_str())
    });
    assert!(
        moved.is_some(),
        "client still has {:?} for the VIP (r2 is {mac2})",
        neigh(&c, VIP)
    );
    let learned = wait_for(Duration::from_secs(3), || {
        neigh(&gw, VIP).as_deref() == Some(mac2.as_str())
    });
    let frames = cap.finish_all();
    assert!(
        learned.is_some(),
        "gateway still has {:?} (r2 is {mac2})\n{}",
        neigh(&gw, VIP),
        b.log_text()
    );
    let vip: std::net::Ipv4Addr = VIP.parse().unwrap();
    let gw_addr: std::net::Ipv4Addr = gw_ip.parse().unwrap();
    let hex = |m: [u8; 6]| {
        m.iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":")
    };
    let from_r2: Vec<&Frame> = frames.iter().filter(|f| hex(f.src_mac()) == mac2).collect();
    // The gratuitous ARPs reached the gateway's wire (and were ignored there).
    assert!(
        from_r2.iter().any(|f| f.arp() == Some((1, vip, vip))),
        "no gratuitous ARP from r2 on the gateway's wire"
    );
    // 1. The ARP request to the gateway, unicast to its MAC (known), sender (r2's MAC, VIP).
    let gw_mac = mac_of(&gw, "eth0");
    let arp = from_r2.iter().find(|f| f.arp() == Some((1, vip, gw_addr)));
    let arp = arp.unwrap_or_else(|| {
        panic!(
            "no magic ARP request VIP -> gateway from r2\n{}",
            b.log_text()
        )
    });
    assert_eq!(
        hex(arp.dst_mac()),
        gw_mac,
        "magic ARP not unicast to the gateway"
    );
    assert_eq!(
        hex(arp.bytes[22..28].try_into().unwrap()),
        mac2,
        "ARP sender MAC"
    );
    // 2. The ICMP echo from the VIP to the gateway, identifier 0x7672.
    let echo = from_r2.iter().find(|f| {
        let b = &f.bytes;
        f.ethertype() == 0x0800
            && b.len() >= 42
            && b[23] == 1
            && b[26..30] == vip.octets()
            && b[30..34] == gw_addr.octets()
            && b[34] == 8
            && b[38..40] == [0x76, 0x72]
    });
    assert!(
        echo.is_some(),
        "no magic echo (ICMP id 0x7672) VIP -> gateway from r2\n{}",
        b.log_text()
    );
}
