//! TOTP (RFC 6238): RFC vectors, skew, replay, enrollment URI and QR codes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use common::*;
use kms_intent::{
    Action, Factor, FactorProof, IntentError, TotpAlgorithm, TotpParams, TotpSecret, UserState,
    totp_code,
};

fn lines(file: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().map(str::to_owned).collect())
        .collect()
}

#[test]
fn rfc6238_appendix_b_vectors() {
    let rows = lines("rfc6238.txt");
    assert_eq!(rows.len(), 18);
    for row in rows {
        let time: u64 = row[0].parse().unwrap();
        let (algorithm, seed): (_, &[u8]) = match row[1].as_str() {
            "SHA1" => (TotpAlgorithm::Sha1, b"12345678901234567890"),
            "SHA256" => (TotpAlgorithm::Sha256, b"12345678901234567890123456789012"),
            "SHA512" => (
                TotpAlgorithm::Sha512,
                b"1234567890123456789012345678901234567890123456789012345678901234",
            ),
            other => panic!("unknown algorithm {other}"),
        };
        let secret = TotpSecret::from_bytes(seed).unwrap();
        let params = TotpParams {
            algorithm,
            digits: 8,
            period: 30,
        };
        assert_eq!(
            totp_code(&secret, &params, time).as_str(),
            row[2],
            "{row:?}"
        );
    }
}

#[test]
fn rfc4226_appendix_d_vectors() {
    let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
    for row in lines("rfc4226.txt") {
        let counter: u64 = row[0].parse().unwrap();
        assert_eq!(
            totp_code(&secret, &TotpParams::default(), counter * 30).as_str(),
            row[1]
        );
    }
}

/// Enrolls TOTP on a fresh state and returns the secret the app would hold.
fn enrolled(user: u64) -> (UserState, TotpSecret) {
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
        .begin_totp_enrollment(
            &mut os_rng(),
            TotpParams::default(),
            "kms wallet",
            "alice",
            auth,
            NOW,
        )
        .unwrap();
    let secret = e.secret().clone();
    assert_eq!(
        s.enabled_factors().len(),
        0,
        "not enabled before confirmation"
    );
    s.confirm_totp(&totp_code(&secret, &TotpParams::default(), NOW), NOW)
        .unwrap();
    assert!(s.enabled_factors().contains(&Factor::Totp));
    (s, secret)
}

fn code(secret: &TotpSecret, t: u64) -> String {
    totp_code(secret, &TotpParams::default(), t).to_string()
}

#[test]
fn skew_of_one_step_each_way() {
    let (mut s, secret) = enrolled(1);
    let t = NOW + 600;
    // Code of the previous step accepted.
    assert_eq!(
        s.authorize(
            Action::WithdrawSol,
            &digest(1),
            &FactorProof::Totp(&code(&secret, t - 30)),
            t
        )
        .unwrap()
        .proof(),
        Some(kms_intent::ProofUsed::Totp)
    );
    // Code of the next step accepted.
    assert_eq!(
        s.authorize(
            Action::WithdrawSol,
            &digest(2),
            &FactorProof::Totp(&code(&secret, t + 30)),
            t
        )
        .unwrap()
        .proof(),
        Some(kms_intent::ProofUsed::Totp)
    );
    // Two steps away: refused.
    let t2 = t + 3000;
    assert_eq!(
        s.authorize(
            Action::WithdrawSol,
            &digest(3),
            &FactorProof::Totp(&code(&secret, t2 - 60)),
            t2
        )
        .unwrap_err(),
        IntentError::TotpInvalid
    );
    assert_eq!(
        s.authorize(
            Action::WithdrawSol,
            &digest(3),
            &FactorProof::Totp(&code(&secret, t2 + 60)),
            t2
        )
        .unwrap_err(),
        IntentError::TotpInvalid
    );
}

#[test]
fn same_step_is_never_accepted_twice() {
    let (mut s, secret) = enrolled(1);
    let t = NOW + 900;
    let c = code(&secret, t);
    assert_eq!(
        s.authorize(Action::ExportKey, &digest(1), &FactorProof::Totp(&c), t)
            .unwrap()
            .proof(),
        Some(kms_intent::ProofUsed::Totp)
    );
    assert_eq!(
        s.authorize(Action::ExportKey, &digest(2), &FactorProof::Totp(&c), t)
            .unwrap_err(),
        IntentError::TotpReplayed
    );
    // Not even for another action, nor after a restart.
    let mut s2 = UserState::decode(&s.encode()).unwrap();
    assert_eq!(
        s2.authorize(
            Action::WithdrawSol,
            &digest(2),
            &FactorProof::Totp(&c),
            t + 10
        )
        .unwrap_err(),
        IntentError::TotpReplayed
    );
    // An earlier step is refused too once a later one was used.
    assert!(
        s2.authorize(
            Action::WithdrawSol,
            &digest(2),
            &FactorProof::Totp(&code(&secret, t - 30)),
            t
        )
        .is_err()
    );
    // The next step works.
    assert_eq!(
        s2.authorize(
            Action::WithdrawSol,
            &digest(2),
            &FactorProof::Totp(&code(&secret, t + 30)),
            t + 30
        )
        .unwrap()
        .proof(),
        Some(kms_intent::ProofUsed::Totp)
    );
}

#[test]
fn malformed_codes_are_invalid() {
    let (mut s, _) = enrolled(1);
    for c in [
        "",
        "12345",
        "1234567",
        "12345a",
        "１２３４５６",
        "-12345",
        "+12345",
    ] {
        s.operator_unlock_all();
        assert_eq!(
            s.authorize(
                Action::WithdrawSol,
                &digest(1),
                &FactorProof::Totp(c),
                NOW + 100
            )
            .unwrap_err(),
            IntentError::TotpInvalid,
            "{c:?}"
        );
    }
}

#[test]
fn enrollment_uri_and_qr_codes() {
    let mut s = state(1);
    let auth = s
        .authorize(
            Action::EnableFactor(Factor::Totp),
            &digest(0),
            &FactorProof::None,
            NOW,
        )
        .unwrap();
    let e = s
        .begin_totp_enrollment(
            &mut os_rng(),
            TotpParams::default(),
            "kms wallet",
            "alice@example",
            auth,
            NOW,
        )
        .unwrap();
    let b32 = e.secret().to_base32();
    assert_eq!(e.secret().expose_secret().len(), 20);
    assert_eq!(b32.len(), 32);
    assert_eq!(
        e.otpauth_uri(),
        format!(
            "otpauth://totp/kms%20wallet:alice%40example?secret={}&issuer=kms%20wallet&algorithm=SHA1&digits=6&period=30",
            b32.as_str()
        )
    );
    // The Debug output holds no secret.
    let dbg = format!("{e:?}");
    assert!(
        !dbg.contains(b32.as_str()) && !dbg.contains("secret="),
        "{dbg}"
    );

    // PNG: decodes to a square grayscale image with black modules and a white quiet zone.
    let png_bytes = e.qr_png(4).unwrap();
    assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes.to_vec()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.width, info.height);
    assert_eq!(info.width % 4, 0);
    let modules = info.width as usize / 4 - 8;
    assert!(
        (21..=177).contains(&modules) && (modules - 21).is_multiple_of(4),
        "QR sizes are 21 + 4k"
    );
    let px = &buf[..info.buffer_size()];
    assert!(
        px[..info.width as usize * 16].iter().all(|&p| p == 255),
        "quiet zone is white"
    );
    // The top-left finder pattern: module (0,0) is dark.
    assert_eq!(px[(16) * info.width as usize + 16], 0);
    assert!(matches!(e.qr_png(0), Err(IntentError::InvalidInput { .. })));

    // Terminal rendering: half blocks, one line per two modules plus the quiet zone.
    let term = e.qr_terminal(false).unwrap();
    let rows = term.lines().count();
    assert_eq!(rows, (modules + 8).div_ceil(2));
    assert!(term.contains('█') || term.contains('▀') || term.contains('▄'));
    let inverted = e.qr_terminal(true).unwrap();
    assert_ne!(term.as_str(), inverted.as_str());

    // Confirmation needs a valid code; a wrong one is refused and counted.
    assert_eq!(
        s.confirm_totp("000000", NOW).unwrap_err(),
        IntentError::TotpInvalid
    );
    let good = totp_code(e.secret(), &TotpParams::default(), NOW + 30);
    s.confirm_totp(&good, NOW + 30).unwrap();
    assert_eq!(
        s.confirm_totp(&good, NOW + 30).unwrap_err(),
        IntentError::NoPendingEnrollment(Factor::Totp)
    );
}

#[test]
fn enrollment_expires_and_parameters_are_checked() {
    let mut s = state(1);
    let auth = s
        .authorize(
            Action::EnableFactor(Factor::Totp),
            &digest(0),
            &FactorProof::None,
            NOW,
        )
        .unwrap();
    let e = s
        .begin_totp_enrollment(&mut os_rng(), TotpParams::default(), "i", "a", auth, NOW)
        .unwrap();
    let late = NOW + kms_intent::TOTP_ENROLLMENT_TTL_SECS;
    let c = totp_code(e.secret(), &TotpParams::default(), late);
    assert_eq!(
        s.confirm_totp(&c, late).unwrap_err(),
        IntentError::NoPendingEnrollment(Factor::Totp)
    );
    for params in [
        TotpParams {
            digits: 5,
            ..TotpParams::default()
        },
        TotpParams {
            digits: 9,
            ..TotpParams::default()
        },
        TotpParams {
            period: 0,
            ..TotpParams::default()
        },
    ] {
        let auth = s
            .authorize(
                Action::EnableFactor(Factor::Totp),
                &digest(0),
                &FactorProof::None,
                NOW,
            )
            .unwrap();
        assert!(matches!(
            s.begin_totp_enrollment(&mut os_rng(), params, "i", "a", auth, NOW),
            Err(IntentError::InvalidInput { .. })
        ));
    }
    let auth = s
        .authorize(
            Action::EnableFactor(Factor::Totp),
            &digest(0),
            &FactorProof::None,
            NOW,
        )
        .unwrap();
    assert!(matches!(
        s.begin_totp_enrollment(&mut os_rng(), TotpParams::default(), "", "a", auth, NOW),
        Err(IntentError::InvalidInput { .. })
    ));
    // SHA256 and SHA512 factors work end to end.
    for algorithm in [TotpAlgorithm::Sha256, TotpAlgorithm::Sha512] {
        let mut s = state(2);
        let params = TotpParams {
            algorithm,
            digits: 8,
            period: 30,
        };
        let auth = s
            .authorize(
                Action::EnableFactor(Factor::Totp),
                &digest(0),
                &FactorProof::None,
                NOW,
            )
            .unwrap();
        let e = s
            .begin_totp_enrollment(&mut os_rng(), params, "i", "a", auth, NOW)
            .unwrap();
        assert_eq!(e.secret().expose_secret().len(), algorithm.secret_len());
        s.confirm_totp(&totp_code(e.secret(), &params, NOW), NOW)
            .unwrap();
        let t = NOW + 60;
        assert_eq!(
            s.authorize(
                Action::WithdrawSol,
                &digest(1),
                &FactorProof::Totp(&totp_code(e.secret(), &params, t)),
                t
            )
            .unwrap()
            .proof(),
            Some(kms_intent::ProofUsed::Totp)
        );
    }
}
