//! The Telegram HTTPS pool: delivers the signer's messages to users through the *signer bot*
//! and carries the users' button presses back to the signer.
//!
//! The signer bot is a Telegram bot of its own, whose token only this process holds: the
//! business logic (the trading bot) can neither read its messages, nor forge its callback
//! queries, nor mint Mini App initData for it. The pool:
//!
//! - sends each challenge as a message with one inline button per decision, whose callback
//!   data is that decision's token, plus a button that opens the authorization Mini App;
//! - reads the bot's updates (`getUpdates` long poll): a button press becomes a
//!   [`PoolRequest::Decide`] for the challenge of the pressed message, from the user Telegram
//!   authenticated (`callback_query.from`), and its answer is shown with `answerCallbackQuery`;
//!   when the decision needs a TOTP code, the next code the user types is sent with it;
//! - edits the challenge message when the signer reports it decided or expired (buttons gone);
//! - serves the Mini App (`kms_telegram::miniapp`), which shows the signer-signed description
//!   and presses a button for the user the validated initData names.
//!
//! Sending is sharded by user over `max_in_flight` sender threads (one user's messages stay in
//! order); each request is retried on 429 (after `retry_after`) and 5xx (backoff with jitter) by
//! `kms_telegram::BotClient`. No token, code or seed word is ever written to the log.

use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::Duration;

use kms_client::frame::encode_frame;
use kms_client::pool::{ButtonOut, PoolRequest, UserMessage};
use kms_client::proto::{ErrorKind, Proof, SecretText};
use kms_telegram::api::{
    AnswerCallbackQuery, CallbackQuery, EditMessageText, GetUpdates, InlineKeyboardButton,
    InlineKeyboardMarkup, Message, SendMessage,
};
use kms_telegram::miniapp::{ChallengeView, MiniAppBackend, RouteError};
use kms_telegram::{ApiError, BotClient, BotToken, InitDataError};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::util::now;

/// Longest text of one Telegram message.
const MAX_TEXT_CHARS: usize = 4096;
/// How long the Mini App waits for the signer's answer to a decision.
const DECIDE_WAIT: Duration = Duration::from_secs(30);
/// Open challenges kept at most (the oldest expired ones go first beyond this).
const MAX_OPEN: usize = 100_000;

/// What the pool needs to run against Telegram (read before the sandbox closes).
pub(crate) struct TelegramSetup {
    pub(crate) client: BotClient,
    /// The client of the update poller: its own, so a long poll never holds one of the
    /// senders' request slots.
    pub(crate) poller: BotClient,
    pub(crate) token: BotToken,
    pub(crate) poll_timeout_secs: u32,
    pub(crate) senders: usize,
    pub(crate) miniapp_url: Option<String>,
    pub(crate) init_data_max_age: Duration,
}

/// One open challenge as the pool knows it.
struct Open {
    user: u64,
    /// The first line of the description (at most 80 characters), to name the request in
    /// prompts and answers.
    summary: String,
    buttons: Vec<ButtonOut>,
    statement: Vec<u8>,
    statement_signature: Vec<u8>,
    signer_key: Vec<u8>,
    expires_at: u64,
    /// The chat message that shows it, once sent, and its text.
    message: Option<(i64, i64, String)>,
}

/// Who waits for the signer's answer to a decision.
enum Waiter {
    /// A button pressed in chat: answer the callback query.
    Callback {
        query: String,
        user: u64,
        challenge: String,
        token: SecretText,
    },
    /// A TOTP code typed in chat (as a reply to the request's message): reply in the chat.
    Code { user: u64, challenge: String },
    /// The Mini App: hand the outcome to the waiting request.
    MiniApp(mpsc::SyncSender<Result<String, RouteError>>),
}

/// A decision whose approval waits for the user's TOTP code, typed as a reply to the message of
/// exactly this challenge.
struct AwaitingCode {
    token: SecretText,
    expires_at: u64,
}

/// Work for a sender thread.
enum Job {
    Deliver(UserMessage),
    Answer { query: String, text: String },
    Text { user: u64, text: String },
}

pub(crate) struct Pool {
    setup: TelegramSetup,
    signer: Mutex<UnixStream>,
    open: Mutex<HashMap<String, Open>>,
    by_message: Mutex<HashMap<(i64, i64), String>>,
    waiting: Mutex<HashMap<u64, Waiter>>,
    /// (user, challenge) → the approve token waiting for a code.
    awaiting_code: Mutex<HashMap<(u64, String), AwaitingCode>>,
    next_id: AtomicU64,
    /// Unix time of the last sweep of expired challenges and code waits.
    last_sweep: AtomicU64,
    senders: Vec<Mutex<mpsc::Sender<Job>>>,
}

/// Seconds between sweeps of expired challenges, their message mappings and code waits.
const SWEEP_SECS: u64 = 60;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts the pool on `signer`: the sender threads and the update poller. The caller then runs
/// [`serve_signer`] and may start the Mini App server with the pool as its backend.
pub(crate) fn start(setup: TelegramSetup, signer: UnixStream) -> Result<Arc<Pool>, String> {
    let writer = signer
        .try_clone()
        .map_err(|e| format!("signer socket: {e}"))?;
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for _ in 0..setup.senders.max(1) {
        let (tx, rx) = mpsc::channel();
        senders.push(Mutex::new(tx));
        receivers.push(rx);
    }
    let pool = Arc::new(Pool {
        setup,
        signer: Mutex::new(writer),
        open: Mutex::new(HashMap::new()),
        by_message: Mutex::new(HashMap::new()),
        waiting: Mutex::new(HashMap::new()),
        awaiting_code: Mutex::new(HashMap::new()),
        next_id: AtomicU64::new(1),
        last_sweep: AtomicU64::new(now()),
        senders,
    });
    for (i, rx) in receivers.into_iter().enumerate() {
        let p = Arc::clone(&pool);
        std::thread::Builder::new()
            .name(format!("kms-pool-send-{i}"))
            .spawn(move || {
                essential("a sender", || {
                    while let Ok(job) = rx.recv() {
                        p.run_job(job);
                    }
                });
            })
            .map_err(|e| format!("sender thread: {e}"))?;
    }
    let p = Arc::clone(&pool);
    std::thread::Builder::new()
        .name("kms-pool-updates".into())
        .spawn(move || essential("the update poller", || p.poll_updates()))
        .map_err(|e| format!("update thread: {e}"))?;
    Ok(pool)
}

/// Runs a thread the pool cannot work without; if it ends (a panic included), the whole process
/// exits so the supervisor restarts it, instead of a pool that looks alive but delivers nothing.
fn essential(what: &str, work: impl FnOnce()) {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
    eprintln!(
        "kms pool: {what} thread {}; exiting so the supervisor restarts the pool",
        if outcome.is_err() {
            "panicked"
        } else {
            "ended"
        }
    );
    std::process::exit(1);
}

/// The signer key's fingerprint as the chat and the Mini App show it: the first 16 bytes (128
/// bits) of its SHA-256, upper-case hex in groups of four.
pub(crate) fn key_fingerprint(key: &[u8]) -> String {
    let digest = Sha256::digest(key);
    let hex = hex::encode_upper(&digest[..16]);
    hex.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The chat text of a challenge.
fn challenge_text(
    description: &str,
    signer_key: &[u8],
    expires_at: u64,
    factor: Option<&str>,
) -> String {
    let minutes = expires_at.saturating_sub(now()).div_ceil(60);
    let mut text = format!("Approve this request?\n\n{description}\n\n");
    if !signer_key.is_empty() {
        text.push_str(&format!("Signer key: {}\n", key_fingerprint(signer_key)));
    }
    text.push_str(&format!("Expires in {minutes} min."));
    match factor {
        Some(f) if f.eq_ignore_ascii_case("totp") || f == "any" => text.push_str(
            "\nApproving needs your second factor: press Approve, then reply to this message with the code of your authenticator app (or use the app).",
        ),
        Some(f) => text.push_str(&format!("\nApproving needs a second factor ({f}).")),
        None => {}
    }
    truncate(text)
}

fn truncate(mut text: String) -> String {
    if text.chars().count() > MAX_TEXT_CHARS {
        let cut: String = text.chars().take(MAX_TEXT_CHARS - 40).collect();
        text = format!("{cut}\n… (cut: open the app for all of it)");
    }
    text
}

/// The first line of a description, at most 80 characters: how prompts name a request.
fn summary(description: &str) -> String {
    let line = description.lines().next().unwrap_or("");
    let mut s: String = line.chars().take(80).collect();
    if line.chars().count() > 80 {
        s.push('…');
    }
    s
}

impl Pool {
    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Queues a job on the sender thread of `user` (one user's jobs stay in order).
    fn queue(&self, user: u64, job: Job) {
        let n = self.senders.len() as u64;
        let shard = usize::try_from(user % n).unwrap_or(0);
        if lock(&self.senders[shard]).send(job).is_err() {
            eprintln!("kms pool: sender thread {shard} is gone; a message for user {user} is lost");
        }
    }

    /// Sends a request to the signer.
    fn to_signer(&self, req: &PoolRequest) -> Result<(), String> {
        let body = Zeroizing::new(serde_json::to_vec(req).map_err(|e| e.to_string())?);
        let frame = Zeroizing::new(encode_frame(&body).map_err(|e| e.to_string())?);
        lock(&self.signer)
            .write_all(&frame)
            .map_err(|e| format!("signer link: {e}"))
    }

    /// Asks the signer to decide `challenge` with `token`; `waiter` gets the answer.
    fn decide(
        &self,
        user: u64,
        challenge: &str,
        token: SecretText,
        proof: Option<Proof>,
        waiter: Waiter,
    ) -> Result<u64, String> {
        let id = self.next_id();
        lock(&self.waiting).insert(id, waiter);
        let sent = self.to_signer(&PoolRequest::Decide {
            id,
            user,
            challenge: challenge.to_owned(),
            token,
            proof,
        });
        if sent.is_err() {
            lock(&self.waiting).remove(&id);
        }
        sent.map(|()| id)
    }

    // ---------------------------------------------------------------- signer → pool

    pub(crate) fn on_signer_message(&self, msg: UserMessage) {
        match msg {
            UserMessage::Challenge {
                user,
                ref challenge,
                ref description,
                ref buttons,
                expires_at,
                ref statement,
                ref statement_signature,
                ref signer_key,
                ..
            } => {
                let now = now();
                let due = now.saturating_sub(self.last_sweep.load(Ordering::Relaxed)) >= SWEEP_SECS;
                if due || lock(&self.open).len() >= MAX_OPEN {
                    self.sweep(now);
                }
                let mut open = lock(&self.open);
                open.insert(
                    challenge.clone(),
                    Open {
                        user,
                        summary: summary(description),
                        buttons: buttons.clone(),
                        statement: statement.0.clone(),
                        statement_signature: statement_signature.0.clone(),
                        signer_key: signer_key.0.clone(),
                        expires_at,
                        message: None,
                    },
                );
                drop(open);
                self.queue(user, Job::Deliver(msg));
            }
            UserMessage::DecideAnswer {
                user,
                id,
                error,
                text,
            } => self.decide_answered(user, id, error, text),
            other => self.queue(other.user(), Job::Deliver(other)),
        }
    }

    /// Forgets expired challenges (and the message mappings that point at them) and expired code
    /// waits: what a press on them would get is `expired` from the signer anyway.
    fn sweep(&self, now: u64) {
        self.last_sweep.store(now, Ordering::Relaxed);
        let mut open = lock(&self.open);
        let mut by_message = lock(&self.by_message);
        open.retain(|_, o| {
            let keep = o.expires_at > now;
            if let (false, Some((chat, id, _))) = (keep, &o.message) {
                by_message.remove(&(*chat, *id));
            }
            keep
        });
        drop((open, by_message));
        lock(&self.awaiting_code).retain(|_, a| a.expires_at > now);
    }

    fn decide_answered(&self, user: u64, id: u64, error: Option<ErrorKind>, text: String) {
        let Some(waiter) = lock(&self.waiting).remove(&id) else {
            return;
        };
        match waiter {
            Waiter::Callback {
                query,
                user: u,
                challenge,
                token,
            } => {
                let text = if error == Some(ErrorKind::SecondFactorRequired) {
                    let (expires_at, what) = lock(&self.open)
                        .get(&challenge)
                        .map_or((now() + 300, String::new()), |o| {
                            (o.expires_at, o.summary.clone())
                        });
                    {
                        let mut awaiting = lock(&self.awaiting_code);
                        let now = now();
                        awaiting.retain(|_, a| a.expires_at > now);
                        awaiting.insert((u, challenge.clone()), AwaitingCode { token, expires_at });
                    }
                    self.queue(
                        u,
                        Job::Text {
                            user: u,
                            text: format!(
                                "To approve request {challenge} ({what}), reply to its message with the code of your authenticator app. A code that is not a reply to that message is not used."
                            ),
                        },
                    );
                    "Reply to the request's message with your authenticator code.".to_string()
                } else if error.is_some() {
                    format!("Not done: {text}")
                } else {
                    text
                };
                self.queue(user, Job::Answer { query, text });
            }
            Waiter::Code { user: u, challenge } => {
                let text = match error {
                    None => format!("Request {challenge}: {text}"),
                    Some(_) => format!("Request {challenge}: not done: {text}"),
                };
                self.queue(u, Job::Text { user: u, text });
            }
            Waiter::MiniApp(tx) => {
                let _ = tx.send(match error {
                    None => Ok(text),
                    Some(_) => Err(RouteError::Refused(text)),
                });
            }
        }
    }

    // ---------------------------------------------------------------- sending

    fn run_job(&self, job: Job) {
        let client = &self.setup.client;
        let result = match job {
            Job::Deliver(msg) => self.deliver(msg),
            Job::Answer { query, text } => client
                .answer_callback_query(&AnswerCallbackQuery {
                    callback_query_id: query,
                    text: Some(text.chars().take(200).collect()),
                    show_alert: None,
                })
                .map(drop),
            Job::Text { user, text } => self.send_text(user, text, None).map(drop),
        };
        if let Err(e) = result {
            eprintln!("kms pool: Bot API: {e}");
        }
    }

    fn chat(user: u64) -> Result<i64, ApiError> {
        i64::try_from(user)
            .map_err(|_| ApiError::Config(format!("user id {user} is not a chat id")))
    }

    fn send_text(
        &self,
        user: u64,
        text: String,
        keyboard: Option<InlineKeyboardMarkup>,
    ) -> Result<Message, ApiError> {
        let req = SendMessage {
            chat_id: Self::chat(user)?,
            text,
            parse_mode: None,
            reply_markup: keyboard,
        };
        let sent = self.setup.client.send_message(&req);
        // The body can hold a seed word or decision tokens: wipe it.
        let SendMessage {
            text, reply_markup, ..
        } = req;
        drop(Zeroizing::new(text));
        if let Some(k) = reply_markup {
            for b in k.inline_keyboard.into_iter().flatten() {
                drop(b.callback_data.map(Zeroizing::new));
            }
        }
        sent
    }

    fn deliver(&self, msg: UserMessage) -> Result<(), ApiError> {
        match msg {
            UserMessage::Challenge {
                user,
                challenge,
                description,
                buttons,
                expires_at,
                factor_required,
                signer_key,
                ..
            } => {
                let text = challenge_text(
                    &description,
                    &signer_key.0,
                    expires_at,
                    factor_required.as_deref(),
                );
                // A description too long for one chat message is never approvable from a cut
                // text: its decision buttons are left out (the Mini App shows all of it).
                let cut = text.ends_with("(cut: open the app for all of it)");
                let mut rows = vec![
                    buttons
                        .iter()
                        .map(|b| {
                            InlineKeyboardButton::callback(
                                b.label.clone(),
                                b.token.expose_secret().to_owned(),
                            )
                        })
                        .collect::<Vec<_>>(),
                ];
                if cut {
                    rows.clear();
                }
                if let Some(url) = &self.setup.miniapp_url {
                    rows.push(vec![InlineKeyboardButton::web_app(
                        "Review in the app",
                        format!("{}/app?c={challenge}", url.trim_end_matches('/')),
                    )]);
                }
                let sent = self.send_text(
                    user,
                    text.clone(),
                    Some(InlineKeyboardMarkup {
                        inline_keyboard: rows,
                    }),
                )?;
                let key = (sent.chat.id, sent.message_id);
                let mut open = lock(&self.open);
                if let Some(o) = open.get_mut(&challenge) {
                    o.message = Some((key.0, key.1, text));
                    lock(&self.by_message).insert(key, challenge);
                }
                Ok(())
            }
            UserMessage::Decided {
                challenge,
                approved,
                text,
                ..
            } => {
                let Some(open) = lock(&self.open).remove(&challenge) else {
                    return Ok(());
                };
                let Some((chat, message_id, shown)) = open.message else {
                    return Ok(());
                };
                lock(&self.by_message).remove(&(chat, message_id));
                let mark = if approved { "Approved" } else { "Closed" };
                let edited = self.setup.client.edit_message_text(&EditMessageText {
                    chat_id: chat,
                    message_id,
                    text: truncate(format!("{shown}\n\n{mark}: {text}")),
                    parse_mode: None,
                    reply_markup: None,
                });
                match edited {
                    Err(ApiError::Api { description, .. })
                        if description.contains("message is not modified") =>
                    {
                        Ok(())
                    }
                    other => other.map(drop),
                }
            }
            UserMessage::SeedPhrase { user, words } => {
                let mut text = Zeroizing::new(String::from(
                    "Your recovery phrase, shown once. Write it down on paper, then delete this message:\n",
                ));
                for (i, w) in words.iter().enumerate() {
                    text.push_str(&format!("\n{:>2}. {}", i + 1, w.expose_secret()));
                }
                self.send_text(user, text.to_string(), None).map(drop)
            }
            UserMessage::TotpEnrollment {
                user,
                otpauth_uri,
                qr_text,
                ..
            } => {
                let text = Zeroizing::new(format!(
                    "Add this to your authenticator app (scan or copy), then confirm with a code. Delete this message afterwards.\n\n{}\n\n{}",
                    otpauth_uri.expose_secret(),
                    qr_text.expose_secret()
                ));
                self.send_text(user, text.to_string(), None).map(drop)
            }
            UserMessage::BackupPassword { user, password } => {
                let text = Zeroizing::new(format!(
                    "The password of the backup you just exported (keep it apart from the file):\n\n{}",
                    password.expose_secret()
                ));
                self.send_text(user, text.to_string(), None).map(drop)
            }
            UserMessage::Notice { user, text } => self.send_text(user, text, None).map(drop),
            other => {
                eprintln!(
                    "kms pool: a message kind for user {} this pool does not deliver",
                    other.user()
                );
                Ok(())
            }
        }
    }

    // ---------------------------------------------------------------- updates

    fn poll_updates(&self) {
        let mut offset: Option<i64> = None;
        let mut failures: u32 = 0;
        loop {
            let req = GetUpdates {
                offset,
                limit: Some(100),
                timeout: Some(self.setup.poll_timeout_secs),
                allowed_updates: Some(vec!["message".into(), "callback_query".into()]),
            };
            match self.setup.poller.get_updates(&req) {
                Ok(updates) => {
                    failures = 0;
                    for u in updates {
                        offset = Some(u.update_id.saturating_add(1));
                        if let Some(q) = u.callback_query {
                            self.pressed(q);
                        } else if let Some(m) = u.message {
                            self.message(m);
                        }
                    }
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    eprintln!("kms pool: getUpdates: {e}");
                    std::thread::sleep(Duration::from_millis(200 * u64::from(failures.min(25))));
                }
            }
        }
    }

    /// A button press in chat.
    fn pressed(&self, q: CallbackQuery) {
        let user = q.from.id;
        // Challenges are only ever sent to the user's private chat with the signer bot.
        if q.message
            .as_ref()
            .is_some_and(|m| m.chat.kind != "private" || u64::try_from(m.chat.id) != Ok(user))
        {
            self.queue(
                user,
                Job::Answer {
                    query: q.id,
                    text: "Decisions are taken in your private chat with this bot.".into(),
                },
            );
            return;
        }
        let Some(data) = q.data.map(SecretText::new) else {
            self.queue(
                user,
                Job::Answer {
                    query: q.id,
                    text: "Nothing to do.".into(),
                },
            );
            return;
        };
        let challenge = q
            .message
            .as_ref()
            .and_then(|m| {
                lock(&self.by_message)
                    .get(&(m.chat.id, m.message_id))
                    .cloned()
            })
            .or_else(|| token_challenge(data.expose_secret()));
        let Some(challenge) = challenge else {
            self.queue(
                user,
                Job::Answer {
                    query: q.id,
                    text: "This request is no longer open.".into(),
                },
            );
            return;
        };
        let waiter = Waiter::Callback {
            query: q.id.clone(),
            user,
            challenge: challenge.clone(),
            token: data.clone(),
        };
        if let Err(e) = self.decide(user, &challenge, data, None, waiter) {
            eprintln!("kms pool: {e}");
            self.queue(
                user,
                Job::Answer {
                    query: q.id,
                    text: "The signer is unavailable; try again.".into(),
                },
            );
        }
    }

    /// A message typed in chat: a TOTP code the pool waits for, or `/start`.
    /// A message typed in the user's private chat: a TOTP code replying to the message of a
    /// request that waits for one, or `/start`. A code is bound to the request whose message it
    /// replies to, so a request pressed by someone else in the meantime cannot take it.
    fn message(&self, m: Message) {
        let Some(from) = m.from.as_ref().map(|u| u.id) else {
            return;
        };
        if m.chat.kind != "private" || u64::try_from(m.chat.id) != Ok(from) {
            return;
        }
        let text = Zeroizing::new(m.text.unwrap_or_default());
        let code = text.trim();
        let is_code = (6..=8).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit());
        let say = |text: String| self.queue(from, Job::Text { user: from, text });
        if is_code {
            let challenge = m.reply_to_message.as_ref().and_then(|r| {
                lock(&self.by_message)
                    .get(&(r.chat.id, r.message_id))
                    .cloned()
            });
            let Some(challenge) = challenge else {
                say("Not used: reply to the message of the request you approve with the code (or use the app).".into());
                return;
            };
            let awaiting = lock(&self.awaiting_code).remove(&(from, challenge.clone()));
            match awaiting {
                Some(a) if a.expires_at > now() => {
                    let proof = Proof::Totp {
                        code: SecretText::new(code),
                    };
                    let waiter = Waiter::Code {
                        user: from,
                        challenge: challenge.clone(),
                    };
                    if let Err(e) = self.decide(from, &challenge, a.token, Some(proof), waiter) {
                        eprintln!("kms pool: {e}");
                    }
                }
                _ => say(format!(
                    "Not used: request {challenge} is not waiting for a code. Press Approve on it first."
                )),
            }
        } else if code == "/start" || code.starts_with("/start ") {
            say("This is your wallet's signer. Requests to approve arrive here; nothing is signed without your press.".into());
        }
    }
}

/// The challenge id a decision token names (its bytes 1..9, see kms-intent's SPEC), for a press
/// on a message this pool does not know (sent before it restarted).
fn token_challenge(token: &str) -> Option<String> {
    kms_intent::ParsedToken::parse(token)
        .ok()
        .map(|p| p.challenge_id().to_string())
}

impl MiniAppBackend for Pool {
    fn authenticate(&self, init_data: &str) -> Result<u64, InitDataError> {
        let data = kms_telegram::initdata::validate(
            init_data,
            &self.setup.token,
            now(),
            self.setup.init_data_max_age,
        )?;
        data.user_id()
            .ok_or_else(|| InitDataError::Malformed("user".into()))
    }

    fn challenge(&self, user: u64, challenge: &str) -> Result<ChallengeView, RouteError> {
        let open = lock(&self.open);
        match open.get(challenge) {
            Some(o) if o.user == user && o.expires_at > now() => Ok(ChallengeView {
                statement: o.statement.clone(),
                signature: o.statement_signature.clone(),
                signer_key: o.signer_key.clone(),
            }),
            _ => Err(RouteError::NotFound),
        }
    }

    fn decide(
        &self,
        user: u64,
        challenge: &str,
        button: usize,
        code: Option<SecretText>,
    ) -> Result<String, RouteError> {
        let token = {
            let open = lock(&self.open);
            match open.get(challenge) {
                Some(o) if o.user == user => o
                    .buttons
                    .get(button)
                    .map(|b| b.token.clone())
                    .ok_or(RouteError::NotFound)?,
                _ => return Err(RouteError::NotFound),
            }
        };
        let proof = code.map(|code| Proof::Totp { code });
        let (tx, rx) = mpsc::sync_channel(1);
        let id = Pool::decide(self, user, challenge, token, proof, Waiter::MiniApp(tx))
            .map_err(RouteError::Unavailable)?;
        rx.recv_timeout(DECIDE_WAIT).map_err(|_| {
            lock(&self.waiting).remove(&id);
            RouteError::Unavailable("the signer did not answer in time".into())
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_shape() {
        let f = key_fingerprint(&[7u8; 32]);
        assert_eq!(f.len(), 39);
        assert_eq!(f.split(' ').count(), 8);
        assert_ne!(f, key_fingerprint(&[8u8; 32]));
    }

    #[test]
    fn long_texts_are_cut_to_telegram_limit() {
        let t = challenge_text(&"x".repeat(10_000), &[1; 32], now() + 120, Some("totp"));
        assert!(t.chars().count() <= MAX_TEXT_CHARS);
        let t = challenge_text("Send 1 SOL", &[1; 32], now() + 120, None);
        assert!(t.contains("Send 1 SOL") && t.contains("Signer key:") && t.contains("2 min"));
    }
}
