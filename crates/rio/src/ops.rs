//! The typed operations, declared once in the [`Ops`] trait for both places ops start from: the
//! ring (`&Rio`, buffers must be owned: `'static`) and a scope (`&Scope`, buffers may be borrowed
//! for the scope). Each op builds a [`RawOp`] whose pointers lead into memory the `Completion`'s
//! finisher owns, so that memory lives exactly as long as the kernel may use it.

use std::ffi::CString;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use socket2::{SockAddr, SockAddrStorage};

use crate::buf::{BufResult, IoBuf, IoBufMut};
use crate::completion::{Completion, Finish};
use crate::inflight::Sink;
use crate::op::{AsIoFd, IoFd, Ordering, RawOp};
use crate::ring::{Inner, Rio};
use crate::scope::Scope;

/// Where an op goes: the ring, the scope that waits for it, and how it is ordered.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Target<'ring> {
    ring: &'ring Inner,
    scope: Option<usize>,
    ordering: Ordering,
}

impl Target<'_> {
    /// How this target's ring names `file`. A registered file's slot means something only in the
    /// file table of the ring it was registered with: on another ring the same index names that
    /// ring's file in the slot (or none), so an op there used to hit the wrong file. Elsewhere it
    /// goes by its plain descriptor, which the `FixedFile` keeps open.
    fn fd<F: AsIoFd + ?Sized>(&self, file: &F) -> IoFd {
        let fd = file.as_io_fd();
        match file.registered_ring() {
            Some(ring) if ring != std::ptr::from_ref(self.ring) as usize => IoFd::raw(fd.raw),
            _ => fd,
        }
    }
}

mod sealed {
    pub trait Sealed<'ring> {
        fn target(self) -> super::Target<'ring>;
    }
}

impl<'ring> sealed::Sealed<'ring> for &'ring Rio {
    fn target(self) -> Target<'ring> {
        Target { ring: &self.inner, scope: None, ordering: Ordering::None }
    }
}

impl<'scope, 'env> sealed::Sealed<'scope> for &'scope Scope<'scope, 'env> {
    fn target(self) -> Target<'scope> {
        Target { ring: self.ring, scope: Some(self.id), ordering: Ordering::None }
    }
}

/// The next op from a ring or scope, with an [`Ordering`]: `ring.ordered(Ordering::Link).write_at(..)`.
#[derive(Clone, Copy)]
pub struct Ordered<'ring, 'buf> {
    target: Target<'ring>,
    // Invariant in 'buf. A covariant `PhantomData<&'buf ()>` let `ring.ordered(..)`, an
    // `Ordered<'_, 'static>`, shrink to a shorter 'buf, so a borrowed buffer reached a ring-level
    // op outside any scope, where a forgotten completion freed it under the kernel (found by
    // tests/ui/borrowed_buffer_through_ordered_outside_scope.rs).
    buf: PhantomData<fn(&'buf ()) -> &'buf ()>,
}

impl<'ring> sealed::Sealed<'ring> for Ordered<'ring, '_> {
    fn target(self) -> Target<'ring> {
        self.target
    }
}

impl<'ring> Ops<'ring, 'static> for &'ring Rio {}
impl<'scope, 'env> Ops<'scope, 'scope> for &'scope Scope<'scope, 'env> {}
impl<'ring, 'buf> Ops<'ring, 'buf> for Ordered<'ring, 'buf> {}

fn start<'a, T>(target: Target<'a>, op: RawOp, finish: Finish<'a, T>) -> Completion<'a, T> {
    let submitted = target.ring.submit(op, target.ordering, Sink::Completion { waker: None }, target.scope);
    Completion::new(target.ring, submitted, finish)
}

fn refuse<'a, T>(target: Target<'a>, error: io::Error, finish: Finish<'a, T>) -> Completion<'a, T> {
    Completion::new(target.ring, Err(error), finish)
}

fn c_path(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("path {path:?} contains a NUL byte")))
}

/// Starts an op on one path (unlink, mkdir), which it builds from the path's C string; the string
/// lives in the finisher until the op completes.
fn one_path<'a>(target: Target<'a>, path: &Path, build: impl FnOnce(*const libc::c_char) -> RawOp) -> Completion<'a, io::Result<()>> {
    match c_path(path) {
        Ok(path) => {
            let op = build(path.as_ptr());
            start(target, op, Box::new(move |result| {
                drop(path);
                result.map(drop)
            }))
        }
        Err(error) => refuse(target, error, Box::new(|result| result.map(drop))),
    }
}

/// Starts an op on one buffer (read, write, send, recv), which it builds from the buffer's length
/// (refused beyond 4 GiB); the buffer comes back with the byte count.
fn buffer_op<'a, B: IoBuf + Send + 'a>(target: Target<'a>, buf: B, build: impl FnOnce(&mut B, u32) -> RawOp) -> Completion<'a, BufResult<usize, B>> {
    let mut buf = buf;
    let finish = |buf: B| -> Finish<'a, BufResult<usize, B>> { Box::new(move |result| (result.map(|n| n as usize), buf)) };
    match io_len(buf.io_len()) {
        Ok(len) => {
            let op = build(&mut buf, len);
            start(target, op, finish(buf))
        }
        Err(error) => refuse(target, error, finish(buf)),
    }
}

/// Starts an op on two paths (rename, link, symlink), which it builds from their C strings; the
/// strings live in the finisher until the op completes.
fn two_paths<'a>(
    target: Target<'a>,
    first: &Path,
    second: &Path,
    build: impl FnOnce(*const libc::c_char, *const libc::c_char) -> RawOp,
) -> Completion<'a, io::Result<()>> {
    match (c_path(first), c_path(second)) {
        (Ok(first), Ok(second)) => {
            let op = build(first.as_ptr(), second.as_ptr());
            start(target, op, Box::new(move |result| {
                drop((first, second));
                result.map(drop)
            }))
        }
        (Err(error), _) | (_, Err(error)) => refuse(target, error, Box::new(|result| result.map(drop))),
    }
}

/// io_uring takes lengths as u32: longer buffers are refused rather than silently cut.
fn io_len(len: usize) -> io::Result<u32> {
    u32::try_from(len).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("a buffer of {len} bytes is longer than the 4 GiB an op can move")))
}

/// The iovec array of a vectored op, boxed in a Vec so its address survives moves.
struct IoVecs(Vec<libc::iovec>);

// SAFETY: the iovecs point at the op's buffers, which the same finisher owns and sends along.
unsafe impl Send for IoVecs {}

/// The iovec array of a vectored op, from each buffer's pointer and length.
fn iovecs(parts: impl ExactSizeIterator<Item = (*mut libc::c_void, usize)>) -> io::Result<IoVecs> {
    if parts.len() > libc::UIO_MAXIOV as usize {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("at most {} buffers per vectored op", libc::UIO_MAXIOV)));
    }
    let iovecs: Vec<libc::iovec> = parts.map(|(iov_base, iov_len)| libc::iovec { iov_base, iov_len }).collect();
    io_len(iovecs.iter().map(|iov| iov.iov_len).sum())?;
    Ok(IoVecs(iovecs))
}

/// Memory an address-carrying op hands the kernel, boxed so its address is stable.
struct MsgParts {
    header: libc::msghdr,
    iov: libc::iovec,
    addr: SockAddrStorage,
}

// SAFETY: the raw pointers inside point at this same heap allocation and at the op's buffer, both
// owned by the op's finisher; nothing else reads them.
unsafe impl Send for MsgParts {}

/// The operations of a ring. Import the trait (`use rio::Ops;`) and call them on `&Rio`, on a
/// [`Scope`] inside [`Rio::scope`], or on [`Ops::ordered`]. Each returns a [`Completion`].
///
/// `'buf` is how long a buffer must live to be handed over: `'static` (owned: `Vec<u8>`,
/// [`AlignedBuf`](crate::AlignedBuf), [`FixedBuf`](crate::FixedBuf)) on the ring, the scope's
/// lifetime (borrowed slices too) in a scope.
pub trait Ops<'ring, 'buf>: sealed::Sealed<'ring> + Sized {
    /// This op with an ordering against the ops submitted after it (`Link`, `HardLink`) or before
    /// it (`Drain`).
    fn ordered(self, ordering: Ordering) -> Ordered<'ring, 'buf> {
        Ordered { target: Target { ordering, ..self.target() }, buf: PhantomData }
    }

    /// IORING_OP_NOP (5.1): completes with nothing done. The cheapest round trip through the ring.
    fn nop(self) -> Completion<'ring, io::Result<()>> {
        start(self.target(), RawOp::Nop, Box::new(|result| result.map(drop)))
    }

    /// `pread(2)` into all of `buf` at offset `at` (`CURRENT_POSITION`: the file's position).
    /// Gives back the bytes read (0 at end of file) and the buffer.
    fn read_at<'a, F, B>(self, file: &'a F, buf: B, at: u64) -> Completion<'a, BufResult<usize, B>>
    where
        'ring: 'a,
        'buf: 'a,
        F: AsIoFd + ?Sized,
        B: IoBufMut + 'buf,
    {
        let target = self.target();
        let fd = target.fd(file);
        buffer_op(target, buf, |buf, len| RawOp::Read { fd, buf: buf.io_mut_ptr(), len, offset: at, buf_index: buf.buf_index() })
    }

    /// `pwrite(2)` of all of `buf` at offset `at`. Gives back the bytes written (which may be fewer)
    /// and the buffer.
    fn write_at<'a, F, B>(self, file: &'a F, buf: B, at: u64) -> Completion<'a, BufResult<usize, B>>
    where
        'ring: 'a,
        'buf: 'a,
        F: AsIoFd + ?Sized,
        B: IoBuf + 'buf,
    {
        let target = self.target();
        let fd = target.fd(file);
        buffer_op(target, buf, |buf, len| RawOp::Write { fd, buf: buf.io_ptr(), len, offset: at, buf_index: buf.buf_index() })
    }

    /// `preadv(2)`: fills the buffers in order from offset `at`.
    fn readv_at<'a, F, B>(self, file: &'a F, mut bufs: Vec<B>, at: u64) -> Completion<'a, BufResult<usize, Vec<B>>>
    where
        'ring: 'a,
        'buf: 'a,
        F: AsIoFd + ?Sized,
        B: IoBufMut + 'buf,
    {
        let target = self.target();
        let iov = match iovecs(bufs.iter_mut().map(|buf| (buf.io_mut_ptr().cast(), buf.io_len()))) {
            Ok(iov) => iov,
            Err(error) => return refuse(target, error, Box::new(move |result| (result.map(|n| n as usize), bufs))),
        };
        let op = RawOp::Readv { fd: target.fd(file), iov: iov.0.as_ptr(), iov_count: iov.0.len() as u32, offset: at };
        start(target, op, Box::new(move |result| {
            drop(iov);
            (result.map(|n| n as usize), bufs)
        }))
    }

    /// `pwritev(2)`: writes the buffers in order from offset `at`.
    fn writev_at<'a, F, B>(self, file: &'a F, bufs: Vec<B>, at: u64) -> Completion<'a, BufResult<usize, Vec<B>>>
    where
        'ring: 'a,
        'buf: 'a,
        F: AsIoFd + ?Sized,
        B: IoBuf + 'buf,
    {
        let target = self.target();
        let iov = match iovecs(bufs.iter().map(|buf| (buf.io_ptr() as *mut libc::c_void, buf.io_len()))) {
            Ok(iov) => iov,
            Err(error) => return refuse(target, error, Box::new(move |result| (result.map(|n| n as usize), bufs))),
        };
        let op = RawOp::Writev { fd: target.fd(file), iov: iov.0.as_ptr(), iov_count: iov.0.len() as u32, offset: at };
        start(target, op, Box::new(move |result| {
            drop(iov);
            (result.map(|n| n as usize), bufs)
        }))
    }

    /// `fsync(2)`: data and metadata reach stable storage.
    fn fsync<'a, F: AsIoFd + ?Sized>(self, file: &'a F) -> Completion<'a, io::Result<()>>
    where
        'ring: 'a,
    {
        let target = self.target();
        start(target, RawOp::Fsync { fd: target.fd(file), datasync: false }, Box::new(|result| result.map(drop)))
    }

    /// `fdatasync(2)`: data (and the metadata needed to read it back) reach stable storage.
    fn fdatasync<'a, F: AsIoFd + ?Sized>(self, file: &'a F) -> Completion<'a, io::Result<()>>
    where
        'ring: 'a,
    {
        let target = self.target();
        start(target, RawOp::Fsync { fd: target.fd(file), datasync: true }, Box::new(|result| result.map(drop)))
    }

    /// `sync_file_range(2)` of `len` bytes at `offset` (`len` 0: to the end of the file), with
    /// `SYNC_FILE_RANGE_*` flags.
    fn sync_file_range<'a, F: AsIoFd + ?Sized>(self, file: &'a F, offset: u64, len: u32, flags: u32) -> Completion<'a, io::Result<()>>
    where
        'ring: 'a,
    {
        let target = self.target();
        let op = RawOp::SyncFileRange { fd: target.fd(file), offset, len, flags };
        start(target, op, Box::new(|result| result.map(drop)))
    }

    /// `fallocate(2)`: `mode` 0 allocates `len` bytes at `offset` (growing the file); see the man
    /// page for `FALLOC_FL_*`.
    fn fallocate<'a, F: AsIoFd + ?Sized>(self, file: &'a F, mode: i32, offset: u64, len: u64) -> Completion<'a, io::Result<()>>
    where
        'ring: 'a,
    {
        let target = self.target();
        let op = RawOp::Fallocate { fd: target.fd(file), mode, offset, len };
        start(target, op, Box::new(|result| result.map(drop)))
    }

    /// `openat(2)` relative to the working directory, with `O_*` flags (`O_CLOEXEC` is always
    /// added) and the mode for a created file. Gives the new descriptor.
    fn openat(self, path: impl AsRef<Path>, flags: i32, mode: u32) -> Completion<'ring, io::Result<OwnedFd>> {
        let target = self.target();
        let finish = |path: CString| -> Finish<'ring, io::Result<OwnedFd>> {
            Box::new(move |result| {
                drop(path);
                // SAFETY: a successful openat returns a new descriptor that nothing else owns.
                result.map(|fd| unsafe { OwnedFd::from_raw_fd(fd as i32) })
            })
        };
        match c_path(path.as_ref()) {
            Ok(path) => {
                let op = RawOp::OpenAt { dir: libc::AT_FDCWD, path: path.as_ptr(), flags: flags | libc::O_CLOEXEC, mode };
                start(target, op, finish(path))
            }
            Err(error) => refuse(target, error, finish(CString::default())),
        }
    }

    /// `close(2)`: the ring takes the descriptor and closes it.
    fn close(self, fd: OwnedFd) -> Completion<'ring, io::Result<()>> {
        start(self.target(), RawOp::Close { fd: fd.into_raw_fd() }, Box::new(|result| result.map(drop)))
    }

    /// `statx(2)` of a path (with `AT_*` flags, e.g. `AT_SYMLINK_NOFOLLOW`) for the `STATX_*` fields
    /// in `mask`.
    fn statx(self, path: impl AsRef<Path>, flags: i32, mask: u32) -> Completion<'ring, io::Result<crate::Statx>> {
        let target = self.target();
        // SAFETY: statx is plain old data; all zeroes is a valid value.
        let mut out: Box<libc::statx> = Box::new(unsafe { std::mem::zeroed() });
        match c_path(path.as_ref()) {
            Ok(path) => {
                let op = RawOp::Statx { dir: libc::AT_FDCWD, path: path.as_ptr(), flags, mask, out: &mut *out };
                start(target, op, Box::new(move |result| {
                    drop(path);
                    result.map(|_| *out)
                }))
            }
            Err(error) => refuse(target, error, Box::new(move |result| result.map(|_| *out))),
        }
    }

    /// `statx(2)` of an open file (`AT_EMPTY_PATH`).
    fn statx_fd<'a, F: AsIoFd + ?Sized>(self, file: &'a F, mask: u32) -> Completion<'a, io::Result<crate::Statx>>
    where
        'ring: 'a,
    {
        // SAFETY: statx is plain old data; all zeroes is a valid value.
        let mut out: Box<libc::statx> = Box::new(unsafe { std::mem::zeroed() });
        let op = RawOp::Statx { dir: file.as_io_fd().raw, path: c"".as_ptr(), flags: libc::AT_EMPTY_PATH, mask, out: &mut *out };
        start(self.target(), op, Box::new(move |result| result.map(|_| *out)))
    }

    /// `unlinkat(2)` relative to the working directory; `AT_REMOVEDIR` in `flags` removes a
    /// directory.
    fn unlinkat(self, path: impl AsRef<Path>, flags: i32) -> Completion<'ring, io::Result<()>> {
        one_path(self.target(), path.as_ref(), |path| RawOp::UnlinkAt { dir: libc::AT_FDCWD, path, flags })
    }

    /// `renameat2(2)` relative to the working directory, with `RENAME_*` flags.
    fn renameat(self, from: impl AsRef<Path>, to: impl AsRef<Path>, flags: u32) -> Completion<'ring, io::Result<()>> {
        two_paths(self.target(), from.as_ref(), to.as_ref(), |old_path, new_path| RawOp::RenameAt {
            old_dir: libc::AT_FDCWD,
            old_path,
            new_dir: libc::AT_FDCWD,
            new_path,
            flags,
        })
    }

    /// `mkdirat(2)` relative to the working directory.
    fn mkdirat(self, path: impl AsRef<Path>, mode: u32) -> Completion<'ring, io::Result<()>> {
        one_path(self.target(), path.as_ref(), |path| RawOp::MkdirAt { dir: libc::AT_FDCWD, path, mode })
    }

    /// `linkat(2)` relative to the working directory: a hard link `to` for the file at `from`
    /// (`AT_SYMLINK_FOLLOW` in `flags` follows a symlink at `from`).
    fn linkat(self, from: impl AsRef<Path>, to: impl AsRef<Path>, flags: i32) -> Completion<'ring, io::Result<()>> {
        two_paths(self.target(), from.as_ref(), to.as_ref(), |old_path, new_path| RawOp::LinkAt {
            old_dir: libc::AT_FDCWD,
            old_path,
            new_dir: libc::AT_FDCWD,
            new_path,
            flags,
        })
    }

    /// `symlinkat(2)` relative to the working directory: a symbolic link at `link` that holds
    /// `target`.
    fn symlinkat(self, target: impl AsRef<Path>, link: impl AsRef<Path>) -> Completion<'ring, io::Result<()>> {
        two_paths(self.target(), target.as_ref(), link.as_ref(), |target, link_path| RawOp::SymlinkAt {
            target,
            new_dir: libc::AT_FDCWD,
            link_path,
        })
    }

    /// `ftruncate(2)`: the file becomes `len` bytes long (IORING_OP_FTRUNCATE on 6.9 and later,
    /// run inline on older kernels).
    fn ftruncate<'a, F: AsIoFd + ?Sized>(self, file: &'a F, len: u64) -> Completion<'a, io::Result<()>>
    where
        'ring: 'a,
    {
        let target = self.target();
        start(target, RawOp::Ftruncate { fd: target.fd(file), len }, Box::new(|result| result.map(drop)))
    }

    /// `accept4(2)` on a listening socket: the new connection (close-on-exec) and its peer's
    /// address.
    fn accept<'a, F: AsIoFd + ?Sized>(self, listener: &'a F) -> Completion<'a, io::Result<(OwnedFd, Option<SocketAddr>)>>
    where
        'ring: 'a,
    {
        let mut peer: Box<(SockAddrStorage, libc::socklen_t)> = Box::new((SockAddrStorage::zeroed(), 0));
        peer.1 = peer.0.size_of();
        let target = self.target();
        let op = RawOp::Accept {
            fd: target.fd(listener),
            addr: (&mut peer.0 as *mut SockAddrStorage).cast(),
            addr_len: &mut peer.1,
            flags: libc::SOCK_CLOEXEC,
        };
        start(target, op, Box::new(move |result| {
            let fd = result?;
            // SAFETY: a successful accept returns a new descriptor that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
            let (storage, len) = *peer;
            // SAFETY: the kernel wrote a socket address of `len` bytes into `storage`.
            let addr = unsafe { SockAddr::new(storage, len) };
            Ok((fd, addr.as_socket()))
        }))
    }

    /// `connect(2)` a socket to `addr`.
    fn connect<'a, F: AsIoFd + ?Sized>(self, socket: &'a F, addr: SocketAddr) -> Completion<'a, io::Result<()>>
    where
        'ring: 'a,
    {
        let addr = Box::new(SockAddr::from(addr));
        let target = self.target();
        let op = RawOp::Connect { fd: target.fd(socket), addr: addr.as_ptr().cast(), addr_len: addr.len() };
        start(target, op, Box::new(move |result| {
            drop(addr);
            result.map(drop)
        }))
    }

    /// `send(2)` of `buf` (`MSG_NOSIGNAL`: a closed peer is `EPIPE`, not a signal). May send fewer
    /// bytes than given.
    fn send<'a, F, B>(self, socket: &'a F, buf: B) -> Completion<'a, BufResult<usize, B>>
    where
        'ring: 'a,
        'buf: 'a,
        F: AsIoFd + ?Sized,
        B: IoBuf + 'buf,
    {
        let target = self.target();
        let fd = target.fd(socket);
        buffer_op(target, buf, |buf, len| RawOp::Send { fd, buf: buf.io_ptr(), len, flags: libc::MSG_NOSIGNAL })
    }

    /// `recv(2)` into `buf`: the bytes received (0 when the peer has shut down its side).
    fn recv<'a, F, B>(self, socket: &'a F, buf: B) -> Completion<'a, BufResult<usize, B>>
    where
        'ring: 'a,
        'buf: 'a,
        F: AsIoFd + ?Sized,
        B: IoBufMut + 'buf,
    {
        let target = self.target();
        let fd = target.fd(socket);
        buffer_op(target, buf, |buf, len| RawOp::Recv { fd, buf: buf.io_mut_ptr(), len, flags: 0 })
    }

    /// `sendmsg(2)` of one datagram to `addr` (UDP's `send_to`).
    fn send_to<'a, F, B>(self, socket: &'a F, buf: B, addr: SocketAddr) -> Completion<'a, BufResult<usize, B>>
    where
        'ring: 'a,
        'buf: 'a,
        F: AsIoFd + ?Sized,
        B: IoBuf + 'buf,
    {
        let addr = SockAddr::from(addr);
        // SAFETY: msghdr is plain old data; all zeroes is a valid empty header.
        let mut parts = Box::new(MsgParts {
            header: unsafe { std::mem::zeroed() },
            iov: libc::iovec { iov_base: buf.io_ptr() as *mut libc::c_void, iov_len: buf.io_len() },
            // SAFETY: `SockAddr` holds a storage-sized, initialised address.
            addr: unsafe { std::ptr::read(addr.as_ptr()) },
        });
        parts.header.msg_name = (&mut parts.addr as *mut SockAddrStorage).cast();
        parts.header.msg_namelen = addr.len();
        parts.header.msg_iov = &mut parts.iov;
        parts.header.msg_iovlen = 1;
        let target = self.target();
        let op = RawOp::SendMsg { fd: target.fd(socket), msg: &parts.header, flags: libc::MSG_NOSIGNAL as u32 };
        start(target, op, Box::new(move |result| {
            drop(parts);
            (result.map(|n| n as usize), buf)
        }))
    }

    /// `recvmsg(2)` of one datagram into `buf` (UDP's `recv_from`): its length and sender.
    fn recv_from<'a, F, B>(self, socket: &'a F, mut buf: B) -> Completion<'a, BufResult<(usize, Option<SocketAddr>), B>>
    where
        'ring: 'a,
        'buf: 'a,
        F: AsIoFd + ?Sized,
        B: IoBufMut + 'buf,
    {
        // SAFETY: msghdr is plain old data; all zeroes is a valid empty header.
        let mut parts = Box::new(MsgParts {
            header: unsafe { std::mem::zeroed() },
            iov: libc::iovec { iov_base: buf.io_mut_ptr().cast(), iov_len: buf.io_len() },
            addr: SockAddrStorage::zeroed(),
        });
        parts.header.msg_name = (&mut parts.addr as *mut SockAddrStorage).cast();
        parts.header.msg_namelen = parts.addr.size_of();
        parts.header.msg_iov = &mut parts.iov;
        parts.header.msg_iovlen = 1;
        let target = self.target();
        let op = RawOp::RecvMsg { fd: target.fd(socket), msg: &mut parts.header, flags: 0 };
        start(target, op, Box::new(move |result| {
            let received = result.map(|n| {
                let MsgParts { header, addr, .. } = *parts;
                // SAFETY: the kernel wrote a socket address of `msg_namelen` bytes into `addr`.
                let from = unsafe { SockAddr::new(addr, header.msg_namelen) };
                (n as usize, from.as_socket())
            });
            (received, buf)
        }))
    }

    /// `shutdown(2)` one or both directions of a connection.
    fn shutdown<'a, F: AsIoFd + ?Sized>(self, socket: &'a F, how: std::net::Shutdown) -> Completion<'a, io::Result<()>>
    where
        'ring: 'a,
    {
        let how = match how {
            std::net::Shutdown::Read => libc::SHUT_RD,
            std::net::Shutdown::Write => libc::SHUT_WR,
            std::net::Shutdown::Both => libc::SHUT_RDWR,
        };
        let target = self.target();
        start(target, RawOp::Shutdown { fd: target.fd(socket), how }, Box::new(|result| result.map(drop)))
    }

    /// IORING_OP_ASYNC_CANCEL (5.5) as an op of its own, so that it can be ordered (run the cancel
    /// after a timer, say): asks the op behind `target` to stop. Completes with `Ok(())` when it was
    /// stopped (`target` then completes with `ECANCELED`), `ENOENT` when it had already completed
    /// (or never reached the ring), `EALREADY` when it is running and cannot be stopped.
    fn cancel<T>(self, target: &Completion<'_, T>) -> Completion<'ring, io::Result<()>> {
        let finish: Finish<'ring, io::Result<()>> = Box::new(|result| result.map(drop));
        match target.user_data() {
            Some(user_data) => start(self.target(), RawOp::Cancel { target: user_data }, finish),
            None => refuse(self.target(), io::Error::from_raw_os_error(libc::ENOENT), finish),
        }
    }

    /// A timer (IORING_OP_TIMEOUT): completes with `Ok(())` when `duration` has passed, or with
    /// `ECANCELED` if cancelled first.
    fn timeout(self, duration: Duration) -> Completion<'ring, io::Result<()>> {
        let timespec = Box::new(io_uring::types::Timespec::from(duration));
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        let op = RawOp::Timeout { duration: &*timespec, nanos };
        start(self.target(), op, Box::new(move |result| {
            drop(timespec);
            match result {
                Err(error) if error.raw_os_error() == Some(libc::ETIME) => Ok(()),
                other => other.map(drop),
            }
        }))
    }
}
