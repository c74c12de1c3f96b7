//! The command-line tools: results on stdout, clear errors on stderr, exit code 2 on bad input.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::{Command, Output};

use common::KMS;

fn kms(args: &[&str]) -> Output {
    Command::new(KMS).args(args).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The web3.js wire-format vector: 49 lamports (kms-solana/tests/data/real/06-*.json).
fn web3js() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../kms-solana/tests/data/real/06-web3js-wire-transfer-49-lamports.json"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["data"].as_str().unwrap().to_string()
}

#[test]
fn describe_a_real_transaction_and_refuse_garbage() {
    let o = kms(&["describe", &web3js()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("49 lamports"), "{text}");
    assert!(
        text.contains("2KW2XRd9kwqet15Aha2oK3tYvd3nWbTFH1MBiRAv1BE1"),
        "{text}"
    );
    for bad in ["not a transaction", "AAAA", ""] {
        let o = kms(&["describe", bad]);
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", stdout(&o));
        assert!(stderr(&o).contains("kms:"), "{}", stderr(&o));
    }
    assert_eq!(kms(&["describe"]).status.code(), Some(2));
    assert_eq!(kms(&["no-such-command"]).status.code(), Some(2));
}

#[test]
fn derive_matches_the_library_and_refuses_bad_phrases() {
    let words = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    let o = kms(&["derive", "--mnemonic", words, "--count", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let seed = kms_core::Mnemonic::parse(words).unwrap().to_seed("");
    for i in 0..2 {
        let want = seed
            .solana_wallet(kms_core::SolanaPathScheme::AccountChange, i)
            .unwrap()
            .address()
            .to_string();
        assert!(stdout(&o).contains(&want), "{}", stdout(&o));
    }
    let o = kms(&["derive", "--mnemonic", "abandon abandon wrongword"]);
    assert_eq!(o.status.code(), Some(2));
    // The error names the problem, never echoes the phrase.
    assert!(!stderr(&o).contains("wrongword abandon"), "{}", stderr(&o));
    assert_eq!(
        kms(&["derive", "--mnemonic", words, "--count", "0"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn modules_list_hash_and_verify() {
    let o = kms(&["modules", "list"]);
    assert!(o.status.success());
    for name in [
        "sol-withdraw",
        "token-withdraw",
        "raydium-v4-swap",
        "pumpfun-trade",
        "pumpswap-trade",
        "jupiter-v6-route",
    ] {
        assert!(stdout(&o).contains(name), "{}", stdout(&o));
    }
    let wasm = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../kms-constraints/modules/dist/sol-withdraw.wasm"
    );
    let o = kms(&["modules", "hash", wasm]);
    assert!(
        stdout(&o).starts_with("e4fcae0a0790b5446349c92bee47281cc737c9bc3c46bee84d4ec58c84f39fd3")
    );

    let from = "2KW2XRd9kwqet15Aha2oK3tYvd3nWbTFH1MBiRAv1BE1";
    let to = "J3dxNj7nDRRqRRXuEMynDG57DkZK4jYRuv3Garmb1i99";
    let params = |max: u64| {
        format!(
            r#"{{"user":"{from}","max_cu_limit":200000,"max_cu_price":10000,"destination":"{to}","max_lamports":{max}}}"#
        )
    };
    let o = kms(&[
        "modules",
        "verify",
        &web3js(),
        "--module",
        "sol-withdraw",
        "--params",
        &params(49),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("ACCEPT"));
    let o = kms(&[
        "modules",
        "verify",
        &web3js(),
        "--module",
        "sol-withdraw",
        "--params",
        &params(48),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("REFUSED"), "{}", stderr(&o));
    let o = kms(&[
        "modules",
        "verify",
        &web3js(),
        "--module",
        "sol-withdraw",
        "--params",
        "{\"nope\":1}",
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = kms(&[
        "modules",
        "verify",
        &web3js(),
        "--module",
        "no-such-module",
        "--params",
        "{}",
    ]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn backup_and_audit_tools_refuse_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"this is not a backup").unwrap();
    let o = kms(&[
        "backup",
        "open",
        junk.to_str().unwrap(),
        "--password-file",
        "/dev/null",
    ]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = kms(&[
        "audit",
        "verify",
        dir.path().join("missing").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let o = kms(&["audit", "verify", junk.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("BROKEN"), "{}", stdout(&o));
}
