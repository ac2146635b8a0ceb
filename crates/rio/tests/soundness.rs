//! The guarantees that make the API sound (RUSTSEC-2020-0021 was their absence in rio 0.9), on both
//! backends: a scope waits for every op it started, whether its completion was forgotten or the
//! closure panicked; a completion's destructor waits for the kernel; a leaked completion keeps its
//! owned buffer alive for good, and the op still completes.

mod common;

use std::io::Write as _;
use std::net::TcpStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use common::{each_backend, tcp_pair};
use rio::{IoBuf, IoBufMut, Ops};

const LATE_DATA: &[u8] = b"late data";

/// Sends `LATE_DATA` on `stream` from another thread after ~100 ms: long after a scope or a drop
/// that did not wait would have returned.
fn send_later(mut stream: TcpStream) -> JoinHandle<TcpStream> {
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        stream.write_all(LATE_DATA).expect("the late send");
        stream
    })
}

/// What a [`WitnessBuf`] leaves behind when it is dropped.
#[derive(Default)]
struct Witness {
    dropped: AtomicBool,
    bytes_at_drop: Mutex<Vec<u8>>,
}

/// An owned buffer that reports its drop, and what it held then, to a [`Witness`].
struct WitnessBuf {
    bytes: Vec<u8>,
    witness: Arc<Witness>,
}

impl WitnessBuf {
    fn new(len: usize) -> (WitnessBuf, Arc<Witness>) {
        let witness = Arc::new(Witness::default());
        (WitnessBuf { bytes: vec![0u8; len], witness: witness.clone() }, witness)
    }
}

impl Drop for WitnessBuf {
    fn drop(&mut self) {
        *self.witness.bytes_at_drop.lock().unwrap() = self.bytes.clone();
        self.witness.dropped.store(true, Ordering::SeqCst);
    }
}

// SAFETY: the bytes live in the Vec's heap allocation, which does not move when the WitnessBuf
// moves and is neither resized nor touched while the WitnessBuf is in an op; `len` bytes are
// initialised (zeroed at creation).
unsafe impl IoBuf for WitnessBuf {
    fn io_ptr(&self) -> *const u8 {
        self.bytes.as_ptr()
    }
    fn io_len(&self) -> usize {
        self.bytes.len()
    }
}

// SAFETY: as above; `&mut self` gives exclusive access to the allocation.
unsafe impl IoBufMut for WitnessBuf {
    fn io_mut_ptr(&mut self) -> *mut u8 {
        self.bytes.as_mut_ptr()
    }
}

#[test]
fn scope_waits_for_forgotten_completions_before_it_returns() {
    each_backend(|ring, _| {
        let (client, server) = tcp_pair();
        let mut buf = [0u8; LATE_DATA.len()];
        let sender = send_later(client);
        ring.scope(|s| {
            let recv = s.recv(&server, &mut buf[..]);
            // Skips the completion's destructor: only the scope is left to wait for the kernel.
            std::mem::forget(recv);
        });
        assert_eq!(&buf, LATE_DATA, "the scope returned only after the kernel had written the buffer");
        assert_eq!(ring.stats().in_flight, 0);
        sender.join().expect("the sender thread");
    });
}

#[test]
fn scope_waits_for_its_pending_op_when_the_closure_panics() {
    each_backend(|ring, _| {
        let (client, server) = tcp_pair();
        let mut buf = [0u8; LATE_DATA.len()];
        let sender = send_later(client);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            ring.scope(|s| {
                let _recv = s.recv(&server, &mut buf[..]);
                panic!("the closure fails with a recv pending");
            })
        }));
        assert!(outcome.is_err(), "the panic reached catch_unwind");
        assert_eq!(&buf, LATE_DATA, "the unwinding waited for the recv to complete");
        sender.join().expect("the sender thread");
    });
}

#[test]
fn scope_waits_for_a_forgotten_completion_when_the_closure_panics() {
    each_backend(|ring, _| {
        let (client, server) = tcp_pair();
        let mut buf = [0u8; LATE_DATA.len()];
        let sender = send_later(client);
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            ring.scope(|s| {
                std::mem::forget(s.recv(&server, &mut buf[..]));
                panic!("the closure fails after forgetting a pending recv");
            })
        }));
        assert!(outcome.is_err(), "the panic reached catch_unwind");
        assert_eq!(&buf, LATE_DATA, "the scope's end waited for the recv while unwinding");
        assert_eq!(ring.stats().in_flight, 0);
        sender.join().expect("the sender thread");
    });
}

#[test]
fn dropping_a_completion_waits_for_the_kernel_before_freeing_the_buffer() {
    each_backend(|ring, _| {
        let (client, server) = tcp_pair();
        let (buf, witness) = WitnessBuf::new(LATE_DATA.len());
        let sender = send_later(client);
        drop(ring.recv(&server, buf));
        assert!(witness.dropped.load(Ordering::SeqCst), "the buffer was freed with its completion");
        assert_eq!(&witness.bytes_at_drop.lock().unwrap()[..], LATE_DATA, "it was freed only after the kernel wrote it");
        sender.join().expect("the sender thread");
    });
}

#[test]
fn leaked_completion_keeps_its_owned_buffer_alive_and_the_op_still_completes() {
    each_backend(|ring, _| {
        let (client, server) = tcp_pair();
        let (buf, witness) = WitnessBuf::new(LATE_DATA.len());
        let heap = buf.io_ptr();
        let sender = send_later(client);
        std::mem::forget(ring.recv(&server, buf));
        assert!(!witness.dropped.load(Ordering::SeqCst), "leaking the completion did not free the buffer");

        ring.wait_idle();
        let stats = ring.stats();
        assert_eq!((stats.submitted, stats.completed, stats.in_flight), (1, 1, 0), "the leaked op completed");
        // SAFETY: the buffer leaked with its completion, so its heap allocation is never freed, and
        // its op has completed (`wait_idle`), so nothing writes to it any more.
        let received = unsafe { std::slice::from_raw_parts(heap, LATE_DATA.len()) };
        assert_eq!(received, LATE_DATA, "the kernel wrote into the still-live buffer");
        assert!(!witness.dropped.load(Ordering::SeqCst), "the ring never frees a leaked buffer");
        sender.join().expect("the sender thread");
    });
}

#[test]
fn a_file_closed_after_its_completion_was_forgotten_is_not_mistaken_for_the_next_one() {
    // The write waits behind a linked timer; its completion is forgotten, which ends the borrow of
    // the file, so the file can be closed and its number handed to another file meanwhile. The
    // write must still land in the file it was given, never in the newcomer.
    each_backend(|ring, _| {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (dir.path().join("first"), dir.path().join("second"));
        let file = std::fs::File::create(&first).unwrap();
        use std::os::fd::{AsRawFd as _, FromRawFd as _, IntoRawFd as _};
        let timer = ring.ordered(rio::Ordering::Link).timeout(Duration::from_millis(100));
        std::mem::forget(ring.write_at(&file, b"for the first file".to_vec(), 0));
        // Closing the file and opening the next would leave the number to whichever thread opens
        // first (the tests run in parallel), so dup2 closes it and gives it to the second file in
        // one step.
        let number = file.into_raw_fd();
        let opened = std::fs::File::create(&second).unwrap();
        // SAFETY: `number` is this test's own descriptor (taken out of `file`), which dup2 closes
        // as it puts a new descriptor for the second file at that number.
        assert_eq!(unsafe { libc::dup2(opened.as_raw_fd(), number) }, number, "dup2");
        // SAFETY: `number` now holds a descriptor of its own, which nothing else owns.
        let newcomer = unsafe { std::fs::File::from_raw_fd(number) };
        drop(opened);
        timer.wait().expect("the timer");
        ring.wait_idle();
        assert_eq!(std::fs::read(&second).unwrap(), b"", "the write went to the file that took the closed file's number");
        assert_eq!(std::fs::read(&first).unwrap(), b"for the first file");
        // Open until here, so the number stayed the second file's while the write was in flight.
        drop(newcomer);
    });
}
