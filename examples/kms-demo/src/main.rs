//! `kms-demo`: runs the whole reference signer on embedded defaults and prints the transcript.
//! `kms demo` runs this binary. Exit code 0 only if every step behaved as expected.
//!
//! Usage: `kms-demo [--kms <path to kms>] [--svm <path to kms-svm>]` (defaults: beside this
//! binary; `kms-svm` also in `target/svm/release/`).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(PathBuf::from)
    };
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("kms-demo"));
    let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
    let demo = kms_demo::Demo {
        kms: flag("--kms").unwrap_or_else(|| dir.join("kms")),
        svm: flag("--svm").unwrap_or_else(|| kms_demo::find_svm(&exe)),
    };
    println!(
        "kms demo: the reference signer, a Telegram emulator as Alice's phone, and a Solana runtime"
    );
    let mut out = std::io::stdout();
    match demo.run(&mut out) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("\nkms demo FAILED at {e}");
            ExitCode::from(1)
        }
    }
}
