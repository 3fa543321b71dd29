//! The instance's event stream, daemon side: records what the daemon performs and reports
//! (start, transitions, effective-priority changes, tracker changes, host-group hold and
//! release, exit) into the [`Ring`] of [`crate::control::events`], and serves the control
//! connections that subscribed ([`Subscribers`]) from the event loop's poll slots.
//!
//! The records are made where the daemon already logs or carries out the matching thing (the
//! state machine stays pure: it decides, the daemon reports what it did), so the stream says
//! nothing the log does not. Serving never blocks the loop: see [`crate::control::stream`].

use std::os::fd::BorrowedFd;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::control::events::{Event, Ring, RING_LEN};
use crate::control::stream::{Subscribers, MAX_SUBSCRIBERS};
use crate::control::Request;
use crate::sys::clock;
use crate::vlog;

use super::Daemon;

/// How long the exit record may take to reach slow subscribers.
const EXIT_FLUSH: Duration = Duration::from_millis(200);

/// The ring and its subscribers.
pub struct Stream {
    ring: Ring,
    subs: Subscribers,
}

impl Stream {
    /// A new stream with a fresh run id.
    pub fn new() -> Stream {
        Stream {
            ring: Ring::new(clock::run_id(), RING_LEN),
            subs: Subscribers::default(),
        }
    }

    /// Whether a `subscribe` can be accepted (else its error text).
    pub fn room(&self) -> Result<(), String> {
        if self.subs.has_room() {
            Ok(())
        } else {
            Err(format!(
                "too many subscribers (at most {MAX_SUBSCRIBERS} at once)"
            ))
        }
    }

    /// Subscribers' descriptors to poll for input (a close).
    pub fn read_fds(&self) -> Vec<BorrowedFd<'_>> {
        self.subs.read_fds()
    }

    /// Subscribers' descriptors to poll for room, those something waits for.
    pub fn write_fds(&self) -> Vec<BorrowedFd<'_>> {
        self.subs.write_fds(&self.ring)
    }

    /// When a stalled subscriber is due to be dropped.
    pub fn deadline(&self) -> Option<Duration> {
        self.subs.deadline()
    }

    /// The counters `--dump` and the metrics show.
    pub fn info(&self) -> crate::control::EventStreamInfo {
        crate::control::EventStreamInfo {
            recorded: self.ring.next_seq().saturating_sub(1),
            subscribers: self.subs.len() as u64,
            dropped: self.subs.dropped,
            gaps: self.subs.gaps,
        }
    }
}

impl Default for Stream {
    fn default() -> Self {
        Stream::new()
    }
}

fn wall_secs() -> f64 {
    clock::wall().as_secs_f64()
}

impl Daemon {
    /// Record one event; subscribers get it when the loop next serves them (this wake-up).
    pub(super) fn emit(&mut self, ev: Event) {
        self.io.stream.ring.push(wall_secs(), ev);
    }

    /// Take the connections whose `subscribe` the control server accepted.
    pub(super) fn adopt_subscribers(&mut self, taken: Vec<(UnixStream, Request, Vec<u8>)>) {
        for (stream, req, reply) in taken {
            let cursor = self.io.stream.ring.cursor_for(req.from);
            self.io.stream.subs.add(stream, reply, cursor);
            vlog!(
                Debug,
                "{}: event subscriber from #{cursor} ({} now)",
                self.tag(),
                self.io.stream.subs.len()
            );
        }
    }

    /// Serve the subscribers: notice closes, write what waits, drop the stalled (logged).
    #[inline(never)]
    pub(super) fn serve_subscribers(&mut self, now: Duration) {
        if self.io.stream.subs.is_empty() {
            return;
        }
        let st = &mut self.io.stream;
        let out = st.subs.service(&st.ring, now, wall_secs());
        for (first, last) in &out.gaps {
            vlog!(
                Warn,
                "{}: an event subscriber fell behind: events {first}-{last} lost to it ({} gaps so far)",
                self.tag(),
                self.io.stream.subs.gaps
            );
        }
        if out.dropped > 0 {
            vlog!(
                Warn,
                "{}: dropped an event subscriber that read nothing for {}s ({} dropped so far)",
                self.tag(),
                crate::control::stream::STALL_LIMIT.as_secs(),
                self.io.stream.subs.dropped
            );
        }
    }

    /// The last record, then every subscriber gets what waits for it (bounded) and is closed.
    pub(super) fn finish_stream(&mut self, reason: &str) {
        self.emit(Event::Exit {
            reason: reason.to_string(),
        });
        let st = &mut self.io.stream;
        st.subs.finish(&st.ring, wall_secs(), EXIT_FLUSH);
    }

    /// The first record: sequence 1.
    pub(super) fn emit_start(&mut self) {
        self.emit(Event::Start {
            pid: std::process::id(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            priority: self.s.priority,
        });
    }

    /// After an event was fed: what changed that the stream reports (effective priority, host
    /// group hold), compared with `before`.
    pub(super) fn emit_changes(&mut self, before: (u8, bool)) {
        let (prio, held) = (self.inst.priority(), self.inst.group_held());
        if prio != before.0 {
            self.emit(Event::Priority {
                from: before.0,
                to: prio,
            });
        }
        if held != before.1 {
            let group = self
                .group
                .as_ref()
                .map(|g| g.name().to_string())
                .unwrap_or_default();
            self.emit(Event::Group { group, held });
        }
    }
}
