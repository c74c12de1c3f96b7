//! kms-pagechain: `with_secret` on the default chain (budget: median ≤ 20 µs; also without the
//! chains prepared ahead, and without re-shielding), beside OpenSSH's
//! per-use cost (SHA-512 over its 16 KiB prekey, and the whole unshield + re-shield it does),
//! `mutate`, building a shield, and the signer's hot path with kms-core: unshield the master key,
//! open a sealed record, sign, zeroize (budget: median ≤ 100 µs).
//!
//! `cargo bench -p kms-benches --bench pagechain`. With `--bench`, a per-call latency report
//! (median and p99 over 20,000 individually timed calls) is printed after the criterion runs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kms_core::{
    MasterKey, Mnemonic, RecordKind, RecordLocation, SealedRecord, SolanaPathScheme, UserId,
    WalletKey, sign,
};
use kms_pagechain::{Shield, ShieldConfig};
use sha2::{Digest, Sha512};

const OPENSSH_PREKEY: usize = 16 * 1024;

fn secret() -> Vec<u8> {
    vec![0x5A; 32]
}

fn bench_pagechain(c: &mut Criterion) {
    let shield = Shield::new(secret(), ShieldConfig::default()).unwrap();
    c.bench_function("pagechain/with_secret_default_4x4KiB_reshield", |b| {
        b.iter(|| shield.with_secret(|s| black_box(s[0])).unwrap())
    });

    let prepared = Shield::new(secret(), ShieldConfig::default().prepare_ahead(true)).unwrap();
    c.bench_function(
        "pagechain/with_secret_4x4KiB_reshield_prepared_ahead",
        |b| b.iter(|| prepared.with_secret(|s| black_box(s[0])).unwrap()),
    );

    let reader = Shield::new(secret(), ShieldConfig::default().reshield_after_use(false)).unwrap();
    c.bench_function("pagechain/with_secret_4x4KiB_no_reshield", |b| {
        b.iter(|| reader.with_secret(|s| black_box(s[0])).unwrap())
    });

    c.bench_function("pagechain/mutate_4x4KiB", |b| {
        b.iter(|| shield.mutate().unwrap())
    });

    c.bench_function("pagechain/shield_new_default", |b| {
        b.iter(|| Shield::new(secret(), ShieldConfig::default()).unwrap())
    });

    // OpenSSH's per-use cost: sshkey_unshield_private hashes the 16 KiB prekey with SHA-512 ...
    let mut prekey = vec![0u8; OPENSSH_PREKEY];
    getrandom::fill(&mut prekey).unwrap();
    c.bench_function("pagechain/openssh_sha512_16KiB", |b| {
        b.iter(|| black_box(Sha512::digest(black_box(&prekey))))
    });
    // ... and re-shielding draws a fresh 16 KiB prekey and hashes it again.
    c.bench_function("pagechain/openssh_unshield_reshield_model", |b| {
        b.iter(|| {
            black_box(Sha512::digest(black_box(&prekey)));
            getrandom::fill(&mut prekey).unwrap();
            black_box(Sha512::digest(black_box(&prekey)))
        })
    });
}

const PHRASE: &str = "legal winner thank year wave sausage worth useful legal winner thank yellow";

/// The signer's hot path: the master key lives only in a shield; each signature unshields it
/// (with the default re-shield), opens the user's sealed record, signs and zeroizes everything.
fn bench_unshield_open_sign(c: &mut Criterion) {
    let master = MasterKey::generate(1).unwrap();
    let shield = Shield::new(master.expose_secret().to_vec(), ShieldConfig::default()).unwrap();
    let at = RecordLocation::new(UserId::new("tg:1").unwrap(), RecordKind::Seed, 0);
    let seed = Mnemonic::parse(PHRASE).unwrap().to_seed("");
    let rec =
        SealedRecord::seal_seed(&master, &at, &seed, SolanaPathScheme::AccountChange).unwrap();
    let kat = RecordLocation::new(UserId::new("tg:1").unwrap(), RecordKind::ImportedKey, 0);
    let key = WalletKey::from_secret(&zeroize::Zeroizing::new([9; 32]));
    let krec = SealedRecord::seal_key(&master, &kat, &key).unwrap();
    drop(master);
    let msg = [7u8; 600];
    c.bench_function("pagechain/unshield_open_sign_seed_wallet5", |b| {
        b.iter(|| {
            shield
                .with_secret(|k| {
                    MasterKey::scoped(k, 1, |master| {
                        sign(&rec, master, &at, 5, black_box(&msg)).unwrap()
                    })
                    .unwrap()
                })
                .unwrap()
        })
    });
    c.bench_function("pagechain/unshield_open_sign_imported_key", |b| {
        b.iter(|| {
            shield
                .with_secret(|k| {
                    MasterKey::scoped(k, 1, |master| {
                        sign(&krec, master, &kat, 0, black_box(&msg)).unwrap()
                    })
                    .unwrap()
                })
                .unwrap()
        })
    });
}

fn percentiles(name: &str, mut f: impl FnMut()) {
    const CALLS: usize = 20_000;
    for _ in 0..1_000 {
        f();
    }
    let mut times: Vec<Duration> = (0..CALLS)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort_unstable();
    println!(
        "latency {name}: median {:?}, p99 {:?} ({CALLS} calls)",
        times[CALLS / 2],
        times[CALLS * 99 / 100]
    );
}

fn latency_report(_: &mut Criterion) {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let shield = Shield::new(secret(), ShieldConfig::default()).unwrap();
    percentiles("pagechain/with_secret_default", || {
        shield.with_secret(|s| black_box(s[0])).unwrap();
    });
    percentiles("pagechain/mutate", || shield.mutate().unwrap());
    let prepared = Shield::new(secret(), ShieldConfig::default().prepare_ahead(true)).unwrap();
    percentiles("pagechain/with_secret_prepared_ahead", || {
        prepared.with_secret(|s| black_box(s[0])).unwrap();
    });
    let reader = Shield::new(secret(), ShieldConfig::default().reshield_after_use(false)).unwrap();
    percentiles("pagechain/with_secret_no_reshield", || {
        reader.with_secret(|s| black_box(s[0])).unwrap();
    });
    let prekey = vec![0x11u8; OPENSSH_PREKEY];
    percentiles("pagechain/openssh_sha512_16KiB", || {
        black_box(Sha512::digest(black_box(&prekey)));
    });
}

criterion_group!(
    benches,
    bench_pagechain,
    bench_unshield_open_sign,
    latency_report
);
criterion_main!(benches);
