// The file must outlive the op: it cannot be closed while a completion on it is alive.
use rio::Ops;

fn main() {
    let ring = rio::new().unwrap();
    let file = std::fs::File::open("Cargo.toml").unwrap();
    let read = ring.read_at(&file, vec![0u8; 16], 0);
    drop(file);
    read.wait();
}
