//! Test transactions built with the real Solana message compiler (`solana-message`), and the
//! instructions of the programs the built-in modules know.
#![allow(dead_code, unreachable_pub, missing_docs)]

use kms_constraints::{HostConfig, ModuleHash, ParamValue, Registry};
use kms_solana::programs::*;
use solana_message::{
    AccountMeta, Address, AddressLookupTableAccount, Hash, Instruction, Message, VersionedMessage,
    v0,
};

pub fn addr(b: [u8; 32]) -> Address {
    Address::new_from_array(b)
}

pub fn key(n: u8) -> [u8; 32] {
    let mut k = [n; 32];
    k[0] = 0xC0;
    k
}

pub const USER: [u8; 32] = [0x11; 32];
pub const ATTACKER: [u8; 32] = [0x66; 32];

fn w(k: [u8; 32]) -> AccountMeta {
    AccountMeta::new(addr(k), false)
}
fn r(k: [u8; 32]) -> AccountMeta {
    AccountMeta::new_readonly(addr(k), false)
}
fn ws(k: [u8; 32]) -> AccountMeta {
    AccountMeta::new(addr(k), true)
}
fn rs(k: [u8; 32]) -> AccountMeta {
    AccountMeta::new_readonly(addr(k), true)
}

pub fn ix(program: [u8; 32], accounts: Vec<AccountMeta>, data: Vec<u8>) -> Instruction {
    Instruction::new_with_bytes(addr(program), &data, accounts)
}

pub fn cu_limit(units: u32) -> Instruction {
    let mut d = vec![2];
    d.extend_from_slice(&units.to_le_bytes());
    ix(COMPUTE_BUDGET_PROGRAM, vec![], d)
}

pub fn cu_price(micro_lamports: u64) -> Instruction {
    let mut d = vec![3];
    d.extend_from_slice(&micro_lamports.to_le_bytes());
    ix(COMPUTE_BUDGET_PROGRAM, vec![], d)
}

pub fn transfer(from: [u8; 32], to: [u8; 32], lamports: u64) -> Instruction {
    let mut d = vec![2, 0, 0, 0];
    d.extend_from_slice(&lamports.to_le_bytes());
    ix(SYSTEM_PROGRAM, vec![ws(from), w(to)], d)
}

pub fn create_ata(
    payer: [u8; 32],
    owner: [u8; 32],
    mint: [u8; 32],
    program: [u8; 32],
) -> Instruction {
    let ata = ata(owner, mint, program);
    ix(
        ASSOCIATED_TOKEN_PROGRAM,
        vec![
            ws(payer),
            w(ata),
            r(owner),
            r(mint),
            r(SYSTEM_PROGRAM),
            r(program),
        ],
        vec![1],
    )
}

pub fn ata(owner: [u8; 32], mint: [u8; 32], program: [u8; 32]) -> [u8; 32] {
    kms_solana::associated_token_address(&owner, &mint, &program)
        .unwrap()
        .0
}

pub fn transfer_checked(
    program: [u8; 32],
    src: [u8; 32],
    mint: [u8; 32],
    dst: [u8; 32],
    auth: [u8; 32],
    amount: u64,
    decimals: u8,
) -> Instruction {
    let mut d = vec![12];
    d.extend_from_slice(&amount.to_le_bytes());
    d.push(decimals);
    ix(program, vec![w(src), r(mint), w(dst), rs(auth)], d)
}

pub fn sync_native(program: [u8; 32], account: [u8; 32]) -> Instruction {
    ix(program, vec![w(account)], vec![17])
}

pub fn close(program: [u8; 32], account: [u8; 32], dest: [u8; 32], owner: [u8; 32]) -> Instruction {
    ix(program, vec![w(account), w(dest), rs(owner)], vec![9])
}

pub fn set_authority(
    program: [u8; 32],
    account: [u8; 32],
    owner: [u8; 32],
    new: [u8; 32],
) -> Instruction {
    let mut d = vec![6, 2, 1];
    d.extend_from_slice(&new);
    ix(program, vec![w(account), rs(owner)], d)
}

pub fn approve(
    program: [u8; 32],
    account: [u8; 32],
    delegate: [u8; 32],
    owner: [u8; 32],
    amount: u64,
) -> Instruction {
    let mut d = vec![4];
    d.extend_from_slice(&amount.to_le_bytes());
    ix(program, vec![w(account), r(delegate), rs(owner)], d)
}

pub fn raydium_authority() -> [u8; 32] {
    address_from_base58("5Q544fKrFoe6tsEbD7S8EmxGTJYAKtTVhAW5Q5pge4j1").unwrap()
}

/// A Raydium AMM v4 swap in one of its layouts: `accounts` 18 (`swapBaseIn` 9 / `swapBaseOut`
/// 11 with target orders), 17 (without) or 8 (`SwapBaseInV2` 16 / `SwapBaseOutV2` 17).
/// Pool accounts are `key(0x40 + i)`, the AMM authority the real one.
pub fn raydium_swap_n(
    accounts: usize,
    base_in: bool,
    a: u64,
    b: u64,
    src: [u8; 32],
    dst: [u8; 32],
    user: [u8; 32],
) -> Instruction {
    let tag = match (accounts, base_in) {
        (8, true) => 16,
        (8, false) => 17,
        (_, true) => 9,
        (_, false) => 11,
    };
    let mut d = vec![tag];
    d.extend_from_slice(&a.to_le_bytes());
    d.extend_from_slice(&b.to_le_bytes());
    let mut accts = vec![r(TOKEN_PROGRAM)];
    // amm, authority, then (open orders, target orders,) coin vault, pc vault, (market ...)
    let layout: &[bool] = match accounts {
        18 => &[
            true, false, true, true, true, true, false, true, true, true, true, true, true, false,
        ],
        17 => &[
            true, false, true, true, true, false, true, true, true, true, true, true, false,
        ],
        _ => &[true, false, true, true],
    };
    for (i, writable) in layout.iter().enumerate() {
        let k = if i == 1 {
            raydium_authority()
        } else {
            key(0x40 + i as u8)
        };
        accts.push(if *writable { w(k) } else { r(k) });
    }
    accts.extend([w(src), w(dst), rs(user)]);
    ix(RAYDIUM_AMM_V4_PROGRAM, accts, d)
}

/// The classic 18-account Raydium swap.
pub fn raydium_swap(
    base_in: bool,
    a: u64,
    b: u64,
    src: [u8; 32],
    dst: [u8; 32],
    user: [u8; 32],
) -> Instruction {
    raydium_swap_n(18, base_in, a, b, src, dst, user)
}

/// System `AdvanceNonceAccount` of `nonce` with authority `authority`.
pub fn advance_nonce(nonce: [u8; 32], authority: [u8; 32]) -> Instruction {
    ix(
        SYSTEM_PROGRAM,
        vec![w(nonce), r(SYSVAR_RECENT_BLOCKHASHES), rs(authority)],
        vec![4, 0, 0, 0],
    )
}

pub const PUMP_BUY: [u8; 8] = [102, 6, 61, 18, 1, 218, 235, 234];
pub const PUMP_SELL: [u8; 8] = [51, 230, 133, 164, 1, 127, 131, 173];
pub fn pump_global() -> [u8; 32] {
    address_from_base58("4wTV1YmiEkRvAtNtsSGPtUrqRYQMe5SKy2uB4Jjaxnjf").unwrap()
}
pub fn pump_event_authority() -> [u8; 32] {
    address_from_base58("Ce6TQqeHC9p8KetsN6JsjHK7UTZk7nasjjnr7XxXp9F1").unwrap()
}

/// The discriminator of `buy_exact_sol_in`.
pub const PUMP_BUY_EXACT_SOL_IN: [u8; 8] = [56, 252, 116, 8, 158, 223, 205, 95];
/// The fee program of pump.fun.
pub fn pump_fee_program() -> [u8; 32] {
    address_from_base58("pfeeUxB6jkeY1Hxd7CsFCAjcbHA9rWtchMGdZ6VojVZ").unwrap()
}
/// The first of pump.fun's normal fee recipients.
pub fn pump_fee_recipient() -> [u8; 32] {
    address_from_base58("62qc2CNXwrYqQScmEdiZFFAnJR262PxWEuNQtxfafNgV").unwrap()
}
/// The first of pump.fun's buyback fee recipients.
pub fn pump_buyback_recipient() -> [u8; 32] {
    address_from_base58("5YxQFdt3Tr9zJLvkFccqXVUwhdTWJQc1fFg2YPbxvxeD").unwrap()
}
/// The creator of the test coins.
pub fn pump_creator() -> [u8; 32] {
    key(0x5C)
}
/// A pump.fun PDA.
pub fn pump_pda(seeds: &[&[u8]]) -> [u8; 32] {
    kms_solana::find_program_address(seeds, &PUMP_FUN_PROGRAM)
        .unwrap()
        .0
}
/// pump.fun's fee config (a PDA of the fee program).
pub fn pump_fee_config() -> [u8; 32] {
    kms_solana::find_program_address(&[b"fee_config", &PUMP_FUN_PROGRAM], &pump_fee_program())
        .unwrap()
        .0
}

/// The pump.fun trades of `pumpfun-trade` 3.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PumpKind {
    /// `buy` (amount, max_sol_cost), 18 accounts.
    Buy,
    /// `buy_exact_sol_in` (spendable_sol_in, min_tokens_out), 18 accounts.
    BuyExactSolIn,
    /// `sell` (amount, min_sol_output), 16 accounts.
    Sell,
    /// `sell` of a cashback coin, 17 accounts.
    SellCashback,
}

/// A pump.fun trade in the layout of after the 2026-04-28 fee-recipient upgrade.
pub fn pump_with(
    kind: PumpKind,
    a: u64,
    b: u64,
    mint: [u8; 32],
    user: [u8; 32],
    token_program: [u8; 32],
    creator: [u8; 32],
) -> Instruction {
    let mut d = match kind {
        PumpKind::Buy => PUMP_BUY,
        PumpKind::BuyExactSolIn => PUMP_BUY_EXACT_SOL_IN,
        PumpKind::Sell | PumpKind::SellCashback => PUMP_SELL,
    }
    .to_vec();
    d.extend_from_slice(&a.to_le_bytes());
    d.extend_from_slice(&b.to_le_bytes());
    let curve = pump_pda(&[b"bonding-curve", &mint]);
    let mut accts = vec![
        r(pump_global()),
        w(pump_fee_recipient()),
        r(mint),
        w(curve),
        w(ata(curve, mint, token_program)),
        w(ata(user, mint, token_program)),
        ws(user),
        r(SYSTEM_PROGRAM),
    ];
    let vault = w(pump_pda(&[b"creator-vault", &creator]));
    let uva = w(pump_pda(&[b"user_volume_accumulator", &user]));
    if matches!(kind, PumpKind::Buy | PumpKind::BuyExactSolIn) {
        accts.extend([
            r(token_program),
            vault,
            r(pump_event_authority()),
            r(PUMP_FUN_PROGRAM),
            r(pump_pda(&[b"global_volume_accumulator"])),
            uva,
            r(pump_fee_config()),
            r(pump_fee_program()),
        ]);
    } else {
        accts.extend([
            vault,
            r(token_program),
            r(pump_event_authority()),
            r(PUMP_FUN_PROGRAM),
            r(pump_fee_config()),
            r(pump_fee_program()),
        ]);
        if kind == PumpKind::SellCashback {
            accts.push(uva);
        }
    }
    accts.extend([
        r(pump_pda(&[b"bonding-curve-v2", &mint])),
        w(pump_buyback_recipient()),
    ]);
    ix(PUMP_FUN_PROGRAM, accts, d)
}

/// A `buy` or a `sell` of an SPL Token coin of [`pump_creator`].
pub fn pump(buy: bool, amount: u64, sol_limit: u64, mint: [u8; 32], user: [u8; 32]) -> Instruction {
    let kind = if buy { PumpKind::Buy } else { PumpKind::Sell };
    pump_with(
        kind,
        amount,
        sol_limit,
        mint,
        user,
        TOKEN_PROGRAM,
        pump_creator(),
    )
}

/// The pump.fun quote-mint trades (`buy_v2`, `sell_v2`, `buy_exact_quote_in_v2`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PumpV2 {
    Buy,
    Sell,
    BuyExactQuoteIn,
}

/// A quote-mint trade of a coin of [`pump_creator`] against `quote` (SPL Token), base mint
/// under `token_program`.
pub fn pump_v2(
    kind: PumpV2,
    a: u64,
    b: u64,
    mint: [u8; 32],
    quote: [u8; 32],
    user: [u8; 32],
    token_program: [u8; 32],
) -> Instruction {
    let mut d = match kind {
        PumpV2::Buy => vec![184, 23, 238, 97, 103, 197, 211, 61],
        PumpV2::Sell => vec![93, 246, 130, 60, 231, 233, 64, 178],
        PumpV2::BuyExactQuoteIn => vec![194, 171, 28, 70, 104, 77, 91, 47],
    };
    d.extend_from_slice(&a.to_le_bytes());
    d.extend_from_slice(&b.to_le_bytes());
    let qp = TOKEN_PROGRAM;
    let curve = pump_pda(&[b"bonding-curve", &mint]);
    let vault = pump_pda(&[b"creator-vault", &pump_creator()]);
    let uva = pump_pda(&[b"user_volume_accumulator", &user]);
    let (fee, buyback) = (pump_fee_recipient(), pump_buyback_recipient());
    let sharing =
        kms_solana::find_program_address(&[b"sharing-config", &mint], &pump_fee_program())
            .unwrap()
            .0;
    let mut accts = vec![
        r(pump_global()),
        r(mint),
        r(quote),
        r(token_program),
        r(qp),
        r(ASSOCIATED_TOKEN_PROGRAM),
        w(fee),
        w(ata(fee, quote, qp)),
        w(buyback),
        w(ata(buyback, quote, qp)),
        w(curve),
        w(ata(curve, mint, token_program)),
        w(ata(curve, quote, qp)),
        ws(user),
        w(ata(user, mint, token_program)),
        w(ata(user, quote, qp)),
        w(vault),
        w(ata(vault, quote, qp)),
        r(sharing),
    ];
    if kind != PumpV2::Sell {
        accts.push(r(pump_pda(&[b"global_volume_accumulator"])));
    }
    accts.extend([
        w(uva),
        w(ata(uva, quote, qp)),
        r(pump_fee_config()),
        r(pump_fee_program()),
        r(SYSTEM_PROGRAM),
        r(pump_event_authority()),
        r(PUMP_FUN_PROGRAM),
    ]);
    ix(PUMP_FUN_PROGRAM, accts, d)
}

/// The v3 forms (`idl/pump.json` of pump-public-docs `8cda1fa`): 17 accounts, no fee
/// recipient, creator vault, sharing config, global volume accumulator or fee program.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PumpV3 {
    Buy,
    Sell,
    BuyExactQuoteIn,
}

/// A v3 trade of `mint` (under `token_program`) against `quote` (SPL Token) by `user`, its
/// arguments `(a, b)`, and for buys the optional `partial_fill` byte.
pub fn pump_v3(
    kind: PumpV3,
    (a, b, partial_fill): (u64, u64, Option<u8>),
    mint: [u8; 32],
    quote: [u8; 32],
    user: [u8; 32],
    token_program: [u8; 32],
) -> Instruction {
    let mut d = match kind {
        PumpV3::Buy => vec![7, 5, 29, 196, 245, 23, 101, 80],
        PumpV3::Sell => vec![28, 146, 222, 119, 38, 196, 105, 213],
        PumpV3::BuyExactQuoteIn => vec![225, 247, 80, 30, 213, 179, 132, 136],
    };
    d.extend_from_slice(&a.to_le_bytes());
    d.extend_from_slice(&b.to_le_bytes());
    d.extend(partial_fill);
    let qp = TOKEN_PROGRAM;
    let curve = pump_pda(&[b"bonding-curve", &mint]);
    let uva = pump_pda(&[b"user_volume_accumulator", &user]);
    let accts = vec![
        r(pump_global()),
        r(mint),
        r(quote),
        r(token_program),
        r(qp),
        w(curve),
        w(ata(curve, mint, token_program)),
        w(ata(curve, quote, qp)),
        ws(user),
        w(ata(user, mint, token_program)),
        w(ata(user, quote, qp)),
        w(uva),
        r(pump_fee_config()),
        w(pump_buyback_recipient()),
        r(SYSTEM_PROGRAM),
        r(pump_event_authority()),
        r(PUMP_FUN_PROGRAM),
    ];
    ix(PUMP_FUN_PROGRAM, accts, d)
}

/// The classic 12-account layout `pumpfun-trade` 2 accepted.
pub fn pump_classic(
    buy: bool,
    amount: u64,
    sol_limit: u64,
    mint: [u8; 32],
    user: [u8; 32],
) -> Instruction {
    let mut d = (if buy { PUMP_BUY } else { PUMP_SELL }).to_vec();
    d.extend_from_slice(&amount.to_le_bytes());
    d.extend_from_slice(&sol_limit.to_le_bytes());
    let user_ata = ata(user, mint, TOKEN_PROGRAM);
    let mut accts = vec![
        r(pump_global()),
        w(key(0x50)),
        r(mint),
        w(key(0x51)),
        w(key(0x52)),
        w(user_ata),
        ws(user),
        r(SYSTEM_PROGRAM),
    ];
    if buy {
        accts.extend([r(TOKEN_PROGRAM), r(SYSVAR_RENT)]);
    } else {
        accts.extend([r(ASSOCIATED_TOKEN_PROGRAM), r(TOKEN_PROGRAM)]);
    }
    accts.extend([r(pump_event_authority()), r(PUMP_FUN_PROGRAM)]);
    ix(PUMP_FUN_PROGRAM, accts, d)
}

/// The PumpSwap AMM program.
pub fn pump_amm() -> [u8; 32] {
    address_from_base58("pAMMBay6oceH9fJKBRHGP5D4bD4sWpmSwMn52FMfXEA").unwrap()
}
/// A PumpSwap PDA.
pub fn amm_pda(seeds: &[&[u8]]) -> [u8; 32] {
    kms_solana::find_program_address(seeds, &pump_amm())
        .unwrap()
        .0
}

/// A PumpSwap pool as the tests' intents name it: canonical index 0, created by `key(0x5D)`,
/// coin creator [`pump_creator`], protocol fee recipient `key(0x5E)`, the first appended fee
/// recipient.
#[derive(Clone, Copy)]
pub struct AmmPool {
    pub base: [u8; 32],
    pub base_program: [u8; 32],
    pub quote: [u8; 32],
    pub quote_program: [u8; 32],
}

impl AmmPool {
    pub const INDEX: u16 = 0;
    pub fn creator() -> [u8; 32] {
        key(0x5D)
    }
    pub fn protocol_fee_recipient() -> [u8; 32] {
        key(0x5E)
    }
    pub fn pool(&self) -> [u8; 32] {
        amm_pda(&[
            b"pool",
            &Self::INDEX.to_le_bytes(),
            &Self::creator(),
            &self.base,
            &self.quote,
        ])
    }
}

/// The PumpSwap trades of `pumpswap-trade`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AmmKind {
    Buy,
    BuyExactQuoteIn,
    Sell,
}

/// A PumpSwap v2 trade (`buy_v2`, `buy_exact_quote_in_v2`, `sell_v2`; 17 accounts, IDL of
/// pump-public-docs `8cda1fa`) of `user` in `p`; account 14 is the quote token account of the
/// intent's fee recipient ([`pump_buyback_recipient`]).
pub fn amm_trade_v2(kind: AmmKind, a: u64, b: u64, p: &AmmPool, user: [u8; 32]) -> Instruction {
    let mut d = match kind {
        AmmKind::Buy => vec![184, 23, 238, 97, 103, 197, 211, 61],
        AmmKind::BuyExactQuoteIn => vec![194, 171, 28, 70, 104, 77, 91, 47],
        AmmKind::Sell => vec![93, 246, 130, 60, 231, 233, 64, 178],
    };
    d.extend_from_slice(&a.to_le_bytes());
    d.extend_from_slice(&b.to_le_bytes());
    let pool = p.pool();
    let fee_config =
        kms_solana::find_program_address(&[b"fee_config", &pump_amm()], &pump_fee_program())
            .unwrap()
            .0;
    let accts = vec![
        w(pool),
        ws(user),
        r(amm_pda(&[b"global_config"])),
        r(p.base),
        r(p.quote),
        w(ata(user, p.base, p.base_program)),
        w(ata(user, p.quote, p.quote_program)),
        w(ata(pool, p.base, p.base_program)),
        w(ata(pool, p.quote, p.quote_program)),
        r(p.base_program),
        r(p.quote_program),
        r(SYSTEM_PROGRAM),
        w(amm_pda(&[b"user_volume_accumulator", &user])),
        r(fee_config),
        w(ata(pump_buyback_recipient(), p.quote, p.quote_program)),
        r(amm_pda(&[b"__event_authority"])),
        r(pump_amm()),
    ];
    ix(pump_amm(), accts, d)
}

/// A PumpSwap trade of `user` in `p`, in the layout of after the fee-recipient upgrade
/// (`cashback`: with the volume accumulator's accounts).
pub fn amm_trade(
    kind: AmmKind,
    a: u64,
    b: u64,
    p: &AmmPool,
    user: [u8; 32],
    cashback: bool,
) -> Instruction {
    let mut d = match kind {
        AmmKind::Buy => PUMP_BUY.to_vec(),
        AmmKind::BuyExactQuoteIn => vec![198, 46, 21, 82, 180, 217, 232, 112],
        AmmKind::Sell => PUMP_SELL.to_vec(),
    };
    d.extend_from_slice(&a.to_le_bytes());
    d.extend_from_slice(&b.to_le_bytes());
    let pool = p.pool();
    let vault = amm_pda(&[b"creator_vault", &pump_creator()]);
    let uva = amm_pda(&[b"user_volume_accumulator", &user]);
    let fee_recipient = pump_buyback_recipient();
    let mut accts = vec![
        w(pool),
        ws(user),
        r(amm_pda(&[b"global_config"])),
        r(p.base),
        r(p.quote),
        w(ata(user, p.base, p.base_program)),
        w(ata(user, p.quote, p.quote_program)),
        w(ata(pool, p.base, p.base_program)),
        w(ata(pool, p.quote, p.quote_program)),
        r(AmmPool::protocol_fee_recipient()),
        w(ata(
            AmmPool::protocol_fee_recipient(),
            p.quote,
            p.quote_program,
        )),
        r(p.base_program),
        r(p.quote_program),
        r(SYSTEM_PROGRAM),
        r(ASSOCIATED_TOKEN_PROGRAM),
        r(amm_pda(&[b"__event_authority"])),
        r(pump_amm()),
        w(ata(vault, p.quote, p.quote_program)),
        r(vault),
    ];
    let fee_config =
        kms_solana::find_program_address(&[b"fee_config", &pump_amm()], &pump_fee_program())
            .unwrap()
            .0;
    if kind == AmmKind::Sell {
        accts.extend([r(fee_config), r(pump_fee_program())]);
        if cashback {
            accts.extend([w(ata(uva, p.quote, p.quote_program)), w(uva)]);
        }
    } else {
        accts.extend([
            r(amm_pda(&[b"global_volume_accumulator"])),
            w(uva),
            r(fee_config),
            r(pump_fee_program()),
        ]);
        if cashback {
            accts.push(w(ata(uva, p.quote, p.quote_program)));
        }
    }
    accts.extend([
        r(amm_pda(&[b"pool-v2", &p.base])),
        r(fee_recipient),
        w(ata(fee_recipient, p.quote, p.quote_program)),
    ]);
    ix(pump_amm(), accts, d)
}

pub const JUP_ROUTE: [u8; 8] = [229, 23, 203, 151, 122, 227, 173, 42];
pub const JUP_SHARED: [u8; 8] = [193, 32, 155, 51, 65, 214, 156, 129];
pub const JUP_EXACT_OUT: [u8; 8] = [208, 51, 239, 151, 123, 43, 237, 92];
pub const JUP_ROUTE_V2: [u8; 8] = [187, 100, 250, 204, 49, 196, 175, 20];
pub const JUP_SHARED_V2: [u8; 8] = [209, 152, 83, 147, 124, 254, 216, 233];
pub const JUP_EXACT_OUT_V2: [u8; 8] = [157, 138, 184, 82, 21, 244, 243, 36];
pub const JUP_SHARED_EXACT_OUT_V2: [u8; 8] = [53, 96, 229, 202, 216, 187, 250, 24];
/// The program authority id the tests' intents name.
pub const JUP_AUTHORITY_ID: u8 = 3;
/// Jupiter's program authority `id`.
pub fn jup_authority(id: u8) -> [u8; 32] {
    kms_solana::find_program_address(&[b"authority", &[id]], &JUPITER_V6_PROGRAM)
        .unwrap()
        .0
}
pub fn jup_event_authority() -> [u8; 32] {
    address_from_base58("D8cy77BBepLMngZx6ZukaTff5hCt1HrWyKk3Hnd9oitf").unwrap()
}

/// Route-plan bytes: one Raydium step (variant 7) and one Whirlpool step (variant 17, a_to_b).
pub fn jup_plan() -> Vec<u8> {
    let mut d = 2u32.to_le_bytes().to_vec();
    d.extend_from_slice(&[7, 100, 0, 1]);
    d.extend_from_slice(&[17, 1, 100, 1, 2]);
    d
}

/// Legs' accounts: two AMM programs and pool accounts (the ones a lookup table may hold).
pub fn jup_legs() -> Vec<AccountMeta> {
    let mut v = vec![r(RAYDIUM_AMM_V4_PROGRAM)];
    for i in 0..6 {
        v.push(w(key(0x70 + i)));
    }
    v
}

pub struct Jup {
    pub kind: [u8; 8],
    pub amount: u64,
    pub other: u64,
    pub slippage: u16,
    pub fee_bps: u8,
    pub fee_account: Option<[u8; 32]>,
    pub src: [u8; 32],
    pub dst: [u8; 32],
    pub mint_in: [u8; 32],
    pub mint_out: [u8; 32],
}

pub fn jupiter(j: &Jup) -> Instruction {
    let v2 = [
        JUP_ROUTE_V2,
        JUP_SHARED_V2,
        JUP_EXACT_OUT_V2,
        JUP_SHARED_EXACT_OUT_V2,
    ]
    .contains(&j.kind);
    let shared =
        j.kind == JUP_SHARED || j.kind == JUP_SHARED_V2 || j.kind == JUP_SHARED_EXACT_OUT_V2;
    let mut d = j.kind.to_vec();
    if shared {
        d.push(JUP_AUTHORITY_ID);
    }
    if v2 {
        d.extend_from_slice(&j.amount.to_le_bytes());
        d.extend_from_slice(&j.other.to_le_bytes());
        d.extend_from_slice(&j.slippage.to_le_bytes());
        d.extend_from_slice(&u16::from(j.fee_bps).to_le_bytes());
        d.extend_from_slice(&0u16.to_le_bytes()); // positive slippage
        // The v2 plan: one step (Raydium, variant 7), bps 10 000, 0 -> 1.
        d.extend_from_slice(&1u32.to_le_bytes());
        d.extend_from_slice(&[7, 0x10, 0x27, 0, 1]);
    } else {
        d.extend_from_slice(&jup_plan());
        d.extend_from_slice(&j.amount.to_le_bytes());
        d.extend_from_slice(&j.other.to_le_bytes());
        d.extend_from_slice(&j.slippage.to_le_bytes());
        d.push(j.fee_bps);
    }
    let none = r(JUPITER_V6_PROGRAM);
    let fee = j.fee_account.map_or(none.clone(), w);
    let authority = jup_authority(JUP_AUTHORITY_ID);
    let (psrc, pdst) = (
        ata(authority, j.mint_in, TOKEN_PROGRAM),
        ata(authority, j.mint_out, TOKEN_PROGRAM),
    );
    let mut a = if v2 { vec![] } else { vec![r(TOKEN_PROGRAM)] };
    if j.kind == JUP_ROUTE {
        a.extend([
            rs(USER),
            w(j.src),
            w(j.dst),
            none.clone(),
            r(j.mint_out),
            fee,
        ]);
    } else if j.kind == JUP_SHARED {
        a.extend([
            r(authority),
            rs(USER),
            w(j.src),
            w(psrc),
            w(pdst),
            w(j.dst),
            r(j.mint_in),
            r(j.mint_out),
            fee,
            none.clone(),
        ]);
    } else if j.kind == JUP_EXACT_OUT {
        a.extend([
            rs(USER),
            w(j.src),
            w(j.dst),
            none.clone(),
            r(j.mint_in),
            r(j.mint_out),
            fee,
            none.clone(),
        ]);
    } else if shared {
        a.extend([
            r(authority),
            rs(USER),
            w(j.src),
            w(psrc),
            w(pdst),
            w(j.dst),
            r(j.mint_in),
            r(j.mint_out),
            r(TOKEN_PROGRAM),
            r(TOKEN_PROGRAM),
        ]);
    } else {
        a.extend([
            rs(USER),
            w(j.src),
            w(j.dst),
            r(j.mint_in),
            r(j.mint_out),
            r(TOKEN_PROGRAM),
            r(TOKEN_PROGRAM),
            none.clone(),
        ]);
    }
    a.extend([r(jup_event_authority()), r(JUPITER_V6_PROGRAM)]);
    a.extend(jup_legs());
    ix(JUPITER_V6_PROGRAM, a, d)
}

pub fn legacy(ixs: &[Instruction]) -> Vec<u8> {
    let m = Message::new_with_blockhash(ixs, Some(&addr(USER)), &Hash::new_from_array([0xAB; 32]));
    bincode::serialize(&VersionedMessage::Legacy(m)).unwrap()
}

/// A v0 message with these lookup tables; returns the message and the loaded accounts in the
/// order the message numbers them.
pub fn v0_with(
    ixs: &[Instruction],
    tables: &[AddressLookupTableAccount],
) -> (Vec<u8>, Vec<[u8; 32]>) {
    let m = v0::Message::try_compile(&addr(USER), ixs, tables, Hash::new_from_array([0xAB; 32]))
        .unwrap();
    let mut writable = Vec::new();
    let mut readonly = Vec::new();
    for l in &m.address_table_lookups {
        let t = tables.iter().find(|t| t.key == l.account_key).unwrap();
        writable.extend(
            l.writable_indexes
                .iter()
                .map(|&i| t.addresses[usize::from(i)].to_bytes()),
        );
        readonly.extend(
            l.readonly_indexes
                .iter()
                .map(|&i| t.addresses[usize::from(i)].to_bytes()),
        );
    }
    writable.extend(readonly);
    (
        bincode::serialize(&VersionedMessage::V0(m)).unwrap(),
        writable,
    )
}

pub fn table(keys: &[[u8; 32]]) -> AddressLookupTableAccount {
    AddressLookupTableAccount {
        key: addr(key(0xA1)),
        addresses: keys.iter().map(|k| addr(*k)).collect(),
    }
}

pub fn registry() -> Registry {
    Registry::with_builtins(HostConfig::default()).unwrap()
}

pub fn params(r: &Registry, h: &ModuleHash, values: &[ParamValue]) -> Vec<u8> {
    r.get(h)
        .unwrap()
        .compiled()
        .schema()
        .unwrap()
        .encode(values)
        .unwrap()
}
