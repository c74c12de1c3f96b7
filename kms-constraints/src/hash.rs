//! Module identity: the SHA-256 of the module's bytes.

use sha2::{Digest, Sha256};

/// The SHA-256 of a module's bytes: the identity a user authorizes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModuleHash([u8; 32]);

impl ModuleHash {
    /// Hashes module bytes.
    #[must_use]
    pub fn of(module: &[u8]) -> Self {
        Self(Sha256::digest(module).into())
    }

    /// Wraps a known digest.
    #[must_use]
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw digest.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 lowercase or uppercase hex digits; `None` otherwise.
    #[must_use]
    pub fn from_hex(s: &str) -> Option<Self> {
        let s = s.as_bytes();
        if s.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (o, pair) in out.iter_mut().zip(s.chunks_exact(2)) {
            let hi = (pair[0] as char).to_digit(16)?;
            let lo = (pair[1] as char).to_digit(16)?;
            *o = u8::try_from(hi * 16 + lo).ok()?;
        }
        Some(Self(out))
    }
}

impl core::fmt::Display for ModuleHash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl core::fmt::Debug for ModuleHash {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "ModuleHash({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_empty_and_hex_round_trip() {
        // FIPS 180-2 / NIST: SHA-256 of the empty string.
        let h = ModuleHash::of(b"");
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(h.to_string(), hex);
        assert_eq!(ModuleHash::from_hex(hex), Some(h));
        assert_eq!(ModuleHash::from_hex(&hex.to_uppercase()), Some(h));
        assert_eq!(ModuleHash::from_hex(&hex[1..]), None);
        assert_eq!(ModuleHash::from_hex(&format!("{}g", &hex[1..])), None);
    }
}
