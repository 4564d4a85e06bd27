// The `ops` target: a sequence of operations against a log with 16 KiB segments, checked after
// each one against a model (the payloads by LSN, the last LSN and the durable LSN).
//
// Input: byte 0 chooses the durability (modulo 3: OnSync, None, EveryAppend). Then up to
// `OPS_MAX` operations, each an opcode byte (modulo 12) and its fixed-size arguments (u16 are
// little-endian; bytes past the end of the input read as zero):
//
//   0 Append          u16 len (modulo 2049), u8 fill
//   1 AppendBatch     u8 count (modulo 9), u16 len (modulo 1537), u8 fill
//   2 Sync            3 RotateNow       6 Reopen          7 Crash           8 PowerCut
//   4 TruncateBefore  u8 k              5 TruncateAfter   u8 k
//   9 Corrupt         u8 segment, u16 offset, u8 xor, u8 mode (modulo 3: Strict,
//                     TolerateTornTail, SkipCorrupt)
//  10 Read            u8 k             11 Iterate         u8 k
//
// An LSN argument `k` means `k/255` of the way through `0..=last + 1`.

use std::collections::BTreeMap;

use interstice::{Durability, Error, Log, Lsn, Options, RecoveryMode};
use tempfile::TempDir;

use super::{Input, SEGMENT_SIZE, copy_dir, expected_error, payload, scratch, segment_paths};

/// Operations an input may hold.
pub const OPS_MAX: usize = 64;

/// One operation of an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Append {
        len: u16,
        fill: u8,
    },
    AppendBatch {
        count: u8,
        len: u16,
        fill: u8,
    },
    Sync,
    RotateNow,
    TruncateBefore(u8),
    TruncateAfter(u8),
    /// Close cleanly, open again.
    Reopen,
    /// A process crash: the files as they are now (the mapping's writes are in the page
    /// cache) are what the next open finds.
    Crash,
    /// A power cut: the files as they were at the last durable point are what the next open
    /// finds.
    PowerCut,
    /// Close, flip bits of one byte of a copy's segment file, open the copy in `mode`.
    Corrupt {
        segment: u8,
        offset: u16,
        xor: u8,
        mode: RecoveryMode,
    },
    Read(u8),
    Iterate(u8),
}

const DURABILITIES: [Durability; 3] = [
    Durability::OnSync,
    Durability::None,
    Durability::EveryAppend,
];

const MODES: [RecoveryMode; 3] = [
    RecoveryMode::Strict,
    RecoveryMode::TolerateTornTail,
    RecoveryMode::SkipCorrupt,
];

/// Decodes an input as the module comment says.
pub fn decode(data: &[u8]) -> (Durability, Vec<Op>) {
    let mut input = Input::new(data);
    let durability = DURABILITIES[usize::from(input.u8() % 3)];
    let mut ops = Vec::new();
    while !input.is_empty() && ops.len() < OPS_MAX {
        let op = match input.u8() % 12 {
            0 => Op::Append {
                len: input.u16() % 2049,
                fill: input.u8(),
            },
            1 => Op::AppendBatch {
                count: input.u8() % 9,
                len: input.u16() % 1537,
                fill: input.u8(),
            },
            2 => Op::Sync,
            3 => Op::RotateNow,
            4 => Op::TruncateBefore(input.u8()),
            5 => Op::TruncateAfter(input.u8()),
            6 => Op::Reopen,
            7 => Op::Crash,
            8 => Op::PowerCut,
            9 => Op::Corrupt {
                segment: input.u8(),
                offset: input.u16(),
                xor: input.u8(),
                mode: MODES[usize::from(input.u8() % 3)],
            },
            10 => Op::Read(input.u8()),
            _ => Op::Iterate(input.u8()),
        };
        ops.push(op);
    }
    (durability, ops)
}

/// Encodes operations as input (`decode` gives them back); for writing seeds.
pub fn encode(durability: Durability, ops: &[Op]) -> Vec<u8> {
    let position = DURABILITIES.iter().position(|d| *d == durability);
    let mut out = vec![position.expect("a durability") as u8];
    for op in ops {
        match *op {
            Op::Append { len, fill } => {
                out.push(0);
                out.extend_from_slice(&len.to_le_bytes());
                out.push(fill);
            }
            Op::AppendBatch { count, len, fill } => {
                out.extend_from_slice(&[1, count]);
                out.extend_from_slice(&len.to_le_bytes());
                out.push(fill);
            }
            Op::Sync => out.push(2),
            Op::RotateNow => out.push(3),
            Op::TruncateBefore(k) => out.extend_from_slice(&[4, k]),
            Op::TruncateAfter(k) => out.extend_from_slice(&[5, k]),
            Op::Reopen => out.push(6),
            Op::Crash => out.push(7),
            Op::PowerCut => out.push(8),
            Op::Corrupt {
                segment,
                offset,
                xor,
                mode,
            } => {
                out.extend_from_slice(&[9, segment]);
                out.extend_from_slice(&offset.to_le_bytes());
                let mode = MODES.iter().position(|m| *m == mode).expect("a mode");
                out.extend_from_slice(&[xor, mode as u8]);
            }
            Op::Read(k) => out.extend_from_slice(&[10, k]),
            Op::Iterate(k) => out.extend_from_slice(&[11, k]),
        }
    }
    out
}

/// What the log must hold.
#[derive(Clone, Debug, Default)]
struct Model {
    /// Payloads by LSN.
    records: BTreeMap<u64, Vec<u8>>,
    /// The last LSN given out (after `truncate_after`, its argument).
    last: u64,
    /// Every record at or below it survives a crash or a power cut.
    durable: u64,
}

/// The files and the model at the last durable point.
struct DurableState {
    dir: TempDir,
    model: Model,
}

struct Run {
    options: Options,
    dir: TempDir,
    log: Option<Log>,
    model: Model,
    durable: Option<DurableState>,
    /// The run went on from damaged files. Damage in records that an open does not walk
    /// (sealed segments, or the active one after a clean close: payloads are checked when
    /// read) can then be met by a later open, so reopens need not recover cleanly.
    damaged: bool,
}

/// Runs the operations of `data` against a log and the model; panics when they disagree.
pub fn ops(data: &[u8]) {
    let (durability, ops) = decode(data);
    let options = Options {
        segment_size: SEGMENT_SIZE,
        durability,
        ..Options::default()
    };
    let dir = scratch();
    let log = Log::open(dir.path(), options.clone()).expect("a new log opens");
    let mut run = Run {
        options,
        dir,
        log: Some(log),
        model: Model::default(),
        durable: None,
        damaged: false,
    };
    run.mark_durable();
    for (step, op) in ops.iter().enumerate() {
        run.apply(*op);
        run.check(&format!("step {step}, after {op:?}"));
    }
    run.reopen();
    run.check("after the final reopen");
}

impl Run {
    fn log(&self) -> &Log {
        self.log.as_ref().expect("a log is open between operations")
    }

    /// An LSN `k/255` of the way through `0..=last + 1`.
    fn lsn_at(&self, k: u8) -> u64 {
        (self.model.last + 1) * u64::from(k) / 255
    }

    /// Everything appended so far is durable: keep a copy of the files and the model.
    fn mark_durable(&mut self) {
        self.model.durable = self.model.last;
        self.durable = Some(DurableState {
            dir: copy_dir(self.dir.path()),
            model: self.model.clone(),
        });
    }

    fn apply(&mut self, op: Op) {
        let every_append = self.options.durability == Durability::EveryAppend;
        match op {
            Op::Append { len, fill } => {
                let lsn = self.model.last + 1;
                let bytes = payload(lsn, usize::from(len), fill);
                assert_eq!(self.log().append(&bytes).expect("append"), Lsn(lsn));
                self.model.records.insert(lsn, bytes);
                self.model.last = lsn;
                if every_append {
                    self.mark_durable();
                }
            }
            Op::AppendBatch { count, len, fill } => {
                let first = self.model.last + 1;
                let payloads: Vec<Vec<u8>> = (first..first + u64::from(count))
                    .map(|lsn| payload(lsn, usize::from(len), fill))
                    .collect();
                let last = self.log().append_batch(&payloads).expect("append_batch");
                for (lsn, bytes) in (first..).zip(payloads) {
                    self.model.records.insert(lsn, bytes);
                }
                self.model.last += u64::from(count);
                assert_eq!(last, Lsn(self.model.last), "append_batch's LSN");
                if every_append && count > 0 {
                    self.mark_durable();
                }
            }
            Op::Sync => {
                assert_eq!(self.log().sync().expect("sync"), Lsn(self.model.last));
                self.mark_durable();
            }
            Op::RotateNow => self.log().rotate_now().expect("rotate_now"),
            Op::TruncateBefore(k) => self.truncate_before(self.lsn_at(k)),
            Op::TruncateAfter(k) => {
                let lsn = self.lsn_at(k);
                self.log().truncate_after(Lsn(lsn)).expect("truncate_after");
                if lsn < self.model.last {
                    self.model.records.split_off(&(lsn + 1));
                    self.model.last = lsn;
                    // It seals what it keeps and names the new segment durably.
                    self.mark_durable();
                }
            }
            Op::Reopen => self.reopen(),
            Op::Crash => self.crash(),
            Op::PowerCut => self.power_cut(),
            Op::Corrupt {
                segment,
                offset,
                xor,
                mode,
            } => self.corrupt(segment, offset, xor, mode),
            Op::Read(k) => {
                let lsn = Lsn(self.lsn_at(k));
                let expected = self.model.records.get(&lsn.0);
                let read = self.log().read(lsn).expect("read");
                assert_eq!(read.as_ref(), expected, "read({lsn})");
                let reader = self.log().reader();
                let got = reader.get(lsn).expect("get");
                assert_eq!(
                    got.map(|r| r.payload),
                    expected.map(Vec::as_slice),
                    "get({lsn})"
                );
            }
            Op::Iterate(k) => {
                let from = self.lsn_at(k);
                let expected: Vec<(u64, &[u8])> = self
                    .model
                    .records
                    .range(from..)
                    .map(|(lsn, bytes)| (*lsn, bytes.as_slice()))
                    .collect();
                let reader = self.log().reader();
                let walked: Vec<(u64, &[u8])> = reader
                    .iter_from(Lsn(from))
                    .map(|r| r.map(|r| (r.lsn.0, r.payload)).expect("iter_from"))
                    .collect();
                assert_eq!(walked, expected, "iter_from({from})");
                let mut replayed = Vec::new();
                let count = self
                    .log()
                    .replay(Lsn(from), |r| {
                        replayed.push((r.lsn.0, r.payload.to_vec()));
                        Ok::<(), Error>(())
                    })
                    .expect("replay");
                assert_eq!(count, replayed.len() as u64);
                let replayed: Vec<(u64, &[u8])> =
                    replayed.iter().map(|(l, p)| (*l, p.as_slice())).collect();
                assert_eq!(replayed, expected, "replay({from})");
            }
        }
    }

    fn truncate_before(&mut self, lsn: u64) {
        let log = self.log();
        log.truncate_before(Lsn(lsn)).expect("truncate_before");
        let first = log.first_lsn().map(|l| l.0);
        let held_before = self.model.records.keys().next().copied();
        // Every record at or after `lsn` stays; what goes is a prefix of the rest.
        if let Some(must_keep) = self.model.records.range(lsn..).next().map(|(l, _)| *l) {
            assert!(
                first.is_some_and(|first| first <= must_keep),
                "truncate_before({lsn}) removed {must_keep} (first now {first:?})"
            );
        }
        if let Some(first) = first {
            assert!(held_before.is_some_and(|held| held <= first));
            assert!(self.model.records.contains_key(&first), "first_lsn {first}");
            self.model.records = self.model.records.split_off(&first);
        } else {
            self.model.records.clear();
        }
    }

    /// Closes cleanly and opens again: nothing changes.
    fn reopen(&mut self) {
        let log = self.log.take().expect("a log is open");
        log.close().expect("a clean close");
        let log = self.open_again("reopening");
        assert!(
            self.damaged || log.recovery_report().is_clean(),
            "after a clean close: {:?}",
            log.recovery_report()
        );
        self.log = Some(log);
        self.check("after reopening");
        self.mark_durable();
    }

    fn crash(&mut self) {
        let log = self.log.take().expect("a log is open");
        // Wait for a background seal (this removes nothing), so that the copy is one state of
        // the files: the state a kill at this moment leaves.
        log.truncate_before(Lsn::ZERO).expect("settle");
        let copy = copy_dir(self.dir.path());
        drop(log);
        self.dir = copy;
        self.open_after_loss("after a crash");
    }

    fn power_cut(&mut self) {
        drop(self.log.take());
        let durable = self.durable.take().expect("a durable point");
        self.dir = durable.dir;
        self.model = durable.model;
        self.open_after_loss("after a power cut");
    }

    /// Opens the log's directory again. An open after a clean close does not read the active
    /// segment's unused space, so a byte a `Corrupt` operation damaged there is found later,
    /// by an open whose walk reaches it (the end of the records came near, or the close was
    /// not clean): as a torn tail, which `Strict` refuses. The run then opens tolerating it.
    fn open_again(&self, context: &str) -> Log {
        match Log::open(self.dir.path(), self.options.clone()) {
            Ok(log) => log,
            Err(Error::TornTail { .. })
                if self.damaged && self.options.recovery == RecoveryMode::Strict =>
            {
                let tolerant = Options {
                    recovery: RecoveryMode::TolerateTornTail,
                    ..self.options.clone()
                };
                Log::open(self.dir.path(), tolerant)
                    .unwrap_or_else(|e| panic!("{context}: open tolerating a torn tail: {e}"))
            }
            Err(e) => panic!("{context}: open: {e}"),
        }
    }

    /// Opens the directory after a crash or power cut: every durable record is there, and
    /// what is there is a prefix of what was appended.
    fn open_after_loss(&mut self, context: &str) {
        let log = self.open_again(context);
        let last = log.last_lsn().0;
        assert!(
            (self.model.durable..=self.model.last).contains(&last),
            "{context}: last_lsn {last}, durable {}, appended up to {}",
            self.model.durable,
            self.model.last
        );
        self.model.records.split_off(&(last + 1));
        self.model.last = last;
        self.log = Some(log);
        self.check(context);
        self.mark_durable();
    }

    fn corrupt(&mut self, segment: u8, offset: u16, xor: u8, mode: RecoveryMode) {
        let log = self.log.take().expect("a log is open");
        log.close().expect("a clean close");
        let trial = copy_dir(self.dir.path());
        let files = segment_paths(trial.path());
        let path = &files[usize::from(segment) % files.len()];
        let mut bytes = std::fs::read(path).expect("read a segment file");
        if !bytes.is_empty() {
            let at = usize::from(offset) % bytes.len();
            bytes[at] ^= xor.max(1);
            std::fs::write(path, &bytes).expect("write a segment file");
        }
        let options = Options {
            recovery: mode,
            ..self.options.clone()
        };
        match Log::open_read_only(trial.path(), options.clone()) {
            Ok(view) => {
                self.damaged_records(&view, mode);
            }
            Err(error) => Self::expect_open_error(&error, mode),
        }
        match Log::open(trial.path(), options.clone()) {
            Ok(log) => {
                let kept = self.damaged_records(&log, mode);
                let last = log.last_lsn().0;
                // Records that `SkipCorrupt` passes over when read stay in the files (unless
                // the open walked and padded them), and another damaged byte can make them
                // valid again: go on only when none was passed over.
                if let Some(kept) =
                    kept.filter(|kept| kept.len() == self.model.records.range(..=last).count())
                {
                    // Continue with what recovery kept; it must reopen the same.
                    self.model.records = kept;
                    self.model.last = log.last_lsn().0;
                    self.model.durable = self.model.last;
                    self.options = options;
                    self.damaged = true;
                    self.dir = trial;
                    self.log = Some(log);
                    self.reopen();
                    return;
                }
            }
            Err(error) => Self::expect_open_error(&error, mode),
        }
        // Go on with the files as they were (which an earlier damage may still be in).
        let log = self.open_again("reopening the files as they were");
        self.log = Some(log);
        self.check("after reopening the undamaged files");
        self.mark_durable();
    }

    fn expect_open_error(error: &Error, mode: RecoveryMode) {
        assert!(expected_error(error), "{mode:?}: {error}");
        if matches!(error, Error::TornTail { .. }) {
            assert_eq!(mode, RecoveryMode::Strict, "{error}");
        }
    }

    /// Walks a log opened on damaged files: every record read is the one appended at its
    /// LSN, byte for byte; in `Strict` and `TolerateTornTail` they are a prefix of the model
    /// (all of it in `Strict`, at least the durable records in `TolerateTornTail`); in
    /// `SkipCorrupt` a subset. Returns the records when the walk met no damage.
    fn damaged_records(&self, log: &Log, mode: RecoveryMode) -> Option<BTreeMap<u64, Vec<u8>>> {
        let mut kept: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        let mut complete = true;
        for item in &log.reader() {
            let record = match item {
                Ok(record) => record,
                Err(error) => {
                    // Damage in a sealed segment is found when it is read.
                    assert!(matches!(error, Error::Corrupt { .. }), "{mode:?}: {error}");
                    complete = false;
                    break;
                }
            };
            let lsn = record.lsn.0;
            assert_eq!(
                Some(record.payload),
                self.model.records.get(&lsn).map(Vec::as_slice),
                "{mode:?}: LSN {lsn} reads bytes never appended there"
            );
            assert!(
                kept.last_key_value()
                    .is_none_or(|(previous, _)| *previous < lsn),
                "{mode:?}: LSNs increase"
            );
            kept.insert(lsn, record.payload.to_vec());
        }
        let last = log.last_lsn().0;
        assert!(
            last <= self.model.last,
            "{mode:?}: last_lsn {last} never appended"
        );
        assert!(
            kept.keys().all(|lsn| *lsn <= last),
            "{mode:?}: a record past last_lsn"
        );
        if mode == RecoveryMode::SkipCorrupt {
            return complete.then_some(kept);
        }
        let prefix = self.model.records.iter().take(kept.len());
        assert!(
            prefix.eq(kept.iter()),
            "{mode:?}: the records read are not a prefix of those appended"
        );
        if complete {
            let expected_len = self.model.records.range(..=last).count();
            assert_eq!(
                kept.len(),
                expected_len,
                "{mode:?}: records missing before last_lsn"
            );
            assert!(last >= self.model.durable, "{mode:?}: durable records lost");
            if mode == RecoveryMode::Strict {
                assert_eq!(last, self.model.last, "Strict: records dropped");
            }
        }
        complete.then_some(kept)
    }

    /// The log agrees with the model: its records, first and last LSN, durable LSN.
    fn check(&self, context: &str) {
        let log = self.log();
        assert_eq!(log.last_lsn(), Lsn(self.model.last), "{context}: last_lsn");
        let first = self.model.records.keys().next().map(|l| Lsn(*l));
        if self.damaged {
            // A damaged record that the open did not walk still counts until it is read.
            assert!(
                first.is_none_or(|first| log.first_lsn().is_some_and(|held| held <= first)),
                "{context}: first_lsn"
            );
        } else {
            assert_eq!(log.first_lsn(), first, "{context}: first_lsn");
        }
        let durable = log.durable_lsn();
        assert!(
            durable >= Lsn(self.model.durable) && durable <= log.last_lsn(),
            "{context}: durable_lsn {durable}, the model's {}",
            self.model.durable
        );
        let reader = log.reader();
        let mut expected = self.model.records.iter();
        for item in &reader {
            let record = item.unwrap_or_else(|e| panic!("{context}: read: {e}"));
            let (lsn, bytes) = expected
                .next()
                .unwrap_or_else(|| panic!("{context}: a record past the model: {}", record.lsn));
            assert_eq!(record.lsn.0, *lsn, "{context}: LSN");
            assert_eq!(
                record.payload,
                bytes.as_slice(),
                "{context}: payload of {lsn}"
            );
        }
        assert!(expected.next().is_none(), "{context}: records missing");
    }
}
