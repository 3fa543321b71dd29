//! Real-kernel tests of `vrrpd::sys`, each in its own pair of network namespaces.
//!
//! Every test builds its own namespaces (`common::Pair`: `vt<pid>x<n>-a`, `-b`), joined by a veth
//! pair `va` (in A) ↔ `vb` (in B), uses documentation addresses only (192.0.2.0/24, 2001:db8::/32, fe80::),
//! and deletes the namespaces on every exit path (a `Drop` guard, so a failing assertion
//! cleans up too). Code runs inside a namespace on a scoped thread that has called
//! `setns(CLONE_NEWNET)`; sockets keep the namespace they were created in, so they are opened
//! there and then used from the test thread.
//!
//! Needs root (CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN) and `ip` (iproute2). Without root
//! each test prints a counted `SKIPPED:` line, unless `CI=true`, where it fails.
//! Works with or without a private mount namespace (`unshare --mount`): `/run/netns` is
//! created if missing.

use std::fs;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use vrrpd::proto::Family;
use vrrpd::sys::announce::{self, Announcer};
use vrrpd::sys::iface::{self, Interface};
use vrrpd::sys::netlink::{LinkMonitor, NetEvent, Rtnl, IFA_F_NODAD, IFA_F_TENTATIVE};
use vrrpd::sys::pidfile::{self, PidFile, PidFileError};
use vrrpd::sys::socket::{VrrpSocket, VRRP_GROUP_V4, VRRP_GROUP_V6};

/// The VRRPv3 advert of the keepalived vector (VRID 52, 192.0.2.250); its checksum does not
/// matter to this layer.
const ADVERT: [u8; 12] = [
    0x31, 0x34, 0xc8, 0x01, 0x00, 0x0a, 0xa1, 0x34, 0xc0, 0x00, 0x02, 0xfa,
];
const MAC_A: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0a];
const MAC_B: [u8; 6] = [0x02, 0x00, 0x00, 0x00, 0x00, 0x0b];

mod common;

use common::{captured, packet_socket as capture, wait_some as wait_for, Netns, Pair as Lab};

fn have_root(test: &str) -> bool {
    common::require_root(test)
}

fn ifindex(ns: &Netns, name: &'static str) -> u32 {
    ns.run(|| nix::net::if_::if_nametoindex(name).expect("if_nametoindex"))
}

fn v4(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}
fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap()
}

#[test]
fn rtnl_add_list_del_addresses() {
    if !have_root("rtnl_add_list_del_addresses") {
        return;
    }
    let lab = Lab::new();
    lab.up();
    let idx = ifindex(&lab.a, "va");
    lab.a.run(|| {
        let mut nl = Rtnl::open().unwrap();
        let ip4 = IpAddr::V4(v4("192.0.2.10"));
        let ip6 = IpAddr::V6(v6("2001:db8::10"));
        nl.add_addr(idx, ip4, 24).unwrap();
        nl.add_addr(idx, ip6, 64).unwrap();
        // Adding again is not an error.
        nl.add_addr(idx, ip4, 24).unwrap();
        nl.add_addr(idx, ip6, 64).unwrap();

        let list = nl.list_addrs(idx).unwrap();
        assert!(
            list.iter().any(|&(a, p, _)| a == ip4 && p == 24),
            "{list:?}"
        );
        let (_, _, flags) = *list
            .iter()
            .find(|&&(a, p, _)| a == ip6 && p == 64)
            .unwrap_or_else(|| panic!("{ip6} missing from {list:?}"));
        assert_ne!(flags & IFA_F_NODAD, 0, "IPv6 VIP without nodad: {flags:#x}");
        assert_eq!(
            flags & IFA_F_TENTATIVE,
            0,
            "nodad address tentative: {flags:#x}"
        );

        nl.del_addr(idx, ip4, 24).unwrap();
        nl.del_addr(idx, ip6, 64).unwrap();
        let list = nl.list_addrs(idx).unwrap();
        assert!(
            !list.iter().any(|&(a, _, _)| a == ip4 || a == ip6),
            "{list:?}"
        );
        // Deleting what is not there is not an error.
        nl.del_addr(idx, ip4, 24).unwrap();
        nl.del_addr(idx, ip6, 64).unwrap();

        // A kernel error comes back as the errno: no such device.
        let e = nl.add_addr(999_999, ip4, 24).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENODEV), "{e}");
        // The socket still works after an error.
        assert!(nl.list_addrs(idx).is_ok());
        // Link query.
        let link = nl.link(idx).unwrap();
        assert_eq!(link.name, "va");
        assert_eq!(link.mac, Some(MAC_A));
    });
    // What the kernel says, seen by iproute2.
    let shown = lab.a.ip("addr show dev va");
    assert!(!shown.contains("192.0.2.10"), "{shown}");
}

#[test]
fn primary_ipv4_and_link_local_ipv6() {
    if !have_root("primary_ipv4_and_link_local_ipv6") {
        return;
    }
    let lab = Lab::new();
    // No automatic link-local address, so the test controls every address.
    lab.a.ip("link set va addrgenmode none");
    let idx = ifindex(&lab.a, "va");
    lab.a.run(|| {
        let mut nl = Rtnl::open().unwrap();
        let vip = v4("192.0.2.250");
        assert_eq!(iface::primary_ipv4(idx, &[]).unwrap(), None);
        // A VIP added first to an address-less interface becomes a primary address itself.
        nl.add_addr(idx, IpAddr::V4(vip), 32).unwrap();
        nl.add_addr(idx, IpAddr::V4(v4("192.0.2.1")), 24).unwrap();
        nl.add_addr(idx, IpAddr::V4(v4("192.0.2.2")), 24).unwrap(); // secondary
        assert_eq!(iface::primary_ipv4(idx, &[]).unwrap(), Some(vip));
        assert_eq!(
            iface::primary_ipv4(idx, &[vip]).unwrap(),
            Some(v4("192.0.2.1"))
        );
        assert_eq!(
            iface::primary_ipv4(idx, &[vip, v4("192.0.2.1")]).unwrap(),
            None
        );
        assert_eq!(iface::link_local_ipv6(idx, &[]).unwrap(), None);
    });
    // fe80::1 with DAD on a down link: tentative, so not usable as a source.
    lab.a.ip("addr add fe80::1/64 dev va");
    let ll_vip = v6("fe80::53");
    lab.a.run(|| {
        let mut nl = Rtnl::open().unwrap();
        nl.add_addr(idx, IpAddr::V6(ll_vip), 64).unwrap(); // nodad: usable at once
        assert_eq!(iface::link_local_ipv6(idx, &[]).unwrap(), Some(ll_vip));
        assert_eq!(iface::link_local_ipv6(idx, &[ll_vip]).unwrap(), None);
    });
    // Link up: DAD runs and finishes, fe80::1 becomes usable.
    lab.up();
    let got = lab.a.run(|| {
        wait_for(Duration::from_secs(10), || {
            iface::link_local_ipv6(idx, &[ll_vip]).unwrap()
        })
    });
    assert_eq!(got, Some(v6("fe80::1")));
}

#[test]
fn interface_lookup_and_netns_id() {
    if !have_root("interface_lookup_and_netns_id") {
        return;
    }
    let lab = Lab::new();
    let idx = ifindex(&lab.a, "va");
    let ns_ino = fs::metadata(lab.a.path()).unwrap().ino();
    let here = iface::netns_id().unwrap();
    let (ifc, missing, inside) = lab.a.run(|| {
        (
            Interface::lookup("va").unwrap(),
            Interface::lookup("nonexist0").unwrap_err(),
            iface::netns_id().unwrap(),
        )
    });
    assert_eq!(
        ifc,
        Interface {
            name: "va".into(),
            index: idx,
            mac: MAC_A
        }
    );
    assert_eq!(missing.kind(), io::ErrorKind::NotFound);
    assert_eq!(inside, ns_ino);
    assert_ne!(inside, here);
    // Not in the test's own namespace.
    assert!(!Interface::lookup("va").is_ok_and(|i| i.mac == MAC_A));
}

/// Receives on `sock` for up to 3 s, skipping packets whose payload is not `want`.
fn recv_matching(
    sock: &VrrpSocket,
    want: &[u8],
) -> Option<(vrrpd::sys::socket::Received, Vec<u8>)> {
    let mut buf = vec![0u8; 2048];
    wait_for(Duration::from_secs(3), || loop {
        match sock.recv(&mut buf) {
            Ok(Some(r)) => {
                if buf.get(r.payload.clone()) == Some(want) {
                    return Some((r, buf.clone()));
                }
            }
            Ok(None) => return None,
            Err(e) => panic!("recv: {e}"),
        }
    })
}

#[test]
fn vrrp_socket_ipv4_roundtrip() {
    if !have_root("vrrp_socket_ipv4_roundtrip") {
        return;
    }
    let lab = Lab::new();
    lab.a.ip("addr add 192.0.2.1/24 dev va");
    lab.b.ip("addr add 192.0.2.2/24 dev vb");
    lab.up();
    let ia = ifindex(&lab.a, "va");
    let ib = ifindex(&lab.b, "vb");
    let sb = lab
        .b
        .run(|| VrrpSocket::open(Family::V4, ib, "vb").unwrap());
    let sa = lab
        .a
        .run(|| VrrpSocket::open(Family::V4, ia, "va").unwrap());
    let src = IpAddr::V4(v4("192.0.2.1"));

    // The veth carrier may take a moment: resend until B hears it.
    let got = wait_for(Duration::from_secs(5), || {
        sa.send(src, &ADVERT).unwrap();
        recv_matching(&sb, &ADVERT)
    });
    let (r, buf) = got.expect("B never received A's advert");
    assert_eq!(r.src, src);
    assert_eq!(r.dst, IpAddr::V4(VRRP_GROUP_V4));
    assert_eq!(r.ttl, 255);
    assert_eq!(r.ifindex, Some(ib));
    assert_eq!(r.payload.len(), ADVERT.len());
    // The IP header we wrote: TOS 0xc0, DF clear, protocol 112.
    let hdr = &buf[..r.payload.start];
    assert_eq!(hdr[1], 0xc0);
    assert_eq!(hdr[6] & 0x40, 0, "DF set");
    assert_eq!(hdr[9], 112);

    // Multicast loop is off: A does not hear itself.
    let mut abuf = [0u8; 2048];
    std::thread::sleep(Duration::from_millis(50));
    while let Some(r) = sa.recv(&mut abuf).unwrap() {
        assert_ne!(r.src, src, "A received its own advert");
    }

    // Wrong family for the source.
    let e = sa.send(IpAddr::V6(v6("fe80::1")), &ADVERT).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);

    // Link flap on B, rejoin, adverts heard again (RFC 9568 §6.4.2: a Backup keeps listening across a link flap).
    lab.b.ip("link set vb down");
    lab.b.ip("link set vb up");
    sb.rejoin().unwrap();
    let got = wait_for(Duration::from_secs(5), || {
        sa.send(src, &ADVERT).unwrap();
        recv_matching(&sb, &ADVERT)
    });
    assert!(got.is_some(), "no advert after link flap + rejoin");
}

#[test]
fn vrrp_socket_ipv6_roundtrip() {
    if !have_root("vrrp_socket_ipv6_roundtrip") {
        return;
    }
    let lab = Lab::new();
    lab.a.ip("addr add fe80::a/64 dev va nodad");
    lab.b.ip("addr add fe80::b/64 dev vb nodad");
    lab.up();
    let ia = ifindex(&lab.a, "va");
    let ib = ifindex(&lab.b, "vb");
    let mut sb = lab
        .b
        .run(|| VrrpSocket::open(Family::V6, ib, "vb").unwrap());
    let sa = lab
        .a
        .run(|| VrrpSocket::open(Family::V6, ia, "va").unwrap());
    let src = IpAddr::V6(v6("fe80::a"));

    let got = wait_for(Duration::from_secs(5), || {
        match sa.send(src, &ADVERT) {
            Ok(()) => {}
            // The link may not be up yet (carrier): try again.
            Err(e) if e.raw_os_error() == Some(libc::ENETDOWN) => return None,
            Err(e) => panic!("send: {e}"),
        }
        recv_matching(&sb, &ADVERT)
    });
    let (r, _) = got.expect("B never received A's IPv6 advert");
    assert_eq!(r.src, src);
    assert_eq!(r.dst, IpAddr::V6(VRRP_GROUP_V6));
    assert_eq!(r.ttl, 255);
    assert_eq!(r.ifindex, Some(ib));
    assert_eq!(r.payload, 0..ADVERT.len());

    // IPv4 source on an IPv6 socket.
    let e = sa.send(IpAddr::V4(v4("192.0.2.1")), &ADVERT).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);

    // Solicited-node group of a VIP: joined on the interface, left again.
    let vip = v6("2001:db8::12:34fe");
    sb.join_solicited_node(vip).unwrap();
    sb.join_solicited_node(vip).unwrap();
    let maddr = lab.b.ip("maddr show dev vb");
    assert!(maddr.contains("ff02::1:ff12:34fe"), "{maddr}");
    sb.rejoin().unwrap();
    sb.leave_solicited_node(vip).unwrap();
    let maddr = lab.b.ip("maddr show dev vb");
    assert!(!maddr.contains("ff02::1:ff12:34fe"), "{maddr}");
    assert!(maddr.contains("ff02::12"), "VRRP group lost: {maddr}");
}

#[test]
fn announcements_on_the_wire() {
    if !have_root("announcements_on_the_wire") {
        return;
    }
    let lab = Lab::new();
    lab.a.ip("addr add 192.0.2.1/24 dev va");
    lab.b.ip("addr add 192.0.2.2/24 dev vb");
    lab.up();
    let ia = ifindex(&lab.a, "va");
    let ib = ifindex(&lab.b, "vb");
    let cap = lab.b.run(|| capture(ib));
    let ann = lab.a.run(|| Announcer::open(ia).unwrap());
    let from_a = |f: &[u8]| f.len() >= 14 && f[6..12] == MAC_A;

    // B knows the VIP at an old MAC (the previous Active's): the GARP must move it to A.
    lab.b
        .ip("neigh replace 192.0.2.250 lladdr 02:00:00:00:00:99 dev vb nud stale");

    // Gratuitous ARP: byte-identical to the builder (and so to keepalived's layout).
    let vip = v4("192.0.2.250");
    let want = announce::build_garp(MAC_A, vip);
    let got = wait_for(Duration::from_secs(5), || {
        ann.gratuitous_arp(MAC_A, vip).unwrap();
        captured(&cap, |f| from_a(f) && f[12..14] == [0x08, 0x06])
    })
    .expect("no GARP captured");
    assert_eq!(&got[..want.len()], &want[..]);
    let moved = wait_for(Duration::from_secs(2), || {
        let n = lab.b.ip("neigh show 192.0.2.250 dev vb");
        n.contains("02:00:00:00:00:0a").then_some(n)
    });
    assert!(
        moved.is_some(),
        "GARP did not update B's neighbour entry: {}",
        lab.b.ip("neigh show dev vb")
    );

    // Unsolicited NA.
    let vip6 = v6("2001:db8::fe");
    let want = announce::build_unsolicited_na(MAC_A, vip6);
    ann.unsolicited_na(MAC_A, vip6).unwrap();
    let got = captured(&cap, |f| {
        from_a(f) && f.len() >= 55 && f[12..14] == [0x86, 0xdd] && f[20] == 58 && f[54] == 136
    })
    .expect("no NA captured");
    assert_eq!(got, want.to_vec());

    // Unicast ARP request to B.
    let want = announce::build_arp_request(MAC_A, vip, MAC_B, v4("192.0.2.2"));
    ann.unicast_arp_request(MAC_A, vip, MAC_B, v4("192.0.2.2"))
        .unwrap();
    let got = captured(&cap, |f| {
        from_a(f) && f[0..6] == MAC_B && f[12..14] == [0x08, 0x06]
    })
    .expect("no unicast ARP captured");
    assert_eq!(&got[..want.len()], &want[..]);

    // B's kernel answers a request for its own address: a reply to the VIP at MAC_A.
    let reply = captured(&cap, |f| {
        f.len() >= 42 && f[0..6] == MAC_A && f[12..14] == [0x08, 0x06] && f[20..22] == [0, 2]
    });
    assert!(reply.is_some(), "B did not answer the unicast ARP request");

    // A frame too short for an Ethernet header is refused before the syscall.
    assert_eq!(
        ann.send_frame(&[0; 10]).unwrap_err().kind(),
        io::ErrorKind::InvalidInput
    );
}

#[test]
fn link_monitor_sees_link_and_address_changes() {
    if !have_root("link_monitor_sees_link_and_address_changes") {
        return;
    }
    let lab = Lab::new();
    lab.up();
    let idx = ifindex(&lab.a, "va");
    let mut mon = lab.a.run(|| LinkMonitor::open().unwrap());
    let _ = mon.read_events().unwrap();
    assert!(mon.as_raw_fd() >= 0);

    let mut next = |what: &str, pred: &dyn Fn(&NetEvent) -> bool| {
        let found = wait_for(Duration::from_secs(5), || {
            mon.read_events().unwrap().into_iter().find(|e| pred(e))
        });
        found.unwrap_or_else(|| panic!("no {what} event"))
    };

    lab.a.ip("link set va down");
    next("link down", &|e| {
        *e == NetEvent::Link {
            ifindex: idx,
            name: "va".into(),
            up: false,
            deleted: false,
        }
    });

    lab.a.ip("addr add 192.0.2.7/24 dev va");
    next("address added", &|e| {
        *e == NetEvent::Addr {
            ifindex: idx,
            addr: IpAddr::V4(v4("192.0.2.7")),
            prefix: 24,
            added: true,
        }
    });
    lab.a.ip("addr del 192.0.2.7/24 dev va");
    next("address deleted", &|e| {
        *e == NetEvent::Addr {
            ifindex: idx,
            addr: IpAddr::V4(v4("192.0.2.7")),
            prefix: 24,
            added: false,
        }
    });

    lab.a.ip("link set va up");
    next(
        "link up",
        &|e| matches!(e, NetEvent::Link { ifindex, up: true, deleted: false, .. } if *ifindex == idx),
    );

    lab.a.ip("link del va");
    next(
        "link deleted",
        &|e| matches!(e, NetEvent::Link { ifindex, deleted: true, up: false, .. } if *ifindex == idx),
    );
}

#[test]
fn pidfile_in_run_dir() {
    // Needs no root: a private run directory.
    let dir = std::env::temp_dir().join(format!("vrrpd-sys-netns-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    std::env::set_var(pidfile::RUN_DIR_ENV, &dir);
    assert_eq!(pidfile::run_dir(), dir);
    let (pid_path, sock_path) = pidfile::instance_paths("va", 51, Family::V6).unwrap();
    let ns = format!("ns{}", iface::netns_id().unwrap());
    assert_eq!(pid_path, dir.join(&ns).join("vrrpd_va_51_v6.pid"));
    assert_eq!(sock_path, dir.join(&ns).join("vrrpd_va_51_v6.sock"));

    let pf = PidFile::create(&pid_path).unwrap();
    assert_eq!(pf.path(), pid_path);
    match PidFile::create(&pid_path) {
        Err(PidFileError::Running(Some(pid))) => assert_eq!(pid, std::process::id()),
        other => panic!("expected Running, got {other:?}"),
    }
    drop(pf);
    assert!(!pid_path.exists());
    fs::remove_dir_all(&dir).unwrap();
}

/// A capture that cannot run fails the test that relies on it: an empty capture must never
/// pass for an absence (tests/common/capture.rs re-raises the capture thread's panic).
#[test]
fn capture_that_cannot_start_fails() {
    if !have_root("capture_that_cannot_start_fails") {
        return;
    }
    let lab = Lab::new();
    let ns = lab.a.name.clone();
    let r = std::panic::catch_unwind(|| common::Capture::start(&ns, "nosuchdev0"));
    let e = r.err().expect("a capture on a missing interface started");
    let msg = e
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(msg.contains("no interface nosuchdev0"), "{msg}");
}

/// Issue 13, defect 3: `list_addrs` dumped every address of the host, not the interface's. With
/// `va` holding 3 addresses and a second interface `vx` holding 200, the list for `va` is
/// exactly `va`'s, and the reply itself carried only those: a dump of the host would be
/// ~200 × 60 bytes or more, `va`'s 3 addresses well under 4 KiB.
#[test]
fn list_addrs_dumps_only_the_interface() {
    if !have_root("list_addrs_dumps_only_the_interface") {
        return;
    }
    let lab = Lab::new();
    lab.a.ip("link add vx type veth peer name vy");
    let va = ifindex(&lab.a, "va");
    let vx = ifindex(&lab.a, "vx");
    let mine: Vec<(IpAddr, u8)> = vec![
        (IpAddr::V4(v4("192.0.2.1")), 24),
        (IpAddr::V4(v4("192.0.2.2")), 24),
        (IpAddr::V6(v6("2001:db8::1")), 64),
    ];
    let (listed, cost, other_count) = lab.a.run(|| {
        let mut nl = Rtnl::open().unwrap();
        for &(ip, prefix) in &mine {
            nl.add_addr(va, ip, prefix).unwrap();
        }
        for i in 1..=200u8 {
            nl.add_addr(vx, IpAddr::V4(Ipv4Addr::new(198, 51, 100, i)), 32)
                .unwrap();
        }
        let other_count = nl.list_addrs(vx).unwrap().len();
        let before = nl.bytes_received();
        let listed = nl.list_addrs(va).unwrap();
        (listed, nl.bytes_received() - before, other_count)
    });
    assert_eq!(other_count, 200, "the other interface's addresses");
    let mut got: Vec<(IpAddr, u8)> = listed.iter().map(|&(a, p, _)| (a, p)).collect();
    got.sort();
    let mut want = mine.clone();
    want.sort();
    assert_eq!(got, want, "list_addrs(va) must be exactly va's addresses");
    let line = format!("\nlist_addrs(va): {cost} bytes of netlink replies received\n");
    let _ = io::Write::write_all(&mut io::stderr().lock(), line.as_bytes());
    assert!(
        cost < 4096,
        "list_addrs(va) received {cost} bytes: the kernel dumped every address of the \
         namespace (200 on vx), not only va's 3"
    );
}
