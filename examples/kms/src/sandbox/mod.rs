//! Irreversible lock-down of the signer process after start-up.
//!
//! [`lock_down`] applies, in this order: not dumpable and `RLIMIT_CORE` 0; `mlockall`; no new
//! privileges; a Landlock ruleset (read+write beneath the data directory, read-only beneath a few
//! more paths, nothing else); two seccomp filters that make a deny-list of system calls fail with
//! `EPERM`. Everything the policy allows and forbids, and why, is in `SANDBOX.md`.
//!
//! Call [`lock_down`] once, from the main thread, after every file, socket and device the signer
//! will use is open and before any other thread is started. Landlock confines only the calling
//! thread (and the threads it starts later) on kernels before Landlock ABI 8, so [`lock_down`]
//! refuses when other threads exist and the kernel cannot confine them. The process-wide steps
//! (dumpable, core limit, memory locking) and seccomp (installed with `SECCOMP_FILTER_FLAG_TSYNC`)
//! cover every thread in any case.
//!
//! Nothing can be undone: a test that locks down must do it in a child process.
//!
//! [`probe`] tries the forbidden operations from inside the locked-down process and reports what
//! the kernel answered, so that an operator (or a test) can see the lock-down hold.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, LandlockStatus, NetPort,
    PathBeneath, PathFd, PathFdError, RestrictSelfAttr, Ruleset, RulesetAttr, RulesetCreated,
    RulesetCreatedAttr, RulesetError, RulesetStatus, Scope,
};
use rustix::fs::FileType;
use rustix::mm::MlockAllFlags;
use rustix::net::{AddressFamily, SocketType};
use rustix::process::{DumpableBehavior, Resource, Rlimit};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};
use serde::{Deserialize, Serialize};

#[cfg(test)]
mod tests;

/// The Landlock ABI whose access rights this policy handles (Linux 6.12: file system including
/// truncate and device ioctl, TCP bind/connect, abstract-socket and signal scoping). The rights are
/// pinned, as the landlock crate advises, so that a newer kernel or crate cannot change the policy
/// unreviewed; on an older kernel the crate downgrades to what the kernel has and the ruleset is
/// reported [`LandlockEnforcement::Partial`].
const POLICY_ABI: ABI = ABI::V6;

/// `open_tree_attr(2)` (Linux 6.15), not yet in `libc`; system calls added since Linux 5.1 have
/// one number on every architecture.
const SYS_OPEN_TREE_ATTR: i64 = 467;

/// System calls that fail with `EPERM` whatever their arguments (see `SANDBOX.md` for why each).
const DENIED_SYSCALLS: &[i64] = &[
    // New network endpoints; inherited sockets keep read/write/send*/recv*.
    libc::SYS_socket,
    libc::SYS_socketpair,
    libc::SYS_connect,
    libc::SYS_bind,
    libc::SYS_listen,
    libc::SYS_accept,
    libc::SYS_accept4,
    // Other processes' memory and file descriptors.
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
    libc::SYS_pidfd_getfd,
    // Running another program.
    libc::SYS_execve,
    libc::SYS_execveat,
    // Loading code into, or widening the attack surface of, the kernel.
    libc::SYS_kexec_load,
    libc::SYS_kexec_file_load,
    libc::SYS_init_module,
    libc::SYS_finit_module,
    libc::SYS_delete_module,
    libc::SYS_bpf,
    libc::SYS_perf_event_open,
    libc::SYS_userfaultfd,
    libc::SYS_personality,
    // io_uring performs socket, connect, open... without passing through this filter.
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    // Mounts, namespaces, root changes and handle-based opens, which step around path rules.
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    SYS_OPEN_TREE_ATTR,
    libc::SYS_mount_setattr,
    libc::SYS_unshare,
    libc::SYS_setns,
    libc::SYS_open_by_handle_at,
    // Kernel keyrings, shared with other processes of the same user.
    libc::SYS_keyctl,
    libc::SYS_add_key,
    libc::SYS_request_key,
    // Undoing the memory lock.
    libc::SYS_mlockall,
    libc::SYS_munlockall,
    // Administration a root signer must never do (the clock decides TOTP windows).
    libc::SYS_settimeofday,
    libc::SYS_clock_settime,
    libc::SYS_reboot,
    libc::SYS_swapon,
    libc::SYS_swapoff,
    libc::SYS_sethostname,
    libc::SYS_setdomainname,
    libc::SYS_syslog,
    libc::SYS_acct,
    libc::SYS_quotactl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_iopl,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_ioperm,
];

/// What [`lock_down`] confines the process to.
#[derive(Clone, Debug)]
pub(crate) struct SandboxConfig {
    /// Directory the signer may read and write beneath (files and directories only: no devices,
    /// fifos, sockets, symbolic links, no execution). Must exist and be a directory.
    pub(crate) data_dir: PathBuf,
    /// Files or directories the signer may read (and list) beneath, nothing more. Each must exist.
    /// Add `/proc/self` for [`probe`], which reads `/proc/self/status`.
    pub(crate) extra_read_paths: Vec<PathBuf>,
    /// Fail unless Landlock enforces every right of the policy ([`LandlockEnforcement::Full`]).
    pub(crate) require_landlock: bool,
    /// Lock all current and future memory with `mlockall(MCL_CURRENT | MCL_FUTURE)`.
    pub(crate) lock_memory: bool,
    /// Fail if `lock_memory` is set and the kernel refuses `mlockall`; otherwise the refusal is
    /// only reported in [`SandboxReport::memory`].
    pub(crate) require_memory_lock: bool,
    /// Tests only: proceed when other threads exist although the kernel cannot put them under
    /// Landlock (ABI < 8). Those threads stay outside the file-system rules; seccomp and the
    /// process-wide steps still cover them. The signer must leave this `false`.
    pub(crate) allow_unconfined_threads: bool,
    /// A TPM reached over TCP by a TCTI that connects for every command (swtpm's), used after
    /// lock-down (the join hand-over): TCP connects to this one port stay allowed (a Landlock
    /// rule), and so do `socket(AF_INET, SOCK_STREAM)` and `connect` (seccomp). Needs Landlock's
    /// network rules fully enforced, or lock-down fails. The device TCTI needs nothing: its
    /// file descriptor stays open.
    pub(crate) tpm_tcp_port: Option<u16>,
}

impl SandboxConfig {
    /// The signer's configuration: read+write beneath `data_dir`, nothing else readable,
    /// Landlock required, memory locked where permitted (a refusal is reported, not fatal).
    pub(crate) fn new(data_dir: PathBuf) -> Self {
        Self {
            data_dir,
            extra_read_paths: Vec::new(),
            require_landlock: true,
            lock_memory: true,
            require_memory_lock: false,
            allow_unconfined_threads: false,
            tpm_tcp_port: None,
        }
    }
}

/// A lock-down step that failed, with the OS error. Steps before it have been applied and cannot
/// be undone: the process should exit. Configuration errors ([`Self::ThreadCount`],
/// [`Self::ThreadsRunning`], [`Self::LandlockPath`], [`Self::NotADirectory`],
/// [`Self::SeccompBuild`], and [`Self::Landlock`] while building the ruleset) are found before
/// the process is changed at all.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SandboxError {
    /// `/proc/self/task` could not be listed to count the threads (is `/proc` mounted?).
    #[error("lock-down step `count threads` failed: cannot list /proc/self/task: {0}")]
    ThreadCount(#[source] io::Error),
    /// Other threads are running and this kernel's Landlock cannot confine them.
    #[error(
        "lock-down refused: {count} threads are running and Landlock on this kernel confines only \
         the calling thread (all-thread enforcement needs Landlock ABI 8); call lock_down before \
         starting any thread"
    )]
    ThreadsRunning {
        /// Threads in the process, the caller included.
        count: usize,
    },
    /// A path of the configuration could not be opened.
    #[error("lock-down step `landlock: open permitted path` failed: {0}")]
    LandlockPath(#[source] PathFdError),
    /// `data_dir` is not a directory, or its type could not be read.
    #[error(
        "lock-down step `landlock: data_dir` failed: {path} is not a usable directory: {source}"
    )]
    NotADirectory {
        /// The configured `data_dir`.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The Landlock ruleset could not be built or enforced.
    #[error("lock-down step `landlock` failed: {0}")]
    Landlock(#[source] RulesetError),
    /// Landlock is required but the kernel enforces the policy only partly or not at all.
    #[error(
        "lock-down step `landlock` failed: required but {enforcement} (kernel Landlock ABI {abi}, \
         policy needs {policy_abi})"
    )]
    LandlockNotEnforced {
        /// What the kernel enforced.
        enforcement: LandlockEnforcement,
        /// The kernel's Landlock ABI as the crate sees it (0: none).
        abi: u32,
        /// The ABI the policy is written for.
        policy_abi: u32,
    },
    /// The seccomp filter could not be compiled for this architecture.
    #[error("lock-down step `seccomp: compile filter` failed: {0}")]
    SeccompBuild(#[source] seccompiler::BackendError),
    /// `prctl(PR_SET_DUMPABLE, 0)` failed.
    #[error("lock-down step `prctl(PR_SET_DUMPABLE, 0)` failed: {0}")]
    Dumpable(#[source] io::Error),
    /// `setrlimit(RLIMIT_CORE, 0, 0)` failed.
    #[error("lock-down step `setrlimit(RLIMIT_CORE, 0, 0)` failed: {0}")]
    CoreLimit(#[source] io::Error),
    /// `mlockall` was refused and the configuration requires it.
    #[error("lock-down step `mlockall(MCL_CURRENT | MCL_FUTURE)` failed: {0}")]
    MemoryLock(#[source] io::Error),
    /// `prctl(PR_SET_NO_NEW_PRIVS, 1)` failed.
    #[error("lock-down step `prctl(PR_SET_NO_NEW_PRIVS, 1)` failed: {0}")]
    NoNewPrivs(#[source] io::Error),
    /// Installing a seccomp filter failed.
    #[error("lock-down step `seccomp: install filter (TSYNC)` failed: {0}")]
    Seccomp(#[source] seccompiler::Error),
    /// A step reported success but reading its state back disagreed.
    #[error("lock-down step `{step}` failed: the kernel reports the old state after the call")]
    NotApplied {
        /// The step.
        step: &'static str,
    },
}

/// What Landlock enforces, relative to the rights of the policy (Landlock ABI 6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum LandlockEnforcement {
    /// Every right of the policy is enforced.
    #[serde(rename = "fully_enforced")]
    Full,
    /// The kernel lacks some rights of the policy (older ABI): those are not restricted.
    #[serde(rename = "partially_enforced")]
    Partial,
    /// Landlock is absent, disabled at boot, or enforces nothing.
    #[serde(rename = "not_enforced")]
    Off,
}

impl fmt::Display for LandlockEnforcement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Full => "fully enforced",
            Self::Partial => "partially enforced",
            Self::Off => "not enforced",
        })
    }
}

/// The outcome of the memory-locking step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub(crate) enum MemoryLock {
    /// `mlockall(MCL_CURRENT | MCL_FUTURE)` succeeded.
    Locked,
    /// The configuration did not ask for it.
    NotRequested,
    /// The kernel refused (typically `EPERM` or `ENOMEM` under `RLIMIT_MEMLOCK` without
    /// `CAP_IPC_LOCK`); the process runs with its memory unlocked.
    Refused {
        /// The errno.
        errno: i32,
        /// The OS error message.
        reason: String,
    },
}

/// The Landlock step as applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LandlockReport {
    /// What is enforced.
    pub(crate) enforcement: LandlockEnforcement,
    /// The kernel's Landlock ABI as the landlock crate sees it (0: none).
    pub(crate) abi: u32,
    /// The ABI the policy is written for.
    pub(crate) policy_abi: u32,
    /// The ruleset was applied to every thread (ABI 8); otherwise to the calling thread and the
    /// threads it starts later.
    pub(crate) all_threads: bool,
}

/// The seccomp step as applied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SeccompReport {
    /// The filters are installed on every thread (`SECCOMP_FILTER_FLAG_TSYNC`).
    pub(crate) installed: bool,
    /// Filters installed: the deny-list, and on `x86_64` the x32-ABI guard.
    pub(crate) filters: usize,
    /// System calls denied whatever their arguments (plus `prctl(PR_SET_DUMPABLE, != 0)`).
    pub(crate) denied_syscalls: usize,
}

/// What [`lock_down`] applied. The flags are read back from the kernel after each step; a step
/// whose state does not read back fails [`lock_down`] instead of showing here as `false`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SandboxReport {
    /// Threads in the process when [`lock_down`] started, the caller included.
    pub(crate) threads: usize,
    /// `prctl(PR_GET_DUMPABLE)` reads 0.
    pub(crate) dumpable_off: bool,
    /// `RLIMIT_CORE` reads 0 (soft) and 0 (hard).
    pub(crate) core_limit_zero: bool,
    /// The memory-locking step.
    pub(crate) memory: MemoryLock,
    /// `prctl(PR_GET_NO_NEW_PRIVS)` reads 1.
    pub(crate) no_new_privs: bool,
    /// The Landlock step.
    pub(crate) landlock: LandlockReport,
    /// The seccomp step.
    pub(crate) seccomp: SeccompReport,
}

impl fmt::Display for SandboxReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "threads at lock-down: {}", self.threads)?;
        writeln!(f, "not dumpable: {}", self.dumpable_off)?;
        writeln!(f, "RLIMIT_CORE 0/0: {}", self.core_limit_zero)?;
        match &self.memory {
            MemoryLock::Locked => writeln!(f, "memory: locked (mlockall current+future)")?,
            MemoryLock::NotRequested => writeln!(f, "memory: not locked (not requested)")?,
            MemoryLock::Refused { reason, .. } => writeln!(f, "memory: not locked: {reason}")?,
        }
        writeln!(f, "no_new_privs: {}", self.no_new_privs)?;
        let l = &self.landlock;
        writeln!(
            f,
            "landlock: {} (kernel ABI {}, policy ABI {}, {})",
            l.enforcement,
            l.abi,
            l.policy_abi,
            if l.all_threads {
                "all threads"
            } else {
                "calling thread and its descendants"
            }
        )?;
        write!(
            f,
            "seccomp: {} ({} filters, {} system calls denied with EPERM, all threads)",
            if self.seccomp.installed {
                "installed"
            } else {
                "not installed"
            },
            self.seccomp.filters,
            self.seccomp.denied_syscalls
        )
    }
}

/// Locks the running process down (see the module documentation and `SANDBOX.md`). Costs about
/// as long as `mlockall` takes to fault in every mapped page (1.3 ms for the 70 MiB test process
/// here); afterwards every system call runs the two BPF filters (about 300 instructions at most).
///
/// # Errors
/// [`SandboxError`] naming the failed step. Configuration errors come before any change to the
/// process; after the first change, an error leaves the steps before it applied (irreversibly),
/// and the caller should exit.
pub(crate) fn lock_down(cfg: &SandboxConfig) -> Result<SandboxReport, SandboxError> {
    // Preparation: nothing below changes the process until `set_dumpable_behavior`.
    let threads = count_threads().map_err(SandboxError::ThreadCount)?;
    let need_all_threads = threads > 1 && !cfg.allow_unconfined_threads;
    let ruleset = build_ruleset(cfg, need_all_threads, threads)?;
    let filters = build_filters(cfg.tpm_tcp_port.is_some())?;

    // 1. No core dumps, no ptrace or /proc/<pid>/mem access by same-user processes.
    let dumpable_error = |e: rustix::io::Errno| SandboxError::Dumpable(e.into());
    rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable)
        .map_err(dumpable_error)?;
    let dumpable_off = rustix::process::dumpable_behavior().map_err(dumpable_error)?
        == DumpableBehavior::NotDumpable;
    if !dumpable_off {
        return Err(SandboxError::NotApplied {
            step: "prctl(PR_SET_DUMPABLE, 0)",
        });
    }
    let zero = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    rustix::process::setrlimit(Resource::Core, zero)
        .map_err(|e| SandboxError::CoreLimit(e.into()))?;
    let core_limit_zero = rustix::process::getrlimit(Resource::Core) == zero;
    if !core_limit_zero {
        return Err(SandboxError::NotApplied {
            step: "setrlimit(RLIMIT_CORE, 0, 0)",
        });
    }

    // 2. Keep secrets out of swap.
    let memory = if cfg.lock_memory {
        match rustix::mm::mlockall(MlockAllFlags::CURRENT | MlockAllFlags::FUTURE) {
            Ok(()) => MemoryLock::Locked,
            Err(e) if cfg.require_memory_lock => return Err(SandboxError::MemoryLock(e.into())),
            Err(e) => MemoryLock::Refused {
                errno: e.raw_os_error(),
                reason: io::Error::from(e).to_string(),
            },
        }
    } else {
        MemoryLock::NotRequested
    };

    // 3. No privilege gain through execve (set-uid, file capabilities); required by Landlock and
    //    seccomp for an unprivileged caller. Per thread: seccomp TSYNC copies it to the others.
    rustix::thread::set_no_new_privs(true).map_err(|e| SandboxError::NoNewPrivs(e.into()))?;
    if !rustix::thread::no_new_privs().map_err(|e| SandboxError::NoNewPrivs(e.into()))? {
        return Err(SandboxError::NotApplied {
            step: "prctl(PR_SET_NO_NEW_PRIVS, 1)",
        });
    }

    // 4. File system, TCP and scopes. With the TPM's port open, the network rules must hold:
    //    seccomp no longer denies `connect`.
    let landlock = restrict_landlock(ruleset, cfg.require_landlock || cfg.tpm_tcp_port.is_some())?;

    // 5. Seccomp last: the steps above use system calls it denies (mlockall).
    for program in &filters {
        seccompiler::apply_filter_all_threads(program).map_err(SandboxError::Seccomp)?;
    }

    Ok(SandboxReport {
        threads,
        dumpable_off,
        core_limit_zero,
        memory,
        no_new_privs: true,
        landlock,
        seccomp: SeccompReport {
            installed: true,
            filters: filters.len(),
            denied_syscalls: DENIED_SYSCALLS.len(),
        },
    })
}

/// The confinement of the bridge and the HTTPS pool: not dumpable, no core files, no new
/// privileges, and a Landlock ruleset that allows no file-system access but reading the
/// `read_only` files that exist (the bridge passes none and works on its inherited sockets; the
/// Telegram pool passes the resolver's configuration files so it can look up the Bot API host).
/// Network access is not restricted here: the pool talks to the Bot API. Call it while the
/// process has one thread. Returns the Landlock outcome.
///
/// # Errors
/// The step that failed; [`SandboxError::ThreadsRunning`] when called with threads running.
pub(crate) fn confine_without_files(read_only: &[&Path]) -> Result<LandlockReport, SandboxError> {
    let threads = count_threads().map_err(SandboxError::ThreadCount)?;
    if threads > 1 {
        return Err(SandboxError::ThreadsRunning { count: threads });
    }
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(POLICY_ABI))
        .and_then(|r| r.scope(Scope::from_all(POLICY_ABI)))
        .and_then(Ruleset::create)
        .map_err(SandboxError::Landlock)?;
    for path in read_only {
        // A missing file stays unreadable (it cannot appear later either).
        let Ok(fd) = PathFd::new(path) else { continue };
        if is_dir(&fd).unwrap_or(true) {
            continue;
        }
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, BitFlags::from(AccessFs::ReadFile)))
            .map_err(SandboxError::Landlock)?;
    }
    rustix::process::set_dumpable_behavior(DumpableBehavior::NotDumpable)
        .map_err(|e| SandboxError::Dumpable(e.into()))?;
    let zero = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    rustix::process::setrlimit(Resource::Core, zero)
        .map_err(|e| SandboxError::CoreLimit(e.into()))?;
    rustix::thread::set_no_new_privs(true).map_err(|e| SandboxError::NoNewPrivs(e.into()))?;
    restrict_landlock(ruleset, false)
}

/// Checks, after [`confine_without_files`], that `dir` (the signer's data directory) cannot be
/// listed, and says so on standard error; `Err` with the reason when it can.
pub(crate) fn check_out_of_reach(role: &str, dir: &Path) -> Result<(), String> {
    match fs::read_dir(dir) {
        Ok(_) => Err(format!(
            "the signer's data directory {} is readable from the {role}: the sandbox did not hold",
            dir.display()
        )),
        Err(e) => {
            eprintln!("kms {role}: sandbox: the signer's data directory is out of reach ({e})");
            Ok(())
        }
    }
}

/// Threads in this process, from `/proc/self/task`.
fn count_threads() -> io::Result<usize> {
    let mut count = 0;
    for entry in fs::read_dir("/proc/self/task")? {
        entry?;
        count += 1;
    }
    Ok(count)
}

/// Rights beneath `data_dir`: regular files and directories, read, write, create, remove,
/// rename, truncate. No execution, devices, fifos, sockets, symbolic links or device ioctl.
fn data_dir_access() -> BitFlags<AccessFs> {
    AccessFs::ReadFile
        | AccessFs::ReadDir
        | AccessFs::WriteFile
        | AccessFs::Truncate
        | AccessFs::MakeReg
        | AccessFs::MakeDir
        | AccessFs::RemoveFile
        | AccessFs::RemoveDir
        | AccessFs::Refer
}

/// Builds (without enforcing) the Landlock ruleset of `cfg`. With `need_all_threads`, fails with
/// [`SandboxError::ThreadsRunning`] unless the kernel can enforce it on every thread.
fn build_ruleset(
    cfg: &SandboxConfig,
    need_all_threads: bool,
    threads: usize,
) -> Result<RulesetCreated, SandboxError> {
    let mut ruleset = Ruleset::default()
        .handle_access(AccessFs::from_all(POLICY_ABI))
        .and_then(|r| r.handle_access(AccessNet::from_all(POLICY_ABI)))
        .and_then(|r| r.scope(Scope::from_all(POLICY_ABI)))
        .and_then(Ruleset::create)
        .map_err(SandboxError::Landlock)?;

    let data_dir = PathFd::new(&cfg.data_dir).map_err(SandboxError::LandlockPath)?;
    let not_a_dir = |source| SandboxError::NotADirectory {
        path: cfg.data_dir.clone(),
        source,
    };
    if !is_dir(&data_dir).map_err(not_a_dir)? {
        return Err(not_a_dir(io::Error::from(rustix::io::Errno::NOTDIR)));
    }
    ruleset = ruleset
        .add_rule(PathBeneath::new(data_dir, data_dir_access()))
        .map_err(SandboxError::Landlock)?;
    if let Some(port) = cfg.tpm_tcp_port {
        ruleset = ruleset
            .add_rule(NetPort::new(port, AccessNet::ConnectTcp))
            .map_err(SandboxError::Landlock)?;
    }

    for path in &cfg.extra_read_paths {
        let fd = PathFd::new(path).map_err(SandboxError::LandlockPath)?;
        // Directory-only rights on a file would downgrade the ruleset to "partially enforced".
        let access = match is_dir(&fd) {
            Ok(true) => AccessFs::ReadFile | AccessFs::ReadDir,
            _ => BitFlags::from(AccessFs::ReadFile),
        };
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, access))
            .map_err(SandboxError::Landlock)?;
    }

    if need_all_threads {
        ruleset = ruleset
            .set_compatibility(CompatLevel::HardRequirement)
            .all_threads(true)
            .map_err(|_| SandboxError::ThreadsRunning { count: threads })?;
    }
    Ok(ruleset)
}

/// Whether `fd` (an `O_PATH` descriptor) is a directory.
fn is_dir(fd: &PathFd) -> io::Result<bool> {
    let stat = rustix::fs::fstat(fd)?;
    Ok(FileType::from_raw_mode(stat.st_mode) == FileType::Directory)
}

/// Enforces `ruleset` on the calling thread (all threads if so built) and reports the outcome.
fn restrict_landlock(
    ruleset: RulesetCreated,
    require: bool,
) -> Result<LandlockReport, SandboxError> {
    let status = ruleset.restrict_self().map_err(SandboxError::Landlock)?;
    let abi = match status.landlock {
        LandlockStatus::Available { effective_abi, .. } => effective_abi as u32,
        LandlockStatus::NotEnabled | LandlockStatus::NotImplemented => 0,
    };
    let enforcement = match status.ruleset {
        RulesetStatus::FullyEnforced => LandlockEnforcement::Full,
        RulesetStatus::PartiallyEnforced => LandlockEnforcement::Partial,
        RulesetStatus::NotEnforced => LandlockEnforcement::Off,
    };
    let policy_abi = POLICY_ABI as u32;
    if require && enforcement != LandlockEnforcement::Full {
        return Err(SandboxError::LandlockNotEnforced {
            enforcement,
            abi,
            policy_abi,
        });
    }
    Ok(LandlockReport {
        enforcement,
        abi,
        policy_abi,
        all_threads: status.all_threads,
    })
}

/// Compiles the seccomp filters: the deny-list (default: allow; listed calls: `EPERM`) and, on
/// `x86_64`, the x32 guard. With `tpm_over_tcp`, `connect` is allowed (Landlock then allows TCP
/// connects to the TPM's port only) and `socket` only for `AF_INET` streams.
fn build_filters(tpm_over_tcp: bool) -> Result<Vec<BpfProgram>, SandboxError> {
    let cond = |arg, len, op, value| {
        SeccompCondition::new(arg, len, op, value).map_err(SandboxError::SeccompBuild)
    };
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        DENIED_SYSCALLS.iter().map(|&nr| (nr, Vec::new())).collect();
    // prctl(PR_SET_DUMPABLE, 0) stays allowed: kms-pagechain's harden_process() calls it.
    let redump = SeccompRule::new(vec![
        cond(
            0,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::Eq,
            libc::PR_SET_DUMPABLE as u64,
        )?,
        cond(1, SeccompCmpArgLen::Qword, SeccompCmpOp::Ne, 0)?,
    ])
    .map_err(SandboxError::SeccompBuild)?;
    rules.insert(libc::SYS_prctl, vec![redump]);
    if tpm_over_tcp {
        rules.remove(&libc::SYS_connect);
        // Denied unless the domain is AF_INET and the type (low four bits) a stream.
        let mut socket_rules = vec![
            SeccompRule::new(vec![cond(
                0,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::Ne,
                libc::AF_INET as u64,
            )?])
            .map_err(SandboxError::SeccompBuild)?,
        ];
        for other in [
            libc::SOCK_DGRAM,
            libc::SOCK_RAW,
            libc::SOCK_SEQPACKET,
            libc::SOCK_RDM,
        ] {
            socket_rules.push(
                SeccompRule::new(vec![cond(
                    1,
                    SeccompCmpArgLen::Dword,
                    SeccompCmpOp::MaskedEq(0xf),
                    other as u64,
                )?])
                .map_err(SandboxError::SeccompBuild)?,
            );
        }
        rules.insert(libc::SYS_socket, socket_rules);
    }

    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(SandboxError::SeccompBuild)?;
    let deny_list = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .and_then(BpfProgram::try_from)
    .map_err(SandboxError::SeccompBuild)?;

    #[cfg(target_arch = "x86_64")]
    return Ok(vec![deny_list, x32_guard()]);
    #[cfg(not(target_arch = "x86_64"))]
    return Ok(vec![deny_list]);
}

/// On `x86_64` the same architecture token also carries the x32 ABI, whose system call numbers
/// have bit 30 set: `0x4000_0000 | SYS_socket` would not match the deny-list. This filter fails
/// every x32 call with `EPERM` (a 64-bit program never makes one; kernels built without
/// `CONFIG_X86_X32_ABI` answer `ENOSYS` to them anyway).
#[cfg(target_arch = "x86_64")]
fn x32_guard() -> BpfProgram {
    use seccompiler::sock_filter;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    // BPF opcodes fit in 16 bits; libc types them u32.
    let insn = |code: u32, jt, jf, k| sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    };
    vec![
        // A = seccomp_data.nr (offset 0)
        insn(libc::BPF_LD | libc::BPF_W | libc::BPF_ABS, 0, 0, 0),
        // if A >= X32_SYSCALL_BIT fall through, else skip one
        insn(
            libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K,
            0,
            1,
            X32_SYSCALL_BIT,
        ),
        insn(
            libc::BPF_RET | libc::BPF_K,
            0,
            0,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        ),
        insn(libc::BPF_RET | libc::BPF_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}

/// The result of one operation [`probe`] tried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// The operation succeeded.
    Succeeded,
    /// The kernel refused.
    Failed {
        /// The errno, when there is one.
        errno: Option<i32>,
        /// The error message.
        message: String,
    },
    /// The operation could not be tried.
    NotAttempted {
        /// Why.
        reason: String,
    },
}

impl Outcome {
    fn of<T>(result: io::Result<T>) -> Self {
        match result {
            Ok(_) => Self::Succeeded,
            Err(e) => Self::Failed {
                errno: e.raw_os_error(),
                message: e.to_string(),
            },
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Succeeded => f.write_str("succeeded"),
            Self::Failed { message, .. } => write!(f, "refused: {message}"),
            Self::NotAttempted { reason } => write!(f, "not attempted: {reason}"),
        }
    }
}

/// `RLIMIT_CORE` as read back; `None` is unlimited.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct CoreLimit {
    /// Soft limit in bytes.
    pub(crate) soft: Option<u64>,
    /// Hard limit in bytes.
    pub(crate) hard: Option<u64>,
}

/// What [`probe`] saw from inside the process. `None` fields could not be read (see
/// [`ProbeReport::status_error`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ProbeReport {
    /// `socket(AF_INET, SOCK_STREAM)`.
    pub(crate) inet_socket: Outcome,
    /// `socket(AF_UNIX, SOCK_STREAM)`.
    pub(crate) unix_socket: Outcome,
    /// `connect` of the `AF_INET` socket to 127.0.0.1:9, when the socket exists.
    pub(crate) inet_connect: Outcome,
    /// Opening the given outside path for reading.
    pub(crate) read_outside: Outcome,
    /// Creating, writing and removing a new file in `data_dir`.
    pub(crate) write_in_data_dir: Outcome,
    /// Running `/bin/true`.
    pub(crate) exec: Outcome,
    /// `Seccomp:` of `/proc/self/status` (2: filter mode).
    pub(crate) seccomp_mode: Option<u32>,
    /// `Seccomp_filters:` of `/proc/self/status`.
    pub(crate) seccomp_filters: Option<u32>,
    /// `NoNewPrivs:` of `/proc/self/status`.
    pub(crate) no_new_privs: Option<u32>,
    /// `VmLck:` of `/proc/self/status`, in KiB.
    pub(crate) vm_locked_kib: Option<u64>,
    /// Threads of the process, from `/proc/self/task`.
    pub(crate) threads: Option<usize>,
    /// Threads whose `Seccomp:` is not 2.
    pub(crate) threads_without_seccomp: Option<usize>,
    /// `prctl(PR_GET_DUMPABLE)` is not 0.
    pub(crate) dumpable: Option<bool>,
    /// `RLIMIT_CORE`.
    pub(crate) core_limit: CoreLimit,
    /// Why `/proc/self/status` or `/proc/self/task` could not be read, if so.
    pub(crate) status_error: Option<String>,
}

impl fmt::Display for ProbeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn opt<T: fmt::Display>(v: &Option<T>) -> String {
            v.as_ref()
                .map_or_else(|| "unknown".to_owned(), ToString::to_string)
        }
        writeln!(f, "socket(AF_INET): {}", self.inet_socket)?;
        writeln!(f, "socket(AF_UNIX): {}", self.unix_socket)?;
        writeln!(f, "connect(127.0.0.1:9): {}", self.inet_connect)?;
        writeln!(f, "read outside path: {}", self.read_outside)?;
        writeln!(f, "write in data_dir: {}", self.write_in_data_dir)?;
        writeln!(f, "exec /bin/true: {}", self.exec)?;
        writeln!(
            f,
            "Seccomp: {} ({} filters), NoNewPrivs: {}, VmLck: {} kB",
            opt(&self.seccomp_mode),
            opt(&self.seccomp_filters),
            opt(&self.no_new_privs),
            opt(&self.vm_locked_kib)
        )?;
        writeln!(
            f,
            "threads: {}, without seccomp: {}",
            opt(&self.threads),
            opt(&self.threads_without_seccomp)
        )?;
        writeln!(f, "dumpable: {}", opt(&self.dumpable))?;
        let limit = |v: Option<u64>| v.map_or_else(|| "unlimited".to_owned(), |v| v.to_string());
        write!(
            f,
            "RLIMIT_CORE: soft {}, hard {}",
            limit(self.core_limit.soft),
            limit(self.core_limit.hard)
        )?;
        if let Some(e) = &self.status_error {
            write!(f, "\n/proc/self unreadable: {e}")?;
        }
        Ok(())
    }
}

/// Tries, from inside the locked-down process, what the lock-down forbids, and one thing it
/// allows (a new file in `data_dir`), and reads the process's state back. Needs read access to
/// `/proc/self` (put it in [`SandboxConfig::extra_read_paths`]) for the `/proc` fields. Never
/// fails: each result is in the report. Costs a fork attempt and a few system calls.
pub(crate) fn probe(data_dir: &Path, outside_path: &Path) -> ProbeReport {
    let inet = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None);
    let inet_connect = match &inet {
        Ok(fd) => Outcome::of(
            rustix::net::connect(fd, &SocketAddrV4::new(Ipv4Addr::LOCALHOST, 9))
                .map_err(io::Error::from),
        ),
        Err(_) => Outcome::NotAttempted {
            reason: "socket(AF_INET) was refused".to_owned(),
        },
    };
    let inet_socket = Outcome::of(inet.map_err(io::Error::from));
    let unix_socket = Outcome::of(
        rustix::net::socket(AddressFamily::UNIX, SocketType::STREAM, None).map_err(io::Error::from),
    );
    let read_outside = Outcome::of(File::open(outside_path));
    let write_in_data_dir = Outcome::of(write_probe_file(data_dir));
    // Inherited standard streams: `Stdio::null()` would open /dev/null, which Landlock denies
    // before the exec is even tried.
    let exec = Outcome::of(Command::new("/bin/true").status());

    let mut report = ProbeReport {
        inet_socket,
        unix_socket,
        inet_connect,
        read_outside,
        write_in_data_dir,
        exec,
        seccomp_mode: None,
        seccomp_filters: None,
        no_new_privs: None,
        vm_locked_kib: None,
        threads: None,
        threads_without_seccomp: None,
        dumpable: rustix::process::dumpable_behavior()
            .ok()
            .map(|d| d != DumpableBehavior::NotDumpable),
        core_limit: {
            let limit = rustix::process::getrlimit(Resource::Core);
            CoreLimit {
                soft: limit.current,
                hard: limit.maximum,
            }
        },
        status_error: None,
    };
    match fs::read_to_string("/proc/self/status") {
        Ok(status) => {
            report.seccomp_mode = status_field(&status, "Seccomp");
            report.seccomp_filters = status_field(&status, "Seccomp_filters");
            report.no_new_privs = status_field(&status, "NoNewPrivs");
            report.vm_locked_kib = status_field(&status, "VmLck");
        }
        Err(e) => report.status_error = Some(format!("/proc/self/status: {e}")),
    }
    match thread_seccomp_modes() {
        Ok(modes) => {
            report.threads = Some(modes.len());
            report.threads_without_seccomp = Some(modes.iter().filter(|&&m| m != Some(2)).count());
        }
        Err(e) => report.status_error = Some(format!("/proc/self/task: {e}")),
    }
    report
}

/// Creates, writes and removes `.sandbox-probe-<pid>-<tid>` in `dir`.
fn write_probe_file(dir: &Path) -> io::Result<()> {
    let tid = rustix::thread::gettid().as_raw_nonzero();
    let path = dir.join(format!(".sandbox-probe-{}-{tid}", std::process::id()));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)?;
    file.write_all(b"probe")?;
    drop(file);
    fs::remove_file(&path)
}

/// The `Seccomp:` value of every thread in `/proc/self/task`.
fn thread_seccomp_modes() -> io::Result<Vec<Option<u32>>> {
    let mut modes = Vec::new();
    for entry in fs::read_dir("/proc/self/task")? {
        match fs::read_to_string(entry?.path().join("status")) {
            Ok(status) => modes.push(status_field(&status, "Seccomp")),
            // The thread ended since the directory was listed.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(modes)
}

/// The number of the `name:` line of a `/proc/<pid>/status` text (a trailing unit is ignored).
fn status_field<T: std::str::FromStr>(status: &str, name: &str) -> Option<T> {
    status.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key == name).then(|| value.split_whitespace().next()?.parse().ok())?
    })
}
