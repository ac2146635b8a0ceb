use rio::Ops;
use std::time::Instant;
fn main() {
    let dir = std::env::temp_dir();
    let path = dir.join(format!("synclat-{}", std::process::id()));
    let file = std::fs::OpenOptions::new().read(true).write(true).create(true).open(&path).unwrap();
    if std::env::var_os("ZERO").is_some() {
        use std::os::unix::fs::FileExt;
        file.write_all_at(&vec![0u8; 8 << 20], 0).unwrap();
        file.sync_all().unwrap();
    }
    for backend in [rio::Backend::IoUring, rio::Backend::Threads] {
        let ring = rio::Config { backend, ..Default::default() }.start().unwrap();
        let n = 2000;
        let t0 = Instant::now();
        for i in 0..n {
            let w = ring.ordered(rio::Ordering::Link).write_at(&file, vec![1u8; 200], i * 200);
            let s = ring.fdatasync(&file);
            w.wait().0.unwrap();
            s.wait().unwrap();
        }
        println!("{backend:?}: {:.1} us per write+fdatasync", t0.elapsed().as_secs_f64() * 1e6 / n as f64);
        let t0 = Instant::now();
        for i in 0..n {
            use std::os::unix::fs::FileExt;
            file.write_at(&[1u8; 200], i * 200).unwrap();
            file.sync_data().unwrap();
        }
        println!("plain syscalls: {:.1} us per write+fdatasync", t0.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    std::fs::remove_file(&path).unwrap();
}
