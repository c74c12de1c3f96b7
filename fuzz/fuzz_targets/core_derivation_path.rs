//! Derivation-path parsing: never panics; whatever parses displays back to itself (after
//! normalizing `h`/`H` to `'`) and parses again to the same path.
#![no_main]

use std::str::FromStr;

use kms_core::DerivationPath;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(path) = DerivationPath::from_str(text) {
        let shown = path.to_string();
        assert_eq!(shown, text.replace(['h', 'H'], "'"));
        assert_eq!(DerivationPath::from_str(&shown).ok(), Some(path));
    }
});
