//! Helpers shared by the integration tests, in three parts:
//!
//! - [`lab`]: network namespaces the test creates (a bridged segment of hosts, or a bare veth
//!   pair), named with a prefix unique to this run, deleted on every exit path;
//! - [`processes`]: daemons and peers started inside a namespace and ended by PID;
//! - [`capture`]: frames seen on the wire, with kernel receive timestamps;
//! - [`impair`]: a lossy, jittery hub in place of netem (this kernel has no `sch_netem`).
//!
//! Only documentation addresses are used: 192.0.2.0/24, 198.51.100.0/24, 2001:db8::/32 and
//! link-locals. A test that cannot run prints a `SKIPPED: <test>: <reason>` line that
//! `scripts/test` counts; under CI=true it fails instead, except for a documented missing kernel
//! feature ([`skip_kernel_feature`]).
#![allow(dead_code)]

use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub mod capture;
pub mod impair;
pub mod inject;
pub mod lab;
pub mod peers;
pub mod processes;

#[allow(unused_imports)]
pub use capture::*;
#[allow(unused_imports)]
pub use lab::*;
#[allow(unused_imports)]
pub use processes::*;

/// `text` parsed as JSON, or a panic that shows it.
pub fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Print the skip line `scripts/test` counts, straight to the stderr handle (libtest captures
/// `eprintln!` of passing tests, and a skip must be seen).
fn skip_line(test: &str, reason: &str) {
    let line = format!("\nSKIPPED: {test}: {reason}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// A test that cannot run here: under CI=true a failure, otherwise a loud, counted skip. Returns
/// false so that callers can write `if !skip(..) { return }` style guards.
pub fn skip(test: &str, reason: &str) -> bool {
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{test}: {reason}, and CI=true forbids skipping");
    }
    skip_line(test, reason);
    false
}

/// A test that cannot run because the kernel lacks `feature` (nothing can be installed to fix
/// it): a counted skip even under CI=true. `scripts/test` accepts these under CI.
pub fn skip_kernel_feature(test: &str, feature: &str) {
    skip_line(test, &format!("missing kernel feature: {feature}"));
}

/// A test case that needs a privilege the machine itself withholds from root (a container's
/// bounding set or hard resource limit: nothing this project installs or configures can grant it):
/// a counted skip even under CI=true, like [`skip_kernel_feature`]. `scripts/test` accepts these
/// under CI and lists them in its summary.
pub fn skip_machine_limit(test: &str, what: &str) {
    skip_line(test, &format!("missing machine privilege: {what}"));
}

/// Whether this process may create namespaces; without root: [`skip`].
pub fn require_root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    skip(test, "needs root (network namespaces)")
}

/// Run a command, panicking with its output when it fails.
pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    if !out.status.success() {
        panic!(
            "{args:?} failed: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Run a command, returning whether it succeeded (output discarded).
pub fn try_sh(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Poll `cond` every 10 ms until it holds or `limit` passes; returns the elapsed time on success.
pub fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if cond() {
            return Some(start.elapsed());
        }
        if start.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Poll `f` every 10 ms until it returns `Some` or `limit` passes.
pub fn wait_some<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Read a whole file to a string (empty when missing).
pub fn read(path: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = File::open(path) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

/// RFC Skew_Time, exact: VRRPv2 (256 − p)/256 s (RFC 3768 §6.1), VRRPv3 (256 − p)·I/256 with I
/// the advertisement interval in centiseconds (RFC 9568 §6.1). Computed here, independently of
/// `vrrpd::proto::timers`, so a timing test does not judge the daemon by its own formula.
pub fn rfc_skew(version: u8, interval_cs: u16, prio: u8) -> Duration {
    let i_ns = if version == 2 {
        1_000_000_000u64
    } else {
        u64::from(interval_cs) * 10_000_000
    };
    Duration::from_nanos((256 - u64::from(prio)) * i_ns / 256)
}

/// RFC Master_Down_Interval: 3 × Advertisement_Interval + Skew_Time (RFC 3768 §6.1,
/// RFC 9568 §6.1).
pub fn rfc_master_down(version: u8, interval_cs: u16, prio: u8) -> Duration {
    Duration::from_millis(u64::from(interval_cs) * 10) * 3 + rfc_skew(version, interval_cs, prio)
}
