//! The Telegram rig: a Bot API emulator over real TLS on 127.0.0.1, the signer bot registered in
//! it, a `kms dev --telegram` whose pool talks to it, and a headless Chromium driven over
//! WebDriver for the Mini App.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use kms_telegram::BotToken;
use kms_telegram::api::{Message, User};
use kms_telegram::emulator::BotApiEmulator;
use kms_telegram::miniapp::TlsIdentity;
use serde_json::{Value, json};

use crate::common::Kms;

/// The signer bot's token in the tests (its secret part is what must never show up anywhere).
pub const SIGNER_BOT_TOKEN: &str = "7000000001:AAE-signerBotSecretPart_0123456789abcd";
pub const SIGNER_BOT_SECRET: &str = "AAE-signerBotSecretPart_0123456789abcd";

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Rig {
    pub emu: BotApiEmulator,
    pub token: BotToken,
    pub kms: Kms,
    pub miniapp_url: String,
    pub miniapp_spki: String,
    dir: tempfile::TempDir,
}

impl Rig {
    /// The emulator, the signer bot, and `kms dev --telegram` with the Mini App on.
    pub fn start(users: &[u64]) -> Self {
        let emu = BotApiEmulator::start().unwrap();
        let token = BotToken::parse(SIGNER_BOT_TOKEN).unwrap();
        emu.add_bot(&token, "kms_signer_bot");
        for &u in users {
            emu.start_chat(token.bot_id(), user(u)).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name);
        std::fs::write(p("bot.token"), SIGNER_BOT_TOKEN).unwrap();
        std::fs::write(p("bot-api-ca.pem"), emu.ca_pem()).unwrap();
        let (cert, key) = TlsIdentity::self_signed_pem(&["127.0.0.1", "localhost"]).unwrap();
        std::fs::write(p("miniapp.pem"), &cert).unwrap();
        std::fs::write(p("miniapp.key"), key.as_bytes()).unwrap();
        let spki = TlsIdentity::from_pem(cert.as_bytes(), key.as_bytes())
            .unwrap()
            .leaf_spki_sha256()
            .unwrap();
        let port = free_port();
        let miniapp_url = format!("https://127.0.0.1:{port}");
        let config = format!(
            "bot_token_file = {token:?}\napi_base_url = {api:?}\nca_bundle = {ca:?}\n\
             max_in_flight = 4\npoll_timeout_secs = 1\n\n[miniapp]\nlisten = \"127.0.0.1:{port}\"\n\
             public_url = {url:?}\ncert = {cert:?}\nkey = {key:?}\ninit_data_max_age_secs = 600\n",
            token = p("bot.token"),
            api = emu.base_url(),
            ca = p("bot-api-ca.pem"),
            url = miniapp_url,
            cert = p("miniapp.pem"),
            key = p("miniapp.key"),
        );
        std::fs::write(p("telegram.toml"), config).unwrap();
        let cfg = p("telegram.toml");
        let kms = Kms::start_with(&["--telegram", cfg.to_str().unwrap()]);
        Self {
            emu,
            token,
            kms,
            miniapp_url,
            miniapp_spki: spki,
            dir,
        }
    }

    pub fn bot(&self) -> u64 {
        self.token.bot_id()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The chat message that shows challenge `id` (its Mini App button names it).
    pub fn challenge_message(&self, user: u64, id: &str) -> Message {
        let needle = format!("c={id}");
        self.emu
            .wait_for_message(self.bot(), chat(user), Duration::from_secs(20), |m| {
                buttons(m).iter().any(|(_, _, url)| url.contains(&needle))
            })
            .unwrap_or_else(|| {
                panic!(
                    "challenge {id} never reached chat {user}:\n{}",
                    self.kms.log_text()
                )
            })
    }

    /// Waits until `f` holds for the (edited) message `message_id`.
    pub fn wait_message(
        &self,
        user: u64,
        message_id: i64,
        f: impl Fn(&Message) -> bool,
    ) -> Message {
        self.emu
            .wait_for_message(self.bot(), chat(user), Duration::from_secs(20), |m| {
                m.message_id == message_id && f(m)
            })
            .unwrap_or_else(|| panic!("message {message_id} never changed as expected"))
    }

    /// The answer text of callback query `id`, once the pool answered it.
    pub fn callback_answer(&self, id: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(a) = self
                .emu
                .callback_answers(self.bot())
                .into_iter()
                .find(|a| a.callback_query_id == id)
            {
                return a.text.unwrap_or_default();
            }
            assert!(Instant::now() < deadline, "callback {id} never answered");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Every message in the user's chat.
    pub fn messages(&self, user: u64) -> Vec<Message> {
        self.emu.messages(self.bot(), chat(user))
    }
}

pub fn user(id: u64) -> User {
    User {
        id,
        is_bot: false,
        first_name: format!("User{id}"),
        last_name: None,
        username: Some(format!("user{id}")),
        language_code: Some("en".into()),
    }
}

pub fn chat(user: u64) -> i64 {
    i64::try_from(user).unwrap()
}

/// (label, callback data, web-app URL) of every button of a message.
pub fn buttons(m: &Message) -> Vec<(String, String, String)> {
    m.reply_markup
        .iter()
        .flat_map(|k| k.inline_keyboard.iter().flatten())
        .map(|b| {
            (
                b.text.clone(),
                b.callback_data.clone().unwrap_or_default(),
                b.web_app
                    .as_ref()
                    .map(|w| w.url.clone())
                    .unwrap_or_default(),
            )
        })
        .collect()
}

/// The callback data of the button labelled `label`.
pub fn button_data(m: &Message, label: &str) -> String {
    buttons(m)
        .into_iter()
        .find(|(l, _, _)| l == label)
        .map(|(_, d, _)| d)
        .unwrap_or_else(|| panic!("no button {label:?} in message {}", m.message_id))
}

// ------------------------------------------------------------------------------- WebDriver

/// A headless Chromium behind chromedriver, spoken to over the W3C WebDriver protocol.
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless Chromium session that trusts
    /// exactly the certificate whose SubjectPublicKeyInfo hashes to `spki` (no blanket
    /// certificate bypass).
    pub fn start(spki: &str) -> Self {
        let port = free_port();
        let driver = Command::new(which("chromedriver"))
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver) is installed by scripts/deps.sh");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while http(&base, "GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": which("chromium").to_str().unwrap(),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=720,1000",
                         "--no-first-run", "--disable-extensions",
                         format!("--ignore-certificate-errors-spki-list={spki}")],
            }
        }}});
        let v = http(&base, "POST", "/session", Some(caps)).unwrap();
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {v}"))
            .to_string();
        Self {
            driver,
            base,
            session,
        }
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let p = format!("/session/{}{path}", self.session);
        http(&self.base, method, &p, body).unwrap()["value"].clone()
    }

    /// Loads `url` afresh (through a blank page, so a URL that differs only in its fragment
    /// still loads the page again).
    pub fn goto(&self, url: &str) {
        self.cmd("POST", "/url", Some(json!({ "url": "about:blank" })));
        self.cmd("POST", "/url", Some(json!({ "url": url })));
    }

    /// Runs `script` in the page and returns its value.
    pub fn eval(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// The text of the element `id` ("" while it does not exist).
    pub fn text(&self, id: &str) -> String {
        self.eval(&format!(
            "const e = document.getElementById({id:?}); return e && !e.hidden ? e.textContent : '';"
        ))
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Waits until element `id`'s text contains `needle`; returns the text.
    pub fn wait_text(&self, id: &str, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let t = self.text(id);
            if t.contains(needle) {
                return t;
            }
            assert!(
                Instant::now() < deadline,
                "#{id} never showed {needle:?}; it shows {t:?}; status: {:?}",
                self.text("status")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Clicks the element `id` the way a user does (WebDriver element click).
    pub fn click(&self, id: &str) {
        let found = self.cmd(
            "POST",
            "/element",
            Some(json!({ "using": "css selector", "value": format!("#{id}") })),
        );
        let element = found
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element #{id}: {found}"))
            .to_string();
        self.cmd(
            "POST",
            &format!("/element/{element}/click"),
            Some(json!({})),
        );
    }

    /// A PNG screenshot of the page, written to `path`.
    pub fn screenshot(&self, path: &Path) {
        let b64 = self.cmd("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(path, png).unwrap();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http(
            &self.base,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn which(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    PathBuf::from(name)
}

/// One plain-HTTP JSON request to chromedriver on loopback.
fn http(base: &str, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
    let url = format!("{base}{path}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into();
    let resp = match (method, body) {
        ("GET", _) => agent.get(&url).call(),
        ("DELETE", _) => agent.delete(&url).call(),
        (_, body) => agent
            .post(&url)
            .header("content-type", "application/json")
            .send(body.unwrap_or(json!({})).to_string()),
    };
    let mut resp = resp.map_err(|e| e.to_string())?;
    let text = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| e.to_string())?;
    serde_json::from_str(&text).map_err(|e| format!("{e}: {text}"))
}

/// Where test artefacts (screenshots) go: `target/test-artifacts/`.
pub fn artifact(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/test-artifacts")
        .join(name)
}
