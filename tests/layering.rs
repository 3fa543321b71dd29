//! The layering of ARCHITECTURE.md, checked by scanning the sources: the protocol core imports
//! neither the shell nor the daemon (nor the control protocol or the CLI), the daemon does not
//! import the CLI or clap, and `unsafe` appears only under `src/sys` (outside it, only the lint
//! attributes that forbid or deny it).

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for e in entries {
        let p = e.expect("dir entry").path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The rule a file under `rel` (a path relative to `src/`) breaks on `line`, if any. `in_tests`:
/// the line is inside the file's `#[cfg(test)]` module, where the core's tests may read files
/// (captured frames).
fn violation(rel: &str, line: &str, in_tests: bool) -> Option<&'static str> {
    let code = line.trim_start();
    let is_comment = code.starts_with("//");
    if rel.starts_with("proto/") && !is_comment && !in_tests {
        for bad in [
            "crate::sys",
            "crate::daemon",
            "crate::control",
            "crate::cli",
            "crate::atropos_cli",
            "vlog!",
            "std::fs",
            "std::os::",
            "std::process",
            "std::thread",
            "Instant::now",
            "SystemTime",
        ] {
            if code.contains(bad) {
                return Some("src/proto imports the shell, the daemon, or does I/O");
            }
        }
    }
    if rel.starts_with("daemon/")
        && !is_comment
        && (code.contains("crate::cli") || code.contains("clap"))
    {
        return Some("src/daemon imports the CLI");
    }
    if !rel.starts_with("sys/")
        && line
            .split(|c: char| !c.is_alphanumeric() && c != '_')
            .any(|w| w == "unsafe")
        && code != "#![forbid(unsafe_code)]"
        && code != "#![deny(unsafe_code)]"
    {
        return Some("`unsafe` outside src/sys");
    }
    None
}

#[test]
fn layering_rules_hold() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(
        files.len() > 20,
        "too few sources found under {}",
        src.display()
    );
    let mut bad = Vec::new();
    for f in &files {
        let rel = f
            .strip_prefix(&src)
            .expect("under src")
            .to_string_lossy()
            .replace('\\', "/");
        let text = std::fs::read_to_string(f).expect("read source");
        let mut in_tests = false;
        for (n, line) in text.lines().enumerate() {
            in_tests |= line.trim() == "#[cfg(test)]";
            if let Some(rule) = violation(&rel, line, in_tests) {
                bad.push(format!("src/{rel}:{}: {rule}: {}", n + 1, line.trim()));
            }
        }
    }
    assert!(bad.is_empty(), "layering broken:\n{}", bad.join("\n"));
}

#[test]
fn layering_check_can_fail() {
    assert!(violation("proto/fsm.rs", "use crate::sys::socket::VrrpSocket;", false).is_some());
    assert!(violation("proto/x.rs", "    let d = crate::daemon::clock();", false).is_some());
    assert!(violation("daemon/mod.rs", "use crate::cli::Settings;", false).is_some());
    assert!(violation("daemon/link.rs", "let x = unsafe { f() };", false).is_some());
    assert!(violation("bin/vrrpd.rs", "unsafe fn f() {}", false).is_some());
    assert!(violation("daemon/mod.rs", "#![forbid(unsafe_code)]", false).is_none());
    assert!(violation("sys/shm.rs", "let p = unsafe { mmap() };", false).is_none());
    assert!(violation("proto/fsm.rs", "use crate::proto::packet;", false).is_none());
    assert!(violation(
        "proto/wire/mod.rs",
        "let t = std::fs::read_to_string(p);",
        false
    )
    .is_some());
    assert!(violation(
        "proto/wire/mod.rs",
        "let t = std::fs::read_to_string(p);",
        true
    )
    .is_none());
    assert!(violation("proto/x.rs", "let x = unsafe { f() };", true).is_some());
}
