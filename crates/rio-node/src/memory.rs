//! Memory the kernel reads and writes on JavaScript's behalf. None of it belongs to the JS heap, so
//! nothing JS does (collecting, detaching, transferring, resizing a buffer) can move or free it
//! while an op uses it: JS buffers are copied in at submission and out at completion.
//!
//! - `Region`: one anonymous mapping, shared with JS as an external ArrayBuffer. The staging slab
//!   (one fixed-size slot per op, 4096-aligned so O_DIRECT works) and the control block (queue
//!   counters, the submission descriptors JS writes, the completions native writes) are regions.
//!   A region is freed when both the ring and every JS view of it are gone.
//! - big buffers: ops larger than a slot get their own aligned allocation, owned by the ring
//!   until the op has completed.

use std::ffi::c_void;
use std::ptr::NonNull;
use std::sync::Arc;

use napi::sys;

/// An anonymous private mapping; pages are only backed once touched.
pub struct Region {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; it is only accessed on the JS thread
// and by the kernel for ops this ring submitted.
unsafe impl Send for Region {}
// SAFETY: as above.
unsafe impl Sync for Region {}

impl Region {
    pub fn new(len: usize) -> std::io::Result<Arc<Region>> {
        // SAFETY: an anonymous private mapping at a kernel-chosen address; failure is checked.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Arc::new(Region { base: NonNull::new(base.cast()).expect("mmap never maps page 0"), len }))
    }

    pub fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }


    /// An external ArrayBuffer over the whole region. The ArrayBuffer holds a reference to the
    /// region, so the memory outlives every JS view of it, whatever JS does with the view.
    pub fn to_array_buffer(self: &Arc<Region>, env: sys::napi_env) -> napi::Result<sys::napi_value> {
        unsafe extern "C" fn release(_env: sys::napi_env, _data: *mut c_void, hint: *mut c_void) {
            // SAFETY: `hint` is the Box<Arc<Region>> leaked below, released exactly once here.
            drop(unsafe { Box::from_raw(hint.cast::<Arc<Region>>()) });
        }
        let hint = Box::into_raw(Box::new(self.clone()));
        let mut value = std::ptr::null_mut();
        // SAFETY: the data pointer and length describe this region, kept alive by `hint` until V8
        // calls `release`.
        let status = unsafe {
            sys::napi_create_external_arraybuffer(env, self.base().cast(), self.len, Some(release), hint.cast(), &mut value)
        };
        if status != sys::Status::napi_ok {
            // SAFETY: V8 did not take the hint; reclaim it.
            drop(unsafe { Box::from_raw(hint) });
            return Err(napi::Error::from_reason("rio-uring: cannot create an external ArrayBuffer"));
        }
        Ok(value)
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // SAFETY: unmaps exactly the mapping made in `new`; nothing refers to it any more (every
        // holder of an Arc is gone, the kernel included: the ring drops its Arc only once idle).
        unsafe { libc::munmap(self.base().cast(), self.len) };
    }
}
