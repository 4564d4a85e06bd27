//! Snapshots: every table and the audit trail at an LSN, in one checksummed file written
//! atomically (temporary file, fsync, rename, fsync of the directory); loading the newest.
//!
//! File `<dir>/snapshots/<lsn:020>.snap`, little-endian:
//! `"ISTCSNAP"` (8 bytes), version u32 (1), LSN u64, body length u64, body, CRC32 u32 of
//! everything before it. Body: varint table count, then per table its schema, a varint row
//! count and each row's values; then a varint audit count and each entry (fields, LSN).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::codec::{self, Reader};
use super::error::{Error, Result};
use super::migrate::AuditEntry;
use super::table::{Table, Tables};
use crate::Lsn;

const MAGIC: &[u8; 8] = b"ISTCSNAP";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 8 + 4 + 8 + 8;
const SUFFIX: &str = ".snap";
/// Directory of snapshots inside the runtime's directory.
pub const DIR: &str = "snapshots";

/// The state a snapshot holds.
#[derive(Debug)]
pub(crate) struct Snapshot {
    pub lsn: Lsn,
    pub tables: Tables,
    pub audit: Vec<AuditEntry>,
}

/// The file content of a snapshot.
pub(crate) fn encode(lsn: Lsn, tables: &Tables, audit: &[AuditEntry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN + 64 * tables.rows() + 4);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&lsn.0.to_le_bytes());
    out.extend_from_slice(&0u64.to_le_bytes());
    let tables: Vec<&Table> = tables.iter().collect();
    codec::put_varint(&mut out, tables.len() as u64);
    for table in tables {
        codec::put_schema(&mut out, table.schema());
        codec::put_varint(&mut out, table.len() as u64);
        for values in table.iter() {
            codec::put_values(&mut out, values);
        }
    }
    codec::put_varint(&mut out, audit.len() as u64);
    for entry in audit {
        entry.put_fields(&mut out);
        codec::put_varint(&mut out, entry.lsn.0);
    }
    let body_len = (out.len() - HEADER_LEN) as u64;
    out[20..28].copy_from_slice(&body_len.to_le_bytes());
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// Decodes and checks a snapshot file's content.
///
/// # Errors
/// A description of the first problem found.
pub(crate) fn decode(bytes: &[u8]) -> std::result::Result<Snapshot, String> {
    if bytes.len() < HEADER_LEN + 4 {
        return Err(format!("{} bytes is too short for a snapshot", bytes.len()));
    }
    if &bytes[..8] != MAGIC {
        return Err("bad magic".into());
    }
    let (content, crc) = bytes.split_at(bytes.len() - 4);
    let crc = u32::from_le_bytes(crc.try_into().expect("4 bytes"));
    if crc32fast::hash(content) != crc {
        return Err("checksum mismatch".into());
    }
    let u64_at = |at: usize| u64::from_le_bytes(content[at..at + 8].try_into().expect("8"));
    let version = u32::from_le_bytes(content[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(format!("version {version} (this build reads {VERSION})"));
    }
    let lsn = Lsn(u64_at(12));
    if u64_at(20) != (content.len() - HEADER_LEN) as u64 {
        return Err("body length does not match the file".into());
    }
    let mut reader = Reader::new(&content[HEADER_LEN..]);
    let mut tables = Tables::default();
    for _ in 0..reader.count()? {
        let id = tables.define(reader.schema()?);
        let count = reader.count()?;
        // `count` is bounded by the bytes left: every row takes at least one.
        let mut rows = Vec::with_capacity(count);
        for _ in 0..count {
            rows.push(reader.values()?);
        }
        tables.get_mut(id).load_sorted(rows)?;
    }
    let mut audit = Vec::new();
    for _ in 0..reader.count()? {
        let mut entry = AuditEntry::decode(&mut reader, Lsn::ZERO)?;
        entry.lsn = Lsn(reader.varint()?);
        audit.push(entry);
    }
    if !reader.is_empty() {
        return Err("bytes left after the body".into());
    }
    Ok(Snapshot { lsn, tables, audit })
}

/// The path of the snapshot at `lsn`.
pub(crate) fn path(dir: &Path, lsn: Lsn) -> PathBuf {
    dir.join(DIR).join(format!("{:020}{SUFFIX}", lsn.0))
}

/// Writes `bytes` as the snapshot at `lsn`: to a temporary file, fsynced, renamed into
/// place, then the directory fsynced. A crash leaves either no snapshot or a complete one
/// (and maybe a temporary file, replaced by the next attempt).
///
/// # Errors
/// `Error::Io` naming the file.
pub(crate) fn write(dir: &Path, lsn: Lsn, bytes: &[u8]) -> Result<PathBuf> {
    let snapshots = dir.join(DIR);
    crate::disk::file::create_dir_durably(&snapshots)
        .map_err(|(e, path)| Error::io("create directory", path, e))?;
    let target = path(dir, lsn);
    let tmp = target.with_extension("snap.tmp");
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| Error::io("create", &tmp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("write", &tmp, e))?;
    drop(file);
    fs::rename(&tmp, &target).map_err(|e| Error::io("rename", &tmp, e))?;
    sync_dir(&snapshots)?;
    Ok(target)
}

fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// The snapshots in `dir`, newest first.
///
/// # Errors
/// `Error::Io` when the directory cannot be listed.
pub(crate) fn list(dir: &Path) -> Result<Vec<(Lsn, PathBuf)>> {
    let snapshots = dir.join(DIR);
    let entries = match fs::read_dir(&snapshots) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("list", &snapshots, e)),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io("list", &snapshots, e))?;
        let name = entry.file_name();
        let Some(digits) = name.to_str().and_then(|n| n.strip_suffix(SUFFIX)) else {
            continue;
        };
        if digits.len() == 20
            && let Ok(lsn) = digits.parse()
        {
            found.push((Lsn(lsn), entry.path()));
        }
    }
    found.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    Ok(found)
}

/// Reads and checks the snapshot file at `path`.
///
/// # Errors
/// What is wrong with it, for the open report.
pub(crate) fn read(path: &Path) -> std::result::Result<Snapshot, String> {
    let bytes = fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
    decode(&bytes)
}

/// Sets a snapshot aside (renamed with a `.stale` suffix) so it is never loaded again.
///
/// # Errors
/// `Error::Io`.
pub(crate) fn set_aside(path: &Path) -> Result<()> {
    let mut stale = path.as_os_str().to_owned();
    stale.push(".stale");
    fs::rename(path, &stale).map_err(|e| Error::io("rename", path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Removes a snapshot file durably.
///
/// # Errors
/// `Error::Io`.
pub(crate) fn remove(path: &Path) -> Result<()> {
    fs::remove_file(path).map_err(|e| Error::io("remove", path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{ColumnType, Schema, Value};

    fn sample() -> (Tables, Vec<AuditEntry>) {
        let mut tables = Tables::default();
        let id = tables.define(
            Schema::new("t", 2)
                .column("k", ColumnType::U64)
                .nullable_column("s", ColumnType::Str)
                .index("s"),
        );
        for k in 0..50u64 {
            tables
                .get_mut(id)
                .put(vec![Value::U64(k), Value::from(format!("v{k}"))]);
        }
        let audit = vec![AuditEntry {
            table: "t".into(),
            migration: "m".into(),
            from: 1,
            to: 2,
            unix_time_s: 7,
            rows: 50,
            lsn: Lsn(3),
        }];
        (tables, audit)
    }

    #[test]
    fn snapshot_round_trips() {
        let (tables, audit) = sample();
        let bytes = encode(Lsn(9), &tables, &audit);
        let snap = decode(&bytes).unwrap();
        assert_eq!(snap.lsn, Lsn(9));
        assert_eq!(snap.audit, audit);
        let t = snap.tables.named("t").unwrap();
        assert_eq!(t.len(), 50);
        assert_eq!(t.lookup(1, &Value::from("v7")), [&Value::U64(7)]);
    }

    #[test]
    fn every_flipped_byte_is_detected() {
        let (tables, audit) = sample();
        let bytes = encode(Lsn(9), &tables, &audit);
        for at in (0..bytes.len()).step_by(7) {
            let mut damaged = bytes.clone();
            damaged[at] ^= 0x40;
            assert!(decode(&damaged).is_err(), "flip at {at}");
        }
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn write_lists_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let (tables, audit) = sample();
        for lsn in [5, 40, 12] {
            write(dir.path(), Lsn(lsn), &encode(Lsn(lsn), &tables, &audit)).unwrap();
        }
        let found = list(dir.path()).unwrap();
        let lsns: Vec<u64> = found.iter().map(|(l, _)| l.0).collect();
        assert_eq!(lsns, [40, 12, 5]);
        set_aside(&found[0].1).unwrap();
        remove(&found[2].1).unwrap();
        assert_eq!(list(dir.path()).unwrap().len(), 1);
        assert_eq!(read(&found[1].1).unwrap().lsn, Lsn(12));
    }
}
