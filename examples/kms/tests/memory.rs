//! Keys live in the signer's memory only while it signs: a scan of the running signer's memory
//! (`/proc/<pid>/mem`, as root) between requests finds neither the master key nor the user's
//! seed nor a wallet's private key.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{Read, Seek, SeekFrom};

use common::*;
use kms_client::Response;
use kms_tpm::Sealer as _;

const DEST: [u8; 32] = [9; 32];

/// Every readable region of `pid` that contains `needle`, as "start-end path".
fn find_in_memory(pid: u32, needle: &[u8]) -> Vec<String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    let mut hits = Vec::new();
    for line in maps.lines() {
        let mut parts = line.split_whitespace();
        let range = parts.next().unwrap();
        let perms = parts.next().unwrap();
        let path = line.split_whitespace().nth(5).unwrap_or("");
        if !perms.starts_with('r') || path == "[vvar]" || path == "[vsyscall]" {
            continue;
        }
        let (a, b) = range.split_once('-').unwrap();
        let (a, b) = (
            u64::from_str_radix(a, 16).unwrap(),
            u64::from_str_radix(b, 16).unwrap(),
        );
        let mut buf = vec![0u8; (b - a) as usize];
        if mem.seek(SeekFrom::Start(a)).is_err() || mem.read_exact(&mut buf).is_err() {
            continue;
        }
        if buf.windows(needle.len()).any(|w| w == needle) {
            hits.push(format!("{range} {perms} {path}"));
        }
    }
    hits
}

#[test]
fn no_key_in_the_signers_memory_between_requests() {
    let kms = Kms::start();
    let mut c = kms.client();
    let addr = create_user(&mut c, 4242);
    // Sign a few times (challenge path) so keys have been decrypted and used.
    for i in 0..3 {
        let msg = transfer_message(b58(&addr), DEST, 100 + i);
        let p = pending(c.call(&sign_request(
            4242,
            msg,
            sol_params(b58(&addr), DEST, 1_000),
        )));
        let token = kms.challenge(&p.challenge).token("Approve");
        assert!(matches!(
            decide(&mut c, 4242, &token).unwrap(),
            Response::Signed { .. }
        ));
    }
    // What an attacker would look for. The master key: unsealed here with the dev sealer's key
    // file (which is why dev mode is insecure).
    let data = kms.data_dir();
    let mut sealer = kms_tpm::InsecureDevSealer::with_warning_sink(
        &data.join("dev-sealer.key"),
        Box::new(|_| {}),
    )
    .unwrap();
    let master = sealer
        .unseal(&std::fs::read(data.join("master.blob")).unwrap())
        .unwrap();
    // The user's seed and wallet 0's private key, from the phrase shown once in chat.
    let words: Vec<String> = kms.last_message(4242, "seed_phrase")["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_string())
        .collect();
    let phrase = kms_core::Mnemonic::parse(&words.join(" ")).unwrap();
    let seed = phrase.to_seed("");
    let wallet = seed
        .solana_wallet(kms_core::SolanaPathScheme::AccountChange, 0)
        .unwrap();
    assert_eq!(wallet.address().to_string(), addr);
    let wallet_secret = wallet.reveal_keypair_bytes();

    let pid = kms.signer_pid();
    // The scan can find things: the wallet's public key is in the signer's memory.
    assert!(
        !find_in_memory(pid, &b58(&addr)).is_empty(),
        "the scan reads nothing"
    );
    for (what, needle) in [
        ("the master key", master.expose_secret()),
        ("the user's seed", seed.expose_secret().as_slice()),
        ("wallet 0's private key", &wallet_secret[..32]),
    ] {
        let hits = find_in_memory(pid, needle);
        assert!(
            hits.is_empty(),
            "{what} is in the signer's memory at {hits:?}"
        );
    }
}
