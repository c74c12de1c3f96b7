//! Shield configuration.

use std::time::Duration;

use crate::chain::{Geometry, LINK_BYTES};
use crate::error::Error;

/// Default number of pages in a chain.
pub const DEFAULT_PAGES: usize = 4;
/// Default size of one chain page in bytes.
pub const DEFAULT_PAGE_SIZE: usize = 4096;
/// Largest secret a shield accepts, in bytes.
pub const MAX_SECRET_LEN: usize = 1024;
/// Largest number of pages in a chain.
pub const MAX_PAGES: usize = 1024;
/// Largest chain page, in bytes.
pub const MAX_PAGE_SIZE: usize = 1 << 20;
/// Largest chain (pages × page size), in bytes.
pub const MAX_CHAIN_BYTES: usize = 64 << 20;
/// Shortest background mutation interval.
pub const MIN_MUTATION_INTERVAL: Duration = Duration::from_millis(1);
/// Most plaintext buffers a shield keeps mapped for concurrent [`with_secret`](crate::Shield::with_secret) calls.
pub const MAX_READER_SLOTS: usize = 64;

/// Whether the shield's memory must be locked in RAM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum MemoryLocking {
    /// Lock every page with `mlock`; fail with [`Error::MemoryLock`] if the kernel refuses.
    #[default]
    Required,
    /// Do not lock. The chain, the sealed secret and the plaintext buffers may then be written
    /// to swap. Choose this explicitly, only where swap is off or encrypted.
    Disabled,
}

/// How a [`Shield`](crate::Shield) lays out and maintains its chain.
///
/// ```
/// use kms_pagechain::{MemoryLocking, ShieldConfig};
/// use std::time::Duration;
///
/// let config = ShieldConfig::default()
///     .pages(8)
///     .page_size(4096)
///     .reshield_after_use(true)
///     .memory_locking(MemoryLocking::Required)
///     .background_mutation(Some(Duration::from_secs(1)));
/// assert_eq!(config.chain_bytes(), 32 * 1024);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShieldConfig {
    pages: usize,
    page_size: usize,
    reshield_after_use: bool,
    memory_locking: MemoryLocking,
    background_mutation: Option<Duration>,
    reader_slots: usize,
    prepare_ahead: bool,
}

impl Default for ShieldConfig {
    /// 4 pages of 4 KiB (16 KiB, like OpenSSH's prekey), a fresh chain after every use (built by
    /// the use itself), memory locked, no background mutator, 4 plaintext buffers kept for
    /// concurrent readers.
    fn default() -> Self {
        Self {
            pages: DEFAULT_PAGES,
            page_size: DEFAULT_PAGE_SIZE,
            reshield_after_use: true,
            memory_locking: MemoryLocking::Required,
            background_mutation: None,
            reader_slots: 4,
            prepare_ahead: false,
        }
    }
}

impl ShieldConfig {
    /// Number of pages in the chain: 2 to [`MAX_PAGES`].
    #[must_use]
    pub fn pages(mut self, pages: usize) -> Self {
        self.pages = pages;
        self
    }

    /// Size of one chain page in bytes: a multiple of 64 from 64 to [`MAX_PAGE_SIZE`]; the last
    /// 8 bytes of each page hold its link.
    #[must_use]
    pub fn page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size;
        self
    }

    /// Replace the chain with a fresh one on every [`with_secret`](crate::Shield::with_secret)
    /// (default `true`, as OpenSSH re-shields after each use). With `false`, concurrent readers
    /// share one chain and only [`mutate`](crate::Shield::mutate) or the background mutator
    /// replace it.
    #[must_use]
    pub fn reshield_after_use(mut self, reshield: bool) -> Self {
        self.reshield_after_use = reshield;
        self
    }

    /// Whether memory must be locked in RAM (default [`MemoryLocking::Required`]).
    #[must_use]
    pub fn memory_locking(mut self, locking: MemoryLocking) -> Self {
        self.memory_locking = locking;
        self
    }

    /// Run a background thread that calls [`mutate`](crate::Shield::mutate) every `interval`
    /// (at least [`MIN_MUTATION_INTERVAL`]); `None` (the default) runs none.
    #[must_use]
    pub fn background_mutation(mut self, interval: Option<Duration>) -> Self {
        self.background_mutation = interval;
        self
    }

    /// Build the next chains ahead of time on a background thread (default `false`; only with
    /// [`reshield_after_use`](Self::reshield_after_use)). Each use then installs a chain already
    /// filled with fresh random pages instead of generating 16 KiB of random pages itself (its key is
    /// still derived by the use: no key is ever kept ahead), and hands the chain it made obsolete
    /// back to the thread for rebuilding. Spares built before the latest
    /// [`mutate`](crate::Shield::mutate) are never used. When no prepared chain is ready the use
    /// builds its own, as with `false`. Costs one thread and two more chain buffers.
    ///
    /// Rarely worth it: on the 2-core reference machine it saves under 1 µs per use when the
    /// other core is idle (median 9.9 µs instead of 10.7 µs, with a worse p99), and it doubled
    /// the cost of a use when the other core was busy (25 µs instead of 14 µs, measured with the
    /// earlier, slower page generation), because the thread then competes with the caller.
    #[must_use]
    pub fn prepare_ahead(mut self, prepare: bool) -> Self {
        self.prepare_ahead = prepare;
        self
    }

    /// Plaintext buffers kept mapped (and locked) for concurrent `with_secret` calls: 1 to
    /// [`MAX_READER_SLOTS`], default 4. More concurrent calls still work; each extra one maps a
    /// buffer for its duration.
    #[must_use]
    pub fn reader_slots(mut self, slots: usize) -> Self {
        self.reader_slots = slots;
        self
    }

    /// Bytes in one chain (pages × page size).
    pub fn chain_bytes(&self) -> usize {
        self.pages.saturating_mul(self.page_size)
    }

    /// Whether the chain is replaced after every use.
    pub fn reshields_after_use(&self) -> bool {
        self.reshield_after_use
    }

    /// The memory-locking policy.
    pub fn locking(&self) -> MemoryLocking {
        self.memory_locking
    }

    /// Whether the next chain is built ahead of time on a background thread.
    pub fn prepares_ahead(&self) -> bool {
        self.prepare_ahead
    }

    /// The background mutation interval, if any.
    pub fn mutation_interval(&self) -> Option<Duration> {
        self.background_mutation
    }

    pub(crate) fn slots(&self) -> usize {
        self.reader_slots
    }

    pub(crate) fn lock(&self) -> bool {
        self.memory_locking == MemoryLocking::Required
    }

    /// Checks every value and the secret length; returns the chain geometry.
    pub(crate) fn geometry(&self, secret_len: usize) -> Result<Geometry, Error> {
        let bad = |m: String| Err(Error::InvalidConfig(m));
        if !(2..=MAX_PAGES).contains(&self.pages) {
            return bad(format!(
                "pages is {}; it must be 2 to {MAX_PAGES}",
                self.pages
            ));
        }
        if self.page_size < 64
            || self.page_size > MAX_PAGE_SIZE
            || !self.page_size.is_multiple_of(64)
        {
            return bad(format!(
                "page_size is {}; it must be a multiple of 64 from 64 to {MAX_PAGE_SIZE}",
                self.page_size
            ));
        }
        debug_assert!(self.page_size > LINK_BYTES);
        if self.chain_bytes() > MAX_CHAIN_BYTES {
            return bad(format!(
                "pages x page_size is {} bytes; at most {MAX_CHAIN_BYTES} bytes are allowed",
                self.chain_bytes()
            ));
        }
        if !(1..=MAX_READER_SLOTS).contains(&self.reader_slots) {
            return bad(format!(
                "reader_slots is {}; it must be 1 to {MAX_READER_SLOTS}",
                self.reader_slots
            ));
        }
        if let Some(interval) = self.background_mutation
            && interval < MIN_MUTATION_INTERVAL
        {
            return bad(format!(
                "background mutation interval is {interval:?}; it must be at least {MIN_MUTATION_INTERVAL:?}"
            ));
        }
        if secret_len == 0 {
            return Err(Error::EmptySecret);
        }
        if secret_len > MAX_SECRET_LEN {
            return Err(Error::SecretTooLong {
                len: secret_len,
                max: MAX_SECRET_LEN,
            });
        }
        Ok(Geometry {
            pages: self.pages,
            page_size: self.page_size,
            secret_len,
        })
    }
}
