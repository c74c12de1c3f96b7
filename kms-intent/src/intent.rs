//! Standing intents: pre-authorized future transactions with limits, spent atomically.

use core::fmt;

use crate::challenge::ChallengeId;
use crate::error::IntentError;
use crate::wire::{Reader, Writer};

/// Longest intent parameters, in bytes.
pub const MAX_INTENT_PARAMETERS_LEN: usize = 4096;
/// Most standing intents (active and inactive) kept per user.
pub const MAX_INTENTS: usize = 256;
/// How long an inactive (revoked, expired or used-up) intent stays listed (30 days).
pub const INACTIVE_INTENT_RETENTION_SECS: u64 = 30 * 24 * 3600;

/// A standing intent's id, sequential per user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IntentId(pub u64);

impl fmt::Display for IntentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "intent {}", self.0)
    }
}

/// What a standing intent allows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntentTerms {
    /// SHA-256 of the transaction-shape module every covered request must be checked by.
    pub module_hash: [u8; 32],
    /// That module's parameters, byte for byte (at most [`MAX_INTENT_PARAMETERS_LEN`]).
    pub parameters: Vec<u8>,
    /// Largest amount of one request (in the module's unit, e.g. lamports).
    pub per_transaction_limit: u64,
    /// Largest sum of all amounts over the intent's life.
    pub cumulative_limit: u64,
    /// Most requests the intent covers.
    pub max_uses: u32,
    /// Unix time (seconds) from which the intent is expired.
    pub valid_until: u64,
}

impl IntentTerms {
    pub(crate) fn validate(&self, now: u64) -> Result<(), IntentError> {
        if self.parameters.len() > MAX_INTENT_PARAMETERS_LEN {
            return Err(IntentError::TooLong {
                field: "intent parameters",
                max: MAX_INTENT_PARAMETERS_LEN,
            });
        }
        if self.max_uses == 0 {
            return Err(IntentError::InvalidInput {
                field: "max_uses",
                reason: "zero",
            });
        }
        if self.per_transaction_limit > self.cumulative_limit {
            return Err(IntentError::InvalidInput {
                field: "per_transaction_limit",
                reason: "above the cumulative limit",
            });
        }
        if self.valid_until <= now {
            return Err(IntentError::InvalidInput {
                field: "valid_until",
                reason: "not in the future",
            });
        }
        Ok(())
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.fixed(&self.module_hash);
        w.bytes(&self.parameters);
        w.u64(self.per_transaction_limit);
        w.u64(self.cumulative_limit);
        w.u32(self.max_uses);
        w.u64(self.valid_until);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, IntentError> {
        let t = Self {
            module_hash: r.fixed()?,
            parameters: r
                .bytes(MAX_INTENT_PARAMETERS_LEN, "intent parameters too long")?
                .to_vec(),
            per_transaction_limit: r.u64()?,
            cumulative_limit: r.u64()?,
            max_uses: r.u32()?,
            valid_until: r.u64()?,
        };
        if t.max_uses == 0 || t.per_transaction_limit > t.cumulative_limit {
            return Err(IntentError::Malformed("inconsistent intent terms"));
        }
        Ok(t)
    }
}

/// A request checked against standing intents.
#[derive(Clone, Copy, Debug)]
pub struct SpendRequest<'a> {
    /// The module that checked the request.
    pub module_hash: &'a [u8; 32],
    /// The module's parameters for the request.
    pub parameters: &'a [u8],
    /// The amount the request moves.
    pub amount: u64,
}

/// Where an intent stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum IntentStatus {
    /// It can cover requests.
    Active,
    /// It was revoked.
    Revoked,
    /// It is past its valid-until time.
    Expired,
    /// Its uses or its cumulative limit are used up.
    Exhausted,
}

/// A standing intent and its counters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandingIntent {
    pub(crate) id: IntentId,
    pub(crate) terms: IntentTerms,
    pub(crate) created_at: u64,
    pub(crate) from_challenge: ChallengeId,
    pub(crate) spent: u64,
    pub(crate) uses: u32,
    pub(crate) revoked_at: Option<u64>,
}

impl StandingIntent {
    /// Its id.
    #[must_use]
    pub fn id(&self) -> IntentId {
        self.id
    }
    /// Its terms.
    #[must_use]
    pub fn terms(&self) -> &IntentTerms {
        &self.terms
    }
    /// When it was created.
    #[must_use]
    pub fn created_at(&self) -> u64 {
        self.created_at
    }
    /// The challenge whose approval created it.
    #[must_use]
    pub fn from_challenge(&self) -> ChallengeId {
        self.from_challenge
    }
    /// The sum of the amounts spent so far.
    #[must_use]
    pub fn spent(&self) -> u64 {
        self.spent
    }
    /// The number of requests covered so far.
    #[must_use]
    pub fn uses(&self) -> u32 {
        self.uses
    }
    /// When it was revoked, if it was.
    #[must_use]
    pub fn revoked_at(&self) -> Option<u64> {
        self.revoked_at
    }

    /// Its status at `now`.
    #[must_use]
    pub fn status(&self, now: u64) -> IntentStatus {
        if self.revoked_at.is_some() {
            IntentStatus::Revoked
        } else if now >= self.terms.valid_until {
            IntentStatus::Expired
        } else if self.uses >= self.terms.max_uses || self.spent >= self.terms.cumulative_limit {
            IntentStatus::Exhausted
        } else {
            IntentStatus::Active
        }
    }

    fn inactive_since(&self) -> Option<u64> {
        self.revoked_at.or(Some(self.terms.valid_until))
    }

    /// Checks `req` against the intent without changing anything.
    fn check(&self, req: &SpendRequest<'_>, now: u64) -> Result<u64, IntentError> {
        if self.revoked_at.is_some() {
            return Err(IntentError::IntentRevoked);
        }
        if now >= self.terms.valid_until {
            return Err(IntentError::IntentExpired);
        }
        if req.module_hash != &self.terms.module_hash || req.parameters != self.terms.parameters {
            return Err(IntentError::IntentDoesNotCover);
        }
        if self.uses >= self.terms.max_uses || self.spent >= self.terms.cumulative_limit {
            return Err(IntentError::IntentExhausted);
        }
        if req.amount > self.terms.per_transaction_limit {
            return Err(IntentError::PerTransactionLimitExceeded);
        }
        match self.spent.checked_add(req.amount) {
            Some(total) if total <= self.terms.cumulative_limit => Ok(total),
            _ => Err(IntentError::CumulativeLimitExceeded),
        }
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u64(self.id.0);
        self.terms.encode(w);
        w.u64(self.created_at);
        w.fixed(&self.from_challenge.0);
        w.u64(self.spent);
        w.u32(self.uses);
        w.opt_u64(self.revoked_at);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, IntentError> {
        let i = Self {
            id: IntentId(r.u64()?),
            terms: IntentTerms::decode(r)?,
            created_at: r.u64()?,
            from_challenge: ChallengeId(r.fixed()?),
            spent: r.u64()?,
            uses: r.u32()?,
            revoked_at: r.opt_u64()?,
        };
        if i.spent > i.terms.cumulative_limit || i.uses > i.terms.max_uses {
            return Err(IntentError::Malformed("intent counters beyond its limits"));
        }
        Ok(i)
    }
}

/// A user's standing intents.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct IntentBook {
    pub(crate) next_id: u64,
    pub(crate) intents: Vec<StandingIntent>,
}

impl IntentBook {
    pub(crate) fn insert(
        &mut self,
        terms: IntentTerms,
        from_challenge: ChallengeId,
        now: u64,
    ) -> Result<IntentId, IntentError> {
        terms.validate(now)?;
        self.prune(now);
        if self.intents.len() >= MAX_INTENTS {
            return Err(IntentError::TooManyIntents { max: MAX_INTENTS });
        }
        let id = IntentId(self.next_id);
        self.next_id = self.next_id.saturating_add(1);
        self.intents.push(StandingIntent {
            id,
            terms,
            created_at: now,
            from_challenge,
            spent: 0,
            uses: 0,
            revoked_at: None,
        });
        Ok(id)
    }

    /// Check-and-spend on one intent: either every check passes and both counters move, or
    /// nothing changes.
    pub(crate) fn spend(
        &mut self,
        id: IntentId,
        req: &SpendRequest<'_>,
        now: u64,
    ) -> Result<(), IntentError> {
        let intent = self
            .intents
            .iter_mut()
            .find(|i| i.id == id)
            .ok_or(IntentError::UnknownIntent)?;
        let total = intent.check(req, now)?;
        intent.spent = total;
        intent.uses += 1;
        Ok(())
    }

    /// Check-and-spend on the first (oldest) intent that covers the request.
    pub(crate) fn spend_any(
        &mut self,
        req: &SpendRequest<'_>,
        now: u64,
    ) -> Result<IntentId, IntentError> {
        for intent in &mut self.intents {
            if let Ok(total) = intent.check(req, now) {
                intent.spent = total;
                intent.uses += 1;
                return Ok(intent.id);
            }
        }
        Err(IntentError::NoCoveringIntent)
    }

    pub(crate) fn revoke(&mut self, id: IntentId, now: u64) -> Result<(), IntentError> {
        let intent = self
            .intents
            .iter_mut()
            .find(|i| i.id == id)
            .ok_or(IntentError::UnknownIntent)?;
        if intent.revoked_at.is_none() {
            intent.revoked_at = Some(now);
        }
        Ok(())
    }

    pub(crate) fn revoke_all(&mut self, now: u64) -> usize {
        let mut n = 0;
        for i in &mut self.intents {
            if i.revoked_at.is_none() {
                i.revoked_at = Some(now);
                n += 1;
            }
        }
        n
    }

    /// Forgets intents revoked or expired more than [`INACTIVE_INTENT_RETENTION_SECS`] ago.
    pub(crate) fn prune(&mut self, now: u64) {
        self.intents.retain(|i| {
            i.status(now) == IntentStatus::Active
                || i.inactive_since()
                    .is_some_and(|at| now < at.saturating_add(INACTIVE_INTENT_RETENTION_SECS))
        });
    }
}
