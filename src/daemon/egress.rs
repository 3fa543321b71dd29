//! Where a master's traffic goes: the virtual MAC (a macvlan, [`crate::sys::vmac`]) or, with
//! `-n`, the interface itself. Owns the device the VIPs are put on, the socket adverts are sent
//! from, and the packet socket (and source MAC) of the gratuitous ARPs / unsolicited NAs.
//!
//! With the VMAC, the macvlan is created at start (down), brought up on becoming master before
//! the VIPs are added to it, brought down on leaving master after they are removed, and removed
//! on exit. Adverts are received on the parent and sent from the macvlan (source MAC = VMAC).
//! An address owner (priority 255) keeps its addresses on the interface and uses no VMAC: its
//! VIPs are the interface's own addresses.

use core::net::IpAddr;
use std::io;

use super::config::Settings;
use crate::proto::Family;
use crate::sys::announce::Announcer;
use crate::sys::iface::Interface;
use crate::sys::netlink::Rtnl;
use crate::sys::socket::{VrrpSender, VrrpSocket};
use crate::sys::vmac::{self, Vmac};
use crate::vlog;

/// The master's egress.
pub struct Egress {
    vmac: Option<Vmac>,
    sender: Option<VrrpSender>,
    announcer: Option<Announcer>,
    family: Family,
    vrid: u8,
    use_vmac: bool,
}

impl Egress {
    /// Set up for `iface`: clean a VMAC left by a crash, create ours (down) and open the senders.
    pub fn open(s: &Settings, iface: &Interface, rtnl: &mut Rtnl) -> io::Result<Egress> {
        let use_vmac = s.vmac && !s.is_owner();
        if s.vmac && !use_vmac {
            vlog!(
                Info,
                "{}: address owner: no virtual MAC (the addresses stay on {})",
                crate::proto::tag(&s.interface, s.vrid),
                iface.name
            );
        }
        let mut e = Egress {
            vmac: None,
            sender: None,
            announcer: None,
            family: s.family,
            vrid: s.vrid,
            use_vmac,
        };
        e.attach(iface, rtnl)?;
        Ok(e)
    }

    /// (Re)create what hangs off the interface, e.g. after it came back with a new index.
    pub fn attach(&mut self, iface: &Interface, rtnl: &mut Rtnl) -> io::Result<()> {
        // The old macvlan (if any) went with the old parent: forget it without deleting.
        self.vmac = None;
        self.sender = None;
        if self.use_vmac {
            if vmac::remove_stale(rtnl, iface.index, self.vrid, self.family)? {
                vlog!(
                    Info,
                    "{}: removed a virtual MAC interface left by a crash",
                    crate::proto::tag(&iface.name, self.vrid)
                );
            }
            let vm = Vmac::create(rtnl, iface.index, &iface.name, self.vrid, self.family)?;
            vlog!(
                Info,
                "{}: virtual MAC {} on {}",
                crate::proto::tag(&iface.name, self.vrid),
                mac_text(vm.mac()),
                vm.name()
            );
            self.sender = Some(VrrpSender::open(self.family, vm.ifindex(), vm.name())?);
            self.announcer = Announcer::open(vm.ifindex()).ok();
            self.vmac = Some(vm);
        } else {
            self.announcer = Announcer::open(iface.index).ok();
        }
        if self.announcer.is_none() {
            vlog!(
                Warn,
                "{}: no packet socket: no gratuitous ARP / NA",
                crate::proto::tag(&iface.name, self.vrid)
            );
        }
        Ok(())
    }

    /// The interface index the VIPs go on.
    pub fn vip_ifindex(&self, iface: &Interface) -> u32 {
        self.vmac.as_ref().map_or(iface.index, |v| v.ifindex())
    }

    /// The source MAC of announcements.
    pub fn mac(&self, iface: &Interface) -> [u8; 6] {
        self.vmac.as_ref().map_or(iface.mac, |v| v.mac())
    }

    /// The packet socket for announcements.
    pub fn announcer(&self) -> Option<&Announcer> {
        self.announcer.as_ref()
    }

    /// Whether a virtual MAC is in use.
    pub fn uses_vmac(&self) -> bool {
        self.vmac.is_some()
    }

    /// The macvlan's name (the Accept_Mode filter scopes link-local VIPs by interface name).
    pub fn vmac_name(&self) -> Option<String> {
        self.vmac.as_ref().map(|v| v.name().to_string())
    }

    /// The macvlan's index, to recognise its netlink events.
    pub fn vmac_ifindex(&self) -> Option<u32> {
        self.vmac.as_ref().map(|v| v.ifindex())
    }

    /// Before adding the VIPs: bring the macvlan up.
    pub fn activate(&mut self, rtnl: &mut Rtnl) {
        if let Some(vm) = self.vmac.as_mut() {
            if let Err(e) = vm.up(rtnl) {
                vlog!(Error, "cannot bring {} up: {e}", vm.name());
            }
        }
    }

    /// After removing the VIPs: bring the macvlan down (it stays, for the next takeover).
    pub fn deactivate(&mut self, rtnl: &mut Rtnl) {
        if let Some(vm) = self.vmac.as_mut() {
            if let Err(e) = vm.down(rtnl) {
                vlog!(Warn, "cannot bring {} down: {e}", vm.name());
            }
        }
    }

    /// Send an advert: from the macvlan when there is one, else through the receive socket.
    pub fn send(&self, sock: &VrrpSocket, src: IpAddr, bytes: &[u8]) -> io::Result<()> {
        match &self.sender {
            Some(s) => s.send(src, bytes),
            None => sock.send(src, bytes),
        }
    }

    /// The macvlan was deleted behind our back: create it again (and reopen the senders).
    pub fn recreate(&mut self, rtnl: &mut Rtnl) -> io::Result<()> {
        let Some(vm) = self.vmac.as_mut() else {
            return Ok(());
        };
        vm.recreate(rtnl)?;
        self.sender = Some(VrrpSender::open(self.family, vm.ifindex(), vm.name())?);
        self.announcer = Announcer::open(vm.ifindex()).ok();
        Ok(())
    }

    /// On exit: delete the macvlan and restore the parent's sysctls.
    pub fn close(mut self, rtnl: &mut Rtnl) {
        self.sender = None;
        self.announcer = None;
        if let Some(vm) = self.vmac.take() {
            let name = vm.name().to_string();
            if let Err(e) = vm.remove(rtnl) {
                vlog!(Warn, "cannot remove {name}: {e}");
            }
        }
    }
}

/// `00:00:5e:00:01:33`.
pub fn mac_text(m: [u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}
