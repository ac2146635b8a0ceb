//! The io_uring engine: turns each `RawOp` into an SQE, submits with one `io_uring_enter` per
//! flush, and drains CQEs. The ring core's lock serialises every call that touches the submission
//! or completion queue, which is what makes the `*_shared` accessors below sound.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use io_uring::{opcode, squeue, types, IoUring};

use super::probe;
use crate::config::Config;
use crate::inflight::INTERNAL_USER_DATA;
use crate::op::{Ordering, RawOp};

pub(crate) struct UringEngine {
    ring: IoUring,
    /// Whether the kernel has IORING_OP_FTRUNCATE (6.9). Without it, an ftruncate runs inline at
    /// push time and completes through a NOP whose result is replaced by the syscall's.
    has_ftruncate: bool,
    /// IORING_TIMEOUT_ETIME_SUCCESS where the kernel takes it (5.16): an expired timer then counts
    /// as a success in a link chain. Before 5.16 the flag fails every timeout with EINVAL.
    timeout_flags: types::TimeoutFlags,
    /// Whether the kernel has multishot accept (5.19), provided buffer rings (5.19) and multishot
    /// recv (6.0).
    pub has_multishot: bool,
    /// Results of ops run inline, by user data, waiting for their NOP's completion.
    inline_results: std::sync::Mutex<std::collections::HashMap<u64, i32>>,
}

/// The opcodes rio uses; a kernel lacking any of them is refused at start.
const NEEDED_OPCODES: [(u8, &str); 24] = [
    (opcode::Nop::CODE, "NOP"),
    (opcode::Read::CODE, "READ"),
    (opcode::Write::CODE, "WRITE"),
    (opcode::Readv::CODE, "READV"),
    (opcode::Writev::CODE, "WRITEV"),
    (opcode::ReadFixed::CODE, "READ_FIXED"),
    (opcode::WriteFixed::CODE, "WRITE_FIXED"),
    (opcode::Fsync::CODE, "FSYNC"),
    (opcode::SyncFileRange::CODE, "SYNC_FILE_RANGE"),
    (opcode::Fallocate::CODE, "FALLOCATE"),
    (opcode::OpenAt::CODE, "OPENAT"),
    (opcode::Close::CODE, "CLOSE"),
    (opcode::Statx::CODE, "STATX"),
    (opcode::UnlinkAt::CODE, "UNLINKAT"),
    (opcode::RenameAt::CODE, "RENAMEAT"),
    (opcode::MkDirAt::CODE, "MKDIRAT"),
    (opcode::LinkAt::CODE, "LINKAT"),
    (opcode::SymlinkAt::CODE, "SYMLINKAT"),
    (opcode::Accept::CODE, "ACCEPT"),
    (opcode::Connect::CODE, "CONNECT"),
    (opcode::SendMsg::CODE, "SENDMSG"),
    (opcode::Shutdown::CODE, "SHUTDOWN"),
    (opcode::Timeout::CODE, "TIMEOUT"),
    (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
];

impl UringEngine {
    pub fn start(config: &Config, eventfd: RawFd) -> io::Result<UringEngine> {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(config.depth * 2);
        if config.sq_poll {
            builder.setup_sqpoll(config.sq_poll_idle_ms);
        }
        if config.io_poll {
            builder.setup_iopoll();
        }
        let kernel = kernel_version();
        if config.cooperative_task_run && !config.sq_poll && kernel >= (5, 19) {
            builder.setup_coop_taskrun();
            // The kernel flags the submission queue while completions wait to be posted, so a
            // reap that finds the completion queue empty knows to enter the kernel (see `drain`).
            builder.setup_taskrun_flag();
        }
        let ring = builder.build(config.depth).map_err(probe::setup_refused)?;
        let mut kernel_ops = io_uring::Probe::new();
        ring.submitter().register_probe(&mut kernel_ops).map_err(probe::setup_refused)?;
        let missing: Vec<&str> = NEEDED_OPCODES
            .iter()
            .filter(|(code, _)| !kernel_ops.is_supported(*code))
            .map(|(_, name)| *name)
            .collect();
        if !missing.is_empty() {
            return Err(probe::missing_opcodes(&missing));
        }
        ring.submitter().register_eventfd(eventfd)?;
        let has_ftruncate = kernel_ops.is_supported(opcode::Ftruncate::CODE);
        let timeout_flags = if kernel >= (5, 16) { types::TimeoutFlags::ETIME_SUCCESS } else { types::TimeoutFlags::empty() };
        let has_multishot = kernel >= (6, 0);
        Ok(UringEngine { ring, has_ftruncate, timeout_flags, has_multishot, inline_results: Default::default() })
    }

    /// The most completions the kernel's queue holds: the in-flight limit.
    pub fn cq_entries(&self) -> usize {
        self.ring.params().cq_entries() as usize
    }

    /// The submission queue's size: the longest chain that fits in one flush.
    pub fn sq_entries(&self) -> usize {
        self.ring.params().sq_entries() as usize
    }

    pub fn submission_room(&self) -> usize {
        // SAFETY: the core's lock is held (see the module docs), so this is the only handle.
        let queue = unsafe { self.ring.submission_shared() };
        queue.capacity() - queue.len()
    }

    pub fn push(&self, op: &RawOp, user_data: u64, ordering: Ordering) -> io::Result<()> {
        let op = match *op {
            RawOp::Ftruncate { fd, len } if !self.has_ftruncate => {
                let result = match i64::try_from(len) {
                    // SAFETY: ftruncate takes a descriptor and a length; no memory is involved.
                    Ok(len) => match unsafe { libc::ftruncate(fd.raw, len) } {
                        0 => 0,
                        _ => -io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO),
                    },
                    Err(_) => -libc::EINVAL,
                };
                self.inline_results.lock().unwrap().insert(user_data, result);
                RawOp::Nop
            }
            op => op,
        };
        let mut entry = to_sqe(&op, self.timeout_flags).user_data(user_data).flags(sqe_flags(ordering));
        if is_large_copy(&op) {
            entry = entry.flags(squeue::Flags::ASYNC);
        }
        self.push_entry(&entry)
    }

    fn push_entry(&self, entry: &squeue::Entry) -> io::Result<()> {
        // SAFETY: the ring core's lock is held for every call into this engine that touches the
        // submission queue, so no other SubmissionQueue handle exists while this one does.
        let mut queue = unsafe { self.ring.submission_shared() };
        // SAFETY: every pointer in the entry stays valid until its completion is reaped (the
        // contract of RawOp, kept by the safe API and by `Rio::submit_raw`'s callers).
        unsafe { queue.push(entry) }.map_err(|_| {
            // The core checks `submission_room` before every push: reaching this is a bug in rio.
            io::Error::other("rio: pushed into a full submission queue")
        })
    }

    pub fn flush(&self) -> io::Result<()> {
        loop {
            match self.ring.submit() {
                Ok(_) => return Ok(()),
                Err(error) if error.raw_os_error() == Some(libc::EINTR) => continue,
                // The kernel could not take every SQE right now (EAGAIN, EBUSY while it flushes
                // overflowed completions): what it took is in flight, the rest goes next flush.
                Err(error) if matches!(error.raw_os_error(), Some(libc::EAGAIN | libc::EBUSY)) => return Ok(()),
                Err(error) => return Err(error),
            }
        }
    }

    pub fn drain(&self, may_enter: bool, complete: &mut dyn FnMut(u64, i32, u32)) -> bool {
        let mut entered = false;
        loop {
            let mut drained = 0;
            {
                // SAFETY: the ring core's lock is held, so this is the only CompletionQueue handle.
                let mut queue = unsafe { self.ring.completion_shared() };
                loop {
                    queue.sync();
                    if queue.is_empty() {
                        break;
                    }
                    for cqe in &mut queue {
                        drained += 1;
                        let result = match self.has_ftruncate {
                            true => cqe.result(),
                            false => self.inline_results.lock().unwrap().remove(&cqe.user_data()).unwrap_or(cqe.result()),
                        };
                        complete(cqe.user_data(), result, cqe.flags());
                    }
                }
            }
            // The CQEs of internal cancels come on top of the ops the core lets in, so a full ring
            // that cancels overflows its completion queue. The kernel keeps the extra CQEs until an
            // io_uring_enter with GETEVENTS (which `submit` makes when it sees the overflow flag);
            // without one, a close() of a full ring waited forever for them.
            // With cooperative task running, completions that are ready but not yet posted wait
            // for this thread's next system call; the kernel's TASKRUN flag says some do, and the
            // enter (which `submit` makes with GETEVENTS when it sees the flag) posts them now.
            let (overflowed, unposted) = {
                // SAFETY: the ring core's lock is held, so this is the only SubmissionQueue handle.
                let queue = unsafe { self.ring.submission_shared() };
                (queue.cq_overflow(), queue.taskrun())
            };
            // An enter that moved nothing means the kernel cannot flush now (or the unposted
            // completions belong to another thread's ops, which that thread's next system call
            // posts): the next reap retries.
            if !(overflowed || unposted) || !may_enter || (entered && drained == 0) || self.flush().is_err() {
                return overflowed;
            }
            entered = true;
        }
    }

    pub fn set_eventfd_enabled(&self, enabled: bool) {
        // SAFETY: the core's lock is held, so this is the only CompletionQueue handle.
        let queue = unsafe { self.ring.completion_shared() };
        if enabled {
            queue.enable_eventfd();
        } else {
            queue.disable_eventfd();
        }
    }

    pub fn has_completions(&self) -> bool {
        // SAFETY: the core's lock is held, so this is the only CompletionQueue handle.
        !unsafe { self.ring.completion_shared() }.is_empty()
    }

    pub fn cancel(&self, target: u64) -> io::Result<()> {
        self.push_entry(&opcode::AsyncCancel::new(target).build().user_data(INTERNAL_USER_DATA))
    }

    pub fn wait(&self, timeout: Duration) {
        let timespec = types::Timespec::from(timeout);
        let args = types::SubmitArgs::new().timespec(&timespec);
        // ETIME (the timeout passed) and EINTR are the expected ways out; anything else is retried
        // by the caller's loop.
        let _ = self.ring.submitter().submit_with_args(1, &args);
    }

    /// Registers a provided-buffer ring of `entries` entries at `ring_addr` as group `group`.
    ///
    /// # Safety
    /// The ring memory (`entries` × 16 bytes, page-aligned) and every buffer its entries name must
    /// stay valid until the ring is dropped: the kernel writes received data into those buffers.
    pub unsafe fn register_buf_ring(&self, ring_addr: *mut u8, entries: u16, group: u16) -> io::Result<()> {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.ring.submitter().register_buf_ring_with_flags(ring_addr as u64, entries, group, 0) }
    }

    pub fn register_files_sparse(&self, count: u32) -> io::Result<()> {
        self.ring.submitter().register_files_sparse(count)
    }

    pub fn update_file(&self, index: u32, fd: RawFd) -> io::Result<()> {
        self.ring.submitter().register_files_update(index, &[fd]).map(drop)
    }

    /// Registers `buffers` as the ring's fixed buffers.
    ///
    /// # Safety
    /// Each iovec must stay valid memory until the ring is dropped (the kernel pins the pages and
    /// writes into them for READ_FIXED ops).
    pub unsafe fn register_buffers(&self, buffers: &[libc::iovec]) -> io::Result<()> {
        // SAFETY: forwarded from this function's contract.
        unsafe { self.ring.submitter().register_buffers(buffers) }
    }
}

/// From this size on, a read or write goes straight to an io-wq worker (IOSQE_ASYNC) instead of
/// being tried inline in `io_uring_enter`: a page-cache copy that large would hold the submitting
/// thread (the JS thread, for the binding) for the whole copy, where a worker copies on another
/// core while the submitter goes on. Smaller ones are cheaper inline than a worker's wakeup.
const LARGE_COPY_BYTES: u32 = 256 << 10;

fn is_large_copy(op: &RawOp) -> bool {
    matches!(*op, RawOp::Read { len, .. } | RawOp::Write { len, .. } if len >= LARGE_COPY_BYTES)
}

fn sqe_flags(ordering: Ordering) -> squeue::Flags {
    match ordering {
        Ordering::None => squeue::Flags::empty(),
        Ordering::Link => squeue::Flags::IO_LINK,
        Ordering::HardLink => squeue::Flags::IO_HARDLINK,
        Ordering::Drain => squeue::Flags::IO_DRAIN,
    }
}

/// Builds an SQE against `fd`, as a registered file (IOSQE_FIXED_FILE) when it is one.
macro_rules! on {
    ($fd:expr, |$target:ident| $build:expr) => {
        match $fd.fixed {
            Some(index) => {
                let $target = types::Fixed(index);
                $build
            }
            None => {
                let $target = types::Fd($fd.raw);
                $build
            }
        }
    };
}

/// The running kernel's (major, minor) version, from `uname -r` (as new as can be if unreadable:
/// the opcode probe at start has already refused a kernel too old for rio).
fn kernel_version() -> (u32, u32) {
    // SAFETY: uname fills a zeroed utsname we own; the release is a NUL-terminated string in it.
    let release = unsafe {
        let mut name: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut name) != 0 {
            return (u32::MAX, 0);
        }
        std::ffi::CStr::from_ptr(name.release.as_ptr()).to_string_lossy().into_owned()
    };
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).filter_map(|part| part.parse::<u32>().ok());
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

fn to_sqe(op: &RawOp, timeout_flags: types::TimeoutFlags) -> squeue::Entry {
    match *op {
        RawOp::Nop => opcode::Nop::new().build(),
        RawOp::Read { fd, buf, len, offset, buf_index: Some(index) } => {
            on!(fd, |t| opcode::ReadFixed::new(t, buf, len, index).offset(offset).build())
        }
        RawOp::Read { fd, buf, len, offset, buf_index: None } => {
            on!(fd, |t| opcode::Read::new(t, buf, len).offset(offset).build())
        }
        RawOp::Write { fd, buf, len, offset, buf_index: Some(index) } => {
            on!(fd, |t| opcode::WriteFixed::new(t, buf, len, index).offset(offset).build())
        }
        RawOp::Write { fd, buf, len, offset, buf_index: None } => {
            on!(fd, |t| opcode::Write::new(t, buf, len).offset(offset).build())
        }
        RawOp::Readv { fd, iov, iov_count, offset } => {
            on!(fd, |t| opcode::Readv::new(t, iov, iov_count).offset(offset).build())
        }
        RawOp::Writev { fd, iov, iov_count, offset } => {
            on!(fd, |t| opcode::Writev::new(t, iov, iov_count).offset(offset).build())
        }
        // rio put IORING_FSYNC_DATASYNC in the SQE flags, where the kernel reads it as
        // IOSQE_FIXED_FILE; it belongs in the fsync flags field.
        RawOp::Fsync { fd, datasync } => {
            let flags = if datasync { types::FsyncFlags::DATASYNC } else { types::FsyncFlags::empty() };
            on!(fd, |t| opcode::Fsync::new(t).flags(flags).build())
        }
        // Likewise the sync_file_range flags have their own field.
        RawOp::SyncFileRange { fd, offset, len, flags } => {
            on!(fd, |t| opcode::SyncFileRange::new(t, len).offset(offset).flags(flags).build())
        }
        RawOp::Fallocate { fd, mode, offset, len } => {
            on!(fd, |t| opcode::Fallocate::new(t, len).offset(offset).mode(mode).build())
        }
        RawOp::OpenAt { dir, path, flags, mode } => {
            opcode::OpenAt::new(types::Fd(dir), path).flags(flags).mode(mode).build()
        }
        RawOp::Close { fd } => opcode::Close::new(types::Fd(fd)).build(),
        RawOp::Statx { dir, path, flags, mask, out } => {
            opcode::Statx::new(types::Fd(dir), path, out.cast()).flags(flags).mask(mask).build()
        }
        RawOp::UnlinkAt { dir, path, flags } => opcode::UnlinkAt::new(types::Fd(dir), path).flags(flags).build(),
        RawOp::RenameAt { old_dir, old_path, new_dir, new_path, flags } => {
            opcode::RenameAt::new(types::Fd(old_dir), old_path, types::Fd(new_dir), new_path).flags(flags).build()
        }
        RawOp::MkdirAt { dir, path, mode } => opcode::MkDirAt::new(types::Fd(dir), path).mode(mode).build(),
        RawOp::LinkAt { old_dir, old_path, new_dir, new_path, flags } => {
            opcode::LinkAt::new(types::Fd(old_dir), old_path, types::Fd(new_dir), new_path).flags(flags).build()
        }
        RawOp::SymlinkAt { target, new_dir, link_path } => {
            opcode::SymlinkAt::new(types::Fd(new_dir), target, link_path).build()
        }
        RawOp::Ftruncate { fd, len } => on!(fd, |t| opcode::Ftruncate::new(t, len).build()),
        RawOp::Accept { fd, addr, addr_len, flags } => {
            on!(fd, |t| opcode::Accept::new(t, addr, addr_len).flags(flags).build())
        }
        RawOp::Connect { fd, addr, addr_len } => on!(fd, |t| opcode::Connect::new(t, addr, addr_len).build()),
        RawOp::Send { fd, buf, len, flags } => on!(fd, |t| opcode::Send::new(t, buf, len).flags(flags).build()),
        RawOp::Recv { fd, buf, len, flags } => on!(fd, |t| opcode::Recv::new(t, buf, len).flags(flags).build()),
        RawOp::SendMsg { fd, msg, flags } => on!(fd, |t| opcode::SendMsg::new(t, msg).flags(flags).build()),
        RawOp::RecvMsg { fd, msg, flags } => on!(fd, |t| opcode::RecvMsg::new(t, msg).flags(flags).build()),
        RawOp::Shutdown { fd, how } => on!(fd, |t| opcode::Shutdown::new(t, how).build()),
        // An expired timer is its success: with ETIME_SUCCESS (5.16) it does not break a link chain.
        RawOp::Timeout { duration, .. } => opcode::Timeout::new(duration).flags(timeout_flags).build(),
        RawOp::Cancel { target } => opcode::AsyncCancel::new(target).build(),
        RawOp::AcceptMulti { fd, flags } => on!(fd, |t| opcode::AcceptMulti::new(t).flags(flags).build()),
        RawOp::RecvMulti { fd, buf_group, flags } => on!(fd, |t| opcode::RecvMulti::new(t, buf_group).flags(flags).build()),
    }
}
