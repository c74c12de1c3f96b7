//! Typical transactions for each built-in kms-constraints module (built with the real Solana
//! message compiler), shared by `benches/constraints.rs` and the budget report.

use std::hint::black_box;
use std::time::Duration;

use kms_constraints::{HostConfig, ModuleHash, ParamValue as V, Registry};
use kms_module_sdk::kms_solana::programs::*;
use kms_module_sdk::kms_solana::{
    Address as Addr, Message as Parsed, address_from_base58, associated_token_address,
    find_program_address,
};
use kms_module_sdk::{Check, Params, Reason};
use solana_message::{
    AccountMeta, Address, AddressLookupTableAccount, Hash, Instruction, Message, VersionedMessage,
    v0,
};

use crate::budget::{Entry, Stat};

/// A module's validate function, compiled natively.
pub type NativeValidate = fn(&Parsed<'_>, &[Addr], &mut Params<'_>) -> Check;

/// One typical transaction for one module.
pub struct Fixture {
    /// Module name.
    pub module: &'static str,
    /// Its hash in the registry.
    pub hash: ModuleHash,
    /// The message bytes.
    pub message: Vec<u8>,
    /// The lookup-table accounts it loads.
    pub loaded: Vec<[u8; 32]>,
    /// The user's parameters.
    pub params: Vec<u8>,
    /// The same module compiled natively.
    pub native: NativeValidate,
}

const USER: [u8; 32] = [0x11; 32];

fn key(n: u8) -> [u8; 32] {
    let mut k = [n; 32];
    k[0] = 0xC0;
    k
}
fn a(k: [u8; 32]) -> Address {
    Address::new_from_array(k)
}
fn w(k: [u8; 32]) -> AccountMeta {
    AccountMeta::new(a(k), false)
}
fn r(k: [u8; 32]) -> AccountMeta {
    AccountMeta::new_readonly(a(k), false)
}
fn ix(p: [u8; 32], accounts: Vec<AccountMeta>, data: Vec<u8>) -> Instruction {
    Instruction::new_with_bytes(a(p), &data, accounts)
}
fn cu() -> [Instruction; 2] {
    let mut l = vec![2];
    l.extend_from_slice(&200_000u32.to_le_bytes());
    let mut p = vec![3];
    p.extend_from_slice(&50_000u64.to_le_bytes());
    [
        ix(COMPUTE_BUDGET_PROGRAM, vec![], l),
        ix(COMPUTE_BUDGET_PROGRAM, vec![], p),
    ]
}
fn ata(owner: [u8; 32], mint: [u8; 32]) -> [u8; 32] {
    associated_token_address(&owner, &mint, &TOKEN_PROGRAM)
        .map(|x| x.0)
        .unwrap_or([0; 32])
}
fn create_ata(payer: [u8; 32], owner: [u8; 32], mint: [u8; 32]) -> Instruction {
    ix(
        ASSOCIATED_TOKEN_PROGRAM,
        vec![
            AccountMeta::new(a(payer), true),
            w(ata(owner, mint)),
            r(owner),
            r(mint),
            r(SYSTEM_PROGRAM),
            r(TOKEN_PROGRAM),
        ],
        vec![1],
    )
}
fn transfer(from: [u8; 32], to: [u8; 32], lamports: u64) -> Instruction {
    let mut d = vec![2, 0, 0, 0];
    d.extend_from_slice(&lamports.to_le_bytes());
    ix(
        SYSTEM_PROGRAM,
        vec![AccountMeta::new(a(from), true), w(to)],
        d,
    )
}
fn token(data: Vec<u8>, accounts: Vec<AccountMeta>) -> Instruction {
    ix(TOKEN_PROGRAM, accounts, data)
}
fn serialize(m: VersionedMessage) -> Vec<u8> {
    bincode::serialize(&m).unwrap_or_default()
}
fn legacy(payer: [u8; 32], blockhash: [u8; 32], ixs: &[Instruction]) -> Vec<u8> {
    serialize(VersionedMessage::Legacy(Message::new_with_blockhash(
        ixs,
        Some(&a(payer)),
        &Hash::new_from_array(blockhash),
    )))
}
fn head(user: [u8; 32], v: &[V]) -> Vec<V> {
    let mut out = vec![V::Pubkey(user), V::U32(200_000), V::U64(50_000)];
    out.extend_from_slice(v);
    out
}

/// The fixtures, one per built-in module, for the fixed test user `[0x11; 32]`.
///
/// # Panics
/// If the built-ins fail to load or a fixture is malformed (a bug in this file).
pub fn fixtures(registry: &Registry) -> Vec<Fixture> {
    fixtures_for(registry, USER, [0xAB; 32])
}

/// The fixtures for `user` (the fee payer, signer and owner of every account they touch) with
/// `blockhash`: a typical transaction and its parameters for each built-in module, for tests
/// and demos that need shapes the current modules accept.
///
/// # Panics
/// If the built-ins fail to load or a fixture is malformed (a bug in this file).
#[allow(clippy::expect_used, clippy::too_many_lines)]
pub fn fixtures_for(registry: &Registry, user: [u8; 32], blockhash: [u8; 32]) -> Vec<Fixture> {
    let enc = |name: &str, v: Vec<V>| {
        let h = registry.builtin(name).expect("built-in");
        let p = registry
            .get(&h)
            .expect("loaded")
            .compiled()
            .schema()
            .expect("schema")
            .encode(&v)
            .expect("params");
        (h, p)
    };
    let mint = key(0x33);
    let owner = key(0x22);
    let mut out = Vec::new();

    let (hash, params) = enc(
        "sol-withdraw",
        head(user, &[V::Pubkey(owner), V::U64(1_000_000_000)]),
    );
    let [l, p] = cu();
    out.push(Fixture {
        module: "sol-withdraw",
        hash,
        message: legacy(user, blockhash, &[l, p, transfer(user, owner, 500_000_000)]),
        loaded: vec![],
        params,
        native: sol_withdraw::validate,
    });

    let (hash, params) = enc(
        "token-withdraw",
        head(
            user,
            &[
                V::Pubkey(mint),
                V::Pubkey(TOKEN_PROGRAM),
                V::U8(6),
                V::Pubkey(owner),
                V::U64(1_000_000),
                V::Derived,
                V::Derived,
            ],
        ),
    );
    let mut d = vec![12];
    d.extend_from_slice(&250_000u64.to_le_bytes());
    d.push(6);
    let send = token(
        d,
        vec![
            w(ata(user, mint)),
            r(mint),
            w(ata(owner, mint)),
            AccountMeta::new_readonly(a(user), true),
        ],
    );
    let [l, p] = cu();
    out.push(Fixture {
        module: "token-withdraw",
        hash,
        message: legacy(
            user,
            blockhash,
            &[l, p, create_ata(user, owner, mint), send],
        ),
        loaded: vec![],
        params,
        native: token_withdraw::validate,
    });

    // Raydium: SOL -> token with the full wrapped-SOL sequence.
    let (hash, params) = enc(
        "raydium-v4-swap",
        head(
            user,
            &[
                V::Pubkey(NATIVE_MINT),
                V::Pubkey(mint),
                V::Pubkey(TOKEN_PROGRAM),
                V::U64(1_000_000_000),
                V::U64(1),
                V::Derived,
                V::Derived,
                // max_priority_fee: exactly 200,000 CU × 50,000 µlamports; no durable nonce.
                V::U64(10_000),
                V::OptPubkey(None),
            ],
        ),
    );
    let wsol = ata(user, NATIVE_MINT);
    let amm_authority =
        address_from_base58("5Q544fKrFoe6tsEbD7S8EmxGTJYAKtTVhAW5Q5pge4j1").unwrap_or_default();
    let mut d = vec![9];
    d.extend_from_slice(&100_000_000u64.to_le_bytes());
    d.extend_from_slice(&1_000u64.to_le_bytes());
    let mut accts = vec![r(TOKEN_PROGRAM)];
    for i in 0..14u8 {
        accts.push(if i == 1 {
            r(amm_authority)
        } else if matches!(i, 6 | 13) {
            r(key(0x40 + i))
        } else {
            w(key(0x40 + i))
        });
    }
    accts.extend([
        w(wsol),
        w(ata(user, mint)),
        AccountMeta::new_readonly(a(user), true),
    ]);
    let swap = ix(RAYDIUM_AMM_V4_PROGRAM, accts, d);
    let [l, p] = cu();
    let ixs = [
        l,
        p,
        create_ata(user, user, NATIVE_MINT),
        transfer(user, wsol, 100_000_000),
        token(vec![17], vec![w(wsol)]),
        create_ata(user, user, mint),
        swap,
        token(
            vec![9],
            vec![w(wsol), w(user), AccountMeta::new_readonly(a(user), true)],
        ),
    ];
    out.push(Fixture {
        module: "raydium-v4-swap",
        hash,
        message: legacy(user, blockhash, &ixs),
        loaded: vec![],
        params,
        native: raydium_v4_swap::validate,
    });

    // pump.fun buy of exactly `min_tokens_out` tokens (the limit price's edge), in the
    // 18-account layout of after the fee-recipient upgrade.
    let creator = key(0x5C);
    let mut pump_values = head(
        user,
        &[
            V::Pubkey(mint),
            V::Pubkey(TOKEN_PROGRAM),
            V::U64(1_000_000_000),
            V::U64(0),
            V::U64(1_000_000),
            V::U64(u64::MAX),
            V::Derived,
            V::U64(10_000),
            V::OptPubkey(None),
            V::Pubkey(creator),
        ],
    );
    pump_values.extend([V::Derived; 7]);
    pump_values.extend([
        V::Pubkey(NATIVE_MINT),
        V::Pubkey(TOKEN_PROGRAM),
        V::Pubkey(pumpfun_trade::FEE_RECIPIENTS[0]),
        V::Pubkey(pumpfun_trade::BUYBACK_FEE_RECIPIENTS[0]),
    ]);
    pump_values.extend([V::Derived; 7]);
    let (hash, params) = enc("pumpfun-trade", pump_values);
    let pda = |seeds: &[&[u8]], program: &[u8; 32]| {
        find_program_address(seeds, program)
            .map(|x| x.0)
            .unwrap_or_default()
    };
    let fee_program =
        address_from_base58("pfeeUxB6jkeY1Hxd7CsFCAjcbHA9rWtchMGdZ6VojVZ").unwrap_or_default();
    let curve = pda(&[b"bonding-curve", &mint], &PUMP_FUN_PROGRAM);
    let mut d = pumpfun_trade::BUY.to_vec();
    d.extend_from_slice(&1_000_000u64.to_le_bytes());
    d.extend_from_slice(&500_000_000u64.to_le_bytes());
    let buy = ix(
        PUMP_FUN_PROGRAM,
        vec![
            r(pumpfun_trade::GLOBAL),
            w(pumpfun_trade::FEE_RECIPIENTS[0]),
            r(mint),
            w(curve),
            w(ata(curve, mint)),
            w(ata(user, mint)),
            AccountMeta::new(a(user), true),
            r(SYSTEM_PROGRAM),
            r(TOKEN_PROGRAM),
            w(pda(&[b"creator-vault", &creator], &PUMP_FUN_PROGRAM)),
            r(pumpfun_trade::EVENT_AUTHORITY),
            r(PUMP_FUN_PROGRAM),
            r(pda(&[b"global_volume_accumulator"], &PUMP_FUN_PROGRAM)),
            w(pda(&[b"user_volume_accumulator", &user], &PUMP_FUN_PROGRAM)),
            r(pda(&[b"fee_config", &PUMP_FUN_PROGRAM], &fee_program)),
            r(fee_program),
            r(pda(&[b"bonding-curve-v2", &mint], &PUMP_FUN_PROGRAM)),
            w(pumpfun_trade::BUYBACK_FEE_RECIPIENTS[0]),
        ],
        d,
    );
    let [l, p] = cu();
    out.push(Fixture {
        module: "pumpfun-trade",
        hash,
        message: legacy(user, blockhash, &[l, p, create_ata(user, user, mint), buy]),
        loaded: vec![],
        params,
        native: pumpfun_trade::validate,
    });

    // PumpSwap: SOL -> Token-2022 coin, wrapped-SOL sequence, the 26-account buy.
    let amm = pumpswap_trade::PUMP_AMM_PROGRAM;
    let pool_creator = key(0x5D);
    let protocol = key(0x5E);
    let fee_recipient = pumpswap_trade::FEE_RECIPIENTS[0];
    let mut amm_values = head(
        user,
        &[
            V::Pubkey(mint),
            V::Pubkey(TOKEN_2022_PROGRAM),
            V::Pubkey(NATIVE_MINT),
            V::Pubkey(TOKEN_PROGRAM),
            V::U64(1_000_000_000),
            V::U64(0),
            V::U64(1_000_000),
            V::U64(0),
            V::U64(10_000),
            V::OptPubkey(None),
            V::U16(0),
            V::Pubkey(pool_creator),
            V::Pubkey(creator),
            V::Pubkey(protocol),
            V::Pubkey(fee_recipient),
        ],
    );
    amm_values.extend([V::Derived; 14]);
    let (hash, params) = enc("pumpswap-trade", amm_values);
    let ata_of = |owner: [u8; 32], mint: [u8; 32], program: [u8; 32]| {
        associated_token_address(&owner, &mint, &program)
            .map(|x| x.0)
            .unwrap_or_default()
    };
    let pool = pda(
        &[b"pool", &[0, 0], &pool_creator, &mint, &NATIVE_MINT],
        &amm,
    );
    let vault = pda(&[b"creator_vault", &creator], &amm);
    let uva = pda(&[b"user_volume_accumulator", &user], &amm);
    let wsol = ata(user, NATIVE_MINT);
    let coin_ata = ata_of(user, mint, TOKEN_2022_PROGRAM);
    let mut d = pumpswap_trade::BUY.to_vec();
    d.extend_from_slice(&1_000_000u64.to_le_bytes());
    d.extend_from_slice(&500_000_000u64.to_le_bytes());
    let amm_buy = ix(
        amm,
        vec![
            w(pool),
            AccountMeta::new(a(user), true),
            r(pumpswap_trade::GLOBAL_CONFIG),
            r(mint),
            r(NATIVE_MINT),
            w(coin_ata),
            w(wsol),
            w(ata_of(pool, mint, TOKEN_2022_PROGRAM)),
            w(ata(pool, NATIVE_MINT)),
            r(protocol),
            w(ata(protocol, NATIVE_MINT)),
            r(TOKEN_2022_PROGRAM),
            r(TOKEN_PROGRAM),
            r(SYSTEM_PROGRAM),
            r(ASSOCIATED_TOKEN_PROGRAM),
            r(pumpswap_trade::EVENT_AUTHORITY),
            r(amm),
            w(ata(vault, NATIVE_MINT)),
            r(vault),
            r(pda(&[b"global_volume_accumulator"], &amm)),
            w(uva),
            r(pda(&[b"fee_config", &amm], &fee_program)),
            r(fee_program),
            r(pda(&[b"pool-v2", &mint], &amm)),
            r(fee_recipient),
            w(ata(fee_recipient, NATIVE_MINT)),
        ],
        d,
    );
    let create_coin_ata = ix(
        ASSOCIATED_TOKEN_PROGRAM,
        vec![
            AccountMeta::new(a(user), true),
            w(coin_ata),
            r(user),
            r(mint),
            r(SYSTEM_PROGRAM),
            r(TOKEN_2022_PROGRAM),
        ],
        vec![1],
    );
    let [l, p] = cu();
    let ixs = [
        l,
        p,
        create_ata(user, user, NATIVE_MINT),
        transfer(user, wsol, 500_000_000),
        token(vec![17], vec![w(wsol)]),
        create_coin_ata,
        amm_buy,
        token(
            vec![9],
            vec![w(wsol), w(user), AccountMeta::new_readonly(a(user), true)],
        ),
    ];
    out.push(Fixture {
        module: "pumpswap-trade",
        hash,
        message: legacy(user, blockhash, &ixs),
        loaded: vec![],
        params,
        native: pumpswap_trade::validate,
    });

    // Jupiter sharedAccountsRoute token -> token, two legs, pools in a lookup table (v0).
    let out_mint = key(0x34);
    let (hash, params) = enc(
        "jupiter-v6-route",
        head(
            user,
            &[
                V::Pubkey(mint),
                V::Pubkey(TOKEN_PROGRAM),
                V::Pubkey(out_mint),
                V::Pubkey(TOKEN_PROGRAM),
                V::U64(1_000_000),
                // min_amount_out: exactly the guarantee of the route below,
                // ⌊990 000 × (10 000 − 50) / 10 000⌋ = 985 050 (no platform fee).
                V::U64(985_050),
                V::U16(100),
                V::U8(0),
                V::OptPubkey(None),
                V::Derived,
                V::Derived,
                V::U64(10_000),
                V::OptPubkey(None),
                V::U8(3),
                V::Derived,
                V::Derived,
                V::Derived,
            ],
        ),
    );
    let jup_authority = pda(&[b"authority", &[3]], &JUPITER_V6_PROGRAM);
    let jev =
        address_from_base58("D8cy77BBepLMngZx6ZukaTff5hCt1HrWyKk3Hnd9oitf").unwrap_or_default();
    let mut d = jupiter_v6_route::SHARED_ACCOUNTS_ROUTE.to_vec();
    d.push(3);
    d.extend_from_slice(&2u32.to_le_bytes());
    d.extend_from_slice(&[7, 100, 0, 1, 17, 1, 100, 1, 2]);
    d.extend_from_slice(&1_000_000u64.to_le_bytes());
    d.extend_from_slice(&990_000u64.to_le_bytes());
    d.extend_from_slice(&50u16.to_le_bytes());
    d.push(0);
    let mut accts = vec![
        r(TOKEN_PROGRAM),
        r(jup_authority),
        AccountMeta::new_readonly(a(user), true),
        w(ata(user, mint)),
        w(ata(jup_authority, mint)),
        w(ata(jup_authority, out_mint)),
        w(ata(user, out_mint)),
        r(mint),
        r(out_mint),
        r(JUPITER_V6_PROGRAM),
        r(JUPITER_V6_PROGRAM),
        r(jev),
        r(JUPITER_V6_PROGRAM),
        r(RAYDIUM_AMM_V4_PROGRAM),
    ];
    let pools: Vec<[u8; 32]> = (0..16u8).map(|i| key(0x70 + i)).collect();
    accts.extend(pools.iter().map(|k| w(*k)));
    let route = ix(JUPITER_V6_PROGRAM, accts, d);
    let [l, p] = cu();
    let table = AddressLookupTableAccount {
        key: a(key(0xA1)),
        addresses: pools.iter().map(|k| a(*k)).collect(),
    };
    let m = v0::Message::try_compile(
        &a(user),
        &[l, p, create_ata(user, user, out_mint), route],
        std::slice::from_ref(&table),
        Hash::new_from_array(blockhash),
    )
    .expect("v0 compiles");
    let mut loaded = Vec::new();
    for lk in &m.address_table_lookups {
        loaded.extend(
            lk.writable_indexes
                .iter()
                .map(|&i| table.addresses[usize::from(i)].to_bytes()),
        );
    }
    for lk in &m.address_table_lookups {
        loaded.extend(
            lk.readonly_indexes
                .iter()
                .map(|&i| table.addresses[usize::from(i)].to_bytes()),
        );
    }
    out.push(Fixture {
        module: "jupiter-v6-route",
        hash,
        message: serialize(VersionedMessage::V0(m)),
        loaded,
        params,
        native: jupiter_v6_route::validate,
    });
    out
}

/// The built-in registry with default limits.
///
/// # Panics
/// If the built-ins do not load (the crate's tests check they do).
#[allow(clippy::expect_used)]
pub fn registry() -> Registry {
    Registry::with_builtins(HostConfig::default()).expect("built-ins load")
}

/// Runs the native module the way the WASM export does (parse, loaded check, module).
pub fn native(f: &Fixture, reason: &mut Reason) -> i32 {
    kms_module_sdk::run_native(
        f.native,
        &f.message,
        f.loaded.as_flattened(),
        &f.params,
        reason,
    )
}

/// DESIGN.md: "shape verification of a typical transaction by a built-in WASM module, p99
/// ≤ 50 µs" — `Registry::validate_checked` (the host's parse, the lookup-account check, a fresh
/// instance and the module run) with parameters checked once beforehand, as a signer does when
/// the intent is authorized. The one-off parameter check (ATA derivations) is benchmarked
/// separately in `benches/constraints.rs`.
///
/// Each module is followed by a reference row: the same check compiled natively (parse, loaded
/// check, module), so the WASM overhead shows as a ratio.
///
/// # Panics
/// If a fixture is rejected (the budget would be meaningless).
#[allow(clippy::expect_used, clippy::panic)]
pub fn budgets() -> Vec<Entry> {
    let reg = std::rc::Rc::new(registry());
    let mut out = Vec::new();
    for f in fixtures(&reg) {
        let checked = reg
            .check_params(&f.hash, &f.params)
            .unwrap_or_else(|e| panic!("{}: fixture parameters rejected: {e}", f.module));
        reg.validate_checked(&checked, &f.message, &f.loaded)
            .unwrap_or_else(|e| panic!("{}: fixture rejected: {e}", f.module));
        let mut reason = Reason::new();
        assert_eq!(
            native(&f, &mut reason),
            kms_module_sdk::ACCEPT,
            "{}: native",
            f.module
        );
        let wasm_name = format!("constraints: {} validate (WASM, fresh instance)", f.module);
        let native_name = format!("constraints: {} validate (native Rust)", f.module);
        let f = std::rc::Rc::new(f);
        let (reg, wasm_f) = (reg.clone(), f.clone());
        out.push(Entry::budget(
            wasm_name.clone(),
            Duration::from_micros(50),
            Stat::P99,
            Box::new(move || {
                black_box(reg.validate_checked(
                    &checked,
                    black_box(&wasm_f.message),
                    &wasm_f.loaded,
                ))
                .map_err(|e| e.to_string())
            }),
        ));
        out.push(Entry::reference(
            native_name,
            wasm_name,
            Box::new(move || {
                let mut reason = Reason::new();
                match black_box(native(black_box(&f), &mut reason)) {
                    kms_module_sdk::ACCEPT => Ok(()),
                    code => Err(format!("native module returned {code}")),
                }
            }),
        ));
    }
    out
}
