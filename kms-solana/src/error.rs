//! The crate's one error type.

use core::fmt;

/// The part of the wire format a parse error is about.
///
/// Used inside [`Error`] so a message can say *what* was being read, e.g.
/// "input ends inside the account keys at byte 67".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Field {
    /// The compact-u16 number of signatures at the start of a transaction.
    SignatureCount,
    /// The 64-byte signatures.
    Signatures,
    /// The message version prefix byte (`0x80 | version`).
    VersionPrefix,
    /// The three header bytes.
    Header,
    /// The compact-u16 number of static account keys.
    AccountKeyCount,
    /// The 32-byte static account keys.
    AccountKeys,
    /// The 32-byte recent blockhash (or durable nonce).
    RecentBlockhash,
    /// The compact-u16 number of instructions.
    InstructionCount,
    /// An instruction's program id index.
    ProgramIdIndex,
    /// An instruction's compact-u16 number of account indices.
    AccountIndexCount,
    /// An instruction's account indices.
    AccountIndices,
    /// An instruction's compact-u16 data length.
    DataLength,
    /// An instruction's data.
    Data,
    /// The compact-u16 number of address-table lookups (v0).
    LookupCount,
    /// A lookup's 32-byte table address.
    LookupTable,
    /// A lookup's compact-u16 number of writable indices.
    WritableIndexCount,
    /// A lookup's writable indices.
    WritableIndices,
    /// A lookup's compact-u16 number of readonly indices.
    ReadonlyIndexCount,
    /// A lookup's readonly indices.
    ReadonlyIndices,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::SignatureCount => "signature count",
            Self::Signatures => "signatures",
            Self::VersionPrefix => "message version prefix",
            Self::Header => "message header",
            Self::AccountKeyCount => "account key count",
            Self::AccountKeys => "account keys",
            Self::RecentBlockhash => "recent blockhash",
            Self::InstructionCount => "instruction count",
            Self::ProgramIdIndex => "program id index",
            Self::AccountIndexCount => "instruction account count",
            Self::AccountIndices => "instruction account indices",
            Self::DataLength => "instruction data length",
            Self::Data => "instruction data",
            Self::LookupCount => "address table lookup count",
            Self::LookupTable => "lookup table address",
            Self::WritableIndexCount => "lookup writable index count",
            Self::WritableIndices => "lookup writable indices",
            Self::ReadonlyIndexCount => "lookup readonly index count",
            Self::ReadonlyIndices => "lookup readonly indices",
        })
    }
}

/// Every failure of this crate.
///
/// Parse errors carry the byte `offset` (from the start of the input given to the parse function)
/// of the item that is wrong. No variant ever contains key material: the crate handles public data
/// only (transactions, addresses), and signing errors are opaque.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The input ends before the item is complete.
    #[error("input ends inside the {field} at byte {offset}")]
    Truncated {
        /// Where the incomplete item starts.
        offset: usize,
        /// What was being read.
        field: Field,
    },
    /// A compact-u16 length uses more bytes than needed (an alias of a shorter encoding).
    #[error("non-canonical compact-u16 encoding of the {field} at byte {offset}")]
    NonCanonicalLength {
        /// Where the length starts.
        offset: usize,
        /// Which length.
        field: Field,
    },
    /// A compact-u16 length is longer than 3 bytes or larger than 65535.
    #[error("compact-u16 {field} at byte {offset} is longer than 3 bytes or exceeds 65535")]
    LengthOverflow {
        /// Where the length starts.
        offset: usize,
        /// Which length.
        field: Field,
    },
    /// The transaction (or the transaction a bare message would need) exceeds 1232 bytes.
    #[error("transaction of {len} bytes exceeds the {max}-byte packet limit")]
    TooLarge {
        /// The (needed) transaction size.
        len: usize,
        /// The limit, [`crate::PACKET_DATA_SIZE`].
        max: usize,
    },
    /// Bytes follow the end of the transaction or message.
    #[error("{count} trailing bytes after the end at byte {offset}")]
    TrailingBytes {
        /// Where the unexpected bytes start.
        offset: usize,
        /// How many there are.
        count: usize,
    },
    /// A message version other than legacy and v0 (version 1 is the larger-transaction format
    /// of SIMD-0385, which this parser does not accept).
    #[error(
        "unsupported message version {version} at byte {offset}{} (only legacy and v0 are accepted)",
        if *version == 1 { ", the v1 transaction format of SIMD-0385" } else { "" }
    )]
    UnsupportedVersion {
        /// Where the version prefix is.
        offset: usize,
        /// The version number (prefix byte without its top bit).
        version: u8,
    },
    /// The header's counts contradict each other or the number of static keys.
    #[error("invalid message header at byte {offset}: {problem}")]
    InvalidHeader {
        /// Where the header starts.
        offset: usize,
        /// What is inconsistent.
        problem: HeaderProblem,
    },
    /// The number of signatures differs from the header's number of required signatures.
    #[error("{signatures} signatures at byte {offset} but the message requires {required}")]
    SignatureCountMismatch {
        /// Where the signature count is.
        offset: usize,
        /// Signatures present.
        signatures: usize,
        /// Signatures the header requires.
        required: usize,
    },
    /// The same static account key appears twice (the runtime refuses to load an account twice).
    #[error("account key {index} at byte {offset} duplicates account key {first}")]
    DuplicateAccountKey {
        /// Where the duplicate key is.
        offset: usize,
        /// Index of the earlier, equal key.
        first: u8,
        /// Index of the duplicate.
        index: u8,
    },
    /// A lookup table is named without loading any account.
    #[error("address table lookup {lookup} at byte {offset} loads no account")]
    EmptyLookup {
        /// Where the lookup starts.
        offset: usize,
        /// Which lookup (0-based).
        lookup: usize,
    },
    /// The same lookup-table entry is loaded twice (the runtime refuses to load an account twice).
    #[error("lookup table entry {table_index} loaded a second time at byte {offset}")]
    DuplicateLookupEntry {
        /// Where the repeated index is.
        offset: usize,
        /// The repeated index into the table.
        table_index: u8,
    },
    /// Static plus table-loaded accounts exceed 256 (indices are one byte).
    #[error("{total} accounts (static and loaded) exceed 256, at byte {offset}")]
    TooManyAccounts {
        /// Where the lookups start.
        offset: usize,
        /// Static plus loaded accounts.
        total: usize,
    },
    /// An instruction's program id index is out of the static account keys.
    #[error(
        "instruction {instruction} at byte {offset}: program id index {index} is not one of the {static_keys} static account keys"
    )]
    ProgramIndexOutOfRange {
        /// Where the program id index is.
        offset: usize,
        /// Which instruction (0-based).
        instruction: usize,
        /// The index found.
        index: u8,
        /// Number of static account keys.
        static_keys: usize,
    },
    /// An instruction names the fee payer (account 0) as its program.
    #[error("instruction {instruction} at byte {offset}: the fee payer cannot be the program")]
    ProgramIsFeePayer {
        /// Where the program id index is.
        offset: usize,
        /// Which instruction (0-based).
        instruction: usize,
    },
    /// An instruction's account index is out of the static plus loaded accounts.
    #[error(
        "instruction {instruction} at byte {offset}: account index {index} is not one of the {accounts} accounts"
    )]
    AccountIndexOutOfRange {
        /// Where the bad index is.
        offset: usize,
        /// Which instruction (0-based).
        instruction: usize,
        /// The index found.
        index: u8,
        /// Number of accounts (static plus loaded).
        accounts: usize,
    },
    /// Program-derived address: more than 16 seeds, or a seed longer than 32 bytes.
    #[error("invalid PDA seeds: at most 16 seeds of at most 32 bytes each")]
    InvalidSeeds,
    /// Program-derived address: the hash is a curve point (try another bump), or no bump works.
    #[error("no program-derived address off the ed25519 curve for these seeds")]
    NoViableBump,
    /// Text input that is neither valid base58 nor valid base64 of the expected thing.
    #[error("invalid {what} encoding: {reason}")]
    InvalidEncoding {
        /// What was being decoded ("transaction", "address", ...).
        what: &'static str,
        /// Why it failed.
        reason: &'static str,
    },
    /// A lookup table's caller-supplied contents are unusable (index beyond the supplied list, or
    /// the lookup table was not supplied in full).
    #[error("lookup table contents supplied by the caller do not cover index {index}")]
    LookupNotResolved {
        /// The table index that is missing.
        index: u8,
    },
    /// A Solana crate type could not be converted, serialized or built (message text from Solana).
    #[error("Solana type error: {0}")]
    Solana(&'static str),
    /// Signing failed or the key does not belong to a required signer. Deliberately opaque.
    #[error("signing failed")]
    SigningFailed,
    /// One or more signatures do not verify (Solana's verifier).
    #[error("signature verification failed")]
    VerificationFailed,
}

/// What is wrong with a message header, for [`Error::InvalidHeader`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HeaderProblem {
    /// Required signatures plus readonly unsigned accounts exceed the static keys.
    CountsExceedKeys,
    /// No writable signer is left for the fee payer (readonly signed ≥ required signatures).
    NoWritableFeePayer,
}

impl fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::CountsExceedKeys => {
                "required signatures plus readonly unsigned accounts exceed the static account keys"
            }
            Self::NoWritableFeePayer => {
                "readonly signed accounts leave no writable signer to pay the fee"
            }
        })
    }
}

impl Error {
    /// The byte offset of the offending item, for parse errors.
    pub fn offset(&self) -> Option<usize> {
        match *self {
            Self::Truncated { offset, .. }
            | Self::NonCanonicalLength { offset, .. }
            | Self::LengthOverflow { offset, .. }
            | Self::TrailingBytes { offset, .. }
            | Self::UnsupportedVersion { offset, .. }
            | Self::InvalidHeader { offset, .. }
            | Self::SignatureCountMismatch { offset, .. }
            | Self::DuplicateAccountKey { offset, .. }
            | Self::EmptyLookup { offset, .. }
            | Self::DuplicateLookupEntry { offset, .. }
            | Self::TooManyAccounts { offset, .. }
            | Self::ProgramIndexOutOfRange { offset, .. }
            | Self::ProgramIsFeePayer { offset, .. }
            | Self::AccountIndexOutOfRange { offset, .. } => Some(offset),
            _ => None,
        }
    }
}
