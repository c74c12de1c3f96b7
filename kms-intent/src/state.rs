//! One user's authorization state: every state machine of the crate, and its encoding.

use std::collections::BTreeSet;
use std::collections::VecDeque;

use rand_core::TryCryptoRng;
use zeroize::Zeroizing;

use crate::challenge::{
    ChallengeBook, ChallengeId, ChallengeRecord, ChallengeSpec, DecisionKind, IssuedChallenge,
    MAX_CHALLENGE_RECORDS, Resolution, UserId,
};
use crate::error::IntentError;
use crate::intent::{IntentBook, IntentId, MAX_INTENTS, SpendRequest, StandingIntent};
use crate::policy::{Action, Factor, MAX_WHITELIST_LEN, Policy, Requirement, Whitelist};
use crate::quiz::{SeedBackup, SeedQuiz};
use crate::ratelimit::{AttemptKey, AttemptKind, RateLimitPolicy, RateLimits};
use crate::recovery::{RecoveryBook, RecoveryCodes};
use crate::totp::{TotpEnrollment, TotpFactor, TotpParams};
use crate::webauthn::{
    MAX_PASSKEYS, PasskeyAssertion, PasskeyCredential, RelyingParty, verify_assertion,
    verify_registration,
};
use crate::wire::{Reader, Writer};

/// Magic bytes that start an encoded [`UserState`].
pub const STATE_MAGIC: [u8; 4] = *b"KMSI";
/// Current version of the [`UserState`] encoding.
pub const STATE_VERSION: u16 = 1;
/// Seconds a TOTP enrollment may stay unconfirmed (10 minutes).
pub const TOTP_ENROLLMENT_TTL_SECS: u64 = 600;
/// Passkey challenges remembered to refuse a replayed assertion.
pub const USED_PASSKEY_CHALLENGES: usize = 64;

/// A second-factor proof presented with a request.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum FactorProof<'a> {
    /// No proof.
    None,
    /// A TOTP code (the digits the app shows).
    Totp(&'a str),
    /// A passkey assertion whose challenge is the request digest.
    Passkey {
        /// The relying party the passkeys are registered for.
        rp: &'a RelyingParty,
        /// The assertion.
        assertion: PasskeyAssertion<'a>,
    },
    /// A recovery code: accepted only to manage factors (see
    /// [`Action::recovery_code_allowed`]).
    RecoveryCode(&'a str),
}

/// Which proof satisfied an authorization.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofUsed {
    /// A TOTP code.
    Totp,
    /// A passkey assertion.
    Passkey,
    /// A recovery code.
    RecoveryCode,
}

/// Proof that [`UserState::authorize`] passed for one action, user and request digest. It cannot
/// be built outside this crate, is not `Clone`, and the operations of [`UserState`] that need it
/// consume it.
#[derive(Debug)]
#[must_use = "an authorization does nothing until it is used"]
pub struct Authorization {
    user: UserId,
    action: Action,
    request_digest: [u8; 32],
    proof: Option<ProofUsed>,
}

impl Authorization {
    /// The user.
    #[must_use]
    pub fn user(&self) -> UserId {
        self.user
    }
    /// The action.
    #[must_use]
    pub fn action(&self) -> Action {
        self.action
    }
    /// The request digest it was made for.
    #[must_use]
    pub fn request_digest(&self) -> &[u8; 32] {
        &self.request_digest
    }
    /// The second factor that satisfied it, if one was needed or given.
    #[must_use]
    pub fn proof(&self) -> Option<ProofUsed> {
        self.proof
    }
}

/// Everything `kms-intent` keeps about one user. All methods take `&mut self`, so one call is
/// atomic under whatever lock holds the state (see [`crate::IntentStore`]). The state holds TOTP
/// secrets: store its [encoding](UserState::encode) sealed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserState {
    user: UserId,
    rate_policy: RateLimitPolicy,
    challenges: ChallengeBook,
    intents: IntentBook,
    totp: Option<TotpFactor>,
    totp_pending: Option<(TotpFactor, u64)>,
    passkeys: Vec<PasskeyCredential>,
    used_passkey_challenges: VecDeque<[u8; 32]>,
    recovery: RecoveryBook,
    policy: Policy,
    whitelist: Whitelist,
    seed_backup: SeedBackup,
    rate: RateLimits,
}

impl UserState {
    /// A fresh state with the default [`RateLimitPolicy`].
    #[must_use]
    pub fn new(user: UserId) -> Self {
        Self {
            user,
            rate_policy: RateLimitPolicy::default(),
            challenges: ChallengeBook::default(),
            intents: IntentBook::default(),
            totp: None,
            totp_pending: None,
            passkeys: Vec::new(),
            used_passkey_challenges: VecDeque::new(),
            recovery: RecoveryBook::default(),
            policy: Policy::default(),
            whitelist: Whitelist::default(),
            seed_backup: SeedBackup::default(),
            rate: RateLimits::default(),
        }
    }

    /// A fresh state with `policy` for failed attempts.
    ///
    /// # Errors
    /// [`IntentError::InvalidInput`] for an inconsistent policy.
    pub fn with_rate_limit_policy(
        user: UserId,
        policy: RateLimitPolicy,
    ) -> Result<Self, IntentError> {
        policy.validate()?;
        let mut s = Self::new(user);
        s.rate_policy = policy;
        Ok(s)
    }

    /// The user.
    #[must_use]
    pub fn user(&self) -> UserId {
        self.user
    }

    /// The failed-attempt policy.
    #[must_use]
    pub fn rate_limit_policy(&self) -> RateLimitPolicy {
        self.rate_policy
    }

    // ------------------------------------------------------------------ challenges

    /// Creates a challenge bound to `spec.request_digest` and returns what to send the user.
    ///
    /// # Errors
    /// A typed error for an invalid spec, too many open challenges, or an RNG failure.
    pub fn create_challenge<R: TryCryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        spec: &ChallengeSpec,
        now: u64,
    ) -> Result<IssuedChallenge, IntentError> {
        self.challenges.create(rng, self.user, spec, now)
    }

    /// Resolves a token the user's button sent back. Wrong tokens count as failed attempts
    /// (kind [`AttemptKind::Token`]) and are throttled by the rate-limit policy; a resolved
    /// token resets the count.
    ///
    /// # Errors
    /// [`IntentError::RateLimited`]/[`IntentError::Locked`] while throttled;
    /// [`IntentError::MalformedToken`], [`IntentError::Invalid`] (counted as failures);
    /// [`IntentError::Expired`], [`IntentError::AlreadyDecided`] for a right token too late.
    pub fn resolve(&mut self, token: &str, now: u64) -> Result<Resolution, IntentError> {
        let key = AttemptKey {
            kind: AttemptKind::Token,
            action: None,
        };
        self.rate.check(key, &self.rate_policy, now)?;
        match self.challenges.resolve(self.user, token, now) {
            Ok(r) => {
                self.rate.record_success(key);
                Ok(r)
            }
            Err(e @ (IntentError::MalformedToken | IntentError::Invalid)) => {
                self.rate.record_failure(key, now);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// Open (undecided, unexpired) challenges.
    #[must_use]
    pub fn open_challenges(&self, now: u64) -> usize {
        self.challenges.open_count(now)
    }

    // ------------------------------------------------------------------ standing intents

    /// Creates the standing intent proposed by a challenge that the user decided with
    /// [`DecisionKind::ApproveAndRemember`]. A challenge creates at most one intent. `auth` must
    /// be an authorization of [`Action::CreateIntent`] for the challenge's request digest.
    ///
    /// # Errors
    /// [`IntentError::IntentNotApproved`] unless the challenge qualifies;
    /// [`IntentError::AuthorizationMismatch`] for a wrong authorization.
    pub fn create_intent(
        &mut self,
        challenge: ChallengeId,
        auth: Authorization,
        now: u64,
    ) -> Result<IntentId, IntentError> {
        let record = self
            .challenges
            .get(challenge)
            .ok_or(IntentError::UnknownChallenge)?;
        self.check_auth(&auth, Action::CreateIntent)?;
        if auth.request_digest != record.request_digest {
            return Err(IntentError::AuthorizationMismatch);
        }
        let terms = match record_remember_terms(record) {
            Some(t) => t.clone(),
            None => return Err(IntentError::IntentNotApproved),
        };
        let id = self.intents.insert(terms, challenge, now)?;
        if let Some(r) = self.challenges.get_mut(challenge) {
            r.intent_created = true;
        }
        Ok(id)
    }

    /// Check-and-spend on intent `id`: every limit is checked and both counters move, or nothing
    /// changes.
    ///
    /// # Errors
    /// Why the intent refuses ([`IntentError::IntentRevoked`], [`IntentError::IntentExpired`],
    /// [`IntentError::IntentExhausted`], [`IntentError::PerTransactionLimitExceeded`],
    /// [`IntentError::CumulativeLimitExceeded`], [`IntentError::IntentDoesNotCover`]).
    pub fn spend(
        &mut self,
        id: IntentId,
        request: &SpendRequest<'_>,
        now: u64,
    ) -> Result<(), IntentError> {
        self.intents.spend(id, request, now)
    }

    /// Check-and-spend on the oldest active intent that covers `request`.
    ///
    /// # Errors
    /// [`IntentError::NoCoveringIntent`] when none does.
    pub fn spend_any(
        &mut self,
        request: &SpendRequest<'_>,
        now: u64,
    ) -> Result<IntentId, IntentError> {
        self.intents.spend_any(request, now)
    }

    /// The user's standing intents (active and recently inactive), oldest first.
    #[must_use]
    pub fn intents(&self) -> &[StandingIntent] {
        &self.intents.intents
    }

    /// Revokes an intent: every request after this call is refused. Needs no second factor
    /// (revoking only removes authority), so it always works for the user.
    ///
    /// # Errors
    /// [`IntentError::UnknownIntent`].
    pub fn revoke_intent(&mut self, id: IntentId, now: u64) -> Result<(), IntentError> {
        self.intents.revoke(id, now)
    }

    /// Revokes every intent; returns how many were active.
    pub fn revoke_all_intents(&mut self, now: u64) -> usize {
        self.intents.revoke_all(now)
    }

    // ------------------------------------------------------------------ policy

    /// The enabled second factors.
    #[must_use]
    pub fn enabled_factors(&self) -> BTreeSet<Factor> {
        let mut s = BTreeSet::new();
        if self.totp.is_some() {
            s.insert(Factor::Totp);
        }
        if !self.passkeys.is_empty() {
            s.insert(Factor::Passkey);
        }
        s
    }

    /// The requirement in force for `action`.
    #[must_use]
    pub fn requirement(&self, action: Action) -> Requirement {
        self.policy.requirement(action, &self.enabled_factors())
    }

    /// The per-user policy.
    #[must_use]
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// Checks the second factor for `action` on the request with digest `request_digest`.
    ///
    /// A proof given is always verified (and counts as an attempt), even when the action needs
    /// none. A passkey assertion must have `request_digest` as its challenge and is accepted once.
    /// Failed proofs count per (factor, action) and are throttled.
    ///
    /// # Errors
    /// [`IntentError::SecondFactorRequired`] when the requirement is not met; the proof's own
    /// error when it is wrong; [`IntentError::RateLimited`]/[`IntentError::Locked`] while
    /// throttled.
    pub fn authorize(
        &mut self,
        action: Action,
        request_digest: &[u8; 32],
        proof: &FactorProof<'_>,
        now: u64,
    ) -> Result<Authorization, IntentError> {
        let used = self.verify_proof(action, request_digest, proof, now)?;
        let enabled = self.enabled_factors();
        let satisfied = match self.policy.requirement(action, &enabled) {
            Requirement::None => true,
            Requirement::AnyFactor => used.is_some(),
            Requirement::Factor(f) => {
                if !enabled.contains(&f) {
                    return Err(IntentError::FactorNotEnabled(f));
                }
                matches!(
                    (f, used),
                    (Factor::Totp, Some(ProofUsed::Totp))
                        | (Factor::Passkey, Some(ProofUsed::Passkey))
                        | (_, Some(ProofUsed::RecoveryCode))
                )
            }
        };
        if !satisfied {
            return Err(IntentError::SecondFactorRequired { action });
        }
        Ok(Authorization {
            user: self.user,
            action,
            request_digest: *request_digest,
            proof: used,
        })
    }

    fn verify_proof(
        &mut self,
        action: Action,
        request_digest: &[u8; 32],
        proof: &FactorProof<'_>,
        now: u64,
    ) -> Result<Option<ProofUsed>, IntentError> {
        match proof {
            FactorProof::None => Ok(None),
            FactorProof::Totp(code) => {
                let key = AttemptKey {
                    kind: AttemptKind::Totp,
                    action: Some(action),
                };
                let Some(totp) = self.totp.as_mut() else {
                    return Err(IntentError::FactorNotEnabled(Factor::Totp));
                };
                self.rate.check(key, &self.rate_policy, now)?;
                match totp.verify(code, now) {
                    Ok(()) => {
                        self.rate.record_success(key);
                        Ok(Some(ProofUsed::Totp))
                    }
                    Err(e) => {
                        self.rate.record_failure(key, now);
                        Err(e)
                    }
                }
            }
            FactorProof::Passkey { rp, assertion } => {
                let key = AttemptKey {
                    kind: AttemptKind::Passkey,
                    action: Some(action),
                };
                if self.passkeys.is_empty() {
                    return Err(IntentError::FactorNotEnabled(Factor::Passkey));
                }
                self.rate.check(key, &self.rate_policy, now)?;
                let result = if self.used_passkey_challenges.contains(request_digest) {
                    Err(IntentError::ChallengeMismatch)
                } else {
                    match self
                        .passkeys
                        .iter_mut()
                        .find(|c| c.id == assertion.credential_id)
                    {
                        None => Err(IntentError::UnknownCredential),
                        Some(cred) => verify_assertion(rp, cred, request_digest, assertion)
                            .map(|count| cred.sign_count = count),
                    }
                };
                match result {
                    Ok(()) => {
                        self.rate.record_success(key);
                        if self.used_passkey_challenges.len() >= USED_PASSKEY_CHALLENGES {
                            self.used_passkey_challenges.pop_front();
                        }
                        self.used_passkey_challenges.push_back(*request_digest);
                        Ok(Some(ProofUsed::Passkey))
                    }
                    Err(e) => {
                        self.rate.record_failure(key, now);
                        Err(e)
                    }
                }
            }
            FactorProof::RecoveryCode(code) => {
                if !action.recovery_code_allowed() {
                    return Err(IntentError::SecondFactorRequired { action });
                }
                let key = AttemptKey {
                    kind: AttemptKind::RecoveryCode,
                    action: None,
                };
                self.rate.check(key, &self.rate_policy, now)?;
                match self.recovery.consume(self.user, code) {
                    Ok(()) => {
                        self.rate.record_success(key);
                        // A recovery code replaces a lost factor: it lifts factor locks too.
                        self.rate.clear_factor_counters();
                        Ok(Some(ProofUsed::RecoveryCode))
                    }
                    Err(e) => {
                        self.rate.record_failure(key, now);
                        Err(e)
                    }
                }
            }
        }
    }

    fn check_auth(&self, auth: &Authorization, action: Action) -> Result<(), IntentError> {
        if auth.user != self.user || auth.action != action {
            return Err(IntentError::AuthorizationMismatch);
        }
        Ok(())
    }

    /// Sets (or with `None` removes) the user's override for `action`. Needs an authorization
    /// of [`Action::ChangePolicy`].
    ///
    /// # Errors
    /// [`IntentError::AuthorizationMismatch`]; [`IntentError::InvalidInput`] for actions whose
    /// requirement is fixed.
    pub fn set_requirement(
        &mut self,
        action: Action,
        requirement: Option<Requirement>,
        auth: Authorization,
    ) -> Result<(), IntentError> {
        self.check_auth(&auth, Action::ChangePolicy)?;
        if matches!(action, Action::DisableFactor(_) | Action::ChangePolicy) {
            return Err(IntentError::InvalidInput {
                field: "action",
                reason: "its requirement is fixed by design",
            });
        }
        match requirement {
            Some(r) => {
                self.policy.overrides.insert(action, r);
            }
            None => {
                self.policy.overrides.remove(&action);
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ whitelist

    /// The token whitelist.
    #[must_use]
    pub fn whitelist(&self) -> &Whitelist {
        &self.whitelist
    }

    /// Turns the whitelist on (tightening: no factor needed).
    pub fn enable_whitelist(&mut self) {
        self.whitelist.enabled = true;
    }

    /// Turns the whitelist off. Needs an authorization of [`Action::ChangePolicy`].
    ///
    /// # Errors
    /// [`IntentError::AuthorizationMismatch`].
    pub fn disable_whitelist(&mut self, auth: Authorization) -> Result<(), IntentError> {
        self.check_auth(&auth, Action::ChangePolicy)?;
        self.whitelist.enabled = false;
        Ok(())
    }

    /// Adds a mint. Needs an authorization of [`Action::AddToWhitelist`].
    ///
    /// # Errors
    /// [`IntentError::AuthorizationMismatch`]; [`IntentError::TooLong`] when full.
    pub fn add_to_whitelist(
        &mut self,
        mint: [u8; 32],
        auth: Authorization,
    ) -> Result<(), IntentError> {
        self.check_auth(&auth, Action::AddToWhitelist)?;
        if self.whitelist.mints.len() >= MAX_WHITELIST_LEN && !self.whitelist.mints.contains(&mint)
        {
            return Err(IntentError::TooLong {
                field: "whitelist",
                max: MAX_WHITELIST_LEN,
            });
        }
        self.whitelist.mints.insert(mint);
        Ok(())
    }

    /// Removes a mint. Needs an authorization of [`Action::RemoveFromWhitelist`] (by default
    /// no factor).
    ///
    /// # Errors
    /// [`IntentError::AuthorizationMismatch`].
    pub fn remove_from_whitelist(
        &mut self,
        mint: &[u8; 32],
        auth: Authorization,
    ) -> Result<bool, IntentError> {
        self.check_auth(&auth, Action::RemoveFromWhitelist)?;
        Ok(self.whitelist.mints.remove(mint))
    }

    /// Checks the mints a trade touches against the whitelist.
    ///
    /// # Errors
    /// [`IntentError::MintNotWhitelisted`].
    pub fn check_trade_mints(&self, mints: &[[u8; 32]]) -> Result<(), IntentError> {
        self.whitelist.check_trade(mints)
    }

    // ------------------------------------------------------------------ TOTP

    /// Starts TOTP enrollment: draws a secret and returns the URI/QR for the app. The factor is
    /// enabled only once [`UserState::confirm_totp`] sees a valid code. Needs an authorization
    /// of [`Action::EnableFactor`]`(Totp)` (which needs an existing factor when one is enabled).
    ///
    /// # Errors
    /// [`IntentError::FactorAlreadyEnabled`], [`IntentError::AuthorizationMismatch`], invalid
    /// parameters or names, RNG failure.
    pub fn begin_totp_enrollment<R: TryCryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        params: TotpParams,
        issuer: &str,
        account: &str,
        auth: Authorization,
        now: u64,
    ) -> Result<TotpEnrollment, IntentError> {
        self.check_auth(&auth, Action::EnableFactor(Factor::Totp))?;
        if self.totp.is_some() {
            return Err(IntentError::FactorAlreadyEnabled(Factor::Totp));
        }
        let factor = TotpFactor::generate(rng, params)?;
        let enrollment = TotpEnrollment::new(&factor, issuer, account)?;
        self.totp_pending = Some((factor, now));
        Ok(enrollment)
    }

    /// Confirms TOTP enrollment with a code from the app; enables the factor.
    ///
    /// # Errors
    /// [`IntentError::NoPendingEnrollment`] (none, or older than
    /// [`TOTP_ENROLLMENT_TTL_SECS`]); [`IntentError::TotpInvalid`] (counted, throttled).
    pub fn confirm_totp(&mut self, code: &str, now: u64) -> Result<(), IntentError> {
        let key = AttemptKey {
            kind: AttemptKind::Totp,
            action: Some(Action::EnableFactor(Factor::Totp)),
        };
        match &self.totp_pending {
            Some((_, started)) if now < started.saturating_add(TOTP_ENROLLMENT_TTL_SECS) => {}
            _ => {
                self.totp_pending = None;
                return Err(IntentError::NoPendingEnrollment(Factor::Totp));
            }
        }
        self.rate.check(key, &self.rate_policy, now)?;
        let Some((factor, _)) = self.totp_pending.as_mut() else {
            return Err(IntentError::NoPendingEnrollment(Factor::Totp));
        };
        match factor.verify(code, now) {
            Ok(()) => {
                self.rate.record_success(key);
                self.totp = self.totp_pending.take().map(|(f, _)| f);
                Ok(())
            }
            Err(e) => {
                self.rate.record_failure(key, now);
                Err(e)
            }
        }
    }

    /// Disables a factor (for passkeys: removes every passkey). Needs an authorization of
    /// [`Action::DisableFactor`]`(factor)`, which needs that factor (or a recovery code).
    ///
    /// # Errors
    /// [`IntentError::AuthorizationMismatch`], [`IntentError::FactorNotEnabled`].
    pub fn disable_factor(
        &mut self,
        factor: Factor,
        auth: Authorization,
    ) -> Result<(), IntentError> {
        self.check_auth(&auth, Action::DisableFactor(factor))?;
        match factor {
            Factor::Totp => {
                if self.totp.take().is_none() {
                    return Err(IntentError::FactorNotEnabled(factor));
                }
            }
            Factor::Passkey => {
                if self.passkeys.is_empty() {
                    return Err(IntentError::FactorNotEnabled(factor));
                }
                self.passkeys.clear();
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ passkeys

    /// Registers a passkey from a `navigator.credentials.create()` response whose challenge is
    /// `auth`'s request digest. Needs an authorization of [`Action::EnableFactor`]`(Passkey)`.
    ///
    /// # Errors
    /// Any WebAuthn check; [`IntentError::CredentialAlreadyRegistered`];
    /// [`IntentError::TooLong`] beyond [`MAX_PASSKEYS`].
    pub fn register_passkey(
        &mut self,
        rp: &RelyingParty,
        client_data_json: &[u8],
        attestation_object: &[u8],
        label: &str,
        auth: Authorization,
        now: u64,
    ) -> Result<&PasskeyCredential, IntentError> {
        self.check_auth(&auth, Action::EnableFactor(Factor::Passkey))?;
        if self.passkeys.len() >= MAX_PASSKEYS {
            return Err(IntentError::TooLong {
                field: "passkeys",
                max: MAX_PASSKEYS,
            });
        }
        let cred = verify_registration(
            rp,
            &auth.request_digest,
            client_data_json,
            attestation_object,
            label,
            now,
        )?;
        if self.passkeys.iter().any(|c| c.id == cred.id) {
            return Err(IntentError::CredentialAlreadyRegistered);
        }
        self.passkeys.push(cred);
        let last = self.passkeys.len() - 1;
        Ok(&self.passkeys[last])
    }

    /// The registered passkeys.
    #[must_use]
    pub fn passkeys(&self) -> &[PasskeyCredential] {
        &self.passkeys
    }

    /// Removes one passkey. Needs an authorization of [`Action::DisableFactor`]`(Passkey)`.
    ///
    /// # Errors
    /// [`IntentError::AuthorizationMismatch`], [`IntentError::UnknownCredential`].
    pub fn remove_passkey(
        &mut self,
        credential_id: &[u8],
        auth: Authorization,
    ) -> Result<(), IntentError> {
        self.check_auth(&auth, Action::DisableFactor(Factor::Passkey))?;
        let before = self.passkeys.len();
        self.passkeys.retain(|c| c.id != credential_id);
        if self.passkeys.len() == before {
            return Err(IntentError::UnknownCredential);
        }
        Ok(())
    }

    // ------------------------------------------------------------------ recovery codes

    /// Generates a new set of recovery codes (replacing any old set) to show the user once.
    /// Needs an authorization of [`Action::ManageRecoveryCodes`].
    ///
    /// # Errors
    /// [`IntentError::AuthorizationMismatch`], RNG failure.
    pub fn generate_recovery_codes<R: TryCryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        auth: Authorization,
    ) -> Result<RecoveryCodes, IntentError> {
        self.check_auth(&auth, Action::ManageRecoveryCodes)?;
        self.recovery.generate(rng, self.user)
    }

    /// Unused recovery codes left.
    #[must_use]
    pub fn recovery_codes_remaining(&self) -> usize {
        self.recovery.remaining()
    }

    // ------------------------------------------------------------------ seed backup

    /// Records that the seed phrase (of `word_count` words) is being shown for the first and only
    /// time, and returns the `k` positions to ask for.
    ///
    /// # Errors
    /// [`IntentError::SeedAlreadyShown`] after the first time; invalid counts; RNG failure.
    pub fn begin_seed_backup<R: TryCryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        word_count: usize,
        k: usize,
    ) -> Result<SeedQuiz, IntentError> {
        self.seed_backup.start(rng, word_count, k)
    }

    /// Checks quiz answers against the phrase (which the caller decrypts for this check only).
    /// Wrong answers count as failed attempts and are throttled.
    ///
    /// # Errors
    /// [`IntentError::QuizWrong`], [`IntentError::NoQuizPending`], throttling errors.
    pub fn answer_seed_quiz(
        &mut self,
        phrase: &[&str],
        answers: &[&str],
        now: u64,
    ) -> Result<(), IntentError> {
        let key = AttemptKey {
            kind: AttemptKind::SeedQuiz,
            action: None,
        };
        self.rate.check(key, &self.rate_policy, now)?;
        match self.seed_backup.answer(phrase, answers, now) {
            Ok(()) => {
                self.rate.record_success(key);
                Ok(())
            }
            Err(IntentError::QuizWrong) => {
                self.rate.record_failure(key, now);
                Err(IntentError::QuizWrong)
            }
            Err(e) => Err(e),
        }
    }

    /// The seed-backup state.
    #[must_use]
    pub fn seed_backup(&self) -> &SeedBackup {
        &self.seed_backup
    }

    /// Allows showing the seed phrase again: refused while no factor is enabled, and needs an
    /// authorization of [`Action::ExportSeed`] that a TOTP code or passkey satisfied, whatever
    /// the policy overrides say.
    ///
    /// # Errors
    /// [`IntentError::NoSecondFactorEnabled`], [`IntentError::SecondFactorRequired`],
    /// [`IntentError::AuthorizationMismatch`].
    pub fn authorize_seed_reveal(&self, auth: Authorization) -> Result<(), IntentError> {
        if self.enabled_factors().is_empty() {
            return Err(IntentError::NoSecondFactorEnabled);
        }
        self.check_auth(&auth, Action::ExportSeed)?;
        match auth.proof {
            Some(ProofUsed::Totp | ProofUsed::Passkey) => Ok(()),
            _ => Err(IntentError::SecondFactorRequired {
                action: Action::ExportSeed,
            }),
        }
    }

    // ------------------------------------------------------------------ rate limits

    /// Failed attempts counted under `key`.
    #[must_use]
    pub fn failed_attempts(&self, key: AttemptKey) -> u32 {
        self.rate.failures(key)
    }

    /// Clears every failure counter and lock. An operator action: call it only after the user
    /// proved who they are out of band.
    pub fn operator_unlock_all(&mut self) {
        self.rate.clear_all();
    }

    // ------------------------------------------------------------------ housekeeping

    /// Forgets closed challenges and inactive intents past their retention times.
    pub fn prune(&mut self, now: u64) {
        self.challenges.prune(now);
        self.intents.prune(now);
    }

    // ------------------------------------------------------------------ encoding

    /// Encodes the state (format in `SPEC.md`, "State encoding"). The bytes include TOTP secrets:
    /// they are returned zeroizing and must be stored sealed.
    #[must_use]
    pub fn encode(&self) -> Zeroizing<Vec<u8>> {
        let mut w = Writer::new();
        w.fixed(&STATE_MAGIC);
        w.u16(STATE_VERSION);
        w.u64(self.user.0);
        self.rate_policy.encode(&mut w);
        w.len(self.challenges.records.len());
        for r in &self.challenges.records {
            r.encode(&mut w);
        }
        w.u64(self.intents.next_id);
        w.len(self.intents.intents.len());
        for i in &self.intents.intents {
            i.encode(&mut w);
        }
        match &self.totp {
            None => w.u8(0),
            Some(t) => {
                w.u8(1);
                t.encode(&mut w);
            }
        }
        match &self.totp_pending {
            None => w.u8(0),
            Some((t, at)) => {
                w.u8(1);
                t.encode(&mut w);
                w.u64(*at);
            }
        }
        w.len(self.passkeys.len());
        for p in &self.passkeys {
            p.encode(&mut w);
        }
        w.len(self.used_passkey_challenges.len());
        for c in &self.used_passkey_challenges {
            w.fixed(c);
        }
        self.recovery.encode(&mut w);
        self.policy.encode(&mut w);
        self.whitelist.encode(&mut w);
        self.seed_backup.encode(&mut w);
        self.rate.encode(&mut w);
        Zeroizing::new(w.into_vec())
    }

    /// Strictly decodes a state produced by [`UserState::encode`]: right magic and version,
    /// every length within its limit, every enum tag known, canonical order of sorted
    /// collections, no duplicate ids, no trailing bytes.
    ///
    /// # Errors
    /// [`IntentError::Malformed`], [`IntentError::Truncated`],
    /// [`IntentError::UnsupportedVersion`], [`IntentError::TrailingBytes`].
    pub fn decode(bytes: &[u8]) -> Result<Self, IntentError> {
        let mut r = Reader::new(bytes);
        if r.fixed::<4>()? != STATE_MAGIC {
            return Err(IntentError::Malformed("not a kms-intent state (bad magic)"));
        }
        let version = r.u16()?;
        if version != STATE_VERSION {
            return Err(IntentError::UnsupportedVersion(version));
        }
        let user = UserId(r.u64()?);
        let rate_policy = RateLimitPolicy::decode(&mut r)?;
        let n = r.len(MAX_CHALLENGE_RECORDS, "too many challenges")?;
        let mut records: Vec<ChallengeRecord> = Vec::with_capacity(n);
        for _ in 0..n {
            let c = ChallengeRecord::decode(&mut r)?;
            if records.iter().any(|o| o.id == c.id) {
                return Err(IntentError::Malformed("duplicate challenge id"));
            }
            records.push(c);
        }
        let next_id = r.u64()?;
        let n = r.len(MAX_INTENTS, "too many intents")?;
        let mut intents: Vec<StandingIntent> = Vec::with_capacity(n);
        for _ in 0..n {
            let i = StandingIntent::decode(&mut r)?;
            if i.id.0 >= next_id || intents.last().is_some_and(|p| p.id >= i.id) {
                return Err(IntentError::Malformed(
                    "intent ids not ascending below the next id",
                ));
            }
            intents.push(i);
        }
        let totp = if r.bool()? {
            Some(TotpFactor::decode(&mut r)?)
        } else {
            None
        };
        let totp_pending = if r.bool()? {
            Some((TotpFactor::decode(&mut r)?, r.u64()?))
        } else {
            None
        };
        let n = r.len(MAX_PASSKEYS, "too many passkeys")?;
        let mut passkeys: Vec<PasskeyCredential> = Vec::with_capacity(n);
        for _ in 0..n {
            let p = PasskeyCredential::decode(&mut r)?;
            if passkeys.iter().any(|o| o.id == p.id) {
                return Err(IntentError::Malformed("duplicate passkey id"));
            }
            passkeys.push(p);
        }
        let n = r.len(USED_PASSKEY_CHALLENGES, "too many used passkey challenges")?;
        let mut used_passkey_challenges = VecDeque::with_capacity(n);
        for _ in 0..n {
            used_passkey_challenges.push_back(r.fixed()?);
        }
        let recovery = RecoveryBook::decode(&mut r)?;
        let policy = Policy::decode(&mut r)?;
        let whitelist = Whitelist::decode(&mut r)?;
        let seed_backup = SeedBackup::decode(&mut r)?;
        let rate = RateLimits::decode(&mut r)?;
        r.finish()?;
        Ok(Self {
            user,
            rate_policy,
            challenges: ChallengeBook { records },
            intents: IntentBook { next_id, intents },
            totp,
            totp_pending,
            passkeys,
            used_passkey_challenges,
            recovery,
            policy,
            whitelist,
            seed_backup,
            rate,
        })
    }
}

fn record_remember_terms(record: &ChallengeRecord) -> Option<&crate::intent::IntentTerms> {
    let (index, _) = record.outcome?;
    let decision = record.decisions.get(usize::from(index))?;
    if decision.kind != DecisionKind::ApproveAndRemember || record.intent_created {
        return None;
    }
    record.intent.as_ref()
}
