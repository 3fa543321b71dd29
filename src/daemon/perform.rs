//! Carrying out the state machine's actions: adverts, virtual addresses, gratuitous ARP /
//! unsolicited NA rounds, hooks, transitions (logs, systemd status), and rate-limited notices.

use core::net::IpAddr;
use std::time::Duration;

use crate::proto::fsm::{Action, Hook, Notice, State};
use crate::proto::DiscardReason;
use crate::vlog;

use super::engine::Step;
use super::hooks::Job;
use super::{log, Announce, Daemon};

/// How long after a state transition the executable's clean pages are given back again
/// ([`crate::sys::mem::release_image`]): the takeover's addresses, gratuitous ARPs and the
/// netlink events they cause are done by then.
const RELEASE_IMAGE_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

impl Daemon {
    pub(super) fn perform(&mut self, now: Duration, steps: Vec<Step>) {
        // Becoming master: the VIPs (and the macvlan, up) are in place before the first advert
        // and gratuitous ARP leave, so that no packet drawn by them finds the address missing.
        let takeover = steps
            .iter()
            .any(|a| matches!(a, Step::Act(Action::AddVips)));
        if takeover {
            self.add_vips();
        }
        // ... and the first gratuitous ARPs / unsolicited NAs leave before the first advert
        // (RFC 9568 §6.4.2 lists the advert first; the order is ours): a Master handing over
        // lets go of the VIPs when it reads that advert, and without a virtual MAC the hosts
        // still send to its MAC until our announcement reaches them. Announced first, they
        // move to us, who hold the VIPs already, while the old Master still serves; announced
        // after, a loaded machine that takes the CPU from us between the two left them
        // sending to a router without the VIPs (tests/handover.rs
        // `handover_without_vmac_survives_a_paused_new_master`: 3 of 150 pings lost at 10 ms).
        let announce_first = takeover
            && steps
                .iter()
                .any(|a| matches!(a, Step::Act(Action::Announce)));
        if announce_first {
            self.start_announcements(now);
        }
        for step in steps {
            let a = match step {
                Step::Act(a) => a,
                Step::SendCarp(bytes) => {
                    self.send_carp(now, &bytes);
                    continue;
                }
                Step::Transition { from, to, reason } => {
                    self.on_transition(from, to, &reason);
                    continue;
                }
                Step::Warn(text) => {
                    let (ok, _) = self.notice_log.allow(now);
                    if ok {
                        vlog!(Warn, "{}: {text}", self.tag());
                    }
                    continue;
                }
            };
            match a {
                Action::Send(advert) => {
                    let Some(src) = self.primary else {
                        let _ = self.inst.record_send_error();
                        continue;
                    };
                    self.send_advert(now, src, &advert);
                    if takeover && !self.test_takeover_pause.is_zero() {
                        std::thread::sleep(self.test_takeover_pause);
                    }
                    if self.test_panic > 0 && self.inst.state() == State::Master {
                        self.test_panic -= 1;
                        if self.test_panic == 0 {
                            panic!("VRRPD_TEST_PANIC_AS_MASTER: panicking as asked");
                        }
                    }
                }
                Action::AddVips => {} // done first, above
                Action::RemoveVips => {
                    let dev = self.vip_ifindex();
                    for vip in &self.s.vips {
                        if self.keep.contains(&vip.addr) {
                            continue;
                        }
                        if let Err(e) = self.io.rtnl.del_addr(dev, vip.addr, vip.prefix) {
                            vlog!(
                                Warn,
                                "{}: cannot remove {vip}: {e}",
                                crate::proto::tag(&self.s.interface, self.s.vrid)
                            );
                        }
                    }
                    self.announce = Announce::default();
                    if let Some(eg) = self.egress.as_mut() {
                        eg.deactivate(&mut self.io.rtnl);
                    }
                }
                Action::Announce if announce_first => {} // done first, above
                Action::Announce => self.start_announcements(now),
                Action::RunHook { hook, prev } => {
                    let (path, state) = match hook {
                        Hook::Master => (self.s.master_script.clone(), "MASTER"),
                        Hook::Backup => (self.s.backup_script.clone(), "BACKUP"),
                        // CARP: the Backup hook (ucarp's down script) already ran when the VIP
                        // was given up; only an explicit fault script runs on Fault.
                        Hook::Fault if self.s.carp.is_some() => {
                            (self.s.fault_script.clone(), "FAULT")
                        }
                        Hook::Fault => (
                            self.s
                                .fault_script
                                .clone()
                                .or_else(|| self.s.backup_script.clone()),
                            "FAULT",
                        ),
                    };
                    // CARP: argv as ucarp's scripts expect it, `IFNAME VIP [XPARAM]`.
                    let args = self.s.carp.as_ref().map(|c| {
                        let mut a = vec![self.s.interface.clone()];
                        a.extend(self.s.vips.first().map(|v| v.addr.to_string()));
                        a.extend(c.xparam.clone());
                        a
                    });
                    if let Some(path) = path {
                        let job = Job {
                            path,
                            state,
                            prev: State::name(prev),
                            iface: self.s.interface.clone(),
                            vrid: self.s.vrid,
                            priority: self.inst.priority(),
                            vips: self
                                .s
                                .vips
                                .iter()
                                .map(|v| v.addr.to_string())
                                .collect::<Vec<_>>()
                                .join(" "),
                            args,
                        };
                        self.hooks.push(job, now);
                    }
                }
                Action::Transition { from, to, reason } => {
                    self.on_transition(from, to, &reason.to_string());
                }
                Action::Notice(n) => self.log_notice(now, n),
                Action::RouterAdvert { lifetime_s } => self.send_router_advert(now, lifetime_s),
                Action::Stopped => self.stopped = true,
            }
        }
    }

    /// Send one advert from `src`: to the VRRP group (from the macvlan when there is one), or
    /// to every unicast peer in turn, each with the checksum over its own pseudo-header (RFC
    /// 9568 §5.2.8: the IP header actually sent) and from the interface itself, as keepalived
    /// does (`vmac_xmit_base`): the peer is reached by routing, not through the macvlan. One
    /// advert counts once, whatever the number of peers; a failed send to any peer counts as a
    /// send error.
    fn send_advert(&mut self, now: Duration, src: IpAddr, advert: &crate::proto::packet::Advert) {
        let unicast = self.s.unicast.is_some();
        let group = [crate::proto::wire::vrrp_group(self.s.family)];
        let dsts: &[IpAddr] = match &self.s.unicast {
            Some(u) => &u.peers,
            None => &group,
        };
        // The message is encoded into a buffer kept between adverts (no allocation per advert).
        let buf = &mut self.io.tx_buf;
        buf.resize(advert.buffer_len(), 0);
        let mut failed = false;
        for &dst in dsts {
            let bytes = match advert.emit(buf, src, dst, self.s.checksum_form) {
                Ok(n) => buf.get(..n).unwrap_or_default(),
                Err(e) => {
                    failed = true;
                    vlog!(
                        Error,
                        "{}: cannot encode advert: {e}",
                        crate::proto::tag(&self.s.interface, self.s.vrid)
                    );
                    continue;
                }
            };
            let sent = match &self.egress {
                _ if unicast => self.sock.send_to(src, dst, bytes),
                Some(eg) => eg.send(&self.sock, src, bytes),
                None => self.sock.send(src, bytes),
            };
            if let Err(e) = sent {
                failed = true;
                let (ok, _) = self.notice_log.allow(now);
                if ok {
                    vlog!(
                        Warn,
                        "{}: sending advert to {dst}: {e}",
                        crate::proto::tag(&self.s.interface, self.s.vrid)
                    );
                }
            }
        }
        if failed {
            let _ = self.inst.record_send_error();
        }
    }

    /// Send a CARP advert from the primary address to the group, as a whole Ethernet frame
    /// from ucarp's `00:00:5e:00:00:{vhid}` through the packet socket
    /// ([`crate::proto::carp::frame`]); to ff:ff:ff:ff:ff:ff with `--nomcast`.
    fn send_carp(&mut self, now: Duration, bytes: &[u8; crate::proto::carp::packet::HEADER_LEN]) {
        let nomcast = self.s.carp.as_ref().is_some_and(|c| c.nomcast);
        let result = match self.primary {
            Some(IpAddr::V4(src)) => self.send_carp_frame(src, bytes, nomcast),
            _ => Err(std::io::Error::from(std::io::ErrorKind::AddrNotAvailable)),
        };
        let follow = match result {
            Ok(()) => self.inst.record_send_ok(),
            Err(e) => {
                let (ok, _) = self.notice_log.allow(now);
                if ok {
                    vlog!(Warn, "{}: sending CARP advert: {e}", self.tag());
                }
                self.inst.record_send_error()
            }
        };
        if !follow.is_empty() {
            self.perform(now, follow);
        }
    }

    /// One CARP advert frame through the packet socket.
    fn send_carp_frame(
        &mut self,
        src: core::net::Ipv4Addr,
        payload: &[u8; crate::proto::carp::packet::HEADER_LEN],
        nomcast: bool,
    ) -> std::io::Result<()> {
        self.io.ip_id = self.io.ip_id.wrapping_add(1);
        let frame = crate::proto::carp::frame::build_frame(
            self.s.vrid,
            src,
            payload,
            self.io.ip_id,
            nomcast,
        );
        let Some(ann) = self.egress.as_ref().and_then(|eg| eg.announcer()) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "no packet socket",
            ));
        };
        ann.send_frame(&frame)
    }

    /// One Router Advertisement for the virtual router (RFC 9568 §8.2): from its link-local
    /// address (the first VIP) and the master's MAC (the virtual MAC, or the NIC's with -n), to
    /// ff02::1, through the packet socket; lifetime 0 is the final one.
    fn send_router_advert(&mut self, now: Duration, lifetime_s: u16) {
        let Some(ll) = super::startup::virtual_link_local(&self.s) else {
            return;
        };
        let result = match self.egress.as_ref() {
            Some(eg) => match eg.announcer() {
                Some(ann) => {
                    let mac = eg.mac(&self.iface);
                    ann.send_frame(&crate::proto::wire::nd::build_router_advert(
                        mac, ll, lifetime_s,
                    ))
                }
                None => Err(std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    "no packet socket",
                )),
            },
            None => Err(std::io::Error::from(std::io::ErrorKind::NotConnected)),
        };
        match result {
            Ok(()) if lifetime_s == 0 => vlog!(
                Info,
                "{}: final Router Advertisement from {ll} (router lifetime 0)",
                self.tag()
            ),
            Ok(()) => vlog!(
                Debug,
                "{}: Router Advertisement from {ll} (router lifetime {lifetime_s} s)",
                self.tag()
            ),
            Err(e) => {
                let (ok, _) = self.notice_log.allow(now);
                if ok {
                    vlog!(Warn, "{}: sending Router Advertisement: {e}", self.tag());
                }
            }
        }
    }

    fn on_transition(&mut self, from: State, to: State, reason: &str) {
        // Once the takeover's work is done, its code pages go back (issue #14).
        self.release_at
            .get_or_insert(crate::sys::clock::now() + RELEASE_IMAGE_AFTER);
        vlog!(
            Info,
            "{}: {} -> {} ({reason})",
            self.tag(),
            State::name(from),
            State::name(to)
        );
        self.emit(crate::control::events::Event::Transition {
            from: State::name(from).to_string(),
            to: State::name(to).to_string(),
            reason: reason.to_string(),
        });
        match to {
            State::Master => {
                vlog!(Info, "{}: we are now the master router", self.tag())
            }
            State::Backup => vlog!(Info, "{}: we are now a backup router", self.tag()),
            State::Fault => {
                vlog!(
                    Warn,
                    "{}: we are now in the fault state: no adverts and no VIPs until it clears",
                    self.tag()
                )
            }
            State::Initialize => {}
        }
        if from == State::Fault || to == State::Initialize {
            if let Err(e) = self.sock.rejoin() {
                vlog!(
                    Warn,
                    "{}: cannot renew the multicast membership: {e}",
                    self.tag()
                );
            }
            if let Some(Err(e)) = self.solicit.as_ref().map(|s| s.rejoin()) {
                vlog!(
                    Warn,
                    "{}: cannot renew the all-routers membership: {e}",
                    self.tag()
                );
            }
        }
        if !self.io.ready_sent && matches!(to, State::Master | State::Backup | State::Fault) {
            self.io.ready_sent = true;
            self.io.notify.send("READY=1");
        }
        self.io.notify.send(&format!("STATUS={}", State::name(to)));
    }

    pub(super) fn add_vips(&mut self) {
        if let Some(eg) = self.egress.as_mut() {
            eg.activate(&mut self.io.rtnl);
        }
        let dev = self.vip_ifindex();
        for vip in &self.s.vips {
            if let Err(e) = self.io.rtnl.add_addr(dev, vip.addr, vip.prefix) {
                vlog!(
                    Error,
                    "{}: cannot add {vip} to {}: {e}",
                    self.tag(),
                    self.iface.name
                );
            }
        }
        self.wait_ipv6_vips_usable();
    }

    /// IPv6 VIPs become local destinations only when the kernel's address work has run, a few
    /// milliseconds after they were added: a client echo arriving meanwhile (the old master
    /// releases the VIPs on our first advert) was dropped, the one ping a planned IPv6 handover
    /// lost (issue #20 item 2). Wait for their local routes, at most 50 ms, before advertising.
    fn wait_ipv6_vips_usable(&self) {
        let v6: Vec<std::net::Ipv6Addr> = self
            .s
            .vips
            .iter()
            .filter_map(|v| match v.addr {
                IpAddr::V6(a) => Some(a),
                IpAddr::V4(_) => None,
            })
            .collect();
        if v6.is_empty() {
            return;
        }
        let start = std::time::Instant::now();
        loop {
            match crate::sys::iface::ipv6_local_routes_present(&v6) {
                Ok(true) | Err(_) => return,
                Ok(false) if start.elapsed() >= Duration::from_millis(50) => {
                    vlog!(
                        Warn,
                        "{}: IPv6 VIPs not usable after 50 ms; advertising anyway",
                        self.tag()
                    );
                    return;
                }
                Ok(false) => std::thread::sleep(Duration::from_micros(500)),
            }
        }
    }

    /// The device the VIPs are put on (the macvlan with a VMAC, else the interface).
    pub(super) fn vip_ifindex(&self) -> u32 {
        self.egress
            .as_ref()
            .map_or(self.iface.index, |e| e.vip_ifindex(&self.iface))
    }

    /// One gratuitous ARP per IPv4 VIP / unsolicited NA per IPv6 VIP, from the master's MAC
    /// (a round of `--garp-count`, or a `--garp-refresh` round). False without a packet socket.
    pub(super) fn announce_round(&mut self, now: Duration) -> bool {
        let Some(eg) = self.egress.as_ref() else {
            return false;
        };
        let Some(ann) = eg.announcer() else {
            return false;
        };
        let mac = eg.mac(&self.iface);
        for vip in &self.s.vips {
            let r = match vip.addr {
                IpAddr::V4(a) => ann.gratuitous_arp(mac, a),
                IpAddr::V6(a) => ann.unsolicited_na(mac, a),
            };
            if let Err(e) = r {
                let (ok, _) = self.notice_log.allow(now);
                if ok {
                    vlog!(
                        Warn,
                        "{}: gratuitous ARP/NA for {vip}: {e}",
                        crate::proto::tag(&self.s.interface, self.s.vrid)
                    );
                }
            }
        }
        true
    }

    /// [`Action::Announce`]: the first round of gratuitous ARPs / unsolicited NAs now, the
    /// rest of `--garp-count` and the `--garp-refresh` rounds scheduled.
    fn start_announcements(&mut self, now: Duration) {
        self.announce = Announce {
            remaining: self.s.garp_count,
            next: Some(now),
            refresh: self.s.garp_refresh.map(|r| now + r),
        };
        self.send_announcements(now);
    }

    pub(super) fn send_announcements(&mut self, now: Duration) {
        if self.announce.remaining == 0 {
            self.announce.next = None;
            return;
        }
        self.announce.remaining -= 1;
        self.announce.next = if self.announce.remaining > 0 {
            Some(now + self.s.garp_interval)
        } else {
            None
        };
        let first_round = self.announce.remaining + 1 == self.s.garp_count;
        if !self.announce_round(now) {
            return;
        }
        let Some(eg) = self.egress.as_ref() else {
            return;
        };
        let Some(ann) = eg.announcer() else {
            return;
        };
        let mac = eg.mac(&self.iface);
        // After the first round of gratuitous ARPs, as documented (README, vrrpd(8)).
        if first_round && !eg.uses_vmac() {
            if let Some((IpAddr::V4(vip), IpAddr::V4(gw))) = self.s.magic {
                // Advanced Vrrpd's magic packet (-I/-O), made to work: see sys::magic.
                let gw_mac =
                    crate::sys::magic::gateway_mac(&mut self.io.rtnl, self.iface.index, gw)
                        .ok()
                        .flatten();
                match crate::sys::magic::magic_packet(ann, mac, vip, gw, gw_mac) {
                    Ok(kind) => vlog!(
                        Info,
                        "{}: magic packet to {gw} from {vip}: {kind}",
                        crate::proto::tag(&self.s.interface, self.s.vrid)
                    ),
                    Err(e) => vlog!(
                        Warn,
                        "{}: magic packet to {gw}: {e}",
                        crate::proto::tag(&self.s.interface, self.s.vrid)
                    ),
                }
            }
        }
    }

    pub(super) fn log_discard(
        &mut self,
        now: Duration,
        reason: DiscardReason,
        peer: Option<IpAddr>,
    ) {
        if reason == DiscardReason::OtherVrid {
            return;
        }
        // Discards that mean split brain (RFC 9568 §7.1, RFC 3768 §7.1: "log the event"): the
        // peer believes it is master while we ignore it. Warned at the default level once per
        // peer and reason, as version and interval mismatches are; later ones at debug level.
        // On a loopback device (no MAC; `-i lo` demos) the kernel hands our own adverts back.
        let looped = reason == DiscardReason::OwnPacket
            && (self.iface.mac == [0; 6] || peer.is_some_and(|p| p.is_loopback()));
        let unicast_ttl = match (&self.s.unicast, reason) {
            (Some(u), DiscardReason::BadTtl) => Some(format!(
                "TTL/hop limit below --unicast-min-ttl {}: sent through a router, or a \
                 keepalived IPv6 peer without unicast_ttl 255 (it sends 64)",
                u.min_ttl
            )),
            _ => None,
        };
        let why = unicast_ttl.or_else(|| split_brain(reason).map(str::to_string));
        if let (Some(why), Some(p), false) = (why, peer, looped) {
            let key = (16 + reason.index() as u8, p);
            if !self.noted.contains(&key) {
                if self.noted.len() < 64 {
                    self.noted.push(key);
                }
                if self.allow_warning(now) {
                    vlog!(
                        Warn,
                        "{}: discarded advert from {p}: {} ({why}; split brain risk); further ones from this peer are logged at debug level",
                        self.tag(),
                        reason.name()
                    );
                }
                return;
            }
        }
        if self.allow_debug(now) {
            let peer = peer.map_or_else(|| "?".to_string(), |p| p.to_string());
            vlog!(
                Debug,
                "{}: discarded packet from {peer}: {}",
                self.tag(),
                reason.name()
            );
        }
    }

    pub(super) fn log_notice(&mut self, now: Duration, n: Notice) {
        if let Notice::Discard { reason, peer } = n {
            self.log_discard(now, reason, peer);
            return;
        }
        // The start-up and preemption delays: a few lines per start or window, informational.
        if matches!(
            n,
            Notice::StartupDelay { .. }
                | Notice::StartupDelayOver { .. }
                | Notice::PreemptDelayed { .. }
                | Notice::PreemptDelayOver { .. }
        ) {
            vlog!(Info, "{}: {n}", self.tag());
            return;
        }
        // Steady-state notices (a peer's different address list, interval, or global-first IPv6
        // list) are warned about once per peer and kind, then logged at debug level only; a
        // version mismatch or owner conflict (split-brain risks) keeps warning, rate-limited.
        let once = match n {
            Notice::AddrMismatch { peer } => Some((0u8, peer)),
            Notice::IntervalMismatch { peer, .. } => Some((1, peer)),
            Notice::V6FirstNotLinkLocal { peer } => Some((2, peer)),
            Notice::ForeignSameId { peer } => Some((3, peer)),
            _ => None,
        };
        if let Some(key) = once {
            if self.noted.contains(&key) {
                // Rate-limited like the discards: a peer flooding such adverts would otherwise
                // write one debug line per packet.
                if self.allow_debug(now) {
                    vlog!(Debug, "{}: {n}", self.tag());
                }
                return;
            }
            if self.noted.len() < 64 {
                self.noted.push(key);
            }
        }
        if self.allow_warning(now) {
            vlog!(Warn, "{}: {n}", self.tag());
        }
    }

    /// Whether a rate-limited debug line about a received packet (a discard, a repeated notice)
    /// may be logged now: never without `--debug`, else at most the discard limiter's burst per
    /// window; first logs how many it held back since the last one that was.
    fn allow_debug(&mut self, now: Duration) -> bool {
        if !log::enabled(log::Level::Debug) {
            return false;
        }
        let (ok, suppressed) = self.discard_log.allow(now);
        if suppressed > 0 {
            vlog!(
                Debug,
                "{}: {suppressed} more discards not logged",
                self.tag()
            );
        }
        ok
    }

    /// Whether a rate-limited warning may be logged now; first logs how many the limit held
    /// back since the last one that was.
    fn allow_warning(&mut self, now: Duration) -> bool {
        let (ok, suppressed) = self.notice_log.allow(now);
        if suppressed > 0 {
            vlog!(
                Warn,
                "{}: {suppressed} more warnings not logged",
                self.tag()
            );
        }
        ok
    }
}

/// What a discard that can cause split brain means, or `None` for the others (RFC 9568 §7.1,
/// RFC 3768 §7.1): the sender keeps advertising as master while this router ignores it.
fn split_brain(reason: DiscardReason) -> Option<&'static str> {
    Some(match reason {
        DiscardReason::BadTtl => "TTL/hop limit not 255: sent from off-link or through a router",
        DiscardReason::BadChecksum => {
            "checksum wrong: corrupted, or a checksum form we do not accept"
        }
        DiscardReason::BadAuth => "authentication password differs from ours",
        DiscardReason::BadAuthType => "authentication type differs from ours",
        DiscardReason::OwnPacket => {
            "sent from our primary address: another router uses our primary address"
        }
        DiscardReason::NotPeer => "the sender is not one of our --unicast-peer addresses",
        DiscardReason::BadDestination => {
            "sent to another address than our unicast source: the peer lists us by another \
             address (or sends to the multicast group)"
        }
        _ => return None,
    })
}
