//! `Completion`: the caller's handle on one submitted op. It owns what the op touches (buffers,
//! paths, iovecs, the address an accept writes) until the kernel is done with it, then hands the
//! buffers back with the result. Dropping it waits for the kernel; leaking it leaks that memory
//! with it, so the kernel can never write into memory that was freed.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::ring::Inner;

/// Turns the kernel's result (or a submission error) into the op's output, giving back its memory.
pub(crate) type Finish<'a, T> = Box<dyn FnOnce(io::Result<u32>) -> T + Send + 'a>;

enum State {
    /// In the ring under this user data.
    Submitted(u64),
    /// Refused before it reached the ring (a closed ring, a path with a NUL byte, ...).
    Refused(io::Error),
    /// The output was handed out.
    Taken,
}

/// An op in flight: `.await` it, or block on it with [`Completion::wait`]. Dropping it blocks until
/// the kernel is done with the op's memory.
#[must_use = "an op runs whether or not its completion is used, and dropping the completion blocks until it finishes"]
pub struct Completion<'a, T> {
    ring: &'a Inner,
    state: State,
    finish: Option<Finish<'a, T>>,
}

/// What the kernel's result means: a count or fd, or `-errno`.
fn to_io_result(result: i32) -> io::Result<u32> {
    if result < 0 {
        Err(io::Error::from_raw_os_error(-result))
    } else {
        Ok(result as u32)
    }
}

impl<'a, T> Completion<'a, T> {
    pub(crate) fn new(ring: &'a Inner, submitted: io::Result<u64>, finish: Finish<'a, T>) -> Completion<'a, T> {
        let state = match submitted {
            Ok(user_data) => State::Submitted(user_data),
            Err(error) => State::Refused(error),
        };
        Completion { ring, state, finish: Some(finish) }
    }

    fn output(&mut self, result: io::Result<u32>) -> T {
        self.state = State::Taken;
        let finish = self.finish.take().expect("a completion's output is taken once");
        finish(result)
    }

    /// Blocks until the op completes and returns its output.
    pub fn wait(mut self) -> T {
        let result = match std::mem::replace(&mut self.state, State::Taken) {
            State::Submitted(user_data) => to_io_result(self.ring.wait_result(user_data)),
            State::Refused(error) => Err(error),
            State::Taken => unreachable!("wait consumes the completion"),
        };
        self.output(result)
    }

    /// Whether the op has completed (a `wait` would not block). Submits pending ops first.
    pub fn is_done(&self) -> bool {
        match self.state {
            State::Submitted(user_data) => self.ring.is_done(user_data),
            State::Refused(_) | State::Taken => true,
        }
    }

    /// Asks the kernel to stop the op: it completes with `ECANCELED` (`io::ErrorKind::Other` with
    /// that errno) if it had not started or was waiting (on a socket, a timer); an op already
    /// running completes normally.
    pub fn cancel(&self) -> io::Result<()> {
        match self.state {
            State::Submitted(user_data) => self.ring.cancel_op(user_data),
            State::Refused(_) | State::Taken => Ok(()),
        }
    }

    /// The op's user data in the ring (for logs and `Rio::cancel_user_data`), if it was submitted.
    pub fn user_data(&self) -> Option<u64> {
        match self.state {
            State::Submitted(user_data) => Some(user_data),
            State::Refused(_) | State::Taken => None,
        }
    }
}

impl<T> Future for Completion<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        // Completion has no self-references: its memory is behind boxes and borrows, so it is Unpin.
        let this = self.get_mut();
        let result = match std::mem::replace(&mut this.state, State::Taken) {
            State::Submitted(user_data) => match this.ring.poll_result(user_data, Some(cx.waker())) {
                Some(result) => to_io_result(result),
                None => {
                    this.state = State::Submitted(user_data);
                    return Poll::Pending;
                }
            },
            State::Refused(error) => Err(error),
            State::Taken => panic!("a Completion was polled after it returned Ready"),
        };
        Poll::Ready(this.output(result))
    }
}

impl<T> Drop for Completion<'_, T> {
    fn drop(&mut self) {
        if let State::Submitted(user_data) = self.state {
            // The kernel may still be reading or writing the memory `finish` owns: wait for it
            // before that memory is freed with `finish`.
            self.ring.wait_result(user_data);
        }
    }
}
