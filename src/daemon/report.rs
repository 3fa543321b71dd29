//! Reporting: what an instance tells atropos (`state`, `dump`) and the SIGUSR1 state dump.

use std::time::Duration;

use crate::control::{Detail, InstanceInfo, UnicastInfo};
use crate::proto::fsm::State;
use crate::proto::Family;
use crate::sys::clock;
use crate::vlog;

use super::Daemon;

impl Daemon {
    pub(super) fn dump(&self) {
        let info = self.info(true);
        vlog!(
            Info,
            "{}: state {} since {:.1}s priority {} master {} reason: {}",
            self.tag(),
            info.state,
            info.since_secs,
            info.priority,
            info.master.as_deref().unwrap_or("-"),
            info.reason.as_deref().unwrap_or("-")
        );
        if let Some(u) = &info.unicast {
            vlog!(Info, "{}: {}", self.tag(), u);
        }
        vlog!(Info, "{}: quiet Backup {}", self.tag(), self.quiet_text());
        if let Some(d) = info.detail {
            let discards: Vec<String> = d
                .discards
                .iter()
                .filter(|(_, n)| **n > 0)
                .map(|(k, n)| format!("{k}={n}"))
                .collect();
            let transitions: Vec<String> = d
                .transitions
                .iter()
                .map(|(k, n)| format!("{k}={n}"))
                .collect();
            vlog!(
                Info,
                "{}: adverts_sent={} adverts_rcvd={} prio0_sent={} prio0_rcvd={} send_errors={} netlink_overruns={} transitions: {} discards: {}",
                self.tag(),
                d.adverts_sent,
                d.adverts_rcvd,
                d.prio0_sent,
                d.prio0_rcvd,
                d.send_errors,
                d.netlink_overruns,
                if transitions.is_empty() { "-".to_string() } else { transitions.join(" ") },
                if discards.is_empty() { "-".to_string() } else { discards.join(" ") }
            );
            vlog!(
                Info,
                "{}: adver_interval={:.1}ms master_adver_interval={:.1}ms master_down_interval={:.3}ms skew_time={:.3}ms hooks: {:?}",
                self.tag(),
                d.adver_interval_ms,
                d.master_adver_interval_ms,
                d.master_down_interval_ms,
                d.skew_time_ms,
                d.hooks
            );
            if let Some(t) = &d.accept_filter {
                vlog!(
                    Info,
                    "{}: Accept_Mode off: packet filter table {t} filter_errors={}",
                    self.tag(),
                    d.filter_errors
                );
            }
            for t in &info.trackers {
                vlog!(
                    Info,
                    "{}: {} \"{}\" {} weight {} applied {} last: {} ({} ok, {} failed in a row)",
                    self.tag(),
                    t.kind,
                    t.name,
                    t.status,
                    t.weight,
                    t.applied,
                    t.last_result,
                    t.successes,
                    t.failures
                );
            }
            for (peer, forms) in &d.checksum_forms {
                let f: Vec<String> = forms
                    .iter()
                    .map(|(k, n)| format!("csum_form_{k}={n}"))
                    .collect();
                vlog!(Info, "{}: peer {peer}: {}", self.tag(), f.join(" "));
            }
        }
    }

    /// What the instance reports to atropos and in dumps.
    pub fn info(&self, detail: bool) -> InstanceInfo {
        let now = clock::now();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let detail = detail.then(|| {
            let c = self.inst.counters();
            let mut d = Detail {
                adver_interval_ms: f64::from(self.s.interval_cs) * 10.0,
                master_adver_interval_ms: ms(self.inst.master_adver_interval()),
                master_down_interval_ms: ms(self.inst.master_down_interval()),
                skew_time_ms: ms(self.inst.skew_time()),
                preempt: self.s.preempt,
                accept: self.s.accept,
                accept_filter: self.filter.as_ref().map(|f| f.table()),
                filter_errors: self.filter_errors,
                adverts_sent: c.adverts_sent(),
                adverts_rcvd: c.adverts_rcvd(),
                prio0_sent: c.prio0_sent(),
                prio0_rcvd: c.prio0_rcvd(),
                send_errors: c.send_errors(),
                master_changes: c.master_changes(),
                netlink_overruns: self.netlink_overruns,
                ..Detail::default()
            };
            for from in State::ALL {
                for to in State::ALL {
                    let n = c.transitions(from, to);
                    if n > 0 {
                        d.transitions
                            .insert(format!("{}->{}", State::name(from), State::name(to)), n);
                    }
                }
            }
            for (reason, n) in c.discard_table() {
                d.discards.insert(reason.name().to_string(), n);
            }
            for p in c.checksum_forms() {
                let mut m = std::collections::BTreeMap::new();
                m.insert("pseudo".to_string(), p.pseudo);
                m.insert("plain".to_string(), p.plain);
                d.checksum_forms.insert(p.peer.to_string(), m);
            }
            d.hooks.insert("started".into(), self.hooks.started);
            d.hooks.insert("timed_out".into(), self.hooks.timed_out);
            d.hooks.insert("failed".into(), self.hooks.failed);
            d.events = self.io.stream.info();
            d
        });
        InstanceInfo {
            interface: self.s.interface.clone(),
            vrid: self.s.vrid,
            family: if self.s.family == Family::V4 {
                "ipv4"
            } else {
                "ipv6"
            }
            .to_string(),
            vrrp_version: self.s.version.number(),
            state: State::name(self.inst.state()).to_string(),
            priority: self.inst.priority(),
            configured_priority: self.s.priority,
            vips: self.s.vips.iter().map(|v| v.to_string()).collect(),
            master: self.inst.master_addr().map(|a| a.to_string()),
            since_secs: now.saturating_sub(self.inst.since()).as_secs_f64(),
            reason: self.inst.last_reason(),
            forced_backup: self.inst.forced_backup(),
            pid: std::process::id(),
            group: self.group.as_ref().map(|g| g.describe()),
            detail,
            trackers: self.tracker_info(now),
            protocol: if self.inst.is_carp() { "carp" } else { "vrrp" }.to_string(),
            group_held: self.inst.group_held(),
            loop_tick_secs_ago: now.saturating_sub(self.last_wake).as_secs_f64(),
            unicast: self.s.unicast.as_ref().map(|u| UnicastInfo {
                peers: u.peers.iter().map(|p| p.to_string()).collect(),
                source: self.primary.map(|a| a.to_string()),
                configured_source: u.src.map(|a| a.to_string()),
                min_ttl: u.min_ttl,
            }),
        }
    }

    fn tracker_info(&self, now: Duration) -> Vec<crate::control::TrackerInfo> {
        use crate::proto::track::Effect;
        self.trackers
            .entries()
            .iter()
            .map(|e| {
                let t = &e.tracker;
                let sp = t.spec();
                let (ok, fail) = t.runs();
                crate::control::TrackerInfo {
                    kind: sp.kind.name().to_string(),
                    name: e.name.clone(),
                    status: t.status().name().to_string(),
                    weight: sp.weight,
                    applied: match t.effect() {
                        Effect::Fault => "fault".to_string(),
                        Effect::Weight(w) if w > 0 => format!("+{w}"),
                        Effect::Weight(w) => w.to_string(),
                    },
                    last_result: e.detail.clone(),
                    last_secs_ago: t.last().map(|(at, _)| now.saturating_sub(at).as_secs_f64()),
                    successes: ok,
                    failures: fail,
                    rise: sp.rise,
                    fall: sp.fall,
                }
            })
            .collect()
    }

    pub(super) fn vips_text(&self) -> String {
        self.s
            .vips
            .iter()
            .map(|v| v.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }
}
