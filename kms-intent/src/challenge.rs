//! Commit-reveal challenges: one random token per decision, only hashes kept.

use core::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand_core::TryCryptoRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::digest::fill_random;
use crate::error::IntentError;
use crate::intent::IntentTerms;
use crate::wire::{Reader, Writer};

/// Domain-separation string of the stored token hash.
pub const TOKEN_HASH_DOMAIN: &[u8] = b"kms-intent/v1/token-hash";
/// Version character that starts every approval token.
pub const TOKEN_VERSION: char = '1';
/// Length in characters of an encoded approval token (fits a 64-byte chat callback).
pub const TOKEN_LEN: usize = 56;
/// Fewest decisions a challenge offers.
pub const MIN_DECISIONS: usize = 2;
/// Most decisions a challenge offers.
pub const MAX_DECISIONS: usize = 8;
/// Longest decision label, in bytes.
pub const MAX_LABEL_LEN: usize = 64;
/// Longest description, in bytes.
pub const MAX_DESCRIPTION_LEN: usize = 4096;
/// Longest lifetime of a challenge, in seconds (7 days).
pub const MAX_CHALLENGE_LIFETIME_SECS: u64 = 7 * 24 * 3600;
/// Most open (undecided, unexpired) challenges per user.
pub const MAX_OPEN_CHALLENGES: usize = 256;
/// Most challenge records (open and closed) kept per user.
pub const MAX_CHALLENGE_RECORDS: usize = 512;
/// How long a closed (decided or expired) challenge is remembered, so that a late or repeated
/// token gets `AlreadyDecided`/`Expired` rather than `Invalid` (1 day).
pub const CLOSED_CHALLENGE_RETENTION_SECS: u64 = 24 * 3600;

const TOKEN_RAW_LEN: usize = 8 + 1 + 32;

/// A user, as the integrator identifies them (for a chat bot: the chat platform's user id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(pub u64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "user {}", self.0)
    }
}

/// A challenge's public identifier: 8 random bytes, unique among the user's challenges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChallengeId(pub [u8; 8]);

impl fmt::Display for ChallengeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// What a decision means to the signer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DecisionKind {
    /// Approve this request.
    Approve,
    /// Reject this request.
    Reject,
    /// Approve this request and create the standing intent the challenge proposes.
    ApproveAndRemember,
    /// An integrator-defined decision, by code.
    Custom(u16),
}

impl DecisionKind {
    /// Whether this decision approves the request.
    #[must_use]
    pub fn approves(self) -> bool {
        matches!(self, Self::Approve | Self::ApproveAndRemember)
    }

    pub(crate) fn encode(self, w: &mut Writer) {
        match self {
            Self::Approve => w.u8(1),
            Self::Reject => w.u8(2),
            Self::ApproveAndRemember => w.u8(3),
            Self::Custom(c) => {
                w.u8(4);
                w.u16(c);
            }
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, IntentError> {
        Ok(match r.u8()? {
            1 => Self::Approve,
            2 => Self::Reject,
            3 => Self::ApproveAndRemember,
            4 => Self::Custom(r.u16()?),
            _ => return Err(IntentError::Malformed("unknown decision kind")),
        })
    }
}

/// One decision a challenge offers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecisionSpec {
    /// What it means.
    pub kind: DecisionKind,
    /// The button label the user sees (1 to [`MAX_LABEL_LEN`] bytes).
    pub label: String,
}

impl DecisionSpec {
    /// A decision of `kind` labelled `label`.
    pub fn new(kind: DecisionKind, label: impl Into<String>) -> Self {
        Self {
            kind,
            label: label.into(),
        }
    }
}

/// What the signer asks the user to decide.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChallengeSpec {
    /// The request the decision is bound to (see [`crate::request_digest`]).
    pub request_digest: [u8; 32],
    /// The human-readable description, written by the signer (at most
    /// [`MAX_DESCRIPTION_LEN`] bytes).
    pub description: String,
    /// Unix time (seconds) from which the challenge is expired.
    pub expires_at: u64,
    /// The decisions offered, [`MIN_DECISIONS`] to [`MAX_DECISIONS`], of distinct kinds.
    pub decisions: Vec<DecisionSpec>,
    /// A standing intent that a [`DecisionKind::ApproveAndRemember`] decision creates.
    pub intent: Option<IntentTerms>,
}

impl ChallengeSpec {
    /// The usual approve/reject pair.
    pub fn approve_reject(
        request_digest: [u8; 32],
        description: impl Into<String>,
        expires_at: u64,
    ) -> Self {
        Self {
            request_digest,
            description: description.into(),
            expires_at,
            decisions: vec![
                DecisionSpec::new(DecisionKind::Approve, "Approve"),
                DecisionSpec::new(DecisionKind::Reject, "Reject"),
            ],
            intent: None,
        }
    }
}

/// A decision token, as sent to the user (a secret until used). At most [`TOKEN_LEN`] ASCII
/// characters; zeroized on drop; `Debug` does not print it.
pub struct ApprovalToken(Zeroizing<String>);

impl ApprovalToken {
    /// The token text, to put in a chat button's callback data.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApprovalToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApprovalToken").finish_non_exhaustive()
    }
}

/// One button of an issued challenge.
#[derive(Debug)]
#[non_exhaustive]
pub struct Button {
    /// Its label.
    pub label: String,
    /// Its meaning.
    pub kind: DecisionKind,
    /// The token that selects it.
    pub token: ApprovalToken,
}

/// What goes to the user: the description and one (label, token) pair per decision.
#[derive(Debug)]
#[non_exhaustive]
pub struct IssuedChallenge {
    /// The challenge's id.
    pub id: ChallengeId,
    /// The description to show.
    pub description: String,
    /// Unix time from which it is expired.
    pub expires_at: u64,
    /// The buttons, in the order of the spec's decisions.
    pub buttons: Vec<Button>,
}

/// The outcome of a resolved token.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Resolution {
    /// The challenge that was decided.
    pub challenge_id: ChallengeId,
    /// The request digest it was bound to.
    pub request_digest: [u8; 32],
    /// The decision taken.
    pub decision: DecisionKind,
    /// That decision's label.
    pub label: String,
    /// When it was decided (unix seconds).
    pub decided_at: u64,
}

/// The parts of a token: challenge id, decision index and the 32-byte secret (zeroized on drop).
pub struct ParsedToken {
    challenge_id: ChallengeId,
    decision_index: u8,
    secret: [u8; 32],
}

impl Drop for ParsedToken {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl fmt::Debug for ParsedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedToken")
            .field("challenge_id", &self.challenge_id)
            .field("decision_index", &self.decision_index)
            .finish_non_exhaustive()
    }
}

impl ParsedToken {
    /// Strictly decodes a token: exactly [`TOKEN_LEN`] characters, version [`TOKEN_VERSION`],
    /// then canonical unpadded base64url of `challenge_id[8] || decision_index[1] || secret[32]`.
    ///
    /// # Errors
    /// [`IntentError::MalformedToken`] for anything else.
    pub fn parse(token: &str) -> Result<Self, IntentError> {
        let bytes = token.as_bytes();
        if bytes.len() != TOKEN_LEN || bytes[0] != TOKEN_VERSION as u8 {
            return Err(IntentError::MalformedToken);
        }
        let mut raw = Zeroizing::new([0u8; TOKEN_RAW_LEN + 2]);
        let n = URL_SAFE_NO_PAD
            .decode_slice(&bytes[1..], &mut raw[..])
            .map_err(|_| IntentError::MalformedToken)?;
        if n != TOKEN_RAW_LEN {
            return Err(IntentError::MalformedToken);
        }
        let mut id = [0u8; 8];
        id.copy_from_slice(&raw[..8]);
        let mut secret = [0u8; 32];
        secret.copy_from_slice(&raw[9..TOKEN_RAW_LEN]);
        Ok(Self {
            challenge_id: ChallengeId(id),
            decision_index: raw[8],
            secret,
        })
    }

    /// The challenge the token names.
    #[must_use]
    pub fn challenge_id(&self) -> ChallengeId {
        self.challenge_id
    }

    /// The decision index the token names.
    #[must_use]
    pub fn decision_index(&self) -> u8 {
        self.decision_index
    }

    /// Encodes the token again (the inverse of [`ParsedToken::parse`]).
    #[must_use]
    pub fn encode(&self) -> ApprovalToken {
        encode_token(self.challenge_id, self.decision_index, &self.secret)
    }
}

fn encode_token(id: ChallengeId, index: u8, secret: &[u8; 32]) -> ApprovalToken {
    let mut raw = Zeroizing::new([0u8; TOKEN_RAW_LEN]);
    raw[..8].copy_from_slice(&id.0);
    raw[8] = index;
    raw[9..].copy_from_slice(secret);
    let mut s = Zeroizing::new(String::with_capacity(TOKEN_LEN));
    s.push(TOKEN_VERSION);
    URL_SAFE_NO_PAD.encode_string(&raw[..], &mut s);
    ApprovalToken(s)
}

fn token_hash(
    user: UserId,
    id: ChallengeId,
    index: u8,
    request_digest: &[u8; 32],
    secret: &[u8; 32],
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((TOKEN_HASH_DOMAIN.len() as u64).to_be_bytes());
    h.update(TOKEN_HASH_DOMAIN);
    h.update(user.0.to_be_bytes());
    h.update(id.0);
    h.update([index]);
    h.update(request_digest);
    h.update(secret);
    h.finalize().into()
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredDecision {
    pub(crate) kind: DecisionKind,
    pub(crate) label: String,
    pub(crate) token_hash: [u8; 32],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChallengeRecord {
    pub(crate) id: ChallengeId,
    pub(crate) request_digest: [u8; 32],
    pub(crate) description: String,
    pub(crate) created_at: u64,
    pub(crate) expires_at: u64,
    pub(crate) decisions: Vec<StoredDecision>,
    /// `(decision index, decided_at)` once decided.
    pub(crate) outcome: Option<(u8, u64)>,
    pub(crate) intent: Option<IntentTerms>,
    pub(crate) intent_created: bool,
}

impl ChallengeRecord {
    fn closed_at(&self) -> Option<u64> {
        self.outcome.map(|(_, at)| at).or(Some(self.expires_at))
    }

    fn is_open(&self, now: u64) -> bool {
        self.outcome.is_none() && now < self.expires_at
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.fixed(&self.id.0);
        w.fixed(&self.request_digest);
        w.str(&self.description);
        w.u64(self.created_at);
        w.u64(self.expires_at);
        w.len(self.decisions.len());
        for d in &self.decisions {
            d.kind.encode(w);
            w.str(&d.label);
            w.fixed(&d.token_hash);
        }
        match self.outcome {
            None => w.u8(0),
            Some((i, at)) => {
                w.u8(1);
                w.u8(i);
                w.u64(at);
            }
        }
        match &self.intent {
            None => w.u8(0),
            Some(t) => {
                w.u8(1);
                t.encode(w);
            }
        }
        w.bool(self.intent_created);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, IntentError> {
        let id = ChallengeId(r.fixed()?);
        let request_digest = r.fixed()?;
        let description = r.string(MAX_DESCRIPTION_LEN, "challenge description too long")?;
        let created_at = r.u64()?;
        let expires_at = r.u64()?;
        let n = r.len(MAX_DECISIONS, "too many decisions")?;
        if n < MIN_DECISIONS {
            return Err(IntentError::Malformed("too few decisions"));
        }
        let mut decisions = Vec::with_capacity(n);
        for _ in 0..n {
            let kind = DecisionKind::decode(r)?;
            let label = r.string(MAX_LABEL_LEN, "decision label too long")?;
            let token_hash = r.fixed()?;
            decisions.push(StoredDecision {
                kind,
                label,
                token_hash,
            });
        }
        let outcome = if r.bool()? {
            let i = r.u8()?;
            if usize::from(i) >= n {
                return Err(IntentError::Malformed("decision index out of range"));
            }
            Some((i, r.u64()?))
        } else {
            None
        };
        let intent = if r.bool()? {
            Some(IntentTerms::decode(r)?)
        } else {
            None
        };
        let intent_created = r.bool()?;
        Ok(Self {
            id,
            request_digest,
            description,
            created_at,
            expires_at,
            decisions,
            outcome,
            intent,
            intent_created,
        })
    }
}

/// A user's challenges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ChallengeBook {
    pub(crate) records: Vec<ChallengeRecord>,
}

fn validate_spec(spec: &ChallengeSpec, now: u64) -> Result<(), IntentError> {
    if spec.description.len() > MAX_DESCRIPTION_LEN {
        return Err(IntentError::TooLong {
            field: "description",
            max: MAX_DESCRIPTION_LEN,
        });
    }
    if spec.decisions.len() < MIN_DECISIONS {
        return Err(IntentError::InvalidInput {
            field: "decisions",
            reason: "a challenge needs at least two decisions",
        });
    }
    if spec.decisions.len() > MAX_DECISIONS {
        return Err(IntentError::TooLong {
            field: "decisions",
            max: MAX_DECISIONS,
        });
    }
    for (i, d) in spec.decisions.iter().enumerate() {
        if d.label.is_empty() {
            return Err(IntentError::InvalidInput {
                field: "label",
                reason: "empty",
            });
        }
        if d.label.len() > MAX_LABEL_LEN {
            return Err(IntentError::TooLong {
                field: "label",
                max: MAX_LABEL_LEN,
            });
        }
        if spec.decisions[..i].iter().any(|e| e.kind == d.kind) {
            return Err(IntentError::InvalidInput {
                field: "decisions",
                reason: "two decisions of the same kind",
            });
        }
    }
    if spec.expires_at <= now {
        return Err(IntentError::InvalidInput {
            field: "expires_at",
            reason: "not in the future",
        });
    }
    if spec.expires_at - now > MAX_CHALLENGE_LIFETIME_SECS {
        return Err(IntentError::InvalidInput {
            field: "expires_at",
            reason: "further than the maximum challenge lifetime",
        });
    }
    let has_remember = spec
        .decisions
        .iter()
        .any(|d| d.kind == DecisionKind::ApproveAndRemember);
    match &spec.intent {
        Some(terms) => terms.validate(now)?,
        None if has_remember => {
            return Err(IntentError::InvalidInput {
                field: "intent",
                reason: "an approve-and-remember decision needs intent terms",
            });
        }
        None => {}
    }
    Ok(())
}

impl ChallengeBook {
    /// Creates a challenge. Costs one RNG draw of 8 + 32·decisions bytes and one SHA-256 per
    /// decision.
    pub(crate) fn create<R: TryCryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        user: UserId,
        spec: &ChallengeSpec,
        now: u64,
    ) -> Result<IssuedChallenge, IntentError> {
        validate_spec(spec, now)?;
        self.prune(now);
        if self.records.iter().filter(|r| r.is_open(now)).count() >= MAX_OPEN_CHALLENGES {
            return Err(IntentError::TooManyChallenges {
                max: MAX_OPEN_CHALLENGES,
            });
        }
        if self.records.len() >= MAX_CHALLENGE_RECORDS {
            // Forget the closed challenge that closed first.
            let oldest = self
                .records
                .iter()
                .enumerate()
                .filter(|(_, r)| !r.is_open(now))
                .min_by_key(|(_, r)| r.closed_at())
                .map(|(i, _)| i);
            match oldest {
                Some(i) => {
                    self.records.remove(i);
                }
                None => {
                    return Err(IntentError::TooManyChallenges {
                        max: MAX_OPEN_CHALLENGES,
                    });
                }
            }
        }
        let mut id = ChallengeId([0; 8]);
        loop {
            fill_random(rng, &mut id.0)?;
            if !self.records.iter().any(|r| r.id == id) {
                break;
            }
        }
        let mut secret = Zeroizing::new([0u8; 32]);
        let mut decisions = Vec::with_capacity(spec.decisions.len());
        let mut buttons = Vec::with_capacity(spec.decisions.len());
        for (i, d) in spec.decisions.iter().enumerate() {
            // `validate_spec` bounds the count by MAX_DECISIONS (8), so the index fits a u8.
            let index = i as u8;
            fill_random(rng, &mut secret[..])?;
            decisions.push(StoredDecision {
                kind: d.kind,
                label: d.label.clone(),
                token_hash: token_hash(user, id, index, &spec.request_digest, &secret),
            });
            buttons.push(Button {
                label: d.label.clone(),
                kind: d.kind,
                token: encode_token(id, index, &secret),
            });
        }
        self.records.push(ChallengeRecord {
            id,
            request_digest: spec.request_digest,
            description: spec.description.clone(),
            created_at: now,
            expires_at: spec.expires_at,
            decisions,
            outcome: None,
            intent: spec.intent.clone(),
            intent_created: false,
        });
        Ok(IssuedChallenge {
            id,
            description: spec.description.clone(),
            expires_at: spec.expires_at,
            buttons,
        })
    }

    /// Resolves a token. The secret comparison is constant-time; the lookup of the challenge id
    /// (public, random) is not.
    pub(crate) fn resolve(
        &mut self,
        user: UserId,
        token: &str,
        now: u64,
    ) -> Result<Resolution, IntentError> {
        let parsed = ParsedToken::parse(token)?;
        let record = self
            .records
            .iter_mut()
            .find(|r| r.id == parsed.challenge_id)
            .ok_or(IntentError::Invalid)?;
        let index = usize::from(parsed.decision_index);
        let stored = record.decisions.get(index).ok_or(IntentError::Invalid)?;
        let presented = token_hash(
            user,
            parsed.challenge_id,
            parsed.decision_index,
            &record.request_digest,
            &parsed.secret,
        );
        if !bool::from(presented.ct_eq(&stored.token_hash)) {
            return Err(IntentError::Invalid);
        }
        if record.outcome.is_some() {
            return Err(IntentError::AlreadyDecided);
        }
        if now >= record.expires_at {
            return Err(IntentError::Expired);
        }
        record.outcome = Some((parsed.decision_index, now));
        Ok(Resolution {
            challenge_id: record.id,
            request_digest: record.request_digest,
            decision: stored.kind,
            label: stored.label.clone(),
            decided_at: now,
        })
    }

    /// Forgets closed challenges older than [`CLOSED_CHALLENGE_RETENTION_SECS`].
    pub(crate) fn prune(&mut self, now: u64) {
        self.records.retain(|r| {
            r.is_open(now)
                || r.closed_at()
                    .is_some_and(|at| now < at.saturating_add(CLOSED_CHALLENGE_RETENTION_SECS))
        });
    }

    pub(crate) fn get(&self, id: ChallengeId) -> Option<&ChallengeRecord> {
        self.records.iter().find(|r| r.id == id)
    }

    pub(crate) fn get_mut(&mut self, id: ChallengeId) -> Option<&mut ChallengeRecord> {
        self.records.iter_mut().find(|r| r.id == id)
    }

    pub(crate) fn open_count(&self, now: u64) -> usize {
        self.records.iter().filter(|r| r.is_open(now)).count()
    }
}
