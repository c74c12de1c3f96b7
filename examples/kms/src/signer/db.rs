//! The signer's state database (`state.redb`): sealed authorization states and profiles, written
//! by one committer thread that groups concurrent writes into one durable transaction.

use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::JoinHandle;

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};

use super::SignerError;

/// Sealed kms-intent user states, by user id.
const AUTHORIZATION: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("authorization_v1");
/// Sealed user profiles (wallet lists), by user id.
const PROFILE: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("profile_v1");
/// Sealed open challenges (what each one decides), by challenge id (big-endian u64).
const PENDING: TableDefinition<'_, u64, &[u8]> = TableDefinition::new("pending_v1");
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
    done: SyncSender<Result<(), String>>,
}

/// Something that must be durable before a commit (the audit log).
pub(crate) type PreCommit = Box<dyn Fn() -> Result<(), String> + Send>;

/// The state database with its committer thread.
pub(crate) struct StateDb {
    db: Arc<Database>,
    jobs: Sender<Job>,
    committer: Option<JoinHandle<()>>,
}

impl StateDb {
    /// Opens (creating) the database and starts the committer. `pre_commit` runs before every
    /// commit (the signer syncs its audit log there); its failure fails the commit.
    pub(crate) fn open(path: &Path, pre_commit: PreCommit) -> Result<Self, SignerError> {
        let db = Database::create(path).map_err(|e| store("open state.redb", e))?;
        let txn = db.begin_write().map_err(|e| store("begin", e))?;
        {
            txn.open_table(AUTHORIZATION)
                .map_err(|e| store("table", e))?;
            txn.open_table(PROFILE).map_err(|e| store("table", e))?;
            txn.open_table(PENDING).map_err(|e| store("table", e))?;
        }
        txn.commit().map_err(|e| store("commit", e))?;
        let db = Arc::new(db);
        let (jobs, rx) = mpsc::channel();
        let db2 = Arc::clone(&db);
        let committer = std::thread::Builder::new()
            .name("kms-commit".into())
            .spawn(move || commit_loop(&db2, &rx, &pre_commit))
            .map_err(|e| SignerError::Startup(format!("committer thread: {e}")))?;
        Ok(Self {
            db,
            jobs,
            committer: Some(committer),
        })
    }

    /// Reads one value.
    pub(crate) fn get(&self, table: Table, key: u64) -> Result<Option<Vec<u8>>, SignerError> {
        let txn = self.db.begin_read().map_err(|e| store("begin read", e))?;
        let t = txn.open_table(table.def()).map_err(|e| store("table", e))?;
        let v = t.get(key).map_err(|e| store("read", e))?;
        Ok(v.map(|v| v.value().to_vec()))
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
                done,
            })
            .map_err(|_| SignerError::Store("the committer has stopped".into()))?;
        match wait.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(SignerError::Store(e)),
            Err(_) => Err(SignerError::Store("the committer has stopped".into())),
        }
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
        for job in batch {
            let mut t = txn.open_table(job.table.def()).map_err(|e| e.to_string())?;
            t.insert(job.key, job.value.as_slice())
                .map_err(|e| e.to_string())?;
        }
    }
    txn.commit().map_err(|e| e.to_string())
}

fn store(what: &str, e: impl std::fmt::Display) -> SignerError {
    SignerError::Store(format!("{what}: {e}"))
}
