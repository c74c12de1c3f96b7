//! Master-key hand-over from an existing instance (the sponsor) to a new one (the joiner), gated
//! on TPM attestation of both sides. Message encoding and cryptography: `SPEC.md`, "Join
//! protocol".
//!
//! ```text
//! joiner                                   sponsor (holds the master key)
//!   Joiner::new: AK_j under EK_j           Sponsor::new: AK_s under EK_s
//!   hello ── JoinHello{EK_j, cert_j, AK_j, nonce_j, sel_j} ──▶
//!                                          EK_j trusted (fingerprint or chain)? AK_j sane?
//!                                          MakeCredential(EK_j, name(AK_j), c_j); Quote_s(sel_j, nonce_j)
//!         ◀── JoinChallenge{nonce_s, sel_s, credential_j, EK_s, cert_s, AK_s, quote_s} ──
//!   EK_s trusted? quote_s over nonce_j with allowed PCRs? (else stop: nothing was sent)
//!   ActivateCredential → c_j; MakeCredential(EK_s, name(AK_s), c_s)
//!   decryption key DK (PCR-policy bound), Certify(DK) and Quote_j(sel_s) over nonce_s,
//!   proof_j = HMAC(c_j, ...)
//!         ── JoinRequest{DK, certify, quote_j, PCR values, proof_j, credential_s} ──▶
//!                                          verify quote_j, certify, DK attributes+policy, proof_j;
//!                                          ECDH to DK, HKDF, ChaCha20-Poly1305(master key);
//!                                          ActivateCredential → c_s, proof_s = HMAC(c_s, ..., E, ct)
//!         ◀── JoinResponse{ephemeral point E, ciphertext ct, proof_s} ──
//!   proof_s (the wrap comes from the attested sponsor TPM), ECDH_ZGen in the TPM (PCR policy)
//!   → decrypt → seal to own PCRs
//! ```

use std::time::SystemTime;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use p256::elliptic_curve::sec1::ToSec1Point as _;
use p256::{PublicKey, SecretKey};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::attest::{self, AkPublic, PcrAllowlist};
use crate::blob::SealedBlob;
use crate::ekcert::{EkTrustStore, MAX_EK_CERTIFICATE};
use crate::error::Error;
use crate::pcr::{PcrBank, PcrSelection, PcrValues, hex};
use crate::secret::SecretBytes;
use crate::tpm::{AttestationKey, Certification, DecryptionKey, Quote, Tpm};
use crate::wire::{self, ECC_NIST_P256, Reader, alg, attr};

/// Magic of every join message.
pub const JOIN_MAGIC: [u8; 4] = *b"KMSJ";
/// The current join protocol version (2: both sides attested, EK certificates).
pub const JOIN_VERSION: u16 = 2;
/// Largest join message accepted (checked before decoding).
pub const MAX_JOIN_MESSAGE: usize = 16 * 1024;
/// Largest secret handed over.
pub const MAX_HANDOVER_SECRET: usize = 4096;

const NONCE_LEN: usize = 32;
const DS_ACTIVATION: &[u8] = b"kms-tpm/join/v2/activation-proof";
const DS_SPONSOR_PROOF: &[u8] = b"kms-tpm/join/v2/sponsor-proof";
const DS_WRAP_KEY: &[u8] = b"kms-tpm/join/v2/wrap-key";
const DS_WRAP_AAD: &[u8] = b"kms-tpm/join/v2/wrapped-secret";

const T_HELLO: u8 = 1;
const T_CHALLENGE: u8 = 2;
const T_REQUEST: u8 = 3;
const T_RESPONSE: u8 = 4;

/// Joiner → sponsor: who I am (EK, its certificate), the key I will attest with (AK), and the
/// nonce and PCRs the sponsor must quote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinHello {
    /// EK `TPMT_PUBLIC`.
    pub ek_public: Vec<u8>,
    /// The EK's certificate (DER) from the TPM's NV index; empty if the TPM has none.
    pub ek_certificate: Vec<u8>,
    /// AK `TPMT_PUBLIC`.
    pub ak_public: Vec<u8>,
    /// Fresh random nonce the sponsor's quote must cover.
    pub nonce: [u8; NONCE_LEN],
    /// The PCRs the sponsor must quote (the joiner's allowlist selection).
    pub selection: PcrSelection,
}

/// Sponsor → joiner: a fresh nonce, the PCRs to quote, a credential for the AK sealed to the
/// EK, and the sponsor's own attestation (EK, certificate, AK, quote over the joiner's nonce).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinChallenge {
    /// Fresh random nonce of this session.
    pub nonce: [u8; NONCE_LEN],
    /// The PCRs the joiner must quote.
    pub selection: PcrSelection,
    /// `TPM2B_ID_OBJECT` contents from MakeCredential.
    pub credential_blob: Vec<u8>,
    /// `TPM2B_ENCRYPTED_SECRET` contents from MakeCredential.
    pub encrypted_secret: Vec<u8>,
    /// The sponsor's EK `TPMT_PUBLIC`.
    pub sponsor_ek_public: Vec<u8>,
    /// The sponsor's EK certificate (DER); empty if its TPM has none.
    pub sponsor_ek_certificate: Vec<u8>,
    /// The sponsor's AK `TPMT_PUBLIC`.
    pub sponsor_ak_public: Vec<u8>,
    /// The sponsor's quote of the joiner's selection over the joiner's nonce.
    pub sponsor_quote: Quote,
}

/// Joiner → sponsor: the decryption key, its certification, the quote, the activation proof,
/// and a credential for the sponsor's AK sealed to the sponsor's EK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinRequest {
    /// Decryption key `TPMT_PUBLIC`.
    pub dk_public: Vec<u8>,
    /// Certify of the decryption key by the AK over the nonce.
    pub certification: Certification,
    /// Quote by the AK over the nonce, with the PCR values.
    pub quote: Quote,
    /// HMAC-SHA256 under the activated credential (see `SPEC.md`).
    pub activation_proof: [u8; 32],
    /// `TPM2B_ID_OBJECT` contents from the joiner's MakeCredential for the sponsor's AK.
    pub sponsor_credential_blob: Vec<u8>,
    /// `TPM2B_ENCRYPTED_SECRET` contents of the same.
    pub sponsor_encrypted_secret: Vec<u8>,
}

/// Sponsor → joiner: the secret encrypted to the joiner's decryption key, and the proof that
/// the attested sponsor TPM made this response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinResponse {
    /// The sponsor's ephemeral P-256 public key, SEC1 uncompressed.
    pub ephemeral_public: [u8; 65],
    /// ChaCha20-Poly1305 ciphertext and tag of the secret.
    pub ciphertext: Vec<u8>,
    /// HMAC-SHA256 under the credential the sponsor's TPM activated (see `SPEC.md`).
    pub sponsor_proof: [u8; 32],
}

/// Any join message, for decoding bytes of unknown type.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinMessage {
    /// See [`JoinHello`].
    Hello(JoinHello),
    /// See [`JoinChallenge`].
    Challenge(JoinChallenge),
    /// See [`JoinRequest`].
    Request(JoinRequest),
    /// See [`JoinResponse`].
    Response(JoinResponse),
}

fn header(t: u8) -> Vec<u8> {
    let mut out = Vec::with_capacity(1024);
    out.extend_from_slice(&JOIN_MAGIC);
    out.extend_from_slice(&JOIN_VERSION.to_be_bytes());
    out.push(t);
    out
}

fn put_selection(out: &mut Vec<u8>, s: PcrSelection) {
    out.extend_from_slice(&s.bank().alg_id().to_be_bytes());
    out.extend_from_slice(&s.mask().to_be_bytes());
}

fn get_selection(r: &mut Reader<'_>) -> Result<PcrSelection, Error> {
    let bank = PcrBank::from_alg_id(r.u16()?).ok_or(Error::Malformed {
        what: "join message PCR bank",
    })?;
    PcrSelection::from_mask(bank, r.u32()?)
}

fn put_quote(out: &mut Vec<u8>, q: &Quote) -> Result<(), Error> {
    wire::put_tpm2b(out, &q.attest)?;
    out.extend_from_slice(&q.signature);
    put_selection(out, q.pcr_values.selection());
    for (_, v) in q.pcr_values.iter() {
        out.extend_from_slice(v);
    }
    Ok(())
}

fn get_quote(r: &mut Reader<'_>) -> Result<Quote, Error> {
    let attest = r.tpm2b(1024)?.to_vec();
    let signature = r.array()?;
    let selection = get_selection(r)?;
    let mut values = Vec::new();
    for _ in selection.pcrs() {
        values.push(r.bytes(selection.bank().digest_len())?.to_vec());
    }
    Ok(Quote {
        attest,
        signature,
        pcr_values: PcrValues::new(selection, values)?,
    })
}

impl JoinMessage {
    /// Encodes the message (`SPEC.md`, "Join protocol").
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let out = match self {
            Self::Hello(m) => {
                let mut out = header(T_HELLO);
                wire::put_tpm2b(&mut out, &m.ek_public)?;
                wire::put_tpm2b(&mut out, &m.ek_certificate)?;
                wire::put_tpm2b(&mut out, &m.ak_public)?;
                out.extend_from_slice(&m.nonce);
                put_selection(&mut out, m.selection);
                out
            }
            Self::Challenge(m) => {
                let mut out = header(T_CHALLENGE);
                out.extend_from_slice(&m.nonce);
                put_selection(&mut out, m.selection);
                wire::put_tpm2b(&mut out, &m.credential_blob)?;
                wire::put_tpm2b(&mut out, &m.encrypted_secret)?;
                wire::put_tpm2b(&mut out, &m.sponsor_ek_public)?;
                wire::put_tpm2b(&mut out, &m.sponsor_ek_certificate)?;
                wire::put_tpm2b(&mut out, &m.sponsor_ak_public)?;
                put_quote(&mut out, &m.sponsor_quote)?;
                out
            }
            Self::Request(m) => {
                let mut out = header(T_REQUEST);
                wire::put_tpm2b(&mut out, &m.dk_public)?;
                wire::put_tpm2b(&mut out, &m.certification.attest)?;
                out.extend_from_slice(&m.certification.signature);
                put_quote(&mut out, &m.quote)?;
                out.extend_from_slice(&m.activation_proof);
                wire::put_tpm2b(&mut out, &m.sponsor_credential_blob)?;
                wire::put_tpm2b(&mut out, &m.sponsor_encrypted_secret)?;
                out
            }
            Self::Response(m) => {
                let mut out = header(T_RESPONSE);
                out.extend_from_slice(&m.ephemeral_public);
                wire::put_tpm2b(&mut out, &m.ciphertext)?;
                out.extend_from_slice(&m.sponsor_proof);
                out
            }
        };
        if out.len() > MAX_JOIN_MESSAGE {
            return Err(Error::Malformed {
                what: "join message (too large)",
            });
        }
        Ok(out)
    }

    /// Decodes a message, checking size, magic, version, type and that nothing trails.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        const WHAT: &str = "join message";
        if bytes.len() > MAX_JOIN_MESSAGE {
            return Err(Error::Malformed {
                what: "join message (too large)",
            });
        }
        let mut r = Reader::new(bytes, WHAT);
        if r.array::<4>()? != JOIN_MAGIC {
            return Err(Error::Malformed {
                what: "join message (bad magic)",
            });
        }
        let version = r.u16()?;
        if version != JOIN_VERSION {
            return Err(Error::UnsupportedVersion {
                what: WHAT,
                found: version,
            });
        }
        let msg = match r.u8()? {
            T_HELLO => Self::Hello(JoinHello {
                ek_public: r.tpm2b(1024)?.to_vec(),
                ek_certificate: r.tpm2b(MAX_EK_CERTIFICATE)?.to_vec(),
                ak_public: r.tpm2b(1024)?.to_vec(),
                nonce: r.array()?,
                selection: get_selection(&mut r)?,
            }),
            T_CHALLENGE => Self::Challenge(JoinChallenge {
                nonce: r.array()?,
                selection: get_selection(&mut r)?,
                credential_blob: r.tpm2b(1024)?.to_vec(),
                encrypted_secret: r.tpm2b(1024)?.to_vec(),
                sponsor_ek_public: r.tpm2b(1024)?.to_vec(),
                sponsor_ek_certificate: r.tpm2b(MAX_EK_CERTIFICATE)?.to_vec(),
                sponsor_ak_public: r.tpm2b(1024)?.to_vec(),
                sponsor_quote: get_quote(&mut r)?,
            }),
            T_REQUEST => Self::Request(JoinRequest {
                dk_public: r.tpm2b(1024)?.to_vec(),
                certification: Certification {
                    attest: r.tpm2b(1024)?.to_vec(),
                    signature: r.array()?,
                },
                quote: get_quote(&mut r)?,
                activation_proof: r.array()?,
                sponsor_credential_blob: r.tpm2b(1024)?.to_vec(),
                sponsor_encrypted_secret: r.tpm2b(1024)?.to_vec(),
            }),
            T_RESPONSE => Self::Response(JoinResponse {
                ephemeral_public: r.array()?,
                ciphertext: r.tpm2b(MAX_HANDOVER_SECRET + 16)?.to_vec(),
                sponsor_proof: r.array()?,
            }),
            _ => {
                return Err(Error::Malformed {
                    what: "join message (unknown type)",
                });
            }
        };
        r.finish()?;
        Ok(msg)
    }
}

macro_rules! typed_codec {
    ($t:ident, $variant:ident, $name:literal) => {
        impl $t {
            /// Encodes this message.
            pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
                JoinMessage::$variant(self.clone()).to_bytes()
            }

            /// Decodes bytes that must hold this message type.
            pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
                match JoinMessage::from_bytes(bytes)? {
                    JoinMessage::$variant(m) => Ok(m),
                    _ => Err(Error::UnexpectedMessage { expected: $name }),
                }
            }
        }
    };
}
typed_codec!(JoinHello, Hello, "JoinHello");
typed_codec!(JoinChallenge, Challenge, "JoinChallenge");
typed_codec!(JoinRequest, Request, "JoinRequest");
typed_codec!(JoinResponse, Response, "JoinResponse");

/// What one side of a hand-over requires of the other: the sponsor of a joiner, and the
/// joiner of its sponsor (mutual attestation: both sides quote and both check).
#[derive(Clone, Debug)]
pub struct JoinPolicy {
    /// Allowed PCR states of the peer; its selection is what the peer must quote.
    pub allowlist: PcrAllowlist,
    /// Fingerprints ([`crate::ek_fingerprint`]) of endorsement keys trusted as they are.
    pub trusted_eks: Vec<[u8; 32]>,
    /// Manufacturer roots: an EK whose certificate chains to one of them is trusted too.
    /// `None`: only `trusted_eks`.
    pub ek_roots: Option<EkTrustStore>,
    /// The time certificates are checked at; `None` is the system clock at the check.
    pub verify_time: Option<SystemTime>,
}

impl JoinPolicy {
    /// A policy allowing the states of `allowlist` and trusting no EK yet.
    pub fn new(allowlist: PcrAllowlist) -> Self {
        Self {
            allowlist,
            trusted_eks: Vec::new(),
            ek_roots: None,
            verify_time: None,
        }
    }

    /// Trusts an EK by its fingerprint.
    pub fn trust_ek(mut self, fingerprint: [u8; 32]) -> Self {
        self.trusted_eks.push(fingerprint);
        self
    }

    /// Trusts every EK whose certificate chains to a root of `roots`.
    pub fn trust_manufacturers(mut self, roots: EkTrustStore) -> Self {
        self.ek_roots = Some(roots);
        self
    }

    /// Accepts an EK that is on the fingerprint list or, if manufacturer roots are set, whose
    /// certificate validates for it. The error says why not: the chain error if roots are set
    /// and the EK is not listed, otherwise [`Error::EndorsementKeyNotTrusted`].
    fn check_ek(&self, ek_public: &[u8], ek_certificate: &[u8]) -> Result<(), Error> {
        attest::check_ek(ek_public)?;
        let fp = attest::ek_fingerprint(ek_public);
        if self.trusted_eks.iter().any(|t| bool::from(t.ct_eq(&fp))) {
            return Ok(());
        }
        match &self.ek_roots {
            Some(_) if ek_certificate.is_empty() => Err(Error::EkChainInvalid {
                reason: "no EK certificate was presented and the EK is not on the fingerprint list",
            }),
            Some(roots) => roots
                .verify(
                    ek_certificate,
                    ek_public,
                    self.verify_time.unwrap_or_else(SystemTime::now),
                )
                .map(|_| ()),
            None => Err(Error::EndorsementKeyNotTrusted {
                fingerprint: hex(&fp),
            }),
        }
    }
}

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, Error> {
    let mut b = Zeroizing::new([0u8; N]);
    getrandom::fill(b.as_mut()).map_err(|_| Error::Rng)?;
    Ok(b)
}

/// Reads the EK certificate of `tpm`'s EK; nothing if the TPM has none or it cannot be read
/// (e.g. an index that needs an owner password): the peer then trusts this EK by fingerprint
/// or refuses it with "no EK certificate was presented".
fn own_ek_certificate(tpm: &mut Tpm) -> Vec<u8> {
    tpm.endorsement_key_certificate().unwrap_or_default()
}

/// The existing instance's side: attests itself and issues challenges to joiners.
#[derive(Clone, Debug)]
pub struct Sponsor {
    policy: JoinPolicy,
    ek_public: Vec<u8>,
    ek_certificate: Vec<u8>,
    ak: AttestationKey,
}

/// A sponsor's open session with one joiner. Single use: [`PendingJoin::complete`] consumes it,
/// so its nonce is never accepted twice.
pub struct PendingJoin {
    policy: JoinPolicy,
    nonce: [u8; NONCE_LEN],
    joiner_nonce: [u8; NONCE_LEN],
    credential: Zeroizing<[u8; 32]>,
    ak_public: Vec<u8>,
    sponsor_ak: AttestationKey,
}

impl core::fmt::Debug for PendingJoin {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingJoin")
            .field("nonce", &hex(&self.nonce))
            .finish_non_exhaustive()
    }
}

impl Sponsor {
    /// A sponsor on `tpm` enforcing `policy` on joiners: reads its EK (and certificate, if the
    /// TPM has one) and creates its attestation key, so joiners can check it in turn.
    pub fn new(tpm: &mut Tpm, policy: JoinPolicy) -> Result<Self, Error> {
        let ek_public = tpm.endorsement_key_public()?;
        let ek_certificate = own_ek_certificate(tpm);
        let ak = tpm.create_attestation_key()?;
        Ok(Self {
            policy,
            ek_public,
            ek_certificate,
            ak,
        })
    }

    /// Answers a hello: refuses an untrusted EK ([`Error::EndorsementKeyNotTrusted`] or the EK
    /// certificate's error) or an AK that is not a restricted TPM signing key; otherwise makes
    /// a credential for the AK's name sealed to the EK (MakeCredential is a public-key
    /// operation) and a fresh nonce, and quotes its own PCRs of the joiner's selection over the
    /// joiner's nonce. `tpm` is the sponsor's TPM, the one given to [`Sponsor::new`] (its AK
    /// lives there).
    pub fn challenge(
        &self,
        tpm: &mut Tpm,
        hello: &JoinHello,
    ) -> Result<(JoinChallenge, PendingJoin), Error> {
        self.policy
            .check_ek(&hello.ek_public, &hello.ek_certificate)?;
        let ak = AkPublic::decode(&hello.ak_public)?;
        let credential = random::<32>()?;
        let nonce = *random::<NONCE_LEN>()?;
        let (credential_blob, encrypted_secret) =
            tpm.make_credential(&hello.ek_public, &ak.name(), credential.as_ref())?;
        let sponsor_quote = tpm.quote(&self.ak, &hello.nonce, hello.selection)?;
        Ok((
            JoinChallenge {
                nonce,
                selection: self.policy.allowlist.selection(),
                credential_blob,
                encrypted_secret,
                sponsor_ek_public: self.ek_public.clone(),
                sponsor_ek_certificate: self.ek_certificate.clone(),
                sponsor_ak_public: self.ak.public().to_vec(),
                sponsor_quote,
            },
            PendingJoin {
                policy: self.policy.clone(),
                nonce,
                joiner_nonce: hello.nonce,
                credential,
                ak_public: hello.ak_public.clone(),
                sponsor_ak: self.ak.clone(),
            },
        ))
    }
}

fn activation_proof(
    credential: &[u8],
    nonce: &[u8],
    ak_name: &[u8],
    dk_name: &[u8],
) -> Result<[u8; 32], Error> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(credential)
        .map_err(|_| Error::ActivationProofInvalid)?;
    mac.update(DS_ACTIVATION);
    mac.update(nonce);
    mac.update(ak_name);
    mac.update(dk_name);
    Ok(mac.finalize().into_bytes().into())
}

/// The sponsor's proof: the response was made by the TPM holding the attested sponsor AK.
fn sponsor_proof(
    credential: &[u8],
    joiner_nonce: &[u8],
    nonce: &[u8],
    sponsor_ak_name: &[u8],
    dk_name: &[u8],
    eph: &[u8; 65],
    ciphertext: &[u8],
) -> Result<[u8; 32], Error> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(credential)
        .map_err(|_| Error::ActivationProofInvalid)?;
    mac.update(DS_SPONSOR_PROOF);
    mac.update(joiner_nonce);
    mac.update(nonce);
    mac.update(sponsor_ak_name);
    mac.update(dk_name);
    mac.update(eph);
    mac.update(&Sha256::digest(ciphertext));
    Ok(mac.finalize().into_bytes().into())
}

fn wrap_cipher(
    z: &[u8; 32],
    nonce: &[u8],
    dk_name: &[u8],
    eph: &[u8; 65],
) -> Result<ChaCha20Poly1305, Error> {
    let hk = Hkdf::<Sha256>::new(Some(nonce), z);
    let mut key = Zeroizing::new([0u8; 32]);
    hk.expand_multi_info(&[DS_WRAP_KEY, dk_name, eph], key.as_mut())
        .map_err(|_| Error::DecryptionFailed)?;
    ChaCha20Poly1305::new_from_slice(key.as_ref()).map_err(|_| Error::DecryptionFailed)
}

fn wrap_aad(nonce: &[u8], dk_name: &[u8]) -> Vec<u8> {
    [DS_WRAP_AAD, nonce, dk_name].concat()
}

impl PendingJoin {
    /// Verifies the joiner's request and, only if every check passes, encrypts `secret` to the
    /// joiner's TPM decryption key and proves with `tpm` (the sponsor's, the one the challenge
    /// came from) that the response is its own. Checks, in order: quote (signature by the AK,
    /// nonce, selection, PCR digest, PCR allowlist); certification of the decryption key
    /// (signature, nonce, name); the key's attributes and that its policy is PolicyPCR of the
    /// quoted values; the credential-activation proof. (The EK was checked by
    /// [`Sponsor::challenge`].)
    pub fn complete(
        self,
        tpm: &mut Tpm,
        request: &JoinRequest,
        secret: &SecretBytes,
    ) -> Result<JoinResponse, Error> {
        if secret.len() > MAX_HANDOVER_SECRET {
            return Err(Error::SecretTooLarge {
                len: secret.len(),
                max: MAX_HANDOVER_SECRET,
            });
        }
        let ak = AkPublic::decode(&self.ak_public)?;
        let verified =
            attest::verify_quote_with(&ak, &request.quote, &self.nonce, &self.policy.allowlist)?;
        let dk = attest::verify_certification(
            &ak,
            &request.certification,
            &self.nonce,
            &request.dk_public,
        )?;
        let bad = |reason| Error::CertificationInvalid { reason };
        let ecc = dk.ecc.as_ref().ok_or(bad("decryption key is not ECC"))?;
        if ecc.curve != ECC_NIST_P256 || ecc.scheme != alg::NULL || ecc.symmetric != alg::NULL {
            return Err(bad("decryption key is not a plain P-256 key"));
        }
        if !dk
            .has(attr::FIXED_TPM | attr::FIXED_PARENT | attr::SENSITIVE_DATA_ORIGIN | attr::DECRYPT)
            || dk.has(attr::SIGN)
            || dk.has(attr::RESTRICTED)
            || dk.has(attr::USER_WITH_AUTH)
        {
            return Err(bad(
                "decryption key is not TPM-bound, policy-only and decrypt-only",
            ));
        }
        if dk.auth_policy != verified.pcr_values.policy_digest() {
            return Err(bad("decryption key is not bound to the quoted PCR state"));
        }
        let dk_name = dk.name();
        let proof = activation_proof(self.credential.as_ref(), &self.nonce, &ak.name(), &dk_name)?;
        if !bool::from(proof.ct_eq(&request.activation_proof)) {
            return Err(Error::ActivationProofInvalid);
        }
        let dk_point = dk.p256_sec1().ok_or(bad("decryption key point"))?;
        let dk_key = PublicKey::from_sec1_bytes(&dk_point)
            .map_err(|_| bad("decryption key point not on the curve"))?;
        // The joiner's credential for this sponsor's AK: recoverable only by this TPM.
        let sponsor_credential = tpm.activate_credential(
            &self.sponsor_ak,
            &request.sponsor_credential_blob,
            &request.sponsor_encrypted_secret,
        )?;

        let eph = loop {
            let bytes = random::<32>()?;
            if let Ok(k) = SecretKey::from_slice(bytes.as_ref()) {
                break k;
            }
        };
        let mut eph_public = [0u8; 65];
        eph_public.copy_from_slice(eph.public_key().to_sec1_point(false).as_bytes());
        let shared = eph.diffie_hellman(&dk_key);
        let mut z = Zeroizing::new([0u8; 32]);
        z.copy_from_slice(shared.raw_secret_bytes());
        let cipher = wrap_cipher(&z, &self.nonce, &dk_name, &eph_public)?;
        let ciphertext = cipher
            .encrypt(
                &Nonce::default(),
                Payload {
                    msg: secret.expose_secret(),
                    aad: &wrap_aad(&self.nonce, &dk_name),
                },
            )
            .map_err(|_| Error::DecryptionFailed)?;
        let sponsor_ak_name = wire::PublicArea::decode(self.sponsor_ak.public())?.name();
        let sponsor_proof = sponsor_proof(
            sponsor_credential.expose_secret(),
            &self.joiner_nonce,
            &self.nonce,
            &sponsor_ak_name,
            &dk_name,
            &eph_public,
            &ciphertext,
        )?;
        Ok(JoinResponse {
            ephemeral_public: eph_public,
            ciphertext,
            sponsor_proof,
        })
    }
}

/// The new instance's side.
#[derive(Clone, Debug)]
pub struct Joiner {
    policy: JoinPolicy,
    ek_public: Vec<u8>,
    ek_certificate: Vec<u8>,
    ak: AttestationKey,
}

/// A joiner's sent hello: the nonce the sponsor's quote must cover. Single use:
/// [`Joiner::respond`] consumes it, so a sponsor quote is never accepted twice.
pub struct HelloSent {
    nonce: [u8; NONCE_LEN],
}

impl core::fmt::Debug for HelloSent {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("HelloSent")
            .field("nonce", &hex(&self.nonce))
            .finish()
    }
}

/// A joiner waiting for the sponsor's response: holds its TPM decryption key and what it needs
/// to check that the response comes from the attested sponsor.
pub struct AwaitingSecret {
    nonce: [u8; NONCE_LEN],
    joiner_nonce: [u8; NONCE_LEN],
    dk: DecryptionKey,
    sponsor_ak_name: Vec<u8>,
    sponsor_credential: Zeroizing<[u8; 32]>,
}

impl core::fmt::Debug for AwaitingSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AwaitingSecret")
            .field("nonce", &hex(&self.nonce))
            .finish_non_exhaustive()
    }
}

/// Wraps a failed check of the sponsor so the joiner's error says it was the sponsor.
fn sponsor_rejected(e: Error) -> Error {
    Error::SponsorRejected(Box::new(e))
}

impl Joiner {
    /// Reads the EK (and its certificate, if the TPM has one) and creates a fresh attestation
    /// key in `tpm`. `policy` is what the joiner requires of its sponsor: a trusted EK and a
    /// quote of an allowed state.
    pub fn new(tpm: &mut Tpm, policy: JoinPolicy) -> Result<Self, Error> {
        let ek_public = tpm.endorsement_key_public()?;
        let ek_certificate = own_ek_certificate(tpm);
        let ak = tpm.create_attestation_key()?;
        Ok(Self {
            policy,
            ek_public,
            ek_certificate,
            ak,
        })
    }

    /// The first message, with a fresh nonce for the sponsor's quote (kept in [`HelloSent`]).
    pub fn hello(&self) -> Result<(JoinHello, HelloSent), Error> {
        let nonce = *random::<NONCE_LEN>()?;
        Ok((
            JoinHello {
                ek_public: self.ek_public.clone(),
                ek_certificate: self.ek_certificate.clone(),
                ak_public: self.ak.public().to_vec(),
                nonce,
                selection: self.policy.allowlist.selection(),
            },
            HelloSent { nonce },
        ))
    }

    /// Answers a challenge. First checks the sponsor, before anything is created or sent: its
    /// EK is trusted and its quote covers this hello's nonce with an allowed state (failures
    /// are [`Error::SponsorRejected`] with the reason inside). Then activates the credential
    /// (proving the AK lives with the EK), creates a decryption key bound to the current PCR
    /// values, certifies it and quotes the requested PCRs, both over the sponsor's nonce, and
    /// makes a credential for the sponsor's AK under the sponsor's EK.
    pub fn respond(
        &self,
        tpm: &mut Tpm,
        sent: HelloSent,
        challenge: &JoinChallenge,
    ) -> Result<(JoinRequest, AwaitingSecret), Error> {
        self.policy
            .check_ek(
                &challenge.sponsor_ek_public,
                &challenge.sponsor_ek_certificate,
            )
            .map_err(sponsor_rejected)?;
        let sponsor_ak =
            AkPublic::decode(&challenge.sponsor_ak_public).map_err(sponsor_rejected)?;
        attest::verify_quote_with(
            &sponsor_ak,
            &challenge.sponsor_quote,
            &sent.nonce,
            &self.policy.allowlist,
        )
        .map_err(sponsor_rejected)?;

        let credential = tpm.activate_credential(
            &self.ak,
            &challenge.credential_blob,
            &challenge.encrypted_secret,
        )?;
        let sponsor_credential = random::<32>()?;
        let sponsor_ak_name = sponsor_ak.name();
        let (sponsor_credential_blob, sponsor_encrypted_secret) = tpm.make_credential(
            &challenge.sponsor_ek_public,
            &sponsor_ak_name,
            sponsor_credential.as_ref(),
        )?;
        let values = tpm.read_pcrs(challenge.selection)?;
        let dk = tpm.create_decryption_key(&values)?;
        let certification = tpm.certify(&self.ak, &dk, &challenge.nonce)?;
        let quote = tpm.quote(&self.ak, &challenge.nonce, challenge.selection)?;
        if quote.pcr_values != values {
            return Err(Error::InvalidPcrSelection {
                reason: "PCRs changed while joining; retry",
            });
        }
        let ak_name = wire::PublicArea::decode(self.ak.public())?.name();
        let dk_name = wire::PublicArea::decode(dk.public())?.name();
        let activation_proof = activation_proof(
            credential.expose_secret(),
            &challenge.nonce,
            &ak_name,
            &dk_name,
        )?;
        Ok((
            JoinRequest {
                dk_public: dk.public().to_vec(),
                certification,
                quote,
                activation_proof,
                sponsor_credential_blob,
                sponsor_encrypted_secret,
            },
            AwaitingSecret {
                nonce: challenge.nonce,
                joiner_nonce: sent.nonce,
                dk,
                sponsor_ak_name,
                sponsor_credential,
            },
        ))
    }
}

impl AwaitingSecret {
    /// Checks that the response comes from the attested sponsor's TPM (its proof over this
    /// session, the ephemeral key and the ciphertext: [`Error::SponsorRejected`] with
    /// [`Error::ActivationProofInvalid`] otherwise, and nothing is decrypted), decrypts the
    /// handed-over secret with the TPM (ECDH_ZGen under the decryption key's PCR policy) and
    /// seals it to this instance's own PCR state (the quoted values). Returns the secret and
    /// the sealed blob to store. An altered ciphertext fails with [`Error::DecryptionFailed`]
    /// or the proof check.
    pub fn finish(
        self,
        tpm: &mut Tpm,
        response: &JoinResponse,
    ) -> Result<(SecretBytes, SealedBlob), Error> {
        PublicKey::from_sec1_bytes(&response.ephemeral_public).map_err(|_| Error::Malformed {
            what: "join response ephemeral key (not a P-256 point)",
        })?;
        let dk_name = wire::PublicArea::decode(self.dk.public())?.name();
        let expected = sponsor_proof(
            self.sponsor_credential.as_ref(),
            &self.joiner_nonce,
            &self.nonce,
            &self.sponsor_ak_name,
            &dk_name,
            &response.ephemeral_public,
            &response.ciphertext,
        )?;
        if !bool::from(expected.ct_eq(&response.sponsor_proof)) {
            return Err(sponsor_rejected(Error::ActivationProofInvalid));
        }
        let z = tpm.ecdh_z(&self.dk, &response.ephemeral_public)?;
        let cipher = wrap_cipher(&z, &self.nonce, &dk_name, &response.ephemeral_public)?;
        // Decrypt in place into a zeroizing buffer: the plaintext exists only there.
        let mut buffer = Zeroizing::new(response.ciphertext.clone());
        let aad = wrap_aad(&self.nonce, &dk_name);
        let plain_len = {
            use chacha20poly1305::aead::AeadInOut as _;
            let (ct, tag) = buffer
                .len()
                .checked_sub(16)
                .map(|n| buffer.split_at_mut(n))
                .ok_or(Error::DecryptionFailed)?;
            let tag =
                chacha20poly1305::Tag::try_from(&*tag).map_err(|_| Error::DecryptionFailed)?;
            cipher
                .decrypt_inout_detached(&Nonce::default(), &aad, ct.into(), &tag)
                .map_err(|_| Error::DecryptionFailed)?;
            ct.len()
        };
        buffer.truncate(plain_len);
        let secret = SecretBytes::new(buffer);
        let blob = tpm.seal(&secret, &self.dk.policy)?;
        Ok((secret, blob))
    }
}
