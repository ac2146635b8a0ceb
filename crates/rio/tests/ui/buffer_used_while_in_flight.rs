// A borrowed buffer cannot be touched while the kernel may write into it.
use rio::Ops;

fn main() {
    let ring = rio::new().unwrap();
    let file = std::fs::File::open("Cargo.toml").unwrap();
    let mut buf = vec![0u8; 16];
    ring.scope(|s| {
        let read = s.read_at(&file, &mut buf[..], 0);
        buf[0] = 1;
        read.wait();
    });
}
