//! The transactions the demo's business logic asks the signer to sign, compiled with the
//! workspace's Solana message crate (5.x generation), and their module parameters.

use kms_constraints::{HostConfig, ParamValue, Registry};
use kms_solana::programs::{
    ASSOCIATED_TOKEN_PROGRAM, COMPUTE_BUDGET_PROGRAM, PUMP_FUN_PROGRAM, RAYDIUM_AMM_V4_PROGRAM,
    SYSTEM_PROGRAM, SYSVAR_RENT, TOKEN_PROGRAM,
};
use sha2::{Digest as _, Sha256};
use solana_message::{AccountMeta, Address, Hash, Instruction, Message, VersionedMessage};

use crate::Step;

pub(crate) const RAYDIUM: [u8; 32] = RAYDIUM_AMM_V4_PROGRAM;
pub(crate) const PUMP: [u8; 32] = PUMP_FUN_PROGRAM;
const WSOL_MINT: &str = "So11111111111111111111111111111111111111112";
const USDC_MINT: &str = "EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v";
const PUMP_GLOBAL: &str = "4wTV1YmiEkRvAtNtsSGPtUrqRYQMe5SKy2uB4Jjaxnjf";
const PUMP_EVENT_AUTHORITY: &str = "Ce6TQqeHC9p8KetsN6JsjHK7UTZk7nasjjnr7XxXp9F1";
const PUMP_BUY: [u8; 8] = [102, 6, 61, 18, 1, 218, 235, 234];
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

fn compute_budget() -> [Instruction; 2] {
    let mut limit = vec![2];
    limit.extend_from_slice(&CU_LIMIT.to_le_bytes());
    let mut price = vec![3];
    price.extend_from_slice(&CU_PRICE.to_le_bytes());
    [
        ix(COMPUTE_BUDGET_PROGRAM, vec![], limit),
        ix(COMPUTE_BUDGET_PROGRAM, vec![], price),
    ]
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

const SWAP_IN: u64 = 100_000_000;
const SWAP_MIN_OUT: u64 = 5_000_000;

pub(crate) fn raydium_params(user: [u8; 32]) -> Step<Vec<u8>> {
    let mut v = common(user).to_vec();
    v.extend([
        ParamValue::Pubkey(address(WSOL_MINT)?),
        ParamValue::Pubkey(address(USDC_MINT)?),
        ParamValue::Pubkey(TOKEN_PROGRAM),
        ParamValue::U64(SWAP_IN),
        ParamValue::U64(SWAP_MIN_OUT),
        ParamValue::Derived,
        ParamValue::Derived,
    ]);
    params("raydium-v4-swap", &v)
}

/// `swapBaseIn` of 0.1 wSOL for at least 5 USDC between the user's token accounts, through a
/// made-up pool (the module checks the shape; the pool's accounts are Raydium's to check).
pub(crate) fn raydium_swap(user: [u8; 32], bh: [u8; 32]) -> Vec<u8> {
    let (Ok(wsol), Ok(usdc)) = (address(WSOL_MINT), address(USDC_MINT)) else {
        return Vec::new();
    };
    let mut d = vec![9];
    d.extend_from_slice(&SWAP_IN.to_le_bytes());
    d.extend_from_slice(&SWAP_MIN_OUT.to_le_bytes());
    let mut accounts = vec![meta(TOKEN_PROGRAM, false, false)];
    let writable = [
        true, false, true, true, true, true, false, true, true, true, true, true, true, false,
    ];
    for (i, w) in writable.iter().enumerate() {
        accounts.push(meta(
            demo_key(&[b'r', u8::try_from(i).unwrap_or(0)]),
            *w,
            false,
        ));
    }
    accounts.extend([
        meta(ata(user, wsol), true, false),
        meta(ata(user, usdc), true, false),
        meta(user, false, true),
    ]);
    let mut ixs = compute_budget().to_vec();
    ixs.push(ix(RAYDIUM, accounts, d));
    legacy(user, &ixs, bh)
}

pub(crate) fn pump_params(user: [u8; 32], max_sol: u64, min_tokens: u64) -> Step<Vec<u8>> {
    pump_params_for(user, demo_key(b"pump-mint"), max_sol, min_tokens)
}

pub(crate) fn pump_params_for(
    user: [u8; 32],
    mint: [u8; 32],
    max_sol: u64,
    min_tokens: u64,
) -> Step<Vec<u8>> {
    let mut v = common(user).to_vec();
    v.extend([
        ParamValue::Pubkey(mint),
        ParamValue::Pubkey(TOKEN_PROGRAM),
        ParamValue::U64(max_sol),
        ParamValue::U64(0),
        ParamValue::U64(min_tokens),
        ParamValue::U64(0),
        ParamValue::Derived,
    ]);
    params("pumpfun-trade", &v)
}

pub(crate) fn pump_buy(user: [u8; 32], amount: u64, max_sol: u64, bh: [u8; 32]) -> Vec<u8> {
    pump_buy_of(user, demo_key(b"pump-mint"), amount, max_sol, bh)
}

/// A pump.fun `buy` (classic 12-account layout) of `amount` tokens for at most `max_sol`.
pub(crate) fn pump_buy_of(
    user: [u8; 32],
    mint: [u8; 32],
    amount: u64,
    max_sol: u64,
    bh: [u8; 32],
) -> Vec<u8> {
    let (Ok(global), Ok(events)) = (address(PUMP_GLOBAL), address(PUMP_EVENT_AUTHORITY)) else {
        return Vec::new();
    };
    let mut d = PUMP_BUY.to_vec();
    d.extend_from_slice(&amount.to_le_bytes());
    d.extend_from_slice(&max_sol.to_le_bytes());
    let accounts = vec![
        meta(global, false, false),
        meta(demo_key(b"pump-fee-recipient"), true, false),
        meta(mint, false, false),
        meta(demo_key(b"pump-bonding-curve"), true, false),
        meta(demo_key(b"pump-curve-tokens"), true, false),
        meta(ata(user, mint), true, false),
        meta(user, true, true),
        meta(SYSTEM_PROGRAM, false, false),
        meta(TOKEN_PROGRAM, false, false),
        meta(SYSVAR_RENT, false, false),
        meta(events, false, false),
        meta(PUMP, false, false),
    ];
    let mut ixs = compute_budget().to_vec();
    ixs.push(ix(PUMP, accounts, d));
    legacy(user, &ixs, bh)
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
