//! The crate's one error type.

use std::fmt;
use std::io;

/// Everything that can go wrong while shielding, using or mutating a secret, or hardening the
/// process. No variant carries secret material: messages name sizes, limits and system errors
/// only, and cryptographic failures are opaque.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A [`ShieldConfig`](crate::ShieldConfig) value is out of range; the message says which
    /// and what is allowed.
    #[error("invalid shield configuration: {0}")]
    InvalidConfig(String),

    /// The secret to shield has no bytes.
    #[error("the secret to shield is empty")]
    EmptySecret,

    /// The secret to shield is longer than [`MAX_SECRET_LEN`](crate::MAX_SECRET_LEN).
    #[error("the secret to shield is {len} bytes; at most {max} bytes can be shielded")]
    SecretTooLong {
        /// Length of the secret that was passed.
        len: usize,
        /// The largest accepted length.
        max: usize,
    },

    /// `mlock` refused to lock the shield's pages in RAM, almost always because
    /// `RLIMIT_MEMLOCK` is too low for an unprivileged process.
    #[error(
        "could not lock {bytes} more bytes of shield memory in RAM (mlock: {source}); \
         RLIMIT_MEMLOCK of this process is {limit}, and every shield of the process counts \
         against it (72 KiB each with the default configuration). Raise it: `ulimit -l unlimited` (or a size in KiB) in the \
         shell that starts the process, `LimitMEMLOCK=infinity` in its systemd unit, a `memlock` \
         line in /etc/security/limits.conf, or grant the process CAP_IPC_LOCK. To run without \
         locking (the pages may then be written to swap), set \
         `ShieldConfig::memory_locking(MemoryLocking::Disabled)`"
    )]
    MemoryLock {
        /// Bytes the failed `mlock` call asked for.
        bytes: usize,
        /// The process's `RLIMIT_MEMLOCK` when the call failed.
        limit: MemlockLimit,
        /// The system error (`EPERM` or `ENOMEM`).
        #[source]
        source: io::Error,
    },

    /// `mmap` could not map the shield's pages.
    #[error("could not map {bytes} bytes for the shield (mmap: {source})")]
    Map {
        /// Bytes asked for.
        bytes: usize,
        /// The system error.
        #[source]
        source: io::Error,
    },

    /// `madvise` rejected an advice the shield depends on (`MADV_DONTDUMP` needs Linux 3.4,
    /// `MADV_WIPEONFORK` Linux 4.14).
    #[error(
        "madvise({advice}) failed on the shield's pages: {source} (Linux 4.14 or later is needed)"
    )]
    Advise {
        /// The advice that failed.
        advice: &'static str,
        /// The system error.
        #[source]
        source: io::Error,
    },

    /// The operating system's random number generator failed.
    #[error("the OS random number generator failed: {0}")]
    Random(getrandom::Error),

    /// The shielded secret could not be recovered: the pages or the sealed secret were changed
    /// behind the shield's back. Deliberately opaque.
    #[error("the shielded secret could not be decrypted (its memory was altered)")]
    DecryptionFailed,

    /// Sealing the secret under a new chain failed (cannot happen for accepted secret lengths).
    #[error("the secret could not be sealed under the page chain")]
    EncryptionFailed,

    /// A link of the page chain points outside the chain, loops, or skips pages: the chain's
    /// memory was altered.
    #[error("the page chain is corrupted (a link points outside the chain or loops)")]
    ChainCorrupted,

    /// A background thread (the mutator or the preparer) could not be started.
    #[error("could not start a background thread of the shield (mutator or preparer): {0}")]
    Thread(#[source] io::Error),

    /// A process-hardening call (`prctl`, `setrlimit`, `getrlimit`) failed.
    #[error("{operation} failed: {source}")]
    Hardening {
        /// The call that failed.
        operation: &'static str,
        /// The system error.
        #[source]
        source: io::Error,
    },
}

/// `RLIMIT_MEMLOCK` as reported in [`Error::MemoryLock`]; `None` means unlimited or unknown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemlockLimit {
    /// The soft limit in bytes (`None`: unlimited or could not be read).
    pub soft: Option<u64>,
    /// The hard limit in bytes (`None`: unlimited or could not be read).
    pub hard: Option<u64>,
}

impl fmt::Display for MemlockLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show =
            |v: Option<u64>| v.map_or_else(|| "unlimited".to_owned(), |b| format!("{b} bytes"));
        write!(f, "{} (hard limit {})", show(self.soft), show(self.hard))
    }
}
