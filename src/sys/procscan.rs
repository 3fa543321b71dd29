//! Processes by name (and arguments): a bounded scan of `/proc`, and the check of one pid, for
//! process trackers. What counts as a match is [`ProcessPattern::matches`]; this only reads
//! `/proc/PID/stat`, `comm` and, when the pattern needs it, `cmdline`. Deaths are then followed
//! through pidfds, new processes through the process connector or a rescan.

use std::fs;
use std::io::Read;

use crate::proto::track::ProcessPattern;

/// Most `/proc` entries looked at in one scan.
pub const MAX_ENTRIES: usize = 65_536;
/// Most bytes of a cmdline read (enough for a name and its first arguments).
const MAX_CMDLINE: u64 = 4096;

/// Whether process `pid` is one `pattern` counts. Zombies, threads (a tid that is not its
/// process's id) and processes gone by now do not count.
pub fn matches(pid: u32, pattern: &ProcessPattern) -> bool {
    matches_as(pid, pattern, true)
}

fn matches_as(pid: u32, pattern: &ProcessPattern, check_leader: bool) -> bool {
    let base = format!("/proc/{pid}");
    // The comm first: one read rules out nearly every process (the connector asks about every
    // exec on the host).
    let Ok(comm) = fs::read(format!("{base}/comm")) else {
        return false;
    };
    if !pattern.name.contains('/') && !pattern.matches_comm(&comm) {
        return false;
    }
    let Ok(stat) = fs::read_to_string(format!("{base}/stat")) else {
        return false;
    };
    match stat_fields(&stat).and_then(|mut f| f.next()) {
        Some(state) if !is_dead(state) => {}
        _ => return false,
    }
    // /proc/TID exists for threads too (hidden from readdir, reachable by name): count only
    // thread-group leaders.
    let leader = !check_leader
        || fs::read_to_string(format!("{base}/status")).is_ok_and(|st| {
            st.lines()
                .find_map(|l| l.strip_prefix("Tgid:"))
                .is_some_and(|t| t.trim() == pid.to_string())
        });
    if !leader {
        return false;
    }
    let cmdline = pattern.needs_cmdline().then(|| {
        let mut buf = Vec::new();
        let _ = fs::File::open(format!("{base}/cmdline"))
            .and_then(|f| f.take(MAX_CMDLINE).read_to_end(&mut buf));
        buf
    });
    pattern.matches(&comm, cmdline.as_deref())
}

/// The pids of the processes (not threads) `pattern` counts, at most `limit` of them.
pub fn scan(pattern: &ProcessPattern, limit: usize) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for ent in dir.take(MAX_ENTRIES).flatten() {
        let file = ent.file_name();
        let Some(pid) = file.to_str() else { continue };
        let Ok(n) = pid.parse::<u32>() else { continue };
        // readdir of /proc lists thread-group leaders only.
        if matches_as(n, pattern, false) {
            out.push(n);
            if out.len() >= limit {
                break;
            }
        }
    }
    out
}

/// The fields of a `/proc/PID/stat` line after the command, from the state (field 3) on: the
/// command may hold spaces and ')', so they start after its last ')'.
fn stat_fields(stat: &str) -> Option<std::str::SplitAsciiWhitespace<'_>> {
    stat.rsplit_once(')')
        .map(|(_, rest)| rest.split_ascii_whitespace())
}

/// Whether a `/proc/PID/stat` state letter is a zombie's or a dead process's.
fn is_dead(state: &str) -> bool {
    state.starts_with('Z') || state.starts_with('X')
}

/// The live processes (not zombies) of process group `pgid`, from `/proc/PID/stat` (at most
/// [`MAX_ENTRIES`] looked at): what a hook left behind in its group.
pub fn group_members(pgid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir("/proc") else {
        return out;
    };
    for ent in dir.take(MAX_ENTRIES).flatten() {
        let Some(pid) = ent.file_name().to_str().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // State, ppid, pgrp.
        let Some(mut f) = stat_fields(&stat) else {
            continue;
        };
        let state = f.next().unwrap_or("Z");
        let group = f.nth(1).and_then(|g| g.parse::<u32>().ok());
        if group == Some(pgid) && !is_dead(state) {
            out.push(pid);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::track::ArgMatch;

    fn by_name(name: &str, args: Option<Vec<String>>, arg_match: ArgMatch) -> ProcessPattern {
        ProcessPattern {
            name: name.to_string(),
            args,
            arg_match,
        }
    }

    #[test]
    fn finds_itself_by_comm_and_arguments() {
        let me = std::process::id();
        let comm = fs::read_to_string("/proc/self/comm").unwrap();
        let comm = comm.trim_end();
        assert!(scan(&by_name(comm, None, ArgMatch::Exact), 10_000).contains(&me));
        assert!(scan(&by_name("no-such-process", None, ArgMatch::Exact), 10).is_empty());
        let args: Vec<String> = std::env::args().skip(1).collect();
        assert!(matches(
            me,
            &by_name(comm, Some(args.clone()), ArgMatch::Exact)
        ));
        let mut more = args.clone();
        more.push("--not-given".into());
        assert!(!matches(me, &by_name(comm, Some(more), ArgMatch::Partial)));
        let exe = std::env::args().next().unwrap();
        assert!(matches(me, &by_name(&exe, None, ArgMatch::Exact)));
    }

    #[test]
    fn group_members_of_a_child_group() {
        use std::os::unix::process::CommandExt;
        let mut c = std::process::Command::new("sleep")
            .arg("30")
            .process_group(0)
            .spawn()
            .unwrap();
        assert_eq!(group_members(c.id()), [c.id()]);
        c.kill().unwrap();
        // Dead but not reaped: a zombie is no member.
        let end = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while !group_members(c.id()).is_empty() && std::time::Instant::now() < end {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(group_members(c.id()).is_empty());
        assert!(crate::sys::process::peek_exit(c.id()).unwrap().is_some());
        // Peeking does not reap: the status is still there for wait.
        assert!(crate::sys::process::peek_exit(c.id()).unwrap().is_some());
        assert!(!c.wait().unwrap().success());
    }
}
