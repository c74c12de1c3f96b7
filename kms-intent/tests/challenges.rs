//! Commit-reveal challenges: tokens, single use, expiry, binding to user and challenge.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use common::*;
use kms_intent::{
    AttemptKey, AttemptKind, ChallengeSpec, DecisionKind, DecisionSpec, IntentError, ParsedToken,
    TOKEN_LEN, UserId, UserState,
};
use proptest::prelude::*;

#[test]
fn approve_flow_and_token_shape() {
    let mut s = state(1);
    let issued = s.create_challenge(&mut os_rng(), &spec(1), NOW).unwrap();
    assert_eq!(issued.buttons.len(), 2);
    for b in &issued.buttons {
        let t = b.token.expose_secret();
        assert_eq!(t.len(), TOKEN_LEN);
        assert!(t.len() <= 64, "fits a Telegram callback_data");
        assert!(
            t.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(ParsedToken::parse(t).unwrap().challenge_id(), issued.id);
    }
    let r = s
        .resolve(issued.buttons[0].token.expose_secret(), NOW + 10)
        .unwrap();
    assert_eq!(r.decision, DecisionKind::Approve);
    assert_eq!(r.request_digest, digest(1));
    assert_eq!(r.challenge_id, issued.id);
    assert_eq!(r.decided_at, NOW + 10);
}

#[test]
fn single_use_and_other_decisions_closed() {
    let mut s = state(1);
    let issued = s.create_challenge(&mut os_rng(), &spec(1), NOW).unwrap();
    let approve = issued.buttons[0].token.expose_secret();
    let reject = issued.buttons[1].token.expose_secret();
    assert_eq!(
        s.resolve(reject, NOW).unwrap().decision,
        DecisionKind::Reject
    );
    assert_eq!(s.resolve(reject, NOW), Err(IntentError::AlreadyDecided));
    assert_eq!(s.resolve(approve, NOW), Err(IntentError::AlreadyDecided));
}

#[test]
fn expired_token_is_refused() {
    let mut s = state(1);
    let issued = s.create_challenge(&mut os_rng(), &spec(1), NOW).unwrap();
    let t = issued.buttons[0].token.expose_secret();
    assert_eq!(s.resolve(t, NOW + 300), Err(IntentError::Expired));
    assert_eq!(s.resolve(t, NOW + 299 + 3600), Err(IntentError::Expired));
}

#[test]
fn unknown_and_malformed_tokens() {
    let mut s = state(1);
    let issued = s.create_challenge(&mut os_rng(), &spec(1), NOW).unwrap();
    let good = issued.buttons[0].token.expose_secret().to_owned();
    // Flip one character of the secret part.
    let mut bad = good.clone().into_bytes();
    let last = bad.len() - 3;
    bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
    assert_eq!(
        s.resolve(std::str::from_utf8(&bad).unwrap(), NOW),
        Err(IntentError::Invalid)
    );
    s.operator_unlock_all();
    // Change the decision index: the hash binds it.
    let mut p = ParsedToken::parse(&good)
        .unwrap()
        .encode()
        .expose_secret()
        .to_owned();
    assert_eq!(p, good);
    // Another character than the one there (a token starting "1Z" would otherwise stay equal).
    let other = if &p[1..2] == "Z" { "Y" } else { "Z" };
    p.replace_range(1..2, other);
    assert!(matches!(
        s.resolve(&p, NOW),
        Err(IntentError::Invalid | IntentError::MalformedToken)
    ));
    for m in [
        "",
        "1",
        "2AAAA",
        &"1".repeat(56),
        &format!("2{}", &good[1..]),
        &format!("{good}A"),
    ] {
        s.operator_unlock_all();
        assert_eq!(s.resolve(m, NOW), Err(IntentError::MalformedToken), "{m:?}");
    }
    // The good token still works (the failures above were below the lock threshold).
    s.operator_unlock_all();
    assert!(s.resolve(&good, NOW).is_ok());
}

#[test]
fn another_users_token_never_resolves() {
    let mut alice = state(1);
    let mut mallory = state(2);
    let a = alice
        .create_challenge(&mut os_rng(), &spec(1), NOW)
        .unwrap();
    let _m = mallory
        .create_challenge(&mut os_rng(), &spec(1), NOW)
        .unwrap();
    // Mallory presses Alice's button (same request digest, even): refused.
    assert_eq!(
        mallory.resolve(a.buttons[0].token.expose_secret(), NOW),
        Err(IntentError::Invalid)
    );
    // Even if Mallory's state held a challenge with the same id, the user is bound in the hash.
    let mut cloned = UserState::decode(&alice.encode()).unwrap();
    assert_eq!(
        cloned
            .resolve(a.buttons[0].token.expose_secret(), NOW)
            .unwrap()
            .decision,
        DecisionKind::Approve
    );
    let bytes = alice.encode();
    let mut forged = bytes.to_vec();
    forged[6..14].copy_from_slice(&2u64.to_be_bytes()); // same records, user id 2
    let mut as_mallory = UserState::decode(&forged).unwrap();
    assert_eq!(as_mallory.user(), UserId(2));
    assert_eq!(
        as_mallory.resolve(a.buttons[0].token.expose_secret(), NOW),
        Err(IntentError::Invalid)
    );
}

#[test]
fn another_challenges_token_never_resolves() {
    let mut s = state(1);
    let c1 = s.create_challenge(&mut os_rng(), &spec(1), NOW).unwrap();
    let c2 = s.create_challenge(&mut os_rng(), &spec(2), NOW).unwrap();
    // Splice c1's secret under c2's id: refused.
    let p1 = ParsedToken::parse(c1.buttons[0].token.expose_secret()).unwrap();
    let t1 = c1.buttons[0].token.expose_secret();
    let t2 = c2.buttons[0].token.expose_secret();
    use base64::Engine as _;
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut raw1 = e.decode(&t1[1..]).unwrap();
    let raw2 = e.decode(&t2[1..]).unwrap();
    raw1[..8].copy_from_slice(&raw2[..8]);
    let spliced = format!("1{}", e.encode(&raw1));
    assert_ne!(p1.challenge_id(), c2.id);
    assert_eq!(s.resolve(&spliced, NOW), Err(IntentError::Invalid));
    // Both originals still resolve to their own request.
    assert_eq!(s.resolve(t2, NOW).unwrap().request_digest, digest(2));
    assert_eq!(s.resolve(t1, NOW).unwrap().request_digest, digest(1));
}

#[test]
fn custom_decisions_and_spec_validation() {
    let mut s = state(1);
    let mut sp = spec(1);
    sp.decisions
        .push(DecisionSpec::new(DecisionKind::Custom(7), "Approve half"));
    let issued = s.create_challenge(&mut os_rng(), &sp, NOW).unwrap();
    assert_eq!(
        s.resolve(issued.buttons[2].token.expose_secret(), NOW)
            .unwrap()
            .decision,
        DecisionKind::Custom(7)
    );

    let bad = |f: &dyn Fn(&mut ChallengeSpec)| {
        let mut sp = spec(1);
        f(&mut sp);
        state(1)
            .create_challenge(&mut os_rng(), &sp, NOW)
            .unwrap_err()
    };
    assert!(matches!(
        bad(&|s| {
            s.decisions.truncate(1);
        }),
        IntentError::InvalidInput { .. }
    ));
    assert!(matches!(
        bad(&|s| s.expires_at = NOW),
        IntentError::InvalidInput { .. }
    ));
    assert!(matches!(
        bad(&|s| s.expires_at = NOW + 8 * 24 * 3600),
        IntentError::InvalidInput { .. }
    ));
    assert!(matches!(
        bad(&|s| s.description = "x".repeat(5000)),
        IntentError::TooLong { .. }
    ));
    assert!(matches!(
        bad(&|s| s.decisions[0].label = "x".repeat(65)),
        IntentError::TooLong { .. }
    ));
    assert!(matches!(
        bad(&|s| s.decisions[1].kind = DecisionKind::Approve),
        IntentError::InvalidInput { .. }
    ));
    assert!(matches!(
        bad(&|s| s.decisions.push(DecisionSpec::new(
            DecisionKind::ApproveAndRemember,
            "Always"
        ))),
        IntentError::InvalidInput {
            field: "intent",
            ..
        }
    ));
}

#[test]
fn open_challenge_limit() {
    let mut s = state(1);
    for i in 0..kms_intent::MAX_OPEN_CHALLENGES as u64 {
        s.create_challenge(&mut seeded(i), &spec(i), NOW).unwrap();
    }
    assert_eq!(
        s.create_challenge(&mut os_rng(), &spec(9999), NOW)
            .unwrap_err(),
        IntentError::TooManyChallenges {
            max: kms_intent::MAX_OPEN_CHALLENGES
        }
    );
    // Once they expire, new ones can be made.
    let mut later = spec(9999);
    later.expires_at = NOW + 900;
    assert!(s.create_challenge(&mut os_rng(), &later, NOW + 301).is_ok());
}

/// Attack: the business logic replays an old approve token for a new transaction.
#[test]
fn attack_replay_old_approve_token_for_new_transaction() {
    let mut s = state(1);
    let old = s.create_challenge(&mut os_rng(), &spec(1), NOW).unwrap();
    let old_approve = old.buttons[0].token.expose_secret().to_owned();
    let r = s.resolve(&old_approve, NOW + 1).unwrap();
    assert_eq!(r.request_digest, digest(1));
    // A new transaction gets a new challenge; the old token cannot approve it.
    let new = s
        .create_challenge(&mut os_rng(), &spec(2), NOW + 2)
        .unwrap();
    let replay = s.resolve(&old_approve, NOW + 3);
    assert_eq!(replay, Err(IntentError::AlreadyDecided));
    // Whatever the old token does, it never yields a resolution for the new request digest,
    // and the new challenge stays open for the user.
    assert_eq!(s.open_challenges(NOW + 3), 1);
    let ok = s
        .resolve(new.buttons[0].token.expose_secret(), NOW + 4)
        .unwrap();
    assert_eq!(ok.request_digest, digest(2));
    // Long after, when the old challenge is forgotten, the replay is just invalid.
    s.prune(NOW + 3 * 24 * 3600);
    assert_eq!(
        s.resolve(&old_approve, NOW + 3 * 24 * 3600).map(|_| ()),
        Err(IntentError::Invalid)
    );
}

/// Attack: the business logic guesses tokens. 10^6 random well-formed guesses (with the real
/// challenge id, the strongest guess) resolve nothing, and through `UserState` the attempts are
/// throttled and then locked.
#[test]
fn attack_guess_tokens_million_tries_and_rate_limited() {
    use rand::Rng;
    let mut s = state(1);
    let issued = s.create_challenge(&mut os_rng(), &spec(1), NOW).unwrap();
    let real = ParsedToken::parse(issued.buttons[0].token.expose_secret()).unwrap();
    let mut rng = seeded(42);
    let mut successes = 0u32;
    // Guesses are evaluated with a fresh rate-limit state every time the limiter would stop
    // them, so each of the 10^6 guesses is really checked against the stored hash.
    let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    let mut raw = [0u8; 41];
    raw[..8].copy_from_slice(&real.challenge_id().0);
    for i in 0..1_000_000u32 {
        raw[8] = (i % 2) as u8;
        rng.fill_bytes(&mut raw[9..]);
        let guess = format!("1{}", e.encode(raw));
        match s.resolve(&guess, NOW + 1) {
            Ok(_) => successes += 1,
            Err(IntentError::Invalid) => {}
            Err(IntentError::RateLimited { .. } | IntentError::Locked) => {
                s.operator_unlock_all();
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(successes, 0);
    // Rate limiting: with the default policy, 3 free failures, then backoff, then a lock.
    let mut s = state(1);
    let issued = s.create_challenge(&mut os_rng(), &spec(1), NOW).unwrap();
    let key = AttemptKey {
        kind: AttemptKind::Token,
        action: None,
    };
    let mut t = NOW;
    for i in 0..3 {
        rng.fill_bytes(&mut raw[9..]);
        assert_eq!(
            s.resolve(&format!("1{}", e.encode(raw)), t),
            Err(IntentError::Invalid),
            "free attempt {i}"
        );
    }
    assert_eq!(
        s.resolve(&format!("1{}", e.encode(raw)), t),
        Err(IntentError::RateLimited {
            retry_after_secs: 2
        })
    );
    // Waiting out each backoff still reaches the lock after 10 failures.
    for _ in 3..10 {
        t += 4000;
        assert_eq!(
            s.resolve(&format!("1{}", e.encode(raw)), t),
            Err(IntentError::Invalid)
        );
    }
    assert_eq!(s.failed_attempts(key), 10);
    t += 4000;
    assert_eq!(
        s.resolve(&format!("1{}", e.encode(raw)), t),
        Err(IntentError::Locked)
    );
    // While locked even the real token is refused (the guesser cannot profit from a lucky guess).
    assert_eq!(
        s.resolve(issued.buttons[0].token.expose_secret(), t),
        Err(IntentError::Locked)
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Across many random challenges of several users, every token resolves only its own
    /// decision of its own challenge, at most once.
    #[test]
    fn tokens_resolve_only_their_own_decision_once(
        seed in any::<u64>(),
        users in 1usize..4,
        per_user in 1usize..6,
        order_seed in any::<u64>(),
    ) {
        use rand::seq::SliceRandom;
        let mut rng = seeded(seed);
        let mut states: Vec<UserState> = (0..users).map(|u| state(u as u64 + 1)).collect();
        // (user index, challenge id, decision index, kind, digest, token)
        let mut tokens = Vec::new();
        for (u, s) in states.iter_mut().enumerate() {
            for c in 0..per_user {
                let n = (u * 100 + c) as u64;
                let mut sp = spec(n);
                sp.decisions.push(DecisionSpec::new(DecisionKind::Custom(c as u16), "custom"));
                let issued = s.create_challenge(&mut rng, &sp, NOW).unwrap();
                for (i, b) in issued.buttons.iter().enumerate() {
                    tokens.push((u, issued.id, i, b.kind, digest(n), b.token.expose_secret().to_owned()));
                }
            }
        }
        tokens.shuffle(&mut seeded(order_seed));
        let mut decided = std::collections::HashSet::new();
        for (u, id, _i, kind, dg, tok) in &tokens {
            // Every other user's state refuses the token.
            for (v, s) in states.iter_mut().enumerate() {
                if v != *u {
                    prop_assert_eq!(s.resolve(tok, NOW).map(|_| ()), Err(IntentError::Invalid));
                    s.operator_unlock_all();
                }
            }
            let r = states[*u].resolve(tok, NOW);
            if decided.insert((*u, *id)) {
                let r = r.unwrap();
                prop_assert_eq!(r.challenge_id, *id);
                prop_assert_eq!(r.decision, *kind);
                prop_assert_eq!(r.request_digest, *dg);
            } else {
                prop_assert_eq!(r.map(|_| ()), Err(IntentError::AlreadyDecided));
            }
            // A second use never resolves.
            prop_assert_eq!(states[*u].resolve(tok, NOW).map(|_| ()), Err(IntentError::AlreadyDecided));
        }
    }

    /// Token parsing never panics, and whatever parses re-encodes to the same text.
    #[test]
    fn token_parse_is_canonical(s in "\\PC{0,80}") {
        if let Ok(p) = ParsedToken::parse(&s) {
            let again = p.encode();
            prop_assert_eq!(again.expose_secret(), s.as_str());
        }
    }
}
