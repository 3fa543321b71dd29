//! What a vrrpd leaves when it dies abnormally, and what `vrrpd --cleanup` (the unit's
//! `ExecStopPost=`) removes (issue #19, systemd defect 1); and the journal's priority prefixes
//! when stderr is the journal stream (defect 2).

mod common;

use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;

const VIP: &str = "192.0.2.254";

/// Runs `vrrpd --cleanup ARGS` in `ns` with the lab's run directory: (status, stderr).
fn cleanup(lab: &Lab, ns: &str, args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        ns,
        env!("CARGO_BIN_EXE_vrrpd"),
        "--cleanup",
    ])
    .args(args)
    .env("VRRPD_RUN_DIR", lab.dir.join("run"))
    .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run vrrpd --cleanup");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The files under the lab's run directory (pid files, sockets).
fn run_files(lab: &Lab) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(lab.dir.join("run")) else {
        return out;
    };
    for d in dirs.flatten() {
        if let Ok(files) = std::fs::read_dir(d.path()) {
            out.extend(files.flatten().map(|f| f.path().display().to_string()));
        }
    }
    out
}

fn sysctl(ns: &str, key: &str) -> String {
    sh(&[
        "ip",
        "netns",
        "exec",
        ns,
        "cat",
        &format!("/proc/sys/net/{key}"),
    ])
    .trim()
    .to_string()
}

/// kill -9 of a master leaves its VIP, its `vr*` macvlan, the parent's changed ARP sysctls, its
/// pid file and socket; `--cleanup` with the same arguments refuses while the instance runs
/// (exit 1, nothing touched) and, once it is dead, removes all of them, restores the sysctls
/// and runs the backup hook once; a second `--cleanup` finds nothing (and runs no hook).
#[test]
fn cleanup_after_kill_9_removes_everything_and_runs_the_backup_hook() {
    let t = "cleanup_after_kill_9_removes_everything_and_runs_the_backup_hook";
    if !require_root(t) {
        return;
    }
    let mut lab = Lab::new(&["r1"]);
    let r1 = lab.host(0).ns.clone();
    let hook_log = lab.dir.join("hook.log");
    let hook = lab.script(
        "hook",
        &format!(
            "#!/bin/sh\necho \"$1 prev=$VRRP_PREV_STATE vips=$VRRP_VIPS\" >>{}\n",
            hook_log.display()
        ),
    );
    let hook = hook.to_string_lossy().into_owned();
    let args = [
        "-i",
        "eth0",
        "-v",
        "51",
        "-p",
        "150",
        "-d",
        "100ms",
        "-U",
        &hook,
        "-D",
        &hook,
        "192.0.2.254/24",
    ];
    let before = sysctl(&r1, "ipv4/conf/eth0/arp_ignore");
    let mut a = lab.vrrpd(&r1, "r1", &args);
    assert!(
        wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some(),
        "{}",
        a.log_text()
    );
    let idx = sh(&[
        "ip",
        "netns",
        "exec",
        &r1,
        "cat",
        "/sys/class/net/eth0/ifindex",
    ]);
    let vr = format!("vr{}.51", idx.trim());
    let vmac = lab.addrs(&r1, &vr);
    assert!(vmac.contains(VIP), "no VIP on {vr}: {vmac}");
    assert_ne!(sysctl(&r1, "ipv4/conf/eth0/arp_ignore"), before);
    // While the instance runs: refused, nothing touched.
    let (code, err) = cleanup(&lab, &r1, &args, &[]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is running (pid"), "{err}");
    assert!(lab.has_addr(&r1, VIP), "the live master's VIP was removed");
    assert_eq!(run_files(&lab).len(), 2, "{:?}", run_files(&lab));
    assert!(alive(&a));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(lab.state(&r1, 51).as_deref(), Some("MASTER"));
    // kill -9: everything stays.
    signal(a.pid(), libc::SIGKILL);
    assert!(wait_exit(&mut a, Duration::from_secs(5)).is_some());
    assert!(lab.has_addr(&r1, VIP));
    assert_eq!(run_files(&lab).len(), 2, "{:?}", run_files(&lab));
    // The hooks so far: BACKUP at start, then MASTER; the dead master's backup hook never ran.
    let hooks_before = read(&hook_log).lines().count();
    assert!(read(&hook_log).ends_with(&format!("MASTER prev=BACKUP vips={VIP}\n")));
    let (code, err) = cleanup(&lab, &r1, &args, &[]);
    assert_eq!(code, 0, "{err}");
    eprintln!("--cleanup: {err}");
    assert!(
        err.contains(&format!("cleaned up after pid {}", a.pid())),
        "{err}"
    );
    assert!(
        !lab.has_addr(&r1, VIP),
        "VIP left: {}",
        lab.addrs(&r1, "eth0")
    );
    let links = sh(&["ip", "-n", &r1, "-o", "link", "show"]);
    assert!(!links.contains(&vr), "macvlan left: {links}");
    assert!(run_files(&lab).is_empty(), "{:?}", run_files(&lab));
    assert_eq!(sysctl(&r1, "ipv4/conf/eth0/arp_ignore"), before);
    let hooks = read(&hook_log);
    let new: Vec<&str> = hooks.lines().skip(hooks_before).collect();
    assert_eq!(new, [format!("BACKUP prev=MASTER vips={VIP}")], "{hooks}");
    // Nothing left: nothing done, no second hook.
    let (code, err) = cleanup(&lab, &r1, &args, &[]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("nothing left behind"), "{err}");
    assert_eq!(read(&hook_log).lines().count(), hooks_before + 1);
}

/// With `$JOURNAL_STREAM` naming its stderr, vrrpd writes sd-daemon(3) `<N>` prefixes (so that
/// `journalctl -p warning` finds its warnings) and no pid or time; a `$JOURNAL_STREAM` that names
/// another file changes nothing.
#[test]
fn journal_stream_lines_carry_priority_prefixes() {
    let t = "journal_stream_lines_carry_priority_prefixes";
    if !require_root(t) {
        return;
    }
    let mut lab = Lab::new(&["r1"]);
    let r1 = lab.host(0).ns.clone();
    let run = lab.dir.join("run").to_string_lossy().into_owned();
    // Lab::spawn logs stdout and stderr to this file, created before the start.
    let log = lab.dir.join("j.log");
    std::fs::write(&log, "").unwrap();
    let meta = std::fs::metadata(&log).unwrap();
    let stream = format!("{}:{}", meta.dev(), meta.ino());
    // A link-local-less IPv6 instance warns at start (erratum 8300): a warning to look for.
    let mut a = lab.spawn(
        &r1,
        "j",
        env!("CARGO_BIN_EXE_vrrpd"),
        &[
            "--foreground",
            "-i",
            "eth0",
            "-v",
            "51",
            "-d",
            "100ms",
            "-n",
            "2001:db8::254/64",
        ],
        &[("VRRPD_RUN_DIR", &run), ("JOURNAL_STREAM", &stream)],
    );
    assert!(
        wait_for(Duration::from_secs(5), || a
            .log_text()
            .contains("we are now the master"))
        .is_some(),
        "{}",
        a.log_text()
    );
    signal(a.pid(), libc::SIGTERM);
    assert_eq!(wait_exit(&mut a, Duration::from_secs(5)), Some(0));
    let text = a.log_text();
    eprintln!("{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("<4>warning: eth0/51: no link-local virtual address")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("<6>info: eth0/51: we are now the master router")),
        "{text}"
    );
    for l in text.lines() {
        assert!(
            l.starts_with('<') && !l.contains("vrrpd["),
            "line without a priority prefix, or with a pid: {l}"
        );
    }
    // A start-up error at error priority.
    let bad = lab.spawn(
        &r1,
        "j",
        env!("CARGO_BIN_EXE_vrrpd"),
        &["--foreground", "-i", "eth9", "-v", "51", "192.0.2.254"],
        &[("VRRPD_RUN_DIR", &run), ("JOURNAL_STREAM", "1:1")],
    );
    let mut bad = bad;
    assert_eq!(wait_exit(&mut bad, Duration::from_secs(5)), Some(2));
    // The log was recreated by spawn: JOURNAL_STREAM 1:1 does not name it, so plain lines.
    let text = bad.log_text();
    assert!(text.starts_with("vrrpd: invalid value 'eth9'"), "{text}");
    let log = lab.dir.join("k.log");
    std::fs::write(&log, "").unwrap();
    let meta = std::fs::metadata(&log).unwrap();
    let stream = format!("{}:{}", meta.dev(), meta.ino());
    // Lab::spawn truncates k.log by File::create (same inode): the stream still matches.
    let mut bad = lab.spawn(
        &r1,
        "k",
        env!("CARGO_BIN_EXE_vrrpd"),
        &["--foreground", "-i", "eth9", "-v", "51", "192.0.2.254"],
        &[("VRRPD_RUN_DIR", &run), ("JOURNAL_STREAM", &stream)],
    );
    assert_eq!(wait_exit(&mut bad, Duration::from_secs(5)), Some(2));
    let text = bad.log_text();
    assert!(text.starts_with("<3>vrrpd: invalid value 'eth9'"), "{text}");
}

/// The `atropos --state --json` entry of VRID `vrid` in `ns`.
fn instance(lab: &Lab, ns: &str, vrid: u8) -> serde_json::Value {
    let (_, out, _) = lab.atropos(ns, &["--state", "--json"]);
    json(&out)
        .as_array()
        .and_then(|a| {
            a.iter()
                .find(|i| i["vrid"].as_u64() == Some(u64::from(vrid)))
                .cloned()
        })
        .unwrap_or_else(|| panic!("no VRID {vrid} in atropos --state --json: {out}"))
}

/// The members `eth0/52`-style labels of the host group as `inst` (an atropos entry) shows it.
fn group_members(inst: &serde_json::Value) -> Vec<String> {
    inst["group"]["members"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| {
                    format!(
                        "{} alive={}",
                        m["member"].as_str().unwrap_or("?"),
                        m["alive"]
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// kill -9 of a host-group member (`-M 2`) leaves its slot in the group table: the survivor
/// holds backup ("eth0/52 (pid N) died") and shows it as a dead member in its last published
/// state. `--cleanup` with the member's arguments frees that slot (the survivor still holds
/// backup, now "waiting for 2 members, 1 running", and shows one member); after kill -9 and
/// `--cleanup` of the last member the segment is gone from /dev/shm. A member restarted after
/// a clean-up joins again and the group goes master.
#[test]
fn cleanup_after_kill_9_frees_the_host_group_slot() {
    let t = "cleanup_after_kill_9_frees_the_host_group_slot";
    if !require_root(t) {
        return;
    }
    let mut lab = Lab::new(&["r1"]);
    let r1 = lab.host(0).ns.clone();
    let a_args = [
        "-i",
        "eth0",
        "-v",
        "51",
        "-p",
        "150",
        "-d",
        "100ms",
        "-n",
        "-M",
        "2",
        "192.0.2.251/24",
    ];
    let b_args = [
        "-i",
        "eth0",
        "-v",
        "52",
        "-p",
        "150",
        "-d",
        "100ms",
        "-n",
        "-M",
        "2",
        "192.0.2.252/24",
    ];
    let mut a = lab.vrrpd(&r1, "a", &a_args);
    let mut b = lab.vrrpd(&r1, "b", &b_args);
    let both_master = |lab: &Lab| {
        lab.state(&r1, 51).as_deref() == Some("MASTER")
            && lab.state(&r1, 52).as_deref() == Some("MASTER")
    };
    assert!(
        wait_for(Duration::from_secs(8), || both_master(&lab)).is_some(),
        "{}\n{}",
        a.log_text(),
        b.log_text()
    );
    let seg = format!(
        "/dev/shm/vrrpd-group-{}",
        instance(&lab, &r1, 51)["group"]["name"]
            .as_str()
            .expect("group name")
    );
    assert!(std::path::Path::new(&seg).exists(), "no {seg}");
    // Whatever happens below, nothing of this test stays in /dev/shm.
    struct RemoveOnDrop(String);
    impl Drop for RemoveOnDrop {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _seg_guard = RemoveOnDrop(seg.clone());
    signal(b.pid(), libc::SIGKILL);
    assert!(wait_exit(&mut b, Duration::from_secs(5)).is_some());
    // Backup at once, and without its VIP once Master_Down_Interval has passed (a released
    // master keeps them until a new master is heard or MDI, fsm H2; no peer here).
    let t0 = std::time::Instant::now();
    assert!(
        wait_for(Duration::from_secs(5), || {
            lab.state(&r1, 51).as_deref() == Some("BACKUP")
        })
        .is_some(),
        "the survivor stayed master:\n{}",
        a.log_text()
    );
    let t_backup = t0.elapsed();
    assert!(
        wait_for(Duration::from_secs(2), || !lab.has_addr(&r1, "192.0.2.251")).is_some(),
        "the survivor kept its VIP in backup:\n{}",
        a.log_text()
    );
    eprintln!(
        "after kill -9: BACKUP seen at {:?}, its VIP gone at {:?}",
        t_backup,
        t0.elapsed()
    );
    let before = group_members(&instance(&lab, &r1, 51));
    eprintln!("after kill -9: {before:?}");
    assert!(
        before.contains(&"eth0/52 alive=false".to_string()),
        "{before:?}"
    );
    let (code, err) = cleanup(&lab, &r1, &b_args, &[]);
    assert_eq!(code, 0, "{err}");
    eprintln!("--cleanup: {err}");
    let inst = instance(&lab, &r1, 51);
    let after = group_members(&inst);
    assert_eq!(
        after,
        vec!["eth0/51 alive=true".to_string()],
        "the dead member's slot is still in the table after --cleanup: {inst}"
    );
    assert!(
        err.contains("host group"),
        "the clean-up does not say so: {err}"
    );
    // The group still holds backup while the unit restarts (N = 2, one member).
    let mut seen = None;
    let _ = wait_for(Duration::from_millis(500), || {
        let st = lab.state(&r1, 51);
        let vip = lab.has_addr(&r1, "192.0.2.251");
        if st.as_deref() != Some("BACKUP") || vip {
            seen = Some((st, vip, lab.addrs(&r1, "eth0")));
        }
        seen.is_some()
    });
    assert!(
        seen.is_none(),
        "the survivor left backup or took its VIP after the clean-up (state, VIP, eth0): \
         {seen:?}\n{}",
        a.log_text()
    );
    // Restarted after the clean-up: it joins and the group goes master.
    let mut b2 = lab.vrrpd(&r1, "b2", &b_args);
    assert!(
        wait_for(Duration::from_secs(8), || both_master(&lab)).is_some(),
        "the group did not come back:\n{}\n{}",
        a.log_text(),
        b2.log_text()
    );
    // kill -9 of both, --cleanup of both: nothing is left in /dev/shm.
    for p in [&mut a, &mut b2] {
        signal(p.pid(), libc::SIGKILL);
        assert!(wait_exit(p, Duration::from_secs(5)).is_some());
    }
    assert!(std::path::Path::new(&seg).exists(), "{seg} gone already");
    for args in [&a_args, &b_args] {
        let (code, err) = cleanup(&lab, &r1, args, &[]);
        assert_eq!(code, 0, "{err}");
    }
    let left = std::path::Path::new(&seg).exists();
    assert!(
        !left,
        "{seg} left after kill -9 and --cleanup of every member"
    );
}

/// A kill -9 leaves the daemon's host-group segment in /dev/shm on purpose (`vrrpd --cleanup`
/// or the next start deals with it). The test lab removes what its own daemons left: the
/// default group (`ns<inode>` of the lab's namespace) and groups named with the lab's prefix,
/// so a run outside `scripts/test`'s private /dev/shm leaves nothing behind either.
#[test]
fn lab_drop_removes_the_group_segments_a_kill_9_left() {
    let t = "lab_drop_removes_the_group_segments_a_kill_9_left";
    if !require_root(t) {
        return;
    }
    let mut lab = Lab::new(&["r1"]);
    let r1 = lab.host(0).ns.clone();
    let named = format!("{}g", lab.prefix);
    let mut a = lab.vrrpd(
        &r1,
        "a",
        &[
            "-i",
            "eth0",
            "-v",
            "51",
            "-d",
            "100ms",
            "-n",
            "-M",
            "1",
            "192.0.2.251/24",
        ],
    );
    let mut b = lab.vrrpd(
        &r1,
        "b",
        &[
            "-i",
            "eth0",
            "-v",
            "52",
            "-d",
            "100ms",
            "-n",
            "-M",
            "1",
            "--group",
            &named,
            "192.0.2.252/24",
        ],
    );
    let up = |lab: &Lab| {
        lab.state(&r1, 51).as_deref() == Some("MASTER")
            && lab.state(&r1, 52).as_deref() == Some("MASTER")
    };
    assert!(
        wait_for(Duration::from_secs(8), || up(&lab)).is_some(),
        "{}\n{}",
        a.log_text(),
        b.log_text()
    );
    let segs: Vec<String> = [51, 52]
        .iter()
        .map(|&v| {
            format!(
                "/dev/shm/vrrpd-group-{}",
                instance(&lab, &r1, v)["group"]["name"]
                    .as_str()
                    .expect("group name")
            )
        })
        .collect();
    for p in [&mut a, &mut b] {
        signal(p.pid(), libc::SIGKILL);
        assert!(wait_exit(p, Duration::from_secs(5)).is_some());
    }
    for s in &segs {
        assert!(std::path::Path::new(s).exists(), "kill -9 removed {s}?");
    }
    drop(lab);
    for s in &segs {
        assert!(!std::path::Path::new(s).exists(), "{s} left after the lab");
    }
}
