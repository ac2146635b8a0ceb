// The correct counterparts of the compile-fail cases: owned buffers on the ring, borrowed ones
// inside a scope (even with the completion forgotten: the scope still waits), the buffer and the
// file used again once the completion is gone.
use rio::Ops;

fn main() {
    let ring = rio::new().unwrap();
    let file = tempfile::tempfile().unwrap();
    let (written, _) = ring.write_at(&file, b"abcd".to_vec(), 0).wait();
    assert_eq!(written.unwrap(), 4);

    let mut buf = vec![0u8; 4];
    let read = ring.scope(|s| {
        let read = s.read_at(&file, &mut buf[..], 0);
        read.wait().0.unwrap()
    });
    assert_eq!(read, 4);
    assert_eq!(buf, b"abcd");

    ring.scope(|s| std::mem::forget(s.read_at(&file, &mut buf[2..], 0)));
    assert_eq!(buf, b"abab");
    drop(buf);
    drop(file);
}
