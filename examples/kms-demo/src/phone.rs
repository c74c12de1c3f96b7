//! The user's phone: the Bot API emulator with the signer bot, and the user's chat with it.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kms_telegram::BotToken;
use kms_telegram::api::{Message, User};
use kms_telegram::emulator::BotApiEmulator;
use kms_telegram::miniapp::TlsIdentity;

use crate::Step;

/// The demo's signer bot (a made-up token: the emulator is the only server that knows it).
const SIGNER_BOT_TOKEN: &str = "7000000001:AAE-demoSignerBot_0123456789abcdefghij";
const WAIT: Duration = Duration::from_secs(30);

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) struct Phone {
    emu: BotApiEmulator,
    bot: u64,
    config: PathBuf,
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

impl Phone {
    /// The emulator, the signer bot, Alice's chat with it, and the pool's `telegram.toml` in `dir`.
    pub(crate) fn start(dir: &Path, user: u64) -> Step<Self> {
        let emu = BotApiEmulator::start().map_err(err)?;
        let token = BotToken::parse(SIGNER_BOT_TOKEN).map_err(err)?;
        emu.add_bot(&token, "demo_signer_bot");
        emu.start_chat(
            token.bot_id(),
            User {
                id: user,
                is_bot: false,
                first_name: "Alice".into(),
                last_name: None,
                username: Some("alice".into()),
                language_code: Some("en".into()),
            },
        )
        .map_err(err)?;
        let p = |name: &str| dir.join(name);
        std::fs::write(p("signer-bot.token"), SIGNER_BOT_TOKEN).map_err(err)?;
        std::fs::write(p("bot-api-ca.pem"), emu.ca_pem()).map_err(err)?;
        let (cert, key) = TlsIdentity::self_signed_pem(&["127.0.0.1", "localhost"]).map_err(err)?;
        std::fs::write(p("miniapp.pem"), &cert).map_err(err)?;
        std::fs::write(p("miniapp.key"), key.as_bytes()).map_err(err)?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(err)?
            .port();
        let config = format!(
            "bot_token_file = {:?}\napi_base_url = {:?}\nca_bundle = {:?}\npoll_timeout_secs = 1\n\n\
             [miniapp]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"https://127.0.0.1:{port}\"\n\
             cert = {:?}\nkey = {:?}\n",
            p("signer-bot.token"),
            emu.base_url(),
            p("bot-api-ca.pem"),
            p("miniapp.pem"),
            p("miniapp.key"),
        );
        std::fs::write(p("telegram.toml"), config).map_err(err)?;
        Ok(Self {
            emu,
            bot: token.bot_id(),
            config: p("telegram.toml"),
        })
    }

    pub(crate) fn base_url(&self) -> String {
        self.emu.base_url()
    }

    pub(crate) fn config_path(&self) -> &Path {
        &self.config
    }

    fn chat(user: u64) -> i64 {
        i64::try_from(user).unwrap_or(i64::MAX)
    }

    fn messages(&self, user: u64) -> Vec<Message> {
        self.emu.messages(self.bot, Self::chat(user))
    }

    pub(crate) fn message_count(&self, user: u64) -> usize {
        self.messages(user).len()
    }

    fn wait(&self, user: u64, what: &str, f: impl Fn(&Message) -> bool) -> Step<Message> {
        self.emu
            .wait_for_message(self.bot, Self::chat(user), WAIT, f)
            .ok_or_else(|| format!("no {what} reached the user's chat"))
    }

    fn text_starting(&self, user: u64, prefix: &str) -> Step<String> {
        let m = self.wait(user, prefix, |m| {
            m.text.as_deref().is_some_and(|t| t.starts_with(prefix))
        })?;
        Ok(m.text.unwrap_or_default())
    }

    /// The seed phrase the signer bot showed once.
    pub(crate) fn seed_phrase(&self, user: u64) -> Step<Vec<String>> {
        let text = self.text_starting(user, "Your recovery phrase")?;
        let words: Vec<String> = text
            .lines()
            .filter_map(|l| l.trim_start().split_once(". "))
            .filter(|(n, _)| n.parse::<u8>().is_ok())
            .map(|(_, w)| w.to_owned())
            .collect();
        if words.len() != 24 {
            return Err(format!("the phrase has {} words", words.len()));
        }
        Ok(words)
    }

    /// Answers the three backup-quiz questions with the right words.
    pub(crate) fn quiz(&self, user: u64, words: &[String]) -> Step<Vec<String>> {
        let deadline = std::time::Instant::now() + WAIT;
        let quiz = loop {
            let q: Vec<Message> = self
                .messages(user)
                .into_iter()
                .filter(|m| {
                    m.reply_markup.is_some()
                        && m.text
                            .as_deref()
                            .is_some_and(|t| t.contains("Backup check"))
                })
                .collect();
            if q.len() >= 3 || std::time::Instant::now() > deadline {
                break q;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if quiz.len() != 3 {
            return Err(format!("{} quiz questions reached the chat", quiz.len()));
        }
        let mut lines = Vec::new();
        for q in quiz {
            let text = q.text.clone().unwrap_or_default();
            let position: usize = text
                .split("word #")
                .nth(1)
                .and_then(|s| s.split(' ').next())
                .and_then(|s| s.parse().ok())
                .ok_or("a quiz question without a word position")?;
            let right = words.get(position - 1).ok_or("position out of range")?;
            let id = self
                .emu
                .press_button(self.bot, Self::chat(user), q.message_id, right)
                .map_err(err)?;
            let answer = self.answer(&id)?;
            lines.push(format!(
                "quiz: word #{position}? Alice picked the right one → {answer:?}"
            ));
        }
        Ok(lines)
    }

    /// The TOTP enrollment: (otpauth URI, QR code as text).
    pub(crate) fn totp_enrollment(&self, user: u64) -> Step<(String, String)> {
        let m = self.wait(user, "TOTP enrollment", |m| {
            m.text.as_deref().is_some_and(|t| t.contains("otpauth://"))
        })?;
        let text = m.text.unwrap_or_default();
        let mut parts = text.split("\n\n");
        let _intro = parts.next();
        let uri = parts.next().ok_or("no URI")?.trim().to_owned();
        let qr = parts.collect::<Vec<_>>().join("\n\n");
        Ok((uri, qr))
    }

    /// The message showing `challenge` (its Mini App button names it).
    fn challenge_message(&self, user: u64, challenge: &str) -> Step<Message> {
        let needle = format!("c={challenge}");
        self.wait(user, "challenge", |m| {
            m.reply_markup
                .iter()
                .flat_map(|k| k.inline_keyboard.iter().flatten())
                .any(|b| b.web_app.as_ref().is_some_and(|w| w.url.contains(&needle)))
        })
    }

    /// The callback data (decision token) of button `label` of `challenge`.
    pub(crate) fn button_token(&self, user: u64, challenge: &str, label: &str) -> Step<String> {
        let m = self.challenge_message(user, challenge)?;
        m.reply_markup
            .iter()
            .flat_map(|k| k.inline_keyboard.iter().flatten())
            .find(|b| b.text == label)
            .and_then(|b| b.callback_data.clone())
            .ok_or_else(|| format!("no button {label:?}"))
    }

    fn answer(&self, id: &str) -> Step<String> {
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            if let Some(a) = self
                .emu
                .callback_answers(self.bot)
                .into_iter()
                .find(|a| a.callback_query_id == id)
            {
                return Ok(a.text.unwrap_or_default());
            }
            if std::time::Instant::now() > deadline {
                return Err("the signer bot never answered a button press".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Presses `label` on the message of `challenge`; returns the signer bot's answer.
    pub(crate) fn press(&self, user: u64, challenge: &str, label: &str) -> Step<String> {
        let m = self.challenge_message(user, challenge)?;
        let id = self
            .emu
            .press_button(self.bot, Self::chat(user), m.message_id, label)
            .map_err(err)?;
        self.answer(&id)
    }

    /// Types `code` in the chat as a reply to the message of `challenge` (the signer bot takes a
    /// code only so); returns the signer bot's reply.
    pub(crate) fn send_code(&self, user: u64, challenge: &str, code: &str) -> Step<String> {
        let m = self.challenge_message(user, challenge)?;
        let before = self.message_count(user);
        self.emu
            .send_reply(self.bot, user, m.message_id, code)
            .map_err(err)?;
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let reply = self
                .messages(user)
                .into_iter()
                .skip(before)
                .filter(|m| m.from.as_ref().is_some_and(|u| u.is_bot))
                .filter_map(|m| m.text)
                .find(|t| !t.starts_with("To approve request"));
            if let Some(t) = reply {
                return Ok(t.lines().next().unwrap_or_default().to_owned());
            }
            if std::time::Instant::now() > deadline {
                return Err("the signer bot never replied to a code".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The password of the backup just exported.
    pub(crate) fn backup_password(&self, user: u64) -> Step<String> {
        let text = self.text_starting(user, "The password of the backup")?;
        text.rsplit("\n\n")
            .next()
            .map(|p| p.trim().to_owned())
            .ok_or_else(|| "no password in the message".into())
    }
}

/// The TOTP secret of an `otpauth://` URI (its base32 `secret` parameter).
pub(crate) fn totp_secret(uri: &str) -> Step<kms_intent::TotpSecret> {
    let b32 = uri
        .split("secret=")
        .nth(1)
        .and_then(|s| s.split('&').next())
        .ok_or("no secret in the URI")?;
    let (mut bits, mut n, mut out) = (0u64, 0u32, Vec::new());
    for ch in b32.bytes() {
        let v = match ch {
            b'A'..=b'Z' => ch - b'A',
            b'2'..=b'7' => ch - b'2' + 26,
            b'=' => break,
            _ => return Err("the secret is not base32".into()),
        };
        bits = (bits << 5) | u64::from(v);
        n += 5;
        if n >= 8 {
            n -= 8;
            out.push(u8::try_from((bits >> n) & 0xff).unwrap_or(0));
        }
    }
    kms_intent::TotpSecret::from_bytes(&out).map_err(err)
}
