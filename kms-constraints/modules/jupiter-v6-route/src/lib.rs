//! `jupiter-v6-route` 3.1.0: one Jupiter v6 `route`, `sharedAccountsRoute` or `exactOutRoute`,
//! or one of their v2 forms `route_v2`, `shared_accounts_route_v2`, `exact_out_route_v2`,
//! `shared_accounts_exact_out_route_v2`, with the user as transfer authority, the user's associated token account of `mint_in` as
//! source and of `mint_out` as destination, input at most `max_amount_in` (for exact-out: the
//! quoted input plus slippage plus the platform fee, which Jupiter takes in the input mint in
//! that mode, rounded up), guaranteed output at least `min_amount_out` (below), slippage
//! at most `max_slippage_bps`, platform fee at most `max_platform_fee_bps` and paid only to
//! `fee_account` (v2 forms: no platform fee, they name no fee account). Optionally the trading
//! preamble (durable nonce, compute budget, priority fee), the wrapped-SOL sequence and an
//! idempotent creation of the output account.
//!
//! The shared-accounts forms pass the user's input and output through token accounts of one of
//! Jupiter's 8 program authorities (`PDA("authority", id)`): the intent names the id, the host
//! derives the authority and its associated token accounts of both mints, and the module
//! requires the instruction's id, authority (when static) and those two accounts to be exactly
//! these, except that the program destination may also be the user's destination account
//! itself (3.1.0): builders on mainnet send the last leg's output straight to the user that way,
//! and Jupiter accepts it (a route of `tests/data/real/` that succeeded on chain).
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
//! - the v2 forms carry the same amounts before the route plan (and a `positive_slippage_bps`,
//!   a share of the output *above* the quote, which does not lower `g`);
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
//! The v1 route plan is decoded step by step with the swap variants of the v6 IDL this version
//! knows; an unknown variant is an unknown layout and is rejected, so the fixed fields after it
//! are read where Jupiter reads them, never guessed from the end. The v2 forms put the fixed
//! fields first; their plan (legs, whose output Jupiter checks against the guarantee) is not
//! decoded, so a new AMM variant does not make them unusable.
#![no_std]

use kms_module_sdk::kms_solana::AccountRef;
use kms_module_sdk::kms_solana::programs::{JUPITER_V6_PROGRAM, TOKEN_2022_PROGRAM, TOKEN_PROGRAM};
use kms_module_sdk::kms_solana::{Address, Message};
use kms_module_sdk::{
    Check, Common, FeePolicy, Ix, Params, Shape, SwapSides, address, le_u16, le_u64, reject,
    reject_at, swap_epilogue, swap_prelude,
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
/// Discriminator of `route_v2`.
pub const ROUTE_V2: [u8; 8] = [187, 100, 250, 204, 49, 196, 175, 20];
/// Discriminator of `shared_accounts_route_v2`.
pub const SHARED_ACCOUNTS_ROUTE_V2: [u8; 8] = [209, 152, 83, 147, 124, 254, 216, 233];
/// Discriminator of `exact_out_route_v2`.
pub const EXACT_OUT_ROUTE_V2: [u8; 8] = [157, 138, 184, 82, 21, 244, 243, 36];
/// Discriminator of `shared_accounts_exact_out_route_v2`.
pub const SHARED_ACCOUNTS_EXACT_OUT_ROUTE_V2: [u8; 8] = [53, 96, 229, 202, 216, 187, 250, 24];
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

/// Where an instruction form keeps its accounts and fields.
struct Layout {
    /// The shared token program (v1 forms).
    token_program: Option<usize>,
    user: usize,
    src: usize,
    dst: usize,
    /// The optional destination account (the program id when absent).
    opt_dst: Option<usize>,
    src_mint: Option<usize>,
    dst_mint: usize,
    /// The platform fee account (v1 forms).
    fee: Option<usize>,
    /// The optional Token-2022 program (v1 forms).
    t22: Option<usize>,
    /// The source and destination token programs (v2 forms).
    token_programs: Option<(usize, usize)>,
    /// Program authority, its source and destination token accounts (shared forms).
    shared: Option<(usize, usize, usize)>,
    /// Fixed account count (the legs follow).
    fixed: usize,
    exact_out: bool,
    v2: bool,
}

fn layout(kind: &[u8]) -> Option<Layout> {
    let v1 = |shared: bool, exact_out: bool| {
        if shared {
            Layout {
                token_program: Some(0),
                user: 2,
                src: 3,
                dst: 6,
                opt_dst: None,
                src_mint: Some(7),
                dst_mint: 8,
                fee: Some(9),
                t22: Some(10),
                token_programs: None,
                shared: Some((1, 4, 5)),
                fixed: 13,
                exact_out,
                v2: false,
            }
        } else {
            Layout {
                token_program: Some(0),
                user: 1,
                src: 2,
                dst: 3,
                opt_dst: Some(4),
                src_mint: exact_out.then_some(5),
                dst_mint: if exact_out { 6 } else { 5 },
                fee: Some(if exact_out { 7 } else { 6 }),
                t22: exact_out.then_some(8),
                token_programs: None,
                shared: None,
                fixed: if exact_out { 11 } else { 9 },
                exact_out,
                v2: false,
            }
        }
    };
    let v2 = |shared: bool, exact_out: bool| {
        if shared {
            Layout {
                token_program: None,
                user: 1,
                src: 2,
                dst: 5,
                opt_dst: None,
                src_mint: Some(6),
                dst_mint: 7,
                fee: None,
                t22: None,
                token_programs: Some((8, 9)),
                shared: Some((0, 3, 4)),
                fixed: 12,
                exact_out,
                v2: true,
            }
        } else {
            Layout {
                token_program: None,
                user: 0,
                src: 1,
                dst: 2,
                opt_dst: Some(7),
                src_mint: Some(3),
                dst_mint: 4,
                fee: None,
                t22: None,
                token_programs: Some((5, 6)),
                shared: None,
                fixed: 10,
                exact_out,
                v2: true,
            }
        }
    };
    Some(match kind {
        k if k == ROUTE => v1(false, false),
        k if k == SHARED_ACCOUNTS_ROUTE => v1(true, false),
        k if k == EXACT_OUT_ROUTE => v1(false, true),
        k if k == ROUTE_V2 => v2(false, false),
        k if k == SHARED_ACCOUNTS_ROUTE_V2 => v2(true, false),
        k if k == EXACT_OUT_ROUTE_V2 => v2(false, true),
        k if k == SHARED_ACCOUNTS_EXACT_OUT_ROUTE_V2 => v2(true, true),
        _ => return None,
    })
}

/// The fixed fields of a v2 form, before its route plan: (amount, other amount, slippage bps,
/// platform fee bps), after the discriminator and, for the shared forms, the authority id.
fn decode_args_v2(ix: &Ix<'_>, skip: usize) -> Check<(u64, u64, u16, u16)> {
    let bad = reject_at(
        ix.index,
        "unknown Jupiter instruction layout (v2 arguments)",
    );
    let d = ix.ix.data.get(skip..).ok_or(bad)?;
    // amount, other, slippage, platform fee, positive slippage, then at least the plan's length
    if d.len() < 8 + 8 + 2 + 2 + 2 + 4 {
        return Err(bad);
    }
    Ok((
        le_u64(d, 0).ok_or(bad)?,
        le_u64(d, 8).ok_or(bad)?,
        le_u16(d, 16).ok_or(bad)?,
        le_u16(d, 18).ok_or(bad)?,
    ))
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
    let fees = FeePolicy::read(p)?;
    let authority_id = p.u8()?;
    let program_authority = p.pubkey()?;
    let program_source = p.pubkey()?;
    let program_destination = p.pubkey()?;
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
    s.preamble(&c, &fees)?;
    swap_prelude(&mut s, &w)?;
    let ix = s.next("missing the Jupiter route")?;
    if *ix.program != JUPITER_V6_PROGRAM {
        return Err(reject_at(ix.index, "expected the Jupiter v6 program"));
    }
    let d = ix.ix.data;
    let kind = d
        .get(..8)
        .ok_or(reject_at(ix.index, "unknown Jupiter instruction"))?;
    let l = layout(kind).ok_or(reject_at(
        ix.index,
        "only route, sharedAccountsRoute, exactOutRoute and their v2 forms are allowed",
    ))?;
    if ix.ix.accounts.len() < l.fixed {
        return Err(reject_at(ix.index, "Jupiter route has too few accounts"));
    }
    // The shared forms carry the program authority's id right after the discriminator.
    let skip = if l.shared.is_some() {
        if d.get(8) != Some(&authority_id) {
            return Err(reject_at(
                ix.index,
                "Jupiter program authority id is not the authorized one",
            ));
        }
        9
    } else {
        8
    };
    let (amount, other, slippage, fee_bps) = if l.v2 {
        let (a, o, sl, fee) = decode_args_v2(&ix, skip)?;
        if fee != 0 {
            return Err(reject_at(
                ix.index,
                "platform fee in a v2 route (it names no fee account)",
            ));
        }
        (a, o, sl, 0)
    } else {
        decode_args(&ix, skip)?
    };
    if slippage > max_slippage {
        return Err(reject_at(ix.index, "slippage above the authorized maximum"));
    }
    if fee_bps > max_fee_bps {
        return Err(reject_at(
            ix.index,
            "platform fee above the authorized maximum",
        ));
    }
    let max_taken = if l.exact_out {
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
    if guaranteed_out(l.exact_out, amount, other, slippage, fee_bps) < u128::from(min_out) {
        return Err(reject_at(
            ix.index,
            "guaranteed output below the authorized minimum",
        ));
    }
    if let Some(at) = l.token_program {
        let tp = s.static_key(&ix, at, "token program from a lookup table")?;
        if *tp != TOKEN_PROGRAM && *tp != TOKEN_2022_PROGRAM {
            return Err(reject_at(ix.index, "wrong token program"));
        }
        s.mark(&ix, at, false);
    }
    if let Some((a, b)) = l.token_programs {
        s.key(&ix, a, program_in, false, "wrong input token program")?;
        s.key(&ix, b, program_out, false, "wrong output token program")?;
    }
    s.key(
        &ix,
        l.user,
        c.user,
        false,
        "transfer authority is not the user",
    )?;
    if !s.is_signer(&ix, l.user) {
        return Err(reject_at(ix.index, "transfer authority is not a signer"));
    }
    s.key(
        &ix,
        l.src,
        source,
        true,
        "swap input is not the user's account of the input mint",
    )?;
    s.key(
        &ix,
        l.dst,
        destination,
        true,
        "swap output goes to an account other than the user's account of the output mint",
    )?;
    if let Some(k) = l.opt_dst {
        let v = s.static_key(&ix, k, "destination from a lookup table")?;
        if *v != JUPITER_V6_PROGRAM && v != destination {
            return Err(reject_at(
                ix.index,
                "swap output goes to an account other than the user's account of the output mint",
            ));
        }
        s.mark(&ix, k, *v != JUPITER_V6_PROGRAM);
    }
    if let Some(k) = l.src_mint {
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
        l.dst_mint,
        mint_out,
        false,
        "swap to another output mint than the authorized one",
    )?;
    if let Some(fee_at) = l.fee {
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
    }
    if let Some(k) = l.t22 {
        let v = s.static_key(&ix, k, "token-2022 program from a lookup table")?;
        if *v != JUPITER_V6_PROGRAM && *v != TOKEN_2022_PROGRAM {
            return Err(reject_at(ix.index, "wrong token-2022 program"));
        }
        s.mark(&ix, k, false);
    }
    if let Some((auth, psrc, pdst)) = l.shared {
        // The program authority only signs for its token accounts; Jupiter checks it against
        // the id. From a lookup table it cannot be read here; written in the message it must be
        // the authorized id's.
        let a = ix.ix.accounts.get(auth).and_then(|&k| msg.account(k));
        if matches!(a, Some(AccountRef::Static(k)) if k != program_authority) {
            return Err(reject_at(
                ix.index,
                "Jupiter program authority is not the authorized one",
            ));
        }
        s.mark(&ix, auth, false);
        // Its two token accounts hold the user's input and output between the legs: static
        // keys, and exactly the authority's associated token accounts of the two mints.
        s.key(
            &ix,
            psrc,
            program_source,
            true,
            "Jupiter's program source account is not the authority's account of the input mint",
        )?;
        // The output may also go straight to the user's destination account.
        let d = s.static_key(
            &ix,
            pdst,
            "Jupiter's program destination account is not the authority's account of the output mint",
        )?;
        if d != program_destination && d != destination {
            return Err(reject_at(
                ix.index,
                "Jupiter's program destination account is not the authority's account of the output mint",
            ));
        }
        s.mark(&ix, pdst, true);
    }
    s.key(
        &ix,
        l.fixed - 2,
        &EVENT_AUTHORITY,
        false,
        "wrong Jupiter event authority",
    )?;
    s.key(
        &ix,
        l.fixed - 1,
        &JUPITER_V6_PROGRAM,
        false,
        "wrong Jupiter program account",
    )?;
    for k in l.fixed..ix.ix.accounts.len() {
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
