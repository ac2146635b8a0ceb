//! Reading JS byte views (any TypedArray, DataView or ArrayBuffer) from native code. Only for
//! synchronous copies on the JS thread: a view's memory may be detached, moved or freed as soon as
//! JS runs again, so no pointer from here may outlive the call that took it.

use napi::sys;

/// The bytes of a view; empty if it was detached.
///
/// # Safety
/// `value` is a live value of `env`, and the slice must be dropped before any JS runs.
pub unsafe fn bytes_of<'a>(env: sys::napi_env, value: sys::napi_value) -> napi::Result<&'a mut [u8]> {
    let mut data: *mut std::ffi::c_void = std::ptr::null_mut();
    let mut byte_len = 0usize;
    let mut is = false;
    // SAFETY: napi calls with out-pointers to locals, on a live value (the contract).
    unsafe {
        if sys::napi_is_typedarray(env, value, &mut is) == sys::Status::napi_ok && is {
            let mut kind = 0;
            let mut length = 0usize;
            let mut buffer = std::ptr::null_mut();
            let mut offset = 0usize;
            sys::napi_get_typedarray_info(env, value, &mut kind, &mut length, &mut data, &mut buffer, &mut offset);
            byte_len = length * element_size(kind);
            if byte_len == 0 && length > 0 {
                return Err(napi::Error::new(napi::Status::InvalidArg, "unsupported TypedArray kind: pass a Uint8Array view of it"));
            }
        } else if sys::napi_is_dataview(env, value, &mut is) == sys::Status::napi_ok && is {
            let mut buffer = std::ptr::null_mut();
            let mut offset = 0usize;
            sys::napi_get_dataview_info(env, value, &mut byte_len, &mut data, &mut buffer, &mut offset);
        } else if sys::napi_is_arraybuffer(env, value, &mut is) == sys::Status::napi_ok && is {
            sys::napi_get_arraybuffer_info(env, value, &mut data, &mut byte_len);
        } else {
            return Err(napi::Error::new(napi::Status::InvalidArg, "expected a Buffer, TypedArray, DataView or ArrayBuffer"));
        }
    }
    if data.is_null() || byte_len == 0 {
        return Ok(&mut []);
    }
    // SAFETY: V8 reported `byte_len` bytes at `data` for this live view; no JS runs while the slice
    // exists (the contract), so the memory cannot be detached or freed under it.
    Ok(unsafe { std::slice::from_raw_parts_mut(data.cast(), byte_len) })
}

fn element_size(kind: sys::napi_typedarray_type) -> usize {
    use sys::TypedarrayType as T;
    match kind {
        T::int8_array | T::uint8_array | T::uint8_clamped_array => 1,
        T::int16_array | T::uint16_array => 2,
        T::int32_array | T::uint32_array | T::float32_array => 4,
        // float64, bigint64, biguint64; an unknown future kind (float16) is refused below.
        T::float64_array | 9 | 10 => 8,
        _ => 0,
    }
}
