//! Writing and reading a file through the ring: open, write, fsync, stat, read back (into an owned
//! buffer, then into a borrowed one inside a scope), close.
//!
//! ```text
//! cargo run --example file_io -- [PATH]
//! ```
//!
//! Without `PATH` the file goes in a temp dir and is removed afterwards; with it, the file stays.

use std::io;
use std::path::PathBuf;

use rio::Ops;

fn main() {
    if let Err(error) = run() {
        eprintln!("file_io: {error}");
        std::process::exit(1);
    }
}

fn run() -> io::Result<()> {
    let temp_dir;
    let path = match std::env::args().nth(1) {
        Some(path) => PathBuf::from(path),
        None => {
            temp_dir = tempfile::tempdir()?;
            temp_dir.path().join("file_io.txt")
        }
    };
    let ring = rio::new()?;
    println!("file_io: {} ({} backend)", path.display(), ring.backend().name());

    let file = ring
        .openat(&path, libc::O_CREAT | libc::O_TRUNC | libc::O_RDWR, 0o644)
        .wait()
        .map_err(|error| io::Error::new(error.kind(), format!("opening {}: {error}", path.display())))?;
    let line_of = |number: usize| format!("line {number:3} written through the ring\n").into_bytes();
    let line_bytes = line_of(0).len();
    let text: Vec<u8> = (1..=100).flat_map(line_of).collect();

    // An owned buffer: the ring takes it and gives it back with the result.
    let (written, text) = ring.write_at(&file, text, 0).wait();
    if written? != text.len() {
        return Err(io::Error::other("short write"));
    }
    ring.fsync(&file).wait()?;
    let stat = ring.statx_fd(&file, libc::STATX_SIZE).wait()?;
    println!("file_io: wrote and synced {} bytes", stat.stx_size);

    let (read, back) = ring.read_at(&file, vec![0u8; text.len()], 0).wait();
    let read = read?;
    if back[..read] != text[..] {
        return Err(io::Error::other(format!("read back {read} bytes that differ from what was written")));
    }
    println!("file_io: read back all {read} bytes, identical");

    // A borrowed buffer: allowed inside a scope, which waits for its ops before it returns.
    let mut line = vec![0u8; line_bytes];
    let line_at = (41 * line_bytes) as u64;
    let read = ring.scope(|s| s.read_at(&file, &mut line[..], line_at).wait().0)?;
    print!("file_io: line 42 is: {}", String::from_utf8_lossy(&line[..read]));

    Ops::close(&ring, file).wait()?;
    Ok(())
}
