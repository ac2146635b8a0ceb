//! rio-node: the Node.js binding of rio. Every napi type lives here; `crates/rio` never sees one.
//!
//! - `ring`: `NativeRing`, a rio ring on the Node event loop (submission in batches from a shared
//!   control block, completions in batches through the eventfd).
//! - `layout`: the control block's layout, shared with TypeScript.
//! - `memory`: the staging memory the kernel reads and writes instead of JS buffers.
//! - `sockets`: synchronous socket set-up the TS `net` layer needs.
//! - `log`: `NativeLog`, rio-log for `rio-uring/log`.
//! - `uv`, `views`: libuv declarations and JS byte views.

#![deny(unsafe_op_in_unsafe_fn)]

mod layout;
mod log;
mod memory;
mod ring;
mod sockets;
mod uv;
mod views;
