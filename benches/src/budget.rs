//! The performance-budget report: each DESIGN.md budget that exists so far is an [`Entry`];
//! `cargo run --release -p kms-benches --bin budgets` measures every entry, prints median, p99,
//! the budget and PASS/FAIL, and exits non-zero on a FAIL.
//!
//! An entry may instead be a *reference* ([`Limit::Reference`]): measured and printed beside a
//! budgeted entry so a cost can be read against it (OpenSSH's per-use hash beside the page-chain
//! shield, a module compiled natively beside its WASM build), never a PASS/FAIL of its own.
//!
//! Every call of an entry's operation must succeed: an operation that fails (returns `Err`) is a
//! FAIL, whatever its time, so a fast error path can never pass for a fast success.
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

/// What an entry's times are held against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Limit {
    /// A DESIGN.md (or issue) budget on one statistic: PASS or FAIL.
    Budget(Duration, Stat),
    /// No budget: measured for comparison with the entry named here (printed as the ratio of
    /// that entry's median to this one's). The named entry must come earlier in the report, or
    /// the report fails.
    Reference {
        /// Name of the entry this one is compared with.
        of: String,
    },
}

/// The operation of an entry: one call is one sample. `Err` carries what went wrong.
pub type Operation = Box<dyn FnMut() -> Result<(), String>>;

/// One row of the report: what is measured, what it is held against, and the operation.
pub struct Entry {
    /// What is measured, e.g. `constraints: sol-withdraw validate (WASM, fresh instance)`.
    pub name: String,
    /// The budget, or the entry it is a reference for.
    pub limit: Limit,
    /// The operation; it must do the whole budgeted path once per call.
    pub run: Operation,
}

impl Entry {
    /// A budgeted entry.
    pub fn budget(name: impl Into<String>, budget: Duration, stat: Stat, run: Operation) -> Self {
        Self {
            name: name.into(),
            limit: Limit::Budget(budget, stat),
            run,
        }
    }

    /// A reference entry compared with the (earlier) entry named `of`.
    pub fn reference(name: impl Into<String>, of: impl Into<String>, run: Operation) -> Self {
        Self {
            name: name.into(),
            limit: Limit::Reference { of: of.into() },
            run,
        }
    }
}

/// Measured statistics of one entry.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Median per-call time.
    pub median: Duration,
    /// 99th-percentile per-call time.
    pub p99: Duration,
    /// The first error any call returned (the times then mean nothing).
    pub error: Option<String>,
}

/// Times `samples` calls after `warmup` calls, one `Instant` pair per call.
pub fn measure(
    run: &mut dyn FnMut() -> Result<(), String>,
    warmup: usize,
    samples: usize,
) -> Measured {
    let mut error = None;
    let mut record = |r: Result<(), String>| {
        if let (Err(e), None) = (r, &error) {
            error = Some(e);
        }
    };
    for _ in 0..warmup {
        record(run());
    }
    let mut t: Vec<Duration> = Vec::with_capacity(samples.max(1));
    for _ in 0..samples.max(1) {
        let s = Instant::now();
        let r = run();
        t.push(s.elapsed());
        record(r);
    }
    t.sort_unstable();
    let at = |q: f64| t[((t.len() - 1) as f64 * q).round() as usize];
    Measured {
        median: at(0.5),
        p99: at(0.99),
        error,
    }
}

/// Measures every entry, prints the table, and returns whether every budget passed (and no
/// operation, budgeted or reference, failed).
pub fn report(entries: Vec<Entry>, warmup: usize, samples: usize) -> bool {
    println!(
        "{:<66} {:>10} {:>10} {:>15}  result",
        "budget", "median", "p99", "budget"
    );
    let mut all = true;
    let mut medians: Vec<(String, Duration)> = Vec::new();
    for mut e in entries {
        let m = measure(&mut e.run, warmup, samples);
        let (limit, verdict) = match &e.limit {
            Limit::Budget(budget, stat) => {
                let (value, label) = match stat {
                    Stat::Median => (m.median, "median"),
                    Stat::P99 => (m.p99, "p99"),
                };
                let pass = value <= *budget && m.error.is_none();
                all &= pass;
                (
                    format!("{} {label}", fmt(*budget)),
                    if pass { "PASS" } else { "FAIL" }.to_owned(),
                )
            }
            Limit::Reference { of } => {
                let ratio = medians
                    .iter()
                    .find(|(n, _)| n == of)
                    .map(|(_, d)| d.as_secs_f64() / m.median.as_secs_f64().max(1e-12));
                // A reference to no earlier entry is a broken report, not a comparison.
                all &= m.error.is_none() && ratio.is_some();
                (
                    "reference".to_owned(),
                    match ratio {
                        Some(r) => format!("`{}` takes {r:.1}x this", short(of)),
                        None => format!("(no entry `{of}` before this one)"),
                    },
                )
            }
        };
        println!(
            "{:<66} {:>10} {:>10} {:>15}  {}",
            e.name,
            fmt(m.median),
            fmt(m.p99),
            limit,
            verdict
        );
        if let Some(err) = &m.error {
            println!("    FAIL: the operation returned an error: {err}");
        }
        medians.push((e.name, m.median));
    }
    all
}

/// The part of an entry name after its `crate:` prefix.
fn short(name: &str) -> &str {
    name.split_once(": ").map_or(name, |(_, rest)| rest)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_operation_fails_the_report_even_when_fast() {
        let entries = vec![Entry::budget(
            "fails fast",
            Duration::from_secs(1),
            Stat::Median,
            Box::new(|| Err("broken fixture".to_owned())),
        )];
        assert!(!report(entries, 1, 10));
    }

    #[test]
    fn budgets_and_references_pass_when_fast_and_ok() {
        let entries = vec![
            Entry::budget("ok", Duration::from_secs(1), Stat::P99, Box::new(|| Ok(()))),
            Entry::reference("ok natively", "ok", Box::new(|| Ok(()))),
        ];
        assert!(report(entries, 1, 10));
    }

    #[test]
    fn a_reference_to_no_earlier_entry_fails_the_report() {
        let entries = vec![
            Entry::reference("orphan", "later", Box::new(|| Ok(()))),
            Entry::budget(
                "later",
                Duration::from_secs(1),
                Stat::P99,
                Box::new(|| Ok(())),
            ),
        ];
        assert!(!report(entries, 1, 10));
    }

    #[test]
    fn a_budget_over_its_limit_fails() {
        let entries = vec![Entry::budget(
            "slow",
            Duration::from_nanos(1),
            Stat::Median,
            Box::new(|| {
                std::thread::sleep(Duration::from_micros(50));
                Ok(())
            }),
        )];
        assert!(!report(entries, 0, 3));
    }
}
