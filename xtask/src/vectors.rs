//! `cargo xtask vectors [OUT.json]`: capture the real keepalived frames that the tests compare
//! against (`tests/vectors.rs`, the frame-layout unit tests of the codec and the shell).
//!
//! keepalived (whatever version is installed; the committed file says which) runs in one network
//! namespace with four instances that cover what the tests use: VRRPv2 with a PASS password
//! (RFC 3768 §5.3.6), VRRPv2 without authentication, VRRPv3 over IPv4 at 100 ms (RFC 9568 §5.2.7
//! centiseconds), and VRRPv3 over IPv6 with a link-local first address (RFC 9568 §5.2.9). All start
//! as BACKUP, become MASTER after Master_Down_Interval (RFC 9568 §6.4.2) and so send their first
//! adverts, gratuitous ARPs (RFC 3768 §6.4.2, RFC 826) and unsolicited Neighbor Advertisements
//! (RFC 4861 §7.2.6); on SIGTERM they send priority 0 (RFC 9568 §6.4.3). tcpdump captures on the
//! peer end of a veth; the first frame of each kind, as keepalived sent it, is written to the JSON
//! file with the configuration, the keepalived version and the interface's MAC. The raw capture is
//! kept beside it (`.pcap`).
//!
//! Frames are classified here by fixed offsets only (not with vrrpd's decoder), so the tests that
//! read the file check vrrpd's codec against keepalived, not against itself.
//!
//! Needs root, `keepalived`, `tcpdump` and `ip`. Only documentation addresses are used.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::bench::lab::{self, Lab, R};
use crate::frame_capture;

/// The interface MAC of keepalived's side (locally administered); the unit tests build frames
/// with it and compare them with the captured ones.
pub const MAC: &str = "da:55:e7:f0:1d:2d";

/// The keepalived configuration. `IFACE` is the interface of keepalived's namespace.
const CONFIG: &str = "global_defs {
  router_id vectors
  vrrp_garp_master_delay 1
  vrrp_garp_master_repeat 2
}
vrrp_instance V2_PASS {
  state BACKUP
  interface tva
  virtual_router_id 51
  priority 150
  advert_int 1
  version 2
  authentication {
    auth_type PASS
    auth_pass secret1
  }
  virtual_ipaddress {
    192.0.2.254/24
    192.0.2.253/24
  }
}
vrrp_instance V3_FAST {
  state BACKUP
  interface tva
  virtual_router_id 52
  priority 200
  advert_int 0.1
  version 3
  virtual_ipaddress {
    192.0.2.250/24
  }
}
vrrp_instance V3_V6 {
  state BACKUP
  interface tva
  virtual_router_id 53
  priority 100
  advert_int 1
  version 3
  virtual_ipaddress {
    fe80::53/64
    2001:db8::fe/64
  }
}
vrrp_instance V2_NOAUTH {
  state BACKUP
  interface tva
  virtual_router_id 54
  priority 254
  advert_int 2
  version 2
  virtual_ipaddress {
    192.0.2.240/24
  }
}
";

/// Every frame the tests read, by its `what`. The prio=0 ones come only at shutdown.
const RUNNING: [&str; 10] = [
    "ipv4 vrrpv3 vrid=52 prio=200",
    "arp gratuitous 192.0.2.250",
    "ipv4 vrrpv2 vrid=51 prio=150 auth=1",
    "arp gratuitous 192.0.2.254",
    "arp gratuitous 192.0.2.253",
    "ipv6 vrrpv3 vrid=53 prio=100",
    "ipv6 unsolicited NA fe80::53",
    "ipv6 unsolicited NA 2001:db8::fe",
    "ipv4 vrrpv2 vrid=54 prio=254 auth=0",
    "arp gratuitous 192.0.2.240",
];
const SHUTDOWN: [&str; 4] = [
    "ipv4 vrrpv2 vrid=51 prio=0 auth=1",
    "ipv4 vrrpv3 vrid=52 prio=0",
    "ipv6 vrrpv3 vrid=53 prio=0",
    "ipv4 vrrpv2 vrid=54 prio=0 auth=0",
];

/// Usage of the subcommand.
pub const USAGE: &str =
    "cargo xtask vectors [OUT.json]   (root; default tests/data/keepalived-VERSION.json)";

/// Capture and write the vector file; returns the paths written.
pub fn main(args: &[String], root: &Path) -> R<Vec<PathBuf>> {
    frame_capture::require_root("vectors")?;
    let version = keepalived_version()?;
    let out = match args {
        [] => root
            .join("tests/data")
            .join(format!("keepalived-{version}.json")),
        [p] => PathBuf::from(p),
        _ => return Err(USAGE.into()),
    };
    let (frames, pcap) = frame_capture::in_scratch("vectors", capture)?;

    let doc = json!({
        "source": format!(
            "keepalived {version}, captured by `cargo xtask vectors` (xtask/src/vectors.rs) with \
             tcpdump on the peer end of a veth in a network namespace; frames are whole Ethernet \
             frames as the peer saw them, the first of each kind"
        ),
        "keepalived_version": version,
        "interface": { "name": "tva", "mac": MAC, "ipv4": "192.0.2.1/24" },
        "config": CONFIG,
        "frames": frames,
    });
    frame_capture::write_json(&out, &doc)?;
    let pcap_out = out.with_extension("pcap");
    std::fs::write(&pcap_out, pcap).map_err(|e| format!("{}: {e}", pcap_out.display()))?;
    let conf_out = out.with_extension("conf");
    std::fs::write(&conf_out, CONFIG).map_err(|e| format!("{}: {e}", conf_out.display()))?;
    Ok(vec![out, pcap_out, conf_out])
}

/// "2.2.7" from `keepalived --version` (it prints on stderr).
fn keepalived_version() -> R<String> {
    let text = frame_capture::output_of("keepalived", "--version")?;
    text.split_whitespace()
        .find_map(|w| {
            w.strip_prefix('v')
                .filter(|v| v.starts_with(|c: char| c.is_ascii_digit()))
        })
        .map(str::to_string)
        .ok_or_else(|| format!("cannot read the keepalived version from {text:?}"))
}

/// Run keepalived and tcpdump in a lab; the chosen frames and the raw pcap.
fn capture(scratch: &Path) -> R<(Vec<Value>, Vec<u8>)> {
    let mut lab = Lab::new(scratch, "vectors")?;
    let ka = lab.add_ns("ka")?;
    let peer = lab.add_ns("peer")?;
    lab.veth(&ka, "tva", &peer, "tvb")?;
    lab::run(&["ip", "-n", &ka, "link", "set", "tva", "address", MAC])?;
    lab::run(&["ip", "-n", &ka, "addr", "add", "192.0.2.1/24", "dev", "tva"])?;
    lab::run(&[
        "ip",
        "-n",
        &peer,
        "addr",
        "add",
        "192.0.2.2/24",
        "dev",
        "tvb",
    ])?;
    lab::run(&["ip", "-n", &peer, "link", "set", "tvb", "up"])?;

    let tcpdump = frame_capture::start_tcpdump(
        &mut lab,
        &peer,
        "tvb",
        "arp or ip proto 112 or ip6 proto 112 or icmp6",
    )?;
    let pcap = tcpdump.pcap.clone();
    // Bring keepalived's side up only now, so that nothing it sends is missed.
    lab::run(&["ip", "-n", &ka, "link", "set", "tva", "up"])?;

    let d = lab.dir.to_string_lossy().into_owned();
    std::fs::write(lab.dir.join("keepalived.conf"), CONFIG).map_err(|e| e.to_string())?;
    let ka_log = lab.dir.join("keepalived.log");
    let args: Vec<String> = vec![
        "-n".into(),
        "-l".into(),
        "-D".into(),
        "-G".into(),
        "-P".into(),
        "-f".into(),
        format!("{d}/keepalived.conf"),
        "-p".into(),
        format!("{d}/ka.pid"),
        "-r".into(),
        format!("{d}/vrrp.pid"),
        "-c".into(),
        format!("{d}/chk.pid"),
        "-b".into(),
        format!("{d}/bfd.pid"),
    ];
    let keepalived = lab.spawn(
        &ka,
        "keepalived",
        &args,
        &[("TMPDIR", d.clone())],
        Some(&ka_log),
    )?;

    // Every instance becomes MASTER within Master_Down_Interval (at most 3 × 2 s + skew) plus the
    // GARP delay; 30 s is a generous bound on a loaded machine.
    let end = Instant::now() + Duration::from_secs(30);
    loop {
        let seen = frames_of(&std::fs::read(&pcap).unwrap_or_default());
        if RUNNING
            .iter()
            .all(|w| seen.iter().any(|(what, _)| what == w))
        {
            break;
        }
        if Instant::now() >= end {
            return Err(format!(
                "keepalived did not send every frame in 30 s (seen: {:?}); its log:\n{}",
                seen.iter().map(|(w, _)| w.as_str()).collect::<Vec<_>>(),
                std::fs::read_to_string(&ka_log).unwrap_or_default()
            ));
        }
        lab::sleep(Duration::from_millis(200))?;
    }
    // Priority 0 on shutdown from every MASTER instance.
    frame_capture::terminate(&mut lab, keepalived, "keepalived", 10)?;
    let raw = frame_capture::stop_tcpdump(&mut lab, &tcpdump)?;
    let seen = frames_of(&raw);
    let mut frames = Vec::new();
    for want in RUNNING.iter().chain(SHUTDOWN.iter()) {
        let Some((what, frame)) = seen.iter().find(|(w, _)| w == want) else {
            return Err(format!(
                "no {want:?} in the capture (seen: {:?})",
                seen.iter().map(|(w, _)| w.as_str()).collect::<Vec<_>>()
            ));
        };
        frames.push(json!({ "what": what, "frame_hex": frame_capture::hex(frame) }));
    }
    Ok((frames, raw))
}

/// Frames of a pcap file (classic format, Ethernet link type) sent from [`MAC`], each with its
/// description, in capture order. A truncated last record (capture still running) is ignored.
fn frames_of(pcap: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mac = mac_bytes();
    frame_capture::records(pcap)
        .into_iter()
        .filter(|(_, frame)| frame.len() >= 14 && frame[6..12] == mac)
        .filter_map(|(_, frame)| describe(frame).map(|what| (what, frame.to_vec())))
        .collect()
}

fn mac_bytes() -> [u8; 6] {
    let mut m = [0u8; 6];
    for (o, part) in m.iter_mut().zip(MAC.split(':')) {
        *o = u8::from_str_radix(part, 16).unwrap_or(0);
    }
    m
}

/// What a frame is, from fixed offsets (RFC 826 ARP, RFC 791/8200 headers, RFC 3768 §5.1 and
/// RFC 9568 §5.1 VRRP fields, RFC 4861 §4.4 NA); None for anything else.
fn describe(f: &[u8]) -> Option<String> {
    let ethertype = u16::from_be_bytes([f[12], f[13]]);
    let p = &f[14..];
    match ethertype {
        0x0806 if p.len() >= 28 => {
            let op = u16::from_be_bytes([p[6], p[7]]);
            let sender = Ipv4Addr::new(p[14], p[15], p[16], p[17]);
            let target = Ipv4Addr::new(p[24], p[25], p[26], p[27]);
            (op == 1 && sender == target).then(|| format!("arp gratuitous {sender}"))
        }
        0x0800 if p.len() >= 20 && p[9] == 112 => {
            let v = p.get(usize::from(p[0] & 0x0f) * 4..)?;
            vrrp_what("ipv4", v)
        }
        0x86dd if p.len() >= 40 => {
            let body = &p[40..];
            match p[6] {
                112 => vrrp_what("ipv6", body),
                58 if body.len() >= 24 && body[0] == 136 => {
                    let t: [u8; 16] = body[8..24].try_into().ok()?;
                    Some(format!("ipv6 unsolicited NA {}", Ipv6Addr::from(t)))
                }
                _ => None,
            }
        }
        _ => None,
    }
}

fn vrrp_what(family: &str, v: &[u8]) -> Option<String> {
    if v.len() < 8 {
        return None;
    }
    let (version, vrid, prio) = (v[0] >> 4, v[1], v[2]);
    match version {
        2 => Some(format!(
            "{family} vrrpv2 vrid={vrid} prio={prio} auth={}",
            v[4]
        )),
        3 => Some(format!("{family} vrrpv3 vrid={vrid} prio={prio}")),
        _ => None,
    }
}
