//! Prints the Solana addresses of a seed phrase, one base58 address per line.
//!
//! ```sh
//! cargo run -p kms-core --example derive -- --mnemonic "<words>" [--passphrase P] \
//!     [--path "m/44'/501'/0'/0'"] [--count N]
//! ```
//!
//! With `--count N`, prints wallets 0..N-1 of the default family `m/44'/501'/i'/0'` (or, with
//! `--path`, of the path whose third step is replaced by `i'`). Bad input: a message on stderr
//! and exit code 2.

use std::process::ExitCode;
use std::str::FromStr;

use kms_core::{DerivationPath, Mnemonic};
use zeroize::Zeroizing;

const USAGE: &str = "usage: derive --mnemonic \"<words>\" [--passphrase P] [--path \"m/44'/501'/0'/0'\"] [--count N]";

struct Args {
    mnemonic: Zeroizing<String>,
    passphrase: Zeroizing<String>,
    path: Option<String>,
    count: Option<u32>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        mnemonic: Zeroizing::new(String::new()),
        passphrase: Zeroizing::new(String::new()),
        path: None,
        count: None,
    };
    let mut it = std::env::args().skip(1);
    let mut have_mnemonic = false;
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
        match flag.as_str() {
            "--mnemonic" => {
                args.mnemonic = Zeroizing::new(value("--mnemonic")?);
                have_mnemonic = true;
            }
            "--passphrase" => args.passphrase = Zeroizing::new(value("--passphrase")?),
            "--path" => args.path = Some(value("--path")?),
            "--count" => {
                let v = value("--count")?;
                let n: u32 = v.parse().map_err(|_| {
                    format!("--count must be a whole number from 1 to 10000, got {v:?}")
                })?;
                if !(1..=10_000).contains(&n) {
                    return Err(format!("--count must be from 1 to 10000, got {n}"));
                }
                args.count = Some(n);
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if !have_mnemonic {
        return Err("--mnemonic is required".into());
    }
    Ok(args)
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let mnemonic = Mnemonic::parse(&args.mnemonic).map_err(|e| format!("--mnemonic: {e}"))?;
    let seed = mnemonic.to_seed(&args.passphrase);
    let base = match &args.path {
        Some(p) => DerivationPath::from_str(p).map_err(|e| format!("--path: {e}"))?,
        None => DerivationPath::from_str("m/44'/501'/0'/0'").map_err(|e| e.to_string())?,
    };
    let paths: Vec<DerivationPath> = match args.count {
        None => vec![base],
        Some(n) => {
            let idx = base.indices();
            if idx.len() < 3 {
                return Err(
                    "--count needs a path with at least three steps (m/44'/501'/i'...)".into(),
                );
            }
            (0..n)
                .map(|i| {
                    let mut v = idx.to_vec();
                    v[2] = i;
                    DerivationPath::from_hardened(&v).map_err(|e| e.to_string())
                })
                .collect::<Result<_, _>>()?
        }
    };
    for p in &paths {
        println!("{}", seed.derive(p).address());
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("error: {msg}");
            }
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
