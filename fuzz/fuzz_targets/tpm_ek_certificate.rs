//! EK certificate chain validation: arbitrary bytes as the EK certificate, as a trust anchor or
//! as a PEM list never panic, and against a real chain (kms-tpm's committed swtpm vectors) only
//! the genuine certificate validates: any other byte string that passes is a finding.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use kms_tpm::EkTrustStore;
use libfuzzer_sys::fuzz_target;

const ROOT: &[u8] = include_bytes!("../../kms-tpm/tests/data/ek-vectors/rsa-ca-root.pem");
const ISSUER: &[u8] = include_bytes!("../../kms-tpm/tests/data/ek-vectors/rsa-ca-issuer.pem");
const CERT: &[u8] = include_bytes!("../../kms-tpm/tests/data/ek-vectors/rsa-ca-ek-cert.der");
const EK: &[u8] = include_bytes!("../../kms-tpm/tests/data/ek-vectors/rsa-ca-ek-public.bin");
/// 2030-01-01, inside every vector's validity.
const NOW: u64 = 1_893_456_000;

fuzz_target!(|data: &[u8]| {
    let now = UNIX_EPOCH + Duration::from_secs(NOW);
    let mut store = EkTrustStore::new();
    store.add_roots_pem(ROOT).expect("committed root");
    store.add_intermediates_pem(ISSUER).expect("committed issuer");
    if store.verify(data, EK, now).is_ok() {
        assert_eq!(data, CERT, "a certificate other than the genuine one validated");
    }
    // The genuine certificate for an arbitrary EK public area: only the real EK matches.
    if store.verify(CERT, data, now).is_ok() {
        assert_eq!(data, EK, "the certificate validated for another EK");
    }
    // Arbitrary anchors (DER) and PEM lists.
    let _ = kms_tpm::fuzzing::verify_ek_chain(CERT, EK, &[data], NOW);
    let _ = EkTrustStore::new().add_roots_pem(data);
});
