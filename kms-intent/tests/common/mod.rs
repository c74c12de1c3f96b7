//! Helpers shared by the integration tests: RNGs and a software WebAuthn authenticator.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::panic
)]

use kms_intent::{ChallengeSpec, UserId, UserState, request_digest};
use rand::SeedableRng;
use rand::rngs::StdRng;
use sha2::{Digest, Sha256};

/// A deterministic CSPRNG for reproducible tests.
pub fn seeded(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// The OS RNG, as production code uses it.
pub fn os_rng() -> rand::rngs::SysRng {
    rand::rngs::SysRng
}

pub const NOW: u64 = 1_750_000_000;

pub fn digest(n: u64) -> [u8; 32] {
    request_digest(&n.to_be_bytes(), &[0x11; 32], b"params")
}

pub fn spec(n: u64) -> ChallengeSpec {
    ChallengeSpec::approve_reject(digest(n), format!("Swap {n} SOL for USDC"), NOW + 300)
}

pub fn state(user: u64) -> UserState {
    UserState::new(UserId(user))
}

// ---------------------------------------------------------------- minimal CBOR encoder

pub enum Cbor {
    Uint(u64),
    Neg(i64),
    Bytes(Vec<u8>),
    Text(String),
    Array(Vec<Cbor>),
    Map(Vec<(Cbor, Cbor)>),
}

fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    if n < 24 {
        out.push(m | n as u8);
    } else if n <= 0xff {
        out.extend([m | 24, n as u8]);
    } else if n <= 0xffff {
        out.push(m | 25);
        out.extend((n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(m | 26);
        out.extend((n as u32).to_be_bytes());
    } else {
        out.push(m | 27);
        out.extend(n.to_be_bytes());
    }
}

impl Cbor {
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Cbor::Uint(n) => head(out, 0, *n),
            Cbor::Neg(n) => head(out, 1, (-1 - *n) as u64),
            Cbor::Bytes(b) => {
                head(out, 2, b.len() as u64);
                out.extend(b);
            }
            Cbor::Text(t) => {
                head(out, 3, t.len() as u64);
                out.extend(t.as_bytes());
            }
            Cbor::Array(items) => {
                head(out, 4, items.len() as u64);
                for i in items {
                    i.encode(out);
                }
            }
            Cbor::Map(entries) => {
                head(out, 5, entries.len() as u64);
                for (k, v) in entries {
                    k.encode(out);
                    v.encode(out);
                }
            }
        }
    }
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.encode(&mut v);
        v
    }
}

// ---------------------------------------------------------------- software authenticator

pub enum SoftKey {
    Es256(p256::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

/// A software WebAuthn authenticator: real keys, real signatures over
/// `authenticatorData || SHA-256(clientDataJSON)`.
pub struct SoftAuthenticator {
    pub key: SoftKey,
    pub credential_id: Vec<u8>,
    pub counter: u32,
    /// Whether to increment the counter per signature (synced passkeys often keep it at 0).
    pub counting: bool,
    pub flags: u8,
}

pub const UP: u8 = 0x01;
pub const UV: u8 = 0x04;
pub const AT: u8 = 0x40;

fn random32() -> [u8; 32] {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b).unwrap();
    b
}

impl SoftAuthenticator {
    pub fn es256() -> Self {
        let key = loop {
            if let Ok(k) = p256::ecdsa::SigningKey::from_slice(&random32()) {
                break k;
            }
        };
        Self::with_key(SoftKey::Es256(key))
    }

    pub fn ed25519() -> Self {
        Self::with_key(SoftKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(
            &random32(),
        )))
    }

    fn with_key(key: SoftKey) -> Self {
        Self {
            key,
            credential_id: random32()[..16].to_vec(),
            counter: 0,
            counting: true,
            flags: UP | UV,
        }
    }

    pub fn cose_key(&self) -> Vec<u8> {
        match &self.key {
            SoftKey::Es256(k) => {
                let point = k.verifying_key().to_sec1_point(false);
                let b = point.as_bytes();
                Cbor::Map(vec![
                    (Cbor::Uint(1), Cbor::Uint(2)),
                    (Cbor::Uint(3), Cbor::Neg(-7)),
                    (Cbor::Neg(-1), Cbor::Uint(1)),
                    (Cbor::Neg(-2), Cbor::Bytes(b[1..33].to_vec())),
                    (Cbor::Neg(-3), Cbor::Bytes(b[33..65].to_vec())),
                ])
                .to_vec()
            }
            SoftKey::Ed25519(k) => Cbor::Map(vec![
                (Cbor::Uint(1), Cbor::Uint(1)),
                (Cbor::Uint(3), Cbor::Neg(-8)),
                (Cbor::Neg(-1), Cbor::Uint(6)),
                (
                    Cbor::Neg(-2),
                    Cbor::Bytes(k.verifying_key().to_bytes().to_vec()),
                ),
            ])
            .to_vec(),
        }
    }

    pub fn client_data(ty: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
        use base64::Engine as _;
        let c = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(challenge);
        format!(r#"{{"type":"{ty}","challenge":"{c}","origin":"{origin}","crossOrigin":false}}"#)
            .into_bytes()
    }

    pub fn auth_data(&self, rp_id: &str, flags: u8, counter: u32, attested: bool) -> Vec<u8> {
        let mut ad = Sha256::digest(rp_id.as_bytes()).to_vec();
        ad.push(flags | if attested { AT } else { 0 });
        ad.extend(counter.to_be_bytes());
        if attested {
            ad.extend([0u8; 16]);
            ad.extend((self.credential_id.len() as u16).to_be_bytes());
            ad.extend(&self.credential_id);
            ad.extend(self.cose_key());
        }
        ad
    }

    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match &self.key {
            SoftKey::Es256(k) => {
                use p256::ecdsa::signature::Signer;
                let sig: p256::ecdsa::Signature = k.sign(msg);
                sig.to_der().as_bytes().to_vec()
            }
            SoftKey::Ed25519(k) => {
                use ed25519_dalek::Signer;
                k.sign(msg).to_bytes().to_vec()
            }
        }
    }

    /// `navigator.credentials.create()`: (clientDataJSON, attestationObject) with "none".
    pub fn register(&mut self, rp_id: &str, origin: &str, challenge: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let cd = Self::client_data("webauthn.create", challenge, origin);
        let ad = self.auth_data(rp_id, self.flags, self.counter, true);
        let att = Cbor::Map(vec![
            (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
            (Cbor::Text("attStmt".into()), Cbor::Map(vec![])),
            (Cbor::Text("authData".into()), Cbor::Bytes(ad)),
        ])
        .to_vec();
        (cd, att)
    }

    /// `navigator.credentials.get()`: (clientDataJSON, authenticatorData, signature).
    pub fn assert(&mut self, rp_id: &str, origin: &str, challenge: &[u8]) -> Assertion {
        if self.counting {
            self.counter += 1;
        }
        let cd = Self::client_data("webauthn.get", challenge, origin);
        self.assert_raw(rp_id, cd, self.flags, self.counter)
    }

    /// An assertion with every part chosen by the caller, signed for real.
    pub fn assert_raw(
        &self,
        rp_id: &str,
        client_data: Vec<u8>,
        flags: u8,
        counter: u32,
    ) -> Assertion {
        let ad = self.auth_data(rp_id, flags, counter, false);
        let mut msg = ad.clone();
        msg.extend(Sha256::digest(&client_data));
        let signature = self.sign(&msg);
        Assertion {
            credential_id: self.credential_id.clone(),
            client_data,
            auth_data: ad,
            signature,
        }
    }
}

pub struct Assertion {
    pub credential_id: Vec<u8>,
    pub client_data: Vec<u8>,
    pub auth_data: Vec<u8>,
    pub signature: Vec<u8>,
}

impl Assertion {
    pub fn as_ref(&self) -> kms_intent::PasskeyAssertion<'_> {
        kms_intent::PasskeyAssertion {
            credential_id: &self.credential_id,
            client_data_json: &self.client_data,
            authenticator_data: &self.auth_data,
            signature: &self.signature,
        }
    }
}

// ---------------------------------------------------------------- in-memory persistence

/// A persistence layer in memory (stands in for the signer's sealed-record store), with a switch
/// that makes writes fail.
#[derive(Default)]
pub struct MemPersistence {
    pub records: std::sync::Mutex<std::collections::HashMap<UserId, Vec<u8>>>,
    pub fail_writes: std::sync::atomic::AtomicBool,
    pub writes: std::sync::atomic::AtomicUsize,
}

impl kms_intent::Persistence for MemPersistence {
    fn load(&self, user: UserId) -> Result<Option<Vec<u8>>, kms_intent::IntentError> {
        Ok(self.records.lock().unwrap().get(&user).cloned())
    }
    fn store(&self, user: UserId, state: &[u8]) -> Result<(), kms_intent::IntentError> {
        if self.fail_writes.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(kms_intent::IntentError::Persistence("disk full".into()));
        }
        self.writes
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.records.lock().unwrap().insert(user, state.to_vec());
        Ok(())
    }
}

/// Creates an intent through the full flow: challenge with terms, "approve and remember",
/// authorization of CreateIntent without a factor (none enabled).
pub fn make_intent(
    s: &mut UserState,
    terms: kms_intent::IntentTerms,
    now: u64,
) -> kms_intent::IntentId {
    use kms_intent::{Action, DecisionKind, DecisionSpec, FactorProof};
    let mut sp =
        ChallengeSpec::approve_reject(digest(777), "Allow up to 5 SOL of DCA buys", now + 300);
    sp.decisions.push(DecisionSpec::new(
        DecisionKind::ApproveAndRemember,
        "Approve and remember",
    ));
    sp.intent = Some(terms);
    let issued = s.create_challenge(&mut os_rng(), &sp, now).unwrap();
    let r = s
        .resolve(issued.buttons[2].token.expose_secret(), now)
        .unwrap();
    let auth = s
        .authorize(
            Action::CreateIntent,
            &r.request_digest,
            &FactorProof::None,
            now,
        )
        .unwrap();
    s.create_intent(r.challenge_id, auth, now).unwrap()
}

pub fn terms(per_tx: u64, cumulative: u64, uses: u32) -> kms_intent::IntentTerms {
    kms_intent::IntentTerms {
        module_hash: [0x22; 32],
        parameters: b"dca:SOL->USDC".to_vec(),
        per_transaction_limit: per_tx,
        cumulative_limit: cumulative,
        max_uses: uses,
        valid_until: NOW + 3600,
    }
}
