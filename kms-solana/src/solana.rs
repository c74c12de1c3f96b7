//! Interop with the Solana crates (feature `std`).
//!
//! One generation only: the split crates that `solana-sdk` 5.x re-exports
//! (`solana-transaction` 5, `solana-message` 5, `solana-pubkey` 4, `solana-signature` 3,
//! `solana-signer` 4, `solana-hash` 4), so a caller's `VersionedTransaction` plugs in without
//! conversion. Signing uses `ed25519-dalek` 3 keys (the workspace's); verification uses Solana's
//! own verifier (`VersionedTransaction::verify_and_hash_message`).

use std::vec::Vec;

use bincode::Options;
use ed25519_dalek::{Signer as _, SigningKey};
use solana_signer::{Signer, SignerError};

pub use solana_hash::Hash;
pub use solana_message::compiled_instruction::CompiledInstruction;
pub use solana_message::v0::MessageAddressTableLookup;
pub use solana_message::{
    AccountMeta, AddressLookupTableAccount, Instruction as SolanaInstruction, MessageHeader,
    VersionedMessage, legacy, v0,
};
pub use solana_pubkey::Pubkey;
pub use solana_signature::Signature;
pub use solana_transaction::versioned::VersionedTransaction;

use crate::error::Error;
use crate::message::{Message, PACKET_DATA_SIZE, Transaction, Version};

fn wire() -> impl Options {
    bincode::DefaultOptions::new()
        .with_limit(PACKET_DATA_SIZE as u64)
        .with_fixint_encoding()
        .reject_trailing_bytes()
}

/// Decodes a transaction with the Solana crates (bincode as the runtime configures it, then
/// `sanitize`), plus the runtime checks this crate's parser also applies: size limit, no duplicate
/// static keys, no lookup entry loaded twice, legacy or v0 only. The reference the parser is
/// differentially tested against; slower and allocating.
///
/// # Errors
/// [`Error::Solana`] with the Solana crates' reason, or [`Error::TooLarge`].
pub fn solana_decode_transaction(bytes: &[u8]) -> Result<VersionedTransaction, Error> {
    if bytes.len() > PACKET_DATA_SIZE {
        return Err(Error::TooLarge {
            len: bytes.len(),
            max: PACKET_DATA_SIZE,
        });
    }
    let tx: VersionedTransaction = wire()
        .deserialize(bytes)
        .map_err(|_| Error::Solana("bincode deserialization failed"))?;
    tx.sanitize()
        .map_err(|_| Error::Solana("sanitize failed"))?;
    runtime_checks(&tx.message)?;
    Ok(tx)
}

/// [`solana_decode_transaction`] for a bare message; the size limit applies to the transaction
/// that would carry it.
///
/// # Errors
/// As [`solana_decode_transaction`].
pub fn solana_decode_message(bytes: &[u8]) -> Result<VersionedMessage, Error> {
    let m: VersionedMessage = wire()
        .deserialize(bytes)
        .map_err(|_| Error::Solana("bincode deserialization failed"))?;
    m.sanitize().map_err(|_| Error::Solana("sanitize failed"))?;
    runtime_checks(&m)?;
    let n = usize::from(m.header().num_required_signatures);
    let needed = crate::wire::compact_len(n) + 64 * n + bytes.len();
    if needed > PACKET_DATA_SIZE {
        return Err(Error::TooLarge {
            len: needed,
            max: PACKET_DATA_SIZE,
        });
    }
    Ok(m)
}

fn runtime_checks(m: &VersionedMessage) -> Result<(), Error> {
    let lookups: &[MessageAddressTableLookup] = match m {
        VersionedMessage::Legacy(_) => &[],
        VersionedMessage::V0(v0) => &v0.address_table_lookups,
        // Solana's crates define a v1 format that the network does not run; not accepted here.
        _ => return Err(Error::Solana("message version other than legacy and v0")),
    };
    let keys = m.static_account_keys();
    for (i, k) in keys.iter().enumerate() {
        if keys[..i].contains(k) {
            return Err(Error::Solana("duplicate static account key"));
        }
    }
    let mut seen: Vec<(&Pubkey, u8)> = Vec::new();
    for l in lookups {
        for &x in l.writable_indexes.iter().chain(&l.readonly_indexes) {
            if seen.contains(&(&l.account_key, x)) {
                return Err(Error::Solana("lookup table entry loaded twice"));
            }
            seen.push((&l.account_key, x));
        }
    }
    Ok(())
}

/// Whether a message parsed by this crate and one decoded by the Solana crates are the same in
/// every field (version, header, keys, blockhash, instructions, lookups).
pub fn same_message(ours: &Message<'_>, theirs: &VersionedMessage) -> bool {
    let version_ok = matches!(
        (ours.version(), theirs),
        (Version::Legacy, VersionedMessage::Legacy(_)) | (Version::V0, VersionedMessage::V0(_))
    );
    let h = ours.header();
    let th = theirs.header();
    let header_ok = h.num_required_signatures == th.num_required_signatures
        && h.num_readonly_signed_accounts == th.num_readonly_signed_accounts
        && h.num_readonly_unsigned_accounts == th.num_readonly_unsigned_accounts;
    let keys_ok = ours.account_keys().len() == theirs.static_account_keys().len()
        && ours
            .account_keys()
            .iter()
            .zip(theirs.static_account_keys())
            .all(|(a, b)| a == b.as_array());
    let hash_ok = ours.recent_blockhash() == theirs.recent_blockhash().as_bytes();
    let ins_ok = ours.num_instructions() == theirs.instructions().len()
        && ours
            .instructions()
            .zip(theirs.instructions())
            .all(|(a, b)| {
                a.program_id_index == b.program_id_index
                    && a.accounts == b.accounts
                    && a.data == b.data
            });
    let their_lookups: &[MessageAddressTableLookup] = theirs.address_table_lookups().unwrap_or(&[]);
    let lookups_ok = ours.address_table_lookups().len() == their_lookups.len()
        && ours
            .address_table_lookups()
            .zip(their_lookups)
            .all(|(a, b)| {
                a.table == b.account_key.as_array()
                    && a.writable_indexes == b.writable_indexes
                    && a.readonly_indexes == b.readonly_indexes
            });
    version_ok && header_ok && keys_ok && hash_ok && ins_ok && lookups_ok
}

/// [`same_message`] plus equal signatures.
pub fn same_transaction(ours: &Transaction<'_>, theirs: &VersionedTransaction) -> bool {
    ours.signatures().len() == theirs.signatures.len()
        && ours
            .signatures()
            .iter()
            .zip(&theirs.signatures)
            .all(|(a, b)| a == b.as_array())
        && same_message(ours.message(), &theirs.message)
}

/// The Solana crate type for a parsed transaction (allocates).
///
/// # Errors
/// [`Error::Solana`] only if the Solana crates refuse bytes this crate accepted (never expected;
/// the differential tests check it).
pub fn to_versioned_transaction(tx: &Transaction<'_>) -> Result<VersionedTransaction, Error> {
    solana_decode_transaction(tx.bytes())
}

/// The Solana crate type for a parsed message (allocates).
///
/// # Errors
/// As [`to_versioned_transaction`].
pub fn to_versioned_message(m: &Message<'_>) -> Result<VersionedMessage, Error> {
    wire()
        .deserialize(m.bytes())
        .map_err(|_| Error::Solana("bincode deserialization failed"))
}

/// Wire bytes of a transaction (what is sent to the network).
///
/// # Errors
/// [`Error::Solana`] if it cannot be encoded, [`Error::TooLarge`] over 1232 bytes.
pub fn serialize_transaction(tx: &VersionedTransaction) -> Result<Vec<u8>, Error> {
    let b = bincode::serialize(tx).map_err(|_| Error::Solana("serialization failed"))?;
    if b.len() > PACKET_DATA_SIZE {
        return Err(Error::TooLarge {
            len: b.len(),
            max: PACKET_DATA_SIZE,
        });
    }
    Ok(b)
}

/// An `ed25519-dalek` key usable wherever the Solana crates take a [`Signer`].
///
/// Borrows the key; never prints it (`Debug` shows the public key only).
pub struct KeySigner<'k>(&'k SigningKey);

impl<'k> KeySigner<'k> {
    /// Wraps a signing key.
    pub fn new(key: &'k SigningKey) -> Self {
        Self(key)
    }
}

impl core::fmt::Debug for KeySigner<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("KeySigner")
            .field(
                "pubkey",
                &Pubkey::new_from_array(self.0.verifying_key().to_bytes()),
            )
            .finish_non_exhaustive()
    }
}

impl Signer for KeySigner<'_> {
    fn try_pubkey(&self) -> Result<Pubkey, SignerError> {
        Ok(Pubkey::new_from_array(self.0.verifying_key().to_bytes()))
    }

    fn try_sign_message(&self, message: &[u8]) -> Result<Signature, SignerError> {
        Ok(Signature::from(self.0.sign(message).to_bytes()))
    }

    fn is_interactive(&self) -> bool {
        false
    }
}

/// Signs `message` with `keys` (any order; each must be one of the message's required signers,
/// and every required signer must be present) and returns the Solana `VersionedTransaction`.
///
/// # Errors
/// [`Error::SigningFailed`] (opaque) for a missing, extra or foreign key or an invalid message;
/// [`Error::TooLarge`] if the signed transaction exceeds 1232 bytes.
pub fn sign_message(
    message: VersionedMessage,
    keys: &[&SigningKey],
) -> Result<VersionedTransaction, Error> {
    let signers: Vec<KeySigner<'_>> = keys.iter().map(|k| KeySigner(k)).collect();
    let refs: Vec<&dyn Signer> = signers.iter().map(|s| s as &dyn Signer).collect();
    let tx = VersionedTransaction::try_new(message, refs.as_slice())
        .map_err(|_| Error::SigningFailed)?;
    serialize_transaction(&tx)?;
    Ok(tx)
}

/// Sanitizes and verifies every signature with Solana's own verifier.
///
/// # Errors
/// [`Error::VerificationFailed`] if the transaction is malformed or any signature is wrong.
pub fn verify_transaction(tx: &VersionedTransaction) -> Result<(), Error> {
    tx.verify_and_hash_message()
        .map(|_| ())
        .map_err(|_| Error::VerificationFailed)
}

/// Builds a legacy message from Solana instructions (thin wrapper documenting the
/// generation); `payer` pays the fee.
///
/// # Errors
/// [`Error::Solana`] if the instructions cannot be compiled into a message.
pub fn legacy_message(
    instructions: &[solana_message::Instruction],
    payer: &Pubkey,
    recent_blockhash: Hash,
) -> Result<VersionedMessage, Error> {
    let m = legacy::Message::new_with_blockhash(instructions, Some(payer), &recent_blockhash);
    if m.account_keys.len() > 256 {
        return Err(Error::Solana("too many accounts"));
    }
    Ok(VersionedMessage::Legacy(m))
}

/// Decodes base58 text of an address.
///
/// # Errors
/// [`Error::InvalidEncoding`] unless the text is exactly 32 bytes of base58.
pub fn pubkey_from_str(s: &str) -> Result<Pubkey, Error> {
    crate::programs::address_from_base58(s)
        .map(Pubkey::new_from_array)
        .ok_or(Error::InvalidEncoding {
            what: "address",
            reason: "not base58 of 32 bytes",
        })
}

/// Base58 text of an address.
pub fn address_to_string(a: &crate::message::Address) -> std::string::String {
    bs58::encode(a).into_string()
}

/// Compiles a v0 message, loading through `tables` every non-signer, non-program account they
/// contain (Solana's own `v0::Message::try_compile`).
///
/// # Errors
/// [`Error::Solana`] if the instructions cannot be compiled (for example more than 256 accounts).
pub fn v0_message(
    instructions: &[solana_message::Instruction],
    payer: &Pubkey,
    tables: &[AddressLookupTableAccount],
    recent_blockhash: Hash,
) -> Result<VersionedMessage, Error> {
    v0::Message::try_compile(payer, instructions, tables, recent_blockhash)
        .map(VersionedMessage::V0)
        .map_err(|_| Error::Solana("cannot compile the v0 message"))
}
