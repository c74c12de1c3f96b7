//! Transactions built and signed with the Solana crates for every program the describer decodes,
//! checked with Solana's verifier, parsed by our parser and described; plus the attacks a
//! describer must not fall for.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers"
)]

use ed25519_dalek::SigningKey;
use kms_solana::describe::{Danger, DescribeContext, Description, describe_transaction};
use kms_solana::programs::*;
use kms_solana::solana::{
    AccountMeta, AddressLookupTableAccount, Hash, KeySigner, Pubkey, SolanaInstruction,
    legacy_message, same_transaction, serialize_transaction, sign_message,
    solana_decode_transaction, v0_message, verify_transaction,
};
use kms_solana::{Address, Error, associated_token_address, parse_transaction};

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}
fn pk(k: &SigningKey) -> Pubkey {
    Pubkey::new_from_array(k.verifying_key().to_bytes())
}
fn addr(k: &SigningKey) -> Address {
    k.verifying_key().to_bytes()
}
fn p(a: Address) -> Pubkey {
    Pubkey::new_from_array(a)
}
fn other(n: u8) -> Pubkey {
    Pubkey::new_from_array([n; 32])
}
fn b58(a: &Pubkey) -> String {
    bs58::encode(a.as_array()).into_string()
}
fn ix(program: Address, accounts: Vec<AccountMeta>, data: Vec<u8>) -> SolanaInstruction {
    SolanaInstruction {
        program_id: p(program),
        accounts,
        data,
    }
}
fn w(k: Pubkey, signer: bool) -> AccountMeta {
    AccountMeta::new(k, signer)
}
fn r(k: Pubkey, signer: bool) -> AccountMeta {
    AccountMeta::new_readonly(k, signer)
}

/// Builds, signs (user = key 1, plus `extra` signers), verifies with Solana, serializes, parses
/// with our parser (checking agreement) and describes.
fn run(ixs: &[SolanaInstruction], extra: &[&SigningKey], ctx: &DescribeContext) -> Description {
    let user = key(1);
    let msg = legacy_message(ixs, &pk(&user), Hash::new_from_array([9; 32])).unwrap();
    let mut keys = vec![&user];
    keys.extend_from_slice(extra);
    let tx = sign_message(msg, &keys).unwrap();
    verify_transaction(&tx).unwrap();
    let bytes = serialize_transaction(&tx).unwrap();
    let ours = parse_transaction(&bytes).unwrap();
    assert!(same_transaction(&ours, &tx));
    let d = describe_transaction(&ours, ctx);
    assert_eq!(d.instructions.len(), ixs.len());
    d
}

fn text(d: &Description) -> String {
    d.to_string()
}

fn dangers(d: &Description) -> Vec<Danger> {
    d.dangers().map(|(_, x)| x.clone()).collect()
}

fn system(tag: u32, rest: &[u8]) -> Vec<u8> {
    let mut v = tag.to_le_bytes().to_vec();
    v.extend_from_slice(rest);
    v
}

fn seed(s: &str) -> Vec<u8> {
    let mut v = (s.len() as u64).to_le_bytes().to_vec();
    v.extend_from_slice(s.as_bytes());
    v
}

#[test]
fn system_transfer_out_is_flagged_and_summed() {
    let u = pk(&key(1));
    let d = run(
        &[ix(
            SYSTEM_PROGRAM,
            vec![w(u, true), w(other(50), false)],
            system(2, &1_500_000_001u64.to_le_bytes()),
        )],
        &[],
        &DescribeContext::new(),
    );
    assert!(text(&d).contains(&format!(
        "System: transfer 1.500000001 SOL (1500000001 lamports) from {} to {}",
        b58(&u),
        b58(&other(50))
    )));
    assert_eq!(d.sol_out, 1_500_000_001);
    assert_eq!(dangers(&d), vec![Danger::TransferOut]);
}

#[test]
fn system_transfer_in_from_a_cosigner_is_not_flagged() {
    let u = pk(&key(1));
    let payer2 = key(2);
    let d = run(
        &[ix(
            SYSTEM_PROGRAM,
            vec![w(pk(&payer2), true), w(u, false)],
            system(2, &7u64.to_le_bytes()),
        )],
        &[&payer2],
        &DescribeContext::new(),
    );
    assert_eq!((d.sol_in, d.sol_out), (7, 0));
    assert!(dangers(&d).is_empty());
}

#[test]
fn every_system_instruction_is_decoded() {
    let u = pk(&key(1));
    let newk = key(3);
    let owner = other(60);
    let mut create = 10u64.to_le_bytes().to_vec();
    create.extend_from_slice(&165u64.to_le_bytes());
    create.extend_from_slice(owner.as_array());
    let mut with_seed = u.as_array().to_vec();
    with_seed.extend(seed("vault"));
    with_seed.extend_from_slice(&11u64.to_le_bytes());
    with_seed.extend_from_slice(&80u64.to_le_bytes());
    with_seed.extend_from_slice(owner.as_array());
    let mut alloc_seed = u.as_array().to_vec();
    alloc_seed.extend(seed("a"));
    alloc_seed.extend_from_slice(&16u64.to_le_bytes());
    alloc_seed.extend_from_slice(owner.as_array());
    let mut assign_seed = u.as_array().to_vec();
    assign_seed.extend(seed("b"));
    assign_seed.extend_from_slice(owner.as_array());
    let mut transfer_seed = 5u64.to_le_bytes().to_vec();
    transfer_seed.extend(seed("c"));
    transfer_seed.extend_from_slice(owner.as_array());
    let nonce = other(70);
    let rb = p(SYSVAR_RECENT_BLOCKHASHES);
    let rent = p(SYSVAR_RENT);
    let ixs = vec![
        ix(
            SYSTEM_PROGRAM,
            vec![w(u, true), w(pk(&newk), true)],
            system(0, &create),
        ),
        ix(
            SYSTEM_PROGRAM,
            vec![w(u, true)],
            system(1, owner.as_array()),
        ),
        ix(
            SYSTEM_PROGRAM,
            vec![w(u, true), w(other(61), false), r(u, true)],
            system(3, &with_seed),
        ),
        ix(
            SYSTEM_PROGRAM,
            vec![w(nonce, false), r(rb, false), r(u, true)],
            system(4, &[]),
        ),
        ix(
            SYSTEM_PROGRAM,
            vec![
                w(nonce, false),
                w(other(62), false),
                r(rb, false),
                r(rent, false),
                r(u, true),
            ],
            system(5, &3u64.to_le_bytes()),
        ),
        ix(
            SYSTEM_PROGRAM,
            vec![w(nonce, false), r(rb, false), r(rent, false)],
            system(6, u.as_array()),
        ),
        ix(
            SYSTEM_PROGRAM,
            vec![w(nonce, false), r(u, true)],
            system(7, other(63).as_array()),
        ),
        ix(
            SYSTEM_PROGRAM,
            vec![w(pk(&newk), true)],
            system(8, &64u64.to_le_bytes()),
        ),
        ix(
            SYSTEM_PROGRAM,
            vec![w(other(64), false), r(u, true)],
            system(9, &alloc_seed),
        ),
        ix(
            SYSTEM_PROGRAM,
            vec![w(other(65), false), r(u, true)],
            system(10, &assign_seed),
        ),
        ix(
            SYSTEM_PROGRAM,
            vec![w(other(66), false), r(u, true), w(other(67), false)],
            system(11, &transfer_seed),
        ),
        ix(SYSTEM_PROGRAM, vec![w(nonce, false)], system(12, &[])),
    ];
    let d = run(&ixs, &[&newk], &DescribeContext::new());
    let t = text(&d);
    for want in [
        "create account",
        "with 0.00000001 SOL (10 lamports), 165 bytes, owned by program",
        "assign account",
        "seed \"vault\"",
        "advance durable nonce",
        "withdraw 0.000000003 SOL (3 lamports) from nonce account",
        "initialize nonce account",
        "set the authority of nonce account",
        "allocate 64 bytes",
        "seed \"a\"",
        "seed \"b\"",
        "transfer 0.000000005 SOL (5 lamports) from",
        "upgrade nonce account",
    ] {
        assert!(t.contains(want), "missing {want:?} in\n{t}");
    }
    assert!(!d.dangers().any(|(_, x)| *x == Danger::NotDecoded), "{t}");
    let ds = dangers(&d);
    assert!(ds.contains(&Danger::OwnershipChange)); // assign of the user's account
    assert!(ds.contains(&Danger::TransferOut)); // nonce withdraw and seed transfer to others
    // Created accounts and transfers out are all counted: 10 + 11 + 3 + 5.
    assert_eq!(d.sol_out, 29);
}

fn token_ixs(program: Address) -> (Vec<SolanaInstruction>, Pubkey, Pubkey) {
    let u = pk(&key(1));
    let mint = other(80);
    let (mine, _) = associated_token_address(u.as_array(), mint.as_array(), &program).unwrap();
    let mine = p(mine);
    let theirs = other(81);
    let amt = |tag: u8, a: u64, dec: Option<u8>| {
        let mut v = vec![tag];
        v.extend_from_slice(&a.to_le_bytes());
        v.extend(dec);
        v
    };
    let mut set_auth = vec![6, 2, 1];
    set_auth.extend_from_slice(other(82).as_array());
    let mut init2 = vec![16];
    init2.extend_from_slice(u.as_array());
    let mut init3 = vec![18];
    init3.extend_from_slice(u.as_array());
    let ixs = vec![
        ix(
            program,
            vec![
                w(mine, false),
                r(mint, false),
                r(u, false),
                r(p(SYSVAR_RENT), false),
            ],
            vec![1],
        ),
        ix(
            program,
            vec![
                w(other(83), false),
                r(mint, false),
                r(p(SYSVAR_RENT), false),
            ],
            init2,
        ),
        ix(program, vec![w(other(84), false), r(mint, false)], init3),
        ix(
            program,
            vec![w(mine, false), w(theirs, false), r(u, true)],
            amt(3, 250, None),
        ),
        ix(
            program,
            vec![w(mine, false), r(mint, false), w(theirs, false), r(u, true)],
            amt(12, 1_234_500, Some(6)),
        ),
        ix(
            program,
            vec![w(mine, false), r(other(85), false), r(u, true)],
            amt(4, 99, None),
        ),
        ix(
            program,
            vec![
                w(mine, false),
                r(mint, false),
                r(other(85), false),
                r(u, true),
            ],
            amt(13, 99, Some(2)),
        ),
        ix(program, vec![w(mine, false), r(u, true)], vec![5]),
        ix(program, vec![w(mine, false), r(u, true)], set_auth),
        ix(
            program,
            vec![w(mint, false), w(mine, false), r(u, true)],
            amt(7, 5, None),
        ),
        ix(
            program,
            vec![w(mint, false), w(mine, false), r(u, true)],
            amt(14, 5, Some(1)),
        ),
        ix(
            program,
            vec![w(mine, false), w(mint, false), r(u, true)],
            amt(8, 6, None),
        ),
        ix(
            program,
            vec![w(mine, false), w(mint, false), r(u, true)],
            amt(15, 6, Some(3)),
        ),
        ix(program, vec![w(mine, false)], vec![17]),
        ix(
            program,
            vec![w(mine, false), w(u, false), r(u, true)],
            vec![9],
        ),
        ix(
            program,
            vec![w(other(86), false), w(theirs, false), r(u, true)],
            vec![9],
        ),
    ];
    (ixs, mine, theirs)
}

#[test]
fn every_token_instruction_is_decoded_with_its_dangers() {
    for (program, name) in [
        (TOKEN_PROGRAM, "SPL Token"),
        (TOKEN_2022_PROGRAM, "Token-2022"),
    ] {
        let (ixs, mine, theirs) = token_ixs(program);
        let d = run(&ixs, &[], &DescribeContext::new());
        let t = text(&d);
        assert!(!d.dangers().any(|(_, x)| *x == Danger::NotDecoded), "{t}");
        for want in [
            "initialize token account",
            &format!(
                "{name}: transfer 250 raw units from {} to {}",
                b58(&mine),
                b58(&theirs)
            ),
            "transfer 1.2345 (1234500 raw units, 6 decimals) of mint",
            "approve delegate",
            "up to 0.99 (99 raw units, 2 decimals)",
            "revoke the delegate",
            "set the account-owner authority of",
            "mint 5 raw units of mint",
            "mint 0.5 (5 raw units, 1 decimals)",
            "burn 0.006 (6 raw units, 3 decimals)",
            "sync the wrapped-SOL balance",
            "close token account",
        ] {
            assert!(t.contains(want), "{name}: missing {want:?} in\n{t}");
        }
        let per: Vec<Vec<Danger>> = d.instructions.iter().map(|i| i.dangers.clone()).collect();
        assert_eq!(per[3], vec![Danger::TransferOut]);
        assert_eq!(per[4], vec![Danger::TransferOut]);
        assert_eq!(per[5], vec![Danger::Approve]);
        assert_eq!(per[6], vec![Danger::Approve]);
        assert_eq!(per[8], vec![Danger::SetAuthority]);
        assert!(
            per[14].is_empty(),
            "closing to the user's own wallet is not flagged"
        );
        assert_eq!(per[15], vec![Danger::CloseToOther]);
        assert_eq!(d.tokens_out.len(), 4, "{:?}", d.tokens_out); // 2 transfers + 2 burns
    }
}

#[test]
fn token_2022_extension_instruction_is_shown_not_hidden() {
    let u = pk(&key(1));
    let d = run(
        &[ix(
            TOKEN_2022_PROGRAM,
            vec![w(other(90), false), r(u, true)],
            vec![26, 1, 2, 3],
        )],
        &[],
        &DescribeContext::new(),
    );
    let t = text(&d);
    assert!(
        t.contains("Token-2022 instruction 26 (not decoded): 2 accounts, 4 bytes of data"),
        "{t}"
    );
    assert!(t.contains("your signature is passed to it"), "{t}");
    assert_eq!(dangers(&d), vec![Danger::NotDecoded]);
}

#[test]
fn associated_token_account_instructions() {
    let u = pk(&key(1));
    let mint = other(80);
    let (ata, _) = associated_token_address(u.as_array(), mint.as_array(), &TOKEN_PROGRAM).unwrap();
    let accts = |owner: Pubkey, a: Address| {
        vec![
            w(u, true),
            w(p(a), false),
            r(owner, false),
            r(mint, false),
            r(p(SYSTEM_PROGRAM), false),
            r(p(TOKEN_PROGRAM), false),
        ]
    };
    let nested = vec![
        w(other(91), false),
        r(other(92), false),
        w(p(ata), false),
        r(other(93), false),
        r(mint, false),
        w(u, true),
        r(p(TOKEN_PROGRAM), false),
    ];
    let d = run(
        &[
            ix(ASSOCIATED_TOKEN_PROGRAM, accts(u, ata), vec![]),
            ix(ASSOCIATED_TOKEN_PROGRAM, accts(u, ata), vec![1]),
            ix(ASSOCIATED_TOKEN_PROGRAM, nested, vec![2]),
        ],
        &[],
        &DescribeContext::new(),
    );
    let t = text(&d);
    assert!(
        t.contains(&format!(
            "create the associated token account {} of wallet {}",
            b58(&p(ata)),
            b58(&u)
        )),
        "{t}"
    );
    assert!(
        t.contains("create (idempotent) the associated token account"),
        "{t}"
    );
    assert!(t.contains("recover nested token account"), "{t}");
}

#[test]
fn compute_budget_and_memo() {
    let u = pk(&key(1));
    let mut deprecated = vec![0];
    deprecated.extend_from_slice(&1000u32.to_le_bytes());
    deprecated.extend_from_slice(&5u32.to_le_bytes());
    let cb = |tag: u8, v: &[u8]| {
        let mut d = vec![tag];
        d.extend_from_slice(v);
        ix(COMPUTE_BUDGET_PROGRAM, vec![], d)
    };
    let d = run(
        &[
            ix(COMPUTE_BUDGET_PROGRAM, vec![], deprecated),
            cb(1, &65536u32.to_le_bytes()),
            cb(2, &200_000u32.to_le_bytes()),
            cb(3, &1_000_000u64.to_le_bytes()),
            cb(4, &32768u32.to_le_bytes()),
            ix(
                MEMO_PROGRAM,
                vec![r(u, true)],
                "pay \"rent\"\n".as_bytes().to_vec(),
            ),
            ix(MEMO_V1_PROGRAM, vec![], vec![0xff, 0xfe]),
        ],
        &[],
        &DescribeContext::new(),
    );
    let t = text(&d);
    for want in [
        "request 1000 compute units and an additional fee of 0.000000005 SOL",
        "request a heap frame of 65536 bytes",
        "set compute unit limit to 200000 units",
        "set compute unit price to 1000000 micro-lamports per unit",
        "set loaded accounts data size limit to 32768 bytes",
        "memo \"pay \\\"rent\\\"\\n\", signed by",
        "memo 2 bytes that are not UTF-8",
    ] {
        assert!(t.contains(want), "missing {want:?} in\n{t}");
    }
}

fn amounts(tag: u8, a: u64, b: u64) -> Vec<u8> {
    let mut v = vec![tag];
    v.extend_from_slice(&a.to_le_bytes());
    v.extend_from_slice(&b.to_le_bytes());
    v
}

#[test]
fn raydium_swaps_all_four_variants() {
    let u = pk(&key(1));
    let pool = other(100);
    let accs = |n: usize| -> Vec<AccountMeta> {
        let mut v = vec![r(p(TOKEN_PROGRAM), false), w(pool, false)];
        for i in 2..n - 3 {
            v.push(w(other(100 + i as u8), false));
        }
        v.extend([w(other(120), false), w(other(121), false), r(u, true)]);
        v
    };
    let d = run(
        &[
            ix(RAYDIUM_AMM_V4_PROGRAM, accs(18), amounts(9, 1000, 47)),
            ix(RAYDIUM_AMM_V4_PROGRAM, accs(17), amounts(11, 500, 20)),
            ix(RAYDIUM_AMM_V4_PROGRAM, accs(8), amounts(16, 1, 2)),
            ix(RAYDIUM_AMM_V4_PROGRAM, accs(8), amounts(17, 3, 4)),
            ix(RAYDIUM_AMM_V4_PROGRAM, accs(9), amounts(16, 1, 2)),
        ],
        &[],
        &DescribeContext::new(),
    );
    let t = text(&d);
    let wants = [
        format!(
            "swap (exact input) on pool {}: 1000 raw units in, at least 47 raw units out; from your token account {} to {}",
            b58(&pool),
            b58(&other(120)),
            b58(&other(121))
        ),
        "swap (exact output) on pool".to_owned(),
        "at most 500 raw units in, exactly 20 raw units out".to_owned(),
        "swap v2 (exact input)".to_owned(),
        "swap v2 (exact output)".to_owned(),
        "Raydium AMM v4 instruction (not decoded): 9 accounts".to_owned(),
    ];
    for want in &wants {
        assert!(t.contains(want.as_str()), "missing {want:?} in\n{t}");
    }
    assert_eq!(d.swaps.len(), 4);
}

#[test]
fn pump_fun_buy_and_sell() {
    let u = pk(&key(1));
    let mint = other(130);
    let accs: Vec<AccountMeta> = vec![
        r(other(131), false),
        w(other(132), false),
        r(mint, false),
        w(other(133), false),
        w(other(134), false),
        w(other(135), false),
        w(u, true),
        r(p(SYSTEM_PROGRAM), false),
        r(p(TOKEN_PROGRAM), false),
    ];
    let data = |disc: [u8; 8], a: u64, b: u64, extra: &[u8]| {
        let mut v = disc.to_vec();
        v.extend_from_slice(&a.to_le_bytes());
        v.extend_from_slice(&b.to_le_bytes());
        v.extend_from_slice(extra);
        v
    };
    let d = run(
        &[
            ix(
                PUMP_FUN_PROGRAM,
                accs.clone(),
                data(
                    [102, 6, 61, 18, 1, 218, 235, 234],
                    1_000_000,
                    50_000_000,
                    &[],
                ),
            ),
            ix(
                PUMP_FUN_PROGRAM,
                accs,
                data(
                    [51, 230, 133, 164, 1, 127, 131, 173],
                    2_000_000,
                    10_000_000,
                    &[1],
                ),
            ),
        ],
        &[],
        &DescribeContext::new(),
    );
    let t = text(&d);
    assert!(
        t.contains(&format!(
            "buy 1000000 raw units of mint {} for at most 0.05 SOL (50000000 lamports)",
            b58(&mint)
        )),
        "{t}"
    );
    assert!(t.contains("sell 2000000 raw units of mint"), "{t}");
    assert!(
        t.contains("for at least 0.01 SOL (10000000 lamports)"),
        "{t}"
    );
    assert!(t.contains("(+1 more bytes of options)"), "{t}");
}

#[test]
fn jupiter_routes_read_amounts_slippage_and_fee() {
    let u = pk(&key(1));
    // One route step: Swap enum variant 7 with no payload (the describer counts steps only),
    // percent 100, input 0, output 1.
    let route_plan = [1u8, 0, 0, 0, 7, 100, 0, 1];
    let data = |disc: [u8; 8], id: Option<u8>, a: u64, b: u64, slip: u16, fee: u8| {
        let mut v = disc.to_vec();
        v.extend(id);
        v.extend_from_slice(&route_plan);
        v.extend_from_slice(&a.to_le_bytes());
        v.extend_from_slice(&b.to_le_bytes());
        v.extend_from_slice(&slip.to_le_bytes());
        v.push(fee);
        v
    };
    let jup = p(JUPITER_V6_PROGRAM);
    let route_accs = vec![
        r(p(TOKEN_PROGRAM), false),
        r(u, true),
        w(other(140), false),
        w(other(141), false),
        r(jup, false),
        r(other(142), false),
        r(jup, false),
        r(other(143), false),
        r(jup, false),
    ];
    let shared_accs = vec![
        r(p(TOKEN_PROGRAM), false),
        r(other(150), false),
        r(u, true),
        w(other(151), false),
        w(other(152), false),
        w(other(153), false),
        w(other(154), false),
        r(other(155), false),
        r(other(156), false),
        w(other(157), false),
        r(p(TOKEN_2022_PROGRAM), false),
        r(other(143), false),
        r(jup, false),
    ];
    let exact_accs = vec![
        r(p(TOKEN_PROGRAM), false),
        r(u, true),
        w(other(140), false),
        w(other(141), false),
        r(jup, false),
        r(other(160), false),
        r(other(161), false),
        r(jup, false),
        r(p(TOKEN_2022_PROGRAM), false),
        r(other(143), false),
        r(jup, false),
    ];
    let d = run(
        &[
            ix(
                JUPITER_V6_PROGRAM,
                route_accs,
                data(
                    [229, 23, 203, 151, 122, 227, 173, 42],
                    None,
                    1_000_000,
                    990,
                    50,
                    0,
                ),
            ),
            ix(
                JUPITER_V6_PROGRAM,
                shared_accs,
                data(
                    [193, 32, 155, 51, 65, 214, 156, 129],
                    Some(3),
                    7,
                    8,
                    100,
                    20,
                ),
            ),
            ix(
                JUPITER_V6_PROGRAM,
                exact_accs,
                data([208, 51, 239, 151, 123, 43, 237, 92], None, 500, 505, 1, 0),
            ),
        ],
        &[],
        &DescribeContext::new(),
    );
    let t = text(&d);
    for want in [
        format!("route: 1000000 raw units in, quoted 990 raw units out, slippage 0.5% (50 bps), platform fee none; from {} to {}", b58(&other(140)), b58(&other(141))),
        format!("shared-accounts route: 7 raw units in, quoted 8 raw units out, slippage 1% (100 bps), platform fee 20 bps to {}", b58(&other(157))),
        "exact-out route: exactly 500 raw units out, quoted 505 raw units in, slippage 0.01% (1 bps)".to_owned(),
        "1 route step(s)".to_owned(),
    ] {
        assert!(t.contains(&want), "missing {want:?} in\n{t}");
    }
}

#[test]
fn lookup_table_recipient_is_shown_as_table_index_and_flagged() {
    let user = key(1);
    let u = pk(&user);
    let table = other(200);
    let dest = other(201);
    let ixs = [ix(
        SYSTEM_PROGRAM,
        vec![w(u, true), w(dest, false)],
        system(2, &1000u64.to_le_bytes()),
    )];
    let tables = [AddressLookupTableAccount {
        key: table,
        addresses: vec![other(202), dest],
    }];
    let msg = v0_message(&ixs, &u, &tables, Hash::new_from_array([9; 32])).unwrap();
    let tx = sign_message(msg, &[&user]).unwrap();
    verify_transaction(&tx).unwrap();
    let bytes = serialize_transaction(&tx).unwrap();
    let ours = parse_transaction(&bytes).unwrap();
    assert_eq!(ours.message().num_loaded_writable(), 1);

    let d = describe_transaction(&ours, &DescribeContext::new());
    let t = text(&d);
    assert!(t.contains(&format!("to table {}[1]", b58(&table))), "{t}");
    assert!(
        d.instructions[0].dangers.contains(&Danger::LookupRecipient),
        "{t}"
    );
    assert!(
        d.instructions[0].dangers.contains(&Danger::TransferOut),
        "{t}"
    );

    // The caller supplies the table: shown, marked unverified, still flagged. Even a table that
    // claims the entry is the user's own address does not make the transfer safe.
    let ctx =
        DescribeContext::new().with_lookup_table(*table.as_array(), vec![[202; 32], *u.as_array()]);
    let d = describe_transaction(&ours, &ctx);
    let t = text(&d);
    assert!(
        t.contains(&format!(
            "to {} (table {}[1], supplied by the caller, unverified)",
            b58(&u),
            b58(&table)
        )),
        "{t}"
    );
    assert!(
        d.instructions[0].dangers.contains(&Danger::LookupRecipient),
        "{t}"
    );
    assert!(
        d.instructions[0].dangers.contains(&Danger::TransferOut),
        "{t}"
    );
    assert_eq!(d.sol_out, 1000);
}

#[test]
fn unknown_program_and_malformed_data_are_never_hidden() {
    let u = pk(&key(1));
    let unknown = other(210);
    let d = run(
        &[
            ix(
                *unknown.as_array(),
                vec![w(u, true), r(other(211), false)],
                vec![1, 2, 3, 4, 5],
            ),
            ix(
                SYSTEM_PROGRAM,
                vec![w(u, true), w(other(212), false)],
                system(2, &[1, 2]),
            ),
            ix(
                SYSTEM_PROGRAM,
                vec![w(u, true), w(other(212), false)],
                system(99, &[]),
            ),
            ix(TOKEN_PROGRAM, vec![w(u, true)], vec![]),
            ix(JUPITER_V6_PROGRAM, vec![r(u, true)], vec![0; 8]),
        ],
        &[],
        &DescribeContext::new(),
    );
    let t = text(&d);
    assert!(
        t.contains(&format!(
            "1. Unknown program {}: 2 accounts, 5 bytes of data",
            b58(&unknown)
        )),
        "{t}"
    );
    assert!(
        t.contains("System instruction 2 (not decoded): 2 accounts, 6 bytes of data"),
        "{t}"
    );
    assert!(t.contains("System instruction 99 (not decoded)"), "{t}");
    assert!(
        t.contains("SPL Token: malformed instruction (not decoded): 1 accounts, 0 bytes"),
        "{t}"
    );
    assert!(t.contains("Jupiter v6 instruction (not decoded)"), "{t}");
    assert_eq!(d.instructions.len(), 5);
    assert_eq!(d.instructions[0].dangers, vec![Danger::UnknownProgram]);
    // A system transfer with trailing data is not decoded as a transfer (the amount could lie).
    assert_eq!(d.sol_out, 0);
}

#[test]
fn signing_rejects_wrong_keys_and_verification_catches_tampering() {
    let user = key(1);
    let u = pk(&user);
    let ixs = [ix(
        SYSTEM_PROGRAM,
        vec![w(u, true), w(other(5), false)],
        system(2, &1u64.to_le_bytes()),
    )];
    let msg = legacy_message(&ixs, &u, Hash::new_from_array([1; 32])).unwrap();
    assert_eq!(
        sign_message(msg.clone(), &[&key(2)]),
        Err(Error::SigningFailed)
    );
    assert_eq!(sign_message(msg.clone(), &[]), Err(Error::SigningFailed));
    assert_eq!(
        sign_message(msg.clone(), &[&user, &key(2)]),
        Err(Error::SigningFailed)
    );
    let mut tx = sign_message(msg, &[&user]).unwrap();
    verify_transaction(&tx).unwrap();
    // Flip one bit of the transfer amount in the signed message: Solana's verifier refuses it.
    let mut bytes = serialize_transaction(&tx).unwrap();
    let n = bytes.len();
    bytes[n - 8] ^= 1;
    let tampered = solana_decode_transaction(&bytes).unwrap();
    assert_eq!(
        verify_transaction(&tampered),
        Err(Error::VerificationFailed)
    );
    tx.signatures[0] = kms_solana::solana::Signature::from([7u8; 64]);
    assert_eq!(verify_transaction(&tx), Err(Error::VerificationFailed));
}

#[test]
fn key_signer_debug_shows_only_the_public_key() {
    let k = SigningKey::from_bytes(&[0x42; 32]);
    let dbg = format!("{:?}", KeySigner::new(&k));
    assert!(dbg.contains(&b58(&pk(&k))), "{dbg}");
    assert!(!dbg.contains("42, 42") && !dbg.contains("4242"), "{dbg}");
    let _ = addr(&k);
}

/// pump.fun's newer trades: `buy_exact_sol_in` and the quote-mint forms, each with its amounts
/// and its limit; PumpSwap's `buy`, `buy_exact_quote_in` and `sell`.
#[test]
fn pump_fun_new_trades_and_pumpswap() {
    let u = pk(&key(1));
    let (mint, quote) = (other(130), other(140));
    let data = |disc: [u8; 8], a: u64, b: u64| {
        let mut v = disc.to_vec();
        v.extend_from_slice(&a.to_le_bytes());
        v.extend_from_slice(&b.to_le_bytes());
        v
    };
    // The IDL's first 16 accounts of a buy, user at 6 and its token account at 5.
    let curve: Vec<AccountMeta> = (0..16)
        .map(|i| match i {
            2 => r(mint, false),
            6 => w(u, true),
            _ => w(other(150), false),
        })
        .collect();
    // The v2 forms: base mint 1, quote mint 2, user 13, its base account 14.
    let v2: Vec<AccountMeta> = (0..27)
        .map(|i| match i {
            1 => r(mint, false),
            2 => r(quote, false),
            13 => w(u, true),
            _ => w(other(151), false),
        })
        .collect();
    // PumpSwap: pool 0, user 1, base 3, quote 4, user base 5, user quote 6.
    let amm: Vec<AccountMeta> = (0..26)
        .map(|i| match i {
            1 => w(u, true),
            3 => r(mint, false),
            4 => r(quote, false),
            _ => w(other(152), false),
        })
        .collect();
    let d = run(
        &[
            ix(
                PUMP_FUN_PROGRAM,
                curve,
                data([56, 252, 116, 8, 158, 223, 205, 95], 30_000_000, 5_000),
            ),
            ix(
                PUMP_FUN_PROGRAM,
                v2.clone(),
                data([184, 23, 238, 97, 103, 197, 211, 61], 7_000, 900),
            ),
            ix(
                PUMP_FUN_PROGRAM,
                v2.clone(),
                data([93, 246, 130, 60, 231, 233, 64, 178], 8_000, 800),
            ),
            ix(
                PUMP_FUN_PROGRAM,
                v2,
                data([194, 171, 28, 70, 104, 77, 91, 47], 950, 6_000),
            ),
            ix(
                PUMP_AMM_PROGRAM,
                amm.clone(),
                data([102, 6, 61, 18, 1, 218, 235, 234], 11, 22),
            ),
            ix(
                PUMP_AMM_PROGRAM,
                amm.clone(),
                data([198, 46, 21, 82, 180, 217, 232, 112], 33, 44),
            ),
            ix(
                PUMP_AMM_PROGRAM,
                amm,
                data([51, 230, 133, 164, 1, 127, 131, 173], 55, 66),
            ),
        ],
        &[],
        &DescribeContext::new(),
    );
    let t = text(&d);
    let (m, q) = (b58(&mint), b58(&quote));
    for want in [
        format!(
            "buy mint {m} with 0.03 SOL (30000000 lamports) (fees included) for at least 5000 raw units"
        ),
        format!("buy 7000 raw units of mint {m} for at most 900 raw units of quote mint {q}"),
        format!("sell 8000 raw units of mint {m} for at least 800 raw units of quote mint {q}"),
        format!(
            "buy mint {m} with 950 raw units of quote mint {q} (fees included) for at least 6000 raw units"
        ),
        format!("buy 11 raw units of {m} for at most 22 raw units of {q} in pool"),
        format!("buy {m} with 33 raw units of {q} (fees included) for at least 44 raw units"),
        format!("sell 55 raw units of {m} for at least 66 raw units of {q} in pool"),
    ] {
        assert!(t.contains(&want), "missing {want:?} in\n{t}");
    }
    assert!(t.contains("PumpSwap"), "{t}");
    assert_eq!(d.swaps.len(), 7);
}

/// pump.fun's v3 forms (IDL of `8cda1fa`, 17 accounts): mint 1, quote mint 2, user 8, the
/// user's token account 9; amounts in the quote mint. PumpSwap's v2 forms likewise.
#[test]
fn pump_fun_v3_trades() {
    let u = pk(&key(1));
    let (mint, quote, tokens) = (other(131), other(141), other(161));
    let data = |disc: [u8; 8], a: u64, b: u64| {
        let mut v = disc.to_vec();
        v.extend_from_slice(&a.to_le_bytes());
        v.extend_from_slice(&b.to_le_bytes());
        v
    };
    let v3: Vec<AccountMeta> = (0..17)
        .map(|i| match i {
            1 => r(mint, false),
            2 => r(quote, false),
            8 => w(u, true),
            9 => w(tokens, false),
            _ => w(other(153), false),
        })
        .collect();
    let d = run(
        &[
            ix(
                PUMP_FUN_PROGRAM,
                v3.clone(),
                data([7, 5, 29, 196, 245, 23, 101, 80], 7_000, 900),
            ),
            ix(
                PUMP_FUN_PROGRAM,
                v3.clone(),
                data([28, 146, 222, 119, 38, 196, 105, 213], 8_000, 800),
            ),
            ix(
                PUMP_FUN_PROGRAM,
                v3,
                data([225, 247, 80, 30, 213, 179, 132, 136], 950, 6_000),
            ),
        ],
        &[],
        &DescribeContext::new(),
    );
    let t = text(&d);
    let (m, q, k) = (b58(&mint), b58(&quote), b58(&tokens));
    for want in [
        format!(
            "buy 7000 raw units of mint {m} for at most 900 raw units of quote mint {q}; tokens to {k}"
        ),
        format!(
            "sell 8000 raw units of mint {m} for at least 800 raw units of quote mint {q}; tokens from {k}"
        ),
        format!(
            "buy mint {m} with 950 raw units of quote mint {q} (fees included) for at least 6000 raw units; tokens to {k}"
        ),
    ] {
        assert!(t.contains(&want), "missing {want:?} in\n{t}");
    }
    assert_eq!(d.swaps.len(), 3);
    // PumpSwap's v2 forms: the same first seven accounts as its other trades.
    let amm: Vec<AccountMeta> = (0..17)
        .map(|i| match i {
            1 => w(u, true),
            3 => r(mint, false),
            4 => r(quote, false),
            _ => w(other(154), false),
        })
        .collect();
    let d = run(
        &[
            ix(
                PUMP_AMM_PROGRAM,
                amm.clone(),
                data([184, 23, 238, 97, 103, 197, 211, 61], 11, 22),
            ),
            ix(
                PUMP_AMM_PROGRAM,
                amm.clone(),
                data([194, 171, 28, 70, 104, 77, 91, 47], 33, 44),
            ),
            ix(
                PUMP_AMM_PROGRAM,
                amm,
                data([93, 246, 130, 60, 231, 233, 64, 178], 55, 66),
            ),
        ],
        &[],
        &DescribeContext::new(),
    );
    let t = text(&d);
    for want in [
        format!("buy 11 raw units of {m} for at most 22 raw units of {q} in pool"),
        format!("buy {m} with 33 raw units of {q} (fees included) for at least 44 raw units"),
        format!("sell 55 raw units of {m} for at least 66 raw units of {q} in pool"),
    ] {
        assert!(t.contains(&want), "missing {want:?} in\n{t}");
    }
}

/// Jupiter's v2 forms: amounts, slippage and fees before the plan, the v2 account positions.
#[test]
fn jupiter_v2_routes() {
    let u = pk(&key(1));
    let (src, dst, out_mint) = (other(60), other(61), other(62));
    let data = |disc: [u8; 8], shared: bool| {
        let mut v = disc.to_vec();
        if shared {
            v.push(5);
        }
        v.extend_from_slice(&1_000u64.to_le_bytes());
        v.extend_from_slice(&990u64.to_le_bytes());
        v.extend_from_slice(&50u16.to_le_bytes());
        v.extend_from_slice(&0u16.to_le_bytes());
        v.extend_from_slice(&10u16.to_le_bytes());
        v.extend_from_slice(&1u32.to_le_bytes());
        v.extend_from_slice(&[7, 0x10, 0x27, 0, 1]);
        v
    };
    let plain: Vec<AccountMeta> = vec![
        r(u, true),
        w(src, false),
        w(dst, false),
        r(other(63), false),
        r(out_mint, false),
        r(p(TOKEN_PROGRAM), false),
        r(p(TOKEN_PROGRAM), false),
        r(p(JUPITER_V6_PROGRAM), false),
        r(other(64), false),
        r(p(JUPITER_V6_PROGRAM), false),
    ];
    let shared: Vec<AccountMeta> = vec![
        r(other(65), false),
        r(u, true),
        w(src, false),
        w(other(66), false),
        w(other(67), false),
        w(dst, false),
        r(other(63), false),
        r(out_mint, false),
        r(p(TOKEN_PROGRAM), false),
        r(p(TOKEN_PROGRAM), false),
        r(other(64), false),
        r(p(JUPITER_V6_PROGRAM), false),
    ];
    let d = run(
        &[
            ix(
                JUPITER_V6_PROGRAM,
                plain.clone(),
                data([187, 100, 250, 204, 49, 196, 175, 20], false),
            ),
            ix(
                JUPITER_V6_PROGRAM,
                shared.clone(),
                data([209, 152, 83, 147, 124, 254, 216, 233], true),
            ),
            ix(
                JUPITER_V6_PROGRAM,
                plain,
                data([157, 138, 184, 82, 21, 244, 243, 36], false),
            ),
            ix(
                JUPITER_V6_PROGRAM,
                shared,
                data([53, 96, 229, 202, 216, 187, 250, 24], true),
            ),
        ],
        &[],
        &DescribeContext::new(),
    );
    let t = text(&d);
    for want in [
        format!(
            "route v2: 1000 raw units in, quoted 990 raw units out, slippage 0.5% (50 bps), platform fee 0% (0 bps), positive-slippage fee 0.1% (10 bps); from {} to {} (output mint {}",
            b58(&src),
            b58(&dst),
            b58(&out_mint)
        ),
        "shared-accounts route v2: 1000 raw units in".to_owned(),
        "exact-out route v2: exactly 1000 raw units out, quoted 990 raw units in".to_owned(),
        "shared-accounts exact-out route v2".to_owned(),
        "1 route step(s)".to_owned(),
    ] {
        assert!(t.contains(&want), "missing {want:?} in\n{t}");
    }
    assert_eq!(d.swaps.len(), 4);
}
