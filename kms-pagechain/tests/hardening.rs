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
    // preparer thread is rebuilding one), whose keys wait in their own page.
    let chains = kinds.iter().filter(|k| **k == RegionKind::Chain).count();
    assert!((2..=4).contains(&chains), "{when}: {kinds:?}");
    assert_eq!(
        kinds.contains(&RegionKind::SpareKeys),
        shield.config().prepares_ahead(),
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
    let shield = Shield::new(vec![9u8; 32], ShieldConfig::default()).unwrap();
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
        ShieldConfig::default().memory_locking(MemoryLocking::Disabled),
    )
    .unwrap();
    assert_flags(&shield, "unlocked");
    // Without preparation ahead: the two chain buffers only, and no key page.
    let shield = Shield::new(vec![9u8; 32], ShieldConfig::default().prepare_ahead(false)).unwrap();
    assert_flags(&shield, "no preparation");
    shield.with_secret(|_| ()).unwrap();
    assert_flags(&shield, "no preparation, after with_secret");
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
