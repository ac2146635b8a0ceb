//! The engines that run [`RawOp`]s: io_uring, and a pool of threads making the same syscalls.
//! The ring core calls them with its lock held (push, flush, drain, cancel) and never otherwise,
//! so an engine needs no locking of its own for the submission side.

use std::io;
use std::os::fd::RawFd;

use crate::config::{Backend, Config};
use crate::op::{Ordering, RawOp};

mod probe;
pub(crate) mod threads;
pub(crate) mod uring;

pub use probe::IoUringUnavailable;

pub(crate) enum Engine {
    Uring(uring::UringEngine),
    Threads(threads::ThreadsEngine),
}

impl Engine {
    /// Starts the engine the config asks for; `Auto` falls back to threads when io_uring is refused.
    pub fn start(config: &Config, eventfd: RawFd) -> io::Result<Engine> {
        match config.backend {
            Backend::Threads => Ok(Engine::Threads(threads::ThreadsEngine::start(config, eventfd))),
            Backend::IoUring => Ok(Engine::Uring(uring::UringEngine::start(config, eventfd)?)),
            Backend::Auto => match uring::UringEngine::start(config, eventfd) {
                Ok(engine) => Ok(Engine::Uring(engine)),
                Err(error) if probe::is_refusal(&error) => {
                    Ok(Engine::Threads(threads::ThreadsEngine::start(config, eventfd)))
                }
                Err(error) => Err(error),
            },
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Engine::Uring(_) => Backend::IoUring,
            Engine::Threads(_) => Backend::Threads,
        }
    }

    /// Queues one op. It reaches the kernel (or the pool) at the next `flush`. On io_uring the
    /// caller checks `submission_room` first: a push never enters the kernel by itself.
    pub fn push(&self, op: &RawOp, user_data: u64, ordering: Ordering) -> io::Result<()> {
        match self {
            Engine::Uring(engine) => engine.push(op, user_data, ordering),
            Engine::Threads(engine) => {
                engine.push(*op, user_data, ordering);
                Ok(())
            }
        }
    }

    /// Hands every queued op over in one go (one `io_uring_enter`). An unterminated link chain
    /// ends here, as it does in the kernel.
    pub fn flush(&self) -> io::Result<()> {
        match self {
            Engine::Uring(engine) => engine.flush(),
            Engine::Threads(engine) => {
                engine.flush();
                Ok(())
            }
        }
    }

    /// Calls `complete(user_data, result, flags)` for every completion that has arrived. When the
    /// kernel held completions back (its queue overflowed), an `io_uring_enter` brings them, if
    /// `may_enter`; returns whether some are still held back.
    pub fn drain(&self, may_enter: bool, complete: &mut dyn FnMut(u64, i32, u32)) -> bool {
        match self {
            Engine::Uring(engine) => engine.drain(may_enter, complete),
            Engine::Threads(engine) => {
                engine.drain(&mut |user_data, result| complete(user_data, result, 0));
                false
            }
        }
    }

    /// How many ops can be pushed before a flush is needed (unbounded on threads).
    pub fn submission_room(&self) -> usize {
        match self {
            Engine::Uring(engine) => engine.submission_room(),
            Engine::Threads(_) => usize::MAX,
        }
    }

    /// Asks the op with this user data to stop. On io_uring this queues an internal cancel SQE
    /// (completing under `INTERNAL_USER_DATA`; the caller checks `submission_room` first), on
    /// threads it takes effect at once.
    pub fn cancel(&self, user_data: u64) -> io::Result<()> {
        match self {
            Engine::Uring(engine) => engine.cancel(user_data),
            Engine::Threads(engine) => {
                engine.cancel(user_data);
                Ok(())
            }
        }
    }

    /// How many internal completions a `cancel` produces.
    pub fn internal_cqes_per_cancel(&self) -> usize {
        match self {
            Engine::Uring(_) => 1,
            Engine::Threads(_) => 0,
        }
    }

    /// Turns the eventfd's signal on completion on or off.
    pub fn set_eventfd_enabled(&self, enabled: bool) {
        match self {
            Engine::Uring(engine) => engine.set_eventfd_enabled(enabled),
            Engine::Threads(engine) => engine.set_eventfd_enabled(enabled),
        }
    }

    /// Whether completions are waiting to be drained.
    pub fn has_completions(&self) -> bool {
        match self {
            Engine::Uring(engine) => engine.has_completions(),
            Engine::Threads(engine) => engine.has_completions(),
        }
    }

    /// Sleeps until a completion may have arrived, or `timeout` has passed.
    pub fn wait(&self, timeout: std::time::Duration) {
        match self {
            Engine::Uring(engine) => engine.wait(timeout),
            Engine::Threads(engine) => engine.wait(timeout),
        }
    }

    pub fn uring(&self) -> Option<&uring::UringEngine> {
        match self {
            Engine::Uring(engine) => Some(engine),
            Engine::Threads(_) => None,
        }
    }
}
