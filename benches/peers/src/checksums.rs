//! `--checksums`: the cost of one call of each candidate record check, at the sizes that
//! matter (a 20-byte record header, 128 B and 148 B records, a 4 KiB record), measured in one
//! process. It is how the format's record check was chosen (docs/DESIGN_DECISIONS.md).

use std::hint::black_box;
use std::time::Instant;

type Check = fn(&[u8]) -> u32;

/// Built once and cloned per call, as Interstice's version 1 checker does: building a hasher
/// runs CPU feature detection.
static CRC32: std::sync::LazyLock<crc32fast::Hasher> =
    std::sync::LazyLock::new(|| crc32fast::Hasher::new_with_initial(0x1234_5678));

fn crc32(bytes: &[u8]) -> u32 {
    let mut hasher = CRC32.clone();
    hasher.update(bytes);
    hasher.finalize()
}

fn crc32c(bytes: &[u8]) -> u32 {
    crc32c::crc32c_append(0x1234_5678, bytes)
}

fn xxh3(bytes: &[u8]) -> u32 {
    xxhash_rust::xxh3::xxh3_64_with_seed(bytes, 0x1234_5678) as u32
}

/// Nanoseconds per call over `calls` calls at shifting 8-aligned offsets (+4, as a header's
/// checked bytes start), best of `rounds` rounds.
fn per_call(check: Check, buf: &[u8], len: usize, calls: usize, rounds: usize) -> f64 {
    (0..rounds)
        .map(|_| {
            let start = Instant::now();
            let mut acc = 0u32;
            for i in 0..calls {
                let at = (i * 8) % 2048 + 4;
                acc ^= check(black_box(&buf[at..at + len]));
            }
            black_box(acc);
            start.elapsed().as_nanos() as f64 / calls as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// Prints the table (markdown) and returns it.
pub fn run(rounds: usize) -> String {
    let buf: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let checks: [(&str, Check); 3] = [
        ("CRC32 (crc32fast, seeded hasher)", crc32),
        ("CRC32C (crc32c, SSE4.2)", crc32c),
        ("XXH3-64 low 32 bits (xxhash-rust)", xxh3),
    ];
    let sizes = [20usize, 128, 148, 4096];
    let mut out = String::from("| check |");
    for size in sizes {
        out += &format!(" {size} B |");
    }
    out += "\n|---|";
    out += &"---:|".repeat(sizes.len());
    out += "\n";
    for (name, check) in checks {
        out += &format!("| {name} |");
        for size in sizes {
            let calls = if size > 1000 { 200_000 } else { 4_000_000 };
            out += &format!(" {:.1} ns |", per_call(check, &buf, size, calls, rounds));
        }
        out += "\n";
    }
    print!("{out}");
    out
}
