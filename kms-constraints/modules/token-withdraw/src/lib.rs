//! `token-withdraw`: `transferChecked` of at most `max_amount` of `mint` from the user's
//! associated token account to the destination owner's associated token account (SPL Token or
//! Token-2022), optionally preceded by compute-budget instructions within the caps and an
//! idempotent creation of the destination account paid by the user. Nothing else.
//!
//! Both associated token accounts are parameters the host verifies by derivation before this
//! module runs (`ata(...)` fields), so the module only compares addresses.
#![no_std]

use kms_module_sdk::kms_solana::programs::ASSOCIATED_TOKEN_PROGRAM;
use kms_module_sdk::kms_solana::{Address, Message};
use kms_module_sdk::{
    Check, Common, Params, Shape, create_ata_idempotent, le_u64, reject, reject_at,
};

kms_module_sdk::module! {
    schema: include_bytes!("../schema.txt"),
    validate: validate,
}

/// Checks the shape (see the crate docs).
pub fn validate(msg: &Message<'_>, _loaded: &[Address], p: &mut Params<'_>) -> Check {
    let c = Common::read(p)?;
    let mint = p.pubkey()?;
    let token_program = p.token_program()?;
    let decimals = p.u8()?;
    let destination_owner = p.pubkey()?;
    let max_amount = p.u64()?;
    let source_ata = p.pubkey()?;
    let destination_ata = p.pubkey()?;
    if msg.address_table_lookups().len() != 0 {
        return Err(reject(
            "a withdrawal may not load accounts from lookup tables",
        ));
    }
    let mut s = Shape::begin(msg, c.user)?;
    s.compute_budget(c.max_cu_limit, c.max_cu_price)?;
    if s.next_is(&ASSOCIATED_TOKEN_PROGRAM, &[]) {
        create_ata_idempotent(
            &mut s,
            c.user,
            destination_ata,
            destination_owner,
            mint,
            token_program,
        )?;
    }
    let ix = s.next("missing token transfer")?;
    if ix.program != token_program {
        return Err(reject_at(ix.index, "expected the authorized token program"));
    }
    let amount = match ix.ix.data {
        [12, ..] if ix.ix.data.len() == 10 => le_u64(ix.ix.data, 1).unwrap_or(u64::MAX),
        _ => return Err(reject_at(ix.index, "expected transferChecked")),
    };
    if ix.ix.data[9] != decimals {
        return Err(reject_at(
            ix.index,
            "decimals differ from the authorized mint's",
        ));
    }
    if ix.ix.accounts.len() != 4 {
        return Err(reject_at(
            ix.index,
            "transferChecked needs exactly 4 accounts (no multisig)",
        ));
    }
    s.key(
        &ix,
        0,
        source_ata,
        true,
        "tokens taken from an account other than the user's associated token account",
    )?;
    s.key(
        &ix,
        1,
        mint,
        false,
        "transfer of another mint than the authorized one",
    )?;
    s.key(
        &ix,
        2,
        destination_ata,
        true,
        "tokens go to an account other than the destination's associated token account",
    )?;
    s.key(&ix, 3, c.user, false, "transfer authority is not the user")?;
    if amount > max_amount {
        return Err(reject_at(ix.index, "amount above the authorized maximum"));
    }
    s.finish()
}
