//! Tests that need the crate's internals: tampering with the live chain, and the mlock refusal
//! (which drops privileges, so it runs in a child process).

use std::process::Command;

use crate::spec::{LINK_BYTES, TAIL_LINK};
use crate::sys::test_support;
use crate::{Error, MemoryLocking, Shield, ShieldConfig};

const SECRET: [u8; 32] = [0x3C; 32];
const CHILD_ENV: &str = "KMS_PAGECHAIN_UNIT_CHILD";

fn shield(reshield: bool) -> Shield {
    Shield::new(
        SECRET.to_vec(),
        ShieldConfig::default().reshield_after_use(reshield),
    )
    .unwrap()
}

fn snapshot(shield: &Shield) -> (Vec<u8>, usize, Vec<u8>) {
    shield.with_live_state(|chain, head, sealed| (chain.to_vec(), head, sealed.to_vec()))
}

fn chain_order(chain: &[u8], head: usize, page_size: usize) -> Vec<usize> {
    let mut order = vec![head];
    let mut page = head;
    loop {
        let end = (page + 1) * page_size;
        let link = u64::from_le_bytes(chain[end - LINK_BYTES..end].try_into().unwrap());
        if link == TAIL_LINK {
            return order;
        }
        page = link as usize;
        order.push(page);
    }
}

#[test]
fn every_use_replaces_the_chain_by_default() {
    let shield = shield(true);
    let (chain1, _, sealed1) = snapshot(&shield);
    assert!(shield.with_secret(|s| s == SECRET).unwrap());
    let (chain2, _, sealed2) = snapshot(&shield);
    assert_ne!(chain1, chain2);
    assert_ne!(sealed1, sealed2);
    assert_eq!(shield.mutations(), 1);
}

#[test]
fn without_reshield_uses_keep_the_chain_until_mutate() {
    let shield = shield(false);
    let before = snapshot(&shield);
    for _ in 0..3 {
        assert!(shield.with_secret(|s| s == SECRET).unwrap());
    }
    assert_eq!(before, snapshot(&shield));
    assert_eq!(shield.mutations(), 0);
    shield.mutate().unwrap();
    let after = snapshot(&shield);
    assert_ne!(before.0, after.0);
    assert_ne!(before.2, after.2);
    assert!(shield.with_secret(|s| s == SECRET).unwrap());
}

/// Attack: flip one bit anywhere in any page (outside the links).
#[test]
fn a_changed_page_byte_makes_the_secret_unrecoverable() {
    let page_size = 4096;
    for page in 0..4 {
        let shield = shield(false);
        shield.with_live_state(|chain, _, _| chain[page * page_size + 1000] ^= 0x01);
        let called = std::cell::Cell::new(false);
        let err = shield.with_secret(|_| called.set(true)).unwrap_err();
        assert!(matches!(err, Error::DecryptionFailed), "{err:?}");
        assert!(!called.get(), "the closure ran on a tampered chain");
    }
}

/// Attack: read the pages in address order, or swap two pages' contents.
#[test]
fn reordering_the_pages_makes_the_secret_unrecoverable() {
    let page_size = 4096;
    let shield = shield(false);
    // Relink the same pages in address order (keeping the head, so the chain is well-formed
    // and only the order differs).
    shield.with_live_state(|chain, head, _| {
        let mut order: Vec<usize> = (0..4).filter(|p| *p != head).collect();
        order.insert(0, head);
        if order == chain_order(chain, head, page_size) {
            order[1..].reverse();
        }
        assert_ne!(order, chain_order(chain, head, page_size));
        for (pos, page) in order.iter().enumerate() {
            let next = order.get(pos + 1).map_or(TAIL_LINK, |n| *n as u64);
            let end = (page + 1) * page_size;
            chain[end - LINK_BYTES..end].copy_from_slice(&next.to_le_bytes());
        }
    });
    assert!(matches!(
        shield.with_secret(|_| ()),
        Err(Error::DecryptionFailed)
    ));

    // Swap the contents of the first two pages in chain order, links included.
    let shield = self::shield(false);
    shield.with_live_state(|chain, head, _| {
        let order = chain_order(chain, head, page_size);
        let (a, b) = (order[1].min(order[2]), order[1].max(order[2]));
        let (lo, hi) = chain.split_at_mut(b * page_size);
        lo[a * page_size..(a + 1) * page_size - LINK_BYTES]
            .swap_with_slice(&mut hi[..page_size - LINK_BYTES]);
    });
    assert!(matches!(
        shield.with_secret(|_| ()),
        Err(Error::DecryptionFailed)
    ));
}

/// Attack: break or loop a link.
#[test]
fn a_broken_link_is_reported_as_a_corrupted_chain() {
    let shield = shield(false);
    shield.with_live_state(|chain, head, _| {
        let end = (head + 1) * 4096;
        chain[end - LINK_BYTES..end].copy_from_slice(&(head as u64).to_le_bytes());
    });
    assert!(matches!(
        shield.with_secret(|_| ()),
        Err(Error::ChainCorrupted)
    ));
    // A failed use must not destroy the (tampered) state or change it into something else.
    assert!(matches!(shield.mutate(), Err(Error::ChainCorrupted)));
}

/// Attack: change the ciphertext or the tag.
#[test]
fn a_changed_ciphertext_or_tag_is_rejected() {
    for at in [0usize, 31, 32, 47] {
        let shield = shield(true);
        shield.with_live_state(|_, _, sealed| sealed[at] ^= 0x40);
        let err = shield.with_secret(|_| ()).unwrap_err();
        assert!(matches!(err, Error::DecryptionFailed));
        assert_eq!(
            err.to_string(),
            "the shielded secret could not be decrypted (its memory was altered)"
        );
    }
}

/// The mlock refusal is tested in a child process that sets RLIMIT_MEMLOCK to 0 and, as root,
/// gives up CAP_IPC_LOCK by becoming `nobody`.
#[test]
fn refused_mlock_explains_rlimit_memlock_and_the_opt_out() {
    run_child("tests::mlock_refused_child", "mlock", "MLOCK-CHILD-OK");
}

/// Runs the ignored test `test` in a fresh process of this test binary (one test thread) with
/// `CHILD_ENV=role`, and asserts that it succeeded and printed `ok_line`.
fn run_child(test: &str, role: &str, ok_line: &str) {
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .args([
            "--exact",
            test,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, role)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains(ok_line),
        "child did not run:\n{stdout}\n{stderr}"
    );
}

#[test]
#[ignore = "child process of refused_mlock_explains_rlimit_memlock_and_the_opt_out"]
fn mlock_refused_child() {
    if std::env::var(CHILD_ENV).as_deref() != Ok("mlock") {
        // Run by hand with --ignored: do not drop this process's privileges.
        return;
    }
    test_support::drop_memlock_permission().unwrap();
    let err = Shield::new(SECRET.to_vec(), ShieldConfig::default()).unwrap_err();
    let Error::MemoryLock { bytes, limit, .. } = &err else {
        panic!("expected MemoryLock, got {err:?}");
    };
    assert!(*bytes >= 4096);
    assert_eq!(limit.soft, Some(0));
    let message = err.to_string();
    for needle in [
        "RLIMIT_MEMLOCK",
        "0 bytes",
        "ulimit -l",
        "LimitMEMLOCK",
        "CAP_IPC_LOCK",
        "MemoryLocking::Disabled",
    ] {
        assert!(
            message.contains(needle),
            "{needle:?} missing from: {message}"
        );
    }

    // The explicit opt-out works in the same process.
    let shield = Shield::new(
        SECRET.to_vec(),
        ShieldConfig::default().memory_locking(MemoryLocking::Disabled),
    )
    .unwrap();
    assert!(shield.with_secret(|s| s == SECRET).unwrap());
    shield.mutate().unwrap();
    assert!(shield.memory_regions().iter().all(|r| !r.locked));
    println!("MLOCK-CHILD-OK");
}

#[test]
fn a_use_after_mutate_never_seals_under_a_spare_built_before_it() {
    let shield = Shield::new(SECRET.to_vec(), ShieldConfig::default().prepare_ahead(true)).unwrap();
    // Control: with fresh spares, a use installs one of them.
    let spares = shield.spare_addresses();
    assert_eq!(
        spares.len(),
        2,
        "both spares are built before `new` returns"
    );
    shield.with_secret(|s| assert_eq!(s, SECRET)).unwrap();
    assert!(
        spares.contains(&shield.active_address()),
        "a ready spare was not used"
    );

    // Wait until the preparer has both spares ready again, then mutate: they are now stale.
    while shield.spare_addresses().len() < 2 {
        std::thread::yield_now();
    }
    let stale = shield.spare_addresses();
    shield.mutate().unwrap();
    shield.with_secret(|s| assert_eq!(s, SECRET)).unwrap();
    assert!(
        !stale.contains(&shield.active_address()),
        "a spare built before the mutation protects the secret"
    );
    // The stale spares went back to the preparer, which rebuilds them for later uses.
    while shield.spare_addresses().len() < 2 {
        std::thread::yield_now();
    }
    shield.with_secret(|s| assert_eq!(s, SECRET)).unwrap();
}

/// A forked child (which has the shield's memory, read as zeros, but none of its threads) can
/// neither use the shield nor hang dropping it. Runs in a child process of its own (one test
/// thread, the shield's threads idle), so that forking it is sound.
#[test]
fn a_forked_child_drops_a_shield_with_background_threads_without_hanging() {
    run_child("tests::fork_drop_child", "fork-drop", "FORK-DROP-CHILD-OK");
}

#[test]
#[ignore = "child process of a_forked_child_drops_a_shield_with_background_threads_without_hanging"]
fn fork_drop_child() {
    if std::env::var(CHILD_ENV).as_deref() != Ok("fork-drop") {
        return;
    }
    let shield = Shield::new(
        SECRET.to_vec(),
        ShieldConfig::default()
            .prepare_ahead(true)
            .background_mutation(Some(std::time::Duration::from_secs(3600))),
    )
    .unwrap();
    // One use hands a chain to the preparer; wait until it has rebuilt it, so both threads are
    // idle (blocked in their channels, holding no lock) when the process forks.
    shield.with_secret(|s| assert_eq!(s, SECRET)).unwrap();
    while shield.spare_addresses().len() < 2 {
        std::thread::yield_now();
    }
    let child = test_support::fork_and_wait(
        move || {
            // The shield's pages read zero here (MADV_WIPEONFORK), so a use fails; a drop must
            // still return.
            let used = shield.with_secret(|_| ()).is_ok();
            drop(shield);
            if used { 2 } else { 0 }
        },
        std::time::Duration::from_secs(20),
    )
    .unwrap();
    assert_eq!(
        child,
        Some(0),
        "the child hung dropping the shield, or could use it"
    );
    println!("FORK-DROP-CHILD-OK");
}
