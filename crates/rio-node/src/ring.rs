//! `NativeRing`: one rio ring driven by a Node event loop. It owns the ring, the staging memory
//! the kernel uses, and two libuv handles: a prepare handle that submits what JS queued before
//! the loop blocks, and a poll handle on the ring's eventfd that reaps completions in batches and
//! hands each batch to JS with one call, inside a callback scope (so microtasks, `nextTick` and
//! async context behave as after Node's own callbacks).
//!
//! It never lets the kernel see JS memory (see `memory.rs`), and it validates every descriptor JS
//! wrote, so nothing JS does, buggy or hostile, can make the kernel touch memory that is not
//! staging memory of an op in flight. Teardown (close, GC, worker exit) cancels what is in flight
//! and waits for the kernel before any of that memory can go.

use std::cell::{Cell, RefCell};
use std::ffi::{c_int, c_void};
use std::io;
use std::rc::Rc;
use std::sync::Arc;

use napi::bindgen_prelude::{Env, FromNapiValue, Status, Unknown};
use napi::JsValue;
use napi::sys;
use napi_derive::napi;
use rio::{AlignedBuf, Backend, Config, Ordering, RawOp, Ready, Reaper, Rio, CURRENT_POSITION};

use crate::layout::*;
use crate::memory::Region;
use crate::uv;
use crate::views;

/// Completion rounds per wakeup: after JS has handled a batch, the ops it started are submitted and
/// (if they completed inline, as page-cache reads do) reaped again without going back to the
/// loop, which saves an epoll round trip per op at low queue depths. Bounded in count and time so
/// timers and other IO are not starved.
const MAX_ROUNDS_PER_WAKEUP: usize = 64;
const MAX_TIME_PER_WAKEUP: std::time::Duration = std::time::Duration::from_millis(1);
/// The most memory kept in spare big buffers.
const SPARE_BIG_BYTES: usize = 64 << 20;

/// Big buffers come in power-of-two sizes from 128 KiB, so spares fit the next op of similar size.
fn big_size_class(len: usize) -> usize {
    len.max(128 << 10).next_power_of_two()
}

/// Completions handed to JS in the first call of a wakeup (see `run_completions`).
const FIRST_BATCH: usize = 8;

/// The provided-buffer group multishot receives take from.
const PROVIDED_GROUP: u16 = 0;

/// The buffers multishot receives fill: a ring of `PROVIDED_BUFFERS` `io_uring_buf` entries the
/// kernel takes buffers from, and the buffers. Both are ring-owned regions, never JS memory.
struct Provided {
    entries: Arc<Region>,
    data: Arc<Region>,
    /// The tail as written so far (published to the kernel by `publish`).
    tail: u16,
}

impl Provided {
    /// The regions, with every buffer published.
    fn new() -> io::Result<Provided> {
        let count = PROVIDED_BUFFERS as usize;
        let mut provided = Provided { entries: Region::new(count * 16)?, data: Region::new(count * PROVIDED_BUFFER_BYTES as usize)?, tail: 0 };
        for bid in 0..PROVIDED_BUFFERS {
            provided.give_back(bid);
        }
        provided.publish();
        Ok(provided)
    }

    /// Writes buffer `bid` into the next entry (published with the next `publish`).
    fn give_back(&mut self, bid: u16) {
        let entry = (self.tail & (PROVIDED_BUFFERS - 1)) as usize;
        // SAFETY: entry < PROVIDED_BUFFERS: the 16-byte io_uring_buf lies inside the entries
        // region; bid < PROVIDED_BUFFERS, so the buffer lies inside the data region. The kernel
        // reads an entry only once the tail says it is published.
        unsafe {
            let at = self.entries.base().add(entry * 16);
            let addr = self.data.base().add(bid as usize * PROVIDED_BUFFER_BYTES as usize) as u64;
            at.cast::<u64>().write(addr);
            at.add(8).cast::<u32>().write(PROVIDED_BUFFER_BYTES);
            at.add(12).cast::<u16>().write(bid);
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the entries written so far visible to the kernel.
    fn publish(&self) {
        // SAFETY: byte 14 of the ring is its u16 tail (2-aligned in a page-aligned region), which
        // the kernel reads with acquire semantics: the release store publishes the entries above.
        let tail = unsafe { &*(self.entries.base().add(14) as *const std::sync::atomic::AtomicU16) };
        tail.store(self.tail, std::sync::atomic::Ordering::Release);
    }
}

/// Where the kernel's side of one ring lives. Shared (`Rc`) by the JS object, each libuv handle
/// and the env cleanup hook; freed when the last of them lets go.
struct Core {
    env: sys::napi_env,
    ring: RefCell<Option<Rio>>,
    slots: usize,
    control: Arc<Region>,
    slab: Arc<Region>,
    /// Slots whose first REGISTERED_BYTES are registered with the kernel (0 on threads, or when
    /// the kernel refused, e.g. for RLIMIT_MEMLOCK): reads and writes that fit use them as fixed
    /// buffers, which spares the kernel pinning the page for each op (O_DIRECT).
    registered_slots: usize,
    /// The rio user data of the op each slot has in the ring; 0 while the slot has none.
    in_ring: RefCell<Vec<u64>>,
    /// Staging buffers of ops larger than a slot.
    big: RefCell<Vec<Option<AlignedBuf>>>,
    /// Big buffers no op uses, kept for reuse: a fresh large allocation costs a page fault per
    /// page on first touch, which would dominate a stream of 1 MiB writes.
    spare_big: RefCell<Vec<AlignedBuf>>,
    /// Completions waiting to be handed to JS (reaped, or refused at submission).
    ready: RefCell<Vec<Ready>>,
    /// The buffers multishot receives fill, registered on first use.
    provided: RefCell<Option<Provided>>,
    /// Provided buffers handed to JS in the current batch: back in the ring once JS has copied them.
    handed_out: RefCell<Vec<u16>>,
    poll: *mut uv::Handle,
    prepare: *mut uv::Handle,
    /// The JS completion handler: a strong reference while the ring is busy, weak while idle so an
    /// unused ring can be collected.
    callback: sys::napi_ref,
    async_context: sys::napi_async_context,
    refed: Cell<bool>,
    torn_down: Cell<bool>,
    cleanup_hook: Cell<bool>,
}

/// The JS face of a ring: used by the TypeScript `Ring`, not meant to be used directly.
#[napi]
pub struct NativeRing {
    core: Rc<Core>,
}

fn errno_of(error: &io::Error) -> i32 {
    error.raw_os_error().unwrap_or(libc::EIO)
}

fn to_napi_error(error: io::Error) -> napi::Error {
    let code = if error.get_ref().is_some_and(|inner| inner.is::<rio::IoUringUnavailable>()) {
        "ERR_IO_URING_UNAVAILABLE"
    } else {
        "ERR_RIO_RING"
    };
    napi::Error::new(Status::GenericFailure, format!("{code}: {error}"))
}

fn check(status: sys::napi_status, what: &str) -> napi::Result<()> {
    if status == sys::Status::napi_ok {
        Ok(())
    } else {
        Err(napi::Error::from_reason(format!("rio-uring: {what} failed (napi status {status})")))
    }
}

#[napi]
impl NativeRing {
    /// Starts a ring of `entries` submission entries on `backend` ("auto", "io_uring", "threads"),
    /// calling `onComplete(count)` with each batch of completions.
    #[napi(constructor)]
    pub fn new(env: Env, entries: u32, backend: String, sq_poll: bool, profile: bool, on_complete: Unknown) -> napi::Result<Self> {
        let env = env.raw();
        let backend: Backend = backend.parse().map_err(|e: io::Error| napi::Error::new(Status::InvalidArg, e.to_string()))?;
        let config = Config { depth: entries, sq_poll, profile, backend, reaper: Reaper::External, ..Config::default() };
        let ring = config.start().map_err(to_napi_error)?;
        let slots = ring.capacity();
        let control = Region::new(control_block_bytes(slots)).map_err(to_napi_error)?;
        let slab = Region::new(slots * SLOT_STRIDE as usize).map_err(to_napi_error)?;
        let registered_slots = register_slab(&ring, &slab, slots);

        let mut callback = std::ptr::null_mut();
        let mut async_context = std::ptr::null_mut();
        let mut event_loop = std::ptr::null_mut();
        // SAFETY: plain napi calls on the current env with out-pointers to locals.
        unsafe {
            check(sys::napi_create_reference(env, on_complete.raw(), 0, &mut callback), "napi_create_reference")?;
            let mut resource = std::ptr::null_mut();
            check(sys::napi_create_object(env, &mut resource), "napi_create_object")?;
            let mut name = std::ptr::null_mut();
            check(sys::napi_create_string_utf8(env, c"RioRing".as_ptr(), 7, &mut name), "napi_create_string_utf8")?;
            check(sys::napi_async_init(env, resource, name, &mut async_context), "napi_async_init")?;
            check(sys::napi_get_uv_event_loop(env, &mut event_loop), "napi_get_uv_event_loop")?;
        }
        let eventfd = {
            use std::os::fd::AsRawFd;
            ring.eventfd().as_raw_fd()
        };
        let core = Rc::new(Core {
            env,
            ring: RefCell::new(Some(ring)),
            slots,
            control,
            slab,
            registered_slots,
            in_ring: RefCell::new(vec![0; slots]),
            big: RefCell::new((0..slots).map(|_| None).collect()),
            spare_big: RefCell::new(Vec::new()),
            ready: RefCell::new(Vec::with_capacity(slots)),
            provided: RefCell::new(None),
            handed_out: RefCell::new(Vec::new()),
            poll: uv::alloc_handle(uv::UV_POLL),
            prepare: uv::alloc_handle(uv::UV_PREPARE),
            callback,
            async_context,
            refed: Cell::new(false),
            torn_down: Cell::new(false),
            cleanup_hook: Cell::new(false),
        });
        // SAFETY: the handles are freshly allocated and zeroed, the loop is this env's; each handle
        // holds one strong count of the core (released in `on_close`), so the core outlives them.
        unsafe {
            let event_loop = event_loop.cast::<c_void>();
            let started = uv::uv_poll_init(event_loop, core.poll, eventfd) == 0
                && uv::uv_prepare_init(event_loop, core.prepare) == 0;
            assert!(started, "rio-uring: cannot initialise libuv handles");
            uv::uv_handle_set_data(core.poll, Rc::into_raw(core.clone()) as *mut c_void);
            uv::uv_handle_set_data(core.prepare, Rc::into_raw(core.clone()) as *mut c_void);
            uv::uv_poll_start(core.poll, uv::UV_READABLE, on_readable);
            uv::uv_prepare_start(core.prepare, on_prepare);
            // Idle until JS starts an op: an idle ring never holds the process open.
            uv::uv_unref(core.poll);
            uv::uv_unref(core.prepare);
            let hook_data = Rc::into_raw(core.clone()) as *mut c_void;
            check(sys::napi_add_env_cleanup_hook(env, Some(on_env_cleanup), hook_data), "napi_add_env_cleanup_hook")?;
            core.cleanup_hook.set(true);
        }
        Ok(NativeRing { core })
    }

    /// Whether multishot accept and receive work on this ring (io_uring on Linux 6.0 or later).
    #[napi(getter)]
    pub fn multishot(&self) -> bool {
        self.core.ring.borrow().as_ref().is_some_and(Rio::multishot)
    }

    /// The buffers multishot receives fill (`PROVIDED_BUFFERS` × `PROVIDED_BUFFER_BYTES`), as an
    /// ArrayBuffer JS copies receipts out of; null until a multishot receive was submitted.
    #[napi]
    pub fn provided_buffers(&self, env: Env) -> napi::Result<Option<Unknown<'_>>> {
        let Some(data) = self.core.provided.borrow().as_ref().map(|provided| provided.data.clone()) else { return Ok(None) };
        let value = data.to_array_buffer(env.raw())?;
        // SAFETY: `value` is a live napi_value of this env.
        unsafe { Unknown::from_napi_value(env.raw(), value) }.map(Some)
    }

    /// The engine running the ops: "io_uring" or "threads".
    #[napi(getter)]
    pub fn backend(&self) -> String {
        self.core.ring.borrow().as_ref().map_or("closed", |ring| ring.backend().name()).to_string()
    }

    /// How many op slots (ops in flight at once) the ring has.
    #[napi(getter)]
    pub fn slots(&self) -> u32 {
        self.core.slots as u32
    }

    /// The control block (header, descriptors, completions) as an ArrayBuffer.
    #[napi]
    pub fn control(&self, env: Env) -> napi::Result<Unknown<'_>> {
        let value = self.core.control.to_array_buffer(env.raw())?;
        // SAFETY: `value` is a live napi_value of this env.
        unsafe { Unknown::from_napi_value(env.raw(), value) }
    }

    /// The staging slab (`slots` × SLOT_STRIDE, each slot's first SLOT_BYTES its staging memory) as an ArrayBuffer.
    #[napi]
    pub fn slab(&self, env: Env) -> napi::Result<Unknown<'_>> {
        let value = self.core.slab.to_array_buffer(env.raw())?;
        // SAFETY: `value` is a live napi_value of this env.
        unsafe { Unknown::from_napi_value(env.raw(), value) }
    }

    /// Holds the event loop open until the ring is idle again (JS calls it when it starts an op
    /// and the header says the ring is not holding the loop).
    #[napi(js_name = "ref")]
    pub fn hold_loop(&self) {
        self.core.hold_loop();
    }

    /// Submits what JS has queued now, without waiting for the loop.
    #[napi]
    pub fn flush(&self) {
        self.core.flush();
    }

    /// Gives `slot` a staging buffer of `len` bytes (for ops larger than a slot), filled from
    /// `source` when given. Fails if the slot's previous op is still in the ring.
    #[napi]
    pub fn stage_big(&self, env: Env, slot: u32, len: f64, source: Option<Unknown>) -> napi::Result<()> {
        let slot = self.core.idle_slot(slot)?;
        if !(len >= 0.0 && len <= u32::MAX as f64 && len.fract() == 0.0) {
            return Err(napi::Error::new(Status::InvalidArg, format!("staging length {len} is out of range")));
        }
        let len = len as usize;
        let mut buf = self.core.take_big(len)?;
        if let Some(source) = source {
            // SAFETY: `source` is a live value of this env; the bytes are copied before any JS runs.
            let bytes = unsafe { views::bytes_of(env.raw(), source.raw()) }?;
            let count = bytes.len().min(len);
            buf[..count].copy_from_slice(&bytes[..count]);
        }
        let replaced = self.core.big.borrow_mut()[slot].replace(buf);
        if let Some(replaced) = replaced {
            self.core.keep_big(replaced);
        }
        Ok(())
    }

    /// Copies the first `count` bytes of `slot`'s big buffer into `target` and frees the buffer.
    /// Returns false (copying nothing) if `target` is no longer large enough: it was detached,
    /// transferred or shrunk while the op was in flight.
    #[napi]
    pub fn finish_big(&self, env: Env, slot: u32, target: Option<Unknown>, count: u32) -> napi::Result<bool> {
        let slot = self.core.idle_slot(slot)?;
        let Some(buf) = self.core.big.borrow_mut()[slot].take() else { return Ok(false) };
        let copied = match target {
            None => true,
            Some(target) => {
                // SAFETY: `target` is a live value of this env; nothing else runs while we copy.
                let bytes = unsafe { views::bytes_of(env.raw(), target.raw()) }?;
                let count = count as usize;
                let fits = bytes.len() >= count && buf.len() >= count;
                if fits {
                    bytes[..count].copy_from_slice(&buf[..count]);
                }
                fits
            }
        };
        self.core.keep_big(buf);
        Ok(copied)
    }

    /// Asks the kernel to stop the op in `slot` (it completes with ECANCELED if it had not
    /// started, or was waiting on a socket or timer).
    #[napi]
    pub fn cancel(&self, slot: u32) -> napi::Result<()> {
        let user_data = self.core.in_ring.borrow().get(slot as usize).copied().unwrap_or(0);
        if user_data != 0 {
            if let Some(ring) = self.core.ring.borrow().as_ref() {
                ring.cancel_user_data(user_data).map_err(to_napi_error)?;
            }
        }
        Ok(())
    }

    /// Cancels every op in flight and refuses new ones; their completions still arrive.
    #[napi]
    pub fn close(&self) -> napi::Result<()> {
        self.core.flush();
        if let Some(ring) = self.core.ring.borrow().as_ref() {
            ring.close_ring().map_err(to_napi_error)?;
        }
        Ok(())
    }

    /// Frees the ring now: waits for the kernel to finish anything still in flight (their
    /// completions are dropped), closes the loop handles.
    #[napi]
    pub fn destroy(&self) {
        self.core.teardown();
        self.core.remove_cleanup_hook();
    }

    /// The ring's counters (and latency percentiles when the ring was made with `profile`).
    #[napi]
    pub fn stats(&self) -> RingStats {
        let Some(stats) = self.core.ring.borrow().as_ref().map(Rio::stats) else { return RingStats::default() };
        let all = stats.latencies.iter().find(|(kind, _)| kind.is_none()).map(|(_, latency)| *latency);
        RingStats {
            submitted: stats.submitted as f64,
            completed: stats.completed as f64,
            in_ring: stats.in_flight as u32,
            backlog: stats.backlog as u32,
            flushes: stats.flushes as f64,
            latency: all.map(|latency| LatencyStats {
                count: latency.count as f64,
                p50_us: latency.p50_us,
                p90_us: latency.p90_us,
                p99_us: latency.p99_us,
                max_us: latency.max_us,
            }),
        }
    }
}

impl Drop for NativeRing {
    fn drop(&mut self) {
        // The JS object was collected (or the env is going away).
        self.core.teardown();
        self.core.remove_cleanup_hook();
    }
}

/// Counters of a ring.
#[napi(object)]
#[derive(Default)]
pub struct RingStats {
    /// Ops submitted to the native ring so far.
    pub submitted: f64,
    /// Ops completed so far.
    pub completed: f64,
    /// Ops in the native ring (submitted to it and not completed).
    pub in_ring: u32,
    /// Ops waiting for room in the kernel's queues.
    pub backlog: u32,
    /// `io_uring_enter` calls (or hand-offs to the thread pool) that submitted ops.
    pub flushes: f64,
    /// Submit-to-complete latency, for rings made with `profile`.
    pub latency: Option<LatencyStats>,
}

/// Submit-to-complete latency over all ops, in microseconds.
#[napi(object)]
pub struct LatencyStats {
    /// Ops measured.
    pub count: f64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// The slowest.
    pub max_us: f64,
}

/// A descriptor's fields, as JS wrote them.
struct Descriptor([f64; DESCRIPTOR_FIELDS as usize]);

impl Descriptor {
    fn field(&self, index: u32) -> f64 {
        self.0[index as usize]
    }

    /// A field that must be an integer in `min..=max`.
    fn int(&self, index: u32, min: f64, max: f64) -> Result<i64, i32> {
        const EXACT: f64 = (1u64 << 53) as f64;
        assert!(min >= -EXACT && max <= EXACT, "descriptor ranges lie within ±2^53");
        let value = self.field(index);
        // NaN fails both comparisons.
        if !(value >= min && value <= max) {
            return Err(libc::EINVAL);
        }
        // SAFETY: `value` is finite and within [min, max], inside ±2^53 and so inside i64:
        // truncating it is defined (and unlike `as` needs no checks for NaN or saturation, which
        // matters here: this runs several times per op).
        let truncated = unsafe { value.to_int_unchecked::<i64>() };
        // A round trip tells an integer without `fract` (a libm call where the target lacks
        // SSE4.1's rounding).
        if truncated as f64 == value {
            Ok(truncated)
        } else {
            Err(libc::EINVAL)
        }
    }
}

impl Core {
    fn header(&self) -> *mut i32 {
        self.control.base().cast()
    }

    fn header_get(&self, index: u32) -> i32 {
        // SAFETY: the header's HEADER_INTS ints are inside the control region; only this thread
        // touches them (JS between our calls, us now).
        unsafe { self.header().add(index as usize).read() }
    }

    fn header_set(&self, index: u32, value: i32) {
        // SAFETY: as in `header_get`.
        unsafe { self.header().add(index as usize).write(value) }
    }

    /// A slot index JS gave, checked to be in range and free of any op in the ring.
    fn idle_slot(&self, slot: u32) -> napi::Result<usize> {
        let slot = slot as usize;
        match self.in_ring.borrow().get(slot) {
            Some(0) => Ok(slot),
            Some(_) => Err(napi::Error::new(Status::InvalidArg, format!("slot {slot} still has an op in flight"))),
            None => Err(napi::Error::new(Status::InvalidArg, format!("slot {slot} does not exist"))),
        }
    }

    fn hold_loop(&self) {
        if self.refed.get() || self.torn_down.get() {
            return;
        }
        // SAFETY: live handles of this loop, on the loop's thread; the reference is ours.
        unsafe {
            uv::uv_ref(self.poll);
            uv::uv_ref(self.prepare);
            sys::napi_reference_ref(self.env, self.callback, std::ptr::null_mut());
        }
        self.refed.set(true);
        self.header_set(H_REFED, 1);
    }

    fn release_loop(&self) {
        if !self.refed.get() {
            return;
        }
        // SAFETY: as in `hold_loop`.
        unsafe {
            uv::uv_unref(self.poll);
            uv::uv_unref(self.prepare);
            sys::napi_reference_unref(self.env, self.callback, std::ptr::null_mut());
        }
        self.refed.set(false);
        self.header_set(H_REFED, 0);
    }

    /// Submits every descriptor JS queued, then enters the kernel once.
    fn flush(&self) {
        let queued = self.header_get(H_QUEUED);
        if queued == 0 {
            return;
        }
        self.header_set(H_QUEUED, 0);
        let ring = self.ring.borrow();
        let queued = (queued.max(0) as usize).min(self.slots);
        for index in 0..queued {
            let descriptor = self.descriptor(index);
            let Ok(slot) = descriptor.int(D_SLOT, 0.0, (self.slots - 1) as f64) else {
                // Without a valid slot there is no one to tell: a bug in the TS layer, not in
                // user code, and harmless to the kernel since nothing is submitted.
                continue;
            };
            let slot = slot as usize;
            let submitted = match (&*ring, self.decode(&descriptor, slot)) {
                (Some(ring), Ok((op, ordering))) => {
                    // SAFETY: every pointer in `op` leads into this slot's staging memory (the slab,
                    // alive as long as the core, or its big buffer, which is neither replaced nor
                    // freed while `in_ring[slot]` is set); `in_ring[slot]` stays set until the ring
                    // reports this op's completion, and the ring is dropped (waiting for the kernel)
                    // before the core.
                    unsafe { ring.submit_raw(op, ordering, slot as u64) }.map_err(|error| errno_of(&error))
                }
                (None, _) => Err(libc::ECANCELED),
                (_, Err(errno)) => Err(errno),
            };
            match submitted {
                Ok(user_data) => self.in_ring.borrow_mut()[slot] = user_data,
                Err(errno) => self.refuse(slot, errno),
            }
        }
        if let Some(ring) = &*ring {
            // A failed enter (the kernel short of memory) leaves the ops queued in the ring; the
            // next flush retries them.
            let _ = ring.submit_all();
        }
    }

    fn descriptor(&self, index: usize) -> Descriptor {
        let mut fields = [0f64; DESCRIPTOR_FIELDS as usize];
        // SAFETY: `index` < slots, so the descriptor lies inside the control region's descriptor
        // array, which is 8-byte aligned (the region is page-aligned, the offset a multiple of 8).
        unsafe {
            let first = self.control.base().add(DESCRIPTORS_OFFSET).cast::<f64>().add(index * DESCRIPTOR_FIELDS as usize);
            std::ptr::copy_nonoverlapping(first, fields.as_mut_ptr(), fields.len());
        }
        Descriptor(fields)
    }

    /// The op a descriptor asks for, with every pointer inside `slot`'s staging memory.
    fn decode(&self, descriptor: &Descriptor, slot: usize) -> Result<(RawOp, Ordering), i32> {
        if self.in_ring.borrow()[slot] != 0 {
            return Err(libc::EBUSY);
        }
        let (stage, stage_len, socket_stage) = match &self.big.borrow()[slot] {
            Some(buf) => (buf.as_ptr() as *mut u8, buf.len(), buf.as_ptr() as *mut u8),
            None => {
                // SAFETY: slot < slots and SLOT_BYTES <= SLOT_STRIDE, so the slot's SLOT_BYTES lie
                // inside the slab; so do the SLOT_BYTES at its socket stage offset, as that offset
                // plus SLOT_BYTES is at most SLOT_STRIDE (asserted in layout.rs).
                let start = unsafe { self.slab.base().add(slot * SLOT_STRIDE as usize) };
                (start, SLOT_BYTES as usize, unsafe { start.add(socket_stage_offset(slot)) })
            }
        };
        let fd = descriptor.int(D_FD, -1.0, i32::MAX as f64)? as i32;
        let io_fd = rio::IoFd::raw(fd);
        let len = descriptor.int(D_LEN, 0.0, stage_len as f64)? as u32;
        let ordering = match descriptor.int(D_ORDERING, 0.0, 3.0)? {
            0 => Ordering::None,
            1 => Ordering::Link,
            2 => Ordering::HardLink,
            _ => Ordering::Drain,
        };
        // Read only by the ops that have one (sends and receives, most of a busy server's ops, do not).
        let position = || -> Result<u64, i32> {
            Ok(match descriptor.int(D_POSITION, -1.0, (1u64 << 53) as f64)? {
                -1 => CURRENT_POSITION,
                position => position as u64,
            })
        };
        let int_arg = |index| descriptor.int(index, i32::MIN as f64, u32::MAX as f64);
        let path = stage as *const libc::c_char;
        // Paths are NUL-terminated by JS; the kernel stops at PATH_MAX (4096), well inside the slot.
        // Guards are tried in order: sends and receives, a busy server's ops, first.
        let op = match descriptor.int(D_OP, 0.0, 255.0)? {
            op if op == OpCode::Send as i64 => {
                // b: where in the stage the bytes start (the rest of a partial send).
                let at = descriptor.int(D_ARG_B, 0.0, stage_len as f64)? as usize;
                if at + len as usize > stage_len {
                    return Err(libc::EINVAL);
                }
                // SAFETY: at + len <= stage_len, so the bytes lie inside the socket stage (of
                // stage_len bytes too).
                let buf = unsafe { socket_stage.add(at) };
                RawOp::Send { fd: io_fd, buf, len, flags: int_arg(D_ARG_A)? as i32 | libc::MSG_NOSIGNAL }
            }
            op if op == OpCode::Recv as i64 => RawOp::Recv { fd: io_fd, buf: socket_stage, len, flags: int_arg(D_ARG_A)? as i32 },
            op if op == OpCode::Nop as i64 => RawOp::Nop,
            op if op == OpCode::Read as i64 => RawOp::Read { fd: io_fd, buf: stage, len, offset: position()?, buf_index: self.fixed_index(slot, len) },
            op if op == OpCode::Write as i64 => RawOp::Write { fd: io_fd, buf: stage, len, offset: position()?, buf_index: self.fixed_index(slot, len) },
            op if op == OpCode::Fsync as i64 => RawOp::Fsync { fd: io_fd, datasync: int_arg(D_ARG_A)? != 0 },
            op if op == OpCode::SyncFileRange as i64 => RawOp::SyncFileRange { fd: io_fd, offset: position()?, len, flags: int_arg(D_ARG_A)? as u32 },
            op if op == OpCode::Fallocate as i64 => RawOp::Fallocate {
                fd: io_fd,
                mode: int_arg(D_ARG_A)? as i32,
                offset: position()?,
                len: descriptor.int(D_ARG_B, 0.0, (1u64 << 53) as f64)? as u64,
            },
            op if op == OpCode::Open as i64 => RawOp::OpenAt { dir: libc::AT_FDCWD, path, flags: int_arg(D_ARG_A)? as i32 | libc::O_CLOEXEC, mode: int_arg(D_ARG_B)? as u32 },
            op if op == OpCode::Close as i64 => RawOp::Close { fd },
            op if op == OpCode::Statx as i64 => {
                let by_fd = len == 0;
                RawOp::Statx {
                    dir: if by_fd { fd } else { libc::AT_FDCWD },
                    path: if by_fd { c"".as_ptr() } else { path },
                    flags: int_arg(D_ARG_A)? as i32 | if by_fd { libc::AT_EMPTY_PATH } else { 0 },
                    mask: int_arg(D_ARG_B)? as u32,
                    // SAFETY: STATX_OFFSET + size_of::<statx>() < SLOT_BYTES <= stage_len.
                    out: unsafe { stage.add(STATX_OFFSET as usize) }.cast(),
                }
            }
            op if op == OpCode::Unlink as i64 => RawOp::UnlinkAt { dir: libc::AT_FDCWD, path, flags: int_arg(D_ARG_A)? as i32 },
            op if op == OpCode::Rename as i64 => RawOp::RenameAt {
                old_dir: libc::AT_FDCWD,
                old_path: path,
                new_dir: libc::AT_FDCWD,
                new_path: second_path(descriptor, path)?,
                flags: int_arg(D_ARG_A)? as u32,
            },
            op if op == OpCode::Link as i64 => RawOp::LinkAt {
                old_dir: libc::AT_FDCWD,
                old_path: path,
                new_dir: libc::AT_FDCWD,
                new_path: second_path(descriptor, path)?,
                flags: int_arg(D_ARG_A)? as i32,
            },
            op if op == OpCode::Symlink as i64 => RawOp::SymlinkAt { target: path, new_dir: libc::AT_FDCWD, link_path: second_path(descriptor, path)? },
            op if op == OpCode::Ftruncate as i64 => {
                let len = position()?;
                if len == CURRENT_POSITION {
                    return Err(libc::EINVAL);
                }
                RawOp::Ftruncate { fd: io_fd, len }
            }
            op if op == OpCode::Mkdir as i64 => RawOp::MkdirAt { dir: libc::AT_FDCWD, path, mode: int_arg(D_ARG_A)? as u32 },
            op if op == OpCode::Accept as i64 => {
                // SAFETY: the address (128 bytes) and its length (4 bytes at 128) are inside the slot.
                let addr_len = unsafe { stage.add(128) }.cast::<libc::socklen_t>();
                // SAFETY: as above; 4-byte aligned (the slot is page-aligned).
                unsafe { addr_len.write(128) };
                RawOp::Accept { fd: io_fd, addr: stage.cast(), addr_len, flags: libc::SOCK_CLOEXEC }
            }
            op if op == OpCode::Connect as i64 => {
                if len as usize > std::mem::size_of::<libc::sockaddr_storage>() {
                    return Err(libc::EINVAL);
                }
                RawOp::Connect { fd: io_fd, addr: stage.cast(), addr_len: len }
            }
            op if op == OpCode::AcceptMulti as i64 => RawOp::AcceptMulti { fd: io_fd, flags: libc::SOCK_CLOEXEC },
            op if op == OpCode::RecvMulti as i64 => {
                self.provided_buffers()?;
                RawOp::RecvMulti { fd: io_fd, buf_group: PROVIDED_GROUP, flags: int_arg(D_ARG_A)? as i32 }
            }
            op if op == OpCode::Shutdown as i64 => RawOp::Shutdown { fd: io_fd, how: int_arg(D_ARG_A)? as i32 },
            op if op == OpCode::Timeout as i64 => {
                let ms = descriptor.field(D_ARG_A);
                if !(ms >= 0.0 && ms.is_finite()) {
                    return Err(libc::EINVAL);
                }
                let nanos = (ms * 1e6).min(u64::MAX as f64) as u64;
                let timespec = stage.cast::<[i64; 2]>();
                // SAFETY: 16 bytes at the page-aligned start of the slot; __kernel_timespec is two
                // i64s (seconds, nanoseconds), which is io_uring's Timespec layout.
                unsafe { timespec.write([(nanos / 1_000_000_000) as i64, (nanos % 1_000_000_000) as i64]) };
                RawOp::Timeout { duration: timespec.cast(), nanos }
            }
            _ => return Err(libc::EINVAL),
        };
        Ok((op, ordering))
    }

    /// The provided buffers, registered with the ring the first time a multishot receive needs
    /// them (errno EINVAL where the ring has no multishot ops).
    fn provided_buffers(&self) -> Result<(), i32> {
        if self.provided.borrow().is_some() {
            return Ok(());
        }
        let ring = self.ring.borrow();
        let ring = ring.as_ref().ok_or(libc::ECANCELED)?;
        if !ring.multishot() {
            return Err(libc::EINVAL);
        }
        let provided = Provided::new().map_err(|error| errno_of(&error))?;
        // SAFETY: the entries and the buffers are regions the core holds (and JS only reads) until
        // after the ring is dropped in `teardown`; a buffer is the kernel's from its publication
        // until the completion naming it, and JS copies it out before `give_back_buffers` publishes
        // it again.
        unsafe { ring.register_buf_ring(provided.entries.base(), PROVIDED_BUFFERS, PROVIDED_GROUP) }.map_err(|error| errno_of(&error))?;
        *self.provided.borrow_mut() = Some(provided);
        Ok(())
    }

    /// Publishes the buffers handed to JS in the batch just settled.
    fn give_back_buffers(&self) {
        let mut handed_out = self.handed_out.borrow_mut();
        let mut provided = self.provided.borrow_mut();
        // Buffer ids only come from multishot receives, which exist only once `provided` does.
        let (Some(provided), false) = (provided.as_mut(), handed_out.is_empty()) else { return };
        for bid in handed_out.drain(..) {
            provided.give_back(bid);
        }
        provided.publish();
    }

    /// A big buffer of at least `len` bytes: a spare one of the right size class, or a new one.
    fn take_big(&self, len: usize) -> napi::Result<AlignedBuf> {
        let size = big_size_class(len);
        let mut spare = self.spare_big.borrow_mut();
        if let Some(index) = spare.iter().position(|buf| buf.len() == size) {
            return Ok(spare.swap_remove(index));
        }
        AlignedBuf::new(4096, size).map_err(to_napi_error)
    }

    /// Keeps a big buffer no op uses for reuse, within SPARE_BIG_BYTES.
    fn keep_big(&self, buf: AlignedBuf) {
        let mut spare = self.spare_big.borrow_mut();
        let kept: usize = spare.iter().map(|buf| buf.len()).sum();
        if kept + buf.len() <= SPARE_BIG_BYTES {
            spare.push(buf);
        }
    }

    /// The registered buffer an op of `len` bytes in `slot` can use, if any.
    fn fixed_index(&self, slot: usize, len: u32) -> Option<u16> {
        let fits = len as usize <= REGISTERED_BYTES && slot < self.registered_slots && self.big.borrow()[slot].is_none();
        fits.then_some(slot as u16)
    }

    /// Reports an op that never reached the ring, through the same path as real completions.
    fn refuse(&self, slot: usize, errno: i32) {
        self.ready.borrow_mut().push(Ready::new(slot as u64, -errno));
        self.signal_eventfd();
    }

    /// Makes the poll handle fire on the next loop iteration (for completions we hold ourselves).
    fn signal_eventfd(&self) {
        if let Some(ring) = &*self.ring.borrow() {
            use std::os::fd::AsRawFd;
            let one: u64 = 1;
            // SAFETY: writes 8 bytes from a live u64 to the ring's eventfd.
            unsafe { libc::write(ring.eventfd().as_raw_fd(), (&one as *const u64).cast(), 8) };
        }
    }

    /// Moves up to `limit` completions into the completion array (reaping the ring first when none
    /// are waiting); returns how many.
    fn reap(&self, limit: usize) -> usize {
        let mut ready = self.ready.borrow_mut();
        if ready.is_empty() {
            if let Some(ring) = &*self.ring.borrow() {
                ring.reap(&mut ready);
            }
        }
        let count = ready.len().min(limit).min(self.slots);
        let completions = {
            // SAFETY: the completion array (slots pairs of i32) is inside the control region and
            // 4-byte aligned; only this thread touches it.
            unsafe { self.control.base().add(completions_offset(self.slots)).cast::<i32>() }
        };
        let mut in_ring = self.in_ring.borrow_mut();
        let mut handed_out = self.handed_out.borrow_mut();
        let stride = COMPLETION_INTS as usize;
        for (index, ready) in ready.drain(..count).enumerate() {
            // A multishot op goes on after a completion with MORE: its slot stays in the ring.
            if !ready.more() {
                in_ring[ready.tag as usize] = 0;
            }
            handed_out.extend(ready.buffer());
            // SAFETY: index < count <= slots: inside the completion array.
            unsafe {
                completions.add(index * stride).write(ready.tag as i32);
                completions.add(index * stride + 1).write(ready.result);
                completions.add(index * stride + 2).write(ready.flags as i32);
            }
        }
        count
    }

    /// Reaps, hands the batch to JS, submits what JS started in response; a few rounds at most.
    /// The first batch of a wakeup is small: the ops JS starts on it reach the kernel while JS
    /// settles the rest, so a device that completed a whole queue at once is not left idle.
    fn run_completions(&self) {
        let started = std::time::Instant::now();
        for round in 0..MAX_ROUNDS_PER_WAKEUP {
            if round > 0 && started.elapsed() > MAX_TIME_PER_WAKEUP {
                break;
            }
            let count = self.reap(if round == 0 { FIRST_BATCH } else { usize::MAX });
            if count == 0 {
                break;
            }
            if round == 0 {
                // We keep reaping for a few rounds: the kernel need not signal the eventfd (a
                // wakeup per completion) meanwhile.
                self.set_notifications(false);
            }
            self.call_js(count as u32);
            if self.torn_down.get() {
                return;
            }
            // JS has copied what the batch's receipts held: their buffers can take data again.
            self.give_back_buffers();
            self.flush();
        }
        self.set_notifications(true);
        if !self.ready.borrow().is_empty() {
            // Completions reaped but not yet handed to JS (the round or time budget ran out):
            // the kernel's queue may be empty now, so wake the poll handle ourselves.
            self.signal_eventfd();
        }
    }

    fn set_notifications(&self, enabled: bool) {
        if let Some(ring) = &*self.ring.borrow() {
            ring.set_notifications(enabled);
        }
    }

    fn call_js(&self, count: u32) {
        // SAFETY: napi calls on the loop's thread, outside any other JS frame (we are in a libuv
        // callback), inside a handle scope we open and close here.
        unsafe {
            let mut scope = std::ptr::null_mut();
            if sys::napi_open_handle_scope(self.env, &mut scope) != sys::Status::napi_ok {
                return;
            }
            let mut callback = std::ptr::null_mut();
            sys::napi_get_reference_value(self.env, self.callback, &mut callback);
            if !callback.is_null() {
                // napi_make_callback converts the receiver to an object: undefined would throw.
                let mut receiver = std::ptr::null_mut();
                sys::napi_get_global(self.env, &mut receiver);
                let mut argument = std::ptr::null_mut();
                sys::napi_create_uint32(self.env, count, &mut argument);
                let mut result = std::ptr::null_mut();
                let status =
                    sys::napi_make_callback(self.env, self.async_context, receiver, callback, 1, &argument, &mut result);
                if status == sys::Status::napi_pending_exception {
                    // As with Node's own callbacks: the error goes to 'uncaughtException'.
                    let mut error = std::ptr::null_mut();
                    sys::napi_get_and_clear_last_exception(self.env, &mut error);
                    sys::napi_fatal_exception(self.env, error);
                }
            }
            sys::napi_close_handle_scope(self.env, scope);
        }
    }

    /// Stops the ring for good: cancels what is in flight and waits for the kernel, then closes the
    /// loop handles. Idempotent; safe from a GC finalizer or an env cleanup hook.
    fn teardown(&self) {
        if self.torn_down.replace(true) {
            return;
        }
        self.release_loop();
        // Dropping the ring cancels every op and blocks until the kernel is done with them, so
        // their staging memory is unused from here on.
        drop(self.ring.borrow_mut().take());
        self.big.borrow_mut().clear();
        self.spare_big.borrow_mut().clear();
        // SAFETY: live handles of this loop; `on_close` releases each one's core count and frees it.
        // The napi reference and async context are ours and used no more.
        unsafe {
            uv::uv_close(self.poll, on_close);
            uv::uv_close(self.prepare, on_close);
            sys::napi_delete_reference(self.env, self.callback);
            sys::napi_async_destroy(self.env, self.async_context);
        }
    }

    fn remove_cleanup_hook(self: &Rc<Self>) {
        if self.cleanup_hook.replace(false) {
            let data = Rc::as_ptr(self) as *mut c_void;
            // SAFETY: removes the hook added in `NativeRing::new` with the same function and data,
            // then releases the core count that hook held.
            unsafe {
                sys::napi_remove_env_cleanup_hook(self.env, Some(on_env_cleanup), data);
                drop(Rc::from_raw(data as *const Core));
            }
        }
    }
}

/// The second path of a two-path op, at offset D_ARG_B of the slot (after the first).
fn second_path(descriptor: &Descriptor, path: *const libc::c_char) -> Result<*const libc::c_char, i32> {
    let at = descriptor.int(D_ARG_B, 1.0, (SLOT_BYTES - 4097) as f64)? as usize;
    // SAFETY: checked to leave a PATH_MAX inside the slot, which starts at `path`.
    Ok(unsafe { path.add(at) })
}

/// Bytes at the start of each slot registered as a fixed buffer: one page, enough for the 4 KiB
/// ops that dominate random IO, while the pinned memory stays small (2 MiB for 512 slots).
const REGISTERED_BYTES: usize = 4096;
/// The most slots that get a registered page (the kernel allows 16384): beyond this, a big ring
/// (a server's, with thousands of connections) would pin more memory than the speed is worth.
const MAX_REGISTERED_BUFFERS: usize = 1024;

/// Registers the first page of each slot as a fixed buffer; how many slots got one (0 if the
/// kernel refused, which only costs speed).
fn register_slab(ring: &Rio, slab: &Region, slots: usize) -> usize {
    if ring.backend() != Backend::IoUring {
        return 0;
    }
    let count = slots.min(MAX_REGISTERED_BUFFERS);
    let iovecs: Vec<libc::iovec> = (0..count)
        // SAFETY: slot < slots, so the page lies inside the slab.
        .map(|slot| libc::iovec { iov_base: unsafe { slab.base().add(slot * SLOT_STRIDE as usize) }.cast(), iov_len: REGISTERED_BYTES })
        .collect();
    // SAFETY: the slab outlives the ring: the core drops the ring (in `teardown`) before its own
    // reference to the slab, and the slab is only unmapped when every reference is gone.
    match unsafe { ring.register_buffers_raw(&iovecs) } {
        Ok(()) => count,
        Err(_) => 0,
    }
}

/// # Safety
/// `handle` is one of a core's handles, whose data is a strong count of that core.
unsafe fn core_of<'a>(handle: *const uv::Handle) -> &'a Core {
    // SAFETY: forwarded from the contract: the count keeps the core alive while the handle lives.
    unsafe { &*(uv::uv_handle_get_data(handle) as *const Core) }
}

unsafe extern "C" fn on_readable(handle: *mut uv::Handle, _status: c_int, _events: c_int) {
    // SAFETY: libuv calls this with our poll handle, open until `on_close`.
    let core = unsafe { core_of(handle) };
    if !core.torn_down.get() {
        core.run_completions();
    }
}

unsafe extern "C" fn on_prepare(handle: *mut uv::Handle) {
    // SAFETY: libuv calls this with our prepare handle, open until `on_close`.
    let core = unsafe { core_of(handle) };
    if core.torn_down.get() {
        return;
    }
    core.flush();
    if core.header_get(H_IN_FLIGHT) == 0 {
        core.release_loop();
    }
}

unsafe extern "C" fn on_close(handle: *mut uv::Handle) {
    // SAFETY: the handle's data is the core count taken in `NativeRing::new`, released once here;
    // libuv is done with the handle, so its memory can go.
    unsafe {
        drop(Rc::from_raw(uv::uv_handle_get_data(handle) as *const Core));
        uv::free_handle(handle);
    }
}

unsafe extern "C" fn on_env_cleanup(data: *mut c_void) {
    // SAFETY: `data` is the core count taken for the hook, released once here (the hook runs once
    // and `remove_cleanup_hook` will see it gone).
    let core = unsafe { Rc::from_raw(data as *const Core) };
    core.cleanup_hook.set(false);
    core.teardown();
}
