//! The signer's state database (`state.redb`): sealed authorization states and profiles, written
//! by one committer thread that groups concurrent writes into one durable transaction.
//!
//! With replication (several instances on NATS), every write is first stored in JetStream KV
//! under the revision the value was read at (compare-and-swap through the bridge), and only then
//! committed here with the revision KV gave it; the local database is this instance's copy, the
//! source of its reads, and never goes back to an older revision.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::SignerError;
use crate::replica::{Entry, PutOutcome, Replica, ReplicaKey};

/// Sealed kms-intent user states, by user id.
const AUTHORIZATION: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("authorization_v1");
/// Sealed user profiles (wallet lists), by user id.
const PROFILE: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("profile_v1");
/// Sealed open challenges (what each one decides), by challenge id (big-endian u64).
const PENDING: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("pending_v1");
/// The JetStream revision of each replicated value, by (table code, key); `(0, 0)` holds the
/// watch position: the highest revision the bridge's watch delivered and this instance applied
/// (the watch delivers in revision order, so everything up to it is here; the catch-up after a
/// restart starts after it).
const REVISION: TableDefinition<'_, (u8, u64), u64> = TableDefinition::new("revision_v1");
/// Most writes one commit takes.
const MAX_BATCH: usize = 1024;

/// A table of the state database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Table {
    /// Sealed authorization states.
    Authorization,
    /// Sealed profiles.
    Profile,
    /// Sealed open challenges.
    Pending,
}

impl Table {
    fn code(self) -> u8 {
        match self {
            Self::Authorization => 1,
            Self::Profile => 2,
            Self::Pending => 3,
        }
    }

    /// The replicated key of `key` in this table.
    pub(crate) fn replica_key(self, key: u64) -> ReplicaKey {
        match self {
            Self::Authorization => ReplicaKey::Authorization(key),
            Self::Profile => ReplicaKey::Profile(key),
            Self::Pending => ReplicaKey::Pending(key),
        }
    }

    fn def(self) -> TableDefinition<'static, u64, &'static [u8]> {
        match self {
            Self::Authorization => AUTHORIZATION,
            Self::Profile => PROFILE,
            Self::Pending => PENDING,
        }
    }
}

struct Job {
    table: Table,
    key: u64,
    value: Vec<u8>,
    /// The JetStream revision of `value` (replicated writes): written only over an older one.
    revision: Option<u64>,
    /// Delivered by the watch, in revision order: advances the watch position.
    watched: bool,
    /// No write: answered once every earlier job is committed.
    flush: bool,
    done: SyncSender<Result<(), String>>,
}

/// How a replicated value reaches the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Applied {
    /// Written by this instance (or read through): durable before the call returns.
    Now,
    /// Delivered by the watch, in revision order: queued ([`StateDb::flush`] waits for it), and
    /// it advances the watch position.
    Watched,
}

/// What a replicated write did.
#[derive(Debug)]
pub(crate) enum Checked {
    /// Stored (in KV and here) at this revision.
    Stored(u64),
    /// Another instance stored a newer value first: nothing was written; that value is applied
    /// here, so the next read sees it.
    Conflict,
}

/// Something that must be durable before a commit (the audit log).
pub(crate) type PreCommit = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

/// The state database with its committer thread.
pub(crate) struct StateDb {
    db: Arc<Database>,
    jobs: Sender<Job>,
    committer: Option<JoinHandle<()>>,
    replica: Option<Arc<Replica>>,
    pre_replicate: Option<PreCommit>,
}

impl StateDb {
    /// Opens (creating) the database and starts the committer. `pre_commit` runs before every
    /// commit (the signer syncs its audit log there); its failure fails the commit.
    pub(crate) fn open(
        path: &Path,
        pre_commit: PreCommit,
        replica: Option<(Arc<Replica>, PreCommit)>,
    ) -> Result<Self, SignerError> {
        let db = Database::create(path).map_err(|e| store("open state.redb", e))?;
        let txn = db.begin_write().map_err(|e| store("begin", e))?;
        {
            txn.open_table(AUTHORIZATION)
                .map_err(|e| store("table", e))?;
            txn.open_table(PROFILE).map_err(|e| store("table", e))?;
            txn.open_table(PENDING).map_err(|e| store("table", e))?;
            txn.open_table(REVISION).map_err(|e| store("table", e))?;
        }
        txn.commit().map_err(|e| store("commit", e))?;
        let db = Arc::new(db);
        let (jobs, rx) = mpsc::channel();
        let db2 = Arc::clone(&db);
        let committer = std::thread::Builder::new()
            .name("kms-commit".into())
            .spawn(move || commit_loop(&db2, &rx, &pre_commit))
            .map_err(|e| SignerError::Startup(format!("committer thread: {e}")))?;
        let (replica, pre_replicate) = match replica {
            Some((r, p)) => (Some(r), Some(p)),
            None => (None, None),
        };
        Ok(Self {
            db,
            jobs,
            committer: Some(committer),
            replica,
            pre_replicate,
        })
    }

    /// Whether writes are replicated (several instances on NATS).
    pub(crate) fn replicated(&self) -> bool {
        self.replica.is_some()
    }

    /// One value with its revision (0 when it was never replicated).
    pub(crate) fn get_revision(
        &self,
        table: Table,
        key: u64,
    ) -> Result<Option<(Vec<u8>, u64)>, SignerError> {
        let txn = self.db.begin_read().map_err(|e| store("begin read", e))?;
        let t = txn.open_table(table.def()).map_err(|e| store("table", e))?;
        let Some(v) = t.get(key).map_err(|e| store("read", e))? else {
            return Ok(None);
        };
        let r = txn.open_table(REVISION).map_err(|e| store("table", e))?;
        let rev = r
            .get((table.code(), key))
            .map_err(|e| store("read", e))?
            .map_or(0, |g| g.value());
        Ok(Some((v.value().to_vec(), rev)))
    }

    /// [`StateDb::get_revision`], asking JetStream KV when this instance has no copy yet (a
    /// record another instance created); what it finds is kept here.
    pub(crate) fn get_checked(
        &self,
        table: Table,
        key: u64,
    ) -> Result<Option<(Vec<u8>, u64)>, SignerError> {
        if let Some(found) = self.get_revision(table, key)? {
            return Ok(Some(found));
        }
        let Some(replica) = &self.replica else {
            return Ok(None);
        };
        let entry = replica
            .get(&table.replica_key(key))
            .map_err(|e| SignerError::Unavailable(e.to_string()))?;
        let Some(entry) = entry else { return Ok(None) };
        self.apply(
            table,
            key,
            entry.value.0.clone(),
            entry.revision,
            Applied::Now,
        )?;
        Ok(Some((entry.value.0, entry.revision)))
    }

    /// Writes `value` durably. Replicated: first to JetStream KV, only over `expected` (the
    /// revision the value was read at; `None`: only where nothing is stored), then here.
    pub(crate) fn put_checked(
        &self,
        table: Table,
        key: u64,
        value: Vec<u8>,
        expected: Option<u64>,
    ) -> Result<Checked, SignerError> {
        let Some(replica) = &self.replica else {
            self.put(table, key, value)?;
            return Ok(Checked::Stored(0));
        };
        // What the audit log says about this change is durable before the change leaves.
        if let Some(sync) = &self.pre_replicate {
            sync().map_err(SignerError::Store)?;
        }
        match replica
            .put(&table.replica_key(key), &value, expected)
            .map_err(|e| SignerError::Unavailable(e.to_string()))?
        {
            PutOutcome::Stored(revision) => {
                self.apply(table, key, value, revision, Applied::Now)?;
                Ok(Checked::Stored(revision))
            }
            PutOutcome::Conflict(current) => {
                if let Some(Entry {
                    value, revision, ..
                }) = current
                {
                    self.apply(table, key, value.0, revision, Applied::Now)?;
                }
                Ok(Checked::Conflict)
            }
        }
    }

    /// Stores a replicated value at `revision` unless a newer one is here already.
    pub(crate) fn apply(
        &self,
        table: Table,
        key: u64,
        value: Vec<u8>,
        revision: u64,
        how: Applied,
    ) -> Result<(), SignerError> {
        let (done, rx) = mpsc::sync_channel(1);
        self.jobs
            .send(Job {
                table,
                key,
                value,
                revision: Some(revision),
                watched: how == Applied::Watched,
                flush: false,
                done,
            })
            .map_err(|_| SignerError::Store("the committer has stopped".into()))?;
        if how == Applied::Now {
            return wait_for(&rx);
        }
        Ok(())
    }

    /// Waits until every write submitted before is durable.
    pub(crate) fn flush(&self) -> Result<(), SignerError> {
        let (done, rx) = mpsc::sync_channel(1);
        self.jobs
            .send(Job {
                table: Table::Authorization,
                key: 0,
                value: Vec::new(),
                revision: None,
                watched: false,
                flush: true,
                done,
            })
            .map_err(|_| SignerError::Store("the committer has stopped".into()))?;
        wait_for(&rx)
    }

    /// The watch position (0: nothing watched yet).
    pub(crate) fn watch_position(&self) -> Result<u64, SignerError> {
        let txn = self.db.begin_read().map_err(|e| store("begin read", e))?;
        let r = txn.open_table(REVISION).map_err(|e| store("table", e))?;
        Ok(r.get((0, 0))
            .map_err(|e| store("read", e))?
            .map_or(0, |g| g.value()))
    }

    /// Every entry of `table`, in key order (start-up only).
    pub(crate) fn scan(&self, table: Table) -> Result<Vec<(u64, Vec<u8>)>, SignerError> {
        let txn = self.db.begin_read().map_err(|e| store("begin read", e))?;
        let t = txn.open_table(table.def()).map_err(|e| store("table", e))?;
        let mut out = Vec::new();
        for entry in t.iter().map_err(|e| store("scan", e))? {
            let (k, v) = entry.map_err(|e| store("scan", e))?;
            out.push((k.value(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Deletes `keys` from `table` in one durable transaction (start-up pruning).
    pub(crate) fn delete(&self, table: Table, keys: &[u64]) -> Result<(), SignerError> {
        if keys.is_empty() {
            return Ok(());
        }
        let txn = self.db.begin_write().map_err(|e| store("begin", e))?;
        {
            let mut t = txn.open_table(table.def()).map_err(|e| store("table", e))?;
            for k in keys {
                t.remove(*k).map_err(|e| store("delete", e))?;
            }
        }
        txn.commit().map_err(|e| store("commit", e))
    }

    /// Writes one value durably: returns once the commit that holds it is on disk (shared with
    /// every write that arrived meanwhile).
    pub(crate) fn put(&self, table: Table, key: u64, value: Vec<u8>) -> Result<(), SignerError> {
        let (done, wait) = mpsc::sync_channel(1);
        self.jobs
            .send(Job {
                table,
                key,
                value,
                revision: None,
                watched: false,
                flush: false,
                done,
            })
            .map_err(|_| SignerError::Store("the committer has stopped".into()))?;
        wait_for(&wait)
    }
}

fn wait_for(rx: &Receiver<Result<(), String>>) -> Result<(), SignerError> {
    match rx.recv() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(SignerError::Store(e)),
        Err(_) => Err(SignerError::Store("the committer has stopped".into())),
    }
}

impl Drop for StateDb {
    fn drop(&mut self) {
        // Closing the channel ends the committer after the batch in progress.
        let (dead, _) = mpsc::channel();
        self.jobs = dead;
        if let Some(h) = self.committer.take() {
            let _ = h.join();
        }
    }
}

fn commit_loop(db: &Database, rx: &Receiver<Job>, pre_commit: &PreCommit) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(j) => batch.push(j),
                Err(_) => break,
            }
        }
        let result = commit(db, &batch, pre_commit);
        for job in batch {
            let _ = job.done.send(result.clone());
        }
    }
}

fn commit(db: &Database, batch: &[Job], pre_commit: &PreCommit) -> Result<(), String> {
    pre_commit()?;
    let mut txn = db.begin_write().map_err(|e| e.to_string())?;
    txn.set_durability(Durability::Immediate)
        .map_err(|e| e.to_string())?;
    {
        let mut revisions = txn.open_table(REVISION).map_err(|e| e.to_string())?;
        let mut highest = revisions
            .get((0, 0))
            .map_err(|e| e.to_string())?
            .map_or(0, |g| g.value());
        let start = highest;
        for job in batch.iter().filter(|j| !j.flush) {
            if let Some(rev) = job.revision {
                if job.watched {
                    highest = highest.max(rev);
                }
                let at = (job.table.code(), job.key);
                let here = revisions
                    .get(at)
                    .map_err(|e| e.to_string())?
                    .map_or(0, |g| g.value());
                if here >= rev {
                    continue; // a newer value is here already
                }
                revisions.insert(at, rev).map_err(|e| e.to_string())?;
            }
            let mut t = txn.open_table(job.table.def()).map_err(|e| e.to_string())?;
            t.insert(job.key, job.value.as_slice())
                .map_err(|e| e.to_string())?;
        }
        if highest > start {
            revisions
                .insert((0, 0), highest)
                .map_err(|e| e.to_string())?;
        }
    }
    txn.commit().map_err(|e| e.to_string())
}

fn store(what: &str, e: impl std::fmt::Display) -> SignerError {
    SignerError::Store(format!("{what}: {e}"))
}
