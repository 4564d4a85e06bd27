//! What a running log counts and times, for an operator's graphs (`Log::metrics`).
//!
//! The append path only adds to plain counters that live with the writer, under the lock it
//! already holds; flushes and seals, which take a system call each, record their latency in
//! lock-free histograms.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A snapshot of a log's counters and latencies since it was opened ([`crate::Log::metrics`]).
/// Counters only grow while the log is open; take two snapshots and subtract for rates.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct LogMetrics {
    /// Records appended (single records and the records of batches).
    pub records_appended: u64,
    /// Payload bytes appended.
    pub bytes_appended: u64,
    /// `append_batch` calls that appended at least one record.
    pub batches: u64,
    /// Flushes that made records durable: one per group commit, however many callers of
    /// `sync` (or `EveryAppend` appends) it served.
    pub flushes: Latencies,
    /// Rotations: a segment sealed (in the background) and a fresh one started.
    pub rotations: u64,
    /// Seals that succeeded (of full segments in the background, and at a truncation or a
    /// close): data flushed, then index and footer written and flushed.
    pub seals: Latencies,
    /// Rotations that waited for a segment (an append's or `rotate_now`'s): the next one was
    /// not prepared yet, or earlier seals still ran (the disk is slower than the appends).
    pub segment_waits: u64,
    /// Time those appends waited in all.
    pub segment_wait_time: Duration,
    /// How long opening took (recovery included).
    pub open_time: Duration,
    /// True once a failed flush has poisoned the log.
    pub poisoned: bool,
}

/// A latency distribution: how many, and the quantiles an operator graphs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Latencies {
    /// How many were timed.
    pub count: u64,
    /// The median (within 1/8 of the true value: histogram buckets).
    pub p50: Duration,
    /// The 99th percentile (within 1/8).
    pub p99: Duration,
    /// The longest, exactly.
    pub max: Duration,
    /// All of them together.
    pub total: Duration,
}

/// Sub-buckets per power of two: quantiles come within 1/`SUB` of the true value.
const SUB: u64 = 8;
const SUB_BITS: u32 = SUB.trailing_zeros();
/// Buckets for every duration up to 2^64 ns.
const BUCKETS: usize = 64 * SUB as usize;

/// A log-linear histogram of durations in nanoseconds, recorded without a lock.
#[derive(Debug)]
pub(crate) struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    total: AtomicU64,
    max: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            total: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }
}

/// The bucket of `ns`: exact below `SUB`, then `SUB` buckets per power of two.
fn bucket(ns: u64) -> usize {
    if ns < SUB {
        return ns as usize;
    }
    let power = ns.ilog2();
    let offset = (ns >> (power - SUB_BITS)) & (SUB - 1);
    ((u64::from(power - SUB_BITS + 1) * SUB) + offset) as usize
}

/// The lowest duration of bucket `index` (the inverse of `bucket`).
fn lowest(index: usize) -> u64 {
    let index = index as u64;
    if index < SUB {
        return index;
    }
    let power = index / SUB - 1 + u64::from(SUB_BITS);
    let offset = index % SUB;
    (1 << power) | (offset << (power - u64::from(SUB_BITS)))
}

impl Histogram {
    /// Records one duration.
    pub(crate) fn record(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket(ns)].fetch_add(1, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.total.fetch_add(ns, Ordering::Relaxed);
        self.max.fetch_max(ns, Ordering::Relaxed);
    }

    /// The distribution so far.
    pub(crate) fn snapshot(&self) -> Latencies {
        let counts: Vec<u64> = self
            .buckets
            .iter()
            .map(|b| b.load(Ordering::Relaxed))
            .collect();
        let count: u64 = counts.iter().sum();
        let max = self.max.load(Ordering::Relaxed);
        // `per_mille`: the quantile in thousandths.
        let quantile = |per_mille: u64| {
            if count == 0 {
                return Duration::ZERO;
            }
            // The rank of the quantile, 1-based: the smallest value with q of them at or
            // below it.
            let rank = (count * per_mille).div_ceil(1000).clamp(1, count);
            let mut seen = 0;
            for (index, n) in counts.iter().enumerate() {
                seen += n;
                if seen >= rank {
                    return Duration::from_nanos(lowest(index).min(max));
                }
            }
            Duration::from_nanos(max)
        };
        Latencies {
            count,
            p50: quantile(500),
            p99: quantile(990),
            max: Duration::from_nanos(max),
            total: Duration::from_nanos(self.total.load(Ordering::Relaxed)),
        }
    }
}

/// The writer's counters: plain integers, changed only under the writer's lock.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct WriterCounts {
    pub(crate) records: u64,
    pub(crate) bytes: u64,
    pub(crate) batches: u64,
    pub(crate) rotations: u64,
    pub(crate) segment_waits: u64,
    pub(crate) segment_wait_time: Duration,
}

/// What the log times outside the writer's lock.
#[derive(Debug, Default)]
pub(crate) struct Timings {
    pub(crate) flushes: Histogram,
    pub(crate) seals: Histogram,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_invert_and_stay_within_an_eighth() {
        let powers = (1..64).map(|p| 1u64 << p).flat_map(|v| [v - 1, v, v + 1]);
        for ns in (0..10_000).chain(powers).chain([u64::MAX]) {
            let index = bucket(ns);
            let low = lowest(index);
            assert!(index < BUCKETS, "{ns}");
            assert!(low <= ns, "{ns}: bucket {index} starts at {low}");
            assert!(ns - low <= ns / SUB, "{ns}: bucket {index} starts at {low}");
            assert_eq!(bucket(low), index, "{ns}");
        }
        for ns in 1..10_000 {
            assert!(bucket(ns) >= bucket(ns - 1), "buckets grow with the value");
        }
    }

    #[test]
    fn quantiles_of_a_known_distribution() {
        let histogram = Histogram::default();
        assert_eq!(histogram.snapshot(), Latencies::default());
        for us in 1..=100 {
            histogram.record(Duration::from_micros(us));
        }
        let latencies = histogram.snapshot();
        assert_eq!(latencies.count, 100);
        assert_eq!(latencies.max, Duration::from_micros(100));
        assert_eq!(latencies.total, Duration::from_micros(5050));
        let near = |d: Duration, us: u64| {
            let ns = d.as_nanos() as u64;
            ns <= us * 1000 && us * 1000 - ns <= us * 1000 / SUB
        };
        assert!(near(latencies.p50, 50), "{:?}", latencies.p50);
        assert!(near(latencies.p99, 99), "{:?}", latencies.p99);
    }
}
