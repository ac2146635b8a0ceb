//! Faults injected at the log's IO calls (the failpoints `rio_log::failpoints` lists), each in
//! turn: at open, at a segment roll, in the writer's batches, in the cleanup after a failed batch,
//! in truncate and in reads. A failed call gives a clear error (what the log was doing, and the
//! errno) or fails the appends it affects; the log goes on from its last durable record, or, when
//! it cannot make itself safe, refuses appends until it is reopened; and the reopened log holds
//! exactly the durable records. Failpoints are process-wide, so these tests live in their own
//! binary and run one at a time.

mod common;

use std::io;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use common::{all, assert_settled, backends, open, options, record, segment_files, settle, Failed};
use rio_log::{failpoints, os_error, Log, LogOptions, Notice};

static FAILPOINTS: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    FAILPOINTS.lock().unwrap_or_else(|e| e.into_inner())
}

/// The failpoints each test below fails, by where their calls are made.
const OPEN: &[&str] = &[
    "log::create_dir",
    "log::lock_open",
    "log::lock_flock",
    "log::lock_truncate",
    "log::lock_write",
    "log::list",
    "log::tmp_remove",
    "log::read_open",
    "log::read_stat",
    "log::read",
    "log::cut_open",
    "log::cut_truncate",
    "log::cut_fallocate",
    "log::cut_sync",
    "log::segment_remove",
    "log::segment_create",
    "log::segment_zero",
    "log::segment_header",
    "log::segment_sync",
    "log::segment_header_sync",
    "log::segment_rename",
    "log::dir_open",
    "log::dir_sync",
    "log::segment_open",
    "log::eventfd",
    "log::ring_start",
];
const ROLL: &[&str] = &[
    "log::segment_create",
    "log::segment_zero",
    "log::segment_header",
    "log::segment_sync",
    "log::segment_header_sync",
    "log::segment_rename",
    "log::dir_open",
    "log::dir_sync",
    "log::segment_open",
];
const BATCH: &[&str] = &["log::write", "log::fdatasync"];
const CUT: &[&str] = &["log::cut_open", "log::cut_truncate", "log::cut_fallocate", "log::cut_sync"];
const TRUNCATE: &[&str] = &["log::segment_remove", "log::dir_open", "log::dir_sync"];
const READ: &[&str] = &["log::read_open", "log::read"];
/// Failpoints with a test of their own.
const OTHERS: &[&str] = &["log::lock_holder", "log::segment_tmp_cleanup", "log::short_write", "log::direct_probe"];
const SPARE: &[&str] = &["log::spare_create", "log::spare_zero", "log::spare_sync"];

/// While held, no spare can be made, so every roll makes its segment itself (and meets the
/// failpoints of the roll's own calls).
struct NoSpares;

impl NoSpares {
    fn new() -> NoSpares {
        set("log::spare_create", "return(5)");
        NoSpares
    }
}

impl Drop for NoSpares {
    fn drop(&mut self) {
        set("log::spare_create", "");
    }
}

#[test]
fn every_failpoint_of_the_log_is_failed_by_a_test_here() {
    let mut tested = [OPEN, ROLL, BATCH, CUT, TRUNCATE, READ, OTHERS, SPARE].concat();
    tested.sort();
    tested.dedup();
    let mut names = failpoints::NAMES.to_vec();
    names.sort();
    assert_eq!(tested, names);
}

#[test]
fn a_failpoint_the_log_does_not_have_is_refused() {
    let error = failpoints::set("log::no_such_call", "return").unwrap_err();
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    assert!(error.to_string().contains("log::segment_sync"), "it lists the ones there are: {error}");
    assert!(failpoints::set("log::write", "not an action").is_err());
}

/// Each backend, with buffered writes + fdatasync and with O_DIRECT | O_DSYNC (where the batch
/// after a failed one writes the tail block again from where the failed one began).
fn backends_and_modes() -> Vec<(rio::Backend, LogOptions)> {
    backends().into_iter().flat_map(|backend| [false, true].map(|direct| (backend, LogOptions { direct, ..options(backend) }))).collect()
}

fn set(name: &str, actions: &str) {
    failpoints::set(name, actions).unwrap_or_else(|error| panic!("{error}"));
}

/// Asserts that `error` carries the errno injected, after what the log was doing.
fn assert_clear(error: &io::Error, errno: i32, context: &str) {
    assert_eq!(os_error(error), Some(errno), "{context}: the errno, in {error:?}");
    let bare = io::Error::from_raw_os_error(errno).to_string();
    let message = error.to_string();
    assert!(message.ends_with(&format!(": {bare}")) && message.len() > bare.len() + 10, "{context}: the error says what failed: {message:?}");
}

/// Holds the thread that reaches failpoint `name` for the `nth` time (from 1) there, until
/// released: the log can be looked at with that thread stopped at a known point.
struct Gate {
    name: &'static str,
    state: Arc<(Mutex<GateState>, Condvar)>,
}

#[derive(Default)]
struct GateState {
    calls: usize,
    holding: bool,
    released: bool,
}

impl Gate {
    fn at(name: &'static str, nth: usize) -> Gate {
        assert!(failpoints::NAMES.contains(&name), "no failpoint {name}");
        let state = Arc::new((Mutex::new(GateState::default()), Condvar::new()));
        let shared = state.clone();
        fail::cfg_callback(name, move || {
            let (lock, changed) = &*shared;
            let mut state = lock.lock().unwrap_or_else(|e| e.into_inner());
            state.calls += 1;
            if state.calls != nth {
                return;
            }
            state.holding = true;
            changed.notify_all();
            while !state.released {
                state = changed.wait(state).unwrap_or_else(|e| e.into_inner());
            }
        })
        .unwrap();
        Gate { name, state }
    }

    /// Waits until a thread is held at the failpoint.
    fn wait_held(&self) {
        let (lock, changed) = &*self.state;
        let state = changed.wait_timeout_while(lock.lock().unwrap_or_else(|e| e.into_inner()), Duration::from_secs(10), |state| !state.holding);
        assert!(state.unwrap_or_else(|e| e.into_inner()).0.holding, "nothing reached {} in time", self.name);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let (lock, changed) = &*self.state;
        lock.lock().unwrap_or_else(|e| e.into_inner()).released = true;
        changed.notify_all();
        fail::remove(self.name);
    }
}

// ---- open ---------------------------------------------------------------------------------------

/// Makes a closed log in `dir` whose next open has every kind of IO to do: records in several
/// segments to read, a torn tail to cut, a segment past it to remove, and a `.log.tmp` of an
/// interrupted roll to remove. Returns how many records it holds.
fn log_with_work_for_recovery(dir: &Path) -> u64 {
    let (log, _) = open(dir, options(rio::Backend::Threads));
    let records: Vec<Vec<u8>> = (1..=3000).map(record).collect();
    let first = log.append_batch(records.iter().map(Vec::as_slice)).unwrap();
    log.wait_durable(rio_log::Appended { lsn: 3000, ..first }).unwrap();
    log.close().unwrap();
    let last = segment_files(dir).pop().unwrap();
    let bytes = std::fs::read(&last).unwrap();
    let end = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
    // The frame of a record 3001 whose data never made it.
    let mut torn = vec![200, 0, 0, 0, 1, 2, 3, 4];
    torn.extend_from_slice(&3001u64.to_le_bytes());
    torn.extend_from_slice(b"par");
    std::os::unix::fs::FileExt::write_all_at(&std::fs::OpenOptions::new().write(true).open(&last).unwrap(), &torn, end as u64).unwrap();
    std::fs::write(dir.join(format!("{:020}.log", 1_000_000)), vec![0u8; 4096]).unwrap();
    std::fs::write(dir.join(format!("{:020}.log.tmp", 3001)), b"an interrupted roll").unwrap();
    3000
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, to.join(path.file_name().unwrap())).unwrap();
    }
}

#[test]
fn every_io_call_of_open_fails_it_with_a_clear_error_and_the_log_then_opens_with_its_durable_records() {
    let _serial = serial();
    let template = tempfile::tempdir().unwrap();
    let held = log_with_work_for_recovery(template.path());
    for point in OPEN {
        let mut failed_opens = 0;
        for existing in [false, true] {
            let scratch = tempfile::tempdir().unwrap();
            let dir = scratch.path().join("log");
            if existing {
                copy_dir(template.path(), &dir);
            }
            let context = format!("{point}, {} log", if existing { "an existing" } else { "a new" });
            set(point, "return(5)");
            let opened = Log::open(&dir, options(rio::Backend::Threads), Box::new(|_| {}));
            set(point, "");
            if let Err(error) = &opened {
                assert_clear(error, 5, &context);
                failed_opens += 1;
            }
            drop(opened);
            let (log, notices) = open(&dir, options(rio::Backend::Threads));
            let records = all(&log);
            let expected = if existing { held } else { 0 };
            assert_eq!(records.len() as u64, expected, "{context}: the log opens with every durable record");
            assert!(records.iter().all(|(lsn, data)| *data == record(*lsn)), "{context}: intact");
            assert_eq!(settle(&log, &notices, 3).0, expected + 3, "{context}: and goes on");
            log.close().unwrap();
            let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
            assert!(names.iter().all(|name| !name.ends_with(".tmp") && !name.starts_with("000000000000010")), "{context}: recovery's leftovers are gone: {names:?}");
        }
        assert!(failed_opens > 0, "{point}: no open reached it");
    }
}

/// A file system that refuses O_DIRECT (EINVAL from open: tmpfs before Linux 6.6, FUSE, ...)
/// gets buffered writes by default, or a clear EINVAL without the fallback; any other error from
/// the probe fails the open rather than quietly giving up direct writes.
#[test]
fn a_file_system_that_refuses_o_direct_gets_buffered_writes_unless_direct_is_required() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let direct = LogOptions { direct: true, direct_fallback: true, ..options(rio::Backend::Threads) };
    set("log::direct_probe", "1*return(22)");
    let (log, notices) = open(dir.path(), direct.clone());
    assert!(!log.direct(), "refused: buffered");
    let (durable, failed) = settle(&log, &notices, 5);
    assert_eq!((durable, failed.len()), (5, 0));
    log.close().unwrap();
    set("log::direct_probe", "1*return(22)");
    let error = Log::open(dir.path(), LogOptions { direct_fallback: false, ..direct.clone() }, Box::new(|_| {})).err().expect("direct required and refused");
    set("log::direct_probe", "");
    assert_clear(&error, libc::EINVAL, "direct required");
    assert!(error.to_string().contains("does not take"), "{error}");
    set("log::direct_probe", "1*return(5)");
    let error = Log::open(dir.path(), direct.clone(), Box::new(|_| {})).err().expect("the probe failing otherwise fails the open");
    set("log::direct_probe", "");
    assert_clear(&error, 5, "probe EIO");
    let (log, _) = open(dir.path(), direct);
    assert_eq!(all(&log).len(), 5, "and the log opens whole afterwards");
}

#[test]
fn a_second_writer_is_refused_clearly_even_when_the_holders_pid_cannot_be_read() {
    let _serial = serial();
    let dir = tempfile::tempdir().unwrap();
    let (_log, _) = open(dir.path(), options(rio::Backend::Threads));
    set("log::lock_holder", "return(5)");
    let error = Log::open(dir.path(), options(rio::Backend::Threads), Box::new(|_| {})).err().expect("a second open fails");
    set("log::lock_holder", "");
    assert_eq!(error.kind(), io::ErrorKind::WouldBlock);
    assert!(error.to_string().contains("is open in another writer: a log has one writer at a time"), "{error}");
    let error = Log::open(dir.path(), options(rio::Backend::Threads), Box::new(|_| {})).err().expect("a second open fails");
    assert!(error.to_string().contains(&format!("another writer (pid {})", std::process::id())), "{error}");
}

// ---- appends ------------------------------------------------------------------------------------

#[test]
fn every_io_call_of_a_roll_fails_its_appends_with_a_clear_error_and_the_log_goes_on() {
    let _serial = serial();
    let _no_spares = NoSpares::new();
    for point in ROLL {
        let dir = tempfile::tempdir().unwrap();
        let (log, notices) = open(dir.path(), options(rio::Backend::Threads));
        // Fill most of the first segment (appends take about 30 bytes each), then make the
        // roll to the second fail.
        let (durable, _) = settle(&log, &notices, 1800);
        assert_eq!(durable, 1800);
        set(point, "1*return(28)");
        let (_, failed) = settle(&log, &notices, 1500);
        set(point, "");
        let Some(Failed { error, .. }) = failed.first() else { panic!("{point}: some appends failed when the segment could not be made") };
        assert_clear(error, 28, point);
        let (_, failed_again) = settle(&log, &notices, 10);
        assert!(failed_again.is_empty(), "{point}: the log goes on once the fault is gone");
        let durable = log.durable_lsn();
        log.close().unwrap();
        let (log, _) = open(dir.path(), options(rio::Backend::Threads));
        let records = all(&log);
        assert_eq!(records.len() as u64, durable, "{point}");
        assert_settled(&records, point);
    }
}

/// The spare (the next segment's zeros, made ahead on a thread of its own) is what rolls use; one
/// that cannot be made leaves the roll to make its segment itself, and nothing is lost either way.
#[test]
fn rolls_take_the_spare_and_a_spare_that_cannot_be_made_costs_nothing_but_time() {
    let _serial = serial();
    let tmp_files = |dir: &Path| std::fs::read_dir(dir).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".log.tmp")).count();
    // With the roll's own creation failing, rolls still work: they take the spare.
    let dir = tempfile::tempdir().unwrap();
    let (log, notices) = open(dir.path(), options(rio::Backend::Threads));
    set("log::segment_create", "return(28)");
    let mut durable = 0;
    for _ in 0..10 {
        // One roll at a time: the next spare starts once the new segment is half full.
        let (settled, failed) = settle(&log, &notices, 1000);
        durable = settled;
        assert!(failed.is_empty(), "a roll took the spare: {:?}", failed.first().map(|f| f.error.to_string()));
    }
    set("log::segment_create", "");
    assert!(segment_files(dir.path()).len() >= 4, "the log rolled onto spares ({} segments)", segment_files(dir.path()).len());
    log.close().unwrap();
    assert_eq!(tmp_files(dir.path()), 0, "closing removes an unused spare");
    let (log, _) = open(dir.path(), options(rio::Backend::Threads));
    assert_eq!(all(&log).len() as u64, durable);
    drop(log);
    for point in SPARE {
        let dir = tempfile::tempdir().unwrap();
        let (log, notices) = open(dir.path(), options(rio::Backend::Threads));
        set(point, "return(28)");
        let (durable, failed) = settle(&log, &notices, 6000);
        set(point, "");
        assert_eq!((durable, failed.len()), (6000, 0), "{point}: the rolls made their segments themselves");
        assert!(segment_files(dir.path()).len() >= 3, "{point}: the log rolled");
        log.close().unwrap();
        assert_eq!(tmp_files(dir.path()), 0, "{point}: a failed spare leaves no file");
        let (log, _) = open(dir.path(), options(rio::Backend::Threads));
        assert_eq!(all(&log).len(), 6000, "{point}");
    }
}

#[test]
fn a_segment_left_half_made_is_removed_at_the_next_open() {
    let _serial = serial();
    let _no_spares = NoSpares::new();
    let dir = tempfile::tempdir().unwrap();
    let (log, notices) = open(dir.path(), options(rio::Backend::Threads));
    settle(&log, &notices, 1800);
    set("log::segment_zero", "1*return(28)");
    set("log::segment_tmp_cleanup", "return(5)");
    // One call, so that no append after the failure rolls (and makes the segment) again.
    let records: Vec<Vec<u8>> = (0..1500).map(|i| format!("append past the roll {i}").into_bytes()).collect();
    log.append_batch(records.iter().map(Vec::as_slice)).unwrap();
    let failed = loop {
        match notices.recv_timeout(Duration::from_secs(10)).expect("a notice") {
            Notice::Failed { error, .. } => break error,
            Notice::Durable(_) => {}
        }
    };
    set("log::segment_zero", "");
    set("log::segment_tmp_cleanup", "");
    assert_clear(&failed, 28, "segment_zero");
    let tmp = |dir: &Path| std::fs::read_dir(dir).unwrap().filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".log.tmp")).count();
    assert_eq!(tmp(dir.path()), 1, "the half-made segment could not be removed");
    let durable = log.durable_lsn();
    log.close().unwrap();
    let (log, _) = open(dir.path(), options(rio::Backend::Threads));
    assert_eq!(tmp(dir.path()), 0, "the next open removed it");
    assert_eq!(all(&log).len() as u64, durable);
}

#[test]
fn a_failed_write_or_sync_fails_the_batch_with_a_clear_error_and_the_log_goes_on_from_its_last_durable_record() {
    let _serial = serial();
    for (backend, options) in backends_and_modes() {
        for point in BATCH {
            let context = format!("{backend:?} direct {} {point}", options.direct);
            let dir = tempfile::tempdir().unwrap();
            let (log, notices) = open(dir.path(), options.clone());
            let (durable, failed) = settle(&log, &notices, 10);
            assert_eq!((durable, failed.len()), (10, 0));
            set(point, "1*return(5)");
            let (_, failed) = settle(&log, &notices, 10);
            set(point, "");
            let first = failed.first().unwrap_or_else(|| panic!("{context}: appends failed"));
            assert_eq!(first.first, 11, "{context}: the failed LSNs start at 11");
            assert_clear(&first.error, 5, &context);
            // The failed LSNs are handed out again, and the log goes on.
            let before = log.durable_lsn();
            let (durable, failed) = settle(&log, &notices, 5);
            assert_eq!((durable, failed.len()), (before + 5, 0), "{context}");
            log.close().unwrap();
            let (log, _) = open(dir.path(), options.clone());
            let records = all(&log);
            assert_eq!(records.len() as u64, durable, "{context}: the recovered log holds exactly the durable records");
            assert_settled(&records, &context);
        }
    }
}

#[test]
fn short_writes_are_continued_and_the_records_survive() {
    let _serial = serial();
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let (log, notices) = open(dir.path(), options(backend));
        set("log::short_write", "return(7)");
        let (durable, failed) = settle(&log, &notices, 50);
        set("log::short_write", "");
        assert_eq!((durable, failed.len()), (50, 0), "{backend:?}");
        log.close().unwrap();
        let (log, _) = open(dir.path(), options(backend));
        assert_eq!(all(&log).len(), 50);
    }
}

// ---- after a failed batch -----------------------------------------------------------------------

#[test]
fn a_failed_batch_is_cut_off_before_its_appends_are_told_and_their_lsns_handed_out_again() {
    let _serial = serial();
    for (backend, options) in backends_and_modes() {
        let backend = format!("{backend:?} direct {}", options.direct);
        let dir = tempfile::tempdir().unwrap();
        let (log, notices) = open(dir.path(), options.clone());
        assert_eq!(settle(&log, &notices, 10).0, 10);
        // The sync fails after the write went out: the failed records' bytes are in the file.
        set("log::fdatasync", "1*return(5)");
        let gate = Gate::at("log::cut_open", 1);
        let failed: Vec<_> = (0..5).map(|i| log.append(format!("append rejected {i}").as_bytes()).unwrap()).collect();
        gate.wait_held();
        set("log::fdatasync", "");
        // A crash now finds records 11..=15 intact: no one may have heard they failed.
        assert_eq!(log.next_lsn(), 16, "{backend}: the failed LSNs are not handed out again before the cut");
        assert!(notices.try_recv().is_err(), "{backend}: no notice before the cut");
        let meanwhile = log.append(b"append made during the cut").unwrap();
        assert_eq!((meanwhile.lsn, meanwhile.epoch), (16, failed[0].epoch), "{backend}: an append during the cut comes after the failed ones");
        drop(gate);
        match notices.recv_timeout(Duration::from_secs(10)).expect("a notice") {
            Notice::Failed { first, last, error, .. } => {
                assert_eq!((first, last), (11, 16), "{backend}");
                assert_clear(&error, 5, &format!("{backend}"));
            }
            other => panic!("{backend}: {other:?}"),
        }
        for appended in failed.iter().chain([&meanwhile]) {
            assert!(log.wait_durable(*appended).is_err(), "{backend}: LSN {} failed", appended.lsn);
        }
        assert_eq!(log.next_lsn(), 11, "{backend}: handed out again once cut");
        let (durable, failures) = settle(&log, &notices, 5);
        assert_eq!((durable, failures.len()), (15, 0), "{backend}");
        log.close().unwrap();
        let (log, _) = open(dir.path(), options.clone());
        let records = all(&log);
        assert_eq!(records.len(), 15, "{backend}");
        assert_settled(&records, &format!("{backend}: no rejected record came back"));
    }
}

#[test]
fn a_failure_whose_bytes_cannot_be_cut_off_stops_the_log_until_it_is_reopened() {
    let _serial = serial();
    for point in CUT {
        let dir = tempfile::tempdir().unwrap();
        let (log, notices) = open(dir.path(), options(rio::Backend::Threads));
        assert_eq!(settle(&log, &notices, 10).0, 10);
        set("log::write", "1*return(5)");
        set(point, "return(28)");
        // One call, so the failure cannot be handled between the five.
        let records: Vec<Vec<u8>> = (0..5).map(|i| format!("append rejected {i}").into_bytes()).collect();
        let failed = log.append_batch(records.iter().map(Vec::as_slice)).unwrap();
        let notice = notices.recv_timeout(Duration::from_secs(10)).expect("a notice");
        set("log::write", "");
        set(point, "");
        match notice {
            Notice::Failed { first, last, error, .. } => {
                assert_eq!((first, last), (11, 15), "{point}");
                assert_clear(&error, 5, &format!("{point}: the appends fail with the write's error"));
            }
            other => panic!("{point}: {other:?}"),
        }
        assert!(log.wait_durable(failed).is_err());
        assert_eq!(log.next_lsn(), 16, "{point}: the failed LSNs are not handed out again");
        let refused = log.append(b"after the failure").expect_err("appends are refused");
        assert!(refused.to_string().contains("reopen it"), "{point}: {refused}");
        assert!(refused.to_string().contains("cutting it at offset") && refused.to_string().contains("No space left on device"), "{point}: says why: {refused}");
        assert_eq!(log.durable_lsn(), 10);
        log.close().unwrap();
        let (log, notices) = open(dir.path(), options(rio::Backend::Threads));
        let records = all(&log);
        assert_eq!(records.len(), 10, "{point}: the durable records, intact");
        assert_settled(&records, point);
        assert_eq!(settle(&log, &notices, 3).0, 13, "{point}: the reopened log goes on");
    }
}

// ---- truncate and read --------------------------------------------------------------------------

#[test]
fn truncate_never_drops_a_segment_whose_records_are_not_yet_durable() {
    let _serial = serial();
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let options = LogOptions { pipeline: 2, ..options(backend) };
        let (log, notices) = open(dir.path(), options.clone());
        // Most of the first 64 KiB segment (appends take about 30 bytes each).
        let (durable, _) = settle(&log, &notices, 1800);
        assert_eq!(durable, 1800);
        // One append of more than the room left: the writer takes what fits into a batch for the
        // first segment, rolls, and is held as it submits the rest to the second, before it has
        // heard the first batch complete.
        let gate = Gate::at("log::write", 2);
        let records: Vec<Vec<u8>> = (0..1000).map(|i| format!("append batch {i:04}").into_bytes()).collect();
        log.append_batch(records.iter().map(Vec::as_slice)).unwrap();
        gate.wait_held();
        assert_eq!(log.durable_lsn(), 1800, "{backend:?}: the batch for the first segment is not durable yet");
        let removed = log.truncate(u64::MAX).unwrap();
        assert_eq!((removed, log.first_lsn()), (0, 1), "{backend:?}: the first segment still takes records in flight: it stays");
        drop(gate);
        let (durable, failed) = settle(&log, &notices, 0);
        assert_eq!((durable, failed.len()), (2800, 0), "{backend:?}");
        assert_eq!(all(&log).len(), 2800, "{backend:?}: every durable record reads back");
        // Once they are durable, truncating past them drops the first segment.
        assert_eq!(log.truncate(u64::MAX).unwrap(), 1, "{backend:?}");
        let first = log.first_lsn();
        assert!(first > 1800, "{backend:?}: the second segment starts after the records settled before ({first})");
        log.close().unwrap();
        let (log, _) = open(dir.path(), options);
        let records = all(&log);
        assert_eq!(records.first().map(|r| r.0), Some(first), "{backend:?}");
        assert_eq!(records.len() as u64, 2801 - first, "{backend:?}: every durable record from the first kept one");
    }
}

#[test]
fn a_truncate_whose_io_fails_says_why_and_leaves_the_log_whole_from_its_first_segment() {
    let _serial = serial();
    // The first removal failing, a later one failing, and the directory sync failing.
    let cases = TRUNCATE.iter().map(|point| (*point, "return(5)")).chain([("log::segment_remove", "1*off->return(5)")]);
    for (point, actions) in cases {
        let context = format!("{point} {actions}");
        let dir = tempfile::tempdir().unwrap();
        let (log, notices) = open(dir.path(), options(rio::Backend::Threads));
        assert_eq!(settle(&log, &notices, 6000).0, 6000);
        assert!(segment_files(dir.path()).len() >= 3);
        set(point, actions);
        let error = log.truncate(u64::MAX).expect_err("truncate fails");
        set(point, "");
        assert_clear(&error, 5, &context);
        let first = log.first_lsn();
        let records = log.read(first, usize::MAX).unwrap();
        assert_eq!(records.first().map(|r| r.0), Some(first), "{context}");
        assert_eq!(records.len() as u64, 6001 - first, "{context}: every record from the first segment left");
        let (durable, failed) = settle(&log, &notices, 10);
        assert_eq!((durable, failed.len()), (6010, 0), "{context}: the log goes on");
        log.close().unwrap();
        let (log, _) = open(dir.path(), options(rio::Backend::Threads));
        assert_eq!(log.first_lsn(), first, "{context}: the reopened log starts where this one did");
        let records = all(&log);
        assert_eq!(records.len() as u64, 6011 - first, "{context}");
        assert!(records.iter().enumerate().all(|(i, (lsn, data))| *lsn == first + i as u64 && data.starts_with(b"append ")), "{context}");
        log.truncate(u64::MAX).unwrap_or_else(|error| panic!("{context}: truncate works again: {error}"));
    }
}

#[test]
fn a_read_whose_io_fails_says_why_and_the_next_read_works() {
    let _serial = serial();
    for point in READ {
        let dir = tempfile::tempdir().unwrap();
        let (log, notices) = open(dir.path(), options(rio::Backend::Threads));
        assert_eq!(settle(&log, &notices, 3000).0, 3000);
        set(point, "return(5)");
        let error = log.read(1500, usize::MAX).expect_err("the read fails");
        set(point, "");
        assert_clear(&error, 5, point);
        let records = all(&log);
        assert_eq!(records.len(), 3000, "{point}");
        assert_settled(&records, point);
    }
}
