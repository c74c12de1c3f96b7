//! The performance-budget report: each DESIGN.md budget that exists so far is an [`Entry`];
//! `cargo run --release -p kms-benches --bin budgets` measures every entry, prints median, p99,
//! the budget and PASS/FAIL, and exits non-zero on a FAIL.
//!
//! An entry may instead be a *reference* ([`Limit::Reference`]): measured and printed beside a
//! budgeted entry so a cost can be read against it (OpenSSH's per-use hash beside the page-chain
//! shield, a module compiled natively beside its WASM build), never a PASS/FAIL of its own.
//!
//! A *throughput* budget ([`Limit::MinRate`]) counts calls instead of timing each one: the
//! operation is called back to back for a fixed window and must reach a number of calls per
//! second (for a concurrent load, one call is one completed request of any client).
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
    /// that entry's median to this one's). The named entry must be a timed one (not a
    /// [`Limit::MinRate`]) earlier in the report, or the report fails.
    Reference {
        /// Name of the entry this one is compared with.
        of: String,
    },
    /// A throughput budget: after the warm-up calls the operation is called back to back for
    /// `window`, and must complete at least `per_second` calls per second: PASS or FAIL.
    MinRate {
        /// Least calls per second.
        per_second: u64,
        /// How long calls are counted.
        window: Duration,
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

    /// A throughput budget: at least `per_second` calls per second over `window`.
    pub fn rate(
        name: impl Into<String>,
        per_second: u64,
        window: Duration,
        run: Operation,
    ) -> Self {
        Self {
            name: name.into(),
            limit: Limit::MinRate { per_second, window },
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

/// The first error of a run of calls (later ones add nothing: the figures already mean nothing).
#[derive(Default)]
struct FirstError(Option<String>);

impl FirstError {
    fn record(&mut self, r: Result<(), String>) {
        if let (Err(e), None) = (r, &self.0) {
            self.0 = Some(e);
        }
    }
}

/// Times `samples` calls after `warmup` calls, one `Instant` pair per call.
pub fn measure(
    run: &mut dyn FnMut() -> Result<(), String>,
    warmup: usize,
    samples: usize,
) -> Measured {
    let mut first = FirstError::default();
    for _ in 0..warmup {
        first.record(run());
    }
    let mut t: Vec<Duration> = Vec::with_capacity(samples.max(1));
    for _ in 0..samples.max(1) {
        let s = Instant::now();
        let r = run();
        t.push(s.elapsed());
        first.record(r);
    }
    t.sort_unstable();
    let at = |q: f64| t[((t.len() - 1) as f64 * q).round() as usize];
    Measured {
        median: at(0.5),
        p99: at(0.99),
        error: first.0,
    }
}

/// Calls counted by [`measure_rate`].
#[derive(Debug, Clone)]
pub struct Rate {
    /// Calls completed in the window.
    pub calls: u64,
    /// The window as measured (from the first counted call to the end of the last).
    pub elapsed: Duration,
    /// The first error any call returned (the count then means nothing).
    pub error: Option<String>,
}

impl Rate {
    /// Calls per second.
    #[must_use]
    pub fn per_second(&self) -> f64 {
        self.calls as f64 / self.elapsed.as_secs_f64().max(1e-12)
    }
}

/// Calls `run` `warmup` times, then back to back until `window` has passed; counts the calls.
pub fn measure_rate(
    run: &mut dyn FnMut() -> Result<(), String>,
    warmup: usize,
    window: Duration,
) -> Rate {
    let mut first = FirstError::default();
    for _ in 0..warmup {
        first.record(run());
    }
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < window {
        first.record(run());
        calls += 1;
    }
    Rate {
        calls,
        elapsed: start.elapsed(),
        error: first.0,
    }
}

/// Measures every entry, prints the table, and returns whether every budget passed (and no
/// operation, budgeted or reference, failed).
pub fn report(entries: Vec<Entry>, warmup: usize, samples: usize) -> bool {
    report_rows(entries, warmup, samples).0
}

/// One timed entry of a report, for [`chart_svg`].
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The entry's name.
    pub name: String,
    /// Median per-call time.
    pub median: Duration,
    /// 99th-percentile per-call time.
    pub p99: Duration,
    /// The budget and the statistic it bounds (`None` for a reference row).
    pub budget: Option<(Duration, Stat)>,
    /// Whether the entry passed (a reference row passes when it ran without error).
    pub pass: bool,
}

/// [`report`], also returning the timed rows (rate rows are left out: they have no times).
pub fn report_rows(entries: Vec<Entry>, warmup: usize, samples: usize) -> (bool, Vec<Row>) {
    let mut rows = Vec::new();
    let width = entries
        .iter()
        .map(|e| e.name.chars().count())
        .fold(66, usize::max);
    println!(
        "{:<width$} {:>10} {:>10} {:>15}  result",
        "budget", "median", "p99", "budget"
    );
    let verdict = |pass: bool| if pass { "PASS" } else { "FAIL" }.to_owned();
    let mut all = true;
    let mut medians: Vec<(String, Duration)> = Vec::new();
    for mut e in entries {
        // (median column, p99 column, budget column, result, error, median for references)
        let (median, p99, limit, result, error, timed) = match &e.limit {
            Limit::Budget(budget, stat) => {
                let m = measure(&mut e.run, warmup, samples);
                let (value, label) = match stat {
                    Stat::Median => (m.median, "median"),
                    Stat::P99 => (m.p99, "p99"),
                };
                let pass = value <= *budget && m.error.is_none();
                all &= pass;
                rows.push(Row {
                    name: e.name.clone(),
                    median: m.median,
                    p99: m.p99,
                    budget: Some((*budget, *stat)),
                    pass,
                });
                let limit = format!("{} {label}", fmt(*budget));
                (
                    fmt(m.median),
                    fmt(m.p99),
                    limit,
                    verdict(pass),
                    m.error,
                    Some(m.median),
                )
            }
            Limit::Reference { of } => {
                let m = measure(&mut e.run, warmup, samples);
                let ratio = medians
                    .iter()
                    .find(|(n, _)| n == of)
                    .map(|(_, d)| d.as_secs_f64() / m.median.as_secs_f64().max(1e-12));
                // A reference to no earlier entry is a broken report, not a comparison.
                all &= m.error.is_none() && ratio.is_some();
                rows.push(Row {
                    name: e.name.clone(),
                    median: m.median,
                    p99: m.p99,
                    budget: None,
                    pass: m.error.is_none(),
                });
                let result = match ratio {
                    Some(r) => format!("`{}` takes {r:.1}x this", short(of)),
                    None => format!("(no entry `{of}` before this one)"),
                };
                let limit = "reference".to_owned();
                (
                    fmt(m.median),
                    fmt(m.p99),
                    limit,
                    result,
                    m.error,
                    Some(m.median),
                )
            }
            // Counted, not timed per call: the rate stands where the others have their median,
            // and there is no median for a reference to compare with.
            Limit::MinRate { per_second, window } => {
                let r = measure_rate(&mut e.run, warmup, *window);
                let pass = r.per_second() >= *per_second as f64 && r.error.is_none();
                all &= pass;
                let result = format!(
                    "{} ({} calls in {:.2} s)",
                    verdict(pass),
                    r.calls,
                    r.elapsed.as_secs_f64()
                );
                let rate = format!("{:.0}/s", r.per_second());
                let limit = format!(">= {per_second}/s");
                (rate, "-".to_owned(), limit, result, r.error, None)
            }
        };
        println!(
            "{:<width$} {median:>10} {p99:>10} {limit:>15}  {result}",
            e.name
        );
        if let Some(err) = &error {
            println!("    FAIL: the operation returned an error: {err}");
        }
        if let Some(t) = timed {
            medians.push((e.name, t));
        }
    }
    (all, rows)
}

/// An SVG chart of `rows`: per row its median (bar) and p99 (tick) on a logarithmic time axis
/// from 100 ns to 100 ms, and its budget (a vertical line, green when the row passed, red when it
/// failed). Self-contained text (no fonts or scripts), for a README to link.
#[must_use]
pub fn chart_svg(rows: &[Row]) -> String {
    use std::fmt::Write as _;
    const LEFT: f64 = 430.0;
    const PLOT: f64 = 560.0;
    const ROW: f64 = 24.0;
    const TOP: f64 = 48.0;
    let (lo, hi) = (100e-9_f64.log10(), 100e-3_f64.log10());
    let x = |d: Duration| {
        let v = d.as_secs_f64().max(1e-9).log10().clamp(lo, hi);
        LEFT + (v - lo) / (hi - lo) * PLOT
    };
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let height = TOP + ROW * rows.len() as f64 + 40.0;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{height}" font-family="sans-serif" font-size="11">
<rect width="100%" height="100%" fill="#fff"/>
<text x="10" y="18" font-size="14">kms budget report: median (bar), p99 (tick), budget (line)</text>
"##,
        w = LEFT + PLOT + 20.0
    );
    for (i, label) in [
        "100 ns", "1 µs", "10 µs", "100 µs", "1 ms", "10 ms", "100 ms",
    ]
    .iter()
    .enumerate()
    {
        let gx = LEFT + i as f64 / 6.0 * PLOT;
        let _ = writeln!(
            svg,
            r##"<line x1="{gx:.1}" y1="{TOP}" x2="{gx:.1}" y2="{y2:.1}" stroke="#ddd"/><text x="{gx:.1}" y="{ty:.1}" text-anchor="middle" fill="#555">{label}</text>"##,
            y2 = height - 30.0,
            ty = TOP - 6.0
        );
    }
    for (i, r) in rows.iter().enumerate() {
        let y = TOP + ROW * i as f64;
        let colour = if r.pass { "#1a7f37" } else { "#b42318" };
        let bar = if r.budget.is_some() {
            "#4c78a8"
        } else {
            "#9aa5b1"
        };
        let _ = write!(
            svg,
            r##"<text x="{tx}" y="{ty:.1}" text-anchor="end">{name}</text>
<rect x="{LEFT}" y="{by:.1}" width="{bw:.1}" height="10" fill="{bar}"/>
<line x1="{px:.1}" y1="{py1:.1}" x2="{px:.1}" y2="{py2:.1}" stroke="#333" stroke-width="2"/>
"##,
            tx = LEFT - 8.0,
            ty = y + 13.0,
            name = esc(&r.name),
            by = y + 5.0,
            bw = (x(r.median) - LEFT).max(1.0),
            px = x(r.p99),
            py1 = y + 2.0,
            py2 = y + 18.0,
        );
        if let Some((budget, stat)) = r.budget {
            let stat = match stat {
                Stat::Median => "median",
                Stat::P99 => "p99",
            };
            let _ = writeln!(
                svg,
                r##"<line x1="{bx:.1}" y1="{y1:.1}" x2="{bx:.1}" y2="{y2:.1}" stroke="{colour}" stroke-width="3"><title>budget {b} ({stat})</title></line>"##,
                bx = x(budget),
                y1 = y,
                y2 = y + 20.0,
                b = fmt(budget),
            );
        }
    }
    svg.push_str("</svg>\n");
    svg
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
    fn a_rate_budget_passes_when_reached_and_fails_when_not_or_on_error() {
        let window = Duration::from_millis(50);
        let slow = || -> Operation {
            Box::new(|| {
                std::thread::sleep(Duration::from_millis(1));
                Ok(())
            })
        };
        // At most 1,000 calls per second.
        assert!(report(vec![Entry::rate("ok", 10, window, slow())], 1, 1));
        assert!(!report(
            vec![Entry::rate("slow", 5_000, window, slow())],
            1,
            1
        ));
        let mut n = 0;
        let fails_once = Entry::rate(
            "one error",
            1,
            window,
            Box::new(move || {
                n += 1;
                if n == 7 {
                    Err("lost".to_owned())
                } else {
                    Ok(())
                }
            }),
        );
        assert!(!report(vec![fails_once], 1, 1));
    }

    #[test]
    fn a_reference_to_a_rate_fails_the_report() {
        let entries = vec![
            Entry::rate("rate", 1, Duration::from_millis(10), Box::new(|| Ok(()))),
            Entry::reference("of the rate", "rate", Box::new(|| Ok(()))),
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

    #[test]
    fn chart_shows_every_row_and_budget() {
        let rows = vec![
            Row {
                name: "a: x < y & z".into(),
                median: Duration::from_micros(10),
                p99: Duration::from_micros(20),
                budget: Some((Duration::from_micros(50), Stat::P99)),
                pass: true,
            },
            Row {
                name: "b: slow".into(),
                median: Duration::from_millis(2),
                p99: Duration::from_millis(3),
                budget: Some((Duration::from_millis(1), Stat::Median)),
                pass: false,
            },
            Row {
                name: "c: reference".into(),
                median: Duration::from_nanos(50),
                p99: Duration::from_secs(1),
                budget: None,
                pass: true,
            },
        ];
        let svg = chart_svg(&rows);
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a: x &lt; y &amp; z") && !svg.contains("x < y"));
        assert_eq!(svg.matches("<title>budget").count(), 2);
        assert!(svg.contains("#b42318") && svg.contains("#1a7f37"));
        // Out-of-range times are clamped to the axis, never drawn outside it.
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }
}
