// A completion borrowing a buffer cannot leave its scope: the scope is what waits for the kernel.
use rio::Ops;

fn main() {
    let ring = rio::new().unwrap();
    let file = std::fs::File::open("Cargo.toml").unwrap();
    let mut buf = vec![0u8; 16];
    let read = ring.scope(|s| s.read_at(&file, &mut buf[..], 0));
    read.wait();
}
