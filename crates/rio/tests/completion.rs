//! `Completion` as a `Future`, on both backends: a pending op returns `Pending`, the ring wakes the
//! task when the op completes, and `.await` gives what `wait()` would.

mod common;

use std::future::Future;
use std::io::Write as _;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

use common::{each_backend, pattern, tcp_pair, temp_file, CloseOnPanic};
use rio::Ops;

/// Wakes a parked thread: the smallest executor there is.
struct Unpark(Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn waker() -> Waker {
    Waker::from(Arc::new(Unpark(std::thread::current())))
}

/// Polls `future` on this thread, parking between polls, until it is ready.
fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let waker = waker();
    let mut cx = Context::from_waker(&waker);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        std::thread::park();
    }
}

#[test]
fn awaited_completion_gives_what_wait_gives() {
    each_backend(|ring, _| {
        let (_dir, file) = temp_file(&pattern(1, 300));
        let (read, buf) = block_on(async { ring.read_at(&file, vec![0u8; 300], 0).await });
        assert_eq!(read.expect("read"), 300);
        assert_eq!(buf, pattern(1, 300));
        block_on(async {
            ring.nop().await.expect("nop");
            let (written, _) = ring.write_at(&file, vec![9u8; 10], 0).await;
            assert_eq!(written.expect("write"), 10);
        });
    });
}

#[test]
fn pending_completion_is_woken_when_its_op_completes() {
    each_backend(|ring, _| {
        let (mut client, server) = tcp_pair();
        let mut recv = pin!(ring.recv(&server, vec![0u8; 16]));
        let _guard = CloseOnPanic(ring);
        let waker = waker();
        assert!(recv.as_mut().poll(&mut Context::from_waker(&waker)).is_pending(), "nothing was sent yet");

        client.write_all(b"wake up").expect("std write");
        let (received, buf) = block_on(recv);
        assert_eq!(&buf[..received.expect("recv")], b"wake up");
    });
}

#[test]
fn is_done_turns_true_once_the_op_completes() {
    each_backend(|ring, _| {
        let (mut client, server) = tcp_pair();
        let recv = ring.recv(&server, vec![0u8; 16]);
        let _guard = CloseOnPanic(ring);
        assert!(!recv.is_done(), "nothing was sent yet");
        client.write_all(b"x").expect("std write");
        while !recv.is_done() {
            std::thread::yield_now();
        }
        let (received, _) = recv.wait();
        assert_eq!(received.expect("recv"), 1);
    });
}
