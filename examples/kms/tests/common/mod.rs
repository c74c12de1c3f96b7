//! Test harness: a real `kms dev` (supervisor, signer, pool, bridge as separate processes) in a
//! temporary state directory, the user's "phone" (the pool's inbox file), and transaction
//! builders.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kms_client::proto::Pending;
use kms_client::{
    Bytes, Client, ClientError, ErrorKind, Request, Response, SignRequest, WalletRef,
};
use kms_constraints::{HostConfig, ParamValue, Registry};

pub const KMS: &str = env!("CARGO_BIN_EXE_kms");

/// A running `kms dev`.
pub struct Kms {
    _tmp: Option<tempfile::TempDir>,
    pub root: PathBuf,
    pub child: Option<Child>,
    pub log: PathBuf,
    extra: Vec<String>,
}

impl Kms {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    pub fn start_with(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        Self::launch(Some(dir), root, extra)
    }

    /// `kms dev` with its state directory at `root` (created).
    pub fn start_in(root: &Path) -> Self {
        Self::start_in_with(root, &[])
    }

    /// `kms dev` with its state directory at `root` (created) and extra arguments.
    pub fn start_in_with(root: &Path, extra: &[&str]) -> Self {
        std::fs::create_dir_all(root).unwrap();
        Self::launch(None, root.to_path_buf(), extra)
    }

    fn launch(tmp: Option<tempfile::TempDir>, root: PathBuf, extra: &[&str]) -> Self {
        let mut k = Kms {
            log: root.join("kms.log"),
            _tmp: tmp,
            root,
            child: None,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        k.spawn();
        k
    }

    /// Starts (or restarts) the supervisor on the same state directory.
    pub fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(KMS)
            .arg("dev")
            .arg("--state-dir")
            .arg(self.root.as_path())
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.wait_ready();
    }

    pub fn socket(&self) -> PathBuf {
        self.root.as_path().join("bus.sock")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.root.as_path().join("signer")
    }

    pub fn inbox_path(&self) -> PathBuf {
        self.root.as_path().join("user-inbox.jsonl")
    }

    pub fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut c) = Client::connect(self.socket()) {
                c.set_timeout(Some(Duration::from_secs(5))).unwrap();
                if matches!(c.call(&Request::Ping), Ok(Response::Pong)) {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "kms did not become ready:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn client(&self) -> Client {
        let c = Client::connect(self.socket()).unwrap();
        c.set_timeout(Some(Duration::from_secs(60))).unwrap();
        c
    }

    /// SIGTERM to the supervisor, wait for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let pid = rustix::process::Pid::from_child(&child);
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
            let deadline = Instant::now() + Duration::from_secs(20);
            while Instant::now() < deadline {
                if let Ok(Some(status)) = child.try_wait() {
                    assert!(
                        status.success(),
                        "kms exited with {status}:\n{}",
                        self.log_text()
                    );
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            panic!("kms did not stop on SIGTERM:\n{}", self.log_text());
        }
    }

    /// The signer's pid (from inside the signer).
    pub fn signer_pid(&self) -> u32 {
        match self.client().call(&Request::SignerStatus).unwrap() {
            Response::Status(s) => s.pid,
            other => panic!("{other:?}"),
        }
    }

    /// Every message the pool delivered so far.
    pub fn inbox(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.inbox_path())
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.is_empty())
            // A line the pool is still writing is skipped (read again on the next poll).
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| v["message"].clone())
            .collect()
    }

    /// Waits for the challenge message `id` in the user's chat.
    pub fn challenge(&self, id: &str) -> Challenge {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(m) = self
                .inbox()
                .into_iter()
                .find(|m| m["type"] == "challenge" && m["challenge"] == id)
            {
                return Challenge {
                    user: m["user"].as_u64().unwrap(),
                    description: m["description"].as_str().unwrap().to_string(),
                    buttons: m["buttons"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|b| {
                            (
                                b["label"].as_str().unwrap().to_string(),
                                b["token"].as_str().unwrap().to_string(),
                            )
                        })
                        .collect(),
                    factor_required: m["factor_required"].as_str().map(str::to_owned),
                };
            }
            assert!(
                Instant::now() < deadline,
                "challenge {id} never reached the user"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The latest message of `kind` for `user`.
    pub fn last_message(&self, user: u64, kind: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(m) = self
                .inbox()
                .into_iter()
                .rev()
                .find(|m| m["type"] == kind && m["user"].as_u64() == Some(user))
            {
                return m;
            }
            assert!(
                Instant::now() < deadline,
                "no {kind} message for user {user}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Kms {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&mut child, Duration::from_secs(10));
        }
    }
}

/// SIGTERM to `child`, up to `within` to exit, then SIGKILL; reaped either way.
pub fn terminate(child: &mut Child, within: Duration) {
    let pid = rustix::process::Pid::from_child(child);
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// The words of a `seed_phrase` message, the seed they make (empty passphrase) and wallet 0's
/// keypair bytes (secret ‖ public): what the user knows from the phrase shown once in chat.
pub fn phrase_secrets(message: &serde_json::Value) -> (Vec<String>, kms_core::Seed, [u8; 64]) {
    let words: Vec<String> = message["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    let seed = kms_core::Mnemonic::parse(&words.join(" "))
        .unwrap()
        .to_seed("");
    let private = seed
        .solana_wallet(kms_core::SolanaPathScheme::AccountChange, 0)
        .unwrap()
        .reveal_keypair_bytes();
    (words, seed, *private)
}

/// A challenge as the user's chat shows it.
#[derive(Debug, Clone)]
pub struct Challenge {
    pub user: u64,
    pub description: String,
    pub buttons: Vec<(String, String)>,
    pub factor_required: Option<String>,
}

impl Challenge {
    pub fn token(&self, label: &str) -> String {
        self.buttons
            .iter()
            .find(|(l, _)| l == label)
            .unwrap_or_else(|| panic!("no button {label:?} in {:?}", self.buttons))
            .1
            .clone()
    }
}

pub fn b58(s: &str) -> [u8; 32] {
    kms_solana::address_from_base58(s).unwrap()
}

/// A legacy message: `from` pays and signs one System transfer to `to`.
pub fn transfer_message(from: [u8; 32], to: [u8; 32], lamports: u64) -> Vec<u8> {
    let mut m = vec![1, 0, 1, 3];
    m.extend_from_slice(&from);
    m.extend_from_slice(&to);
    m.extend_from_slice(&[0; 32]); // System program
    m.extend_from_slice(&[0xAB; 32]); // recent blockhash
    m.extend_from_slice(&[1, 2, 2, 0, 1, 12, 2, 0, 0, 0]);
    m.extend_from_slice(&lamports.to_le_bytes());
    m
}

/// The same with a second transfer appended (to an attacker).
pub fn transfer_message_with_extra(
    from: [u8; 32],
    to: [u8; 32],
    lamports: u64,
    attacker: [u8; 32],
) -> Vec<u8> {
    let mut m = vec![1, 0, 1, 4];
    m.extend_from_slice(&from);
    m.extend_from_slice(&to);
    m.extend_from_slice(&attacker);
    m.extend_from_slice(&[0; 32]);
    m.extend_from_slice(&[0xAB; 32]);
    m.push(2);
    m.extend_from_slice(&[3, 2, 0, 1, 12, 2, 0, 0, 0]);
    m.extend_from_slice(&lamports.to_le_bytes());
    m.extend_from_slice(&[3, 2, 0, 2, 12, 2, 0, 0, 0]);
    m.extend_from_slice(&1_000u64.to_le_bytes());
    m
}

/// `sol-withdraw` parameters.
pub fn sol_params(user: [u8; 32], to: [u8; 32], max: u64) -> Vec<u8> {
    let r = Registry::with_builtins(HostConfig::default()).unwrap();
    let h = r.builtin("sol-withdraw").unwrap();
    let schema = r.get(&h).unwrap().compiled().schema().unwrap().clone();
    schema
        .encode(&[
            ParamValue::Pubkey(user),
            ParamValue::U32(200_000),
            ParamValue::U64(10_000),
            ParamValue::Pubkey(to),
            ParamValue::U64(max),
        ])
        .unwrap()
}

pub fn sign_request(user: u64, message: Vec<u8>, params: Vec<u8>) -> Request {
    Request::Sign(SignRequest {
        user,
        wallet: WalletRef::Derived(0),
        module: "sol-withdraw".into(),
        params: Bytes(params),
        message: Bytes(message),
        lookup: vec![],
        claimed_description: None,
    })
}

pub fn create_user(c: &mut Client, user: u64) -> String {
    match c.call(&Request::CreateUser { user }).unwrap() {
        Response::UserCreated { address, .. } => address,
        other => panic!("{other:?}"),
    }
}

pub fn pending(r: Result<Response, ClientError>) -> Pending {
    match r {
        Ok(Response::Pending(p)) => p,
        other => panic!("expected a pending challenge, got {other:?}"),
    }
}

pub fn kind(r: Result<Response, ClientError>) -> ErrorKind {
    match r {
        Err(ClientError::Remote(e)) => e.kind,
        other => panic!("expected a typed error, got {other:?}"),
    }
}

pub fn decide(c: &mut Client, user: u64, token: &str) -> Result<Response, ClientError> {
    c.call(&Request::Decide {
        user,
        token: kms_client::SecretText::new(token),
        proof: None,
    })
}

/// Checks an ed25519 signature of `address` over `message`.
pub fn verifies(address: &str, message: &[u8], signature_b58: &str) -> bool {
    let sig: [u8; 64] = bs58::decode(signature_b58)
        .into_vec()
        .unwrap()
        .try_into()
        .unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&b58(address)).unwrap();
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig))
        .is_ok()
}

pub fn path_str(p: &Path) -> String {
    p.display().to_string()
}

pub fn kill_signer(kms: &Kms) -> u32 {
    let pid = kms.signer_pid();
    let pid_t = rustix::process::Pid::from_raw(pid as i32).unwrap();
    rustix::process::kill_process(pid_t, rustix::process::Signal::KILL).unwrap();
    pid
}

/// Calls until the system answers (reconnecting while the processes restart).
pub fn call_retrying(
    socket: &Path,
    c: &mut Option<Client>,
    req: &Request,
) -> Result<Response, ClientError> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if c.is_none() {
            *c = Client::connect(socket).ok();
        }
        if let Some(client) = c.as_mut() {
            match client.call(req) {
                Err(ClientError::Remote(e)) if e.kind == ErrorKind::Unavailable => {}
                Err(ClientError::Remote(e)) => return Err(ClientError::Remote(e)),
                Ok(r) => return Ok(r),
                Err(_) => *c = None,
            }
        }
        assert!(Instant::now() < deadline, "the system did not come back");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Unix time in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The TOTP secret of an `otpauth://` URI (RFC 4648 base32, unpadded).
pub fn totp_secret_from_uri(uri: &str) -> kms_intent::TotpSecret {
    let b32 = uri
        .split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap();
    let (mut bits, mut n, mut out) = (0u64, 0, Vec::new());
    for ch in b32.bytes() {
        let v = match ch {
            b'A'..=b'Z' => ch - b'A',
            b'2'..=b'7' => ch - b'2' + 26,
            _ => panic!("not base32: {ch}"),
        };
        bits = (bits << 5) | u64::from(v);
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    kms_intent::TotpSecret::from_bytes(&out).unwrap()
}

/// Starts `kms dev` on `state` and returns its log once it says `needle` (or after 20 s); the
/// supervisor is killed (its children die with it).
pub fn run_dev_until(state: &Path, needle: &str) -> String {
    let log = state.join("until.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = Command::new(KMS)
        .arg("dev")
        .arg("--state-dir")
        .arg(state)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains(needle) || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    text
}
