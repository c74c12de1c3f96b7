//! Scale-out rig: a real `nats-server -js` on 127.0.0.1 (Debian's), `kms dev` instances on it
//! that share one master key, a client of the NATS bus, and a spy that records every message on
//! the server.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use kms_client::proto::{Outcome, ResponseEnvelope, WireError, encode_request};
use kms_client::{Request, Response};

use super::Kms;

/// A `nats-server -js` on a free loopback port, with its JetStream store in a temporary
/// directory; stopped (SIGTERM) on drop.
pub struct NatsServer {
    pub port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
    /// Extra `nats-server` configuration (TLS, authorization), if any.
    config: Option<PathBuf>,
}

impl NatsServer {
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// Started with `conf` (nats-server configuration text: `tls { … }`, `authorization { … }`)
    /// besides the port, loopback address and JetStream store given on the command line.
    pub fn start_with(conf: Option<&str>) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let dir = tempfile::tempdir().unwrap();
        let config = conf.map(|text| {
            let p = dir.path().join("nats.conf");
            std::fs::write(&p, text).unwrap();
            p
        });
        let mut s = Self {
            port,
            dir,
            child: None,
            config,
        };
        s.spawn();
        s
    }

    /// The server's directory (for certificate files the configuration names).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    pub fn log(&self) -> PathBuf {
        self.dir.path().join("nats.log")
    }

    fn spawn(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log())
            .unwrap();
        let mut cmd = Command::new("nats-server");
        if let Some(c) = &self.config {
            cmd.arg("-c").arg(c);
        }
        let child = cmd
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.dir.path().join("js"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("nats-server: {e} (bash scripts/test.sh installs Debian's nats-server)")
            });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM and wait (JetStream writes its state out on a clean stop).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            super::terminate(&mut child, Duration::from_secs(20));
        }
    }

    /// Starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Starts instance A on `nats` (genesis of the master key), then copies its sealed master key
/// to `count - 1` more state directories and starts them: instances sharing one master key.
/// (With a TPM the key reaches another instance by the attested hand-over instead.)
pub fn cluster(root: &Path, nats: &NatsServer, count: usize) -> Vec<Kms> {
    let mut out = Vec::new();
    for i in 0..count {
        let dir = root.join(format!("instance-{i}"));
        if i > 0 {
            let from = root.join("instance-0").join("signer");
            let to = dir.join("signer");
            std::fs::create_dir_all(&to).unwrap();
            std::fs::set_permissions(&to, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .unwrap();
            for f in ["master.blob", "dev-sealer.key"] {
                std::fs::copy(from.join(f), to.join(f)).unwrap();
            }
        }
        let name = format!("i{i}");
        out.push(Kms::start_in_with(
            &dir,
            &["--nats", &nats.url(), "--instance", &name],
        ));
    }
    out
}

/// Why a NATS bus call failed.
#[derive(Debug)]
pub enum BusError {
    /// The signer's typed error.
    Remote(WireError),
    /// NATS did not deliver the request or its answer.
    Transport(String),
}

/// A business-logic client on the NATS bus (`kms.v1.request`).
pub struct NatsBus {
    rt: tokio::runtime::Runtime,
    client: async_nats::Client,
    next: u64,
}

impl NatsBus {
    pub fn connect(url: &str) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let client = rt
            .block_on(
                async_nats::ConnectOptions::new()
                    .retry_on_initial_connect()
                    .connect(url.to_string()),
            )
            .unwrap();
        Self {
            rt,
            client,
            next: 1,
        }
    }

    pub fn call(&mut self, req: &Request) -> Result<Response, BusError> {
        self.next += 1;
        let id = self.next;
        let body = encode_request(id, req);
        let answer = self.rt.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(30),
                self.client.request("kms.v1.request", body.into()),
            )
            .await
        });
        let msg = match answer {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => return Err(BusError::Transport(e.to_string())),
            Err(_) => return Err(BusError::Transport("timed out".into())),
        };
        let env: ResponseEnvelope = serde_json::from_slice(&msg.payload)
            .map_err(|e| BusError::Transport(format!("not a response: {e}")))?;
        assert_eq!(env.id, id, "the answer is for another request");
        match env.outcome {
            Outcome::Ok(r) => Ok(r),
            Outcome::Err(e) => Err(BusError::Remote(e)),
        }
    }

    /// Sends raw bytes as a request and returns the raw answer.
    pub fn call_raw(&mut self, body: Vec<u8>) -> Vec<u8> {
        let msg = self
            .rt
            .block_on(async {
                tokio::time::timeout(
                    Duration::from_secs(30),
                    self.client.request("kms.v1.request", body.into()),
                )
                .await
            })
            .unwrap()
            .unwrap();
        msg.payload.to_vec()
    }

    /// Every value stored in the bucket `bucket` now (key, value).
    pub fn bucket_contents(&mut self, bucket: &str) -> Vec<(String, Vec<u8>)> {
        self.rt.block_on(async {
            let js = async_nats::jetstream::new(self.client.clone());
            let kv = js.get_key_value(bucket).await.unwrap();
            let mut keys = kv.keys().await.unwrap();
            let mut out = Vec::new();
            while let Some(k) = keys.next().await {
                let k = k.unwrap();
                if let Some(v) = kv.get(k.clone()).await.unwrap() {
                    out.push((k, v.to_vec()));
                }
            }
            out
        })
    }
}

/// Records every message published on the NATS server (`>`: the bus, its replies, the JetStream
/// API and the KV subjects).
pub struct Spy {
    _rt: tokio::runtime::Runtime,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

/// A message the spy saw: subject and payload.
pub type Seen = (String, Vec<u8>);

impl Spy {
    pub fn start(url: &str) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let client = rt.block_on(async_nats::connect(url.to_string())).unwrap();
        let mut sub = rt.block_on(client.subscribe(">")).unwrap();
        let sink = Arc::clone(&seen);
        rt.spawn(async move {
            let _client = client;
            while let Some(m) = sub.next().await {
                sink.lock()
                    .unwrap()
                    .push((m.subject.to_string(), m.payload.to_vec()));
            }
        });
        Self { _rt: rt, seen }
    }
}
