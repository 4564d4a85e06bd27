//! The only place CRC32 is computed. Every checksum is seeded with the segment's binding, so
//! bytes from another segment or another log never validate here.

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

/// A seeded CRC32 whose hasher is built once: cloning it skips the CPU feature detection
/// that building a hasher costs, which matters on the per-record paths.
#[derive(Clone, Debug)]
pub struct Seeded {
    hasher: crc32fast::Hasher,
}

impl Seeded {
    /// A CRC32 continuing from `seed`.
    #[must_use]
    pub fn new(seed: u32) -> Seeded {
        Seeded {
            hasher: crc32fast::Hasher::new_with_initial(seed),
        }
    }

    /// CRC32 of `bytes`, continuing from the seed.
    #[inline]
    #[must_use]
    pub fn crc(&self, bytes: &[u8]) -> u32 {
        let mut hasher = self.hasher.clone();
        hasher.update(bytes);
        hasher.finalize()
    }
}

/// CRC32 of bytes without a segment binding (segment header, footer).
#[must_use]
pub fn plain(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// The running checksum over a segment's records: the CRC of their header checksums in order.
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

    /// Adds one record's header checksum.
    pub fn push(&mut self, header_crc: u32) {
        self.hasher.update(&header_crc.to_le_bytes());
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
    fn seeded_matches_plain_seeded_crc() {
        let seeded = Seeded::new(1234);
        assert_eq!(seeded.crc(b"abc"), crc(1234, b"abc"));
        assert_eq!(seeded.crc(b""), crc(1234, b""));
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
