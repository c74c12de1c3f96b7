//! Sealed records: round trips, sign-once, rotation, and the attacks that must fail.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use kms_core::{
    Error, KeyStore, MasterKey, MemoryStore, Mnemonic, OpenedRecord, RecordKind, RecordLocation,
    SealedRecord, SolanaPathScheme, UserId, WalletKey, address, rotate_master_key, sign,
};

const PHRASE: &str = "legal winner thank year wave sausage worth useful legal winner thank yellow";

fn loc(user: &str, kind: RecordKind, id: u32) -> RecordLocation {
    RecordLocation::new(UserId::new(user).unwrap(), kind, id)
}

fn seed_record(master: &MasterKey, at: &RecordLocation) -> SealedRecord {
    let m = Mnemonic::parse(PHRASE).unwrap();
    SealedRecord::seal_mnemonic(master, at, &m, "", SolanaPathScheme::AccountChange).unwrap()
}

fn imported(i: u8) -> WalletKey {
    let secret = zeroize::Zeroizing::new([i; 32]);
    WalletKey::from_secret(&secret)
}

#[test]
fn seed_record_round_trip_and_sign_once() {
    let master = MasterKey::generate(7).unwrap();
    let at = loc("tg:1", RecordKind::Seed, 0);
    let rec = seed_record(&master, &at);
    assert_eq!(rec.epoch(), 7);
    assert_eq!(rec.kind(), RecordKind::Seed);
    let seed = Mnemonic::parse(PHRASE).unwrap().to_seed("");
    for i in [0, 1, 5, 1000] {
        let expected = seed
            .solana_wallet(SolanaPathScheme::AccountChange, i)
            .unwrap();
        let msg = format!("message {i}");
        let sig = sign(&rec, &master, &at, i, msg.as_bytes()).unwrap();
        assert_eq!(address(&rec, &master, &at, i).unwrap(), expected.address());
        // Strict verification, as the Solana runtime does.
        let vk = ed25519_dalek::VerifyingKey::from_bytes(&expected.address().to_bytes()).unwrap();
        vk.verify_strict(msg.as_bytes(), &sig).unwrap();
    }
    match rec.open(&master, &at).unwrap() {
        OpenedRecord::Seed(s) => {
            assert_eq!(*s.mnemonic.unwrap().phrase(), PHRASE);
            assert!(!s.has_passphrase);
            assert_eq!(s.scheme, SolanaPathScheme::AccountChange);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn passphrase_and_scheme_are_kept() {
    let master = MasterKey::generate(1).unwrap();
    let at = loc("tg:1", RecordKind::Seed, 0);
    let m = Mnemonic::parse(PHRASE).unwrap();
    let rec =
        SealedRecord::seal_mnemonic(&master, &at, &m, "extra", SolanaPathScheme::Account).unwrap();
    let expected = m
        .to_seed("extra")
        .solana_wallet(SolanaPathScheme::Account, 3)
        .unwrap();
    assert_eq!(address(&rec, &master, &at, 3).unwrap(), expected.address());
    let OpenedRecord::Seed(s) = rec.open(&master, &at).unwrap() else {
        panic!()
    };
    assert!(s.has_passphrase);
}

#[test]
fn imported_key_record_round_trip() {
    let master = MasterKey::generate(1).unwrap();
    let at = loc("tg:1", RecordKind::ImportedKey, 4);
    let key = imported(9);
    let rec = SealedRecord::seal_key(&master, &at, &key).unwrap();
    let sig = sign(&rec, &master, &at, 0, b"m").unwrap();
    assert!(key.address().verify(b"m", &sig).unwrap());
    assert!(matches!(
        sign(&rec, &master, &at, 1, b"m"),
        Err(Error::InvalidPath { .. })
    ));
}

#[test]
fn sealing_to_a_location_of_another_kind_is_refused() {
    let master = MasterKey::generate(1).unwrap();
    let at = loc("tg:1", RecordKind::ImportedKey, 0);
    let m = Mnemonic::parse(PHRASE).unwrap();
    assert!(matches!(
        SealedRecord::seal_mnemonic(&master, &at, &m, "", SolanaPathScheme::AccountChange),
        Err(Error::WrongRecordKind { .. })
    ));
}

#[test]
fn attack_record_copied_from_user_a_to_user_b_does_not_open() {
    let master = MasterKey::generate(1).unwrap();
    let store = MemoryStore::new();
    let a = loc("tg:alice", RecordKind::Seed, 0);
    let b = loc("tg:bob", RecordKind::Seed, 0);
    store.create(&a, &seed_record(&master, &a)).unwrap();
    // The attacker owns the database: copies Alice's record into Bob's slot.
    let stolen = store.get(&a).unwrap().unwrap();
    store.create(&b, &stolen).unwrap();
    let at_b = store.get(&b).unwrap().unwrap();
    assert_eq!(
        sign(&at_b, &master, &b, 0, b"drain").unwrap_err(),
        Error::DecryptionFailed
    );
    assert_eq!(at_b.open(&master, &b).unwrap_err(), Error::DecryptionFailed);
    // Same for a user id that is a prefix/extension of another.
    let a2 = loc("tg:alice2", RecordKind::Seed, 0);
    assert_eq!(
        sign(&stolen, &master, &a2, 0, b"x").unwrap_err(),
        Error::DecryptionFailed
    );
}

#[test]
fn attack_record_of_wallet_3_stored_under_wallet_0_does_not_open() {
    let master = MasterKey::generate(1).unwrap();
    let store = MemoryStore::new();
    let k3 = loc("tg:1", RecordKind::ImportedKey, 3);
    let k0 = loc("tg:1", RecordKind::ImportedKey, 0);
    store
        .create(
            &k3,
            &SealedRecord::seal_key(&master, &k3, &imported(3)).unwrap(),
        )
        .unwrap();
    store
        .create(
            &k0,
            &SealedRecord::seal_key(&master, &k0, &imported(0)).unwrap(),
        )
        .unwrap();
    // Swap: put record 3 where record 0 was.
    let r3 = store.get(&k3).unwrap().unwrap();
    let r0 = store.get(&k0).unwrap().unwrap();
    store.compare_and_swap(&k0, &r0, &r3).unwrap();
    let moved = store.get(&k0).unwrap().unwrap();
    assert_eq!(
        sign(&moved, &master, &k0, 0, b"x").unwrap_err(),
        Error::DecryptionFailed
    );
    // Seed slots are bound the same way, and so is the kind.
    let s3 = loc("tg:1", RecordKind::Seed, 3);
    let s0 = loc("tg:1", RecordKind::Seed, 0);
    let seed3 = seed_record(&master, &s3);
    assert_eq!(
        seed3.open(&master, &s0).unwrap_err(),
        Error::DecryptionFailed
    );
    let as_key = loc("tg:1", RecordKind::ImportedKey, 3);
    assert_eq!(
        seed3.open(&master, &as_key).unwrap_err(),
        Error::DecryptionFailed
    );
}

#[test]
fn attack_another_master_key_does_not_open() {
    let master = MasterKey::generate(1).unwrap();
    let other = MasterKey::generate(1).unwrap();
    let at = loc("tg:1", RecordKind::Seed, 0);
    let rec = seed_record(&master, &at);
    assert_eq!(rec.open(&other, &at).unwrap_err(), Error::DecryptionFailed);
    let other_epoch = MasterKey::generate(2).unwrap();
    assert_eq!(
        rec.open(&other_epoch, &at).unwrap_err(),
        Error::EpochMismatch { record: 1, key: 2 }
    );
}

#[test]
fn attack_database_edited_byte_by_byte_never_yields_a_different_valid_key() {
    let master = MasterKey::generate(1).unwrap();
    let at = loc("tg:1", RecordKind::Seed, 0);
    let rec = seed_record(&master, &at);
    let bytes = rec.as_bytes().to_vec();
    let mut opened_ok = 0;
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            let Ok(r) = SealedRecord::from_bytes(&b) else {
                continue;
            };
            match r.open(&master, &at) {
                Err(Error::DecryptionFailed | Error::EpochMismatch { .. }) => {}
                Ok(_) => opened_ok += 1,
                Err(e) => panic!("byte {i}: unexpected error {e}"),
            }
        }
    }
    assert_eq!(opened_ok, 0, "a modified record opened");
    // Truncations and extensions never open either.
    for len in 0..bytes.len() {
        if let Ok(r) = SealedRecord::from_bytes(&bytes[..len]) {
            assert!(r.open(&master, &at).is_err());
        }
    }
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(
        SealedRecord::from_bytes(&longer)
            .unwrap()
            .open(&master, &at)
            .unwrap_err(),
        Error::DecryptionFailed
    );
}

#[test]
fn malformed_record_bytes_get_typed_errors() {
    assert!(matches!(
        SealedRecord::from_bytes(b""),
        Err(Error::MalformedRecord(_))
    ));
    assert!(matches!(
        SealedRecord::from_bytes(b"XXXX\x01"),
        Err(Error::MalformedRecord(_))
    ));
    assert_eq!(
        SealedRecord::from_bytes(b"KMSR\x02rest").unwrap_err(),
        Error::UnsupportedRecordVersion(2)
    );
    let mut big = b"KMSR\x01\x01".to_vec();
    big.resize(5000, 0);
    assert!(matches!(
        SealedRecord::from_bytes(&big),
        Err(Error::MalformedRecord(_))
    ));
    let mut unknown_kind = b"KMSR\x01\x09".to_vec();
    unknown_kind.resize(80, 0);
    assert!(matches!(
        SealedRecord::from_bytes(&unknown_kind),
        Err(Error::MalformedRecord(_))
    ));
}

#[test]
fn master_key_rotation_is_resumable_and_loses_nothing() {
    let old = MasterKey::generate(1).unwrap();
    let new = MasterKey::generate(2).unwrap();
    let store = MemoryStore::new();
    let mut locs = Vec::new();
    for u in 0..20 {
        let at = loc(&format!("tg:{u}"), RecordKind::Seed, 0);
        store.create(&at, &seed_record(&old, &at)).unwrap();
        let k = loc(&format!("tg:{u}"), RecordKind::ImportedKey, 1);
        store
            .create(
                &k,
                &SealedRecord::seal_key(&old, &k, &imported(u as u8)).unwrap(),
            )
            .unwrap();
        locs.push(at);
        locs.push(k);
    }
    let before: Vec<_> = locs
        .iter()
        .map(|at| address(&store.get(at).unwrap().unwrap(), &old, at, 0).unwrap())
        .collect();
    // Simulate an interrupted pass: move only the first 7 records by hand.
    for (at, rec) in store.scan(None, 7).unwrap() {
        let moved = rec.reseal(&old, &new, &at).unwrap();
        store.compare_and_swap(&at, &rec, &moved).unwrap();
    }
    let p = rotate_master_key(&store, &old, &new, 4).unwrap();
    assert_eq!(p.resealed, 33);
    assert_eq!(p.already_current, 7);
    assert_eq!(p.conflicts, 0);
    let again = rotate_master_key(&store, &old, &new, 4).unwrap();
    assert_eq!(again.resealed, 0);
    assert_eq!(again.already_current, 40);
    for (at, addr) in locs.iter().zip(before) {
        let rec = store.get(at).unwrap().unwrap();
        assert_eq!(rec.epoch(), 2);
        assert_eq!(address(&rec, &new, at, 0).unwrap(), addr);
        assert!(rec.open(&old, at).is_err());
    }
}

#[test]
fn no_secret_appears_in_debug_output() {
    let m = Mnemonic::parse(PHRASE).unwrap();
    let seed = m.to_seed("");
    let master = MasterKey::generate(1).unwrap();
    let at = loc("tg:1", RecordKind::Seed, 0);
    let rec = seed_record(&master, &at);
    let opened = rec.open(&master, &at).unwrap();
    let wallet = seed
        .solana_wallet(SolanaPathScheme::AccountChange, 0)
        .unwrap();
    let node = kms_core::ExtendedKey::derive(seed.expose_secret(), &"m/44'/501'".parse().unwrap())
        .unwrap();
    let kp = wallet.reveal_keypair_bytes();

    let debug = [
        format!("{m:?}"),
        format!("{seed:?}"),
        format!("{master:?}"),
        format!("{opened:?}"),
        format!("{wallet:?}"),
        format!("{node:?}"),
        format!("{rec:?}"),
        format!("{:#?}", (&m, &seed, &master, &opened, &wallet, &node)),
    ];
    let mut secrets: Vec<String> = vec![
        hex::encode(seed.expose_secret()),
        hex::encode(&seed.expose_secret()[..8]),
        hex::encode(master.expose_secret()),
        hex::encode(&master.expose_secret()[..8]),
        hex::encode(&kp[..32]),
        hex::encode(&kp[..8]),
        hex::encode(node.expose_secret()),
        hex::encode(node.expose_chain_code()),
        bs58::encode(&kp[..]).into_string(),
        bs58::encode(&kp[..32]).into_string(),
        bs58::encode(seed.expose_secret()).into_string(),
        bs58::encode(master.expose_secret()).into_string(),
        format!("{:?}", &seed.expose_secret()[..8]),
        format!("{:?}", &master.expose_secret()[..8]),
        format!("{:?}", &kp[..8]),
    ];
    secrets.extend(PHRASE.split(' ').map(String::from));
    for d in &debug {
        for s in &secrets {
            assert!(
                !d.to_lowercase().contains(&s.to_lowercase()),
                "{d} leaks {s}"
            );
        }
    }
    // The public parts are shown.
    assert!(debug[4].contains(&wallet.address().to_string()));
}
