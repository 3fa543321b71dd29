//! Interfaces: name → index and MAC, the VRRP source addresses, and the network namespace.
//!
//! - [`Interface::lookup`]: `if_nametoindex(3)` (an `SIOCGIFINDEX` ioctl inside libc) for the
//!   index, then one rtnetlink `RTM_GETLINK` for the hardware address (`IFLA_ADDRESS`).
//! - [`primary_ipv4`]: rtnetlink `RTM_GETADDR` dump; the first IPv4 address of the interface
//!   without `IFA_F_SECONDARY`, skipping the virtual router's own addresses. This is the source
//!   of IPv4 advertisements (RFC 9568 §5.1.1.1, RFC 3768 §5.2.1: "the primary IP address of the
//!   interface the packet is being sent from") and the tie-break value of §6.4.3. The VIPs are
//!   excluded because a VIP added to an interface with no address in its subnet becomes a
//!   primary address itself.
//! - [`link_local_ipv6`]: the same dump; the first `fe80::/10` address that is neither
//!   `IFA_F_TENTATIVE` (DAD still running: the kernel refuses it as a source) nor
//!   `IFA_F_DADFAILED`, skipping the VR's link-local VIP (RFC 9568 §5.1.2.1: the source is the
//!   interface's link-local address, while the VR's own link-local address is a VIP).
//! - [`netns_id`]: `stat(2)` of `/proc/thread-self/ns/net`; the inode number identifies the
//!   calling thread's network namespace for as long as it exists (it is what `ip netns identify`
//!   compares).

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::fs::MetadataExt;

use super::netlink::{AddrEntry, Rtnl, IFA_F_DADFAILED, IFA_F_SECONDARY, IFA_F_TENTATIVE};

/// A network interface the daemon runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interface {
    /// Interface name as given (e.g. `eth0`).
    pub name: String,
    /// Interface index.
    pub index: u32,
    /// Hardware (Ethernet) address.
    pub mac: [u8; 6],
}

/// The link state of interface `name`: `Some((index, up))` with up = IFF_UP and IFF_RUNNING,
/// `None` when there is no such interface.
pub fn link_state(rtnl: &mut Rtnl, name: &str) -> io::Result<Option<(u32, bool)>> {
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(['/', '\0']) {
        return Ok(None);
    }
    let index = match nix::net::if_::if_nametoindex(name) {
        Ok(i) => i,
        Err(nix::errno::Errno::ENODEV) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    match rtnl.link(index) {
        Ok(l) => Ok(Some((index, l.up))),
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(None),
        Err(e) => Err(e),
    }
}

impl Interface {
    /// Resolves `name` to its index and MAC address in the caller's network namespace.
    ///
    /// Errors: `NotFound` if there is no such interface; `Unsupported` if it has no 6-byte
    /// hardware address (not Ethernet-like, so VRRP's virtual MAC and ARP make no sense there).
    pub fn lookup(name: &str) -> io::Result<Interface> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains(['/', '\0']) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("invalid interface name {name:?}"),
            ));
        }
        let index = nix::net::if_::if_nametoindex(name).map_err(|e| match e {
            nix::errno::Errno::ENODEV => {
                io::Error::new(io::ErrorKind::NotFound, format!("no interface {name:?}"))
            }
            // glibc's if_nametoindex(3) opens a socket for its ioctl and, when it cannot
            // (EMFILE, ENFILE), answers ENOENT: not a missing interface (whose kind,
            // NotFound, would fault the instance), a transient error.
            nix::errno::Errno::ENOENT => io::Error::other(format!(
                "if_nametoindex({name:?}): no socket for its ioctl (open files limit?)"
            )),
            e => io::Error::other(format!("if_nametoindex({name:?}): {}", e.desc())),
        })?;
        let link = Rtnl::open()?.link(index).map_err(|e| {
            if e.raw_os_error() == Some(libc::ENODEV) {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("interface {name:?} vanished"),
                )
            } else {
                e
            }
        })?;
        let mac = link.mac.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::Unsupported,
                format!("interface {name:?} has no Ethernet address"),
            )
        })?;
        Ok(Interface {
            name: name.to_owned(),
            index,
            mac,
        })
    }
}

/// The primary IPv4 address of interface `ifindex`, ignoring the addresses in `exclude` (the
/// virtual router's VIPs). `None` if it has none. See the module documentation.
pub fn primary_ipv4(ifindex: u32, exclude: &[Ipv4Addr]) -> io::Result<Option<Ipv4Addr>> {
    let addrs = Rtnl::open()?.list_addrs(ifindex)?;
    Ok(select_primary_ipv4(&addrs, exclude))
}

/// The usable IPv6 link-local address of interface `ifindex`, ignoring the addresses in
/// `exclude` (the VR's link-local VIP). `None` if there is none yet (e.g. DAD still running).
pub fn link_local_ipv6(ifindex: u32, exclude: &[Ipv6Addr]) -> io::Result<Option<Ipv6Addr>> {
    let addrs = Rtnl::open()?.list_addrs(ifindex)?;
    Ok(select_link_local_ipv6(&addrs, exclude))
}

/// Pure part of [`primary_ipv4`]: the first IPv4 entry without `IFA_F_SECONDARY` not in
/// `exclude`.
pub fn select_primary_ipv4(addrs: &[AddrEntry], exclude: &[Ipv4Addr]) -> Option<Ipv4Addr> {
    addrs.iter().find_map(|&(ip, _, flags)| match ip {
        IpAddr::V4(v4) if flags & IFA_F_SECONDARY == 0 && !exclude.contains(&v4) => Some(v4),
        _ => None,
    })
}

/// Pure part of [`link_local_ipv6`]: the first `fe80::/10` entry that is not tentative and did
/// not fail DAD, not in `exclude`.
pub fn select_link_local_ipv6(addrs: &[AddrEntry], exclude: &[Ipv6Addr]) -> Option<Ipv6Addr> {
    addrs.iter().find_map(|&(ip, _, flags)| match ip {
        IpAddr::V6(v6)
            if is_link_local_v6(v6)
                && flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED) == 0
                && !exclude.contains(&v6) =>
        {
            Some(v6)
        }
        _ => None,
    })
}

/// Pure: whether `want` is among `addrs` and usable as a source (IPv6: not tentative, DAD not
/// failed).
pub fn select_usable(addrs: &[AddrEntry], want: IpAddr) -> bool {
    addrs
        .iter()
        .any(|&(ip, _, flags)| ip == want && flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED) == 0)
}

/// Pure: the first IPv6 entry outside `fe80::/10` that is not tentative and did not fail DAD,
/// not in `exclude`.
pub fn select_global_ipv6(addrs: &[AddrEntry], exclude: &[Ipv6Addr]) -> Option<Ipv6Addr> {
    addrs.iter().find_map(|&(ip, _, flags)| match ip {
        IpAddr::V6(v6)
            if !is_link_local_v6(v6)
                && flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED) == 0
                && !exclude.contains(&v6) =>
        {
            Some(v6)
        }
        _ => None,
    })
}

/// `fe80::/10` (the protocol core's test).
pub fn is_link_local_v6(ip: Ipv6Addr) -> bool {
    crate::proto::packet::is_ipv6_link_local(&ip)
}

/// The identity of the calling thread's network namespace: the inode number of its nsfs file.
pub fn netns_id() -> io::Result<u64> {
    // thread-self, not self: /proc/self/ns is the main thread's, and a thread may have entered
    // another namespace with setns(2). Fall back to self on kernels before 3.17.
    match fs::metadata("/proc/thread-self/ns/net") {
        Ok(m) => Ok(m.ino()),
        Err(_) => fs::metadata("/proc/self/ns/net").map(|m| m.ino()),
    }
}

/// `RTF_LOCAL` in `/proc/net/ipv6_route`: a route delivering to this host.
const RTF_LOCAL: u32 = 0x8000_0000;

/// Whether every address of `addrs` has its local route yet (`/proc/net/ipv6_route`). An IPv6
/// address added through netlink, even with `IFA_F_NODAD`, becomes a local destination only
/// when the kernel's address work runs, a few milliseconds later: until then packets to it are
/// dropped.
pub fn ipv6_local_routes_present(addrs: &[Ipv6Addr]) -> io::Result<bool> {
    let text = fs::read_to_string("/proc/net/ipv6_route")?;
    Ok(ipv6_local_routes_in(&text, addrs))
}

/// Pure part of [`ipv6_local_routes_present`].
pub fn ipv6_local_routes_in(text: &str, addrs: &[Ipv6Addr]) -> bool {
    let locals: Vec<u128> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let dest = u128::from_str_radix(f.first()?, 16).ok()?;
            let plen = u8::from_str_radix(f.get(1)?, 16).ok()?;
            let flags = u32::from_str_radix(f.get(8)?, 16).ok()?;
            (plen == 128 && flags & RTF_LOCAL != 0).then_some(dest)
        })
        .collect();
    addrs.iter().all(|a| locals.contains(&u128::from(*a)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_local_routes_parsed_from_proc() {
        let text = "\
20010db8000000000000000000000254 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000003 00000000 80200001     vr2.51
20010db8000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     vr2.51
20010db8000000000000000000000253 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000003 00000000 00000001     eth0
";
        let a: Ipv6Addr = "2001:db8::254".parse().unwrap();
        let b: Ipv6Addr = "2001:db8::253".parse().unwrap();
        assert!(ipv6_local_routes_in(text, &[a]));
        // A /128 that is not RTF_LOCAL, or no route at all, is not ready.
        assert!(!ipv6_local_routes_in(text, &[a, b]));
        assert!(!ipv6_local_routes_in("", &[a]));
        assert!(ipv6_local_routes_in("garbage\n", &[]));
    }
    use crate::sys::netlink::IFA_F_NODAD;

    fn v4(s: &str) -> IpAddr {
        IpAddr::V4(s.parse().unwrap())
    }
    fn v6(s: &str) -> IpAddr {
        IpAddr::V6(s.parse().unwrap())
    }

    #[test]
    fn primary_skips_secondary_and_vips() {
        let addrs = vec![
            (v6("fe80::1"), 64, 0x80),
            (v4("192.0.2.250"), 32, 0x80),
            (v4("192.0.2.1"), 24, 0x80),
            (v4("192.0.2.2"), 24, 0x80 | IFA_F_SECONDARY),
        ];
        let vip: Ipv4Addr = "192.0.2.250".parse().unwrap();
        assert_eq!(select_primary_ipv4(&addrs, &[]), Some(vip));
        assert_eq!(
            select_primary_ipv4(&addrs, &[vip]),
            Some("192.0.2.1".parse().unwrap())
        );
        let all = [vip, "192.0.2.1".parse().unwrap()];
        assert_eq!(select_primary_ipv4(&addrs, &all), None);
        assert_eq!(select_primary_ipv4(&[], &[]), None);
    }

    #[test]
    fn link_local_skips_tentative_global_and_vip() {
        let addrs = vec![
            (v6("2001:db8::1"), 64, 0),
            (v6("fe80::1"), 64, IFA_F_TENTATIVE),
            (v6("fe80::2"), 64, IFA_F_DADFAILED | IFA_F_TENTATIVE),
            (v6("fe80::53"), 64, IFA_F_NODAD),
            (v6("fe80::3"), 64, 0x80),
            (v4("192.0.2.1"), 24, 0),
        ];
        let vip: Ipv6Addr = "fe80::53".parse().unwrap();
        assert_eq!(select_link_local_ipv6(&addrs, &[]), Some(vip));
        assert_eq!(
            select_link_local_ipv6(&addrs, &[vip]),
            Some("fe80::3".parse().unwrap())
        );
    }

    #[test]
    fn link_local_prefix() {
        assert!(is_link_local_v6("fe80::1".parse().unwrap()));
        assert!(is_link_local_v6("febf::1".parse().unwrap()));
        assert!(!is_link_local_v6("fec0::1".parse().unwrap()));
        assert!(!is_link_local_v6("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn netns_id_is_stable() {
        let a = netns_id().unwrap();
        assert_ne!(a, 0);
        assert_eq!(a, netns_id().unwrap());
    }

    #[test]
    fn lookup_rejects_bad_names() {
        for bad in ["", "a/b", "0123456789abcdef", "a\0b"] {
            let e = Interface::lookup(bad).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
    }
}
