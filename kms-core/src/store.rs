//! The `KeyStore` trait and its backends: crash-safe `redb` on disk, and in memory.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Mutex;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use crate::error::{Error, Result};
use crate::record::{RecordLocation, SealedRecord, UserId};
use crate::secret::MasterKey;

/// Storage of sealed records. Every method is atomic: it either happens whole or not at all,
/// and once it returns `Ok` the change survives a crash (for the `redb` backend).
///
/// Records are stored sealed; a store never sees a plaintext key.
pub trait KeyStore: Send + Sync {
    /// Stores `record` at `at` unless a record is already there.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`]; [`Error::Store`] on a backend failure.
    fn create(&self, at: &RecordLocation, record: &SealedRecord) -> Result<()>;

    /// The record at `at`, if any.
    ///
    /// # Errors
    /// [`Error::Store`]; [`Error::MalformedRecord`] when stored bytes are not a record.
    fn get(&self, at: &RecordLocation) -> Result<Option<SealedRecord>>;

    /// Every location of `user`, in key order.
    ///
    /// # Errors
    /// [`Error::Store`].
    fn list_user(&self, user: &UserId) -> Result<Vec<RecordLocation>>;

    /// Replaces the record at `at` with `new` only if it is still `expected`.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::Conflict`] when the record changed, [`Error::Store`].
    fn compare_and_swap(
        &self,
        at: &RecordLocation,
        expected: &SealedRecord,
        new: &SealedRecord,
    ) -> Result<()>;

    /// Deletes the record at `at`; returns whether one was there.
    ///
    /// # Errors
    /// [`Error::Store`].
    fn delete(&self, at: &RecordLocation) -> Result<bool>;

    /// Up to `limit` records in key order strictly after `after` (from the start when `None`),
    /// for batch jobs such as master-key rotation.
    ///
    /// # Errors
    /// [`Error::Store`], [`Error::MalformedRecord`].
    fn scan(
        &self,
        after: Option<&RecordLocation>,
        limit: usize,
    ) -> Result<Vec<(RecordLocation, SealedRecord)>>;
}

/// Progress of a master-key rotation pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RotationProgress {
    /// Records re-sealed under the new key in this pass.
    pub resealed: u64,
    /// Records found already under the new key (from an earlier, interrupted pass).
    pub already_current: u64,
    /// Records changed concurrently during this pass; a later pass picks them up.
    pub conflicts: u64,
}

/// Re-seals every record of `store` from `old` to `new`, `batch` records at a time, each with
/// compare-and-swap so a concurrent update is never lost.
///
/// Interruptible and resumable: each record says its epoch, so a pass after a crash skips the
/// records already moved. Until a pass reports `conflicts == 0`, keep both keys.
///
/// # Errors
/// [`Error::EpochMismatch`] for a record under a third epoch; [`Error::DecryptionFailed`] for a
/// record that does not open under `old`; [`Error::Store`]. Records done before the error stay
/// done.
pub fn rotate_master_key(
    store: &dyn KeyStore,
    old: &MasterKey,
    new: &MasterKey,
    batch: usize,
) -> Result<RotationProgress> {
    let mut progress = RotationProgress::default();
    let mut after: Option<RecordLocation> = None;
    loop {
        let page = store.scan(after.as_ref(), batch.max(1))?;
        let Some((last, _)) = page.last() else {
            return Ok(progress);
        };
        let next_after = last.clone();
        for (at, record) in page {
            if record.epoch() == new.epoch() {
                progress.already_current += 1;
                continue;
            }
            let resealed = record.reseal(old, new, &at)?;
            match store.compare_and_swap(&at, &record, &resealed) {
                Ok(()) => progress.resealed += 1,
                Err(Error::Conflict | Error::NotFound) => progress.conflicts += 1,
                Err(e) => return Err(e),
            }
        }
        after = Some(next_after);
    }
}

fn user_range(user: &UserId) -> (Vec<u8>, Vec<u8>) {
    let mut lo = Vec::with_capacity(user.as_bytes().len() + 6);
    lo.push(user.as_bytes().len() as u8);
    lo.extend_from_slice(user.as_bytes());
    let mut hi = lo.clone();
    lo.extend_from_slice(&[0, 0, 0, 0, 0]);
    hi.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff]);
    (lo, hi)
}

/// An in-memory store (for tests and for callers with their own persistence).
#[derive(Debug, Default)]
pub struct MemoryStore {
    map: Mutex<BTreeMap<Vec<u8>, SealedRecord>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Vec<u8>, SealedRecord>> {
        // A panic while holding the lock cannot leave the map half-updated (every operation is
        // a single insert/remove), so a poisoned lock is safe to keep using.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl KeyStore for MemoryStore {
    fn create(&self, at: &RecordLocation, record: &SealedRecord) -> Result<()> {
        let mut m = self.lock();
        let k = at.store_key();
        if m.contains_key(&k) {
            return Err(Error::AlreadyExists);
        }
        m.insert(k, record.clone());
        Ok(())
    }

    fn get(&self, at: &RecordLocation) -> Result<Option<SealedRecord>> {
        Ok(self.lock().get(&at.store_key()).cloned())
    }

    fn list_user(&self, user: &UserId) -> Result<Vec<RecordLocation>> {
        let (lo, hi) = user_range(user);
        self.lock()
            .range(lo..=hi)
            .map(|(k, _)| RecordLocation::from_store_key(k))
            .collect()
    }

    fn compare_and_swap(
        &self,
        at: &RecordLocation,
        expected: &SealedRecord,
        new: &SealedRecord,
    ) -> Result<()> {
        let mut m = self.lock();
        match m.get_mut(&at.store_key()) {
            None => Err(Error::NotFound),
            Some(cur) if cur != expected => Err(Error::Conflict),
            Some(cur) => {
                *cur = new.clone();
                Ok(())
            }
        }
    }

    fn delete(&self, at: &RecordLocation) -> Result<bool> {
        Ok(self.lock().remove(&at.store_key()).is_some())
    }

    fn scan(
        &self,
        after: Option<&RecordLocation>,
        limit: usize,
    ) -> Result<Vec<(RecordLocation, SealedRecord)>> {
        let m = self.lock();
        let iter: Box<dyn Iterator<Item = (&Vec<u8>, &SealedRecord)>> = match after {
            Some(a) => Box::new(m.range((
                std::ops::Bound::Excluded(a.store_key()),
                std::ops::Bound::Unbounded,
            ))),
            None => Box::new(m.iter()),
        };
        iter.take(limit)
            .map(|(k, v)| Ok((RecordLocation::from_store_key(k)?, v.clone())))
            .collect()
    }
}

/// Runs a redb operation, turning a panic inside redb into an error. redb panics on some
/// corrupted pages; a database file is outside input (whoever owns the disk can edit it), and
/// bad input must give an error, never bring the signer down.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Error::Store(
            "the database file is corrupted (the storage engine could not read it)".into(),
        ))
    })
}

const RECORDS: TableDefinition<'_, &[u8], &[u8]> = TableDefinition::new("kms-core/records/v1");
const META: TableDefinition<'_, &str, u32> = TableDefinition::new("kms-core/meta");
const SCHEMA_VERSION: u32 = 1;

/// The crash-safe on-disk store: one `redb` database file (ACID, copy-on-write B-trees,
/// `fsync` on every commit).
///
/// A write that returned `Ok` survives a crash or power loss; a write that did not return is
/// either fully there or not at all.
pub struct RedbStore {
    db: Database,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

impl RedbStore {
    /// Opens the database at `path`, creating it if absent.
    ///
    /// # Errors
    /// [`Error::Store`] when the file cannot be opened (in use by another process, not a redb
    /// file, or written by a newer schema).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        guarded(|| {
            let db = Database::create(path)?;
            let txn = db.begin_write()?;
            {
                let mut meta = txn.open_table(META)?;
                let existing = meta.get("schema")?.map(|v| v.value());
                match existing {
                    None => {
                        meta.insert("schema", SCHEMA_VERSION)?;
                    }
                    Some(SCHEMA_VERSION) => {}
                    Some(v) => {
                        return Err(Error::Store(format!(
                            "database schema version {v} is not supported (this build reads {SCHEMA_VERSION})"
                        )));
                    }
                }
                txn.open_table(RECORDS)?;
            }
            txn.commit()?;
            Ok(RedbStore { db })
        })
    }

    /// Writes many records in one transaction (bulk import); fails whole if any exists.
    ///
    /// # Errors
    /// [`Error::AlreadyExists`] (nothing written), [`Error::Store`].
    pub fn create_many<'a>(
        &self,
        records: impl IntoIterator<Item = (&'a RecordLocation, &'a SealedRecord)>,
    ) -> Result<()> {
        guarded(|| {
            let txn = self.db.begin_write()?;
            {
                let mut t = txn.open_table(RECORDS)?;
                for (at, rec) in records {
                    let k = at.store_key();
                    if t.get(k.as_slice())?.is_some() {
                        return Err(Error::AlreadyExists);
                    }
                    t.insert(k.as_slice(), rec.as_bytes())?;
                }
            }
            txn.commit()?;
            Ok(())
        })
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&mut redb::Table<'_, &'static [u8], &'static [u8]>) -> Result<T>,
    ) -> Result<T> {
        let mut txn = self.db.begin_write()?;
        txn.set_durability(Durability::Immediate)
            .map_err(|e| Error::Store(e.to_string()))?;
        let out = {
            let mut t = txn.open_table(RECORDS)?;
            f(&mut t)?
        };
        // On an error above, `txn` drops uncommitted: nothing is written.
        txn.commit()?;
        Ok(out)
    }
}

impl KeyStore for RedbStore {
    fn create(&self, at: &RecordLocation, record: &SealedRecord) -> Result<()> {
        guarded(|| {
            let k = at.store_key();
            self.write(|t| {
                if t.get(k.as_slice())?.is_some() {
                    return Err(Error::AlreadyExists);
                }
                t.insert(k.as_slice(), record.as_bytes())?;
                Ok(())
            })
        })
    }

    fn get(&self, at: &RecordLocation) -> Result<Option<SealedRecord>> {
        guarded(|| {
            let txn = self.db.begin_read()?;
            let t = txn.open_table(RECORDS)?;
            let v = t.get(at.store_key().as_slice())?;
            v.map(|v| SealedRecord::from_bytes(v.value())).transpose()
        })
    }

    fn list_user(&self, user: &UserId) -> Result<Vec<RecordLocation>> {
        guarded(|| {
            let (lo, hi) = user_range(user);
            let txn = self.db.begin_read()?;
            let t = txn.open_table(RECORDS)?;
            let mut out = Vec::new();
            for item in t.range(lo.as_slice()..=hi.as_slice())? {
                let (k, _) = item?;
                out.push(RecordLocation::from_store_key(k.value())?);
            }
            Ok(out)
        })
    }

    fn compare_and_swap(
        &self,
        at: &RecordLocation,
        expected: &SealedRecord,
        new: &SealedRecord,
    ) -> Result<()> {
        guarded(|| {
            let k = at.store_key();
            self.write(|t| {
                let same = match t.get(k.as_slice())? {
                    None => return Err(Error::NotFound),
                    Some(cur) => cur.value() == expected.as_bytes(),
                };
                if !same {
                    return Err(Error::Conflict);
                }
                t.insert(k.as_slice(), new.as_bytes())?;
                Ok(())
            })
        })
    }

    fn delete(&self, at: &RecordLocation) -> Result<bool> {
        guarded(|| {
            let k = at.store_key();
            self.write(|t| Ok(t.remove(k.as_slice())?.is_some()))
        })
    }

    fn scan(
        &self,
        after: Option<&RecordLocation>,
        limit: usize,
    ) -> Result<Vec<(RecordLocation, SealedRecord)>> {
        guarded(|| {
            let txn = self.db.begin_read()?;
            let t = txn.open_table(RECORDS)?;
            let start = after.map(RecordLocation::store_key);
            let range = match &start {
                Some(s) => t.range::<&[u8]>((
                    std::ops::Bound::Excluded(s.as_slice()),
                    std::ops::Bound::Unbounded,
                ))?,
                None => t.range::<&[u8]>(..)?,
            };
            let mut out = Vec::new();
            for item in range.take(limit) {
                let (k, v) = item?;
                out.push((
                    RecordLocation::from_store_key(k.value())?,
                    SealedRecord::from_bytes(v.value())?,
                ));
            }
            Ok(out)
        })
    }
}
