//! The `wasm32` side of ABI v1: one static input arena, one static reason buffer, the panic
//! handler. The host makes a fresh instance per validation and calls the exports one at a time
//! on one thread, so no two borrows of these statics are ever alive together.
#![allow(unsafe_code)]

use core::cell::UnsafeCell;

use crate::{Check, MALFORMED_MESSAGE, Params, Reason, run_native};
use kms_solana::{Address, Message};

/// Message (1232) + loaded accounts (256 × 32) + parameters (1024): the host's limits.
const ARENA_LEN: usize = 1232 + 256 * 32 + 1024;

#[repr(align(8))]
struct Arena(UnsafeCell<[u8; ARENA_LEN]>);
// SAFETY: wasm32-unknown-unknown modules are single-threaded; see the module comment.
unsafe impl Sync for Arena {}
static ARENA: Arena = Arena(UnsafeCell::new([0; ARENA_LEN]));

struct ReasonCell(UnsafeCell<Reason>);
// SAFETY: as for `Arena`.
unsafe impl Sync for ReasonCell {}
static REASON: ReasonCell = ReasonCell(UnsafeCell::new(Reason::new()));

/// `kms_alloc`: the arena for any `len` up to its size (the host allocates once per instance).
pub fn alloc(len: i32) -> i32 {
    match usize::try_from(len) {
        Ok(l) if l <= ARENA_LEN => ARENA.0.get() as usize as i32,
        _ => 0,
    }
}

fn slice(arena: &[u8], ptr: i32, len: i32) -> Option<&[u8]> {
    let base = arena.as_ptr() as usize;
    let start = usize::try_from(ptr).ok()?.checked_sub(base)?;
    let end = start.checked_add(usize::try_from(len).ok()?)?;
    arena.get(start..end)
}

/// `kms_validate`.
pub fn validate(
    mp: i32,
    ml: i32,
    lp: i32,
    ll: i32,
    pp: i32,
    pl: i32,
    f: fn(&Message<'_>, &[Address], &mut Params<'_>) -> Check,
) -> i32 {
    // SAFETY: the host wrote the inputs before this call and does not touch memory during it;
    // single-threaded, and no `&mut` to the arena exists anywhere (the host writes from outside).
    let arena: &[u8; ARENA_LEN] = unsafe { &*ARENA.0.get() };
    // SAFETY: the only borrow of REASON during this call (see the module comment).
    let reason: &mut Reason = unsafe { &mut *REASON.0.get() };
    match (
        slice(arena, mp, ml),
        slice(arena, lp, ll),
        slice(arena, pp, pl),
    ) {
        (Some(m), Some(l), Some(p)) => run_native(f, m, l, p, reason),
        _ => {
            reason.set(None, "inputs are not inside the allocated arena");
            MALFORMED_MESSAGE
        }
    }
}

/// `kms_reason`: `ptr | len << 32`.
pub fn reason() -> i64 {
    // SAFETY: the only borrow of REASON during this call.
    let r: &Reason = unsafe { &*REASON.0.get() };
    let b = r.as_bytes();
    ((b.len() as i64) << 32) | (b.as_ptr() as usize as i64)
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}
