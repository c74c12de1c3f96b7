//! The registry: modules by SHA-256, compiled once, loaded from bytes, a directory or the
//! built-ins.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use crate::error::{Error, RejectionKind};
use crate::hash::ModuleHash;
use crate::host::{CompiledModule, Host, HostConfig};

/// Name of the manifest file in a module directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// What a manifest says about one module.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestEntry {
    /// Module name, e.g. `sol-withdraw`.
    pub name: String,
    /// Module version (semver); a new layout of a program means a new version and a new hash.
    pub version: String,
    /// File name of the module in the manifest's directory.
    pub file: String,
    /// Lowercase hex SHA-256 of the file.
    pub sha256: String,
    /// The parameter schema, one `name type` line per field (must equal the module's embedded
    /// `kms-params` section).
    pub params: Vec<String>,
}

/// A module manifest (`manifest.json`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The ABI version of every listed module.
    pub abi_version: i32,
    /// The modules.
    pub modules: Vec<ManifestEntry>,
}

impl Manifest {
    /// Parses a manifest.
    ///
    /// # Errors
    /// [`Error::InvalidManifest`] for malformed JSON, unknown fields or a wrong ABI version.
    pub fn parse(json: &str) -> Result<Self, Error> {
        let m: Self =
            serde_json::from_str(json).map_err(|e| Error::InvalidManifest(e.to_string()))?;
        if m.abi_version != crate::abi::ABI_VERSION {
            return Err(Error::InvalidManifest(format!(
                "abi_version {} is not {}",
                m.abi_version,
                crate::abi::ABI_VERSION
            )));
        }
        Ok(m)
    }
}

/// A loaded module and what its manifest said about it.
#[derive(Debug)]
pub struct LoadedModule {
    compiled: CompiledModule,
    entry: Option<ManifestEntry>,
}

impl LoadedModule {
    /// The compiled module (hash, schema).
    #[must_use]
    pub fn compiled(&self) -> &CompiledModule {
        &self.compiled
    }

    /// The manifest entry it was loaded with, if any.
    #[must_use]
    pub fn manifest(&self) -> Option<&ManifestEntry> {
        self.entry.as_ref()
    }
}

/// Modules by SHA-256, each compiled once; validates transactions against them.
///
/// ```
/// use kms_constraints::{HostConfig, Registry};
/// let registry = Registry::with_builtins(HostConfig::default())?;
/// let sol = registry.builtin("sol-withdraw").expect("built in");
/// assert_eq!(registry.get(&sol).unwrap().manifest().unwrap().name, "sol-withdraw");
/// # Ok::<(), kms_constraints::Error>(())
/// ```
#[derive(Debug)]
pub struct Registry {
    host: Host,
    modules: HashMap<ModuleHash, Arc<LoadedModule>>,
}

impl Registry {
    /// An empty registry.
    #[must_use]
    pub fn new(config: HostConfig) -> Self {
        Self {
            host: Host::new(config),
            modules: HashMap::new(),
        }
    }

    /// A registry holding the built-in modules.
    ///
    /// # Errors
    /// Any load error (a built-in that fails to load is a build defect; the tests check them).
    pub fn with_builtins(config: HostConfig) -> Result<Self, Error> {
        let mut r = Self::new(config);
        r.load_builtins()?;
        Ok(r)
    }

    /// The host (limits, raw runs).
    #[must_use]
    pub fn host(&self) -> &Host {
        &self.host
    }

    /// Loads the built-in modules, current and previous versions (SPEC §6), checking each
    /// against its built-in manifest. An intent authorized under an earlier version's hash keeps
    /// its meaning; [`Registry::builtin`] names the newest.
    ///
    /// # Errors
    /// As [`Registry::load_with_manifest`].
    pub fn load_builtins(&mut self) -> Result<Vec<ModuleHash>, Error> {
        let current = Manifest::parse(crate::builtin::MANIFEST)?;
        let previous = Manifest::parse(crate::builtin::PREVIOUS_MANIFEST)?;
        let mut out = Vec::new();
        for entry in current.modules.into_iter().chain(previous.modules) {
            let bytes = crate::builtin::file(&entry.file).ok_or_else(|| {
                Error::InvalidManifest(format!("built-in `{}` is not compiled in", entry.file))
            })?;
            out.push(self.load_with_manifest(bytes, entry)?);
        }
        Ok(out)
    }

    /// The hash of a loaded module by manifest name: the highest version (compared as
    /// `major.minor.patch` numbers; a version that is not three numbers sorts first).
    #[must_use]
    pub fn builtin(&self, name: &str) -> Option<ModuleHash> {
        fn semver(v: &str) -> [u64; 3] {
            let mut out = [0; 3];
            let mut parts = v.split('.');
            for o in &mut out {
                match parts.next().map(str::parse) {
                    Some(Ok(n)) => *o = n,
                    _ => return [0; 3],
                }
            }
            out
        }
        self.modules
            .values()
            .filter_map(|m| {
                m.entry
                    .as_ref()
                    .filter(|e| e.name == name)
                    .map(|e| (semver(&e.version), m.compiled.hash()))
            })
            .max()
            .map(|(_, h)| h)
    }

    /// Loads every module listed in `dir/manifest.json`.
    ///
    /// # Errors
    /// [`Error::Io`], [`Error::InvalidManifest`], or any error of
    /// [`Registry::load_with_manifest`]. Nothing is added unless every module loads.
    pub fn load_dir(&mut self, dir: &Path) -> Result<Vec<ModuleHash>, Error> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| Error::Io {
                path: p.to_owned(),
                source,
            })
        };
        let mpath = dir.join(MANIFEST_FILE);
        let text = String::from_utf8(read(&mpath)?)
            .map_err(|_| Error::InvalidManifest("manifest is not UTF-8".into()))?;
        let manifest = Manifest::parse(&text)?;
        let limit = self.host.config().max_module_bytes;
        let mut staged = Vec::new();
        for entry in manifest.modules {
            let file = Path::new(&entry.file);
            if file.components().count() != 1 || file.file_name().is_none() {
                return Err(Error::InvalidManifest(format!(
                    "`{}` must be a plain file name in the manifest's directory",
                    entry.file
                )));
            }
            let path = dir.join(file);
            let size = std::fs::metadata(&path)
                .map_err(|source| Error::Io {
                    path: path.clone(),
                    source,
                })?
                .len();
            if size > limit as u64 {
                return Err(Error::ModuleTooLarge {
                    size: usize::try_from(size).unwrap_or(usize::MAX),
                    limit,
                });
            }
            let bytes = read(&path)?;
            staged.push((self.check(&bytes, entry)?, bytes));
        }
        Ok(staged.into_iter().map(|(m, _)| self.insert(m)).collect())
    }

    /// Loads one module with no manifest (its parameters are checked only if it embeds a
    /// schema). Loading the same bytes twice compiles once.
    ///
    /// # Errors
    /// Every load-time refusal of [`Host::compile`].
    pub fn load(&mut self, bytes: &[u8]) -> Result<ModuleHash, Error> {
        let hash = ModuleHash::of(bytes);
        if self.modules.contains_key(&hash) {
            return Ok(hash);
        }
        let compiled = self.host.compile(bytes)?;
        Ok(self.insert(LoadedModule {
            compiled,
            entry: None,
        }))
    }

    /// Loads one module and checks it against its manifest entry: SHA-256 and parameter schema.
    ///
    /// # Errors
    /// [`Error::HashMismatch`], [`Error::InvalidManifest`] (schema differs), and every load-time
    /// refusal of [`Host::compile`].
    pub fn load_with_manifest(
        &mut self,
        bytes: &[u8],
        entry: ManifestEntry,
    ) -> Result<ModuleHash, Error> {
        let m = self.check(bytes, entry)?;
        Ok(self.insert(m))
    }

    fn check(&self, bytes: &[u8], entry: ManifestEntry) -> Result<LoadedModule, Error> {
        let limit = self.host.config().max_module_bytes;
        if bytes.len() > limit {
            return Err(Error::ModuleTooLarge {
                size: bytes.len(),
                limit,
            });
        }
        let actual = ModuleHash::of(bytes);
        if ModuleHash::from_hex(&entry.sha256) != Some(actual) {
            return Err(Error::HashMismatch {
                name: entry.name,
                expected: entry.sha256,
                actual,
            });
        }
        let compiled = match self.modules.get(&actual) {
            Some(m) => m.compiled.clone(),
            None => self.host.compile(bytes)?,
        };
        let embedded: Vec<String> = compiled
            .schema()
            .map(|s| s.to_text().lines().skip(1).map(str::to_owned).collect())
            .unwrap_or_default();
        if embedded != entry.params {
            return Err(Error::InvalidManifest(format!(
                "the parameters of `{}` in the manifest differ from the module's embedded schema",
                entry.name
            )));
        }
        Ok(LoadedModule {
            compiled,
            entry: Some(entry),
        })
    }

    fn insert(&mut self, m: LoadedModule) -> ModuleHash {
        let h = m.compiled.hash();
        self.modules.entry(h).or_insert_with(|| Arc::new(m));
        h
    }

    /// A loaded module.
    #[must_use]
    pub fn get(&self, hash: &ModuleHash) -> Option<Arc<LoadedModule>> {
        self.modules.get(hash).cloned()
    }

    /// Hashes of every loaded module.
    pub fn hashes(&self) -> impl Iterator<Item = &ModuleHash> {
        self.modules.keys()
    }

    /// Checks the user's parameters for module `hash` once: they must decode under the module's
    /// schema (exact length, known token programs, option tags and booleans `0`/`1`), and every
    /// `ata(...)` field must equal its derivation. The result is bound to the module and can be
    /// validated against any number of transactions with [`Registry::validate_checked`].
    ///
    /// Do this when an intent is authorized (or loaded from its integrity-protected store), not
    /// per transaction: the derivations cost one SHA-256 and one ed25519 point decompression per
    /// bump tried, about 10 µs per `ata(...)` field.
    ///
    /// # Errors
    /// [`Error::UnknownModule`], [`Error::InputTooLarge`], or [`Error::Rejected`] with
    /// [`RejectionKind::MalformedParams`].
    pub fn check_params(&self, hash: &ModuleHash, params: &[u8]) -> Result<CheckedParams, Error> {
        let m = self.modules.get(hash).ok_or(Error::UnknownModule(*hash))?;
        if params.len() > crate::abi::MAX_PARAMS_LEN {
            return Err(Error::InputTooLarge {
                what: "parameters",
                len: params.len(),
                limit: crate::abi::MAX_PARAMS_LEN,
            });
        }
        if let Some(schema) = m.compiled.schema() {
            schema.decode(params)?;
        }
        Ok(CheckedParams {
            module: *hash,
            bytes: params.to_vec(),
        })
    }

    /// Validates a transaction message against module `hash` and the user's parameters: the
    /// message checks of [`Registry::validate_checked`], then [`Registry::check_params`], then the
    /// module run. A signer that validates many transactions under one intent checks its
    /// parameters once instead.
    ///
    /// # Errors
    /// As [`Registry::check_params`] and [`Registry::validate_checked`]; only `Ok(())` means
    /// "may sign".
    pub fn validate(
        &self,
        hash: &ModuleHash,
        message: &[u8],
        loaded: &[[u8; 32]],
        params: &[u8],
    ) -> Result<(), Error> {
        let m = self.modules.get(hash).ok_or(Error::UnknownModule(*hash))?;
        check_message(message, loaded)?;
        let checked = self.check_params(hash, params)?;
        self.host
            .run(&m.compiled, message, loaded.as_flattened(), &checked.bytes)
    }

    /// Validates a transaction message against the module and parameters of `params`.
    ///
    /// In order: the message must pass `kms-solana`'s strict parser; `loaded` must hold exactly
    /// one 32-byte address per lookup-table index in the message (writable ones first, lookups in
    /// order: the order `Message::account` numbers them); then the module runs in a fresh
    /// instance with full fuel and must return `ACCEPT`.
    ///
    /// `loaded` is caller-supplied, unverifiable chain state: modules may show it but must never
    /// let it decide where funds go.
    ///
    /// Cost: the host's parse (well under 1 µs) plus one module run (see the crate's benchmarks).
    ///
    /// # Errors
    /// [`Error::UnknownModule`], [`Error::InputTooLarge`], [`Error::Instantiation`], or
    /// [`Error::Rejected`]; only `Ok(())` means "may sign".
    pub fn validate_checked(
        &self,
        params: &CheckedParams,
        message: &[u8],
        loaded: &[[u8; 32]],
    ) -> Result<(), Error> {
        let hash = &params.module;
        let m = self.modules.get(hash).ok_or(Error::UnknownModule(*hash))?;
        check_message(message, loaded)?;
        self.host
            .run(&m.compiled, message, loaded.as_flattened(), &params.bytes)
    }
}

/// The host's checks before any module runs: the strict parse, and one caller-supplied address
/// per lookup-table index.
fn check_message(message: &[u8], loaded: &[[u8; 32]]) -> Result<(), Error> {
    let parsed = kms_solana::parse_message(message)
        .map_err(|e| Error::rejected(RejectionKind::MalformedMessage, e.to_string()))?;
    let want = parsed.num_loaded_writable() + parsed.num_loaded_readonly();
    if loaded.len() != want {
        return Err(Error::rejected(
            RejectionKind::MalformedLoadedAccounts,
            format!(
                "{} lookup-table accounts given, the message loads {want}",
                loaded.len()
            ),
        ));
    }
    Ok(())
}

/// Parameters that passed [`Registry::check_params`] for one module. Only that function makes
/// them, so holding one proves the check ran; they are bound to the module's hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedParams {
    module: ModuleHash,
    bytes: Vec<u8>,
}

impl CheckedParams {
    /// The module these parameters were checked for.
    #[must_use]
    pub fn module(&self) -> &ModuleHash {
        &self.module
    }

    /// The canonical parameter bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }
}
