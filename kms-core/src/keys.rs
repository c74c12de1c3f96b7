//! ed25519 wallet keys, Solana addresses, and the legacy 64-byte keypair formats.

use core::fmt;
use core::str::FromStr;

pub use ed25519_dalek::Signature;
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

/// A Solana address: a 32-byte ed25519 public key, written in base58.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Address(pub [u8; 32]);

impl Address {
    /// The raw 32 bytes.
    pub fn to_bytes(self) -> [u8; 32] {
        self.0
    }

    /// Verifies an ed25519 signature by this address with strict verification (rejects
    /// small-order keys and non-canonical signatures, as the Solana runtime does).
    ///
    /// # Errors
    /// [`Error::InvalidKeypair`] when the address is not a valid public key;
    /// [`Error::DecryptionFailed`] is never returned. A bad signature returns `Ok(false)`.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> Result<bool> {
        let vk = VerifyingKey::from_bytes(&self.0)
            .map_err(|_| Error::InvalidKeypair("address is not an ed25519 public key"))?;
        Ok(vk.verify_strict(message, signature).is_ok())
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&bs58::encode(self.0).into_string())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

impl FromStr for Address {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let mut buf = [0u8; 32];
        match bs58::decode(s).onto(&mut buf[..]) {
            Ok(32) => Ok(Address(buf)),
            Ok(_) | Err(bs58::decode::Error::BufferTooSmall) => Err(Error::InvalidBase58 {
                what: "address",
                reason: "does not decode to 32 bytes",
            }),
            Err(_) => Err(Error::InvalidBase58 {
                what: "address",
                reason: "contains a character outside the base58 alphabet",
            }),
        }
    }
}

/// An ed25519 signing key of one wallet. Zeroized on drop; `Debug` shows only the address.
pub struct WalletKey(SigningKey);

impl WalletKey {
    pub(crate) fn from_secret_bytes(secret: &[u8; 32]) -> Self {
        WalletKey(SigningKey::from_bytes(secret))
    }

    /// The wallet's Solana address.
    pub fn address(&self) -> Address {
        Address(self.0.verifying_key().to_bytes())
    }

    /// Signs `message` (for Solana: the serialized transaction message).
    pub fn sign(&self, message: &[u8]) -> Signature {
        self.0.sign(message)
    }

    /// Imports a legacy key from the `solana-keygen` JSON file format: an array of 64 numbers,
    /// the 32-byte secret key then the 32-byte public key.
    ///
    /// # Errors
    /// [`Error::InvalidKeypair`] when the text is not such an array or the public half does not
    /// belong to the secret half. The message never echoes the input.
    pub fn from_keypair_json(json: &str) -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; 64]);
        parse_json_byte_array(json, &mut bytes)?;
        Self::from_keypair_bytes(&bytes)
    }

    /// Imports a legacy key from its base58 form (64 bytes: secret then public), as Phantom
    /// and Solflare export it.
    ///
    /// # Errors
    /// [`Error::InvalidBase58`] or [`Error::InvalidKeypair`].
    pub fn from_keypair_base58(text: &str) -> Result<Self> {
        let mut bytes = Zeroizing::new([0u8; 64]);
        match bs58::decode(text.trim()).onto(&mut bytes[..]) {
            Ok(64) => Self::from_keypair_bytes(&bytes),
            Ok(_) | Err(bs58::decode::Error::BufferTooSmall) => Err(Error::InvalidBase58 {
                what: "keypair",
                reason: "does not decode to 64 bytes",
            }),
            Err(_) => Err(Error::InvalidBase58 {
                what: "keypair",
                reason: "contains a character outside the base58 alphabet",
            }),
        }
    }

    /// Imports a 64-byte keypair (secret then public), checking that the halves match.
    ///
    /// # Errors
    /// [`Error::InvalidKeypair`] when the public half does not belong to the secret half.
    pub fn from_keypair_bytes(bytes: &[u8; 64]) -> Result<Self> {
        SigningKey::from_keypair_bytes(bytes)
            .map(WalletKey)
            .map_err(|_| Error::InvalidKeypair("public half does not match the secret half"))
    }

    /// Imports a bare 32-byte ed25519 secret key.
    pub fn from_secret(secret: &Zeroizing<[u8; 32]>) -> Self {
        Self::from_secret_bytes(secret)
    }

    /// **Reveals the private key** as the 64-byte keypair (secret then public), for export to
    /// another wallet. Every call site is a key export and must be authorized as one.
    pub fn reveal_keypair_bytes(&self) -> Zeroizing<[u8; 64]> {
        Zeroizing::new(self.0.to_keypair_bytes())
    }

    /// **Reveals the private key** in the `solana-keygen` JSON format.
    pub fn reveal_keypair_json(&self) -> Zeroizing<String> {
        let bytes = self.reveal_keypair_bytes();
        let mut s = Zeroizing::new(String::with_capacity(64 * 4 + 2));
        s.push('[');
        for (i, b) in bytes.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let mut n = *b;
            let mut digits = [0u8; 3];
            let mut len = 0;
            loop {
                digits[len] = b'0' + n % 10;
                len += 1;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            for d in digits[..len].iter().rev() {
                s.push(char::from(*d));
            }
            digits.zeroize();
        }
        s.push(']');
        s
    }

    /// **Reveals the private key** as base58 of the 64-byte keypair.
    pub fn reveal_keypair_base58(&self) -> Zeroizing<String> {
        let bytes = self.reveal_keypair_bytes();
        let mut out = Zeroizing::new(String::with_capacity(100));
        // `onto` a pre-sized String writes in place: no intermediate copy of the key.
        let _ = bs58::encode(&bytes[..]).onto(&mut *out);
        out
    }

    /// **Reveals** the 32-byte secret key (for sealing an imported key).
    pub(crate) fn reveal_secret(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.0.to_bytes())
    }
}

impl fmt::Debug for WalletKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WalletKey")
            .field("address", &self.address())
            .finish_non_exhaustive()
    }
}

/// Strict parser for `[n, n, ...]` with exactly `out.len()` numbers 0..=255; whitespace allowed
/// around tokens. Writes straight into `out` (no intermediate allocation of secret bytes).
fn parse_json_byte_array(s: &str, out: &mut [u8; 64]) -> Result<()> {
    let bad = Error::InvalidKeypair;
    let b = s.as_bytes();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < b.len() && b[*i].is_ascii_whitespace() {
            *i += 1;
        }
    };
    skip_ws(&mut i);
    if b.get(i) != Some(&b'[') {
        return Err(bad("expected a JSON array of 64 numbers"));
    }
    i += 1;
    for (n, slot) in out.iter_mut().enumerate() {
        skip_ws(&mut i);
        if n > 0 {
            if b.get(i) != Some(&b',') {
                return Err(bad("expected a JSON array of exactly 64 numbers"));
            }
            i += 1;
            skip_ws(&mut i);
        }
        let start = i;
        let mut v: u32 = 0;
        while i < b.len() && b[i].is_ascii_digit() && i - start < 4 {
            v = v * 10 + u32::from(b[i] - b'0');
            i += 1;
        }
        if i == start || v > 255 || (i - start > 1 && b[start] == b'0') {
            return Err(bad("array element is not a number from 0 to 255"));
        }
        *slot = v as u8;
        v.zeroize();
    }
    skip_ws(&mut i);
    if b.get(i) != Some(&b']') {
        return Err(bad("expected a JSON array of exactly 64 numbers"));
    }
    i += 1;
    skip_ws(&mut i);
    if i != b.len() {
        return Err(bad("unexpected text after the JSON array"));
    }
    Ok(())
}
