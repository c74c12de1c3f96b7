//! The versioned state encoding: round trip, strict decoding, no secrets in Debug.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns

mod common;

use common::*;
use kms_intent::{
    Action, Factor, FactorProof, IntentError, STATE_MAGIC, STATE_VERSION, TotpParams, UserState,
    totp_code,
};
use proptest::prelude::*;

/// A state with something in every section.
fn populated() -> (UserState, String) {
    let mut s = state(42);
    let _open = s.create_challenge(&mut seeded(1), &spec(1), NOW).unwrap();
    let decided = s.create_challenge(&mut seeded(2), &spec(2), NOW).unwrap();
    s.resolve(decided.buttons[1].token.expose_secret(), NOW)
        .unwrap();
    let id = make_intent(&mut s, terms(10, 100, 5), NOW);
    s.spend(
        id,
        &kms_intent::SpendRequest {
            module_hash: &[0x22; 32],
            parameters: b"dca:SOL->USDC",
            amount: 3,
        },
        NOW,
    )
    .unwrap();
    let auth = s
        .authorize(
            Action::EnableFactor(Factor::Passkey),
            &digest(9),
            &FactorProof::None,
            NOW,
        )
        .unwrap();
    let mut pk = SoftAuthenticator::ed25519();
    let (cd, att) = pk.register("wallet.example", "https://wallet.example", &digest(9));
    s.register_passkey(
        &kms_intent::RelyingParty::new("wallet.example"),
        &cd,
        &att,
        "key",
        auth,
        NOW,
    )
    .unwrap();
    let asr = pk.assert("wallet.example", "https://wallet.example", &digest(10));
    let rp = kms_intent::RelyingParty::new("wallet.example");
    let auth = s
        .authorize(
            Action::EnableFactor(Factor::Totp),
            &digest(10),
            &FactorProof::Passkey {
                rp: &rp,
                assertion: asr.as_ref(),
            },
            NOW,
        )
        .unwrap();
    let e = s
        .begin_totp_enrollment(&mut seeded(3), TotpParams::default(), "kms", "u", auth, NOW)
        .unwrap();
    let b32 = e.secret().to_base32().to_string();
    s.confirm_totp(&totp_code(e.secret(), &TotpParams::default(), NOW), NOW)
        .unwrap();
    let t = NOW + 30;
    let auth = s
        .authorize(
            Action::ManageRecoveryCodes,
            &digest(3),
            &FactorProof::Totp(&totp_code(e.secret(), &TotpParams::default(), t)),
            t,
        )
        .unwrap();
    let _codes = s.generate_recovery_codes(&mut seeded(4), auth).unwrap();
    s.enable_whitelist();
    let t = NOW + 60;
    let auth = s
        .authorize(
            Action::AddToWhitelist,
            &digest(4),
            &FactorProof::Totp(&totp_code(e.secret(), &TotpParams::default(), t)),
            t,
        )
        .unwrap();
    s.add_to_whitelist([5; 32], auth).unwrap();
    let _ = s.resolve("bad token", t);
    let _ = s.authorize(
        Action::WithdrawSol,
        &digest(5),
        &FactorProof::Totp("000000"),
        t,
    );
    s.begin_seed_backup(&mut seeded(5), 24, 3).unwrap();
    (s, b32)
}

#[test]
fn round_trip_of_every_section() {
    let (s, _) = populated();
    let bytes = s.encode();
    assert_eq!(&bytes[..4], &STATE_MAGIC);
    assert_eq!(u16::from_be_bytes([bytes[4], bytes[5]]), STATE_VERSION);
    let back = UserState::decode(&bytes).unwrap();
    assert_eq!(back, s);
    assert_eq!(back.encode().as_slice(), bytes.as_slice());
}

#[test]
fn every_truncation_and_trailing_byte_is_refused() {
    let (s, _) = populated();
    let bytes = s.encode();
    for n in 0..bytes.len() {
        let e = UserState::decode(&bytes[..n]).unwrap_err();
        assert!(
            matches!(e, IntentError::Truncated | IntentError::Malformed(_)),
            "{n}: {e:?}"
        );
    }
    let mut longer = bytes.to_vec();
    longer.push(0);
    assert_eq!(
        UserState::decode(&longer).unwrap_err(),
        IntentError::TrailingBytes
    );
    let mut v2 = bytes.to_vec();
    v2[5] = 2;
    assert_eq!(
        UserState::decode(&v2).unwrap_err(),
        IntentError::UnsupportedVersion(2)
    );
    let mut magic = bytes.to_vec();
    magic[0] = b'X';
    assert!(matches!(
        UserState::decode(&magic),
        Err(IntentError::Malformed(_))
    ));
}

#[test]
fn no_secret_in_debug_or_errors() {
    let (s, b32) = populated();
    let dbg = format!("{s:?}");
    assert!(!dbg.contains(&b32), "TOTP secret in Debug");
    // The raw secret bytes, in any of Debug's list formats, are absent too.
    let raw = kms_intent::TotpSecret::from_bytes(&[0xAB; 20]).unwrap();
    assert!(!format!("{raw:?}").contains("171"));
    let issued = state(1)
        .create_challenge(&mut os_rng(), &spec(1), NOW)
        .unwrap();
    let tok = issued.buttons[0].token.expose_secret().to_owned();
    assert!(!format!("{issued:?}").contains(&tok));
    let mut st = state(1);
    let err = st.resolve(&tok, NOW).unwrap_err();
    assert!(!err.to_string().contains(&tok));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Mutated encodings never panic; whatever decodes re-encodes to the same bytes (the
    /// encoding is canonical).
    #[test]
    fn mutations_never_panic_and_decoding_is_canonical(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let (s, _) = populated();
        let mut bytes = s.encode().to_vec();
        for (i, v) in flips {
            let n = bytes.len();
            bytes[i % n] = v;
        }
        if let Ok(d) = UserState::decode(&bytes) {
            let again = d.encode();
            prop_assert_eq!(again.as_slice(), bytes.as_slice());
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = UserState::decode(&bytes);
    }
}
