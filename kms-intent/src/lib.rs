#![doc = include_str!("../README.md")]

mod challenge;
mod digest;
mod error;
mod intent;
mod policy;
mod quiz;
mod ratelimit;
mod recovery;
mod state;
mod store;
mod totp;
pub mod webauthn;
mod wire;

pub use challenge::{
    ApprovalToken, Button, CLOSED_CHALLENGE_RETENTION_SECS, ChallengeId, ChallengeSpec,
    DecisionKind, DecisionSpec, IssuedChallenge, MAX_CHALLENGE_LIFETIME_SECS,
    MAX_CHALLENGE_RECORDS, MAX_DECISIONS, MAX_DESCRIPTION_LEN, MAX_LABEL_LEN, MAX_OPEN_CHALLENGES,
    MIN_DECISIONS, ParsedToken, Resolution, TOKEN_HASH_DOMAIN, TOKEN_LEN, TOKEN_VERSION, UserId,
};
pub use digest::{REQUEST_DIGEST_DOMAIN, request_digest};
pub use error::IntentError;
pub use intent::{
    INACTIVE_INTENT_RETENTION_SECS, IntentId, IntentStatus, IntentTerms, MAX_INTENT_PARAMETERS_LEN,
    MAX_INTENTS, SpendRequest, StandingIntent,
};
pub use policy::{
    Action, Factor, MAX_WHITELIST_LEN, Policy, Requirement, Whitelist, default_requirement,
};
pub use quiz::{DEFAULT_QUIZ_WORDS, SeedBackup, SeedQuiz};
pub use ratelimit::{AttemptKey, AttemptKind, RateLimitPolicy};
pub use recovery::{RECOVERY_CODE_CHARS, RECOVERY_CODE_COUNT, RECOVERY_HASH_DOMAIN, RecoveryCodes};
pub use state::{
    Authorization, FactorProof, ProofUsed, STATE_MAGIC, STATE_VERSION, TOTP_ENROLLMENT_TTL_SECS,
    USED_PASSKEY_CHALLENGES, UserState,
};
pub use store::{CONFLICT_RETRIES, IntentStore, Persistence};
pub use totp::{
    MAX_TOTP_NAME_LEN, TotpAlgorithm, TotpEnrollment, TotpParams, TotpSecret, totp_code,
};
pub use webauthn::{PasskeyAssertion, PasskeyCredential, RelyingParty};
