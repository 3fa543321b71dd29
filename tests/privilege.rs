//! Least privilege: vrrpd runs with only CAP_NET_ADMIN and CAP_NET_RAW (started through
//! setpriv(1) with a bounding set of just those two), with and without the virtual MAC; missing
//! one of them is an error naming it, exit status 1. Issue #13, "Least privilege".

mod common;

use std::net::Ipv4Addr;
use std::time::Duration;

use common::*;

const VIP: &str = "192.0.2.254";

/// CapEff with only CAP_NET_ADMIN (12) and CAP_NET_RAW (13): bits 12 and 13.
const NET_ADMIN_AND_RAW: u64 = (1 << 12) | (1 << 13);

/// Start vrrpd in `ns` as root but with the capability bounding set `bounding` (setpriv(1)
/// syntax, e.g. `-all,+net_admin`) and no inheritable or ambient capabilities: after the exec
/// root's effective set is exactly the bounding set. setpriv execs vrrpd, so the PID is
/// vrrpd's.
fn vrrpd_with_caps(lab: &mut Lab, ns: &str, tag: &str, bounding: &str, args: &[&str]) -> Proc {
    let run = lab.dir.join("run").to_string_lossy().into_owned();
    let bset = format!("--bounding-set={bounding}");
    let mut all = vec![
        "--inh-caps=-all",
        "--ambient-caps=-all",
        bset.as_str(),
        "--",
        env!("CARGO_BIN_EXE_vrrpd"),
        "--foreground",
        "--debug",
    ];
    all.extend_from_slice(args);
    lab.spawn(ns, tag, "setpriv", &all, &[("VRRPD_RUN_DIR", &run)])
}

/// The effective capability set of a running process, from /proc/PID/status.
fn cap_eff(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("CapEff:"))?;
    u64::from_str_radix(line.trim_start_matches("CapEff:").trim(), 16).ok()
}

fn require_setpriv(test: &str) -> bool {
    if try_sh(&["setpriv", "--version"]) {
        return true;
    }
    skip(test, "setpriv (util-linux) not installed")
}

/// With only CAP_NET_ADMIN and CAP_NET_RAW, with the virtual MAC (default) and without (`-n`):
/// vrrpd starts, becomes master, adds its VIP, sends adverts and gratuitous ARP for the VIP,
/// logs no permission error, and on SIGTERM removes the VIP and exits 0.
#[test]
fn runs_with_only_net_admin_and_net_raw() {
    let test = "runs_with_only_net_admin_and_net_raw";
    if !require_root(test) || !require_setpriv(test) {
        return;
    }
    let mut lab = Lab::new(&["r1", "client"]);
    let [r1, c] = lab.ns_names();
    for (tag, extra) in [("vmac", None), ("novmac", Some("-n"))] {
        let cap = Capture::start(&c, "eth0");
        let mut args = vec!["-i", "eth0", "-v", "51", "-p", "150", "-d", "100ms"];
        args.extend(extra);
        args.push("192.0.2.254/24");
        let mut d = vrrpd_with_caps(&mut lab, &r1, tag, "-all,+net_admin,+net_raw", &args);
        // 5 s: three 100 ms advert intervals plus skew to master, with room for a loaded box.
        let up = wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP));
        let eff = cap_eff(d.pid());
        // A few adverts and the GARP burst after the transition.
        std::thread::sleep(Duration::from_millis(500));
        let frames = cap.finish_all();
        let log = d.log_text();
        assert!(up.is_some(), "{tag}: VIP never added:\n{log}");
        assert_eq!(
            eff,
            Some(NET_ADMIN_AND_RAW),
            "{tag}: vrrpd did not run with exactly CAP_NET_ADMIN and CAP_NET_RAW:\n{log}"
        );
        let adverts = frames.iter().filter_map(vrrp_of).count();
        assert!(adverts >= 2, "{tag}: {adverts} adverts seen:\n{log}");
        let vip: Ipv4Addr = VIP.parse().unwrap();
        assert!(
            frames
                .iter()
                .filter_map(|f| f.arp())
                .any(|(_, sender, target)| sender == vip && target == vip),
            "{tag}: no gratuitous ARP for the VIP:\n{log}"
        );
        if extra.is_none() {
            assert!(
                log.contains("virtual MAC 00:00:5e:00:01:33"),
                "{tag}: no virtual MAC:\n{log}"
            );
        }
        for bad in ["ermission denied", "not permitted", "needs CAP_"] {
            assert!(!log.contains(bad), "{tag}: {bad:?} in the log:\n{log}");
        }
        signal(d.pid(), libc::SIGTERM);
        assert_eq!(
            wait_exit(&mut d, Duration::from_secs(5)),
            Some(0),
            "{tag}: {}",
            d.log_text()
        );
        assert!(!lab.has_addr(&r1, VIP), "{tag}: VIP left after SIGTERM");
    }
}

/// Missing one of the two capabilities: one line naming it (and not the other), exit status 1,
/// nothing started (no VIP).
#[test]
fn missing_capability_is_named_and_exits_1() {
    let test = "missing_capability_is_named_and_exits_1";
    if !require_root(test) || !require_setpriv(test) {
        return;
    }
    let mut lab = Lab::new(&["r1"]);
    let [r1] = lab.ns_names();
    let args = [
        "-i",
        "eth0",
        "-v",
        "51",
        "-p",
        "150",
        "-d",
        "100ms",
        "192.0.2.254/24",
    ];
    for (tag, bounding, missing, present) in [
        ("noraw", "-all,+net_admin", "CAP_NET_RAW", "CAP_NET_ADMIN"),
        ("noadmin", "-all,+net_raw", "CAP_NET_ADMIN", "CAP_NET_RAW"),
    ] {
        let mut d = vrrpd_with_caps(&mut lab, &r1, tag, bounding, &args);
        let status = wait_exit(&mut d, Duration::from_secs(5));
        let log = d.log_text();
        assert_eq!(status, Some(1), "{tag}: {log}");
        assert!(
            log.contains(&format!("vrrpd: needs {missing} (")),
            "{tag}: the error does not name {missing}:\n{log}"
        );
        assert!(
            !log.contains(present),
            "{tag}: the error names {present}, which is held:\n{log}"
        );
        assert!(!lab.has_addr(&r1, VIP), "{tag}: VIP added");
    }
}

/// `--realtime 7` with only CAP_NET_ADMIN and CAP_NET_RAW (what the systemd unit grants; no
/// CAP_SYS_NICE), started through `prlimit --rtprio=N setpriv ...` (prlimit execs setpriv,
/// which execs vrrpd: the PID is vrrpd's). RLIMIT_RTPRIO 0: one line naming the flag,
/// CAP_SYS_NICE and the systemd drop-in, exit 1, nothing started; `--cleanup` with the same
/// arguments does not try real-time scheduling (exit 0). Either CAP_SYS_NICE (with
/// RLIMIT_RTPRIO still 0) or RLIMIT_RTPRIO 7 (without the capability) is enough: the loop
/// runs at SCHED_RR priority 7.
#[test]
fn realtime_needs_cap_sys_nice_or_rtprio() {
    let test = "realtime_needs_cap_sys_nice_or_rtprio";
    if !require_root(test) || !require_setpriv(test) {
        return;
    }
    if !try_sh(&["prlimit", "--version"]) {
        skip(test, "prlimit (util-linux) not installed");
        return;
    }
    let mut lab = Lab::new(&["r1"]);
    let [r1] = lab.ns_names();
    let run = lab.dir.join("run").to_string_lossy().into_owned();
    let bin = env!("CARGO_BIN_EXE_vrrpd");
    let start = |lab: &mut Lab, tag: &str, rtprio: &str, caps: &str, extra: &[&str]| {
        let rt = format!("--rtprio={rtprio}");
        let bset = format!("--bounding-set=-all,{caps}");
        let mut all = vec![
            rt.as_str(),
            "setpriv",
            "--inh-caps=-all",
            "--ambient-caps=-all",
            bset.as_str(),
            "--",
            bin,
            "--foreground",
            "--debug",
        ];
        all.extend_from_slice(extra);
        all.extend([
            "-i",
            "eth0",
            "-v",
            "51",
            "-p",
            "150",
            "-d",
            "100ms",
            "-n",
            "--realtime",
            "7",
            "192.0.2.254/24",
        ]);
        lab.spawn(&r1, tag, "prlimit", &all, &[("VRRPD_RUN_DIR", &run)])
    };
    const NET: &str = "+net_admin,+net_raw";
    let mut d = start(&mut lab, "refused", "0", NET, &[]);
    let status = wait_exit(&mut d, Duration::from_secs(5));
    let log = d.log_text();
    assert_eq!(status, Some(1), "{log}");
    assert!(
        log.contains(
            "vrrpd: --realtime 7 needs CAP_SYS_NICE or RLIMIT_RTPRIO of at least 7 (it is 0;"
        ) && log.contains("RestrictRealtime=no and LimitRTPRIO=7"),
        "no error naming the flag and the fix:\n{log}"
    );
    assert_eq!(log.lines().count(), 1, "not one line:\n{log}");
    assert!(!lab.has_addr(&r1, VIP), "VIP added");
    let mut c = start(&mut lab, "cleanup", "0", NET, &["--cleanup"]);
    let status = wait_exit(&mut c, Duration::from_secs(5));
    let log = c.log_text();
    assert_eq!(status, Some(0), "--cleanup tried --realtime:\n{log}");
    assert!(!log.contains("--realtime"), "{log}");
    let runs = |lab: &mut Lab, tag: &str, rtprio: &str, caps: &str, eff: u64| {
        let mut d = start(lab, tag, rtprio, caps, &[]);
        let up = wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP));
        let (got, sched) = (cap_eff(d.pid()), sched_of(d.pid()));
        let log = d.log_text();
        assert!(up.is_some(), "{tag}: never master:\n{log}");
        assert_eq!(got, Some(eff), "{tag}: capabilities:\n{log}");
        assert_eq!(sched, Some((2, 7)), "{tag}: not SCHED_RR 7:\n{log}");
        assert!(
            log.contains("realtime scheduling: SCHED_RR priority 7"),
            "{tag}: {log}"
        );
        signal(d.pid(), libc::SIGTERM);
        assert_eq!(
            wait_exit(&mut d, Duration::from_secs(5)),
            Some(0),
            "{tag}: {}",
            d.log_text()
        );
    };
    // CAP_SYS_NICE is bit 23.
    runs(
        &mut lab,
        "sys_nice",
        "0",
        "+net_admin,+net_raw,+sys_nice",
        NET_ADMIN_AND_RAW | (1 << 23),
    );
    // Raising the hard limit needs CAP_SYS_RESOURCE, which a container may not grant root.
    // The CAP_SYS_NICE case above runs the same sched_setscheduler(2) call; what differs is
    // only the kernel's permission check.
    if !try_sh(&["prlimit", "--rtprio=7", "true"]) {
        skip_machine_limit(
            test,
            "the RLIMIT_RTPRIO 7 case: the hard RLIMIT_RTPRIO is below 7 and root has no \
             CAP_SYS_RESOURCE to raise it",
        );
        return;
    }
    runs(&mut lab, "rtprio", "7", NET, NET_ADMIN_AND_RAW);
}

/// Removes a group segment on every exit path.
struct SegGuard(String);

impl Drop for SegGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Issue 13, defect 6, with only CAP_NET_ADMIN and CAP_NET_RAW (no CAP_FOWNER, no
/// CAP_DAC_OVERRIDE): another user's file at the group segment's name is replaced (root owns
/// the sticky /dev/shm), with a warning naming it and its uid; the member joins and goes master.
#[test]
fn squatted_group_segment_is_replaced_with_only_net_admin_and_net_raw() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let test = "squatted_group_segment_is_replaced_with_only_net_admin_and_net_raw";
    if !require_root(test) || !require_setpriv(test) {
        return;
    }
    let name = format!("priv-squat-{}", std::process::id());
    let path = format!("/dev/shm/vrrpd-group-{name}");
    let guard = SegGuard(path.clone());
    std::fs::write(&path, b"squatter").expect("squat");
    std::os::unix::fs::chown(&path, Some(65534), Some(65534)).expect("chown");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let mut lab = Lab::new(&["r1", "client"]);
    let [r1, _c] = lab.ns_names();
    let args = [
        "-i",
        "eth0",
        "-v",
        "52",
        "-p",
        "150",
        "-d",
        "100ms",
        "-M",
        "1",
        "--group",
        &name,
        "192.0.2.254/24",
    ];
    let mut d = vrrpd_with_caps(&mut lab, &r1, "squat", "-all,+net_admin,+net_raw", &args);
    let up = wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP));
    let eff = cap_eff(d.pid());
    let meta = std::fs::symlink_metadata(&path).ok();
    let log = d.log_text();
    assert_eq!(eff, Some(NET_ADMIN_AND_RAW), "not least privilege:\n{log}");
    assert!(up.is_some(), "the member never went master:\n{log}");
    assert!(
        log.contains(&path) && log.contains("uid 65534") && log.contains("replaced"),
        "no warning naming the replaced segment:\n{log}"
    );
    let meta = meta.expect("no segment");
    assert_eq!((meta.uid(), meta.mode() & 0o7777), (0, 0o600), "{log}");
    signal(d.pid(), libc::SIGTERM);
    assert_eq!(
        wait_exit(&mut d, Duration::from_secs(5)),
        Some(0),
        "{}",
        d.log_text()
    );
    assert!(
        std::fs::symlink_metadata(&path).is_err(),
        "segment left after the last member left"
    );
    drop(guard);
}

/// The quiet Backup (issue #14) is optional: without CAP_BPF vrrpd says so once and reads every
/// advert (a Backup of a 100 ms Master wakes about 10 times a second); with CAP_BPF added to
/// the two it needs, it loads the filter and wakes about 3 times a second. Never an error.
#[test]
fn quiet_backup_needs_cap_bpf_and_falls_back_without_it() {
    let test = "quiet_backup_needs_cap_bpf_and_falls_back_without_it";
    if !require_root(test) || !require_setpriv(test) {
        return;
    }
    let mut lab = Lab::new(&["r1", "r2"]);
    let [r1, r2] = lab.ns_names();
    let args = [
        "-i",
        "eth0",
        "-v",
        "51",
        "-d",
        "100ms",
        "-n",
        "192.0.2.254/24",
    ];
    let mut master = vec!["-p", "150"];
    master.extend(args);
    let _a = lab.vrrpd(&r1, "r1", &master);
    assert!(wait_for(Duration::from_secs(5), || lab.has_addr(&r1, VIP)).is_some());
    let wakeups = |pid: i32| {
        let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        s.lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    for (tag, bounding, line, most, least) in [
        (
            "nobpf",
            "-all,+net_admin,+net_raw",
            "quiet Backup unavailable (no CAP_BPF)",
            12.0,
            7.0,
        ),
        (
            "bpf",
            "-all,+net_admin,+net_raw,+bpf",
            "quiet Backup on",
            5.0,
            0.0,
        ),
    ] {
        let mut backup = vec!["-p", "100"];
        backup.extend(args);
        let mut d = vrrpd_with_caps(&mut lab, &r2, tag, bounding, &backup);
        assert!(
            wait_for(Duration::from_secs(3), || lab.state(&r2, 51).as_deref()
                == Some("BACKUP"))
            .is_some(),
            "{tag}:\n{}",
            d.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
        let w0 = wakeups(d.pid());
        std::thread::sleep(Duration::from_secs(2));
        let per_s = (wakeups(d.pid()) - w0) as f64 / 2.0;
        let log = d.log_text();
        eprintln!("{tag}: {per_s:.1} wake-ups/s as Backup");
        assert!(log.contains(line), "{tag}: no {line:?}:\n{log}");
        assert_eq!(log.matches("quiet Backup").count(), 1, "{tag}:\n{log}");
        assert!(per_s <= most && per_s >= least, "{tag}: {per_s}/s\n{log}");
        assert_eq!(
            lab.state(&r2, 51).as_deref(),
            Some("BACKUP"),
            "{tag}:\n{log}"
        );
        signal(d.pid(), libc::SIGTERM);
        assert_eq!(
            wait_exit(&mut d, Duration::from_secs(5)),
            Some(0),
            "{tag}:\n{log}"
        );
    }
}
