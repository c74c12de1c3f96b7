//! Secret newtypes: private bytes, zeroized on drop, never printed, compared in constant time.

use core::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Result, os_random};

/// A 64-byte BIP39 seed (the PBKDF2 output from a mnemonic and passphrase).
///
/// Every wallet of a user is derived from it on demand. Zeroized on drop; `Debug` prints no byte.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct Seed(Box<[u8; 64]>);

impl Seed {
    /// Length of a BIP39 seed in bytes.
    pub const LEN: usize = 64;

    /// Wraps seed bytes, zeroizing the caller's array.
    pub fn from_bytes(bytes: &mut [u8; 64]) -> Self {
        let mut inner = Box::new([0u8; 64]);
        inner.copy_from_slice(bytes);
        bytes.zeroize();
        Seed(inner)
    }

    /// An all-zero seed to be filled in place (avoids copies on the stack).
    pub(crate) fn zeroed() -> Self {
        Seed(Box::new([0u8; 64]))
    }

    pub(crate) fn as_mut(&mut self) -> &mut [u8; 64] {
        &mut self.0
    }

    /// Reads the secret bytes. Every call site is a place where the seed leaves this type.
    pub fn expose_secret(&self) -> &[u8; 64] {
        &self.0
    }
}

impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Seed").finish_non_exhaustive()
    }
}

impl ConstantTimeEq for Seed {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.0.as_slice().ct_eq(other.0.as_slice())
    }
}

impl PartialEq for Seed {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}
impl Eq for Seed {}

/// The 32-byte master key under which every user record is sealed.
///
/// It carries an *epoch* (a generation number) so that the key can be rotated: every sealed
/// record says which epoch sealed it. The master key never leaves the signer; in production it
/// lives in a `kms-pagechain` shield and is unsealed from the TPM (`kms-tpm`).
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct MasterKey {
    key: Box<[u8; 32]>,
    #[zeroize(skip)]
    epoch: u32,
}

impl MasterKey {
    /// Length of a master key in bytes.
    pub const LEN: usize = 32;

    /// Generates a fresh master key from the operating system's RNG.
    ///
    /// # Errors
    /// [`crate::Error::Rng`] if the OS RNG fails.
    pub fn generate(epoch: u32) -> Result<Self> {
        let mut key = Box::new([0u8; 32]);
        os_random(key.as_mut_slice())?;
        Ok(MasterKey { key, epoch })
    }

    /// Wraps master-key bytes (from an unsealed TPM blob or a shield), zeroizing the caller's copy.
    pub fn from_bytes(bytes: &mut [u8; 32], epoch: u32) -> Self {
        let mut key = Box::new([0u8; 32]);
        key.copy_from_slice(bytes);
        bytes.zeroize();
        MasterKey { key, epoch }
    }

    /// Lends `bytes` (for example the plaintext inside `kms_pagechain::Shield::with_secret`) to
    /// `f` as a master key. The key's one copy is zeroized before this returns, whatever `f`
    /// does, so no unlocked copy outlives the call; `f` cannot keep the key (it only borrows it).
    /// Returns `None` when `bytes` is not 32 bytes long.
    ///
    /// ```
    /// use kms_core::MasterKey;
    /// let plaintext = [7u8; 32]; // in a signer: the buffer `Shield::with_secret` lends
    /// assert_eq!(MasterKey::scoped(&plaintext, 3, |m| m.epoch()), Some(3));
    /// assert_eq!(MasterKey::scoped(&plaintext[..31], 3, |m| m.epoch()), None);
    /// ```
    pub fn scoped<R>(bytes: &[u8], epoch: u32, f: impl FnOnce(&MasterKey) -> R) -> Option<R> {
        let arr: &[u8; 32] = bytes.try_into().ok()?;
        let mut key = Box::new([0u8; 32]);
        key.copy_from_slice(arr);
        let master = MasterKey { key, epoch };
        Some(f(&master))
    }

    /// The key's epoch (generation), written into every record it seals.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Reads the secret bytes (for sealing to a TPM or shielding). Handle with care.
    pub fn expose_secret(&self) -> &[u8; 32] {
        &self.key
    }

    /// Copies the key out as a zeroizing array (for handing to a sealer).
    pub fn to_zeroizing(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(*self.key)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

impl ConstantTimeEq for MasterKey {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        self.key.as_slice().ct_eq(other.key.as_slice()) & self.epoch.ct_eq(&other.epoch)
    }
}

impl PartialEq for MasterKey {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}
impl Eq for MasterKey {}
