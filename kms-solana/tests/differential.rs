//! Differential property test: the zero-copy parser accepts exactly what the Solana crates accept
//! (bincode as the runtime configures it + `sanitize` + the static runtime checks listed in
//! SPEC.md), and when both accept, every field agrees.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns"
)]

use kms_solana::solana::{
    same_message, same_transaction, solana_decode_message, solana_decode_transaction,
};
use kms_solana::{parse_message, parse_transaction};
use proptest::prelude::*;

/// Asserts agreement on one input, both as a transaction and as a bare message.
fn check(bytes: &[u8]) -> (bool, bool) {
    let ours = parse_transaction(bytes);
    let theirs = solana_decode_transaction(bytes);
    match (&ours, &theirs) {
        (Ok(o), Ok(t)) => assert!(
            same_transaction(o, t),
            "fields differ for {}",
            hex::encode(bytes)
        ),
        (Err(_), Err(_)) => {}
        _ => panic!(
            "transaction disagreement: ours {:?}, solana {:?}, input {}",
            ours.as_ref().map(|_| ()),
            theirs.as_ref().map(|_| ()),
            hex::encode(bytes)
        ),
    }
    let ours_m = parse_message(bytes);
    let theirs_m = solana_decode_message(bytes);
    match (&ours_m, &theirs_m) {
        (Ok(o), Ok(t)) => assert!(
            same_message(o, t),
            "fields differ for {}",
            hex::encode(bytes)
        ),
        (Err(_), Err(_)) => {}
        _ => panic!(
            "message disagreement: ours {:?}, solana {:?}, input {}",
            ours_m.as_ref().map(|_| ()),
            theirs_m.as_ref().map(|_| ()),
            hex::encode(bytes)
        ),
    }
    (ours.is_ok(), ours_m.is_ok())
}

/// How a length is written: canonical, or a (rejected) longer alias.
fn push_len(out: &mut Vec<u8>, v: usize, alias: bool) {
    let mut x = v;
    loop {
        let mut b = (x & 0x7f) as u8;
        x >>= 7;
        if x != 0 {
            b |= 0x80;
        }
        if x == 0 && alias && out.len() < 2000 {
            out.push(b | 0x80);
            out.push(0);
            return;
        }
        out.push(b);
        if x == 0 {
            return;
        }
    }
}

#[derive(Debug, Clone)]
struct Ins {
    program: u8,
    accounts: Vec<u8>,
    data: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Lookup {
    table: u8,
    writable: Vec<u8>,
    readonly: Vec<u8>,
}

#[derive(Debug, Clone)]
struct Tx {
    v0: bool,
    header: [u8; 3],
    keys: Vec<u8>, // each key is [k; 32] from a small pool, so duplicates happen
    sig_delta: i8,
    ins: Vec<Ins>,
    lookups: Vec<Lookup>,
    alias_at: Option<usize>,
    version_byte: u8,
}

fn tx_strategy() -> impl Strategy<Value = Tx> {
    let ins = (
        prop_oneof![9 => 1u8..5, 1 => 0u8..8],
        prop::collection::vec(0u8..8, 0..5),
        prop::collection::vec(any::<u8>(), 0..12),
    )
        .prop_map(|(program, accounts, data)| Ins {
            program,
            accounts,
            data,
        });
    let lookup = (
        0u8..3,
        prop::collection::vec(0u8..6, 0..3),
        prop::collection::vec(0u8..6, 0..3),
    )
        .prop_map(|(table, writable, readonly)| Lookup {
            table,
            writable,
            readonly,
        });
    (
        any::<bool>(),
        (
            prop_oneof![9 => 1u8..3, 1 => 0u8..4],
            prop_oneof![4 => Just(0u8), 1 => 0u8..3],
            0u8..4,
        ),
        (
            prop::sample::subsequence((1u8..60).collect::<Vec<_>>(), 0..7).prop_shuffle(),
            prop_oneof![9 => Just(None), 1 => any::<(usize, usize)>().prop_map(Some)],
        )
            .prop_map(|(mut keys, dup)| {
                if let (Some((i, j)), false) = (dup, keys.is_empty()) {
                    let k = keys[i % keys.len()];
                    keys.insert(j % (keys.len() + 1), k);
                }
                keys
            }),
        prop_oneof![8 => Just(0i8), 1 => Just(-1i8), 1 => Just(1i8)],
        prop::collection::vec(ins, 0..4),
        prop::collection::vec(lookup, 0..3),
        prop_oneof![12 => Just(None), 1 => (0usize..40).prop_map(Some)],
        prop_oneof![12 => Just(0x80u8), 1 => Just(0x81u8), 1 => Just(0xffu8)],
    )
        .prop_map(
            |(v0, (a, b, c), keys, sig_delta, ins, lookups, alias_at, version_byte)| Tx {
                v0,
                header: [a, b, c],
                keys,
                sig_delta,
                ins,
                lookups,
                alias_at,
                version_byte,
            },
        )
}

fn encode(t: &Tx, with_sigs: bool) -> Vec<u8> {
    let mut len_no = 0usize;
    let mut out = Vec::new();
    let mut len = |out: &mut Vec<u8>, v: usize| {
        push_len(out, v, t.alias_at == Some(len_no));
        len_no += 1;
    };
    if with_sigs {
        let n = (i16::from(t.header[0]) + i16::from(t.sig_delta)).max(0) as usize;
        len(&mut out, n);
        for i in 0..n {
            out.extend_from_slice(&[i as u8 + 0xa0; 64]);
        }
    }
    if t.v0 {
        out.push(t.version_byte);
    }
    out.extend_from_slice(&t.header);
    len(&mut out, t.keys.len());
    for &k in &t.keys {
        out.extend_from_slice(&[k; 32]);
    }
    out.extend_from_slice(&[7u8; 32]);
    len(&mut out, t.ins.len());
    for i in &t.ins {
        out.push(i.program);
        len(&mut out, i.accounts.len());
        out.extend_from_slice(&i.accounts);
        len(&mut out, i.data.len());
        out.extend_from_slice(&i.data);
    }
    if t.v0 {
        len(&mut out, t.lookups.len());
        for l in &t.lookups {
            out.extend_from_slice(&[0x40 + l.table; 32]);
            len(&mut out, l.writable.len());
            out.extend_from_slice(&l.writable);
            len(&mut out, l.readonly.len());
            out.extend_from_slice(&l.readonly);
        }
    }
    out
}

#[derive(Debug, Clone)]
enum Mutation {
    None,
    Flip(usize, u8),
    Truncate(usize),
    Append(Vec<u8>),
    Insert(usize, u8),
    Remove(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        6 => Just(Mutation::None),
        2 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        1 => any::<usize>().prop_map(Mutation::Truncate),
        1 => prop::collection::vec(any::<u8>(), 1..4).prop_map(Mutation::Append),
        1 => (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => any::<usize>().prop_map(Mutation::Remove),
    ]
}

fn apply(mut b: Vec<u8>, m: &Mutation) -> Vec<u8> {
    if b.is_empty() {
        return b;
    }
    let n = b.len();
    match m {
        Mutation::None => {}
        Mutation::Flip(i, x) => b[i % n] ^= x | 1,
        Mutation::Truncate(i) => b.truncate(i % n),
        Mutation::Append(x) => b.extend_from_slice(x),
        Mutation::Insert(i, x) => b.insert(i % n, *x),
        Mutation::Remove(i) => {
            b.remove(i % n);
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 20_000, ..ProptestConfig::default() })]

    #[test]
    fn agrees_with_solana_on_structured_inputs(t in tx_strategy(), m in mutation()) {
        check(&apply(encode(&t, true), &m));
        check(&apply(encode(&t, false), &m));
    }

    #[test]
    fn agrees_with_solana_on_random_bytes(b in prop::collection::vec(any::<u8>(), 0..300)) {
        check(&b);
    }
}

/// The generator must reach acceptance often, or the property above proves little.
#[test]
fn generator_produces_accepted_inputs() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let (mut tx_ok, mut msg_ok, mut v0_ok) = (0, 0, 0);
    for _ in 0..5000 {
        let t = tx_strategy()
            .new_tree(&mut runner)
            .expect("strategy")
            .current();
        let (a, _) = check(&encode(&t, true));
        let (_, b) = check(&encode(&t, false));
        tx_ok += usize::from(a);
        msg_ok += usize::from(b);
        v0_ok += usize::from(a && t.v0 && !t.lookups.is_empty());
    }
    assert!(tx_ok > 250, "only {tx_ok} accepted transactions");
    assert!(msg_ok > 250, "only {msg_ok} accepted messages");
    assert!(
        v0_ok > 25,
        "only {v0_ok} accepted v0 transactions with lookups"
    );
}

/// Large and boundary sizes: a 1232-byte transaction is accepted, 1233 is not.
#[test]
fn size_limit_matches() {
    for data_len in 1040..1120 {
        let t = Tx {
            v0: true,
            header: [1, 0, 1],
            keys: vec![1, 2],
            sig_delta: 0,
            ins: vec![Ins {
                program: 1,
                accounts: vec![0, 2],
                data: vec![9; data_len],
            }],
            lookups: vec![Lookup {
                table: 0,
                writable: vec![1],
                readonly: vec![],
            }],
            alias_at: None,
            version_byte: 0x80,
        };
        let b = encode(&t, true);
        let (ok, _) = check(&b);
        assert_eq!(ok, b.len() <= 1232, "len {}", b.len());
        check(&encode(&t, false));
    }
}
