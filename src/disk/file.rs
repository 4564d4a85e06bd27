//! Files: preallocate (fallocate mode 0), fsync a file or a directory, durable rename.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// Creates `path` (which must not exist) and allocates `len` bytes of real blocks for it, so
/// that writing through a mapping of it can never hit a hole on a full disk.
///
/// # Errors
/// `Error::Io` naming the path; the partial file is removed.
pub fn create_preallocated(path: &Path, len: u64) -> Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io("create", path, e))?;
    if let Err(e) = allocate(&file, len).and_then(|()| file.set_len(len)) {
        drop(file);
        let _ = fs::remove_file(path);
        return Err(Error::io("preallocate", path, e));
    }
    Ok(file)
}

/// Allocates real blocks (`fallocate`).
#[cfg(not(miri))]
fn allocate(file: &File, len: u64) -> std::io::Result<()> {
    fs4::FileExt::allocate(file, len)
}

/// Miri has no `fallocate`; its mappings are memory-backed stand-ins, and `set_len` gives the
/// file its length.
#[cfg(miri)]
fn allocate(_file: &File, _len: u64) -> std::io::Result<()> {
    Ok(())
}

/// fsync of a directory, so that entries created, renamed or removed in it are durable.
///
/// # Errors
/// `Error::Io` naming the directory.
pub fn sync_dir(dir: &Path) -> Result<()> {
    // Crash simulations do not model directory entries (every name is taken as durable).
    #[cfg(test)]
    if crate::disk::mmap::shadow::simulated() {
        return Ok(());
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io("fsync directory", dir, e))
}

/// Creates `dir` and any missing parents, and makes each new entry durable: the parent of
/// every directory created is fsynced, from the deepest up. An existing `dir` is left alone.
///
/// # Errors
/// The OS error, and the path it concerns.
pub fn create_dir_durably(dir: &Path) -> std::result::Result<(), (std::io::Error, &Path)> {
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(path) = at.filter(|p| !p.as_os_str().is_empty() && !p.exists()) {
        missing.push(path);
        at = path.parent();
    }
    if missing.is_empty() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| (e, dir))?;
    for created in missing {
        let parent = created
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        File::open(parent)
            .and_then(|d| d.sync_all())
            .map_err(|e| (e, parent))?;
    }
    Ok(())
}

/// Writes a new file durably: write, fsync, then fsync the directory.
///
/// # Errors
/// `Error::Io` naming the path.
pub fn write_new_durably(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| Error::io("create", path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("write", path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Renames `from` to `to` and fsyncs their directory.
///
/// # Errors
/// `Error::Io` naming the source path.
pub fn rename_durably(from: &Path, to: &Path) -> Result<()> {
    fs::rename(from, to).map_err(|e| Error::io("rename", from, e))?;
    sync_dir(to.parent().unwrap_or(Path::new(".")))
}

/// Removes a file and fsyncs its directory.
///
/// # Errors
/// `Error::Io` naming the path.
pub fn remove_durably(path: &Path) -> Result<()> {
    fs::remove_file(path).map_err(|e| Error::io("remove", path, e))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg_attr(miri, ignore = "Miri cannot preallocate blocks")]
    fn preallocated_file_has_its_length_and_blocks() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a");
        let file = create_preallocated(&path, 1 << 20).unwrap();
        let meta = file.metadata().unwrap();
        assert_eq!(meta.len(), 1 << 20);
        assert!(
            meta.blocks() * 512 >= 1 << 20,
            "blocks must be allocated, not sparse"
        );
        assert!(matches!(
            create_preallocated(&path, 10),
            Err(Error::Io { op: "create", .. })
        ));
    }

    #[test]
    fn durable_helpers_work_on_real_files() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        write_new_durably(&a, b"xyz").unwrap();
        let b = dir.path().join("b");
        rename_durably(&a, &b).unwrap();
        assert_eq!(fs::read(&b).unwrap(), b"xyz");
        remove_durably(&b).unwrap();
        assert!(!b.exists());
        let nested = dir.path().join("x/y/z");
        create_dir_durably(&nested).unwrap();
        assert!(nested.is_dir());
        create_dir_durably(&nested).unwrap();
        let file = dir.path().join("x/f");
        fs::write(&file, b"").unwrap();
        let under_a_file = file.join("d");
        let (error, at) = create_dir_durably(&under_a_file).unwrap_err();
        assert_eq!(at, under_a_file.as_path());
        assert_eq!(error.kind(), std::io::ErrorKind::NotADirectory);
    }
}
