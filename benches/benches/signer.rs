//! The reference signer end to end: one sign request covered by a standing intent, from a client
//! over the bus socket through the bridge to the signer of a real `kms dev` (separate processes)
//! and back (budget: median ≤ 250 µs, p99 ≤ 1 ms; the budget report also measures 32 concurrent
//! clients).
//!
//! `cargo bench -p kms-benches --bench signer`. Which `kms` binary runs:
//! - `$KMS_BIN` when set, as it is;
//! - with `--bench`: `cargo build -p kms` in this bench's profile and target directory first
//!   (`cargo build --release -p kms`, nothing to do when it is fresh), so the bench never
//!   measures a stale signer;
//! - in test mode (`cargo test --workspace --all-targets` runs every bench once): the binary of
//!   this profile's directory, which that command builds for the kms tests; built as above only
//!   when it is missing (`cargo test -p kms-benches` alone).
//!
//! The nested `cargo build` does not wait on the outer command: cargo releases the target
//! directory's lock before it runs test and bench executables (checked with cargo 1.95).

#![allow(clippy::expect_used, clippy::panic)] // benchmark set-up: a failure aborts the run with its reason

use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};
use kms_benches::signer::{Kms, SolParams, kms_binary};

/// Builds `kms` with the profile and target directory this executable was built with
/// (`<target>/<profile dir>/deps/signer-<hash>`).
fn build_kms() -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("this bench is not in <target>/<profile>/deps/")?;
    let target = profile_dir.parent().ok_or("no target directory")?;
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["build", "-p", "kms", "--target-dir"])
        .arg(target);
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => {}
        Some("release") => {
            cmd.arg("--release");
        }
        Some(other) => {
            cmd.args(["--profile", other]);
        }
        None => return Err(format!("no profile in {}", profile_dir.display())),
    }
    eprintln!("signer bench: {cmd:?}");
    let status = cmd.status().map_err(|e| format!("{cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?}: {status}"))
    }
}

fn kms() -> PathBuf {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let explicit = std::env::var_os("KMS_BIN").is_some();
    if !explicit && (bench_mode || kms_binary().is_err()) {
        build_kms().unwrap_or_else(|e| panic!("cannot build the kms binary: {e}"));
    }
    kms_binary().unwrap_or_else(|e| panic!("{e}"))
}

fn bench(c: &mut Criterion) {
    let bin = kms();
    eprintln!("signer bench: {}", bin.display());
    let kms = Kms::start(&bin).unwrap_or_else(|e| panic!("{e}"));
    let params = SolParams::new().unwrap_or_else(|e| panic!("{e}"));
    let mut covered = kms.covered(&params, 1).unwrap_or_else(|e| panic!("{e}"));
    c.bench_function("signer/e2e_sign_covered_by_standing_intent", |b| {
        b.iter(|| covered.sign().unwrap_or_else(|e| panic!("{e}")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
