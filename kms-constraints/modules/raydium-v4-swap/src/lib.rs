//! `raydium-v4-swap`: one `swapBaseIn` (9) or `swapBaseOut` (11) on the Raydium AMM v4 program
//! from the user's associated token account of `mint_in` to the user's associated token account
//! of `mint_out`, input at most `max_amount_in`, output at least `min_amount_out`; optionally
//! compute-budget instructions within the caps, the wrapped-SOL sequence (create idempotent,
//! transfer, syncNative, closeAccount back to the user) and an idempotent creation of the
//! output account. Pool and market accounts (positions 1 to n-4) may come from lookup tables:
//! the Raydium program checks them against the pool state, and none of them can receive the
//! user's output; the token program and the user's three accounts must be static keys.
#![no_std]

use kms_module_sdk::kms_solana::programs::{RAYDIUM_AMM_V4_PROGRAM, TOKEN_PROGRAM};
use kms_module_sdk::kms_solana::{Address, Message};
use kms_module_sdk::{
    Check, Common, Params, Shape, SwapSides, le_u64, reject, reject_at, swap_epilogue, swap_prelude,
};

kms_module_sdk::module! {
    schema: include_bytes!("../schema.txt"),
    validate: validate,
}

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
    s.compute_budget(c.max_cu_limit, c.max_cu_price)?;
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
    let (amount_in_cap, amount_out_floor) = match d[0] {
        9 => (a, b),  // swapBaseIn: amount_in, minimum_amount_out
        11 => (a, b), // swapBaseOut: max_amount_in, amount_out
        _ => {
            return Err(reject_at(
                ix.index,
                "only swapBaseIn and swapBaseOut are allowed",
            ));
        }
    };
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
    let n = ix.ix.accounts.len();
    if n != 17 && n != 18 {
        return Err(reject_at(ix.index, "unknown Raydium account layout"));
    }
    s.key(&ix, 0, token_program, false, "wrong token program")?;
    for k in 1..n - 3 {
        // Pool, authority, open orders, (target orders,) vaults, market: checked by Raydium.
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
