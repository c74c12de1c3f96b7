//! Operator check of a TPM: prints its PCR values and endorsement-key fingerprint, then makes
//! a quote over a fresh nonce and verifies it in pure Rust.
//!
//! ```text
//! cargo run -p kms-tpm --example tpm-check                       # /dev/tpmrm0 (or $KMS_TPM_TCTI)
//! cargo run -p kms-tpm --example tpm-check -- --tcti swtpm:host=127.0.0.1,port=2321
//! cargo run -p kms-tpm --example tpm-check -- --swtpm --pcrs sha256:0,1,2,3,4,5,6,7,11
//! ```

use kms_tpm::swtpm::Swtpm;
use kms_tpm::{
    DEFAULT_TCTI, PcrAllowlist, PcrSelection, TCTI_ENV, Tpm, ek_fingerprint_hex, verify_quote,
};

fn usage() -> ! {
    eprintln!(
        "usage: tpm-check [--tcti TCTI] [--swtpm] [--pcrs BANK:N,N,...]\n  \
         --tcti   TPM to use (default ${TCTI_ENV}, else {DEFAULT_TCTI})\n  \
         --swtpm  start a throw-away software TPM on 127.0.0.1 instead\n  \
         --pcrs   PCRs to print and quote (default {})",
        PcrSelection::measured_boot()
    );
    std::process::exit(2)
}

fn main() {
    if let Err(e) = run() {
        eprintln!("tpm-check: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), kms_tpm::Error> {
    let mut tcti = std::env::var(TCTI_ENV).unwrap_or_else(|_| DEFAULT_TCTI.to_owned());
    let mut selection = PcrSelection::measured_boot();
    let mut use_swtpm = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--tcti" => tcti = args.next().unwrap_or_else(|| usage()),
            "--pcrs" => selection = args.next().unwrap_or_else(|| usage()).parse()?,
            "--swtpm" => use_swtpm = true,
            _ => usage(),
        }
    }
    let _swtpm = if use_swtpm {
        let s = Swtpm::start()?;
        tcti = s.tcti();
        Some(s)
    } else {
        None
    };

    println!("TPM: {tcti}");
    let mut tpm = Tpm::open(&tcti)?;
    let ek = tpm.endorsement_key_public()?;
    println!(
        "endorsement key fingerprint (for a join allowlist): {}",
        ek_fingerprint_hex(&ek)
    );

    let values = tpm.read_pcrs(selection)?;
    println!("PCRs {selection}:");
    for (i, v) in values.iter() {
        println!(
            "  {i:>2}: {}",
            v.iter().map(|b| format!("{b:02x}")).collect::<String>()
        );
    }
    println!(
        "policy digest for sealing to these values: {}",
        hex(&values.policy_digest())
    );

    let ak = tpm.create_attestation_key()?;
    let mut nonce = [0u8; 32];
    getrandom::fill(&mut nonce).map_err(|_| kms_tpm::Error::Rng)?;
    let started = std::time::Instant::now();
    let quote = tpm.quote(&ak, &nonce, selection)?;
    let quote_time = started.elapsed();
    let mut allow = PcrAllowlist::new(selection);
    allow.allow(values)?;
    let started = std::time::Instant::now();
    verify_quote(ak.public(), &quote, &nonce, &allow)?;
    println!(
        "quote: {} bytes signed by a fresh attestation key over nonce {} ({:?}); verified in pure Rust ({:?}): OK",
        quote.attest.len(),
        hex(&nonce),
        quote_time,
        started.elapsed()
    );
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
