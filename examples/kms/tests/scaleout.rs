//! Several instances on NATS JetStream (a real `nats-server -js` on 127.0.0.1, started and
//! stopped here): the bus on NATS, sealed records replicated through JetStream KV with
//! revision-checked writes, catch-up after a crash, no double spend across instances, and no
//! plaintext secret anywhere on NATS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/nats.rs"]
mod nats;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::*;
use kms_client::proto::IntentProposal;
use kms_client::{Bytes, ClientError, ErrorKind, Request, Response, WalletRef};
use nats::{BusError, NatsBus, NatsServer, Spy, cluster};

const DEST: [u8; 32] = [9; 32];

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// The ways a secret could be written down: raw, hex, base64, base58.
fn spellings(secret: &[u8]) -> Vec<Vec<u8>> {
    vec![
        secret.to_vec(),
        hex::encode(secret).into_bytes(),
        base64::engine::general_purpose::STANDARD
            .encode(secret)
            .into_bytes(),
        bs58::encode(secret).into_string().into_bytes(),
    ]
}

fn create_on_bus(bus: &mut NatsBus, user: u64) -> String {
    match bus.call(&Request::CreateUser { user }).unwrap() {
        Response::UserCreated { address, .. } => address,
        other => panic!("{other:?}"),
    }
}

/// A wallet created on A (through NATS) signs on B; everything NATS carried and JetStream holds
/// is sealed: no seed, private key, phrase or decision token in any byte.
#[test]
fn a_wallet_created_on_one_instance_signs_on_another_and_nats_sees_only_sealed_bytes() {
    let nats = NatsServer::start();
    let spy = Spy::start(&nats.url());
    let root = tempfile::tempdir().unwrap();
    let kms = cluster(root.path(), &nats, 2);
    let (a, b) = (&kms[0], &kms[1]);

    // Created on A's Unix socket, then on the NATS bus (either instance may serve it).
    let mut ca = a.client();
    let addr = create_user(&mut ca, 71);
    let mut bus = NatsBus::connect(&nats.url());
    let addr2 = create_on_bus(&mut bus, 72);

    // Signed on B: B has never seen user 71; its key record and states come from JetStream.
    let mut cb = b.client();
    let msg = transfer_message(b58(&addr), DEST, 5_000);
    let p = pending(cb.call(&sign_request(
        71,
        msg.clone(),
        sol_params(b58(&addr), DEST, 10_000),
    )));
    let ch = b.challenge(&p.challenge);
    let token = ch.token("Approve");
    match decide(&mut cb, 71, &token).unwrap() {
        Response::Signed { signature, .. } => assert!(verifies(&addr, &msg, &signature)),
        other => panic!("{other:?}"),
    }
    // The same on the NATS bus for the user created there.
    let msg2 = transfer_message(b58(&addr2), DEST, 6_000);
    let p2 = match bus
        .call(&sign_request(
            72,
            msg2.clone(),
            sol_params(b58(&addr2), DEST, 10_000),
        ))
        .unwrap()
    {
        Response::Pending(p) => p,
        other => panic!("{other:?}"),
    };
    // The instance that served it wrote the challenge to its user's chat.
    let inboxes = [a, b];
    let deadline = Instant::now() + Duration::from_secs(20);
    let ch2 = loop {
        if let Some(k) = inboxes.iter().find(|k| {
            k.inbox()
                .iter()
                .any(|m| m["type"] == "challenge" && m["challenge"] == p2.challenge.as_str())
        }) {
            break k.challenge(&p2.challenge);
        }
        assert!(
            Instant::now() < deadline,
            "challenge never reached the user"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // Decided on the other instance's socket than B's, to cross instances once more.
    let token2 = ch2.token("Approve");
    match decide(&mut ca, 72, &token2).unwrap() {
        Response::Signed { signature, .. } => assert!(verifies(&addr2, &msg2, &signature)),
        other => panic!("{other:?}"),
    }

    // The users' secrets, known from their side (the phrase shown once in chat).
    let mut secrets: Vec<(String, Vec<u8>)> = Vec::new();
    for (k, user) in [(a, 71u64), (a, 72), (b, 72)] {
        let Some(m) = k
            .inbox()
            .into_iter()
            .find(|m| m["type"] == "seed_phrase" && m["user"].as_u64() == Some(user))
        else {
            continue;
        };
        let (words, seed, private) = phrase_secrets(&m);
        for s in spellings(seed.expose_secret()) {
            secrets.push((format!("seed of {user}"), s));
        }
        for s in spellings(&private[..32]) {
            secrets.push((format!("private key of {user}"), s));
        }
        secrets.push((
            format!("phrase of {user}"),
            words[..3].join(" ").into_bytes(),
        ));
    }
    assert_eq!(
        secrets
            .iter()
            .filter(|(w, _)| w.starts_with("seed"))
            .count(),
        8,
        "both users' phrases were found"
    );
    for t in [&token, &token2] {
        secrets.push(("decision token".into(), t.as_bytes().to_vec()));
    }

    let stored = bus.bucket_contents("kms_v1_state");
    assert!(
        stored.iter().any(|(k, _)| k.starts_with("record.")),
        "key records are replicated"
    );
    assert!(stored.iter().any(|(k, _)| k == "auth.71"));
    std::thread::sleep(Duration::from_millis(300));
    let seen = spy.seen.lock().unwrap().clone();
    assert!(
        seen.iter().any(|(s, _)| s.starts_with("$KV.kms_v1_state.")),
        "the spy saw the replication"
    );
    assert!(seen.iter().any(|(s, _)| s == "kms.v1.request"));
    for (what, secret) in &secrets {
        for (subject, payload) in &seen {
            assert!(
                !contains(payload, secret),
                "the {what} crossed NATS on {subject}"
            );
        }
        for (key, value) in &stored {
            assert!(
                !contains(value, secret),
                "the {what} is stored in JetStream at {key}"
            );
        }
    }
}

/// Attack: the approve token is presented to both instances at once. One signature, one
/// `AlreadyDecided`.
#[test]
fn attack_one_token_at_two_instances_signs_once() {
    let nats = NatsServer::start();
    let root = tempfile::tempdir().unwrap();
    let kms = cluster(root.path(), &nats, 2);
    let mut ca = kms[0].client();
    let addr = create_user(&mut ca, 81);
    for round in 0..5u64 {
        let msg = transfer_message(b58(&addr), DEST, 1_000 + round);
        let p = pending(ca.call(&sign_request(
            81,
            msg.clone(),
            sol_params(b58(&addr), DEST, 10_000),
        )));
        let token = kms[0].challenge(&p.challenge).token("Approve");
        let barrier = Arc::new(Barrier::new(2));
        let results: Vec<_> = kms
            .iter()
            .map(|k| {
                let mut c = k.client();
                let token = token.clone();
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    decide(&mut c, 81, &token)
                })
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|h| h.join().unwrap())
            .collect();
        let signed = results
            .iter()
            .filter(|r| matches!(r, Ok(Response::Signed { .. })))
            .count();
        let refused: Vec<ErrorKind> = results
            .iter()
            .filter_map(|r| match r {
                Err(ClientError::Remote(e)) => Some(e.kind),
                _ => None,
            })
            .collect();
        assert_eq!(signed, 1, "round {round}: {results:?}");
        assert_eq!(
            refused,
            vec![ErrorKind::AlreadyDecided],
            "round {round}: {results:?}"
        );
    }
}

/// Attack: one standing intent spent from both instances as fast as they go: the cumulative
/// limit holds across them, and no signature is made twice.
#[test]
fn attack_an_intent_raced_from_two_instances_never_exceeds_its_limit() {
    let nats = NatsServer::start();
    let root = tempfile::tempdir().unwrap();
    let kms = cluster(root.path(), &nats, 2);
    let mut ca = kms[0].client();
    let addr = create_user(&mut ca, 91);
    let params = sol_params(b58(&addr), DEST, 1_000);
    let p = pending(ca.call(&Request::CreateIntent(IntentProposal {
        user: 91,
        wallet: WalletRef::Derived(0),
        module: "sol-withdraw".into(),
        params: Bytes(params.clone()),
        per_transaction_limit: 1_000,
        cumulative_limit: 20_000,
        max_uses: 1_000,
        valid_until: unix_now() + 3600,
    })));
    let token = kms[0].challenge(&p.challenge).token("Approve intent");
    assert!(matches!(
        decide(&mut ca, 91, &token).unwrap(),
        Response::IntentCreated { .. }
    ));
    let spent = Arc::new(AtomicU64::new(0));
    let next = Arc::new(AtomicU64::new(0));
    let asked = Arc::new(AtomicU64::new(0));
    let conflicts = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for t in 0..6 {
        let k = &kms[t % 2];
        let mut c = k.client();
        let (spent, next, addr, params) = (
            Arc::clone(&spent),
            Arc::clone(&next),
            addr.clone(),
            params.clone(),
        );
        let (asked, conflicts) = (Arc::clone(&asked), Arc::clone(&conflicts));
        handles.push(std::thread::spawn(move || {
            let mut signatures = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= 60 {
                    return signatures;
                }
                // A different message each time (so a duplicate signature would show).
                let amount = 500 + n;
                let msg = transfer_message(b58(&addr), DEST, amount);
                // A conflict (the other instance changed the state first, every time) is a
                // typed error the caller retries.
                let answer = loop {
                    match c.call(&sign_request(91, msg.clone(), params.clone())) {
                        Err(ClientError::Remote(e)) if e.kind == ErrorKind::Conflict => {
                            conflicts.fetch_add(1, Ordering::SeqCst);
                        }
                        other => break other,
                    }
                };
                match answer {
                    Ok(Response::Signed { signature, .. }) => {
                        spent.fetch_add(amount, Ordering::SeqCst);
                        signatures.push(signature);
                    }
                    // Not covered any more: the user is asked instead.
                    Ok(Response::Pending(_)) => {
                        asked.fetch_add(1, Ordering::SeqCst);
                    }
                    other => panic!("{other:?}"),
                }
            }
        }));
    }
    let mut all: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    // sol-withdraw counts each signature at its parameters' bound (1,000 lamports): the
    // 20,000 limit allows exactly 20 signatures, whichever instance makes them.
    let total = spent.load(Ordering::SeqCst);
    assert_eq!(
        all.len(),
        20,
        "{} signatures ({total} lamports sent; {} asked, {} conflicts retried)",
        all.len(),
        asked.load(Ordering::SeqCst),
        conflicts.load(Ordering::SeqCst)
    );
    let n = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), n, "a signature was made twice");
    // Both instances agree on what was spent.
    for k in &kms {
        match k.client().call(&Request::ListIntents { user: 91 }).unwrap() {
            Response::Intents { intents } => {
                assert_eq!(u64::from(intents[0].uses), n as u64);
            }
            other => panic!("{other:?}"),
        }
    }
}

/// An instance killed (SIGKILL, its processes with it) while it writes, and restarted: every
/// write it acknowledged is there, on it and on the other instance, and what the other instance
/// wrote while it was down reached it by the catch-up (read with NATS stopped afterwards).
#[test]
fn an_instance_killed_while_writing_catches_up_and_loses_nothing() {
    let mut nats = NatsServer::start();
    let root = tempfile::tempdir().unwrap();
    let mut kms = cluster(root.path(), &nats, 2);
    let socket_b = kms[1].socket();
    let writer = std::thread::spawn(move || {
        let mut acked = Vec::new();
        let Ok(mut c) = kms_client::Client::connect(&socket_b) else {
            return acked;
        };
        c.set_timeout(Some(Duration::from_secs(30))).unwrap();
        for user in 1_000..1_400u64 {
            match c.call(&Request::CreateUser { user }) {
                Ok(Response::UserCreated { .. }) => acked.push(user),
                _ => return acked,
            }
        }
        acked
    });
    std::thread::sleep(Duration::from_millis(1_500));
    // SIGKILL the supervisor: its children die with it (parent-death signal).
    let mut child = kms[1].child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let acked = writer.join().unwrap();
    assert!(!acked.is_empty(), "B acknowledged nothing before the kill");
    // While B is down, A writes more.
    let mut ca = kms[0].client();
    for user in 2_000..2_020u64 {
        create_user(&mut ca, user);
    }
    std::thread::sleep(Duration::from_millis(500));
    kms[1].spawn();
    let log = kms[1].log_text();
    assert!(log.contains("caught up to revision"), "{log}");
    // Every acknowledged write of B is on A.
    for &user in &acked {
        match ca.call(&Request::ListWallets { user }) {
            Ok(Response::Wallets { wallets }) => assert_eq!(wallets.len(), 1),
            other => panic!("user {user} acknowledged by B is lost: {other:?}"),
        }
    }
    // What A wrote while B was down is in B's own database: NATS is stopped now.
    nats.stop();
    let mut cb = kms[1].client();
    for user in (2_000..2_020u64).chain(acked.iter().copied()) {
        match cb.call(&Request::ListWallets { user }) {
            Ok(Response::Wallets { wallets }) => assert_eq!(wallets.len(), 1),
            other => panic!(
                "user {user} not caught up on B: {other:?}\n{}",
                kms[1].log_text()
            ),
        }
    }
}

/// The NATS server restarted under load: requests fail with a typed error while it is down and
/// succeed again once it is back; no acknowledged write is lost.
#[test]
fn nats_restarted_mid_load_fails_typed_then_resumes_without_losing_writes() {
    let mut nats = NatsServer::start();
    let root = tempfile::tempdir().unwrap();
    let kms = cluster(root.path(), &nats, 2);
    let mut bus = NatsBus::connect(&nats.url());
    let mut acked = Vec::new();
    for user in 3_000..3_030u64 {
        create_on_bus(&mut bus, user);
        acked.push(user);
    }
    nats.stop();
    // A write while NATS is down: a typed error (nothing stored), on both instances' sockets.
    for (i, k) in kms.iter().enumerate() {
        let mut c = k.client();
        match c.call(&Request::CreateUser {
            user: 3_100 + i as u64,
        }) {
            Err(ClientError::Remote(e)) => {
                assert_eq!(e.kind, ErrorKind::Unavailable, "{e:?}");
                assert!(e.message.contains("retry"), "{}", e.message);
            }
            other => panic!("{other:?}"),
        }
    }
    // The bus itself is down: the client's own error.
    assert!(matches!(
        bus.call(&Request::Ping),
        Err(BusError::Transport(_))
    ));
    nats.restart();
    // Requests resume (the client and both bridges reconnect).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut user = 3_200u64;
    let mut resumed = 0;
    while resumed < 20 {
        match bus.call(&Request::CreateUser { user }) {
            Ok(Response::UserCreated { .. }) => {
                acked.push(user);
                resumed += 1;
                user += 1;
            }
            Ok(other) => panic!("{other:?}"),
            Err(BusError::Remote(e)) if e.kind == ErrorKind::UserExists => user += 1,
            Err(BusError::Remote(e)) => {
                assert!(
                    matches!(e.kind, ErrorKind::Unavailable | ErrorKind::Conflict),
                    "{e:?}"
                );
                user += 1;
            }
            Err(BusError::Transport(_)) => {}
        }
        assert!(
            Instant::now() < deadline,
            "requests did not resume after the NATS restart"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for k in &kms {
        let mut c = k.client();
        for &u in &acked {
            match c.call(&Request::ListWallets { user: u }) {
                Ok(Response::Wallets { wallets }) => assert_eq!(wallets.len(), 1),
                other => panic!("acknowledged user {u} lost: {other:?}"),
            }
        }
    }
}

/// Bad input on the NATS bus gets the same typed errors as on the socket.
#[test]
fn malformed_requests_on_nats_get_typed_errors() {
    let nats = NatsServer::start();
    let root = tempfile::tempdir().unwrap();
    let _kms = cluster(root.path(), &nats, 1);
    let mut bus = NatsBus::connect(&nats.url());
    for (body, kind) in [
        (b"not json".to_vec(), "malformed_request"),
        (
            br#"{"v":99,"id":7,"req":{"type":"ping"}}"#.to_vec(),
            "unsupported_version",
        ),
        (Vec::new(), "malformed_request"),
    ] {
        let answer: serde_json::Value = serde_json::from_slice(&bus.call_raw(body)).unwrap();
        assert_eq!(answer["outcome"]["err"]["kind"], kind, "{answer}");
    }
    assert!(matches!(bus.call(&Request::Ping), Ok(Response::Pong)));
}

/// A CA and a server certificate for 127.0.0.1 (PEM): (CA, leaf chain, leaf key).
fn test_pki() -> (String, String, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "kms scale-out test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.1");
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    (ca.pem(), leaf.pem(), leaf_key.serialize_pem())
}

/// `kms up` with the master key from the dev sealer, on NATS at `url` with `[nats]` `extra`.
fn up_on_nats(root: &std::path::Path, url: &str, extra: &str) -> std::process::Child {
    std::fs::create_dir_all(root).unwrap();
    let cfg = root.join("kms.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = {:?}\nkey_source = \"dev\"\nsocket = {:?}\nsocket_mode = \"0600\"\nbus = {url:?}\n\n[notifier]\ninbox = {:?}\n\n[nats]\ninstance = \"tls\"\nrequest_timeout_ms = 2000\n{extra}",
            root.join("signer"),
            root.join("bus.sock"),
            root.join("user-inbox.jsonl"),
        ),
    )
    .unwrap();
    let log = std::fs::File::create(root.join("kms.log")).unwrap();
    std::process::Command::new(KMS)
        .arg("up")
        .arg("--config")
        .arg(&cfg)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap()
}

fn ping(socket: &std::path::Path, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(mut c) = kms_client::Client::connect(socket) {
            c.set_timeout(Some(Duration::from_secs(2))).unwrap();
            if matches!(c.call(&Request::Ping), Ok(Response::Pong)) {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// NATS over TLS (the server's certificate checked against the configured CA) with a user and
/// password: the instance serves and replicates; with a wrong password it never serves, and
/// its log says why without the password.
#[test]
fn nats_with_tls_and_a_password() {
    let pki = tempfile::tempdir().unwrap();
    let (ca, chain, key) = test_pki();
    for (name, pem) in [
        ("ca.pem", &ca),
        ("server.pem", &chain),
        ("server.key", &key),
    ] {
        std::fs::write(pki.path().join(name), pem).unwrap();
    }
    let password = "correct horse battery staple 7f3a";
    std::fs::write(pki.path().join("password"), password).unwrap();
    std::fs::write(pki.path().join("wrong"), "not the password").unwrap();
    let nats = NatsServer::start_with(Some(&format!(
        "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n}}\nauthorization {{\n  user: kms\n  password: {password:?}\n}}\n",
        pki.path().join("server.pem"),
        pki.path().join("server.key"),
    )));
    let url = format!("tls://127.0.0.1:{}", nats.port);
    let nats_section = |password_file: &str| {
        format!(
            "ca_file = {:?}\nrequire_tls = true\nuser = \"kms\"\npassword_file = {:?}\n",
            pki.path().join("ca.pem"),
            pki.path().join(password_file)
        )
    };
    let root = tempfile::tempdir().unwrap();
    let good = root.path().join("good");
    let mut child = up_on_nats(&good, &url, &nats_section("password"));
    assert!(
        ping(&good.join("bus.sock"), Duration::from_secs(15)),
        "{}\n{}",
        std::fs::read_to_string(good.join("kms.log")).unwrap_or_default(),
        std::fs::read_to_string(nats.log()).unwrap_or_default()
    );
    let mut c = kms_client::Client::connect(good.join("bus.sock")).unwrap();
    c.set_timeout(Some(Duration::from_secs(30))).unwrap();
    create_user(&mut c, 501);
    let bad = root.path().join("bad");
    let mut refused = up_on_nats(&bad, &url, &nats_section("wrong"));
    assert!(!ping(&bad.join("bus.sock"), Duration::from_secs(5)));
    let log = std::fs::read_to_string(bad.join("kms.log")).unwrap();
    assert!(log.to_lowercase().contains("authoriz"), "{log}");
    assert!(!log.contains("not the password"), "{log}");
    for ch in [&mut child, &mut refused] {
        let pid = rustix::process::Pid::from_child(ch);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let _ = ch.wait();
    }
}
