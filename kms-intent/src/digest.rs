//! The request digest every challenge and passkey assertion is bound to, and randomness helpers.

use rand_core::TryCryptoRng;
use sha2::{Digest, Sha256};

use crate::error::IntentError;

/// Domain-separation string of [`request_digest`].
pub const REQUEST_DIGEST_DOMAIN: &[u8] = b"kms-intent/v1/request-digest";

/// The recommended request digest: what a user approves, in 32 bytes.
///
/// `SHA-256(len(D) || D || len(message) || message || module_hash || len(parameters) ||
/// parameters)` with `D` = [`REQUEST_DIGEST_DOMAIN`] and every `len` a big-endian `u64`. The
/// message is the exact bytes the signer will sign, `module_hash` the SHA-256 of the
/// transaction-shape module that checked them and `parameters` that module's parameters for this
/// user. Length prefixes make the encoding injective: no two different triples share a digest
/// input. Costs one SHA-256 pass over the inputs.
///
/// ```
/// let d = kms_intent::request_digest(b"message bytes", &[7; 32], b"params");
/// assert_ne!(d, kms_intent::request_digest(b"message bytes", &[7; 32], b"param"));
/// ```
#[must_use]
pub fn request_digest(message: &[u8], module_hash: &[u8; 32], parameters: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((REQUEST_DIGEST_DOMAIN.len() as u64).to_be_bytes());
    h.update(REQUEST_DIGEST_DOMAIN);
    h.update((message.len() as u64).to_be_bytes());
    h.update(message);
    h.update(module_hash);
    h.update((parameters.len() as u64).to_be_bytes());
    h.update(parameters);
    h.finalize().into()
}

/// Fills `buf` from the RNG passed in, mapping its failure to a typed error.
pub(crate) fn fill_random<R: TryCryptoRng + ?Sized>(
    rng: &mut R,
    buf: &mut [u8],
) -> Result<(), IntentError> {
    rng.try_fill_bytes(buf)
        .map_err(|_| IntentError::RandomnessUnavailable)
}

/// A uniform index below `n` (`n > 0`) by rejection sampling, so no index is favoured.
pub(crate) fn random_below<R: TryCryptoRng + ?Sized>(
    rng: &mut R,
    n: u32,
) -> Result<u32, IntentError> {
    debug_assert!(n > 0);
    let n = n.max(1);
    let zone = u32::MAX - (u32::MAX % n);
    loop {
        let v = rng
            .try_next_u32()
            .map_err(|_| IntentError::RandomnessUnavailable)?;
        if v < zone {
            return Ok(v % n);
        }
    }
}
