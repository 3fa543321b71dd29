//! `atropos --metrics` and `atropos --metrics-listen` against running routers, checked with
//! the real tools: Debian's `promtool check metrics` lints the output, and a real Prometheus
//! scrapes the exporter and answers queries. Issue #19, "Metrics".

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const VIP: &str = "192.0.2.254";

/// The value of the sample of `name` whose labels contain every one of `labels`
/// (`state="master"`), in the text exposition format.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let rest = series.strip_prefix(name)?;
            (rest.is_empty() || rest.starts_with('{')).then_some((rest, value))
        })
        .find(|(rest, _)| labels.iter().all(|want| rest.contains(want)))
        .and_then(|(_, v)| v.parse().ok())
}

/// `promtool check metrics` on `text`: Ok, or its complaints.
fn promtool_check(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut p = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    p.stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write to promtool");
    let out = p.wait_with_output().expect("promtool output");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && said.trim().is_empty() {
        Ok(())
    } else {
        Err(format!("promtool: {}: {said}", out.status))
    }
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A master and a backup (the master with a tracker, the backup in a host group of one):
/// `atropos --metrics` passes `promtool check metrics` and tells each one's state, priorities,
/// counters, tracker and group; after `kill -9` of the master its stale socket is
/// `vrrpd_up 0` with no state series, so the dead master is never shown as master.
#[test]
fn textfile_metrics_pass_promtool_and_a_dead_master_is_not_master() {
    let test = "textfile_metrics_pass_promtool_and_a_dead_master_is_not_master";
    if !require_root(test) {
        return;
    }
    if !have("promtool") && !skip(test, "promtool missing (Debian package prometheus)") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let [r1, r2] = lab.ns_names();
    let weight = lab.dir.join("weight");
    std::fs::write(&weight, "5\n").unwrap();
    let track = format!("{},weight=1", weight.display());
    let mut a = lab.vrrpd(
        &r1,
        "r1",
        &[
            "-i",
            "eth0",
            "-v",
            "51",
            "-p",
            "150",
            "-d",
            "100ms",
            "--track-file",
            &track,
            "-n",
            "192.0.2.254/24",
        ],
    );
    let b = lab.vrrpd_line(
        &r2,
        "r2",
        "-i eth0 -v 51 -p 100 -d 100ms -M 1 -n 192.0.2.254/24",
    );
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
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
    // A few adverts both ways.
    std::thread::sleep(Duration::from_millis(500));

    let (code, m1, err) = lab.atropos(&r1, &["--metrics"]);
    assert_eq!(code, 0, "{err}");
    let (code, m2, err) = lab.atropos(&r2, &["--metrics"]);
    assert_eq!(code, 0, "{err}");
    for m in [&m1, &m2] {
        promtool_check(m).unwrap_or_else(|e| panic!("{e}\n{m}"));
    }
    let id = [r#"interface="eth0""#, r#"vrid="51""#, r#"family="ipv4""#];
    let with = |more: &[&'static str]| -> Vec<&str> { id.iter().chain(more).copied().collect() };
    let up = |m: &str| sample(m, "vrrpd_up", &id);
    let state = |m: &str, s: &str| {
        let l = format!(r#"state="{s}""#);
        sample(
            m,
            "vrrpd_state",
            &with(&[r#"protocol="vrrp""#])
                .iter()
                .copied()
                .chain([l.as_str()])
                .collect::<Vec<_>>(),
        )
    };
    assert_eq!(up(&m1), Some(1.0), "{m1}");
    assert_eq!(state(&m1, "master"), Some(1.0), "{m1}");
    assert_eq!(state(&m1, "backup"), Some(0.0), "{m1}");
    assert_eq!(state(&m2, "backup"), Some(1.0), "{m2}");
    assert_eq!(state(&m2, "master"), Some(0.0), "{m2}");
    assert_eq!(sample(&m1, "vrrpd_priority", &id), Some(155.0), "{m1}");
    assert_eq!(sample(&m1, "vrrpd_configured_priority", &id), Some(150.0));
    assert_eq!(sample(&m2, "vrrpd_priority", &id), Some(100.0), "{m2}");
    assert!(
        sample(&m1, "vrrpd_adverts_sent_total", &id).unwrap_or(0.0) >= 3.0,
        "{m1}"
    );
    assert!(
        sample(&m2, "vrrpd_adverts_received_total", &id).unwrap_or(0.0) >= 3.0,
        "{m2}"
    );
    assert_eq!(
        sample(&m2, "vrrpd_adverts_sent_total", &id),
        Some(0.0),
        "{m2}"
    );
    assert_eq!(
        sample(
            &m1,
            "vrrpd_transitions_total",
            &with(&[r#"from="backup""#, r#"to="master""#])
        ),
        Some(1.0),
        "{m1}"
    );
    assert_eq!(
        sample(
            &m2,
            "vrrpd_transitions_total",
            &with(&[r#"from="init""#, r#"to="backup""#])
        ),
        Some(1.0),
        "{m2}"
    );
    assert_eq!(
        sample(&m2, "vrrpd_master_changes_total", &id),
        Some(1.0),
        "{m2}"
    );
    assert!(sample(&m2, "vrrpd_discards_total", &with(&[r#"reason="bad_ttl""#])).is_some());
    assert_eq!(sample(&m1, "vrrpd_hooks_started_total", &id), Some(0.0));
    assert_eq!(
        sample(&m1, "vrrpd_netlink_overruns_total", &id),
        Some(0.0),
        "{m1}"
    );
    assert_eq!(
        sample(&m1, "vrrpd_advertisement_interval_seconds", &id),
        Some(0.1)
    );
    assert_eq!(
        sample(
            &m1,
            "vrrpd_tracker_status",
            &with(&[r#"kind="file""#, r#"status="up""#])
        ),
        Some(1.0),
        "{m1}"
    );
    assert_eq!(sample(&m2, "vrrpd_group_size", &id), Some(1.0), "{m2}");
    assert!(sample(&m2, "vrrpd_group_held", &id).is_some(), "{m2}");
    assert_eq!(
        sample(
            &m2,
            "vrrpd_group_member_state",
            &with(&[r#"member="eth0/51""#, r#"state="backup""#, r#"alive="1""#])
        ),
        Some(1.0),
        "{m2}"
    );
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let tick = sample(&m1, "vrrpd_last_loop_tick_timestamp_seconds", &id).expect("a tick");
    assert!((now - tick).abs() < 30.0, "tick {tick} now {now}");
    let last = sample(&m1, "vrrpd_last_transition_timestamp_seconds", &id).expect("a time");
    assert!(last <= now && now - last < 30.0, "last {last} now {now}");

    // kill -9: the socket stays; the instance is not running and not master.
    signal(a.pid(), libc::SIGKILL);
    assert!(wait_exit(&mut a, Duration::from_secs(5)).is_some());
    let (code, m1, err) = lab.atropos(&r1, &["--metrics"]);
    assert_eq!(code, 0, "{err}");
    promtool_check(&m1).unwrap_or_else(|e| panic!("{e}\n{m1}"));
    assert_eq!(up(&m1), Some(0.0), "{m1}");
    assert!(
        !m1.contains("vrrpd_state"),
        "a dead daemon has a state:\n{m1}"
    );
    assert!(sample(&m1, "vrrpd_state", &[r#"state="master""#]).is_none());
    // Filters: -v 52 selects nothing (an empty, valid file).
    let (code, m, _) = lab.atropos(&r2, &["--metrics", "-v", "52"]);
    assert_eq!((code, m.as_str()), (0, ""));
}

/// One HTTP GET from inside namespace `ns`: the body, or None on any failure.
fn http_get(ns: &str, addr: &str, path: &str) -> Option<String> {
    let (addr, path) = (addr.to_string(), path.to_string());
    in_netns(ns, move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&addr).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        let (head, body) = out.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.")
            .then(|| body.to_string())
            .filter(|_| head.contains(" 200 "))
    })
}

/// A real Prometheus (its own configuration and storage in the lab's directory, on loopback in
/// its own namespace) scrapes `atropos --metrics-listen` on a master and on a backup and answers
/// `/api/v1/query` with each one's state; the exporter answers 404 on another path.
#[test]
fn prometheus_scrapes_the_exporter_and_answers_the_state() {
    let test = "prometheus_scrapes_the_exporter_and_answers_the_state";
    if !require_root(test) {
        return;
    }
    if !have("prometheus") && !skip(test, "prometheus missing (Debian package prometheus)") {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2", "mon"]);
    let [r1, r2, mon] = lab.ns_names();
    let (ip1, ip2) = (lab.host(0).v4.clone(), lab.host(1).v4.clone());
    let mut a = lab.vrrpd_line(&r1, "r1", "-i eth0 -v 51 -p 150 -d 100ms -n 192.0.2.254/24");
    let _b = lab.vrrpd_line(&r2, "r2", "-i eth0 -v 51 -p 100 -d 100ms -n 192.0.2.254/24");
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    let run = lab.dir.join("run").to_string_lossy().into_owned();
    let atropos = env!("CARGO_BIN_EXE_atropos");
    let mut exporters = Vec::new();
    for (ns, ip, tag) in [(&r1, &ip1, "x1"), (&r2, &ip2, "x2")] {
        let listen = format!("{ip}:9650");
        exporters.push(lab.spawn(
            ns,
            tag,
            atropos,
            &["--metrics-listen", &listen],
            &[("VRRPD_RUN_DIR", &run)],
        ));
    }
    let target1 = format!("{ip1}:9650");
    assert!(
        wait_some(Duration::from_secs(5), || http_get(
            &mon, &target1, "/metrics"
        ))
        .is_some(),
        "{}",
        exporters[0].log_text()
    );
    assert!(http_get(&mon, &target1, "/nope").is_none());

    let conf = lab.dir.join("prometheus.yml");
    std::fs::write(
        &conf,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: vrrpd\n    static_configs:\n      - targets: ['{ip1}:9650', '{ip2}:9650']\n"
        ),
    )
    .unwrap();
    let tsdb = lab.dir.join("tsdb");
    let mut prom = lab.spawn(
        &mon,
        "prometheus",
        "prometheus",
        &[
            &format!("--config.file={}", conf.display()),
            &format!("--storage.tsdb.path={}", tsdb.display()),
            "--web.listen-address=127.0.0.1:9090",
        ],
        &[],
    );
    // The state of each instance, as Prometheus answers it: (instance, state) with value 1.
    let query = |q: &str| -> Vec<(String, String)> {
        let Some(body) = http_get(&mon, "127.0.0.1:9090", &format!("/api/v1/query?query={q}"))
        else {
            return Vec::new();
        };
        let j: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        j["data"]["result"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|s| {
                        (
                            s["metric"]["instance"].as_str().unwrap_or("").to_string(),
                            s["metric"]["state"].as_str().unwrap_or("").to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    // vrrpd_state==1, URL-encoded.
    let q = "vrrpd_state%7Binterface%3D%22eth0%22%2Cvrid%3D%2251%22%7D%3D%3D1";
    let want = |v: &Vec<(String, String)>| {
        v.contains(&(format!("{ip1}:9650"), "master".into()))
            && v.contains(&(format!("{ip2}:9650"), "backup".into()))
    };
    let got = wait_some(Duration::from_secs(60), || Some(query(q)).filter(want));
    let last = query(q);
    // kill -9 of the master: Prometheus sees vrrpd_up 0 for it and no master state.
    let dead = got.is_some().then(|| {
        signal(a.pid(), libc::SIGKILL);
        let _ = wait_exit(&mut a, Duration::from_secs(5));
        let i1 = format!("{ip1}:9650");
        wait_for(Duration::from_secs(30), || {
            query("vrrpd_up%3D%3D0").iter().any(|(i, _)| *i == i1)
                && !query(q).iter().any(|(i, s)| *i == i1 && s == "master")
        })
    });
    signal(prom.pid(), libc::SIGTERM);
    let _ = wait_exit(&mut prom, Duration::from_secs(10));
    for x in &mut exporters {
        signal(x.pid(), libc::SIGTERM);
        let _ = wait_exit(x, Duration::from_secs(5));
    }
    assert!(
        got.is_some(),
        "Prometheus answered {last:?}\n{}",
        prom.log_text()
    );
    assert!(
        dead.flatten().is_some(),
        "after kill -9: up==0 {:?}, states {:?}",
        query("vrrpd_up%3D%3D0"),
        query(q)
    );
}

/// Liveness (issue #19): a master whose daemon is SIGSTOPped (hung: its socket still accepts,
/// nothing answers) is never reported as master, neither by `atropos --metrics` nor by the
/// exporter, at any scrape while it is stopped: `vrrpd_up 0` and no state series, while its peer
/// takes over. Resumed, it is up and master again. After `kill -9` its stale socket is "not
/// running" for `--metrics`, the exporter (which still shows the last tick it saw, older than
/// the kill) and `atropos --state`.
#[test]
fn a_hung_daemon_is_never_master_and_a_stale_socket_is_not_running() {
    let test = "a_hung_daemon_is_never_master_and_a_stale_socket_is_not_running";
    if !require_root(test) {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let [r1, r2] = lab.ns_names();
    let mut a = lab.vrrpd_line(&r1, "r1", "-i eth0 -v 51 -p 150 -d 100ms -n 192.0.2.254/24");
    let b = lab.vrrpd_line(&r2, "r2", "-i eth0 -v 51 -p 100 -d 100ms -n 192.0.2.254/24");
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    let run = lab.dir.join("run").to_string_lossy().into_owned();
    let listen = "127.0.0.1:9651";
    let mut x = lab.spawn(
        &r1,
        "x1",
        env!("CARGO_BIN_EXE_atropos"),
        &["--metrics-listen", listen],
        &[("VRRPD_RUN_DIR", &run)],
    );
    let id = [r#"interface="eth0""#, r#"vrid="51""#, r#"family="ipv4""#];
    let master = |m: &str| sample(m, "vrrpd_state", &[id[1], r#"state="master""#]);
    let scrape = || http_get(&r1, listen, "/metrics");
    let first = wait_some(Duration::from_secs(5), scrape)
        .unwrap_or_else(|| panic!("exporter\n{}", x.log_text()));
    assert_eq!(master(&first), Some(1.0), "{first}");
    let tick_alive = sample(&first, "vrrpd_last_loop_tick_timestamp_seconds", &id).unwrap();

    // Hung: every scrape while it is stopped says not running, never master.
    signal(a.pid(), libc::SIGSTOP);
    let stopped = std::time::Instant::now();
    let mut scrapes = 0;
    let mut slowest = Duration::ZERO;
    while stopped.elapsed() < Duration::from_secs(3) {
        let t = std::time::Instant::now();
        let (code, m, err) = lab.atropos(&r1, &["--metrics"]);
        slowest = slowest.max(t.elapsed());
        assert_eq!(code, 0, "{err}");
        let h = scrape().unwrap_or_else(|| panic!("exporter\n{}", x.log_text()));
        for text in [&m, &h] {
            assert_eq!(sample(text, "vrrpd_up", &id), Some(0.0), "{text}");
            assert_eq!(master(text), None, "a hung daemon reported master:\n{text}");
        }
        scrapes += 2;
    }
    let peer_took_over = lab.state(&r2, 51);
    signal(a.pid(), libc::SIGCONT);
    println!(
        "MEASURED: SIGSTOPped master: {scrapes} scrapes in 3 s (--metrics and exporter), all \
         vrrpd_up 0 with no state; slowest --metrics run {:.3} s (answer timeout 1 s); peer \
         state {peer_took_over:?}",
        slowest.as_secs_f64()
    );
    assert_eq!(
        peer_took_over.as_deref(),
        Some("MASTER"),
        "{}",
        b.log_text()
    );
    // Resumed: up, and master again (prio 150 preempts).
    let back = wait_some(Duration::from_secs(5), || {
        scrape().filter(|m| master(m) == Some(1.0) && sample(m, "vrrpd_up", &id) == Some(1.0))
    });
    assert!(
        back.is_some(),
        "not master again after SIGCONT\n{}",
        a.log_text()
    );

    // kill -9: a stale socket.
    signal(a.pid(), libc::SIGKILL);
    assert!(wait_exit(&mut a, Duration::from_secs(5)).is_some());
    let killed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let (code, m, err) = lab.atropos(&r1, &["--metrics"]);
    assert_eq!(code, 0, "{err}");
    let h = scrape().unwrap_or_else(|| panic!("exporter\n{}", x.log_text()));
    for text in [&m, &h] {
        assert_eq!(sample(text, "vrrpd_up", &id), Some(0.0), "{text}");
        assert!(!text.contains("vrrpd_state"), "{text}");
    }
    let last = sample(&h, "vrrpd_last_loop_tick_timestamp_seconds", &id)
        .unwrap_or_else(|| panic!("the exporter forgot the last tick\n{h}"));
    assert!(
        last >= tick_alive && last <= killed,
        "tick {last}, killed {killed}"
    );
    let (code, out, err) = lab.atropos(&r1, &["--state", "-v", "51"]);
    println!("atropos --state on a stale socket: exit {code}, {out:?} {err:?}");
    assert_eq!(code, 1, "{out}{err}");
    assert!(!out.contains("MASTER"), "{out}");
    signal(x.pid(), libc::SIGTERM);
    let _ = wait_exit(&mut x, Duration::from_secs(5));
}
