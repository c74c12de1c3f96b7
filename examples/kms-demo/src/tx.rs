//! The transactions the demo's business logic asks the signer to sign, compiled with the
//! workspace's Solana message crate (5.x generation), and their module parameters.

use kms_constraints::{HostConfig, ParamValue, Registry};
use kms_solana::programs::{ASSOCIATED_TOKEN_PROGRAM, SYSTEM_PROGRAM, TOKEN_PROGRAM};
use sha2::{Digest as _, Sha256};
use solana_message::{AccountMeta, Address, Hash, Instruction, Message, VersionedMessage};

use crate::Step;

/// Compute-unit limit and price every demo transaction may carry (module parameters).
const CU_LIMIT: u32 = 200_000;
const CU_PRICE: u64 = 10_000;

pub(crate) fn address(b58: &str) -> Step<[u8; 32]> {
    kms_solana::address_from_base58(b58).ok_or_else(|| format!("{b58} is not an address"))
}

pub(crate) fn b58(a: &[u8; 32]) -> String {
    let mut buf = [0u8; 44];
    kms_solana::address_to_base58(a, &mut buf).to_owned()
}

/// A made-up address for the demo's other parties (SHA-256 of a label; nobody holds its key).
pub(crate) fn demo_key(label: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"kms demo party ");
    h.update(label);
    h.finalize().into()
}

fn meta(k: [u8; 32], writable: bool, signer: bool) -> AccountMeta {
    let a = Address::new_from_array(k);
    if writable {
        AccountMeta::new(a, signer)
    } else {
        AccountMeta::new_readonly(a, signer)
    }
}

fn ix(program: [u8; 32], accounts: Vec<AccountMeta>, data: Vec<u8>) -> Instruction {
    Instruction::new_with_bytes(Address::new_from_array(program), &data, accounts)
}

fn transfer(from: [u8; 32], to: [u8; 32], lamports: u64) -> Instruction {
    let mut d = vec![2, 0, 0, 0];
    d.extend_from_slice(&lamports.to_le_bytes());
    ix(
        SYSTEM_PROGRAM,
        vec![meta(from, true, true), meta(to, true, false)],
        d,
    )
}

fn legacy(payer: [u8; 32], ixs: &[Instruction], blockhash: [u8; 32]) -> Vec<u8> {
    let m = Message::new_with_blockhash(
        ixs,
        Some(&Address::new_from_array(payer)),
        &Hash::new_from_array(blockhash),
    );
    bincode::serialize(&VersionedMessage::Legacy(m)).unwrap_or_default()
}

pub(crate) fn sol_transfer(from: [u8; 32], to: [u8; 32], lamports: u64, bh: [u8; 32]) -> Vec<u8> {
    legacy(from, &[transfer(from, to, lamports)], bh)
}

pub(crate) fn sol_transfer_with_extra(
    from: [u8; 32],
    to: [u8; 32],
    lamports: u64,
    attacker: [u8; 32],
    stolen: u64,
    bh: [u8; 32],
) -> Vec<u8> {
    legacy(
        from,
        &[
            transfer(from, to, lamports),
            transfer(from, attacker, stolen),
        ],
        bh,
    )
}

fn params(module: &str, values: &[ParamValue]) -> Step<Vec<u8>> {
    let registry = Registry::with_builtins(HostConfig::default()).map_err(|e| e.to_string())?;
    let hash = registry
        .builtin(module)
        .ok_or_else(|| format!("no built-in module {module}"))?;
    let module = registry.get(&hash).ok_or("module not loaded")?;
    let schema = module
        .compiled()
        .schema()
        .ok_or("module without parameters")?;
    schema.encode(values).map_err(|e| e.to_string())
}

fn common(user: [u8; 32]) -> [ParamValue; 3] {
    [
        ParamValue::Pubkey(user),
        ParamValue::U32(CU_LIMIT),
        ParamValue::U64(CU_PRICE),
    ]
}

pub(crate) fn sol_params(user: [u8; 32], to: [u8; 32], max: u64) -> Step<Vec<u8>> {
    let mut v = common(user).to_vec();
    v.extend([ParamValue::Pubkey(to), ParamValue::U64(max)]);
    params("sol-withdraw", &v)
}

pub(crate) fn ata(owner: [u8; 32], mint: [u8; 32]) -> [u8; 32] {
    kms_solana::associated_token_address(&owner, &mint, &TOKEN_PROGRAM)
        .map(|(a, _)| a)
        .unwrap_or_default()
}

/// The workspace's typical transaction for built-in module `module` (the budget report's
/// fixture, built for `user` with `blockhash`), with its parameters and the lookup-table
/// accounts it loads (base58).
pub(crate) fn fixture(
    module: &str,
    user: [u8; 32],
    blockhash: [u8; 32],
) -> Step<(Vec<u8>, Vec<u8>, Vec<String>)> {
    let registry = Registry::with_builtins(HostConfig::default()).map_err(|e| e.to_string())?;
    kms_benches::constraints::fixtures_for(&registry, user, blockhash)
        .into_iter()
        .find(|f| f.module == module)
        .map(|f| (f.message, f.params, f.loaded.iter().map(b58).collect()))
        .ok_or_else(|| format!("no fixture for {module}"))
}

pub(crate) fn token_params(
    user: [u8; 32],
    mint: [u8; 32],
    decimals: u8,
    to: [u8; 32],
    max: u64,
) -> Step<Vec<u8>> {
    let mut v = common(user).to_vec();
    v.extend([
        ParamValue::Pubkey(mint),
        ParamValue::Pubkey(TOKEN_PROGRAM),
        ParamValue::U8(decimals),
        ParamValue::Pubkey(to),
        ParamValue::U64(max),
        ParamValue::Derived,
        ParamValue::Derived,
    ]);
    params("token-withdraw", &v)
}

/// Creates `to`'s associated token account (idempotent, paid by `user`) and moves `amount` of
/// `mint` there with `TransferChecked`: real work for the ATA and SPL Token programs.
pub(crate) fn token_transfer(
    user: [u8; 32],
    mint: [u8; 32],
    decimals: u8,
    to: [u8; 32],
    amount: u64,
    bh: [u8; 32],
) -> Vec<u8> {
    let (src, dst) = (ata(user, mint), ata(to, mint));
    let create = ix(
        ASSOCIATED_TOKEN_PROGRAM,
        vec![
            meta(user, true, true),
            meta(dst, true, false),
            meta(to, false, false),
            meta(mint, false, false),
            meta(SYSTEM_PROGRAM, false, false),
            meta(TOKEN_PROGRAM, false, false),
        ],
        vec![1],
    );
    let mut d = vec![12];
    d.extend_from_slice(&amount.to_le_bytes());
    d.push(decimals);
    let transfer = ix(
        TOKEN_PROGRAM,
        vec![
            meta(src, true, false),
            meta(mint, false, false),
            meta(dst, true, false),
            meta(user, false, true),
        ],
        d,
    );
    legacy(user, &[create, transfer], bh)
}
