//! `atropos --follow`: every instance's event stream, one line per event, until interrupted.
//!
//! Each instance's control socket gets a `subscribe` request ([`crate::control::events`]); its
//! records are printed as they come, in its order, each with the instance's name. The socket
//! directory is watched with inotify (no polling): a socket that appears (a new instance, or a
//! restarted one, whose records start again at 1 with a new run id) is subscribed to from its
//! first record, so nothing between its start and the subscription is missed. A connection that
//! closes after an `exit` record ends that run; one that closes without it (SIGKILL, a crash) is
//! reported as a [`Event::Lost`] line. A jump in the sequence numbers that the daemon did not
//! announce with a gap record is reported as a gap too, so a consumer never has to trust that
//! nothing was lost.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use serde::Serialize;

use crate::control::events::{Event, Record};
use crate::control::{Command as Cmd, InstanceInfo, Request, Response};
use crate::sys::inotify::Watcher;

use super::Args;

/// The longest line accepted from a daemon (a record is a few hundred bytes).
const MAX_LINE: usize = 64 * 1024;

/// One subscription.
struct Conn {
    path: PathBuf,
    ino: u64,
    stream: UnixStream,
    buf: Vec<u8>,
    /// From the reply: which instance this is.
    info: Option<InstanceInfo>,
    /// The last record seen: (run, seq).
    last: Option<(String, u64)>,
    exited: bool,
}

/// One printed line in JSON: the instance, then the record's fields.
#[derive(Serialize)]
struct Line<'a> {
    instance: String,
    interface: &'a str,
    vrid: u8,
    family: &'a str,
    #[serde(flatten)]
    record: &'a Record,
}

/// Follow until interrupted (or stdout closes); returns the exit status.
pub(super) fn run(args: &Args) -> u8 {
    let dir = match super::socket_dir(args.run_dir.as_deref()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("atropos: cannot find this network namespace: {e}");
            return 1;
        }
    };
    let watcher = match Watcher::new() {
        Ok(w) => w,
        Err(e) => {
            eprintln!("atropos: inotify: {e}");
            return 1;
        }
    };
    let mut conns: Vec<Conn> = Vec::new();
    let mut first = true;
    let mut rescan = true;
    let mut out = io::stdout().lock();
    loop {
        if rescan {
            if let Err(e) = watch(&watcher, &dir) {
                eprintln!("atropos: cannot watch {}: {e}", dir.display());
                return 1;
            }
            // At start, only what happens from now on; an instance that appears later, from
            // its first record.
            scan(&dir, &mut conns, if first { None } else { Some(1) });
            first = false;
            rescan = false;
        }
        let ready = {
            let mut fds: Vec<BorrowedFd<'_>> = vec![watcher.as_fd()];
            fds.extend(conns.iter().map(|c| c.stream.as_fd()));
            match crate::sys::poll::wait_readable_for(&fds, None) {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("atropos: poll: {e}");
                    return 1;
                }
            }
        };
        if ready.first().copied().unwrap_or(false) {
            match watcher.drain() {
                Ok(_) => rescan = true,
                Err(e) => {
                    eprintln!("atropos: inotify: {e}");
                    return 1;
                }
            }
        }
        let mut flags = ready.iter().skip(1).copied();
        let mut keep = Vec::with_capacity(conns.len());
        for mut c in conns.drain(..) {
            let on = flags.next().unwrap_or(false);
            let open = if on {
                match receive(&mut c, args, &mut out) {
                    Ok(open) => open,
                    Err(_) => return 0, // stdout closed: the consumer is gone
                }
            } else {
                true
            };
            if open {
                keep.push(c);
            }
        }
        conns = keep;
    }
}

/// Watch the socket directory, or while it does not exist the run directory (or its parent)
/// for it to appear. Watching again is harmless (inotify keeps one watch per inode).
fn watch(w: &Watcher, dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        w.watch_entries(dir)?;
    }
    let mut up = dir.parent();
    while let Some(d) = up {
        if d.is_dir() {
            return w.watch_entries(d);
        }
        up = d.parent();
    }
    Ok(())
}

/// Subscribe to every socket in `dir` not yet followed (by path and inode: a restarted
/// daemon's socket is a new inode under the same name).
fn scan(dir: &Path, conns: &mut Vec<Conn>, from: Option<u64>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut socks: Vec<(PathBuf, u64)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sock"))
        .filter_map(|p| std::fs::metadata(&p).ok().map(|m| (p, m.ino())))
        .collect();
    socks.sort();
    for (path, ino) in socks {
        if conns.iter().any(|c| c.path == path && c.ino == ino) {
            continue;
        }
        match subscribe(&path, from) {
            Ok(stream) => conns.push(Conn {
                path,
                ino,
                stream,
                buf: Vec::new(),
                info: None,
                last: None,
                exited: false,
            }),
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                eprintln!(
                    "atropos: permission denied on {}: run as root",
                    path.display()
                );
            }
            // A stale socket (its daemon is gone) or one just removed: nothing to follow.
            Err(_) => {}
        }
    }
}

fn subscribe(path: &Path, from: Option<u64>) -> io::Result<UnixStream> {
    let s = UnixStream::connect(path)?;
    s.set_write_timeout(Some(Duration::from_secs(3)))?;
    let mut req = Request::new(Cmd::Subscribe);
    req.from = from;
    let mut line = serde_json::to_vec(&req).map_err(io::Error::other)?;
    line.push(b'\n');
    (&s).write_all(&line)?;
    s.set_nonblocking(true)?;
    Ok(s)
}

/// Read what arrived on `c` and print its records. Ok(false): the connection is finished.
/// Err: stdout is closed.
fn receive(c: &mut Conn, args: &Args, out: &mut impl Write) -> io::Result<bool> {
    let mut chunk = [0u8; 16 * 1024];
    let mut open = true;
    // Bounded per wake-up, so that one busy instance does not starve the others.
    for _ in 0..64 {
        match c.stream.read(&mut chunk) {
            Ok(0) => {
                open = false;
                break;
            }
            Ok(n) => c.buf.extend_from_slice(chunk.get(..n).unwrap_or(&[])),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                open = false;
                break;
            }
        }
    }
    while let Some(p) = c.buf.iter().position(|b| *b == b'\n') {
        let line: Vec<u8> = c.buf.drain(..=p).collect();
        let line = line.get(..p).unwrap_or(&[]);
        if !handle_line(c, line, args, out)? {
            return Ok(false);
        }
    }
    if c.buf.len() > MAX_LINE {
        eprintln!(
            "atropos: {}: a line longer than {MAX_LINE} bytes; dropping the connection",
            c.path.display()
        );
        open = false;
    }
    if !open {
        if let (Some(info), false) = (&c.info, c.exited) {
            let (run, seq) = c.last.clone().unwrap_or_default();
            let rec = Record {
                seq,
                run,
                time: crate::sys::clock::wall().as_secs_f64(),
                event: Event::Lost,
            };
            print(out, info, &rec, args.json)?;
        }
    }
    Ok(open)
}

/// One line from a daemon. Ok(false): stop following this connection.
fn handle_line(c: &mut Conn, line: &[u8], args: &Args, out: &mut impl Write) -> io::Result<bool> {
    let Some(info) = &c.info else {
        // The reply to the subscription.
        match serde_json::from_slice::<Response>(line) {
            Ok(Response {
                ok: true,
                instance: Some(i),
                ..
            }) => {
                let wanted = args.interface.as_ref().is_none_or(|f| *f == i.interface)
                    && args.vrid.is_none_or(|v| v == i.vrid);
                c.info = Some(i);
                return Ok(wanted);
            }
            Ok(r) => {
                eprintln!(
                    "atropos: {}: {}",
                    c.path.display(),
                    r.error.unwrap_or_else(|| "no instance in the reply".into())
                );
                return Ok(false);
            }
            Err(e) => {
                eprintln!("atropos: {}: malformed reply: {e}", c.path.display());
                return Ok(false);
            }
        }
    };
    let rec: Record = match serde_json::from_slice(line) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("atropos: {}: malformed event: {e}", c.path.display());
            return Ok(true);
        }
    };
    // A jump the daemon did not announce: reported all the same.
    if let Some((run, seq)) = &c.last {
        let expected = seq + 1;
        let announced = matches!(rec.event, Event::Gap { first, .. } if first == expected);
        if *run == rec.run && rec.seq != expected && !announced && rec.seq > expected {
            let gap = Record {
                seq: rec.seq - 1,
                run: rec.run.clone(),
                time: rec.time,
                event: Event::Gap {
                    first: expected,
                    last: rec.seq - 1,
                },
            };
            print(out, info, &gap, args.json)?;
        }
    }
    print(out, info, &rec, args.json)?;
    c.last = Some((rec.run.clone(), rec.seq));
    if matches!(rec.event, Event::Exit { .. }) {
        c.exited = true;
    }
    Ok(true)
}

/// `eth0/51`, with ` v6` for an IPv6 instance.
fn label(i: &InstanceInfo) -> String {
    let tag = crate::proto::tag(&i.interface, i.vrid);
    if i.family == "ipv6" {
        format!("{tag} v6")
    } else {
        tag.to_string()
    }
}

fn print(out: &mut impl Write, i: &InstanceInfo, r: &Record, json: bool) -> io::Result<()> {
    let text = if json {
        serde_json::to_string(&Line {
            instance: label(i),
            interface: &i.interface,
            vrid: i.vrid,
            family: &i.family,
            record: r,
        })
        .map_err(io::Error::other)?
    } else {
        human(i, r)
    };
    writeln!(out, "{text}")?;
    out.flush()
}

/// The human form: `2026-12-02T08:30:00.123Z eth0/51 #5 BACKUP -> MASTER (reason)`.
pub(super) fn human(i: &InstanceInfo, r: &Record) -> String {
    let at = UNIX_EPOCH + Duration::try_from_secs_f64(r.time).unwrap_or_default();
    let what = match &r.event {
        Event::Start {
            pid,
            version,
            priority,
        } => format!(
            "started: pid {pid}, vrrpd {version}, priority {priority}, run {}",
            r.run
        ),
        Event::Transition { from, to, reason } => format!("{from} -> {to} ({reason})"),
        Event::Priority { from, to } => format!("priority {from} -> {to}"),
        Event::Tracker {
            kind,
            name,
            status,
            detail,
        } => format!("{kind} \"{name}\" {status} ({detail})"),
        Event::Group { group, held: true } => format!("host group {group}: held in backup"),
        Event::Group { group, held: false } => format!("host group {group}: released"),
        Event::Exit { reason } => format!("exited ({reason})"),
        Event::Gap { first, last } => format!("gap: events {first}-{last} lost"),
        Event::Lost => "exited (lost: the connection closed without an exit event)".to_string(),
    };
    format!(
        "{} {} #{} {what}",
        humantime::format_rfc3339_millis(at),
        label(i),
        r.seq
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_lines() {
        let i = InstanceInfo {
            interface: "eth0".into(),
            vrid: 51,
            family: "ipv6".into(),
            ..InstanceInfo::default()
        };
        let r = Record {
            seq: 4,
            run: "ab".into(),
            time: 1_764_664_800.25,
            event: Event::Transition {
                from: "BACKUP".into(),
                to: "MASTER".into(),
                reason: "master down".into(),
            },
        };
        assert_eq!(
            human(&i, &r),
            "2025-12-02T08:40:00.250Z eth0/51 v6 #4 BACKUP -> MASTER (master down)"
        );
        let j = serde_json::to_value(Line {
            instance: label(&i),
            interface: &i.interface,
            vrid: i.vrid,
            family: &i.family,
            record: &r,
        })
        .unwrap();
        assert_eq!(j["instance"], "eth0/51 v6");
        assert_eq!(j["seq"], 4);
        assert_eq!(j["event"], "transition");
        assert_eq!(j["to"], "MASTER");
    }
}
