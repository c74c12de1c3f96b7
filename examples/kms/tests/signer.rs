//! The reference signer end to end: real processes (`kms dev`: supervisor, signer, pool,
//! bridge), real redb stores, the dev sealer, the bus over a Unix socket, the user's chat as the
//! pool's inbox file.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Write};
use std::time::Duration;

use common::*;
use kms_client::proto::{IntentProposal, encode_request};
use kms_client::{Bytes, Client, ErrorKind, Request, Response, WalletRef};

const DEST: [u8; 32] = [9; 32];

#[test]
fn sign_flow_approved() {
    let kms = Kms::start();
    let mut c = kms.client();
    let addr = create_user(&mut c, 1001);
    let msg = transfer_message(b58(&addr), DEST, 500_000_000);
    let p = pending(c.call(&sign_request(
        1001,
        msg.clone(),
        sol_params(b58(&addr), DEST, 1_000_000_000),
    )));
    let ch = kms.challenge(&p.challenge);
    assert_eq!(ch.user, 1001);
    assert!(
        ch.description.contains("transfer 0.5 SOL"),
        "{}",
        ch.description
    );
    assert!(
        ch.description.contains("sol-withdraw"),
        "{}",
        ch.description
    );
    assert_eq!(ch.description, p.description);
    match decide(&mut c, 1001, &ch.token("Approve")).unwrap() {
        Response::Signed {
            signature,
            transaction,
            authorized_by,
            ..
        } => {
            assert!(verifies(&addr, &msg, &signature));
            assert!(authorized_by.starts_with("challenge "));
            // Solana's own verifier accepts the signed transaction.
            let tx = kms_solana::solana::solana_decode_transaction(&transaction.0).unwrap();
            kms_solana::solana::verify_transaction(&tx).unwrap();
        }
        other => panic!("{other:?}"),
    }
    // The same token again approves nothing.
    assert_eq!(
        kind(decide(&mut c, 1001, &ch.token("Approve"))),
        ErrorKind::AlreadyDecided
    );
}

#[test]
fn sign_flow_rejected_and_tampered_transaction_refused() {
    let kms = Kms::start();
    let mut c = kms.client();
    let addr = create_user(&mut c, 7);
    let params = sol_params(b58(&addr), DEST, 1_000_000_000);
    let p = pending(c.call(&sign_request(
        7,
        transfer_message(b58(&addr), DEST, 1),
        params.clone(),
    )));
    let ch = kms.challenge(&p.challenge);
    assert!(matches!(
        decide(&mut c, 7, &ch.token("Reject")).unwrap(),
        Response::Rejected { .. }
    ));
    assert_eq!(
        kind(decide(&mut c, 7, &ch.token("Approve"))),
        ErrorKind::AlreadyDecided
    );

    // An added transfer to an attacker: the module refuses before the user is even asked.
    let tampered = transfer_message_with_extra(b58(&addr), DEST, 1, [0x66; 32]);
    match c.call(&sign_request(7, tampered, params.clone())) {
        Err(kms_client::ClientError::Remote(e)) => {
            assert_eq!(e.kind, ErrorKind::ShapeRefused);
            assert!(e.message.contains("sol-withdraw"), "{}", e.message);
        }
        other => panic!("{other:?}"),
    }
    // Above the authorized maximum: refused with the module's reason.
    let err = c
        .call(&sign_request(
            7,
            transfer_message(b58(&addr), DEST, 2_000_000_000),
            params,
        ))
        .unwrap_err();
    assert!(
        err.to_string().contains("above the authorized maximum"),
        "{err}"
    );
}

#[test]
fn the_user_sees_the_signers_description_not_the_claimed_one() {
    let kms = Kms::start();
    let mut c = kms.client();
    let addr = create_user(&mut c, 42);
    let Request::Sign(mut req) = sign_request(
        42,
        transfer_message(b58(&addr), DEST, 3_000_000_000),
        sol_params(b58(&addr), DEST, 5_000_000_000),
    ) else {
        unreachable!()
    };
    req.claimed_description = Some("Claim your free airdrop of 100 SOL".into());
    let p = pending(c.call(&Request::Sign(req)));
    let ch = kms.challenge(&p.challenge);
    assert!(!ch.description.contains("airdrop"), "{}", ch.description);
    assert!(
        ch.description.contains("transfer 3 SOL"),
        "{}",
        ch.description
    );
    assert!(
        ch.description.contains("SOL leaving your accounts: 3 SOL"),
        "{}",
        ch.description
    );
}

fn create_intent(kms: &Kms, c: &mut Client, user: u64, params: Vec<u8>, max_uses: u32) -> u64 {
    let p = pending(c.call(&Request::CreateIntent(IntentProposal {
        user,
        wallet: WalletRef::Derived(0),
        module: "sol-withdraw".into(),
        params: Bytes(params),
        per_transaction_limit: 1_000_000_000,
        cumulative_limit: 10_000_000_000,
        max_uses,
        valid_until: unix_now() + 3600,
    })));
    let ch = kms.challenge(&p.challenge);
    assert!(
        ch.description.contains("WITHOUT asking"),
        "{}",
        ch.description
    );
    match decide(c, user, &ch.token("Approve intent")).unwrap() {
        Response::IntentCreated { intent } => intent,
        other => panic!("{other:?}"),
    }
}

#[test]
fn standing_intent_signs_up_to_its_limit_then_asks() {
    let kms = Kms::start();
    let mut c = kms.client();
    let addr = create_user(&mut c, 300);
    let params = sol_params(b58(&addr), DEST, 1_000_000_000);
    let id = create_intent(&kms, &mut c, 300, params.clone(), 3);
    for i in 0..3u64 {
        let msg = transfer_message(b58(&addr), DEST, 1_000 + i);
        match c
            .call(&sign_request(300, msg.clone(), params.clone()))
            .unwrap()
        {
            Response::Signed {
                signature,
                authorized_by,
                ..
            } => {
                assert_eq!(authorized_by, format!("intent {id}"));
                assert!(verifies(&addr, &msg, &signature));
            }
            other => panic!("use {i}: {other:?}"),
        }
    }
    // Used up: the next request is not covered, so the user is asked again.
    pending(c.call(&sign_request(
        300,
        transfer_message(b58(&addr), DEST, 5),
        params.clone(),
    )));
    match c.call(&Request::ListIntents { user: 300 }).unwrap() {
        Response::Intents { intents } => {
            assert_eq!(intents.len(), 1);
            assert_eq!(intents[0].uses, 3);
            assert_eq!(intents[0].status, "exhausted");
        }
        other => panic!("{other:?}"),
    }
    // Other parameters (another destination) are never covered.
    let other = sol_params(b58(&addr), [8; 32], 1_000_000_000);
    pending(c.call(&sign_request(
        300,
        transfer_message(b58(&addr), [8; 32], 5),
        other,
    )));
}

/// A large intent is signed through many lease renewals (reserved off the request path, SPEC §4):
/// every one of its uses signs without asking, none more, and the count it shows is exact.
#[test]
fn a_large_intent_signs_every_use_through_lease_renewals() {
    let kms = Kms::start();
    let mut c = kms.client();
    let addr = create_user(&mut c, 302);
    // Each use is charged its bound: 1,000,000 lamports keeps the cumulative limit out of reach.
    let params = sol_params(b58(&addr), DEST, 1_000_000);
    let id = create_intent(&kms, &mut c, 302, params.clone(), 400);
    for i in 0..400u64 {
        match c
            .call(&sign_request(
                302,
                transfer_message(b58(&addr), DEST, 10_000 + i),
                params.clone(),
            ))
            .unwrap()
        {
            Response::Signed { authorized_by, .. } => {
                assert_eq!(authorized_by, format!("intent {id}"), "use {i}");
            }
            other => panic!("use {i}: {other:?}\n{}", kms.log_text()),
        }
    }
    pending(c.call(&sign_request(
        302,
        transfer_message(b58(&addr), DEST, 1),
        params,
    )));
    match c.call(&Request::ListIntents { user: 302 }).unwrap() {
        Response::Intents { intents } => {
            assert_eq!(
                (intents[0].uses, intents[0].status.as_str()),
                (400, "exhausted")
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        !kms.log_text().contains("renewing a lease"),
        "{}",
        kms.log_text()
    );
}

/// A revocation while a lease is being renewed: nothing signs after it is answered.
#[test]
fn a_revocation_during_a_lease_renewal_holds() {
    let kms = Kms::start();
    let mut c = kms.client();
    let addr = create_user(&mut c, 303);
    // Each use is charged its bound: 1,000,000 lamports keeps the cumulative limit out of reach.
    let params = sol_params(b58(&addr), DEST, 1_000_000);
    let id = create_intent(&kms, &mut c, 303, params.clone(), 1_000);
    let sign = |c: &mut Client, i: u64| {
        c.call(&sign_request(
            303,
            transfer_message(b58(&addr), DEST, 20_000 + i),
            params.clone(),
        ))
    };
    // The first lease holds 64 uses; the 49th use leaves 16 and starts a renewal.
    for i in 0..49 {
        assert!(
            matches!(sign(&mut c, i).unwrap(), Response::Signed { .. }),
            "use {i}"
        );
    }
    assert!(matches!(
        c.call(&Request::RevokeIntent {
            user: 303,
            intent: id
        })
        .unwrap(),
        Response::Done { .. }
    ));
    for i in 49..60 {
        pending(sign(&mut c, i));
    }
}

#[test]
fn revoked_intent_no_longer_signs() {
    let kms = Kms::start();
    let mut c = kms.client();
    let addr = create_user(&mut c, 301);
    let params = sol_params(b58(&addr), DEST, 1_000_000_000);
    let id = create_intent(&kms, &mut c, 301, params.clone(), 100);
    assert!(matches!(
        c.call(&sign_request(
            301,
            transfer_message(b58(&addr), DEST, 1),
            params.clone()
        ))
        .unwrap(),
        Response::Signed { .. }
    ));
    assert!(matches!(
        c.call(&Request::RevokeIntent {
            user: 301,
            intent: id
        })
        .unwrap(),
        Response::Done { .. }
    ));
    pending(c.call(&sign_request(
        301,
        transfer_message(b58(&addr), DEST, 2),
        params,
    )));
}

#[test]
fn malformed_truncated_and_oversized_frames() {
    let kms = Kms::start();
    let mut c = kms.client();
    // Not JSON: a typed error, the connection survives.
    let env = c.call_raw(b"this is not json").unwrap().unwrap();
    assert!(
        matches!(env.outcome, kms_client::proto::Outcome::Err(ref e) if e.kind == ErrorKind::MalformedRequest)
    );
    // Unknown operation, with the request id kept.
    let env = c
        .call_raw(br#"{"v":1,"id":77,"req":{"op":"steal_keys"}}"#)
        .unwrap()
        .unwrap();
    assert_eq!(env.id, 77);
    assert!(
        matches!(env.outcome, kms_client::proto::Outcome::Err(ref e) if e.kind == ErrorKind::MalformedRequest)
    );
    // Another protocol version.
    let env = c
        .call_raw(br#"{"v":2,"id":78,"req":{"op":"ping"}}"#)
        .unwrap()
        .unwrap();
    assert!(
        matches!(env.outcome, kms_client::proto::Outcome::Err(ref e) if e.kind == ErrorKind::UnsupportedVersion)
    );
    assert!(matches!(c.call(&Request::Ping).unwrap(), Response::Pong));

    // Oversized: refused from the length prefix, then closed.
    let mut big = Client::connect(kms.socket()).unwrap();
    big.stream()
        .write_all(&(64u32 << 20).to_be_bytes())
        .unwrap();
    let env = big.read_envelope().unwrap().unwrap();
    assert!(
        matches!(env.outcome, kms_client::proto::Outcome::Err(ref e) if e.kind == ErrorKind::FrameTooLarge)
    );
    assert!(
        big.read_envelope().unwrap().is_none(),
        "closed after an oversized frame"
    );

    // Truncated: the peer goes away mid-frame; the bridge just closes that connection.
    let mut cut = Client::connect(kms.socket()).unwrap();
    let body = encode_request(1, &Request::Ping);
    cut.stream()
        .write_all(&(body.len() as u32).to_be_bytes())
        .unwrap();
    cut.stream().write_all(&body[..body.len() / 2]).unwrap();
    cut.stream().shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    cut.stream().read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());

    // Arbitrary garbage frames never take the system down.
    let mut junk = Client::connect(kms.socket()).unwrap();
    for n in 1..64u8 {
        let body: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37) ^ n).collect();
        let env = junk.call_raw(&body).unwrap().unwrap();
        assert!(matches!(env.outcome, kms_client::proto::Outcome::Err(_)));
    }
    assert!(matches!(c.call(&Request::Ping).unwrap(), Response::Pong));
    assert!(matches!(
        kms.client().call(&Request::Ping).unwrap(),
        Response::Pong
    ));
}

#[test]
fn hundred_concurrent_users_sign() {
    let kms = Kms::start();
    let socket = kms.socket();
    let inbox = kms.inbox_path();
    let threads: Vec<_> = (0..100u64)
        .map(|i| {
            let socket = socket.clone();
            let inbox = inbox.clone();
            std::thread::spawn(move || {
                let user = 10_000 + i;
                let mut c = Client::connect(&socket).unwrap();
                let addr = create_user(&mut c, user);
                let msg = transfer_message(b58(&addr), DEST, 1_000 + i);
                let p = pending(c.call(&sign_request(
                    user,
                    msg.clone(),
                    sol_params(b58(&addr), DEST, 1_000_000),
                )));
                let token = wait_token(&inbox, &p.challenge);
                match decide(&mut c, user, &token).unwrap() {
                    Response::Signed { signature, .. } => {
                        assert!(verifies(&addr, &msg, &signature))
                    }
                    other => panic!("{other:?}"),
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn wait_token(inbox: &std::path::Path, challenge: &str) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(inbox).unwrap_or_default();
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let m = &v["message"];
            if m["type"] == "challenge" && m["challenge"] == challenge {
                return m["buttons"][0]["token"].as_str().unwrap().to_string();
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "challenge {challenge} not delivered"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sandbox_holds_inside_the_running_signer() {
    let kms = Kms::start();
    let status = match kms.client().call(&Request::SignerStatus).unwrap() {
        Response::Status(s) => s,
        other => panic!("{other:?}"),
    };
    let probe: std::collections::HashMap<_, _> = status.probe.into_iter().collect();
    let get = |k: &str| {
        probe
            .get(k)
            .cloned()
            .unwrap_or_else(|| panic!("no {k} in {probe:?}"))
    };
    assert!(
        get("inet_socket").contains("EPERM") || get("inet_socket").contains("errno"),
        "{probe:?}"
    );
    assert!(!get("inet_socket").contains("succeeded"), "{probe:?}");
    assert!(!get("unix_socket").contains("succeeded"), "{probe:?}");
    assert!(!get("read_outside").contains("succeeded"), "{probe:?}");
    assert!(!get("exec").contains("succeeded"), "{probe:?}");
    assert!(get("write_in_data_dir").contains("succeeded"), "{probe:?}");
    assert_eq!(get("seccomp_mode"), "2", "{probe:?}");
    assert_eq!(get("no_new_privs"), "1", "{probe:?}");
    assert_eq!(get("threads_without_seccomp"), "0", "{probe:?}");
    assert!(get("core_limit").contains("\"hard\":0"), "{probe:?}");
    assert_eq!(get("dumpable"), "false", "{probe:?}");
    assert!(status.master_key_shielded);
    // The bridge and the pool hold no key and cannot reach the signer's files either.
    let log = kms.log_text();
    for role in ["bridge", "pool"] {
        assert!(
            log.contains(&format!(
                "kms {role}: sandbox: the signer's data directory is out of reach"
            )),
            "{log}"
        );
    }
    // The kernel's view from outside agrees.
    let proc_status = std::fs::read_to_string(format!("/proc/{}/status", status.pid)).unwrap();
    assert!(proc_status.contains("Seccomp:\t2"), "{proc_status}");
}

#[test]
fn audit_chain_verifies_and_a_flipped_byte_is_reported_at_its_entry() {
    let mut kms = Kms::start();
    let mut c = kms.client();
    let addr = create_user(&mut c, 77);
    let p = pending(c.call(&sign_request(
        77,
        transfer_message(b58(&addr), DEST, 9),
        sol_params(b58(&addr), DEST, 10),
    )));
    let ch = kms.challenge(&p.challenge);
    decide(&mut c, 77, &ch.token("Approve")).unwrap();
    // The tail over the bus holds no raw user id.
    match c.call(&Request::AuditTail { count: 100 }).unwrap() {
        Response::AuditLines { lines } => {
            assert!(
                lines.iter().any(|l| l.contains("signature_made")),
                "{lines:?}"
            );
            assert!(
                lines
                    .iter()
                    .all(|l| !l.contains("\"77\"") && !l.contains("tg:77"))
            );
        }
        other => panic!("{other:?}"),
    }
    kms.stop();
    let log = kms.data_dir().join("audit.log");
    let out = std::process::Command::new(KMS)
        .args(["audit", "verify"])
        .arg(&log)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));

    let mut bytes = std::fs::read(&log).unwrap();
    let third_line = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'\n')
        .nth(1)
        .map(|(i, _)| i + 1)
        .unwrap();
    bytes[third_line + 20] ^= 0x01;
    std::fs::write(&log, &bytes).unwrap();
    let out = std::process::Command::new(KMS)
        .args(["audit", "verify"])
        .arg(&log)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("line 3"), "{text}");
}
