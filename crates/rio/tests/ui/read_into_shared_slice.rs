// A read target must be `&mut`: the kernel writes into it. A shared `&[u8]` is only a write source.
use rio::Ops;

fn main() {
    let ring = rio::new().unwrap();
    let file = std::fs::File::open("Cargo.toml").unwrap();
    let buf = vec![0u8; 16];
    ring.scope(|s| {
        s.read_at(&file, &buf[..], 0).wait();
    });
}
