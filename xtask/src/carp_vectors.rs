//! `cargo xtask carp-vectors [OUT.json]`: capture real ucarp frames for the CARP codec tests
//! (`tests/carp_vectors.rs`).
//!
//! Two ucarp processes (A 192.0.2.1 advskew 0, B 192.0.2.2 advskew 50, vhid 7, VIP 192.0.2.254,
//! password "secret") run in their own namespaces on a bridge; a third (C, in A's namespace,
//! vhid 8, VIP 192.0.2.253, `--nomcast`) sends broadcast adverts. tcpdump captures on the bridge.
//! Sequence: start A, B and C; A becomes MASTER; SIGUSR2 to A (it steps down, B takes over with
//! gratuitous ARPs); SIGTERM to B (`--shutdown`, no leaving frame; A takes over again); SIGTERM
//! to A and C. Every CARP advert and ARP frame is written to the JSON file with its time offset and
//! fields decoded here by fixed offsets only (not with vrrpd's decoder), with the exact command
//! lines and the argv the up/down scripts received.
//!
//! Needs root, `ucarp`, `tcpdump` and `ip`. Only documentation addresses are used.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::bench::lab::{self, Lab, R};
use crate::frame_capture;

/// Password of every instance.
pub const PASSWORD: &str = "secret";

/// Usage of the subcommand.
pub const USAGE: &str =
    "cargo xtask carp-vectors [OUT.json]   (root; default tests/data/ucarp-VERSION.json)";

const UP: &str = "#!/bin/sh\necho \"up $*\" >> \"$(dirname \"$0\")/hooks.log\"\nip addr add \"$2\"/24 dev \"$1\"\n";
const DOWN: &str = "#!/bin/sh\necho \"down $*\" >> \"$(dirname \"$0\")/hooks.log\"\nip addr del \"$2\"/24 dev \"$1\" 2>/dev/null\nexit 0\n";

/// Capture and write the vector file; returns the paths written.
pub fn main(args: &[String], root: &Path) -> R<Vec<PathBuf>> {
    frame_capture::require_root("carp-vectors")?;
    let version = ucarp_version()?;
    let out = match args {
        [] => root
            .join("tests/data")
            .join(format!("ucarp-{version}.json")),
        [p] => PathBuf::from(p),
        _ => return Err(USAGE.into()),
    };
    let doc = frame_capture::in_scratch("carp-vectors", |scratch| capture(scratch, &version))?;
    frame_capture::write_json(&out, &doc)?;
    Ok(vec![out])
}

/// "1.5.2" from the first line of `ucarp --help`.
fn ucarp_version() -> R<String> {
    let text = frame_capture::output_of("ucarp", "--help")?;
    text.split_whitespace()
        .skip_while(|w| *w != "ucarp")
        .nth(1)
        .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_string)
        .ok_or_else(|| format!("cannot read the ucarp version from {text:?}"))
}

struct Node {
    name: &'static str,
    srcip: &'static str,
    vhid: u8,
    advskew: u8,
    vip: &'static str,
    extra: &'static [&'static str],
}

fn ucarp_args(n: &Node, dir: &str) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "--interface=eth0".into(),
        format!("--srcip={}", n.srcip),
        format!("--vhid={}", n.vhid),
        format!("--pass={PASSWORD}"),
        format!("--addr={}", n.vip),
        "--advbase=1".into(),
        format!("--advskew={}", n.advskew),
        format!("--upscript={dir}/up.sh"),
        format!("--downscript={dir}/down.sh"),
        "--shutdown".into(),
        "--facility=none".into(),
        format!("--xparam=node{}", n.name),
    ];
    a.extend(n.extra.iter().map(|s| s.to_string()));
    a
}

fn capture(scratch: &Path, version: &str) -> R<Value> {
    let mut lab = Lab::new(scratch, "carp-vectors")?;
    let (sw, hosts) = lab.bridged(&["a", "b"])?;
    let (ns_a, ns_b) = match hosts.as_slice() {
        [a, b] => (a.ns.clone(), b.ns.clone()),
        _ => return Err("lab: expected two hosts".into()),
    };
    let mac_a = mac_of(&ns_a)?;
    let mac_b = mac_of(&ns_b)?;
    let d = lab.dir.to_string_lossy().into_owned();
    for (name, body) in [("up.sh", UP), ("down.sh", DOWN)] {
        let p = lab.dir.join(name);
        std::fs::write(&p, body).map_err(|e| format!("{}: {e}", p.display()))?;
        lab::chmod(&p, 0o755)?;
    }

    let tcpdump = frame_capture::start_tcpdump(&mut lab, &sw, "br0", "arp or ip proto 112")?;
    let pcap = tcpdump.pcap.clone();

    let nodes = [
        Node {
            name: "A",
            srcip: "192.0.2.1",
            vhid: 7,
            advskew: 0,
            vip: "192.0.2.254",
            extra: &[],
        },
        Node {
            name: "B",
            srcip: "192.0.2.2",
            vhid: 7,
            advskew: 50,
            vip: "192.0.2.254",
            extra: &[],
        },
        Node {
            name: "C",
            srcip: "192.0.2.1",
            vhid: 8,
            advskew: 100,
            vip: "192.0.2.253",
            extra: &["--nomcast"],
        },
    ];
    let mut commands = serde_json::Map::new();
    let mut pids = Vec::new();
    let t0 = Instant::now();
    for n in &nodes {
        let ns = if n.name == "B" { &ns_b } else { &ns_a };
        let args = ucarp_args(n, &d);
        commands.insert(
            n.name.to_string(),
            json!(format!(
                "ip netns exec NS-{} ucarp {}",
                if n.name == "B" { "b" } else { "a" },
                args.join(" ").replace(&d, "$DIR")
            )),
        );
        let log = lab.dir.join(format!("ucarp-{}.log", n.name));
        pids.push(lab.spawn(ns, "ucarp", &args, &[], Some(&log))?);
    }
    let (pid_a, pid_b, pid_c) = match pids.as_slice() {
        [a, b, c] => (*a, *b, *c),
        _ => return Err("three ucarp expected".into()),
    };
    let count = |pred: &dyn Fn(&Frame) -> bool| {
        frames_of(&std::fs::read(&pcap).unwrap_or_default())
            .iter()
            .filter(|f| pred(f))
            .count()
    };
    let wait_for = |what: &str, limit: u64, pred: &dyn Fn(&Frame) -> bool, n: usize| -> R<()> {
        let ok = lab::wait_until(
            Duration::from_secs(limit),
            Duration::from_millis(100),
            || count(pred) >= n,
        )?;
        if ok {
            Ok(())
        } else {
            Err(format!("ucarp: no {what} within {limit} s"))
        }
    };
    let from = |ip: &'static str, vhid: u8| move |f: &Frame| f.src == ip && f.vhid == Some(vhid);
    wait_for("4 adverts from A", 20, &from("192.0.2.1", 7), 4)?;
    wait_for("3 nomcast adverts from C", 20, &from("192.0.2.1", 8), 3)?;
    let t_usr2 = t0.elapsed();
    lab::signal(pid_a, libc::SIGUSR2);
    wait_for("4 adverts from B", 20, &from("192.0.2.2", 7), 4)?;
    let a_before = count(&from("192.0.2.1", 7));
    lab::sleep(Duration::from_secs(4))?;
    let t_term_b = t0.elapsed();
    frame_capture::terminate(&mut lab, pid_b, "ucarp B", 10)?;
    wait_for(
        "adverts from A after B stopped",
        20,
        &from("192.0.2.1", 7),
        a_before + 3,
    )?;
    let t_term_a = t0.elapsed();
    for pid in [pid_a, pid_c] {
        frame_capture::terminate(&mut lab, pid, "ucarp", 10)?;
    }
    let raw = frame_capture::stop_tcpdump(&mut lab, &tcpdump)?;
    let frames: Vec<Value> = frames_of(&raw)
        .iter()
        .map(|f| {
            json!({
                "t_ms": f.t_ms,
                "what": f.what,
                "src": f.src,
                "frame_hex": frame_capture::hex(&f.bytes),
            })
        })
        .collect();
    let hooks = std::fs::read_to_string(lab.dir.join("hooks.log")).unwrap_or_default();
    let hooks: Vec<String> = hooks.lines().map(|l| l.replace(&d, "$DIR")).collect();
    Ok(json!({
        "source": format!(
            "ucarp {version}, captured by `cargo xtask carp-vectors` (xtask/src/carp_vectors.rs) \
             with tcpdump on a Linux bridge between network namespaces; whole Ethernet frames, \
             every CARP advert and ARP frame in capture order, fields decoded by fixed offsets"
        ),
        "ucarp_version": version,
        "password": PASSWORD,
        "nodes": {
            "A": { "ip": "192.0.2.1", "mac": mac_a, "vhid": 7, "advskew": 0, "vip": "192.0.2.254" },
            "B": { "ip": "192.0.2.2", "mac": mac_b, "vhid": 7, "advskew": 50, "vip": "192.0.2.254" },
            "C": { "ip": "192.0.2.1", "mac": mac_a, "vhid": 8, "advskew": 100, "vip": "192.0.2.253",
                   "note": "--nomcast, in A's namespace" },
        },
        "commands": commands,
        "scripts": { "up.sh": UP, "down.sh": DOWN },
        "sequence_ms": {
            "sigusr2_to_A": t_usr2.as_millis() as u64,
            "sigterm_to_B": t_term_b.as_millis() as u64,
            "sigterm_to_A_and_C": t_term_a.as_millis() as u64,
        },
        "hook_calls": hooks,
        "frames": frames,
    }))
}

fn mac_of(ns: &str) -> R<String> {
    let out = lab::run(&["ip", "-n", ns, "-o", "link", "show", "eth0"])?;
    out.split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .map(str::to_string)
        .ok_or_else(|| format!("no MAC for eth0 in {ns}: {out}"))
}

struct Frame {
    t_ms: u64,
    what: String,
    src: String,
    vhid: Option<u8>,
    bytes: Vec<u8>,
}

/// Frames of a classic pcap (Ethernet), described by fixed offsets: CARP adverts (IPv4 protocol
/// 112, 36-byte payload) and ARP.
fn frames_of(pcap: &[u8]) -> Vec<Frame> {
    let records = frame_capture::records(pcap);
    let t0 = records.first().map_or(0, |(us, _)| *us);
    records
        .into_iter()
        .filter_map(|(us, frame)| {
            let (what, src, vhid) = describe(frame)?;
            Some(Frame {
                t_ms: (us - t0) / 1000,
                what,
                src,
                vhid,
                bytes: frame.to_vec(),
            })
        })
        .collect()
}

fn describe(f: &[u8]) -> Option<(String, String, Option<u8>)> {
    if f.len() < 14 {
        return None;
    }
    let ethertype = u16::from_be_bytes([f[12], f[13]]);
    let p = &f[14..];
    match ethertype {
        0x0806 if p.len() >= 28 => {
            let op = u16::from_be_bytes([p[6], p[7]]);
            let sender = Ipv4Addr::new(p[14], p[15], p[16], p[17]);
            let target = Ipv4Addr::new(p[24], p[25], p[26], p[27]);
            (op == 1 && sender == target)
                .then(|| (format!("arp gratuitous {sender}"), sender.to_string(), None))
        }
        0x0800 if p.len() >= 20 && p[9] == 112 => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
            let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
            let c = p.get(ihl..total)?;
            if c.len() != 36 {
                return None;
            }
            let counter = u64::from_be_bytes(c[8..16].try_into().ok()?);
            let bcast = f[0..6] == [0xff; 6];
            Some((
                format!(
                    "carp vhid={} advskew={} advbase={} counter={counter:016x}{}",
                    c[1],
                    c[2],
                    c[5],
                    if bcast { " broadcast" } else { "" }
                ),
                src.to_string(),
                Some(c[1]),
            ))
        }
        _ => None,
    }
}
