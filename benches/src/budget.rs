//! The performance-budget report: each DESIGN.md budget that exists so far is an [`Entry`];
//! `cargo run --release -p kms-benches --bin budgets` measures every entry, prints median, p99,
//! the budget and PASS/FAIL, and exits non-zero on a FAIL.
//!
//! To add a budget, write a function returning `Vec<Entry>` next to your crate's fixtures and
//! list it in `src/bin/budgets.rs`.

use std::time::{Duration, Instant};

/// Which statistic a budget limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stat {
    /// The median of the per-call times.
    Median,
    /// The 99th percentile of the per-call times.
    P99,
}

/// One budget: what is measured, the limit, and the operation (one call = one sample).
pub struct Entry {
    /// What is measured, e.g. `constraints: sol-withdraw validate (WASM, fresh instance)`.
    pub name: String,
    /// The DESIGN.md budget.
    pub budget: Duration,
    /// Which statistic the budget limits.
    pub stat: Stat,
    /// The operation; it must do the whole budgeted path once per call.
    pub run: Box<dyn FnMut()>,
}

/// Measured statistics of one entry.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Median per-call time.
    pub median: Duration,
    /// 99th-percentile per-call time.
    pub p99: Duration,
}

/// Times `samples` calls after `warmup` calls, one `Instant` pair per call.
pub fn measure(run: &mut dyn FnMut(), warmup: usize, samples: usize) -> Measured {
    for _ in 0..warmup {
        run();
    }
    let mut t: Vec<Duration> = (0..samples.max(1))
        .map(|_| {
            let s = Instant::now();
            run();
            s.elapsed()
        })
        .collect();
    t.sort_unstable();
    let at = |q: f64| t[((t.len() - 1) as f64 * q).round() as usize];
    Measured {
        median: at(0.5),
        p99: at(0.99),
    }
}

/// Measures every entry, prints the table, and returns whether all passed.
pub fn report(entries: Vec<Entry>, warmup: usize, samples: usize) -> bool {
    println!(
        "{:<62} {:>11} {:>11} {:>14}  result",
        "budget", "median", "p99", "budget"
    );
    let mut all = true;
    for mut e in entries {
        let m = measure(&mut e.run, warmup, samples);
        let value = match e.stat {
            Stat::Median => m.median,
            Stat::P99 => m.p99,
        };
        let pass = value <= e.budget;
        all &= pass;
        let label = match e.stat {
            Stat::Median => "median",
            Stat::P99 => "p99",
        };
        println!(
            "{:<62} {:>11} {:>11} {:>7} {:<6}  {}",
            e.name,
            fmt(m.median),
            fmt(m.p99),
            fmt(e.budget),
            label,
            if pass { "PASS" } else { "FAIL" }
        );
    }
    all
}

fn fmt(d: Duration) -> String {
    let ns = d.as_nanos();
    if ns < 10_000 {
        format!("{:.2} µs", ns as f64 / 1000.0)
    } else if ns < 10_000_000 {
        format!("{:.1} µs", ns as f64 / 1000.0)
    } else {
        format!("{:.1} ms", ns as f64 / 1e6)
    }
}
