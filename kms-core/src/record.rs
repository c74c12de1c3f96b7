//! Sealed key records, format v1 (see `SPEC.md`): XChaCha20-Poly1305 under a key derived from
//! the master key, with associated data binding the record to its user, kind, id and version.

use core::fmt;

use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::error::{Error, Result, os_random};
use crate::keys::{Address, Signature, WalletKey};
use crate::mnemonic::Mnemonic;
use crate::secret::{MasterKey, Seed};
use crate::slip10::SolanaPathScheme;

/// Magic bytes that open every sealed record.
pub const RECORD_MAGIC: [u8; 4] = *b"KMSR";
/// The record format version this build writes and reads.
pub const RECORD_VERSION: u8 = 1;
/// HKDF salt for the record-encryption key (domain separation, see SPEC.md).
const RECORD_KEY_SALT: &[u8] = b"kms-core/record-key/v1";
/// HKDF info prefix for the record-encryption key; the epoch follows.
const RECORD_KEY_INFO: &[u8] = b"xchacha20poly1305";
/// Associated-data prefix (domain separation).
const RECORD_AAD_DOMAIN: &[u8] = b"kms-core/record/v1";
const HEADER_LEN: usize = 4 + 1 + 1 + 4 + 24;
const TAG_LEN: usize = 16;
/// Maximum size of a user identity in bytes.
pub const MAX_USER_ID_LEN: usize = 64;
/// Largest record this build accepts (a seed record is 134 bytes of plaintext).
pub const MAX_RECORD_LEN: usize = 1024;

/// The identity a record belongs to: the chat user id, as bytes (1 to 64). Not secret.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct UserId(Vec<u8>);

impl UserId {
    /// A user id from bytes (for a chat platform, its user id as text, e.g. `tg:12345`).
    ///
    /// # Errors
    /// [`Error::InvalidUserId`] when empty or longer than [`MAX_USER_ID_LEN`].
    pub fn new(id: impl AsRef<[u8]>) -> Result<Self> {
        let id = id.as_ref();
        if id.is_empty() || id.len() > MAX_USER_ID_LEN {
            return Err(Error::InvalidUserId {
                len: id.len(),
                max: MAX_USER_ID_LEN,
            });
        }
        Ok(UserId(id.to_vec()))
    }

    /// The bytes of the id.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserId({:?})", String::from_utf8_lossy(&self.0))
    }
}

/// What a record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RecordKind {
    /// A BIP39 seed (and its phrase); every wallet of the user is derived from it.
    Seed,
    /// One imported legacy ed25519 key.
    ImportedKey,
}

impl RecordKind {
    pub(crate) fn code(self) -> u8 {
        match self {
            RecordKind::Seed => 1,
            RecordKind::ImportedKey => 2,
        }
    }

    pub(crate) fn from_code(c: u8) -> Option<Self> {
        match c {
            1 => Some(RecordKind::Seed),
            2 => Some(RecordKind::ImportedKey),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            RecordKind::Seed => "seed",
            RecordKind::ImportedKey => "imported key",
        }
    }
}

/// Where a record lives: its user, its kind and its id among that user's records of that kind.
/// The associated data of the record binds all three, so a record moved anywhere else does
/// not open.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordLocation {
    /// The owner.
    pub user: UserId,
    /// The kind of record.
    pub kind: RecordKind,
    /// The record id (seed slot or imported-key slot).
    pub id: u32,
}

impl RecordLocation {
    /// A location.
    pub fn new(user: UserId, kind: RecordKind, id: u32) -> Self {
        RecordLocation { user, kind, id }
    }

    /// The key-store key: `len(user) ‖ user ‖ kind ‖ id (big-endian)`. Keys of one user share a
    /// prefix, so listing a user is a range scan.
    pub fn store_key(&self) -> Vec<u8> {
        let mut k = Vec::with_capacity(1 + self.user.0.len() + 5);
        k.push(self.user.0.len() as u8);
        k.extend_from_slice(&self.user.0);
        k.push(self.kind.code());
        k.extend_from_slice(&self.id.to_be_bytes());
        k
    }

    /// Parses a key-store key.
    ///
    /// # Errors
    /// [`Error::MalformedRecord`] when the bytes are not a key this crate wrote.
    pub fn from_store_key(k: &[u8]) -> Result<Self> {
        let bad = || Error::MalformedRecord("store key is malformed");
        let (&len, rest) = k.split_first().ok_or_else(bad)?;
        let len = usize::from(len);
        if rest.len() != len + 5 {
            return Err(bad());
        }
        let user = UserId::new(&rest[..len]).map_err(|_| bad())?;
        let kind = RecordKind::from_code(rest[len]).ok_or_else(bad)?;
        let id = u32::from_be_bytes([rest[len + 1], rest[len + 2], rest[len + 3], rest[len + 4]]);
        Ok(RecordLocation { user, kind, id })
    }

    fn aad(&self, kind: u8, epoch: u32) -> Vec<u8> {
        let mut aad = Vec::with_capacity(RECORD_AAD_DOMAIN.len() + 8 + self.user.0.len() + 5);
        aad.extend_from_slice(RECORD_AAD_DOMAIN);
        aad.push(RECORD_VERSION);
        aad.push(kind);
        aad.extend_from_slice(&epoch.to_be_bytes());
        aad.extend_from_slice(&self.store_key());
        aad
    }
}

/// A sealed record: public header plus ciphertext. Safe to store and replicate anywhere; it
/// opens only with the master key, at its own location.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedRecord(Vec<u8>);

impl fmt::Debug for SealedRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedRecord")
            .field("kind", &RecordKind::from_code(self.0[5]))
            .field("epoch", &self.epoch())
            .field("len", &self.0.len())
            .finish_non_exhaustive()
    }
}

/// The secret content of a seed record, decrypted for one operation.
pub struct SeedSecret {
    /// The 64-byte BIP39 seed.
    pub seed: Seed,
    /// The phrase, when the seed was created from one (kept for backup export).
    pub mnemonic: Option<Mnemonic>,
    /// Whether a BIP39 passphrase was used (it is not stored: the backup says it is needed).
    pub has_passphrase: bool,
    /// Which Solana path family this user's wallets use.
    pub scheme: SolanaPathScheme,
}

impl fmt::Debug for SeedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SeedSecret")
            .field("has_passphrase", &self.has_passphrase)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

/// A decrypted record. Zeroized when dropped.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenedRecord {
    /// A seed record.
    Seed(SeedSecret),
    /// An imported key.
    ImportedKey(WalletKey),
}

impl OpenedRecord {
    /// The signing key of wallet `index` (for an imported key, only index 0 exists).
    ///
    /// # Errors
    /// [`Error::InvalidPath`] for an index the record does not have.
    pub fn wallet(&self, index: u32) -> Result<WalletKey> {
        match self {
            OpenedRecord::Seed(s) => s.seed.solana_wallet(s.scheme, index),
            OpenedRecord::ImportedKey(k) if index == 0 => {
                Ok(WalletKey::from_secret(&k.reveal_secret()))
            }
            OpenedRecord::ImportedKey(_) => Err(Error::InvalidPath {
                position: 0,
                reason: "an imported key has only wallet 0",
            }),
        }
    }
}

fn record_cipher(master: &MasterKey) -> XChaCha20Poly1305 {
    let hk = Hkdf::<Sha256>::new(Some(RECORD_KEY_SALT), master.expose_secret());
    let mut key = Zeroizing::new([0u8; 32]);
    let mut info = [0u8; RECORD_KEY_INFO.len() + 4];
    info[..RECORD_KEY_INFO.len()].copy_from_slice(RECORD_KEY_INFO);
    info[RECORD_KEY_INFO.len()..].copy_from_slice(&master.epoch().to_be_bytes());
    // 32 bytes is far below HKDF-SHA256's 8160-byte limit.
    let _ = hk.expand(&info, key.as_mut_slice());
    // The key length is fixed at 32 bytes, which XChaCha20-Poly1305 accepts.
    let Ok(cipher) = XChaCha20Poly1305::new_from_slice(key.as_slice()) else {
        unreachable!("XChaCha20-Poly1305 keys are 32 bytes")
    };
    cipher
}

impl SealedRecord {
    /// Seals the seed of `mnemonic` (+ `passphrase`) for the seed record at `at`.
    ///
    /// # Errors
    /// [`Error::WrongRecordKind`] when `at` is not a seed location; [`Error::Rng`].
    pub fn seal_mnemonic(
        master: &MasterKey,
        at: &RecordLocation,
        mnemonic: &Mnemonic,
        passphrase: &str,
        scheme: SolanaPathScheme,
    ) -> Result<Self> {
        let seed = mnemonic.to_seed(passphrase);
        let entropy = mnemonic.entropy();
        let mut pt = Zeroizing::new(Vec::with_capacity(4 + 32 + 64 + TAG_LEN));
        pt.push(1);
        pt.push(scheme.code());
        pt.push(u8::from(!passphrase.is_empty()));
        pt.push(entropy.len() as u8);
        pt.extend_from_slice(&entropy);
        pt.extend_from_slice(seed.expose_secret());
        Self::seal_plaintext(master, at, RecordKind::Seed, pt)
    }

    /// Seals a raw 64-byte seed that has no phrase (for example from another wallet's export).
    ///
    /// # Errors
    /// [`Error::WrongRecordKind`] when `at` is not a seed location; [`Error::Rng`].
    pub fn seal_seed(
        master: &MasterKey,
        at: &RecordLocation,
        seed: &Seed,
        scheme: SolanaPathScheme,
    ) -> Result<Self> {
        let mut pt = Zeroizing::new(Vec::with_capacity(4 + 64 + TAG_LEN));
        pt.extend_from_slice(&[1, scheme.code(), 0, 0]);
        pt.extend_from_slice(seed.expose_secret());
        Self::seal_plaintext(master, at, RecordKind::Seed, pt)
    }

    /// Seals an imported legacy key for the imported-key record at `at`.
    ///
    /// # Errors
    /// [`Error::WrongRecordKind`] when `at` is not an imported-key location; [`Error::Rng`].
    pub fn seal_key(master: &MasterKey, at: &RecordLocation, key: &WalletKey) -> Result<Self> {
        let mut pt = Zeroizing::new(Vec::with_capacity(1 + 32 + TAG_LEN));
        pt.push(1);
        pt.extend_from_slice(key.reveal_secret().as_slice());
        Self::seal_plaintext(master, at, RecordKind::ImportedKey, pt)
    }

    fn seal_plaintext(
        master: &MasterKey,
        at: &RecordLocation,
        kind: RecordKind,
        mut pt: Zeroizing<Vec<u8>>,
    ) -> Result<Self> {
        if at.kind != kind {
            return Err(Error::WrongRecordKind {
                expected: at.kind.name(),
                found: kind.name(),
            });
        }
        let mut nonce = [0u8; 24];
        os_random(&mut nonce)?;
        let aad = at.aad(kind.code(), master.epoch());
        record_cipher(master)
            .encrypt_in_place(&XNonce::from(nonce), &aad, &mut *pt)
            .map_err(|_| Error::MalformedRecord("record too large to seal"))?;
        let mut out = Vec::with_capacity(HEADER_LEN + pt.len());
        out.extend_from_slice(&RECORD_MAGIC);
        out.push(RECORD_VERSION);
        out.push(kind.code());
        out.extend_from_slice(&master.epoch().to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&pt);
        Ok(SealedRecord(out))
    }

    /// Parses record bytes (from a store or the network), checking the header only.
    ///
    /// # Errors
    /// [`Error::MalformedRecord`] or [`Error::UnsupportedRecordVersion`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < 5 {
            return Err(Error::MalformedRecord("shorter than the header"));
        }
        if bytes[..4] != RECORD_MAGIC {
            return Err(Error::MalformedRecord(
                "does not start with the record magic",
            ));
        }
        if bytes[4] != RECORD_VERSION {
            return Err(Error::UnsupportedRecordVersion(bytes[4]));
        }
        if bytes.len() < HEADER_LEN + TAG_LEN {
            return Err(Error::MalformedRecord("shorter than the header and tag"));
        }
        if bytes.len() > MAX_RECORD_LEN {
            return Err(Error::MalformedRecord(
                "longer than the maximum record size",
            ));
        }
        if RecordKind::from_code(bytes[5]).is_none() {
            return Err(Error::MalformedRecord("unknown record kind"));
        }
        Ok(SealedRecord(bytes.to_vec()))
    }

    fn nonce(&self) -> XNonce {
        let mut n = [0u8; 24];
        n.copy_from_slice(&self.0[10..HEADER_LEN]);
        XNonce::from(n)
    }

    /// The record's bytes, for storage.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The kind written in the header.
    pub fn kind(&self) -> RecordKind {
        // Checked by every constructor.
        RecordKind::from_code(self.0[5]).unwrap_or(RecordKind::Seed)
    }

    /// The master-key epoch that sealed this record (public; used by rotation).
    pub fn epoch(&self) -> u32 {
        u32::from_be_bytes([self.0[6], self.0[7], self.0[8], self.0[9]])
    }

    /// Authenticates and decrypts the payload at `at` into a zeroizing buffer.
    fn decrypt(&self, master: &MasterKey, at: &RecordLocation) -> Result<Zeroizing<Vec<u8>>> {
        if self.epoch() != master.epoch() {
            return Err(Error::EpochMismatch {
                record: self.epoch(),
                key: master.epoch(),
            });
        }
        let aad = at.aad(self.0[5], self.epoch());
        let mut buf = Zeroizing::new(Vec::with_capacity(self.0.len() - HEADER_LEN));
        buf.extend_from_slice(&self.0[HEADER_LEN..]);
        record_cipher(master)
            .decrypt_in_place(&self.nonce(), &aad, &mut *buf)
            .map_err(|_| Error::DecryptionFailed)?;
        Ok(buf)
    }

    /// Decrypts the record at its location.
    ///
    /// # Errors
    /// [`Error::EpochMismatch`] when `master` is of another epoch; [`Error::DecryptionFailed`]
    /// for a wrong key, a record moved to another location, or any modified byte.
    pub fn open(&self, master: &MasterKey, at: &RecordLocation) -> Result<OpenedRecord> {
        let kind = self.0[5];
        let buf = self.decrypt(master, at)?;
        // Authentic from here on: the bytes are ones this crate sealed at this location, so
        // a layout error means a bug or a sealed-but-corrupt record; still no panic.
        let pt = buf.as_slice();
        let corrupt = || Error::MalformedRecord("authenticated payload has an unexpected layout");
        match (RecordKind::from_code(kind), pt) {
            (Some(RecordKind::Seed), [1, scheme, flags, elen, rest @ ..]) => {
                let elen = usize::from(*elen);
                let scheme = SolanaPathScheme::from_code(*scheme).ok_or_else(corrupt)?;
                if rest.len() != elen + 64 || *flags > 1 {
                    return Err(corrupt());
                }
                let mnemonic = if elen == 0 {
                    None
                } else {
                    Some(Mnemonic::from_entropy(&rest[..elen]).map_err(|_| corrupt())?)
                };
                let mut seed = Seed::zeroed();
                seed.as_mut().copy_from_slice(&rest[elen..]);
                Ok(OpenedRecord::Seed(SeedSecret {
                    seed,
                    mnemonic,
                    has_passphrase: *flags == 1,
                    scheme,
                }))
            }
            (Some(RecordKind::ImportedKey), [1, rest @ ..]) if rest.len() == 32 => {
                let mut secret = Zeroizing::new([0u8; 32]);
                secret.copy_from_slice(rest);
                Ok(OpenedRecord::ImportedKey(WalletKey::from_secret(&secret)))
            }
            _ => Err(corrupt()),
        }
    }

    /// Re-seals this record under `new` (master-key rotation). The plaintext exists only inside
    /// this call, in zeroizing buffers.
    ///
    /// # Errors
    /// As [`SealedRecord::open`], and [`Error::Rng`].
    pub fn reseal(
        &self,
        old: &MasterKey,
        new: &MasterKey,
        at: &RecordLocation,
    ) -> Result<SealedRecord> {
        let buf = self.decrypt(old, at)?;
        Self::seal_plaintext(new, at, self.kind(), buf)
    }
}

/// Sign once, forget: opens the record, derives wallet `wallet_index`, signs `message`, and
/// zeroizes the decrypted record and the derived key before returning.
///
/// # Errors
/// As [`SealedRecord::open`], and [`Error::InvalidPath`] for a wallet index the record lacks.
pub fn sign(
    record: &SealedRecord,
    master: &MasterKey,
    at: &RecordLocation,
    wallet_index: u32,
    message: &[u8],
) -> Result<Signature> {
    // Every secret below (Seed, Mnemonic, SigningKey) zeroizes itself when dropped here.
    match record.open(master, at)? {
        OpenedRecord::ImportedKey(key) if wallet_index == 0 => Ok(key.sign(message)),
        opened => Ok(opened.wallet(wallet_index)?.sign(message)),
    }
}

/// The address of wallet `wallet_index` of a record (opens the record for the derivation).
///
/// # Errors
/// As [`sign`].
pub fn address(
    record: &SealedRecord,
    master: &MasterKey,
    at: &RecordLocation,
    wallet_index: u32,
) -> Result<Address> {
    Ok(record.open(master, at)?.wallet(wallet_index)?.address())
}
