//! What every integration test shares: running a test once per backend with a fresh ring, and the
//! fixtures (a temp file, a connected TCP pair) the tests build on. A failure names the backend it
//! happened on, whatever assertion or `unwrap` raised it.

#![allow(dead_code)] // each test binary uses part of this module

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::process::Command;

use rio::{Backend, Config, Rio};

/// The backends under test: both, unless `RIO_TEST_BACKENDS` names some (`threads` where the
/// kernel refuses io_uring, e.g. in a container with Docker's default seccomp profile).
pub fn backends() -> Vec<Backend> {
    match std::env::var("RIO_TEST_BACKENDS") {
        Ok(names) => names
            .split(',')
            .map(|name| name.trim().parse().unwrap_or_else(|error| panic!("RIO_TEST_BACKENDS: {error}")))
            .collect(),
        Err(_) => vec![Backend::IoUring, Backend::Threads],
    }
}

/// Starts a ring on exactly `config.backend`, or fails the test saying how to run without it.
pub fn start(config: Config) -> Rio {
    let backend = config.backend;
    let ring = config.start().unwrap_or_else(|error| {
        panic!("cannot start a ring on {}: {error} (RIO_TEST_BACKENDS=threads runs the tests on threads only)", backend.name())
    });
    assert_eq!(ring.backend(), backend, "the ring runs on the backend it was asked for");
    ring
}

/// Runs `test` on a fresh ring of each backend, with the default config.
pub fn each_backend(test: impl Fn(&Rio, Backend)) {
    each_backend_with(Config::default(), test)
}

/// Runs `test` on a fresh ring of each backend, built from `config` with its backend replaced.
/// A panic is re-raised with the backend's name in front.
pub fn each_backend_with(config: Config, test: impl Fn(&Rio, Backend)) {
    for backend in backends() {
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let ring = start(Config { backend, ..config.clone() });
            test(&ring, backend);
        }));
        if let Err(panic) = outcome {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied());
            match message {
                Some(message) => panic!("[backend {}] {message}", backend.name()),
                None => resume_unwind(panic),
            }
        }
    }
}

/// If the test panics while it lives: closes the ring (cancelling every op) and waits until no op
/// is in flight. Declare it after completions that only end by cancellation, and after memory that
/// raw ops point into: it drops first, so the test fails instead of hanging in a completion's
/// destructor, and the kernel is done with that memory before it is freed.
pub struct CloseOnPanic<'a>(pub &'a Rio);

impl Drop for CloseOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let _ = self.0.close_ring();
            self.0.wait_idle();
        }
    }
}

/// A file in a fresh temp dir (removed with the `TempDir`), opened for reading and writing.
pub fn temp_file(contents: &[u8]) -> (tempfile::TempDir, std::fs::File) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.path().join("data"))
        .expect("a temp file");
    file.write_all(contents).expect("writing the temp file's contents");
    (dir, file)
}

/// The file's whole contents, read with std (not through the ring under test).
pub fn contents(file: &std::fs::File) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata().expect("metadata").len() as usize;
    let mut bytes = vec![0u8; len];
    file.read_exact_at(&mut bytes, 0).expect("reading the file back");
    bytes
}

/// `len` bytes of a pattern that differs per `seed`, so a misplaced block shows.
pub fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

/// Two ends of a TCP connection on 127.0.0.1, made with std.
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding 127.0.0.1:0");
    let client = TcpStream::connect(listener.local_addr().expect("local addr")).expect("connect");
    let (server, _) = listener.accept().expect("accept");
    (client, server)
}

/// Set in a child's environment to the name of the test it runs as the child of.
const CHILD_ENV: &str = "RIO_TEST_CHILD";

/// Whether this process is the child that `rerun_as_child(test)` started.
pub fn is_child_of(test: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|name| name == test)
}

/// Runs this test binary again with only `test` (libtest's own flags, so it works whether the
/// parent runs under `cargo test` or `cargo nextest`), marked as its child. Fails unless the child
/// ran that one test and it passed; gives the child's stdout and stderr.
pub fn rerun_as_child(test: &str) -> (String, String) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test)
        .output()
        .expect("running the test binary as a child");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success() && stdout.contains("1 passed"),
        "the child running {test} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    (stdout, stderr)
}
