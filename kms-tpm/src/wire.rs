//! Pure-Rust decoding of the few TPM 2.0 structures a verifier needs (TPM 2.0 Library, Part 2):
//! `TPMT_PUBLIC` (ECC, keyed-hash, RSA), `TPMS_ATTEST` (quote and certify), and the byte reader
//! the crate's own formats share. No TPM and no C library is involved, so a verifier can run
//! anywhere, and every decoder is fuzzed.

use sha2::{Digest as _, Sha256};

use crate::error::Error;

/// TPM algorithm identifiers used here (TPM 2.0 Part 2, table "TPM_ALG_ID").
pub(crate) mod alg {
    pub(crate) const RSA: u16 = 0x0001;
    pub(crate) const SHA1: u16 = 0x0004;
    pub(crate) const HMAC: u16 = 0x0005;
    pub(crate) const AES: u16 = 0x0006;
    pub(crate) const KEYEDHASH: u16 = 0x0008;
    pub(crate) const XOR: u16 = 0x000A;
    pub(crate) const SHA256: u16 = 0x000B;
    pub(crate) const SHA384: u16 = 0x000C;
    pub(crate) const SHA512: u16 = 0x000D;
    pub(crate) const NULL: u16 = 0x0010;
    pub(crate) const ECDSA: u16 = 0x0018;
    pub(crate) const ECDAA: u16 = 0x001A;
    pub(crate) const ECC: u16 = 0x0023;
    pub(crate) const CFB: u16 = 0x0043;
}

/// `TPM_ECC_NIST_P256`.
pub(crate) const ECC_NIST_P256: u16 = 0x0003;
/// `TPM_GENERATED_VALUE`: every structure a restricted signing key signs starts with it.
pub(crate) const TPM_GENERATED_VALUE: u32 = 0xFF54_4347;
/// `TPM_ST_ATTEST_CERTIFY`.
pub(crate) const ST_ATTEST_CERTIFY: u16 = 0x8017;
/// `TPM_ST_ATTEST_QUOTE`.
pub(crate) const ST_ATTEST_QUOTE: u16 = 0x8018;
/// `TPM_CC_PolicyPCR`.
pub(crate) const CC_POLICY_PCR: u32 = 0x0000_017F;

/// `TPMA_OBJECT` bits.
pub(crate) mod attr {
    pub(crate) const FIXED_TPM: u32 = 1 << 1;
    pub(crate) const FIXED_PARENT: u32 = 1 << 4;
    pub(crate) const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    pub(crate) const USER_WITH_AUTH: u32 = 1 << 6;
    pub(crate) const RESTRICTED: u32 = 1 << 16;
    pub(crate) const DECRYPT: u32 = 1 << 17;
    pub(crate) const SIGN: u32 = 1 << 18;
}

/// A bounds-checked big-endian reader. Every read fails with [`Error::Malformed`] naming `what`
/// instead of panicking.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], what: &'static str) -> Self {
        Self { buf, what }
    }

    fn err(&self) -> Error {
        Error::Malformed { what: self.what }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.buf.len() < n {
            return Err(self.err());
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], Error> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.array::<1>()?[0])
    }

    pub(crate) fn u16(&mut self) -> Result<u16, Error> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub(crate) fn u32(&mut self) -> Result<u32, Error> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    pub(crate) fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from_be_bytes(self.array()?))
    }

    /// A `TPM2B_*`: a u16 length, then that many bytes, at most `max`.
    pub(crate) fn tpm2b(&mut self, max: usize) -> Result<&'a [u8], Error> {
        let n = usize::from(self.u16()?);
        if n > max {
            return Err(self.err());
        }
        self.bytes(n)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// Fails unless every byte was consumed: trailing bytes are a malformed input, not ignored.
    pub(crate) fn finish(self) -> Result<(), Error> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(self.err())
        }
    }
}

/// Appends a `u16`-length-prefixed byte string.
pub(crate) fn put_tpm2b(out: &mut Vec<u8>, data: &[u8]) -> Result<(), Error> {
    let n = u16::try_from(data.len()).map_err(|_| Error::Malformed {
        what: "field over 65535 bytes",
    })?;
    out.extend_from_slice(&n.to_be_bytes());
    out.extend_from_slice(data);
    Ok(())
}

/// The parts of a decoded `TPMT_PUBLIC` that verifiers check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PublicArea {
    /// The exact marshalled bytes (the name is computed over them).
    pub(crate) bytes: Vec<u8>,
    pub(crate) object_type: u16,
    pub(crate) name_alg: u16,
    pub(crate) attributes: u32,
    pub(crate) auth_policy: Vec<u8>,
    /// For ECC keys: the signing/key-exchange scheme, its hash, the curve and the point.
    pub(crate) ecc: Option<EccParams>,
    /// For RSA keys: the parameters and the modulus.
    pub(crate) rsa: Option<RsaParams>,
}

/// RSA parameters and modulus of a `TPMT_PUBLIC`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RsaParams {
    pub(crate) symmetric: u16,
    pub(crate) scheme: u16,
    pub(crate) key_bits: u16,
    /// The public exponent as marshalled: 0 means the default, 65537.
    pub(crate) exponent: u32,
    pub(crate) modulus: Vec<u8>,
}

/// ECC parameters and public point of a `TPMT_PUBLIC`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EccParams {
    pub(crate) symmetric: u16,
    pub(crate) scheme: u16,
    pub(crate) scheme_hash: u16,
    pub(crate) curve: u16,
    pub(crate) x: Vec<u8>,
    pub(crate) y: Vec<u8>,
}

impl PublicArea {
    /// Decodes a marshalled `TPMT_PUBLIC` (no `TPM2B` size prefix), rejecting trailing bytes.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes, "TPMT_PUBLIC");
        let object_type = r.u16()?;
        let name_alg = r.u16()?;
        if name_alg != alg::SHA256 {
            return Err(Error::Malformed {
                what: "TPMT_PUBLIC name algorithm (only SHA-256)",
            });
        }
        let attributes = r.u32()?;
        let auth_policy = r.tpm2b(64)?.to_vec();
        let mut ecc = None;
        let mut rsa = None;
        match object_type {
            alg::ECC => {
                let symmetric = sym_def_object(&mut r)?;
                let scheme = r.u16()?;
                let mut scheme_hash = alg::NULL;
                if scheme != alg::NULL {
                    scheme_hash = r.u16()?;
                    if scheme == alg::ECDAA {
                        r.u16()?;
                    }
                }
                let curve = r.u16()?;
                let kdf = r.u16()?;
                if kdf != alg::NULL {
                    r.u16()?;
                }
                let x = r.tpm2b(66)?.to_vec();
                let y = r.tpm2b(66)?.to_vec();
                ecc = Some(EccParams {
                    symmetric,
                    scheme,
                    scheme_hash,
                    curve,
                    x,
                    y,
                });
            }
            alg::KEYEDHASH => {
                let scheme = r.u16()?;
                match scheme {
                    alg::NULL => {}
                    alg::HMAC => {
                        r.u16()?;
                    }
                    alg::XOR => {
                        r.u16()?;
                        r.u16()?;
                    }
                    _ => {
                        return Err(Error::Malformed {
                            what: "TPMT_PUBLIC keyed-hash scheme",
                        });
                    }
                }
                r.tpm2b(64)?;
            }
            alg::RSA => {
                let symmetric = sym_def_object(&mut r)?;
                let scheme = r.u16()?;
                if scheme != alg::NULL {
                    r.u16()?;
                }
                let key_bits = r.u16()?;
                let exponent = r.u32()?;
                let modulus = r.tpm2b(512)?.to_vec();
                rsa = Some(RsaParams {
                    symmetric,
                    scheme,
                    key_bits,
                    exponent,
                    modulus,
                });
            }
            _ => {
                return Err(Error::Malformed {
                    what: "TPMT_PUBLIC object type",
                });
            }
        }
        r.finish()?;
        Ok(Self {
            bytes: bytes.to_vec(),
            object_type,
            name_alg,
            attributes,
            auth_policy,
            ecc,
            rsa,
        })
    }

    /// The TPM name of the object: `nameAlg || SHA-256(TPMT_PUBLIC)`.
    pub(crate) fn name(&self) -> Vec<u8> {
        let mut name = alg::SHA256.to_be_bytes().to_vec();
        name.extend_from_slice(&Sha256::digest(&self.bytes));
        name
    }

    pub(crate) fn has(&self, bits: u32) -> bool {
        self.attributes & bits == bits
    }

    /// The SEC1 uncompressed encoding of a P-256 public point, if this is one.
    pub(crate) fn p256_sec1(&self) -> Option<[u8; 65]> {
        let ecc = self.ecc.as_ref()?;
        if ecc.curve != ECC_NIST_P256 || ecc.x.len() > 32 || ecc.y.len() > 32 {
            return None;
        }
        let mut out = [0u8; 65];
        out[0] = 0x04;
        out[1 + 32 - ecc.x.len()..33].copy_from_slice(&ecc.x);
        out[33 + 32 - ecc.y.len()..].copy_from_slice(&ecc.y);
        Some(out)
    }
}

/// `TPMT_SYM_DEF_OBJECT`: returns the algorithm.
fn sym_def_object(r: &mut Reader<'_>) -> Result<u16, Error> {
    let a = r.u16()?;
    if a != alg::NULL {
        r.u16()?; // key bits
        r.u16()?; // mode
    }
    Ok(a)
}

/// A decoded `TPMS_ATTEST`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Attest {
    pub(crate) extra_data: Vec<u8>,
    pub(crate) body: AttestBody,
}

/// The type-specific part of a `TPMS_ATTEST`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum AttestBody {
    /// `TPMS_QUOTE_INFO`: the selection (bank, bitmap) and the digest of the selected PCRs.
    Quote {
        selections: Vec<(u16, u32)>,
        pcr_digest: Vec<u8>,
    },
    /// `TPMS_CERTIFY_INFO`: the certified object's name.
    Certify { name: Vec<u8> },
}

impl Attest {
    /// Decodes a marshalled `TPMS_ATTEST` of type quote or certify, rejecting anything else.
    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes, "TPMS_ATTEST");
        if r.u32()? != TPM_GENERATED_VALUE {
            return Err(Error::Malformed {
                what: "TPMS_ATTEST magic (not TPM-generated)",
            });
        }
        let st = r.u16()?;
        r.tpm2b(68)?; // qualifiedSigner
        let extra_data = r.tpm2b(64)?.to_vec();
        r.u64()?; // clock
        r.u32()?; // resetCount
        r.u32()?; // restartCount
        r.u8()?; // safe
        r.u64()?; // firmwareVersion
        let body = match st {
            ST_ATTEST_QUOTE => {
                let selections = pcr_selection_list(&mut r)?;
                let pcr_digest = r.tpm2b(64)?.to_vec();
                AttestBody::Quote {
                    selections,
                    pcr_digest,
                }
            }
            ST_ATTEST_CERTIFY => {
                let name = r.tpm2b(68)?.to_vec();
                r.tpm2b(68)?; // qualifiedName
                AttestBody::Certify { name }
            }
            _ => {
                return Err(Error::Malformed {
                    what: "TPMS_ATTEST type (not quote or certify)",
                });
            }
        };
        r.finish()?;
        Ok(Self { extra_data, body })
    }
}

/// `TPML_PCR_SELECTION`: (hash algorithm, bitmap of PCRs 0..31) per entry.
pub(crate) fn pcr_selection_list(r: &mut Reader<'_>) -> Result<Vec<(u16, u32)>, Error> {
    let count = r.u32()?;
    if count > 16 {
        return Err(Error::Malformed {
            what: "TPML_PCR_SELECTION count",
        });
    }
    let mut out = Vec::new();
    for _ in 0..count {
        let hash = r.u16()?;
        let size = usize::from(r.u8()?);
        if size > 4 {
            return Err(Error::Malformed {
                what: "TPMS_PCR_SELECTION size",
            });
        }
        let mut mask = 0u32;
        for (i, b) in r.bytes(size)?.iter().enumerate() {
            mask |= u32::from(*b) << (8 * i);
        }
        out.push((hash, mask));
    }
    Ok(out)
}

/// Marshals a one-entry `TPML_PCR_SELECTION` with the 3-octet bitmap TPMs use for 24 PCRs.
pub(crate) fn put_pcr_selection_list(out: &mut Vec<u8>, bank: u16, mask: u32) {
    out.extend_from_slice(&1u32.to_be_bytes());
    out.extend_from_slice(&bank.to_be_bytes());
    out.push(3);
    out.extend_from_slice(&mask.to_le_bytes()[..3]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_rejects_short_and_trailing_input() {
        let mut r = Reader::new(&[0, 5, 1, 2], "test");
        assert!(matches!(
            r.tpm2b(64),
            Err(Error::Malformed { what: "test" })
        ));
        let mut r = Reader::new(&[0, 1, 9, 7], "test");
        assert_eq!(r.tpm2b(64).unwrap(), &[9]);
        assert!(r.finish().is_err());
    }

    #[test]
    fn pcr_selection_round_trips() {
        let mut out = Vec::new();
        put_pcr_selection_list(
            &mut out,
            alg::SHA256,
            (1 << 4) | (1 << 7) | (1 << 11) | (1 << 23),
        );
        let mut r = Reader::new(&out, "sel");
        let sel = pcr_selection_list(&mut r).unwrap();
        r.finish().unwrap();
        assert_eq!(
            sel,
            vec![(alg::SHA256, (1 << 4) | (1 << 7) | (1 << 11) | (1 << 23))]
        );
    }

    #[test]
    fn attest_rejects_wrong_magic() {
        let mut bytes = vec![0xFF, 0x54, 0x43, 0x48];
        bytes.extend_from_slice(&ST_ATTEST_QUOTE.to_be_bytes());
        assert!(matches!(
            Attest::decode(&bytes),
            Err(Error::Malformed { .. })
        ));
    }
}
