//! The reference signer end to end: one sign request covered by a standing intent, from a client
//! over the bus socket through the bridge to the signer of a real `kms dev` (separate processes)
//! and back (budget: median ≤ 250 µs, p99 ≤ 1 ms; the budget report also measures 32 concurrent
//! clients).
//!
//! `cargo build --release -p kms && cargo bench -p kms-benches --bench signer`. The bench
//! measures the `kms` binary of its own profile directory (`target/release/kms` here) or
//! `$KMS_BIN`, as built: it does not rebuild it. In test mode (`cargo test --workspace
//! --all-targets`, which builds `target/debug/kms` for the kms tests) a missing binary is
//! reported and the bench skipped; with `--bench` it is an error.

#![allow(clippy::expect_used, clippy::panic)] // benchmark set-up: a failure aborts the run with its reason

use criterion::{Criterion, criterion_group, criterion_main};
use kms_benches::signer::{Kms, SolParams, kms_binary};

fn bench(c: &mut Criterion) {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let bin = match kms_binary() {
        Ok(bin) => bin,
        Err(why) if !bench_mode => {
            eprintln!("signer bench SKIPPED: {why}");
            return;
        }
        Err(why) => panic!("{why}"),
    };
    let kms = Kms::start(&bin).unwrap_or_else(|e| panic!("{e}"));
    let params = SolParams::new().unwrap_or_else(|e| panic!("{e}"));
    let mut covered = kms.covered(&params, 1).unwrap_or_else(|e| panic!("{e}"));
    c.bench_function("signer/e2e_sign_covered_by_standing_intent", |b| {
        b.iter(|| covered.sign().unwrap_or_else(|e| panic!("{e}")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
