//! Core-dump exclusion, wipe-on-fork and memory locking of the shield's pages (checked in
//! `/proc/self/smaps`), and the process-hardening helpers (checked in a child process, since
//! they change the whole process).

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{is_child, run_child, vm_flags};
use kms_pagechain::{
    MemoryLocking, RegionKind, Shield, ShieldConfig, harden_process, is_dumpable, memlock_limit,
};

fn assert_flags(shield: &Shield, when: &str) {
    let regions = shield.memory_regions();
    let kinds: Vec<RegionKind> = regions.iter().map(|r| r.kind).collect();
    // Active and standby, plus the two spares built ahead when they are ready (not while the
    // preparer thread is rebuilding one). No key is ever kept ahead: there is no key region.
    let chains = kinds.iter().filter(|k| **k == RegionKind::Chain).count();
    if shield.config().prepares_ahead() {
        assert!((2..=4).contains(&chains), "{when}: {kinds:?}");
    } else {
        assert_eq!(chains, 2, "{when}: {kinds:?}");
    }
    assert_eq!(
        kinds.iter().filter(|k| **k == RegionKind::Scratch).count(),
        1,
        "{when}: {kinds:?}"
    );
    assert!(kinds.contains(&RegionKind::Sealed), "{when}: {kinds:?}");
    assert!(kinds.contains(&RegionKind::Plaintext), "{when}: {kinds:?}");
    for region in regions {
        let lock = shield.config().locking() == MemoryLocking::Required;
        assert_eq!(region.locked, lock, "{when}: {region:?}");
        // Check the first and the last page of every region.
        for addr in [region.start, region.start + region.len - 1] {
            let flags = vm_flags(addr);
            assert!(
                flags.iter().any(|f| f == "dd"),
                "{when}: {region:?} not excluded from core dumps: {flags:?}"
            );
            assert!(
                flags.iter().any(|f| f == "wf"),
                "{when}: {region:?} not wiped on fork: {flags:?}"
            );
            assert_eq!(
                flags.iter().any(|f| f == "lo"),
                lock,
                "{when}: {region:?} lock flag: {flags:?}"
            );
        }
    }
}

#[test]
fn pages_are_locked_and_excluded_from_core_dumps() {
    let shield = Shield::new(vec![9u8; 32], ShieldConfig::default().prepare_ahead(true)).unwrap();
    assert_flags(&shield, "after new");
    // The first spares are built before `new` returns.
    let chains = |s: &Shield| {
        s.memory_regions()
            .iter()
            .filter(|r| r.kind == RegionKind::Chain)
            .count()
    };
    assert_eq!(chains(&shield), 4);
    shield.with_secret(|_| ()).unwrap();
    assert_flags(&shield, "after with_secret");
    let before: Vec<usize> = shield.memory_regions().iter().map(|r| r.start).collect();
    shield.mutate().unwrap();
    assert_flags(&shield, "after mutate");
    let after: Vec<usize> = shield.memory_regions().iter().map(|r| r.start).collect();
    assert_ne!(
        before, after,
        "mutate did not move the chain to a new mapping"
    );
}

#[test]
fn unlocked_pages_are_still_excluded_from_core_dumps() {
    let shield = Shield::new(
        vec![9u8; 32],
        ShieldConfig::default()
            .memory_locking(MemoryLocking::Disabled)
            .prepare_ahead(true),
    )
    .unwrap();
    assert_flags(&shield, "unlocked");
    // Without preparation ahead (the default): the two chain buffers only.
    let shield = Shield::new(vec![9u8; 32], ShieldConfig::default()).unwrap();
    assert_flags(&shield, "no preparation");
    shield.with_secret(|_| ()).unwrap();
    assert_flags(&shield, "no preparation, after with_secret");
}

/// Reads `len` bytes of this process's memory at `addr` through `/proc/self/mem`.
fn read_own_memory(addr: usize, len: usize) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let mem = std::fs::File::open("/proc/self/mem").unwrap();
    let mut buf = vec![0u8; len];
    mem.read_exact_at(&mut buf, addr as u64).unwrap();
    buf
}

#[test]
fn the_scratch_chain_copy_is_all_zeros_between_uses() {
    // The key derivation lays the chain out in chain order in the scratch region; that copy
    // must not outlive the derivation, whichever path used it.
    for config in [
        ShieldConfig::default(),
        ShieldConfig::default().prepare_ahead(true),
        ShieldConfig::default().reshield_after_use(false),
    ] {
        let shield = Shield::new(vec![9u8; 32], config).unwrap();
        let scratch = |s: &Shield| {
            let r = s
                .memory_regions()
                .into_iter()
                .find(|r| r.kind == RegionKind::Scratch)
                .unwrap();
            read_own_memory(r.start, r.len)
        };
        assert!(scratch(&shield).iter().all(|b| *b == 0), "after new");
        for _ in 0..3 {
            let seen = shield.with_secret(|_| scratch(&shield)).unwrap();
            assert!(seen.iter().all(|b| *b == 0), "inside with_secret");
            assert!(
                scratch(&shield).iter().all(|b| *b == 0),
                "after with_secret"
            );
        }
        shield.mutate().unwrap();
        assert!(scratch(&shield).iter().all(|b| *b == 0), "after mutate");
        // The scan sees real memory: the chain buffers are not all zeros.
        let chain = shield
            .memory_regions()
            .into_iter()
            .find(|r| r.kind == RegionKind::Chain)
            .unwrap();
        assert!(
            read_own_memory(chain.start, chain.len)
                .iter()
                .any(|b| *b != 0)
        );
    }
}

#[test]
fn memlock_limit_is_readable() {
    let limit = memlock_limit().unwrap();
    if let (Some(soft), Some(hard)) = (limit.soft, limit.hard) {
        assert!(soft <= hard);
    }
}

const CHILD: &str = "harden_child";

#[test]
fn harden_process_makes_the_process_non_dumpable_without_core_files() {
    let out = run_child(CHILD);
    assert!(out.contains("HARDEN-CHILD-OK"), "{out}");
}

fn core_limit_line() -> String {
    std::fs::read_to_string("/proc/self/limits")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .unwrap()
        .to_owned()
}

#[test]
#[ignore = "child process of harden_process_makes_the_process_non_dumpable_without_core_files"]
fn harden_child() {
    if !is_child(CHILD) {
        return;
    }
    assert!(is_dumpable().unwrap(), "a test process starts dumpable");
    harden_process().unwrap();
    assert!(!is_dumpable().unwrap());
    let line = core_limit_line();
    let fields: Vec<&str> = line.split_whitespace().collect();
    // "Max core file size <soft> <hard> bytes"
    assert_eq!(&fields[4..6], &["0", "0"], "{line}");
    // The shield works in a hardened process.
    let shield = Shield::new(vec![1u8; 32], ShieldConfig::default()).unwrap();
    assert!(shield.with_secret(|s| s == [1u8; 32]).unwrap());
    println!("HARDEN-CHILD-OK");
}
