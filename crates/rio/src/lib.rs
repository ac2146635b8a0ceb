//! rio: misuse-resistant io_uring.
//!
//! A [`Rio`] owns one ring (an `io_uring` instance, or a small pool of threads running the same
//! operations as blocking syscalls where io_uring is refused). Every operation returns a
//! [`Completion`]: a `Future`, and a blocking [`Completion::wait`].
//!
//! # Why this is sound where rio 0.9 was not
//!
//! rio tied borrowed buffers to completions by lifetime and trusted the completion's destructor to
//! wait for the kernel, so `mem::forget(completion)` let the kernel write into freed memory
//! (RUSTSEC-2020-0021). Here a buffer can reach the kernel in only two ways:
//!
//! - **owned** (`Vec<u8>`, [`AlignedBuf`], [`FixedBuf`], `&'static mut [u8]`): the operation takes the
//!   buffer and gives it back with the result. A leaked completion leaks the buffer with it, so
//!   the memory is never freed while the kernel may still write to it.
//! - **borrowed**, only inside [`Rio::scope`], which waits for every operation started in it before
//!   it returns, forgotten completions included, and also when the closure panics (the
//!   `std::thread::scope` pattern).
//!
//! Files are lent the same way. In a scope, an op uses the file's descriptor as it is: the file
//! outlives the scope. At ring level the borrow ends with the completion, which can be forgotten,
//! so the op takes its own duplicate of the descriptor (`F_DUPFD_CLOEXEC`, closed when it completes):
//! closing the file early never makes an op read or write whatever file gets the number next.
//!
//! ```no_run
//! use rio::Ops;
//! let ring = rio::new()?;
//! let file = std::fs::File::open("Cargo.toml")?;
//! // owned buffer: anywhere
//! let (read, buf) = ring.read_at(&file, vec![0u8; 4096], 0).wait();
//! println!("{} bytes: {:?}", read?, &buf[..16]);
//! // borrowed buffer: inside a scope
//! let mut header = [0u8; 16];
//! ring.scope(|s| s.read_at(&file, &mut header[..], 0).wait().0)?;
//! # Ok::<(), std::io::Error>(())
//! ```

#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

mod backend;
mod buf;
mod completion;
mod config;
mod fixed;
mod inflight;
mod op;
mod ops;
mod profile;
mod ring;
mod scope;

pub use buf::{AlignedBuf, BufResult, IoBuf, IoBufMut};
pub use backend::IoUringUnavailable;
pub use completion::Completion;
pub use config::{Backend, Config, Reaper};
pub use fixed::{FixedBuf, FixedBufPool, FixedFile};
pub use op::{AsIoFd, IoFd, OpKind, Ordering, RawOp, CURRENT_POSITION};
pub use ops::{Ops, Ordered};
pub use profile::Latency;
pub use ring::{Ready, Rio, Stats};
pub use scope::Scope;

/// The ring under the name the Node binding and DESIGN.md use.
pub type Ring = Rio;

/// The result of `statx(2)`.
pub type Statx = libc::statx;

/// Starts a ring with the default [`Config`]: 256 entries, the `auto` backend, a background
/// thread reaping completions.
pub fn new() -> std::io::Result<Rio> {
    Config::default().start()
}
