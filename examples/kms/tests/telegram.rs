//! The Telegram pool against a Bot API emulator over real TLS: the three real processes, the
//! signer bot's messages and button presses, retries through 429 and 5xx bursts, and the
//! pool's sandbox.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/telegram.rs"]
mod rig;

use std::time::{Duration, Instant};

use common::*;
use rig::{Rig, SIGNER_BOT_SECRET, button_data, buttons, chat};

const DEST: [u8; 32] = [9; 32];
use kms_client::{Client, ErrorKind, Request, Response};
use kms_telegram::emulator::Fault;

/// What became of challenge `id`, once it is no longer waiting.
fn outcome(c: &mut Client, user: u64, id: &str) -> Result<Response, kms_client::ClientError> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = c.call(&Request::ChallengeOutcome {
            user,
            challenge: id.to_string(),
        });
        if !matches!(r, Ok(Response::Waiting { .. })) {
            return r;
        }
        assert!(Instant::now() < deadline, "challenge {id} never decided");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn approve_and_reject_by_pressing_buttons_in_chat() {
    let rig = Rig::start(&[501]);
    let mut c = rig.kms.client();
    let addr = create_user(&mut c, 501);
    let msg = transfer_message(b58(&addr), DEST, 250_000_000);
    let p = pending(c.call(&sign_request(
        501,
        msg.clone(),
        sol_params(b58(&addr), DEST, 1_000_000_000),
    )));
    let m = rig.challenge_message(501, &p.challenge);
    let text = m.text.clone().unwrap();
    // The chat shows the signer's description, not anything the business logic wrote.
    assert!(text.contains(&p.description), "{text}");
    assert!(text.contains("transfer 0.25 SOL"), "{text}");
    assert!(text.contains("Signer key: "), "{text}");
    let labels: Vec<String> = buttons(&m).into_iter().map(|b| b.0).collect();
    assert_eq!(labels, ["Approve", "Reject", "Review in the app"]);

    let q = rig
        .emu
        .press_button(rig.bot(), chat(501), m.message_id, "Approve")
        .unwrap();
    let answer = rig.callback_answer(&q);
    assert!(answer.starts_with("Signed: "), "{answer}");
    match outcome(&mut c, 501, &p.challenge).unwrap() {
        Response::Signed { signature, .. } => assert!(verifies(&addr, &msg, &signature)),
        other => panic!("{other:?}"),
    }
    // The message loses its buttons and says what happened.
    let edited = rig.wait_message(501, m.message_id, |m| m.reply_markup.is_none());
    assert!(edited.text.unwrap().contains("Approved: Signed: "));

    // A second request, rejected.
    let p2 = pending(c.call(&sign_request(
        501,
        transfer_message(b58(&addr), DEST, 1),
        sol_params(b58(&addr), DEST, 1_000_000_000),
    )));
    let m2 = rig.challenge_message(501, &p2.challenge);
    let q2 = rig
        .emu
        .press_button(rig.bot(), chat(501), m2.message_id, "Reject")
        .unwrap();
    assert_eq!(rig.callback_answer(&q2), "Rejected.");
    assert!(matches!(
        outcome(&mut c, 501, &p2.challenge),
        Ok(Response::Rejected { .. })
    ));
    let edited = rig.wait_message(501, m2.message_id, |m| m.reply_markup.is_none());
    assert!(edited.text.unwrap().contains("Closed: Rejected."));

    // Pressing again (a replayed callback) decides nothing more.
    let q3 = rig
        .emu
        .press_with_data(
            rig.bot(),
            chat(501),
            m.message_id,
            &button_data(&m, "Approve"),
        )
        .unwrap();
    assert!(rig.callback_answer(&q3).starts_with("Not done"));
}

#[test]
fn a_token_of_another_challenge_is_denied() {
    let rig = Rig::start(&[502]);
    let mut c = rig.kms.client();
    let addr = create_user(&mut c, 502);
    let params = sol_params(b58(&addr), DEST, 1_000_000_000);
    let a = pending(c.call(&sign_request(
        502,
        transfer_message(b58(&addr), DEST, 10),
        params.clone(),
    )));
    let b = pending(c.call(&sign_request(
        502,
        transfer_message(b58(&addr), DEST, 20),
        params,
    )));
    let ma = rig.challenge_message(502, &a.challenge);
    let mb = rig.challenge_message(502, &b.challenge);
    // The approve token of B, sent as a press on A's message (a modified client can send any
    // callback data): the signer refuses it because it belongs to another challenge.
    let q = rig
        .emu
        .press_with_data(
            rig.bot(),
            chat(502),
            ma.message_id,
            &button_data(&mb, "Approve"),
        )
        .unwrap();
    let answer = rig.callback_answer(&q);
    assert!(answer.contains("another challenge"), "{answer}");
    for id in [&a.challenge, &b.challenge] {
        assert!(matches!(
            c.call(&Request::ChallengeOutcome {
                user: 502,
                challenge: id.to_string()
            }),
            Ok(Response::Waiting { .. })
        ));
    }
    // Garbage callback data on a challenge message is refused as a token.
    let q = rig
        .emu
        .press_with_data(rig.bot(), chat(502), ma.message_id, "x")
        .unwrap();
    assert!(rig.callback_answer(&q).starts_with("Not done"));
    // B still works with its own button, and A with its own.
    let q = rig
        .emu
        .press_button(rig.bot(), chat(502), mb.message_id, "Approve")
        .unwrap();
    assert!(rig.callback_answer(&q).starts_with("Signed: "));
    let q = rig
        .emu
        .press_button(rig.bot(), chat(502), ma.message_id, "Reject")
        .unwrap();
    assert_eq!(rig.callback_answer(&q), "Rejected.");
    assert!(matches!(
        outcome(&mut c, 502, &a.challenge),
        Ok(Response::Rejected { .. })
    ));
    // A's approve token, relayed later through the bus, approves nothing.
    assert_eq!(
        kind(decide(&mut c, 502, &button_data(&ma, "Approve"))),
        ErrorKind::AlreadyDecided
    );
}

#[test]
fn every_challenge_is_delivered_exactly_once_through_429_and_5xx_bursts() {
    let rig = Rig::start(&[503]);
    let mut c = rig.kms.client();
    let addr = create_user(&mut c, 503);
    rig.emu
        .fail_next(
            rig.bot(),
            Some("sendMessage"),
            vec![
                Fault::TooManyRequests {
                    retry_after_secs: 1,
                },
                Fault::Status(502),
                Fault::Status(500),
                Fault::TooManyRequests {
                    retry_after_secs: 1,
                },
                Fault::Status(503),
            ],
        )
        .unwrap();
    // Whichever requests the faults hit (all five may hit the same one), every challenge arrives.
    let params = sol_params(b58(&addr), DEST, 1_000_000_000);
    let ids: Vec<String> = (0..6)
        .map(|i| {
            pending(c.call(&sign_request(
                503,
                transfer_message(b58(&addr), DEST, 100 + i),
                params.clone(),
            )))
            .challenge
        })
        .collect();
    for id in &ids {
        rig.challenge_message(503, id);
    }
    std::thread::sleep(Duration::from_millis(500));
    let messages = rig.messages(503);
    for id in &ids {
        let needle = format!("c={id}");
        let n = messages
            .iter()
            .filter(|m| buttons(m).iter().any(|b| b.2.contains(&needle)))
            .count();
        assert_eq!(n, 1, "challenge {id} delivered {n} times");
    }
    // Five faulted attempts came on top of the messages carried out.
    let sent = rig.emu.calls(rig.bot(), "sendMessage");
    let all = rig.emu.requests(rig.bot());
    assert!(all >= sent + 5, "{all} requests, {sent} messages sent");
    // Every one can still be decided.
    let m = rig.challenge_message(503, &ids[5]);
    let q = rig
        .emu
        .press_button(rig.bot(), chat(503), m.message_id, "Approve")
        .unwrap();
    assert!(rig.callback_answer(&q).starts_with("Signed: "));
}

#[test]
fn the_pool_cannot_open_the_key_store_and_logs_no_secret() {
    let rig = Rig::start(&[504]);
    let mut c = rig.kms.client();
    let addr = create_user(&mut c, 504);
    let p = pending(c.call(&sign_request(
        504,
        transfer_message(b58(&addr), DEST, 5),
        sol_params(b58(&addr), DEST, 1_000_000_000),
    )));
    let m = rig.challenge_message(504, &p.challenge);
    let token = button_data(&m, "Approve");
    let q = rig
        .emu
        .press_button(rig.bot(), chat(504), m.message_id, "Approve")
        .unwrap();
    rig.callback_answer(&q);
    let log = rig.kms.log_text();
    assert!(
        log.contains("kms pool: sandbox: the signer's data directory is out of reach"),
        "{log}"
    );
    assert!(
        log.contains("kms pool: ready (Telegram Bot API at"),
        "{log}"
    );
    assert!(
        !log.contains(SIGNER_BOT_SECRET),
        "the bot token is in the log"
    );
    assert!(!log.contains(&token), "a decision token is in the log");
    // The seed phrase went to the chat once and nowhere else.
    let seed = rig
        .messages(504)
        .into_iter()
        .find_map(|m| m.text.filter(|t| t.starts_with("Your recovery phrase")))
        .expect("the seed phrase reached the chat");
    let first_word = seed
        .lines()
        .nth(2)
        .unwrap()
        .split(". ")
        .nth(1)
        .unwrap()
        .to_string();
    assert!(!log.contains(&format!(" {first_word} ")) || first_word.len() < 4);
}

#[test]
fn a_withdrawal_with_totp_takes_the_code_typed_in_the_signer_chat() {
    use kms_intent::{TotpParams, totp_code};
    let rig = Rig::start(&[505]);
    let mut c = rig.kms.client();
    let addr = create_user(&mut c, 505);
    assert!(matches!(
        c.call(&Request::EnableTotp {
            user: 505,
            proof: None
        })
        .unwrap(),
        Response::TotpEnrollmentSent { .. }
    ));
    let enrollment = rig
        .emu
        .wait_for_message(rig.bot(), chat(505), Duration::from_secs(20), |m| {
            m.text.as_deref().is_some_and(|t| t.contains("otpauth://"))
        })
        .unwrap()
        .text
        .unwrap();
    let uri = enrollment
        .split_whitespace()
        .find(|w| w.starts_with("otpauth://"))
        .unwrap();
    let secret = totp_secret_from_uri(uri);
    let confirm = totp_code(&secret, &TotpParams::default(), unix_now() - 30);
    assert!(matches!(
        c.call(&Request::ConfirmTotp {
            user: 505,
            code: kms_client::SecretText::new(confirm.as_str()),
        }),
        Ok(Response::Done { .. })
    ));

    let msg = transfer_message(b58(&addr), DEST, 300_000_000);
    let p = pending(c.call(&sign_request(
        505,
        msg.clone(),
        sol_params(b58(&addr), DEST, 1_000_000_000),
    )));
    assert!(p.factor_required.is_some());
    let m = rig.challenge_message(505, &p.challenge);
    assert!(
        m.text
            .clone()
            .unwrap()
            .contains("reply to this message with the code")
    );
    let press = |message_id: i64| {
        let q = rig
            .emu
            .press_button(rig.bot(), chat(505), message_id, "Approve")
            .unwrap();
        let answer = rig.callback_answer(&q);
        assert!(
            answer.contains("Reply to the request's message"),
            "{answer}"
        );
    };
    let bot_reply = |needle: &str| {
        rig.emu
            .wait_for_message(rig.bot(), chat(505), Duration::from_secs(20), |m| {
                m.from.as_ref().is_some_and(|u| u.is_bot)
                    && m.text.as_deref().is_some_and(|t| t.contains(needle))
            })
            .unwrap_or_else(|| panic!("no reply with {needle:?}"))
            .text
            .unwrap()
    };
    // Approve without the code signs nothing; a wrong code is refused.
    press(m.message_id);
    rig.emu
        .send_reply(rig.bot(), 505, m.message_id, "000000")
        .unwrap();
    bot_reply(&format!("Request {}: not done", p.challenge));
    assert!(matches!(
        c.call(&Request::ChallengeOutcome {
            user: 505,
            challenge: p.challenge.clone()
        }),
        Ok(Response::Waiting { .. })
    ));
    let code = totp_code(&secret, &TotpParams::default(), unix_now());
    // A code that replies to no request, or to one that is not waiting for it, is not used.
    rig.emu.send_text(rig.bot(), 505, &code).unwrap();
    bot_reply("Not used: reply to the message of the request");
    rig.emu
        .send_reply(rig.bot(), 505, m.message_id, &code)
        .unwrap();
    bot_reply(&format!("Not used: request {} is not waiting", p.challenge));
    // The attack of a stolen chat account: while the user is about to type the code for A, the
    // attacker has request B pressed too. The code replies to A's message, so it approves A only.
    let b = pending(c.call(&sign_request(
        505,
        transfer_message(b58(&addr), [0x66; 32], 900_000_000),
        sol_params(b58(&addr), [0x66; 32], 1_000_000_000),
    )));
    let mb = rig.challenge_message(505, &b.challenge);
    press(m.message_id);
    press(mb.message_id);
    rig.emu
        .send_reply(rig.bot(), 505, m.message_id, &code)
        .unwrap();
    let signed = bot_reply(&format!("Request {}: Signed: ", p.challenge));
    match outcome(&mut c, 505, &p.challenge).unwrap() {
        Response::Signed { signature, .. } => {
            assert!(verifies(&addr, &msg, &signature));
            assert!(signed.contains(&signature));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        c.call(&Request::ChallengeOutcome {
            user: 505,
            challenge: b.challenge.clone()
        }),
        Ok(Response::Waiting { .. })
    ));
    // The code never shows up in the log.
    assert!(!rig.kms.log_text().contains(code.as_str()));
}
