//! Spec test vectors: BIP39 (Trezor reference vectors) and SLIP-0010 ed25519 (both sets),
//! plus agreement with the independent `slip10` crate on random seeds and paths.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use std::str::FromStr;

use kms_core::{DerivationPath, Error, ExtendedKey, Mnemonic, SolanaPathScheme, WordCount};
use proptest::prelude::*;
use serde::Deserialize;

#[derive(Deserialize)]
struct Bip39File {
    passphrase: String,
    english: Vec<Bip39Vector>,
}

#[derive(Deserialize)]
struct Bip39Vector {
    entropy: String,
    mnemonic: String,
    seed: String,
}

fn bip39_vectors() -> Bip39File {
    serde_json::from_str(include_str!("data/bip39-trezor-vectors.json")).unwrap()
}

#[test]
fn bip39_trezor_vectors_all_pass() {
    let file = bip39_vectors();
    assert_eq!(file.passphrase, "TREZOR");
    assert_eq!(file.english.len(), 24);
    for v in &file.english {
        let entropy = hex::decode(&v.entropy).unwrap();
        let from_entropy = Mnemonic::from_entropy(&entropy).unwrap();
        assert_eq!(*from_entropy.phrase(), v.mnemonic, "entropy {}", v.entropy);
        let parsed = Mnemonic::parse(&v.mnemonic).unwrap();
        assert_eq!(*parsed.entropy(), entropy);
        assert_eq!(parsed, from_entropy);
        let seed = parsed.to_seed(&file.passphrase);
        assert_eq!(hex::encode(seed.expose_secret()), v.seed, "{}", v.mnemonic);
    }
}

#[test]
fn bip39_seed_matches_bip39_crate_without_passphrase_and_with_unicode_passphrase() {
    for v in bip39_vectors().english {
        let ours = Mnemonic::parse(&v.mnemonic).unwrap();
        let theirs = bip39::Mnemonic::parse(&v.mnemonic).unwrap();
        for pass in ["", "TREZOR", "pässwörd \u{212B}"] {
            assert_eq!(ours.to_seed(pass).expose_secret(), &theirs.to_seed(pass));
        }
    }
}

#[test]
fn mnemonic_errors_are_precise() {
    let valid = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about";
    assert!(Mnemonic::parse(valid).is_ok());
    assert!(Mnemonic::parse(&format!("  {}  ", valid.replace(' ', "   "))).is_ok());
    let unknown = valid.replacen("abandon", "abandonx", 1);
    assert_eq!(
        Mnemonic::parse(&unknown).unwrap_err(),
        Error::UnknownWord { position: 1 }
    );
    let mut words: Vec<&str> = valid.split(' ').collect();
    words[6] = "bitcoinz";
    assert_eq!(
        Mnemonic::parse(&words.join(" ")).unwrap_err(),
        Error::UnknownWord { position: 7 }
    );
    assert_eq!(
        Mnemonic::parse("abandon abandon about").unwrap_err(),
        Error::BadWordCount { count: 3 }
    );
    assert_eq!(
        Mnemonic::parse("").unwrap_err(),
        Error::BadWordCount { count: 0 }
    );
    let bad_checksum = valid.replace("about", "abandon");
    assert_eq!(
        Mnemonic::parse(&bad_checksum).unwrap_err(),
        Error::BadChecksum
    );
    // Upper case is not silently accepted (BIP39 words are lower case).
    assert_eq!(
        Mnemonic::parse(&valid.to_uppercase()).unwrap_err(),
        Error::UnknownWord { position: 1 }
    );
    // No error message echoes the phrase.
    for e in [
        Mnemonic::parse(&unknown).unwrap_err(),
        Mnemonic::parse(&bad_checksum).unwrap_err(),
    ] {
        assert!(!e.to_string().contains("abandon"), "{e}");
    }
}

#[test]
fn generated_mnemonics_have_the_right_length_and_are_random() {
    let a = Mnemonic::generate(WordCount::Twelve).unwrap();
    let b = Mnemonic::generate(WordCount::Twelve).unwrap();
    let c = Mnemonic::generate(WordCount::TwentyFour).unwrap();
    assert_eq!(a.word_count(), 12);
    assert_eq!(c.word_count(), 24);
    assert_ne!(a, b);
    assert_eq!(Mnemonic::parse(&a.phrase()).unwrap(), a);
    assert_eq!(Mnemonic::parse(&c.phrase()).unwrap(), c);
}

#[derive(Deserialize)]
struct SlipFile {
    vectors: Vec<SlipVector>,
}
#[derive(Deserialize)]
struct SlipVector {
    seed: String,
    chains: Vec<SlipChain>,
}
#[derive(Deserialize)]
struct SlipChain {
    path: String,
    chain_code: String,
    private: String,
    public: String,
}

#[test]
fn slip10_ed25519_spec_vectors_both_sets() {
    let file: SlipFile =
        serde_json::from_str(include_str!("data/slip10-ed25519-vectors.json")).unwrap();
    assert_eq!(file.vectors.len(), 2);
    let mut checked = 0;
    for v in &file.vectors {
        let seed = hex::decode(&v.seed).unwrap();
        for c in &v.chains {
            let path = DerivationPath::from_str(&c.path).unwrap();
            let node = ExtendedKey::derive(&seed, &path).unwrap();
            assert_eq!(hex::encode(node.expose_secret()), c.private, "{}", c.path);
            assert_eq!(
                hex::encode(node.expose_chain_code()),
                c.chain_code,
                "{}",
                c.path
            );
            let public = format!("00{}", hex::encode(node.signing_key().address().to_bytes()));
            assert_eq!(public, c.public, "{}", c.path);
            checked += 1;
        }
    }
    assert_eq!(checked, 12);
}

#[test]
fn solana_wallet_zero_of_the_abandon_phrase_is_the_published_address() {
    // Published by Phantom-compatible wallets and many test suites for `abandon ×11 about`,
    // no passphrase, m/44'/501'/0'/0'.
    let m = Mnemonic::parse(
        "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about",
    )
    .unwrap();
    let seed = m.to_seed("");
    let w0 = seed
        .solana_wallet(SolanaPathScheme::AccountChange, 0)
        .unwrap();
    assert_eq!(
        w0.address().to_string(),
        "HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk"
    );
    // The three families give three different keys, and match the explicit paths.
    let p = |s: &str| seed.derive(&DerivationPath::from_str(s).unwrap()).address();
    assert_eq!(p("m/44'/501'/0'/0'"), w0.address());
    let a1 = seed
        .solana_wallet(SolanaPathScheme::Account, 1)
        .unwrap()
        .address();
    assert_eq!(a1, p("m/44'/501'/1'"));
    let root = seed
        .solana_wallet(SolanaPathScheme::Root, 0)
        .unwrap()
        .address();
    assert_eq!(root, p("m/44'/501'"));
    assert_ne!(root, w0.address());
    assert!(seed.solana_wallet(SolanaPathScheme::Root, 1).is_err());
}

#[test]
fn derivation_path_parsing_is_strict() {
    let ok = |s: &str| DerivationPath::from_str(s).unwrap();
    assert_eq!(ok("m").depth(), 0);
    assert_eq!(ok("m/44'/501'/0'/0'").indices(), &[44, 501, 0, 0]);
    assert_eq!(ok("m/44h/501H/7'").indices(), &[44, 501, 7]);
    assert_eq!(ok("m/2147483647'").indices(), &[2_147_483_647]);
    assert_eq!(ok("m/44'/501'/3'/0'").to_string(), "m/44'/501'/3'/0'");

    let err = |s: &str| DerivationPath::from_str(s).unwrap_err();
    assert_eq!(
        err("m/44'/501'/0/0'"),
        Error::NonHardenedStep { step: 3, index: 0 }
    );
    assert_eq!(err("m/44"), Error::NonHardenedStep { step: 1, index: 44 });
    for bad in [
        "",
        "M/44'",
        "44'/501'",
        "m/",
        "m//1'",
        "m/1'/",
        "m/2147483648'",
        "m/99999999999'",
        "m/01'",
        "m/1''",
        "m/-1'",
        "m/1' ",
        " m/1'",
        "m/1'x",
        "m/１'",
    ] {
        assert!(
            matches!(
                err(bad),
                Error::InvalidPath { .. } | Error::NonHardenedStep { .. }
            ),
            "{bad:?} accepted"
        );
    }
    let deep = format!("m{}", "/1'".repeat(256));
    assert!(matches!(err(&deep), Error::InvalidPath { .. }));
    assert!(DerivationPath::from_str(&format!("m{}", "/1'".repeat(255))).is_ok());
}

/// SLIP-0010 ed25519 derivation written out from the specification, apart from kms-core's
/// implementation (checked against the specification's own vectors in
/// `reference_matches_the_slip10_vectors`): master `HMAC-SHA512("ed25519 seed", seed)`, then for
/// each hardened index `HMAC-SHA512(chain, 0x00 ‖ key ‖ be32(index | 2^31))`, left half the key,
/// right half the chain code. (It replaced the `slip10` crate, whose ed25519-dalek 1 and
/// curve25519-dalek 3 carry RUSTSEC-2022-0093 and RUSTSEC-2024-0344.)
fn reference(seed: &[u8], path: &[u32]) -> ([u8; 32], [u8; 32]) {
    use hmac::{Hmac, KeyInit as _, Mac as _};
    let split = |key: &[u8], data: &[u8]| {
        let mut mac = Hmac::<sha2::Sha512>::new_from_slice(key).unwrap();
        mac.update(data);
        let out = mac.finalize().into_bytes();
        let (mut k, mut c) = ([0u8; 32], [0u8; 32]);
        k.copy_from_slice(&out[..32]);
        c.copy_from_slice(&out[32..]);
        (k, c)
    };
    let (mut key, mut chain) = split(b"ed25519 seed", seed);
    for &i in path {
        let mut data = vec![0u8];
        data.extend_from_slice(&key);
        data.extend_from_slice(&(i | 0x8000_0000).to_be_bytes());
        (key, chain) = split(&chain, &data);
    }
    (key, chain)
}

/// The reference above reproduces SLIP-0010's published ed25519 test vector 1
/// (seed `000102…0f`, chain m/0'/1'/2'/2'/1000000000').
#[test]
fn reference_matches_the_slip10_vectors() {
    let seed = hex::decode("000102030405060708090a0b0c0d0e0f").unwrap();
    let cases: [(&[u32], &str, &str); 3] = [
        (
            &[],
            "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7",
            "90046a93de5380a72b5e45010748567d5ea02bbf6522f979e05c0d8d8ca9fffb",
        ),
        (
            &[0],
            "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3",
            "8b59aa11380b624e81507a27fedda59fea6d0b779a778918a2fd3590e16e9c69",
        ),
        (
            &[0, 1, 2, 2, 1_000_000_000],
            "8f94d394a8e8fd6b1bc2f3f49f5c47e385281d5c17e65324b0f62483e37e8793",
            "68789923a0cac2cd5a29172a475fe9e0fb14cd6adb5ad98a3fa70333e7afa230",
        ),
    ];
    for (path, key, chain) in cases {
        let (k, c) = reference(&seed, path);
        assert_eq!(hex::encode(k), key, "{path:?}");
        assert_eq!(hex::encode(c), chain, "{path:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn agrees_with_the_specification_written_out(
        seed in proptest::collection::vec(any::<u8>(), 16..=64),
        path in proptest::collection::vec(0u32..0x8000_0000, 0..8),
    ) {
        let ours = ExtendedKey::derive(&seed, &DerivationPath::from_hardened(&path).unwrap()).unwrap();
        let (key, chain) = reference(&seed, &path);
        prop_assert_eq!(ours.expose_secret(), &key);
        prop_assert_eq!(ours.expose_chain_code(), &chain);
    }

    #[test]
    fn path_display_round_trips(path in proptest::collection::vec(0u32..0x8000_0000, 0..10)) {
        let p = DerivationPath::from_hardened(&path).unwrap();
        prop_assert_eq!(DerivationPath::from_str(&p.to_string()).unwrap(), p);
    }

    #[test]
    fn path_parser_never_panics(s in "\\PC{0,40}") {
        let _ = DerivationPath::from_str(&s);
    }
}
