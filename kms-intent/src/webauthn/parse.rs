//! Parsing of authenticator data, COSE public keys, attestation objects and clientDataJSON.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::cbor::{self, Value};
use crate::error::IntentError;

/// User present.
pub const FLAG_UP: u8 = 0x01;
/// User verified.
pub const FLAG_UV: u8 = 0x04;
/// Backup eligible.
pub const FLAG_BE: u8 = 0x08;
/// Backed up.
pub const FLAG_BS: u8 = 0x10;
/// Attested credential data included.
pub const FLAG_AT: u8 = 0x40;
/// Extension data included.
pub const FLAG_ED: u8 = 0x80;

/// Longest credential id accepted (WebAuthn §5.8.3).
pub const MAX_CREDENTIAL_ID_LEN: usize = 1023;
/// Longest clientDataJSON accepted, in bytes.
pub const MAX_CLIENT_DATA_LEN: usize = 8192;
/// Longest authenticator data or attestation object accepted, in bytes.
pub const MAX_AUTHENTICATOR_DATA_LEN: usize = 16 * 1024;

/// A credential public key decoded from COSE.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoseKey {
    /// ES256: ECDSA with P-256 and SHA-256 (COSE alg -7), stored as the 65-byte uncompressed
    /// SEC1 point, checked to be on the curve.
    Es256([u8; 65]),
    /// Ed25519 (COSE alg -8 "EdDSA" or -19 "Ed25519", crv 6), checked to decompress and not to be
    /// of small order.
    Ed25519([u8; 32]),
}

impl CoseKey {
    /// Decodes a COSE_Key map: EC2 (kty 2, alg -7, crv 1, x, y) or OKP (kty 1, alg -8 or -19,
    /// crv 6, x). Any other label is refused.
    ///
    /// # Errors
    /// [`IntentError::UnsupportedCoseKey`] for any other key or a point that does not validate.
    pub fn from_cose(v: &Value<'_>) -> Result<Self, IntentError> {
        let Value::Map(entries) = v else {
            return Err(IntentError::UnsupportedCoseKey("not a map"));
        };
        let int = |k| v.map_get_int(k).and_then(Value::as_i64);
        let bytes32 = |k| match v.map_get_int(k) {
            Some(Value::Bytes(b)) if b.len() == 32 => {
                let mut a = [0u8; 32];
                a.copy_from_slice(b);
                Ok(a)
            }
            _ => Err(IntentError::UnsupportedCoseKey(
                "coordinate missing or not 32 bytes",
            )),
        };
        match (int(1), int(3), int(-1)) {
            (Some(2), Some(-7), Some(1)) => {
                if entries.len() != 5 {
                    return Err(IntentError::UnsupportedCoseKey(
                        "unexpected EC2 key parameters",
                    ));
                }
                let (x, y) = (bytes32(-2)?, bytes32(-3)?);
                let mut point = [0u8; 65];
                point[0] = 0x04;
                point[1..33].copy_from_slice(&x);
                point[33..].copy_from_slice(&y);
                p256::ecdsa::VerifyingKey::from_sec1_bytes(&point)
                    .map_err(|_| IntentError::UnsupportedCoseKey("P-256 point not on the curve"))?;
                Ok(Self::Es256(point))
            }
            (Some(1), Some(-8 | -19), Some(6)) => {
                if entries.len() != 4 {
                    return Err(IntentError::UnsupportedCoseKey(
                        "unexpected OKP key parameters",
                    ));
                }
                let x = bytes32(-2)?;
                let key = ed25519_dalek::VerifyingKey::from_bytes(&x)
                    .map_err(|_| IntentError::UnsupportedCoseKey("Ed25519 point invalid"))?;
                if key.is_weak() {
                    return Err(IntentError::UnsupportedCoseKey(
                        "Ed25519 key of small order",
                    ));
                }
                Ok(Self::Ed25519(x))
            }
            _ => Err(IntentError::UnsupportedCoseKey(
                "only ES256 (EC2 P-256) and Ed25519 (OKP)",
            )),
        }
    }

    /// The COSE algorithm identifier (-7 or -8).
    #[must_use]
    pub fn cose_alg(&self) -> i64 {
        match self {
            Self::Es256(_) => -7,
            Self::Ed25519(_) => -8,
        }
    }
}

/// Attested credential data (registration only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestedCredential<'a> {
    /// The authenticator model's AAGUID.
    pub aaguid: [u8; 16],
    /// The credential id.
    pub credential_id: &'a [u8],
    /// The credential public key.
    pub public_key: CoseKey,
}

/// Parsed authenticator data (WebAuthn §6.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticatorData<'a> {
    /// SHA-256 of the rpId.
    pub rp_id_hash: [u8; 32],
    /// The flags byte.
    pub flags: u8,
    /// The signature counter.
    pub sign_count: u32,
    /// Present when the AT flag is set.
    pub attested: Option<AttestedCredential<'a>>,
    /// The extensions CBOR map, present when the ED flag is set.
    pub extensions: Option<&'a [u8]>,
}

impl AuthenticatorData<'_> {
    /// Whether the user-present flag is set.
    #[must_use]
    pub fn user_present(&self) -> bool {
        self.flags & FLAG_UP != 0
    }
    /// Whether the user-verified flag is set.
    #[must_use]
    pub fn user_verified(&self) -> bool {
        self.flags & FLAG_UV != 0
    }
}

/// Strictly parses authenticator data: 37 fixed bytes, attested credential data exactly when AT
/// is set, an extensions map exactly when ED is set, nothing after.
///
/// # Errors
/// [`IntentError::MalformedAuthenticatorData`] (or a COSE/CBOR error) for anything else.
pub fn parse_authenticator_data(data: &[u8]) -> Result<AuthenticatorData<'_>, IntentError> {
    use IntentError::MalformedAuthenticatorData as Bad;
    if data.len() > MAX_AUTHENTICATOR_DATA_LEN {
        return Err(Bad("too long"));
    }
    if data.len() < 37 {
        return Err(Bad("shorter than 37 bytes"));
    }
    let mut rp_id_hash = [0u8; 32];
    rp_id_hash.copy_from_slice(&data[..32]);
    let flags = data[32];
    let sign_count = u32::from_be_bytes([data[33], data[34], data[35], data[36]]);
    if flags & FLAG_BS != 0 && flags & FLAG_BE == 0 {
        return Err(Bad("backed up but not backup eligible"));
    }
    let mut rest = &data[37..];
    let attested = if flags & FLAG_AT != 0 {
        if rest.len() < 18 {
            return Err(Bad("attested credential data truncated"));
        }
        let mut aaguid = [0u8; 16];
        aaguid.copy_from_slice(&rest[..16]);
        let id_len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        if id_len == 0 || id_len > MAX_CREDENTIAL_ID_LEN {
            return Err(Bad("credential id length"));
        }
        rest = &rest[18..];
        if rest.len() < id_len {
            return Err(Bad("credential id truncated"));
        }
        let (credential_id, after) = rest.split_at(id_len);
        let (key_value, used) = cbor::decode_prefix(after)?;
        let public_key = CoseKey::from_cose(&key_value)?;
        rest = &after[used..];
        Some(AttestedCredential {
            aaguid,
            credential_id,
            public_key,
        })
    } else {
        None
    };
    let extensions = if flags & FLAG_ED != 0 {
        let (ext, used) = cbor::decode_prefix(rest)?;
        if !matches!(ext, Value::Map(_)) {
            return Err(Bad("extensions are not a map"));
        }
        let e = &rest[..used];
        rest = &rest[used..];
        Some(e)
    } else {
        None
    };
    if !rest.is_empty() {
        return Err(Bad("trailing bytes"));
    }
    Ok(AuthenticatorData {
        rp_id_hash,
        flags,
        sign_count,
        attested,
        extensions,
    })
}

/// A parsed attestation object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestationObject<'a> {
    /// The attestation statement format (`none`, `packed`, ...).
    pub fmt: &'a str,
    /// The raw authenticator data.
    pub auth_data: &'a [u8],
}

/// Parses an attestation object: a CBOR map of exactly `fmt` (text), `attStmt` (map) and
/// `authData` (bytes). The statement is not verified (see `SPEC.md`); for `none` it must be empty.
///
/// # Errors
/// [`IntentError::MalformedCbor`] for anything else.
pub fn parse_attestation_object(data: &[u8]) -> Result<AttestationObject<'_>, IntentError> {
    if data.len() > MAX_AUTHENTICATOR_DATA_LEN {
        return Err(IntentError::MalformedCbor("attestation object too long"));
    }
    let v = cbor::decode(data)?;
    let Value::Map(entries) = &v else {
        return Err(IntentError::MalformedCbor(
            "attestation object is not a map",
        ));
    };
    if entries.len() != 3 {
        return Err(IntentError::MalformedCbor(
            "attestation object needs exactly 3 entries",
        ));
    }
    let fmt = match v.map_get_text("fmt") {
        Some(Value::Text(t)) => *t,
        _ => return Err(IntentError::MalformedCbor("fmt missing")),
    };
    let stmt_len = match v.map_get_text("attStmt") {
        Some(Value::Map(m)) => m.len(),
        _ => return Err(IntentError::MalformedCbor("attStmt missing")),
    };
    if fmt == "none" && stmt_len != 0 {
        return Err(IntentError::MalformedCbor(
            "none attestation with a statement",
        ));
    }
    let auth_data = match v.map_get_text("authData") {
        Some(Value::Bytes(b)) => *b,
        _ => return Err(IntentError::MalformedCbor("authData missing")),
    };
    Ok(AttestationObject { fmt, auth_data })
}

/// The fields of clientDataJSON this crate checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientData {
    /// `webauthn.create` or `webauthn.get`.
    pub ty: String,
    /// The decoded challenge bytes.
    pub challenge: Vec<u8>,
    /// The origin.
    pub origin: String,
    /// `crossOrigin`, when present.
    pub cross_origin: Option<bool>,
    /// `topOrigin`, when present.
    pub top_origin: Option<String>,
}

#[derive(Deserialize)]
struct RawClientData {
    #[serde(rename = "type")]
    ty: String,
    challenge: String,
    origin: String,
    #[serde(rename = "crossOrigin")]
    cross_origin: Option<bool>,
    #[serde(rename = "topOrigin")]
    top_origin: Option<String>,
}

/// Parses clientDataJSON (a UTF-8 JSON object; unknown members are allowed as the spec requires,
/// duplicate members are refused) and decodes its challenge from unpadded base64url.
///
/// # Errors
/// [`IntentError::MalformedClientData`] for anything else.
pub fn parse_client_data(json: &[u8]) -> Result<ClientData, IntentError> {
    use IntentError::MalformedClientData as Bad;
    if json.len() > MAX_CLIENT_DATA_LEN {
        return Err(Bad("too long"));
    }
    let raw: RawClientData =
        serde_json::from_slice(json).map_err(|_| Bad("not the expected JSON object"))?;
    let challenge = URL_SAFE_NO_PAD
        .decode(raw.challenge.as_bytes())
        .map_err(|_| Bad("challenge is not base64url"))?;
    Ok(ClientData {
        ty: raw.ty,
        challenge,
        origin: raw.origin,
        cross_origin: raw.cross_origin,
        top_origin: raw.top_origin,
    })
}
