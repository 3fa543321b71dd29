//! vrrpd's CARP codec against real ucarp frames (`tests/data/ucarp-*.json`, written by
//! `cargo xtask carp-vectors`): every advert ucarp sent parses, its checksum and HMAC-SHA1 verify
//! with the password and virtual address, and re-encoding its fields gives the same 36 bytes (and
//! the same 70-byte frame).

use std::net::Ipv4Addr;

use serde_json::Value;
use vrrpd::proto::carp::packet::{parse, Advert, Auth};
use vrrpd::proto::carp::{classify, Protocol};
use vrrpd::proto::packet::internet_checksum;

fn load() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ucarp-1.5.2.json");
    let text = std::fs::read_to_string(path).expect("tests/data/ucarp-1.5.2.json");
    serde_json::from_str(&text).expect("json")
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn vip_of(doc: &Value, vhid: u8) -> Ipv4Addr {
    let nodes = doc["nodes"].as_object().expect("nodes");
    nodes
        .values()
        .find(|n| n["vhid"].as_u64() == Some(u64::from(vhid)))
        .and_then(|n| n["vip"].as_str())
        .expect("vip for vhid")
        .parse()
        .expect("ip")
}

#[test]
fn every_ucarp_advert_parses_verifies_and_reencodes() {
    let doc = load();
    let password = doc["password"].as_str().expect("password");
    let frames = doc["frames"].as_array().expect("frames");
    let mut adverts = 0;
    let mut broadcast = 0;
    for f in frames {
        let what = f["what"].as_str().expect("what");
        if !what.starts_with("carp") {
            continue;
        }
        let b = unhex(f["frame_hex"].as_str().expect("hex"));
        assert_eq!(b.len(), 70, "{what}: ucarp sends 70-byte frames");
        let ip = &b[14..34];
        assert_eq!(
            (ip[0], ip[1], ip[8], ip[9]),
            (0x45, 0x10, 255, 112),
            "{what}"
        );
        assert_eq!(&ip[6..8], &[0x40, 0], "{what}: DF");
        assert_eq!(internet_checksum(&[ip]), 0, "{what}: IP header checksum");
        assert_eq!(
            &ip[16..20],
            &[224, 0, 0, 18],
            "{what}: group even with --nomcast"
        );
        let payload = &b[34..];
        assert_eq!(classify(payload), Protocol::Carp, "{what}");
        let adv = parse(payload).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(
            &b[6..12],
            &[0, 0, 0x5e, 0, 0, adv.vhid],
            "{what}: source MAC"
        );
        if b[0..6] == [0xff; 6] {
            broadcast += 1;
        } else {
            assert_eq!(&b[0..6], &[1, 0, 0x5e, 0, 0, 0x12], "{what}");
        }
        let auth = Auth::new(password.as_bytes(), vip_of(&doc, adv.vhid)).expect("password");
        assert!(adv.verify(&auth), "{what}: HMAC");
        let again = Advert::new(adv.vhid, adv.advbase, adv.advskew, adv.counter).to_bytes(&auth);
        assert_eq!(&again[..], payload, "{what}: byte-exact re-encode");
        let wrong = Auth::new(b"Secret", vip_of(&doc, adv.vhid)).expect("password");
        assert!(!adv.verify(&wrong), "{what}: another password must fail");
        adverts += 1;
    }
    assert!(adverts >= 20, "only {adverts} adverts in the file");
    assert!(broadcast >= 3, "only {broadcast} --nomcast adverts");
}

#[test]
fn ucarp_counters_chain_once_a_peer_was_heard() {
    // After B hears A (and A hears B), each advert sends the last accepted counter + 1, across
    // masters; vrrpd's replay window relies on honest nodes never repeating one.
    let doc = load();
    let mut seen = std::collections::HashSet::new();
    for f in doc["frames"].as_array().expect("frames") {
        let what = f["what"].as_str().expect("what");
        if let Some(c) = what.split("counter=").nth(1) {
            let c = c.split_whitespace().next().expect("counter");
            assert!(seen.insert(c.to_string()), "counter {c} repeated");
        }
    }
}

#[test]
fn ucarp_scripts_get_ifname_vip_xparam() {
    let doc = load();
    let calls: Vec<&str> = doc["hook_calls"]
        .as_array()
        .expect("hooks")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(calls.contains(&"up eth0 192.0.2.254 nodeA"), "{calls:?}");
    assert!(calls.contains(&"down eth0 192.0.2.254 nodeB"), "{calls:?}");
}

#[test]
fn every_ucarp_advert_frame_rebuilds_byte_for_byte() {
    // vrrpd's whole advert frame (Ethernet source 00:00:5e:00:00:{vhid}, group or broadcast
    // destination, ucarp's IPv4 header) equals ucarp's, given its IP identification.
    let doc = load();
    let mut n = 0;
    for f in doc["frames"].as_array().expect("frames") {
        let what = f["what"].as_str().expect("what");
        if !what.starts_with("carp") {
            continue;
        }
        let b = unhex(f["frame_hex"].as_str().expect("hex"));
        let payload: [u8; 36] = b[34..70].try_into().expect("36 bytes");
        let src = Ipv4Addr::new(b[26], b[27], b[28], b[29]);
        let id = u16::from_be_bytes([b[18], b[19]]);
        let broadcast = b[0..6] == [0xff; 6];
        let built =
            vrrpd::proto::carp::frame::build_frame(payload[1], src, &payload, id, broadcast);
        assert_eq!(&built[..], &b[..], "{what}");
        n += 1;
    }
    assert!(n >= 20, "only {n} adverts");
}
