//! Password-protected backup files, format v1 (see `SPEC.md`): Argon2id + HKDF-SHA256 +
//! XChaCha20-Poly1305, parameters in the header, the whole header authenticated.

use core::fmt;

use argon2::{Algorithm, Argon2, Params, Version};
use chacha20poly1305::aead::{AeadInOut, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::error::{Error, Result, os_random};
use crate::keys::WalletKey;
use crate::mnemonic::Mnemonic;
use crate::record::UserId;
use crate::record::{OpenedRecord, RecordKind};
use crate::secret::{MasterKey, Seed};
use crate::slip10::SolanaPathScheme;
use crate::store::KeyStore;

/// Magic bytes that open every backup file.
pub const BACKUP_MAGIC: [u8; 8] = *b"KMS-BKUP";
/// The backup format version this build writes and reads.
pub const BACKUP_VERSION: u8 = 1;
const KDF_ARGON2ID_V13: u8 = 1;
const HEADER_LEN: usize = 8 + 1 + 1 + 12 + 32 + 24 + 16 + 4;
const TAG_LEN: usize = 16;
const HKDF_SALT: &[u8] = b"kms-core/backup/v1";
const INFO_KEY: &[u8] = b"encryption key";
const INFO_CHECK: &[u8] = b"password check";
/// Largest body accepted (a backup holds one seed and at most a few thousand keys).
pub const MAX_BODY_LEN: usize = 1 << 20;

/// Argon2id cost parameters of a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackupParams {
    m_cost_kib: u32,
    t_cost: u32,
    p_cost: u32,
}

impl BackupParams {
    /// Smallest memory cost accepted, in KiB (64 MiB).
    pub const MIN_M_COST_KIB: u32 = 64 * 1024;
    /// Largest memory cost accepted when reading, in KiB (4 GiB).
    pub const MAX_M_COST_KIB: u32 = 4 * 1024 * 1024;
    /// Smallest number of passes accepted.
    pub const MIN_T_COST: u32 = 3;
    /// Largest number of passes accepted when reading.
    pub const MAX_T_COST: u32 = 64;
    /// Largest parallelism accepted.
    pub const MAX_P_COST: u32 = 16;

    /// Parameters, checked against the accepted range.
    ///
    /// # Errors
    /// [`Error::BackupParameters`] when weaker than the minimum or above the maximum.
    pub fn new(m_cost_kib: u32, t_cost: u32, p_cost: u32) -> Result<Self> {
        if m_cost_kib < Self::MIN_M_COST_KIB {
            return Err(Error::BackupParameters("memory cost below 64 MiB"));
        }
        if m_cost_kib > Self::MAX_M_COST_KIB {
            return Err(Error::BackupParameters("memory cost above 4 GiB"));
        }
        if !(Self::MIN_T_COST..=Self::MAX_T_COST).contains(&t_cost) {
            return Err(Error::BackupParameters("passes outside 3..=64"));
        }
        if !(1..=Self::MAX_P_COST).contains(&p_cost) {
            return Err(Error::BackupParameters("parallelism outside 1..=16"));
        }
        Ok(BackupParams {
            m_cost_kib,
            t_cost,
            p_cost,
        })
    }

    /// Memory cost in KiB.
    pub fn m_cost_kib(&self) -> u32 {
        self.m_cost_kib
    }
    /// Number of passes.
    pub fn t_cost(&self) -> u32 {
        self.t_cost
    }
    /// Parallelism.
    pub fn p_cost(&self) -> u32 {
        self.p_cost
    }
}

impl Default for BackupParams {
    /// m = 64 MiB, t = 3, p = 1.
    fn default() -> Self {
        BackupParams {
            m_cost_kib: Self::MIN_M_COST_KIB,
            t_cost: Self::MIN_T_COST,
            p_cost: 1,
        }
    }
}

/// What a backup holds: a user's seed (as its phrase when known) and imported keys.
#[derive(Default)]
pub struct BackupContents {
    /// The seed phrase, when the user's seed came from one.
    pub mnemonic: Option<Mnemonic>,
    /// A raw seed without a phrase (only when `mnemonic` is `None`).
    pub raw_seed: Option<Seed>,
    /// Whether restoring also needs the user's BIP39 passphrase (never stored).
    pub passphrase_needed: bool,
    /// The user's Solana path family.
    pub scheme: SolanaPathScheme,
    /// Imported legacy keys with their record ids.
    pub imported: Vec<(u32, WalletKey)>,
}

impl fmt::Debug for BackupContents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BackupContents")
            .field("has_mnemonic", &self.mnemonic.is_some())
            .field("has_raw_seed", &self.raw_seed.is_some())
            .field("passphrase_needed", &self.passphrase_needed)
            .field("scheme", &self.scheme)
            .field("imported_keys", &self.imported.len())
            .finish_non_exhaustive()
    }
}

impl BackupContents {
    /// Collects the first seed record and every imported key of `user` from `store`.
    ///
    /// # Errors
    /// Any error of opening the records ([`Error::DecryptionFailed`], ...) or of the store.
    pub fn from_store(store: &dyn KeyStore, master: &MasterKey, user: &UserId) -> Result<Self> {
        let mut out = BackupContents::default();
        for at in store.list_user(user)? {
            let Some(rec) = store.get(&at)? else { continue };
            match (at.kind, rec.open(master, &at)?) {
                (RecordKind::Seed, OpenedRecord::Seed(s))
                    if out.mnemonic.is_none() && out.raw_seed.is_none() =>
                {
                    out.passphrase_needed = s.has_passphrase;
                    out.scheme = s.scheme;
                    match s.mnemonic {
                        Some(m) => out.mnemonic = Some(m),
                        None => out.raw_seed = Some(s.seed),
                    }
                }
                (_, OpenedRecord::ImportedKey(k)) => out.imported.push((at.id, k)),
                _ => {}
            }
        }
        Ok(out)
    }

    fn encode(&self) -> Result<Zeroizing<Vec<u8>>> {
        let mut pt = Zeroizing::new(Vec::with_capacity(
            4 + 64 + 2 + self.imported.len() * 36 + TAG_LEN,
        ));
        let mut flags = 0u8;
        if self.mnemonic.is_some() {
            flags |= 1;
        } else if self.raw_seed.is_some() {
            flags |= 4;
        }
        if self.passphrase_needed {
            flags |= 2;
        }
        pt.push(1);
        pt.push(flags);
        pt.push(self.scheme.code());
        if let Some(m) = &self.mnemonic {
            let e = m.entropy();
            pt.push(e.len() as u8);
            pt.extend_from_slice(&e);
        } else if let Some(s) = &self.raw_seed {
            pt.push(64);
            pt.extend_from_slice(s.expose_secret());
        } else {
            pt.push(0);
        }
        let n = u16::try_from(self.imported.len())
            .map_err(|_| Error::BackupMalformed("more than 65535 imported keys"))?;
        pt.extend_from_slice(&n.to_be_bytes());
        for (id, key) in &self.imported {
            pt.extend_from_slice(&id.to_be_bytes());
            pt.extend_from_slice(key.reveal_secret().as_slice());
        }
        Ok(pt)
    }

    fn decode(pt: &[u8]) -> Result<Self> {
        let bad = || Error::BackupMalformed("authenticated body has an unexpected layout");
        let [1, flags, scheme, slen, rest @ ..] = pt else {
            return Err(bad());
        };
        let scheme = SolanaPathScheme::from_code(*scheme).ok_or_else(bad)?;
        let slen = usize::from(*slen);
        if rest.len() < slen + 2 || flags & !7 != 0 {
            return Err(bad());
        }
        let (secret, rest) = rest.split_at(slen);
        let mut out = BackupContents {
            passphrase_needed: flags & 2 != 0,
            scheme,
            ..BackupContents::default()
        };
        match (flags & 1 != 0, flags & 4 != 0, slen) {
            (true, false, 16..=32) => {
                out.mnemonic = Some(Mnemonic::from_entropy(secret).map_err(|_| bad())?);
            }
            (false, true, 64) => {
                let mut s = Seed::zeroed();
                s.as_mut().copy_from_slice(secret);
                out.raw_seed = Some(s);
            }
            (false, false, 0) => {}
            _ => return Err(bad()),
        }
        let n = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        let keys = &rest[2..];
        if keys.len() != n * 36 {
            return Err(bad());
        }
        for chunk in keys.chunks_exact(36) {
            let id = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
            let mut secret = Zeroizing::new([0u8; 32]);
            secret.copy_from_slice(&chunk[4..]);
            out.imported.push((id, WalletKey::from_secret(&secret)));
        }
        Ok(out)
    }
}

struct DerivedKeys {
    key: Zeroizing<[u8; 32]>,
    check: Zeroizing<[u8; 16]>,
}

fn derive_keys(password: &[u8], salt: &[u8; 32], params: &BackupParams) -> Result<DerivedKeys> {
    let p = Params::new(params.m_cost_kib, params.t_cost, params.p_cost, Some(32))
        .map_err(|_| Error::BackupParameters("rejected by Argon2"))?;
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
    let mut ikm = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into(password, salt, ikm.as_mut_slice())
        .map_err(|_| Error::BackupParameters("rejected by Argon2"))?;
    let hk = Hkdf::<Sha256>::new(Some(HKDF_SALT), ikm.as_slice());
    let mut keys = DerivedKeys {
        key: Zeroizing::new([0u8; 32]),
        check: Zeroizing::new([0u8; 16]),
    };
    // Both lengths are far below HKDF-SHA256's limit.
    let _ = hk.expand(INFO_KEY, keys.key.as_mut_slice());
    let _ = hk.expand(INFO_CHECK, keys.check.as_mut_slice());
    Ok(keys)
}

fn cipher(key: &[u8; 32]) -> XChaCha20Poly1305 {
    let Ok(c) = XChaCha20Poly1305::new_from_slice(key) else {
        unreachable!("XChaCha20-Poly1305 keys are 32 bytes")
    };
    c
}

/// Encrypts `contents` under `password` into a backup file (format v1).
///
/// Costs one Argon2id run with `params` (about 0.2 s and 64 MiB at the defaults).
///
/// # Errors
/// [`Error::Rng`], [`Error::BackupParameters`], [`Error::BackupMalformed`] for more than 65535
/// imported keys.
pub fn export_backup(
    contents: &BackupContents,
    password: &[u8],
    params: BackupParams,
) -> Result<Vec<u8>> {
    let mut salt = [0u8; 32];
    let mut nonce = [0u8; 24];
    os_random(&mut salt)?;
    os_random(&mut nonce)?;
    let keys = derive_keys(password, &salt, &params)?;
    let mut body = contents.encode()?;
    let body_len = u32::try_from(body.len() + TAG_LEN)
        .map_err(|_| Error::BackupMalformed("backup too large"))?;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len() + TAG_LEN);
    out.extend_from_slice(&BACKUP_MAGIC);
    out.push(BACKUP_VERSION);
    out.push(KDF_ARGON2ID_V13);
    out.extend_from_slice(&params.m_cost_kib.to_be_bytes());
    out.extend_from_slice(&params.t_cost.to_be_bytes());
    out.extend_from_slice(&params.p_cost.to_be_bytes());
    out.extend_from_slice(&salt);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(keys.check.as_slice());
    out.extend_from_slice(&body_len.to_be_bytes());
    cipher(&keys.key)
        .encrypt_in_place(&XNonce::from(nonce), &out, &mut *body)
        .map_err(|_| Error::BackupMalformed("backup too large"))?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Decrypts a backup file.
///
/// # Errors
/// Each a distinct error: [`Error::BackupMalformed`] (not a backup file, or trailing bytes),
/// [`Error::UnsupportedBackupVersion`], [`Error::BackupTruncated`],
/// [`Error::BackupParameters`] (parameters outside the accepted range),
/// [`Error::WrongPassword`] (or a header altered so the derived key differs),
/// [`Error::BackupTampered`] (the password matched but the body or header was altered).
pub fn import_backup(bytes: &[u8], password: &[u8]) -> Result<BackupContents> {
    let info = inspect_backup(bytes)?;
    let keys = derive_keys(password, &info.salt, &info.params)?;
    if !bool::from(keys.check.as_slice().ct_eq(&info.check)) {
        return Err(Error::WrongPassword);
    }
    let mut buf = Zeroizing::new(Vec::with_capacity(bytes.len() - HEADER_LEN));
    buf.extend_from_slice(&bytes[HEADER_LEN..]);
    cipher(&keys.key)
        .decrypt_in_place(&XNonce::from(info.nonce), &bytes[..HEADER_LEN], &mut *buf)
        .map_err(|_| Error::BackupTampered)?;
    BackupContents::decode(&buf)
}

/// What the public header of a backup file says, read without the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    /// The Argon2id parameters the file was written with.
    pub params: BackupParams,
    /// Length of the encrypted body, tag included.
    pub body_len: usize,
    salt: [u8; 32],
    nonce: [u8; 24],
    check: [u8; 16],
}

/// Checks the structure of a backup file and reads its header, without the password and
/// without running Argon2: every error of [`import_backup`] except `WrongPassword` and
/// `BackupTampered` is found here.
///
/// # Errors
/// [`Error::BackupMalformed`], [`Error::UnsupportedBackupVersion`], [`Error::BackupTruncated`],
/// [`Error::BackupParameters`].
pub fn inspect_backup(bytes: &[u8]) -> Result<BackupInfo> {
    if bytes.len() < BACKUP_MAGIC.len() + 1 {
        return if BACKUP_MAGIC.starts_with(bytes) {
            Err(Error::BackupTruncated("file ends inside the header"))
        } else {
            Err(Error::BackupMalformed(
                "does not start with the backup magic",
            ))
        };
    }
    if bytes[..8] != BACKUP_MAGIC {
        return Err(Error::BackupMalformed(
            "does not start with the backup magic",
        ));
    }
    if bytes[8] != BACKUP_VERSION {
        return Err(Error::UnsupportedBackupVersion(bytes[8]));
    }
    if bytes.len() < HEADER_LEN {
        return Err(Error::BackupTruncated("file ends inside the header"));
    }
    if bytes[9] != KDF_ARGON2ID_V13 {
        return Err(Error::BackupParameters("unknown key-derivation function"));
    }
    let be32 = |o: usize| u32::from_be_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]]);
    let params = BackupParams::new(be32(10), be32(14), be32(18))?;
    let mut salt = [0u8; 32];
    salt.copy_from_slice(&bytes[22..54]);
    let mut nonce = [0u8; 24];
    nonce.copy_from_slice(&bytes[54..78]);
    let mut check = [0u8; 16];
    check.copy_from_slice(&bytes[78..94]);
    let body_len = be32(94) as usize;
    if !(TAG_LEN..=MAX_BODY_LEN).contains(&body_len) {
        return Err(Error::BackupMalformed("body length out of range"));
    }
    let body = &bytes[HEADER_LEN..];
    if body.len() < body_len {
        return Err(Error::BackupTruncated(
            "file ends before the end of the body",
        ));
    }
    if body.len() > body_len {
        return Err(Error::BackupMalformed("bytes after the end of the body"));
    }
    Ok(BackupInfo {
        params,
        body_len,
        salt,
        nonce,
        check,
    })
}
