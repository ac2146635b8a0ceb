//! Why io_uring is refused here, in words that tell the user what to change.

use std::fmt;
use std::io;

/// io_uring cannot be used in this process, with the reason and the fix.
#[derive(Debug)]
pub struct IoUringUnavailable {
    /// The errno the kernel answered with (0 when io_uring started but lacks an opcode).
    pub errno: i32,
    /// What happened, why, and what to change.
    pub reason: String,
}

impl fmt::Display for IoUringUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for IoUringUnavailable {}

const ALTERNATIVE: &str = "or use backend 'threads' (or 'auto', which falls back to it)";

/// Turns a failed `io_uring_setup` into an error that names the cause and the fix.
pub(crate) fn setup_refused(error: io::Error) -> io::Error {
    let errno = error.raw_os_error().unwrap_or(0);
    let cause = match errno {
        libc::EPERM | libc::EACCES => match read_io_uring_disabled() {
            Some(2) => "sysctl kernel.io_uring_disabled is 2, which disables io_uring for every process: \
                        set it to 0 (sysctl -w kernel.io_uring_disabled=0)"
                .to_string(),
            Some(1) => "sysctl kernel.io_uring_disabled is 1, which allows io_uring only to processes in \
                        kernel.io_uring_group: set it to 0 or run as a member of that group"
                .to_string(),
            _ => "a seccomp filter refuses io_uring_setup (Docker's default profile does): run the \
                  container with --security-opt seccomp=unconfined, or a profile that allows \
                  io_uring_setup, io_uring_enter and io_uring_register"
                .to_string(),
        },
        libc::ENOSYS => "this kernel has no io_uring (older than 5.1, built without CONFIG_IO_URING, \
                         or a sandbox such as gVisor): run on a Linux 5.15 or later kernel"
            .to_string(),
        libc::ENOMEM => "the ring could not be allocated: kernels before 5.12 charge rings to \
                         RLIMIT_MEMLOCK, so raise `ulimit -l` or ask for a smaller depth"
            .to_string(),
        _ => format!("io_uring_setup failed: {error}"),
    };
    unavailable(errno, format!("io_uring is unavailable ({}): {cause}; {ALTERNATIVE}", errno_name(errno)))
}

/// An io_uring that lacks opcodes rio needs.
pub(crate) fn missing_opcodes(names: &[&str]) -> io::Error {
    unavailable(
        0,
        format!(
            "io_uring is unavailable: this kernel's io_uring lacks {}: run on a Linux 5.15 or later kernel, {ALTERNATIVE}",
            names.join(", ")
        ),
    )
}

fn unavailable(errno: i32, reason: String) -> io::Error {
    let kind = if errno == 0 { io::ErrorKind::Unsupported } else { io::Error::from_raw_os_error(errno).kind() };
    io::Error::new(kind, IoUringUnavailable { errno, reason })
}

/// Whether `auto` should fall back to threads on this error.
pub(crate) fn is_refusal(error: &io::Error) -> bool {
    error.get_ref().is_some_and(|inner| inner.is::<IoUringUnavailable>())
}

fn read_io_uring_disabled() -> Option<u32> {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").ok()?.trim().parse().ok()
}

fn errno_name(errno: i32) -> &'static str {
    match errno {
        libc::EPERM => "EPERM",
        libc::EACCES => "EACCES",
        libc::ENOSYS => "ENOSYS",
        libc::ENOMEM => "ENOMEM",
        libc::EINVAL => "EINVAL",
        0 => "missing opcodes",
        _ => "error",
    }
}
