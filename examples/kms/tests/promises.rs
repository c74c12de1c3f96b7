//! The project's promises, one named test each, against the real processes. (Started here; the
//! other promises are checked by the named tests listed in examples/kms/README.md.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use kms_client::{Request, Response};
use kms_core::{KeyStore as _, RecordKind, RecordLocation, UserId};

const DEST: [u8; 32] = [9; 32];

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// With the database files, the audit log, every bus answer and the business logic in the
/// attacker's hands (but not the sealed master key), no key is recovered and no signature made.
#[test]
fn no_one_but_the_user_can_use_the_key() {
    let mut kms = Kms::start();
    let mut c = kms.client();
    // The attacker is the business logic: it sees every answer on the bus.
    let mut bus = Vec::new();
    let created = c.call(&Request::CreateUser { user: 61 }).unwrap();
    bus.extend(serde_json::to_vec(&created).unwrap());
    let Response::UserCreated { address, .. } = created else {
        panic!()
    };
    let msg = transfer_message(b58(&address), DEST, 1_000);
    let asked = c
        .call(&sign_request(
            61,
            msg.clone(),
            sol_params(b58(&address), DEST, 1_000),
        ))
        .unwrap();
    bus.extend(serde_json::to_vec(&asked).unwrap());
    let Response::Pending(p) = asked else {
        panic!()
    };
    // What the business logic gets for a request is a challenge id, never a token.
    assert!(!String::from_utf8_lossy(&bus).contains("token"));
    let tokens = kms.challenge(&p.challenge);
    let signed = decide(&mut c, 61, &tokens.token("Approve")).unwrap();
    bus.extend(serde_json::to_vec(&signed).unwrap());
    kms.stop();

    // The user's secrets, known here from the user's side (the phrase shown once in chat).
    let words: Vec<String> = kms.last_message(61, "seed_phrase")["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    let seed = kms_core::Mnemonic::parse(&words.join(" "))
        .unwrap()
        .to_seed("");
    let wallet = seed
        .solana_wallet(kms_core::SolanaPathScheme::AccountChange, 0)
        .unwrap();
    let private = wallet.reveal_keypair_bytes();

    // The attacker's copy of the data directory: everything but the sealed master key and the
    // dev sealer's key file (which a TPM would hold).
    let data = kms.data_dir();
    let stolen = tempfile::tempdir().unwrap();
    for f in ["keys.redb", "state.redb", "audit.log"] {
        std::fs::copy(data.join(f), stolen.path().join(f)).unwrap();
    }
    // No secret in any stolen byte: not the seed, not the private key, not a phrase word run,
    // not a decision token.
    let phrase_run = words[..3].join(" ");
    for f in ["keys.redb", "state.redb", "audit.log"] {
        let bytes = std::fs::read(stolen.path().join(f)).unwrap();
        for (what, secret) in [
            ("seed", seed.expose_secret().as_slice()),
            ("private key", &private[..32]),
            ("phrase", phrase_run.as_bytes()),
            ("token", tokens.token("Approve").as_bytes()),
        ] {
            assert!(!contains(&bytes, secret), "the {what} is in {f}");
        }
    }
    for secret in [&private[..32], phrase_run.as_bytes()] {
        assert!(!contains(&bus, secret), "a secret crossed the bus");
    }
    // The sealed record does not open under any key the attacker can make.
    let store = kms_core::RedbStore::open(stolen.path().join("keys.redb")).unwrap();
    let at = RecordLocation::new(UserId::new("tg:61").unwrap(), RecordKind::Seed, 0);
    let record = store
        .get(&at)
        .unwrap()
        .expect("the record is in the stolen file");
    for _ in 0..4 {
        let guess = kms_core::MasterKey::generate(1).unwrap();
        assert_eq!(
            kms_core::sign(&record, &guess, &at, 0, &msg).unwrap_err(),
            kms_core::Error::DecryptionFailed
        );
    }
    drop(store);
    // A signer started on the stolen files refuses to run without the sealed master key: it
    // never makes a key of its own over them, so it never signs.
    let state = stolen.path().join("state");
    std::fs::create_dir_all(state.join("signer")).unwrap();
    for f in ["keys.redb", "state.redb", "audit.log"] {
        std::fs::rename(stolen.path().join(f), state.join("signer").join(f)).unwrap();
    }
    let log = state.join("kms.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut child = std::process::Command::new(KMS)
        .arg("dev")
        .arg("--state-dir")
        .arg(&state)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let text = loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        if text.contains("refusing to create a new master key")
            || std::time::Instant::now() > deadline
        {
            break text;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        text.contains("refusing to create a new master key"),
        "{text}"
    );
    assert!(!text.contains("kms signer: ready"), "{text}");
}
