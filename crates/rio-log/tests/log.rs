//! The log's behaviour on both backends: durability notices, reads, reopen and recovery from
//! torn and corrupt records, segments, truncation and the single-writer lock.

mod common;

use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use common::{all, backends, open, options, record, segment_files};
use rio_log::{Log, LogOptions, Notice};

#[test]
fn appended_records_become_durable_in_order_and_read_back_after_reopen() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let (log, notices) = open(dir.path(), options(backend));
        let appended: Vec<_> = (1..=500).map(|i| log.append(&record(i)).unwrap()).collect();
        assert_eq!(appended.iter().map(|a| a.lsn).collect::<Vec<_>>(), (1..=500).collect::<Vec<_>>(), "{backend:?}: consecutive LSNs from 1");
        log.wait_durable(appended[499]).unwrap();
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
        let appended = log.append(b"after reopen").unwrap();
        assert_eq!(appended.lsn, 501);
        log.wait_durable(appended).unwrap();
    }
}

#[test]
fn direct_mode_packs_batches_back_to_back_and_reads_back() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let direct = LogOptions { direct: true, ..options(backend) };
        let (log, _) = open(dir.path(), direct.clone());
        for round in 0..20u64 {
            let records: Vec<_> = (0..7).map(|i| record(round * 7 + 1 + i)).collect();
            let first = log.append_batch(records.iter().map(Vec::as_slice)).unwrap();
            log.wait_durable(rio_log::Appended { lsn: first.lsn + 6, ..first }).unwrap();
            assert_eq!(first.lsn, round * 7 + 1);
        }
        log.close().unwrap();
        // 140 records of about 75 bytes framed, one batch of 7 at a time: about 10 KiB back to
        // back from the header on, where 20 batches padded to a block each would take 80 KiB.
        let records_bytes: usize = (1..=140).map(|i| 16 + record(i).len()).sum();
        let bytes = std::fs::read(&segment_files(dir.path())[0]).unwrap();
        assert!(bytes[4096 + records_bytes..].iter().all(|&b| b == 0), "{backend:?}: nothing past the records");
        let (log, _) = open(dir.path(), direct.clone());
        let records = all(&log);
        assert_eq!(records.len(), 140, "{backend:?}");
        for (lsn, data) in &records {
            assert_eq!(data, &record(*lsn), "{backend:?}: record {lsn} intact after its block was written again");
        }
        // Reopened, the log starts at the next block boundary and goes on from there.
        let appended = log.append(b"after reopen").unwrap();
        log.wait_durable(appended).unwrap();
        log.close().unwrap();
        let (log, _) = open(dir.path(), direct);
        assert_eq!(log.read(141, usize::MAX).unwrap(), vec![(141, b"after reopen".to_vec())], "{backend:?}");
    }
}

#[test]
fn direct_is_the_default_where_the_file_system_takes_it() {
    let here = tempfile::tempdir().unwrap();
    let takes_direct = std::fs::OpenOptions::new().write(true).create(true).custom_flags(libc::O_DIRECT).open(here.path().join("probe")).is_ok();
    let defaults = LogOptions { segment_bytes: 64 << 10, ..LogOptions::default() };
    assert!(defaults.direct && defaults.direct_fallback, "direct, with the fallback, by default");
    let (log, _) = open(&here.path().join("log"), defaults);
    assert_eq!(log.direct(), takes_direct, "direct exactly where the file system takes O_DIRECT (the fallback's test is in faults.rs)");
    let (log, _) = open(&here.path().join("buffered"), options(rio::Backend::Threads));
    assert!(!log.direct(), "direct: false writes buffered");
}

#[test]
fn direct_mode_with_batches_in_flight_together_keeps_every_record() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let direct = LogOptions { direct: true, pipeline: 4, ..options(backend) };
        let (log, _) = open(dir.path(), direct.clone());
        let log = std::sync::Arc::new(log);
        // Appenders on several threads, each waiting on its record: batches overlap in flight,
        // and one that starts while the one before may still be writing their shared block
        // starts at the next block instead.
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let log = log.clone();
                std::thread::spawn(move || {
                    for _ in 0..150 {
                        let appended = log.append(b"concurrent direct record").unwrap();
                        log.wait_durable(appended).unwrap();
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        log.close().unwrap();
        let (log, _) = open(dir.path(), direct);
        let records = all(&log);
        assert_eq!(records.len(), 1200, "{backend:?}");
        assert!(records.iter().enumerate().all(|(i, (lsn, data))| *lsn == i as u64 + 1 && data == b"concurrent direct record"), "{backend:?}");
    }
}

#[test]
fn segments_roll_and_truncate_drops_whole_old_segments() {
    for backend in backends() {
        let dir = tempfile::tempdir().unwrap();
        let (log, _) = open(dir.path(), options(backend));
        let mut last = None;
        for i in 1..=3000 {
            last = Some(log.append(&record(i)).unwrap());
        }
        log.wait_durable(last.unwrap()).unwrap();
        let segments = std::fs::read_dir(dir.path()).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "log")).count();
        assert!(segments >= 3, "{backend:?}: 3000 records fill several 64 KiB segments ({segments})");
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

#[test]
fn recovery_stops_at_a_torn_tail_and_never_returns_it() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), options(rio::Backend::Threads));
    let mut last = None;
    for i in 1..=100 {
        last = Some(log.append(&record(i)).unwrap());
    }
    log.wait_durable(last.unwrap()).unwrap();
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
    let appended = log.append(b"the real 101").unwrap();
    assert_eq!(appended.lsn, 101);
    log.wait_durable(appended).unwrap();
    log.close().unwrap();
    let (log, _) = open(dir.path(), options(rio::Backend::Threads));
    assert_eq!(all(&log).last().unwrap().1, b"the real 101");
}

#[test]
fn a_corrupt_record_cuts_the_log_there_and_nothing_after_it_is_returned() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), options(rio::Backend::Threads));
    let mut last = None;
    for i in 1..=2000 {
        last = Some(log.append(&record(i)).unwrap());
    }
    log.wait_durable(last.unwrap()).unwrap();
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


/// Bytes this thread has read with read(2)-like calls (`rchar` of /proc/thread-self/io): reads
/// of a log happen on the thread that calls `Log::read`.
fn bytes_read_by_this_thread() -> u64 {
    let io = std::fs::read_to_string("/proc/thread-self/io").unwrap();
    let rchar = io.lines().find_map(|line| line.strip_prefix("rchar: ")).expect("rchar in /proc/thread-self/io");
    rchar.trim().parse().unwrap()
}

#[test]
fn a_pass_over_a_segment_in_small_reads_reads_each_byte_about_once_and_every_record_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let options = LogOptions { segment_bytes: 8 << 20, ..options(rio::Backend::Threads) };
    let (log, _) = open(dir.path(), options.clone());
    // About 7 MiB in one segment, in records of many sizes (some larger than a read asks for).
    let data = |i: u64| -> Vec<u8> {
        let len = if i % 500 == 0 { 300_000 } else { (i * 7919 % 1500) as usize };
        let mut data = record(i);
        data.resize(data.len().max(len), (i % 251) as u8);
        data
    };
    let mut total_bytes = 0u64;
    let mut last = None;
    let mut count = 0;
    while total_bytes < 7 << 20 {
        count += 1;
        let record = data(count);
        total_bytes += record.len() as u64 + 16;
        last = Some(log.append(&record).unwrap());
    }
    log.wait_durable(last.unwrap()).unwrap();
    assert_eq!(segment_files(dir.path()).len(), 1, "one segment");
    let pass = |log: &Log, from: u64, context: &str| {
        let before = bytes_read_by_this_thread();
        let mut next = from;
        loop {
            let records = log.read(next, 128 << 10).unwrap();
            let Some(&(last, _)) = records.last() else { break };
            for (lsn, record) in records {
                assert_eq!(lsn, next, "{context}: LSNs in order, without a gap");
                assert!(record == data(lsn), "{context}: LSN {lsn} reads back as appended");
                next += 1;
            }
            assert_eq!(next, last + 1);
        }
        assert_eq!(next, count + 1, "{context}: every record from {from}");
        let read = bytes_read_by_this_thread() - before;
        assert!(read < 3 * total_bytes, "{context}: a pass over {total_bytes} bytes of records read {read} bytes");
    };
    pass(&log, 1, "as written");
    pass(&log, count / 3, "as written, from the middle");
    log.close().unwrap();
    let (log, _) = open(dir.path(), options);
    pass(&log, 1, "recovered");
    pass(&log, count - count / 5, "recovered, from the middle");
}

#[test]
fn a_durable_record_that_changes_under_an_open_log_is_a_read_error_never_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let (log, _) = open(dir.path(), options(rio::Backend::Threads));
    let mut last = None;
    for i in 1..=3000 {
        last = Some(log.append(&record(i)).unwrap());
    }
    log.wait_durable(last.unwrap()).unwrap();
    assert!(segment_files(dir.path()).len() >= 2);
    // Flip a byte of record 100's data, in the first segment, behind the log's back.
    let first = segment_files(dir.path())[0].clone();
    let mut bytes = std::fs::read(&first).unwrap();
    let at = bytes.windows(11).position(|w| w == b"record 100 ").unwrap();
    bytes[at + 3] ^= 0x20;
    std::fs::write(&first, &bytes).unwrap();
    let records = log.read(1, 1000).unwrap();
    assert!(records.len() < 99 && records.iter().enumerate().all(|(i, (lsn, data))| *lsn == i as u64 + 1 && *data == record(*lsn)), "a short read before it is intact");
    for from in [1, 99, 100] {
        let error = log.read(from, usize::MAX).expect_err("the read reaches the changed record");
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData, "from {from}: {error}");
        assert!(error.to_string().contains("record 100 at offset"), "from {from}: {error}");
    }
    // A read from the next segment does not pass it.
    let second: u64 = segment_files(dir.path())[1].file_stem().unwrap().to_str().unwrap().parse().unwrap();
    let after = log.read(second, usize::MAX).unwrap();
    assert_eq!(after.first().map(|r| r.0), Some(second));
    assert_eq!(after.len() as u64, 3001 - second);
}
