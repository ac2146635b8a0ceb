//! A single-threaded event loop on rio's raw ops, for the network benchmark's two Rust programs:
//! the load generator and the echo server written directly on `crates/rio`. One thread owns the
//! ring (external reaper), submits raw ops whose memory it keeps alive until their completions,
//! and sleeps on the ring's eventfd between batches.

use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use rio::{Config, Ready, Reaper, Rio};

/// A ring driven by the calling thread.
pub struct EventLoop {
    pub ring: Rio,
    ready: Vec<Ready>,
}

impl EventLoop {
    /// A ring of `entries` (its completion queue holds twice as many ops in flight).
    pub fn new(entries: u32) -> io::Result<EventLoop> {
        let ring = Config { depth: entries, reaper: Reaper::External, ..Config::default() }.start()?;
        Ok(EventLoop { ring, ready: Vec::with_capacity(entries as usize * 2) })
    }

    /// Submits what was queued, waits (up to `timeout`) for completions and hands each batch to
    /// `handle`, which may queue more ops.
    pub fn turn(&mut self, timeout: Duration, mut handle: impl FnMut(&Rio, u64, i32)) -> io::Result<()> {
        self.ring.submit_all()?;
        let mut poll_fd = libc::pollfd { fd: self.ring.eventfd().as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one live pollfd, the length given.
        unsafe { libc::poll(&mut poll_fd, 1, timeout.as_millis() as i32) };
        self.ready.clear();
        self.ring.reap(&mut self.ready);
        for &Ready { tag, result, .. } in &self.ready {
            handle(&self.ring, tag, result);
        }
        Ok(())
    }
}

/// A connection's op tag: its index and what the op was.
pub fn tag(index: usize, kind: u64) -> u64 {
    (index as u64) << 4 | kind
}

/// The index and kind of a tag.
pub fn untag(tag: u64) -> (usize, u64) {
    ((tag >> 4) as usize, tag & 0xf)
}
