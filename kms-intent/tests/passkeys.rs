//! Passkeys: a software authenticator with real ES256/Ed25519 keys, real YubiKey vectors, and
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers outside #[test] fns
//! the attacks that must fail.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use common::*;
use kms_intent::webauthn::{self, CoseKey, parse_authenticator_data};
use kms_intent::{Action, Factor, FactorProof, IntentError, ProofUsed, RelyingParty, UserState};

const RP_ID: &str = "wallet.example";
const ORIGIN: &str = "https://wallet.example";

fn rp() -> RelyingParty {
    RelyingParty::new(RP_ID)
}

/// A state with one passkey registered from `auth`.
fn registered(mut auth: SoftAuthenticator) -> (UserState, SoftAuthenticator) {
    let mut s = state(1);
    let reg_digest = digest(1000);
    let a = s
        .authorize(
            Action::EnableFactor(Factor::Passkey),
            &reg_digest,
            &FactorProof::None,
            NOW,
        )
        .unwrap();
    let (cd, att) = auth.register(RP_ID, ORIGIN, &reg_digest);
    let cred = s
        .register_passkey(&rp(), &cd, &att, "laptop", a, NOW)
        .unwrap();
    assert_eq!(cred.id(), auth.credential_id.as_slice());
    assert_eq!(cred.label(), "laptop");
    assert!(s.enabled_factors().contains(&Factor::Passkey));
    (s, auth)
}

fn both() -> [SoftAuthenticator; 2] {
    [SoftAuthenticator::es256(), SoftAuthenticator::ed25519()]
}

#[test]
fn register_and_assert_es256_and_ed25519() {
    for a in both() {
        let (mut s, mut a) = registered(a);
        for n in 0..3 {
            let d = digest(n);
            let asr = a.assert(RP_ID, ORIGIN, &d);
            let auth = s
                .authorize(
                    Action::WithdrawSol,
                    &d,
                    &FactorProof::Passkey {
                        rp: &rp(),
                        assertion: asr.as_ref(),
                    },
                    NOW,
                )
                .unwrap();
            assert_eq!(auth.proof(), Some(ProofUsed::Passkey));
        }
        assert_eq!(s.passkeys()[0].sign_count(), 3);
        // Without a proof, withdrawal is refused once a passkey is enabled.
        assert_eq!(
            s.authorize(Action::WithdrawSol, &digest(9), &FactorProof::None, NOW)
                .unwrap_err(),
            IntentError::SecondFactorRequired {
                action: Action::WithdrawSol
            }
        );
    }
}

/// Attack: a passkey assertion for another challenge (request digest).
#[test]
fn attack_passkey_assertion_for_another_challenge() {
    for a in both() {
        let (mut s, mut a) = registered(a);
        let asr = a.assert(RP_ID, ORIGIN, &digest(1));
        assert_eq!(
            s.authorize(
                Action::WithdrawSol,
                &digest(2),
                &FactorProof::Passkey {
                    rp: &rp(),
                    assertion: asr.as_ref()
                },
                NOW
            )
            .unwrap_err(),
            IntentError::ChallengeMismatch
        );
        // Replaying a used assertion for its own digest is refused too.
        let asr = a.assert(RP_ID, ORIGIN, &digest(3));
        let proof = FactorProof::Passkey {
            rp: &rp(),
            assertion: asr.as_ref(),
        };
        assert!(
            s.authorize(Action::WithdrawSol, &digest(3), &proof, NOW)
                .is_ok()
        );
        assert!(
            s.authorize(Action::WithdrawSol, &digest(3), &proof, NOW)
                .is_err()
        );
    }
}

/// Attack: a passkey assertion made for another rpId (a phishing site's).
#[test]
fn attack_passkey_assertion_for_another_rp_id() {
    for a in both() {
        let (mut s, mut a) = registered(a);
        let d = digest(1);
        // The phishing site's rpId in authenticatorData, its origin in clientData.
        let asr = a.assert("wallet-example.phish", "https://wallet-example.phish", &d);
        assert_eq!(
            s.authorize(
                Action::ExportKey,
                &d,
                &FactorProof::Passkey {
                    rp: &rp(),
                    assertion: asr.as_ref()
                },
                NOW
            )
            .unwrap_err(),
            IntentError::OriginMismatch
        );
        // Right origin in clientData but another rpId hash in authenticatorData.
        let cd = SoftAuthenticator::client_data("webauthn.get", &d, ORIGIN);
        a.counter += 1;
        let asr = a.assert_raw("wallet-example.phish", cd, UP | UV, a.counter);
        assert_eq!(
            s.authorize(
                Action::ExportKey,
                &d,
                &FactorProof::Passkey {
                    rp: &rp(),
                    assertion: asr.as_ref()
                },
                NOW
            )
            .unwrap_err(),
            IntentError::RpIdMismatch
        );
    }
}

/// Attack: a passkey assertion with a lower (or equal) signature counter: a cloned authenticator.
#[test]
fn attack_passkey_assertion_with_lower_counter() {
    for a in both() {
        let (mut s, mut a) = registered(a);
        a.counter = 10;
        let d = digest(1);
        let asr = a.assert(RP_ID, ORIGIN, &d); // counter 11
        assert_eq!(
            s.authorize(
                Action::WithdrawSol,
                &d,
                &FactorProof::Passkey {
                    rp: &rp(),
                    assertion: asr.as_ref()
                },
                NOW
            )
            .unwrap()
            .proof(),
            Some(ProofUsed::Passkey)
        );
        for counter in [5, 11] {
            let d = digest(100 + u64::from(counter));
            let cd = SoftAuthenticator::client_data("webauthn.get", &d, ORIGIN);
            let asr = a.assert_raw(RP_ID, cd, UP | UV, counter);
            assert_eq!(
                s.authorize(
                    Action::WithdrawSol,
                    &d,
                    &FactorProof::Passkey {
                        rp: &rp(),
                        assertion: asr.as_ref()
                    },
                    NOW
                )
                .unwrap_err(),
                IntentError::CounterRegression {
                    stored: 11,
                    received: counter
                }
            );
        }
        assert_eq!(s.passkeys()[0].sign_count(), 11);
    }
}

#[test]
fn zero_counters_are_accepted_for_synced_passkeys() {
    let mut a = SoftAuthenticator::es256();
    a.counting = false;
    let (mut s, mut a) = registered(a);
    for n in 0..3 {
        let asr = a.assert(RP_ID, ORIGIN, &digest(n));
        assert_eq!(
            s.authorize(
                Action::WithdrawSol,
                &digest(n),
                &FactorProof::Passkey {
                    rp: &rp(),
                    assertion: asr.as_ref()
                },
                NOW
            )
            .unwrap()
            .proof(),
            Some(ProofUsed::Passkey)
        );
    }
}

#[test]
fn flags_type_origin_and_signature_are_checked() {
    let (mut s, a) = registered(SoftAuthenticator::es256());
    let d = digest(7);
    let mut counter = 0;
    let mut check = |cd: Vec<u8>, flags: u8, want: IntentError| {
        counter += 1;
        let asr = a.assert_raw(RP_ID, cd, flags, counter);
        s.operator_unlock_all();
        assert_eq!(
            s.authorize(
                Action::WithdrawSol,
                &d,
                &FactorProof::Passkey {
                    rp: &rp(),
                    assertion: asr.as_ref()
                },
                NOW
            )
            .unwrap_err(),
            want
        );
    };
    let get = SoftAuthenticator::client_data("webauthn.get", &d, ORIGIN);
    check(get.clone(), UV, IntentError::UserNotPresent);
    check(get.clone(), UP, IntentError::UserNotVerified);
    check(
        SoftAuthenticator::client_data("webauthn.create", &d, ORIGIN),
        UP | UV,
        IntentError::ClientDataTypeMismatch,
    );
    check(
        SoftAuthenticator::client_data("webauthn.get", &d, "http://wallet.example"),
        UP | UV,
        IntentError::OriginMismatch,
    );
    let cross = format!(
        r#"{{"type":"webauthn.get","challenge":"{}","origin":"{ORIGIN}","crossOrigin":true}}"#,
        B64.encode(d)
    );
    check(cross.into_bytes(), UP | UV, IntentError::OriginMismatch);
    let dup = format!(
        r#"{{"type":"webauthn.get","type":"webauthn.get","challenge":"{}","origin":"{ORIGIN}"}}"#,
        B64.encode(d)
    );
    check(
        dup.into_bytes(),
        UP | UV,
        IntentError::MalformedClientData("not the expected JSON object"),
    );

    // A signature by another key, and a bit-flipped signature.
    let other = SoftAuthenticator::es256();
    let mut asr = a.assert_raw(RP_ID, get.clone(), UP | UV, 100);
    let forged = other.assert_raw(RP_ID, get.clone(), UP | UV, 100);
    asr.signature = forged.signature;
    assert_eq!(
        s.authorize(
            Action::WithdrawSol,
            &d,
            &FactorProof::Passkey {
                rp: &rp(),
                assertion: asr.as_ref()
            },
            NOW
        )
        .unwrap_err(),
        IntentError::PasskeySignatureInvalid
    );
    // Tampered authenticator data (counter bumped after signing).
    let mut asr = a.assert_raw(RP_ID, get.clone(), UP | UV, 101);
    asr.auth_data[36] ^= 0x10;
    s.operator_unlock_all();
    assert_eq!(
        s.authorize(
            Action::WithdrawSol,
            &d,
            &FactorProof::Passkey {
                rp: &rp(),
                assertion: asr.as_ref()
            },
            NOW
        )
        .unwrap_err(),
        IntentError::PasskeySignatureInvalid
    );
    // Unknown credential id.
    let mut asr = a.assert_raw(RP_ID, get, UP | UV, 102);
    asr.credential_id = vec![9; 16];
    s.operator_unlock_all();
    assert_eq!(
        s.authorize(
            Action::WithdrawSol,
            &d,
            &FactorProof::Passkey {
                rp: &rp(),
                assertion: asr.as_ref()
            },
            NOW
        )
        .unwrap_err(),
        IntentError::UnknownCredential
    );
}

#[test]
fn registration_checks() {
    let mut s = state(1);
    let d = digest(5);
    let mut a = SoftAuthenticator::ed25519();
    // Wrong challenge.
    let (cd, att) = a.register(RP_ID, ORIGIN, &digest(6));
    let auth = s
        .authorize(
            Action::EnableFactor(Factor::Passkey),
            &d,
            &FactorProof::None,
            NOW,
        )
        .unwrap();
    assert_eq!(
        s.register_passkey(&rp(), &cd, &att, "k", auth, NOW)
            .unwrap_err(),
        IntentError::ChallengeMismatch
    );
    // Wrong rpId.
    let (cd, att) = a.register("other.example", ORIGIN, &d);
    let auth = s
        .authorize(
            Action::EnableFactor(Factor::Passkey),
            &d,
            &FactorProof::None,
            NOW,
        )
        .unwrap();
    assert_eq!(
        s.register_passkey(&rp(), &cd, &att, "k", auth, NOW)
            .unwrap_err(),
        IntentError::RpIdMismatch
    );
    // Authorization for another action.
    let (cd, att) = a.register(RP_ID, ORIGIN, &d);
    let auth = s
        .authorize(
            Action::EnableFactor(Factor::Totp),
            &d,
            &FactorProof::None,
            NOW,
        )
        .unwrap();
    assert_eq!(
        s.register_passkey(&rp(), &cd, &att, "k", auth, NOW)
            .unwrap_err(),
        IntentError::AuthorizationMismatch
    );
    // Good, then the same credential again.
    let auth = s
        .authorize(
            Action::EnableFactor(Factor::Passkey),
            &d,
            &FactorProof::None,
            NOW,
        )
        .unwrap();
    s.register_passkey(&rp(), &cd, &att, "k", auth, NOW)
        .unwrap();
    // A second passkey now needs the first one (a factor is enabled).
    let d2 = digest(8);
    assert_eq!(
        s.authorize(
            Action::EnableFactor(Factor::Passkey),
            &d2,
            &FactorProof::None,
            NOW
        )
        .unwrap_err(),
        IntentError::SecondFactorRequired {
            action: Action::EnableFactor(Factor::Passkey)
        }
    );
    let asr = a.assert(RP_ID, ORIGIN, &d2);
    let auth = s
        .authorize(
            Action::EnableFactor(Factor::Passkey),
            &d2,
            &FactorProof::Passkey {
                rp: &rp(),
                assertion: asr.as_ref(),
            },
            NOW,
        )
        .unwrap();
    let (cd, att) = a.register(RP_ID, ORIGIN, &d2);
    assert_eq!(
        s.register_passkey(&rp(), &cd, &att, "k", auth, NOW)
            .unwrap_err(),
        IntentError::CredentialAlreadyRegistered
    );
    // Attestation object with extra keys or a "none" statement that is not empty.
    let bad = Cbor::Map(vec![
        (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
        (
            Cbor::Text("attStmt".into()),
            Cbor::Map(vec![(Cbor::Text("x".into()), Cbor::Uint(1))]),
        ),
        (
            Cbor::Text("authData".into()),
            Cbor::Bytes(a.auth_data(RP_ID, UP | UV, 0, true)),
        ),
    ])
    .to_vec();
    assert!(matches!(
        webauthn::parse_attestation_object(&bad),
        Err(IntentError::MalformedCbor(_))
    ));
}

#[test]
fn cose_keys_are_strict() {
    let a = SoftAuthenticator::es256();
    let mut ad = a.auth_data(RP_ID, UP, 0, true);
    let parsed = parse_authenticator_data(&ad).unwrap();
    assert!(matches!(
        parsed.attested.unwrap().public_key,
        CoseKey::Es256(_)
    ));
    // Trailing garbage after the COSE key.
    ad.push(0);
    assert!(parse_authenticator_data(&ad).is_err());
    // An RSA key (kty 3, alg -257) is refused.
    let rsa = Cbor::Map(vec![
        (Cbor::Uint(1), Cbor::Uint(3)),
        (Cbor::Uint(3), Cbor::Neg(-257)),
        (Cbor::Neg(-1), Cbor::Bytes(vec![1; 256])),
        (Cbor::Neg(-2), Cbor::Bytes(vec![1, 0, 1])),
    ])
    .to_vec();
    let v = webauthn::cbor::decode(&rsa).unwrap();
    assert!(matches!(
        CoseKey::from_cose(&v),
        Err(IntentError::UnsupportedCoseKey(_))
    ));
    // A P-256 point not on the curve.
    let off = Cbor::Map(vec![
        (Cbor::Uint(1), Cbor::Uint(2)),
        (Cbor::Uint(3), Cbor::Neg(-7)),
        (Cbor::Neg(-1), Cbor::Uint(1)),
        (Cbor::Neg(-2), Cbor::Bytes(vec![1; 32])),
        (Cbor::Neg(-3), Cbor::Bytes(vec![2; 32])),
    ])
    .to_vec();
    let v = webauthn::cbor::decode(&off).unwrap();
    assert_eq!(
        CoseKey::from_cose(&v),
        Err(IntentError::UnsupportedCoseKey(
            "P-256 point not on the curve"
        ))
    );
    // An Ed25519 key of small order (the identity point).
    let mut id = [0u8; 32];
    id[0] = 1;
    let weak = Cbor::Map(vec![
        (Cbor::Uint(1), Cbor::Uint(1)),
        (Cbor::Uint(3), Cbor::Neg(-8)),
        (Cbor::Neg(-1), Cbor::Uint(6)),
        (Cbor::Neg(-2), Cbor::Bytes(id.to_vec())),
    ])
    .to_vec();
    let v = webauthn::cbor::decode(&weak).unwrap();
    assert!(matches!(
        CoseKey::from_cose(&v),
        Err(IntentError::UnsupportedCoseKey(_))
    ));
}

#[test]
fn authenticator_data_is_strict() {
    assert!(parse_authenticator_data(&[0; 36]).is_err());
    assert!(parse_authenticator_data(&[0; 37]).is_ok());
    let mut ad = [0u8; 37];
    ad[32] = 0x10; // BS without BE
    assert!(parse_authenticator_data(&ad).is_err());
    ad[32] = 0x40; // AT without data
    assert!(parse_authenticator_data(&ad).is_err());
    ad[32] = 0x80; // ED without data
    assert!(parse_authenticator_data(&ad).is_err());
    let mut with_ext = [0u8; 37].to_vec();
    with_ext[32] = 0x81;
    with_ext.extend(Cbor::Map(vec![(Cbor::Text("credProtect".into()), Cbor::Uint(2))]).to_vec());
    assert!(
        parse_authenticator_data(&with_ext)
            .unwrap()
            .extensions
            .is_some()
    );
    let mut ext_not_map = [0u8; 37].to_vec();
    ext_not_map[32] = 0x81;
    ext_not_map.push(0x01);
    assert!(parse_authenticator_data(&ext_not_map).is_err());
}

/// Real YubiKey registrations and assertions (tests/data/webauthn-yubico.txt).
#[test]
fn yubico_real_vectors() {
    let text = std::fs::read_to_string(format!(
        "{}/tests/data/webauthn-yubico.txt",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut seen = 0;
    for block in text.split("\n\n") {
        let get = |k: &str| {
            block
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("{k} missing"))
                .to_owned()
        };
        let rp = RelyingParty {
            id: get("rp_id"),
            origins: vec![get("origin")],
            // These YubiKeys were used without PIN: UP only.
            require_user_verification: false,
        };
        let challenge_of = |cd: &str| -> [u8; 32] {
            let v: serde_json::Value = serde_json::from_str(cd).unwrap();
            B64.decode(v["challenge"].as_str().unwrap())
                .unwrap()
                .try_into()
                .unwrap()
        };
        let reg_cd = get("reg_client_data");
        let att = B64.decode(get("attestation_object")).unwrap();
        let cred = webauthn::verify_registration(
            &rp,
            &challenge_of(&reg_cd),
            reg_cd.as_bytes(),
            &att,
            "yubikey",
            NOW,
        )
        .unwrap();
        let cred_id = B64.decode(get("credential_id")).unwrap();
        assert_eq!(cred.id(), cred_id.as_slice());
        assert!(matches!(cred.public_key(), CoseKey::Es256(_)));
        let get_cd = get("get_client_data");
        let ad = B64.decode(get("authenticator_data")).unwrap();
        let sig = B64.decode(get("signature")).unwrap();
        let assertion = kms_intent::PasskeyAssertion {
            credential_id: &cred_id,
            client_data_json: get_cd.as_bytes(),
            authenticator_data: &ad,
            signature: &sig,
        };
        let count =
            webauthn::verify_assertion(&rp, &cred, &challenge_of(&get_cd), &assertion).unwrap();
        assert!(count > cred.sign_count());
        // The same assertion fails for another challenge, another rpId, or with UV required.
        assert_eq!(
            webauthn::verify_assertion(&rp, &cred, &[0; 32], &assertion),
            Err(IntentError::ChallengeMismatch)
        );
        let other = RelyingParty {
            id: "yubico.com".into(),
            ..rp.clone()
        };
        assert_eq!(
            webauthn::verify_assertion(&other, &cred, &challenge_of(&get_cd), &assertion),
            Err(IntentError::RpIdMismatch)
        );
        let uv = RelyingParty {
            require_user_verification: true,
            ..rp.clone()
        };
        assert_eq!(
            webauthn::verify_assertion(&uv, &cred, &challenge_of(&get_cd), &assertion),
            Err(IntentError::UserNotVerified)
        );
        let mut bad_sig = sig.clone();
        let n = bad_sig.len() - 1;
        bad_sig[n] ^= 1;
        let tampered = kms_intent::PasskeyAssertion {
            signature: &bad_sig,
            ..assertion
        };
        assert_eq!(
            webauthn::verify_assertion(&rp, &cred, &challenge_of(&get_cd), &tampered),
            Err(IntentError::PasskeySignatureInvalid)
        );
        seen += 1;
    }
    assert_eq!(seen, 2);
}
