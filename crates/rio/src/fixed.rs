//! Registered ("fixed") buffers and files, an opt-in that saves the kernel a page-pinning or a file
//! lookup per op. The ring keeps the registered memory alive until its engine is gone, so a fixed
//! buffer can never be freed under the kernel; a `FixedBuf` is checked out of its pool exclusively
//! and returns to it on drop.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Condvar, Mutex};

use crate::buf::{AlignedBuf, IoBuf, IoBufMut};
use crate::op::{AsIoFd, IoFd};
use crate::ring::{Inner, Rio};

/// How many registered file slots a ring reserves the first time a file is registered.
const FIXED_FILE_SLOTS: u32 = 4096;

/// The ring's registered resources. Dropped after the engine (see `Inner`'s field order).
#[derive(Default)]
pub(crate) struct FixedTables {
    buffers: Mutex<RegisteredBuffers>,
    files: Mutex<FileSlots>,
}

/// What the ring's one buffer registration (the kernel allows one) holds.
#[derive(Default)]
enum RegisteredBuffers {
    #[default]
    None,
    /// A pool the ring owns (`register_buffers`).
    Pool(#[allow(dead_code)] Arc<PoolShared>),
    /// Memory the caller owns and keeps alive (`register_buffers_raw`).
    Caller,
}

#[derive(Default)]
struct FileSlots {
    registered: bool,
    free: Vec<u32>,
}

struct PoolShared {
    /// Never read or written through this field after creation: the bytes are reached only
    /// through `base`, one buffer per checked-out `FixedBuf`.
    _memory: AlignedBuf,
    base: *mut u8,
    buf_len: usize,
    free: Mutex<Vec<u16>>,
    returned: Condvar,
}

// SAFETY: `base` points into `_memory`, which this struct owns; each buffer-sized region is used by
// at most one `FixedBuf` at a time (the free list hands each index out once), so sharing the
// struct between threads shares no bytes.
unsafe impl Send for PoolShared {}
// SAFETY: as above.
unsafe impl Sync for PoolShared {}

/// A set of equal-sized buffers registered with the ring (IORING_REGISTER_BUFFERS), 4096-aligned
/// so they also serve `O_DIRECT`. Clone it to share it; take buffers with [`FixedBufPool::get`].
#[derive(Clone)]
pub struct FixedBufPool {
    shared: Arc<PoolShared>,
}

/// One buffer of a [`FixedBufPool`], owned until dropped (then it returns to the pool). Reads and
/// writes with it use IORING_OP_READ_FIXED / WRITE_FIXED.
pub struct FixedBuf {
    shared: Arc<PoolShared>,
    index: u16,
    len: usize,
}

impl Rio {
    /// Registers `count` buffers of `buf_len` bytes each (a multiple of 4096) with the ring. Only
    /// once per ring. On the `threads` backend the buffers are plain memory.
    pub fn register_buffers(&self, count: u16, buf_len: usize) -> io::Result<FixedBufPool> {
        if count == 0 || buf_len == 0 || buf_len % 4096 != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("register_buffers needs at least one buffer and a length that is a multiple of 4096, got {count} x {buf_len}"),
            ));
        }
        let mut registered = self.inner.fixed.buffers.lock().unwrap();
        if !matches!(*registered, RegisteredBuffers::None) {
            return Err(already_registered());
        }
        let total = buf_len.checked_mul(usize::from(count)).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        let mut memory = AlignedBuf::new(4096, total)?;
        let base = memory.as_mut_ptr();
        if let Some(uring) = self.inner.engine.uring() {
            let iovecs: Vec<libc::iovec> = (0..usize::from(count))
                // SAFETY: every offset is inside the `total` bytes of `memory`.
                .map(|i| libc::iovec { iov_base: unsafe { base.add(i * buf_len) }.cast(), iov_len: buf_len })
                .collect();
            // SAFETY: `memory` moves into the pool kept by `FixedTables`, which the ring drops only
            // after its engine (the kernel's ring), so the registered pages outlive the registration.
            unsafe { uring.register_buffers(&iovecs)? };
        }
        let shared = Arc::new(PoolShared {
            _memory: memory,
            base,
            buf_len,
            free: Mutex::new((0..count).rev().collect()),
            returned: Condvar::new(),
        });
        *registered = RegisteredBuffers::Pool(shared.clone());
        Ok(FixedBufPool { shared })
    }

    /// Registers memory the caller owns as the ring's fixed buffers: an op names one by its index
    /// in `iovecs` (`buf_index` of a raw read or write, which must lie inside it). Only once per
    /// ring, and not together with `register_buffers`. Nothing to do on the `threads` backend.
    ///
    /// # Safety
    /// Every iovec must describe memory that stays valid until the ring is dropped: the kernel
    /// pins it now and may write into it for any op that names it.
    pub unsafe fn register_buffers_raw(&self, iovecs: &[libc::iovec]) -> io::Result<()> {
        let mut registered = self.inner.fixed.buffers.lock().unwrap();
        if !matches!(*registered, RegisteredBuffers::None) {
            return Err(already_registered());
        }
        if let Some(uring) = self.inner.engine.uring() {
            // SAFETY: forwarded from this function's contract.
            unsafe { uring.register_buffers(iovecs)? };
        }
        *registered = RegisteredBuffers::Caller;
        Ok(())
    }

    /// Registers an open file with the ring (IORING_REGISTER_FILES_UPDATE) so ops on it skip the
    /// kernel's file lookup. The ring takes the descriptor; it is unregistered and closed when the
    /// `FixedFile` drops.
    pub fn register_file(&self, fd: OwnedFd) -> io::Result<FixedFile> {
        let index = {
            let mut slots = self.inner.fixed.files.lock().unwrap();
            if !slots.registered {
                if let Some(uring) = self.inner.engine.uring() {
                    uring.register_files_sparse(FIXED_FILE_SLOTS)?;
                }
                slots.free = (0..FIXED_FILE_SLOTS).rev().collect();
                slots.registered = true;
            }
            slots.free.pop().ok_or_else(|| {
                io::Error::new(io::ErrorKind::OutOfMemory, format!("all {FIXED_FILE_SLOTS} registered file slots are in use"))
            })?
        };
        if let Some(uring) = self.inner.engine.uring() {
            if let Err(error) = uring.update_file(index, fd.as_raw_fd()) {
                self.inner.fixed.files.lock().unwrap().free.push(index);
                return Err(error);
            }
        }
        Ok(FixedFile { ring: self.inner.clone(), index, fd })
    }
}

fn already_registered() -> io::Error {
    io::Error::new(io::ErrorKind::AlreadyExists, "this ring already has registered buffers")
}

impl FixedBufPool {
    /// A free buffer, if there is one.
    pub fn try_get(&self) -> Option<FixedBuf> {
        let index = self.shared.free.lock().unwrap().pop()?;
        Some(FixedBuf { shared: self.shared.clone(), index, len: self.shared.buf_len })
    }

    /// A free buffer, waiting for one to be returned if all are in use.
    pub fn get(&self) -> FixedBuf {
        let mut free = self.shared.free.lock().unwrap();
        loop {
            if let Some(index) = free.pop() {
                return FixedBuf { shared: self.shared.clone(), index, len: self.shared.buf_len };
            }
            free = self.shared.returned.wait(free).unwrap();
        }
    }

    /// Each buffer's size.
    pub fn buf_len(&self) -> usize {
        self.shared.buf_len
    }
}

impl FixedBuf {
    /// The buffer's full size.
    pub fn capacity(&self) -> usize {
        self.shared.buf_len
    }

    /// Uses only the first `len` bytes (at most the capacity) for the next op.
    pub fn set_len(&mut self, len: usize) {
        assert!(len <= self.capacity(), "FixedBuf::set_len({len}) beyond its capacity {}", self.capacity());
        self.len = len;
    }

    fn start(&self) -> *mut u8 {
        // SAFETY: `index` < count, so the region lies inside the pool's memory.
        unsafe { self.shared.base.add(usize::from(self.index) * self.shared.buf_len) }
    }
}

impl Drop for FixedBuf {
    fn drop(&mut self) {
        self.shared.free.lock().unwrap().push(self.index);
        self.shared.returned.notify_one();
    }
}

impl Deref for FixedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: this FixedBuf alone owns its region (checked out of the free list), which the
        // pool keeps alive; `len` <= the region's size.
        unsafe { std::slice::from_raw_parts(self.start(), self.len) }
    }
}

impl DerefMut for FixedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`, with exclusive access through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.start(), self.len) }
    }
}

// SAFETY: the region is heap memory owned by the pool (kept alive by the Arc this value holds) and
// does not move with the value; it is this value's alone until dropped.
unsafe impl IoBuf for FixedBuf {
    fn io_ptr(&self) -> *const u8 {
        self.start()
    }
    fn io_len(&self) -> usize {
        self.len
    }
    fn buf_index(&self) -> Option<u16> {
        Some(self.index)
    }
}

// SAFETY: as above; `&mut self` gives exclusive access.
unsafe impl IoBufMut for FixedBuf {
    fn io_mut_ptr(&mut self) -> *mut u8 {
        self.start()
    }
}

/// A file registered with the ring. Ops on it in a [`Scope`](crate::Scope) name its slot instead of
/// its descriptor (on another ring, which has its own slots, they use the descriptor). Ops at ring
/// level use a duplicate of its descriptor instead, like every ring-level op: a forgotten
/// completion ends the borrow of the `FixedFile`, whose slot could then be emptied and refilled
/// with another file while the op still waits.
pub struct FixedFile {
    ring: Arc<Inner>,
    index: u32,
    fd: OwnedFd,
}

impl FixedFile {
    /// The slot in the ring's file table.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The descriptor (still open: the ring owns it until the `FixedFile` drops).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsIoFd for FixedFile {
    fn as_io_fd(&self) -> IoFd {
        IoFd { raw: self.fd.as_raw_fd(), fixed: Some(self.index) }
    }

    fn registered_ring(&self) -> Option<usize> {
        Some(Arc::as_ptr(&self.ring) as usize)
    }
}


impl Drop for FixedFile {
    fn drop(&mut self) {
        if let Some(uring) = self.ring.engine.uring() {
            // -1 empties the slot; the kernel drops its file reference once no op uses it.
            let _ = uring.update_file(self.index, -1);
        }
        self.ring.fixed.files.lock().unwrap().free.push(self.index);
    }
}
