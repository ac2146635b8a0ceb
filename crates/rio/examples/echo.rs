//! A TCP echo server and client on the ring: accept, recv, send, connect, shutdown.
//!
//! ```text
//! cargo run --example echo                               # demo: server and client, one round trip each
//! cargo run --example echo -- --listen 127.0.0.1:7000    # serve until killed
//! cargo run --example echo -- --listen 127.0.0.1:7000 --once
//! cargo run --example echo -- --connect 127.0.0.1:7000 hello world
//! ```
//!
//! The server serves each connection on its own thread, all sharing one ring. Received bytes stay
//! in an owned `Vec`; the partial sends borrow slices of it inside a `ring.scope`.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::os::fd::OwnedFd;

use rio::{Ops, Rio};
use socket2::{Domain, Socket, Type};

fn main() {
    if let Err(error) = run() {
        eprintln!("echo: {error}");
        std::process::exit(1);
    }
}

fn run() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let ring = rio::new()?;
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => demo(&ring),
        ["--listen", addr, rest @ ..] => {
            let once = match rest {
                [] => false,
                ["--once"] => true,
                _ => return Err(usage()),
            };
            let listener = TcpListener::bind(addr)?;
            println!("echo: listening on {} ({} backend)", listener.local_addr()?, ring.backend().name());
            serve(&ring, &listener, once)
        }
        ["--connect", addr, messages @ ..] if !messages.is_empty() => {
            let addr: SocketAddr = addr.parse().map_err(|_| usage())?;
            for reply in client(&ring, addr, messages)? {
                println!("{reply}");
            }
            Ok(())
        }
        _ => Err(usage()),
    }
}

fn usage() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, "usage: echo [--listen ADDR [--once] | --connect ADDR MESSAGE...]")
}

/// Accepts connections and echoes each on its own thread; with `once`, serves one and returns.
fn serve(ring: &Rio, listener: &TcpListener, once: bool) -> io::Result<()> {
    std::thread::scope(|threads| loop {
        let (connection, peer) = ring.accept(listener).wait()?;
        let peer = peer.map_or_else(|| "?".to_string(), |peer| peer.to_string());
        if once {
            let echoed = echo(ring, &connection)?;
            println!("echo: {peer} done after {echoed} bytes");
            return Ok(());
        }
        threads.spawn(move || match echo(ring, &connection) {
            Ok(echoed) => println!("echo: {peer} done after {echoed} bytes"),
            Err(error) => eprintln!("echo: {peer}: {error}"),
        });
    })
}

/// Sends back everything received until the peer shuts down its side; returns the bytes echoed.
fn echo(ring: &Rio, connection: &OwnedFd) -> io::Result<usize> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut echoed = 0;
    loop {
        let (received, given_back) = ring.recv(connection, buf).wait();
        buf = given_back;
        let received = received?;
        if received == 0 {
            return Ok(echoed);
        }
        send_all(ring, connection, &buf[..received])?;
        echoed += received;
    }
}

/// Sends all of `bytes`, however the kernel splits them.
fn send_all(ring: &Rio, socket: &impl std::os::fd::AsFd, bytes: &[u8]) -> io::Result<()> {
    let mut sent = 0;
    while sent < bytes.len() {
        sent += ring.scope(|s| s.send(socket, &bytes[sent..]).wait().0)?;
    }
    Ok(())
}

/// Connects, sends each message and reads its echo back, then shuts down the sending side and
/// waits for the server to close.
fn client(ring: &Rio, addr: SocketAddr, messages: &[&str]) -> io::Result<Vec<String>> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    ring.connect(&socket, addr).wait()?;
    let mut replies = Vec::new();
    for message in messages {
        send_all(ring, &socket, message.as_bytes())?;
        let mut reply = Vec::new();
        while reply.len() < message.len() {
            let (received, buf) = ring.recv(&socket, vec![0u8; message.len() - reply.len()]).wait();
            match received? {
                0 => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "the server closed mid-reply")),
                received => reply.extend_from_slice(&buf[..received]),
            }
        }
        replies.push(String::from_utf8_lossy(&reply).into_owned());
    }
    ring.shutdown(&socket, Shutdown::Write).wait()?;
    let (received, _) = ring.recv(&socket, vec![0u8; 1]).wait();
    if received? != 0 {
        return Err(io::Error::other("the server sent more than the echo"));
    }
    Ok(replies)
}

/// A server for one connection on an ephemeral port, and a client checking its echoes.
fn demo(ring: &Rio) -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    println!("echo demo: server on {addr} ({} backend)", ring.backend().name());
    let messages = ["hello", "from", "the ring"];
    std::thread::scope(|threads| {
        let server = threads.spawn(|| serve(ring, &listener, true));
        let replies = client(ring, addr, &messages)?;
        for reply in &replies {
            println!("echo demo: got back {reply:?}");
        }
        server.join().expect("the server thread")?;
        if replies != messages {
            return Err(io::Error::other(format!("sent {messages:?}, got back {replies:?}")));
        }
        println!("echo demo: every message came back");
        Ok(())
    })
}
