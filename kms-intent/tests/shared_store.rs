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
