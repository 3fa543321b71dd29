//! Processes by name: a bounded scan of `/proc` (the kernel's comm, or argv[0] for a name that
//! is a path), for process trackers. Deaths are then followed through pidfds.

use std::fs;

/// Most `/proc` entries looked at in one scan.
pub const MAX_ENTRIES: usize = 65_536;

/// Whether process `pid` runs under `name`: its comm (`/proc/PID/comm`, at most 15 bytes)
/// equals `name`, or, when `name` contains a `/`, its argv[0] does. Zombies do not count.
fn matches(pid: &str, name: &str) -> bool {
    let base = format!("/proc/{pid}");
    if let Ok(stat) = fs::read_to_string(format!("{base}/stat")) {
        // The state follows the last ')' (the comm itself may contain one).
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r.trim_start()) {
            if rest.starts_with('Z') || rest.starts_with('X') {
                return false;
            }
        }
    } else {
        return false;
    }
    if name.contains('/') {
        return fs::read(format!("{base}/cmdline")).is_ok_and(|c| {
            c.split(|b| *b == 0)
                .next()
                .is_some_and(|a0| a0 == name.as_bytes())
        });
    }
    fs::read_to_string(format!("{base}/comm")).is_ok_and(|c| c.trim_end_matches('\n') == name)
}

/// The pids of the processes (not threads) running under `name`, at most `limit` of them.
pub fn scan(name: &str, limit: usize) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for ent in dir.take(MAX_ENTRIES).flatten() {
        let file = ent.file_name();
        let Some(pid) = file.to_str() else { continue };
        let Ok(n) = pid.parse::<u32>() else { continue };
        if matches(pid, name) {
            out.push(n);
            if out.len() >= limit {
                break;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_itself_by_comm() {
        let me = std::process::id();
        let comm = fs::read_to_string("/proc/self/comm").unwrap();
        assert!(scan(comm.trim_end(), 10_000).contains(&me));
        assert!(scan("no-such-process-name", 10).is_empty());
    }
}
