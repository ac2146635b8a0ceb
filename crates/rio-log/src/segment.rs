//! Segment files: naming, creation (preallocated, tmp + rename, directory fsynced), recovery
//! (scan to the first torn or corrupt record and cut the segment there), and reads (from a
//! record found in the segment's sparse index, not from its header). Synchronous
//! std IO: these run at open, at a segment roll and for readers; the write path is `writer.rs`.
//! Every IO call goes through `failpoints::call`.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::failpoints;
use crate::format::{self, decode_record, Frame, SegmentHeader, FRAME_BYTES, HEADER_BYTES, MAX_RECORD_BYTES};

pub(crate) fn segment_path(dir: &Path, base_lsn: u64) -> PathBuf {
    dir.join(format!("{base_lsn:020}.log"))
}

/// The segments in `dir`, by base LSN; stray temporary files from an interrupted roll removed.
pub(crate) fn list(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let listing = || -> io::Result<Vec<PathBuf>> { fs::read_dir(dir)?.map(|entry| Ok(entry?.path())).collect() };
    let mut segments = Vec::new();
    for path in failpoints::call("log::list", listing, || format!("listing the log's directory {}", dir.display()))? {
        let name = path.file_name().and_then(|name| name.to_str()).unwrap_or_default();
        if name.ends_with(".log.tmp") {
            failpoints::call("log::tmp_remove", || fs::remove_file(&path), || format!("removing {}, left by an interrupted roll", path.display()))?;
        } else if let Some(base) = name.strip_suffix(".log").and_then(|base| base.parse::<u64>().ok()) {
            segments.push((base, path));
        }
    }
    segments.sort();
    Ok(segments)
}

/// Syncs the directory, so that segments made or removed there stay so.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    let opened = failpoints::call("log::dir_open", || File::open(dir), || format!("opening the log's directory {} to sync it", dir.display()))?;
    failpoints::call("log::dir_sync", || opened.sync_all(), || format!("syncing the log's directory {}", dir.display()))
}

/// Opens a segment for the writer: O_DIRECT | O_DSYNC when `direct`.
pub(crate) fn open_for_writing(path: &Path, direct: bool) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    if direct {
        options.custom_flags(libc::O_DIRECT | libc::O_DSYNC);
    }
    failpoints::call("log::segment_open", || options.open(path), || format!("opening segment {} to write it", path.display()))
}

/// Creates segment `base_lsn`: zeros written out to `segment_bytes`, header written and synced
/// under a temporary name, renamed into place, the directory synced. A crash at any point leaves
/// either no segment or a whole, empty one.
///
/// The zeros are written, not fallocated: a write into a fallocated (unwritten) extent converts
/// it, a metadata change that makes every fdatasync commit the journal (about 3× slower here),
/// while overwriting written blocks leaves fdatasync only the data to flush.
pub(crate) fn create(dir: &Path, base_lsn: u64, segment_bytes: u64) -> io::Result<PathBuf> {
    let tmp = segment_path(dir, base_lsn).with_extension("log.tmp");
    let blank = Blank::make(tmp, segment_bytes, &ROLL_CALLS)?;
    blank.into_segment(dir, base_lsn)
}

/// A file of zeros the size of a segment, without a header, under a `.log.tmp` name (so an open
/// removes it): a segment but for its header and name. Made at a roll, or ahead of one on a
/// thread of its own (a spare, see `writer.rs`), so a roll need not wait for 64 MiB of zeros.
pub(crate) struct Blank {
    tmp: PathBuf,
    file: File,
    segment_bytes: u64,
}

/// The failpoints of making a blank file: create, write zeros, sync.
pub(crate) struct BlankCalls(&'static str, &'static str, &'static str);

/// A blank made at the roll that needs it.
pub(crate) const ROLL_CALLS: BlankCalls = BlankCalls("log::segment_create", "log::segment_zero", "log::segment_sync");
/// A spare, made ahead of the roll.
pub(crate) const SPARE_CALLS: BlankCalls = BlankCalls("log::spare_create", "log::spare_zero", "log::spare_sync");

/// The name a spare is made under: one at a time per log.
pub(crate) fn spare_path(dir: &Path) -> PathBuf {
    dir.join("spare.log.tmp")
}

impl Blank {
    /// Writes `segment_bytes` of zeros to a new `tmp` and syncs them; on failure removes `tmp`
    /// (best effort: the next open removes what is left).
    pub(crate) fn make(tmp: PathBuf, segment_bytes: u64, calls: &BlankCalls) -> io::Result<Blank> {
        let BlankCalls(create, zero, sync) = *calls;
        let file = failpoints::call(create, || OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&tmp), || format!("creating segment {}", tmp.display()))?;
        let written = (|| {
            let zeros = vec![0u8; ZERO_CHUNK_BYTES.min(segment_bytes as usize)];
            let mut at = 0;
            while at < segment_bytes {
                let len = zeros.len().min((segment_bytes - at) as usize);
                failpoints::call(zero, || file.write_all_at(&zeros[..len], at), || format!("writing zeros to the new segment {}", tmp.display()))?;
                at += len as u64;
            }
            failpoints::call(sync, || file.sync_all(), || format!("syncing the new segment {}", tmp.display()))
        })();
        let blank = Blank { tmp, file, segment_bytes };
        match written {
            Ok(()) => Ok(blank),
            Err(error) => Err(blank.discard(error)),
        }
    }

    /// Makes the blank segment `base_lsn`: header written and synced, renamed into place, the
    /// directory synced.
    pub(crate) fn into_segment(self, dir: &Path, base_lsn: u64) -> io::Result<PathBuf> {
        let header = SegmentHeader { base_lsn, segment_bytes: self.segment_bytes }.encode();
        let tmp = &self.tmp;
        let written = failpoints::call("log::segment_header", || self.file.write_all_at(&header, 0), || format!("writing the header of the new segment {}", tmp.display()))
            .and_then(|()| failpoints::call("log::segment_header_sync", || self.file.sync_all(), || format!("syncing the new segment {}", tmp.display())));
        if let Err(error) = written {
            return Err(self.discard(error));
        }
        let path = segment_path(dir, base_lsn);
        failpoints::call("log::segment_rename", || fs::rename(tmp, &path), || format!("renaming the new segment {} into place", tmp.display()))?;
        sync_dir(dir)?;
        Ok(path)
    }

    /// Removes the file, best effort: the next open removes what is left.
    pub(crate) fn remove(self) {
        drop(failpoints::call("log::segment_tmp_cleanup", || fs::remove_file(&self.tmp), String::new));
    }

    /// `remove`, giving back `error`.
    fn discard(self, error: io::Error) -> io::Error {
        self.remove();
        error
    }
}

/// Bytes of zeros written per call when a segment is made.
const ZERO_CHUNK_BYTES: usize = 1 << 20;

/// Unlinks a segment file (without syncing the directory).
pub(crate) fn remove_file(path: &Path) -> io::Result<()> {
    failpoints::call("log::segment_remove", || fs::remove_file(path), || format!("removing segment {}", path.display()))
}

/// Removes segment files and syncs the directory.
pub(crate) fn remove(dir: &Path, paths: &[PathBuf]) -> io::Result<()> {
    paths.iter().try_for_each(|path| remove_file(path))?;
    sync_dir(dir)
}

/// Where a record starts: its LSN and its offset in the segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Position {
    pub lsn: u64,
    pub offset: u64,
}

/// The bytes between entries of a segment's sparse index: a read starts at most this far (and
/// one record) before the record it wants.
const INDEX_STRIDE_BYTES: u64 = 64 << 10;

/// Where some of a segment's records start: the first record starting in each
/// `INDEX_STRIDE_BYTES` of the file (1024 entries for a 64 MiB segment). Built by recovery's
/// scan and, for what is written later, by the writer as batches become durable; a read seeks
/// here instead of walking every record from the header.
#[derive(Debug, Clone)]
pub(crate) struct SparseIndex {
    /// In LSN (and offset) order; the first is the segment's first record, at the header's end.
    entries: Vec<Position>,
}

impl SparseIndex {
    pub(crate) fn new(base_lsn: u64) -> SparseIndex {
        SparseIndex { entries: vec![Position { lsn: base_lsn, offset: HEADER_BYTES }] }
    }

    /// Notes a durable record, if it is the first one seen to start in its stretch of the file.
    /// Records must be noted in LSN order.
    pub(crate) fn note(&mut self, record: Position) {
        let last = self.entries.last().expect("an index has its first entry");
        if record.offset / INDEX_STRIDE_BYTES > last.offset / INDEX_STRIDE_BYTES {
            self.entries.push(record);
        }
    }

    /// The records of a batch the index may want (the first, and the first starting in each
    /// stretch): what `note` is given, found without holding the segments' lock.
    pub(crate) fn candidates(first: Position, frames: &[u8]) -> Vec<Position> {
        let mut candidates = vec![first];
        let (mut at, mut lsn) = (format::framed_len_at(frames, 0), first.lsn + 1);
        while at < frames.len() {
            let offset = first.offset + at as u64;
            if offset / INDEX_STRIDE_BYTES > candidates.last().expect("the first").offset / INDEX_STRIDE_BYTES {
                candidates.push(Position { lsn, offset });
            }
            at += format::framed_len_at(frames, at);
            lsn += 1;
        }
        candidates
    }

    /// Where to start reading for record `lsn`: the last entry at or before it.
    pub(crate) fn seek(&self, lsn: u64) -> Position {
        self.entries[self.entries.partition_point(|entry| entry.lsn <= lsn).saturating_sub(1)]
    }
}

/// The most a read from a segment file asks the kernel for (unless a record needs more).
const MAX_WINDOW_BYTES: usize = 4 << 20;

/// A record read from a segment: intact (its CRC checked) and the LSN expected there.
struct Record<'a> {
    at: Position,
    data: &'a [u8],
}

/// Reads a segment's records in order, from a known record boundary, through a window of the
/// file that moves forward as it goes: nothing before the start or past the limit is read, and
/// nothing twice but the start of a record the window cut. Nothing is returned unless its
/// frame, LSN and CRC check out.
struct Records {
    path: PathBuf,
    file: File,
    /// The file's bytes from `window_offset`.
    window: Vec<u8>,
    window_offset: u64,
    /// How much a read of the file asks for, at least.
    window_bytes: usize,
    /// No byte at or past this is read: the file's size, or where the durable records end.
    limit: u64,
    /// Where the next record should start, and the LSN it must have.
    next: Position,
}

impl Records {
    fn open(path: &Path, next: Position, limit: Option<u64>, window_bytes: usize) -> io::Result<Records> {
        let file = failpoints::call("log::read_open", || File::open(path), || format!("opening segment {} to read it", path.display()))?;
        let limit = match limit {
            Some(limit) => limit,
            None => failpoints::call("log::read_stat", || file.metadata(), || format!("reading the size of segment {}", path.display()))?.len(),
        };
        Ok(Records { path: path.to_path_buf(), file, window: Vec::new(), window_offset: 0, window_bytes, limit, next })
    }

    /// The file's bytes at `at..at + len`, or fewer where the limit (or the file) ends first.
    fn bytes(&mut self, at: u64, len: usize) -> io::Result<&[u8]> {
        let end = at.saturating_add(len as u64).min(self.limit).max(at);
        if at < self.window_offset || end > self.window_offset + self.window.len() as u64 {
            let read_end = at.saturating_add(len.max(self.window_bytes) as u64).min(self.limit).max(at);
            self.window.resize((read_end - at) as usize, 0);
            let mut filled = 0;
            while filled < self.window.len() {
                let offset = at + filled as u64;
                let read = failpoints::call(
                    "log::read",
                    || self.file.read_at(&mut self.window[filled..], offset),
                    || format!("reading segment {} at offset {offset}", self.path.display()),
                );
                match read {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(error) => return Err(error),
                }
            }
            self.window.truncate(filled);
            self.window_offset = at;
        }
        let from = (at - self.window_offset) as usize;
        let to = ((end - self.window_offset) as usize).min(self.window.len()).max(from);
        Ok(&self.window[from..to])
    }

    /// Whether the bytes at `from..to` (as far as the limit) are all zeros.
    fn zeros(&mut self, from: u64, to: u64) -> io::Result<bool> {
        let mut at = from;
        while at < to.min(self.limit) {
            let chunk = self.bytes(at, (to - at).min(self.window_bytes as u64) as usize)?;
            if chunk.is_empty() {
                break;
            }
            if chunk.iter().any(|b| *b != 0) {
                return Ok(false);
            }
            at += chunk.len() as u64;
        }
        Ok(true)
    }

    /// The framed length of the intact record `lsn` at `at`, if that is what is there.
    fn framed_at(&mut self, at: u64, lsn: u64) -> io::Result<Option<usize>> {
        let frame = self.bytes(at, FRAME_BYTES)?;
        if frame.len() < FRAME_BYTES {
            return Ok(None);
        }
        let len = u32::from_le_bytes(frame[0..4].try_into().expect("4 bytes")) as usize;
        if len > MAX_RECORD_BYTES {
            return Ok(None);
        }
        Ok(match decode_record(self.bytes(at, format::framed_len(len))?, lsn) {
            Frame::Record { framed, .. } => Some(framed),
            Frame::Zeros | Frame::Invalid => None,
        })
    }

    /// The next record, or None where the records stop (`next` stays there).
    fn next_record(&mut self) -> io::Result<Option<Record<'_>>> {
        let Position { lsn, offset } = self.next;
        let (at, framed) = match self.framed_at(offset, lsn)? {
            Some(framed) => (offset, framed),
            None => {
                // Padding: zeros up to the next block boundary (fewer than a frame's bytes, at
                // times), and the record expected at that boundary.
                let next_block = format::align_up(offset + 1);
                if !self.zeros(offset, next_block)? {
                    return Ok(None);
                }
                match self.framed_at(next_block, lsn)? {
                    Some(framed) => (next_block, framed),
                    None => return Ok(None),
                }
            }
        };
        self.next = Position { lsn: lsn + 1, offset: at + framed as u64 };
        let data = &self.bytes(at, framed)?[FRAME_BYTES..];
        Ok(Some(Record { at: Position { lsn, offset: at }, data }))
    }
}

/// What recovery found in a segment.
#[derive(Debug, Clone)]
pub(crate) struct Scanned {
    /// Just past the last intact record: where it ends, and the LSN the next record must have.
    pub end: Position,
    /// False if the records stopped at something that was neither a record nor zeros, or
    /// anything but zeros follows.
    pub clean: bool,
    /// The size the segment was preallocated to (from its header).
    pub segment_bytes: u64,
    pub index: SparseIndex,
}

/// Recovery's pass over a segment: its header, then its intact records in LSN order up to the
/// first that is torn, corrupt or missing, and whether only zeros follow. None if the header is
/// not intact.
pub(crate) fn scan(path: &Path, base_lsn: u64) -> io::Result<Option<Scanned>> {
    let mut records = Records::open(path, Position { lsn: base_lsn, offset: HEADER_BYTES }, None, MAX_WINDOW_BYTES)?;
    let header = SegmentHeader::decode(records.bytes(0, HEADER_BYTES as usize)?);
    let Some(header) = header.filter(|header| header.base_lsn == base_lsn) else { return Ok(None) };
    let mut index = SparseIndex::new(base_lsn);
    while let Some(record) = records.next_record()? {
        index.note(record.at);
    }
    let end = records.next;
    // Clean only if nothing but zeros follows: bytes past a hole (a later batch that reached the
    // disk when an earlier one did not) must be cut, or they come back once new records fill the
    // hole.
    let clean = records.zeros(end.offset, u64::MAX)?;
    Ok(Some(Scanned { end, clean, segment_bytes: header.segment_bytes, index }))
}

/// Reads a segment's durable records from `start` (a record boundary: an index entry) to `end`
/// (where its durable records end), calling `visit(lsn, data)` until it returns false; returns
/// where it stopped (the record refused, or the end of the last one). `wanted_bytes` is about
/// how much of the records the caller will take (it sizes the reads of the file). Every
/// byte up to `end` was checked at recovery or written since, so a record that does not check
/// out there means the file changed under the log: an error, never a gap or a bad record.
pub(crate) fn read(path: &Path, start: Position, end: u64, wanted_bytes: usize, mut visit: impl FnMut(u64, &[u8]) -> bool) -> io::Result<Position> {
    // The index entry is up to a stride before the first record wanted.
    let window_bytes = wanted_bytes.saturating_add(INDEX_STRIDE_BYTES as usize).min(MAX_WINDOW_BYTES);
    let mut records = Records::open(path, start, Some(end), window_bytes)?;
    while records.next.offset < end {
        let Some(record) = records.next_record()? else {
            let Position { lsn, offset } = records.next;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: record {lsn} at offset {offset} is torn or corrupt, though it was durable: the file changed after the log recovered it", path.display()),
            ));
        };
        let at = record.at;
        if !visit(at.lsn, record.data) {
            return Ok(at);
        }
    }
    Ok(records.next)
}

/// Cuts a segment at `end`: everything after reads as zeros again (so no stale record past the
/// cut can ever be read back), the size stays preallocated, and the cut is synced.
pub(crate) fn cut(path: &Path, end: u64, segment_bytes: u64) -> io::Result<()> {
    let doing = |what: &str| format!("{what} segment {} (cutting it at offset {end})", path.display());
    let file = failpoints::call("log::cut_open", || OpenOptions::new().write(true).open(path), || doing("opening"))?;
    failpoints::call("log::cut_truncate", || file.set_len(end), || doing("truncating"))?;
    if segment_bytes > end {
        let preallocate = || {
            // SAFETY: fallocate takes a descriptor and a range; no memory is involved.
            match unsafe { libc::fallocate(file.as_raw_fd(), 0, end as i64, (segment_bytes - end) as i64) } {
                0 => Ok(()),
                _ => Err(io::Error::last_os_error()),
            }
        };
        failpoints::call("log::cut_fallocate", preallocate, || doing("preallocating"))?;
    }
    failpoints::call("log::cut_sync", || file.sync_all(), || doing("syncing"))
}
