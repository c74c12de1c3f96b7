//! A loopback Telegram Bot API server over real HTTPS, **for tests and the demo, never
//! production**: it holds a test CA's private key in memory, trusts nothing it is not told to,
//! and keeps every message in memory.
//!
//! [`BotApiEmulator::start`] serves HTTP/1.1 over TLS on `127.0.0.1:<random port>` from its own
//! tokio runtime (two worker threads), with a certificate for `127.0.0.1` and `localhost` issued
//! by a CA generated at start. Clients trust [`BotApiEmulator::ca_pem`] (the crate's
//! [`BotClient`](crate::BotClient) through [`BotClientBuilder::ca_pem`](crate::BotClientBuilder::ca_pem);
//! chromium through `--ignore-certificate-errors-spki-list` with
//! [`BotApiEmulator::leaf_spki_sha256_base64`]).
//!
//! The test plays Telegram's users ("phones"): [`start_chat`](BotApiEmulator::start_chat),
//! [`send_text`](BotApiEmulator::send_text), [`press_button`](BotApiEmulator::press_button),
//! [`web_app_init_data`](BotApiEmulator::web_app_init_data); and inspects what the bot did:
//! [`messages`](BotApiEmulator::messages), [`callback_answers`](BotApiEmulator::callback_answers),
//! [`calls`](BotApiEmulator::calls). The README lists the methods and their checks.
//!
//! Faults ([`BotApiEmulator::fail_next`]) are answered *before* the request is carried out: a
//! faulted `sendMessage` sends nothing. A real server (or a proxy in front of it) can also fail
//! after it carried a request out, so a client that retries may duplicate; the emulator does not
//! model that case.
//!
//! The bot token is part of every request path; the emulator never logs or returns it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, HeaderValue, RETRY_AFTER};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::sync::{Notify, watch};

use crate::api::{
    AnswerCallbackQuery, CallbackQuery, Chat, DeleteWebhook, EditMessageText, GetUpdates,
    InlineKeyboardMarkup, Message, SendMessage, SetWebhook, Update, User, WebhookInfo,
};
use crate::error::{EmulatorError, ServerError};
use crate::initdata::{self, WebAppUser};
use crate::token::BotToken;

/// Request bodies longer than this are refused with HTTP 413 (Telegram's own limit for JSON
/// bodies is larger; no method the emulator implements needs more).
pub const MAX_REQUEST_BODY: usize = 1 << 20;

/// The longest `getUpdates` long poll, in seconds (a longer `timeout` is cut to this).
pub const MAX_LONG_POLL_SECS: u64 = 50;

/// The longest message text, in characters.
const MAX_TEXT_CHARS: usize = 4096;

/// How long one webhook delivery may take before it counts as failed.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// How a request fails instead of being carried out (see [`BotApiEmulator::fail_next`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Fault {
    /// HTTP 429 with Telegram's flood-control body
    /// (`{"ok":false,"error_code":429,"description":"Too Many Requests: retry after N",
    /// "parameters":{"retry_after":N}}`) and a `Retry-After: N` header.
    TooManyRequests {
        /// `N`, in seconds.
        retry_after_secs: u64,
    },
    /// This HTTP status with an HTML body, as a proxy in front of the Bot API answers
    /// (e.g. 500, 502); a status outside 100-999 becomes 500.
    Status(u16),
    /// A Bot API error envelope (`ok: false`) with this status as `error_code`.
    BotApi {
        /// The HTTP status and `error_code`.
        code: u16,
        /// The `description`.
        description: String,
    },
}

/// A loopback Telegram Bot API server for tests and the demo (never production); see the
/// [module documentation](self). Dropping it stops the server.
pub struct BotApiEmulator {
    shared: Arc<Shared>,
    addr: SocketAddr,
    ca_pem: String,
    leaf_spki_sha256: [u8; 32],
    shutdown: watch::Sender<bool>,
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
}

impl core::fmt::Debug for BotApiEmulator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BotApiEmulator")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

struct Shared {
    state: Mutex<State>,
    /// Signalled on every change of a chat, a queue or the recorded answers.
    changed: Condvar,
    /// Stands in for Telegram's Ed25519 key of third-party initData signatures.
    signing_key: SigningKey,
    /// CAs webhook targets over HTTPS are verified against.
    webhook_roots: Mutex<Vec<CertificateDer<'static>>>,
    shutdown: watch::Receiver<bool>,
}

#[derive(Default)]
struct State {
    bots: HashMap<u64, Bot>,
}

struct Bot {
    token: BotToken,
    me: User,
    chats: HashMap<i64, ChatState>,
    updates: VecDeque<Update>,
    next_update_id: i64,
    pending_callbacks: HashSet<String>,
    answers: Vec<AnswerCallbackQuery>,
    webhook: Option<Webhook>,
    webhook_error: Option<(i64, String)>,
    calls: HashMap<String, usize>,
    requests: usize,
    faults: VecDeque<(Option<String>, Fault)>,
    /// Woken when an update is queued or the webhook changes.
    notify: Arc<Notify>,
}

struct ChatState {
    user: User,
    messages: Vec<Message>,
    next_message_id: i64,
    chat_instance: String,
}

#[derive(Clone, PartialEq, Eq)]
struct Webhook {
    url: String,
    secret_token: Option<String>,
    allowed_updates: Option<Vec<String>>,
}

/// A refusal in Telegram's words: HTTP status (also `error_code`) and `description`.
type Refusal = (u16, String);

fn bad_request(what: &str) -> Refusal {
    (400, format!("Bad Request: {what}"))
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl BotApiEmulator {
    /// Generates the test CA and the server certificate, binds `127.0.0.1:0` and starts serving
    /// on a runtime of its own. Takes a few milliseconds (two ECDSA P-256 key generations).
    ///
    /// # Errors
    /// [`ServerError::Io`] when the socket or the runtime cannot be created,
    /// [`ServerError::Tls`] when the certificates cannot be generated.
    pub fn start() -> Result<Self, ServerError> {
        let tls = TlsMaterial::generate()?;
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(tls.chain, tls.key)
        .map_err(|e| ServerError::Tls(e.to_string()))?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));

        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| ServerError::Io(std::io::Error::other(e)))?;
        let signing_key = SigningKey::from_bytes(&seed);
        zeroize::Zeroize::zeroize(&mut seed);

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bot-api-emulator")
            .enable_all()
            .build()?;
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let listener = {
            let _guard = runtime.enter();
            tokio::net::TcpListener::from_std(std_listener)?
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            signing_key,
            webhook_roots: Mutex::new(Vec::new()),
            shutdown: shutdown_rx,
        });
        runtime.spawn(accept_loop(listener, acceptor, Arc::clone(&shared)));
        let handle = runtime.handle().clone();
        Ok(Self {
            shared,
            addr,
            ca_pem: tls.ca_pem,
            leaf_spki_sha256: tls.leaf_spki_sha256,
            shutdown,
            runtime: Some(runtime),
            handle,
        })
    }

    /// `https://127.0.0.1:PORT`, the base URL clients use (`{base}/bot<token>/<method>`).
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The test CA's certificate (PEM), for a client to trust.
    #[must_use]
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// Base64 of the SHA-256 of the server certificate's SubjectPublicKeyInfo, the form
    /// chromium's `--ignore-certificate-errors-spki-list` takes.
    #[must_use]
    pub fn leaf_spki_sha256_base64(&self) -> String {
        STANDARD.encode(self.leaf_spki_sha256)
    }

    /// The Ed25519 public key third-party initData signatures of this emulator verify under
    /// (its stand-in for [`TELEGRAM_PUBLIC_KEY_PRODUCTION`](crate::initdata::TELEGRAM_PUBLIC_KEY_PRODUCTION)).
    #[must_use]
    pub fn third_party_public_key(&self) -> [u8; 32] {
        self.shared.signing_key.verifying_key().to_bytes()
    }

    /// Trusts `pem` (one or more CA certificates) for webhook targets over HTTPS.
    ///
    /// # Errors
    /// [`ServerError::Tls`] when `pem` holds no certificate.
    pub fn trust_webhook_ca(&self, pem: &str) -> Result<(), ServerError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|_| ServerError::Tls("webhook CA is not PEM".into()))?;
        if certs.is_empty() {
            return Err(ServerError::Tls("webhook CA holds no certificate".into()));
        }
        self.shared
            .webhook_roots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(certs);
        Ok(())
    }

    /// Registers a bot: requests with `token` are served, as the bot `@username`. Adding a bot id
    /// again replaces its token and username and keeps its chats.
    pub fn add_bot(&self, token: &BotToken, username: &str) {
        let bot_id = token.bot_id();
        let me = User {
            id: bot_id,
            is_bot: true,
            first_name: username.to_owned(),
            last_name: None,
            username: Some(username.to_owned()),
            language_code: None,
        };
        let mut state = self.shared.lock();
        if let Some(bot) = state.bots.get_mut(&bot_id) {
            bot.token = token.clone();
            bot.me = me;
            return;
        }
        let notify = Arc::new(Notify::new());
        state.bots.insert(
            bot_id,
            Bot {
                token: token.clone(),
                me,
                chats: HashMap::new(),
                updates: VecDeque::new(),
                next_update_id: 1,
                pending_callbacks: HashSet::new(),
                answers: Vec::new(),
                webhook: None,
                webhook_error: None,
                calls: HashMap::new(),
                requests: 0,
                faults: VecDeque::new(),
                notify: Arc::clone(&notify),
            },
        );
        drop(state);
        self.handle
            .spawn(webhook_loop(Arc::clone(&self.shared), bot_id, notify));
    }

    /// The user `user` opens the bot and presses Start: a private chat (id = the user's id) is
    /// created and a `/start` message from the user is queued for the bot, as Telegram does.
    /// Starting again queues another `/start`. Returns the message id.
    ///
    /// # Errors
    /// [`EmulatorError::UnknownBot`].
    pub fn start_chat(&self, bot_id: u64, user: User) -> Result<i64, EmulatorError> {
        let chat_id = user_chat_id(user.id)?;
        let mut state = self.shared.lock();
        let bot = bot_mut(&mut state, bot_id)?;
        bot.chats.entry(chat_id).or_insert_with(|| ChatState {
            user: user.clone(),
            messages: Vec::new(),
            next_message_id: 1,
            chat_instance: random_decimal(),
        });
        let id = bot.user_message(chat_id, "/start", None)?;
        drop(state);
        self.shared.changed.notify_all();
        Ok(id)
    }

    /// The user `user_id` sends `text` to the bot: a `message` update is queued. Returns the
    /// message id.
    ///
    /// # Errors
    /// [`EmulatorError::UnknownBot`], [`EmulatorError::ChatNotFound`] (no `start_chat`),
    /// [`EmulatorError::InvalidText`] (empty or longer than 4096 characters).
    pub fn send_text(&self, bot_id: u64, user_id: u64, text: &str) -> Result<i64, EmulatorError> {
        if text.trim().is_empty() || text.chars().count() > MAX_TEXT_CHARS {
            return Err(EmulatorError::InvalidText);
        }
        let chat_id = user_chat_id(user_id)?;
        let mut state = self.shared.lock();
        let id = bot_mut(&mut state, bot_id)?.user_message(chat_id, text, None)?;
        drop(state);
        self.shared.changed.notify_all();
        Ok(id)
    }

    /// The chat's user answers message `reply_to` with `text` (Telegram's "Reply": the update's
    /// message carries `reply_to_message`). Returns the new message's id.
    ///
    /// # Errors
    /// As [`Self::send_text`], and [`EmulatorError::MessageNotFound`].
    pub fn send_reply(
        &self,
        bot_id: u64,
        user_id: u64,
        reply_to: i64,
        text: &str,
    ) -> Result<i64, EmulatorError> {
        if text.trim().is_empty() || text.chars().count() > MAX_TEXT_CHARS {
            return Err(EmulatorError::InvalidText);
        }
        let chat_id = user_chat_id(user_id)?;
        let mut state = self.shared.lock();
        let bot = bot_mut(&mut state, bot_id)?;
        let original = bot.message(chat_id, reply_to)?;
        let id = bot.user_message(chat_id, text, Some(original))?;
        drop(state);
        self.shared.changed.notify_all();
        Ok(id)
    }

    /// The chat's user presses the inline button labelled `button_text` of message
    /// `message_id`: a `callback_query` update with the button's `callback_data` and the message
    /// as it is now is queued. Returns the callback query id (which `answerCallbackQuery` then
    /// must name).
    ///
    /// # Errors
    /// [`EmulatorError::UnknownBot`], [`EmulatorError::ChatNotFound`],
    /// [`EmulatorError::MessageNotFound`], [`EmulatorError::ButtonNotFound`] (no button with that
    /// label, or it carries no callback data).
    pub fn press_button(
        &self,
        bot_id: u64,
        chat_id: i64,
        message_id: i64,
        button_text: &str,
    ) -> Result<String, EmulatorError> {
        let mut state = self.shared.lock();
        let bot = bot_mut(&mut state, bot_id)?;
        let message = bot.message(chat_id, message_id)?;
        let data = message
            .reply_markup
            .iter()
            .flat_map(|m| m.inline_keyboard.iter().flatten())
            .find(|b| b.text == button_text && b.callback_data.is_some())
            .and_then(|b| b.callback_data.clone())
            .ok_or(EmulatorError::ButtonNotFound { message_id })?;
        let id = bot.callback(chat_id, message_id, data)?;
        drop(state);
        self.shared.changed.notify_all();
        Ok(id)
    }

    /// Like [`press_button`](Self::press_button) with arbitrary callback `data` (a forged or
    /// replayed button press, as a modified client can send). The message must exist.
    ///
    /// # Errors
    /// [`EmulatorError::UnknownBot`], [`EmulatorError::ChatNotFound`],
    /// [`EmulatorError::MessageNotFound`].
    pub fn press_with_data(
        &self,
        bot_id: u64,
        chat_id: i64,
        message_id: i64,
        data: &str,
    ) -> Result<String, EmulatorError> {
        let mut state = self.shared.lock();
        let id = bot_mut(&mut state, bot_id)?.callback(chat_id, message_id, data.to_owned())?;
        drop(state);
        self.shared.changed.notify_all();
        Ok(id)
    }

    /// The initData a Telegram client hands a Mini App that the user `user_id` opened from a
    /// button of the bot, dated now: `query_id`, `user`, `auth_date`, `signature` (Ed25519 under
    /// [`third_party_public_key`](Self::third_party_public_key)) and `hash` (the first-party
    /// HMAC with the bot token, over all fields including `signature`).
    ///
    /// # Errors
    /// [`EmulatorError::UnknownBot`], [`EmulatorError::ChatNotFound`].
    pub fn web_app_init_data(&self, bot_id: u64, user_id: u64) -> Result<String, EmulatorError> {
        self.web_app_init_data_at(bot_id, user_id, unix_now().unsigned_abs())
    }

    /// [`web_app_init_data`](Self::web_app_init_data) with this `auth_date` (for stale and
    /// future tests).
    ///
    /// # Errors
    /// As [`web_app_init_data`](Self::web_app_init_data).
    pub fn web_app_init_data_at(
        &self,
        bot_id: u64,
        user_id: u64,
        auth_date: u64,
    ) -> Result<String, EmulatorError> {
        let chat_id = user_chat_id(user_id)?;
        let state = self.shared.lock();
        let bot = state
            .bots
            .get(&bot_id)
            .ok_or(EmulatorError::UnknownBot(bot_id))?;
        let chat = bot
            .chats
            .get(&chat_id)
            .ok_or(EmulatorError::ChatNotFound(chat_id))?;
        let mut user = WebAppUser::new(chat.user.id, chat.user.first_name.clone());
        user.last_name.clone_from(&chat.user.last_name);
        user.username.clone_from(&chat.user.username);
        user.language_code.clone_from(&chat.user.language_code);
        user.allows_write_to_pm = Some(true);
        let user_json = serde_json::to_string(&user).unwrap_or_default();
        let query_id = random_base64(16);
        let auth_date = auth_date.to_string();
        let mut fields = vec![
            ("query_id", query_id.as_str()),
            ("user", user_json.as_str()),
            ("auth_date", auth_date.as_str()),
        ];
        let signature = initdata::third_party_signature(
            fields.iter().copied(),
            bot_id,
            &self.shared.signing_key,
        );
        fields.push(("signature", signature.as_str()));
        Ok(initdata::sign_first_party(&fields, &bot.token))
    }

    /// The chat's messages as they are now (edits applied), the user's and the bot's, in order.
    /// Empty for an unknown bot or chat.
    #[must_use]
    pub fn messages(&self, bot_id: u64, chat_id: i64) -> Vec<Message> {
        let state = self.shared.lock();
        state
            .bots
            .get(&bot_id)
            .and_then(|b| b.chats.get(&chat_id))
            .map(|c| c.messages.clone())
            .unwrap_or_default()
    }

    /// Blocks until a message of the chat (user's or bot's, current state) satisfies `matches`,
    /// and returns the first that does; `None` after `timeout`.
    pub fn wait_for_message(
        &self,
        bot_id: u64,
        chat_id: i64,
        timeout: Duration,
        mut matches: impl FnMut(&Message) -> bool,
    ) -> Option<Message> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        loop {
            let found = state
                .bots
                .get(&bot_id)
                .and_then(|b| b.chats.get(&chat_id))
                .and_then(|c| c.messages.iter().find(|m| matches(m)).cloned());
            if found.is_some() {
                return found;
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            state = self
                .shared
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// The bot's `answerCallbackQuery` requests, in order.
    #[must_use]
    pub fn callback_answers(&self, bot_id: u64) -> Vec<AnswerCallbackQuery> {
        let state = self.shared.lock();
        state
            .bots
            .get(&bot_id)
            .map(|b| b.answers.clone())
            .unwrap_or_default()
    }

    /// How many requests of `method` (case-insensitive, as Telegram) were carried out
    /// successfully for the bot. Faulted and refused requests are not counted.
    #[must_use]
    pub fn calls(&self, bot_id: u64, method: &str) -> usize {
        let state = self.shared.lock();
        state
            .bots
            .get(&bot_id)
            .and_then(|b| b.calls.get(&method.to_ascii_lowercase()).copied())
            .unwrap_or(0)
    }

    /// How many requests with the bot's token arrived, faulted and refused ones included.
    #[must_use]
    pub fn requests(&self, bot_id: u64) -> usize {
        let state = self.shared.lock();
        state.bots.get(&bot_id).map_or(0, |b| b.requests)
    }

    /// Updates queued for the bot and not yet confirmed (`getUpdates` offset) or delivered
    /// (webhook).
    #[must_use]
    pub fn pending_updates(&self, bot_id: u64) -> usize {
        let state = self.shared.lock();
        state.bots.get(&bot_id).map_or(0, |b| b.updates.len())
    }

    /// The next requests of the bot fail with `faults`, one fault per request, in order; with
    /// `method` only requests of that method (case-insensitive) take them. A fault is answered
    /// before the request is carried out (see the [module documentation](self)).
    ///
    /// # Errors
    /// [`EmulatorError::UnknownBot`] (a fault nobody could receive would make a test vacuous).
    pub fn fail_next(
        &self,
        bot_id: u64,
        method: Option<&str>,
        faults: Vec<Fault>,
    ) -> Result<(), EmulatorError> {
        let mut state = self.shared.lock();
        let bot = bot_mut(&mut state, bot_id)?;
        let method = method.map(str::to_ascii_lowercase);
        bot.faults
            .extend(faults.into_iter().map(|f| (method.clone(), f)));
        Ok(())
    }
}

impl Drop for BotApiEmulator {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

fn bot_mut(state: &mut State, bot_id: u64) -> Result<&mut Bot, EmulatorError> {
    state
        .bots
        .get_mut(&bot_id)
        .ok_or(EmulatorError::UnknownBot(bot_id))
}

/// A private chat's id is its user's id (user ids have at most 52 bits).
fn user_chat_id(user_id: u64) -> Result<i64, EmulatorError> {
    i64::try_from(user_id).map_err(|_| EmulatorError::ChatNotFound(-1))
}

impl Bot {
    fn push_update(&mut self, mut update: Update) {
        update.update_id = self.next_update_id;
        self.next_update_id += 1;
        self.updates.push_back(update);
        self.notify.notify_waiters();
    }

    fn chat(&mut self, chat_id: i64) -> Result<&mut ChatState, EmulatorError> {
        self.chats
            .get_mut(&chat_id)
            .ok_or(EmulatorError::ChatNotFound(chat_id))
    }

    fn message(&mut self, chat_id: i64, message_id: i64) -> Result<Message, EmulatorError> {
        self.chat(chat_id)?
            .messages
            .iter()
            .find(|m| m.message_id == message_id)
            .cloned()
            .ok_or(EmulatorError::MessageNotFound {
                chat_id,
                message_id,
            })
    }

    fn user_message(
        &mut self,
        chat_id: i64,
        text: &str,
        reply_to: Option<Message>,
    ) -> Result<i64, EmulatorError> {
        let chat = self.chat(chat_id)?;
        let message = Message {
            message_id: chat.next_message_id,
            from: Some(chat.user.clone()),
            chat: chat.as_api(),
            date: unix_now(),
            edit_date: None,
            text: Some(text.to_owned()),
            reply_markup: None,
            reply_to_message: reply_to.map(Box::new),
        };
        chat.next_message_id += 1;
        chat.messages.push(message.clone());
        let id = message.message_id;
        self.push_update(Update {
            update_id: 0,
            message: Some(message),
            edited_message: None,
            callback_query: None,
        });
        Ok(id)
    }

    fn callback(
        &mut self,
        chat_id: i64,
        message_id: i64,
        data: String,
    ) -> Result<String, EmulatorError> {
        let message = self.message(chat_id, message_id)?;
        let chat = self.chat(chat_id)?;
        let id = random_decimal();
        let query = CallbackQuery {
            id: id.clone(),
            from: chat.user.clone(),
            message: Some(message),
            chat_instance: chat.chat_instance.clone(),
            data: Some(data),
        };
        self.pending_callbacks.insert(id.clone());
        self.push_update(Update {
            update_id: 0,
            message: None,
            edited_message: None,
            callback_query: Some(query),
        });
        Ok(id)
    }
}

impl ChatState {
    fn as_api(&self) -> Chat {
        Chat {
            id: i64::try_from(self.user.id).unwrap_or(i64::MAX),
            kind: "private".into(),
            title: None,
            username: self.user.username.clone(),
            first_name: Some(self.user.first_name.clone()),
        }
    }
}

// ---- the server ----

type Body = Full<Bytes>;

async fn accept_loop(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
) {
    let mut shutdown = shared.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => return,
        };
        let Ok((tcp, _)) = accepted else {
            // Out of file descriptors and the like: wait instead of spinning.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let acceptor = acceptor.clone();
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let Ok(Ok(tls)) =
                tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
            else {
                return;
            };
            let service = hyper::service::service_fn(move |req| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, Infallible>(serve(&shared, req).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}

fn respond(status: u16, content_type: &'static str, body: Vec<u8>) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn api_error(code: u16, description: &str) -> Response<Body> {
    let body = json!({"ok": false, "error_code": code, "description": description});
    respond(code, "application/json", body.to_string().into_bytes())
}

fn api_ok(result: &Value) -> Response<Body> {
    let body = json!({"ok": true, "result": result});
    respond(200, "application/json", body.to_string().into_bytes())
}

fn fault_response(fault: &Fault) -> Response<Body> {
    match fault {
        Fault::TooManyRequests { retry_after_secs } => {
            let n = *retry_after_secs;
            let body = json!({
                "ok": false,
                "error_code": 429,
                "description": format!("Too Many Requests: retry after {n}"),
                "parameters": {"retry_after": n},
            });
            let mut resp = respond(429, "application/json", body.to_string().into_bytes());
            resp.headers_mut().insert(RETRY_AFTER, HeaderValue::from(n));
            resp
        }
        Fault::Status(code) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let line = format!(
                "{} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("Error")
            );
            let html = format!(
                "<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n<center><h1>{line}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
            );
            respond(status.as_u16(), "text/html", html.into_bytes())
        }
        Fault::BotApi { code, description } => api_error(*code, description),
    }
}

/// One request: `/bot<token>/<method>`.
async fn serve(shared: &Shared, req: Request<Incoming>) -> Response<Body> {
    // The path holds the token: it is parsed here and never logged or echoed.
    let Some((token_text, method)) = req
        .uri()
        .path()
        .strip_prefix("/bot")
        .and_then(|rest| rest.split_once('/'))
    else {
        return api_error(404, "Not Found");
    };
    let method = method.to_ascii_lowercase();
    let bot_id = {
        let token = BotToken::parse(token_text).ok();
        let state = shared.lock();
        token.and_then(|t| {
            state
                .bots
                .get(&t.bot_id())
                .filter(|bot| bot.token == t)
                .map(|_| t.bot_id())
        })
    };
    let Some(bot_id) = bot_id else {
        return api_error(401, "Unauthorized");
    };
    {
        let mut state = shared.lock();
        let Some(bot) = state.bots.get_mut(&bot_id) else {
            return api_error(401, "Unauthorized");
        };
        bot.requests += 1;
        let fault = bot
            .faults
            .iter()
            .position(|(m, _)| m.as_ref().is_none_or(|m| *m == method))
            .and_then(|i| bot.faults.remove(i));
        if let Some((_, fault)) = fault {
            return fault_response(&fault);
        }
    }
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BODY as u64) {
        return api_error(413, "Request Entity Too Large");
    }
    let body = match Limited::new(req.into_body(), MAX_REQUEST_BODY)
        .collect()
        .await
    {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return api_error(413, "Request Entity Too Large"),
    };
    let params: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        match serde_json::from_slice(&body) {
            Ok(v @ Value::Object(_)) => v,
            _ => return api_error(400, "Bad Request: can't parse JSON object"),
        }
    };
    let result = match method.as_str() {
        "getupdates" => get_updates(shared, bot_id, params).await,
        "getme"
        | "sendmessage"
        | "editmessagetext"
        | "answercallbackquery"
        | "setwebhook"
        | "deletewebhook"
        | "getwebhookinfo" => {
            let mut state = shared.lock();
            match state.bots.get_mut(&bot_id) {
                Some(bot) => carry_out(bot, &method, params),
                None => Err((401, "Unauthorized".into())),
            }
        }
        _ => return api_error(404, "Not Found: method not found"),
    };
    match result {
        Ok(value) => {
            let mut state = shared.lock();
            if let Some(bot) = state.bots.get_mut(&bot_id) {
                *bot.calls.entry(method).or_default() += 1;
            }
            drop(state);
            shared.changed.notify_all();
            api_ok(&value)
        }
        Err((code, description)) => api_error(code, &description),
    }
}

fn params<T: DeserializeOwned>(params: Value) -> Result<T, Refusal> {
    serde_json::from_value(params)
        .map_err(|_| bad_request("invalid or missing parameters for this method"))
}

fn to_value<T: serde::Serialize>(v: &T) -> Result<Value, Refusal> {
    serde_json::to_value(v).map_err(|_| (500, "Internal Server Error".into()))
}

/// The methods that complete at once (everything but `getUpdates`).
fn carry_out(bot: &mut Bot, method: &str, p: Value) -> Result<Value, Refusal> {
    match method {
        "getme" => to_value(&bot.me),
        "sendmessage" => {
            let req: SendMessage = params(p)?;
            check_text(&req.text)?;
            check_markup(req.reply_markup.as_ref())?;
            let me = bot.me.clone();
            let chat = bot
                .chats
                .get_mut(&req.chat_id)
                .ok_or_else(|| bad_request("chat not found"))?;
            let message = Message {
                message_id: chat.next_message_id,
                from: Some(me),
                chat: chat.as_api(),
                date: unix_now(),
                edit_date: None,
                text: Some(req.text),
                reply_markup: req.reply_markup,
                reply_to_message: None,
            };
            chat.next_message_id += 1;
            chat.messages.push(message.clone());
            to_value(&message)
        }
        "editmessagetext" => {
            let req: EditMessageText = params(p)?;
            check_text(&req.text)?;
            check_markup(req.reply_markup.as_ref())?;
            let chat = bot
                .chats
                .get_mut(&req.chat_id)
                .ok_or_else(|| bad_request("chat not found"))?;
            let message = chat
                .messages
                .iter_mut()
                .find(|m| m.message_id == req.message_id)
                .ok_or_else(|| bad_request("message to edit not found"))?;
            if !message.from.as_ref().is_some_and(|u| u.is_bot) {
                return Err(bad_request("message can't be edited"));
            }
            if message.text.as_deref() == Some(req.text.as_str())
                && message.reply_markup == req.reply_markup
            {
                return Err(bad_request(
                    "message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
                ));
            }
            message.text = Some(req.text);
            message.reply_markup = req.reply_markup;
            message.edit_date = Some(unix_now());
            let message = message.clone();
            to_value(&message)
        }
        "answercallbackquery" => {
            let req: AnswerCallbackQuery = params(p)?;
            if req.text.as_ref().is_some_and(|t| t.chars().count() > 200) {
                return Err(bad_request("MESSAGE_TOO_LONG"));
            }
            if !bot.pending_callbacks.remove(&req.callback_query_id) {
                return Err(bad_request(
                    "query is too old and response timeout expired or query ID is invalid",
                ));
            }
            bot.answers.push(req);
            Ok(Value::Bool(true))
        }
        "setwebhook" => {
            let req: SetWebhook = params(p)?;
            if req.url.is_empty() {
                bot.webhook = None;
            } else {
                if WebhookUrl::parse(&req.url).is_none() {
                    return Err(bad_request(
                        "bad webhook: An HTTPS URL must be provided for webhook",
                    ));
                }
                if let Some(secret) = &req.secret_token {
                    let ok = (1..=256).contains(&secret.len())
                        && secret
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                    if !ok {
                        return Err(bad_request("secret token contains unallowed characters"));
                    }
                }
                bot.webhook = Some(Webhook {
                    url: req.url,
                    secret_token: req.secret_token,
                    allowed_updates: req.allowed_updates,
                });
            }
            bot.webhook_error = None;
            if req.drop_pending_updates == Some(true) {
                bot.updates.clear();
            }
            bot.notify.notify_waiters();
            Ok(Value::Bool(true))
        }
        "deletewebhook" => {
            let req: DeleteWebhook = params(p)?;
            bot.webhook = None;
            bot.webhook_error = None;
            if req.drop_pending_updates == Some(true) {
                bot.updates.clear();
            }
            bot.notify.notify_waiters();
            Ok(Value::Bool(true))
        }
        "getwebhookinfo" => {
            let info = WebhookInfo {
                url: bot
                    .webhook
                    .as_ref()
                    .map(|w| w.url.clone())
                    .unwrap_or_default(),
                has_custom_certificate: false,
                pending_update_count: bot.updates.len() as u64,
                last_error_date: bot.webhook_error.as_ref().map(|e| e.0),
                last_error_message: bot.webhook_error.as_ref().map(|e| e.1.clone()),
                allowed_updates: bot.webhook.as_ref().and_then(|w| w.allowed_updates.clone()),
            };
            to_value(&info)
        }
        _ => Err((404, "Not Found: method not found".into())),
    }
}

fn check_text(text: &str) -> Result<(), Refusal> {
    if text.trim().is_empty() {
        return Err(bad_request("message text is empty"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(bad_request("message is too long"));
    }
    Ok(())
}

fn check_markup(markup: Option<&InlineKeyboardMarkup>) -> Result<(), Refusal> {
    for button in markup
        .iter()
        .flat_map(|m| m.inline_keyboard.iter().flatten())
    {
        if let Some(data) = &button.callback_data {
            if !(1..=64).contains(&data.len()) {
                return Err(bad_request("BUTTON_DATA_INVALID"));
            }
        } else if let Some(app) = &button.web_app {
            if !app.url.starts_with("https://") {
                return Err(bad_request(
                    "inline keyboard button Web App URL is invalid: Only HTTPS links are allowed",
                ));
            }
        } else if button.url.is_none() {
            return Err(bad_request(
                "text buttons are unallowed in the inline keyboard",
            ));
        }
    }
    Ok(())
}

/// `getUpdates`: confirms updates below `offset`, then returns up to `limit` updates, waiting up
/// to `timeout` seconds for the first one.
async fn get_updates(shared: &Shared, bot_id: u64, p: Value) -> Result<Value, Refusal> {
    let req: GetUpdates = params(p)?;
    let limit = match req.limit {
        Some(n @ 1..=100) => n as usize,
        _ => 100,
    };
    let wait = Duration::from_secs(u64::from(req.timeout.unwrap_or(0)).min(MAX_LONG_POLL_SECS));
    let deadline = Instant::now() + wait;
    let notify = {
        let mut state = shared.lock();
        let bot = state
            .bots
            .get_mut(&bot_id)
            .ok_or((401, String::from("Unauthorized")))?;
        match req.offset {
            Some(offset) if offset < 0 => {
                let keep = usize::try_from(offset.unsigned_abs()).unwrap_or(usize::MAX);
                while bot.updates.len() > keep {
                    bot.updates.pop_front();
                }
            }
            Some(offset) => {
                while bot.updates.front().is_some_and(|u| u.update_id < offset) {
                    bot.updates.pop_front();
                }
            }
            None => {}
        }
        Arc::clone(&bot.notify)
    };
    shared.changed.notify_all();
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            let state = shared.lock();
            let bot = state
                .bots
                .get(&bot_id)
                .ok_or((401, String::from("Unauthorized")))?;
            if bot.webhook.is_some() {
                return Err((
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first".into(),
                ));
            }
            let out: Vec<&Update> = bot.updates.iter().take(limit).collect();
            if !out.is_empty() || Instant::now() >= deadline {
                return to_value(&out);
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(left, notified).await;
    }
}

// ---- webhook delivery ----

struct WebhookUrl {
    https: bool,
    host: String,
    port: u16,
    authority: String,
    path: String,
}

impl WebhookUrl {
    /// `https://host[:port]/path`, or `http://` to `127.0.0.1` / `localhost` only.
    fn parse(url: &str) -> Option<Self> {
        let (https, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else {
            (false, url.strip_prefix("http://")?)
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        if authority.contains(['@', '[', ' ']) || path.contains(['#', ' ']) {
            return None;
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (authority, if https { 443 } else { 80 }),
        };
        if host.is_empty() || (!https && !matches!(host, "127.0.0.1" | "localhost")) {
            return None;
        }
        Some(Self {
            https,
            host: host.to_owned(),
            port,
            authority: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

/// Delivers the bot's updates to its webhook one at a time, oldest first; a failed delivery is
/// repeated after a backoff (100 ms doubling to 2 s) until it succeeds or the webhook changes.
async fn webhook_loop(shared: Arc<Shared>, bot_id: u64, notify: Arc<Notify>) {
    let mut shutdown = shared.shutdown.clone();
    let mut backoff = Duration::from_millis(100);
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let job = {
            let state = shared.lock();
            state.bots.get(&bot_id).and_then(|bot| {
                let hook = bot.webhook.clone()?;
                let update = bot.updates.front()?;
                Some((hook, update.update_id, serde_json::to_vec(update).ok()?))
            })
        };
        let Some((hook, update_id, body)) = job else {
            tokio::select! {
                () = &mut notified => {}
                _ = shutdown.changed() => return,
            }
            continue;
        };
        let roots = shared
            .webhook_roots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let outcome = deliver(&hook, body, roots).await;
        let failed = {
            let mut state = shared.lock();
            let Some(bot) = state.bots.get_mut(&bot_id) else {
                return;
            };
            match outcome {
                Ok(()) => {
                    if bot.webhook.as_ref() == Some(&hook)
                        && bot
                            .updates
                            .front()
                            .is_some_and(|u| u.update_id == update_id)
                    {
                        bot.updates.pop_front();
                    }
                    false
                }
                Err(message) => {
                    bot.webhook_error = Some((unix_now(), message));
                    true
                }
            }
        };
        shared.changed.notify_all();
        if failed {
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = &mut notified => {}
                _ = shutdown.changed() => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(2));
        } else {
            backoff = Duration::from_millis(100);
        }
    }
}

/// One POST of an update; `Err` holds the `last_error_message` Telegram would show.
async fn deliver(
    hook: &Webhook,
    body: Vec<u8>,
    roots: Vec<CertificateDer<'static>>,
) -> Result<(), String> {
    let url = WebhookUrl::parse(&hook.url).ok_or("bad webhook URL")?;
    let mut req = Request::post(url.path.as_str())
        .header(HOST, url.authority.as_str())
        .header(CONTENT_TYPE, "application/json");
    if let Some(secret) = &hook.secret_token {
        req = req.header("X-Telegram-Bot-Api-Secret-Token", secret.as_str());
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|_| String::from("bad webhook request"))?;
    let attempt = async {
        let tcp = tokio::net::TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|e| format!("Connection failed: {}", e.kind()))?;
        if url.https {
            let mut store = rustls::RootCertStore::empty();
            for cert in roots {
                store
                    .add(cert)
                    .map_err(|_| String::from("bad webhook CA"))?;
            }
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(store)
            .with_no_client_auth();
            let name = ServerName::try_from(url.host.clone())
                .map_err(|_| String::from("bad webhook host"))?;
            let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
                .connect(name, tcp)
                .await
                .map_err(|e| format!("SSL error: {e}"))?;
            post(TokioIo::new(tls), req).await
        } else {
            post(TokioIo::new(tcp), req).await
        }
    };
    let status = tokio::time::timeout(WEBHOOK_TIMEOUT, attempt)
        .await
        .map_err(|_| String::from("Read timeout expired"))??;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!(
            "Wrong response from the webhook: {} {}",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ))
    }
}

async fn post<T>(io: T, req: Request<Body>) -> Result<StatusCode, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("Connection failed: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("Connection failed: {e}"))?;
    Ok(resp.status())
}

// ---- certificates, time, randomness ----

struct TlsMaterial {
    ca_pem: String,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    leaf_spki_sha256: [u8; 32],
}

impl TlsMaterial {
    fn generate() -> Result<Self, ServerError> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose, PublicKeyData as _,
        };
        let tls = |e: rcgen::Error| ServerError::Tls(e.to_string());
        let ca_key = KeyPair::generate().map_err(tls)?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "kms-telegram Bot API emulator test CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let ca_cert = ca_params.self_signed(&ca_key).map_err(tls)?;
        let issuer = Issuer::new(ca_params, ca_key);

        let leaf_key = KeyPair::generate().map_err(tls)?;
        let mut leaf_params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .map_err(tls)?;
        leaf_params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        leaf_params.is_ca = IsCa::NoCa;
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let leaf_cert = leaf_params.signed_by(&leaf_key, &issuer).map_err(tls)?;
        let leaf_spki_sha256 = Sha256::digest(leaf_key.subject_public_key_info()).into();
        Ok(Self {
            ca_pem: ca_cert.pem(),
            chain: vec![leaf_cert.der().clone(), ca_cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
            leaf_spki_sha256,
        })
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn random_u64() -> u64 {
    // The OS RNG; the ids only need to be unique within one emulator, so a failing RNG falls
    // back to the clock.
    getrandom::u64().unwrap_or_else(|_| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
    })
}

fn random_decimal() -> String {
    (random_u64() >> 1).to_string()
}

fn random_base64(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    if getrandom::fill(&mut bytes).is_err() {
        bytes = random_u64().to_le_bytes().repeat(n.div_ceil(8));
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn webhook_urls() {
        let u = WebhookUrl::parse("https://example.org:8443/hook?x=1").unwrap();
        assert!(u.https && u.host == "example.org" && u.port == 8443 && u.path == "/hook?x=1");
        let u = WebhookUrl::parse("http://127.0.0.1:9/").unwrap();
        assert!(!u.https && u.port == 9);
        assert!(WebhookUrl::parse("http://example.org/").is_none());
        assert!(WebhookUrl::parse("ftp://127.0.0.1/").is_none());
        assert!(WebhookUrl::parse("https://user@host/").is_none());
        assert!(WebhookUrl::parse("https://:1/").is_none());
    }

    #[test]
    fn markup_checks() {
        use crate::api::InlineKeyboardButton;
        let kb = |b: InlineKeyboardButton| InlineKeyboardMarkup {
            inline_keyboard: vec![vec![b]],
        };
        assert!(check_markup(Some(&kb(InlineKeyboardButton::callback("a", "x")))).is_ok());
        let too_long = "x".repeat(65);
        assert_eq!(
            check_markup(Some(&kb(InlineKeyboardButton::callback("a", too_long)))),
            Err(bad_request("BUTTON_DATA_INVALID"))
        );
        assert_eq!(
            check_markup(Some(&kb(InlineKeyboardButton::callback("a", "")))),
            Err(bad_request("BUTTON_DATA_INVALID"))
        );
        assert!(check_markup(Some(&kb(InlineKeyboardButton::web_app("a", "http://x")))).is_err());
        assert!(check_text(" \n").is_err());
        assert!(check_text(&"é".repeat(4096)).is_ok());
        assert!(check_text(&"é".repeat(4097)).is_err());
    }
}
