//! Link checks: is the cable in? Three ways to ask the kernel, for `--link-check`.
//!
//! - [`LinkCheckKind::Netlink`]: the link's flags over rtnetlink (`RTM_GETLINK` by name):
//!   `IFF_UP && IFF_RUNNING`, the kernel's carrier/operational state. Works on every kind of
//!   interface (physical, VLAN, bond, veth, macvlan) and is what [`super::netlink::LinkMonitor`]
//!   reports as events; the daemon's default.
//! - [`LinkCheckKind::Ethtool`]: `ioctl(SIOCETHTOOL)` with `struct ethtool_value { cmd =
//!   ETHTOOL_GLINK }` (`<linux/ethtool.h>`): the driver's `get_link` answer, `netif_running() &&
//!   get_link()` (so an administratively down interface reads "down"). This is what Advanced
//!   Vrrpd used (reference §4). Most drivers implement it with `ethtool_op_get_link`, i.e. the
//!   carrier flag; veth does, so on a veth the answer follows the peer end (peer down → false).
//!   Interfaces without `ethtool_ops->get_link` fail with `EOPNOTSUPP`.
//! - [`LinkCheckKind::Mii`]: `ioctl(SIOCGMIIPHY)` (fills `struct mii_ioctl_data.phy_id`, overlaid
//!   on `ifreq.ifr_ifru`), then `ioctl(SIOCGMIIREG)` for register 1 (BMSR, basic mode status);
//!   bit 0x0004 is "link status". The bit latches low (IEEE 802.3 22.2.4.2.13): the first read
//!   after a drop says "down" even if the link came back, so BMSR is read twice and the second
//!   value counts, as mii-tool does. Only drivers with `ndo_eth_ioctl` and an MII PHY answer;
//!   virtual devices do not. Needs `CAP_NET_ADMIN`.
//!
//! # Errors
//! Every ioctl error is returned as the raw `errno` (`io::Error::raw_os_error`).
//! [`is_unsupported`] tells "this interface cannot be checked this way" (refuse the option)
//! from other failures:
//! - **veth, MII:** `EOPNOTSUPP` (95) for `SIOCGMIIPHY` (no `ndo_eth_ioctl`; checked on 6.18,
//!   see `tests/vmac_netns.rs`). Other virtual devices (dummy, bridge, macvlan, VLAN) likewise.
//! - **ethtool on a device without `get_link`:** `EOPNOTSUPP`.
//! - Some drivers answer MII ioctls with `EINVAL` or `ENODEV` when no PHY is attached; those
//!   are not classified as unsupported (they may be transient), but [`probe`] leaves the kind
//!   out all the same.
//! - A missing interface is `ENODEV` (19) for the ioctls and `ENODEV` for netlink;
//!   `io::ErrorKind::InvalidInput` for a name that is not a valid interface name.
//!
//! The ioctls run on an `AF_INET`/`SOCK_DGRAM` socket (`O_CLOEXEC`), so they see the network
//! namespace the socket was opened in. [`check`] opens one for the call (start-up probes);
//! [`Checker`], the daemon's poll, opens it once and keeps it, so that each poll is one ioctl
//! (ethtool) or three (MII) and no `socket`/`close` pair. No check blocks.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::str::FromStr;

use super::netlink::{check_ifname, Rtnl};
use super::{cvt, new_socket};

/// `SIOCETHTOOL` (`<linux/sockios.h>`).
const SIOCETHTOOL: u32 = 0x8946;
/// `SIOCGMIIPHY`: get the address of the PHY in use.
const SIOCGMIIPHY: u32 = 0x8947;
/// `SIOCGMIIREG`: read a PHY register.
const SIOCGMIIREG: u32 = 0x8948;
/// `ETHTOOL_GLINK`: get link status (`struct ethtool_value`).
const ETHTOOL_GLINK: u32 = 0x0000_000a;
/// MII register 1, Basic Mode Status Register.
const MII_BMSR: u16 = 1;
/// BMSR bit 2: link status.
const BMSR_LSTATUS: u16 = 0x0004;

/// How the link state is read. See the module documentation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkCheckKind {
    /// rtnetlink link flags (`IFF_UP && IFF_RUNNING`).
    Netlink,
    /// `SIOCETHTOOL` / `ETHTOOL_GLINK`.
    Ethtool,
    /// `SIOCGMIIPHY` + `SIOCGMIIREG` (BMSR link bit).
    Mii,
}

impl LinkCheckKind {
    /// Every kind, in the order [`probe`] reports them.
    pub const ALL: [LinkCheckKind; 3] = [
        LinkCheckKind::Netlink,
        LinkCheckKind::Ethtool,
        LinkCheckKind::Mii,
    ];

    /// The name used on the command line: `netlink`, `ethtool`, `mii`.
    pub fn name(self) -> &'static str {
        match self {
            LinkCheckKind::Netlink => "netlink",
            LinkCheckKind::Ethtool => "ethtool",
            LinkCheckKind::Mii => "mii",
        }
    }
}

impl std::fmt::Display for LinkCheckKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for LinkCheckKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        LinkCheckKind::ALL
            .into_iter()
            .find(|k| k.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown link check {s:?} (netlink, ethtool or mii)"))
    }
}

/// Whether `err` means the interface does not support this kind of check at all (the driver
/// lacks the ioctl): `EOPNOTSUPP`, `ENOTTY` or `ENOSYS`. See the module documentation.
pub fn is_unsupported(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EOPNOTSUPP) | Some(libc::ENOTTY) | Some(libc::ENOSYS)
    )
}

/// Reads the link state of `ifname` with `kind`: `Ok(true)` = link up.
pub fn check(kind: LinkCheckKind, ifname: &str) -> io::Result<bool> {
    match kind {
        LinkCheckKind::Netlink => netlink_link(ifname),
        LinkCheckKind::Ethtool => ethtool_link(ifname),
        LinkCheckKind::Mii => mii_link(ifname),
    }
}

/// A link check that keeps its ioctl socket open between checks (the daemon's periodic poll):
/// one `ioctl` per ethtool check, three per MII check, no `socket`/`close` per poll.
#[derive(Debug)]
pub struct Checker {
    kind: LinkCheckKind,
    /// The ioctl socket (ethtool, MII); `None` for netlink, which opens its own.
    fd: Option<OwnedFd>,
}

impl Checker {
    /// Opens the socket `kind` needs, in the caller's network namespace.
    pub fn new(kind: LinkCheckKind) -> io::Result<Checker> {
        let fd = match kind {
            LinkCheckKind::Netlink => None,
            LinkCheckKind::Ethtool | LinkCheckKind::Mii => {
                Some(new_socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?)
            }
        };
        Ok(Checker { kind, fd })
    }

    /// The kind of check.
    pub fn kind(&self) -> LinkCheckKind {
        self.kind
    }

    /// Reads the link state of `ifname` on the kept socket: `Ok(true)` = link up.
    pub fn check(&self, ifname: &str) -> io::Result<bool> {
        match (self.kind, &self.fd) {
            (LinkCheckKind::Ethtool, Some(fd)) => ethtool_on(fd, ifname),
            (LinkCheckKind::Mii, Some(fd)) => mii_on(fd, ifname),
            (kind, _) => check(kind, ifname),
        }
    }
}

/// The kinds of check `ifname` answers, in [`LinkCheckKind::ALL`] order. Empty if the
/// interface does not exist.
pub fn probe(ifname: &str) -> Vec<LinkCheckKind> {
    LinkCheckKind::ALL
        .into_iter()
        .filter(|&k| check(k, ifname).is_ok())
        .collect()
}

/// `IFF_UP && IFF_RUNNING` of `ifname`, over rtnetlink.
pub fn netlink_link(ifname: &str) -> io::Result<bool> {
    Ok(Rtnl::open()?.link_by_name(ifname)?.up)
}

/// `struct ethtool_value` (`<linux/ethtool.h>`).
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

/// `struct mii_ioctl_data` (`<linux/mii.h>`), which the kernel overlays on `ifr_ifru`.
#[repr(C)]
#[derive(Clone, Copy)]
struct MiiIoctlData {
    phy_id: u16,
    reg_num: u16,
    val_in: u16,
    val_out: u16,
}

/// The `ifr_ifru` union of `struct ifreq`, restricted to the members used here. `pad` makes it
/// at least as large as the kernel's (24 bytes on 64-bit: `struct ifmap`), since the kernel
/// copies `sizeof(struct ifreq)` in and out.
#[repr(C)]
union IfrIfru {
    data: *mut libc::c_void,
    mii: MiiIoctlData,
    pad: [u8; 24],
}

/// `struct ifreq` (`<linux/if.h>`).
#[repr(C)]
struct Ifreq {
    name: [u8; libc::IFNAMSIZ],
    ifru: IfrIfru,
}

impl Ifreq {
    fn new(ifname: &str) -> io::Result<Ifreq> {
        check_ifname(ifname)?;
        let mut name = [0u8; libc::IFNAMSIZ];
        // check_ifname guarantees at most IFNAMSIZ - 1 bytes: the NUL terminator stays.
        name.get_mut(..ifname.len())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "interface name too long"))?
            .copy_from_slice(ifname.as_bytes());
        Ok(Ifreq {
            name,
            ifru: IfrIfru { pad: [0; 24] },
        })
    }
}

/// `ioctl(fd, request, ifr)`.
fn ioctl_ifreq(fd: &impl AsRawFd, request: u32, ifr: &mut Ifreq) -> io::Result<()> {
    // SAFETY: `ifr` is a valid, writable `struct ifreq` (name NUL-terminated, union at least the
    // kernel's size) for the duration of the call; for SIOCETHTOOL its `data` member points to
    // a live `struct ethtool_value` owned by the caller (see `ethtool_link`). The kernel reads
    // and writes only within these objects.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            request as libc::Ioctl,
            ifr as *mut Ifreq as *mut libc::c_void,
        )
    };
    cvt(ret).map(drop)
}

/// `ETHTOOL_GLINK` of `ifname`. See the module documentation.
pub fn ethtool_link(ifname: &str) -> io::Result<bool> {
    Ifreq::new(ifname)?;
    ethtool_on(&new_socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?, ifname)
}

/// `ETHTOOL_GLINK` of `ifname` on the ioctl socket `fd`.
fn ethtool_on(fd: &OwnedFd, ifname: &str) -> io::Result<bool> {
    let mut ifr = Ifreq::new(ifname)?;
    let mut value = EthtoolValue {
        cmd: ETHTOOL_GLINK,
        data: 0,
    };
    ifr.ifru.data = (&mut value as *mut EthtoolValue).cast::<libc::c_void>();
    ioctl_ifreq(fd, SIOCETHTOOL, &mut ifr)?;
    Ok(value.data != 0)
}

/// The MII BMSR link bit of `ifname` (read twice, the second read counts). See the module
/// documentation.
pub fn mii_link(ifname: &str) -> io::Result<bool> {
    Ifreq::new(ifname)?;
    mii_on(&new_socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?, ifname)
}

/// The MII BMSR link bit of `ifname` on the ioctl socket `fd`.
fn mii_on(fd: &OwnedFd, ifname: &str) -> io::Result<bool> {
    let mut ifr = Ifreq::new(ifname)?;
    ifr.ifru.mii = MiiIoctlData {
        phy_id: 0,
        reg_num: 0,
        val_in: 0,
        val_out: 0,
    };
    ioctl_ifreq(fd, SIOCGMIIPHY, &mut ifr)?;
    // SAFETY: the `mii` member was written above and SIOCGMIIPHY filled in `phy_id` in place;
    // every bit pattern is a valid `MiiIoctlData` (four u16).
    let phy_id = unsafe { ifr.ifru.mii.phy_id };
    let mut bmsr = 0;
    for _ in 0..2 {
        ifr.ifru.mii = MiiIoctlData {
            phy_id,
            reg_num: MII_BMSR,
            val_in: 0,
            val_out: 0,
        };
        ioctl_ifreq(fd, SIOCGMIIREG, &mut ifr)?;
        // SAFETY: as above; SIOCGMIIREG wrote `val_out`.
        bmsr = unsafe { ifr.ifru.mii.val_out };
    }
    Ok(bmsr & BMSR_LSTATUS != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layouts_match_the_kernel() {
        assert_eq!(std::mem::size_of::<EthtoolValue>(), 8);
        assert_eq!(std::mem::size_of::<MiiIoctlData>(), 8);
        // struct ifreq is 40 bytes on 64-bit Linux (32 on 32-bit); ours is never smaller.
        assert!(std::mem::size_of::<Ifreq>() >= 16 + 2 * std::mem::size_of::<usize>() + 8);
        assert!(std::mem::size_of::<Ifreq>() >= std::mem::size_of::<libc::ifreq>());
    }

    #[test]
    fn kind_names_round_trip() {
        for k in LinkCheckKind::ALL {
            assert_eq!(k.name().parse::<LinkCheckKind>(), Ok(k));
            assert_eq!(k.to_string(), k.name());
        }
        assert_eq!("MII".parse::<LinkCheckKind>(), Ok(LinkCheckKind::Mii));
        assert!("carrier".parse::<LinkCheckKind>().is_err());
    }

    #[test]
    fn bad_names_are_invalid_input() {
        for bad in ["", "0123456789abcdef", "a/b", "a b"] {
            for k in LinkCheckKind::ALL {
                let e = check(k, bad).unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{k} {bad:?}");
            }
        }
    }

    #[test]
    fn unsupported_classification() {
        assert!(is_unsupported(&io::Error::from_raw_os_error(
            libc::EOPNOTSUPP
        )));
        assert!(is_unsupported(&io::Error::from_raw_os_error(libc::ENOTTY)));
        assert!(!is_unsupported(&io::Error::from_raw_os_error(libc::ENODEV)));
        assert!(!is_unsupported(&io::Error::from_raw_os_error(libc::EPERM)));
        assert!(!is_unsupported(&io::Error::other("x")));
    }

    #[test]
    fn loopback_answers_netlink_and_missing_interface_is_enodev() {
        // Every namespace has `lo`; it has no ethtool get_link and no MII.
        assert!(check(LinkCheckKind::Netlink, "lo").is_ok());
        let kinds = probe("lo");
        assert!(kinds.contains(&LinkCheckKind::Netlink), "{kinds:?}");
        assert!(!kinds.contains(&LinkCheckKind::Mii), "{kinds:?}");
        let e = ethtool_link("nosuchif0").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENODEV), "{e}");
        assert!(probe("nosuchif0").is_empty());
    }

    #[test]
    fn checker_answers_like_check() {
        for k in LinkCheckKind::ALL {
            let c = Checker::new(k).unwrap();
            assert_eq!(c.kind(), k);
            for name in ["lo", "nosuchif0", "a/b"] {
                let kept = c.check(name).map_err(|e| (e.kind(), e.raw_os_error()));
                let once = check(k, name).map_err(|e| (e.kind(), e.raw_os_error()));
                assert_eq!(kept, once, "{k} {name}");
            }
        }
    }
}
