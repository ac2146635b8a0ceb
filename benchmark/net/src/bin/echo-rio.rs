//! An echo server written directly on `crates/rio`: one thread, raw accept/recv/send ops, each
//! connection a small state machine. The benchmark's upper bound for rio-uring/net.
//!
//! `echo-rio 127.0.0.1:0` prints the port it listens on, then serves until killed.

use std::net::TcpListener;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use rio::{IoFd, Ordering, RawOp};
use rio_bench_net::{tag, untag, EventLoop};
use slab::Slab;

const ACCEPT: u64 = 0;
const RECV: u64 = 1;
const SEND: u64 = 2;
const ACCEPTS_IN_FLIGHT: usize = 16;
const BUFFER_BYTES: usize = 16 << 10;

struct Connection {
    socket: OwnedFd,
    buffer: Box<[u8]>,
    /// Bytes received and not yet sent back.
    pending: usize,
    sent: usize,
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args().nth(1).unwrap_or_else(|| "127.0.0.1:0".into());
    let listener = TcpListener::bind(&addr)?;
    println!("{}", listener.local_addr()?.port());
    let mut event_loop = EventLoop::new(4096)?;
    let mut connections: Slab<Connection> = Slab::new();
    let accept = |ring: &rio::Rio, slot: usize| {
        let op = RawOp::Accept { fd: IoFd::raw(listener.as_raw_fd()), addr: std::ptr::null_mut(), addr_len: std::ptr::null_mut(), flags: libc::SOCK_CLOEXEC };
        // SAFETY: the op points at no memory; the listener lives until the process exits.
        unsafe { ring.submit_raw(op, Ordering::None, tag(slot, ACCEPT)) }.expect("submit accept");
    };
    for slot in 0..ACCEPTS_IN_FLIGHT {
        accept(&event_loop.ring, slot);
    }
    loop {
        event_loop.turn(Duration::from_secs(1), |ring, op_tag, result| {
            let (index, kind) = untag(op_tag);
            if kind == ACCEPT {
                accept(ring, index);
                if result >= 0 {
                    // SAFETY: a successful accept returns a new descriptor that nothing else owns.
                    let socket = unsafe { OwnedFd::from_raw_fd(result) };
                    let _ = socket2::SockRef::from(&socket).set_tcp_nodelay(true);
                    let index = connections.insert(Connection { socket, buffer: vec![0; BUFFER_BYTES].into(), pending: 0, sent: 0 });
                    recv(ring, &mut connections[index], index);
                }
                return;
            }
            let connection = &mut connections[index];
            match (kind, result) {
                (RECV, received) if received > 0 => {
                    connection.pending = received as usize;
                    connection.sent = 0;
                    send(ring, connection, index);
                }
                (SEND, sent) if sent > 0 => {
                    connection.sent += sent as usize;
                    if connection.sent < connection.pending {
                        send(ring, connection, index);
                    } else {
                        recv(ring, connection, index);
                    }
                }
                // End of stream or an error: the connection is done (its only op just completed).
                _ => drop(connections.remove(index)),
            }
        })?;
    }
}

fn recv(ring: &rio::Rio, connection: &mut Connection, index: usize) {
    let op = RawOp::Recv { fd: IoFd::raw(connection.socket.as_raw_fd()), buf: connection.buffer.as_mut_ptr(), len: BUFFER_BYTES as u32, flags: 0 };
    // SAFETY: the buffer belongs to the connection, which is removed only after this op completes
    // (each connection has one op in flight at a time).
    unsafe { ring.submit_raw(op, Ordering::None, tag(index, RECV)) }.expect("submit recv");
}

fn send(ring: &rio::Rio, connection: &mut Connection, index: usize) {
    let data = &connection.buffer[connection.sent..connection.pending];
    let op = RawOp::Send { fd: IoFd::raw(connection.socket.as_raw_fd()), buf: data.as_ptr(), len: data.len() as u32, flags: libc::MSG_NOSIGNAL };
    // SAFETY: as in `recv`.
    unsafe { ring.submit_raw(op, Ordering::None, tag(index, SEND)) }.expect("submit send");
}
