//! Reaping by an external poller (what the Node binding does from libuv), on both backends: raw
//! ops submitted with `submit_raw` complete onto the ring's eventfd and `reap` hands back their
//! tags and results.

mod common;

use std::future::Future;
use std::io::Write as _;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::time::Duration;

use common::{contents, each_backend_with, tcp_pair, temp_file, CloseOnPanic};
use rio::{Config, IoFd, Ops, Ordering, RawOp, Ready, Reaper, Rio};

fn external() -> Config {
    Config { reaper: Reaper::External, ..Default::default() }
}

/// Whether the eventfd becomes readable within `timeout`.
fn readable(eventfd: BorrowedFd<'_>, timeout: Duration) -> bool {
    let mut poll_fd = libc::pollfd { fd: eventfd.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one live pollfd, the length given.
    let ready = unsafe { libc::poll(&mut poll_fd, 1, timeout.as_millis() as i32) };
    ready == 1 && poll_fd.revents & libc::POLLIN != 0
}

/// Polls the eventfd and reaps until `count` raw completions have arrived.
fn reap_until(ring: &Rio, count: usize) -> Vec<Ready> {
    let mut ready = Vec::new();
    while ready.len() < count {
        assert!(readable(ring.eventfd(), Duration::from_secs(10)), "the eventfd became readable ({} of {count} reaped)", ready.len());
        ring.reap(&mut ready);
    }
    ready.sort_by_key(|ready| ready.tag);
    ready
}

#[test]
fn external_reaper_gets_raw_completions_through_the_eventfd() {
    each_backend_with(external(), |ring, _| {
        let (_dir, file) = temp_file(b"");
        let data = b"raw bytes".to_vec();
        let write = RawOp::Write {
            fd: IoFd::raw(file.as_raw_fd()),
            buf: data.as_ptr(),
            len: data.len() as u32,
            offset: 0,
            buf_index: None,
        };
        let _guard = CloseOnPanic(ring);
        // SAFETY: `data` and `file` outlive the op: they drop after `reap_until` has reported its
        // completion, or on a panic after `_guard` has waited for it.
        unsafe {
            ring.submit_raw(write, Ordering::None, 7).expect("submit_raw write");
            ring.submit_raw(RawOp::Nop, Ordering::None, 8).expect("submit_raw nop");
        }
        ring.submit_all().expect("submit_all");
        let ready = reap_until(ring, 2);
        assert_eq!(ready, [Ready::new(7, data.len() as i32), Ready::new(8, 0)]);
        assert_eq!(contents(&file), data);

        let mut more = Vec::new();
        assert_eq!(ring.reap(&mut more), 0, "each completion is reaped once");
        assert!(!readable(ring.eventfd(), Duration::ZERO), "reap cleared the eventfd");
    });
}

#[test]
fn raw_errors_arrive_as_negative_errno() {
    each_backend_with(external(), |ring, _| {
        let (dir, _file) = temp_file(b"");
        let read_only = std::fs::File::open(dir.path().join("data")).expect("open read-only");
        let data = [1u8; 4];
        let write = RawOp::Write { fd: IoFd::raw(read_only.as_raw_fd()), buf: data.as_ptr(), len: 4, offset: 0, buf_index: None };
        let _guard = CloseOnPanic(ring);
        // SAFETY: `data` and `read_only` outlive the op: reaped below before either drops, or on a
        // panic waited for by `_guard`.
        unsafe { ring.submit_raw(write, Ordering::None, 1) }.expect("submit_raw");
        ring.submit_all().expect("submit_all");
        assert_eq!(reap_until(ring, 1), [Ready::new(1, -libc::EBADF)]);
    });
}

#[test]
fn raw_cancel_op_stops_its_target() {
    each_backend_with(external(), |ring, _| {
        let never = io_uring::types::Timespec::new().sec(600);
        let timer = RawOp::Timeout { duration: &never, nanos: 600 * 1_000_000_000 };
        let _guard = CloseOnPanic(ring);
        // SAFETY: `never` outlives the timer: reaped below before it drops, or on a panic cancelled
        // and waited for by `_guard`.
        let user_data = unsafe { ring.submit_raw(timer, Ordering::None, 1) }.expect("submit_raw timeout");
        ring.submit_all().expect("submit_all");
        // SAFETY: a cancel op points at no memory.
        unsafe { ring.submit_raw(RawOp::Cancel { target: user_data }, Ordering::None, 2) }.expect("submit_raw cancel");
        ring.submit_all().expect("submit_all");
        assert_eq!(reap_until(ring, 2), [Ready::new(1, -libc::ECANCELED), Ready::new(2, 0)]);
    });
}

#[test]
fn blocking_waits_work_without_a_reaper_and_keep_raw_completions_for_reap() {
    each_backend_with(external(), |ring, _| {
        // SAFETY: a nop touches no memory.
        unsafe { ring.submit_raw(RawOp::Nop, Ordering::None, 42) }.expect("submit_raw");
        // This wait reaps for itself, and may reap the raw nop's completion on the way.
        ring.timeout(Duration::from_millis(20)).wait().expect("a blocking wait reaps for itself");
        assert_eq!(reap_until(ring, 1), [Ready::new(42, 0)]);
    });
}

/// Records that it was woken.
#[derive(Default)]
struct WokenFlag(AtomicBool);

impl Wake for WokenFlag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, AtomicOrdering::SeqCst);
    }
}

/// A waker that sets a flag, and the flag.
fn flag_waker() -> (Arc<WokenFlag>, Waker) {
    let woken = Arc::new(WokenFlag::default());
    (woken.clone(), Waker::from(woken))
}

/// The output of a future whose waker has fired.
fn output_of<F: Future>(future: std::pin::Pin<&mut F>, cx: &mut Context<'_>) -> F::Output {
    match future.poll(cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("woken but still pending"),
    }
}

#[test]
fn reap_wakes_the_tasks_awaiting_completions() {
    each_backend_with(external(), |ring, _| {
        let (mut client, server) = tcp_pair();
        let (woken, waker) = flag_waker();
        let mut cx = Context::from_waker(&waker);
        let mut recv = pin!(ring.recv(&server, vec![0u8; 16]));
        let _guard = CloseOnPanic(ring);
        assert!(recv.as_mut().poll(&mut cx).is_pending(), "nothing was sent yet");

        client.write_all(b"for the task").expect("std write");
        // What the binding's poller does: wait for the eventfd, then reap. Nothing else reaps here.
        while !woken.0.load(AtomicOrdering::SeqCst) {
            assert!(readable(ring.eventfd(), Duration::from_secs(10)), "the eventfd became readable");
            ring.reap(&mut Vec::new());
        }
        let (received, buf) = output_of(recv.as_mut(), &mut cx);
        assert_eq!(&buf[..received.expect("recv")], b"for the task");
    });
}

/// With `cooperative_task_run` the kernel no longer interrupts the ring's thread to post a
/// completion, but a thread asleep on the eventfd must still wake as soon as data arrives (else
/// a server in epoll would stall until some unrelated system call); without it, the same.
#[test]
fn a_completion_wakes_the_ring_thread_asleep_on_the_eventfd_whether_or_not_task_run_is_cooperative() {
    for cooperative_task_run in [true, false] {
        each_backend_with(Config { cooperative_task_run, ..external() }, |ring, _| {
            let (mut client, server) = tcp_pair();
            let (woken, waker) = flag_waker();
            let mut cx = Context::from_waker(&waker);
            let mut recv = pin!(ring.recv(&server, vec![0u8; 16]));
            let _guard = CloseOnPanic(ring);
            assert!(recv.as_mut().poll(&mut cx).is_pending(), "nothing was sent yet");
            ring.submit_all().expect("submit the recv");

            let sender = std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                client.write_all(b"late data").expect("std write");
                client
            });
            let asleep_since = std::time::Instant::now();
            assert!(readable(ring.eventfd(), Duration::from_secs(10)), "the eventfd became readable (cooperative: {cooperative_task_run})");
            let slept = asleep_since.elapsed();
            assert!(slept < Duration::from_secs(2), "woke {slept:?} after sleeping, for data sent 50 ms in (cooperative: {cooperative_task_run})");
            while !woken.0.load(AtomicOrdering::SeqCst) {
                ring.reap(&mut Vec::new());
                if !woken.0.load(AtomicOrdering::SeqCst) {
                    assert!(readable(ring.eventfd(), Duration::from_secs(10)), "the eventfd became readable again");
                }
            }
            let (received, buf) = output_of(recv.as_mut(), &mut cx);
            assert_eq!(&buf[..received.expect("recv")], b"late data");
            drop(sender.join().expect("sender thread"));
        });
    }
}
