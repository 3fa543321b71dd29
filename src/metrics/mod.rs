//! The router's instances as Prometheus metrics (text exposition format 0.0.4), for
//! node_exporter's textfile collector (`atropos --metrics`) and for the HTTP [`exporter`]
//! (`atropos --metrics-listen`). Both read every control socket at each run or scrape
//! ([`scrape`]) and render the same families here.
//!
//! Names follow the Prometheus conventions: the `vrrpd_` prefix, `_total` for counters, base
//! units (seconds, Unix time). Labels: `interface`, `vrid`, `family` (`ipv4`/`ipv6`), from the
//! socket's name, on every series; `protocol` (`vrrp`/`carp`), from the daemon, on the series
//! only a running daemon can give. So `vrrpd_up` and `vrrpd_last_loop_tick_timestamp_seconds`
//! keep the same series whether the daemon runs or not.
//!
//! Liveness: an instance whose socket refuses or does not answer is `vrrpd_up 0` and has no
//! `vrrpd_state` series at all, so a dead daemon is never counted as Master; so is one whose
//! loop tick is stale (see [`scrape::stale_limit`]): its event loop answered, but had not woken
//! for longer than its peers wait before they take over.
//!
//! The state names are RFC 9568 §6.4's (Initialize, Backup, Master) plus Fault, in lower case.

pub mod exporter;
pub mod scrape;

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::{Encoder, GaugeVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder};

use self::scrape::{Answer, Scraped, SocketId};
use crate::control::InstanceInfo;

/// The states of an instance, as the control protocol names them.
const STATES: [&str; 4] = ["INIT", "BACKUP", "MASTER", "FAULT"];
/// The states of a tracker.
const TRACKER_STATES: [&str; 3] = ["init", "up", "down"];
/// Labels of the series known from the socket alone.
const ID: [&str; 3] = ["interface", "vrid", "family"];
/// Labels of the series a running daemon gives.
const INST: [&str; 4] = ["interface", "vrid", "family", "protocol"];

/// What is remembered across scrapes: each instance's last loop tick seen (Unix time), so the
/// exporter still shows when a dead daemon was last alive.
#[derive(Debug, Clone, Default)]
pub struct Liveness {
    last_tick: HashMap<SocketId, f64>,
}

impl Liveness {
    /// Note the ticks of the instances that answered; forget the sockets that are gone.
    pub fn observe(&mut self, scraped: &[Scraped]) {
        self.last_tick
            .retain(|id, _| scraped.iter().any(|s| s.id == *id));
        for s in scraped {
            if let Answer::Running { info, at } = &s.answer {
                let t = unix(*at) - info.loop_tick_secs_ago.max(0.0);
                self.last_tick.insert(s.id.clone(), t);
            }
        }
    }

    /// The last tick seen of an instance.
    pub fn last_tick(&self, id: &SocketId) -> Option<f64> {
        self.last_tick.get(id).copied()
    }
}

fn unix(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// The metric families, registered in a fresh registry for one rendering.
struct Families {
    reg: Registry,
    up: IntGaugeVec,
    tick: GaugeVec,
    state: IntGaugeVec,
    priority: IntGaugeVec,
    configured_priority: IntGaugeVec,
    forced_backup: IntGaugeVec,
    last_transition: GaugeVec,
    transitions: IntCounterVec,
    adverts_sent: IntCounterVec,
    adverts_received: IntCounterVec,
    prio0_sent: IntCounterVec,
    prio0_received: IntCounterVec,
    send_errors: IntCounterVec,
    discards: IntCounterVec,
    master_changes: IntCounterVec,
    netlink_overruns: IntCounterVec,
    hooks_started: IntCounterVec,
    hooks_failed: IntCounterVec,
    hooks_killed: IntCounterVec,
    adver_interval: GaugeVec,
    master_down_interval: GaugeVec,
    tracker_status: IntGaugeVec,
    tracker_weight: IntGaugeVec,
    group_held: IntGaugeVec,
    group_size: IntGaugeVec,
    group_member: IntGaugeVec,
    events: IntCounterVec,
    event_subscribers: IntGaugeVec,
    event_drops: IntCounterVec,
    event_gaps: IntCounterVec,
}

fn labels<'a>(base: &[&'a str], more: &[&'a str]) -> Vec<&'a str> {
    base.iter().chain(more).copied().collect()
}

impl Families {
    fn new() -> prometheus::Result<Families> {
        let reg = Registry::new();
        fn add<C: prometheus::core::Collector + Clone + 'static>(
            reg: &Registry,
            c: C,
        ) -> prometheus::Result<C> {
            reg.register(Box::new(c.clone()))?;
            Ok(c)
        }
        let ig = |name: &str, help: &str, l: &[&str]| {
            add(&reg, IntGaugeVec::new(Opts::new(name, help), l)?)
        };
        let g = |name: &str, help: &str, l: &[&str]| {
            add(&reg, GaugeVec::new(Opts::new(name, help), l)?)
        };
        let c = |name: &str, help: &str, l: &[&str]| {
            add(&reg, IntCounterVec::new(Opts::new(name, help), l)?)
        };
        Ok(Families {
            up: ig(
                "vrrpd_up",
                "1 if the instance's daemon answered on its control socket, 0 if not (stale socket of a dead daemon, or no answer in time).",
                &ID,
            )?,
            tick: g(
                "vrrpd_last_loop_tick_timestamp_seconds",
                "Unix time of the instance's last event-loop wake-up, as last seen.",
                &ID,
            )?,
            state: ig(
                "vrrpd_state",
                "1 for the state the instance is in (init, backup, master, fault); absent when its daemon is not running.",
                &labels(&INST, &["state"]),
            )?,
            priority: ig(
                "vrrpd_priority",
                "Effective priority (configured priority plus tracker weights; CARP: advskew).",
                &INST,
            )?,
            configured_priority: ig(
                "vrrpd_configured_priority",
                "Priority given on the command line or by atropos (CARP: advskew).",
                &INST,
            )?,
            forced_backup: ig(
                "vrrpd_forced_backup",
                "1 while an operator holds the instance in backup (atropos --backup).",
                &INST,
            )?,
            last_transition: g(
                "vrrpd_last_transition_timestamp_seconds",
                "Unix time of the instance's last state transition.",
                &INST,
            )?,
            transitions: c(
                "vrrpd_transitions_total",
                "State transitions, by pair of states.",
                &labels(&INST, &["from", "to"]),
            )?,
            adverts_sent: c(
                "vrrpd_adverts_sent_total",
                "Advertisements sent (priority 0 included).",
                &INST,
            )?,
            adverts_received: c(
                "vrrpd_adverts_received_total",
                "Advertisements received that passed every check.",
                &INST,
            )?,
            prio0_sent: c(
                "vrrpd_priority_zero_sent_total",
                "Priority-0 advertisements sent (a Master leaving).",
                &INST,
            )?,
            prio0_received: c(
                "vrrpd_priority_zero_received_total",
                "Priority-0 advertisements received.",
                &INST,
            )?,
            send_errors: c(
                "vrrpd_send_errors_total",
                "Advertisements that could not be sent.",
                &INST,
            )?,
            discards: c(
                "vrrpd_discards_total",
                "Received packets discarded (or noted), by reason.",
                &labels(&INST, &["reason"]),
            )?,
            master_changes: c(
                "vrrpd_master_changes_total",
                "Times the Master as last heard changed to another router (this one included).",
                &INST,
            )?,
            netlink_overruns: c(
                "vrrpd_netlink_overruns_total",
                "Times the link monitor's netlink socket overflowed (ENOBUFS, notifications lost) and the interface was read again.",
                &INST,
            )?,
            hooks_started: c(
                "vrrpd_hooks_started_total",
                "Hook scripts run.",
                &INST,
            )?,
            hooks_failed: c(
                "vrrpd_hooks_failed_total",
                "Hook scripts that failed (non-zero exit, signal, or could not start).",
                &INST,
            )?,
            hooks_killed: c(
                "vrrpd_hooks_killed_total",
                "Hook scripts killed at the script timeout (or whose leftover processes were).",
                &INST,
            )?,
            adver_interval: g(
                "vrrpd_advertisement_interval_seconds",
                "The instance's own Advertisement_Interval.",
                &INST,
            )?,
            master_down_interval: g(
                "vrrpd_master_down_interval_seconds",
                "Master_Down_Interval now in force.",
                &INST,
            )?,
            tracker_status: ig(
                "vrrpd_tracker_status",
                "1 for the status a health tracker is in (init, up, down).",
                &labels(&INST, &["kind", "name", "status"]),
            )?,
            tracker_weight: ig(
                "vrrpd_tracker_weight",
                "A health tracker's configured weight (0: down means fault).",
                &labels(&INST, &["kind", "name"]),
            )?,
            group_held: ig(
                "vrrpd_group_held",
                "1 while the host group (-M) holds the instance in backup.",
                &INST,
            )?,
            group_size: ig(
                "vrrpd_group_size",
                "Members the instance's host group needs (-M N).",
                &labels(&INST, &["group"]),
            )?,
            group_member: ig(
                "vrrpd_group_member_state",
                "1 for each member of the instance's host group, with its published state; alive is 0 for a dead member.",
                &labels(&INST, &["group", "member", "state", "alive"]),
            )?,
            events: c(
                "vrrpd_events_total",
                "Records numbered in the instance's event stream (atropos --follow) since start.",
                &INST,
            )?,
            event_subscribers: ig(
                "vrrpd_event_subscribers",
                "Event-stream subscribers (atropos --follow) served now.",
                &INST,
            )?,
            event_drops: c(
                "vrrpd_event_subscribers_dropped_total",
                "Event-stream subscribers dropped for taking nothing for 10 s while records waited.",
                &INST,
            )?,
            event_gaps: c(
                "vrrpd_event_gaps_total",
                "Gap records sent to event-stream subscribers that fell behind (events they lost).",
                &INST,
            )?,
            reg,
        })
    }
}

fn lower(s: &str) -> String {
    s.to_ascii_lowercase()
}

/// Render the instances: the text a textfile collector reads or an HTTP scrape returns.
pub fn render(scraped: &[Scraped], live: &Liveness) -> prometheus::Result<String> {
    let f = Families::new()?;
    for s in scraped {
        let vrid = s.id.vrid.to_string();
        let id = [s.id.interface.as_str(), vrid.as_str(), s.id.family];
        if let Some(t) = live.last_tick(&s.id) {
            f.tick.with_label_values(&id).set(t);
        }
        match &s.answer {
            Answer::Running { info, at } => {
                f.up.with_label_values(&id).set(1);
                instance(&f, &id, info, unix(*at));
            }
            Answer::NotRunning(_) => f.up.with_label_values(&id).set(0),
        }
    }
    let mut out = Vec::new();
    TextEncoder::new().encode(&f.reg.gather(), &mut out)?;
    String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
}

fn v(x: &[String]) -> Vec<&str> {
    x.iter().map(String::as_str).collect()
}

fn instance(f: &Families, id: &[&str; 3], i: &InstanceInfo, now: f64) {
    let proto = if i.protocol.is_empty() {
        "vrrp"
    } else {
        i.protocol.as_str()
    };
    let l: Vec<&str> = id.iter().copied().chain([proto]).collect();
    let with = |more: &[&str]| -> Vec<String> {
        l.iter()
            .copied()
            .chain(more.iter().copied())
            .map(str::to_string)
            .collect()
    };
    for st in STATES {
        let ls = with(&[&lower(st)]);
        f.state
            .with_label_values(&v(&ls))
            .set(i64::from(i.state == st));
    }
    f.priority.with_label_values(&l).set(i64::from(i.priority));
    f.configured_priority
        .with_label_values(&l)
        .set(i64::from(i.configured_priority));
    f.forced_backup
        .with_label_values(&l)
        .set(i64::from(i.forced_backup));
    f.last_transition
        .with_label_values(&l)
        .set(now - i.since_secs.max(0.0));
    f.group_held
        .with_label_values(&l)
        .set(i64::from(i.group_held));
    for t in &i.trackers {
        for st in TRACKER_STATES {
            let ls = with(&[&t.kind, &t.name, st]);
            f.tracker_status
                .with_label_values(&v(&ls))
                .set(i64::from(t.status == st));
        }
        let ls = with(&[&t.kind, &t.name]);
        f.tracker_weight
            .with_label_values(&v(&ls))
            .set(i64::from(t.weight));
    }
    if let Some(g) = &i.group {
        let ls = with(&[&g.name]);
        f.group_size
            .with_label_values(&v(&ls))
            .set(i64::from(g.size));
        for m in &g.members {
            let ls = with(&[
                &g.name,
                &m.member,
                &lower(&m.state),
                if m.alive { "1" } else { "0" },
            ]);
            f.group_member.with_label_values(&v(&ls)).set(1);
        }
    }
    let Some(d) = &i.detail else { return };
    for from in STATES {
        for to in STATES {
            if from == to {
                continue;
            }
            let n = d
                .transitions
                .get(&format!("{from}->{to}"))
                .copied()
                .unwrap_or(0);
            let ls = with(&[&lower(from), &lower(to)]);
            f.transitions.with_label_values(&v(&ls)).inc_by(n);
        }
    }
    f.adverts_sent.with_label_values(&l).inc_by(d.adverts_sent);
    f.adverts_received
        .with_label_values(&l)
        .inc_by(d.adverts_rcvd);
    f.prio0_sent.with_label_values(&l).inc_by(d.prio0_sent);
    f.prio0_received.with_label_values(&l).inc_by(d.prio0_rcvd);
    f.send_errors.with_label_values(&l).inc_by(d.send_errors);
    for (reason, n) in &d.discards {
        let ls = with(&[reason]);
        f.discards.with_label_values(&v(&ls)).inc_by(*n);
    }
    f.master_changes
        .with_label_values(&l)
        .inc_by(d.master_changes);
    f.netlink_overruns
        .with_label_values(&l)
        .inc_by(d.netlink_overruns);
    let hook = |k: &str| d.hooks.get(k).copied().unwrap_or(0);
    f.hooks_started
        .with_label_values(&l)
        .inc_by(hook("started"));
    f.hooks_failed.with_label_values(&l).inc_by(hook("failed"));
    f.hooks_killed
        .with_label_values(&l)
        .inc_by(hook("timed_out"));
    f.adver_interval
        .with_label_values(&l)
        .set(d.adver_interval_ms / 1000.0);
    f.master_down_interval
        .with_label_values(&l)
        .set(d.master_down_interval_ms / 1000.0);
    f.events.with_label_values(&l).inc_by(d.events.recorded);
    f.event_subscribers
        .with_label_values(&l)
        .set(i64::try_from(d.events.subscribers).unwrap_or(i64::MAX));
    f.event_drops.with_label_values(&l).inc_by(d.events.dropped);
    f.event_gaps.with_label_values(&l).inc_by(d.events.gaps);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{Detail, TrackerInfo};
    use std::path::PathBuf;
    use std::time::Duration;

    fn id(vrid: u8) -> SocketId {
        SocketId {
            interface: "eth0".into(),
            vrid,
            family: "ipv4",
        }
    }

    fn running(vrid: u8, state: &str) -> Scraped {
        let mut d = Detail {
            adverts_sent: 7,
            adver_interval_ms: 1000.0,
            master_changes: 2,
            netlink_overruns: 4,
            ..Detail::default()
        };
        d.transitions.insert("BACKUP->MASTER".into(), 1);
        d.discards.insert("bad_ttl".into(), 3);
        d.hooks.insert("timed_out".into(), 1);
        Scraped {
            id: id(vrid),
            path: PathBuf::from("x"),
            answer: Answer::Running {
                info: Box::new(InstanceInfo {
                    interface: "eth0".into(),
                    vrid,
                    family: "ipv4".into(),
                    protocol: "vrrp".into(),
                    state: state.into(),
                    priority: 90,
                    configured_priority: 100,
                    since_secs: 10.0,
                    loop_tick_secs_ago: 0.5,
                    detail: Some(d),
                    trackers: vec![TrackerInfo {
                        kind: "check".into(),
                        name: "web \"x\"".into(),
                        status: "down".into(),
                        weight: -10,
                        ..TrackerInfo::default()
                    }],
                    ..InstanceInfo::default()
                }),
                at: UNIX_EPOCH + Duration::from_secs(1000),
            },
        }
    }

    fn rendered(s: &[Scraped]) -> String {
        let mut live = Liveness::default();
        live.observe(s);
        render(s, &live).unwrap()
    }

    #[test]
    fn a_running_master() {
        let t = rendered(&[running(51, "MASTER")]);
        let l = r#"{family="ipv4",interface="eth0",protocol="vrrp",vrid="51""#;
        for want in [
            r#"vrrpd_up{family="ipv4",interface="eth0",vrid="51"} 1"#.to_string(),
            r#"vrrpd_last_loop_tick_timestamp_seconds{family="ipv4",interface="eth0",vrid="51"} 999.5"#.to_string(),
            r#"vrrpd_state{family="ipv4",interface="eth0",protocol="vrrp",state="master",vrid="51"} 1"#.to_string(),
            r#"vrrpd_state{family="ipv4",interface="eth0",protocol="vrrp",state="backup",vrid="51"} 0"#.to_string(),
            format!(r#"vrrpd_priority{l}}} 90"#),
            format!(r#"vrrpd_configured_priority{l}}} 100"#),
            format!(r#"vrrpd_last_transition_timestamp_seconds{l}}} 990"#),
            r#"vrrpd_transitions_total{family="ipv4",from="backup",interface="eth0",protocol="vrrp",to="master",vrid="51"} 1"#.to_string(),
            r#"vrrpd_transitions_total{family="ipv4",from="master",interface="eth0",protocol="vrrp",to="init",vrid="51"} 0"#.to_string(),
            format!(r#"vrrpd_adverts_sent_total{l}}} 7"#),
            r#"vrrpd_discards_total{family="ipv4",interface="eth0",protocol="vrrp",reason="bad_ttl",vrid="51"} 3"#.to_string(),
            format!(r#"vrrpd_master_changes_total{l}}} 2"#),
            format!(r#"vrrpd_netlink_overruns_total{l}}} 4"#),
            format!(r#"vrrpd_hooks_killed_total{l}}} 1"#),
            format!(r#"vrrpd_advertisement_interval_seconds{l}}} 1"#),
            r#"name="web \"x\"",protocol="vrrp",status="down",vrid="51"} 1"#.to_string(),
            "# TYPE vrrpd_adverts_sent_total counter".to_string(),
            "# TYPE vrrpd_state gauge".to_string(),
        ] {
            assert!(t.contains(&want), "missing {want}\n{t}");
        }
    }

    /// A dead instance: `vrrpd_up 0`, no state series (never Master), its last tick still shown
    /// when it was seen alive before.
    #[test]
    fn a_dead_instance_is_never_master() {
        let mut live = Liveness::default();
        live.observe(&[running(51, "MASTER")]);
        let dead = Scraped {
            id: id(51),
            path: PathBuf::from("x"),
            answer: Answer::NotRunning("stale".into()),
        };
        live.observe(std::slice::from_ref(&dead));
        let t = render(std::slice::from_ref(&dead), &live).unwrap();
        assert!(
            t.contains(r#"vrrpd_up{family="ipv4",interface="eth0",vrid="51"} 0"#),
            "{t}"
        );
        assert!(!t.contains("vrrpd_state"), "{t}");
        assert!(t.contains("vrrpd_last_loop_tick_timestamp_seconds"), "{t}");
        // Never seen alive (a fresh atropos): no tick.
        let t = rendered(&[dead]);
        assert!(!t.contains("vrrpd_last_loop_tick"), "{t}");
        // Gone: forgotten.
        live.observe(&[]);
        assert!(live.last_tick(&id(51)).is_none());
        assert_eq!(render(&[], &live).unwrap(), "");
    }
}
