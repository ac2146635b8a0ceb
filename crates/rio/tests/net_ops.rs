//! Sockets on 127.0.0.1 through the ring, on both backends: TCP accept, connect, send, recv and
//! shutdown; UDP datagrams with their addresses.

mod common;

use std::net::{Shutdown, SocketAddr, TcpListener, UdpSocket};

use common::{each_backend, CloseOnPanic};
use rio::Ops;
use socket2::{Domain, Socket, Type};

#[test]
fn tcp_accept_connect_send_recv_and_shutdown_carry_a_conversation() {
    each_backend(|ring, _| {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let client = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");

        // The accept waits in the ring until the connect arrives.
        let accepting = ring.accept(&listener);
        let _guard = CloseOnPanic(ring);
        ring.connect(&client, addr).wait().expect("connect");
        let (server, peer) = accepting.wait().expect("accept");
        let client_addr = client.local_addr().expect("client addr").as_socket();
        assert_eq!(peer, client_addr, "accept gives the peer's address");

        let (sent, _) = ring.send(&client, b"hello".to_vec()).wait();
        assert_eq!(sent.expect("send"), 5);
        let (received, buf) = ring.recv(&server, vec![0u8; 64]).wait();
        let received = received.expect("recv");
        assert_eq!(&buf[..received], b"hello");

        let (sent, _) = ring.send(&server, b"world!".to_vec()).wait();
        assert_eq!(sent.expect("send back"), 6);
        let (received, buf) = ring.recv(&client, vec![0u8; 64]).wait();
        let received = received.expect("recv back");
        assert_eq!(&buf[..received], b"world!");

        // A recv waiting when the peer shuts down its side completes with 0: end of stream.
        let waiting = ring.recv(&server, vec![0u8; 64]);
        let _guard = CloseOnPanic(ring);
        ring.shutdown(&client, Shutdown::Write).wait().expect("shutdown");
        let (received, _) = waiting.wait();
        assert_eq!(received.expect("recv after the peer's shutdown"), 0);

        // The other direction is still open.
        let (sent, _) = ring.send(&server, b"still here".to_vec()).wait();
        assert_eq!(sent.expect("send after the peer's half-close"), 10);
        let (received, buf) = ring.recv(&client, vec![0u8; 64]).wait();
        assert_eq!(&buf[..received.expect("recv")], b"still here");
    });
}

#[test]
fn connect_to_a_closed_port_is_refused() {
    each_backend(|ring, _| {
        // Bind then drop a listener to get a port nobody listens on.
        let addr = TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
        let client = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
        let error = ring.connect(&client, addr).wait().expect_err("nobody listens");
        assert_eq!(error.kind(), std::io::ErrorKind::ConnectionRefused);
    });
}

#[test]
fn udp_send_to_and_recv_from_keep_datagrams_and_addresses() {
    each_backend(|ring, _| {
        let a = UdpSocket::bind("127.0.0.1:0").expect("bind a");
        let b = UdpSocket::bind("127.0.0.1:0").expect("bind b");
        let a_addr: SocketAddr = a.local_addr().expect("a addr");
        let b_addr: SocketAddr = b.local_addr().expect("b addr");

        // The first recv_from is waiting before anything is sent.
        let first = ring.recv_from(&b, vec![0u8; 64]);
        let _guard = CloseOnPanic(ring);
        let (sent, _) = ring.send_to(&a, b"first".to_vec(), b_addr).wait();
        assert_eq!(sent.expect("send_to"), 5);
        let (sent, _) = ring.send_to(&a, b"second datagram".to_vec(), b_addr).wait();
        assert_eq!(sent.expect("send_to"), 15);

        let (received, buf) = first.wait();
        let (len, from) = received.expect("recv_from");
        assert_eq!(&buf[..len], b"first", "one datagram per recv_from, never two merged");
        assert_eq!(from, Some(a_addr), "recv_from gives the sender");
        let (received, buf) = ring.recv_from(&b, vec![0u8; 64]).wait();
        let (len, from) = received.expect("recv_from");
        assert_eq!(&buf[..len], b"second datagram");
        assert_eq!(from, Some(a_addr));

        // And back, to the address recv_from reported.
        ring.send_to(&b, b"reply".to_vec(), from.expect("an address")).wait().0.expect("reply");
        let mut reply = [0u8; 16];
        let (len, reply_from) = a.recv_from(&mut reply).expect("std recv_from");
        assert_eq!((&reply[..len], reply_from), (&b"reply"[..], b_addr));
    });
}
