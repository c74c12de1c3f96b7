//! Process-wide hardening that belongs beside a shield: no core files, not dumpable.

use crate::error::Error;
use crate::sys;

/// Makes the process non-dumpable (`prctl(PR_SET_DUMPABLE, 0)`: no core dumps, and other
/// processes of the same user can no longer ptrace it or read `/proc/<pid>/mem`) and sets
/// `RLIMIT_CORE` to 0. Call it once at start-up, before the secret exists. Process-wide and
/// irreversible for the core limit (the hard limit is lowered too); debuggers cannot attach
/// afterwards without root.
///
/// # Errors
/// [`Error::Hardening`] naming the call that failed.
pub fn harden_process() -> Result<(), Error> {
    disable_core_files()?;
    set_non_dumpable()
}

/// `prctl(PR_SET_DUMPABLE, 0)`.
///
/// # Errors
/// [`Error::Hardening`] if prctl fails.
pub fn set_non_dumpable() -> Result<(), Error> {
    sys::set_non_dumpable().map_err(|source| Error::Hardening {
        operation: "prctl(PR_SET_DUMPABLE, 0)",
        source,
    })
}

/// Sets the soft and hard `RLIMIT_CORE` to 0, so the kernel writes no core file.
///
/// # Errors
/// [`Error::Hardening`] if setrlimit fails.
pub fn disable_core_files() -> Result<(), Error> {
    sys::disable_core_files().map_err(|source| Error::Hardening {
        operation: "setrlimit(RLIMIT_CORE, 0)",
        source,
    })
}

/// Whether the process is dumpable (`prctl(PR_GET_DUMPABLE)`).
///
/// # Errors
/// [`Error::Hardening`] if prctl fails.
pub fn is_dumpable() -> Result<bool, Error> {
    sys::is_dumpable().map_err(|source| Error::Hardening {
        operation: "prctl(PR_GET_DUMPABLE)",
        source,
    })
}

/// The process's `RLIMIT_MEMLOCK` (soft, hard) in bytes; `None` means unlimited. A shield with the
/// default configuration locks 72 KiB.
///
/// # Errors
/// [`Error::Hardening`] if getrlimit fails.
pub fn memlock_limit() -> Result<crate::MemlockLimit, Error> {
    let limit = sys::memlock_limit().map_err(|source| Error::Hardening {
        operation: "getrlimit(RLIMIT_MEMLOCK)",
        source,
    })?;
    Ok(crate::MemlockLimit {
        soft: limit.soft,
        hard: limit.hard,
    })
}
