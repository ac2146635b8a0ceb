// A scope waits for its ops when it ends, not when the closure's locals go: a buffer made inside
// the closure dies first, so lending it to an op whose completion is forgotten must not compile
// (the kernel would write into it after it was freed).
use rio::Ops;

fn main() {
    let ring = rio::new().unwrap();
    let file = std::fs::File::open("Cargo.toml").unwrap();
    ring.scope(|s| {
        let mut local = [0u8; 16];
        std::mem::forget(s.read_at(&file, &mut local[..], 0));
    });
}
