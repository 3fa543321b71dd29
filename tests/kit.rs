//! The operator's kit, checked without a running daemon: the systemd unit, the System V init
//! script, the example hooks, the install script, the man pages and the shell completions.
//!
//! External tools (systemd-analyze, shellcheck, groff, start-stop-daemon) are required under
//! `CI=true`; elsewhere a test whose tool is missing says so on stderr and passes.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use clap::CommandFactory;

mod common;
#[allow(dead_code)]
#[path = "../xtask/src/gen.rs"]
mod gen;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("vrrpd-kit-{}-{tag}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn path(&self) -> &Path {
        &self.0
    }
    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A child process reaped by a thread of its own as soon as it exits, as init would reap a
/// daemon (a zombie still counts as running for start-stop-daemon); killed by its pid on drop.
struct Reaped {
    pid: u32,
    exited: mpsc::Receiver<ExitStatus>,
    status: Option<ExitStatus>,
}

impl Reaped {
    fn spawn(cmd: &mut Command) -> Reaped {
        let mut child = cmd.spawn().unwrap();
        let pid = child.id();
        let (tx, exited) = mpsc::channel();
        std::thread::spawn(move || {
            if let Ok(status) = child.wait() {
                let _ = tx.send(status);
            }
        });
        Reaped {
            pid,
            exited,
            status: None,
        }
    }

    fn wait(&mut self, timeout: Duration) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.exited.recv_timeout(timeout).ok();
        }
        self.status
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if self.wait(Duration::ZERO).is_none() {
            let pid = nix::unistd::Pid::from_raw(self.pid as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            let _ = self.wait(Duration::from_secs(5));
        }
    }
}

/// The full path of `tool` in PATH, if any.
fn which(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| {
            p.metadata()
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// Whether `tool` is available. Missing: a failure under CI=true, else a loud skip.
fn need(tool: &str, package: &str, test: &str) -> bool {
    if which(tool).is_some() {
        return true;
    }
    common::skip(
        test,
        &format!("{tool} not found (apt-get install {package})"),
    )
}

fn write_exec(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The built vrrpd and atropos, when this tree has them (`src/bin/*.rs`); else stand-ins.
fn binaries(tmp: &TempDir) -> (PathBuf, PathBuf) {
    let stand_in = |name: &str| {
        let p = tmp.join(name);
        write_exec(&p, "#!/bin/sh\nexit 0\n");
        p
    };
    let vrrpd = option_env!("CARGO_BIN_EXE_vrrpd")
        .map(PathBuf::from)
        .unwrap_or_else(|| stand_in("vrrpd"));
    let atropos = option_env!("CARGO_BIN_EXE_atropos")
        .map(PathBuf::from)
        .unwrap_or_else(|| stand_in("atropos"));
    (vrrpd, atropos)
}

// ---------------------------------------------------------------------------------------------
// systemd unit

const UNIT: &str = "contrib/init/vrrpd@.service";

/// Run `systemd-analyze verify` on the template, instantiated as `vrrpd@eth0-51.service`, with
/// ExecStart pointing at an executable that exists and the man pages on MANPATH (so that the
/// Documentation= links are checked too).
fn verify_unit(unit_text: &str, exec: &Path) -> Output {
    let tmp = TempDir::new("unit");
    let unit = unit_text.replace("/usr/sbin/vrrpd", &exec.display().to_string());
    fs::write(tmp.join("vrrpd@.service"), unit).unwrap();
    let man8 = tmp.join("man/man8");
    fs::create_dir_all(&man8).unwrap();
    for page in ["vrrpd.8", "atropos.8"] {
        fs::copy(root().join("man").join(page), man8.join(page)).unwrap();
    }
    let mut cmd = Command::new("systemd-analyze");
    cmd.arg("verify");
    if which("man").is_some() {
        cmd.env("MANPATH", tmp.join("man"));
    } else {
        cmd.arg("--man=no");
    }
    cmd.arg(tmp.join("vrrpd@eth0-51.service"));
    cmd.output().unwrap()
}

/// Lines of systemd-analyze's output about our unit (anything else is the host's noise).
fn unit_complaints(out: &Output) -> Vec<String> {
    text(out)
        .lines()
        .filter(|l| l.contains("vrrpd"))
        .map(str::to_string)
        .collect()
}

#[test]
fn systemd_unit_verifies() {
    if !need("systemd-analyze", "systemd", "systemd_unit_verifies") {
        return;
    }
    let tmp = TempDir::new("unit-bin");
    let (vrrpd, _) = binaries(&tmp);
    let unit = fs::read_to_string(root().join(UNIT)).unwrap();
    let out = verify_unit(&unit, &vrrpd);
    assert!(
        out.status.success() && unit_complaints(&out).is_empty(),
        "systemd-analyze verify:\n{}",
        text(&out)
    );

    // The check has teeth: a typo in a setting is reported although the exit status is 0.
    let broken = unit.replace("Type=notify", "Type=notfy");
    let out = verify_unit(&broken, &vrrpd);
    assert!(
        !unit_complaints(&out).is_empty(),
        "a broken unit went unnoticed:\n{}",
        text(&out)
    );
}

#[test]
fn systemd_unit_has_the_promised_settings() {
    let unit = fs::read_to_string(root().join(UNIT)).unwrap();
    let lines: Vec<&str> = unit.lines().filter(|l| !l.starts_with('#')).collect();
    for want in [
        "Type=notify",
        "NotifyAccess=exec",
        "WatchdogSec=10s",
        "Restart=on-failure",
        "RestartPreventExitStatus=2",
        "StartLimitIntervalSec=60s",
        "StartLimitBurst=5",
        "ExecStopPost=/usr/sbin/vrrpd --cleanup $VRRPD_ARGS",
        "ExecReload=/bin/sh -c 'kill -HUP ${MAINPID}'",
        "EnvironmentFile=/etc/vrrpd/%i.conf",
        "ExecStart=/usr/sbin/vrrpd --foreground $VRRPD_ARGS",
        "RuntimeDirectory=vrrpd",
        "RuntimeDirectoryPreserve=yes",
        "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_RAW CAP_BPF",
        "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW CAP_BPF",
        "SystemCallFilter=bpf",
        "WantedBy=multi-user.target",
    ] {
        assert!(lines.contains(&want), "{UNIT} lacks {want}");
    }
    // Settings that would break the daemon: sysctl writes, the shared memory of the -M group.
    for banned in [
        "ProtectKernelTunables=",
        "PrivateIPC=",
        "ProtectSystem=strict",
        "DynamicUser=",
    ] {
        assert!(
            !lines.iter().any(|l| l.starts_with(banned)),
            "{UNIT} sets {banned}"
        );
    }
    let families = lines
        .iter()
        .find(|l| l.starts_with("RestrictAddressFamilies="))
        .unwrap();
    for af in ["AF_UNIX", "AF_NETLINK", "AF_PACKET", "AF_INET", "AF_INET6"] {
        assert!(
            families.split_whitespace().any(|w| w.ends_with(af)),
            "{af} missing from {families}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Shell scripts

const SCRIPTS: [&str; 4] = [
    "contrib/init/vrrpd.sysv",
    "scripts/hooks/notify-log",
    "scripts/hooks/service-toggle",
    "scripts/install",
];

#[test]
fn shell_scripts_parse_and_pass_shellcheck() {
    for s in SCRIPTS {
        let p = root().join(s);
        let mode = p.metadata().unwrap().permissions().mode();
        assert!(mode & 0o111 == 0o111, "{s} is not executable ({mode:o})");
        assert!(
            fs::read_to_string(&p).unwrap().starts_with("#!/bin/sh\n"),
            "{s}: not a POSIX sh script"
        );
        let out = Command::new("sh").arg("-n").arg(&p).output().unwrap();
        assert!(out.status.success(), "sh -n {s}:\n{}", text(&out));
    }
    if !need(
        "shellcheck",
        "shellcheck",
        "shell_scripts_parse_and_pass_shellcheck (shellcheck part)",
    ) {
        return;
    }
    let out = Command::new("shellcheck")
        .args(["--shell=sh", "--severity=style"])
        .args(SCRIPTS)
        .current_dir(root())
        .output()
        .unwrap();
    assert!(out.status.success(), "shellcheck:\n{}", text(&out));
}

#[test]
fn sysv_script_has_lsb_headers() {
    let s = fs::read_to_string(root().join("contrib/init/vrrpd.sysv")).unwrap();
    let begin = s.find("### BEGIN INIT INFO").unwrap();
    let end = s.find("### END INIT INFO").unwrap();
    let block = &s[begin..end];
    for key in [
        "# Provides:",
        "# Required-Start:",
        "# Required-Stop:",
        "# Default-Start:",
        "# Default-Stop:",
        "# Short-Description:",
    ] {
        assert!(block.contains(key), "LSB header {key} missing");
    }
}

// ---------------------------------------------------------------------------------------------
// Hooks

/// A hook run with a clean VRRP_* environment and `fakebin` first in PATH.
fn hook(name: &str, fakebin: &Path) -> Command {
    let mut cmd = Command::new(root().join("scripts/hooks").join(name));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("VRRP_") {
            cmd.env_remove(k);
        }
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![fakebin.to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    cmd.env("PATH", std::env::join_paths(dirs).unwrap());
    cmd
}

/// A fake command in `fakebin` that appends its arguments, one line per call, to `fakebin/NAME.calls`.
fn fake(fakebin: &Path, name: &str) -> PathBuf {
    fs::create_dir_all(fakebin).unwrap();
    let calls = fakebin.join(format!("{name}.calls"));
    write_exec(
        &fakebin.join(name),
        &format!(
            "#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\n",
            calls.display()
        ),
    );
    calls
}

#[test]
fn notify_log_logs_arguments_and_environment() {
    let tmp = TempDir::new("notify");
    let fakebin = tmp.join("bin");
    let logger = fake(&fakebin, "logger");
    let log = tmp.join("hook.log");

    let out = hook("notify-log", &fakebin)
        .args(["MASTER", "eth0", "51", "150"])
        .env("VRRP_STATE", "MASTER")
        .env("VRRP_IFACE", "eth0")
        .env("VRRP_VRID", "51")
        .env("VRRP_PRIORITY", "150")
        .env("VRRP_VIPS", "192.0.2.254/24 192.0.2.253/24")
        .env("VRRP_PREV_STATE", "BACKUP")
        .env("VRRP_HOOK_LOG", &log)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let calls = fs::read_to_string(&logger).unwrap();
    assert_eq!(
        calls.trim_end(),
        "-t vrrpd-hook -p daemon.notice -- eth0/51: BACKUP -> MASTER, priority 150, 2 VIP(s): \
         192.0.2.254/24 192.0.2.253/24"
    );
    let line = fs::read_to_string(&log).unwrap();
    assert_eq!(line.lines().count(), 1, "{line}");
    assert!(
        line.trim_end().ends_with(
            "state=MASTER prev=BACKUP iface=eth0 vrid=51 priority=150 vips=\"192.0.2.254/24 192.0.2.253/24\""
        ),
        "{line}"
    );

    // Environment only (a caller passing no arguments, as Advanced Vrrpd did); FAULT is a warning.
    let out = hook("notify-log", &fakebin)
        .env("VRRP_STATE", "FAULT")
        .env("VRRP_IFACE", "eth1")
        .env("VRRP_VRID", "7")
        .env("VRRP_PRIORITY", "100")
        .env("VRRP_VIPS", "2001:db8::1/64")
        .env("VRRP_PREV_STATE", "MASTER")
        .env("VRRP_HOOK_LOG", &log)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let calls = fs::read_to_string(&logger).unwrap();
    assert!(
        calls.lines().nth(1).is_some_and(|l| l
            == "-t vrrpd-hook -p daemon.warning -- eth1/7: MASTER -> FAULT, priority 100, 1 VIP(s): 2001:db8::1/64"),
        "{calls}"
    );
    let lines = fs::read_to_string(&log).unwrap();
    assert!(
        lines
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains("state=FAULT prev=MASTER iface=eth1 vrid=7")),
        "{lines}"
    );

    // No VRRP_HOOK_LOG: nothing appended. No state at all: usage error.
    let before = fs::read_to_string(&log).unwrap();
    let out = hook("notify-log", &fakebin)
        .args(["BACKUP", "eth0", "51", "100"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(fs::read_to_string(&log).unwrap(), before);
    let out = hook("notify-log", &fakebin).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
}

#[test]
fn service_toggle_starts_on_master_and_stops_otherwise() {
    let tmp = TempDir::new("toggle");
    let fakebin = tmp.join("bin");
    let systemctl = fake(&fakebin, "systemctl");
    let service = fake(&fakebin, "service");
    let log = tmp.join("hook.log");

    let run = |state: &str, manager: &str, dry: bool| {
        let mut cmd = hook("service-toggle", &fakebin);
        cmd.args([state, "eth0", "51", "150"])
            .env("VRRP_STATE", state)
            .env("VRRP_SERVICE", "haproxy nginx")
            .env("VRRP_SERVICE_MANAGER", manager)
            .env("VRRP_HOOK_LOG", &log);
        if dry {
            cmd.env("VRRP_HOOK_DRY_RUN", "1");
        }
        cmd.output().unwrap()
    };

    // Dry run: the commands are printed and logged, nothing is run.
    let out = run("MASTER", "systemd", true);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "systemctl start haproxy nginx\n"
    );
    let out = run("BACKUP", "sysv", true);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "service haproxy stop\nservice nginx stop\n"
    );
    let out = run("FAULT", "systemd", true);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "systemctl stop haproxy nginx\n"
    );
    assert!(
        !systemctl.exists() && !service.exists(),
        "dry run ran a command"
    );
    assert_eq!(
        fs::read_to_string(&log).unwrap(),
        "service-toggle: systemctl start haproxy nginx\nservice-toggle: service haproxy stop\n\
         service-toggle: service nginx stop\nservice-toggle: systemctl stop haproxy nginx\n"
    );

    // For real (with the fakes first in PATH).
    assert!(run("MASTER", "systemd", false).status.success());
    assert!(run("BACKUP", "systemd", false).status.success());
    assert_eq!(
        fs::read_to_string(&systemctl).unwrap(),
        "start haproxy nginx\nstop haproxy nginx\n"
    );
    assert!(run("MASTER", "sysv", false).status.success());
    assert_eq!(
        fs::read_to_string(&service).unwrap(),
        "haproxy start\nnginx start\n"
    );

    // Bad input: exit status 2.
    assert_eq!(run("INIT", "systemd", true).status.code(), Some(2));
    assert_eq!(run("MASTER", "upstart", true).status.code(), Some(2));
    let out = hook("service-toggle", &fakebin)
        .args(["MASTER", "eth0", "51", "150"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "no VRRP_SERVICE: {}",
        text(&out)
    );
}

// ---------------------------------------------------------------------------------------------
// System V init script

struct Sysv {
    tmp: TempDir,
    daemon: PathBuf,
}

impl Sysv {
    fn new(daemon: PathBuf, instances: &str, confs: &[(&str, &str)]) -> Sysv {
        let tmp = TempDir::new("sysv");
        fs::write(tmp.join("default"), format!("INSTANCES=\"{instances}\"\n")).unwrap();
        fs::create_dir_all(tmp.join("conf")).unwrap();
        for (name, args) in confs {
            fs::write(
                tmp.join(&format!("conf/{name}.conf")),
                format!("VRRPD_ARGS=\"{args}\"\n"),
            )
            .unwrap();
        }
        Sysv { tmp, daemon }
    }
    fn run(&self, args: &[&str]) -> Output {
        Command::new(root().join("contrib/init/vrrpd.sysv"))
            .args(args)
            .env("VRRPD_DAEMON", &self.daemon)
            .env("VRRPD_DEFAULT_FILE", self.tmp.join("default"))
            .env("VRRPD_CONF_DIR", self.tmp.join("conf"))
            .env("VRRPD_RUN_DIR", self.tmp.join("run"))
            .output()
            .unwrap()
    }
    fn pidfile(&self, name: &str) -> String {
        let out = self.run(&["pidfile", name]);
        assert!(out.status.success(), "pidfile {name}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim_end().to_string()
    }
}

fn netns_inode() -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self/ns/net").unwrap().ino()
}

#[test]
fn sysv_script_finds_the_documented_pid_files() {
    let sysv = Sysv::new(
        PathBuf::from("/usr/sbin/vrrpd"),
        "eth0-51",
        &[
            (
                "eth0-51",
                "-i eth0 -v 051 -p 150 -a pw/a:b -U /etc/vrrpd/up 192.0.2.254/24",
            ),
            (
                "v6",
                "-sn -ibr-lan -v7 -I 2001:db8::1 -O 2001:db8::2 fe80::7/64 2001:db8::7/64",
            ),
            ("long", "--interface=eth1 --vrid 9 --priority 120 192.0.2.9"),
            ("own", "-i eth0 -v 9 --pid-file /run/custom.pid 192.0.2.9"),
            ("nov", "-i eth0 192.0.2.9"),
        ],
    );
    let ns = format!("{}/ns{}", sysv.tmp.join("run").display(), netns_inode());
    assert_eq!(sysv.pidfile("eth0-51"), format!("{ns}/vrrpd_eth0_51.pid"));
    assert_eq!(sysv.pidfile("v6"), format!("{ns}/vrrpd_br-lan_7_v6.pid"));
    assert_eq!(sysv.pidfile("long"), format!("{ns}/vrrpd_eth1_9.pid"));
    assert_eq!(sysv.pidfile("own"), "/run/custom.pid");
    assert_eq!(sysv.run(&["pidfile", "nov"]).status.code(), Some(2));
    assert_eq!(sysv.run(&["pidfile", "missing"]).status.code(), Some(6));
    assert_eq!(sysv.run(&["pidfile", "../etc/x"]).status.code(), Some(2));
    assert_eq!(sysv.run(&["frobnicate"]).status.code(), Some(2));
}

#[test]
fn sysv_script_starts_reports_and_stops() {
    if !need(
        "start-stop-daemon",
        "dpkg",
        "sysv_script_starts_reports_and_stops",
    ) {
        return;
    }
    let tmp = TempDir::new("sysv-daemon");
    // A stand-in daemon that records its command line and "detaches" (exits 0), or fails with 2.
    let args_file = tmp.join("args");
    let daemon = tmp.join("vrrpd");
    write_exec(
        &daemon,
        &format!(
            "#!/bin/sh\nprintf '%s|' \"$@\" >> '{}'\necho >> '{}'\ncase \" $* \" in *' bad '*) exit 2;; esac\nexit 0\n",
            args_file.display(),
            args_file.display()
        ),
    );
    let sysv = Sysv::new(
        daemon.clone(),
        "eth0-51 eth1-52",
        &[
            ("eth0-51", "-i eth0 -v 51 -p 150 192.0.2.254/24"),
            ("eth1-52", "-i eth1 -v 52 bad 192.0.2.1"),
        ],
    );

    // start: every instance of INSTANCES, with its words split, and no --foreground.
    let out = sysv.run(&["start", "eth0-51"]);
    assert!(out.status.success(), "{}", text(&out));
    let out = sysv.run(&["start"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad command line fails start with 2: {}",
        text(&out)
    );
    assert_eq!(
        fs::read_to_string(&args_file).unwrap(),
        "-i|eth0|-v|51|-p|150|192.0.2.254/24|\n-i|eth0|-v|51|-p|150|192.0.2.254/24|\n-i|eth1|-v|52|bad|192.0.2.1|\n"
    );

    // status / reload / stop against a live process named like the daemon, through its pid file.
    let status = |name: &str| sysv.run(&["status", name]).status.code();
    assert_eq!(status("eth0-51"), Some(3), "no pid file: not running");
    let sleep = which("sleep").unwrap();
    let fake_daemon = tmp.join("fake/vrrpd");
    fs::create_dir_all(fake_daemon.parent().unwrap()).unwrap();
    fs::copy(&sleep, &fake_daemon).unwrap();
    let mut child = Reaped::spawn(Command::new(&fake_daemon).arg("60").stdin(Stdio::null()));
    let pf = PathBuf::from(sysv.pidfile("eth0-51"));
    fs::create_dir_all(pf.parent().unwrap()).unwrap();
    fs::write(&pf, format!("{}\n", child.pid)).unwrap();
    let out = sysv.run(&["status", "eth0-51"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("running (pid {},", child.pid)));
    let out = sysv.run(&["start", "eth0-51"]);
    assert!(
        out.status.success() && text(&out).contains("already running"),
        "{}",
        text(&out)
    );
    let out = sysv.run(&["stop", "eth0-51"]);
    assert!(
        out.status.success() && text(&out).contains("stopped"),
        "{}",
        text(&out)
    );
    let exit = child.wait(Duration::from_secs(5));
    assert_eq!(
        exit.and_then(|e| e.signal()),
        Some(15),
        "not ended by SIGTERM: {exit:?}"
    );
    // Then the clean-up after a daemon that may not have exited cleanly, same arguments.
    assert!(
        fs::read_to_string(&args_file)
            .unwrap()
            .ends_with("--cleanup|-i|eth0|-v|51|-p|150|192.0.2.254/24|\n"),
        "stop ran no --cleanup: {}",
        fs::read_to_string(&args_file).unwrap()
    );
    assert_eq!(status("eth0-51"), Some(1), "dead, pid file left");
    let out = sysv.run(&["stop", "eth0-51"]);
    assert!(
        out.status.success() && text(&out).contains("not running"),
        "{}",
        text(&out)
    );
    assert_eq!(sysv.run(&["reload", "eth0-51"]).status.code(), Some(7));
    assert_eq!(
        sysv.run(&["status"]).status.code(),
        Some(3),
        "overall: the worst instance"
    );
}

// ---------------------------------------------------------------------------------------------
// Install

fn mode(p: &Path) -> u32 {
    p.metadata()
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

fn install(destdir: &Path, args: &[&str]) -> Output {
    Command::new(root().join("scripts/install"))
        .args(args)
        .env("DESTDIR", destdir)
        .output()
        .unwrap()
}

#[test]
fn install_builds_the_documented_tree() {
    let tmp = TempDir::new("install");
    let (vrrpd, atropos) = binaries(&tmp);
    let bin_dir = tmp.join("bin");
    fs::create_dir_all(&bin_dir).unwrap();
    fs::copy(&vrrpd, bin_dir.join("vrrpd")).unwrap();
    fs::copy(&atropos, bin_dir.join("atropos")).unwrap();
    let comp = tmp.join("completions");
    gen::write_completions(&comp).unwrap();
    let bin = bin_dir.display().to_string();
    let comp = comp.display().to_string();

    let dest = tmp.join("dest");
    let out = install(&dest, &["--bin-dir", &bin, "--completions-dir", &comp]);
    assert!(out.status.success(), "{}", text(&out));
    let d = |p: &str| dest.join(p.trim_start_matches('/'));
    for (path, want) in [
        ("/usr/sbin/vrrpd", 0o755),
        ("/usr/sbin/atropos", 0o755),
        ("/usr/share/man/man8/vrrpd.8", 0o644),
        ("/usr/share/man/man8/atropos.8", 0o644),
        ("/usr/share/vrrpd/hooks/notify-log", 0o755),
        ("/usr/share/vrrpd/hooks/service-toggle", 0o755),
        ("/usr/share/bash-completion/completions/vrrpd", 0o644),
        ("/usr/share/bash-completion/completions/atropos", 0o644),
        ("/usr/share/zsh/vendor-completions/_vrrpd", 0o644),
        ("/usr/share/zsh/vendor-completions/_atropos", 0o644),
        ("/usr/share/fish/vendor_completions.d/vrrpd.fish", 0o644),
        ("/usr/share/fish/vendor_completions.d/atropos.fish", 0o644),
        ("/lib/systemd/system/vrrpd@.service", 0o644),
        ("/etc/init.d/vrrpd", 0o755),
        ("/etc/vrrpd", 0o755),
        ("/etc/vrrpd/eth0-51.conf.example", 0o644),
        ("/etc/default/vrrpd", 0o644),
    ] {
        assert_eq!(mode(&d(path)), want, "{path}");
    }
    assert_eq!(
        fs::read(d("/usr/sbin/vrrpd")).unwrap(),
        fs::read(&vrrpd).unwrap()
    );
    assert_eq!(
        fs::read(d("/usr/share/man/man8/vrrpd.8")).unwrap(),
        fs::read(root().join("man/vrrpd.8")).unwrap()
    );
    assert_eq!(
        fs::read(d("/lib/systemd/system/vrrpd@.service")).unwrap(),
        fs::read(root().join(UNIT)).unwrap()
    );
    let etc: Vec<_> = fs::read_dir(d("/etc/vrrpd"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        etc,
        ["eth0-51.conf.example"],
        "/etc/vrrpd holds only the example"
    );

    // Another prefix: the init files and the example follow it; a local /etc/default/vrrpd stays.
    fs::write(d("/etc/default/vrrpd"), "INSTANCES=\"mine\"\n").unwrap();
    let out = install(
        &dest,
        &[
            "--prefix",
            "/usr/local",
            "--bin-dir",
            &bin,
            "--completions-dir",
            &comp,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(mode(&d("/usr/local/sbin/vrrpd")), 0o755);
    assert_eq!(
        mode(&d(
            "/usr/local/share/fish/vendor_completions.d/atropos.fish"
        )),
        0o644
    );
    let unit = fs::read_to_string(d("/lib/systemd/system/vrrpd@.service")).unwrap();
    assert!(
        unit.contains("\nExecStart=/usr/local/sbin/vrrpd --foreground $VRRPD_ARGS\n"),
        "{unit}"
    );
    let sysv = fs::read_to_string(d("/etc/init.d/vrrpd")).unwrap();
    assert!(sysv.contains("DAEMON=${VRRPD_DAEMON:-/usr/local/sbin/vrrpd}"));
    let example = fs::read_to_string(d("/etc/vrrpd/eth0-51.conf.example")).unwrap();
    assert!(
        example.contains("-U /usr/local/share/vrrpd/hooks/notify-log"),
        "{example}"
    );
    assert_eq!(
        fs::read_to_string(d("/etc/default/vrrpd")).unwrap(),
        "INSTANCES=\"mine\"\n"
    );

    // Bad use.
    assert_eq!(
        install(&dest, &["--prefix", "relative", "--bin-dir", &bin])
            .status
            .code(),
        Some(2)
    );
    assert_eq!(install(&dest, &["--bogus"]).status.code(), Some(2));
    let out = install(
        &dest,
        &[
            "--bin-dir",
            tmp.path().join("nothing").to_str().unwrap(),
            "--completions-dir",
            &comp,
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
}

// ---------------------------------------------------------------------------------------------
// Man pages and completions

#[test]
fn committed_man_pages_match_the_generator() {
    for page in gen::man_pages().unwrap() {
        let committed = fs::read_to_string(root().join("man").join(&page.name)).unwrap_or_default();
        assert!(
            committed == page.text,
            "man/{} is out of date with src/cli.rs, src/atropos_cli.rs or man/*.extra.roff: run `cargo xtask man`",
            page.name
        );
    }
}

#[test]
fn committed_completions_match_the_generator() {
    // contrib/completions/ is what the Debian package ships (Cargo.toml, [package.metadata.deb]).
    let tmp = TempDir::new("completions-drift");
    for path in gen::write_completions(tmp.path()).unwrap() {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let fresh = fs::read_to_string(&path).unwrap();
        let committed =
            fs::read_to_string(root().join("contrib/completions").join(&name)).unwrap_or_default();
        assert!(
            committed == fresh,
            "contrib/completions/{name} is out of date with src/cli.rs or src/atropos_cli.rs: run `cargo xtask man`"
        );
    }
}

/// Every long option, as roff writes it (`\-\-name`).
fn long_flags(cmd: &clap::Command) -> Vec<String> {
    cmd.get_arguments()
        .filter(|a| !a.is_hide_set())
        .filter_map(|a| a.get_long())
        .map(|l| format!("\\-\\-{}", l.replace('-', "\\-")))
        .collect()
}

#[test]
fn man_pages_cover_every_long_flag() {
    let vrrpd = fs::read_to_string(root().join("man/vrrpd.8")).unwrap();
    let flags = long_flags(&vrrpd::cli::Args::command());
    assert!(flags.len() >= 25, "{flags:?}");
    for f in flags {
        assert!(vrrpd.contains(&f), "man/vrrpd.8 lacks {f}");
    }
    let atropos = fs::read_to_string(root().join("man/atropos.8")).unwrap();
    for f in long_flags(&vrrpd::atropos_cli::command()) {
        assert!(atropos.contains(&f), "man/atropos.8 lacks {f}");
    }
    for section in [
        "DESCRIPTION",
        "OPTIONS",
        "HOOKS",
        "SIGNALS",
        "FILES",
        "\"EXIT STATUS\"",
        "EXAMPLES",
        "\"SEE ALSO\"",
    ] {
        assert!(
            vrrpd.contains(&format!("\n.SH {section}\n")),
            "man/vrrpd.8 lacks {section}"
        );
    }
    for see in [".BR keepalived (8)", ".BR atropos (8)", "RFC 9568"] {
        assert!(vrrpd.contains(see), "man/vrrpd.8 SEE ALSO lacks {see}");
    }
}

#[test]
fn man_pages_format_without_warnings() {
    if !need("groff", "groff-base", "man_pages_format_without_warnings") {
        return;
    }
    for page in ["man/vrrpd.8", "man/atropos.8"] {
        let out = Command::new("groff")
            .args(["-man", "-ww", "-z", page])
            .current_dir(root())
            .output()
            .unwrap();
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "groff -man -ww -z {page}:\n{}",
            text(&out)
        );
    }
}

#[test]
fn completions_cover_both_commands_and_three_shells() {
    let tmp = TempDir::new("completions");
    let written = gen::write_completions(tmp.path()).unwrap();
    let mut names: Vec<String> = written
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "_atropos",
            "_vrrpd",
            "atropos.bash",
            "atropos.fish",
            "vrrpd.bash",
            "vrrpd.fish"
        ]
    );
    for (file, flag) in [
        ("vrrpd.bash", "--script-timeout"),
        ("_vrrpd", "--master-script"),
        ("vrrpd.fish", "fault-script"),
    ] {
        let body = fs::read_to_string(tmp.path().join(file)).unwrap();
        assert!(body.contains(flag), "{file} lacks {flag}");
    }
    let atropos = fs::read_to_string(tmp.path().join("atropos.bash")).unwrap();
    assert!(atropos.contains("--backup") && atropos.contains("--resume"));
    if which("bash").is_some() {
        for file in ["vrrpd.bash", "atropos.bash"] {
            let out = Command::new("bash")
                .arg("-n")
                .arg(tmp.path().join(file))
                .output()
                .unwrap();
            assert!(out.status.success(), "bash -n {file}: {}", text(&out));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The docs say what the code does (issue #20)

/// The text of section `name` of a roff page (up to the next `.SH`).
fn man_section(page: &str, name: &str) -> String {
    let start = page
        .find(&format!("\n.SH {name}\n"))
        .unwrap_or_else(|| panic!("no section {name}"));
    let rest = &page[start + 1..];
    let end = rest[4..].find("\n.SH ").map_or(rest.len(), |i| i + 4);
    rest[..end].to_string()
}

/// Every atropos verb is in the man page's SYNOPSIS and in the README's atropos synopsis.
#[test]
fn atropos_synopsis_lists_every_verb() {
    let cmd = vrrpd::atropos_cli::command();
    let verbs: Vec<String> = cmd
        .get_groups()
        .find(|g| g.get_id() == "verb")
        .expect("verb group")
        .get_args()
        .map(|id| {
            let arg = cmd
                .get_arguments()
                .find(|a| a.get_id() == id)
                .expect("verb argument");
            arg.get_long().expect("verb long flag").to_string()
        })
        .collect();
    assert!(verbs.len() >= 9, "{verbs:?}");
    let page = fs::read_to_string(root().join("man/atropos.8")).unwrap();
    let synopsis = man_section(&page, "SYNOPSIS");
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let at = readme
        .find("\n## atropos\n")
        .expect("README atropos section");
    let block = &readme[at..];
    let block = &block[..block.find("\n```\n\n").expect("synopsis block")];
    for v in verbs {
        let roff = format!("\\-\\-{}", v.replace('-', "\\-"));
        assert!(
            synopsis.contains(&roff),
            "atropos(8) SYNOPSIS lacks --{v}:\n{synopsis}"
        );
        assert!(
            block.contains(&format!("--{v}")),
            "README atropos synopsis lacks --{v}"
        );
    }
}

/// Every fixed log line an operator greps for, and the magic packet's wording, are explained in
/// the README and the man page, and no internal (Debug) name reaches a log line.
#[test]
fn log_lines_are_explained_in_the_docs() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let man = fs::read_to_string(root().join("man/vrrpd.8"))
        .unwrap()
        .replace("\\-", "-");
    let mut src = String::new();
    for dir in ["src/daemon", "src/sys"] {
        for e in fs::read_dir(root().join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "rs") {
                src.push_str(&fs::read_to_string(&p).unwrap());
            }
        }
    }
    for line in [
        "we are now the master router",
        "we are now a backup router",
        "we are now in the fault state: no adverts and no VIPs until it clears",
    ] {
        assert!(src.contains(line), "the daemon no longer logs {line:?}");
        assert!(readme.contains(line), "README does not explain {line:?}");
        assert!(man.contains(line), "vrrpd(8) does not explain {line:?}");
    }
    for phrase in ["holding backup:", "(+K more)", "all N members ready"] {
        assert!(
            readme.contains(phrase),
            "README does not explain {phrase:?}"
        );
        assert!(man.contains(phrase), "vrrpd(8) does not explain {phrase:?}");
    }
    assert!(
        !src.contains(":?})\"") && !src.contains("{kind:?}"),
        "a log line formats a value with Debug"
    );
}

/// The README's IPv6 section says the first VIP is the virtual router's link-local address, and
/// its example does so (RFC 9568 §5.2.9, erratum 8300).
#[test]
fn readme_ipv6_section_puts_the_link_local_vip_first() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let at = readme
        .find("\n### IPv6\n")
        .expect("README has an IPv6 section");
    let section = &readme[at..];
    let section = &section[..section[1..].find("\n## ").map_or(section.len(), |i| i + 1)];
    assert!(section.contains("link-local address first"), "{section}");
    assert!(section.contains("erratum 8300"), "{section}");
    let example = section
        .lines()
        .find(|l| l.contains("vrrpd -i"))
        .expect("an example command line");
    let first_vip = example
        .split_whitespace()
        .find(|w| w.contains(':'))
        .expect("an IPv6 VIP");
    assert!(first_vip.starts_with("fe80:"), "{example}");
}

/// README and vrrpd(8) agree on the exit status of the start-up failures a new user meets:
/// 2 for what the command line must change, 1 for another vrrpd already running this instance.
#[test]
fn readme_and_man_agree_on_exit_statuses() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let at = readme
        .find("\n## Command line\n")
        .expect("Command line section");
    let cmdline = &readme[at..at + 1500.min(readme.len() - at)];
    assert!(cmdline.contains("exits with status 2"), "{cmdline}");
    let one = cmdline
        .find("exit with status 1")
        .expect("README names status 1");
    assert!(
        cmdline[one..].contains("already runs the same interface and VRID"),
        "{cmdline}"
    );
    let man = fs::read_to_string(root().join("man/vrrpd.8"))
        .unwrap()
        .replace("\\-", "-");
    let status = man_section(&man, "\"EXIT STATUS\"");
    let (one, two) = (
        status.find("\n.B 1\n").expect("status 1"),
        status.find("\n.B 2\n").expect("status 2"),
    );
    assert!(one < two, "{status}");
    assert!(
        status[one..two].contains("already runs the same interface and VRID"),
        "{status}"
    );
    for what in ["no such", "-i lo", "#!"] {
        assert!(
            status[two..].contains(what),
            "status 2 lacks {what:?}: {status}"
        );
    }
}
