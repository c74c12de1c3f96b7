//! The master key in its page-chain shield, and the sealing of the signer's own state records
//! (authorization states, user profiles) under keys derived from it.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hkdf::Hkdf;
use kms_core::MasterKey;
use kms_pagechain::{Shield, ShieldConfig};
use sha2::Sha256;
use zeroize::Zeroizing;

use super::SignerError;
use crate::audit::AuditKey;

/// HKDF salt of every key the signer derives from the master key for its own records.
pub(crate) const STATE_KEY_SALT: &[u8] = b"kms reference signer 2025";
/// HKDF info prefix of a state-record key; the record kind's name follows.
pub(crate) const STATE_KEY_INFO: &[u8] = b"kms signer state key v1 ";
/// Associated-data prefix of a sealed state record (then kind name, 0x00, user id big-endian,
/// epoch big-endian).
pub(crate) const STATE_AAD: &[u8] = b"kms signer state v1";
/// HKDF info of the description key (Ed25519 seed, salt [`STATE_KEY_SALT`]): the key that signs
/// every challenge's description statement (`kms_client::statement`).
pub(crate) const DESCRIPTION_KEY_INFO: &[u8] = b"kms signer description key v1";
/// Version byte of a sealed state record.
pub(crate) const STATE_FORMAT: u8 = 1;

/// What a sealed state record holds; the name is part of the key derivation and the associated
/// data, so one kind never opens as another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StateKind {
    /// A kms-intent `UserState` encoding (holds TOTP secrets).
    Authorization,
    /// The user's wallet list.
    Profile,
    /// What an open challenge decides (keyed by the challenge id instead of a user id).
    Pending,
}

impl StateKind {
    fn name(self) -> &'static [u8] {
        match self {
            Self::Authorization => b"authorization",
            Self::Profile => b"profile",
            Self::Pending => b"pending",
        }
    }
}

/// The master key, held only as a page-chain shield.
pub(crate) struct Vault {
    shield: Shield,
    epoch: u32,
}

impl Vault {
    /// Shields `secret` (the unsealed master key; wiped by this call).
    pub(crate) fn new(
        secret: Zeroizing<Vec<u8>>,
        epoch: u32,
        mutation_secs: u64,
    ) -> Result<Self, SignerError> {
        if secret.len() != MasterKey::LEN {
            return Err(SignerError::Startup(format!(
                "the unsealed master key is {} bytes, expected {}",
                secret.len(),
                MasterKey::LEN
            )));
        }
        let mut config = ShieldConfig::default();
        if mutation_secs > 0 {
            config =
                config.background_mutation(Some(std::time::Duration::from_secs(mutation_secs)));
        }
        let shield = Shield::new(secret, config)
            .map_err(|e| SignerError::Startup(format!("master-key shield: {e}")))?;
        Ok(Self { shield, epoch })
    }

    /// Lends the master key to `f`; it exists in clear only inside the shield's locked buffer
    /// and the one scoped copy of [`MasterKey::scoped`], both wiped before this returns.
    pub(crate) fn with_master<R>(&self, f: impl FnOnce(&MasterKey) -> R) -> Result<R, SignerError> {
        let epoch = self.epoch;
        self.shield
            .with_secret(|k| MasterKey::scoped(k, epoch, f))
            .map_err(|e| SignerError::Internal(format!("master-key shield: {e}")))?
            .ok_or_else(|| SignerError::Internal("master key has the wrong length".into()))
    }

    /// The audit-log key (HKDF of the master key).
    pub(crate) fn audit_key(&self) -> Result<AuditKey, SignerError> {
        self.with_master(|m| AuditKey::derive(m.expose_secret()))
    }

    /// The description key's public half (derived, used and dropped inside the shield's loan).
    pub(crate) fn description_public_key(&self) -> Result<[u8; 32], SignerError> {
        self.with_master(|m| description_key(m).verifying_key().to_bytes())
    }

    /// Signs a description statement with the description key, derived for this call only.
    /// Refuses bytes that are not a version-1 statement: the key signs nothing else (its domain
    /// separation is the statement's magic).
    pub(crate) fn sign_statement(&self, statement: &[u8]) -> Result<[u8; 64], SignerError> {
        use ed25519_dalek::Signer as _;
        if !statement.starts_with(kms_client::statement::STATEMENT_MAGIC) {
            return Err(SignerError::Internal(
                "refusing to sign bytes that are not a description statement".into(),
            ));
        }
        self.with_master(|m| description_key(m).sign(statement).to_bytes())
    }

    /// Seals `plaintext` as a state record of `kind` for `user`.
    pub(crate) fn seal(
        &self,
        kind: StateKind,
        user: u64,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, SignerError> {
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|_| SignerError::Internal("OS RNG failed".into()))?;
        let aad = aad(kind, user, self.epoch);
        let ct = self
            .with_master(|m| {
                cipher(m, kind).encrypt(
                    &XNonce::from(nonce),
                    Payload {
                        msg: plaintext,
                        aad: &aad,
                    },
                )
            })?
            .map_err(|_| SignerError::Internal("sealing failed".into()))?;
        let mut out = Vec::with_capacity(1 + 4 + 24 + ct.len());
        out.push(STATE_FORMAT);
        out.extend_from_slice(&self.epoch.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens a state record sealed by [`Vault::seal`] for the same kind and user.
    pub(crate) fn open(
        &self,
        kind: StateKind,
        user: u64,
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, SignerError> {
        let bad =
            || SignerError::Corrupt(format!("sealed {kind:?} record of a user does not open"));
        if sealed.len() < 1 + 4 + 24 + 16 || sealed[0] != STATE_FORMAT {
            return Err(bad());
        }
        let epoch = u32::from_be_bytes([sealed[1], sealed[2], sealed[3], sealed[4]]);
        if epoch != self.epoch {
            return Err(bad());
        }
        let aad = aad(kind, user, epoch);
        let mut n = [0u8; 24];
        n.copy_from_slice(&sealed[5..29]);
        let pt = self
            .with_master(|m| {
                cipher(m, kind).decrypt(
                    &XNonce::from(n),
                    Payload {
                        msg: &sealed[29..],
                        aad: &aad,
                    },
                )
            })?
            .map_err(|_| bad())?;
        Ok(Zeroizing::new(pt))
    }
}

fn aad(kind: StateKind, user: u64, epoch: u32) -> Vec<u8> {
    let mut aad = Vec::with_capacity(STATE_AAD.len() + 16 + 13);
    aad.extend_from_slice(STATE_AAD);
    aad.extend_from_slice(kind.name());
    aad.push(0);
    aad.extend_from_slice(&user.to_be_bytes());
    aad.extend_from_slice(&epoch.to_be_bytes());
    aad
}

/// The description key: Ed25519 from a 32-byte HKDF-SHA256 output (zeroized on drop).
fn description_key(master: &MasterKey) -> ed25519_dalek::SigningKey {
    let hk = Hkdf::<Sha256>::new(Some(STATE_KEY_SALT), master.expose_secret());
    let mut seed = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's output limit, so expand cannot fail.
    let _ = hk.expand(DESCRIPTION_KEY_INFO, seed.as_mut_slice());
    ed25519_dalek::SigningKey::from_bytes(&seed)
}

fn cipher(master: &MasterKey, kind: StateKind) -> XChaCha20Poly1305 {
    let hk = Hkdf::<Sha256>::new(Some(STATE_KEY_SALT), master.expose_secret());
    let mut info = Vec::with_capacity(STATE_KEY_INFO.len() + 16);
    info.extend_from_slice(STATE_KEY_INFO);
    info.extend_from_slice(kind.name());
    let mut key = Zeroizing::new([0u8; 32]);
    // 32 bytes is far below HKDF-SHA256's output limit, so expand cannot fail.
    let _ = hk.expand(&info, key.as_mut_slice());
    // The key is 32 bytes, the one length XChaCha20-Poly1305 takes.
    match XChaCha20Poly1305::new_from_slice(key.as_slice()) {
        Ok(c) => c,
        Err(_) => unreachable!("XChaCha20-Poly1305 keys are 32 bytes"),
    }
}
