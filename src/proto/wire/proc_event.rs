//! The netlink process connector's messages (Linux `<linux/connector.h>`, `<linux/cn_proc.h>`):
//! the listen request and the process events (fork, exec, comm, exit) the kernel multicasts to
//! group `CN_IDX_PROC`. Host byte order throughout, as the kernel writes them. Pure: the shell
//! (`crate::sys::proc_connector`) only moves these bytes.
//!
//! A datagram holds one or more netlink messages (`nlmsghdr`, 16 bytes, 4-byte aligned), each
//! carrying a `cn_msg` (20 bytes: id {idx, val}, seq, ack, len, flags) followed by `len` bytes
//! of data: for the process connector a `proc_event` (what, cpu, timestamp, then the event).

/// `CN_IDX_PROC`: the connector index (and multicast group) of process events.
pub const CN_IDX_PROC: u32 = 1;
/// `CN_VAL_PROC`.
pub const CN_VAL_PROC: u32 = 1;
/// `NLMSG_DONE`, the message type the connector uses.
pub const NLMSG_DONE: u16 = 3;
/// `PROC_CN_MCAST_LISTEN`.
pub const MCAST_LISTEN: u32 = 1;
/// `PROC_CN_MCAST_IGNORE`.
pub const MCAST_IGNORE: u32 = 2;

const NLMSG_HDR: usize = 16;
const CN_MSG: usize = 20;
/// `proc_event` before its union: what (4), cpu (4), timestamp_ns (8).
const EVENT_HDR: usize = 16;

const WHAT_NONE: u32 = 0;
const WHAT_FORK: u32 = 1;
const WHAT_EXEC: u32 = 2;
const WHAT_COMM: u32 = 0x200;
const WHAT_EXIT: u32 = 0x8000_0000;

/// One process event. Pids are the kernel's: `pid` a thread id, `tgid` the process id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcEvent {
    /// `PROC_EVENT_NONE`: the answer to a listen request; `err` 0 means listening.
    Ack {
        /// The request's errno (0: accepted).
        err: u32,
    },
    /// A new task: a process when `child_pid == child_tgid`, else a thread.
    Fork {
        /// The parent process.
        parent_tgid: u32,
        /// The new task.
        child_pid: u32,
        /// The new task's process.
        child_tgid: u32,
    },
    /// A task called execve: its comm and cmdline changed.
    Exec {
        /// The task.
        pid: u32,
        /// Its process.
        tgid: u32,
    },
    /// A task changed its comm (prctl PR_SET_NAME, /proc/PID/comm).
    Comm {
        /// The task.
        pid: u32,
        /// Its process.
        tgid: u32,
    },
    /// A task exited.
    Exit {
        /// The task.
        pid: u32,
        /// Its process.
        tgid: u32,
    },
    /// Another event (uid, gid, sid, ptrace, coredump): not needed here.
    Other(u32),
}

/// What is wrong with a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Shorter than the headers it announces.
    Truncated,
    /// A netlink length smaller than its header or past the end of the datagram.
    BadLength,
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ParseError::Truncated => "truncated process connector message",
            ParseError::BadLength => "bad netlink length in a process connector message",
        })
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_ne_bytes([s[0], s[1]]))
}

/// The listen (`op` = [`MCAST_LISTEN`]) or ignore ([`MCAST_IGNORE`]) request: a netlink
/// message of type `NLMSG_DONE` holding a `cn_msg` to `{CN_IDX_PROC, CN_VAL_PROC}` with the
/// 4-byte op.
pub fn request(op: u32, seq: u32) -> [u8; NLMSG_HDR + CN_MSG + 4] {
    let mut b = [0u8; NLMSG_HDR + CN_MSG + 4];
    let total = (NLMSG_HDR + CN_MSG + 4) as u32;
    b[0..4].copy_from_slice(&total.to_ne_bytes());
    b[4..6].copy_from_slice(&NLMSG_DONE.to_ne_bytes());
    // flags 0; seq; port 0 (the kernel).
    b[8..12].copy_from_slice(&seq.to_ne_bytes());
    let c = NLMSG_HDR;
    b[c..c + 4].copy_from_slice(&CN_IDX_PROC.to_ne_bytes());
    b[c + 4..c + 8].copy_from_slice(&CN_VAL_PROC.to_ne_bytes());
    b[c + 8..c + 12].copy_from_slice(&seq.to_ne_bytes());
    // ack 0
    b[c + 16..c + 18].copy_from_slice(&4u16.to_ne_bytes());
    // flags 0
    b[c + 20..c + 24].copy_from_slice(&op.to_ne_bytes());
    b
}

fn event(data: &[u8]) -> Result<ProcEvent, ParseError> {
    let what = u32_at(data, 0).ok_or(ParseError::Truncated)?;
    let d = EVENT_HDR;
    let f = |i: usize| u32_at(data, d + 4 * i).ok_or(ParseError::Truncated);
    Ok(match what {
        WHAT_NONE => ProcEvent::Ack { err: f(0)? },
        WHAT_FORK => ProcEvent::Fork {
            parent_tgid: f(1)?,
            child_pid: f(2)?,
            child_tgid: f(3)?,
        },
        WHAT_EXEC => ProcEvent::Exec {
            pid: f(0)?,
            tgid: f(1)?,
        },
        WHAT_COMM => ProcEvent::Comm {
            pid: f(0)?,
            tgid: f(1)?,
        },
        WHAT_EXIT => ProcEvent::Exit {
            pid: f(0)?,
            tgid: f(1)?,
        },
        other => ProcEvent::Other(other),
    })
}

/// Every process event in one datagram, appended to `out`. Messages from another connector
/// (not `{CN_IDX_PROC, CN_VAL_PROC}`) and netlink control messages are skipped.
pub fn parse(buf: &[u8], out: &mut Vec<ProcEvent>) -> Result<(), ParseError> {
    let mut at = 0usize;
    while at < buf.len() {
        let len = u32_at(buf, at).ok_or(ParseError::Truncated)? as usize;
        let ty = u16_at(buf, at + 4).ok_or(ParseError::Truncated)?;
        let end = at.checked_add(len).ok_or(ParseError::BadLength)?;
        if len < NLMSG_HDR || end > buf.len() {
            return Err(ParseError::BadLength);
        }
        let msg = &buf[at + NLMSG_HDR..end];
        if ty == NLMSG_DONE {
            let idx = u32_at(msg, 0).ok_or(ParseError::Truncated)?;
            let val = u32_at(msg, 4).ok_or(ParseError::Truncated)?;
            let dlen = usize::from(u16_at(msg, 16).ok_or(ParseError::Truncated)?);
            if idx == CN_IDX_PROC && val == CN_VAL_PROC {
                let data = msg
                    .get(CN_MSG..CN_MSG + dlen)
                    .ok_or(ParseError::Truncated)?;
                out.push(event(data)?);
            }
        }
        // NLMSG_ALIGN(len)
        at = end.checked_add(3).ok_or(ParseError::BadLength)? & !3;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A datagram as the kernel builds it: nlmsghdr, cn_msg, proc_event with `fields` after
    /// the 16-byte event header.
    fn frame(what: u32, fields: &[u32]) -> Vec<u8> {
        let mut ev = Vec::new();
        ev.extend_from_slice(&what.to_ne_bytes());
        ev.extend_from_slice(&3u32.to_ne_bytes()); // cpu
        ev.extend_from_slice(&123_456_789u64.to_ne_bytes());
        for f in fields {
            ev.extend_from_slice(&f.to_ne_bytes());
        }
        let mut cn = Vec::new();
        cn.extend_from_slice(&CN_IDX_PROC.to_ne_bytes());
        cn.extend_from_slice(&CN_VAL_PROC.to_ne_bytes());
        cn.extend_from_slice(&7u32.to_ne_bytes());
        cn.extend_from_slice(&0u32.to_ne_bytes());
        cn.extend_from_slice(&(ev.len() as u16).to_ne_bytes());
        cn.extend_from_slice(&0u16.to_ne_bytes());
        cn.extend_from_slice(&ev);
        let mut nl = Vec::new();
        nl.extend_from_slice(&((16 + cn.len()) as u32).to_ne_bytes());
        nl.extend_from_slice(&NLMSG_DONE.to_ne_bytes());
        nl.extend_from_slice(&0u16.to_ne_bytes());
        nl.extend_from_slice(&0u32.to_ne_bytes());
        nl.extend_from_slice(&0u32.to_ne_bytes());
        nl.extend_from_slice(&cn);
        nl
    }

    fn one(b: &[u8]) -> ProcEvent {
        let mut v = Vec::new();
        parse(b, &mut v).expect("parses");
        assert_eq!(v.len(), 1);
        v[0]
    }

    #[test]
    fn request_layout() {
        let r = request(MCAST_LISTEN, 9);
        assert_eq!(r.len(), 40);
        assert_eq!(u32_at(&r, 0), Some(40));
        assert_eq!(u16_at(&r, 4), Some(NLMSG_DONE));
        assert_eq!(u32_at(&r, 16), Some(CN_IDX_PROC));
        assert_eq!(u32_at(&r, 20), Some(CN_VAL_PROC));
        assert_eq!(u16_at(&r, 32), Some(4));
        assert_eq!(u32_at(&r, 36), Some(MCAST_LISTEN));
    }

    #[test]
    fn events_of_each_kind() {
        // exec: pid, tgid
        assert_eq!(
            one(&frame(WHAT_EXEC, &[4242, 4242])),
            ProcEvent::Exec {
                pid: 4242,
                tgid: 4242
            }
        );
        // fork: parent pid, parent tgid, child pid, child tgid
        assert_eq!(
            one(&frame(WHAT_FORK, &[10, 10, 11, 11])),
            ProcEvent::Fork {
                parent_tgid: 10,
                child_pid: 11,
                child_tgid: 11
            }
        );
        // comm: pid, tgid, comm[16]
        let comm = frame(WHAT_COMM, &[5, 4, u32::from_ne_bytes(*b"kstr"), 0, 0, 0]);
        assert_eq!(one(&comm), ProcEvent::Comm { pid: 5, tgid: 4 });
        // exit: pid, tgid, code, signal, parent pid, parent tgid
        assert_eq!(
            one(&frame(WHAT_EXIT, &[77, 77, 9, 17, 1, 1])),
            ProcEvent::Exit { pid: 77, tgid: 77 }
        );
        // The acknowledgement of a listen request; an error code in it.
        assert_eq!(one(&frame(WHAT_NONE, &[0])), ProcEvent::Ack { err: 0 });
        assert_eq!(one(&frame(WHAT_NONE, &[1])), ProcEvent::Ack { err: 1 });
        assert_eq!(one(&frame(0x4, &[1, 1, 0, 0])), ProcEvent::Other(4));
    }

    #[test]
    fn several_messages_in_one_datagram_and_foreign_ones_skipped() {
        let mut b = frame(WHAT_EXEC, &[1, 1]);
        let mut foreign = frame(WHAT_EXEC, &[2, 2]);
        foreign[16..20].copy_from_slice(&9u32.to_ne_bytes()); // another connector index
        b.extend_from_slice(&foreign);
        b.extend_from_slice(&frame(WHAT_EXIT, &[3, 3, 0, 0, 1, 1]));
        let mut v = Vec::new();
        parse(&b, &mut v).unwrap();
        assert_eq!(
            v,
            vec![
                ProcEvent::Exec { pid: 1, tgid: 1 },
                ProcEvent::Exit { pid: 3, tgid: 3 }
            ]
        );
    }

    #[test]
    fn short_or_lying_datagrams_are_errors_never_panics() {
        let good = frame(WHAT_EXEC, &[1, 1]);
        for n in 0..good.len() {
            let mut v = Vec::new();
            let r = parse(&good[..n], &mut v);
            assert!(n == 0 || r.is_err(), "prefix of {n} bytes accepted");
        }
        let mut big = good.clone();
        big[0..4].copy_from_slice(&1000u32.to_ne_bytes());
        assert_eq!(parse(&big, &mut Vec::new()), Err(ParseError::BadLength));
        let mut small = good.clone();
        small[0..4].copy_from_slice(&4u32.to_ne_bytes());
        assert_eq!(parse(&small, &mut Vec::new()), Err(ParseError::BadLength));
        let mut cnlen = good;
        cnlen[32..34].copy_from_slice(&500u16.to_ne_bytes());
        assert_eq!(parse(&cnlen, &mut Vec::new()), Err(ParseError::Truncated));
    }
}
