// `ring.ordered(..)` is still the ring, not a scope: its buffers must be owned ('static) too, or a
// forgotten completion would leave the kernel writing into a freed buffer.
use rio::{Ops, Ordering};

fn main() {
    let ring = rio::new().unwrap();
    let file = std::fs::File::open("Cargo.toml").unwrap();
    let mut buf = vec![0u8; 16];
    let read = ring.ordered(Ordering::Link).read_at(&file, &mut buf[..], 0);
    std::mem::forget(read);
    drop(buf);
}
