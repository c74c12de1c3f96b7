//! clientDataJSON parsing, and registration verification over arbitrary client data and
//! attestation objects: never panic, and random bytes never register a passkey.
#![no_main]

use kms_intent::RelyingParty;
use kms_intent::webauthn::{parse_client_data, verify_registration};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(cd) = parse_client_data(data) {
        assert!(data.len() <= 8192);
        // The challenge decoded from canonical base64url re-encodes to at most 4/3 of the input.
        assert!(cd.challenge.len() <= data.len());
    }
    // Split the input into client data and an attestation object. The fuzzer can find neither a
    // SHA-256 preimage of the rpId hash nor the challenge, so registration must fail.
    let mid = data.len() / 2;
    let (cd, att) = data.split_at(mid);
    let rp = RelyingParty::new("wallet.example");
    assert!(verify_registration(&rp, &[0x5a; 32], cd, att, "fuzz", 0).is_err());
});
