//! The bridge's NATS side (`bus = "nats://…"`): the bus API on NATS request/reply, and the
//! replication of the signer's sealed records through JetStream KV.
//!
//! - Requests arrive on `<prefix>.request` in the queue group `<queue_group>` (one instance
//!   serves each); the payload is the bus protocol's request envelope (the Unix socket's frame
//!   body), the reply its response envelope: the same protocol and errors.
//! - Replication: the signer's `Put`/`Get` become KV `update(key, value, revision)` (revision 0:
//!   only where nothing is stored) and `entry(key)`; a watch of the whole bucket from the
//!   signer's watch position delivers every change, its own included, in revision order.
//! - Nothing is served (neither NATS nor the Unix socket) until the signer has applied the
//!   catch-up.
//!
//! Everything here is async (tokio, async-nats) on a runtime of its own, started after the bridge
//! confined itself.

use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures_util::StreamExt as _;
use kms_client::MAX_FRAME_LEN;
use kms_client::frame::{encode_frame, read_frame};
use kms_client::proto::{ErrorKind, Outcome, WireError, decode_request};
use tokio::sync::mpsc;
use zeroize::Zeroizing;

use crate::bridge::{Bridge, Origin};
use crate::config::NatsConfig;
use crate::replica::{Entry, LINK_VERSION, ReplicaKey, Sealed, ToBridge, ToSigner};

/// The subject requests arrive on, under the prefix.
pub(crate) const REQUEST_SUBJECT: &str = "request";
/// The subject joiners' hellos go to (any sponsor), under the prefix; a joiner's later message
/// goes to `<prefix>.join.<sponsor instance>`.
pub(crate) const JOIN_SUBJECT: &str = "join";

/// A join message on NATS (joiner → sponsor): kms-tpm's wire bytes, base64.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinWire {
    v: u8,
    session: Option<String>,
    body: Sealed,
}

/// A sponsor's answer on NATS: its next join message, or why the joiner gets nothing.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinWireReply {
    v: u8,
    sponsor: String,
    session: Option<String>,
    body: Option<Sealed>,
    error: Option<String>,
}

type JoinWaiters =
    Arc<std::sync::Mutex<std::collections::HashMap<u64, tokio::sync::oneshot::Sender<ToBridge>>>>;

/// The system's CA bundle (Debian), read by a TLS connection without `nats.ca_file`.
const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

/// What the bridge needs to reach NATS: read before it confines itself.
pub(crate) struct Setup {
    urls: Vec<String>,
    cfg: NatsConfig,
    /// Serve joiners' messages (`[join] sponsor`).
    sponsor: bool,
    /// How long one join step may take.
    join_timeout: Duration,
    password: Option<Zeroizing<String>>,
    token: Option<Zeroizing<String>>,
}

impl Setup {
    /// Reads the password or token file named in `cfg`.
    pub(crate) fn read(
        urls: &[String],
        cfg: &NatsConfig,
        join: &crate::config::JoinConfig,
    ) -> Result<Self, String> {
        let secret =
            |p: &Option<PathBuf>, what: &str| -> Result<Option<Zeroizing<String>>, String> {
                p.as_ref()
                    .map(|path| {
                        std::fs::read_to_string(path)
                            .map(|s| Zeroizing::new(s.trim().to_string()))
                            .map_err(|e| format!("nats.{what} {}: {e}", path.display()))
                    })
                    .transpose()
            };
        Ok(Self {
            urls: urls.to_vec(),
            cfg: cfg.clone(),
            sponsor: join.sponsor,
            join_timeout: Duration::from_secs(join.timeout_secs.max(1)),
            password: secret(&cfg.password_file, "password_file")?,
            token: secret(&cfg.token_file, "token_file")?,
        })
    }

    /// The files a (re)connection reads: they stay readable in the bridge's sandbox.
    pub(crate) fn files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = [
            &self.cfg.ca_file,
            &self.cfg.client_cert,
            &self.cfg.client_key,
        ]
        .into_iter()
        .flatten()
        .cloned()
        .collect();
        if self.cfg.ca_file.is_none() {
            // Without a CA file, TLS trusts the system's roots (Debian's bundle).
            files.push(SYSTEM_ROOTS.into());
        }
        files
    }

    fn options(&self) -> async_nats::ConnectOptions {
        let name = self.cfg.instance.clone().unwrap_or_else(|| "kms".into());
        let mut o = async_nats::ConnectOptions::new()
            .name(format!("kms bridge {name}"))
            .retry_on_initial_connect()
            .max_reconnects(None)
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(Duration::from_millis(self.cfg.request_timeout_ms)))
            .require_tls(self.cfg.require_tls)
            .event_callback(move |event| async move {
                eprintln!("kms bridge: NATS: {event}");
            });
        if let Some(ca) = &self.cfg.ca_file {
            o = o.add_root_certificates(ca.clone());
        }
        if let (Some(cert), Some(key)) = (&self.cfg.client_cert, &self.cfg.client_key) {
            o = o.add_client_certificate(cert.clone(), key.clone());
        }
        if let (Some(user), Some(password)) = (&self.cfg.user, &self.password) {
            o = o.user_and_password(user.clone(), password.to_string());
        }
        if let Some(token) = &self.token {
            o = o.token(token.to_string());
        }
        o
    }
}

/// Where answers to NATS requests go (the publisher task).
pub(crate) struct Replies(mpsc::UnboundedSender<(String, Vec<u8>)>);

impl Replies {
    pub(crate) fn send(&self, reply: String, body: Vec<u8>) {
        let _ = self.0.send((reply, body));
    }
}

/// Starts the NATS side and returns once the signer has caught up (then the bridge may serve).
/// Until then it waits, saying so every ten seconds (NATS unreachable, the bucket missing).
pub(crate) fn start(setup: Setup, repl: UnixStream, bridge: Arc<Bridge>) -> Result<(), String> {
    let (to_async, from_signer) = mpsc::unbounded_channel::<ToBridge>();
    let (to_signer, outbox) = std_mpsc::channel::<ToSigner>();
    let reader = repl
        .try_clone()
        .map_err(|e| format!("replication socket: {e}"))?;
    spawn_link_writer(repl, outbox)?;
    spawn_link_reader(reader, to_async)?;
    let (ready_tx, ready_rx) = std_mpsc::channel::<()>();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("kms-bridge-nats")
        .enable_all()
        .build()
        .map_err(|e| format!("NATS runtime: {e}"))?;
    std::thread::Builder::new()
        .name("kms-bridge-nats-main".into())
        .spawn(move || {
            runtime.block_on(serve(setup, from_signer, to_signer, bridge, ready_tx));
        })
        .map_err(|e| format!("NATS thread: {e}"))?;
    loop {
        match ready_rx.recv_timeout(Duration::from_secs(10)) {
            Ok(()) => return Ok(()),
            Err(std_mpsc::RecvTimeoutError::Timeout) => {
                eprintln!("kms bridge: waiting for NATS and the signer's catch-up before serving");
            }
            Err(std_mpsc::RecvTimeoutError::Disconnected) => {
                return Err("the NATS side stopped before the signer caught up".into());
            }
        }
    }
}

fn spawn_link_writer(
    mut repl: UnixStream,
    outbox: std_mpsc::Receiver<ToSigner>,
) -> Result<(), String> {
    std::thread::Builder::new()
        .name("kms-bridge-repl-out".into())
        .spawn(move || {
            while let Ok(msg) = outbox.recv() {
                let Ok(body) = serde_json::to_vec(&msg) else {
                    continue;
                };
                let Ok(frame) = encode_frame(&body) else {
                    eprintln!("kms bridge: replication: a message above the frame limit; dropped");
                    continue;
                };
                if repl.write_all(&frame).is_err() {
                    return;
                }
            }
        })
        .map(drop)
        .map_err(|e| format!("replication thread: {e}"))
}

fn spawn_link_reader(
    repl: UnixStream,
    to_async: mpsc::UnboundedSender<ToBridge>,
) -> Result<(), String> {
    std::thread::Builder::new()
        .name("kms-bridge-repl-in".into())
        .spawn(move || {
            let mut r = BufReader::with_capacity(64 * 1024, repl);
            let mut buf = Vec::new();
            while let Ok(true) = read_frame(&mut r, &mut buf) {
                match serde_json::from_slice::<ToBridge>(&buf) {
                    Ok(msg) => {
                        if to_async.send(msg).is_err() {
                            return;
                        }
                    }
                    Err(e) => eprintln!(
                        "kms bridge: replication: a message that does not decode ({e}); dropped"
                    ),
                }
            }
        })
        .map(drop)
        .map_err(|e| format!("replication thread: {e}"))
}

async fn serve(
    setup: Setup,
    mut from_signer: mpsc::UnboundedReceiver<ToBridge>,
    to_signer: std_mpsc::Sender<ToSigner>,
    bridge: Arc<Bridge>,
    ready: std_mpsc::Sender<()>,
) {
    let client = loop {
        match async_nats::connect_with_options(setup.urls.clone(), setup.options()).await {
            Ok(c) => break c,
            Err(e) => {
                eprintln!("kms bridge: NATS: {e}; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let mut js = jetstream::new(client.clone());
    js.set_timeout(Duration::from_millis(setup.cfg.request_timeout_ms));
    let store = loop {
        match bucket(&js, &setup.cfg).await {
            Ok(s) => break s,
            Err(e) => {
                eprintln!(
                    "kms bridge: NATS: JetStream bucket {}: {e}; retrying",
                    setup.cfg.bucket
                );
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let timeout = Duration::from_millis(setup.cfg.request_timeout_ms.saturating_sub(50).max(50));
    let mut serving = false;
    let join_waiters: JoinWaiters = Arc::default();
    while let Some(msg) = from_signer.recv().await {
        match msg {
            ToBridge::Hello { since, .. } => {
                tokio::spawn(watch(
                    store.clone(),
                    js.clone(),
                    setup.cfg.bucket.clone(),
                    since,
                    to_signer.clone(),
                ));
            }
            ToBridge::Ready { .. } => {
                if !serving {
                    serving = true;
                    let subject = format!("{}.{REQUEST_SUBJECT}", setup.cfg.prefix);
                    match client
                        .queue_subscribe(subject.clone(), setup.cfg.queue_group.clone())
                        .await
                    {
                        Ok(sub) => {
                            eprintln!(
                                "kms bridge: NATS: serving {subject} (queue group {})",
                                setup.cfg.queue_group
                            );
                            tokio::spawn(serve_bus(client.clone(), sub, Arc::clone(&bridge)));
                            if setup.sponsor
                                && let Err(e) = sponsor_joins(
                                    &client,
                                    &setup,
                                    to_signer.clone(),
                                    Arc::clone(&join_waiters),
                                )
                                .await
                            {
                                eprintln!("kms bridge: NATS: join subjects: {e}");
                                return;
                            }
                            let _ = ready.send(());
                        }
                        Err(e) => {
                            eprintln!("kms bridge: NATS: subscribing to {subject}: {e}");
                            return;
                        }
                    }
                }
            }
            ToBridge::Put {
                id,
                key,
                value,
                expect,
                ..
            } => {
                let store = store.clone();
                answer_within(timeout, id, &to_signer, async move {
                    put(&store, id, &key, value, expect).await
                });
            }
            ToBridge::JoinCall {
                id,
                sponsor,
                session,
                body,
                ..
            } => {
                let client = client.clone();
                let out = to_signer.clone();
                let prefix = setup.cfg.prefix.clone();
                let wait = setup.join_timeout;
                tokio::spawn(async move {
                    let answer =
                        join_call(&client, &prefix, id, sponsor, session, body, wait).await;
                    let _ = out.send(answer);
                });
            }
            ToBridge::JoinAnswer {
                id,
                session,
                body,
                error,
                ..
            } => {
                let waiter = crate::util::lock(&join_waiters).remove(&id);
                if let Some(w) = waiter {
                    let _ = w.send(ToBridge::JoinAnswer {
                        v: LINK_VERSION,
                        id,
                        session,
                        body,
                        error,
                    });
                }
            }
            ToBridge::Get { id, key, .. } => {
                let store = store.clone();
                answer_within(timeout, id, &to_signer, async move {
                    get(&store, id, &key).await
                });
            }
        }
    }
}

/// Runs one KV request of the signer's on its own task and sends its answer, or `failed` when it
/// takes longer than `timeout`.
fn answer_within(
    timeout: Duration,
    id: u64,
    to_signer: &std_mpsc::Sender<ToSigner>,
    request: impl Future<Output = ToSigner> + Send + 'static,
) {
    let out = to_signer.clone();
    tokio::spawn(async move {
        let answer = tokio::time::timeout(timeout, request)
            .await
            .unwrap_or_else(|_| failed(id, "timed out"));
        let _ = out.send(answer);
    });
}

/// The bucket, created (file storage, one value per key) when missing. The stream is made with
/// JetStream KV's layout directly (what `create_key_value` makes): async-nats' own creation reads
/// an account-info answer that nats-server 2.9 (Debian 12's) shapes differently.
async fn bucket(js: &jetstream::Context, cfg: &NatsConfig) -> Result<kv::Store, String> {
    let name = &cfg.bucket;
    js.get_or_create_stream(jetstream::stream::Config {
        name: format!("KV_{name}"),
        description: Some("kms: sealed records of the signer instances".into()),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        discard: jetstream::stream::DiscardPolicy::New,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        duplicate_window: Duration::from_secs(120),
        storage: jetstream::stream::StorageType::File,
        num_replicas: cfg.replicas,
        ..Default::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    js.get_key_value(name.clone())
        .await
        .map_err(|e| e.to_string())
}

fn failed(id: u64, why: impl std::fmt::Display) -> ToSigner {
    ToSigner::Failed {
        v: LINK_VERSION,
        id,
        error: format!("NATS: {why}"),
    }
}

async fn put(store: &kv::Store, id: u64, key: &str, value: Sealed, expect: u64) -> ToSigner {
    if ReplicaKey::from_kv(key).is_none() {
        return failed(id, "a key this version does not write");
    }
    match store.update(key, value.0.into(), expect).await {
        Ok(revision) => ToSigner::Stored {
            v: LINK_VERSION,
            id,
            revision,
        },
        Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => {
            match store.entry(key.to_string()).await {
                Ok(current) => ToSigner::Conflict {
                    v: LINK_VERSION,
                    id,
                    current: current.and_then(to_entry),
                },
                Err(e) => failed(id, e),
            }
        }
        Err(e) => failed(id, e),
    }
}

async fn get(store: &kv::Store, id: u64, key: &str) -> ToSigner {
    if ReplicaKey::from_kv(key).is_none() {
        return failed(id, "a key this version does not write");
    }
    match store.entry(key.to_string()).await {
        Ok(entry) => ToSigner::Value {
            v: LINK_VERSION,
            id,
            entry: entry.and_then(to_entry),
        },
        Err(e) => failed(id, e),
    }
}

fn to_entry(e: kv::Entry) -> Option<Entry> {
    (e.operation == kv::Operation::Put).then(|| Entry {
        key: e.key,
        value: Sealed(e.value.to_vec()),
        revision: e.revision,
    })
}

/// Delivers every change after `since` to the signer, in revision order, and says `caught_up`
/// once it reached the bucket's last revision at the time of the first look. Re-watches from
/// where it was after a NATS failure.
async fn watch(
    store: kv::Store,
    js: jetstream::Context,
    bucket: String,
    since: u64,
    out: std_mpsc::Sender<ToSigner>,
) {
    let mut position = since;
    let mut caught_up = false;
    loop {
        let target = match js.get_stream(format!("KV_{bucket}")).await {
            Ok(mut stream) => match stream.info().await {
                Ok(info) => Some(info.state.last_sequence),
                Err(e) => {
                    eprintln!("kms bridge: NATS: bucket state: {e}");
                    None
                }
            },
            Err(e) => {
                eprintln!("kms bridge: NATS: bucket state: {e}");
                None
            }
        };
        let Some(target) = target else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        if !caught_up && target <= position {
            caught_up = true;
            if out
                .send(ToSigner::CaughtUp {
                    v: LINK_VERSION,
                    revision: position,
                })
                .is_err()
            {
                return;
            }
        }
        let mut changes = match store.watch_all_from_revision(position + 1).await {
            Ok(w) => w,
            Err(e) => {
                eprintln!("kms bridge: NATS: watching the bucket: {e}; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
        };
        while let Some(change) = changes.next().await {
            let entry = match change {
                Ok(e) => e,
                Err(e) => {
                    eprintln!("kms bridge: NATS: the bucket watch failed: {e}; watching again");
                    break;
                }
            };
            let revision = entry.revision;
            if revision <= position {
                continue;
            }
            position = revision;
            if let Some(entry) = to_entry(entry)
                && out
                    .send(ToSigner::Changed {
                        v: LINK_VERSION,
                        entry,
                    })
                    .is_err()
            {
                return;
            }
            if !caught_up && revision >= target {
                caught_up = true;
                if out
                    .send(ToSigner::CaughtUp {
                        v: LINK_VERSION,
                        revision,
                    })
                    .is_err()
                {
                    return;
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Relays NATS requests to the signer; answers go back through the publisher task.
async fn serve_bus(
    client: async_nats::Client,
    mut sub: async_nats::Subscriber,
    bridge: Arc<Bridge>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, Vec<u8>)>();
    bridge.set_nats_replies(Replies(tx));
    let publisher = client.clone();
    tokio::spawn(async move {
        while let Some((reply, body)) = rx.recv().await {
            if let Err(e) = publisher.publish(reply, body.into()).await {
                eprintln!("kms bridge: NATS: an answer not sent: {e}");
            }
        }
    });
    while let Some(msg) = sub.next().await {
        let Some(reply) = msg.reply else { continue };
        let reply = reply.to_string();
        let refuse = |kind, text: String| {
            bridge.answer(
                Origin::Nats {
                    reply: reply.clone(),
                    id: 0,
                },
                Outcome::Err(WireError::new(kind, text)),
            );
        };
        if msg.payload.len() > MAX_FRAME_LEN {
            refuse(
                ErrorKind::FrameTooLarge,
                format!(
                    "request of {} bytes is larger than the maximum of {MAX_FRAME_LEN}",
                    msg.payload.len()
                ),
            );
            continue;
        }
        if msg.payload.is_empty() {
            refuse(ErrorKind::MalformedRequest, "empty request".into());
            continue;
        }
        match decode_request(&msg.payload) {
            Ok(env) => bridge.relay(Origin::Nats { reply, id: env.id }, &env.req),
            Err((id, e)) => bridge.answer(Origin::Nats { reply, id }, Outcome::Err(e)),
        }
    }
}

/// Joiner: one join message to a sponsor (any, or the named one) and its answer.
async fn join_call(
    client: &async_nats::Client,
    prefix: &str,
    id: u64,
    sponsor: Option<String>,
    session: Option<String>,
    body: Sealed,
    wait: Duration,
) -> ToSigner {
    let subject = match &sponsor {
        Some(s) => format!("{prefix}.{JOIN_SUBJECT}.{s}"),
        None => format!("{prefix}.{JOIN_SUBJECT}"),
    };
    let payload = match serde_json::to_vec(&JoinWire {
        v: LINK_VERSION,
        session,
        body,
    }) {
        Ok(p) => p,
        Err(e) => return failed(id, e),
    };
    let request = async_nats::Request::new()
        .payload(payload.into())
        .timeout(Some(wait));
    let msg = match client.send_request(subject.clone(), request).await {
        Ok(m) => m,
        Err(e) => return failed(id, format!("join message to {subject}: {e}")),
    };
    match serde_json::from_slice::<JoinWireReply>(&msg.payload) {
        Ok(r) => ToSigner::JoinReply {
            v: LINK_VERSION,
            id,
            sponsor: r.sponsor,
            session: r.session,
            body: r.body,
            error: r.error,
        },
        Err(e) => failed(id, format!("a sponsor's answer that does not decode: {e}")),
    }
}

/// Sponsor: serves `<prefix>.join` (queue group `<queue_group>-join`: one sponsor takes each
/// hello) and `<prefix>.join.<instance>` (the joiner's later messages), relaying each message to
/// the signer and its answer back.
async fn sponsor_joins(
    client: &async_nats::Client,
    setup: &Setup,
    to_signer: std_mpsc::Sender<ToSigner>,
    waiters: JoinWaiters,
) -> Result<(), String> {
    let instance = setup
        .cfg
        .instance
        .clone()
        .ok_or("a sponsor needs nats.instance")?;
    let any = format!("{}.{JOIN_SUBJECT}", setup.cfg.prefix);
    let mine = format!("{any}.{instance}");
    let subs = [
        client
            .queue_subscribe(any.clone(), format!("{}-join", setup.cfg.queue_group))
            .await
            .map_err(|e| e.to_string())?,
        client
            .subscribe(mine.clone())
            .await
            .map_err(|e| e.to_string())?,
    ];
    eprintln!("kms bridge: NATS: sponsoring joiners on {any} and {mine}");
    let next = Arc::new(std::sync::atomic::AtomicU64::new(1));
    for mut sub in subs {
        let (client, to_signer, waiters, next, instance) = (
            client.clone(),
            to_signer.clone(),
            Arc::clone(&waiters),
            Arc::clone(&next),
            instance.clone(),
        );
        let wait = setup.join_timeout;
        tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                let Some(reply) = msg.reply else { continue };
                let answer = match serde_json::from_slice::<JoinWire>(&msg.payload) {
                    Err(e) => JoinWireReply {
                        v: LINK_VERSION,
                        sponsor: instance.clone(),
                        session: None,
                        body: None,
                        error: Some(format!("not a join message: {e}")),
                    },
                    Ok(m) => {
                        let id = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let (tx, rx) = tokio::sync::oneshot::channel();
                        crate::util::lock(&waiters).insert(id, tx);
                        let _ = to_signer.send(ToSigner::JoinStep {
                            v: LINK_VERSION,
                            id,
                            session: m.session.clone(),
                            body: m.body,
                        });
                        match tokio::time::timeout(wait, rx).await {
                            Ok(Ok(ToBridge::JoinAnswer {
                                session,
                                body,
                                error,
                                ..
                            })) => JoinWireReply {
                                v: LINK_VERSION,
                                sponsor: instance.clone(),
                                session,
                                body,
                                error,
                            },
                            _ => {
                                crate::util::lock(&waiters).remove(&id);
                                JoinWireReply {
                                    v: LINK_VERSION,
                                    sponsor: instance.clone(),
                                    session: m.session,
                                    body: None,
                                    error: Some("the sponsor's signer did not answer".into()),
                                }
                            }
                        }
                    }
                };
                if let Ok(bytes) = serde_json::to_vec(&answer)
                    && let Err(e) = client.publish(reply, bytes.into()).await
                {
                    eprintln!("kms bridge: NATS: a join answer not sent: {e}");
                }
            }
        });
    }
    Ok(())
}
