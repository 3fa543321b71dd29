//! Reading every instance of this network namespace from its control socket, as `atropos
//! --state` finds them: one `dump` request per socket, bounded by a timeout. A socket that
//! refuses (its daemon was killed, e.g. with `kill -9`, and left it behind) or does not answer in
//! time (a stopped or wedged daemon) is an instance that is *not running*: never a Master.

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::control::client::call_within;
use crate::control::{Command, InstanceInfo, Request, Response, VERSION};

/// How long one instance may take to answer a scrape.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

/// What [`stale_limit`] adds to three advertisement intervals: scheduling on a loaded machine.
pub const STALE_MARGIN: Duration = Duration::from_millis(500);

/// The staleness rule: an answer whose loop tick (the event loop's last wake-up, as the daemon
/// reports it with its answer) is older than this counts as *not running*. Three of its own
/// advertisement intervals is how long a master's peers wait before they take over
/// (Master_Down_Interval = 3 × interval + a skew below one interval, RFC 9568 §6.1): a loop
/// silent that long no longer holds the role it reports. Plus [`STALE_MARGIN`]. An answer without
/// timers (an older daemon) is judged on a 1 s interval.
///
/// A daemon that is stopped (SIGSTOP) or wedged does not answer at all and is not running after
/// [`ANSWER_TIMEOUT`]; the tick rule covers a loop that gets to the answer only after being held
/// up inside one wake-up (a long system call, a stopped process resumed mid-iteration).
pub fn stale_limit(info: &InstanceInfo) -> Duration {
    let interval = info
        .detail
        .as_ref()
        .map(|d| d.adver_interval_ms)
        .filter(|ms| ms.is_finite() && *ms > 0.0)
        .unwrap_or(1000.0);
    Duration::from_secs_f64((interval * 3.0 / 1000.0).min(3600.0)) + STALE_MARGIN
}

/// An instance as its socket's name tells it (`vrrpd_<IF>_<VRID>[_v6].sock`): what is known of
/// it even when its daemon is dead.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SocketId {
    /// Interface.
    pub interface: String,
    /// VRID (VHID for CARP).
    pub vrid: u8,
    /// `ipv4` or `ipv6`.
    pub family: &'static str,
}

impl SocketId {
    /// The instance a control socket belongs to, from its file name; None for a name vrrpd
    /// does not make.
    pub fn from_path(p: &Path) -> Option<SocketId> {
        let name = p.file_name()?.to_str()?;
        let stem = name.strip_suffix(".sock")?.strip_prefix("vrrpd_")?;
        let (stem, family) = match stem.strip_suffix("_v6") {
            Some(s) => (s, "ipv6"),
            None => (stem, "ipv4"),
        };
        let (interface, vrid) = stem.rsplit_once('_')?;
        let vrid: u8 = vrid.parse().ok().filter(|v| *v > 0)?;
        if interface.is_empty() {
            return None;
        }
        Some(SocketId {
            interface: interface.to_string(),
            vrid,
            family,
        })
    }
}

/// What one socket answered.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The daemon answered at `at` (wall clock).
    Running {
        /// Its report (with the counters).
        info: Box<InstanceInfo>,
        /// When it answered.
        at: SystemTime,
    },
    /// Not running: why, in words (`connection refused (stale socket)`, `no answer in 1s`).
    NotRunning(String),
}

/// One instance found in the run directory.
#[derive(Debug, Clone, PartialEq)]
pub struct Scraped {
    /// From its socket's name.
    pub id: SocketId,
    /// The socket.
    pub path: PathBuf,
    /// What it answered.
    pub answer: Answer,
}

/// The control sockets under `dir` that vrrpd names, sorted. A missing directory is no
/// instance; any other error (permission denied) is returned.
pub fn sockets(dir: &Path) -> io::Result<Vec<(SocketId, PathBuf)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut v: Vec<(SocketId, PathBuf)> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| SocketId::from_path(&p).map(|id| (id, p)))
        .collect();
    v.sort();
    Ok(v)
}

/// Ask one instance for its dump.
pub fn ask(path: &Path, timeout: Duration) -> Answer {
    let req = Request {
        version: VERSION,
        cmd: Command::Dump,
        priority: None,
        from: None,
    };
    match call_within(path, &req, timeout) {
        Ok(Response {
            ok: true,
            instance: Some(info),
            ..
        }) => {
            let limit = stale_limit(&info);
            let age = info.loop_tick_secs_ago;
            if !age.is_finite() || age < 0.0 || age > limit.as_secs_f64() {
                return Answer::NotRunning(format!(
                    "stale loop tick: its event loop last woke {age:.3}s before answering \
                     (limit {:.3}s: 3 advert intervals + {:?})",
                    limit.as_secs_f64(),
                    STALE_MARGIN
                ));
            }
            Answer::Running {
                info: Box::new(info),
                at: SystemTime::now(),
            }
        }
        Ok(r) => Answer::NotRunning(format!(
            "error reply: {}",
            r.error.unwrap_or_else(|| "no instance".to_string())
        )),
        Err(e) => Answer::NotRunning(match e.kind() {
            io::ErrorKind::ConnectionRefused | io::ErrorKind::NotFound => {
                "connection refused (stale socket: the daemon is dead)".to_string()
            }
            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
                format!("no answer within {timeout:?} (stopped or wedged)")
            }
            _ => e.to_string(),
        }),
    }
}

/// Which instances to read (`atropos -i IF -v VRID`); the default is all of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Only this interface.
    pub interface: Option<String>,
    /// Only this VRID.
    pub vrid: Option<u8>,
}

impl Filter {
    /// Whether the instance is selected.
    pub fn selects(&self, id: &SocketId) -> bool {
        self.interface.as_ref().is_none_or(|i| *i == id.interface)
            && self.vrid.is_none_or(|v| v == id.vrid)
    }
}

/// Every instance under `dir` that `filter` selects, asked in turn.
pub fn scrape(dir: &Path, timeout: Duration, filter: &Filter) -> io::Result<Vec<Scraped>> {
    Ok(sockets(dir)?
        .into_iter()
        .filter(|(id, _)| filter.selects(id))
        .map(|(id, path)| {
            let answer = ask(&path, timeout);
            Scraped { id, path, answer }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_names() {
        let id = |s: &str| SocketId::from_path(Path::new(s));
        assert_eq!(
            id("/run/vrrpd/ns1/vrrpd_eth0_51.sock"),
            Some(SocketId {
                interface: "eth0".into(),
                vrid: 51,
                family: "ipv4"
            })
        );
        assert_eq!(
            id("vrrpd_br_lan_7_v6.sock"),
            Some(SocketId {
                interface: "br_lan".into(),
                vrid: 7,
                family: "ipv6"
            })
        );
        for bad in [
            "vrrpd_eth0_51.pid",
            "vrrpd_eth0_0.sock",
            "vrrpd_eth0_256.sock",
            "vrrpd__51.sock",
            "other.sock",
            "vrrpd_51.sock",
        ] {
            assert_eq!(id(bad), None, "{bad}");
        }
    }

    /// A fake daemon answering `dump` with `tick` seconds of loop tick at `interval_ms`.
    fn answer_with(dir: &Path, vrid: u8, interval_ms: f64, tick: f64) -> Answer {
        use std::io::{BufRead, BufReader, Write};
        let path = dir.join(format!("vrrpd_eth0_{vrid}.sock"));
        let l = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let t = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            let mut line = String::new();
            BufReader::new(&s).read_line(&mut line).unwrap();
            let info = InstanceInfo {
                state: "MASTER".into(),
                loop_tick_secs_ago: tick,
                detail: Some(crate::control::Detail {
                    adver_interval_ms: interval_ms,
                    ..Default::default()
                }),
                ..Default::default()
            };
            let mut out = serde_json::to_vec(&Response::ok(info)).unwrap();
            out.push(b'\n');
            (&s).write_all(&out).unwrap();
        });
        let a = ask(&path, ANSWER_TIMEOUT);
        t.join().unwrap();
        a
    }

    /// The staleness rule: a master whose loop tick is older than 3 advert intervals + 0.5 s
    /// when it answers is not running; a fresh one is.
    #[test]
    fn stale_loop_tick_is_not_running() {
        let dir = std::env::temp_dir().join(format!("vrrpd-stale-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert!(matches!(
            answer_with(&dir, 1, 100.0, 0.001),
            Answer::Running { .. }
        ));
        assert!(matches!(
            answer_with(&dir, 2, 100.0, 0.79),
            Answer::Running { .. }
        ));
        let a = answer_with(&dir, 3, 100.0, 0.81);
        assert!(
            matches!(&a, Answer::NotRunning(why) if why.contains("stale loop tick") && why.contains("limit 0.800s")),
            "{a:?}"
        );
        assert!(matches!(
            answer_with(&dir, 4, 1000.0, 3.4),
            Answer::Running { .. }
        ));
        assert!(matches!(
            answer_with(&dir, 5, 1000.0, 3.6),
            Answer::NotRunning(_)
        ));
        assert!(matches!(
            answer_with(&dir, 6, 1000.0, f64::NAN),
            Answer::NotRunning(_)
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A socket file nobody listens on (what `kill -9` leaves) is not running, at once.
    #[test]
    fn stale_socket_is_not_running() {
        let dir = std::env::temp_dir().join(format!("vrrpd-scrape-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("vrrpd_eth0_51.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        std::fs::write(dir.join("notes.txt"), "x").unwrap();
        let got = scrape(&dir, ANSWER_TIMEOUT, &Filter::default()).unwrap();
        assert_eq!(got.len(), 1);
        assert!(
            matches!(&got[0].answer, Answer::NotRunning(why) if why.contains("stale")),
            "{got:?}"
        );
        // A listener that never answers: not running after the timeout, not a hang.
        let path2 = dir.join("vrrpd_eth0_52.sock");
        let _l = std::os::unix::net::UnixListener::bind(&path2).unwrap();
        let t = std::time::Instant::now();
        let a = ask(&path2, Duration::from_millis(200));
        assert!(
            matches!(&a, Answer::NotRunning(why) if why.contains("no answer")),
            "{a:?}"
        );
        assert!(t.elapsed() < Duration::from_secs(2));
        let only52 = Filter {
            interface: Some("eth0".into()),
            vrid: Some(52),
        };
        let got = scrape(&dir, Duration::from_millis(100), &only52).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].id.vrid, 52);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(scrape(&dir, ANSWER_TIMEOUT, &Filter::default())
            .unwrap()
            .is_empty());
    }
}
