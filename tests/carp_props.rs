//! CARP codec and election properties: nothing panics on network input, emit/parse round-trips,
//! and a VRRP instance never acts on a CARP advert (nor a CARP instance on VRRP's).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use proptest::prelude::*;
use vrrpd::proto::carp::election::{self, Instance as CarpInstance};
use vrrpd::proto::carp::packet::{parse, Advert, Auth, Header, HEADER_LEN};
use vrrpd::proto::carp::{classify, Protocol};
use vrrpd::proto::fsm::{Action, Config, Event, Instance, Notice, State};
use vrrpd::proto::{DiscardReason, Family, Version};

const VIP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);

fn auth() -> Auth {
    Auth::new(b"secret", VIP).expect("password")
}

proptest! {
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = parse(&bytes);
        let h = Header::new_unchecked(&bytes[..]);
        let _ = (h.version(), h.vhid(), h.counter(), h.md(), h.verify_checksum());
        let _ = classify(&bytes);
    }

    #[test]
    fn emit_parse_round_trip(vhid in 1u8.., advbase: u8, advskew: u8, counter: u64) {
        let a = auth();
        let bytes = Advert::new(vhid, advbase, advskew, counter).to_bytes(&a);
        prop_assert_eq!(classify(&bytes), Protocol::Carp);
        let back = parse(&bytes).expect("valid");
        prop_assert_eq!((back.vhid, back.advbase, back.advskew, back.counter),
                        (vhid, advbase, advskew, counter));
        prop_assert!(back.verify(&a));
        prop_assert_eq!(back.to_bytes(&a), bytes);
    }

    #[test]
    fn election_never_panics(
        payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..48), 0..20),
        ttl: u8,
        steps in proptest::collection::vec(0u64..5000, 0..20),
    ) {
        let mut c = election::Config::new(7, auth());
        c.advskew = 50;
        let mut i = CarpInstance::new(c);
        let me = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
        let peer = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
        let mut now = Duration::ZERO;
        i.handle(now, election::Event::PrimaryAddress(Some(me)));
        i.handle(now, election::Event::Startup);
        for (k, p) in payloads.iter().enumerate() {
            now += Duration::from_millis(steps.get(k).copied().unwrap_or(10));
            i.handle(now, election::Event::Packet { src: peer, ttl, payload: p });
            if let Some(d) = i.next_deadline() {
                if d <= now {
                    i.handle(now, election::Event::Timeout);
                }
            }
        }
    }
}

#[test]
fn vrrp_instance_counts_carp_as_foreign() {
    let me = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let peer = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2));
    let mut i = Instance::new(Config::new(
        Version::V2,
        Family::V4,
        7,
        vec![IpAddr::V4(VIP)],
    ));
    i.handle(Duration::ZERO, Event::PrimaryAddress(Some(me)));
    i.handle(Duration::ZERO, Event::Startup);
    assert_eq!(i.state(), State::Backup);
    let armed = i.next_deadline();
    // A CARP advert with advskew 0 would read as a VRRPv2 priority-0 advert (S5) if parsed as VRRP.
    let bytes = Advert::new(7, 1, 0, 1).to_bytes(&auth());
    assert_eq!(bytes.len(), HEADER_LEN);
    let out = i.handle(
        Duration::from_millis(100),
        Event::Packet {
            src: peer,
            dst: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
            ttl: 255,
            ip_options: false,
            payload: &bytes,
        },
    );
    assert_eq!(out, vec![Action::Notice(Notice::ForeignSameId { peer })]);
    assert_eq!(i.counters().discards(DiscardReason::Foreign), 1);
    assert_eq!(i.counters().discards(DiscardReason::BadLength), 0);
    assert_eq!(i.next_deadline(), armed);
    // Another vhid: counted, silent.
    let bytes = Advert::new(8, 1, 0, 1).to_bytes(&auth());
    let out = i.handle(
        Duration::from_millis(200),
        Event::Packet {
            src: peer,
            dst: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
            ttl: 255,
            ip_options: false,
            payload: &bytes,
        },
    );
    assert!(out.is_empty());
    assert_eq!(i.counters().discards(DiscardReason::Foreign), 2);
}
