//! The key store as the signer uses it: kms-core's redb store, and with replication (several
//! instances on NATS) JetStream KV behind it. Key records are written once and never change
//! here (no rotation in the reference signer), so creation is create-only in KV (two instances
//! creating the same record: one wins, the other gets `AlreadyExists`) and a record missing here
//! is read through from KV and kept.

use std::sync::Arc;

use kms_core::{KeyStore, RecordLocation, RedbStore, SealedRecord, UserId};

use super::db::PreCommit;
use crate::replica::{PutOutcome, Replica, ReplicaKey};

/// kms-core's store, replicated when a replica is given.
pub(crate) struct SignerKeys {
    local: RedbStore,
    replica: Option<(Arc<Replica>, PreCommit)>,
}

impl SignerKeys {
    pub(crate) fn new(local: RedbStore, replica: Option<(Arc<Replica>, PreCommit)>) -> Self {
        Self { local, replica }
    }

    /// Keeps a record another instance created (delivered by the watch).
    pub(crate) fn apply_remote(&self, store_key: &[u8], bytes: &[u8]) -> kms_core::Result<()> {
        let at = RecordLocation::from_store_key(store_key)?;
        let record = SealedRecord::from_bytes(bytes)?;
        match self.local.create(&at, &record) {
            Ok(()) | Err(kms_core::Error::AlreadyExists) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Replication that did not answer: kms-core's retryable error.
fn unavailable(e: crate::replica::ReplicaError) -> kms_core::Error {
    match e {
        crate::replica::ReplicaError::Unavailable(m) => {
            kms_core::Error::Unavailable(format!("replication: {m}"))
        }
    }
}

impl KeyStore for SignerKeys {
    fn create(&self, at: &RecordLocation, record: &SealedRecord) -> kms_core::Result<()> {
        if let Some((replica, sync)) = &self.replica {
            // The audit entry of the creation is durable before the record leaves.
            sync().map_err(kms_core::Error::Store)?;
            match replica
                .put(&ReplicaKey::Record(at.store_key()), record.as_bytes(), None)
                .map_err(unavailable)?
            {
                PutOutcome::Stored(_) => {}
                PutOutcome::Conflict(_) => return Err(kms_core::Error::AlreadyExists),
            }
            return match self.local.create(at, record) {
                Ok(()) | Err(kms_core::Error::AlreadyExists) => Ok(()),
                Err(e) => Err(e),
            };
        }
        self.local.create(at, record)
    }

    fn get(&self, at: &RecordLocation) -> kms_core::Result<Option<SealedRecord>> {
        if let Some(r) = self.local.get(at)? {
            return Ok(Some(r));
        }
        let Some((replica, _)) = &self.replica else {
            return Ok(None);
        };
        let Some(entry) = replica
            .get(&ReplicaKey::Record(at.store_key()))
            .map_err(unavailable)?
        else {
            return Ok(None);
        };
        let record = SealedRecord::from_bytes(&entry.value.0)?;
        match self.local.create(at, &record) {
            Ok(()) | Err(kms_core::Error::AlreadyExists) => {}
            Err(e) => return Err(e),
        }
        Ok(Some(record))
    }

    fn list_user(&self, user: &UserId) -> kms_core::Result<Vec<RecordLocation>> {
        self.local.list_user(user)
    }

    fn compare_and_swap(
        &self,
        at: &RecordLocation,
        expected: &SealedRecord,
        new: &SealedRecord,
    ) -> kms_core::Result<()> {
        if self.replica.is_some() {
            return Err(kms_core::Error::Store(
                "records are write-once when replicated".into(),
            ));
        }
        self.local.compare_and_swap(at, expected, new)
    }

    fn delete(&self, at: &RecordLocation) -> kms_core::Result<bool> {
        if self.replica.is_some() {
            return Err(kms_core::Error::Store(
                "records are write-once when replicated".into(),
            ));
        }
        self.local.delete(at)
    }

    fn scan(
        &self,
        after: Option<&RecordLocation>,
        limit: usize,
    ) -> kms_core::Result<Vec<(RecordLocation, SealedRecord)>> {
        self.local.scan(after, limit)
    }
}
