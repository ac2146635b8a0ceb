//! Faults injected at the log's IO calls (failpoints): a failed write, sync or segment creation
//! fails the affected appends, the log goes on from its last durable record, and the recovered
//! log holds exactly the durable records. Failpoints are process-wide, so these tests live in
//! their own binary and run one at a time.

mod common;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::{all, assert_settled, backends, open, options, settle};
use rio_log::{Log, LogOptions, Notice};

static FAILPOINTS: Mutex<()> = Mutex::new(());

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
        let state = Arc::new((Mutex::new(GateState::default()), Condvar::new()));
        let shared = state.clone();
        fail::cfg_callback(name, move || {
            let (lock, changed) = &*shared;
            let mut state = lock.lock().unwrap();
            state.calls += 1;
            if state.calls != nth {
                return;
            }
            state.holding = true;
            changed.notify_all();
            while !state.released {
                state = changed.wait(state).unwrap();
            }
        })
        .unwrap();
        Gate { name, state }
    }

    /// Waits until a thread is held at the failpoint.
    fn wait_held(&self) {
        let (lock, changed) = &*self.state;
        let state = changed.wait_timeout_while(lock.lock().unwrap(), Duration::from_secs(10), |state| !state.holding).unwrap().0;
        assert!(state.holding, "nothing reached {} in time", self.name);
    }

    fn release(&self) {
        let (lock, changed) = &*self.state;
        lock.lock().unwrap().released = true;
        changed.notify_all();
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.release();
        fail::remove(self.name);
    }
}

#[test]
fn a_failed_write_or_sync_fails_the_batch_and_the_log_goes_on_from_its_last_durable_record() {
    let _serial = FAILPOINTS.lock().unwrap_or_else(|e| e.into_inner());
    for backend in backends() {
        for point in ["log::write", "log::fdatasync"] {
            let dir = tempfile::tempdir().unwrap();
            let (log, notices) = open(dir.path(), options(backend));
            let (durable, failed) = settle(&log, &notices, 10);
            assert_eq!((durable, failed.len()), (10, 0));
            fail::cfg(point, "1*return(5)").unwrap();
            let (_, failed) = settle(&log, &notices, 10);
            fail::remove(point);
            assert_eq!(failed.first().map(|f| f.0), Some(11), "{backend:?} {point}: the failed LSNs start at 11");
            // The failed LSNs are handed out again, and the log goes on.
            let before = log.durable_lsn();
            let (durable, failed) = settle(&log, &notices, 5);
            assert_eq!((durable, failed.len()), (before + 5, 0), "{backend:?} {point}");
            log.close().unwrap();
            let (log, _) = open(dir.path(), options(backend));
            let records = all(&log);
            assert_eq!(records.len() as u64, durable, "{backend:?} {point}: the recovered log holds exactly the durable records");
            assert_settled(&records, &format!("{backend:?} {point}"));
        }
    }
}

#[test]
fn short_writes_are_continued_and_the_records_survive() {
    let _serial = FAILPOINTS.lock().unwrap_or_else(|e| e.into_inner());
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let (log, notices) = open(dir.path(), options(backend));
        fail::cfg("log::short_write", "return(7)").unwrap();
        let (durable, failed) = settle(&log, &notices, 50);
        fail::remove("log::short_write");
        assert_eq!((durable, failed.len()), (50, 0), "{backend:?}");
        log.close().unwrap();
        let (log, _) = open(dir.path(), options(backend));
        assert_eq!(all(&log).len(), 50);
    }
}

#[test]
fn a_segment_that_cannot_be_created_fails_its_appends_and_the_log_recovers() {
    let _serial = FAILPOINTS.lock().unwrap_or_else(|e| e.into_inner());
    for point in ["log::create", "log::fallocate", "log::rename", "log::fsync_dir"] {
        let dir = tempfile::tempdir().unwrap();
        let (log, notices) = open(dir.path(), options(rio::Backend::Threads));
        // Fill most of the first segment (appends take about 30 bytes each), then make the
        // roll to the second fail.
        let (durable, _) = settle(&log, &notices, 1800);
        assert_eq!(durable, 1800);
        fail::cfg(point, "1*return(28)").unwrap();
        let (_, failed) = settle(&log, &notices, 1500);
        fail::remove(point);
        assert!(!failed.is_empty(), "{point}: some appends failed when the segment could not be made");
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

#[test]
fn read_errors_at_open_are_reported() {
    let _serial = FAILPOINTS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    drop(open(dir.path(), options(rio::Backend::Threads)));
    fail::cfg("log::read", "return(5)").unwrap();
    let error = Log::open(dir.path(), options(rio::Backend::Threads), Box::new(|_| {})).err();
    fail::remove("log::read");
    assert_eq!(error.expect("open fails").raw_os_error(), Some(5));
}

#[test]
fn truncate_never_drops_a_segment_whose_records_are_not_yet_durable() {
    let _serial = FAILPOINTS.lock().unwrap_or_else(|e| e.into_inner());
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
fn a_failed_batch_is_cut_off_before_its_appends_are_told_and_their_lsns_handed_out_again() {
    let _serial = FAILPOINTS.lock().unwrap_or_else(|e| e.into_inner());
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let (log, notices) = open(dir.path(), options(backend));
        assert_eq!(settle(&log, &notices, 10), (10, vec![]));
        // The sync fails after the write went out: the failed records' bytes are in the file.
        fail::cfg("log::fdatasync", "1*return(5)").unwrap();
        let gate = Gate::at("log::cut", 1);
        let failed: Vec<_> = (0..5).map(|i| log.append(format!("append rejected {i}").as_bytes()).unwrap()).collect();
        gate.wait_held();
        fail::remove("log::fdatasync");
        // A crash now finds records 11..=15 intact: no one may have heard they failed.
        assert_eq!(log.next_lsn(), 16, "{backend:?}: the failed LSNs are not handed out again before the cut");
        assert!(notices.try_recv().is_err(), "{backend:?}: no notice before the cut");
        let meanwhile = log.append(b"append made during the cut").unwrap();
        assert_eq!((meanwhile.lsn, meanwhile.epoch), (16, failed[0].epoch), "{backend:?}: an append during the cut comes after the failed ones");
        drop(gate);
        match notices.recv_timeout(Duration::from_secs(10)).expect("a notice") {
            Notice::Failed { first, last, error, .. } => {
                assert_eq!((first, last), (11, 16), "{backend:?}");
                assert_eq!(error.raw_os_error(), Some(5), "{backend:?}");
            }
            other => panic!("{backend:?}: {other:?}"),
        }
        for appended in failed.iter().chain([&meanwhile]) {
            assert!(log.wait_durable(*appended).is_err(), "{backend:?}: LSN {} failed", appended.lsn);
        }
        assert_eq!(log.next_lsn(), 11, "{backend:?}: handed out again once cut");
        assert_eq!(settle(&log, &notices, 5), (15, vec![]), "{backend:?}");
        log.close().unwrap();
        let (log, _) = open(dir.path(), options(backend));
        let records = all(&log);
        assert_eq!(records.len(), 15, "{backend:?}");
        assert_settled(&records, &format!("{backend:?}: no rejected record came back"));
    }
}

#[test]
fn a_failure_whose_bytes_cannot_be_cut_off_stops_the_log_until_it_is_reopened() {
    let _serial = FAILPOINTS.lock().unwrap_or_else(|e| e.into_inner());
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let (log, notices) = open(dir.path(), options(backend));
        assert_eq!(settle(&log, &notices, 10), (10, vec![]));
        fail::cfg("log::write", "1*return(5)").unwrap();
        fail::cfg("log::cut", "return(28)").unwrap();
        // One call, so the failure cannot be handled between the five.
        let records: Vec<Vec<u8>> = (0..5).map(|i| format!("append rejected {i}").into_bytes()).collect();
        let failed = log.append_batch(records.iter().map(Vec::as_slice)).unwrap();
        match notices.recv_timeout(Duration::from_secs(10)).expect("a notice") {
            Notice::Failed { first, last, error, .. } => {
                assert_eq!((first, last), (11, 15), "{backend:?}");
                assert_eq!(error.raw_os_error(), Some(5), "{backend:?}: the appends fail with the write's error");
            }
            other => panic!("{backend:?}: {other:?}"),
        }
        fail::remove("log::write");
        fail::remove("log::cut");
        assert!(log.wait_durable(failed).is_err());
        assert_eq!(log.next_lsn(), 16, "{backend:?}: the failed LSNs are not handed out again");
        let refused = log.append(b"after the failure").expect_err("appends are refused");
        assert!(refused.to_string().contains("reopen it"), "{backend:?}: {refused}");
        assert!(refused.to_string().contains("No space left on device"), "{backend:?}: says why: {refused}");
        assert_eq!(log.durable_lsn(), 10);
        log.close().unwrap();
        let (log, notices) = open(dir.path(), options(backend));
        let records = all(&log);
        assert_eq!(records.len(), 10, "{backend:?}: the durable records, intact");
        assert_settled(&records, &format!("{backend:?}"));
        assert_eq!(settle(&log, &notices, 3), (13, vec![]), "{backend:?}: the reopened log goes on");
    }
}
