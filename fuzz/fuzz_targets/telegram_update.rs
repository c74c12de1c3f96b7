//! Arbitrary bytes decoded as a Bot API `Update` (what `getUpdates` and webhooks deliver):
//! never a panic; whatever decodes re-encodes to JSON that decodes to the same update.
#![no_main]

use kms_telegram::api::Update;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(update) = serde_json::from_slice::<Update>(data) else {
        return;
    };
    let text = serde_json::to_vec(&update).expect("an update encodes");
    let again: Update = serde_json::from_slice(&text).expect("the encoding decodes");
    assert_eq!(again, update);
    // Debug never fails either (it hides callback data and texts).
    let _ = format!("{update:?}");
});
