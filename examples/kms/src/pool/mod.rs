//! The HTTPS-pool process: the only process that talks to the user's chat. It receives the
//! signer's messages (descriptions, decision tokens, the seed phrase shown once, TOTP
//! enrollments, backup passwords) and delivers them.
//!
//! Two deliveries: with a `[telegram]` section, the Telegram signer bot ([`telegram`]: Bot API
//! over TLS, button presses back to the signer, the authorization Mini App); without one, a file
//! notifier that appends every message as one JSON line to an inbox file (mode 0600) that tests
//! read as the user's phone. Either way the pool confines itself to no file system (the files it
//! needs are read before) and checks that the signer's data directory is out of its reach.

mod telegram;

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Write};
use std::os::fd::RawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::config::Config;

use kms_client::frame::read_frame;
use kms_client::pool::UserMessage;
use serde::Serialize;
use zeroize::Zeroizing;

/// Where the pool delivers messages.
pub(crate) trait Notifier {
    /// Delivers one message to its user.
    fn deliver(&mut self, msg: &UserMessage) -> std::io::Result<()>;
}

/// The file notifier: one JSON line per message, `{"time":T,"message":{...}}`.
pub(crate) struct FileNotifier {
    file: File,
}

impl FileNotifier {
    /// Opens (creating, mode 0600) the inbox for appending.
    pub(crate) fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        Ok(Self { file })
    }
}

#[derive(Serialize)]
struct Line<'a> {
    time: u64,
    message: &'a UserMessage,
}

impl Notifier for FileNotifier {
    fn deliver(&mut self, msg: &UserMessage) -> std::io::Result<()> {
        let mut line = Zeroizing::new(
            serde_json::to_vec(&Line {
                time: crate::util::now(),
                message: msg,
            })
            .map_err(std::io::Error::other)?,
        );
        line.push(b'\n');
        self.file.write_all(&line)
    }
}

/// Runs the pool until the signer link closes. Returns the exit code.
pub(crate) fn run(signer_fd: RawFd, cfg: &Config) -> i32 {
    let signer = match crate::sys::adopt_socket(signer_fd) {
        Ok(fd) => UnixStream::from(fd),
        Err(e) => {
            eprintln!("kms pool: signer socket (fd {signer_fd}): {e}");
            return 1;
        }
    };
    let result = match &cfg.telegram {
        Some(tg) => run_telegram(signer, tg, &cfg.data_dir),
        None => run_file(signer, &cfg.inbox(), &cfg.data_dir),
    };
    result.unwrap_or_else(|e| {
        eprintln!("kms pool: {e}");
        1
    })
}

/// Confines the process to no file system but `read_only`, then checks that the signer's data
/// directory is out of reach (fatal where Landlock is enforced).
fn confine(data_dir: &Path, read_only: &[&Path]) -> Result<(), String> {
    let landlock =
        crate::sandbox::confine_without_files(read_only).map_err(|e| format!("sandbox: {e}"))?;
    if let Err(e) = crate::sandbox::check_out_of_reach("pool", data_dir) {
        if landlock.enforcement != crate::sandbox::LandlockEnforcement::Off {
            return Err(e);
        }
        eprintln!("kms pool: WARNING: {e} (no Landlock on this kernel)");
    }
    Ok(())
}

fn run_file(signer: UnixStream, inbox: &Path, data_dir: &Path) -> Result<i32, String> {
    let mut notifier =
        FileNotifier::open(inbox).map_err(|e| format!("inbox {}: {e}", inbox.display()))?;
    // No file system from here on (the inbox is open): the pool cannot read the signer's data
    // directory, its key store or, in dev mode, the dev sealer's key file.
    confine(data_dir, &[])?;
    eprintln!("kms pool: ready (file notifier {})", inbox.display());
    read_signer_messages(signer, |msg| match msg {
        // Decision answers are for a pool that carries decisions; the file notifier does not.
        UserMessage::DecideAnswer { .. } => {}
        msg => {
            if let Err(e) = notifier.deliver(&msg) {
                eprintln!("kms pool: delivering to user {}: {e}", msg.user());
            }
        }
    })
}

/// Reads the signer's frames until the link closes and hands each user message to `handle`
/// (frame buffers wiped after decoding: they carry tokens and seed words). `Ok(0)` when the
/// signer closed the link.
fn read_signer_messages(
    signer: UnixStream,
    mut handle: impl FnMut(UserMessage),
) -> Result<i32, String> {
    let mut reader = BufReader::new(signer);
    let mut buf = Vec::new();
    loop {
        match read_frame(&mut reader, &mut buf) {
            Ok(true) => {}
            Ok(false) => return Ok(0),
            Err(e) => return Err(format!("signer link: {e}")),
        }
        let msg: Result<UserMessage, _> = serde_json::from_slice(&buf);
        zeroize::Zeroize::zeroize(&mut buf);
        match msg {
            Ok(msg) => handle(msg),
            Err(_) => eprintln!("kms pool: the signer sent a frame that is not a user message"),
        }
    }
}

/// Files the resolver reads to look up the Bot API host (glibc 2.34+ has its `files` and `dns`
/// NSS modules built in, so no library is loaded at lookup time).
const RESOLVER_FILES: [&str; 5] = [
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/host.conf",
];

/// How the pool repeats a Bot API request: a challenge that is not delivered cannot be approved,
/// so it keeps trying through bursts of flood control and server errors for up to two minutes
/// (12 attempts, full-jitter backoff from 200 ms doubling to 5 s, `retry_after` up to 60 s).
const DELIVERY_RETRY: kms_telegram::RetryPolicy = kms_telegram::RetryPolicy {
    max_attempts: 12,
    base_delay: std::time::Duration::from_millis(200),
    max_delay: std::time::Duration::from_secs(5),
    deadline: std::time::Duration::from_secs(120),
    max_retry_after: std::time::Duration::from_secs(60),
};

fn run_telegram(
    signer: UnixStream,
    tg: &crate::config::TelegramConfig,
    data_dir: &Path,
) -> Result<i32, String> {
    use kms_telegram::miniapp::{MiniAppServer, TlsIdentity};
    use kms_telegram::{BotClient, BotToken};

    let token_text = Zeroizing::new(
        std::fs::read_to_string(&tg.bot_token_file)
            .map_err(|e| format!("bot token file {}: {e}", tg.bot_token_file.display()))?,
    );
    let token = BotToken::parse(token_text.trim())
        .map_err(|e| format!("bot token file {}: {e}", tg.bot_token_file.display()))?;
    drop(token_text);
    let ca = match &tg.ca_bundle {
        Some(ca) => {
            Some(std::fs::read(ca).map_err(|e| format!("CA bundle {}: {e}", ca.display()))?)
        }
        None => None,
    };
    let client = |limit: Option<usize>| {
        let mut b = BotClient::builder(token.clone())
            .base_url(tg.api_base_url.clone())
            .timeout(std::time::Duration::from_secs(30))
            .retry(DELIVERY_RETRY);
        if let Some(n) = limit {
            b = b.max_in_flight(n);
        }
        if let Some(pem) = &ca {
            b = b.ca_pem(pem);
        }
        b.build().map_err(|e| format!("Bot API client: {e}"))
    };
    // The senders share `max_in_flight` request slots; the update poller has a client of its own
    // so that a long poll never holds one of them.
    let (client, poller) = (client(Some(tg.max_in_flight))?, client(None)?);
    let miniapp = match &tg.miniapp {
        Some(m) => {
            let cert = std::fs::read(&m.cert)
                .map_err(|e| format!("mini-app certificate {}: {e}", m.cert.display()))?;
            let key = Zeroizing::new(
                std::fs::read(&m.key)
                    .map_err(|e| format!("mini-app key {}: {e}", m.key.display()))?,
            );
            let identity = TlsIdentity::from_pem(&cert, &key).map_err(|e| e.to_string())?;
            let listener = std::net::TcpListener::bind(m.listen)
                .map_err(|e| format!("mini-app listen {}: {e}", m.listen))?;
            Some((
                identity,
                listener,
                m.public_url.clone(),
                m.init_data_max_age_secs,
            ))
        }
        None => None,
    };
    let resolver: Vec<&Path> = RESOLVER_FILES.iter().map(Path::new).collect();
    confine(data_dir, &resolver)?;

    let setup = telegram::TelegramSetup {
        client,
        poller,
        token,
        poll_timeout_secs: tg.poll_timeout_secs,
        senders: tg.max_in_flight,
        miniapp_url: miniapp.as_ref().map(|m| m.2.clone()),
        init_data_max_age: std::time::Duration::from_secs(miniapp.as_ref().map_or(3600, |m| m.3)),
    };
    let reader = signer
        .try_clone()
        .map_err(|e| format!("signer socket: {e}"))?;
    let pool = telegram::start(setup, signer)?;
    let _server = match miniapp {
        Some((identity, listener, url, _)) => {
            let server = MiniAppServer::start(listener, identity, pool.clone(), 2)
                .map_err(|e| format!("mini-app server: {e}"))?;
            eprintln!(
                "kms pool: mini-app on https://{} (public URL {url})",
                server.local_addr()
            );
            Some(server)
        }
        None => None,
    };
    eprintln!("kms pool: ready (Telegram Bot API at {})", tg.api_base_url);
    read_signer_messages(reader, |msg| pool.on_signer_message(msg))
}
