//! Address refresh on the wire (issue #17): `--garp-refresh` repeats a gratuitous ARP round
//! while master (the period is measured), a master hearing a lower-priority master (a split
//! brain healing) re-announces its addresses at once (the delay is measured), and the unsolicited
//! NAs of an IPv6 master carry the Router flag (RFC 9568 §6.4.2, RFC 4861 §4.4).

mod common;

use std::time::Duration;

use common::*;

const VIP: &str = "192.0.2.254";

/// Gratuitous ARPs for the VIP (sender = target = VIP) from `mac`, by capture time.
fn garps(frames: &[Frame], mac: [u8; 6]) -> Vec<Duration> {
    let vip: std::net::Ipv4Addr = VIP.parse().unwrap();
    frames
        .iter()
        .filter(|f| f.src_mac() == mac && f.arp() == Some((1, vip, vip)))
        .map(|f| f.at)
        .collect()
}

fn mac_of(ns: &str) -> [u8; 6] {
    let text = sh(&["ip", "-n", ns, "-o", "link", "show", "dev", "eth0"]);
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

#[test]
fn garp_refresh_period_reannounce_on_lower_priority_and_na_router_flag() {
    if !require_root("garp_refresh_period_reannounce_on_lower_priority_and_na_router_flag") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2", "client"]);
    let [r1, r2, c] = lab.ns_names();
    let mac1 = mac_of(&r1);
    let cap = Capture::start(&c, "eth0");
    let a = lab.vrrpd_line(
        &r1,
        "r1",
        "-i eth0 -v 51 -p 200 -d 1 -n --garp-count 1 --garp-refresh 1s 192.0.2.254/24",
    );
    let a6 = lab.vrrpd_line(
        &r1,
        "r1v6",
        "-i eth0 -v 52 -p 200 -d 100ms -n --garp-count 1 fe80::52/64 2001:db8::fe/64",
    );
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    std::thread::sleep(Duration::from_millis(3400));

    // A split brain: r2 cut off from the segment (its port out of the bridge, carrier kept)
    // becomes master too; then the segment heals. r1 advertises every second, r2 every 100 ms:
    // r1 hears r2 (S12) before r2 hears r1.
    let sw = lab.switch.clone();
    sh(&["ip", "-n", &sw, "link", "set", "p1", "nomaster"]);
    let b = lab.vrrpd_line(
        &r2,
        "r2",
        "-i eth0 -v 51 -p 100 -d 100ms -n --garp-count 1 192.0.2.254/24",
    );
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r2, VIP)).is_some(),
        "{}",
        b.log_text()
    );
    // Both masters advertise on the host-wide grid (multiples of their interval on
    // CLOCK_MONOTONIC): every whole second r1's advert and one of r2's leave at the same
    // instant. Healed in the 100 ms before a whole second, r2's first advert after the heal
    // would race r1's, and r2 hearing r1 first gives up without ever advertising on the
    // healed segment (a coin flip: the CI run of 3609eae lost it). Heal early in r1's second
    // instead: r2 advertises on the next 100 ms point, at least 200 ms before r1 does.
    // (REFRESH_TEST_HEAL_PHASE_MS=960 puts the heal back in the race.)
    let phase = std::env::var("REFRESH_TEST_HEAL_PHASE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(150);
    sleep_until_grid_phase(Duration::from_secs(1), Duration::from_millis(phase));
    let healed = cap.started.elapsed();
    sh(&["ip", "-n", &sw, "link", "set", "p1", "master", "br0"]);
    let gave_up = wait_for(Duration::from_secs(3), || !lab.has_addr(&r2, VIP));
    std::thread::sleep(Duration::from_millis(300));
    let frames = cap.finish_all();

    // 1. The refresh: after the takeover round, one round per second.
    let g = garps(&frames, mac1);
    let before_heal: Vec<Duration> = g.iter().copied().filter(|&t| t < healed).collect();
    assert!(
        before_heal.len() >= 4,
        "takeover + 3 refresh rounds expected, saw {before_heal:?}\n{}",
        a.log_text()
    );
    let gaps: Vec<f64> = before_heal
        .windows(2)
        .map(|w| (w[1] - w[0]).as_secs_f64() * 1000.0)
        .collect();
    println!("MEASURED: --garp-refresh 1s: GARP gaps {gaps:.1?} ms");
    for gap in &gaps {
        assert!(
            (900.0..=1150.0).contains(gap),
            "refresh gap {gap:.1} ms, not ~1000 ms: {gaps:?}"
        );
    }

    // 2. The re-announce: r1's first GARP after r2's first advert reached the segment.
    let r2_advert = frames
        .iter()
        .filter(|f| f.at >= healed)
        .filter_map(vrrp_of)
        .find(|s| s.payload.get(1) == Some(&51) && prio(s) == 100)
        .map(|s| s.at)
        .unwrap_or_else(|| {
            let all: Vec<(Duration, u8, u8)> = frames
                .iter()
                .filter_map(vrrp_of)
                .map(|s| (s.at, s.payload[1], prio(&s)))
                .filter(|x| x.2 != 200)
                .collect();
            panic!(
                "r2's advert never seen after the heal at {healed:?}: {all:?}\n{}",
                b.log_text()
            )
        });
    let reannounce = g
        .iter()
        .copied()
        .find(|&t| t >= r2_advert)
        .unwrap_or_else(|| panic!("no GARP from r1 after r2's advert\n{}", a.log_text()));
    let delay = (reannounce - r2_advert).as_secs_f64() * 1000.0;
    println!("MEASURED: re-announce after a lower-priority advert: {delay:.1} ms");
    // Without the re-announce the next GARP is a refresh round, 0-1000 ms later (113 ms in the
    // run that checked this test fails without it; a 3 % chance of landing within 30 ms).
    assert!(
        delay < 30.0,
        "r1 re-announced {delay:.1} ms after r2's advert (a refresh round, not a re-announce)"
    );
    assert!(
        gave_up.is_some(),
        "r2 kept the VIP after the heal\n{}",
        b.log_text()
    );

    // 3. The IPv6 master's unsolicited NAs: R=1 S=0 O=1 (0xa0), hop limit 255.
    let nas: Vec<&Frame> = frames
        .iter()
        .filter(|f| {
            f.ethertype() == 0x86dd
                && f.src_mac() == mac1
                && f.bytes.get(20) == Some(&58)
                && f.bytes.get(54) == Some(&136)
        })
        .collect();
    assert!(!nas.is_empty(), "no unsolicited NA seen\n{}", a6.log_text());
    for na in &nas {
        assert_eq!(na.bytes[58], 0xa0, "NA flags: R=1 S=0 O=1 expected");
        assert_eq!(na.bytes[21], 255, "NA hop limit");
    }
    println!(
        "MEASURED: {} unsolicited NAs, all with flags 0xa0 (Router, Override)",
        nas.len()
    );
}
