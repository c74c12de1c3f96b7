//! A thread-safe holder of user states over a persistence layer passed in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::challenge::UserId;
use crate::error::IntentError;
use crate::intent::{IntentId, SpendRequest};
use crate::ratelimit::RateLimitPolicy;
use crate::state::UserState;

/// Where encoded user states live (for the reference signer: sealed records in its database).
/// Implementations seal on `store` and unseal on `load`; the bytes contain TOTP secrets.
///
/// A backend shared by several writers (instances of a signer replicating through one store)
/// also implements the revision methods, [`Persistence::load_revision`] and
/// [`Persistence::store_if`]: a store then succeeds only over the revision the state was loaded
/// at, so two writers never silently overwrite each other (a challenge decided once, an intent's
/// cumulative limit held). The defaults suit a single writer.
pub trait Persistence: Send + Sync {
    /// The last stored state of `user`, if any.
    ///
    /// # Errors
    /// [`IntentError::Persistence`] when the backend fails.
    fn load(&self, user: UserId) -> Result<Option<Vec<u8>>, IntentError>;

    /// Stores the state of `user` durably before returning (replacing the previous one
    /// atomically).
    ///
    /// # Errors
    /// [`IntentError::Persistence`] when the backend fails.
    fn store(&self, user: UserId, state: &[u8]) -> Result<(), IntentError>;

    /// The last stored state of `user` with its revision (`None`: no state yet). The default
    /// has no revisions (a single writer): every state is at revision 0.
    ///
    /// # Errors
    /// [`IntentError::Persistence`] when the backend fails.
    fn load_revision(&self, user: UserId) -> Result<Option<(Vec<u8>, u64)>, IntentError> {
        Ok(self.load(user)?.map(|s| (s, 0)))
    }

    /// Stores the state of `user` only if the stored one is still at `expected` (`None`: only if
    /// there is none yet), and returns the new revision. The default ignores `expected` (a
    /// single writer).
    ///
    /// # Errors
    /// [`IntentError::Conflict`] when the stored state moved on (nothing written);
    /// [`IntentError::Persistence`] when the backend fails.
    fn store_if(
        &self,
        user: UserId,
        state: &[u8],
        expected: Option<u64>,
    ) -> Result<u64, IntentError> {
        let _ = expected;
        self.store(user, state).map(|()| 0)
    }
}

/// User states behind locks per user, written through to a [`Persistence`].
///
/// [`IntentStore::with_user`] runs an operation on a copy of the user's state, stores the copy,
/// and only then makes it the current state: a failed store leaves memory unchanged (no partial
/// write), and concurrent operations on one user run one after the other, so check-and-spend is
/// atomic across threads. Readers ([`IntentStore::read_user`]) wait for it, so nothing reads a
/// state that is being replaced. [`IntentStore::reserve_uses`] is the one write readers do not
/// wait for: it only spends.
pub struct IntentStore<P: Persistence> {
    persistence: P,
    rate_policy: RateLimitPolicy,
    users: Mutex<HashMap<UserId, Arc<Entry>>>,
}

/// One user's cache entry. Writers hold `writer` for the whole operation (so they run one after
/// the other); `slot` guards the current state, held by readers and by every write except
/// [`IntentStore::reserve_uses`] while it stores.
struct Entry {
    writer: Mutex<()>,
    slot: Mutex<Slot>,
}

/// A cached state and the revision it was loaded or stored at (`None`: not stored yet).
struct Slot {
    state: UserState,
    revision: Option<u64>,
}

/// How often [`IntentStore::with_user`] reloads and re-runs an operation whose store conflicted.
pub const CONFLICT_RETRIES: usize = 4;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Operations run on a copy, so a panic inside one cannot leave a half-updated state behind
    // the lock: a poisoned lock still guards a consistent value.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<P: Persistence> IntentStore<P> {
    /// A store over `persistence`; new users get `rate_policy`.
    pub fn new(persistence: P, rate_policy: RateLimitPolicy) -> Self {
        Self {
            persistence,
            rate_policy,
            users: Mutex::new(HashMap::new()),
        }
    }

    /// The persistence layer.
    pub fn persistence(&self) -> &P {
        &self.persistence
    }

    fn entry(&self, user: UserId) -> Result<Arc<Entry>, IntentError> {
        let mut users = lock(&self.users);
        if let Some(e) = users.get(&user) {
            return Ok(Arc::clone(e));
        }
        let entry = Arc::new(Entry {
            writer: Mutex::new(()),
            slot: Mutex::new(self.load(user)?),
        });
        users.insert(user, Arc::clone(&entry));
        Ok(entry)
    }

    fn load(&self, user: UserId) -> Result<Slot, IntentError> {
        Ok(match self.persistence.load_revision(user)? {
            Some((bytes, revision)) => {
                let s = UserState::decode(&bytes)?;
                if s.user() != user {
                    return Err(IntentError::Malformed(
                        "stored state belongs to another user",
                    ));
                }
                Slot {
                    state: s,
                    revision: Some(revision),
                }
            }
            None => Slot {
                state: UserState::with_rate_limit_policy(user, self.rate_policy)?,
                revision: None,
            },
        })
    }

    /// Runs `op` on the user's state (loading it first if needed) and persists the result,
    /// whether `op` succeeded or not (failed attempts must be remembered).
    ///
    /// When the persistence reports [`IntentError::Conflict`] (another writer stored a newer
    /// state), the cached state is dropped, the newest one loaded, and `op` runs again on it,
    /// up to [`CONFLICT_RETRIES`] times: `op` must keep no effect of a run whose result it does
    /// not return.
    ///
    /// # Errors
    /// `op`'s error, or a load/decode/persistence error (then nothing changed);
    /// [`IntentError::Conflict`] when every retry conflicted.
    pub fn with_user<T>(
        &self,
        user: UserId,
        mut op: impl FnMut(&mut UserState) -> Result<T, IntentError>,
    ) -> Result<T, IntentError> {
        let mut attempt = 0;
        loop {
            let entry = self.entry(user)?;
            let writing = lock(&entry.writer);
            let mut current = lock(&entry.slot);
            let mut next = current.state.clone();
            let out = op(&mut next);
            if next == current.state {
                return out;
            }
            match self
                .persistence
                .store_if(user, &next.encode(), current.revision)
            {
                Ok(revision) => {
                    current.state = next;
                    current.revision = Some(revision);
                    return out;
                }
                Err(IntentError::Conflict) => {
                    drop(current);
                    drop(writing);
                    self.retry_after_conflict(user, &entry, &mut attempt)?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Spends up to `max` uses of intent `id` for `request` in one durable write, and returns how
    /// many it spent (0: the intent covers no further use now, or `max` is 0; nothing written).
    ///
    /// Meant for reserving uses ahead (the reference signer's leases): unlike
    /// [`IntentStore::with_user`], readers do not wait while the state is stored. They read the
    /// state as it was until the store has succeeded; that is sound because this write can only
    /// narrow what the state allows (counters move up), never widen it. Other writers still run
    /// one after the other with it. A [`IntentError::Conflict`] from the persistence reloads and
    /// retries as `with_user` does.
    ///
    /// # Errors
    /// A load, decode or persistence error (then nothing was spent);
    /// [`IntentError::Conflict`] when every retry conflicted.
    pub fn reserve_uses(
        &self,
        user: UserId,
        id: IntentId,
        request: &SpendRequest<'_>,
        max: u32,
        now: u64,
    ) -> Result<u32, IntentError> {
        let mut attempt = 0;
        loop {
            let entry = self.entry(user)?;
            let writing = lock(&entry.writer);
            let (mut next, revision) = {
                let current = lock(&entry.slot);
                (current.state.clone(), current.revision)
            };
            let mut spent = 0;
            while spent < max && next.spend(id, request, now).is_ok() {
                spent += 1;
            }
            if spent == 0 {
                return Ok(0);
            }
            // Not under the slot's lock: readers go on with the current state meanwhile.
            match self.persistence.store_if(user, &next.encode(), revision) {
                Ok(stored) => {
                    let mut current = lock(&entry.slot);
                    current.state = next;
                    current.revision = Some(stored);
                    return Ok(spent);
                }
                Err(IntentError::Conflict) => {
                    drop(writing);
                    self.retry_after_conflict(user, &entry, &mut attempt)?;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// After a store that conflicted: drops the stale cached state and counts the attempt;
    /// [`IntentError::Conflict`] once the retries are used up.
    fn retry_after_conflict(
        &self,
        user: UserId,
        entry: &Arc<Entry>,
        attempt: &mut usize,
    ) -> Result<(), IntentError> {
        self.forget_entry(user, entry);
        if *attempt == CONFLICT_RETRIES {
            return Err(IntentError::Conflict);
        }
        *attempt += 1;
        Ok(())
    }

    /// Drops `entry` from the cache unless it was replaced meanwhile.
    fn forget_entry(&self, user: UserId, entry: &Arc<Entry>) {
        let mut users = lock(&self.users);
        if users.get(&user).is_some_and(|e| Arc::ptr_eq(e, entry)) {
            users.remove(&user);
        }
    }

    /// Reads the user's state without changing it.
    ///
    /// # Errors
    /// A load or decode error.
    pub fn read_user<T>(
        &self,
        user: UserId,
        f: impl FnOnce(&UserState) -> T,
    ) -> Result<T, IntentError> {
        let entry = self.entry(user)?;
        let current = lock(&entry.slot);
        Ok(f(&current.state))
    }

    /// Drops the cached states, so the next access reloads from persistence (what a restart
    /// does).
    pub fn forget_cache(&self) {
        lock(&self.users).clear();
    }

    /// Drops the cached state of `user` (another writer stored a newer one), so the next access
    /// reloads it. An operation running on the old state meanwhile fails its conditional store
    /// and is re-run on the new one.
    pub fn forget_user(&self, user: UserId) {
        lock(&self.users).remove(&user);
    }
}
