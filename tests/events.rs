//! `atropos --follow` against running daemons (issue #19, an ordered event stream).

mod common;

use std::time::Duration;

use common::*;

fn records(p: &Proc) -> Vec<serde_json::Value> {
    p.log_text()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(json)
        .collect()
}

/// A burst of priority changes arrives complete and in order, numbered without holes; a new
/// instance started after --follow began appears from #1; SIGTERM shows as an exit event and
/// kill -9 as lost.
#[test]
fn follow_sees_every_event_in_order_and_exits() {
    if !require_root("follow_sees_every_event_in_order_and_exits") {
        return;
    }
    let mut lab = Lab::new(&["r1"]);
    let [r1] = lab.ns_names();
    let mut a = lab.vrrpd_line(&r1, "a", "-i eth0 -v 51 -p 100 -d 100ms -n 192.0.2.254/24");
    assert!(
        wait_for(Duration::from_secs(5), || lab.state(&r1, 51).as_deref()
            == Some("MASTER"))
        .is_some(),
        "{}",
        a.log_text()
    );
    let run = lab.dir.join("run").to_string_lossy().into_owned();
    let f = lab.spawn(
        &r1,
        "follow",
        env!("CARGO_BIN_EXE_atropos"),
        &["--follow", "--json"],
        &[("VRRPD_RUN_DIR", &run)],
    );
    std::thread::sleep(Duration::from_millis(300));
    for p in 1..=20u8 {
        let (code, _, err) = lab.atropos(&r1, &["-v", "51", "--priority", &(100 + p).to_string()]);
        assert_eq!(code, 0, "{err}");
    }
    let mut b = lab.vrrpd_line(&r1, "b", "-i eth0 -v 52 -p 100 -d 100ms -n 192.0.2.253/24");
    assert!(
        wait_for(Duration::from_secs(5), || records(&f)
            .iter()
            .any(|r| r["vrid"] == 52 && r["event"] == "transition"))
        .is_some(),
        "{}",
        f.log_text()
    );
    signal(a.pid(), libc::SIGTERM);
    assert!(wait_exit(&mut a, Duration::from_secs(5)).is_some());
    signal(b.pid(), libc::SIGKILL);
    assert!(wait_exit(&mut b, Duration::from_secs(5)).is_some());
    assert!(
        wait_for(Duration::from_secs(5), || records(&f)
            .iter()
            .any(|r| r["vrid"] == 52 && r["event"] == "lost"))
        .is_some(),
        "{}",
        f.log_text()
    );
    let recs = records(&f);
    let a_recs: Vec<&serde_json::Value> = recs.iter().filter(|r| r["vrid"] == 51).collect();
    let prios: Vec<u64> = a_recs
        .iter()
        .filter(|r| r["event"] == "priority")
        .map(|r| r["to"].as_u64().unwrap())
        .collect();
    assert_eq!(prios, (101..=120).collect::<Vec<u64>>(), "{}", f.log_text());
    for w in a_recs.windows(2) {
        assert_eq!(
            w[1]["seq"].as_u64().unwrap(),
            w[0]["seq"].as_u64().unwrap() + 1,
            "{}",
            f.log_text()
        );
    }
    assert_eq!(a_recs.last().unwrap()["event"], "exit", "{}", f.log_text());
    let b_recs: Vec<&serde_json::Value> = recs.iter().filter(|r| r["vrid"] == 52).collect();
    assert_eq!(b_recs[0]["event"], "start", "{}", f.log_text());
    assert_eq!(b_recs[0]["seq"], 1);
    assert!(
        !recs.iter().any(|r| r["event"] == "gap"),
        "{}",
        f.log_text()
    );
}

/// A restarted daemon appears again from #1 with a new run id.
#[test]
fn follow_sees_a_restart_with_a_new_run_id() {
    if !require_root("follow_sees_a_restart_with_a_new_run_id") {
        return;
    }
    let mut lab = Lab::new(&["r1"]);
    let [r1] = lab.ns_names();
    let line = "-i eth0 -v 51 -p 100 -d 100ms -n 192.0.2.254/24";
    let mut a = lab.vrrpd_line(&r1, "a", line);
    assert!(
        wait_for(Duration::from_secs(5), || lab.state(&r1, 51).is_some()).is_some(),
        "{}",
        a.log_text()
    );
    let run = lab.dir.join("run").to_string_lossy().into_owned();
    let f = lab.spawn(
        &r1,
        "follow",
        env!("CARGO_BIN_EXE_atropos"),
        &["--follow", "--json"],
        &[("VRRPD_RUN_DIR", &run)],
    );
    std::thread::sleep(Duration::from_millis(300));
    signal(a.pid(), libc::SIGTERM);
    assert!(wait_exit(&mut a, Duration::from_secs(5)).is_some());
    let _a2 = lab.vrrpd_line(&r1, "a2", line);
    let starts = || -> Vec<serde_json::Value> {
        records(&f)
            .into_iter()
            .filter(|r| r["event"] == "start")
            .collect()
    };
    assert!(
        wait_for(Duration::from_secs(5), || !starts().is_empty()).is_some(),
        "{}",
        f.log_text()
    );
    let recs = records(&f);
    let exit = recs
        .iter()
        .find(|r| r["event"] == "exit")
        .unwrap_or_else(|| panic!("{}", f.log_text()));
    let start = &starts()[0];
    assert_eq!(start["seq"], 1);
    assert_ne!(start["run"], exit["run"], "{}", f.log_text());
}

/// The control socket of `file` (`vrrpd_eth0_51.sock`) under the lab's run directory.
fn control_socket(lab: &Lab, file: &str) -> std::path::PathBuf {
    fn find(dir: &std::path::Path, file: &str) -> Option<std::path::PathBuf> {
        for e in std::fs::read_dir(dir).ok()?.flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n == file) {
                return Some(p);
            }
            if p.is_dir() {
                if let Some(f) = find(&p, file) {
                    return Some(f);
                }
            }
        }
        None
    }
    wait_some(Duration::from_secs(5), || find(&lab.dir.join("run"), file))
        .unwrap_or_else(|| panic!("no {file} under {}", lab.dir.display()))
}

/// A subscriber that sends `subscribe` and never reads, while 4000 priority changes flood the
/// stream (each one an event and, on a master, an advert at once): the advert cadence on the
/// wire is untouched (the largest gap between two adverts stays far below a backup's
/// Master_Down_Interval), and the subscriber is dropped once it has taken nothing for 10 s —
/// logged, counted in the metrics, and its socket closed.
#[test]
fn a_stuck_subscriber_leaves_the_adverts_alone_and_is_dropped_after_10s() {
    use std::io::{Read, Write};
    use vrrpd::control::{client, Command, Request, VERSION};
    if !require_root("a_stuck_subscriber_leaves_the_adverts_alone_and_is_dropped_after_10s") {
        return;
    }
    let mut lab = Lab::new(&["r1", "client"]);
    let [r1, c] = lab.ns_names();
    let a = lab.vrrpd_line(&r1, "a", "-i eth0 -v 51 -p 100 -d 100ms -n 192.0.2.254/24");
    assert!(
        wait_for(Duration::from_secs(5), || lab.state(&r1, 51).as_deref()
            == Some("MASTER"))
        .is_some(),
        "{}",
        a.log_text()
    );
    let sock = control_socket(&lab, "vrrpd_eth0_51.sock");
    let cap = Capture::start(&c, "eth0");
    let mono0 = cap.mono_start;

    let mut stuck = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
    let mut req = serde_json::to_vec(&Request {
        version: VERSION,
        cmd: Command::Subscribe,
        priority: None,
        from: None,
    })
    .unwrap();
    req.push(b'\n');
    stuck.write_all(&req).unwrap();
    let t_sub = monotonic();
    for i in 0..4000u32 {
        let r = client::call(
            &sock,
            &Request {
                version: VERSION,
                cmd: Command::Priority,
                priority: Some(101 + (i % 100) as u8),
                from: None,
            },
        )
        .unwrap_or_else(|e| panic!("priority change {i}: {e}\n{}", a.log_text()));
        assert!(r.ok, "{r:?}");
    }
    let t_flood = monotonic();
    let line = "dropped an event subscriber that read nothing for 10s";
    let dropped = wait_for(Duration::from_secs(25), || a.log_text().contains(line));
    std::thread::sleep(Duration::from_millis(300));
    let seen = cap.finish();
    assert!(dropped.is_some(), "never dropped\n{}", a.log_text());
    let t_drop = log_stamp(&a, line).expect("stamp");
    let ours: Vec<Duration> = seen
        .iter()
        .filter(|s| s.src == "192.0.2.1".parse::<std::net::IpAddr>().unwrap())
        .map(|s| mono0 + s.at)
        .filter(|t| *t >= t_sub && *t <= t_drop)
        .collect();
    let max_gap = ours
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    println!(
        "MEASURED: stuck subscriber + 4000 priority changes in {:.3} s: {} adverts from the \
         master until the drop, largest gap {:.1} ms (interval 100 ms); dropped {:.3} s after \
         subscribing, {:.3} s after the flood ended",
        (t_flood - t_sub).as_secs_f64(),
        ours.len(),
        max_gap.as_secs_f64() * 1000.0,
        (t_drop - t_sub).as_secs_f64(),
        (t_drop - t_flood).as_secs_f64()
    );
    // The cadence: one interval, plus scheduling on a loaded machine; a loop that waited for the
    // subscriber would show a gap of 10 s (and a backup's takeover after ~0.3 s).
    assert!(
        ours.len() > 50 && max_gap < Duration::from_millis(250),
        "{} adverts, largest gap {max_gap:?}",
        ours.len()
    );
    // Dropped after its 10 s without progress: it stalled during the flood, when the socket
    // filled (1.5 s of margin for the loop's wake-up and a loaded machine).
    assert!(
        t_drop - t_sub >= Duration::from_secs(10),
        "dropped too early"
    );
    assert!(
        t_drop - t_flood <= Duration::from_millis(11_500),
        "dropped {:?} after the flood",
        t_drop - t_flood
    );
    // Its socket is closed: what it holds, then end of file.
    stuck
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut got = Vec::new();
    stuck.read_to_end(&mut got).expect("EOF after the drop");
    // What it got is the reply, then records numbered without holes (a gap record standing
    // for missed numbers), the last line possibly cut by the drop.
    let text = String::from_utf8_lossy(&got);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.len() > 2 && lines[0].contains("\"ok\":true"),
        "{}",
        &text[..text.len().min(500)]
    );
    let mut next = None;
    for l in &lines[1..lines.len() - 1] {
        let r = json(l);
        let seq = r["seq"].as_u64().unwrap_or_else(|| panic!("{l}"));
        let first = if r["event"] == "gap" {
            r["first"].as_u64().unwrap()
        } else {
            seq
        };
        if let Some(n) = next {
            assert_eq!(first, n, "{l}");
        }
        next = Some(seq + 1);
    }
    println!(
        "MEASURED: the stuck subscriber's socket held {} bytes ({} lines) when dropped",
        got.len(),
        lines.len()
    );
    // Counted.
    let (code, m, err) = lab.atropos(&r1, &["--metrics"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        m.lines()
            .any(|l| l.starts_with("vrrpd_event_subscribers_dropped_total{") && l.ends_with(" 1")),
        "{m}"
    );
    assert!(
        m.lines()
            .any(|l| l.starts_with("vrrpd_event_subscribers{") && l.ends_with(" 0")),
        "{m}"
    );
}

type Pred = Box<dyn Fn(&serde_json::Value) -> bool>;

/// Tracker changes (a --track-file value) and host-group holds (-M 2) appear in `atropos
/// --follow`, in the order they happened, numbered without holes: the tracker record before the
/// priority change it causes, and the hold before the transition it causes, the release before
/// the return to MASTER.
#[test]
fn follow_shows_tracker_changes_and_group_holds_in_order() {
    if !require_root("follow_shows_tracker_changes_and_group_holds_in_order") {
        return;
    }
    let mut lab = Lab::new(&["r1"]);
    let [r1] = lab.ns_names();
    let run = lab.dir.join("run").to_string_lossy().into_owned();
    let f = lab.spawn(
        &r1,
        "follow",
        env!("CARGO_BIN_EXE_atropos"),
        &["--follow", "--json"],
        &[("VRRPD_RUN_DIR", &run)],
    );
    std::thread::sleep(Duration::from_millis(300));
    let file = lab.dir.join("weight");
    std::fs::write(&file, "0\n").unwrap();
    let track = format!("{},weight=1", file.display());
    let a = lab.vrrpd(
        &r1,
        "a",
        &[
            "-i",
            "eth0",
            "-v",
            "51",
            "-p",
            "100",
            "-d",
            "100ms",
            "-n",
            "-M",
            "2",
            "--group",
            "g1",
            "--track-file",
            &track,
            "192.0.2.254/24",
        ],
    );
    let b = lab.vrrpd_line(
        &r1,
        "b",
        "-i eth0 -v 52 -p 100 -d 100ms -n -M 2 --group g1 192.0.2.253/24",
    );
    let both = |want: &str| {
        lab.state(&r1, 51).as_deref() == Some(want) && lab.state(&r1, 52).as_deref() == Some(want)
    };
    assert!(
        wait_for(Duration::from_secs(8), || both("MASTER")).is_some(),
        "{}\n{}",
        a.log_text(),
        b.log_text()
    );
    std::fs::write(&file, "7\n").unwrap();
    assert!(
        wait_for(Duration::from_secs(5), || records(&f).iter().any(|r| r
            ["vrid"]
            == 51
            && r["event"] == "priority"
            && r["to"] == 107))
        .is_some(),
        "{}",
        f.log_text()
    );
    let (code, _, err) = lab.atropos(&r1, &["-v", "52", "--backup"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        wait_for(Duration::from_secs(5), || lab.state(&r1, 51).as_deref()
            == Some("BACKUP"))
        .is_some(),
        "{}",
        a.log_text()
    );
    let (code, _, err) = lab.atropos(&r1, &["-v", "52", "--resume"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        wait_for(Duration::from_secs(8), || both("MASTER")).is_some(),
        "{}\n{}",
        a.log_text(),
        b.log_text()
    );
    std::thread::sleep(Duration::from_millis(300));
    let recs = records(&f);
    let mine: Vec<&serde_json::Value> = recs.iter().filter(|r| r["vrid"] == 51).collect();
    for w in mine.windows(2) {
        assert_eq!(
            w[1]["seq"].as_u64().unwrap(),
            w[0]["seq"].as_u64().unwrap() + 1,
            "{}",
            f.log_text()
        );
    }
    // The expected records, as a subsequence of vrid 51's stream, in this order.
    let want: Vec<(&str, Pred)> = vec![
        ("start", Box::new(|r| r["event"] == "start")),
        (
            "tracker reads 7",
            Box::new(|r| {
                r["event"] == "tracker"
                    && r["kind"] == "file"
                    && r["status"] == "up"
                    && r["detail"].as_str().is_some_and(|d| d.contains('7'))
            }),
        ),
        (
            "priority 100 -> 107",
            Box::new(|r| r["event"] == "priority" && r["from"] == 100 && r["to"] == 107),
        ),
        (
            "group hold",
            Box::new(|r| r["event"] == "group" && r["held"] == true && r["group"] == "g1"),
        ),
        (
            "MASTER -> BACKUP",
            Box::new(|r| {
                r["event"] == "transition" && r["from"] == "MASTER" && r["to"] == "BACKUP"
            }),
        ),
        (
            "group release",
            Box::new(|r| r["event"] == "group" && r["held"] == false),
        ),
        (
            "BACKUP -> MASTER",
            Box::new(|r| {
                r["event"] == "transition" && r["from"] == "BACKUP" && r["to"] == "MASTER"
            }),
        ),
    ];
    // The first hold comes at start (a group is held until every member is ready): look for the
    // tracker first, then the rest after it.
    let mut at = 0;
    let mut found = Vec::new();
    for (what, pred) in &want {
        match mine[at..].iter().position(|r| pred(r)) {
            Some(i) => {
                found.push(format!("#{} {what}", mine[at + i]["seq"]));
                at += i + 1;
            }
            None => panic!(
                "no '{what}' after {found:?} in vrid 51's records:\n{}",
                mine.iter()
                    .map(|r| r.to_string())
                    .collect::<Vec<_>>()
                    .join("\n")
            ),
        }
    }
    println!("MEASURED: vrid 51's stream, in order: {}", found.join(", "));
}
