//! Loss soak (issue 13, Faults): a vrrpd pair and a keepalived pair side by side for 60 s on one
//! segment with 5 % loss and 10 ms jitter at a 100 ms advert interval; vrrpd flaps no more than
//! keepalived.
//!
//! netem is what the issue names, but **this kernel has no `sch_netem`**: the segment is
//! `common::impair`'s user-space hub instead (each frame, per output port, dropped with
//! probability 5 % or delayed by a uniform 0-20 ms, as `netem loss 5% delay 10ms 10ms` would).

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::impair::{Flow, Flows, Impair, Impairment};
use common::*;

const INTERVAL: Duration = Duration::from_millis(100);

/// Env override (a number), or `default`.
fn env_num(name: &str, default: f64) -> f64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What one pair's backup saw on its wire during the window.
#[derive(Debug, Default, PartialEq)]
struct Figures {
    /// Adverts of the master (priority > 0) that reached the backup.
    master_adverts: usize,
    /// Adverts the backup sent.
    backup_adverts: usize,
    /// Times the backup began advertising (a run of its adverts separated from the previous one
    /// by more than 3 intervals): one flap = Backup -> Master -> Backup, two transitions.
    flaps: usize,
    /// Of them, after the master had been silent on the backup's wire for at least
    /// Master_Down_Interval (less `MARGIN`): the takeovers RFC 9568 §6.4.2 requires.
    forced: usize,
    /// The longest silence of the master on the backup's wire.
    longest_gap: Duration,
}

impl Figures {
    /// Flaps the wire did not force: the backup took over while the master was still within
    /// Master_Down_Interval.
    fn unforced(&self) -> usize {
        self.flaps - self.forced
    }
}

/// Capture stamps and timer expiries differ by scheduling only, never by more than this.
const MARGIN: Duration = Duration::from_millis(10);

/// Count a pair's flaps from the frames captured on its backup's `eth0`.
fn analyse(seen: &[Seen], vrid: u8, master: IpAddr, backup: IpAddr, mdi: Duration) -> Figures {
    let mut f = Figures::default();
    let mut last_master: Option<Duration> = None;
    let mut last_backup: Option<Duration> = None;
    for s in seen.iter().filter(|s| s.payload.get(1) == Some(&vrid)) {
        if s.src == master && prio(s) > 0 {
            if let Some(m) = last_master {
                f.longest_gap = f.longest_gap.max(s.at.saturating_sub(m));
            }
            f.master_adverts += 1;
            last_master = Some(s.at);
        } else if s.src == backup {
            f.backup_adverts += 1;
            if last_backup.is_none_or(|b| s.at.saturating_sub(b) > INTERVAL * 3) {
                f.flaps += 1;
                // Silent since the last advert heard, or since the window opened (the pair
                // had settled before it, the master advertising).
                let silence = s.at.saturating_sub(last_master.unwrap_or(Duration::ZERO));
                if silence + MARGIN >= mdi {
                    f.forced += 1;
                }
            }
            last_backup = Some(s.at);
        }
    }
    f
}

/// The hub's figures for `key` now, less those at `before` (counts only; delays over the run).
fn delta(now: &Flows, before: &Flows, key: (usize, usize, u8)) -> Flow {
    let n = now.get(&key).cloned().unwrap_or_default();
    let b = before.get(&key).cloned().unwrap_or_default();
    Flow {
        offered: n.offered - b.offered,
        dropped: n.dropped - b.dropped,
        ..n
    }
}

/// A vrrpd pair (VRID 51: r1 at 200, r2 at 100) and a keepalived pair (VRID 52: k1 at 200, k2 at
/// 100), VRRPv3 at 100 ms, all four on one impaired segment (`common::impair`; netem is missing
/// on this kernel), for 60 s (`VRRPD_SOAK_SECS`) of 5 % loss (`VRRPD_SOAK_LOSS`, percent) and
/// 10 ms ± 10 ms delay. Both backups are captured on their own `eth0`; each flap (a backup
/// advertising) is classed as forced (the master silent on that wire for Master_Down_Interval:
/// the RFC makes the backup take over) or not.
///
/// What is fair to assert: with 5 % independent loss a takeover needs 3 adverts lost in a row
/// (the 4th arriving after 300 ms + jitter is still within MDI = 361 ms), p ≈ 1.25e-4 per
/// advert, so each pair expects ≈ 0.07 forced flaps in 60 s and the two raw counts differ by
/// chance (Poisson with a small mean: "vrrpd 1, keepalived 0" happens in about 7 % of runs
/// without any fault). So the test compares what chance does not explain: vrrpd's unforced
/// flaps must not exceed keepalived's (both 0 for a correct implementation, on a loaded machine
/// too: a late master shows up as a longer silence, a late backup only takes over later). The
/// raw flaps, adverts, loss and delay actually applied are printed for the closing note.
///
/// `VRRPD_SOAK_VRRPD_RX_DROP=40` makes the test fail on purpose: an nftables rule in vrrpd's
/// backup drops that percentage of the VRRP packets after the capture saw them (the packet tap
/// is before the input hook), as a daemon that loses adverts it was given would: its takeovers
/// come after silences shorter than Master_Down_Interval on the wire, counted as unforced.
#[test]
fn loss_soak_beside_keepalived() {
    const TEST: &str = "loss_soak_beside_keepalived";
    if !require_root(TEST) {
        return;
    }
    if std::process::Command::new("keepalived")
        .arg("--version")
        .output()
        .is_err()
    {
        skip(
            TEST,
            "keepalived is not installed (scripts/test installs it)",
        );
        return;
    }
    let secs = env_num("VRRPD_SOAK_SECS", 60.0);
    let loss = env_num("VRRPD_SOAK_LOSS", 5.0) / 100.0;
    let rx_drop = env_num("VRRPD_SOAK_VRRPD_RX_DROP", 0.0) as u32;
    let seed = std::env::var("VRRPD_SOAK_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    let imp = Impairment {
        loss,
        base: Duration::from_millis(10),
        jitter: Duration::from_millis(10),
        seed,
    };

    let mut lab = Lab::new(&["r1", "r2", "k1", "k2"]);
    let [r1, r2, k1, k2] = lab.ns_names::<4>();
    let hub = Impair::start(&lab, imp);
    let ip = |i: usize| -> IpAddr { lab.host(i).v4.parse().unwrap() };
    let (r1_ip, r2_ip, k1_ip, k2_ip) = (ip(0), ip(1), ip(2), ip(3));

    let run = lab.dir.join("run").to_string_lossy().into_owned();
    let vrrpd = |lab: &mut Lab, ns: &str, tag: &str, prio: u8| {
        let line = format!("--foreground -i eth0 -v 51 -p {prio} -d 100ms -n 192.0.2.251/24");
        let args: Vec<&str> = line.split_whitespace().collect();
        lab.spawn(
            ns,
            tag,
            env!("CARGO_BIN_EXE_vrrpd"),
            &args,
            &[("VRRPD_RUN_DIR", &run)],
        )
    };
    let va = vrrpd(&mut lab, &r1, "r1", 200);
    let vb = vrrpd(&mut lab, &r2, "r2", 100);
    if rx_drop > 0 {
        for cmd in [
            "add table inet soak".to_string(),
            "add chain inet soak in { type filter hook input priority 0 ; }".to_string(),
            format!("add rule inet soak in ip protocol 112 numgen random mod 100 < {rx_drop} drop"),
        ] {
            let mut args = vec!["ip", "netns", "exec", &r2, "nft"];
            args.extend(cmd.split_whitespace());
            sh(&args);
        }
    }
    let ka_a = lab.keepalived(
        &k1,
        "k1",
        &peers::KaInstance::new(52, 3, 200, "0.1", &["192.0.2.252/24"]).render(),
    );
    let ka_b = lab.keepalived(
        &k2,
        "k2",
        &peers::KaInstance::new(52, 3, 100, "0.1", &["192.0.2.252/24"]).render(),
    );
    let limit = Duration::from_secs(15);
    let logs = |what: &str| {
        format!(
            "{what}\n--- r1\n{}\n--- r2\n{}\n--- k1\n{}\n--- k2\n{}",
            va.log_text(),
            vb.log_text(),
            ka_a.log(),
            ka_b.log()
        )
    };
    assert!(
        wait_for(limit, || lab.state(&r1, 51).as_deref() == Some("MASTER")).is_some()
            && wait_for(limit, || lab.state(&r2, 51).as_deref() == Some("BACKUP")).is_some(),
        "{}",
        logs("the vrrpd pair did not settle")
    );
    assert!(
        ka_a.wait_state("VI", "MASTER", limit) && ka_b.wait_state("VI", "BACKUP", limit),
        "{}",
        logs("the keepalived pair did not settle")
    );
    // Past start-up (the keepalived backup's own start, gratuitous ARPs).
    std::thread::sleep(Duration::from_secs(2));

    let before = hub.flows();
    let cap_v = Capture::start(&r2, "eth0");
    let cap_k = Capture::start(&k2, "eth0");
    std::thread::sleep(Duration::from_secs_f64(secs));
    let (seen_v, seen_k) = (cap_v.finish(), cap_k.finish());
    let now = hub.finish();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    assert!(
        alive(&va) && alive(&vb),
        "{}",
        logs("a vrrpd died during the soak")
    );

    let mdi = rfc_master_down(3, 10, 100);
    let fv = analyse(&seen_v, 51, r1_ip, r2_ip, mdi);
    let fk = analyse(&seen_k, 52, k1_ip, k2_ip, mdi);
    let (lv, lk) = (
        delta(&now, &before, (0, 1, 51)),
        delta(&now, &before, (2, 3, 52)),
    );
    let pair = |name: &str, f: &Figures, l: &Flow| {
        format!(
            "  {name}: {} flaps ({} forced by a master silence >= MDI {} ms, {} not), {} master \
             adverts reached the backup ({} sent towards it, {:.2} % dropped), {} backup adverts, \
             longest master silence {} ms; delay applied mean {:.1} ms, max {:.1} ms\n",
            f.flaps,
            f.forced,
            mdi.as_millis(),
            f.unforced(),
            f.master_adverts,
            l.offered,
            l.loss_pct(),
            f.backup_adverts,
            f.longest_gap.as_millis(),
            l.delay_mean().as_secs_f64() * 1e3,
            l.delay_max.as_secs_f64() * 1e3,
        )
    };
    let report = format!(
        "\nSOAK: {secs} s, VRRPv3 at 100 ms, loss {:.1} %, delay 10 ms ± 10 ms uniform (user-space \
         hub: no sch_netem), seed {seed}, load average {}\n{}{}",
        loss * 100.0,
        load.split_whitespace().take(3).collect::<Vec<_>>().join(" "),
        pair("vrrpd     ", &fv, &lv),
        pair("keepalived", &fk, &lk),
    );
    {
        use std::io::Write;
        let _ = std::io::stderr().lock().write_all(report.as_bytes());
    }
    // The soak ran: both masters reached their backups through the hub (within 20 % of what the
    // loss leaves).
    let expected = (secs * 1000.0 / INTERVAL.as_millis() as f64) as usize;
    for (name, f) in [("vrrpd", &fv), ("keepalived", &fk)] {
        assert!(
            f.master_adverts as f64 >= expected as f64 * (1.0 - loss) * 0.8,
            "{name}: {} master adverts in {secs} s, expected about {expected} less the loss{report}\n{}",
            f.master_adverts,
            logs("")
        );
    }
    assert!(
        fv.unforced() <= fk.unforced(),
        "vrrpd's backup took over {} times while the master was within Master_Down_Interval \
         (keepalived's: {}){report}\n{}",
        fv.unforced(),
        fk.unforced(),
        logs("")
    );
}

/// The flap count and its classes, on made-up captures (no root needed).
#[test]
fn soak_analysis_counts_flaps_and_forced_takeovers() {
    let (m, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
    let ms = Duration::from_millis;
    let adv = |at: u64, src: IpAddr, prio: u8| Seen {
        at: ms(at),
        src,
        dst: "224.0.0.18".parse().unwrap(),
        ttl: 255,
        mac: [0; 6],
        payload: vec![0x31, 51, prio, 1, 0, 10, 0, 0],
    };
    let mdi = rfc_master_down(3, 10, 100);
    let mut seen: Vec<Seen> = (0..10).map(|i| adv(i * 100, m, 200)).collect();
    // 4 lost (silence 500 ms): the backup takes over at 900 + 361 ms, forced.
    seen.push(adv(1261, b, 100));
    seen.push(adv(1400, m, 200));
    // The backup advertises 250 ms after the master: unforced.
    seen.push(adv(1650, b, 100));
    seen.push(adv(1700, m, 200));
    // Another VRID is not this pair's.
    let mut other = adv(1750, b, 100);
    other.payload[1] = 52;
    seen.push(other);
    let f = analyse(&seen, 51, m, b, mdi);
    assert_eq!(
        f,
        Figures {
            master_adverts: 12,
            backup_adverts: 2,
            flaps: 2,
            forced: 1,
            longest_gap: ms(500),
        }
    );
    assert_eq!(f.unforced(), 1);
}
