//! The HTTPS-pool process: the only process that talks to the user's chat. It receives the
//! signer's messages (descriptions, decision tokens, the seed phrase shown once, TOTP
//! enrollments, backup passwords) and delivers them through a [`Notifier`].
//!
//! Until the Telegram pool lands, the notifier is a file: every message is appended as one JSON
//! line to an inbox file (mode 0600) that the demo and the tests read as the user's phone. The
//! pool has no access to the signer's data directory.

use std::fs::{File, OpenOptions};
use std::io::{BufReader, Write};
use std::os::fd::RawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;

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
pub(crate) fn run(signer_fd: RawFd, inbox: &Path, data_dir: &Path) -> i32 {
    let signer = match crate::sys::adopt_socket(signer_fd) {
        Ok(fd) => UnixStream::from(fd),
        Err(e) => {
            eprintln!("kms pool: signer socket (fd {signer_fd}): {e}");
            return 1;
        }
    };
    let mut notifier = match FileNotifier::open(inbox) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("kms pool: inbox {}: {e}", inbox.display());
            return 1;
        }
    };
    // No file system from here on (the inbox is open): the pool cannot read the signer's data
    // directory, its key store or, in dev mode, the dev sealer's key file.
    match crate::sandbox::confine_without_files() {
        Ok(landlock) => {
            if let Err(e) = crate::sandbox::check_out_of_reach("pool", data_dir) {
                if landlock.enforcement != crate::sandbox::LandlockEnforcement::Off {
                    eprintln!("kms pool: {e}");
                    return 1;
                }
                eprintln!("kms pool: WARNING: {e} (no Landlock on this kernel)");
            }
        }
        Err(e) => {
            eprintln!("kms pool: sandbox: {e}");
            return 1;
        }
    }
    eprintln!("kms pool: ready (file notifier {})", inbox.display());
    let mut reader = BufReader::new(signer);
    let mut buf = Vec::new();
    loop {
        match read_frame(&mut reader, &mut buf) {
            Ok(true) => {}
            Ok(false) => return 0,
            Err(e) => {
                eprintln!("kms pool: signer link: {e}");
                return 1;
            }
        }
        let msg: Result<UserMessage, _> = serde_json::from_slice(&buf);
        zeroize::Zeroize::zeroize(&mut buf);
        match msg {
            Ok(msg) => {
                if let Err(e) = notifier.deliver(&msg) {
                    eprintln!("kms pool: delivering to user {}: {e}", msg.user());
                }
            }
            Err(_) => eprintln!("kms pool: the signer sent a frame that is not a user message"),
        }
    }
}
