// A buffer lent to an op in a scope is the scope's until it ends; a completion cannot carry the
// loan out of the scope to be waited on (and the buffer read) later.
use rio::Ops;

fn main() {
    let ring = rio::new().unwrap();
    let file = std::fs::File::open("Cargo.toml").unwrap();
    let mut buffer = [0u8; 16];
    let escaped = ring.scope(|s| s.read_at(&file, &mut buffer[..], 0));
    println!("{:?}", buffer);
    escaped.wait();
}
