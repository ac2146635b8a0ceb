//! Backend fallback for real: each test re-runs its own binary as a child process that installs a
//! seccomp filter making `io_uring_setup` fail, with EPERM (as Docker's default profile does) or
//! ENOSYS (as a kernel without io_uring does). In the child, `Backend::Auto` starts on threads and
//! works, and `Backend::IoUring` fails with an error that names the cause and the way out.

mod common;

use std::io;

use rio::{Backend, Config, IoUringUnavailable, Ops};

/// What the child prints when every check passed, so the parent knows the checks really ran there.
const CHILD_PASSED: &str = "seccomp child: every check passed";

/// Runs `checks` in a child process of this test binary (named `test`).
fn in_child(test: &str, checks: fn()) {
    if common::is_child_of(test) {
        checks();
        println!("{CHILD_PASSED}");
        return;
    }
    let (stdout, stderr) = common::rerun_as_child(test);
    assert!(stdout.contains(CHILD_PASSED), "the child did not run the checks:\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
}

#[test]
fn auto_falls_back_to_threads_when_seccomp_refuses_io_uring() {
    in_child("auto_falls_back_to_threads_when_seccomp_refuses_io_uring", checks_under_seccomp);
}

#[test]
fn auto_falls_back_to_threads_when_the_kernel_has_no_io_uring() {
    in_child("auto_falls_back_to_threads_when_the_kernel_has_no_io_uring", || {
        refuse_io_uring_setup(libc::ENOSYS);
        check_fallback_works();
        let error = Config { backend: Backend::IoUring, ..Default::default() }.start().err().expect("io_uring is refused");
        let unavailable = error.get_ref().and_then(|inner| inner.downcast_ref::<IoUringUnavailable>()).expect("an IoUringUnavailable");
        assert_eq!(unavailable.errno, libc::ENOSYS);
        let message = error.to_string();
        assert!(message.contains("ENOSYS") && message.contains("no io_uring"), "the error names the cause: {message}");
        assert!(message.contains("threads"), "the error names the threads backend as the way out: {message}");
    });
}

/// Makes `io_uring_setup` fail with `errno` in every thread of this process, now and later.
fn refuse_io_uring_setup(errno: i32) {
    use seccompiler::{BpfProgram, SeccompAction, SeccompFilter};
    let filter = SeccompFilter::new(
        [(libc::SYS_io_uring_setup, vec![])].into_iter().collect(),
        SeccompAction::Allow,
        SeccompAction::Errno(errno as u32),
        std::env::consts::ARCH.try_into().expect("an architecture seccompiler supports"),
    )
    .expect("a seccomp filter");
    let program: BpfProgram = filter.try_into().expect("compiling the seccomp filter");
    seccompiler::apply_filter_all_threads(&program).expect("installing the seccomp filter");
}

fn checks_under_seccomp() {
    refuse_io_uring_setup(libc::EPERM);
    // Zeroed room for a `struct io_uring_params` (120 bytes): all zeroes asks for a default ring.
    let mut params = [0u32; 32];
    // SAFETY: io_uring_setup reads and writes at most 120 bytes through the pointer, inside
    // `params`. With the filter in place the call never reaches the kernel; without it the ring fd
    // would leak, which the assertion below reports.
    let raw = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4, params.as_mut_ptr()) };
    assert_eq!(raw, -1, "the filter refuses io_uring_setup");
    assert_eq!(io::Error::last_os_error().raw_os_error(), Some(libc::EPERM));

    check_fallback_works();

    let error = Config { backend: Backend::IoUring, ..Default::default() }.start().err().expect("io_uring is refused");
    assert_eq!(error.kind(), io::ErrorKind::PermissionDenied, "{error}");
    let unavailable = error.get_ref().and_then(|inner| inner.downcast_ref::<IoUringUnavailable>()).expect("an IoUringUnavailable");
    assert_eq!(unavailable.errno, libc::EPERM);
    let message = error.to_string();
    assert!(message.contains("threads"), "the error names the threads backend as the way out: {message}");
    // EPERM also comes from the sysctl; only when that is off is seccomp the cause to name.
    let sysctl = std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled").unwrap_or_default();
    if matches!(sysctl.trim(), "" | "0") {
        assert!(message.contains("seccomp"), "the error names seccomp as the cause: {message}");
        assert!(message.contains("seccomp=unconfined"), "the error says how to allow io_uring in a container: {message}");
    }
}

/// `Backend::Auto` starts on threads where io_uring is refused, and ops work there.
fn check_fallback_works() {
    let ring = Config { backend: Backend::Auto, ..Default::default() }.start().expect("auto starts without io_uring");
    assert_eq!(ring.backend(), Backend::Threads, "auto fell back to threads");
    let file = tempfile::tempfile().expect("a temp file");
    let (written, _) = ring.write_at(&file, b"fallback works".to_vec(), 0).wait();
    assert_eq!(written.expect("write on the fallback"), 14);
    let (read, buf) = ring.read_at(&file, vec![0u8; 14], 0).wait();
    assert_eq!(read.expect("read on the fallback"), 14);
    assert_eq!(buf, b"fallback works");
}
