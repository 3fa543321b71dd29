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
