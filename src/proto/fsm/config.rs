//! Configuration of one virtual router and its validation.

use core::fmt;
use core::net::IpAddr;
use core::time::Duration;

use crate::proto::packet::Auth;
use crate::proto::unicast::{PeersError, Transport};
use crate::proto::{ChecksumForm, Family, Version};

/// The priority of the address owner (RFC 9568 §6.1, RFC 3768 §6.1).
pub const OWNER_PRIORITY: u8 = 255;

/// Whether `priority` is the address owner's: the one test, used by [`Config::is_owner`] and by
/// the shell before an instance exists.
pub fn is_owner_priority(priority: u8) -> bool {
    priority == OWNER_PRIORITY
}

/// Configuration of one virtual router (one VRID on one interface, one family).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Protocol version.
    pub version: Version,
    /// Address family (VRRPv2: IPv4 only).
    pub family: Family,
    /// Virtual Router Identifier, 1..=255.
    pub vrid: u8,
    /// Priority 1..=255; 255 = address owner (starts Master, preempts whatever `preempt` says).
    pub priority: u8,
    /// Advertisement_Interval in centiseconds. v3: 1..=4095. v2: whole seconds × 100 (the v2 wire
    /// field is seconds, 1..=255).
    pub adver_interval_cs: u16,
    /// Preempt_Mode (default true). Read only in Backup (RFC 9568 §6.4.2).
    pub preempt: bool,
    /// Accept_Mode (v3, default false). Reported only: the daemon installs no filter (README,
    /// "Interoperability"), so a master always accepts traffic to the VIPs.
    pub accept_mode: bool,
    /// Virtual addresses, all of `family`, sent in this order. IPv6: RFC 9568 §5.2.9 wants the
    /// link-local VIP first (the CLI sorts it first); a list without one is allowed, as keepalived
    /// and FRR send such lists (see [`crate::proto::packet::parse`]).
    pub vips: Vec<IpAddr>,
    /// VRRPv2 authentication (RFC 3768 §5.3.6); `Auth::None` for v3 unless `interop_v2`.
    pub auth: Auth,
    /// Checksum form sent for VRRPv3 over IPv4 (carried; the daemon emits). Default pseudo.
    pub checksum_form: ChecksumForm,
    /// Lossless planned handover (default true): on Shutdown or ForceBackup as Master, send
    /// priority 0 but keep the VIPs until a new Master is heard or Master_Down_Interval passes.
    pub handover: bool,
    /// RFC 9568 §8.4.2 upgrade mode (v3 over IPv4 only, default false): also accept VRRPv2 adverts
    /// (a Backup times out on their rate, seconds × 100) and send a VRRPv2 advert beside each
    /// VRRPv3 one. VRRPv2 adverts from a peer also heard speaking VRRPv3 are ignored.
    pub interop_v2: bool,
    /// Where adverts go and the first receive check ([`Transport::check`]): the VRRP group with
    /// TTL 255 (R1), or unicast peers (default multicast).
    pub transport: Transport,
    /// IPv6: Router Advertisements for the virtual router while Master (RFC 9568 §6.4.3, §8.2;
    /// [`crate::proto::ra`]); `None` sends none (IPv4, or `--no-router-adverts`). Default `None`.
    pub router_adverts: Option<crate::proto::ra::RaConfig>,
    /// Preemption delay (keepalived's `preempt_delay`, default zero = none): for this long after
    /// the instance joins the election (leaves Initialize: at start-up, after a start-up delay,
    /// when a fault clears) a Backup accepts a lower-priority Master's adverts as S6 does
    /// (restarting the down timer) instead of preempting it (S7). Silence or priority 0 still
    /// promotes at once (S4, S5). Needs Preempt_Mode; refused for the address owner, which
    /// always preempts (RFC 9568 §6.1, RFC 3768 §6.1).
    pub preempt_delay: Duration,
    /// Start-up delay (as keepalived's `vrrp_startup_delay`, default zero = none): when at
    /// [`super::Event::Startup`] the interface is down, gone, or without its primary address,
    /// the instance stays in Initialize for this long (links settling) before it joins the
    /// election or enters Fault; when the interface is up with its address it starts at once.
    pub startup_delay: Duration,
    /// Regular adverts on the host-wide grid of whole Advertisement_Intervals (default true;
    /// `vrrpd --no-align` turns it off): on becoming Master (S1, S4) and after S10's reply the
    /// next advert goes at [`crate::proto::timers::next_on_grid`], at most one interval later,
    /// instead of exactly one Advertisement_Interval later (RFC 9568 §6.4.1, §6.4.3); S9 then
    /// advances by whole intervals either way. Off, or at intervals under
    /// [`crate::proto::timers::GRID_MIN_INTERVAL`] (100 ms), the schedule is the RFC's to the
    /// letter.
    pub align_adverts: bool,
}

/// Longest [`Config::preempt_delay`]: keepalived's range, 0-1000 s.
pub const MAX_PREEMPT_DELAY: Duration = Duration::from_secs(1000);
/// Longest [`Config::startup_delay`]: one hour.
pub const MAX_STARTUP_DELAY: Duration = Duration::from_secs(3600);

impl Config {
    /// A configuration with the usual defaults: priority 100, 1 s (100 cs), preempt on, accept
    /// mode off, no auth, pseudo-header checksum, handover on, no v2 interop, adverts aligned.
    pub fn new(version: Version, family: Family, vrid: u8, vips: Vec<IpAddr>) -> Self {
        Config {
            version,
            family,
            vrid,
            priority: 100,
            adver_interval_cs: 100,
            preempt: true,
            accept_mode: false,
            vips,
            auth: Auth::None,
            checksum_form: ChecksumForm::Pseudo,
            handover: true,
            interop_v2: false,
            transport: Transport::Multicast,
            router_adverts: None,
            preempt_delay: Duration::ZERO,
            startup_delay: Duration::ZERO,
            align_adverts: true,
        }
    }

    /// Whether we are the address owner (priority 255).
    pub fn is_owner(&self) -> bool {
        is_owner_priority(self.priority)
    }

    /// Check every field against the RFC ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.version == Version::V2 && self.family == Family::V6 {
            return Err(ConfigError::V2Ipv6);
        }
        if self.vrid == 0 {
            return Err(ConfigError::Vrid(self.vrid));
        }
        if self.priority == 0 {
            return Err(ConfigError::Priority(self.priority));
        }
        let cs = self.adver_interval_cs;
        let interval_ok = match self.version {
            Version::V3 => (1..=4095).contains(&cs),
            Version::V2 => (100..=25500).contains(&cs) && cs % 100 == 0,
        };
        if !interval_ok {
            return Err(ConfigError::Interval {
                version: self.version,
                cs,
            });
        }
        if self.vips.is_empty() {
            return Err(ConfigError::NoVips);
        }
        if self.vips.len() > 255 {
            return Err(ConfigError::TooManyVips(self.vips.len()));
        }
        for (i, vip) in self.vips.iter().enumerate() {
            if Family::of(*vip) != self.family {
                return Err(ConfigError::VipFamily(*vip));
            }
            if self.vips.iter().take(i).any(|v| v == vip) {
                return Err(ConfigError::DuplicateVip(*vip));
            }
        }
        if self.interop_v2 && (self.version != Version::V3 || self.family != Family::V4) {
            return Err(ConfigError::InteropNeedsV3Ipv4);
        }
        if self.version == Version::V3 && !self.interop_v2 && self.auth != Auth::None {
            return Err(ConfigError::AuthNeedsV2);
        }
        if let Transport::Unicast(p) = &self.transport {
            p.validate(self.family).map_err(ConfigError::Peers)?;
        }
        if !self.preempt_delay.is_zero() {
            if self.preempt_delay > MAX_PREEMPT_DELAY {
                return Err(ConfigError::PreemptDelay(PreemptDelayError::TooLong));
            }
            if self.is_owner() {
                return Err(ConfigError::PreemptDelay(PreemptDelayError::Owner));
            }
            if !self.preempt {
                return Err(ConfigError::PreemptDelay(PreemptDelayError::NoPreempt));
            }
        }
        if self.startup_delay > MAX_STARTUP_DELAY {
            return Err(ConfigError::StartupDelayTooLong);
        }
        Ok(())
    }
}

/// A configuration field out of range. `Display` names the field and what is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigError {
    /// `vrid` is 0.
    Vrid(u8),
    /// `priority` is 0.
    Priority(u8),
    /// `adver_interval_cs` out of range for the version.
    Interval {
        /// Configured version.
        version: Version,
        /// Configured value, centiseconds.
        cs: u16,
    },
    /// `vips` is empty.
    NoVips,
    /// More than 255 VIPs (the count field is 8 bits).
    TooManyVips(usize),
    /// A VIP of the other family.
    VipFamily(IpAddr),
    /// A VIP listed twice.
    DuplicateVip(IpAddr),
    /// VRRPv2 over IPv6.
    V2Ipv6,
    /// `auth` set on a VRRPv3 instance.
    AuthNeedsV2,
    /// `interop_v2` on something other than VRRPv3 over IPv4.
    InteropNeedsV3Ipv4,
    /// A bad unicast peer list.
    Peers(PeersError),
    /// `preempt_delay` that cannot apply.
    PreemptDelay(PreemptDelayError),
    /// `startup_delay` above [`MAX_STARTUP_DELAY`].
    StartupDelayTooLong,
}

/// Why a [`Config::preempt_delay`] is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreemptDelayError {
    /// Above [`MAX_PREEMPT_DELAY`].
    TooLong,
    /// The address owner always preempts (RFC 9568 §6.1).
    Owner,
    /// Preempt_Mode is off: there is no preemption to delay.
    NoPreempt,
}

impl fmt::Display for PreemptDelayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PreemptDelayError::TooLong => "at most 1000s (keepalived's range)",
            PreemptDelayError::Owner => {
                "the address owner (priority 255) always preempts (RFC 9568 section 6.1): \
                 drop the delay or lower the priority"
            }
            PreemptDelayError::NoPreempt => {
                "preemption is off (--no-preempt): there is nothing to delay"
            }
        })
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Vrid(v) => write!(f, "vrid {v} out of range: allowed 1..=255"),
            ConfigError::Priority(p) => {
                write!(
                    f,
                    "priority {p} out of range: allowed 1..=255 (255 = address owner)"
                )
            }
            ConfigError::Interval {
                version: Version::V3,
                cs,
            } => write!(
                f,
                "adver_interval_cs {cs} out of range: VRRPv3 allows 1..=4095 centiseconds"
            ),
            ConfigError::Interval {
                version: Version::V2,
                cs,
            } => write!(
                f,
                "adver_interval_cs {cs} invalid: VRRPv2 allows whole seconds 1..=255 \
                 (100..=25500 centiseconds, a multiple of 100)"
            ),
            ConfigError::NoVips => write!(f, "vips: at least one virtual address is required"),
            ConfigError::TooManyVips(n) => write!(f, "vips: {n} addresses, allowed 1..=255"),
            ConfigError::VipFamily(a) => {
                write!(f, "vips: {a} is not of the instance's address family")
            }
            ConfigError::DuplicateVip(a) => write!(f, "vips: {a} is listed twice"),
            ConfigError::V2Ipv6 => write!(f, "version: VRRPv2 supports IPv4 only"),
            ConfigError::AuthNeedsV2 => {
                write!(
                    f,
                    "auth: authentication exists only in VRRPv2 (allowed: none)"
                )
            }
            ConfigError::InteropNeedsV3Ipv4 => {
                write!(f, "interop_v2: allowed only with version 3 and IPv4")
            }
            ConfigError::Peers(e) => write!(f, "{e}"),
            ConfigError::PreemptDelay(e) => write!(f, "preempt_delay: {e}"),
            ConfigError::StartupDelayTooLong => write!(f, "startup_delay: at most 3600s"),
        }
    }
}

impl std::error::Error for ConfigError {}
