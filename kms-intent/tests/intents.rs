//! Standing intents: creation only from an approved challenge, atomic check-and-spend, revocation.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use common::*;
use kms_intent::{
    Action, ChallengeSpec, DecisionKind, DecisionSpec, FactorProof, IntentError, IntentStatus,
    IntentStore, RateLimitPolicy, SpendRequest, UserId,
};

const MODULE: [u8; 32] = [0x22; 32];
const PARAMS: &[u8] = b"dca:SOL->USDC";

fn req(amount: u64) -> SpendRequest<'static> {
    SpendRequest {
        module_hash: &MODULE,
        parameters: PARAMS,
        amount,
    }
}

#[test]
fn spend_within_limits_then_refuse() {
    let mut s = state(1);
    let id = make_intent(&mut s, terms(100, 250, 5), NOW);
    s.spend(id, &req(100), NOW).unwrap();
    s.spend(id, &req(100), NOW).unwrap();
    assert_eq!(
        s.spend(id, &req(101), NOW),
        Err(IntentError::PerTransactionLimitExceeded)
    );
    assert_eq!(
        s.spend(id, &req(51), NOW),
        Err(IntentError::CumulativeLimitExceeded)
    );
    s.spend(id, &req(50), NOW).unwrap();
    let i = &s.intents()[0];
    assert_eq!((i.spent(), i.uses()), (250, 3));
    assert_eq!(i.status(NOW), IntentStatus::Exhausted);
    assert_eq!(s.spend(id, &req(0), NOW), Err(IntentError::IntentExhausted));
}

#[test]
fn max_uses_expiry_and_coverage() {
    let mut s = state(1);
    let id = make_intent(&mut s, terms(10, 1000, 2), NOW);
    let other_module = [0x33; 32];
    assert_eq!(
        s.spend(
            id,
            &SpendRequest {
                module_hash: &other_module,
                parameters: PARAMS,
                amount: 1
            },
            NOW
        ),
        Err(IntentError::IntentDoesNotCover)
    );
    assert_eq!(
        s.spend(
            id,
            &SpendRequest {
                module_hash: &MODULE,
                parameters: b"dca:SOL->BONK",
                amount: 1
            },
            NOW
        ),
        Err(IntentError::IntentDoesNotCover)
    );
    s.spend(id, &req(1), NOW).unwrap();
    s.spend(id, &req(1), NOW).unwrap();
    assert_eq!(s.spend(id, &req(1), NOW), Err(IntentError::IntentExhausted));
    let id2 = make_intent(&mut s, terms(10, 1000, 2), NOW);
    assert_eq!(
        s.spend(id2, &req(1), NOW + 3600),
        Err(IntentError::IntentExpired)
    );
    assert_eq!(
        s.spend_any(&req(1), NOW + 3600),
        Err(IntentError::NoCoveringIntent)
    );
    assert_eq!(s.spend_any(&req(1), NOW).unwrap(), id2);
    // A failed check changes nothing.
    let before = s.clone();
    assert!(s.spend(id2, &req(11), NOW).is_err());
    assert_eq!(s, before);
}

#[test]
fn created_only_from_an_approve_and_remember_decision() {
    let mut s = state(1);
    let mut sp = ChallengeSpec::approve_reject(digest(5), "DCA", NOW + 300);
    sp.decisions.push(DecisionSpec::new(
        DecisionKind::ApproveAndRemember,
        "Always",
    ));
    sp.intent = Some(terms(1, 10, 1));
    // Undecided challenge: no intent.
    let c = s.create_challenge(&mut os_rng(), &sp, NOW).unwrap();
    let auth = s
        .authorize(Action::CreateIntent, &digest(5), &FactorProof::None, NOW)
        .unwrap();
    assert_eq!(
        s.create_intent(c.id, auth, NOW),
        Err(IntentError::IntentNotApproved)
    );
    // Decided with plain "Approve": no intent.
    s.resolve(c.buttons[0].token.expose_secret(), NOW).unwrap();
    let auth = s
        .authorize(Action::CreateIntent, &digest(5), &FactorProof::None, NOW)
        .unwrap();
    assert_eq!(
        s.create_intent(c.id, auth, NOW),
        Err(IntentError::IntentNotApproved)
    );
    // Rejected: no intent.
    let c = s.create_challenge(&mut os_rng(), &sp, NOW).unwrap();
    s.resolve(c.buttons[1].token.expose_secret(), NOW).unwrap();
    let auth = s
        .authorize(Action::CreateIntent, &digest(5), &FactorProof::None, NOW)
        .unwrap();
    assert_eq!(
        s.create_intent(c.id, auth, NOW),
        Err(IntentError::IntentNotApproved)
    );
    // Approve and remember: exactly one intent, with an authorization for the same digest only.
    let c = s.create_challenge(&mut os_rng(), &sp, NOW).unwrap();
    s.resolve(c.buttons[2].token.expose_secret(), NOW).unwrap();
    let wrong = s
        .authorize(Action::CreateIntent, &digest(6), &FactorProof::None, NOW)
        .unwrap();
    assert_eq!(
        s.create_intent(c.id, wrong, NOW),
        Err(IntentError::AuthorizationMismatch)
    );
    let wrong_action = s
        .authorize(Action::SignTrade, &digest(5), &FactorProof::None, NOW)
        .unwrap();
    assert_eq!(
        s.create_intent(c.id, wrong_action, NOW),
        Err(IntentError::AuthorizationMismatch)
    );
    let auth = s
        .authorize(Action::CreateIntent, &digest(5), &FactorProof::None, NOW)
        .unwrap();
    s.create_intent(c.id, auth, NOW).unwrap();
    let again = s
        .authorize(Action::CreateIntent, &digest(5), &FactorProof::None, NOW)
        .unwrap();
    assert_eq!(
        s.create_intent(c.id, again, NOW),
        Err(IntentError::IntentNotApproved)
    );
    assert_eq!(s.intents().len(), 1);
    // Another user's authorization does not work either.
    let mut other = state(2);
    let foreign = other
        .authorize(Action::CreateIntent, &digest(5), &FactorProof::None, NOW)
        .unwrap();
    assert_eq!(
        s.create_intent(c.id, foreign, NOW),
        Err(IntentError::AuthorizationMismatch)
    );
}

/// Attack: a revoked intent is used.
#[test]
fn attack_revoked_intent_is_used() {
    let mut s = state(1);
    let id = make_intent(&mut s, terms(100, 1000, 10), NOW);
    s.spend(id, &req(10), NOW).unwrap();
    s.revoke_intent(id, NOW + 1).unwrap();
    assert_eq!(
        s.spend(id, &req(10), NOW + 1),
        Err(IntentError::IntentRevoked)
    );
    assert_eq!(
        s.spend_any(&req(10), NOW + 1),
        Err(IntentError::NoCoveringIntent)
    );
    // Listing still shows it, as revoked.
    assert_eq!(s.intents()[0].status(NOW + 1), IntentStatus::Revoked);
    assert_eq!(s.intents()[0].revoked_at(), Some(NOW + 1));
    // Revocation survives a restart.
    let s2 = kms_intent::UserState::decode(&s.encode()).unwrap();
    let mut s2 = s2;
    assert_eq!(
        s2.spend(id, &req(10), NOW + 2),
        Err(IntentError::IntentRevoked)
    );
    assert_eq!(
        s2.revoke_intent(kms_intent::IntentId(99), NOW),
        Err(IntentError::UnknownIntent)
    );
    let id2 = make_intent(&mut s2, terms(100, 1000, 10), NOW);
    assert_eq!(s2.revoke_all_intents(NOW + 3), 1);
    assert_eq!(
        s2.spend(id2, &req(1), NOW + 3),
        Err(IntentError::IntentRevoked)
    );
}

/// Attack: an intent is used past its cumulative limit by many concurrent requests.
#[test]
fn attack_concurrent_requests_never_exceed_cumulative_limit() {
    let store = Arc::new(IntentStore::new(
        MemPersistence::default(),
        RateLimitPolicy::default(),
    ));
    let user = UserId(9);
    let id = store
        .with_user(user, |s| Ok(make_intent(s, terms(7, 1000, 10_000), NOW)))
        .unwrap();
    let approved_total = Arc::new(AtomicU64::new(0));
    let approved_count = Arc::new(AtomicU64::new(0));
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let store = Arc::clone(&store);
            let total = Arc::clone(&approved_total);
            let count = Arc::clone(&approved_count);
            std::thread::spawn(move || {
                for i in 0..200u64 {
                    let amount = 1 + (t * 31 + i * 7) % 7; // 1..=7
                    match store.with_user(user, |s| s.spend(id, &req(amount), NOW)) {
                        Ok(()) => {
                            total.fetch_add(amount, Ordering::SeqCst);
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(
                            IntentError::CumulativeLimitExceeded | IntentError::IntentExhausted,
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
    let total = approved_total.load(Ordering::SeqCst);
    assert!(total <= 1000, "approved {total} > cumulative limit");
    // 1600 requests of at least 1 each: the limit was reached (less than one max request left).
    assert!(total > 1000 - 7, "approved only {total}");
    let (spent, uses) = store
        .read_user(user, |s| (s.intents()[0].spent(), s.intents()[0].uses()))
        .unwrap();
    assert_eq!(spent, total);
    assert_eq!(u64::from(uses), approved_count.load(Ordering::SeqCst));
    // What was persisted agrees with memory.
    store.forget_cache();
    let (spent2, uses2) = store
        .read_user(user, |s| (s.intents()[0].spent(), s.intents()[0].uses()))
        .unwrap();
    assert_eq!((spent2, uses2), (spent, uses));
}

#[test]
fn failed_persistence_leaves_state_unchanged() {
    let store = IntentStore::new(MemPersistence::default(), RateLimitPolicy::default());
    let user = UserId(3);
    let id = store
        .with_user(user, |s| Ok(make_intent(s, terms(10, 100, 10), NOW)))
        .unwrap();
    store
        .persistence()
        .fail_writes
        .store(true, Ordering::SeqCst);
    assert!(matches!(
        store.with_user(user, |s| s.spend(id, &req(10), NOW)),
        Err(IntentError::Persistence(_))
    ));
    assert_eq!(
        store.read_user(user, |s| s.intents()[0].spent()).unwrap(),
        0
    );
    store
        .persistence()
        .fail_writes
        .store(false, Ordering::SeqCst);
    store
        .with_user(user, |s| s.spend(id, &req(10), NOW))
        .unwrap();
    assert_eq!(
        store.read_user(user, |s| s.intents()[0].spent()).unwrap(),
        10
    );
}

#[test]
fn terms_are_validated() {
    let mut s = state(1);
    let mut sp = ChallengeSpec::approve_reject(digest(5), "DCA", NOW + 300);
    sp.decisions.push(DecisionSpec::new(
        DecisionKind::ApproveAndRemember,
        "Always",
    ));
    for bad in [
        terms(11, 10, 1),
        terms(1, 10, 0),
        kms_intent::IntentTerms {
            valid_until: NOW,
            ..terms(1, 10, 1)
        },
    ] {
        sp.intent = Some(bad);
        assert!(matches!(
            s.create_challenge(&mut os_rng(), &sp, NOW),
            Err(IntentError::InvalidInput { .. })
        ));
    }
}
