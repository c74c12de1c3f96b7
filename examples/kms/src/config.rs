//! `kms.toml`: the configuration every process reads (the supervisor resolves it once and hands
//! each child the resolved form).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Where the master key comes from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum KeySource {
    /// Sealed to the TPM's PCR policy (production).
    Tpm,
    /// **INSECURE**: kms-tpm's development sealer, key file in the data directory.
    Dev,
}

/// The resolved configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Config {
    /// The signer's data directory (key store, state, audit log, sealed master key).
    pub(crate) data_dir: PathBuf,
    /// Where the master key comes from.
    #[serde(default = "default_source")]
    pub(crate) key_source: KeySource,
    /// The bus socket path (the bridge listens here).
    pub(crate) socket: PathBuf,
    /// File mode of the bus socket (who may talk to the signer), octal text like "0660".
    #[serde(default = "default_socket_mode")]
    pub(crate) socket_mode: String,
    /// The TPM.
    #[serde(default)]
    pub(crate) tpm: TpmConfig,
    /// The signer.
    #[serde(default)]
    pub(crate) signer: SignerConfig,
    /// Where the HTTPS pool delivers messages to users.
    #[serde(default)]
    pub(crate) notifier: NotifierConfig,
    /// The supervisor.
    #[serde(default)]
    pub(crate) supervisor: SupervisorConfig,
    /// Deliver through the Telegram signer bot instead of the inbox file.
    #[serde(default)]
    pub(crate) telegram: Option<TelegramConfig>,
    /// The bus: `"unix"` (the socket only; one instance) or NATS server URLs
    /// (`"nats://127.0.0.1:4222"`, comma-separated; `tls://` for TLS): then the bridge also
    /// serves requests from NATS and the instance replicates its sealed records through
    /// JetStream KV with the other instances on the same bucket (see `[nats]`).
    #[serde(default = "default_bus")]
    pub(crate) bus: String,
    /// `[nats]`: subjects, bucket, TLS and credentials when `bus` is NATS.
    #[serde(default)]
    pub(crate) nats: NatsConfig,
    /// `[join]`: the attested master-key hand-over between instances (TPM, NATS).
    #[serde(default)]
    pub(crate) join: JoinConfig,
}

/// `[join]`: kms-tpm's join protocol between this instance's TPM and another's, carried over
/// NATS. Both sides check the other: EK trusted (fingerprint or manufacturer chain), a quote of
/// the allowed PCR values, and the keys bound to the TPM.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct JoinConfig {
    /// Hand the master key to attested joiners (this instance holds it; needs `nats.instance`).
    #[serde(default)]
    pub(crate) sponsor: bool,
    /// With no `master.blob`, get the master key from a sponsor instead of making a new one.
    #[serde(default)]
    pub(crate) join: bool,
    /// PCR values the other side's TPM must report, one string per allowed state:
    /// `"4=<hex>,7=<hex>,11=<hex>"`, the PCRs of `tpm.pcrs`.
    #[serde(default)]
    pub(crate) allowed_pcrs: Vec<String>,
    /// EK fingerprints (SHA-256 of the EK public area, hex) trusted on the other side.
    #[serde(default)]
    pub(crate) trusted_eks: Vec<String>,
    /// A PEM file of TPM manufacturers' EK root certificates trusted on the other side.
    #[serde(default)]
    pub(crate) ek_roots: Option<PathBuf>,
    /// How long one join step may wait for the other side, in seconds.
    #[serde(default = "default_join_timeout")]
    pub(crate) timeout_secs: u64,
}

impl JoinConfig {
    fn validate(&self, cfg: &Config) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| ConfigError::Invalid {
            field,
            reason: reason.into(),
        };
        if !self.sponsor && !self.join {
            return Ok(());
        }
        if cfg.nats_urls().is_none() {
            return Err(invalid(
                "join",
                "the hand-over is carried over NATS: set bus",
            ));
        }
        if cfg.key_source != KeySource::Tpm {
            return Err(invalid(
                "join",
                "the hand-over is between TPMs: key_source = \"tpm\"",
            ));
        }
        if self.allowed_pcrs.is_empty() {
            return Err(invalid(
                "join.allowed_pcrs",
                "name at least one allowed PCR state",
            ));
        }
        if self.trusted_eks.is_empty() && self.ek_roots.is_none() {
            return Err(invalid(
                "join.trusted_eks",
                "trust the other side's EK by fingerprint or by ek_roots",
            ));
        }
        if self.sponsor && cfg.nats.instance.is_none() {
            return Err(invalid(
                "nats.instance",
                "a sponsor needs a name unique among the instances (joiners address it)",
            ));
        }
        if !(1..=600).contains(&self.timeout_secs) {
            return Err(invalid("join.timeout_secs", "must be 1 to 600"));
        }
        Ok(())
    }
}

/// `[nats]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NatsConfig {
    /// Subject prefix (versioned): requests arrive on `<prefix>.request`.
    #[serde(default = "default_prefix")]
    pub(crate) prefix: String,
    /// The queue group every instance joins (one instance serves each request).
    #[serde(default = "default_queue")]
    pub(crate) queue_group: String,
    /// The JetStream KV bucket of the sealed records (created when missing).
    #[serde(default = "default_bucket")]
    pub(crate) bucket: String,
    /// JetStream replicas of the bucket when this instance creates it (3 in a NATS cluster).
    #[serde(default = "default_replicas")]
    pub(crate) replicas: usize,
    /// This instance's name in the NATS connection (monitoring) and in logs.
    #[serde(default)]
    pub(crate) instance: Option<String>,
    /// A PEM bundle of the CAs that sign the NATS servers' certificates.
    #[serde(default)]
    pub(crate) ca_file: Option<PathBuf>,
    /// A client certificate (PEM) for TLS client authentication, with `client_key`.
    #[serde(default)]
    pub(crate) client_cert: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[serde(default)]
    pub(crate) client_key: Option<PathBuf>,
    /// Refuse a NATS connection without TLS.
    #[serde(default)]
    pub(crate) require_tls: bool,
    /// User name (with `password_file`).
    #[serde(default)]
    pub(crate) user: Option<String>,
    /// A file holding the user's password.
    #[serde(default)]
    pub(crate) password_file: Option<PathBuf>,
    /// A file holding an authentication token.
    #[serde(default)]
    pub(crate) token_file: Option<PathBuf>,
    /// How long the signer waits for a replicated read or write, in milliseconds.
    #[serde(default = "default_nats_timeout")]
    pub(crate) request_timeout_ms: u64,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            prefix: default_prefix(),
            queue_group: default_queue(),
            bucket: default_bucket(),
            replicas: default_replicas(),
            instance: None,
            ca_file: None,
            client_cert: None,
            client_key: None,
            require_tls: false,
            user: None,
            password_file: None,
            token_file: None,
            request_timeout_ms: default_nats_timeout(),
        }
    }
}

impl NatsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| ConfigError::Invalid {
            field,
            reason: reason.into(),
        };
        let token_ok = |t: &str| {
            !t.is_empty()
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if self.prefix.split('.').any(|t| !token_ok(t)) || self.prefix.len() > 64 {
            return Err(invalid(
                "nats.prefix",
                "must be dot-separated tokens of letters, digits, '_' and '-' (at most 64 bytes)",
            ));
        }
        if !token_ok(&self.queue_group) || self.queue_group.len() > 64 {
            return Err(invalid(
                "nats.queue_group",
                "must be letters, digits, '_' and '-' (at most 64 bytes)",
            ));
        }
        if !token_ok(&self.bucket) || self.bucket.len() > 64 {
            return Err(invalid(
                "nats.bucket",
                "must be letters, digits, '_' and '-' (at most 64 bytes)",
            ));
        }
        if !(1..=5).contains(&self.replicas) {
            return Err(invalid("nats.replicas", "must be 1 to 5"));
        }
        if let Some(name) = &self.instance
            && (!token_ok(name) || name.len() > 64)
        {
            return Err(invalid(
                "nats.instance",
                "must be letters, digits, '_' and '-' (at most 64 bytes)",
            ));
        }
        if !(100..=60_000).contains(&self.request_timeout_ms) {
            return Err(invalid("nats.request_timeout_ms", "must be 100 to 60000"));
        }
        if self.client_cert.is_some() != self.client_key.is_some() {
            return Err(invalid(
                "nats.client_cert",
                "client_cert and client_key go together",
            ));
        }
        if self.user.is_some() != self.password_file.is_some() {
            return Err(invalid("nats.user", "user and password_file go together"));
        }
        if self.user.is_some() && self.token_file.is_some() {
            return Err(invalid(
                "nats.token_file",
                "use either user/password_file or token_file",
            ));
        }
        Ok(())
    }
}

/// `[telegram]`: the pool delivers to users' Telegram chats through the signer bot, reads its
/// updates (button presses, codes) and serves the authorization Mini App.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TelegramConfig {
    /// A file holding the signer bot's token (`<bot id>:<secret>`), read once at start, before
    /// the pool confines itself. Only the pool reads it.
    pub(crate) bot_token_file: PathBuf,
    /// The Bot API server (default Telegram's; `https://`, or `http://` on loopback).
    #[serde(default = "default_api")]
    pub(crate) api_base_url: String,
    /// A PEM bundle to trust instead of the compiled-in Mozilla roots (an emulator's test CA).
    #[serde(default)]
    pub(crate) ca_bundle: Option<PathBuf>,
    /// Bot API requests in flight at most (and sender threads; one user's messages stay in order).
    #[serde(default = "default_in_flight")]
    pub(crate) max_in_flight: usize,
    /// Long-poll timeout of `getUpdates`, in seconds.
    #[serde(default = "default_poll")]
    pub(crate) poll_timeout_secs: u32,
    /// The authorization Mini App (absent: no app button, decisions in chat only).
    #[serde(default)]
    pub(crate) miniapp: Option<MiniAppConfig>,
}

impl TelegramConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, reason: &str| ConfigError::Invalid {
            field,
            reason: reason.into(),
        };
        if !(1..=64).contains(&self.max_in_flight) {
            return Err(invalid("telegram.max_in_flight", "must be 1 to 64"));
        }
        if self.poll_timeout_secs > 50 {
            return Err(invalid("telegram.poll_timeout_secs", "must be 0 to 50"));
        }
        if !self.api_base_url.starts_with("https://") && !self.api_base_url.starts_with("http://") {
            return Err(invalid("telegram.api_base_url", "must be an http(s) URL"));
        }
        if let Some(m) = &self.miniapp {
            if !m.public_url.starts_with("https://") {
                return Err(invalid(
                    "telegram.miniapp.public_url",
                    "must be https:// (Telegram opens Mini Apps over HTTPS only)",
                ));
            }
            if m.init_data_max_age_secs == 0 || m.init_data_max_age_secs > 3600 {
                return Err(invalid(
                    "telegram.miniapp.init_data_max_age_secs",
                    "must be 1 to 3600 (initData is a bearer credential for the user's challenges)",
                ));
            }
        }
        Ok(())
    }
}

/// `[telegram.miniapp]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MiniAppConfig {
    /// Where the pool listens (HTTPS).
    pub(crate) listen: std::net::SocketAddr,
    /// The `https://` URL the app button opens (what a reverse proxy or Telegram reaches).
    pub(crate) public_url: String,
    /// The TLS certificate chain (PEM).
    pub(crate) cert: PathBuf,
    /// Its private key (PEM).
    pub(crate) key: PathBuf,
    /// initData older than this many seconds is refused.
    #[serde(default = "default_init_data_age")]
    pub(crate) init_data_max_age_secs: u64,
}

/// `[tpm]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TpmConfig {
    /// TCTI string (`device:/dev/tpmrm0`, `swtpm:host=127.0.0.1,port=2321`).
    #[serde(default = "default_tcti")]
    pub(crate) tcti: String,
    /// PCR selection the master key is sealed to (`sha256:4,7,11`).
    #[serde(default = "default_pcrs")]
    pub(crate) pcrs: String,
}

impl Default for TpmConfig {
    fn default() -> Self {
        Self {
            tcti: default_tcti(),
            pcrs: default_pcrs(),
        }
    }
}

/// `[signer]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignerConfig {
    /// Worker threads (requests in flight; waiting on the group commit does not use a core).
    #[serde(default = "default_workers")]
    pub(crate) workers: usize,
    /// Seconds a challenge stays open.
    #[serde(default = "default_ttl")]
    pub(crate) challenge_ttl_secs: u64,
    /// Refuse to start when Landlock cannot be fully enforced.
    #[serde(default)]
    pub(crate) require_landlock: bool,
    /// Seconds between background re-randomizations of the master-key shield.
    #[serde(default = "default_mutation")]
    pub(crate) shield_mutation_secs: u64,
    /// The WebAuthn relying party id passkeys are registered for.
    #[serde(default = "default_rp")]
    pub(crate) passkey_rp_id: String,
    /// The WebAuthn origin the passkey ceremonies run on.
    #[serde(default = "default_origin")]
    pub(crate) passkey_origin: String,
}

impl Default for SignerConfig {
    fn default() -> Self {
        Self {
            workers: default_workers(),
            challenge_ttl_secs: default_ttl(),
            require_landlock: false,
            shield_mutation_secs: default_mutation(),
            passkey_rp_id: default_rp(),
            passkey_origin: default_origin(),
        }
    }
}

/// `[notifier]`: until the Telegram pool lands, the pool appends every message for a user to a
/// JSON-lines inbox file (mode 0600) that the demo and the tests read as the user's phone.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NotifierConfig {
    /// The inbox file (default: `<data_dir>/../user-inbox.jsonl`, outside the signer's data
    /// directory, which the pool cannot open).
    pub(crate) inbox: Option<PathBuf>,
}

/// `[supervisor]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SupervisorConfig {
    /// First restart delay after a crash, in milliseconds (doubles per crash, at most 10 s;
    /// reset after a minute up).
    #[serde(default = "default_backoff")]
    pub(crate) restart_backoff_ms: u64,
}

impl Default for SupervisorConfig {
    fn default() -> Self {
        Self {
            restart_backoff_ms: default_backoff(),
        }
    }
}

fn default_bus() -> String {
    "unix".into()
}
fn default_prefix() -> String {
    "kms.v1".into()
}
fn default_queue() -> String {
    "kms".into()
}
fn default_bucket() -> String {
    "kms_v1_state".into()
}
fn default_replicas() -> usize {
    1
}
fn default_join_timeout() -> u64 {
    60
}
fn default_nats_timeout() -> u64 {
    10_000
}
fn default_source() -> KeySource {
    KeySource::Tpm
}
fn default_socket_mode() -> String {
    "0660".into()
}
fn default_tcti() -> String {
    "device:/dev/tpmrm0".into()
}
fn default_pcrs() -> String {
    "sha256:4,7,11".into()
}
fn default_workers() -> usize {
    32
}
fn default_ttl() -> u64 {
    300
}
fn default_mutation() -> u64 {
    5
}
fn default_rp() -> String {
    "localhost".into()
}
fn default_origin() -> String {
    "https://localhost".into()
}
fn default_backoff() -> u64 {
    100
}
fn default_api() -> String {
    "https://api.telegram.org".into()
}
fn default_in_flight() -> usize {
    8
}
fn default_poll() -> u32 {
    25
}
fn default_init_data_age() -> u64 {
    600
}

/// Why the configuration is unusable.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file is not valid TOML of this schema.
    #[error("{path}: {message}")]
    Parse {
        /// The path.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value is invalid.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: String,
    },
}

impl Config {
    /// Reads and checks `kms.toml`.
    pub(crate) fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let cfg: Config = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// The embedded defaults of `kms dev`: everything under `state_dir`, dev sealer.
    pub(crate) fn dev(state_dir: &Path) -> Self {
        Self {
            data_dir: state_dir.join("signer"),
            key_source: KeySource::Dev,
            socket: state_dir.join("bus.sock"),
            socket_mode: "0600".into(),
            tpm: TpmConfig::default(),
            signer: SignerConfig::default(),
            notifier: NotifierConfig {
                inbox: Some(state_dir.join("user-inbox.jsonl")),
            },
            supervisor: SupervisorConfig::default(),
            telegram: None,
            bus: default_bus(),
            nats: NatsConfig::default(),
            join: JoinConfig::default(),
        }
    }

    /// The NATS server URLs when the bus is NATS.
    pub(crate) fn nats_urls(&self) -> Option<Vec<String>> {
        (self.bus != "unix").then(|| {
            self.bus
                .split(',')
                .map(|u| u.trim().to_string())
                .filter(|u| !u.is_empty())
                .collect()
        })
    }

    /// Reads a `[telegram]` section on its own (the file `kms dev --telegram` names).
    pub(crate) fn load_telegram(path: &Path) -> Result<TelegramConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.message().to_string(),
        })
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        self.socket_mode_bits()?;
        if !self.data_dir.is_absolute() {
            return Err(ConfigError::Invalid {
                field: "data_dir",
                reason: "must be an absolute path".into(),
            });
        }
        if self.signer.workers == 0 || self.signer.workers > 1024 {
            return Err(ConfigError::Invalid {
                field: "signer.workers",
                reason: "must be 1 to 1024".into(),
            });
        }
        if !(2..=kms_intent::MAX_CHALLENGE_LIFETIME_SECS).contains(&self.signer.challenge_ttl_secs)
        {
            return Err(ConfigError::Invalid {
                field: "signer.challenge_ttl_secs",
                reason: format!(
                    "must be 2 to {} seconds",
                    kms_intent::MAX_CHALLENGE_LIFETIME_SECS
                ),
            });
        }
        if let Some(tg) = &self.telegram {
            tg.validate()?;
        }
        if let Some(urls) = self.nats_urls() {
            let ok = |u: &String| {
                ["nats://", "tls://"]
                    .iter()
                    .any(|p| u.strip_prefix(p).is_some_and(|rest| !rest.is_empty()))
            };
            if urls.is_empty() || !urls.iter().all(ok) {
                return Err(ConfigError::Invalid {
                    field: "bus",
                    reason: "must be \"unix\" or NATS URLs (nats://host:port or tls://host:port, comma-separated)".into(),
                });
            }
            self.nats.validate()?;
        }
        self.join.validate(self)?;
        Ok(())
    }

    /// The socket mode as permission bits.
    pub(crate) fn socket_mode_bits(&self) -> Result<u32, ConfigError> {
        u32::from_str_radix(self.socket_mode.trim_start_matches("0o"), 8)
            .ok()
            .filter(|m| *m <= 0o777)
            .ok_or(ConfigError::Invalid {
                field: "socket_mode",
                reason: "must be octal permission bits such as \"0660\"".into(),
            })
    }

    /// The user inbox of the file notifier.
    pub(crate) fn inbox(&self) -> PathBuf {
        self.notifier.inbox.clone().unwrap_or_else(|| {
            self.data_dir
                .parent()
                .unwrap_or(Path::new("/"))
                .join("user-inbox.jsonl")
        })
    }
}
