//! Sealed-blob decoding (TPM and development formats): arbitrary bytes never panic, and a blob
//! that decodes re-encodes to exactly the same bytes (the format is canonical).
#![no_main]

use std::sync::{Mutex, OnceLock};

use kms_tpm::{InsecureDevSealer, Sealer as _, SealedBlob};
use libfuzzer_sys::fuzz_target;

fn dev() -> &'static Mutex<InsecureDevSealer> {
    static DEV: OnceLock<(tempfile::TempDir, Mutex<InsecureDevSealer>)> = OnceLock::new();
    &DEV.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let s = InsecureDevSealer::with_warning_sink(&dir.path().join("dev.key"), Box::new(|_| {}))
            .expect("dev sealer");
        (dir, Mutex::new(s))
    })
    .1
}

fuzz_target!(|data: &[u8]| {
    if let Ok(blob) = SealedBlob::from_bytes(data) {
        assert_eq!(blob.to_bytes().expect("re-encode"), data, "non-canonical sealed blob accepted");
        let _ = format!("{blob:?}");
    }
    let mut dev = dev().lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    assert!(dev.unseal(data).is_err(), "random bytes unsealed under the development key");
});
