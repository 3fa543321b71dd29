//! Command line of `vrrpd`: a superset of Advanced Vrrpd 1.11's flags (every short flag keeps its
//! meaning, getopt string `f:M:Vhnsi:v:a:p:z:x:d:D:U:I:O:`) plus long options.
//!
//! Parsing is split in two: clap turns words into [`Args`] (syntax), then [`Args::validate`] checks
//! the combination and builds a [`Settings`] (semantics). Every error names the flag, the value and
//! what is allowed, on one line, and the binary exits with status 2.

use core::fmt;
use core::net::IpAddr;
use core::time::Duration;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

use crate::proto::packet::Auth;
use crate::proto::{ChecksumForm, Family, Version};

/// `vrrpd` command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "vrrpd",
    version,
    about = "VRRP daemon (RFC 3768 / RFC 9568): one virtual router on one interface",
    long_about = "vrrpd runs one VRRP virtual router on one interface. It elects a master with its \
                  peers, owns the virtual addresses while master, runs the -U/-D hooks on every \
                  transition and watches the link of its interface.",
    after_help = "Example: vrrpd -i eth0 -v 51 -p 150 192.0.2.254/24"
)]
pub struct Args {
    /// Interface to run on (required).
    #[arg(short = 'i', long = "interface", value_name = "IF")]
    pub interface: Option<String>,

    /// Virtual router identifier, 1-255 (required).
    #[arg(short = 'v', long = "vrid", value_name = "VRID", value_parser = parse_vrid)]
    pub vrid: Option<u8>,

    /// Priority, 1-255; 255 makes this router the address owner.
    #[arg(short = 'p', long = "priority", value_name = "PRIO", default_value = "100", value_parser = parse_priority)]
    pub priority: u8,

    /// Advertisement interval: a plain number is seconds (`1`, `0.5`), or a duration such as
    /// `100ms`. Below 1 s only with VRRPv3 (multiples of 10 ms, up to 40.95 s); VRRPv2 takes whole
    /// seconds 1-255.
    #[arg(short = 'd', long = "interval", value_name = "INTERVAL", default_value = "1", value_parser = parse_interval)]
    pub interval: Given<Duration>,

    /// Do not preempt a lower-priority master (preemption is on by default).
    #[arg(short = 's', long = "no-preempt")]
    pub no_preempt: bool,

    /// Preemption delay (keepalived's preempt_delay): for DURATION after joining the election
    /// (start-up, the end of --startup-delay, a fault clearing) do not preempt a lower-priority
    /// master; take over at once if the master falls silent or sends priority 0. At most 1000s;
    /// not with -p 255 (the address owner always preempts) or --no-preempt.
    #[arg(long = "preempt-delay", value_name = "DURATION", value_parser = parse_given_duration)]
    pub preempt_delay: Option<Given<Duration>>,

    /// Start-up delay (keepalived's vrrp_startup_delay): if at start the interface is down or
    /// lacks its primary address (IPv4 address, IPv6 link-local), stay in INIT for DURATION
    /// while the link settles, then join the election (or enter FAULT if it is still not
    /// ready). An interface up with its address starts at once. At most 3600s.
    #[arg(long = "startup-delay", value_name = "DURATION", value_parser = parse_given_duration)]
    pub startup_delay: Option<Given<Duration>>,

    /// VRRPv2 authentication: `none` or `pw/KEY` (simple password, 1-8 bytes).
    #[arg(short = 'a', long = "auth", value_name = "none|pw/KEY", value_parser = parse_auth)]
    pub auth: Option<Auth>,

    /// Do not use the virtual MAC: the VIPs go on the interface itself.
    #[arg(short = 'n', long = "no-vmac")]
    pub no_vmac: bool,

    /// Hook run on becoming master.
    #[arg(short = 'U', long = "master-script", value_name = "FILE")]
    pub master_script: Option<PathBuf>,

    /// Hook run on becoming backup (and on fault unless --fault-script is given).
    #[arg(short = 'D', long = "backup-script", value_name = "FILE")]
    pub backup_script: Option<PathBuf>,

    /// Hook run on entering the fault state (default: the -D hook).
    #[arg(long = "fault-script", value_name = "FILE")]
    pub fault_script: Option<PathBuf>,

    /// Priority set by SIGTTIN (default: lower by 10).
    #[arg(short = 'z', long = "priority-down", value_name = "PRIO", value_parser = parse_backup_priority)]
    pub priority_down: Option<u8>,

    /// Priority set by SIGTTOU (default: raise by 10).
    #[arg(short = 'x', long = "priority-up", value_name = "PRIO", value_parser = parse_backup_priority)]
    pub priority_up: Option<u8>,

    /// Member of a host group of N vrrpd processes (1-255): when one turns backup, faults or dies,
    /// all turn backup.
    #[arg(short = 'M', long = "monitor", value_name = "N", value_parser = parse_group_size)]
    pub monitor: Option<u8>,

    /// Host group name (default: one group per network namespace).
    #[arg(long = "group", value_name = "NAME", requires = "monitor")]
    pub group: Option<String>,

    /// A group member silent for this long counts as failed (default: 3 times the advert interval).
    #[arg(long = "group-timeout", value_name = "DURATION", value_parser = parse_duration, requires = "monitor")]
    pub group_timeout: Option<Duration>,

    /// Poll the link with ethtool/MII about this often besides netlink events, on wake-ups that
    /// happen anyway (adverts sent or received); `0` disables polling.
    #[arg(long = "link-poll", value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub link_poll: Duration,

    /// How to check the link: `auto` (netlink events plus whichever of ethtool/MII answers),
    /// `netlink`, `ethtool` or `mii` (refused at start when the driver lacks it).
    #[arg(long = "link-check", value_name = "HOW", default_value = "auto")]
    pub link_check: LinkCheckArg,

    /// Quiet Backup: `auto` lets the kernel drop adverts that repeat the last one (an eBPF
    /// socket filter notes their arrival times), so a Backup wakes once per Master_Down_Interval
    /// rather than once per advert; used when the kernel allows it (CAP_BPF), else the Backup
    /// reads every advert as with `off`. VRRP only (CARP always reads every advert).
    #[arg(long = "quiet-backup", value_name = "HOW", default_value = "auto")]
    pub quiet_backup: QuietArg,

    /// Magic packet: the VIP used as sender (with -O).
    #[arg(short = 'I', long = "magic-source", value_name = "IP")]
    pub magic_source: Option<IpAddr>,

    /// Magic packet: the gateway whose tables are refreshed on takeover (with -I).
    #[arg(short = 'O', long = "magic-gateway", value_name = "IP")]
    pub magic_gateway: Option<IpAddr>,

    /// VRRP version.
    #[arg(long = "vrrp-version", value_name = "2|3", default_value = "3", value_parser = parse_version)]
    pub vrrp_version: Version,

    /// Accept_Mode on, the default (as keepalived without vrrp_strict and FRR): a non-owner
    /// master accepts traffic addressed to the VIPs (RFC 9568 section 6.1).
    #[arg(long = "accept")]
    pub accept: bool,

    /// Accept_Mode off (RFC 9568's default; RFC 3768's rule for VRRPv2): a non-owner master
    /// drops traffic addressed to the VIPs, with an nftables table of its own
    /// (vrrpd_IF_VRID_v4|v6); ARP, NS/NA and VRRP pass, forwarded traffic is untouched, an
    /// address owner always accepts. Needs nft and nf_tables: without them vrrpd does not start.
    #[arg(long = "no-accept")]
    pub no_accept: bool,

    /// Gratuitous ARPs / unsolicited NAs sent per VIP on becoming master.
    #[arg(long = "garp-count", value_name = "N", default_value = "5", value_parser = clap::value_parser!(u32).range(1..=100))]
    pub garp_count: u32,

    /// Spacing of the gratuitous ARPs / unsolicited NAs.
    #[arg(long = "garp-interval", value_name = "DURATION", default_value = "200ms", value_parser = parse_given_duration)]
    pub garp_interval: Given<Duration>,

    /// While master, repeat one round of gratuitous ARPs / unsolicited NAs (one per VIP) every
    /// DURATION, for switches with short MAC tables (keepalived's garp_master_refresh). Off by
    /// default.
    #[arg(long = "garp-refresh", value_name = "DURATION", value_parser = parse_given_duration)]
    pub garp_refresh: Option<Given<Duration>>,

    /// Hooks still running after this long are killed.
    #[arg(long = "script-timeout", value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub script_timeout: Duration,

    /// Health check, repeatable (CARP: the weight moves the advskew the other way, see
    /// --advskew): a command run without a shell every INTERVAL (default 1s),
    /// killed with its process group at TIMEOUT (default: the interval); exit 0 passes. RISE
    /// passes in a row bring it up, FALL failures take it down (default 1 each). WEIGHT
    /// (-253..253, default 0): 0 means down -> Fault, a negative one is subtracted while down,
    /// a positive one added while up; `reverse` swaps up and down and negates the weight, as in
    /// keepalived. `cmd=` comes last and takes the rest:
    /// `name=web,interval=2s,timeout=1s,fall=2,rise=2,weight=-20,cmd=/usr/bin/curl -fs http://[::1]/`.
    #[arg(long = "track-check", value_name = "SPEC")]
    pub track_check: Vec<String>,

    /// Track another interface's link (up = IFF_UP and IFF_RUNNING), repeatable; weight as for
    /// --track-check (default 0: down -> Fault).
    #[arg(long = "track-interface", value_name = "IF[,weight=N][,reverse]")]
    pub track_interface: Vec<String>,

    /// Track a file holding an integer (inotify), repeatable: the value times WEIGHT (default 1)
    /// is added (-254 or less: Fault); with weight 0 a non-zero value is Fault. A missing file
    /// or a non-number is a failure (nothing added; Fault with weight 0).
    #[arg(long = "track-file", value_name = "PATH[,weight=N][,reverse]")]
    pub track_file: Vec<String>,

    /// Track processes by name, repeatable: up while at least QUORUM (default 1) processes run
    /// whose comm is NAME (at most 15 characters), or whose argv[0] is NAME when it holds a
    /// '/'. `args=` (last, takes the rest, split on spaces) also requires these arguments:
    /// exactly these (match=exact, the default; `args=` alone: no arguments), these first
    /// (match=partial), or these first with the last one a prefix (match=initial), as
    /// keepalived's param_match. Weight as for --track-check (default 0: down -> Fault).
    #[arg(
        long = "track-process",
        value_name = "NAME[,quorum=N][,weight=N][,reverse][,match=M][,args=ARG...]"
    )]
    pub track_process: Vec<String>,

    /// Stay in the foreground and log to stderr (default: detach and log to syslog).
    #[arg(long = "foreground")]
    pub foreground: bool,

    /// Do not run: clean up after a dead instance of this configuration (the same arguments):
    /// if its pid file is not locked by a running vrrpd, remove the VIPs and virtual MAC link it
    /// left, restore the parent's ARP sysctls, delete its --no-accept packet filter table, remove
    /// its pid file and control socket, free its -M host-group slot (the group's segment too when no
    /// live member is left), and run the backup hook (-D). Exit 1, touching nothing, while the instance runs. For systemd's
    /// ExecStopPost= after a kill -9, a watchdog kill or a crash.
    #[arg(long = "cleanup")]
    pub cleanup: bool,

    /// Log debug messages too (discarded packets, rate-limited).
    #[arg(long = "debug")]
    pub debug: bool,

    /// Run the event loop at real-time priority PRIO (SCHED_RR, 1-99) once started, so that a
    /// busy machine cannot delay adverts and timers (short intervals, many instances; as
    /// keepalived's vrrp_rt_priority). Hooks and checks still run at normal priority
    /// (SCHED_RESET_ON_FORK). A safety net, RLIMIT_RTTIME soft 1 s / hard 2 s of CPU without
    /// blocking: at 1 s vrrpd drops back to normal priority and logs it. Needs CAP_SYS_NICE
    /// or RLIMIT_RTPRIO of at least PRIO (under systemd: RestrictRealtime=no and
    /// LimitRTPRIO=PRIO); without, exit 1 at start. Off by default.
    #[arg(long = "realtime", value_name = "PRIO", value_parser = parse_rt_priority)]
    pub realtime: Option<u8>,

    /// A second pid file, beside the instance's own /run/vrrpd/ns<netns>/vrrpd_<IF>_<VRID>.pid
    /// (always locked: one virtual router runs once, whatever pid files are given).
    #[arg(long = "pid-file", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,

    /// VRRPv3-over-IPv4 checksum sent: `pseudo` (with IPv4 pseudo-header, as keepalived and FRR
    /// send by default) or `v2` (message only, RFC 9568 section 5.2.8). Both are accepted on receive.
    #[arg(long = "v3-checksum", value_name = "FORM", default_value = "pseudo")]
    pub v3_checksum: ChecksumArg,

    /// Release the VIPs as soon as the priority-0 advert is sent on a planned stop, instead of
    /// keeping them until the new master is heard (lossless handover, the default).
    #[arg(long = "no-handover")]
    pub no_handover: bool,

    /// Time each advert one interval after the last, from the moment this instance became
    /// master (RFC 9568's Adver_Timer to the letter), instead of on the host-wide grid of whole
    /// intervals that every aligned vrrpd on the host shares (the default: one burst of adverts
    /// per interval, about 2.5 x less CPU with 100 instances; never under 100ms; see ADVERT
    /// TIMING in vrrpd(8)).
    #[arg(long = "no-align")]
    pub no_align: bool,

    /// IPv6: send no Router Advertisements for the virtual router (sites where radvd, FRR or
    /// another RA source runs). By default an IPv6 master sends them from the link-local VIP and
    /// the virtual MAC, answers Router Solicitations, and sends one with router lifetime 0 when
    /// it gives the addresses up with no successor known (RFC 9568 section 8.2).
    #[arg(long = "no-router-adverts")]
    pub no_router_adverts: bool,

    /// IPv6: MaxRtrAdvInterval, 4s-1800s (RFC 4861 section 6.2.1): Router Advertisements go at
    /// random intervals between a third of it and it, the first three at most 16s apart
    /// (default 200s).
    #[arg(long = "ra-interval", value_name = "DURATION", value_parser = parse_given_duration, conflicts_with = "no_router_adverts")]
    pub ra_interval: Option<Given<Duration>>,

    /// IPv6: the Router Lifetime advertised, from the --ra-interval to 9000s, whole seconds
    /// (default: 3 x the --ra-interval): how long hosts keep the route if every router is gone.
    #[arg(long = "ra-lifetime", value_name = "DURATION", value_parser = parse_given_duration, conflicts_with = "no_router_adverts")]
    pub ra_lifetime: Option<Given<Duration>>,

    /// Advertisement protocol: `vrrp` (default) or `carp` (CARP version 2 as ucarp speaks it;
    /// `-v` is the vhid, `-d` the advbase in whole seconds, one IPv4 address).
    #[arg(long = "protocol", value_name = "PROTO", default_value = "vrrp")]
    pub protocol: ProtocolArg,

    /// CARP: advertisement skew, 0-255 (1/256 s; lower is preferred; ucarp --advskew). Tracker
    /// weights move it the other way: advskew - weights, capped to 0-254.
    #[arg(long = "advskew", value_name = "N", value_parser = clap::value_parser!(u8))]
    pub advskew: Option<u8>,

    /// CARP: master-down multiplier, 1-255 (default 3; ucarp --deadratio).
    #[arg(long = "deadratio", value_name = "N", value_parser = clap::value_parser!(u8).range(1..))]
    pub deadratio: Option<u8>,

    /// CARP: the password, 1-19 bytes (ucarp --pass).
    #[arg(long = "password", value_name = "PASS")]
    pub password: Option<String>,

    /// CARP: read the password from the first line of FILE (ucarp --passfile).
    #[arg(long = "password-file", value_name = "FILE")]
    pub password_file: Option<PathBuf>,

    /// CARP: a backup takes over from a slower master (ucarp --preempt; off by default in CARP).
    #[arg(long = "preempt")]
    pub preempt: bool,

    /// CARP: no backup hook at start (ucarp --neutral).
    #[arg(long = "neutral")]
    pub neutral: bool,

    /// CARP: run the backup hook when giving the address up at exit (ucarp --shutdown).
    #[arg(long = "shutdown")]
    pub shutdown: bool,

    /// CARP: ignore the link state, no fault on carrier loss (ucarp --ignoreifstate).
    #[arg(long = "ignoreifstate")]
    pub ignoreifstate: bool,

    /// CARP: adverts in Ethernet broadcast frames, still to 224.0.0.18 (ucarp --nomcast).
    #[arg(long = "nomcast")]
    pub nomcast: bool,

    /// CARP: extra last argument for the hooks (ucarp --xparam).
    #[arg(long = "xparam", value_name = "VALUE")]
    pub xparam: Option<String>,

    /// Unicast peer, repeatable: adverts go to each peer's address (TTL 255) instead of the
    /// multicast group, no group is joined, and only adverts from a listed peer sent to our
    /// source address are accepted (others are counted as not_peer / bad_dst). For links without
    /// multicast: clouds, tunnels. Same family as the VIPs; list every other router.
    #[arg(long = "unicast-peer", value_name = "ADDR")]
    pub unicast_peer: Vec<IpAddr>,

    /// Unicast: the source address of our adverts, the one the peers list and the only
    /// destination accepted (default: the interface's primary IPv4 address; IPv6: the
    /// link-local address if every peer is link-local, else the interface's first global
    /// address that is not a VIP; keepalived always takes the link-local one, which with global
    /// peers ends with two masters). Must be on the interface (until it is, the instance is in
    /// Fault).
    #[arg(long = "unicast-src", value_name = "ADDR", requires = "unicast_peer")]
    pub unicast_src: Option<IpAddr>,

    /// Unicast: lowest TTL / hop limit accepted from a peer, 1-255 (default 255, the RFC 9568
    /// §5.1.1.3 rule kept for unicast: only a sender on the link can arrive with 255, so a
    /// spoofed peer address from beyond a router is refused; keepalived checks neither TTL nor
    /// source). Lower it only for peers behind routers (254: one router away), or for keepalived
    /// IPv6 peers without `unicast_ttl 255` (they send the kernel's default hop limit, 64).
    #[arg(long = "unicast-min-ttl", value_name = "N", requires = "unicast_peer", value_parser = clap::value_parser!(u8).range(1..))]
    pub unicast_min_ttl: Option<u8>,

    /// Advanced Vrrpd's run directory flag: accepted and ignored.
    #[arg(short = 'f', value_name = "DIR", hide = true)]
    pub legacy_run_dir: Option<PathBuf>,

    /// Virtual addresses, `ADDR[/LEN]`, all IPv4 or all IPv6.
    #[arg(value_name = "ADDR[/LEN]")]
    pub vips: Vec<String>,
}

/// A parsed value with the text the user typed, so that a later error quotes what was typed
/// (`-d 0.05`, not `50ms`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given<T> {
    /// The parsed value.
    pub value: T,
    given: String,
}

impl<T> Given<T> {
    /// `value`, typed as `text`.
    pub fn new(value: T, text: &str) -> Self {
        Given {
            value,
            given: text.to_string(),
        }
    }

    /// The text as typed.
    pub fn text(&self) -> &str {
        &self.given
    }
}

/// `--link-check` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LinkCheckArg {
    /// Netlink events plus ethtool or MII polling when the driver answers.
    Auto,
    /// Netlink link events only.
    Netlink,
    /// ETHTOOL_GLINK polling (plus netlink events).
    Ethtool,
    /// MII BMSR polling (plus netlink events).
    Mii,
}

/// `--quiet-backup` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum QuietArg {
    /// The eBPF filter when the kernel allows it.
    Auto,
    /// Every advert wakes the Backup.
    Off,
}

/// `--protocol` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtocolArg {
    /// VRRP (RFC 3768, RFC 9568).
    Vrrp,
    /// CARP version 2, as ucarp 1.5.2.
    Carp,
}

/// `--v3-checksum` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChecksumArg {
    /// IPv4 pseudo-header included (keepalived/FRR default).
    Pseudo,
    /// Message only, RFC 9568 section 5.2.8.
    V2,
}

pub use crate::daemon::config::{
    CarpSettings, LinkCheck, RaSettings, Settings, TrackSource, TrackSpec, UnicastSettings, Vip,
};

impl From<LinkCheckArg> for LinkCheck {
    fn from(a: LinkCheckArg) -> Self {
        match a {
            LinkCheckArg::Auto => LinkCheck::Auto,
            LinkCheckArg::Netlink => LinkCheck::Netlink,
            LinkCheckArg::Ethtool => LinkCheck::Ethtool,
            LinkCheckArg::Mii => LinkCheck::Mii,
        }
    }
}

/// A command-line error: flag, value, what is allowed. Displayed on one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    /// The flag as the user knows it, e.g. `-v <VRID>`.
    pub flag: String,
    /// The offending value (empty when the flag is missing).
    pub value: String,
    /// What would be accepted.
    pub allowed: String,
}

impl CliError {
    fn new(flag: &str, value: impl Into<String>, allowed: impl Into<String>) -> Self {
        CliError {
            flag: flag.to_string(),
            value: value.into(),
            allowed: allowed.into(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "missing {}: {}", self.flag, self.allowed)
        } else {
            write!(
                f,
                "invalid value '{}' for '{}': {}",
                self.value, self.flag, self.allowed
            )
        }
    }
}

impl std::error::Error for CliError {}

fn parse_u8_in(s: &str, lo: u8, hi: u8) -> Result<u8, String> {
    match s.trim().parse::<u32>() {
        Ok(v) if (lo as u32..=hi as u32).contains(&v) => Ok(v as u8),
        _ => Err(format!("expected an integer {lo}-{hi}")),
    }
}

fn parse_vrid(s: &str) -> Result<u8, String> {
    parse_u8_in(s, 1, 255)
}

fn parse_priority(s: &str) -> Result<u8, String> {
    parse_u8_in(s, 1, 255)
}

fn parse_backup_priority(s: &str) -> Result<u8, String> {
    parse_u8_in(s, 1, 254)
}

/// `--realtime`: a `SCHED_RR` priority (sched(7): 1..=99).
fn parse_rt_priority(s: &str) -> Result<u8, String> {
    parse_u8_in(s, 1, 99)
}

fn parse_group_size(s: &str) -> Result<u8, String> {
    parse_u8_in(s, 1, 255)
}

fn parse_version(s: &str) -> Result<Version, String> {
    match s.trim() {
        "2" => Ok(Version::V2),
        "3" => Ok(Version::V3),
        _ => Err("expected 2 or 3".to_string()),
    }
}

/// A duration: humantime (`200ms`, `1s`) or a plain number of seconds (`1`, `0.5`).
fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if let Ok(secs) = t.parse::<f64>() {
        if secs.is_finite() && (0.0..=86_400.0).contains(&secs) {
            return Ok(Duration::from_secs_f64(secs));
        }
        return Err("expected a duration such as 1, 0.5 or 200ms (at most a day)".to_string());
    }
    match humantime::parse_duration(t) {
        Ok(d) if d <= Duration::from_secs(86_400) => Ok(d),
        Ok(_) => Err("at most a day".to_string()),
        Err(_) => Err("expected a duration such as 1, 0.5 or 200ms".to_string()),
    }
}

fn parse_given_duration(s: &str) -> Result<Given<Duration>, String> {
    Ok(Given::new(parse_duration(s)?, s))
}

fn parse_interval(s: &str) -> Result<Given<Duration>, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(
            "the interval must be greater than 0 (10ms-40.95s for VRRPv3, 1-255 s for VRRPv2)"
                .to_string(),
        );
    }
    Ok(Given::new(d, s))
}

fn parse_auth(s: &str) -> Result<Auth, String> {
    if s == "none" {
        return Ok(Auth::None);
    }
    if let Some(key) = s.strip_prefix("pw/") {
        let bytes = key.as_bytes();
        if bytes.is_empty() || bytes.len() > 8 {
            return Err("the password after pw/ must be 1-8 bytes".to_string());
        }
        let mut pw = [0u8; 8];
        for (d, b) in pw.iter_mut().zip(bytes) {
            *d = *b;
        }
        return Ok(Auth::Password(pw));
    }
    if s.starts_with("ah/") {
        return Err(
            "IP Authentication Header (ah/) is not supported; use none or pw/KEY".to_string(),
        );
    }
    Err("expected none or pw/KEY".to_string())
}

/// Parse `ADDR[/LEN]`.
pub fn parse_vip(s: &str) -> Result<Vip, CliError> {
    let (a, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = a.parse().map_err(|_| {
        CliError::new(
            "ADDR[/LEN]",
            s,
            "expected an IPv4 or IPv6 address, optionally /LEN",
        )
    })?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match len {
        None => max,
        Some(l) => match l.parse::<u8>() {
            Ok(p) if p <= max => p,
            _ => {
                return Err(CliError::new(
                    "ADDR[/LEN]",
                    s,
                    format!("prefix length must be 0-{max}"),
                ))
            }
        },
    };
    let bad = match addr {
        IpAddr::V4(v4) => {
            v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast() || v4.is_loopback()
        }
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast() || v6.is_loopback(),
    };
    if bad {
        return Err(CliError::new(
            "ADDR[/LEN]",
            s,
            "a virtual address must be a unicast address (not 0, loopback, multicast or broadcast)",
        ));
    }
    Ok(Vip { addr, prefix })
}

impl Args {
    /// Check the combination of flags and build the instance settings.
    pub fn validate(&self) -> Result<Settings, CliError> {
        let interface = match &self.interface {
            Some(i)
                if !i.is_empty()
                    && i.len() < 16
                    && !i.contains('/')
                    && !i.contains(char::is_whitespace) =>
            {
                i.clone()
            }
            Some(i) => {
                return Err(CliError::new(
                    "--interface <IF>",
                    i,
                    "an interface name of 1-15 characters",
                ))
            }
            None => {
                return Err(CliError::new(
                    "--interface <IF>",
                    "",
                    "the interface to run on, e.g. -i eth0",
                ))
            }
        };
        let vrid = self.vrid.ok_or_else(|| {
            CliError::new(
                "--vrid <VRID>",
                "",
                "the virtual router id, 1-255, e.g. -v 51",
            )
        })?;
        if self.vips.is_empty() {
            return Err(CliError::new(
                "ADDR[/LEN]",
                "",
                "at least one virtual address, e.g. 192.0.2.254/24",
            ));
        }
        let mut vips = Vec::with_capacity(self.vips.len());
        for s in &self.vips {
            let vip = parse_vip(s)?;
            if vips.iter().any(|v: &Vip| v.addr == vip.addr) {
                return Err(CliError::new("ADDR[/LEN]", s, "each virtual address once"));
            }
            vips.push(vip);
        }
        let family = if vips.iter().all(|v| v.addr.is_ipv4()) {
            Family::V4
        } else if vips.iter().all(|v| v.addr.is_ipv6()) {
            Family::V6
        } else {
            return Err(CliError::new(
                "ADDR[/LEN]",
                self.vips.join(" "),
                "all IPv4 or all IPv6 (run one vrrpd per family)",
            ));
        };
        let max_vips = if family == Family::V6 { 90 } else { 255 };
        if vips.len() > max_vips {
            return Err(CliError::new(
                "ADDR[/LEN]",
                format!("{} addresses", vips.len()),
                format!("at most {max_vips} virtual addresses per instance"),
            ));
        }
        // RFC 9568 §5.2.9: an IPv6 advert lists the link-local VIP first.
        vips.sort_by_key(|v| match v.addr {
            IpAddr::V6(a) => !crate::proto::packet::is_ipv6_link_local(&a),
            IpAddr::V4(_) => false,
        });

        let carp = self.carp_settings(&vips)?;
        let version = if carp.is_some() {
            Version::V2
        } else {
            self.vrrp_version
        };
        let interval_s = self.interval.text().to_string();
        // The advert interval's unit and range per version: whole seconds 1-255 in the
        // advbase / VRRPv2 Adver Int field (RFC 3768 §5.3.7), centiseconds 1-4095 in
        // VRRPv3's Max Adver Int (RFC 9568 §5.2.7).
        let (unit_ns, max, why) = match version {
            Version::V2 if carp.is_some() => (
                1_000_000_000,
                255,
                "CARP takes whole seconds 1-255 (the advbase; fine-tune with --advskew)",
            ),
            Version::V2 => (
                1_000_000_000,
                255,
                "VRRPv2 takes whole seconds 1-255 (use --vrrp-version 3 for sub-second)",
            ),
            Version::V3 => (
                10_000_000,
                4095,
                "VRRPv3 takes multiples of 10ms from 10ms to 40.95s",
            ),
        };
        let ns = self.interval.value.as_nanos();
        if ns % unit_ns != 0 || !(1..=max).contains(&(ns / unit_ns)) {
            return Err(CliError::new("--interval <INTERVAL>", interval_s, why));
        }
        // A whole number of `unit_ns` within range: at most 25500 centiseconds, fits in u16.
        let interval_cs = (ns / 10_000_000) as u16;
        let auth = match (version, self.auth) {
            (_, None) | (_, Some(Auth::None)) => Auth::None,
            (Version::V2, Some(a)) => a,
            (Version::V3, Some(_)) => {
                return Err(CliError::new(
                    "--auth <none|pw/KEY>",
                    "pw/...",
                    "authentication exists only in VRRPv2 (add --vrrp-version 2)",
                ))
            }
        };
        if version == Version::V2 && family == Family::V6 {
            return Err(CliError::new(
                "--vrrp-version <2|3>",
                "2",
                "VRRPv2 is IPv4 only; IPv6 virtual addresses need VRRPv3",
            ));
        }
        if self.accept && self.no_accept {
            return Err(CliError::new(
                "--no-accept",
                "",
                "not together with --accept",
            ));
        }
        let magic = match (self.magic_source, self.magic_gateway) {
            (None, None) => None,
            (Some(i), Some(o)) => {
                if !i.is_ipv4() || !o.is_ipv4() {
                    return Err(CliError::new(
                        "--magic-source <IP> --magic-gateway <IP>",
                        format!("{i} {o}"),
                        "IPv4 addresses (IPv6 takeovers are announced by unsolicited NAs)",
                    ));
                }
                if (family == Family::V4) != i.is_ipv4() {
                    return Err(CliError::new(
                        "--magic-source <IP> --magic-gateway <IP>",
                        format!("{i} {o}"),
                        "both addresses of the family of the virtual addresses",
                    ));
                }
                if !vips.iter().any(|v| v.addr == i) {
                    return Err(CliError::new(
                        "--magic-source <IP>",
                        i.to_string(),
                        "one of the virtual addresses",
                    ));
                }
                Some((i, o))
            }
            (Some(i), None) => {
                return Err(CliError::new(
                    "--magic-gateway <IP>",
                    "",
                    format!("the gateway to refresh with -I {i}"),
                ))
            }
            (None, Some(o)) => {
                return Err(CliError::new(
                    "--magic-source <IP>",
                    "",
                    format!("the virtual address to use with -O {o}"),
                ))
            }
        };
        for (flag, path) in [
            ("--master-script <FILE>", &self.master_script),
            ("--backup-script <FILE>", &self.backup_script),
            ("--fault-script <FILE>", &self.fault_script),
        ] {
            if let Some(p) = path {
                check_executable(p)
                    .map_err(|why| CliError::new(flag, p.display().to_string(), why))?;
            }
        }
        if self.garp_interval.value > Duration::from_secs(10) {
            return Err(CliError::new(
                "--garp-interval <DURATION>",
                self.garp_interval.text(),
                "at most 10s",
            ));
        }
        if let Some(r) = &self.garp_refresh {
            if r.value < Duration::from_millis(100) {
                return Err(CliError::new(
                    "--garp-refresh <DURATION>",
                    r.text(),
                    "at least 100ms (leave the flag out for no refresh)",
                ));
            }
        }
        if let Some(g) = &self.group {
            let ok = !g.is_empty()
                && g.len() <= 32
                && g.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
            if !ok {
                return Err(CliError::new(
                    "--group <NAME>",
                    g,
                    "1-32 characters of A-Z a-z 0-9 _ . -",
                ));
            }
        }
        let group_timeout = match self.group_timeout {
            Some(t) if t.is_zero() => {
                return Err(CliError::new(
                    "--group-timeout <DURATION>",
                    "0",
                    "a positive duration such as 3s",
                ))
            }
            Some(t) => t,
            None => Duration::from_millis(u64::from(interval_cs) * 30),
        };
        if self.script_timeout.is_zero() {
            return Err(CliError::new(
                "--script-timeout <DURATION>",
                "0",
                "a positive duration such as 10s",
            ));
        }
        let mut trackers = Vec::new();
        for t in &self.track_check {
            trackers.push(
                parse_track_check(t).map_err(|e| CliError::new("--track-check <SPEC>", t, e))?,
            );
        }
        for t in &self.track_interface {
            let spec = parse_track_interface(t)
                .map_err(|e| CliError::new("--track-interface <IF[,weight=N][,reverse]>", t, e))?;
            if spec.name == interface {
                return Err(CliError::new(
                    "--track-interface <IF[,weight=N][,reverse]>",
                    t,
                    "the instance's own interface is always tracked (its link down is a Fault)",
                ));
            }
            trackers.push(spec);
        }
        for t in &self.track_process {
            trackers.push(parse_track_process(t).map_err(|e| {
                CliError::new(
                    "--track-process <NAME[,quorum=N][,weight=N][,reverse][,match=M][,args=ARG...]>",
                    t,
                    e,
                )
            })?);
        }
        for t in &self.track_file {
            trackers
                .push(parse_track_file(t).map_err(|e| {
                    CliError::new("--track-file <PATH[,weight=N][,reverse]>", t, e)
                })?);
        }
        let unicast = self.unicast_settings(family, carp.is_some())?;
        let router_adverts = self.ra_settings(family)?;
        let (preempt_delay, startup_delay) = self.delays(carp.is_some())?;
        // Last: any other mistake on the line is reported first.
        if interface == "lo" && !self.no_vmac {
            return Err(CliError::new(
                "--interface <IF>",
                &interface,
                "the loopback interface cannot carry a virtual MAC: add -n (--no-vmac)",
            ));
        }
        Ok(Settings {
            interface,
            vrid,
            priority: self.priority,
            interval_cs,
            preempt: if carp.is_some() {
                self.preempt
            } else {
                !self.no_preempt
            },
            auth,
            // CARP: no virtual MAC, the address answers from the NIC's MAC as with ucarp.
            vmac: !self.no_vmac && carp.is_none(),
            // Absolute paths: a detached vrrpd runs in `/`.
            master_script: self.master_script.as_deref().map(absolute),
            backup_script: self.backup_script.as_deref().map(absolute),
            fault_script: self.fault_script.as_deref().map(absolute),
            priority_down: self.priority_down,
            priority_up: self.priority_up,
            monitor: self.monitor,
            group: self.group.clone(),
            group_timeout,
            link_poll: self.link_poll,
            link_check: self.link_check.into(),
            quiet_backup: self.quiet_backup == QuietArg::Auto,
            magic,
            version,
            family,
            accept: !self.no_accept,
            garp_count: self.garp_count,
            garp_interval: self.garp_interval.value,
            garp_refresh: self.garp_refresh.as_ref().map(|g| g.value),
            script_timeout: self.script_timeout,
            foreground: self.foreground,
            debug: self.debug,
            pid_file: self.pid_file.as_deref().map(absolute),
            checksum_form: match self.v3_checksum {
                ChecksumArg::Pseudo => ChecksumForm::Pseudo,
                ChecksumArg::V2 => ChecksumForm::Plain,
            },
            handover: !self.no_handover,
            align_adverts: !self.no_align,
            vips,
            carp,
            trackers,
            unicast,
            router_adverts,
            preempt_delay,
            startup_delay,
            realtime: self.realtime,
        })
    }

    /// `--preempt-delay` and `--startup-delay`: VRRP only, in range, a preemption to delay
    /// (not the owner, not --no-preempt).
    fn delays(&self, carp: bool) -> Result<(Duration, Duration), CliError> {
        const PD: &str = "--preempt-delay <DURATION>";
        const SD: &str = "--startup-delay <DURATION>";
        for (flag, given) in [(PD, &self.preempt_delay), (SD, &self.startup_delay)] {
            if let (true, Some(g)) = (carp, given) {
                return Err(CliError::new(
                    flag,
                    g.text(),
                    "a VRRP option (ucarp has none): drop --protocol carp",
                ));
            }
        }
        let preempt = match &self.preempt_delay {
            None => Duration::ZERO,
            Some(g) if g.value > crate::proto::fsm::MAX_PREEMPT_DELAY => {
                return Err(CliError::new(
                    PD,
                    g.text(),
                    "at most 1000s (keepalived's range)",
                ))
            }
            Some(g)
                if !g.value.is_zero() && crate::proto::fsm::is_owner_priority(self.priority) =>
            {
                return Err(CliError::new(
                    PD,
                    g.text(),
                    "the address owner (-p 255) always preempts (RFC 9568 section 6.1): drop \
                     the delay or lower the priority",
                ))
            }
            Some(g) if !g.value.is_zero() && self.no_preempt => {
                return Err(CliError::new(
                    PD,
                    g.text(),
                    "preemption is off (--no-preempt): there is nothing to delay",
                ))
            }
            Some(g) => g.value,
        };
        let startup = match &self.startup_delay {
            None => Duration::ZERO,
            Some(g) if g.value > crate::proto::fsm::MAX_STARTUP_DELAY => {
                return Err(CliError::new(SD, g.text(), "at most 3600s"))
            }
            Some(g) => g.value,
        };
        Ok((preempt, startup))
    }

    /// `--no-router-adverts`, `--ra-interval`, `--ra-lifetime`: IPv6 only; interval 4s-1800s,
    /// lifetime whole seconds from the interval to 9000s (RFC 4861 §6.2.1).
    fn ra_settings(&self, family: Family) -> Result<Option<RaSettings>, CliError> {
        use crate::proto::ra;
        const IFLAG: &str = "--ra-interval <DURATION>";
        const LFLAG: &str = "--ra-lifetime <DURATION>";
        let interval = self
            .ra_interval
            .as_ref()
            .map_or(ra::DEFAULT_INTERVAL, |g| g.value);
        let interval_text = self.ra_interval.as_ref().map_or("200s", |g| g.text());
        if family != Family::V6 {
            if let Some(i) = &self.ra_interval {
                return Err(CliError::new(
                    IFLAG,
                    i.text(),
                    "Router Advertisements are IPv6 only (the VIPs are IPv4)",
                ));
            }
            if let Some(l) = &self.ra_lifetime {
                return Err(CliError::new(
                    LFLAG,
                    l.text(),
                    "Router Advertisements are IPv6 only (the VIPs are IPv4)",
                ));
            }
            return Ok(None);
        }
        if !(ra::MIN_INTERVAL..=ra::MAX_INTERVAL).contains(&interval) {
            return Err(CliError::new(
                IFLAG,
                interval_text,
                "from 4s to 1800s (RFC 4861 section 6.2.1)",
            ));
        }
        let lifetime_s = match &self.ra_lifetime {
            None => ra::default_lifetime(interval),
            Some(l) => {
                let ok = l.value.subsec_nanos() == 0
                    && l.value >= interval
                    && l.value.as_secs() <= u64::from(ra::MAX_LIFETIME_S);
                if !ok {
                    return Err(CliError::new(
                        LFLAG,
                        l.text(),
                        format!(
                            "whole seconds from the --ra-interval ({}) to 9000s (RFC 4861 \
                             section 6.2.1)",
                            interval_text
                        ),
                    ));
                }
                u16::try_from(l.value.as_secs()).unwrap_or(ra::MAX_LIFETIME_S)
            }
        };
        if self.no_router_adverts {
            return Ok(None);
        }
        Ok(Some(RaSettings {
            interval,
            lifetime_s,
        }))
    }

    /// The `--unicast-*` flags: peers of the VIPs' family, each once, unicast addresses, not our
    /// own source; not with CARP.
    fn unicast_settings(
        &self,
        family: Family,
        carp: bool,
    ) -> Result<Option<UnicastSettings>, CliError> {
        if self.unicast_peer.is_empty() {
            return Ok(None);
        }
        const FLAG: &str = "--unicast-peer <ADDR>";
        if carp {
            return Err(CliError::new(
                FLAG,
                self.unicast_peer[0].to_string(),
                "unicast peers are a VRRP option (ucarp has none): drop --protocol carp",
            ));
        }
        for (i, &p) in self.unicast_peer.iter().enumerate() {
            if Family::of(p) != family {
                return Err(CliError::new(
                    FLAG,
                    p.to_string(),
                    "a peer of the virtual addresses' family (one vrrpd per family)",
                ));
            }
            if !crate::proto::unicast::is_unicast(p) {
                return Err(CliError::new(
                    FLAG,
                    p.to_string(),
                    "a unicast address (not 0, loopback, multicast or broadcast)",
                ));
            }
            if self.unicast_peer[..i].contains(&p) {
                return Err(CliError::new(FLAG, p.to_string(), "each peer once"));
            }
            if Some(p) == self.unicast_src {
                return Err(CliError::new(
                    FLAG,
                    p.to_string(),
                    "another router's address, not our own --unicast-src",
                ));
            }
        }
        if let Some(src) = self.unicast_src {
            if Family::of(src) != family || !crate::proto::unicast::is_unicast(src) {
                return Err(CliError::new(
                    "--unicast-src <ADDR>",
                    src.to_string(),
                    "a unicast address of the virtual addresses' family, on the interface",
                ));
            }
        }
        Ok(Some(UnicastSettings {
            peers: self.unicast_peer.clone(),
            src: self.unicast_src,
            min_ttl: self.unicast_min_ttl.unwrap_or(crate::proto::wire::VRRP_TTL),
        }))
    }

    /// The CARP settings of `--protocol carp`; CARP-only flags without it are an error.
    fn carp_settings(&self, vips: &[Vip]) -> Result<Option<CarpSettings>, CliError> {
        if self.protocol != ProtocolArg::Carp {
            for (flag, set) in [
                ("--advskew", self.advskew.is_some()),
                ("--deadratio", self.deadratio.is_some()),
                ("--password", self.password.is_some()),
                ("--password-file", self.password_file.is_some()),
                ("--preempt", self.preempt),
                ("--neutral", self.neutral),
                ("--shutdown", self.shutdown),
                ("--ignoreifstate", self.ignoreifstate),
                ("--nomcast", self.nomcast),
                ("--xparam", self.xparam.is_some()),
            ] {
                if set {
                    return Err(CliError::new(
                        flag,
                        "",
                        "a CARP option: add --protocol carp",
                    ));
                }
            }
            return Ok(None);
        }
        if self.auth.is_some() {
            return Err(CliError::new(
                "-a <none|pw/KEY>",
                "",
                "CARP authenticates with --password or --password-file",
            ));
        }
        if self.accept || self.no_accept {
            return Err(CliError::new(
                if self.accept {
                    "--accept"
                } else {
                    "--no-accept"
                },
                "",
                "Accept_Mode is VRRP's; CARP hosts always accept traffic to the VIP",
            ));
        }
        if self.no_preempt && self.preempt {
            return Err(CliError::new("--preempt", "", "not together with -s"));
        }
        if self.no_align {
            return Err(CliError::new(
                "--no-align",
                "",
                "VRRP only: CARP times its adverts as ucarp does (advbase and advskew)",
            ));
        }
        if vips.len() != 1 || !vips.iter().all(|v| v.addr.is_ipv4()) {
            return Err(CliError::new(
                "ADDR[/LEN]",
                self.vips.join(" "),
                "CARP carries exactly one IPv4 virtual address (run one vrrpd per address)",
            ));
        }
        let password = match (&self.password, &self.password_file) {
            (Some(p), None) => p.as_bytes().to_vec(),
            (None, Some(f)) => {
                let text = std::fs::read(f).map_err(|e| {
                    CliError::new("--password-file", f.display().to_string(), e.to_string())
                })?;
                // ucarp: the first line, its first newline removed (a \r stays).
                text.split(|&b| b == b'\n').next().unwrap_or(&[]).to_vec()
            }
            (Some(_), Some(_)) => {
                return Err(CliError::new(
                    "--password-file",
                    "",
                    "either --password or --password-file",
                ))
            }
            (None, None) => {
                return Err(CliError::new(
                    "--password",
                    "",
                    "CARP needs a password (--password PASS or --password-file FILE)",
                ))
            }
        };
        if password.is_empty() || password.len() > crate::proto::carp::packet::MAX_PASSWORD_LEN {
            let flag = if self.password.is_some() {
                "--password"
            } else {
                "--password-file"
            };
            return Err(CliError::new(
                flag,
                format!("{} bytes", password.len()),
                "a CARP password has 1-19 bytes (as ucarp)",
            ));
        }
        Ok(Some(CarpSettings {
            advskew: self.advskew.unwrap_or(0),
            deadratio: self.deadratio.unwrap_or(3),
            password,
            neutral: self.neutral,
            shutdown_hook: self.shutdown,
            ignore_ifstate: self.ignoreifstate,
            xparam: self.xparam.clone(),
            nomcast: self.nomcast,
        }))
    }
}

fn parse_weight(v: &str, lo: i32, hi: i32) -> Result<i32, String> {
    match v.trim().parse::<i32>() {
        Ok(w) if (lo..=hi).contains(&w) => Ok(w),
        _ => Err(format!("weight must be an integer {lo}..{hi}")),
    }
}

fn parse_count(key: &str, v: &str) -> Result<u32, String> {
    match v.trim().parse::<u32>() {
        Ok(n) if (1..=1000).contains(&n) => Ok(n),
        _ => Err(format!("{key} must be an integer 1-1000")),
    }
}

/// `--track-check`: `key=value` options separated by commas, `cmd=` last (it takes the rest of
/// the text, commas included, split on white space: there is no shell and no quoting).
pub fn parse_track_check(s: &str) -> Result<TrackSpec, String> {
    let (opts, cmd) = match s.find("cmd=") {
        Some(0) => ("", &s[4..]),
        Some(i) if s[..i].ends_with(',') => (&s[..i - 1], &s[i + 4..]),
        _ => return Err("expected [name=NAME,][interval=1s,][timeout=1s,][rise=N,][fall=N,][weight=N,]cmd=PROGRAM [ARG...]".to_string()),
    };
    let argv: Vec<String> = cmd.split_whitespace().map(str::to_string).collect();
    let Some(prog) = argv.first() else {
        return Err("cmd= needs a program".to_string());
    };
    let mut name = std::path::Path::new(prog)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| prog.clone());
    let (mut interval, mut timeout) = (Duration::from_secs(1), None);
    let (mut rise, mut fall, mut weight, mut reverse) = (1, 1, 0, false);
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        if opt.trim() == "reverse" {
            reverse = true;
            continue;
        }
        let Some((k, v)) = opt.split_once('=') else {
            return Err(format!(
                "'{opt}' is not key=value (keys: name, interval, timeout, rise, fall, weight, cmd; and reverse)"
            ));
        };
        match k.trim() {
            "name" if !v.is_empty() && !v.contains(char::is_whitespace) && !v.contains('"') => {
                name = v.to_string()
            }
            "name" => return Err("name must be a word without spaces or quotes".to_string()),
            "interval" => {
                interval = parse_duration(v).map_err(|e| format!("interval: {e}"))?;
                if interval < Duration::from_millis(10) {
                    return Err("interval must be at least 10ms".to_string());
                }
            }
            "timeout" => {
                let t = parse_duration(v).map_err(|e| format!("timeout: {e}"))?;
                if t.is_zero() {
                    return Err("timeout must be greater than 0".to_string());
                }
                timeout = Some(t);
            }
            "rise" => rise = parse_count("rise", v)?,
            "fall" => fall = parse_count("fall", v)?,
            "weight" => weight = parse_weight(v, -253, 253)?,
            other => {
                return Err(format!(
                    "unknown key '{other}' (keys: name, interval, timeout, rise, fall, weight, cmd)"
                ))
            }
        }
    }
    let timeout = timeout.unwrap_or(interval);
    if timeout > interval {
        return Err(format!(
            "timeout ({}) must not exceed the interval ({}): one run at a time",
            humantime::format_duration(timeout),
            humantime::format_duration(interval)
        ));
    }
    let mut argv = argv;
    if argv[0].contains('/') {
        argv[0] = absolute(std::path::Path::new(&argv[0]))
            .to_string_lossy()
            .into_owned();
    }
    Ok(TrackSpec {
        name,
        source: TrackSource::Check {
            argv,
            interval,
            timeout,
        },
        weight,
        rise,
        fall,
        reverse,
    })
}

/// `NAME[,weight=N][,reverse]` with the default weight `default`.
fn name_and_weight(s: &str, default: i32, lo: i32, hi: i32) -> Result<(String, i32, bool), String> {
    let mut parts = s.split(',');
    let name = parts.next().unwrap_or_default().to_string();
    let (mut weight, mut reverse) = (default, false);
    for r in parts {
        match r.split_once('=') {
            Some(("weight", v)) => weight = parse_weight(v, lo, hi)?,
            None if r == "reverse" => reverse = true,
            _ => {
                return Err(format!(
                    "expected weight=N or reverse after the comma, not '{r}'"
                ))
            }
        }
    }
    Ok((name, weight, reverse))
}

/// `--track-interface IF[,weight=N]`.
pub fn parse_track_interface(s: &str) -> Result<TrackSpec, String> {
    let (name, weight, reverse) = name_and_weight(s, 0, -253, 253)?;
    if name.is_empty()
        || name.len() > 15
        || name.contains('/')
        || name.contains(char::is_whitespace)
    {
        return Err("expected an interface name (1-15 characters, no '/' or spaces)".to_string());
    }
    Ok(TrackSpec {
        name,
        source: TrackSource::Interface,
        weight,
        rise: 1,
        fall: 1,
        reverse,
    })
}

/// `--track-process NAME[,quorum=N][,weight=N][,reverse][,match=exact|partial|initial][,args=ARG...]`:
/// `args=` comes last and takes the rest, split on white space (like `cmd=` of
/// `--track-check`); `args=` with nothing after it means "started without arguments".
pub fn parse_track_process(s: &str) -> Result<TrackSpec, String> {
    use crate::proto::track::{ArgMatch, ProcessPattern};
    let (head, args) = match s.find(",args=") {
        Some(i) => (
            &s[..i],
            Some(
                s[i + 6..]
                    .split_whitespace()
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
            ),
        ),
        None => (s, None),
    };
    let mut parts = head.split(',');
    let name = parts.next().unwrap_or_default().to_string();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err("expected a process name without spaces".to_string());
    }
    if !name.contains('/') && name.len() > 15 {
        return Err(
            "a process name is at most 15 characters (the kernel's comm); give argv[0] as a path instead"
                .to_string(),
        );
    }
    let (mut quorum, mut weight, mut reverse, mut arg_match) = (1, 0, false, None);
    for opt in parts {
        match opt.split_once('=') {
            Some(("quorum", v)) => quorum = parse_count("quorum", v)?,
            Some(("weight", v)) => weight = parse_weight(v, -253, 253)?,
            Some(("match", v)) => {
                arg_match = Some(match v {
                    "exact" => ArgMatch::Exact,
                    "partial" => ArgMatch::Partial,
                    "initial" => ArgMatch::Initial,
                    _ => return Err(format!("match must be exact, partial or initial, not '{v}'")),
                })
            }
            None if opt == "reverse" => reverse = true,
            _ => {
                return Err(format!(
                    "expected quorum=N, weight=N, reverse, match=exact|partial|initial or args=ARG... (last), not '{opt}'"
                ))
            }
        }
    }
    if arg_match.is_some() && args.is_none() {
        return Err("match= compares arguments: give them with args= (last)".to_string());
    }
    if arg_match == Some(ArgMatch::Initial) && args.as_ref().is_some_and(|a| a.is_empty()) {
        return Err("match=initial needs at least one argument in args=".to_string());
    }
    let shown = match &args {
        Some(a) if !a.is_empty() => format!("{name} {}", a.join(" ")),
        _ => name.clone(),
    };
    Ok(TrackSpec {
        name: shown,
        source: TrackSource::Process {
            pattern: ProcessPattern {
                name,
                args,
                arg_match: arg_match.unwrap_or_default(),
            },
            quorum,
        },
        weight,
        rise: 1,
        fall: 1,
        reverse,
    })
}

/// `--track-file PATH[,weight=N]`.
pub fn parse_track_file(s: &str) -> Result<TrackSpec, String> {
    let (name, weight, reverse) = name_and_weight(s, 1, -254, 254)?;
    if name.is_empty() {
        return Err("expected a file path".to_string());
    }
    let path = absolute(std::path::Path::new(&name));
    if path.file_name().is_none() {
        return Err("expected a file path, not a directory".to_string());
    }
    Ok(TrackSpec {
        name: path.to_string_lossy().into_owned(),
        source: TrackSource::File(path),
        weight,
        rise: 1,
        fall: 1,
        reverse,
    })
}

/// `p` made absolute against the current directory (the file itself need not exist).
fn absolute(p: &std::path::Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// A hook must be a regular file we may execute (it is exec'd directly, without a shell).
fn check_executable(p: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let md = std::fs::metadata(p).map_err(|e| format!("cannot use the hook: {e}"))?;
    if !md.is_file() {
        return Err("the hook must be a regular file".to_string());
    }
    if md.permissions().mode() & 0o111 == 0 {
        return Err(
            "the hook is not executable (chmod +x; it is run directly, without a shell)"
                .to_string(),
        );
    }
    if !p.is_absolute() && !p.starts_with(".") && p.components().count() == 1 {
        // A bare name would be looked up in PATH by exec; insist on a path.
        return Err("give the hook as a path (./hook or /etc/vrrpd/hook)".to_string());
    }
    check_hook_security(p)?;
    check_exec_format(p)
}

/// A hook runs as root: refuse one that another user could change, as keepalived's
/// `script_security` does. The file (after resolving symlinks) must not be group- or
/// world-writable and must belong to root or to us; every directory above it likewise, except
/// that a sticky group/world-writable directory (as /tmp) is accepted, since only an entry's
/// owner may replace it there.
fn check_hook_security(p: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let real = std::fs::canonicalize(p).map_err(|e| format!("cannot use the hook: {e}"))?;
    let me = nix::unistd::geteuid().as_raw();
    let ours = |uid: u32| uid == 0 || uid == me;
    let md = std::fs::metadata(&real).map_err(|e| format!("cannot use the hook: {e}"))?;
    let mode = md.permissions().mode();
    if mode & 0o022 != 0 {
        return Err(format!(
            "the hook {} is group- or world-writable (mode {:o}): any user who may write it could \
             run code as root; chmod go-w {}",
            real.display(),
            mode & 0o7777,
            real.display()
        ));
    }
    if !ours(md.uid()) {
        return Err(format!(
            "the hook {} belongs to uid {}, not root or us: that user could run code as root",
            real.display(),
            md.uid()
        ));
    }
    for dir in real.ancestors().skip(1) {
        let md =
            std::fs::metadata(dir).map_err(|e| format!("cannot check {}: {e}", dir.display()))?;
        let mode = md.permissions().mode();
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Err(format!(
                "the hook {} is in {}, a group- or world-writable directory (mode {:o}): \
                 anyone who may write there could replace the hook; chmod go-w {} or move the hook",
                real.display(),
                dir.display(),
                mode & 0o7777,
                dir.display()
            ));
        }
        if !ours(md.uid()) {
            return Err(format!(
                "the hook {} is in {}, which belongs to uid {}, not root or us: that user could \
                 replace the hook",
                real.display(),
                dir.display(),
                md.uid()
            ));
        }
    }
    Ok(())
}

/// What execve(2) needs beyond the execute bit: an ELF binary, or a `#!` line naming an
/// interpreter that exists and may be executed. A script without `#!` would fail at every
/// transition with "Exec format error" (there is no shell to fall back on).
fn check_exec_format(p: &std::path::Path) -> Result<(), String> {
    use std::io::Read;
    use std::os::unix::fs::PermissionsExt;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(p)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| format!("cannot read the hook: {e}"))?;
    let head = head.get(..n).unwrap_or(&[]);
    if head.starts_with(b"\x7fELF") {
        return Ok(());
    }
    let Some(line) = head.strip_prefix(b"#!") else {
        return Err(
            "the hook has no #! line (such as #!/bin/sh) and is not a binary: it is run \
             directly, without a shell, and would fail with 'Exec format error'"
                .to_string(),
        );
    };
    let line = line.split(|&b| b == b'\n').next().unwrap_or(&[]);
    let interp = String::from_utf8_lossy(line);
    let Some(interp) = interp.split_whitespace().next() else {
        return Err("the hook's #! line names no interpreter".to_string());
    };
    match std::fs::metadata(interp) {
        Ok(md) if md.is_file() && md.permissions().mode() & 0o111 != 0 => Ok(()),
        Ok(_) => Err(format!(
            "the interpreter {interp} of the hook's #! line is not an executable file"
        )),
        Err(e) => Err(format!(
            "the interpreter {interp} of the hook's #! line: {e}"
        )),
    }
}

/// Parse the command line; on a syntax error return clap's error rewritten as one line.
pub fn parse<I, T>(args: I) -> Result<Args, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    parse_with(&mut command(), args)
}

/// clap's command type, for callers of [`parse_with`] that do not depend on clap themselves
/// (the fuzz targets).
pub use clap::Command;

/// The clap [`Command`] of [`Args`], for [`parse_with`] to reuse.
pub fn command() -> Command {
    <Args as clap::CommandFactory>::command()
}

/// [`parse`] with a [`command`] the caller keeps: what `Args::try_parse_from` does (match, then
/// fill [`Args`], formatting a fill error against the same command), without building the
/// ~100-argument command again. The command does not depend on the input, so one of them
/// parses any number of command lines with the same results as a fresh one each time; the
/// fuzz target `cli` (fuzz/targets.rs) relies on it, where building the command took most
/// of an execution (issue #13, "Fuzzing").
pub fn parse_with<I, T>(cmd: &mut Command, args: I) -> Result<Args, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut matches = cmd.try_get_matches_from_mut(args)?;
    <Args as clap::FromArgMatches>::from_arg_matches_mut(&mut matches).map_err(|e| e.format(cmd))
}

/// The first line of a clap error, without the `error: ` prefix, for the one-line message.
pub fn one_line(err: &clap::Error) -> String {
    let text = err.render().to_string();
    let mut lines = text.lines().skip_while(|l| l.trim().is_empty());
    let first = lines.next().unwrap_or("invalid command line");
    let mut out = first.strip_prefix("error: ").unwrap_or(first).to_string();
    // "the following required arguments were not provided:" names them on the next lines.
    if out.ends_with(':') {
        for l in lines.take_while(|l| l.starts_with(' ') && !l.trim().is_empty()) {
            out.push(' ');
            out.push_str(l.trim());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> Result<Settings, String> {
        let mut all = vec!["vrrpd"];
        all.extend_from_slice(v);
        let a = parse(all).map_err(|e| one_line(&e))?;
        a.validate().map_err(|e| e.to_string())
    }

    /// One reused command (what the fuzz target `cli` does) parses every command line as a
    /// fresh command does: same settings, same one-line errors, nothing left over from the
    /// command line before (issue #13, "Fuzzing").
    #[test]
    fn parse_with_a_reused_command_is_parse() {
        let lines: &[&[&str]] = &[
            &["-i", "eth0", "-v", "51", "192.0.2.254/24"],
            &["-i", "eth0", "-v", "0", "192.0.2.254/24"],
            &["-i", "eth0", "--bogus", "192.0.2.254/24"],
            &[
                "-i",
                "eth0",
                "-v",
                "51",
                "-p",
                "150",
                "-d",
                "100ms",
                "-n",
                "192.0.2.254/24",
            ],
            &["-i", "eth0"],
            &["-v"],
            &["--help"],
            &["--version"],
            &["-i", "eth0", "-v", "7", "--carp", "192.0.2.254"],
            &["-i", "eth0", "-v", "51", "-6", "fe80::1", "2001:db8::1"],
            &["--interfac", "eth0"],
            &["-i", "eth0", "-v", "51", "192.0.2.254/24"],
        ];
        let show = |r: Result<Args, clap::Error>| match r {
            Ok(a) => format!("ok {:?}", a.validate()),
            Err(e) => format!("err {:?} {}", e.kind(), one_line(&e)),
        };
        let mut cmd = command();
        for l in lines {
            let argv = std::iter::once("vrrpd").chain(l.iter().copied());
            let fresh = show(parse(argv.clone()));
            let reused = show(parse_with(&mut cmd, argv));
            assert_eq!(reused, fresh, "{l:?}");
        }
    }

    /// `--unicast-peer/--unicast-src/--unicast-min-ttl` (issue #17): multicast by default;
    /// every refused value names the flag and the value as typed.
    #[test]
    fn unicast_flags() {
        let base = ["-i", "eth0", "-v", "51", "192.0.2.254"];
        assert_eq!(args(&base).unwrap().unicast, None);
        let with = |extra: &[&str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            args(&v)
        };
        let u = with(&["--unicast-peer", "192.0.2.2", "--unicast-peer", "192.0.2.3"])
            .unwrap()
            .unicast
            .unwrap();
        assert_eq!(u.peers.len(), 2);
        assert_eq!((u.src, u.min_ttl), (None, 255));
        let u = with(&[
            "--unicast-peer",
            "192.0.2.2",
            "--unicast-src",
            "192.0.2.9",
            "--unicast-min-ttl",
            "64",
        ])
        .unwrap()
        .unicast
        .unwrap();
        assert_eq!((u.src, u.min_ttl), (Some("192.0.2.9".parse().unwrap()), 64));
        for (extra, want) in [
            (
                &["--unicast-peer", "2001:db8::2"][..],
                "'2001:db8::2' for '--unicast-peer <ADDR>': a peer of the virtual addresses' family",
            ),
            (&["--unicast-peer", "224.0.0.18"][..], "'224.0.0.18' for '--unicast-peer <ADDR>'"),
            (
                &["--unicast-peer", "192.0.2.2", "--unicast-peer", "192.0.2.2"][..],
                "each peer once",
            ),
            (
                &["--unicast-peer", "192.0.2.2", "--unicast-src", "192.0.2.2"][..],
                "not our own --unicast-src",
            ),
            (
                &["--unicast-peer", "192.0.2.2", "--unicast-src", "2001:db8::1"][..],
                "'2001:db8::1' for '--unicast-src <ADDR>'",
            ),
            (
                &["--unicast-peer", "192.0.2.2", "--unicast-min-ttl", "0"][..],
                "'0' for '--unicast-min-ttl <N>'",
            ),
            (
                &["--unicast-src", "192.0.2.9"][..],
                "required arguments were not provided: --unicast-peer <ADDR>",
            ),
            (
                &["--unicast-peer", "192.0.2.2", "--protocol", "carp", "--password", "x"][..],
                "unicast peers are a VRRP option",
            ),
        ] {
            let e = with(extra).unwrap_err();
            assert!(e.contains(want), "{extra:?}: {e}");
        }
    }

    /// `--garp-refresh` (issue #17): off by default, a duration of at least 100ms.
    #[test]
    fn garp_refresh_flag() {
        let base = ["-i", "eth0", "-v", "51", "192.0.2.254"];
        assert_eq!(args(&base).unwrap().garp_refresh, None);
        let mut v = base.to_vec();
        v.extend(["--garp-refresh", "30s"]);
        assert_eq!(
            args(&v).unwrap().garp_refresh,
            Some(Duration::from_secs(30))
        );
        let mut v = base.to_vec();
        v.extend(["--garp-refresh", "50ms"]);
        let e = args(&v).unwrap_err();
        assert!(
            e.contains("'50ms' for '--garp-refresh <DURATION>'") && e.contains("at least 100ms"),
            "{e}"
        );
    }

    /// Router Advertisement flags (issue #17): on by default for IPv6 with 200s / 600s, off
    /// for IPv4 and with --no-router-adverts; errors name the flag.
    #[test]
    fn router_advert_flags() {
        let v6 = ["-i", "eth0", "-v", "51", "fe80::51/64", "2001:db8::51/64"];
        let with = |extra: &[&str]| {
            let mut a = v6.to_vec();
            a.extend(extra);
            args(&a)
        };
        let s = with(&[]).unwrap();
        assert_eq!(
            s.router_adverts,
            Some(RaSettings {
                interval: Duration::from_secs(200),
                lifetime_s: 600
            })
        );
        assert_eq!(with(&["--no-router-adverts"]).unwrap().router_adverts, None);
        let s = with(&["--ra-interval", "30s"]).unwrap();
        assert_eq!(s.router_adverts.unwrap().lifetime_s, 90);
        let s = with(&["--ra-interval", "30s", "--ra-lifetime", "1h"]).unwrap();
        assert_eq!(s.router_adverts.unwrap().lifetime_s, 3600);
        let e = with(&["--ra-interval", "3s"]).unwrap_err();
        assert!(
            e.contains("'3s' for '--ra-interval <DURATION>'") && e.contains("4s to 1800s"),
            "{e}"
        );
        let e = with(&["--ra-interval", "60s", "--ra-lifetime", "59s"]).unwrap_err();
        assert!(e.contains("'59s' for '--ra-lifetime <DURATION>'"), "{e}");
        assert!(with(&["--ra-lifetime", "9001s"]).is_err());
        assert!(with(&["--ra-lifetime", "600500ms"]).is_err());
        let v4 = ["-i", "eth0", "-v", "51", "192.0.2.254"];
        assert_eq!(args(&v4).unwrap().router_adverts, None);
        let mut a = v4.to_vec();
        a.extend(["--ra-interval", "30s"]);
        assert!(args(&a).unwrap_err().contains("IPv6 only"));
    }

    /// `--preempt-delay` and `--startup-delay` (issue #17): off by default; errors name the
    /// flag and the value as typed.
    #[test]
    fn delay_flags() {
        let base = ["-i", "eth0", "-v", "51", "192.0.2.254"];
        let s = args(&base).unwrap();
        assert_eq!(
            (s.preempt_delay, s.startup_delay),
            (Duration::ZERO, Duration::ZERO)
        );
        let with = |extra: &[&str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            args(&v)
        };
        let s = with(&["--preempt-delay", "1.5", "--startup-delay", "10s"]).unwrap();
        assert_eq!(s.preempt_delay, Duration::from_millis(1500));
        assert_eq!(s.startup_delay, Duration::from_secs(10));
        for (extra, want) in [
            (
                &["--preempt-delay", "1001s"][..],
                "'1001s' for '--preempt-delay <DURATION>': at most 1000s",
            ),
            (
                &["--preempt-delay", "5s", "-p", "255"][..],
                "'5s' for '--preempt-delay <DURATION>': the address owner (-p 255) always preempts",
            ),
            (
                &["--preempt-delay", "5s", "-s"][..],
                "'5s' for '--preempt-delay <DURATION>': preemption is off (--no-preempt)",
            ),
            (
                &["--preempt-delay", "soon"][..],
                "'soon' for '--preempt-delay <DURATION>'",
            ),
            (
                &["--startup-delay", "2h"][..],
                "'2h' for '--startup-delay <DURATION>': at most 3600s",
            ),
            (&["--startup-delay=-1"][..], "'--startup-delay <DURATION>'"),
            (
                &[
                    "--startup-delay",
                    "1s",
                    "--protocol",
                    "carp",
                    "--password",
                    "x",
                ][..],
                "'1s' for '--startup-delay <DURATION>': a VRRP option",
            ),
        ] {
            let e = with(extra).unwrap_err();
            assert!(e.contains(want), "{extra:?}: {e}");
        }
    }

    /// Tracker flags: defaults, `cmd=` taking the rest, errors naming the flag (issue #16).
    #[test]
    fn tracker_flags() {
        let base = ["-i", "eth0", "-v", "51", "192.0.2.254"];
        let with = |flag: &str, v: &str| {
            let mut a = base.to_vec();
            a.extend([flag, v]);
            args(&a)
        };
        let s = with(
            "--track-check",
            "name=web,interval=2s,timeout=1s,rise=2,fall=3,weight=-20,cmd=/usr/bin/curl -fs http://x/a,b",
        )
        .unwrap();
        let t = &s.trackers[0];
        assert_eq!(
            (t.name.as_str(), t.weight, t.rise, t.fall),
            ("web", -20, 2, 3)
        );
        assert_eq!(
            t.source,
            TrackSource::Check {
                argv: vec!["/usr/bin/curl".into(), "-fs".into(), "http://x/a,b".into()],
                interval: Duration::from_secs(2),
                timeout: Duration::from_secs(1),
            }
        );
        let s = with("--track-check", "cmd=true").unwrap();
        let t = &s.trackers[0];
        assert_eq!(
            (t.name.as_str(), t.weight, t.rise, t.fall),
            ("true", 0, 1, 1)
        );
        for (bad, why) in [
            ("interval=1s", "cmd=PROGRAM"),
            ("cmd=", "needs a program"),
            (
                "interval=1s,timeout=2s,cmd=true",
                "must not exceed the interval",
            ),
            ("weight=300,cmd=true", "-253..253"),
            ("fall=0,cmd=true", "fall must be"),
            ("colour=red,cmd=true", "unknown key 'colour'"),
        ] {
            let e = with("--track-check", bad).unwrap_err();
            assert!(
                e.contains(&format!("'{bad}' for '--track-check <SPEC>'")) && e.contains(why),
                "{bad}: {e}"
            );
        }
        let s = with("--track-interface", "eth1,weight=-30").unwrap();
        assert_eq!(
            (s.trackers[0].source.clone(), s.trackers[0].weight),
            (TrackSource::Interface, -30)
        );
        let e = with("--track-interface", "eth0").unwrap_err();
        assert!(e.contains("own interface"), "{e}");
        let s = with("--track-file", "/run/w").unwrap();
        assert_eq!(s.trackers[0].weight, 1);
        let e = with("--track-file", "/run/w,wieght=2").unwrap_err();
        assert!(
            e.contains("'--track-file <PATH[,weight=N][,reverse]>'"),
            "{e}"
        );
        let s = with("--track-check", "weight=10,reverse,cmd=true").unwrap();
        assert!(s.trackers[0].reverse);
        let s = with("--track-interface", "eth1,reverse").unwrap();
        assert!(s.trackers[0].reverse && s.trackers[0].weight == 0);
        use crate::proto::track::{ArgMatch, ProcessPattern};
        let s = with("--track-process", "haproxy,quorum=2").unwrap();
        assert_eq!(
            s.trackers[0].source,
            TrackSource::Process {
                pattern: ProcessPattern {
                    name: "haproxy".into(),
                    args: None,
                    arg_match: ArgMatch::Exact
                },
                quorum: 2
            }
        );
        let s = with(
            "--track-process",
            "kstrk,weight=-30,match=initial,args=-f /etc/a,b.cfg 10",
        )
        .unwrap();
        assert_eq!(s.trackers[0].name, "kstrk -f /etc/a,b.cfg 10");
        assert_eq!(
            s.trackers[0].source,
            TrackSource::Process {
                pattern: ProcessPattern {
                    name: "kstrk".into(),
                    args: Some(vec!["-f".into(), "/etc/a,b.cfg".into(), "10".into()]),
                    arg_match: ArgMatch::Initial
                },
                quorum: 1
            }
        );
        let s = with("--track-process", "sleepy,args=").unwrap();
        let TrackSource::Process { pattern, .. } = &s.trackers[0].source else {
            panic!("not a process tracker")
        };
        assert_eq!(pattern.args, Some(vec![]));
        for (bad, why) in [
            ("kstrk,match=partial", "give them with args="),
            ("kstrk,match=some,args=1", "exact, partial or initial"),
            ("kstrk,match=initial,args=", "at least one argument"),
            ("kstrk,args=1,quorum=2", ""),
        ] {
            match with("--track-process", bad) {
                Err(e) => assert!(
                    e.contains("--track-process <NAME") && e.contains(why),
                    "{bad}: {e}"
                ),
                // args= takes the rest: "1,quorum=2" is one argument.
                Ok(s) => assert_eq!(s.trackers[0].name, "kstrk 1,quorum=2", "{bad}"),
            }
        }
        let e = with("--track-process", "a-very-long-process-name").unwrap_err();
        assert!(e.contains("15 characters"), "{e}");
    }

    #[test]
    fn carp_command_line_as_ucarp() {
        let base = [
            "-i",
            "eth0",
            "-v",
            "7",
            "--protocol",
            "carp",
            "--password",
            "secret",
        ];
        let mut v = base.to_vec();
        v.extend([
            "--advskew",
            "50",
            "--deadratio",
            "4",
            "--neutral",
            "--shutdown",
        ]);
        v.extend([
            "--ignoreifstate",
            "--xparam",
            "nodeA",
            "-d",
            "2",
            "192.0.2.254/24",
        ]);
        let s = args(&v).unwrap();
        let c = s.carp.clone().unwrap();
        assert_eq!((s.vrid, s.interval_cs), (7, 200));
        assert_eq!((c.advskew, c.deadratio), (50, 4));
        assert!(c.neutral && c.shutdown_hook && c.ignore_ifstate);
        assert_eq!(c.password, b"secret");
        assert_eq!(c.xparam.as_deref(), Some("nodeA"));
        assert!(!s.preempt, "CARP does not preempt unless --preempt");
        assert!(!s.vmac, "no virtual MAC in CARP mode");
        assert!(!format!("{c:?}").contains("secret"));
        let mut v = base.to_vec();
        v.extend(["--preempt", "192.0.2.254/24"]);
        assert!(args(&v).unwrap().preempt);
    }

    #[test]
    fn adverts_aligned_unless_no_align() {
        let base = ["-i", "eth0", "-v", "7", "192.0.2.254/24"];
        assert!(args(&base).unwrap().align_adverts);
        let mut v = base.to_vec();
        v.insert(4, "--no-align");
        assert!(!args(&v).unwrap().align_adverts);
    }

    #[test]
    fn carp_errors_name_the_flag() {
        let base = ["-i", "eth0", "-v", "7", "--protocol", "carp"];
        let with = |extra: &[&str]| {
            let mut v = base.to_vec();
            v.extend_from_slice(extra);
            args(&v).unwrap_err()
        };
        let e = with(&["192.0.2.254/24"]);
        assert!(e.contains("--password"), "{e}");
        let e = with(&["--password", "01234567890123456789", "192.0.2.254/24"]);
        assert!(e.contains("--password") && e.contains("1-19"), "{e}");
        let e = with(&["--password", "x", "192.0.2.254/24", "192.0.2.253/24"]);
        assert!(e.contains("exactly one IPv4"), "{e}");
        let e = with(&["--password", "x", "2001:db8::1/64"]);
        assert!(e.contains("exactly one IPv4"), "{e}");
        let e = args(&["-i", "eth0", "-v", "7", "--nomcast", "192.0.2.254/24"]).unwrap_err();
        assert!(
            e.contains("--nomcast") && e.contains("--protocol carp"),
            "{e}"
        );
        let e = with(&["--password", "x", "-d", "0.5", "192.0.2.254/24"]);
        assert!(e.contains("whole seconds"), "{e}");
        let e = with(&["--password", "x", "--no-align", "192.0.2.254/24"]);
        assert!(e.contains("--no-align") && e.contains("VRRP only"), "{e}");
        let e = args(&["-i", "eth0", "-v", "7", "--advskew", "5", "192.0.2.254/24"]).unwrap_err();
        assert!(
            e.contains("--advskew") && e.contains("--protocol carp"),
            "{e}"
        );
    }

    #[test]
    fn carp_password_file_first_line() {
        let dir = std::env::temp_dir().join(format!("vrrpd-cli-carp-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("pass");
        std::fs::write(&f, "secret\r\nsecond line\n").unwrap();
        let fs = f.to_string_lossy().into_owned();
        let s = args(&[
            "-i",
            "eth0",
            "-v",
            "7",
            "--protocol",
            "carp",
            "--password-file",
            &fs,
            "192.0.2.254/24",
        ])
        .unwrap();
        assert_eq!(s.carp.unwrap().password, b"secret\r", "ucarp keeps the \\r");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn minimal_command_line() {
        let s = args(&["-i", "eth0", "-v", "51", "-p", "150", "192.0.2.254/24"]).unwrap();
        assert_eq!(s.vrid, 51);
        assert_eq!(s.priority, 150);
        assert_eq!(s.interval_cs, 100);
        assert!(s.preempt && s.vmac);
        assert_eq!(s.vips[0].prefix, 24);
        assert_eq!(s.family, Family::V4);
        assert_eq!(s.version, Version::V3);
    }

    /// `--realtime PRIO` (issue #14): off by default, 1-99, every refused value named with the
    /// flag and the range.
    #[test]
    fn realtime_flag() {
        let base = ["-i", "eth0", "-v", "51", "192.0.2.254/24"];
        assert_eq!(args(&base).unwrap().realtime, None);
        for (v, want) in [("1", 1), ("7", 7), ("99", 99)] {
            let mut a = base.to_vec();
            a.extend(["--realtime", v]);
            assert_eq!(args(&a).unwrap().realtime, Some(want), "{v}");
        }
        for bad in ["0", "100", "256", "-1", "rr", "", "7.5"] {
            let mut a = base.to_vec();
            let arg = format!("--realtime={bad}");
            a.push(&arg);
            let e = args(&a).unwrap_err();
            assert!(
                e.contains(&format!("'{bad}' for '--realtime <PRIO>'")) && e.contains("1-99"),
                "{bad}: {e}"
            );
        }
        for bad in ["0", "100", "junk"] {
            let mut a = base.to_vec();
            a.extend(["--realtime", bad]);
            let e = args(&a).unwrap_err();
            assert_eq!(
                e,
                format!("invalid value '{bad}' for '--realtime <PRIO>': expected an integer 1-99")
            );
        }
        let mut a = base.to_vec();
        a.push("--realtime");
        let e = args(&a).unwrap_err();
        assert!(e.contains("--realtime <PRIO>"), "{e}");
    }

    #[test]
    fn vip_before_options_as_getopt_reorders() {
        let s = args(&["192.0.2.254", "-i", "eth0", "-v", "7"]).unwrap();
        assert_eq!(s.vips[0].prefix, 32);
    }

    #[test]
    fn errors_name_flag_value_and_range() {
        let e = args(&["-i", "eth0", "-v", "0", "192.0.2.1"]).unwrap_err();
        assert!(
            e.contains("'0'") && e.contains("--vrid") && e.contains("1-255"),
            "{e}"
        );
        let e = args(&["-i", "eth0", "-v", "256", "192.0.2.1"]).unwrap_err();
        assert!(e.contains("256") && e.contains("1-255"), "{e}");
        let e = args(&["-i", "eth0", "-v", "5", "-p", "abc", "192.0.2.1"]).unwrap_err();
        assert!(e.contains("abc") && e.contains("--priority"), "{e}");
        let e = args(&["-i", "eth0", "-v", "5", "-p", "256", "192.0.2.1"]).unwrap_err();
        assert!(e.contains("256"), "{e}");
        let e = args(&["-i", "eth0", "-v", "5", "192.0.2.1", "2001:db8::1"]).unwrap_err();
        assert!(e.contains("IPv4 or all IPv6"), "{e}");
        let e = args(&["-i", "eth0", "-v", "5"]).unwrap_err();
        assert!(e.contains("virtual address"), "{e}");
        let e = args(&["-i", "eth0", "-v", "5", "300.1.1.1"]).unwrap_err();
        assert!(e.contains("300.1.1.1"), "{e}");
        let e = args(&["-i", "eth0", "-v", "5", "192.0.2.1/33"]).unwrap_err();
        assert!(e.contains("/33") && e.contains("0-32"), "{e}");
        let e = args(&["-i", "eth0", "-v", "5", "-d", "0", "192.0.2.1"]).unwrap_err();
        assert!(e.contains("'0'") && e.contains("--interval"), "{e}");
        let e = args(&["-i", "eth0", "-v", "5", "-a", "pw/secret", "192.0.2.1"]).unwrap_err();
        assert!(e.contains("VRRPv2"), "{e}");
        let e = args(&["-v", "5", "192.0.2.1"]).unwrap_err();
        assert!(e.contains("-i"), "{e}");
    }

    #[test]
    fn intervals_per_version() {
        assert_eq!(
            args(&["-i", "e", "-v", "1", "-d", "100ms", "192.0.2.1"])
                .unwrap()
                .interval_cs,
            10
        );
        assert_eq!(
            args(&["-i", "e", "-v", "1", "-d", "0.5", "192.0.2.1"])
                .unwrap()
                .interval_cs,
            50
        );
        assert!(args(&["-i", "e", "-v", "1", "-d", "15ms", "192.0.2.1"]).is_err());
        assert!(args(&["-i", "e", "-v", "1", "-d", "41s", "192.0.2.1"]).is_err());
        let v2 = [
            "-i",
            "e",
            "-v",
            "1",
            "--vrrp-version",
            "2",
            "-d",
            "100ms",
            "192.0.2.1",
        ];
        assert!(args(&v2).unwrap_err().contains("whole seconds"));
        let v2 = [
            "-i",
            "e",
            "-v",
            "1",
            "--vrrp-version",
            "2",
            "-d",
            "2",
            "-a",
            "pw/secret1",
            "192.0.2.1",
        ];
        let s = args(&v2).unwrap();
        assert_eq!(s.interval_cs, 200);
        assert_eq!(s.auth, Auth::Password(*b"secret1\0"));
    }

    #[test]
    fn ipv6_link_local_first_and_v2_refused() {
        let s = args(&["-i", "e", "-v", "1", "2001:db8::fe/64", "fe80::53/64"]).unwrap();
        assert_eq!(s.family, Family::V6);
        assert_eq!(s.vips[0].addr.to_string(), "fe80::53");
        assert!(args(&["-i", "e", "-v", "1", "--vrrp-version", "2", "2001:db8::fe"]).is_err());
    }

    #[test]
    fn password_limits() {
        assert!(args(&[
            "-i",
            "e",
            "-v",
            "1",
            "--vrrp-version",
            "2",
            "-a",
            "pw/123456789",
            "192.0.2.1"
        ])
        .is_err());
        assert!(args(&[
            "-i",
            "e",
            "-v",
            "1",
            "--vrrp-version",
            "2",
            "-a",
            "ah/x",
            "192.0.2.1"
        ])
        .is_err());
    }

    /// Errors quote the value as typed and name flags by their long names, as clap does
    /// (issue #20 item 7).
    #[test]
    fn errors_quote_what_was_typed_with_long_flag_names() {
        let e = args(&["-i", "e", "-v", "1", "-d", "0.055", "192.0.2.1"]).unwrap_err();
        assert!(e.contains("'0.055' for '--interval <INTERVAL>'"), "{e}");
        let e = args(&[
            "-i",
            "e",
            "-v",
            "1",
            "--garp-interval",
            "11000ms",
            "192.0.2.1",
        ])
        .unwrap_err();
        assert!(
            e.contains("'11000ms' for '--garp-interval <DURATION>'"),
            "{e}"
        );
        let e = args(&["-v", "5", "192.0.2.1"]).unwrap_err();
        assert!(e.starts_with("missing --interface <IF>"), "{e}");
        let e = args(&["-i", "eth0", "192.0.2.1"]).unwrap_err();
        assert!(e.starts_with("missing --vrid <VRID>"), "{e}");
        let e = args(&[
            "-i",
            "e",
            "-v",
            "1",
            "--vrrp-version",
            "3",
            "-a",
            "pw/x",
            "192.0.2.1",
        ])
        .unwrap_err();
        assert!(e.contains("'--auth <none|pw/KEY>'"), "{e}");
    }

    /// `-i lo` needs `-n`: the loopback interface cannot carry a macvlan.
    #[test]
    fn loopback_needs_no_vmac() {
        let e = args(&["-i", "lo", "-v", "1", "192.0.2.1"]).unwrap_err();
        assert!(e.contains("'lo'") && e.contains("-n (--no-vmac)"), "{e}");
        assert!(args(&["-i", "lo", "-v", "1", "-n", "192.0.2.1"]).is_ok());
    }

    /// A hook must be something execve(2) runs: a `#!` line naming an existing interpreter, or
    /// a binary (issue #20 item 3).
    #[test]
    fn hooks_need_a_shebang_or_a_binary() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("vrrpd-cli-hooks-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let write = |name: &str, body: &[u8]| {
            let p = dir.join(name);
            std::fs::write(&p, body).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
            p.to_string_lossy().into_owned()
        };
        let run = |hook: &str| args(&["-i", "e", "-v", "1", "-U", hook, "192.0.2.1"]);
        let no_shebang = write("plain", b"echo hello\n");
        let e = run(&no_shebang).unwrap_err();
        assert!(
            e.contains("'--master-script <FILE>'") && e.contains("no #! line"),
            "{e}"
        );
        let bad_interp = write("bad", b"#!/nonexistent/sh\necho\n");
        let e = run(&bad_interp).unwrap_err();
        assert!(e.contains("/nonexistent/sh"), "{e}");
        let empty = write("empty", b"");
        assert!(run(&empty).unwrap_err().contains("no #! line"));
        assert!(run(&write("ok", b"#!/bin/sh\necho\n")).is_ok());
        assert!(run(&write("ok2", b"#! /bin/sh -e\necho\n")).is_ok());
        assert!(run(&write("elf", b"\x7fELF\x02\x01\x01")).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Defect 9 of issue 13 (as keepalived's `script_security`): a hook that another user could
    /// change is root code execution, so a group- or world-writable hook, or one in a directory
    /// others may write (without the sticky bit), is refused with an error naming the file.
    #[test]
    fn hooks_others_could_change_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("vrrpd-cli-hooksec-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let write = |d: &std::path::Path, name: &str, mode: u32| {
            let p = d.join(name);
            std::fs::write(&p, b"#!/bin/sh\necho\n").unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
            p.to_string_lossy().into_owned()
        };
        let run = |hook: &str| args(&["-i", "e", "-v", "1", "-D", hook, "192.0.2.1"]);
        assert!(run(&write(&dir, "ok", 0o755)).is_ok());
        for mode in [0o775, 0o757, 0o777] {
            let hook = write(&dir, &format!("w{mode:o}"), mode);
            let e = run(&hook).unwrap_err();
            assert!(
                e.contains("'--backup-script <FILE>'")
                    && e.contains(&hook)
                    && e.contains("writable"),
                "{mode:o}: {e}"
            );
        }
        let open = dir.join("open");
        std::fs::create_dir_all(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        let hook = write(&open, "hook", 0o755);
        let e = run(&hook).unwrap_err();
        assert!(
            e.contains(&open.to_string_lossy().into_owned()) && e.contains("writable"),
            "{e}"
        );
        // A sticky directory (as /tmp): others cannot replace the hook.
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o1777)).unwrap();
        assert!(run(&hook).is_ok(), "{:?}", run(&hook).err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
