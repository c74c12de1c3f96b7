//! Endorsement-key certificates: the manufacturer's X.509 certificate of a TPM's EK, read from
//! the TPM's NV index and validated in pure Rust against configured manufacturer roots.
//!
//! Decoding is `x509-cert` (strict DER); signatures are RSA PKCS#1 v1.5 (`rsa`) and ECDSA on
//! P-256 (`p256`) or P-384 (`p384`), each with SHA-256, SHA-384 or SHA-512. Rules: `SPEC.md`,
//! "EK certificates".

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use p256::ecdsa::signature::Verifier as _;
use rsa::pkcs1::DecodeRsaPublicKey as _;
use sha2::Digest as _;
use x509_cert::Certificate;
use x509_cert::der::asn1::ObjectIdentifier as Oid;
use x509_cert::der::{Decode as _, Encode as _};
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage};

use crate::attest;
use crate::error::Error;
use crate::wire::{ECC_NIST_P256, PublicArea};

/// NV index of the RSA 2048 EK certificate (TCG EK Credential Profile, low range).
pub const EK_CERT_NV_INDEX_RSA_2048: u32 = 0x01c0_0002;
/// NV index of the ECC NIST P-256 EK certificate (TCG EK Credential Profile, low range).
pub const EK_CERT_NV_INDEX_ECC_P256: u32 = 0x01c0_000a;
/// Largest certificate accepted, from a TPM or a caller (checked before decoding).
pub const MAX_EK_CERTIFICATE: usize = 8192;
/// Longest chain accepted: the EK certificate, intermediates, and the root.
pub const MAX_EK_CHAIN_DEPTH: usize = 6;

/// `tcg-kp-EKCertificate`: the extended key usage of an EK certificate.
const OID_TCG_KP_EK_CERTIFICATE: Oid = Oid::new_unwrap("2.23.133.8.1");
const OID_ANY_EKU: Oid = Oid::new_unwrap("2.5.29.37.0");
const OID_RSA_ENCRYPTION: Oid = Oid::new_unwrap("1.2.840.113549.1.1.1");
const OID_SHA256_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.11");
const OID_SHA384_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.12");
const OID_SHA512_RSA: Oid = Oid::new_unwrap("1.2.840.113549.1.1.13");
const OID_EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
const OID_SECP256R1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
const OID_SECP384R1: Oid = Oid::new_unwrap("1.3.132.0.34");
const OID_ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
const OID_ECDSA_SHA384: Oid = Oid::new_unwrap("1.2.840.10045.4.3.3");
const OID_ECDSA_SHA512: Oid = Oid::new_unwrap("1.2.840.10045.4.3.4");

/// Extensions this validator understands; any other extension marked critical is refused.
const KNOWN_EXTENSIONS: [&str; 9] = [
    "2.5.29.9",  // subjectDirectoryAttributes (TPM specification, security assertions)
    "2.5.29.14", // subjectKeyIdentifier
    "2.5.29.15", // keyUsage
    "2.5.29.17", // subjectAltName (TPM manufacturer, model, version; critical when no subject)
    "2.5.29.19", // basicConstraints
    "2.5.29.32", // certificatePolicies
    "2.5.29.35", // authorityKeyIdentifier
    "2.5.29.37", // extKeyUsage
    "2.5.29.31", // cRLDistributionPoints
];

/// Which endorsement key a [`crate::Tpm`] uses (for the join protocol, attestation keys and the
/// EK certificate): the TCG default templates of the EK Credential Profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EkAlgorithm {
    /// ECC NIST P-256, template L-2; certificate at [`EK_CERT_NV_INDEX_ECC_P256`]. The default.
    #[default]
    EccP256,
    /// RSA 2048, template L-1; certificate at [`EK_CERT_NV_INDEX_RSA_2048`]. The EK every TPM
    /// (and `swtpm_setup --create-ek-cert`) has a certificate for.
    Rsa2048,
}

impl EkAlgorithm {
    /// The NV index holding the manufacturer's certificate for this EK.
    pub fn certificate_nv_index(self) -> u32 {
        match self {
            Self::EccP256 => EK_CERT_NV_INDEX_ECC_P256,
            Self::Rsa2048 => EK_CERT_NV_INDEX_RSA_2048,
        }
    }
}

/// One decoded certificate with the exact bytes its signature covers.
#[derive(Clone)]
struct Cert {
    cert: Certificate,
    /// The DER of `tbsCertificate`, as found in the input (what the issuer signed).
    tbs: Vec<u8>,
    subject: String,
}

impl Cert {
    fn decode(der: &[u8]) -> Result<Self, Error> {
        const WHAT: &str = "X.509 certificate (not DER, or not an RFC 5280 certificate)";
        if der.len() > MAX_EK_CERTIFICATE {
            return Err(Error::Malformed {
                what: "X.509 certificate (larger than MAX_EK_CERTIFICATE)",
            });
        }
        let cert = Certificate::from_der(der).map_err(|_| Error::Malformed { what: WHAT })?;
        let tbs = raw_tbs(der)
            .ok_or(Error::Malformed { what: WHAT })?
            .to_vec();
        let subject = cert.tbs_certificate().subject().to_string();
        Ok(Self { cert, tbs, subject })
    }

    fn tbs(&self) -> &x509_cert::TbsCertificate {
        self.cert.tbs_certificate()
    }

    fn validity(&self) -> (Duration, Duration) {
        let v = self.tbs().validity();
        (
            v.not_before.to_unix_duration(),
            v.not_after.to_unix_duration(),
        )
    }

    fn check_time(&self, now: Duration) -> Result<(), Error> {
        let (not_before, not_after) = self.validity();
        if now < not_before {
            return Err(Error::EkCertificateNotYetValid {
                subject: self.subject.clone(),
            });
        }
        if now > not_after {
            return Err(Error::EkCertificateExpired {
                subject: self.subject.clone(),
            });
        }
        Ok(())
    }

    /// Refuses a critical extension this validator does not understand (RFC 5280, 4.2).
    fn check_critical_extensions(&self) -> Result<(), Error> {
        for ext in self.tbs().extensions().into_iter().flatten() {
            let id = ext.extn_id.to_string();
            if ext.critical && !KNOWN_EXTENSIONS.contains(&id.as_str()) {
                return Err(Error::EkChainInvalid {
                    reason: "a certificate has a critical extension this validator does not know",
                });
            }
        }
        Ok(())
    }

    fn basic_constraints(&self) -> Result<Option<BasicConstraints>, Error> {
        self.tbs()
            .get_extension::<BasicConstraints>()
            .map(|e| e.map(|(_, bc)| bc))
            .map_err(|_| Error::Malformed {
                what: "X.509 basicConstraints extension",
            })
    }

    /// May this certificate issue others (`depth` = CA certificates below it on the path)?
    fn check_issuer(&self, depth: usize) -> Result<(), Error> {
        let bc = self.basic_constraints()?;
        let Some(bc) = bc.filter(|bc| bc.ca) else {
            return Err(Error::EkChainInvalid {
                reason: "an intermediate certificate is not a CA (basicConstraints)",
            });
        };
        if bc
            .path_len_constraint
            .is_some_and(|n| depth > usize::from(n))
        {
            return Err(Error::EkChainInvalid {
                reason: "the chain is longer than a CA's pathLenConstraint allows",
            });
        }
        let ku = self
            .tbs()
            .get_extension::<KeyUsage>()
            .map_err(|_| Error::Malformed {
                what: "X.509 keyUsage extension",
            })?;
        if ku.is_some_and(|(_, ku)| !ku.key_cert_sign()) {
            return Err(Error::EkChainInvalid {
                reason: "an issuing certificate's keyUsage does not allow certificate signing",
            });
        }
        Ok(())
    }

    /// Does `self`'s signature verify under `issuer`'s public key?
    fn signed_by(&self, issuer: &Cert) -> Result<(), Error> {
        let alg = self.cert.signature_algorithm();
        if alg != self.tbs().signature() {
            return Err(Error::EkChainInvalid {
                reason: "signature algorithm differs between the certificate and its TBS part",
            });
        }
        let sig = self.cert.signature().as_bytes().ok_or(Error::Malformed {
            what: "X.509 signature (unused bits)",
        })?;
        let spki = issuer.tbs().subject_public_key_info();
        let key_bits = spki.subject_public_key.as_bytes().ok_or(Error::Malformed {
            what: "X.509 public key (unused bits)",
        })?;
        let bad = || Error::EkChainInvalid {
            reason: "a certificate's signature does not verify under its issuer's key",
        };
        let unsupported = Error::EkChainInvalid {
            reason: "unsupported signature algorithm (RSA PKCS#1 v1.5 or ECDSA P-256/P-384, with SHA-256/384/512)",
        };
        if spki.algorithm.oid == OID_RSA_ENCRYPTION {
            let key = rsa::PublicKey::from_pkcs1_der(key_bits).map_err(|_| Error::Malformed {
                what: "RSA public key of an issuing certificate",
            })?;
            if rsa::traits::PublicKeyParts::size(&key) < 256 {
                return Err(Error::EkChainInvalid {
                    reason: "an issuing RSA key is shorter than 2048 bits",
                });
            }
            let sig = rsa::pkcs1v15::Signature::try_from(sig).map_err(|_| bad())?;
            let ok = if alg.oid == OID_SHA256_RSA {
                rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key).verify(&self.tbs, &sig)
            } else if alg.oid == OID_SHA384_RSA {
                rsa::pkcs1v15::VerifyingKey::<sha2::Sha384>::new(key).verify(&self.tbs, &sig)
            } else if alg.oid == OID_SHA512_RSA {
                rsa::pkcs1v15::VerifyingKey::<sha2::Sha512>::new(key).verify(&self.tbs, &sig)
            } else {
                return Err(unsupported);
            };
            return ok.map_err(|_| bad());
        }
        if spki.algorithm.oid != OID_EC_PUBLIC_KEY {
            return Err(unsupported);
        }
        let digest: Vec<u8> = if alg.oid == OID_ECDSA_SHA256 {
            sha2::Sha256::digest(&self.tbs).to_vec()
        } else if alg.oid == OID_ECDSA_SHA384 {
            sha2::Sha384::digest(&self.tbs).to_vec()
        } else if alg.oid == OID_ECDSA_SHA512 {
            sha2::Sha512::digest(&self.tbs).to_vec()
        } else {
            return Err(unsupported);
        };
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<Oid>().ok());
        let bad_key = || Error::Malformed {
            what: "EC public key of an issuing certificate",
        };
        // The digest is truncated to the curve's size as ECDSA specifies (bits2field).
        if curve == Some(OID_SECP256R1) {
            use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
            let key =
                p256::ecdsa::VerifyingKey::from_sec1_bytes(key_bits).map_err(|_| bad_key())?;
            let sig = p256::ecdsa::Signature::from_der(sig).map_err(|_| bad())?;
            return key.verify_prehash(&digest, &sig).map_err(|_| bad());
        }
        if curve == Some(OID_SECP384R1) {
            use p384::ecdsa::signature::hazmat::PrehashVerifier as _;
            let key =
                p384::ecdsa::VerifyingKey::from_sec1_bytes(key_bits).map_err(|_| bad_key())?;
            let sig = p384::ecdsa::Signature::from_der(sig).map_err(|_| bad())?;
            return key.verify_prehash(&digest, &sig).map_err(|_| bad());
        }
        Err(unsupported)
    }
}

/// The `tbsCertificate` TLV inside a certificate's outer SEQUENCE, without decoding it.
fn raw_tbs(der: &[u8]) -> Option<&[u8]> {
    let (outer_header, _) = tlv(der)?;
    let inner = der.get(outer_header..)?;
    let (tbs_header, tbs_len) = tlv(inner)?;
    inner.get(..tbs_header.checked_add(tbs_len)?)
}

/// Header length and content length of a DER SEQUENCE (definite length, at most 4 length octets).
fn tlv(b: &[u8]) -> Option<(usize, usize)> {
    if *b.first()? != 0x30 {
        return None;
    }
    let first = *b.get(1)?;
    if first < 0x80 {
        return Some((2, usize::from(first)));
    }
    let n = usize::from(first & 0x7F);
    if n == 0 || n > 4 {
        return None;
    }
    let len = b
        .get(2..2 + n)?
        .iter()
        .fold(0usize, |acc, x| (acc << 8) | usize::from(*x));
    Some((2 + n, len))
}

/// Manufacturer trust anchors (root certificates) and intermediate CA certificates that EK
/// certificate chains are validated against. Built by the operator from the manufacturers'
/// published certificates (or, in tests, a `swtpm_localca` CA).
#[derive(Clone, Default)]
pub struct EkTrustStore {
    roots: Vec<Cert>,
    intermediates: Vec<Cert>,
}

impl core::fmt::Debug for EkTrustStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("EkTrustStore")
            .field(
                "roots",
                &self.roots.iter().map(|c| &c.subject).collect::<Vec<_>>(),
            )
            .field(
                "intermediates",
                &self
                    .intermediates
                    .iter()
                    .map(|c| &c.subject)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn pem_certs(pem: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    let certs = Certificate::load_pem_chain(pem).map_err(|_| Error::Malformed {
        what: "PEM certificate list",
    })?;
    certs
        .iter()
        .map(|c| {
            c.to_der().map_err(|_| Error::Malformed {
                what: "PEM certificate list",
            })
        })
        .collect()
}

impl EkTrustStore {
    /// An empty store (trusts nothing).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a manufacturer root certificate (DER). Roots are trusted as given: their
    /// signature is not checked, their validity period is.
    pub fn add_root(&mut self, der: &[u8]) -> Result<&mut Self, Error> {
        self.roots.push(Cert::decode(der)?);
        Ok(self)
    }

    /// Adds an intermediate CA certificate (DER): a candidate issuer on the path to a root,
    /// itself checked like every certificate on the path.
    pub fn add_intermediate(&mut self, der: &[u8]) -> Result<&mut Self, Error> {
        self.intermediates.push(Cert::decode(der)?);
        Ok(self)
    }

    /// Adds every certificate of a PEM file as a root; returns how many.
    pub fn add_roots_pem(&mut self, pem: &[u8]) -> Result<usize, Error> {
        let certs = pem_certs(pem)?;
        for c in &certs {
            self.add_root(c)?;
        }
        Ok(certs.len())
    }

    /// Adds every certificate of a PEM file as an intermediate; returns how many.
    pub fn add_intermediates_pem(&mut self, pem: &[u8]) -> Result<usize, Error> {
        let certs = pem_certs(pem)?;
        for c in &certs {
            self.add_intermediate(c)?;
        }
        Ok(certs.len())
    }

    /// Whether no root is configured.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// See [`verify_ek_certificate`].
    pub fn verify(
        &self,
        ek_certificate: &[u8],
        ek_public: &[u8],
        now: SystemTime,
    ) -> Result<VerifiedEkCertificate, Error> {
        verify_ek_certificate(ek_certificate, ek_public, self, now)
    }

    /// Depth-first search for a path from `cert` (whose own checks passed) to a root.
    /// `cas_below` counts the CA certificates between `cert`'s issuer and the EK certificate.
    fn path(
        &self,
        cert: &Cert,
        now: Duration,
        cas_below: usize,
        path: &mut Vec<String>,
    ) -> Result<(), Error> {
        if path.len() >= MAX_EK_CHAIN_DEPTH {
            return Err(Error::EkChainInvalid {
                reason: "no path to a configured root within the maximum chain depth",
            });
        }
        let issuer = cert.tbs().issuer();
        let mut first_error = None;
        for root in self.roots.iter().filter(|r| r.tbs().subject() == issuer) {
            match cert.signed_by(root).and_then(|()| root.check_time(now)) {
                Ok(()) => {
                    path.push(root.subject.clone());
                    return Ok(());
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        for ca in self
            .intermediates
            .iter()
            .filter(|c| c.tbs().subject() == issuer)
        {
            // A self-issued intermediate would loop; roots end a path.
            if ca.tbs().issuer() == ca.tbs().subject() || path.contains(&ca.subject) {
                continue;
            }
            let step = cert
                .signed_by(ca)
                .and_then(|()| ca.check_time(now))
                .and_then(|()| ca.check_issuer(cas_below))
                .and_then(|()| ca.check_critical_extensions());
            match step {
                Ok(()) => {
                    path.push(ca.subject.clone());
                    match self.path(ca, now, cas_below + 1, path) {
                        Ok(()) => return Ok(()),
                        Err(e) => {
                            path.pop();
                            first_error.get_or_insert(e);
                        }
                    }
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or(Error::EkChainInvalid {
            reason: "no configured manufacturer root or intermediate issued this certificate",
        }))
    }
}

/// What a successful [`verify_ek_certificate`] established.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedEkCertificate {
    /// Subjects (RFC 4514 strings) from the EK certificate to the root that anchors it.
    pub chain: Vec<String>,
    /// The EK certificate's `notAfter`.
    pub not_after: SystemTime,
    /// [`crate::ek_fingerprint`] of the EK public area the certificate matched.
    pub ek_fingerprint: [u8; 32],
}

/// Validates an EK certificate (DER) for the endorsement key `ek_public` (a marshalled
/// `TPMT_PUBLIC`) at time `now`, in pure Rust.
///
/// Checks, each with its own error: the certificate decodes ([`Error::Malformed`]); it is
/// valid at `now` ([`Error::EkCertificateExpired`], [`Error::EkCertificateNotYetValid`]);
/// it is not a CA, its extended key usage (if any) allows `tcg-kp-EKCertificate`, and no
/// critical extension is unknown ([`Error::EkChainInvalid`]); its public key is the EK's
/// ([`Error::EkPublicMismatch`]); and a chain of signatures leads through CA certificates of
/// `trust` (each valid at `now`, CA by basicConstraints, keyUsage allowing keyCertSign,
/// pathLenConstraint respected) to one of its roots ([`Error::EkChainInvalid`]).
///
/// Cost: one signature check per certificate on the path (RSA 2048-4096 or P-256), about
/// 0.1-0.5 ms for a swtpm chain.
pub fn verify_ek_certificate(
    ek_certificate: &[u8],
    ek_public: &[u8],
    trust: &EkTrustStore,
    now: SystemTime,
) -> Result<VerifiedEkCertificate, Error> {
    let leaf = Cert::decode(ek_certificate)?;
    let now_unix = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    leaf.check_time(now_unix)?;
    leaf.check_critical_extensions()?;
    if leaf.basic_constraints()?.is_some_and(|bc| bc.ca) {
        return Err(Error::EkChainInvalid {
            reason: "the EK certificate is a CA certificate",
        });
    }
    let eku = leaf
        .tbs()
        .get_extension::<ExtendedKeyUsage>()
        .map_err(|_| Error::Malformed {
            what: "X.509 extKeyUsage extension",
        })?;
    if let Some((_, eku)) = eku
        && !eku
            .0
            .iter()
            .any(|o| *o == OID_TCG_KP_EK_CERTIFICATE || *o == OID_ANY_EKU)
    {
        return Err(Error::EkChainInvalid {
            reason: "the certificate's extended key usage is not tcg-kp-EKCertificate",
        });
    }
    let area = attest::check_ek(ek_public)?;
    check_key_match(&leaf, &area)?;
    if trust.is_empty() {
        return Err(Error::EkChainInvalid {
            reason: "no manufacturer root is configured",
        });
    }
    let mut chain = vec![leaf.subject.clone()];
    trust.path(&leaf, now_unix, 0, &mut chain)?;
    Ok(VerifiedEkCertificate {
        chain,
        not_after: UNIX_EPOCH + leaf.validity().1,
        ek_fingerprint: attest::ek_fingerprint(ek_public),
    })
}

/// The certificate's SubjectPublicKeyInfo must be the EK's public key.
fn check_key_match(leaf: &Cert, ek: &PublicArea) -> Result<(), Error> {
    let spki = leaf.tbs().subject_public_key_info();
    let bits = spki
        .subject_public_key
        .as_bytes()
        .ok_or(Error::EkPublicMismatch)?;
    if let Some(rsa) = &ek.rsa {
        if spki.algorithm.oid != OID_RSA_ENCRYPTION {
            return Err(Error::EkPublicMismatch);
        }
        let key =
            rsa::pkcs1::RsaPublicKeyRef::from_der(bits).map_err(|_| Error::EkPublicMismatch)?;
        let exponent = if rsa.exponent == 0 {
            65537
        } else {
            rsa.exponent
        };
        let cert_e = strip_zeros(key.public_exponent.as_bytes());
        let cert_n = strip_zeros(key.modulus.as_bytes());
        if cert_n != strip_zeros(&rsa.modulus) || cert_e != strip_zeros(&exponent.to_be_bytes()) {
            return Err(Error::EkPublicMismatch);
        }
        return Ok(());
    }
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<Oid>().ok());
    match (&ek.ecc, ek.p256_sec1()) {
        (Some(ecc), Some(point))
            if ecc.curve == ECC_NIST_P256
                && spki.algorithm.oid == OID_EC_PUBLIC_KEY
                && curve == Some(OID_SECP256R1) =>
        {
            let cert_key =
                p256::PublicKey::from_sec1_bytes(bits).map_err(|_| Error::EkPublicMismatch)?;
            let ek_key =
                p256::PublicKey::from_sec1_bytes(&point).map_err(|_| Error::EkPublicMismatch)?;
            if cert_key == ek_key {
                Ok(())
            } else {
                Err(Error::EkPublicMismatch)
            }
        }
        _ => Err(Error::EkPublicMismatch),
    }
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|x| **x == 0).count();
    &b[n..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_tbs_is_bounded() {
        assert_eq!(raw_tbs(&[]), None);
        assert_eq!(
            raw_tbs(&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0x30, 0x00]),
            Some(&[0x30, 0x00][..])
        );
        assert_eq!(raw_tbs(&[0x30, 0x03, 0x30, 0x05, 0x00]), None);
        assert_eq!(raw_tbs(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(raw_tbs(&[0x31, 0x02, 0x30, 0x00]), None);
    }

    #[test]
    fn garbage_is_malformed_not_a_panic() {
        for bytes in [
            &b""[..],
            b"\x30",
            b"\x30\x82\xff\xff",
            &[0x30; 64],
            &[0xFF; 300],
        ] {
            assert!(matches!(Cert::decode(bytes), Err(Error::Malformed { .. })));
        }
    }
}
