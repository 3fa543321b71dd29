//! The event stream's records and the daemon's ring of recent ones (`atropos --follow`).
//!
//! Each instance numbers what it does: daemon start (sequence 1, with a run id new at every
//! start, so a restart is visible), transitions, changes of the effective priority, tracker
//! status changes, host-group hold and release, and its exit (the last record before the control
//! socket closes). The numbers have no holes: a consumer that sees `seq` jump knows it missed
//! something, and a subscriber the daemon could not keep up with is sent a [`Event::Gap`] record
//! naming what it lost.
//!
//! Why a ring in the daemon and not a log file or notify scripts: a ring of the last
//! [`RING_LEN`] records costs at most a few tens of KiB (it grows as records come, so an
//! instance with few transitions keeps only a few: issue #14), lets a subscriber that connects (or
//! reconnects) a little late replay what it missed from a given sequence number, and keeps one
//! order per instance no matter how slowly consumers read, which scripts run per transition
//! (keepalived's notify) cannot: each runs on its own and they finish in any order. The ring is
//! shared by all subscribers; each has only a cursor into it (see [`super::stream`]), so a slow
//! subscriber costs no memory and never delays the daemon: it falls off the ring's end and gets a
//! gap.
//!
//! Wire form: after the reply to `{"version":1,"cmd":"subscribe","from":N}` (an ordinary
//! [`super::Response`] line), one JSON object per line, e.g.
//! `{"seq":7,"run":"3f…","time":1764664800.25,"event":"transition","from":"BACKUP","to":"MASTER","reason":"…"}`.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

/// Records kept for replay and for subscribers that fall behind.
pub const RING_LEN: usize = 256;

/// One numbered record of an instance's stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// Sequence number, from 1 at daemon start, without holes (a [`Event::Gap`] carries the
    /// last number it stands for).
    pub seq: u64,
    /// The daemon run's id: new at every start.
    pub run: String,
    /// Wall-clock time, seconds since the Unix epoch (for people; the order is `seq`).
    pub time: f64,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// What a record says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// The daemon started (always sequence 1).
    Start {
        /// Its pid.
        pid: u32,
        /// vrrpd's version.
        version: String,
        /// The configured priority (CARP: the advskew).
        priority: u8,
    },
    /// A state transition (RFC 9568 §6.4: Initialize, Backup, Master; and Fault).
    Transition {
        /// The state left.
        from: String,
        /// The state entered.
        to: String,
        /// Why.
        reason: String,
    },
    /// The effective priority changed (an operator, a tracker, a signal).
    Priority {
        /// Before.
        from: u8,
        /// After.
        to: u8,
    },
    /// A health tracker's status or applied weight changed.
    Tracker {
        /// `check`, `interface`, `file` or `process`.
        kind: String,
        /// Its name.
        name: String,
        /// `init`, `up` or `down`.
        status: String,
        /// The observation in words (`exit 1`, `reads 3`).
        detail: String,
    },
    /// The host group (`-M`) started or stopped holding this instance in Backup.
    Group {
        /// The group's name.
        group: String,
        /// Held (true) or released (false).
        held: bool,
    },
    /// The daemon exits: the last record of the run.
    Exit {
        /// Why (`signal`, `stop timed out`).
        reason: String,
    },
    /// Not an event: this subscriber missed `first..=last` (it read too slowly, or asked to
    /// replay from a number the ring no longer holds). The record's `seq` is `last`.
    Gap {
        /// First missed.
        first: u64,
        /// Last missed.
        last: u64,
    },
    /// Never sent by a daemon: `atropos` reports that an instance's socket closed without an
    /// exit record (killed with SIGKILL, crashed). The record's `seq` is the last one seen.
    Lost,
}

/// What a subscriber at a cursor gets next from a [`Ring`].
#[derive(Debug, Clone, PartialEq)]
pub enum Next<'a> {
    /// The record at the cursor.
    Record(&'a Record),
    /// The cursor fell off the ring: a gap record for `first..=last`; the cursor moves past it.
    Gap {
        /// First missed.
        first: u64,
        /// Last missed.
        last: u64,
    },
    /// Nothing new.
    UpToDate,
}

/// The last [`RING_LEN`] records of an instance.
#[derive(Debug)]
pub struct Ring {
    run: String,
    next: u64,
    records: VecDeque<Record>,
    cap: usize,
}

impl Ring {
    /// An empty ring for run `run`, holding at most `cap` records (at least one).
    pub fn new(run: String, cap: usize) -> Ring {
        Ring {
            run,
            next: 1,
            // Grown as records come (at most `cap`), not reserved: most instances see a few
            // records, and a reserved ring took heap pages start-up had touched (issue #14).
            records: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// The run id.
    pub fn run(&self) -> &str {
        &self.run
    }

    /// Append an event stamped `time` (seconds since the epoch); returns its sequence number.
    pub fn push(&mut self, time: f64, event: Event) -> u64 {
        let seq = self.next;
        self.next += 1;
        if self.records.len() == self.cap {
            self.records.pop_front();
        }
        self.records.push_back(Record {
            seq,
            run: self.run.clone(),
            time,
            event,
        });
        seq
    }

    /// The number the next record will get.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// The oldest number still held (the next one when empty).
    pub fn oldest(&self) -> u64 {
        self.records.front().map_or(self.next, |r| r.seq)
    }

    /// Where a new subscriber asking for `from` starts: `None` (only new records) is the next
    /// number; a number beyond it is clamped to it. A number older than the ring holds is kept,
    /// so that the subscriber is first told what it cannot have.
    pub fn cursor_for(&self, from: Option<u64>) -> u64 {
        match from {
            None => self.next,
            Some(n) => n.clamp(1, self.next),
        }
    }

    /// What a subscriber at `cursor` gets next.
    pub fn at(&self, cursor: u64) -> Next<'_> {
        if cursor >= self.next {
            return Next::UpToDate;
        }
        let oldest = self.oldest();
        if cursor < oldest {
            return Next::Gap {
                first: cursor,
                last: oldest - 1,
            };
        }
        let idx = usize::try_from(cursor - oldest).unwrap_or(usize::MAX);
        match self.records.get(idx) {
            Some(r) => Next::Record(r),
            None => Next::UpToDate,
        }
    }

    /// A gap record for `first..=last`, stamped `time`.
    pub fn gap(&self, first: u64, last: u64, time: f64) -> Record {
        Record {
            seq: last,
            run: self.run.clone(),
            time,
            event: Event::Gap { first, last },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prio(p: u8) -> Event {
        Event::Priority { from: p, to: p + 1 }
    }

    #[test]
    fn numbers_start_at_one_without_holes() {
        let mut r = Ring::new("abc".into(), 4);
        assert_eq!(r.push(1.0, prio(1)), 1);
        assert_eq!(r.push(1.0, prio(2)), 2);
        assert_eq!(r.cursor_for(None), 3);
        assert_eq!(r.at(3), Next::UpToDate);
        match r.at(1) {
            Next::Record(rec) => assert_eq!((rec.seq, rec.run.as_str()), (1, "abc")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_cursor_that_fell_off_gets_a_gap_then_the_oldest() {
        let mut r = Ring::new("x".into(), 3);
        for p in 0..10 {
            r.push(0.0, prio(p));
        }
        assert_eq!(r.oldest(), 8);
        assert_eq!(r.at(2), Next::Gap { first: 2, last: 7 });
        assert!(matches!(r.at(8), Next::Record(rec) if rec.seq == 8));
        assert!(matches!(r.at(10), Next::Record(rec) if rec.seq == 10));
        assert_eq!(r.cursor_for(Some(0)), 1);
        assert_eq!(r.cursor_for(Some(99)), 11);
    }

    #[test]
    fn wire_form() {
        let mut r = Ring::new("r1".into(), 4);
        r.push(
            2.5,
            Event::Transition {
                from: "BACKUP".into(),
                to: "MASTER".into(),
                reason: "why".into(),
            },
        );
        let Next::Record(rec) = r.at(1) else { panic!() };
        let s = serde_json::to_string(rec).unwrap();
        assert_eq!(
            s,
            r#"{"seq":1,"run":"r1","time":2.5,"event":"transition","from":"BACKUP","to":"MASTER","reason":"why"}"#
        );
        let back: Record = serde_json::from_str(&s).unwrap();
        assert_eq!(&back, rec);
        let g = serde_json::to_string(&r.gap(3, 5, 0.0)).unwrap();
        assert!(g.contains(r#""seq":5"#) && g.contains(r#""event":"gap","first":3,"last":5"#));
        assert!(
            serde_json::from_str::<Record>(r#"{"seq":1,"run":"r","time":0,"event":"bogus"}"#)
                .is_err()
        );
    }
}
