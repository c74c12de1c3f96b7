//! Sealed-record decoding: arbitrary bytes never panic, and never open under the fuzzer's key
//! unless they are exactly a record sealed at that location (which random bytes cannot be).
#![no_main]

use kms_core::{MasterKey, RecordKind, RecordLocation, SealedRecord, UserId};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(record) = SealedRecord::from_bytes(data) else { return };
    let _ = format!("{record:?}");
    let mut key = [7u8; 32];
    let master = MasterKey::from_bytes(&mut key, record.epoch());
    let Ok(user) = UserId::new("fuzz") else { return };
    for kind in [RecordKind::Seed, RecordKind::ImportedKey] {
        let at = RecordLocation::new(user.clone(), kind, 0);
        assert!(record.open(&master, &at).is_err(), "forged record opened");
        let _ = RecordLocation::from_store_key(data);
    }
});
