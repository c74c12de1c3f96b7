//! The replication link (several instances on NATS, `bus = "nats://…"`): the signer has no
//! network, so it asks the bridge to carry its sealed records to JetStream KV and back over a
//! third socketpair. Only sealed bytes cross it: the signer seals every record before it leaves
//! (authorization states, profiles and open challenges with XChaCha20-Poly1305 under keys derived
//! from the master key; key records are kms-core `SealedRecord`s).
//!
//! Frames are the bus's length-prefixed frames; each body is one JSON object, `"v": 1`. See
//! SPEC.md, "Replication link".

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, SyncSender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kms_client::frame::{encode_frame, read_frame};
use serde::{Deserialize, Serialize};

use crate::util::lock;

/// Version of the link's messages.
pub(crate) const LINK_VERSION: u8 = 1;

/// A replicated key: the JetStream KV key of one sealed record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ReplicaKey {
    /// A user's sealed authorization state (`auth.<user>`).
    Authorization(u64),
    /// A user's sealed profile (`profile.<user>`).
    Profile(u64),
    /// A sealed open challenge (`pending.<challenge id hex>`).
    Pending(u64),
    /// A kms-core sealed key record (`record.<store key hex>`).
    Record(Vec<u8>),
}

impl ReplicaKey {
    /// The KV key (characters NATS allows in subjects: letters, digits, `.`).
    pub(crate) fn to_kv(&self) -> String {
        match self {
            Self::Authorization(u) => format!("auth.{u}"),
            Self::Profile(u) => format!("profile.{u}"),
            Self::Pending(c) => format!("pending.{c:016x}"),
            Self::Record(k) => format!("record.{}", hex::encode(k)),
        }
    }

    /// Parses a KV key; `None` for anything this version did not write, including another
    /// spelling of a key it writes (`auth.07`, upper-case hex, a `+` sign): one record, one key.
    pub(crate) fn from_kv(s: &str) -> Option<Self> {
        Self::parse_kv(s).filter(|k| k.to_kv() == s)
    }

    fn parse_kv(s: &str) -> Option<Self> {
        let (kind, rest) = s.split_once('.')?;
        let decimal = |r: &str| {
            (!r.is_empty() && r.len() <= 20 && r.bytes().all(|b| b.is_ascii_digit()))
                .then(|| r.parse().ok())
                .flatten()
        };
        match kind {
            "auth" => decimal(rest).map(Self::Authorization),
            "profile" => decimal(rest).map(Self::Profile),
            "pending" if rest.len() == 16 => u64::from_str_radix(rest, 16).ok().map(Self::Pending),
            "record" => hex::decode(rest)
                .ok()
                .filter(|k| !k.is_empty() && k.len() <= 300)
                .map(Self::Record),
            _ => None,
        }
    }
}

/// Sealed bytes as base64 text in the link's JSON.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub(crate) struct Sealed(#[serde(with = "b64")] pub(crate) Vec<u8>);

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sealed({} bytes)", self.0.len())
    }
}

mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD as B64;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(v))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        B64.decode(s.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// A replicated entry: its KV key, sealed value and JetStream revision (stream sequence).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) value: Sealed,
    pub(crate) revision: u64,
}

/// Signer → bridge.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum ToBridge {
    /// Start of the link: replay every change after revision `since` (the highest this signer
    /// applied), then say `caught_up`.
    Hello { v: u8, since: u64 },
    /// The signer applied everything up to `caught_up`: the bridge may serve the bus.
    Ready { v: u8 },
    /// Store `value` at `key` only if the stored revision is `expect` (`0`: no value yet).
    Put {
        v: u8,
        id: u64,
        key: String,
        value: Sealed,
        expect: u64,
    },
    /// The current value of `key`.
    Get { v: u8, id: u64, key: String },
    /// Joiner: send a join message (kms-tpm wire bytes) to a sponsor: any (`sponsor` absent, the
    /// hello) or the one that answered the hello, in its session.
    JoinCall {
        v: u8,
        id: u64,
        sponsor: Option<String>,
        session: Option<String>,
        body: Sealed,
    },
    /// Sponsor: the answer to a `join_step` (a join message, or why the joiner gets nothing).
    JoinAnswer {
        v: u8,
        id: u64,
        session: Option<String>,
        body: Option<Sealed>,
        error: Option<String>,
    },
}

/// Bridge → signer.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum ToSigner {
    /// `Put` stored at `revision`.
    Stored { v: u8, id: u64, revision: u64 },
    /// `Put` refused: the stored revision was not `expect`; `current` is what is stored now.
    Conflict {
        v: u8,
        id: u64,
        current: Option<Entry>,
    },
    /// The answer to `Get`.
    Value {
        v: u8,
        id: u64,
        entry: Option<Entry>,
    },
    /// The request failed (NATS unreachable, timed out): nothing is known to be stored.
    Failed { v: u8, id: u64, error: String },
    /// Another instance (or this one) stored `entry`.
    Changed { v: u8, entry: Entry },
    /// Every change up to `revision` was sent.
    CaughtUp { v: u8, revision: u64 },
    /// Joiner: the sponsor's answer to a `join_call` (a join message, or why it refused).
    JoinReply {
        v: u8,
        id: u64,
        sponsor: String,
        session: Option<String>,
        body: Option<Sealed>,
        error: Option<String>,
    },
    /// Sponsor: a joiner's join message arrived (answer with `join_answer`, same id).
    JoinStep {
        v: u8,
        id: u64,
        session: Option<String>,
        body: Sealed,
    },
}

/// The sponsor's answer to one join message: the next message in its session, or why not.
#[derive(Debug)]
pub(crate) struct JoinReply {
    /// The sponsor's instance name (the joiner's next message goes to it).
    pub(crate) sponsor: String,
    /// The session the sponsor keeps for this joiner.
    pub(crate) session: Option<String>,
    /// The join message, or the sponsor's reason for refusing.
    pub(crate) body: Result<Vec<u8>, String>,
}

/// Why a replicated operation did not happen.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReplicaError {
    /// The bridge or NATS did not answer, or failed: nothing is known to be stored.
    #[error("replication unavailable: {0}")]
    Unavailable(String),
}

/// What a conditional put did.
#[derive(Debug)]
pub(crate) enum PutOutcome {
    /// Stored at this revision.
    Stored(u64),
    /// Refused; this is what is stored now.
    Conflict(Option<Entry>),
}

/// Applies what the watch delivers (set by the signer's service once it exists).
pub(crate) type ChangeSink = Box<dyn Fn(&ToSigner) + Send + Sync>;

/// The signer's end of the link.
pub(crate) struct Replica {
    writer: Mutex<UnixStream>,
    next: AtomicU64,
    waiters: Mutex<HashMap<u64, SyncSender<ToSigner>>>,
    timeout: Duration,
    link_up: AtomicBool,
}

impl Replica {
    /// Wraps the link; [`Replica::start`] starts reading it.
    pub(crate) fn new(
        stream: UnixStream,
        timeout: Duration,
    ) -> Result<(Arc<Self>, UnixStream), String> {
        let reader = stream
            .try_clone()
            .map_err(|e| format!("replication link: {e}"))?;
        Ok((
            Arc::new(Self {
                writer: Mutex::new(stream),
                next: AtomicU64::new(1),
                waiters: Mutex::new(HashMap::new()),
                timeout,
                link_up: AtomicBool::new(true),
            }),
            reader,
        ))
    }

    /// Asks the bridge for every change after `since` (then `caught_up`).
    pub(crate) fn hello(&self, since: u64) -> Result<(), ReplicaError> {
        self.send(&ToBridge::Hello {
            v: LINK_VERSION,
            since,
        })
    }

    /// Reads the link on a thread of its own: answers go to their callers; changes, the
    /// catch-up marker and join steps to `sink`, in order.
    pub(crate) fn start(
        self: &Arc<Self>,
        reader: UnixStream,
        sink: ChangeSink,
    ) -> Result<(), String> {
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("kms-replica-link".into())
            .stack_size(512 * 1024)
            .spawn(move || {
                let mut r = BufReader::with_capacity(64 * 1024, reader);
                let mut buf = Vec::new();
                while let Ok(true) = read_frame(&mut r, &mut buf) {
                    let msg: ToSigner = match serde_json::from_slice(&buf) {
                        Ok(m) => m,
                        Err(e) => {
                            eprintln!("kms signer: replication link: a message that does not decode ({e}); dropped");
                            continue;
                        }
                    };
                    let id = match &msg {
                        ToSigner::Stored { id, .. }
                        | ToSigner::Conflict { id, .. }
                        | ToSigner::Value { id, .. }
                        | ToSigner::JoinReply { id, .. }
                        | ToSigner::Failed { id, .. } => Some(*id),
                        ToSigner::Changed { .. }
                        | ToSigner::CaughtUp { .. }
                        | ToSigner::JoinStep { .. } => None,
                    };
                    match id {
                        Some(id) => {
                            if let Some(w) = lock(&me.waiters).remove(&id) {
                                let _ = w.send(msg);
                            }
                        }
                        None => sink(&msg),
                    }
                }
                eprintln!("kms signer: the replication link closed; replicated writes fail until restart");
                me.link_up.store(false, Ordering::SeqCst);
                lock(&me.waiters).clear();
            })
            .map(drop)
            .map_err(|e| format!("replication link thread: {e}"))
    }

    /// Tells the bridge the catch-up is applied.
    pub(crate) fn ready(&self) -> Result<(), ReplicaError> {
        self.send(&ToBridge::Ready { v: LINK_VERSION })
    }

    fn send(&self, msg: &ToBridge) -> Result<(), ReplicaError> {
        let body = serde_json::to_vec(msg)
            .map_err(|e| ReplicaError::Unavailable(format!("encoding: {e}")))?;
        let frame =
            encode_frame(&body).map_err(|e| ReplicaError::Unavailable(format!("framing: {e}")))?;
        lock(&self.writer)
            .write_all(&frame)
            .map_err(|e| ReplicaError::Unavailable(format!("the bridge is gone: {e}")))
    }

    fn call(&self, make: impl FnOnce(u64) -> ToBridge) -> Result<ToSigner, ReplicaError> {
        self.call_within(self.timeout, make)
    }

    fn call_within(
        &self,
        timeout: Duration,
        make: impl FnOnce(u64) -> ToBridge,
    ) -> Result<ToSigner, ReplicaError> {
        if !self.link_up.load(Ordering::SeqCst) {
            return Err(ReplicaError::Unavailable(
                "the replication link is down".into(),
            ));
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::sync_channel(1);
        lock(&self.waiters).insert(id, tx);
        if let Err(e) = self.send(&make(id)) {
            lock(&self.waiters).remove(&id);
            return Err(e);
        }
        match rx.recv_timeout(timeout) {
            Ok(ToSigner::Failed { error, .. }) => Err(ReplicaError::Unavailable(error)),
            Ok(m) => Ok(m),
            Err(_) => {
                lock(&self.waiters).remove(&id);
                Err(ReplicaError::Unavailable(format!(
                    "no answer from NATS within {} ms",
                    timeout.as_millis()
                )))
            }
        }
    }

    /// Joiner: sends one join message to a sponsor (any, or `sponsor` in `session`) and waits
    /// up to `timeout` for its answer.
    pub(crate) fn join_call(
        &self,
        sponsor: Option<&str>,
        session: Option<&str>,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<JoinReply, ReplicaError> {
        let answer = self.call_within(timeout, |id| ToBridge::JoinCall {
            v: LINK_VERSION,
            id,
            sponsor: sponsor.map(str::to_owned),
            session: session.map(str::to_owned),
            body: Sealed(body),
        })?;
        match answer {
            ToSigner::JoinReply {
                sponsor,
                session,
                body,
                error,
                ..
            } => Ok(JoinReply {
                sponsor,
                session,
                body: match (body, error) {
                    (Some(b), None) => Ok(b.0),
                    (_, Some(e)) => Err(e),
                    (None, None) => Err("an empty answer".into()),
                },
            }),
            other => Err(ReplicaError::Unavailable(format!(
                "unexpected answer to a join message: {other:?}"
            ))),
        }
    }

    /// Sponsor: answers the join step `id`.
    pub(crate) fn join_answer(
        &self,
        id: u64,
        session: Option<String>,
        body: Result<Vec<u8>, String>,
    ) -> Result<(), ReplicaError> {
        let (body, error) = match body {
            Ok(b) => (Some(Sealed(b)), None),
            Err(e) => (None, Some(e)),
        };
        self.send(&ToBridge::JoinAnswer {
            v: LINK_VERSION,
            id,
            session,
            body,
            error,
        })
    }

    /// Stores `value` at `key` if the stored revision is still `expect` (`None`: nothing stored).
    pub(crate) fn put(
        &self,
        key: &ReplicaKey,
        value: &[u8],
        expect: Option<u64>,
    ) -> Result<PutOutcome, ReplicaError> {
        let answer = self.call(|id| ToBridge::Put {
            v: LINK_VERSION,
            id,
            key: key.to_kv(),
            value: Sealed(value.to_vec()),
            expect: expect.unwrap_or(0),
        })?;
        match answer {
            ToSigner::Stored { revision, .. } => Ok(PutOutcome::Stored(revision)),
            ToSigner::Conflict { current, .. } => Ok(PutOutcome::Conflict(current)),
            other => Err(ReplicaError::Unavailable(format!(
                "unexpected answer to a put: {other:?}"
            ))),
        }
    }

    /// The stored value of `key`, with its revision.
    pub(crate) fn get(&self, key: &ReplicaKey) -> Result<Option<Entry>, ReplicaError> {
        let answer = self.call(|id| ToBridge::Get {
            v: LINK_VERSION,
            id,
            key: key.to_kv(),
        })?;
        match answer {
            ToSigner::Value { entry, .. } => Ok(entry),
            other => Err(ReplicaError::Unavailable(format!(
                "unexpected answer to a get: {other:?}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn keys_round_trip_and_strangers_are_refused() {
        for k in [
            ReplicaKey::Authorization(0),
            ReplicaKey::Authorization(u64::MAX),
            ReplicaKey::Profile(42),
            ReplicaKey::Pending(0xdead_beef_0000_0001),
            ReplicaKey::Record(vec![8, 1, 2, 3]),
        ] {
            assert_eq!(ReplicaKey::from_kv(&k.to_kv()), Some(k));
        }
        for bad in [
            "",
            "auth",
            "auth.",
            "auth.-1",
            "auth.1x",
            "auth.+1",
            "auth.99999999999999999999999",
            "pending.12",
            "pending.zzzzzzzzzzzzzzzz",
            "record.",
            "record.0g",
            "other.1",
            // Other spellings of keys this version writes.
            "auth.07",
            "profile.00",
            "pending.+00000000000000f",
            "pending.DEADBEEF00000001",
            "record.0A",
        ] {
            assert_eq!(ReplicaKey::from_kv(bad), None, "{bad}");
        }
    }

    #[test]
    fn messages_are_strict_and_sealed_bytes_never_print() {
        let m: ToBridge = serde_json::from_str(
            r#"{"op":"put","v":1,"id":3,"key":"auth.1","value":"AAEC","expect":0}"#,
        )
        .unwrap();
        assert!(format!("{m:?}").contains("Sealed(3 bytes)"));
        assert!(
            serde_json::from_str::<ToBridge>(
                r#"{"op":"put","v":1,"id":3,"key":"a","value":"AAEC","expect":0,"x":1}"#
            )
            .is_err()
        );
        assert!(serde_json::from_str::<ToSigner>(r#"{"op":"stored","v":1,"id":1}"#).is_err());
    }
}
