//! kms-pagechain budgets: `with_secret` on the default chain (issue budget: median ≤ 20 µs) and
//! the signer's hot path, unshield master key + open sealed record + sign + zeroize (DESIGN.md:
//! median ≤ 100 µs). The criterion benchmarks are in `benches/pagechain.rs`.

use std::hint::black_box;
use std::time::Duration;

use kms_core::{
    MasterKey, Mnemonic, RecordKind, RecordLocation, SealedRecord, SolanaPathScheme, UserId, sign,
};
use kms_pagechain::{Shield, ShieldConfig};

use sha2::{Digest, Sha512};

use crate::budget::{Entry, Stat};

const WITH_SECRET: &str = "pagechain: with_secret, default chain (4 x 4 KiB, re-shield)";

const PHRASE: &str = "legal winner thank year wave sausage worth useful legal winner thank yellow";

/// The budget entries; panics if the fixtures cannot be built (a broken build, not a result).
#[allow(clippy::expect_used)]
pub fn budgets() -> Vec<Entry> {
    let shield = Shield::new(vec![0x5Au8; 32], ShieldConfig::default()).expect("shield");
    let use_once = Entry::budget(
        WITH_SECRET,
        Duration::from_micros(20),
        Stat::Median,
        Box::new(move || {
            black_box(shield.with_secret(|s| black_box(s[0])))
                .map(drop)
                .map_err(|e| e.to_string())
        }),
    );
    // OpenSSH's shield: SHA-512 over its 16 KiB prekey on every use (sshkey.c), the figure the
    // issue asks to see beside ours.
    let prekey = vec![0xA5u8; 16 * 1024];
    let openssh = Entry::reference(
        "pagechain reference: OpenSSH per-use SHA-512 of a 16 KiB prekey",
        WITH_SECRET,
        Box::new(move || {
            black_box(Sha512::digest(black_box(&prekey)));
            Ok(())
        }),
    );

    let master = MasterKey::generate(1).expect("master key");
    let shield =
        Shield::new(master.expose_secret().to_vec(), ShieldConfig::default()).expect("shield");
    let at = RecordLocation::new(UserId::new("tg:1").expect("user id"), RecordKind::Seed, 0);
    let seed = Mnemonic::parse(PHRASE).expect("phrase").to_seed("");
    let rec = SealedRecord::seal_seed(&master, &at, &seed, SolanaPathScheme::AccountChange)
        .expect("seal");
    drop(master);
    let msg = [7u8; 600];
    let sign_path = Entry::budget(
        "pagechain+core: unshield, open seed record, derive, sign",
        Duration::from_micros(100),
        Stat::Median,
        Box::new(move || {
            let signed = shield
                .with_secret(|k| {
                    MasterKey::scoped(k, 1, |m| {
                        sign(&rec, m, &at, 5, black_box(&msg)).map_err(|_| "sign failed")
                    })
                    .ok_or("not a 32-byte master key")?
                })
                .map_err(|e| e.to_string())?;
            black_box(signed).map(drop).map_err(str::to_owned)
        }),
    );
    vec![use_once, openssh, sign_path]
}
