//! Backup-file decoding: arbitrary bytes never panic and never decrypt. Inputs whose header
//! passes every structural check would run Argon2id (64 MiB); those are rare and bounded.
#![no_main]

use kms_core::{Error, import_backup};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // Keep each execution fast: a structurally valid header with the minimum parameters runs
    // one Argon2id at 64 MiB; anything asking for more is refused before any work.
    match import_backup(data, b"fuzz password") {
        Ok(_) => panic!("random bytes decrypted as a backup"),
        Err(e) => {
            let msg = e.to_string();
            assert!(!msg.contains("fuzz password"));
            let _ = matches!(e, Error::WrongPassword);
        }
    }
});
