//! The supervisor (`kms up`, `kms dev`): binds the bus socket, creates the socketpairs, starts
//! the signer, the HTTPS pool and the bridge as separate processes (this binary re-executed with
//! an internal subcommand), restarts them with backoff when one dies, and stops them on SIGTERM
//! or SIGINT.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Child, Command};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::config::{Config, KeySource};

/// Printed on every start in dev mode.
pub(crate) const DEV_WARNING: &str = "\
*****************************************************************************************
*  WARNING: kms dev is INSECURE. The master key is sealed by a key FILE in the state    *
*  directory, not by a TPM: anyone who can read that directory can use every key.       *
*  For development, tests and the demo only. NEVER use it with real funds.              *
*****************************************************************************************";

struct Trio {
    signer: Child,
    pool: Child,
    bridge: Child,
}

/// Runs the supervisor. Returns the exit code.
pub(crate) fn run(cfg: &Config) -> i32 {
    match supervise(cfg) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("kms: {e}");
            1
        }
    }
}

fn supervise(cfg: &Config) -> Result<(), String> {
    if cfg.key_source == KeySource::Dev {
        eprintln!("{DEV_WARNING}");
    }
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .map_err(|e| format!("signal handler: {e}"))?;
    }
    let listener = bind_bus(cfg)?;
    let config_json = serde_json::to_string(cfg).map_err(|e| e.to_string())?;
    let base = Duration::from_millis(cfg.supervisor.restart_backoff_ms.max(1));
    let mut backoff = base;
    loop {
        let started = Instant::now();
        let mut trio = start_trio(&config_json, &listener, cfg.nats_urls().is_some())?;
        eprintln!(
            "kms: started signer (pid {}), pool (pid {}), bridge (pid {}); bus at {}",
            trio.signer.id(),
            trio.pool.id(),
            trio.bridge.id(),
            cfg.socket.display()
        );
        let died = loop {
            if stop.load(Ordering::Relaxed) {
                break None;
            }
            if let Some(which) = exited(&mut trio) {
                break Some(which);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Bridge first (no new requests), then the signer, then the pool.
        stop_child(&mut trio.bridge);
        stop_child(&mut trio.signer);
        stop_child(&mut trio.pool);
        let Some(which) = died else {
            let _ = std::fs::remove_file(&cfg.socket);
            eprintln!("kms: stopped");
            return Ok(());
        };
        if started.elapsed() > Duration::from_secs(60) {
            backoff = base;
        }
        eprintln!(
            "kms: {which}; restarting the processes in {} ms",
            backoff.as_millis()
        );
        let until = Instant::now() + backoff;
        while Instant::now() < until {
            if stop.load(Ordering::Relaxed) {
                let _ = std::fs::remove_file(&cfg.socket);
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// Binds the bus socket once; the bridges of every restart inherit it, so connections queue in
/// its backlog while the processes restart.
fn bind_bus(cfg: &Config) -> Result<UnixListener, String> {
    let path = &cfg.socket;
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(format!("{} is in use by a running kms", path.display()));
        }
        std::fs::remove_file(path).map_err(|e| format!("stale {}: {e}", path.display()))?;
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let listener = UnixListener::bind(path).map_err(|e| format!("bind {}: {e}", path.display()))?;
    let mode = cfg.socket_mode_bits().map_err(|e| e.to_string())?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {}: {e}", path.display()))?;
    Ok(listener)
}

fn start_trio(config_json: &str, listener: &UnixListener, nats: bool) -> Result<Trio, String> {
    let (bridge_end, signer_bus) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
    let (signer_pool, pool_end) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
    // With NATS, a third pair carries the signer's sealed records to the bridge (replication).
    let (signer_repl, bridge_repl) = if nats {
        let (a, b) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
        (Some(a), Some(b))
    } else {
        (None, None)
    };
    let mut signer_fds: Vec<(&str, OwnedFd)> = vec![
        ("--bus-fd", signer_bus.into()),
        ("--pool-fd", signer_pool.into()),
    ];
    if let Some(r) = signer_repl {
        signer_fds.push(("--repl-fd", r.into()));
    }
    let signer = spawn("__signer", config_json, &signer_fds)?;
    let pool = spawn("__pool", config_json, &[("--signer-fd", pool_end.into())])?;
    let listen = listener
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| format!("bus listener: {e}"))?;
    let mut bridge_fds: Vec<(&str, OwnedFd)> =
        vec![("--listen-fd", listen), ("--signer-fd", bridge_end.into())];
    if let Some(r) = bridge_repl {
        bridge_fds.push(("--repl-fd", r.into()));
    }
    let bridge = spawn("__bridge", config_json, &bridge_fds)?;
    Ok(Trio {
        signer,
        pool,
        bridge,
    })
}

/// Starts this binary with `role`, handing it `fds` (inherited at their numbers, closed here
/// afterwards). Spawns happen one at a time on this thread, so no other child inherits them.
fn spawn(role: &str, config_json: &str, fds: &[(&str, OwnedFd)]) -> Result<Child, String> {
    let exe = std::env::current_exe().map_err(|e| format!("own executable: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.arg(role).arg("--config-json").arg(config_json);
    // The signer locks all its memory: one malloc arena per thread (glibc's default, 64 MiB of
    // address space each) would lock far more than it uses.
    cmd.env("MALLOC_ARENA_MAX", "2");
    for (flag, fd) in fds {
        rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty())
            .map_err(|e| format!("passing a socket to {role}: {e}"))?;
        cmd.arg(flag).arg(fd.as_raw_fd().to_string());
    }
    let child = cmd.spawn().map_err(|e| format!("starting {role}: {e}"))?;
    // `fds` drop with the caller's tuple: the parent's copies close once the child has them.
    Ok(child)
}

fn exited(trio: &mut Trio) -> Option<String> {
    for (name, child) in [
        ("signer", &mut trio.signer),
        ("pool", &mut trio.pool),
        ("bridge", &mut trio.bridge),
    ] {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(format!("the {name} exited ({status})"));
        }
    }
    None
}

/// SIGTERM, up to 5 s to exit, then SIGKILL.
fn stop_child(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let pid = rustix::process::Pid::from_child(child);
    let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
}
