//! The daemon's configuration: what one instance runs with, built once from the command line by
//! the CLI layer, so that nothing under `daemon` depends on the argument parser.

use core::fmt;
use core::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::proto::packet::Auth;
use crate::proto::{ChecksumForm, Family, Version};

/// How the link state is watched (`--link-check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkCheck {
    /// Netlink events plus ethtool or MII polling when the driver answers.
    Auto,
    /// Netlink link events only.
    Netlink,
    /// ETHTOOL_GLINK polling (plus netlink events).
    Ethtool,
    /// MII BMSR polling (plus netlink events).
    Mii,
}

/// A virtual address with its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vip {
    /// The address.
    pub addr: IpAddr,
    /// Prefix length put on the interface.
    pub prefix: u8,
}

impl fmt::Display for Vip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl Settings {
    /// Whether this instance is the address owner (priority 255).
    pub fn is_owner(&self) -> bool {
        crate::proto::fsm::is_owner_priority(self.priority)
    }
}

/// A validated configuration for one instance, built once from the command line (see
/// the CLI layer's `Args::validate`).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Interface name.
    pub interface: String,
    /// VRID.
    pub vrid: u8,
    /// Configured priority.
    pub priority: u8,
    /// Advertisement interval in centiseconds (v2: seconds × 100).
    pub interval_cs: u16,
    /// Preempt_Mode.
    pub preempt: bool,
    /// VRRPv2 authentication.
    pub auth: Auth,
    /// Use the virtual MAC.
    pub vmac: bool,
    /// -U hook.
    pub master_script: Option<PathBuf>,
    /// -D hook.
    pub backup_script: Option<PathBuf>,
    /// --fault-script hook.
    pub fault_script: Option<PathBuf>,
    /// -z value.
    pub priority_down: Option<u8>,
    /// -x value.
    pub priority_up: Option<u8>,
    /// -M value.
    pub monitor: Option<u8>,
    /// Host group name (None: per network namespace).
    pub group: Option<String>,
    /// Group member failure timeout.
    pub group_timeout: Duration,
    /// Link polling period (zero: off).
    pub link_poll: Duration,
    /// `--quiet-backup auto`: let the kernel drop repeated adverts while Backup (see
    /// [`super::quiet`]); false: every advert wakes the loop.
    pub quiet_backup: bool,
    /// Link check method.
    pub link_check: LinkCheck,
    /// -I / -O.
    pub magic: Option<(IpAddr, IpAddr)>,
    /// VRRP version.
    pub version: Version,
    /// Address family, from the VIPs.
    pub family: Family,
    /// Accept_Mode.
    pub accept: bool,
    /// GARP/NA repeats.
    pub garp_count: u32,
    /// GARP/NA spacing.
    pub garp_interval: Duration,
    /// `--garp-refresh`: one GARP/NA round this often while master (None: off).
    pub garp_refresh: Option<Duration>,
    /// Hook timeout.
    pub script_timeout: Duration,
    /// Foreground, log to stderr.
    pub foreground: bool,
    /// Debug logging.
    pub debug: bool,
    /// Pid file override.
    pub pid_file: Option<PathBuf>,
    /// VRRPv3-over-IPv4 checksum form sent.
    pub checksum_form: ChecksumForm,
    /// Lossless planned handover.
    pub handover: bool,
    /// Regular adverts on the host-wide grid (`--no-align`: off), see
    /// [`crate::proto::fsm::Config::align_adverts`].
    pub align_adverts: bool,
    /// Virtual addresses.
    pub vips: Vec<Vip>,
    /// `--protocol carp`: run CARP as ucarp speaks it instead of VRRP (then `vrid` is the vhid,
    /// `interval_cs / 100` the advbase and `vmac` false).
    pub carp: Option<CarpSettings>,
    /// Health trackers (`--track-check`, `--track-interface`, `--track-file`,
    /// `--track-process`), in command-line order.
    pub trackers: Vec<TrackSpec>,
    /// Unicast peers (`--unicast-peer`), `None` for multicast.
    pub unicast: Option<UnicastSettings>,
    /// `--preempt-delay` (zero: none), see [`crate::proto::fsm::Config::preempt_delay`].
    pub preempt_delay: Duration,
    /// `--startup-delay` (zero: none), see [`crate::proto::fsm::Config::startup_delay`].
    pub startup_delay: Duration,
    /// IPv6 Router Advertisements for the virtual router while master (RFC 9568 §8.2); `None`:
    /// IPv4, or `--no-router-adverts`.
    pub router_adverts: Option<RaSettings>,
    /// `--realtime PRIO`: run the event loop at `SCHED_RR` priority 1..=99 (see
    /// [`super::realtime`]); `None`: normal scheduling.
    pub realtime: Option<u8>,
}

/// The Router Advertisements of an IPv6 master ([`crate::proto::ra`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RaSettings {
    /// `--ra-interval`: MaxRtrAdvInterval (RFC 4861 §6.2.1).
    pub interval: Duration,
    /// `--ra-lifetime`: the Router Lifetime advertised, seconds.
    pub lifetime_s: u16,
}

/// Adverts to configured peers instead of the VRRP group ([`crate::proto::unicast`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnicastSettings {
    /// The peers, in the order adverts are sent.
    pub peers: Vec<IpAddr>,
    /// `--unicast-src`: the source of our adverts, the address the peers send to. `None`: the
    /// interface's primary IPv4 address; IPv6: its link-local address when every peer is
    /// link-local, else its first global address.
    pub src: Option<IpAddr>,
    /// `--unicast-min-ttl`: lowest TTL / hop limit accepted from a peer (default 255).
    pub min_ttl: u8,
}

/// What a health tracker watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackSource {
    /// A command run every `interval`, killed (with its process group) at `timeout`.
    Check {
        /// The program and its arguments (no shell).
        argv: Vec<String>,
        /// Time between the starts of two runs.
        interval: Duration,
        /// A run still going after this long is killed and counts as failing.
        timeout: Duration,
    },
    /// Another interface's link (up means IFF_UP and IFF_RUNNING).
    Interface,
    /// A file holding an integer, watched with inotify.
    File(PathBuf),
    /// Processes matching `pattern` (a name, optionally arguments): up while at least
    /// `quorum` run.
    Process {
        /// Which processes count.
        pattern: crate::proto::track::ProcessPattern,
        /// Processes needed.
        quorum: u32,
    },
}

/// One health tracker: what it watches, its name, weight and rise/fall counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackSpec {
    /// Name in logs and reports (the interface name for an interface tracker, the path for a
    /// file).
    pub name: String,
    /// What it watches.
    pub source: TrackSource,
    /// Weight, −253..=253 (0: down → Fault).
    pub weight: i32,
    /// Successes in a row that bring it up.
    pub rise: u32,
    /// Failures in a row that take it down.
    pub fall: u32,
    /// keepalived's `reverse`: up and down swap and the weight is negated.
    pub reverse: bool,
}

/// The CARP side of an instance (`--protocol carp`), in ucarp's terms.
#[derive(Clone, PartialEq, Eq)]
pub struct CarpSettings {
    /// Skew, 1/256 s.
    pub advskew: u8,
    /// Master-down multiplier.
    pub deadratio: u8,
    /// Password bytes (1..=19).
    pub password: Vec<u8>,
    /// No Backup hook at start.
    pub neutral: bool,
    /// Run the Backup hook at exit.
    pub shutdown_hook: bool,
    /// Ignore the link state (no Fault on carrier loss).
    pub ignore_ifstate: bool,
    /// Extra hook argument.
    pub xparam: Option<String>,
    /// ucarp `--nomcast`: adverts in Ethernet broadcast frames (still to 224.0.0.18).
    pub nomcast: bool,
}

impl fmt::Debug for CarpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CarpSettings")
            .field("advskew", &self.advskew)
            .field("deadratio", &self.deadratio)
            .field("password", &"<redacted>")
            .field("neutral", &self.neutral)
            .field("shutdown_hook", &self.shutdown_hook)
            .field("ignore_ifstate", &self.ignore_ifstate)
            .field("xparam", &self.xparam)
            .field("nomcast", &self.nomcast)
            .finish()
    }
}
