//! Real transactions and messages from public peers (tests/data/real, origin in the README there).
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    reason = "test helpers outside #[test] fns"
)]

use std::fs;
use std::path::PathBuf;

use base64::Engine as _;
use kms_solana::solana::{
    same_message, same_transaction, solana_decode_message, solana_decode_transaction,
    verify_transaction,
};
use kms_solana::{Error, parse_message, parse_transaction, read_compact_u16};
use serde_json::Value;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/real")
}

fn load(name_prefix: &str) -> (Value, Vec<u8>) {
    let dir = data_dir();
    let path = fs::read_dir(&dir)
        .expect("data dir")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(name_prefix))
        })
        .expect("vector present");
    let v: Value = serde_json::from_slice(&fs::read(&path).expect("read")).expect("json");
    let bytes = decode(&v);
    (v, bytes)
}

fn decode(v: &Value) -> Vec<u8> {
    let data = v["data"].as_str().unwrap_or("");
    match v["encoding"].as_str() {
        Some("hex") => hex::decode(data).expect("hex"),
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("base64"),
        Some("base58") => bs58::decode(data).into_vec().expect("base58"),
        other => panic!("unknown encoding {other:?}"),
    }
}

const ITEMS: &[&str] = &[
    "01", "02", "03", "04", "05", "06", "07", "08", "11", "12", "13", "14", "19",
];

#[test]
fn every_real_vector_parses_and_agrees_with_solana() {
    for id in ITEMS {
        let (v, bytes) = load(id);
        match v["kind"].as_str() {
            Some("transaction") => {
                let ours = parse_transaction(&bytes).unwrap_or_else(|e| panic!("{id}: {e}"));
                let theirs = solana_decode_transaction(&bytes).expect("solana accepts");
                assert!(same_transaction(&ours, &theirs), "{id}");
                // Every signed item's signature verifies with Solana's verifier.
                verify_transaction(&theirs).unwrap_or_else(|e| panic!("{id}: {e}"));
                if let Some(sig) = v["expected_signature"].as_str() {
                    assert_eq!(
                        bs58::encode(ours.signatures()[0]).into_string(),
                        sig,
                        "{id}"
                    );
                }
                // The same bytes are not a valid bare message.
                assert!(parse_message(&bytes).is_err(), "{id}");
            }
            Some("message") => {
                let ours = parse_message(&bytes).unwrap_or_else(|e| panic!("{id}: {e}"));
                let theirs = solana_decode_message(&bytes).expect("solana accepts");
                assert!(same_message(&ours, &theirs), "{id}");
            }
            other => panic!("{id}: unexpected kind {other:?}"),
        }
        // Every program the vector lists is a static key (as the corpus's check.py requires).
        let progs: Vec<String> = {
            let m = match v["kind"].as_str() {
                Some("transaction") => *parse_transaction(&bytes).expect("ok").message(),
                _ => parse_message(&bytes).expect("ok"),
            };
            m.account_keys()
                .iter()
                .map(|k| bs58::encode(k).into_string())
                .collect()
        };
        for p in v["programs"].as_array().expect("programs") {
            assert!(
                progs.iter().any(|x| x == p.as_str().expect("str")),
                "{id}: {p}"
            );
        }
    }
}

#[test]
fn compact_u16_cases_from_the_solana_sdk() {
    let (v, _) = (load_cases(), ());
    let cases = v["cases"].as_array().expect("cases");
    assert_eq!(cases.len(), 24);
    for c in cases {
        let b = hex::decode(c["bytes_hex"].as_str().expect("hex")).expect("hex");
        let got = read_compact_u16(&b);
        match (c["expect"].as_str(), c["form"].as_str()) {
            (Some("accept"), _) => {
                let want = c["value"].as_u64().expect("value");
                assert_eq!(got, Ok((want as u16, b.len())), "{c}");
            }
            (Some("reject"), Some("shortvec_u8")) => {
                // A length-1 vector whose length is an alias: the length itself is rejected.
                assert!(
                    matches!(got, Err(Error::NonCanonicalLength { offset: 0, .. })),
                    "{c}"
                );
            }
            (Some("reject"), _) => {
                // Rejected outright, or accepted only as a prefix (the rest would be trailing).
                match got {
                    Err(_) => {}
                    Ok((_, used)) => panic!("{c}: accepted using {used} bytes"),
                }
            }
            other => panic!("unexpected case {other:?}"),
        }
    }
}

fn load_cases() -> Value {
    let p = data_dir().join("23-invalid-shortu16-aliases-from-solana-sdk.json");
    serde_json::from_slice(&fs::read(p).expect("read")).expect("json")
}

#[test]
fn version_1_prefix_is_rejected_with_its_offset() {
    let (_, bytes) = load("24");
    assert_eq!(
        parse_message(&bytes),
        Err(Error::UnsupportedVersion {
            offset: 0,
            version: 1
        })
    );
    assert!(solana_decode_message(&bytes).is_err());
}

/// A real mainnet transaction in the v1 format of SIMD-0385 (October 2026, 1,350 bytes): the
/// format is live, and this parser refuses it by name, as a transaction and as a message, before
/// any size check.
#[test]
fn a_real_mainnet_v1_transaction_is_refused_by_name() {
    let (v, bytes) = load("25");
    assert_eq!(v["version"], 1);
    assert_eq!((bytes[0], bytes.len()), (0x81, 1350));
    let refused = Err(Error::UnsupportedVersion {
        offset: 0,
        version: 1,
    });
    assert_eq!(parse_transaction(&bytes).map(drop), refused);
    assert_eq!(parse_message(&bytes).map(drop), refused);
    let text = parse_message(&bytes).unwrap_err().to_string();
    assert!(text.contains("SIMD-0385"), "{text}");
}

/// Each real vector's description equals its reviewed golden file (tests/data/expected/NN.txt),
/// and contains what the peer's own test asserts.
#[test]
fn every_real_vector_has_its_expected_description() {
    use kms_solana::describe::{DescribeContext, describe_message};
    let asserted: &[(&str, &[&str])] = &[
        (
            "01",
            &[
                "transfer 2.078 SOL",
                "to AxmUF3qkdz1zs151Q5WttVMkFpFGQPwghZs4d1mwY55d",
            ],
        ),
        ("02", &["0.000000042 SOL"]),
        (
            "03",
            &[
                "compute unit limit to 43981 units",
                "16 micro-lamports",
                "(6 lamports)",
            ],
        ),
        (
            "04",
            &[
                "create the associated token account 2xwcwf6ZW7Kp4gWA5crnNHLX6AA34QQUXZKs3YQpF1h8",
                "0.000000042 (42 raw units, 9 decimals)",
            ],
        ),
        (
            "05",
            &[
                "0.000002 (2 raw units, 6 decimals) of mint JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN",
                "3GJzvStsiYZonWE7WTsmt1BpWXkfcgWMGinaDwNs9HBc (signer)",
            ],
        ),
        (
            "06",
            &[
                "(49 lamports) from 2KW2XRd9kwqet15Aha2oK3tYvd3nWbTFH1MBiRAv1BE1 to J3dxNj7nDRRqRRXuEMynDG57DkZK4jYRuv3Garmb1i99",
            ],
        ),
        (
            "07",
            &[
                "Unknown program 8qbHhEFXg9MHXPBKjZ5fjBikz8noyZowwxfV9cPgHG5: 2 accounts, 3 bytes of data",
            ],
        ),
        (
            "08",
            &[
                "0.000005 SOL",
                "from A7dxsCbMy5ktZwQUgsQhVxsoJpx6wPAZYEcccQVjWnkE to 2vCzt15qsXSCsf5k6t6QF9DiQSpE7kPTg3PdvFZtm2Tr",
            ],
        ),
        (
            "11",
            &[
                "memo \"HelloSolanaMemo\"",
                "0.01 SOL",
                "CuieVDEDtLo7FypA9SbLM9saXFdb1dsshEkyErMqkRQq, tFpP7tZUt6zb7YZPpQ11kXNmsc5YzpMXmahGMvCHhqS",
            ],
        ),
        ("12", &["compute unit limit to 1000 units", "0.00016 SOL"]),
        (
            "13",
            &[
                "20 micro-lamports",
                "94JfTH8qCeBQDBatvULREG43msjSQscT7oHnqx7jppX of wallet 7HP8cENhoDxS7yT6UHyT3mVwvN5rv6gMrzwRXXWFJvDU",
            ],
        ),
        (
            "14",
            &[
                "0.01 (10000 raw units, 6 decimals) of mint Es9vMFrzaCERmJfrF4H2FYD4KCoNkY11McCe8BenwNYB",
                "0.0002 SOL",
            ],
        ),
        (
            "19",
            &[
                "1000 raw units in, at least 47 raw units out",
                "pool 58oQChx4yWmvKdwLLZzBi4ChoCc2fqCUWBkwMihLYQo2",
                "GXY2UQk7PjFc2ysUZcsUx6rBGjnUU5vLogytvmcWdn4U to 8MggzbzD2QbG3MsHLpN8DVXX5zr2iQJGJdSgJd2eP2cK",
            ],
        ),
    ];
    for (id, must) in asserted {
        let (v, bytes) = load(id);
        let m = match v["kind"].as_str() {
            Some("transaction") => *parse_transaction(&bytes).unwrap().message(),
            _ => parse_message(&bytes).unwrap(),
        };
        let text = describe_message(&m, &DescribeContext::new()).to_string();
        let golden = fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("tests/data/expected/{id}.txt")),
        )
        .unwrap();
        assert_eq!(text, golden, "{id}");
        for s in *must {
            assert!(text.contains(s), "{id}: missing {s:?} in\n{text}");
        }
        // One line per instruction, never fewer.
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("  ")
                    && l.trim_start()
                        .chars()
                        .next()
                        .is_some_and(|c| c.is_ascii_digit()))
                .count(),
            m.num_instructions(),
            "{id}"
        );
    }
}

/// The example's input handling: base58 and base64 are auto-detected for transactions and bare
/// messages; anything else is a typed error. The JSON view names every account.
#[test]
fn text_input_is_auto_detected_and_bad_text_is_refused() {
    use kms_solana::text::{Kind, decode_transaction_text, message_json, transaction_json};
    for id in ITEMS {
        let (v, bytes) = load(id);
        let kind = if v["kind"] == "transaction" {
            Kind::Transaction
        } else {
            Kind::Message
        };
        let b58 = bs58::encode(&bytes).into_string();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        assert_eq!(
            decode_transaction_text(&b58).unwrap(),
            (bytes.clone(), kind),
            "{id} base58"
        );
        assert_eq!(
            decode_transaction_text(&b64).unwrap(),
            (bytes.clone(), kind),
            "{id} base64"
        );
        let j = match kind {
            Kind::Transaction => transaction_json(&parse_transaction(&bytes).unwrap()),
            Kind::Message => message_json(&parse_message(&bytes).unwrap()),
        };
        let s = j.to_string();
        assert!(s.contains("\"program_id\""), "{id}");
    }
    assert!(matches!(
        decode_transaction_text("not a transaction!"),
        Err(Error::InvalidEncoding { .. })
    ));
    assert!(matches!(
        decode_transaction_text("  "),
        Err(Error::InvalidEncoding { .. })
    ));
    // Valid base64 of bytes that are no transaction: the parse error, with its offset.
    let e = decode_transaction_text("AQID").unwrap_err();
    assert!(e.offset().is_some(), "{e}");
}

#[test]
fn well_known_names_match_their_addresses() {
    use kms_solana::programs::*;
    let mut buf = [0u8; 44];
    for a in [
        SYSTEM_PROGRAM,
        TOKEN_PROGRAM,
        TOKEN_2022_PROGRAM,
        ASSOCIATED_TOKEN_PROGRAM,
        COMPUTE_BUDGET_PROGRAM,
        MEMO_PROGRAM,
        MEMO_V1_PROGRAM,
        RAYDIUM_AMM_V4_PROGRAM,
        PUMP_FUN_PROGRAM,
        JUPITER_V6_PROGRAM,
        SYSVAR_RENT,
        NATIVE_MINT,
    ] {
        let fast = address_to_base58(&a, &mut buf).to_owned();
        assert_eq!(fast, bs58::encode(a).into_string());
        assert_eq!(address_from_base58(&fast), Some(a));
    }
    // The fast encoder agrees with the bs58 crate on many pseudo-random keys.
    let mut x = [0u8; 32];
    for i in 0..5000u32 {
        for (j, b) in x.iter_mut().enumerate() {
            *b = (i.wrapping_mul(2_654_435_761).rotate_left(j as u32 * 3) >> 5) as u8;
        }
        if i % 7 == 0 {
            x[..(i as usize % 5)].fill(0);
        }
        assert_eq!(
            address_to_base58(&x, &mut buf),
            bs58::encode(x).into_string()
        );
    }
}
