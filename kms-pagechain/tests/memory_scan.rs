//! Memory scan: a child process shields a known secret and then searches all of its own readable
//! memory (`/proc/self/maps` + `/proc/self/mem`) for it at every point where it must be absent.
//! The same scan finds the secret in a plain `Vec` and inside `with_secret`, so a clean scan is
//! not a scan that cannot see.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

use common::{find_secret, is_child, run_child};
use kms_pagechain::{Shield, ShieldConfig};

const CHILD: &str = "scan_child";

fn assert_absent(when: &str, complement: &[u8]) {
    let hits = find_secret(complement).unwrap();
    assert!(
        hits.is_empty(),
        "secret found {when} at {} place(s): {hits:x?}",
        hits.len()
    );
    println!("{when}: not found");
}

fn matches(s: &[u8], complement: &[u8]) -> bool {
    s.len() == complement.len() && s.iter().zip(complement).all(|(a, c)| a ^ c == 0xFF)
}

#[test]
fn memory_scan_finds_the_secret_only_where_it_should_be() {
    let out = run_child(CHILD);
    assert!(out.contains("SCAN-CHILD-OK"), "{out}");
    assert!(
        out.contains("control: the secret is found in a plain Vec"),
        "{out}"
    );
}

#[test]
#[ignore = "child process of memory_scan_finds_the_secret_only_where_it_should_be"]
fn scan_child() {
    if !is_child(CHILD) {
        return;
    }
    // 64 random bytes: unique in this process's memory with overwhelming probability. Only
    // their complement is kept for the scan.
    let mut secret = vec![0u8; 64];
    getrandom::fill(&mut secret).unwrap();
    let complement: Vec<u8> = secret.iter().map(|b| !b).collect();

    // Control: the scan sees a secret held in a plain Vec.
    let hits = find_secret(&complement).unwrap();
    assert!(
        !hits.is_empty(),
        "the scan did not find the secret in a plain Vec"
    );
    println!(
        "control: the secret is found in a plain Vec ({} hit(s))",
        hits.len()
    );

    let shield = Shield::new(secret, ShieldConfig::default()).unwrap();
    assert_absent("after Shield::new", &complement);

    // Inside the closure the secret exists in the shield's plaintext buffer, and the scan finds
    // it there (the scan reaches locked, non-dumpable memory).
    let inside = shield
        .with_secret(|s| {
            assert!(matches(s, &complement));
            find_secret(&complement).unwrap()
        })
        .unwrap();
    assert!(!inside.is_empty(), "the scan cannot see the lent buffer");
    println!("inside with_secret: found ({} hit(s))", inside.len());
    assert_absent("after with_secret returned", &complement);

    for _ in 0..10 {
        assert!(shield.with_secret(|s| matches(s, &complement)).unwrap());
    }
    assert_absent("after 10 more uses", &complement);

    shield.mutate().unwrap();
    assert_absent("after mutate", &complement);

    let panicked = catch_unwind(AssertUnwindSafe(|| {
        shield.with_secret(|_| panic!("closure panics while holding the secret"))
    }));
    assert!(panicked.is_err());
    assert_absent("after a closure panicked", &complement);

    // A second shield, built from inside a closure, that shares its chain between readers and
    // has a background mutator.
    let reader = shield
        .with_secret(|s| {
            let mut copy = s.to_vec();
            let built = Shield::from_mut_slice(
                &mut copy,
                ShieldConfig::default()
                    .reshield_after_use(false)
                    .background_mutation(Some(Duration::from_millis(2))),
            );
            assert!(copy.iter().all(|b| *b == 0));
            built
        })
        .unwrap()
        .unwrap();
    assert_absent("after building a second shield", &complement);
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                for _ in 0..200 {
                    assert!(reader.with_secret(|s| matches(s, &complement)).unwrap());
                }
            });
        }
    });
    // Mutations re-key the sealed secret without decrypting it, so scans while the background
    // mutator runs (and no reader is active) find nothing.
    let before = reader.mutations();
    for round in 0..3 {
        assert_absent(
            &format!("while the background mutator runs ({round})"),
            &complement,
        );
    }
    assert!(
        reader.mutations() > before,
        "the mutator did not run during the scans"
    );
    drop(reader);
    assert_absent(
        "after a shield with a background mutator was dropped",
        &complement,
    );

    // A third shield with chains prepared ahead: scans while its preparer thread rebuilds the
    // chains that uses hand back (uses run between the scans, so the thread is busy during them).
    let prepared = shield
        .with_secret(|s| {
            let mut copy = s.to_vec();
            Shield::from_mut_slice(&mut copy, ShieldConfig::default().prepare_ahead(true))
        })
        .unwrap()
        .unwrap();
    assert_absent(
        "after building a shield with chains prepared ahead",
        &complement,
    );
    for round in 0..3 {
        for _ in 0..20 {
            assert!(prepared.with_secret(|s| matches(s, &complement)).unwrap());
        }
        assert_absent(
            &format!("while the preparer thread rebuilds spares ({round})"),
            &complement,
        );
    }
    prepared.mutate().unwrap();
    assert!(prepared.with_secret(|s| matches(s, &complement)).unwrap());
    assert_absent("after a use with stale spares recycled", &complement);
    drop(prepared);

    drop(shield);
    assert_absent("after the last shield was dropped", &complement);
    println!("SCAN-CHILD-OK");
}
