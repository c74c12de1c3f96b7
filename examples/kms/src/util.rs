//! Small helpers every process uses.

use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Locks a mutex. A poisoned lock still guards a consistent value in this program: every guarded
/// value is replaced whole or not at all.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Writes one log line to stderr in a single `write_all` (see `eprintln!` in `main.rs`). A log
/// line that cannot be written is dropped: a daemon does not stop for its log.
pub(crate) fn write_log_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let mut line = args.to_string();
    line.push('\n');
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// Unix time in seconds.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
