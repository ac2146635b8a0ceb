//! The network benchmark's load generator: N connections each doing request/response round trips
//! as fast as the server answers, for a while, on one thread over rio (so the load costs little
//! and stays on one core). Prints `{"round_trips_per_sec": ...}`.
//!
//! `loadgen echo 127.0.0.1:7000 256 3 128`: 256 connections, 3 s, 128-byte echo messages.
//! `loadgen http 127.0.0.1:8080 256 3`: keep-alive `GET /` requests; a response is complete when
//! its headers and `Content-Length` bytes of body have arrived.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use rio::{IoFd, Ordering, RawOp};
use rio_bench_net::{tag, untag, EventLoop};

const RECV: u64 = 1;
const SEND: u64 = 2;

enum Protocol {
    /// Echo messages of this many bytes.
    Echo(usize),
    Http,
}

struct Client {
    socket: TcpStream,
    request: Vec<u8>,
    sent: usize,
    received: Vec<u8>,
    buffer: Box<[u8]>,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: loadgen echo|http ADDR CONNECTIONS SECONDS [MESSAGE_BYTES]";
    let protocol = match args.get(1).map(String::as_str) {
        Some("echo") => Protocol::Echo(args.get(5).and_then(|size| size.parse().ok()).unwrap_or(128)),
        Some("http") => Protocol::Http,
        _ => panic!("{usage}"),
    };
    let addr: SocketAddr = args.get(2).and_then(|addr| addr.parse().ok()).expect(usage);
    let count: usize = args.get(3).and_then(|n| n.parse().ok()).expect(usage);
    let seconds: f64 = args.get(4).and_then(|n| n.parse().ok()).expect(usage);
    let request = match protocol {
        Protocol::Echo(size) => vec![b'x'; size],
        Protocol::Http => format!("GET / HTTP/1.1\r\nHost: {addr}\r\n\r\n").into_bytes(),
    };
    let mut clients: Vec<Client> = (0..count)
        .map(|_| {
            let socket = TcpStream::connect(addr).expect("connect");
            socket.set_nodelay(true).expect("nodelay");
            Client { socket, request: request.clone(), sent: 0, received: Vec::new(), buffer: vec![0; 64 << 10].into() }
        })
        .collect();
    let mut event_loop = EventLoop::new(4096).expect("ring");
    for (index, client) in clients.iter_mut().enumerate() {
        send(&event_loop.ring, client, index);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let mut round_trips: u64 = 0;
    let mut measuring_from: Option<(Instant, u64)> = None;
    while Instant::now() < deadline {
        // The first tenth of the run warms up; the rate is measured over the rest.
        if measuring_from.is_none() && started.elapsed().as_secs_f64() > seconds / 10.0 {
            measuring_from = Some((Instant::now(), round_trips));
        }
        event_loop
            .turn(Duration::from_millis(100), |ring, op_tag, result| {
                let (index, kind) = untag(op_tag);
                let client = &mut clients[index];
                assert!(result > 0, "connection {index}: {} returned {result}", if kind == SEND { "send" } else { "recv" });
                if kind == SEND {
                    client.sent += result as usize;
                    if client.sent < client.request.len() {
                        send(ring, client, index);
                    } else {
                        recv(ring, client, index);
                    }
                    return;
                }
                client.received.extend_from_slice(&client.buffer[..result as usize]);
                if response_complete(&protocol, &client.received) {
                    round_trips += 1;
                    client.received.clear();
                    client.sent = 0;
                    send(ring, client, index);
                } else {
                    recv(ring, client, index);
                }
            })
            .expect("event loop");
    }
    let (from, counted) = measuring_from.unwrap_or((started, 0));
    let rate = (round_trips - counted) as f64 / from.elapsed().as_secs_f64();
    let mut out = std::io::stdout();
    writeln!(out, "{{\"round_trips_per_sec\": {rate:.0}, \"connections\": {count}}}").expect("stdout");
    // Exiting closes the sockets with ops in flight; the kernel cancels them with the process.
    std::process::exit(0);
}

fn response_complete(protocol: &Protocol, received: &[u8]) -> bool {
    match protocol {
        Protocol::Echo(size) => received.len() >= *size,
        Protocol::Http => {
            let Some(end) = received.windows(4).position(|window| window == b"\r\n\r\n") else { return false };
            let headers = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
            let length: usize = headers
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            received.len() >= end + 4 + length
        }
    }
}

fn send(ring: &rio::Rio, client: &mut Client, index: usize) {
    let data = &client.request[client.sent..];
    let op = RawOp::Send { fd: IoFd::raw(client.socket.as_raw_fd()), buf: data.as_ptr(), len: data.len() as u32, flags: libc::MSG_NOSIGNAL };
    // SAFETY: the request lives in the client, which outlives the loop (the process exits at the
    // end with ops in flight; the kernel cancels them then).
    unsafe { ring.submit_raw(op, Ordering::None, tag(index, SEND)) }.expect("submit send");
}

fn recv(ring: &rio::Rio, client: &mut Client, index: usize) {
    let op = RawOp::Recv { fd: IoFd::raw(client.socket.as_raw_fd()), buf: client.buffer.as_mut_ptr(), len: client.buffer.len() as u32, flags: 0 };
    // SAFETY: as in `send`.
    unsafe { ring.submit_raw(op, Ordering::None, tag(index, RECV)) }.expect("submit recv");
}
