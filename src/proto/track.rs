//! Health trackers: priority inputs (check commands, processes, other interfaces, files), pure.
//!
//! A [`Tracker`] turns observations (a check passed or failed, a link went down, a file now
//! reads 3) into an [`Effect`] on the instance; [`combine`] folds every tracker's effect into
//! the one input the state machine takes: the sum of the weights in force
//! ([`super::fsm::Event::Weights`]) and whether any tracker holds the instance in Fault
//! ([`super::fsm::FaultReason::Tracker`]). The effective priority is computed by the state
//! machine: configured priority + weights, clamped to 1..=254; an address owner (255) stays 255
//! (RFC 9568 §6.1: only the owner may use 255, and it must).
//!
//! Weight semantics (those of keepalived, so that configurations carry over):
//!
//! | weight | tracker up | tracker down (or not yet known) |
//! |--------|------------|---------------------------------|
//! | `0`    | nothing    | Fault                           |
//! | `+w`   | `+w`       | nothing                         |
//! | `-w`   | nothing    | `-w`                            |
//!
//! A value tracker (a file) contributes `value × weight` (capped at ±253; `≤ −254` is Fault);
//! with weight 0 a non-zero value is Fault. A file that is missing or does not hold a number is
//! a failure: it contributes nothing, and is Fault with weight 0.
//!
//! Before its first result a tracker is [`Status::Init`], which counts as down: a router whose
//! check has not answered yet never advertises the check's bonus, never escapes the check's
//! penalty, and never leaves Fault on a weight-0 check. The first result decides at once
//! (whatever RISE and FALL are); after that FALL failures in a row take an up tracker down and
//! RISE successes in a row bring a down one up.

use core::fmt;
use core::time::Duration;

/// Largest weight or contribution magnitude (a priority moves within 1..=254).
pub const MAX_WEIGHT: i32 = 253;

/// What a tracker watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A check command (`--track-check`).
    Check,
    /// Another interface's link (`--track-interface`).
    Interface,
    /// A file holding an integer (`--track-file`).
    File,
    /// Processes by name (`--track-process`).
    Process,
}

impl Kind {
    /// The word used in log lines and reports.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Check => "check",
            Kind::Interface => "interface",
            Kind::File => "file",
            Kind::Process => "process",
        }
    }
}

/// A tracker's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// No result yet (counts as down).
    Init,
    /// Passing.
    Up,
    /// Failing.
    Down,
}

impl Status {
    /// `init`, `up` or `down`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Init => "init",
            Status::Up => "up",
            Status::Down => "down",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a tracker does to the instance right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Adds this (possibly negative, possibly zero) amount to the priority.
    Weight(i32),
    /// Holds the instance in Fault.
    Fault,
}

/// Rise/fall counting and weight of one tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spec {
    /// The tracker's kind.
    pub kind: Kind,
    /// Weight, −253..=253; 0 means "down → Fault".
    pub weight: i32,
    /// Successes in a row that bring a down tracker up (≥ 1).
    pub rise: u32,
    /// Failures in a row that take an up tracker down (≥ 1).
    pub fall: u32,
    /// keepalived's `reverse`: up and down swap and the weight is negated (`+w` reverse: `−w`
    /// while up; `−w` reverse: `+w` while down; `0` reverse: Fault while up); a file's value
    /// counts negated, and with weight 0 a zero value is Fault.
    pub reverse: bool,
}

/// A status change, for the one log line per change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Change {
    /// Status before.
    pub from: Status,
    /// Status now.
    pub to: Status,
    /// The consecutive count that decided (`2` of FALL 2), 1 for a first result.
    pub count: u32,
    /// The threshold it reached (RISE or FALL; 1 for a first result).
    pub of: u32,
}

/// One tracker's counting state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracker {
    spec: Spec,
    status: Status,
    /// Consecutive successes (reset by a failure).
    ok_run: u32,
    /// Consecutive failures (reset by a success).
    fail_run: u32,
    /// The last value read (value trackers), `None` when the last read failed.
    value: Option<i64>,
    /// When the last result came, and whether it passed.
    last: Option<(Duration, bool)>,
    /// Results so far.
    results: u64,
}

impl Tracker {
    /// A tracker in [`Status::Init`]. Weight is clamped to ±[`MAX_WEIGHT`], rise/fall to ≥ 1.
    pub fn new(spec: Spec) -> Self {
        let spec = Spec {
            weight: spec.weight.clamp(-MAX_WEIGHT, MAX_WEIGHT),
            rise: spec.rise.max(1),
            fall: spec.fall.max(1),
            ..spec
        };
        Tracker {
            spec,
            status: Status::Init,
            ok_run: 0,
            fail_run: 0,
            value: None,
            last: None,
            results: 0,
        }
    }

    /// The tracker's specification (after clamping).
    pub fn spec(&self) -> Spec {
        self.spec
    }

    /// Current status.
    pub fn status(&self) -> Status {
        self.status
    }

    /// Consecutive successes and failures.
    pub fn runs(&self) -> (u32, u32) {
        (self.ok_run, self.fail_run)
    }

    /// The last result: when, and whether it passed.
    pub fn last(&self) -> Option<(Duration, bool)> {
        self.last
    }

    /// Results so far.
    pub fn results(&self) -> u64 {
        self.results
    }

    /// The last value read by a value tracker.
    pub fn value(&self) -> Option<i64> {
        self.value
    }

    /// One pass/fail result at `now`. Returns the change of status, if any.
    pub fn observe(&mut self, now: Duration, ok: bool) -> Option<Change> {
        self.results = self.results.saturating_add(1);
        self.last = Some((now, ok));
        if ok {
            self.ok_run = self.ok_run.saturating_add(1);
            self.fail_run = 0;
        } else {
            self.fail_run = self.fail_run.saturating_add(1);
            self.ok_run = 0;
        }
        let from = self.status;
        let (to, count, of) = match (from, ok) {
            (Status::Init, true) => (Status::Up, 1, 1),
            (Status::Init, false) => (Status::Down, 1, 1),
            (Status::Up, false) if self.fail_run >= self.spec.fall => {
                (Status::Down, self.fail_run, self.spec.fall)
            }
            (Status::Down, true) if self.ok_run >= self.spec.rise => {
                (Status::Up, self.ok_run, self.spec.rise)
            }
            _ => return None,
        };
        self.status = to;
        Some(Change {
            from,
            to,
            count,
            of,
        })
    }

    /// A value tracker's reading at `now`: `Some(v)` passes, `None` (missing, not a number)
    /// fails. Rise and fall are 1 for values. Returns the change of status, if any; a changed
    /// value with the same status changes [`Tracker::effect`] too (compare effects).
    pub fn observe_value(&mut self, now: Duration, v: Option<i64>) -> Option<Change> {
        self.value = v;
        self.observe(now, v.is_some())
    }

    /// What this tracker does to the instance now.
    pub fn effect(&self) -> Effect {
        let rev = self.spec.reverse;
        let w = if rev {
            -self.spec.weight
        } else {
            self.spec.weight
        };
        if self.spec.kind == Kind::File {
            return match (self.status, self.value) {
                (Status::Up, Some(v)) if w == 0 => {
                    if (v == 0) != rev {
                        Effect::Weight(0)
                    } else {
                        Effect::Fault
                    }
                }
                (Status::Up, Some(v)) => {
                    let c = v.saturating_mul(i64::from(w));
                    if c <= -254 {
                        Effect::Fault
                    } else {
                        // c in -253..=i64::MAX here; capped above at 253.
                        Effect::Weight(i32::try_from(c.min(i64::from(MAX_WEIGHT))).unwrap_or(0))
                    }
                }
                _ if w == 0 => Effect::Fault,
                _ => Effect::Weight(0),
            };
        }
        // Reverse swaps up and down and negates the weight; not yet known is (after the swap)
        // down, the worse of the two either way.
        let status = match (self.status, rev) {
            (Status::Init, _) => Status::Down,
            (s, false) => s,
            (Status::Up, true) => Status::Down,
            (Status::Down, true) => Status::Up,
        };
        match (status, w) {
            (Status::Up, w) if w > 0 => Effect::Weight(w),
            (Status::Up, _) => Effect::Weight(0),
            (_, 0) => Effect::Fault,
            (_, w) if w < 0 => Effect::Weight(w),
            _ => Effect::Weight(0),
        }
    }
}

/// How a process tracker's arguments are compared with a process's (keepalived's
/// `param_match`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArgMatch {
    /// The process has exactly these arguments, no more.
    #[default]
    Exact,
    /// The process's first arguments are these; more may follow.
    Partial,
    /// As `Partial`, and the last one given may be a prefix of the process's argument.
    Initial,
}

impl ArgMatch {
    /// `exact`, `partial` or `initial`.
    pub fn name(self) -> &'static str {
        match self {
            ArgMatch::Exact => "exact",
            ArgMatch::Partial => "partial",
            ArgMatch::Initial => "initial",
        }
    }
}

/// Which processes a process tracker counts: a name, and optionally arguments.
///
/// The name is compared exactly (no pattern, no substring: `ssh` is not `sshd`) with the
/// kernel's comm (at most 15 bytes), or with argv[0] when it holds a `/`. With arguments, the
/// process's argv[1..] must hold them as [`ArgMatch`] says; `Some(vec![])` with
/// [`ArgMatch::Exact`] means "started without arguments".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessPattern {
    /// comm, or argv[0] when it holds a `/`.
    pub name: String,
    /// The arguments wanted, if any.
    pub args: Option<Vec<String>>,
    /// How the arguments are compared.
    pub arg_match: ArgMatch,
}

impl ProcessPattern {
    /// Whether a process's cmdline must be read to decide.
    pub fn needs_cmdline(&self) -> bool {
        self.name.contains('/') || self.args.is_some()
    }

    /// Whether a comm (`/proc/PID/comm`, a trailing newline allowed) is the name, for a name
    /// that is not a path.
    pub fn matches_comm(&self, comm: &[u8]) -> bool {
        comm.strip_suffix(b"\n").unwrap_or(comm) == self.name.as_bytes()
    }

    /// Whether a process with this comm and (when [`Self::needs_cmdline`]) this cmdline
    /// (`/proc/PID/cmdline`: arguments each ended by a NUL) is one of ours.
    pub fn matches(&self, comm: &[u8], cmdline: Option<&[u8]>) -> bool {
        let comm = comm.strip_suffix(b"\n").unwrap_or(comm);
        if !self.needs_cmdline() {
            return comm == self.name.as_bytes();
        }
        let Some(cmdline) = cmdline else { return false };
        let body = cmdline.strip_suffix(b"\0").unwrap_or(cmdline);
        if body.is_empty() {
            // Kernel threads and zombies have no cmdline.
            return false;
        }
        let mut argv = body.split(|b| *b == 0);
        let arg0 = argv.next().unwrap_or_default();
        let named = if self.name.contains('/') {
            arg0 == self.name.as_bytes()
        } else {
            comm == self.name.as_bytes()
        };
        if !named {
            return false;
        }
        let Some(want) = &self.args else { return true };
        let have: Vec<&[u8]> = argv.collect();
        if have.len() < want.len()
            || (self.arg_match == ArgMatch::Exact && have.len() != want.len())
        {
            return false;
        }
        let last = want.len().saturating_sub(1);
        want.iter().zip(&have).enumerate().all(|(i, (w, h))| {
            if self.arg_match == ArgMatch::Initial && i == last {
                h.starts_with(w.as_bytes())
            } else {
                *h == w.as_bytes()
            }
        })
    }
}

/// The state machine's inputs from every tracker: the sum of the weights in force, and whether
/// any tracker holds the instance in Fault.
pub fn combine<'a>(trackers: impl IntoIterator<Item = &'a Tracker>) -> (i32, bool) {
    let mut sum: i32 = 0;
    let mut fault = false;
    for t in trackers {
        match t.effect() {
            Effect::Weight(w) => sum = sum.saturating_add(w),
            Effect::Fault => fault = true,
        }
    }
    (sum, fault)
}

/// The effective priority: `configured + weights`, clamped to 1..=254; 255 (address owner)
/// stays 255 (RFC 9568 §6.1).
pub fn effective_priority(configured: u8, weights: i32) -> u8 {
    if configured == 255 {
        return 255;
    }
    let p = i32::from(configured).saturating_add(weights).clamp(1, 254);
    u8::try_from(p).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    fn check(weight: i32, rise: u32, fall: u32) -> Tracker {
        Tracker::new(Spec {
            kind: Kind::Check,
            weight,
            rise,
            fall,
            reverse: false,
        })
    }

    #[test]
    fn init_counts_as_down_and_the_first_result_decides_at_once() {
        let mut t = check(-20, 3, 3);
        assert_eq!(t.status(), Status::Init);
        assert_eq!(t.effect(), Effect::Weight(-20));
        let c = t.observe(s(1), true).expect("first result decides");
        assert_eq!(
            (c.from, c.to, c.count, c.of),
            (Status::Init, Status::Up, 1, 1)
        );
        assert_eq!(t.effect(), Effect::Weight(0));

        let mut t = check(-20, 3, 3);
        let c = t.observe(s(1), false).expect("first result decides");
        assert_eq!(c.to, Status::Down);
        assert_eq!(t.effect(), Effect::Weight(-20));
    }

    #[test]
    fn fall_failures_in_a_row_take_it_down_rise_successes_bring_it_up() {
        let mut t = check(-20, 2, 3);
        t.observe(s(0), true);
        assert_eq!(t.observe(s(1), false), None);
        assert_eq!(t.observe(s(2), false), None);
        // A success in between restarts the count.
        assert_eq!(t.observe(s(3), true), None);
        assert_eq!(t.observe(s(4), false), None);
        assert_eq!(t.observe(s(5), false), None);
        let c = t.observe(s(6), false).expect("third failure in a row");
        assert_eq!(
            (c.from, c.to, c.count, c.of),
            (Status::Up, Status::Down, 3, 3)
        );
        assert_eq!(t.runs(), (0, 3));
        assert_eq!(t.observe(s(7), true), None);
        let c = t.observe(s(8), true).expect("second success in a row");
        assert_eq!((c.to, c.count, c.of), (Status::Up, 2, 2));
        assert_eq!(t.last(), Some((s(8), true)));
        assert_eq!(t.results(), 9);
    }

    #[test]
    fn weights_follow_keepalived_table() {
        let mut up = check(10, 1, 1);
        up.observe(s(0), true);
        assert_eq!(up.effect(), Effect::Weight(10));
        let mut down = check(10, 1, 1);
        down.observe(s(0), false);
        assert_eq!(down.effect(), Effect::Weight(0));
        let mut zero = check(0, 1, 1);
        assert_eq!(
            zero.effect(),
            Effect::Fault,
            "weight 0 holds Fault before the first result"
        );
        zero.observe(s(0), true);
        assert_eq!(zero.effect(), Effect::Weight(0));
        zero.observe(s(1), false);
        assert_eq!(zero.effect(), Effect::Fault);
        // Out-of-range weights are clamped.
        assert_eq!(check(1000, 1, 1).spec().weight, MAX_WEIGHT);
        assert_eq!(check(-1000, 0, 0).spec().rise, 1);
    }

    #[test]
    fn file_values_times_weight_missing_is_failure() {
        let file = |w| {
            Tracker::new(Spec {
                kind: Kind::File,
                weight: w,
                rise: 1,
                fall: 1,
                reverse: false,
            })
        };
        let mut t = file(10);
        t.observe_value(s(0), Some(3));
        assert_eq!(t.effect(), Effect::Weight(30));
        assert_eq!(t.observe_value(s(1), Some(-5)), None);
        assert_eq!(t.effect(), Effect::Weight(-50));
        t.observe_value(s(2), Some(-30));
        assert_eq!(t.effect(), Effect::Fault, "≤ -254 is Fault");
        t.observe_value(s(3), Some(1_000_000));
        assert_eq!(t.effect(), Effect::Weight(253));
        let c = t.observe_value(s(4), None).expect("missing is a failure");
        assert_eq!(c.to, Status::Down);
        assert_eq!(t.effect(), Effect::Weight(0));
        let mut z = file(0);
        z.observe_value(s(0), Some(0));
        assert_eq!(z.effect(), Effect::Weight(0));
        z.observe_value(s(1), Some(1));
        assert_eq!(z.effect(), Effect::Fault);
        z.observe_value(s(2), None);
        assert_eq!(z.effect(), Effect::Fault);
        z.observe_value(s(3), Some(i64::MIN));
        assert_eq!(z.effect(), Effect::Fault);
    }

    #[test]
    fn reverse_follows_keepalived_table() {
        let rev = |w| {
            Tracker::new(Spec {
                kind: Kind::Check,
                weight: w,
                rise: 1,
                fall: 1,
                reverse: true,
            })
        };
        // Not yet known: the worse side.
        assert_eq!(rev(10).effect(), Effect::Weight(-10));
        assert_eq!(rev(-10).effect(), Effect::Weight(0));
        assert_eq!(rev(0).effect(), Effect::Fault);
        for (w, up, down) in [
            (10, Effect::Weight(-10), Effect::Weight(0)),
            (-10, Effect::Weight(0), Effect::Weight(10)),
            (0, Effect::Fault, Effect::Weight(0)),
        ] {
            let mut t = rev(w);
            t.observe(s(0), true);
            assert_eq!(t.effect(), up, "weight {w} reverse, up");
            t.observe(s(1), false);
            assert_eq!(t.effect(), down, "weight {w} reverse, down");
        }
        let mut f = Tracker::new(Spec {
            kind: Kind::File,
            weight: 10,
            rise: 1,
            fall: 1,
            reverse: true,
        });
        f.observe_value(s(0), Some(3));
        assert_eq!(f.effect(), Effect::Weight(-30));
    }

    #[test]
    fn combine_and_clamp() {
        let mut a = check(-20, 1, 1);
        a.observe(s(0), false);
        let mut b = check(5, 1, 1);
        b.observe(s(0), true);
        assert_eq!(combine([&a, &b]), (-15, false));
        let c = check(0, 1, 1);
        assert_eq!(combine([&a, &b, &c]), (-15, true));
        assert_eq!(effective_priority(150, -15), 135);
        assert_eq!(effective_priority(250, 20), 254);
        assert_eq!(effective_priority(10, -20), 1);
        assert_eq!(effective_priority(255, -100), 255);
        assert_eq!(effective_priority(100, i32::MIN), 1);
    }

    #[test]
    fn process_patterns_match_like_keepalived_param_match() {
        let pat = |name: &str, args: Option<&[&str]>, m| ProcessPattern {
            name: name.to_string(),
            args: args.map(|a| a.iter().map(|s| s.to_string()).collect()),
            arg_match: m,
        };
        let cmd = b"/opt/kstrk\x001000\x00-v\x00";
        // Names are exact: comm, or argv[0] for a path.
        assert!(pat("kstrk", None, ArgMatch::Exact).matches(b"kstrk\n", Some(cmd)));
        assert!(!pat("kstr", None, ArgMatch::Exact).matches(b"kstrk\n", Some(cmd)));
        assert!(pat("/opt/kstrk", None, ArgMatch::Exact).matches(b"kstrk", Some(cmd)));
        assert!(!pat("/bin/kstrk", None, ArgMatch::Exact).matches(b"kstrk", Some(cmd)));
        // exact: all the arguments, no more.
        assert!(pat("kstrk", Some(&["1000", "-v"]), ArgMatch::Exact).matches(b"kstrk", Some(cmd)));
        assert!(!pat("kstrk", Some(&["1000"]), ArgMatch::Exact).matches(b"kstrk", Some(cmd)));
        assert!(!pat("kstrk", Some(&[]), ArgMatch::Exact).matches(b"kstrk", Some(cmd)));
        assert!(pat("kstrk", Some(&[]), ArgMatch::Exact).matches(b"kstrk", Some(b"kstrk\0")));
        // partial: the first ones.
        assert!(pat("kstrk", Some(&["1000"]), ArgMatch::Partial).matches(b"kstrk", Some(cmd)));
        assert!(!pat("kstrk", Some(&["10"]), ArgMatch::Partial).matches(b"kstrk", Some(cmd)));
        assert!(!pat("kstrk", Some(&["-v"]), ArgMatch::Partial).matches(b"kstrk", Some(cmd)));
        // initial: the last given may be a prefix (keepalived: "kstrk 10" matched "kstrk 1000").
        assert!(pat("kstrk", Some(&["10"]), ArgMatch::Initial).matches(b"kstrk", Some(cmd)));
        assert!(pat("/opt/kstrk", Some(&["1000", "-"]), ArgMatch::Initial).matches(b"x", Some(cmd)));
        assert!(!pat("kstrk", Some(&["1", "-v"]), ArgMatch::Initial).matches(b"kstrk", Some(cmd)));
        assert!(!pat("kstrk", Some(&["1000", "-v", "x"]), ArgMatch::Initial)
            .matches(b"kstrk", Some(cmd)));
        // No cmdline (kernel thread, zombie, unreadable): not counted when it is needed.
        assert!(!pat("kstrk", Some(&["1000"]), ArgMatch::Partial).matches(b"kstrk", Some(b"")));
        assert!(!pat("kstrk", Some(&["1000"]), ArgMatch::Partial).matches(b"kstrk", None));
    }
}
