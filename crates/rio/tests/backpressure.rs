//! Backpressure, on both backends: a ring never holds more ops in its engine than its completion
//! queue can take; the rest wait in order and every one completes.

mod common;

use std::io;

use common::{contents, each_backend_with, pattern, temp_file};
use rio::{Config, Ops, Ordering, Rio};

fn depth_4() -> Config {
    Config { depth: 4, ..Default::default() }
}

/// Ops in the engine now: submitted and not completed, minus those still waiting for room.
fn in_engine(ring: &Rio) -> usize {
    let stats = ring.stats();
    stats.in_flight - stats.backlog
}

#[test]
fn ring_of_depth_4_completes_100_times_its_depth_submitted_at_once() {
    each_backend_with(depth_4(), |ring, _| {
        let (_dir, file) = temp_file(b"");
        let count = 400;
        let block = 16;
        let mut completions = Vec::with_capacity(count);
        for i in 0..count {
            completions.push(ring.write_at(&file, pattern(i as u8, block), (i * block) as u64));
            assert!(in_engine(ring) <= ring.capacity(), "op {i}: more ops in the engine than its completion queue holds");
        }
        for (i, completion) in completions.into_iter().enumerate() {
            assert_eq!(completion.wait().0.expect("write"), block, "write {i}");
        }
        let stats = ring.stats();
        assert_eq!((stats.submitted, stats.completed, stats.in_flight), (400, 400, 0));
        let expected: Vec<u8> = (0..count).flat_map(|i| pattern(i as u8, block)).collect();
        assert_eq!(contents(&file), expected, "every write landed where it was aimed");
    });
}

#[test]
fn linked_pairs_far_beyond_the_ring_depth_keep_their_order() {
    each_backend_with(depth_4(), |ring, _| {
        let (_dir, file) = temp_file(b"");
        let mut pairs = Vec::new();
        for i in 0..200u64 {
            let data = pattern(i as u8, 64);
            let write = ring.ordered(Ordering::Link).write_at(&file, data.clone(), i * 64);
            let read = ring.read_at(&file, vec![0u8; 64], i * 64);
            pairs.push((data, write, read));
        }
        for (i, (data, write, read)) in pairs.into_iter().enumerate() {
            let (read, buf) = read.wait();
            assert_eq!(read.expect("read"), 64, "pair {i}");
            assert_eq!(buf, data, "pair {i}: the read ran after its write");
            write.wait().0.expect("write");
        }
    });
}

#[test]
fn link_chain_longer_than_the_ring_is_refused_and_the_ring_goes_on() {
    each_backend_with(depth_4(), |ring, _| {
        let chain: Vec<_> = (0..4).map(|_| ring.ordered(Ordering::Link).nop()).collect();
        let error = ring.nop().wait().expect_err("a fifth op in a chain of depth 4");
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        for (i, nop) in chain.into_iter().enumerate() {
            nop.wait().unwrap_or_else(|error| panic!("chain op {i}: {error}"));
        }
        ring.nop().wait().expect("the next op, after the chain was flushed");
    });
}

#[test]
fn ops_from_many_threads_on_a_small_ring_all_complete_in_place() {
    each_backend_with(depth_4(), |ring, _| {
        let (_dir, file) = temp_file(b"");
        let (threads, rounds, batch, block) = (8usize, 25usize, 10usize, 32usize);
        std::thread::scope(|scope| {
            for thread in 0..threads {
                let file = &file;
                scope.spawn(move || {
                    for round in 0..rounds {
                        // A batch in flight at once from each thread: 80 ops against room for 8.
                        let writes: Vec<_> = (0..batch)
                            .map(|i| {
                                let block_index = (thread * rounds + round) * batch + i;
                                ring.write_at(file, pattern(block_index as u8, block), (block_index * block) as u64)
                            })
                            .collect();
                        for write in writes {
                            assert_eq!(write.wait().0.expect("write"), block, "thread {thread} round {round}");
                        }
                    }
                });
            }
        });
        let blocks = threads * rounds * batch;
        let expected: Vec<u8> = (0..blocks).flat_map(|i| pattern(i as u8, block)).collect();
        assert_eq!(contents(&file), expected);
        let stats = ring.stats();
        assert_eq!((stats.submitted, stats.completed, stats.in_flight), (blocks as u64, blocks as u64, 0));
    });
}

#[test]
fn ops_waiting_on_sockets_do_not_starve_file_ops_of_threads() {
    // Many more idle recvs than the threads backend's thread limit: each one blocks a thread, but
    // lends its place in the pool, so a file read behind them still runs at once.
    common::each_backend_with(Config { max_threads: 2, depth: 64, ..Config::default() }, |ring, _| {
        let pairs: Vec<_> = (0..20).map(|_| common::tcp_pair()).collect();
        let pending: Vec<_> = pairs.iter().map(|(_, server)| ring.recv(server, vec![0u8; 16])).collect();
        let _close = common::CloseOnPanic(ring);
        ring.submit_all().unwrap();
        let (_dir, file) = common::temp_file(b"behind the sockets");
        let (read, buf) = ring.read_at(&file, vec![0u8; 18], 0).wait();
        assert_eq!(read.unwrap(), 18);
        assert_eq!(&buf, b"behind the sockets");
        for ((client, _), recv) in pairs.iter().zip(pending) {
            use std::io::Write as _;
            (&*client).write_all(b"x").unwrap();
            assert_eq!(recv.wait().0.unwrap(), 1);
        }
    });
}

#[test]
fn ops_flushed_by_a_thread_that_exits_still_complete() {
    // The kernel cancels the io_uring requests a thread submitted when that thread exits: a recv
    // armed on a socket, a read handed to an io-wq worker. Ops must not depend on which thread
    // happened to flush them.
    each_backend_with(Config::default(), |ring, _| {
        let (client, server) = common::tcp_pair();
        let (_dir, file) = temp_file(&pattern(9, 1 << 20));
        let (recv, read) = std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let recv = ring.recv(&server, vec![0u8; 16]);
                    // 1 MiB: big enough that io_uring hands it to an io-wq worker of this thread.
                    let read = ring.read_at(&file, vec![0u8; 1 << 20], 0);
                    ring.submit_all().expect("submit_all");
                    (recv, read)
                })
                .join()
                .expect("the submitting thread")
        });
        let _close = common::CloseOnPanic(ring);
        use std::io::Write as _;
        (&client).write_all(b"after the exit").unwrap();
        assert_eq!(recv.wait().0.expect("the recv armed by a thread that has exited"), 14);
        let (read, buf) = read.wait();
        assert_eq!(read.expect("the read flushed by a thread that has exited"), 1 << 20);
        assert_eq!(buf, pattern(9, 1 << 20));
    });
}
