//! Crash tests: a child process appends to a log and reports each LSN it has made durable; the
//! test kills it with SIGKILL at a random point, reopens the log and checks that every
//! acknowledged record is there with the right bytes, that the log is an exact prefix of what
//! the child would have written (no wrong bytes, no holes, no partial batch), and that
//! appending continues with the next LSN.
//!
//! The child is this same test binary re-executed with `--exact crash_child --ignored`; the
//! environment tells it where to write and how.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use interstice::{Durability, Error, Log, Lsn, Options, RecoveryMode};

const DIR_VAR: &str = "INTERSTICE_CRASH_DIR";
const DURABILITY_VAR: &str = "INTERSTICE_CRASH_DURABILITY";
const PLAN_VAR: &str = "INTERSTICE_CRASH_PLAN";
const ACK: &str = "ACK ";

/// What the child writes: small records in 16 KiB segments, or large ones in 1 MiB segments
/// (batches of up to 32 KiB, which a log synced after each batch writes into the file with
/// one `pwrite` rather than through the mapping).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Plan {
    Small,
    Large,
}

fn mix(mut x: u64) -> u64 {
    // splitmix64 finalizer: a fixed, well-spread function of the LSN.
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The payload the child writes at `lsn`: mostly small, now and then a few KiB (with
/// `Plan::Large`, half of them 2 to 4 KiB).
fn payload(plan: Plan, lsn: u64) -> Vec<u8> {
    let h = mix(lsn);
    let len = if plan == Plan::Large && h.is_multiple_of(2) {
        2048 + h % 2048
    } else if h.is_multiple_of(40) {
        1000 + h % 500
    } else {
        h % 300
    };
    (0..len)
        .map(|i| ((h >> ((i % 8) * 8)) as u8) ^ (i as u8))
        .collect()
}

/// True when `lsn` ends a batch (groups have 1 to 8 records, whatever LSN they start at).
fn ends_batch(lsn: u64) -> bool {
    lsn.is_multiple_of(8) || !mix(lsn ^ 0x5555).is_multiple_of(3)
}

/// The LSNs of the batch starting at `first`.
fn batch_from(first: u64) -> std::ops::RangeInclusive<u64> {
    let mut last = first;
    while !ends_batch(last) {
        last += 1;
    }
    first..=last
}

/// True when the child syncs after the batch ending at `last` (in `OnSync` mode).
fn syncs_after(last: u64) -> bool {
    mix(last ^ 0xaaaa).is_multiple_of(3)
}

fn options(plan: Plan, durability: Durability) -> Options {
    Options {
        segment_size: if plan == Plan::Large {
            1 << 20
        } else {
            16 * 1024
        },
        durability,
        ..Options::default()
    }
}

fn append_batch(plan: Plan, log: &Log, first: u64) -> Lsn {
    let lsns = batch_from(first);
    let payloads: Vec<Vec<u8>> = lsns.clone().map(|lsn| payload(plan, lsn)).collect();
    let last = if payloads.len() == 1 {
        log.append(&payloads[0]).unwrap()
    } else {
        log.append_batch(&payloads).unwrap()
    };
    assert_eq!(last, Lsn(*lsns.end()), "the child's LSNs follow the plan");
    last
}

/// The child: appends batches until killed, printing `ACK <lsn>` for each durable LSN.
#[test]
#[ignore = "run by the crash tests as a child process"]
fn crash_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let durability = match std::env::var(DURABILITY_VAR).as_deref() {
        Ok("every") => Durability::EveryAppend,
        _ => Durability::OnSync,
    };
    let plan = match std::env::var(PLAN_VAR).as_deref() {
        Ok("large") => Plan::Large,
        _ => Plan::Small,
    };
    let log = Log::open(&dir, options(plan, durability)).unwrap();
    let mut stdout = std::io::stdout().lock();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut next = log.last_lsn().0 + 1;
    // Bounded in case the parent never kills it.
    while next < 50_000 && Instant::now() < deadline {
        let last = append_batch(plan, &log, next);
        next = last.0 + 1;
        let acked = match durability {
            Durability::EveryAppend => Some(last),
            _ if syncs_after(last.0) => Some(log.sync().unwrap()),
            _ => None,
        };
        if let Some(acked) = acked {
            writeln!(stdout, "{ACK}{}", acked.0).unwrap();
            stdout.flush().unwrap();
        }
    }
}

/// xorshift64: the parent's reproducible choices.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn spawn_child(plan: Plan, dir: &Path, durability: Durability) -> Child {
    let mode = if durability == Durability::EveryAppend {
        "every"
    } else {
        "sync"
    };
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "crash_child", "--nocapture", "--ignored"])
        .env(DIR_VAR, dir)
        .env(DURABILITY_VAR, mode)
        .env(
            PLAN_VAR,
            if plan == Plan::Large {
                "large"
            } else {
                "small"
            },
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Runs a child on `dir`, kills it after `acks_wanted` acknowledgements (then `delay`), and
/// returns the highest LSN it acknowledged.
fn run_and_kill(
    plan: Plan,
    dir: &Path,
    durability: Durability,
    acks_wanted: u64,
    delay: Duration,
) -> u64 {
    let mut child = spawn_child(plan, dir, durability);
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut acked = 0;
    let mut acks = 0;
    while acks < acks_wanted {
        let Some(line) = lines.next() else { break };
        if let Some(lsn) = line.unwrap().strip_prefix(ACK) {
            let lsn: u64 = lsn.parse().unwrap();
            assert!(lsn >= acked, "acknowledged LSNs only grow");
            acked = lsn;
            acks += 1;
        }
    }
    std::thread::sleep(delay);
    child.kill().unwrap();
    // Lines already in the pipe were printed after their sync returned: acknowledged too.
    for line in lines {
        if let Some(lsn) = line.unwrap().strip_prefix(ACK) {
            acked = acked.max(lsn.parse().unwrap());
        }
    }
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the child ran to its end instead of being killed (acked {acked})"
    );
    acked
}

/// Checks the records of `log` are exactly `1..=n` as planned, ending on a batch boundary.
fn check_prefix(plan: Plan, log: &Log, acked: u64) -> u64 {
    let mut n = 0;
    for record in &log.reader() {
        let record = record.unwrap();
        assert_eq!(record.lsn, Lsn(n + 1), "a hole or a reordering in the log");
        assert_eq!(
            record.payload,
            payload(plan, record.lsn.0),
            "wrong bytes at {}",
            record.lsn
        );
        n += 1;
    }
    assert!(
        n >= acked,
        "acknowledged LSN {acked} lost (log ends at {n})"
    );
    assert!(n == 0 || ends_batch(n), "log ends inside a batch, at {n}");
    assert_eq!(log.last_lsn(), Lsn(n));
    n
}

/// Reopens after a kill: read-only (changes nothing) and strict must agree with the writable
/// recovery; returns the writable log and its last LSN.
fn recover(plan: Plan, dir: &Path, acked: u64) -> (Log, u64) {
    let read_only = Log::open_read_only(dir, options(plan, Durability::OnSync)).unwrap();
    let seen = check_prefix(plan, &read_only, acked);
    drop(read_only);
    let strict = Options {
        recovery: RecoveryMode::Strict,
        ..options(plan, Durability::OnSync)
    };
    match Log::open_read_only(dir, strict) {
        Ok(log) => assert_eq!(check_prefix(plan, &log, acked), seen),
        Err(Error::TornTail { last_good_lsn, .. }) => assert!(last_good_lsn.0 <= seen),
        Err(other) => panic!("strict open after a kill: {other}"),
    }
    let log = Log::open(dir, options(plan, Durability::OnSync)).unwrap();
    let n = check_prefix(plan, &log, acked);
    assert_eq!(n, seen, "read-only and writable recovery disagree");
    (log, n)
}

fn campaign(plan: Plan, durability: Durability, seed: u64, dirs: u64) {
    let mut rng = Rng(seed);
    for _ in 0..dirs {
        let dir = tempfile::tempdir().unwrap();
        // Three rounds on the same directory: each child resumes after recovery.
        for _ in 0..3 {
            let acks = 1 + rng.below(40);
            let delay = Duration::from_millis(rng.below(3) * rng.below(15));
            let acked = run_and_kill(plan, dir.path(), durability, acks, delay);
            let (log, n) = recover(plan, dir.path(), acked);
            // Appending continues with the next LSN, and the plan continues with it.
            let last = append_batch(plan, &log, n + 1);
            assert!(last.0 > n);
            log.close().unwrap();
            let (log, after) = recover(plan, dir.path(), last.0);
            assert_eq!(after, last.0);
            drop(log);
        }
    }
}

#[test]
fn acknowledged_records_survive_sigkill_with_sync() {
    campaign(Plan::Small, Durability::OnSync, 0x1234_5678, 10);
}

#[test]
fn acknowledged_records_survive_sigkill_with_every_append() {
    campaign(Plan::Small, Durability::EveryAppend, 0x8765_4321, 10);
}

/// Batches large enough to be written into the file with one `pwrite` once the log was
/// synced after the previous one.
#[test]
fn acknowledged_large_batches_survive_sigkill() {
    campaign(Plan::Large, Durability::OnSync, 0x0bad_cafe, 5);
    campaign(Plan::Large, Durability::EveryAppend, 0xfeed_f00d, 5);
}
