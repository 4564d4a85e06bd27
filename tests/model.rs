//! State-machine test: random sequences of log operations on a real directory, checked after
//! every step against a plain `Vec<(Lsn, Vec<u8>)>` model of the records the log holds.
//!
//! Segments are 16 KiB so that rotation, sealing and retention happen every few dozen records.

use interstice::{Durability, Log, Lsn, Options, RecoveryMode};
use proptest::prelude::*;

/// A payload: its length and a seed for its bytes (cheaper to shrink than a `Vec<u8>`).
#[derive(Clone, Debug)]
struct Payload {
    len: usize,
    seed: u8,
}

impl Payload {
    fn bytes(&self) -> Vec<u8> {
        (0..self.len)
            .map(|i| self.seed.wrapping_add((i as u8).wrapping_mul(31)))
            .collect()
    }
}

#[derive(Clone, Debug)]
enum Op {
    Append(Payload),
    AppendBatch(Vec<Payload>),
    Sync,
    /// Reopen; `true` closes first, `false` drops the log without a final sync.
    Reopen(bool),
    RotateNow,
    /// Argument as a fraction (per mille) of the way through the model's LSN range.
    TruncateBefore(u16),
    TruncateAfter(u16),
    Iterate,
    IterFrom(u16),
    Read(u16),
    ReadOnlyView,
}

fn payload() -> impl Strategy<Value = Payload> {
    let len = prop_oneof![
        20 => 0usize..300,
        1 => 300usize..12_000,
    ];
    (len, any::<u8>()).prop_map(|(len, seed)| Payload { len, seed })
}

fn op() -> impl Strategy<Value = Op> {
    let per_mille = 0u16..=1100;
    prop_oneof![
        30 => payload().prop_map(Op::Append),
        6 => prop::collection::vec(
            (0usize..300, any::<u8>()).prop_map(|(len, seed)| Payload { len, seed }),
            0..8
        )
        .prop_map(Op::AppendBatch),
        3 => Just(Op::Sync),
        2 => any::<bool>().prop_map(Op::Reopen),
        2 => Just(Op::RotateNow),
        2 => per_mille.clone().prop_map(Op::TruncateBefore),
        2 => per_mille.clone().prop_map(Op::TruncateAfter),
        2 => Just(Op::Iterate),
        2 => per_mille.clone().prop_map(Op::IterFrom),
        3 => per_mille.prop_map(Op::Read),
        1 => Just(Op::ReadOnlyView),
    ]
}

fn durability() -> impl Strategy<Value = Durability> {
    prop_oneof![
        Just(Durability::OnSync),
        Just(Durability::None),
        Just(Durability::EveryAppend),
    ]
}

/// The records the log must hold, and the LSN the next append must get.
struct Model {
    records: Vec<(Lsn, Vec<u8>)>,
    next: u64,
}

impl Model {
    /// An LSN `per_mille`/1000 of the way through `0..=next`, which also reaches just past
    /// both ends.
    fn lsn_at(&self, per_mille: u16) -> Lsn {
        Lsn(self.next * u64::from(per_mille) / 1000)
    }

    fn from(&self, lsn: Lsn) -> Vec<(Lsn, Vec<u8>)> {
        self.records
            .iter()
            .filter(|r| r.0 >= lsn)
            .cloned()
            .collect()
    }
}

fn collect(log: &Log, from: Lsn) -> Vec<(Lsn, Vec<u8>)> {
    log.reader()
        .iter_from(from)
        .map(|r| {
            let r = r.expect("an intact log reads without error");
            (r.lsn, r.payload.to_vec())
        })
        .collect()
}

fn options(durability: Durability) -> Options {
    Options {
        segment_size: 16 * 1024,
        durability,
        recovery: RecoveryMode::TolerateTornTail,
        ..Options::default()
    }
}

fn check_counters(log: &Log, model: &Model) {
    assert_eq!(log.last_lsn(), Lsn(model.next - 1), "last_lsn");
    assert_eq!(
        log.first_lsn(),
        model.records.first().map(|r| r.0),
        "first_lsn"
    );
}

#[allow(clippy::too_many_lines)]
fn run(durability: Durability, ops: &[Op]) {
    let dir = tempfile::tempdir().unwrap();
    let options = options(durability);
    let mut log = Some(Log::open(dir.path(), options.clone()).unwrap());
    let mut model = Model {
        records: Vec::new(),
        next: 1,
    };
    for op in ops {
        let current = log.as_ref().unwrap();
        match op {
            Op::Append(p) => {
                let bytes = p.bytes();
                assert_eq!(current.append(&bytes).unwrap(), Lsn(model.next));
                model.records.push((Lsn(model.next), bytes));
                model.next += 1;
            }
            Op::AppendBatch(batch) => {
                let payloads: Vec<Vec<u8>> = batch.iter().map(Payload::bytes).collect();
                let last = current.append_batch(&payloads).unwrap();
                for bytes in payloads {
                    model.records.push((Lsn(model.next), bytes));
                    model.next += 1;
                }
                assert_eq!(last, Lsn(model.next - 1));
            }
            Op::Sync => {
                let durable = current.sync().unwrap();
                assert_eq!(durable, Lsn(model.next - 1));
                assert_eq!(current.durable_lsn(), durable);
            }
            Op::Reopen(close) => {
                let old = log.take().unwrap();
                if *close {
                    old.close().unwrap();
                } else {
                    drop(old);
                }
                let reopened = Log::open(dir.path(), options.clone()).unwrap();
                assert!(
                    reopened.recovery_report().is_clean(),
                    "{:?}",
                    reopened.recovery_report()
                );
                log = Some(reopened);
            }
            Op::RotateNow => current.rotate_now().unwrap(),
            Op::TruncateBefore(per_mille) => {
                let lsn = model.lsn_at(*per_mille);
                current.truncate_before(lsn).unwrap();
                let kept_from = current.first_lsn();
                // Every record at or after `lsn` stays; what goes is a prefix of the rest.
                let must_keep = model.records.iter().find(|r| r.0 >= lsn).map(|r| r.0);
                if let Some(must_keep) = must_keep {
                    assert!(
                        kept_from.is_some_and(|first| first <= must_keep),
                        "truncate_before({lsn}) removed {must_keep} (first now {kept_from:?})"
                    );
                }
                model
                    .records
                    .retain(|r| kept_from.is_some_and(|first| r.0 >= first));
            }
            Op::TruncateAfter(per_mille) => {
                let lsn = model.lsn_at(*per_mille);
                current.truncate_after(lsn).unwrap();
                if lsn.0 + 1 < model.next {
                    model.records.retain(|r| r.0 <= lsn);
                    model.next = lsn.0 + 1;
                }
            }
            Op::Iterate => assert_eq!(collect(current, Lsn::ZERO), model.records),
            Op::IterFrom(per_mille) => {
                let lsn = model.lsn_at(*per_mille);
                assert_eq!(collect(current, lsn), model.from(lsn), "iter_from({lsn})");
            }
            Op::Read(per_mille) => {
                let lsn = model.lsn_at(*per_mille);
                let expected = model
                    .records
                    .iter()
                    .find(|r| r.0 == lsn)
                    .map(|r| r.1.clone());
                assert_eq!(current.read(lsn).unwrap(), expected, "read({lsn})");
            }
            Op::ReadOnlyView => {
                // A read-only open sees a prefix of what the writer has put in the page cache:
                // at least every durable record (records of a segment still being named after
                // a rotation are not visible to other opens until a sync).
                let view = Log::open_read_only(dir.path(), options.clone()).unwrap();
                let seen = collect(&view, Lsn::ZERO);
                assert!(
                    model.records.starts_with(&seen),
                    "read-only view is not a prefix"
                );
                let durable = current.durable_lsn();
                let must_see = model.records.iter().filter(|r| r.0 <= durable).count();
                assert!(
                    seen.len() >= must_see,
                    "read-only view misses durable records"
                );
            }
        }
        check_counters(log.as_ref().unwrap(), &model);
    }
    let last = log.take().unwrap();
    last.close().unwrap();
    let reopened = Log::open(dir.path(), options).unwrap();
    assert_eq!(
        collect(&reopened, Lsn::ZERO),
        model.records,
        "after the final reopen"
    );
    check_counters(&reopened, &model);
    assert_eq!(reopened.append(b"after").unwrap(), Lsn(model.next));
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES raises the count for a longer campaign.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(32),
        max_shrink_iters: 2000,
        ..ProptestConfig::default()
    })]

    #[test]
    fn log_matches_a_vec_model(
        durability in durability(),
        ops in prop::collection::vec(op(), 1..100),
    ) {
        run(durability, &ops);
    }
}

#[test]
fn truncate_after_below_retained_records_then_reopen() {
    // A fixed sequence through the corner the random walk reaches rarely: retention removes
    // the first segments, then a suffix truncation goes below every record still held.
    let p = |len| Payload { len, seed: 7 };
    let mut ops: Vec<Op> = (0..200).map(|_| Op::Append(p(200))).collect();
    ops.extend([
        Op::TruncateBefore(600),
        Op::TruncateAfter(100),
        Op::Iterate,
        Op::IterFrom(50),
        Op::Reopen(false),
        Op::Iterate,
        Op::Append(p(10)),
        Op::Reopen(true),
        Op::IterFrom(0),
        Op::Read(101),
    ]);
    run(Durability::OnSync, &ops);
}
