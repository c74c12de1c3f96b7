//! kms-pagechain budgets: `with_secret` on the default chain (issue budget: median ≤ 20 µs) and
//! the signer's hot path, unshield master key + open sealed record + sign + zeroize (DESIGN.md:
//! median ≤ 100 µs). The criterion benchmarks are in `benches/pagechain.rs`.

use std::hint::black_box;
use std::time::Duration;

use kms_core::{
    MasterKey, Mnemonic, RecordKind, RecordLocation, SealedRecord, SolanaPathScheme, UserId, sign,
};
use kms_pagechain::{Shield, ShieldConfig};

use crate::budget::{Entry, Stat};

const PHRASE: &str = "legal winner thank year wave sausage worth useful legal winner thank yellow";

/// The budget entries; panics if the fixtures cannot be built (a broken build, not a result).
#[allow(clippy::expect_used)]
pub fn budgets() -> Vec<Entry> {
    let shield = Shield::new(vec![0x5Au8; 32], ShieldConfig::default()).expect("shield");
    let use_once = Entry {
        name: "pagechain: with_secret, default chain (4 x 4 KiB, re-shield)".to_owned(),
        budget: Duration::from_micros(20),
        stat: Stat::Median,
        run: Box::new(move || {
            let _ = black_box(shield.with_secret(|s| black_box(s[0])));
        }),
    };

    let master = MasterKey::generate(1).expect("master key");
    let shield =
        Shield::new(master.expose_secret().to_vec(), ShieldConfig::default()).expect("shield");
    let at = RecordLocation::new(UserId::new("tg:1").expect("user id"), RecordKind::Seed, 0);
    let seed = Mnemonic::parse(PHRASE).expect("phrase").to_seed("");
    let rec = SealedRecord::seal_seed(&master, &at, &seed, SolanaPathScheme::AccountChange)
        .expect("seal");
    drop(master);
    let msg = [7u8; 600];
    let sign_path = Entry {
        name: "pagechain+core: unshield, open seed record, derive, sign".to_owned(),
        budget: Duration::from_micros(100),
        stat: Stat::Median,
        run: Box::new(move || {
            let _ = black_box(shield.with_secret(|k| {
                MasterKey::from_slice(k, 1).map(|m| sign(&rec, &m, &at, 5, black_box(&msg)))
            }));
        }),
    };
    vec![use_once, sign_path]
}
