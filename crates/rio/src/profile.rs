//! Submit-to-complete latency histograms, one per operation kind. Recorded only when the ring was
//! configured to (`Config::profile` or `print_profile_on_drop`): reading the clock twice per op is
//! cheap but not free.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::op::OpKind;

/// Latency percentiles of one kind of operation, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    /// How many completions were recorded.
    pub count: u64,
    /// Median.
    pub p50_us: f64,
    /// 90th percentile.
    pub p90_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// The slowest.
    pub max_us: f64,
}

#[derive(Default)]
pub(crate) struct Profile {
    by_kind: BTreeMap<OpKind, Histogram<u64>>,
}

/// Two significant figures: 1% error, a few KiB per kind.
const SIGNIFICANT_FIGURES: u8 = 2;

impl Profile {
    pub fn record(&mut self, kind: OpKind, latency: Duration) {
        let histogram = self
            .by_kind
            .entry(kind)
            .or_insert_with(|| Histogram::new(SIGNIFICANT_FIGURES).expect("2 significant figures are valid"));
        // Saturate rather than fail on an absurd latency: the histogram auto-resizes up to u64::MAX.
        let _ = histogram.record(latency.as_nanos().min(u128::from(u64::MAX)) as u64);
    }

    /// Percentiles of every kind recorded, plus `None` for all kinds together.
    pub fn latencies(&self) -> Vec<(Option<OpKind>, Latency)> {
        let mut all: Option<Histogram<u64>> = None;
        let mut out = Vec::new();
        for (kind, histogram) in &self.by_kind {
            out.push((Some(*kind), summarise(histogram)));
            match &mut all {
                Some(all) => {
                    let _ = all.add(histogram);
                }
                None => all = Some(histogram.clone()),
            }
        }
        if let Some(all) = all {
            out.push((None, summarise(&all)));
        }
        out
    }

    pub fn report(&self) -> String {
        let mut text = String::from("rio latency profile (submit to complete, microseconds)\n");
        let _ = writeln!(text, "{:<16}{:>10}{:>10}{:>10}{:>10}{:>10}", "op", "count", "p50", "p90", "p99", "max");
        for (kind, latency) in self.latencies() {
            let name = kind.map_or_else(|| "all".to_string(), |kind| format!("{kind:?}"));
            let _ = writeln!(
                text,
                "{:<16}{:>10}{:>10.1}{:>10.1}{:>10.1}{:>10.1}",
                name, latency.count, latency.p50_us, latency.p90_us, latency.p99_us, latency.max_us
            );
        }
        text
    }
}

fn summarise(histogram: &Histogram<u64>) -> Latency {
    let us = |nanos: u64| nanos as f64 / 1000.0;
    Latency {
        count: histogram.len(),
        p50_us: us(histogram.value_at_quantile(0.50)),
        p90_us: us(histogram.value_at_quantile(0.90)),
        p99_us: us(histogram.value_at_quantile(0.99)),
        max_us: us(histogram.max()),
    }
}
