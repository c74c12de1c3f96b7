//! The TPM side: one connection to a TPM 2.0 through `tss-esapi`.
//!
//! Every operation loads what it needs and flushes it before returning (also on errors), so
//! no transient object or session is left in the TPM, with one exception: the storage primary
//! key is created once per [`Tpm`], on first use, and kept loaded until the `Tpm` drops (it
//! takes one of the three object slots of swtpm and of TPMs without a resource manager; an
//! operation that needs all three, [`Tpm::certify`], flushes it first).

use std::str::FromStr as _;

use tss_esapi::Context;
use tss_esapi::abstraction::{ak, ek};
use tss_esapi::attributes::{ObjectAttributesBuilder, SessionAttributesBuilder};
use tss_esapi::constants::SessionType;
use tss_esapi::handles::{KeyHandle, ObjectHandle, PcrHandle, SessionHandle};
use tss_esapi::interface_types::algorithm::{
    AsymmetricAlgorithm, HashingAlgorithm, PublicAlgorithm, SignatureSchemeAlgorithm,
};
use tss_esapi::interface_types::ecc::EccCurve;
use tss_esapi::interface_types::resource_handles::Hierarchy;
use tss_esapi::interface_types::session_handles::{AuthSession, PolicySession};
use tss_esapi::structures::{
    Data, Digest, DigestValues, EccParameter, EccPoint, EccScheme, EncryptedSecret, IdObject,
    KeyDerivationFunctionScheme, KeyedHashScheme, Name, Private, Public, PublicBuilder,
    PublicEccParametersBuilder, PublicKeyedHashParameters, SensitiveData, Signature,
    SignatureScheme, SymmetricDefinition, SymmetricDefinitionObject,
};
use tss_esapi::tcti_ldr::TctiNameConf;
use tss_esapi::traits::Marshall as _;
use tss_esapi::traits::UnMarshall as _;
use zeroize::Zeroizing;

use crate::blob::SealedBlob;
use crate::ekcert::EkAlgorithm;
use crate::error::Error;
use crate::pcr::{PcrSelection, PcrValues};
use crate::secret::SecretBytes;

/// The TCTI used when none is configured: the kernel's TPM resource manager.
pub const DEFAULT_TCTI: &str = "device:/dev/tpmrm0";
/// The environment variable the examples read the TCTI from.
pub const TCTI_ENV: &str = "KMS_TPM_TCTI";
/// The largest secret a TPM sealed data object holds (`MAX_SYM_DATA`).
pub const MAX_SEALED_SECRET: usize = 128;

/// An attestation key: a restricted ECC P-256 ECDSA-SHA256 signing key, created in the
/// endorsement hierarchy under the endorsement key. Its private part is wrapped by the TPM and
/// useless elsewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttestationKey {
    pub(crate) public: Vec<u8>,
    pub(crate) private: Vec<u8>,
}

impl AttestationKey {
    /// The marshalled `TPMT_PUBLIC` (what a verifier needs).
    pub fn public(&self) -> &[u8] {
        &self.public
    }
}

/// A TPM quote: the signed `TPMS_ATTEST`, its ECDSA signature, and the PCR values it covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    /// The marshalled `TPMS_ATTEST` the TPM signed.
    pub attest: Vec<u8>,
    /// The ECDSA P-256 signature, `r || s`, 32 bytes each.
    pub signature: [u8; 64],
    /// The PCR values the quote claims (checked against the signed digest by the verifier).
    pub pcr_values: PcrValues,
}

/// A signed `TPMS_ATTEST` of type certify and its signature.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certification {
    /// The marshalled `TPMS_ATTEST`.
    pub attest: Vec<u8>,
    /// The ECDSA P-256 signature, `r || s`.
    pub signature: [u8; 64],
}

/// A TPM-resident ECC P-256 decryption key (public and TPM-wrapped private part).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecryptionKey {
    pub(crate) public: Vec<u8>,
    pub(crate) private: Vec<u8>,
    pub(crate) policy: PcrValues,
}

impl DecryptionKey {
    /// The marshalled `TPMT_PUBLIC`.
    pub fn public(&self) -> &[u8] {
        &self.public
    }
}

/// A connection to a TPM 2.0.
///
/// The storage primary key is created once per `Tpm` (on the first operation that needs it)
/// and kept loaded until the `Tpm` drops, which flushes it. If the TPM restarted in between
/// and the kept handle is no longer valid, it is re-created (same template, same key) and the
/// operation retried once.
pub struct Tpm {
    ctx: Context,
    tcti: String,
    /// The storage primary, once created; flushed on drop.
    primary: Option<KeyHandle>,
    /// Which endorsement key this connection uses.
    ek_algorithm: EkAlgorithm,
}

impl Drop for Tpm {
    fn drop(&mut self) {
        self.forget_primary();
    }
}

impl core::fmt::Debug for Tpm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Tpm")
            .field("tcti", &self.tcti)
            .finish_non_exhaustive()
    }
}

fn tpm_err(operation: &'static str) -> impl FnOnce(tss_esapi::Error) -> Error {
    Error::tpm(operation)
}

/// Whether `e` is the TPM saying a handle does not name a loaded object (`TPM_RC_HANDLE` for a
/// handle, `TPM_RC_REFERENCE_H0..H6`): what a kept transient handle gives after a TPM restart.
fn is_stale_handle(e: &Error) -> bool {
    use tss_esapi::constants::response_code::Tss2ResponseCodeKind as K;
    // The TSS libraries' own codes (small base codes, format zero) never map to these kinds.
    let Error::Tpm {
        source: tss_esapi::Error::Tss2Error(rc),
        ..
    } = e
    else {
        return false;
    };
    matches!(
        rc.kind(),
        Some(
            K::Handle
                | K::ReferenceH0
                | K::ReferenceH1
                | K::ReferenceH2
                | K::ReferenceH3
                | K::ReferenceH4
                | K::ReferenceH5
                | K::ReferenceH6
        )
    )
}

/// Overwrites the stack below the caller's frame with zeros.
///
/// tss-esapi moves each C response structure onto the Rust stack by value before converting it
/// (`TPM2B_SENSITIVE_DATA` of an unseal: the secret), and neither it nor the C frames beneath
/// wipe them; once those calls have returned, their frames are below ours. Called right after
/// a command that returned a secret, this zeroes 32 KiB below the caller (far more than the
/// ESAPI call chain uses), with writes the optimizer cannot drop. Costs a few microseconds.
#[inline(never)]
fn scrub_stack() {
    let mut area = [0xA5u8; 32 * 1024];
    // `black_box` makes the writes observable, so they are not elided; a plain fill is a memset
    // (volatile byte writes, as `zeroize` does, cost ten times more here).
    std::hint::black_box(&mut area).fill(0);
    std::hint::black_box(&area);
}

/// Overwrites recently freed small heap chunks of this thread with zeros.
///
/// `Esys_Unseal` returns the secret in a structure that libtss2 allocates and tss-esapi frees
/// with `free()` after copying it, without wiping (the memory scan found a `TPM2B` copy in a
/// freed chunk about every other run). glibc hands the most recently freed chunks of a size
/// class out first, so allocating 16 buffers in each size class up to 1 KiB, zeroing them
/// (writes made observable with `black_box`) and freeing them again overwrites those chunks. Best effort, not a
/// guarantee (a chunk merged into a larger free block is not reached); the memory-scan test
/// (`tests/memscan.rs`) checks the result. Costs about 0.1 ms (1024 small allocations).
// `vec![0; n]` would be `calloc`, which glibc may serve from elsewhere than the freed chunks:
// `malloc` (with_capacity) and then writing is the point.
#[allow(clippy::slow_vector_initialization)]
fn scrub_freed_heap() {
    const PER_SIZE: usize = 16;
    let mut held: Vec<Vec<u8>> = Vec::with_capacity(64 * PER_SIZE);
    for class in 1..=64usize {
        let size = class * 16 - 8; // one request per glibc size class up to 1 KiB
        for _ in 0..PER_SIZE {
            let mut v = Vec::with_capacity(size);
            v.resize(size, 0u8);
            std::hint::black_box(&mut v[..]);
            held.push(v);
        }
    }
    std::hint::black_box(&held);
}

/// Total length of a DER TLV with a definite length (up to 4 length octets), if it fits.
fn der_len(b: &[u8]) -> Option<usize> {
    let first = *b.get(1)?;
    let (header, len) = if first < 0x80 {
        (2, usize::from(first))
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 {
            return None;
        }
        let len = b
            .get(2..2 + n)?
            .iter()
            .fold(0usize, |acc, x| (acc << 8) | usize::from(*x));
        (2 + n, len)
    };
    let total = header.checked_add(len)?;
    (total <= b.len()).then_some(total)
}

fn fixed_sig(sig: &Signature) -> Result<[u8; 64], Error> {
    let Signature::EcDsa(e) = sig else {
        return Err(Error::Malformed {
            what: "TPM signature (not ECDSA)",
        });
    };
    let mut out = [0u8; 64];
    let (r, s) = (e.signature_r().value(), e.signature_s().value());
    if r.len() > 32 || s.len() > 32 {
        return Err(Error::Malformed {
            what: "TPM signature (component over 32 bytes)",
        });
    }
    out[32 - r.len()..32].copy_from_slice(r);
    out[64 - s.len()..].copy_from_slice(s);
    Ok(out)
}

impl Tpm {
    /// Connects to the TPM named by a TCTI string: `device:/dev/tpmrm0` (the default,
    /// [`DEFAULT_TCTI`]) or `swtpm:host=127.0.0.1,port=P`.
    pub fn open(tcti: &str) -> Result<Self, Error> {
        let conf = TctiNameConf::from_str(tcti).map_err(|_| Error::InvalidTcti {
            tcti: tcti.to_owned(),
        })?;
        let ctx = Context::new(conf).map_err(tpm_err("connect"))?;
        Ok(Self {
            ctx,
            tcti: tcti.to_owned(),
            primary: None,
            ek_algorithm: EkAlgorithm::default(),
        })
    }

    /// Uses the endorsement key of `algorithm` (default [`EkAlgorithm::EccP256`]) for
    /// [`Tpm::endorsement_key_public`], [`Tpm::endorsement_key_certificate`] and the attestation
    /// keys created from now on. Choose the EK the manufacturer certified when EK certificates
    /// are validated.
    pub fn with_endorsement_key(mut self, algorithm: EkAlgorithm) -> Self {
        self.ek_algorithm = algorithm;
        self
    }

    /// The endorsement key algorithm in use.
    pub fn endorsement_key_algorithm(&self) -> EkAlgorithm {
        self.ek_algorithm
    }

    /// Connects to the TPM named by `$KMS_TPM_TCTI`, or [`DEFAULT_TCTI`] if unset.
    pub fn open_from_env() -> Result<Self, Error> {
        let tcti = std::env::var(TCTI_ENV).unwrap_or_else(|_| DEFAULT_TCTI.to_owned());
        Self::open(&tcti)
    }

    /// The TCTI string this connection was opened with.
    pub fn tcti(&self) -> &str {
        &self.tcti
    }

    /// Reads the current values of the selected PCRs (in batches of 8, the TPM's limit).
    pub fn read_pcrs(&mut self, selection: PcrSelection) -> Result<PcrValues, Error> {
        let mut values = Vec::new();
        for chunk in selection.pcrs().chunks(8) {
            let part = PcrSelection::new(selection.bank(), chunk)?;
            let want = part.tss()?;
            let (_, read_sel, digests) = self
                .ctx
                .execute_without_session(|c| c.pcr_read(want.clone()))
                .map_err(tpm_err("PCR_Read"))?;
            if read_sel.get_selections() != want.get_selections() || digests.len() != chunk.len() {
                return Err(Error::InvalidPcrSelection {
                    reason: "the TPM does not have all selected PCRs in this bank",
                });
            }
            values.extend(digests.value().iter().map(|d| d.value().to_vec()));
        }
        PcrValues::new(selection, values)
    }

    /// Extends PCR `index` with the measurement of `data` in every bank (SHA-1, SHA-256,
    /// SHA-384, SHA-512: each bank gets the digest of `data` in its own algorithm), as a boot
    /// loader measures a component. For tests and for operators simulating a boot chain; a real
    /// boot chain extends these PCRs itself.
    pub fn extend_pcr(&mut self, index: u8, data: &[u8]) -> Result<(), Error> {
        use sha2::Digest as _;
        let handle =
            PcrHandle::try_from(u32::from(index)).map_err(|_| Error::InvalidPcrSelection {
                reason: "PCR index above 23",
            })?;
        let mut vals = DigestValues::new();
        let digests = [
            (HashingAlgorithm::Sha1, sha1::Sha1::digest(data).to_vec()),
            (
                HashingAlgorithm::Sha256,
                sha2::Sha256::digest(data).to_vec(),
            ),
            (
                HashingAlgorithm::Sha384,
                sha2::Sha384::digest(data).to_vec(),
            ),
            (
                HashingAlgorithm::Sha512,
                sha2::Sha512::digest(data).to_vec(),
            ),
        ];
        for (alg, d) in digests {
            vals.set(alg, Digest::try_from(d).map_err(tpm_err("PCR_Extend"))?);
        }
        self.ctx
            .execute_with_session(Some(AuthSession::Password), |c| c.pcr_extend(handle, vals))
            .map_err(tpm_err("PCR_Extend"))
    }

    /// `TPM2_GetRandom`: `n` (at most 32) bytes from the TPM's RNG.
    pub fn random(&mut self, n: usize) -> Result<Vec<u8>, Error> {
        let d = self
            .ctx
            .execute_without_session(|c| c.get_random(n))
            .map_err(tpm_err("GetRandom"))?;
        Ok(d.value().to_vec())
    }

    // ---- storage primary and sessions ----

    /// Creates the storage primary key (the TCG "SRK" template: ECC P-256, AES-128-CFB,
    /// restricted decrypt). The same template gives the same key on every call, as long as
    /// the owner hierarchy's seed is unchanged, so nothing needs to be persisted.
    fn create_storage_primary(&mut self) -> Result<KeyHandle, Error> {
        let attrs = ObjectAttributesBuilder::new()
            .with_fixed_tpm(true)
            .with_fixed_parent(true)
            .with_sensitive_data_origin(true)
            .with_user_with_auth(true)
            .with_no_da(true)
            .with_restricted(true)
            .with_decrypt(true)
            .build()
            .map_err(tpm_err("storage primary template"))?;
        let public = PublicBuilder::new()
            .with_public_algorithm(PublicAlgorithm::Ecc)
            .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
            .with_object_attributes(attrs)
            .with_ecc_parameters(
                PublicEccParametersBuilder::new()
                    .with_symmetric(SymmetricDefinitionObject::AES_128_CFB)
                    .with_ecc_scheme(EccScheme::Null)
                    .with_curve(EccCurve::NistP256)
                    .with_key_derivation_function_scheme(KeyDerivationFunctionScheme::Null)
                    .with_is_decryption_key(true)
                    .with_restricted(true)
                    .build()
                    .map_err(tpm_err("storage primary template"))?,
            )
            .with_ecc_unique_identifier(EccPoint::new(
                EccParameter::try_from(vec![0u8; 32])
                    .map_err(tpm_err("storage primary template"))?,
                EccParameter::try_from(vec![0u8; 32])
                    .map_err(tpm_err("storage primary template"))?,
            ))
            .build()
            .map_err(tpm_err("storage primary template"))?;
        let r = self
            .ctx
            .execute_with_session(Some(AuthSession::Password), |c| {
                c.create_primary(Hierarchy::Owner, public, None, None, None, None)
            })
            .map_err(tpm_err("CreatePrimary (storage key)"))?;
        Ok(r.key_handle)
    }

    /// Starts a session salted with `salt_key` (so its session key is secret from anyone
    /// watching the TPM interface) with AES-128-CFB parameter encryption in the given
    /// directions.
    fn salted_session(
        &mut self,
        salt_key: KeyHandle,
        kind: SessionType,
        encrypt_command: bool,
        encrypt_response: bool,
    ) -> Result<AuthSession, Error> {
        let s = self
            .ctx
            .start_auth_session(
                Some(salt_key),
                None,
                None,
                kind,
                SymmetricDefinition::AES_128_CFB,
                HashingAlgorithm::Sha256,
            )
            .map_err(tpm_err("StartAuthSession"))?
            .ok_or(Error::Malformed {
                what: "StartAuthSession response",
            })?;
        let (attrs, mask) = SessionAttributesBuilder::new()
            .with_continue_session(true)
            .with_decrypt(encrypt_command)
            .with_encrypt(encrypt_response)
            .build();
        if let Err(e) = self.ctx.tr_sess_set_attributes(s, attrs, mask) {
            self.flush_session(s);
            return Err(Error::Tpm {
                operation: "session attributes",
                source: e,
            });
        }
        Ok(s)
    }

    fn flush_session(&mut self, s: AuthSession) {
        let _ = self.ctx.flush_context(SessionHandle::from(s).into());
    }

    fn flush(&mut self, h: impl Into<ObjectHandle>) {
        let _ = self.ctx.flush_context(h.into());
    }

    /// After a command that carried a secret (seal, unseal, ECDH_ZGen, ActivateCredential):
    /// overwrites the copies the TSS libraries left ([`Tpm::overwrite_response_buffer`],
    /// [`scrub_stack`], [`scrub_freed_heap`]): one TPM command and about 0.1 ms of
    /// memory writes; a seal also runs a second Create (0.2-0.5 ms in all against swtpm).
    fn wipe_after_secret_command(&mut self) {
        self.overwrite_response_buffer();
        scrub_stack();
        scrub_freed_heap();
    }

    /// Overwrites the plaintext a decrypted response left in the TSS libraries' memory.
    ///
    /// `libtss2-esys` decrypts an encrypted response parameter (an unsealed secret, an ECDH
    /// point) in place in the `libtss2-sys` command/response buffer of this connection, which
    /// lives until the connection closes and is not wiped; Rust cannot reach it without
    /// `unsafe`. The next response is written to the same buffer from its start, so one
    /// harmless command with a response longer than any secret (`GetCapability` of the fixed
    /// TPM properties: over 300 bytes, against at most 16 + 128 for an unseal) overwrites it.
    /// Errors are ignored: this is hygiene, not a security boundary. Costs one TPM command.
    /// The memory-scan test (`tests/memscan.rs`) checks that no copy is left.
    fn overwrite_response_buffer(&mut self) {
        use tss_esapi::constants::CapabilityType;
        let _ = self.ctx.execute_without_session(|c| {
            c.get_capability(
                CapabilityType::TpmProperties,
                tss_esapi::constants::tss::TPM2_PT_FIXED,
                64,
            )
        });
    }

    /// The kept storage primary, created on first use.
    fn storage_primary(&mut self) -> Result<KeyHandle, Error> {
        if let Some(h) = self.primary {
            return Ok(h);
        }
        let h = self.create_storage_primary()?;
        self.primary = Some(h);
        Ok(h)
    }

    /// Flushes the kept storage primary, if any (errors ignored: after a TPM restart it is
    /// already gone); the next operation that needs it creates it again.
    fn forget_primary(&mut self) {
        if let Some(h) = self.primary.take() {
            self.flush(h);
        }
    }

    /// Runs `f` with the storage primary loaded (the kept one, created on first use). `f` must
    /// use the primary before loading anything else and flush what it loads, also on errors.
    /// If `f` fails because the kept handle no longer names a loaded object (the TPM restarted
    /// since it was created), the primary is re-created and `f` runs once more.
    fn with_primary<T>(
        &mut self,
        mut f: impl FnMut(&mut Self, KeyHandle) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let kept = self.primary.is_some();
        let primary = self.storage_primary()?;
        match f(self, primary) {
            Err(e) if kept && is_stale_handle(&e) => {
                self.forget_primary();
                let primary = self.storage_primary()?;
                f(self, primary)
            }
            r => r,
        }
    }

    /// Loads a child of the storage primary (password authorization of the primary: only
    /// the TPM-encrypted private part travels).
    fn load_child(
        &mut self,
        primary: KeyHandle,
        public: &[u8],
        private: &[u8],
    ) -> Result<KeyHandle, Error> {
        let public = Public::unmarshall(public).map_err(tpm_err("decode public area"))?;
        let private =
            Private::try_from(private.to_vec()).map_err(tpm_err("decode private area"))?;
        self.ctx
            .execute_with_session(Some(AuthSession::Password), |c| {
                c.load(primary, private, public)
            })
            .map_err(tpm_err("Load"))
    }

    /// A salted policy session that has passed `PolicyPCR(values)`; encrypts the response.
    fn pcr_policy_session(
        &mut self,
        salt_key: KeyHandle,
        values: &PcrValues,
    ) -> Result<AuthSession, Error> {
        let s = self.salted_session(salt_key, SessionType::Policy, false, true)?;
        let r = (|| {
            let ps = PolicySession::try_from(s).map_err(tpm_err("policy session"))?;
            let digest = Digest::try_from(values.composite_digest().to_vec())
                .map_err(tpm_err("PolicyPCR"))?;
            let sel = values.selection().tss()?;
            self.ctx
                .execute_without_session(|c| c.policy_pcr(ps, digest, sel))
                .map_err(tpm_err("PolicyPCR"))
        })();
        match r {
            Ok(()) => Ok(s),
            Err(e) => {
                self.flush_session(s);
                Err(e)
            }
        }
    }

    // ---- sealing ----

    /// Seals `secret` (at most [`MAX_SEALED_SECRET`] bytes) to `values`: the TPM releases it
    /// only while the PCRs hold exactly these values. The secret travels to the TPM encrypted
    /// under a session salted with the storage key.
    pub fn seal(&mut self, secret: &SecretBytes, values: &PcrValues) -> Result<SealedBlob, Error> {
        if secret.len() > MAX_SEALED_SECRET || secret.is_empty() {
            return Err(Error::SecretTooLarge {
                len: secret.len(),
                max: MAX_SEALED_SECRET,
            });
        }
        let attrs = ObjectAttributesBuilder::new()
            .with_fixed_tpm(true)
            .with_fixed_parent(true)
            .with_no_da(true)
            .with_admin_with_policy(true)
            .with_user_with_auth(false)
            .build()
            .map_err(tpm_err("sealed object template"))?;
        let public = PublicBuilder::new()
            .with_public_algorithm(PublicAlgorithm::KeyedHash)
            .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
            .with_object_attributes(attrs)
            .with_auth_policy(
                Digest::try_from(values.policy_digest().to_vec())
                    .map_err(tpm_err("policy digest"))?,
            )
            .with_keyed_hash_parameters(PublicKeyedHashParameters::new(KeyedHashScheme::Null))
            .with_keyed_hash_unique_identifier(Digest::default())
            .build()
            .map_err(tpm_err("sealed object template"))?;
        let data =
            SensitiveData::try_from(secret.expose_secret()).map_err(tpm_err("sealed data"))?;
        let created = self.with_primary(|t, primary| {
            let s = t.salted_session(primary, SessionType::Hmac, true, false)?;
            let r = t
                .ctx
                .execute_with_session(Some(s), |c| {
                    c.create(
                        primary,
                        public.clone(),
                        None,
                        Some(data.clone()),
                        None,
                        None,
                    )
                })
                .map_err(tpm_err("Create (seal)"));
            t.flush_session(s);
            if r.is_ok() {
                // ESYS keeps a copy of each command's input parameters in its context (to
                // resend the command on TPM_RC_RETRY), here the secret inside the
                // `TPM2B_SENSITIVE_CREATE`, until the next command of the same kind. A second
                // Create with all-zero data (its result is dropped) overwrites that copy.
                let zeros = SensitiveData::try_from(vec![0u8; MAX_SEALED_SECRET]);
                if let Ok(zeros) = zeros {
                    let _ = t
                        .ctx
                        .execute_with_session(Some(AuthSession::Password), |c| {
                            c.create(primary, public.clone(), None, Some(zeros), None, None)
                        });
                }
            }
            r
        });
        drop(data);
        self.wipe_after_secret_command();
        let created = created?;
        Ok(SealedBlob {
            values: values.clone(),
            public: created
                .out_public
                .marshall()
                .map_err(tpm_err("encode public area"))?,
            private: created.out_private.value().to_vec(),
        })
    }

    /// Unseals a blob. Checks the current PCRs first: if any differs from the sealed values
    /// the result is [`Error::PolicyMismatch`] naming them (and the TPM would refuse anyway).
    /// The secret comes back encrypted under a salted policy session.
    pub fn unseal(&mut self, blob: &SealedBlob) -> Result<SecretBytes, Error> {
        let mismatch = |t: &mut Self| -> Result<Option<Error>, Error> {
            let now = t.read_pcrs(blob.values.selection())?;
            let pcrs = blob.values.differing(&now);
            Ok((!pcrs.is_empty()).then_some(Error::PolicyMismatch {
                bank: blob.values.selection().bank(),
                pcrs,
            }))
        };
        if let Some(e) = mismatch(self)? {
            return Err(e);
        }
        let r = self.with_primary(|t, primary| {
            let obj = t.load_child(primary, &blob.public, &blob.private)?;
            let r = (|| {
                let s = t.pcr_policy_session(primary, &blob.values)?;
                let r = t
                    .ctx
                    .execute_with_session(Some(s), |c| c.unseal(obj.into()))
                    .map_err(tpm_err("Unseal"));
                t.flush_session(s);
                r
            })();
            t.flush(obj);
            r
        });
        match r {
            Ok(data) => {
                let secret = SecretBytes::new(Zeroizing::new(data.value().to_vec()));
                drop(data); // tss-esapi's SensitiveData is Zeroizing: wiped here
                self.wipe_after_secret_command();
                Ok(secret)
            }
            // A PCR may have been extended between the check and the policy session.
            Err(e) => Err(mismatch(self)?.unwrap_or(e)),
        }
    }

    // ---- endorsement and attestation keys ----

    fn endorsement_key(&mut self) -> Result<KeyHandle, Error> {
        let alg = match self.ek_algorithm {
            EkAlgorithm::EccP256 => AsymmetricAlgorithm::Ecc,
            EkAlgorithm::Rsa2048 => AsymmetricAlgorithm::Rsa,
        };
        ek::create_ek_object(&mut self.ctx, alg, tss_esapi::abstraction::DefaultKey)
            .map_err(tpm_err("CreatePrimary (EK)"))
    }

    /// The manufacturer's certificate (DER) of the endorsement key in use, read from its TCG
    /// NV index ([`EkAlgorithm::certificate_nv_index`]) in chunks of the TPM's NV buffer size.
    /// Validate it with [`crate::verify_ek_certificate`]. Fails with
    /// [`Error::EkCertificateMissing`] if the index is not defined, and with
    /// [`Error::Malformed`] if it is larger than [`crate::MAX_EK_CERTIFICATE`].
    pub fn endorsement_key_certificate(&mut self) -> Result<Vec<u8>, Error> {
        use tss_esapi::abstraction::nv::max_nv_buffer_size;
        use tss_esapi::attributes::NvIndexAttributes;
        use tss_esapi::handles::{NvIndexHandle, NvIndexTpmHandle, TpmHandle};
        use tss_esapi::interface_types::resource_handles::NvAuth;

        let nv_index = self.ek_algorithm.certificate_nv_index();
        let tpm_handle = NvIndexTpmHandle::new(nv_index).map_err(tpm_err("NV index"))?;
        let mut obj = match self.ctx.tr_from_tpm_public(TpmHandle::NvIndex(tpm_handle)) {
            Ok(h) => h,
            Err(e) => {
                let e = Error::Tpm {
                    operation: "ReadPublic (EK certificate NV index)",
                    source: e,
                };
                return Err(if is_stale_handle(&e) {
                    Error::EkCertificateMissing { nv_index }
                } else {
                    e
                });
            }
        };
        let r = (|| {
            let index = NvIndexHandle::from(obj);
            let (public, _) = self
                .ctx
                .execute_without_session(|c| c.nv_read_public(index))
                .map_err(tpm_err("NV_ReadPublic (EK certificate)"))?;
            let size = public.data_size();
            if size > crate::ekcert::MAX_EK_CERTIFICATE {
                return Err(Error::Malformed {
                    what: "EK certificate NV index (larger than MAX_EK_CERTIFICATE)",
                });
            }
            let attrs: NvIndexAttributes = public.attributes();
            // TCG EK certificate indices are readable with their own (empty) authorization;
            // fall back to the owner's (empty) authorization otherwise.
            let auth = if attrs.auth_read() {
                NvAuth::NvIndex(index)
            } else {
                NvAuth::Owner
            };
            let chunk = max_nv_buffer_size(&mut self.ctx)
                .map_err(tpm_err("GetCapability (NV buffer size)"))?
                .clamp(64, 2048);
            let mut out = Vec::with_capacity(size);
            while out.len() < size {
                let n = (size - out.len()).min(chunk);
                let offset = u16::try_from(out.len()).map_err(|_| Error::Malformed {
                    what: "EK certificate NV index (offset)",
                })?;
                let n16 = u16::try_from(n).map_err(|_| Error::Malformed {
                    what: "EK certificate NV index (chunk)",
                })?;
                let part = self
                    .ctx
                    .execute_with_session(Some(AuthSession::Password), |c| {
                        c.nv_read(auth, index, n16, offset)
                    })
                    .map_err(tpm_err("NV_Read (EK certificate)"))?;
                if part.is_empty() || part.len() > n {
                    return Err(Error::Malformed {
                        what: "EK certificate NV read (wrong length)",
                    });
                }
                out.extend_from_slice(part.value());
            }
            Ok(out)
        })();
        let _ = self.ctx.tr_close(&mut obj);
        let mut der = r?;
        // The index may be larger than the certificate (padding): keep the DER TLV only.
        if let Some(len) = der_len(&der) {
            der.truncate(len);
        }
        Ok(der)
    }

    /// The endorsement key's public area (`TPMT_PUBLIC`, the TCG default template of the
    /// [`EkAlgorithm`] in use, ECC P-256 unless [`Tpm::with_endorsement_key`] chose RSA 2048):
    /// the TPM's identity. Its fingerprint ([`crate::ek_fingerprint`]) goes on a join allowlist;
    /// its certificate is [`Tpm::endorsement_key_certificate`].
    pub fn endorsement_key_public(&mut self) -> Result<Vec<u8>, Error> {
        let ek = self.endorsement_key()?;
        let r = self.ctx.read_public(ek).map_err(tpm_err("ReadPublic (EK)"));
        self.flush(ek);
        r?.0.marshall().map_err(tpm_err("encode EK public"))
    }

    /// Creates a new attestation key under the endorsement key: restricted ECC P-256
    /// signing key, ECDSA-SHA256, fixedTPM/fixedParent, generated in the TPM.
    pub fn create_attestation_key(&mut self) -> Result<AttestationKey, Error> {
        let ek = self.endorsement_key()?;
        let r = ak::create_ak(
            &mut self.ctx,
            ek,
            HashingAlgorithm::Sha256,
            SignatureSchemeAlgorithm::EcDsa,
            None,
            tss_esapi::abstraction::DefaultKey,
        )
        .map_err(tpm_err("Create (AK)"));
        self.flush(ek);
        let r = r?;
        Ok(AttestationKey {
            public: r
                .out_public
                .marshall()
                .map_err(tpm_err("encode AK public"))?,
            private: r.out_private.value().to_vec(),
        })
    }

    /// Runs `f` with the AK loaded (under a fresh EK), flushing both afterwards.
    fn with_ak<T>(
        &mut self,
        key: &AttestationKey,
        f: impl FnOnce(&mut Self, KeyHandle, KeyHandle) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let ek = self.endorsement_key()?;
        let r = (|| {
            let public = Public::unmarshall(&key.public).map_err(tpm_err("decode AK public"))?;
            let private =
                Private::try_from(key.private.clone()).map_err(tpm_err("decode AK private"))?;
            let h = ak::load_ak(&mut self.ctx, ek, None, private, public)
                .map_err(tpm_err("Load (AK)"))?;
            let r = f(self, h, ek);
            self.flush(h);
            r
        })();
        self.flush(ek);
        r
    }

    /// `TPM2_ActivateCredential`: recovers the secret a verifier encrypted to this TPM's EK
    /// for this AK's name. Succeeds only if the AK and the EK are in this TPM, which is what
    /// binds the AK to the EK.
    pub fn activate_credential(
        &mut self,
        key: &AttestationKey,
        credential_blob: &[u8],
        encrypted_secret: &[u8],
    ) -> Result<SecretBytes, Error> {
        let blob = IdObject::try_from(credential_blob.to_vec()).map_err(|_| Error::Malformed {
            what: "credential blob",
        })?;
        let secret =
            EncryptedSecret::try_from(encrypted_secret.to_vec()).map_err(|_| Error::Malformed {
                what: "encrypted secret",
            })?;
        self.with_ak(key, |t, ak, ek| {
            // The EK is authorized by PolicySecret(endorsement hierarchy); the session is salted
            // with the EK and encrypts the response (the recovered secret).
            let s = t.salted_session(ek, SessionType::Policy, false, true)?;
            let r = (|| {
                let ps = PolicySession::try_from(s).map_err(tpm_err("policy session"))?;
                t.ctx
                    .execute_with_session(Some(AuthSession::Password), |c| {
                        c.policy_secret(
                            ps,
                            tss_esapi::handles::AuthHandle::Endorsement,
                            Default::default(),
                            Default::default(),
                            Default::default(),
                            None,
                        )
                    })
                    .map_err(tpm_err("PolicySecret (endorsement)"))?;
                t.ctx
                    .execute_with_sessions((Some(AuthSession::Password), Some(s), None), |c| {
                        c.activate_credential(ak, ek, blob, secret)
                    })
                    .map_err(tpm_err("ActivateCredential"))
            })();
            t.flush_session(s);
            let secret = r.map(|d| SecretBytes::new(Zeroizing::new(d.value().to_vec())));
            t.wipe_after_secret_command();
            secret
        })
    }

    /// `TPM2_MakeCredential` with an external EK public area: encrypts `secret` (at most 32
    /// bytes) so that only the TPM owning that EK, with an object named `object_name` loaded,
    /// can recover it. A public-key operation: this TPM's own keys are not involved.
    pub fn make_credential(
        &mut self,
        ek_public: &[u8],
        object_name: &[u8],
        secret: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), Error> {
        let public = Public::unmarshall(ek_public).map_err(|_| Error::Malformed {
            what: "EK public area",
        })?;
        let name = Name::try_from(object_name.to_vec()).map_err(|_| Error::Malformed {
            what: "object name",
        })?;
        let cred = Digest::try_from(secret.to_vec()).map_err(tpm_err("credential"))?;
        let h = self
            .ctx
            .execute_without_session(|c| c.load_external_public(public, Hierarchy::Null))
            .map_err(tpm_err("LoadExternal (EK)"))?;
        let r = self
            .ctx
            .execute_without_session(|c| c.make_credential(h, cred, name))
            .map_err(tpm_err("MakeCredential"));
        self.flush(h);
        let (blob, secret) = r?;
        Ok((blob.value().to_vec(), secret.value().to_vec()))
    }

    /// Quotes the PCRs of `selection` with the AK over the caller's `nonce` (at most 64 bytes),
    /// and reads their values. Retries if a PCR changes between the quote and the read.
    pub fn quote(
        &mut self,
        key: &AttestationKey,
        nonce: &[u8],
        selection: PcrSelection,
    ) -> Result<Quote, Error> {
        let data = Data::try_from(nonce.to_vec()).map_err(|_| Error::Malformed {
            what: "quote nonce (over 64 bytes)",
        })?;
        for _ in 0..3 {
            let before = self.read_pcrs(selection)?;
            let (attest, sig) = self.with_ak(key, |t, ak, _| {
                let sel = selection.tss()?;
                let data = data.clone();
                t.ctx
                    .execute_with_session(Some(AuthSession::Password), |c| {
                        c.quote(ak, data, SignatureScheme::Null, sel)
                    })
                    .map_err(tpm_err("Quote"))
            })?;
            let after = self.read_pcrs(selection)?;
            if before == after {
                return Ok(Quote {
                    attest: attest.marshall().map_err(tpm_err("encode attest"))?,
                    signature: fixed_sig(&sig)?,
                    pcr_values: after,
                });
            }
        }
        Err(Error::InvalidPcrSelection {
            reason: "PCRs kept changing while quoting",
        })
    }

    /// Creates a TPM-resident ECC P-256 decryption key under the storage primary that only the
    /// boot state `policy` can use (`userWithAuth` clear, authPolicy = PolicyPCR(policy)),
    /// generated in the TPM and unable to leave it (fixedTPM, fixedParent).
    pub fn create_decryption_key(&mut self, policy: &PcrValues) -> Result<DecryptionKey, Error> {
        let attrs = ObjectAttributesBuilder::new()
            .with_fixed_tpm(true)
            .with_fixed_parent(true)
            .with_sensitive_data_origin(true)
            .with_user_with_auth(false)
            .with_decrypt(true)
            .with_sign_encrypt(false)
            .with_restricted(false)
            .build()
            .map_err(tpm_err("decryption key template"))?;
        let public = PublicBuilder::new()
            .with_public_algorithm(PublicAlgorithm::Ecc)
            .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
            .with_object_attributes(attrs)
            .with_auth_policy(
                Digest::try_from(policy.policy_digest().to_vec())
                    .map_err(tpm_err("policy digest"))?,
            )
            .with_ecc_parameters(
                PublicEccParametersBuilder::new()
                    .with_symmetric(SymmetricDefinitionObject::Null)
                    .with_ecc_scheme(EccScheme::Null)
                    .with_curve(EccCurve::NistP256)
                    .with_key_derivation_function_scheme(KeyDerivationFunctionScheme::Null)
                    .with_is_decryption_key(true)
                    .with_is_signing_key(false)
                    .with_restricted(false)
                    .build()
                    .map_err(tpm_err("decryption key template"))?,
            )
            .with_ecc_unique_identifier(EccPoint::default())
            .build()
            .map_err(tpm_err("decryption key template"))?;
        let created = self.with_primary(|t, primary| {
            t.ctx
                .execute_with_session(Some(AuthSession::Password), |c| {
                    c.create(primary, public.clone(), None, None, None, None)
                })
                .map_err(tpm_err("Create (decryption key)"))
        })?;
        Ok(DecryptionKey {
            public: created
                .out_public
                .marshall()
                .map_err(tpm_err("encode public area"))?,
            private: created.out_private.value().to_vec(),
            policy: policy.clone(),
        })
    }

    /// `TPM2_Certify`: the AK signs that the decryption key is loaded in this TPM, over the
    /// caller's `nonce`.
    pub fn certify(
        &mut self,
        key: &AttestationKey,
        dk: &DecryptionKey,
        nonce: &[u8],
    ) -> Result<Certification, Error> {
        let data = Data::try_from(nonce.to_vec()).map_err(|_| Error::Malformed {
            what: "certify nonce (over 64 bytes)",
        })?;
        // Three objects at once (the key, EK, AK) and no room for the storage primary: load the
        // key, flush the kept primary (the next operation that needs it creates it again), and
        // certify with the AK loaded under the EK.
        let obj = self.with_primary(|t, primary| t.load_child(primary, &dk.public, &dk.private))?;
        self.forget_primary();
        let r = self.with_ak(key, |t, ak, _| {
            t.ctx
                .execute_with_sessions(
                    (
                        Some(AuthSession::Password),
                        Some(AuthSession::Password),
                        None,
                    ),
                    |c| c.certify(obj.into(), ak, data, SignatureScheme::Null),
                )
                .map_err(tpm_err("Certify"))
        });
        self.flush(obj);
        let (attest, sig) = r?;
        Ok(Certification {
            attest: attest.marshall().map_err(tpm_err("encode attest"))?,
            signature: fixed_sig(&sig)?,
        })
    }

    /// `TPM2_ECDH_ZGen` with the decryption key: the shared point's x-coordinate with the
    /// peer's public point (SEC1 uncompressed). Authorized by the key's PCR policy; the result
    /// returns encrypted under a salted session.
    pub(crate) fn ecdh_z(
        &mut self,
        dk: &DecryptionKey,
        peer_sec1: &[u8; 65],
    ) -> Result<Zeroizing<[u8; 32]>, Error> {
        let point = EccPoint::new(
            EccParameter::try_from(peer_sec1[1..33].to_vec()).map_err(tpm_err("ECC point"))?,
            EccParameter::try_from(peer_sec1[33..].to_vec()).map_err(tpm_err("ECC point"))?,
        );
        let z = self.with_primary(|t, primary| {
            let obj = t.load_child(primary, &dk.public, &dk.private)?;
            let r = (|| {
                let s = t.pcr_policy_session(primary, &dk.policy)?;
                let r = t
                    .ctx
                    .execute_with_session(Some(s), |c| c.ecdh_z_gen(obj, point.clone()))
                    .map_err(tpm_err("ECDH_ZGen"));
                t.flush_session(s);
                r
            })();
            t.flush(obj);
            r
        })?;
        let x = z.x().value();
        if x.len() > 32 {
            return Err(Error::Malformed {
                what: "ECDH_ZGen result",
            });
        }
        let mut out = Zeroizing::new([0u8; 32]);
        out[32 - x.len()..].copy_from_slice(x);
        drop(z); // tss-esapi's ECC parameters are Zeroizing: wiped here
        self.wipe_after_secret_command();
        Ok(out)
    }

    /// The policy digest the TPM itself computes for PolicyPCR over `values` (a trial session).
    /// Equal to [`PcrValues::policy_digest`]; kept to check that in tests.
    pub fn trial_policy_digest(&mut self, values: &PcrValues) -> Result<Vec<u8>, Error> {
        let s = self
            .ctx
            .start_auth_session(
                None,
                None,
                None,
                SessionType::Trial,
                SymmetricDefinition::Null,
                HashingAlgorithm::Sha256,
            )
            .map_err(tpm_err("StartAuthSession (trial)"))?
            .ok_or(Error::Malformed {
                what: "StartAuthSession response",
            })?;
        let r = (|| {
            let ps = PolicySession::try_from(s).map_err(tpm_err("policy session"))?;
            let digest = Digest::try_from(values.composite_digest().to_vec())
                .map_err(tpm_err("PolicyPCR"))?;
            let sel = values.selection().tss()?;
            self.ctx
                .execute_without_session(|c| c.policy_pcr(ps, digest, sel))
                .map_err(tpm_err("PolicyPCR"))?;
            self.ctx
                .execute_without_session(|c| c.policy_get_digest(ps))
                .map_err(tpm_err("PolicyGetDigest"))
        })();
        self.flush_session(s);
        Ok(r?.value().to_vec())
    }
}

/// A [`crate::Sealer`] backed by a TPM: seals to the current values of a PCR selection.
#[derive(Debug)]
pub struct TpmSealer {
    tpm: Tpm,
    selection: PcrSelection,
}

impl TpmSealer {
    /// A sealer on `tpm` binding secrets to `selection` (see [`PcrSelection::measured_boot`]
    /// for the default).
    pub fn new(tpm: Tpm, selection: PcrSelection) -> Self {
        Self { tpm, selection }
    }

    /// The PCR selection sealed to.
    pub fn selection(&self) -> PcrSelection {
        self.selection
    }

    /// The underlying TPM connection.
    pub fn tpm(&mut self) -> &mut Tpm {
        &mut self.tpm
    }

    /// Gives back the TPM connection.
    pub fn into_tpm(self) -> Tpm {
        self.tpm
    }

    /// Seals to given PCR values instead of the current ones (e.g. the predicted values of the
    /// next image, so it can unseal after an update).
    pub fn seal_to(&mut self, secret: &SecretBytes, values: &PcrValues) -> Result<Vec<u8>, Error> {
        self.tpm.seal(secret, values)?.to_bytes()
    }
}

impl crate::Sealer for TpmSealer {
    fn seal(&mut self, secret: &SecretBytes) -> Result<Vec<u8>, Error> {
        let values = self.tpm.read_pcrs(self.selection)?;
        self.tpm.seal(secret, &values)?.to_bytes()
    }

    fn unseal(&mut self, blob: &[u8]) -> Result<SecretBytes, Error> {
        let blob = SealedBlob::from_bytes(blob)?;
        self.tpm.unseal(&blob)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::Sealer as _;
    use crate::swtpm::Swtpm;
    use tss_esapi::constants::{CapabilityType, StartupType};
    use tss_esapi::structures::CapabilityData;

    /// The transient objects loaded in the TPM right now.
    fn transient_objects(tpm: &mut Tpm) -> usize {
        let (data, _) = tpm
            .ctx
            .get_capability(
                CapabilityType::Handles,
                tss_esapi::constants::tss::TPM2_TRANSIENT_FIRST,
                16,
            )
            .unwrap();
        match data {
            CapabilityData::Handles(h) => h.len(),
            _ => unreachable!("asked for handles"),
        }
    }

    /// Resets the TPM as a power cycle does, while swtpm and this connection stay up: swtpm's
    /// control-channel `CMD_INIT`, then `TPM2_Startup(CLEAR)`. Every transient object, the kept
    /// storage primary included, is gone.
    fn reset_tpm(sw: &Swtpm, tpm: &mut Tpm) {
        use std::io::{Read as _, Write as _};
        let tcti = sw.tcti();
        let port: u16 = tcti.rsplit('=').next().unwrap().parse().unwrap();
        let mut ctrl = std::net::TcpStream::connect(("127.0.0.1", port + 1)).unwrap();
        ctrl.write_all(&[0, 0, 0, 2, 0, 0, 0, 0]).unwrap(); // CMD_INIT, init_flags 0
        let mut result = [0xFF; 4];
        ctrl.read_exact(&mut result).unwrap();
        assert_eq!(result, [0; 4], "CMD_INIT result");
        tpm.ctx.startup(StartupType::Clear).unwrap();
    }

    #[test]
    fn storage_primary_is_kept_until_drop() {
        let sw = Swtpm::start().unwrap();
        let mut s = TpmSealer::new(
            Tpm::open(&sw.tcti()).unwrap(),
            PcrSelection::measured_boot(),
        );
        assert_eq!(transient_objects(s.tpm()), 0);
        let secret = SecretBytes::random(32).unwrap();
        let blob = s.seal(&secret).unwrap();
        let kept = s.tpm().primary;
        assert!(kept.is_some());
        s.unseal(&blob).unwrap();
        s.seal(&secret).unwrap();
        assert_eq!(
            s.tpm().primary,
            kept,
            "the same primary for every operation"
        );
        assert_eq!(
            transient_objects(s.tpm()),
            1,
            "only the storage primary stays loaded"
        );
        drop(s);
        let mut again = Tpm::open(&sw.tcti()).unwrap();
        assert_eq!(transient_objects(&mut again), 0, "flushed on drop");
    }

    #[test]
    fn kept_storage_primary_is_recreated_after_tpm_reset() {
        let sw = Swtpm::start().unwrap();
        let mut s = TpmSealer::new(
            Tpm::open(&sw.tcti()).unwrap(),
            PcrSelection::measured_boot(),
        );
        let secret = SecretBytes::random(32).unwrap();
        let blob = s.seal(&secret).unwrap(); // creates the storage primary and keeps it
        reset_tpm(&sw, s.tpm());
        assert_eq!(transient_objects(s.tpm()), 0);
        assert_eq!(
            s.unseal(&blob).unwrap().expose_secret(),
            secret.expose_secret()
        );
        reset_tpm(&sw, s.tpm());
        let again = s.seal(&secret).unwrap();
        assert_eq!(
            s.unseal(&again).unwrap().expose_secret(),
            secret.expose_secret()
        );
        assert_eq!(transient_objects(s.tpm()), 1);
    }
}
