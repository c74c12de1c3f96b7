//! The Bot API emulator driven by the crate's own `BotClient` over real HTTPS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kms_telegram::api::{
    AnswerCallbackQuery, EditMessageText, GetUpdates, InlineKeyboardButton, InlineKeyboardMarkup,
    Message, NoParams, SendMessage, SetWebhook, Update, User, WebhookInfo,
};
use kms_telegram::emulator::{BotApiEmulator, Fault};
use kms_telegram::initdata::{self, InitData};
use kms_telegram::{ApiError, BotClient, BotToken, EmulatorError, InitDataError, RetryPolicy};

const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0";
const BOT: u64 = 123_456_789;
const ALICE: u64 = 1001;

fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 4,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
        deadline: Duration::from_secs(20),
        max_retry_after: Duration::from_secs(5),
    }
}

fn client(emu: &BotApiEmulator, token: &str, retry: RetryPolicy) -> BotClient {
    BotClient::builder(BotToken::parse(token).unwrap())
        .base_url(emu.base_url())
        .ca_pem(emu.ca_pem().as_bytes())
        .retry(retry)
        .build()
        .unwrap()
}

fn setup() -> (BotApiEmulator, BotClient) {
    let emu = BotApiEmulator::start().unwrap();
    emu.add_bot(&BotToken::parse(TOKEN).unwrap(), "kms_test_bot");
    let c = client(&emu, TOKEN, fast_retry());
    (emu, c)
}

fn alice() -> User {
    User {
        id: ALICE,
        is_bot: false,
        first_name: "Alice".into(),
        last_name: None,
        username: Some("alice".into()),
        language_code: Some("en".into()),
    }
}

fn text(chat_id: i64, text: &str, markup: Option<InlineKeyboardMarkup>) -> SendMessage {
    SendMessage {
        chat_id,
        text: text.into(),
        parse_mode: None,
        reply_markup: markup,
    }
}

fn keyboard(buttons: &[(&str, &str)]) -> InlineKeyboardMarkup {
    InlineKeyboardMarkup {
        inline_keyboard: vec![
            buttons
                .iter()
                .map(|(t, d)| InlineKeyboardButton::callback(*t, *d))
                .collect(),
        ],
    }
}

fn api_error(code: i64, description: &str) -> ApiError {
    ApiError::Api {
        code,
        description: description.into(),
    }
}

fn chat() -> i64 {
    i64::try_from(ALICE).unwrap()
}

#[test]
fn get_me_over_https_only_with_the_ca() {
    let (emu, c) = setup();
    let me = c.get_me().unwrap();
    assert_eq!(me.id, BOT);
    assert!(me.is_bot);
    assert_eq!(me.username.as_deref(), Some("kms_test_bot"));
    assert_eq!(emu.calls(BOT, "getMe"), 1);
    assert!(emu.base_url().starts_with("https://127.0.0.1:"));
    assert!(!format!("{emu:?}").contains("AAHdq"));
    // 32 bytes of SHA-256, base64.
    assert_eq!(emu.leaf_spki_sha256_base64().len(), 44);

    // Without the test CA the certificate is not trusted: it really is TLS.
    let untrusting = BotClient::builder(BotToken::parse(TOKEN).unwrap())
        .base_url(emu.base_url())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    assert!(matches!(untrusting.get_me(), Err(ApiError::Network(_))));
    assert_eq!(emu.calls(BOT, "getMe"), 1);
}

#[test]
fn wrong_token_is_401_and_never_echoed() {
    let (emu, _) = setup();
    let other = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsXYZ";
    let err = client(&emu, other, fast_retry()).get_me().unwrap_err();
    assert_eq!(err, api_error(401, "Unauthorized"));
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("AAHdq"), "{shown}");
    assert_eq!(emu.requests(BOT), 0);
}

#[test]
fn unknown_method_and_oversized_body() {
    let (emu, c) = setup();
    let err = c
        .call::<_, bool>("sendTelepathy", &NoParams {})
        .unwrap_err();
    assert_eq!(err, api_error(404, "Not Found: method not found"));
    emu.start_chat(BOT, alice()).unwrap();
    let huge = serde_json::json!({"chat_id": chat(), "text": "x", "pad": "y".repeat(2 << 20)});
    let once = client(&emu, TOKEN, RetryPolicy::none());
    // The emulator answers 413 as soon as it sees the Content-Length and closes the connection:
    // a client still writing the body may see the reset (a broken pipe) instead of the answer.
    match once.call::<_, Message>("sendMessage", &huge).unwrap_err() {
        ApiError::Network(_) => {}
        other => assert_eq!(other, api_error(413, "Request Entity Too Large")),
    }
    assert_eq!(emu.calls(BOT, "sendMessage"), 0);
    assert_eq!(emu.messages(BOT, chat()).len(), 1);
    // Just under the limit is carried out.
    let big = serde_json::json!({"chat_id": chat(), "text": "x", "pad": "y".repeat(1000 * 1000)});
    once.call::<_, Message>("sendMessage", &big).unwrap();
    assert_eq!(emu.calls(BOT, "sendMessage"), 1);
}

#[test]
fn send_and_edit() {
    let (emu, c) = setup();
    assert_eq!(emu.start_chat(BOT, alice()).unwrap(), 1);
    let sent = c
        .send_message(&text(chat(), "Approve?", Some(keyboard(&[("Yes", "y1")]))))
        .unwrap();
    assert_eq!(sent.message_id, 2);
    assert_eq!(sent.chat.id, chat());
    assert!(sent.from.as_ref().unwrap().is_bot);
    assert!(sent.date > 1_700_000_000);
    let second = c.send_message(&text(chat(), "again", None)).unwrap();
    assert_eq!(second.message_id, 3);

    let edit = |id: i64, t: &str, markup: Option<InlineKeyboardMarkup>| EditMessageText {
        chat_id: chat(),
        message_id: id,
        text: t.into(),
        parse_mode: None,
        reply_markup: markup,
    };
    let edited = c.edit_message_text(&edit(2, "Approved", None)).unwrap();
    assert_eq!(edited.text.as_deref(), Some("Approved"));
    assert!(edited.reply_markup.is_none() && edited.edit_date.is_some());
    let err = c.edit_message_text(&edit(2, "Approved", None)).unwrap_err();
    assert!(
        matches!(&err, ApiError::Api { code: 400, description } if description.starts_with("Bad Request: message is not modified")),
        "{err:?}"
    );
    assert_eq!(
        c.edit_message_text(&edit(99, "x", None)).unwrap_err(),
        api_error(400, "Bad Request: message to edit not found")
    );
    assert_eq!(
        c.edit_message_text(&edit(1, "x", None)).unwrap_err(),
        api_error(400, "Bad Request: message can't be edited")
    );

    let all = emu.messages(BOT, chat());
    let texts: Vec<_> = all.iter().map(|m| m.text.clone().unwrap()).collect();
    assert_eq!(texts, ["/start", "Approved", "again"]);
    assert_eq!(emu.calls(BOT, "sendMessage"), 2);
    assert_eq!(emu.calls(BOT, "editMessageText"), 1);
    let found = emu.wait_for_message(BOT, chat(), Duration::from_millis(10), |m| {
        m.text.as_deref() == Some("again")
    });
    assert_eq!(found.unwrap().message_id, 3);
}

#[test]
fn refusals_of_send_message() {
    let (emu, c) = setup();
    assert_eq!(
        c.send_message(&text(chat(), "hi", None)).unwrap_err(),
        api_error(400, "Bad Request: chat not found")
    );
    emu.start_chat(BOT, alice()).unwrap();
    let long_data = "d".repeat(65);
    assert_eq!(
        c.send_message(&text(chat(), "hi", Some(keyboard(&[("Yes", &long_data)]))))
            .unwrap_err(),
        api_error(400, "Bad Request: BUTTON_DATA_INVALID")
    );
    assert_eq!(
        c.send_message(&text(chat(), "hi", Some(keyboard(&[("Yes", "")]))))
            .unwrap_err(),
        api_error(400, "Bad Request: BUTTON_DATA_INVALID")
    );
    assert_eq!(
        c.send_message(&text(chat(), "", None)).unwrap_err(),
        api_error(400, "Bad Request: message text is empty")
    );
    assert_eq!(
        c.send_message(&text(chat(), &"x".repeat(4097), None))
            .unwrap_err(),
        api_error(400, "Bad Request: message is too long")
    );
    c.send_message(&text(
        chat(),
        &"é".repeat(4096),
        Some(keyboard(&[("Yes", &"d".repeat(64))])),
    ))
    .unwrap();
    assert_eq!(emu.calls(BOT, "sendMessage"), 1);
    assert_eq!(emu.requests(BOT), 6);
    assert_eq!(emu.messages(BOT, chat()).len(), 2);
}

#[test]
fn callback_round_trip() {
    let (emu, c) = setup();
    emu.start_chat(BOT, alice()).unwrap();
    let sent = c
        .send_message(&text(
            chat(),
            "Sign?",
            Some(keyboard(&[("Approve", "tok-a"), ("Deny", "tok-d")])),
        ))
        .unwrap();
    assert_eq!(
        emu.press_button(BOT, chat(), sent.message_id, "Maybe"),
        Err(EmulatorError::ButtonNotFound {
            message_id: sent.message_id
        })
    );
    assert_eq!(
        emu.press_button(BOT, chat(), 77, "Approve"),
        Err(EmulatorError::MessageNotFound {
            chat_id: chat(),
            message_id: 77
        })
    );
    let query_id = emu
        .press_button(BOT, chat(), sent.message_id, "Approve")
        .unwrap();
    let forged = emu
        .press_with_data(BOT, chat(), sent.message_id, "tok-forged")
        .unwrap();

    let updates = c.get_updates(&GetUpdates::default()).unwrap();
    assert_eq!(updates.len(), 3);
    assert_eq!(
        updates[0].message.as_ref().unwrap().text.as_deref(),
        Some("/start")
    );
    let q = updates[1].callback_query.as_ref().unwrap();
    assert_eq!(q.id, query_id);
    assert_eq!(q.from.id, ALICE);
    assert_eq!(q.data.as_deref(), Some("tok-a"));
    assert_eq!(q.message.as_ref().unwrap().message_id, sent.message_id);
    let f = updates[2].callback_query.as_ref().unwrap();
    assert_eq!(
        (f.id.as_str(), f.data.as_deref()),
        (forged.as_str(), Some("tok-forged"))
    );
    assert!(updates[0].update_id < updates[1].update_id);

    // Confirming with offset drops them.
    let next = GetUpdates {
        offset: Some(updates[2].update_id + 1),
        ..GetUpdates::default()
    };
    assert!(c.get_updates(&next).unwrap().is_empty());
    assert_eq!(emu.pending_updates(BOT), 0);

    let answer = AnswerCallbackQuery {
        callback_query_id: query_id.clone(),
        text: Some("Signed".into()),
        show_alert: None,
    };
    assert!(c.answer_callback_query(&answer).unwrap());
    assert_eq!(emu.callback_answers(BOT), vec![answer.clone()]);
    assert_eq!(
        c.answer_callback_query(&answer).unwrap_err(),
        api_error(
            400,
            "Bad Request: query is too old and response timeout expired or query ID is invalid"
        )
    );
}

#[test]
fn long_poll_wakes_on_a_new_update() {
    let (emu, c) = setup();
    emu.start_chat(BOT, alice()).unwrap();
    let first = c.get_updates(&GetUpdates::default()).unwrap();
    let offset = first[0].update_id + 1;
    let (tx, rx) = mpsc::channel();
    let poller = c.clone();
    let started = Instant::now();
    std::thread::spawn(move || {
        let r = poller.get_updates(&GetUpdates {
            offset: Some(offset),
            timeout: Some(20),
            ..GetUpdates::default()
        });
        let _ = tx.send((r, started.elapsed()));
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        rx.try_recv().is_err(),
        "the long poll returned before any update"
    );
    emu.send_text(BOT, ALICE, "hello bot").unwrap();
    let (r, elapsed) = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let updates: Vec<Update> = r.unwrap();
    assert_eq!(updates.len(), 1);
    assert_eq!(
        updates[0].message.as_ref().unwrap().text.as_deref(),
        Some("hello bot")
    );
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");

    // An empty long poll ends at its timeout with no updates.
    let t = Instant::now();
    let none = c
        .get_updates(&GetUpdates {
            offset: Some(updates[0].update_id + 1),
            timeout: Some(1),
            ..GetUpdates::default()
        })
        .unwrap();
    assert!(none.is_empty());
    assert!(
        t.elapsed() >= Duration::from_millis(900),
        "{:?}",
        t.elapsed()
    );
}

#[test]
fn too_many_requests_is_waited_out() {
    let (emu, c) = setup();
    emu.start_chat(BOT, alice()).unwrap();
    emu.fail_next(
        BOT,
        Some("sendMessage"),
        vec![Fault::TooManyRequests {
            retry_after_secs: 1,
        }],
    )
    .unwrap();
    assert_eq!(
        emu.fail_next(7, None, vec![Fault::Status(500)]),
        Err(EmulatorError::UnknownBot(7))
    );
    // A fault for another method leaves getMe alone.
    c.get_me().unwrap();
    let t = Instant::now();
    c.send_message(&text(chat(), "hi", None)).unwrap();
    assert!(t.elapsed() >= Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(emu.calls(BOT, "sendMessage"), 1);
    assert_eq!(emu.requests(BOT), 3);
    // Faults come before the request is carried out: one message only.
    assert_eq!(emu.messages(BOT, chat()).len(), 2);

    // A single attempt sees the flood-control answer.
    emu.fail_next(
        BOT,
        None,
        vec![Fault::TooManyRequests {
            retry_after_secs: 7,
        }],
    )
    .unwrap();
    let once = client(&emu, TOKEN, RetryPolicy::none());
    assert_eq!(
        once.get_me().unwrap_err(),
        ApiError::RetryAfter(Duration::from_secs(7))
    );
}

#[test]
fn server_errors_are_retried() {
    let (emu, c) = setup();
    emu.fail_next(BOT, None, vec![Fault::Status(502), Fault::Status(500)])
        .unwrap();
    assert_eq!(c.get_me().unwrap().id, BOT);
    assert_eq!(emu.requests(BOT), 3);
    assert_eq!(emu.calls(BOT, "getMe"), 1);

    emu.fail_next(
        BOT,
        None,
        vec![Fault::BotApi {
            code: 500,
            description: "Internal Server Error".into(),
        }],
    )
    .unwrap();
    let once = client(&emu, TOKEN, RetryPolicy::none());
    assert_eq!(once.get_me().unwrap_err(), ApiError::Server(500));
    emu.fail_next(BOT, None, vec![Fault::Status(502)]).unwrap();
    assert_eq!(once.get_me().unwrap_err(), ApiError::Server(502));
    // More faults than attempts: the last error comes back.
    emu.fail_next(BOT, None, vec![Fault::Status(503); 4])
        .unwrap();
    assert_eq!(c.get_me().unwrap_err(), ApiError::Server(503));
}

#[test]
fn web_app_init_data_validates_both_ways() {
    let (emu, _) = setup();
    assert_eq!(
        emu.web_app_init_data(BOT, ALICE),
        Err(EmulatorError::ChatNotFound(chat()))
    );
    emu.start_chat(BOT, alice()).unwrap();
    let text = emu.web_app_init_data(BOT, ALICE).unwrap();
    let token = BotToken::parse(TOKEN).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let minute = Duration::from_secs(60);
    let data: InitData = initdata::validate(&text, &token, now, minute).unwrap();
    assert_eq!(data.user_id(), Some(ALICE));
    assert_eq!(
        data.user.as_ref().unwrap().username.as_deref(),
        Some("alice")
    );
    assert!(data.query_id.is_some());
    let key = emu.third_party_public_key();
    let third = initdata::validate_third_party(&text, BOT, &key, now, minute).unwrap();
    assert_eq!(third, data);
    assert_eq!(
        initdata::validate_third_party(
            &text,
            BOT,
            &initdata::TELEGRAM_PUBLIC_KEY_PRODUCTION,
            now,
            minute
        ),
        Err(InitDataError::BadHash)
    );

    let old = emu.web_app_init_data_at(BOT, ALICE, now - 3600).unwrap();
    assert!(matches!(
        initdata::validate(&old, &token, now, minute),
        Err(InitDataError::Stale { age }) if age >= 3600
    ));
}

/// A plain HTTP/1.1 receiver on 127.0.0.1: answers each request with the next status of
/// `statuses` (then 200) and reports (secret header, body).
fn webhook_receiver(statuses: Vec<u16>) -> (String, mpsc::Receiver<(Option<String>, String)>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut secret = None;
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let line = line.trim_end();
                if line.is_empty() {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap();
                    }
                    if k.eq_ignore_ascii_case("x-telegram-bot-api-secret-token") {
                        secret = Some(v.trim().to_owned());
                    }
                }
            }
            let mut body = vec![0; len];
            reader.read_exact(&mut body).unwrap();
            let status = statuses.next().unwrap_or(200);
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            );
            if tx.send((secret, String::from_utf8(body).unwrap())).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

#[test]
fn webhook_delivery_with_retry() {
    let (emu, c) = setup();
    emu.start_chat(BOT, alice()).unwrap();
    let (url, received) = webhook_receiver(vec![500]);
    assert!(
        c.set_webhook(&SetWebhook {
            url: url.clone(),
            secret_token: Some("hook_secret-1".into()),
            allowed_updates: None,
            drop_pending_updates: Some(true),
        })
        .unwrap()
    );
    assert_eq!(
        c.get_updates(&GetUpdates::default()).unwrap_err(),
        api_error(
            409,
            "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
        )
    );
    emu.send_text(BOT, ALICE, "via webhook").unwrap();
    // First delivery answered 500, the second 200.
    let (secret, body) = received.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(secret.as_deref(), Some("hook_secret-1"));
    let (_, again) = received.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(body, again);
    let update: Update = serde_json::from_str(&body).unwrap();
    assert_eq!(update.message.unwrap().text.as_deref(), Some("via webhook"));
    let deadline = Instant::now() + Duration::from_secs(5);
    while emu.pending_updates(BOT) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(emu.pending_updates(BOT), 0);
    let info: WebhookInfo = c.call("getWebhookInfo", &NoParams {}).unwrap();
    assert_eq!(info.url, url);
    assert_eq!(info.pending_update_count, 0);
    assert!(
        info.last_error_message
            .as_deref()
            .is_some_and(|m| m.contains("500")),
        "{info:?}"
    );

    assert!(c.delete_webhook(&Default::default()).unwrap());
    emu.send_text(BOT, ALICE, "polled").unwrap();
    let polled = c.get_updates(&GetUpdates::default()).unwrap();
    assert_eq!(polled.len(), 1);
    assert!(received.recv_timeout(Duration::from_millis(300)).is_err());
    assert_eq!(
        c.set_webhook(&SetWebhook {
            url: "http://example.org/hook".into(),
            secret_token: None,
            allowed_updates: None,
            drop_pending_updates: None,
        })
        .unwrap_err(),
        api_error(
            400,
            "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
        )
    );
}

#[test]
fn webhook_over_https_to_a_trusted_ca() {
    // A second emulator stands in for an HTTPS webhook receiver: its CA is trusted by the first,
    // and a delivery to a path that is not `/bot<token>/…` gets its 404, so deliveries fail and
    // are retried with the error recorded; trusting nothing gives a TLS error instead.
    let (emu, c) = setup();
    let receiver = BotApiEmulator::start().unwrap();
    emu.start_chat(BOT, alice()).unwrap();
    let set = |url: String| {
        c.set_webhook(&SetWebhook {
            url,
            secret_token: None,
            allowed_updates: None,
            drop_pending_updates: None,
        })
        .unwrap()
    };
    assert!(set(format!("{}/hook", receiver.base_url())));
    let info = || -> WebhookInfo { c.call("getWebhookInfo", &NoParams {}).unwrap() };
    let wait_error = |needle: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let i = info();
            if i.last_error_message
                .as_deref()
                .is_some_and(|m| m.contains(needle))
            {
                return i;
            }
            assert!(Instant::now() < deadline, "{i:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let untrusted = wait_error("SSL error");
    assert_eq!(untrusted.pending_update_count, 1);
    emu.trust_webhook_ca(&receiver.ca_pem()).unwrap();
    set(format!("{}/hook", receiver.base_url()));
    let trusted = wait_error("404");
    assert_eq!(trusted.pending_update_count, 1);

    // A path the receiver serves (its own bot's getMe, which ignores the body): delivered.
    let receiver_token = "555:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDrcv0";
    receiver.add_bot(&BotToken::parse(receiver_token).unwrap(), "receiver_bot");
    set(format!("{}/bot{receiver_token}/getMe", receiver.base_url()));
    let deadline = Instant::now() + Duration::from_secs(10);
    while emu.pending_updates(BOT) > 0 {
        assert!(Instant::now() < deadline, "{:?}", info());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(receiver.calls(555, "getMe"), 1);
    assert_eq!(info().last_error_message, None);
}

#[test]
fn wait_for_message_blocks_until_the_bot_sends() {
    let (emu, c) = setup();
    emu.start_chat(BOT, alice()).unwrap();
    let sender = c.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        sender.send_message(&text(chat(), "late", None)).unwrap();
    });
    let is_late = |m: &Message| m.text.as_deref() == Some("late");
    assert!(
        emu.wait_for_message(BOT, chat(), Duration::from_millis(50), is_late)
            .is_none()
    );
    let m = emu
        .wait_for_message(BOT, chat(), Duration::from_secs(10), is_late)
        .unwrap();
    assert!(m.from.unwrap().is_bot);
    t.join().unwrap();
}

#[test]
fn drop_stops_the_server() {
    let (emu, c) = setup();
    c.get_me().unwrap();
    let ca = emu.ca_pem();
    drop(emu);
    let once = BotClient::builder(BotToken::parse(TOKEN).unwrap())
        .base_url(c.base_url())
        .ca_pem(ca.as_bytes())
        .retry(RetryPolicy::none())
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match once.get_me() {
            Err(ApiError::Network(_)) => break,
            other => assert!(Instant::now() < deadline, "still served: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
