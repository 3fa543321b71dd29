//! VRRP timer arithmetic (RFC 9568 §6.1, RFC 3768 §6.1), exact to the nanosecond.
//!
//! Whole-centisecond arithmetic (as FRR does) erases Skew_Time at short intervals, so every Backup
//! would fire at once; here everything is computed in nanoseconds (RFC 9568 §6.1: Skew_Time and Master_Down_Interval).
//!
//! | interval | prio | Skew_Time    | Master_Down_Interval |
//! |----------|------|--------------|----------------------|
//! | 100 cs   | 100  | 609.375 ms   | 3609.375 ms          |
//! | 10 cs    | 150  | 41.40625 ms  | 341.40625 ms         |
//! | 1 cs     | 100  | 6.09375 ms   | 36.09375 ms          |

use core::time::Duration;

use super::Version;

const NANOS_PER_CS: u64 = 10_000_000;
const NANOS_PER_SEC: u64 = 1_000_000_000;

/// `cs` centiseconds as a [`Duration`].
pub fn centiseconds(cs: u16) -> Duration {
    Duration::from_nanos(u64::from(cs) * NANOS_PER_CS)
}

/// Skew_Time for a local `priority`.
///
/// - VRRPv3: `((256 − Priority) × Master_Adver_Interval) / 256`, with `master_adver_interval_cs` the
///   interval learned from the Master (or our own before one is heard).
/// - VRRPv2: `(256 − Priority) / 256` seconds, whatever the interval.
pub fn skew_time(version: Version, priority: u8, master_adver_interval_cs: u16) -> Duration {
    let weight = 256 - u64::from(priority);
    let base = match version {
        Version::V3 => u64::from(master_adver_interval_cs) * NANOS_PER_CS,
        Version::V2 => NANOS_PER_SEC,
    };
    Duration::from_nanos(base * weight / 256)
}

/// Master_Down_Interval: `3 × Master_Adver_Interval + Skew_Time` (v2: the own Advertisement_Interval,
/// which a v2 router never learns).
pub fn master_down_interval(
    version: Version,
    priority: u8,
    master_adver_interval_cs: u16,
) -> Duration {
    centiseconds(master_adver_interval_cs)
        .saturating_mul(3)
        .saturating_add(skew_time(version, priority, master_adver_interval_cs))
}

/// The shortest advertisement interval put on the grid of [`next_on_grid`]: 100 ms.
///
/// A host's aligned adverts arrive together, and the kernel offers each of them to every raw
/// VRRP socket of the interface at once (n² deliveries in one burst, about 0.8 µs each): at
/// 10 ms with 100 instances that is most of the interval's receive work in one go, pushed to
/// ksoftirqd, and the bench saw adverts late past Skew_Time (58 to 101 Backup adverts in 30 s,
/// none with the phases spread) although the CPU halved. At 100 ms and above the burst is a
/// small part of the interval and the bench saw no late advert.
pub const GRID_MIN_INTERVAL: Duration = Duration::from_millis(100);

/// The first whole multiple of `interval`, counted from the clock's zero, strictly after `now`:
/// where a Master's next regular advert goes when [`crate::proto::fsm::Config::align_adverts`]
/// is on (the default).
///
/// RFC 9568 §6.4.1 and §6.4.3 re-arm the Adver_Timer to Advertisement_Interval from each
/// transition, so instances that became Master at different moments each keep their own phase.
/// With one process per instance that means one wake-up per advert per process, each with cold
/// caches. On one shared grid (the daemon's clock is CLOCK_MONOTONIC, one for the whole host
/// and every network namespace on it) all the Masters of a host with the same interval, or
/// with intervals that divide each other, send in the same instant: their processes run back
/// to back while caches are warm, and the Backups they wake on the other router do too
/// (BENCHMARKS.md, "CPU"). The gap to the first aligned advert is at most one interval (never
/// later than the RFC's timer) and may be shorter, once per transition; from then on the
/// schedule advances by whole intervals (S9) and stays on the grid.
///
/// Only for intervals of at least [`GRID_MIN_INTERVAL`].
pub fn next_on_grid(now: Duration, interval: Duration) -> Duration {
    let i = interval.as_nanos();
    if i == 0 {
        return now;
    }
    let next = (now.as_nanos() / i).saturating_add(1).saturating_mul(i);
    u64::try_from(next).map_or(Duration::MAX, Duration::from_nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_on_grid_is_the_next_whole_multiple_within_one_interval() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        assert_eq!(next_on_grid(ms(3_609), s(1)), s(4));
        assert_eq!(
            next_on_grid(s(4), s(1)),
            s(5),
            "strictly after: on the grid, one interval on"
        );
        assert_eq!(next_on_grid(ms(1), ms(10)), ms(10));
        assert_eq!(next_on_grid(Duration::new(7, 999_999_999), s(1)), s(8));
        assert_eq!(next_on_grid(ms(5), Duration::ZERO), ms(5));
        assert_eq!(next_on_grid(Duration::MAX, s(1)), Duration::MAX);
        for now_ns in [
            0u64,
            1,
            9_999_999,
            10_000_000,
            123_456_789_012,
            40_950_000_001,
        ] {
            for cs in [1u16, 3, 7, 10, 100, 4095] {
                let i = centiseconds(cs);
                let now = Duration::from_nanos(now_ns);
                let g = next_on_grid(now, i);
                assert!(g > now && g <= now + i, "{now:?} {i:?} -> {g:?}");
                assert_eq!(g.as_nanos() % i.as_nanos(), 0);
            }
        }
    }

    #[test]
    fn rfc9568_timer_table() {
        let ms = |x: f64| Duration::from_nanos((x * 1e6).round() as u64);
        let rows: [(u16, u8, f64, f64); 6] = [
            (100, 100, 609.375, 3609.375),
            (100, 150, 414.0625, 3414.0625),
            (10, 100, 60.9375, 360.9375),
            (10, 150, 41.40625, 341.40625),
            (1, 100, 6.09375, 36.09375),
            (1, 150, 4.140625, 34.140625),
        ];
        for (cs, prio, skew, down) in rows {
            assert_eq!(
                skew_time(Version::V3, prio, cs),
                ms(skew),
                "{cs} cs prio {prio}"
            );
            assert_eq!(master_down_interval(Version::V3, prio, cs), ms(down));
        }
        assert_eq!(master_down_interval(Version::V2, 100, 200), ms(6609.375));
    }
}
