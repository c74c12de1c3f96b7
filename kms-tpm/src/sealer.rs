//! The [`Sealer`] trait, and the insecure development sealer.

use std::path::{Path, PathBuf};

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::error::Error;
use crate::secret::SecretBytes;
use crate::wire::Reader;

/// Something that seals a secret into a blob only it can unseal.
///
/// [`crate::TpmSealer`] binds the blob to a TPM and a boot state; [`InsecureDevSealer`] is for
/// development only. Blobs are self-describing, versioned byte strings; store them with
/// [`crate::write_blob_file`].
pub trait Sealer {
    /// Seals `secret`, returning the blob bytes.
    fn seal(&mut self, secret: &SecretBytes) -> Result<Vec<u8>, Error>;

    /// Unseals a blob made by [`Sealer::seal`] of the same sealer.
    fn unseal(&mut self, blob: &[u8]) -> Result<SecretBytes, Error>;
}

/// Magic of a development-sealer blob.
pub const DEV_BLOB_MAGIC: [u8; 8] = *b"KMSDEVSB";
/// The current version of the development-sealer blob format.
pub const DEV_BLOB_VERSION: u16 = 1;
const DEV_KEY_LEN: usize = 32;
const DEV_NONCE_LEN: usize = 24;
const MAX_DEV_SECRET: usize = 4096;

/// The warning every [`InsecureDevSealer`] use emits.
pub const DEV_SEALER_WARNING: &str = "WARNING: kms-tpm InsecureDevSealer in use: the sealing key is a plain file on disk; anyone who can read it can unseal. Development only, NEVER in production";

/// **INSECURE** development sealer, for `kms dev` and the demo only: the sealing key is a
/// plain 32-byte file (mode 0600), so anyone who can read that file can unseal every blob.
/// There is no TPM and no boot-state binding.
///
/// It says so on every use: [`InsecureDevSealer::open`], every seal and every unseal emit
/// [`DEV_SEALER_WARNING`] (to standard error unless [`InsecureDevSealer::with_warning_sink`]
/// redirects it). Blobs are XChaCha20-Poly1305 under the file key (see `SPEC.md`).
pub struct InsecureDevSealer {
    key: Zeroizing<[u8; DEV_KEY_LEN]>,
    key_path: PathBuf,
    warn: Box<dyn Fn(&str) + Send + Sync>,
}

/// The name the reference signer's dev mode uses; the same insecure type.
pub type DevSealer = InsecureDevSealer;

impl InsecureDevSealer {
    /// Opens the key file at `key_path`, creating it with a fresh random key (mode 0600) if it
    /// does not exist. Warns on standard error.
    pub fn open(key_path: &Path) -> Result<Self, Error> {
        Self::open_with_sink(key_path, Box::new(|w| eprintln!("{w}")))
    }

    /// Like [`InsecureDevSealer::open`], with warnings sent to `sink` instead of standard error
    /// (a logger, or a test). The warning is still emitted on every use.
    pub fn with_warning_sink(
        key_path: &Path,
        sink: Box<dyn Fn(&str) + Send + Sync>,
    ) -> Result<Self, Error> {
        Self::open_with_sink(key_path, sink)
    }

    fn open_with_sink(
        key_path: &Path,
        warn: Box<dyn Fn(&str) + Send + Sync>,
    ) -> Result<Self, Error> {
        warn(DEV_SEALER_WARNING);
        let mut key = Zeroizing::new([0u8; DEV_KEY_LEN]);
        match std::fs::read(key_path) {
            Ok(bytes) => {
                let bytes = Zeroizing::new(bytes);
                if bytes.len() != DEV_KEY_LEN {
                    return Err(Error::Malformed {
                        what: "development sealer key file (expected 32 bytes)",
                    });
                }
                key.copy_from_slice(&bytes);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                getrandom::fill(key.as_mut()).map_err(|_| Error::Rng)?;
                crate::blob::write_blob_file(key_path, key.as_ref())?;
            }
            Err(e) => {
                return Err(Error::Io {
                    path: key_path.to_path_buf(),
                    source: e,
                });
            }
        }
        Ok(Self {
            key,
            key_path: key_path.to_path_buf(),
            warn,
        })
    }

    fn aad() -> [u8; 10] {
        let mut aad = [0u8; 10];
        aad[..8].copy_from_slice(&DEV_BLOB_MAGIC);
        aad[8..].copy_from_slice(&DEV_BLOB_VERSION.to_be_bytes());
        aad
    }
}

impl Sealer for InsecureDevSealer {
    fn seal(&mut self, secret: &SecretBytes) -> Result<Vec<u8>, Error> {
        (self.warn)(DEV_SEALER_WARNING);
        if secret.len() > MAX_DEV_SECRET {
            return Err(Error::SecretTooLarge {
                len: secret.len(),
                max: MAX_DEV_SECRET,
            });
        }
        let mut nonce = [0u8; DEV_NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| Error::Rng)?;
        let cipher = XChaCha20Poly1305::new_from_slice(self.key.as_ref())
            .map_err(|_| Error::DecryptionFailed)?;
        let aad = Self::aad();
        let ct = cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: secret.expose_secret(),
                    aad: &aad,
                },
            )
            .map_err(|_| Error::DecryptionFailed)?;
        let mut out = aad.to_vec();
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    fn unseal(&mut self, blob: &[u8]) -> Result<SecretBytes, Error> {
        (self.warn)(DEV_SEALER_WARNING);
        let mut r = Reader::new(blob, "development sealer blob");
        if r.array::<8>()? != DEV_BLOB_MAGIC {
            return Err(Error::Malformed {
                what: "development sealer blob (bad magic)",
            });
        }
        let version = r.u16()?;
        if version != DEV_BLOB_VERSION {
            return Err(Error::UnsupportedVersion {
                what: "development sealer blob",
                found: version,
            });
        }
        let nonce = r.array::<DEV_NONCE_LEN>()?;
        let ct = r.bytes(r.remaining())?;
        if ct.len() < 16 || ct.len() > MAX_DEV_SECRET + 16 {
            return Err(Error::Malformed {
                what: "development sealer blob (length)",
            });
        }
        let cipher = XChaCha20Poly1305::new_from_slice(self.key.as_ref())
            .map_err(|_| Error::DecryptionFailed)?;
        let pt = cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: ct,
                    aad: &Self::aad(),
                },
            )
            .map_err(|_| Error::DecryptionFailed)?;
        Ok(SecretBytes::new(Zeroizing::new(pt)))
    }
}

impl core::fmt::Debug for InsecureDevSealer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InsecureDevSealer")
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use subtle::ConstantTimeEq as _;

    use super::*;

    fn counting(dir: &Path) -> (InsecureDevSealer, Arc<AtomicUsize>) {
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = n.clone();
        let s = InsecureDevSealer::with_warning_sink(
            &dir.join("dev.key"),
            Box::new(move |w| {
                assert!(w.contains("NEVER in production"));
                n2.fetch_add(1, Ordering::SeqCst);
            }),
        )
        .unwrap();
        (s, n)
    }

    #[test]
    fn round_trip_across_reopen_and_warns_every_use() {
        let dir = tempfile::tempdir().unwrap();
        let secret = SecretBytes::from_slice(&[7u8; 32]);
        let (mut s, n) = counting(dir.path());
        assert_eq!(n.load(Ordering::SeqCst), 1, "open warns");
        let blob = s.seal(&secret).unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 2, "seal warns");
        drop(s);
        let (mut s, n) = counting(dir.path());
        let back = s.unseal(&blob).unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 2, "open and unseal warn");
        assert!(bool::from(back.ct_eq(&secret)));
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("dev.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn tampered_or_foreign_blob_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = counting(dir.path());
        let blob = s.seal(&SecretBytes::from_slice(b"secret")).unwrap();
        for i in [0, 9, 12, blob.len() - 1] {
            let mut t = blob.clone();
            t[i] ^= 1;
            assert!(s.unseal(&t).is_err(), "flip at {i} accepted");
        }
        assert!(matches!(
            s.unseal(&blob[..20]),
            Err(Error::Malformed { .. })
        ));
        let other = tempfile::tempdir().unwrap();
        let (mut s2, _) = counting(other.path());
        assert!(matches!(s2.unseal(&blob), Err(Error::DecryptionFailed)));
    }

    #[test]
    fn debug_and_errors_do_not_show_key_or_secret() {
        let dir = tempfile::tempdir().unwrap();
        let (mut s, _) = counting(dir.path());
        let key = std::fs::read(dir.path().join("dev.key")).unwrap();
        let secret = SecretBytes::from_slice(&[0x42; 32]);
        let mut blob = s.seal(&secret).unwrap();
        let shown = format!("{s:?} {secret:?}");
        let key_hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            !shown.contains(&key_hex) && !shown.contains(&format!("{:?}", &key[..8])),
            "{shown}"
        );
        assert!(!shown.contains("66, 66, 66"), "{shown}");
        blob[30] ^= 1;
        let err = s.unseal(&blob).unwrap_err();
        assert_eq!(
            format!("{err}"),
            "decryption failed: wrong key or altered data"
        );
    }

    #[test]
    fn bad_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("dev.key"), b"short").unwrap();
        let r = InsecureDevSealer::with_warning_sink(&dir.path().join("dev.key"), Box::new(|_| {}));
        assert!(matches!(r, Err(Error::Malformed { .. })));
    }
}
