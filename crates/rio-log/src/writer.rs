//! The writer thread: group commit on a rio ring. Appends arriving while batches are in flight
//! are framed into the next batch; each batch is one write linked to one fdatasync (or, with
//! `direct`, one O_DIRECT | O_DSYNC write of whole blocks, starting with the records already in
//! the block the last batch ended in: see `Active::tail`), up to `pipeline` batches in flight.
//! A batch is durable when its sync completes; the durable LSN only ever moves over a contiguous
//! prefix of batches, so an LSN is reported durable only when every LSN before it is too.
//!
//! A failed write or sync fails its batch and every batch after it (their bytes would follow a
//! hole); the log resumes at the end of the last durable batch, handing out the failed LSNs again.
//! Memory the kernel reads (batch buffers) lives in the in-flight table until the batch's last op
//! completes; the thread exits only when nothing is in flight.
//!
//! The thread never sleeps on the hot path: while batches are in flight it watches for their
//! completions, and between batches for the appenders just told (see `gather`), each for a
//! bounded time; it sleeps in `poll` only when idle or when the device is slow.

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::Ordering as AtomicOrdering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rio::{AlignedBuf, Config, IoFd, Ordering, RawOp, Ready, Reaper, Rio};

use crate::failpoints;
use crate::format::{self, BLOCK_BYTES};
use crate::segment;
use crate::{Doing, Notice, Shared};

/// A batch in flight.
struct Batch {
    first_lsn: u64,
    last_lsn: u64,
    /// The segment it goes to (kept open until its ops complete), and where in it.
    segment_base: u64,
    segment_path: PathBuf,
    file: Arc<OwnedFd>,
    /// Where its first record goes.
    offset: u64,
    /// Where its write starts: `offset`, less the `tail` it writes again.
    write_offset: u64,
    /// Where the segment's records end once this batch is written.
    end: u64,
    /// The segment's bytes from the start of `offset`'s block to `offset` when the batch began
    /// (see `Active::tail`): where the log resumes if the batch fails.
    tail: Vec<u8>,
    /// The bytes the kernel reads, from `write_offset`: `tail` and the framed records (padded to
    /// whole blocks when direct). None for a batch that failed before it could be written.
    bytes: Option<AlignedBuf>,
    /// Bytes of `bytes` to write.
    len: usize,
    /// Bytes already written, for a write the kernel cut short.
    written: usize,
    /// Ops of this batch still in the kernel.
    ops_in_flight: usize,
    synced: bool,
    failed: Option<io::Error>,
}

/// The active segment, as the writer sees it.
struct Active {
    base_lsn: u64,
    path: PathBuf,
    file: Arc<OwnedFd>,
    /// Where the next batch goes.
    offset: u64,
    /// With `direct`, the records between the start of `offset`'s block and `offset`: O_DIRECT
    /// writes whole blocks, so the next batch writes them again ahead of its own and a segment
    /// holds records back to back, not a partly empty block per batch. Rewriting them is safe:
    /// the block's new bytes begin with exactly its old ones, so a write torn by a crash, which
    /// leaves each sector old or new, leaves them intact either way.
    tail: Vec<u8>,
}

pub(crate) struct Writer {
    shared: Arc<Shared>,
    ring: Rio,
    active: Active,
    in_flight: VecDeque<Batch>,
    /// Ids of `in_flight`'s front batch: a completion's tag minus this is its index.
    front_id: u64,
    ready: Vec<Ready>,
    /// A failure being handled: no new batch starts until every batch in flight has finished.
    failing: Option<Failure>,
    /// Appends made durable since the last batch started: their appenders were just told, and
    /// most append again within microseconds (see `gather`).
    returning: u64,
    /// `Shared::appended` when the first of them were told: their appends come after it.
    appended_when_told: u64,
    /// When appenders were last told their appends are durable.
    told_at: Instant,
    /// The next segment's zeros, being made on a thread of their own since the active segment
    /// passed half full, so the roll need not stall appends for them (64 MiB written and synced:
    /// ~60 ms here). None before that, or once a roll took it.
    spare: Option<JoinHandle<io::Result<segment::Blank>>>,
}

/// The first failed batch: where the log resumes, and why it failed.
struct Failure {
    first_lsn: u64,
    error: io::Error,
    resume: Active,
}

/// The longest a batch waits for the appenders of the previous one to come back: about the time
/// JS takes to hear of a durable batch and append again, well under a sync's time.
const GATHER_LIMIT: Duration = Duration::from_micros(100);

/// How long the writer watches for a completion before it sleeps. A sleeping thread takes tens
/// of microseconds to wake on a virtual machine (the vCPU halts), a sizeable part of a ~200 µs
/// durable write, and the log's throughput is appenders / (write + wake-ups + JS). Longer than
/// most durable writes here, so the writer sleeps only on a slow device; it yields while it
/// watches, so any other thread wanting the core gets it.
///
/// The other wake-up on a batch's path, JS's event loop hearing it is durable, was measured and
/// left as it is: that loop sleeps during the write, and a batch cycle here is ~140 µs of write,
/// ~30 µs until JS runs and ~30 µs of JS for 64 appends. Keeping the loop turning while appends
/// wait (setImmediate from one to the next) cut the middle part to ~15 µs, but while this thread
/// watched its completions too, the device's writes took several times longer: the dev machine's
/// block device is emulated on the host cores its two vCPUs run on. With this thread asleep instead, the
/// median gain was ~7%, with runs where writes slowed to ~350 µs and the log to half its rate.
const COMPLETION_SPIN_LIMIT: Duration = Duration::from_millis(1);

/// The most bytes of records one batch writes.
const MAX_BATCH_BYTES: usize = 4 << 20;

const OP_WRITE: u64 = 0;
const OP_SYNC: u64 = 1;

fn tag(batch_id: u64, op: u64) -> u64 {
    batch_id << 1 | op
}

impl Writer {
    pub(crate) fn start(shared: Arc<Shared>, active_base: u64, active_path: PathBuf, offset: u64) -> io::Result<Writer> {
        let config = Config { depth: 64, reaper: Reaper::External, backend: shared.options.backend, ..Config::default() };
        let ring = failpoints::call("log::ring_start", || config.start(), || "starting the writer's ring".into())?;
        let file = Arc::new(OwnedFd::from(segment::open_for_writing(&active_path, shared.options.direct)?));
        Ok(Writer {
            // A reopened direct log starts at a block boundary (`Log::open` aligns `offset`).
            active: Active { base_lsn: active_base, path: active_path, file, offset, tail: Vec::new() },
            shared,
            ring,
            in_flight: VecDeque::new(),
            front_id: 0,
            ready: Vec::new(),
            failing: None,
            returning: 0,
            appended_when_told: 0,
            told_at: Instant::now(),
            spare: None,
        })
    }

    /// Runs until the log is closed and everything appended has been written (or failed).
    pub(crate) fn run(mut self) {
        loop {
            // Taken before looking for appends, so one that lands after the last look still
            // ends the wait below.
            let appended = self.shared.appended.load(AtomicOrdering::Acquire);
            while self.failing.is_none() && self.in_flight.len() < self.shared.options.pipeline {
                self.gather();
                if !self.next_batch() {
                    break;
                }
            }
            if self.in_flight.is_empty() && self.failing.is_none() {
                let queue = self.shared.queue.lock().unwrap();
                if queue.closed && queue.pending.is_empty() {
                    drop(queue);
                    self.discard_spare();
                    return;
                }
            }
            let _ = self.ring.submit_all();
            self.wait_for_progress(appended);
        }
    }

    /// Group commit's other half: the appenders of the batch that just became durable are being
    /// told, and each will append again; a batch started at once would hold only the few appends
    /// that came meanwhile, and theirs would wait a whole sync more. So with the device idle, wait
    /// (at most GATHER_LIMIT) until each of them has appended again. The wait watches a counter
    /// rather than sleeping: a wake-up costs about as much as the wait itself.
    fn gather(&mut self) {
        let returning = std::mem::take(&mut self.returning);
        if returning == 0 || !self.in_flight.is_empty() {
            return;
        }
        let target = self.appended_when_told + returning;
        let deadline = Instant::now() + GATHER_LIMIT;
        while self.shared.appended.load(AtomicOrdering::Acquire) < target && Instant::now() < deadline {
            std::thread::yield_now();
        }
    }

    /// Waits until a batch's op completes, a batch finishes, or (with room for another batch)
    /// `Shared::appended` moves past `appended`: watching for COMPLETION_SPIN_LIMIT while batches
    /// are in flight or appenders were told of a durable batch within it (they may be slower to
    /// come back than `gather` waits: JS appenders hear through the event loop), then asleep.
    fn wait_for_progress(&mut self, appended: u64) {
        if !self.in_flight.is_empty() || self.told_at.elapsed() < COMPLETION_SPIN_LIMIT {
            let room = self.failing.is_none() && self.in_flight.len() < self.shared.options.pipeline;
            let deadline = if self.in_flight.is_empty() { self.told_at } else { Instant::now() } + COMPLETION_SPIN_LIMIT;
            // While it watches, the ring need not signal its eventfd (nor `reap` read it).
            self.ring.set_notifications(false);
            let progressed = loop {
                let front_before = self.front_id;
                if self.reap() > 0 || self.front_id != front_before || (room && self.shared.appended.load(AtomicOrdering::Acquire) != appended) {
                    break true;
                }
                if Instant::now() >= deadline {
                    break false;
                }
                std::thread::yield_now();
            };
            // Signals the eventfd if completions came meanwhile, so the sleep below sees them.
            self.ring.set_notifications(true);
            if progressed {
                return;
            }
        }
        self.wait(appended);
        self.reap();
    }

    /// Sleeps until a completion or an append arrives, unless one came since `Shared::appended`
    /// was `appended`.
    fn wait(&self, appended: u64) {
        self.shared.writer_asleep.store(true, AtomicOrdering::SeqCst);
        if self.shared.appended.load(AtomicOrdering::SeqCst) != appended {
            self.shared.writer_asleep.store(false, AtomicOrdering::SeqCst);
            return;
        }
        let mut fds = [
            libc::pollfd { fd: self.ring.eventfd().as_raw_fd(), events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: self.shared.wake.as_raw_fd(), events: libc::POLLIN, revents: 0 },
        ];
        let timeout_ms = if self.in_flight.is_empty() { 1000 } else { 100 };
        // SAFETY: two live pollfds, the length given.
        unsafe { libc::poll(fds.as_mut_ptr(), 2, timeout_ms) };
        let mut counter = 0u64;
        // SAFETY: reads 8 bytes into a live u64 from the non-blocking wake eventfd.
        unsafe { libc::read(self.shared.wake.as_raw_fd(), (&mut counter as *mut u64).cast(), 8) };
        self.shared.writer_asleep.store(false, AtomicOrdering::SeqCst);
    }

    /// Takes what is pending into a batch and submits it; false if nothing was pending. A batch
    /// that cannot be submitted joins the in-flight queue as failed, to fail in LSN order.
    fn next_batch(&mut self) -> bool {
        let direct = self.shared.options.direct;
        let segment_bytes = self.shared.options.segment_bytes;
        // A segment that cannot take the next record rolls first; then the batch takes the
        // records that fit the room left (at least one), so a segment ends near its size.
        let first = {
            let queue = self.shared.queue.lock().unwrap();
            if queue.pending.is_empty() {
                return false;
            }
            (queue.pending_first_lsn, format::framed_len_at(&queue.pending, 0))
        };
        let mut roll_error = None;
        if self.active.offset + first.1 as u64 > segment_bytes && self.active.offset > format::HEADER_BYTES {
            roll_error = self.roll(first.0).err();
        }
        let room = (segment_bytes.saturating_sub(self.active.offset) as usize).clamp(first.1, MAX_BATCH_BYTES.max(first.1));
        let (records, first_lsn, last_lsn) = {
            let mut queue = self.shared.queue.lock().unwrap();
            let (take, count) = if roll_error.is_some() { (queue.pending.len(), u64::MAX) } else { format::records_within(&queue.pending, room) };
            let records: Vec<u8> = queue.pending.drain(..take).collect();
            let first = queue.pending_first_lsn;
            let last = if count == u64::MAX { queue.next_lsn - 1 } else { first + count - 1 };
            queue.pending_first_lsn = last + 1;
            queue.writing_up_to = last;
            (records, first, last)
        };
        if let Some(error) = roll_error {
            self.push_failed(first_lsn, last_lsn, error);
            return true;
        }
        let mut batch = self.batch_here(first_lsn, last_lsn);
        if !batch.tail.is_empty() && !self.in_flight.is_empty() {
            // The batch before may still be writing the tail's block, and of two writes to one
            // block either may land last: this batch starts at the next block instead.
            batch.offset = format::align_up(batch.offset);
            batch.tail.clear();
        }
        batch.write_offset = batch.offset - batch.tail.len() as u64;
        let head = batch.tail.len();
        let used = head + records.len();
        let len = if direct { format::align_up(used as u64) as usize } else { used };
        let mut bytes = match AlignedBuf::new(BLOCK_BYTES as usize, len.max(1).div_ceil(BLOCK_BYTES as usize) * BLOCK_BYTES as usize) {
            Ok(bytes) => bytes,
            Err(error) => {
                batch.failed = Some(error);
                self.push_batch(batch);
                return true;
            }
        };
        bytes[..head].copy_from_slice(&batch.tail);
        bytes[head..used].copy_from_slice(&records);
        batch.end = batch.offset + records.len() as u64;
        batch.len = len;
        self.active.offset = batch.end;
        if direct {
            let block_start = (format::align_down(batch.end) - batch.write_offset) as usize;
            self.active.tail = bytes[block_start..used].to_vec();
        }
        batch.bytes = Some(bytes);
        let id = self.push_batch(batch);
        if self.spare.is_none() && self.active.offset > segment_bytes / 2 {
            self.start_spare();
        }
        if let Err(error) = self.submit_write(id) {
            self.batch_mut(id).failed = Some(error);
        }
        true
    }

    /// Starts a new segment for LSNs from `base_lsn` (the batch that did not fit the old one), from
    /// the spare if it was made (waiting for it if it is being made: it is further along than a
    /// new one would be), else from scratch.
    fn roll(&mut self, base_lsn: u64) -> io::Result<()> {
        let dir = self.shared.dir.clone();
        let spare = self.spare.take().and_then(|thread| thread.join().ok()).and_then(Result::ok);
        let path = match spare {
            Some(blank) => blank.into_segment(&dir, base_lsn)?,
            None => segment::create(&dir, base_lsn, self.shared.options.segment_bytes)?,
        };
        let file = Arc::new(OwnedFd::from(segment::open_for_writing(&path, self.shared.options.direct)?));
        self.shared.segments.lock().unwrap().push(crate::SegmentInfo::new(base_lsn, path.clone()));
        self.active = Active { base_lsn, path, file, offset: format::HEADER_BYTES, tail: Vec::new() };
        Ok(())
    }

    /// Starts making the spare. A spare that cannot be made (its thread, or its IO, failing) only
    /// means the roll makes its segment itself.
    fn start_spare(&mut self) {
        let (tmp, segment_bytes) = (segment::spare_path(&self.shared.dir), self.shared.options.segment_bytes);
        self.spare = std::thread::Builder::new().name("rio-log-spare".into()).spawn(move || segment::Blank::make(tmp, segment_bytes, &segment::SPARE_CALLS)).ok();
    }

    /// Waits for the spare and removes it: the log is closing, and an open would remove it anyway.
    fn discard_spare(&mut self) {
        if let Some(Ok(Ok(blank))) = self.spare.take().map(JoinHandle::join) {
            blank.remove();
        }
    }

    fn batch_mut(&mut self, id: u64) -> &mut Batch {
        &mut self.in_flight[(id - self.front_id) as usize]
    }

    /// Submits the (rest of the) batch's write, linked to its fdatasync unless direct.
    fn submit_write(&mut self, id: u64) -> io::Result<()> {
        let direct = self.shared.options.direct;
        let batch = self.batch_mut(id);
        let mut len = batch.len - batch.written;
        // A failpoint can cut the write short, to exercise the continuation.
        if let Some(short) = fail::eval("log::short_write", |bytes| bytes.and_then(|bytes| bytes.parse::<usize>().ok()).unwrap_or(1)) {
            if !direct {
                len = len.min(short.max(1));
            }
        }
        let fd: RawFd = batch.file.as_raw_fd();
        let write = RawOp::Write {
            fd: IoFd::raw(fd),
            // SAFETY: written < len <= the buffer's length.
            buf: unsafe { batch.bytes.as_ref().expect("a batch that is written has bytes").as_ptr().add(batch.written) },
            len: len as u32,
            offset: batch.write_offset + batch.written as u64,
            buf_index: None,
        };
        let short = len < batch.len - batch.written;
        let injected = failpoints::check("log::write").err();
        let sync_injected = failpoints::check("log::fdatasync").err();
        if let Some(error) = injected {
            batch.failed = Some(error);
            // Nothing reaches the kernel; complete the batch through a nop so it fails in order.
            batch.ops_in_flight += 1;
            // SAFETY: a nop points at no memory.
            unsafe { self.ring.submit_raw(RawOp::Nop, Ordering::None, tag(id, OP_SYNC))? };
            return Ok(());
        }
        if let Some(error) = sync_injected {
            batch.failed = Some(error);
        }
        let linked = !(direct || short);
        // SAFETY: the buffer and the file stay in the in-flight table (and the file open) until
        // every op of the batch has completed; `run` returns only when nothing is in flight.
        unsafe { self.ring.submit_raw(write, if linked { Ordering::Link } else { Ordering::None }, tag(id, OP_WRITE))? };
        self.batch_mut(id).ops_in_flight += 1;
        if linked {
            // SAFETY: a sync points at no memory; the file stays open (see above).
            unsafe { self.ring.submit_raw(RawOp::Fsync { fd: IoFd::raw(fd), datasync: true }, Ordering::None, tag(id, OP_SYNC))? };
            self.batch_mut(id).ops_in_flight += 1;
        }
        Ok(())
    }

    /// Handles every completion that has arrived and retires finished batches; returns how many
    /// completions there were.
    fn reap(&mut self) -> usize {
        self.ready.clear();
        let reaped = self.ring.reap(&mut self.ready);
        let ready = std::mem::take(&mut self.ready);
        for &Ready { tag, result, .. } in &ready {
            self.complete(tag >> 1, tag & 1, result);
        }
        self.ready = ready;
        self.advance();
        reaped
    }

    fn complete(&mut self, id: u64, op: u64, result: i32) {
        let direct = self.shared.options.direct;
        let batch = self.batch_mut(id);
        batch.ops_in_flight -= 1;
        if batch.failed.is_some() {
            return;
        }
        if result < 0 {
            // ECANCELED on the sync just means its write failed or came up short; that write's
            // own completion says which.
            if !(op == OP_SYNC && result == -libc::ECANCELED) {
                batch.failed = Some(io::Error::from_raw_os_error(-result));
            }
            return;
        }
        match op {
            OP_WRITE => {
                batch.written += result as usize;
                if batch.written < batch.len {
                    if result == 0 {
                        batch.failed = Some(io::Error::new(io::ErrorKind::WriteZero, "the log's write wrote nothing"));
                        return;
                    }
                    if batch.ops_in_flight == 0 || batch.ops_in_flight == 1 {
                        // A short write: the linked sync was cancelled (or not submitted); write
                        // the rest, then sync.
                        if let Err(error) = self.submit_write(id) {
                            self.batch_mut(id).failed = Some(error);
                        }
                    }
                } else if direct {
                    batch.synced = true; // O_DSYNC: durable when written
                }
                // Otherwise the write that completed the batch was linked to its fdatasync (only
                // a write cut short is not, and a short write breaks a link chain in both
                // backends): the sync's completion makes the batch durable.
            }
            _ => {
                if batch.written == batch.len {
                    batch.synced = true;
                }
            }
        }
    }

    /// A batch that never reached the kernel (its segment could not be made): it fails in order.
    fn push_failed(&mut self, first_lsn: u64, last_lsn: u64, error: io::Error) {
        let mut batch = self.batch_here(first_lsn, last_lsn);
        batch.failed = Some(error);
        self.push_batch(batch);
    }

    /// A batch of `first_lsn..=last_lsn` at the active segment's end, with nothing to write yet.
    fn batch_here(&self, first_lsn: u64, last_lsn: u64) -> Batch {
        let offset = self.active.offset;
        Batch {
            first_lsn,
            last_lsn,
            segment_base: self.active.base_lsn,
            segment_path: self.active.path.clone(),
            file: self.active.file.clone(),
            offset,
            write_offset: offset,
            end: offset,
            tail: self.active.tail.clone(),
            bytes: None,
            len: 0,
            written: 0,
            ops_in_flight: 0,
            synced: false,
            failed: None,
        }
    }

    /// Queues a batch; returns its id.
    fn push_batch(&mut self, batch: Batch) -> u64 {
        let id = self.front_id + self.in_flight.len() as u64;
        self.in_flight.push_back(batch);
        id
    }

    /// Retires finished batches from the front, in order: durable ones advance the durable LSN.
    /// A failed one starts a failure: it and every later batch are dropped as they finish, and
    /// once nothing is in flight the log resumes where the failed batch began.
    fn advance(&mut self) {
        let mut durable = None;
        while let Some(front) = self.in_flight.front_mut() {
            if front.ops_in_flight > 0 {
                break;
            }
            if self.failing.is_none() {
                if let Some(error) = front.failed.take() {
                    // A batch without bytes never got to its write: its error says why already.
                    let error = match front.bytes {
                        Some(_) => Doing::wrap(
                            format!("writing records {}..={} to segment {} at offset {}", front.first_lsn, front.last_lsn, front.segment_path.display(), front.offset),
                            error,
                        ),
                        None => error,
                    };
                    let resume = Active {
                        base_lsn: front.segment_base,
                        path: front.segment_path.clone(),
                        file: front.file.clone(),
                        offset: front.offset,
                        tail: front.tail.clone(),
                    };
                    self.failing = Some(Failure { first_lsn: front.first_lsn, error, resume });
                } else if !front.synced {
                    break;
                } else {
                    let batch = self.in_flight.pop_front().expect("the front exists");
                    self.front_id += 1;
                    let head = (batch.offset - batch.write_offset) as usize;
                    let frames = &batch.bytes.as_ref().expect("a durable batch was written")[head..head + (batch.end - batch.offset) as usize];
                    let indexed = segment::SparseIndex::candidates(segment::Position { lsn: batch.first_lsn, offset: batch.offset }, frames);
                    self.shared.batch_durable(batch.segment_base, batch.end, &indexed);
                    durable = Some(batch.last_lsn);
                    if self.returning == 0 {
                        // Before anyone is told: every append after this is a returning one.
                        self.appended_when_told = self.shared.appended.load(AtomicOrdering::Acquire);
                        self.told_at = Instant::now();
                    }
                    self.returning += batch.last_lsn + 1 - batch.first_lsn;
                    continue;
                }
            }
            // Failing: this batch is lost with the failed one (its bytes follow a hole).
            self.in_flight.pop_front();
            self.front_id += 1;
        }
        if let Some(lsn) = durable {
            self.shared.set_durable(lsn);
            (self.shared.listener)(Notice::Durable(lsn));
        }
        if self.in_flight.is_empty() {
            if let Some(failure) = self.failing.take() {
                self.resume_after(failure);
            }
        }
    }

    /// Ends a failure, once nothing is in flight: every LSN from the failed batch on (in flight
    /// or pending) fails, and they are handed out again from where the failed batch began.
    ///
    /// The bytes the failed batches (and any after them) may have left behind are cut off, and
    /// later segments dropped, before anything else: only once that is synced are the failed
    /// appends told and their LSNs handed out again. A crash at any point then recovers either a
    /// log no one has heard of the failure in, or one without the failed records; never a record
    /// whose append was rejected. Appends made meanwhile get LSNs after the failed ones, and fail
    /// with them. If the cut fails the log is broken: the failed LSNs are not handed out again
    /// and appends are refused until the log is reopened.
    fn resume_after(&mut self, failure: Failure) {
        let cleaned = self
            .shared
            .drop_segments_after(failure.resume.base_lsn)
            .and_then(|()| segment::cut(&failure.resume.path, failure.resume.offset, self.shared.options.segment_bytes));
        let mut queue = self.shared.queue.lock().unwrap();
        let last = queue.next_lsn - 1;
        let epoch = queue.epoch;
        queue.failures.push((epoch, failure.first_lsn));
        queue.epoch += 1;
        queue.pending.clear();
        match cleaned {
            Ok(()) => {
                queue.next_lsn = failure.first_lsn;
                queue.pending_first_lsn = failure.first_lsn;
                queue.writing_up_to = failure.first_lsn - 1;
            }
            Err(error) => {
                queue.pending_first_lsn = queue.next_lsn;
                queue.writing_up_to = queue.next_lsn - 1;
                queue.broken = Some(format!("after a failed write at LSN {}, cutting its bytes off failed: {error}", failure.first_lsn));
            }
        }
        drop(queue);
        self.active = failure.resume;
        (self.shared.listener)(Notice::Failed { epoch, first: failure.first_lsn, last, error: failure.error });
    }
}
