//! Link chains and drains, on both backends: a linked read sees the write before it; a failed op
//! in a `Link` chain cancels the rest while a `HardLink` chain goes on; a `Drain` op waits for
//! everything submitted before it and holds back everything after it.

mod common;

use std::io;
use std::time::Duration;

use common::{contents, each_backend, pattern, temp_file};
use rio::{Ops, Ordering};

fn assert_cancelled<T: std::fmt::Debug>(result: io::Result<T>, what: &str) {
    let error = result.expect_err(&format!("{what} was cancelled"));
    assert_eq!(error.raw_os_error(), Some(libc::ECANCELED), "{what}: {error}");
}

#[test]
fn linked_write_then_read_sees_the_data_every_time() {
    each_backend(|ring, _| {
        let (_dir, file) = temp_file(b"");
        for round in 0..500u32 {
            let data = pattern(round as u8, 512);
            // Every round rewrites the same block: only the ordering makes the read see this round's bytes.
            let write = ring.ordered(Ordering::Link).write_at(&file, data.clone(), 0);
            let read = ring.read_at(&file, vec![0u8; 512], 0);
            let (read, buf) = read.wait();
            assert_eq!(read.expect("read"), 512, "round {round}");
            assert_eq!(buf, data, "round {round}: the linked read ran after the write");
            assert_eq!(write.wait().0.expect("write"), 512, "round {round}");
        }
    });
}

#[test]
fn failed_link_cancels_the_rest_of_the_chain() {
    each_backend(|ring, _| {
        let (dir, file) = temp_file(b"original");
        let read_only = std::fs::File::open(dir.path().join("data")).expect("open read-only");
        let failing = ring.ordered(Ordering::Link).write_at(&read_only, b"XXXX".to_vec(), 0);
        let middle = ring.ordered(Ordering::Link).nop();
        let last = ring.write_at(&file, b"changed!".to_vec(), 0);
        let after = ring.write_at(&file, b"new".to_vec(), 100);

        assert_eq!(failing.wait().0.expect_err("writing a read-only fd").raw_os_error(), Some(libc::EBADF));
        assert_cancelled(middle.wait(), "the linked nop");
        assert_cancelled(last.wait().0, "the chain's last write");
        after.wait().0.expect("the op after the chain is not part of it");
        assert_eq!(&contents(&file)[..8], b"original", "the cancelled write never ran");
    });
}

#[test]
fn short_read_breaks_a_link_chain_like_a_failure() {
    each_backend(|ring, _| {
        let (_dir, file) = temp_file(b"short");
        let short = ring.ordered(Ordering::Link).read_at(&file, vec![0u8; 64], 0);
        let next = ring.write_at(&file, b"never".to_vec(), 0);
        assert_eq!(short.wait().0.expect("a short read succeeds"), 5);
        assert_cancelled(next.wait().0, "the write linked after a short read");
        assert_eq!(contents(&file), b"short");
    });
}

#[test]
fn hard_link_runs_the_rest_of_the_chain_after_a_failure() {
    each_backend(|ring, _| {
        let (dir, file) = temp_file(b"original");
        let read_only = std::fs::File::open(dir.path().join("data")).expect("open read-only");
        let failing = ring.ordered(Ordering::HardLink).write_at(&read_only, b"XXXX".to_vec(), 0);
        let middle = ring.ordered(Ordering::HardLink).nop();
        let last = ring.write_at(&file, b"changed!".to_vec(), 0);

        assert_eq!(failing.wait().0.expect_err("writing a read-only fd").raw_os_error(), Some(libc::EBADF));
        middle.wait().expect("the nop after a failed hard link runs");
        assert_eq!(last.wait().0.expect("the last write runs"), 8);
        assert_eq!(contents(&file), b"changed!");
    });
}

#[test]
fn drain_waits_for_earlier_ops_and_holds_back_later_ones() {
    each_backend(|ring, _| {
        let earlier = ring.timeout(Duration::from_millis(100));
        let drain = ring.ordered(Ordering::Drain).nop();
        let later = ring.nop();
        later.wait().expect("the op after the drain");
        assert!(drain.is_done(), "the op after the drain ran only once the drain had completed");
        assert!(earlier.is_done(), "the drain ran only once the timer before it had fired");
        drain.wait().expect("the drain op");
        earlier.wait().expect("the timer");
    });
}
