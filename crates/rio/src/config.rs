//! Ring configuration and its validation. Owns nothing at run time: `start()` hands a checked
//! config to `Rio::start`. A bad value is an `InvalidInput` error that names the field, never a panic.

use std::io;

use crate::ring::Rio;

/// Which engine runs the operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Backend {
    /// io_uring when the kernel allows it (probed with `io_uring_setup` and the opcodes rio needs),
    /// `Threads` otherwise.
    #[default]
    Auto,
    /// io_uring or an error that says why the kernel refused it and what to change.
    IoUring,
    /// Blocking syscalls on a small pool of threads, with the same semantics (link chains,
    /// drain, cancellation) as io_uring.
    Threads,
}

impl Backend {
    /// The name the binding shows: `"auto"`, `"io_uring"` or `"threads"`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Auto => "auto",
            Backend::IoUring => "io_uring",
            Backend::Threads => "threads",
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = io::Error;
    fn from_str(name: &str) -> io::Result<Backend> {
        match name {
            "auto" => Ok(Backend::Auto),
            "io_uring" => Ok(Backend::IoUring),
            "threads" => Ok(Backend::Threads),
            other => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("unknown backend {other:?}: expected \"auto\", \"io_uring\" or \"threads\""),
            )),
        }
    }
}

/// Who turns kernel completions into settled [`Completion`](crate::Completion)s.
///
/// The kernel ties each io_uring request to the thread whose `io_uring_enter` submitted it and
/// cancels what is still queued or waiting (ECANCELED) when that thread exits. So a ring must not
/// let a short-lived thread enter the kernel for ops that outlive it; the two reapers differ in
/// who guarantees that.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Reaper {
    /// A background thread, living as long as the ring, reaps in batches and is the only thread
    /// that enters the kernel: other threads queue their ops and ask it to flush, so no op depends
    /// on which thread started or waited on it (standalone Rust use, any number of threads). It
    /// spins for a few microseconds after each request to catch the next: a blocking `wait()` at
    /// queue depth 1 costs about 2 µs instead of two thread wakeups.
    #[default]
    Thread,
    /// Nobody reaps on their own: an external poller watches [`Rio::eventfd`] and calls
    /// [`Rio::reap`] (the Node binding does this from the libuv loop). Whatever thread submits,
    /// flushes or waits enters the kernel itself, the lowest latency there is; drive such a ring
    /// from threads that outlive their ops (the binding and `rio-log` use one thread per ring).
    External,
}

/// The most entries a ring may ask for (the kernel's own limit for the submission queue).
pub const MAX_DEPTH: u32 = 32768;

/// How a ring is built. Start with `Config::default()` and change what you need:
///
/// ```no_run
/// let ring = rio::Config { depth: 64, ..Default::default() }.start()?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// Submission queue entries (1 to 32768). The completion queue holds twice as many, and that is
    /// the most operations in flight at once: more make the submitter wait.
    pub depth: u32,
    /// Let a kernel thread poll the submission queue (IORING_SETUP_SQPOLL). Measure first: on a
    /// 2-core machine the polling thread competes with the application for a core.
    pub sq_poll: bool,
    /// How long the SQPOLL thread spins before it sleeps, in milliseconds.
    pub sq_poll_idle_ms: u32,
    /// Busy-poll for completions (IORING_SETUP_IOPOLL). Only for files opened with `O_DIRECT` on
    /// devices that support polling; other operations fail with EINVAL.
    pub io_poll: bool,
    /// Let completions wait for the ring's thread to enter the kernel instead of interrupting it
    /// (IORING_SETUP_COOP_TASKRUN with IORING_SETUP_TASKRUN_FLAG, Linux 5.19+; ignored with
    /// `sq_poll` and by the threads backend). By default the kernel sends the thread that
    /// submitted an op an interrupt to post its completion as soon as it is ready; cooperatively,
    /// the completion is posted at that thread's next system call (or its next timer tick), and a
    /// thread asleep waiting for completions is still woken at once. On a loaded TCP echo server
    /// this did 26-30% more round trips per second (`benchmark/net`). Turn it off if a thread that
    /// submits ops then computes for long stretches without system calls while another thread
    /// waits on its completions.
    pub cooperative_task_run: bool,
    /// Which engine runs the operations.
    pub backend: Backend,
    /// Who reaps completions.
    pub reaper: Reaper,
    /// The most threads the `threads` backend starts (they are started as work arrives).
    pub max_threads: usize,
    /// Record submit-to-complete latency histograms per operation kind (see [`Rio::stats`]).
    pub profile: bool,
    /// Print those histograms to stderr when the ring drops (implies `profile`).
    pub print_profile_on_drop: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            depth: 256,
            sq_poll: false,
            sq_poll_idle_ms: 10,
            io_poll: false,
            cooperative_task_run: true,
            backend: Backend::Auto,
            reaper: Reaper::Thread,
            max_threads: 64,
            profile: false,
            print_profile_on_drop: false,
        }
    }
}

impl Config {
    /// Checks the config and starts the ring.
    pub fn start(self) -> io::Result<Rio> {
        self.validate()?;
        Rio::start(self)
    }

    pub(crate) fn validate(&self) -> io::Result<()> {
        let invalid = |msg: String| Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        if self.depth == 0 || self.depth > MAX_DEPTH {
            return invalid(format!("depth must be between 1 and {MAX_DEPTH}, got {}", self.depth));
        }
        if self.max_threads == 0 {
            return invalid("max_threads must be at least 1".into());
        }
        if (self.sq_poll || self.io_poll) && self.backend == Backend::Threads {
            return invalid("sq_poll and io_poll need the io_uring backend, not threads".into());
        }
        Ok(())
    }
}
