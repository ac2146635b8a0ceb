//! What the log's tests share: opening a log whose notices go to a channel, records that say
//! their LSN, reading everything back, and settling a run of appends.

#![allow(dead_code)] // each test binary uses part of this module

use std::path::Path;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use rio_log::{Log, LogOptions, Notice};

pub fn backends() -> Vec<rio::Backend> {
    vec![rio::Backend::IoUring, rio::Backend::Threads]
}

/// Small segments, buffered writes + fdatasync (tests of direct mode say so).
pub fn options(backend: rio::Backend) -> LogOptions {
    LogOptions { segment_bytes: 64 << 10, backend, direct: false, ..LogOptions::default() }
}

/// Opens a log whose notices go to the returned channel.
pub fn open(dir: &Path, options: LogOptions) -> (Log, mpsc::Receiver<Notice>) {
    let (sender, notices) = mpsc::channel();
    let sender = Mutex::new(sender);
    let log = Log::open(dir, options, Box::new(move |notice| drop(sender.lock().unwrap().send(notice)))).expect("open the log");
    (log, notices)
}

/// The record appended as LSN `i`: it says which it is, and sizes vary.
pub fn record(i: u64) -> Vec<u8> {
    format!("record {i} {}", "x".repeat((i % 97) as usize)).into_bytes()
}

static APPENDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Whether the records are what a run of `settle`s leaves: contiguous LSNs from 1, each an
/// intact, distinct append.
pub fn assert_settled(records: &[(u64, Vec<u8>)], context: &str) {
    let mut seen = std::collections::HashSet::new();
    for (i, (lsn, data)) in records.iter().enumerate() {
        assert_eq!(*lsn, i as u64 + 1, "{context}: contiguous LSNs");
        assert!(data.starts_with(b"append "), "{context}: LSN {lsn} holds an append");
        assert!(seen.insert(data.clone()), "{context}: LSN {lsn} holds an append no other LSN holds");
    }
}

/// The segment files in `dir`, in LSN order.
pub fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "log")).collect();
    files.sort();
    files
}

pub fn all(log: &Log) -> Vec<(u64, Vec<u8>)> {
    log.read(1, usize::MAX).expect("read")
}

/// Appends that failed: `first..=last`, and why.
#[derive(Debug)]
pub struct Failed {
    pub first: u64,
    pub last: u64,
    pub error: std::io::Error,
}

/// Appends `count` records, then collects notices until everything handed out has settled:
/// the durable LSN reached the last LSN given out (after a failure, the LSNs start again from the
/// failed ones). Returns the durable LSN and the failures.
pub fn settle(log: &Log, notices: &mpsc::Receiver<Notice>, count: u64) -> (u64, Vec<Failed>) {
    for _ in 0..count {
        // The LSN is not known before the append (a failure can hand LSNs out again): the record
        // says which append it was instead.
        let n = APPENDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        log.append(format!("append {n}").as_bytes()).unwrap();
    }
    let mut durable = log.durable_lsn();
    let mut failed = Vec::new();
    let take = |notice, durable: &mut u64, failed: &mut Vec<Failed>| match notice {
        Notice::Durable(lsn) => *durable = lsn,
        Notice::Failed { first, last, error, .. } => failed.push(Failed { first, last, error }),
    };
    while durable < log.next_lsn() - 1 {
        take(notices.recv_timeout(Duration::from_secs(10)).expect("a notice"), &mut durable, &mut failed);
    }
    // A failure resets the LSNs before its notice is sent: collect what is still on its way.
    while let Ok(notice) = notices.recv_timeout(Duration::from_millis(20)) {
        take(notice, &mut durable, &mut failed);
    }
    (durable, failed)
}
