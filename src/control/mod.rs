//! The control protocol between `atropos` and a vrrpd instance.
//!
//! Transport: one Unix stream socket per instance (mode 0600, root), next to its pid file:
//! `/run/vrrpd/ns<netns inode>/vrrpd_<IF>_<VRID>[_v6].sock`. One request per connection: the client
//! writes one JSON line (at most [`MAX_REQUEST`] bytes) and reads one JSON line back.
//!
//! Request:  `{"version":1,"cmd":"state"}`; `cmd` is one of `state`, `dump`, `backup`, `resume`,
//! `reduce`, `increase`, `priority` (with `"priority":N`), `subscribe` (optionally with
//! `"from":SEQ`: the reply line, then the instance's event stream, one record a line, on the same
//! connection until either end closes; see [`events`] and [`stream`]).
//! Response: `{"version":1,"ok":true,"instance":{...}}` or `{"version":1,"ok":false,"error":"..."}`.
//! A request with another `version` gets an error naming the versions spoken.
//!
//! This module is the protocol's one home: the wire types here, the daemon's non-blocking
//! [`server`], and the [`client`] `atropos` uses.

#![forbid(unsafe_code)]

pub mod client;
pub mod events;
pub mod server;
pub mod stream;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Protocol version.
pub const VERSION: u32 = 1;
/// Longest request accepted, in bytes (a longer one gets an error reply).
pub const MAX_REQUEST: usize = 4096;

/// A request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// Protocol version, [`VERSION`].
    pub version: u32,
    /// The command.
    pub cmd: Command,
    /// New priority for [`Command::Priority`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    /// [`Command::Subscribe`]: replay from this sequence number (absent: only new records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<u64>,
}

impl Request {
    /// A request for `cmd` without arguments.
    pub fn new(cmd: Command) -> Request {
        Request {
            version: VERSION,
            cmd,
            priority: None,
            from: None,
        }
    }
}

/// Commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Command {
    /// Summary of the instance.
    State,
    /// Summary plus timers and counters.
    Dump,
    /// Force backup until `resume`.
    Backup,
    /// End a forced backup.
    Resume,
    /// Lower the priority as SIGTTIN does.
    Reduce,
    /// Raise the priority as SIGTTOU does.
    Increase,
    /// Set the priority (1-254).
    Priority,
    /// Stream the instance's events (`atropos --follow`).
    Subscribe,
}

/// A response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// Protocol version.
    pub version: u32,
    /// Whether the request was carried out.
    pub ok: bool,
    /// The error, when not ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The instance after the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<InstanceInfo>,
}

impl Response {
    /// An error reply.
    pub fn error(msg: impl Into<String>) -> Response {
        Response {
            version: VERSION,
            ok: false,
            error: Some(msg.into()),
            instance: None,
        }
    }

    /// A success reply.
    pub fn ok(info: InstanceInfo) -> Response {
        Response {
            version: VERSION,
            ok: true,
            error: None,
            instance: Some(info),
        }
    }
}

/// What an instance reports about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct InstanceInfo {
    /// Interface.
    pub interface: String,
    /// VRID.
    pub vrid: u8,
    /// "ipv4" or "ipv6".
    pub family: String,
    /// VRRP version (2 or 3).
    pub vrrp_version: u8,
    /// INIT, BACKUP, MASTER or FAULT.
    pub state: String,
    /// Current priority.
    pub priority: u8,
    /// Priority given on the command line.
    pub configured_priority: u8,
    /// Virtual addresses with prefix.
    pub vips: Vec<String>,
    /// The current master as last heard (ourselves when master).
    pub master: Option<String>,
    /// Seconds since the last transition.
    pub since_secs: f64,
    /// Why the last transition happened.
    pub reason: Option<String>,
    /// Forced backup by an operator.
    pub forced_backup: bool,
    /// Daemon PID.
    pub pid: u32,
    /// Host group status, when a member.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupInfo>,
    /// Timers and counters (dump only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Detail>,
    /// Health trackers (`--track-*`), in command-line order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub trackers: Vec<TrackerInfo>,
    /// `vrrp` or `carp` (absent from older daemons: `vrrp`).
    #[serde(default = "default_protocol")]
    pub protocol: String,
    /// Held in Backup by its host group (`-M`) until every member is ready.
    #[serde(default)]
    pub group_held: bool,
    /// Seconds since the event loop last woke up, when it answered (liveness: a loop that
    /// answers is running; see `atropos --metrics`).
    #[serde(default)]
    pub loop_tick_secs_ago: f64,
    /// Unicast peers (`--unicast-peer`); absent for multicast.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unicast: Option<UnicastInfo>,
}

/// The unicast transport of an instance: where its adverts go and what it accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct UnicastInfo {
    /// The peers, in the order adverts are sent to them.
    pub peers: Vec<String>,
    /// The source address in use (the one the peers must list); None while there is no usable
    /// one (the instance is then in Fault).
    pub source: Option<String>,
    /// `--unicast-src` as configured; None: chosen from the interface.
    pub configured_source: Option<String>,
    /// Lowest TTL / hop limit accepted from a peer.
    pub min_ttl: u8,
}

fn default_protocol() -> String {
    "vrrp".to_string()
}

/// One health tracker as an instance reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TrackerInfo {
    /// `check`, `interface`, `file` or `process`.
    pub kind: String,
    /// Its name (the interface name, the file's path).
    pub name: String,
    /// `init`, `up` or `down`.
    pub status: String,
    /// The configured weight (0: down means Fault).
    pub weight: i32,
    /// What it applies now: `"+10"`, `"-20"`, `"0"` or `"fault"`.
    pub applied: String,
    /// The last result in words (`exit 1`, `timed out after 1s`, `reads 3`).
    pub last_result: String,
    /// Seconds since the last result (none yet: absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_secs_ago: Option<f64>,
    /// Consecutive successes.
    pub successes: u32,
    /// Consecutive failures.
    pub failures: u32,
    /// RISE.
    pub rise: u32,
    /// FALL.
    pub fall: u32,
}

/// The host group an instance belongs to (`-M N`), as its shared table shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GroupInfo {
    /// Group name (`--group`, or `ns<inode>`).
    pub name: String,
    /// N: the members the group needs.
    pub size: u8,
    /// The members in the table.
    pub members: Vec<GroupMember>,
}

/// One member of a host group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GroupMember {
    /// `"eth0/51"` (`"eth0/51 v6"` for an IPv6 instance).
    pub member: String,
    /// Its pid.
    pub pid: u32,
    /// Its published state: INIT, BACKUP, READY, MASTER, FAULT, STOPPING.
    pub state: String,
    /// Whether its process still runs.
    pub alive: bool,
}

impl std::fmt::Display for UnicastInfo {
    /// `unicast peers 192.0.2.2 192.0.2.3, source 192.0.2.1, TTL at least 255`, as
    /// `atropos --dump` and the SIGUSR1 dump show it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match (&self.source, &self.configured_source) {
            (Some(s), Some(_)) => format!("{s} (--unicast-src)"),
            (Some(s), None) => s.clone(),
            (None, Some(c)) => format!("none ({c} is not a usable address)"),
            (None, None) => "none".to_string(),
        };
        write!(
            f,
            "unicast peers {}, source {source}, TTL at least {}",
            self.peers.join(" "),
            self.min_ttl
        )
    }
}

impl std::fmt::Display for GroupInfo {
    /// `g (2 of 2 members): eth0/51 MASTER, eth1/52 MASTER`, as `atropos --dump` shows it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let members: Vec<String> = self
            .members
            .iter()
            .map(|m| {
                format!(
                    "{} {}{}",
                    m.member,
                    m.state,
                    if m.alive { "" } else { " (dead)" }
                )
            })
            .collect();
        write!(
            f,
            "{} ({} of {} members): {}",
            self.name,
            self.members.len(),
            self.size,
            members.join(", ")
        )
    }
}

/// Timers and counters of an instance (nvrrp's full view).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Detail {
    /// Our Advertisement_Interval, ms.
    pub adver_interval_ms: f64,
    /// Master_Adver_Interval (learned from the master in v3), ms.
    pub master_adver_interval_ms: f64,
    /// Master_Down_Interval, ms.
    pub master_down_interval_ms: f64,
    /// Skew_Time, ms.
    pub skew_time_ms: f64,
    /// Preempt_Mode.
    pub preempt: bool,
    /// Accept_Mode.
    pub accept: bool,
    /// Accept_Mode off: the packet filter table dropping traffic to the VIPs
    /// (`ip vrrpd_eth0_51_v4`); None when there is none (Accept_Mode on, address owner).
    #[serde(default)]
    pub accept_filter: Option<String>,
    /// `nft` runs that failed after start-up (rewriting or removing that table).
    #[serde(default)]
    pub filter_errors: u64,
    /// Transitions per pair of states, "BACKUP->MASTER".
    pub transitions: BTreeMap<String, u64>,
    /// Adverts sent.
    pub adverts_sent: u64,
    /// Adverts received (accepted).
    pub adverts_rcvd: u64,
    /// Priority-0 adverts sent.
    pub prio0_sent: u64,
    /// Priority-0 adverts received.
    pub prio0_rcvd: u64,
    /// Send errors.
    pub send_errors: u64,
    /// Discards (and noted mismatches) by counter name.
    pub discards: BTreeMap<String, u64>,
    /// Per peer: VRRPv3-over-IPv4 checksum forms seen, "pseudo"/"plain".
    pub checksum_forms: BTreeMap<String, BTreeMap<String, u64>>,
    /// Hooks started, timed out (killed), failed.
    pub hooks: BTreeMap<String, u64>,
    /// How many times the Master as last heard changed to another router (ourselves included).
    #[serde(default)]
    pub master_changes: u64,
    /// Times the link monitor's netlink socket overflowed (`ENOBUFS`: the kernel dropped
    /// notifications) and the daemon re-read the interface, its trackers and the virtual MAC.
    #[serde(default)]
    pub netlink_overruns: u64,
    /// The event stream (`atropos --follow`): its counters.
    #[serde(default)]
    pub events: EventStreamInfo,
}

/// The event stream's counters, as `--dump` and the metrics show them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct EventStreamInfo {
    /// Records numbered since start (the last sequence number).
    pub recorded: u64,
    /// Subscribers served now.
    pub subscribers: u64,
    /// Subscribers dropped for taking nothing for 10 s while records waited, since start.
    pub dropped: u64,
    /// Gap records sent to subscribers that fell behind the ring, since start.
    pub gaps: u64,
}

/// Parse one request line; errors are phrased for the reply.
pub fn parse_request(line: &[u8]) -> Result<Request, String> {
    if line.len() > MAX_REQUEST {
        return Err(format!("request longer than {MAX_REQUEST} bytes"));
    }
    let v: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("malformed request: {e}"))?;
    match v.get("version").and_then(|x| x.as_u64()) {
        Some(n) if n == VERSION as u64 => {}
        Some(n) => {
            return Err(format!(
                "protocol version {n} not spoken; this vrrpd speaks {VERSION}"
            ))
        }
        None => return Err("malformed request: no version".to_string()),
    }
    let req: Request = serde_json::from_value(v).map_err(|e| format!("malformed request: {e}"))?;
    if req.cmd == Command::Priority && !matches!(req.priority, Some(1..=254)) {
        return Err("priority must be 1-254".to_string());
    }
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `Detail` from an older daemon (no `netlink_overruns`, nor the other later fields)
    /// still parses, with 0; a current one round-trips the count.
    #[test]
    fn detail_without_netlink_overruns_parses() {
        let mut v = serde_json::to_value(Detail {
            netlink_overruns: 3,
            ..Detail::default()
        })
        .unwrap();
        assert_eq!(v["netlink_overruns"], 3);
        let back: Detail = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(back.netlink_overruns, 3);
        let o = v.as_object_mut().unwrap();
        for k in [
            "netlink_overruns",
            "master_changes",
            "events",
            "filter_errors",
        ] {
            o.remove(k);
        }
        let old: Detail = serde_json::from_value(v).unwrap();
        assert_eq!(old.netlink_overruns, 0);
    }

    #[test]
    fn request_round_trip() {
        let r = Request::new(Command::Backup);
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"version":1,"cmd":"backup"}"#);
        assert_eq!(parse_request(s.as_bytes()).unwrap(), r);
        let sub = parse_request(br#"{"version":1,"cmd":"subscribe","from":7}"#).unwrap();
        assert_eq!((sub.cmd, sub.from), (Command::Subscribe, Some(7)));
    }

    #[test]
    fn bad_requests_are_errors_not_panics() {
        assert!(parse_request(b"").is_err());
        assert!(parse_request(b"{").is_err());
        assert!(parse_request(br#"{"version":2,"cmd":"state"}"#)
            .unwrap_err()
            .contains("version 2"));
        assert!(parse_request(br#"{"version":1,"cmd":"explode"}"#).is_err());
        assert!(parse_request(br#"{"version":1,"cmd":"priority","priority":255}"#).is_err());
        assert!(parse_request(&vec![b' '; MAX_REQUEST + 1])
            .unwrap_err()
            .contains("longer"));
        assert!(parse_request(&[0xff, 0xfe, 0x00]).is_err());
    }
}
