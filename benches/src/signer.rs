//! The reference signer end to end: a real `kms dev` (supervisor, signer, HTTPS pool and bridge
//! as separate processes, the bus on the Unix socket `bus.sock`) in a temporary state directory,
//! and sign requests covered by a standing intent, so the signer answers without asking the
//! user. Budgets: one covered request through bridge and signer, median ≤ 250 µs and
//! p99 ≤ 1 ms; 32 concurrent clients (each its own connection, user and intent) sustain
//! ≥ 5,000 signatures per second with none failed or repeated. Beside them, the in-process floor
//! of the same signature (the `pagechain+core` entry's operation).
//!
//! The `kms` binary is not built by this crate: `cargo build --release -p kms` first (or set
//! `KMS_BIN`). The criterion benchmark of the same request is `benches/signer.rs`.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, channel};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kms_client::proto::IntentProposal;
use kms_client::{Bytes, Client, Request, Response, SecretText, SignRequest, WalletRef};
use kms_constraints::{HostConfig, ParamSchema, ParamValue, Registry};

use crate::budget::{Entry, Operation, Stat};

/// Name of the end-to-end latency entries (one with a median budget, one with a p99 budget).
pub const E2E: &str =
    "signer e2e: sign request through bridge and signer, covered by a standing intent";
/// Name of the throughput entry.
pub const THROUGHPUT: &str = "signer e2e: covered signatures per second, 32 concurrent clients";
/// The pagechain entry whose operation is the in-process floor of a signature.
const FLOOR: &str = "pagechain+core: unshield, open seed record, derive, sign";
const FLOOR_HERE: &str = "signer e2e reference: the same signature in process (pagechain+core)";

/// Concurrent clients of the throughput entry.
const CLIENTS: u64 = 32;
/// How long the throughput entry counts signatures.
const WINDOW: Duration = Duration::from_secs(3);
/// Uses of each benchmark intent: more than any run signs.
const MAX_USES: u32 = 10_000_000;
/// The `sol-withdraw` bound (`max_lamports`) each covered request is charged.
const MAX_LAMPORTS: u64 = 1_000_000_000;
/// Where every benchmark transfer goes.
const DEST: [u8; 32] = [9; 32];
/// How long one answer may take before the call is a failure.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The budget entries. When the `kms` binary is missing or the signer cannot be set up, one
/// failing entry that says why (the report then FAILs with that message).
pub fn budgets() -> Vec<Entry> {
    match entries() {
        Ok(e) => e,
        Err(why) => vec![Entry::budget(
            E2E,
            Duration::from_micros(250),
            Stat::Median,
            Box::new(move || Err(why.clone())),
        )],
    }
}

fn entries() -> Result<Vec<Entry>, String> {
    let bin = kms_binary()?;
    println!("signer e2e: {}", describe_binary(&bin));
    let kms = Rc::new(Kms::start(&bin)?);
    let params = SolParams::new()?;

    let median = kms.covered(&params, 1)?;
    let p99 = kms.covered(&params, 2)?;
    let floor = crate::pagechain::budgets()
        .into_iter()
        .find(|e| e.name == FLOOR)
        .ok_or_else(|| format!("no entry `{FLOOR}` in pagechain::budgets()"))?;
    let mut load = Load::new(Rc::clone(&kms));
    load.idle = (0..CLIENTS)
        .map(|i| kms.covered(&params, 100 + i))
        .collect::<Result<_, _>>()?;
    Ok(vec![
        Entry::budget(
            E2E,
            Duration::from_micros(250),
            Stat::Median,
            covered_operation(Rc::clone(&kms), median),
        ),
        Entry::budget(
            E2E,
            Duration::from_millis(1),
            Stat::P99,
            covered_operation(kms, p99),
        ),
        Entry::reference(FLOOR_HERE, E2E, floor.run),
        Entry::rate(THROUGHPUT, 5_000, WINDOW, Box::new(move || load.next())),
    ])
}

/// One covered sign request per call; the signer runs as long as an operation holds it.
fn covered_operation(kms: Rc<Kms>, mut covered: Covered) -> Operation {
    Box::new(move || {
        let _running = &kms;
        covered.sign().map(drop)
    })
}

/// The `kms` binary: `$KMS_BIN` when set, otherwise `kms` next to the running executable or
/// one directory up (a criterion bench runs from `target/<profile>/deps/`).
///
/// # Errors
/// When there is none, with the command that builds it.
pub fn kms_binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("KMS_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("KMS_BIN={} is not a file", p.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("current executable: {e}"))?;
    let dir = exe
        .parent()
        .ok_or("the current executable has no directory")?;
    let dirs: Vec<&Path> = [Some(dir), dir.parent()].into_iter().flatten().collect();
    dirs.iter()
        .map(|d| d.join("kms"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            format!(
                "no kms binary in {}: run `cargo build --release -p kms` first \
                 (`cargo build -p kms` for a debug build), or set KMS_BIN",
                searched.join(" or ")
            )
        })
}

/// `path (modified N s ago)`: the report measures whatever binary is there, so say which.
fn describe_binary(bin: &Path) -> String {
    let age = std::fs::metadata(bin)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok());
    match age {
        Some(a) => format!("{} (built {} s ago)", bin.display(), a.as_secs()),
        None => bin.display().to_string(),
    }
}

/// A running `kms dev` in its own temporary state directory; stopped with SIGTERM when dropped
/// (SIGKILL if it has not exited 10 s later).
pub struct Kms {
    child: Child,
    dir: tempfile::TempDir,
}

impl Kms {
    /// Starts `bin dev --state-dir <tempdir>` (output to `kms.log` there) and waits until the
    /// bus answers a ping (at most 60 s).
    ///
    /// # Errors
    /// When it cannot start, exits, or does not answer; with the end of its log.
    pub fn start(bin: &Path) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        Self::start_in(bin, dir, &[])
    }

    /// Starts `bin dev --state-dir <dir> <extra…>` in `dir` (which may already hold a sealed
    /// master key) and waits until the bus answers a ping.
    ///
    /// # Errors
    /// As [`Kms::start`].
    pub fn start_in(bin: &Path, dir: tempfile::TempDir, extra: &[&str]) -> Result<Self, String> {
        let log = std::fs::File::create(dir.path().join("kms.log"))
            .map_err(|e| format!("kms.log: {e}"))?;
        let log2 = log.try_clone().map_err(|e| format!("kms.log: {e}"))?;
        let child = Command::new(bin)
            .arg("dev")
            .arg("--state-dir")
            .arg(dir.path())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut kms = Self { child, dir };
        kms.wait_ready()?;
        Ok(kms)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "kms dev exited with {status}:\n{}",
                    self.log_tail()
                ));
            }
            if let Ok(mut c) = Client::connect(self.socket()) {
                let _ = c.set_timeout(Some(Duration::from_secs(5)));
                if matches!(c.call(&Request::Ping), Ok(Response::Pong)) {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "kms dev did not answer a ping within 60 s:\n{}",
                    self.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The bus socket.
    #[must_use]
    pub fn socket(&self) -> PathBuf {
        self.dir.path().join("bus.sock")
    }

    /// The state directory.
    #[must_use]
    pub fn state_dir(&self) -> &Path {
        self.dir.path()
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("kms.log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// A new user (`user`) with a standing `sol-withdraw` intent of 10,000,000 uses, approved
    /// through the token the user's chat (the pool's inbox file) received, on a connection of
    /// its own. The first covered signature is checked against the user's address.
    ///
    /// # Errors
    /// Any step that does not answer as expected, with what came back.
    pub fn covered(&self, params: &SolParams, user: u64) -> Result<Covered, String> {
        let mut c = Client::connect(self.socket()).map_err(|e| e.to_string())?;
        c.set_timeout(Some(CALL_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let address = match c.call(&Request::CreateUser { user }) {
            Ok(Response::UserCreated { address, .. }) => address,
            other => return Err(format!("create user {user}: {other:?}")),
        };
        let from = kms_solana::address_from_base58(&address)
            .ok_or_else(|| format!("create user {user}: address {address} is not base58"))?;
        let params = params.encode(from)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_err(|e| e.to_string())?
            .as_secs();
        let proposal = IntentProposal {
            user,
            wallet: WalletRef::Derived(0),
            module: "sol-withdraw".into(),
            params: Bytes(params.clone()),
            per_transaction_limit: MAX_LAMPORTS,
            cumulative_limit: MAX_LAMPORTS * u64::from(MAX_USES),
            max_uses: MAX_USES,
            valid_until: now + 24 * 3600,
        };
        let challenge = match c.call(&Request::CreateIntent(proposal)) {
            Ok(Response::Pending(p)) => p.challenge,
            other => return Err(format!("propose intent for user {user}: {other:?}")),
        };
        let token = self.approve_token(&challenge)?;
        let intent = match c.call(&Request::Decide {
            user,
            token: SecretText::new(token),
            proof: None,
        }) {
            Ok(Response::IntentCreated { intent }) => intent,
            other => return Err(format!("approve intent for user {user}: {other:?}")),
        };
        let mut covered = Covered {
            client: c,
            user,
            from,
            params,
            lamports: 0,
            authorized_by: format!("intent {intent}"),
        };
        let (message, signature) = covered.sign_message()?;
        verify(&from, &message, &signature)
            .map_err(|e| format!("user {user}'s first covered signature: {e}"))?;
        Ok(covered)
    }

    /// The user and intent of `other` (made on another instance sharing this one's master key
    /// and replicated state), signing through this instance's bus on a connection of its own;
    /// its transfers start at a lamport count `other` never reaches. The first signature is
    /// checked against the user's address.
    ///
    /// # Errors
    /// When the connection fails or the first signature is not a covered one.
    pub fn covered_existing(&self, other: &Covered) -> Result<Covered, String> {
        let client = Client::connect(self.socket()).map_err(|e| e.to_string())?;
        client
            .set_timeout(Some(CALL_TIMEOUT))
            .map_err(|e| e.to_string())?;
        let mut covered = Covered {
            client,
            user: other.user,
            from: other.from,
            params: other.params.clone(),
            lamports: MAX_LAMPORTS / 2,
            authorized_by: other.authorized_by.clone(),
        };
        let (message, signature) = covered.sign_message()?;
        verify(&other.from, &message, &signature)
            .map_err(|e| format!("user {}'s first signature here: {e}", other.user))?;
        Ok(covered)
    }

    /// The token of the "Approve intent" button of challenge `id`, from the user's chat.
    fn approve_token(&self, id: &str) -> Result<String, String> {
        let inbox = self.dir.path().join("user-inbox.jsonl");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let text = std::fs::read_to_string(&inbox).unwrap_or_default();
            for line in text.lines() {
                let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                    continue; // a line the pool is still writing
                };
                let m = &v["message"];
                if m["type"] != "challenge" || m["challenge"] != id {
                    continue;
                }
                let buttons = m["buttons"].as_array().map(Vec::as_slice).unwrap_or(&[]);
                return buttons
                    .iter()
                    .find(|b| b["label"] == "Approve intent")
                    .and_then(|b| b["token"].as_str())
                    .map(str::to_owned)
                    .ok_or_else(|| format!("challenge {id} has no \"Approve intent\" button"));
            }
            if Instant::now() > deadline {
                return Err(format!("challenge {id} never reached the user's chat"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Kms {
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `sol-withdraw` parameter schema (from the built-in module, as the signer reads it).
pub struct SolParams(ParamSchema);

impl SolParams {
    /// Loads the built-in modules and takes `sol-withdraw`'s schema.
    ///
    /// # Errors
    /// When the built-in modules do not load.
    pub fn new() -> Result<Self, String> {
        let r = Registry::with_builtins(HostConfig::default()).map_err(|e| e.to_string())?;
        let h = r
            .builtin("sol-withdraw")
            .ok_or("no built-in sol-withdraw")?;
        r.get(&h)
            .and_then(|m| m.compiled().schema().cloned())
            .map(Self)
            .ok_or_else(|| "sol-withdraw has no parameter schema".to_owned())
    }

    /// Parameters for `user`: 200,000 compute units, priority fee 10,000, to [`DEST`], at most
    /// [`MAX_LAMPORTS`].
    fn encode(&self, user: [u8; 32]) -> Result<Vec<u8>, String> {
        self.0
            .encode(&[
                ParamValue::Pubkey(user),
                ParamValue::U32(200_000),
                ParamValue::U64(10_000),
                ParamValue::Pubkey(DEST),
                ParamValue::U64(MAX_LAMPORTS),
            ])
            .map_err(|e| e.to_string())
    }
}

/// One connection of one user whose standing intent covers every [`Covered::sign`].
pub struct Covered {
    client: Client,
    user: u64,
    from: [u8; 32],
    params: Vec<u8>,
    lamports: u64,
    authorized_by: String,
}

impl Covered {
    /// Sends one covered sign request (a transfer of one more lamport than the last, so every
    /// message differs) and checks that it is signed under the intent, without asking.
    ///
    /// # Errors
    /// A typed error, a transport error, or any answer but `Signed` by this intent over this
    /// message.
    pub fn sign(&mut self) -> Result<String, String> {
        self.sign_message().map(|(_, signature)| signature)
    }

    fn sign_message(&mut self) -> Result<(Vec<u8>, String), String> {
        self.lamports += 1;
        let message = transfer(self.from, DEST, self.lamports);
        let req = Request::Sign(SignRequest {
            user: self.user,
            wallet: WalletRef::Derived(0),
            module: "sol-withdraw".into(),
            params: Bytes(self.params.clone()),
            message: Bytes(message.clone()),
            lookup: vec![],
            claimed_description: None,
        });
        match self.client.call(&req) {
            Ok(Response::Signed {
                signature,
                transaction,
                authorized_by,
                ..
            }) if authorized_by == self.authorized_by && transaction.0.ends_with(&message) => {
                Ok((message, signature))
            }
            Ok(other) => Err(format!(
                "user {}: not a covered signature: {other:?}",
                self.user
            )),
            Err(e) => Err(format!("user {}: {e}", self.user)),
        }
    }
}

/// A legacy message: `from` pays and signs one System transfer of `lamports` to `to`.
fn transfer(from: [u8; 32], to: [u8; 32], lamports: u64) -> Vec<u8> {
    let mut m = vec![1, 0, 1, 3];
    m.extend_from_slice(&from);
    m.extend_from_slice(&to);
    m.extend_from_slice(&[0; 32]); // System program
    m.extend_from_slice(&[0xAB; 32]); // recent blockhash
    m.extend_from_slice(&[1, 2, 2, 0, 1, 12, 2, 0, 0, 0]); // transfer: accounts 0 -> 1
    m.extend_from_slice(&lamports.to_le_bytes());
    m
}

/// Strict ed25519 verification of a base58 signature by `address` over `message`.
fn verify(address: &[u8; 32], message: &[u8], signature: &str) -> Result<(), String> {
    let sig: [u8; 64] = bs58::decode(signature)
        .into_vec()
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or("not a base58 64-byte signature")?;
    ed25519_dalek::VerifyingKey::from_bytes(address)
        .map_err(|_| "the address is not an ed25519 key")?
        .verify_strict(message, &ed25519_dalek::Signature::from_bytes(&sig))
        .map_err(|_| "the signature does not verify".to_owned())
}

/// The throughput load: [`CLIENTS`] threads, each signing back to back on its own connection
/// from the first call on; one call takes one signature from any of them and fails on an error
/// or a signature seen before. Dropping it stops and joins the threads.
pub(crate) struct Load {
    pub(crate) idle: Vec<Covered>,
    workers: Vec<JoinHandle<()>>,
    done: Option<Receiver<Result<String, String>>>,
    stop: Arc<AtomicBool>,
    seen: HashSet<String>,
    _kms: Rc<Kms>,
}

impl Load {
    pub(crate) fn new(kms: Rc<Kms>) -> Self {
        Self {
            idle: Vec::new(),
            workers: Vec::new(),
            done: None,
            stop: Arc::new(AtomicBool::new(false)),
            seen: HashSet::new(),
            _kms: kms,
        }
    }

    pub(crate) fn next(&mut self) -> Result<(), String> {
        if self.done.is_none() {
            let (tx, rx) = channel();
            for mut c in self.idle.drain(..) {
                let (tx, stop) = (tx.clone(), Arc::clone(&self.stop));
                self.workers.push(std::thread::spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let r = c.sign();
                        let failed = r.is_err();
                        if tx.send(r).is_err() || failed {
                            return;
                        }
                    }
                }));
            }
            self.done = Some(rx);
        }
        let rx = self.done.as_ref().ok_or("no load")?;
        match rx.recv() {
            Ok(Ok(signature)) if self.seen.insert(signature.clone()) => Ok(()),
            Ok(Ok(signature)) => Err(format!("signature {signature} returned twice")),
            Ok(Err(e)) => Err(e),
            Err(_) => Err("every client stopped".to_owned()),
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}
