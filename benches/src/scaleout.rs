//! Two reference-signer instances on NATS JetStream: a real `nats-server -js` on 127.0.0.1
//! (Debian's) and two `kms dev --nats` instances sharing one master key (the second gets a copy
//! of the first one's dev-sealed `master.blob`). Every signature is a revision-checked write of
//! the user's state to JetStream KV before it is returned (no leases when replicated).
//!
//! Entries: one covered request on the second instance (its intent created on the first, so the
//! state came through JetStream), median and p99 against the scale-out budgets below; and
//! [`CLIENTS`] concurrent users, half on each instance, each its own connection, user and intent,
//! signing for a fixed window: signatures per second, none failed or repeated.
//!
//! The budgets are this project's (issue "Scale-out"), not DESIGN.md's: a replicated signature
//! costs a NATS round trip and an audit `fdatasync` on top of the single-instance path.

use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::budget::{Entry, Operation, Stat};
use crate::signer::{Kms, Load, SolParams, kms_binary};

/// Name of the latency entries.
pub const LATENCY: &str =
    "scale-out: covered sign request on instance B, replicated through JetStream KV";
/// Name of the throughput entry.
pub const THROUGHPUT: &str =
    "scale-out: covered signatures per second, 32 users across 2 instances";
/// Concurrent users of the throughput entry.
const CLIENTS: u64 = 32;
/// Median budget of one replicated covered signature.
const MEDIAN: Duration = Duration::from_millis(3);
/// p99 budget of one replicated covered signature.
const P99: Duration = Duration::from_millis(10);
/// Signatures per second the two instances must sustain together.
const MIN_RATE: u64 = 1_000;
/// How long the throughput entry counts.
const WINDOW: Duration = Duration::from_secs(5);

/// The entries; when something is missing (the binary, `nats-server`), one failing entry that
/// says what.
pub fn budgets() -> Vec<Entry> {
    match entries() {
        Ok(e) => e,
        Err(why) => vec![Entry::budget(
            LATENCY,
            MEDIAN,
            Stat::Median,
            Box::new(move || Err(why.clone())),
        )],
    }
}

/// A `nats-server -js` on a free loopback port; SIGTERM on drop.
struct Nats {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Nats {
    fn start() -> Result<Self, String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("a free port: {e}"))?
            .port();
        let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!("nats-server: {e} (apt-get install nats-server, or bash scripts/deps.sh)")
            })?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                return Err("nats-server did not listen within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(Self {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            _dir: dir,
        })
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let _ = self.child.wait();
    }
}

/// Two instances on one NATS server, kept alive together (instances first, then NATS).
struct Cluster {
    a: Rc<Kms>,
    b: Rc<Kms>,
    _nats: Nats,
}

fn cluster() -> Result<Cluster, String> {
    let bin = kms_binary()?;
    let nats = Nats::start()?;
    let dir_a = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let a = Kms::start_in(&bin, dir_a, &["--nats", &nats.url, "--instance", "a"])?;
    let dir_b = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let signer_b = dir_b.path().join("signer");
    std::fs::create_dir_all(&signer_b).map_err(|e| format!("{}: {e}", signer_b.display()))?;
    std::fs::set_permissions(
        &signer_b,
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .map_err(|e| e.to_string())?;
    for f in ["master.blob", "dev-sealer.key"] {
        std::fs::copy(a.state_dir().join("signer").join(f), signer_b.join(f))
            .map_err(|e| format!("copying {f} to instance B: {e}"))?;
    }
    let b = Kms::start_in(&bin, dir_b, &["--nats", &nats.url, "--instance", "b"])?;
    Ok(Cluster {
        a: Rc::new(a),
        b: Rc::new(b),
        _nats: nats,
    })
}

fn entries() -> Result<Vec<Entry>, String> {
    let c = cluster()?;
    let params = SolParams::new()?;
    // The user and intent are made on A; B signs (everything it needs came through JetStream).
    let latency = |user: u64| -> Result<Operation, String> {
        let made = c.a.covered(&params, user)?;
        let mut on_b = c.b.covered_existing(&made)?;
        let keep = (Rc::clone(&c.a), Rc::clone(&c.b));
        Ok(Box::new(move || {
            let _running = &keep;
            on_b.sign().map(drop)
        }))
    };
    let median = latency(1)?;
    let p99 = latency(2)?;
    let mut load = Load::new(Rc::clone(&c.a));
    for i in 0..CLIENTS {
        let on = if i % 2 == 0 { &c.a } else { &c.b };
        load.idle.push(on.covered(&params, 1_000 + i)?);
    }
    let keep_b = Rc::clone(&c.b);
    let nats = c._nats;
    Ok(vec![
        Entry::budget(LATENCY, MEDIAN, Stat::Median, median),
        Entry::budget(LATENCY, P99, Stat::P99, p99),
        Entry::rate(
            THROUGHPUT,
            MIN_RATE,
            WINDOW,
            Box::new(move || {
                let _running = (&keep_b, &nats);
                load.next()
            }),
        ),
    ])
}
