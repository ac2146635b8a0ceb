//! The ring core: the in-flight table, the backlog of ops waiting for room, and the engine. It owns
//! every op from submission to completion and decides when ops reach the engine; it never owns the
//! memory an op touches (that is the `Completion`'s, the scope's, or the raw submitter's).
//!
//! Three rules keep it sound and bounded:
//! - an op reaches the engine only while fewer than `capacity` (the completion queue's size) are
//!   there, so completions can never overflow; the rest wait in the backlog, in order;
//! - a link chain reaches the engine whole, in one flush, so the kernel links exactly the ops the
//!   caller linked (a chain still open at a flush ends there, as it does in the kernel);
//! - the ring is dropped only after every op handed to the engine has completed;
//! - with a reaper thread, only that thread enters the kernel (see `Inner::may_enter`).

use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::Waker;
use std::sync::OnceLock;
use std::thread::{JoinHandle, ThreadId};
use std::time::{Duration, Instant};

use slab::Slab;

use crate::backend::Engine;
use crate::config::{Backend, Config, Reaper};
use crate::fixed::FixedTables;
use crate::inflight::{InFlight, Sink, INTERNAL_USER_DATA};
use crate::op::{Ordering, RawOp};
use crate::profile::{Latency, Profile};
use crate::OpKind;

/// A completion for an op submitted with [`Rio::submit_raw`]: the tag given at submission and
/// the kernel's result (a byte count, a new fd, or `-errno`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ready {
    /// The caller's tag.
    pub tag: u64,
    /// What the CQE's `res` field holds.
    pub result: i32,
    /// What the CQE's `flags` field holds (IORING_CQE_F_*; 0 on the threads backend).
    pub flags: u32,
}

impl Ready {
    /// A completion of a single-shot op (no flags).
    pub fn new(tag: u64, result: i32) -> Ready {
        Ready { tag, result, flags: 0 }
    }

    /// A multishot op goes on after this completion (IORING_CQE_F_MORE): its memory stays in use.
    pub fn more(&self) -> bool {
        io_uring::cqueue::more(self.flags)
    }

    /// The provided buffer this completion's data is in (IORING_CQE_F_BUFFER), if any.
    pub fn buffer(&self) -> Option<u16> {
        io_uring::cqueue::buffer_select(self.flags)
    }
}

/// Counters of a ring's life so far.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Ops submitted.
    pub submitted: u64,
    /// Ops completed.
    pub completed: u64,
    /// Ops submitted and not yet completed (backlog included).
    pub in_flight: usize,
    /// Ops waiting for room before they reach the engine.
    pub backlog: usize,
    /// Flushes that handed ops to the engine (one `io_uring_enter` each on io_uring).
    pub flushes: u64,
    /// Submit-to-complete latency per op kind (`None`: all kinds), when the ring records it.
    pub latencies: Vec<(Option<OpKind>, Latency)>,
}

/// A ring: submit operations, get [`Completion`](crate::Completion)s. Operations are methods of
/// the [`Ops`](crate::Ops) trait. Dropping the ring cancels what is still in flight and waits for
/// the kernel to finish with it.
pub struct Rio {
    pub(crate) inner: Arc<Inner>,
    reaper: Option<JoinHandle<()>>,
}

pub(crate) struct Inner {
    state: Mutex<State>,
    /// Notified whenever completions were reaped: blocking waits sleep on it.
    reaped: Condvar,
    // Field order is drop order: the engine (and with it the kernel's ring) goes before the
    // registered memory it may point into.
    pub(crate) engine: Engine,
    pub(crate) fixed: FixedTables,
    eventfd: OwnedFd,
    config: Config,
    /// The most ops the engine holds at once: the completion queue's size.
    capacity: usize,
    /// The longest link chain: the submission queue's size.
    max_chain: usize,
    stopping: AtomicBool,
    /// Eventfd signals are off (see `Rio::set_notifications`).
    quiet: AtomicBool,
    /// Whether only the reaper thread may enter the kernel (io_uring with `Reaper::Thread`).
    enters_on_reaper: bool,
    /// The reaper thread, once it runs.
    reaper_thread: OnceLock<ThreadId>,
    /// The reaper is busy or spinning for the next request: asking it needs no eventfd signal.
    reaper_awake: AtomicBool,
    /// A request is waiting for the reaper (mirrors `State::reaper_request.enter` for its spin).
    reaper_requested: AtomicBool,
    /// Reaps so far, for waiters spinning before they sleep on `reaped`.
    reaps: AtomicU64,
}

struct Queued {
    op: RawOp,
    user_data: u64,
    ordering: Ordering,
    cancelled: bool,
}

/// A flush asked of the reaper.
#[derive(Default)]
struct ReaperRequest {
    /// Enter the kernel with what is ready.
    enter: bool,
    /// End a link chain still open if it began before this submission number: a flush ends the
    /// chains open when it is asked for (as `io_uring_enter` does), not those begun since.
    end_chains_begun_before: u64,
}

/// The flushes the reaper made for other threads, for `submit_all` to wait on.
#[derive(Default)]
struct ReaperFlushes {
    passes: u64,
    /// The error of the last one, if it failed (it is retried at the next).
    last_errno: Option<i32>,
}

#[derive(Default)]
pub(crate) struct State {
    in_flight: InFlight,
    /// Ops submitted and not yet handed to the engine.
    backlog: VecDeque<Queued>,
    /// Length of the link chain still open at the end of the backlog.
    open_chain: usize,
    /// The submission number (see `submitted`) of that chain's first op.
    open_chain_first: u64,
    /// Ops (internal cancels included) handed to the engine and not yet reaped.
    in_engine: usize,
    /// User data of ops to cancel in the engine, waiting to be pushed as cancel SQEs.
    cancels: Vec<u64>,
    /// What threads that may not enter the kernel asked the reaper to do.
    reaper_request: ReaperRequest,
    /// The reaper was signalled and has not taken the lock since.
    reaper_signalled: bool,
    reaper_flushes: ReaperFlushes,
    /// Whether ops were handed to the engine since the last flush.
    unflushed: bool,
    /// Completions of raw ops reaped by someone other than `reap` (a blocking wait).
    ready: Vec<Ready>,
    /// Ops still pending per live scope.
    scopes: Slab<usize>,
    submitted: u64,
    completed: u64,
    flushes: u64,
    profile: Option<Profile>,
    closed: bool,
}

/// How long the reaper spins for the next request after serving one, and a waiter for the
/// reaper before it sleeps.
const REAPER_SPIN: Duration = Duration::from_micros(50);

/// The errno an error stands for (EIO for one that is not a system error).
fn errno_of(error: &io::Error) -> i32 {
    error.raw_os_error().unwrap_or(libc::EIO)
}

fn closed_error() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the ring is closed")
}

impl Rio {
    pub(crate) fn start(config: Config) -> io::Result<Rio> {
        // SAFETY: eventfd(2) with valid flags returns a new descriptor or -1, checked below.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` was just returned by eventfd(2) and nothing else owns it.
        let eventfd = unsafe { OwnedFd::from_raw_fd(raw) };
        let engine = Engine::start(&config, eventfd.as_raw_fd())?;
        let (capacity, max_chain) = match engine.uring() {
            Some(uring) => (uring.cq_entries(), uring.sq_entries()),
            None => (config.depth as usize * 2, config.depth as usize),
        };
        let profile = (config.profile || config.print_profile_on_drop).then(Profile::default);
        let engine_is_uring = engine.uring().is_some();
        let inner = Arc::new(Inner {
            state: Mutex::new(State { profile, ..State::default() }),
            reaped: Condvar::new(),
            engine,
            fixed: FixedTables::default(),
            eventfd,
            capacity,
            max_chain,
            stopping: AtomicBool::new(false),
            quiet: AtomicBool::new(false),
            enters_on_reaper: config.reaper == Reaper::Thread && engine_is_uring,
            reaper_thread: OnceLock::new(),
            reaper_awake: AtomicBool::new(false),
            reaper_requested: AtomicBool::new(false),
            reaps: AtomicU64::new(0),
            config,
        });
        let reaper = match inner.config.reaper {
            Reaper::Thread => {
                let inner = inner.clone();
                Some(std::thread::Builder::new().name("rio-reaper".into()).spawn(move || inner.reap_forever())?)
            }
            Reaper::External => None,
        };
        Ok(Rio { inner, reaper })
    }

    /// The engine running the ops: `IoUring` or `Threads` (never `Auto`).
    pub fn backend(&self) -> Backend {
        self.inner.engine.backend()
    }

    /// The eventfd the ring signals when completions arrive (both backends). With
    /// [`Reaper::External`], watch it for readability and call [`Rio::reap`].
    pub fn eventfd(&self) -> BorrowedFd<'_> {
        use std::os::fd::AsFd;
        self.inner.eventfd.as_fd()
    }

    /// The most ops the engine holds at once; more wait in the backlog.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// Whether multishot ops ([`RawOp::AcceptMulti`], [`RawOp::RecvMulti`]) and provided buffer
    /// rings work here: the io_uring backend on Linux 6.0 or later.
    pub fn multishot(&self) -> bool {
        self.inner.engine.uring().is_some_and(|uring| uring.has_multishot)
    }

    /// Registers a ring of provided buffers as group `group`, for [`RawOp::RecvMulti`]:
    /// `ring_addr` points at `entries` (a power of two) `io_uring_buf` entries of 16 bytes,
    /// page-aligned; the caller fills the entries and publishes them by advancing the tail (the
    /// `u16` at byte 14 of the ring) with a release store, and gives each buffer back the same way
    /// once it has taken the data a completion named.
    ///
    /// # Safety
    /// The ring memory and every buffer its entries ever name must stay valid, and not be read or
    /// written by anyone else while the kernel owns them (from their publication to the completion
    /// naming them), until the ring is dropped.
    pub unsafe fn register_buf_ring(&self, ring_addr: *mut u8, entries: u16, group: u16) -> io::Result<()> {
        let _state = self.inner.lock();
        match self.inner.engine.uring() {
            // SAFETY: forwarded from this function's contract.
            Some(uring) if uring.has_multishot => unsafe { uring.register_buf_ring(ring_addr, entries, group) },
            _ => Err(io::Error::new(io::ErrorKind::Unsupported, "provided buffer rings need the io_uring backend on Linux 6.0 or later")),
        }
    }

    /// Hands every submitted op to the engine: one `io_uring_enter` on io_uring. Ops are also
    /// flushed when a completion is waited on or polled, and when a scope ends. With a reaper
    /// thread this returns once the reaper has made that enter.
    pub fn submit_all(&self) -> io::Result<()> {
        let mut state = self.inner.lock();
        self.inner.flush_locked(&mut state)?;
        if !state.reaper_request.enter {
            return Ok(());
        }
        // Passes run whole under the lock, so the next one takes this request.
        let pass = state.reaper_flushes.passes + 1;
        while state.reaper_flushes.passes < pass {
            state = self.inner.reaped.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
        match state.reaper_flushes.last_errno {
            Some(errno) => Err(io::Error::from_raw_os_error(errno)),
            None => Ok(()),
        }
    }

    /// Submits an op whose completion is reported by [`Rio::reap`] under `tag`. Returns the op's
    /// user data, for [`Rio::cancel_user_data`]. It reaches the engine at the next flush.
    ///
    /// # Safety
    /// Every pointer in `op` must stay valid (and, for memory the kernel writes, unaliased) until
    /// `reap` has reported this op's completion, or until the ring is dropped.
    pub unsafe fn submit_raw(&self, op: RawOp, ordering: Ordering, tag: u64) -> io::Result<u64> {
        self.inner.submit(op, ordering, Sink::External { tag }, None)
    }

    /// Moves every completion of raw ops that has arrived into `out`; returns how many. Also
    /// moves waiting ops into the engine as room frees up. Call it when [`Rio::eventfd`] is
    /// readable (it clears the eventfd).
    pub fn reap(&self, out: &mut Vec<Ready>) -> usize {
        // With a reaper thread the eventfd is its wakeup (for completions and for flush requests):
        // reading it here could leave the reaper asleep with work to do.
        if self.reaper.is_none() && !self.inner.quiet.load(AtomicOrdering::Relaxed) {
            let mut counter = 0u64;
            // SAFETY: reads 8 bytes into a live u64 from the ring's non-blocking eventfd; EAGAIN
            // (the counter was already zero) is fine.
            unsafe { libc::read(self.inner.eventfd.as_raw_fd(), (&mut counter as *mut u64).cast(), 8) };
        }
        let before = out.len();
        let mut wakers = Vec::new();
        let mut state = self.inner.lock();
        self.inner.reap_locked(&mut state, &mut wakers);
        out.append(&mut state.ready);
        drop(state);
        self.inner.after_reap(wakers);
        out.len() - before
    }

    /// Turns the eventfd's signals off (`false`) or back on. A poller that keeps reaping on its own
    /// for a while (the Node binding, while it hands batches to JS and submits what JS started)
    /// saves the kernel a wakeup per completion, and `reap` a read of the eventfd. Turning them back
    /// on signals the eventfd if completions arrived meanwhile, so none is missed.
    pub fn set_notifications(&self, enabled: bool) {
        let state = self.inner.lock();
        self.inner.quiet.store(!enabled, AtomicOrdering::Relaxed);
        self.inner.engine.set_eventfd_enabled(enabled);
        let pending = enabled && self.inner.engine.has_completions();
        drop(state);
        if pending {
            self.inner.signal_eventfd();
        }
    }

    /// Asks the op with this user data to stop; it completes with `-ECANCELED` if it had not
    /// started (or was waiting on a socket or timer), and with its own result otherwise. Unknown
    /// or finished ops are ignored. (The `cancel` op of [`Ops`](crate::Ops) does the same as an op
    /// with an ordering and a result of its own.)
    pub fn cancel_user_data(&self, user_data: u64) -> io::Result<()> {
        let mut state = self.inner.lock();
        self.inner.cancel_locked(&mut state, user_data)
    }

    /// Cancels every op in flight (see [`Rio::cancel_user_data`]) and refuses new ones with `BrokenPipe`.
    /// Completions still arrive, and the ring still has to be dropped. (Not `close`, which is the
    /// op that closes a descriptor.)
    pub fn close_ring(&self) -> io::Result<()> {
        let mut state = self.inner.lock();
        state.closed = true;
        self.inner.cancel_all_locked(&mut state)
    }

    /// Blocks until every op submitted so far has completed (including ops whose completions were
    /// leaked).
    pub fn wait_idle(&self) {
        self.inner.block_until(|state| (state.in_flight.pending() == 0).then_some(()));
    }

    /// The ring's counters.
    pub fn stats(&self) -> Stats {
        let state = self.inner.lock();
        Stats {
            submitted: state.submitted,
            completed: state.completed,
            in_flight: state.in_flight.pending(),
            backlog: state.backlog.len(),
            flushes: state.flushes,
            latencies: state.profile.as_ref().map(Profile::latencies).unwrap_or_default(),
        }
    }
}

impl Drop for Rio {
    fn drop(&mut self) {
        let _ = self.close_ring();
        self.wait_idle();
        {
            // Wait for the internal cancels too, so the kernel is done with everything.
            self.inner.block_until(|state| (state.in_engine == 0 && state.cancels.is_empty()).then_some(()));
        }
        self.inner.stopping.store(true, AtomicOrdering::Release);
        self.inner.signal_eventfd();
        if let Some(reaper) = self.reaper.take() {
            let _ = reaper.join();
        }
        if self.inner.config.print_profile_on_drop {
            if let Some(profile) = &self.inner.lock().profile {
                eprint!("{}", profile.report());
            }
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held leaves the table consistent (every mutation is a single
        // step), so a poisoned lock is still safe to use, and waiting for the kernel must go on.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn submit(&self, mut op: RawOp, ordering: Ordering, sink: Sink, scope: Option<usize>) -> io::Result<u64> {
        // A typed op outside a scope only borrows its file for as long as its Completion lives,
        // and a forgotten Completion ends that borrow while the op may still wait: the file could
        // be closed and its number reused by another. So such an op uses its own duplicate of the
        // descriptor. (In a scope, the scope outlives the borrow; raw ops are their caller's charge.)
        let pinned = match (&sink, scope) {
            (Sink::Completion { .. }, None) => op.pin_descriptor()?,
            _ => None,
        };
        let mut state = self.lock();
        if state.closed {
            return Err(closed_error());
        }
        if state.open_chain + 1 > self.max_chain && (ordering.links() || state.open_chain > 0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("a link chain may hold at most {} ops (the ring's depth)", self.max_chain),
            ));
        }
        let started = state.profile.is_some().then(Instant::now);
        let user_data = state.in_flight.insert(op.kind(), sink, scope, started, pinned);
        if let Some(scope) = scope {
            state.scopes[scope] += 1;
        }
        if state.open_chain == 0 {
            state.open_chain_first = state.submitted;
        }
        state.submitted += 1;
        let alone = state.open_chain == 0 && !ordering.links() && state.backlog.is_empty();
        if alone && state.in_engine < self.capacity && self.engine.submission_room() > 0 {
            // The common case, a chain of one op with nothing waiting before it and room for it:
            // straight to the engine, as `pump` would take it, without a trip through the backlog.
            let mut wakers = Vec::new();
            self.push_or_fail(&mut state, &op, user_data, ordering, &mut wakers);
            state.unflushed = true;
            wakers.into_iter().for_each(Waker::wake);
            return Ok(user_data);
        }
        state.backlog.push_back(Queued { op, user_data, ordering, cancelled: false });
        state.open_chain = if ordering.links() { state.open_chain + 1 } else { 0 };
        // Write the SQE now if there is room: the flush then only has to enter the kernel. The op
        // is queued whatever happens here, so an error must not be reported as its refusal (its
        // Completion would then free the memory the op still points into): the kernel's refusal
        // to take SQEs now is retried at every flush and wait.
        let _ = self.pump(&mut state, false);
        Ok(user_data)
    }

    /// Hands backlog chains to the engine while there is room. An open chain at the end goes too
    /// only when `end_open_chain` (a flush ends chains, as `io_uring_enter` does).
    fn pump(&self, state: &mut State, end_open_chain: bool) -> io::Result<()> {
        let mut wakers = Vec::new();
        while !state.backlog.is_empty() {
            let terminated = state.backlog.len() - state.open_chain;
            let chain_len = if terminated > 0 {
                state.backlog.iter().position(|queued| !queued.ordering.links()).expect("a terminated chain") + 1
            } else if end_open_chain {
                state.backlog.len()
            } else {
                break;
            };
            if state.in_engine + chain_len > self.capacity {
                break;
            }
            // A chain goes into the submission queue whole, so it reaches the kernel in one enter.
            if self.engine.submission_room() < chain_len && !self.enter(state)? {
                break;
            }
            if terminated == 0 {
                state.open_chain = 0;
            }
            self.push_chain(state, chain_len, &mut wakers)?;
        }
        // Ops cancelled in the backlog complete here; their wakers can run once the lock is gone,
        // but nothing here may block, so wake now: a waker only schedules a task.
        wakers.into_iter().for_each(Waker::wake);
        Ok(())
    }

    fn push_chain(&self, state: &mut State, chain_len: usize, wakers: &mut Vec<Waker>) -> io::Result<()> {
        let mut broken = false;
        let mut last_pushed: Option<(RawOp, u64, Ordering)> = None;
        for _ in 0..chain_len {
            let queued = state.backlog.pop_front().expect("the chain is in the backlog");
            if broken || queued.cancelled {
                // A cancelled op fails like any op: with `Link` the rest of its chain fails too.
                broken |= queued.ordering == Ordering::Link;
                Self::complete_locked(state, queued.user_data, -libc::ECANCELED, 0, wakers);
                continue;
            }
            if let Some((op, user_data, ordering)) = last_pushed.take() {
                if !self.push_or_fail(state, &op, user_data, ordering, wakers) {
                    broken = true;
                    continue;
                }
            }
            last_pushed = Some((queued.op, queued.user_data, queued.ordering));
        }
        // The chain's last op never links on: what follows in the queue is another chain.
        if let Some((op, user_data, ordering)) = last_pushed {
            let ordering = if ordering.links() { Ordering::None } else { ordering };
            self.push_or_fail(state, &op, user_data, ordering, wakers);
            state.unflushed = true;
        }
        Ok(())
    }

    /// Hands one op to the engine. An op the engine refuses has left the backlog, so it completes
    /// (failed) rather than vanish. Says whether the engine took it.
    fn push_or_fail(&self, state: &mut State, op: &RawOp, user_data: u64, ordering: Ordering, wakers: &mut Vec<Waker>) -> bool {
        match self.engine.push(op, user_data, ordering) {
            Ok(()) => {
                state.in_engine += 1;
                true
            }
            Err(error) => {
                Self::complete_locked(state, user_data, -errno_of(&error), 0, wakers);
                false
            }
        }
    }

    /// Flushes everything submitted so far, ending a link chain still open.
    pub(crate) fn flush_locked(&self, state: &mut State) -> io::Result<()> {
        if !self.may_enter() {
            let request = &mut state.reaper_request;
            request.end_chains_begun_before = request.end_chains_begun_before.max(state.submitted);
        }
        self.flush_ops(state, state.submitted)
    }

    fn flush_ops(&self, state: &mut State, end_chains_begun_before: u64) -> io::Result<()> {
        self.push_cancels(state)?;
        let end_open_chain = state.open_chain > 0 && state.open_chain_first < end_chains_begun_before;
        self.pump(state, end_open_chain)?;
        if state.unflushed {
            self.enter(state)?;
        }
        Ok(())
    }

    /// The kernel ties every io_uring request to the thread whose `io_uring_enter` submitted it, and
    /// cancels (ECANCELED) what is still queued or waiting when that thread exits: a write flushed
    /// by a short-lived thread could fail for no reason of its own. So when a reaper thread, which
    /// lives as long as the ring, exists, only it enters the kernel; other threads write SQEs and
    /// ask it to flush. (With an external poller, the caller picks the thread: see `Reaper`.)
    fn may_enter(&self) -> bool {
        !self.enters_on_reaper || self.reaper_thread.get() == Some(&std::thread::current().id())
    }

    /// Hands what the engine holds to the kernel (one `io_uring_enter`), or, on a thread that may
    /// not enter it, asks the reaper to. Says whether the flush happened here.
    fn enter(&self, state: &mut State) -> io::Result<bool> {
        if !self.may_enter() {
            state.reaper_request.enter = true;
            self.reaper_requested.store(true, AtomicOrdering::Release);
            if !state.reaper_signalled && !self.reaper_awake.load(AtomicOrdering::Acquire) {
                state.reaper_signalled = true;
                self.signal_eventfd();
            }
            return Ok(false);
        }
        self.engine.flush()?;
        state.unflushed = false;
        state.flushes += 1;
        Ok(true)
    }

    /// Pushes the cancels asked for as SQEs, skipping ops that have completed meanwhile.
    fn push_cancels(&self, state: &mut State) -> io::Result<()> {
        while let Some(&target) = state.cancels.last() {
            if !state.in_flight.get_mut(target).is_some_and(|slot| slot.result.is_none()) {
                state.cancels.pop();
                continue;
            }
            if self.engine.submission_room() == 0 && !self.enter(state)? {
                return Ok(());
            }
            self.engine.cancel(target)?;
            state.cancels.pop();
            state.in_engine += self.engine.internal_cqes_per_cancel();
            state.unflushed = true;
        }
        Ok(())
    }

    /// Drains the engine's completions into the table, then moves waiting ops into the room freed.
    fn reap_locked(&self, state: &mut State, wakers: &mut Vec<Waker>) {
        let mut reaped = 0;
        let may_enter = self.may_enter();
        let overflow_left = self.engine.drain(may_enter, &mut |user_data, result, flags| {
            if io_uring::cqueue::more(flags) {
                // A multishot op goes on: report this completion, keep the op in flight.
                Self::report_more(state, user_data, result, flags);
                return;
            }
            reaped += 1;
            if user_data != INTERNAL_USER_DATA {
                Self::complete_locked(state, user_data, result, flags, wakers);
            }
        });
        state.in_engine -= reaped;
        if overflow_left && !may_enter {
            // The reaper's enter brings the completions the kernel holds back.
            let _ = self.enter(state);
        }
        if reaped > 0 && !state.backlog.is_empty() {
            // Only whole chains: a chain the submitter is still building must not be cut here.
            let _ = self.pump(state, false);
            if state.unflushed {
                let _ = self.enter(state);
            }
        }
    }

    /// A completion of a multishot op that goes on: only raw ops can be multishot, so it goes to
    /// the ready list.
    fn report_more(state: &mut State, user_data: u64, result: i32, flags: u32) {
        if let Some(slot) = state.in_flight.get_mut(user_data) {
            if let Sink::External { tag } = slot.sink {
                state.ready.push(Ready { tag, result, flags });
            }
        }
    }

    fn complete_locked(state: &mut State, user_data: u64, result: i32, flags: u32, wakers: &mut Vec<Waker>) {
        let Some(slot) = state.in_flight.complete(user_data, result) else { return };
        let kind = slot.kind;
        let started = slot.started;
        let scope = slot.scope;
        let tag = match &mut slot.sink {
            Sink::Completion { waker } => {
                wakers.extend(waker.take());
                None
            }
            Sink::External { tag } => Some(*tag),
        };
        if let Some(tag) = tag {
            state.in_flight.remove(user_data);
            state.ready.push(Ready { tag, result, flags });
        }
        if let Some(scope) = scope {
            state.scopes[scope] -= 1;
        }
        state.completed += 1;
        if let (Some(profile), Some(started)) = (&mut state.profile, started) {
            profile.record(kind, started.elapsed());
        }
    }

    fn after_reap(&self, wakers: Vec<Waker>) {
        self.reaps.fetch_add(1, AtomicOrdering::Release);
        self.reaped.notify_all();
        wakers.into_iter().for_each(Waker::wake);
    }

    fn cancel_locked(&self, state: &mut State, user_data: u64) -> io::Result<()> {
        if let Some(position) = state.backlog.iter().position(|queued| queued.user_data == user_data) {
            // The head of a whole chain still waiting for room completes now: marking it and waiting
            // for room could wait forever when the engine is full of ops that wait on sockets or
            // timers. An op later in a chain, or in a chain still open, depends on the ops before
            // it, so it stays marked and fails when its chain reaches the engine.
            let heads_chain = position == 0 || !state.backlog[position - 1].ordering.links();
            let chain_len = state.backlog.iter().skip(position).position(|queued| !queued.ordering.links()).map(|last| last + 1);
            let Some(chain_len) = chain_len.filter(|_| heads_chain) else {
                state.backlog[position].cancelled = true;
                return self.pump(state, false);
            };
            // As in `push_chain`: a failed `Link` fails the rest of its chain, a `HardLink` does not.
            let failed = if state.backlog[position].ordering == Ordering::Link { chain_len } else { 1 };
            let mut wakers = Vec::new();
            let removed: Vec<Queued> = state.backlog.drain(position..position + failed).collect();
            for queued in removed {
                Self::complete_locked(state, queued.user_data, -libc::ECANCELED, 0, &mut wakers);
            }
            self.reaped.notify_all();
            wakers.into_iter().for_each(Waker::wake);
            return Ok(());
        }
        match state.in_flight.get_mut(user_data) {
            Some(slot) if slot.result.is_none() => {
                state.cancels.push(user_data);
                self.flush_locked(state)
            }
            _ => Ok(()),
        }
    }

    fn cancel_all_locked(&self, state: &mut State) -> io::Result<()> {
        let mut wakers = Vec::new();
        for queued in std::mem::take(&mut state.backlog) {
            Self::complete_locked(state, queued.user_data, -libc::ECANCELED, 0, &mut wakers);
        }
        state.open_chain = 0;
        wakers.into_iter().for_each(Waker::wake);
        // One cancel per op rather than one IORING_ASYNC_CANCEL_ANY: that flag needs Linux 5.19,
        // and a close must work on every kernel rio runs on.
        state.cancels.extend(state.in_flight.pending_user_data());
        self.flush_locked(state)
    }

    /// Flushes, then reaps until `done` gives a value, sleeping between batches: on the reaper
    /// thread's signal, or (with an external reaper) in the engine itself.
    pub(crate) fn block_until<R>(&self, mut done: impl FnMut(&mut State) -> Option<R>) -> R {
        let mut state = self.lock();
        // A flush that fails (the kernel short of memory) is retried on every round below.
        let _ = self.flush_locked(&mut state);
        let spin_until = Instant::now() + REAPER_SPIN;
        loop {
            let mut wakers = Vec::new();
            self.reap_locked(&mut state, &mut wakers);
            let outcome = done(&mut state);
            if !wakers.is_empty() || outcome.is_some() {
                drop(state);
                self.after_reap(wakers);
                if let Some(outcome) = outcome {
                    return outcome;
                }
                state = self.lock();
                continue;
            }
            let _ = self.flush_locked(&mut state);
            state = match self.config.reaper {
                Reaper::Thread if Instant::now() < spin_until => {
                    // The reaper serves most waits within microseconds: spin rather than pay for
                    // a sleep and a wakeup (the condition is checked again under the lock).
                    let seen = self.reaps.load(AtomicOrdering::Acquire);
                    drop(state);
                    while self.reaps.load(AtomicOrdering::Acquire) == seen && Instant::now() < spin_until {
                        std::hint::spin_loop();
                    }
                    self.lock()
                }
                Reaper::Thread => self.reaped.wait_timeout(state, Duration::from_millis(100)).unwrap_or_else(|e| e.into_inner()).0,
                Reaper::External => {
                    let external = !state.ready.is_empty();
                    drop(state);
                    if external {
                        // Raw completions reaped here: make sure the external poller hears of them.
                        self.signal_eventfd();
                    }
                    self.engine.wait(Duration::from_millis(10));
                    self.lock()
                }
            };
        }
    }

    fn signal_eventfd(&self) {
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to the ring's eventfd; a full counter (EAGAIN)
        // still leaves it readable, which is all a signal needs.
        unsafe { libc::write(self.eventfd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    }

    /// The reaper thread: sleeps on the eventfd, reaps each batch, wakes the waiters.
    fn reap_forever(&self) {
        let _ = self.reaper_thread.set(std::thread::current().id());
        let fd = self.eventfd.as_raw_fd();
        loop {
            let mut poll_fd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
            // SAFETY: one live pollfd; EINTR just loops.
            unsafe { libc::poll(&mut poll_fd, 1, -1) };
            let mut counter = 0u64;
            // SAFETY: reads 8 bytes into a live u64 from the non-blocking eventfd.
            unsafe { libc::read(fd, (&mut counter as *mut u64).cast(), 8) };
            if self.stopping.load(AtomicOrdering::Acquire) {
                return;
            }
            self.reaper_awake.store(true, AtomicOrdering::Release);
            loop {
                let mut state = self.lock();
                state.reaper_signalled = false;
                let mut wakers = Vec::new();
                let served = self.reaper_pass(&mut state, &mut wakers);
                if !served {
                    // Going to sleep: a request made once the lock is released must signal the
                    // eventfd (requests made before it were served by this pass).
                    self.reaper_awake.store(false, AtomicOrdering::Release);
                }
                drop(state);
                self.after_reap(wakers);
                if !served {
                    break;
                }
                self.spin_for_request();
            }
        }
    }

    /// Reaps, and serves a flush another thread asked for. Says whether it served one.
    fn reaper_pass(&self, state: &mut State, wakers: &mut Vec<Waker>) -> bool {
        self.reap_locked(state, wakers);
        let request = std::mem::take(&mut state.reaper_request);
        self.reaper_requested.store(false, AtomicOrdering::Relaxed);
        if request.enter {
            let flushed = self.flush_ops(state, request.end_chains_begun_before);
            state.reaper_flushes.passes += 1;
            state.reaper_flushes.last_errno = flushed.err().map(|error| errno_of(&error));
            // What completed inside the enter (page-cache reads) is reaped without a wakeup.
            self.reap_locked(state, wakers);
        }
        request.enter
    }

    /// After serving a request, the next one usually follows within microseconds (a thread
    /// waiting on each op in turn): catching it here saves two thread wakeups per op.
    fn spin_for_request(&self) {
        let deadline = Instant::now() + REAPER_SPIN;
        while !self.reaper_requested.load(AtomicOrdering::Acquire) && Instant::now() < deadline {
            std::hint::spin_loop();
        }
    }

    // --- what `Completion` and `Scope` need ---

    /// Takes the op's result if it has arrived (flushing and reaping first), or leaves `waker` to
    /// be called when it does.
    pub(crate) fn poll_result(&self, user_data: u64, waker: Option<&Waker>) -> Option<i32> {
        let mut state = self.lock();
        let _ = self.flush_locked(&mut state);
        let mut wakers = Vec::new();
        self.reap_locked(&mut state, &mut wakers);
        let result = Self::take_result(&mut state, user_data);
        if result.is_none() {
            if let (Some(waker), Some(slot)) = (waker, state.in_flight.get_mut(user_data)) {
                if let Sink::Completion { waker: stored } = &mut slot.sink {
                    match stored {
                        Some(stored) if stored.will_wake(waker) => {}
                        _ => *stored = Some(waker.clone()),
                    }
                }
            }
        }
        drop(state);
        self.after_reap(wakers);
        result
    }

    pub(crate) fn is_done(&self, user_data: u64) -> bool {
        let mut state = self.lock();
        let _ = self.flush_locked(&mut state);
        let mut wakers = Vec::new();
        self.reap_locked(&mut state, &mut wakers);
        let done = state.in_flight.get_mut(user_data).is_none_or(|slot| slot.result.is_some());
        drop(state);
        self.after_reap(wakers);
        done
    }

    pub(crate) fn wait_result(&self, user_data: u64) -> i32 {
        self.block_until(|state| Self::take_result(state, user_data))
    }

    fn take_result(state: &mut State, user_data: u64) -> Option<i32> {
        let result = state.in_flight.get_mut(user_data)?.result?;
        state.in_flight.remove(user_data);
        Some(result)
    }

    pub(crate) fn cancel_op(&self, user_data: u64) -> io::Result<()> {
        let mut state = self.lock();
        self.cancel_locked(&mut state, user_data)
    }

    pub(crate) fn open_scope(&self) -> usize {
        self.lock().scopes.insert(0)
    }

    /// Waits until every op of the scope has completed, then forgets the slots of completions
    /// that were leaked: nobody can take their results any more.
    pub(crate) fn close_scope(&self, scope: usize) {
        self.block_until(|state| (state.scopes[scope] == 0).then_some(()));
        let mut state = self.lock();
        state.in_flight.forget_scope(scope);
        state.scopes.remove(scope);
    }
}
