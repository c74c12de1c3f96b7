//! The crate's one error type.

use std::path::PathBuf;

use crate::pcr::PcrBank;

/// Everything that can go wrong in `kms-tpm`. Messages say what was wrong and what to check;
/// they never contain secret material. Cryptographic failures are opaque
/// ([`Error::DecryptionFailed`], [`Error::QuoteSignatureInvalid`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The TCTI string is not one `tss-esapi` understands.
    #[error(
        "invalid TCTI configuration {tcti:?}: expected e.g. `device:/dev/tpmrm0` or `swtpm:host=127.0.0.1,port=2321`"
    )]
    InvalidTcti {
        /// The rejected configuration string.
        tcti: String,
    },
    /// A TPM command failed (the TPM refused it, or the TPM could not be reached).
    #[error("TPM operation `{operation}` failed: {source}")]
    Tpm {
        /// What this crate was doing.
        operation: &'static str,
        /// The TSS error (a response code; never secret data).
        #[source]
        source: tss_esapi::Error,
    },
    /// Unseal refused: the current PCR values differ from the policy the secret was sealed to.
    #[error(
        "PCRs {pcrs:?} of the {bank} bank differ from the sealed policy: this boot state is not the one the secret was sealed to"
    )]
    PolicyMismatch {
        /// The bank of the sealed policy.
        bank: PcrBank,
        /// The PCR indices whose current value differs from the sealed value.
        pcrs: Vec<u8>,
    },
    /// Input bytes (a blob file, a protocol message, a TPM structure) do not decode.
    #[error("malformed {what}")]
    Malformed {
        /// Which structure or field.
        what: &'static str,
    },
    /// A blob or message of a format version this build does not read.
    #[error("unsupported {what} version {found}")]
    UnsupportedVersion {
        /// Which format.
        what: &'static str,
        /// The version found.
        found: u16,
    },
    /// A PCR selection that cannot be used.
    #[error("invalid PCR selection: {reason}")]
    InvalidPcrSelection {
        /// Why.
        reason: &'static str,
    },
    /// The secret does not fit in a TPM sealed data object.
    #[error("secret of {len} bytes is larger than the {max} bytes a TPM seals")]
    SecretTooLarge {
        /// Its length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// Authenticated decryption failed: wrong key, or the ciphertext was altered.
    #[error("decryption failed: wrong key or altered data")]
    DecryptionFailed,
    /// A file could not be read or written.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The operating-system random number generator failed.
    #[error("the operating system random number generator failed")]
    Rng,
    /// The quote's signature does not verify under the attestation key.
    #[error("quote signature does not verify under the attestation key")]
    QuoteSignatureInvalid,
    /// The quote was made for another nonce: stale or replayed.
    #[error("quote nonce does not match this session's nonce: stale or replayed quote")]
    QuoteNonceMismatch,
    /// The quote covers another PCR selection than the verifier asked for.
    #[error("quote covers a different PCR selection than required")]
    QuoteSelectionMismatch,
    /// The reported PCR values do not hash to the digest the TPM signed.
    #[error("reported PCR values do not match the quoted PCR digest")]
    PcrDigestMismatch,
    /// The quoted PCR values are not on the allowlist.
    #[error(
        "quoted PCR values are not allowed: PCRs {pcrs:?} differ from the closest allowed state"
    )]
    PcrValuesNotAllowed {
        /// PCR indices that differ from the closest allowed set of values.
        pcrs: Vec<u8>,
    },
    /// The TPM2_Certify of the joiner's decryption key failed a check.
    #[error("key certification rejected: {reason}")]
    CertificationInvalid {
        /// Which check failed.
        reason: &'static str,
    },
    /// The attestation key's public area is not a restricted, TPM-bound P-256 signing key.
    #[error("attestation key rejected: {reason}")]
    AttestationKeyRejected {
        /// Which check failed.
        reason: &'static str,
    },
    /// The endorsement key is not on the trusted allowlist.
    #[error("endorsement key {fingerprint} is not on the trusted allowlist")]
    EndorsementKeyNotTrusted {
        /// Hex SHA-256 fingerprint of the endorsement key's public area.
        fingerprint: String,
    },
    /// The TPM has no EK certificate at the NV index of the EK in use.
    #[error(
        "the TPM has no endorsement-key certificate at NV index {nv_index:#010x}: provision one (manufacturer, or swtpm_setup --create-ek-cert) or trust the EK by fingerprint"
    )]
    EkCertificateMissing {
        /// The NV index read.
        nv_index: u32,
    },
    /// The EK certificate chain does not lead to a configured manufacturer root, or a
    /// certificate on it breaks a rule (CA flags, key usage, unknown critical extension,
    /// signature).
    #[error("endorsement-key certificate rejected: {reason}")]
    EkChainInvalid {
        /// Which rule failed.
        reason: &'static str,
    },
    /// A certificate on the EK chain expired before the verification time.
    #[error("endorsement-key certificate chain: certificate {subject:?} has expired")]
    EkCertificateExpired {
        /// The expired certificate's subject.
        subject: String,
    },
    /// A certificate on the EK chain is not valid yet at the verification time.
    #[error(
        "endorsement-key certificate chain: certificate {subject:?} is not valid yet (check the clock)"
    )]
    EkCertificateNotYetValid {
        /// The certificate's subject.
        subject: String,
    },
    /// The EK certificate certifies another key than the TPM's endorsement key.
    #[error(
        "the endorsement-key certificate's public key is not the TPM's endorsement key: the certificate belongs to another TPM or another EK algorithm"
    )]
    EkPublicMismatch,
    /// The proof of credential activation is wrong: the attestation key is not in the TPM that
    /// owns the endorsement key.
    #[error(
        "credential activation proof invalid: attestation key not bound to the endorsement key"
    )]
    ActivationProofInvalid,
    /// The joiner refused its sponsor: the sponsor's EK is not trusted, its quote is not fresh
    /// or not of an allowed state, or its response was not made by the attested TPM. Nothing
    /// from this sponsor was accepted; the inner error says which check failed.
    #[error("sponsor rejected: {0}")]
    SponsorRejected(#[source] Box<Error>),
    /// A protocol message of another type than the one this step expects.
    #[error("unexpected join message: expected {expected}")]
    UnexpectedMessage {
        /// The expected message type.
        expected: &'static str,
    },
}

impl Error {
    pub(crate) fn tpm(operation: &'static str) -> impl FnOnce(tss_esapi::Error) -> Self {
        move |source| Self::Tpm { operation, source }
    }

    pub(crate) fn io(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Self + '_ {
        move |source| Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
