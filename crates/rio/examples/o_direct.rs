//! rio's O_DIRECT example: 10 × 1024 pairs of a 1 MiB write linked to a read of the same block,
//! with `O_DIRECT` and 4096-aligned buffers, every read checked against what was written.
//!
//! ```text
//! cargo run --release --example o_direct -- [PAIRS] [DIR]
//! ```
//!
//! `PAIRS` (default 10240, or `RIO_O_DIRECT_PAIRS`) is how many write→read pairs to run; `DIR`
//! (default: the current directory) is where the scratch file goes. A file system that refuses
//! `O_DIRECT` (tmpfs before Linux 6.6) makes the example say so and run buffered instead.
//!
//! Unlike rio's original, which wrote 10 GiB, the pairs run in batches of 64 that reuse the same
//! 64 MiB of the file, so the default run needs 64 MiB of disk and about as much memory. Batches
//! alternate between two patterns, so a read that overtook its write would see the previous
//! batch's bytes and fail the check.

use std::fs::OpenOptions;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::Instant;

use rio::{AlignedBuf, Ops, Ordering};

const CHUNK_BYTES: usize = 1 << 20;
const ALIGN_BYTES: usize = 4096;
const BATCH_PAIRS: usize = 64;
const DEFAULT_PAIRS: usize = 10 * 1024;

fn main() {
    if let Err(error) = run() {
        eprintln!("o_direct: {error}");
        std::process::exit(1);
    }
}

fn run() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let pairs = match args.next().or_else(|| std::env::var("RIO_O_DIRECT_PAIRS").ok()) {
        Some(count) => count
            .parse::<usize>()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("PAIRS must be a count, got {count:?}")))?,
        None => DEFAULT_PAIRS,
    };
    let dir = args.next().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));

    let ring = rio::new()?;
    let scratch = tempfile::Builder::new().prefix("rio-o_direct-").tempfile_in(&dir)?;
    let open = |flags| OpenOptions::new().read(true).write(true).custom_flags(flags).open(scratch.path());
    let (file, direct) = match open(libc::O_DIRECT) {
        Ok(file) => (file, true),
        Err(error) if error.raw_os_error() == Some(libc::EINVAL) => {
            eprintln!(
                "o_direct: the file system under {} refuses O_DIRECT (tmpfs before Linux 6.6 does); running buffered instead. \
                 Pass a directory on ext4, xfs or btrfs as the second argument for a real O_DIRECT run.",
                dir.display()
            );
            (open(0)?, false)
        }
        Err(error) => return Err(error),
    };

    let mut patterns = [AlignedBuf::new(ALIGN_BYTES, CHUNK_BYTES)?, AlignedBuf::new(ALIGN_BYTES, CHUNK_BYTES)?];
    patterns[0].fill(0xA5);
    patterns[1].iter_mut().enumerate().for_each(|(i, byte)| *byte = (i % 251) as u8);
    let mut read_bufs = AlignedBuf::new(ALIGN_BYTES, CHUNK_BYTES * BATCH_PAIRS.min(pairs.max(1)))?;

    let started = Instant::now();
    let mut done = 0;
    for batch in 0.. {
        if done == pairs {
            break;
        }
        let count = BATCH_PAIRS.min(pairs - done);
        let written = &patterns[batch % 2][..];
        ring.scope(|s| -> io::Result<()> {
            let mut writes = Vec::with_capacity(count);
            let mut reads = Vec::with_capacity(count);
            for (slot, into) in read_bufs.chunks_mut(CHUNK_BYTES).take(count).enumerate() {
                let at = (slot * CHUNK_BYTES) as u64;
                // The link makes the read start only after this write has completed.
                writes.push(s.ordered(Ordering::Link).write_at(&file, written, at));
                reads.push(s.read_at(&file, into, at));
            }
            for (slot, (write, read)) in writes.into_iter().zip(reads).enumerate() {
                let at = slot * CHUNK_BYTES;
                expect_whole(write.wait().0, "write", at, direct)?;
                expect_whole(read.wait().0, "read", at, direct)?;
            }
            Ok(())
        })?;
        for (slot, read) in read_bufs.chunks(CHUNK_BYTES).take(count).enumerate() {
            if read != written {
                return Err(io::Error::other(format!("pair {}: the read did not see its linked write", done + slot)));
            }
        }
        done += count;
    }
    let elapsed = started.elapsed();
    let mib = (2 * pairs) as f64;
    println!(
        "{pairs} linked 1 MiB write→read pairs ({}, {} backend) in {elapsed:.2?}: {:.0} MiB/s, every read matched its write",
        if direct { "O_DIRECT" } else { "buffered" },
        ring.backend().name(),
        mib / elapsed.as_secs_f64().max(f64::EPSILON),
    );
    Ok(())
}

/// A whole chunk moved, or an error that says which op failed where.
fn expect_whole(result: io::Result<usize>, op: &str, at: usize, direct: bool) -> io::Result<()> {
    match result {
        Ok(CHUNK_BYTES) => Ok(()),
        Ok(short) => Err(io::Error::other(format!("{op} at offset {at} moved {short} of {CHUNK_BYTES} bytes"))),
        Err(error) if direct && error.raw_os_error() == Some(libc::EINVAL) => Err(io::Error::new(
            error.kind(),
            format!("{op} at offset {at}: {error}: the device needs a larger O_DIRECT alignment than {ALIGN_BYTES} bytes"),
        )),
        Err(error) => Err(io::Error::new(error.kind(), format!("{op} at offset {at}: {error}"))),
    }
}
