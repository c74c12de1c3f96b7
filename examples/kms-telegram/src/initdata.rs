//! Telegram Mini App `initData` validation (<https://core.telegram.org/bots/webapps>, sections
//! "Validating data received via the Mini App" and "Validating data for Third-Party Use").
//!
//! I/O free: the text, the bot token or Telegram's public key, and the current time are passed
//! in. The crate README describes both algorithms, the freshness rules and where the test
//! vectors come from.
//!
//! Stricter than the published algorithm in three ways, each refusing only input a Telegram
//! client never produces: a key that occurs twice ([`InitDataError::DuplicateKey`]), a malformed
//! percent escape or a value that does not decode to UTF-8, and a decoded key or value holding a
//! line feed (or a key holding `=`). The last one matters: the data-check-string joins
//! `key=value` pairs with `\n`, so without it `a=1&b=2` and `a=1%0Ab%3D2` have the same hash and
//! a holder of genuine initData could re-split it into other fields.

use core::fmt;
use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use hmac::{Hmac, KeyInit, Mac as _};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::error::InitDataError;
use crate::token::BotToken;

/// The longest initData accepted, in bytes; longer input is refused before it is parsed.
/// Telegram's initData is a few hundred bytes (a user with a long name and photo URL stays
/// under 1 KiB).
pub const MAX_INIT_DATA_LEN: usize = 8192;

/// How far `auth_date` may be ahead of the `now` passed in (clocks of the validating server and
/// Telegram's differ slightly), in seconds.
pub const MAX_CLOCK_SKEW_SECS: u64 = 60;

/// Telegram's Ed25519 key for third-party validation of initData issued by the production
/// environment (hex `e7bf03a2…ed242d`, as published in "Validating data for Third-Party Use").
pub const TELEGRAM_PUBLIC_KEY_PRODUCTION: [u8; 32] = [
    0xe7, 0xbf, 0x03, 0xa2, 0xfa, 0x46, 0x02, 0xaf, 0x45, 0x80, 0x70, 0x3d, 0x88, 0xdd, 0xa5, 0xbb,
    0x59, 0xf3, 0x2e, 0xd8, 0xb0, 0x2a, 0x56, 0xc1, 0x87, 0xfe, 0x7d, 0x34, 0xca, 0xed, 0x24, 0x2d,
];

/// Telegram's Ed25519 key for third-party validation of initData issued by the test environment
/// (hex `40055058…ddf72ec`, as published in "Validating data for Third-Party Use").
pub const TELEGRAM_PUBLIC_KEY_TEST: [u8; 32] = [
    0x40, 0x05, 0x50, 0x58, 0xa4, 0xee, 0x38, 0x15, 0x6a, 0x06, 0x56, 0x2e, 0x52, 0xee, 0xce, 0x92,
    0xa7, 0x71, 0xbc, 0xd8, 0x34, 0x6a, 0x8c, 0x46, 0x15, 0xcb, 0x73, 0x76, 0xed, 0xdf, 0x72, 0xec,
];

/// The HMAC key derivation constant of the first-party form.
const WEB_APP_DATA: &[u8] = b"WebAppData";

/// Field names are repeated in errors; this bounds how much of an odd name is.
const MAX_NAME_IN_ERROR: usize = 64;

/// The user of a Mini App (Telegram's `WebAppUser`, the `user` field). Fields Telegram adds
/// later are ignored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct WebAppUser {
    /// The user's id (the same as the chat id of a private chat with the bot).
    pub id: u64,
    /// Whether this is a bot (only in `receiver`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_bot: Option<bool>,
    /// First name.
    #[serde(default)]
    pub first_name: String,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Username, without the `@`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// IETF language tag of the user's client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
    /// Whether the user has Telegram Premium.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_premium: Option<bool>,
    /// Whether the user allowed the bot to message them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allows_write_to_pm: Option<bool>,
    /// URL of the profile photo.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub photo_url: Option<String>,
}

impl WebAppUser {
    /// A user with only an id and a first name.
    #[must_use]
    pub fn new(id: u64, first_name: impl Into<String>) -> Self {
        Self {
            id,
            is_bot: None,
            first_name: first_name.into(),
            last_name: None,
            username: None,
            language_code: None,
            is_premium: None,
            allows_write_to_pm: None,
            photo_url: None,
        }
    }
}

impl fmt::Debug for WebAppUser {
    /// The id only (names are personal data and do not help debugging).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebAppUser")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Validated initData (Telegram's `WebAppInitData`): the fields this crate uses, typed.
///
/// `Debug` shows the user id, `auth_date` and the chat type; never `query_id` (it lets its
/// holder answer the Mini App's query on the user's behalf), the hash or the signature.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct InitData {
    /// The user who opened the Mini App (absent for some launch modes).
    pub user: Option<WebAppUser>,
    /// The chat partner, for Mini Apps opened from the attachment menu of a private chat.
    pub receiver: Option<WebAppUser>,
    /// Unix time the Mini App was opened (checked for freshness).
    pub auth_date: u64,
    /// The session id `answerWebAppQuery` takes.
    pub query_id: Option<String>,
    /// The `startapp` / `startattach` parameter of the link that opened the Mini App.
    pub start_param: Option<String>,
    /// Global id of the chat the Mini App was opened from (direct links).
    pub chat_instance: Option<String>,
    /// `sender`, `private`, `group`, `supergroup` or `channel` (direct links).
    pub chat_type: Option<String>,
    /// Seconds after which `answerWebAppQuery` may be called.
    pub can_send_after: Option<u64>,
}

impl InitData {
    /// The id of the user who opened the Mini App.
    #[must_use]
    pub fn user_id(&self) -> Option<u64> {
        self.user.as_ref().map(|u| u.id)
    }
}

impl fmt::Debug for InitData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InitData")
            .field("user_id", &self.user_id())
            .field("auth_date", &self.auth_date)
            .field("chat_type", &self.chat_type)
            .field("has_query_id", &self.query_id.is_some())
            .finish_non_exhaustive()
    }
}

/// Validates initData in Telegram's first-party form (the `hash` field, an HMAC keyed with the
/// bot token) and returns its fields.
///
/// `secret_key = HMAC-SHA256(key = "WebAppData", msg = bot_token)`; the data-check-string is
/// every field except `hash` (so `signature` is covered), percent-decoded, sorted by key, as
/// `key=value` lines joined by `\n`; `hash` must be the lowercase hex of
/// `HMAC-SHA256(key = secret_key, msg = data_check_string)`, compared in constant time. Then
/// `auth_date` must be at most `max_age` old and at most [`MAX_CLOCK_SKEW_SECS`] ahead of `now`
/// (Unix seconds). Costs three SHA-256 HMAC passes over at most [`MAX_INIT_DATA_LEN`] bytes.
///
/// # Errors
/// [`InitDataError`]: too long, not a well-formed query string, a duplicate key,
/// no `hash`, a hash that does not match (forged, altered, or another bot's), a missing or
/// malformed `auth_date` or `user`, stale or from the future. The error names fields only.
pub fn validate(
    init_data: &str,
    bot_token: &BotToken,
    now: u64,
    max_age: Duration,
) -> Result<InitData, InitDataError> {
    let fields = parse(init_data)?;
    let hash = fields.get("hash").ok_or(InitDataError::MissingHash)?;
    let mut expected = [0u8; 32];
    if hex::decode_to_slice(hash, &mut expected).is_err() {
        return Err(InitDataError::BadHash);
    }
    let actual = first_party_mac(&fields, bot_token);
    if !bool::from(actual.ct_eq(&expected)) {
        return Err(InitDataError::BadHash);
    }
    typed(&fields, now, max_age)
}

/// Validates initData in Telegram's third-party form (the `signature` field, Ed25519 by
/// Telegram) for the bot `bot_id`, without its token, and returns its fields.
///
/// The signed message is `"{bot_id}:WebAppData\n"` followed by the data-check-string of every
/// field except `hash` and `signature`; `signature` is the unpadded base64url of the 64-byte
/// signature, verified strictly under `telegram_key` ([`TELEGRAM_PUBLIC_KEY_PRODUCTION`] or
/// [`TELEGRAM_PUBLIC_KEY_TEST`]). Freshness as in [`validate`].
///
/// # Errors
/// As [`validate`], with [`InitDataError::MissingSignature`] instead of a missing hash; a
/// signature that does not decode, does not verify, or was made for another bot id is
/// [`InitDataError::BadHash`].
pub fn validate_third_party(
    init_data: &str,
    bot_id: u64,
    telegram_key: &[u8; 32],
    now: u64,
    max_age: Duration,
) -> Result<InitData, InitDataError> {
    let fields = parse(init_data)?;
    let text = fields
        .get("signature")
        .ok_or(InitDataError::MissingSignature)?;
    let mut raw = [0u8; 64];
    match URL_SAFE_NO_PAD.decode_slice(text, &mut raw) {
        Ok(64) => {}
        _ => return Err(InitDataError::BadHash),
    }
    let key = VerifyingKey::from_bytes(telegram_key).map_err(|_| InitDataError::BadHash)?;
    let message = third_party_message(&fields, bot_id);
    key.verify_strict(message.as_bytes(), &Signature::from_bytes(&raw))
        .map_err(|_| InitDataError::BadHash)?;
    typed(&fields, now, max_age)
}

/// The initData a Telegram client would hand a Mini App of the bot: `fields` URL-encoded in the
/// given order, then `hash` (the first-party HMAC over all of them, `signature` included when
/// present). A field named `hash` in `fields` is left out; a key given twice yields text that
/// [`validate`] refuses ([`InitDataError::DuplicateKey`]). For the emulator and tests: the real
/// initData is made by Telegram.
#[must_use]
pub fn sign_first_party(fields: &[(&str, &str)], bot_token: &BotToken) -> String {
    let map: BTreeMap<String, String> = fields
        .iter()
        .filter(|(k, _)| *k != "hash")
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let mac = first_party_mac(&map, bot_token);
    let mut out = encode_fields(fields.iter().filter(|(k, _)| *k != "hash"));
    push_pair(&mut out, "hash", &hex::encode(*mac));
    out
}

/// The third-party form of [`sign_first_party`]: `fields` URL-encoded, then `signature`, the
/// Ed25519 signature by `key` of the message [`validate_third_party`] checks for `bot_id`.
/// Fields named `hash` or `signature` in `fields` are left out. For the emulator and tests
/// (`key` stands in for Telegram's).
#[must_use]
pub fn sign_third_party(fields: &[(&str, &str)], bot_id: u64, key: &SigningKey) -> String {
    let kept = || {
        fields
            .iter()
            .filter(|(k, _)| *k != "hash" && *k != "signature")
    };
    let signature = third_party_signature(kept().copied(), bot_id, key);
    let mut out = encode_fields(kept());
    push_pair(&mut out, "signature", &signature);
    out
}

/// The base64url `signature` value for `fields` (without `hash` and `signature`).
pub(crate) fn third_party_signature<'a>(
    fields: impl Iterator<Item = (&'a str, &'a str)>,
    bot_id: u64,
    key: &SigningKey,
) -> String {
    let map: BTreeMap<String, String> = fields
        .filter(|(k, _)| *k != "hash" && *k != "signature")
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let message = third_party_message(&map, bot_id);
    URL_SAFE_NO_PAD.encode(key.sign(message.as_bytes()).to_bytes())
}

/// The decoded fields, each key once.
fn parse(init_data: &str) -> Result<BTreeMap<String, String>, InitDataError> {
    if init_data.len() > MAX_INIT_DATA_LEN {
        return Err(InitDataError::TooLong(init_data.len()));
    }
    let mut fields = BTreeMap::new();
    for pair in init_data.split('&') {
        let Some((raw_key, raw_value)) = pair.split_once('=') else {
            return Err(malformed("query string"));
        };
        let key = percent_decode(raw_key).ok_or_else(|| malformed("field name"))?;
        if key.is_empty() || key.contains(['\n', '=']) {
            return Err(malformed("field name"));
        }
        let value = percent_decode(raw_value).ok_or_else(|| malformed(&key))?;
        if value.contains('\n') {
            return Err(malformed(&key));
        }
        if fields.contains_key(&key) {
            return Err(InitDataError::DuplicateKey(bounded(&key)));
        }
        fields.insert(key, value);
    }
    Ok(fields)
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a byte; the bytes must
/// be UTF-8. `None` for a truncated or non-hex escape or invalid UTF-8.
fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = hex_digit(*bytes.get(i + 1)?)?;
                let lo = hex_digit(*bytes.get(i + 2)?)?;
                out.push(hi << 4 | lo);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-encodes everything but `A-Z a-z 0-9 - . _ ~` (a space becomes `%20`, as Telegram's
/// clients write it).
fn percent_encode(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
}

fn push_pair(out: &mut String, key: &str, value: &str) {
    if !out.is_empty() {
        out.push('&');
    }
    percent_encode(key, out);
    out.push('=');
    percent_encode(value, out);
}

fn encode_fields<'a>(fields: impl Iterator<Item = &'a (&'a str, &'a str)>) -> String {
    let mut out = String::new();
    for (k, v) in fields {
        push_pair(&mut out, k, v);
    }
    out
}

/// `key=value` lines of every field but those in `skip`, sorted by key (the map's order),
/// joined by `\n`.
fn data_check_string(fields: &BTreeMap<String, String>, skip: &[&str], out: &mut String) {
    let mut first = true;
    for (k, v) in fields {
        if skip.contains(&k.as_str()) {
            continue;
        }
        if !first {
            out.push('\n');
        }
        first = false;
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
}

fn first_party_mac(fields: &BTreeMap<String, String>, bot_token: &BotToken) -> Zeroizing<[u8; 32]> {
    // HMAC takes keys of any length: `new_from_slice` cannot fail.
    let Ok(mut derive) = <Hmac<Sha256> as KeyInit>::new_from_slice(WEB_APP_DATA) else {
        return Zeroizing::new([0; 32]);
    };
    derive.update(bot_token.expose_secret().as_bytes());
    let secret_key = Zeroizing::new(<[u8; 32]>::from(derive.finalize().into_bytes()));
    let Ok(mut mac) = <Hmac<Sha256> as KeyInit>::new_from_slice(secret_key.as_slice()) else {
        return Zeroizing::new([0; 32]);
    };
    let mut text = String::new();
    data_check_string(fields, &["hash"], &mut text);
    mac.update(text.as_bytes());
    Zeroizing::new(<[u8; 32]>::from(mac.finalize().into_bytes()))
}

fn third_party_message(fields: &BTreeMap<String, String>, bot_id: u64) -> String {
    let mut text = format!("{bot_id}:WebAppData\n");
    data_check_string(fields, &["hash", "signature"], &mut text);
    text
}

/// The typed fields of authenticated initData, and its freshness.
fn typed(
    fields: &BTreeMap<String, String>,
    now: u64,
    max_age: Duration,
) -> Result<InitData, InitDataError> {
    let auth_date: u64 = fields
        .get("auth_date")
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| malformed("auth_date"))?;
    if auth_date > now {
        let ahead = auth_date - now;
        if ahead > MAX_CLOCK_SKEW_SECS {
            return Err(InitDataError::FromFuture { ahead });
        }
    }
    let age = now.saturating_sub(auth_date);
    if age > max_age.as_secs() {
        return Err(InitDataError::Stale { age });
    }
    let user_field = |name: &str| -> Result<Option<WebAppUser>, InitDataError> {
        fields
            .get(name)
            .map(|json| serde_json::from_str::<WebAppUser>(json).map_err(|_| malformed(name)))
            .transpose()
    };
    let can_send_after = fields
        .get("can_send_after")
        .map(|s| s.parse::<u64>().map_err(|_| malformed("can_send_after")))
        .transpose()?;
    Ok(InitData {
        user: user_field("user")?,
        receiver: user_field("receiver")?,
        auth_date,
        query_id: fields.get("query_id").cloned(),
        start_param: fields.get("start_param").cloned(),
        chat_instance: fields.get("chat_instance").cloned(),
        chat_type: fields.get("chat_type").cloned(),
        can_send_after,
    })
}

fn malformed(name: &str) -> InitDataError {
    InitDataError::Malformed(bounded(name))
}

fn bounded(name: &str) -> String {
    name.chars().take(MAX_NAME_IN_ERROR).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const TOKEN: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0";
    const NOW: u64 = 1_750_000_000;
    const DAY: Duration = Duration::from_secs(86_400);

    fn token() -> BotToken {
        BotToken::parse(TOKEN).unwrap()
    }

    #[test]
    fn constants_match_the_published_hex() {
        assert_eq!(
            hex::encode(TELEGRAM_PUBLIC_KEY_PRODUCTION),
            "e7bf03a2fa4602af4580703d88dda5bb59f32ed8b02a56c187fe7d34caed242d"
        );
        assert_eq!(
            hex::encode(TELEGRAM_PUBLIC_KEY_TEST),
            "40055058a4ee38156a06562e52eece92a771bcd8346a8c4615cb7376eddf72ec"
        );
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a+b%20c%2B").as_deref(), Some("a b c+"));
        assert_eq!(percent_decode("%e2%82%AC").as_deref(), Some("€"));
        for bad in ["%", "%4", "%zz", "%FF", "a%C3"] {
            assert_eq!(percent_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn round_trip_and_tamper() {
        let user = r#"{"id":42,"first_name":"Ann Lee","username":"ann","is_premium":true}"#;
        let now = NOW.to_string();
        let fields = [
            ("query_id", "AAH-query"),
            ("user", user),
            ("auth_date", now.as_str()),
            ("signature", "sig+/="),
        ];
        let text = sign_first_party(&fields, &token());
        let data = validate(&text, &token(), NOW, DAY).unwrap();
        assert_eq!(data.user_id(), Some(42));
        assert_eq!(data.user.as_ref().unwrap().first_name, "Ann Lee");
        assert_eq!(data.query_id.as_deref(), Some("AAH-query"));
        let d = format!("{data:?}");
        assert!(d.contains("42") && !d.contains("AAH-query"), "{d}");

        // The HMAC covers `signature`.
        let without = text.replacen("&signature=sig%2B%2F%3D", "", 1);
        assert_ne!(without, text);
        assert_eq!(
            validate(&without, &token(), NOW, DAY),
            Err(InitDataError::BadHash)
        );
        let other = BotToken::parse("123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1").unwrap();
        assert_eq!(
            validate(&text, &other, NOW, DAY),
            Err(InitDataError::BadHash)
        );
    }

    #[test]
    fn third_party_round_trip() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let now = NOW.to_string();
        let fields = [("user", r#"{"id":5}"#), ("auth_date", now.as_str())];
        let text = sign_third_party(&fields, 99, &key);
        let public = key.verifying_key().to_bytes();
        assert_eq!(
            validate_third_party(&text, 99, &public, NOW, DAY)
                .unwrap()
                .user_id(),
            Some(5)
        );
        assert_eq!(
            validate_third_party(&text, 98, &public, NOW, DAY),
            Err(InitDataError::BadHash)
        );
        assert_eq!(
            validate_third_party(&text, 99, &TELEGRAM_PUBLIC_KEY_PRODUCTION, NOW, DAY),
            Err(InitDataError::BadHash)
        );
    }

    #[test]
    fn freshness() {
        let sign = |t: u64| {
            let t = t.to_string();
            sign_first_party(&[("auth_date", t.as_str())], &token())
        };
        assert!(validate(&sign(NOW - 86_400), &token(), NOW, DAY).is_ok());
        assert_eq!(
            validate(&sign(NOW - 86_401), &token(), NOW, DAY),
            Err(InitDataError::Stale { age: 86_401 })
        );
        assert!(validate(&sign(NOW + MAX_CLOCK_SKEW_SECS), &token(), NOW, DAY).is_ok());
        assert_eq!(
            validate(&sign(NOW + MAX_CLOCK_SKEW_SECS + 1), &token(), NOW, DAY),
            Err(InitDataError::FromFuture {
                ahead: MAX_CLOCK_SKEW_SECS + 1
            })
        );
        let no_date = sign_first_party(&[("query_id", "q")], &token());
        assert_eq!(
            validate(&no_date, &token(), NOW, DAY),
            Err(InitDataError::Malformed("auth_date".into()))
        );
    }

    #[test]
    fn refuses_ambiguous_or_broken_text() {
        let long = "a".repeat(MAX_INIT_DATA_LEN + 1);
        assert_eq!(
            validate(&long, &token(), NOW, DAY),
            Err(InitDataError::TooLong(MAX_INIT_DATA_LEN + 1))
        );
        assert_eq!(
            validate("a=1&a=2&hash=00", &token(), NOW, DAY),
            Err(InitDataError::DuplicateKey("a".into()))
        );
        assert_eq!(
            validate("a=1&auth_date=2", &token(), NOW, DAY),
            Err(InitDataError::MissingHash)
        );
        assert_eq!(
            validate("a=1%0Ab%3D2&hash=00", &token(), NOW, DAY),
            Err(InitDataError::Malformed("a".into()))
        );
        assert_eq!(
            validate("a=%G1&hash=00", &token(), NOW, DAY),
            Err(InitDataError::Malformed("a".into()))
        );
        assert_eq!(
            validate("a&hash=00", &token(), NOW, DAY),
            Err(InitDataError::Malformed("query string".into()))
        );
        assert_eq!(
            validate("a=1&hash=zz", &token(), NOW, DAY),
            Err(InitDataError::BadHash)
        );
    }

    #[test]
    fn errors_never_repeat_values() {
        let now = NOW.to_string();
        let text = sign_first_party(
            &[("auth_date", now.as_str()), ("user", "SECRETVALUE")],
            &token(),
        );
        let e = validate(&text, &token(), NOW, DAY).unwrap_err();
        let shown = format!("{e} {e:?}");
        assert!(!shown.contains("SECRETVALUE"), "{shown}");
        assert_eq!(e, InitDataError::Malformed("user".into()));
    }
}
