//! Real keepalived 2.2.7 frames (`tests/data/keepalived-2.2.7.json`, captured by
//! `cargo xtask vectors`): every VRRP frame parses, matches its description and the capture's
//! keepalived configuration, and re-encodes to the same bytes (RFC 3768 §5, RFC 9568 §5; the
//! VRRPv3-over-IPv4 checksum forms of RFC 9568 §5.2.8).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vrrpd::proto::packet::{parse, Auth, IP_PROTOCOL};
use vrrpd::proto::{ChecksumForm, Version};

const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/keepalived-2.2.7.json"
);

fn load() -> serde_json::Value {
    let text = std::fs::read_to_string(VECTORS).unwrap_or_else(|e| {
        panic!("cannot read the test vectors at {VECTORS}: {e}; they are committed (regenerate with `cargo xtask vectors`)")
    });
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{VECTORS} is not valid JSON: {e}"))
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd-length hex");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
        .collect()
}

/// One `vrrp_instance` of the keepalived configuration.
#[derive(Debug, Default)]
struct Instance {
    version: u8,
    priority: u8,
    advert_int: f64,
    auth_pass: Option<String>,
    vips: Vec<IpAddr>,
}

/// A deliberately small reader for the keepalived configuration in the vector file.
fn instances(config: &str) -> BTreeMap<u8, Instance> {
    let mut out = BTreeMap::new();
    for block in config.split("vrrp_instance").skip(1) {
        let mut inst = Instance {
            version: 2,
            ..Instance::default()
        };
        let mut vrid = None;
        let mut in_vips = false;
        for line in block.lines().map(str::trim) {
            if in_vips {
                if line == "}" {
                    in_vips = false;
                } else {
                    let addr = line.split('/').next().expect("address");
                    inst.vips.push(addr.parse().expect("virtual_ipaddress"));
                }
                continue;
            }
            let mut words = line.split_whitespace();
            match (words.next(), words.next()) {
                (Some("virtual_router_id"), Some(v)) => vrid = Some(v.parse::<u8>().expect("vrid")),
                (Some("priority"), Some(v)) => inst.priority = v.parse().expect("priority"),
                (Some("advert_int"), Some(v)) => inst.advert_int = v.parse().expect("advert_int"),
                (Some("version"), Some(v)) => inst.version = v.parse().expect("version"),
                (Some("auth_pass"), Some(v)) => inst.auth_pass = Some(v.to_string()),
                (Some("virtual_ipaddress"), Some("{")) => in_vips = true,
                _ => {}
            }
        }
        out.insert(vrid.expect("instance without virtual_router_id"), inst);
    }
    out
}

/// `key=value` from a frame's `what`, e.g. `vrid=52`.
fn what_field(what: &str, key: &str) -> Option<u8> {
    what.split_whitespace()
        .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
        .map(|v| v.parse().expect("numeric field in `what`"))
}

/// The IP layer of a frame: source, destination, TTL / hop limit, VRRP bytes.
fn strip_ip(frame: &[u8], ipv6: bool) -> (IpAddr, IpAddr, u8, &[u8]) {
    let ethertype = u16::from_be_bytes([frame[12], frame[13]]);
    let ip = &frame[14..];
    if ipv6 {
        assert_eq!(ethertype, 0x86dd, "IPv6 ethertype");
        assert_eq!(ip[0] >> 4, 6);
        assert_eq!(
            ip[6], IP_PROTOCOL,
            "next header 112 (no extension headers expected)"
        );
        let payload_len = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
        let src: [u8; 16] = ip[8..24].try_into().unwrap();
        let dst: [u8; 16] = ip[24..40].try_into().unwrap();
        (
            Ipv6Addr::from(src).into(),
            Ipv6Addr::from(dst).into(),
            ip[7],
            &ip[40..40 + payload_len],
        )
    } else {
        assert_eq!(ethertype, 0x0800, "IPv4 ethertype");
        assert_eq!(ip[0] >> 4, 4);
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        assert_eq!(ip[9], IP_PROTOCOL, "protocol 112");
        let src: [u8; 4] = ip[12..16].try_into().unwrap();
        let dst: [u8; 4] = ip[16..20].try_into().unwrap();
        (
            Ipv4Addr::from(src).into(),
            Ipv4Addr::from(dst).into(),
            ip[8],
            &ip[ihl..total],
        )
    }
}

#[test]
fn keepalived_frames_parse_and_reencode_exactly() {
    let doc = load();
    let config = instances(doc["config"].as_str().expect("config string"));
    assert_eq!(
        config.len(),
        4,
        "four vrrp_instance blocks in the capture config"
    );
    let frames = doc["frames"].as_array().expect("frames array");

    let mut checked = 0;
    for f in frames {
        let what = f["what"].as_str().expect("what");
        let ipv6 = if what.starts_with("ipv4 vrrp") {
            false
        } else if what.starts_with("ipv6 vrrp") {
            true
        } else {
            continue;
        };
        let frame = unhex(f["frame_hex"].as_str().expect("frame_hex"));
        let (src, dst, ttl, vrrp) = strip_ip(&frame, ipv6);

        // RFC 3768 §5.2.3, RFC 9568 §5.1.1.3 / §5.1.2.3: TTL / hop limit 255.
        assert_eq!(ttl, 255, "{what}: TTL/hop limit");

        let parsed =
            parse(vrrp, src, dst).unwrap_or_else(|e| panic!("{what}: parse failed: {e:?}"));
        let a = &parsed.advert;

        let vrid = what_field(what, "vrid").expect("vrid in what");
        let prio = what_field(what, "prio").expect("prio in what");
        assert_eq!(a.vrid, vrid, "{what}");
        assert_eq!(a.priority, prio, "{what}");
        let version = if what.contains("vrrpv3") {
            Version::V3
        } else {
            Version::V2
        };
        assert_eq!(a.version, version, "{what}");

        let inst = config
            .get(&vrid)
            .unwrap_or_else(|| panic!("{what}: VRID not in config"));
        assert_eq!(inst.version, version.number(), "{what}: config version");
        assert_eq!(a.addrs, inst.vips, "{what}: addresses as configured");
        if prio != 0 {
            assert_eq!(a.priority, inst.priority, "{what}: configured priority");
        }
        match version {
            // advert_int is in seconds; v3 carries centiseconds.
            Version::V3 => assert_eq!(
                f64::from(a.interval),
                (inst.advert_int * 100.0).round(),
                "{what}"
            ),
            Version::V2 => assert_eq!(f64::from(a.interval), inst.advert_int, "{what}"),
        }

        match what_field(what, "auth") {
            Some(0) => assert_eq!(a.auth, Auth::None, "{what}"),
            Some(1) => {
                let pass = inst.auth_pass.as_deref().expect("auth_pass in config");
                assert_eq!(a.auth, Auth::password(pass.as_bytes()).unwrap(), "{what}");
            }
            Some(other) => panic!("{what}: unexpected auth={other}"),
            None => assert_eq!(a.auth, Auth::None, "{what}"),
        }

        // keepalived 2.2.7 sends the pseudo-header form for v3 over IPv4 (RFC 9568 §5.2.8).
        let expected_form = match (version, ipv6) {
            (Version::V3, false) => Some(ChecksumForm::Pseudo),
            _ => None,
        };
        assert_eq!(parsed.checksum_form, expected_form, "{what}");

        let form = parsed.checksum_form.unwrap_or(ChecksumForm::Pseudo);
        let again = a
            .to_bytes(src, dst, form)
            .unwrap_or_else(|e| panic!("{what}: emit failed: {e:?}"));
        assert_eq!(again, vrrp, "{what}: re-encoded bytes differ");

        checked += 1;
    }
    assert!(
        checked >= 8,
        "expected at least 8 VRRP frames, checked {checked}"
    );
}

/// RFC 9568 §5.2.8: the v3 IPv4 frames also verify when re-sent in the plain form, which then
/// differs from the captured bytes only in the checksum field.
#[test]
fn keepalived_v3_ipv4_frames_in_plain_form() {
    let doc = load();
    let mut checked = 0;
    for f in doc["frames"].as_array().expect("frames array") {
        let what = f["what"].as_str().expect("what");
        if !what.starts_with("ipv4 vrrpv3") {
            continue;
        }
        let frame = unhex(f["frame_hex"].as_str().expect("frame_hex"));
        let (src, dst, _, vrrp) = strip_ip(&frame, false);
        let parsed = parse(vrrp, src, dst).expect("parse");
        let plain = parsed
            .advert
            .to_bytes(src, dst, ChecksumForm::Plain)
            .expect("emit");
        assert_eq!(plain[..6], vrrp[..6], "{what}");
        assert_eq!(plain[8..], vrrp[8..], "{what}");
        assert_ne!(plain[6..8], vrrp[6..8], "{what}");
        let reparsed = parse(&plain, src, dst).expect("plain form parses");
        assert_eq!(reparsed.checksum_form, Some(ChecksumForm::Plain));
        assert_eq!(reparsed.advert, parsed.advert);
        checked += 1;
    }
    assert!(
        checked >= 2,
        "expected the two v3 IPv4 frames, checked {checked}"
    );
}

/// Every VRRP frame corrupted in any single bit is rejected (RFC 1071 detects all single-bit
/// errors; flips of the count or version fail the length or version checks first).
#[test]
fn keepalived_frames_single_bit_flips_rejected() {
    let doc = load();
    let mut checked = 0;
    for f in doc["frames"].as_array().expect("frames array") {
        let what = f["what"].as_str().expect("what");
        let ipv6 = what.starts_with("ipv6 vrrp");
        if !(ipv6 || what.starts_with("ipv4 vrrp")) {
            continue;
        }
        let frame = unhex(f["frame_hex"].as_str().expect("frame_hex"));
        let (src, dst, _, vrrp) = strip_ip(&frame, ipv6);
        let original = parse(vrrp, src, dst).expect("parse");
        for byte in 0..vrrp.len() {
            for bit in 0..8 {
                let mut b = vrrp.to_vec();
                b[byte] ^= 1 << bit;
                // Flipping a bit may change the count (BadLength) or version (BadVersion); what
                // matters is that it never parses as valid.
                if let Ok(p) = parse(&b, src, dst) {
                    panic!("{what}: flip byte {byte} bit {bit} accepted: {p:?} (was {original:?})");
                }
            }
        }
        checked += 1;
    }
    assert!(checked >= 8, "checked {checked}");
}

/// The repository stands on its own: no source, test or task reads a file outside it (the
/// vectors above are captured into `tests/data/` by `cargo xtask vectors`).
#[test]
fn nothing_reads_outside_the_repository() {
    let needle = ["..", "/shared"].concat();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stack: Vec<std::path::PathBuf> = ["src", "tests", "xtask/src", "scripts"]
        .iter()
        .map(|d| root.join(d))
        .collect();
    let mut offenders = Vec::new();
    let mut files = 0;
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).expect("read_dir") {
                stack.push(e.expect("dir entry").path());
            }
        } else if let Ok(text) = std::fs::read_to_string(&p) {
            files += 1;
            for (n, line) in text.lines().enumerate() {
                if line.contains(&needle) {
                    offenders.push(format!("{}:{}: {line}", p.display(), n + 1));
                }
            }
        }
    }
    assert!(files > 50, "walked only {files} files");
    assert!(
        offenders.is_empty(),
        "paths outside the repository:\n{}",
        offenders.join("\n")
    );
}
