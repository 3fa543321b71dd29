//! `scripts/demo` on a fresh Debian machine: like `scripts/test`, it installs what the lab needs
//! (iproute2, iputils-ping, mawk) with apt-get instead of stopping at "missing: ping".
//!
//! The test runs the demo's `--cleanup` mode (which checks the requirements first and then touches
//! nothing but the demo's own prefix) with a `PATH` that has every command of the machine except
//! `ping`, and a stand-in `apt-get` that records its arguments and, on `install`, provides `ping`.
//! Nothing is installed on the machine.
#![allow(unsafe_code)]

mod common;

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};

/// A directory of symlinks to every command in the usual bin directories, except `ping`, plus
/// the stand-in `apt-get`.
fn path_without_ping(dir: &Path) {
    for bin in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let Ok(entries) = std::fs::read_dir(bin) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            if name == "ping" || name == "apt-get" || dir.join(&name).exists() {
                continue;
            }
            let _ = symlink(e.path(), dir.join(&name));
        }
    }
    let fake = dir.join("apt-get");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\necho \"$*\" >>'{log}'\ncase \" $* \" in *' install '*)\n\
             printf '#!/bin/sh\\nexit 0\\n' >'{dir}/ping'; chmod 755 '{dir}/ping';;\nesac\nexit 0\n",
            log = dir.join("apt-get.log").display(),
            dir = dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn demo_installs_what_it_misses() {
    if !common::require_root("demo_installs_what_it_misses") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("vrrpd-demo-install-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    path_without_ping(&dir);
    assert!(!dir.join("ping").exists());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("bash")
        .arg(root.join("scripts/demo"))
        .args(["--cleanup", "vd1-"])
        .env("PATH", &dir)
        .stdin(Stdio::null())
        .output()
        .expect("run scripts/demo");
    let log = std::fs::read_to_string(dir.join("apt-get.log")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "scripts/demo stopped ({}):\n{text}",
        out.status
    );
    assert!(
        log.lines().any(|l| l.starts_with("update")),
        "no apt-get update: {log:?}"
    );
    let install = log
        .lines()
        .find(|l| l.split_whitespace().any(|w| w == "install"))
        .unwrap_or_else(|| panic!("no apt-get install: {log:?}\n{text}"));
    let words: Vec<&str> = install.split_whitespace().collect();
    assert!(words.contains(&"iputils-ping"), "{install}");
    assert!(
        !words.contains(&"iproute2"),
        "ip is there: only ping is missing: {install}"
    );
    assert!(text.contains("installing iputils-ping"), "{text}");
    assert!(text.contains("nothing to remove for prefix vd1-"), "{text}");
}
