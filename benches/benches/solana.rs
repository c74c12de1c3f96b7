//! kms-solana budgets: parse of a 1232-byte v0 transaction (median ≤ 1 µs) and parse + describe
//! (median ≤ 10 µs).
#![allow(clippy::expect_used, clippy::panic)] // bench set-up: a failure is a broken benchmark

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kms_solana::describe::{DescribeContext, describe_transaction};
use kms_solana::programs::{
    ASSOCIATED_TOKEN_PROGRAM, COMPUTE_BUDGET_PROGRAM, JUPITER_V6_PROGRAM, MEMO_PROGRAM,
    SYSTEM_PROGRAM, TOKEN_PROGRAM,
};
use kms_solana::solana::{
    AccountMeta, AddressLookupTableAccount, Hash, Pubkey, Signature, SolanaInstruction,
    VersionedTransaction, serialize_transaction, v0_message,
};
use kms_solana::{PACKET_DATA_SIZE, parse_transaction};

fn pk(n: u8) -> Pubkey {
    let mut a = [n; 32];
    a[31] = n.wrapping_mul(7);
    Pubkey::new_from_array(a)
}

/// A realistic swap transaction (compute budget, ATA create, Jupiter route with accounts from a
/// lookup table, token transfer, memo) padded with memo text to exactly 1232 bytes.
fn full_size_v0(memo_len: usize) -> Vec<u8> {
    let user = pk(1);
    let prog = |a: [u8; 32]| Pubkey::new_from_array(a);
    let mut route_data = vec![229, 23, 203, 151, 122, 227, 173, 42, 2, 0, 0, 0];
    route_data.extend_from_slice(&[7, 50, 0, 1, 9, 50, 0, 1]);
    route_data.extend_from_slice(&1_000_000u64.to_le_bytes());
    route_data.extend_from_slice(&990_000u64.to_le_bytes());
    route_data.extend_from_slice(&50u16.to_le_bytes());
    route_data.push(0);
    let mut route_accounts = vec![
        AccountMeta::new_readonly(prog(TOKEN_PROGRAM), false),
        AccountMeta::new(user, true),
        AccountMeta::new(pk(10), false),
        AccountMeta::new(pk(11), false),
        AccountMeta::new_readonly(prog(JUPITER_V6_PROGRAM), false),
        AccountMeta::new_readonly(pk(12), false),
        AccountMeta::new_readonly(prog(JUPITER_V6_PROGRAM), false),
        AccountMeta::new_readonly(pk(13), false),
        AccountMeta::new_readonly(prog(JUPITER_V6_PROGRAM), false),
    ];
    route_accounts.extend((0..40).map(|i| AccountMeta::new(pk(100 + i), false)));
    let mut transfer = vec![12];
    transfer.extend_from_slice(&5_000_000u64.to_le_bytes());
    transfer.push(6);
    let ixs = vec![
        SolanaInstruction {
            program_id: prog(COMPUTE_BUDGET_PROGRAM),
            accounts: vec![],
            data: [&[2u8][..], &400_000u32.to_le_bytes()].concat(),
        },
        SolanaInstruction {
            program_id: prog(COMPUTE_BUDGET_PROGRAM),
            accounts: vec![],
            data: [&[3u8][..], &10_000u64.to_le_bytes()].concat(),
        },
        SolanaInstruction {
            program_id: prog(ASSOCIATED_TOKEN_PROGRAM),
            accounts: vec![
                AccountMeta::new(user, true),
                AccountMeta::new(pk(11), false),
                AccountMeta::new_readonly(user, false),
                AccountMeta::new_readonly(pk(12), false),
                AccountMeta::new_readonly(prog(SYSTEM_PROGRAM), false),
                AccountMeta::new_readonly(prog(TOKEN_PROGRAM), false),
            ],
            data: vec![1],
        },
        SolanaInstruction {
            program_id: prog(JUPITER_V6_PROGRAM),
            accounts: route_accounts,
            data: route_data,
        },
        SolanaInstruction {
            program_id: prog(TOKEN_PROGRAM),
            accounts: vec![
                AccountMeta::new(pk(11), false),
                AccountMeta::new_readonly(pk(12), false),
                AccountMeta::new(pk(20), false),
                AccountMeta::new_readonly(user, true),
            ],
            data: transfer,
        },
        SolanaInstruction {
            program_id: prog(MEMO_PROGRAM),
            accounts: vec![],
            data: vec![b'x'; memo_len],
        },
    ];
    let table = AddressLookupTableAccount {
        key: pk(200),
        addresses: (0..40).map(|i| pk(100 + i)).collect(),
    };
    let msg = v0_message(&ixs, &user, &[table], Hash::new_from_array([5; 32])).expect("compiles");
    let tx = VersionedTransaction {
        signatures: vec![Signature::from([3u8; 64])],
        message: msg,
    };
    bincode_bytes(&tx)
}

fn bincode_bytes(tx: &VersionedTransaction) -> Vec<u8> {
    // Over the limit gives an empty vector: the caller shrinks the memo.
    serialize_transaction(tx).unwrap_or_default()
}

fn tx_1232() -> Vec<u8> {
    for memo in (1..1000).rev() {
        let b = full_size_v0(memo);
        if b.len() == PACKET_DATA_SIZE {
            return b;
        }
    }
    panic!("no memo length gives exactly 1232 bytes");
}

fn bench(c: &mut Criterion) {
    let tx = tx_1232();
    assert_eq!(tx.len(), PACKET_DATA_SIZE);
    let ctx = DescribeContext::new();
    let parsed = parse_transaction(&tx).expect("valid");
    assert_eq!(parsed.message().num_instructions(), 6);
    c.bench_function("solana/parse_v0_1232", |b| {
        b.iter(|| parse_transaction(black_box(&tx)).map(|t| t.message().num_instructions()))
    });
    let key = [0x5au8; 32];
    c.bench_function("solana/address_to_base58", |b| {
        b.iter(|| {
            let mut buf = [0u8; 44];
            kms_solana::address_to_base58(black_box(&key), &mut buf).len()
        })
    });
    c.bench_function("solana/parse_describe_v0_1232", |b| {
        b.iter(|| {
            let t = parse_transaction(black_box(&tx)).expect("valid");
            describe_transaction(&t, &ctx)
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
