//! The floor: the simplest code doing the same work with no engine, in a file preallocated like
//! Interstice's segments (fallocate).
//!
//! Records are framed as `len: u32, crc32(payload): u32, payload`, padded to 8 bytes.
//! W1/W2: memcpy + crc32fast into a mapping whose pages were faulted in writable before the
//! clock starts, then one `msync`. W3/W4: `pwrite` + `fdatasync`. W5: open + map, then a crc
//! walk over the mapping. W6: no floor.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Instant;

use memmap2::{Mmap, MmapMut};

use crate::workload::{Appended, Durable, Engine, Pool, Replay, touch};

pub struct Floor;

const HEADER: usize = 8;
const FILE: &str = "floor.log";

fn framed(size: usize) -> usize {
    (HEADER + size).div_ceil(8) * 8
}

fn create(dir: &Path, len: usize) -> File {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(dir.join(FILE))
        .expect("floor: create");
    // SAFETY: plain syscall on an open descriptor.
    let rc = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len as libc::off_t) };
    assert_eq!(rc, 0, "floor: fallocate");
    file
}

/// Frames `payload` into `out` (which is `framed(payload.len())` long).
fn frame(out: &mut [u8], payload: &[u8]) {
    out[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    out[4..8].copy_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out[HEADER..HEADER + payload.len()].copy_from_slice(payload);
}

fn pwrite_all(file: &File, bytes: &[u8], offset: usize) {
    // SAFETY: `bytes` is a valid buffer of its length.
    let written = unsafe {
        libc::pwrite(
            file.as_raw_fd(),
            bytes.as_ptr().cast(),
            bytes.len(),
            offset as libc::off_t,
        )
    };
    assert_eq!(written, bytes.len() as isize, "floor: pwrite");
}

fn fdatasync(file: &File) {
    // SAFETY: plain syscall on an open descriptor.
    assert_eq!(
        unsafe { libc::fdatasync(file.as_raw_fd()) },
        0,
        "floor: fdatasync"
    );
}

impl Engine for Floor {
    fn name(&self) -> &'static str {
        "floor"
    }

    fn append_then_sync(&self, dir: &Path, pool: &Pool, n: usize) -> Appended {
        let step = framed(pool.size());
        let len = n * step;
        let file = create(dir, len);
        // SAFETY: the file is ours alone for the run and is not resized while mapped.
        let mut map = unsafe { MmapMut::map_mut(&file) }.expect("floor: mmap");
        for page in (0..len).step_by(4096) {
            // SAFETY: in bounds of the mapping; volatile so the write fault is not elided.
            unsafe { std::ptr::write_volatile(map.as_mut_ptr().add(page), 0) };
        }
        let start = Instant::now();
        for (i, out) in map.chunks_exact_mut(step).enumerate() {
            frame(out, pool.get(i));
        }
        let appends = start.elapsed();
        map.flush().expect("floor: msync");
        Appended {
            appends,
            total: start.elapsed(),
        }
    }

    fn reopen_and_replay(&self, dir: &Path, pool: &Pool, n: usize) -> Replay {
        let step = framed(pool.size());
        let start = Instant::now();
        let file = File::open(dir.join(FILE)).expect("floor: open");
        // SAFETY: nobody writes the file while it is mapped.
        let map = unsafe { Mmap::map(&file) }.expect("floor: mmap");
        let open = start.elapsed();
        let start = Instant::now();
        let (mut count, mut sum) = (0, 0);
        for record in map.chunks_exact(step) {
            let len = u32::from_le_bytes(record[..4].try_into().expect("4 bytes")) as usize;
            let crc = u32::from_le_bytes(record[4..8].try_into().expect("4 bytes"));
            let payload = &record[HEADER..HEADER + len];
            assert_eq!(crc32fast::hash(payload), crc, "floor: crc");
            sum += touch(payload);
            count += 1;
        }
        let replay = start.elapsed();
        assert_eq!(count, n, "floor: replayed count");
        assert_eq!(sum, pool.expected_sum(n), "floor: replayed bytes");
        Replay {
            open: Some(open),
            replay,
        }
    }

    fn durable_each(&self, dir: &Path, pool: &Pool, n: usize) -> Durable {
        // A batch of one: the same calls, each record durable before the next.
        self.batches(dir, pool, n, 1)
    }

    fn batches(&self, dir: &Path, pool: &Pool, n: usize, batch: usize) -> Durable {
        let step = framed(pool.size());
        let file = create(dir, n * step);
        let mut buffer = vec![0; step * batch];
        let mut latencies = Vec::with_capacity(n.div_ceil(batch));
        let start = Instant::now();
        for first in (0..n).step_by(batch) {
            let t = Instant::now();
            let count = batch.min(n - first);
            for (j, out) in buffer.chunks_exact_mut(step).take(count).enumerate() {
                frame(out, pool.get(first + j));
            }
            pwrite_all(&file, &buffer[..count * step], first * step);
            fdatasync(&file);
            latencies.push(t.elapsed().as_nanos() as u64);
        }
        Durable {
            wall: start.elapsed(),
            latencies,
        }
    }

    fn concurrent(&self, _: &Path, _: &Pool, _: usize, _: usize) -> Option<Durable> {
        None
    }
}
