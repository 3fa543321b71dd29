//! The virtual router MAC address (RFC 9568 §7.3), owned through a macvlan device.
//!
//! RFC 9568 §7.3: the Active router answers for the virtual addresses with the virtual router
//! MAC `00-00-5E-00-01-{VRID}` (IPv4) or `00-00-5E-00-02-{VRID}` (IPv6), and sends its adverts
//! from it (§7.2). Advanced Vrrpd rewrote the NIC's own MAC address (reference §7: routes lost,
//! sometimes an ifdown). We leave the NIC alone and put the VMAC on a **macvlan** stacked on the
//! parent interface (`-i IF`, which may be a VLAN such as `eth0.190`). The VIPs live on the
//! macvlan; the kernel then answers ARP / Neighbor Solicitations for them with the VMAC and
//! accepts traffic sent to the VMAC. Adverts are *received* on the parent (a socket bound to
//! the parent), and *sent* from the macvlan, so their source MAC is the VMAC.
//!
//! # Name
//! [`vmac_ifname`]: `vr<parent ifindex>.<vrid>` for IPv4 and `vr<parent ifindex>.<vrid>.6` for
//! IPv6 (decimal, e.g. `vr3.51`, `vr3.51.6`). The parent's index makes the name unique per
//! parent, so every VLAN of a NIC gets its own VMAC device for the same VRID, and two daemons
//! never fight over one name. The decimal form is used whenever it fits in `IFNAMSIZ - 1` = 15
//! bytes: for IPv4 while digits(index) + digits(VRID) ≤ 12 (every index below 10⁹), for IPv6
//! while ≤ 10 (every index below 10⁷). Otherwise the name is
//! `vx4<index as 8 hex digits><vrid as 2 hex digits>` (IPv4) or `vx6…` (IPv6), always 13
//! bytes, e.g. `vx43b9aca00ff`; the `vx` prefix cannot collide with the decimal scheme.
//!
//! # Mode: bridge, not private
//! The macvlan is created in **bridge** mode ([`VMAC_MODE`]). Private mode breaks VRRP: in
//! `macvlan_handle_frame()`, a multicast frame arriving on the parent whose *source* MAC is
//! the MAC of a local macvlan that is up and in private (or passthru/source) mode is delivered
//! to that macvlan only and consumed, so the parent never sees it. A peer that preempts us
//! sends its adverts from the same VMAC as ours; while our macvlan is up (we are Active), its
//! adverts would never reach our receive socket on the parent, and both routers would stay
//! Active. In bridge (and VEPA) mode the frame is passed to the parent as well
//! (`tests/vmac_netns.rs` shows both behaviours). Bridge mode also means the macvlans of one
//! parent reach each other directly (not via the switch), which VRRP does not mind; frames the
//! macvlan sends are not looped back to the parent's receive path, so we do not hear our own
//! adverts.
//!
//! # Life cycle
//! - [`remove_stale`] first: a macvlan with our name, or with our VMAC, on the same parent, left
//!   by a crash (or `kill -9`), is deleted, and the parent's sysctls are put back (below).
//! - [`Vmac::create`]: `RTM_NEWLINK` kind macvlan, mode bridge, `IFLA_LINK` = parent,
//!   `IFLA_ADDRESS` = VMAC, name as above, **down**; then the alias and the sysctls (below). On
//!   any error the link is deleted again.
//! - [`Vmac::up`] on becoming Active (before adding the VIPs to it), [`Vmac::down`] on leaving
//!   Active (after deleting them). **Leaving Active brings the macvlan down; it is not deleted**:
//!   the index stays the same, so the sender sockets opened on it stay valid, and nothing has to
//!   be created on the next takeover, when time matters. A down macvlan is out of the parent's
//!   MAC table, so it neither answers nor receives anything.
//! - [`Vmac::remove`] on exit: the link is deleted and the parent's sysctls restored.
//! - Dropping a [`Vmac`] without `remove` leaves the link in place, exactly like a crash.
//!
//! # Sysctls (`/proc/sys/net/...`, which is the caller's network namespace)
//! On the macvlan, before it ever comes up:
//! - `ipv4/conf/<vmac>/arp_ignore = 1`: answer ARP only for addresses on the macvlan itself.
//!   Broadcast ARP requests for the parent's own addresses reach the macvlan too; without this
//!   it would answer them with the VMAC (Linux answers for any local address by default).
//! - `ipv4/conf/<vmac>/rp_filter = 0`, `accept_local = 1`: packets to a VIP arrive on the
//!   macvlan while the route back to their source leaves through the parent; strict
//!   reverse-path filtering (`rp_filter = 1`, which new devices inherit from
//!   `conf/default` on many distributions) would drop them. The kernel uses the larger of `all`
//!   and the device value: `net.ipv4.conf.all.rp_filter` must be 0 or 2 (loose), not 1.
//! - `ipv4/conf/<vmac>/promote_secondaries = 1`: deleting the first VIP keeps the others.
//! - IPv4 VMAC: `ipv6/conf/<vmac>/disable_ipv6 = 1` (no IPv6 on it at all).
//! - IPv6 VMAC: `ipv6/conf/<vmac>/addr_gen_mode = 1` (none), `accept_dad = 0`, `accept_ra = 0`,
//!   `autoconf = 0`: no link-local or SLAAC address derived from the VMAC, which would be the
//!   *same* on both routers; the VIPs (added with `IFA_F_NODAD`) are its only addresses.
//!
//! On the parent, IPv4 VMAC only (NDP already answers only for the receiving interface's own
//! addresses, so IPv6 needs nothing):
//! - `arp_ignore = 1` (when 0): the parent receives the broadcast ARP requests for the VIPs too
//!   and would answer them with its own MAC.
//! - `arp_filter = 1` (when 0): answer only when the route back leaves through the parent.
//! - `arp_announce = 2` (when below 2): ARP requests the parent sends (to reach a client that
//!   pinged a VIP, say) use the parent's own address as sender, not the VIP; otherwise every
//!   client would learn VIP → *parent* MAC (RFC 826 merge), undoing the point of the VMAC.
//!
//! Values changed only when they are 0 (resp. below 2); the kernel uses the larger of `all` and
//! the device value for all three. Side effect, documented for operators: while a vrrpd VMAC
//! exists on a parent, that parent stops answering ARP for addresses configured on *other*
//! interfaces (weak-host ARP).
//!
//! `tests/vmac_netns.rs` shows each of the macvlan's `arp_ignore` and `rp_filter` and the
//! parent's `arp_ignore` and `arp_announce` to be necessary (the test fails without it, with
//! `all.*` at 0 and `default.rp_filter` at 1).
//!
//! ## Restoring the parent, and crashes
//! The parent's values from before the first VMAC are stored **in the kernel**, in the macvlan's
//! alias (`IFLA_IFALIAS`): `vrrpd vmac parent arp_ignore=0 arp_filter=0 arp_announce=0` (IPv6
//! VMACs: `vrrpd vmac`). So:
//! - several daemons on one parent (several VRIDs, or IPv4 and IPv6): the second takes the
//!   original values from the first one's alias instead of reading the already changed
//!   sysctls, and only the last VMAC to go restores them;
//! - after a crash, [`remove_stale`] finds the values in the stale link's alias and restores
//!   them (if no other vrrpd VMAC remains on the parent), and the following
//!   [`Vmac::create`] saves them again: a crash loses nothing.
//!
//! Creating a VMAC (reading the originals, creating the link with its alias, raising the
//! parent's values), removing one (deleting the link, restoring the parent when it was the last)
//! and [`remove_stale`] run under a per-parent lock ([`ParentLock`]: an abstract unix socket
//! `vrrpd-vmac-parent-<ifindex>` bound while it is held, so it is per network namespace, leaves
//! no file and goes with a crash). Without it, two instances starting at once on one parent
//! could record the values the other had just raised as the originals (the last one out would
//! then "restore" the raised values), and a stop overlapping a start could restore the parent
//! under a VMAC being created (issue 13, defect 4).
//!
//! A stale *parent* setting whose macvlan is gone too (someone deleted it by hand after a
//! crash) cannot be restored: the values we set stay, which is safe.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::netlink::{check_ifname, LinkInfo, MacvlanMode, Rtnl};
use crate::proto::Family;

/// The macvlan mode of VMAC devices. See the module documentation for why not private.
pub const VMAC_MODE: MacvlanMode = MacvlanMode::Bridge;

/// Start of the alias (`IFLA_IFALIAS`) of every VMAC device this module creates.
pub const ALIAS_TAG: &str = "vrrpd vmac";

/// The virtual router MAC of RFC 9568 §7.3: 00-00-5E-00-01-{VRID} (IPv4) or
/// 00-00-5E-00-02-{VRID} (IPv6).
pub fn vmac(family: Family, vrid: u8) -> [u8; 6] {
    let f = match family {
        Family::V4 => 0x01,
        Family::V6 => 0x02,
    };
    [0x00, 0x00, 0x5e, 0x00, f, vrid]
}

/// The name of the VMAC device of (`parent_ifindex`, `vrid`, `family`); at most 15 bytes. See
/// the module documentation.
pub fn vmac_ifname(parent_ifindex: u32, vrid: u8, family: Family) -> String {
    let short = match family {
        Family::V4 => format!("vr{parent_ifindex}.{vrid}"),
        Family::V6 => format!("vr{parent_ifindex}.{vrid}.6"),
    };
    if short.len() < libc::IFNAMSIZ {
        return short;
    }
    let f = match family {
        Family::V4 => '4',
        Family::V6 => '6',
    };
    format!("vx{f}{parent_ifindex:08x}{vrid:02x}")
}

/// The parent's ARP sysctls as they were before the first VMAC (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParentSysctls {
    /// `net.ipv4.conf.<parent>.arp_ignore`.
    pub arp_ignore: i32,
    /// `net.ipv4.conf.<parent>.arp_filter`.
    pub arp_filter: i32,
    /// `net.ipv4.conf.<parent>.arp_announce`.
    pub arp_announce: i32,
}

impl ParentSysctls {
    /// Reads them from `/proc/sys/net/ipv4/conf/<parent>/`.
    pub fn read(parent: &str) -> io::Result<ParentSysctls> {
        Ok(ParentSysctls {
            arp_ignore: read_sysctl(&conf_path("ipv4", parent, "arp_ignore"))?,
            arp_filter: read_sysctl(&conf_path("ipv4", parent, "arp_filter"))?,
            arp_announce: read_sysctl(&conf_path("ipv4", parent, "arp_announce"))?,
        })
    }

    /// The alias that records them.
    fn alias(self) -> String {
        format!(
            "{ALIAS_TAG} parent arp_ignore={} arp_filter={} arp_announce={}",
            self.arp_ignore, self.arp_filter, self.arp_announce
        )
    }

    /// Parses an alias written by [`ParentSysctls::alias`]; `None` for anything else.
    fn from_alias(alias: &str) -> Option<ParentSysctls> {
        let rest = alias.strip_prefix(ALIAS_TAG)?;
        let mut ignore = None;
        let mut filter = None;
        let mut announce = None;
        for word in rest.split_whitespace() {
            let (key, value) = match word.split_once('=') {
                Some((k, v)) => (k, v.parse::<i32>().ok()?),
                None => continue,
            };
            match key {
                "arp_ignore" => ignore = Some(value),
                "arp_filter" => filter = Some(value),
                "arp_announce" => announce = Some(value),
                _ => {}
            }
        }
        Some(ParentSysctls {
            arp_ignore: ignore?,
            arp_filter: filter?,
            arp_announce: announce?,
        })
    }
}

/// A VMAC macvlan device created by [`Vmac::create`]. See the module documentation.
#[derive(Debug)]
pub struct Vmac {
    name: String,
    ifindex: u32,
    parent_ifindex: u32,
    parent_name: String,
    vrid: u8,
    family: Family,
    mac: [u8; 6],
    saved: Option<ParentSysctls>,
    up: bool,
}

impl Vmac {
    /// Creates the VMAC device of (`vrid`, `family`) on parent `parent_ifindex` named
    /// `parent_name`, down, with its sysctls and the parent's (see the module documentation).
    ///
    /// Errors: `InvalidInput` for VRID 0; `AlreadyExists` when a link with the name exists
    /// (call [`remove_stale`] first); netlink and `/proc/sys` errors as they come (the link is
    /// deleted again when the sysctls cannot be written). `ENOENT` on `ipv6/conf/...` for an
    /// IPv6 VMAC means IPv6 is disabled.
    pub fn create(
        rtnl: &mut Rtnl,
        parent_ifindex: u32,
        parent_name: &str,
        vrid: u8,
        family: Family,
    ) -> io::Result<Vmac> {
        if vrid == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "VRID 0"));
        }
        check_ifname(parent_name)?;
        let name = vmac_ifname(parent_ifindex, vrid, family);
        let _lock = ParentLock::take(parent_ifindex);
        let links = rtnl.list_links()?;
        test_delay("VRRPD_TEST_VMAC_READ_DELAY_MS");
        if let Some(l) = links.iter().find(|l| l.name == name) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "interface {name} already exists (index {}); remove_stale() deletes one left by a crash",
                    l.index
                ),
            ));
        }
        let saved = match family {
            Family::V4 => Some(match shared_saved(&links, parent_ifindex, None) {
                Some(s) => s,
                None => ParentSysctls::read(parent_name)?,
            }),
            Family::V6 => None,
        };
        let mut v = Vmac {
            ifindex: 0,
            name,
            parent_ifindex,
            parent_name: parent_name.to_owned(),
            vrid,
            family,
            mac: vmac(family, vrid),
            saved,
            up: false,
        };
        v.build(rtnl)?;
        Ok(v)
    }

    /// Creates the link and configures it; deletes it again on error.
    fn build(&mut self, rtnl: &mut Rtnl) -> io::Result<()> {
        self.ifindex = rtnl.create_macvlan(&self.name, self.parent_ifindex, self.mac, VMAC_MODE)?;
        self.up = false;
        if let Err(e) = self.configure(rtnl) {
            let _ = rtnl.del_link(self.ifindex);
            return Err(e);
        }
        Ok(())
    }

    fn configure(&self, rtnl: &mut Rtnl) -> io::Result<()> {
        let alias = match self.saved {
            Some(s) => s.alias(),
            None => ALIAS_TAG.to_owned(),
        };
        rtnl.set_link_alias(self.ifindex, &alias)?;
        let v4 = |key: &str| conf_path("ipv4", &self.name, key);
        let v6 = |key: &str| conf_path("ipv6", &self.name, key);
        write_sysctl(&v4("arp_ignore"), 1)?;
        write_sysctl(&v4("accept_local"), 1)?;
        write_sysctl(&v4("rp_filter"), 0)?;
        write_sysctl(&v4("promote_secondaries"), 1)?;
        match self.family {
            Family::V4 => {
                // No IPv6 in the kernel (ipv6.disable=1): nothing to disable.
                if conf_dir("ipv6", &self.name).exists() {
                    write_sysctl(&v6("disable_ipv6"), 1)?;
                }
            }
            Family::V6 => {
                write_sysctl(&v6("addr_gen_mode"), 1)?;
                write_sysctl(&v6("accept_dad"), 0)?;
                write_sysctl(&v6("accept_ra"), 0)?;
                write_sysctl(&v6("autoconf"), 0)?;
            }
        }
        if self.saved.is_some() {
            let p = |key: &str| conf_path("ipv4", &self.parent_name, key);
            raise_sysctl(&p("arp_ignore"), 0, 1)?;
            raise_sysctl(&p("arp_filter"), 0, 1)?;
            raise_sysctl(&p("arp_announce"), 1, 2)?;
        }
        Ok(())
    }

    /// Brings the device up (`IFF_UP`): on becoming Active, before adding the VIPs to it.
    pub fn up(&mut self, rtnl: &mut Rtnl) -> io::Result<()> {
        rtnl.set_link_up(self.ifindex, true)?;
        self.up = true;
        Ok(())
    }

    /// Brings the device down: on leaving Active, after deleting the VIPs from it (IPv6
    /// addresses would be flushed by the kernel anyway, IPv4 ones would stay).
    pub fn down(&mut self, rtnl: &mut Rtnl) -> io::Result<()> {
        rtnl.set_link_up(self.ifindex, false)?;
        self.up = false;
        Ok(())
    }

    /// Re-creates the device after it vanished (someone ran `ip link del`; see the daemon's
    /// `NetEvent::Link { deleted: true, .. }` for [`Vmac::ifindex`]), keeping the saved parent
    /// values. Any link still holding the name is deleted first. The new device is down and has
    /// a new index: reopen the sender sockets on it. Not for a re-created *parent* (new parent
    /// index): make a new [`Vmac`] for that.
    pub fn recreate(&mut self, rtnl: &mut Rtnl) -> io::Result<()> {
        match rtnl.link_by_name(&self.name) {
            Ok(l) => rtnl.del_link(l.index)?,
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => {}
            Err(e) => return Err(e),
        }
        let _lock = ParentLock::take(self.parent_ifindex);
        self.build(rtnl)
    }

    /// Deletes the device and, if it was the last vrrpd VMAC on the parent, restores the
    /// parent's sysctls. Both steps are attempted; the first error is returned.
    pub fn remove(self, rtnl: &mut Rtnl) -> io::Result<()> {
        let _lock = ParentLock::take(self.parent_ifindex);
        let deleted = match rtnl.link(self.ifindex) {
            // Only if the index still is ours: it may have been reused after an `ip link del`.
            Ok(l) if l.name == self.name && is_macvlan_on(&l, self.parent_ifindex) => {
                rtnl.del_link(self.ifindex)
            }
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(e),
        };
        test_delay("VRRPD_TEST_VMAC_RESTORE_DELAY_MS");
        let restored = match self.saved {
            Some(saved) => restore_parent(rtnl, self.parent_ifindex, saved),
            None => Ok(()),
        };
        deleted.and(restored)
    }

    /// Interface index of the macvlan (for the sender sockets and the announcer).
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Interface name of the macvlan.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The VMAC (source MAC for gratuitous ARP / NA from the macvlan).
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }

    /// Index of the parent interface.
    pub fn parent_ifindex(&self) -> u32 {
        self.parent_ifindex
    }

    /// VRID.
    pub fn vrid(&self) -> u8 {
        self.vrid
    }

    /// Address family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Whether [`Vmac::up`] was the last of up/down called.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// The parent's sysctl values that [`Vmac::remove`] restores (IPv4 VMACs).
    pub fn saved_parent_sysctls(&self) -> Option<ParentSysctls> {
        self.saved
    }
}

/// Deletes the VMAC device of (`vrid`, `family`) on `parent_ifindex` left by an earlier run:
/// every macvlan on that parent named [`vmac_ifname`] or carrying [`vmac`], and restores the
/// parent's sysctls from its alias when no other vrrpd VMAC remains on the parent. Returns
/// whether anything was deleted. Call before [`Vmac::create`].
///
/// A macvlan with our VMAC on that parent is deleted even if someone else made it: it could not
/// be up at the same time as ours anyway (`EADDRINUSE`).
pub fn remove_stale(
    rtnl: &mut Rtnl,
    parent_ifindex: u32,
    vrid: u8,
    family: Family,
) -> io::Result<bool> {
    let name = vmac_ifname(parent_ifindex, vrid, family);
    let mac = vmac(family, vrid);
    let _lock = ParentLock::take(parent_ifindex);
    let links = rtnl.list_links()?;
    let stale: Vec<&LinkInfo> = links
        .iter()
        .filter(|l| is_macvlan_on(l, parent_ifindex) && (l.name == name || l.mac == Some(mac)))
        .collect();
    if stale.is_empty() {
        return Ok(false);
    }
    let mut saved = None;
    for l in &stale {
        if saved.is_none() {
            saved = l.alias.as_deref().and_then(ParentSysctls::from_alias);
        }
        rtnl.del_link(l.index)?;
    }
    if let Some(saved) = saved {
        restore_parent(rtnl, parent_ifindex, saved)?;
    }
    Ok(true)
}

/// How long [`ParentLock::take`] waits for another instance's VMAC change on the same parent
/// (each takes a few netlink round trips and sysctl writes: milliseconds).
const PARENT_LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// The per-parent lock of the module documentation: an abstract unix socket named
/// `vrrpd-vmac-parent-<ifindex>`, bound while held (the abstract namespace belongs to the
/// network namespace, like the parent's index). Released when dropped, or when the holder dies.
pub struct ParentLock(Option<std::os::unix::net::UnixDatagram>);

impl ParentLock {
    /// Takes the lock of `parent_ifindex`, waiting up to [`PARENT_LOCK_WAIT`]. If it stays
    /// held (a holder stopped with SIGSTOP), or abstract sockets are unavailable, go on without
    /// it: the race it closes is rare, a daemon that cannot start or stop is not.
    pub fn take(parent_ifindex: u32) -> ParentLock {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("vrrpd-vmac-parent-{parent_ifindex}");
        let Ok(addr) = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()) else {
            return ParentLock(None);
        };
        let deadline = std::time::Instant::now() + PARENT_LOCK_WAIT;
        loop {
            match std::os::unix::net::UnixDatagram::bind_addr(&addr) {
                Ok(s) => return ParentLock(Some(s)),
                Err(e)
                    if e.kind() == io::ErrorKind::AddrInUse
                        && std::time::Instant::now() < deadline =>
                {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
                Err(_) => return ParentLock(None),
            }
        }
    }

    /// Whether the lock is held (not given up after [`PARENT_LOCK_WAIT`]).
    pub fn held(&self) -> bool {
        self.0.is_some()
    }
}

/// Test hooks (tests/hardening.rs, issue 13 defect 4): in debug builds only, the variable `var`
/// gives milliseconds to sleep. `VRRPD_TEST_VMAC_READ_DELAY_MS`: between listing the parent's
/// VMACs and reading its sysctls in [`Vmac::create`], widening the window two simultaneous
/// starts raced in. `VRRPD_TEST_VMAC_RESTORE_DELAY_MS`: between deleting the link and restoring
/// the parent in [`Vmac::remove`], the window in which a start overlapping a stop would read
/// the still raised values as the originals. A release build reads no such variable.
fn test_delay(var: &str) {
    if cfg!(debug_assertions) {
        if let Some(ms) = std::env::var(var).ok().and_then(|v| v.parse::<u64>().ok()) {
            std::thread::sleep(std::time::Duration::from_millis(ms.min(5000)));
        }
    }
}

/// Whether `l` is a macvlan whose lower device is `parent`.
fn is_macvlan_on(l: &LinkInfo, parent: u32) -> bool {
    l.kind.as_deref() == Some("macvlan") && l.parent == Some(parent)
}

/// The saved parent values recorded by another vrrpd VMAC on `parent` (other than `except`).
fn shared_saved(links: &[LinkInfo], parent: u32, except: Option<u32>) -> Option<ParentSysctls> {
    links
        .iter()
        .filter(|l| is_macvlan_on(l, parent) && Some(l.index) != except)
        .find_map(|l| l.alias.as_deref().and_then(ParentSysctls::from_alias))
}

/// Writes `saved` back to the parent unless another vrrpd IPv4 VMAC still lives on it. The
/// parent is found by index (its name may have changed). A parent that is gone is success: its
/// settings went with it, and a new device that took its name must not get them.
fn restore_parent(rtnl: &mut Rtnl, parent_ifindex: u32, saved: ParentSysctls) -> io::Result<()> {
    let links = rtnl.list_links()?;
    if shared_saved(&links, parent_ifindex, None).is_some() {
        return Ok(());
    }
    let Some(parent) = links.iter().find(|l| l.index == parent_ifindex) else {
        return Ok(());
    };
    let name = parent.name.clone();
    if check_ifname(&name).is_err() || !conf_dir("ipv4", &name).exists() {
        return Ok(()); // no IPv4 settings to restore
    }
    let p = |key: &str| conf_path("ipv4", &name, key);
    write_if_different(&p("arp_ignore"), saved.arp_ignore)?;
    write_if_different(&p("arp_filter"), saved.arp_filter)?;
    write_if_different(&p("arp_announce"), saved.arp_announce)
}

fn conf_dir(proto: &str, ifname: &str) -> PathBuf {
    Path::new("/proc/sys/net")
        .join(proto)
        .join("conf")
        .join(ifname)
}

/// `/proc/sys/net/<proto>/conf/<ifname>/<key>`. `ifname` comes from [`vmac_ifname`] or was
/// checked by [`check_ifname`] (no `/`), so the path stays inside the `conf` directory.
fn conf_path(proto: &str, ifname: &str, key: &str) -> PathBuf {
    conf_dir(proto, ifname).join(key)
}

fn with_path(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

fn read_sysctl(path: &Path) -> io::Result<i32> {
    let text = fs::read_to_string(path).map_err(|e| with_path(path, e))?;
    text.trim().parse::<i32>().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: not an integer: {:?}", path.display(), text.trim()),
        )
    })
}

fn write_sysctl(path: &Path, value: i32) -> io::Result<()> {
    fs::write(path, format!("{value}\n")).map_err(|e| with_path(path, e))
}

/// Sets `path` to `value` when it currently is at most `below_or_eq`.
fn raise_sysctl(path: &Path, below_or_eq: i32, value: i32) -> io::Result<()> {
    if read_sysctl(path)? <= below_or_eq {
        write_sysctl(path, value)?;
    }
    Ok(())
}

fn write_if_different(path: &Path, value: i32) -> io::Result<()> {
    if read_sysctl(path)? != value {
        write_sysctl(path, value)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vmac_addresses() {
        assert_eq!(vmac(Family::V4, 51), [0, 0, 0x5e, 0, 1, 0x33]);
        assert_eq!(vmac(Family::V6, 255), [0, 0, 0x5e, 0, 2, 0xff]);
    }

    #[test]
    fn names_fit_ifnamsiz_and_are_unique() {
        assert_eq!(vmac_ifname(3, 51, Family::V4), "vr3.51");
        assert_eq!(vmac_ifname(3, 51, Family::V6), "vr3.51.6");
        // Longest decimal forms.
        assert_eq!(vmac_ifname(999_999_999, 255, Family::V4), "vr999999999.255");
        assert_eq!(vmac_ifname(9_999_999, 255, Family::V6), "vr9999999.255.6");
        // Fallbacks.
        assert_eq!(vmac_ifname(u32::MAX, 255, Family::V4), "vx4ffffffffff");
        assert_eq!(vmac_ifname(10_000_000, 255, Family::V6), "vx600989680ff");
        assert_eq!(vmac_ifname(10_000_000, 1, Family::V6), "vr10000000.1.6");
        let mut seen = std::collections::HashSet::new();
        for idx in [
            1u32,
            2,
            10,
            11,
            99,
            100,
            9_999_999,
            10_000_000,
            999_999_999,
            1_000_000_000,
            u32::MAX,
        ] {
            for vrid in [1u8, 9, 10, 11, 99, 100, 255] {
                for fam in [Family::V4, Family::V6] {
                    let n = vmac_ifname(idx, vrid, fam);
                    assert!(n.len() <= 15, "{n}");
                    assert!(check_ifname(&n).is_ok(), "{n}");
                    assert!(seen.insert(n.clone()), "duplicate {n}");
                }
            }
        }
    }

    #[test]
    fn alias_round_trip() {
        let s = ParentSysctls {
            arp_ignore: 0,
            arp_filter: 0,
            arp_announce: 1,
        };
        let a = s.alias();
        assert!(a.starts_with(ALIAS_TAG));
        assert!(a.len() <= 255);
        assert_eq!(ParentSysctls::from_alias(&a), Some(s));
        assert_eq!(ParentSysctls::from_alias(ALIAS_TAG), None);
        assert_eq!(ParentSysctls::from_alias("something else"), None);
        assert_eq!(
            ParentSysctls::from_alias("vrrpd vmac parent arp_ignore=x arp_filter=0"),
            None
        );
    }

    fn link(index: u32, kind: &str, parent: u32, alias: Option<&str>) -> LinkInfo {
        LinkInfo {
            index,
            name: format!("l{index}"),
            mac: None,
            flags: 0,
            up: false,
            kind: Some(kind.to_owned()),
            parent: Some(parent),
            alias: alias.map(str::to_owned),
            macvlan_mode: None,
        }
    }

    #[test]
    fn shared_saved_takes_other_vmacs_on_the_same_parent() {
        let s = ParentSysctls {
            arp_ignore: 2,
            arp_filter: 0,
            arp_announce: 0,
        };
        let alias = s.alias();
        let links = vec![
            link(5, "macvlan", 4, Some(&alias)),
            link(6, "macvlan", 4, Some(ALIAS_TAG)),
            link(7, "vlan", 3, Some(&alias)),
            link(8, "macvlan", 3, None),
        ];
        assert_eq!(shared_saved(&links, 4, None), Some(s));
        assert_eq!(shared_saved(&links, 4, Some(5)), None);
        assert_eq!(shared_saved(&links, 3, None), None);
    }
}
