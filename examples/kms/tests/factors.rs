//! Second factors, the seed-backup quiz, export, whitelist and imported keys through the real
//! processes: the user's chat (the pool's inbox) gets the secrets, the bus never does.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use kms_client::{ErrorKind, ExportWhat, Proof, Request, Response, SecretText, WalletRef};
use kms_intent::{TotpParams, TotpSecret, totp_code};

const DEST: [u8; 32] = [9; 32];

/// Enables TOTP for `user` the way the user would: scan the QR code in chat, type a code.
fn enable_totp(kms: &Kms, c: &mut kms_client::Client, user: u64) -> TotpSecret {
    assert!(matches!(
        c.call(&Request::EnableTotp { user, proof: None }).unwrap(),
        Response::TotpEnrollmentSent { .. }
    ));
    let m = kms.last_message(user, "totp_enrollment");
    let uri = m["otpauth_uri"].as_str().unwrap();
    assert!(!m["qr_png"].as_str().unwrap().is_empty());
    let secret = totp_secret_from_uri(uri);
    let code = totp_code(&secret, &TotpParams::default(), unix_now() - 30);
    assert!(matches!(
        c.call(&Request::ConfirmTotp {
            user,
            code: SecretText::new(code.as_str()),
        })
        .unwrap(),
        Response::Done { .. }
    ));
    secret
}

fn with_totp(
    c: &mut kms_client::Client,
    user: u64,
    token: &str,
    code: &str,
) -> Result<Response, kms_client::ClientError> {
    c.call(&Request::Decide {
        user,
        token: SecretText::new(token),
        proof: Some(Proof::Totp {
            code: SecretText::new(code),
        }),
    })
}

#[test]
fn withdrawal_needs_totp_and_a_stolen_chat_account_is_locked_out() {
    let kms = Kms::start();
    let mut c = kms.client();
    let addr = create_user(&mut c, 900);
    let secret = enable_totp(&kms, &mut c, 900);
    // The TOTP secret went to the chat only: nothing on the bus carried it.
    let msg = transfer_message(b58(&addr), DEST, 1_000);
    let p = pending(c.call(&sign_request(
        900,
        msg.clone(),
        sol_params(b58(&addr), DEST, 10_000),
    )));
    assert_eq!(p.factor_required.as_deref(), Some("any"));
    let ch = kms.challenge(&p.challenge);
    // The chat account alone (the button, no code) does not withdraw, and the token survives.
    assert_eq!(
        kind(decide(&mut c, 900, &ch.token("Approve"))),
        ErrorKind::SecondFactorRequired
    );
    assert_eq!(
        kind(with_totp(&mut c, 900, &ch.token("Approve"), "000000")),
        ErrorKind::SecondFactorRequired
    );
    let code = totp_code(&secret, &TotpParams::default(), unix_now());
    match with_totp(&mut c, 900, &ch.token("Approve"), &code).unwrap() {
        Response::Signed { signature, .. } => assert!(verifies(&addr, &msg, &signature)),
        other => panic!("{other:?}"),
    }

    // A thief with the chat account guesses codes: throttled, then locked.
    let p = pending(c.call(&sign_request(
        900,
        transfer_message(b58(&addr), DEST, 7),
        sol_params(b58(&addr), DEST, 10_000),
    )));
    let token = kms.challenge(&p.challenge).token("Approve");
    let mut last = ErrorKind::SecondFactorRequired;
    for guess in 0..30u32 {
        last = kind(with_totp(
            &mut c,
            900,
            &token,
            &format!("{:06}", 111_111 + guess),
        ));
        if last == ErrorKind::Locked {
            break;
        }
        assert!(
            matches!(
                last,
                ErrorKind::SecondFactorRequired | ErrorKind::RateLimited
            ),
            "{last:?}"
        );
    }
    assert!(
        matches!(last, ErrorKind::RateLimited | ErrorKind::Locked),
        "30 wrong codes were neither throttled nor locked"
    );
    // Even the right code is refused while throttled.
    let code = totp_code(&secret, &TotpParams::default(), unix_now() + 30);
    assert!(matches!(
        kind(with_totp(&mut c, 900, &token, &code)),
        ErrorKind::RateLimited | ErrorKind::Locked
    ));
}

#[test]
fn seed_export_needs_a_second_factor_and_restores() {
    let kms = Kms::start();
    let mut c = kms.client();
    let addr = create_user(&mut c, 901);
    // Without any factor enabled an export is refused outright.
    assert_eq!(
        kind(c.call(&Request::Export {
            user: 901,
            what: ExportWhat::Seed,
        })),
        ErrorKind::SecondFactorRequired
    );

    let secret = enable_totp(&kms, &mut c, 901);
    let p = pending(c.call(&Request::Export {
        user: 901,
        what: ExportWhat::Seed,
    }));
    let ch = kms.challenge(&p.challenge);
    assert_eq!(
        kind(decide(&mut c, 901, &ch.token("Approve"))),
        ErrorKind::SecondFactorRequired
    );
    let code = totp_code(&secret, &TotpParams::default(), unix_now());
    let backup = match with_totp(&mut c, 901, &ch.token("Approve"), &code).unwrap() {
        Response::Exported { backup } => backup.0,
        other => panic!("{other:?}"),
    };
    let password = kms.last_message(901, "backup_password")["password"]
        .as_str()
        .unwrap()
        .to_string();
    // The encrypted file is on the bus; its password is not, and the file alone opens nothing.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("backup.kms");
    std::fs::write(&file, &backup).unwrap();
    std::fs::write(dir.path().join("wrong"), "not-the-password").unwrap();
    let out = std::process::Command::new(KMS)
        .args(["backup", "open"])
        .arg(&file)
        .arg("--password-file")
        .arg(dir.path().join("wrong"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    std::fs::write(dir.path().join("pw"), &password).unwrap();
    let out = std::process::Command::new(KMS)
        .args(["backup", "open"])
        .arg(&file)
        .arg("--password-file")
        .arg(dir.path().join("pw"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("wallet 0: {addr}")));
}

#[test]
fn backup_quiz_is_answered_in_chat_with_the_phrase_shown_once() {
    let kms = Kms::start();
    let mut c = kms.client();
    let positions = match c.call(&Request::CreateUser { user: 902 }).unwrap() {
        Response::UserCreated { quiz_positions, .. } => quiz_positions,
        other => panic!("{other:?}"),
    };
    assert_eq!(positions.len(), 3);
    let words: Vec<String> = kms.last_message(902, "seed_phrase")["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    assert_eq!(words.len(), 24);
    // The quiz challenges: pick the right word at each position.
    // The pool delivers asynchronously: wait until all three are in the chat.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let quiz = loop {
        let quiz: Vec<_> = kms
            .inbox()
            .into_iter()
            .filter(|m| m["type"] == "challenge" && m["user"] == 902)
            .collect();
        if quiz.len() >= 3 || std::time::Instant::now() > deadline {
            break quiz;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(quiz.len(), 3);
    let mut last = None;
    for (q, p) in quiz.iter().zip(&positions) {
        assert!(
            q["description"]
                .as_str()
                .unwrap()
                .contains(&format!("word #{p}"))
        );
        let right = &words[p - 1];
        let token = q["buttons"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["label"] == right.as_str())
            .unwrap()["token"]
            .as_str()
            .unwrap()
            .to_string();
        last = Some(decide(&mut c, 902, &token).unwrap());
    }
    assert!(matches!(
        last,
        Some(Response::QuizProgress {
            remaining: 0,
            confirmed: true
        })
    ));
}

#[test]
fn whitelist_and_imported_keys() {
    let kms = Kms::start();
    let mut c = kms.client();
    create_user(&mut c, 903);
    // A solana-keygen JSON keypair imports; its address is the key's.
    let key = kms_core::WalletKey::from_secret(&zeroize::Zeroizing::new([3u8; 32]));
    let json = key.reveal_keypair_json();
    match c
        .call(&Request::ImportKey {
            user: 903,
            key: SecretText::new(json.as_str()),
        })
        .unwrap()
    {
        Response::Wallet(w) => {
            assert_eq!(w.wallet, WalletRef::Imported(0));
            assert_eq!(w.address, key.address().to_string());
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        kind(c.call(&Request::ImportKey {
            user: 903,
            key: SecretText::new("not a key"),
        })),
        ErrorKind::InvalidInput
    );
    match c
        .call(&Request::DeriveWallet {
            user: 903,
            index: 5,
        })
        .unwrap()
    {
        Response::Wallet(w) => assert_eq!(w.wallet, WalletRef::Derived(5)),
        other => panic!("{other:?}"),
    }
    match c.call(&Request::ListWallets { user: 903 }).unwrap() {
        Response::Wallets { wallets } => assert_eq!(wallets.len(), 3),
        other => panic!("{other:?}"),
    }
    // Whitelisting goes through the user's decision (and a factor once one is enabled).
    let secret = enable_totp(&kms, &mut c, 903);
    let mint = bs58::encode([0x44u8; 32]).into_string();
    let p = pending(c.call(&Request::WhitelistAdd {
        user: 903,
        mint: mint.clone(),
    }));
    let ch = kms.challenge(&p.challenge);
    assert!(ch.description.contains(&mint));
    assert_eq!(
        kind(decide(&mut c, 903, &ch.token("Approve"))),
        ErrorKind::SecondFactorRequired
    );
    let code = totp_code(&secret, &TotpParams::default(), unix_now());
    assert!(matches!(
        with_totp(&mut c, 903, &ch.token("Approve"), &code).unwrap(),
        Response::Done { .. }
    ));
    assert_eq!(
        kind(c.call(&Request::WhitelistAdd {
            user: 903,
            mint: "zz".into(),
        })),
        ErrorKind::InvalidInput
    );
}
