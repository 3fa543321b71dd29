//! Plumbing shared by the two frame-capture tasks (`cargo xtask vectors` for keepalived,
//! `cargo xtask carp-vectors` for ucarp): a root check and a scratch directory removed on every
//! exit, tcpdump started and stopped in a namespace, classic-pcap records and the JSON output.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::bench::lab::{self, Lab, R};

/// Runs `capture` in a fresh scratch directory `vrrpd-TASK-PID` (mode 0755, removed afterwards
/// whatever the result) after installing the signal handlers.
pub fn in_scratch<T>(task: &str, capture: impl FnOnce(&Path) -> R<T>) -> R<T> {
    lab::install_signal_handlers();
    let scratch = std::env::temp_dir().join(format!("vrrpd-{task}-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).map_err(|e| format!("{}: {e}", scratch.display()))?;
    lab::chmod(&scratch, 0o755)?;
    let result = capture(&scratch);
    let _ = std::fs::remove_dir_all(&scratch);
    result
}

/// Checks that `task` runs as root (before anything else is looked at).
pub fn require_root(task: &str) -> R<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(format!("{task}: needs root (network namespaces)"));
    }
    Ok(())
}

/// What `cmd arg` prints, stdout then stderr (for a version banner); the error says to install
/// the package of the same name.
pub fn output_of(cmd: &str, arg: &str) -> R<String> {
    let out = std::process::Command::new(cmd)
        .arg(arg)
        .output()
        .map_err(|e| format!("{cmd}: {e} (install the {cmd} package)"))?;
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

/// Writes `doc` pretty-printed (with a final newline) to `out`, creating its directory.
pub fn write_json(out: &Path, doc: &Value) -> R<()> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let text = serde_json::to_string_pretty(doc).map_err(|e| e.to_string())? + "\n";
    std::fs::write(out, text).map_err(|e| format!("{}: {e}", out.display()))
}

/// A running tcpdump writing whole frames to `pcap`.
pub struct Tcpdump {
    pub pid: i32,
    pub pcap: PathBuf,
}

/// Starts tcpdump on `iface` in `ns` with `filter`, writing `capture.pcap` in the lab directory,
/// and waits (at most 10 s) until it is listening.
pub fn start_tcpdump(lab: &mut Lab, ns: &str, iface: &str, filter: &str) -> R<Tcpdump> {
    let pcap = lab.dir.join("capture.pcap");
    let log = lab.dir.join("tcpdump.log");
    let p = pcap.to_string_lossy().into_owned();
    let args: Vec<String> = ["-i", iface, "-n", "-U", "-s", "0", "-w", &p, filter]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let pid = lab.spawn(ns, "tcpdump", &args, &[], Some(&log))?;
    let listening = lab::wait_until(Duration::from_secs(10), Duration::from_millis(20), || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("listening on"))
    })?;
    if !listening {
        return Err(format!(
            "tcpdump did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        ));
    }
    Ok(Tcpdump { pid, pcap })
}

/// Sends SIGTERM to `pid` and waits `secs` seconds for it to exit; the error names `what`.
pub fn terminate(lab: &mut Lab, pid: i32, what: &str, secs: u64) -> R<()> {
    lab::signal(pid, libc::SIGTERM);
    if lab.wait_exit(pid, Duration::from_secs(secs))? {
        Ok(())
    } else {
        Err(format!("{what} did not exit within {secs} s of SIGTERM"))
    }
}

/// Lets the last frames reach the capture, stops tcpdump and returns the pcap's bytes.
pub fn stop_tcpdump(lab: &mut Lab, t: &Tcpdump) -> R<Vec<u8>> {
    lab::sleep(Duration::from_millis(300))?;
    terminate(lab, t.pid, "tcpdump", 5)?;
    std::fs::read(&t.pcap).map_err(|e| format!("{}: {e}", t.pcap.display()))
}

/// Lower-case hex of `b`.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Records of a classic pcap file: (capture time in µs, frame bytes), in capture order. An
/// unknown magic yields nothing; a truncated last record (capture still running) is ignored.
pub fn records(pcap: &[u8]) -> Vec<(u64, &[u8])> {
    let mut out = Vec::new();
    if pcap.len() < 24 {
        return out;
    }
    let le = match pcap[0..4] {
        [0xd4, 0xc3, 0xb2, 0xa1] | [0x4d, 0x3c, 0xb2, 0xa1] => true,
        [0xa1, 0xb2, 0xc3, 0xd4] | [0xa1, 0xb2, 0x3c, 0x4d] => false,
        _ => return out,
    };
    let nanos = matches!(
        pcap[0..4],
        [0x4d, 0x3c, 0xb2, 0xa1] | [0xa1, 0xb2, 0x3c, 0x4d]
    );
    let u32_at = |b: &[u8], i: usize| {
        let w = [b[i], b[i + 1], b[i + 2], b[i + 3]];
        if le {
            u32::from_le_bytes(w)
        } else {
            u32::from_be_bytes(w)
        }
    };
    let mut i = 24;
    while i + 16 <= pcap.len() {
        let sec = u64::from(u32_at(pcap, i));
        let frac = u64::from(u32_at(pcap, i + 4));
        let us = sec * 1_000_000 + if nanos { frac / 1000 } else { frac };
        let caplen = u32_at(pcap, i + 8) as usize;
        let start = i + 16;
        let Some(frame) = pcap.get(start..start + caplen) else {
            break;
        };
        i = start + caplen;
        out.push((us, frame));
    }
    out
}
