// The scope handle itself cannot leave `ring.scope`: ops started through it after the scope ended
// would have nobody waiting for them.
use rio::Ops;

fn main() {
    let ring = rio::new().unwrap();
    let mut escaped = None;
    ring.scope(|s| escaped = Some(s));
    escaped.unwrap().nop().wait().unwrap();
}
