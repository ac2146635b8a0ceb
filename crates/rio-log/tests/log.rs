//! The log's behaviour on both backends: durability notices, reads, reopen and recovery from
//! torn and corrupt records, segments, truncation, the single-writer lock, and faults injected
//! at every IO call (failpoints; the tests that set them run one at a time under a lock).

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::Duration;

use rio_log::{Log, LogOptions, Notice};

/// Failpoints are process-wide: tests that configure them take this first.
static FAILPOINTS: Mutex<()> = Mutex::new(());

fn backends() -> Vec<rio::Backend> {
    vec![rio::Backend::IoUring, rio::Backend::Threads]
}

fn options(backend: rio::Backend) -> LogOptions {
    LogOptions { segment_bytes: 64 << 10, backend, ..LogOptions::default() }
}

/// Opens a log whose notices go to the returned channel.
fn open(dir: &Path, options: LogOptions) -> (Log, mpsc::Receiver<Notice>) {
    let (sender, notices) = mpsc::channel();
    let sender = Mutex::new(sender);
    let log = Log::open(dir, options, Box::new(move |notice| drop(sender.lock().unwrap().send(notice)))).expect("open the log");
    (log, notices)
}

fn record(i: u64) -> Vec<u8> {
    format!("record {i} {}", "x".repeat((i % 97) as usize)).into_bytes()
}

fn all(log: &Log) -> Vec<(u64, Vec<u8>)> {
    log.read(1, usize::MAX).expect("read")
}

#[test]
fn appended_records_become_durable_in_order_and_read_back_after_reopen() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let (log, notices) = open(dir.path(), options(backend));
        let lsns: Vec<u64> = (1..=500).map(|i| log.append(&record(i)).unwrap()).collect();
        assert_eq!(lsns, (1..=500).collect::<Vec<_>>(), "{backend:?}: consecutive LSNs from 1");
        log.wait_durable(500).unwrap();
        let mut last = 0;
        while let Ok(Notice::Durable(lsn)) = notices.recv_timeout(Duration::from_millis(100)) {
            assert!(lsn > last, "durable LSNs only grow");
            last = lsn;
        }
        assert_eq!(last, 500);
        log.close().unwrap();
        let (log, _) = open(dir.path(), options(backend));
        let records = all(&log);
        assert_eq!(records.len(), 500, "{backend:?}");
        for (lsn, data) in records {
            assert_eq!(data, record(lsn));
        }
        assert_eq!(log.append(b"after reopen").unwrap(), 501);
        log.wait_durable(501).unwrap();
    }
}

#[test]
fn direct_mode_pads_batches_to_blocks_and_reads_back() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let direct = LogOptions { direct: true, ..options(backend) };
        let (log, _) = open(dir.path(), direct.clone());
        for round in 0..20u64 {
            let first = log.append_batch((0..7).map(|_| b"direct record".as_slice())).unwrap();
            log.wait_durable(first + 6).unwrap();
            assert_eq!(first, round * 7 + 1);
        }
        log.close().unwrap();
        let (log, _) = open(dir.path(), direct);
        assert_eq!(all(&log).len(), 140, "{backend:?}: records after padding are found");
    }
}

#[test]
fn segments_roll_and_truncate_drops_whole_old_segments() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = open(dir.path(), options(backend));
        for i in 1..=3000 {
            log.append(&record(i)).unwrap();
        }
        log.wait_durable(3000).unwrap();
        let segments = std::fs::read_dir(dir.path()).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "log")).count();
        assert!(segments > 3, "{backend:?}: 3000 records fill several 64 KiB segments ({segments})");
        let removed = log.truncate(2000).unwrap();
        assert!(removed > 0);
        let first = log.first_lsn();
        assert!(first > 1 && first <= 2000, "the first kept segment starts at or before 2000 ({first})");
        let records = log.read(first, usize::MAX).unwrap();
        assert_eq!(records.first().unwrap().0, first);
        assert_eq!(records.last().unwrap().0, 3000);
        log.close().unwrap();
        let (log, _) = open(dir.path(), options(backend));
        assert_eq!(log.first_lsn(), first, "truncation survives reopen");
        assert_eq!(log.next_lsn(), 3001);
    }
}

fn segment_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|x| x == "log")).collect();
    files.sort();
    files
}

#[test]
fn recovery_stops_at_a_torn_tail_and_never_returns_it() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), options(rio::Backend::Threads));
    for i in 1..=100 {
        log.append(&record(i)).unwrap();
    }
    log.wait_durable(100).unwrap();
    let end_of_100 = std::fs::metadata(segment_files(dir.path())[0].clone()).unwrap();
    drop(end_of_100);
    log.close().unwrap();
    // A torn write after record 100: the frame of a record 101 whose data never made it.
    let path = segment_files(dir.path())[0].clone();
    let bytes = std::fs::read(&path).unwrap();
    let end = bytes.iter().rposition(|b| *b != 0).unwrap() + 1;
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.seek(SeekFrom::Start(end as u64)).unwrap();
    file.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 101, 0, 0, 0, 0, 0, 0, 0, b'p', b'a', b'r']).unwrap();
    drop(file);
    let (log, _) = open(dir.path(), options(rio::Backend::Threads));
    assert_eq!(all(&log).len(), 100);
    assert_eq!(log.append(b"the real 101").unwrap(), 101);
    log.wait_durable(101).unwrap();
    log.close().unwrap();
    let (log, _) = open(dir.path(), options(rio::Backend::Threads));
    assert_eq!(all(&log).last().unwrap().1, b"the real 101");
}

#[test]
fn a_corrupt_record_cuts_the_log_there_and_nothing_after_it_is_returned() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), options(rio::Backend::Threads));
    for i in 1..=2000 {
        log.append(&record(i)).unwrap();
    }
    log.wait_durable(2000).unwrap();
    log.close().unwrap();
    // Flip a byte in the middle of the second segment's data.
    let second = segment_files(dir.path())[1].clone();
    let mut bytes = std::fs::read(&second).unwrap();
    bytes[4096 + 5000] ^= 0x40;
    std::fs::write(&second, &bytes).unwrap();
    let (log, _) = open(dir.path(), options(rio::Backend::Threads));
    let records = all(&log);
    let last = records.last().unwrap().0;
    assert!(last < 2000, "the records after the corrupt one are gone ({last})");
    for (i, (lsn, data)) in records.iter().enumerate() {
        assert_eq!(*lsn, i as u64 + 1, "no gaps");
        assert_eq!(data, &record(*lsn), "every record returned is intact");
    }
    assert_eq!(segment_files(dir.path()).len(), 2, "later segments are removed");
    assert_eq!(log.next_lsn(), last + 1);
}

#[test]
fn a_second_writer_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_log, _) = open(dir.path(), options(rio::Backend::Threads));
    let error = Log::open(dir.path(), options(rio::Backend::Threads), Box::new(|_| {})).err().expect("a second open fails");
    assert!(error.to_string().contains("another writer"), "{error}");
}

#[test]
fn invalid_options_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for bad in [LogOptions { segment_bytes: 1000, ..LogOptions::default() }, LogOptions { pipeline: 0, ..LogOptions::default() }] {
        let error = Log::open(dir.path(), bad, Box::new(|_| {})).err().expect("refused");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidInput);
    }
}

/// Appends `count` records, then returns the notices until all are settled.
fn settle(log: &Log, notices: &mpsc::Receiver<Notice>, count: u64) -> (u64, Vec<(u64, u64)>) {
    let first = log.next_lsn();
    for i in 0..count {
        log.append(&record(first + i)).unwrap();
    }
    let last = first + count - 1;
    let mut durable = 0;
    let mut failed = Vec::new();
    while durable < last && failed.last().is_none_or(|(_, failed_last): &(u64, u64)| *failed_last < last) {
        match notices.recv_timeout(Duration::from_secs(10)).expect("a notice") {
            Notice::Durable(lsn) => durable = lsn,
            Notice::Failed { first, last, .. } => failed.push((first, last)),
        }
    }
    (durable, failed)
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
            assert_eq!(log.next_lsn(), 11);
            let (durable, failed) = settle(&log, &notices, 5);
            assert_eq!((durable, failed.len()), (15, 0), "{backend:?} {point}");
            log.close().unwrap();
            let (log, _) = open(dir.path(), options(backend));
            let records = all(&log);
            assert_eq!(records.len(), 15, "{backend:?} {point}: the recovered log has no failed record");
            for (lsn, data) in records {
                assert_eq!(data, record(lsn));
            }
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
        // Fill most of the first segment, then make the roll fail.
        let (durable, _) = settle(&log, &notices, 500);
        assert_eq!(durable, 500);
        fail::cfg(point, "1*return(28)").unwrap();
        let (_, failed) = settle(&log, &notices, 1000);
        fail::remove(point);
        assert!(!failed.is_empty(), "{point}: some appends failed when the segment could not be made");
        let (_, failed_again) = settle(&log, &notices, 10);
        assert!(failed_again.is_empty(), "{point}: the log goes on once the fault is gone");
        let durable = log.durable_lsn();
        log.close().unwrap();
        let (log, _) = open(dir.path(), options(rio::Backend::Threads));
        let records = all(&log);
        assert_eq!(records.len() as u64, durable, "{point}");
        for (lsn, data) in records {
            assert_eq!(data, record(lsn));
        }
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
