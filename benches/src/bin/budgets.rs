//! The performance-budget report (DESIGN.md "Performance budgets"): prints median, p99, the
//! budget and PASS/FAIL for every budget that exists so far, and exits non-zero on a FAIL.
//! `cargo run --release -p kms-benches --bin budgets [-- --only constraints|pagechain|signer|scaleout] [--svg PATH]`

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    // `--only <group>`: one group's rows (constraints, pagechain, signer, scaleout).
    let only = args.iter().skip_while(|a| *a != "--only").nth(1).cloned();
    let wanted = |group: &str| only.as_deref().is_none_or(|o| o == group);
    let mut entries = Vec::new();
    // One line per crate that has budgets; each returns its entries.
    if wanted("constraints") {
        entries.extend(kms_benches::constraints::budgets());
    }
    if wanted("pagechain") || wanted("signer") {
        // The signer rows compare with the pagechain+core floor.
        entries.extend(kms_benches::pagechain::budgets());
    }
    if wanted("signer") {
        // Starts `kms dev` now (idle until its rows); stopped when the last of its entries is
        // dropped.
        entries.extend(kms_benches::signer::budgets());
    }
    if wanted("scaleout") {
        // Starts `nats-server -js` and two `kms dev --nats` instances now.
        entries.extend(kms_benches::scaleout::budgets());
    }
    let svg = std::env::args()
        .skip_while(|a| a != "--svg")
        .nth(1)
        .unwrap_or_else(|| "target/budgets.svg".into());
    let (pass, rows) = kms_benches::budget::report_rows(entries, 2_000, 20_000);
    match std::fs::write(&svg, kms_benches::budget::chart_svg(&rows)) {
        Ok(()) => println!("chart: {svg}"),
        Err(e) => eprintln!("budgets: cannot write the chart {svg}: {e}"),
    }
    if pass {
        ExitCode::SUCCESS
    } else {
        eprintln!("budgets: at least one budget FAILED");
        ExitCode::FAILURE
    }
}
