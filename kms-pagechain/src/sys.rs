//! The only module of the workspace that contains `unsafe` code: thin wrappers around the Linux
//! system calls the shield needs (mmap, mlock, madvise, munmap, prctl, getrlimit/setrlimit,
//! explicit_bzero). Each `unsafe` block does one thing and says why it is sound in a
//! `// SAFETY:` comment (`clippy::undocumented_unsafe_blocks` and
//! `clippy::multiple_unsafe_ops_per_block` are denied for the crate). Everything outside this
//! module is safe code and is compiled with `unsafe_code = "deny"`.

use std::io;
use std::mem::MaybeUninit;
use std::ptr::{self, NonNull};

/// Bytes of stack overwritten by [`scrub_stack`] (libsodium's `sodium_stackzero` idea): enough to
/// cover the frames of BLAKE3, ChaCha and Poly1305, which may leave key-derived words behind. The
/// memory-scan test shows 16 KiB is needed in unoptimised builds, where the generic cipher code
/// instantiated in this crate has large frames (8 KiB left a copy of the plaintext behind there;
/// optimised builds left none even without scrubbing). 16 KiB costs about 0.8 µs.
const STACK_SCRUB_BYTES: usize = 16 * 1024;

/// The operating system's page size in bytes.
pub(crate) fn os_page_size() -> usize {
    // SAFETY: sysconf only reads a constant of the C library; it has no memory-safety
    // preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size)
        .ok()
        .filter(|s| *s > 0)
        .unwrap_or(4096)
}

/// Which step of setting up a region failed.
#[derive(Debug)]
pub(crate) enum MapError {
    /// `mmap` itself failed.
    Map(io::Error),
    /// `madvise` with the named advice failed.
    Advise(&'static str, io::Error),
    /// `mlock` failed.
    Lock(io::Error),
}

/// An anonymous, private, read-write memory mapping that is excluded from core dumps
/// (`MADV_DONTDUMP`), zero-filled in forked children (`MADV_WIPEONFORK`) and, if asked, locked in
/// RAM (`mlock`). It is wiped with `explicit_bzero`, unlocked and unmapped on drop.
///
/// It owns its mapping exclusively, like a `Box<[u8]>`: shared access gives `&[u8]`, exclusive
/// access gives `&mut [u8]`.
pub(crate) struct Region {
    ptr: NonNull<u8>,
    len: usize,
    locked: bool,
}

// SAFETY: a `Region` owns its mapping exclusively (nothing else holds the pointer), so moving it
// to another thread is like moving a `Box<[u8]>`.
unsafe impl Send for Region {}
// SAFETY: `&Region` only hands out `&[u8]` (reads); writes need `&mut Region`, so the usual
// borrow rules prevent data races exactly as for `Box<[u8]>`.
unsafe impl Sync for Region {}

impl Region {
    /// Maps `len` bytes (a positive multiple of [`os_page_size`]), applies `MADV_DONTDUMP` and
    /// `MADV_WIPEONFORK`, and locks the pages in RAM when `lock` is true. On any failure nothing
    /// stays mapped.
    pub(crate) fn map(len: usize, lock: bool) -> Result<Self, MapError> {
        if len == 0 || !len.is_multiple_of(os_page_size()) {
            return Err(MapError::Map(io::Error::from(io::ErrorKind::InvalidInput)));
        }
        // SAFETY: a fresh anonymous private mapping with no address hint: the kernel picks
        // unused addresses, so no existing Rust object is affected. The result is checked below.
        let raw = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(MapError::Map(io::Error::last_os_error()));
        }
        let Some(ptr) = NonNull::new(raw.cast::<u8>()) else {
            return Err(MapError::Map(io::Error::from(io::ErrorKind::Other)));
        };
        // From here on `Drop` unmaps the region if a later step fails.
        let mut region = Self {
            ptr,
            len,
            locked: false,
        };
        region.advise(libc::MADV_DONTDUMP, "MADV_DONTDUMP")?;
        region.advise(libc::MADV_WIPEONFORK, "MADV_WIPEONFORK")?;
        if lock {
            // SAFETY: `ptr..ptr+len` is exactly the mapping created above and owned by `region`.
            let rc = unsafe { libc::mlock(region.ptr.as_ptr().cast(), region.len) };
            if rc != 0 {
                return Err(MapError::Lock(io::Error::last_os_error()));
            }
            region.locked = true;
        }
        Ok(region)
    }

    fn advise(&mut self, advice: libc::c_int, name: &'static str) -> Result<(), MapError> {
        // SAFETY: `ptr..ptr+len` is exactly this region's own mapping; DONTDUMP and WIPEONFORK
        // change only how the kernel treats these pages in core dumps and forked children.
        let rc = unsafe { libc::madvise(self.ptr.as_ptr().cast(), self.len, advice) };
        if rc != 0 {
            return Err(MapError::Advise(name, io::Error::last_os_error()));
        }
        Ok(())
    }

    /// The mapped bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: the mapping is `len` readable bytes, initialised (anonymous mappings are
        // zero-filled), aligned for `u8`, and lives as long as `self`; `&self` excludes writers.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The mapped bytes, writable.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` guarantees this is the only live reference.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Start address of the mapping (for audits against `/proc/self/smaps`).
    pub(crate) fn start(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// Length of the mapping in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is locked in RAM.
    pub(crate) fn is_locked(&self) -> bool {
        self.locked
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        wipe(self.as_mut_slice());
        if self.locked {
            // SAFETY: unlocks exactly this region's own mapping, which is still mapped.
            // A failure only leaves pages locked until the munmap below, so it is ignored.
            let _ = unsafe { libc::munlock(self.ptr.as_ptr().cast(), self.len) };
        }
        // SAFETY: unmaps exactly the mapping created in `map`; no reference into it outlives
        // `self` (slices borrow `self`), so nothing can observe the unmapped memory. munmap of a
        // valid mapping cannot fail in a way we could act on.
        let _ = unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Overwrites `buf` with zeros in a way the compiler may not elide (`explicit_bzero`), at memset
/// speed (the `zeroize` crate writes byte by byte, which costs microseconds on 16 KiB).
pub(crate) fn wipe(buf: &mut [u8]) {
    if buf.is_empty() {
        return;
    }
    // SAFETY: `buf` is a valid, exclusively borrowed byte slice of `buf.len()` bytes.
    unsafe { libc::explicit_bzero(buf.as_mut_ptr().cast(), buf.len()) };
}

/// Overwrites [`STACK_SCRUB_BYTES`] of the stack below the caller's frame, where the frames of
/// the hash, stream cipher and MAC just ran, so key-derived words they spilled do not linger.
#[inline(never)]
pub(crate) fn scrub_stack() {
    let mut scratch = MaybeUninit::<[u8; STACK_SCRUB_BYTES]>::uninit();
    // SAFETY: `scratch` is a local buffer of exactly STACK_SCRUB_BYTES writable bytes;
    // explicit_bzero only writes to it (writing to uninitialised memory is allowed).
    unsafe { libc::explicit_bzero(scratch.as_mut_ptr().cast(), STACK_SCRUB_BYTES) };
    std::hint::black_box(&scratch);
}

/// `prctl(PR_SET_DUMPABLE, 0)`: no core dumps, and `/proc/<pid>/mem` and ptrace are closed to
/// other processes of the same user.
pub(crate) fn set_non_dumpable() -> io::Result<()> {
    let zero: libc::c_ulong = 0;
    // SAFETY: PR_SET_DUMPABLE takes integer arguments only; no memory is passed to the kernel.
    let rc = unsafe { libc::prctl(libc::PR_SET_DUMPABLE, zero, zero, zero, zero) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `prctl(PR_GET_DUMPABLE)`.
pub(crate) fn is_dumpable() -> io::Result<bool> {
    let zero: libc::c_ulong = 0;
    // SAFETY: PR_GET_DUMPABLE takes integer arguments only and returns the flag.
    let rc = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, zero, zero, zero, zero) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(rc != 0)
}

/// The resource argument type of getrlimit/setrlimit differs between C libraries.
#[cfg(target_env = "gnu")]
type Resource = libc::__rlimit_resource_t;
#[cfg(not(target_env = "gnu"))]
type Resource = libc::c_int;

/// Soft and hard limit of a resource; `None` means unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limit {
    pub(crate) soft: Option<u64>,
    pub(crate) hard: Option<u64>,
}

fn get_limit(resource: Resource) -> io::Result<Limit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable `rlimit` that getrlimit fills in.
    let rc = unsafe { libc::getrlimit(resource, &mut lim) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let finite = |v: libc::rlim_t| (v != libc::RLIM_INFINITY).then_some(v);
    Ok(Limit {
        soft: finite(lim.rlim_cur),
        hard: finite(lim.rlim_max),
    })
}

fn set_limit(resource: Resource, soft: u64, hard: u64) -> io::Result<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: `lim` is a valid `rlimit` that setrlimit only reads.
    let rc = unsafe { libc::setrlimit(resource, &lim) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `RLIMIT_MEMLOCK` of this process.
pub(crate) fn memlock_limit() -> io::Result<Limit> {
    get_limit(libc::RLIMIT_MEMLOCK)
}

/// `setrlimit(RLIMIT_CORE, 0, 0)`: the kernel writes no core file for this process.
pub(crate) fn disable_core_files() -> io::Result<()> {
    set_limit(libc::RLIMIT_CORE, 0, 0)
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Process-wide changes only tests make, each in a child process of its own.
    use super::{Region, io, set_limit};

    /// Sets `RLIMIT_MEMLOCK` to 0 and, when running as root (whose `CAP_IPC_LOCK` ignores the
    /// limit), becomes user and group 65534 (`nobody`), which drops every capability.
    pub(crate) fn drop_memlock_permission() -> io::Result<()> {
        set_limit(libc::RLIMIT_MEMLOCK, 0, 0)?;
        // SAFETY: geteuid has no preconditions.
        let euid = unsafe { libc::geteuid() };
        if euid == 0 {
            // SAFETY: setgroups with a count of 0 reads no memory.
            if unsafe { libc::setgroups(0, std::ptr::null()) } != 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: setgid takes an integer only (glibc applies it to every thread).
            if unsafe { libc::setgid(65534) } != 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: setuid takes an integer only (glibc applies it to every thread).
            if unsafe { libc::setuid(65534) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    /// Forks; the child runs `f` and exits with its code. The parent waits at most `timeout`
    /// for it (then kills it and returns `Ok(None)`). For tests whose process has no threads but
    /// idle ones, so that the child can take locks and allocate.
    pub(crate) fn fork_and_wait(
        f: impl FnOnce() -> i32,
        timeout: std::time::Duration,
    ) -> io::Result<Option<i32>> {
        // SAFETY: the caller's process has no thread that holds a lock or is inside the
        // allocator at this point (see above); the child ends with `_exit`.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            let code = f();
            // SAFETY: `_exit` ends the child without running destructors or atexit handlers.
            unsafe { libc::_exit(code) };
        }
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let mut status: libc::c_int = 0;
            // SAFETY: `status` is a valid writable int; `pid` is our own child.
            let rc = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if rc == pid {
                return Ok(libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)));
            }
            if rc < 0 {
                return Err(io::Error::last_os_error());
            }
            if std::time::Instant::now() > deadline {
                // SAFETY: kill takes integers only; `pid` is our own, still running child.
                unsafe { libc::kill(pid, libc::SIGKILL) };
                // SAFETY: as above; reaps the killed child.
                unsafe { libc::waitpid(pid, &mut status, 0) };
                return Ok(None);
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Forks; the child checks that every byte of `region` reads as zero and exits with 0 if so,
    /// 1 if not. Returns the child's exit status.
    pub(crate) fn fork_and_check_zeroed(region: &Region) -> io::Result<i32> {
        // SAFETY: the child only reads memory that stays mapped in it and calls `_exit`
        // (async-signal-safe), so forking a multi-threaded test process is sound.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(io::Error::last_os_error());
        }
        if pid == 0 {
            let zeroed = region.as_slice().iter().all(|b| *b == 0);
            // SAFETY: `_exit` ends the child without running destructors or atexit handlers.
            unsafe { libc::_exit(if zeroed { 0 } else { 1 }) };
        }
        let mut status: libc::c_int = 0;
        // SAFETY: `status` is a valid writable int; `pid` is our own child.
        let rc = unsafe { libc::waitpid(pid, &mut status, 0) };
        if rc != pid {
            return Err(io::Error::last_os_error());
        }
        if libc::WIFEXITED(status) {
            Ok(libc::WEXITSTATUS(status))
        } else {
            Ok(-1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_is_zeroed_in_a_forked_child() {
        let mut region = Region::map(os_page_size(), false).unwrap();
        region.as_mut_slice().fill(0xA5);
        assert!(region.as_slice().iter().all(|b| *b == 0xA5));
        assert_eq!(test_support::fork_and_check_zeroed(&region).unwrap(), 0);
        // The parent's copy is untouched.
        assert!(region.as_slice().iter().all(|b| *b == 0xA5));
    }

    #[test]
    fn map_rejects_lengths_that_are_not_whole_pages() {
        assert!(matches!(Region::map(0, false), Err(MapError::Map(_))));
        assert!(matches!(Region::map(100, false), Err(MapError::Map(_))));
    }

    #[test]
    fn wipe_and_scrub() {
        let mut buf = [0x5Au8; 100];
        wipe(&mut buf);
        assert!(buf.iter().all(|b| *b == 0));
        wipe(&mut []);
        scrub_stack();
    }
}
