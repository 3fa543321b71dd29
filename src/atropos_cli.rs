//! `atropos`: the operators' control tool (Atropos 0.70's verbs and more). It finds the instances
//! of this network namespace from their control sockets under the run directory and talks to
//! each with the protocol of [`crate::control`].
//!
//! Exit status for scripts: 0 success, 1 not running / error, 2 bad command line; with
//! `--state --quiet` the state: 0 master, 3 backup (or init), 4 fault. Without `--quiet`, a
//! listing is a success (0) whatever the states, so `set -e` scripts can show the state.

mod metrics;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use clap::{ArgGroup, CommandFactory, Parser};

use crate::control::client::call;
use crate::control::{Command as Cmd, InstanceInfo, Request, Response, VERSION};

mod follow;

/// `atropos` command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "atropos",
    version,
    disable_version_flag = true,
    about = "Show and control the vrrpd instances of this router (this network namespace)",
    group(ArgGroup::new("verb").args(["state", "dump", "count", "who_has", "backup", "resume", "reduce", "increase", "set_priority", "metrics", "metrics_listen", "follow"])),
    group(ArgGroup::new("follow_quiet").args(["follow", "quiet"]).multiple(false)),
    after_help = "Exit status: 0 ok, 1 not running or error, 2 bad command line.\nWith --state --quiet, the state: 0 master, 3 backup (or init), 4 fault, 1 not running.\n\nEVENTS (--follow): one line per event of every instance (start, transition, priority, tracker,\nhost group hold and release, exit), in each instance's order, numbered from #1 at daemon start\n(JSON: \"seq\") with a run id new at every start. \"gap\" names numbers a slow reader missed;\n\"exited (lost ...)\" a daemon that died without an exit event (SIGKILL, crash). Instances that\nstart or restart later are followed from their first event. --json: one JSON object per line."
)]
pub struct Args {
    /// Show every instance: interface, VRID, state, priority, VIPs, master, since when (default).
    #[arg(short = 's', long = "state")]
    pub state: bool,
    /// Full dump of the instances: timers and counters.
    #[arg(long = "dump")]
    pub dump: bool,
    /// Count the instances by state.
    #[arg(long = "count")]
    pub count: bool,
    /// The instance that holds a virtual address.
    #[arg(long = "who-has", value_name = "VIP")]
    pub who_has: Option<IpAddr>,
    /// Force backup; the instance stays backup until --resume.
    #[arg(short = 'b', long = "backup")]
    pub backup: bool,
    /// End a forced backup.
    #[arg(long = "resume")]
    pub resume: bool,
    /// Lower the priority by 10 (or to -z), as SIGTTIN.
    #[arg(short = 'r', long = "reduce")]
    pub reduce: bool,
    /// Raise the priority by 10 (or to -x), as SIGTTOU.
    #[arg(long = "increase")]
    pub increase: bool,
    /// Set the priority (1-254).
    #[arg(long = "priority", value_name = "PRIO", value_parser = clap::value_parser!(u8).range(1..=254))]
    pub set_priority: Option<u8>,
    /// Follow the instances: one line per event (start, transition, priority, tracker, host
    /// group, exit) with a per-instance sequence number, until interrupted; picks up new and
    /// restarted instances (see EVENTS).
    #[arg(short = 'f', long = "follow")]
    pub follow: bool,
    /// Every instance in the Prometheus text format, for node_exporter's textfile collector
    /// (see man atropos, METRICS); a dead daemon's instance is vrrpd_up 0, never master.
    #[arg(long = "metrics", conflicts_with_all = ["json", "quiet"])]
    pub metrics: bool,
    /// Serve the same metrics over HTTP on ADDR:PORT at /metrics, reading every instance at
    /// each scrape (a long-running exporter, e.g. 127.0.0.1:9650).
    #[arg(long = "metrics-listen", value_name = "ADDR:PORT", conflicts_with_all = ["json", "quiet"])]
    pub metrics_listen: Option<SocketAddr>,
    /// Only the instances on this interface.
    #[arg(short = 'i', long = "interface", value_name = "IF")]
    pub interface: Option<String>,
    /// Only the instances with this VRID.
    #[arg(short = 'v', long = "vrid", value_name = "VRID", value_parser = clap::value_parser!(u8).range(1..))]
    pub vrid: Option<u8>,
    /// Machine-readable output (JSON).
    #[arg(long = "json")]
    pub json: bool,
    /// No output; the exit status tells the state (with --state).
    #[arg(short = 'q', long = "quiet")]
    pub quiet: bool,
    /// Run directory (default /run/vrrpd, or $VRRPD_RUN_DIR).
    #[arg(long = "run-dir", value_name = "DIR", hide = true)]
    pub run_dir: Option<PathBuf>,
    /// Print the version.
    #[arg(short = 'V', long = "version", action = clap::ArgAction::Version)]
    pub version: Option<bool>,
}

/// The clap command (for man pages and completions).
pub fn command() -> clap::Command {
    Args::command()
}

/// The directory holding this namespace's sockets.
fn socket_dir(run_dir: Option<&Path>) -> std::io::Result<PathBuf> {
    let base = match run_dir {
        Some(d) => d.to_path_buf(),
        None => std::env::var_os("VRRPD_RUN_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/run/vrrpd")),
    };
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata("/proc/self/ns/net")?.ino();
    Ok(base.join(format!("ns{ino}")))
}

fn state_code(state: &str) -> u8 {
    match state {
        "MASTER" => 0,
        "FAULT" => 4,
        _ => 3,
    }
}

/// Run atropos; returns the exit status.
pub fn run(args: Args) -> u8 {
    if args.follow {
        return follow::run(&args);
    }
    let dir = match socket_dir(args.run_dir.as_deref()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("atropos: cannot find this network namespace: {e}");
            return 1;
        }
    };
    let filter = crate::metrics::scrape::Filter {
        interface: args.interface.clone(),
        vrid: args.vrid,
    };
    if let Some(addr) = args.metrics_listen {
        return metrics::listen(addr, &dir, filter);
    }
    if args.metrics {
        return metrics::print(&dir, filter);
    }
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !args.quiet {
                if args.json {
                    println!("[]");
                } else {
                    println!("{}", none_running(&args));
                }
            }
            return 1;
        }
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            eprintln!(
                "atropos: permission denied on {}: run as root",
                dir.display()
            );
            return 1;
        }
        Err(e) => {
            eprintln!("atropos: {}: {e}", dir.display());
            return 1;
        }
    };
    let mut socks: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sock"))
        .collect();
    socks.sort();

    let (cmd, priority) = if args.backup {
        (Cmd::Backup, None)
    } else if args.resume {
        (Cmd::Resume, None)
    } else if args.reduce {
        (Cmd::Reduce, None)
    } else if args.increase {
        (Cmd::Increase, None)
    } else if let Some(p) = args.set_priority {
        (Cmd::Priority, Some(p))
    } else if args.dump {
        (Cmd::Dump, None)
    } else {
        (Cmd::State, None)
    };
    let mut infos: Vec<InstanceInfo> = Vec::new();
    let mut errors = 0;
    for sock in &socks {
        // Find the instance first (state), to filter before changing anything.
        let probe = Request {
            version: VERSION,
            cmd: Cmd::State,
            priority: None,
            from: None,
        };
        let info = match call(sock, &probe) {
            Ok(Response {
                ok: true,
                instance: Some(i),
                ..
            }) => i,
            Ok(r) => {
                errors += 1;
                eprintln!(
                    "atropos: {}: {}",
                    sock.display(),
                    r.error.unwrap_or_default()
                );
                continue;
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                eprintln!(
                    "atropos: permission denied on {}: run as root",
                    sock.display()
                );
                return 1;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
                ) =>
            {
                // A stale socket left by a crashed instance.
                if !args.quiet && !args.json {
                    eprintln!("atropos: skipping stale socket {}", sock.display());
                }
                continue;
            }
            Err(e) => {
                errors += 1;
                eprintln!("atropos: {}: {e}", sock.display());
                continue;
            }
        };
        if args
            .interface
            .as_ref()
            .is_some_and(|i| *i != info.interface)
            || args.vrid.is_some_and(|v| v != info.vrid)
        {
            continue;
        }
        if let Some(vip) = args.who_has {
            // Holds it: a master configured with it (backups only have it configured).
            if info.state != "MASTER"
                || !info
                    .vips
                    .iter()
                    .any(|v| v.split('/').next().and_then(|a| a.parse().ok()) == Some(vip))
            {
                continue;
            }
        }
        let info = if cmd == Cmd::State {
            info
        } else {
            match call(
                sock,
                &Request {
                    version: VERSION,
                    cmd,
                    priority,
                    from: None,
                },
            ) {
                Ok(Response {
                    ok: true,
                    instance: Some(i),
                    ..
                }) => i,
                Ok(r) => {
                    errors += 1;
                    eprintln!(
                        "atropos: {}/{}: {}",
                        info.interface,
                        info.vrid,
                        r.error.unwrap_or_default()
                    );
                    continue;
                }
                Err(e) => {
                    errors += 1;
                    eprintln!("atropos: {}/{}: {e}", info.interface, info.vrid);
                    continue;
                }
            }
        };
        infos.push(info);
    }
    if infos.is_empty() {
        // After an error, the error said it all: no second line that nothing runs.
        if !args.quiet && (errors == 0 || args.json) {
            if args.json {
                println!("[]");
            } else if let Some(vip) = args.who_has {
                println!("no instance holds {vip}");
            } else {
                println!("{}", none_running(&args));
            }
        }
        return 1;
    }
    if !args.quiet {
        if args.count {
            let mut counts = std::collections::BTreeMap::new();
            for i in &infos {
                *counts.entry(i.state.clone()).or_insert(0u32) += 1;
            }
            if args.json {
                println!("{}", serde_json::to_string(&counts).unwrap_or_default());
            } else {
                for (s, n) in counts {
                    println!("{s:<7} {n}");
                }
            }
        } else if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&infos).unwrap_or_default()
            );
        } else {
            print!("{}", table(&infos, args.dump));
        }
    }
    if errors > 0 {
        return 1;
    }
    if args.quiet && cmd == Cmd::State && !args.count && args.who_has.is_none() {
        // The state of the instance (worst first when several are selected).
        return infos
            .iter()
            .map(|i| state_code(&i.state))
            .max()
            .unwrap_or(1);
    }
    0
}

/// What `--state` says when no instance matches: which ones it looked for, and where.
fn none_running(args: &Args) -> String {
    let which = match (&args.interface, args.vrid) {
        (Some(i), Some(v)) => format!(" {i}/{v}"),
        (Some(i), None) => format!(" on {i}"),
        (None, Some(v)) => format!(" with VRID {v}"),
        (None, None) => String::new(),
    };
    format!("no vrrpd instance{which} running in this network namespace")
}

/// The `--state` / `--dump` table; columns as wide as their widest value.
pub fn table(infos: &[InstanceInfo], dump: bool) -> String {
    use std::fmt::Write as _;
    let mut o = String::new();
    let w_if = infos
        .iter()
        .map(|i| i.interface.len())
        .max()
        .unwrap_or(0)
        .max(10);
    let w_master = infos
        .iter()
        .map(|i| i.master.as_deref().map_or(1, str::len))
        .max()
        .unwrap_or(0)
        .max(16);
    let since: Vec<String> = infos
        .iter()
        .map(|i| format!("{:.1}s", i.since_secs))
        .collect();
    let w_since = since.iter().map(String::len).max().unwrap_or(0).max(9);
    let _ = writeln!(
        o,
        "{:<w_if$} {:>4} {:<4} {:<7} {:>4} {:<w_master$} {:>w_since$}  VIPS",
        "IFACE", "VRID", "FAM", "STATE", "PRIO", "MASTER", "SINCE"
    );
    for (i, since) in infos.iter().zip(&since) {
        let _ = writeln!(
            o,
            "{:<w_if$} {:>4} {:<4} {:<7} {:>4} {:<w_master$} {:>w_since$}  {}{}",
            i.interface,
            i.vrid,
            if i.family == "ipv6" { "v6" } else { "v4" },
            i.state,
            i.priority,
            i.master.as_deref().unwrap_or("-"),
            since,
            i.vips.join(" "),
            if i.forced_backup {
                "  (forced backup)"
            } else {
                ""
            }
        );
        if dump {
            if let Some(d) = &i.detail {
                dump_lines(&mut o, i, d);
            }
        }
    }
    o
}

fn counts(m: &std::collections::BTreeMap<String, u64>, nonzero: bool) -> String {
    let v: Vec<String> = m
        .iter()
        .filter(|(_, v)| !nonzero || **v > 0)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    if v.is_empty() {
        "-".to_string()
    } else {
        v.join(", ")
    }
}

fn dump_lines(o: &mut String, i: &InstanceInfo, d: &crate::control::Detail) {
    use std::fmt::Write as _;
    let _ = writeln!(
        o,
        "  pid {}  configured priority {}  reason: {}",
        i.pid,
        i.configured_priority,
        i.reason.as_deref().unwrap_or("-")
    );
    let _ = writeln!(
        o,
        "  advert interval {:.1} ms, master advert interval {:.1} ms, master down interval {:.3} ms, skew {:.3} ms, preempt {}, accept {}",
        d.adver_interval_ms, d.master_adver_interval_ms, d.master_down_interval_ms, d.skew_time_ms, d.preempt, d.accept
    );
    if let Some(t) = &d.accept_filter {
        let _ = writeln!(
            o,
            "  packet filter: table {t} (traffic to the VIPs dropped), filter errors {}",
            d.filter_errors
        );
    }
    let _ = writeln!(
        o,
        "  adverts sent {} received {}, priority 0 sent {} received {}, send errors {}, netlink overruns {}",
        d.adverts_sent, d.adverts_rcvd, d.prio0_sent, d.prio0_rcvd, d.send_errors, d.netlink_overruns
    );
    if let Some(u) = &i.unicast {
        let _ = writeln!(o, "  {u}");
    }
    let _ = writeln!(o, "  transitions: {}", counts(&d.transitions, false));
    let _ = writeln!(o, "  discards: {}", counts(&d.discards, true));
    for (peer, forms) in &d.checksum_forms {
        let f: Vec<String> = forms.iter().map(|(k, v)| format!("{k} {v}")).collect();
        let _ = writeln!(o, "  checksum forms from {peer}: {}", f.join(", "));
    }
    let _ = writeln!(o, "  hooks: {}", counts(&d.hooks, false));
    let e = &d.events;
    let _ = writeln!(
        o,
        "  events: {} recorded, {} subscribers, {} dropped (stalled), {} gaps sent",
        e.recorded, e.subscribers, e.dropped, e.gaps
    );
    for t in &i.trackers {
        let ago = t
            .last_secs_ago
            .map(|s| format!("{s:.1}s ago"))
            .unwrap_or_else(|| "-".to_string());
        let _ = writeln!(
            o,
            "  {} \"{}\": {} (weight {}, applies {}), last: {} {ago}, {} ok / {} failed in a row (rise {}, fall {})",
            t.kind, t.name, t.status, t.weight, t.applied, t.last_result, t.successes, t.failures, t.rise, t.fall
        );
    }
    if let Some(g) = &i.group {
        let _ = writeln!(o, "  group: {g}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::{Detail, GroupInfo, GroupMember};

    fn info(master: &str) -> InstanceInfo {
        InstanceInfo {
            interface: "eth0".into(),
            vrid: 51,
            family: "ipv6".into(),
            state: "BACKUP".into(),
            priority: 100,
            master: Some(master.into()),
            since_secs: 12.25,
            vips: vec!["fe80::51/64".into()],
            ..InstanceInfo::default()
        }
    }

    /// Every row's SINCE column ends where the header's does, even for a link-local master
    /// longer than the default column (issue #20 item 6).
    #[test]
    fn table_columns_stay_aligned_for_long_masters() {
        let rows = [info("fe80::a8bb:ccff:fedd:eeff"), info("192.0.2.2")];
        let t = table(&rows, false);
        let lines: Vec<&str> = t.lines().collect();
        let end = |l: &str, what: &str| l.find(what).map(|i| i + what.len());
        let head = end(lines[0], "SINCE").expect("header");
        assert_eq!(end(lines[1], "12.2s"), Some(head), "{t}");
        assert_eq!(end(lines[2], "12.2s"), Some(head), "{t}");
    }

    /// The text dump shows the hooks counters, as the JSON does; the group shows as one line
    /// in text and as an object in JSON.
    #[test]
    fn dump_has_hooks_and_group() {
        let mut i = info("192.0.2.2");
        let mut d = Detail::default();
        d.hooks.insert("started".into(), 3);
        d.hooks.insert("failed".into(), 1);
        i.detail = Some(d);
        i.group = Some(GroupInfo {
            name: "g".into(),
            size: 2,
            members: vec![GroupMember {
                member: "eth0/51".into(),
                pid: 7,
                state: "MASTER".into(),
                alive: true,
            }],
        });
        let t = table(std::slice::from_ref(&i), true);
        assert!(t.contains("  hooks: failed 1, started 3\n"), "{t}");
        assert!(
            t.contains("  group: g (1 of 2 members): eth0/51 MASTER\n"),
            "{t}"
        );
        let j = serde_json::to_value(&i).unwrap();
        assert_eq!(j["group"]["name"], "g");
        assert_eq!(j["group"]["size"], 2);
        assert_eq!(j["group"]["members"][0]["state"], "MASTER");
    }

    /// A unicast instance's dump names its peers, its source and its TTL floor, in text and
    /// JSON; a multicast one has no `unicast` key.
    #[test]
    fn dump_shows_unicast_peers() {
        let mut i = info("192.0.2.2");
        i.detail = Some(Detail::default());
        assert!(serde_json::to_value(&i).unwrap().get("unicast").is_none());
        i.unicast = Some(crate::control::UnicastInfo {
            peers: vec!["192.0.2.2".into(), "192.0.2.3".into()],
            source: Some("192.0.2.1".into()),
            configured_source: None,
            min_ttl: 255,
        });
        let t = table(std::slice::from_ref(&i), true);
        assert!(
            t.contains("  unicast peers 192.0.2.2 192.0.2.3, source 192.0.2.1, TTL at least 255\n"),
            "{t}"
        );
        let j = serde_json::to_value(&i).unwrap();
        assert_eq!(j["unicast"]["peers"][1], "192.0.2.3");
        assert_eq!(j["unicast"]["source"], "192.0.2.1");
        assert_eq!(j["unicast"]["min_ttl"], 255);
        i.unicast = Some(crate::control::UnicastInfo {
            peers: vec!["2001:db8::2".into()],
            source: None,
            configured_source: Some("2001:db8::1".into()),
            min_ttl: 64,
        });
        let t = table(std::slice::from_ref(&i), true);
        assert!(
            t.contains("source none (2001:db8::1 is not a usable address), TTL at least 64"),
            "{t}"
        );
    }

    /// `--who-has` takes an address: anything else is a command-line error (status 2).
    #[test]
    fn who_has_needs_an_address() {
        let e = Args::try_parse_from(["atropos", "--who-has", "bogus"]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
        assert!(crate::cli::one_line(&e).contains("'bogus'"));
        let a = Args::try_parse_from(["atropos", "--who-has", "2001:DB8::1"]).unwrap();
        assert_eq!(a.who_has, Some("2001:db8::1".parse().unwrap()));
    }

    /// No instance: a sentence naming what was looked for, not `VRRPD RUN: 0`.
    #[test]
    fn none_running_says_what_was_looked_for() {
        let a = Args::try_parse_from(["atropos"]).unwrap();
        assert_eq!(
            none_running(&a),
            "no vrrpd instance running in this network namespace"
        );
        let a = Args::try_parse_from(["atropos", "-i", "eth0", "-v", "52"]).unwrap();
        assert_eq!(
            none_running(&a),
            "no vrrpd instance eth0/52 running in this network namespace"
        );
    }
}
