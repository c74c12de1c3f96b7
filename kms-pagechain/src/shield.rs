//! The shield: two chain buffers (active and standby), the sealed secret, plaintext buffers for
//! readers, and the optional background mutator.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{
    Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard, TryLockError,
};
use std::thread::JoinHandle;
use std::time::Duration;

use zeroize::{Zeroize, Zeroizing};

use crate::chain::{self, Geometry, TAG_BYTES};
use crate::config::ShieldConfig;
use crate::error::{Error, MemlockLimit};
use crate::sys::{self, MapError, Region};

/// A secret kept in memory only as ciphertext under the hash of a chain of random pages.
///
/// The secret is XChaCha20-Poly1305-encrypted under a key derived (BLAKE3 `derive_key`) from
/// every byte of a chain of random pages, read in the chain's link order, which is a random
/// permutation unrelated to the pages' addresses. Reading the secret needs every byte of every
/// page, in the right order, plus the ciphertext. All of it lives in private, `mlock`ed memory
/// that is excluded from core dumps and zero-filled in forked children, and is wiped and unmapped
/// on drop.
///
/// `Shield` is `Send + Sync`; share it by reference or in an `Arc`. Every state change (a fresh
/// chain after a use, [`mutate`](Self::mutate), the background mutator) happens under a write
/// lock and is published only when complete, so no caller ever sees a half-built chain.
///
/// ```
/// use kms_pagechain::{MemoryLocking, Shield, ShieldConfig};
///
/// # fn main() -> Result<(), kms_pagechain::Error> {
/// let master_key = vec![0x42u8; 32];
/// let shield = Shield::new(master_key, ShieldConfig::default())?;
/// let first_byte = shield.with_secret(|key| key[0])?;
/// assert_eq!(first_byte, 0x42);
/// shield.mutate()?;
/// assert_eq!(shield.with_secret(|key| key.len())?, 32);
/// # Ok(())
/// # }
/// ```
pub struct Shield {
    shared: Arc<Shared>,
    mutator: Option<Mutator>,
    preparer: Option<Preparer>,
}

/// One memory mapping owned by a shield, for audits (for example against `/proc/self/smaps`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryRegion {
    /// Start address.
    pub start: usize,
    /// Length in bytes.
    pub len: usize,
    /// Whether the region is locked in RAM.
    pub locked: bool,
    /// What the region holds.
    pub kind: RegionKind,
}

/// What a [`MemoryRegion`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegionKind {
    /// A page chain (the active one, the standby buffer, or a spare built ahead of time).
    Chain,
    /// The sealed secret (ciphertext and tag, active and standby).
    Sealed,
    /// A plaintext buffer lent to `with_secret` closures; zero between uses.
    Plaintext,
    /// Scratch space in which a chain is laid out in chain order to be hashed in one piece; zero
    /// except during a key derivation.
    Scratch,
}

struct Shared {
    state: RwLock<State>,
    /// Scratch for [`chain::derive_key`]; taken with `try_lock`, so concurrent readers that find
    /// it busy hash page by page instead of waiting.
    scratch: Mutex<Region>,
    slots: SlotPool,
    geom: Geometry,
    aad: Vec<u8>,
    config: ShieldConfig,
    chain_len: usize,
    mutations: AtomicU64,
    /// Completed `mutate` calls: spare chains built before the latest one are not used.
    epoch: AtomicU64,
    background_failures: AtomicU64,
}

/// Both chain buffers and both sealed slots; `active` says which side holds the live chain.
struct State {
    chains: [Region; 2],
    heads: [usize; 2],
    sealed: Region,
    stride: usize,
    active: usize,
}

struct Mutator {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    /// The process that started the thread (a forked child has no such thread to join).
    pid: u32,
}

/// Chains the preparer keeps built ahead. Two, so that one is ready while the thread rebuilds the
/// other: with one, back-to-back uses alternate between a prepared chain and building their own
/// (measured: half the uses), because a use often comes before the thread has woken up.
const SPARES: usize = 2;

/// A chain built ahead of its use: random pages and links only. Its key is derived by the use
/// that installs it, never ahead (a key waiting in memory would let two small reads, the key
/// before a use and the sealed secret after it, replace reading a whole chain).
struct Spare {
    region: Region,
    head: usize,
    /// The shield's [`Shared::epoch`] when the build started.
    epoch: u64,
}

/// The background preparer: a thread that rebuilds chain buffers handed back by `with_secret`
/// (each a chain that was just read and is now useless) into spare chains, so that a use does
/// not generate the next chain itself.
struct Preparer {
    ready: Arc<Mutex<Vec<Spare>>>,
    todo: Option<mpsc::Sender<Region>>,
    thread: Option<JoinHandle<()>>,
    /// The process that started the thread (a forked child has no such thread).
    pid: u32,
}

/// Builds a chain in `region` and adds it to the spares.
fn prepare(
    ready: &Mutex<Vec<Spare>>,
    mut region: Region,
    geom: Geometry,
    epoch: &AtomicU64,
) -> Result<(), Error> {
    let epoch = epoch.load(Ordering::Acquire);
    let head = chain::build(&mut region, geom)?;
    ready
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Spare {
            region,
            head,
            epoch,
        });
    Ok(())
}

impl Preparer {
    /// Starts the thread with [`SPARES`] spares already built (so the first uses benefit too).
    fn start(shared: &Arc<Shared>) -> Result<Self, Error> {
        let (geom, lock) = (shared.geom, shared.config.lock());
        let ready = Arc::new(Mutex::new(Vec::with_capacity(SPARES)));
        for _ in 0..SPARES {
            prepare(
                &ready,
                map_region(shared.chain_len, lock)?,
                geom,
                &shared.epoch,
            )?;
        }
        sys::scrub_stack();
        let (todo, jobs) = mpsc::channel::<Region>();
        let for_thread = Arc::clone(&ready);
        let counters = Arc::clone(shared);
        let thread = std::thread::Builder::new()
            .name("kms-pagechain-preparer".to_owned())
            .spawn(move || {
                // Ends when the shield drops the sender.
                while let Ok(region) = jobs.recv() {
                    // Only the OS RNG can fail. The region is then dropped (wiped and unmapped)
                    // and one spare fewer circulates; uses without a spare build their own.
                    if prepare(&for_thread, region, geom, &counters.epoch).is_err() {
                        counters.background_failures.fetch_add(1, Ordering::Relaxed);
                    }
                    sys::scrub_stack();
                }
            })
            .map_err(Error::Thread)?;
        Ok(Self {
            ready,
            todo: Some(todo),
            thread: Some(thread),
            pid: std::process::id(),
        })
    }

    /// A ready spare built since the latest `mutate` (`epoch`), if there is one. Older spares
    /// found on the way go back to the thread for rebuilding: no spare built before a mutation
    /// is used after it.
    fn take(&self, epoch: u64) -> Option<Spare> {
        let mut ready = self.ready.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(spare) = ready.pop() {
            if spare.epoch == epoch {
                return Some(spare);
            }
            self.recycle(spare.region);
        }
        None
    }

    /// Hands a used chain buffer back to the thread. In a forked child, where the thread does
    /// not exist (its channel would accept the buffer and keep it forever), the buffer is
    /// dropped instead: wiped and unmapped.
    fn recycle(&self, region: Region) {
        if std::process::id() != self.pid {
            return;
        }
        if let Some(todo) = &self.todo {
            let _ = todo.send(region);
        }
    }
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// Maps a region and turns a failure into the crate's error, with `RLIMIT_MEMLOCK` for mlock.
fn map_region(bytes: usize, lock: bool) -> Result<Region, Error> {
    Region::map(bytes, lock).map_err(|e| match e {
        MapError::Map(source) => Error::Map { bytes, source },
        MapError::Advise(advice, source) => Error::Advise { advice, source },
        MapError::Lock(source) => {
            let limit = sys::memlock_limit().map_or(
                MemlockLimit {
                    soft: None,
                    hard: None,
                },
                |l| MemlockLimit {
                    soft: l.soft,
                    hard: l.hard,
                },
            );
            Error::MemoryLock {
                bytes,
                limit,
                source,
            }
        }
    })
}

impl State {
    fn sealed_range(&self, side: usize, geom: Geometry) -> std::ops::Range<usize> {
        let start = side * self.stride;
        start..start + geom.secret_len + TAG_BYTES
    }

    /// Derives the key from the active chain and decrypts into `out`.
    fn unshield_into(
        &self,
        geom: Geometry,
        aad: &[u8],
        out: &mut [u8],
        scratch: Option<&mut [u8]>,
    ) -> Result<(), Error> {
        let side = self.active;
        let key = chain::derive_key(&self.chains[side], self.heads[side], geom, scratch)?;
        chain::open(
            &key,
            aad,
            &self.sealed.as_slice()[self.sealed_range(side, geom)],
            out,
        )
    }

    /// Builds a fresh chain in the standby buffer, seals `plain` under it, then makes it active
    /// and wipes the previous ciphertext. On failure the active side is untouched.
    fn reshield_from(
        &mut self,
        geom: Geometry,
        aad: &[u8],
        plain: &[u8],
        scratch: Option<&mut [u8]>,
    ) -> Result<(), Error> {
        let side = 1 - self.active;
        match chain::build(&mut self.chains[side], geom) {
            Ok(head) => {
                let key = chain::derive_key(&self.chains[side], head, geom, scratch);
                self.seal_into_standby(geom, aad, plain, head, key)
            }
            Err(e) => {
                sys::wipe(self.chains[side].as_mut_slice());
                Err(e)
            }
        }
    }

    /// Installs a chain built ahead of time as the standby side, derives its key, seals `plain`
    /// under it and makes it active. Returns the buffer it displaced (an old chain, useless
    /// without its ciphertext) for rebuilding. On failure the active side is untouched.
    fn reshield_with_spare(
        &mut self,
        geom: Geometry,
        aad: &[u8],
        plain: &[u8],
        spare: Spare,
        scratch: Option<&mut [u8]>,
    ) -> Result<Region, Error> {
        let side = 1 - self.active;
        let displaced = std::mem::replace(&mut self.chains[side], spare.region);
        let key = chain::derive_key(&self.chains[side], spare.head, geom, scratch);
        self.seal_into_standby(geom, aad, plain, spare.head, key)?;
        Ok(displaced)
    }

    /// Seals `plain` under the standby chain (built, starting at `head`; `key` is its key, or
    /// the error deriving it), makes it active and wipes the previous ciphertext. On failure the
    /// standby side is wiped and the active side is untouched.
    fn seal_into_standby(
        &mut self,
        geom: Geometry,
        aad: &[u8],
        plain: &[u8],
        head: usize,
        key: Result<chain::ChainKey, Error>,
    ) -> Result<(), Error> {
        let side = 1 - self.active;
        let range = self.sealed_range(side, geom);
        let sealed = key.and_then(|key| {
            let buf = &mut self.sealed.as_mut_slice()[range.clone()];
            buf[..geom.secret_len].copy_from_slice(plain);
            chain::seal(&key, aad, buf, geom.secret_len)
        });
        match sealed {
            Ok(()) => {
                self.heads[side] = head;
                let old = self.active;
                self.active = side;
                // Without its ciphertext the old chain protects nothing; it is left in place to
                // be overwritten by the next build (a 16 KiB wipe per use saved), and wiped when
                // the buffer is remapped by `mutate` or the shield is dropped.
                let old_range = self.sealed_range(old, geom);
                sys::wipe(&mut self.sealed.as_mut_slice()[old_range]);
                Ok(())
            }
            Err(e) => {
                sys::wipe(&mut self.sealed.as_mut_slice()[range]);
                sys::wipe(self.chains[side].as_mut_slice());
                Err(e)
            }
        }
    }
}

impl State {
    /// Like [`reshield_from`](Self::reshield_from), but re-keys the sealed secret from the active
    /// chain's key to the fresh chain's key without decrypting it (see `chain::rekey`): the
    /// plaintext never exists during a mutation.
    fn rekey_to_fresh_chain(
        &mut self,
        geom: Geometry,
        aad: &[u8],
        mut scratch: Option<&mut [u8]>,
    ) -> Result<(), Error> {
        let (old, side) = (self.active, 1 - self.active);
        let old_key = chain::derive_key(
            &self.chains[old],
            self.heads[old],
            geom,
            scratch.as_deref_mut(),
        )?;
        let (old_range, range) = (self.sealed_range(old, geom), self.sealed_range(side, geom));
        let built = chain::build(&mut self.chains[side], geom).and_then(|head| {
            let key = chain::derive_key(&self.chains[side], head, geom, scratch)?;
            let sealed = self.sealed.as_mut_slice();
            let (low, high) = sealed.split_at_mut(range.start.max(old_range.start));
            let (from, to) = if old_range.start < range.start {
                (&low[old_range.clone()], &mut high[..range.len()])
            } else {
                (&high[..old_range.len()], &mut low[range.clone()])
            };
            chain::rekey(&old_key, &key, aad, from, to)?;
            Ok(head)
        });
        match built {
            Ok(head) => {
                self.heads[side] = head;
                self.active = side;
                sys::wipe(&mut self.sealed.as_mut_slice()[old_range]);
                Ok(())
            }
            Err(e) => {
                sys::wipe(&mut self.sealed.as_mut_slice()[range]);
                sys::wipe(self.chains[side].as_mut_slice());
                Err(e)
            }
        }
    }
}

/// Plaintext buffers: a cache of mapped (and locked) regions. A reader takes one, or maps a fresh
/// one when all are lent out, and gives it back wiped.
struct SlotPool {
    free: Mutex<Vec<Region>>,
    keep: usize,
    bytes: usize,
    lock: bool,
    len: usize,
}

struct Slot<'a> {
    pool: &'a SlotPool,
    region: Option<Region>,
}

impl SlotPool {
    fn new(keep: usize, bytes: usize, lock: bool, len: usize) -> Result<Self, Error> {
        let mut free = Vec::with_capacity(keep);
        for _ in 0..keep {
            free.push(map_region(bytes, lock)?);
        }
        Ok(Self {
            free: Mutex::new(free),
            keep,
            bytes,
            lock,
            len,
        })
    }

    fn acquire(&self) -> Result<Slot<'_>, Error> {
        let cached = self
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop();
        let region = match cached {
            Some(region) => region,
            None => map_region(self.bytes, self.lock)?,
        };
        Ok(Slot {
            pool: self,
            region: Some(region),
        })
    }
}

impl Slot<'_> {
    fn buf(&mut self) -> &mut [u8] {
        let len = self.pool.len;
        match self.region.as_mut() {
            Some(region) => &mut region.as_mut_slice()[..len],
            None => &mut [],
        }
    }
}

impl Drop for Slot<'_> {
    /// Wipes the plaintext and scrubs the stack below the caller, also while unwinding from a
    /// panicking closure.
    fn drop(&mut self) {
        if let Some(mut region) = self.region.take() {
            sys::wipe(region.as_mut_slice());
            let mut free = self
                .pool
                .free
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if free.len() < self.pool.keep {
                free.push(region);
            }
        }
        sys::scrub_stack();
    }
}

impl Shared {
    fn read(&self) -> RwLockReadGuard<'_, State> {
        // Poisoning cannot leave a torn state: a state change is published by one assignment
        // of `active` after the new side is complete.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The scratch region if no other reader holds it (never waits).
    fn scratch(&self) -> Option<MutexGuard<'_, Region>> {
        match self.scratch.try_lock() {
            Ok(guard) => Some(guard),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    fn mutate(&self) -> Result<(), Error> {
        // A fresh mapping for the next chain, so the chain also moves to new addresses. Mapped
        // before taking the lock to keep readers waiting only for the cryptography.
        let fresh = map_region(self.chain_len, self.config.lock())?;
        let done = {
            let mut state = self.write();
            let mut scratch = self.scratch();
            let standby = 1 - state.active;
            state.chains[standby] = fresh;
            let done = state.rekey_to_fresh_chain(
                self.geom,
                &self.aad,
                scratch.as_mut().map(|r| r.as_mut_slice()),
            );
            if done.is_ok() {
                // Under the write lock: no use can take a spare between the swap and this.
                self.epoch.fetch_add(1, Ordering::AcqRel);
            }
            done
        };
        sys::scrub_stack();
        done?;
        self.mutations.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// An owner of secret bytes on the heap that [`Shield::new`] can consume: moving it moves only a
/// pointer, so the secret bytes are never copied onto the stack on the way in, and zeroizing it
/// wipes the only copy.
///
/// Implemented for `Vec<u8>`, `Box<[u8]>` and their `Zeroizing` wrappers. Deliberately not for
/// arrays: `[u8; N]` is `Copy`, so passing one by value would leave the caller's copy intact
/// (use [`Shield::from_mut_slice`] for a buffer the caller keeps). Implement it for your own type
/// only if the same holds for it.
///
/// ```compile_fail
/// use kms_pagechain::{Shield, ShieldConfig};
/// let key = [0x42u8; 32];
/// // An array is copied into the call: refused at compile time.
/// let shield = Shield::new(key, ShieldConfig::default());
/// ```
pub trait HeapSecret: Zeroize {
    /// The secret bytes.
    fn secret_bytes(&self) -> &[u8];
}

impl HeapSecret for Vec<u8> {
    fn secret_bytes(&self) -> &[u8] {
        self
    }
}

impl HeapSecret for Box<[u8]> {
    fn secret_bytes(&self) -> &[u8] {
        self
    }
}

impl<T: HeapSecret> HeapSecret for Zeroizing<T> {
    fn secret_bytes(&self) -> &[u8] {
        (**self).secret_bytes()
    }
}

impl Shield {
    /// Shields `secret` and wipes the caller's copy (also when this fails).
    ///
    /// Pass an owner of heap bytes ([`HeapSecret`]: `Vec<u8>`, `Box<[u8]>`,
    /// `Zeroizing<Vec<u8>>`): moving it moves only a pointer, so the secret bytes are never
    /// copied onto the stack. Secrets of 1 to [`MAX_SECRET_LEN`](crate::MAX_SECRET_LEN) bytes are
    /// accepted.
    ///
    /// Costs two chain mappings, a hashing scratch of one chain plus 13 bytes (rounded up to OS
    /// pages), one sealed-secret page and the plaintext buffers: 72 KiB locked with the
    /// defaults; with [`prepare_ahead`](ShieldConfig::prepare_ahead) also two spare chains
    /// (32 KiB) and the preparer thread. Building it all takes about 0.3 ms.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`], [`Error::EmptySecret`], [`Error::SecretTooLong`];
    /// [`Error::MemoryLock`] when mlock is refused (the message says how to raise
    /// `RLIMIT_MEMLOCK`); [`Error::Map`], [`Error::Advise`], [`Error::Random`],
    /// [`Error::Thread`].
    pub fn new<S: HeapSecret>(mut secret: S, config: ShieldConfig) -> Result<Self, Error> {
        let shield = Self::build(secret.secret_bytes(), config);
        secret.zeroize();
        shield
    }

    /// Like [`new`](Self::new) for a secret in a buffer the caller keeps: copies it into the
    /// shield and overwrites `secret` with zeros (also when this fails).
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn from_mut_slice(secret: &mut [u8], config: ShieldConfig) -> Result<Self, Error> {
        let shield = Self::build(secret, config);
        sys::wipe(secret);
        shield
    }

    fn build(secret: &[u8], config: ShieldConfig) -> Result<Self, Error> {
        let geom = config.geometry(secret.len())?;
        let page = sys::os_page_size();
        let lock = config.lock();
        let chain_len = round_up(geom.chain_bytes(), page);
        let stride = round_up(geom.secret_len + TAG_BYTES, 64);
        let mut scratch = map_region(round_up(chain::gather_bytes(geom), page), lock)?;
        let mut state = State {
            chains: [map_region(chain_len, lock)?, map_region(chain_len, lock)?],
            heads: [0, 0],
            sealed: map_region(round_up(2 * stride, page), lock)?,
            stride,
            active: 1,
        };
        let aad = geom.aad();
        let sealed = state.reshield_from(geom, &aad, secret, Some(scratch.as_mut_slice()));
        sys::scrub_stack();
        sealed?;
        let slots = SlotPool::new(
            config.slots(),
            round_up(geom.secret_len, page),
            lock,
            geom.secret_len,
        )?;
        let interval = config.mutation_interval();
        let shared = Arc::new(Shared {
            state: RwLock::new(state),
            scratch: Mutex::new(scratch),
            slots,
            geom,
            aad,
            config,
            chain_len,
            mutations: AtomicU64::new(0),
            epoch: AtomicU64::new(0),
            background_failures: AtomicU64::new(0),
        });
        let preparer = if shared.config.reshields_after_use() && shared.config.prepares_ahead() {
            Some(Preparer::start(&shared)?)
        } else {
            None
        };
        let mutator = match interval {
            Some(interval) => Some(spawn_mutator(Arc::clone(&shared), interval)?),
            None => None,
        };
        Ok(Self {
            shared,
            mutator,
            preparer,
        })
    }

    /// Runs `f` with the secret and returns what `f` returns.
    ///
    /// The key is recomputed from the chain, the secret decrypted into a locked buffer that
    /// exists only for this call, and, unless re-shielding after use is turned off, the chain
    /// replaced by a fresh one and the secret re-sealed under it *before* `f` runs (the chain that
    /// was just read is already gone when `f` sees the secret). The keys and every cryptographic
    /// intermediate are wiped, and the 16 KiB of stack below this call scrubbed, before `f`
    /// runs; after `f` returns the buffer is wiped and the stack scrubbed again; if `f` panics
    /// the buffer is wiped while unwinding. `f` may call this shield again (nested calls get
    /// their own buffer).
    ///
    /// Cost with the default chain: about 11 µs on the reference machine (see the crate's
    /// benchmarks): two 16 KiB BLAKE3 hashes (the chain read and the next one), 16 KiB of BLAKE3
    /// XOF output for the next chain (skipped when a chain prepared ahead is ready), a 32-byte
    /// OS-RNG read and two short AEAD operations. Copying the secret out of `f` defeats the
    /// shield; derive what you need inside `f`.
    ///
    /// # Errors
    /// [`Error::DecryptionFailed`] or [`Error::ChainCorrupted`] if the shield's memory was
    /// altered; [`Error::Random`] if the OS RNG fails while building the next chain (the secret
    /// stays shielded under the current one); [`Error::MemoryLock`] or [`Error::Map`] if more
    /// concurrent readers than `reader_slots` need a buffer and none can be mapped.
    pub fn with_secret<R>(&self, f: impl FnOnce(&[u8]) -> R) -> Result<R, Error> {
        let shared = &*self.shared;
        let mut slot = shared.slots.acquire()?;
        {
            let plain = slot.buf();
            if shared.config.reshields_after_use() {
                let mut state = shared.write();
                let mut scratch = shared.scratch();
                let mut scratch = scratch.as_mut().map(|r| r.as_mut_slice());
                state.unshield_into(shared.geom, &shared.aad, plain, scratch.as_deref_mut())?;
                // A spare chain built in the background if one is ready, else one built now.
                let epoch = shared.epoch.load(Ordering::Acquire);
                let displaced = match self.preparer.as_ref().and_then(|p| p.take(epoch)) {
                    Some(spare) => Some(state.reshield_with_spare(
                        shared.geom,
                        &shared.aad,
                        plain,
                        spare,
                        scratch,
                    )?),
                    None => {
                        state.reshield_from(shared.geom, &shared.aad, plain, scratch)?;
                        None
                    }
                };
                drop(state);
                shared.mutations.fetch_add(1, Ordering::Relaxed);
                if let (Some(preparer), Some(region)) = (&self.preparer, displaced) {
                    preparer.recycle(region);
                }
            } else {
                let state = shared.read();
                let mut scratch = shared.scratch();
                state.unshield_into(
                    shared.geom,
                    &shared.aad,
                    plain,
                    scratch.as_mut().map(|r| r.as_mut_slice()),
                )?;
            }
        }
        // The frames of the cryptography above lay below this one; `f` gets a clean stack.
        sys::scrub_stack();
        // Dropping the slot wipes it and scrubs the stack again, for the frames of `f`.
        let out = f(slot.buf());
        drop(slot);
        Ok(out)
    }

    /// Replaces the chain with a fresh one (new page contents, new link order, new mapping
    /// addresses) and re-keys the sealed secret to it **without decrypting it** (see SPEC.md,
    /// "Re-keying"). Concurrent readers wait for the swap; none sees a half-built chain.
    ///
    /// # Errors
    /// [`Error::DecryptionFailed`] or [`Error::ChainCorrupted`] if the shield's memory was
    /// altered, [`Error::Random`], and [`Error::Map`] / [`Error::MemoryLock`] for the new
    /// mapping. On error the secret stays shielded under the current chain.
    pub fn mutate(&self) -> Result<(), Error> {
        self.shared.mutate()
    }

    /// How many times the chain has been replaced (re-shields after use, `mutate` calls and
    /// background mutations).
    pub fn mutations(&self) -> u64 {
        self.shared.mutations.load(Ordering::Relaxed)
    }

    /// How many background operations failed: mutations by the background mutator (each leaves
    /// the secret under the previous chain) and spare builds by the preparer (each leaves one
    /// spare fewer; uses then build their own chain).
    pub fn background_failures(&self) -> u64 {
        self.shared.background_failures.load(Ordering::Relaxed)
    }

    /// Length of the shielded secret in bytes.
    pub fn secret_len(&self) -> usize {
        self.shared.geom.secret_len
    }

    /// The configuration this shield was built with.
    pub fn config(&self) -> &ShieldConfig {
        &self.shared.config
    }

    /// The memory mappings this shield owns right now (both chain buffers, the sealed secret,
    /// the hashing scratch, the spare chains that are ready and the idle plaintext buffers; a
    /// chain buffer being rebuilt by the preparer thread is not listed), for audits against
    /// `/proc/self/smaps`. Addresses change when the shield mutates.
    pub fn memory_regions(&self) -> Vec<MemoryRegion> {
        let describe = |r: &Region, kind| MemoryRegion {
            start: r.start(),
            len: r.len(),
            locked: r.is_locked(),
            kind,
        };
        let state = self.shared.read();
        let mut out: Vec<MemoryRegion> = state
            .chains
            .iter()
            .map(|r| describe(r, RegionKind::Chain))
            .collect();
        out.push(describe(&state.sealed, RegionKind::Sealed));
        drop(state);
        out.push(describe(
            &self
                .shared
                .scratch
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
            RegionKind::Scratch,
        ));
        if let Some(preparer) = &self.preparer {
            let ready = preparer
                .ready
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            out.extend(
                ready
                    .iter()
                    .map(|spare| describe(&spare.region, RegionKind::Chain)),
            );
        }
        let free = self
            .shared
            .slots
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        out.extend(free.iter().map(|r| describe(r, RegionKind::Plaintext)));
        out
    }
}

fn spawn_mutator(shared: Arc<Shared>, interval: Duration) -> Result<Mutator, Error> {
    let (stop, stopped) = mpsc::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("kms-pagechain-mutator".to_owned())
        .spawn(move || {
            // Any message or a dropped sender (the shield is being dropped) ends the loop.
            while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                if shared.mutate().is_err() {
                    shared.background_failures.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
        .map_err(Error::Thread)?;
    Ok(Mutator {
        stop: Some(stop),
        thread: Some(thread),
        pid: std::process::id(),
    })
}

impl Drop for Shield {
    /// Stops the threads, then wipes and unmaps everything. In a forked child (which has the
    /// memory but none of the threads) the threads are not joined: glibc marks the parent's
    /// threads as exited in the child, so a join would return at once there, but nothing
    /// guarantees that elsewhere, and there is nothing to wait for.
    fn drop(&mut self) {
        let here = std::process::id();
        if let Some(mut preparer) = self.preparer.take() {
            drop(preparer.todo.take());
            if let Some(thread) = preparer.thread.take()
                && preparer.pid == here
            {
                // It only builds chains and exits once the sender is gone.
                let _ = thread.join();
            }
            // The spares are dropped with `preparer`: wiped and unmapped.
        }
        if let Some(mut mutator) = self.mutator.take() {
            drop(mutator.stop.take());
            if let Some(thread) = mutator.thread.take()
                && mutator.pid == here
            {
                // The thread only mutates and exits; a panic there has nothing left to clean up.
                let _ = thread.join();
            }
        }
    }
}

impl fmt::Debug for Shield {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let geom = self.shared.geom;
        f.debug_struct("Shield")
            .field("pages", &geom.pages)
            .field("page_size", &geom.page_size)
            .field("secret_len", &geom.secret_len)
            .field(
                "reshield_after_use",
                &self.shared.config.reshields_after_use(),
            )
            .field("prepare_ahead", &self.preparer.is_some())
            .field("memory_locking", &self.shared.config.locking())
            .field(
                "background_mutation",
                &self.shared.config.mutation_interval(),
            )
            .field("mutations", &self.mutations())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
impl Shield {
    /// Test access: start addresses of the spare chains ready now.
    pub(crate) fn spare_addresses(&self) -> Vec<usize> {
        self.preparer.as_ref().map_or_else(Vec::new, |p| {
            let ready = p.ready.lock().unwrap_or_else(PoisonError::into_inner);
            ready.iter().map(|s| s.region.start()).collect()
        })
    }

    /// Test access: start address of the active chain.
    pub(crate) fn active_address(&self) -> usize {
        let state = self.shared.read();
        state.chains[state.active].start()
    }

    /// Test access to the live state: `f(active chain bytes, head, active sealed bytes)`.
    pub(crate) fn with_live_state<R>(&self, f: impl FnOnce(&mut [u8], usize, &mut [u8]) -> R) -> R {
        let geom = self.shared.geom;
        let mut state = self.shared.write();
        let side = state.active;
        let head = state.heads[side];
        let range = state.sealed_range(side, geom);
        let State { chains, sealed, .. } = &mut *state;
        f(
            chains[side].as_mut_slice(),
            head,
            &mut sealed.as_mut_slice()[range],
        )
    }
}
