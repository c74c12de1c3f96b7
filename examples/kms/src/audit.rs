//! Append-only, hash-chained audit log of every sensitive action of the signer.
//!
//! One JSON object per line (`SPEC.md`, "Audit log", is the normative description):
//!
//! ```text
//! {"v":1,"seq":N,"time":T,"prev":"<64 hex>","event":{"event":"<kind>",...},"hash":"<64 hex>"}
//! ```
//!
//! `hash` is SHA-256 over `"kms audit entry v1" || 0x00 || B`, where `B` is the line without its
//! `,"hash":"<64 hex>"` member (so `B` is itself a JSON object, ending in `}`); `prev` is the
//! previous entry's `hash` (64 zeros for `seq` 1). An entry is accepted only in the exact byte
//! form [`AuditLog`] writes, so every entry has a single encoding.
//!
//! What the chain proves: anyone, without a secret, can check that no entry was altered, inserted,
//! removed or moved *before* the last entry. It cannot show that entries were cut off the end, or
//! that someone with write access rewrote the whole file: anchor [`AuditLog::head`] outside the
//! host (a monitor, a user's receipt) for that.
//!
//! Users appear only as [`AuditKey::user_tag`]s, keyed pseudonyms that need the audit key (and so
//! the master key) to link to a user id.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

/// HKDF-SHA256 `info` deriving the audit key from the master key (no salt).
const AUDIT_KEY_INFO: &[u8] = b"kms reference signer audit key v1";
/// HMAC-SHA256 message prefix of a user tag; the user id follows as 8 big-endian bytes.
const USER_TAG_DOMAIN: &[u8] = b"kms audit user v1";
/// Bytes of the HMAC kept in a user tag (printed as twice as many hex digits).
const USER_TAG_LEN: usize = 16;
/// SHA-256 prefix of an entry hash; a 0x00 byte separates it from the hashed bytes.
const ENTRY_HASH_DOMAIN: &[u8] = b"kms audit entry v1";
/// The beginning of every version 1 line (`"v"` is the first member).
const V1_PREFIX: &[u8] = b"{\"v\":1,";
/// The last member of a line, before its 64 hex digits and the closing `"}`.
const HASH_MEMBER: &[u8] = b",\"hash\":\"";
/// Length of `,"hash":"<64 hex>"}` at the end of a line.
const HASH_TAIL_LEN: usize = HASH_MEMBER.len() + 64 + 2;
/// Longest line, newline included, that is written or accepted.
const MAX_LINE_LEN: usize = 16 * 1024;

/// The secret key of user tags, derived from the master key.
///
/// Whoever holds it can test which user id a tag belongs to, so it is kept like any secret: wiped
/// on drop, never printed (`Debug` shows `AuditKey { .. }`), never cloned.
pub(crate) struct AuditKey(Zeroizing<[u8; 32]>);

impl AuditKey {
    /// Derives the audit key: HKDF-SHA256 over `master_key`, no salt, info
    /// `"kms reference signer audit key v1"`, 32 bytes. Costs four SHA-256 compressions.
    pub(crate) fn derive(master_key: &[u8]) -> Self {
        let (mut prk, hkdf) = Hkdf::<Sha256>::extract(None, master_key);
        prk.as_mut_slice().zeroize();
        let mut key = Zeroizing::new([0u8; 32]);
        // Cannot fail: HKDF-Expand rejects only outputs longer than 255 hash blocks.
        let _ = hkdf.expand(AUDIT_KEY_INFO, key.as_mut_slice());
        Self(key)
    }

    /// The pseudonym of `user_id` in the log: the first 16 bytes of
    /// HMAC-SHA256(key, `"kms audit user v1"` || `user_id` as 8 big-endian bytes), as 32
    /// lowercase hex digits. Stable for a given master key; about 0.5 µs.
    pub(crate) fn user_tag(&self, user_id: u64) -> String {
        // HMAC zero-pads a key shorter than the hash block to the block size (RFC 2104, section 2),
        // so keying with the padded 64-byte block is HMAC under the 32-byte key, without the
        // fallible variable-length constructor.
        let mut block = Zeroizing::new([0u8; 64]);
        block[..32].copy_from_slice(self.0.as_slice());
        let mut mac = <Hmac<Sha256> as KeyInit>::new((&*block).into());
        mac.update(USER_TAG_DOMAIN);
        mac.update(&user_id.to_be_bytes());
        let tag = mac.finalize().into_bytes();
        hex::encode(&tag[..USER_TAG_LEN])
    }
}

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuditKey").finish_non_exhaustive()
    }
}

// The only field is a `Zeroizing`, which wipes the key when the `AuditKey` is dropped.
impl ZeroizeOnDrop for AuditKey {}

/// The SHA-256 hash of an entry, which the next entry names as `prev`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct EntryHash([u8; 32]);

impl EntryHash {
    /// The `prev` of the first entry, and the head of an empty log: 32 zero bytes.
    pub(crate) const GENESIS: Self = Self([0; 32]);

    /// SHA-256(`"kms audit entry v1"` || 0x00 || `parts` concatenated).
    fn of(parts: &[&[u8]]) -> Self {
        let mut h = Sha256::new();
        h.update(ENTRY_HASH_DOMAIN);
        h.update([0u8]);
        for part in parts {
            h.update(part);
        }
        Self(h.finalize().into())
    }
}

impl fmt::Display for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryHash({self})")
    }
}

impl Serialize for EntryHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(self.0))
    }
}

impl<'de> Deserialize<'de> for EntryHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = <&str>::deserialize(d)?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes)
            .map_err(|_| serde::de::Error::custom("hash is not 64 hex digits"))?;
        Ok(Self(bytes))
    }
}

/// A sensitive action, as recorded in the log.
///
/// Every field is public data: user tags ([`AuditKey::user_tag`], never a raw user id),
/// addresses, hashes, ids, counts and reasons written by the signer. Nothing secret — no key,
/// seed, token, TOTP code, passkey secret, recovery code or transaction signature input that is
/// not already public — may ever be put in an event: the log is readable without any key.
///
/// Common fields: `user` is a user tag; `address` a base58 Solana address; `module` the hex
/// SHA-256 of a constraint module; `request` the hex digest of a signing request; `challenge`
/// the hex id of a commit-reveal challenge (never its token); `intent` a standing intent id;
/// `factor` `"totp"`, `"passkey"` or `"recovery"`; `instance` a signer instance id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub(crate) enum AuditEvent {
    /// A user and their seed were created.
    UserCreated { user: String, address: String },
    /// Wallet `index` was derived from the user's seed.
    WalletDerived {
        user: String,
        index: u32,
        address: String,
    },
    /// A legacy key was imported into `slot`.
    KeyImported {
        user: String,
        slot: u32,
        address: String,
    },
    /// A transaction was signed, authorized by `path` (`"intent N"` or `"challenge <id hex>"`).
    SignatureMade {
        user: String,
        module: String,
        request: String,
        path: String,
    },
    /// A signing request was refused, with the signer's reason.
    SignatureDenied {
        user: String,
        module: String,
        request: String,
        reason: String,
    },
    /// A commit-reveal challenge for `request` was sent to the user.
    ChallengeCreated {
        user: String,
        challenge: String,
        request: String,
    },
    /// A challenge was decided: `decision` is `"approved"`, `"rejected"` or `"expired"`.
    ChallengeDecided {
        user: String,
        challenge: String,
        decision: String,
    },
    /// The user authorized a standing intent for `module`.
    IntentCreated {
        user: String,
        intent: u64,
        module: String,
    },
    /// A signature drew `amount` (the module's unit, e.g. lamports) from an intent.
    IntentUsed {
        user: String,
        intent: u64,
        amount: u64,
    },
    /// An intent was revoked.
    IntentRevoked { user: String, intent: u64 },
    /// A second factor was enrolled.
    FactorEnabled { user: String, factor: String },
    /// A second factor was removed.
    FactorDisabled { user: String, factor: String },
    /// A second-factor check failed while authorizing `action`.
    FactorFailed {
        user: String,
        factor: String,
        action: String,
    },
    /// A recovery code was spent to authorize `action`.
    RecoveryCodeUsed { user: String, action: String },
    /// Key material left the signer: `what` names it (`"seed backup"`, `"key slot 3"`), never
    /// contains it.
    Exported { user: String, what: String },
    /// A token mint was added to (`added`) or removed from the user's whitelist.
    WhitelistChanged {
        user: String,
        mint: String,
        added: bool,
    },
    /// This signer instance started and holds the master key.
    SignerStarted { instance: String },
    /// This signer instance stopped cleanly.
    SignerStopped { instance: String },
    /// The master key was handed over to the attested instance `peer`.
    MasterKeySent { instance: String, peer: String },
    /// The master key was received from the attested instance `peer`.
    MasterKeyReceived { instance: String, peer: String },
}

/// The JSON object of an entry without its `hash` member, members in this order.
#[derive(Serialize, Deserialize)]
struct Body<E> {
    v: u32,
    seq: u64,
    time: u64,
    prev: EntryHash,
    event: E,
}

/// When [`AuditLog`] forces entries to stable storage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SyncPolicy {
    /// `fdatasync` after every entry: `append` returns only once the entry is durable.
    EveryEntry,
    /// Entries are durable only after [`AuditLog::sync`], the caller's group-commit point; it
    /// must not act on (or answer) any appended entry before then.
    Batched,
}

/// The position of the log: last sequence number, its hash and the file length after it.
#[derive(Clone, Copy, Debug)]
struct Head {
    seq: u64,
    hash: EntryHash,
    len: u64,
}

/// A sync begun by [`AuditLog::begin_sync`]: a second handle on the file and the head to make
/// durable.
#[derive(Debug)]
pub(crate) struct PendingSync {
    file: File,
    head: Head,
}

impl PendingSync {
    /// `fdatasync` on the duplicated handle (the slow part, run without the log's lock).
    pub(crate) fn run(self) -> SyncOutcome {
        SyncOutcome {
            result: self.file.sync_data(),
            head: self.head,
        }
    }
}

/// What a [`PendingSync`] found; give it to [`AuditLog::finish_sync`].
#[derive(Debug)]
pub(crate) struct SyncOutcome {
    result: io::Result<()>,
    head: Head,
}

/// The writer of an audit log file; the file is locked against other writers while it is open.
#[derive(Debug)]
pub(crate) struct AuditLog {
    file: File,
    path: PathBuf,
    policy: SyncPolicy,
    /// After the last entry written.
    head: Head,
    /// After the last entry known to be on stable storage.
    durable: Head,
    /// A failed sync or roll-back left the file in an unknown state: appends are refused.
    poisoned: bool,
}

impl AuditLog {
    /// Opens the log at `path` for appending, creating it (mode 0600, directory entry synced) if
    /// it does not exist, and takes an exclusive lock on it.
    ///
    /// An existing log is read and verified in full first, one line in memory at a time (about
    /// 4 µs per entry in a release build: 4 s for a million entries), and continued from its
    /// last entry.
    ///
    /// # Errors
    ///
    /// [`AuditError::Broken`] naming the first bad line if the existing chain does not verify
    /// (the signer must then refuse to start), [`AuditError::Locked`] if another writer holds
    /// the log, [`AuditError::NotRegularFile`], or [`AuditError::Io`].
    pub(crate) fn open(path: &Path, policy: SyncPolicy) -> Result<Self, AuditError> {
        let io_err = |op| {
            move |source| AuditError::Io {
                path: path.to_path_buf(),
                op,
                source,
            }
        };
        let mut options = OpenOptions::new();
        options.read(true).append(true).mode(0o600);
        let (file, created) = match options.clone().create_new(true).open(path) {
            Ok(file) => (file, true),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                (options.open(path).map_err(io_err("open"))?, false)
            }
            Err(e) => return Err(io_err("create")(e)),
        };
        if !file.metadata().map_err(io_err("stat"))?.is_file() {
            return Err(AuditError::NotRegularFile {
                path: path.to_path_buf(),
            });
        }
        file.try_lock().map_err(|e| match e {
            TryLockError::WouldBlock => AuditError::Locked {
                path: path.to_path_buf(),
            },
            TryLockError::Error(e) => io_err("lock")(e),
        })?;
        if created {
            let dir = match path.parent() {
                Some(dir) if !dir.as_os_str().is_empty() => dir,
                _ => Path::new("."),
            };
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err("sync directory"))?;
        }
        let scan = scan(BufReader::with_capacity(64 * 1024, &file)).map_err(io_err("read"))?;
        let head = match scan.report {
            VerifyReport::Ok { entries, head } => Head {
                seq: entries,
                hash: head,
                len: scan.len,
            },
            VerifyReport::Broken(problem) => {
                return Err(AuditError::Broken {
                    path: path.to_path_buf(),
                    problem,
                });
            }
        };
        Ok(Self {
            file,
            path: path.to_path_buf(),
            policy,
            head,
            durable: head,
            poisoned: false,
        })
    }

    /// Appends `event` at `time` (seconds since the Unix epoch, from the caller's clock) as the
    /// next entry and returns its hash, the new head.
    ///
    /// The line is written with one `write_all` on the append-mode file, then synced under
    /// [`SyncPolicy::EveryEntry`]. About 3 µs in a release build (JSON encoding, SHA-256 of
    /// about 300 bytes, one `write`), plus an `fdatasync` when syncing every entry.
    ///
    /// # Errors
    ///
    /// On any error the entry is not in the log and the head is unchanged, so the caller must
    /// refuse the action. A failed write is cut off the file again; if that or a sync fails, the
    /// log refuses every later append ([`AuditError::Poisoned`]) until it is reopened.
    /// [`AuditError::TooLarge`] if the line would exceed 16 KiB.
    pub(crate) fn append(
        &mut self,
        time: u64,
        event: &AuditEvent,
    ) -> Result<EntryHash, AuditError> {
        if self.poisoned {
            return Err(self.poisoned_error());
        }
        let Some(seq) = self.head.seq.checked_add(1) else {
            return Err(self.io_error("append", io::Error::other("sequence numbers exhausted")));
        };
        let (line, hash) = encode_line(seq, time, self.head.hash, event)?;
        if let Err(e) = self.file.write_all(&line) {
            return Err(self.write_failed(e));
        }
        self.head = Head {
            seq,
            hash,
            len: self.head.len + line.len() as u64,
        };
        if self.policy == SyncPolicy::EveryEntry {
            self.sync()?;
        }
        Ok(hash)
    }

    /// Makes every appended entry durable (`fdatasync`); does nothing if all already are.
    ///
    /// # Errors
    ///
    /// [`AuditError::Io`] if the sync fails: the entries appended since the last successful sync
    /// are then cut off again and must be treated as refused, the head goes back to that sync,
    /// and the log refuses every later append until it is reopened (after a failed `fdatasync`
    /// the kernel may have dropped the data, and retrying would falsely succeed).
    /// [`AuditError::Poisoned`] after an earlier failure.
    pub(crate) fn sync(&mut self) -> Result<(), AuditError> {
        if self.poisoned {
            return Err(self.poisoned_error());
        }
        if self.head.len == self.durable.len {
            return Ok(());
        }
        match self.file.sync_data() {
            Ok(()) => {
                self.durable = self.head;
                Ok(())
            }
            Err(e) => {
                self.poisoned = true;
                // Best effort: the log is unusable until reopened, which re-verifies it.
                let _ = self.file.set_len(self.durable.len);
                self.head = self.durable;
                Err(self.io_error("sync", e))
            }
        }
    }

    /// Starts a sync that runs without this log borrowed: returns `None` when every entry is
    /// already durable. Run [`PendingSync::run`] outside the caller's lock (appends go on
    /// meanwhile), then hand the result to [`AuditLog::finish_sync`].
    ///
    /// # Errors
    ///
    /// [`AuditError::Poisoned`] after an earlier failure; [`AuditError::Io`] if the file handle
    /// cannot be duplicated.
    pub(crate) fn begin_sync(&self) -> Result<Option<PendingSync>, AuditError> {
        if self.poisoned {
            return Err(self.poisoned_error());
        }
        if self.head.len == self.durable.len {
            return Ok(None);
        }
        let file = self.file.try_clone().map_err(|e| self.io_error("dup", e))?;
        Ok(Some(PendingSync {
            file,
            head: self.head,
        }))
    }

    /// Records the outcome of a [`PendingSync`]: on success every entry up to the head it was
    /// begun at is durable; on failure the log is poisoned exactly as [`AuditLog::sync`] does.
    ///
    /// # Errors
    ///
    /// [`AuditError::Io`] for a failed sync.
    pub(crate) fn finish_sync(&mut self, done: SyncOutcome) -> Result<(), AuditError> {
        match done.result {
            Ok(()) => {
                if done.head.len > self.durable.len {
                    self.durable = done.head;
                }
                Ok(())
            }
            Err(e) => {
                self.poisoned = true;
                let _ = self.file.set_len(self.durable.len);
                self.head = self.durable;
                Err(self.io_error("sync", e))
            }
        }
    }

    /// The sequence number and hash of the last entry written (`(0, EntryHash::GENESIS)` for an
    /// empty log). Under [`SyncPolicy::Batched`] it may not be durable yet.
    pub(crate) fn head(&self) -> (u64, EntryHash) {
        (self.head.seq, self.head.hash)
    }

    /// The last `count` entries, oldest first, as written (without their newlines). Reads at most
    /// the last 4 MiB of the log.
    ///
    /// # Errors
    ///
    /// [`AuditError::Io`] if the file cannot be read.
    pub(crate) fn tail(&self, count: usize) -> Result<Vec<String>, AuditError> {
        use std::os::unix::fs::FileExt as _;
        const WINDOW: u64 = 4 << 20;
        let start = self.head.len.saturating_sub(WINDOW);
        let mut buf = vec![0u8; (self.head.len - start) as usize];
        self.file
            .read_exact_at(&mut buf, start)
            .map_err(|e| self.io_error("read", e))?;
        let mut lines: Vec<String> = buf
            .split(|b| *b == b'\n')
            .skip(usize::from(start > 0))
            .filter(|l| !l.is_empty())
            .map(|l| String::from_utf8_lossy(l).into_owned())
            .collect();
        let skip = lines.len().saturating_sub(count);
        lines.drain(..skip);
        Ok(lines)
    }

    /// Cuts a partly written line off again, so that it cannot sit in front of the next entry;
    /// poisons the log if even that fails.
    fn write_failed(&mut self, source: io::Error) -> AuditError {
        if self.file.set_len(self.head.len).is_err() {
            self.poisoned = true;
        }
        self.io_error("write", source)
    }

    fn io_error(&self, op: &'static str, source: io::Error) -> AuditError {
        AuditError::Io {
            path: self.path.clone(),
            op,
            source,
        }
    }

    fn poisoned_error(&self) -> AuditError {
        AuditError::Poisoned {
            path: self.path.clone(),
        }
    }
}

/// Encodes entry `seq` as its complete line, newline included, and returns it with its hash.
fn encode_line(
    seq: u64,
    time: u64,
    prev: EntryHash,
    event: &AuditEvent,
) -> Result<(Vec<u8>, EntryHash), AuditError> {
    let body = Body {
        v: 1,
        seq,
        time,
        prev,
        event,
    };
    let mut line = serde_json::to_vec(&body).map_err(AuditError::Serialize)?;
    let hash = EntryHash::of(&[&line]);
    // The hash member goes inside the body's closing brace.
    if line.pop() != Some(b'}') {
        return Err(AuditError::Serialize(serde::ser::Error::custom(
            "entry did not encode as a JSON object",
        )));
    }
    line.extend_from_slice(HASH_MEMBER);
    line.extend_from_slice(hex::encode(hash.0).as_bytes());
    line.extend_from_slice(b"\"}\n");
    if line.len() > MAX_LINE_LEN {
        return Err(AuditError::TooLarge { len: line.len() });
    }
    Ok((line, hash))
}

/// The outcome of verifying a log.
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub(crate) enum VerifyReport {
    /// Every line is an intact entry in chain order.
    Ok {
        /// The number of entries, which is also the last sequence number.
        entries: u64,
        /// The hash of the last entry ([`EntryHash::GENESIS`] if there is none).
        head: EntryHash,
    },
    /// The first problem found; nothing after it was checked.
    Broken(Problem),
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Ok { entries, head } => {
                write!(f, "audit log OK: {entries} entries, head {head}")
            }
            Self::Broken(problem) => write!(f, "audit log BROKEN at {problem}"),
        }
    }
}

/// Where a log stops verifying, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    /// The line, counted from 1 (entry `seq` N belongs on line N).
    pub(crate) line: u64,
    /// The sequence number the line claims, if it can be read (unauthenticated when the hash
    /// does not match).
    pub(crate) seq: Option<u64>,
    /// What is wrong.
    pub(crate) kind: ProblemKind,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}", self.line)?;
        if let Some(seq) = self.seq {
            write!(f, " (seq {seq})")?;
        }
        write!(f, ": {}", self.kind)
    }
}

/// The kind of a [`Problem`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum ProblemKind {
    /// Not a version 1 entry in its exact written form: not JSON, a missing or extra member,
    /// another version, another encoding of the same values, or a line longer than 16 KiB.
    Malformed(&'static str),
    /// The entry's bytes do not hash to its `hash`: it was altered.
    HashMismatch,
    /// `prev` is not the hash of the entry on the line before: that entry or this one was
    /// replaced by a re-hashed one.
    BrokenLink,
    /// The line holds another sequence number than `expected`, and the entry that belongs here
    /// comes later in the file (or this one came before): entries were moved or replayed.
    Reordered {
        /// The sequence number that belongs on this line.
        expected: u64,
    },
    /// Entries `first..=last` are not in the file.
    Missing {
        /// The first missing sequence number.
        first: u64,
        /// The last missing sequence number.
        last: u64,
    },
    /// The last line has no newline: an append was interrupted (a crash, a full disk) or the
    /// file was cut.
    TruncatedLine,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(why) => write!(f, "malformed entry ({why})"),
            Self::HashMismatch => f.write_str("entry altered (hash mismatch)"),
            Self::BrokenLink => {
                f.write_str("chain broken (prev is not the hash of the entry before)")
            }
            Self::Reordered { expected } => {
                write!(f, "entries out of order (seq {expected} belongs here)")
            }
            Self::Missing { first, last } if first == last => {
                write!(f, "entry missing (seq {first})")
            }
            Self::Missing { first, last } => write!(f, "entries missing (seq {first} to {last})"),
            Self::TruncatedLine => f.write_str("last line truncated (no newline)"),
        }
    }
}

/// Verifies the log file at `path`, reading it line by line (memory: one line).
///
/// # Errors
///
/// [`AuditError::Io`] if the file cannot be read, [`AuditError::NotRegularFile`]. A log that
/// does not verify is an `Ok` [`VerifyReport::Broken`].
pub(crate) fn verify_file(path: &Path) -> Result<VerifyReport, AuditError> {
    let io_err = |op| {
        move |source| AuditError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    };
    // Checked before opening so that a FIFO does not block the open.
    if !std::fs::metadata(path).map_err(io_err("stat"))?.is_file() {
        return Err(AuditError::NotRegularFile {
            path: path.to_path_buf(),
        });
    }
    let file = File::open(path).map_err(io_err("open"))?;
    let scan = scan(BufReader::with_capacity(64 * 1024, file)).map_err(io_err("read"))?;
    Ok(scan.report)
}

/// Verifies a log held in memory, with the same rules as [`verify_file`]. Used by the tests and
/// by the `kms_audit_log` fuzz target, which compiles this module from its source.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn verify_bytes(log: &[u8]) -> VerifyReport {
    match scan(log) {
        Ok(scan) => scan.report,
        // Reading a byte slice cannot fail; fail closed all the same.
        Err(_) => VerifyReport::Broken(Problem {
            line: 1,
            seq: None,
            kind: ProblemKind::Malformed("unreadable"),
        }),
    }
}

/// A verified log: the report and the length of the verified lines.
struct Scan {
    report: VerifyReport,
    len: u64,
}

/// An entry whose line is intact (hash matches, exact written form).
struct Entry {
    seq: u64,
    prev: EntryHash,
    hash: EntryHash,
}

enum Line {
    /// A line of this many bytes, newline included; the buffer holds it without the newline.
    Complete(usize),
    /// The input ended before a newline.
    Unterminated,
    /// No newline in the first `MAX_LINE_LEN` bytes.
    TooLong,
    /// The input ended.
    End,
}

fn read_line(r: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<Line> {
    buf.clear();
    let n = r.take(MAX_LINE_LEN as u64).read_until(b'\n', buf)?;
    Ok(if n == 0 {
        Line::End
    } else if buf.last() == Some(&b'\n') {
        buf.pop();
        Line::Complete(n)
    } else if n == MAX_LINE_LEN {
        Line::TooLong
    } else {
        Line::Unterminated
    })
}

/// Checks every line in order and stops at the first problem.
///
/// Entry N must be on line N, so the expected sequence number is the line number.
fn scan(mut r: impl BufRead) -> io::Result<Scan> {
    let mut buf = Vec::with_capacity(512);
    let (mut line, mut head, mut len) = (0u64, EntryHash::GENESIS, 0u64);
    loop {
        let (entry, n) = match read_line(&mut r, &mut buf)? {
            Line::End => {
                let report = VerifyReport::Ok {
                    entries: line,
                    head,
                };
                return Ok(Scan { report, len });
            }
            Line::Complete(n) => (parse_line(&buf), n),
            Line::Unterminated => (Err(ProblemKind::TruncatedLine), 0),
            Line::TooLong => (Err(ProblemKind::Malformed("line longer than 16 KiB")), 0),
        };
        line += 1;
        let kind = match entry {
            Ok(entry) if entry.seq == line && entry.prev == head => {
                head = entry.hash;
                len += n as u64;
                continue;
            }
            Ok(entry) if entry.seq == line => ProblemKind::BrokenLink,
            Ok(entry) if entry.seq < line => ProblemKind::Reordered { expected: line },
            Ok(entry) => {
                if skipped_entry_follows(&mut r, line, entry.seq)? {
                    ProblemKind::Reordered { expected: line }
                } else {
                    ProblemKind::Missing {
                        first: line,
                        last: entry.seq - 1,
                    }
                }
            }
            Err(kind) => kind,
        };
        let problem = Problem {
            line,
            seq: claimed_seq(&buf),
            kind,
        };
        return Ok(Scan {
            report: VerifyReport::Broken(problem),
            len,
        });
    }
}

/// After a line claiming `found` where `first` was expected: does a later intact entry hold one
/// of `first..found`? Then entries were moved rather than removed.
fn skipped_entry_follows(r: &mut impl BufRead, first: u64, found: u64) -> io::Result<bool> {
    let mut later = Vec::with_capacity(512);
    while let Line::Complete(_) = read_line(r, &mut later)? {
        if parse_line(&later).is_ok_and(|e| (first..found).contains(&e.seq)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Checks one line (without its newline) on its own: hash first, then the exact written form.
fn parse_line(line: &[u8]) -> Result<Entry, ProblemKind> {
    let no_hash = ProblemKind::Malformed("no hash member at the end of the line");
    let Some(split) = line.len().checked_sub(HASH_TAIL_LEN) else {
        return Err(no_hash);
    };
    let (front, tail) = line.split_at(split);
    let digits = &tail[HASH_MEMBER.len()..HASH_MEMBER.len() + 64];
    if !tail.starts_with(HASH_MEMBER)
        || !tail.ends_with(b"\"}")
        || !digits
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(no_hash);
    }
    let mut stated = [0u8; 32];
    hex::decode_to_slice(digits, &mut stated).map_err(|_| no_hash)?;
    let hash = EntryHash::of(&[front, b"}"]);
    if hash.0 != stated {
        return Err(ProblemKind::HashMismatch);
    }
    if !front.starts_with(V1_PREFIX) {
        return Err(ProblemKind::Malformed("not a version 1 entry"));
    }
    let mut body = Vec::with_capacity(front.len() + 1);
    body.extend_from_slice(front);
    body.push(b'}');
    let parsed: Body<AuditEvent> = serde_json::from_slice(&body)
        .map_err(|_| ProblemKind::Malformed("not a valid entry or unknown event"))?;
    // One encoding per entry: the bytes must be exactly what `encode_line` writes.
    if serde_json::to_vec(&parsed).ok().as_deref() != Some(body.as_slice()) {
        return Err(ProblemKind::Malformed("not in the exact written form"));
    }
    Ok(Entry {
        seq: parsed.seq,
        prev: parsed.prev,
        hash,
    })
}

/// The sequence number a line claims, read from its canonical beginning `{"v":1,"seq":N,`.
fn claimed_seq(line: &[u8]) -> Option<u64> {
    let rest = line.strip_prefix(V1_PREFIX)?.strip_prefix(b"\"seq\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// Why the audit log cannot be opened, written or read. Messages name the file and the entry,
/// never a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum AuditError {
    /// A file operation failed.
    #[error("audit log {}: {op} failed: {source}", path.display())]
    Io {
        /// The log file.
        path: PathBuf,
        /// The operation: `"open"`, `"write"`, `"sync"`, ...
        op: &'static str,
        /// The operating system's error.
        source: io::Error,
    },
    /// The existing log does not verify: it must be inspected before the signer may start.
    #[error(
        "audit log {} BROKEN at {problem}; it will not be extended until an operator has \
         inspected it",
        path.display()
    )]
    Broken {
        /// The log file.
        path: PathBuf,
        /// The first problem.
        problem: Problem,
    },
    /// Another process (or another `AuditLog`) holds the log's lock.
    #[error("audit log {} is locked by another writer", path.display())]
    Locked {
        /// The log file.
        path: PathBuf,
    },
    /// The path is a directory, device or other non-regular file.
    #[error("audit log {} is not a regular file", path.display())]
    NotRegularFile {
        /// The path.
        path: PathBuf,
    },
    /// An earlier write or sync failure left the log unusable; reopen it to re-verify.
    #[error(
        "audit log {} refuses appends after an earlier write or sync failure; reopen it",
        path.display()
    )]
    Poisoned {
        /// The log file.
        path: PathBuf,
    },
    /// The entry's line would be longer than the 16 KiB limit.
    #[error(
        "audit entry of {len} bytes exceeds the limit of {} bytes",
        MAX_LINE_LEN
    )]
    TooLarge {
        /// The line's length, newline included.
        len: usize,
    },
    /// The entry could not be encoded as JSON.
    #[error("audit entry could not be encoded: {0}")]
    Serialize(#[source] serde_json::Error),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Vectors computed with Python's `hashlib` and `hmac` (an independent implementation) from
    /// the definitions in SPEC.md, master key 00 01 .. 1f.
    const MASTER: [u8; 32] = {
        let mut m = [0u8; 32];
        let mut i = 0;
        while i < 32 {
            m[i] = i as u8;
            i += 1;
        }
        m
    };
    const KEY: &str = "f91ca622dddc760a1a0ae7885e28cd4df421493d5349b12706d2088276ba4ab9";
    const TAG_42: &str = "49dff6f7144f70652d09ca7b606c88d4";
    const TAG_7: &str = "2fe33e1727e00c9640b46cd7da089b31";
    const VECTOR_LOG: &str = concat!(
        r#"{"v":1,"seq":1,"time":1700000000,"prev":"0000000000000000000000000000000000000000000000000000000000000000","event":{"event":"user_created","user":"49dff6f7144f70652d09ca7b606c88d4","address":"11111111111111111111111111111111"},"hash":"f5ae5a34bd74678c5b6da2bd9d08b6092f8a708c8aa682a9a7122e8f6e0ef26f"}"#,
        "\n",
        r#"{"v":1,"seq":2,"time":1700000001,"prev":"f5ae5a34bd74678c5b6da2bd9d08b6092f8a708c8aa682a9a7122e8f6e0ef26f","event":{"event":"signer_started","instance":"test"},"hash":"b80f24e65688f24f6ab98edb40bec57c8a8b8e23cbf1e856dfac4715859d2245"}"#,
        "\n",
    );
    const VECTOR_HEAD: &str = "b80f24e65688f24f6ab98edb40bec57c8a8b8e23cbf1e856dfac4715859d2245";

    fn events(key: &AuditKey) -> Vec<AuditEvent> {
        let user = key.user_tag(42);
        vec![
            AuditEvent::SignerStarted {
                instance: "i-1".into(),
            },
            AuditEvent::UserCreated {
                user: user.clone(),
                address: "9xQeWvG816bUx9EPjHmaT23yvVM2ZWbrrpZb9PusVFin".into(),
            },
            AuditEvent::SignatureMade {
                user: user.clone(),
                module: "ab".repeat(32),
                request: "cd".repeat(32),
                path: "intent 3".into(),
            },
            AuditEvent::SignatureDenied {
                user: user.clone(),
                module: "ab".repeat(32),
                request: "ef".repeat(32),
                reason: "output \"to\" a stranger\n".into(),
            },
            AuditEvent::WhitelistChanged {
                user,
                mint: "So11111111111111111111111111111111111111112".into(),
                added: true,
            },
        ]
    }

    /// A log of `events` in a fresh directory; returns the directory, path and file bytes.
    fn sample_log() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut log = AuditLog::open(&path, SyncPolicy::EveryEntry).unwrap();
        for (i, e) in events(&AuditKey::derive(&MASTER)).iter().enumerate() {
            log.append(1_700_000_000 + i as u64, e).unwrap();
        }
        let bytes = std::fs::read(&path).unwrap();
        (dir, path, bytes)
    }

    fn lines(bytes: &[u8]) -> Vec<Vec<u8>> {
        bytes
            .split_inclusive(|b| *b == b'\n')
            .map(<[u8]>::to_vec)
            .collect()
    }

    fn broken(report: VerifyReport) -> Problem {
        match report {
            VerifyReport::Broken(p) => p,
            VerifyReport::Ok { .. } => panic!("expected a broken log"),
        }
    }

    #[test]
    fn key_and_tags_match_independent_vectors() {
        let key = AuditKey::derive(&MASTER);
        assert_eq!(hex::encode(key.0.as_slice()), KEY);
        assert_eq!(key.user_tag(42), TAG_42);
        assert_eq!(key.user_tag(7), TAG_7);
        // The padded-block keying equals HMAC's variable-length key constructor.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key.0.as_slice()).unwrap();
        mac.update(USER_TAG_DOMAIN);
        mac.update(&42u64.to_be_bytes());
        assert_eq!(hex::encode(&mac.finalize().into_bytes()[..16]), TAG_42);
    }

    #[test]
    fn writer_produces_the_vector_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut log = AuditLog::open(&path, SyncPolicy::Batched).unwrap();
        let key = AuditKey::derive(&MASTER);
        let e1 = AuditEvent::UserCreated {
            user: key.user_tag(42),
            address: "11111111111111111111111111111111".into(),
        };
        let e2 = AuditEvent::SignerStarted {
            instance: "test".into(),
        };
        log.append(1_700_000_000, &e1).unwrap();
        let head = log.append(1_700_000_001, &e2).unwrap();
        log.sync().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), VECTOR_LOG);
        assert_eq!(head.to_string(), VECTOR_HEAD);
        assert_eq!(log.head(), (2, head));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn append_then_verify_round_trips() {
        let (_dir, path, bytes) = sample_log();
        let report = verify_file(&path).unwrap();
        let VerifyReport::Ok { entries, head } = report else {
            panic!("{report}")
        };
        assert_eq!(entries, 5);
        let last = lines(&bytes).pop().unwrap();
        assert!(String::from_utf8(last).unwrap().contains(&head.to_string()));
        assert_eq!(verify_bytes(&bytes), report);
        assert_eq!(
            report.to_string(),
            format!("audit log OK: 5 entries, head {head}")
        );
        assert_eq!(
            verify_bytes(b""),
            VerifyReport::Ok {
                entries: 0,
                head: EntryHash::GENESIS
            }
        );
    }

    #[test]
    fn every_event_kind_round_trips() {
        // The wire names of the events not in `events`, as the SPEC lists them.
        let json = [
            r#"{"event":"wallet_derived","user":"u","index":1,"address":"a"}"#,
            r#"{"event":"key_imported","user":"u","slot":2,"address":"a"}"#,
            r#"{"event":"challenge_created","user":"u","challenge":"c","request":"r"}"#,
            r#"{"event":"challenge_decided","user":"u","challenge":"c","decision":"approved"}"#,
            r#"{"event":"intent_created","user":"u","intent":9,"module":"m"}"#,
            r#"{"event":"intent_used","user":"u","intent":9,"amount":18446744073709551615}"#,
            r#"{"event":"intent_revoked","user":"u","intent":9}"#,
            r#"{"event":"factor_enabled","user":"u","factor":"totp"}"#,
            r#"{"event":"factor_disabled","user":"u","factor":"passkey"}"#,
            r#"{"event":"factor_failed","user":"u","factor":"totp","action":"export"}"#,
            r#"{"event":"recovery_code_used","user":"u","action":"withdraw"}"#,
            r#"{"event":"exported","user":"u","what":"seed backup"}"#,
            r#"{"event":"signer_stopped","instance":"i"}"#,
            r#"{"event":"master_key_sent","instance":"i","peer":"j"}"#,
            r#"{"event":"master_key_received","instance":"j","peer":"i"}"#,
        ];
        let mut bytes = Vec::new();
        let mut prev = EntryHash::GENESIS;
        for (seq, text) in (1..).zip(json) {
            let event: AuditEvent = serde_json::from_str(text).unwrap();
            assert_eq!(serde_json::to_string(&event).unwrap(), text);
            let (line, hash) = encode_line(seq, 0, prev, &event).unwrap();
            bytes.extend_from_slice(&line);
            prev = hash;
        }
        let report = verify_bytes(&bytes);
        assert_eq!(
            report,
            VerifyReport::Ok {
                entries: 15,
                head: prev
            }
        );
    }

    #[test]
    fn reopen_continues_the_chain() {
        let (_dir, path, _) = sample_log();
        let mut log = AuditLog::open(&path, SyncPolicy::EveryEntry).unwrap();
        let (seq, old_head) = log.head();
        assert_eq!(seq, 5);
        let event = AuditEvent::SignerStopped {
            instance: "i-1".into(),
        };
        let new_head = log.append(1_800_000_000, &event).unwrap();
        assert_eq!(log.head(), (6, new_head));
        drop(log);
        let last = lines(&std::fs::read(&path).unwrap()).pop().unwrap();
        let last = String::from_utf8(last).unwrap();
        assert!(last.starts_with(&format!(
            r#"{{"v":1,"seq":6,"time":1800000000,"prev":"{old_head}""#
        )));
        assert_eq!(
            verify_file(&path).unwrap(),
            VerifyReport::Ok {
                entries: 6,
                head: new_head
            }
        );
    }

    #[test]
    fn a_second_writer_is_locked_out() {
        let (_dir, path, _) = sample_log();
        let _first = AuditLog::open(&path, SyncPolicy::EveryEntry).unwrap();
        let second = AuditLog::open(&path, SyncPolicy::EveryEntry);
        assert!(
            matches!(second, Err(AuditError::Locked { .. })),
            "{second:?}"
        );
    }

    #[test]
    fn any_flipped_byte_is_reported_at_its_entry() {
        let (_dir, _, bytes) = sample_log();
        let mut line_of = Vec::new();
        for (i, l) in lines(&bytes).iter().enumerate() {
            line_of.extend(std::iter::repeat_n(i as u64 + 1, l.len()));
        }
        for pos in 0..bytes.len() {
            for mask in [0x01, 0x20, 0x80] {
                let mut altered = bytes.clone();
                altered[pos] ^= mask;
                let problem = broken(verify_bytes(&altered));
                assert_eq!(
                    problem.line, line_of[pos],
                    "byte {pos} ^ {mask:#x}: {problem}"
                );
            }
        }
    }

    #[test]
    fn flips_in_event_prev_and_seq_are_hash_mismatches() {
        let (_dir, path, bytes) = sample_log();
        let all = lines(&bytes);
        for k in [1usize, 3, 5] {
            let line = String::from_utf8(all[k - 1].clone()).unwrap();
            let start: usize = all[..k - 1].iter().map(Vec::len).sum();
            let at = |needle: &str| start + line.find(needle).unwrap() + needle.len();
            for pos in [
                at(r#""event":{"event":""#) + 2,
                at(r#""prev":""#) + 7,
                at(r#""seq":"#),
            ] {
                let mut altered = bytes.clone();
                altered[pos] ^= 0x01;
                let problem = broken(verify_bytes(&altered));
                assert_eq!(problem.line, k as u64);
                assert_eq!(problem.kind, ProblemKind::HashMismatch, "{problem}");
                std::fs::write(&path, &altered).unwrap();
                assert_eq!(broken(verify_file(&path).unwrap()), problem);
                match AuditLog::open(&path, SyncPolicy::EveryEntry) {
                    Err(AuditError::Broken { problem: p, .. }) => assert_eq!(p, problem),
                    other => panic!("opened an altered log: {other:?}"),
                }
            }
        }
        let mut altered = bytes.clone();
        let pos = all[0].len() + all[1].len();
        let pos = pos + String::from_utf8_lossy(&all[2]).find("intent 3").unwrap();
        altered[pos] = b'I';
        assert_eq!(
            verify_bytes(&altered).to_string(),
            "audit log BROKEN at line 3 (seq 3): entry altered (hash mismatch)"
        );
    }

    /// Re-encodes line `k` (1-based) of `bytes` after `edit` changed its body, with a fresh hash.
    fn rehash(bytes: &[u8], k: usize, edit: impl Fn(&str) -> String) -> Vec<u8> {
        let mut all = lines(bytes);
        let text = String::from_utf8(all[k - 1].clone()).unwrap();
        let front = edit(&text[..text.len() - 1 - HASH_TAIL_LEN]);
        let hash = EntryHash::of(&[front.as_bytes(), b"}"]);
        all[k - 1] = format!("{front},\"hash\":\"{hash}\"}}\n").into_bytes();
        all.concat()
    }

    #[test]
    fn a_rehashed_forgery_breaks_the_link_after_it() {
        let (_dir, _, bytes) = sample_log();
        let forged = rehash(&bytes, 3, |f| f.replace("intent 3", "intent 4"));
        let problem = broken(verify_bytes(&forged));
        assert_eq!((problem.line, problem.seq), (4, Some(4)));
        assert_eq!(problem.kind, ProblemKind::BrokenLink);
        // A re-hashed first entry must still start from the genesis hash.
        let forged = rehash(&bytes, 1, |f| f.replace(&"0".repeat(64), &"1".repeat(64)));
        assert_eq!(broken(verify_bytes(&forged)).kind, ProblemKind::BrokenLink);
    }

    #[test]
    fn only_the_exact_written_form_is_accepted() {
        let (_dir, _, bytes) = sample_log();
        type Edit = fn(&str) -> String;
        let cases: [(&str, Edit); 4] = [
            ("space", |f| f.replacen(",\"seq\"", ", \"seq\"", 1)),
            ("version", |f| f.replacen("{\"v\":1", "{\"v\":2", 1)),
            ("extra member", |f| format!("{f},\"x\":1")),
            ("unknown event", |f| {
                f.replacen("signer_started", "signer_paused", 1)
            }),
        ];
        for (name, edit) in cases {
            let problem = broken(verify_bytes(&rehash(&bytes, 1, edit)));
            assert_eq!(problem.line, 1, "{name}");
            assert!(
                matches!(problem.kind, ProblemKind::Malformed(_)),
                "{name}: {problem}"
            );
        }
    }

    #[test]
    fn a_deleted_line_is_reported_missing() {
        let (_dir, path, bytes) = sample_log();
        let mut all = lines(&bytes);
        all.remove(2);
        std::fs::write(&path, all.concat()).unwrap();
        let problem = broken(verify_file(&path).unwrap());
        assert_eq!(problem.line, 3);
        assert_eq!(problem.seq, Some(4));
        assert_eq!(problem.kind, ProblemKind::Missing { first: 3, last: 3 });
        assert_eq!(problem.to_string(), "line 3 (seq 4): entry missing (seq 3)");
        let mut all = lines(&bytes);
        all.drain(0..2);
        let problem = broken(verify_bytes(&all.concat()));
        assert_eq!(problem.kind, ProblemKind::Missing { first: 1, last: 2 });
    }

    #[test]
    fn swapped_or_replayed_lines_are_reported_reordered() {
        let (_dir, _, bytes) = sample_log();
        let mut all = lines(&bytes);
        all.swap(1, 2);
        let problem = broken(verify_bytes(&all.concat()));
        assert_eq!((problem.line, problem.seq), (2, Some(3)));
        assert_eq!(problem.kind, ProblemKind::Reordered { expected: 2 });
        let mut all = lines(&bytes);
        let replayed = all[1].clone();
        all.insert(3, replayed);
        let problem = broken(verify_bytes(&all.concat()));
        assert_eq!((problem.line, problem.seq), (4, Some(2)));
        assert_eq!(problem.kind, ProblemKind::Reordered { expected: 4 });
    }

    #[test]
    fn a_truncated_last_line_is_reported() {
        let (_dir, path, bytes) = sample_log();
        for cut in [1, 40, 200] {
            std::fs::write(&path, &bytes[..bytes.len() - cut]).unwrap();
            let problem = broken(verify_file(&path).unwrap());
            assert_eq!((problem.line, problem.seq), (5, Some(5)));
            assert_eq!(problem.kind, ProblemKind::TruncatedLine);
            let opened = AuditLog::open(&path, SyncPolicy::EveryEntry);
            assert!(
                matches!(opened, Err(AuditError::Broken { .. })),
                "{opened:?}"
            );
        }
    }

    #[test]
    fn an_overlong_line_is_malformed() {
        let mut bytes = vec![b'{'; MAX_LINE_LEN + 10];
        bytes.push(b'\n');
        let problem = broken(verify_bytes(&bytes));
        assert_eq!(problem.line, 1);
        assert!(matches!(problem.kind, ProblemKind::Malformed(_)));
        let dir = tempfile::tempdir().unwrap();
        let mut log = AuditLog::open(&dir.path().join("a.log"), SyncPolicy::EveryEntry).unwrap();
        let huge = AuditEvent::Exported {
            user: String::new(),
            what: "x".repeat(MAX_LINE_LEN),
        };
        assert!(matches!(
            log.append(0, &huge),
            Err(AuditError::TooLarge { .. })
        ));
        assert_eq!(log.head(), (0, EntryHash::GENESIS));
    }

    #[test]
    fn unusable_paths_are_refused_even_for_root() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain");
        std::fs::write(&file, b"").unwrap();
        let under_file = AuditLog::open(&file.join("audit.log"), SyncPolicy::EveryEntry);
        assert!(
            matches!(under_file, Err(AuditError::Io { .. })),
            "{under_file:?}"
        );
        let is_dir = AuditLog::open(dir.path(), SyncPolicy::EveryEntry);
        assert!(is_dir.is_err(), "{is_dir:?}");
        let device = AuditLog::open(Path::new("/dev/full"), SyncPolicy::EveryEntry);
        assert!(
            matches!(device, Err(AuditError::NotRegularFile { .. })),
            "{device:?}"
        );
        assert!(matches!(
            verify_file(Path::new("/dev/full")),
            Err(AuditError::NotRegularFile { .. })
        ));
    }

    #[test]
    fn a_failed_write_leaves_head_and_file_unchanged() {
        let (_dir, path, bytes) = sample_log();
        let mut log = AuditLog::open(&path, SyncPolicy::EveryEntry).unwrap();
        let before = log.head();
        // /dev/full fails every write with ENOSPC, even for root; it cannot be truncated either,
        // so the log must also refuse later appends.
        log.file = OpenOptions::new().append(true).open("/dev/full").unwrap();
        let event = AuditEvent::SignerStopped {
            instance: "i".into(),
        };
        let err = log.append(1, &event).unwrap_err();
        assert!(matches!(err, AuditError::Io { op: "write", .. }), "{err:?}");
        assert!(err.to_string().contains("audit.log"), "{err}");
        assert_eq!(log.head(), before);
        assert!(matches!(
            log.append(2, &event),
            Err(AuditError::Poisoned { .. })
        ));
        assert!(matches!(log.sync(), Err(AuditError::Poisoned { .. })));
        assert_eq!(log.head(), before);
        drop(log);
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn a_partial_write_is_cut_off_before_the_next_entry() {
        let (_dir, path, _) = sample_log();
        let mut log = AuditLog::open(&path, SyncPolicy::Batched).unwrap();
        let before = log.head();
        // A write that got part of the line out before failing, as `append` sees it.
        let event = AuditEvent::SignerStopped {
            instance: "i".into(),
        };
        let (line, _) = encode_line(6, 1, before.1, &event).unwrap();
        (&log.file).write_all(&line[..50]).unwrap();
        let err = log.write_failed(io::Error::other("injected"));
        assert!(matches!(err, AuditError::Io { op: "write", .. }), "{err:?}");
        assert!(!log.poisoned);
        assert_eq!(log.head(), before);
        assert_eq!(std::fs::read(&path).unwrap().len() as u64, log.head.len);
        let next = log.append(2, &event).unwrap();
        log.sync().unwrap();
        assert_eq!(
            verify_file(&path).unwrap(),
            VerifyReport::Ok {
                entries: 6,
                head: next
            }
        );
    }

    #[test]
    fn the_raw_user_id_never_reaches_the_file_and_tags_are_keyed() {
        let user_id: u64 = 987_654_321_012_345;
        let key = AuditKey::derive(&MASTER);
        let other = AuditKey::derive(b"another master key");
        let tag = key.user_tag(user_id);
        assert_eq!(tag, AuditKey::derive(&MASTER).user_tag(user_id));
        assert_ne!(tag, key.user_tag(user_id + 1));
        assert_ne!(tag, other.user_tag(user_id));
        assert_eq!(tag.len(), 32);
        assert!(tag.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut log = AuditLog::open(&path, SyncPolicy::EveryEntry).unwrap();
        let event = AuditEvent::UserCreated {
            user: tag.clone(),
            address: "addr".into(),
        };
        log.append(1, &event).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(&tag));
        assert!(!text.contains(&user_id.to_string()));
        assert!(!text.contains(&hex::encode(user_id.to_be_bytes())));
    }

    #[test]
    fn audit_key_debug_shows_no_bytes() {
        let key = AuditKey::derive(&MASTER);
        let debug = format!("{key:?}");
        assert_eq!(debug, "AuditKey { .. }");
        assert!(!debug.contains(&hex::encode(key.0.as_slice())));
        fn wipes_on_drop<T: ZeroizeOnDrop>() {}
        wipes_on_drop::<AuditKey>();
    }
}
