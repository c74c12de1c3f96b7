//! Crashes (the SIGKILL-under-load test is `promises.rs` `nothing_acknowledged_is_lost`): a
//! standing intent's reserved uses never let it exceed its limit across a crash;
//! an audit log that cannot be written makes the signer refuse.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use kms_client::proto::IntentProposal;
use kms_client::{Bytes, ClientError, ErrorKind, Request, Response, WalletRef};

const DEST: [u8; 32] = [9; 32];

#[test]
fn an_intent_never_exceeds_its_uses_across_a_crash() {
    let kms = Kms::start();
    let mut c = kms.client();
    let addr = create_user(&mut c, 55);
    let params = sol_params(b58(&addr), DEST, 1_000);
    let p = pending(c.call(&Request::CreateIntent(IntentProposal {
        user: 55,
        wallet: WalletRef::Derived(0),
        module: "sol-withdraw".into(),
        params: Bytes(params.clone()),
        per_transaction_limit: 1_000,
        cumulative_limit: 1_000_000,
        max_uses: 40,
        valid_until: unix_now() + 3600,
    })));
    let token = kms.challenge(&p.challenge).token("Approve intent");
    assert!(matches!(
        decide(&mut c, 55, &token).unwrap(),
        Response::IntentCreated { .. }
    ));
    let mut signed = 0;
    for i in 0..5 {
        match c
            .call(&sign_request(
                55,
                transfer_message(b58(&addr), DEST, i),
                params.clone(),
            ))
            .unwrap()
        {
            Response::Signed { .. } => signed += 1,
            other => panic!("{other:?}"),
        }
    }
    // Reserved uses are not shown as used.
    match c.call(&Request::ListIntents { user: 55 }).unwrap() {
        Response::Intents { intents } => assert_eq!(intents[0].uses, 5, "{}", kms.log_text()),
        other => panic!("{other:?}"),
    }
    kill_signer(&kms);
    kms.wait_ready();
    let mut c = kms.client();
    for i in 5..100 {
        match c
            .call(&sign_request(
                55,
                transfer_message(b58(&addr), DEST, i),
                params.clone(),
            ))
            .unwrap()
        {
            Response::Signed { .. } => signed += 1,
            Response::Pending(_) => break,
            other => panic!("{other:?}"),
        }
    }
    // Uses reserved by the killed signer are lost, never reused: at most 40 signatures in all.
    assert!(
        signed < 40,
        "{signed} signatures: the killed signer's reserved uses were reused"
    );
    assert!(signed >= 30, "a crash lost too many uses: {signed} of 40");
}

/// A tmpfs of its own (root only, as CI runs), so the test can fill the disk under the signer.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .unwrap()
            .success();
        assert!(
            ok,
            "mounting a tmpfs failed: this test needs root (CI runs as root)"
        );
        Tmpfs(dir)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn an_unwritable_audit_log_makes_the_signer_refuse() {
    let fs = Tmpfs::mount("24m");
    let state = fs.0.path().join("state");
    let mut kms = Kms::start_in(&state);
    let mut c = kms.client();
    let addr = create_user(&mut c, 1);
    // Fill the file system.
    {
        use std::io::Write;
        let mut f = std::fs::File::create(fs.0.path().join("fill")).unwrap();
        let chunk = vec![0u8; 1 << 16];
        while f.write_all(&chunk).is_ok() {}
        let _ = f.write_all(&[0u8; 512]);
    }
    let mut refused = None;
    for user in 2..200u64 {
        match c.call(&Request::CreateUser { user }) {
            Err(ClientError::Remote(e)) if e.kind == ErrorKind::AuditUnavailable => {
                refused = Some(user);
                break;
            }
            _ => {}
        }
    }
    let user = refused.expect("the signer never refused for want of its audit log");
    // Refused means not done.
    assert_eq!(
        kind(c.call(&Request::ListWallets { user })),
        ErrorKind::UnknownUser
    );
    // And no signature goes out unrecorded.
    let r = c.call(&sign_request(
        1,
        transfer_message(b58(&addr), DEST, 1),
        sol_params(b58(&addr), DEST, 1),
    ));
    assert!(r.is_err(), "{r:?}");
    kms.stop();
}

#[test]
fn a_lost_master_blob_is_never_replaced_by_a_new_key() {
    let mut kms = Kms::start();
    create_user(&mut kms.client(), 3);
    kms.stop();
    std::fs::remove_file(kms.data_dir().join("master.blob")).unwrap();
    let text = run_dev_until(&kms.root, "refusing to create a new master key");
    assert!(
        text.contains("refusing to create a new master key"),
        "{text}"
    );
    assert!(
        !kms.data_dir().join("master.blob").exists(),
        "a new master key was sealed"
    );
}

#[test]
fn an_open_challenge_survives_a_signer_crash() {
    let kms = Kms::start();
    let mut c = kms.client();
    let addr = create_user(&mut c, 8);
    let msg = transfer_message(b58(&addr), DEST, 31);
    let p = pending(c.call(&sign_request(
        8,
        msg.clone(),
        sol_params(b58(&addr), DEST, 100),
    )));
    let token = kms.challenge(&p.challenge).token("Approve");
    kill_signer(&kms);
    kms.wait_ready();
    assert!(
        kms.log_text().contains("open challenge(s) restored"),
        "{}",
        kms.log_text()
    );
    // The user's tap after the restart still signs exactly what was approved.
    match decide(&mut kms.client(), 8, &token).unwrap() {
        Response::Signed { signature, .. } => assert!(verifies(&addr, &msg, &signature)),
        other => panic!("{other:?}"),
    }
}
