//! PCR selections, PCR values, and the PolicyPCR digest a sealed object is bound to.

use core::fmt;
use core::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::error::Error;
use crate::wire::{self, alg};

/// A PCR bank (the hash algorithm of a set of PCRs).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PcrBank {
    /// SHA-1 PCRs (legacy; only for old firmware that does not extend SHA-256).
    Sha1,
    /// SHA-256 PCRs: the default.
    Sha256,
    /// SHA-384 PCRs.
    Sha384,
    /// SHA-512 PCRs.
    Sha512,
}

impl PcrBank {
    /// The TPM algorithm identifier (`TPM_ALG_ID`).
    pub fn alg_id(self) -> u16 {
        match self {
            Self::Sha1 => alg::SHA1,
            Self::Sha256 => alg::SHA256,
            Self::Sha384 => alg::SHA384,
            Self::Sha512 => alg::SHA512,
        }
    }

    /// The bank for a `TPM_ALG_ID`, if supported.
    pub fn from_alg_id(id: u16) -> Option<Self> {
        match id {
            alg::SHA1 => Some(Self::Sha1),
            alg::SHA256 => Some(Self::Sha256),
            alg::SHA384 => Some(Self::Sha384),
            alg::SHA512 => Some(Self::Sha512),
            _ => None,
        }
    }

    /// The size of one PCR value in this bank.
    pub fn digest_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    pub(crate) fn hashing_algorithm(
        self,
    ) -> tss_esapi::interface_types::algorithm::HashingAlgorithm {
        use tss_esapi::interface_types::algorithm::HashingAlgorithm as H;
        match self {
            Self::Sha1 => H::Sha1,
            Self::Sha256 => H::Sha256,
            Self::Sha384 => H::Sha384,
            Self::Sha512 => H::Sha512,
        }
    }
}

impl fmt::Display for PcrBank {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        })
    }
}

/// The number of PCRs a PC-client TPM has (0..=23).
pub const PCR_COUNT: u8 = 24;

/// A non-empty set of PCRs (0..=23) in one bank.
///
/// The default, [`PcrSelection::measured_boot`], is `sha256:4,7,11`: for a single-binary image
/// (a unified kernel image that contains the signer) booted by UEFI, PCR 4 holds the hash of the
/// image itself (every build changes it), PCR 7 the Secure Boot state and the keys that verified
/// the image, PCR 11 the image's sections as measured by its stub (kernel, initrd, command
/// line). Firmware PCRs 0–3 are left out so a cloud provider's firmware update does not lock the
/// key away; add them with [`PcrSelection::new`] where the firmware is yours.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PcrSelection {
    bank: PcrBank,
    mask: u32,
}

impl PcrSelection {
    /// A selection of `pcrs` (each 0..=23, at least one) in `bank`.
    pub fn new(bank: PcrBank, pcrs: &[u8]) -> Result<Self, Error> {
        let mut mask = 0u32;
        for &p in pcrs {
            if p >= PCR_COUNT {
                return Err(Error::InvalidPcrSelection {
                    reason: "PCR index above 23",
                });
            }
            mask |= 1 << p;
        }
        Self::from_mask(bank, mask)
    }

    /// The default selection for a measured boot of a single-binary image: `sha256:4,7,11`
    /// (see the type's documentation).
    pub fn measured_boot() -> Self {
        Self {
            bank: PcrBank::Sha256,
            mask: (1 << 4) | (1 << 7) | (1 << 11),
        }
    }

    pub(crate) fn from_mask(bank: PcrBank, mask: u32) -> Result<Self, Error> {
        if mask == 0 {
            return Err(Error::InvalidPcrSelection {
                reason: "no PCR selected",
            });
        }
        if mask >> PCR_COUNT != 0 {
            return Err(Error::InvalidPcrSelection {
                reason: "PCR index above 23",
            });
        }
        Ok(Self { bank, mask })
    }

    /// The bank.
    pub fn bank(&self) -> PcrBank {
        self.bank
    }

    /// The bitmap: bit `i` set when PCR `i` is selected.
    pub fn mask(&self) -> u32 {
        self.mask
    }

    /// The selected PCR indices, ascending (the order TPMs hash them in).
    pub fn pcrs(&self) -> Vec<u8> {
        (0..PCR_COUNT)
            .filter(|i| self.mask & (1 << i) != 0)
            .collect()
    }

    pub(crate) fn tss(&self) -> Result<tss_esapi::structures::PcrSelectionList, Error> {
        use tss_esapi::structures::{PcrSelectionList, PcrSlot};
        let slots = self
            .pcrs()
            .into_iter()
            .map(|i| PcrSlot::try_from(1u32 << i))
            .collect::<Result<Vec<_>, _>>()
            .map_err(Error::tpm("PCR selection"))?;
        PcrSelectionList::builder()
            .with_selection(self.bank.hashing_algorithm(), &slots)
            .build()
            .map_err(Error::tpm("PCR selection"))
    }
}

impl Default for PcrSelection {
    fn default() -> Self {
        Self::measured_boot()
    }
}

impl fmt::Display for PcrSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pcrs: Vec<String> = self.pcrs().iter().map(u8::to_string).collect();
        write!(f, "{}:{}", self.bank, pcrs.join(","))
    }
}

impl FromStr for PcrSelection {
    type Err = Error;

    /// Parses `sha256:4,7,11` (the `tpm2-tools` notation for one bank).
    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = Error::InvalidPcrSelection {
            reason: "expected BANK:N,N,... e.g. sha256:4,7,11",
        };
        let (bank, list) = s.split_once(':').ok_or(bad)?;
        let bank = match bank {
            "sha1" => PcrBank::Sha1,
            "sha256" => PcrBank::Sha256,
            "sha384" => PcrBank::Sha384,
            "sha512" => PcrBank::Sha512,
            _ => {
                return Err(Error::InvalidPcrSelection {
                    reason: "unknown bank (sha1, sha256, sha384, sha512)",
                });
            }
        };
        let pcrs = list
            .split(',')
            .map(|p| p.trim().parse::<u8>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| Error::InvalidPcrSelection {
                reason: "PCR index is not a number",
            })?;
        Self::new(bank, &pcrs)
    }
}

/// The values of the PCRs of one selection, one digest per selected PCR in ascending order.
#[derive(Clone, PartialEq, Eq)]
pub struct PcrValues {
    selection: PcrSelection,
    values: Vec<Vec<u8>>,
}

impl PcrValues {
    /// Values for `selection`, one per selected PCR in ascending index order, each of the bank's
    /// digest length.
    pub fn new(selection: PcrSelection, values: Vec<Vec<u8>>) -> Result<Self, Error> {
        if values.len() != selection.pcrs().len() {
            return Err(Error::InvalidPcrSelection {
                reason: "one value per selected PCR needed",
            });
        }
        if values
            .iter()
            .any(|v| v.len() != selection.bank().digest_len())
        {
            return Err(Error::InvalidPcrSelection {
                reason: "PCR value length does not match the bank",
            });
        }
        Ok(Self { selection, values })
    }

    /// The selection these values are for.
    pub fn selection(&self) -> PcrSelection {
        self.selection
    }

    /// `(index, value)` pairs in ascending index order.
    pub fn iter(&self) -> impl Iterator<Item = (u8, &[u8])> {
        self.selection
            .pcrs()
            .into_iter()
            .zip(self.values.iter().map(Vec::as_slice))
    }

    /// The value of PCR `index`, if selected.
    pub fn get(&self, index: u8) -> Option<&[u8]> {
        self.iter().find(|(i, _)| *i == index).map(|(_, v)| v)
    }

    /// The indices whose values differ between `self` and `other` (same selection assumed; a
    /// PCR missing in `other` counts as differing).
    pub fn differing(&self, other: &PcrValues) -> Vec<u8> {
        self.iter()
            .filter(|(i, v)| other.get(*i) != Some(*v))
            .map(|(i, _)| i)
            .collect()
    }

    /// SHA-256 of the concatenated values: the `pcrDigest` of PolicyPCR and of a SHA-256 quote.
    pub fn composite_digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        for v in &self.values {
            h.update(v);
        }
        h.finalize().into()
    }

    /// The SHA-256 policy digest of `TPM2_PolicyPCR(selection, composite_digest)` from an empty
    /// policy: `SHA-256(0^32 || TPM_CC_PolicyPCR || TPML_PCR_SELECTION || pcrDigest)`.
    pub fn policy_digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update([0u8; 32]);
        h.update(wire::CC_POLICY_PCR.to_be_bytes());
        let mut sel = Vec::with_capacity(10);
        wire::put_pcr_selection_list(
            &mut sel,
            self.selection.bank().alg_id(),
            self.selection.mask(),
        );
        h.update(&sel);
        h.update(self.composite_digest());
        h.finalize().into()
    }

    pub(crate) fn values(&self) -> &[Vec<u8>] {
        &self.values
    }
}

impl fmt::Debug for PcrValues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut m = f.debug_map();
        for (i, v) in self.iter() {
            m.entry(
                &format_args!("{}:{i}", self.selection.bank()),
                &format_args!("{}", hex(v)),
            );
        }
        m.finish()
    }
}

/// Lower-case hex (PCR values and fingerprints are public).
pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_selection() {
        let s: PcrSelection = "sha256:11,4,7".parse().unwrap();
        assert_eq!(s, PcrSelection::measured_boot());
        assert_eq!(s.to_string(), "sha256:4,7,11");
        assert!("sha256:24".parse::<PcrSelection>().is_err());
        assert!("md5:1".parse::<PcrSelection>().is_err());
        assert!("sha256".parse::<PcrSelection>().is_err());
        assert!(PcrSelection::new(PcrBank::Sha256, &[]).is_err());
    }

    #[test]
    fn values_must_match_selection() {
        let s = PcrSelection::new(PcrBank::Sha256, &[1, 2]).unwrap();
        assert!(PcrValues::new(s, vec![vec![0; 32]]).is_err());
        assert!(PcrValues::new(s, vec![vec![0; 32], vec![0; 20]]).is_err());
        let v = PcrValues::new(s, vec![vec![0; 32], vec![1; 32]]).unwrap();
        assert_eq!(v.get(2), Some(&[1u8; 32][..]));
        let w = PcrValues::new(s, vec![vec![0; 32], vec![2; 32]]).unwrap();
        assert_eq!(v.differing(&w), vec![2]);
    }
}
