//! The key flow of the signer, end to end on embedded defaults: a master key, a new user with
//! a fresh seed phrase sealed into a real `redb` file, wallets derived on demand, a signature
//! made once and forgotten, a password-protected backup, and the attacks that fail.
//!
//! ```sh
//! cargo run -p kms-core --example key-flow [-- --db PATH]
//! ```

use std::process::ExitCode;

use kms_core::{
    BackupContents, BackupParams, Error, KeyStore, MasterKey, Mnemonic, RecordKind, RecordLocation,
    RedbStore, SealedRecord, SolanaPathScheme, UserId, WordCount, address, export_backup,
    import_backup, sign,
};

fn run() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let dir = tempfile_dir();
    let db = match (args.next().as_deref(), args.next()) {
        (Some("--db"), Some(p)) => std::path::PathBuf::from(p),
        _ => dir.join("keys.redb"),
    };
    println!("key store: {} (redb, fsync on every commit)", db.display());
    let store = RedbStore::open(&db)?;

    // Dev mode: a fresh master key in memory. Production unseals it from the TPM (kms-tpm) and
    // keeps it in a kms-pagechain shield.
    let master = MasterKey::generate(1)?;
    println!("master key: generated (epoch {})", master.epoch());

    let user = UserId::new(format!("tg:demo-{}", std::process::id()))?;
    let at = RecordLocation::new(user.clone(), RecordKind::Seed, 0);
    let phrase = Mnemonic::generate(WordCount::TwentyFour)?;
    let record =
        SealedRecord::seal_mnemonic(&master, &at, &phrase, "", SolanaPathScheme::AccountChange)?;
    store.create(&at, &record)?;
    println!(
        "user {user:?}: seed record sealed ({} bytes; the phrase would be shown to the user once)",
        record.as_bytes().len()
    );
    drop(phrase);

    let record = store.get(&at)?.ok_or(Error::NotFound)?;
    for i in 0..3 {
        println!(
            "  wallet {i} (m/44'/501'/{i}'/0'): {}",
            address(&record, &master, &at, i)?
        );
    }
    let message = b"a Solana transaction message";
    let signature = sign(&record, &master, &at, 0, message)?;
    let wallet0 = address(&record, &master, &at, 0)?;
    println!(
        "signed with wallet 0; strict verification: {}",
        wallet0.verify(message, &signature)?
    );

    let contents = BackupContents::from_store(&store, &master, &user)?;
    let file = export_backup(&contents, b"demo password", BackupParams::default())?;
    let restored = import_backup(&file, b"demo password")?;
    println!(
        "backup: {} bytes (Argon2id m=64 MiB t=3 p=1); restores the phrase: {}",
        file.len(),
        restored.mnemonic.is_some()
    );
    println!(
        "backup with a wrong password: {}",
        outcome(import_backup(&file, b"guess").map(|_| ()))
    );

    let elsewhere = RecordLocation::new(UserId::new("tg:attacker")?, RecordKind::Seed, 0);
    println!(
        "record copied to another user: {}",
        outcome(sign(&record, &master, &elsewhere, 0, message).map(|_| ()))
    );
    let other_master = MasterKey::generate(1)?;
    println!(
        "record opened with another master key: {}",
        outcome(sign(&record, &other_master, &at, 0, message).map(|_| ()))
    );
    Ok(())
}

/// "refused: <error>" for an attack that failed as it must; "ACCEPTED" would be a bug.
fn outcome(r: Result<(), Error>) -> String {
    match r {
        Ok(()) => "ACCEPTED (this is a bug)".into(),
        Err(e) => format!("refused: {e}"),
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("kms-key-flow-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
