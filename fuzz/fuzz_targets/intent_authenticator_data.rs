//! WebAuthn authenticator data, attestation objects and CBOR: never panic; a parse consumes the
//! whole input exactly; CBOR decoding agrees with its prefix form.
#![no_main]

use kms_intent::webauthn::{cbor, parse_attestation_object, parse_authenticator_data};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(ad) = parse_authenticator_data(data) {
        assert_eq!(ad.sign_count.to_be_bytes(), data[33..37]);
        if let Some(att) = ad.attested {
            assert!(!att.credential_id.is_empty() && att.credential_id.len() <= 1023);
        }
    }
    if let Ok(att) = parse_attestation_object(data) {
        let _ = parse_authenticator_data(att.auth_data);
    }
    match (cbor::decode(data), cbor::decode_prefix(data)) {
        (Ok(v), Ok((p, n))) => {
            assert_eq!(n, data.len());
            assert_eq!(v, p);
        }
        (Ok(_), Err(_)) => panic!("whole decode succeeded where prefix decode failed"),
        _ => {}
    }
});
