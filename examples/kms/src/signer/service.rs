//! The signer's request handling: every bus request, checked and answered here, in the one
//! process that holds keys.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, mpsc};

use kms_client::pool::{ButtonOut, PoolRequest, UserMessage};
use kms_client::proto::{
    Bytes, ErrorKind, ExportWhat, IntentInfo, IntentProposal, Outcome, Pending, Proof, Request,
    Response, SecretText, SignRequest, SignerStatus, WalletInfo, WalletRef, WireError,
};
use kms_client::statement::DescriptionStatement;
use kms_constraints::{CheckedParams, HostConfig, ModuleHash, ParamValue, Registry};
use kms_core::{
    BackupContents, BackupParams, KeyStore, MasterKey, Mnemonic, OpenedRecord, RecordKind,
    RecordLocation, SealedRecord, SolanaPathScheme, WalletKey, WordCount,
};
use kms_intent::{
    Action, Authorization, ChallengeSpec, DecisionKind, DecisionSpec, FactorProof, IntentError,
    IntentId, IntentStatus, IntentStore, IntentTerms, ParsedToken, PasskeyAssertion, Persistence,
    ProofUsed, RateLimitPolicy, RelyingParty, Requirement, SpendRequest, StandingIntent,
    TotpParams, UserState, request_digest,
};
use kms_solana::describe::{DescribeContext, describe_message};
use kms_solana::programs::NATIVE_MINT;
use zeroize::Zeroizing;

use super::SignerError;
use super::db::{Applied, Checked, StateDb, Table};
use super::keys::SignerKeys;
use super::vault::{StateKind, Vault};
use crate::audit::{AuditEvent, AuditKey, AuditLog};
use crate::config::Config;
use crate::replica::{Entry, ReplicaKey};
use crate::sandbox::{self, SandboxReport};

pub(crate) use crate::util::{lock, now};

fn err(kind: ErrorKind, message: impl Into<String>) -> WireError {
    WireError::new(kind, message)
}

/// kms-intent errors as bus errors (their messages hold no secret).
fn intent_err(e: IntentError) -> WireError {
    use IntentError as E;
    let kind = match &e {
        E::MalformedToken | E::Invalid | E::UnknownChallenge => ErrorKind::InvalidToken,
        E::Expired => ErrorKind::Expired,
        E::AlreadyDecided => ErrorKind::AlreadyDecided,
        E::RateLimited { .. } => ErrorKind::RateLimited,
        E::Locked => ErrorKind::Locked,
        E::SecondFactorRequired { .. }
        | E::FactorNotEnabled(_)
        | E::NoSecondFactorEnabled
        | E::TotpInvalid
        | E::TotpReplayed
        | E::RecoveryCodeInvalid
        | E::UnknownCredential
        | E::PasskeySignatureInvalid
        | E::ChallengeMismatch
        | E::UserNotPresent
        | E::UserNotVerified => ErrorKind::SecondFactorRequired,
        E::IntentRevoked
        | E::IntentExpired
        | E::IntentExhausted
        | E::PerTransactionLimitExceeded
        | E::CumulativeLimitExceeded
        | E::IntentDoesNotCover
        | E::NoCoveringIntent
        | E::UnknownIntent
        | E::IntentNotApproved
        | E::TooManyIntents { .. } => ErrorKind::IntentRefused,
        E::MintNotWhitelisted
        | E::SeedAlreadyShown
        | E::NoQuizPending
        | E::QuizWrong
        | E::FactorAlreadyEnabled(_)
        | E::TooManyChallenges { .. } => ErrorKind::PolicyRefused,
        E::Unavailable(_) => ErrorKind::Unavailable,
        E::Conflict => ErrorKind::Conflict,
        E::Persistence(_) | E::RandomnessUnavailable => ErrorKind::Internal,
        _ => ErrorKind::InvalidInput,
    };
    err(kind, e.to_string())
}

/// kms-intent's persistence: user states sealed under the master key, written through the
/// group-committed state database.
pub(crate) struct SealedPersistence {
    vault: Arc<Vault>,
    db: Arc<StateDb>,
}

impl SealedPersistence {
    fn open(&self, user: u64, sealed: &[u8]) -> Result<Vec<u8>, IntentError> {
        self.vault
            .open(StateKind::Authorization, user, sealed)
            .map(|pt| pt.to_vec())
            .map_err(|e| IntentError::Persistence(e.to_string()))
    }
}

impl Persistence for SealedPersistence {
    fn load(&self, user: kms_intent::UserId) -> Result<Option<Vec<u8>>, IntentError> {
        Ok(self.load_revision(user)?.map(|(s, _)| s))
    }

    fn store(&self, user: kms_intent::UserId, state: &[u8]) -> Result<(), IntentError> {
        self.store_if(user, state, None).map(drop)
    }

    fn load_revision(
        &self,
        user: kms_intent::UserId,
    ) -> Result<Option<(Vec<u8>, u64)>, IntentError> {
        let found = self
            .db
            .get_checked(Table::Authorization, user.0)
            .map_err(persistence_err)?;
        match found {
            Some((sealed, revision)) => Ok(Some((self.open(user.0, &sealed)?, revision))),
            None => Ok(None),
        }
    }

    fn store_if(
        &self,
        user: kms_intent::UserId,
        state: &[u8],
        expected: Option<u64>,
    ) -> Result<u64, IntentError> {
        let sealed = self
            .vault
            .seal(StateKind::Authorization, user.0, state)
            .map_err(|e| IntentError::Persistence(e.to_string()))?;
        match self
            .db
            .put_checked(Table::Authorization, user.0, sealed, expected)
            .map_err(persistence_err)?
        {
            Checked::Stored(revision) => Ok(revision),
            Checked::Conflict => Err(IntentError::Conflict),
        }
    }
}

/// Replication that did not answer says "retry" (`Unavailable` on the bus), unlike a failed disk.
fn persistence_err(e: SignerError) -> IntentError {
    match e {
        SignerError::Unavailable(m) => IntentError::Unavailable(format!("replication: {m}")),
        other => IntentError::Persistence(other.to_string()),
    }
}

/// A key-store failure; replication that did not answer says "retry" (`Unavailable`).
fn key_store_err(e: kms_core::Error) -> WireError {
    match &e {
        kms_core::Error::Unavailable(_) => err(ErrorKind::Unavailable, e.to_string()),
        _ => err(ErrorKind::Internal, format!("key store: {e}")),
    }
}

/// A resolved module.
#[derive(Clone)]
struct ModuleRef {
    hash: ModuleHash,
    name: String,
    action: Action,
    /// The parameter whose value each covered request is charged against an intent.
    bound_field: Option<&'static str>,
}

/// What the signer reads out of checked parameters.
#[derive(Clone)]
struct ParamsInfo {
    checked: CheckedParams,
    user: [u8; 32],
    bound: u64,
    mints: Vec<[u8; 32]>,
}

/// What a challenge decides.
#[derive(Clone)]
enum PendingKind {
    Sign {
        at: RecordLocation,
        index: u32,
        message: Vec<u8>,
        module: String,
        description: String,
    },
    Intent {
        module: String,
    },
    WhitelistAdd([u8; 32]),
    WhitelistRemove([u8; 32]),
    Export(ExportWhat),
    Quiz {
        position: usize,
    },
    Passkey {
        client_data_json: Vec<u8>,
        attestation_object: Vec<u8>,
        label: String,
    },
}

#[derive(Clone)]
struct PendingOp {
    challenge: kms_intent::ChallengeId,
    user: u64,
    digest: [u8; 32],
    action: Option<Action>,
    decisions: Vec<DecisionKind>,
    expires_at: u64,
    kind: PendingKind,
}

/// The stored form of a [`PendingOp`] (JSON, sealed as `StateKind::Pending` under the challenge
/// id): an open challenge survives a signer restart.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredPending {
    v: u8,
    user: u64,
    digest: String,
    action: Option<String>,
    decisions: Vec<String>,
    expires_at: u64,
    kind: StoredKind,
}

#[derive(serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum StoredKind {
    Sign {
        wallet: WalletRef,
        message: Bytes,
        module: String,
        description: String,
    },
    Intent {
        module: String,
    },
    WhitelistAdd {
        mint: String,
    },
    WhitelistRemove {
        mint: String,
    },
    Export {
        what: ExportWhat,
    },
    Quiz {
        position: usize,
    },
    Passkey {
        client_data_json: Bytes,
        attestation_object: Bytes,
        label: String,
    },
}

/// The actions a challenge can carry, by name.
const ACTIONS: [(Action, &str); 9] = [
    (Action::SignTrade, "sign_trade"),
    (Action::WithdrawSol, "withdraw_sol"),
    (Action::WithdrawToken, "withdraw_token"),
    (Action::ExportSeed, "export_seed"),
    (Action::ExportKey, "export_key"),
    (Action::AddToWhitelist, "add_to_whitelist"),
    (Action::RemoveFromWhitelist, "remove_from_whitelist"),
    (Action::CreateIntent, "create_intent"),
    (
        Action::EnableFactor(kms_intent::Factor::Passkey),
        "enable_passkey",
    ),
];

fn decision_name(k: DecisionKind) -> String {
    match k {
        DecisionKind::Approve => "approve".into(),
        DecisionKind::Reject => "reject".into(),
        DecisionKind::ApproveAndRemember => "approve_and_remember".into(),
        DecisionKind::Custom(n) => format!("custom:{n}"),
        _ => "unknown".into(),
    }
}

fn decision_from_name(s: &str) -> Option<DecisionKind> {
    Some(match s {
        "approve" => DecisionKind::Approve,
        "reject" => DecisionKind::Reject,
        "approve_and_remember" => DecisionKind::ApproveAndRemember,
        other => DecisionKind::Custom(other.strip_prefix("custom:")?.parse().ok()?),
    })
}

impl PendingOp {
    fn to_stored(&self) -> Option<StoredPending> {
        let action = match self.action {
            None => None,
            Some(a) => Some(ACTIONS.iter().find(|(x, _)| *x == a)?.1.to_string()),
        };
        let kind = match &self.kind {
            PendingKind::Sign {
                at,
                index,
                message,
                module,
                description,
            } => StoredKind::Sign {
                wallet: match at.kind {
                    RecordKind::Seed => WalletRef::Derived(*index),
                    _ => WalletRef::Imported(at.id),
                },
                message: Bytes(message.clone()),
                module: module.clone(),
                description: description.clone(),
            },
            PendingKind::Intent { module } => StoredKind::Intent {
                module: module.clone(),
            },
            PendingKind::WhitelistAdd(m) => StoredKind::WhitelistAdd {
                mint: bs58::encode(m).into_string(),
            },
            PendingKind::WhitelistRemove(m) => StoredKind::WhitelistRemove {
                mint: bs58::encode(m).into_string(),
            },
            PendingKind::Export(what) => StoredKind::Export { what: *what },
            PendingKind::Quiz { position } => StoredKind::Quiz {
                position: *position,
            },
            PendingKind::Passkey {
                client_data_json,
                attestation_object,
                label,
            } => StoredKind::Passkey {
                client_data_json: Bytes(client_data_json.clone()),
                attestation_object: Bytes(attestation_object.clone()),
                label: label.clone(),
            },
        };
        Some(StoredPending {
            v: 1,
            user: self.user,
            digest: hex::encode(self.digest),
            action,
            decisions: self.decisions.iter().map(|d| decision_name(*d)).collect(),
            expires_at: self.expires_at,
            kind,
        })
    }

    fn from_stored(challenge: [u8; 8], p: StoredPending) -> Option<Self> {
        if p.v != 1 {
            return None;
        }
        let action = match p.action {
            None => None,
            Some(name) => Some(ACTIONS.iter().find(|(_, n)| *n == name)?.0),
        };
        let digest: [u8; 32] = hex::decode(&p.digest).ok()?.try_into().ok()?;
        let decisions = p
            .decisions
            .iter()
            .map(|d| decision_from_name(d))
            .collect::<Option<Vec<_>>>()?;
        let user = core_user(p.user).ok()?;
        let mint = |m: &str| kms_solana::address_from_base58(m);
        let kind = match p.kind {
            StoredKind::Sign {
                wallet,
                message,
                module,
                description,
            } => {
                let (at, index) = match wallet {
                    WalletRef::Derived(i) => (RecordLocation::new(user, RecordKind::Seed, 0), i),
                    WalletRef::Imported(s) => {
                        (RecordLocation::new(user, RecordKind::ImportedKey, s), 0)
                    }
                };
                PendingKind::Sign {
                    at,
                    index,
                    message: message.0,
                    module,
                    description,
                }
            }
            StoredKind::Intent { module } => PendingKind::Intent { module },
            StoredKind::WhitelistAdd { mint: m } => PendingKind::WhitelistAdd(mint(&m)?),
            StoredKind::WhitelistRemove { mint: m } => PendingKind::WhitelistRemove(mint(&m)?),
            StoredKind::Export { what } => PendingKind::Export(what),
            StoredKind::Quiz { position } => PendingKind::Quiz { position },
            StoredKind::Passkey {
                client_data_json,
                attestation_object,
                label,
            } => PendingKind::Passkey {
                client_data_json: client_data_json.0,
                attestation_object: attestation_object.0,
                label,
            },
        };
        Some(Self {
            challenge: kms_intent::ChallengeId(challenge),
            user: p.user,
            digest,
            action,
            decisions,
            expires_at: p.expires_at,
            kind,
        })
    }
}

/// Uses of a standing intent that a durable spend already counted and this signer has not used
/// yet (lost, never reused, if the signer stops).
struct Lease {
    uses: u32,
    /// The amount each use was charged.
    amount: u64,
    /// Uses held after the last reservation; at a quarter of it the lease is renewed.
    size: u32,
    /// A renewal is queued or running.
    renewing: bool,
}

/// A lease that runs low, for the `kms-lease` thread to renew ([`Service::renew_lease`]).
pub(crate) struct Renewal {
    user: u64,
    intent: IntentId,
    module_hash: [u8; 32],
    params: Vec<u8>,
    amount: u64,
}

/// What the fast path of a covered request found.
enum FastPath {
    /// A held use was taken (and whether the lease now needs renewing), and the signature made.
    Used(IntentId, bool, Result<kms_core::Signature, WireError>),
    /// The covering intent's lease is empty and its renewal is being stored.
    Renewing(IntentId),
    /// No covering intent with a lease: the request takes the durable path.
    Uncovered,
}

/// How long a covered request waits for a renewal in progress before it reserves itself.
const RENEWAL_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Renewals waiting for the `kms-lease` thread; when full, a lease runs out and the covered
/// request that finds it empty reserves again itself.
const RENEWAL_QUEUE: usize = 256;

/// Most uses one durable spend reserves ahead.
const LEASE_MAX: u32 = 64;

/// How many more uses to reserve after a spend: a quarter of what is left (at most
/// [`LEASE_MAX`]), so a restart loses little of a small intent.
fn lease_size(s: &UserState, id: IntentId) -> u32 {
    let Some(i) = s.intents().iter().find(|i| i.id() == id) else {
        return 0;
    };
    let left = i.terms().max_uses.saturating_sub(i.uses());
    (left / 4).min(LEASE_MAX)
}

/// Whether intent `i` covers `req` now, ignoring its counters (a lease holds uses they already
/// count).
fn covers(i: &StandingIntent, req: &SpendRequest<'_>, now: u64) -> bool {
    i.revoked_at().is_none()
        && now < i.terms().valid_until
        && &i.terms().module_hash == req.module_hash
        && i.terms().parameters == req.parameters
        && req.amount <= i.terms().per_transaction_limit
}

/// A running backup quiz: the positions asked and the words picked so far.
struct QuizRun {
    positions: Vec<usize>,
    answers: BTreeMap<usize, Zeroizing<String>>,
}

/// The signer's request handler.
pub(crate) struct Service {
    ttl: u64,
    vault: Arc<Vault>,
    keys: SignerKeys,
    db: Arc<StateDb>,
    intents: IntentStore<SealedPersistence>,
    registry: Registry,
    audit: Arc<Mutex<AuditLog>>,
    audit_key: AuditKey,
    to_pool: Mutex<mpsc::Sender<UserMessage>>,
    pending: Mutex<HashMap<[u8; 8], PendingOp>>,
    outcomes: Mutex<HashMap<[u8; 8], KeptOutcome>>,
    description_key: [u8; 32],
    quizzes: Mutex<HashMap<u64, QuizRun>>,
    passkey_registrations: Mutex<HashMap<u64, ([u8; 32], u64)>>,
    params_cache: Mutex<HashMap<(ModuleHash, Vec<u8>), ParamsInfo>>,
    profiles: Mutex<()>,
    profile_cache: Mutex<HashMap<u64, Vec<WalletInfo>>>,
    record_cache: Mutex<HashMap<RecordLocation, SealedRecord>>,
    leases: Mutex<HashMap<(u64, u64), Lease>>,
    renewals: mpsc::SyncSender<Renewal>,
    /// Signalled when a lease renewal is over.
    renewed: std::sync::Condvar,
    rp: RelyingParty,
    sandbox: SandboxReport,
    data_dir: std::path::PathBuf,
}

const PARAMS_CACHE_MAX: usize = 10_000;
/// Users whose wallet lists are kept decrypted in memory (public data: indices and addresses).
const PROFILE_CACHE_MAX: usize = 100_000;
const QUIZ_TTL_SECS: u64 = 24 * 3600;
const QUIZ_CHOICES: usize = 4;
/// How long the outcome of a decided challenge stays readable with `ChallengeOutcome`.
const OUTCOME_TTL_SECS: u64 = 600;
/// Most outcomes kept (the oldest go first beyond this).
const OUTCOME_MAX: usize = 50_000;

/// The answer a decision produced, kept for `ChallengeOutcome`.
struct KeptOutcome {
    user: u64,
    decided_at: u64,
    result: Result<Response, WireError>,
}

impl Service {
    pub(crate) fn new(
        cfg: &Config,
        vault: Vault,
        keys: SignerKeys,
        db: StateDb,
        audit: Arc<Mutex<AuditLog>>,
        to_pool: mpsc::Sender<UserMessage>,
        sandbox: SandboxReport,
    ) -> Result<(Self, mpsc::Receiver<Renewal>), SignerError> {
        let (renewals, renewal_queue) = mpsc::sync_channel(RENEWAL_QUEUE);
        let vault = Arc::new(vault);
        let db = Arc::new(db);
        let audit_key = vault.audit_key()?;
        let description_key = vault.description_public_key()?;
        let registry = Registry::with_builtins(HostConfig::default())
            .map_err(|e| SignerError::Startup(format!("built-in modules: {e}")))?;
        let mut rp = RelyingParty::new(cfg.signer.passkey_rp_id.clone());
        rp.origins = vec![cfg.signer.passkey_origin.clone()];
        let service = Self {
            ttl: cfg.signer.challenge_ttl_secs,
            intents: IntentStore::new(
                SealedPersistence {
                    vault: Arc::clone(&vault),
                    db: Arc::clone(&db),
                },
                RateLimitPolicy::default(),
            ),
            vault,
            keys,
            db,
            registry,
            audit,
            audit_key,
            to_pool: Mutex::new(to_pool),
            pending: Mutex::new(HashMap::new()),
            outcomes: Mutex::new(HashMap::new()),
            description_key,
            quizzes: Mutex::new(HashMap::new()),
            passkey_registrations: Mutex::new(HashMap::new()),
            params_cache: Mutex::new(HashMap::new()),
            profiles: Mutex::new(()),
            profile_cache: Mutex::new(HashMap::new()),
            record_cache: Mutex::new(HashMap::new()),
            leases: Mutex::new(HashMap::new()),
            renewals,
            renewed: std::sync::Condvar::new(),
            rp,
            sandbox,
            data_dir: cfg.data_dir.clone(),
        };
        let restored = service.load_pending()?;
        if restored > 0 {
            eprintln!("kms signer: {restored} open challenge(s) restored");
        }
        Ok((service, renewal_queue))
    }

    /// Appends an audit entry; the action it records must not happen when this fails.
    pub(crate) fn audit(&self, event: &AuditEvent) -> Result<(), WireError> {
        lock(&self.audit).append(now(), event).map(drop).map_err(|e| {
            err(
                ErrorKind::AuditUnavailable,
                format!("the audit log cannot be written ({e}); the signer refuses to act unrecorded"),
            )
        })
    }

    fn tag(&self, user: u64) -> String {
        self.audit_key.user_tag(user)
    }

    /// Sends a message to the user's chat through the HTTPS pool.
    fn notify(&self, msg: UserMessage) -> Result<(), WireError> {
        lock(&self.to_pool).send(msg).map_err(|_| {
            err(
                ErrorKind::Unavailable,
                "the HTTPS pool is not running: the user cannot be reached; retry",
            )
        })
    }

    /// Answers one request.
    pub(crate) fn handle(&self, req: Request) -> Outcome {
        match self.dispatch(req) {
            Ok(r) => Outcome::Ok(r),
            Err(e) => Outcome::Err(e),
        }
    }

    fn dispatch(&self, req: Request) -> Result<Response, WireError> {
        match req {
            Request::Ping => Ok(Response::Pong),
            Request::CreateUser { user } => self.create_user(user),
            Request::ListWallets { user } => {
                self.require_user(user)?;
                Ok(Response::Wallets {
                    wallets: self.profile(user)?,
                })
            }
            Request::DeriveWallet { user, index } => self.derive_wallet(user, index),
            Request::ImportKey { user, key } => self.import_key(user, &key),
            Request::Sign(r) => self.sign_request(r),
            Request::Decide { user, token, proof } => {
                self.decide_and_record(user, &token, proof.as_ref(), None)
            }
            Request::ChallengeOutcome { user, challenge } => {
                self.challenge_outcome(user, &challenge)
            }
            Request::CreateIntent(p) => self.propose_intent(p),
            Request::ListIntents { user } => self.list_intents(user),
            Request::RevokeIntent { user, intent } => self.revoke_intent(user, intent),
            Request::EnableTotp { user, proof } => self.enable_totp(user, proof.as_ref()),
            Request::ConfirmTotp { user, code } => self.confirm_totp(user, &code),
            Request::BeginPasskey { user } => self.begin_passkey(user),
            Request::RegisterPasskey {
                user,
                client_data_json,
                attestation_object,
                label,
            } => self.register_passkey(user, &client_data_json, &attestation_object, &label),
            Request::WhitelistAdd { user, mint } => self.propose_whitelist(user, &mint, true),
            Request::WhitelistRemove { user, mint } => self.propose_whitelist(user, &mint, false),
            Request::Export { user, what } => self.propose_export(user, what),
            Request::AuditTail { count } => self.audit_tail(count),
            Request::SignerStatus => Ok(self.status()),
            _ => Err(err(
                ErrorKind::MalformedRequest,
                "request not supported by this signer",
            )),
        }
    }

    // ------------------------------------------------------------------ users and wallets

    fn seed_at(user: u64) -> Result<RecordLocation, WireError> {
        Ok(RecordLocation::new(core_user(user)?, RecordKind::Seed, 0))
    }

    fn require_user(&self, user: u64) -> Result<SealedRecord, WireError> {
        self.keys
            .get(&Self::seed_at(user)?)
            .map_err(key_store_err)?
            .ok_or_else(|| err(ErrorKind::UnknownUser, format!("no user {user}")))
    }

    fn with_master<R>(&self, f: impl FnOnce(&MasterKey) -> R) -> Result<R, WireError> {
        self.vault.with_master(f).map_err(WireError::from)
    }

    fn create_user(&self, user: u64) -> Result<Response, WireError> {
        let at = Self::seed_at(user)?;
        if self.keys.get(&at).map_err(key_store_err)?.is_some() {
            return Err(err(
                ErrorKind::UserExists,
                format!("user {user} already exists"),
            ));
        }
        let phrase = Mnemonic::generate(WordCount::TwentyFour)
            .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        let (record, address) = self
            .with_master(|m| {
                let rec = SealedRecord::seal_mnemonic(
                    m,
                    &at,
                    &phrase,
                    "",
                    SolanaPathScheme::AccountChange,
                )?;
                let addr = kms_core::address(&rec, m, &at, 0)?;
                Ok::<_, kms_core::Error>((rec, addr))
            })?
            .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        let address = address.to_string();
        self.audit(&AuditEvent::UserCreated {
            user: self.tag(user),
            address: address.clone(),
        })?;
        match self.keys.create(&at, &record) {
            Ok(()) => {}
            Err(kms_core::Error::AlreadyExists) => {
                return Err(err(
                    ErrorKind::UserExists,
                    format!("user {user} already exists"),
                ));
            }
            Err(e) => return Err(key_store_err(e)),
        }
        // Stored even though it says only what the key record implies: every instance then
        // has the user's list from the catch-up, without asking NATS.
        let stored = {
            let _guard = lock(&self.profiles);
            self.put_profile(
                user,
                &[WalletInfo {
                    wallet: WalletRef::Derived(0),
                    address: address.clone(),
                }],
                None,
            )?
        };
        if !stored {
            return Err(err(
                ErrorKind::Conflict,
                format!("user {user} was being created on another instance at the same time"),
            ));
        }
        // The phrase goes to the user's chat once; the quiz asks for some of its words there.
        let quiz = self
            .intents
            .with_user(kms_intent::UserId(user), |s| {
                s.begin_seed_backup(
                    &mut getrandom::SysRng,
                    phrase.word_count(),
                    kms_intent::DEFAULT_QUIZ_WORDS,
                )
            })
            .map_err(intent_err)?;
        let words = (0..phrase.word_count())
            .filter_map(|i| phrase.word(i))
            .map(SecretText::new)
            .collect();
        self.notify(UserMessage::SeedPhrase { user, words })?;
        self.start_quiz(user, &phrase, &quiz.positions)?;
        Ok(Response::UserCreated {
            address,
            quiz_positions: quiz.positions,
        })
    }

    /// The user's wallet list. The key store is the source of truth: a user whose profile write
    /// was lost (a crash between the two stores) still has wallet 0.
    fn profile(&self, user: u64) -> Result<Vec<WalletInfo>, WireError> {
        if let Some(w) = lock(&self.profile_cache).get(&user) {
            return Ok(w.clone());
        }
        let wallets = self.load_profile(user)?;
        if !wallets.is_empty() {
            let mut cache = lock(&self.profile_cache);
            if cache.len() >= PROFILE_CACHE_MAX {
                cache.clear();
            }
            cache.entry(user).or_insert_with(|| wallets.clone());
        }
        Ok(wallets)
    }

    fn load_profile(&self, user: u64) -> Result<Vec<WalletInfo>, WireError> {
        self.load_profile_revision(user).map(|(w, _)| w)
    }

    /// The wallet list with the revision it was stored at (`None`: never stored).
    fn load_profile_revision(
        &self,
        user: u64,
    ) -> Result<(Vec<WalletInfo>, Option<u64>), WireError> {
        let Some((sealed, revision)) = self
            .db
            .get_checked(Table::Profile, user)
            .map_err(WireError::from)?
        else {
            let Some(record) = self
                .keys
                .get(&Self::seed_at(user)?)
                .map_err(key_store_err)?
            else {
                return Ok((Vec::new(), None));
            };
            let at = Self::seed_at(user)?;
            let address = self
                .with_master(|m| kms_core::address(&record, m, &at, 0))?
                .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
            return Ok((
                vec![WalletInfo {
                    wallet: WalletRef::Derived(0),
                    address: address.to_string(),
                }],
                None,
            ));
        };
        let pt = self
            .vault
            .open(StateKind::Profile, user, &sealed)
            .map_err(WireError::from)?;
        let wallets = serde_json::from_slice(&pt)
            .map_err(|_| err(ErrorKind::Internal, "a stored profile does not decode"))?;
        Ok((wallets, Some(revision)))
    }

    /// Stores the wallet list over `expected` (the revision it was read at); `false` when another
    /// instance stored a newer one first (nothing written; the newer one is applied here).
    fn put_profile(
        &self,
        user: u64,
        wallets: &[WalletInfo],
        expected: Option<u64>,
    ) -> Result<bool, WireError> {
        let pt = serde_json::to_vec(wallets)
            .map_err(|_| err(ErrorKind::Internal, "profile encoding failed"))?;
        let sealed = self.vault.seal(StateKind::Profile, user, &pt)?;
        match self
            .db
            .put_checked(Table::Profile, user, sealed, expected)
            .map_err(WireError::from)?
        {
            Checked::Stored(_) => {}
            Checked::Conflict => {
                lock(&self.profile_cache).remove(&user);
                return Ok(false);
            }
        }
        // Durable first, then cached: a reader that loaded the old list only ever fills an
        // empty slot, so it cannot overwrite this one.
        lock(&self.profile_cache).insert(user, wallets.to_vec());
        Ok(true)
    }

    /// Changes the user's wallet list with `change` (which returns what to answer, and whether
    /// the list changed), re-reading and re-running it when another instance changed the list
    /// meanwhile.
    fn update_profile<T>(
        &self,
        user: u64,
        mut change: impl FnMut(&mut Vec<WalletInfo>) -> Result<(T, bool), WireError>,
    ) -> Result<T, WireError> {
        let _guard = lock(&self.profiles);
        for _ in 0..=kms_intent::CONFLICT_RETRIES {
            let (mut wallets, revision) = self.load_profile_revision(user)?;
            let (out, changed) = change(&mut wallets)?;
            if !changed || self.put_profile(user, &wallets, revision)? {
                return Ok(out);
            }
        }
        Err(err(
            ErrorKind::Unavailable,
            "the wallet list kept changing on another instance; retry",
        ))
    }

    fn add_to_profile(&self, user: u64, info: WalletInfo) -> Result<(), WireError> {
        self.update_profile(user, |wallets| {
            if wallets.iter().any(|w| w.wallet == info.wallet) {
                return Ok(((), false));
            }
            wallets.push(info.clone());
            Ok(((), true))
        })
    }

    fn derive_wallet(&self, user: u64, index: u32) -> Result<Response, WireError> {
        if index >= kms_core::HARDENED {
            return Err(err(
                ErrorKind::InvalidInput,
                "wallet index must be below 2^31",
            ));
        }
        let record = self.require_user(user)?;
        let at = Self::seed_at(user)?;
        let address = self
            .with_master(|m| kms_core::address(&record, m, &at, index))?
            .map_err(|e| err(ErrorKind::Internal, e.to_string()))?
            .to_string();
        let info = WalletInfo {
            wallet: WalletRef::Derived(index),
            address: address.clone(),
        };
        self.audit(&AuditEvent::WalletDerived {
            user: self.tag(user),
            index,
            address,
        })?;
        self.add_to_profile(user, info.clone())?;
        Ok(Response::Wallet(info))
    }

    fn import_key(&self, user: u64, key: &SecretText) -> Result<Response, WireError> {
        self.require_user(user)?;
        let text = key.expose_secret().trim();
        let wallet = if text.starts_with('[') {
            WalletKey::from_keypair_json(text)
        } else {
            WalletKey::from_keypair_base58(text)
        }
        .map_err(|e| err(ErrorKind::InvalidInput, format!("not a legacy key: {e}")))?;
        let address = wallet.address().to_string();
        let _guard = lock(&self.profiles);
        let (mut wallets, revision) = self.load_profile_revision(user)?;
        if let Some(w) = wallets.iter().find(|w| w.address == address) {
            return Ok(Response::Wallet(w.clone()));
        }
        let slot = wallets
            .iter()
            .filter_map(|w| match w.wallet {
                WalletRef::Imported(s) => Some(s + 1),
                WalletRef::Derived(_) => None,
            })
            .max()
            .unwrap_or(0);
        let at = RecordLocation::new(core_user(user)?, RecordKind::ImportedKey, slot);
        let record = self
            .with_master(|m| SealedRecord::seal_key(m, &at, &wallet))?
            .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        drop(wallet);
        self.audit(&AuditEvent::KeyImported {
            user: self.tag(user),
            slot,
            address: address.clone(),
        })?;
        self.keys.create(&at, &record).map_err(key_store_err)?;
        let info = WalletInfo {
            wallet: WalletRef::Imported(slot),
            address,
        };
        wallets.push(info.clone());
        if !self.put_profile(user, &wallets, revision)? {
            return Err(err(
                ErrorKind::Unavailable,
                "the wallet list changed on another instance during the import; retry",
            ));
        }
        Ok(Response::Wallet(info))
    }

    /// The record, wallet index and address of a user's wallet.
    fn wallet(
        &self,
        user: u64,
        wallet: WalletRef,
    ) -> Result<(RecordLocation, u32, String), WireError> {
        // A cached profile means the user exists (users are never deleted).
        if !lock(&self.profile_cache).contains_key(&user) {
            self.require_user(user)?;
        }
        let address = self
            .profile(user)?
            .into_iter()
            .find(|w| w.wallet == wallet)
            .map(|w| w.address)
            .ok_or_else(|| {
                err(
                    ErrorKind::UnknownWallet,
                    format!("user {user} has no {wallet}"),
                )
            })?;
        let (at, index) = match wallet {
            WalletRef::Derived(i) => (Self::seed_at(user)?, i),
            WalletRef::Imported(s) => (
                RecordLocation::new(core_user(user)?, RecordKind::ImportedKey, s),
                0,
            ),
        };
        Ok((at, index, address))
    }

    fn sign_now(
        &self,
        at: &RecordLocation,
        index: u32,
        message: &[u8],
    ) -> Result<kms_core::Signature, WireError> {
        // Sealed records never change once written (no rotation here), so the sealed bytes may
        // be kept in memory: they open only with the master key, at their location.
        let cached = lock(&self.record_cache).get(at).cloned();
        let record = match cached {
            Some(r) => r,
            None => {
                let r = self.keys.get(at).map_err(key_store_err)?.ok_or_else(|| {
                    err(
                        ErrorKind::UnknownWallet,
                        "the wallet's key record is missing",
                    )
                })?;
                let mut cache = lock(&self.record_cache);
                if cache.len() >= PROFILE_CACHE_MAX {
                    cache.clear();
                }
                cache.insert(at.clone(), r.clone());
                r
            }
        };
        self.with_master(|m| kms_core::sign(&record, m, at, index, message))?
            .map_err(|e| err(ErrorKind::Internal, format!("signing: {e}")))
    }

    /// Hands a lease that runs low to the `kms-lease` thread; when its queue is full the lease
    /// runs out instead, and the request that finds it empty reserves again itself.
    fn queue_renewal(&self, job: Renewal) {
        let key = (job.user, job.intent.0);
        if self.renewals.try_send(job).is_err() {
            if let Some(l) = lock(&self.leases).get_mut(&key) {
                l.renewing = false;
            }
            self.renewed.notify_all();
        }
    }

    /// Waits (at most [`RENEWAL_WAIT`]) until the renewal of lease `key` is over.
    fn await_renewal(&self, key: (u64, u64)) {
        let leases = lock(&self.leases);
        let _ = self.renewed.wait_timeout_while(leases, RENEWAL_WAIT, |l| {
            l.get(&key).is_some_and(|l| l.renewing)
        });
    }

    /// Reserves further uses for a lease that runs low (on the `kms-lease` thread, off the
    /// request path): up to what a fresh lease would hold (a quarter of the uses left, at most
    /// [`LEASE_MAX`]) minus what it still holds, in one durable write that covered requests do
    /// not wait for ([`kms_intent::IntentStore::reserve_uses`]). Nothing is reserved for an intent
    /// that no longer covers the request (revoked, expired, exhausted); the uses of a lease that
    /// was dropped meanwhile (a revocation) are lost, never reused.
    pub(crate) fn renew_lease(&self, job: Renewal) {
        let key = (job.user, job.intent.0);
        let uid = kms_intent::UserId(job.user);
        let spend = SpendRequest {
            module_hash: &job.module_hash,
            parameters: &job.params,
            amount: job.amount,
        };
        let held = lock(&self.leases).get(&key).map_or(0, |l| l.uses);
        let want = self
            .intents
            .read_user(uid, |s| lease_size(s, job.intent))
            .map(|size| size.saturating_sub(held));
        let reserved = match want {
            Ok(0) => Ok(0),
            Ok(want) => self
                .intents
                .reserve_uses(uid, job.intent, &spend, want, now()),
            Err(e) => Err(e),
        };
        let mut leases = lock(&self.leases);
        if let Some(l) = leases.get_mut(&key) {
            l.renewing = false;
            if let Ok(n) = reserved
                && l.amount == job.amount
            {
                l.uses += n;
                l.size = l.uses;
            }
        }
        drop(leases);
        self.renewed.notify_all();
        if let Err(e) = reserved {
            eprintln!(
                "kms signer: renewing a lease of standing-intent uses failed ({e}); the next \
                 covered request that finds it empty reserves again itself"
            );
        }
    }

    // ------------------------------------------------------------------ modules

    fn module(&self, name_or_hash: &str) -> Result<ModuleRef, WireError> {
        let hash = self
            .registry
            .builtin(name_or_hash)
            .or_else(|| ModuleHash::from_hex(name_or_hash))
            .filter(|h| self.registry.get(h).is_some())
            .ok_or_else(|| {
                err(
                    ErrorKind::UnknownModule,
                    format!("no module named or hashed {name_or_hash:?}"),
                )
            })?;
        let name = self
            .registry
            .get(&hash)
            .and_then(|m| m.manifest().map(|e| e.name.clone()))
            .unwrap_or_else(|| hash.to_string());
        let (action, bound_field) = match name.as_str() {
            "sol-withdraw" => (Action::WithdrawSol, Some("max_lamports")),
            "token-withdraw" => (Action::WithdrawToken, Some("max_amount")),
            "raydium-v4-swap" | "jupiter-v6-route" => (Action::SignTrade, Some("max_amount_in")),
            "pumpfun-trade" => (Action::SignTrade, Some("max_sol_cost")),
            "pumpswap-trade" => (Action::SignTrade, Some("max_quote_in")),
            // A module the signer does not know could move funds anywhere: it gets the strictest
            // requirement.
            _ => (Action::WithdrawSol, None),
        };
        Ok(ModuleRef {
            hash,
            name,
            action,
            bound_field,
        })
    }

    fn params_info(&self, module: &ModuleRef, params: &[u8]) -> Result<ParamsInfo, WireError> {
        let key = (module.hash, params.to_vec());
        if let Some(p) = lock(&self.params_cache).get(&key) {
            return Ok(p.clone());
        }
        let bad = |m: String| err(ErrorKind::InvalidInput, m);
        let checked = self
            .registry
            .check_params(&module.hash, params)
            .map_err(|e| bad(format!("module parameters: {e}")))?;
        let loaded = self
            .registry
            .get(&module.hash)
            .ok_or_else(|| bad("module vanished".into()))?;
        let schema = loaded.compiled().schema().ok_or_else(|| {
            bad(format!(
                "module {} declares no parameter schema",
                module.name
            ))
        })?;
        let values = schema
            .decode(params)
            .map_err(|e| bad(format!("module parameters: {e}")))?;
        let mut user = None;
        let mut bound = 0;
        let mut mints = Vec::new();
        for (field, value) in schema.fields().iter().zip(values) {
            match (field.name.as_str(), value) {
                ("user", ParamValue::Pubkey(k)) => user = Some(k),
                (
                    "mint" | "mint_in" | "mint_out" | "base_mint" | "quote_mint",
                    ParamValue::Pubkey(k),
                ) if k != NATIVE_MINT => {
                    mints.push(k);
                }
                (name, ParamValue::U64(v)) if Some(name) == module.bound_field => bound = v,
                _ => {}
            }
        }
        let user = user.ok_or_else(|| {
            bad(format!(
                "module {} has no `user` parameter: the signer cannot bind it to a wallet",
                module.name
            ))
        })?;
        let info = ParamsInfo {
            checked,
            user,
            bound,
            mints,
        };
        let mut cache = lock(&self.params_cache);
        if cache.len() >= PARAMS_CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, info.clone());
        Ok(info)
    }

    /// Checked parameters whose `user` is `wallet` (at `address`): a module then checks the
    /// transaction of exactly the key that will sign it.
    fn params_for_wallet(
        &self,
        module: &ModuleRef,
        params: &[u8],
        wallet: WalletRef,
        address: &str,
    ) -> Result<(ParamsInfo, [u8; 32]), WireError> {
        let info = self.params_info(module, params)?;
        let key = kms_solana::address_from_base58(address)
            .ok_or_else(|| err(ErrorKind::Internal, "stored wallet address does not decode"))?;
        if info.user != key {
            return Err(err(
                ErrorKind::InvalidInput,
                format!("the module parameters name another wallet than {wallet}"),
            ));
        }
        Ok((info, key))
    }

    fn describe(
        &self,
        wallet: WalletRef,
        address: &str,
        module: &ModuleRef,
        message: &[u8],
    ) -> Result<String, WireError> {
        let parsed = kms_solana::parse_message(message)
            .map_err(|e| err(ErrorKind::MalformedTransaction, e.to_string()))?;
        let user = kms_solana::address_from_base58(address)
            .ok_or_else(|| err(ErrorKind::Internal, "stored wallet address does not decode"))?;
        let d = describe_message(&parsed, &DescribeContext::new().with_user(user));
        let text = format!(
            "Sign with your {wallet} ({address}).\nChecked by module {} ({}…): the transaction has exactly this shape.\n{d}",
            module.name,
            &module.hash.to_string()[..16]
        );
        if text.len() > kms_intent::MAX_DESCRIPTION_LEN {
            return Err(err(
                ErrorKind::InvalidInput,
                "the transaction's description exceeds 4096 bytes: too complex to approve in chat",
            ));
        }
        Ok(text)
    }

    // ------------------------------------------------------------------ signing

    fn sign_request(&self, r: SignRequest) -> Result<Response, WireError> {
        let now = now();
        let (at, index, address) = self.wallet(r.user, r.wallet)?;
        let module = self.module(&r.module)?;
        let (info, wallet_key) =
            self.params_for_wallet(&module, &r.params.0, r.wallet, &address)?;
        let loaded = r
            .lookup
            .iter()
            .map(|a| {
                kms_solana::address_from_base58(a).ok_or_else(|| {
                    err(
                        ErrorKind::InvalidInput,
                        format!("lookup address {a:?} is not base58 of 32 bytes"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let parsed = kms_solana::parse_message(&r.message.0)
            .map_err(|e| err(ErrorKind::MalformedTransaction, e.to_string()))?;
        if parsed.header().num_required_signatures != 1
            || parsed.account_keys().first() != Some(&wallet_key)
        {
            return Err(err(
                ErrorKind::ShapeRefused,
                format!("{} must be the fee payer and the only signer", r.wallet),
            ));
        }
        if let Err(e) = self
            .registry
            .validate_checked(&info.checked, &r.message.0, &loaded)
        {
            let digest = request_digest(&r.message.0, module.hash.as_bytes(), &r.params.0);
            let reason = e.to_string();
            self.audit(&AuditEvent::SignatureDenied {
                user: self.tag(r.user),
                module: module.hash.to_string(),
                request: hex::encode(digest),
                reason: format!("module {}: {reason}", module.name),
            })?;
            return Err(err(
                ErrorKind::ShapeRefused,
                format!("module {} refused: {reason}", module.name),
            ));
        }
        let digest = request_digest(&r.message.0, module.hash.as_bytes(), &r.params.0);
        // Written before anything is spent or signed: a transaction too complex to describe is
        // refused on either path.
        let description = self.describe(r.wallet, &address, &module, &r.message.0)?;
        let uid = kms_intent::UserId(r.user);
        let spend = SpendRequest {
            module_hash: module.hash.as_bytes(),
            parameters: &r.params.0,
            amount: info.bound,
        };
        // Covered by a standing intent? Spend, sign and record in one step of the user's state:
        // the spend becomes durable (with the audit entries, synced first) before the signature
        // leaves this process; if the audit entry cannot be written nothing is spent or signed.
        let signed = |id: IntentId| {
            self.sign_now(&at, index, &r.message.0).and_then(|sig| {
                self.audit(&AuditEvent::IntentUsed {
                    user: self.tag(r.user),
                    intent: id.0,
                    amount: info.bound,
                })?;
                self.audit(&AuditEvent::SignatureMade {
                    user: self.tag(r.user),
                    module: module.hash.to_string(),
                    request: hex::encode(digest),
                    path: id.to_string(),
                })?;
                Ok(sig)
            })
        };
        // Fast path: a use already reserved (and made durable) by an earlier spend of this
        // intent. Under the user's lock, so a revocation is never overtaken; the intent must
        // still cover the request in the current state (not revoked, not expired, same module
        // and parameters, within the per-transaction limit).
        // A lease that ran empty while its renewal is being stored is waited for (once), so
        // the uses being reserved are not passed over for a challenge.
        let mut waited = false;
        let fast = loop {
            let step = self
                .intents
                .read_user(uid, |s| {
                    if module.action == Action::SignTrade
                        && s.check_trade_mints(&info.mints).is_err()
                    {
                        return FastPath::Uncovered;
                    }
                    let Some(id) = s
                        .intents()
                        .iter()
                        .find(|i| covers(i, &spend, now))
                        .map(StandingIntent::id)
                    else {
                        return FastPath::Uncovered;
                    };
                    let mut leases = lock(&self.leases);
                    // Each held use was charged `amount`: never one for a larger request.
                    let Some(lease) = leases
                        .get_mut(&(r.user, id.0))
                        .filter(|l| spend.amount <= l.amount)
                    else {
                        return FastPath::Uncovered;
                    };
                    if lease.uses == 0 {
                        return if lease.renewing {
                            FastPath::Renewing(id)
                        } else {
                            FastPath::Uncovered
                        };
                    }
                    lease.uses -= 1;
                    let renew = !lease.renewing && lease.uses * 4 <= lease.size;
                    lease.renewing |= renew;
                    drop(leases);
                    FastPath::Used(id, renew, signed(id))
                })
                .map_err(intent_err)?;
            match step {
                FastPath::Renewing(id) if !waited => {
                    waited = true;
                    self.await_renewal((r.user, id.0));
                }
                FastPath::Used(id, renew, result) => break Some((id, renew, result)),
                FastPath::Renewing(_) | FastPath::Uncovered => break None,
            }
        };
        if let Some((id, true, _)) = &fast {
            self.queue_renewal(Renewal {
                user: r.user,
                intent: *id,
                module_hash: *module.hash.as_bytes(),
                params: r.params.0.clone(),
                amount: info.bound,
            });
        }
        let mut failure: Option<WireError> = None;
        let covered = match fast {
            Some((id, _, result)) => result.map(|sig| Some((id, sig, None))).map_err(|e| {
                failure = Some(e);
                IntentError::Persistence("aborted".into())
            }),
            None => self.intents.with_user(uid, |s| {
                if module.action == Action::SignTrade {
                    s.check_trade_mints(&info.mints)?;
                }
                let before = s.clone();
                let id = match s.spend_any(&spend, now) {
                    Ok(id) => id,
                    Err(IntentError::NoCoveringIntent) => return Ok(None),
                    Err(e) => return Err(e),
                };
                // Reserve further uses in the same durable write (see SPEC: leases). Not with
                // replication: a lease held by one instance would let it sign after another
                // instance recorded a revocation.
                let extra = if self.db.replicated() {
                    0
                } else {
                    lease_size(s, id)
                };
                let mut reserved = 0;
                while reserved < extra && s.spend(id, &spend, now).is_ok() {
                    reserved += 1;
                }
                match signed(id) {
                    Ok(sig) => Ok(Some((id, sig, Some(reserved)))),
                    Err(e) => {
                        *s = before;
                        failure = Some(e);
                        Err(IntentError::Persistence("aborted".into()))
                    }
                }
            }),
        };
        if let Some(f) = failure {
            return Err(f);
        }
        match covered.map_err(intent_err)? {
            Some((id, sig, reserved)) => {
                // The reservation is durable now (with_user persisted it): only now may the
                // fast path use it.
                if let Some(uses) = reserved {
                    lock(&self.leases).insert(
                        (r.user, id.0),
                        Lease {
                            uses,
                            amount: info.bound,
                            size: uses,
                            renewing: false,
                        },
                    );
                }
                Ok(signed_response(
                    &sig,
                    &r.message.0,
                    id.to_string(),
                    description,
                ))
            }
            None => {
                let spec =
                    ChallengeSpec::approve_reject(digest, description.clone(), now + self.ttl);
                self.challenge(
                    r.user,
                    spec,
                    Some(module.action),
                    PendingKind::Sign {
                        at,
                        index,
                        message: r.message.0,
                        module: module.hash.to_string(),
                        description,
                    },
                )
            }
        }
    }

    /// Creates a challenge, remembers what it decides, sends it to the user's chat and answers
    /// `Pending`.
    fn challenge(
        &self,
        user: u64,
        spec: ChallengeSpec,
        action: Option<Action>,
        kind: PendingKind,
    ) -> Result<Response, WireError> {
        let now = now();
        let uid = kms_intent::UserId(user);
        let mut failure = None;
        let issued = self.intents.with_user(uid, |s| {
            let before = s.clone();
            let issued = s.create_challenge(&mut getrandom::SysRng, &spec, now)?;
            if let Err(e) = self.audit(&AuditEvent::ChallengeCreated {
                user: self.tag(user),
                challenge: issued.id.to_string(),
                request: hex::encode(spec.request_digest),
            }) {
                *s = before;
                failure = Some(e);
                return Err(IntentError::Persistence("aborted".into()));
            }
            Ok(issued)
        });
        if let Some(f) = failure {
            return Err(f);
        }
        let issued = issued.map_err(intent_err)?;
        let factor = match action {
            Some(a) => self
                .intents
                .read_user(uid, |s| requirement_text(s.requirement(a)))
                .map_err(intent_err)?,
            None => None,
        };
        {
            let mut pending = lock(&self.pending);
            if pending.len() % 1024 == 1023 {
                pending.retain(|_, p| p.expires_at + 60 > now);
            }
            pending.insert(
                issued.id.0,
                PendingOp {
                    challenge: issued.id,
                    user,
                    digest: spec.request_digest,
                    action,
                    decisions: spec.decisions.iter().map(|d| d.kind).collect(),
                    expires_at: issued.expires_at,
                    kind,
                },
            );
        }
        self.persist_pending(issued.id)?;
        let challenge = issued.id.to_string();
        let statement = DescriptionStatement {
            user,
            expires_at: issued.expires_at,
            challenge: challenge.clone(),
            request_digest: hex::encode(spec.request_digest),
            factor_required: factor.clone(),
            description: issued.description.clone(),
            buttons: issued.buttons.iter().map(|b| b.label.clone()).collect(),
        }
        .encode()
        .map_err(|e| err(ErrorKind::Internal, format!("description statement: {e}")))?;
        let statement_signature = self.vault.sign_statement(&statement)?;
        self.notify(UserMessage::Challenge {
            user,
            challenge: challenge.clone(),
            description: issued.description.clone(),
            buttons: issued
                .buttons
                .iter()
                .map(|b| ButtonOut {
                    label: b.label.clone(),
                    token: SecretText::new(b.token.expose_secret()),
                })
                .collect(),
            expires_at: issued.expires_at,
            factor_required: factor.clone(),
            request_digest: hex::encode(spec.request_digest),
            statement: Bytes(statement),
            statement_signature: Bytes(statement_signature.to_vec()),
            signer_key: Bytes(self.description_key.to_vec()),
        })?;
        Ok(Response::Pending(Pending {
            challenge,
            expires_at: issued.expires_at,
            description: issued.description,
            factor_required: factor,
            request_digest: hex::encode(spec.request_digest),
        }))
    }

    /// Makes the open challenge `id` durable (sealed), so that a restarted signer still knows
    /// what it decides.
    fn persist_pending(&self, id: kms_intent::ChallengeId) -> Result<(), WireError> {
        let stored = lock(&self.pending)
            .get(&id.0)
            .and_then(PendingOp::to_stored)
            .ok_or_else(|| err(ErrorKind::Internal, "pending challenge vanished"))?;
        let json = Zeroizing::new(
            serde_json::to_vec(&stored)
                .map_err(|_| err(ErrorKind::Internal, "pending challenge encoding failed"))?,
        );
        let key = u64::from_be_bytes(id.0);
        let sealed = self.vault.seal(StateKind::Pending, key, &json)?;
        match self
            .db
            .put_checked(Table::Pending, key, sealed, None)
            .map_err(WireError::from)?
        {
            Checked::Stored(_) => Ok(()),
            Checked::Conflict => Err(err(
                ErrorKind::Internal,
                "a challenge with this id is stored already",
            )),
        }
    }

    /// The open challenge `id`: held in memory, or stored (by this instance before a restart, or
    /// by another instance: a challenge created on one instance can be decided on another).
    fn pending_op(&self, id: [u8; 8]) -> Option<PendingOp> {
        if let Some(op) = lock(&self.pending).get(&id) {
            return Some(op.clone());
        }
        let key = u64::from_be_bytes(id);
        let (sealed, _) = self.db.get_checked(Table::Pending, key).ok()??;
        let op = self
            .vault
            .open(StateKind::Pending, key, &sealed)
            .ok()
            .and_then(|pt| serde_json::from_slice::<StoredPending>(&pt).ok())
            .and_then(|p| PendingOp::from_stored(id, p))?;
        (op.expires_at > now()).then_some(op)
    }

    /// Loads the open challenges a previous signer left, and forgets the expired ones.
    fn load_pending(&self) -> Result<usize, SignerError> {
        let now = now();
        let mut stale = Vec::new();
        let mut pending = lock(&self.pending);
        for (key, sealed) in self.db.scan(Table::Pending)? {
            let op = self
                .vault
                .open(StateKind::Pending, key, &sealed)
                .ok()
                .and_then(|pt| serde_json::from_slice::<StoredPending>(&pt).ok())
                .and_then(|p| PendingOp::from_stored(key.to_be_bytes(), p));
            match op {
                Some(op) if op.expires_at > now => {
                    pending.insert(key.to_be_bytes(), op);
                }
                Some(_) => stale.push(key),
                None => {
                    eprintln!("kms signer: a stored pending challenge does not open; dropped");
                    stale.push(key);
                }
            }
        }
        let n = pending.len();
        drop(pending);
        self.db.delete(Table::Pending, &stale)?;
        Ok(n)
    }

    // ------------------------------------------------------------------ replication

    /// Keeps what the watch delivered (a record another instance, or this one, stored in
    /// JetStream KV), and drops what was cached of it. Sealed bytes that do not open stay
    /// sealed: they are only ever opened when used.
    pub(crate) fn apply_change(&self, entry: Entry) {
        let Some(key) = ReplicaKey::from_kv(&entry.key) else {
            eprintln!(
                "kms signer: replication: a key this version does not know ({} bytes); ignored",
                entry.key.len()
            );
            return;
        };
        let (table, k) = match key {
            ReplicaKey::Authorization(u) => (Table::Authorization, u),
            ReplicaKey::Profile(u) => (Table::Profile, u),
            ReplicaKey::Pending(c) => (Table::Pending, c),
            ReplicaKey::Record(store_key) => {
                if let Err(e) = self.keys.apply_remote(&store_key, &entry.value.0) {
                    eprintln!("kms signer: replication: a key record not kept: {e}");
                }
                return;
            }
        };
        if let Err(e) = self
            .db
            .apply(table, k, entry.value.0, entry.revision, Applied::Watched)
        {
            eprintln!("kms signer: replication: {e}");
            return;
        }
        match table {
            Table::Authorization => {
                self.intents.forget_user(kms_intent::UserId(k));
                lock(&self.leases).retain(|(u, _), _| *u != k);
            }
            Table::Profile => {
                lock(&self.profile_cache).remove(&k);
            }
            Table::Pending => {}
        }
    }

    /// The master key for the attested hand-over to a joiner (`signer::join`), in kms-tpm's
    /// zeroizing secret type; dropped right after it is wrapped to the joiner's TPM key.
    pub(crate) fn master_key_for_handover(&self) -> Result<kms_tpm::SecretBytes, WireError> {
        self.with_master(|m| kms_tpm::SecretBytes::from_slice(m.expose_secret()))
    }

    /// Waits until everything the watch delivered so far is durable here.
    pub(crate) fn flush_changes(&self) -> Result<(), SignerError> {
        self.db.flush()
    }

    // ------------------------------------------------------------------ decisions

    /// A decision from the HTTPS pool (a button pressed in chat or in the mini-app); the answer
    /// goes back to the pool.
    pub(crate) fn pool_request(&self, req: PoolRequest) {
        match req {
            PoolRequest::Decide {
                id,
                user,
                challenge,
                token,
                proof,
            } => {
                let result = self.decide_and_record(user, &token, proof.as_ref(), Some(&challenge));
                let (error, text) = match &result {
                    Ok(r) => (None, outcome_text(r)),
                    Err(e) => (Some(e.kind), e.message.clone()),
                };
                let _ = self.notify(UserMessage::DecideAnswer {
                    user,
                    id,
                    error,
                    text,
                });
            }
            _ => eprintln!("kms signer: a pool request this signer does not know; ignored"),
        }
    }

    /// [`Self::decide`], refusing a token of another challenge than `expect` (the challenge of
    /// the chat message whose button was pressed), then keeping the outcome for
    /// `ChallengeOutcome` and telling the pool the challenge is over.
    fn decide_and_record(
        &self,
        user: u64,
        token: &SecretText,
        proof: Option<&Proof>,
        expect: Option<&str>,
    ) -> Result<Response, WireError> {
        let cid = ParsedToken::parse(token.expose_secret())
            .ok()
            .map(|p| p.challenge_id());
        if let (Some(cid), Some(expect)) = (cid, expect)
            && parse_challenge_id(expect) != Some(cid.0)
        {
            let e = IntentError::Invalid;
            self.audit_denied_token(user, &e);
            return Err(err(
                ErrorKind::InvalidToken,
                format!("the token belongs to another challenge than {expect}"),
            ));
        }
        // Whether this call spent the token: then its result, error or not, is the outcome.
        let mut spent = false;
        let result = self.decide(user, token, proof, &mut spent);
        let Some(cid) = cid else { return result };
        let over = match &result {
            Ok(r) => Some((!matches!(r, Response::Rejected { .. }), outcome_text(r))),
            Err(e) if e.kind == ErrorKind::Expired => Some((false, "Expired.".to_string())),
            Err(e) if spent => Some((false, format!("Not done: {}", e.message))),
            Err(_) => None,
        };
        let Some((approved, text)) = over else {
            return result;
        };
        {
            let kept = lock(&self.outcomes);
            // An expiry seen after a decision does not replace the decision's outcome.
            let keep = result.is_ok() || spent || !kept.contains_key(&cid.0);
            drop(kept);
            if keep {
                self.keep_outcome(cid.0, user, result.clone());
            }
        }
        // Information only: the decision stands even if the chat is unreachable.
        let _ = self.notify(UserMessage::Decided {
            user,
            challenge: cid.to_string(),
            approved,
            text,
        });
        result
    }

    /// Keeps `result` as the outcome of challenge `id` (bounded: expired ones, then the oldest,
    /// go first when full).
    fn keep_outcome(&self, id: [u8; 8], user: u64, result: Result<Response, WireError>) {
        let now = now();
        let mut kept = lock(&self.outcomes);
        if kept.len() >= OUTCOME_MAX {
            kept.retain(|_, o| o.decided_at + OUTCOME_TTL_SECS > now);
        }
        if kept.len() >= OUTCOME_MAX
            && let Some(oldest) = kept
                .iter()
                .min_by_key(|(_, o)| o.decided_at)
                .map(|(k, _)| *k)
        {
            kept.remove(&oldest);
        }
        kept.insert(
            id,
            KeptOutcome {
                user,
                decided_at: now,
                result,
            },
        );
    }

    /// What became of challenge `challenge` of `user`.
    fn challenge_outcome(&self, user: u64, challenge: &str) -> Result<Response, WireError> {
        let unknown = || {
            err(
                ErrorKind::UnknownChallenge,
                format!(
                    "no challenge {challenge} of this user (never issued, decided more than {OUTCOME_TTL_SECS} s ago, or before a signer restart)"
                ),
            )
        };
        let id = parse_challenge_id(challenge).ok_or_else(unknown)?;
        if let Some(o) = lock(&self.outcomes).get(&id) {
            if o.user == user && o.decided_at + OUTCOME_TTL_SECS > now() {
                return o.result.clone();
            }
            return Err(unknown());
        }
        match self.pending_op(id) {
            Some(op) if op.user == user => Ok(Response::Waiting {
                challenge: challenge.to_string(),
                expires_at: op.expires_at,
            }),
            _ => Err(unknown()),
        }
    }

    fn decide(
        &self,
        user: u64,
        token: &SecretText,
        proof: Option<&Proof>,
        spent: &mut bool,
    ) -> Result<Response, WireError> {
        let now = now();
        let uid = kms_intent::UserId(user);
        let token = token.expose_secret();
        let parsed = ParsedToken::parse(token).map(|p| (p.challenge_id(), p.decision_index()));
        let op = parsed
            .as_ref()
            .ok()
            .and_then(|(cid, _)| self.pending_op(cid.0))
            .filter(|op| op.user == user);
        let (Ok((cid, index)), Some(op)) = (parsed, op) else {
            // Unknown here: the user's state says why (and counts a wrong token).
            return match self.intents.with_user(uid, |s| s.resolve(token, now)) {
                Err(e) => {
                    self.audit_denied_token(user, &e);
                    Err(intent_err(e))
                }
                Ok(_) => Err(err(
                    ErrorKind::Unavailable,
                    "the request behind this challenge is no longer held by the signer (it restarted); ask again",
                )),
            };
        };
        let approving = op
            .decisions
            .get(usize::from(index))
            .is_some_and(|k| k.approves());
        let factor = factor_proof(proof, &self.rp);
        let mut failure = None;
        // Runs that wrote their decision to the audit log: with replication a run can lose the
        // race to another instance after that, and is re-run on the newer state.
        let mut audited = 0u32;
        let decided = self.intents.with_user(uid, |s| {
            let auth = match (approving, op.action) {
                (true, Some(action)) => Some(s.authorize(action, &op.digest, &factor, now)?),
                _ => None,
            };
            let res = s.resolve(token, now)?;
            if res.request_digest != op.digest {
                return Err(IntentError::Invalid);
            }
            let before = s.clone();
            let outcome = apply_decision(&self.rp, s, &op, res.decision, &res.label, auth, now)?;
            let decision = match res.decision {
                DecisionKind::Approve => "approve".to_string(),
                DecisionKind::Reject => "reject".to_string(),
                DecisionKind::ApproveAndRemember => "approve and remember".to_string(),
                DecisionKind::Custom(_) => "answer".to_string(),
                _ => "other".to_string(),
            };
            if let Err(e) = self.audit(&AuditEvent::ChallengeDecided {
                user: self.tag(user),
                challenge: cid.to_string(),
                decision,
            }) {
                *s = before;
                failure = Some(e);
                return Err(IntentError::Persistence("aborted".into()));
            }
            audited += 1;
            Ok(outcome)
        });
        if let Some(f) = failure {
            return Err(f);
        }
        let lost = audited.saturating_sub(u32::from(decided.is_ok()));
        if lost > 0 {
            let _ = self.audit(&AuditEvent::FactorFailed {
                user: self.tag(user),
                factor: "decision token".into(),
                action: format!(
                    "challenge {cid}: {lost} decision entr{} above did not take effect (another instance changed the user's state first)",
                    if lost == 1 { "y" } else { "ies" }
                ),
            });
        }
        let decided = match decided {
            Ok(d) => d,
            Err(e) => {
                if matches!(e, IntentError::AlreadyDecided | IntentError::Expired) {
                    lock(&self.pending).remove(&cid.0);
                }
                self.audit_denied_token(user, &e);
                return Err(intent_err(e));
            }
        };
        // The token is spent: until the caller records what this decision produced,
        // `challenge_outcome` answers `waiting` (a placeholder), never `unknown_challenge`.
        self.keep_outcome(
            cid.0,
            user,
            Ok(Response::Waiting {
                challenge: cid.to_string(),
                expires_at: op.expires_at,
            }),
        );
        *spent = true;
        lock(&self.pending).remove(&cid.0);
        match decided {
            Decided::Rejected => {
                if let PendingKind::Sign { module, .. } = &op.kind {
                    self.audit(&AuditEvent::SignatureDenied {
                        user: self.tag(user),
                        module: module.clone(),
                        request: hex::encode(op.digest),
                        reason: "the user rejected".into(),
                    })?;
                }
                Ok(Response::Rejected {
                    challenge: cid.to_string(),
                })
            }
            Decided::Sign => {
                let PendingKind::Sign {
                    at,
                    index,
                    message,
                    module,
                    description,
                    ..
                } = op.kind
                else {
                    return Err(err(
                        ErrorKind::Internal,
                        "decision does not match its request",
                    ));
                };
                let sig = self.sign_now(&at, index, &message)?;
                self.audit(&AuditEvent::SignatureMade {
                    user: self.tag(user),
                    module,
                    request: hex::encode(op.digest),
                    path: format!("challenge {cid}"),
                })?;
                // Information only: the signature stands even if the chat is unreachable.
                let _ = self.notify(UserMessage::Notice {
                    user,
                    text: format!("Signed (challenge {cid})."),
                });
                Ok(signed_response(
                    &sig,
                    &message,
                    format!("challenge {cid}"),
                    description,
                ))
            }
            Decided::Intent(id) => {
                let module = match &op.kind {
                    PendingKind::Intent { module } => module.clone(),
                    _ => String::new(),
                };
                self.audit(&AuditEvent::IntentCreated {
                    user: self.tag(user),
                    intent: id.0,
                    module,
                })?;
                Ok(Response::IntentCreated { intent: id.0 })
            }
            Decided::Whitelist { mint, added } => {
                self.audit(&AuditEvent::WhitelistChanged {
                    user: self.tag(user),
                    mint: bs58::encode(mint).into_string(),
                    added,
                })?;
                Ok(Response::Done {
                    what: format!("whitelist {}", if added { "add" } else { "remove" }),
                })
            }
            Decided::Export(what) => self.export(user, what),
            Decided::Passkey => {
                self.audit(&AuditEvent::FactorEnabled {
                    user: self.tag(user),
                    factor: "passkey".into(),
                })?;
                Ok(Response::Done {
                    what: "passkey registered".into(),
                })
            }
            Decided::QuizAnswer { position, word } => self.quiz_answer(user, position, word),
        }
    }

    fn audit_denied_token(&self, user: u64, e: &IntentError) {
        let _ = self.audit(&AuditEvent::FactorFailed {
            user: self.tag(user),
            factor: "decision token".into(),
            action: e.to_string(),
        });
    }

    // ------------------------------------------------------------------ standing intents

    fn propose_intent(&self, p: IntentProposal) -> Result<Response, WireError> {
        let (_, _, address) = self.wallet(p.user, p.wallet)?;
        let module = self.module(&p.module)?;
        self.params_for_wallet(&module, &p.params.0, p.wallet, &address)?;
        let terms = IntentTerms {
            module_hash: *module.hash.as_bytes(),
            parameters: p.params.0.clone(),
            per_transaction_limit: p.per_transaction_limit,
            cumulative_limit: p.cumulative_limit,
            max_uses: p.max_uses,
            valid_until: p.valid_until,
        };
        let params_text = describe_params(&self.registry, &module.hash, &p.params.0);
        let description = format!(
            "Standing intent for your {} ({address}): sign future {} transactions WITHOUT asking, as long as they match exactly:\n{params_text}\nEach use counts {} against the limits: at most {} per transaction, {} in total, {} uses, until unix time {}.",
            p.wallet,
            module.name,
            module.bound_field.unwrap_or("nothing (uses only)"),
            p.per_transaction_limit,
            p.cumulative_limit,
            p.max_uses,
            p.valid_until
        );
        let mut message = b"kms standing intent v1".to_vec();
        message.extend_from_slice(&p.user.to_be_bytes());
        message.extend_from_slice(&p.per_transaction_limit.to_be_bytes());
        message.extend_from_slice(&p.cumulative_limit.to_be_bytes());
        message.extend_from_slice(&p.max_uses.to_be_bytes());
        message.extend_from_slice(&p.valid_until.to_be_bytes());
        let digest = request_digest(&message, module.hash.as_bytes(), &p.params.0);
        let spec = ChallengeSpec {
            request_digest: digest,
            description,
            expires_at: now() + self.ttl,
            decisions: vec![
                DecisionSpec::new(DecisionKind::ApproveAndRemember, "Approve intent"),
                DecisionSpec::new(DecisionKind::Reject, "Reject"),
            ],
            intent: Some(terms),
        };
        self.challenge(
            p.user,
            spec,
            Some(Action::CreateIntent),
            PendingKind::Intent {
                module: module.hash.to_string(),
            },
        )
    }

    fn list_intents(&self, user: u64) -> Result<Response, WireError> {
        self.require_user(user)?;
        let now = now();
        let leases = |id: u64| {
            lock(&self.leases).get(&(user, id)).map_or((0, 0), |l| {
                (l.uses, l.amount.saturating_mul(u64::from(l.uses)))
            })
        };
        let intents = self
            .intents
            .read_user(kms_intent::UserId(user), |s| {
                s.intents()
                    .iter()
                    .map(|i| {
                        // Uses reserved ahead but not yet used are not shown as used.
                        let (held_uses, held_amount) = leases(i.id().0);
                        let uses = i.uses().saturating_sub(held_uses);
                        let spent = i.spent().saturating_sub(held_amount);
                        let t = i.terms();
                        let status = match i.status(now) {
                            IntentStatus::Revoked => "revoked",
                            IntentStatus::Expired => "expired",
                            _ if uses >= t.max_uses || spent >= t.cumulative_limit => "exhausted",
                            _ => "active",
                        };
                        IntentInfo {
                            id: i.id().0,
                            status: status.into(),
                            module: hex::encode(t.module_hash),
                            spent,
                            uses,
                            per_transaction_limit: t.per_transaction_limit,
                            cumulative_limit: t.cumulative_limit,
                            max_uses: t.max_uses,
                            valid_until: t.valid_until,
                        }
                    })
                    .collect()
            })
            .map_err(intent_err)?;
        Ok(Response::Intents { intents })
    }

    fn revoke_intent(&self, user: u64, intent: u64) -> Result<Response, WireError> {
        self.require_user(user)?;
        let now = now();
        let mut failure = None;
        self.intents
            .with_user(kms_intent::UserId(user), |s| {
                s.revoke_intent(IntentId(intent), now)?;
                if let Err(e) = self.audit(&AuditEvent::IntentRevoked {
                    user: self.tag(user),
                    intent,
                }) {
                    failure = Some(e);
                }
                Ok(())
            })
            .map_err(intent_err)?;
        lock(&self.leases).remove(&(user, intent));
        // Revoking only removes authority: even when the entry could not be written the
        // revocation stands, and the error says the log is unavailable.
        if let Some(f) = failure {
            return Err(f);
        }
        Ok(Response::Done {
            what: format!("intent {intent} revoked"),
        })
    }

    // ------------------------------------------------------------------ second factors

    fn enable_totp(&self, user: u64, proof: Option<&Proof>) -> Result<Response, WireError> {
        self.require_user(user)?;
        let now = now();
        let digest = fixed_digest(b"kms enable totp v1", user);
        let factor = factor_proof(proof, &self.rp);
        let enrollment = self
            .intents
            .with_user(kms_intent::UserId(user), |s| {
                let auth = s.authorize(
                    Action::EnableFactor(kms_intent::Factor::Totp),
                    &digest,
                    &factor,
                    now,
                )?;
                s.begin_totp_enrollment(
                    &mut getrandom::SysRng,
                    TotpParams::default(),
                    "kms",
                    &format!("user {user}"),
                    auth,
                    now,
                )
            })
            .map_err(intent_err)?;
        let qr_png = enrollment.qr_png(6).map_err(intent_err)?;
        let qr_text = enrollment.qr_terminal(true).map_err(intent_err)?;
        self.notify(UserMessage::TotpEnrollment {
            user,
            otpauth_uri: SecretText::new(enrollment.otpauth_uri()),
            qr_png: Bytes(qr_png.to_vec()),
            qr_text: SecretText::new(qr_text.as_str()),
        })?;
        Ok(Response::TotpEnrollmentSent {
            confirm_before: now + kms_intent::TOTP_ENROLLMENT_TTL_SECS,
        })
    }

    fn confirm_totp(&self, user: u64, code: &SecretText) -> Result<Response, WireError> {
        self.require_user(user)?;
        let now = now();
        match self.intents.with_user(kms_intent::UserId(user), |s| {
            s.confirm_totp(code.expose_secret(), now)
        }) {
            Ok(()) => {
                self.audit(&AuditEvent::FactorEnabled {
                    user: self.tag(user),
                    factor: "totp".into(),
                })?;
                Ok(Response::Done {
                    what: "TOTP enabled".into(),
                })
            }
            Err(e) => {
                let _ = self.audit(&AuditEvent::FactorFailed {
                    user: self.tag(user),
                    factor: "totp".into(),
                    action: "enable totp".into(),
                });
                Err(intent_err(e))
            }
        }
    }

    fn begin_passkey(&self, user: u64) -> Result<Response, WireError> {
        self.require_user(user)?;
        let mut challenge = [0u8; 32];
        getrandom::fill(&mut challenge).map_err(|_| err(ErrorKind::Internal, "OS RNG failed"))?;
        lock(&self.passkey_registrations).insert(user, (challenge, now() + 600));
        Ok(Response::PasskeyChallenge {
            challenge: Bytes(challenge.to_vec()),
            rp_id: self.rp.id.clone(),
        })
    }

    /// A passkey registration becomes a decision in the user's chat: the business logic relays
    /// the browser's registration, but only the user's approval (with an existing factor, when
    /// one is enabled) makes it a factor.
    fn register_passkey(
        &self,
        user: u64,
        client_data_json: &Bytes,
        attestation_object: &Bytes,
        label: &str,
    ) -> Result<Response, WireError> {
        self.require_user(user)?;
        let now = now();
        let (challenge, until) = lock(&self.passkey_registrations)
            .remove(&user)
            .ok_or_else(|| err(ErrorKind::InvalidInput, "no passkey registration was begun"))?;
        if now >= until {
            return Err(err(
                ErrorKind::Expired,
                "the passkey registration challenge expired",
            ));
        }
        if label.is_empty() || label.len() > 64 || label.chars().any(char::is_control) {
            return Err(err(
                ErrorKind::InvalidInput,
                "the passkey label must be 1 to 64 printable bytes",
            ));
        }
        let description = format!(
            "Register the passkey \"{label}\" as a second factor for your wallet. Approve only if you just created it yourself."
        );
        let spec = ChallengeSpec::approve_reject(challenge, description, now + self.ttl);
        self.challenge(
            user,
            spec,
            Some(Action::EnableFactor(kms_intent::Factor::Passkey)),
            PendingKind::Passkey {
                client_data_json: client_data_json.0.clone(),
                attestation_object: attestation_object.0.clone(),
                label: label.to_string(),
            },
        )
    }

    // ------------------------------------------------------------------ whitelist, export

    fn propose_whitelist(&self, user: u64, mint: &str, add: bool) -> Result<Response, WireError> {
        self.require_user(user)?;
        let key = kms_solana::address_from_base58(mint).ok_or_else(|| {
            err(
                ErrorKind::InvalidInput,
                format!("mint {mint:?} is not a base58 address"),
            )
        })?;
        let (what, action, kind) = if add {
            (
                "Add",
                Action::AddToWhitelist,
                PendingKind::WhitelistAdd(key),
            )
        } else {
            (
                "Remove",
                Action::RemoveFromWhitelist,
                PendingKind::WhitelistRemove(key),
            )
        };
        let description = format!(
            "{what} the token mint {mint} {} your trading whitelist.",
            if add { "to" } else { "from" }
        );
        let digest = fixed_digest(
            if add {
                b"kms whitelist add v1"
            } else {
                b"kms whitelist remove v1"
            },
            user,
        );
        let digest = request_digest(&key, &digest, &[]);
        let spec = ChallengeSpec::approve_reject(digest, description, now() + self.ttl);
        self.challenge(user, spec, Some(action), kind)
    }

    fn propose_export(&self, user: u64, what: ExportWhat) -> Result<Response, WireError> {
        self.require_user(user)?;
        // An export is only ever approved with TOTP or a passkey: without one, say so now
        // instead of asking the user for a decision that cannot succeed.
        let factors = self
            .intents
            .read_user(kms_intent::UserId(user), UserState::enabled_factors)
            .map_err(intent_err)?;
        if factors.is_empty() {
            return Err(err(
                ErrorKind::SecondFactorRequired,
                "exports need a second factor: enable TOTP or a passkey first",
            ));
        }
        let (action, text, slot) = match what {
            ExportWhat::Seed => (
                Action::ExportSeed,
                "Export your seed phrase and imported keys as an encrypted backup file".to_string(),
                u32::MAX,
            ),
            ExportWhat::Key { slot } => {
                self.wallet(user, WalletRef::Imported(slot))?;
                (
                    Action::ExportKey,
                    format!("Export your imported key #{slot} as an encrypted backup file"),
                    slot,
                )
            }
        };
        let description = format!(
            "{text}. The file goes to the bot; its password comes to this chat only. Approve only if you asked for it."
        );
        let mut digest = fixed_digest(b"kms export v1", user).to_vec();
        digest.extend_from_slice(&slot.to_be_bytes());
        digest.extend_from_slice(&now().to_be_bytes());
        let digest = request_digest(&digest, &[0; 32], &[]);
        let spec = ChallengeSpec::approve_reject(digest, description, now() + self.ttl);
        self.challenge(user, spec, Some(action), PendingKind::Export(what))
    }

    fn export(&self, user: u64, what: ExportWhat) -> Result<Response, WireError> {
        let uid = core_user(user)?;
        let contents = match what {
            ExportWhat::Seed => self
                .with_master(|m| BackupContents::from_store(&self.keys, m, &uid))?
                .map_err(|e| err(ErrorKind::Internal, format!("backup: {e}")))?,
            ExportWhat::Key { slot } => {
                let at = RecordLocation::new(uid, RecordKind::ImportedKey, slot);
                let rec = self
                    .keys
                    .get(&at)
                    .map_err(key_store_err)?
                    .ok_or_else(|| err(ErrorKind::UnknownWallet, "no such imported key"))?;
                let key = self
                    .with_master(|m| rec.open(m, &at))?
                    .map_err(|e| err(ErrorKind::Internal, format!("backup: {e}")))?;
                let OpenedRecord::ImportedKey(key) = key else {
                    return Err(err(ErrorKind::Internal, "record kind mismatch"));
                };
                BackupContents {
                    imported: vec![(slot, key)],
                    ..BackupContents::default()
                }
            }
        };
        let password = backup_password()?;
        let backup =
            kms_core::export_backup(&contents, password.as_bytes(), BackupParams::default())
                .map_err(|e| err(ErrorKind::Internal, format!("backup: {e}")))?;
        drop(contents);
        self.audit(&AuditEvent::Exported {
            user: self.tag(user),
            what: match what {
                ExportWhat::Seed => "seed".into(),
                ExportWhat::Key { slot } => format!("imported key {slot}"),
            },
        })?;
        self.notify(UserMessage::BackupPassword {
            user,
            password: SecretText::new(password.as_str()),
        })?;
        Ok(Response::Exported {
            backup: Bytes(backup),
        })
    }

    // ------------------------------------------------------------------ backup quiz

    fn start_quiz(
        &self,
        user: u64,
        phrase: &Mnemonic,
        positions: &[usize],
    ) -> Result<(), WireError> {
        lock(&self.quizzes).insert(
            user,
            QuizRun {
                positions: positions.to_vec(),
                answers: BTreeMap::new(),
            },
        );
        let words = bip39_words();
        for (k, &p) in positions.iter().enumerate() {
            let right = phrase
                .word(p - 1)
                .ok_or_else(|| err(ErrorKind::Internal, "quiz position outside the phrase"))?;
            let mut choices = vec![right.to_string()];
            while choices.len() < QUIZ_CHOICES {
                let w = words[random_below(words.len())?];
                if !choices.iter().any(|c| c == w) {
                    choices.push(w.to_string());
                }
            }
            // Fisher-Yates, so the right word's place says nothing.
            for i in (1..choices.len()).rev() {
                choices.swap(i, random_below(i + 1)?);
            }
            let decisions = choices
                .iter()
                .enumerate()
                .map(|(i, w)| DecisionSpec::new(DecisionKind::Custom(i as u16), w.clone()))
                .collect();
            let mut msg = fixed_digest(b"kms seed quiz v1", user).to_vec();
            msg.extend_from_slice(&(p as u64).to_be_bytes());
            let spec = ChallengeSpec {
                request_digest: request_digest(&msg, &[0; 32], &[]),
                description: format!(
                    "Backup check {}/{}: which is word #{p} of the recovery phrase you just wrote down?",
                    k + 1,
                    positions.len()
                ),
                expires_at: now() + QUIZ_TTL_SECS,
                decisions,
                intent: None,
            };
            self.challenge(user, spec, None, PendingKind::Quiz { position: p })?;
        }
        Ok(())
    }

    fn quiz_answer(
        &self,
        user: u64,
        position: usize,
        word: Zeroizing<String>,
    ) -> Result<Response, WireError> {
        let (positions, answers) = {
            let mut quizzes = lock(&self.quizzes);
            let run = quizzes
                .get_mut(&user)
                .ok_or_else(|| err(ErrorKind::PolicyRefused, "no backup quiz is running"))?;
            run.answers.insert(position, word);
            if run.answers.len() < run.positions.len() {
                return Ok(Response::QuizProgress {
                    remaining: run.positions.len() - run.answers.len(),
                    confirmed: false,
                });
            }
            let positions = run.positions.clone();
            let answers: Vec<Zeroizing<String>> = positions
                .iter()
                .filter_map(|p| run.answers.get(p).cloned())
                .collect();
            quizzes.remove(&user);
            (positions, answers)
        };
        let record = self.require_user(user)?;
        let at = Self::seed_at(user)?;
        let opened = self
            .with_master(|m| record.open(m, &at))?
            .map_err(|e| err(ErrorKind::Internal, e.to_string()))?;
        let OpenedRecord::Seed(seed) = opened else {
            return Err(err(ErrorKind::Internal, "seed record kind mismatch"));
        };
        let phrase = seed
            .mnemonic
            .as_ref()
            .ok_or_else(|| err(ErrorKind::PolicyRefused, "this seed has no phrase to check"))?;
        let words: Vec<&str> = (0..phrase.word_count())
            .filter_map(|i| phrase.word(i))
            .collect();
        let answer_refs: Vec<&str> = answers.iter().map(|a| a.as_str()).collect();
        let now = now();
        match self.intents.with_user(kms_intent::UserId(user), |s| {
            s.answer_seed_quiz(&words, &answer_refs, now)
        }) {
            Ok(()) => Ok(Response::QuizProgress {
                remaining: 0,
                confirmed: true,
            }),
            Err(IntentError::QuizWrong) => {
                // Ask the same positions again, with fresh choices.
                self.start_quiz(user, phrase, &positions)?;
                Err(err(
                    ErrorKind::PolicyRefused,
                    "the backup quiz answers were wrong; the questions were sent again",
                ))
            }
            Err(e) => Err(intent_err(e)),
        }
    }

    // ------------------------------------------------------------------ audit, status

    fn audit_tail(&self, count: u32) -> Result<Response, WireError> {
        let count = count.min(1000) as usize;
        let lines = lock(&self.audit)
            .tail(count)
            .map_err(|e| err(ErrorKind::AuditUnavailable, e.to_string()))?;
        Ok(Response::AuditLines { lines })
    }

    fn status(&self) -> Response {
        let probe = sandbox::probe(&self.data_dir, std::path::Path::new("/etc/hostname"));
        let probe = match serde_json::to_value(&probe) {
            Ok(serde_json::Value::Object(m)) => m
                .into_iter()
                .map(|(k, v)| (k, v.to_string().trim_matches('"').to_string()))
                .collect(),
            _ => Vec::new(),
        };
        Response::Status(SignerStatus {
            pid: std::process::id(),
            lockdown: self
                .sandbox
                .to_string()
                .lines()
                .map(str::to_owned)
                .collect(),
            probe,
            master_key_shielded: true,
            description_key: bs58::encode(self.description_key).into_string(),
        })
    }
}

/// What a decision did to the user's state.
enum Decided {
    Rejected,
    Sign,
    Intent(IntentId),
    Whitelist {
        mint: [u8; 32],
        added: bool,
    },
    Export(ExportWhat),
    QuizAnswer {
        position: usize,
        word: Zeroizing<String>,
    },
    Passkey,
}

fn apply_decision(
    rp: &RelyingParty,
    s: &mut UserState,
    op: &PendingOp,
    decision: DecisionKind,
    label: &str,
    auth: Option<Authorization>,
    now: u64,
) -> Result<Decided, IntentError> {
    if decision == DecisionKind::Reject {
        return Ok(Decided::Rejected);
    }
    let need_auth = || IntentError::AuthorizationMismatch;
    Ok(match (&op.kind, decision) {
        (PendingKind::Quiz { position }, DecisionKind::Custom(_)) => Decided::QuizAnswer {
            position: *position,
            word: Zeroizing::new(label.to_string()),
        },
        (PendingKind::Sign { .. }, DecisionKind::Approve) => {
            // The authorization is what `authorize` checked for this action and digest; signing
            // happens after the decision is durable.
            let _checked = auth.ok_or_else(need_auth)?;
            Decided::Sign
        }
        (PendingKind::Intent { .. }, DecisionKind::ApproveAndRemember) => {
            let auth = auth.ok_or_else(need_auth)?;
            Decided::Intent(s.create_intent(op.challenge, auth, now)?)
        }
        (PendingKind::WhitelistAdd(mint), DecisionKind::Approve) => {
            s.add_to_whitelist(*mint, auth.ok_or_else(need_auth)?)?;
            if !s.whitelist().is_enabled() {
                s.enable_whitelist();
            }
            Decided::Whitelist {
                mint: *mint,
                added: true,
            }
        }
        (PendingKind::WhitelistRemove(mint), DecisionKind::Approve) => {
            s.remove_from_whitelist(mint, auth.ok_or_else(need_auth)?)?;
            Decided::Whitelist {
                mint: *mint,
                added: false,
            }
        }
        (
            PendingKind::Passkey {
                client_data_json,
                attestation_object,
                label,
            },
            DecisionKind::Approve,
        ) => {
            let auth = auth.ok_or_else(need_auth)?;
            s.register_passkey(rp, client_data_json, attestation_object, label, auth, now)?;
            Decided::Passkey
        }
        (PendingKind::Export(what), DecisionKind::Approve) => {
            let auth = auth.ok_or_else(need_auth)?;
            match what {
                ExportWhat::Seed => s.authorize_seed_reveal(auth)?,
                ExportWhat::Key { .. } => {
                    if s.enabled_factors().is_empty() {
                        return Err(IntentError::NoSecondFactorEnabled);
                    }
                    if !matches!(auth.proof(), Some(ProofUsed::Totp | ProofUsed::Passkey)) {
                        return Err(IntentError::SecondFactorRequired {
                            action: Action::ExportKey,
                        });
                    }
                }
            }
            Decided::Export(*what)
        }
        _ => return Err(IntentError::Invalid),
    })
}

fn signed_response(
    sig: &kms_core::Signature,
    message: &[u8],
    by: String,
    description: String,
) -> Response {
    let mut tx = Vec::with_capacity(1 + 64 + message.len());
    tx.push(1); // compact-u16 count: one signature
    tx.extend_from_slice(&sig.to_bytes());
    tx.extend_from_slice(message);
    Response::Signed {
        signature: bs58::encode(sig.to_bytes()).into_string(),
        transaction: Bytes(tx),
        authorized_by: by,
        description,
    }
}

/// A chat line for a decision's outcome: public facts only (a signature, an intent id).
fn outcome_text(r: &Response) -> String {
    match r {
        Response::Signed { signature, .. } => format!("Signed: {signature}"),
        Response::Rejected { .. } => "Rejected.".into(),
        Response::IntentCreated { intent } => format!("Standing intent #{intent} created."),
        Response::Exported { .. } => "Backup exported; its password is in this chat.".into(),
        Response::QuizProgress {
            confirmed: true, ..
        } => "Backup confirmed.".into(),
        Response::QuizProgress { remaining, .. } => format!("Correct; {remaining} to go."),
        Response::Done { what } => format!("Done: {what}."),
        _ => "Done.".into(),
    }
}

/// A challenge id as the hex text of its 8 bytes.
fn parse_challenge_id(s: &str) -> Option<[u8; 8]> {
    let mut id = [0u8; 8];
    hex::decode_to_slice(s, &mut id).ok()?;
    Some(id)
}

fn requirement_text(r: Requirement) -> Option<String> {
    match r {
        Requirement::None => None,
        Requirement::AnyFactor => Some("any".into()),
        Requirement::Factor(f) => Some(f.to_string()),
        _ => Some("factor".into()),
    }
}

fn factor_proof<'a>(proof: Option<&'a Proof>, rp: &'a RelyingParty) -> FactorProof<'a> {
    match proof {
        None => FactorProof::None,
        Some(Proof::Totp { code }) => FactorProof::Totp(code.expose_secret()),
        Some(Proof::RecoveryCode { code }) => FactorProof::RecoveryCode(code.expose_secret()),
        Some(Proof::Passkey {
            credential_id,
            client_data_json,
            authenticator_data,
            signature,
        }) => FactorProof::Passkey {
            rp,
            assertion: PasskeyAssertion {
                credential_id: &credential_id.0,
                client_data_json: &client_data_json.0,
                authenticator_data: &authenticator_data.0,
                signature: &signature.0,
            },
        },
    }
}

/// A fixed request digest for an operation of one user that signs no message.
fn fixed_digest(domain: &[u8], user: u64) -> [u8; 32] {
    request_digest(domain, &[0; 32], &user.to_be_bytes())
}

fn core_user(user: u64) -> Result<kms_core::UserId, WireError> {
    kms_core::UserId::new(format!("tg:{user}"))
        .map_err(|e| err(ErrorKind::InvalidInput, e.to_string()))
}

fn describe_params(registry: &Registry, hash: &ModuleHash, params: &[u8]) -> String {
    let Some(m) = registry.get(hash) else {
        return String::new();
    };
    let Some(schema) = m.compiled().schema() else {
        return String::new();
    };
    let Ok(values) = schema.decode(params) else {
        return String::new();
    };
    schema
        .fields()
        .iter()
        .zip(values)
        .map(|(f, v)| {
            let v = match v {
                ParamValue::Pubkey(k) => bs58::encode(k).into_string(),
                ParamValue::OptPubkey(Some(k)) => bs58::encode(k).into_string(),
                ParamValue::OptPubkey(None) => "none".into(),
                ParamValue::U8(x) => x.to_string(),
                ParamValue::U16(x) => x.to_string(),
                ParamValue::U32(x) => x.to_string(),
                ParamValue::U64(x) => x.to_string(),
                ParamValue::Bool(x) => x.to_string(),
                ParamValue::Derived => "derived".into(),
                _ => "?".into(),
            };
            format!("  {}: {v}", f.name)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn bip39_words() -> &'static [&'static str; 2048] {
    bip39::Language::English.word_list()
}

/// A uniform index below `n` from the OS RNG (rejection sampling).
fn random_below(n: usize) -> Result<usize, WireError> {
    let n = u32::try_from(n).map_err(|_| err(ErrorKind::Internal, "range too large"))?;
    let zone = u32::MAX - u32::MAX % n;
    loop {
        let mut b = [0u8; 4];
        getrandom::fill(&mut b).map_err(|_| err(ErrorKind::Internal, "OS RNG failed"))?;
        let v = u32::from_le_bytes(b);
        if v < zone {
            return Ok((v % n) as usize);
        }
    }
}

/// A backup password: 25 characters of the RFC 4648 base32 alphabet (125 bits), in groups of 5.
fn backup_password() -> Result<Zeroizing<String>, WireError> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut raw = Zeroizing::new([0u8; 25]);
    getrandom::fill(raw.as_mut_slice()).map_err(|_| err(ErrorKind::Internal, "OS RNG failed"))?;
    let mut out = Zeroizing::new(String::with_capacity(29));
    for (i, b) in raw.iter().enumerate() {
        if i > 0 && i % 5 == 0 {
            out.push('-');
        }
        out.push(char::from(ALPHABET[usize::from(b & 31)]));
    }
    Ok(out)
}
