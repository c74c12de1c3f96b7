//! Master-key hand-over from an existing instance (the sponsor) to a new one (the joiner), gated
//! on TPM attestation. Message encoding and cryptography: `SPEC.md`, "Join protocol".
//!
//! ```text
//! joiner                                   sponsor (holds the master key)
//!   Joiner::new: AK under EK
//!   hello ───── JoinHello{EK, AK} ───────▶ EK on the allowlist? MakeCredential(EK, name(AK), c)
//!         ◀──── JoinChallenge{nonce, sel, credential} ──
//!   ActivateCredential → c
//!   decryption key DK (PCR-policy bound), Certify(DK) and Quote(sel) over nonce,
//!   proof = HMAC(c, ...)
//!         ───── JoinRequest{DK, certify, quote, PCR values, proof} ─▶
//!                                          verify quote, certify, DK attributes+policy, proof;
//!                                          ECDH to DK, HKDF, ChaCha20-Poly1305(master key)
//!         ◀──── JoinResponse{ephemeral point, ciphertext} ──
//!   ECDH_ZGen in the TPM (PCR policy) → decrypt → seal to own PCRs
//! ```

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use p256::elliptic_curve::sec1::ToSec1Point as _;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::attest::{self, AkPublic, PcrAllowlist};
use crate::blob::SealedBlob;
use crate::error::Error;
use crate::pcr::{PcrBank, PcrSelection, PcrValues, hex};
use crate::secret::SecretBytes;
use crate::tpm::{AttestationKey, Certification, DecryptionKey, Quote, Tpm};
use crate::wire::{self, ECC_NIST_P256, Reader, alg, attr};

/// Magic of every join message.
pub const JOIN_MAGIC: [u8; 4] = *b"KMSJ";
/// The current join protocol version.
pub const JOIN_VERSION: u16 = 1;
/// Largest join message accepted (checked before decoding).
pub const MAX_JOIN_MESSAGE: usize = 16 * 1024;
/// Largest secret handed over.
pub const MAX_HANDOVER_SECRET: usize = 4096;

const NONCE_LEN: usize = 32;
const DS_ACTIVATION: &[u8] = b"kms-tpm/join/v1/activation-proof";
const DS_WRAP_KEY: &[u8] = b"kms-tpm/join/v1/wrap-key";
const DS_WRAP_AAD: &[u8] = b"kms-tpm/join/v1/wrapped-secret";

const T_HELLO: u8 = 1;
const T_CHALLENGE: u8 = 2;
const T_REQUEST: u8 = 3;
const T_RESPONSE: u8 = 4;

/// Joiner → sponsor: who I am (EK) and the key I will attest with (AK).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinHello {
    /// EK `TPMT_PUBLIC`.
    pub ek_public: Vec<u8>,
    /// AK `TPMT_PUBLIC`.
    pub ak_public: Vec<u8>,
}

/// Sponsor → joiner: a fresh nonce, the PCRs to quote, and a credential for the AK sealed to
/// the EK.
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
}

/// Joiner → sponsor: the decryption key, its certification, the quote, the activation proof.
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
}

/// Sponsor → joiner: the secret encrypted to the joiner's decryption key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JoinResponse {
    /// The sponsor's ephemeral P-256 public key, SEC1 uncompressed.
    pub ephemeral_public: [u8; 65],
    /// ChaCha20-Poly1305 ciphertext and tag of the secret.
    pub ciphertext: Vec<u8>,
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

impl JoinMessage {
    /// Encodes the message (`SPEC.md`, "Join protocol").
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let out = match self {
            Self::Hello(m) => {
                let mut out = header(T_HELLO);
                wire::put_tpm2b(&mut out, &m.ek_public)?;
                wire::put_tpm2b(&mut out, &m.ak_public)?;
                out
            }
            Self::Challenge(m) => {
                let mut out = header(T_CHALLENGE);
                out.extend_from_slice(&m.nonce);
                put_selection(&mut out, m.selection);
                wire::put_tpm2b(&mut out, &m.credential_blob)?;
                wire::put_tpm2b(&mut out, &m.encrypted_secret)?;
                out
            }
            Self::Request(m) => {
                let mut out = header(T_REQUEST);
                wire::put_tpm2b(&mut out, &m.dk_public)?;
                wire::put_tpm2b(&mut out, &m.certification.attest)?;
                out.extend_from_slice(&m.certification.signature);
                wire::put_tpm2b(&mut out, &m.quote.attest)?;
                out.extend_from_slice(&m.quote.signature);
                put_selection(&mut out, m.quote.pcr_values.selection());
                for (_, v) in m.quote.pcr_values.iter() {
                    out.extend_from_slice(v);
                }
                out.extend_from_slice(&m.activation_proof);
                out
            }
            Self::Response(m) => {
                let mut out = header(T_RESPONSE);
                out.extend_from_slice(&m.ephemeral_public);
                wire::put_tpm2b(&mut out, &m.ciphertext)?;
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
                ak_public: r.tpm2b(1024)?.to_vec(),
            }),
            T_CHALLENGE => Self::Challenge(JoinChallenge {
                nonce: r.array()?,
                selection: get_selection(&mut r)?,
                credential_blob: r.tpm2b(1024)?.to_vec(),
                encrypted_secret: r.tpm2b(1024)?.to_vec(),
            }),
            T_REQUEST => {
                let dk_public = r.tpm2b(1024)?.to_vec();
                let certification = Certification {
                    attest: r.tpm2b(1024)?.to_vec(),
                    signature: r.array()?,
                };
                let attest = r.tpm2b(1024)?.to_vec();
                let signature = r.array()?;
                let selection = get_selection(&mut r)?;
                let mut values = Vec::new();
                for _ in selection.pcrs() {
                    values.push(r.bytes(selection.bank().digest_len())?.to_vec());
                }
                let pcr_values = PcrValues::new(selection, values)?;
                Self::Request(JoinRequest {
                    dk_public,
                    certification,
                    quote: Quote {
                        attest,
                        signature,
                        pcr_values,
                    },
                    activation_proof: r.array()?,
                })
            }
            T_RESPONSE => Self::Response(JoinResponse {
                ephemeral_public: r.array()?,
                ciphertext: r.tpm2b(MAX_HANDOVER_SECRET + 16)?.to_vec(),
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

/// What a sponsor requires of a joiner.
#[derive(Clone, Debug)]
pub struct JoinPolicy {
    /// Allowed PCR states; its selection is what joiners must quote.
    pub allowlist: PcrAllowlist,
    /// Fingerprints ([`crate::ek_fingerprint`]) of the endorsement keys of TPMs allowed to join.
    pub trusted_eks: Vec<[u8; 32]>,
}

impl JoinPolicy {
    fn check_ek(&self, ek_public: &[u8]) -> Result<(), Error> {
        attest::check_ek(ek_public)?;
        let fp = attest::ek_fingerprint(ek_public);
        if self.trusted_eks.iter().any(|t| bool::from(t.ct_eq(&fp))) {
            Ok(())
        } else {
            Err(Error::EndorsementKeyNotTrusted {
                fingerprint: hex(&fp),
            })
        }
    }
}

fn random<const N: usize>() -> Result<Zeroizing<[u8; N]>, Error> {
    let mut b = Zeroizing::new([0u8; N]);
    getrandom::fill(b.as_mut()).map_err(|_| Error::Rng)?;
    Ok(b)
}

/// The existing instance's side: issues challenges to joiners.
#[derive(Clone, Debug)]
pub struct Sponsor {
    policy: JoinPolicy,
}

/// A sponsor's open session with one joiner. Single use: [`PendingJoin::complete`] consumes it,
/// so its nonce is never accepted twice.
pub struct PendingJoin {
    policy: JoinPolicy,
    nonce: [u8; NONCE_LEN],
    credential: Zeroizing<[u8; 32]>,
    ek_public: Vec<u8>,
    ak_public: Vec<u8>,
}

impl core::fmt::Debug for PendingJoin {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PendingJoin")
            .field("nonce", &hex(&self.nonce))
            .finish_non_exhaustive()
    }
}

impl Sponsor {
    /// A sponsor enforcing `policy`.
    pub fn new(policy: JoinPolicy) -> Self {
        Self { policy }
    }

    /// Answers a hello: refuses an EK not on the allowlist ([`Error::EndorsementKeyNotTrusted`])
    /// or an AK that is not a restricted TPM signing key; otherwise makes a credential for the
    /// AK's name sealed to the EK (on the sponsor's own TPM: MakeCredential is a public-key
    /// operation) and a fresh nonce.
    pub fn challenge(
        &self,
        tpm: &mut Tpm,
        hello: &JoinHello,
    ) -> Result<(JoinChallenge, PendingJoin), Error> {
        self.policy.check_ek(&hello.ek_public)?;
        let ak = AkPublic::decode(&hello.ak_public)?;
        let credential = random::<32>()?;
        let nonce = *random::<NONCE_LEN>()?;
        let (credential_blob, encrypted_secret) =
            tpm.make_credential(&hello.ek_public, &ak.name(), credential.as_ref())?;
        Ok((
            JoinChallenge {
                nonce,
                selection: self.policy.allowlist.selection(),
                credential_blob,
                encrypted_secret,
            },
            PendingJoin {
                policy: self.policy.clone(),
                nonce,
                credential,
                ek_public: hello.ek_public.clone(),
                ak_public: hello.ak_public.clone(),
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
    /// joiner's TPM decryption key. Checks, in order: EK allowlist; quote (signature by the AK,
    /// nonce, selection, PCR digest, PCR allowlist); certification of the decryption key
    /// (signature, nonce, name); the key's attributes and that its policy is PolicyPCR of the
    /// quoted values; the credential-activation proof.
    pub fn complete(
        self,
        request: &JoinRequest,
        secret: &SecretBytes,
    ) -> Result<JoinResponse, Error> {
        if secret.len() > MAX_HANDOVER_SECRET {
            return Err(Error::SecretTooLarge {
                len: secret.len(),
                max: MAX_HANDOVER_SECRET,
            });
        }
        self.policy.check_ek(&self.ek_public)?;
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
        Ok(JoinResponse {
            ephemeral_public: eph_public,
            ciphertext,
        })
    }
}

/// The new instance's side.
#[derive(Clone, Debug)]
pub struct Joiner {
    ek_public: Vec<u8>,
    ak: AttestationKey,
}

/// A joiner waiting for the sponsor's response: holds its TPM decryption key.
#[derive(Debug)]
pub struct AwaitingSecret {
    nonce: [u8; NONCE_LEN],
    dk: DecryptionKey,
}

impl Joiner {
    /// Reads the EK and creates a fresh attestation key in `tpm`.
    pub fn new(tpm: &mut Tpm) -> Result<Self, Error> {
        let ek_public = tpm.endorsement_key_public()?;
        let ak = tpm.create_attestation_key()?;
        Ok(Self { ek_public, ak })
    }

    /// The first message.
    pub fn hello(&self) -> JoinHello {
        JoinHello {
            ek_public: self.ek_public.clone(),
            ak_public: self.ak.public().to_vec(),
        }
    }

    /// Answers a challenge: activates the credential (proving the AK lives with the EK),
    /// creates a decryption key bound to the current PCR values, certifies it and quotes the
    /// requested PCRs, both over the sponsor's nonce.
    pub fn respond(
        &self,
        tpm: &mut Tpm,
        challenge: &JoinChallenge,
    ) -> Result<(JoinRequest, AwaitingSecret), Error> {
        let credential = tpm.activate_credential(
            &self.ak,
            &challenge.credential_blob,
            &challenge.encrypted_secret,
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
            },
            AwaitingSecret {
                nonce: challenge.nonce,
                dk,
            },
        ))
    }
}

impl AwaitingSecret {
    /// Decrypts the handed-over secret with the TPM (ECDH_ZGen under the decryption key's PCR
    /// policy) and seals it to this instance's own PCR state (the quoted values). Returns the
    /// secret and the sealed blob to store. An altered response fails with
    /// [`Error::DecryptionFailed`].
    pub fn finish(
        self,
        tpm: &mut Tpm,
        response: &JoinResponse,
    ) -> Result<(SecretBytes, SealedBlob), Error> {
        PublicKey::from_sec1_bytes(&response.ephemeral_public).map_err(|_| Error::Malformed {
            what: "join response ephemeral key (not a P-256 point)",
        })?;
        let z = tpm.ecdh_z(&self.dk, &response.ephemeral_public)?;
        let dk_name = wire::PublicArea::decode(self.dk.public())?.name();
        let cipher = wrap_cipher(&z, &self.nonce, &dk_name, &response.ephemeral_public)?;
        let plain = cipher
            .decrypt(
                &Nonce::default(),
                Payload {
                    msg: &response.ciphertext,
                    aad: &wrap_aad(&self.nonce, &dk_name),
                },
            )
            .map_err(|_| Error::DecryptionFailed)?;
        let secret = SecretBytes::new(Zeroizing::new(plain));
        let blob = tpm.seal(&secret, &self.dk.policy)?;
        Ok((secret, blob))
    }
}
