//! `NativeLog`: rio-log for JavaScript. Appends are synchronous calls that only queue (the LSN
//! comes back at once); the log's writer thread reports progress through a weak threadsafe
//! function, coalesced: one call is queued at a time, and JS then takes every notice at once
//! (`takeNotices`). Opening, reading, truncating and closing block on IO, so they run as async
//! tasks on libuv's pool.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use napi::bindgen_prelude::{AsyncTask, Buffer, Function, Uint32ArraySlice, Uint8ArraySlice};
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi::{Env, Status, Task};
use napi_derive::napi;
use rio_log::{Appended, Log, LogOptions, Notice};

/// Appends come back to JS as one number: `lsn * EPOCH_SPAN + epoch % EPOCH_SPAN`, so an append
/// costs no array. LSNs stay exact up to 2^41.
#[napi]
pub const EPOCH_SPAN: u32 = 4096;

/// The largest record a log takes.
#[napi]
pub const LOG_MAX_RECORD_BYTES: u32 = rio_log::MAX_RECORD_BYTES as u32;

fn encode(appended: Appended) -> f64 {
    (appended.lsn as f64) * f64::from(EPOCH_SPAN) + (appended.epoch % u64::from(EPOCH_SPAN)) as f64
}

/// A failure the writer reported: appends `first..=last` of `epoch` are not in the log.
#[napi(object)]
#[derive(Clone)]
pub struct LogFailure {
    pub epoch: u32,
    pub first: f64,
    pub last: f64,
    /// The errno, when the failure was a system error (0 otherwise).
    pub errno: i32,
    pub message: String,
}

/// What happened since JS last looked.
#[napi(object)]
pub struct LogNotices {
    pub durable: f64,
    pub failures: Vec<LogFailure>,
}

type NoticeFunction = ThreadsafeFunction<(), (), (), Status, false, true>;

/// Notices waiting for JS, shared with the writer thread.
struct Inbox {
    durable: AtomicU64,
    failures: Mutex<Vec<LogFailure>>,
    /// A call to JS is queued and not yet taken.
    queued: AtomicBool,
    notify: NoticeFunction,
}

impl Inbox {
    fn post(&self, notice: Notice) {
        match notice {
            Notice::Durable(lsn) => {
                self.durable.fetch_max(lsn, Ordering::SeqCst);
            }
            Notice::Failed { epoch, first, last, error } => self.failures.lock().unwrap().push(LogFailure {
                epoch: (epoch % u64::from(EPOCH_SPAN)) as u32,
                first: first as f64,
                last: last as f64,
                errno: rio_log::os_error(&error).unwrap_or(0),
                message: error.to_string(),
            }),
        }
        if !self.queued.swap(true, Ordering::SeqCst) {
            self.notify.call((), ThreadsafeFunctionCallMode::NonBlocking);
        }
    }
}

/// An open log (`rio-uring/log`'s `Log` wraps it).
#[napi]
pub struct NativeLog {
    log: Arc<Log>,
    inbox: Arc<Inbox>,
}

fn to_napi(error: std::io::Error) -> napi::Error {
    let code = match rio_log::os_error(&error) {
        Some(errno) => format!("errno {errno}"),
        None => format!("{:?}", error.kind()),
    };
    napi::Error::new(Status::GenericFailure, format!("{error} [{code}]"))
}

/// Sets one of rio-log's failpoints (`log::write`, ...; the list is in rio-log's
/// `failpoints` module) to `actions` in the `fail` crate's syntax (`"1*return(5)"`: the next such
/// call fails with EIO), or clears it with `""`. Process-wide. For fault-injection tests: no part
/// of `rio-uring/log`.
#[napi]
pub fn set_log_failpoint(name: String, actions: String) -> napi::Result<()> {
    rio_log::failpoints::set(&name, &actions).map_err(|error| napi::Error::new(Status::InvalidArg, error.to_string()))
}

pub struct OpenTask {
    dir: PathBuf,
    options: LogOptions,
    inbox: Arc<Inbox>,
}

impl Task for OpenTask {
    type Output = Log;
    type JsValue = NativeLog;

    fn compute(&mut self) -> napi::Result<Log> {
        let inbox = self.inbox.clone();
        Log::open(&self.dir, self.options.clone(), Box::new(move |notice| inbox.post(notice))).map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, log: Log) -> napi::Result<NativeLog> {
        self.inbox.durable.store(log.durable_lsn(), Ordering::SeqCst);
        Ok(NativeLog { log: Arc::new(log), inbox: self.inbox.clone() })
    }
}

/// Opens (recovering) the log in `dir`. `onNotice()` is called when appends became durable or
/// failed; call `takeNotices()` then. `directFallback`: with `direct`, write buffered where the
/// file system refuses O_DIRECT rather than fail.
#[napi(ts_return_type = "Promise<NativeLog>")]
#[allow(clippy::too_many_arguments)]
pub fn open_log(dir: String, segment_bytes: f64, direct: bool, direct_fallback: bool, pipeline: u32, backend: String, on_notice: Function<(), ()>) -> napi::Result<AsyncTask<OpenTask>> {
    let backend = backend.parse().map_err(|error: std::io::Error| napi::Error::new(Status::InvalidArg, error.to_string()))?;
    let notify: NoticeFunction = on_notice.build_threadsafe_function::<()>().callee_handled::<false>().weak::<true>().build()?;
    let options = LogOptions { segment_bytes: segment_bytes as u64, direct, direct_fallback, backend, pipeline: pipeline as usize };
    let inbox = Arc::new(Inbox { durable: AtomicU64::new(0), failures: Mutex::new(Vec::new()), queued: AtomicBool::new(false), notify });
    Ok(AsyncTask::new(OpenTask { dir: dir.into(), options, inbox }))
}

pub struct ReadTask {
    log: Arc<Log>,
    from: u64,
    max_bytes: usize,
}

/// A record read back.
#[napi(object)]
pub struct LogRecord {
    pub lsn: f64,
    pub data: Buffer,
}

impl Task for ReadTask {
    type Output = Vec<(u64, Vec<u8>)>;
    type JsValue = Vec<LogRecord>;

    fn compute(&mut self) -> napi::Result<Self::Output> {
        self.log.read(self.from, self.max_bytes).map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, records: Self::Output) -> napi::Result<Vec<LogRecord>> {
        Ok(records.into_iter().map(|(lsn, data)| LogRecord { lsn: lsn as f64, data: data.into() }).collect())
    }
}

pub struct TruncateTask {
    log: Arc<Log>,
    before: u64,
}

impl Task for TruncateTask {
    type Output = usize;
    type JsValue = u32;

    fn compute(&mut self) -> napi::Result<usize> {
        self.log.truncate(self.before).map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, removed: usize) -> napi::Result<u32> {
        Ok(removed as u32)
    }
}

pub struct CloseTask {
    log: Arc<Log>,
}

impl Task for CloseTask {
    type Output = ();
    type JsValue = ();

    fn compute(&mut self) -> napi::Result<()> {
        self.log.close().map_err(to_napi)
    }

    fn resolve(&mut self, _env: Env, _: ()) -> napi::Result<()> {
        Ok(())
    }
}

fn lsn_of(value: f64, name: &str) -> napi::Result<u64> {
    if value.fract() == 0.0 && (0.0..=9_007_199_254_740_991.0).contains(&value) {
        Ok(value as u64)
    } else {
        Err(napi::Error::new(Status::InvalidArg, format!("{name} must be a non-negative integer LSN, got {value}")))
    }
}

#[napi]
impl NativeLog {
    /// Queues the records staged in `bytes`, record `i` ending at `ends[i]` (consecutive LSNs);
    /// returns the first's LSN and epoch, encoded (see EPOCH_SPAN). JS stages a tick's appends and
    /// hands them over in one call; the bytes are copied before this returns.
    #[napi]
    pub fn append_staged(&self, bytes: Uint8ArraySlice, ends: Uint32ArraySlice) -> napi::Result<f64> {
        let bytes: &[u8] = &bytes;
        let mut start = 0usize;
        let mut records = Vec::with_capacity(ends.len());
        for &end in ends.iter() {
            let end = end as usize;
            if end < start || end > bytes.len() {
                return Err(napi::Error::new(Status::InvalidArg, format!("staged record ends at {end}, outside {start}..={}", bytes.len())));
            }
            records.push(&bytes[start..end]);
            start = end;
        }
        self.log.append_batch(records).map(encode).map_err(to_napi)
    }

    /// Everything the writer reported since the last call (and re-arms the notice call).
    #[napi]
    pub fn take_notices(&self) -> LogNotices {
        self.inbox.queued.store(false, Ordering::SeqCst);
        LogNotices {
            durable: self.inbox.durable.load(Ordering::SeqCst) as f64,
            failures: std::mem::take(&mut *self.inbox.failures.lock().unwrap()),
        }
    }

    /// Durable records from `from`, up to about `maxBytes` of data.
    #[napi(ts_return_type = "Promise<LogRecord[]>")]
    pub fn read(&self, from: f64, max_bytes: u32) -> napi::Result<AsyncTask<ReadTask>> {
        Ok(AsyncTask::new(ReadTask { log: self.log.clone(), from: lsn_of(from, "from")?, max_bytes: max_bytes as usize }))
    }

    /// Drops the whole segments of durable records before `before` (clamped to the durable LSN
    /// + 1); resolves to how many.
    #[napi(ts_return_type = "Promise<number>")]
    pub fn truncate(&self, before: f64) -> napi::Result<AsyncTask<TruncateTask>> {
        Ok(AsyncTask::new(TruncateTask { log: self.log.clone(), before: lsn_of(before, "before")? }))
    }

    /// Writes what was appended, waits for it, stops the writer and unlocks the directory.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn close(&self) -> AsyncTask<CloseTask> {
        AsyncTask::new(CloseTask { log: self.log.clone() })
    }

    /// Whether the log writes with O_DIRECT | O_DSYNC.
    #[napi(getter)]
    pub fn direct(&self) -> bool {
        self.log.direct()
    }

    #[napi(getter)]
    pub fn durable_lsn(&self) -> f64 {
        self.log.durable_lsn() as f64
    }

    #[napi(getter)]
    pub fn next_lsn(&self) -> f64 {
        self.log.next_lsn() as f64
    }

    #[napi(getter)]
    pub fn first_lsn(&self) -> f64 {
        self.log.first_lsn() as f64
    }
}
