//! The bus protocol, version 1: every request the business logic can make, every answer, and the
//! typed errors. Frames carry JSON envelopes (see `SPEC.md`): binary fields are base64 strings,
//! addresses and signatures base58.

use core::fmt;

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// The protocol version this crate speaks; every envelope carries it.
pub const PROTOCOL_VERSION: u16 = 1;

/// A user: the chat user id (for Telegram, the numeric user id).
pub type UserId = u64;

/// Binary data, base64 (standard alphabet, padded) on the wire.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Debug for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl Serialize for Bytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // An owned string: JSON may escape characters (`\/`), which a borrowed `&str` refuses.
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(Bytes)
            .map_err(|_| serde::de::Error::custom("not standard padded base64"))
    }
}

/// Secret text carried once (an imported key, a second-factor code): zeroized on drop, never
/// printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretText(Zeroizing<String>);

impl SecretText {
    /// Wraps secret text.
    pub fn new(text: impl Into<String>) -> Self {
        Self(Zeroizing::new(text.into()))
    }
    /// The text. Every call site is a place where the secret is read.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretText(..)")
    }
}

impl Serialize for SecretText {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self(Zeroizing::new(String::deserialize(d)?)))
    }
}

/// Which key of a user signs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WalletRef {
    /// Wallet `i` derived from the user's seed (`m/44'/501'/i'/0'`).
    Derived(u32),
    /// Imported legacy key in slot `i`.
    Imported(u32),
}

impl fmt::Display for WalletRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Derived(i) => write!(f, "wallet #{i}"),
            Self::Imported(i) => write!(f, "imported key #{i}"),
        }
    }
}

/// A second-factor proof sent with a decision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "factor", rename_all = "snake_case")]
pub enum Proof {
    /// The digits of the user's TOTP app.
    Totp {
        /// The code.
        code: SecretText,
    },
    /// A WebAuthn assertion whose challenge is the request digest of the pending challenge.
    Passkey {
        /// `rawId`.
        credential_id: Bytes,
        /// `response.clientDataJSON`.
        client_data_json: Bytes,
        /// `response.authenticatorData`.
        authenticator_data: Bytes,
        /// `response.signature`.
        signature: Bytes,
    },
    /// A recovery code (only to replace a lost factor).
    RecoveryCode {
        /// The code.
        code: SecretText,
    },
}

/// What an export carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportWhat {
    /// The seed (phrase) and every imported key.
    Seed,
    /// One imported key.
    Key {
        /// Its slot.
        slot: u32,
    },
}

/// A sign request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignRequest {
    /// The user.
    pub user: UserId,
    /// The key that signs; it must be the message's fee payer and only signer.
    pub wallet: WalletRef,
    /// Transaction type: a built-in module name (`sol-withdraw`) or a module's SHA-256 in hex.
    pub module: String,
    /// The module's parameters (the user's intent), in the module's canonical encoding.
    pub params: Bytes,
    /// The transaction message bytes to sign (legacy or v0).
    pub message: Bytes,
    /// The lookup-table addresses the message loads, base58, in the order the message numbers
    /// them (writable ones first). Empty when the message uses no tables.
    #[serde(default)]
    pub lookup: Vec<String>,
    /// What the business logic says the transaction does. Never shown to the user: the signer
    /// writes its own description from the bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_description: Option<String>,
}

/// A standing-intent proposal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentProposal {
    /// The user.
    pub user: UserId,
    /// The key the intent lets sign.
    pub wallet: WalletRef,
    /// Module name or hash.
    pub module: String,
    /// The module parameters every covered request must carry, byte for byte.
    pub params: Bytes,
    /// Largest amount of one request, in the unit the signer charges for the module (SPEC.md).
    pub per_transaction_limit: u64,
    /// Largest sum over the intent's life.
    pub cumulative_limit: u64,
    /// Most requests covered.
    pub max_uses: u32,
    /// Unix time (seconds) from which the intent is expired.
    pub valid_until: u64,
}

/// Everything the business logic can ask.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Request {
    /// Liveness check.
    Ping,
    /// New user: a fresh 24-word seed, wallet 0. The phrase goes to the user's chat once; the
    /// backup quiz follows there.
    CreateUser {
        /// The user.
        user: UserId,
    },
    /// The user's wallets (derived and imported).
    ListWallets {
        /// The user.
        user: UserId,
    },
    /// Derives (and remembers) wallet `index`.
    DeriveWallet {
        /// The user.
        user: UserId,
        /// The index.
        index: u32,
    },
    /// Imports a legacy key (solana-keygen JSON array or base58 keypair).
    ImportKey {
        /// The user.
        user: UserId,
        /// The key text.
        key: SecretText,
    },
    /// Signs a transaction (at once when a standing intent covers it, otherwise after the
    /// user's decision).
    Sign(SignRequest),
    /// The token a chat button carried, with a second factor where the action needs one.
    Decide {
        /// The user whose button it was.
        user: UserId,
        /// The token.
        token: SecretText,
        /// The second factor, where needed.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proof: Option<Proof>,
    },
    /// Proposes a standing intent; the user approves it in chat.
    CreateIntent(IntentProposal),
    /// The user's standing intents.
    ListIntents {
        /// The user.
        user: UserId,
    },
    /// Revokes a standing intent at once (no factor: it only removes authority).
    RevokeIntent {
        /// The user.
        user: UserId,
        /// The intent id.
        intent: u64,
    },
    /// Starts TOTP enrollment: the otpauth URI and QR code go to the user's chat.
    EnableTotp {
        /// The user.
        user: UserId,
        /// A factor, where one is already enabled.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proof: Option<Proof>,
    },
    /// Confirms TOTP enrollment with a code from the app.
    ConfirmTotp {
        /// The user.
        user: UserId,
        /// The code.
        code: SecretText,
    },
    /// Starts passkey registration: returns the WebAuthn challenge.
    BeginPasskey {
        /// The user.
        user: UserId,
    },
    /// Finishes passkey registration: the user approves it in chat (with an enabled factor,
    /// where one is), and only then is the passkey a factor.
    RegisterPasskey {
        /// The user.
        user: UserId,
        /// `response.clientDataJSON`.
        client_data_json: Bytes,
        /// `response.attestationObject`.
        attestation_object: Bytes,
        /// A label for the credential.
        label: String,
    },
    /// Adds a mint to the user's token whitelist (after the user's decision).
    WhitelistAdd {
        /// The user.
        user: UserId,
        /// The mint, base58.
        mint: String,
    },
    /// Removes a mint from the whitelist (after the user's decision).
    WhitelistRemove {
        /// The user.
        user: UserId,
        /// The mint, base58.
        mint: String,
    },
    /// Exports the seed or a key as an Argon2id backup (after the user's decision with a second
    /// factor). The backup password goes to the user's chat; the encrypted file comes back here.
    Export {
        /// The user.
        user: UserId,
        /// What to export.
        what: ExportWhat,
    },
    /// The last `count` audit-log lines (no secrets in them; user ids keyed-hashed).
    AuditTail {
        /// How many (at most 1000).
        count: u32,
    },
    /// The signer's sandbox as seen from inside the running signer.
    SignerStatus,
    /// What became of a challenge the user decides in chat: the answer the decision produced
    /// (`Signed`, `Rejected`, `IntentCreated`, `Exported`, …, or its typed error),
    /// [`Response::Waiting`] while it is open. Outcomes are kept ten minutes after the decision
    /// and are not kept across a signer restart.
    ChallengeOutcome {
        /// The user.
        user: UserId,
        /// Challenge id (hex), from [`Response::Pending`].
        challenge: String,
    },
}

/// A challenge waiting for the user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    /// Challenge id (hex).
    pub challenge: String,
    /// Unix time from which it is expired.
    pub expires_at: u64,
    /// The signer's description (the same text the user's chat shows).
    pub description: String,
    /// The second factor the decision needs (`totp`, `passkey`, `any`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor_required: Option<String>,
    /// The request digest (hex): what the user decides on, and the challenge a passkey
    /// assertion must sign.
    pub request_digest: String,
}

/// One wallet.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WalletInfo {
    /// Which key.
    pub wallet: WalletRef,
    /// Its address, base58.
    pub address: String,
}

/// One standing intent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IntentInfo {
    /// Its id.
    pub id: u64,
    /// `active`, `revoked`, `expired` or `exhausted`.
    pub status: String,
    /// Module hash (hex).
    pub module: String,
    /// Amount charged so far.
    pub spent: u64,
    /// Requests covered so far.
    pub uses: u32,
    /// Per-request limit.
    pub per_transaction_limit: u64,
    /// Cumulative limit.
    pub cumulative_limit: u64,
    /// Most requests.
    pub max_uses: u32,
    /// Expiry (unix seconds).
    pub valid_until: u64,
}

/// The sandbox as the running signer sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignerStatus {
    /// Signer process id.
    pub pid: u32,
    /// What lock-down applied (human-readable lines).
    pub lockdown: Vec<String>,
    /// What the probe observed, as `check: result` pairs.
    pub probe: Vec<(String, String)>,
    /// Whether the master key is held in a page-chain shield.
    pub master_key_shielded: bool,
    /// The signer's description key (Ed25519 public key, base58): what every challenge's
    /// description statement is signed with.
    #[serde(default)]
    pub description_key: String,
}

/// Every answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Response {
    /// Answer to [`Request::Ping`].
    Pong,
    /// A user was created; wallet 0's address. The quiz positions are public; the phrase went
    /// to the user's chat.
    UserCreated {
        /// Wallet 0, base58.
        address: String,
        /// One-based word positions the backup quiz asks.
        quiz_positions: Vec<usize>,
    },
    /// The user's wallets.
    Wallets {
        /// Derived and imported wallets.
        wallets: Vec<WalletInfo>,
    },
    /// One wallet.
    Wallet(WalletInfo),
    /// A signature.
    Signed {
        /// The signature, base58.
        signature: String,
        /// The signed transaction's wire bytes (signatures and message).
        transaction: Bytes,
        /// What authorized it: `intent <id>` or `challenge <id>`.
        authorized_by: String,
        /// The signer's description of what was signed.
        description: String,
    },
    /// The request waits for the user's decision in chat.
    Pending(Pending),
    /// The user rejected.
    Rejected {
        /// The challenge.
        challenge: String,
    },
    /// A standing intent was created.
    IntentCreated {
        /// Its id.
        intent: u64,
    },
    /// The user's intents.
    Intents {
        /// Oldest first.
        intents: Vec<IntentInfo>,
    },
    /// An encrypted backup (its password went to the user's chat).
    Exported {
        /// The Argon2id backup file.
        backup: Bytes,
    },
    /// A quiz answer was taken.
    QuizProgress {
        /// Positions still to answer.
        remaining: usize,
        /// Whether the backup is now confirmed.
        confirmed: bool,
    },
    /// TOTP enrollment went to the user's chat.
    TotpEnrollmentSent {
        /// Unix time until which it can be confirmed.
        confirm_before: u64,
    },
    /// The WebAuthn registration challenge.
    PasskeyChallenge {
        /// The 32-byte challenge.
        challenge: Bytes,
        /// The relying party id.
        rp_id: String,
    },
    /// Audit-log lines.
    AuditLines {
        /// One JSON entry per line.
        lines: Vec<String>,
    },
    /// The signer's sandbox.
    Status(SignerStatus),
    /// The request was carried out.
    Done {
        /// What was done.
        what: String,
    },
    /// The challenge is still open: the user has not decided yet.
    Waiting {
        /// The challenge.
        challenge: String,
        /// Unix time from which it is expired.
        expires_at: u64,
    },
}

/// The kind of a failure, for programs to match on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The frame was not a valid envelope or request.
    MalformedRequest,
    /// The frame was larger than the maximum; the connection is closed after this answer.
    FrameTooLarge,
    /// The envelope's version is not spoken here.
    UnsupportedVersion,
    /// A field is invalid (a bad address, parameters that do not decode, ...).
    InvalidInput,
    /// No such user.
    UnknownUser,
    /// The user already exists.
    UserExists,
    /// No such wallet or key.
    UnknownWallet,
    /// No module with that name or hash.
    UnknownModule,
    /// The module refused the transaction (the message says why).
    ShapeRefused,
    /// The transaction or message bytes do not parse.
    MalformedTransaction,
    /// The token is not valid (wrong, forged, another user's, or malformed).
    InvalidToken,
    /// The challenge expired.
    Expired,
    /// The challenge was already decided.
    AlreadyDecided,
    /// No such challenge (never issued, or its outcome is no longer kept).
    UnknownChallenge,
    /// A second factor is needed (or the one given is wrong).
    SecondFactorRequired,
    /// Too many failed attempts: retry later.
    RateLimited,
    /// Locked after too many failed attempts.
    Locked,
    /// A standing intent refused (revoked, expired, exhausted, limit).
    IntentRefused,
    /// Policy refused (whitelist, quiz pending, ...).
    PolicyRefused,
    /// The audit log could not be written: the signer refuses to act unrecorded.
    AuditUnavailable,
    /// The signer is not reachable (restarting); retry.
    Unavailable,
    /// Another instance or request changed the same state first.
    Conflict,
    /// An internal failure (the message says which part).
    Internal,
}

/// A typed failure.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct WireError {
    /// What kind.
    pub kind: ErrorKind,
    /// What was wrong, for a human. Never contains secret material.
    pub message: String,
}

impl WireError {
    /// An error of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// A request envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestEnvelope {
    /// Protocol version ([`PROTOCOL_VERSION`]).
    pub v: u16,
    /// The caller's request id, echoed in the answer.
    pub id: u64,
    /// The request.
    pub req: Request,
}

/// The outcome of a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Success.
    Ok(Response),
    /// Failure.
    Err(WireError),
}

/// A response envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseEnvelope {
    /// Protocol version.
    pub v: u16,
    /// The request id answered (0 when the request's id could not be read).
    pub id: u64,
    /// The outcome.
    pub outcome: Outcome,
}

/// Decodes a request envelope from a frame body, with a typed error when it is not one.
///
/// The id is recovered where possible, so that even a malformed request is answered under its
/// id.
///
/// # Errors
/// `(id, WireError)` with [`ErrorKind::MalformedRequest`] or [`ErrorKind::UnsupportedVersion`].
pub fn decode_request(body: &[u8]) -> Result<RequestEnvelope, (u64, WireError)> {
    #[derive(Deserialize)]
    struct Head {
        v: Option<u16>,
        id: Option<u64>,
    }
    match serde_json::from_slice::<RequestEnvelope>(body) {
        Ok(env) if env.v == PROTOCOL_VERSION => Ok(env),
        Ok(env) => Err((env.id, unsupported(env.v))),
        Err(e) => {
            let head = serde_json::from_slice::<Head>(body).ok();
            let id = head.as_ref().and_then(|h| h.id).unwrap_or(0);
            match head.and_then(|h| h.v) {
                Some(v) if v != PROTOCOL_VERSION => Err((id, unsupported(v))),
                _ => Err((
                    id,
                    WireError::new(
                        ErrorKind::MalformedRequest,
                        format!("not a valid request: {}", redact_serde(&e)),
                    ),
                )),
            }
        }
    }
}

fn unsupported(v: u16) -> WireError {
    WireError::new(
        ErrorKind::UnsupportedVersion,
        format!("protocol version {v} is not supported (this signer speaks {PROTOCOL_VERSION})"),
    )
}

/// serde_json's messages can quote input (`invalid type: string "..."`); keep only the category
/// and position so no secret field is ever echoed.
fn redact_serde(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let what = match e.classify() {
        Category::Io => "I/O error",
        Category::Syntax => "JSON syntax error",
        Category::Data => "a field is missing, unknown or of the wrong type",
        Category::Eof => "the JSON ends early",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// Encodes a response envelope.
///
/// # Errors
/// Never for the types of this crate; a serializer error is reported as a string.
pub fn encode_response(id: u64, outcome: Outcome) -> Vec<u8> {
    let env = ResponseEnvelope {
        v: PROTOCOL_VERSION,
        id,
        outcome,
    };
    serde_json::to_vec(&env).unwrap_or_else(|_| {
        br#"{"v":1,"id":0,"outcome":{"err":{"kind":"internal","message":"encoding failed"}}}"#
            .to_vec()
    })
}

/// Encodes a request envelope.
#[must_use]
pub fn encode_request(id: u64, req: &Request) -> Vec<u8> {
    #[derive(Serialize)]
    struct Env<'a> {
        v: u16,
        id: u64,
        req: &'a Request,
    }
    serde_json::to_vec(&Env {
        v: PROTOCOL_VERSION,
        id,
        req,
    })
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip() {
        let req = Request::Sign(SignRequest {
            user: 7,
            wallet: WalletRef::Derived(0),
            module: "sol-withdraw".into(),
            params: Bytes(vec![1, 2, 3]),
            message: Bytes(vec![9; 40]),
            lookup: vec![],
            claimed_description: None,
        });
        let env = decode_request(&encode_request(42, &req)).unwrap();
        assert_eq!(env.id, 42);
        assert_eq!(env.req, req);
    }

    #[test]
    fn malformed_requests_keep_their_id_and_echo_nothing() {
        let (id, e) =
            decode_request(br#"{"v":1,"id":5,"req":{"op":"import_key","user":"secret-key-text"}}"#)
                .unwrap_err();
        assert_eq!(id, 5);
        assert_eq!(e.kind, ErrorKind::MalformedRequest);
        assert!(!e.message.contains("secret-key-text"), "{}", e.message);
        let (id, e) = decode_request(br#"{"v":9,"id":6,"req":{"op":"ping"}}"#).unwrap_err();
        assert_eq!((id, e.kind), (6, ErrorKind::UnsupportedVersion));
        let (id, e) = decode_request(b"\xff\xfe").unwrap_err();
        assert_eq!((id, e.kind), (0, ErrorKind::MalformedRequest));
    }

    #[test]
    fn secrets_do_not_debug_print() {
        let req = Request::ImportKey {
            user: 1,
            key: SecretText::new("5Jsecretbase58"),
        };
        assert!(!format!("{req:?}").contains("5Jsecret"));
        let p = Proof::Totp {
            code: SecretText::new("123456"),
        };
        assert!(!format!("{p:?}").contains("123456"));
    }
}
