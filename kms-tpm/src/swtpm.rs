//! A software TPM (`swtpm`) on loopback, for tests, benchmarks and trying the crate out.
//!
//! [`Swtpm::start`] runs `swtpm socket --tpm2` on a free 127.0.0.1 port pair with a fresh
//! temporary state directory; dropping the handle stops it (and a watchdog shell stops it too
//! if the owning process dies without running destructors). It is a real TPM 2.0 implementation
//! (libtpms), not a mock, but its state is a file: never use it to protect real secrets.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::Error;

/// Ports handed out in this process and not yet released (tests run in parallel threads).
static PORTS_IN_USE: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// Kills swtpm when its stdin (our pipe) closes, i.e. when the handle drops or this process
/// dies. `$1` is the pid file; the rest is the swtpm command line.
const WATCHDOG: &str = r#"pidfile="$1"; shift
"$@" </dev/null >/dev/null 2>&1 &
pid=$!
echo "$pid"
while read -r _; do :; done
kill -TERM "$pid" 2>/dev/null
wait "$pid" 2>/dev/null
exit 0"#;

/// A running `swtpm` on 127.0.0.1. Stopped (SIGTERM, state saved) on drop.
pub struct Swtpm {
    port: u16,
    state: State,
    watchdog: Option<Watchdog>,
    pid: u32,
}

enum State {
    Temp(tempfile::TempDir),
    Dir(PathBuf),
}

impl State {
    fn path(&self) -> &Path {
        match self {
            Self::Temp(t) => t.path(),
            Self::Dir(p) => p,
        }
    }
}

fn swtpm_error(what: &str) -> Error {
    Error::Io {
        path: PathBuf::from("swtpm"),
        source: std::io::Error::other(what.to_owned()),
    }
}

impl Swtpm {
    /// Starts a fresh swtpm (new TPM, new endorsement seed) with a temporary state directory
    /// that is deleted when the handle drops.
    pub fn start() -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("kms-swtpm-")
            .tempdir()
            .map_err(|e| Error::Io {
                path: std::env::temp_dir(),
                source: e,
            })?;
        Self::launch(State::Temp(dir))
    }

    /// Starts swtpm on the state kept in `dir` (e.g. after [`Swtpm::stop_keep_state`]): the same
    /// TPM after a power cycle, PCRs reset.
    pub fn start_in(dir: &Path) -> Result<Self, Error> {
        Self::launch(State::Dir(dir.to_path_buf()))
    }

    /// Starts a fresh swtpm whose TPM was manufactured by `swtpm_setup` with EK certificates
    /// (`--create-ek-cert --create-platform-cert`) issued by `ca`: an RSA 2048 EK certificate at
    /// NV index `0x01c00002` and an ECC P-384 one at `0x01c00016` (swtpm's choice; this crate
    /// validates the RSA one, see [`crate::EkAlgorithm::Rsa2048`]). Needs `swtpm_setup` and
    /// `swtpm_localca` (Debian `swtpm-tools`). Takes about a second (key generation).
    pub fn start_with_ek_certificates(ca: &LocalCa) -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("kms-swtpm-")
            .tempdir()
            .map_err(|e| Error::Io {
                path: std::env::temp_dir(),
                source: e,
            })?;
        ca.manufacture(dir.path())?;
        Self::launch(State::Temp(dir))
    }

    /// The TCTI string for `tss-esapi`: `swtpm:host=127.0.0.1,port=P`.
    pub fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        self.state.path()
    }

    /// Stops swtpm (its state is saved) and returns the state directory, which the caller now
    /// owns, for [`Swtpm::start_in`]. A temporary directory is kept, not deleted.
    pub fn stop_keep_state(mut self) -> PathBuf {
        self.shutdown();
        let state = std::mem::replace(&mut self.state, State::Dir(PathBuf::new()));
        match state {
            State::Temp(t) => t.keep(),
            State::Dir(p) => p,
        }
    }

    fn launch(state: State) -> Result<Self, Error> {
        let mut last = swtpm_error("could not start");
        for _ in 0..20 {
            let port = reserve_port_pair()?;
            match Self::try_launch(port, state.path()) {
                Ok((watchdog, pid)) => {
                    return Ok(Self {
                        port,
                        state,
                        watchdog: Some(watchdog),
                        pid,
                    });
                }
                Err(e) => {
                    release(port);
                    last = e;
                }
            }
        }
        Err(last)
    }

    fn try_launch(port: u16, dir: &Path) -> Result<(Watchdog, u32), Error> {
        let pidfile = dir.join("swtpm.pid");
        let _ = std::fs::remove_file(&pidfile);
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .arg(&pidfile)
            .arg("swtpm")
            .arg("socket")
            .arg("--tpm2")
            .arg("--tpmstate")
            .arg(format!("dir={}", dir.display()))
            .arg("--server")
            .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
            .arg("--ctrl")
            .arg(format!("type=tcp,port={},bindaddr=127.0.0.1", port + 1))
            .arg("--flags")
            .arg("not-need-init,startup-clear")
            .arg("--pid")
            .arg(format!("file={}", pidfile.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| Error::Io {
                path: PathBuf::from("swtpm (is the `swtpm` package installed?)"),
                source: e,
            })?;
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| swtpm_error("no stdin pipe"))?;
        let mut stdout = child
            .stdout
            .take()
            .ok_or_else(|| swtpm_error("no stdout pipe"))?;
        let mut line = String::new();
        {
            use std::io::BufRead as _;
            let mut r = std::io::BufReader::new(&mut stdout);
            r.read_line(&mut line).map_err(|e| Error::Io {
                path: PathBuf::from("swtpm"),
                source: e,
            })?;
        }
        let pid: u32 = line
            .trim()
            .parse()
            .map_err(|_| swtpm_error("watchdog did not report a pid"))?;
        let mut handle = Watchdog {
            child,
            stdin: Some(stdin),
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if !alive(pid) {
                stop_watchdog(&mut handle);
                return Err(swtpm_error("exited at start (port taken?)"));
            }
            // swtpm writes its pid file once its sockets are bound.
            let ready = std::fs::read_to_string(&pidfile)
                .is_ok_and(|p| p.trim() == pid.to_string())
                && TcpStream::connect_timeout(
                    &SocketAddr::from((Ipv4Addr::LOCALHOST, port + 1)),
                    Duration::from_millis(200),
                )
                .is_ok();
            if ready {
                return Ok((handle, pid));
            }
            if Instant::now() > deadline {
                stop_watchdog(&mut handle);
                return Err(swtpm_error("did not become ready in 10 s"));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn shutdown(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            stop_watchdog(&mut w);
            let deadline = Instant::now() + Duration::from_secs(5);
            while alive(self.pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            release(self.port);
        }
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl core::fmt::Debug for Swtpm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Swtpm")
            .field("tcti", &self.tcti())
            .field("pid", &self.pid)
            .finish_non_exhaustive()
    }
}

/// A local certificate authority for swtpm EK certificates (`swtpm_localca`), in a temporary
/// directory deleted on drop: a root CA (`CN=swtpm-localca-rootca`, RSA 3072) and an issuing
/// CA (`CN=swtpm-localca`) signed by it, created by `swtpm_localca` on first use. Each
/// `LocalCa` is a different CA, although the names are the same. For tests and demos only.
pub struct LocalCa {
    dir: tempfile::TempDir,
}

impl core::fmt::Debug for LocalCa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("LocalCa")
            .field("dir", &self.dir.path())
            .finish()
    }
}

impl LocalCa {
    /// Creates the CA's configuration (`swtpm-localca.conf`, `.options`, `swtpm_setup.conf`)
    /// in a new temporary directory. The keys are made by the first
    /// [`Swtpm::start_with_ek_certificates`].
    pub fn new() -> Result<Self, Error> {
        let dir = tempfile::Builder::new()
            .prefix("kms-localca-")
            .tempdir()
            .map_err(|e| Error::Io {
                path: std::env::temp_dir(),
                source: e,
            })?;
        let p = dir.path();
        let ca = p.join("ca");
        std::fs::create_dir(&ca).map_err(Error::io(&ca))?;
        let write = |name: &str, text: String| {
            let path = p.join(name);
            std::fs::write(&path, text).map_err(Error::io(&path))
        };
        write(
            "swtpm-localca.conf",
            format!(
                "statedir = {c}\nsigningkey = {c}/signkey.pem\nissuercert = {c}/issuercert.pem\ncertserial = {c}/certserial\n",
                c = ca.display()
            ),
        )?;
        write(
            "swtpm-localca.options",
            "--platform-manufacturer kms-tpm-test\n--platform-version 2.1\n--platform-model swtpm\n"
                .to_owned(),
        )?;
        let tool = std::env::var_os("PATH")
            .and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join("swtpm_localca"))
                    .find(|p| p.is_file())
            })
            .unwrap_or_else(|| PathBuf::from("/usr/bin/swtpm_localca"));
        write(
            "swtpm_setup.conf",
            format!(
                "create_certs_tool = {t}\ncreate_certs_tool_config = {d}/swtpm-localca.conf\ncreate_certs_tool_options = {d}/swtpm-localca.options\nactive_pcr_banks = sha256\n",
                t = tool.display(),
                d = p.display()
            ),
        )?;
        Ok(Self { dir })
    }

    /// A local CA that issues EK certificates with the given issuing CA (its private key and
    /// certificate, PEM) instead of creating its own RSA CA: e.g. an ECDSA CA, to test
    /// ECC-signed chains. [`LocalCa::root_pem`] is then not available (the caller has the
    /// root); [`LocalCa::intermediate_pem`] returns `cert_pem`.
    pub fn with_issuing_ca(key_pem: &[u8], cert_pem: &[u8]) -> Result<Self, Error> {
        let ca = Self::new()?;
        let dir = ca.dir.path().join("ca");
        for (name, bytes) in [
            ("signkey.pem", key_pem),
            ("issuercert.pem", cert_pem),
            ("certserial", &b"1\n"[..]),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(Error::io(&path))?;
        }
        Ok(ca)
    }

    /// Manufactures a TPM state in `state_dir`: `swtpm_setup --tpm2 --create-ek-cert
    /// --create-platform-cert` with this CA. Serialized per CA (swtpm_localca locks its state
    /// directory, and the first run creates the CA keys).
    fn manufacture(&self, state_dir: &Path) -> Result<(), Error> {
        static SETUP: Mutex<()> = Mutex::new(());
        let _one_at_a_time = SETUP
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let out = Command::new("swtpm_setup")
            .arg("--tpm2")
            .arg("--tpmstate")
            .arg(state_dir)
            .arg("--create-ek-cert")
            .arg("--create-platform-cert")
            .arg("--config")
            .arg(self.dir.path().join("swtpm_setup.conf"))
            .arg("--overwrite")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| Error::Io {
                path: PathBuf::from("swtpm_setup (is the `swtpm-tools` package installed?)"),
                source: e,
            })?;
        if !out.status.success() {
            return Err(swtpm_error(&format!(
                "swtpm_setup failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// The root CA certificate (PEM): the trust anchor to configure.
    pub fn root_pem(&self) -> Result<Vec<u8>, Error> {
        let path = self.dir.path().join("ca/swtpm-localca-rootca-cert.pem");
        std::fs::read(&path).map_err(Error::io(&path))
    }

    /// The issuing CA certificate (PEM): the intermediate between the root and EK certificates.
    pub fn intermediate_pem(&self) -> Result<Vec<u8>, Error> {
        let path = self.dir.path().join("ca/issuercert.pem");
        std::fs::read(&path).map_err(Error::io(&path))
    }

    /// A trust store with this CA's root and intermediate (after the first TPM was made).
    pub fn trust_store(&self) -> Result<crate::EkTrustStore, Error> {
        let mut store = crate::EkTrustStore::new();
        store.add_roots_pem(&self.root_pem()?)?;
        store.add_intermediates_pem(&self.intermediate_pem()?)?;
        Ok(store)
    }
}

/// Closes the watchdog's stdin (it then SIGTERMs swtpm and waits for it) and reaps the shell.
fn stop_watchdog(w: &mut Watchdog) {
    drop(w.stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match w.child.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) if Instant::now() > deadline => {
                let _ = w.child.kill();
                let _ = w.child.wait();
                return;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// The shell that owns swtpm; its stdin is our end of the lifeline.
struct Watchdog {
    child: Child,
    stdin: Option<ChildStdin>,
}

/// Whether `pid` is a live (not zombie) process.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            // The state follows the parenthesised command name.
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|s| s != "Z" && s != "X")
        }
        Err(_) => false,
    }
}

/// Finds P such that 127.0.0.1:P and :P+1 are free and not handed out in this process.
fn reserve_port_pair() -> Result<u16, Error> {
    for _ in 0..100 {
        let a = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| Error::Io {
            path: PathBuf::from("127.0.0.1"),
            source: e,
        })?;
        let port = a
            .local_addr()
            .map_err(|e| Error::Io {
                path: PathBuf::from("127.0.0.1"),
                source: e,
            })?
            .port();
        if port == u16::MAX {
            continue;
        }
        let Ok(b) = TcpListener::bind((Ipv4Addr::LOCALHOST, port + 1)) else {
            continue;
        };
        let mut guard = PORTS_IN_USE
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let set = guard.get_or_insert_with(HashSet::new);
        if set.contains(&port) || set.contains(&(port + 1)) || set.contains(&(port - 1)) {
            continue;
        }
        set.insert(port);
        drop((a, b));
        return Ok(port);
    }
    Err(swtpm_error("no free loopback port pair"))
}

fn release(port: u16) {
    let mut guard = PORTS_IN_USE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(set) = guard.as_mut() {
        set.remove(&port);
    }
}
