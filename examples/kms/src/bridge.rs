//! The bridge process: the bus API for the untrusted business logic (Unix socket; file
//! permissions decide who may connect). It checks frames, answers malformed ones itself, and
//! relays requests to the signer under ids of its own; it holds no key and no unused token.
//!
//! With `bus = "nats://…"` it also serves the same requests from NATS (module `nats`) and
//! carries the signer's sealed records to and from JetStream KV (replication); it then serves
//! nothing until the signer has caught up with the other instances.

use std::collections::HashMap;
use std::io::{BufReader, Write};
use std::os::fd::RawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kms_client::frame::{FrameError, encode_frame, read_frame};
use kms_client::proto::{
    ErrorKind, Outcome, ResponseEnvelope, WireError, decode_request, encode_request,
    encode_response,
};

use crate::util::lock;

type Conn = Arc<Mutex<UnixStream>>;

/// Where a relayed request came from, and so where its answer goes.
#[derive(Debug)]
pub(crate) enum Origin {
    /// A Unix-socket connection, and the client's request id.
    Unix { conn: u64, id: u64 },
    /// A NATS request: its reply subject, and the client's request id.
    Nats { reply: String, id: u64 },
}

pub(crate) struct Bridge {
    signer: Mutex<UnixStream>,
    next_tag: AtomicU64,
    next_conn: AtomicU64,
    /// Relayed requests: tag → where the answer goes.
    inflight: Mutex<HashMap<u64, Origin>>,
    conns: Mutex<HashMap<u64, Conn>>,
    /// Answers to NATS requests go here (reply subject, response body).
    nats_out: Mutex<Option<crate::nats::Replies>>,
}

/// Runs the bridge until the signer link closes. Returns the exit code.
pub(crate) fn run(
    listen_fd: RawFd,
    signer_fd: RawFd,
    repl_fd: Option<RawFd>,
    cfg: &crate::config::Config,
) -> i32 {
    match serve(listen_fd, signer_fd, repl_fd, cfg) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("kms bridge: {e}");
            1
        }
    }
}

fn serve(
    listen_fd: RawFd,
    signer_fd: RawFd,
    repl_fd: Option<RawFd>,
    cfg: &crate::config::Config,
) -> Result<(), String> {
    let data_dir = &cfg.data_dir;
    let listener = crate::sys::adopt_socket(listen_fd)
        .map(UnixListener::from)
        .map_err(|e| format!("bus listener (fd {listen_fd}): {e}"))?;
    let signer = crate::sys::adopt_socket(signer_fd)
        .map(UnixStream::from)
        .map_err(|e| format!("signer socket (fd {signer_fd}): {e}"))?;
    let repl = repl_fd
        .map(|fd| {
            crate::sys::adopt_socket(fd)
                .map(UnixStream::from)
                .map_err(|e| format!("replication socket (fd {fd}): {e}"))
        })
        .transpose()?;
    // NATS: secrets read now; the TLS files stay readable (a reconnect reads them again).
    let nats = match (cfg.nats_urls(), repl) {
        (Some(urls), Some(repl)) => {
            Some((crate::nats::Setup::read(&urls, &cfg.nats, &cfg.join)?, repl))
        }
        (Some(_), None) => return Err("bus is NATS but no replication socket was given".into()),
        _ => None,
    };
    let readable = nats
        .as_ref()
        .map(|(setup, _)| setup.files())
        .unwrap_or_default();
    let readable: Vec<&std::path::Path> = readable.iter().map(|p| p.as_path()).collect();
    // No file system from here on (beyond NATS's TLS files): the bridge has its sockets.
    let landlock =
        crate::sandbox::confine_without_files(&readable).map_err(|e| format!("sandbox: {e}"))?;
    if let Err(e) = crate::sandbox::check_out_of_reach("bridge", data_dir) {
        // Fail closed where Landlock is enforced at all; report otherwise.
        if landlock.enforcement != crate::sandbox::LandlockEnforcement::Off {
            return Err(e);
        }
        eprintln!("kms bridge: WARNING: {e} (no Landlock on this kernel)");
    }
    let reader = signer.try_clone().map_err(|e| e.to_string())?;
    let bridge = Arc::new(Bridge {
        signer: Mutex::new(signer),
        next_tag: AtomicU64::new(1),
        next_conn: AtomicU64::new(1),
        inflight: Mutex::new(HashMap::new()),
        conns: Mutex::new(HashMap::new()),
        nats_out: Mutex::new(None),
    });
    if let Some((setup, repl)) = nats {
        // Serves nothing until the signer caught up with the other instances.
        crate::nats::start(setup, repl, Arc::clone(&bridge))?;
    }
    {
        let bridge = Arc::clone(&bridge);
        std::thread::Builder::new()
            .name("kms-bridge-accept".into())
            .spawn(move || accept_loop(&bridge, &listener))
            .map_err(|e| e.to_string())?;
    }
    eprintln!("kms bridge: ready");
    relay_answers(&bridge, reader);
    // The signer is gone: every relayed request gets a typed answer, then the bridge exits
    // (the supervisor restarts the three processes).
    let inflight: Vec<(u64, Origin)> = lock(&bridge.inflight).drain().collect();
    for (_, origin) in inflight {
        bridge.answer(
            origin,
            Outcome::Err(WireError::new(
                ErrorKind::Unavailable,
                "the signer stopped before answering; it is being restarted, retry",
            )),
        );
    }
    Ok(())
}

impl Bridge {
    /// Relays a decoded request to the signer; its answer goes to `origin`.
    pub(crate) fn relay(&self, origin: Origin, req: &kms_client::proto::Request) {
        let tag = self.next_tag.fetch_add(1, Ordering::Relaxed);
        lock(&self.inflight).insert(tag, origin);
        let sent = encode_frame(&encode_request(tag, req))
            .map_err(|e| e.to_string())
            .and_then(|f| lock(&self.signer).write_all(&f).map_err(|e| e.to_string()));
        if sent.is_err()
            && let Some(origin) = lock(&self.inflight).remove(&tag)
        {
            self.answer(
                origin,
                Outcome::Err(WireError::new(
                    ErrorKind::Unavailable,
                    "the signer is not reachable; retry",
                )),
            );
        }
    }

    /// Sets where answers to NATS requests go.
    pub(crate) fn set_nats_replies(&self, out: crate::nats::Replies) {
        *lock(&self.nats_out) = Some(out);
    }

    pub(crate) fn answer(&self, origin: Origin, outcome: Outcome) {
        let (conn, id) = match origin {
            Origin::Unix { conn, id } => (conn, id),
            Origin::Nats { reply, id } => {
                if let Some(out) = lock(&self.nats_out).as_ref() {
                    out.send(reply, encode_response(id, outcome));
                }
                return;
            }
        };
        let Some(stream) = lock(&self.conns).get(&conn).cloned() else {
            return;
        };
        let frame = match encode_frame(&encode_response(id, outcome)) {
            Ok(f) => f,
            Err(e) => match encode_frame(&encode_response(
                id,
                Outcome::Err(WireError::new(
                    ErrorKind::Internal,
                    format!("answer not sent: {e}"),
                )),
            )) {
                Ok(f) => f,
                Err(_) => return,
            },
        };
        if lock(&stream).write_all(&frame).is_err() {
            // Timed out or gone: close it (its reader thread ends on the shutdown).
            let _ = lock(&stream).shutdown(std::net::Shutdown::Both);
            lock(&self.conns).remove(&conn);
        }
    }
}

fn relay_answers(bridge: &Bridge, signer: UnixStream) {
    let mut reader = BufReader::with_capacity(64 * 1024, signer);
    let mut buf = Vec::new();
    loop {
        match read_frame(&mut reader, &mut buf) {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                eprintln!("kms bridge: signer link: {e}");
                return;
            }
        }
        let env: ResponseEnvelope = match serde_json::from_slice(&buf) {
            Ok(env) => env,
            Err(_) => {
                eprintln!("kms bridge: the signer sent a frame that is not a response; dropped");
                continue;
            }
        };
        let Some(origin) = lock(&bridge.inflight).remove(&env.id) else {
            continue;
        };
        bridge.answer(origin, env.outcome);
    }
}

fn accept_loop(bridge: &Arc<Bridge>, listener: &UnixListener) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let conn_id = bridge.next_conn.fetch_add(1, Ordering::Relaxed);
        let Ok(writer) = stream.try_clone() else {
            continue;
        };
        lock(&bridge.conns).insert(conn_id, Arc::new(Mutex::new(writer)));
        let bridge = Arc::clone(bridge);
        let spawned = std::thread::Builder::new()
            .name(format!("kms-bus-{conn_id}"))
            .spawn(move || {
                serve_connection(&bridge, conn_id, stream);
                lock(&bridge.conns).remove(&conn_id);
            });
        if spawned.is_err() {
            eprintln!("kms bridge: cannot start a connection thread");
        }
    }
}

/// Reads one client's frames until it closes or sends something that breaks framing.
fn serve_connection(bridge: &Bridge, conn: u64, stream: UnixStream) {
    let mut reader = BufReader::with_capacity(16 * 1024, stream);
    let mut buf = Vec::new();
    loop {
        match read_frame(&mut reader, &mut buf) {
            Ok(true) => {}
            Ok(false) => return,
            Err(FrameError::TooLarge { len, max }) => {
                // The rest of the frame cannot be skipped safely: answer, then close.
                bridge.answer(
                    Origin::Unix { conn, id: 0 },
                    Outcome::Err(WireError::new(
                        ErrorKind::FrameTooLarge,
                        format!(
                            "frame of {len} bytes is larger than the maximum of {max}; closing"
                        ),
                    )),
                );
                return;
            }
            Err(FrameError::Empty) => {
                bridge.answer(
                    Origin::Unix { conn, id: 0 },
                    Outcome::Err(WireError::new(ErrorKind::MalformedRequest, "empty frame")),
                );
                continue;
            }
            Err(_) => return,
        }
        let env = match decode_request(&buf) {
            Ok(env) => env,
            Err((id, e)) => {
                bridge.answer(Origin::Unix { conn, id }, Outcome::Err(e));
                continue;
            }
        };
        bridge.relay(Origin::Unix { conn, id: env.id }, &env.req);
        zeroize::Zeroize::zeroize(&mut buf);
        drop(env);
    }
}
