//! Accept_Mode (RFC 9568 §6.1, §6.4.3; RFC 3768 §6.4.3): which packets addressed to the
//! virtual addresses a master refuses, as a packet-filter table the shell hands to nftables.
//!
//! RFC 9568 §6.4.3: an Active router that is not the address owner "MUST NOT accept packets
//! addressed to the IPvX address(es) associated with the virtual router" unless Accept_Mode is
//! True, and never drops IPv6 Neighbor Solicitations and Advertisements for them (§6.4.2,
//! §6.4.3); RFC 3768 §6.4.3 (VRRPv2) has the same rule without the switch. The owner (priority
//! 255) always accepts (§6.4.3: the addresses are its own).
//!
//! The decision is [`plan`]: `None` (accept everything: Accept_Mode on, an owner) or a
//! [`Filter`], one table per instance (interface, VRID, family) so that instances never touch
//! each other's rules. Its rules drop, on the input hook, what is addressed to the VIPs, after
//! letting through:
//! - VRRP itself (IP protocol 112), should a unicast source be one of the VIPs;
//! - IPv6 NS/NA (ICMPv6 135, 136), so hosts still resolve the VIP and the router stays their
//!   gateway. ARP is not IP and never meets an `ip` table.
//!
//! Only packets delivered locally reach the input hook, and they are delivered locally only
//! while the VIPs are on our interface, that is while we are Active (or handing over): so the
//! table can be installed once at start-up and removed at exit, and entering or leaving Master
//! needs no filter change. Traffic the master forwards (a host using the VIP as its gateway)
//! takes the forward hook and is never touched. A link-local VIP is matched only on the
//! instance's own interfaces (the interface and its virtual MAC device): `fe80::1` is commonly
//! the VIP of every VLAN, each with an instance of its own.
//!
//! [`Filter::install_script`] replaces any table of the same name atomically (one nftables
//! transaction: create empty, delete, create), which is also how a table left by a crashed
//! predecessor is recovered.

use core::fmt::Write as _;
use core::net::{IpAddr, Ipv6Addr};

use super::packet::is_ipv6_link_local;
use super::Family;

/// IP protocol number of VRRP (and CARP).
const IPPROTO_VRRP: u8 = 112;

/// One instance's packet filter (Accept_Mode off, not the owner).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// The table's name, [`table_name`].
    pub table: String,
    /// Address family (nftables `ip` or `ip6`).
    pub family: Family,
    /// Dropped whatever interface they arrive on.
    pub global: Vec<IpAddr>,
    /// IPv6 link-local VIPs, dropped when they arrive on one of `ifnames`.
    pub link_local: Vec<Ipv6Addr>,
    /// The instance's interfaces (the interface, the virtual MAC device).
    pub ifnames: Vec<String>,
}

/// The table of an instance: `vrrpd_<ifname>_<vrid>_<v4|v6>`. Characters nftables does not
/// take in a name become `_`.
pub fn table_name(ifname: &str, vrid: u8, family: Family) -> String {
    let ifname: String = ifname
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let f = match family {
        Family::V4 => "v4",
        Family::V6 => "v6",
    };
    format!("vrrpd_{ifname}_{vrid}_{f}")
}

/// The nftables family of a table.
pub fn nft_family(family: Family) -> &'static str {
    match family {
        Family::V4 => "ip",
        Family::V6 => "ip6",
    }
}

/// Whether a name can stand between double quotes in an nftables script (no quote, no
/// backslash, no control character or space).
fn quotable(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_graphic() && c != '"' && c != '\\')
}

/// Which filter an instance needs (RFC 9568 §6.4.3): none with Accept_Mode on or as the
/// address owner (`owner`), else one dropping what is addressed to `vips` of `family`.
/// `ifnames` are the instance's interfaces, scoping the link-local VIPs (a name that cannot be
/// quoted is left out; with none left, link-local VIPs are dropped on every interface).
pub fn plan(
    accept_mode: bool,
    owner: bool,
    ifname: &str,
    vrid: u8,
    family: Family,
    vips: &[IpAddr],
    ifnames: &[String],
) -> Option<Filter> {
    if accept_mode || owner {
        return None;
    }
    let mut global = Vec::new();
    let mut link_local = Vec::new();
    for &v in vips.iter().filter(|v| Family::of(**v) == family) {
        match v {
            IpAddr::V6(a) if is_ipv6_link_local(&a) => {
                if !link_local.contains(&a) {
                    link_local.push(a);
                }
            }
            _ => {
                if !global.contains(&v) {
                    global.push(v);
                }
            }
        }
    }
    if global.is_empty() && link_local.is_empty() {
        return None;
    }
    let mut names: Vec<String> = Vec::new();
    for n in ifnames.iter().filter(|n| quotable(n)) {
        if !names.contains(n) {
            names.push(n.clone());
        }
    }
    Some(Filter {
        table: table_name(ifname, vrid, family),
        family,
        global,
        link_local,
        ifnames: names,
    })
}

/// `{ a, b }`.
fn set<T: core::fmt::Display>(items: &[T]) -> String {
    let inner: Vec<String> = items.iter().map(|i| i.to_string()).collect();
    format!("{{ {} }}", inner.join(", "))
}

impl Filter {
    /// The nftables script (for `nft -f -`) that creates the table, replacing one of the same
    /// name (a crashed predecessor's) in the same transaction.
    pub fn install_script(&self) -> String {
        let fam = nft_family(self.family);
        let mut s = remove_script(self.family, &self.table);
        let _ = writeln!(s, "table {fam} {} {{", self.table);
        s.push_str("\tchain input {\n");
        // Ahead of a default-priority filter chain, as keepalived's table is.
        s.push_str("\t\ttype filter hook input priority -1; policy accept;\n");
        match self.family {
            Family::V4 => {
                let _ = writeln!(s, "\t\tip protocol {IPPROTO_VRRP} accept");
            }
            Family::V6 => {
                let _ = writeln!(s, "\t\tmeta l4proto {IPPROTO_VRRP} accept");
                s.push_str("\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept\n");
            }
        }
        let daddr = match self.family {
            Family::V4 => "ip daddr",
            Family::V6 => "ip6 daddr",
        };
        if !self.global.is_empty() {
            let _ = writeln!(s, "\t\t{daddr} {} counter drop", set(&self.global));
        }
        if !self.link_local.is_empty() {
            if self.ifnames.is_empty() {
                let _ = writeln!(s, "\t\t{daddr} {} counter drop", set(&self.link_local));
            } else {
                let names: Vec<String> = self.ifnames.iter().map(|n| format!("\"{n}\"")).collect();
                let _ = writeln!(
                    s,
                    "\t\tiifname {} {daddr} {} counter drop",
                    set(&names),
                    set(&self.link_local)
                );
            }
        }
        s.push_str("\t}\n}\n");
        s
    }

    /// The script that removes the table (and succeeds when it is already gone).
    pub fn remove_script(&self) -> String {
        remove_script(self.family, &self.table)
    }
}

/// Delete table `name` of `family` whether or not it exists: declaring an empty table first
/// makes the delete always find one.
pub fn remove_script(family: Family, name: &str) -> String {
    let fam = nft_family(family);
    format!("table {fam} {name} {{}}\ndelete table {fam} {name}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(v: &[&str]) -> Vec<IpAddr> {
        v.iter().map(|s| s.parse().unwrap()).collect()
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// §6.4.3: Accept_Mode on, or the owner, accepts: no filter.
    #[test]
    fn accept_mode_or_owner_means_no_filter() {
        let v = ips(&["192.0.2.254"]);
        assert_eq!(plan(true, false, "eth0", 51, Family::V4, &v, &[]), None);
        assert_eq!(plan(false, true, "eth0", 51, Family::V4, &v, &[]), None);
        assert_eq!(plan(true, true, "eth0", 51, Family::V4, &v, &[]), None);
        assert!(plan(false, false, "eth0", 51, Family::V4, &v, &[]).is_some());
        assert_eq!(plan(false, false, "eth0", 51, Family::V4, &[], &[]), None);
    }

    /// §6.4.3, IPv4: VRRP passes, the VIPs are dropped; the table replaces its predecessor.
    #[test]
    fn ipv4_script() {
        let v = ips(&["192.0.2.254", "192.0.2.253", "192.0.2.254"]);
        let f = plan(false, false, "eth0", 51, Family::V4, &v, &names(&["eth0"])).unwrap();
        assert_eq!(f.table, "vrrpd_eth0_51_v4");
        assert_eq!(
            f.install_script(),
            "table ip vrrpd_eth0_51_v4 {}\n\
             delete table ip vrrpd_eth0_51_v4\n\
             table ip vrrpd_eth0_51_v4 {\n\
             \tchain input {\n\
             \t\ttype filter hook input priority -1; policy accept;\n\
             \t\tip protocol 112 accept\n\
             \t\tip daddr { 192.0.2.254, 192.0.2.253 } counter drop\n\
             \t}\n}\n"
        );
        assert_eq!(
            f.remove_script(),
            "table ip vrrpd_eth0_51_v4 {}\ndelete table ip vrrpd_eth0_51_v4\n"
        );
    }

    /// §6.4.2/§6.4.3, IPv6: NS/NA pass before the drop; link-local VIPs only on our interfaces.
    #[test]
    fn ipv6_script_keeps_nd_and_scopes_link_local() {
        let v = ips(&["fe80::1", "2001:db8::fe"]);
        let f = plan(
            false,
            false,
            "eth0",
            7,
            Family::V6,
            &v,
            &names(&["eth0", "vr3.7.6", "eth0"]),
        )
        .unwrap();
        assert_eq!(f.table, "vrrpd_eth0_7_v6");
        let s = f.install_script();
        let nd = s
            .find("icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept")
            .unwrap();
        let drop = s.find("ip6 daddr { 2001:db8::fe } counter drop").unwrap();
        assert!(nd < drop, "{s}");
        assert!(s.contains("meta l4proto 112 accept"), "{s}");
        assert!(
            s.contains("iifname { \"eth0\", \"vr3.7.6\" } ip6 daddr { fe80::1 } counter drop"),
            "{s}"
        );
        assert!(s.starts_with("table ip6 vrrpd_eth0_7_v6 {}\ndelete table ip6 vrrpd_eth0_7_v6\n"));
    }

    /// A name nftables cannot take is not written into the script.
    #[test]
    fn odd_names_are_made_safe() {
        assert_eq!(
            table_name("br lan\"x", 9, Family::V4),
            "vrrpd_br_lan_x_9_v4"
        );
        assert_eq!(table_name("eth0.190", 9, Family::V6), "vrrpd_eth0.190_9_v6");
        let v = ips(&["fe80::9"]);
        let f = plan(false, false, "e\"x", 9, Family::V6, &v, &names(&["e\"x"])).unwrap();
        assert!(f.ifnames.is_empty());
        assert!(f
            .install_script()
            .contains("\t\tip6 daddr { fe80::9 } counter drop\n"));
    }

    /// Different instances (VRID, family) never share a table.
    #[test]
    fn one_table_per_instance() {
        let a = table_name("eth0", 51, Family::V4);
        assert_ne!(a, table_name("eth0", 52, Family::V4));
        assert_ne!(a, table_name("eth0", 51, Family::V6));
        assert_ne!(a, table_name("eth1", 51, Family::V4));
    }
}
