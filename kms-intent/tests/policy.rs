//! Policy, second factors, recovery codes, rate limits, whitelist and the seed-backup quiz.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use common::*;
use kms_intent::{
    Action, AttemptKey, AttemptKind, Factor, FactorProof, IntentError, IntentStore, ProofUsed,
    RateLimitPolicy, Requirement, SeedBackup, TotpParams, TotpSecret, UserId, UserState, totp_code,
};

fn with_totp(user: u64) -> (UserState, TotpSecret) {
    let mut s = state(user);
    let auth = s
        .authorize(
            Action::EnableFactor(Factor::Totp),
            &digest(0),
            &FactorProof::None,
            NOW,
        )
        .unwrap();
    let e = s
        .begin_totp_enrollment(&mut os_rng(), TotpParams::default(), "kms", "u", auth, NOW)
        .unwrap();
    let secret = e.secret().clone();
    s.confirm_totp(&totp_code(&secret, &TotpParams::default(), NOW), NOW)
        .unwrap();
    (s, secret)
}

fn code(secret: &TotpSecret, t: u64) -> String {
    totp_code(secret, &TotpParams::default(), t).to_string()
}

#[test]
fn defaults_without_and_with_a_factor() {
    let s = state(1);
    for a in Action::ALL {
        assert_eq!(s.requirement(a), Requirement::None, "{a}");
    }
    let (s, _) = with_totp(1);
    for a in [
        Action::WithdrawSol,
        Action::WithdrawToken,
        Action::ExportKey,
        Action::ExportSeed,
        Action::AddToWhitelist,
        Action::CreateIntent,
        Action::EnableFactor(Factor::Passkey),
        Action::ManageRecoveryCodes,
        Action::ChangePolicy,
    ] {
        assert_eq!(s.requirement(a), Requirement::AnyFactor, "{a}");
    }
    for a in [
        Action::SignTrade,
        Action::RemoveFromWhitelist,
        Action::RevokeIntent,
    ] {
        assert_eq!(s.requirement(a), Requirement::None, "{a}");
    }
    assert_eq!(
        s.requirement(Action::DisableFactor(Factor::Totp)),
        Requirement::Factor(Factor::Totp)
    );
}

/// Attack: a stolen chat account (it can press every button) without the TOTP secret tries
/// withdrawal, key and seed export, and whitelisting.
#[test]
fn attack_stolen_chat_account_without_totp() {
    let (mut s, _secret) = with_totp(1);
    let mut t = NOW + 100;
    for action in [
        Action::WithdrawSol,
        Action::WithdrawToken,
        Action::ExportKey,
        Action::ExportSeed,
        Action::AddToWhitelist,
    ] {
        // The chat approval alone is not enough.
        let issued = s.create_challenge(&mut os_rng(), &spec(t), t).unwrap();
        let r = s
            .resolve(issued.buttons[0].token.expose_secret(), t)
            .unwrap();
        assert_eq!(
            s.authorize(action, &r.request_digest, &FactorProof::None, t)
                .unwrap_err(),
            IntentError::SecondFactorRequired { action }
        );
        // Guessed codes fail.
        assert_eq!(
            s.authorize(action, &r.request_digest, &FactorProof::Totp("123456"), t)
                .unwrap_err(),
            IntentError::TotpInvalid
        );
        // A recovery code is not accepted for moving funds or exporting.
        assert_eq!(
            s.authorize(
                action,
                &r.request_digest,
                &FactorProof::RecoveryCode("AAAA-AAAA-AAAA-AAAA"),
                t
            )
            .unwrap_err(),
            IntentError::SecondFactorRequired { action }
        );
        t += 10;
    }
    // Nor can the thief enroll their own TOTP, add a passkey, change the policy, or disable TOTP.
    for action in [
        Action::EnableFactor(Factor::Passkey),
        Action::ManageRecoveryCodes,
        Action::ChangePolicy,
        Action::DisableFactor(Factor::Totp),
    ] {
        assert_eq!(
            s.authorize(action, &digest(1), &FactorProof::None, t)
                .unwrap_err(),
            IntentError::SecondFactorRequired { action }
        );
    }
    // The seed cannot be shown again.
    let auth = s
        .authorize(Action::SignTrade, &digest(1), &FactorProof::None, t)
        .unwrap();
    assert_eq!(
        s.authorize_seed_reveal(auth).unwrap_err(),
        IntentError::AuthorizationMismatch
    );
    // The whitelist cannot be turned off.
    let auth = s
        .authorize(Action::SignTrade, &digest(1), &FactorProof::None, t)
        .unwrap();
    s.enable_whitelist();
    assert_eq!(
        s.disable_whitelist(auth).unwrap_err(),
        IntentError::AuthorizationMismatch
    );
    assert!(s.whitelist().is_enabled());
}

#[test]
fn disabling_a_factor_needs_that_factor() {
    let (mut s, secret) = with_totp(1);
    // Add a passkey (with TOTP, since a factor is enabled).
    let d = digest(50);
    let t = NOW + 60;
    let auth = s
        .authorize(
            Action::EnableFactor(Factor::Passkey),
            &d,
            &FactorProof::Totp(&code(&secret, t)),
            t,
        )
        .unwrap();
    let mut pk = SoftAuthenticator::es256();
    let (cd, att) = pk.register("wallet.example", "https://wallet.example", &d);
    s.register_passkey(
        &kms_intent::RelyingParty::new("wallet.example"),
        &cd,
        &att,
        "phone",
        auth,
        t,
    )
    .unwrap();
    // Disabling TOTP with the passkey: refused.
    let d2 = digest(51);
    let asr = pk.assert("wallet.example", "https://wallet.example", &d2);
    let rp = kms_intent::RelyingParty::new("wallet.example");
    assert_eq!(
        s.authorize(
            Action::DisableFactor(Factor::Totp),
            &d2,
            &FactorProof::Passkey {
                rp: &rp,
                assertion: asr.as_ref()
            },
            t
        )
        .unwrap_err(),
        IntentError::SecondFactorRequired {
            action: Action::DisableFactor(Factor::Totp)
        }
    );
    // With TOTP: allowed.
    let t2 = t + 30;
    let auth = s
        .authorize(
            Action::DisableFactor(Factor::Totp),
            &d2,
            &FactorProof::Totp(&code(&secret, t2)),
            t2,
        )
        .unwrap();
    // The authorization is for TOTP; it cannot disable passkeys.
    assert_eq!(
        s.disable_factor(Factor::Passkey, auth).unwrap_err(),
        IntentError::AuthorizationMismatch
    );
    let t3 = t2 + 30;
    let auth = s
        .authorize(
            Action::DisableFactor(Factor::Totp),
            &d2,
            &FactorProof::Totp(&code(&secret, t3)),
            t3,
        )
        .unwrap();
    s.disable_factor(Factor::Totp, auth).unwrap();
    assert_eq!(
        s.enabled_factors().into_iter().collect::<Vec<_>>(),
        vec![Factor::Passkey]
    );
    // Disabling a factor that is not enabled.
    assert_eq!(
        s.authorize(
            Action::DisableFactor(Factor::Totp),
            &d2,
            &FactorProof::None,
            t3
        )
        .unwrap_err(),
        IntentError::FactorNotEnabled(Factor::Totp)
    );
}

#[test]
fn recovery_codes_are_hashed_single_use_and_replace_a_lost_factor() {
    let (mut s, secret) = with_totp(1);
    let t = NOW + 60;
    let auth = s
        .authorize(
            Action::ManageRecoveryCodes,
            &digest(1),
            &FactorProof::Totp(&code(&secret, t)),
            t,
        )
        .unwrap();
    let codes = s.generate_recovery_codes(&mut os_rng(), auth).unwrap();
    assert_eq!(codes.len(), kms_intent::RECOVERY_CODE_COUNT);
    let list: Vec<String> = codes.expose_secret().map(str::to_owned).collect();
    assert!(
        list.iter()
            .all(|c| c.len() == 19 && c.matches('-').count() == 3)
    );
    // Stored hashed: no code appears in the encoded state, nor in Debug output.
    let enc = s.encode();
    for c in &list {
        let plain: String = c.chars().filter(|ch| *ch != '-').collect();
        assert!(!enc.windows(plain.len()).any(|w| w == plain.as_bytes()));
        assert!(!format!("{s:?}{codes:?}").contains(c.as_str()));
    }
    // The phone with the TOTP app is lost: a recovery code disables TOTP.
    let first = list[0].to_lowercase().replace('-', " ");
    let auth = s
        .authorize(
            Action::DisableFactor(Factor::Totp),
            &digest(2),
            &FactorProof::RecoveryCode(&first),
            t,
        )
        .unwrap();
    assert_eq!(auth.proof(), Some(ProofUsed::RecoveryCode));
    s.disable_factor(Factor::Totp, auth).unwrap();
    assert_eq!(
        s.recovery_codes_remaining(),
        kms_intent::RECOVERY_CODE_COUNT - 1
    );
    // Single use.
    assert_eq!(
        s.authorize(
            Action::EnableFactor(Factor::Totp),
            &digest(3),
            &FactorProof::RecoveryCode(&list[0]),
            t
        )
        .unwrap_err(),
        IntentError::RecoveryCodeInvalid
    );
    // Codes are bound to the user.
    let mut other = state(2);
    let auth = other
        .authorize(
            Action::ManageRecoveryCodes,
            &digest(1),
            &FactorProof::None,
            t,
        )
        .unwrap();
    let _theirs = other.generate_recovery_codes(&mut os_rng(), auth).unwrap();
    assert_eq!(
        other
            .authorize(
                Action::EnableFactor(Factor::Totp),
                &digest(3),
                &FactorProof::RecoveryCode(&list[1]),
                t
            )
            .unwrap_err(),
        IntentError::RecoveryCodeInvalid
    );
}

#[test]
fn rate_limits_back_off_lock_survive_restart_and_reset_on_success() {
    let policy = RateLimitPolicy {
        free_attempts: 2,
        base_delay_secs: 10,
        max_delay_secs: 100,
        lock_after: 5,
        lock_secs: None,
    };
    let store = IntentStore::new(MemPersistence::default(), policy);
    let user = UserId(7);
    let secret = store
        .with_user(user, |s| {
            let auth = s.authorize(
                Action::EnableFactor(Factor::Totp),
                &digest(0),
                &FactorProof::None,
                NOW,
            )?;
            let e = s.begin_totp_enrollment(
                &mut os_rng(),
                TotpParams::default(),
                "kms",
                "u",
                auth,
                NOW,
            )?;
            let secret = e.secret().clone();
            s.confirm_totp(&totp_code(&secret, &TotpParams::default(), NOW), NOW)?;
            Ok(secret)
        })
        .unwrap();
    let key = AttemptKey {
        kind: AttemptKind::Totp,
        action: Some(Action::WithdrawSol),
    };
    let wrong = |t: u64| {
        store.with_user(user, |s| {
            s.authorize(
                Action::WithdrawSol,
                &digest(1),
                &FactorProof::Totp("000000"),
                t,
            )
            .map(|_| ())
        })
    };
    let mut t = NOW + 1000;
    assert_eq!(wrong(t), Err(IntentError::TotpInvalid));
    assert_eq!(wrong(t), Err(IntentError::TotpInvalid));
    assert_eq!(
        wrong(t),
        Err(IntentError::RateLimited {
            retry_after_secs: 10
        })
    );
    t += 10;
    assert_eq!(wrong(t), Err(IntentError::TotpInvalid));
    assert_eq!(
        wrong(t + 19),
        Err(IntentError::RateLimited {
            retry_after_secs: 1
        })
    );
    // Restart: the counters come back from persistence.
    store.forget_cache();
    assert_eq!(
        store.read_user(user, |s| s.failed_attempts(key)).unwrap(),
        3
    );
    assert_eq!(
        wrong(t + 19),
        Err(IntentError::RateLimited {
            retry_after_secs: 1
        })
    );
    // A success resets the counter.
    t += 20;
    let good = code(&secret, t);
    store
        .with_user(user, |s| {
            s.authorize(
                Action::WithdrawSol,
                &digest(1),
                &FactorProof::Totp(&good),
                t,
            )
            .map(|_| ())
        })
        .unwrap();
    assert_eq!(
        store.read_user(user, |s| s.failed_attempts(key)).unwrap(),
        0
    );
    // Five failures lock the key, for good with this policy, even for the right code.
    for i in 0..5 {
        t += 1000;
        assert_eq!(wrong(t), Err(IntentError::TotpInvalid), "failure {i}");
    }
    t += 100_000;
    assert_eq!(wrong(t), Err(IntentError::Locked));
    let good = code(&secret, t);
    assert_eq!(
        store.with_user(user, |s| s
            .authorize(
                Action::WithdrawSol,
                &digest(1),
                &FactorProof::Totp(&good),
                t
            )
            .map(|_| ())),
        Err(IntentError::Locked)
    );
    store.forget_cache();
    assert_eq!(wrong(t + 1_000_000), Err(IntentError::Locked));
    // A recovery code (its own counter) lifts the lock.
    let codes = store
        .with_user(user, |s| {
            s.operator_unlock_all();
            let c = code(&secret, t + 60);
            let auth = s.authorize(
                Action::ManageRecoveryCodes,
                &digest(9),
                &FactorProof::Totp(&c),
                t + 60,
            )?;
            s.generate_recovery_codes(&mut os_rng(), auth)
        })
        .unwrap();
    for _ in 0..5 {
        t += 1000;
        let _ = wrong(t);
    }
    assert_eq!(wrong(t + 1000), Err(IntentError::Locked));
    let rc = codes.expose_secret().next().unwrap().to_owned();
    store
        .with_user(user, |s| {
            s.authorize(
                Action::EnableFactor(Factor::Passkey),
                &digest(3),
                &FactorProof::RecoveryCode(&rc),
                t + 2000,
            )
            .map(|_| ())
        })
        .unwrap();
    assert_eq!(wrong(t + 2000), Err(IntentError::TotpInvalid));
}

#[test]
fn lock_with_duration_expires() {
    let policy = RateLimitPolicy {
        free_attempts: 0,
        base_delay_secs: 1,
        max_delay_secs: 1,
        lock_after: 2,
        lock_secs: Some(60),
    };
    let mut s = UserState::with_rate_limit_policy(UserId(1), policy).unwrap();
    assert_eq!(s.resolve("x", NOW), Err(IntentError::MalformedToken));
    assert_eq!(s.resolve("x", NOW + 1), Err(IntentError::MalformedToken));
    assert_eq!(s.resolve("x", NOW + 59), Err(IntentError::Locked));
    assert_eq!(s.resolve("x", NOW + 61), Err(IntentError::MalformedToken));
    assert!(
        UserState::with_rate_limit_policy(
            UserId(1),
            RateLimitPolicy {
                lock_after: 0,
                ..policy
            }
        )
        .is_err()
    );
}

#[test]
fn policy_overrides_need_a_factor_and_cannot_weaken_fixed_rules() {
    let (mut s, secret) = with_totp(1);
    let t = NOW + 60;
    let auth = s
        .authorize(
            Action::ChangePolicy,
            &digest(1),
            &FactorProof::Totp(&code(&secret, t)),
            t,
        )
        .unwrap();
    s.set_requirement(
        Action::SignTrade,
        Some(Requirement::Factor(Factor::Totp)),
        auth,
    )
    .unwrap();
    assert_eq!(
        s.requirement(Action::SignTrade),
        Requirement::Factor(Factor::Totp)
    );
    assert!(
        s.authorize(Action::SignTrade, &digest(2), &FactorProof::None, t)
            .is_err()
    );
    let t2 = t + 30;
    let auth = s
        .authorize(
            Action::ChangePolicy,
            &digest(1),
            &FactorProof::Totp(&code(&secret, t2)),
            t2,
        )
        .unwrap();
    assert!(matches!(
        s.set_requirement(
            Action::DisableFactor(Factor::Totp),
            Some(Requirement::None),
            auth
        ),
        Err(IntentError::InvalidInput { .. })
    ));
    // Overrides persist.
    let s2 = UserState::decode(&s.encode()).unwrap();
    assert_eq!(
        s2.requirement(Action::SignTrade),
        Requirement::Factor(Factor::Totp)
    );
    assert_eq!(s2.policy().overrides().count(), 1);
}

#[test]
fn whitelist_limits_trades_and_adding_needs_a_factor() {
    let (mut s, secret) = with_totp(1);
    let usdc = [1u8; 32];
    let scam = [2u8; 32];
    // Off: anything goes.
    s.check_trade_mints(&[scam]).unwrap();
    s.enable_whitelist();
    assert_eq!(
        s.check_trade_mints(&[scam]),
        Err(IntentError::MintNotWhitelisted)
    );
    let t = NOW + 60;
    assert!(
        s.authorize(Action::AddToWhitelist, &digest(1), &FactorProof::None, t)
            .is_err()
    );
    let auth = s
        .authorize(
            Action::AddToWhitelist,
            &digest(1),
            &FactorProof::Totp(&code(&secret, t)),
            t,
        )
        .unwrap();
    s.add_to_whitelist(usdc, auth).unwrap();
    s.check_trade_mints(&[usdc]).unwrap();
    assert_eq!(
        s.check_trade_mints(&[usdc, scam]),
        Err(IntentError::MintNotWhitelisted)
    );
    // Removing needs no factor by default.
    let auth = s
        .authorize(
            Action::RemoveFromWhitelist,
            &digest(2),
            &FactorProof::None,
            t,
        )
        .unwrap();
    assert!(s.remove_from_whitelist(&usdc, auth).unwrap());
    assert_eq!(
        s.check_trade_mints(&[usdc]),
        Err(IntentError::MintNotWhitelisted)
    );
}

#[test]
fn seed_backup_quiz() {
    let phrase: Vec<String> = (0..12).map(|i| format!("word{i}")).collect();
    let words: Vec<&str> = phrase.iter().map(String::as_str).collect();
    let mut s = state(1);
    let quiz = s
        .begin_seed_backup(&mut os_rng(), 12, kms_intent::DEFAULT_QUIZ_WORDS)
        .unwrap();
    assert_eq!(quiz.positions.len(), 3);
    let mut sorted = quiz.positions.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), 3);
    assert!(quiz.positions.iter().all(|p| (1..=12).contains(p)));
    // Shown once only.
    assert_eq!(
        s.begin_seed_backup(&mut os_rng(), 12, 3).unwrap_err(),
        IntentError::SeedAlreadyShown
    );
    // Wrong answers do not confirm.
    let mut wrong: Vec<&str> = quiz.positions.iter().map(|p| words[p - 1]).collect();
    wrong[2] = "abandon";
    assert_eq!(
        s.answer_seed_quiz(&words, &wrong, NOW),
        Err(IntentError::QuizWrong)
    );
    assert_eq!(
        s.answer_seed_quiz(&words, &wrong[..2], NOW),
        Err(IntentError::QuizWrong)
    );
    let right: Vec<String> = quiz
        .positions
        .iter()
        .map(|p| format!("  {} ", words[p - 1].to_uppercase()))
        .collect();
    let right: Vec<&str> = right.iter().map(String::as_str).collect();
    s.answer_seed_quiz(&words, &right, NOW).unwrap();
    assert_eq!(s.seed_backup(), &SeedBackup::Confirmed { at: NOW });
    assert_eq!(
        s.answer_seed_quiz(&words, &right, NOW),
        Err(IntentError::NoQuizPending)
    );
    // After confirmation, showing the seed again is refused while no factor is enabled...
    let auth = s
        .authorize(Action::ExportSeed, &digest(1), &FactorProof::None, NOW)
        .unwrap();
    assert_eq!(
        s.authorize_seed_reveal(auth),
        Err(IntentError::NoSecondFactorEnabled)
    );
    // ...and needs a second factor once one is.
    let auth = s
        .authorize(
            Action::EnableFactor(Factor::Totp),
            &digest(0),
            &FactorProof::None,
            NOW,
        )
        .unwrap();
    let e = s
        .begin_totp_enrollment(&mut os_rng(), TotpParams::default(), "kms", "u", auth, NOW)
        .unwrap();
    s.confirm_totp(&totp_code(e.secret(), &TotpParams::default(), NOW), NOW)
        .unwrap();
    let t = NOW + 60;
    let auth = s
        .authorize(
            Action::ExportSeed,
            &digest(1),
            &FactorProof::Totp(&code(e.secret(), t)),
            t,
        )
        .unwrap();
    s.authorize_seed_reveal(auth).unwrap();
    // Even if the user's policy dropped the requirement, a factor is still needed.
    let t2 = t + 30;
    let auth = s
        .authorize(
            Action::ChangePolicy,
            &digest(2),
            &FactorProof::Totp(&code(e.secret(), t2)),
            t2,
        )
        .unwrap();
    s.set_requirement(Action::ExportSeed, Some(Requirement::None), auth)
        .unwrap();
    let auth = s
        .authorize(Action::ExportSeed, &digest(1), &FactorProof::None, t2)
        .unwrap();
    assert_eq!(
        s.authorize_seed_reveal(auth),
        Err(IntentError::SecondFactorRequired {
            action: Action::ExportSeed
        })
    );
}

#[test]
fn quiz_positions_are_uniform_enough() {
    // Each of 24 positions is drawn about k/24 of the time over many quizzes.
    let mut counts = [0u32; 24];
    let mut rng = seeded(7);
    for _ in 0..4000 {
        let mut s = state(1);
        for p in s.begin_seed_backup(&mut rng, 24, 3).unwrap().positions {
            counts[p - 1] += 1;
        }
    }
    // Expected 500 each; a biased sampler would leave some far off.
    assert!(
        counts.iter().all(|&c| (380..=620).contains(&c)),
        "{counts:?}"
    );
}
