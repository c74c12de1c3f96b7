//! The public API: consuming and wiping the caller's secret, configuration checks, errors that
//! carry no secret, nesting, panics, and buffers beyond the cached ones.

// Helpers outside #[test] functions fail loudly too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kms_pagechain::{
    Error, HeapSecret, MAX_SECRET_LEN, MemoryLocking, RegionKind, Shield, ShieldConfig,
};
use zeroize::Zeroize;

/// A secret owner that records whether the shield wiped it.
struct Probe {
    bytes: Vec<u8>,
    wiped: Arc<AtomicBool>,
}

impl HeapSecret for Probe {
    fn secret_bytes(&self) -> &[u8] {
        &self.bytes
    }
}

impl Zeroize for Probe {
    fn zeroize(&mut self) {
        self.bytes.zeroize();
        self.wiped.store(true, Ordering::SeqCst);
    }
}

fn probe(bytes: Vec<u8>) -> (Probe, Arc<AtomicBool>) {
    let wiped = Arc::new(AtomicBool::new(false));
    (
        Probe {
            bytes,
            wiped: Arc::clone(&wiped),
        },
        wiped,
    )
}

#[test]
fn new_wipes_the_callers_copy_on_success_and_on_every_error() {
    let (p, wiped) = probe(vec![1; 32]);
    Shield::new(p, ShieldConfig::default()).unwrap();
    assert!(wiped.load(Ordering::SeqCst));

    for (bytes, config) in [
        (vec![], ShieldConfig::default()),
        (vec![1; MAX_SECRET_LEN + 1], ShieldConfig::default()),
        (vec![1; 32], ShieldConfig::default().pages(1)),
    ] {
        let (p, wiped) = probe(bytes);
        assert!(Shield::new(p, config).is_err());
        assert!(wiped.load(Ordering::SeqCst));
    }
}

#[test]
fn from_mut_slice_overwrites_the_buffer() {
    let mut buf = [0xABu8; 48];
    let shield = Shield::from_mut_slice(&mut buf, ShieldConfig::default()).unwrap();
    assert_eq!(buf, [0u8; 48]);
    assert!(shield.with_secret(|s| s == [0xABu8; 48]).unwrap());

    let mut buf = [0xABu8; 48];
    assert!(Shield::from_mut_slice(&mut buf, ShieldConfig::default().pages(0)).is_err());
    assert_eq!(buf, [0u8; 48]);
}

#[test]
fn secrets_of_every_accepted_length_round_trip() {
    for len in [1, 31, 32, 64, 100, MAX_SECRET_LEN] {
        let secret: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        let shield = Shield::new(secret.clone(), ShieldConfig::default()).unwrap();
        assert_eq!(shield.secret_len(), len);
        for _ in 0..3 {
            assert!(shield.with_secret(|s| s == secret.as_slice()).unwrap());
        }
    }
}

#[test]
fn other_chain_shapes_round_trip() {
    for (pages, page_size) in [(2, 64), (3, 4096), (16, 4096), (5, 8192 + 64)] {
        let config = ShieldConfig::default().pages(pages).page_size(page_size);
        let shield = Shield::new(vec![5u8; 32], config).unwrap();
        shield.mutate().unwrap();
        assert!(shield.with_secret(|s| s == [5u8; 32]).unwrap());
    }
}

#[test]
fn length_errors_say_what_is_allowed() {
    let err = Shield::new(Vec::<u8>::new(), ShieldConfig::default()).unwrap_err();
    assert!(matches!(err, Error::EmptySecret));
    let err = Shield::new(vec![0u8; MAX_SECRET_LEN + 1], ShieldConfig::default()).unwrap_err();
    assert!(matches!(
        err,
        Error::SecretTooLong {
            len: 1025,
            max: 1024
        }
    ));
    assert_eq!(
        err.to_string(),
        "the secret to shield is 1025 bytes; at most 1024 bytes can be shielded"
    );
}

#[test]
fn bad_configurations_are_refused_with_a_reason() {
    let cases = [
        (
            ShieldConfig::default().pages(1),
            "pages is 1; it must be 2 to 1024",
        ),
        (ShieldConfig::default().pages(1025), "pages is 1025"),
        (ShieldConfig::default().page_size(0), "page_size is 0"),
        (ShieldConfig::default().page_size(100), "multiple of 64"),
        (
            ShieldConfig::default().page_size(2 << 20),
            "page_size is 2097152",
        ),
        (
            ShieldConfig::default().pages(1024).page_size(1 << 20),
            "at most 67108864 bytes",
        ),
        (ShieldConfig::default().reader_slots(0), "reader_slots is 0"),
        (
            ShieldConfig::default().reader_slots(65),
            "reader_slots is 65",
        ),
        (
            ShieldConfig::default().background_mutation(Some(Duration::from_micros(10))),
            "at least 1ms",
        ),
    ];
    for (config, needle) in cases {
        let err = Shield::new(vec![1u8; 32], config).unwrap_err();
        assert!(matches!(err, Error::InvalidConfig(_)), "{err:?}");
        assert!(err.to_string().contains(needle), "{needle:?} not in {err}");
    }
}

#[test]
fn debug_and_errors_never_show_the_secret() {
    let secret = b"correct horse battery staple 1234".to_vec();
    let shield = Shield::new(secret.clone(), ShieldConfig::default()).unwrap();
    let debug = format!("{shield:?}");
    assert!(
        debug.starts_with("Shield {") && debug.ends_with(".. }"),
        "{debug}"
    );
    assert!(!debug.contains("horse"));
    assert!(!debug.contains("99, 111, 114")); // "cor" as a byte list
    for err in [
        Error::DecryptionFailed,
        Error::ChainCorrupted,
        Error::EncryptionFailed,
        Error::EmptySecret,
    ] {
        assert!(!format!("{err} {err:?}").contains("horse"));
    }
}

#[test]
fn closures_may_use_the_shield_again() {
    let shield = Shield::new(vec![3u8; 32], ShieldConfig::default().reader_slots(1)).unwrap();
    let nested = shield
        .with_secret(|outer| {
            shield.mutate().unwrap();
            let inner = shield.with_secret(|inner| inner == outer).unwrap();
            (outer[0], inner)
        })
        .unwrap();
    assert_eq!(nested, (3, true));
    assert!(shield.with_secret(|s| s == [3u8; 32]).unwrap());
}

#[test]
fn a_panicking_closure_leaves_the_shield_usable() {
    let shield = Shield::new(vec![4u8; 32], ShieldConfig::default().reader_slots(1)).unwrap();
    for _ in 0..3 {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            shield.with_secret(|_| panic!("boom")).unwrap()
        }));
        assert!(r.is_err());
    }
    assert!(shield.with_secret(|s| s == [4u8; 32]).unwrap());
    shield.mutate().unwrap();
    assert!(shield.with_secret(|s| s == [4u8; 32]).unwrap());
}

#[test]
fn more_concurrent_readers_than_cached_buffers_still_work() {
    let shield = Shield::new(
        vec![6u8; 32],
        ShieldConfig::default()
            .reader_slots(1)
            .reshield_after_use(false),
    )
    .unwrap();
    let barrier = std::sync::Barrier::new(4);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                // All four hold the secret at once: three buffers are mapped on demand.
                shield
                    .with_secret(|s| {
                        barrier.wait();
                        assert_eq!(s, [6u8; 32]);
                    })
                    .unwrap();
            });
        }
    });
    // Only the cached buffer stays mapped afterwards.
    let plaintext = shield
        .memory_regions()
        .iter()
        .filter(|r| r.kind == RegionKind::Plaintext)
        .count();
    assert_eq!(plaintext, 1);
}

#[test]
fn configuration_is_reported() {
    let config = ShieldConfig::default()
        .pages(6)
        .memory_locking(MemoryLocking::Disabled)
        .reshield_after_use(false);
    let shield = Shield::new(vec![1u8; 8], config.clone()).unwrap();
    assert_eq!(shield.config(), &config);
    assert_eq!(config.chain_bytes(), 6 * 4096);
    assert!(!shield.config().reshields_after_use());
    assert!(!ShieldConfig::default().prepares_ahead());
    assert!(ShieldConfig::default().prepare_ahead(true).prepares_ahead());
    // The Debug form says whether a preparer runs (none without re-shielding).
    assert!(format!("{shield:?}").contains("prepare_ahead: false"));
    assert_eq!(shield.mutations(), 0);
    shield.with_secret(|_| ()).unwrap();
    assert_eq!(shield.mutations(), 0);
    shield.mutate().unwrap();
    assert_eq!(shield.mutations(), 1);
}
