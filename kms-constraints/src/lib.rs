#![doc = include_str!("../README.md")]

pub mod abi;
mod builtin;
mod error;
mod hash;
mod host;
mod registry;
mod schema;

pub use error::{Error, RejectionKind};
pub use hash::ModuleHash;
pub use host::{CompiledModule, Host, HostConfig};
pub use registry::{CheckedParams, LoadedModule, MANIFEST_FILE, Manifest, ManifestEntry, Registry};
pub use schema::{ParamField, ParamSchema, ParamType, ParamValue, PdaInput};
