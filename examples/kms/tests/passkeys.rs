//! Passkeys through the real processes, with a software Ed25519 authenticator: registration
//! becomes a factor only when the user approves it in chat, and a withdrawal is then approved
//! with an assertion over the challenge's request digest.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use base64::Engine as _;
use common::*;
use ed25519_dalek::{Signer as _, SigningKey};
use kms_client::{Bytes, ErrorKind, Proof, Request, Response, SecretText};
use sha2::{Digest, Sha256};

const DEST: [u8; 32] = [9; 32];
const ORIGIN: &str = "https://localhost";

/// Just enough CBOR for a `none` attestation object and an Ed25519 COSE key.
enum Cbor {
    Int(i64),
    Bytes(Vec<u8>),
    Text(&'static str),
    Map(Vec<(Cbor, Cbor)>),
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    match n {
        0..=23 => out.push(major << 5 | n as u8),
        24..=0xff => out.extend_from_slice(&[major << 5 | 24, n as u8]),
        _ => {
            out.push(major << 5 | 25);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
}

impl Cbor {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Cbor::Int(i) if *i >= 0 => head(out, 0, *i as u64),
            Cbor::Int(i) => head(out, 1, (-1 - *i) as u64),
            Cbor::Bytes(b) => {
                head(out, 2, b.len() as u64);
                out.extend_from_slice(b);
            }
            Cbor::Text(t) => {
                head(out, 3, t.len() as u64);
                out.extend_from_slice(t.as_bytes());
            }
            Cbor::Map(m) => {
                head(out, 5, m.len() as u64);
                for (k, v) in m {
                    k.encode(out);
                    v.encode(out);
                }
            }
        }
    }
}

struct Authenticator {
    key: SigningKey,
    id: Vec<u8>,
    counter: u32,
}

impl Authenticator {
    fn new() -> Self {
        Self {
            key: SigningKey::from_bytes(&[0x42; 32]),
            id: b"soft-passkey-1".to_vec(),
            counter: 0,
        }
    }

    fn client_data(ty: &str, challenge: &[u8]) -> Vec<u8> {
        let c = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(challenge);
        format!(r#"{{"type":"{ty}","challenge":"{c}","origin":"{ORIGIN}","crossOrigin":false}}"#)
            .into_bytes()
    }

    fn auth_data(&self, attested: bool) -> Vec<u8> {
        let mut ad = Sha256::digest(b"localhost").to_vec();
        ad.push(0x01 | 0x04 | if attested { 0x40 } else { 0 }); // UP, UV, AT
        ad.extend_from_slice(&self.counter.to_be_bytes());
        if attested {
            ad.extend_from_slice(&[0; 16]); // AAGUID
            ad.extend_from_slice(&(self.id.len() as u16).to_be_bytes());
            ad.extend_from_slice(&self.id);
            let cose = Cbor::Map(vec![
                (Cbor::Int(1), Cbor::Int(1)),  // kty OKP
                (Cbor::Int(3), Cbor::Int(-8)), // alg EdDSA
                (Cbor::Int(-1), Cbor::Int(6)), // crv Ed25519
                (
                    Cbor::Int(-2),
                    Cbor::Bytes(self.key.verifying_key().to_bytes().to_vec()),
                ),
            ]);
            cose.encode(&mut ad);
        }
        ad
    }

    /// `(clientDataJSON, attestationObject)` of a registration for `challenge`.
    fn register(&self, challenge: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let mut att = Vec::new();
        Cbor::Map(vec![
            (Cbor::Text("fmt"), Cbor::Text("none")),
            (Cbor::Text("attStmt"), Cbor::Map(vec![])),
            (Cbor::Text("authData"), Cbor::Bytes(self.auth_data(true))),
        ])
        .encode(&mut att);
        (Self::client_data("webauthn.create", challenge), att)
    }

    fn assert(&mut self, challenge: &[u8]) -> Proof {
        self.counter += 1;
        let cd = Self::client_data("webauthn.get", challenge);
        let ad = self.auth_data(false);
        let mut signed = ad.clone();
        signed.extend_from_slice(&Sha256::digest(&cd));
        Proof::Passkey {
            credential_id: Bytes(self.id.clone()),
            client_data_json: Bytes(cd),
            authenticator_data: Bytes(ad),
            signature: Bytes(self.key.sign(&signed).to_bytes().to_vec()),
        }
    }
}

#[test]
fn passkey_is_registered_by_the_users_decision_and_approves_withdrawals() {
    let kms = Kms::start();
    let mut c = kms.client();
    let addr = create_user(&mut c, 950);
    let mut authenticator = Authenticator::new();

    let Response::PasskeyChallenge { challenge, rp_id } =
        c.call(&Request::BeginPasskey { user: 950 }).unwrap()
    else {
        panic!()
    };
    assert_eq!(rp_id, "localhost");
    let (cd, att) = authenticator.register(&challenge.0);
    let p = pending(c.call(&Request::RegisterPasskey {
        user: 950,
        client_data_json: Bytes(cd),
        attestation_object: Bytes(att),
        label: "laptop".into(),
    }));
    let ch = kms.challenge(&p.challenge);
    assert!(ch.description.contains("laptop"), "{}", ch.description);
    // The business logic cannot approve its own registration: a forged token does nothing, and
    // an export (which needs an enabled factor) is still refused.
    assert_eq!(
        kind(decide(&mut c, 950, &"1".repeat(56))),
        ErrorKind::InvalidToken
    );
    assert_eq!(
        kind(c.call(&Request::Export {
            user: 950,
            what: kms_client::ExportWhat::Seed,
        })),
        ErrorKind::SecondFactorRequired
    );
    assert!(matches!(
        decide(&mut c, 950, &ch.token("Approve")).unwrap(),
        Response::Done { .. }
    ));

    // A withdrawal now needs the passkey: an assertion over the challenge's request digest.
    let msg = transfer_message(b58(&addr), DEST, 77);
    let p = pending(c.call(&sign_request(
        950,
        msg.clone(),
        sol_params(b58(&addr), DEST, 100),
    )));
    let token = kms.challenge(&p.challenge).token("Approve");
    assert_eq!(
        kind(decide(&mut c, 950, &token)),
        ErrorKind::SecondFactorRequired
    );
    // An assertion over another digest is refused.
    let wrong = authenticator.assert(&[7; 32]);
    assert_eq!(
        kind(c.call(&Request::Decide {
            user: 950,
            token: SecretText::new(token.clone()),
            proof: Some(wrong),
        })),
        ErrorKind::SecondFactorRequired
    );
    let digest = hex::decode(&p.request_digest).unwrap();
    let proof = authenticator.assert(&digest);
    match c
        .call(&Request::Decide {
            user: 950,
            token: SecretText::new(token),
            proof: Some(proof.clone()),
        })
        .unwrap()
    {
        Response::Signed { signature, .. } => assert!(verifies(&addr, &msg, &signature)),
        other => panic!("{other:?}"),
    }
    // The same assertion replayed on a new challenge is refused.
    let p = pending(c.call(&sign_request(
        950,
        transfer_message(b58(&addr), DEST, 78),
        sol_params(b58(&addr), DEST, 100),
    )));
    let token = kms.challenge(&p.challenge).token("Approve");
    assert_eq!(
        kind(c.call(&Request::Decide {
            user: 950,
            token: SecretText::new(token),
            proof: Some(proof),
        })),
        ErrorKind::SecondFactorRequired
    );
}
