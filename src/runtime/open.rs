//! Opening a runtime: the read-only check that refuses an open before anything is written,
//! the newest usable snapshot, the replay of the log after it, and the migrations.

use std::path::{Path, PathBuf};

use super::error::{Error, Result};
use super::migrate::{self, AuditEntry};
use super::record::{self, Replayed};
use super::schema::Schema;
use super::subscribe::{Commit, ReplayHook};
use super::table::Tables;
use super::{Runtime, RuntimeConfig, snapshot};
use crate::{Durability, Log, Lsn};

/// A snapshot passed over when opening, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotWarning {
    /// The snapshot file.
    pub path: PathBuf,
    /// Why it was not used.
    pub reason: String,
}

/// What opening (or reloading) the runtime did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// The snapshot loaded, if any: its LSN and file.
    pub snapshot: Option<(Lsn, PathBuf)>,
    /// Log records replayed after it.
    pub records_replayed: u64,
    /// Snapshots passed over (damaged, ahead of the log, or no longer followed by the log).
    pub warnings: Vec<SnapshotWarning>,
    /// Tables created because the log did not define them yet.
    pub tables_created: Vec<String>,
    /// Migrations run.
    pub migrations: Vec<AuditEntry>,
    /// How long loading the snapshot and replaying the log took.
    pub replay_time: std::time::Duration,
}

/// The replay flag, set while it lives: lowered on every way out, a replay hook's panic
/// included.
pub(super) struct Replaying<'f>(&'f super::ReplayFlag);

impl<'f> Replaying<'f> {
    pub(super) fn start(flag: &'f super::ReplayFlag) -> Replaying<'f> {
        flag.set(true);
        Replaying(flag)
    }
}

impl Drop for Replaying<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

/// Tables replayed from a log, and where the replay stands.
struct Rebuilt {
    tables: Tables,
    audit: Vec<AuditEntry>,
    report: OpenReport,
    /// Snapshots ahead of the log, for a writer to set aside.
    ahead: Vec<(Lsn, PathBuf)>,
    /// The first LSN the log held.
    first: Lsn,
    /// The last LSN replayed (or the snapshot's).
    last: Lsn,
    /// The upgrade planned over exactly these tables, if one was.
    upgrade: Option<migrate::Upgrade>,
    /// A hash of the record at `last`, when the log holds it: the writable open keeps this
    /// replay only if the log still holds that record (no other process cut and rewrote
    /// the log in between).
    fingerprint: Option<u64>,
}

impl Runtime {
    /// Opens the runtime in `config.dir`: a fresh directory starts empty; otherwise the
    /// newest valid snapshot is loaded and the log after it replayed, reproducing the
    /// acknowledged state. Tables the log does not define yet are created; tables at an
    /// older version are migrated (one atomic batch, audited).
    ///
    /// # Errors
    /// `Error::InvalidSchema`; `Error::Log` from opening the log (locked, corrupt...);
    /// `Error::SchemaTooOld`, `Error::SchemaChanged`, `Error::MissingMigration`,
    /// `Error::MigrationFailed`; `Error::Decode`; `Error::SnapshotGap`.
    pub fn open(config: RuntimeConfig) -> Result<Runtime> {
        validate_schemas(&config.schemas)?;
        validate_typed(&config)?;
        let durability = config.log.durability;
        let mut options = config.log.clone();
        if durability == Durability::EveryAppend {
            // The runtime waits for the flush itself, after letting go of the tables, so
            // that concurrent transactions share it.
            options.durability = Durability::OnSync;
        }
        // Whether the open will be refused (schemas, migrations) is decided on the log as
        // it is, read-only, so that a refused open leaves the directory byte for byte as it
        // was. A new log, or one that needs repair, has nothing to refuse yet: the writable
        // open creates or repairs it.
        let probed = match Log::open_read_only(&config.dir, options.clone()) {
            Ok(log) => Some(Runtime::over(log, durability, config.clone()).probe()?),
            Err(_) => None,
        };
        let log = Log::open(&config.dir, options)?;
        let runtime = Runtime::over(log, durability, config);
        runtime.restore(probed)?;
        Ok(runtime)
    }

    /// Rebuilds the tables from the newest snapshot and the log, as opening does; pending
    /// effects and undelivered events are dropped.
    ///
    /// # Errors
    /// As `open`; on error the tables stay as they were.
    pub fn reload(&self) -> Result<()> {
        self.restore(None)
    }

    /// Replays the (read-only) log and checks that the code's schemas and migrations can
    /// be installed over it, writing nothing.
    fn probe(&self) -> Result<Rebuilt> {
        let started = std::time::Instant::now();
        let replaying = Replaying::start(&self.replaying);
        let probed = self.replay_log().and_then(|mut rebuilt| {
            let upgrade = migrate::plan(&rebuilt.tables, &self.schemas, &self.migrations)?;
            let options = self.log.options();
            options
                .check_batch(&upgrade.records)
                .map_err(|e| too_large(e, &upgrade, options.segment_size))?;
            rebuilt.upgrade = Some(upgrade);
            // Unreadable, it only turns the reuse off.
            rebuilt.fingerprint = self.fingerprint(rebuilt.last).ok().flatten();
            Ok(rebuilt)
        });
        drop(replaying);
        let mut probed = probed?;
        probed.report.replay_time = started.elapsed();
        Ok(probed)
    }

    /// Installs the tables: from `probed` (what a read-only look at the log replayed) and the
    /// records after it when the log still begins where it did and holds at least as much,
    /// else from the newest snapshot and the log.
    fn restore(&self, probed: Option<Rebuilt>) -> Result<()> {
        let mut state = self.state.write();
        let started = std::time::Instant::now();
        let replaying = Replaying::start(&self.replaying);
        self.hub.clear();
        let rebuilt = match probed {
            Some(probed)
                if probed.first == self.log_start()
                    && self.log.last_lsn() >= probed.last
                    && self.fingerprint(probed.last).ok().flatten() == probed.fingerprint =>
            {
                self.replay_after(probed)
            }
            _ => self.replay_log(),
        }
        .and_then(|rebuilt| self.install(rebuilt));
        drop(replaying);
        let Rebuilt {
            tables,
            audit,
            mut report,
            ..
        } = rebuilt?;
        report.replay_time += started.elapsed();
        state.tables = tables;
        state.audit = audit;
        *self.report.lock() = report;
        Ok(())
    }

    /// The newest usable snapshot and the log after it.
    fn replay_log(&self) -> Result<Rebuilt> {
        let mut ahead = Vec::new();
        let mut report = OpenReport::default();
        let (last, tables, audit) = self.load_snapshot(&mut report, Some(&mut ahead))?;
        self.replay_after(Rebuilt {
            tables,
            audit,
            report,
            ahead,
            first: self.log_start(),
            last,
            upgrade: None,
            fingerprint: None,
        })
    }

    /// `rebuilt` with the log's records after its last one replayed on top.
    fn replay_after(&self, mut rebuilt: Rebuilt) -> Result<Rebuilt> {
        let Rebuilt {
            tables,
            audit,
            report,
            last,
            upgrade,
            ..
        } = &mut rebuilt;
        let replayed = self.log.replay(last.next(), |record| {
            *last = record.lsn;
            replay_one(tables, audit, self.on_replay.as_ref(), record)
        })?;
        if replayed > 0 {
            // Planned over fewer records than there are now.
            *upgrade = None;
        }
        report.records_replayed += replayed;
        Ok(rebuilt)
    }

    /// Brings replayed tables to the code's schemas: sets aside snapshots ahead of the log,
    /// appends the migrations' records (one batch, made durable) and installs their tables,
    /// then gives every table its declared indexes and constraints.
    fn install(&self, mut rebuilt: Rebuilt) -> Result<Rebuilt> {
        let Rebuilt {
            tables,
            audit,
            report,
            ahead,
            upgrade,
            ..
        } = &mut rebuilt;
        let upgrade = match upgrade.take() {
            Some(upgrade) => upgrade,
            None => migrate::plan(tables, &self.schemas, &self.migrations)?,
        };
        for (lsn, path) in ahead.drain(..) {
            let last = self.log.last_lsn();
            snapshot::set_aside(&path)?;
            report.warnings.push(SnapshotWarning {
                path,
                reason: format!(
                    "taken at LSN {lsn}, ahead of the log (last LSN {last}); set aside"
                ),
            });
        }
        if !upgrade.records.is_empty() {
            let last = self
                .log
                .append_batch(&upgrade.records)
                .map_err(|e| too_large(e, &upgrade, self.log.options().segment_size))?;
            self.log.sync()?;
            let first = last.0 + 1 - upgrade.records.len() as u64;
            for table in upgrade.tables {
                if tables.named(table.schema().name()).is_none() {
                    report.tables_created.push(table.schema().name().to_owned());
                }
                tables.replace(table);
            }
            for (i, mut entry) in upgrade.audits {
                entry.lsn = Lsn(first + i as u64);
                report.migrations.push(entry.clone());
                audit.push(entry);
            }
        }
        for schema in &self.schemas {
            let id = tables.id(schema.name())?;
            tables.get_mut(id).set_extras(schema)?;
        }
        // Tables declared after open (by a module host) keep their in-memory parts.
        for schema in self.declared.lock().iter() {
            if let Ok(id) = tables.id(schema.name()) {
                let joint = Schema::clone(tables.get(id).schema()).with_extras_added(schema);
                tables.get_mut(id).set_extras(&joint)?;
            }
        }
        Ok(rebuilt)
    }

    /// A hash of the record at `lsn`, if the log holds it.
    fn fingerprint(&self, lsn: Lsn) -> Result<Option<u64>> {
        if lsn < self.log_start() {
            return Ok(None);
        }
        Ok(self
            .log
            .read(lsn)?
            .map(|payload| xxhash_rust::xxh3::xxh3_64(&payload)))
    }

    /// The first LSN the log holds.
    fn log_start(&self) -> Lsn {
        self.log
            .segments()
            .first()
            .map_or(Lsn::FIRST, |s| s.base_lsn)
    }

    /// The newest usable snapshot (LSN, tables, audit trail), or an empty start. Snapshots
    /// ahead of the log go to `ahead`, for a writer to set aside; without `ahead` (a
    /// replica) they are passed over with a warning.
    pub(super) fn load_snapshot(
        &self,
        report: &mut OpenReport,
        mut ahead: Option<&mut Vec<(Lsn, PathBuf)>>,
    ) -> Result<(Lsn, Tables, Vec<AuditEntry>)> {
        let last = self.log.last_lsn();
        let log_start = self.log_start();
        let mut warn = |path: &Path, reason: String| {
            report.warnings.push(SnapshotWarning {
                path: path.to_owned(),
                reason,
            });
        };
        for (lsn, path) in snapshot::list(&self.dir)? {
            if lsn > last {
                if let Some(ahead) = ahead.as_deref_mut() {
                    ahead.push((lsn, path));
                } else {
                    // A replica changes nothing: the writer may have taken it meanwhile.
                    warn(
                        &path,
                        format!("taken at LSN {lsn}, ahead of the log as opened"),
                    );
                }
                continue;
            }
            if lsn.next() < log_start {
                warn(
                    &path,
                    format!("taken at LSN {lsn}, but the log starts at LSN {log_start}"),
                );
                continue;
            }
            match snapshot::read(&path) {
                Ok(snap) if snap.lsn == lsn => {
                    report.snapshot = Some((lsn, path));
                    return Ok((lsn, snap.tables, snap.audit));
                }
                Ok(snap) => warn(&path, format!("holds LSN {} (name says {lsn})", snap.lsn)),
                Err(reason) => warn(&path, reason),
            }
        }
        if log_start > Lsn::FIRST {
            return Err(Error::SnapshotGap {
                first_lsn: log_start,
                snapshot_lsn: Lsn::ZERO,
            });
        }
        Ok((Lsn::ZERO, Tables::default(), Vec::new()))
    }
}

/// A migration batch that does not fit in one segment, as an error naming the migrations and
/// the option that bounds it.
fn too_large(error: crate::Error, upgrade: &migrate::Upgrade, segment_size: u64) -> Error {
    let (crate::Error::BatchTooLarge { len, max } | crate::Error::RecordTooLarge { len, max }) =
        error
    else {
        return error.into();
    };
    let migrations = upgrade
        .audits
        .iter()
        .map(|(_, entry)| format!("{} of table {:?}", entry.migration, entry.table))
        .collect::<Vec<_>>()
        .join(", ");
    Error::MigrationTooLarge {
        migrations,
        len,
        max,
        segment_size,
    }
}

/// Each typed subscriber's table is declared with its type's shape.
pub(super) fn validate_typed(config: &RuntimeConfig) -> Result<()> {
    for expected in &config.typed {
        let declared = config
            .schemas
            .iter()
            .find(|s| s.name() == expected.name())
            .ok_or_else(|| Error::InvalidSchema {
                table: expected.name().to_owned(),
                reason: "a typed subscriber's table must be declared (`.table::<T>()`)".into(),
            })?;
        if let Some(column) = declared.shape_difference(expected) {
            return Err(Error::InvalidSchema {
                table: expected.name().to_owned(),
                reason: format!("declared unlike the typed subscriber's type (column {column})"),
            });
        }
    }
    Ok(())
}

pub(super) fn validate_schemas(schemas: &[Schema]) -> Result<()> {
    for (i, schema) in schemas.iter().enumerate() {
        schema.validate()?;
        if schemas[..i].iter().any(|s| s.name() == schema.name()) {
            return Err(Error::InvalidSchema {
                table: schema.name().to_owned(),
                reason: "declared twice".into(),
            });
        }
    }
    Ok(())
}

/// Applies one replayed record to the tables.
pub(super) fn replay_one(
    tables: &mut Tables,
    audit: &mut Vec<AuditEntry>,
    hook: Option<&ReplayHook>,
    record: crate::Record<'_>,
) -> Result<()> {
    let lsn = record.lsn;
    match record::replayed(lsn, record.payload, tables)? {
        Replayed::Transaction { call, changes } => {
            if let Some(hook) = hook {
                hook(&Commit::of(lsn, tables, &changes, call));
            }
            record::apply(tables, changes);
        }
        Replayed::Schema(schema) => {
            tables.define(schema);
        }
        Replayed::Audit(entry) => audit.push(entry),
    }
    Ok(())
}
