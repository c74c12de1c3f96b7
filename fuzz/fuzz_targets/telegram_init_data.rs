//! Mini App initData: arbitrary text into both validators never panics and is refused (it
//! carries no valid MAC or signature); and for generated fields, what `sign_first_party` /
//! `sign_third_party` produce (separately and in Telegram's combined shape, `signature` inside
//! the HMAC) validates and returns the fields that were signed.
#![no_main]

use std::time::Duration;

use arbitrary::Arbitrary;
use ed25519_dalek::SigningKey;
use kms_telegram::BotToken;
use kms_telegram::initdata::{
    self, MAX_INIT_DATA_LEN, sign_first_party, sign_third_party, validate, validate_third_party,
};
use libfuzzer_sys::fuzz_target;

const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0";
const BOT_ID: u64 = 123_456_789;
const NOW: u64 = 1_750_000_000;
const DAY: Duration = Duration::from_secs(86_400);

#[derive(Arbitrary, Debug)]
struct Input {
    raw: String,
    fields: Vec<(String, String)>,
    user_id: Option<u64>,
    first_name: String,
    age: u16,
}

/// Fields the validators give meaning to (typed, or the MAC itself) are set by the target.
const RESERVED: &[&str] = &[
    "hash",
    "signature",
    "auth_date",
    "user",
    "receiver",
    "can_send_after",
];

fn usable(key: &str, value: &str) -> bool {
    !key.is_empty()
        && !key.contains(['\n', '='])
        && !value.contains('\n')
        && !RESERVED.contains(&key)
}

fuzz_target!(|input: Input| {
    let token = BotToken::parse(TOKEN).expect("token");
    let key = SigningKey::from_bytes(&[9; 32]);
    let public = key.verifying_key().to_bytes();

    // Arbitrary text: refused, without a panic.
    assert!(validate(&input.raw, &token, NOW, DAY).is_err());
    assert!(validate_third_party(&input.raw, BOT_ID, &public, NOW, DAY).is_err());
    assert!(
        validate_third_party(
            &input.raw,
            BOT_ID,
            &initdata::TELEGRAM_PUBLIC_KEY_PRODUCTION,
            NOW,
            DAY
        )
        .is_err()
    );

    // Generated fields: sign, then validate.
    let mut fields: Vec<(String, String)> = Vec::new();
    for (k, v) in input.fields {
        if usable(&k, &v) && !fields.iter().any(|(seen, _)| *seen == k) {
            fields.push((k, v));
        }
    }
    let auth_date = NOW - u64::from(input.age);
    fields.push(("auth_date".into(), auth_date.to_string()));
    if let Some(id) = input.user_id {
        let user = serde_json::json!({"id": id, "first_name": input.first_name});
        fields.push(("user".into(), user.to_string()));
    }
    let pairs: Vec<(&str, &str)> = fields
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let check = |data: &initdata::InitData| {
        assert_eq!(data.auth_date, auth_date);
        assert_eq!(data.user_id(), input.user_id);
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(data.query_id, get("query_id"));
        assert_eq!(data.start_param, get("start_param"));
        assert_eq!(data.chat_type, get("chat_type"));
    };

    let first = sign_first_party(&pairs, &token);
    if first.len() <= MAX_INIT_DATA_LEN {
        check(&validate(&first, &token, NOW, DAY).expect("first-party round trip"));
    }
    let third = sign_third_party(&pairs, BOT_ID, &key);
    if third.len() <= MAX_INIT_DATA_LEN {
        check(
            &validate_third_party(&third, BOT_ID, &public, NOW, DAY)
                .expect("third-party round trip"),
        );
        assert!(validate_third_party(&third, BOT_ID + 1, &public, NOW, DAY).is_err());
    }
    // Telegram's shape: the signature, then a hash over everything including it.
    let (_, signature) = third
        .rsplit_once("&signature=")
        .expect("signature appended");
    let mut both = pairs.clone();
    both.push(("signature", signature));
    let shaped = sign_first_party(&both, &token);
    if shaped.len() <= MAX_INIT_DATA_LEN {
        check(&validate(&shaped, &token, NOW, DAY).expect("combined first-party"));
        check(
            &validate_third_party(&shaped, BOT_ID, &public, NOW, DAY)
                .expect("combined third-party"),
        );
    }
});
