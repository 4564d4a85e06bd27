//! `Shipper`: passes of `ship` run continuously, each as soon as records after the replica's
//! end become durable in the source, until a stop flag is raised.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::report::{Lag, Pass};
use super::source::Source;
use super::{ShipOptions, pass, replica};
use crate::error::{Error, Result};
use crate::follow::FollowMode;
use crate::ids::Lsn;

/// How often a waiting shipper looks at its stop flag (and at the durable LSN).
const STOP_CHECK: Duration = Duration::from_millis(100);

/// Passes that may fail in a row because a file vanished under them (retention removing a
/// segment between the listing and the read) before the shipper gives up.
const RETRIES: u32 = 3;

/// Keeps a replica current: runs a pass of `ship`, waits until records after the replica's
/// end become durable in the source (or the poll interval passes, to notice a rotation or
/// retention), and again, until stopped.
///
/// The replica is a valid log at every instant: a shipper killed at any point leaves one
/// that opens and holds a prefix of the source's durable records, and the next pass (or
/// `ship`) completes it.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::time::Duration;
/// use interstice::ship::Shipper;
/// use interstice::{Log, Lsn, Options};
///
/// # let dir = tempfile::tempdir()?;
/// # let (src, dst) = (dir.path().join("src"), dir.path().join("dst"));
/// let log = Log::open(&src, Options::default())?;
/// let stop = AtomicBool::new(false);
/// std::thread::scope(|scope| {
///     let shipper = scope.spawn(|| {
///         Shipper::new(&src, &dst).run(&stop, |pass| {
///             println!("{} behind", pass.lag.behind);
///         })
///     });
///     for i in 0..10u32 {
///         log.append(&i.to_le_bytes())?;
///         log.sync()?;
///     }
///     // Wait until the replica holds the tenth record, then stop the shipper.
///     let replica_last = || Log::open_read_only(&dst, Options::default()).map(|r| r.last_lsn());
///     while replica_last().ok() < Some(Lsn(10)) {
///         std::thread::sleep(Duration::from_millis(10));
///     }
///     stop.store(true, Ordering::Release);
///     let last = shipper.join().expect("the shipper thread")?;
///     assert_eq!(last.lag.replica_last, Lsn(10));
///     Ok::<(), interstice::Error>(())
/// })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Shipper {
    src: PathBuf,
    dst: PathBuf,
    options: ShipOptions,
    poll: Duration,
}

impl Shipper {
    /// A shipper from the log in `src` to the replica in `dst` (created if missing), with the
    /// default options and a poll interval of one second.
    #[must_use]
    pub fn new(src: impl AsRef<Path>, dst: impl AsRef<Path>) -> Shipper {
        Shipper {
            src: src.as_ref().to_owned(),
            dst: dst.as_ref().to_owned(),
            options: ShipOptions::default(),
            poll: Duration::from_secs(1),
        }
    }

    /// Sets the options of each pass.
    #[must_use]
    pub fn options(mut self, options: ShipOptions) -> Shipper {
        self.options = options;
        self
    }

    /// Sets the longest wait between passes when no record becomes durable: how soon a pass
    /// notices what the writer does not announce (a writer that appeared, retention).
    #[must_use]
    pub fn poll_interval(mut self, poll: Duration) -> Shipper {
        self.poll = poll;
        self
    }

    /// Runs passes until `stop` is raised, calling `on_pass` after each one, and returns the
    /// last. At least one pass runs; a pass under way when `stop` is raised is finished
    /// first. The replica stays locked until it returns.
    ///
    /// # Errors
    /// As `ship`, for the first pass that fails (a pass that fails because a source file
    /// vanished under it is tried again, a few times in a row at most).
    pub fn run(&self, stop: &AtomicBool, mut on_pass: impl FnMut(&Pass)) -> Result<Pass> {
        let mut source = Source::open(&self.src)?;
        let _lock = replica::lock(&self.dst)?;
        let mut last: Option<Pass> = None;
        let mut failures = 0;
        loop {
            match self.pass(&source) {
                Ok(pass) => {
                    failures = 0;
                    on_pass(&pass);
                    last = Some(pass);
                }
                Err(error) if vanished(&error) && failures < RETRIES => failures += 1,
                Err(error) => return Err(error),
            }
            let shipped = last.as_ref().map_or(Lsn::ZERO, |p| p.lag.replica_last);
            if !stop.load(Ordering::Acquire) {
                self.wait(&source, shipped, stop);
            }
            if stop.load(Ordering::Acquire)
                && let Some(pass) = last
            {
                return Ok(pass);
            }
            source = self.reopen(source)?;
        }
    }

    /// One pass from `source`, with the lag after it.
    fn pass(&self, source: &Source) -> Result<Pass> {
        let started = Instant::now();
        let report = pass(source, &self.dst, &self.options)?;
        let lag = Lag::new(source.durable_now(), &report, started.elapsed());
        Ok(Pass { report, lag })
    }

    /// A new snapshot of the source: a read-only log sees only the segments present when it
    /// was opened.
    fn reopen(&self, source: Source) -> Result<Source> {
        drop(source);
        match Source::open(&self.src) {
            Err(error) if vanished(&error) => Source::open(&self.src),
            opened => opened,
        }
    }

    /// Waits until a record after `shipped` is durable in the source, the poll interval
    /// passed, or `stop` is raised.
    fn wait(&self, source: &Source, shipped: Lsn, stop: &AtomicBool) {
        let deadline = Instant::now() + self.poll;
        let durable_past = || source.durable_now().is_some_and(|d| d > shipped);
        // The snapshot hands out the records it holds without asking whether they are
        // durable: follow from past them, so that only the writer's durable LSN wakes it.
        let from = Lsn(shipped.0.max(source.log.last_lsn().0) + 1);
        let mut follower = source
            .has_writer()
            .then(|| source.log.follow(from, FollowMode::Durable));
        loop {
            let now = Instant::now();
            if stop.load(Ordering::Acquire) || now >= deadline || durable_past() {
                return;
            }
            let slice = STOP_CHECK.min(deadline - now);
            let Some(waiting) = &mut follower else {
                std::thread::sleep(slice);
                continue;
            };
            match waiting.next(slice) {
                Ok(None) => {}
                Ok(Some(_)) => return,
                // What it follows is gone (retention, a truncation): the next pass reports
                // it or copes; until then, poll.
                Err(_) => follower = None,
            }
        }
    }
}

/// True when a source file vanished under a pass: a segment removed by retention (or a
/// segment renamed by a rotation) between the listing and the read.
fn vanished(error: &Error) -> bool {
    matches!(error, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
}
