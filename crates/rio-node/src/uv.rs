//! The few libuv calls the binding makes, declared by hand. Node's binary exports libuv's symbols,
//! so the addon resolves them when it is loaded and needs no libuv headers; handle sizes come from
//! `uv_handle_size` at run time. Everything here runs on the thread that owns the loop.

use std::ffi::{c_int, c_void};

/// A libuv handle of any type (we only ever hold pointers to them).
pub type Handle = c_void;

/// `uv_handle_type` values (stable across libuv 1.x).
pub const UV_POLL: c_int = 8;
pub const UV_PREPARE: c_int = 9;
/// `uv_poll_event`: the fd is readable.
pub const UV_READABLE: c_int = 1;

pub type PollCallback = unsafe extern "C" fn(handle: *mut Handle, status: c_int, events: c_int);
pub type PrepareCallback = unsafe extern "C" fn(handle: *mut Handle);
pub type CloseCallback = unsafe extern "C" fn(handle: *mut Handle);

extern "C" {
    pub fn uv_handle_size(kind: c_int) -> usize;
    pub fn uv_poll_init(event_loop: *mut c_void, handle: *mut Handle, fd: c_int) -> c_int;
    pub fn uv_poll_start(handle: *mut Handle, events: c_int, callback: PollCallback) -> c_int;
    pub fn uv_prepare_init(event_loop: *mut c_void, handle: *mut Handle) -> c_int;
    pub fn uv_prepare_start(handle: *mut Handle, callback: PrepareCallback) -> c_int;
    pub fn uv_ref(handle: *mut Handle);
    pub fn uv_unref(handle: *mut Handle);
    pub fn uv_close(handle: *mut Handle, callback: CloseCallback);
    pub fn uv_handle_set_data(handle: *mut Handle, data: *mut c_void);
    pub fn uv_handle_get_data(handle: *const Handle) -> *mut c_void;
}

/// Zeroed memory for a handle of `kind`, freed by `free_handle` from its close callback.
pub fn alloc_handle(kind: c_int) -> *mut Handle {
    // SAFETY: uv_handle_size only reads a table; calloc returns zeroed memory or null (checked).
    let handle = unsafe { libc::calloc(1, uv_handle_size(kind)) };
    assert!(!handle.is_null(), "rio-uring: out of memory for a libuv handle");
    handle
}

/// # Safety
/// `handle` came from `alloc_handle` and libuv is done with it (its close callback is running).
pub unsafe fn free_handle(handle: *mut Handle) {
    // SAFETY: forwarded from the contract.
    unsafe { libc::free(handle) }
}
