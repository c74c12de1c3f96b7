//! Join-protocol message decoding and the TPM structures inside (TPMT_PUBLIC, TPMS_ATTEST):
//! arbitrary bytes never panic, and a message that decodes re-encodes to the same bytes.
#![no_main]

use kms_tpm::JoinMessage;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = JoinMessage::from_bytes(data) {
        assert_eq!(msg.to_bytes().expect("re-encode"), data, "non-canonical join message accepted");
        if let JoinMessage::Request(r) = &msg {
            let _ = kms_tpm::fuzzing::decode_public(&r.dk_public);
            let _ = kms_tpm::fuzzing::decode_attest(&r.quote.attest);
        }
    }
    if let Some(name) = kms_tpm::fuzzing::decode_public(data) {
        assert_eq!(name.len(), 34);
    }
    let _ = kms_tpm::fuzzing::decode_attest(data);
});
