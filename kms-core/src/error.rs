//! The one error type of `kms-core`.

use thiserror::Error;

/// Everything that can go wrong in `kms-core`.
///
/// Messages say what was wrong and, for input, where; they never contain secret material
/// (words of a seed phrase, key bytes, passwords). Cryptographic failures are deliberately
/// opaque: a sealed record that does not open is [`Error::DecryptionFailed`] whatever the cause.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A seed phrase word is not in the BIP39 English word list.
    #[error("seed phrase word {position} (counting from 1) is not in the BIP39 English word list")]
    UnknownWord {
        /// 1-based position of the word.
        position: usize,
    },
    /// A seed phrase has a word count BIP39 does not allow.
    #[error("seed phrase has {count} words; BIP39 phrases have 12, 15, 18, 21 or 24 words")]
    BadWordCount {
        /// Number of words found.
        count: usize,
    },
    /// All words are valid but the BIP39 checksum does not match: a word is wrong or misplaced.
    #[error("seed phrase checksum does not match: a word is wrong or out of order")]
    BadChecksum,
    /// A derivation path could not be parsed.
    #[error("invalid derivation path at character {position}: {reason}")]
    InvalidPath {
        /// 0-based byte offset in the path string.
        position: usize,
        /// What is wrong there.
        reason: &'static str,
    },
    /// ed25519 (SLIP-0010) derivation only has hardened steps.
    #[error(
        "derivation step {step} is not hardened; SLIP-0010 ed25519 only supports hardened steps (write {index}')"
    )]
    NonHardenedStep {
        /// 1-based step number.
        step: usize,
        /// The index written without the hardened mark.
        index: u32,
    },
    /// A base58 address or key did not decode.
    #[error("invalid base58 {what}: {reason}")]
    InvalidBase58 {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed (no input echoed).
        reason: &'static str,
    },
    /// A keypair (64 bytes: secret then public) is malformed or its halves do not match.
    #[error("invalid Solana keypair: {0}")]
    InvalidKeypair(&'static str),
    /// A user identity is empty or too long.
    #[error("invalid user id: must be 1 to {max} bytes, got {len}")]
    InvalidUserId {
        /// Length given.
        len: usize,
        /// Maximum accepted length.
        max: usize,
    },
    /// Record bytes are not a well-formed sealed record.
    #[error("malformed sealed record: {0}")]
    MalformedRecord(&'static str),
    /// The record's format version is not one this build reads.
    #[error("sealed record format version {0} is not supported (this build reads version 1)")]
    UnsupportedRecordVersion(u8),
    /// Opening failed: wrong master key, record moved to another user/id/kind, or modified bytes.
    #[error("decryption failed")]
    DecryptionFailed,
    /// The operation does not apply to this kind of record.
    #[error("wrong record kind: expected {expected}, found {found}")]
    WrongRecordKind {
        /// The kind the operation needs.
        expected: &'static str,
        /// The kind found.
        found: &'static str,
    },
    /// The record is sealed under another master-key epoch than the key supplied.
    #[error(
        "record is sealed under master-key epoch {record}, but the key supplied is epoch {key}"
    )]
    EpochMismatch {
        /// Epoch written in the record.
        record: u32,
        /// Epoch of the key supplied.
        key: u32,
    },
    /// A record already exists at this location (create-if-absent).
    #[error("a record already exists at this location")]
    AlreadyExists,
    /// No record at this location.
    #[error("no record at this location")]
    NotFound,
    /// Compare-and-swap found other bytes than expected: someone else updated the record.
    #[error("record changed concurrently (compare-and-swap mismatch); reload and retry")]
    Conflict,
    /// The storage backend failed.
    #[error("key store error: {0}")]
    Store(String),
    /// The storage backend could not be reached (a replicated store that did not answer):
    /// nothing was stored, and the same operation may succeed when retried.
    #[error("key store unavailable: {0}; retry")]
    Unavailable(String),
    /// A backup file is shorter than its header says.
    #[error("backup file is truncated: {0}")]
    BackupTruncated(&'static str),
    /// A backup file is not a backup file, or has bytes after its end.
    #[error("not a valid backup file: {0}")]
    BackupMalformed(&'static str),
    /// The backup's format version is not one this build reads.
    #[error("backup format version {0} is not supported (this build reads version 1)")]
    UnsupportedBackupVersion(u8),
    /// The Argon2 parameters in the header are outside what this build accepts.
    #[error("backup uses Argon2id parameters outside the accepted range: {0}")]
    BackupParameters(&'static str),
    /// The password does not match this backup (or its header was altered).
    #[error("wrong password for this backup (or its header was altered)")]
    WrongPassword,
    /// The password matched but the encrypted body was altered.
    #[error("backup body was tampered with or corrupted: authentication failed")]
    BackupTampered,
    /// The operating system's random number generator failed.
    #[error("the operating system's random number generator failed")]
    Rng,
}

/// Shorthand for `Result<T, kms_core::Error>`.
pub type Result<T, E = Error> = core::result::Result<T, E>;

impl From<redb::Error> for Error {
    fn from(e: redb::Error) -> Self {
        Error::Store(e.to_string())
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self { Error::Store(e.to_string()) }
        }
    )*};
}
from_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Fills `buf` from the operating system's random number generator.
pub(crate) fn os_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|_| Error::Rng)
}
