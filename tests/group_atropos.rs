//! Host group (-M) across real processes, and atropos against running instances. Issue "Host
//! group (-M) through shared memory, and atropos".

mod common;

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use common::*;

const VIP: &str = "192.0.2.254";

/// Every atropos verb against two running routers: state (table, JSON, quiet exit codes),
/// dump, count, who-has, backup/resume (hands over and holds), priority changes seen on the
/// wire with preemption, not running, malformed requests, stale sockets, not root.
#[test]
fn atropos_verbs_against_running_instances() {
    if !require_root("atropos_verbs_against_running_instances") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2", "client"]);
    let [r1, r2, c] = lab.ns_names();
    let a = lab.vrrpd_line(&r1, "r1", "-i eth0 -v 51 -p 150 -d 100ms -n 192.0.2.254/24");
    let b = lab.vrrpd_line(&r2, "r2", "-i eth0 -v 51 -p 100 -d 100ms -n 192.0.2.254/24");
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );

    // --state, human and JSON; --quiet exit codes: 0 master, 3 backup, 1 not running.
    let (code, out, _) = lab.atropos(&r1, &["--state"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("eth0") && out.contains("MASTER") && out.contains("192.0.2.254/24"),
        "{out}"
    );
    let (_, out, _) = lab.atropos(&r1, &["--state", "--json"]);
    let j = json(&out);
    assert_eq!(j[0]["state"], "MASTER");
    assert_eq!(j[0]["vrid"], 51);
    assert_eq!(j[0]["priority"], 150);
    assert_eq!(j[0]["master"], "192.0.2.1");
    assert_eq!(
        lab.atropos(&r1, &["--state", "-i", "eth0", "-v", "51", "--quiet"])
            .0,
        0
    );
    assert_eq!(
        lab.atropos(&r2, &["--state", "-i", "eth0", "-v", "51", "--quiet"])
            .0,
        3
    );
    assert_eq!(
        lab.atropos(&r2, &["--state", "-i", "eth0", "-v", "52", "--quiet"])
            .0,
        1
    );
    let (code, out, _) = lab.atropos(&c, &["--state"]);
    assert_eq!(code, 1);
    assert!(
        out.contains("no vrrpd instance running in this network namespace"),
        "{out}"
    );

    // --dump: timers and counters.
    let (_, out, _) = lab.atropos(&r2, &["--dump", "--json"]);
    let d = &json(&out)[0]["detail"];
    assert!(d["adverts_rcvd"].as_u64().unwrap() > 0, "{out}");
    assert_eq!(d["master_adver_interval_ms"], 100.0);
    assert!(
        (d["master_down_interval_ms"].as_f64().unwrap() - 360.9375).abs() < 1e-6,
        "{out}"
    );
    assert!(
        (d["skew_time_ms"].as_f64().unwrap() - 60.9375).abs() < 1e-6,
        "{out}"
    );
    assert_eq!(d["transitions"]["INIT->BACKUP"], 1);
    assert!(d["discards"].get("bad_ttl").is_some());
    let (_, out, _) = lab.atropos(&r2, &["--dump"]);
    assert!(out.contains("master down interval 360.938 ms"), "{out}");
    // --count and --who-has.
    let (_, out, _) = lab.atropos(&r1, &["--count", "--json"]);
    assert_eq!(json(&out)["MASTER"], 1);
    let (code, out, _) = lab.atropos(&r1, &["--who-has", VIP]);
    assert_eq!(code, 0);
    assert!(out.contains("MASTER"), "{out}");
    assert_eq!(lab.atropos(&r1, &["--who-has", "192.0.2.99"]).0, 1);

    // --backup hands over to r2 and holds (longer than a Master_Down_Interval); --resume gives
    // it back (r1 has the higher priority and preempts).
    let (code, _, err) = lab.atropos(&r1, &["--backup"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        wait_for(Duration::from_secs(3), || lab.has_addr(&r2, VIP)).is_some(),
        "{}",
        b.log_text()
    );
    assert!(wait_for(Duration::from_secs(3), || !lab.has_addr(&r1, VIP)).is_some());
    std::thread::sleep(Duration::from_millis(800));
    assert!(!lab.has_addr(&r1, VIP), "forced backup did not hold");
    let (_, out, _) = lab.atropos(&r1, &["--state", "--json"]);
    assert_eq!(json(&out)[0]["forced_backup"], true);
    assert_eq!(lab.atropos(&r1, &["--resume"]).0, 0);
    assert!(
        wait_for(Duration::from_secs(3), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );

    // --priority 90 / --reduce / --increase: the new priority is advertised at once and the
    // preempting backup (100) takes over; --increase twice (110) takes it back.
    let cap = Capture::start(&c, "eth0");
    assert_eq!(lab.atropos(&r1, &["--priority", "90"]).0, 0);
    assert!(
        wait_for(Duration::from_secs(3), || lab.has_addr(&r2, VIP)).is_some(),
        "{}",
        b.log_text()
    );
    let seen = cap.finish();
    assert!(
        seen.iter()
            .any(|s| s.src.to_string() == "192.0.2.1" && prio(s) == 90),
        "priority 90 not on the wire"
    );
    assert_eq!(lab.atropos(&r1, &["--increase"]).0, 0);
    assert_eq!(lab.atropos(&r1, &["--increase"]).0, 0);
    let (_, out, _) = lab.atropos(&r1, &["--state", "--json"]);
    assert_eq!(json(&out)[0]["priority"], 110);
    assert!(
        wait_for(Duration::from_secs(3), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    assert_eq!(lab.atropos(&r1, &["--reduce"]).0, 0);
    let (_, out, _) = lab.atropos(&r1, &["--state", "--json"]);
    assert_eq!(json(&out)[0]["priority"], 100);

    // Malformed and oversized requests get an error reply; the daemon runs on.
    let sock = std::fs::read_dir(lab.dir.join("run"))
        .unwrap()
        .flat_map(|d| std::fs::read_dir(d.unwrap().path()).unwrap())
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "sock"))
        .expect("a control socket");
    // Sockets of both routers are in the same run dir, under different ns<inode> directories:
    // talk to any of them from the test process directly (paths are namespace-independent).
    for req in [
        &b"{not json\n"[..],
        &b"{\"version\":9,\"cmd\":\"state\"}\n"[..],
        &vec![b'x'; 5000][..],
    ] {
        let mut s = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let _ = s.write_all(req);
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        assert!(reply.contains("\"ok\":false"), "{reply}");
    }
    // A stale socket (left by a crash) is skipped.
    let stale_dir = sock.parent().unwrap().to_path_buf();
    drop(std::os::unix::net::UnixListener::bind(stale_dir.join("vrrpd_eth9_9.sock")).unwrap());
    let (code, out, err) = lab.atropos(&r1, &["--state"]);
    assert!(code == 0 || code == 3, "{out} {err}");
    assert!(!out.contains("eth9"));
    std::thread::sleep(Duration::from_millis(200));
    assert!(a.log_text().contains("-> MASTER"));
    assert!(alive(&a), "vrrpd died:\n{}", a.log_text());

    // Not root: a clear error and status 1.
    let out = Command::new("ip")
        .args([
            "netns",
            "exec",
            &r1,
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
        ])
        .arg(env!("CARGO_BIN_EXE_atropos"))
        .arg("--state")
        .env("VRRPD_RUN_DIR", lab.dir.join("run"))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("permission denied") && err.contains("run as root"),
        "{err}"
    );
}

/// Start one router's instances: the default group of its network namespace with 3 members
/// (eth0/51, eth1/52, eth2/53) and a named group `g2` with 2 members (eth0/61, eth1/62).
fn start_router(lab: &mut Lab, host: usize, prio: &str, g2: &str) -> Vec<Proc> {
    let ns = lab.host(host).ns.clone();
    let mut procs = Vec::new();
    for (dev, vrid, vip, group, n) in [
        ("eth0", "51", "192.0.2.251/24", None, "3"),
        ("eth1", "52", "198.51.100.62/26", None, "3"),
        ("eth2", "53", "198.51.100.126/26", None, "3"),
        ("eth0", "61", "192.0.2.241/24", Some(g2), "2"),
        ("eth1", "62", "198.51.100.61/26", Some(g2), "2"),
    ] {
        let tag = format!("h{host}-{dev}-{vrid}");
        let mut args = vec![
            "-i", dev, "-v", vrid, "-p", prio, "-d", "100ms", "-n", "-M", n, vip,
        ];
        if let Some(g) = group {
            args.extend(["--group", g]);
        }
        procs.push(lab.vrrpd(&ns, &tag, &args));
    }
    procs
}

fn holds(lab: &Lab, host: usize, vips: &[&str]) -> bool {
    vips.iter().all(|v| lab.has_addr(&lab.host(host).ns, v))
}

const G3: [&str; 3] = ["192.0.2.251", "198.51.100.62", "198.51.100.126"];
const G2: [&str; 2] = ["192.0.2.241", "198.51.100.61"];

/// The `atropos --state --json` entry of `dev`/`vrid` in `ns`.
fn instance(lab: &Lab, ns: &str, dev: &str, vrid: u8) -> serde_json::Value {
    let (_, out, _) = lab.atropos(ns, &["--state", "--json"]);
    json(&out)
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|i| i["interface"] == dev && i["vrid"].as_u64() == Some(u64::from(vrid)))
                .cloned()
        })
        .unwrap_or_else(|| panic!("no {dev}/{vrid} in atropos --state --json: {out}"))
}

/// The host group: link down on one member → every member of that router's group goes backup
/// (priority 0 within a few ms) and the other router takes every VIP of the group; the other
/// group stays; recovery → the group returns together; kill -9 of a member → the same; garbage
/// in a segment → refused, no crash.
#[test]
fn host_group_follows_its_weakest_member() {
    if !require_root("host_group_follows_its_weakest_member") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    lab.add_link("eth1", &[(0, "198.51.100.1/26"), (1, "198.51.100.2/26")]);
    lab.add_link("eth2", &[(0, "198.51.100.65/26"), (1, "198.51.100.66/26")]);
    // Two routers on one host: each router's groups are its own (default group: one per network
    // namespace; named groups: distinct names).
    let g2 = format!("{}r1g2", lab.prefix);
    let g2b = format!("{}r2g2", lab.prefix);
    let mut p1 = start_router(&mut lab, 0, "150", &g2);
    let _p2 = start_router(&mut lab, 1, "100", &g2b);
    let all: Vec<&str> = G3.iter().chain(G2.iter()).copied().collect();
    let up = wait_for(Duration::from_secs(8), || holds(&lab, 0, &all));
    assert!(
        up.is_some(),
        "r1 never master of everything:\n{}",
        p1[0].log_text()
    );
    assert!(
        p1[0].log_text().contains("monitoring 3 processes"),
        "{}",
        p1[0].log_text()
    );

    // Link down on r1's eth2: eth2/53 faults, eth0/51 and eth1/52 follow; g2 stays on r1.
    // Timed on the wire: the siblings' priority-0 adverts, seen from r2, after the link went
    // down (from just before the `ip link set down` command, so the bound includes that
    // command's own run, a few ms).
    let r1 = lab.host(0).ns.clone();
    let r2 = lab.host(1).ns.clone();
    let cap0 = Capture::start(&r2, "eth0");
    let cap1 = Capture::start(&r2, "eth1");
    let (d0, d1) = (cap0.started.elapsed(), cap1.started.elapsed());
    sh(&["ip", "-n", &r1, "link", "set", "eth2", "down"]);
    let moved = wait_for(Duration::from_secs(5), || holds(&lab, 1, &G3));
    let (seen0, seen1) = (cap0.finish(), cap1.finish());
    assert!(
        moved.is_some(),
        "r2 did not take the group:\n{}\n{}",
        p1[0].log_text(),
        p1[2].log_text()
    );
    assert!(
        holds(&lab, 0, &G2) && !holds(&lab, 1, &G2),
        "the other group moved too"
    );
    let zero = |seen: &[Seen], vrid: u8, down: Duration| {
        seen.iter()
            .find(|s| s.payload.get(1) == Some(&vrid) && prio(s) == 0 && s.at > down)
            .map(|s| s.at - down)
            .unwrap_or_else(|| {
                panic!("no priority-0 advert for VRID {vrid} after the link went down")
            })
    };
    let prop = zero(&seen0, 51, d0).max(zero(&seen1, 52, d1));
    eprintln!(
        "host group propagation: link down -> last sibling's priority 0 on the wire in {prop:?}"
    );
    // 50 ms: the netlink event, the fault, the shared-memory verdict read by each sibling.
    assert!(
        prop < Duration::from_millis(50),
        "propagation took {prop:?}"
    );
    // Nothing of the 51/52 adverts from r1 at a non-zero priority after that.
    for (seen, vrid) in [(&seen0, 51u8), (&seen1, 52u8)] {
        let first_zero = seen
            .iter()
            .position(|s| s.payload.get(1) == Some(&vrid) && prio(s) == 0)
            .unwrap();
        assert!(
            !seen[first_zero..]
                .iter()
                .any(|s| s.payload.get(1) == Some(&vrid)
                    && s.src.to_string().ends_with(".1")
                    && prio(s) != 0),
            "r1 kept advertising VRID {vrid} after its priority 0"
        );
    }
    assert_eq!(
        instance(&lab, &r1, "eth0", 51)["state"],
        "BACKUP",
        "{}",
        p1[0].log_text()
    );

    // Recovery: the group returns to r1 together.
    sh(&["ip", "-n", &r1, "link", "set", "eth2", "up"]);
    let back = wait_for(Duration::from_secs(8), || holds(&lab, 0, &G3));
    assert!(
        back.is_some(),
        "group did not come back:\n{}",
        p1[2].log_text()
    );

    // The same through the group alone (no netlink event wakes the siblings this time: each
    // daemon sees every link event of its namespace, so the link-down case above cannot tell
    // group propagation from that): eth2/53 forced to backup by atropos; eth0/51 and eth1/52
    // must send priority 0 within 50 ms of the request, woken by the member's signal (their
    // heartbeat tick, 100 ms, would be too late).
    // Three rounds: a sibling woken only by its tick would be late (> 50 ms) in 3 of 4 rounds.
    for _ in 0..3 {
        let cap0 = Capture::start(&r2, "eth0");
        let cap1 = Capture::start(&r2, "eth1");
        let (d0, d1) = (cap0.started.elapsed(), cap1.started.elapsed());
        let (code, _, err) = lab.atropos(&r1, &["--backup", "-i", "eth2", "-v", "53"]);
        assert_eq!(code, 0, "{err}");
        let moved = wait_for(Duration::from_secs(5), || holds(&lab, 1, &G3));
        let (seen0, seen1) = (cap0.finish(), cap1.finish());
        assert!(
            moved.is_some(),
            "r2 did not take the group after --backup of eth2/53"
        );
        let prop = zero(&seen0, 51, d0).max(zero(&seen1, 52, d1));
        eprintln!(
            "host group propagation: atropos --backup -> last sibling's priority 0 in {prop:?}"
        );
        // 50 ms: atropos itself (a process start and a control request), the member's step-down,
        // its signal and the siblings' step-down.
        assert!(
            prop < Duration::from_millis(50),
            "propagation took {prop:?}"
        );
        assert_eq!(
            lab.atropos(&r1, &["--resume", "-i", "eth2", "-v", "53"]).0,
            0
        );
        let back = wait_for(Duration::from_secs(8), || holds(&lab, 0, &G3));
        assert!(back.is_some(), "group did not come back after --resume");
    }

    // kill -9 of one member: the survivors of its group go backup within the group timeout,
    // and atropos says why (not the log: start-up logs "waiting for 3 members" anyway).
    signal(p1[1].pid(), libc::SIGKILL);
    let _ = wait_exit(&mut p1[1], Duration::from_secs(2));
    let moved = wait_for(Duration::from_secs(5), || {
        holds(&lab, 1, &["192.0.2.251", "198.51.100.126"])
    });
    assert!(
        moved.is_some(),
        "survivors stayed master:\n{}",
        p1[0].log_text()
    );
    let why = instance(&lab, &r1, "eth0", 51);
    assert_eq!(why["state"], "BACKUP", "{why}");
    assert_eq!(why["reason"], "host group holds backup", "{why}");
    let dead = why["group"]["members"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["member"] == "eth1/52"))
        .map(|m| m["alive"] == false);
    assert_eq!(
        dead,
        Some(true),
        "eth0/51's group does not show eth1/52 dead: {why}"
    );
    // Restarted, it reclaims its slot and the group comes back.
    let ns = lab.host(0).ns.clone();
    let _again = lab.vrrpd_line(
        &ns,
        "h0-eth1-52b",
        "-i eth1 -v 52 -p 150 -d 100ms -n -M 3 198.51.100.62/26",
    );
    let back = wait_for(Duration::from_secs(8), || holds(&lab, 0, &G3));
    assert!(
        back.is_some(),
        "group did not come back after restart:\n{}",
        p1[0].log_text()
    );

    // Garbage over the g2 segment: running members hold backup without crashing; a new member
    // is refused with a clear error.
    let seg = format!("/dev/shm/vrrpd-group-{g2}");
    let garbage: Vec<u8> = (0..16384u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    assert!(holds(&lab, 0, &G2), "g2 not on r1 before the garbage");
    std::fs::write(&seg, &garbage).expect("write garbage");
    // The members hold backup: the VIPs of g2 move to r2, and both report BACKUP.
    let moved = wait_for(Duration::from_secs(3), || {
        holds(&lab, 1, &G2) && !holds(&lab, 0, &G2)
    });
    for p in &p1[3..5] {
        assert!(alive(p), "member crashed:\n{}", p.log_text());
    }
    assert!(
        moved.is_some(),
        "g2 stayed on r1 over a garbage segment:\n{}",
        p1[3].log_text()
    );
    for (dev, vrid) in [("eth0", 61), ("eth1", 62)] {
        let i = instance(&lab, &r1, dev, vrid);
        assert_eq!(i["state"], "BACKUP", "{i}");
    }
    let mut late = lab.vrrpd(
        &ns,
        "late",
        &[
            "-i",
            "eth0",
            "-v",
            "63",
            "-n",
            "-M",
            "2",
            "--group",
            &g2,
            "192.0.2.242/24",
        ],
    );
    assert_eq!(
        wait_exit(&mut late, Duration::from_secs(3)),
        Some(1),
        "{}",
        late.log_text()
    );
    assert!(late.log_text().contains(&g2), "{}", late.log_text());
    let _ = std::fs::remove_file(&seg);
}
