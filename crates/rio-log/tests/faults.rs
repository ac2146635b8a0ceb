//! Faults injected at the log's IO calls (failpoints): a failed write, sync or segment creation
//! fails the affected appends, the log goes on from its last durable record, and the recovered
//! log holds exactly the durable records. Failpoints are process-wide, so these tests live in
//! their own binary and run one at a time.

mod common;

use std::sync::Mutex;

use common::{all, assert_settled, backends, open, options, settle};
use rio_log::Log;

static FAILPOINTS: Mutex<()> = Mutex::new(());

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
