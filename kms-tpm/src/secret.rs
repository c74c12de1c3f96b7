//! Secret bytes: the sealed secret (in the KMS, the master key).

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// Secret bytes that are wiped on drop, never printed and compared in constant time.
///
/// `kms-tpm` does not know what it seals; in the KMS this is the master key.
/// Reading the bytes is an explicit [`SecretBytes::expose_secret`] call.
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Takes ownership of the bytes (they are wiped when this value drops).
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }

    /// Copies the bytes from a slice (the caller wipes its own copy).
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    /// `len` fresh bytes from the operating-system RNG, e.g. a new master key at genesis.
    ///
    /// Fails with [`crate::Error::Rng`] if the OS RNG fails.
    pub fn random(len: usize) -> Result<Self, crate::Error> {
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        getrandom::fill(&mut bytes).map_err(|_| crate::Error::Rng)?;
        Ok(Self(bytes))
    }

    /// The secret bytes. Keep the borrow short.
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// The length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Gives the bytes to the caller, still wiped on drop.
    pub fn into_zeroizing(self) -> Zeroizing<Vec<u8>> {
        self.0
    }
}

impl ConstantTimeEq for SecretBytes {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.as_slice().ct_eq(other.0.as_slice())
    }
}

impl core::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecretBytes")
            .field("len", &self.0.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_show_bytes() {
        let s = SecretBytes::from_slice(&[0xAB; 32]);
        let d = format!("{s:?}");
        assert_eq!(d, "SecretBytes { len: 32, .. }");
        assert!(!d.to_lowercase().contains("ab, "));
    }

    #[test]
    fn equality_is_by_content() {
        let a = SecretBytes::from_slice(b"one");
        assert!(bool::from(a.ct_eq(&SecretBytes::from_slice(b"one"))));
        assert!(!bool::from(a.ct_eq(&SecretBytes::from_slice(b"two"))));
        assert!(!bool::from(a.ct_eq(&SecretBytes::from_slice(b"one!"))));
    }

    #[test]
    fn random_is_random() {
        let a = SecretBytes::random(32).unwrap();
        let b = SecretBytes::random(32).unwrap();
        assert_eq!(a.len(), 32);
        assert!(!bool::from(a.ct_eq(&b)));
    }
}
