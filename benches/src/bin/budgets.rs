//! The performance-budget report (DESIGN.md "Performance budgets"): prints median, p99, the
//! budget and PASS/FAIL for every budget that exists so far, and exits non-zero on a FAIL.
//! `cargo run --release -p kms-benches --bin budgets`

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut entries = Vec::new();
    // One line per crate that has budgets; each returns its entries.
    entries.extend(kms_benches::constraints::budgets());
    entries.extend(kms_benches::pagechain::budgets());
    // Starts `kms dev` now (idle until its rows); stopped when the last of its entries is dropped.
    entries.extend(kms_benches::signer::budgets());
    if kms_benches::budget::report(entries, 2_000, 20_000) {
        ExitCode::SUCCESS
    } else {
        eprintln!("budgets: at least one budget FAILED");
        ExitCode::FAILURE
    }
}
