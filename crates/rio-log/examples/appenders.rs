//! Throughput of durable appends: N threads, each appending a record and waiting until it is
//! durable, for a few seconds. `cargo run --release -p rio-log --example appenders -- 64 128 [direct] [pipeline]`
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let threads: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(64);
    let size: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(128);
    let direct = args.get(3).is_some_and(|a| a == "direct");
    let pipeline: usize = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(1);
    let dir = std::env::temp_dir().join(format!("rio-log-appenders-{}", std::process::id()));
    let options = rio_log::LogOptions { direct, pipeline, ..Default::default() };
    let notices = Arc::new(AtomicU64::new(0));
    let counted = notices.clone();
    let log = Arc::new(rio_log::Log::open(&dir, options, Box::new(move |_| {
        counted.fetch_add(1, Ordering::Relaxed);
    }))?);
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs(3);
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (log, done) = (log.clone(), done.clone());
            std::thread::spawn(move || {
                let record = vec![7u8; size];
                while Instant::now() < deadline {
                    let appended = log.append(&record).unwrap();
                    log.wait_durable(appended).unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let total = done.load(Ordering::Relaxed);
    let batches = notices.load(Ordering::Relaxed).max(1);
    println!("{} durable appends/s ({threads} appenders, {size} B, direct {direct}, pipeline {pipeline}): {} durable batches, {:.1} records each, {:.0} us per batch", total / 3, batches, total as f64 / batches as f64, 3e6 / batches as f64);
    log.close()?;
    std::fs::remove_dir_all(&dir)
}
