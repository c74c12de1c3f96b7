//! The attested master-key hand-over between instances over NATS: two real software TPMs
//! (swtpm on 127.0.0.1) and a real `nats-server -js`. A joiner whose TPM reports the allowed
//! boot state gets the master key from the running sponsor, seals it to its own TPM and signs
//! for a user the sponsor created; a joiner with other PCR values gets nothing, and both logs
//! say why.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "common/nats.rs"]
mod nats;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use kms_client::{Client, Request, Response};
use kms_tpm::swtpm::Swtpm;
use kms_tpm::{PcrSelection, Tpm, ek_fingerprint_hex};
use nats::NatsServer;

const DEST: [u8; 32] = [9; 32];

/// Boots `tpm` (extends PCRs 4, 7 and 11 as a measured boot of `image` would) and returns its
/// PCR state in `[join] allowed_pcrs` form and its EK fingerprint.
fn boot(tpm: &Swtpm, image: &[u8]) -> (String, String) {
    let mut t = Tpm::open(&tpm.tcti()).unwrap();
    t.extend_pcr(4, image).unwrap();
    t.extend_pcr(7, b"secure boot: kms release key").unwrap();
    t.extend_pcr(11, b"kernel+initrd+cmdline").unwrap();
    let values = t.read_pcrs(PcrSelection::measured_boot()).unwrap();
    let state = values
        .iter()
        .map(|(pcr, v)| format!("{pcr}={}", hex::encode(v)))
        .collect::<Vec<_>>()
        .join(",");
    let fp = ek_fingerprint_hex(&t.endorsement_key_public().unwrap());
    (state, fp)
}

struct Instance {
    root: PathBuf,
    child: Child,
}

impl Instance {
    fn start(root: &Path, tpm: &Swtpm, nats: &NatsServer, name: &str, join: &str) -> Self {
        std::fs::create_dir_all(root).unwrap();
        let cfg = root.join("kms.toml");
        std::fs::write(
            &cfg,
            format!(
                "data_dir = {:?}\nkey_source = \"tpm\"\nsocket = {:?}\nsocket_mode = \"0600\"\nbus = {:?}\n\n[tpm]\ntcti = {:?}\npcrs = \"sha256:4,7,11\"\n\n[notifier]\ninbox = {:?}\n\n[supervisor]\nrestart_backoff_ms = 2000\n\n[nats]\ninstance = {name:?}\n\n[join]\n{join}",
                root.join("signer"),
                root.join("bus.sock"),
                nats.url(),
                tpm.tcti(),
                root.join("user-inbox.jsonl"),
            ),
        )
        .unwrap();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.join("kms.log"))
            .unwrap();
        let child = Command::new(KMS)
            .args(["up", "--config"])
            .arg(&cfg)
            .env("TSS2_LOG", "all+none")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Self {
            root: root.to_path_buf(),
            child,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.root.join("kms.log")).unwrap_or_default()
    }

    fn client(&self, within: Duration) -> Option<Client> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(mut c) = Client::connect(self.root.join("bus.sock")) {
                c.set_timeout(Some(Duration::from_secs(30))).unwrap();
                if matches!(c.call(&Request::Ping), Ok(Response::Pong)) {
                    return Some(c);
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    fn inbox_token(&self, challenge: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let inbox =
                std::fs::read_to_string(self.root.join("user-inbox.jsonl")).unwrap_or_default();
            if let Some(m) = inbox
                .lines()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .map(|v| v["message"].clone())
                .find(|m| m["challenge"] == challenge)
            {
                return m["buttons"][0]["token"].as_str().unwrap().to_string();
            }
            assert!(
                Instant::now() < deadline,
                "challenge never reached the user"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn stop(mut self) {
        let pid = rustix::process::Pid::from_child(&self.child);
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        let _ = self.child.wait();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_joiner_gets_the_master_key_only_from_an_attested_sponsor_in_an_allowed_state() {
    let nats = NatsServer::start();
    let (tpm_a, tpm_b, tpm_c) = (
        Swtpm::start().unwrap(),
        Swtpm::start().unwrap(),
        Swtpm::start().unwrap(),
    );
    let (good, fp_a) = boot(&tpm_a, b"kms image v1");
    let (good_b, fp_b) = boot(&tpm_b, b"kms image v1");
    assert_eq!(good, good_b, "same image, same PCR values");
    let (other, fp_c) = boot(&tpm_c, b"kms image v1 + an attacker's kernel module");
    assert_ne!(good, other);
    let root = tempfile::tempdir().unwrap();

    // The sponsor: genesis on its TPM, then it hands the key to attested joiners.
    let sponsor = Instance::start(
        &root.path().join("a"),
        &tpm_a,
        &nats,
        "sponsor-a",
        &format!("sponsor = true\nallowed_pcrs = [{good:?}]\ntrusted_eks = [{fp_b:?}, {fp_c:?}]\n"),
    );
    let mut ca = sponsor
        .client(Duration::from_secs(90))
        .unwrap_or_else(|| panic!("{}", sponsor.log()));
    let addr = create_user(&mut ca, 11);
    let joiner_cfg = format!("join = true\nallowed_pcrs = [{good:?}]\ntrusted_eks = [{fp_a:?}]\n");

    // A joiner in the allowed state: it gets the key and signs for the sponsor's user.
    let b = Instance::start(&root.path().join("b"), &tpm_b, &nats, "b", &joiner_cfg);
    let mut cb = b
        .client(Duration::from_secs(90))
        .unwrap_or_else(|| panic!("{}\n--- sponsor ---\n{}", b.log(), sponsor.log()));
    assert!(
        b.log()
            .contains("the master key came from the attested sponsor sponsor-a"),
        "{}",
        b.log()
    );
    assert!(sponsor.log().contains("handed over to an attested joiner"));
    let blob = std::fs::read(root.path().join("b/signer/master.blob")).unwrap();
    assert!(!blob.starts_with(b"KMSDEVSB"), "a TPM blob");
    let msg = transfer_message(b58(&addr), DEST, 5);
    let p = pending(cb.call(&sign_request(
        11,
        msg.clone(),
        sol_params(b58(&addr), DEST, 5),
    )));
    let token = b.inbox_token(&p.challenge);
    match decide(&mut cb, 11, &token).unwrap() {
        Response::Signed { signature, .. } => assert!(verifies(&addr, &msg, &signature)),
        other => panic!("{other:?}"),
    }
    // Restarted, it unseals its own blob (no second hand-over).
    b.stop();
    let b = Instance::start(&root.path().join("b"), &tpm_b, &nats, "b", &joiner_cfg);
    assert!(b.client(Duration::from_secs(90)).is_some(), "{}", b.log());
    assert_eq!(
        b.log().matches("came from the attested sponsor").count(),
        1,
        "{}",
        b.log()
    );

    // A joiner whose TPM reports another boot state: it gets nothing; both logs say why.
    let c = Instance::start(&root.path().join("c"), &tpm_c, &nats, "c", &joiner_cfg);
    assert!(c.client(Duration::from_secs(10)).is_none(), "{}", c.log());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !c.log().contains("refused") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log_c = c.log();
    assert!(
        log_c.contains("sponsor sponsor-a refused") && log_c.contains("PCR"),
        "{log_c}"
    );
    assert!(!root.path().join("c/signer/master.blob").exists());
    assert!(!root.path().join("c/signer/keys.redb").exists());
    assert!(
        sponsor.log().contains("refused a joiner") && sponsor.log().contains("PCR"),
        "{}",
        sponsor.log()
    );
}
