//! The daemon's subscribers to its event stream: control connections that asked to
//! `subscribe` and stay open, each reading the shared [`Ring`] through its own cursor.
//!
//! The daemon never waits for a subscriber. Writes are non-blocking and go only as far as the
//! socket takes them; what does not fit stays in the ring, not in a per-subscriber queue (the
//! only per-subscriber bytes are the one batch being written, at most [`BATCH`] plus one line).
//! A subscriber whose cursor falls off the ring's end is sent one gap record for what it lost
//! and goes on from the oldest record held; one that takes no byte for [`STALL_LIMIT`] while
//! records wait is dropped. Both are counted. At most [`MAX_SUBSCRIBERS`] are served at once.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use super::events::{Next, Ring};

/// Most subscribers at once (a further `subscribe` gets an error reply).
pub const MAX_SUBSCRIBERS: usize = 4;
/// A subscriber that takes no byte for this long while records wait for it is dropped.
pub const STALL_LIMIT: Duration = Duration::from_secs(10);
/// Bytes formatted for one subscriber before a write.
pub const BATCH: usize = 8192;

struct Sub {
    stream: UnixStream,
    /// Bytes formatted and not yet written.
    pending: Vec<u8>,
    /// The next sequence number to format.
    cursor: u64,
    /// Since when it has taken nothing while something waited.
    stalled_since: Option<Duration>,
}

/// What [`Subscribers::service`] did that the daemon logs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Subscribers that closed their end.
    pub closed: usize,
    /// Subscribers dropped for taking nothing for [`STALL_LIMIT`].
    pub dropped: usize,
    /// Gap records sent (`first..=last` each).
    pub gaps: Vec<(u64, u64)>,
}

/// The subscribers.
#[derive(Default)]
pub struct Subscribers {
    subs: Vec<Sub>,
    /// Subscribers dropped as stalled, since start.
    pub dropped: u64,
    /// Gap records sent, since start.
    pub gaps: u64,
}

impl Subscribers {
    /// Whether another may subscribe.
    pub fn has_room(&self) -> bool {
        self.subs.len() < MAX_SUBSCRIBERS
    }

    /// How many are served.
    pub fn len(&self) -> usize {
        self.subs.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.subs.is_empty()
    }

    /// Serve `stream` from `cursor`, after `first` (the reply line to its request).
    pub fn add(&mut self, stream: UnixStream, first: Vec<u8>, cursor: u64) {
        if self.subs.len() >= MAX_SUBSCRIBERS || stream.set_nonblocking(true).is_err() {
            return;
        }
        self.subs.push(Sub {
            stream,
            pending: first,
            cursor,
            stalled_since: None,
        });
    }

    /// Descriptors to poll for input: a subscriber only ever closes its end (anything it
    /// writes is read and ignored).
    pub fn read_fds(&self) -> Vec<BorrowedFd<'_>> {
        self.subs.iter().map(|s| s.stream.as_fd()).collect()
    }

    /// Descriptors to poll for room to write: the subscribers something waits for.
    pub fn write_fds(&self, ring: &Ring) -> Vec<BorrowedFd<'_>> {
        self.subs
            .iter()
            .filter(|s| waiting(s, ring))
            .map(|s| s.stream.as_fd())
            .collect()
    }

    /// When the first stalled subscriber is to be dropped.
    pub fn deadline(&self) -> Option<Duration> {
        self.subs
            .iter()
            .filter_map(|s| s.stalled_since)
            .min()
            .map(|t| t + STALL_LIMIT)
    }

    /// Read what the subscribers sent (to notice a close), write what waits for them, and
    /// drop the stalled ones. `time` stamps gap records. Never blocks.
    pub fn service(&mut self, ring: &Ring, now: Duration, time: f64) -> Outcome {
        let mut out = Outcome::default();
        let mut i = 0;
        while i < self.subs.len() {
            let keep = match self.subs.get_mut(i) {
                Some(s) => serve(s, ring, now, time, &mut out),
                None => Keep::Closed,
            };
            match keep {
                Keep::Yes => i += 1,
                Keep::Closed => {
                    out.closed += 1;
                    self.subs.swap_remove(i);
                }
                Keep::Stalled => {
                    out.dropped += 1;
                    self.subs.swap_remove(i);
                }
            }
        }
        self.dropped += out.dropped as u64;
        self.gaps += out.gaps.len() as u64;
        out
    }

    /// At exit: give every subscriber what waits for it (the exit record last), waiting at
    /// most `limit` in all for slow ones, then close them.
    pub fn finish(&mut self, ring: &Ring, time: f64, limit: Duration) {
        let start = std::time::Instant::now();
        for s in &mut self.subs {
            let mut gaps = Outcome::default();
            loop {
                fill(s, ring, time, &mut gaps);
                if s.pending.is_empty() {
                    break;
                }
                let left = limit.saturating_sub(start.elapsed());
                if left.is_zero()
                    || s.stream.set_nonblocking(false).is_err()
                    || s.stream.set_write_timeout(Some(left)).is_err()
                {
                    break;
                }
                match s.stream.write(&s.pending) {
                    Ok(n) if n > 0 => {
                        s.pending.drain(..n.min(s.pending.len()));
                    }
                    _ => break,
                }
            }
        }
        self.subs.clear();
    }
}

enum Keep {
    Yes,
    Closed,
    Stalled,
}

fn waiting(s: &Sub, ring: &Ring) -> bool {
    !s.pending.is_empty() || s.cursor < ring.next_seq()
}

/// Format records from the cursor into `pending`, up to [`BATCH`] bytes.
fn fill(s: &mut Sub, ring: &Ring, time: f64, out: &mut Outcome) {
    while s.pending.len() < BATCH {
        let line = match ring.at(s.cursor) {
            Next::UpToDate => return,
            Next::Record(r) => {
                s.cursor = r.seq + 1;
                serde_json::to_vec(r)
            }
            Next::Gap { first, last } => {
                s.cursor = last + 1;
                out.gaps.push((first, last));
                serde_json::to_vec(&ring.gap(first, last, time))
            }
        };
        if let Ok(mut l) = line {
            l.push(b'\n');
            s.pending.extend_from_slice(&l);
        }
    }
}

fn serve(s: &mut Sub, ring: &Ring, now: Duration, time: f64, out: &mut Outcome) -> Keep {
    let mut chunk = [0u8; 256];
    // Bounded: a subscriber that keeps writing cannot hold the loop.
    for _ in 0..16 {
        match s.stream.read(&mut chunk) {
            Ok(0) => return Keep::Closed,
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Keep::Closed,
        }
    }
    let mut wrote = false;
    loop {
        // A cursor overtaken by the ring while its batch waited gets its gap on the next fill.
        if s.pending.is_empty() {
            fill(s, ring, time, out);
        }
        if s.pending.is_empty() {
            break;
        }
        match s.stream.write(&s.pending) {
            Ok(0) => return Keep::Closed,
            Ok(n) => {
                wrote = true;
                s.pending.drain(..n.min(s.pending.len()));
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Keep::Closed,
        }
    }
    if wrote || !waiting(s, ring) {
        s.stalled_since = None;
    } else {
        let since = *s.stalled_since.get_or_insert(now);
        if now.saturating_sub(since) >= STALL_LIMIT {
            return Keep::Stalled;
        }
    }
    Keep::Yes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::events::{Event, Record};
    use std::io::{BufRead, BufReader};

    fn ring_with(n: u64, cap: usize) -> Ring {
        let mut r = Ring::new("t".into(), cap);
        for i in 0..n {
            r.push(
                0.0,
                Event::Priority {
                    from: i as u8,
                    to: i as u8 + 1,
                },
            );
        }
        r
    }

    fn lines(s: UnixStream) -> Vec<Record> {
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        let mut out = Vec::new();
        for l in BufReader::new(s).lines() {
            match l {
                Ok(l) if l.starts_with('{') && l.contains("\"seq\"") => {
                    out.push(serde_json::from_str(&l).unwrap())
                }
                Ok(_) => {}
                Err(_) => break,
            }
        }
        out
    }

    #[test]
    fn replays_then_follows_in_order() {
        let mut ring = ring_with(3, 16);
        let (a, b) = UnixStream::pair().unwrap();
        let mut subs = Subscribers::default();
        subs.add(a, b"{\"ok\":true}\n".to_vec(), ring.cursor_for(Some(2)));
        subs.service(&ring, Duration::ZERO, 0.0);
        ring.push(0.0, Event::Exit { reason: "x".into() });
        subs.finish(&ring, 0.0, Duration::from_millis(100));
        let seqs: Vec<u64> = lines(b).iter().map(|r| r.seq).collect();
        assert_eq!(seqs, vec![2, 3, 4]);
    }

    /// A subscriber that never reads: every service returns at once, its memory stays one
    /// batch, and after STALL_LIMIT without progress it is dropped.
    #[test]
    fn a_stuck_subscriber_gets_a_gap_and_is_dropped_without_blocking() {
        let mut ring = ring_with(0, 8);
        let (a, b) = UnixStream::pair().unwrap();
        let mut subs = Subscribers::default();
        subs.add(a, Vec::new(), 1);
        let big = "x".repeat(2000);
        let t0 = std::time::Instant::now();
        let mut gaps = 0;
        for i in 0..2000u64 {
            ring.push(
                0.0,
                Event::Exit {
                    reason: big.clone(),
                },
            );
            let out = subs.service(&ring, Duration::from_millis(i), 0.0);
            gaps += out.gaps.len();
        }
        assert!(t0.elapsed() < Duration::from_secs(5));
        // Nothing more is formatted while its batch waits: the gap goes out once it reads.
        assert_eq!(gaps, 0);
        assert_eq!(subs.len(), 1);
        let out = subs.service(&ring, Duration::from_secs(2) + STALL_LIMIT, 0.0);
        assert_eq!(out.dropped, 1);
        assert!(subs.is_empty());
        // What it did get is in order with the gap standing for the missing numbers.
        let mut next = 1;
        for r in lines(b) {
            match r.event {
                Event::Gap { first, last } => {
                    assert_eq!(first, next);
                    next = last + 1;
                }
                _ => {
                    assert_eq!(r.seq, next);
                    next += 1;
                }
            }
        }
        assert!(next > 1);
    }

    #[test]
    fn a_closed_subscriber_is_removed_and_room_is_bounded() {
        let ring = ring_with(1, 4);
        let mut subs = Subscribers::default();
        let mut keep = Vec::new();
        for _ in 0..MAX_SUBSCRIBERS {
            let (a, b) = UnixStream::pair().unwrap();
            subs.add(a, Vec::new(), 1);
            keep.push(b);
        }
        assert!(!subs.has_room());
        drop(keep.pop());
        let out = subs.service(&ring, Duration::ZERO, 0.0);
        assert_eq!(out.closed, 1);
        assert!(subs.has_room());
    }
}
