//! Configuration: a bad value is an `InvalidInput` error naming the field, never a panic; `profile`
//! records latencies per op kind; `auto` picks io_uring where the kernel allows it.

mod common;

use std::io;

use common::{backends, each_backend_with, temp_file};
use rio::{Backend, Config, OpKind, Ops};

#[test]
fn invalid_config_is_an_invalid_input_error_not_a_panic() {
    let cases = [
        ("depth", Config { depth: 0, ..Default::default() }),
        ("depth", Config { depth: 40_000, ..Default::default() }),
        ("max_threads", Config { max_threads: 0, ..Default::default() }),
        ("sq_poll", Config { sq_poll: true, backend: Backend::Threads, ..Default::default() }),
        ("io_poll", Config { io_poll: true, backend: Backend::Threads, ..Default::default() }),
    ];
    for (field, config) in cases {
        let shown = format!("{config:?}");
        let error = config.start().err().unwrap_or_else(|| panic!("{shown} started"));
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{shown}: {error}");
        assert!(error.to_string().contains(field), "the error for {shown} names {field}: {error}");
    }
}

#[test]
fn depth_limits_themselves_are_accepted() {
    for backend in backends() {
        for depth in [1, 32_768] {
            let ring = common::start(Config { depth, backend, ..Default::default() });
            ring.nop().wait().unwrap_or_else(|error| panic!("{backend:?} depth {depth}: {error}"));
        }
    }
}

#[test]
fn unknown_backend_name_is_an_invalid_input_error() {
    assert_eq!("io_uring".parse::<Backend>().expect("io_uring"), Backend::IoUring);
    assert_eq!("threads".parse::<Backend>().expect("threads"), Backend::Threads);
    assert_eq!("auto".parse::<Backend>().expect("auto"), Backend::Auto);
    let error = "uring".parse::<Backend>().expect_err("not a backend");
    assert_eq!(error.kind(), io::ErrorKind::InvalidInput);
}

#[test]
fn auto_runs_on_io_uring_where_the_kernel_allows_it() {
    let io_uring_starts = Config { backend: Backend::IoUring, ..Default::default() }.start().is_ok();
    let auto = Config { backend: Backend::Auto, ..Default::default() }.start().expect("auto always starts");
    let expected = if io_uring_starts { Backend::IoUring } else { Backend::Threads };
    assert_eq!(auto.backend(), expected);
}

#[test]
fn profile_gives_latencies_per_op_kind_in_stats() {
    each_backend_with(Config { profile: true, ..Default::default() }, |ring, _| {
        let (_dir, file) = temp_file(b"");
        for _ in 0..10 {
            ring.nop().wait().expect("nop");
        }
        for i in 0..5u64 {
            ring.write_at(&file, vec![1u8; 100], i * 100).wait().0.expect("write");
        }
        let latencies = ring.stats().latencies;
        let of = |kind: Option<OpKind>| {
            latencies.iter().find(|(k, _)| *k == kind).map(|(_, latency)| *latency).unwrap_or_else(|| panic!("no latency for {kind:?} in {latencies:?}"))
        };
        assert_eq!(of(Some(OpKind::Nop)).count, 10);
        assert_eq!(of(Some(OpKind::Write)).count, 5);
        let all = of(None);
        assert_eq!(all.count, 15, "`None` sums every kind");
        assert!(all.p50_us <= all.p90_us && all.p90_us <= all.p99_us && all.p99_us <= all.max_us, "{all:?}");
        assert!(all.max_us > 0.0, "an op takes some time: {all:?}");
        assert_eq!(latencies.len(), 3, "only the kinds that ran: {latencies:?}");
    });
}

#[test]
fn print_profile_on_drop_prints_the_histograms_to_stderr() {
    const TEST_NAME: &str = "print_profile_on_drop_prints_the_histograms_to_stderr";
    if common::is_child_of(TEST_NAME) {
        // The child: its stderr is what the parent reads.
        for backend in backends() {
            let ring = common::start(Config { backend, print_profile_on_drop: true, ..Default::default() });
            for _ in 0..7 {
                ring.nop().wait().expect("nop");
            }
            eprintln!("dropping the {} ring", backend.name());
        }
        return;
    }
    let (_, stderr) = common::rerun_as_child(TEST_NAME);
    for backend in backends() {
        let after_drop = stderr
            .split_once(&format!("dropping the {} ring", backend.name()))
            .unwrap_or_else(|| panic!("the child ran the {} ring:\n{stderr}", backend.name()))
            .1;
        let report = after_drop.split("dropping the").next().unwrap_or_default();
        assert!(report.contains("rio latency profile"), "{}: a report on drop:\n{stderr}", backend.name());
        let nop_row = report.lines().find(|line| line.starts_with("Nop")).unwrap_or_else(|| panic!("a Nop row:\n{report}"));
        assert_eq!(nop_row.split_whitespace().nth(1), Some("7"), "{}: 7 nops counted: {nop_row}", backend.name());
    }
}

#[test]
fn without_profile_stats_have_no_latencies() {
    each_backend_with(Config::default(), |ring, _| {
        ring.nop().wait().expect("nop");
        let stats = ring.stats();
        assert!(stats.latencies.is_empty(), "{:?}", stats.latencies);
        assert_eq!((stats.submitted, stats.completed), (1, 1));
    });
}
