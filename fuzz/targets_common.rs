// The bodies of the fuzz targets, shared with `tests/fuzz_corpus.rs` through `include!` so
// that every corpus file is replayed by the ordinary test suite with the same code.
//
// Input of `open_dir`: byte 0 says how many segment files to write (bits 0-1: 1 to 3) and
// whether to pad them (bit 2 clear: each file is `head`, zeroes, `tail`, 16 KiB long unless
// head and tail are longer; set: exactly `head` + `tail`). Then, per file: a little-endian
// u16 length and the head bytes, a u16 length and the tail bytes (truncated input is fine).
//
// The bodies of `ops` and `repair` are in `ops_target.rs` and `repair_target.rs` (modules
// `fuzz_common::ops` and `fuzz_common::repair`); their input formats are described there and
// in docs/FUZZING.md.

#[allow(dead_code)]
mod fuzz_common {
    use interstice::format::checksum::Binding;
    use interstice::format::footer;
    use interstice::format::header::HeaderInfo;
    use interstice::format::{data_capacity, payload_capacity};
    use interstice::segment::scan::{self, ScanConfig, Stop};
    use interstice::{Error, Log, Lsn, Options, RecoveryMode};
    use std::path::Path;

    /// The segment size of the logs built from fuzz input.
    pub const SEGMENT_SIZE: u64 = 16 * 1024;

    /// A seed used when the bytes carry no valid header.
    const FIXED_SEED: u32 = 0x1f2e_3d4c;

    /// Scans `data` as a segment, decodes its header and footer; checks what comes back.
    pub fn segment_parse(data: &[u8]) {
        let header = HeaderInfo::decode(data).ok();
        let (binding, base_lsn, size) =
            header.map_or((Binding::current(FIXED_SEED), 1, SEGMENT_SIZE), |h| {
                (h.binding(), h.base_lsn, h.segment_size)
            });
        let capacities = [data.len(), data_capacity(size).min(data.len())];
        for capacity in capacities {
            for skip_damage in [false, true] {
                let config = ScanConfig {
                    binding,
                    base_lsn,
                    payload_max: payload_capacity(size),
                    skip_damage,
                };
                let walk = scan::scan(data, capacity, &config);
                assert!(walk.end <= capacity.max(interstice::format::SEGMENT_HEADER_SIZE));
                assert!(walk.last_lsn >= base_lsn - 1);
                if walk.records > 0 {
                    assert!(walk.first_lsn >= base_lsn && walk.first_lsn <= walk.last_lsn);
                }
                assert!(walk.index.len() as u64 <= walk.records);
                if let Stop::Damage { offset, .. } = walk.stop {
                    assert!(offset <= capacity);
                    let bounded = &data[..capacity];
                    let _ = scan::vouched_by_later_marker(bounded, offset, &config);
                    let _ = scan::resync(bounded, offset, &config, walk.last_lsn);
                    assert!(scan::nonzero_end(bounded, offset) <= capacity.max(offset));
                }
                if !skip_damage {
                    assert!(walk.skipped.is_empty());
                }
            }
        }
        let capacity = data_capacity(size).min(data.len());
        if let Ok(Some(info)) = footer::decode(data, binding.seed, capacity) {
            assert!(info.data_end <= data.len() as u64);
            let index = footer::index_bytes(data, info.index_entries);
            assert_eq!(index.len(), info.index_entries as usize * 16);
        }
        // A close summary an open would trust describes a clean end: check what it yields.
        if let Some(info) = footer::decode_close(data, binding.seed, capacity) {
            let config = ScanConfig {
                binding,
                base_lsn,
                payload_max: payload_capacity(size),
                skip_damage: false,
            };
            if let Some(summary) = scan::from_close_summary(data, capacity, &config, &info) {
                assert!(summary.end <= capacity && summary.ended_clean);
                assert_eq!(summary.records, info.records);
                assert!(summary.index.windows(2).all(|w| w[0].offset.get() < w[1].offset.get()));
                assert!(summary.next_index_at >= interstice::format::SEGMENT_HEADER_SIZE);
            }
        }
    }

    /// Splits `data` into segment files as the module comment says.
    pub fn segment_files(data: &[u8]) -> Vec<Vec<u8>> {
        let Some((&control, mut rest)) = data.split_first() else {
            return Vec::new();
        };
        let count = usize::from(control & 3).max(1);
        let raw = control & 4 != 0;
        let take = |rest: &mut &[u8]| -> Vec<u8> {
            let len = match rest {
                [a, b, ..] => usize::from(u16::from_le_bytes([*a, *b])),
                _ => 0,
            };
            let skip = rest.len().min(2);
            *rest = &rest[skip..];
            let len = len.min(rest.len());
            let (bytes, after) = rest.split_at(len);
            *rest = after;
            bytes.to_vec()
        };
        (0..count)
            .map(|_| {
                let head = take(&mut rest);
                let tail = take(&mut rest);
                let len = if raw {
                    head.len() + tail.len()
                } else {
                    (head.len() + tail.len()).max(SEGMENT_SIZE as usize)
                };
                let mut file = head;
                file.resize(len - tail.len(), 0);
                file.extend_from_slice(&tail);
                file
            })
            .collect()
    }

    /// A scratch directory, in memory when the machine has /dev/shm.
    fn scratch() -> tempfile::TempDir {
        let shm = Path::new("/dev/shm");
        if shm.is_dir() {
            tempfile::tempdir_in(shm).expect("a scratch directory")
        } else {
            tempfile::tempdir().expect("a scratch directory")
        }
    }

    fn write_files(dir: &Path, files: &[Vec<u8>]) {
        for (i, bytes) in files.iter().enumerate() {
            let name = format!("{:020}.seg", i + 1);
            std::fs::write(dir.join(name), bytes).expect("write a segment file");
        }
    }

    fn options(recovery: RecoveryMode) -> Options {
        Options {
            segment_size: SEGMENT_SIZE,
            recovery,
            ..Options::default()
        }
    }

    const MODES: [RecoveryMode; 3] = [
        RecoveryMode::Strict,
        RecoveryMode::TolerateTornTail,
        RecoveryMode::SkipCorrupt,
    ];

    /// Errors opening may return for bad input.
    fn expected_error(error: &Error) -> bool {
        matches!(
            error,
            Error::Corrupt { .. }
                | Error::TornTail { .. }
                | Error::NotALog { .. }
                | Error::UnsupportedVersion { .. }
        )
    }

    /// Reads every record, checking the listing agrees; returns them (up to a read error)
    /// and whether the walk reached the end without one.
    fn read_all(log: &Log) -> (Vec<(Lsn, Vec<u8>)>, bool) {
        let segments = log.segments();
        for pair in segments.windows(2) {
            assert_eq!(pair[1].id.0, pair[0].id.0 + 1, "segment ids are contiguous");
        }
        let payload_max = log.options().payload_max();
        let mut records: Vec<(Lsn, Vec<u8>)> = Vec::new();
        let mut complete = true;
        for record in &log.reader() {
            let Ok(record) = record else {
                complete = false;
                break;
            };
            if let Some((previous, _)) = records.last() {
                assert!(record.lsn > *previous, "LSNs increase");
            }
            assert!(record.payload.len() as u64 <= payload_max);
            assert!(record.lsn <= log.last_lsn(), "a record past last_lsn");
            records.push((record.lsn, record.payload.to_vec()));
        }
        if let Some((first, _)) = records.first() {
            assert!(log.first_lsn().is_some_and(|held| held <= *first));
        }
        for (lsn, bytes) in &records {
            if let Ok(found) = log.read(*lsn) {
                assert_eq!(
                    found.as_ref(),
                    Some(bytes),
                    "read({lsn}) disagrees with the walk"
                );
            }
        }
        (records, complete)
    }

    /// Writes the input as a log directory and opens it read-only and for writing in every
    /// recovery mode: no panic, only the errors bad bytes call for, and what opens is
    /// well-formed (and, for writing, continues and reopens the same).
    pub fn open_dir(data: &[u8]) {
        let files = segment_files(data);
        if files.is_empty() {
            return;
        }
        let dir = scratch();
        write_files(dir.path(), &files);
        for mode in MODES {
            match Log::open_read_only(dir.path(), options(mode)) {
                Ok(log) => {
                    read_all(&log);
                }
                Err(error) => assert!(expected_error(&error), "{mode:?}: {error}"),
            }
        }
        for mode in MODES {
            let trial = scratch();
            write_files(trial.path(), &files);
            let log = match Log::open(trial.path(), options(mode)) {
                Ok(log) => log,
                Err(error) => {
                    assert!(expected_error(&error), "{mode:?}: {error}");
                    continue;
                }
            };
            let (mut records, complete) = read_all(&log);
            let Ok(next) = log.append(b"fuzz") else {
                continue;
            };
            assert_eq!(next, log.last_lsn());
            records.push((next, b"fuzz".to_vec()));
            if log.close().is_err() {
                continue;
            }
            let reopened = Log::open(trial.path(), options(mode))
                .unwrap_or_else(|e| panic!("{mode:?}: reopening after recovery: {e}"));
            if complete {
                let (again, _) = read_all(&reopened);
                assert_eq!(again, records, "{mode:?}: records changed across a reopen");
            }
        }
    }

    /// Reads fixed-size fields from fuzz input; past its end every field reads as zero, so
    /// every input decodes.
    pub struct Input<'a> {
        rest: &'a [u8],
    }

    impl<'a> Input<'a> {
        pub fn new(data: &'a [u8]) -> Input<'a> {
            Input { rest: data }
        }

        pub fn is_empty(&self) -> bool {
            self.rest.is_empty()
        }

        pub fn u8(&mut self) -> u8 {
            let Some((&first, rest)) = self.rest.split_first() else {
                return 0;
            };
            self.rest = rest;
            first
        }

        pub fn u16(&mut self) -> u16 {
            u16::from_le_bytes([self.u8(), self.u8()])
        }
    }

    /// The payload of the record at `lsn`: `len` bytes from `fill`, different at each LSN so
    /// that a record read at the wrong place shows.
    pub fn payload(lsn: u64, len: usize, fill: u8) -> Vec<u8> {
        (0..len)
            .map(|i| fill ^ (lsn as u8) ^ (i as u8).wrapping_mul(31))
            .collect()
    }

    /// Copies every file of `dir` as it is now (through the page cache: what a killed
    /// process leaves) into a new scratch directory. A file that vanishes meanwhile (a
    /// segment being prepared) is left out.
    pub fn copy_dir(dir: &Path) -> tempfile::TempDir {
        let copy = scratch();
        for entry in std::fs::read_dir(dir).expect("list the log directory") {
            let entry = entry.expect("list the log directory");
            let target = copy.path().join(entry.file_name());
            match std::fs::copy(entry.path(), &target) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => panic!("copy {}: {e}", entry.path().display()),
            }
        }
        copy
    }

    /// The segment files of `dir` (`*.seg`), in LSN order.
    pub fn segment_paths(dir: &Path) -> Vec<std::path::PathBuf> {
        let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .expect("list the log directory")
            .map(|entry| entry.expect("list the log directory").path())
            .filter(|path| path.extension().is_some_and(|e| e == "seg"))
            .collect();
        paths.sort();
        paths
    }

    pub mod ops {
        include!("ops_target.rs");
    }

    pub mod repair {
        include!("repair_target.rs");
    }
}
