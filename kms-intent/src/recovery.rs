//! Recovery codes: single use, stored only as hashes.

use core::fmt;

use rand_core::TryCryptoRng;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::challenge::UserId;
use crate::digest::fill_random;
use crate::error::IntentError;
use crate::wire::{Reader, Writer};

/// Domain-separation string of the stored recovery-code hash.
pub const RECOVERY_HASH_DOMAIN: &[u8] = b"kms-intent/v1/recovery-code";
/// Recovery codes in a set.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Characters of a code (base32, 5 bits each: 80 bits), shown in groups of 4.
pub const RECOVERY_CODE_CHARS: usize = 16;

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A freshly generated set of recovery codes, to show the user once. Zeroized on drop; `Debug`
/// prints only the count.
pub struct RecoveryCodes(Vec<Zeroizing<String>>);

impl RecoveryCodes {
    /// The codes, formatted `XXXX-XXXX-XXXX-XXXX`.
    pub fn expose_secret(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|s| s.as_str())
    }

    /// How many codes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty (never, for a generated set).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for RecoveryCodes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecoveryCodes")
            .field("count", &self.0.len())
            .finish_non_exhaustive()
    }
}

/// Uppercases, drops `-` and spaces; `None` unless exactly [`RECOVERY_CODE_CHARS`] base32
/// characters remain.
fn normalize(code: &str) -> Option<Zeroizing<Vec<u8>>> {
    if code.len() > 64 {
        return None;
    }
    let mut out = Zeroizing::new(Vec::with_capacity(RECOVERY_CODE_CHARS));
    for b in code.bytes() {
        match b {
            b'-' | b' ' => {}
            _ => {
                let u = b.to_ascii_uppercase();
                if !ALPHABET.contains(&u) {
                    return None;
                }
                out.push(u);
            }
        }
    }
    (out.len() == RECOVERY_CODE_CHARS).then_some(out)
}

fn code_hash(user: UserId, normalized: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((RECOVERY_HASH_DOMAIN.len() as u64).to_be_bytes());
    h.update(RECOVERY_HASH_DOMAIN);
    h.update(user.0.to_be_bytes());
    h.update(normalized);
    h.finalize().into()
}

/// The hashes of a user's unused recovery codes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RecoveryBook {
    pub(crate) hashes: Vec<[u8; 32]>,
}

impl RecoveryBook {
    /// Replaces the set with [`RECOVERY_CODE_COUNT`] new codes.
    pub(crate) fn generate<R: TryCryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        user: UserId,
    ) -> Result<RecoveryCodes, IntentError> {
        let mut codes = Vec::with_capacity(RECOVERY_CODE_COUNT);
        let mut hashes = Vec::with_capacity(RECOVERY_CODE_COUNT);
        let mut raw = Zeroizing::new([0u8; RECOVERY_CODE_CHARS]);
        for _ in 0..RECOVERY_CODE_COUNT {
            fill_random(rng, &mut raw[..])?;
            let mut plain = Zeroizing::new(Vec::with_capacity(RECOVERY_CODE_CHARS));
            let mut shown = Zeroizing::new(String::with_capacity(RECOVERY_CODE_CHARS + 3));
            for (i, b) in raw.iter().enumerate() {
                let c = ALPHABET[usize::from(b & 31)];
                if i > 0 && i % 4 == 0 {
                    shown.push('-');
                }
                shown.push(char::from(c));
                plain.push(c);
            }
            hashes.push(code_hash(user, &plain));
            codes.push(shown);
        }
        self.hashes = hashes;
        Ok(RecoveryCodes(codes))
    }

    /// Uses a code: constant-time comparison against every stored hash, then the matching hash
    /// is removed so the code never works again.
    pub(crate) fn consume(&mut self, user: UserId, code: &str) -> Result<(), IntentError> {
        let normalized = normalize(code).ok_or(IntentError::RecoveryCodeInvalid)?;
        let presented = code_hash(user, &normalized);
        let mut found = Choice::from(0);
        let mut index = 0u32;
        for (i, h) in self.hashes.iter().enumerate() {
            let hit = presented.ct_eq(h);
            index = u32::conditional_select(&index, &(i as u32), hit);
            found |= hit;
        }
        if bool::from(found) {
            self.hashes.remove(index as usize);
            Ok(())
        } else {
            Err(IntentError::RecoveryCodeInvalid)
        }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.hashes.len()
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.len(self.hashes.len());
        for h in &self.hashes {
            w.fixed(h);
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, IntentError> {
        let n = r.len(RECOVERY_CODE_COUNT, "too many recovery codes")?;
        let mut hashes = Vec::with_capacity(n);
        for _ in 0..n {
            hashes.push(r.fixed()?);
        }
        Ok(Self { hashes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalization() {
        assert!(normalize("abcd-efgh-ijkl-mnop").is_some());
        assert!(normalize("ABCD EFGH IJKL MNOP").is_some());
        assert!(normalize("ABCD-EFGH-IJKL-MNO").is_none());
        assert!(normalize("ABCD-EFGH-IJKL-MNO1").is_none()); // 1 is not base32
        assert!(normalize(&"-".repeat(100)).is_none());
    }
}
