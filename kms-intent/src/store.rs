//! A thread-safe holder of user states over a persistence layer passed in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::challenge::UserId;
use crate::error::IntentError;
use crate::ratelimit::RateLimitPolicy;
use crate::state::UserState;

/// Where encoded user states live (for the reference signer: sealed records in its database).
/// Implementations seal on `store` and unseal on `load`; the bytes contain TOTP secrets.
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
}

/// User states behind one lock per user, written through to a [`Persistence`].
///
/// [`IntentStore::with_user`] runs an operation on a copy of the user's state, stores the copy,
/// and only then makes it the current state: a failed store leaves memory unchanged (no partial
/// write), and concurrent operations on one user run one after the other, so check-and-spend is
/// atomic across threads.
pub struct IntentStore<P: Persistence> {
    persistence: P,
    rate_policy: RateLimitPolicy,
    users: Mutex<HashMap<UserId, Arc<Mutex<UserState>>>>,
}

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

    fn slot(&self, user: UserId) -> Result<Arc<Mutex<UserState>>, IntentError> {
        let mut users = lock(&self.users);
        if let Some(s) = users.get(&user) {
            return Ok(Arc::clone(s));
        }
        let state = match self.persistence.load(user)? {
            Some(bytes) => {
                let s = UserState::decode(&bytes)?;
                if s.user() != user {
                    return Err(IntentError::Malformed(
                        "stored state belongs to another user",
                    ));
                }
                s
            }
            None => UserState::with_rate_limit_policy(user, self.rate_policy)?,
        };
        let slot = Arc::new(Mutex::new(state));
        users.insert(user, Arc::clone(&slot));
        Ok(slot)
    }

    /// Runs `op` on the user's state (loading it first if needed) and persists the result,
    /// whether `op` succeeded or not (failed attempts must be remembered).
    ///
    /// # Errors
    /// `op`'s error, or a load/decode/persistence error (then nothing changed).
    pub fn with_user<T>(
        &self,
        user: UserId,
        op: impl FnOnce(&mut UserState) -> Result<T, IntentError>,
    ) -> Result<T, IntentError> {
        let slot = self.slot(user)?;
        let mut current = lock(&slot);
        let mut next = current.clone();
        let out = op(&mut next);
        if next != *current {
            self.persistence.store(user, &next.encode())?;
            *current = next;
        }
        out
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
        let slot = self.slot(user)?;
        let current = lock(&slot);
        Ok(f(&current))
    }

    /// Drops the cached states, so the next access reloads from persistence (what a restart
    /// does).
    pub fn forget_cache(&self) {
        lock(&self.users).clear();
    }
}
