#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

mod backup;
mod error;
mod keys;
mod mnemonic;
mod record;
mod secret;
mod slip10;
mod store;

pub use backup::{
    BACKUP_MAGIC, BACKUP_VERSION, BackupContents, BackupInfo, BackupParams, MAX_BODY_LEN,
    export_backup, import_backup, inspect_backup,
};
pub use error::{Error, Result};
pub use keys::{Address, Signature, WalletKey};
pub use mnemonic::{Mnemonic, WordCount};
pub use record::{
    MAX_RECORD_LEN, MAX_USER_ID_LEN, OpenedRecord, RECORD_MAGIC, RECORD_VERSION, RecordKind,
    RecordLocation, SealedRecord, SeedSecret, UserId, address, sign,
};
pub use secret::{MasterKey, Seed};
pub use slip10::{DerivationPath, ExtendedKey, HARDENED, MAX_DEPTH, SolanaPathScheme};
pub use store::{KeyStore, MemoryStore, RedbStore, RotationProgress, rotate_master_key};

/// Re-exported so that callers can verify signatures with the same strict verifier.
pub use ed25519_dalek;
