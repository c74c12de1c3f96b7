//! Program-derived addresses and associated token accounts, without `std` or allocation.

use curve25519_dalek::edwards::CompressedEdwardsY;
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::message::Address;
use crate::programs::ASSOCIATED_TOKEN_PROGRAM;

/// Most seeds a program-derived address may have (including the bump seed).
pub const MAX_SEEDS: usize = 16;
/// Longest a single seed may be, in bytes.
pub const MAX_SEED_LEN: usize = 32;
/// Domain-separation suffix of the PDA hash.
pub const PDA_MARKER: &[u8; 21] = b"ProgramDerivedAddress";

/// Whether 32 bytes decompress to a point on the ed25519 curve (the check Solana applies: a PDA
/// must be *off* the curve so that no private key exists for it).
pub fn is_on_curve(bytes: &Address) -> bool {
    CompressedEdwardsY(*bytes).decompress().is_some()
}

/// `SHA-256(seeds… ‖ program_id ‖ "ProgramDerivedAddress")`, accepted only if off the curve.
///
/// # Errors
/// [`Error::InvalidSeeds`] for more than [`MAX_SEEDS`] seeds or a seed over [`MAX_SEED_LEN`]
/// bytes; [`Error::NoViableBump`] when the hash is a curve point.
pub fn create_program_address(seeds: &[&[u8]], program_id: &Address) -> Result<Address, Error> {
    if seeds.len() > MAX_SEEDS || seeds.iter().any(|s| s.len() > MAX_SEED_LEN) {
        return Err(Error::InvalidSeeds);
    }
    off_curve(pda_hash(seeds, &[], program_id))
}

fn pda_hash(seeds: &[&[u8]], bump: &[u8], program_id: &Address) -> Address {
    let mut h = Sha256::new();
    for s in seeds {
        h.update(s);
    }
    h.update(bump);
    h.update(program_id);
    h.update(PDA_MARKER);
    h.finalize().into()
}

fn off_curve(a: Address) -> Result<Address, Error> {
    if is_on_curve(&a) {
        Err(Error::NoViableBump)
    } else {
        Ok(a)
    }
}

/// Finds the canonical program-derived address: the first bump seed from 255 down to 0 for which
/// [`create_program_address`]`(seeds ‖ [bump])` is off the curve. Costs up to 256 SHA-256 and
/// point decompressions (usually one or two).
///
/// # Errors
/// [`Error::InvalidSeeds`] for more than `MAX_SEEDS - 1` seeds or a seed over
/// [`MAX_SEED_LEN`] bytes; [`Error::NoViableBump`] if no bump works (probability ~2⁻²⁵⁶).
pub fn find_program_address(seeds: &[&[u8]], program_id: &Address) -> Result<(Address, u8), Error> {
    if seeds.len() >= MAX_SEEDS || seeds.iter().any(|s| s.len() > MAX_SEED_LEN) {
        return Err(Error::InvalidSeeds);
    }
    for bump in (0..=u8::MAX).rev() {
        if let Ok(a) = off_curve(pda_hash(seeds, &[bump], program_id)) {
            return Ok((a, bump));
        }
    }
    Err(Error::NoViableBump)
}

/// The associated token account of `owner` for `mint` under `token_program` (SPL Token or
/// Token-2022), with its bump.
///
/// ```
/// use kms_solana::{address_from_base58, associated_token_address, programs::TOKEN_PROGRAM};
/// // A mainnet account from the wallet-core test vector 13 (see tests/data/README.md).
/// let owner = address_from_base58("7HP8cENhoDxS7yT6UHyT3mVwvN5rv6gMrzwRXXWFJvDU").unwrap();
/// let mint = address_from_base58("3NZ9JMVBmGAqocybic2c7LQCJScmgsAZ6vQqTDzcqmJh").unwrap();
/// let (ata, _bump) = associated_token_address(&owner, &mint, &TOKEN_PROGRAM)?;
/// assert_eq!(ata, address_from_base58("94JfTH8qCeBQDBatvULREG43msjSQscT7oHnqx7jppX").unwrap());
/// # Ok::<(), kms_solana::Error>(())
/// ```
pub fn associated_token_address(
    owner: &Address,
    mint: &Address,
    token_program: &Address,
) -> Result<(Address, u8), Error> {
    find_program_address(&[owner, token_program, mint], &ASSOCIATED_TOKEN_PROGRAM)
}
