//! The crate's errors: one enum per surface (token parsing, Bot API calls, initData validation,
//! starting a server), since a caller of one never sees the others. None of them ever holds the
//! bot token, a decision token or initData's hash.

use std::time::Duration;

use thiserror::Error;

/// Why text is not a bot token.
#[derive(Debug, Error, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Not `<bot id>:<secret>`: the part before `:` must be a non-zero decimal number.
    #[error("bot token must be `<numeric bot id>:<secret>` (as BotFather prints it)")]
    Shape,
    /// The secret part is shorter than 30 or longer than 64 characters, or holds a character
    /// other than `A-Z a-z 0-9 _ -` (a `/`, `?`, `#` or whitespace would change the request URL).
    #[error("bot token secret must be 30-64 characters of A-Z a-z 0-9 _ -")]
    Secret,
}

/// Why a Bot API call failed. `Display` and `Debug` never contain the bot token: the URL of
/// the request, which holds it, is stripped from every transport error.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiError {
    /// Flood control (HTTP 429): repeat after this long (the answer's `parameters.retry_after`,
    /// else its `Retry-After` header, else one second).
    #[error("Bot API flood control: retry after {} s", .0.as_secs())]
    RetryAfter(Duration),
    /// The server answered this HTTP status without a Bot API error body, or a 5xx.
    #[error("Bot API server answered HTTP {0}")]
    Server(u16),
    /// The request did not get an answer (connection, TLS, timeout).
    #[error("Bot API unreachable: {0}")]
    Network(String),
    /// Telegram refused the request (`ok: false`), for example 400 "Bad Request: chat not found"
    /// or 401 "Unauthorized" (a wrong token).
    #[error("Bot API error {code}: {description}")]
    Api {
        /// Telegram's `error_code`.
        code: i64,
        /// Telegram's `description`.
        description: String,
    },
    /// The answer is not the JSON the method returns.
    #[error("Bot API answer not understood: {0}")]
    Decode(String),
    /// The client is misconfigured (base URL, CA bundle, method name).
    #[error("Bot API client configuration: {0}")]
    Config(String),
}

impl ApiError {
    /// Whether repeating the same request may succeed: flood control, a 5xx, a network error.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::RetryAfter(_) | Self::Network(_) => true,
            Self::Server(status) => *status >= 500,
            Self::Api { code, .. } => *code == 429 || *code >= 500,
            Self::Decode(_) | Self::Config(_) => false,
        }
    }
}

/// Why initData is refused. The messages name the field, never a value.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InitDataError {
    /// Longer than [`MAX_INIT_DATA_LEN`](crate::initdata::MAX_INIT_DATA_LEN).
    #[error("initData too long ({0} bytes)")]
    TooLong(usize),
    /// No `hash` field (first-party form).
    #[error("initData has no hash")]
    MissingHash,
    /// No `signature` field (third-party form).
    #[error("initData has no signature")]
    MissingSignature,
    /// The hash or the signature does not match: forged, altered, or for another bot.
    #[error("initData signature does not match")]
    BadHash,
    /// `auth_date` is older than the accepted age.
    #[error("initData is {age} s old, older than accepted")]
    Stale {
        /// Its age in seconds.
        age: u64,
    },
    /// `auth_date` is later than now plus the accepted clock skew.
    #[error("initData auth_date is {ahead} s in the future")]
    FromFuture {
        /// How far ahead, in seconds.
        ahead: u64,
    },
    /// A field is missing or cannot be decoded (named; the value is not repeated).
    #[error("initData field `{0}` is missing or malformed")]
    Malformed(String),
    /// A key occurs twice (which occurrence was signed would be ambiguous).
    #[error("initData key `{0}` occurs more than once")]
    DuplicateKey(String),
}

/// Why a server (the emulator, the mini-app) could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServerError {
    /// Binding the socket or starting the runtime failed.
    #[error("server I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The certificate chain or the key is not usable PEM.
    #[error("server TLS configuration: {0}")]
    Tls(String),
}

/// Why the [`BotApiEmulator`](crate::emulator::BotApiEmulator) refused a test's request (acting
/// as a user, or inspecting state). Never holds a token, callback data or message text.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EmulatorError {
    /// No bot with this id was added (`add_bot`).
    #[error("the emulator has no bot {0} (call add_bot first)")]
    UnknownBot(u64),
    /// The user never started a chat with the bot (`start_chat`).
    #[error("the bot has no chat {0} (the user must start_chat first)")]
    ChatNotFound(i64),
    /// The chat has no such message.
    #[error("chat {chat_id} has no message {message_id}")]
    MessageNotFound {
        /// The chat.
        chat_id: i64,
        /// The message asked for.
        message_id: i64,
    },
    /// The message has no inline button with that text and callback data.
    #[error("message {message_id} has no callback button with that text")]
    ButtonNotFound {
        /// The message.
        message_id: i64,
    },
    /// A user's text must be 1-4096 characters, as in Telegram.
    #[error("message text must be 1-4096 characters")]
    InvalidText,
}
