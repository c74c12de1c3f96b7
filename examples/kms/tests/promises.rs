//! The project's promises, one named test each, against the real processes (`kms dev`:
//! supervisor, signer, pool and bridge).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use common::*;
use kms_client::{
    Client, ClientError, ErrorKind, ExportWhat, Proof, Request, Response, SecretText,
};
use kms_core::{KeyStore as _, RecordKind, RecordLocation, UserId};
use kms_tpm::Sealer as _;

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
    let (words, seed, private) = phrase_secrets(&kms.last_message(61, "seed_phrase"));

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
    let text = run_dev_until(&state, "refusing to create a new master key");
    assert!(
        text.contains("refusing to create a new master key"),
        "{text}"
    );
    assert!(!text.contains("kms signer: ready"), "{text}");
}

#[test]
fn only_the_user_initiates_and_authorizes() {
    let kms = Kms::start_with(&["--challenge-ttl", "2"]);
    let mut c = kms.client();
    let addr = create_user(&mut c, 5);
    let params = sol_params(b58(&addr), DEST, 1_000_000_000);
    let msg_a = transfer_message(b58(&addr), DEST, 111);
    let msg_b = transfer_message(b58(&addr), DEST, 222);
    let a = pending(c.call(&sign_request(5, msg_a.clone(), params.clone())));
    let b = pending(c.call(&sign_request(5, msg_b.clone(), params.clone())));
    let (ca, cb) = (kms.challenge(&a.challenge), kms.challenge(&b.challenge));

    // Forged: right format, random secret; and a real token with one character changed.
    let mut forged = ca.token("Approve");
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(kind(decide(&mut c, 5, &forged)), ErrorKind::InvalidToken);
    assert_eq!(
        kind(decide(&mut c, 5, "not-a-token")),
        ErrorKind::InvalidToken
    );
    // Another user's token never resolves.
    create_user(&mut c, 6);
    assert_eq!(
        kind(decide(&mut c, 6, &ca.token("Approve"))),
        ErrorKind::InvalidToken
    );

    // The token of request A signs A, whatever the bridge wanted: never B.
    match decide(&mut c, 5, &ca.token("Approve")).unwrap() {
        Response::Signed { signature, .. } => {
            assert!(verifies(&addr, &msg_a, &signature));
            assert!(!verifies(&addr, &msg_b, &signature));
        }
        other => panic!("{other:?}"),
    }

    // B expires unanswered: its right token is now refused as expired.
    std::thread::sleep(Duration::from_millis(3100));
    assert_eq!(
        kind(decide(&mut c, 5, &cb.token("Approve"))),
        ErrorKind::Expired
    );
}

/// Every readable region of `pid` that contains `needle`, as "start-end path".
fn find_in_memory(pid: u32, needle: &[u8]) -> Vec<String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    let mut hits = Vec::new();
    for line in maps.lines() {
        let mut parts = line.split_whitespace();
        let range = parts.next().unwrap();
        let perms = parts.next().unwrap();
        let path = line.split_whitespace().nth(5).unwrap_or("");
        if !perms.starts_with('r') || path == "[vvar]" || path == "[vsyscall]" {
            continue;
        }
        let (a, b) = range.split_once('-').unwrap();
        let (a, b) = (
            u64::from_str_radix(a, 16).unwrap(),
            u64::from_str_radix(b, 16).unwrap(),
        );
        let mut buf = vec![0u8; (b - a) as usize];
        if mem.seek(SeekFrom::Start(a)).is_err() || mem.read_exact(&mut buf).is_err() {
            continue;
        }
        if buf.windows(needle.len()).any(|w| w == needle) {
            hits.push(format!("{range} {perms} {path}"));
        }
    }
    hits
}

#[test]
fn keys_live_in_memory_only_while_signing() {
    let kms = Kms::start();
    let mut c = kms.client();
    let addr = create_user(&mut c, 4242);
    // Sign a few times (challenge path) so keys have been decrypted and used.
    for i in 0..3 {
        let msg = transfer_message(b58(&addr), DEST, 100 + i);
        let p = pending(c.call(&sign_request(
            4242,
            msg,
            sol_params(b58(&addr), DEST, 1_000),
        )));
        let token = kms.challenge(&p.challenge).token("Approve");
        assert!(matches!(
            decide(&mut c, 4242, &token).unwrap(),
            Response::Signed { .. }
        ));
    }
    // What an attacker would look for. The master key: unsealed here with the dev sealer's key
    // file (which is why dev mode is insecure).
    let data = kms.data_dir();
    let mut sealer = kms_tpm::InsecureDevSealer::with_warning_sink(
        &data.join("dev-sealer.key"),
        Box::new(|_| {}),
    )
    .unwrap();
    let master = sealer
        .unseal(&std::fs::read(data.join("master.blob")).unwrap())
        .unwrap();
    // The user's seed and wallet 0's private key, from the phrase shown once in chat.
    let words: Vec<String> = kms.last_message(4242, "seed_phrase")["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    let phrase = kms_core::Mnemonic::parse(&words.join(" ")).unwrap();
    let seed = phrase.to_seed("");
    let wallet = seed
        .solana_wallet(kms_core::SolanaPathScheme::AccountChange, 0)
        .unwrap();
    assert_eq!(wallet.address().to_string(), addr);
    let wallet_secret = wallet.reveal_keypair_bytes();

    let pid = kms.signer_pid();
    // The scan can find things: the wallet's public key is in the signer's memory.
    assert!(
        !find_in_memory(pid, &b58(&addr)).is_empty(),
        "the scan reads nothing"
    );
    for (what, needle) in [
        ("the master key", master.expose_secret()),
        ("the user's seed", seed.expose_secret().as_slice()),
        ("wallet 0's private key", &wallet_secret[..32]),
    ] {
        let hits = find_in_memory(pid, needle);
        assert!(
            hits.is_empty(),
            "{what} is in the signer's memory at {hits:?}"
        );
    }
}

#[test]
fn nothing_acknowledged_is_lost() {
    let kms = Kms::start();
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let workers: Vec<_> = (0..6u64)
        .map(|w| {
            let socket = kms.socket();
            let stop = Arc::clone(&stop);
            let acks = Arc::clone(&acks);
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let mut c = None;
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let user = 1_000_000 * (w + 1) + n;
                    n += 1;
                    if c.is_none() {
                        c = Client::connect(&socket).ok();
                        if c.is_none() {
                            std::thread::sleep(Duration::from_millis(10));
                            continue;
                        }
                    }
                    match c.as_mut().unwrap().call(&Request::CreateUser { user }) {
                        Ok(Response::UserCreated { address, .. }) => {
                            acked.push((user, address));
                            acks.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(other) => panic!("{other:?}"),
                        // Not acknowledged: it may or may not exist; nothing is promised.
                        Err(ClientError::Remote(_)) => {}
                        Err(_) => c = None,
                    }
                }
                acked
            })
        })
        .collect();
    // Three SIGKILLs at random moments (100 to 900 ms apart, from the OS RNG).
    let mut killed = Vec::new();
    for _ in 0..3 {
        let mut r = [0u8; 2];
        getrandom::fill(&mut r).unwrap();
        std::thread::sleep(Duration::from_millis(
            100 + u64::from(u16::from_le_bytes(r)) % 800,
        ));
        kms.wait_ready();
        killed.push(kill_signer(&kms));
    }
    killed.dedup();
    assert_eq!(
        killed.len(),
        3,
        "the supervisor started a new signer each time"
    );
    // Load after the last restart too; on a busy machine (CI beside other work) until enough
    // users were acknowledged for the check below to mean something.
    std::thread::sleep(Duration::from_millis(300));
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while acks.load(Ordering::Relaxed) <= 20 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<(u64, String)> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(acked.len() > 20, "too little load: {} users", acked.len());
    kms.wait_ready();
    assert!(kms.log_text().contains("restarting"), "{}", kms.log_text());

    let socket = kms.socket();
    let mut c = None;
    for (user, address) in &acked {
        match call_retrying(&socket, &mut c, &Request::ListWallets { user: *user }).unwrap() {
            Response::Wallets { wallets } => {
                assert_eq!(&wallets[0].address, address, "user {user}")
            }
            other => panic!("user {user}: {other:?}"),
        }
    }
    // And every acknowledged key still signs (a sample, through the user's approval).
    let mut c = kms.client();
    for (user, address) in acked.iter().step_by(acked.len() / 10 + 1) {
        let msg = transfer_message(b58(address), DEST, 5);
        let p = pending(c.call(&sign_request(
            *user,
            msg.clone(),
            sol_params(b58(address), DEST, 5),
        )));
        let token = kms.challenge(&p.challenge).token("Approve");
        match decide(&mut c, *user, &token).unwrap() {
            Response::Signed { signature, .. } => assert!(verifies(address, &msg, &signature)),
            other => panic!("{other:?}"),
        }
    }
}

/// With the chat account (the buttons) but not the second factor, a thief can neither withdraw
/// SOL, export the keys nor whitelist a token, and repeated guesses lock the factor.
#[test]
fn a_stolen_chat_account_cannot_drain() {
    let kms = Kms::start();
    let mut c = kms.client();
    let addr = create_user(&mut c, 62);
    // The user enables TOTP (its secret goes to the user's chat and app only).
    assert!(matches!(
        c.call(&Request::EnableTotp {
            user: 62,
            proof: None
        })
        .unwrap(),
        Response::TotpEnrollmentSent { .. }
    ));
    let uri = kms.last_message(62, "totp_enrollment")["otpauth_uri"]
        .as_str()
        .unwrap()
        .to_string();
    let secret = totp_secret_from_uri(&uri);
    let now = unix_now();
    let code = kms_intent::totp_code(&secret, &kms_intent::TotpParams::default(), now - 30);
    c.call(&Request::ConfirmTotp {
        user: 62,
        code: SecretText::new(code.as_str()),
    })
    .unwrap();

    // The thief owns the chat: it can start requests and press every button, without the code.
    let try_all = |c: &mut Client, token: &str| -> ErrorKind {
        let mut last = kind(decide(c, 62, token));
        for guess in ["000000", "123456", "999999"] {
            if last != ErrorKind::SecondFactorRequired {
                break;
            }
            last = kind(c.call(&Request::Decide {
                user: 62,
                token: SecretText::new(token),
                proof: Some(Proof::Totp {
                    code: SecretText::new(guess),
                }),
            }));
        }
        last
    };
    let withdraw = pending(c.call(&sign_request(
        62,
        transfer_message(b58(&addr), [0x66; 32], 1_000_000_000),
        sol_params(b58(&addr), [0x66; 32], 1_000_000_000),
    )));
    let export = pending(c.call(&Request::Export {
        user: 62,
        what: ExportWhat::Seed,
    }));
    let whitelist = pending(c.call(&Request::WhitelistAdd {
        user: 62,
        mint: bs58::encode([0x77u8; 32]).into_string(),
    }));
    for p in [&withdraw, &export, &whitelist] {
        let token = kms.challenge(&p.challenge).token("Approve");
        let k = try_all(&mut c, &token);
        assert!(
            matches!(
                k,
                ErrorKind::SecondFactorRequired | ErrorKind::RateLimited | ErrorKind::Locked
            ),
            "{k:?}"
        );
    }
    // Keep guessing: throttled, then locked; then even the right code is refused.
    let token = kms.challenge(&withdraw.challenge).token("Approve");
    let mut last = ErrorKind::SecondFactorRequired;
    for guess in 0..40u32 {
        last = kind(c.call(&Request::Decide {
            user: 62,
            token: SecretText::new(token.clone()),
            proof: Some(Proof::Totp {
                code: SecretText::new(format!("{:06}", 200_000 + guess)),
            }),
        }));
        if last == ErrorKind::Locked {
            break;
        }
    }
    assert!(
        matches!(last, ErrorKind::RateLimited | ErrorKind::Locked),
        "{last:?}"
    );
    let code = kms_intent::totp_code(&secret, &kms_intent::TotpParams::default(), now);
    assert!(
        c.call(&Request::Decide {
            user: 62,
            token: SecretText::new(token),
            proof: Some(Proof::Totp {
                code: SecretText::new(code.as_str()),
            }),
        })
        .is_err()
    );
    // Nothing was signed, exported or whitelisted.
    match c.call(&Request::AuditTail { count: 1000 }).unwrap() {
        Response::AuditLines { lines } => {
            for event in ["signature_made", "exported", "whitelist_changed"] {
                assert!(
                    lines.iter().all(|l| !l.contains(event)),
                    "{event} in {lines:?}"
                );
            }
        }
        other => panic!("{other:?}"),
    }
}

/// Every built-in module, through the processes: the workspace's typical transaction of each
/// (kms-benches' fixtures, built for the user's wallet) reaches the user as a challenge, and the
/// same transaction with an instruction added, removed, moved or changed is refused by the module
/// before anything reaches the user.
#[test]
fn every_signature_matches_the_intent() {
    use kms_constraints::{HostConfig, Registry};
    use solana_message::VersionedMessage;

    let kms = Kms::start();
    let mut c = kms.client();
    let addr = create_user(&mut c, 71);
    let registry = Registry::with_builtins(HostConfig::default()).unwrap();
    let fixtures = kms_benches::constraints::fixtures_for(&registry, b58(&addr), [0xAB; 32]);
    let mut covered: Vec<&str> = fixtures.iter().map(|f| f.module).collect();
    covered.sort_unstable();
    assert_eq!(
        covered,
        [
            "jupiter-v6-route",
            "pumpfun-trade",
            "pumpswap-trade",
            "raydium-v4-swap",
            "sol-withdraw",
            "token-withdraw"
        ]
    );
    let request = |module: &str, params: &[u8], message: Vec<u8>, lookup: &[[u8; 32]]| {
        Request::Sign(kms_client::SignRequest {
            user: 71,
            wallet: kms_client::WalletRef::Derived(0),
            module: module.into(),
            params: kms_client::Bytes(params.to_vec()),
            message: kms_client::Bytes(message),
            lookup: lookup
                .iter()
                .map(|k| bs58::encode(k).into_string())
                .collect(),
            claimed_description: None,
        })
    };
    for f in &fixtures {
        let accepted = pending(c.call(&request(f.module, &f.params, f.message.clone(), &f.loaded)));
        assert!(
            accepted.description.contains(f.module),
            "{}",
            accepted.description
        );
        let original: VersionedMessage = bincode::deserialize(&f.message).unwrap();
        // The module's action (a swap, a buy, a transfer): its instruction is the one mutated,
        // since a shape may allow optional steps around it (compute budget, creating or closing
        // the user's own token accounts).
        let program = match f.module {
            "sol-withdraw" => "11111111111111111111111111111111",
            "token-withdraw" => "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
            "raydium-v4-swap" => "675kPX9MHTjS2zt1qfr1NYHuzeLXfQM9H24wFSUt1Mp8",
            "pumpfun-trade" => "6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P",
            "pumpswap-trade" => "pAMMBay6oceH9fJKBRHGP5D4bD4sWpmSwMn52FMfXEA",
            "jupiter-v6-route" => "JUP6LkbZbjS1jKKwapdHNy74zcZ3tLUZoi5QNyVTaV4",
            other => panic!("no action program known for {other}"),
        };
        let keys: Vec<String> = original
            .static_account_keys()
            .iter()
            .map(|k| k.to_string())
            .collect();
        let action = |ixs: &[solana_message::compiled_instruction::CompiledInstruction]| {
            ixs.iter()
                .rposition(|ix| keys[usize::from(ix.program_id_index)] == program)
                .unwrap_or_else(|| panic!("{}: no instruction of {program}", f.module))
        };
        let mutate = |change: &dyn Fn(
            &mut Vec<solana_message::compiled_instruction::CompiledInstruction>,
            usize,
        )| {
            let mut m = original.clone();
            let ixs = match &mut m {
                VersionedMessage::Legacy(l) => &mut l.instructions,
                VersionedMessage::V0(v) => &mut v.instructions,
                other => panic!("a fixture in a message format the signer refuses: {other:?}"),
            };
            let at = action(ixs);
            change(ixs, at);
            bincode::serialize(&m).unwrap()
        };
        let variants: [(&str, Vec<u8>); 4] = [
            (
                "the action added twice",
                mutate(&|ixs, at| {
                    let again = ixs[at].clone();
                    ixs.insert(at + 1, again);
                }),
            ),
            (
                "the action removed",
                mutate(&|ixs, at| {
                    ixs.remove(at);
                }),
            ),
            (
                "the action moved first",
                mutate(&|ixs, at| {
                    let action = ixs.remove(at);
                    ixs.insert(0, action);
                }),
            ),
            (
                "the action changed (its first data byte)",
                mutate(&|ixs, at| {
                    ixs[at].data[0] ^= 0xFF;
                }),
            ),
        ];
        // The accepted request's challenge reaches the user (the pool writes asynchronously:
        // wait for it before counting).
        kms.challenge(&accepted.challenge);
        let inbox_before = kms.inbox().len();
        for (what, message) in variants {
            match c.call(&request(f.module, &f.params, message, &f.loaded)) {
                Err(ClientError::Remote(e)) => assert_eq!(
                    e.kind,
                    ErrorKind::ShapeRefused,
                    "{} with {what}: {}",
                    f.module,
                    e.message
                ),
                other => panic!("{} with {what} was not refused: {other:?}", f.module),
            }
        }
        // Nothing of the refused requests reached the user.
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(kms.inbox().len(), inbox_before, "{}", f.module);
    }
}
