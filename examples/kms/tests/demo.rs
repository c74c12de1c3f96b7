//! `kms demo` end to end: the real processes, the Bot API emulator as the user's phone, and the
//! Solana runtime (`kms-svm`, built by `scripts/test.sh` into `target/svm/release/`) executing
//! what was signed. Every step must behave as expected.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;

#[test]
fn the_demo_runs_every_step_as_expected() {
    let kms = Path::new(env!("CARGO_BIN_EXE_kms"));
    let svm = kms_demo::find_svm(kms);
    assert!(
        svm.exists(),
        "{} is missing: build it with `CARGO_TARGET_DIR=target/svm cargo build --release --manifest-path examples/kms-demo/svm/Cargo.toml` (scripts/test.sh does)",
        svm.display()
    );
    let demo = kms_demo::Demo {
        kms: kms.to_path_buf(),
        svm,
    };
    let mut transcript = Vec::new();
    let result = demo.run(&mut transcript);
    let text = String::from_utf8_lossy(&transcript).into_owned();
    let summary = result.unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(summary.steps, 14, "{text}");
    assert!(summary.executed >= 2, "{text}");
    assert!(summary.refused >= 3, "{text}");
    assert!(!text.contains("NOT as expected"), "{text}");
}
