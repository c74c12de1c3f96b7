//! Round trips across threads while the chain is replaced thousands of times: by re-shielding
//! after every use, by explicit `mutate` calls and by the background mutator.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use kms_pagechain::{Shield, ShieldConfig};

fn secret() -> Vec<u8> {
    (0..64u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect()
}

fn run(shield: &Shield, threads: usize, rounds: usize) -> u64 {
    let expected = secret();
    let mutated = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for t in 0..threads {
            let (expected, mutated) = (&expected, &mutated);
            scope.spawn(move || {
                for i in 0..rounds {
                    let ok = shield.with_secret(|s| s == expected.as_slice()).unwrap();
                    assert!(ok, "thread {t} round {i} saw a wrong secret");
                    if i % 4 == t % 4 {
                        shield.mutate().unwrap();
                        mutated.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    mutated.into_inner()
}

#[test]
fn round_trips_survive_thousands_of_mutations_across_threads() {
    for prepare in [false, true] {
        let shield = Shield::new(
            secret(),
            ShieldConfig::default()
                .prepare_ahead(prepare)
                .background_mutation(Some(Duration::from_millis(1))),
        )
        .unwrap();
        let explicit = run(&shield, 4, 1_000);
        assert_eq!(explicit, 1_000);
        // 4,000 re-shields after use + 1,000 explicit mutations + the background ones.
        assert!(
            shield.mutations() >= 5_000,
            "prepare_ahead({prepare}): {} mutations",
            shield.mutations()
        );
        assert_eq!(shield.background_failures(), 0);
        assert!(shield.with_secret(|s| s == secret().as_slice()).unwrap());
    }
}

#[test]
fn shared_chain_readers_race_the_mutators_without_torn_states() {
    let shield = Shield::new(
        secret(),
        ShieldConfig::default()
            .reshield_after_use(false)
            .reader_slots(1)
            .background_mutation(Some(Duration::from_millis(1))),
    )
    .unwrap();
    let explicit = run(&shield, 4, 1_500);
    assert!(shield.mutations() >= explicit);
    assert!(explicit >= 1_000);
    assert_eq!(shield.background_failures(), 0);
}

#[test]
fn background_mutator_runs_on_its_own_and_stops_on_drop() {
    let shield = Shield::new(
        secret(),
        ShieldConfig::default().background_mutation(Some(Duration::from_millis(1))),
    )
    .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while shield.mutations() < 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the mutator did not run"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(shield.with_secret(|s| s == secret().as_slice()).unwrap());
    // Dropping joins the thread (the test would hang otherwise).
    drop(shield);
}

#[test]
fn prepared_and_self_built_chains_both_round_trip() {
    for prepare in [true, false] {
        let shield = Shield::new(secret(), ShieldConfig::default().prepare_ahead(prepare)).unwrap();
        // Back-to-back uses outrun the preparer thread now and then, so uses with a prepared
        // chain and uses that build their own interleave.
        for i in 0..3_000 {
            let ok = shield.with_secret(|s| s == secret().as_slice()).unwrap();
            assert!(ok, "prepare_ahead({prepare}) use {i} saw a wrong secret");
        }
        run(&shield, 3, 300);
        assert_eq!(shield.background_failures(), 0);
        assert!(shield.mutations() >= 3_900, "{}", shield.mutations());
    }
}
