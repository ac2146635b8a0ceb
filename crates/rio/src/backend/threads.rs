//! The threads engine: the same operations as blocking syscalls on a pool of threads, for where
//! io_uring is refused. It keeps io_uring's semantics: a link chain runs in order on one thread
//! and a failed `Link` cancels the rest with ECANCELED (a `HardLink` does not); a `Drain` op waits
//! for everything before it and holds back everything after it; an op can be cancelled while it
//! is queued or while it waits for a socket, a pipe or a timer. Completions go to a list and the
//! ring's eventfd, exactly where io_uring would post them.
//!
//! Pool threads are started as work arrives, up to `max_threads` running at once. A thread that
//! blocks waiting for a socket, a pipe or a timer lends its place: it stops counting against the
//! limit while it waits, so ten thousand idle connections never starve a file read. Threads beyond
//! the limit that stay idle for a while exit; the rest stop when the ring drops.

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crate::config::Config;
use crate::op::{Ordering, RawOp, CURRENT_POSITION};

pub(crate) struct ThreadsEngine {
    pool: Arc<Pool>,
    /// Ops pushed since the last flush, as chains (the last one may still be open).
    unflushed: Mutex<Vec<Chain>>,
}

/// How long a thread beyond `max_threads` stays when it has nothing to do.
const SURPLUS_IDLE: std::time::Duration = std::time::Duration::from_secs(10);

struct Pool {
    work: Mutex<Work>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    max_threads: usize,
    work_changed: Condvar,
    done: Mutex<Vec<(u64, i32)>>,
    /// Notified when `done` gains a completion (for blocking waits without a reaper thread).
    done_changed: Condvar,
    eventfd: RawFd,
    /// Whether a completion signals `eventfd` (see `Rio::set_notifications`).
    notify: std::sync::atomic::AtomicBool,
}

#[derive(Default)]
struct Work {
    queue: VecDeque<Chain>,
    running: usize,
    idle: usize,
    /// Threads alive.
    live: usize,
    /// Threads blocked waiting for readiness or a timer: they do not count against the limit.
    waiting: usize,
    drain_running: bool,
    shutdown: bool,
    /// Every op that has not completed, for cancellation.
    cancel_tokens: HashMap<u64, Arc<CancelToken>>,
}

#[derive(Default)]
struct Chain {
    ops: Vec<ChainOp>,
    drain: bool,
    open: bool,
}

struct ChainOp {
    op: RawOp,
    user_data: u64,
    ordering: Ordering,
    token: Arc<CancelToken>,
}

/// Where an op is, as cancellation sees it.
#[derive(Default)]
struct CancelToken {
    state: Mutex<TokenState>,
}

#[derive(Default)]
struct TokenState {
    cancelled: bool,
    phase: Phase,
    /// The eventfd that interrupts the pool thread's wait while the op is `Waiting`.
    wake: Option<RawFd>,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum Phase {
    #[default]
    Queued,
    /// Blocked in poll(2) on a socket, pipe or timer: cancellation wakes it.
    Waiting,
    /// Inside a syscall that cannot be interrupted.
    Running,
}

impl ThreadsEngine {
    pub fn start(config: &Config, eventfd: RawFd) -> ThreadsEngine {
        ThreadsEngine {
            pool: Arc::new(Pool {
                work: Mutex::new(Work::default()),
                threads: Mutex::new(Vec::new()),
                max_threads: config.max_threads,
                work_changed: Condvar::new(),
                done: Mutex::new(Vec::new()),
                done_changed: Condvar::new(),
                eventfd,
                notify: std::sync::atomic::AtomicBool::new(true),
            }),
            unflushed: Mutex::new(Vec::new()),
        }
    }

    pub fn push(&self, op: RawOp, user_data: u64, ordering: Ordering) {
        let token = Arc::new(CancelToken::default());
        self.pool.work.lock().unwrap().cancel_tokens.insert(user_data, token.clone());
        let mut unflushed = self.unflushed.lock().unwrap();
        if !unflushed.last().is_some_and(|chain| chain.open) {
            unflushed.push(Chain::default());
        }
        let chain = unflushed.last_mut().expect("a chain was just pushed");
        chain.drain |= ordering == Ordering::Drain;
        chain.open = ordering.links();
        chain.ops.push(ChainOp { op, user_data, ordering, token });
    }

    pub fn flush(&self) {
        let chains = std::mem::take(&mut *self.unflushed.lock().unwrap());
        if chains.is_empty() {
            return;
        }
        self.pool.work.lock().unwrap().queue.extend(chains);
        self.pool.work_changed.notify_all();
        self.pool.spawn_if_needed();
    }

    pub fn drain(&self, complete: &mut dyn FnMut(u64, i32)) {
        let done = std::mem::take(&mut *self.pool.done.lock().unwrap());
        for (user_data, result) in done {
            complete(user_data, result);
        }
    }

    /// Cancels an op: 0 when it will complete with ECANCELED, -EALREADY when it is inside a
    /// syscall that cannot be interrupted, -ENOENT when there is no such op.
    pub fn cancel(&self, target: u64) -> i32 {
        // Into the queue first, where `Pool::cancel` can take an op out while it waits for a thread.
        self.flush();
        self.pool.cancel(target)
    }

    pub fn set_eventfd_enabled(&self, enabled: bool) {
        self.pool.notify.store(enabled, std::sync::atomic::Ordering::SeqCst);
    }

    pub fn has_completions(&self) -> bool {
        !self.pool.done.lock().unwrap().is_empty()
    }

    pub fn wait(&self, timeout: std::time::Duration) {
        let done = self.pool.done.lock().unwrap();
        if done.is_empty() {
            drop(self.pool.done_changed.wait_timeout(done, timeout).unwrap());
        }
    }
}

impl Drop for ThreadsEngine {
    fn drop(&mut self) {
        self.pool.work.lock().unwrap().shutdown = true;
        self.pool.work_changed.notify_all();
        let threads = std::mem::take(&mut *self.pool.threads.lock().unwrap());
        for handle in threads {
            let _ = handle.join();
        }
    }
}

impl CancelToken {
    fn cancel(&self) -> i32 {
        let mut state = self.state.lock().unwrap();
        match state.phase {
            Phase::Running => -libc::EALREADY,
            Phase::Queued => {
                state.cancelled = true;
                0
            }
            Phase::Waiting => {
                state.cancelled = true;
                if let Some(wake) = state.wake {
                    signal(wake);
                }
                0
            }
        }
    }

    /// Moves the op out of the queue; false if it was cancelled there.
    fn start(&self, phase: Phase, wake: RawFd) -> bool {
        let mut state = self.state.lock().unwrap();
        if state.cancelled {
            return false;
        }
        state.phase = phase;
        state.wake = Some(wake);
        true
    }

    fn is_cancelled(&self) -> bool {
        self.state.lock().unwrap().cancelled
    }
}

/// What a pool thread needs while it runs one op.
struct OpContext<'a> {
    pool: &'a Arc<Pool>,
    token: &'a CancelToken,
    /// The thread's own eventfd, which cancellation writes to interrupt a wait.
    wake: RawFd,
}

/// A pool thread's place, lent while it blocks (see the module docs).
struct LentPlace<'a>(&'a Arc<Pool>);

impl Drop for LentPlace<'_> {
    fn drop(&mut self) {
        self.0.work.lock().unwrap().waiting -= 1;
    }
}

impl Pool {
    /// Starts threads for queued chains that no idle thread will take, within the limit (threads
    /// blocked on readiness not counted).
    fn spawn_if_needed(self: &Arc<Pool>) {
        let mut threads = self.threads.lock().unwrap();
        let mut work = self.work.lock().unwrap();
        let unserved = work.queue.len().saturating_sub(work.idle);
        let room = self.max_threads.saturating_sub(work.live - work.waiting);
        let wanted = unserved.min(room);
        if wanted == 0 {
            return;
        }
        work.live += wanted;
        drop(work);
        threads.retain(|handle| !handle.is_finished());
        for started in 0..wanted {
            let pool = self.clone();
            let spawned = std::thread::Builder::new().name("rio-threads".into()).spawn(move || pool.serve());
            match spawned {
                Ok(handle) => threads.push(handle),
                Err(error) => {
                    self.work.lock().unwrap().live -= wanted - started;
                    // Out of threads: the ones already running work through the queue.
                    assert!(!threads.is_empty(), "rio: cannot start a pool thread: {error}");
                    return;
                }
            }
        }
    }

    /// Stops counting this thread against the limit until the guard drops, starting a
    /// replacement if queued work would otherwise wait.
    fn lend_place(self: &Arc<Pool>) -> LentPlace<'_> {
        self.work.lock().unwrap().waiting += 1;
        self.spawn_if_needed();
        LentPlace(self)
    }

    fn cancel(&self, target: u64) -> i32 {
        let mut work = self.work.lock().unwrap();
        // The head of a chain still waiting for a thread completes now: with every thread blocked
        // on a socket or a timer, marking it and waiting for a thread could wait forever. As in
        // `run_chain`, a failed `Link` fails the rest of its chain, a `HardLink` does not.
        let queued = work.queue.iter().position(|chain| chain.ops.first().is_some_and(|op| op.user_data == target));
        if let Some(index) = queued {
            let chain = &mut work.queue[index];
            let failed = if chain.ops[0].ordering == Ordering::Link { chain.ops.len() } else { 1 };
            let removed: Vec<ChainOp> = chain.ops.drain(..failed).collect();
            chain.drain = chain.ops.iter().any(|op| op.ordering == Ordering::Drain);
            if chain.ops.is_empty() {
                work.queue.remove(index);
            }
            for op in &removed {
                work.cancel_tokens.remove(&op.user_data);
            }
            drop(work);
            for op in removed {
                self.post(op.user_data, -libc::ECANCELED);
            }
            return 0;
        }
        let token = work.cancel_tokens.get(&target).cloned();
        drop(work);
        match token {
            Some(token) => token.cancel(),
            None => -libc::ENOENT,
        }
    }

    fn serve(self: Arc<Pool>) {
        // SAFETY: eventfd(2) with valid flags returns a new descriptor or -1, checked below.
        let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        assert!(raw >= 0, "rio: cannot create a pool thread's eventfd: {}", std::io::Error::last_os_error());
        // SAFETY: `raw` was just returned by eventfd(2) and nothing else owns it.
        let wake = unsafe { OwnedFd::from_raw_fd(raw) };
        while let Some(chain) = self.next_chain() {
            let drain = chain.drain;
            self.run_chain(chain, wake.as_raw_fd());
            let mut work = self.work.lock().unwrap();
            work.running -= 1;
            if drain {
                work.drain_running = false;
            }
            drop(work);
            self.work_changed.notify_all();
        }
    }

    fn next_chain(&self) -> Option<Chain> {
        let mut work = self.work.lock().unwrap();
        loop {
            let runnable = match work.queue.front() {
                Some(front) if !work.drain_running => !front.drain || work.running == 0,
                _ => false,
            };
            if runnable {
                let chain = work.queue.pop_front().expect("front exists");
                work.running += 1;
                work.drain_running = chain.drain;
                return Some(chain);
            }
            if work.shutdown && work.queue.is_empty() {
                work.live -= 1;
                return None;
            }
            work.idle += 1;
            let (guard, waited) = self.work_changed.wait_timeout(work, SURPLUS_IDLE).unwrap();
            work = guard;
            work.idle -= 1;
            if waited.timed_out() && work.live - work.waiting > self.max_threads && work.queue.is_empty() {
                work.live -= 1;
                return None;
            }
        }
    }

    fn run_chain(self: &Arc<Pool>, chain: Chain, wake: RawFd) {
        let mut broken = false;
        for ChainOp { op, user_data, ordering, token } in chain.ops {
            let result = if broken {
                -libc::ECANCELED
            } else {
                let phase = if waits_for_readiness(&op) { Phase::Waiting } else { Phase::Running };
                if token.start(phase, wake) {
                    self.execute(&op, &OpContext { pool: self, token: &token, wake })
                } else {
                    -libc::ECANCELED
                }
            };
            if ordering == Ordering::Link && op.breaks_chain(result) {
                broken = true;
            }
            self.work.lock().unwrap().cancel_tokens.remove(&user_data);
            self.post(user_data, result);
        }
    }

    /// Posts a completion where io_uring would: the done list and the ring's eventfd.
    fn post(&self, user_data: u64, result: i32) {
        self.done.lock().unwrap().push((user_data, result));
        self.done_changed.notify_all();
        // SeqCst pairs with `set_eventfd_enabled`: either this sees notifications back on and
        // signals, or the re-enabler sees this completion in `done` and signals for it.
        if self.notify.load(std::sync::atomic::Ordering::SeqCst) {
            signal(self.eventfd);
        }
    }

    /// Makes the syscall `op` stands for and returns what the kernel would put in the CQE.
    fn execute(&self, op: &RawOp, cx: &OpContext<'_>) -> i32 {
        use libc::{POLLIN, POLLOUT};
        // SAFETY (for every syscall below): the pointers in `op` are valid for the lengths given
        // until this op's completion is reaped (the RawOp contract), which happens only after this
        // function returns and the result is posted.
        unsafe {
            match *op {
                RawOp::Nop => 0,
                RawOp::Read { fd, buf, len, offset, .. } => positioned_or_stream(fd.raw, POLLIN, offset, cx,
                    || libc::pread(fd.raw, buf.cast(), len as usize, offset as i64) as i32,
                    || libc::read(fd.raw, buf.cast(), len as usize) as i32,
                ),
                RawOp::Write { fd, buf, len, offset, .. } => positioned_or_stream(fd.raw, POLLOUT, offset, cx,
                    || libc::pwrite(fd.raw, buf.cast(), len as usize, offset as i64) as i32,
                    || libc::write(fd.raw, buf.cast(), len as usize) as i32,
                ),
                RawOp::Readv { fd, iov, iov_count, offset } => positioned_or_stream(fd.raw, POLLIN, offset, cx,
                    || libc::preadv(fd.raw, iov, iov_count as i32, offset as i64) as i32,
                    || libc::readv(fd.raw, iov, iov_count as i32) as i32,
                ),
                RawOp::Writev { fd, iov, iov_count, offset } => positioned_or_stream(fd.raw, POLLOUT, offset, cx,
                    || libc::pwritev(fd.raw, iov, iov_count as i32, offset as i64) as i32,
                    || libc::writev(fd.raw, iov, iov_count as i32) as i32,
                ),
                RawOp::Fsync { fd, datasync: false } => cvt(libc::fsync(fd.raw)),
                RawOp::Fsync { fd, datasync: true } => cvt(libc::fdatasync(fd.raw)),
                RawOp::SyncFileRange { fd, offset, len, flags } => {
                    cvt(libc::sync_file_range(fd.raw, offset as i64, i64::from(len), flags))
                }
                RawOp::Fallocate { fd, mode, offset, len } => cvt(libc::fallocate(fd.raw, mode, offset as i64, len as i64)),
                RawOp::OpenAt { dir, path, flags, mode } => cvt(libc::openat(dir, path, flags | libc::O_CLOEXEC, mode)),
                RawOp::Close { fd } => cvt(libc::close(fd)),
                RawOp::Statx { dir, path, flags, mask, out } => cvt(libc::statx(dir, path, flags, mask, out)),
                RawOp::UnlinkAt { dir, path, flags } => cvt(libc::unlinkat(dir, path, flags)),
                RawOp::RenameAt { old_dir, old_path, new_dir, new_path, flags } => {
                    cvt(libc::renameat2(old_dir, old_path, new_dir, new_path, flags))
                }
                RawOp::MkdirAt { dir, path, mode } => cvt(libc::mkdirat(dir, path, mode)),
                RawOp::LinkAt { old_dir, old_path, new_dir, new_path, flags } => {
                    cvt(libc::linkat(old_dir, old_path, new_dir, new_path, flags))
                }
                RawOp::SymlinkAt { target, new_dir, link_path } => cvt(libc::symlinkat(target, new_dir, link_path)),
                RawOp::Ftruncate { fd, len } => ftruncate(fd.raw, len),
                RawOp::Accept { fd, addr, addr_len, flags } => {
                    retry_when_ready(fd.raw, POLLIN, cx, || libc::accept4(fd.raw, addr, addr_len, flags | libc::SOCK_NONBLOCK) )
                        .and_then_blocking(fd.raw)
                }
                RawOp::Connect { fd, addr, addr_len } => connect(fd.raw, addr, addr_len, cx),
                RawOp::Send { fd, buf, len, flags } => retry_when_ready(fd.raw, POLLOUT, cx, || {
                    libc::send(fd.raw, buf.cast(), len as usize, flags | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) as i32
                }),
                RawOp::Recv { fd, buf, len, flags } => retry_when_ready(fd.raw, POLLIN, cx, || {
                    libc::recv(fd.raw, buf.cast(), len as usize, flags | libc::MSG_DONTWAIT) as i32
                }),
                RawOp::SendMsg { fd, msg, flags } => retry_when_ready(fd.raw, POLLOUT, cx, || {
                    libc::sendmsg(fd.raw, msg, flags as i32 | libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL) as i32
                }),
                RawOp::RecvMsg { fd, msg, flags } => retry_when_ready(fd.raw, POLLIN, cx, || {
                    libc::recvmsg(fd.raw, msg, flags as i32 | libc::MSG_DONTWAIT) as i32
                }),
                RawOp::Shutdown { fd, how } => cvt(libc::shutdown(fd.raw, how)),
                RawOp::Timeout { nanos, .. } => timeout(nanos, cx),
                RawOp::Cancel { target } => self.cancel(target),
                // Multishot ops are io_uring's; callers check `Rio::multishot` first.
                RawOp::AcceptMulti { .. } | RawOp::RecvMulti { .. } => -libc::EINVAL,
            }
        }
    }
}

trait AcceptedFd {
    fn and_then_blocking(self, listener: RawFd) -> i32;
}

impl AcceptedFd for i32 {
    /// accept4 ran with SOCK_NONBLOCK so a lost race for a connection cannot block the thread; give
    /// the new socket the blocking mode io_uring's accept would have given it (the listener's).
    fn and_then_blocking(self, listener: RawFd) -> i32 {
        if self < 0 {
            return self;
        }
        // SAFETY: fcntl on descriptors this op owns (the listener is borrowed, `self` is new).
        unsafe {
            let listener_flags = libc::fcntl(listener, libc::F_GETFL);
            if listener_flags >= 0 && listener_flags & libc::O_NONBLOCK == 0 {
                let flags = libc::fcntl(self, libc::F_GETFL);
                libc::fcntl(self, libc::F_SETFL, flags & !libc::O_NONBLOCK);
            }
        }
        self
    }
}

/// Which ops wait on readiness first (and so can be cancelled while they wait).
fn waits_for_readiness(op: &RawOp) -> bool {
    match *op {
        RawOp::Read { offset, .. } | RawOp::Write { offset, .. } => offset == CURRENT_POSITION,
        RawOp::Readv { offset, .. } | RawOp::Writev { offset, .. } => offset == CURRENT_POSITION,
        RawOp::Accept { .. }
        | RawOp::Connect { .. }
        | RawOp::Send { .. }
        | RawOp::Recv { .. }
        | RawOp::SendMsg { .. }
        | RawOp::RecvMsg { .. }
        | RawOp::Timeout { .. } => true,
        _ => false,
    }
}

/// `ftruncate(2)`, with a length beyond `off_t` refused as the kernel refuses it.
fn ftruncate(fd: RawFd, len: u64) -> i32 {
    match i64::try_from(len) {
        // SAFETY: ftruncate takes a descriptor and a length; no memory is involved.
        Ok(len) => cvt(unsafe { libc::ftruncate(fd, len) }),
        Err(_) => -libc::EINVAL,
    }
}

/// -errno for a failed libc call, the value otherwise.
fn cvt(result: i32) -> i32 {
    if result < 0 {
        -errno()
    } else {
        result
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

fn signal(eventfd: RawFd) {
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64 to an eventfd; a full counter (EAGAIN) still leaves it
    // readable, which is all a signal needs.
    unsafe { libc::write(eventfd, (&one as *const u64).cast(), 8) };
}

/// Waits until `fd` has `events` or the op is cancelled; `Err` carries the op's result.
fn wait_ready(fd: RawFd, events: i16, cx: &OpContext<'_>, timeout_ms: i32) -> Result<bool, i32> {
    let OpContext { token, wake, .. } = *cx;
    let mut fds = [
        libc::pollfd { fd, events, revents: 0 },
        libc::pollfd { fd: wake, events: libc::POLLIN, revents: 0 },
    ];
    loop {
        if token.is_cancelled() {
            return Err(-libc::ECANCELED);
        }
        let watched = if fd < 0 { &mut fds[1..] } else { &mut fds[..] };
        // SAFETY: `watched` is a live array of pollfds of the length given.
        let mut ready = unsafe { libc::poll(watched.as_mut_ptr(), watched.len() as _, 0) };
        if ready == 0 && timeout_ms != 0 {
            // Not ready: this thread will block, so it lends its place in the pool meanwhile.
            let _lent = cx.pool.lend_place();
            // SAFETY: as above.
            ready = unsafe { libc::poll(watched.as_mut_ptr(), watched.len() as _, timeout_ms) };
        }
        if ready < 0 && errno() == libc::EINTR {
            continue;
        }
        if ready < 0 {
            return Err(-errno());
        }
        if token.is_cancelled() {
            return Err(-libc::ECANCELED);
        }
        // Drain the wake eventfd so a stale signal does not spin the next wait.
        let mut counter = 0u64;
        // SAFETY: reads 8 bytes into a live u64 from a non-blocking eventfd.
        unsafe { libc::read(wake, (&mut counter as *mut u64).cast(), 8) };
        return Ok(ready > 0);
    }
}

/// A read or write at `offset`, or on the stream when there is no offset to use: at
/// CURRENT_POSITION, and on a file that cannot seek (a pipe, FIFO, socket or character device),
/// where io_uring ignores the offset and pread would fail with ESPIPE. Both backends agree.
fn positioned_or_stream(
    fd: RawFd,
    events: i16,
    offset: u64,
    cx: &OpContext<'_>,
    positioned: impl FnOnce() -> i32,
    stream: impl FnMut() -> i32,
) -> i32 {
    if offset != CURRENT_POSITION {
        let result = cvt(positioned());
        if result != -libc::ESPIPE {
            return result;
        }
    }
    retry_when_ready(fd, events, cx, stream)
}

fn retry_when_ready(fd: RawFd, events: i16, cx: &OpContext<'_>, mut call: impl FnMut() -> i32) -> i32 {
    loop {
        if let Err(result) = wait_ready(fd, events, cx, -1) {
            return result;
        }
        let result = call();
        if result >= 0 {
            return result;
        }
        match errno() {
            libc::EAGAIN | libc::EINTR => continue,
            error => return -error,
        }
    }
}

/// `connect(2)` that never blocks the pool thread in the kernel: a blocking socket is made
/// non-blocking for the call (as io_uring does: it waits for writability, not in connect), so the
/// wait happens in `wait_ready`, where the thread lends its place and can be cancelled. A connect
/// to a listener whose accept queue is full can wait seconds for SYN retries.
fn connect(fd: RawFd, addr: *const libc::sockaddr, addr_len: libc::socklen_t, cx: &OpContext<'_>) -> i32 {
    // SAFETY: fcntl on a descriptor the op borrows; no memory is involved.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return -errno();
    }
    let blocking = flags & libc::O_NONBLOCK == 0;
    if blocking {
        // SAFETY: as above.
        unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) };
    }
    let result = connect_nonblocking(fd, addr, addr_len, cx);
    if blocking {
        // SAFETY: as above: the socket gets back the mode it had.
        unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
    }
    result
}

fn connect_nonblocking(fd: RawFd, addr: *const libc::sockaddr, addr_len: libc::socklen_t, cx: &OpContext<'_>) -> i32 {
    // SAFETY: `addr` is valid for `addr_len` bytes (RawOp contract).
    let started = unsafe { libc::connect(fd, addr, addr_len) };
    if started == 0 {
        return 0;
    }
    match errno() {
        libc::EINPROGRESS | libc::EAGAIN | libc::EINTR => {}
        error => return -error,
    }
    if let Err(result) = wait_ready(fd, libc::POLLOUT, cx, -1) {
        return result;
    }
    let mut error: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // SAFETY: SO_ERROR writes one int into `error`, whose size is in `len`.
    let got = unsafe { libc::getsockopt(fd, libc::SOL_SOCKET, libc::SO_ERROR, (&mut error as *mut i32).cast(), &mut len) };
    if got < 0 {
        -errno()
    } else {
        -error
    }
}

fn timeout(nanos: u64, cx: &OpContext<'_>) -> i32 {
    let deadline = std::time::Instant::now() + std::time::Duration::from_nanos(nanos);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return -libc::ETIME;
        }
        let left_ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
        if let Err(result) = wait_ready(-1, 0, cx, left_ms) {
            return result;
        }
    }
}
