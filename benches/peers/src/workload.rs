//! The workloads every engine runs, the payload pool they append and the figures they produce.

use std::time::Duration;

/// Distinct payloads per size; record `i` appends `pool.get(i)`.
const POOL_LEN: usize = 4096;

/// Fixed-seed payloads of one size, cycled through by the appends.
pub struct Pool {
    size: usize,
    payloads: Vec<Vec<u8>>,
}

impl Pool {
    /// `POOL_LEN` payloads of `size` bytes from a fixed-seed generator (splitmix64).
    pub fn new(size: usize, seed: u64) -> Pool {
        let mut rng = SplitMix64(seed);
        let payloads = (0..POOL_LEN)
            .map(|_| {
                let mut payload = vec![0; size];
                for chunk in payload.chunks_mut(8) {
                    let word = rng.next().to_le_bytes();
                    chunk.copy_from_slice(&word[..chunk.len()]);
                }
                payload
            })
            .collect();
        Pool { size, payloads }
    }

    /// Size of every payload, in bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The payload of record `i` (0-based).
    pub fn get(&self, i: usize) -> &[u8] {
        &self.payloads[i % POOL_LEN]
    }

    /// What `touch` sums over the first `n` records: replays check against it.
    pub fn expected_sum(&self, n: usize) -> u64 {
        let per: Vec<u64> = self.payloads.iter().map(|p| touch(p)).collect();
        let full = (n / POOL_LEN) as u64;
        let total: u64 = per.iter().sum::<u64>() * full;
        total + per[..n % POOL_LEN].iter().sum::<u64>()
    }
}

/// Reads every byte of a payload (a byte sum), so a replay cannot skip the data.
#[inline]
pub fn touch(payload: &[u8]) -> u64 {
    payload.iter().map(|&b| u64::from(b)).sum()
}

struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// Record counts of every workload, after `--scale`.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    pub w1_records: usize,
    pub w2_records: usize,
    pub w3_records: usize,
    pub w4_records: usize,
    pub w4_batch: usize,
    pub w6_threads: usize,
    pub w6_per_thread: usize,
    pub w6_single: usize,
    pub w7_bytes: u64,
}

impl Sizes {
    pub fn scaled(scale: f64) -> Sizes {
        let n = |full: usize| ((full as f64 * scale).round() as usize).max(1);
        Sizes {
            w1_records: n(1_000_000),
            w2_records: n(50_000),
            w3_records: n(2_000),
            w4_records: n(200_000).div_ceil(1_000) * 1_000,
            w4_batch: 1_000,
            w6_threads: 8,
            w6_per_thread: n(500),
            w6_single: n(2_000),
            w7_bytes: ((4u64 << 30) as f64 * scale) as u64,
        }
    }
}

/// What a reopen after W1 or W2 measured.
#[derive(Clone, Copy, Debug)]
pub struct Replay {
    /// Time to open (recover) the log; `None` when the engine replays while opening.
    pub open: Option<Duration>,
    /// Time to hand every record over (for engines that replay while opening: open included).
    pub replay: Duration,
}

/// Latencies of durable appends, in nanoseconds, and the wall time of the whole run.
#[derive(Clone, Debug)]
pub struct Durable {
    pub wall: Duration,
    pub latencies: Vec<u64>,
}

impl Durable {
    /// The `q` quantile (0..=1) in microseconds.
    pub fn quantile_us(&self, q: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        let index = ((sorted.len() - 1) as f64 * q).round() as usize;
        sorted[index] as f64 / 1_000.0
    }

    pub fn records_per_sec(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }
}

/// What `append_then_sync` measured.
#[derive(Clone, Copy, Debug)]
pub struct Appended {
    /// The appends alone, before the sync.
    pub appends: Duration,
    /// The appends and the sync.
    pub total: Duration,
}

/// One engine under test. Every method works in a fresh directory `dir` (created empty) and
/// checks what it wrote; panics on any engine error (a benchmark has nobody to report to).
pub trait Engine {
    fn name(&self) -> &'static str;

    /// W1/W2: appends `n` records from `pool`, one sync at the end (timed, and the appends
    /// alone too), then closes the log (not timed).
    fn append_then_sync(&self, dir: &std::path::Path, pool: &Pool, n: usize) -> Appended;

    /// W5: reopens what `append_then_sync` left and hands every record over, touching every
    /// payload byte; asserts the count and the byte sum.
    fn reopen_and_replay(&self, dir: &std::path::Path, pool: &Pool, n: usize) -> Replay;

    /// W3: `n` appends, each durable before the next.
    fn durable_each(&self, dir: &std::path::Path, pool: &Pool, n: usize) -> Durable;

    /// W3s: `n` appends, each followed by the engine's sync call (for an engine whose
    /// per-append durability is a mode of its own, the mode is off here). The same as
    /// `durable_each` for engines without such a mode.
    fn append_then_sync_each(&self, dir: &std::path::Path, pool: &Pool, n: usize) -> Durable {
        self.durable_each(dir, pool, n)
    }

    /// W4: `n` records in batches of `batch`, each batch appended with the engine's batch
    /// call (or one append per record where it has none) and then made durable; the
    /// latency of each batch (append and sync). A reopen then replays the log (W5c).
    fn batches(&self, dir: &std::path::Path, pool: &Pool, n: usize, batch: usize) -> Durable;

    /// W6: `threads` threads each appending `per_thread` records, each durable before the
    /// thread's next. `None` when the engine has no such mode.
    fn concurrent(
        &self,
        dir: &std::path::Path,
        pool: &Pool,
        threads: usize,
        per_thread: usize,
    ) -> Option<Durable>;
}
