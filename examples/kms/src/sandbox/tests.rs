//! Lock-down is irreversible, so every test that locks down re-executes this test binary
//! (`--exact <test> --nocapture`) with `SANDBOX_TEST_CHILD` naming the test. The child locks
//! itself down, prints one line `SANDBOX-CHILD-JSON <json>` and exits; the parent asserts on it.
//! They need Landlock (ABI 6 or later) and seccomp, as the signer does.

use super::*;
use serde_json::{Value, json};
use std::io::Read as _;
use std::os::unix::net::UnixStream;
use tempfile::TempDir;

const CHILD_ENV: &str = "SANDBOX_TEST_CHILD";
const DATA_DIR_ENV: &str = "SANDBOX_TEST_DATA_DIR";
const OUTSIDE_ENV: &str = "SANDBOX_TEST_OUTSIDE";
const JSON_PREFIX: &str = "SANDBOX-CHILD-JSON ";

/// libtest's name of the enclosing test function (its path without the crate name).
macro_rules! test_name {
    () => {{
        fn f() {}
        let path = std::any::type_name_of_val(&f).trim_end_matches("::f");
        path.split_once("::")
            .map_or(path, |(_, rest)| rest)
            .to_owned()
    }};
}

impl Outcome {
    fn errno(&self) -> Option<i32> {
        match self {
            Self::Failed { errno, .. } => *errno,
            _ => None,
        }
    }
}

/// A data directory and, outside it, a file the child must not read.
struct Dirs {
    data: TempDir,
    _outside: TempDir,
    secret: PathBuf,
}

impl Dirs {
    fn new() -> Self {
        let data = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret");
        fs::write(&secret, b"not for the signer").unwrap();
        Self {
            data,
            _outside: outside,
            secret,
        }
    }
}

/// Whether this process is the child of `test`.
fn is_child(test: &str) -> bool {
    std::env::var(CHILD_ENV).is_ok_and(|name| name == test)
}

/// In the child: the data directory and the outside file the parent made.
fn child_paths() -> (PathBuf, PathBuf) {
    let var = |name| PathBuf::from(std::env::var_os(name).unwrap());
    (var(DATA_DIR_ENV), var(OUTSIDE_ENV))
}

/// In the child: the signer's configuration for `data`, plus what the test harness needs.
fn child_config(data: &Path) -> SandboxConfig {
    let mut cfg = SandboxConfig::new(data.to_path_buf());
    cfg.extra_read_paths = vec![PathBuf::from("/proc/self")];
    // libtest runs the test on a thread of its own while its main thread waits for it.
    cfg.allow_unconfined_threads = true;
    cfg
}

fn emit(value: &Value) {
    // libtest may have written "test ... " on the same line: start a new one.
    println!("\n{JSON_PREFIX}{value}");
}

/// In the parent: runs `test` in a child and returns what it printed.
fn run_child(test: &str, dirs: &Dirs) -> Value {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test)
        .env(DATA_DIR_ENV, dirs.data.path())
        .env(OUTSIDE_ENV, &dirs.secret)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "child {}:\n{stdout}\n{stderr}",
        out.status
    );
    let line = stdout.lines().find_map(|l| l.strip_prefix(JSON_PREFIX));
    serde_json::from_str(line.unwrap_or_else(|| panic!("no JSON from child:\n{stdout}"))).unwrap()
}

fn field<T: serde::de::DeserializeOwned>(value: &Value, name: &str) -> T {
    serde_json::from_value(value[name].clone()).unwrap()
}

/// What every locked-down thread must see.
fn assert_locked_down(p: &ProbeReport) {
    assert_eq!(p.status_error, None, "{p}");
    assert_eq!(p.inet_socket.errno(), Some(libc::EPERM), "{p}");
    assert_eq!(p.unix_socket.errno(), Some(libc::EPERM), "{p}");
    assert!(
        matches!(p.inet_connect, Outcome::NotAttempted { .. }),
        "{p}"
    );
    assert_eq!(p.read_outside.errno(), Some(libc::EACCES), "Landlock: {p}");
    assert_eq!(p.write_in_data_dir, Outcome::Succeeded, "{p}");
    assert_eq!(
        p.exec.errno(),
        Some(libc::EPERM),
        "seccomp, before Landlock's EACCES: {p}"
    );
    assert_eq!(p.seccomp_mode, Some(2), "{p}");
    let filters = if cfg!(target_arch = "x86_64") { 2 } else { 1 };
    assert_eq!(p.seccomp_filters, Some(filters), "{p}");
    assert_eq!(p.threads_without_seccomp, Some(0), "TSYNC: {p}");
    assert_eq!(p.no_new_privs, Some(1), "{p}");
    assert_eq!(p.dumpable, Some(false), "{p}");
    assert_eq!(
        p.core_limit,
        CoreLimit {
            soft: Some(0),
            hard: Some(0)
        },
        "{p}"
    );
}

fn assert_report(r: &SandboxReport, p: &ProbeReport) {
    assert!(
        r.dumpable_off && r.core_limit_zero && r.no_new_privs && r.seccomp.installed,
        "{r}"
    );
    assert_eq!(r.landlock.enforcement, LandlockEnforcement::Full, "{r}");
    assert!(r.landlock.abi >= r.landlock.policy_abi, "{r}");
    // The report and the kernel agree on the memory lock, whatever the kernel decided.
    let locked = p.vm_locked_kib.is_some_and(|kib| kib > 0);
    assert_eq!(r.memory == MemoryLock::Locked, locked, "{r}\n{p}");
}

/// Sends one message each way over a connected pair.
fn ping_pong(a: &mut UnixStream, b: &mut UnixStream) -> String {
    let mut run = || -> io::Result<()> {
        let mut buf = [0u8; 4];
        a.write_all(b"ping")?;
        b.read_exact(&mut buf)?;
        assert_eq!(&buf, b"ping");
        b.write_all(b"pong")?;
        a.read_exact(&mut buf)?;
        assert_eq!(&buf, b"pong");
        Ok(())
    };
    run().map_or_else(|e| e.to_string(), |()| "ok".to_owned())
}

#[test]
fn lock_down_denies_what_the_policy_forbids() {
    let name = test_name!();
    if is_child(&name) {
        let (data, outside) = child_paths();
        let report = lock_down(&child_config(&data)).unwrap();
        let probe = probe(&data, &outside);
        let hostname = Outcome::of(File::open("/etc/hostname"));
        emit(&json!({ "report": report, "probe": probe, "etc_hostname": hostname }));
        return;
    }
    let child = run_child(&name, &Dirs::new());
    let (report, probe): (SandboxReport, ProbeReport) =
        (field(&child, "report"), field(&child, "probe"));
    eprintln!("{report}\n{probe}");
    assert_locked_down(&probe);
    assert_report(&report, &probe);
    let hostname: Outcome = field(&child, "etc_hostname");
    assert_eq!(hostname.errno(), Some(libc::EACCES), "{hostname}");
}

#[test]
fn inherited_unix_socket_and_later_threads_after_lock_down() {
    let name = test_name!();
    if is_child(&name) {
        let (data, outside) = child_paths();
        let (mut a, mut b) = UnixStream::pair().unwrap();
        let report = lock_down(&child_config(&data)).unwrap();
        let same_thread = ping_pong(&mut a, &mut b);
        let (thread_probe, thread_io) =
            std::thread::spawn(move || (probe(&data, &outside), ping_pong(&mut a, &mut b)))
                .join()
                .unwrap();
        emit(&json!({
            "report": report,
            "same_thread_io": same_thread,
            "thread_probe": thread_probe,
            "thread_io": thread_io,
        }));
        return;
    }
    let child = run_child(&name, &Dirs::new());
    let report: SandboxReport = field(&child, "report");
    let probe: ProbeReport = field(&child, "thread_probe");
    eprintln!("{report}\n{probe}");
    assert_eq!(field::<String>(&child, "same_thread_io"), "ok");
    assert_eq!(field::<String>(&child, "thread_io"), "ok");
    // The new thread inherited both Landlock and seccomp.
    assert_locked_down(&probe);
    assert_report(&report, &probe);
    assert!(probe.threads.is_some_and(|n| n > report.threads), "{probe}");
}

#[test]
fn refusals_leave_the_process_unchanged() {
    let name = test_name!();
    if is_child(&name) {
        let (data, _) = child_paths();
        let untouched = || {
            let dumpable = rustix::process::dumpable_behavior().unwrap();
            let nnp = rustix::thread::no_new_privs().unwrap();
            dumpable != DumpableBehavior::NotDumpable && !nnp
        };
        let mut missing = child_config(&data);
        missing.data_dir = data.join("missing");
        let missing_error = lock_down(&missing).unwrap_err();
        let after_missing = untouched();

        // libtest's main thread exists: without the test-only allowance, lock_down must refuse
        // unless the kernel can put every thread under Landlock (ABI 8).
        let mut strict = child_config(&data);
        strict.allow_unconfined_threads = false;
        let threads = match lock_down(&strict) {
            Err(e @ SandboxError::ThreadsRunning { .. }) => {
                json!({ "refused": e.to_string(), "untouched": untouched() })
            }
            Err(e) => json!({ "other_error": e.to_string() }),
            Ok(report) => json!({ "report": report }),
        };
        emit(&json!({
            "missing_is_path_error": matches!(missing_error, SandboxError::LandlockPath(_)),
            "missing_error": missing_error.to_string(),
            "after_missing_untouched": after_missing,
            "threads": threads,
        }));
        return;
    }
    let child = run_child(&name, &Dirs::new());
    eprintln!("{child:#}");
    assert!(field::<bool>(&child, "missing_is_path_error"), "{child}");
    assert!(field::<bool>(&child, "after_missing_untouched"), "{child}");
    let threads = &child["threads"];
    if threads.get("refused").is_some() {
        assert!(field::<bool>(threads, "untouched"), "{child}");
    } else {
        let report: SandboxReport = field(threads, "report");
        assert!(report.landlock.all_threads, "{report}");
    }
}

/// The control: in this unconfined test process the probe sees the operations succeed, so the
/// refusals above come from the lock-down and not from the probe or the machine.
#[test]
fn probe_sees_an_unconfined_process() {
    let dirs = Dirs::new();
    let p = probe(dirs.data.path(), &dirs.secret);
    eprintln!("{p}");
    assert_eq!(p.inet_socket, Outcome::Succeeded, "{p}");
    assert_eq!(p.unix_socket, Outcome::Succeeded, "{p}");
    assert!(
        !matches!(p.inet_connect, Outcome::NotAttempted { .. }),
        "{p}"
    );
    assert_eq!(p.read_outside, Outcome::Succeeded, "{p}");
    assert_eq!(p.write_in_data_dir, Outcome::Succeeded, "{p}");
    assert_eq!(p.exec, Outcome::Succeeded, "{p}");
    assert_eq!(p.status_error, None, "{p}");
    assert!(p.seccomp_mode.is_some() && p.threads.is_some(), "{p}");
}

#[test]
fn filters_compile_and_the_deny_list_has_no_duplicates() {
    let filters = build_filters(false).unwrap();
    assert!(filters.iter().all(|f| !f.is_empty() && f.len() < 4096));
    let unique: std::collections::BTreeSet<_> = DENIED_SYSCALLS.iter().collect();
    assert_eq!(unique.len(), DENIED_SYSCALLS.len());
    // prctl carries an argument rule; listing it would replace that rule with a blanket deny.
    assert!(!unique.contains(&libc::SYS_prctl));
}

#[test]
fn status_fields_parse() {
    let status = "Name:\tx\nNoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t2\nVmLck:\t  1234 kB\n";
    assert_eq!(status_field::<u32>(status, "Seccomp"), Some(2));
    assert_eq!(status_field::<u32>(status, "Seccomp_filters"), Some(2));
    assert_eq!(status_field::<u64>(status, "VmLck"), Some(1234));
    assert_eq!(status_field::<u32>(status, "Missing"), None);
}
