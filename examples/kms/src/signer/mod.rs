//! The signer process: the only one that ever holds a decrypted key.
//!
//! Start-up, in order: adopt the two inherited sockets, create the data directory, unseal the
//! master key (TPM or dev sealer; the TPM context is closed again), lock the process down (see
//! `sandbox`) while it has one thread, open the stores inside the data directory (key store,
//! state database, audit log), move the master key into its page-chain shield, then serve the
//! bridge.
//! Everything after lock-down runs without network, with the file system limited to the data
//! directory, not dumpable and without core files.

mod db;
mod join;
mod keys;
mod service;
mod vault;

use std::io::{BufReader, Write};
use std::os::fd::RawFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use kms_client::MAX_FRAME_LEN;
use kms_client::frame::{FrameError, encode_frame, read_frame};
use kms_client::pool::{PoolRequest, UserMessage};
use kms_client::proto::{ErrorKind, Outcome, WireError, decode_request, encode_response};
use zeroize::Zeroizing;

use crate::audit::{AuditEvent, AuditLog, SyncPolicy};
use crate::config::{Config, KeySource};
use crate::sandbox;

pub(crate) use service::Service;

/// File names inside the data directory.
pub(crate) const KEYS_FILE: &str = "keys.redb";
/// The state database.
pub(crate) const STATE_FILE: &str = "state.redb";
/// The audit log.
pub(crate) const AUDIT_FILE: &str = "audit.log";
/// The sealed master key.
pub(crate) const MASTER_BLOB: &str = "master.blob";
/// The dev sealer's key file (`kms dev` only).
pub(crate) const DEV_SEALER_KEY: &str = "dev-sealer.key";

/// Why the signer cannot do something.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SignerError {
    /// Start-up failed.
    #[error("start-up: {0}")]
    Startup(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(String),
    /// A sealed record does not open (tampered or from another key).
    #[error("{0}")]
    Corrupt(String),
    /// An internal failure.
    #[error("{0}")]
    Internal(String),
    /// Replication (NATS) did not answer: nothing is known to be stored; retry.
    #[error("{0}")]
    Unavailable(String),
}

impl From<SignerError> for WireError {
    fn from(e: SignerError) -> Self {
        match e {
            SignerError::Store(m) => WireError::new(ErrorKind::Internal, format!("store: {m}")),
            SignerError::Unavailable(m) => {
                WireError::new(ErrorKind::Unavailable, format!("{m}; retry"))
            }
            other => WireError::new(ErrorKind::Internal, other.to_string()),
        }
    }
}

/// Runs the signer until the bridge closes its socket. Returns the process exit code.
pub(crate) fn run(cfg: &Config, bus_fd: RawFd, pool_fd: RawFd, repl_fd: Option<RawFd>) -> i32 {
    match serve(cfg, bus_fd, pool_fd, repl_fd) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("kms signer: {e}");
            1
        }
    }
}

fn serve(
    cfg: &Config,
    bus_fd: RawFd,
    pool_fd: RawFd,
    repl_fd: Option<RawFd>,
) -> Result<(), SignerError> {
    let bus = adopt(bus_fd, "bridge")?;
    let pool = adopt(pool_fd, "pool")?;
    let repl = repl_fd.map(|fd| adopt(fd, "replication")).transpose()?;
    let dir = &cfg.data_dir;
    create_private_dir(dir)?;

    // The TPM (a device or swtpm's TCP socket) is used before lock-down forbids sockets. A
    // joiner (no master key yet) and a sponsor keep their TPM connection open across it.
    let joining =
        cfg.join.join && cfg.key_source == KeySource::Tpm && !dir.join(MASTER_BLOB).exists();
    let (master, prepared_join, prepared_sponsor) = if joining {
        (None, Some(join::prepare(cfg)?), None)
    } else {
        let (master, sealer) = unseal_master_key(cfg)?;
        let sponsor = match sealer {
            Some(sealer) if cfg.join.sponsor => Some(join::prepare_sponsor(cfg, sealer)?),
            _ => None,
        };
        (Some(master), None, sponsor)
    };
    let mut sandbox_cfg = sandbox::SandboxConfig::new(dir.clone());
    sandbox_cfg.extra_read_paths = vec!["/proc/self".into()];
    sandbox_cfg.require_landlock = cfg.signer.require_landlock;
    // A joiner or sponsor uses its TPM after lock-down; swtpm's TCTI connects per command.
    if (prepared_join.is_some() || prepared_sponsor.is_some())
        && let Some(port) = swtpm_port(&cfg.tpm.tcti)
    {
        sandbox_cfg.tpm_tcp_port = Some(port);
        eprintln!(
            "kms signer: join: TCP connects to the TPM's port {port} stay allowed after lock-down (swtpm)"
        );
    }
    // Landlock (before ABI 8) confines only the calling thread and its later children: lock
    // down while this is the only thread, and open the stores (inside the data directory)
    // afterwards.
    let report = sandbox::lock_down(&sandbox_cfg)
        .map_err(|e| SignerError::Startup(format!("sandbox: {e}")))?;

    // Several instances on NATS: records go to JetStream KV through the bridge (this process
    // has no network), each write after the audit entries written before it are durable. The
    // link is read from now on (a joiner's hand-over runs over it before anything else).
    let targets = Arc::new(LinkTargets::default());
    let replica = match repl {
        Some(stream) => {
            let (replica, reader) = crate::replica::Replica::new(
                stream,
                std::time::Duration::from_millis(cfg.nats.request_timeout_ms),
            )
            .map_err(SignerError::Startup)?;
            start_link(&replica, reader, &targets)?;
            Some(replica)
        }
        None => None,
    };
    let (master, joined_from) = match (master, prepared_join, &replica) {
        (Some(m), _, _) => (m, None),
        (None, Some(p), Some(r)) => {
            let (m, sponsor) = join::run(p, r, cfg)?;
            (m, Some(sponsor))
        }
        _ => {
            return Err(SignerError::Startup(
                "join: the hand-over needs the NATS bus".into(),
            ));
        }
    };

    let audit = AuditLog::open(&dir.join(AUDIT_FILE), SyncPolicy::Batched)
        .map_err(|e| SignerError::Startup(format!("audit log: {e}")))?;
    let audit = Arc::new(Mutex::new(audit));
    let keys = kms_core::RedbStore::open(dir.join(KEYS_FILE))
        .map_err(|e| SignerError::Startup(format!("key store: {e}")))?;
    let audit_sync = Arc::clone(&audit);
    let audit_head = Arc::clone(&audit);
    let audit_sync_timer = Arc::clone(&audit);
    let audit_sync_state = Arc::clone(&audit);
    let audit_sync_keys = Arc::clone(&audit);
    let keys = keys::SignerKeys::new(
        keys,
        replica.as_ref().map(|r| {
            let sync: db::PreCommit = Box::new(move || sync_audit(&audit_sync_keys));
            (Arc::clone(r), sync)
        }),
    );
    let state = db::StateDb::open(
        &dir.join(STATE_FILE),
        Box::new(move || sync_audit(&audit_sync)),
        replica.as_ref().map(|r| {
            let sync: db::PreCommit = Box::new(move || sync_audit(&audit_sync_state));
            (Arc::clone(r), sync)
        }),
    )?;
    let since = state.watch_position()?;

    // After lock-down: threads spawned from here on inherit every restriction.
    let vault = vault::Vault::new(master, 1, cfg.signer.shield_mutation_secs)?;
    let (to_pool, pool_rx) = mpsc::channel::<UserMessage>();
    let pool_events = pool
        .try_clone()
        .map_err(|e| SignerError::Startup(format!("pool socket: {e}")))?;
    spawn_pool_writer(pool, pool_rx)?;
    let (service, renewal_queue) = Service::new(cfg, vault, keys, state, audit, to_pool, report)?;
    let service = Arc::new(service);
    spawn_pool_reader(pool_events, Arc::clone(&service))?;
    {
        let service = Arc::clone(&service);
        std::thread::Builder::new()
            .name("kms-lease".into())
            .stack_size(512 * 1024)
            .spawn(move || {
                while let Ok(job) = renewal_queue.recv() {
                    service.renew_lease(job);
                }
            })
            .map_err(|e| SignerError::Startup(format!("lease thread: {e}")))?;
    }
    if let Some(replica) = &replica {
        let _ = targets.service.set(Arc::downgrade(&service));
        if let Some(prepared) = prepared_sponsor {
            let instance = cfg.nats.instance.clone().unwrap_or_default();
            let steps = join::spawn_sponsor(
                prepared,
                Arc::clone(replica),
                Arc::downgrade(&service),
                instance,
            )?;
            let _ = targets.sponsor.set(steps);
            eprintln!("kms signer: join: sponsoring attested joiners");
        }
        if let Some(peer) = joined_from {
            service
                .audit(&AuditEvent::MasterKeyReceived {
                    instance: cfg.nats.instance.clone().unwrap_or_default(),
                    peer,
                })
                .map_err(|e| SignerError::Startup(format!("audit log: {}", e.message)))?;
        }
        eprintln!("kms signer: replication: catching up after revision {since}");
        replica
            .hello(since)
            .map_err(|e| SignerError::Startup(format!("replication: {e}")))?;
    }
    service
        .audit(&AuditEvent::SignerStarted {
            instance: format!("pid {}", std::process::id()),
        })
        .map_err(|e| SignerError::Startup(format!("audit log: {}", e.message)))?;
    // Entries written between group commits (leased intent uses) reach the disk within 200 ms;
    // a failed sync poisons the log, and every later action is refused.
    std::thread::Builder::new()
        .name("kms-audit-sync".into())
        .spawn(move || {
            loop {
                std::thread::sleep(std::time::Duration::from_millis(200));
                if let Err(e) = sync_audit(&audit_sync_timer) {
                    eprintln!(
                        "kms signer: audit log sync failed: {e}; refusing every further action"
                    );
                    return;
                }
            }
        })
        .map_err(|e| SignerError::Startup(format!("audit sync thread: {e}")))?;
    let (seq, head) = service::lock(&audit_head).head();
    eprintln!(
        "kms signer: ready (pid {}); audit log at entry {seq}, head {head}",
        std::process::id()
    );
    serve_bridge(&service, bus, cfg.signer.workers)
}

/// Makes the audit log durable up to its current head. The `fdatasync` runs without the log's
/// lock, so appends (and the requests that make them) are not held up by the disk.
fn sync_audit(audit: &Mutex<AuditLog>) -> Result<(), String> {
    let pending = service::lock(audit)
        .begin_sync()
        .map_err(|e| format!("audit log: {e}"))?;
    if let Some(p) = pending {
        let outcome = p.run();
        service::lock(audit)
            .finish_sync(outcome)
            .map_err(|e| format!("audit log: {e}"))?;
    }
    Ok(())
}

/// Where the link's unsolicited messages go, filled in as the parts exist.
#[derive(Default)]
struct LinkTargets {
    service: std::sync::OnceLock<std::sync::Weak<Service>>,
    sponsor: std::sync::OnceLock<mpsc::Sender<join::Step>>,
}

/// Starts reading the replication link: changes are applied as they come; once the catch-up is
/// durable here, the bridge is told it may serve the bus; join steps go to the sponsor thread
/// (refused when this instance does not sponsor).
fn start_link(
    replica: &Arc<crate::replica::Replica>,
    reader: UnixStream,
    targets: &Arc<LinkTargets>,
) -> Result<(), SignerError> {
    use crate::replica::ToSigner;
    let targets = Arc::clone(targets);
    let link = Arc::clone(replica);
    replica
        .start(
            reader,
            Box::new(move |msg| match msg {
                ToSigner::JoinStep {
                    id, session, body, ..
                } => {
                    let step = join::Step {
                        id: *id,
                        session: session.clone(),
                        body: body.0.clone(),
                    };
                    let sent = targets
                        .sponsor
                        .get()
                        .is_some_and(|tx| tx.send(step).is_ok());
                    if !sent {
                        let _ = link.join_answer(
                            *id,
                            session.clone(),
                            Err("this instance does not sponsor joiners".into()),
                        );
                    }
                }
                ToSigner::Changed { entry, .. } => {
                    if let Some(service) = targets.service.get().and_then(std::sync::Weak::upgrade)
                    {
                        service.apply_change(entry.clone());
                    }
                }
                ToSigner::CaughtUp { revision, .. } => {
                    let Some(service) = targets.service.get().and_then(std::sync::Weak::upgrade)
                    else {
                        return;
                    };
                    match service.flush_changes() {
                        Ok(()) => {
                            eprintln!("kms signer: replication: caught up to revision {revision}");
                            if let Err(e) = link.ready() {
                                eprintln!("kms signer: replication: {e}");
                            }
                        }
                        Err(e) => eprintln!(
                            "kms signer: replication: the catch-up is not durable ({e}); not ready"
                        ),
                    }
                }
                _ => {}
            }),
        )
        .map_err(SignerError::Startup)
}

/// The port of a `swtpm:` TCTI (`swtpm:host=…,port=P`; 2321 when not given).
fn swtpm_port(tcti: &str) -> Option<u16> {
    let conf = tcti.strip_prefix("swtpm")?;
    let conf = conf.strip_prefix(':').unwrap_or(conf);
    Some(
        conf.split(',')
            .find_map(|kv| kv.trim().strip_prefix("port="))
            .and_then(|p| p.parse().ok())
            .unwrap_or(2321),
    )
}

fn adopt(fd: RawFd, what: &str) -> Result<UnixStream, SignerError> {
    crate::sys::adopt_socket(fd)
        .map(UnixStream::from)
        .map_err(|e| SignerError::Startup(format!("{what} socket (fd {fd}): {e}")))
}

fn create_private_dir(dir: &Path) -> Result<(), SignerError> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| SignerError::Startup(format!("data directory {}: {e}", dir.display())))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| SignerError::Startup(format!("data directory {}: {e}", dir.display())))
}

/// Unseals the master key, creating and sealing one at genesis. The plaintext lives only in the
/// returned zeroizing buffer, which the shield takes over and wipes.
fn unseal_master_key(
    cfg: &Config,
) -> Result<(Zeroizing<Vec<u8>>, Option<kms_tpm::TpmSealer>), SignerError> {
    let blob_path = cfg.data_dir.join(MASTER_BLOB);
    let (mut dev, mut tpm) = match cfg.key_source {
        KeySource::Dev => (
            Some(
                kms_tpm::InsecureDevSealer::open(&cfg.data_dir.join(DEV_SEALER_KEY))
                    .map_err(|e| SignerError::Startup(format!("dev sealer: {e}")))?,
            ),
            None,
        ),
        KeySource::Tpm => {
            let tpm = kms_tpm::Tpm::open(&cfg.tpm.tcti)
                .map_err(|e| SignerError::Startup(format!("TPM {}: {e}", cfg.tpm.tcti)))?;
            let pcrs: kms_tpm::PcrSelection = cfg
                .tpm
                .pcrs
                .parse()
                .map_err(|e| SignerError::Startup(format!("tpm.pcrs: {e}")))?;
            (None, Some(kms_tpm::TpmSealer::new(tpm, pcrs)))
        }
    };
    let sealer: &mut dyn kms_tpm::Sealer = match (&mut dev, &mut tpm) {
        (Some(d), _) => d,
        (None, Some(t)) => t,
        (None, None) => return Err(SignerError::Startup("no sealer".into())),
    };
    let key = match std::fs::read(&blob_path) {
        Ok(blob) => sealer
            .unseal(&blob)
            .map(kms_tpm::SecretBytes::into_zeroizing)
            .map_err(|e| SignerError::Startup(format!("unsealing the master key: {e}")))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Genesis only in an empty data directory: a missing blob beside existing stores
            // is a lost or moved file, and a new key would open none of their records.
            for existing in [KEYS_FILE, STATE_FILE, AUDIT_FILE] {
                if cfg.data_dir.join(existing).exists() {
                    return Err(SignerError::Startup(format!(
                        "{} is missing but {existing} exists: refusing to create a new master key over existing data (restore {MASTER_BLOB})",
                        blob_path.display()
                    )));
                }
            }
            // Genesis: a fresh master key, sealed before it is ever used.
            let key = kms_tpm::SecretBytes::random(kms_core::MasterKey::LEN)
                .map_err(|e| SignerError::Startup(format!("master key: {e}")))?;
            let blob = sealer
                .seal(&key)
                .map_err(|e| SignerError::Startup(format!("sealing the master key: {e}")))?;
            kms_tpm::write_blob_file(&blob_path, &blob).map_err(|e| {
                SignerError::Startup(format!("writing {}: {e}", blob_path.display()))
            })?;
            eprintln!(
                "kms signer: genesis: a new master key was sealed to {}",
                blob_path.display()
            );
            key.into_zeroizing()
        }
        Err(e) => {
            return Err(SignerError::Startup(format!(
                "{}: {e}",
                blob_path.display()
            )));
        }
    };
    Ok((key, tpm))
}

fn spawn_pool_writer(
    mut pool: UnixStream,
    rx: mpsc::Receiver<UserMessage>,
) -> Result<(), SignerError> {
    std::thread::Builder::new()
        .name("kms-pool-link".into())
        .spawn(move || {
            while let Ok(msg) = rx.recv() {
                let body = Zeroizing::new(serde_json::to_vec(&msg).unwrap_or_default());
                let Ok(frame) = encode_frame(&body).map(Zeroizing::new) else {
                    continue;
                };
                if pool.write_all(&frame).is_err() {
                    eprintln!("kms signer: the HTTPS pool is gone; messages to users are lost");
                    return;
                }
            }
        })
        .map(drop)
        .map_err(|e| SignerError::Startup(format!("pool thread: {e}")))
}

/// Threads that carry out the decisions the pool sends (a decision can take long: an export runs
/// Argon2id; decisions of one user are serialised by the user's state lock anyway).
const POOL_DECISION_THREADS: usize = 4;
/// Decisions read from the pool and not yet taken up; the reader waits beyond this.
const POOL_DECISION_QUEUE: usize = 256;

/// Reads the pool's requests (decisions the user took in chat) and hands each to one of
/// [`POOL_DECISION_THREADS`] threads, so a slow decision of one user does not hold up the
/// others; the answers go back through the pool writer.
fn spawn_pool_reader(pool: UnixStream, service: Arc<Service>) -> Result<(), SignerError> {
    let (tx, rx) = mpsc::sync_channel::<PoolRequest>(POOL_DECISION_QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..POOL_DECISION_THREADS {
        let rx = Arc::clone(&rx);
        let service = Arc::clone(&service);
        std::thread::Builder::new()
            .name(format!("kms-pool-decide-{i}"))
            .stack_size(512 * 1024)
            .spawn(move || {
                loop {
                    let next = rx
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .recv();
                    match next {
                        Ok(req) => service.pool_request(req),
                        Err(_) => return,
                    }
                }
            })
            .map_err(|e| SignerError::Startup(format!("pool decision thread: {e}")))?;
    }
    std::thread::Builder::new()
        .name("kms-pool-events".into())
        .stack_size(512 * 1024)
        .spawn(move || {
            let mut reader = BufReader::new(pool);
            let mut body = Vec::new();
            loop {
                match read_frame(&mut reader, &mut body) {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(e) => {
                        eprintln!("kms signer: pool link: {e}; no more decisions from chat");
                        return;
                    }
                }
                let req = serde_json::from_slice::<PoolRequest>(&body);
                zeroize::Zeroize::zeroize(&mut body);
                match req {
                    Ok(req) => {
                        if tx.send(req).is_err() {
                            return;
                        }
                    }
                    Err(_) => eprintln!("kms signer: the pool sent a frame that is not a request"),
                }
            }
        })
        .map(drop)
        .map_err(|e| SignerError::Startup(format!("pool thread: {e}")))
}

/// Serves the bridge with `workers` threads in a leader/follower pattern: the thread that holds
/// the reader lock reads the next frame, releases the lock, handles the request and writes the
/// answer itself (no hand-off between threads on the way). Answers go back in whatever order
/// they finish, under their request ids.
fn serve_bridge(
    service: &Arc<Service>,
    bus: UnixStream,
    workers: usize,
) -> Result<(), SignerError> {
    let writer =
        Arc::new(Mutex::new(bus.try_clone().map_err(|e| {
            SignerError::Startup(format!("bridge socket: {e}"))
        })?));
    let closer = bus
        .try_clone()
        .map_err(|e| SignerError::Startup(format!("bridge socket: {e}")))?;
    let reader = Arc::new(Mutex::new((
        BufReader::with_capacity(64 * 1024, bus),
        false, // closed
    )));
    let closer = Arc::new(closer);
    let mut handles = Vec::with_capacity(workers);
    for i in 0..workers {
        let reader = Arc::clone(&reader);
        let closer = Arc::clone(&closer);
        let writer = Arc::clone(&writer);
        let service = Arc::clone(service);
        // Memory is locked (mlockall): small stacks keep the locked set small. 512 KiB covers
        // the deepest path (a WASM module run under wasmi, and the shield's 16 KiB scrub).
        let h = std::thread::Builder::new()
            .name(format!("kms-worker-{i}"))
            .stack_size(512 * 1024)
            .spawn(move || {
                let mut body = Vec::new();
                loop {
                    {
                        let mut r = service::lock(&reader);
                        if r.1 {
                            return;
                        }
                        let end = match read_frame(&mut r.0, &mut body) {
                            Ok(true) => None,
                            Ok(false) => Some(String::new()),
                            // The bridge checks sizes first; a frame above the limit from it is
                            // a bug.
                            Err(FrameError::TooLarge { len, .. }) => Some(format!(
                                "frame of {len} bytes from the bridge (max {MAX_FRAME_LEN}); closing"
                            )),
                            Err(e) => Some(format!("bridge link: {e}")),
                        };
                        if let Some(why) = end {
                            if !why.is_empty() {
                                eprintln!("kms signer: {why}");
                            }
                            r.1 = true;
                            let _ = closer.shutdown(std::net::Shutdown::Both);
                            return;
                        }
                    }
                    let answer = match decode_request(&body) {
                        Ok(env) => encode_response(env.id, service.handle(env.req)),
                        Err((id, e)) => encode_response(id, Outcome::Err(e)),
                    };
                    zeroize::Zeroize::zeroize(&mut body);
                    let frame = match encode_frame(&answer) {
                        Ok(f) => f,
                        // An answer above the frame limit is replaced by a typed error.
                        Err(e) => {
                            let id = serde_json::from_slice::<serde_json::Value>(&answer)
                                .ok()
                                .and_then(|v| v["id"].as_u64())
                                .unwrap_or(0);
                            let err = WireError::new(
                                ErrorKind::Internal,
                                format!("answer not sent: {e}"),
                            );
                            match encode_frame(&encode_response(id, Outcome::Err(err))) {
                                Ok(f) => f,
                                Err(_) => continue,
                            }
                        }
                    };
                    if service::lock(&writer).write_all(&frame).is_err() {
                        return;
                    }
                }
            })
            .map_err(|e| SignerError::Startup(format!("worker thread: {e}")))?;
        handles.push(h);
    }
    for h in handles {
        let _ = h.join();
    }
    Ok(())
}
