//! Multishot ops (io_uring on Linux 6.0 and later): one accept op takes connection after connection,
//! one recv op receives again and again into buffers the kernel picks from a provided-buffer ring.
//! Each completion but the last says `more`; the last (a cancel, the end of the stream) does not,
//! and only then does the op leave the ring. On the threads backend `multishot()` says no.

mod common;

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering as AtomicOrdering};
use std::time::{Duration, Instant};

use common::{each_backend_with, CloseOnPanic};
use rio::{AlignedBuf, Backend, Config, IoFd, Ordering, RawOp, Ready, Reaper, Rio};

fn external() -> Config {
    Config { reaper: Reaper::External, ..Default::default() }
}

/// Reaps until `count` completions have arrived (or fails after 10 s).
fn reap_until(ring: &Rio, count: usize) -> Vec<Ready> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut ready = Vec::new();
    while ready.len() < count {
        assert!(Instant::now() < deadline, "{} of {count} completions after 10 s", ready.len());
        ring.submit_all().unwrap();
        ring.reap(&mut ready);
        std::thread::sleep(Duration::from_millis(1));
    }
    ready
}

#[test]
fn multishot_accept_takes_every_connection_with_one_op_until_cancelled() {
    each_backend_with(external(), |ring, backend| {
        if backend == Backend::Threads {
            assert!(!ring.multishot(), "the threads backend has no multishot ops");
            return;
        }
        assert!(ring.multishot(), "this kernel has multishot ops (6.0 or later)");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let _guard = CloseOnPanic(ring);
        let op = RawOp::AcceptMulti { fd: IoFd::raw(listener.as_raw_fd()), flags: libc::SOCK_CLOEXEC };
        // SAFETY: the op points at no memory; the listener outlives it (the guard waits for it).
        let user_data = unsafe { ring.submit_raw(op, Ordering::None, 5) }.unwrap();
        let clients: Vec<TcpStream> = (0..3).map(|_| TcpStream::connect(listener.local_addr().unwrap()).unwrap()).collect();
        let accepted = reap_until(ring, 3);
        for ready in &accepted {
            assert_eq!(ready.tag, 5);
            assert!(ready.result >= 0, "accept failed: {}", ready.result);
            assert!(ready.more(), "the op goes on after each connection");
            // SAFETY: a successful accept returns a new descriptor nobody else owns.
            drop(unsafe { OwnedFd::from_raw_fd(ready.result) });
        }
        assert_eq!(ring.stats().in_flight, 1, "one op took all three");
        ring.cancel_user_data(user_data).unwrap();
        let last = reap_until(ring, 1);
        assert_eq!((last[0].tag, last[0].result, last[0].more()), (5, -libc::ECANCELED, false));
        assert_eq!(ring.stats().in_flight, 0);
        drop(clients);
    });
}

/// Provided buffers for one group: a ring of `COUNT` entries and the buffers they name.
struct ProvidedBuffers {
    entries: AlignedBuf,
    data: AlignedBuf,
    tail: u16,
}

const COUNT: u16 = 8;
const SIZE: usize = 256;
const GROUP: u16 = 3;

impl ProvidedBuffers {
    fn new() -> ProvidedBuffers {
        let mut buffers = ProvidedBuffers { entries: AlignedBuf::new(4096, 4096).unwrap(), data: AlignedBuf::new(64, COUNT as usize * SIZE).unwrap(), tail: 0 };
        for bid in 0..COUNT {
            buffers.give_back(bid);
        }
        buffers
    }

    /// Puts buffer `bid` back in the ring and publishes it.
    fn give_back(&mut self, bid: u16) {
        let slot = (self.tail & (COUNT - 1)) as usize * 16;
        let addr = self.data.as_ptr() as u64 + u64::from(bid) * SIZE as u64;
        self.entries[slot..slot + 8].copy_from_slice(&addr.to_ne_bytes());
        self.entries[slot + 8..slot + 12].copy_from_slice(&(SIZE as u32).to_ne_bytes());
        self.entries[slot + 12..slot + 14].copy_from_slice(&bid.to_ne_bytes());
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: byte 14 of the ring is the u16 tail the kernel reads (2-aligned in a page-aligned
        // buffer); the release store publishes the entry written above.
        let tail = unsafe { &*(self.entries.as_ptr().add(14) as *const AtomicU16) };
        tail.store(self.tail, AtomicOrdering::Release);
    }
}

#[test]
fn multishot_recv_fills_provided_buffers_receipt_after_receipt_until_the_end_of_the_stream() {
    each_backend_with(external(), |ring, backend| {
        let mut buffers = ProvidedBuffers::new();
        // SAFETY: the buffers outlive the ring's use of them: they drop after the op's last
        // completion was reaped (or after the guard waited for it), and nothing else touches them
        // while the kernel owns them.
        let registered = unsafe { ring.register_buf_ring(buffers.entries.as_mut_ptr(), COUNT, GROUP) };
        if backend == Backend::Threads {
            assert_eq!(registered.unwrap_err().kind(), std::io::ErrorKind::Unsupported);
            return;
        }
        registered.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let _guard = CloseOnPanic(ring);
        let op = RawOp::RecvMulti { fd: IoFd::raw(server.as_raw_fd()), buf_group: GROUP, flags: 0 };
        // SAFETY: the op writes only into the provided buffers (see above); the socket outlives it.
        unsafe { ring.submit_raw(op, Ordering::None, 9) }.unwrap();
        let mut received = Vec::new();
        let mut sent = Vec::new();
        for round in 0..20u8 {
            let message = vec![round; 100 + round as usize];
            client.write_all(&message).unwrap();
            sent.extend_from_slice(&message);
            while received.len() < sent.len() {
                for ready in reap_until(ring, 1) {
                    assert_eq!(ready.tag, 9);
                    assert!(ready.more(), "round {round}: the recv goes on ({})", ready.result);
                    let bid = ready.buffer().expect("a receipt names its buffer");
                    let start = bid as usize * SIZE;
                    received.extend_from_slice(&buffers.data[start..start + ready.result as usize]);
                    buffers.give_back(bid);
                }
            }
        }
        assert_eq!(received, sent, "every byte, in order, through 8 recycled buffers");
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let last = reap_until(ring, 1);
        assert_eq!((last[0].result, last[0].more()), (0, false), "the end of the stream ends the op");
        assert_eq!(ring.stats().in_flight, 0);
    });
}
