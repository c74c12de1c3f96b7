//! Approval-token decoding: never panics; whatever parses re-encodes to the same text; a token
//! never resolves against a state that did not issue it.
#![no_main]

use kms_intent::{ParsedToken, UserId, UserState};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(p) = ParsedToken::parse(text) {
        assert_eq!(p.encode().expose_secret(), text);
    }
    let mut s = UserState::new(UserId(1));
    assert!(s.resolve(text, 1_750_000_000).is_err());
});
