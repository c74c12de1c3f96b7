//! Entry points of the `std` build (hosts: the reference signer, the CLI, `kms-constraints` in a
//! `std` build) that differ from the `no_std` build the built-in WASM modules compile.
//!
//! Why a separate file: the modules' bytes, which users authorize by hash, carry source line
//! numbers of `message.rs` (panic locations), so even a comment added there changes every
//! module. Host-only behaviour therefore lives here.

use crate::{Error, Message};

/// The top bit of a versioned message's first byte.
const VERSION_PREFIX: u8 = 0x80;

/// Parses a bare message (the bytes a transaction's signatures sign), legacy or v0.
///
/// Same rules as [`parse_transaction`](crate::parse_transaction); the size limit applies to the
/// transaction that would carry this message (its signatures plus the message must fit in
/// [`PACKET_DATA_SIZE`](crate::PACKET_DATA_SIZE)). A version other than 0 is refused by name
/// before the size check, as `parse_transaction` does: a v1 message (SIMD-0385) may be up to
/// 4,096 bytes and is reported as [`Error::UnsupportedVersion`], not as too large. (The `no_std`
/// build, which runs inside the built-in modules after the host has parsed the message, skips
/// that first check.)
///
/// # Errors
/// A typed [`Error`] naming the problem and its byte offset in `bytes`.
pub fn parse_message(bytes: &[u8]) -> Result<Message<'_>, Error> {
    if let Some(&first) = bytes.first()
        && first & VERSION_PREFIX != 0
        && first & !VERSION_PREFIX != 0
    {
        return Err(Error::UnsupportedVersion {
            offset: 0,
            version: first & !VERSION_PREFIX,
        });
    }
    crate::message::parse_message(bytes)
}
