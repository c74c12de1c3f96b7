//! Writes the seeds of `fuzz/seeds/<target>/` that only the crates' own encoders can make: sealed
//! records, backup files, user states, approval tokens, development sealed blobs, join messages
//! and the reference signer's audit log. (`make_seeds.py` writes the seeds taken from test data.)
//!
//! Run from `fuzz/`: `cargo +nightly run --release --example make_binary_seeds`.
//!
//! Every secret here is a throwaway made for the seeds (fixed bytes or fresh OS randomness); no
//! seed is sealed under a key or at a location a fuzz target tries, so no target can mistake a
//! seed for a forgery it must refuse. Encryptions draw fresh nonces, so a rerun rewrites the
//! sealed seeds with other bytes of the same shape.

// The signer's audit module, compiled in as the kms_audit_log target does.
#[allow(dead_code, unreachable_pub, clippy::all)]
#[path = "../../examples/kms/src/audit.rs"]
mod audit;

use std::fs;
use std::path::{Path, PathBuf};

use kms_core::{
    BackupContents, BackupParams, MasterKey, Mnemonic, RecordKind, RecordLocation, SealedRecord,
    SolanaPathScheme, UserId, WalletKey, WordCount, export_backup,
};
use kms_intent::{
    Action, ChallengeSpec, DecisionKind, DecisionSpec, Factor, FactorProof, IntentTerms,
    SpendRequest, TotpParams, UserState, request_digest, totp_code,
};
use kms_tpm::{JoinHello, JoinMessage, JoinResponse, PcrSelection, Sealer as _, SecretBytes};
use rand::rngs::SysRng;

/// The time every state and log entry is made at (2025-06-15).
const NOW: u64 = 1_750_000_000;

type Fallible<T = ()> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Fallible {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds");
    records(&root.join("core_sealed_record"))?;
    backups(&root.join("core_backup"))?;
    states(&root.join("intent_state"), &root.join("intent_token"))?;
    blobs(&root.join("tpm_sealed_blob"))?;
    join(&root.join("tpm_join_message"))?;
    audit_log(&root.join("kms_audit_log"))?;
    Ok(())
}

fn put(dir: &Path, name: &str, bytes: &[u8]) -> Fallible {
    fs::create_dir_all(dir)?;
    fs::write(dir.join(name), bytes)?;
    Ok(())
}

/// A wallet key from fixed secret bytes, through the `solana-keygen` JSON form.
fn wallet_key(byte: u8) -> Fallible<WalletKey> {
    let signing = kms_core::ed25519_dalek::SigningKey::from_bytes(&[byte; 32]);
    let json = serde_json::to_string(&signing.to_keypair_bytes().to_vec())?;
    Ok(WalletKey::from_keypair_json(&json)?)
}

/// The phrase of BIP-39's first Trezor vector (public, 128 bits of zeros).
const PHRASE: &str = "abandon abandon abandon abandon abandon abandon abandon abandon abandon \
                      abandon abandon about";

fn records(dir: &Path) -> Fallible {
    // The fuzz target opens with key [7; 32] at user "fuzz": these use another key and user.
    let master = MasterKey::from_bytes(&mut [0x42; 32], 3);
    let user = UserId::new("seed-user")?;
    let mnemonic = Mnemonic::parse(PHRASE)?;
    let seed_at = RecordLocation::new(user.clone(), RecordKind::Seed, 0);
    let key_at = RecordLocation::new(user, RecordKind::ImportedKey, 5);
    let sealed = [
        (
            "mnemonic",
            SealedRecord::seal_mnemonic(&master, &seed_at, &mnemonic, "", SolanaPathScheme::Root)?,
        ),
        (
            "mnemonic-passphrase",
            SealedRecord::seal_mnemonic(
                &master,
                &seed_at,
                &Mnemonic::generate(WordCount::TwentyFour)?,
                "TREZOR",
                SolanaPathScheme::AccountChange,
            )?,
        ),
        (
            "seed",
            SealedRecord::seal_seed(
                &master,
                &seed_at,
                &mnemonic.to_seed("x"),
                SolanaPathScheme::Account,
            )?,
        ),
        (
            "imported-key",
            SealedRecord::seal_key(&master, &key_at, &wallet_key(9)?)?,
        ),
    ];
    for (name, record) in sealed {
        put(dir, name, record.as_bytes())?;
    }
    // The target also reads its input as a store key.
    put(dir, "store-key-seed", &seed_at.store_key())?;
    put(dir, "store-key-imported", &key_at.store_key())?;
    Ok(())
}

fn backups(dir: &Path) -> Fallible {
    let params = BackupParams::new(BackupParams::MIN_M_COST_KIB, BackupParams::MIN_T_COST, 1)?;
    let phrase = BackupContents {
        mnemonic: Some(Mnemonic::parse(PHRASE)?),
        raw_seed: None,
        passphrase_needed: true,
        scheme: SolanaPathScheme::AccountChange,
        imported: vec![(1, wallet_key(1)?), (7, wallet_key(2)?)],
    };
    put(
        dir,
        "mnemonic-and-keys",
        &export_backup(&phrase, b"seed password", params)?,
    )?;
    let raw = BackupContents {
        mnemonic: None,
        raw_seed: Some(Mnemonic::parse(PHRASE)?.to_seed("")),
        passphrase_needed: false,
        scheme: SolanaPathScheme::Root,
        imported: Vec::new(),
    };
    put(
        dir,
        "raw-seed",
        &export_backup(&raw, b"another password", params)?,
    )?;
    Ok(())
}

fn digest(n: u64) -> [u8; 32] {
    request_digest(&n.to_be_bytes(), &[0x11; 32], b"params")
}

fn states(dir: &Path, tokens: &Path) -> Fallible {
    let mut rng = SysRng;
    put(dir, "new", &UserState::new(kms_intent::UserId(1)).encode())?;

    let mut s = UserState::new(kms_intent::UserId(1_000_042));
    let open = s.create_challenge(
        &mut rng,
        &ChallengeSpec::approve_reject(digest(1), "Swap 1 SOL for USDC", NOW + 300),
        NOW,
    )?;
    for (i, b) in open.buttons.iter().enumerate() {
        put(
            tokens,
            &format!("token-{i}"),
            b.token.expose_secret().as_bytes(),
        )?;
    }
    put(dir, "open-challenge", &s.encode())?;

    // "Approve and remember": a standing intent, then one use of it.
    let mut spec = ChallengeSpec::approve_reject(digest(2), "Allow up to 5 SOL of DCA", NOW + 300);
    spec.decisions.push(DecisionSpec::new(
        DecisionKind::ApproveAndRemember,
        "Remember",
    ));
    spec.intent = Some(IntentTerms {
        module_hash: [0x22; 32],
        parameters: b"dca:SOL->USDC".to_vec(),
        per_transaction_limit: 10,
        cumulative_limit: 100,
        max_uses: 5,
        valid_until: NOW + 3600,
    });
    let issued = s.create_challenge(&mut rng, &spec, NOW)?;
    put(
        tokens,
        "token-remember",
        issued.buttons[2].token.expose_secret().as_bytes(),
    )?;
    let decided = s.resolve(issued.buttons[2].token.expose_secret(), NOW)?;
    let auth = s.authorize(
        Action::CreateIntent,
        &decided.request_digest,
        &FactorProof::None,
        NOW,
    )?;
    let id = s.create_intent(decided.challenge_id, auth, NOW)?;
    let request = SpendRequest {
        module_hash: &[0x22; 32],
        parameters: b"dca:SOL->USDC",
        amount: 3,
    };
    s.spend(id, &request, NOW)?;
    put(dir, "intent", &s.encode())?;

    // TOTP, recovery codes, a whitelist, failed attempts and a seed backup in progress.
    let params = TotpParams::default();
    let auth = s.authorize(
        Action::EnableFactor(Factor::Totp),
        &digest(3),
        &FactorProof::None,
        NOW,
    )?;
    let enrollment = s.begin_totp_enrollment(&mut rng, params, "kms", "seed", auth, NOW)?;
    s.confirm_totp(&totp_code(enrollment.secret(), &params, NOW), NOW)?;
    let at = NOW + 30;
    let code = totp_code(enrollment.secret(), &params, at);
    let auth = s.authorize(
        Action::ManageRecoveryCodes,
        &digest(4),
        &FactorProof::Totp(&code),
        at,
    )?;
    let _codes = s.generate_recovery_codes(&mut rng, auth)?;
    s.enable_whitelist();
    let at = NOW + 60;
    let code = totp_code(enrollment.secret(), &params, at);
    let auth = s.authorize(
        Action::AddToWhitelist,
        &digest(5),
        &FactorProof::Totp(&code),
        at,
    )?;
    s.add_to_whitelist([5; 32], auth)?;
    let _ = s.resolve("not a token", at);
    let _ = s.authorize(
        Action::WithdrawSol,
        &digest(6),
        &FactorProof::Totp("000000"),
        at,
    );
    s.begin_seed_backup(&mut rng, 24, 3)?;
    put(dir, "every-section", &s.encode())?;
    s.revoke_all_intents(at);
    put(dir, "revoked", &s.encode())?;
    Ok(())
}

fn blobs(dir: &Path) -> Fallible {
    // A key file of its own: the target tries its own development key, never this one.
    let tmp = tempfile::tempdir()?;
    let mut dev = kms_tpm::InsecureDevSealer::with_warning_sink(
        &tmp.path().join("dev.key"),
        Box::new(|_| {}),
    )?;
    for (name, len) in [("dev-master-key", 32), ("dev-empty", 0), ("dev-4096", 4096)] {
        let secret = SecretBytes::from_slice(&vec![0xA5; len]);
        put(dir, name, &dev.seal(&secret)?)?;
    }
    Ok(())
}

/// Join messages of the kinds that carry no TPM output of their own; the EK public area and
/// certificate are kms-tpm's recorded swtpm vectors. (Challenges and requests carry quotes and
/// credential blobs made by a TPM; the long run's corpus holds the fuzzer's own.)
fn join(dir: &Path) -> Fallible {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kms-tpm/tests/data/ek-vectors");
    let hello = JoinHello {
        ek_public: fs::read(data.join("rsa-ca-ek-public.bin"))?,
        ek_certificate: fs::read(data.join("rsa-ca-ek-cert.der"))?,
        ak_public: fs::read(data.join("ecc-ca-ek-public.bin"))?,
        nonce: [0x3c; 32],
        selection: PcrSelection::measured_boot(),
    };
    put(dir, "hello", &JoinMessage::Hello(hello).to_bytes()?)?;
    let response = JoinResponse {
        ephemeral_public: {
            let mut p = [0x11; 65];
            p[0] = 4;
            p
        },
        ciphertext: vec![0x77; 48],
        sponsor_proof: [0x99; 32],
    };
    put(
        dir,
        "response",
        &JoinMessage::Response(response).to_bytes()?,
    )?;
    Ok(())
}

fn audit_log(dir: &Path) -> Fallible {
    use audit::AuditEvent as E;
    let tmp = tempfile::tempdir()?;
    let path = tmp.path().join("audit.log");
    let mut log = audit::AuditLog::open(&path, audit::SyncPolicy::Batched)?;
    let key = audit::AuditKey::derive(&[0x42; 32]);
    let user = key.user_tag(1_000_042);
    let hex = |b: u8| format!("{b:02x}").repeat(32);
    let events = [
        E::SignerStarted {
            instance: "seed-a".into(),
        },
        E::UserCreated {
            user: user.clone(),
            address: "11111111111111111111111111111111".into(),
        },
        E::ChallengeCreated {
            user: user.clone(),
            challenge: "00112233aabbccdd".into(),
            request: hex(1),
        },
        E::ChallengeDecided {
            user: user.clone(),
            challenge: "00112233aabbccdd".into(),
            decision: "approve".into(),
        },
        E::SignatureMade {
            user: user.clone(),
            module: hex(2),
            request: hex(1),
            path: "challenge 00112233aabbccdd".into(),
        },
        E::IntentCreated {
            user: user.clone(),
            intent: 1,
            module: hex(2),
        },
        E::IntentUsed {
            user: user.clone(),
            intent: 1,
            amount: 3,
        },
        E::SignatureDenied {
            user: user.clone(),
            module: hex(2),
            request: hex(3),
            reason: "an instruction was added".into(),
        },
        E::FactorFailed {
            user: user.clone(),
            factor: "totp".into(),
            action: "withdraw_sol".into(),
        },
        E::WhitelistChanged {
            user: user.clone(),
            mint: "So11111111111111111111111111111111111111112".into(),
            added: true,
        },
        E::IntentRevoked { user, intent: 1 },
        E::SignerStopped {
            instance: "seed-a".into(),
        },
    ];
    for (i, event) in events.iter().enumerate() {
        log.append(NOW + i as u64, event)?;
    }
    log.sync()?;
    drop(log);
    let chain = String::from_utf8(fs::read(&path)?)?;
    // The target's property is that no fuzzer-made input verifies as a non-empty chain, so an
    // intact chain cannot be a seed (its prefixes verify too: the chain does not prove its end).
    // A line verifies only byte for byte as written (its hash covers the rest of it), so an input
    // verifies only if it starts with the real entry 1 verbatim: no seed contains it, and no
    // seed contains its hash (a one-byte change must not restore it).
    let first_end = chain.find('\n').ok_or("an empty log")? + 1;
    let hash_at = first_end - 67; // `"hash":"` then 64 hex digits, `"}` and the newline
    let fake = "5eed".repeat(16);
    let replaced = chain.replace(&chain[hash_at..hash_at + 64], &fake);
    put(dir, "chain-entry-1-hash-replaced", replaced.as_bytes())?;
    put(
        dir,
        "chain-without-entry-1",
        &replaced.as_bytes()[first_end..],
    )?;
    Ok(())
}
