//! `raydium-v4-swap` 2.0.0: one swap on the Raydium AMM v4 program from the user's associated
//! token account of `mint_in` to the user's associated token account of `mint_out`, input at
//! most `max_amount_in`, output at least `min_amount_out`, in one of the layouts of
//! `raydium-amm` `program/src/instruction.rs` (commit 27f461d):
//! - `SwapBaseIn` (9) / `SwapBaseOut` (11) with 18 accounts, or 17 without the AMM target
//!   orders account (which the program no longer reads);
//! - `SwapBaseInV2` (16) / `SwapBaseOutV2` (17) with 8 accounts (no order book).
//!
//! Before it, optionally: a durable-nonce advance of the authorized nonce account only,
//! compute-budget instructions within the caps and the priority-fee maximum, the wrapped-SOL
//! sequence (create idempotent, transfer, syncNative) and an idempotent creation of the output
//! account; after it, closeAccount of wrapped SOL back to the user. The AMM authority is the
//! program's fixed PDA. Pool and market accounts may come from lookup tables: the Raydium
//! program checks them against the pool state, and none of them can receive the user's output;
//! the token program and the user's three accounts must be static keys.
#![no_std]

use kms_module_sdk::kms_solana::programs::{RAYDIUM_AMM_V4_PROGRAM, TOKEN_PROGRAM};
use kms_module_sdk::kms_solana::{AccountRef, Address, Message};
use kms_module_sdk::{
    Check, Common, FeePolicy, Params, Shape, SwapSides, address, le_u64, reject, reject_at,
    swap_epilogue, swap_prelude,
};

kms_module_sdk::module! {
    schema: include_bytes!("../schema.txt"),
    validate: validate,
}

/// The AMM authority, the program's PDA of `b"amm authority"`.
pub const AMM_AUTHORITY: Address = address!("5Q544fKrFoe6tsEbD7S8EmxGTJYAKtTVhAW5Q5pge4j1");

/// Checks the shape (see the crate docs).
pub fn validate(msg: &Message<'_>, _loaded: &[Address], p: &mut Params<'_>) -> Check {
    let c = Common::read(p)?;
    let mint_in = p.pubkey()?;
    let mint_out = p.pubkey()?;
    let token_program = p.token_program()?;
    let max_in = p.u64()?;
    let min_out = p.u64()?;
    let source = p.pubkey()?;
    let destination = p.pubkey()?;
    let fees = FeePolicy::read(p)?;
    if *token_program != TOKEN_PROGRAM {
        return Err(reject("Raydium AMM v4 pools hold SPL Token mints only"));
    }
    if mint_in == mint_out {
        return Err(reject("input and output mint are the same"));
    }
    let w = SwapSides {
        user: c.user,
        mint_in,
        program_in: token_program,
        source,
        mint_out,
        program_out: token_program,
        destination,
        max_in,
    };
    let mut s = Shape::begin(msg, c.user)?;
    s.preamble(&c, &fees)?;
    swap_prelude(&mut s, &w)?;
    let ix = s.next("missing the Raydium swap")?;
    if *ix.program != RAYDIUM_AMM_V4_PROGRAM {
        return Err(reject_at(ix.index, "expected the Raydium AMM v4 program"));
    }
    let d = ix.ix.data;
    let (a, b) = match (d.len(), le_u64(d, 1), le_u64(d, 9)) {
        (17, Some(a), Some(b)) => (a, b),
        _ => return Err(reject_at(ix.index, "unknown Raydium instruction layout")),
    };
    // Both forms carry (input bound, output bound): swapBaseIn (amount_in, minimum_amount_out),
    // swapBaseOut (max_amount_in, amount_out).
    let n = ix.ix.accounts.len();
    match (d[0], n) {
        (9 | 11, 17 | 18) | (16 | 17, 8) => {}
        (9 | 11 | 16 | 17, _) => {
            return Err(reject_at(ix.index, "unknown Raydium account layout"));
        }
        _ => {
            return Err(reject_at(
                ix.index,
                "only swapBaseIn, swapBaseOut and their V2 forms are allowed",
            ));
        }
    }
    let (amount_in_cap, amount_out_floor) = (a, b);
    if amount_in_cap > max_in {
        return Err(reject_at(
            ix.index,
            "input amount above the authorized maximum",
        ));
    }
    if amount_out_floor < min_out {
        return Err(reject_at(
            ix.index,
            "minimum output below the authorized minimum",
        ));
    }
    s.key(&ix, 0, token_program, false, "wrong token program")?;
    s.mark(&ix, 1, true); // the AMM: checked by Raydium
    // The AMM authority signs for the vaults; Raydium checks it too. From a lookup table it
    // cannot be read here, and it is readonly either way.
    let authority = ix.ix.accounts.get(2).and_then(|&k| msg.account(k));
    if matches!(authority, Some(AccountRef::Static(k)) if *k != AMM_AUTHORITY) {
        return Err(reject_at(ix.index, "wrong Raydium AMM authority"));
    }
    s.mark(&ix, 2, false);
    for k in 3..n - 3 {
        // Open orders, (target orders,) vaults, market: checked by Raydium.
        s.mark(&ix, k, true);
    }
    s.key(
        &ix,
        n - 3,
        source,
        true,
        "swap input is not the user's account of the input mint",
    )?;
    s.key(
        &ix,
        n - 2,
        destination,
        true,
        "swap output goes to an account other than the user's account of the output mint",
    )?;
    s.key(&ix, n - 1, c.user, true, "swap authority is not the user")?;
    if !s.is_signer(&ix, n - 1) {
        return Err(reject_at(ix.index, "swap authority is not a signer"));
    }
    swap_epilogue(&mut s, &w)?;
    s.finish()
}
