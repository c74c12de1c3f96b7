//! The reference signer's replication link (the signer's own module, compiled in here from
//! `examples/kms/src/replica.rs`): the JSON frames the bridge sends the signer (`ToSigner`, which
//! carry what NATS delivered) and the signer sends the bridge (`ToBridge`), and the KV keys both
//! sides parse. Arbitrary bytes never panic; a decoded frame re-encodes and decodes to the same
//! frame (byte for byte once re-encoded); a key parses only in the one spelling this version writes.
#![no_main]
#![allow(dead_code, unreachable_pub, clippy::all)]

#[path = "../../examples/kms/src/util.rs"]
mod util;

#[path = "../../examples/kms/src/replica.rs"]
mod replica;

use libfuzzer_sys::fuzz_target;
use replica::{ReplicaKey, ToBridge, ToSigner};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = serde_json::from_slice::<ToSigner>(data) {
        let json = serde_json::to_vec(&m).unwrap();
        let again: ToSigner = serde_json::from_slice(&json).unwrap();
        assert_eq!(serde_json::to_vec(&again).unwrap(), json);
    }
    if let Ok(m) = serde_json::from_slice::<ToBridge>(data) {
        let json = serde_json::to_vec(&m).unwrap();
        let again: ToBridge = serde_json::from_slice(&json).unwrap();
        assert_eq!(serde_json::to_vec(&again).unwrap(), json);
    }
    if let Ok(s) = std::str::from_utf8(data)
        && let Some(k) = ReplicaKey::from_kv(s)
    {
        assert_eq!(k.to_kv(), s, "a second spelling of a key parsed");
    }
});
