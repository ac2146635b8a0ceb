//! Socket set-up that io_uring has no op for (or needs no ring for): creating, binding and
//! listening, socket options, and converting addresses between JS strings and `sockaddr` bytes.
//! These are quick non-blocking syscalls, made synchronously. Failures return `-errno`, which the
//! TypeScript layer turns into Node-style errors.

use std::net::{IpAddr, SocketAddr};
use std::os::fd::IntoRawFd;

use napi::bindgen_prelude::*;
use napi_derive::napi;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

fn errno(error: std::io::Error) -> i32 {
    -error.raw_os_error().unwrap_or(libc::EIO)
}

fn parse(host: &str, port: u32) -> Option<SocketAddr> {
    let ip: IpAddr = host.parse().ok()?;
    Some(SocketAddr::new(ip, u16::try_from(port).ok()?))
}

/// A new close-on-exec socket: `family` 4 or 6, TCP or UDP. The fd, or -errno.
#[napi]
pub fn socket_create(family: u32, udp: bool) -> i32 {
    let domain = if family == 6 { Domain::IPV6 } else { Domain::IPV4 };
    let (kind, protocol) = if udp { (Type::DGRAM, Protocol::UDP) } else { (Type::STREAM, Protocol::TCP) };
    match Socket::new(domain, kind, Some(protocol)) {
        Ok(socket) => socket.into_raw_fd(),
        Err(error) => errno(error),
    }
}

fn with_socket<T>(fd: i32, f: impl FnOnce(&Socket) -> std::io::Result<T>) -> std::io::Result<T> {
    use std::os::fd::FromRawFd;
    if fd < 0 {
        return Err(std::io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: `fd` is not negative; the socket is borrowed for the call only, and ManuallyDrop
    // keeps the fd open (JS owns it).
    let socket = std::mem::ManuallyDrop::new(unsafe { Socket::from_raw_fd(fd) });
    f(&socket)
}

/// Binds to `host` (an IP literal) and `port` with SO_REUSEADDR; `listen` with a backlog when
/// `backlog` >= 0. 0 or -errno.
#[napi]
pub fn socket_bind(fd: i32, host: String, port: u32, backlog: i32) -> i32 {
    let Some(addr) = parse(&host, port) else { return -libc::EINVAL };
    let result = with_socket(fd, |socket| {
        socket.set_reuse_address(true)?;
        if addr.is_ipv6() {
            // Like Node: a listener on "::" also takes IPv4 connections.
            let _ = socket.set_only_v6(false);
        }
        socket.bind(&SockAddr::from(addr))?;
        if backlog >= 0 {
            socket.listen(backlog)?;
        }
        Ok(())
    });
    result.map_or_else(errno, |()| 0)
}

/// Sets TCP_NODELAY. 0 or -errno.
#[napi]
pub fn socket_set_no_delay(fd: i32, enable: bool) -> i32 {
    with_socket(fd, |socket| socket.set_tcp_nodelay(enable)).map_or_else(errno, |()| 0)
}

/// The socket's send (`send`) or receive buffer size (SO_SNDBUF, SO_RCVBUF) in bytes, as the
/// kernel reports it (Linux doubles the size set, for its bookkeeping), or -errno.
#[napi]
pub fn socket_buffer_size(fd: i32, send: bool) -> i64 {
    let size = with_socket(fd, |socket| if send { socket.send_buffer_size() } else { socket.recv_buffer_size() });
    size.map_or_else(|error| i64::from(errno(error)), |size| size as i64)
}

/// Sets the socket's send (`send`) or receive buffer size to `bytes`. 0 or -errno.
#[napi]
pub fn socket_set_buffer_size(fd: i32, send: bool, bytes: u32) -> i32 {
    let result = with_socket(fd, |socket| {
        if send {
            socket.set_send_buffer_size(bytes as usize)
        } else {
            socket.set_recv_buffer_size(bytes as usize)
        }
    });
    result.map_or_else(errno, |()| 0)
}

/// A socket address as JS sees it.
#[napi(object)]
pub struct AddressInfo {
    pub address: String,
    pub port: u32,
    /// "IPv4" or "IPv6", as in `net.Socket#address()`.
    pub family: String,
}

fn info(addr: SocketAddr) -> AddressInfo {
    let (address, family) = match addr.ip() {
        IpAddr::V4(ip) => (ip.to_string(), "IPv4"),
        // An IPv4 client of a dual-stack listener shows as ::ffff:a.b.c.d, as in Node.
        IpAddr::V6(ip) => (ip.to_string(), "IPv6"),
    };
    AddressInfo { address, port: u32::from(addr.port()), family: family.to_string() }
}

/// The local (`peer` false) or remote address of a socket, or null.
#[napi]
pub fn socket_address(fd: i32, peer: bool) -> Option<AddressInfo> {
    let addr = with_socket(fd, |socket| if peer { socket.peer_addr() } else { socket.local_addr() }).ok()?;
    addr.as_socket().map(info)
}

/// The `sockaddr` bytes of `host` (an IP literal) and `port`, for a connect op.
#[napi]
pub fn sockaddr_encode(host: String, port: u32) -> Option<Buffer> {
    let addr = SockAddr::from(parse(&host, port)?);
    // SAFETY: a SockAddr holds `len()` initialised bytes of address at `as_ptr()`.
    let bytes = unsafe { std::slice::from_raw_parts(addr.as_ptr().cast::<u8>(), addr.len() as usize) };
    Some(bytes.to_vec().into())
}

/// Decodes the `sockaddr` an accept op wrote (`bytes`: the address, then its u32 length).
#[napi]
pub fn sockaddr_decode(bytes: Buffer) -> Option<AddressInfo> {
    let storage_len = std::mem::size_of::<libc::sockaddr_storage>();
    if bytes.len() < 132 {
        return None;
    }
    let len = u32::from_ne_bytes(bytes[128..132].try_into().ok()?) as usize;
    let mut storage = socket2::SockAddrStorage::zeroed();
    let copied = len.min(128).min(storage_len);
    // SAFETY: copies `copied` (<= 128 <= size of the storage) bytes into the zeroed storage.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), (&mut storage as *mut socket2::SockAddrStorage).cast::<u8>(), copied) };
    // SAFETY: the storage holds the address the kernel wrote, `copied` bytes long.
    let addr = unsafe { SockAddr::new(storage, copied as libc::socklen_t) };
    addr.as_socket().map(info)
}
