//! The one error type of this crate.

use crate::hash::ModuleHash;

/// Why a transaction was not accepted by a module (see [`Error::Rejected`]).
///
/// Every kind is a refusal to sign: a caller must treat all of them the same way and only
/// use the kind and the reason to explain the refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// The module looked at the transaction and refused it (result code `REJECT`).
    Refused,
    /// The message bytes are not a transaction (the host's strict parser, or the module's).
    MalformedMessage,
    /// The parameters do not match the module's schema, or a derived address in them is wrong.
    MalformedParams,
    /// The caller-supplied lookup-table accounts do not match the message's lookups.
    MalformedLoadedAccounts,
    /// The module used up its fuel (an endless loop, or far too much work).
    OutOfFuel,
    /// The module tried to grow its memory above the configured maximum.
    MemoryLimit,
    /// The module trapped (unreachable, out-of-bounds access, stack overflow, ...).
    Trap,
    /// The module broke ABI v1 at run time (unknown result code, allocation failure, a reason
    /// pointer outside its memory, ...).
    AbiViolation,
}

impl core::fmt::Display for RejectionKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Refused => "refused by the module",
            Self::MalformedMessage => "malformed transaction message",
            Self::MalformedParams => "malformed constraint parameters",
            Self::MalformedLoadedAccounts => "malformed lookup-table accounts",
            Self::OutOfFuel => "module ran out of fuel",
            Self::MemoryLimit => "module exceeded its memory limit",
            Self::Trap => "module trapped",
            Self::AbiViolation => "module violated the ABI",
        })
    }
}

/// Everything that can go wrong when loading a module or validating a transaction.
///
/// Load-time refusals say which rule a module broke; run-time outcomes other than acceptance are
/// [`Error::Rejected`]. Messages never contain transaction bytes or parameters beyond what a
/// module chose to put in its own reason.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The module is larger than the configured size limit.
    #[error("module is {size} bytes, above the limit of {limit} bytes")]
    ModuleTooLarge {
        /// Size of the refused module.
        size: usize,
        /// Configured limit.
        limit: usize,
    },
    /// The bytes are not a valid WebAssembly module (or use a disabled feature).
    #[error("not a valid WebAssembly module: {0}")]
    InvalidModule(String),
    /// The module imports something; modules must be pure functions without host calls.
    #[error("module imports `{module}.{name}`; modules may not import anything")]
    ImportNotAllowed {
        /// Import module name.
        module: String,
        /// Imported item name.
        name: String,
    },
    /// The module contains an instruction the host does not run (`memory.grow`, `table.grow`).
    #[error(
        "module uses `{instruction}` in function {function}; modules may not grow memory or tables"
    )]
    InstructionNotAllowed {
        /// The instruction's text name.
        instruction: &'static str,
        /// Index of the function (in the code section) that contains it.
        function: u32,
    },
    /// The module has a start function, which would run code at instantiation.
    #[error("module has a start function; modules may not run code at instantiation")]
    StartFunctionNotAllowed,
    /// The module's memory may be larger than the configured maximum.
    #[error("module memory of {pages} pages (64 KiB each) is above the limit of {limit} pages")]
    MemoryTooLarge {
        /// Declared initial or maximum page count.
        pages: u64,
        /// Configured limit in pages.
        limit: u32,
    },
    /// A required ABI export is missing or has the wrong type.
    #[error("module lacks the ABI v1 export `{name}` ({expected})")]
    MissingExport {
        /// Export name.
        name: &'static str,
        /// What the export must be.
        expected: &'static str,
    },
    /// The module reports an ABI version this host does not speak.
    #[error("module speaks ABI version {found}, this host speaks version {expected}")]
    AbiVersionMismatch {
        /// What `kms_abi_version` returned.
        found: i32,
        /// [`crate::abi::ABI_VERSION`].
        expected: i32,
    },
    /// The module's embedded parameter schema (custom section `kms-params`) is malformed.
    #[error("module parameter schema is malformed: {0}")]
    InvalidSchema(String),
    /// A module file's SHA-256 differs from the one its manifest lists.
    #[error("module `{name}` has SHA-256 {actual}, its manifest says {expected}")]
    HashMismatch {
        /// Module name from the manifest.
        name: String,
        /// Hash in the manifest.
        expected: String,
        /// Hash of the bytes.
        actual: ModuleHash,
    },
    /// A module manifest could not be read or is malformed.
    #[error("module manifest is malformed: {0}")]
    InvalidManifest(String),
    /// Reading a module directory or file failed.
    #[error("cannot read `{}`: {source}", path.display())]
    Io {
        /// Path that failed.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No module with this hash is loaded.
    #[error("no module with SHA-256 {0} is loaded")]
    UnknownModule(ModuleHash),
    /// An input to `validate` is larger than ABI v1 allows.
    #[error("{what} is {len} bytes, above the ABI limit of {limit} bytes")]
    InputTooLarge {
        /// Which input.
        what: &'static str,
        /// Its length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// Instantiating the module failed (for example its initial memory could not be allocated).
    #[error("cannot instantiate the module: {0}")]
    Instantiation(String),
    /// The transaction was not accepted. Never sign it.
    #[error("transaction rejected ({kind}): {reason}")]
    Rejected {
        /// What kind of rejection.
        kind: RejectionKind,
        /// A human-readable reason (from the module, sanitized, or from the host).
        reason: String,
    },
}

impl Error {
    /// The rejection kind if this is [`Error::Rejected`].
    #[must_use]
    pub fn rejection_kind(&self) -> Option<RejectionKind> {
        match self {
            Self::Rejected { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    pub(crate) fn rejected(kind: RejectionKind, reason: impl Into<String>) -> Self {
        Self::Rejected {
            kind,
            reason: reason.into(),
        }
    }
}
