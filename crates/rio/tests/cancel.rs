//! Timers, cancellation and closing the ring, on both backends: a timer fires no earlier than its
//! duration; a cancelled op that was waiting completes with ECANCELED and gives its buffer back;
//! a closed ring cancels what it holds and refuses new ops.

mod common;

use std::io;
use std::time::{Duration, Instant};

use common::{each_backend, each_backend_with, tcp_pair, CloseOnPanic};
use rio::{Config, Ops, Ordering, Rio};

/// Far longer than any test runs: an op waiting this long only ends by cancellation.
const NEVER: Duration = Duration::from_secs(600);

fn assert_cancelled<T: std::fmt::Debug>(result: io::Result<T>, what: &str) {
    let error = result.expect_err(&format!("{what} was cancelled"));
    assert_eq!(error.raw_os_error(), Some(libc::ECANCELED), "{what}: {error}");
}

#[test]
fn timeout_completes_ok_after_its_duration() {
    each_backend(|ring, _| {
        let started = Instant::now();
        ring.timeout(Duration::from_millis(50)).wait().expect("the timer fires");
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(50), "fired after {elapsed:?}, before its 50 ms");
    });
}

#[test]
fn cancelled_recv_completes_with_ecanceled_and_leaves_the_socket_usable() {
    each_backend(|ring, _| {
        let (mut client, server) = tcp_pair();
        let recv = ring.recv(&server, vec![0u8; 64]);
        let _guard = CloseOnPanic(ring);
        assert!(!recv.is_done(), "nothing was sent: the recv waits");
        recv.cancel().expect("cancel");
        let (result, buf) = recv.wait();
        assert_cancelled(result, "the recv");
        assert_eq!(buf.len(), 64, "the buffer comes back");

        std::io::Write::write_all(&mut client, b"after").expect("std write");
        let (received, buf) = ring.recv(&server, vec![0u8; 64]).wait();
        assert_eq!(&buf[..received.expect("a later recv")], b"after", "the cancel consumed nothing");
    });
}

#[test]
fn cancelled_timeout_completes_with_ecanceled_at_once() {
    each_backend(|ring, _| {
        let started = Instant::now();
        let timer = ring.timeout(NEVER);
        let _guard = CloseOnPanic(ring);
        timer.cancel().expect("cancel");
        assert_cancelled(timer.wait(), "the timer");
        assert!(started.elapsed() < NEVER / 2, "the cancel ended the wait");
    });
}

#[test]
fn ring_cancel_by_user_data_stops_that_op_only() {
    each_backend(|ring, _| {
        let cancelled = ring.timeout(NEVER);
        let kept = ring.timeout(Duration::from_millis(20));
        let _guard = CloseOnPanic(ring);
        ring.cancel_user_data(cancelled.user_data().expect("submitted")).expect("cancel");
        assert_cancelled(cancelled.wait(), "the targeted timer");
        kept.wait().expect("the other timer fires normally");
        ring.cancel_user_data(u64::MAX).expect("cancelling an unknown op is a no-op");
    });
}

#[test]
fn cancelling_a_finished_op_changes_nothing() {
    each_backend(|ring, _| {
        let nop = ring.nop();
        while !nop.is_done() {
            std::thread::yield_now();
        }
        nop.cancel().expect("cancel after completion");
        nop.wait().expect("the nop's own result stands");
    });
}

#[test]
fn close_cancels_pending_ops_and_refuses_new_ones() {
    each_backend(|ring, _| {
        let (_client, server) = tcp_pair();
        let recv = ring.recv(&server, vec![0u8; 64]);
        let timer = ring.timeout(NEVER);
        let _guard = CloseOnPanic(ring);
        ring.close_ring().expect("close");
        assert_cancelled(recv.wait().0, "the pending recv");
        assert_cancelled(timer.wait(), "the pending timer");

        let error = ring.nop().wait().expect_err("a closed ring refuses ops");
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
        let (result, buf) = ring.recv(&server, vec![7u8; 3]).wait();
        assert_eq!(result.expect_err("refused").kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(buf, [7, 7, 7], "a refused op gives its buffer back untouched");
        assert_eq!(ring.stats().in_flight, 0);
    });
}

/// Fills the ring's engine with recvs that wait for data nobody sends.
fn fill_with_waiting_recvs<'a>(ring: &'a Rio, socket: &'a std::net::TcpStream) -> Vec<rio::Completion<'a, rio::BufResult<usize, Vec<u8>>>> {
    let waiting: Vec<_> = (0..ring.capacity()).map(|_| ring.recv(socket, vec![0u8; 8])).collect();
    ring.submit_all().expect("submit_all");
    waiting
}

#[test]
fn cancelling_an_op_still_waiting_for_room_completes_it_at_once() {
    each_backend_with(Config { depth: 1, ..Default::default() }, |ring, _| {
        let (_client, server) = tcp_pair();
        let waiting = fill_with_waiting_recvs(ring, &server);
        let queued = ring.timeout(NEVER);
        let _guard = CloseOnPanic(ring);
        assert_eq!(ring.stats().backlog, 1, "the ring is full: the timer waits for room");
        queued.cancel().expect("cancel");
        // Before the fix this waited for room, which the recvs never free.
        assert_cancelled(queued.wait(), "the timer waiting for room");
        ring.close_ring().expect("close");
        for recv in waiting {
            assert_cancelled(recv.wait().0, "a recv in the full ring");
        }
    });
}

#[test]
fn cancelling_the_head_of_a_waiting_link_chain_fails_the_chain_and_a_hard_link_does_not() {
    // Depth 2: chains of two fit.
    each_backend_with(Config { depth: 2, ..Default::default() }, |ring, _| {
        let (_client, server) = tcp_pair();
        let waiting = fill_with_waiting_recvs(ring, &server);
        let linked_head = ring.ordered(Ordering::Link).timeout(NEVER);
        let linked_tail = ring.nop();
        let hard_head = ring.ordered(Ordering::HardLink).timeout(NEVER);
        let hard_tail = ring.nop();
        let _guard = CloseOnPanic(ring);
        assert_eq!(ring.stats().backlog, 4);
        linked_head.cancel().expect("cancel");
        assert_cancelled(linked_head.wait(), "the head of the Link chain");
        assert_cancelled(linked_tail.wait(), "the rest of the Link chain");
        hard_head.cancel().expect("cancel");
        assert_cancelled(hard_head.wait(), "the head of the HardLink chain");
        assert_eq!(ring.stats().backlog, 1, "the rest of the HardLink chain still waits for room");

        ring.close_ring().expect("close");
        assert_cancelled(hard_tail.wait().map(drop), "the rest of the HardLink chain, cancelled by close");
        for recv in waiting {
            assert_cancelled(recv.wait().0, "a recv in the full ring");
        }
    });
}

#[test]
fn close_of_a_full_ring_cancels_every_op_in_it() {
    // On io_uring the cancel's own completion comes on top of a full completion queue, which
    // overflows: the ring must still collect every completion.
    each_backend_with(Config { depth: 1, ..Default::default() }, |ring, _| {
        let (_client, server) = tcp_pair();
        let waiting = fill_with_waiting_recvs(ring, &server);
        let _guard = CloseOnPanic(ring);
        ring.close_ring().expect("close");
        for recv in waiting {
            assert_cancelled(recv.wait().0, "a recv in the full ring");
        }
        assert_eq!(ring.stats().in_flight, 0);
    });
}

#[test]
fn cancelling_an_op_waiting_for_a_pool_thread_completes_it_at_once() {
    // One pool thread, busy with a recv nobody answers: on threads the timer queues behind it.
    each_backend_with(Config { max_threads: 1, ..Default::default() }, |ring, _| {
        let (_client, server) = tcp_pair();
        let busy = ring.recv(&server, vec![0u8; 8]);
        let queued = ring.timeout(NEVER);
        let _guard = CloseOnPanic(ring);
        ring.submit_all().expect("submit_all");
        queued.cancel().expect("cancel");
        assert_cancelled(queued.wait(), "the timer queued behind a busy thread");
        busy.cancel().expect("cancel");
        assert_cancelled(busy.wait().0, "the recv");
    });
}

#[test]
fn a_cancel_op_linked_behind_a_timer_stops_its_target_only_after_the_timer() {
    each_backend(|ring, _| {
        let (_client, server) = tcp_pair();
        let recv = ring.recv(&server, vec![0u8; 8]);
        let _guard = CloseOnPanic(ring);
        let started = Instant::now();
        let timer = ring.ordered(Ordering::Link).timeout(Duration::from_millis(60));
        let cancel = ring.cancel(&recv);
        ring.submit_all().expect("submit");
        assert!(!recv.is_done(), "the recv waits while the timer runs");
        cancel.wait().expect("the cancel found the recv");
        timer.wait().expect("the timer");
        assert!(started.elapsed() >= Duration::from_millis(60), "the cancel ran before its timer: {:?}", started.elapsed());
        assert_cancelled(recv.wait().0, "the recv");
        // A cancel of an op that has completed finds nothing.
        let done = ring.nop();
        ring.submit_all().unwrap();
        while !done.is_done() {}
        assert_eq!(ring.cancel(&done).wait().expect_err("nothing to cancel").raw_os_error(), Some(libc::ENOENT));
        done.wait().unwrap();
    });
}
