//! Operator check of a TPM: prints its endorsement-key fingerprint, its EK certificate and the
//! result of validating that certificate's chain to the manufacturer roots given, its PCR
//! values, then makes a quote over a fresh nonce and verifies it in pure Rust.
//!
//! ```text
//! cargo run -p kms-tpm --example tpm-check                       # /dev/tpmrm0 (or $KMS_TPM_TCTI)
//! cargo run -p kms-tpm --example tpm-check -- --tcti swtpm:host=127.0.0.1,port=2321
//! cargo run -p kms-tpm --example tpm-check -- --swtpm --pcrs sha256:0,1,2,3,4,5,6,7,11
//! cargo run -p kms-tpm --example tpm-check -- --ek rsa --ek-roots roots.pem --ek-intermediates cas.pem
//! cargo run -p kms-tpm --example tpm-check -- --swtpm-ek-certs   # swtpm + a swtpm_localca CA
//! ```
//!
//! Exit status: 0 all checks passed, 1 an error, 3 the EK certificate chain was refused.

use std::path::PathBuf;
use std::time::SystemTime;

use kms_tpm::swtpm::{LocalCa, Swtpm};
use kms_tpm::{
    DEFAULT_TCTI, EkAlgorithm, EkTrustStore, PcrAllowlist, PcrSelection, TCTI_ENV, Tpm,
    ek_fingerprint_hex, verify_ek_certificate, verify_quote,
};

fn usage() -> ! {
    eprintln!(
        "usage: tpm-check [--tcti TCTI] [--swtpm | --swtpm-ek-certs] [--pcrs BANK:N,N,...]\n                 \
         [--ek ecc|rsa] [--ek-roots PEM] [--ek-intermediates PEM]\n  \
         --tcti              TPM to use (default ${TCTI_ENV}, else {DEFAULT_TCTI})\n  \
         --swtpm             start a throw-away software TPM on 127.0.0.1 instead\n  \
         --swtpm-ek-certs    the same, manufactured with EK certificates by a throw-away\n                      \
         swtpm_localca CA, which is then the trusted root (implies --ek rsa)\n  \
         --pcrs              PCRs to print and quote (default {})\n  \
         --ek                endorsement key: ecc (P-256, default) or rsa (RSA 2048)\n  \
         --ek-roots          manufacturer root certificates (PEM) to validate the EK certificate to\n  \
         --ek-intermediates  intermediate CA certificates (PEM) for the chain",
        PcrSelection::measured_boot()
    );
    std::process::exit(2)
}

fn main() {
    match run() {
        Ok(true) => {}
        Ok(false) => std::process::exit(3),
        Err(e) => {
            eprintln!("tpm-check: {e}");
            std::process::exit(1);
        }
    }
}

fn read(path: &PathBuf) -> Result<Vec<u8>, kms_tpm::Error> {
    std::fs::read(path).map_err(|source| kms_tpm::Error::Io {
        path: path.clone(),
        source,
    })
}

/// Runs the checks; `Ok(false)` if the EK certificate chain was refused.
fn run() -> Result<bool, kms_tpm::Error> {
    let mut tcti = std::env::var(TCTI_ENV).unwrap_or_else(|_| DEFAULT_TCTI.to_owned());
    let mut selection = PcrSelection::measured_boot();
    let (mut use_swtpm, mut use_localca) = (false, false);
    let mut ek_algorithm = EkAlgorithm::EccP256;
    let (mut roots, mut intermediates) = (Vec::new(), Vec::new());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--tcti" => tcti = value(),
            "--pcrs" => selection = value().parse()?,
            "--swtpm" => use_swtpm = true,
            "--swtpm-ek-certs" => use_localca = true,
            "--ek" => {
                ek_algorithm = match value().as_str() {
                    "ecc" => EkAlgorithm::EccP256,
                    "rsa" => EkAlgorithm::Rsa2048,
                    _ => usage(),
                }
            }
            "--ek-roots" => roots.push(PathBuf::from(value())),
            "--ek-intermediates" => intermediates.push(PathBuf::from(value())),
            _ => usage(),
        }
    }
    let mut trust = EkTrustStore::new();
    for r in &roots {
        trust.add_roots_pem(&read(r)?)?;
    }
    for i in &intermediates {
        trust.add_intermediates_pem(&read(i)?)?;
    }
    let mut _ca = None;
    let _swtpm = if use_localca {
        let ca = LocalCa::new()?;
        let s = Swtpm::start_with_ek_certificates(&ca)?;
        trust = ca.trust_store()?;
        ek_algorithm = EkAlgorithm::Rsa2048;
        _ca = Some(ca);
        tcti = s.tcti();
        Some(s)
    } else if use_swtpm {
        let s = Swtpm::start()?;
        tcti = s.tcti();
        Some(s)
    } else {
        None
    };

    println!("TPM: {tcti}");
    let mut tpm = Tpm::open(&tcti)?.with_endorsement_key(ek_algorithm);
    let ek = tpm.endorsement_key_public()?;
    println!(
        "endorsement key ({ek_algorithm:?}) fingerprint (for a join allowlist): {}",
        ek_fingerprint_hex(&ek)
    );
    let chain_ok = check_ek_certificate(&mut tpm, &ek, &trust)?;

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
    Ok(chain_ok)
}

/// Reads the EK certificate and prints the chain validation result. `Ok(false)` only when a
/// certificate was validated against configured roots and refused.
fn check_ek_certificate(
    tpm: &mut Tpm,
    ek: &[u8],
    trust: &EkTrustStore,
) -> Result<bool, kms_tpm::Error> {
    let index = tpm.endorsement_key_algorithm().certificate_nv_index();
    let cert = match tpm.endorsement_key_certificate() {
        Ok(c) => c,
        Err(kms_tpm::Error::EkCertificateMissing { .. }) => {
            println!(
                "EK certificate: none at NV index {index:#010x} (trust this TPM by fingerprint; or try --ek rsa)"
            );
            return Ok(true);
        }
        Err(e) => return Err(e),
    };
    println!(
        "EK certificate: {} bytes at NV index {index:#010x}",
        cert.len()
    );
    if trust.is_empty() {
        println!("EK certificate chain: not checked (no --ek-roots given)");
        return Ok(true);
    }
    match verify_ek_certificate(&cert, ek, trust, SystemTime::now()) {
        Ok(v) => {
            println!("EK certificate chain: OK: {}", v.chain.join(" <- "));
            Ok(true)
        }
        Err(e) => {
            println!("EK certificate chain: REFUSED: {e}");
            Ok(false)
        }
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
