//! `pumpfun-trade` 2.0.0: one pump.fun bonding-curve `buy` or `sell` of `mint`, at a price no
//! worse than the user authorized, with the user's associated token account, in the classic
//! 12-account layout with 24 bytes of data (discriminator, `amount`, SOL limit).
//!
//! A buy receives exactly `amount` tokens and pays at most its SOL limit (`max_sol_cost`); a sell
//! gives exactly `amount` tokens and receives at least its SOL limit (`min_sol_output`). Whoever
//! builds the transaction writes both numbers, so the module bounds both, and together the
//! bounds are a limit price:
//! - buy: SOL limit ≤ `max_sol_cost` and `amount` ≥ `min_tokens_out`, so the user pays at most
//!   `max_sol_cost / min_tokens_out` lamports per token base unit (without the token bound, a
//!   tiny `amount` at the SOL cap lets a sandwich take the whole cap for almost nothing);
//! - sell: SOL limit ≥ `min_sol_output` and `amount` ≤ `max_tokens_in`, so the user receives at
//!   least `min_sol_output / max_tokens_in` lamports per token base unit (without it, the whole
//!   balance could be sold for the minimum).
//!
//! `min_tokens_out = 0` or `max_tokens_in = u64::MAX` lifts that side's token bound. Optionally
//! compute-budget instructions within the caps and, before a buy, an idempotent creation of the
//! user's token account. pump.fun changes its layout often: any other account count, data length
//! or fixed account is an unknown layout and is rejected, never guessed; a new layout is a new
//! module version with a new hash. No lookup tables.
#![no_std]

use kms_module_sdk::kms_solana::programs::{
    ASSOCIATED_TOKEN_PROGRAM, PUMP_FUN_PROGRAM, SYSTEM_PROGRAM, SYSVAR_RENT,
};
use kms_module_sdk::kms_solana::{Address, Message};
use kms_module_sdk::{
    Check, Common, Params, Shape, address, create_ata_idempotent, le_u64, reject, reject_at,
};

kms_module_sdk::module! {
    schema: include_bytes!("../schema.txt"),
    validate: validate,
}

/// Anchor discriminator of `buy` (first 8 bytes of SHA-256 of `global:buy`).
pub const BUY: [u8; 8] = [102, 6, 61, 18, 1, 218, 235, 234];
/// Anchor discriminator of `sell` (first 8 bytes of SHA-256 of `global:sell`).
pub const SELL: [u8; 8] = [51, 230, 133, 164, 1, 127, 131, 173];
/// pump.fun's global config account.
pub const GLOBAL: Address = address!("4wTV1YmiEkRvAtNtsSGPtUrqRYQMe5SKy2uB4Jjaxnjf");
/// pump.fun's Anchor event authority.
pub const EVENT_AUTHORITY: Address = address!("Ce6TQqeHC9p8KetsN6JsjHK7UTZk7nasjjnr7XxXp9F1");

/// Checks the shape (see the crate docs).
pub fn validate(msg: &Message<'_>, _loaded: &[Address], p: &mut Params<'_>) -> Check {
    let c = Common::read(p)?;
    let mint = p.pubkey()?;
    let token_program = p.token_program()?;
    let max_sol_cost = p.u64()?;
    let min_sol_output = p.u64()?;
    let min_tokens_out = p.u64()?;
    let max_tokens_in = p.u64()?;
    let user_ata = p.pubkey()?;
    if msg.address_table_lookups().len() != 0 {
        return Err(reject(
            "a pump.fun trade may not load accounts from lookup tables",
        ));
    }
    let mut s = Shape::begin(msg, c.user)?;
    s.compute_budget(c.max_cu_limit, c.max_cu_price)?;
    let mut created = false;
    if s.next_is(&ASSOCIATED_TOKEN_PROGRAM, &[]) {
        create_ata_idempotent(&mut s, c.user, user_ata, c.user, mint, token_program)?;
        created = true;
    }
    let ix = s.next("missing the pump.fun trade")?;
    if *ix.program != PUMP_FUN_PROGRAM {
        return Err(reject_at(ix.index, "expected the pump.fun program"));
    }
    let d = ix.ix.data;
    if d.len() != 24 || ix.ix.accounts.len() != 12 {
        return Err(reject_at(ix.index, "unknown pump.fun layout"));
    }
    let (Some(amount), Some(limit)) = (le_u64(d, 8), le_u64(d, 16)) else {
        return Err(reject_at(ix.index, "unknown pump.fun layout"));
    };
    let buy = if d[..8] == BUY {
        if limit > max_sol_cost {
            return Err(reject_at(
                ix.index,
                "max SOL cost above the authorized maximum",
            ));
        }
        if amount < min_tokens_out {
            return Err(reject_at(
                ix.index,
                "buys fewer tokens than the authorized minimum",
            ));
        }
        true
    } else if d[..8] == SELL {
        if created {
            return Err(reject_at(
                ix.index,
                "a sell does not create a token account",
            ));
        }
        if limit < min_sol_output {
            return Err(reject_at(
                ix.index,
                "min SOL output below the authorized minimum",
            ));
        }
        if amount > max_tokens_in {
            return Err(reject_at(
                ix.index,
                "sells more tokens than the authorized maximum",
            ));
        }
        false
    } else {
        return Err(reject_at(ix.index, "only buy and sell are allowed"));
    };
    s.key(&ix, 0, &GLOBAL, false, "wrong pump.fun global account")?;
    s.static_key(&ix, 1, "fee recipient from a lookup table")?;
    s.mark(&ix, 1, true); // fee recipient: checked by pump.fun against the global config
    s.key(
        &ix,
        2,
        mint,
        false,
        "trade of another mint than the authorized one",
    )?;
    s.static_key(&ix, 3, "bonding curve from a lookup table")?;
    s.mark(&ix, 3, true); // bonding curve PDA of the mint: checked by pump.fun
    s.static_key(&ix, 4, "bonding-curve token account from a lookup table")?;
    s.mark(&ix, 4, true); // its token account: checked by pump.fun
    s.key(
        &ix,
        5,
        user_ata,
        true,
        "tokens to or from an account other than the user's associated token account",
    )?;
    s.key(&ix, 6, c.user, true, "trader is not the user")?;
    s.key(&ix, 7, &SYSTEM_PROGRAM, false, "wrong system program")?;
    if buy {
        s.key(&ix, 8, token_program, false, "wrong token program")?;
        s.key(&ix, 9, &SYSVAR_RENT, false, "wrong rent sysvar")?;
    } else {
        s.key(
            &ix,
            8,
            &ASSOCIATED_TOKEN_PROGRAM,
            false,
            "wrong associated token program",
        )?;
        s.key(&ix, 9, token_program, false, "wrong token program")?;
    }
    s.key(
        &ix,
        10,
        &EVENT_AUTHORITY,
        false,
        "wrong pump.fun event authority",
    )?;
    s.key(
        &ix,
        11,
        &PUMP_FUN_PROGRAM,
        false,
        "wrong pump.fun program account",
    )?;
    s.finish()
}
