//! `kms up` with the master key sealed to a real software TPM (swtpm on 127.0.0.1): genesis
//! seals it, a restart unseals it, and a changed boot state (an extended PCR) keeps the signer
//! from ever starting.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use kms_client::{Client, Request, Response};
use kms_tpm::swtpm::Swtpm;

const DEST: [u8; 32] = [9; 32];

struct Up {
    child: std::process::Child,
    log: std::path::PathBuf,
}

impl Up {
    fn start(config: &std::path::Path, log: &std::path::Path) -> Self {
        let out = std::fs::File::create(log).unwrap();
        let child = Command::new(KMS)
            .args(["up", "--config"])
            .arg(config)
            .env("TSS2_LOG", "all+none")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        Up {
            child,
            log: log.to_path_buf(),
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn stop(mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
        assert!(self.child.wait().unwrap().success(), "{}", self.log());
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ready(socket: &std::path::Path, within: Duration) -> Option<Client> {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(mut c) = Client::connect(socket)
            && matches!(c.call(&Request::Ping), Ok(Response::Pong))
        {
            return Some(c);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn master_key_sealed_to_a_tpm_survives_restarts_and_not_a_changed_boot_state() {
    let tpm = Swtpm::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("signer");
    let socket = dir.path().join("bus.sock");
    let config = dir.path().join("kms.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\nkey_source = \"tpm\"\nsocket = {:?}\nsocket_mode = \"0600\"\n\n[tpm]\ntcti = {:?}\npcrs = \"sha256:4,7,11\"\n\n[notifier]\ninbox = {:?}\n",
            data.display().to_string(),
            socket.display().to_string(),
            tpm.tcti(),
            dir.path().join("user-inbox.jsonl").display().to_string()
        ),
    )
    .unwrap();
    let up = Up::start(&config, &dir.path().join("1.log"));
    let mut c = ready(&socket, Duration::from_secs(60)).unwrap_or_else(|| panic!("{}", up.log()));
    let addr = create_user(&mut c, 11);
    assert!(up.log().contains("genesis"), "{}", up.log());
    assert!(!up.log().contains("InsecureDevSealer"), "{}", up.log());
    up.stop();
    // The sealed blob is a TPM blob, not the dev sealer's.
    let blob = std::fs::read(data.join("master.blob")).unwrap();
    assert!(!blob.starts_with(b"KMSDEVSB"));

    // Restart: the master key is unsealed from the TPM and the user's key still signs.
    let up = Up::start(&config, &dir.path().join("2.log"));
    let mut c = ready(&socket, Duration::from_secs(60)).unwrap_or_else(|| panic!("{}", up.log()));
    assert!(!up.log().contains("genesis"));
    let msg = transfer_message(b58(&addr), DEST, 5);
    let p = pending(c.call(&sign_request(
        11,
        msg.clone(),
        sol_params(b58(&addr), DEST, 5),
    )));
    // The pool delivers the challenge asynchronously: wait for it in the inbox.
    let deadline = Instant::now() + Duration::from_secs(20);
    let token = loop {
        let inbox =
            std::fs::read_to_string(dir.path().join("user-inbox.jsonl")).unwrap_or_default();
        let found = inbox
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .map(|v| v["message"].clone())
            .find(|m| m["challenge"] == p.challenge.as_str());
        if let Some(m) = found {
            break m["buttons"][0]["token"].as_str().unwrap().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "the challenge never reached the inbox"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    match decide(&mut c, 11, &token).unwrap() {
        Response::Signed { signature, .. } => assert!(verifies(&addr, &msg, &signature)),
        other => panic!("{other:?}"),
    }
    up.stop();

    // Another boot state: PCR 11 extended. The signer cannot unseal and never serves.
    kms_tpm::Tpm::open(&tpm.tcti())
        .unwrap()
        .extend_pcr(11, b"another kernel")
        .unwrap();
    let up = Up::start(&config, &dir.path().join("3.log"));
    assert!(
        ready(&socket, Duration::from_secs(3)).is_none(),
        "served after a boot-state change"
    );
    let log = up.log();
    assert!(log.contains("unsealing the master key"), "{log}");
    drop(up);
}
