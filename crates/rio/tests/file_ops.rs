//! File reads and writes through every kind of buffer the ring takes, on both backends: what is
//! written is what is read back, and the buffer comes back with the result.

mod common;

use std::io;
use std::os::fd::OwnedFd;

use common::{contents, each_backend, pattern, temp_file};
use rio::{AlignedBuf, Ops};

#[test]
fn nop_completes_with_ok() {
    each_backend(|ring, _| {
        ring.nop().wait().expect("a nop succeeds");
    });
}

#[test]
fn owned_vec_written_is_read_back_identical() {
    each_backend(|ring, _| {
        let (_dir, file) = temp_file(b"");
        let data = pattern(1, 10_000);
        let (written, given_back) = ring.write_at(&file, data.clone(), 100).wait();
        assert_eq!(written.expect("write"), data.len());
        assert_eq!(given_back, data, "the write gives its buffer back unchanged");

        let (read, buf) = ring.read_at(&file, vec![0u8; data.len()], 100).wait();
        assert_eq!(read.expect("read"), data.len());
        assert_eq!(buf, data);
        assert_eq!(&contents(&file)[100..], &data[..], "the bytes are in the file at the offset given");

        let (read, _) = ring.read_at(&file, vec![0u8; 16], 100 + data.len() as u64).wait();
        assert_eq!(read.expect("read at end of file"), 0, "a read at the end of the file gives 0");
    });
}

#[test]
fn aligned_buf_written_is_read_back_identical() {
    each_backend(|ring, _| {
        let (_dir, file) = temp_file(b"");
        let mut out = AlignedBuf::new(4096, 8192).expect("aligned buffer");
        out.copy_from_slice(&pattern(2, 8192));
        assert_eq!(out.as_ptr() as usize % 4096, 0, "the buffer is aligned");
        let (written, out) = ring.write_at(&file, out, 4096).wait();
        assert_eq!(written.expect("write"), 8192);

        let (read, back) = ring.read_at(&file, AlignedBuf::new(4096, 8192).expect("aligned buffer"), 4096).wait();
        assert_eq!(read.expect("read"), 8192);
        assert_eq!(&back[..], &out[..]);
        assert_eq!(back.alignment(), 4096);
    });
}

#[test]
fn aligned_buf_refuses_an_alignment_that_does_not_divide_its_length() {
    let error = AlignedBuf::new(4096, 1000).err().expect("1000 is not a multiple of 4096");
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    let error = AlignedBuf::new(3000, 6000).err().expect("3000 is not a power of two");
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn fixed_buffers_written_are_read_back_identical() {
    each_backend(|ring, _| {
        let (_dir, file) = temp_file(b"");
        let pool = ring.register_buffers(2, 4096).expect("register_buffers");
        assert_eq!(pool.buf_len(), 4096);
        let mut out = pool.try_get().expect("a free buffer");
        out.copy_from_slice(&pattern(3, 4096));
        let (written, out) = ring.write_at(&file, out, 0).wait();
        assert_eq!(written.expect("write_fixed"), 4096);

        let mut into = pool.try_get().expect("the second buffer");
        into.set_len(1000);
        let (read, into) = ring.read_at(&file, into, 10).wait();
        assert_eq!(read.expect("read_fixed"), 1000, "a fixed buffer moves only the length set");
        assert_eq!(&into[..], &out[10..1010]);
        assert_eq!(contents(&file), &out[..]);

        assert!(pool.try_get().is_none(), "both buffers are checked out");
        drop(into);
        assert!(pool.try_get().is_some(), "a dropped FixedBuf returns to its pool");
    });
}

#[test]
fn registering_buffers_twice_is_refused() {
    each_backend(|ring, _| {
        let _pool = ring.register_buffers(1, 4096).expect("first registration");
        let error = ring.register_buffers(1, 4096).err().expect("a second registration fails");
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
        let error = common::start(rio::Config { backend: ring.backend(), ..Default::default() })
            .register_buffers(1, 1000)
            .err()
            .expect("1000 is not a multiple of 4096");
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
    });
}

#[test]
fn registered_file_written_is_read_back_identical() {
    each_backend(|ring, _| {
        let (dir, file) = temp_file(b"");
        let fixed = ring.register_file(OwnedFd::from(file)).expect("register_file");
        let data = pattern(4, 3000);
        let (written, _) = ring.write_at(&fixed, data.clone(), 0).wait();
        assert_eq!(written.expect("write to the registered file"), data.len());
        let (read, buf) = ring.read_at(&fixed, vec![0u8; data.len()], 0).wait();
        assert_eq!(read.expect("read from the registered file"), data.len());
        assert_eq!(buf, data);
        drop(fixed);
        assert_eq!(std::fs::read(dir.path().join("data")).expect("reading the file with std"), data);
    });
}

#[test]
fn registered_file_used_on_another_ring_still_reaches_that_file() {
    each_backend(|ring, backend| {
        let other = common::start(rio::Config { backend, ..Default::default() });
        let (dir_x, x) = temp_file(b"");
        let (dir_y, y) = temp_file(b"");
        // Both first registrations: on io_uring both files sit in slot 0 of their ring's table.
        let fixed_x = ring.register_file(OwnedFd::from(x)).expect("register x");
        let fixed_y = other.register_file(OwnedFd::from(y)).expect("register y");
        assert_eq!(fixed_x.index(), fixed_y.index(), "the slots collide, which is the point");

        let (written, _) = other.write_at(&fixed_x, b"meant for x".to_vec(), 0).wait();
        assert_eq!(written.expect("write to x through the other ring"), 11);
        drop((fixed_x, fixed_y));
        assert_eq!(std::fs::read(dir_x.path().join("data")).expect("read x"), b"meant for x");
        assert_eq!(std::fs::read(dir_y.path().join("data")).expect("read y"), b"", "the other ring's file in the same slot is untouched");
    });
}

#[test]
fn borrowed_slices_in_a_scope_are_read_back_identical() {
    each_backend(|ring, _| {
        let (_dir, file) = temp_file(b"");
        let out = pattern(5, 5000);
        let mut first = vec![0u8; 2000];
        let mut second = [0u8; 3000];
        let (read_first, read_second) = ring.scope(|s| {
            let (written, _) = s.write_at(&file, &out[..], 0).wait();
            assert_eq!(written.expect("write from a borrowed slice"), out.len());
            // Two reads in flight at once, into two different borrowed buffers.
            let a = s.read_at(&file, &mut first[..], 0);
            let b = s.read_at(&file, &mut second[..], 2000);
            (a.wait().0.expect("first read"), b.wait().0.expect("second read"))
        });
        assert_eq!((read_first, read_second), (2000, 3000));
        assert_eq!(&first[..], &out[..2000]);
        assert_eq!(&second[..], &out[2000..]);
    });
}

#[test]
fn writev_then_readv_moves_the_buffers_in_order() {
    each_backend(|ring, _| {
        let (_dir, file) = temp_file(b"");
        let parts = vec![pattern(6, 100), pattern(7, 1), pattern(8, 4000)];
        let joined: Vec<u8> = parts.concat();
        let (written, given_back) = ring.writev_at(&file, parts.clone(), 7).wait();
        assert_eq!(written.expect("writev"), joined.len());
        assert_eq!(given_back, parts);
        assert_eq!(&contents(&file)[7..], &joined[..]);

        // Split differently on the way back: the bytes fill the buffers in order.
        let (read, bufs) = ring.readv_at(&file, vec![vec![0u8; 3000], vec![0u8; 1101]], 7).wait();
        assert_eq!(read.expect("readv"), joined.len());
        assert_eq!(bufs.concat(), joined);
    });
}

#[test]
fn fsync_fdatasync_and_sync_file_range_succeed_on_a_file_and_fail_on_a_pipe() {
    each_backend(|ring, _| {
        let (_dir, file) = temp_file(b"");
        let data = pattern(9, 8192);
        ring.write_at(&file, data.clone(), 0).wait().0.expect("write");
        ring.fsync(&file).wait().expect("fsync");
        // With IORING_FSYNC_DATASYNC in the SQE flags (rio 0.9's bug) the kernel would read it as
        // IOSQE_FIXED_FILE and fail with EBADF on a ring without registered files.
        ring.fdatasync(&file).wait().expect("fdatasync");
        let flags = libc::SYNC_FILE_RANGE_WAIT_BEFORE | libc::SYNC_FILE_RANGE_WRITE | libc::SYNC_FILE_RANGE_WAIT_AFTER;
        ring.sync_file_range(&file, 0, 0, flags).wait().expect("sync_file_range");
        assert_eq!(contents(&file), data);

        // The ops really reach the syscall: a pipe has no fsync and no range to sync.
        let (reader, _writer) = std::io::pipe().expect("a pipe");
        let errno = |result: io::Result<()>| result.expect_err("a pipe refuses it").raw_os_error();
        assert_eq!(errno(ring.fsync(&reader).wait()), Some(libc::EINVAL));
        assert_eq!(errno(ring.fdatasync(&reader).wait()), Some(libc::EINVAL));
        assert_eq!(errno(ring.sync_file_range(&reader, 0, 0, flags).wait()), Some(libc::ESPIPE));
    });
}

#[test]
fn fallocate_grows_the_file_or_only_reserves_with_keep_size() {
    each_backend(|ring, _| {
        let (_dir, file) = temp_file(b"abc");
        ring.fallocate(&file, 0, 0, 1 << 20).wait().expect("fallocate");
        assert_eq!(file.metadata().expect("metadata").len(), 1 << 20, "mode 0 grows the file to offset + len");
        assert_eq!(&contents(&file)[..3], b"abc", "allocating keeps what was there");

        ring.fallocate(&file, libc::FALLOC_FL_KEEP_SIZE, 1 << 20, 1 << 20).wait().expect("fallocate KEEP_SIZE");
        let stat = ring.statx_fd(&file, libc::STATX_SIZE | libc::STATX_BLOCKS).wait().expect("statx_fd");
        assert_eq!(stat.stx_size, 1 << 20, "KEEP_SIZE leaves the size alone");
        assert!(stat.stx_blocks * 512 >= 2 << 20, "KEEP_SIZE still allocates: {} blocks", stat.stx_blocks);
    });
}
