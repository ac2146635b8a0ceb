// Outside a scope a buffer must be owned ('static): nothing would wait for the kernel before a
// borrowed one is freed, since the completion can be leaked.
use rio::Ops;

fn main() {
    let ring = rio::new().unwrap();
    let file = std::fs::File::open("Cargo.toml").unwrap();
    let mut buf = vec![0u8; 16];
    let read = ring.read_at(&file, &mut buf[..], 0);
    std::mem::forget(read);
    drop(buf);
}
