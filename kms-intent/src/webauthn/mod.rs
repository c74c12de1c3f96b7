//! Passkeys (WebAuthn Level 3): registration and assertion verification for ES256 and Ed25519.

pub mod cbor;
mod parse;

use core::fmt;

use sha2::{Digest, Sha256};

use crate::error::IntentError;
use crate::wire::{Reader, Writer};

pub use parse::{
    AttestationObject, AttestedCredential, AuthenticatorData, ClientData, CoseKey, FLAG_AT,
    FLAG_BE, FLAG_BS, FLAG_ED, FLAG_UP, FLAG_UV, MAX_AUTHENTICATOR_DATA_LEN, MAX_CLIENT_DATA_LEN,
    MAX_CREDENTIAL_ID_LEN, parse_attestation_object, parse_authenticator_data, parse_client_data,
};

/// Most passkeys per user.
pub const MAX_PASSKEYS: usize = 16;
/// Longest passkey label, in bytes.
pub const MAX_PASSKEY_LABEL_LEN: usize = 64;

/// The relying party: the rpId the credentials are scoped to and the origins allowed to use them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelyingParty {
    /// The rpId (a registrable domain, e.g. `wallet.example`).
    pub id: String,
    /// Exact origins accepted in clientDataJSON (e.g. `https://wallet.example`).
    pub origins: Vec<String>,
    /// Whether the user-verified flag is required (default: yes).
    pub require_user_verification: bool,
}

impl RelyingParty {
    /// A relying party with one origin, `https://{id}`, requiring user verification.
    pub fn new(id: impl Into<String>) -> Self {
        let id = id.into();
        let origins = vec![format!("https://{id}")];
        Self {
            id,
            origins,
            require_user_verification: true,
        }
    }

    fn rp_id_hash(&self) -> [u8; 32] {
        Sha256::digest(self.id.as_bytes()).into()
    }

    fn check_client_data(
        &self,
        client_data_json: &[u8],
        ty: &str,
        challenge: &[u8; 32],
    ) -> Result<(), IntentError> {
        let cd = parse_client_data(client_data_json)?;
        if cd.ty != ty {
            return Err(IntentError::ClientDataTypeMismatch);
        }
        if cd.challenge.as_slice() != challenge.as_slice() {
            return Err(IntentError::ChallengeMismatch);
        }
        if !self.origins.contains(&cd.origin)
            || cd.cross_origin == Some(true)
            || cd.top_origin.is_some()
        {
            return Err(IntentError::OriginMismatch);
        }
        Ok(())
    }

    fn check_auth_data(&self, ad: &AuthenticatorData<'_>) -> Result<(), IntentError> {
        if ad.rp_id_hash != self.rp_id_hash() {
            return Err(IntentError::RpIdMismatch);
        }
        if !ad.user_present() {
            return Err(IntentError::UserNotPresent);
        }
        if self.require_user_verification && !ad.user_verified() {
            return Err(IntentError::UserNotVerified);
        }
        Ok(())
    }
}

/// A registered passkey.
#[derive(Clone, PartialEq, Eq)]
pub struct PasskeyCredential {
    pub(crate) id: Vec<u8>,
    pub(crate) key: CoseKey,
    pub(crate) sign_count: u32,
    pub(crate) label: String,
    pub(crate) created_at: u64,
}

impl fmt::Debug for PasskeyCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasskeyCredential")
            .field("alg", &self.key.cose_alg())
            .field("sign_count", &self.sign_count)
            .field("label", &self.label)
            .finish_non_exhaustive()
    }
}

impl PasskeyCredential {
    /// The credential id.
    #[must_use]
    pub fn id(&self) -> &[u8] {
        &self.id
    }
    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> &CoseKey {
        &self.key
    }
    /// The last signature counter seen.
    #[must_use]
    pub fn sign_count(&self) -> u32 {
        self.sign_count
    }
    /// The user's label for it.
    #[must_use]
    pub fn label(&self) -> &str {
        &self.label
    }
    /// When it was registered.
    #[must_use]
    pub fn created_at(&self) -> u64 {
        self.created_at
    }

    /// Rebuilds a credential from fields a caller stored itself, for callers that use
    /// [`verify_assertion`] directly rather than through [`crate::UserState`] (which persists
    /// credentials for you). `sign_count` is the last counter the caller saw and stored.
    ///
    /// The same checks as loading a stored credential apply: a non-empty id of at most
    /// [`MAX_CREDENTIAL_ID_LEN`] bytes, a P-256 point that is uncompressed and on the curve or an
    /// Ed25519 key that decompresses and is not of small order, a label of at most
    /// [`MAX_PASSKEY_LABEL_LEN`] bytes. Nothing about assertion verification changes: every check
    /// of [`verify_assertion`] still runs against the rebuilt credential.
    ///
    /// # Errors
    /// [`IntentError::Malformed`] for an empty or too long id or an invalid key,
    /// [`IntentError::TooLong`] for a too long label.
    pub fn from_parts(
        id: &[u8],
        key: CoseKey,
        sign_count: u32,
        label: &str,
        created_at: u64,
    ) -> Result<Self, IntentError> {
        if id.is_empty() {
            return Err(IntentError::Malformed("empty credential id"));
        }
        if id.len() > MAX_CREDENTIAL_ID_LEN {
            return Err(IntentError::Malformed("credential id too long"));
        }
        if label.len() > MAX_PASSKEY_LABEL_LEN {
            return Err(IntentError::TooLong {
                field: "passkey label",
                max: MAX_PASSKEY_LABEL_LEN,
            });
        }
        match &key {
            CoseKey::Es256(p) => {
                if p[0] != 4 || p256::ecdsa::VerifyingKey::from_sec1_bytes(p).is_err() {
                    return Err(IntentError::Malformed("invalid P-256 key"));
                }
            }
            CoseKey::Ed25519(k) => match ed25519_dalek::VerifyingKey::from_bytes(k) {
                Ok(v) if !v.is_weak() => {}
                _ => return Err(IntentError::Malformed("invalid Ed25519 key")),
            },
        }
        Ok(Self {
            id: id.to_vec(),
            key,
            sign_count,
            label: label.to_owned(),
            created_at,
        })
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.bytes(&self.id);
        match &self.key {
            CoseKey::Es256(p) => {
                w.u8(1);
                w.fixed(p);
            }
            CoseKey::Ed25519(k) => {
                w.u8(2);
                w.fixed(k);
            }
        }
        w.u32(self.sign_count);
        w.str(&self.label);
        w.u64(self.created_at);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, IntentError> {
        let id = r
            .bytes(MAX_CREDENTIAL_ID_LEN, "credential id too long")?
            .to_vec();
        if id.is_empty() {
            return Err(IntentError::Malformed("empty credential id"));
        }
        let key = match r.u8()? {
            1 => {
                let p: [u8; 65] = r.fixed()?;
                if p[0] != 4 || p256::ecdsa::VerifyingKey::from_sec1_bytes(&p).is_err() {
                    return Err(IntentError::Malformed("invalid P-256 key"));
                }
                CoseKey::Es256(p)
            }
            2 => {
                let k: [u8; 32] = r.fixed()?;
                match ed25519_dalek::VerifyingKey::from_bytes(&k) {
                    Ok(v) if !v.is_weak() => CoseKey::Ed25519(k),
                    _ => return Err(IntentError::Malformed("invalid Ed25519 key")),
                }
            }
            _ => return Err(IntentError::Malformed("unknown passkey algorithm")),
        };
        Ok(Self {
            id,
            key,
            sign_count: r.u32()?,
            label: r.string(MAX_PASSKEY_LABEL_LEN, "passkey label too long")?,
            created_at: r.u64()?,
        })
    }
}

/// What the browser returns from `navigator.credentials.get()`, decoded from base64url.
#[derive(Clone, Copy, Debug)]
pub struct PasskeyAssertion<'a> {
    /// The credential id (`rawId`).
    pub credential_id: &'a [u8],
    /// `response.clientDataJSON`.
    pub client_data_json: &'a [u8],
    /// `response.authenticatorData`.
    pub authenticator_data: &'a [u8],
    /// `response.signature` (DER ECDSA for ES256, 64 raw bytes for Ed25519).
    pub signature: &'a [u8],
}

/// Verifies a registration (`navigator.credentials.create()` response) and returns the new
/// credential. Checks: clientDataJSON type `webauthn.create`, the challenge, the origin; the
/// attestation object's shape; rpId hash; UP (and UV when required); attested credential data
/// with an ES256 or Ed25519 key. Attestation statements are not verified (see `SPEC.md`).
///
/// # Errors
/// The first check that fails, as a typed [`IntentError`].
pub fn verify_registration(
    rp: &RelyingParty,
    expected_challenge: &[u8; 32],
    client_data_json: &[u8],
    attestation_object: &[u8],
    label: &str,
    now: u64,
) -> Result<PasskeyCredential, IntentError> {
    if label.len() > MAX_PASSKEY_LABEL_LEN {
        return Err(IntentError::TooLong {
            field: "passkey label",
            max: MAX_PASSKEY_LABEL_LEN,
        });
    }
    rp.check_client_data(client_data_json, "webauthn.create", expected_challenge)?;
    let att = parse_attestation_object(attestation_object)?;
    let ad = parse_authenticator_data(att.auth_data)?;
    rp.check_auth_data(&ad)?;
    let cred = ad.attested.ok_or(IntentError::MalformedAuthenticatorData(
        "no attested credential data",
    ))?;
    Ok(PasskeyCredential {
        id: cred.credential_id.to_vec(),
        key: cred.public_key,
        sign_count: ad.sign_count,
        label: label.to_owned(),
        created_at: now,
    })
}

/// Verifies an assertion against a stored credential and returns the new signature counter.
/// Checks, in the spec's order: clientDataJSON type `webauthn.get`, challenge, origin (no
/// cross-origin); authenticator data shape (no attested credential data), rpId hash, UP, UV when
/// required; the signature over `authenticatorData || SHA-256(clientDataJSON)`; then the counter:
/// when either the stored or the received counter is non-zero, the received one must be greater.
///
/// The caller stores the returned counter; [`crate::UserState`] does it for you.
///
/// # Errors
/// The first check that fails, as a typed [`IntentError`].
pub fn verify_assertion(
    rp: &RelyingParty,
    credential: &PasskeyCredential,
    expected_challenge: &[u8; 32],
    assertion: &PasskeyAssertion<'_>,
) -> Result<u32, IntentError> {
    if assertion.credential_id != credential.id.as_slice() {
        return Err(IntentError::UnknownCredential);
    }
    rp.check_client_data(
        assertion.client_data_json,
        "webauthn.get",
        expected_challenge,
    )?;
    let ad = parse_authenticator_data(assertion.authenticator_data)?;
    if ad.attested.is_some() {
        return Err(IntentError::MalformedAuthenticatorData(
            "attested credential data in an assertion",
        ));
    }
    rp.check_auth_data(&ad)?;
    let client_hash: [u8; 32] = Sha256::digest(assertion.client_data_json).into();
    let mut signed = Vec::with_capacity(assertion.authenticator_data.len() + 32);
    signed.extend_from_slice(assertion.authenticator_data);
    signed.extend_from_slice(&client_hash);
    match &credential.key {
        CoseKey::Es256(point) => {
            use p256::ecdsa::signature::Verifier;
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map_err(|_| IntentError::PasskeySignatureInvalid)?;
            let sig = p256::ecdsa::DerSignature::from_bytes(assertion.signature)
                .map_err(|_| IntentError::PasskeySignatureInvalid)?;
            key.verify(&signed, &sig)
                .map_err(|_| IntentError::PasskeySignatureInvalid)?;
        }
        CoseKey::Ed25519(k) => {
            let key = ed25519_dalek::VerifyingKey::from_bytes(k)
                .map_err(|_| IntentError::PasskeySignatureInvalid)?;
            let sig = ed25519_dalek::Signature::from_slice(assertion.signature)
                .map_err(|_| IntentError::PasskeySignatureInvalid)?;
            key.verify_strict(&signed, &sig)
                .map_err(|_| IntentError::PasskeySignatureInvalid)?;
        }
    }
    let stored = credential.sign_count;
    let received = ad.sign_count;
    if (stored != 0 || received != 0) && received <= stored {
        return Err(IntentError::CounterRegression { stored, received });
    }
    Ok(received)
}
