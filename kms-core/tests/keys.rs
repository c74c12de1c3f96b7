//! Legacy key import and export: the `solana-keygen` JSON array and base58 keypairs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use kms_core::{Address, Error, WalletKey};

fn sample() -> WalletKey {
    let mut bytes = [0u8; 64];
    let secret: [u8; 32] = core::array::from_fn(|i| i as u8 + 1);
    let sk = ed25519_dalek::SigningKey::from_bytes(&secret);
    bytes[..32].copy_from_slice(&secret);
    bytes[32..].copy_from_slice(sk.verifying_key().as_bytes());
    WalletKey::from_keypair_bytes(&bytes).unwrap()
}

#[test]
fn json_and_base58_round_trip() {
    let k = sample();
    let json = k.reveal_keypair_json();
    assert!(json.starts_with("[1,2,3,"));
    let back = WalletKey::from_keypair_json(&json).unwrap();
    assert_eq!(back.address(), k.address());
    let pretty = format!("[\n  {}\n]\n", json[1..json.len() - 1].replace(',', ", "));
    assert_eq!(
        WalletKey::from_keypair_json(&pretty).unwrap().address(),
        k.address()
    );
    let b58 = k.reveal_keypair_base58();
    assert_eq!(
        WalletKey::from_keypair_base58(&b58).unwrap().address(),
        k.address()
    );
    // Agrees with a plain base58 encoding of the 64 bytes.
    assert_eq!(
        *b58,
        bs58::encode(&k.reveal_keypair_bytes()[..]).into_string()
    );
}

#[test]
fn a_keypair_whose_halves_do_not_match_is_refused() {
    let k = sample();
    let mut bytes = *k.reveal_keypair_bytes();
    bytes[40] ^= 1;
    assert!(matches!(
        WalletKey::from_keypair_bytes(&bytes),
        Err(Error::InvalidKeypair(_))
    ));
    let json = format!(
        "[{}]",
        bytes
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(",")
    );
    assert!(matches!(
        WalletKey::from_keypair_json(&json),
        Err(Error::InvalidKeypair(_))
    ));
}

#[test]
fn malformed_json_is_refused_without_echoing_input() {
    let k = sample();
    let json = k.reveal_keypair_json();
    let cases = [
        String::new(),
        "[]".into(),
        json.replacen('[', "", 1),
        json.replacen(']', "", 1),
        format!("{}x", *json),
        json.replacen(",", ",,", 1),
        json.replacen("[1,", "[256,", 1),
        json.replacen("[1,", "[01,", 1),
        json.replacen("[1,", "[-1,", 1),
        json.replacen("[1,", "[1.0,", 1),
        json.replacen("]", ",1]", 1),
        json.replacen("[1,", "[", 1),
        "{\"a\":1}".into(),
    ];
    for c in &cases {
        let e = WalletKey::from_keypair_json(c).unwrap_err();
        assert!(matches!(e, Error::InvalidKeypair(_)), "{c}: {e}");
        assert!(!e.to_string().contains("2,3,4"));
    }
}

#[test]
fn malformed_base58_is_refused() {
    for bad in ["", "0OIl", "abc", &"1".repeat(200)] {
        assert!(WalletKey::from_keypair_base58(bad).is_err(), "{bad}");
    }
    let k = sample();
    let short = bs58::encode(&k.reveal_keypair_bytes()[..63]).into_string();
    assert!(matches!(
        WalletKey::from_keypair_base58(&short),
        Err(Error::InvalidBase58 { .. })
    ));
}

#[test]
fn addresses_parse_and_verify_strictly() {
    let k = sample();
    let a: Address = k.address().to_string().parse().unwrap();
    assert_eq!(a, k.address());
    let sig = k.sign(b"hello");
    assert!(a.verify(b"hello", &sig).unwrap());
    assert!(!a.verify(b"hellp", &sig).unwrap());
    assert!("not-base58!".parse::<Address>().is_err());
    assert!(
        "11111111111111111111111111111111"
            .parse::<Address>()
            .is_ok()
    );
    assert!(
        "1111111111111111111111111111111"
            .parse::<Address>()
            .is_err()
    ); // 31 zero bytes
}
