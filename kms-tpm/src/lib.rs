#![doc = include_str!("../README.md")]

mod attest;
mod blob;
mod ekcert;
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
pub use ekcert::{
    EK_CERT_NV_INDEX_ECC_P256, EK_CERT_NV_INDEX_RSA_2048, EkAlgorithm, EkTrustStore,
    MAX_EK_CERTIFICATE, MAX_EK_CHAIN_DEPTH, VerifiedEkCertificate, verify_ek_certificate,
};
pub use error::Error;
pub use join::{
    AwaitingSecret, HelloSent, JOIN_MAGIC, JOIN_VERSION, JoinChallenge, JoinHello, JoinMessage,
    JoinPolicy, JoinRequest, JoinResponse, Joiner, MAX_HANDOVER_SECRET, MAX_JOIN_MESSAGE,
    PendingJoin, Sponsor,
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

    /// Validates `cert` as an EK certificate for `ek_public` against a store whose roots and
    /// intermediates are `anchors` (each added if it decodes), at UNIX time `now`.
    pub fn verify_ek_chain(cert: &[u8], ek_public: &[u8], anchors: &[&[u8]], now: u64) -> bool {
        let mut store = crate::EkTrustStore::new();
        for (i, a) in anchors.iter().enumerate() {
            let _ = if i == 0 {
                store.add_root(a)
            } else {
                store.add_intermediate(a)
            };
        }
        let now = std::time::UNIX_EPOCH + std::time::Duration::from_secs(now);
        crate::verify_ek_certificate(cert, ek_public, &store, now).is_ok()
    }
}
