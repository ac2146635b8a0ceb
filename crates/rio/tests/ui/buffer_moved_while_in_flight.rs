// A borrowed buffer cannot be moved away while the op reading into it is in flight.
use rio::Ops;

fn main() {
    let ring = rio::new().unwrap();
    let file = std::fs::File::open("Cargo.toml").unwrap();
    let mut buf = vec![0u8; 16];
    ring.scope(|s| {
        let read = s.read_at(&file, &mut buf[..], 0);
        let moved = buf;
        read.wait();
        drop(moved);
    });
}
