//! `Options`, `Durability`, `RecoveryMode`, `Retention`: every knob, its default, its bounds.

use crate::error::{Error, Result};
use crate::format;

/// When an appended record becomes durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// The OS writes back when it likes; nothing is flushed on append or on close.
    /// `sync()` still makes everything durable when called.
    None,
    /// Records become durable when the caller calls `sync()` (and on `close()`).
    #[default]
    OnSync,
    /// Every append is durable before it returns. Concurrent appenders share one flush
    /// (group commit): one of them, the leader, flushes for all that wrote before it started.
    EveryAppend,
}

/// What opening for writing does with damage found in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// Discard a torn tail (after saving its bytes to a quarantine file); fail on corruption
    /// with an error naming the file, the byte offset and the last good LSN.
    #[default]
    TolerateTornTail,
    /// Fail on a torn tail as on corruption; change nothing.
    Strict,
    /// Keep every intact record: damaged ranges are saved to quarantine files and replaced by
    /// padding, and what was skipped is listed in the recovery report.
    SkipCorrupt,
}

/// How many threads `Log::replay` uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum ReplayThreads {
    /// The replaying thread checks and hands over every record.
    One,
    /// The walk is cut into pieces (at least 1 MiB each) that a second thread checks ahead
    /// of the one being handed over, which is then walked without computing its checksums
    /// again: the same records, order and errors as `One`, on two cores. Only for a replay
    /// of two pieces or more, and not for a `SkipCorrupt` log (whose walks pass over damage).
    #[default]
    CheckAhead,
}

/// Automatic retention, applied after each rotation. Only whole sealed segments are removed;
/// the active segment is never removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Retention {
    /// Keep at most this many segments (including the active one). Default: no limit.
    pub segments_max: Option<usize>,
    /// Keep at most this many bytes of segment files. Default: no limit.
    pub bytes_max: Option<u64>,
}

/// Options of a log. Build with `Options::default()` and struct update syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Size of each preallocated segment file, a multiple of 4 KiB.
    /// Default: 64 MiB. Bounds: 16 KiB to 4 GiB.
    pub segment_size: u64,
    /// Default: `Durability::OnSync`.
    pub durability: Durability,
    /// Default: `RecoveryMode::TolerateTornTail`.
    pub recovery: RecoveryMode,
    /// Default: keep everything.
    pub retention: Retention,
    /// Largest payload accepted, in bytes; it must fit in one segment.
    /// Default: 16 MiB (clamped to what a segment holds).
    pub record_size_max: u64,
    /// Check every record of every sealed segment, and of a cleanly closed last segment, when
    /// opening (slower open): an open that succeeds then reads nothing damaged. When false,
    /// sealed segments open from their footers, a cleanly closed last segment from its close
    /// summary or record headers, and payloads are checked as they are read. Default: false.
    pub verify_sealed_on_open: bool,
    /// Default: `ReplayThreads::CheckAhead`.
    pub replay: ReplayThreads,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            segment_size: 64 * 1024 * 1024,
            durability: Durability::default(),
            recovery: RecoveryMode::default(),
            retention: Retention::default(),
            record_size_max: 16 * 1024 * 1024,
            verify_sealed_on_open: false,
            replay: ReplayThreads::default(),
        }
    }
}

impl Options {
    /// Checks every option against its bounds.
    ///
    /// # Errors
    /// `Error::InvalidOptions` naming the first option out of range.
    pub fn validate(&self) -> Result<()> {
        if self.segment_size < format::SEGMENT_SIZE_MIN
            || self.segment_size > format::SEGMENT_SIZE_MAX
        {
            return Err(Error::InvalidOptions {
                name: "segment_size",
                reason: format!(
                    "{} is outside {}..={}",
                    self.segment_size,
                    format::SEGMENT_SIZE_MIN,
                    format::SEGMENT_SIZE_MAX
                ),
            });
        }
        if !self.segment_size.is_multiple_of(format::PAGE_SIZE) {
            return Err(Error::InvalidOptions {
                name: "segment_size",
                reason: format!("{} is not a multiple of 4096", self.segment_size),
            });
        }
        if self.record_size_max == 0 {
            return Err(Error::InvalidOptions {
                name: "record_size_max",
                reason: "must be at least 1".into(),
            });
        }
        if self.retention.segments_max == Some(0) {
            return Err(Error::InvalidOptions {
                name: "retention.segments_max",
                reason: "must be at least 1 (the active segment)".into(),
            });
        }
        Ok(())
    }

    /// The largest payload a segment of this size accepts, bounded by `record_size_max`.
    #[must_use]
    pub fn payload_max(&self) -> u64 {
        format::payload_capacity(self.segment_size).min(self.record_size_max)
    }

    /// Checks, before anything is written, that `records` can be appended as one batch to a
    /// log with these options (each within `payload_max`, all within one segment).
    ///
    /// # Errors
    /// `Error::RecordTooLarge` or `Error::BatchTooLarge`, as `Log::append_batch` would.
    pub fn check_batch<T: AsRef<[u8]>>(&self, records: &[T]) -> crate::Result<()> {
        let max = self.payload_max();
        let mut len = 0;
        for record in records {
            let payload = record.as_ref().len();
            if payload as u64 > max {
                return Err(crate::Error::RecordTooLarge {
                    len: payload as u64,
                    max,
                });
            }
            len += format::framed_len(payload);
        }
        let capacity = format::batch_capacity(self.segment_size);
        if len > capacity {
            return Err(crate::Error::BatchTooLarge {
                len: len as u64,
                max: capacity as u64,
            });
        }
        Ok(())
    }

    /// Rounds a requested segment size up to a valid one (a multiple of 4 KiB, at least the
    /// minimum); useful for command-line input.
    #[must_use]
    pub fn round_segment_size(bytes: u64) -> u64 {
        bytes
            .max(format::SEGMENT_SIZE_MIN)
            .div_ceil(format::PAGE_SIZE)
            .saturating_mul(format::PAGE_SIZE)
            .min(format::SEGMENT_SIZE_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Options::default().validate().unwrap();
    }

    #[test]
    fn bad_segment_size_is_rejected() {
        let options = Options {
            segment_size: 5000,
            ..Options::default()
        };
        assert!(matches!(
            options.validate(),
            Err(Error::InvalidOptions {
                name: "segment_size",
                ..
            })
        ));
        assert_eq!(Options::round_segment_size(5000), format::SEGMENT_SIZE_MIN);
        assert_eq!(Options::round_segment_size(70_000), 73_728);
    }
}
