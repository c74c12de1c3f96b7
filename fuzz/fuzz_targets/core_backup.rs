//! Backup-file decoding: arbitrary bytes never panic. Structural checks (`inspect_backup`) run
//! on every input; where they refuse a file, `import_backup` refuses it with the same error
//! before any key derivation. Inputs that pass them would cost one Argon2id run (64 MiB) and
//! cannot decrypt without the password, so they stop at the header.
#![no_main]

use kms_core::{import_backup, inspect_backup};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match inspect_backup(data) {
        Ok(info) => assert!(info.body_len + 98 == data.len()),
        Err(e) => {
            assert_eq!(import_backup(data, b"fuzz password").err(), Some(e.clone()));
            assert!(!e.to_string().contains("fuzz password"));
        }
    }
});
