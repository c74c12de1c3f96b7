//! Real transactions from public wallet test suites (`kms-solana/tests/data/real`, where each
//! file says where it came from and what it contains) through the built-in modules: the shapes
//! wallets really produce are accepted under the matching intent, at its exact bounds, and
//! refused one unit past them or when they are not the user's own, single-signer shape.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use base64::Engine;
use kms_constraints::{Error, HostConfig, ParamValue as V, Registry, RejectionKind};
use kms_solana::programs::{NATIVE_MINT, TOKEN_PROGRAM};
use kms_solana::{Address, address_from_base58, parse_message, parse_transaction};

/// The message bytes of a vector file (a bare message, or a transaction's message).
fn message(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../kms-solana/tests/data/real/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let data = json["data"].as_str().unwrap();
    let bytes = match json["encoding"].as_str().unwrap() {
        "hex" => hex::decode(data).unwrap(),
        "base58" => bs58::decode(data).into_vec().unwrap(),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap(),
        other => panic!("{name}: unknown encoding {other}"),
    };
    match json["kind"].as_str().unwrap() {
        "message" => bytes,
        "transaction" => parse_transaction(&bytes)
            .unwrap()
            .message()
            .bytes()
            .to_vec(),
        other => panic!("{name}: not a transaction vector ({other})"),
    }
}

fn addr(b58: &str) -> Address {
    address_from_base58(b58).unwrap()
}

/// Validates vector `name` under module `module` with these parameters (checked by the host,
/// derived addresses included).
fn check(name: &str, module: &str, params: &[V]) -> Result<(), Error> {
    let r = Registry::with_builtins(HostConfig::default()).unwrap();
    let h = r.builtin(module).unwrap();
    let schema = r.get(&h).unwrap().compiled().schema().unwrap().clone();
    r.validate(&h, &message(name), &[], &schema.encode(params).unwrap())
}

#[track_caller]
fn refused(res: Result<(), Error>, because: &str) {
    match res {
        Err(Error::Rejected {
            kind: RejectionKind::Refused,
            reason,
        }) => assert!(reason.contains(because), "{reason:?}, expected {because:?}"),
        other => panic!("expected a refusal ({because:?}), got {other:?}"),
    }
}

/// `sol-withdraw` parameters: user, caps, destination, maximum.
fn sol(user: &str, cu_limit: u32, cu_price: u64, to: &str, max: u64) -> Vec<V> {
    vec![
        V::Pubkey(addr(user)),
        V::U32(cu_limit),
        V::U64(cu_price),
        V::Pubkey(addr(to)),
        V::U64(max),
    ]
}

#[test]
fn real_sol_transfers_are_accepted_at_their_bounds() {
    // (vector, user, destination, lamports)
    for (name, from, to, lamports) in [
        (
            "02-ledger-c-system-transfer-42-lamports",
            "CXsF3x1YFQUMoGhBuFkyarbj6EKXFehbSSG2djjXyqb7",
            "Eo1iDtrZZiAkQFA8u431hedChaSUnPbU8MWg849MFvEZ",
            42,
        ),
        (
            "06-web3js-wire-transfer-49-lamports",
            "2KW2XRd9kwqet15Aha2oK3tYvd3nWbTFH1MBiRAv1BE1",
            "J3dxNj7nDRRqRRXuEMynDG57DkZK4jYRuv3Garmb1i99",
            49,
        ),
        (
            "08-keystone-system-transfer-5000-lamports",
            "A7dxsCbMy5ktZwQUgsQhVxsoJpx6wPAZYEcccQVjWnkE",
            "2vCzt15qsXSCsf5k6t6QF9DiQSpE7kPTg3PdvFZtm2Tr",
            5_000,
        ),
    ] {
        check(name, "sol-withdraw", &sol(from, 0, 0, to, lamports))
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        refused(
            check(name, "sol-withdraw", &sol(from, 0, 0, to, lamports - 1)),
            "above the authorized maximum",
        );
        // The same transfer under someone else's intent, or to another destination.
        refused(
            check(name, "sol-withdraw", &sol(to, 0, 0, to, lamports)),
            "the fee payer is not the user",
        );
        refused(
            check(name, "sol-withdraw", &sol(from, 0, 0, from, lamports)),
            "SOL goes to an address other than the authorized destination",
        );
    }
}

#[test]
fn a_real_transfer_with_a_compute_unit_limit_is_held_to_the_cap() {
    let name = "12-walletcore-transfer-with-cu-limit-mainnet";
    let (from, to) = (
        "7HP8cENhoDxS7yT6UHyT3mVwvN5rv6gMrzwRXXWFJvDU",
        "HwHDGHYeYfXdzwvCZu7zm21SzQ7ZLBGTLNkuscyFdpvZ",
    );
    check(name, "sol-withdraw", &sol(from, 1_000, 0, to, 160_000)).unwrap();
    refused(
        check(name, "sol-withdraw", &sol(from, 999, 0, to, 160_000)),
        "compute-unit limit above the cap",
    );
}

#[test]
fn real_transactions_with_a_second_signer_or_an_extra_instruction_are_refused() {
    // Ledger's 2.078 SOL transfer and its compute-budget transfer are signed by two keys
    // (header: 2 required signatures).
    refused(
        check(
            "01-ledger-apdu-sol-transfer-2.078",
            "sol-withdraw",
            &sol(
                "3GJzvStsiYZonWE7WTsmt1BpWXkfcgWMGinaDwNs9HBc",
                0,
                0,
                "AxmUF3qkdz1zs151Q5WttVMkFpFGQPwghZs4d1mwY55d",
                u64::MAX,
            ),
        ),
        "the user must be the only signer",
    );
    refused(
        check(
            "03-ledger-c-compute-budget-limit-price-transfer",
            "sol-withdraw",
            &sol(
                "BBr14ioEiLT731RkQnZJ1DPe9PUMFNV8RbpddUuNc9k8",
                u32::MAX,
                u64::MAX,
                "9BmR5t8168CcHmXWq7JaKyjrBrk91QfSLjM1sAek3q1n",
                u64::MAX,
            ),
        ),
        "the user must be the only signer",
    );
    // A memo before the transfer is an instruction the shape does not have.
    let memo = "11-walletcore-memo-v2-transfer-with-references";
    let res = check(
        memo,
        "sol-withdraw",
        &sol(
            "zVSpQnbBZ7dyUWzXhrUQRsTYYNzoAdJWHsHSqhPj3Xu",
            u32::MAX,
            u64::MAX,
            "71e8mDsh3PR6gN64zL1HjwuxyKpgRXrPDUJT7XXojsVd",
            u64::MAX,
        ),
    );
    refused(res, "expected a System program instruction");
    // A token transfer whose owner is not the fee payer (another account pays and signs).
    let mint = addr("4uQeVj5tqViQh7yWWGStvkEG1Zmhx6uasJtWCJziofM");
    refused(
        check(
            "04-ledger-c-ata-create-then-transferchecked",
            "token-withdraw",
            &[
                V::Pubkey(addr("j3Z2xMfLkHapcWm28M3hQ487BQ5bhhXfnj7eqivNnDT")),
                V::U32(u32::MAX),
                V::U64(u64::MAX),
                V::Pubkey(mint),
                V::Pubkey(TOKEN_PROGRAM),
                V::U8(9),
                V::Pubkey(addr("8opHzTAnfzRpPEx21XtnrVTX28YQuCpAjcn1PczScKh")),
                V::U64(u64::MAX),
                V::Derived,
                V::Derived,
            ],
        ),
        "the user must be the only signer",
    );
}

/// `raydium-v4-swap` parameters for the real SOL/USDC swap's user.
fn raydium(mint_in: Address, mint_out: Address, max_in: u64, min_out: u64) -> Vec<V> {
    vec![
        V::Pubkey(addr("5tMx9GXT5jg3hiM9sZ7i341hQH2bqN45Q7FNEKG6Xixk")),
        V::U32(0),
        V::U64(0),
        V::Pubkey(mint_in),
        V::Pubkey(mint_out),
        V::Pubkey(TOKEN_PROGRAM),
        V::U64(max_in),
        V::U64(min_out),
        V::Derived,
        V::Derived,
        V::U64(0), // the transaction sets no compute-unit price
        V::OptPubkey(None),
    ]
}

#[test]
fn a_real_raydium_swap_is_accepted_under_its_intent_and_nothing_looser() {
    // The swap's source GXY2UQk7... is the user's USDC associated token account and its
    // destination 8MggzbzD... the user's wrapped-SOL one (the host derives both from the
    // parameters): 1,000 raw USDC units in, at least 47 lamports of wSOL out.
    let name = "19-solana-toolkit-raydium-v4-swap-base-in";
    let usdc = addr("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v");
    check(
        name,
        "raydium-v4-swap",
        &raydium(usdc, NATIVE_MINT, 1_000, 47),
    )
    .unwrap();
    refused(
        check(
            name,
            "raydium-v4-swap",
            &raydium(usdc, NATIVE_MINT, 999, 47),
        ),
        "above the authorized maximum",
    );
    refused(
        check(
            name,
            "raydium-v4-swap",
            &raydium(usdc, NATIVE_MINT, 1_000, 48),
        ),
        "below the authorized minimum",
    );
    // The opposite direction: its accounts are not the user's accounts of those mints.
    refused(
        check(
            name,
            "raydium-v4-swap",
            &raydium(NATIVE_MINT, usdc, 1_000, 47),
        ),
        "swap input is not the user's account of the input mint",
    );
}

#[test]
fn every_real_vector_used_here_parses() {
    for name in [
        "01-ledger-apdu-sol-transfer-2.078",
        "02-ledger-c-system-transfer-42-lamports",
        "03-ledger-c-compute-budget-limit-price-transfer",
        "04-ledger-c-ata-create-then-transferchecked",
        "06-web3js-wire-transfer-49-lamports",
        "08-keystone-system-transfer-5000-lamports",
        "11-walletcore-memo-v2-transfer-with-references",
        "12-walletcore-transfer-with-cu-limit-mainnet",
        "19-solana-toolkit-raydium-v4-swap-base-in",
    ] {
        parse_message(&message(name)).unwrap();
    }
}

/// A real pump.fun `buy` instruction of mainnet (`tests/data/real/README.md`): the host derives
/// from the trade's own user, mint and token program exactly the accounts pump.fun used, its
/// 16-account layout of before the fee-recipient upgrade is refused by name, and the same trade
/// in today's 18-account layout is accepted at its own bounds and refused one unit past them.
#[test]
fn a_real_pumpfun_buy_is_derived_refused_in_its_old_layout_and_accepted_upgraded() {
    let (accounts, data) = real_instruction("pumpfun-buy-instruction-5aQNWM.json");
    let (amount, max_sol_cost) = (
        u64::from_le_bytes(data[8..16].try_into().unwrap()),
        u64::from_le_bytes(data[16..24].try_into().unwrap()),
    );
    assert_eq!((amount, max_sol_cost), (1_690_358, 195));
    let (user, mint, token_program) = (accounts[6].0, accounts[2].0, accounts[8].0);

    let r = Registry::with_builtins(HostConfig::default()).unwrap();
    let h = r.builtin("pumpfun-trade").unwrap();
    let schema = r.get(&h).unwrap().compiled().schema().unwrap().clone();
    // The coin's creator is not in the instruction; only the creator vault depends on it.
    let values = |creator: Address, max_sol: u64, min_tokens: u64| {
        pumpfun_values(
            [user, mint, token_program, creator],
            max_sol,
            min_tokens,
            [
                addr("62qc2CNXwrYqQScmEdiZFFAnJR262PxWEuNQtxfafNgV"),
                addr("5YxQFdt3Tr9zJLvkFccqXVUwhdTWJQc1fFg2YPbxvxeD"),
            ],
        )
    };
    let creator = [0x5C; 32];
    let params = schema
        .encode(&values(creator, max_sol_cost, amount))
        .unwrap();
    let derived = schema.decode(&params).unwrap();
    let field = |name: &str| pubkey_param(&schema, &derived, name);
    // The host's derivations are mainnet's.
    for (name, at) in [
        ("user_ata", 5),
        ("bonding_curve", 3),
        ("bonding_curve_ata", 4),
        ("global_volume_accumulator", 12),
        ("user_volume_accumulator", 13),
        ("fee_config", 14),
    ] {
        assert_eq!(field(name), accounts[at].0, "{name}");
    }

    let run = |accounts: &[(Address, bool, bool)], p: &[u8]| {
        validate_one(
            &r,
            &h,
            kms_solana::programs::PUMP_FUN_PROGRAM,
            accounts,
            &data,
            user,
            p,
        )
    };
    refused(
        run(&accounts, &params),
        "pump.fun layout from before the 2026-04-28 fee-recipient upgrade",
    );

    // Today's layout of the same trade: the two accounts the upgrade appends, and the global
    // volume accumulator readonly as the current IDL has it. The creator vault is the only
    // account not checked against mainnet (the instruction does not name the creator).
    let mut upgraded = accounts.clone();
    upgraded[12].2 = false;
    upgraded[9].0 = field("creator_vault");
    upgraded.push((field("bonding_curve_v2"), false, false));
    upgraded.push((
        addr("5YxQFdt3Tr9zJLvkFccqXVUwhdTWJQc1fFg2YPbxvxeD"),
        false,
        true,
    ));
    run(&upgraded, &params).unwrap();
    let encode = |v: &[V]| schema.encode(v).unwrap();
    refused(
        run(
            &upgraded,
            &encode(&values(creator, max_sol_cost - 1, amount)),
        ),
        "max SOL cost above the authorized maximum",
    );
    refused(
        run(
            &upgraded,
            &encode(&values(creator, max_sol_cost, amount + 1)),
        ),
        "buys fewer tokens than the authorized minimum",
    );
    // Mainnet's creator vault is another creator's than the intent's: refused.
    let mut theirs = upgraded.clone();
    theirs[9].0 = accounts[9].0;
    refused(
        run(&theirs, &params),
        "creator vault is not the authorized creator's",
    );
}

/// `pumpfun-trade` parameters for a SOL-paired buy of `[user, mint, token_program, creator]`
/// with the fee and buyback recipients `fees`, every account the host derives left to it.
fn pumpfun_values(keys: [Address; 4], max_sol: u64, min_tokens: u64, fees: [Address; 2]) -> Vec<V> {
    pumpfun_trade_values(
        keys,
        [max_sol, 0, min_tokens, 0],
        [NATIVE_MINT, TOKEN_PROGRAM],
        fees,
    )
}

/// `pumpfun-trade` parameters: `[user, mint, token_program, creator]`, the bounds
/// `[max_sol_cost, min_sol_output, min_tokens_out, max_tokens_in]` (in units of the quote mint),
/// `[quote_mint, quote_token_program]` and the fee and buyback recipients; every account the
/// host derives left to it.
fn pumpfun_trade_values(
    [user, mint, token_program, creator]: [Address; 4],
    [max_sol, min_sol_out, min_tokens, max_tokens_in]: [u64; 4],
    [quote_mint, quote_program]: [Address; 2],
    [fee_recipient, buyback_recipient]: [Address; 2],
) -> Vec<V> {
    let mut v = vec![
        V::Pubkey(user),
        V::U32(0),
        V::U64(0),
        V::Pubkey(mint),
        V::Pubkey(token_program),
        V::U64(max_sol),
        V::U64(min_sol_out),
        V::U64(min_tokens),
        V::U64(max_tokens_in),
        V::Derived,
        V::U64(0),
        V::OptPubkey(None),
        V::Pubkey(creator),
    ];
    v.extend([V::Derived; 7]);
    v.extend([
        V::Pubkey(quote_mint),
        V::Pubkey(quote_program),
        V::Pubkey(fee_recipient),
        V::Pubkey(buyback_recipient),
    ]);
    v.extend([V::Derived; 7]);
    v
}

/// Real pump.fun trades in today's layout, 18 accounts, top-level on mainnet in October 2026
/// (`tests/data/real/README.md`): two `buy` and one `buy_exact_sol_in`, each by the coin's
/// creator right after creating it (Token-2022 coins). From each trade's own user, mint, token
/// program, creator (the user) and fee recipients, the host derives every account mainnet used
/// (except one creator vault, see below); as a trade on its own (the mint signs and is written
/// only because the same transaction created it) each is accepted at its own bounds and refused
/// one unit past each.
#[test]
fn real_pumpfun_trades_in_todays_layout_are_accepted_at_their_bounds() {
    let r = Registry::with_builtins(HostConfig::default()).unwrap();
    let h = r.builtin("pumpfun-trade").unwrap();
    let schema = r.get(&h).unwrap().compiled().schema().unwrap().clone();
    for (file, exact_sol_in) in [
        ("pumpfun-buy-18-4WSwDT.json", false),
        ("pumpfun-buy-18-tDo6DV.json", false),
        ("pumpfun-buy-exact-sol-in-18-2ydaZv.json", true),
    ] {
        let (mut accounts, data) = real_instruction(file);
        assert_eq!(accounts.len(), 18, "{file}");
        let number = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().unwrap());
        // buy: tokens out, then the SOL cap; buy_exact_sol_in: SOL in, then the tokens floor.
        let (max_sol, min_tokens) = if exact_sol_in {
            (number(8), number(16))
        } else {
            (number(16), number(8))
        };
        let user = accounts[6].0;
        // Each coin's `create_v2` in the same transaction names the user as its creator.
        let keys = [user, accounts[2].0, accounts[8].0, user];
        let fees = [accounts[1].0, accounts[17].0];
        let params = schema
            .encode(&pumpfun_values(keys, max_sol, min_tokens, fees))
            .unwrap();
        let derived = schema.decode(&params).unwrap();
        let creator_vault = pubkey_param(&schema, &derived, "creator_vault");
        if exact_sol_in {
            // Finding: this coin was made with `create_v2`'s last flag set, and its creator
            // vault is not the `creator-vault` PDA of the creator `create_v2` names (nor of the
            // sharing config). The IDL followed (1b82215) does not say what it is derived from,
            // so the module refuses mainnet's account; the trade is checked with the derived one.
            assert_ne!(creator_vault, accounts[9].0);
            let checked = r.check_params(&h, &params).unwrap();
            let mut theirs = accounts.clone();
            theirs[2] = (theirs[2].0, false, false);
            refused(
                r.validate_checked(
                    &checked,
                    &one_instruction_message(
                        kms_solana::programs::PUMP_FUN_PROGRAM,
                        &theirs,
                        &data,
                        user,
                    ),
                    &[],
                ),
                "creator vault is not the authorized creator's",
            );
            accounts[9].0 = creator_vault;
        }
        assert_derived_as_mainnet(
            &schema,
            &derived,
            &accounts,
            file,
            &[
                ("user_ata", 5),
                ("bonding_curve", 3),
                ("bonding_curve_ata", 4),
                ("creator_vault", 9),
                ("global_volume_accumulator", 12),
                ("user_volume_accumulator", 13),
                ("fee_config", 14),
                ("bonding_curve_v2", 16),
            ],
        );
        let run = |accounts: &[(Address, bool, bool)], p: &[u8]| {
            validate_one(
                &r,
                &h,
                kms_solana::programs::PUMP_FUN_PROGRAM,
                accounts,
                &data,
                user,
                p,
            )
        };
        // The mint signs and is written only because the same transaction created it.
        accounts[2] = (accounts[2].0, false, false);
        // Two of the three builders marked the global volume accumulator writable (one also
        // the fee program), as the IDL had it until 2025-11-16: 3.1.0 accepts that.
        run(&accounts, &params).unwrap_or_else(|e| panic!("{file}: {e}"));
        // Any other account the IDL has readonly stays refused writable (bonding_curve_v2).
        let mut writable = accounts.clone();
        writable[16].2 = true;
        refused(
            run(&writable, &params),
            "an account is writable that this shape never writes",
        );
        let encode = |max_sol, min_tokens| {
            schema
                .encode(&pumpfun_values(keys, max_sol, min_tokens, fees))
                .unwrap()
        };
        assert!(
            run(&accounts, &encode(max_sol - 1, min_tokens)).is_err(),
            "{file}"
        );
        assert!(
            run(&accounts, &encode(max_sol, min_tokens + 1)).is_err(),
            "{file}"
        );
    }
}

/// A real Jupiter `sharedAccountsRoute` built by Jupiter's API on mainnet
/// (`tests/data/real/README.md`): accepted under the intent of its own numbers, every fixed
/// account equal to the host's derivations, and refused one unit past each bound.
#[test]
fn a_real_jupiter_shared_accounts_route_is_accepted_at_its_bounds() {
    use solana_message::{AccountMeta, Hash, Instruction, Message, VersionedMessage};
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/real/jupiter-shared-accounts-route-usdc-spyx.json"
    );
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let accounts: Vec<AccountMeta> = json["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| AccountMeta {
            pubkey: solana_message::Address::new_from_array(addr(a[0].as_str().unwrap())),
            is_signer: a[1].as_bool().unwrap(),
            is_writable: a[2].as_bool().unwrap(),
        })
        .collect();
    let data = base64::engine::general_purpose::STANDARD
        .decode(json["data_base64"].as_str().unwrap())
        .unwrap();
    let user = accounts[2].pubkey;
    let ix = Instruction {
        program_id: solana_message::Address::new_from_array(
            kms_solana::programs::JUPITER_V6_PROGRAM,
        ),
        accounts,
        data,
    };
    let m = Message::new_with_blockhash(&[ix], Some(&user), &Hash::new_from_array([0xAB; 32]));
    let msg = bincode::serialize(&VersionedMessage::Legacy(m)).unwrap();

    let (usdc, spyx) = (
        addr("EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v"),
        addr("XsoCS1TfEyfFhfvj8EtZ528L3CaKBDBRqRapnBbDF2W"),
    );
    let values = |max_in: u64, min_out: u64, max_slippage: u16, id: u8| {
        vec![
            V::Pubkey(user.to_bytes()),
            V::U32(0),
            V::U64(0),
            V::Pubkey(usdc),
            V::Pubkey(TOKEN_PROGRAM),
            V::Pubkey(spyx),
            V::Pubkey(kms_solana::programs::TOKEN_2022_PROGRAM),
            V::U64(max_in),
            V::U64(min_out),
            V::U16(max_slippage),
            V::U8(0),
            V::OptPubkey(None),
            V::Derived,
            V::Derived,
            V::U64(0),
            V::OptPubkey(None),
            V::U8(id),
            V::Derived,
            V::Derived,
            V::Derived,
        ]
    };
    let r = Registry::with_builtins(HostConfig::default()).unwrap();
    let h = r.builtin("jupiter-v6-route").unwrap();
    let schema = r.get(&h).unwrap().compiled().schema().unwrap().clone();
    let run = |v: Vec<V>| r.validate(&h, &msg, &[], &schema.encode(&v).unwrap());
    run(values(25_000_000, 3_221_703, 100, 5)).unwrap();
    refused(
        run(values(24_999_999, 3_221_703, 100, 5)),
        "input amount above the authorized maximum",
    );
    refused(
        run(values(25_000_000, 3_221_704, 100, 5)),
        "guaranteed output below the authorized minimum",
    );
    refused(
        run(values(25_000_000, 3_221_703, 99, 5)),
        "slippage above the authorized maximum",
    );
    refused(
        run(values(25_000_000, 3_221_703, 100, 4)),
        "Jupiter program authority id is not the authorized one",
    );
}

/// The public key parameter `name` of `values` (a decoded parameter set of `schema`: given, or
/// derived by the host).
fn pubkey_param(schema: &kms_constraints::ParamSchema, values: &[V], name: &str) -> Address {
    let i = schema.fields().iter().position(|f| f.name == name).unwrap();
    match values[i] {
        V::Pubkey(k) => k,
        _ => panic!("{name} is not a public key"),
    }
}

/// A real instruction file of `tests/data/real/`: its accounts (key, signer, writable) and data.
fn real_instruction(file: &str) -> (Vec<(Address, bool, bool)>, Vec<u8>) {
    let path = format!("{}/tests/data/real/{file}", env!("CARGO_MANIFEST_DIR"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let accounts = json["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                addr(a[0].as_str().unwrap()),
                a[1].as_bool().unwrap(),
                a[2].as_bool().unwrap(),
            )
        })
        .collect();
    (
        accounts,
        hex::decode(json["data_hex"].as_str().unwrap()).unwrap(),
    )
}

/// A legacy message of one instruction of `program`, paid by `payer`.
fn one_instruction_message(
    program: Address,
    accounts: &[(Address, bool, bool)],
    data: &[u8],
    payer: Address,
) -> Vec<u8> {
    use solana_message::{AccountMeta, Hash, Instruction, Message, VersionedMessage};
    let metas = accounts
        .iter()
        .map(|(k, s, w)| AccountMeta {
            pubkey: solana_message::Address::new_from_array(*k),
            is_signer: *s,
            is_writable: *w,
        })
        .collect();
    let ix = Instruction {
        program_id: solana_message::Address::new_from_array(program),
        accounts: metas,
        data: data.to_vec(),
    };
    let m = Message::new_with_blockhash(
        &[ix],
        Some(&solana_message::Address::new_from_array(payer)),
        &Hash::new_from_array([0xAB; 32]),
    );
    bincode::serialize(&VersionedMessage::Legacy(m)).unwrap()
}

/// Real PumpSwap `buy` instructions of mainnet (`tests/data/real/README.md`, carbon's
/// `pump-swap-decoder` fixtures, 23 accounts, the layout of before the fee-recipient upgrade):
/// the host derives from the trade's own user, mints, pool index and creator exactly the
/// accounts PumpSwap used; the 23-account layout is refused by name, and the same trade with
/// the three accounts the upgrade appends is accepted at its own bounds and refused one unit
/// past them.
#[test]
fn real_pumpswap_buys_are_derived_refused_in_their_old_layout_and_accepted_upgraded() {
    use kms_solana::programs::{PUMP_AMM_PROGRAM, PUMP_FUN_PROGRAM};
    for (file, base_out, max_quote_in, track_volume) in [
        (
            "pumpswap-buy-instruction-track-volume-true.json",
            104_079_243_172u64,
            255_000_000u64,
            Some(1u8),
        ),
        (
            "pumpswap-buy-instruction-track-volume-false.json",
            778_284_998_307,
            1_852_791_115,
            None,
        ),
    ] {
        let (accounts, data) = real_instruction(file);
        assert_eq!(accounts.len(), 23, "{file}");
        assert_eq!(
            (
                u64::from_le_bytes(data[8..16].try_into().unwrap()),
                u64::from_le_bytes(data[16..24].try_into().unwrap()),
                data.get(24).copied(),
            ),
            (base_out, max_quote_in, track_volume),
            "{file}"
        );
        let (user, base, quote) = (accounts[1].0, accounts[3].0, accounts[4].0);
        let (base_program, quote_program) = (accounts[11].0, accounts[12].0);
        let protocol_fee_recipient = accounts[9].0;
        assert_eq!(quote, NATIVE_MINT);
        // A pool migrated from the bonding curve: index 0, created by pump.fun's pool
        // authority of the mint.
        let pool_creator =
            kms_solana::find_program_address(&[b"pool-authority", &base], &PUMP_FUN_PROGRAM)
                .unwrap()
                .0;
        let fee_recipient = addr("5YxQFdt3Tr9zJLvkFccqXVUwhdTWJQc1fFg2YPbxvxeD");

        let r = Registry::with_builtins(HostConfig::default()).unwrap();
        let h = r.builtin("pumpswap-trade").unwrap();
        let schema = r.get(&h).unwrap().compiled().schema().unwrap().clone();
        // The coin's creator is not in the instruction; only the creator vault depends on it.
        let values = |creator: Address, max_quote: u64, min_base: u64| {
            let mut v = vec![
                V::Pubkey(user),
                V::U32(0),
                V::U64(0),
                V::Pubkey(base),
                V::Pubkey(base_program),
                V::Pubkey(quote),
                V::Pubkey(quote_program),
                V::U64(max_quote),
                V::U64(0),
                V::U64(min_base),
                V::U64(0),
                V::U64(0),
                V::OptPubkey(None),
                V::U16(0),
                V::Pubkey(pool_creator),
                V::Pubkey(creator),
                V::Pubkey(protocol_fee_recipient),
                V::Pubkey(fee_recipient),
            ];
            v.extend([V::Derived; 14]);
            v
        };
        let creator = [0x5C; 32];
        let params = schema
            .encode(&values(creator, max_quote_in, base_out))
            .unwrap();
        let derived = schema.decode(&params).unwrap();
        let field = |name: &str| pubkey_param(&schema, &derived, name);
        // The host's derivations are mainnet's.
        for (name, at) in [
            ("pool", 0),
            ("user_base_ata", 5),
            ("user_quote_ata", 6),
            ("pool_base_ata", 7),
            ("pool_quote_ata", 8),
            ("protocol_fee_ata", 10),
            ("global_volume_accumulator", 19),
            ("user_volume_accumulator", 20),
            ("fee_config", 21),
        ] {
            assert_eq!(field(name), accounts[at].0, "{file}: {name}");
        }

        let run = |accounts: &[(Address, bool, bool)], p: &[u8]| {
            validate_one(&r, &h, PUMP_AMM_PROGRAM, accounts, &data, user, p)
        };
        refused(
            run(&accounts, &params),
            "PumpSwap layout from before the 2026-04-28 fee-recipient upgrade",
        );

        // Today's layout of the same trade: the creator vault of the intent's creator (the
        // instruction does not name the creator) and the three accounts the upgrade appends.
        let mut upgraded = accounts.clone();
        upgraded[17].0 = field("creator_vault_ata");
        upgraded[18].0 = field("creator_vault");
        upgraded.push((field("pool_v2"), false, false));
        upgraded.push((fee_recipient, false, false));
        upgraded.push((field("fee_recipient_ata"), false, true));
        // Mainnet's message marked the global volume accumulator writable (and the second one
        // also the fee config and fee program), as PumpSwap's IDL had it until 2025-11-16;
        // the current IDL has them readonly. 1.0.0 refused such a message, 1.1.0 accepts it
        // (those accounts belong to PumpSwap or its fee program).
        run(&upgraded, &params).unwrap_or_else(|e| panic!("{file}: {e}"));
        let encode = |v: &[V]| schema.encode(v).unwrap();
        refused(
            run(
                &upgraded,
                &encode(&values(creator, max_quote_in - 1, base_out)),
            ),
            "quote amount in above the authorized maximum",
        );
        refused(
            run(
                &upgraded,
                &encode(&values(creator, max_quote_in, base_out + 1)),
            ),
            "buys fewer base tokens than the authorized minimum",
        );
        // Mainnet's creator vault is another creator's than the intent's: refused.
        let mut theirs = upgraded.clone();
        theirs[17].0 = accounts[17].0;
        refused(
            run(&theirs, &params),
            "creator vault account is not the authorized creator's",
        );
    }
}

/// Real PumpSwap trades in today's layout, top-level on mainnet in October 2026
/// (`tests/data/real/README.md`): three `sell` (24 accounts), one `buy` and two
/// `buy_exact_quote_in` (26), each of a Token-2022 coin paired with wrapped SOL in a pool
/// migrated from the bonding curve. From each trade's own user, mints, token programs, pool
/// index 0 and pool creator (pump.fun's pool authority of the mint), protocol fee recipient and
/// fee recipient, the host derives exactly the accounts mainnet used; with the creator vault of
/// a stand-in creator (the instruction does not name the coin's creator) each is accepted at its
/// own bounds and refused one unit past each.
#[test]
fn real_pumpswap_trades_in_todays_layout_are_accepted_at_their_bounds() {
    use kms_solana::programs::{PUMP_AMM_PROGRAM, PUMP_FUN_PROGRAM};
    const SELL: [u8; 8] = [51, 230, 133, 164, 1, 127, 131, 173];
    const BUY: [u8; 8] = [102, 6, 61, 18, 1, 218, 235, 234];
    let r = Registry::with_builtins(HostConfig::default()).unwrap();
    let h = r.builtin("pumpswap-trade").unwrap();
    let schema = r.get(&h).unwrap().compiled().schema().unwrap().clone();
    for file in [
        "pumpswap-sell-24-27HoMF.json",
        "pumpswap-sell-24-5FoZuu.json",
        "pumpswap-sell-24-3yWpH5.json",
        "pumpswap-buy-26-TNSxB6.json",
        "pumpswap-buy-exact-quote-in-26-3KBJWV.json",
        "pumpswap-buy-exact-quote-in-26-4UrrW5.json",
    ] {
        let (mut accounts, data) = real_instruction(file);
        let sell = data.starts_with(&SELL);
        assert_eq!(accounts.len(), if sell { 24 } else { 26 }, "{file}");
        let number = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().unwrap());
        // [max_quote_in, min_quote_out, min_base_out, max_base_in] at the trade's own numbers:
        // sell (base in, quote floor), buy (base out, quote cap), buy_exact_quote_in (quote
        // in, base floor).
        let bounds = if sell {
            [0, number(16), 0, number(8)]
        } else if data.starts_with(&BUY) {
            [number(16), 0, number(8), 0]
        } else {
            [number(8), 0, number(16), 0]
        };
        let (user, base, quote) = (accounts[1].0, accounts[3].0, accounts[4].0);
        assert_eq!(quote, NATIVE_MINT, "{file}");
        let pool_creator =
            kms_solana::find_program_address(&[b"pool-authority", &base], &PUMP_FUN_PROGRAM)
                .unwrap()
                .0;
        let fee_recipient = accounts[if sell { 22 } else { 24 }].0;
        let (base_program, quote_program, protocol_fee_recipient) =
            (accounts[11].0, accounts[12].0, accounts[9].0);
        let values = |[max_quote_in, min_quote_out, min_base_out, max_base_in]: [u64; 4]| {
            let mut v = vec![
                V::Pubkey(user),
                V::U32(0),
                V::U64(0),
                V::Pubkey(base),
                V::Pubkey(base_program),
                V::Pubkey(quote),
                V::Pubkey(quote_program),
                V::U64(max_quote_in),
                V::U64(min_quote_out),
                V::U64(min_base_out),
                V::U64(max_base_in),
                V::U64(0),
                V::OptPubkey(None),
                V::U16(0),
                V::Pubkey(pool_creator),
                V::Pubkey([0x5C; 32]),
                V::Pubkey(protocol_fee_recipient),
                V::Pubkey(fee_recipient),
            ];
            v.extend([V::Derived; 14]);
            schema.encode(&v).unwrap()
        };
        let params = values(bounds);
        let derived = schema.decode(&params).unwrap();
        let field = |name: &str| pubkey_param(&schema, &derived, name);
        let mut fixed = vec![
            ("pool", 0),
            ("user_base_ata", 5),
            ("user_quote_ata", 6),
            ("pool_base_ata", 7),
            ("pool_quote_ata", 8),
            ("protocol_fee_ata", 10),
        ];
        fixed.extend(if sell {
            [
                ("fee_config", 19),
                ("pool_v2", 21),
                ("fee_recipient_ata", 23),
            ]
            .as_slice()
        } else {
            [
                ("global_volume_accumulator", 19),
                ("user_volume_accumulator", 20),
                ("fee_config", 21),
                ("pool_v2", 23),
                ("fee_recipient_ata", 25),
            ]
            .as_slice()
        });
        for (name, at) in fixed {
            assert_eq!(field(name), accounts[at].0, "{file}: {name}");
        }
        accounts[17].0 = field("creator_vault_ata");
        accounts[18].0 = field("creator_vault");
        let run = |accounts: &[(Address, bool, bool)], data: &[u8], p: &[u8]| {
            validate_one(&r, &h, PUMP_AMM_PROGRAM, accounts, data, user, p)
        };
        let mut data = data.clone();
        if sell && data.len() > 24 {
            // Finding: one builder (of a transaction that failed) appended two bytes to `sell`,
            // whose IDL has two arguments; the program ignores them, the module refuses bytes
            // its layout does not define.
            refused(
                run(&accounts, &data, &params),
                "unknown PumpSwap sell layout",
            );
            data.truncate(24);
        }
        // The buy builders marked accounts writable that today's IDL has readonly (one the
        // fee recipient, the others the global volume accumulator): 1.1.0 accepts that. Any
        // other account the IDL has readonly stays refused writable (pool_v2).
        let mut writable = accounts.clone();
        writable[if sell { 21 } else { 23 }].2 = true;
        refused(
            run(&writable, &data, &params),
            "an account is writable that this shape never writes",
        );
        if let Err(e) = run(&accounts, &data, &params) {
            panic!("{file}: {e}");
        }
        for (i, past) in one_unit_past(bounds) {
            assert!(
                run(&accounts, &data, &values(past)).is_err(),
                "{file}: bound {i}"
            );
        }
    }
}

/// Real Jupiter v2 routes, top-level on mainnet (`tests/data/real/README.md`): a `route_v2`
/// (88 accounts) and two `shared_accounts_route_v2` (75 and 79), each rebuilt as a v0 message
/// paid by its user whose lookup table holds the route's remaining accounts (what the
/// transactions loaded from theirs), under the intent of its own numbers.
///
/// As they landed, none can be signed by this signer: two have a second signer (a leg's
/// co-signer, `sighWH8K…`, which the user's signer cannot provide) and the third carries a
/// platform fee, which the module refuses in v2 forms (they name no fee account). Without the
/// co-signer's flag and with the fee at 0, both `shared_accounts_route_v2` (authorities 8 and
/// 12; the second sends its output straight to the user's account, which 3.1.0 accepts) are
/// accepted at their bounds and refused one unit past each; the `route_v2` stays refused: its
/// legs name the user as a writable account.
#[test]
fn real_jupiter_v2_routes_under_the_intent_of_their_own_numbers() {
    for (file, shared, as_is, adjusted) in [
        (
            "jupiter-route-v2-88-2MESm4.json",
            false,
            "the user must be the only signer",
            Some("a route leg names the user as a writable account"),
        ),
        (
            "jupiter-shared-accounts-route-v2-75-eEWaGs.json",
            true,
            "platform fee in a v2 route (it names no fee account)",
            None,
        ),
        (
            "jupiter-shared-accounts-route-v2-79-213kMy.json",
            true,
            "the user must be the only signer",
            None,
        ),
    ] {
        let route = JupiterV2::new(file, shared);
        let own = route.own_numbers();
        refused(route.run(&route.accounts, &route.data, own), as_is);
        // The leg's co-signer as an ordinary account, no platform fee.
        let mut accounts = route.accounts.clone();
        for a in accounts.iter_mut().filter(|a| a.0 != route.user) {
            a.1 = false;
        }
        let mut data = route.data.clone();
        data[route.args + 18..route.args + 20].fill(0);
        let own = JupiterV2 {
            data: data.clone(),
            ..route.clone()
        }
        .own_numbers();
        if let Some(why) = adjusted {
            refused(route.run(&accounts, &data, own), why);
            continue;
        }
        route
            .run(&accounts, &data, own)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let (max_in, min_out, slippage, id) = own;
        for (past, what) in [
            (
                (max_in - 1, min_out, slippage, id),
                "input amount above the authorized maximum",
            ),
            (
                (max_in, min_out + 1, slippage, id),
                "guaranteed output below the authorized minimum",
            ),
            (
                (max_in, min_out, slippage - 1, id),
                "slippage above the authorized maximum",
            ),
            ((max_in, min_out, slippage, id - 1), "program authority"),
        ] {
            refused(route.run(&accounts, &data, past), what);
        }
    }
}

/// One real Jupiter v2 route instruction of `tests/data/real/`, and how to check it.
#[derive(Clone)]
struct JupiterV2 {
    accounts: Vec<(Address, bool, bool)>,
    data: Vec<u8>,
    user: Address,
    /// Positions of (input, output) mints and token programs, and of the fixed accounts' end.
    mints: (usize, usize),
    programs: (usize, usize),
    fixed: usize,
    /// Where the amounts start (after the discriminator and, shared, the authority id).
    args: usize,
    shared: bool,
}

impl JupiterV2 {
    fn new(file: &str, shared: bool) -> Self {
        let (accounts, data) = real_instruction(file);
        // The module's layouts: route_v2 user 0, source 1, destination 2, mints 3 and 4,
        // token programs 5 and 6, 10 fixed accounts; the shared form authority 0, user 1,
        // source 2, destination 5, mints 6 and 7, token programs 8 and 9, 12 fixed.
        let (user, mints, programs, fixed) = if shared {
            (accounts[1].0, (6, 7), (8, 9), 12)
        } else {
            (accounts[0].0, (3, 4), (5, 6), 10)
        };
        Self {
            accounts,
            data,
            user,
            mints,
            programs,
            fixed,
            args: if shared { 9 } else { 8 },
            shared,
        }
    }

    /// (amount in, guaranteed output after slippage and platform fee, slippage bps, authority
    /// id) as the instruction states them.
    fn own_numbers(&self) -> (u64, u64, u16, u8) {
        let d = &self.data;
        let at = self.args;
        let number = |i: usize| u64::from_le_bytes(d[i..i + 8].try_into().unwrap());
        let bps = |i: usize| u16::from_le_bytes(d[i..i + 2].try_into().unwrap());
        let (slippage, fee) = (bps(at + 16), bps(at + 18));
        let g = u128::from(number(at + 8)) * u128::from(10_000 - slippage) / 10_000
            * u128::from(10_000 - fee)
            / 10_000;
        let id = if self.shared { d[8] } else { 0 };
        (number(at), u64::try_from(g).unwrap(), slippage, id)
    }

    /// Validates `accounts` and `data` as a v0 message paid by the user, with the route's
    /// remaining accounts (those not among the fixed ones, and no signer) in one lookup table,
    /// under the intent `(max_in, min_out, max_slippage, authority id)`.
    fn run(
        &self,
        accounts: &[(Address, bool, bool)],
        data: &[u8],
        (max_in, min_out, max_slippage, id): (u64, u64, u16, u8),
    ) -> Result<(), Error> {
        use solana_message::{
            AccountMeta, AddressLookupTableAccount, Hash, Instruction, VersionedMessage, v0,
        };
        let key = solana_message::Address::new_from_array;
        let table = AddressLookupTableAccount {
            key: key([0x7A; 32]),
            addresses: accounts[self.fixed..]
                .iter()
                .filter(|(k, s, _)| !s && !accounts[..self.fixed].iter().any(|f| f.0 == *k))
                .map(|(k, _, _)| key(*k))
                .collect(),
        };
        let ix = Instruction {
            program_id: key(kms_solana::programs::JUPITER_V6_PROGRAM),
            accounts: accounts
                .iter()
                .map(|(k, s, w)| AccountMeta {
                    pubkey: key(*k),
                    is_signer: *s,
                    is_writable: *w,
                })
                .collect(),
            data: data.to_vec(),
        };
        let m = v0::Message::try_compile(
            &key(self.user),
            &[ix],
            std::slice::from_ref(&table),
            Hash::new_from_array([0xAB; 32]),
        )
        .unwrap();
        let lookups = &m.address_table_lookups;
        let loaded: Vec<Address> = lookups
            .iter()
            .flat_map(|l| l.writable_indexes.iter())
            .chain(lookups.iter().flat_map(|l| l.readonly_indexes.iter()))
            .map(|&i| table.addresses[usize::from(i)].to_bytes())
            .collect();
        let msg = bincode::serialize(&VersionedMessage::V0(m)).unwrap();
        let r = Registry::with_builtins(HostConfig::default()).unwrap();
        let h = r.builtin("jupiter-v6-route").unwrap();
        let schema = r.get(&h).unwrap().compiled().schema().unwrap().clone();
        let params = schema
            .encode(&[
                V::Pubkey(self.user),
                V::U32(0),
                V::U64(0),
                V::Pubkey(accounts[self.mints.0].0),
                V::Pubkey(accounts[self.programs.0].0),
                V::Pubkey(accounts[self.mints.1].0),
                V::Pubkey(accounts[self.programs.1].0),
                V::U64(max_in),
                V::U64(min_out),
                V::U16(max_slippage),
                V::U8(0),
                V::OptPubkey(None),
                V::Derived,
                V::Derived,
                V::U64(0),
                V::OptPubkey(None),
                V::U8(id),
                V::Derived,
                V::Derived,
                V::Derived,
            ])
            .unwrap();
        r.validate(&h, &msg, &loaded, &params)
    }
}

/// Real pump.fun `buy_v2` trades (the quote-mint form, 27 accounts), top-level on mainnet in
/// October 2026 (`tests/data/real/README.md`): eleven buys, each by a coin's creator right after
/// creating it (Token-2022 coins paired with wrapped SOL). From each trade's own user, mint,
/// token programs, creator (the user), fee and buyback recipients and quote mint, the host
/// derives every account mainnet used; as a trade on its own (the mint signs and is written
/// only because the same transaction created it) each is accepted at its own bounds (several
/// builders set `max_sol_cost` to `u64::MAX`: no price limit, which an intent can say too) and
/// refused one unit past each.
#[test]
fn real_pumpfun_buy_v2_trades_are_accepted_at_their_bounds() {
    let r = Registry::with_builtins(HostConfig::default()).unwrap();
    let h = r.builtin("pumpfun-trade").unwrap();
    let schema = r.get(&h).unwrap().compiled().schema().unwrap().clone();
    let files = real_files("pumpfun-buy-v2-27-");
    assert_eq!(files.len(), 11);
    for file in &files {
        let (mut accounts, data) = real_instruction(file);
        assert_eq!(accounts.len(), 27, "{file}");
        assert_eq!(data.len(), 24, "{file}");
        let number = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().unwrap());
        let (min_tokens, max_sol) = (number(8), number(16));
        let user = accounts[13].0;
        assert_eq!(accounts[2].0, NATIVE_MINT, "{file}");
        assert_eq!(accounts[4].0, TOKEN_PROGRAM, "{file}");
        let keys = [user, accounts[1].0, accounts[3].0, user];
        let fees = [accounts[6].0, accounts[8].0];
        let params = schema
            .encode(&pumpfun_values(keys, max_sol, min_tokens, fees))
            .unwrap();
        let derived = schema.decode(&params).unwrap();
        assert_derived_as_mainnet(
            &schema,
            &derived,
            &accounts,
            file,
            &[
                ("fee_recipient_quote_ata", 7),
                ("buyback_quote_ata", 9),
                ("bonding_curve", 10),
                ("bonding_curve_ata", 11),
                ("bonding_curve_quote_ata", 12),
                ("user_ata", 14),
                ("user_quote_ata", 15),
                ("creator_vault", 16),
                ("creator_vault_quote_ata", 17),
                ("sharing_config", 18),
                ("global_volume_accumulator", 19),
                ("user_volume_accumulator", 20),
                ("user_volume_quote_ata", 21),
                ("fee_config", 22),
            ],
        );
        let run = |accounts: &[(Address, bool, bool)], p: &[u8]| {
            validate_one(
                &r,
                &h,
                kms_solana::programs::PUMP_FUN_PROGRAM,
                accounts,
                &data,
                user,
                p,
            )
        };
        // The mint signs and is written only because the same transaction created it.
        accounts[1] = (accounts[1].0, false, false);
        run(&accounts, &params).unwrap_or_else(|e| panic!("{file}: {e}"));
        let encode = |max_sol, min_tokens| {
            schema
                .encode(&pumpfun_values(keys, max_sol, min_tokens, fees))
                .unwrap()
        };
        refused(
            run(&accounts, &encode(max_sol - 1, min_tokens)),
            "above the authorized maximum",
        );
        refused(
            run(&accounts, &encode(max_sol, min_tokens + 1)),
            "than the authorized minimum",
        );
    }
}

/// Real pump.fun trades that bots sent through routers on mainnet in August–October 2026
/// (`tests/data/real/README.md`): inner instructions, each with the user's own wallet as signer,
/// so each is also a trade the user could send directly (checked with the IDL's flags: an
/// inner instruction has none of its own in the message). Five `sell_v2` (26 accounts) and ten
/// `buy_exact_quote_in_v2` (27), quoted in wrapped SOL or in other quote mints, and eight `buy`
/// of today's 18-account layout. From each trade's own user, mint, token programs, quote mint
/// and recipients, the host derives every account mainnet used except the creator vault (the
/// instruction does not name the coin's creator, so a stand-in creator's vault is used); as a
/// trade the user sends on its own, each is accepted at its own bounds and refused one unit
/// past each, except the two legs of a cross-DEX route, whose token accounts are not the
/// user's associated ones (refused, asserted).
#[test]
fn real_pumpfun_trades_routed_by_bots_are_accepted_at_their_bounds() {
    let r = Registry::with_builtins(HostConfig::default()).unwrap();
    let h = r.builtin("pumpfun-trade").unwrap();
    let schema = r.get(&h).unwrap().compiled().schema().unwrap().clone();
    let files = real_files("pumpfun-routed-");
    assert_eq!(files.len(), 23);
    let stand_in = [0x5C; 32];
    for file in &files {
        let (mut accounts, data) = real_instruction(file);
        let number = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().unwrap());
        let (a, b) = (number(8), number(16));
        // Positions of the accounts by layout: user, mint, token program, quote mint and
        // program (v2 forms only), fee and buyback recipients, creator vault and its quote
        // account, and the host-derived accounts to compare with mainnet's.
        let v2 = accounts.len() > 18;
        let (user, mint, program) = if v2 { (13, 1, 3) } else { (6, 2, 8) };
        let (quote, quote_program) = if v2 {
            (accounts[2].0, accounts[4].0)
        } else {
            (NATIVE_MINT, TOKEN_PROGRAM)
        };
        let fees = if v2 {
            [accounts[6].0, accounts[8].0]
        } else {
            [accounts[1].0, accounts[17].0]
        };
        // sell_v2: tokens in, quote floor; buy_exact_quote_in_v2: quote in, tokens floor;
        // buy: tokens out, SOL cap.
        let bounds = if file.contains("-sell-v2-") {
            [0, b, 0, a]
        } else if file.contains("-buy-exact-quote-in-v2-") {
            [a, 0, b, 0]
        } else {
            [b, 0, a, 0]
        };
        let user_key = accounts[user].0;
        let keys = [user_key, accounts[mint].0, accounts[program].0, stand_in];
        let values = |bounds: [u64; 4]| {
            schema
                .encode(&pumpfun_trade_values(
                    keys,
                    bounds,
                    [quote, quote_program],
                    fees,
                ))
                .unwrap()
        };
        let params = values(bounds);
        let derived = schema.decode(&params).unwrap();
        let field = |name: &str| pubkey_param(&schema, &derived, name);
        // Where the host-derived accounts are, by layout (sell_v2 has no global volume
        // accumulator), and the creator vault and its quote account (a stand-in creator's).
        let fixed: &[(&str, usize)] = if file.contains("-sell-v2-") {
            &[
                ("fee_recipient_quote_ata", 7),
                ("buyback_quote_ata", 9),
                ("bonding_curve", 10),
                ("bonding_curve_ata", 11),
                ("bonding_curve_quote_ata", 12),
                ("user_ata", 14),
                ("user_quote_ata", 15),
                ("sharing_config", 18),
                ("user_volume_accumulator", 19),
                ("user_volume_quote_ata", 20),
                ("fee_config", 21),
            ]
        } else if v2 {
            &[
                ("fee_recipient_quote_ata", 7),
                ("buyback_quote_ata", 9),
                ("bonding_curve", 10),
                ("bonding_curve_ata", 11),
                ("bonding_curve_quote_ata", 12),
                ("user_ata", 14),
                ("user_quote_ata", 15),
                ("sharing_config", 18),
                ("global_volume_accumulator", 19),
                ("user_volume_accumulator", 20),
                ("user_volume_quote_ata", 21),
                ("fee_config", 22),
            ]
        } else {
            &[
                ("user_ata", 5),
                ("bonding_curve", 3),
                ("bonding_curve_ata", 4),
                ("global_volume_accumulator", 12),
                ("user_volume_accumulator", 13),
                ("fee_config", 14),
                ("bonding_curve_v2", 16),
            ]
        };
        let vault: &[(&str, usize)] = if v2 {
            &[("creator_vault", 16), ("creator_vault_quote_ata", 17)]
        } else {
            &[("creator_vault", 9)]
        };
        // Finding: the two trades of a cross-DEX route (a stock token bought with another
        // coin's proceeds) move tokens through accounts of the user that are not its
        // associated token accounts; the module allows only those (checked below).
        let cross_dex = file.ends_with("-26EFfj.json") || file.ends_with("-4svuWV.json");
        for (name, at) in fixed {
            let mainnet = accounts[*at].0;
            if cross_dex && (*name == "user_ata" || *name == "user_quote_ata") {
                assert_ne!(field(name), mainnet, "{file}: {name}");
                continue;
            }
            assert_eq!(field(name), mainnet, "{file}: {name}");
        }
        for &(name, at) in vault {
            accounts[at].0 = field(name);
        }
        // An inner instruction has no flags of its own in the message: the transaction's
        // (what the file holds) are the union over its instructions (a coin created in the same
        // transaction makes its mint a signer, other calls make programs writable). The trade
        // the user would send on its own carries the IDL's: only the user signs, and the
        // accounts the IDL has readonly are readonly.
        let readonly: &[usize] = if file.contains("-sell-v2-") {
            &[0, 1, 2, 3, 4, 5, 18, 21, 22, 23, 24, 25]
        } else if v2 {
            &[0, 1, 2, 3, 4, 5, 18, 19, 22, 23, 24, 25, 26]
        } else {
            &[0, 2, 7, 8, 10, 11, 12, 14, 15, 16]
        };
        for (i, a) in accounts.iter_mut().enumerate() {
            a.1 = i == user;
            a.2 &= !readonly.contains(&i);
        }
        let run = |accounts: &[(Address, bool, bool)], p: &[u8]| {
            validate_one(
                &r,
                &h,
                kms_solana::programs::PUMP_FUN_PROGRAM,
                accounts,
                &data,
                user_key,
                p,
            )
        };
        if cross_dex {
            refused(
                run(&accounts, &params),
                "tokens to or from an account other than the user's associated token account",
            );
            continue;
        }
        run(&accounts, &params).unwrap_or_else(|e| panic!("{file}: {e}"));
        // Maxima (the first and last bound) one unit lower, minima one unit higher.
        for (i, past) in one_unit_past(bounds) {
            assert!(
                run(&accounts, &values(past)).is_err(),
                "{file}: bound {i} one unit past"
            );
        }
    }
}

/// Real PumpSwap v2 trades (17 accounts, IDL of pump-public-docs `8cda1fa`) that bots routed on
/// mainnet in October 2026 (`tests/data/real/README.md`): inner instructions with the user's
/// own wallet as signer, checked as the trade the user could send directly (with the IDL's
/// flags: an inner instruction has none of its own in a message). From each trade's user,
/// mints, token programs, pool index 0 and pool creator (pump.fun's pool authority of the
/// mint) and fee recipient, the host derives every account mainnet used, and each is accepted
/// at its own bounds and refused one unit past each (three of the five). The two legs of a
/// cross-DEX route: the first is in a pool that pump.fun's migration did not create, whose
/// creator no instruction names (no intent can be built; asserted), the second takes its quote
/// from an account of the user that is not its associated token account (refused, asserted).
#[test]
fn real_pumpswap_v2_trades_routed_by_bots() {
    use kms_solana::programs::{PUMP_AMM_PROGRAM, PUMP_FUN_PROGRAM};
    const SELL_V2: [u8; 8] = [93, 246, 130, 60, 231, 233, 64, 178];
    const BUY_V2: [u8; 8] = [184, 23, 238, 97, 103, 197, 211, 61];
    let r = Registry::with_builtins(HostConfig::default()).unwrap();
    let h = r.builtin("pumpswap-trade").unwrap();
    let schema = r.get(&h).unwrap().compiled().schema().unwrap().clone();
    let files = real_files("pumpswap-routed-");
    assert_eq!(files.len(), 5);
    for file in &files {
        let (mut accounts, data) = real_instruction(file);
        assert_eq!((accounts.len(), data.len()), (17, 24), "{file}");
        let number = |at: usize| u64::from_le_bytes(data[at..at + 8].try_into().unwrap());
        let sell = data.starts_with(&SELL_V2);
        // [max_quote_in, min_quote_out, min_base_out, max_base_in]
        let bounds = if sell {
            [0, number(16), 0, number(8)]
        } else if data.starts_with(&BUY_V2) {
            [number(16), 0, number(8), 0]
        } else {
            [number(8), 0, number(16), 0]
        };
        let (user, base, quote) = (accounts[1].0, accounts[3].0, accounts[4].0);
        let (base_program, quote_program) = (accounts[9].0, accounts[10].0);
        let pool_creator =
            kms_solana::find_program_address(&[b"pool-authority", &base], &PUMP_FUN_PROGRAM)
                .unwrap()
                .0;
        let values = |[max_quote_in, min_quote_out, min_base_out, max_base_in]: [u64; 4],
                      fee_recipient: Address| {
            let mut v = vec![
                V::Pubkey(user),
                V::U32(0),
                V::U64(0),
                V::Pubkey(base),
                V::Pubkey(base_program),
                V::Pubkey(quote),
                V::Pubkey(quote_program),
                V::U64(max_quote_in),
                V::U64(min_quote_out),
                V::U64(min_base_out),
                V::U64(max_base_in),
                V::U64(0),
                V::OptPubkey(None),
                V::U16(0),
                V::Pubkey(pool_creator),
                V::Pubkey([0x5C; 32]),
                V::Pubkey(addr("62qc2CNXwrYqQScmEdiZFFAnJR262PxWEuNQtxfafNgV")),
                V::Pubkey(fee_recipient),
            ];
            v.extend([V::Derived; 14]);
            schema.encode(&v).unwrap()
        };
        // Account 14 (the IDL's `buyback_fee_recipient`) is a fee recipient's quote token
        // account: find which of the published recipients owns it.
        let fee_recipient = [
            "5YxQFdt3Tr9zJLvkFccqXVUwhdTWJQc1fFg2YPbxvxeD",
            "A7hAgCzFw14fejgCp387JUJRMNyz4j89JKnhtKU8piqW",
        ]
        .iter()
        .map(|k| addr(k))
        .find(|o| {
            kms_solana::associated_token_address(o, &quote, &quote_program)
                .map(|a| a.0)
                .ok()
                == Some(accounts[14].0)
        })
        .unwrap_or_else(|| panic!("{file}: account 14 is no known recipient's"));
        let params = values(bounds, fee_recipient);
        let derived = schema.decode(&params).unwrap();
        let field = |name: &str| pubkey_param(&schema, &derived, name);
        if field("pool") != accounts[0].0 {
            // Not a pool of pump.fun's migration (index 0, pool authority of the mint): its
            // creator and index are not in the instruction, so no intent can be built from it.
            assert!(file.ends_with("-Acuhf8.json"), "{file}: pool not derived");
            continue;
        }
        // The second leg of a cross-DEX route takes its quote from an account of the user that
        // is not its associated token account (as in the pump.fun case): refused, below.
        let cross_dex = file.ends_with("-Acuhf8-2.json");
        for (name, at) in [
            ("user_base_ata", 5),
            ("user_quote_ata", 6),
            ("pool_base_ata", 7),
            ("pool_quote_ata", 8),
            ("user_volume_accumulator", 12),
            ("fee_config", 13),
            ("fee_recipient_ata", 14),
        ] {
            if cross_dex && name == "user_quote_ata" {
                assert_ne!(field(name), accounts[at].0, "{file}: {name}");
                continue;
            }
            assert_eq!(field(name), accounts[at].0, "{file}: {name}");
        }
        // The IDL's flags: only the user signs; global config, mints, programs, fee config,
        // event authority and program readonly.
        for (i, a) in accounts.iter_mut().enumerate() {
            a.1 = i == 1;
            a.2 &= ![2, 3, 4, 9, 10, 11, 13, 15, 16].contains(&i);
        }
        let run = |p: &[u8]| {
            let checked = r.check_params(&h, p).unwrap();
            r.validate_checked(
                &checked,
                &one_instruction_message(PUMP_AMM_PROGRAM, &accounts, &data, user),
                &[],
            )
        };
        if cross_dex {
            refused(
                run(&params),
                "quote tokens to or from an account other than the user's",
            );
            continue;
        }
        run(&params).unwrap_or_else(|e| panic!("{file}: {e}"));
        // Maxima (the first and last bound) one unit lower, minima one unit higher.
        for (i, past) in one_unit_past(bounds) {
            assert!(
                run(&values(past, fee_recipient)).is_err(),
                "{file}: bound {i} one unit past"
            );
        }
    }
}

/// The real instruction files of `tests/data/real/` whose names start with `prefix`, sorted.
fn real_files(prefix: &str) -> Vec<String> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/real");
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(prefix))
        .collect();
    files.sort();
    files
}

/// For each non-zero bound of `[maximum, minimum, minimum, maximum]` (the order the trading
/// tests use), its index and the bounds with that one moved one unit past: a maximum one unit
/// lower, a minimum one unit higher.
fn one_unit_past(bounds: [u64; 4]) -> impl Iterator<Item = (usize, [u64; 4])> {
    (0..4).filter(move |&i| bounds[i] != 0).map(move |i| {
        let mut past = bounds;
        past[i] = if i == 0 || i == 3 {
            bounds[i] - 1
        } else {
            bounds[i] + 1
        };
        (i, past)
    })
}

/// Validates one instruction of `program` (`accounts` as (key, signer, writable), `data`) in a
/// legacy message paid by `payer`, under the parameters `params` of module `h`.
fn validate_one(
    r: &Registry,
    h: &kms_constraints::ModuleHash,
    program: Address,
    accounts: &[(Address, bool, bool)],
    data: &[u8],
    payer: Address,
    params: &[u8],
) -> Result<(), Error> {
    let checked = r.check_params(h, params).unwrap();
    r.validate_checked(
        &checked,
        &one_instruction_message(program, accounts, data, payer),
        &[],
    )
}

/// Each host-derived parameter `name` of `derived` equals the account mainnet used at `at`.
fn assert_derived_as_mainnet(
    schema: &kms_constraints::ParamSchema,
    derived: &[V],
    accounts: &[(Address, bool, bool)],
    file: &str,
    fields: &[(&str, usize)],
) {
    for &(name, at) in fields {
        assert_eq!(
            pubkey_param(schema, derived, name),
            accounts[at].0,
            "{file}: {name}"
        );
    }
}
