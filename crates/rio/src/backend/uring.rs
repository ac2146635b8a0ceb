//! The io_uring engine: turns each `RawOp` into an SQE, submits with one `io_uring_enter` per
//! flush, and drains CQEs. The ring core's lock serialises every call that touches the submission
//! or completion queue, which is what makes the `*_shared` accessors below sound.

use std::io;
use std::os::fd::RawFd;

use io_uring::{opcode, squeue, types, IoUring};

use super::probe;
use crate::config::Config;
use crate::op::{IoFd, Ordering, RawOp};

pub(crate) struct UringEngine {
    ring: IoUring,
}

/// The opcodes rio uses; a kernel lacking any of them is refused at start.
const NEEDED_OPCODES: [(u8, &str); 22] = [
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
        Ok(UringEngine { ring })
    }

    /// The most completions the kernel's queue holds: the in-flight limit.
    pub fn cq_entries(&self) -> usize {
        self.ring.params().cq_entries() as usize
    }

    pub fn push(&self, op: &RawOp, user_data: u64, ordering: Ordering) -> io::Result<()> {
        let entry = to_sqe(op).user_data(user_data).flags(sqe_flags(ordering));
        loop {
            // SAFETY: the ring core's lock is held for every call into this engine that touches the
            // submission queue, so no other SubmissionQueue handle exists while this one does.
            let mut queue = unsafe { self.ring.submission_shared() };
            // SAFETY: every pointer in `op` stays valid until its completion is reaped (the
            // contract of RawOp, kept by the safe API and by `Rio::submit_raw`'s callers).
            if unsafe { queue.push(&entry) }.is_ok() {
                return Ok(());
            }
            drop(queue);
            self.flush()?;
        }
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

    pub fn drain(&self, complete: &mut dyn FnMut(u64, i32)) {
        // SAFETY: the ring core's lock is held, so this is the only CompletionQueue handle.
        let mut queue = unsafe { self.ring.completion_shared() };
        loop {
            queue.sync();
            if queue.is_empty() {
                break;
            }
            for cqe in &mut queue {
                complete(cqe.user_data(), cqe.result());
            }
        }
    }

    pub fn cancel_all(&self) -> io::Result<()> {
        let cancel = opcode::AsyncCancel2::new(types::CancelBuilder::any()).build().user_data(CANCEL_ALL_USER_DATA);
        loop {
            // SAFETY: as in `push`: the core's lock is held.
            let mut queue = unsafe { self.ring.submission_shared() };
            // SAFETY: the cancel SQE points at no memory.
            if unsafe { queue.push(&cancel) }.is_ok() {
                break;
            }
            drop(queue);
            self.flush()?;
        }
        self.flush()
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

/// The user data of the ring-wide cancel issued at close; its CQE belongs to no slot.
pub(crate) const CANCEL_ALL_USER_DATA: u64 = u64::MAX;

fn sqe_flags(ordering: Ordering) -> squeue::Flags {
    match ordering {
        Ordering::None => squeue::Flags::empty(),
        Ordering::Link => squeue::Flags::IO_LINK,
        Ordering::HardLink => squeue::Flags::IO_HARDLINK,
        Ordering::Drain => squeue::Flags::IO_DRAIN,
    }
}

fn target(fd: IoFd) -> types::Target {
    match fd.fixed {
        Some(index) => types::Target::Fixed(index),
        None => types::Target::Fd(fd.raw),
    }
}

fn to_sqe(op: &RawOp) -> squeue::Entry {
    match *op {
        RawOp::Nop => opcode::Nop::new().build(),
        RawOp::Read { fd, buf, len, offset, buf_index: Some(index) } => {
            opcode::ReadFixed::new(target(fd), buf, len, index).offset(offset).build()
        }
        RawOp::Read { fd, buf, len, offset, buf_index: None } => {
            opcode::Read::new(target(fd), buf, len).offset(offset).build()
        }
        RawOp::Write { fd, buf, len, offset, buf_index: Some(index) } => {
            opcode::WriteFixed::new(target(fd), buf, len, index).offset(offset).build()
        }
        RawOp::Write { fd, buf, len, offset, buf_index: None } => {
            opcode::Write::new(target(fd), buf, len).offset(offset).build()
        }
        RawOp::Readv { fd, iov, iov_count, offset } => {
            opcode::Readv::new(target(fd), iov, iov_count).offset(offset).build()
        }
        RawOp::Writev { fd, iov, iov_count, offset } => {
            opcode::Writev::new(target(fd), iov, iov_count).offset(offset).build()
        }
        // rio put IORING_FSYNC_DATASYNC in the SQE flags, where the kernel reads it as
        // IOSQE_FIXED_FILE; it belongs in the fsync flags field.
        RawOp::Fsync { fd, datasync } => {
            let flags = if datasync { types::FsyncFlags::DATASYNC } else { types::FsyncFlags::empty() };
            opcode::Fsync::new(target(fd)).flags(flags).build()
        }
        // Likewise the sync_file_range flags have their own field.
        RawOp::SyncFileRange { fd, offset, len, flags } => {
            opcode::SyncFileRange::new(target(fd), len).offset(offset).flags(flags).build()
        }
        RawOp::Fallocate { fd, mode, offset, len } => {
            opcode::Fallocate::new(target(fd), len).offset(offset).mode(mode).build()
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
        RawOp::Accept { fd, addr, addr_len, flags } => {
            opcode::Accept::new(target(fd), addr, addr_len).flags(flags).build()
        }
        RawOp::Connect { fd, addr, addr_len } => opcode::Connect::new(target(fd), addr, addr_len).build(),
        RawOp::Send { fd, buf, len, flags } => opcode::Send::new(target(fd), buf, len).flags(flags).build(),
        RawOp::Recv { fd, buf, len, flags } => opcode::Recv::new(target(fd), buf, len).flags(flags).build(),
        RawOp::SendMsg { fd, msg, flags } => opcode::SendMsg::new(target(fd), msg).flags(flags).build(),
        RawOp::RecvMsg { fd, msg, flags } => opcode::RecvMsg::new(target(fd), msg).flags(flags).build(),
        RawOp::Shutdown { fd, how } => opcode::Shutdown::new(target(fd), how).build(),
        RawOp::Timeout { duration, .. } => opcode::Timeout::new(duration).build(),
        RawOp::Cancel { target } => opcode::AsyncCancel::new(target).build(),
    }
}
