//! kms-core: phrase → seed, SLIP-0010 derivation, seal, open, sign-once, store lookups.
//!
//! `cargo bench -p kms-benches --bench core`. The store lookup runs against 1,000,000 records
//! when benchmarking (`--bench`), and 10,000 when run as a test (`cargo test --benches`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kms_core::{
    KeyStore, MasterKey, Mnemonic, RecordKind, RecordLocation, RedbStore, SealedRecord,
    SolanaPathScheme, UserId, WalletKey, sign,
};

const PHRASE: &str = "legal winner thank year wave sausage worth useful legal winner thank yellow";

fn user(i: u64) -> RecordLocation {
    RecordLocation::new(UserId::new(format!("tg:{i}")).unwrap(), RecordKind::Seed, 0)
}

fn bench_keys(c: &mut Criterion) {
    let m = Mnemonic::parse(PHRASE).unwrap();
    c.bench_function("core/mnemonic_to_seed", |b| {
        b.iter(|| black_box(m.to_seed("")))
    });
    let seed = m.to_seed("");
    let path = SolanaPathScheme::AccountChange.path(5).unwrap();
    c.bench_function("core/slip10_derive_m_44_501_5_0", |b| {
        b.iter(|| black_box(seed.derive(black_box(&path))))
    });

    let master = MasterKey::generate(1).unwrap();
    let at = user(1);
    c.bench_function("core/seal_seed_record", |b| {
        b.iter(|| {
            SealedRecord::seal_seed(&master, &at, &seed, SolanaPathScheme::AccountChange).unwrap()
        })
    });
    let rec =
        SealedRecord::seal_mnemonic(&master, &at, &m, "", SolanaPathScheme::AccountChange).unwrap();
    c.bench_function("core/open_seed_record", |b| {
        b.iter(|| rec.open(&master, &at).unwrap())
    });
    let msg = [7u8; 600];
    c.bench_function("core/sign_once_seed_wallet5", |b| {
        b.iter(|| sign(&rec, &master, &at, 5, black_box(&msg)).unwrap())
    });
    let key = WalletKey::from_secret(&zeroize::Zeroizing::new([9; 32]));
    let kat = RecordLocation::new(UserId::new("tg:1").unwrap(), RecordKind::ImportedKey, 0);
    let krec = SealedRecord::seal_key(&master, &kat, &key).unwrap();
    c.bench_function("core/sign_once_imported_key", |b| {
        b.iter(|| sign(&krec, &master, &kat, 0, black_box(&msg)).unwrap())
    });
}

fn bench_store(c: &mut Criterion) {
    let benchmarking = std::env::args().any(|a| a == "--bench");
    let total: u64 = if benchmarking { 1_000_000 } else { 10_000 };
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(dir.path().join("bench.redb")).unwrap();
    let master = MasterKey::generate(1).unwrap();
    let seed = Mnemonic::parse(PHRASE).unwrap().to_seed("");
    // Distinct records (fresh nonce each); built in batches of 10,000 per transaction.
    for batch in 0..total.div_ceil(10_000) {
        let recs: Vec<_> = (batch * 10_000..((batch + 1) * 10_000).min(total))
            .map(|i| {
                let at = user(i);
                let r =
                    SealedRecord::seal_seed(&master, &at, &seed, SolanaPathScheme::AccountChange)
                        .unwrap();
                (at, r)
            })
            .collect();
        store.create_many(recs.iter().map(|(a, r)| (a, r))).unwrap();
    }
    let mut i: u64 = 0;
    let name = format!("core/redb_get_{}k_records", total / 1000);
    c.bench_function(&name, |b| {
        b.iter(|| {
            i = (i + 7_919) % total;
            black_box(store.get(&user(i)).unwrap().unwrap())
        })
    });
}

criterion_group!(keys, bench_keys);
criterion_group! {
    name = store;
    config = Criterion::default().sample_size(50);
    targets = bench_store
}
criterion_main!(keys, store);
