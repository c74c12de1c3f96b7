//! `pumpswap-trade` 1.1.0: one trade on the PumpSwap AMM (`pAMMBay6…`) in the pool the user
//! authorized, at a price no worse than the user authorized, in the layouts the program accepts
//! since its fee-recipient upgrade of 2026-04-28 (pump.fun's public docs repository,
//! `idl/pump_amm.json`, `docs/BREAKING_FEE_RECIPIENT.md` and `docs/PUMP_CASHBACK_README.md` at
//! commit `1b82215`):
//!
//! - `buy` (`base_amount_out`, `max_quote_amount_in`, optional `track_volume`) and
//!   `buy_exact_quote_in` (`spendable_quote_in`, `min_base_amount_out`, optional
//!   `track_volume`): the IDL's 23 accounts, for a cashback coin the volume accumulator's quote
//!   token account, then `pool_v2`, a fee recipient and its quote token account: 26 or 27;
//! - `sell` (`base_amount_in`, `min_quote_amount_out`): the IDL's 21 accounts, for a cashback
//!   coin the volume accumulator's quote token account and the accumulator, then the same three:
//!   24 or 26.
//!
//! Limit price: a buy pays at most `max_quote_in` quote units for at least `min_base_out` base
//! units; a sell gives at most `max_base_in` base units for at least `min_quote_out` quote
//! units. Every account is fixed: the pool is the host-derived PDA of the pool the intent names,
//! every token account a host-derived ATA, the creator vault, the volume accumulators, `pool_v2`
//! and the fee config host-derived PDAs, the global config and event authority constants, the
//! appended fee recipient one of the 8 published ones. Before the trade: the trading preamble, a
//! wrapped-SOL input or output sequence and an idempotent creation of the output account (the
//! SDK's swap prelude and epilogue). No lookup tables.
//!
//! - the v2 forms (1.1.0; `idl/pump_amm.json` of pump-public-docs at `8cda1fa`, read from the
//!   copy the crates.io package `sol-parser-sdk` 0.11.0 ships, since the snapshot this module was
//!   written from stops at `1b82215`): `buy_v2` (`base_amount_out`, `max_quote_amount_in`),
//!   `buy_exact_quote_in_v2` (`spendable_quote_in`, `min_base_amount_out`) and `sell_v2`
//!   (`base_amount_in`, `min_quote_amount_out`) with 17 accounts: pool, user, global config,
//!   both mints, the user's and the pool's token accounts, both token programs, system program,
//!   the user's volume accumulator, the fee config, the fee recipient's quote token account
//!   (the IDL's `buyback_fee_recipient`; mainnet's trades carry a recipient's quote account
//!   there), event authority and program.
//!
//! Writable flags (1.1.0): the global volume accumulator, the fee config, the fee program and
//! the appended fee recipient may be marked writable, as builders on mainnet mark them (the
//! IDL had the accumulator writable until 2025-11-16). Each is owned by PumpSwap or its fee
//! program, is a program, or is one of the published fee recipients, which the trade can only
//! credit: the flag lets nothing move the user's funds. 1.0.0 refused them; every other account
//! keeps the IDL's flag.
#![no_std]

use kms_module_sdk::kms_solana::programs::{ASSOCIATED_TOKEN_PROGRAM, SYSTEM_PROGRAM};
use kms_module_sdk::kms_solana::{Address, Message};

/// Whether the accounts builders mark writable beyond the IDL (global volume accumulator, fee
/// config, fee program, fee recipient) may be writable: they may (module doc).
const BUILDERS_WRITABLE: bool = true;
use kms_module_sdk::{
    Check, Common, FeePolicy, Ix, Params, Shape, SwapSides, address, le_u64, reject, reject_at,
    swap_epilogue, swap_prelude,
};

kms_module_sdk::module! {
    schema: include_bytes!("../schema.txt"),
    validate: validate,
}

/// The PumpSwap AMM program.
pub const PUMP_AMM_PROGRAM: Address = address!("pAMMBay6oceH9fJKBRHGP5D4bD4sWpmSwMn52FMfXEA");
/// Its global config (PDA `global_config`).
pub const GLOBAL_CONFIG: Address = address!("ADyA8hdefvWN2dbGGWFotbzWxrAvLW83WG6QCVXvJKqw");
/// Its Anchor event authority (PDA `__event_authority`).
pub const EVENT_AUTHORITY: Address = address!("GS4CU59F31iL7aR2Q8zVS8DRrcRnXX1yjQ66TqNVQnaR");
/// The pump fees program.
pub const FEE_PROGRAM: Address = address!("pfeeUxB6jkeY1Hxd7CsFCAjcbHA9rWtchMGdZ6VojVZ");
/// Anchor discriminator of `buy`.
pub const BUY: [u8; 8] = [102, 6, 61, 18, 1, 218, 235, 234];
/// Anchor discriminator of `buy_exact_quote_in`.
pub const BUY_EXACT_QUOTE_IN: [u8; 8] = [198, 46, 21, 82, 180, 217, 232, 112];
/// Anchor discriminator of `sell`.
pub const SELL: [u8; 8] = [51, 230, 133, 164, 1, 127, 131, 173];
/// Anchor discriminator of `buy_v2` (IDL of `8cda1fa`).
pub const BUY_V2: [u8; 8] = [184, 23, 238, 97, 103, 197, 211, 61];
/// Anchor discriminator of `sell_v2` (IDL of `8cda1fa`).
pub const SELL_V2: [u8; 8] = [93, 246, 130, 60, 231, 233, 64, 178];
/// Anchor discriminator of `buy_exact_quote_in_v2` (IDL of `8cda1fa`).
pub const BUY_EXACT_QUOTE_IN_V2: [u8; 8] = [194, 171, 28, 70, 104, 77, 91, 47];

/// The 8 fee recipients the upgrade appends (`docs/BREAKING_FEE_RECIPIENT.md`).
pub const FEE_RECIPIENTS: [Address; 8] = [
    address!("5YxQFdt3Tr9zJLvkFccqXVUwhdTWJQc1fFg2YPbxvxeD"),
    address!("9M4giFFMxmFGXtc3feFzRai56WbBqehoSeRE5GK7gf7"),
    address!("GXPFM2caqTtQYC2cJ5yJRi9VDkpsYZXzYdwYpGnLmtDL"),
    address!("3BpXnfJaUTiwXnJNe7Ej1rcbzqTTQUvLShZaWazebsVR"),
    address!("5cjcW9wExnJJiqgLjq7DEG75Pm6JBgE1hNv4B2vHXUW6"),
    address!("EHAAiTxcdDwQ3U4bU6YcMsQGaekdzLS3B5SmYo46kJtL"),
    address!("5eHhjP8JaYkz83CWwvGU2uMUXefd3AazWGx4gpcuEEYD"),
    address!("A7hAgCzFw14fejgCp387JUJRMNyz4j89JKnhtKU8piqW"),
];

/// The parameters after the common ones, in schema order.
struct Intent<'a> {
    user: &'a Address,
    base_mint: &'a Address,
    base_program: &'a Address,
    quote_mint: &'a Address,
    quote_program: &'a Address,
    max_quote_in: u64,
    min_quote_out: u64,
    min_base_out: u64,
    max_base_in: u64,
    protocol_fee_recipient: &'a Address,
    fee_recipient: &'a Address,
    pool: &'a Address,
    user_base_ata: &'a Address,
    user_quote_ata: &'a Address,
    pool_base_ata: &'a Address,
    pool_quote_ata: &'a Address,
    protocol_fee_ata: &'a Address,
    creator_vault: &'a Address,
    creator_vault_ata: &'a Address,
    user_volume_accumulator: &'a Address,
    cashback_ata: &'a Address,
    pool_v2: &'a Address,
    fee_recipient_ata: &'a Address,
    global_volume_accumulator: &'a Address,
    fee_config: &'a Address,
}

/// Checks the shape (see the crate docs).
pub fn validate(msg: &Message<'_>, _loaded: &[Address], p: &mut Params<'_>) -> Check {
    let c = Common::read(p)?;
    let base_mint = p.pubkey()?;
    let base_program = p.token_program()?;
    let quote_mint = p.pubkey()?;
    let quote_program = p.token_program()?;
    let (max_quote_in, min_quote_out, min_base_out, max_base_in) =
        (p.u64()?, p.u64()?, p.u64()?, p.u64()?);
    let fees = FeePolicy::read(p)?;
    let _pool_index = p.u16()?; // inputs of `pool` only
    let _pool_creator = p.pubkey()?;
    let _coin_creator = p.pubkey()?; // input of `creator_vault` only
    let t = Intent {
        user: c.user,
        base_mint,
        base_program,
        quote_mint,
        quote_program,
        max_quote_in,
        min_quote_out,
        min_base_out,
        max_base_in,
        protocol_fee_recipient: p.pubkey()?,
        fee_recipient: p.pubkey()?,
        pool: p.pubkey()?,
        user_base_ata: p.pubkey()?,
        user_quote_ata: p.pubkey()?,
        pool_base_ata: p.pubkey()?,
        pool_quote_ata: p.pubkey()?,
        protocol_fee_ata: p.pubkey()?,
        creator_vault: p.pubkey()?,
        creator_vault_ata: p.pubkey()?,
        user_volume_accumulator: p.pubkey()?,
        cashback_ata: p.pubkey()?,
        pool_v2: p.pubkey()?,
        fee_recipient_ata: p.pubkey()?,
        global_volume_accumulator: p.pubkey()?,
        fee_config: p.pubkey()?,
    };
    if base_mint == quote_mint {
        return Err(reject("base and quote mint are the same"));
    }
    if !FEE_RECIPIENTS.contains(t.fee_recipient) {
        return Err(reject(
            "the intent's fee recipient is not one of PumpSwap's",
        ));
    }
    if msg.address_table_lookups().len() != 0 {
        return Err(reject(
            "a PumpSwap trade may not load accounts from lookup tables",
        ));
    }
    // The direction decides the wrapped-SOL prelude: look at the trade first (without one, the
    // walk below refuses where it should be).
    let sell = msg
        .instructions()
        .find(|i| *i.program_id(msg) == PUMP_AMM_PROGRAM)
        .is_some_and(|i| i.data.starts_with(&SELL) || i.data.starts_with(&SELL_V2));
    let w = if sell {
        SwapSides {
            user: c.user,
            mint_in: base_mint,
            program_in: base_program,
            source: t.user_base_ata,
            mint_out: quote_mint,
            program_out: quote_program,
            destination: t.user_quote_ata,
            max_in: max_base_in,
        }
    } else {
        SwapSides {
            user: c.user,
            mint_in: quote_mint,
            program_in: quote_program,
            source: t.user_quote_ata,
            mint_out: base_mint,
            program_out: base_program,
            destination: t.user_base_ata,
            max_in: max_quote_in,
        }
    };
    let mut s = Shape::begin(msg, c.user)?;
    s.preamble(&c, &fees)?;
    swap_prelude(&mut s, &w)?;
    let ix = s.next("missing the PumpSwap trade")?;
    if *ix.program != PUMP_AMM_PROGRAM {
        return Err(reject_at(ix.index, "expected the PumpSwap program"));
    }
    let d = ix.ix.data;
    let n = ix.ix.accounts.len();
    let disc = d.get(..8).unwrap_or_default();
    let (Some(a), Some(b)) = (le_u64(d, 8), le_u64(d, 16)) else {
        return Err(reject_at(ix.index, "unknown PumpSwap layout"));
    };
    if disc == BUY || disc == BUY_EXACT_QUOTE_IN {
        if n == 23 || n == 24 {
            return Err(reject_at(
                ix.index,
                "PumpSwap layout from before the 2026-04-28 fee-recipient upgrade (no pool-v2 and fee recipient) refused",
            ));
        }
        if !(d.len() == 24 || (d.len() == 25 && d[24] <= 1)) || !(n == 26 || n == 27) {
            return Err(reject_at(ix.index, "unknown PumpSwap buy layout"));
        }
        // buy: (base_amount_out, max_quote_amount_in);
        // buy_exact_quote_in: (spendable_quote_in, min_base_amount_out).
        limit_price(&ix, &t, false, disc == BUY, a, b)?;
        head(&mut s, &ix, &t)?;
        s.key(
            &ix,
            19,
            t.global_volume_accumulator,
            BUILDERS_WRITABLE,
            "wrong global volume accumulator",
        )?;
        s.key(
            &ix,
            20,
            t.user_volume_accumulator,
            true,
            "volume accumulator is not the user's",
        )?;
        s.key(
            &ix,
            21,
            t.fee_config,
            BUILDERS_WRITABLE,
            "wrong PumpSwap fee config",
        )?;
        s.key(
            &ix,
            22,
            &FEE_PROGRAM,
            BUILDERS_WRITABLE,
            "wrong pump fees program",
        )?;
        let mut at = 23;
        if n == 27 {
            cashback_ata(&mut s, &ix, 23, &t)?;
            at = 24;
        }
        tail(&mut s, &ix, at, &t)?;
    } else if disc == SELL {
        if n == 21 || n == 23 {
            return Err(reject_at(
                ix.index,
                "PumpSwap layout from before the 2026-04-28 fee-recipient upgrade (no pool-v2 and fee recipient) refused",
            ));
        }
        if d.len() != 24 || !(n == 24 || n == 26) {
            return Err(reject_at(ix.index, "unknown PumpSwap sell layout"));
        }
        limit_price(&ix, &t, true, true, a, b)?;
        head(&mut s, &ix, &t)?;
        s.key(
            &ix,
            19,
            t.fee_config,
            BUILDERS_WRITABLE,
            "wrong PumpSwap fee config",
        )?;
        s.key(
            &ix,
            20,
            &FEE_PROGRAM,
            BUILDERS_WRITABLE,
            "wrong pump fees program",
        )?;
        let mut at = 21;
        if n == 26 {
            cashback_ata(&mut s, &ix, 21, &t)?;
            s.key(
                &ix,
                22,
                t.user_volume_accumulator,
                true,
                "volume accumulator is not the user's",
            )?;
            at = 23;
        }
        tail(&mut s, &ix, at, &t)?;
    } else if disc == BUY_V2 || disc == BUY_EXACT_QUOTE_IN_V2 || disc == SELL_V2 {
        if d.len() != 24 || n != 17 {
            return Err(reject_at(ix.index, "unknown PumpSwap v2 layout"));
        }
        // The same arguments as the forms above.
        limit_price(&ix, &t, disc == SELL_V2, disc == BUY_V2, a, b)?;
        v2_accounts(&mut s, &ix, &t)?;
    } else {
        return Err(reject_at(
            ix.index,
            "only buy, buy_exact_quote_in, sell and their v2 forms are allowed",
        ));
    }
    swap_epilogue(&mut s, &w)?;
    s.finish()
}

/// Accounts 0 to 18, common to buys and sells.
fn head<'m>(s: &mut Shape<'m>, ix: &Ix<'m>, t: &Intent<'_>) -> Check {
    s.key(ix, 0, t.pool, true, "pool is not the authorized pool")?;
    s.key(ix, 1, t.user, true, "trader is not the user")?;
    s.key(ix, 2, &GLOBAL_CONFIG, false, "wrong PumpSwap global config")?;
    s.key(ix, 3, t.base_mint, false, "wrong base mint")?;
    s.key(ix, 4, t.quote_mint, false, "wrong quote mint")?;
    s.key(
        ix,
        5,
        t.user_base_ata,
        true,
        "base tokens to or from an account other than the user's",
    )?;
    s.key(
        ix,
        6,
        t.user_quote_ata,
        true,
        "quote tokens to or from an account other than the user's",
    )?;
    s.key(
        ix,
        7,
        t.pool_base_ata,
        true,
        "pool base account is not the authorized pool's",
    )?;
    s.key(
        ix,
        8,
        t.pool_quote_ata,
        true,
        "pool quote account is not the authorized pool's",
    )?;
    s.key(
        ix,
        9,
        t.protocol_fee_recipient,
        false,
        "protocol fee recipient is not the authorized one",
    )?;
    s.key(
        ix,
        10,
        t.protocol_fee_ata,
        true,
        "protocol fee account is not the authorized recipient's",
    )?;
    s.key(ix, 11, t.base_program, false, "wrong base token program")?;
    s.key(ix, 12, t.quote_program, false, "wrong quote token program")?;
    s.key(ix, 13, &SYSTEM_PROGRAM, false, "wrong system program")?;
    s.key(
        ix,
        14,
        &ASSOCIATED_TOKEN_PROGRAM,
        false,
        "wrong associated token program",
    )?;
    s.key(
        ix,
        15,
        &EVENT_AUTHORITY,
        false,
        "wrong PumpSwap event authority",
    )?;
    s.key(
        ix,
        16,
        &PUMP_AMM_PROGRAM,
        false,
        "wrong PumpSwap program account",
    )?;
    s.key(
        ix,
        17,
        t.creator_vault_ata,
        true,
        "creator vault account is not the authorized creator's",
    )?;
    s.key(
        ix,
        18,
        t.creator_vault,
        false,
        "creator vault is not the authorized creator's",
    )
}

fn cashback_ata<'m>(s: &mut Shape<'m>, ix: &Ix<'m>, n: usize, t: &Intent<'_>) -> Check {
    s.key(
        ix,
        n,
        t.cashback_ata,
        true,
        "cashback account is not the user's volume accumulator's",
    )
}

/// `pool_v2`, the fee recipient and its quote token account, from `at`.
fn tail<'m>(s: &mut Shape<'m>, ix: &Ix<'m>, at: usize, t: &Intent<'_>) -> Check {
    s.key(
        ix,
        at,
        t.pool_v2,
        false,
        "pool-v2 account is not the authorized mint's",
    )?;
    s.key(
        ix,
        at + 1,
        t.fee_recipient,
        BUILDERS_WRITABLE,
        "fee recipient is not the authorized one",
    )?;
    s.key(
        ix,
        at + 2,
        t.fee_recipient_ata,
        true,
        "fee recipient account is not the authorized recipient's",
    )
}

/// The 17 accounts of `buy_v2`, `sell_v2` and `buy_exact_quote_in_v2` (IDL of `8cda1fa`): no
/// protocol fee accounts, creator vault, global volume accumulator, fee program or `pool_v2`;
/// account 14 (`buyback_fee_recipient` in the IDL) is the quote token account of the intent's fee
/// recipient, as mainnet's trades carry it.
fn v2_accounts<'m>(s: &mut Shape<'m>, ix: &Ix<'m>, t: &Intent<'_>) -> Check {
    let accounts: [(&Address, bool, &'static str); 17] = [
        (t.pool, true, "pool is not the authorized pool"),
        (t.user, true, "trader is not the user"),
        (&GLOBAL_CONFIG, false, "wrong PumpSwap global config"),
        (t.base_mint, false, "wrong base mint"),
        (t.quote_mint, false, "wrong quote mint"),
        (
            t.user_base_ata,
            true,
            "base tokens to or from an account other than the user's",
        ),
        (
            t.user_quote_ata,
            true,
            "quote tokens to or from an account other than the user's",
        ),
        (
            t.pool_base_ata,
            true,
            "pool base account is not the authorized pool's",
        ),
        (
            t.pool_quote_ata,
            true,
            "pool quote account is not the authorized pool's",
        ),
        (t.base_program, false, "wrong base token program"),
        (t.quote_program, false, "wrong quote token program"),
        (&SYSTEM_PROGRAM, false, "wrong system program"),
        (
            t.user_volume_accumulator,
            true,
            "volume accumulator is not the user's",
        ),
        (t.fee_config, BUILDERS_WRITABLE, "wrong PumpSwap fee config"),
        (
            t.fee_recipient_ata,
            true,
            "fee recipient account is not the authorized recipient's",
        ),
        (&EVENT_AUTHORITY, false, "wrong PumpSwap event authority"),
        (&PUMP_AMM_PROGRAM, false, "wrong PumpSwap program account"),
    ];
    for (k, (addr, writable, what)) in accounts.iter().enumerate() {
        s.key(ix, k, addr, *writable, what)?;
    }
    Ok(())
}

/// The limit price of a trade whose two amounts are `a`, `b`: a sell `(base_amount_in,
/// min_quote_amount_out)`; a buy `(base_amount_out, max_quote_amount_in)` when `base_first`,
/// else `(spendable_quote_in, min_base_amount_out)`.
fn limit_price(ix: &Ix<'_>, t: &Intent<'_>, sell: bool, base_first: bool, a: u64, b: u64) -> Check {
    if sell {
        if a > t.max_base_in {
            return Err(reject_at(
                ix.index,
                "sells more base tokens than the authorized maximum",
            ));
        }
        if b < t.min_quote_out {
            return Err(reject_at(
                ix.index,
                "minimum quote output below the authorized minimum",
            ));
        }
        return Ok(());
    }
    let (base, quote) = if base_first { (a, b) } else { (b, a) };
    if quote > t.max_quote_in {
        return Err(reject_at(
            ix.index,
            "quote amount in above the authorized maximum",
        ));
    }
    if base < t.min_base_out {
        return Err(reject_at(
            ix.index,
            "buys fewer base tokens than the authorized minimum",
        ));
    }
    Ok(())
}
