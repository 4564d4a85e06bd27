//! The only place checksums are computed. Every checksum is seeded with the segment's binding,
//! so bytes from another segment or another log never validate here. Segment headers, footers,
//! indexes and the segment chain use CRC32; record checks use the algorithm of the segment's
//! format version (`RecordCheck`).

/// The seed of every checksum inside one segment: a CRC of the log id and the segment id.
#[must_use]
pub fn segment_seed(log_id: u64, segment_id: u64) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&log_id.to_le_bytes());
    hasher.update(&segment_id.to_le_bytes());
    hasher.finalize()
}

/// CRC32 (IEEE) of `bytes`, continuing from `seed`.
#[must_use]
pub fn crc(seed: u32, bytes: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new_with_initial(seed);
    hasher.update(bytes);
    hasher.finalize()
}

/// The record check of a format version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecordCheck {
    /// Version 1: CRC32 (IEEE), seeded with the binding.
    Crc32,
    /// Version 2: the low 32 bits of XXH3-64 with the binding as its seed. At 20 and 128 bytes
    /// it costs a third and a half of a CRC32 call (docs/PERFORMANCE.md, "Checksums").
    Xxh3,
}

impl RecordCheck {
    /// The check of the segments this build writes (`FORMAT_VERSION`).
    pub const CURRENT: RecordCheck = match RecordCheck::of_version(super::FORMAT_VERSION) {
        Some(check) => check,
        None => panic!("FORMAT_VERSION has no record check"),
    };

    /// The check of format `version`, `None` for a version this build does not know.
    #[must_use]
    pub const fn of_version(version: u32) -> Option<RecordCheck> {
        match version {
            1 => Some(RecordCheck::Crc32),
            2 => Some(RecordCheck::Xxh3),
            _ => None,
        }
    }

    /// Its name, as `interstice inspect` prints it.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            RecordCheck::Crc32 => "crc32",
            RecordCheck::Xxh3 => "xxh3",
        }
    }
}

/// What binds a segment's record checks: the seed (from the log and segment ids) and the check
/// of the segment's format version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Binding {
    /// `segment_seed` of the segment.
    pub seed: u32,
    /// The record check of its format version.
    pub check: RecordCheck,
}

impl Binding {
    /// The binding of a segment written by this build (`FORMAT_VERSION`).
    #[must_use]
    pub const fn current(seed: u32) -> Binding {
        Binding {
            seed,
            check: RecordCheck::CURRENT,
        }
    }

    /// The per-record checker.
    #[must_use]
    pub fn seeded(self) -> Seeded {
        Seeded::new(self)
    }
}

/// A record checker built once per walk or writer: for CRC32, cloning the hasher skips the CPU
/// feature detection that building one costs, which matters on the per-record paths.
#[derive(Clone, Debug)]
pub struct Seeded {
    inner: Inner,
}

#[derive(Clone, Debug)]
enum Inner {
    Crc32(crc32fast::Hasher),
    Xxh3(u64),
}

impl Seeded {
    /// A checker for `binding`.
    #[must_use]
    pub fn new(binding: Binding) -> Seeded {
        let inner = match binding.check {
            RecordCheck::Crc32 => Inner::Crc32(crc32fast::Hasher::new_with_initial(binding.seed)),
            RecordCheck::Xxh3 => Inner::Xxh3(u64::from(binding.seed)),
        };
        Seeded { inner }
    }

    /// The check value of `bytes`.
    #[inline]
    #[must_use]
    pub fn check(&self, bytes: &[u8]) -> u32 {
        match &self.inner {
            Inner::Crc32(hasher) => {
                let mut hasher = hasher.clone();
                hasher.update(bytes);
                hasher.finalize()
            }
            // The low half: XXH3's output bits are all mixed, any 32 of them check as well.
            Inner::Xxh3(seed) => xxhash_rust::xxh3::xxh3_64_with_seed(bytes, *seed) as u32,
        }
    }
}

/// CRC32 of bytes without a segment binding (segment header, footer).
#[must_use]
pub fn plain(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// The running checksum over a segment's records: the CRC of their header checks in order.
/// It lets a footer vouch for every record of the segment without hashing payloads twice.
#[derive(Clone, Debug)]
pub struct Chain {
    hasher: crc32fast::Hasher,
}

impl Chain {
    /// A chain bound to the segment seed.
    #[must_use]
    pub fn new(seed: u32) -> Chain {
        Chain {
            hasher: crc32fast::Hasher::new_with_initial(seed),
        }
    }

    /// Adds one record's header check.
    pub fn push(&mut self, header_check: u32) {
        self.hasher.update(&header_check.to_le_bytes());
    }

    /// The chain's value so far.
    #[must_use]
    pub fn value(&self) -> u32 {
        self.hasher.clone().finalize()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_binds_log_and_segment() {
        assert_ne!(segment_seed(1, 1), segment_seed(1, 2));
        assert_ne!(segment_seed(1, 1), segment_seed(2, 1));
        assert_ne!(crc(segment_seed(1, 1), b"x"), crc(segment_seed(1, 2), b"x"));
    }

    #[test]
    fn version_1_checks_are_seeded_crc32() {
        let seeded = Seeded::new(Binding {
            seed: 1234,
            check: RecordCheck::of_version(1).unwrap(),
        });
        assert_eq!(seeded.check(b"abc"), crc(1234, b"abc"));
        assert_eq!(seeded.check(b""), crc(1234, b""));
    }

    #[test]
    fn version_2_checks_are_seeded_xxh3() {
        let binding = Binding::current(1234);
        assert_eq!(RecordCheck::of_version(2), Some(binding.check));
        assert_eq!(RecordCheck::of_version(3), None);
        let check = binding.seeded().check(b"abc");
        assert_eq!(
            check,
            xxhash_rust::xxh3::xxh3_64_with_seed(b"abc", 1234) as u32
        );
        assert_ne!(check, Binding::current(1235).seeded().check(b"abc"));
        assert_ne!(check, crc(1234, b"abc"));
    }

    #[test]
    fn chain_depends_on_order() {
        let mut a = Chain::new(7);
        a.push(1);
        a.push(2);
        let mut b = Chain::new(7);
        b.push(2);
        b.push(1);
        assert_ne!(a.value(), b.value());
    }
}
