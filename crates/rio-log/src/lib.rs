//! rio-log: a segmented, crash-safe, group-committed log on rio — the core of a storage engine's
//! write path.
//!
//! ```no_run
//! use rio_log::{Log, LogOptions, Notice};
//! let log = Log::open("/tmp/wal".as_ref(), LogOptions::default(), Box::new(|_: Notice| {}))?;
//! let appended = log.append(b"put k v")?;     // queued; durable once a Notice says so
//! log.wait_durable(appended)?;                 // or block until it is
//! for (lsn, data) in log.read(1, usize::MAX)? { println!("{lsn}: {data:?}"); }
//! log.close()?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! - **Records** get consecutive LSNs from 1, and a frame with length, LSN and CRC32C
//!   (`format.rs`). **Segments** are preallocated files named by their first LSN, created by
//!   tmp + rename with the directory fsynced (`segment.rs`).
//! - **Group commit** (`writer.rs`): a writer thread takes everything appended since its last
//!   batch into one write linked to one fdatasync (or one O_DIRECT | O_DSYNC write with
//!   `direct`), with several batches in flight; the durable LSN moves over a contiguous prefix.
//! - **Recovery** on open scans to the first torn or corrupt record and cuts the log there, so
//!   no byte whose CRC failed, and nothing after a gap, is ever returned.
//! - **Reads** start from a sparse index of record offsets per segment (built by recovery and
//!   as batches become durable), so reading a log in chunks reads each byte about once.
//! - **One writer per directory**, enforced with an flock'd `LOCK` file.
//! - **Faults**: an IO error fails the affected appends (and those after them), which the
//!   listener hears as `Notice::Failed`; the log stays readable up to its last durable record
//!   and goes on from there. Every IO call has a failpoint of its own ([`failpoints`]), and an
//!   error from one says what the log was doing ([`os_error`] finds the errno behind it).

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

pub mod failpoints;
mod format;
mod segment;
mod writer;

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

pub use format::MAX_RECORD_BYTES;

/// A log sequence number: records are numbered from 1, without gaps.
pub type Lsn = u64;

/// How many failures the log has handed LSNs out again after. An LSN names one append only
/// together with its epoch: after a failure, the failed LSNs go to new appends.
pub type Epoch = u64;

/// Where an append went: its LSN, in an epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The (first) record's LSN.
    pub lsn: Lsn,
    /// The epoch it was appended in.
    pub epoch: Epoch,
}

/// What the writer thread reports to the listener given to [`Log::open`].
#[derive(Debug)]
pub enum Notice {
    /// Every record up to and including this LSN is durable.
    Durable(Lsn),
    /// The records `first..=last` of `epoch` failed (an IO error, or one before them did) and are
    /// not in the log; their LSNs will be handed out again, in the next epoch. Unless the log
    /// could not cut off the bytes they may have left: then it refuses appends until it is
    /// reopened, and a reopen can find some of these records intact (their outcome is unknown).
    Failed {
        /// The epoch the failed appends were made in.
        epoch: Epoch,
        /// The first failed LSN.
        first: Lsn,
        /// The last LSN handed out when the failure was handled.
        last: Lsn,
        /// What failed.
        error: io::Error,
    },
}

/// How a log is opened.
#[derive(Clone, Debug)]
pub struct LogOptions {
    /// The size segments are preallocated to (the default is 64 MiB; at least 64 KiB).
    pub segment_bytes: u64,
    /// Write with O_DIRECT | O_DSYNC (whole 4 KiB blocks: each batch writes the partly filled
    /// block the last one ended in again, ahead of its own records) instead of a buffered write
    /// linked to an fdatasync. The default: with 64 appenders of 128 B it commits about 1.3× as
    /// many records a second on the dev machine (a durable 8 KiB write there takes ~160 µs this
    /// way, ~230 µs as a write + fdatasync on the ring).
    pub direct: bool,
    /// With `direct`, where the directory's file system refuses O_DIRECT (tmpfs, some FUSE and
    /// network file systems), write buffered + fdatasync instead of failing to open; the default.
    /// `Log::direct` says which the log does.
    pub direct_fallback: bool,
    /// Batches in flight at once. 1 (the default) measured best with 64 appenders of 128 B on
    /// the dev machine: one batch's fdatasync gathers everything appended meanwhile into the next
    /// batch, where a deeper pipeline spends more syncs on smaller batches (and O_DIRECT | O_DSYNC
    /// writes scaled no better).
    pub pipeline: usize,
    /// The ring's backend.
    pub backend: rio::Backend,
}

impl Default for LogOptions {
    fn default() -> LogOptions {
        LogOptions { segment_bytes: 64 << 20, direct: true, direct_fallback: true, pipeline: 1, backend: rio::Backend::Auto }
    }
}

/// A segment as readers and truncation see it.
#[derive(Clone, Debug)]
pub(crate) struct SegmentInfo {
    pub base_lsn: Lsn,
    pub path: PathBuf,
    /// The offset past its last durable record.
    pub end: u64,
    /// Where some of its durable records start, for reads.
    pub index: segment::SparseIndex,
}

impl SegmentInfo {
    pub(crate) fn new(base_lsn: Lsn, path: PathBuf) -> SegmentInfo {
        SegmentInfo { base_lsn, path, end: format::HEADER_BYTES, index: segment::SparseIndex::new(base_lsn) }
    }
}

/// Appends not yet taken by the writer, and the LSN counter.
pub(crate) struct Queue {
    /// Framed records, in LSN order, from `pending_first_lsn`.
    pub pending: Vec<u8>,
    pub pending_first_lsn: Lsn,
    /// The LSN the next append gets.
    pub next_lsn: Lsn,
    /// The last LSN taken into a batch.
    pub writing_up_to: Lsn,
    pub closed: bool,
    /// Set when the log could not be made safe after a failure: it must be reopened.
    pub broken: Option<String>,
    pub epoch: Epoch,
    /// Every failure so far: in which epoch, from which LSN.
    pub failures: Vec<(Epoch, Lsn)>,
}

/// What the handle and the writer thread share.
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub options: LogOptions,
    pub queue: Mutex<Queue>,
    /// Wakes the writer: an eventfd it polls beside its ring.
    pub wake: OwnedFd,
    /// The writer is asleep (or about to be) in `poll`: only then need an append write `wake`.
    /// A write costs the appender a syscall, and the writer is mostly awake, watching `appended`.
    pub writer_asleep: AtomicBool,
    /// Records appended since the log opened, a count never reset (LSNs are, after a failure):
    /// the writer watches it while it gathers a batch (see `Writer::gather`) without taking the
    /// queue's lock.
    pub appended: AtomicU64,
    pub segments: Mutex<Vec<SegmentInfo>>,
    durable: Mutex<Lsn>,
    durable_changed: Condvar,
    pub listener: Box<dyn Fn(Notice) + Send + Sync>,
}

impl Shared {
    pub(crate) fn set_durable(&self, lsn: Lsn) {
        *self.durable.lock().unwrap() = lsn;
        self.durable_changed.notify_all();
    }

    /// A batch of segment `base_lsn` is durable: its records end at `end`, and `indexed` are
    /// the index's candidates among them (`SparseIndex::candidates`).
    pub(crate) fn batch_durable(&self, base_lsn: Lsn, end: u64, indexed: &[segment::Position]) {
        if let Some(segment) = self.segments.lock().unwrap().iter_mut().find(|segment| segment.base_lsn == base_lsn) {
            segment.end = segment.end.max(end);
            for &record in indexed {
                segment.index.note(record);
            }
        }
    }

    /// Where the durable record `lsn` (or the first one after it, or the log's first) is to be
    /// found: its segment's base LSN and path, a record boundary at or before it there, and where
    /// that segment's durable records end.
    fn locate(&self, lsn: Lsn) -> (Lsn, PathBuf, segment::Position, u64) {
        let segments = self.segments.lock().unwrap();
        let segment = &segments[segments.iter().rposition(|segment| segment.base_lsn <= lsn).unwrap_or(0)];
        (segment.base_lsn, segment.path.clone(), segment.index.seek(lsn), segment.end)
    }

    /// Drops the segments after `base_lsn` (made for batches that failed).
    pub(crate) fn drop_segments_after(&self, base_lsn: Lsn) -> io::Result<()> {
        let mut segments = self.segments.lock().unwrap();
        let later: Vec<PathBuf> = segments.iter().filter(|segment| segment.base_lsn > base_lsn).map(|segment| segment.path.clone()).collect();
        segments.retain(|segment| segment.base_lsn <= base_lsn);
        if later.is_empty() {
            return Ok(());
        }
        segment::remove(&self.dir, &later)
    }

    fn wake_writer(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to the wake eventfd.
        unsafe { libc::write(self.wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }
}

/// An open log. Appends from any thread; one writer thread commits them.
pub struct Log {
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// The flock'd LOCK file: one writer per directory (released by `close`).
    lock: Mutex<Option<File>>,
}

fn invalid(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

/// An IO error, with what the log was doing when it happened.
#[derive(Debug)]
pub(crate) struct Doing {
    doing: String,
    error: io::Error,
}

impl Doing {
    /// `error`, of the same kind, saying `"{doing}: {error}"`.
    pub(crate) fn wrap(doing: String, error: io::Error) -> io::Error {
        io::Error::new(error.kind(), Doing { doing, error })
    }
}

impl fmt::Display for Doing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.doing, self.error)
    }
}

impl std::error::Error for Doing {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.error)
    }
}

/// The OS error (errno) behind an error of the log, if there is one. The log's IO errors say
/// what it was doing, which hides the errno from `raw_os_error`.
pub fn os_error(error: &io::Error) -> Option<i32> {
    error.raw_os_error().or_else(|| error.get_ref()?.downcast_ref::<Doing>().and_then(|doing| os_error(&doing.error)))
}

/// Takes the directory's lock, or says who (which pid) holds it.
fn lock(dir: &Path) -> io::Result<File> {
    let path = dir.join("LOCK");
    let mut file = failpoints::call(
        "log::lock_open",
        || OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path),
        || format!("opening {}", path.display()),
    )?;
    let flocked = failpoints::call(
        "log::lock_flock",
        || {
            // SAFETY: flock takes a descriptor and flags; no memory is involved.
            match unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } {
                0 => Ok(()),
                _ => Err(io::Error::last_os_error()),
            }
        },
        || format!("locking {}", path.display()),
    );
    if let Err(error) = flocked {
        if os_error(&error) != Some(libc::EWOULDBLOCK) {
            return Err(error);
        }
        let holder = failpoints::call("log::lock_holder", || std::fs::read_to_string(&path), String::new).unwrap_or_default();
        let holder = match holder.trim() {
            "" => String::new(),
            pid => format!(" (pid {pid})"),
        };
        return Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!("the log in {} is open in another writer{holder}: a log has one writer at a time; close it there first", dir.display()),
        ));
    }
    use std::io::Write as _;
    failpoints::call("log::lock_truncate", || file.set_len(0), || format!("emptying {}", path.display()))?;
    failpoints::call("log::lock_write", || write!(file, "{}", std::process::id()), || format!("writing this pid to {}", path.display()))?;
    Ok(file)
}

/// Whether the segment's file system takes O_DIRECT: open(2) says EINVAL where it does not.
fn takes_direct(segment: &Path) -> io::Result<bool> {
    let probe = || OpenOptions::new().read(true).custom_flags(libc::O_DIRECT).open(segment);
    match failpoints::call("log::direct_probe", probe, || format!("opening segment {} with O_DIRECT", segment.display())) {
        Ok(_) => Ok(true),
        Err(error) if os_error(&error) == Some(libc::EINVAL) => Ok(false),
        Err(error) => Err(error),
    }
}

impl Log {
    /// Opens (or creates) the log in `dir`, recovering it: the records up to the first torn or
    /// corrupt one are kept, the rest cut off. `listener` hears, on the writer thread, when
    /// appends become durable or fail.
    pub fn open(dir: &Path, options: LogOptions, listener: Box<dyn Fn(Notice) + Send + Sync>) -> io::Result<Log> {
        if options.segment_bytes < 64 << 10 || options.segment_bytes % format::BLOCK_BYTES != 0 {
            return Err(invalid(format!("segment_bytes must be a multiple of 4096 and at least 64 KiB, got {}", options.segment_bytes)));
        }
        if options.pipeline == 0 {
            return Err(invalid("pipeline must be at least 1".into()));
        }
        failpoints::call("log::create_dir", || std::fs::create_dir_all(dir), || format!("creating the log's directory {}", dir.display()))?;
        let lock = lock(dir)?;
        let (segments, next_lsn, end) = recover(dir, &options)?;
        let active = segments.last().expect("recovery leaves a segment").clone();
        let mut options = options;
        if options.direct && !takes_direct(&active.path)? {
            if !options.direct_fallback {
                let doing = format!("opening segment {} with O_DIRECT, which its file system does not take (direct without direct_fallback)", active.path.display());
                return Err(Doing::wrap(doing, io::Error::from_raw_os_error(libc::EINVAL)));
            }
            options.direct = false;
        }
        let wake = failpoints::call(
            "log::eventfd",
            || {
                // SAFETY: eventfd(2) with valid flags returns a new descriptor or -1, checked below.
                let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
                if raw < 0 {
                    return Err(io::Error::last_os_error());
                }
                // SAFETY: `raw` was just returned by eventfd(2) and nothing else owns it.
                Ok(unsafe { OwnedFd::from_raw_fd(raw) })
            },
            || "making the writer's wake-up eventfd".into(),
        )?;
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            options: options.clone(),
            queue: Mutex::new(Queue {
                pending: Vec::new(),
                pending_first_lsn: next_lsn,
                next_lsn,
                writing_up_to: next_lsn - 1,
                closed: false,
                broken: None,
                epoch: 0,
                failures: Vec::new(),
            }),
            wake,
            writer_asleep: AtomicBool::new(false),
            appended: AtomicU64::new(0),
            segments: Mutex::new(segments),
            durable: Mutex::new(next_lsn - 1),
            durable_changed: Condvar::new(),
            listener,
        });
        let offset = if options.direct { format::align_up(end) } else { end };
        let writer = writer::Writer::start(shared.clone(), active.base_lsn, active.path, offset)?;
        let handle = std::thread::Builder::new().name("rio-log-writer".into()).spawn(move || writer.run())?;
        Ok(Log { shared, writer: Mutex::new(Some(handle)), lock: Mutex::new(Some(lock)) })
    }

    /// Queues a record; returns where it went. It is durable once the listener hears
    /// `Notice::Durable(n)` with `n >= lsn` (or [`Log::wait_durable`] returns).
    pub fn append(&self, data: &[u8]) -> io::Result<Appended> {
        self.append_batch(std::iter::once(data))
    }

    /// Queues several records at once (consecutive LSNs); returns where the first went.
    pub fn append_batch<'a>(&self, records: impl IntoIterator<Item = &'a [u8]>) -> io::Result<Appended> {
        let mut queue = self.shared.queue.lock().unwrap();
        if queue.closed {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the log is closed"));
        }
        if let Some(reason) = &queue.broken {
            return Err(io::Error::other(format!("the log stopped after a failure it could not repair ({reason}): reopen it")));
        }
        let first = queue.next_lsn;
        let was_empty = queue.pending.is_empty();
        let mark = queue.pending.len();
        for data in records {
            if data.len() > MAX_RECORD_BYTES {
                queue.pending.truncate(mark);
                queue.next_lsn = first;
                return Err(invalid(format!("a record of {} bytes is larger than the {MAX_RECORD_BYTES} a log record may hold", data.len())));
            }
            let lsn = queue.next_lsn;
            format::encode_record(&mut queue.pending, lsn, data);
            queue.next_lsn += 1;
        }
        let epoch = queue.epoch;
        let count = queue.next_lsn - first;
        drop(queue);
        // SeqCst, as is the writer's store to `writer_asleep` before it looks at `appended` again:
        // either it sees this append and does not sleep, or this sees it asleep and wakes it.
        self.shared.appended.fetch_add(count, AtomicOrdering::SeqCst);
        // A writer that is gathering or watching its batches sees `appended` move. One asleep
        // either found nothing pending (this append is the first since) or has a full pipeline,
        // which its completions wake.
        if was_empty && self.shared.writer_asleep.load(AtomicOrdering::SeqCst) {
            self.shared.wake_writer();
        }
        Ok(Appended { lsn: first, epoch })
    }

    /// Whether the log writes with O_DIRECT | O_DSYNC (`LogOptions::direct`, unless the file
    /// system refused it and `direct_fallback` chose buffered writes).
    pub fn direct(&self) -> bool {
        self.shared.options.direct
    }

    /// The highest LSN known durable (0 when the log is empty).
    pub fn durable_lsn(&self) -> Lsn {
        *self.shared.durable.lock().unwrap()
    }

    /// The LSN the next append will get.
    pub fn next_lsn(&self) -> Lsn {
        self.shared.queue.lock().unwrap().next_lsn
    }

    /// Blocks until the append is durable, or fails if it failed.
    pub fn wait_durable(&self, appended: Appended) -> io::Result<()> {
        let mut durable = self.shared.durable.lock().unwrap();
        loop {
            let queue = self.shared.queue.lock().unwrap();
            let failed = queue.failures.iter().any(|&(epoch, first)| epoch == appended.epoch && first <= appended.lsn);
            if failed {
                return Err(io::Error::other(format!("LSN {} failed: it was not written", appended.lsn)));
            }
            if queue.epoch == appended.epoch && *durable >= appended.lsn {
                return Ok(());
            }
            if queue.epoch != appended.epoch && *durable >= appended.lsn {
                // Durable before a later failure reset the LSNs: it was not among the failed.
                return Ok(());
            }
            drop(queue);
            durable = self.shared.durable_changed.wait_timeout(durable, std::time::Duration::from_millis(50)).unwrap().0;
        }
    }

    /// The durable records from `from` on (from the first, if `from` was truncated), in LSN
    /// order, until about `max_bytes` of records (counted with their 16-byte frames). A read
    /// starts near `from` (see `SparseIndex`), not at its segment's first record, so a pass over
    /// the log in reads of any size reads each byte about once.
    pub fn read(&self, from: Lsn, max_bytes: usize) -> io::Result<Vec<(Lsn, Vec<u8>)>> {
        let durable = self.durable_lsn();
        let mut out = Vec::new();
        let mut bytes = 0usize;
        let mut next = from.max(1);
        let mut previous_base = None;
        while next <= durable && bytes < max_bytes {
            let (base, path, start, end) = self.shared.locate(next);
            if previous_base.is_some_and(|previous| base <= previous) {
                break; // no segment after the one just read
            }
            previous_base = Some(base);
            let read = segment::read(&path, start, end, max_bytes - bytes, |lsn, data| {
                if lsn > durable || bytes >= max_bytes {
                    return false;
                }
                if lsn >= next {
                    bytes += format::framed_len(data.len());
                    out.push((lsn, data.to_vec()));
                }
                true
            });
            match read {
                Ok(stopped) => next = next.max(stopped.lsn),
                // Truncated while this read went on: go on from the log's new first record.
                Err(error) if error.kind() == io::ErrorKind::NotFound && self.first_lsn() > base => {
                    next = next.max(self.first_lsn());
                    previous_base = None;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(out)
    }

    /// Drops the whole segments whose records all come before `before` and are all durable;
    /// returns how many. `before` says which records the caller no longer needs, and truncation
    /// only ever keeps more than that: the segment holding `before - 1` stays, and so does the
    /// active segment.
    ///
    /// A `before` past the durable LSN + 1 is clamped to it: records not yet durable are never
    /// dropped (with `pipeline` > 1 a segment can be full of records still in flight, whose
    /// appends would resolve as durable with their segment gone). So `truncate(u64::MAX)` drops
    /// every segment whose records are all durable, but the last.
    pub fn truncate(&self, before: Lsn) -> io::Result<usize> {
        if self.shared.queue.lock().unwrap().closed {
            // The directory may belong to another writer by now.
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the log is closed"));
        }
        // Read before the segments: the durable LSN only grows, so a later one is never missed.
        let before = before.min(self.durable_lsn() + 1);
        let mut segments = self.shared.segments.lock().unwrap();
        // A segment can go when the next one starts at or before `before`.
        let removable = segments.windows(2).take_while(|pair| pair[1].base_lsn <= before).count();
        // Oldest first, each out of the list once it is gone: a failure leaves the log whole
        // from the first segment still there (a crash, too: recovery starts at the first file).
        let mut removed = 0;
        let result = segments[..removable].iter().try_for_each(|segment| {
            segment::remove_file(&segment.path)?;
            removed += 1;
            Ok(())
        });
        segments.drain(..removed);
        result.and_then(|()| if removed > 0 { segment::sync_dir(&self.shared.dir) } else { Ok(()) })?;
        Ok(removed)
    }

    /// The LSN of the first record still in the log (after truncations).
    pub fn first_lsn(&self) -> Lsn {
        self.shared.segments.lock().unwrap().first().map_or(1, |segment| segment.base_lsn)
    }

    /// Writes what was appended, waits for it to be durable (or fail), stops the writer and
    /// unlocks the directory; appends fail from then on. Idempotent.
    pub fn close(&self) -> io::Result<()> {
        self.shared.queue.lock().unwrap().closed = true;
        self.shared.wake_writer();
        let writer = self.writer.lock().unwrap().take();
        let joined = match writer {
            Some(writer) => writer.join().map_err(|_| io::Error::other("the log's writer thread panicked")),
            None => Ok(()),
        };
        drop(self.lock.lock().unwrap().take());
        joined
    }
}

impl Drop for Log {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// Recovers the segments in `dir`: returns them (with their ends), the next LSN, and where the
/// last one's records end. Creates the first segment of a new log. Everything after the first
/// torn or corrupt record (or a segment whose header is broken, or a gap in the LSNs) is cut
/// off for good.
fn recover(dir: &Path, options: &LogOptions) -> io::Result<(Vec<SegmentInfo>, Lsn, u64)> {
    let listed = segment::list(dir)?;
    let mut segments: Vec<SegmentInfo> = Vec::new();
    let mut next_lsn = listed.first().map_or(1, |(base, _)| *base);
    let mut cut = false;
    let mut stale = Vec::new();
    for (base, path) in listed {
        if cut || base != next_lsn {
            stale.push(path);
            continue;
        }
        let Some(scanned) = segment::scan(&path, base)? else {
            cut = true;
            stale.push(path);
            continue;
        };
        if !scanned.clean {
            segment::cut(&path, scanned.end.offset, scanned.segment_bytes)?;
            cut = true;
        }
        segments.push(SegmentInfo { base_lsn: base, path, end: scanned.end.offset, index: scanned.index });
        next_lsn = scanned.end.lsn;
    }
    if !stale.is_empty() {
        segment::remove(dir, &stale)?;
    }
    if segments.is_empty() {
        let path = segment::create(dir, next_lsn, options.segment_bytes)?;
        segments.push(SegmentInfo::new(next_lsn, path));
    }
    let end = segments.last().expect("a segment").end;
    Ok((segments, next_lsn, end))
}
