//! Password-protected backups: round trip, and each failure a distinct, clear error.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a failed unwrap is a failed test

use kms_core::{
    BackupContents, BackupParams, Error, KeyStore, MasterKey, MemoryStore, Mnemonic, RecordKind,
    RecordLocation, SealedRecord, SolanaPathScheme, UserId, WalletKey, export_backup,
    import_backup,
};
use zeroize::Zeroizing;

const PHRASE: &str =
    "letter advice cage absurd amount doctor acoustic avoid letter advice cage above";
const PASSWORD: &[u8] = b"correct horse battery staple";

fn contents() -> BackupContents {
    BackupContents {
        mnemonic: Some(Mnemonic::parse(PHRASE).unwrap()),
        passphrase_needed: true,
        scheme: SolanaPathScheme::Account,
        imported: vec![
            (1, WalletKey::from_secret(&Zeroizing::new([1; 32]))),
            (7, WalletKey::from_secret(&Zeroizing::new([7; 32]))),
        ],
        ..BackupContents::default()
    }
}

fn check_same(a: &BackupContents, b: &BackupContents) {
    assert_eq!(
        a.mnemonic.as_ref().map(|m| m.phrase()),
        b.mnemonic.as_ref().map(|m| m.phrase())
    );
    assert_eq!(a.passphrase_needed, b.passphrase_needed);
    assert_eq!(a.scheme, b.scheme);
    let ids = |c: &BackupContents| {
        c.imported
            .iter()
            .map(|(i, k)| (*i, k.address()))
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(a), ids(b));
}

#[test]
fn round_trip_with_default_parameters() {
    let file = export_backup(&contents(), PASSWORD, BackupParams::default()).unwrap();
    assert_eq!(&file[..8], b"KMS-BKUP");
    // Defaults are stored in the header: m = 64 MiB, t = 3, p = 1.
    assert_eq!(u32::from_be_bytes(file[10..14].try_into().unwrap()), 65536);
    assert_eq!(u32::from_be_bytes(file[14..18].try_into().unwrap()), 3);
    assert_eq!(u32::from_be_bytes(file[18..22].try_into().unwrap()), 1);
    let back = import_backup(&file, PASSWORD).unwrap();
    check_same(&contents(), &back);
    // No plaintext in the file.
    let text = String::from_utf8_lossy(&file);
    assert!(!text.contains("letter") && !text.contains("advice"));
    // Two exports differ (fresh salt and nonce).
    let again = export_backup(&contents(), PASSWORD, BackupParams::default()).unwrap();
    assert_ne!(file, again);
}

#[test]
fn from_store_collects_the_users_seed_and_keys() {
    let master = MasterKey::generate(1).unwrap();
    let store = MemoryStore::new();
    let user = UserId::new("tg:5").unwrap();
    let s = RecordLocation::new(user.clone(), RecordKind::Seed, 0);
    let m = Mnemonic::parse(PHRASE).unwrap();
    store
        .create(
            &s,
            &SealedRecord::seal_mnemonic(&master, &s, &m, "", SolanaPathScheme::AccountChange)
                .unwrap(),
        )
        .unwrap();
    let k = RecordLocation::new(user.clone(), RecordKind::ImportedKey, 3);
    let key = WalletKey::from_secret(&Zeroizing::new([3; 32]));
    store
        .create(&k, &SealedRecord::seal_key(&master, &k, &key).unwrap())
        .unwrap();
    let other = RecordLocation::new(UserId::new("tg:6").unwrap(), RecordKind::ImportedKey, 0);
    store
        .create(
            &other,
            &SealedRecord::seal_key(&master, &other, &key).unwrap(),
        )
        .unwrap();

    let c = BackupContents::from_store(&store, &master, &user).unwrap();
    assert_eq!(*c.mnemonic.as_ref().unwrap().phrase(), PHRASE);
    assert!(!c.passphrase_needed);
    assert_eq!(c.imported.len(), 1);
    assert_eq!(c.imported[0].0, 3);
    assert_eq!(c.imported[0].1.address(), key.address());
}

#[test]
fn failures_are_distinct_and_clear() {
    let file = export_backup(&contents(), PASSWORD, BackupParams::default()).unwrap();

    assert_eq!(
        import_backup(&file, b"wrong").unwrap_err(),
        Error::WrongPassword
    );

    // Truncated anywhere.
    for len in [0usize, 3, 8, 9, 50, 97, file.len() - 1, file.len() - 17] {
        let e = import_backup(&file[..len], PASSWORD).unwrap_err();
        assert!(matches!(e, Error::BackupTruncated(_)), "len {len}: {e}");
    }
    // Trailing bytes.
    let mut longer = file.clone();
    longer.push(0);
    assert!(matches!(
        import_backup(&longer, PASSWORD),
        Err(Error::BackupMalformed(_))
    ));
    // Not a backup.
    assert!(matches!(
        import_backup(b"hello world, not a backup", PASSWORD),
        Err(Error::BackupMalformed(_))
    ));
    // Newer version.
    let mut v2 = file.clone();
    v2[8] = 2;
    assert_eq!(
        import_backup(&v2, PASSWORD).unwrap_err(),
        Error::UnsupportedBackupVersion(2)
    );
    // Body tampered: the password is right, the body is not.
    let mut tampered = file.clone();
    let last = tampered.len() - 20;
    tampered[last] ^= 1;
    assert_eq!(
        import_backup(&tampered, PASSWORD).unwrap_err(),
        Error::BackupTampered
    );
    // Nonce in the header tampered: authenticated as associated data.
    let mut nonce = file.clone();
    nonce[60] ^= 1;
    assert_eq!(
        import_backup(&nonce, PASSWORD).unwrap_err(),
        Error::BackupTampered
    );

    for e in [Error::WrongPassword, Error::BackupTampered] {
        assert!(!e.to_string().contains("horse"));
    }
}

#[test]
fn attack_changed_argon2_parameter_does_not_open() {
    let file = export_backup(&contents(), PASSWORD, BackupParams::default()).unwrap();
    // t = 3 -> 4: a valid parameter set, but not the one the key was made with.
    let mut t4 = file.clone();
    t4[17] = 4;
    assert_eq!(
        import_backup(&t4, PASSWORD).unwrap_err(),
        Error::WrongPassword
    );
    // Lowered below the minimum (an attacker making brute force cheaper): refused outright.
    let mut weak = file.clone();
    weak[10..14].copy_from_slice(&1024u32.to_be_bytes());
    assert!(matches!(
        import_backup(&weak, PASSWORD),
        Err(Error::BackupParameters(_))
    ));
    let mut t1 = file.clone();
    t1[17] = 1;
    assert!(matches!(
        import_backup(&t1, PASSWORD),
        Err(Error::BackupParameters(_))
    ));
    // Absurdly high (a denial of service): refused before any work.
    let mut huge = file.clone();
    huge[10..14].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        import_backup(&huge, PASSWORD),
        Err(Error::BackupParameters(_))
    ));
    // Salt changed.
    let mut salt = file.clone();
    salt[30] ^= 1;
    assert_eq!(
        import_backup(&salt, PASSWORD).unwrap_err(),
        Error::WrongPassword
    );
}

#[test]
fn the_header_can_be_inspected_without_the_password() {
    let file = export_backup(&contents(), PASSWORD, BackupParams::default()).unwrap();
    let info = kms_core::inspect_backup(&file).unwrap();
    assert_eq!(info.params, BackupParams::default());
    assert_eq!(info.body_len + 98, file.len());
    assert!(matches!(
        kms_core::inspect_backup(&file[..50]),
        Err(Error::BackupTruncated(_))
    ));
}

#[test]
fn parameters_below_the_minimum_cannot_be_chosen() {
    assert!(BackupParams::new(32 * 1024, 3, 1).is_err());
    assert!(BackupParams::new(64 * 1024, 2, 1).is_err());
    assert!(BackupParams::new(64 * 1024, 3, 0).is_err());
    assert!(BackupParams::new(128 * 1024, 4, 2).is_ok());
}
