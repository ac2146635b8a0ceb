//! Path and descriptor ops (openat, close, statx, mkdirat, renameat, unlinkat) in a temp dir, on
//! both backends: each changes the file system as its syscall would, and errors keep their errno.

mod common;

use std::io::{self, Read as _};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;

use common::{contents, each_backend, temp_file};
use rio::Ops;

#[test]
fn openat_creates_a_file_the_ring_writes_and_statx_sees() {
    each_backend(|ring, _| {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("created");
        let fd = ring.openat(&path, libc::O_CREAT | libc::O_EXCL | libc::O_RDWR, 0o600).wait().expect("openat O_CREAT");
        let (written, _) = ring.write_at(&fd, b"twelve bytes".to_vec(), 0).wait();
        assert_eq!(written.expect("write to the new fd"), 12);

        let by_fd = ring.statx_fd(&fd, libc::STATX_SIZE).wait().expect("statx_fd");
        assert_eq!(by_fd.stx_size, 12);
        ring.close(fd).wait().expect("close");

        let by_path = ring.statx(&path, 0, libc::STATX_SIZE | libc::STATX_MODE | libc::STATX_TYPE).wait().expect("statx");
        assert_eq!(by_path.stx_size, 12);
        assert_eq!(u32::from(by_path.stx_mode) & libc::S_IFMT, libc::S_IFREG, "a regular file");
        assert_eq!(u32::from(by_path.stx_mode) & 0o777, 0o600, "created with the mode given");
        assert_eq!(std::fs::read(&path).expect("std read"), b"twelve bytes");

        let again = ring.openat(&path, libc::O_CREAT | libc::O_EXCL | libc::O_RDWR, 0o600).wait();
        assert_eq!(again.expect_err("O_EXCL on an existing file").kind(), io::ErrorKind::AlreadyExists);
    });
}

#[test]
fn openat_and_statx_of_a_missing_path_are_not_found() {
    each_backend(|ring, _| {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("missing");
        assert_eq!(ring.openat(&missing, libc::O_RDONLY, 0).wait().expect_err("no such file").kind(), io::ErrorKind::NotFound);
        assert_eq!(ring.statx(&missing, 0, libc::STATX_SIZE).wait().expect_err("no such file").kind(), io::ErrorKind::NotFound);
    });
}

#[test]
fn a_path_with_a_nul_byte_is_refused_before_it_reaches_the_kernel() {
    each_backend(|ring, _| {
        let error = ring.openat("bad\0path", libc::O_RDONLY, 0).wait().expect_err("NUL in a path");
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(ring.stats().submitted, 0, "nothing was submitted");
    });
}

#[test]
fn close_closes_the_descriptor() {
    each_backend(|ring, _| {
        let (ours, mut peer) = UnixStream::pair().expect("a socket pair");
        ring.close(OwnedFd::from(ours)).wait().expect("close");
        let mut byte = [0u8; 1];
        assert_eq!(peer.read(&mut byte).expect("read from the peer"), 0, "the peer sees end of file once ours is closed");
    });
}

#[test]
fn mkdirat_renameat_and_unlinkat_change_the_tree() {
    each_backend(|ring, _| {
        let dir = tempfile::tempdir().expect("temp dir");
        let sub = dir.path().join("sub");
        ring.mkdirat(&sub, 0o755).wait().expect("mkdirat");
        assert!(sub.is_dir(), "mkdirat made a directory");
        let error = ring.mkdirat(&sub, 0o755).wait().expect_err("the directory exists");
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);

        let from = sub.join("from");
        let to = sub.join("to");
        std::fs::write(&from, b"moved").expect("std write");
        ring.renameat(&from, &to, 0).wait().expect("renameat");
        assert!(!from.exists(), "the old name is gone");
        assert_eq!(std::fs::read(&to).expect("std read"), b"moved");

        std::fs::write(&from, b"second").expect("std write");
        let error = ring.renameat(&from, &to, libc::RENAME_NOREPLACE).wait().expect_err("RENAME_NOREPLACE onto a file");
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists, "the flags reach renameat2");
        assert_eq!(std::fs::read(&to).expect("std read"), b"moved", "the target was not replaced");

        ring.unlinkat(&from, 0).wait().expect("unlinkat a file");
        ring.unlinkat(&to, 0).wait().expect("unlinkat a file");
        assert!(!from.exists() && !to.exists(), "unlinkat removed both files");
        let error = ring.unlinkat(&sub, 0).wait().expect_err("unlinkat without AT_REMOVEDIR on a directory");
        assert_eq!(error.raw_os_error(), Some(libc::EISDIR));
        ring.unlinkat(&sub, libc::AT_REMOVEDIR).wait().expect("unlinkat AT_REMOVEDIR");
        assert!(!sub.exists(), "AT_REMOVEDIR removed the directory");
    });
}

#[test]
fn linkat_and_symlinkat_make_links_that_resolve_to_the_file() {
    each_backend(|ring, _| {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("file");
        std::fs::write(&file, b"linked").expect("std write");
        let hard = dir.path().join("hard");
        ring.linkat(&file, &hard, 0).wait().expect("linkat");
        assert_eq!(std::fs::read(&hard).expect("read the hard link"), b"linked");
        use std::os::unix::fs::MetadataExt as _;
        assert_eq!(std::fs::metadata(&file).expect("stat").nlink(), 2, "one inode, two names");
        let error = ring.linkat(&file, &hard, 0).wait().expect_err("the link exists");
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);

        let soft = dir.path().join("soft");
        ring.symlinkat("file", &soft).wait().expect("symlinkat");
        assert_eq!(std::fs::read_link(&soft).expect("readlink"), std::path::Path::new("file"));
        assert_eq!(std::fs::read(&soft).expect("read through the symlink"), b"linked");
        let error = ring.symlinkat("file", &soft).wait().expect_err("the symlink exists");
        assert_eq!(error.kind(), io::ErrorKind::AlreadyExists);
    });
}

#[test]
fn ftruncate_shrinks_and_grows_the_file() {
    each_backend(|ring, _| {
        let (_dir, file) = temp_file(b"0123456789");
        ring.ftruncate(&file, 4).wait().expect("shrink");
        assert_eq!(contents(&file), b"0123");
        ring.ftruncate(&file, 6).wait().expect("grow");
        assert_eq!(contents(&file), b"0123\0\0");
        let error = ring.ftruncate(&file, u64::MAX).wait().expect_err("a length beyond off_t");
        assert_eq!(error.raw_os_error(), Some(libc::EINVAL));
    });
}
