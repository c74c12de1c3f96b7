//! The versioned sealed-blob file format (see `SPEC.md`, "Sealed blob") and crash-safe blob files.

use std::io::Write as _;
use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::error::Error;
use crate::pcr::{PcrBank, PcrSelection, PcrValues};
use crate::wire::{self, PublicArea, Reader, alg, attr};

/// Magic of a TPM sealed blob.
pub const SEALED_BLOB_MAGIC: [u8; 8] = *b"KMSTPMSB";
/// The current (and only) version of the TPM sealed blob format.
pub const SEALED_BLOB_VERSION: u16 = 1;
/// Largest blob file this crate reads.
pub const MAX_BLOB_FILE: usize = 16 * 1024;

/// A secret sealed by a TPM to PCR values: the TPM's public and private parts of the sealed
/// data object and the PCR values of its policy. Useless without the TPM that made it, and
/// without that TPM being in the sealed boot state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedBlob {
    pub(crate) values: PcrValues,
    pub(crate) public: Vec<u8>,
    pub(crate) private: Vec<u8>,
}

impl SealedBlob {
    /// The PCR values the secret is sealed to.
    pub fn pcr_values(&self) -> &PcrValues {
        &self.values
    }

    /// Encodes the blob in the versioned file format.
    pub fn to_bytes(&self) -> Result<Vec<u8>, Error> {
        let sel = self.values.selection();
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&SEALED_BLOB_MAGIC);
        out.extend_from_slice(&SEALED_BLOB_VERSION.to_be_bytes());
        out.extend_from_slice(&sel.bank().alg_id().to_be_bytes());
        out.extend_from_slice(&sel.mask().to_be_bytes());
        for v in self.values.values() {
            out.extend_from_slice(v);
        }
        wire::put_tpm2b(&mut out, &self.public)?;
        wire::put_tpm2b(&mut out, &self.private)?;
        let check = Sha256::digest(&out);
        out.extend_from_slice(&check);
        Ok(out)
    }

    /// Decodes and checks a blob: magic, version, checksum, a sealed data object that is bound
    /// to this TPM and authorized by policy only, and whose policy is exactly the PolicyPCR of
    /// the recorded PCR values (so a [`Error::PolicyMismatch`] names the right PCRs).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        const WHAT: &str = "sealed blob";
        if bytes.len() > MAX_BLOB_FILE {
            return Err(Error::Malformed {
                what: "sealed blob (too large)",
            });
        }
        let mut r = Reader::new(bytes, WHAT);
        if r.array::<8>()? != SEALED_BLOB_MAGIC {
            return Err(Error::Malformed {
                what: "sealed blob (bad magic: not a kms-tpm sealed blob)",
            });
        }
        let version = r.u16()?;
        if version != SEALED_BLOB_VERSION {
            return Err(Error::UnsupportedVersion {
                what: WHAT,
                found: version,
            });
        }
        if bytes.len() < 32 {
            return Err(Error::Malformed { what: WHAT });
        }
        let (body, check) = bytes.split_at(bytes.len() - 32);
        if Sha256::digest(body).as_slice() != check {
            return Err(Error::Malformed {
                what: "sealed blob (checksum: truncated or corrupted)",
            });
        }
        let mut r = Reader::new(&body[10..], WHAT);
        let bank = PcrBank::from_alg_id(r.u16()?).ok_or(Error::Malformed {
            what: "sealed blob PCR bank",
        })?;
        let selection = PcrSelection::from_mask(bank, r.u32()?)?;
        let mut values = Vec::new();
        for _ in selection.pcrs() {
            values.push(r.bytes(bank.digest_len())?.to_vec());
        }
        let values = PcrValues::new(selection, values)?;
        let public = r.tpm2b(1024)?.to_vec();
        let private = r.tpm2b(1024)?.to_vec();
        r.finish()?;

        let area = PublicArea::decode(&public)?;
        if area.object_type != alg::KEYEDHASH {
            return Err(Error::Malformed {
                what: "sealed blob (object is not a sealed data object)",
            });
        }
        if !area.has(attr::FIXED_TPM | attr::FIXED_PARENT) || area.has(attr::USER_WITH_AUTH) {
            return Err(Error::Malformed {
                what: "sealed blob (object is not TPM-bound and policy-only)",
            });
        }
        if area.auth_policy != values.policy_digest() {
            return Err(Error::Malformed {
                what: "sealed blob (policy does not match its PCR values)",
            });
        }
        Ok(Self {
            values,
            public,
            private,
        })
    }
}

/// Writes a blob file crash-safely: a temporary file in the same directory, fsync, rename over
/// `path`, fsync of the directory. A crash leaves either the old file or the new one, never a
/// partial one. The file is created with mode 0600.
pub fn write_blob_file(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    use std::os::unix::fs::OpenOptionsExt as _;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path.file_name().ok_or(Error::Malformed {
        what: "blob file path (no file name)",
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(file_name);
    tmp_name.push(format!(".tmp{}", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(Error::io(&tmp))?;
        f.write_all(bytes).map_err(Error::io(&tmp))?;
        f.sync_all().map_err(Error::io(&tmp))?;
        std::fs::rename(&tmp, path).map_err(Error::io(path))?;
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(Error::io(dir))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Reads a blob file of at most [`MAX_BLOB_FILE`] bytes.
pub fn read_blob_file(path: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read as _;
    let f = std::fs::File::open(path).map_err(Error::io(path))?;
    let mut out = Vec::new();
    f.take(MAX_BLOB_FILE as u64 + 1)
        .read_to_end(&mut out)
        .map_err(Error::io(path))?;
    if out.len() > MAX_BLOB_FILE {
        return Err(Error::Malformed {
            what: "blob file (too large)",
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_garbage_and_other_versions() {
        assert!(matches!(
            SealedBlob::from_bytes(b""),
            Err(Error::Malformed { .. })
        ));
        assert!(matches!(
            SealedBlob::from_bytes(b"KMSDEVSB\0\x01"),
            Err(Error::Malformed { .. })
        ));
        let mut v2 = SEALED_BLOB_MAGIC.to_vec();
        v2.extend_from_slice(&2u16.to_be_bytes());
        v2.extend_from_slice(&[0; 40]);
        assert!(matches!(
            SealedBlob::from_bytes(&v2),
            Err(Error::UnsupportedVersion { found: 2, .. })
        ));
    }

    #[test]
    fn blob_file_round_trip_and_no_leftovers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("master.sealed");
        write_blob_file(&p, b"first").unwrap();
        write_blob_file(&p, b"second").unwrap();
        assert_eq!(read_blob_file(&p).unwrap(), b"second");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "temporary files left behind: {names:?}");
    }
}
