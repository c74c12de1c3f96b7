//! A blocking Bot API client over ureq (rustls with the ring provider).

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject as _;
use serde::Serialize;
use serde::de::DeserializeOwned;
use zeroize::Zeroizing;

use crate::api::{
    AnswerCallbackQuery, ApiResponse, DeleteWebhook, EditMessageText, GetUpdates, Message,
    NoParams, SendMessage, SetWebhook, Update, User,
};
use crate::error::ApiError;
use crate::token::BotToken;

/// Telegram's Bot API server.
pub const DEFAULT_BASE_URL: &str = "https://api.telegram.org";

/// The longest answer read (Telegram's largest answers, 100 updates, are well under this).
const MAX_RESPONSE_LEN: u64 = 8 * 1024 * 1024;

/// How [`BotClient::call_retrying`] repeats a failed request.
///
/// Repeated: flood control (HTTP 429, after the `retry_after` Telegram asks for), 5xx answers
/// and network errors (after an exponential backoff with full jitter: a uniformly random wait
/// between zero and `min(max_delay, base_delay * 2^n)`, drawn from the OS RNG). Never repeated:
/// Telegram's refusals (4xx other than 429), undecodable answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// At most this many attempts in all (1: no retry).
    pub max_attempts: u32,
    /// The first backoff's upper bound.
    pub base_delay: Duration,
    /// No backoff is longer.
    pub max_delay: Duration,
    /// No retry starts a wait that would end later than this after the first attempt; the last
    /// error is returned instead.
    pub deadline: Duration,
    /// A `retry_after` longer than this is returned as [`ApiError::RetryAfter`] at once instead
    /// of being waited out.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, backoff 200 ms doubling up to 5 s, 60 s deadline, `retry_after` up to 30 s.
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            deadline: Duration::from_secs(60),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// One attempt, no retry.
    #[must_use]
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }
}

/// Configures a [`BotClient`].
#[derive(Debug)]
pub struct BotClientBuilder {
    token: BotToken,
    base_url: String,
    ca_pem: Option<Vec<u8>>,
    timeout: Duration,
    retry: RetryPolicy,
    max_in_flight: Option<usize>,
}

impl BotClientBuilder {
    /// The Bot API server (default [`DEFAULT_BASE_URL`]). Must be `https://`, or `http://` to a
    /// loopback host (`127.0.0.1`, `localhost`, `[::1]`) for tests.
    #[must_use]
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }

    /// Trust only the certificates of this PEM bundle (for example an emulator's test CA).
    /// Without it the client trusts the Mozilla root set compiled in (`webpki-roots`), not the
    /// system store: the pool process runs sandboxed without file access, and the compiled set
    /// cannot be changed by whoever can write `/etc/ssl`.
    #[must_use]
    pub fn ca_pem(mut self, pem: &[u8]) -> Self {
        self.ca_pem = Some(pem.to_vec());
        self
    }

    /// The longest one request may take (default 30 s); a long poll adds its own timeout.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How failed requests are repeated (default [`RetryPolicy::default`]).
    #[must_use]
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// At most `n` requests of this client (and its clones) in flight; more callers wait. Without
    /// it the caller bounds concurrency. Telegram allows about 30 messages per second per bot
    /// and one per second per chat; flood control beyond that answers 429.
    #[must_use]
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = Some(n.max(1));
        self
    }

    /// Builds the client.
    ///
    /// # Errors
    /// [`ApiError::Config`]: the base URL is not `https://` (or loopback `http://`), or the CA
    /// bundle holds no certificate.
    pub fn build(self) -> Result<BotClient, ApiError> {
        let base = check_base_url(&self.base_url)?;
        let roots = match &self.ca_pem {
            None => ureq::tls::RootCerts::WebPki,
            Some(pem) => {
                let certs: Vec<ureq::tls::Certificate<'static>> =
                    CertificateDer::pem_slice_iter(pem)
                        .map(|c| {
                            c.map(|der| ureq::tls::Certificate::from_der(der.as_ref()).to_owned())
                        })
                        .collect::<Result<_, _>>()
                        .map_err(|_| ApiError::Config("CA bundle is not PEM".into()))?;
                if certs.is_empty() {
                    return Err(ApiError::Config("CA bundle holds no certificate".into()));
                }
                ureq::tls::RootCerts::new_with_certs(&certs)
            }
        };
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(roots)
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent("kms-telegram")
            .timeout_global(Some(self.timeout))
            .build()
            .into();
        Ok(BotClient {
            inner: Arc::new(Inner {
                agent,
                token: self.token,
                base,
                timeout: self.timeout,
                retry: self.retry,
                limit: self.max_in_flight.map(Limit::new),
            }),
        })
    }
}

fn check_base_url(url: &str) -> Result<String, ApiError> {
    let url = url.trim_end_matches('/');
    let ok = if let Some(rest) = url.strip_prefix("https://") {
        !rest.is_empty()
    } else if let Some(rest) = url.strip_prefix("http://") {
        let host = rest.split('/').next().unwrap_or("");
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        matches!(host, "127.0.0.1" | "localhost" | "[::1]")
    } else {
        false
    };
    if ok && !url.contains(['?', '#']) {
        Ok(url.to_owned())
    } else {
        Err(ApiError::Config(
            "base URL must be https:// (or http:// to a loopback host), without query".into(),
        ))
    }
}

/// A blocking Telegram Bot API client.
///
/// Each call POSTs a JSON body to `{base}/bot{token}/{method}` and decodes the
/// `{"ok":…,"result":…}` envelope. Cloning is cheap (the connection pool and the in-flight limit
/// are shared). The token is never in an error or in `Debug`; request bodies are wiped after
/// they are sent (they can hold a seed phrase or decision tokens).
///
/// Retries: [`call_retrying`](Self::call_retrying) and the typed methods repeat transient
/// failures per the [`RetryPolicy`]. A 5xx or a network error after the request was written can
/// mean Telegram carried it out; Telegram has no idempotency key, so a retried `sendMessage` may
/// then arrive twice. A caller that must never duplicate uses [`call`](Self::call) (one attempt).
#[derive(Clone)]
pub struct BotClient {
    inner: Arc<Inner>,
}

struct Inner {
    agent: ureq::Agent,
    token: BotToken,
    base: String,
    timeout: Duration,
    retry: RetryPolicy,
    limit: Option<Limit>,
}

impl core::fmt::Debug for BotClient {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BotClient")
            .field("base_url", &self.inner.base)
            .field("bot_id", &self.inner.token.bot_id())
            .finish_non_exhaustive()
    }
}

impl BotClient {
    /// A client of Telegram's server with the default settings.
    ///
    /// # Errors
    /// None in practice (the default configuration is valid); see [`BotClientBuilder::build`].
    pub fn new(token: BotToken) -> Result<Self, ApiError> {
        Self::builder(token).build()
    }

    /// A builder with the default settings.
    #[must_use]
    pub fn builder(token: BotToken) -> BotClientBuilder {
        BotClientBuilder {
            token,
            base_url: DEFAULT_BASE_URL.to_owned(),
            ca_pem: None,
            timeout: Duration::from_secs(30),
            retry: RetryPolicy::default(),
            max_in_flight: None,
        }
    }

    /// The bot's id (from the token).
    #[must_use]
    pub fn bot_id(&self) -> u64 {
        self.inner.token.bot_id()
    }

    /// The base URL requests go to.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// One attempt of `method` with `req` as its JSON body.
    ///
    /// # Errors
    /// [`ApiError`]: flood control, a server or network failure, Telegram's refusal, an answer
    /// that does not decode as `Resp`, a method name that is not `[A-Za-z0-9_]+`.
    pub fn call<Req, Resp>(&self, method: &str, req: &Req) -> Result<Resp, ApiError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        self.attempt(method, req, Duration::ZERO)
    }

    /// `method` with `req`, repeated per the client's [`RetryPolicy`] while the failure is
    /// transient. Blocks for the waits.
    ///
    /// # Errors
    /// The last attempt's [`ApiError`]; a flood-control wait longer than the policy allows, or
    /// past its deadline, returns [`ApiError::RetryAfter`] without waiting.
    pub fn call_retrying<Req, Resp>(&self, method: &str, req: &Req) -> Result<Resp, ApiError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        self.retrying(method, req, Duration::ZERO)
    }

    /// `getMe` (retrying): the bot's own user.
    ///
    /// # Errors
    /// See [`call_retrying`](Self::call_retrying).
    pub fn get_me(&self) -> Result<User, ApiError> {
        self.call_retrying("getMe", &NoParams {})
    }

    /// `sendMessage` (retrying): the message as sent.
    ///
    /// # Errors
    /// See [`call_retrying`](Self::call_retrying).
    pub fn send_message(&self, req: &SendMessage) -> Result<Message, ApiError> {
        self.call_retrying("sendMessage", req)
    }

    /// `editMessageText` (retrying): the message as edited.
    ///
    /// # Errors
    /// See [`call_retrying`](Self::call_retrying); Telegram answers 400 "message is not
    /// modified" when text and keyboard are unchanged.
    pub fn edit_message_text(&self, req: &EditMessageText) -> Result<Message, ApiError> {
        self.call_retrying("editMessageText", req)
    }

    /// `answerCallbackQuery` (retrying).
    ///
    /// # Errors
    /// See [`call_retrying`](Self::call_retrying).
    pub fn answer_callback_query(&self, req: &AnswerCallbackQuery) -> Result<bool, ApiError> {
        self.call_retrying("answerCallbackQuery", req)
    }

    /// `getUpdates` (retrying): the HTTP timeout and the deadline are extended by the long
    /// poll's `timeout`.
    ///
    /// # Errors
    /// See [`call_retrying`](Self::call_retrying); 409 while a webhook is set.
    pub fn get_updates(&self, req: &GetUpdates) -> Result<Vec<Update>, ApiError> {
        let poll = Duration::from_secs(u64::from(req.timeout.unwrap_or(0)));
        self.retrying("getUpdates", req, poll)
    }

    /// `setWebhook` (retrying).
    ///
    /// # Errors
    /// See [`call_retrying`](Self::call_retrying).
    pub fn set_webhook(&self, req: &SetWebhook) -> Result<bool, ApiError> {
        self.call_retrying("setWebhook", req)
    }

    /// `deleteWebhook` (retrying).
    ///
    /// # Errors
    /// See [`call_retrying`](Self::call_retrying).
    pub fn delete_webhook(&self, req: &DeleteWebhook) -> Result<bool, ApiError> {
        self.call_retrying("deleteWebhook", req)
    }

    fn retrying<Req, Resp>(
        &self,
        method: &str,
        req: &Req,
        extra: Duration,
    ) -> Result<Resp, ApiError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        let policy = self.inner.retry;
        let start = Instant::now();
        let deadline = policy.deadline + extra;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let err = match self.attempt(method, req, extra) {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if !err.is_transient() || attempt >= policy.max_attempts.max(1) {
                return Err(err);
            }
            let wait = match &err {
                ApiError::RetryAfter(after) => {
                    if *after > policy.max_retry_after {
                        return Err(err);
                    }
                    *after + jitter(policy.base_delay / 4)
                }
                _ => backoff(&policy, attempt - 1),
            };
            if start.elapsed() + wait > deadline {
                return Err(err);
            }
            std::thread::sleep(wait);
        }
    }

    fn attempt<Req, Resp>(&self, method: &str, req: &Req, extra: Duration) -> Result<Resp, ApiError>
    where
        Req: Serialize + ?Sized,
        Resp: DeserializeOwned,
    {
        if method.is_empty()
            || !method
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            return Err(ApiError::Config("method name must be [A-Za-z0-9_]+".into()));
        }
        let body = Zeroizing::new(
            serde_json::to_vec(req).map_err(|e| ApiError::Config(format!("request body: {e}")))?,
        );
        let url = Zeroizing::new(format!(
            "{}/bot{}/{method}",
            self.inner.base,
            self.inner.token.expose_secret()
        ));
        let _permit = self.inner.limit.as_ref().map(Limit::acquire);
        let result = self
            .inner
            .agent
            .post(url.as_str())
            .config()
            .timeout_global(Some(self.inner.timeout + extra))
            .build()
            .header("content-type", "application/json")
            .send(body.as_slice());
        let mut resp = result.map_err(|e| self.network(&e))?;
        let status = resp.status().as_u16();
        let retry_header = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<u64>().ok());
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_LEN)
            .read_to_vec()
            .map_err(|e| self.network(&e))?;
        decode(status, retry_header, &bytes).map_err(|e| self.scrub_error(e))
    }

    /// A transport error without the request URL (which holds the token).
    fn network(&self, e: &ureq::Error) -> ApiError {
        let text = match e {
            ureq::Error::Timeout(t) => format!("timeout ({t})"),
            ureq::Error::HostNotFound => "host not found".into(),
            ureq::Error::ConnectionFailed => "connection failed".into(),
            ureq::Error::Io(io) => format!("I/O error ({})", io.kind()),
            ureq::Error::BadUri(_) => "bad URI".into(),
            ureq::Error::Rustls(tls) => format!("TLS: {tls}"),
            ureq::Error::Tls(t) => format!("TLS: {t}"),
            ureq::Error::BodyExceedsLimit(n) => format!("answer longer than {n} bytes"),
            ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => {
                "the server redirected (not followed)".into()
            }
            other => format!("{other}"),
        };
        ApiError::Network(self.scrub(&text))
    }

    fn scrub_error(&self, e: ApiError) -> ApiError {
        match e {
            ApiError::Api { code, description } => ApiError::Api {
                code,
                description: self.scrub(&description),
            },
            ApiError::Decode(s) => ApiError::Decode(self.scrub(&s)),
            ApiError::Network(s) => ApiError::Network(self.scrub(&s)),
            other => other,
        }
    }

    /// Text with the token and anything after a `/bot` path segment removed.
    fn scrub(&self, text: &str) -> String {
        let token = self.inner.token.expose_secret();
        let mut out = text.replace(token, "<token>");
        if let Some((_, secret)) = token.split_once(':') {
            out = out.replace(secret, "<token>");
        }
        out
    }
}

fn decode<Resp: DeserializeOwned>(
    status: u16,
    retry_header: Option<u64>,
    bytes: &[u8],
) -> Result<Resp, ApiError> {
    let Ok(envelope) = serde_json::from_slice::<ApiResponse<serde_json::Value>>(bytes) else {
        return Err(match status {
            429 => ApiError::RetryAfter(Duration::from_secs(retry_header.unwrap_or(1))),
            200..=299 => {
                ApiError::Decode(format!("HTTP {status} answer is not a Bot API envelope"))
            }
            _ => ApiError::Server(status),
        });
    };
    if envelope.ok {
        let result = envelope
            .result
            .ok_or_else(|| ApiError::Decode("answer has ok:true but no result".into()))?;
        return serde_json::from_value(result).map_err(|e| ApiError::Decode(e.to_string()));
    }
    let code = envelope.error_code.unwrap_or(i64::from(status));
    if code == 429 || status == 429 {
        let after = envelope
            .parameters
            .and_then(|p| p.retry_after)
            .or(retry_header)
            .unwrap_or(1);
        return Err(ApiError::RetryAfter(Duration::from_secs(after)));
    }
    if status >= 500 {
        return Err(ApiError::Server(status));
    }
    Err(ApiError::Api {
        code,
        description: envelope
            .description
            .unwrap_or_else(|| format!("HTTP {status}")),
    })
}

/// The `attempt`-th backoff (0-based): uniform in `[0, min(max_delay, base_delay * 2^attempt)]`.
fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let factor = 1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX);
    let cap = policy
        .base_delay
        .checked_mul(factor)
        .unwrap_or(policy.max_delay)
        .min(policy.max_delay);
    jitter(cap)
}

/// Uniform in `[0, cap]` from the OS RNG (`cap / 2` if the RNG fails).
fn jitter(cap: Duration) -> Duration {
    let nanos = u64::try_from(cap.as_nanos()).unwrap_or(u64::MAX);
    if nanos == 0 {
        return Duration::ZERO;
    }
    match getrandom::u64() {
        Ok(r) => Duration::from_nanos(r % (nanos + 1)),
        Err(_) => cap / 2,
    }
}

/// A counting semaphore for blocking callers.
struct Limit {
    free: Mutex<usize>,
    cond: Condvar,
}

struct Permit<'a>(&'a Limit);

impl Limit {
    fn new(n: usize) -> Self {
        Self {
            free: Mutex::new(n),
            cond: Condvar::new(),
        }
    }
    fn acquire(&self) -> Permit<'_> {
        let mut free = self
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        while *free == 0 {
            free = self
                .cond
                .wait(free)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut free = self
            .0
            .free
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *free += 1;
        self.0.cond.notify_one();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn base_urls() {
        assert!(check_base_url("https://api.telegram.org/").is_ok());
        assert!(check_base_url("http://127.0.0.1:8081").is_ok());
        assert!(check_base_url("http://localhost:1/x").is_ok());
        assert!(check_base_url("http://example.com").is_err());
        assert!(check_base_url("http://127.0.0.1.evil.com").is_err());
        assert!(check_base_url("ftp://x").is_err());
        assert!(check_base_url("https://x?y").is_err());
    }

    #[test]
    fn decodes_envelopes() {
        let ok: bool = decode(200, None, br#"{"ok":true,"result":true}"#).unwrap();
        assert!(ok);
        let e = decode::<bool>(
            429,
            Some(9),
            br#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}"#,
        );
        assert_eq!(e, Err(ApiError::RetryAfter(Duration::from_secs(3))));
        assert_eq!(
            decode::<bool>(429, Some(9), b"slow down"),
            Err(ApiError::RetryAfter(Duration::from_secs(9)))
        );
        assert_eq!(
            decode::<bool>(502, None, b"<html>bad gateway</html>"),
            Err(ApiError::Server(502))
        );
        assert_eq!(
            decode::<bool>(
                400,
                None,
                br#"{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}"#
            ),
            Err(ApiError::Api {
                code: 400,
                description: "Bad Request: chat not found".into()
            })
        );
        assert!(matches!(
            decode::<bool>(200, None, br#"{"ok":true,"result":{"a":1}}"#),
            Err(ApiError::Decode(_))
        ));
    }

    #[test]
    fn backoff_is_bounded() {
        let p = RetryPolicy::default();
        for attempt in 0..40 {
            let d = backoff(&p, attempt);
            assert!(d <= p.max_delay);
            assert!(d <= p.base_delay * 2u32.saturating_pow(attempt.min(20)));
        }
    }
}
