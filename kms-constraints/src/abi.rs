//! ABI v1 constants shared by the host and the modules (see `SPEC.md`).

/// The ABI version this host speaks; `kms_abi_version` must return it.
pub const ABI_VERSION: i32 = 1;

/// Export: the module's linear memory.
pub const EXPORT_MEMORY: &str = "memory";
/// Export: `() -> i32`, the ABI version.
pub const EXPORT_ABI_VERSION: &str = "kms_abi_version";
/// Export: `(len: i32) -> i32`, a pointer to `len` writable bytes, or 0 when it cannot allocate.
pub const EXPORT_ALLOC: &str = "kms_alloc";
/// Export: `(msg_ptr, msg_len, loaded_ptr, loaded_len, params_ptr, params_len: i32) -> i32`,
/// a result code.
pub const EXPORT_VALIDATE: &str = "kms_validate";
/// Export: `() -> i64`, the last rejection reason as `ptr | len << 32` (UTF-8).
pub const EXPORT_REASON: &str = "kms_reason";
/// Custom section holding the module's parameter schema (see [`crate::ParamSchema`]).
pub const SECTION_PARAMS: &str = "kms-params";

/// Result code: the transaction has exactly the authorized shape. Deliberately not 0 or 1, so a
/// module that returns a default or a boolean by mistake never accepts.
pub const ACCEPT: i32 = 0x4B4D_5331;
/// Result code: the module refused the transaction; `kms_reason` says why.
pub const REJECT: i32 = 1;
/// Result code: the message bytes do not parse.
pub const MALFORMED_MESSAGE: i32 = 2;
/// Result code: the parameters do not decode under the module's schema.
pub const MALFORMED_PARAMS: i32 = 3;
/// Result code: the loaded-accounts input does not match the message's lookups.
pub const MALFORMED_LOADED: i32 = 4;

/// Largest message the host passes (Solana's packet size; a message is smaller still).
pub const MAX_MESSAGE_LEN: usize = 1232;
/// Largest loaded-accounts input: 256 addresses of 32 bytes.
pub const MAX_LOADED_LEN: usize = 256 * 32;
/// Largest parameter input.
pub const MAX_PARAMS_LEN: usize = 1024;
/// Longest rejection reason the host reads; longer reasons are cut.
pub const MAX_REASON_LEN: usize = 256;
