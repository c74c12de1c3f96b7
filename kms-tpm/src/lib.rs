#![doc = include_str!("../README.md")]

mod attest;
mod blob;
mod error;
mod join;
mod pcr;
mod sealer;
mod secret;
pub mod swtpm;
mod tpm;
mod wire;

pub use attest::{PcrAllowlist, VerifiedQuote, ek_fingerprint, ek_fingerprint_hex, verify_quote};
pub use blob::{
    MAX_BLOB_FILE, SEALED_BLOB_MAGIC, SEALED_BLOB_VERSION, SealedBlob, read_blob_file,
    write_blob_file,
};
pub use error::Error;
pub use join::{
    AwaitingSecret, JOIN_MAGIC, JOIN_VERSION, JoinChallenge, JoinHello, JoinMessage, JoinPolicy,
    JoinRequest, JoinResponse, Joiner, MAX_HANDOVER_SECRET, MAX_JOIN_MESSAGE, PendingJoin, Sponsor,
};
pub use pcr::{PCR_COUNT, PcrBank, PcrSelection, PcrValues};
pub use sealer::{
    DEV_BLOB_MAGIC, DEV_BLOB_VERSION, DEV_SEALER_WARNING, DevSealer, InsecureDevSealer, Sealer,
};
pub use secret::SecretBytes;
pub use tpm::{
    AttestationKey, Certification, DEFAULT_TCTI, DecryptionKey, MAX_SEALED_SECRET, Quote, TCTI_ENV,
    Tpm, TpmSealer,
};

/// Decoders of outside bytes, exposed for the fuzz targets (they are also reachable through
/// [`SealedBlob::from_bytes`] and [`JoinMessage::from_bytes`]).
#[doc(hidden)]
pub mod fuzzing {
    /// Decodes a `TPMT_PUBLIC`; returns its name on success.
    pub fn decode_public(bytes: &[u8]) -> Option<Vec<u8>> {
        crate::wire::PublicArea::decode(bytes)
            .ok()
            .map(|a| a.name())
    }

    /// Decodes a `TPMS_ATTEST` (quote or certify).
    pub fn decode_attest(bytes: &[u8]) -> bool {
        crate::wire::Attest::decode(bytes).is_ok()
    }
}
