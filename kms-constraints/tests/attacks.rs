//! Every built-in module: valid transactions accepted, and each attack of the issue rejected
//! with a reason. Transactions are compiled by the real `solana-message` compiler.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

mod common;

use common::*;
use kms_constraints::{Error, HostConfig, ModuleHash, ParamValue as V, Registry, RejectionKind};
use kms_solana::programs::*;
use solana_message::Instruction;

const CU_LIMIT: u32 = 200_000;
const CU_PRICE: u64 = 50_000;

fn common_params(values: &[V]) -> Vec<V> {
    let mut v = vec![V::Pubkey(USER), V::U32(CU_LIMIT), V::U64(CU_PRICE)];
    v.extend_from_slice(values);
    v
}

fn check(
    r: &Registry,
    h: &ModuleHash,
    msg: &[u8],
    loaded: &[[u8; 32]],
    params: &[u8],
) -> Result<(), Error> {
    let one_shot = r.validate(h, msg, loaded, params);
    // The signer's path (parameters checked once when the intent is authorized) must decide
    // exactly as the one-shot path does.
    if let Ok(checked) = r.check_params(h, params) {
        assert_eq!(checked.module(), h);
        assert_eq!(checked.as_bytes(), params);
        let split = r.validate_checked(&checked, msg, loaded);
        assert_eq!(
            format!("{split:?}"),
            format!("{one_shot:?}"),
            "validate_checked and validate disagree"
        );
    }
    one_shot
}

#[track_caller]
fn refused(res: Result<(), Error>, what: &str) -> String {
    match res {
        Err(Error::Rejected {
            kind: RejectionKind::Refused,
            reason,
        }) => {
            assert!(!reason.is_empty(), "{what}: empty reason");
            reason
        }
        other => panic!("{what}: expected a refusal, got {other:?}"),
    }
}

/// One module's valid shape and what the generic attacks need to know about it.
struct Case {
    module: &'static str,
    params: Vec<u8>,
    valid: Vec<Instruction>,
    /// Index of the main instruction (transfer, swap, trade) in `valid`.
    main: usize,
    /// The user's token account that setAuthority/approve/closeAccount attacks target.
    token_account: [u8; 32],
    /// The account where the user's funds go (hidden in a lookup table by one attack).
    destination: [u8; 32],
}

fn run_generic_attacks(r: &Registry, c: &Case) {
    let h = r.builtin(c.module).unwrap();
    let ok = |ixs: &[Instruction]| check(r, &h, &legacy(ixs), &[], &c.params);
    ok(&c.valid).unwrap_or_else(|e| panic!("{}: valid shape refused: {e}", c.module));
    let with = |f: &dyn Fn(&mut Vec<Instruction>)| {
        let mut v = c.valid.clone();
        f(&mut v);
        ok(&v)
    };
    let m = c.module;
    refused(
        with(&|v| v.push(transfer(USER, ATTACKER, 1))),
        &format!("{m}: added transfer"),
    );
    refused(
        with(&|v| v.insert(0, transfer(USER, ATTACKER, 1))),
        &format!("{m}: prepended transfer"),
    );
    let reason = refused(
        with(&|v| {
            v[c.main]
                .accounts
                .push(solana_message::AccountMeta::new_readonly(
                    addr(ATTACKER),
                    true,
                ))
        }),
        &format!("{m}: extra signer"),
    );
    assert!(reason.contains("only signer"), "{m}: {reason}");
    refused(
        with(&|v| {
            v.push(set_authority(
                TOKEN_PROGRAM,
                c.token_account,
                USER,
                ATTACKER,
            ))
        }),
        &format!("{m}: setAuthority"),
    );
    refused(
        with(&|v| {
            v.push(approve(
                TOKEN_PROGRAM,
                c.token_account,
                ATTACKER,
                USER,
                u64::MAX,
            ))
        }),
        &format!("{m}: approve"),
    );
    refused(
        with(&|v| v.push(close(TOKEN_PROGRAM, c.token_account, ATTACKER, USER))),
        &format!("{m}: closeAccount to someone else"),
    );
    refused(
        with(&|v| v[c.main].program_id = addr(key(0x99))),
        &format!("{m}: wrong program id"),
    );
    refused(
        with(&|v| {
            let d = v[c.main].clone();
            v.insert(c.main + 1, d);
        }),
        &format!("{m}: duplicated instruction"),
    );
    refused(
        with(&|v| {
            let d = v.remove(c.main);
            v.insert(0, d);
        }),
        &format!("{m}: reordered instruction"),
    );
    refused(
        with(&|v| {
            let d = v.remove(0);
            v.push(d);
        }),
        &format!("{m}: compute budget moved to the end"),
    );
    let reason = refused(
        with(&|v| v[0] = cu_limit(CU_LIMIT + 1)),
        &format!("{m}: compute-unit limit over the cap"),
    );
    assert!(
        reason.contains("compute-unit limit above the cap"),
        "{m}: {reason}"
    );
    let reason = refused(
        with(&|v| v[1] = cu_price(CU_PRICE + 1)),
        &format!("{m}: compute-unit price over the cap"),
    );
    assert!(
        reason.contains("compute-unit price above the cap"),
        "{m}: {reason}"
    );
    refused(
        with(&|v| v.insert(1, cu_limit(1))),
        &format!("{m}: second compute-unit limit"),
    );
    refused(
        with(&|v| v.insert(1, ix(COMPUTE_BUDGET_PROGRAM, vec![], vec![1, 0, 0, 1, 0]))),
        &format!("{m}: heap-frame request"),
    );
    // A destination hidden in a lookup table.
    let (msg, loaded) = v0_with(&c.valid, &[table(&[c.destination])]);
    assert_eq!(loaded.len(), 1, "{m}: the destination is loaded");
    refused(
        check(r, &h, &msg, &loaded, &c.params),
        &format!("{m}: destination in a lookup table"),
    );
    // A writable account the shape never writes. (Jupiter's trailing accounts are the route
    // legs' pools, writable by design; its fixed positions are covered by its own test.)
    if m != "jupiter-v6-route" {
        refused(
            with(&|v| {
                v[c.main]
                    .accounts
                    .push(solana_message::AccountMeta::new(addr(ATTACKER), false))
            }),
            &format!("{m}: extra writable account"),
        );
    }
    // An extra writable account on an instruction that has fixed accounts.
    refused(
        with(&|v| {
            v[0].accounts
                .push(solana_message::AccountMeta::new(addr(ATTACKER), false))
        }),
        &format!("{m}: compute budget with an extra writable account"),
    );
    // Parameters for another user: the fee payer is not the user.
    let err = check(r, &h, &legacy(&c.valid), &[], &[0u8; 3]).unwrap_err();
    assert_eq!(
        err.rejection_kind(),
        Some(RejectionKind::MalformedParams),
        "{m}"
    );
}

#[test]
fn sol_withdraw() {
    let r = registry();
    let h = r.builtin("sol-withdraw").unwrap();
    let dest = key(0x22);
    let params = params(
        &r,
        &h,
        &common_params(&[V::Pubkey(dest), V::U64(1_000_000_000)]),
    );
    let valid = vec![
        cu_limit(CU_LIMIT),
        cu_price(CU_PRICE),
        transfer(USER, dest, 1_000_000_000),
    ];
    let case = Case {
        module: "sol-withdraw",
        params: params.clone(),
        valid: valid.clone(),
        main: 2,
        token_account: ata(USER, key(0x33), TOKEN_PROGRAM),
        destination: dest,
    };
    run_generic_attacks(&r, &case);
    // Compute budget is optional.
    check(&r, &h, &legacy(&[transfer(USER, dest, 1)]), &[], &params).unwrap();
    let run = |ixs: &[Instruction]| check(&r, &h, &legacy(ixs), &[], &params);
    let reason = refused(
        run(&[
            cu_limit(CU_LIMIT),
            cu_price(CU_PRICE),
            transfer(USER, dest, 1_000_000_001),
        ]),
        "amount above",
    );
    assert!(reason.contains("above the authorized maximum"), "{reason}");
    let reason = refused(run(&[transfer(USER, ATTACKER, 1)]), "changed destination");
    assert!(reason.contains("authorized destination"), "{reason}");
    refused(run(&[]), "no instruction");
    // A transfer from someone else (an extra signer paying) is refused.
    refused(
        run(&[transfer(ATTACKER, dest, 1)]),
        "transfer from another account",
    );
}

#[test]
fn token_withdraw_spl_and_token_2022() {
    let r = registry();
    let h = r.builtin("token-withdraw").unwrap();
    for program in [TOKEN_PROGRAM, TOKEN_2022_PROGRAM] {
        let mint = key(0x33);
        let owner = key(0x22);
        let src = ata(USER, mint, program);
        let dst = ata(owner, mint, program);
        let params = params(
            &r,
            &h,
            &common_params(&[
                V::Pubkey(mint),
                V::Pubkey(program),
                V::U8(6),
                V::Pubkey(owner),
                V::U64(500),
                V::Derived,
                V::Derived,
            ]),
        );
        let send = |amount: u64| transfer_checked(program, src, mint, dst, USER, amount, 6);
        let valid = vec![
            cu_limit(CU_LIMIT),
            cu_price(CU_PRICE),
            create_ata(USER, owner, mint, program),
            send(500),
        ];
        let case = Case {
            module: "token-withdraw",
            params: params.clone(),
            valid,
            main: 3,
            token_account: src,
            destination: dst,
        };
        if program == TOKEN_PROGRAM {
            run_generic_attacks(&r, &case);
        }
        let run = |ixs: &[Instruction]| check(&r, &h, &legacy(ixs), &[], &params);
        run(&[send(1)]).unwrap();
        run(&[create_ata(USER, owner, mint, program), send(1)]).unwrap();
        refused(run(&[send(501)]), "amount above");
        // Changed destination: the attacker's associated token account.
        let to_attacker =
            transfer_checked(program, src, mint, ata(ATTACKER, mint, program), USER, 1, 6);
        let reason = refused(run(&[to_attacker]), "changed destination");
        assert!(
            reason.contains("destination's associated token account"),
            "{reason}"
        );
        // Swapped mint (transfer of another mint from the user's account of that mint).
        let other = key(0x34);
        let swapped = transfer_checked(
            program,
            ata(USER, other, program),
            other,
            ata(owner, other, program),
            USER,
            1,
            6,
        );
        refused(run(&[swapped]), "swapped mint");
        // Account creation paid by the user for someone else, or for another mint.
        refused(
            run(&[create_ata(USER, ATTACKER, mint, program), send(1)]),
            "creation for the attacker",
        );
        refused(
            run(&[create_ata(USER, owner, other, program), send(1)]),
            "creation for another mint",
        );
        // Wrong decimals, plain Transfer (no mint check), multisig authority.
        refused(
            run(&[transfer_checked(program, src, mint, dst, USER, 1, 9)]),
            "wrong decimals",
        );
        let mut plain = send(1);
        plain.data = vec![3, 1, 0, 0, 0, 0, 0, 0, 0];
        refused(run(&[plain]), "plain transfer");
    }
    // Parameters naming a destination account that is not the owner's ATA are refused by the
    // host before the module runs.
    let schema = r.get(&h).unwrap().compiled().schema().unwrap().clone();
    let err = schema
        .encode(&common_params(&[
            V::Pubkey(key(0x33)),
            V::Pubkey(TOKEN_PROGRAM),
            V::U8(6),
            V::Pubkey(key(0x22)),
            V::U64(1),
            V::Derived,
            V::Pubkey(ATTACKER),
        ]))
        .unwrap_err();
    assert_eq!(err.rejection_kind(), Some(RejectionKind::MalformedParams));
}

#[test]
fn raydium_v4_swap() {
    let r = registry();
    let h = r.builtin("raydium-v4-swap").unwrap();
    let mint = key(0x33);
    for (mint_in, mint_out) in [(NATIVE_MINT, mint), (mint, NATIVE_MINT), (mint, key(0x34))] {
        let src = ata(USER, mint_in, TOKEN_PROGRAM);
        let dst = ata(USER, mint_out, TOKEN_PROGRAM);
        let params = params(
            &r,
            &h,
            &common_params(&[
                V::Pubkey(mint_in),
                V::Pubkey(mint_out),
                V::Pubkey(TOKEN_PROGRAM),
                V::U64(1_000),
                V::U64(900),
                V::Derived,
                V::Derived,
            ]),
        );
        let mut valid = vec![cu_limit(CU_LIMIT), cu_price(CU_PRICE)];
        if mint_in == NATIVE_MINT {
            valid.extend([
                create_ata(USER, USER, NATIVE_MINT, TOKEN_PROGRAM),
                transfer(USER, src, 1_000),
                sync_native(TOKEN_PROGRAM, src),
            ]);
        }
        valid.push(create_ata(USER, USER, mint_out, TOKEN_PROGRAM));
        let main = valid.len();
        valid.push(raydium_swap(true, 1_000, 900, src, dst, USER));
        if mint_in == NATIVE_MINT {
            valid.push(close(TOKEN_PROGRAM, src, USER, USER));
        }
        if mint_out == NATIVE_MINT {
            valid.push(close(TOKEN_PROGRAM, dst, USER, USER));
        }
        let token_account = if mint_in == NATIVE_MINT { dst } else { src };
        let case = Case {
            module: "raydium-v4-swap",
            params: params.clone(),
            valid: valid.clone(),
            main,
            token_account,
            destination: dst,
        };
        run_generic_attacks(&r, &case);
        let run = |ixs: &[Instruction]| check(&r, &h, &legacy(ixs), &[], &params);
        let with = |f: &dyn Fn(&mut Vec<Instruction>)| {
            let mut v = valid.clone();
            f(&mut v);
            run(&v)
        };
        with(&|v| v[main] = raydium_swap(false, 1_000, 950, src, dst, USER)).unwrap();
        refused(
            with(&|v| v[main] = raydium_swap(true, 1_001, 900, src, dst, USER)),
            "amount in above",
        );
        refused(
            with(&|v| v[main] = raydium_swap(true, 1_000, 899, src, dst, USER)),
            "min out below",
        );
        refused(
            with(&|v| v[main] = raydium_swap(false, 1_001, 900, src, dst, USER)),
            "base out: max in above",
        );
        refused(
            with(&|v| {
                v[main] = raydium_swap(
                    true,
                    1_000,
                    900,
                    src,
                    ata(ATTACKER, mint_out, TOKEN_PROGRAM),
                    USER,
                )
            }),
            "changed destination",
        );
        refused(
            with(&|v| {
                v[main] = raydium_swap(
                    true,
                    1_000,
                    900,
                    src,
                    ata(USER, key(0x35), TOKEN_PROGRAM),
                    USER,
                )
            }),
            "swapped output mint",
        );
        refused(
            with(&|v| {
                v[main] = raydium_swap(
                    true,
                    1_000,
                    900,
                    ata(USER, key(0x35), TOKEN_PROGRAM),
                    dst,
                    USER,
                )
            }),
            "swapped input mint",
        );
        if mint_in == NATIVE_MINT {
            refused(
                with(&|v| v[3] = transfer(USER, src, 1_001)),
                "wraps more than the maximum",
            );
            refused(
                with(&|v| v[3] = transfer(USER, ATTACKER, 1)),
                "wraps into someone else's account",
            );
            let last = v_len(&valid) - 1;
            refused(
                with(&|v| v[last] = close(TOKEN_PROGRAM, src, ATTACKER, USER)),
                "wSOL closed to the attacker",
            );
        }
        // Pool accounts may come from a lookup table (they cannot receive the user's output).
        let pools: Vec<[u8; 32]> = [0x41u8, 0x43, 0x44].iter().map(|&i| key(i)).collect();
        let (msg, loaded) = v0_with(&valid, &[table(&pools)]);
        assert_eq!(loaded.len(), 3);
        check(&r, &h, &msg, &loaded, &params).unwrap();
    }
}

fn v_len(v: &[Instruction]) -> usize {
    v.len()
}

#[test]
fn pumpfun_trade() {
    let r = registry();
    let h = r.builtin("pumpfun-trade").unwrap();
    let mint = key(0x33);
    let user_ata = ata(USER, mint, TOKEN_PROGRAM);
    let params = params(
        &r,
        &h,
        &common_params(&[
            V::Pubkey(mint),
            V::Pubkey(TOKEN_PROGRAM),
            V::U64(2_000_000),
            V::U64(1_000_000),
            V::Derived,
        ]),
    );
    let buy = vec![
        cu_limit(CU_LIMIT),
        cu_price(CU_PRICE),
        create_ata(USER, USER, mint, TOKEN_PROGRAM),
        pump(true, 10_000, 2_000_000, mint, USER),
    ];
    run_generic_attacks(
        &r,
        &Case {
            module: "pumpfun-trade",
            params: params.clone(),
            valid: buy.clone(),
            main: 3,
            token_account: user_ata,
            destination: user_ata,
        },
    );
    let sell = vec![
        cu_limit(CU_LIMIT),
        cu_price(CU_PRICE),
        pump(false, 10_000, 1_000_000, mint, USER),
    ];
    run_generic_attacks(
        &r,
        &Case {
            module: "pumpfun-trade",
            params: params.clone(),
            valid: sell,
            main: 2,
            token_account: user_ata,
            destination: user_ata,
        },
    );
    let run = |ixs: &[Instruction]| check(&r, &h, &legacy(ixs), &[], &params);
    run(&[pump(true, 1, 1, mint, USER)]).unwrap();
    refused(
        run(&[pump(true, 1, 2_000_001, mint, USER)]),
        "max SOL cost above",
    );
    refused(
        run(&[pump(false, 1, 999_999, mint, USER)]),
        "min SOL out below",
    );
    refused(run(&[pump(true, 1, 1, key(0x34), USER)]), "swapped mint");
    let mut other_ata = pump(true, 1, 1, mint, USER);
    other_ata.accounts[5].pubkey = addr(ata(ATTACKER, mint, TOKEN_PROGRAM));
    refused(run(&[other_ata]), "tokens to the attacker's account");
    // Unknown layouts: an extra account or an extra data byte (newer pump.fun versions).
    let mut more = pump(true, 1, 1, mint, USER);
    more.accounts
        .push(solana_message::AccountMeta::new(addr(key(0x53)), false));
    assert!(refused(run(&[more]), "extra account").contains("unknown pump.fun layout"));
    let mut longer = pump(true, 1, 1, mint, USER);
    longer.data.push(1);
    assert!(refused(run(&[longer]), "extra data").contains("unknown pump.fun layout"));
    let mut other_ix = pump(true, 1, 1, mint, USER);
    other_ix.data[..8].copy_from_slice(&[24, 30, 200, 40, 5, 28, 7, 119]);
    refused(run(&[other_ix]), "another pump.fun instruction");
}

#[test]
fn jupiter_v6_route() {
    let r = registry();
    let h = r.builtin("jupiter-v6-route").unwrap();
    let mint = key(0x33);
    let fee_account = key(0x3F);
    for (mint_in, mint_out) in [(NATIVE_MINT, mint), (mint, NATIVE_MINT), (mint, key(0x34))] {
        let src = ata(USER, mint_in, TOKEN_PROGRAM);
        let dst = ata(USER, mint_out, TOKEN_PROGRAM);
        let params = params(
            &r,
            &h,
            &common_params(&[
                V::Pubkey(mint_in),
                V::Pubkey(TOKEN_PROGRAM),
                V::Pubkey(mint_out),
                V::Pubkey(TOKEN_PROGRAM),
                V::U64(1_000),
                V::U16(50),
                V::U8(20),
                V::OptPubkey(Some(fee_account)),
                V::Derived,
                V::Derived,
            ]),
        );
        let base = Jup {
            kind: JUP_ROUTE,
            amount: 1_000,
            other: 5_000,
            slippage: 50,
            fee_bps: 0,
            fee_account: None,
            src,
            dst,
            mint_in,
            mint_out,
        };
        for kind in [JUP_ROUTE, JUP_SHARED, JUP_EXACT_OUT] {
            let j = Jup {
                kind,
                amount: if kind == JUP_EXACT_OUT { 5_000 } else { 1_000 },
                other: if kind == JUP_EXACT_OUT { 990 } else { 5_000 },
                ..base
            };
            let mut valid = vec![cu_limit(CU_LIMIT), cu_price(CU_PRICE)];
            if mint_in == NATIVE_MINT {
                valid.extend([
                    create_ata(USER, USER, NATIVE_MINT, TOKEN_PROGRAM),
                    transfer(USER, src, 1_000),
                    sync_native(TOKEN_PROGRAM, src),
                ]);
            }
            valid.push(create_ata(USER, USER, mint_out, TOKEN_PROGRAM));
            let main = valid.len();
            valid.push(jupiter(&j));
            if mint_in == NATIVE_MINT {
                valid.push(close(TOKEN_PROGRAM, src, USER, USER));
            }
            if mint_out == NATIVE_MINT {
                valid.push(close(TOKEN_PROGRAM, dst, USER, USER));
            }
            let token_account = if mint_in == NATIVE_MINT { dst } else { src };
            run_generic_attacks(
                &r,
                &Case {
                    module: "jupiter-v6-route",
                    params: params.clone(),
                    valid: valid.clone(),
                    main,
                    token_account,
                    destination: dst,
                },
            );
            let run = |ixs: &[Instruction]| check(&r, &h, &legacy(ixs), &[], &params);
            let with = |f: &dyn Fn(&mut Vec<Instruction>)| {
                let mut v = valid.clone();
                f(&mut v);
                run(&v)
            };
            let set = |m: &dyn Fn(&mut Jup)| {
                let mut jj = Jup { ..j };
                m(&mut jj);
                with(&|v| v[main] = jupiter(&jj))
            };
            set(&|x| {
                x.fee_bps = 20;
                x.fee_account = Some(fee_account)
            })
            .unwrap();
            refused(
                set(&|x| {
                    x.fee_bps = 21;
                    x.fee_account = Some(fee_account)
                }),
                "platform fee above",
            );
            refused(
                set(&|x| {
                    x.fee_bps = 20;
                    x.fee_account = Some(ATTACKER)
                }),
                "fee to another account",
            );
            refused(set(&|x| x.fee_bps = 20), "fee without account");
            refused(set(&|x| x.slippage = 51), "slippage above");
            if kind == JUP_EXACT_OUT {
                refused(set(&|x| x.other = 996), "quoted in + slippage above max");
            } else {
                refused(set(&|x| x.amount = 1_001), "amount above");
            }
            refused(
                set(&|x| x.dst = ata(ATTACKER, mint_out, TOKEN_PROGRAM)),
                "changed destination",
            );
            refused(set(&|x| x.mint_out = key(0x35)), "swapped output mint");
            refused(
                set(&|x| x.src = ata(USER, key(0x35), TOKEN_PROGRAM)),
                "swapped source",
            );
            // The route plan must decode exactly: trailing bytes or an unknown swap variant are
            // an unknown layout (never read from the end).
            let mut trailing = jupiter(&j);
            trailing.data.push(0);
            assert!(
                refused(with(&|v| v[main] = trailing.clone()), "trailing byte")
                    .contains("unknown Jupiter")
            );
            let mut unknown = jupiter(&j);
            let at = if kind == JUP_SHARED { 13 } else { 12 };
            unknown.data[at] = 200;
            assert!(
                refused(with(&|v| v[main] = unknown.clone()), "unknown variant")
                    .contains("does not know")
            );
            // Legs' pool accounts may come from lookup tables.
            let pools: Vec<[u8; 32]> = (0..6u8).map(|i| key(0x70 + i)).collect();
            let (msg, loaded) = v0_with(&valid, &[table(&pools)]);
            assert_eq!(loaded.len(), 6);
            check(&r, &h, &msg, &loaded, &params).unwrap();
            // But not the destination, the source or the user's authority positions.
            let (msg, loaded) = v0_with(&valid, &[table(&[src])]);
            if !loaded.is_empty() {
                refused(
                    check(&r, &h, &msg, &loaded, &params),
                    "source in a lookup table",
                );
            }
        }
    }
}

#[test]
fn the_host_refuses_bad_input_before_every_builtin() {
    let r = registry();
    for name in [
        "sol-withdraw",
        "token-withdraw",
        "raydium-v4-swap",
        "pumpfun-trade",
        "jupiter-v6-route",
    ] {
        let h = r.builtin(name).unwrap();
        let err = r.validate(&h, b"garbage", &[], &[]).unwrap_err();
        assert_eq!(
            err.rejection_kind(),
            Some(RejectionKind::MalformedMessage),
            "{name}"
        );
        let err = r
            .validate(&h, &legacy(&[transfer(USER, key(1), 1)]), &[], &[1, 2, 3])
            .unwrap_err();
        assert_eq!(
            err.rejection_kind(),
            Some(RejectionKind::MalformedParams),
            "{name}"
        );
        // The split path refuses the same parameters before any transaction is seen, and
        // checked parameters only run where their module is loaded.
        let err = r.check_params(&h, &[1, 2, 3]).unwrap_err();
        assert_eq!(err.rejection_kind(), Some(RejectionKind::MalformedParams));
        let empty = Registry::new(HostConfig::default());
        assert!(matches!(
            empty.check_params(&h, &[]),
            Err(Error::UnknownModule(u)) if u == h
        ));
    }
    let sol = r.builtin("sol-withdraw").unwrap();
    let mut params = USER.to_vec();
    params.extend_from_slice(&200_000u32.to_le_bytes());
    params.extend_from_slice(&1_000u64.to_le_bytes());
    params.extend_from_slice(&key(1));
    params.extend_from_slice(&5u64.to_le_bytes());
    let checked = r.check_params(&sol, &params).unwrap();
    let msg = legacy(&[transfer(USER, key(1), 5)]);
    r.validate_checked(&checked, &msg, &[]).unwrap();
    assert!(matches!(
        Registry::new(HostConfig::default()).validate_checked(&checked, &msg, &[]),
        Err(Error::UnknownModule(_))
    ));
    let err = r.validate_checked(&checked, b"garbage", &[]).unwrap_err();
    assert_eq!(err.rejection_kind(), Some(RejectionKind::MalformedMessage));
}
