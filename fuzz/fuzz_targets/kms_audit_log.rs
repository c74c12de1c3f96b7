//! The reference signer's audit log as `kms audit verify` reads it (the signer's own module,
//! compiled in here from `examples/kms/src/audit.rs`): arbitrary bytes never panic, the verdict
//! is deterministic, and random bytes never verify as an intact non-empty hash chain (forging one
//! needs SHA-256 preimages).
#![no_main]
#![allow(dead_code, unreachable_pub, clippy::all)]

#[path = "../../examples/kms/src/audit.rs"]
mod audit;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let report = audit::verify_bytes(data);
    assert_eq!(report.to_string(), audit::verify_bytes(data).to_string());
    if let audit::VerifyReport::Ok { entries, .. } = report {
        assert!(
            entries == 0,
            "a fuzzer-made log verified as an intact chain of {entries} entries"
        );
    }
});
