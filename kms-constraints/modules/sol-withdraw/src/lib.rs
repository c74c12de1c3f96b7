//! `sol-withdraw`: one System transfer from the user to the authorized destination, at most
//! `max_lamports`, optionally preceded by compute-budget instructions within the caps. Nothing
//! else: no other instruction, signer, writable account or lookup table.
#![no_std]

use kms_module_sdk::kms_solana::{Address, Message};
use kms_module_sdk::{Check, Common, Params, Shape, reject, reject_at, system_transfer};

kms_module_sdk::module! {
    schema: include_bytes!("../schema.txt"),
    validate: validate,
}

/// Checks the shape (see the crate docs).
pub fn validate(msg: &Message<'_>, _loaded: &[Address], p: &mut Params<'_>) -> Check {
    let c = Common::read(p)?;
    let destination = p.pubkey()?;
    let max_lamports = p.u64()?;
    if msg.address_table_lookups().len() != 0 {
        return Err(reject(
            "a withdrawal may not load accounts from lookup tables",
        ));
    }
    let mut s = Shape::begin(msg, c.user)?;
    s.compute_budget(c.max_cu_limit, c.max_cu_price)?;
    let index = s.peek().map_or(0, |i| i.index);
    let lamports = system_transfer(
        &mut s,
        c.user,
        destination,
        "SOL goes to an address other than the authorized destination",
    )?;
    if lamports > max_lamports {
        return Err(reject_at(index, "amount above the authorized maximum"));
    }
    s.finish()
}
