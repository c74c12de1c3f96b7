//! Every vector of `tests/data/initdata/vectors.json` (written by the independent Python
//! generator next to it; see its README) against `kms_telegram::initdata`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use kms_telegram::BotToken;
use kms_telegram::InitDataError;
use kms_telegram::initdata::{
    MAX_CLOCK_SKEW_SECS, MAX_INIT_DATA_LEN, validate, validate_third_party,
};
use serde_json::Value;

const VECTORS: &str = include_str!("data/initdata/vectors.json");

fn run(v: &Value, max_age: Duration) -> Result<kms_telegram::initdata::InitData, InitDataError> {
    let text = v["init_data"].as_str().unwrap();
    let now = v["now"].as_u64().unwrap();
    match v["form"].as_str().unwrap() {
        "first_party" => {
            let token = BotToken::parse(v["bot_token"].as_str().unwrap()).unwrap();
            validate(text, &token, now, max_age)
        }
        "third_party" => {
            let mut key = [0u8; 32];
            hex::decode_to_slice(v["public_key"].as_str().unwrap(), &mut key).unwrap();
            validate_third_party(text, v["bot_id"].as_u64().unwrap(), &key, now, max_age)
        }
        other => panic!("unknown form {other}"),
    }
}

fn field(v: &Value, name: &str) -> String {
    v[name].as_str().unwrap().to_owned()
}

#[test]
fn vectors() {
    let doc: Value = serde_json::from_str(VECTORS).unwrap();
    let max_age = Duration::from_secs(doc["max_age_secs"].as_u64().unwrap());
    assert_eq!(
        doc["max_clock_skew_secs"].as_u64(),
        Some(MAX_CLOCK_SKEW_SECS)
    );

    let passing = doc["pass"].as_array().unwrap();
    assert!(passing.len() >= 10);
    for v in passing {
        let name = v["name"].as_str().unwrap();
        let data = run(v, max_age).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        assert_eq!(data.user_id(), v["user_id"].as_u64(), "{name}");
    }

    let failing = doc["fail"].as_array().unwrap();
    assert!(failing.len() >= 20);
    for v in failing {
        let name = v["name"].as_str().unwrap();
        let err = run(v, max_age).expect_err(name);
        let expected = match v["expect"].as_str().unwrap() {
            "BadHash" => InitDataError::BadHash,
            "MissingHash" => InitDataError::MissingHash,
            "MissingSignature" => InitDataError::MissingSignature,
            "TooLong" => InitDataError::TooLong(v["init_data"].as_str().unwrap().len()),
            "Stale" => InitDataError::Stale {
                age: v["age"].as_u64().unwrap(),
            },
            "FromFuture" => InitDataError::FromFuture {
                ahead: v["ahead"].as_u64().unwrap(),
            },
            "Malformed" => InitDataError::Malformed(field(v, "field")),
            "DuplicateKey" => InitDataError::DuplicateKey(field(v, "field")),
            other => panic!("{name}: unknown expectation {other}"),
        };
        assert_eq!(err, expected, "{name}");
        if let InitDataError::TooLong(n) = err {
            assert!(n > MAX_INIT_DATA_LEN);
        }
        // Errors name fields, never values: no hash, signature or user JSON in the text.
        let shown = format!("{err} {err:?}");
        assert!(
            !shown.contains("%7B") && !shown.contains("\"id\"") && !shown.contains("AAHdF6"),
            "{name}: {shown}"
        );
    }
}

/// The published Telegram-issued example: its `hash` covers `signature` (the HMAC form excludes
/// only `hash`); removing `signature` breaks it, re-adding it anywhere in the string does not.
#[test]
fn published_signature_is_inside_the_hmac() {
    let doc: Value = serde_json::from_str(VECTORS).unwrap();
    let v = doc["pass"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "published_telegram_shaped")
        .unwrap();
    let text = v["init_data"].as_str().unwrap();
    let token = BotToken::parse(v["bot_token"].as_str().unwrap()).unwrap();
    let now = v["now"].as_u64().unwrap();
    let day = Duration::from_secs(86_400);
    let (before, sig_and_hash) = text.split_once("&signature=").unwrap();
    let (sig, hash) = sig_and_hash.split_once("&hash=").unwrap();
    let without = format!("{before}&hash={hash}");
    assert_eq!(
        validate(&without, &token, now, day),
        Err(InitDataError::BadHash)
    );
    let moved = format!("signature={sig}&{before}&hash={hash}");
    assert_eq!(
        validate(&moved, &token, now, day).unwrap().user_id(),
        Some(279_058_397)
    );
}
