//! User-state decoding: never panics, and the encoding is canonical (decode → encode gives the
//! same bytes back).
#![no_main]

use kms_intent::UserState;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = UserState::decode(data) {
        assert_eq!(s.encode().as_slice(), data);
    }
});
