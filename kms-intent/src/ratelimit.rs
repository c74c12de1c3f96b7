//! Failed-attempt rate limits: exponential backoff, then a lock.

use std::collections::BTreeMap;

use crate::error::IntentError;
use crate::policy::Action;
use crate::wire::{Reader, Writer};

/// What was attempted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum AttemptKind {
    /// Resolving an approval token.
    Token,
    /// A TOTP code.
    Totp,
    /// A passkey assertion.
    Passkey,
    /// A recovery code.
    RecoveryCode,
    /// A seed-backup quiz answer.
    SeedQuiz,
}

impl AttemptKind {
    fn tag(self) -> u8 {
        match self {
            Self::Token => 1,
            Self::Totp => 2,
            Self::Passkey => 3,
            Self::RecoveryCode => 4,
            Self::SeedQuiz => 5,
        }
    }
    fn from_tag(t: u8) -> Result<Self, IntentError> {
        Ok(match t {
            1 => Self::Token,
            2 => Self::Totp,
            3 => Self::Passkey,
            4 => Self::RecoveryCode,
            5 => Self::SeedQuiz,
            _ => return Err(IntentError::Malformed("unknown attempt kind")),
        })
    }
}

/// What a failure counter is kept for: the kind of attempt and, for factors, the action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttemptKey {
    /// The kind of attempt.
    pub kind: AttemptKind,
    /// The action the factor was for (none for tokens and the quiz).
    pub action: Option<Action>,
}

/// How failures are throttled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimitPolicy {
    /// Failures that cost no delay.
    pub free_attempts: u32,
    /// Delay after the first failure beyond the free ones, in seconds; it doubles with each
    /// further failure.
    pub base_delay_secs: u64,
    /// Largest delay, in seconds.
    pub max_delay_secs: u64,
    /// Failures after which the key is locked.
    pub lock_after: u32,
    /// How long a lock lasts (one more attempt is evaluated after it); `None` locks until a
    /// recovery code or [`crate::UserState::operator_unlock_all`] clears it.
    pub lock_secs: Option<u64>,
}

impl Default for RateLimitPolicy {
    /// 3 free failures, then 2 s, 4 s, 8 s, ... (at most 1 h), locked after 10 failures for 24 h.
    fn default() -> Self {
        Self {
            free_attempts: 3,
            base_delay_secs: 2,
            max_delay_secs: 3600,
            lock_after: 10,
            lock_secs: Some(24 * 3600),
        }
    }
}

impl RateLimitPolicy {
    pub(crate) fn validate(&self) -> Result<(), IntentError> {
        if self.lock_after == 0 {
            return Err(IntentError::InvalidInput {
                field: "lock_after",
                reason: "zero",
            });
        }
        if self.free_attempts > self.lock_after {
            return Err(IntentError::InvalidInput {
                field: "free_attempts",
                reason: "above lock_after",
            });
        }
        Ok(())
    }

    /// The delay imposed after `failures` failures.
    #[must_use]
    pub fn delay_after(&self, failures: u32) -> u64 {
        if failures < self.free_attempts {
            return 0;
        }
        let doublings = failures - self.free_attempts;
        let factor = 1u64.checked_shl(doublings).unwrap_or(u64::MAX);
        self.base_delay_secs
            .saturating_mul(factor)
            .min(self.max_delay_secs)
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u32(self.free_attempts);
        w.u64(self.base_delay_secs);
        w.u64(self.max_delay_secs);
        w.u32(self.lock_after);
        w.opt_u64(self.lock_secs);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, IntentError> {
        let p = Self {
            free_attempts: r.u32()?,
            base_delay_secs: r.u64()?,
            max_delay_secs: r.u64()?,
            lock_after: r.u32()?,
            lock_secs: r.opt_u64()?,
        };
        p.validate()
            .map_err(|_| IntentError::Malformed("invalid rate-limit policy"))?;
        Ok(p)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Counter {
    failures: u32,
    last_failure_at: u64,
}

/// Failure counters of one user.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RateLimits {
    entries: BTreeMap<AttemptKey, Counter>,
}

impl RateLimits {
    /// Whether an attempt under `key` may be evaluated now.
    pub(crate) fn check(
        &self,
        key: AttemptKey,
        policy: &RateLimitPolicy,
        now: u64,
    ) -> Result<(), IntentError> {
        let Some(c) = self.entries.get(&key) else {
            return Ok(());
        };
        if c.failures >= policy.lock_after {
            return match policy.lock_secs {
                Some(d) if now >= c.last_failure_at.saturating_add(d) => Ok(()),
                _ => Err(IntentError::Locked),
            };
        }
        let next = c
            .last_failure_at
            .saturating_add(policy.delay_after(c.failures));
        if now < next {
            return Err(IntentError::RateLimited {
                retry_after_secs: next - now,
            });
        }
        Ok(())
    }

    pub(crate) fn record_failure(&mut self, key: AttemptKey, now: u64) {
        let c = self.entries.entry(key).or_insert(Counter {
            failures: 0,
            last_failure_at: now,
        });
        c.failures = c.failures.saturating_add(1);
        c.last_failure_at = now;
    }

    pub(crate) fn record_success(&mut self, key: AttemptKey) {
        self.entries.remove(&key);
    }

    /// Clears every counter but the recovery-code ones.
    pub(crate) fn clear_factor_counters(&mut self) {
        self.entries
            .retain(|k, _| k.kind == AttemptKind::RecoveryCode);
    }

    pub(crate) fn clear_all(&mut self) {
        self.entries.clear();
    }

    pub(crate) fn failures(&self, key: AttemptKey) -> u32 {
        self.entries.get(&key).map_or(0, |c| c.failures)
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.len(self.entries.len());
        for (k, c) in &self.entries {
            w.u8(k.kind.tag());
            match k.action {
                None => w.u8(0),
                Some(a) => {
                    w.u8(1);
                    a.encode(w);
                }
            }
            w.u32(c.failures);
            w.u64(c.last_failure_at);
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, IntentError> {
        let n = r.len(256, "too many rate-limit counters")?;
        let mut entries = BTreeMap::new();
        for _ in 0..n {
            let kind = AttemptKind::from_tag(r.u8()?)?;
            let action = if r.bool()? {
                Some(Action::decode(r)?)
            } else {
                None
            };
            let c = Counter {
                failures: r.u32()?,
                last_failure_at: r.u64()?,
            };
            let key = AttemptKey { kind, action };
            if c.failures == 0
                || entries
                    .last_key_value()
                    .is_some_and(|(last, _)| *last >= key)
            {
                return Err(IntentError::Malformed("rate-limit counters not canonical"));
            }
            entries.insert(key, c);
        }
        Ok(Self { entries })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_and_cap() {
        let p = RateLimitPolicy::default();
        assert_eq!(p.delay_after(0), 0);
        assert_eq!(p.delay_after(2), 0);
        assert_eq!(p.delay_after(3), 2);
        assert_eq!(p.delay_after(4), 4);
        assert_eq!(p.delay_after(5), 8);
        assert_eq!(p.delay_after(40), 3600);
        assert_eq!(p.delay_after(u32::MAX), 3600);
    }
}
