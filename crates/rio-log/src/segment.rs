//! Segment files: naming, creation (preallocated, tmp + rename, directory fsynced), recovery
//! (scan to the first torn or corrupt record and cut the segment there), and reads. Synchronous
//! std IO: these run at open, at a segment roll and for readers; the write path is `writer.rs`.
//! Every IO call has a failpoint (`log::<call>`), for the fault-injection tests.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::format::{self, decode_record, Frame, SegmentHeader, HEADER_BYTES};

/// Fails with the errno a failpoint was configured to return (`return(28)`), if it was.
pub(crate) fn failpoint(name: &str) -> io::Result<()> {
    match fail::eval(name, |errno| errno.and_then(|errno| errno.parse::<i32>().ok()).unwrap_or(libc::EIO)) {
        Some(errno) => Err(io::Error::from_raw_os_error(errno)),
        None => Ok(()),
    }
}

pub(crate) fn segment_path(dir: &Path, base_lsn: u64) -> PathBuf {
    dir.join(format!("{base_lsn:020}.log"))
}

/// The segments in `dir`, by base LSN; stray temporary files from an interrupted roll removed.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    failpoint("log::list")?;
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default().to_string();
        if name.ends_with(".log.tmp") {
            fs::remove_file(&path)?;
        } else if let Some(base) = name.strip_suffix(".log").and_then(|base| base.parse::<u64>().ok()) {
            segments.push((base, path));
        }
    }
    segments.sort();
    Ok(segments)
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    failpoint("log::fsync_dir")?;
    File::open(dir)?.sync_all()
}

/// Opens a segment for the writer: O_DIRECT | O_DSYNC when `direct`.
pub(crate) fn open_for_writing(path: &Path, direct: bool) -> io::Result<File> {
    failpoint("log::open")?;
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    if direct {
        options.custom_flags(libc::O_DIRECT | libc::O_DSYNC);
    }
    options.open(path)
}

/// Creates segment `base_lsn`: zeros written out to `segment_bytes`, header written and synced
/// under a temporary name, renamed into place, the directory synced. A crash at any point leaves
/// either no segment or a whole, empty one.
///
/// The zeros are written, not fallocated: a write into a fallocated (unwritten) extent converts
/// it, a metadata change that makes every fdatasync commit the journal (about 3× slower here),
/// while overwriting written blocks leaves fdatasync only the data to flush.
pub(crate) fn create(dir: &Path, base_lsn: u64, segment_bytes: u64) -> io::Result<PathBuf> {
    let path = segment_path(dir, base_lsn);
    let tmp = path.with_extension("log.tmp");
    failpoint("log::create")?;
    let file = OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&tmp)?;
    let written = (|| {
        failpoint("log::fallocate")?;
        let zeros = vec![0u8; ZERO_CHUNK_BYTES.min(segment_bytes as usize)];
        let mut at = 0;
        while at < segment_bytes {
            let len = zeros.len().min((segment_bytes - at) as usize);
            file.write_all_at(&zeros[..len], at)?;
            at += len as u64;
        }
        failpoint("log::write_header")?;
        file.write_all_at(&SegmentHeader { base_lsn, segment_bytes }.encode(), 0)?;
        failpoint("log::fdatasync")?;
        file.sync_all()
    })();
    if let Err(error) = written {
        drop(fs::remove_file(&tmp));
        return Err(error);
    }
    failpoint("log::rename")?;
    fs::rename(&tmp, &path)?;
    fsync_dir(dir)?;
    Ok(path)
}

/// Bytes of zeros written per call when a segment is made.
const ZERO_CHUNK_BYTES: usize = 1 << 20;

trait RawFdChecked {
    fn as_raw_fd_checked(&self) -> i32;
}

impl RawFdChecked for File {
    fn as_raw_fd_checked(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.as_raw_fd()
    }
}

/// Removes segment files (whole segments below a truncation point) and syncs the directory.
pub(crate) fn remove(dir: &Path, paths: &[PathBuf]) -> io::Result<()> {
    for path in paths {
        failpoint("log::remove")?;
        fs::remove_file(path)?;
    }
    fsync_dir(dir)
}

/// Where a segment's records end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Scanned {
    /// The offset just past the last intact record.
    pub end: u64,
    /// The LSN the next record must have.
    pub next_lsn: u64,
    /// False if the records stopped at something that was neither a record nor zeros.
    pub clean: bool,
    /// The size the segment was preallocated to (from its header).
    pub segment_bytes: u64,
}

/// Reads a whole segment file into memory.
fn read_all(path: &Path) -> io::Result<Vec<u8>> {
    failpoint("log::read")?;
    fs::read(path)
}

/// Reads the intact records of a segment in LSN order, from its header to the first record that
/// is torn, corrupt or missing, calling `visit(lsn, data)` for those at or after `from` until it
/// returns false. None if the segment's header is not intact.
pub(crate) fn scan(path: &Path, base_lsn: u64, from: u64, mut visit: impl FnMut(u64, &[u8]) -> bool) -> io::Result<Option<Scanned>> {
    let bytes = read_all(path)?;
    let Some(header) = SegmentHeader::decode(&bytes).filter(|header| header.base_lsn == base_lsn) else { return Ok(None) };
    let segment_bytes = header.segment_bytes;
    let mut offset = HEADER_BYTES;
    let mut lsn = base_lsn;
    loop {
        match decode_record(&bytes[(offset as usize).min(bytes.len())..], lsn) {
            Frame::Record { data, framed } => {
                if lsn >= from && !visit(lsn, data) {
                    return Ok(Some(Scanned { end: offset + framed as u64, next_lsn: lsn + 1, clean: true, segment_bytes }));
                }
                offset += framed as u64;
                lsn += 1;
            }
            frame => {
                // Padding: zeros up to the next block boundary (fewer than a frame's bytes, at
                // times), and the record expected at that boundary.
                let next_block = format::align_up(offset + 1);
                let padding = &bytes[(offset as usize).min(bytes.len())..(next_block as usize).min(bytes.len())];
                if padding.iter().all(|b| *b == 0) && next_block < bytes.len() as u64 {
                    if let Frame::Record { .. } = decode_record(&bytes[next_block as usize..], lsn) {
                        offset = next_block;
                        continue;
                    }
                }
                // Clean only if nothing but zeros follows: bytes past a hole (a later batch that
                // reached the disk when an earlier one did not) must be cut, or they come back
                // once new records fill the hole.
                let rest = &bytes[(offset as usize).min(bytes.len())..];
                let clean = frame == Frame::Zeros && rest.iter().all(|b| *b == 0);
                return Ok(Some(Scanned { end: offset, next_lsn: lsn, clean, segment_bytes }));
            }
        }
    }
}

/// Cuts a segment at `end`: everything after reads as zeros again (so no stale record past the
/// cut can ever be read back), the size stays preallocated, and the cut is synced.
pub(crate) fn cut(path: &Path, end: u64, segment_bytes: u64) -> io::Result<()> {
    failpoint("log::cut")?;
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(end)?;
    if segment_bytes > end {
        // SAFETY: fallocate takes a descriptor and a range; no memory is involved.
        if unsafe { libc::fallocate(file.as_raw_fd_checked(), 0, end as i64, (segment_bytes - end) as i64) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    file.sync_all()
}
