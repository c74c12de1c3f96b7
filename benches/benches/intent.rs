//! kms-intent: challenge create + resolve, TOTP verification, passkey assertion verification.
//!
//! `cargo bench -p kms-benches --bench intent`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::hint::black_box;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use kms_intent::webauthn::{self, PasskeyCredential};
use kms_intent::{
    Action, ChallengeSpec, Factor, FactorProof, PasskeyAssertion, RelyingParty, TotpParams, UserId,
    UserState, request_digest, totp_code,
};
use sha2::{Digest, Sha256};

const NOW: u64 = 1_750_000_000;
const RP_ID: &str = "wallet.example";
const ORIGIN: &str = "https://wallet.example";

fn bench_challenges(c: &mut Criterion) {
    let mut rng = getrandom::SysRng;
    let digest = request_digest(&[7u8; 600], &[1; 32], b"params");
    let spec =
        ChallengeSpec::approve_reject(digest, "Swap 1 SOL for 151.2 USDC on Jupiter", NOW + 300);
    c.bench_function("intent/challenge_create", |b| {
        b.iter_batched(
            || UserState::new(UserId(1)),
            |mut s| black_box(s.create_challenge(&mut rng, &spec, NOW).unwrap()),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("intent/challenge_create_and_resolve", |b| {
        b.iter_batched(
            || UserState::new(UserId(1)),
            |mut s| {
                let issued = s.create_challenge(&mut rng, &spec, NOW).unwrap();
                black_box(
                    s.resolve(issued.buttons[0].token.expose_secret(), NOW + 1)
                        .unwrap(),
                )
            },
            BatchSize::SmallInput,
        )
    });
    // Resolve alone, against a user with 100 open challenges.
    c.bench_function("intent/challenge_resolve_100_open", |b| {
        b.iter_batched(
            || {
                let mut s = UserState::new(UserId(1));
                let mut last = None;
                for _ in 0..100 {
                    last = Some(s.create_challenge(&mut rng, &spec, NOW).unwrap());
                }
                let token = last.unwrap().buttons[0].token.expose_secret().to_owned();
                (s, token)
            },
            |(mut s, token)| black_box(s.resolve(&token, NOW + 1).unwrap()),
            BatchSize::LargeInput,
        )
    });
}

fn bench_totp(c: &mut Criterion) {
    let mut s = UserState::new(UserId(1));
    let auth = s
        .authorize(
            Action::EnableFactor(Factor::Totp),
            &[0; 32],
            &FactorProof::None,
            NOW,
        )
        .unwrap();
    let e = s
        .begin_totp_enrollment(
            &mut getrandom::SysRng,
            TotpParams::default(),
            "kms",
            "u",
            auth,
            NOW,
        )
        .unwrap();
    s.confirm_totp(&totp_code(e.secret(), &TotpParams::default(), NOW), NOW)
        .unwrap();
    let t = NOW + 300;
    let code = totp_code(e.secret(), &TotpParams::default(), t).to_string();
    // Each iteration verifies on a fresh copy (a step is accepted once); the copy is setup.
    c.bench_function("intent/totp_verify", |b| {
        b.iter_batched(
            || s.clone(),
            |mut s| {
                black_box(
                    s.authorize(Action::WithdrawSol, &[1; 32], &FactorProof::Totp(&code), t)
                        .unwrap(),
                )
            },
            BatchSize::SmallInput,
        )
    });
}

/// COSE key bytes for the two algorithms (CTAP2 canonical encoding).
fn cose_es256(point: &[u8]) -> Vec<u8> {
    let mut v = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21, 0x58, 0x20];
    v.extend(&point[1..33]);
    v.extend([0x22, 0x58, 0x20]);
    v.extend(&point[33..65]);
    v
}

fn cose_ed25519(key: &[u8; 32]) -> Vec<u8> {
    let mut v = vec![0xa4, 0x01, 0x01, 0x03, 0x27, 0x20, 0x06, 0x21, 0x58, 0x20];
    v.extend(key);
    v
}

fn register(cose: &[u8], cred_id: &[u8], challenge: &[u8; 32]) -> PasskeyCredential {
    use base64::Engine as _;
    let mut ad = Sha256::digest(RP_ID.as_bytes()).to_vec();
    ad.push(0x45); // UP | UV | AT
    ad.extend(0u32.to_be_bytes());
    ad.extend([0u8; 16]);
    ad.extend((cred_id.len() as u16).to_be_bytes());
    ad.extend(cred_id);
    ad.extend(cose);
    let mut att = vec![0xa3, 0x63];
    att.extend(b"fmt");
    att.push(0x64);
    att.extend(b"none");
    att.push(0x67);
    att.extend(b"attStmt");
    att.push(0xa0);
    att.push(0x68);
    att.extend(b"authData");
    att.extend([0x58, ad.len() as u8]);
    att.extend(&ad);
    let cd = format!(
        r#"{{"type":"webauthn.create","challenge":"{}","origin":"{ORIGIN}"}}"#,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(challenge)
    );
    webauthn::verify_registration(
        &RelyingParty::new(RP_ID),
        challenge,
        cd.as_bytes(),
        &att,
        "k",
        NOW,
    )
    .unwrap()
}

fn assertion_parts(
    challenge: &[u8; 32],
    sign: &dyn Fn(&[u8]) -> Vec<u8>,
) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    use base64::Engine as _;
    let cd = format!(
        r#"{{"type":"webauthn.get","challenge":"{}","origin":"{ORIGIN}","crossOrigin":false}}"#,
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(challenge)
    )
    .into_bytes();
    let mut ad = Sha256::digest(RP_ID.as_bytes()).to_vec();
    ad.push(0x05); // UP | UV
    ad.extend(1u32.to_be_bytes());
    let mut msg = ad.clone();
    msg.extend(Sha256::digest(&cd));
    let sig = sign(&msg);
    (cd, ad, sig)
}

fn bench_passkeys(c: &mut Criterion) {
    let rp = RelyingParty::new(RP_ID);
    let challenge = request_digest(b"tx", &[2; 32], b"p");
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).unwrap();

    let es = p256::ecdsa::SigningKey::from_slice(&seed).unwrap();
    let point = es.verifying_key().to_sec1_point(false);
    let cred = register(&cose_es256(point.as_bytes()), b"es256-credential", &[9; 32]);
    let (cd, ad, sig) = assertion_parts(&challenge, &|m| {
        use p256::ecdsa::signature::Signer;
        let s: p256::ecdsa::Signature = es.sign(m);
        s.to_der().as_bytes().to_vec()
    });
    let a = PasskeyAssertion {
        credential_id: b"es256-credential",
        client_data_json: &cd,
        authenticator_data: &ad,
        signature: &sig,
    };
    c.bench_function("intent/passkey_verify_es256", |b| {
        b.iter(|| black_box(webauthn::verify_assertion(&rp, &cred, &challenge, &a).unwrap()))
    });

    let ed = ed25519_dalek::SigningKey::from_bytes(&seed);
    let cred = register(
        &cose_ed25519(&ed.verifying_key().to_bytes()),
        b"ed25519-credential",
        &[9; 32],
    );
    let (cd, ad, sig) = assertion_parts(&challenge, &|m| {
        use ed25519_dalek::Signer;
        ed.sign(m).to_bytes().to_vec()
    });
    let a = PasskeyAssertion {
        credential_id: b"ed25519-credential",
        client_data_json: &cd,
        authenticator_data: &ad,
        signature: &sig,
    };
    c.bench_function("intent/passkey_verify_ed25519", |b| {
        b.iter(|| black_box(webauthn::verify_assertion(&rp, &cred, &challenge, &a).unwrap()))
    });
}

fn bench_state(c: &mut Criterion) {
    let mut rng = getrandom::SysRng;
    let mut s = UserState::new(UserId(1));
    for i in 0..20u64 {
        let spec = ChallengeSpec::approve_reject(
            request_digest(&i.to_be_bytes(), &[1; 32], b""),
            "Swap",
            NOW + 300,
        );
        s.create_challenge(&mut rng, &spec, NOW).unwrap();
    }
    let bytes = s.encode();
    c.bench_function("intent/state_encode_20_challenges", |b| {
        b.iter(|| black_box(s.encode()))
    });
    c.bench_function("intent/state_decode_20_challenges", |b| {
        b.iter(|| black_box(UserState::decode(&bytes).unwrap()))
    });
}

criterion_group!(
    benches,
    bench_challenges,
    bench_totp,
    bench_passkeys,
    bench_state
);
criterion_main!(benches);
