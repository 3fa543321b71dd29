//! The link: interface re-reads (netlink events, SIGHUP, a changed polled link state), the
//! ethtool / MII poll beside netlink, and the primary address the adverts are sent from.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::io;
use std::time::Duration;

use super::config::Settings;
use crate::proto::fsm::{Event, FaultReason};
use crate::proto::Family;
use crate::sys::iface::{self, Interface};
use crate::sys::linkcheck::{self, LinkCheckKind};
use crate::sys::socket::VrrpSocket;
use crate::vlog;

use super::startup::StartError;
use super::Daemon;

/// ethtool / MII link polling, riding on wake-ups that happen anyway.
///
/// Polling on a timer of its own would wake an idle instance once per `--link-poll` besides its
/// adverts. Instead any wake-up from `soft` on (3/4 of the period after the last poll) polls,
/// and the poll's own deadline (`next`, armed on the timerfd) is only a backstop for when
/// nothing else wakes the loop:
/// - with netlink link events (the normal case; they report a carrier change at once) the
///   backstop is 5/4 of the larger of the period and the advert interval, so a master (woken by
///   every advert it sends) and a backup (by every advert it receives) never wake for the poll;
///   the poll then sees a loss the driver reports only to ethtool/MII within that bound;
/// - without them (the monitor could not be opened) the poll is the only link watch: the
///   backstop is 5/4 of the period, so a loss is seen within 1.25 × `--link-poll` even in
///   Fault, where nothing is sent; with adverts at least every half period, within one period.
#[derive(Debug)]
pub(super) struct LinkPoll {
    checker: linkcheck::Checker,
    every: Duration,
    /// The longest the poll waits for another wake-up past `every` (see above).
    backstop: Duration,
    /// From here on a wake-up polls.
    soft: Duration,
    /// The poll's own deadline.
    pub(super) next: Duration,
    up: bool,
}

/// The poll's window after a poll at `last`: (from when any wake-up polls, its own deadline).
fn poll_window(last: Duration, every: Duration, backstop: Duration) -> (Duration, Duration) {
    (last + every * 3 / 4, last + backstop)
}

/// The poll's backstop (see [`LinkPoll`]): `events` = netlink link events are watched.
fn poll_backstop(every: Duration, interval: Duration, events: bool) -> Duration {
    if events {
        every.max(interval) * 5 / 4
    } else {
        every * 5 / 4
    }
}

/// Choose the link check from `--link-check` and what the driver answers; `events` says whether
/// netlink link events are watched (the monitor is open). Logs which way the link is watched.
pub(super) fn link_poll_for(
    s: &Settings,
    now: Duration,
    events: bool,
) -> Result<Option<LinkPoll>, StartError> {
    use super::config::LinkCheck;
    let forced = match s.link_check {
        LinkCheck::Netlink => None,
        LinkCheck::Ethtool => Some(LinkCheckKind::Ethtool),
        LinkCheck::Mii => Some(LinkCheckKind::Mii),
        LinkCheck::Auto => {
            let found = linkcheck::probe(&s.interface);
            [LinkCheckKind::Ethtool, LinkCheckKind::Mii]
                .into_iter()
                .find(|k| found.contains(k))
        }
    };
    if let (Some(kind), true) = (forced, s.link_check != LinkCheck::Auto) {
        if let Err(e) = linkcheck::check(kind, &s.interface) {
            if linkcheck::is_unsupported(&e) {
                return Err(StartError::LinkCheckUnsupported {
                    method: kind.name(),
                    iface: s.interface.clone(),
                    err: e,
                });
            }
        }
    }
    let tag = crate::proto::tag(&s.interface, s.vrid);
    let interval = Duration::from_millis(u64::from(s.interval_cs) * 10);
    let poll = match forced {
        Some(kind) if !s.link_poll.is_zero() => {
            let checker = linkcheck::Checker::new(kind)
                .map_err(|e| StartError::sys("link check socket", e))?;
            let backstop = poll_backstop(s.link_poll, interval, events);
            let (soft, next) = poll_window(now, s.link_poll, backstop);
            Some(LinkPoll {
                checker,
                every: s.link_poll,
                backstop,
                soft,
                next,
                up: true,
            })
        }
        _ => None,
    };
    match (&poll, events) {
        (Some(p), true) => vlog!(
            Info,
            "{tag}: link check: netlink events + {} every {:?} on other wake-ups (a carrier loss: netlink at once, {} within {} ms)",
            p.checker.kind().name(),
            p.every,
            p.checker.kind().name(),
            p.backstop.as_millis()
        ),
        (Some(p), false) => vlog!(
            Info,
            "{tag}: link check: {} every {:?}, no netlink events (a carrier loss within {} ms)",
            p.checker.kind().name(),
            p.every,
            p.backstop.as_millis()
        ),
        (None, true) => vlog!(Info, "{tag}: link check: netlink events"),
        (None, false) => vlog!(
            Warn,
            "{tag}: link check: none (no netlink events, no polling): link changes are seen on SIGHUP only"
        ),
    }
    Ok(poll)
}

impl Daemon {
    /// ethtool / MII polling on this wake-up if it is in the poll's window (see [`LinkPoll`]):
    /// a change of the polled link state re-reads the interface.
    #[inline(never)]
    pub(super) fn poll_link(&mut self, now: Duration) {
        if self.link_poll.as_ref().is_some_and(|p| now >= p.soft) {
            self.check_link_now(now);
        }
    }

    /// The ethtool / MII check now, whatever the poll's window (a Backup about to take over
    /// asks it first, see `on_time`); the next poll is scheduled from now.
    pub(super) fn check_link_now(&mut self, now: Duration) {
        let Some(p) = self.link_poll.as_mut() else {
            return;
        };
        (p.soft, p.next) = poll_window(now, p.every, p.backstop);
        // An error (e.g. the interface is gone) leaves the decision to netlink.
        let up = p.checker.check(&self.s.interface).unwrap_or(true);
        if up != p.up {
            p.up = up;
            let kind = p.checker.kind().name();
            vlog!(
                Info,
                "{}: {kind} reports the link {}",
                self.tag(),
                if up { "up" } else { "down" }
            );
            self.refresh_interface(now);
        }
    }

    /// Re-read link state and the primary address and feed what changed to the core.
    pub(super) fn refresh_interface(&mut self, now: Duration) {
        match Interface::lookup(&self.s.interface) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                // A transient error (EMFILE, netlink busy) is not a fault: keep the state,
                // and read again soon.
                if self.primary_retry.is_none() {
                    vlog!(Warn, "{}: cannot read the interface: {e}", self.tag());
                }
                self.primary_retry = Some(now + PRIMARY_RETRY);
                return;
            }
            Err(_) => {
                self.feed(now, Event::FaultSet(FaultReason::InterfaceGone));
                return;
            }
            Ok(i) => {
                if i.index != self.iface.index {
                    vlog!(
                        Info,
                        "{}: interface is back with index {}",
                        self.tag(),
                        i.index
                    );
                    // Gone and back between two reads: what hung off the old device (VIPs,
                    // macvlan) went with it, so go through Fault and Initialize.
                    self.feed(now, Event::FaultSet(FaultReason::InterfaceGone));
                    self.iface = i;
                    self.reopen_socket();
                }
                self.feed(now, Event::FaultClear(FaultReason::InterfaceGone));
            }
        }
        // A failed read (a reply timeout, EMFILE, ...) says nothing about the link: neither
        // "up" (a link-down event that made us read would be lost for good) nor "down" (a
        // master would fault over a busy socket). Keep the state and read again soon.
        let netlink_up = match self.io.rtnl.link(self.iface.index) {
            Ok(l) => l.up,
            Err(e) => {
                if self.primary_retry.is_none() {
                    vlog!(
                        Warn,
                        "{}: cannot read the link state of {} ({e}): keeping the current state, retrying every second",
                        self.tag(),
                        self.iface.name
                    );
                }
                self.primary_retry = Some(now + PRIMARY_RETRY);
                return;
            }
        };
        // Ask the polled method again now rather than trust its last (possibly stale) answer.
        if let Some(p) = self.link_poll.as_mut() {
            p.up = p.checker.check(&self.s.interface).unwrap_or(true);
        }
        let up = netlink_up && self.link_poll.as_ref().is_none_or(|p| p.up);
        // CARP --ignoreifstate: the link state is not watched (as ucarp -S).
        let up = up || self.s.carp.as_ref().is_some_and(|c| c.ignore_ifstate);
        let ev = if up {
            Event::FaultClear(FaultReason::LinkDown)
        } else {
            Event::FaultSet(FaultReason::LinkDown)
        };
        self.feed(now, ev);
        // The primary address is never one of our VIPs (a master holds them too), except for
        // an address owner, whose VIPs are its own addresses.
        let owner = self.s.is_owner();
        let v4: Vec<Ipv4Addr> = self
            .s
            .vips
            .iter()
            .filter(|_| !owner)
            .filter_map(|v| match v.addr {
                IpAddr::V4(a) => Some(a),
                IpAddr::V6(_) => None,
            })
            .collect();
        let v6: Vec<Ipv6Addr> = self
            .s
            .vips
            .iter()
            .filter(|_| !owner)
            .filter_map(|v| match v.addr {
                IpAddr::V6(a) => Some(a),
                IpAddr::V4(_) => None,
            })
            .collect();
        let unicast = self.s.unicast.clone();
        let read = match (&unicast, self.s.family) {
            (Some(u), _) => self.unicast_source(u, &v4, &v6),
            (None, Family::V4) => self
                .io
                .rtnl
                .list_addrs(self.iface.index)
                .map(|a| iface::select_primary_ipv4(&a, &v4).map(IpAddr::V4)),
            (None, Family::V6) => self
                .io
                .rtnl
                .list_addrs(self.iface.index)
                .map(|a| iface::select_link_local_ipv6(&a, &v6).map(IpAddr::V6)),
        };
        let primary = match next_primary(self.primary, read) {
            (p, None) => {
                self.primary_retry = None;
                p
            }
            (_, Some(e)) => {
                if self.primary_retry.is_none() {
                    vlog!(
                        Warn,
                        "{}: cannot read the addresses of {} ({e}): keeping {}, retrying every second",
                        self.tag(),
                        self.iface.name,
                        self.primary
                            .map_or_else(|| "no primary address".to_string(), |p| p.to_string())
                    );
                }
                self.primary_retry = Some(now + PRIMARY_RETRY);
                return;
            }
        };
        if primary != self.primary {
            match primary {
                Some(p) => vlog!(Info, "{}: primary address {p}", self.tag()),
                None => match self.s.unicast.as_ref().and_then(|u| u.src) {
                    Some(want) => vlog!(
                        Warn,
                        "{}: unicast source {want} (--unicast-src) is not a usable address of {}",
                        self.tag(),
                        self.iface.name
                    ),
                    None => vlog!(
                        Warn,
                        "{}: no primary address on {}",
                        self.tag(),
                        self.iface.name
                    ),
                },
            }
            self.primary = primary;
            self.feed(now, Event::PrimaryAddress(primary));
        }
    }

    /// At start the primary address is `None` before and after the first read, so
    /// [`Daemon::refresh_interface`] logs no change: name a `--unicast-src` that is missing then.
    pub(super) fn warn_missing_unicast_source(&self) {
        if let (None, Some(want)) = (self.primary, self.s.unicast.as_ref().and_then(|u| u.src)) {
            vlog!(
                Warn,
                "{}: unicast source {want} (--unicast-src) is not a usable address of {}",
                self.tag(),
                self.iface.name
            );
        }
    }

    /// A read of the addresses failed earlier: try again once it is due.
    #[inline(never)]
    pub(super) fn retry_primary(&mut self, now: Duration) {
        if self.primary_retry.is_some_and(|d| now >= d) {
            self.refresh_interface(now);
        }
    }

    pub(super) fn reopen_socket(&mut self) {
        match open_socket(&self.s, &self.iface) {
            Ok(s) => {
                let _ = s.set_vrid_filter(self.s.vrid);
                if let Some(q) = self.quiet.as_mut() {
                    if let Err(e) = q.attach(std::os::fd::AsFd::as_fd(&s)) {
                        vlog!(
                            Info,
                            "{}: quiet Backup off from now on (SO_ATTACH_BPF: {e})",
                            self.tag()
                        );
                        self.quiet = None;
                    }
                }
                self.sock = s;
            }
            Err(e) => vlog!(Error, "{}: cannot reopen the VRRP socket: {e}", self.tag()),
        }
        if let Some(eg) = self.egress.as_mut() {
            if let Err(e) = eg.attach(&self.iface, &mut self.io.rtnl) {
                vlog!(
                    Error,
                    "{}: cannot set up the virtual MAC again: {e}",
                    self.tag()
                );
            }
        }
        self.refilter();
    }

    /// The virtual MAC device may have a new name (it is named after the parent's index): the
    /// Accept_Mode filter's link-local rule follows it.
    fn refilter(&mut self) {
        let ifnames: Vec<String> = [
            Some(self.iface.name.clone()),
            self.egress.as_ref().and_then(|e| e.vmac_name()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let tag = self.tag();
        if let Some(f) = self.filter.as_mut() {
            match f.rename(&self.s, &ifnames) {
                Ok(true) => vlog!(
                    Info,
                    "{tag}: packet filter table {} now names {}",
                    f.table(),
                    ifnames.join(" ")
                ),
                Ok(false) => {}
                Err(e) => {
                    self.filter_errors += 1;
                    vlog!(
                        Error,
                        "{tag}: cannot rewrite packet filter table {}: {e}",
                        f.table()
                    );
                }
            }
        }
    }

    /// The source of unicast adverts (the address the peers send to, and our "primary" for the
    /// core): `--unicast-src` while it is a usable address of the interface; else the primary
    /// IPv4 address; IPv6: the link-local address when every peer is link-local, otherwise
    /// the first global one (keepalived takes the link-local address and, with global peers,
    /// ends with two masters). VIPs are never chosen.
    fn unicast_source(
        &mut self,
        u: &super::config::UnicastSettings,
        v4: &[Ipv4Addr],
        v6: &[Ipv6Addr],
    ) -> io::Result<Option<IpAddr>> {
        let addrs = self.io.rtnl.list_addrs(self.iface.index)?;
        let v6_peers_ll = crate::proto::unicast::Peers::new(u.peers.clone()).all_link_local();
        Ok(choose_unicast_source(
            &addrs,
            u.src,
            self.s.family,
            v6_peers_ll,
            v4,
            v6,
        ))
    }
}

/// How soon a failed read of the interface's addresses is retried.
pub(super) const PRIMARY_RETRY: Duration = Duration::from_secs(1);

/// The primary address after one read of the interface's addresses, `last` being the one
/// known before. The kernel's answer replaces it, `None` (the interface has no usable address)
/// included; a failed read — a reply timeout, a dump interrupted `NLM_F_DUMP_INTR` every time,
/// `EMFILE`, any error — says nothing about the addresses: the caller keeps `last` and retries
/// (`Err`), instead of reporting "no primary address", which faults the instance (a master
/// would send priority 0 and drop its VIPs over a busy netlink socket). Returns the address
/// to use and, when the read failed, its error.
pub(super) fn next_primary(
    last: Option<IpAddr>,
    read: io::Result<Option<IpAddr>>,
) -> (Option<IpAddr>, Option<io::Error>) {
    match read {
        Ok(p) => (p, None),
        Err(e) => (last, Some(e)),
    }
}

/// The VRRP socket of an instance: joined to the group, or for unicast peers.
pub(super) fn open_socket(s: &super::config::Settings, i: &Interface) -> io::Result<VrrpSocket> {
    if s.unicast.is_some() {
        VrrpSocket::open_unicast(s.family, i.index, &i.name)
    } else {
        VrrpSocket::open(s.family, i.index, &i.name)
    }
}

/// Pure part of `unicast_source` (see there), over the interface's address entries.
fn choose_unicast_source(
    addrs: &[crate::sys::netlink::AddrEntry],
    want: Option<IpAddr>,
    family: Family,
    v6_peers_link_local: bool,
    v4: &[Ipv4Addr],
    v6: &[Ipv6Addr],
) -> Option<IpAddr> {
    if let Some(w) = want {
        return iface::select_usable(addrs, w).then_some(w);
    }
    match family {
        Family::V4 => iface::select_primary_ipv4(addrs, v4).map(IpAddr::V4),
        Family::V6 if v6_peers_link_local => {
            iface::select_link_local_ipv6(addrs, v6).map(IpAddr::V6)
        }
        Family::V6 => iface::select_global_ipv6(addrs, v6).map(IpAddr::V6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err_name(k: io::ErrorKind) -> String {
        format!("{k:?}")
    }

    /// The poll rides on adverts: a master (or a backup) woken every advert interval polls on
    /// those wake-ups and its own deadline never comes first; without netlink events the
    /// deadline bounds the detection at 5/4 of the period.
    #[test]
    fn link_poll_rides_on_advert_wake_ups() {
        let ms = Duration::from_millis;
        for (every, interval, events) in [
            (ms(1000), ms(1000), true),
            (ms(1000), ms(100), true),
            (ms(200), ms(100), false),
            (ms(1000), ms(3000), true),
            (ms(1000), ms(1000), false),
        ] {
            let backstop = poll_backstop(every, interval, events);
            // Wake-ups every advert interval, each a little late (up to 5 % of the interval),
            // as a loaded machine delivers them.
            let (mut soft, mut next) = poll_window(ms(0), every, backstop);
            let mut polls = Vec::new();
            for k in 1..200u32 {
                let wake = interval * k + interval * (k % 5) / 100;
                assert!(
                    next >= wake || !events,
                    "{every:?}/{interval:?}: own deadline {next:?} before the advert at {wake:?}"
                );
                if wake >= soft {
                    polls.push(wake);
                    (soft, next) = poll_window(wake, every, backstop);
                }
            }
            let gap = polls.windows(2).map(|w| w[1] - w[0]).max().unwrap();
            if events {
                assert!(gap <= backstop, "{every:?}/{interval:?}: gap {gap:?}");
            } else {
                // One period, plus the lateness of the wake-up it rode on.
                assert!(
                    gap <= every + interval / 20,
                    "{every:?}/{interval:?}: gap {gap:?}"
                );
            }
        }
        // No netlink events: the backstop alone bounds detection when nothing else wakes.
        assert_eq!(poll_backstop(ms(200), ms(100), false), ms(250));
        assert_eq!(poll_backstop(ms(1000), ms(1000), true), ms(1250));
        assert_eq!(poll_backstop(ms(1000), ms(3000), true), ms(3750));
    }

    #[test]
    fn next_primary_keeps_the_last_address_on_a_failed_read() {
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for err in [
            io::Error::from(io::ErrorKind::TimedOut),
            io::Error::new(io::ErrorKind::Interrupted, "netlink dump interrupted"),
            io::Error::from_raw_os_error(libc::EMFILE),
            io::Error::from_raw_os_error(libc::ENOBUFS),
        ] {
            let kind = err.kind();
            let (p, e) = next_primary(Some(a), Err(err));
            assert_eq!(p, Some(a), "{} lost the primary address", err_name(kind));
            assert_eq!(e.map(|e| e.kind()), Some(kind));
        }
        // The kernel's answers are taken as they are, "none" included.
        assert_eq!(next_primary(Some(a), Ok(Some(b))).0, Some(b));
        assert_eq!(next_primary(Some(a), Ok(None)).0, None);
        assert!(next_primary(Some(a), Ok(None)).1.is_none());
        assert_eq!(next_primary(None, Ok(Some(a))).0, Some(a));
    }

    #[test]
    fn unicast_source_choice() {
        let a = |s: &str| -> IpAddr { s.parse().unwrap() };
        let tentative = crate::sys::netlink::IFA_F_TENTATIVE;
        let addrs = vec![
            (a("192.0.2.1"), 24, 0),
            (a("192.0.2.9"), 24, crate::sys::netlink::IFA_F_SECONDARY),
            (a("fe80::1"), 64, 0),
            (a("2001:db8::fe"), 64, 0),
            (a("2001:db8::7"), 64, tentative),
            (a("2001:db8::1"), 64, 0),
        ];
        let vip6: Vec<Ipv6Addr> = vec!["2001:db8::fe".parse().unwrap()];
        let c = |want, fam, ll| choose_unicast_source(&addrs, want, fam, ll, &[], &vip6);
        assert_eq!(c(None, Family::V4, false), Some(a("192.0.2.1")));
        assert_eq!(
            c(Some(a("192.0.2.9")), Family::V4, false),
            Some(a("192.0.2.9"))
        );
        assert_eq!(c(Some(a("192.0.2.5")), Family::V4, false), None);
        assert_eq!(c(None, Family::V6, true), Some(a("fe80::1")));
        // Global peers: the first global address that is usable and not a VIP.
        assert_eq!(c(None, Family::V6, false), Some(a("2001:db8::1")));
        assert_eq!(c(Some(a("2001:db8::7")), Family::V6, false), None);
    }
}
