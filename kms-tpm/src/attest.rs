//! Quote and certification verification in pure Rust (no TPM needed on the verifier).

use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::{Signature, VerifyingKey};
use sha2::{Digest as _, Sha256};

use crate::error::Error;
use crate::pcr::{PcrSelection, PcrValues, hex};
use crate::tpm::{Certification, Quote};
use crate::wire::{Attest, AttestBody, ECC_NIST_P256, PublicArea, alg, attr};

/// The PCR states a verifier accepts: a selection and one or more complete sets of values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PcrAllowlist {
    selection: PcrSelection,
    allowed: Vec<PcrValues>,
}

impl PcrAllowlist {
    /// An allowlist for `selection` that allows nothing yet.
    pub fn new(selection: PcrSelection) -> Self {
        Self {
            selection,
            allowed: Vec::new(),
        }
    }

    /// Allows one complete state (e.g. the PCR values of the current release's image).
    /// Fails if `values` is for another selection.
    pub fn allow(&mut self, values: PcrValues) -> Result<&mut Self, Error> {
        if values.selection() != self.selection {
            return Err(Error::InvalidPcrSelection {
                reason: "allowed values are for another PCR selection",
            });
        }
        self.allowed.push(values);
        Ok(self)
    }

    /// The selection quotes must cover.
    pub fn selection(&self) -> PcrSelection {
        self.selection
    }

    /// Ok if `values` is one of the allowed states; otherwise the PCRs that differ from the
    /// closest allowed state.
    fn check(&self, values: &PcrValues) -> Result<(), Error> {
        let mut closest: Option<Vec<u8>> = None;
        for a in &self.allowed {
            let d = values.differing(a);
            if d.is_empty() {
                return Ok(());
            }
            if closest.as_ref().is_none_or(|c| d.len() < c.len()) {
                closest = Some(d);
            }
        }
        Err(Error::PcrValuesNotAllowed {
            pcrs: closest.unwrap_or_else(|| values.selection().pcrs()),
        })
    }
}

/// A validated attestation-key public area.
pub(crate) struct AkPublic {
    area: PublicArea,
    key: VerifyingKey,
}

impl AkPublic {
    /// Accepts only what a TPM attestation key must be: a restricted, TPM-generated,
    /// non-duplicable ECC P-256 signing key with the ECDSA-SHA256 scheme.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let area = PublicArea::decode(bytes)?;
        let reject = |reason| Error::AttestationKeyRejected { reason };
        let ecc = area.ecc.as_ref().ok_or(reject("not an ECC key"))?;
        if ecc.curve != ECC_NIST_P256 {
            return Err(reject("not on curve P-256"));
        }
        if ecc.scheme != alg::ECDSA || ecc.scheme_hash != alg::SHA256 {
            return Err(reject("scheme is not ECDSA-SHA256"));
        }
        if !area.has(attr::RESTRICTED | attr::SIGN) || area.has(attr::DECRYPT) {
            return Err(reject("not a restricted signing-only key"));
        }
        if !area.has(attr::FIXED_TPM | attr::FIXED_PARENT | attr::SENSITIVE_DATA_ORIGIN) {
            return Err(reject("not generated in and bound to its TPM"));
        }
        let sec1 = area.p256_sec1().ok_or(reject("bad public point"))?;
        let key = VerifyingKey::from_sec1_bytes(&sec1)
            .map_err(|_| reject("public point not on the curve"))?;
        Ok(Self { area, key })
    }

    pub(crate) fn name(&self) -> Vec<u8> {
        self.area.name()
    }

    fn verify(&self, msg: &[u8], sig: &[u8; 64]) -> bool {
        Signature::from_slice(sig).is_ok_and(|s| self.key.verify(msg, &s).is_ok())
    }
}

/// What a successful [`verify_quote`] established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedQuote {
    /// The PCR values, as signed by the TPM and found on the allowlist.
    pub pcr_values: PcrValues,
}

/// Verifies a quote in pure Rust: the ECDSA P-256 signature of the attestation key
/// `ak_public` (a marshalled `TPMT_PUBLIC`, which must be a restricted signing key), that the
/// TPM made it (`TPM_GENERATED_VALUE`), the `nonce`, the PCR selection, that the reported PCR
/// values hash to the signed PCR digest, and that they are on `allowlist`.
///
/// Each failure has its own error: [`Error::AttestationKeyRejected`],
/// [`Error::QuoteSignatureInvalid`], [`Error::Malformed`], [`Error::QuoteNonceMismatch`],
/// [`Error::QuoteSelectionMismatch`], [`Error::PcrDigestMismatch`],
/// [`Error::PcrValuesNotAllowed`].
///
/// This says the quote came from the TPM holding that AK; binding the AK to a known TPM is
/// the job of credential activation (see the join protocol).
pub fn verify_quote(
    ak_public: &[u8],
    quote: &Quote,
    nonce: &[u8],
    allowlist: &PcrAllowlist,
) -> Result<VerifiedQuote, Error> {
    let ak = AkPublic::decode(ak_public)?;
    verify_quote_with(&ak, quote, nonce, allowlist)
}

pub(crate) fn verify_quote_with(
    ak: &AkPublic,
    quote: &Quote,
    nonce: &[u8],
    allowlist: &PcrAllowlist,
) -> Result<VerifiedQuote, Error> {
    if !ak.verify(&quote.attest, &quote.signature) {
        return Err(Error::QuoteSignatureInvalid);
    }
    let attest = Attest::decode(&quote.attest)?;
    let AttestBody::Quote {
        selections,
        pcr_digest,
    } = attest.body
    else {
        return Err(Error::Malformed {
            what: "quote (attestation is not a quote)",
        });
    };
    if attest.extra_data != nonce {
        return Err(Error::QuoteNonceMismatch);
    }
    let want = allowlist.selection();
    if selections != [(want.bank().alg_id(), want.mask())] || quote.pcr_values.selection() != want {
        return Err(Error::QuoteSelectionMismatch);
    }
    if pcr_digest != quote.pcr_values.composite_digest() {
        return Err(Error::PcrDigestMismatch);
    }
    allowlist.check(&quote.pcr_values)?;
    Ok(VerifiedQuote {
        pcr_values: quote.pcr_values.clone(),
    })
}

/// Verifies a `TPM2_Certify` by the AK over `nonce` for the object whose public area is
/// `certified_public`; returns that public area decoded.
pub(crate) fn verify_certification(
    ak: &AkPublic,
    cert: &Certification,
    nonce: &[u8],
    certified_public: &[u8],
) -> Result<PublicArea, Error> {
    let bad = |reason| Error::CertificationInvalid { reason };
    if !ak.verify(&cert.attest, &cert.signature) {
        return Err(bad("signature does not verify under the attestation key"));
    }
    let attest = Attest::decode(&cert.attest)?;
    let AttestBody::Certify { name } = attest.body else {
        return Err(bad("attestation is not a certification"));
    };
    if attest.extra_data != nonce {
        return Err(bad("nonce does not match this session: stale or replayed"));
    }
    let area = PublicArea::decode(certified_public)?;
    if area.name() != name {
        return Err(bad("certified object is not the presented key"));
    }
    Ok(area)
}

/// The fingerprint of an endorsement key: SHA-256 of its marshalled `TPMT_PUBLIC` (equal to
/// its TPM name without the algorithm prefix). Operators put these on the join allowlist.
pub fn ek_fingerprint(ek_public: &[u8]) -> [u8; 32] {
    Sha256::digest(ek_public).into()
}

/// [`ek_fingerprint`] as lower-case hex.
pub fn ek_fingerprint_hex(ek_public: &[u8]) -> String {
    hex(&ek_fingerprint(ek_public))
}

/// `TPM2_PolicySecret(TPM_RH_ENDORSEMENT)` with SHA-256: the `authPolicy` of the TCG EK templates
/// L-1 and L-2 (TCG EK Credential Profile 2.x, section B.3.3).
const EK_POLICY: [u8; 32] = [
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xb3, 0xf8, 0x1a, 0x90, 0xcc, 0x8d, 0x46, 0xa5, 0xd7, 0x24,
    0xfd, 0x52, 0xd7, 0x6e, 0x06, 0x52, 0x0b, 0x64, 0xf2, 0xa1, 0xda, 0x1b, 0x33, 0x14, 0x69, 0xaa,
];
/// `objectAttributes` of templates L-1 and L-2: fixedTPM, fixedParent, sensitiveDataOrigin,
/// adminWithPolicy, restricted, decrypt.
const EK_ATTRIBUTES: u32 = 0x0003_00b2;

/// The bytes of a TCG template L-1 (RSA 2048) or L-2 (ECC P-256) public area before its
/// `unique` field, and the length of that field (with its size prefixes).
fn ek_template(object_type: u16) -> Option<(Vec<u8>, usize)> {
    let mut t = Vec::with_capacity(64);
    t.extend_from_slice(&object_type.to_be_bytes());
    t.extend_from_slice(&alg::SHA256.to_be_bytes());
    t.extend_from_slice(&EK_ATTRIBUTES.to_be_bytes());
    t.extend_from_slice(&32u16.to_be_bytes());
    t.extend_from_slice(&EK_POLICY);
    // symmetric: AES, 128 bits, CFB; scheme: null
    for v in [alg::AES, 128, alg::CFB, alg::NULL] {
        t.extend_from_slice(&v.to_be_bytes());
    }
    let unique = match object_type {
        alg::RSA => {
            t.extend_from_slice(&2048u16.to_be_bytes()); // keyBits
            t.extend_from_slice(&0u32.to_be_bytes()); // exponent: the default, 65537
            2 + 256
        }
        alg::ECC => {
            t.extend_from_slice(&ECC_NIST_P256.to_be_bytes());
            t.extend_from_slice(&alg::NULL.to_be_bytes()); // kdf
            2 + 32 + 2 + 32
        }
        _ => return None,
    };
    Some((t, unique))
}

/// Checks an endorsement key's public area: exactly TCG template L-2 (ECC P-256) or L-1 (RSA
/// 2048), the templates `tss_esapi::abstraction::ek` creates, with the key in `unique`.
///
/// Exactly, not only the key: an EK certificate certifies the public key alone, and the
/// fingerprint is SHA-256 over the whole area. Were any other field free (the `authPolicy`, say),
/// one certified TPM could present itself under many fingerprints, and a fingerprint taken off a
/// list would not keep it out. With the template fixed, one key has one public area.
pub(crate) fn check_ek(ek_public: &[u8]) -> Result<PublicArea, Error> {
    let not_tcg = Error::Malformed {
        what: "endorsement key (not the TCG template L-2, ECC P-256, or L-1, RSA 2048)",
    };
    let area = PublicArea::decode(ek_public)?;
    let Some((template, unique)) = ek_template(area.object_type) else {
        return Err(not_tcg);
    };
    let exact = ek_public.len() == template.len() + unique
        && ek_public.starts_with(&template)
        && match (&area.rsa, &area.ecc) {
            (Some(r), None) => r.modulus.len() == 256,
            (None, Some(e)) => e.curve == ECC_NIST_P256 && area.p256_sec1().is_some(),
            _ => false,
        };
    if !exact {
        return Err(not_tcg);
    }
    Ok(area)
}
