//! What may be handed to the kernel as a buffer. The traits are `unsafe` to implement because the
//! kernel keeps the pointer they give for as long as the operation runs: the memory must not move
//! when the value is moved, and must not be freed, reallocated or touched by anything else until
//! the value is given back or dropped.

use std::io;
use std::ops::{Deref, DerefMut};

use aligned_vec::{AVec, RuntimeAlign};

/// An operation's result with the buffer it borrowed, given back whether it succeeded or not.
pub type BufResult<T, B> = (io::Result<T>, B);

/// Memory the kernel may read from (the source of a write or send).
///
/// # Safety
/// `io_ptr()` must point to `io_len()` initialised bytes that stay at the same address, unchanged
/// and alive, while the value exists and is not accessed through `&mut` (moving the value must not
/// move the bytes).
pub unsafe trait IoBuf: Send {
    /// The first byte.
    fn io_ptr(&self) -> *const u8;
    /// How many bytes.
    fn io_len(&self) -> usize;
    /// The index of this memory in the ring's registered buffers, if it is one of them.
    fn buf_index(&self) -> Option<u16> {
        None
    }
}

/// Memory the kernel may write into (the target of a read or recv). A shared `&[u8]` is not one:
/// reading into it does not compile.
///
/// # Safety
/// As for [`IoBuf`], and `io_mut_ptr()` must be valid for writes of `io_len()` bytes with nothing
/// else reading or writing them while the operation runs.
pub unsafe trait IoBufMut: IoBuf {
    /// The first byte, for writing.
    fn io_mut_ptr(&mut self) -> *mut u8;
}

// SAFETY: a Vec's bytes live on the heap, so moving the Vec does not move them; its length is
// initialised.
unsafe impl IoBuf for Vec<u8> {
    fn io_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn io_len(&self) -> usize {
        self.len()
    }
}
// SAFETY: as above; `&mut self` gives exclusive access to the heap bytes.
unsafe impl IoBufMut for Vec<u8> {
    fn io_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
}

// SAFETY: a boxed slice's bytes live on the heap and do not move with the box.
unsafe impl IoBuf for Box<[u8]> {
    fn io_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn io_len(&self) -> usize {
        self.len()
    }
}
// SAFETY: as above, with exclusive access through `&mut`.
unsafe impl IoBufMut for Box<[u8]> {
    fn io_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
}

// SAFETY: the referent outlives the reference; a shared borrow keeps it unchanged and alive for as
// long as the reference exists.
unsafe impl IoBuf for &[u8] {
    fn io_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn io_len(&self) -> usize {
        self.len()
    }
}

// SAFETY: a unique borrow keeps the referent alive and unaliased for as long as it exists.
unsafe impl IoBuf for &mut [u8] {
    fn io_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn io_len(&self) -> usize {
        self.len()
    }
}
// SAFETY: as above.
unsafe impl IoBufMut for &mut [u8] {
    fn io_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
}

/// A zeroed heap buffer whose address and length are multiples of an alignment, as `O_DIRECT`
/// needs (usually 512 or 4096 bytes: the device's logical block size).
pub struct AlignedBuf {
    bytes: AVec<u8, RuntimeAlign>,
}

impl AlignedBuf {
    /// `len` zeroed bytes aligned to `align`. `align` must be a power of two and `len` a multiple
    /// of it.
    pub fn new(align: usize, len: usize) -> io::Result<AlignedBuf> {
        if !align.is_power_of_two() || len % align != 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("AlignedBuf: align {align} must be a power of two dividing len {len}"),
            ));
        }
        let mut bytes = AVec::with_capacity(align, len);
        bytes.resize(len, 0);
        Ok(AlignedBuf { bytes })
    }

    /// The alignment the buffer was made with.
    pub fn alignment(&self) -> usize {
        self.bytes.alignment()
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.bytes.as_slice()
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.bytes.as_mut_slice()
    }
}

// SAFETY: the AVec's bytes live on the heap and never reallocate (AlignedBuf exposes no way to
// grow it).
unsafe impl IoBuf for AlignedBuf {
    fn io_ptr(&self) -> *const u8 {
        self.bytes.as_ptr()
    }
    fn io_len(&self) -> usize {
        self.bytes.len()
    }
}
// SAFETY: as above, with exclusive access through `&mut`.
unsafe impl IoBufMut for AlignedBuf {
    fn io_mut_ptr(&mut self) -> *mut u8 {
        self.bytes.as_mut_ptr()
    }
}
