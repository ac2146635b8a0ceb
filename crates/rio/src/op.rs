//! Every operation rio can run, declared once as a [`RawOp`]: the syscall it stands for, its
//! arguments, and raw pointers to the memory it reads or writes. Both backends execute a `RawOp`:
//! `backend::uring` turns it into an SQE, `backend::threads` into the blocking syscall.
//!
//! A `RawOp` never owns memory. Whoever submits one guarantees that every pointer in it stays
//! valid until its completion is reaped: the safe API (`ops.rs`) does this by keeping the memory
//! in the `Completion` or the scope, the Node binding by keeping it in its own in-flight table.

use std::os::fd::{AsFd, AsRawFd, RawFd};

/// The offset that means "the file's current position" (like `read(2)` rather than `pread(2)`),
/// for pipes, sockets and character devices.
pub const CURRENT_POSITION: u64 = u64::MAX;

/// How an operation is ordered against the ones submitted after it (or before it, for `Drain`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Ordering {
    /// No ordering: the kernel may run it in parallel with anything.
    #[default]
    None,
    /// IOSQE_IO_LINK: the next operation submitted starts only after this one succeeds. If this one
    /// fails (a short read or write counts as failure), the rest of the chain completes with
    /// ECANCELED.
    Link,
    /// IOSQE_IO_HARDLINK: like `Link`, but the chain goes on when this one fails.
    HardLink,
    /// IOSQE_IO_DRAIN: starts only after every operation submitted before it has completed, and
    /// holds back every operation submitted after it until it completes.
    Drain,
}

impl Ordering {
    /// Whether this op links to the next one submitted.
    pub fn links(self) -> bool {
        matches!(self, Ordering::Link | Ordering::HardLink)
    }
}

/// A file descriptor as an operation names it: a plain fd, or a slot in the ring's registered
/// file table (with the plain fd kept for the `threads` backend).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IoFd {
    /// The descriptor number in this process.
    pub raw: RawFd,
    /// The index in the ring's registered file table, if the file is registered.
    pub fixed: Option<u32>,
}

impl IoFd {
    /// A plain descriptor.
    pub fn raw(raw: RawFd) -> IoFd {
        IoFd { raw, fixed: None }
    }
}

mod sealed {
    /// Only the crate decides what an op may target: an `AsFd` (which owns or borrows a live
    /// descriptor) or a `FixedFile`. A safe impl returning an arbitrary fd number would let safe
    /// code act on descriptors it does not own.
    pub trait Sealed {}
}

impl<T: AsFd> sealed::Sealed for T {}
impl sealed::Sealed for crate::FixedFile {}

/// Anything an operation can target: every `AsFd` (files, sockets, `OwnedFd`), and
/// [`FixedFile`](crate::FixedFile)s registered with the ring. Sealed: it cannot be implemented
/// outside rio.
pub trait AsIoFd: sealed::Sealed {
    /// The descriptor to put in the operation.
    fn as_io_fd(&self) -> IoFd;

    /// For a registered file: the ring whose file table `fixed` indexes (its address, only ever
    /// compared). Ops on any other ring use the plain descriptor.
    #[doc(hidden)]
    fn registered_ring(&self) -> Option<usize> {
        None
    }
}

impl<T: AsFd> AsIoFd for T {
    fn as_io_fd(&self) -> IoFd {
        IoFd::raw(self.as_fd().as_raw_fd())
    }
}

/// What one operation does. Each variant names the syscall it matches and the kernel whose
/// io_uring first supports it; its fields are that syscall's arguments. Pointers must stay valid
/// until the completion is reaped.
#[derive(Clone, Copy, Debug)]
#[allow(missing_docs)] // the fields are the syscall's own arguments, named as in its man page
pub enum RawOp {
    /// IORING_OP_NOP (5.1): does nothing, completes with 0.
    Nop,
    /// `pread(2)` (IORING_OP_READ, 5.6; IORING_OP_READ_FIXED, 5.1, with a registered buffer).
    Read { fd: IoFd, buf: *mut u8, len: u32, offset: u64, buf_index: Option<u16> },
    /// `pwrite(2)` (IORING_OP_WRITE, 5.6; IORING_OP_WRITE_FIXED, 5.1).
    Write { fd: IoFd, buf: *const u8, len: u32, offset: u64, buf_index: Option<u16> },
    /// `preadv(2)` (IORING_OP_READV, 5.1).
    Readv { fd: IoFd, iov: *const libc::iovec, iov_count: u32, offset: u64 },
    /// `pwritev(2)` (IORING_OP_WRITEV, 5.1).
    Writev { fd: IoFd, iov: *const libc::iovec, iov_count: u32, offset: u64 },
    /// `fsync(2)`, or `fdatasync(2)` with `datasync` (IORING_OP_FSYNC with IORING_FSYNC_DATASYNC
    /// in the fsync flags, 5.1).
    Fsync { fd: IoFd, datasync: bool },
    /// `sync_file_range(2)` (IORING_OP_SYNC_FILE_RANGE, 5.2), `flags` in the op's own field.
    SyncFileRange { fd: IoFd, offset: u64, len: u32, flags: u32 },
    /// `fallocate(2)` (IORING_OP_FALLOCATE, 5.6).
    Fallocate { fd: IoFd, mode: i32, offset: u64, len: u64 },
    /// `openat(2)` (IORING_OP_OPENAT, 5.6): completes with the new fd.
    OpenAt { dir: RawFd, path: *const libc::c_char, flags: i32, mode: u32 },
    /// `close(2)` (IORING_OP_CLOSE, 5.6).
    Close { fd: RawFd },
    /// `statx(2)` (IORING_OP_STATX, 5.6).
    Statx { dir: RawFd, path: *const libc::c_char, flags: i32, mask: u32, out: *mut libc::statx },
    /// `unlinkat(2)` (IORING_OP_UNLINKAT, 5.11).
    UnlinkAt { dir: RawFd, path: *const libc::c_char, flags: i32 },
    /// `renameat2(2)` (IORING_OP_RENAMEAT, 5.11).
    RenameAt {
        old_dir: RawFd,
        old_path: *const libc::c_char,
        new_dir: RawFd,
        new_path: *const libc::c_char,
        flags: u32,
    },
    /// `mkdirat(2)` (IORING_OP_MKDIRAT, 5.15).
    MkdirAt { dir: RawFd, path: *const libc::c_char, mode: u32 },
    /// `linkat(2)` (IORING_OP_LINKAT, 5.15): a hard link `new_path` to `old_path`.
    LinkAt {
        old_dir: RawFd,
        old_path: *const libc::c_char,
        new_dir: RawFd,
        new_path: *const libc::c_char,
        flags: i32,
    },
    /// `symlinkat(2)` (IORING_OP_SYMLINKAT, 5.15): a symbolic link `link_path` holding `target`.
    SymlinkAt { target: *const libc::c_char, new_dir: RawFd, link_path: *const libc::c_char },
    /// `ftruncate(2)` (IORING_OP_FTRUNCATE, 6.9; run inline on older kernels).
    Ftruncate { fd: IoFd, len: u64 },
    /// `accept4(2)` (IORING_OP_ACCEPT, 5.5): completes with the new fd.
    Accept { fd: IoFd, addr: *mut libc::sockaddr, addr_len: *mut libc::socklen_t, flags: i32 },
    /// `connect(2)` (IORING_OP_CONNECT, 5.5).
    Connect { fd: IoFd, addr: *const libc::sockaddr, addr_len: libc::socklen_t },
    /// `send(2)` (IORING_OP_SEND, 5.6).
    Send { fd: IoFd, buf: *const u8, len: u32, flags: i32 },
    /// `recv(2)` (IORING_OP_RECV, 5.6).
    Recv { fd: IoFd, buf: *mut u8, len: u32, flags: i32 },
    /// `sendmsg(2)` (IORING_OP_SENDMSG, 5.3).
    SendMsg { fd: IoFd, msg: *const libc::msghdr, flags: u32 },
    /// `recvmsg(2)` (IORING_OP_RECVMSG, 5.3).
    RecvMsg { fd: IoFd, msg: *mut libc::msghdr, flags: u32 },
    /// `shutdown(2)` (IORING_OP_SHUTDOWN, 5.11).
    Shutdown { fd: IoFd, how: i32 },
    /// A timer (IORING_OP_TIMEOUT, 5.4): completes with -ETIME when `duration` has passed.
    Timeout { duration: *const io_uring::types::Timespec, nanos: u64 },
    /// IORING_OP_ASYNC_CANCEL (5.5): cancels the op whose user data is `target`. Completes with 0
    /// (cancelled), -ENOENT (not found) or -EALREADY (running, cannot be stopped).
    Cancel { target: u64 },
    /// `accept4(2)` again and again (IORING_OP_ACCEPT with IORING_ACCEPT_MULTISHOT, 5.19): one
    /// completion per connection, each with the new fd and [`Ready::more`](crate::Ready::more) set,
    /// until one without it (an error, or a cancel) ends the op. io_uring only (see
    /// [`Rio::multishot`](crate::Rio::multishot)); no peer address: ask the socket for it.
    AcceptMulti { fd: IoFd, flags: i32 },
    /// `recv(2)` again and again into buffers the kernel takes from the ring's provided-buffer
    /// group `buf_group` (IORING_OP_RECV with IORING_RECV_MULTISHOT, 6.0; see
    /// [`Rio::register_buf_ring`](crate::Rio::register_buf_ring)): one completion per receipt,
    /// naming the buffer it filled ([`Ready::buffer`](crate::Ready::buffer)), until one without
    /// `more` ends the op: the end of the stream (0), an error, no free buffer (-ENOBUFS), a cancel.
    RecvMulti { fd: IoFd, buf_group: u16, flags: i32 },
}

impl RawOp {
    /// The descriptor the op names a file by, if it names one the caller lent it (not `Close`,
    /// whose descriptor the op owns, nor `AT_FDCWD`).
    fn lent_descriptor(&mut self) -> Option<&mut IoFd> {
        match self {
            RawOp::Read { fd, .. }
            | RawOp::Write { fd, .. }
            | RawOp::Readv { fd, .. }
            | RawOp::Writev { fd, .. }
            | RawOp::Fsync { fd, .. }
            | RawOp::SyncFileRange { fd, .. }
            | RawOp::Fallocate { fd, .. }
            | RawOp::Ftruncate { fd, .. }
            | RawOp::Accept { fd, .. }
            | RawOp::Connect { fd, .. }
            | RawOp::Send { fd, .. }
            | RawOp::Recv { fd, .. }
            | RawOp::SendMsg { fd, .. }
            | RawOp::RecvMsg { fd, .. }
            | RawOp::Shutdown { fd, .. }
            | RawOp::AcceptMulti { fd, .. }
            | RawOp::RecvMulti { fd, .. } => Some(fd),
            _ => None,
        }
    }

    /// Makes the op use a duplicate of the descriptor it was lent (`fcntl(F_DUPFD_CLOEXEC)`), owned
    /// by the returned `OwnedFd`: the op then names the same open file however long it waits
    /// (behind a link, for room in the ring, for a pool thread), even if the caller closes its own
    /// descriptor and the number is handed out again. A registered file's op uses the duplicate
    /// too, since the slot may be emptied and refilled with another file.
    pub(crate) fn pin_descriptor(&mut self) -> std::io::Result<Option<std::os::fd::OwnedFd>> {
        use std::os::fd::{BorrowedFd, OwnedFd};
        let duplicate = |raw: RawFd| -> std::io::Result<OwnedFd> {
            // SAFETY: the caller lent the op this descriptor and keeps it open for the call that
            // is submitting the op, which is where this runs.
            unsafe { BorrowedFd::borrow_raw(raw) }.try_clone_to_owned()
        };
        match self {
            RawOp::Statx { dir, .. } if *dir != libc::AT_FDCWD => {
                let copy = duplicate(*dir)?;
                *dir = copy.as_raw_fd();
                Ok(Some(copy))
            }
            op => match op.lent_descriptor() {
                Some(fd) => {
                    let copy = duplicate(fd.raw)?;
                    *fd = IoFd::raw(copy.as_raw_fd());
                    Ok(Some(copy))
                }
                None => Ok(None),
            },
        }
    }
}

// SAFETY: a RawOp is plain data; the memory its pointers name is kept alive and unaliased by
// whoever submitted it until the completion is reaped (see the module docs), so handing the
// description to a pool thread that performs the syscall is no different from handing it to the
// kernel.
unsafe impl Send for RawOp {}

/// The kinds of operation, for statistics and the latency profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[allow(missing_docs)]
pub enum OpKind {
    Nop,
    Read,
    Write,
    Readv,
    Writev,
    Fsync,
    SyncFileRange,
    Fallocate,
    OpenAt,
    Close,
    Statx,
    UnlinkAt,
    RenameAt,
    MkdirAt,
    LinkAt,
    SymlinkAt,
    Ftruncate,
    Accept,
    Connect,
    Send,
    Recv,
    SendMsg,
    RecvMsg,
    Shutdown,
    Timeout,
    Cancel,
    AcceptMulti,
    RecvMulti,
}

impl OpKind {
    /// Every kind, in declaration order.
    pub const ALL: [OpKind; 28] = [
        OpKind::Nop,
        OpKind::Read,
        OpKind::Write,
        OpKind::Readv,
        OpKind::Writev,
        OpKind::Fsync,
        OpKind::SyncFileRange,
        OpKind::Fallocate,
        OpKind::OpenAt,
        OpKind::Close,
        OpKind::Statx,
        OpKind::UnlinkAt,
        OpKind::RenameAt,
        OpKind::MkdirAt,
        OpKind::LinkAt,
        OpKind::SymlinkAt,
        OpKind::Ftruncate,
        OpKind::Accept,
        OpKind::Connect,
        OpKind::Send,
        OpKind::Recv,
        OpKind::SendMsg,
        OpKind::RecvMsg,
        OpKind::Shutdown,
        OpKind::Timeout,
        OpKind::Cancel,
        OpKind::AcceptMulti,
        OpKind::RecvMulti,
    ];
}

impl RawOp {
    /// Which kind of operation this is.
    pub fn kind(&self) -> OpKind {
        match self {
            RawOp::Nop => OpKind::Nop,
            RawOp::Read { .. } => OpKind::Read,
            RawOp::Write { .. } => OpKind::Write,
            RawOp::Readv { .. } => OpKind::Readv,
            RawOp::Writev { .. } => OpKind::Writev,
            RawOp::Fsync { .. } => OpKind::Fsync,
            RawOp::SyncFileRange { .. } => OpKind::SyncFileRange,
            RawOp::Fallocate { .. } => OpKind::Fallocate,
            RawOp::OpenAt { .. } => OpKind::OpenAt,
            RawOp::Close { .. } => OpKind::Close,
            RawOp::Statx { .. } => OpKind::Statx,
            RawOp::UnlinkAt { .. } => OpKind::UnlinkAt,
            RawOp::RenameAt { .. } => OpKind::RenameAt,
            RawOp::MkdirAt { .. } => OpKind::MkdirAt,
            RawOp::LinkAt { .. } => OpKind::LinkAt,
            RawOp::SymlinkAt { .. } => OpKind::SymlinkAt,
            RawOp::Ftruncate { .. } => OpKind::Ftruncate,
            RawOp::Accept { .. } => OpKind::Accept,
            RawOp::Connect { .. } => OpKind::Connect,
            RawOp::Send { .. } => OpKind::Send,
            RawOp::Recv { .. } => OpKind::Recv,
            RawOp::SendMsg { .. } => OpKind::SendMsg,
            RawOp::RecvMsg { .. } => OpKind::RecvMsg,
            RawOp::Shutdown { .. } => OpKind::Shutdown,
            RawOp::Timeout { .. } => OpKind::Timeout,
            RawOp::Cancel { .. } => OpKind::Cancel,
            RawOp::AcceptMulti { .. } => OpKind::AcceptMulti,
            RawOp::RecvMulti { .. } => OpKind::RecvMulti,
        }
    }

    /// Whether a result short of the requested length breaks a `Link` chain (as the kernel does
    /// for reads and writes), given the op's result.
    pub(crate) fn breaks_chain(&self, result: i32) -> bool {
        if result < 0 {
            // A timer that expired did what it was asked (io_uring's IORING_TIMEOUT_ETIME_SUCCESS).
            return !(matches!(self, RawOp::Timeout { .. }) && result == -libc::ETIME);
        }
        match *self {
            RawOp::Read { len, .. } | RawOp::Write { len, .. } => (result as u32) < len,
            _ => false,
        }
    }
}
