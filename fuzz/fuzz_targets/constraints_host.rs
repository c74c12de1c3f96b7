//! Arbitrary module bytes into the host: loading either refuses with a typed error or yields a
//! module that then validates a fixed message to a typed outcome; never a host panic, hang or
//! unbounded memory (fuel and memory limits apply).
#![no_main]

use kms_constraints::{HostConfig, Registry};
use libfuzzer_sys::fuzz_target;

/// A one-transfer legacy message the host's parser accepts.
fn message() -> Vec<u8> {
    let mut m = vec![1, 0, 1, 3];
    m.extend_from_slice(&[7; 32]);
    m.extend_from_slice(&[9; 32]);
    m.extend_from_slice(&[0; 32]);
    m.extend_from_slice(&[0xAB; 32]);
    m.extend_from_slice(&[1, 2, 2, 0, 1, 12, 2, 0, 0, 0]);
    m.extend_from_slice(&5u64.to_le_bytes());
    m
}

fuzz_target!(|data: &[u8]| {
    let mut r = Registry::new(HostConfig::default().with_fuel(200_000));
    if let Ok(h) = r.load(data) {
        let _ = r.validate(&h, &message(), &[], data.get(..16).unwrap_or(&[]));
    }
});
