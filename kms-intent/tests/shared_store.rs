//! Two writers over one store (two signer instances replicating through one database): the
//! revision-checked store keeps a challenge decided once and an intent within its limits, with
//! neither writer silently overwriting the other.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use kms_intent::{
    ChallengeSpec, IntentError, IntentStore, Persistence, RateLimitPolicy, SpendRequest, UserId,
};

const MODULE: [u8; 32] = [0x22; 32];
const PARAMS: &[u8] = b"dca:SOL->USDC";

/// One shared store with a revision per user (what JetStream KV's `update(key, value,
/// revision)` gives the reference signer).
#[derive(Default)]
struct Shared {
    records: Mutex<HashMap<UserId, (Vec<u8>, u64)>>,
    next_revision: AtomicU64,
    conflicts: AtomicUsize,
}

/// One instance's view of [`Shared`].
#[derive(Clone)]
struct Instance(Arc<Shared>);

impl Persistence for Instance {
    fn load(&self, user: UserId) -> Result<Option<Vec<u8>>, IntentError> {
        Ok(self.load_revision(user)?.map(|(s, _)| s))
    }
    fn store(&self, _: UserId, _: &[u8]) -> Result<(), IntentError> {
        Err(IntentError::Persistence(
            "a shared store takes revision-checked writes only".into(),
        ))
    }
    fn load_revision(&self, user: UserId) -> Result<Option<(Vec<u8>, u64)>, IntentError> {
        Ok(self.0.records.lock().unwrap().get(&user).cloned())
    }
    fn store_if(
        &self,
        user: UserId,
        state: &[u8],
        expected: Option<u64>,
    ) -> Result<u64, IntentError> {
        let mut records = self.0.records.lock().unwrap();
        if records.get(&user).map(|(_, r)| *r) != expected {
            self.0.conflicts.fetch_add(1, Ordering::SeqCst);
            return Err(IntentError::Conflict);
        }
        let revision = self.0.next_revision.fetch_add(1, Ordering::SeqCst) + 1;
        records.insert(user, (state.to_vec(), revision));
        Ok(revision)
    }
}

fn two_instances() -> (Arc<Shared>, [Arc<IntentStore<Instance>>; 2]) {
    let shared = Arc::new(Shared::default());
    let a = IntentStore::new(Instance(Arc::clone(&shared)), RateLimitPolicy::default());
    let b = IntentStore::new(Instance(Arc::clone(&shared)), RateLimitPolicy::default());
    (shared, [Arc::new(a), Arc::new(b)])
}

fn req(amount: u64) -> SpendRequest<'static> {
    SpendRequest {
        module_hash: &MODULE,
        parameters: PARAMS,
        amount,
    }
}

/// Attack: the approve token is presented to both instances, each holding the state from before
/// the decision. One resolves it; the other's store conflicts, it reloads and sees it decided.
#[test]
fn attack_one_token_at_two_instances_decides_once() {
    let (shared, [a, b]) = two_instances();
    let user = UserId(5);
    let issued = a
        .with_user(user, |s| {
            s.create_challenge(
                &mut os_rng(),
                &ChallengeSpec::approve_reject(digest(1), "Send 1 SOL", NOW + 300),
                NOW,
            )
        })
        .unwrap();
    let token = issued.buttons[0].token.expose_secret().to_owned();
    // B caches the state before A decides.
    b.read_user(user, |s| assert_eq!(s.user(), user)).unwrap();
    a.with_user(user, |s| s.resolve(&token, NOW + 1)).unwrap();
    assert_eq!(
        b.with_user(user, |s| s.resolve(&token, NOW + 2)),
        Err(IntentError::AlreadyDecided)
    );
    assert!(shared.conflicts.load(Ordering::SeqCst) >= 1);
}

/// Attack: both instances spend one standing intent as fast as they can; the cumulative limit
/// holds across them and every approved spend is in the stored state.
#[test]
fn attack_intent_raced_from_two_instances_never_exceeds_its_limit() {
    let (_shared, [a, b]) = two_instances();
    let user = UserId(9);
    let id = a
        .with_user(user, |s| Ok(make_intent(s, terms(7, 1000, 10_000), NOW)))
        .unwrap();
    let approved = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..8u64)
        .map(|t| {
            let store = Arc::clone(if t % 2 == 0 { &a } else { &b });
            let approved = Arc::clone(&approved);
            std::thread::spawn(move || {
                for i in 0..150u64 {
                    let amount = 1 + (t * 31 + i * 7) % 7;
                    match store.with_user(user, |s| s.spend(id, &req(amount), NOW)) {
                        Ok(()) => {
                            approved.fetch_add(amount, Ordering::SeqCst);
                        }
                        Err(
                            IntentError::CumulativeLimitExceeded
                            | IntentError::IntentExhausted
                            | IntentError::Conflict,
                        ) => {}
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let total = approved.load(Ordering::SeqCst);
    assert!(total <= 1000, "approved {total} > cumulative limit");
    // Every approved spend is in the stored state (none overwritten by the other instance).
    a.forget_cache();
    let spent = a.read_user(user, |s| s.intents()[0].spent()).unwrap();
    assert_eq!(spent, total);
}

/// A revocation on one instance is not overtaken by a spend on the other that loaded the state
/// before it.
#[test]
fn revocation_on_one_instance_holds_on_the_other() {
    let (_shared, [a, b]) = two_instances();
    let user = UserId(11);
    let id = a
        .with_user(user, |s| Ok(make_intent(s, terms(10, 1000, 100), NOW)))
        .unwrap();
    b.with_user(user, |s| s.spend(id, &req(1), NOW)).unwrap();
    a.with_user(user, |s| s.revoke_intent(id, NOW + 1)).unwrap();
    // B still caches the state from before the revocation.
    assert_eq!(
        b.with_user(user, |s| s.spend(id, &req(1), NOW + 2)),
        Err(IntentError::IntentRevoked)
    );
}

/// A writer that loses every race gets a typed `Conflict`, and nothing it computed is stored.
#[test]
fn endless_conflicts_end_in_a_typed_error() {
    struct AlwaysMoved(Instance);
    impl Persistence for AlwaysMoved {
        fn load(&self, user: UserId) -> Result<Option<Vec<u8>>, IntentError> {
            self.0.load(user)
        }
        fn store(&self, user: UserId, state: &[u8]) -> Result<(), IntentError> {
            self.0.store(user, state)
        }
        fn store_if(&self, _: UserId, _: &[u8], _: Option<u64>) -> Result<u64, IntentError> {
            self.0.0.conflicts.fetch_add(1, Ordering::SeqCst);
            Err(IntentError::Conflict)
        }
    }
    let shared = Arc::new(Shared::default());
    let store = IntentStore::new(
        AlwaysMoved(Instance(Arc::clone(&shared))),
        RateLimitPolicy::default(),
    );
    let mut runs = 0;
    let r = store.with_user(UserId(1), |s| {
        runs += 1;
        s.create_challenge(
            &mut os_rng(),
            &ChallengeSpec::approve_reject(digest(2), "x", NOW + 300),
            NOW,
        )
    });
    assert!(matches!(r, Err(IntentError::Conflict)));
    assert_eq!(runs, kms_intent::CONFLICT_RETRIES + 1);
    assert!(shared.records.lock().unwrap().is_empty());
}

/// A backend whose conditional stores wait until the test opens the gate (a slow disk or a
/// NATS round trip), and tell the test when one has started.
struct Gated {
    inner: Instance,
    started: Mutex<std::sync::mpsc::Sender<()>>,
    gate: Mutex<std::sync::mpsc::Receiver<()>>,
}

impl Persistence for Gated {
    fn load(&self, user: UserId) -> Result<Option<Vec<u8>>, IntentError> {
        self.inner.load(user)
    }
    fn store(&self, user: UserId, state: &[u8]) -> Result<(), IntentError> {
        self.inner.store(user, state)
    }
    fn load_revision(&self, user: UserId) -> Result<Option<(Vec<u8>, u64)>, IntentError> {
        self.inner.load_revision(user)
    }
    fn store_if(
        &self,
        user: UserId,
        state: &[u8],
        expected: Option<u64>,
    ) -> Result<u64, IntentError> {
        let _ = self.started.lock().unwrap().send(());
        let _ = self.gate.lock().unwrap().recv();
        self.inner.store_if(user, state, expected)
    }
}

/// A gated store, the channel that reports a started store, and the sender that opens the gate
/// once per store.
fn gated() -> (
    Arc<IntentStore<Gated>>,
    std::sync::mpsc::Receiver<()>,
    std::sync::mpsc::Sender<()>,
) {
    let (started_tx, started) = std::sync::mpsc::channel();
    let (open, gate) = std::sync::mpsc::channel();
    let store = IntentStore::new(
        Gated {
            inner: Instance(Arc::new(Shared::default())),
            started: Mutex::new(started_tx),
            gate: Mutex::new(gate),
        },
        RateLimitPolicy::default(),
    );
    (Arc::new(store), started, open)
}

/// `reserve_uses` stores without holding up readers: while its write waits on the backend, a
/// reader sees the state of before (no use counted yet) and returns; afterwards it sees the uses.
#[test]
fn reserving_uses_does_not_hold_up_readers() {
    let (store, started, open) = gated();
    let user = UserId(21);
    open.send(()).unwrap(); // the intent's own store
    let id = store
        .with_user(user, |s| Ok(make_intent(s, terms(10, 1000, 100), NOW)))
        .unwrap();
    started.recv().unwrap();
    let writer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || store.reserve_uses(user, id, &req(3), 8, NOW))
    };
    started.recv().unwrap(); // the reservation is inside the backend, gate closed
    let uses = store.read_user(user, |s| s.intents()[0].uses()).unwrap();
    assert_eq!(uses, 0, "a reader saw a reservation that is not stored yet");
    open.send(()).unwrap();
    assert_eq!(writer.join().unwrap(), Ok(8));
    let (uses, spent) = store
        .read_user(user, |s| (s.intents()[0].uses(), s.intents()[0].spent()))
        .unwrap();
    assert_eq!((uses, spent), (8, 24));
}

/// `with_user` keeps readers out while it stores: a reader started meanwhile returns only after
/// the store, and sees the new state (a revocation is never overtaken by a reader).
#[test]
fn with_user_holds_readers_until_stored() {
    let (store, started, open) = gated();
    let user = UserId(22);
    open.send(()).unwrap();
    let id = store
        .with_user(user, |s| Ok(make_intent(s, terms(10, 1000, 100), NOW)))
        .unwrap();
    started.recv().unwrap();
    let writer = {
        let store = Arc::clone(&store);
        std::thread::spawn(move || store.with_user(user, |s| s.revoke_intent(id, NOW + 1)))
    };
    started.recv().unwrap();
    let read = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (store, read) = (Arc::clone(&store), Arc::clone(&read));
        std::thread::spawn(move || {
            let revoked = store
                .read_user(user, |s| s.intents()[0].revoked_at().is_some())
                .unwrap();
            read.store(true, Ordering::SeqCst);
            revoked
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(
        !read.load(Ordering::SeqCst),
        "a reader got in while the revocation was being stored"
    );
    open.send(()).unwrap();
    writer.join().unwrap().unwrap();
    assert!(reader.join().unwrap(), "the reader saw the state of before");
}

/// `reserve_uses` spends only what the intent still allows, stops at its limits, spends
/// nothing from a revoked intent, and, raced from two instances, never exceeds the limit.
#[test]
fn reserved_uses_stay_within_the_intents_limits() {
    let (_shared, [a, b]) = two_instances();
    let user = UserId(23);
    let id = a
        .with_user(user, |s| Ok(make_intent(s, terms(10, 1000, 50), NOW)))
        .unwrap();
    assert_eq!(a.reserve_uses(user, id, &req(11), 4, NOW), Ok(0)); // above per-transaction
    assert_eq!(a.reserve_uses(user, id, &req(5), 0, NOW), Ok(0));
    let threads: Vec<_> = [Arc::clone(&a), Arc::clone(&b)]
        .into_iter()
        .map(|store| {
            std::thread::spawn(move || {
                let mut got = 0;
                for _ in 0..40 {
                    match store.reserve_uses(user, id, &req(5), 3, NOW) {
                        Ok(n) => got += n,
                        Err(IntentError::Conflict) => {}
                        Err(e) => panic!("unexpected {e:?}"),
                    }
                }
                got
            })
        })
        .collect();
    let got: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(got, 50, "every use reserved once, none past max_uses");
    a.forget_cache();
    let (uses, spent) = a
        .read_user(user, |s| (s.intents()[0].uses(), s.intents()[0].spent()))
        .unwrap();
    assert_eq!((uses, spent), (50, 250));
    let id2 = a
        .with_user(user, |s| Ok(make_intent(s, terms(10, 1000, 50), NOW)))
        .unwrap();
    a.with_user(user, |s| s.revoke_intent(id2, NOW)).unwrap();
    assert_eq!(a.reserve_uses(user, id2, &req(5), 4, NOW), Ok(0));
}
