//! The one error type of this crate.

use crate::policy::{Action, Factor};

/// Everything that can go wrong in `kms-intent`.
///
/// Messages say what was wrong without echoing tokens, codes, secrets or the bytes that were
/// refused. Cryptographic failures are opaque: a wrong approval token is [`IntentError::Invalid`]
/// whether its challenge is unknown or its secret is wrong, and a bad passkey signature is
/// [`IntentError::PasskeySignatureInvalid`] whatever made it bad.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IntentError {
    /// The random number generator passed in failed.
    #[error("the random number generator failed")]
    RandomnessUnavailable,

    // ---- input limits ----
    /// A field given to this crate is longer than its documented maximum.
    #[error("{field} is too long (at most {max} bytes or items)")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// Its maximum.
        max: usize,
    },
    /// A value given to this crate is outside its documented range.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// Which field.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },

    // ---- challenges ----
    /// The approval token is not a token of this crate's format (wrong length, version or
    /// alphabet).
    #[error("the approval token is malformed")]
    MalformedToken,
    /// The approval token does not open any open challenge of this user.
    #[error("the approval token is not valid")]
    Invalid,
    /// The token is right but its challenge expired before it was used.
    #[error("the challenge has expired")]
    Expired,
    /// The token is right but its challenge was already decided (by this or another token).
    #[error("the challenge was already decided")]
    AlreadyDecided,
    /// The user has too many open challenges; older ones must expire or be decided first.
    #[error("too many open challenges (at most {max})")]
    TooManyChallenges {
        /// The limit.
        max: usize,
    },
    /// The challenge named is unknown to this user's state.
    #[error("unknown challenge")]
    UnknownChallenge,

    // ---- standing intents ----
    /// The challenge does not allow creating a standing intent: it is undecided, was not decided
    /// with "approve and remember", carries no intent terms, or already created one.
    #[error("this challenge cannot create a standing intent")]
    IntentNotApproved,
    /// No standing intent with this id.
    #[error("unknown standing intent")]
    UnknownIntent,
    /// The intent was revoked.
    #[error("the standing intent was revoked")]
    IntentRevoked,
    /// The intent is past its valid-until time.
    #[error("the standing intent has expired")]
    IntentExpired,
    /// The intent has been used its maximum number of times.
    #[error("the standing intent has no uses left")]
    IntentExhausted,
    /// The amount is above the intent's per-transaction limit.
    #[error("the amount is above the intent's per-transaction limit")]
    PerTransactionLimitExceeded,
    /// The amount would take the intent past its cumulative limit.
    #[error("the amount would exceed the intent's cumulative limit")]
    CumulativeLimitExceeded,
    /// The request's module hash or parameters differ from the intent's.
    #[error("the standing intent does not cover this request")]
    IntentDoesNotCover,
    /// No active standing intent of the user covers the request.
    #[error("no standing intent covers this request")]
    NoCoveringIntent,
    /// The user has too many standing intents.
    #[error("too many standing intents (at most {max})")]
    TooManyIntents {
        /// The limit.
        max: usize,
    },

    // ---- rate limits ----
    /// Too many failed attempts recently; try again later.
    #[error("too many failed attempts; retry in {retry_after_secs} s")]
    RateLimited {
        /// Seconds until the next attempt is evaluated.
        retry_after_secs: u64,
    },
    /// Locked after too many failed attempts.
    #[error("locked after too many failed attempts")]
    Locked,

    // ---- policy and factors ----
    /// The action needs a second factor and none (or the wrong one) was given.
    #[error("{action} needs a second factor")]
    SecondFactorRequired {
        /// The action.
        action: Action,
    },
    /// The authorization presented was made for another action, user or request.
    #[error("the authorization does not match this operation")]
    AuthorizationMismatch,
    /// The factor named is not enabled for this user.
    #[error("{0} is not enabled")]
    FactorNotEnabled(Factor),
    /// The factor is already enabled.
    #[error("{0} is already enabled")]
    FactorAlreadyEnabled(Factor),
    /// The operation needs at least one enabled second factor and the user has none.
    #[error("no second factor is enabled; enable TOTP or a passkey first")]
    NoSecondFactorEnabled,
    /// No enrollment of this factor is pending.
    #[error("no {0} enrollment is pending")]
    NoPendingEnrollment(Factor),
    /// The TOTP code is wrong (or outside the ±1 step window).
    #[error("the TOTP code is not valid")]
    TotpInvalid,
    /// The TOTP code's time step was already used.
    #[error("this TOTP code was already used")]
    TotpReplayed,
    /// The recovery code is wrong or already used.
    #[error("the recovery code is not valid")]
    RecoveryCodeInvalid,
    /// The mint is not on the user's token whitelist.
    #[error("a token in this trade is not on the whitelist")]
    MintNotWhitelisted,

    // ---- passkeys ----
    /// Authenticator data is malformed.
    #[error("malformed authenticator data: {0}")]
    MalformedAuthenticatorData(&'static str),
    /// clientDataJSON is malformed.
    #[error("malformed clientDataJSON: {0}")]
    MalformedClientData(&'static str),
    /// A CBOR structure (attestation object, COSE key) is malformed or outside the strict subset.
    #[error("malformed CBOR: {0}")]
    MalformedCbor(&'static str),
    /// The COSE public key is of an unsupported type or malformed.
    #[error("unsupported or malformed COSE key: {0}")]
    UnsupportedCoseKey(&'static str),
    /// clientDataJSON has the wrong `type` for this ceremony.
    #[error("clientDataJSON type is wrong for this ceremony")]
    ClientDataTypeMismatch,
    /// clientDataJSON names an origin that is not allowed, or a cross-origin context.
    #[error("clientDataJSON origin is not allowed")]
    OriginMismatch,
    /// clientDataJSON's challenge is not the expected one.
    #[error("clientDataJSON challenge does not match the request")]
    ChallengeMismatch,
    /// The authenticator data's rpId hash is not the relying party's.
    #[error("authenticator data is for another relying party")]
    RpIdMismatch,
    /// The user-present flag is not set.
    #[error("the authenticator did not confirm user presence")]
    UserNotPresent,
    /// The user-verified flag is not set and the relying party requires it.
    #[error("the authenticator did not verify the user")]
    UserNotVerified,
    /// The signature counter did not increase: the authenticator may be cloned.
    #[error(
        "passkey signature counter went from {stored} to {received}: possible cloned authenticator"
    )]
    CounterRegression {
        /// The counter stored from the last assertion.
        stored: u32,
        /// The counter in this assertion.
        received: u32,
    },
    /// No registered passkey has this credential id.
    #[error("unknown passkey credential")]
    UnknownCredential,
    /// A passkey with this credential id is already registered.
    #[error("this passkey is already registered")]
    CredentialAlreadyRegistered,
    /// The passkey signature does not verify.
    #[error("the passkey signature is not valid")]
    PasskeySignatureInvalid,

    // ---- seed backup ----
    /// The seed phrase was already shown once; showing it again needs a second factor.
    #[error("the seed phrase was already shown")]
    SeedAlreadyShown,
    /// No seed-backup quiz is pending.
    #[error("no seed-backup quiz is pending")]
    NoQuizPending,
    /// At least one quiz answer is wrong.
    #[error("the seed-backup answers are not correct")]
    QuizWrong,

    // ---- state encoding ----
    /// The encoded state ends before a field it announces.
    #[error("encoded state is truncated")]
    Truncated,
    /// The encoded state is not valid.
    #[error("encoded state is malformed: {0}")]
    Malformed(&'static str),
    /// The encoded state has a version this build cannot read.
    #[error("unsupported encoded-state version {0}")]
    UnsupportedVersion(u16),
    /// Bytes follow the end of the encoded state.
    #[error("encoded state has trailing bytes")]
    TrailingBytes,

    // ---- persistence (the store passed in) ----
    /// The persistence layer passed in failed; the in-memory state was left unchanged.
    #[error("persistence failed: {0}")]
    Persistence(String),
    /// The persistence layer could not be reached (a shared store that did not answer):
    /// nothing was written, and the same operation may succeed when retried. Distinct from
    /// [`IntentError::Persistence`], a failure retrying will not mend.
    #[error("persistence unavailable: {0}; retry")]
    Unavailable(String),
    /// Another writer (a second instance sharing the store) changed the user's state since it
    /// was loaded; nothing was written. [`crate::IntentStore::with_user`] reloads and retries
    /// on its own and returns this only when the state kept changing.
    #[error("the user's state was changed concurrently by another writer; retry")]
    Conflict,
}
