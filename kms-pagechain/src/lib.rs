#![doc = include_str!("../README.md")]

#[cfg(not(target_os = "linux"))]
compile_error!(
    "kms-pagechain needs Linux (mlock, MADV_DONTDUMP, MADV_WIPEONFORK, PR_SET_DUMPABLE)"
);

mod chain;
mod config;
mod error;
mod process;
mod shield;
// The one module allowed to use `unsafe` (the crate denies it everywhere else; see Cargo.toml).
#[allow(unsafe_code)]
mod sys;

#[cfg(test)]
mod tests;

pub use config::{
    DEFAULT_PAGE_SIZE, DEFAULT_PAGES, MAX_CHAIN_BYTES, MAX_PAGE_SIZE, MAX_PAGES, MAX_READER_SLOTS,
    MAX_SECRET_LEN, MIN_MUTATION_INTERVAL, MemoryLocking, ShieldConfig,
};
pub use error::{Error, MemlockLimit};
pub use process::{
    disable_core_files, harden_process, is_dumpable, memlock_limit, set_non_dumpable,
};
pub use shield::{HeapSecret, MemoryRegion, RegionKind, Shield};

/// Format constants, as specified in `SPEC.md`.
pub mod spec {
    pub use crate::chain::{
        AAD_LABEL, FORMAT_VERSION, HEADER_BYTES, KEY_CONTEXT, LINK_BYTES, ORDER_CONTEXT,
        PAGES_CONTEXT, TAG_BYTES, TAIL_LINK,
    };
}
