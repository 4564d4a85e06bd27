//! `ship` and `Shipper`: keep a replica of a log in another directory, a valid log at every
//! instant, by verified passes of copies.
//!
//! A pass copies what the replica lacks: sealed segments whole, and the source's last
//! segment up to its last commit marker that covers only durable records, into a file of the
//! segment's size that the replica holds as its unsealed last segment. Every copy is written
//! under a temporary name, fsynced, verified by walking every record, then renamed into place
//! and the directory fsynced: a pass killed at any point leaves the replica as it was or with
//! some segments brought up to date, never a half-written segment. A pass re-run copies only
//! what changed. The source is opened read-only: a writer may append to it meanwhile, in this
//! process or another. The replica's write lock is held during a pass, so no writer opens it
//! then; once shipping stops, a writer may open the replica and continue it.
//!
//! [`ship`] runs one pass; [`Shipper::run`] runs passes until told to stop, each as soon as
//! records after the replica's end become durable in the source (docs/REPLICATION.md).

mod replica;
mod report;
mod shipper;
mod source;

use std::fmt;
use std::path::Path;

pub use report::{Action, Lag, Pass, ShipReport, ShippedSegment};
pub use shipper::Shipper;

use crate::error::Result;
use replica::Replica;
use source::Source;

/// How far a pass is, handed to the progress callback after each segment.
#[derive(Clone, Copy, Debug)]
pub struct Progress<'a> {
    /// Segments done in this pass.
    pub done: usize,
    /// Segments the pass goes over.
    pub total: usize,
    /// The segment just done.
    pub segment: &'a ShippedSegment,
}

/// A progress callback.
type OnProgress = dyn Fn(&Progress<'_>) + Send + Sync;

/// Options of `ship` and `Shipper`.
#[derive(Default)]
pub struct ShipOptions {
    progress: Option<Box<OnProgress>>,
}

impl ShipOptions {
    /// The defaults: no progress callback.
    #[must_use]
    pub fn new() -> ShipOptions {
        ShipOptions::default()
    }

    /// Calls `progress` after each segment of a pass (to draw a progress bar).
    #[must_use]
    pub fn on_progress(
        mut self,
        progress: impl Fn(&Progress<'_>) + Send + Sync + 'static,
    ) -> ShipOptions {
        self.progress = Some(Box::new(progress));
        self
    }
}

impl fmt::Debug for ShipOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShipOptions")
            .field("progress", &self.progress.as_ref().map(|_| "callback"))
            .finish()
    }
}

/// Brings the replica in `dst` (created if missing) up to date with the log in `src`, in one
/// pass: what `interstice ship SRC DST` does.
///
/// ```
/// use interstice::ship::{self, ShipOptions};
/// use interstice::{Log, Lsn, Options};
///
/// # let dir = tempfile::tempdir()?;
/// # let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
/// let log = Log::open(&src, Options::default())?;
/// log.append(b"first")?;
/// log.sync()?; // only durable records are shipped
/// let report = ship::ship(&src, &dst, &ShipOptions::new())?;
/// assert_eq!((report.copied, report.shipped_lsn), (1, Some(Lsn(1))));
///
/// // The replica is a log: it opens, and holds what was shipped.
/// let replica = Log::open_read_only(&dst, Options::default())?;
/// assert_eq!(replica.read(Lsn(1))?.as_deref(), Some(&b"first"[..]));
///
/// // A second pass copies only what changed.
/// log.append(b"second")?;
/// log.sync()?;
/// let report = ship::ship(&src, &dst, &ShipOptions::new())?;
/// assert_eq!((report.replaced, report.shipped_lsn), (1, Some(Lsn(2))));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// `Error::NotALog` when `src` is not a log; `Error::Locked` when a writer (or another
/// pass) holds the replica; `Error::ReplicaDiverged` when the replica is not a copy of a
/// prefix of the source (written to since, another log's, or older than the source's first
/// segment); `Error::Corrupt` when a copy does not verify (nothing is replaced then);
/// `Error::Io` naming the file when a read, write, fsync or rename fails.
pub fn ship(src: &Path, dst: &Path, options: &ShipOptions) -> Result<ShipReport> {
    let source = Source::open(src)?;
    let _lock = replica::lock(dst)?;
    pass(&source, dst, options)
}

/// One pass from `source` into `dst`, whose lock the caller holds.
fn pass(source: &Source, dst: &Path, options: &ShipOptions) -> Result<ShipReport> {
    let replica = Replica::list(dst)?;
    replica.check_continuity(source)?;
    let total = source.segments.len();
    let mut shipped = Vec::with_capacity(total);
    for (i, segment) in source.segments.iter().enumerate() {
        let done = replica.ship(source, segment, i + 1 == total)?;
        if let Some(progress) = &options.progress {
            progress(&Progress {
                done: i + 1,
                total,
                segment: &done,
            });
        }
        shipped.push(done);
    }
    Ok(ShipReport::new(
        source.log.dir().to_owned(),
        dst.to_owned(),
        shipped,
    ))
}
