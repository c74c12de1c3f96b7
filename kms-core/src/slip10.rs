//! SLIP-0010 ed25519 key derivation (hardened only) and derivation paths.

use core::fmt;
use core::str::FromStr;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha512;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};
use crate::keys::WalletKey;
use crate::secret::Seed;

/// The bit that marks a hardened BIP32/SLIP-0010 index.
pub const HARDENED: u32 = 0x8000_0000;
/// The deepest path accepted (BIP32 serializes depth in one byte).
pub const MAX_DEPTH: usize = 255;
/// SLIP-0010's HMAC key for the ed25519 master node.
const ED25519_CURVE_KEY: &[u8] = b"ed25519 seed";

/// A derivation path with only hardened steps, as SLIP-0010 ed25519 requires.
///
/// Written `m/44'/501'/0'/0'`; `h` or `H` may stand for `'`. Indices are below 2³¹, without
/// leading zeros. Displayed with `'`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DerivationPath(Vec<u32>);

impl DerivationPath {
    /// The root `m`.
    pub fn root() -> Self {
        DerivationPath(Vec::new())
    }

    /// A path from hardened indices (each below 2³¹; the hardened bit is added).
    ///
    /// # Errors
    /// [`Error::InvalidPath`] when an index is 2³¹ or more or the path is too deep.
    pub fn from_hardened(indices: &[u32]) -> Result<Self> {
        if indices.len() > MAX_DEPTH {
            return Err(Error::InvalidPath {
                position: 0,
                reason: "more than 255 steps",
            });
        }
        if indices.iter().any(|i| *i >= HARDENED) {
            return Err(Error::InvalidPath {
                position: 0,
                reason: "index is 2^31 or more",
            });
        }
        Ok(DerivationPath(indices.to_vec()))
    }

    /// The indices without the hardened bit.
    pub fn indices(&self) -> &[u32] {
        &self.0
    }

    /// Number of steps below `m`.
    pub fn depth(&self) -> usize {
        self.0.len()
    }
}

impl FromStr for DerivationPath {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |position: usize, reason: &'static str| Error::InvalidPath { position, reason };
        let bytes = s.as_bytes();
        if bytes.first() != Some(&b'm') {
            return Err(bad(0, "a path starts with 'm'"));
        }
        let mut out = Vec::new();
        let mut pos = 1;
        while pos < bytes.len() {
            if bytes[pos] != b'/' {
                return Err(bad(pos, "expected '/'"));
            }
            pos += 1;
            let start = pos;
            while pos < bytes.len() && bytes[pos].is_ascii_digit() {
                pos += 1;
            }
            if pos == start {
                return Err(bad(start, "expected an index"));
            }
            if pos - start > 1 && bytes[start] == b'0' {
                return Err(bad(start, "index has a leading zero"));
            }
            let mut value: u64 = 0;
            for d in &bytes[start..pos] {
                value = value * 10 + u64::from(d - b'0');
                if value >= u64::from(HARDENED) {
                    return Err(bad(start, "index is 2^31 or more"));
                }
            }
            let index = value as u32;
            match bytes.get(pos) {
                Some(b'\'' | b'h' | b'H') => pos += 1,
                _ => {
                    return Err(Error::NonHardenedStep {
                        step: out.len() + 1,
                        index,
                    });
                }
            }
            if out.len() == MAX_DEPTH {
                return Err(bad(start, "more than 255 steps"));
            }
            out.push(index);
        }
        Ok(DerivationPath(out))
    }
}

impl fmt::Display for DerivationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("m")?;
        for i in &self.0 {
            write!(f, "/{i}'")?;
        }
        Ok(())
    }
}

impl fmt::Debug for DerivationPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DerivationPath({self})")
    }
}

/// The Solana derivation path families wallets use. Chosen explicitly; stored in seed records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SolanaPathScheme {
    /// `m/44'/501'/i'/0'`: wallet `i` as Phantom, Solflare and `solana-keygen` derive it.
    #[default]
    AccountChange,
    /// `m/44'/501'/i'`: wallet `i` as some hardware and older wallets derive it.
    Account,
    /// `m/44'/501'`: the single root key (the wallet index must be 0).
    Root,
}

impl SolanaPathScheme {
    /// The code stored in sealed records (see SPEC.md).
    pub(crate) fn code(self) -> u8 {
        match self {
            SolanaPathScheme::AccountChange => 1,
            SolanaPathScheme::Account => 2,
            SolanaPathScheme::Root => 3,
        }
    }

    pub(crate) fn from_code(c: u8) -> Option<Self> {
        Some(match c {
            1 => SolanaPathScheme::AccountChange,
            2 => SolanaPathScheme::Account,
            3 => SolanaPathScheme::Root,
            _ => return None,
        })
    }

    /// The path of wallet `index` in this family.
    ///
    /// # Errors
    /// [`Error::InvalidPath`] when `index` is 2³¹ or more, or is not 0 for [`Self::Root`].
    pub fn path(self, index: u32) -> Result<DerivationPath> {
        match self {
            SolanaPathScheme::AccountChange => DerivationPath::from_hardened(&[44, 501, index, 0]),
            SolanaPathScheme::Account => DerivationPath::from_hardened(&[44, 501, index]),
            SolanaPathScheme::Root if index == 0 => DerivationPath::from_hardened(&[44, 501]),
            SolanaPathScheme::Root => Err(Error::InvalidPath {
                position: 0,
                reason: "the root scheme m/44'/501' has only wallet 0",
            }),
        }
    }
}

/// A SLIP-0010 ed25519 extended private key: the private key and its chain code.
/// Zeroized on drop; `Debug` prints nothing secret.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct ExtendedKey {
    key: [u8; 32],
    chain_code: [u8; 32],
}

impl ExtendedKey {
    /// The master node of a seed (16 to 64 bytes).
    ///
    /// # Errors
    /// [`Error::InvalidPath`] never; kept fallible for seeds of unsupported length
    /// ([`Error::InvalidKeypair`]).
    pub fn master(seed: &[u8]) -> Result<Self> {
        if !(16..=64).contains(&seed.len()) {
            return Err(Error::InvalidKeypair("SLIP-0010 seeds are 16 to 64 bytes"));
        }
        Ok(Self::from_hmac(ED25519_CURVE_KEY, &[seed]))
    }

    /// The hardened child `index` (below 2³¹; the hardened bit is added here).
    pub fn child(&self, index: u32) -> Self {
        let i = (index | HARDENED).to_be_bytes();
        Self::from_hmac(&self.chain_code, &[&[0u8], &self.key, &i])
    }

    fn from_hmac(key: &[u8], data: &[&[u8]]) -> Self {
        let Ok(mut mac) = <Hmac<Sha512> as KeyInit>::new_from_slice(key) else {
            unreachable!("HMAC accepts keys of any length")
        };
        for d in data {
            mac.update(d);
        }
        let mut i = mac.finalize().into_bytes();
        let mut out = ExtendedKey {
            key: [0; 32],
            chain_code: [0; 32],
        };
        out.key.copy_from_slice(&i[..32]);
        out.chain_code.copy_from_slice(&i[32..]);
        i.as_mut_slice().zeroize();
        out
    }

    /// Derives `path` from a seed of 16 to 64 bytes.
    ///
    /// # Errors
    /// [`Error::InvalidKeypair`] for a seed of unsupported length.
    pub fn derive(seed: &[u8], path: &DerivationPath) -> Result<Self> {
        let mut node = Self::master(seed)?;
        for index in path.indices() {
            node = node.child(*index);
        }
        Ok(node)
    }

    /// The private key bytes (the ed25519 secret key). Handle with care.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.key
    }

    /// The chain code. Secret too: with it and the key, every child is computable.
    pub fn expose_chain_code(&self) -> &[u8; 32] {
        &self.chain_code
    }

    /// The signing key of this node.
    pub fn signing_key(&self) -> WalletKey {
        WalletKey::from_secret_bytes(&self.key)
    }
}

impl fmt::Debug for ExtendedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtendedKey").finish_non_exhaustive()
    }
}

impl Seed {
    /// Derives the signing key at `path` (SLIP-0010 ed25519).
    pub fn derive(&self, path: &DerivationPath) -> WalletKey {
        let mut node = ExtendedKey::from_hmac(ED25519_CURVE_KEY, &[self.expose_secret()]);
        for index in path.indices() {
            node = node.child(*index);
        }
        node.signing_key()
    }

    /// Derives Solana wallet `index` in the given path family.
    ///
    /// # Errors
    /// [`Error::InvalidPath`] when the index does not fit the family.
    pub fn solana_wallet(&self, scheme: SolanaPathScheme, index: u32) -> Result<WalletKey> {
        Ok(self.derive(&scheme.path(index)?))
    }
}
