//! `jupiter-v6-route` 2.0.0: one Jupiter v6 `route`, `sharedAccountsRoute` or `exactOutRoute`
//! with the user as transfer authority, the user's associated token account of `mint_in` as
//! source and of `mint_out` as destination, input at most `max_amount_in` (for exact-out: the
//! quoted input plus slippage plus the platform fee, which Jupiter takes in the input mint in
//! that mode, rounded up), guaranteed output at least `min_amount_out` (below), slippage
//! at most `max_slippage_bps`, platform fee at most `max_platform_fee_bps` and paid only to
//! `fee_account`. Optionally compute-budget instructions within the caps, the wrapped-SOL
//! sequence and an idempotent creation of the output account.
//!
//! **Guaranteed output.** Jupiter's own slippage check is relative to the quote in the
//! instruction, which whoever builds the transaction chooses; a quote of 1 with slippage 0
//! lets a route through a pool the builder controls take the whole input. So the module
//! computes what Jupiter guarantees the user, in base units of `mint_out` and in `u128` (no
//! product can overflow), and refuses it below `min_amount_out`:
//!
//! - `route`, `sharedAccountsRoute`: `g = ⌊quoted_out × (10 000 − slippage_bps) / 10 000⌋`
//!   (`0` if `slippage_bps` ≥ 10 000), the floor Jupiter enforces on chain;
//! - `exactOutRoute`: `g = out_amount`, the exact output;
//!
//! then, whether Jupiter takes its platform fee from the output before or after that check,
//! `⌊g × (10 000 − platform_fee_bps) / 10 000⌋ ≥ min_amount_out`.
//!
//! Accounts loaded from lookup tables are allowed only in positions that cannot receive the
//! user's funds: `sharedAccountsRoute`'s program authority (a PDA that only signs) and the
//! route's remaining accounts (the legs' pools, whose vaults the AMM programs check; a leg may
//! not name the user). The token programs, the user, the user's source and destination, the
//! mints, the fee account, `sharedAccountsRoute`'s two program token accounts (the user's input
//! and output pass through them), the event authority and the program must be static keys.
//! The route plan is decoded step by step with the swap variants of the v6 IDL this version
//! knows; an unknown variant is an unknown layout and is rejected, so the fixed fields after it
//! are read where Jupiter reads them, never guessed from the end.
#![no_std]

use kms_module_sdk::kms_solana::programs::{JUPITER_V6_PROGRAM, TOKEN_2022_PROGRAM, TOKEN_PROGRAM};
use kms_module_sdk::kms_solana::{Address, Message};
use kms_module_sdk::{
    Check, Common, Ix, Params, Shape, SwapSides, address, le_u16, le_u64, reject, reject_at,
    swap_epilogue, swap_prelude,
};

kms_module_sdk::module! {
    schema: include_bytes!("../schema.txt"),
    validate: validate,
}

/// Discriminator of `route`.
pub const ROUTE: [u8; 8] = [229, 23, 203, 151, 122, 227, 173, 42];
/// Discriminator of `sharedAccountsRoute`.
pub const SHARED_ACCOUNTS_ROUTE: [u8; 8] = [193, 32, 155, 51, 65, 214, 156, 129];
/// Discriminator of `exactOutRoute`.
pub const EXACT_OUT_ROUTE: [u8; 8] = [208, 51, 239, 151, 123, 43, 237, 92];
/// Jupiter v6's Anchor event authority.
pub const EVENT_AUTHORITY: Address = address!("D8cy77BBepLMngZx6ZukaTff5hCt1HrWyKk3Hnd9oitf");
/// Most route-plan steps accepted.
pub const MAX_STEPS: u32 = 32;

/// Payload of swap variant `v` from `d` (advanced past it), or `None` for an unknown variant or
/// a non-canonical bool/enum byte.
fn skip_swap_payload(v: u8, d: &mut &[u8]) -> Option<()> {
    let mut take = |n: usize| -> Option<&[u8]> {
        let (a, b) = d.split_at_checked(n)?;
        *d = b;
        Some(a)
    };
    let flag = |b: &[u8]| (b[0] <= 1).then_some(());
    match v {
        0..=7
        | 9..=11
        | 13
        | 14
        | 19
        | 20
        | 22
        | 25
        | 26
        | 30..=32
        | 34..=38
        | 40
        | 46
        | 48..=57
        | 59 => Some(()),
        // bool or two-variant enum (Side) payloads
        8 | 12 | 15..=18 | 21 | 23 | 24 | 27 | 28 | 39 | 58 | 60 | 61 => flag(take(1)?),
        29 => take(16).map(|_| ()),     // Symmetry: two u64
        33 | 41 => take(4).map(|_| ()), // StakeDex ... bridge_stake_seed: u32
        42 => {
            // Clone: u8, bool, bool
            let b = take(3)?;
            (b[1] <= 1 && b[2] <= 1).then_some(())
        }
        43 => take(10).map(|_| ()),     // SanctumS: u8, u8, u32, u32
        44 | 45 => take(5).map(|_| ()), // SanctumS add/remove liquidity: u8, u32
        47 => {
            // WhirlpoolSwapV2: bool, Option<Vec<(enum, u8)>>
            flag(take(1)?)?;
            match take(1)?[0] {
                0 => Some(()),
                1 => {
                    let n = u32::from_le_bytes(take(4)?.try_into().ok()?);
                    for _ in 0..n.min(64) {
                        flag(take(2)?)?;
                    }
                    (n <= 64).then_some(())
                }
                _ => None,
            }
        }
        _ => None,
    }
}

/// The fixed fields after the route plan: (amount, other amount, slippage bps, platform fee bps).
fn decode_args(ix: &Ix<'_>, skip: usize) -> Check<(u64, u64, u16, u8)> {
    let bad = reject_at(ix.index, "unknown Jupiter instruction layout (route plan)");
    let mut d = ix.ix.data.get(skip..).ok_or(bad)?;
    let steps = u32::from_le_bytes(d.get(..4).ok_or(bad)?.try_into().map_err(|_| bad)?);
    if steps == 0 || steps > MAX_STEPS {
        return Err(bad);
    }
    d = &d[4..];
    for _ in 0..steps {
        let (&v, rest) = d.split_first().ok_or(bad)?;
        d = rest;
        skip_swap_payload(v, &mut d).ok_or(reject_at(
            ix.index,
            "route uses a swap variant this module version does not know",
        ))?;
        // percent, input_index, output_index
        d = d.get(3..).ok_or(bad)?;
    }
    if d.len() != 19 {
        return Err(bad);
    }
    Ok((
        le_u64(d, 0).ok_or(bad)?,
        le_u64(d, 8).ok_or(bad)?,
        le_u16(d, 16).ok_or(bad)?,
        d[18],
    ))
}

/// The output the user is guaranteed, less the platform fee (see the crate docs).
fn guaranteed_out(
    exact_out: bool,
    amount: u64,
    other: u64,
    slippage_bps: u16,
    fee_bps: u8,
) -> u128 {
    const BPS: u128 = 10_000;
    let g = if exact_out {
        // exactOutRoute(out_amount, quoted_in_amount, ..)
        u128::from(amount)
    } else {
        // route / sharedAccountsRoute(in_amount, quoted_out_amount, ..)
        u128::from(other) * BPS.saturating_sub(u128::from(slippage_bps)) / BPS
    };
    // fee_bps is a u8: BPS - fee_bps cannot underflow.
    g * (BPS - u128::from(fee_bps)) / BPS
}

/// Checks the shape (see the crate docs).
pub fn validate(msg: &Message<'_>, _loaded: &[Address], p: &mut Params<'_>) -> Check {
    let c = Common::read(p)?;
    let mint_in = p.pubkey()?;
    let program_in = p.token_program()?;
    let mint_out = p.pubkey()?;
    let program_out = p.token_program()?;
    let max_in = p.u64()?;
    let min_out = p.u64()?;
    let max_slippage = p.u16()?;
    let max_fee_bps = p.u8()?;
    let fee_account = p.opt_pubkey()?;
    let source = p.pubkey()?;
    let destination = p.pubkey()?;
    if mint_in == mint_out {
        return Err(reject("input and output mint are the same"));
    }
    let w = SwapSides {
        user: c.user,
        mint_in,
        program_in,
        source,
        mint_out,
        program_out,
        destination,
        max_in,
    };
    let mut s = Shape::begin(msg, c.user)?;
    s.compute_budget(c.max_cu_limit, c.max_cu_price)?;
    swap_prelude(&mut s, &w)?;
    let ix = s.next("missing the Jupiter route")?;
    if *ix.program != JUPITER_V6_PROGRAM {
        return Err(reject_at(ix.index, "expected the Jupiter v6 program"));
    }
    let d = ix.ix.data;
    let kind = d
        .get(..8)
        .ok_or(reject_at(ix.index, "unknown Jupiter instruction"))?;
    // Positions: (user, source, destination, optional destination, source mint, destination
    // mint, platform fee, token-2022, fixed account count, data bytes before the route plan)
    let (
        user_at,
        src_at,
        dst_at,
        opt_dst_at,
        src_mint_at,
        dst_mint_at,
        fee_at,
        t22_at,
        fixed,
        skip,
    ) = if kind == ROUTE {
        (1, 2, 3, Some(4), None, 5, 6, None, 9, 8)
    } else if kind == SHARED_ACCOUNTS_ROUTE {
        (2, 3, 6, None, Some(7), 8, 9, Some(10), 13, 9)
    } else if kind == EXACT_OUT_ROUTE {
        (1, 2, 3, Some(4), Some(5), 6, 7, Some(8), 11, 8)
    } else {
        return Err(reject_at(
            ix.index,
            "only route, sharedAccountsRoute and exactOutRoute are allowed",
        ));
    };
    if ix.ix.accounts.len() < fixed {
        return Err(reject_at(ix.index, "Jupiter route has too few accounts"));
    }
    let (amount, other, slippage, fee_bps) = decode_args(&ix, skip)?;
    if slippage > max_slippage {
        return Err(reject_at(ix.index, "slippage above the authorized maximum"));
    }
    if fee_bps > max_fee_bps {
        return Err(reject_at(
            ix.index,
            "platform fee above the authorized maximum",
        ));
    }
    let max_taken = if kind == EXACT_OUT_ROUTE {
        // exactOutRoute(out_amount, quoted_in_amount): Jupiter takes up to quoted_in + slippage,
        // and in this mode its platform fee comes from the input too. Rounded up: the bound must
        // never be below what Jupiter may take. At most 2^64 × 75 535 × 10 255: fits in u128.
        let worst =
            (u128::from(other) * (10_000 + u128::from(slippage)) * (10_000 + u128::from(fee_bps)))
                .div_ceil(100_000_000);
        u64::try_from(worst).unwrap_or(u64::MAX)
    } else {
        amount
    };
    if max_taken > max_in {
        return Err(reject_at(
            ix.index,
            "input amount above the authorized maximum",
        ));
    }
    if guaranteed_out(kind == EXACT_OUT_ROUTE, amount, other, slippage, fee_bps)
        < u128::from(min_out)
    {
        return Err(reject_at(
            ix.index,
            "guaranteed output below the authorized minimum",
        ));
    }
    let tp = s.static_key(&ix, 0, "token program from a lookup table")?;
    if *tp != TOKEN_PROGRAM && *tp != TOKEN_2022_PROGRAM {
        return Err(reject_at(ix.index, "wrong token program"));
    }
    s.mark(&ix, 0, false);
    s.key(
        &ix,
        user_at,
        c.user,
        false,
        "transfer authority is not the user",
    )?;
    if !s.is_signer(&ix, user_at) {
        return Err(reject_at(ix.index, "transfer authority is not a signer"));
    }
    s.key(
        &ix,
        src_at,
        source,
        true,
        "swap input is not the user's account of the input mint",
    )?;
    s.key(
        &ix,
        dst_at,
        destination,
        true,
        "swap output goes to an account other than the user's account of the output mint",
    )?;
    if let Some(k) = opt_dst_at {
        let v = s.static_key(&ix, k, "destination from a lookup table")?;
        if *v != JUPITER_V6_PROGRAM && v != destination {
            return Err(reject_at(
                ix.index,
                "swap output goes to an account other than the user's account of the output mint",
            ));
        }
        s.mark(&ix, k, *v != JUPITER_V6_PROGRAM);
    }
    if let Some(k) = src_mint_at {
        s.key(
            &ix,
            k,
            mint_in,
            false,
            "swap of another input mint than the authorized one",
        )?;
    }
    s.key(
        &ix,
        dst_mint_at,
        mint_out,
        false,
        "swap to another output mint than the authorized one",
    )?;
    let fee = s.static_key(&ix, fee_at, "platform fee account from a lookup table")?;
    if *fee == JUPITER_V6_PROGRAM {
        if fee_bps != 0 {
            return Err(reject_at(ix.index, "platform fee without a fee account"));
        }
        s.mark(&ix, fee_at, false);
    } else if Some(fee) == fee_account {
        s.mark(&ix, fee_at, true);
    } else {
        return Err(reject_at(
            ix.index,
            "platform fee paid to an account other than the authorized one",
        ));
    }
    if let Some(k) = t22_at {
        let v = s.static_key(&ix, k, "token-2022 program from a lookup table")?;
        if *v != JUPITER_V6_PROGRAM && *v != TOKEN_2022_PROGRAM {
            return Err(reject_at(ix.index, "wrong token-2022 program"));
        }
        s.mark(&ix, k, false);
    }
    if kind == SHARED_ACCOUNTS_ROUTE {
        // The program authority: a Jupiter PDA that only signs for its token accounts.
        s.mark(&ix, 1, false);
        // Its two token accounts hold the user's input and output between the legs, so they
        // must be keys the signed message names, never caller-supplied lookup entries.
        for k in [4, 5] {
            s.static_key(
                &ix,
                k,
                "Jupiter's program token account from a lookup table",
            )?;
            s.mark(&ix, k, true);
        }
    }
    s.key(
        &ix,
        fixed - 2,
        &EVENT_AUTHORITY,
        false,
        "wrong Jupiter event authority",
    )?;
    s.key(
        &ix,
        fixed - 1,
        &JUPITER_V6_PROGRAM,
        false,
        "wrong Jupiter program account",
    )?;
    for k in fixed..ix.ix.accounts.len() {
        // The legs' accounts (pools, vaults, AMM programs); may come from lookup tables.
        let i = ix.ix.accounts[k];
        // Only a static key can be the user (a lookup-table entry is never `Static`), so the
        // static keys are enough; resolving lookup entries here cost a third of the module.
        let msg = s.message();
        if msg.account_keys().get(usize::from(i)) == Some(c.user) && msg.is_writable(i) {
            // The user appears writable only as the fee payer; a leg never needs that.
            return Err(reject_at(
                ix.index,
                "a route leg names the user as a writable account",
            ));
        }
        s.mark(&ix, k, true);
    }
    swap_epilogue(&mut s, &w)?;
    s.finish()
}
