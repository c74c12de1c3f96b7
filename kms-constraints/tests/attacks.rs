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

/// Asserts a refusal whose reason contains `because`: the module's text for the check the
/// attack is meant to hit, so a test cannot pass on an unrelated refusal.
#[track_caller]
fn refused(res: Result<(), Error>, what: &str, because: &str) {
    match res {
        Err(Error::Rejected {
            kind: RejectionKind::Refused,
            reason,
        }) => assert!(
            reason.contains(because),
            "{what}: refused for another reason: {reason:?} (expected {because:?})"
        ),
        other => panic!("{what}: expected a refusal ({because:?}), got {other:?}"),
    }
}

/// Validates a valid transaction after an edit of its instructions.
type ValidateEdited<'a> = dyn Fn(&dyn Fn(&mut Vec<Instruction>)) -> Result<(), Error> + 'a;
/// Validates instructions as a v0 message that loads these accounts from a lookup table.
type RunV0<'a> = dyn Fn(&[Instruction], &[[u8; 32]]) -> Result<(), Error> + 'a;

/// The wrapped-SOL attacks shared by the swap modules, on a valid swap of `len` instructions
/// whose instruction 3 wraps SOL into `src` when `mint_in` is SOL and whose last instruction
/// closes the wSOL account: wrapping more than the maximum (1,000 lamports in these fixtures)
/// or into someone else's account, and closing either wSOL account to the attacker.
#[track_caller]
fn wrapped_sol_attacks(
    with: &ValidateEdited<'_>,
    len: usize,
    [mint_in, mint_out]: [[u8; 32]; 2],
    [src, dst]: [[u8; 32]; 2],
) {
    let last = len - 1;
    if mint_in == NATIVE_MINT {
        refused(
            with(&|v| v[3] = transfer(USER, src, 1_001)),
            "wraps more than the maximum",
            WRAP_TOO_MUCH,
        );
        refused(
            with(&|v| v[3] = transfer(USER, ATTACKER, 1)),
            "wraps into someone else's account",
            WRAP_TO_OTHER,
        );
        refused(
            with(&|v| v[last] = close(TOKEN_PROGRAM, src, ATTACKER, USER)),
            "wSOL input closed to the attacker",
            CLOSE_TO_OTHER,
        );
    }
    if mint_out == NATIVE_MINT {
        // A token -> SOL swap: the wrapped-SOL output is unwrapped only to the user.
        refused(
            with(&|v| v[last] = close(TOKEN_PROGRAM, dst, ATTACKER, USER)),
            "wSOL output closed to the attacker",
            CLOSE_TO_OTHER,
        );
    }
}

/// The refusal of an instruction after the end of the shape.
const EXTRA_IX: &str = "instruction not allowed by this shape";
const CB_NOT_ALLOWED: &str = "compute-budget instruction not allowed";
const SWAP_DESTINATION: &str =
    "swap output goes to an account other than the user's account of the output mint";
const SWAP_SOURCE: &str = "swap input is not the user's account of the input mint";
const NO_LOOKUPS: &str = "a withdrawal may not load accounts from lookup tables";
const WRAP_TO_OTHER: &str = "SOL wrapped into an account other than the user's wrapped-SOL account";
const WRAP_TOO_MUCH: &str = "wraps more SOL than the authorized input maximum";
const CLOSE_TO_OTHER: &str = "closeAccount sends the balance to someone other than the user";
const CREATES_OTHER: &str = "creates an account that is not the expected associated token account";

/// One module's valid shape and what the generic attacks need to know about it.
struct Case {
    module: &'static str,
    /// Parameter values, the user first (re-encoded for another user by one attack).
    values: Vec<V>,
    valid: Vec<Instruction>,
    /// Index of the main instruction (transfer, swap, trade) in `valid`.
    main: usize,
    /// Token program of `token_account`.
    token_program: [u8; 32],
    /// The user's token account that setAuthority/approve/closeAccount attacks target.
    token_account: [u8; 32],
    /// The account where the user's funds go (hidden in a lookup table by one attack).
    destination: [u8; 32],
    /// Reason when a transfer to the attacker stands where the shape's first instruction goes.
    unexpected_first: &'static str,
    /// Reason when the main instruction invokes another program.
    wrong_program: &'static str,
    /// Reason when the main instruction carries one more writable account (`None`: Jupiter,
    /// whose trailing accounts are the route legs' pools, writable by design; its fixed
    /// positions are covered by its own test).
    extra_account: Option<&'static str>,
    /// Reason when the destination is a lookup-table entry (transactions without its creation).
    hidden_destination: &'static str,
    /// Whether the module accepts lookup tables at all.
    lookups_allowed: bool,
}

fn run_generic_attacks(r: &Registry, c: &Case) {
    let h = r.builtin(c.module).unwrap();
    let params = params(r, &h, &c.values);
    let ok = |ixs: &[Instruction]| check(r, &h, &legacy(ixs), &[], &params);
    ok(&c.valid).unwrap_or_else(|e| panic!("{}: valid shape refused: {e}", c.module));
    let with = |f: &dyn Fn(&mut Vec<Instruction>)| {
        let mut v = c.valid.clone();
        f(&mut v);
        ok(&v)
    };
    let m = c.module;
    let tp = c.token_program;
    refused(
        with(&|v| v.push(transfer(USER, ATTACKER, 1))),
        &format!("{m}: added transfer"),
        EXTRA_IX,
    );
    refused(
        with(&|v| v.insert(0, transfer(USER, ATTACKER, 1))),
        &format!("{m}: prepended transfer"),
        c.unexpected_first,
    );
    refused(
        with(&|v| {
            v[c.main]
                .accounts
                .push(solana_message::AccountMeta::new_readonly(
                    addr(ATTACKER),
                    true,
                ))
        }),
        &format!("{m}: extra signer"),
        "the user must be the only signer",
    );
    refused(
        with(&|v| v.push(set_authority(tp, c.token_account, USER, ATTACKER))),
        &format!("{m}: setAuthority"),
        EXTRA_IX,
    );
    refused(
        with(&|v| v.push(approve(tp, c.token_account, ATTACKER, USER, u64::MAX))),
        &format!("{m}: approve"),
        EXTRA_IX,
    );
    refused(
        with(&|v| v.push(close(tp, c.token_account, ATTACKER, USER))),
        &format!("{m}: closeAccount to someone else"),
        EXTRA_IX,
    );
    refused(
        with(&|v| v[c.main].program_id = addr(key(0x99))),
        &format!("{m}: wrong program id"),
        c.wrong_program,
    );
    refused(
        with(&|v| {
            let d = v[c.main].clone();
            v.insert(c.main + 1, d);
        }),
        &format!("{m}: duplicated instruction"),
        EXTRA_IX,
    );
    refused(
        with(&|v| {
            let d = v.remove(c.main);
            v.insert(0, d);
        }),
        &format!("{m}: reordered instruction"),
        EXTRA_IX,
    );
    refused(
        with(&|v| {
            // The price (moving the limit would raise the default fee, refused before).
            let d = v.remove(1);
            v.push(d);
        }),
        &format!("{m}: compute budget moved to the end"),
        EXTRA_IX,
    );
    refused(
        with(&|v| v[0] = cu_limit(CU_LIMIT + 1)),
        &format!("{m}: compute-unit limit over the cap"),
        "compute-unit limit above the cap",
    );
    refused(
        with(&|v| v[1] = cu_price(CU_PRICE + 1)),
        &format!("{m}: compute-unit price over the cap"),
        "compute-unit price above the cap",
    );
    refused(
        with(&|v| v.insert(1, cu_limit(1))),
        &format!("{m}: second compute-unit limit"),
        CB_NOT_ALLOWED,
    );
    refused(
        with(&|v| v.insert(1, ix(COMPUTE_BUDGET_PROGRAM, vec![], vec![1, 0, 0, 1, 0]))),
        &format!("{m}: heap-frame request"),
        CB_NOT_ALLOWED,
    );
    // A destination hidden in a lookup table: refused where the main instruction names it
    // (the transaction without the destination's creation, still valid as a legacy message)...
    let creates_destination = |i: &Instruction| {
        i.program_id == addr(ASSOCIATED_TOKEN_PROGRAM)
            && i.accounts.get(1).map(|a| a.pubkey) == Some(addr(c.destination))
    };
    let bare: Vec<Instruction> = c
        .valid
        .iter()
        .filter(|i| !creates_destination(i))
        .cloned()
        .collect();
    ok(&bare).unwrap_or_else(|e| panic!("{m}: valid shape without the creation refused: {e}"));
    let (msg, loaded) = v0_with(&bare, &[table(&[c.destination])]);
    assert_eq!(loaded.len(), 1, "{m}: the destination is loaded");
    refused(
        check(r, &h, &msg, &loaded, &params),
        &format!("{m}: destination in a lookup table"),
        c.hidden_destination,
    );
    // ... and where its creation names it.
    if bare.len() != c.valid.len() {
        let (msg, loaded) = v0_with(&c.valid, &[table(&[c.destination])]);
        assert_eq!(loaded.len(), 1, "{m}: the destination is loaded");
        refused(
            check(r, &h, &msg, &loaded, &params),
            &format!("{m}: created destination in a lookup table"),
            if c.lookups_allowed {
                CREATES_OTHER
            } else {
                c.hidden_destination
            },
        );
    }
    // One more writable account on the main instruction.
    if let Some(reason) = c.extra_account {
        refused(
            with(&|v| {
                v[c.main]
                    .accounts
                    .push(solana_message::AccountMeta::new(addr(ATTACKER), false))
            }),
            &format!("{m}: extra writable account"),
            reason,
        );
    }
    // An extra writable account on an instruction that has fixed accounts.
    refused(
        with(&|v| {
            v[0].accounts
                .push(solana_message::AccountMeta::new(addr(ATTACKER), false))
        }),
        &format!("{m}: compute budget with an extra writable account"),
        "compute-budget instruction with accounts",
    );
    // Parameters for another user (their associated token accounts derived for them): the
    // user's transaction is not theirs to sign.
    let mut other = c.values.clone();
    other[0] = V::Pubkey(ATTACKER);
    let other = self::params(r, &h, &other);
    refused(
        check(r, &h, &legacy(&c.valid), &[], &other),
        &format!("{m}: parameters of another user"),
        "the fee payer is not the user",
    );
    // Parameters that do not decode never reach the module.
    let err = check(r, &h, &legacy(&c.valid), &[], &params[..3]).unwrap_err();
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
    let values = common_params(&[V::Pubkey(dest), V::U64(1_000_000_000)]);
    let params = params(&r, &h, &values);
    let valid = vec![
        cu_limit(CU_LIMIT),
        cu_price(CU_PRICE),
        transfer(USER, dest, 1_000_000_000),
    ];
    let to_other = "SOL goes to an address other than the authorized destination";
    run_generic_attacks(
        &r,
        &Case {
            module: "sol-withdraw",
            values,
            valid,
            main: 2,
            token_program: TOKEN_PROGRAM,
            token_account: ata(USER, key(0x33), TOKEN_PROGRAM),
            destination: dest,
            unexpected_first: to_other,
            wrong_program: "expected a System program instruction",
            extra_account: Some("System transfer needs exactly 2 accounts"),
            hidden_destination: NO_LOOKUPS,
            lookups_allowed: false,
        },
    );
    // Compute budget is optional.
    check(&r, &h, &legacy(&[transfer(USER, dest, 1)]), &[], &params).unwrap();
    let run = |ixs: &[Instruction]| check(&r, &h, &legacy(ixs), &[], &params);
    refused(
        run(&[
            cu_limit(CU_LIMIT),
            cu_price(CU_PRICE),
            transfer(USER, dest, 1_000_000_001),
        ]),
        "amount above",
        "amount above the authorized maximum",
    );
    refused(
        run(&[transfer(USER, ATTACKER, 1)]),
        "changed destination",
        to_other,
    );
    refused(run(&[]), "no instruction", "missing SOL transfer");
    // A transfer from someone else: signed by them (a second signer) or not signed at all.
    refused(
        run(&[transfer(ATTACKER, dest, 1)]),
        "transfer signed by another account",
        "the user must be the only signer",
    );
    let mut unsigned = transfer(ATTACKER, dest, 1);
    unsigned.accounts[0].is_signer = false;
    refused(
        run(&[unsigned]),
        "transfer from another account",
        "SOL transfer not from the user",
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
        let values = common_params(&[
            V::Pubkey(mint),
            V::Pubkey(program),
            V::U8(6),
            V::Pubkey(owner),
            V::U64(500),
            V::Derived,
            V::Derived,
        ]);
        let params = params(&r, &h, &values);
        let send = |amount: u64| transfer_checked(program, src, mint, dst, USER, amount, 6);
        let valid = vec![
            cu_limit(CU_LIMIT),
            cu_price(CU_PRICE),
            create_ata(USER, owner, mint, program),
            send(500),
        ];
        run_generic_attacks(
            &r,
            &Case {
                module: "token-withdraw",
                values,
                valid,
                main: 3,
                token_program: program,
                token_account: src,
                destination: dst,
                unexpected_first: "expected the authorized token program",
                wrong_program: "expected the authorized token program",
                extra_account: Some("transferChecked needs exactly 4 accounts (no multisig)"),
                hidden_destination: NO_LOOKUPS,
                lookups_allowed: false,
            },
        );
        let run = |ixs: &[Instruction]| check(&r, &h, &legacy(ixs), &[], &params);
        run(&[send(1)]).unwrap();
        run(&[create_ata(USER, owner, mint, program), send(1)]).unwrap();
        refused(
            run(&[send(501)]),
            "amount above",
            "amount above the authorized maximum",
        );
        // Changed destination: the attacker's associated token account.
        let to_attacker =
            transfer_checked(program, src, mint, ata(ATTACKER, mint, program), USER, 1, 6);
        refused(
            run(&[to_attacker]),
            "changed destination",
            "tokens go to an account other than the destination's associated token account",
        );
        // Swapped mint: only the mint account, or the whole transfer (the user's account of
        // that mint to the owner's).
        let other = key(0x34);
        refused(
            run(&[transfer_checked(program, src, other, dst, USER, 1, 6)]),
            "swapped mint",
            "transfer of another mint than the authorized one",
        );
        let swapped = transfer_checked(
            program,
            ata(USER, other, program),
            other,
            ata(owner, other, program),
            USER,
            1,
            6,
        );
        refused(
            run(&[swapped]),
            "transfer of another mint",
            "tokens taken from an account other than the user's associated token account",
        );
        // The other token program (same accounts): not the authorized one.
        let other_program = if program == TOKEN_PROGRAM {
            TOKEN_2022_PROGRAM
        } else {
            TOKEN_PROGRAM
        };
        refused(
            run(&[transfer_checked(other_program, src, mint, dst, USER, 1, 6)]),
            "other token program",
            "expected the authorized token program",
        );
        // Account creation paid by the user for someone else, or for another mint.
        refused(
            run(&[create_ata(USER, ATTACKER, mint, program), send(1)]),
            "creation for the attacker",
            CREATES_OTHER,
        );
        refused(
            run(&[create_ata(USER, owner, other, program), send(1)]),
            "creation for another mint",
            CREATES_OTHER,
        );
        // Wrong decimals, plain Transfer (no mint check), multisig authority.
        refused(
            run(&[transfer_checked(program, src, mint, dst, USER, 1, 9)]),
            "wrong decimals",
            "decimals differ from the authorized mint's",
        );
        let mut plain = send(1);
        plain.data = vec![3, 1, 0, 0, 0, 0, 0, 0, 0];
        refused(run(&[plain]), "plain transfer", "expected transferChecked");
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
    let pairs = [(NATIVE_MINT, mint), (mint, NATIVE_MINT), (mint, key(0x34))];
    for (layout, (mint_in, mint_out)) in [18, 17, 8].into_iter().flat_map(|n| pairs.map(|p| (n, p)))
    {
        let raydium_swap =
            |base_in, a, b, src, dst, user| raydium_swap_n(layout, base_in, a, b, src, dst, user);
        let src = ata(USER, mint_in, TOKEN_PROGRAM);
        let dst = ata(USER, mint_out, TOKEN_PROGRAM);
        let values = common_params(&[
            V::Pubkey(mint_in),
            V::Pubkey(mint_out),
            V::Pubkey(TOKEN_PROGRAM),
            V::U64(1_000),
            V::U64(900),
            V::Derived,
            V::Derived,
            V::U64(PRIORITY_FEE),
            V::OptPubkey(None),
        ]);
        let params = params(&r, &h, &values);
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
        let wrong_program = "expected the Raydium AMM v4 program";
        run_generic_attacks(
            &r,
            &Case {
                module: "raydium-v4-swap",
                values: values.clone(),
                valid: valid.clone(),
                main,
                token_program: TOKEN_PROGRAM,
                token_account,
                destination: dst,
                unexpected_first: if mint_in == NATIVE_MINT {
                    WRAP_TO_OTHER
                } else {
                    wrong_program
                },
                wrong_program,
                // One more account makes the 17-account form the 18-account one, whose user
                // accounts then sit one position later.
                extra_account: Some(if layout == 17 {
                    SWAP_SOURCE
                } else {
                    "unknown Raydium account layout"
                }),
                hidden_destination: SWAP_DESTINATION,
                lookups_allowed: true,
            },
        );
        let run = |ixs: &[Instruction]| check(&r, &h, &legacy(ixs), &[], &params);
        let with = |f: &dyn Fn(&mut Vec<Instruction>)| {
            let mut v = valid.clone();
            f(&mut v);
            run(&v)
        };
        let in_above = "input amount above the authorized maximum";
        with(&|v| v[main] = raydium_swap(false, 1_000, 950, src, dst, USER)).unwrap();
        refused(
            with(&|v| v[main] = raydium_swap(true, 1_001, 900, src, dst, USER)),
            "amount in above",
            in_above,
        );
        refused(
            with(&|v| v[main] = raydium_swap(true, 1_000, 899, src, dst, USER)),
            "min out below",
            "minimum output below the authorized minimum",
        );
        refused(
            with(&|v| v[main] = raydium_swap(false, 1_001, 900, src, dst, USER)),
            "base out: max in above",
            in_above,
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
            SWAP_DESTINATION,
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
            SWAP_DESTINATION,
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
            SWAP_SOURCE,
        );
        wrapped_sol_attacks(&with, valid.len(), [mint_in, mint_out], [src, dst]);
        // Pool accounts may come from a lookup table (they cannot receive the user's output).
        let pools: Vec<[u8; 32]> = [0x40u8, 0x42, 0x43].iter().map(|&i| key(i)).collect();
        let (msg, loaded) = v0_with(&valid, &[table(&pools)]);
        assert_eq!(loaded.len(), 3);
        check(&r, &h, &msg, &loaded, &params).unwrap();
        // The AMM authority is Raydium's own PDA, and readonly.
        refused(
            with(&|v| v[main].accounts[2].pubkey = addr(ATTACKER)),
            "another AMM authority",
            "wrong Raydium AMM authority",
        );
        refused(
            with(&|v| v[main].accounts[2].is_writable = true),
            "writable AMM authority",
            "an account is writable that this shape never writes",
        );
        // A swapped token program: Token-2022 in the swap of SPL Token pools.
        refused(
            with(&|v| v[main].accounts[0].pubkey = addr(TOKEN_2022_PROGRAM)),
            "swapped token program",
            "wrong token program",
        );
        trading_preamble_attacks(&r, &h, &values, &valid, values.len() - 2);
    }
    // A layout of another account count, and another instruction of the program.
    let (src, dst) = (
        ata(USER, NATIVE_MINT, TOKEN_PROGRAM),
        ata(USER, mint, TOKEN_PROGRAM),
    );
    let values = common_params(&[
        V::Pubkey(NATIVE_MINT),
        V::Pubkey(mint),
        V::Pubkey(TOKEN_PROGRAM),
        V::U64(1_000),
        V::U64(900),
        V::Derived,
        V::Derived,
        V::U64(PRIORITY_FEE),
        V::OptPubkey(None),
    ]);
    let p = params(&r, &h, &values);
    let mut v2 = raydium_swap_n(8, true, 1_000, 900, src, dst, USER);
    check(&r, &h, &legacy(std::slice::from_ref(&v2)), &[], &p).unwrap();
    v2.data[0] = 9; // swapBaseIn's tag on the 8-account layout
    refused(
        check(&r, &h, &legacy(&[v2.clone()]), &[], &p),
        "V1 tag with V2 accounts",
        "unknown Raydium account layout",
    );
    v2.data[0] = 3; // deposit
    refused(
        check(&r, &h, &legacy(&[v2]), &[], &p),
        "another Raydium instruction",
        "only swapBaseIn, swapBaseOut and their V2 forms are allowed",
    );
}

/// The priority fee the trading tests authorize: exactly `CU_LIMIT × CU_PRICE`.
const PRIORITY_FEE: u64 = (CU_LIMIT as u64 * CU_PRICE).div_ceil(1_000_000);

/// The compute-budget and durable-nonce rules every trading module shares, on a valid shape
/// that starts with `cu_limit(CU_LIMIT)`, `cu_price(CU_PRICE)`; `values[fee_at]` is
/// `max_priority_fee` = [`PRIORITY_FEE`] and `values[fee_at + 1]` `nonce_account` = none.
fn trading_preamble_attacks(
    r: &Registry,
    h: &ModuleHash,
    values: &[V],
    valid: &[Instruction],
    fee_at: usize,
) {
    let n = fee_at + 2;
    assert_eq!(values[fee_at], V::U64(PRIORITY_FEE));
    assert_eq!(values[fee_at + 1], V::OptPubkey(None));
    let run =
        |values: &[V], ixs: &[Instruction]| check(r, h, &legacy(ixs), &[], &params(r, h, values));
    let with = |values: &[V], f: &dyn Fn(&mut Vec<Instruction>)| {
        let mut v = valid.to_vec();
        f(&mut v);
        run(values, &v)
    };
    let fee_above = "priority fee (compute-unit limit x price) above the authorized maximum";
    // Accepted at the exact fee bound, refused one lamport under it.
    run(values, valid).unwrap();
    let mut tight = values.to_vec();
    tight[n - 2] = V::U64(PRIORITY_FEE - 1);
    refused(
        run(&tight, valid),
        "priority fee one lamport over",
        fee_above,
    );
    // Without a limit the runtime's default (200,000 per other instruction) counts.
    let others = valid.len() as u64 - 2;
    let default_fee = (200_000 * others * CU_PRICE).div_ceil(1_000_000);
    let mut roomy = values.to_vec();
    roomy[n - 2] = V::U64(default_fee);
    with(&roomy, &|v| {
        v.remove(0);
    })
    .unwrap();
    roomy[n - 2] = V::U64(default_fee - 1);
    refused(
        with(&roomy, &|v| {
            v.remove(0);
        }),
        "default limit at the price",
        fee_above,
    );
    // A price alone within the caps but no fee allowed at all.
    let mut none = values.to_vec();
    none[n - 2] = V::U64(0);
    refused(run(&none, valid), "no priority fee allowed", fee_above);
    // Without a price there is no priority fee, whatever the limit.
    with(&none, &|v| {
        v.remove(1);
    })
    .unwrap();
    // A loaded-accounts data-size limit may only lower a limit: allowed once.
    with(values, &|v| {
        v.insert(2, ix(COMPUTE_BUDGET_PROGRAM, vec![], vec![4, 0, 0, 1, 0]))
    })
    .unwrap();
    // Durable nonce: refused unless the intent names the nonce account.
    let nonce = key(0x77);
    let nonce_first = |v: &mut Vec<Instruction>| v.insert(0, advance_nonce(nonce, USER));
    refused(
        with(values, &nonce_first),
        "durable nonce not allowed",
        "durable-nonce transaction (AdvanceNonceAccount) not allowed by the intent",
    );
    let mut allowed = values.to_vec();
    allowed[n - 1] = V::OptPubkey(Some(nonce));
    with(&allowed, &nonce_first).unwrap();
    allowed[n - 1] = V::OptPubkey(Some(key(0x78)));
    refused(
        with(&allowed, &nonce_first),
        "another nonce account",
        "advances a nonce account other than the authorized one",
    );
    allowed[n - 1] = V::OptPubkey(Some(nonce));
    // (The second signer's key and signature can push a large shape past the packet limit,
    // which the host refuses first; either refusal, never an acceptance.)
    match with(&allowed, &|v| v.insert(0, advance_nonce(nonce, ATTACKER))) {
        Err(Error::Rejected {
            kind: RejectionKind::MalformedMessage,
            reason,
        }) if reason.contains("packet limit") => {}
        other => refused(
            other,
            "nonce authority of someone else",
            "the user must be the only signer",
        ),
    }
    // The advance must come first (the runtime only honours it there).
    refused(
        with(&allowed, &|v| v.insert(2, advance_nonce(nonce, USER))),
        "nonce advance after the compute budget",
        "",
    );
}

/// The pump.fun test's SOL bounds and token bounds: together a limit price of at most
/// 200 lamports per token unit bought and at least 50 per token unit sold.
const PUMP_MAX_SOL_COST: u64 = 2_000_000;
const PUMP_MIN_SOL_OUTPUT: u64 = 1_000_000;
const PUMP_MIN_TOKENS_OUT: u64 = 10_000;
const PUMP_MAX_TOKENS_IN: u64 = 20_000;

/// Index of `max_priority_fee` in `pumpfun-trade` 3's parameters.
const PUMP_FEE_AT: usize = 10;

/// `pumpfun-trade` 3 parameters for `mint` under `token_program`, coin of [`pump_creator`].
fn pump_values(
    mint: [u8; 32],
    token_program: [u8; 32],
    min_tokens_out: u64,
    max_tokens_in: u64,
) -> Vec<V> {
    let mut v = common_params(&[
        V::Pubkey(mint),
        V::Pubkey(token_program),
        V::U64(PUMP_MAX_SOL_COST),
        V::U64(PUMP_MIN_SOL_OUTPUT),
        V::U64(min_tokens_out),
        V::U64(max_tokens_in),
        V::Derived,
        V::U64(PRIORITY_FEE),
        V::OptPubkey(None),
        V::Pubkey(pump_creator()),
    ]);
    v.extend([V::Derived; 7]);
    v.extend([
        V::Pubkey(NATIVE_MINT),
        V::Pubkey(TOKEN_PROGRAM),
        V::Pubkey(pump_fee_recipient()),
        V::Pubkey(pump_buyback_recipient()),
    ]);
    v.extend([V::Derived; 7]);
    v
}

#[test]
fn pumpfun_trade() {
    let r = registry();
    let h = r.builtin("pumpfun-trade").unwrap();
    let mint = key(0x33);
    let user_ata = ata(USER, mint, TOKEN_PROGRAM);
    let values = pump_values(mint, TOKEN_PROGRAM, PUMP_MIN_TOKENS_OUT, PUMP_MAX_TOKENS_IN);
    let params = params(&r, &h, &values);
    let pump_case = |valid: Vec<Instruction>, main: usize, extra: &'static str| Case {
        module: "pumpfun-trade",
        values: values.clone(),
        valid,
        main,
        token_program: TOKEN_PROGRAM,
        token_account: user_ata,
        destination: user_ata,
        unexpected_first: "expected the pump.fun program",
        wrong_program: "expected the pump.fun program",
        extra_account: Some(extra),
        hidden_destination: "a pump.fun trade may not load accounts from lookup tables",
        lookups_allowed: false,
    };
    // A buy and a sell at the authorized limit price (both bounds at their edge).
    let (buy_tokens, sell_tokens) = (PUMP_MIN_TOKENS_OUT, PUMP_MAX_TOKENS_IN);
    let (max_cost, min_out) = (PUMP_MAX_SOL_COST, PUMP_MIN_SOL_OUTPUT);
    let buy = vec![
        cu_limit(CU_LIMIT),
        cu_price(CU_PRICE),
        create_ata(USER, USER, mint, TOKEN_PROGRAM),
        pump(true, buy_tokens, max_cost, mint, USER),
    ];
    run_generic_attacks(
        &r,
        &pump_case(buy.clone(), 3, "unknown pump.fun buy layout"),
    );
    trading_preamble_attacks(&r, &h, &values, &buy, PUMP_FEE_AT);
    let sell = vec![
        cu_limit(CU_LIMIT),
        cu_price(CU_PRICE),
        pump(false, sell_tokens, min_out, mint, USER),
    ];
    // One more account makes a sell the cashback layout, whose account 14 is the user's
    // volume accumulator.
    run_generic_attacks(
        &r,
        &pump_case(sell.clone(), 2, "volume accumulator is not the user's"),
    );
    trading_preamble_attacks(&r, &h, &values, &sell, PUMP_FEE_AT);
    let run = |ixs: &[Instruction]| check(&r, &h, &legacy(ixs), &[], &params);
    let other_mint = "trade of another mint than the authorized one";
    let other_account =
        "tokens to or from an account other than the user's associated token account";
    run(&[pump(true, buy_tokens, 1, mint, USER)]).unwrap();
    refused(
        run(&[pump(true, buy_tokens, max_cost + 1, mint, USER)]),
        "max SOL cost above",
        "max SOL cost above the authorized maximum",
    );
    refused(
        run(&[pump(true, buy_tokens, 1, key(0x34), USER)]),
        "swapped mint",
        other_mint,
    );
    let mut other_ata = pump(true, buy_tokens, 1, mint, USER);
    other_ata.accounts[5].pubkey = addr(ata(ATTACKER, mint, TOKEN_PROGRAM));
    refused(
        run(&[other_ata]),
        "tokens to the attacker's account",
        other_account,
    );
    // A sell: the same account and mint checks, and no account creation (a sell needs the
    // user's token account to exist; a creation would only be an added instruction).
    let sell = pump(false, sell_tokens, min_out, mint, USER);
    run(std::slice::from_ref(&sell)).unwrap();
    refused(
        run(&[pump(false, sell_tokens, min_out - 1, mint, USER)]),
        "min SOL out below",
        "min SOL output below the authorized minimum",
    );
    let mut sell_elsewhere = sell.clone();
    sell_elsewhere.accounts[5].pubkey = addr(ata(ATTACKER, mint, TOKEN_PROGRAM));
    refused(
        run(&[sell_elsewhere]),
        "sell from the attacker's account",
        other_account,
    );
    refused(
        run(&[pump(false, sell_tokens, min_out, key(0x34), USER)]),
        "sell of a swapped mint",
        other_mint,
    );
    refused(
        run(&[create_ata(USER, USER, mint, TOKEN_PROGRAM), sell.clone()]),
        "sell with an account creation",
        "a sell does not create a token account",
    );
    // A cashback coin's sell carries the user's volume accumulator (17 accounts).
    let cashback = pump_with(
        PumpKind::SellCashback,
        sell_tokens,
        min_out,
        mint,
        USER,
        TOKEN_PROGRAM,
        pump_creator(),
    );
    run(std::slice::from_ref(&cashback)).unwrap();
    let mut other_uva = cashback.clone();
    other_uva.accounts[14].pubkey = addr(pump_pda(&[b"user_volume_accumulator", &ATTACKER]));
    refused(
        run(&[other_uva]),
        "cashback to another user's accumulator",
        "volume accumulator is not the user's",
    );
    // buy_exact_sol_in: (spendable_sol_in, min_tokens_out), bounded the same way.
    let exact = |sol: u64, tokens: u64| {
        pump_with(
            PumpKind::BuyExactSolIn,
            sol,
            tokens,
            mint,
            USER,
            TOKEN_PROGRAM,
            pump_creator(),
        )
    };
    run(&[exact(max_cost, buy_tokens)]).unwrap();
    refused(
        run(&[exact(max_cost + 1, buy_tokens)]),
        "exact-in: SOL above",
        "max SOL cost above the authorized maximum",
    );
    refused(
        run(&[exact(max_cost, buy_tokens - 1)]),
        "exact-in: tokens below",
        "buys fewer tokens than the authorized minimum",
    );
    // The attacks of the fee-recipient upgrade's accounts, each refused for its own reason.
    let buy_ix = pump(true, buy_tokens, max_cost, mint, USER);
    let with = |f: &dyn Fn(&mut Instruction)| {
        let mut i = buy_ix.clone();
        f(&mut i);
        run(&[i])
    };
    for (what, at, to, because) in [
        (
            "substituted fee recipient",
            1,
            ATTACKER,
            "fee recipient is not one of pump.fun's",
        ),
        (
            "buyback fee recipient substituted",
            17,
            ATTACKER,
            "buyback fee recipient is not one of pump.fun's",
        ),
        (
            "a buyback recipient as the fee recipient",
            1,
            pump_buyback_recipient(),
            "fee recipient is not one of pump.fun's",
        ),
        (
            "bonding curve of another mint",
            3,
            pump_pda(&[b"bonding-curve", &key(0x34)]),
            "bonding curve is not the authorized mint's",
        ),
        (
            "bonding-curve token account of another mint",
            4,
            ata(
                pump_pda(&[b"bonding-curve", &key(0x34)]),
                key(0x34),
                TOKEN_PROGRAM,
            ),
            "bonding-curve token account is not the authorized mint's",
        ),
        (
            "creator vault of another creator",
            9,
            pump_pda(&[b"creator-vault", &ATTACKER]),
            "creator vault is not the authorized creator's",
        ),
        (
            "another user's volume accumulator",
            13,
            pump_pda(&[b"user_volume_accumulator", &ATTACKER]),
            "volume accumulator is not the user's",
        ),
        (
            "bonding-curve-v2 of another mint",
            16,
            pump_pda(&[b"bonding-curve-v2", &key(0x34)]),
            "bonding-curve-v2 account is not the authorized mint's",
        ),
        (
            "another fee config",
            14,
            ATTACKER,
            "wrong pump.fun fee config",
        ),
        (
            "swapped token program",
            8,
            TOKEN_2022_PROGRAM,
            "wrong token program",
        ),
    ] {
        refused(with(&|i| i.accounts[at].pubkey = addr(to)), what, because);
    }
    refused(
        with(&|i| i.accounts[16].is_writable = true),
        "writable bonding-curve-v2",
        "an account is writable that this shape never writes",
    );
    // Layouts: the classic and the pre-upgrade ones refused by name, the quote-mint v2
    // instructions as unsupported, anything else as unknown.
    refused(
        run(&[pump_classic(true, buy_tokens, 1, mint, USER)]),
        "classic buy",
        "classic 12-account pump.fun layout refused",
    );
    refused(
        run(&[pump_classic(false, sell_tokens, min_out, mint, USER)]),
        "classic sell",
        "classic 12-account pump.fun layout refused",
    );
    let before = "pump.fun layout from before the 2026-04-28 fee-recipient upgrade";
    refused(
        with(&|i| {
            i.accounts.truncate(16);
        }),
        "pre-upgrade buy",
        before,
    );
    let mut old_sell = sell.clone();
    old_sell.accounts.truncate(14);
    refused(run(&[old_sell]), "pre-upgrade sell", before);
    // track_volume: absent or one byte 0/1; then partial_fill (IDL of 8cda1fa): absent or 0.
    with(&|i| i.data.push(1)).unwrap();
    refused(
        with(&|i| i.data.push(2)),
        "track_volume 2",
        "unknown pump.fun buy layout",
    );
    with(&|i| i.data.extend([1, 0])).unwrap();
    refused(
        with(&|i| i.data.extend([1, 1])),
        "partial fill",
        "a partial fill may buy fewer tokens than the authorized minimum",
    );
    refused(
        with(&|i| i.data.extend([1, 0, 0])),
        "extra data",
        "unknown pump.fun buy layout",
    );
    refused(
        with(&|i| i.data[..8].copy_from_slice(&[24, 30, 200, 40, 5, 28, 7, 119])),
        "another pump.fun instruction",
        "only buy, buy_exact_sol_in, sell and their quote-mint v2 and v3 forms are allowed",
    );
}

/// The quote-mint forms pump.fun's router uses (`buy_v2`, `buy_exact_quote_in_v2`,
/// `sell_v2`): SOL-paired under an intent with wrapped SOL as quote, and USDC-paired under an
/// intent priced in USDC, where the SOL-only layouts are refused.
#[test]
fn pumpfun_trade_quote_mint_forms() {
    let r = registry();
    let h = r.builtin("pumpfun-trade").unwrap();
    let mint = key(0x39);
    let values = pump_values(
        mint,
        TOKEN_2022_PROGRAM,
        PUMP_MIN_TOKENS_OUT,
        PUMP_MAX_TOKENS_IN,
    );
    let p = params(&r, &h, &values);
    let run = |ixs: &[Instruction], p: &[u8]| check(&r, &h, &legacy(ixs), &[], p);
    let v2 = |kind, a, b, quote| pump_v2(kind, a, b, mint, quote, USER, TOKEN_2022_PROGRAM);
    let (max_cost, min_out) = (PUMP_MAX_SOL_COST, PUMP_MIN_SOL_OUTPUT);
    let (min_tokens, max_tokens) = (PUMP_MIN_TOKENS_OUT, PUMP_MAX_TOKENS_IN);
    let buy = v2(PumpV2::Buy, min_tokens, max_cost, NATIVE_MINT);
    let valid = vec![
        cu_limit(CU_LIMIT),
        cu_price(CU_PRICE),
        create_ata(USER, USER, mint, TOKEN_2022_PROGRAM),
        buy.clone(),
    ];
    run(&valid, &p).unwrap();
    // (Without the account creation: with it, a nonce advance and a second signer, the legacy
    // message passes the packet limit.)
    let short = [&valid[..2], &valid[3..]].concat();
    trading_preamble_attacks(&r, &h, &values, &short, PUMP_FEE_AT);
    // Each bound at its edge, one unit past refused.
    let limits = [
        (
            v2(PumpV2::Buy, min_tokens, max_cost + 1, NATIVE_MINT),
            "max SOL cost above the authorized maximum",
        ),
        (
            v2(PumpV2::Buy, min_tokens - 1, max_cost, NATIVE_MINT),
            "buys fewer tokens than the authorized minimum",
        ),
        (
            v2(
                PumpV2::BuyExactQuoteIn,
                max_cost + 1,
                min_tokens,
                NATIVE_MINT,
            ),
            "max SOL cost above the authorized maximum",
        ),
        (
            v2(
                PumpV2::BuyExactQuoteIn,
                max_cost,
                min_tokens - 1,
                NATIVE_MINT,
            ),
            "buys fewer tokens than the authorized minimum",
        ),
        (
            v2(PumpV2::Sell, max_tokens, min_out - 1, NATIVE_MINT),
            "min SOL output below the authorized minimum",
        ),
        (
            v2(PumpV2::Sell, max_tokens + 1, min_out, NATIVE_MINT),
            "sells more tokens than the authorized maximum",
        ),
    ];
    run(
        &[v2(
            PumpV2::BuyExactQuoteIn,
            max_cost,
            min_tokens,
            NATIVE_MINT,
        )],
        &p,
    )
    .unwrap();
    run(&[v2(PumpV2::Sell, max_tokens, min_out, NATIVE_MINT)], &p).unwrap();
    for (ix, because) in limits {
        refused(run(&[ix], &p), because, because);
    }
    // Substitutions, each refused for its own reason.
    let with = |at: usize, to: [u8; 32]| {
        let mut i = buy.clone();
        i.accounts[at].pubkey = addr(to);
        run(&[i], &p)
    };
    let other_curve = pump_pda(&[b"bonding-curve", &key(0x34)]);
    for (what, at, to, because) in [
        (
            "another fee recipient",
            6,
            pump_pda(&[b"x"]),
            "fee recipient is not the authorized one",
        ),
        (
            "fee to the attacker's account",
            7,
            ata(ATTACKER, NATIVE_MINT, TOKEN_PROGRAM),
            "fee account is not the authorized recipient's",
        ),
        (
            "another buyback recipient",
            8,
            ATTACKER,
            "buyback fee recipient is not the authorized one",
        ),
        (
            "bonding curve of another mint",
            10,
            other_curve,
            "bonding curve is not the authorized mint's",
        ),
        (
            "curve quote account of another mint",
            12,
            ata(other_curve, NATIVE_MINT, TOKEN_PROGRAM),
            "bonding-curve quote account is not the authorized mint's",
        ),
        (
            "tokens to the attacker",
            14,
            ata(ATTACKER, mint, TOKEN_2022_PROGRAM),
            "tokens to or from an account other than the user's associated token account",
        ),
        (
            "creator vault of another creator",
            16,
            pump_pda(&[b"creator-vault", &ATTACKER]),
            "creator vault is not the authorized creator's",
        ),
        (
            "swapped token program",
            3,
            TOKEN_PROGRAM,
            "wrong token program",
        ),
        (
            "swapped quote token program",
            4,
            TOKEN_2022_PROGRAM,
            "wrong quote token program",
        ),
        (
            "another sharing config",
            18,
            ATTACKER,
            "wrong pump.fun sharing config",
        ),
    ] {
        refused(with(at, to), what, because);
    }
    let mut hooked = buy.clone();
    hooked
        .accounts
        .push(solana_message::AccountMeta::new(addr(key(0x91)), false));
    refused(
        run(&[hooked], &p),
        "transfer-hook accounts",
        "unknown pump.fun quote-mint layout",
    );
    // A coin paired with USDC: the intent names USDC as quote, its amounts count USDC units.
    let usdc = key(0x3A);
    let mut uv = values.clone();
    let q = uv.len() - 11;
    uv[q] = V::Pubkey(usdc);
    let up = params(&r, &h, &uv);
    run(&[v2(PumpV2::Buy, min_tokens, max_cost, usdc)], &up).unwrap();
    refused(
        run(&[v2(PumpV2::Buy, min_tokens, max_cost, NATIVE_MINT)], &up),
        "a SOL-paired trade under a USDC intent",
        "wrong quote mint",
    );
    refused(
        run(
            &[pump_with(
                PumpKind::Buy,
                min_tokens,
                max_cost,
                mint,
                USER,
                TOKEN_2022_PROGRAM,
                pump_creator(),
            )],
            &up,
        ),
        "the SOL-only layout under a USDC intent",
        "a SOL layout under an intent priced in another quote mint",
    );
    // An intent whose fee recipient is not one of pump.fun's is refused on a v2 trade.
    let mut bad = values.clone();
    bad[q + 2] = V::Pubkey(ATTACKER);
    refused(
        run(&[buy], &params(&r, &h, &bad)),
        "intent with another fee recipient",
        "fee recipient is not one of pump.fun's",
    );
}

/// The v3 forms (`buy_v3`, `buy_exact_quote_in_v3`, `sell_v3`; 17 accounts, IDL of
/// pump-public-docs `8cda1fa`) and `partial_fill`: accepted at the intent's bounds and refused
/// one unit past each; every account fixed; a partial fill refused on every buy form.
#[test]
fn pumpfun_trade_v3_forms_and_partial_fill() {
    let r = registry();
    let h = r.builtin("pumpfun-trade").unwrap();
    let mint = key(0x3B);
    let values = pump_values(
        mint,
        TOKEN_2022_PROGRAM,
        PUMP_MIN_TOKENS_OUT,
        PUMP_MAX_TOKENS_IN,
    );
    let p = params(&r, &h, &values);
    let run = |ixs: &[Instruction]| check(&r, &h, &legacy(ixs), &[], &p);
    let v3 = |kind, a, b, fill| {
        pump_v3(
            kind,
            (a, b, fill),
            mint,
            NATIVE_MINT,
            USER,
            TOKEN_2022_PROGRAM,
        )
    };
    let (max_cost, min_out) = (PUMP_MAX_SOL_COST, PUMP_MIN_SOL_OUTPUT);
    let (min_tokens, max_tokens) = (PUMP_MIN_TOKENS_OUT, PUMP_MAX_TOKENS_IN);
    let buy = v3(PumpV3::Buy, min_tokens, max_cost, None);
    let v2_buy = |fill: u8| {
        let mut i = pump_v2(
            PumpV2::Buy,
            min_tokens,
            max_cost,
            mint,
            NATIVE_MINT,
            USER,
            TOKEN_2022_PROGRAM,
        );
        i.data.push(fill);
        i
    };
    run(&[
        cu_limit(CU_LIMIT),
        cu_price(CU_PRICE),
        create_ata(USER, USER, mint, TOKEN_2022_PROGRAM),
        buy.clone(),
    ])
    .unwrap();
    for ok in [
        v3(PumpV3::Buy, min_tokens, max_cost, Some(0)),
        v3(PumpV3::BuyExactQuoteIn, max_cost, min_tokens, None),
        v3(PumpV3::BuyExactQuoteIn, max_cost, min_tokens, Some(0)),
        v3(PumpV3::Sell, max_tokens, min_out, None),
    ] {
        run(&[ok]).unwrap();
    }
    for (ix, because) in [
        (
            v3(PumpV3::Buy, min_tokens, max_cost + 1, None),
            "max SOL cost above the authorized maximum",
        ),
        (
            v3(PumpV3::Buy, min_tokens - 1, max_cost, None),
            "buys fewer tokens than the authorized minimum",
        ),
        (
            v3(PumpV3::BuyExactQuoteIn, max_cost + 1, min_tokens, None),
            "max SOL cost above the authorized maximum",
        ),
        (
            v3(PumpV3::BuyExactQuoteIn, max_cost, min_tokens - 1, None),
            "buys fewer tokens than the authorized minimum",
        ),
        (
            v3(PumpV3::Sell, max_tokens, min_out - 1, None),
            "min SOL output below the authorized minimum",
        ),
        (
            v3(PumpV3::Sell, max_tokens + 1, min_out, None),
            "sells more tokens than the authorized maximum",
        ),
        // A partial fill may deliver fewer tokens than the minimum.
        (
            v3(PumpV3::Buy, min_tokens, max_cost, Some(1)),
            "a partial fill may buy fewer tokens than the authorized minimum",
        ),
        (
            v3(PumpV3::BuyExactQuoteIn, max_cost, min_tokens, Some(1)),
            "a partial fill may buy fewer tokens than the authorized minimum",
        ),
        (
            v3(PumpV3::Buy, min_tokens, max_cost, Some(2)),
            "unknown pump.fun v3 layout",
        ),
        (
            v3(PumpV3::Sell, max_tokens, min_out, Some(0)),
            "unknown pump.fun v3 layout",
        ),
        (
            v2_buy(1),
            "a partial fill may buy fewer tokens than the authorized minimum",
        ),
    ] {
        refused(run(&[ix]), because, because);
    }
    // A v2 buy with `partial_fill` false is the v2 buy.
    run(&[v2_buy(0)]).unwrap();
    // Every account fixed: substitutions refused for their own reasons.
    let with = |at: usize, to: [u8; 32]| {
        let mut i = buy.clone();
        i.accounts[at].pubkey = addr(to);
        run(&[i])
    };
    let other_curve = pump_pda(&[b"bonding-curve", &key(0x34)]);
    for (what, at, to, because) in [
        (
            "another global account",
            0,
            ATTACKER,
            "wrong pump.fun global account",
        ),
        (
            "another mint",
            1,
            key(0x34),
            "trade of another mint than the authorized one",
        ),
        ("another quote mint", 2, key(0x3A), "wrong quote mint"),
        (
            "swapped token program",
            3,
            TOKEN_PROGRAM,
            "wrong token program",
        ),
        (
            "swapped quote token program",
            4,
            TOKEN_2022_PROGRAM,
            "wrong quote token program",
        ),
        (
            "bonding curve of another mint",
            5,
            other_curve,
            "bonding curve is not the authorized mint's",
        ),
        (
            "curve quote account of another mint",
            7,
            ata(other_curve, NATIVE_MINT, TOKEN_PROGRAM),
            "bonding-curve quote account is not the authorized mint's",
        ),
        (
            "tokens to the attacker",
            9,
            ata(ATTACKER, mint, TOKEN_2022_PROGRAM),
            "tokens to or from an account other than the user's associated token account",
        ),
        (
            "quote from the attacker's account",
            10,
            ata(ATTACKER, NATIVE_MINT, TOKEN_PROGRAM),
            "quote to or from an account other than the user's",
        ),
        (
            "another volume accumulator",
            11,
            pump_pda(&[b"user_volume_accumulator", &ATTACKER]),
            "volume accumulator is not the user's",
        ),
        (
            "another fee config",
            12,
            ATTACKER,
            "wrong pump.fun fee config",
        ),
        (
            "buyback fee to the attacker",
            13,
            ATTACKER,
            "buyback fee recipient is not the authorized one",
        ),
        (
            "another event authority",
            15,
            ATTACKER,
            "wrong pump.fun event authority",
        ),
    ] {
        refused(with(at, to), what, because);
    }
    extra_account_and_writable_flag_refused(&run, &buy, 0, "unknown pump.fun v3 layout");
}

/// `ix` with one more account is another layout (`unknown`), and with its account `readonly_at`
/// (which the shape only reads) writable it is refused.
fn extra_account_and_writable_flag_refused(
    run: &dyn Fn(&[Instruction]) -> Result<(), Error>,
    ix: &Instruction,
    readonly_at: usize,
    unknown: &str,
) {
    let mut extra = ix.clone();
    extra
        .accounts
        .push(solana_message::AccountMeta::new(addr(key(0x91)), false));
    refused(run(&[extra]), "an extra account", unknown);
    let mut writable = ix.clone();
    writable.accounts[readonly_at].is_writable = true;
    refused(
        run(&[writable]),
        "a writable account the shape only reads",
        "an account is writable that this shape never writes",
    );
}

/// A Token-2022 coin (pump.fun's `create_v2` mints): accepted with its own token program and
/// derived accounts; a transfer hook's extra accounts make another layout and are refused.
#[test]
fn pumpfun_trade_token_2022() {
    let r = registry();
    let h = r.builtin("pumpfun-trade").unwrap();
    let mint = key(0x36);
    let p = params(
        &r,
        &h,
        &pump_values(
            mint,
            TOKEN_2022_PROGRAM,
            PUMP_MIN_TOKENS_OUT,
            PUMP_MAX_TOKENS_IN,
        ),
    );
    let run = |ixs: &[Instruction]| check(&r, &h, &legacy(ixs), &[], &p);
    let buy = |kind| {
        pump_with(
            kind,
            PUMP_MIN_TOKENS_OUT,
            PUMP_MAX_SOL_COST,
            mint,
            USER,
            TOKEN_2022_PROGRAM,
            pump_creator(),
        )
    };
    run(&[
        create_ata(USER, USER, mint, TOKEN_2022_PROGRAM),
        buy(PumpKind::Buy),
    ])
    .unwrap();
    // The SPL Token accounts of the same mint are not the intent's.
    refused(
        run(&[pump(
            true,
            PUMP_MIN_TOKENS_OUT,
            PUMP_MAX_SOL_COST,
            mint,
            USER,
        )]),
        "SPL Token accounts for a Token-2022 intent",
        "bonding-curve token account is not the authorized mint's",
    );
    // A transfer hook program and its extra account metas appended to the trade.
    let mut hooked = buy(PumpKind::Buy);
    hooked.accounts.extend([
        solana_message::AccountMeta::new_readonly(addr(key(0x90)), false),
        solana_message::AccountMeta::new(addr(key(0x91)), false),
    ]);
    refused(
        run(&[hooked]),
        "transfer-hook accounts",
        "unknown pump.fun buy layout",
    );
    let mut hooked_sell = pump_with(
        PumpKind::Sell,
        PUMP_MAX_TOKENS_IN,
        PUMP_MIN_SOL_OUTPUT,
        mint,
        USER,
        TOKEN_2022_PROGRAM,
        pump_creator(),
    );
    run(std::slice::from_ref(&hooked_sell)).unwrap();
    hooked_sell.accounts.extend([
        solana_message::AccountMeta::new_readonly(addr(key(0x90)), false),
        solana_message::AccountMeta::new(addr(key(0x91)), false),
    ]);
    refused(
        run(&[hooked_sell]),
        "transfer-hook accounts on a sell",
        "unknown pump.fun sell layout",
    );
}

/// The limit price: the token amount of a trade is bounded as well as its SOL limit, so the
/// business logic cannot spend the whole SOL cap on a few tokens or sell the whole balance for
/// the SOL minimum.
#[test]
fn pumpfun_trade_limit_price() {
    let r = registry();
    let h = r.builtin("pumpfun-trade").unwrap();
    let mint = key(0x33);
    let pump_params = |min_tokens_out: u64, max_tokens_in: u64| {
        params(
            &r,
            &h,
            &pump_values(mint, TOKEN_PROGRAM, min_tokens_out, max_tokens_in),
        )
    };
    let bounded = pump_params(PUMP_MIN_TOKENS_OUT, PUMP_MAX_TOKENS_IN);
    let run = |params: &[u8], buy: bool, amount: u64, sol_limit: u64| {
        check(
            &r,
            &h,
            &legacy(&[pump(buy, amount, sol_limit, mint, USER)]),
            &[],
            params,
        )
    };
    let (buy, sell) = (true, false);
    let too_few = "buys fewer tokens than the authorized minimum";
    let too_many = "sells more tokens than the authorized maximum";

    // A buy: exactly `min_tokens_out` at the SOL cap is the limit price; one token fewer is not.
    run(&bounded, buy, PUMP_MIN_TOKENS_OUT, PUMP_MAX_SOL_COST).unwrap();
    refused(
        run(&bounded, buy, PUMP_MIN_TOKENS_OUT - 1, PUMP_MAX_SOL_COST),
        "buy of one token unit fewer than the minimum",
        too_few,
    );
    refused(
        run(&bounded, buy, 1, PUMP_MAX_SOL_COST),
        "sandwich: one token unit for the whole SOL cap",
        too_few,
    );
    refused(run(&bounded, buy, 0, 1), "buy of nothing", too_few);
    // More tokens is a better price: no upper bound on a buy (`max_tokens_in` is the sell's).
    run(&bounded, buy, u64::MAX, PUMP_MAX_SOL_COST).unwrap();

    // A sell: exactly `max_tokens_in` for the SOL minimum is the limit price; one more is not.
    run(&bounded, sell, PUMP_MAX_TOKENS_IN, PUMP_MIN_SOL_OUTPUT).unwrap();
    refused(
        run(&bounded, sell, PUMP_MAX_TOKENS_IN + 1, PUMP_MIN_SOL_OUTPUT),
        "sell of one token unit more than the maximum",
        too_many,
    );
    refused(
        run(&bounded, sell, u64::MAX, PUMP_MIN_SOL_OUTPUT),
        "the whole balance for the SOL minimum",
        too_many,
    );
    // Fewer tokens for the same SOL is a better price (`min_tokens_out` is the buy's).
    run(&bounded, sell, 1, PUMP_MIN_SOL_OUTPUT).unwrap();

    // The token bounds are lifted only by authorizing exactly that: 0 and u64::MAX.
    let unbounded = pump_params(0, u64::MAX);
    run(&unbounded, buy, 0, PUMP_MAX_SOL_COST).unwrap();
    run(&unbounded, sell, u64::MAX, PUMP_MIN_SOL_OUTPUT).unwrap();
    // The SOL bounds still hold next to the token bounds.
    refused(
        run(&unbounded, buy, u64::MAX, PUMP_MAX_SOL_COST + 1),
        "unbounded tokens, SOL cost above",
        "max SOL cost above the authorized maximum",
    );
    refused(
        run(&unbounded, sell, 0, PUMP_MIN_SOL_OUTPUT - 1),
        "unbounded tokens, SOL output below",
        "min SOL output below the authorized minimum",
    );
}

/// Index of `max_priority_fee` in `pumpswap-trade`'s parameters.
const AMM_FEE_AT: usize = 11;

/// `pumpswap-trade` parameters for pool `p`: buys of at least 10,000 base units for at most
/// 2,000,000 quote units, sells of at most 20,000 base units for at least 1,000,000.
fn amm_values(p: &AmmPool) -> Vec<V> {
    let mut v = common_params(&[
        V::Pubkey(p.base),
        V::Pubkey(p.base_program),
        V::Pubkey(p.quote),
        V::Pubkey(p.quote_program),
        V::U64(PUMP_MAX_SOL_COST),
        V::U64(PUMP_MIN_SOL_OUTPUT),
        V::U64(PUMP_MIN_TOKENS_OUT),
        V::U64(PUMP_MAX_TOKENS_IN),
        V::U64(PRIORITY_FEE),
        V::OptPubkey(None),
        V::U16(AmmPool::INDEX),
        V::Pubkey(AmmPool::creator()),
        V::Pubkey(pump_creator()),
        V::Pubkey(AmmPool::protocol_fee_recipient()),
        V::Pubkey(pump_buyback_recipient()),
    ]);
    v.extend([V::Derived; 14]);
    v
}

/// PumpSwap's v2 forms (17 accounts, IDL of pump-public-docs `8cda1fa`): accepted at the
/// intent's bounds and refused one unit past each; every account fixed (the fee account is the
/// intent's recipient's); an extra account or writable flag refused.
#[test]
fn pumpswap_trade_v2_forms() {
    let r = registry();
    let h = r.builtin("pumpswap-trade").unwrap();
    let coin = key(0x38);
    let p = AmmPool {
        base: coin,
        base_program: TOKEN_2022_PROGRAM,
        quote: key(0x3C),
        quote_program: TOKEN_PROGRAM,
    };
    let params = params(&r, &h, &amm_values(&p));
    let run = |ixs: &[Instruction]| check(&r, &h, &legacy(ixs), &[], &params);
    let (max_in, min_base) = (PUMP_MAX_SOL_COST, PUMP_MIN_TOKENS_OUT);
    let (max_base, min_quote) = (PUMP_MAX_TOKENS_IN, PUMP_MIN_SOL_OUTPUT);
    let buy = amm_trade_v2(AmmKind::Buy, min_base, max_in, &p, USER);
    for ok in [
        buy.clone(),
        amm_trade_v2(AmmKind::BuyExactQuoteIn, max_in, min_base, &p, USER),
        amm_trade_v2(AmmKind::Sell, max_base, min_quote, &p, USER),
    ] {
        run(&[cu_limit(CU_LIMIT), cu_price(CU_PRICE), ok]).unwrap();
    }
    for (ix, because) in [
        (
            amm_trade_v2(AmmKind::Buy, min_base, max_in + 1, &p, USER),
            "quote amount in above the authorized maximum",
        ),
        (
            amm_trade_v2(AmmKind::Buy, min_base - 1, max_in, &p, USER),
            "buys fewer base tokens than the authorized minimum",
        ),
        (
            amm_trade_v2(AmmKind::BuyExactQuoteIn, max_in + 1, min_base, &p, USER),
            "quote amount in above the authorized maximum",
        ),
        (
            amm_trade_v2(AmmKind::BuyExactQuoteIn, max_in, min_base - 1, &p, USER),
            "buys fewer base tokens than the authorized minimum",
        ),
        (
            amm_trade_v2(AmmKind::Sell, max_base + 1, min_quote, &p, USER),
            "sells more base tokens than the authorized maximum",
        ),
        (
            amm_trade_v2(AmmKind::Sell, max_base, min_quote - 1, &p, USER),
            "minimum quote output below the authorized minimum",
        ),
    ] {
        refused(run(&[ix]), because, because);
    }
    let with = |at: usize, to: [u8; 32]| {
        let mut i = buy.clone();
        i.accounts[at].pubkey = addr(to);
        run(&[i])
    };
    let other_pool = AmmPool {
        base: key(0x34),
        ..p
    }
    .pool();
    for (what, at, to, because) in [
        (
            "another pool",
            0,
            other_pool,
            "pool is not the authorized pool",
        ),
        (
            "another global config",
            2,
            ATTACKER,
            "wrong PumpSwap global config",
        ),
        ("another base mint", 3, key(0x34), "wrong base mint"),
        ("another quote mint", 4, NATIVE_MINT, "wrong quote mint"),
        (
            "base tokens to the attacker",
            5,
            ata(ATTACKER, coin, TOKEN_2022_PROGRAM),
            "base tokens to or from an account other than the user's",
        ),
        (
            "quote from the attacker's account",
            6,
            ata(ATTACKER, p.quote, TOKEN_PROGRAM),
            "quote tokens to or from an account other than the user's",
        ),
        (
            "another pool's base account",
            7,
            ata(other_pool, coin, TOKEN_2022_PROGRAM),
            "pool base account is not the authorized pool's",
        ),
        (
            "swapped base token program",
            9,
            TOKEN_PROGRAM,
            "wrong base token program",
        ),
        (
            "swapped quote token program",
            10,
            TOKEN_2022_PROGRAM,
            "wrong quote token program",
        ),
        (
            "another volume accumulator",
            12,
            amm_pda(&[b"user_volume_accumulator", &ATTACKER]),
            "volume accumulator is not the user's",
        ),
        (
            "another fee config",
            13,
            ATTACKER,
            "wrong PumpSwap fee config",
        ),
        (
            "the fee to the attacker's account",
            14,
            ata(ATTACKER, p.quote, TOKEN_PROGRAM),
            "fee recipient account is not the authorized recipient's",
        ),
        (
            "another event authority",
            15,
            ATTACKER,
            "wrong PumpSwap event authority",
        ),
    ] {
        refused(with(at, to), what, because);
    }
    extra_account_and_writable_flag_refused(&run, &buy, 2, "unknown PumpSwap v2 layout");
    let mut options = buy;
    options.data.push(0);
    refused(
        run(&[options]),
        "trailing bytes",
        "unknown PumpSwap v2 layout",
    );
}

#[test]
fn pumpswap_trade() {
    let r = registry();
    let h = r.builtin("pumpswap-trade").unwrap();
    let coin = key(0x37);
    let p = AmmPool {
        base: coin,
        base_program: TOKEN_2022_PROGRAM,
        quote: NATIVE_MINT,
        quote_program: TOKEN_PROGRAM,
    };
    let values = amm_values(&p);
    let params = params(&r, &h, &values);
    let (user_base, user_quote) = (
        ata(USER, coin, TOKEN_2022_PROGRAM),
        ata(USER, NATIVE_MINT, TOKEN_PROGRAM),
    );
    let (max_in, min_base) = (PUMP_MAX_SOL_COST, PUMP_MIN_TOKENS_OUT);
    let (max_base, min_quote) = (PUMP_MAX_TOKENS_IN, PUMP_MIN_SOL_OUTPUT);
    // A buy with SOL: wrap at most the quote maximum, create the coin account, buy, unwrap.
    let buy = vec![
        cu_limit(CU_LIMIT),
        cu_price(CU_PRICE),
        create_ata(USER, USER, NATIVE_MINT, TOKEN_PROGRAM),
        transfer(USER, user_quote, 1_000),
        sync_native(TOKEN_PROGRAM, user_quote),
        create_ata(USER, USER, coin, TOKEN_2022_PROGRAM),
        amm_trade(AmmKind::Buy, min_base, max_in, &p, USER, false),
        close(TOKEN_PROGRAM, user_quote, USER, USER),
    ];
    let case = |valid: Vec<Instruction>, main: usize, token_account, destination, extra| Case {
        module: "pumpswap-trade",
        values: values.clone(),
        valid,
        main,
        token_program: TOKEN_PROGRAM,
        token_account,
        destination,
        unexpected_first: WRAP_TO_OTHER,
        wrong_program: "expected the PumpSwap program",
        extra_account: Some(extra),
        hidden_destination: "a PumpSwap trade may not load accounts from lookup tables",
        lookups_allowed: false,
    };
    run_generic_attacks(
        &r,
        &case(
            buy.clone(),
            6,
            user_quote,
            user_base,
            "cashback account is not the user's volume accumulator's",
        ),
    );
    // (Without the wrapped-SOL sequence: with it, a nonce advance and a second signer, the
    // legacy message passes the 1,232-byte packet limit.)
    let short = [&buy[..2], &buy[5..7]].concat();
    trading_preamble_attacks(&r, &h, &values, &short, AMM_FEE_AT);
    let run = |ixs: &[Instruction]| check(&r, &h, &legacy(ixs), &[], &params);
    let with = |f: &dyn Fn(&mut Vec<Instruction>)| {
        let mut v = buy.clone();
        f(&mut v);
        run(&v)
    };
    refused(
        with(&|v| v[3] = transfer(USER, user_quote, max_in + 1)),
        "wraps more than the quote maximum",
        WRAP_TOO_MUCH,
    );
    with(&|v| v[3] = transfer(USER, user_quote, max_in)).unwrap();
    refused(
        with(&|v| v[3] = transfer(USER, ATTACKER, 1)),
        "wraps into someone else's account",
        WRAP_TO_OTHER,
    );
    refused(
        with(&|v| v[7] = close(TOKEN_PROGRAM, user_quote, ATTACKER, USER)),
        "wSOL closed to the attacker",
        CLOSE_TO_OTHER,
    );
    // The limit price at its edges, each side one unit past.
    let trade = |kind, a, b| amm_trade(kind, a, b, &p, USER, false);
    run(&[trade(AmmKind::Buy, min_base, max_in)]).unwrap();
    refused(
        run(&[trade(AmmKind::Buy, min_base, max_in + 1)]),
        "buy: quote above",
        "quote amount in above the authorized maximum",
    );
    refused(
        run(&[trade(AmmKind::Buy, min_base - 1, max_in)]),
        "buy: base below",
        "buys fewer base tokens than the authorized minimum",
    );
    run(&[trade(AmmKind::BuyExactQuoteIn, max_in, min_base)]).unwrap();
    refused(
        run(&[trade(AmmKind::BuyExactQuoteIn, max_in + 1, min_base)]),
        "exact quote in: above",
        "quote amount in above the authorized maximum",
    );
    refused(
        run(&[trade(AmmKind::BuyExactQuoteIn, max_in, min_base - 1)]),
        "exact quote in: base below",
        "buys fewer base tokens than the authorized minimum",
    );
    let sell = vec![
        cu_limit(CU_LIMIT),
        cu_price(CU_PRICE),
        create_ata(USER, USER, NATIVE_MINT, TOKEN_PROGRAM),
        trade(AmmKind::Sell, max_base, min_quote),
        close(TOKEN_PROGRAM, user_quote, USER, USER),
    ];
    run(&sell).unwrap();
    run_generic_attacks(
        &r,
        &Case {
            unexpected_first: "expected the PumpSwap program",
            ..case(
                sell.clone(),
                3,
                user_base,
                user_quote,
                "unknown PumpSwap sell layout",
            )
        },
    );
    refused(
        run(&[trade(AmmKind::Sell, max_base + 1, min_quote)]),
        "sell: base above",
        "sells more base tokens than the authorized maximum",
    );
    refused(
        run(&[trade(AmmKind::Sell, max_base, min_quote - 1)]),
        "sell: quote below",
        "minimum quote output below the authorized minimum",
    );
    // Cashback coins: the volume accumulator's accounts.
    run(&[amm_trade(AmmKind::Buy, min_base, max_in, &p, USER, true)]).unwrap();
    run(&[amm_trade(
        AmmKind::Sell,
        max_base,
        min_quote,
        &p,
        USER,
        true,
    )])
    .unwrap();
    // Each account of the trade substituted, refused for its own reason.
    let other = AmmPool {
        base: key(0x38),
        ..p
    };
    let buy_ix = trade(AmmKind::Buy, min_base, max_in);
    let swap = |at: usize, to: [u8; 32]| {
        let mut i = buy_ix.clone();
        i.accounts[at].pubkey = addr(to);
        run(&[i])
    };
    for (what, at, to, because) in [
        (
            "pool of another coin",
            0,
            other.pool(),
            "pool is not the authorized pool",
        ),
        (
            "base tokens to the attacker",
            5,
            ata(ATTACKER, coin, TOKEN_2022_PROGRAM),
            "base tokens to or from an account other than the user's",
        ),
        (
            "pool vault of another pool",
            8,
            ata(other.pool(), NATIVE_MINT, TOKEN_PROGRAM),
            "pool quote account is not the authorized pool's",
        ),
        (
            "substituted protocol fee recipient",
            9,
            ATTACKER,
            "protocol fee recipient is not the authorized one",
        ),
        (
            "protocol fee to the attacker's account",
            10,
            ata(ATTACKER, NATIVE_MINT, TOKEN_PROGRAM),
            "protocol fee account is not the authorized recipient's",
        ),
        (
            "swapped base token program",
            11,
            TOKEN_PROGRAM,
            "wrong base token program",
        ),
        (
            "creator vault of another creator",
            18,
            amm_pda(&[b"creator_vault", &ATTACKER]),
            "creator vault is not the authorized creator's",
        ),
        (
            "another user's volume accumulator",
            20,
            amm_pda(&[b"user_volume_accumulator", &ATTACKER]),
            "volume accumulator is not the user's",
        ),
        (
            "pool-v2 of another coin",
            23,
            amm_pda(&[b"pool-v2", &key(0x38)]),
            "pool-v2 account is not the authorized mint's",
        ),
        (
            "substituted fee recipient",
            24,
            ATTACKER,
            "fee recipient is not the authorized one",
        ),
        (
            "fee recipient account of the attacker",
            25,
            ata(ATTACKER, NATIVE_MINT, TOKEN_PROGRAM),
            "fee recipient account is not the authorized recipient's",
        ),
    ] {
        refused(swap(at, to), what, because);
    }
    // A Token-2022 transfer hook's extra accounts make another layout.
    let mut hooked = buy_ix.clone();
    hooked.accounts.extend([
        solana_message::AccountMeta::new_readonly(addr(key(0x90)), false),
        solana_message::AccountMeta::new(addr(key(0x91)), false),
    ]);
    refused(
        run(&[hooked]),
        "transfer-hook accounts",
        "unknown PumpSwap buy layout",
    );
    // Layouts of before the upgrade and other instructions.
    let mut old = buy_ix.clone();
    old.accounts.truncate(23);
    refused(
        run(&[old]),
        "pre-upgrade buy",
        "before the 2026-04-28 fee-recipient upgrade",
    );
    let mut deposit = buy_ix.clone();
    deposit.data[..8].copy_from_slice(&[242, 35, 198, 137, 82, 225, 242, 182]);
    refused(
        run(&[deposit]),
        "deposit",
        "only buy, buy_exact_quote_in, sell and their v2 forms are allowed",
    );
    // The intent itself must name one of the published fee recipients.
    let mut v = values.clone();
    v[17] = V::Pubkey(ATTACKER);
    refused(
        check(
            &r,
            &h,
            &legacy(std::slice::from_ref(&buy_ix)),
            &[],
            &self::params(&r, &h, &v),
        ),
        "intent with another fee recipient",
        "the intent's fee recipient is not one of PumpSwap's",
    );
}

/// The smallest output the Jupiter tests authorize: with the quote 5 000, slippage 50 bps and
/// the largest platform fee (20 bps), ⌊⌊5 000 × 9 950 / 10 000⌋ × 9 980 / 10 000⌋ = 4 965.
const JUP_MIN_OUT: u64 = 4_965;
const GUARANTEE: &str = "guaranteed output below the authorized minimum";

#[allow(clippy::too_many_arguments)]
fn jupiter_params(
    r: &Registry,
    h: &ModuleHash,
    mint_in: [u8; 32],
    mint_out: [u8; 32],
    min_out: u64,
    max_slippage: u16,
    max_fee: u8,
    fee_account: [u8; 32],
) -> Vec<V> {
    let v = common_params(&[
        V::Pubkey(mint_in),
        V::Pubkey(TOKEN_PROGRAM),
        V::Pubkey(mint_out),
        V::Pubkey(TOKEN_PROGRAM),
        V::U64(1_000),
        V::U64(min_out),
        V::U16(max_slippage),
        V::U8(max_fee),
        V::OptPubkey(Some(fee_account)),
        V::Derived,
        V::Derived,
        V::U64(PRIORITY_FEE),
        V::OptPubkey(None),
        V::U8(JUP_AUTHORITY_ID),
        V::Derived,
        V::Derived,
        V::Derived,
    ]);
    // The values encode (the schema is the module's).
    params(r, h, &v);
    v
}

/// A Jupiter transaction: compute budget, [wSOL wrap if `wrap`], creation of the output
/// account, the route, [wSOL closes]. Returns it and the route's index.
fn jupiter_tx(j: &Jup, wrap: bool) -> (Vec<Instruction>, usize) {
    let mut v = vec![cu_limit(CU_LIMIT), cu_price(CU_PRICE)];
    if wrap && j.mint_in == NATIVE_MINT {
        v.extend([
            create_ata(USER, USER, NATIVE_MINT, TOKEN_PROGRAM),
            transfer(USER, j.src, 1_000),
            sync_native(TOKEN_PROGRAM, j.src),
        ]);
    }
    v.push(create_ata(USER, USER, j.mint_out, TOKEN_PROGRAM));
    let main = v.len();
    v.push(jupiter(j));
    if j.mint_in == NATIVE_MINT {
        v.push(close(TOKEN_PROGRAM, j.src, USER, USER));
    }
    if j.mint_out == NATIVE_MINT {
        v.push(close(TOKEN_PROGRAM, j.dst, USER, USER));
    }
    (v, main)
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
        let values = jupiter_params(&r, &h, mint_in, mint_out, JUP_MIN_OUT, 50, 20, fee_account);
        let params = params(&r, &h, &values);
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
            let exact_out = kind == JUP_EXACT_OUT;
            let j = Jup {
                kind,
                amount: if exact_out { 5_000 } else { 1_000 },
                other: if exact_out { 990 } else { 5_000 },
                ..base
            };
            let (valid, main) = jupiter_tx(&j, true);
            let token_account = if mint_in == NATIVE_MINT { dst } else { src };
            let wrong_program = "expected the Jupiter v6 program";
            run_generic_attacks(
                &r,
                &Case {
                    module: "jupiter-v6-route",
                    values: values.clone(),
                    valid: valid.clone(),
                    main,
                    token_program: TOKEN_PROGRAM,
                    token_account,
                    destination: dst,
                    unexpected_first: if mint_in == NATIVE_MINT {
                        WRAP_TO_OTHER
                    } else {
                        wrong_program
                    },
                    wrong_program,
                    extra_account: None,
                    hidden_destination: SWAP_DESTINATION,
                    lookups_allowed: true,
                },
            );
            let run = |ixs: &[Instruction]| check(&r, &h, &legacy(ixs), &[], &params);
            let run_v0 = |ixs: &[Instruction], loads: &[[u8; 32]]| {
                let (msg, loaded) = v0_with(ixs, &[table(loads)]);
                assert_eq!(loaded.len(), loads.len(), "every entry is loaded");
                check(&r, &h, &msg, &loaded, &params)
            };
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
            let with_fee = |x: &mut Jup| {
                x.fee_bps = 20;
                x.fee_account = Some(fee_account);
            };
            set(&with_fee).unwrap();
            refused(
                set(&|x| {
                    x.fee_bps = 21;
                    x.fee_account = Some(fee_account)
                }),
                "platform fee above",
                "platform fee above the authorized maximum",
            );
            refused(
                set(&|x| {
                    x.fee_bps = 20;
                    x.fee_account = Some(ATTACKER)
                }),
                "fee to another account",
                "platform fee paid to an account other than the authorized one",
            );
            refused(
                set(&|x| x.fee_bps = 20),
                "fee without account",
                "platform fee without a fee account",
            );
            // The fee account may not come from a lookup table.
            let mut fee_j = Jup { ..j };
            with_fee(&mut fee_j);
            let (fee_tx, _) = jupiter_tx(&fee_j, true);
            run(&fee_tx).unwrap();
            refused(
                run_v0(&fee_tx, &[fee_account]),
                "fee account from a lookup table",
                "platform fee account from a lookup table",
            );
            refused(
                set(&|x| x.slippage = 51),
                "slippage above",
                "slippage above the authorized maximum",
            );
            let in_above = "input amount above the authorized maximum";
            if exact_out {
                // ⌈996 × 1.005⌉ = 1 001 > 1 000; ⌈995 × 1.005⌉ = 1 000.
                set(&|x| x.other = 995).unwrap();
                refused(
                    set(&|x| x.other = 996),
                    "quoted in + slippage above max",
                    in_above,
                );
                // The platform fee is paid from the input in exact-out mode:
                // ⌈994 × 1.005 × 1.002⌉ = 1 001 > 1 000 (999 without the fee);
                // ⌈993 × 1.005 × 1.002⌉ = 1 000.
                set(&|x| x.other = 994).unwrap();
                set(&|x| {
                    with_fee(x);
                    x.other = 993
                })
                .unwrap();
                refused(
                    set(&|x| {
                        with_fee(x);
                        x.other = 994
                    }),
                    "quoted in + slippage + fee above max",
                    in_above,
                );
            } else {
                refused(set(&|x| x.amount = 1_001), "amount above", in_above);
            }
            // The guaranteed output against `min_amount_out` (JUP_MIN_OUT = 4 965).
            if exact_out {
                // The exact output, less the largest platform fee.
                set(&|x| x.amount = 4_965).unwrap();
                refused(set(&|x| x.amount = 4_964), "exact out below min", GUARANTEE);
                set(&|x| {
                    with_fee(x);
                    x.amount = 4_975 // ⌊4 975 × 0.998⌋ = 4 965
                })
                .unwrap();
                refused(
                    set(&|x| {
                        with_fee(x);
                        x.amount = 4_974 // ⌊4 974 × 0.998⌋ = 4 964
                    }),
                    "exact out less the fee below min",
                    GUARANTEE,
                );
                // The quote does not count for exact-out: a tiny quoted input is still fine.
                set(&|x| x.other = 1).unwrap();
            } else {
                // The attack of the review: quote 1, slippage 0, through the attacker's pool.
                refused(
                    set(&|x| {
                        x.other = 1;
                        x.slippage = 0
                    }),
                    "quoted out of 1",
                    GUARANTEE,
                );
                // Jupiter's floor: ⌊4 990 × 0.995⌋ = 4 965, ⌊4 989 × 0.995⌋ = 4 964.
                set(&|x| x.other = 4_990).unwrap();
                refused(set(&|x| x.other = 4_989), "quoted out below min", GUARANTEE);
                // Less the fee: 5 000 → 4 975 → 4 965; 4 999 → 4 974 → 4 964.
                set(&|x| {
                    with_fee(x);
                    x.other = 5_000
                })
                .unwrap();
                refused(
                    set(&|x| {
                        with_fee(x);
                        x.other = 4_999
                    }),
                    "quoted out less the fee below min",
                    GUARANTEE,
                );
                // Less slippage is a better guarantee: 4 965 with slippage 0 is enough.
                set(&|x| {
                    x.other = 4_965;
                    x.slippage = 0
                })
                .unwrap();
            }
            refused(
                set(&|x| x.dst = ata(ATTACKER, mint_out, TOKEN_PROGRAM)),
                "changed destination",
                SWAP_DESTINATION,
            );
            refused(
                set(&|x| x.mint_out = key(0x35)),
                "swapped output mint",
                "swap to another output mint than the authorized one",
            );
            refused(
                set(&|x| x.src = ata(USER, key(0x35), TOKEN_PROGRAM)),
                "swapped source",
                SWAP_SOURCE,
            );
            if kind != JUP_ROUTE {
                // sharedAccountsRoute and exactOutRoute name the input mint too.
                refused(
                    set(&|x| x.mint_in = key(0x35)),
                    "swapped input mint",
                    "swap of another input mint than the authorized one",
                );
            }
            if kind != JUP_SHARED {
                // The optional destination account (account 4): the placeholder (valid) or the
                // destination itself, never another account and never a lookup entry.
                let opt = |to: [u8; 32]| {
                    with(&|v| {
                        v[main].accounts[4] = solana_message::AccountMeta::new(addr(to), false)
                    })
                };
                opt(dst).unwrap();
                refused(
                    opt(ata(ATTACKER, mint_out, TOKEN_PROGRAM)),
                    "optional destination to the attacker",
                    SWAP_DESTINATION,
                );
                let mut tx = valid.clone();
                tx[main].accounts[4] = solana_message::AccountMeta::new(addr(ATTACKER), false);
                refused(
                    run_v0(&tx, &[ATTACKER]),
                    "optional destination from a lookup table",
                    "destination from a lookup table",
                );
            }
            // A leg naming the user (writable: the user is the fee payer).
            for meta in [
                solana_message::AccountMeta::new(addr(USER), false),
                solana_message::AccountMeta::new_readonly(addr(USER), false),
            ] {
                refused(
                    with(&|v| v[main].accounts.push(meta.clone())),
                    "a leg names the user",
                    "a route leg names the user as a writable account",
                );
            }
            // Wrapped SOL: at most the input maximum, only into the user's account, and both
            // wSOL accounts closed only to the user.
            wrapped_sol_attacks(&with, valid.len(), [mint_in, mint_out], [src, dst]);
            // The route plan must decode exactly: trailing bytes or an unknown swap variant are
            // an unknown layout (never read from the end).
            let mut trailing = jupiter(&j);
            trailing.data.push(0);
            refused(
                with(&|v| v[main] = trailing.clone()),
                "trailing byte",
                "unknown Jupiter instruction layout (route plan)",
            );
            let mut unknown = jupiter(&j);
            let at = if kind == JUP_SHARED { 13 } else { 12 };
            unknown.data[at] = 200;
            refused(
                with(&|v| v[main] = unknown.clone()),
                "unknown variant",
                "route uses a swap variant this module version does not know",
            );
            // Legs' pool accounts may come from lookup tables.
            let pools: Vec<[u8; 32]> = (0..6u8).map(|i| key(0x70 + i)).collect();
            run_v0(&valid, &pools).unwrap();
            if kind == JUP_SHARED {
                // So may Jupiter's program authority (it only signs), but not its two token
                // accounts, through which the user's input and output pass.
                let authority = jup_authority(JUP_AUTHORITY_ID);
                run_v0(&valid, &[authority]).unwrap();
                shared_account_attacks(&with, &run_v0, main, &valid, mint_in, mint_out, 1, 4);
            }
            // But not the source (the transaction without the wrap, which also names it).
            let (bare, _) = jupiter_tx(&j, false);
            run(&bare).unwrap();
            refused(
                run_v0(&bare, &[src]),
                "source in a lookup table",
                SWAP_SOURCE,
            );
        }
    }
}

/// The shared-accounts forms: the authority id of the intent, its authority (when static) and
/// its two associated token accounts, each substitution refused for its own reason.
#[allow(clippy::too_many_arguments)]
fn shared_account_attacks(
    with: &ValidateEdited<'_>,
    run_v0: &RunV0<'_>,
    main: usize,
    valid: &[Instruction],
    mint_in: [u8; 32],
    mint_out: [u8; 32],
    auth_at: usize,
    psrc_at: usize,
) {
    let other = jup_authority(JUP_AUTHORITY_ID + 1);
    let id_at = 8;
    refused(
        with(&|v| v[main].data[id_at] = JUP_AUTHORITY_ID + 1),
        "another authority id",
        "Jupiter program authority id is not the authorized one",
    );
    refused(
        with(&|v| v[main].accounts[auth_at].pubkey = addr(other)),
        "another program authority",
        "Jupiter program authority is not the authorized one",
    );
    let src_reason =
        "Jupiter's program source account is not the authority's account of the input mint";
    let dst_reason =
        "Jupiter's program destination account is not the authority's account of the output mint";
    for (what, at, to, because) in [
        (
            "another authority's source account",
            psrc_at,
            ata(other, mint_in, TOKEN_PROGRAM),
            src_reason,
        ),
        (
            "the attacker's source account",
            psrc_at,
            ata(ATTACKER, mint_in, TOKEN_PROGRAM),
            src_reason,
        ),
        (
            "another authority's destination account",
            psrc_at + 1,
            ata(other, mint_out, TOKEN_PROGRAM),
            dst_reason,
        ),
        (
            "the attacker's destination account",
            psrc_at + 1,
            ata(ATTACKER, mint_out, TOKEN_PROGRAM),
            dst_reason,
        ),
    ] {
        refused(
            with(&|v| v[main].accounts[at].pubkey = addr(to)),
            what,
            because,
        );
    }
    let authority = jup_authority(JUP_AUTHORITY_ID);
    for (k, because) in [
        (ata(authority, mint_in, TOKEN_PROGRAM), src_reason),
        (ata(authority, mint_out, TOKEN_PROGRAM), dst_reason),
    ] {
        refused(
            run_v0(valid, &[k]),
            "Jupiter's token account from a lookup table",
            because,
        );
    }
}

/// The v2 forms (`route_v2`, `shared_accounts_route_v2`, `exact_out_route_v2`,
/// `shared_accounts_exact_out_route_v2`): accepted at the exact bounds, refused one unit past,
/// no platform fee, the shared accounts host-derived.
#[test]
fn jupiter_v6_route_v2() {
    let r = registry();
    let h = r.builtin("jupiter-v6-route").unwrap();
    let (mint_in, mint_out) = (NATIVE_MINT, key(0x33));
    let values = jupiter_params(&r, &h, mint_in, mint_out, JUP_MIN_OUT, 50, 20, key(0x3F));
    let params = params(&r, &h, &values);
    let (src, dst) = (
        ata(USER, mint_in, TOKEN_PROGRAM),
        ata(USER, mint_out, TOKEN_PROGRAM),
    );
    for kind in [
        JUP_ROUTE_V2,
        JUP_SHARED_V2,
        JUP_EXACT_OUT_V2,
        JUP_SHARED_EXACT_OUT_V2,
    ] {
        let exact_out = kind == JUP_EXACT_OUT_V2 || kind == JUP_SHARED_EXACT_OUT_V2;
        let shared = kind == JUP_SHARED_V2 || kind == JUP_SHARED_EXACT_OUT_V2;
        let j = Jup {
            kind,
            amount: if exact_out { JUP_MIN_OUT } else { 1_000 },
            // exact-out: ⌈995 × 1.005⌉ = 1 000; exact-in: ⌊4 990 × 0.995⌋ = 4 965.
            other: if exact_out { 995 } else { 4_990 },
            slippage: 50,
            fee_bps: 0,
            fee_account: None,
            src,
            dst,
            mint_in,
            mint_out,
        };
        let (valid, main) = jupiter_tx(&j, true);
        let run = |ixs: &[Instruction]| check(&r, &h, &legacy(ixs), &[], &params);
        run(&valid).unwrap_or_else(|e| panic!("{kind:?}: {e}"));
        let run_v0 = |ixs: &[Instruction], loads: &[[u8; 32]]| {
            let (msg, loaded) = v0_with(ixs, &[table(loads)]);
            assert_eq!(loaded.len(), loads.len(), "every entry is loaded");
            check(&r, &h, &msg, &loaded, &params)
        };
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
        if exact_out {
            refused(
                set(&|x| x.other = 996),
                "quoted in + slippage above",
                "input amount above the authorized maximum",
            );
            refused(
                set(&|x| x.amount = JUP_MIN_OUT - 1),
                "exact out below",
                GUARANTEE,
            );
        } else {
            refused(
                set(&|x| x.amount = 1_001),
                "amount above",
                "input amount above the authorized maximum",
            );
            refused(set(&|x| x.other = 4_989), "guarantee below", GUARANTEE);
        }
        refused(
            set(&|x| x.slippage = 51),
            "slippage above",
            "slippage above the authorized maximum",
        );
        refused(
            set(&|x| x.fee_bps = 1),
            "platform fee in v2",
            "platform fee in a v2 route (it names no fee account)",
        );
        refused(
            set(&|x| x.dst = ata(ATTACKER, mint_out, TOKEN_PROGRAM)),
            "changed destination",
            SWAP_DESTINATION,
        );
        refused(
            set(&|x| x.src = ata(USER, key(0x35), TOKEN_PROGRAM)),
            "swapped source",
            SWAP_SOURCE,
        );
        refused(
            set(&|x| x.mint_in = key(0x35)),
            "swapped input mint",
            "swap of another input mint than the authorized one",
        );
        let (tp_in, tp_out) = if shared { (8, 9) } else { (5, 6) };
        refused(
            with(&|v| v[main].accounts[tp_in].pubkey = addr(TOKEN_2022_PROGRAM)),
            "swapped input token program",
            "wrong input token program",
        );
        refused(
            with(&|v| v[main].accounts[tp_out].pubkey = addr(TOKEN_2022_PROGRAM)),
            "swapped output token program",
            "wrong output token program",
        );
        refused(
            with(&|v| v[main].data.truncate(if shared { 30 } else { 29 })),
            "arguments cut short",
            "unknown Jupiter instruction layout (v2 arguments)",
        );
        if shared {
            shared_account_attacks(&with, &run_v0, main, &valid, mint_in, mint_out, 0, 3);
        } else {
            // The optional destination (account 7): the placeholder or the destination only.
            refused(
                with(&|v| {
                    v[main].accounts[7].pubkey = addr(ata(ATTACKER, mint_out, TOKEN_PROGRAM))
                }),
                "optional destination to the attacker",
                SWAP_DESTINATION,
            );
        }
        trading_preamble_attacks(&r, &h, &values, &valid, JUP_FEE_AT);
    }
}

/// Index of `max_priority_fee` in `jupiter-v6-route` 3's parameters.
const JUP_FEE_AT: usize = 14;

/// The guaranteed output is computed without overflow or panic for extreme amounts and
/// slippage (a panic would be a trap, not a refusal).
#[test]
fn jupiter_guaranteed_output_at_the_extremes() {
    let r = registry();
    let h = r.builtin("jupiter-v6-route").unwrap();
    let (mint_in, mint_out) = (key(0x33), key(0x34));
    let fee_account = key(0x3F);
    let values = jupiter_params(&r, &h, mint_in, mint_out, 1, u16::MAX, u8::MAX, fee_account);
    let params = params(&r, &h, &values);
    let j = Jup {
        kind: JUP_ROUTE,
        amount: 1_000,
        other: u64::MAX,
        slippage: 0,
        fee_bps: u8::MAX,
        fee_account: Some(fee_account),
        src: ata(USER, mint_in, TOKEN_PROGRAM),
        dst: ata(USER, mint_out, TOKEN_PROGRAM),
        mint_in,
        mint_out,
    };
    let run = |j: &Jup| check(&r, &h, &legacy(&jupiter_tx(j, true).0), &[], &params);
    for kind in [JUP_ROUTE, JUP_SHARED] {
        run(&Jup { kind, ..j }).unwrap();
        // 100 % slippage and more guarantee nothing (Jupiter would refuse it too).
        for slippage in [10_000, 10_001, u16::MAX] {
            refused(
                run(&Jup {
                    kind,
                    slippage,
                    ..j
                }),
                "slippage of 100 % or more",
                GUARANTEE,
            );
        }
        // Just under 100 %: ⌊u64::MAX / 10 000⌋ less 2.55 % is still ≥ 1.
        run(&Jup {
            kind,
            slippage: 9_999,
            ..j
        })
        .unwrap();
    }
    // exactOutRoute: the largest output, the largest fee.
    let exact = Jup {
        kind: JUP_EXACT_OUT,
        amount: u64::MAX,
        other: 1,
        slippage: 0,
        ..j
    };
    run(&exact).unwrap();
    refused(
        run(&Jup { amount: 1, ..exact }),
        "exact out of 1 less the fee",
        GUARANTEE,
    );
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
        "pumpswap-trade",
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
