//! `atropos`: the operators' control tool (Atropos 0.70's verbs and more). It finds the instances
//! of this network namespace from their control sockets under the run directory and talks to
//! each with the protocol of [`crate::control`].
//!
//! Exit status for scripts: 0 success (with `--state --quiet`: master), 1 not running / error,
//! 3 backup (or init), 4 fault.

use std::path::{Path, PathBuf};

use clap::{ArgGroup, CommandFactory, Parser};

use crate::control::client::call;
use crate::control::{Command as Cmd, InstanceInfo, Request, Response, VERSION};

/// `atropos` command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "atropos",
    version,
    disable_version_flag = true,
    about = "Show and control the vrrpd instances of this router (this network namespace)",
    group(ArgGroup::new("verb").args(["state", "dump", "count", "who_has", "backup", "resume", "reduce", "increase", "set_priority"])),
    after_help = "Exit status: 0 ok (--state --quiet: master), 1 not running or error, 3 backup, 4 fault."
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
    pub who_has: Option<String>,
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
    let dir = match socket_dir(args.run_dir.as_deref()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("atropos: cannot find this network namespace: {e}");
            return 1;
        }
    };
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !args.quiet {
                if args.json {
                    println!("[]");
                } else {
                    println!("VRRPD RUN: 0");
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
        if let Some(vip) = &args.who_has {
            // Holds it: a master configured with it (backups only have it configured).
            if info.state != "MASTER"
                || !info
                    .vips
                    .iter()
                    .any(|v| v.split('/').next() == Some(vip.as_str()))
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
        if !args.quiet {
            if args.json {
                println!("[]");
            } else if args.who_has.is_some() {
                println!(
                    "no instance holds {}",
                    args.who_has.as_deref().unwrap_or("")
                );
            } else {
                println!("VRRPD RUN: 0");
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
            print_table(&infos, args.dump);
        }
    }
    if errors > 0 {
        return 1;
    }
    if cmd == Cmd::State && !args.count && args.who_has.is_none() {
        // The state of the instance (worst first when several are selected).
        return infos
            .iter()
            .map(|i| state_code(&i.state))
            .max()
            .unwrap_or(1);
    }
    0
}

fn print_table(infos: &[InstanceInfo], dump: bool) {
    println!(
        "{:<10} {:>4} {:<4} {:<7} {:>4} {:<16} {:>9}  VIPS",
        "IFACE", "VRID", "FAM", "STATE", "PRIO", "MASTER", "SINCE"
    );
    for i in infos {
        println!(
            "{:<10} {:>4} {:<4} {:<7} {:>4} {:<16} {:>8.1}s  {}{}",
            i.interface,
            i.vrid,
            if i.family == "ipv6" { "v6" } else { "v4" },
            i.state,
            i.priority,
            i.master.as_deref().unwrap_or("-"),
            i.since_secs,
            i.vips.join(" "),
            if i.forced_backup {
                "  (forced backup)"
            } else {
                ""
            }
        );
        if dump {
            if let Some(d) = &i.detail {
                println!(
                    "  pid {}  configured priority {}  reason: {}",
                    i.pid,
                    i.configured_priority,
                    i.reason.as_deref().unwrap_or("-")
                );
                println!(
                    "  advert interval {:.1} ms, master advert interval {:.1} ms, master down interval {:.3} ms, skew {:.3} ms, preempt {}, accept {}",
                    d.adver_interval_ms, d.master_adver_interval_ms, d.master_down_interval_ms, d.skew_time_ms, d.preempt, d.accept
                );
                println!(
                    "  adverts sent {} received {}, priority 0 sent {} received {}, send errors {}",
                    d.adverts_sent, d.adverts_rcvd, d.prio0_sent, d.prio0_rcvd, d.send_errors
                );
                let t: Vec<String> = d
                    .transitions
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect();
                println!(
                    "  transitions: {}",
                    if t.is_empty() {
                        "-".to_string()
                    } else {
                        t.join(", ")
                    }
                );
                let x: Vec<String> = d
                    .discards
                    .iter()
                    .filter(|(_, v)| **v > 0)
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect();
                println!(
                    "  discards: {}",
                    if x.is_empty() {
                        "-".to_string()
                    } else {
                        x.join(", ")
                    }
                );
                for (peer, forms) in &d.checksum_forms {
                    let f: Vec<String> = forms.iter().map(|(k, v)| format!("{k} {v}")).collect();
                    println!("  checksum forms from {peer}: {}", f.join(", "));
                }
                if let Some(g) = &i.group {
                    println!("  group: {g}");
                }
            }
        }
    }
}
