//! The wasmi host: load-time checks, compilation, and one fresh instance per validation.

use wasmi::{
    CompilationMode, Config, EnforcedLimits, Engine, ExternType, Instance, Memory, Module, Store,
    StoreLimits, StoreLimitsBuilder, TrapCode, TypedFunc, ValType, errors::ErrorKind,
};

use crate::abi;
use crate::error::{Error, RejectionKind};
use crate::hash::ModuleHash;
use crate::schema::ParamSchema;

/// WebAssembly page size.
const PAGE: usize = 65_536;

/// Limits applied to every module. The defaults suit the built-in modules with a wide margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct HostConfig {
    /// Fuel per validation (about one unit per executed WebAssembly instruction). Default
    /// 2,000,000: the built-ins use a few percent of it; a module that runs out is rejected.
    pub fuel: u64,
    /// Largest memory a module may declare or grow to, in 64 KiB pages. Default 16 (1 MiB).
    pub max_memory_pages: u32,
    /// Largest module accepted at load, in bytes. Default 256 KiB.
    pub max_module_bytes: usize,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            fuel: 2_000_000,
            max_memory_pages: 16,
            max_module_bytes: 256 * 1024,
        }
    }
}

impl HostConfig {
    /// With this fuel per validation.
    #[must_use]
    pub const fn with_fuel(mut self, fuel: u64) -> Self {
        self.fuel = fuel;
        self
    }

    /// With this memory limit in 64 KiB pages.
    #[must_use]
    pub const fn with_max_memory_pages(mut self, pages: u32) -> Self {
        self.max_memory_pages = pages;
        self
    }

    /// With this module size limit in bytes.
    #[must_use]
    pub const fn with_max_module_bytes(mut self, bytes: usize) -> Self {
        self.max_module_bytes = bytes;
        self
    }
}

/// A module that passed every load-time check, compiled once.
#[derive(Debug, Clone)]
pub struct CompiledModule {
    hash: ModuleHash,
    module: Module,
    schema: Option<ParamSchema>,
}

impl CompiledModule {
    /// The module's identity.
    #[must_use]
    pub fn hash(&self) -> ModuleHash {
        self.hash
    }

    /// The parameter schema embedded in the module (custom section `kms-params`), if any.
    /// Without one, the host passes parameters through unchecked.
    #[must_use]
    pub fn schema(&self) -> Option<&ParamSchema> {
        self.schema.as_ref()
    }
}

/// The engine that compiles and runs modules. Cheap to share by reference; holds no per-user
/// state.
#[derive(Debug)]
pub struct Host {
    engine: Engine,
    config: HostConfig,
}

struct Exports {
    memory: Memory,
    alloc: TypedFunc<i32, i32>,
    validate: TypedFunc<(i32, i32, i32, i32, i32, i32), i32>,
    reason: TypedFunc<(), i64>,
}

impl Host {
    /// A host with these limits.
    #[must_use]
    pub fn new(config: HostConfig) -> Self {
        let mut c = Config::default();
        c.consume_fuel(true)
            // Checked by `scan` with a precise error first; this is the second line.
            .allow_start_fn(false)
            // Determinism: no floating point, one 32-bit memory (SIMD and threads are not compiled in).
            .floats(false)
            .wasm_multi_memory(false)
            .wasm_custom_page_sizes(false)
            .compilation_mode(CompilationMode::Eager)
            .enforced_limits(EnforcedLimits::strict());
        Self {
            engine: Engine::new(&c),
            config,
        }
    }

    /// The limits in force.
    #[must_use]
    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Checks and compiles a module. Runs `kms_abi_version` once, in a fresh instance with fuel.
    ///
    /// # Errors
    /// [`Error::ModuleTooLarge`], [`Error::InvalidModule`], [`Error::ImportNotAllowed`],
    /// [`Error::StartFunctionNotAllowed`], [`Error::MemoryTooLarge`], [`Error::MissingExport`],
    /// [`Error::AbiVersionMismatch`] or [`Error::InvalidSchema`].
    pub fn compile(&self, bytes: &[u8]) -> Result<CompiledModule, Error> {
        if bytes.len() > self.config.max_module_bytes {
            return Err(Error::ModuleTooLarge {
                size: bytes.len(),
                limit: self.config.max_module_bytes,
            });
        }
        let hash = ModuleHash::of(bytes);
        let sections = scan(bytes)?;
        if sections.start {
            return Err(Error::StartFunctionNotAllowed);
        }
        validate_strictly(bytes)?;
        let module =
            Module::new(&self.engine, bytes).map_err(|e| Error::InvalidModule(e.to_string()))?;
        if let Some(i) = module.imports().next() {
            return Err(Error::ImportNotAllowed {
                module: i.module().to_owned(),
                name: i.name().to_owned(),
            });
        }
        let limit = self.config.max_memory_pages;
        match module.get_export(abi::EXPORT_MEMORY) {
            Some(ExternType::Memory(m)) => {
                let declared = m.maximum().unwrap_or(0).max(m.minimum());
                if declared > u64::from(limit) {
                    return Err(Error::MemoryTooLarge {
                        pages: declared,
                        limit,
                    });
                }
            }
            _ => {
                return Err(Error::MissingExport {
                    name: abi::EXPORT_MEMORY,
                    expected: "a memory",
                });
            }
        }
        refuse_growth(bytes)?;
        let want: [(&'static str, &[ValType], &[ValType], &'static str); 4] = [
            (
                abi::EXPORT_ABI_VERSION,
                &[],
                &[ValType::I32],
                "func () -> i32",
            ),
            (
                abi::EXPORT_ALLOC,
                &[ValType::I32],
                &[ValType::I32],
                "func (i32) -> i32",
            ),
            (
                abi::EXPORT_VALIDATE,
                &[ValType::I32; 6],
                &[ValType::I32],
                "func (i32 x 6) -> i32",
            ),
            (abi::EXPORT_REASON, &[], &[ValType::I64], "func () -> i64"),
        ];
        for (name, params, results, expected) in want {
            let ok = matches!(module.get_export(name), Some(ExternType::Func(f))
                if f.params() == params && f.results() == results);
            if !ok {
                return Err(Error::MissingExport { name, expected });
            }
        }
        let mut schema = None;
        for s in module.custom_sections() {
            if s.name() == abi::SECTION_PARAMS {
                if schema.is_some() {
                    return Err(Error::InvalidSchema("two `kms-params` sections".into()));
                }
                let text = core::str::from_utf8(s.data())
                    .map_err(|_| Error::InvalidSchema("not UTF-8".into()))?;
                schema = Some(ParamSchema::parse(text)?);
            }
        }
        let compiled = CompiledModule {
            hash,
            module,
            schema,
        };
        let (mut store, instance) = self.instantiate(&compiled)?;
        let version = instance
            .get_typed_func::<(), i32>(&store, abi::EXPORT_ABI_VERSION)
            .map_err(|e| Error::InvalidModule(e.to_string()))?
            .call(&mut store, ())
            .map_err(|e| Error::InvalidModule(format!("kms_abi_version failed: {e}")))?;
        if version != abi::ABI_VERSION {
            return Err(Error::AbiVersionMismatch {
                found: version,
                expected: abi::ABI_VERSION,
            });
        }
        Ok(compiled)
    }

    fn instantiate(&self, m: &CompiledModule) -> Result<(Store<StoreLimits>, Instance), Error> {
        let max_bytes = self.config.max_memory_pages as usize * PAGE;
        let limits = StoreLimitsBuilder::new()
            .memory_size(max_bytes)
            .memories(1)
            .tables(1)
            .table_elements(4096)
            .instances(1)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(&self.engine, limits);
        store.limiter(|l| l);
        store
            .set_fuel(self.config.fuel)
            .map_err(|e| Error::Instantiation(e.to_string()))?;
        let instance = Instance::new(&mut store, &m.module, &[]).map_err(|e| {
            if matches!(e.kind(), ErrorKind::Memory(_)) {
                Error::rejected(RejectionKind::MemoryLimit, "initial memory above the limit")
            } else {
                Error::Instantiation(e.to_string())
            }
        })?;
        Ok((store, instance))
    }

    /// Runs `kms_validate` in a fresh instance (fresh store, full fuel). Does not parse the
    /// message or check the parameters: [`crate::Registry::validate`] does both first.
    ///
    /// # Errors
    /// [`Error::InputTooLarge`], [`Error::Instantiation`], or [`Error::Rejected`] for every
    /// outcome other than [`abi::ACCEPT`].
    pub fn run(
        &self,
        m: &CompiledModule,
        message: &[u8],
        loaded: &[u8],
        params: &[u8],
    ) -> Result<(), Error> {
        for (what, len, limit) in [
            ("message", message.len(), abi::MAX_MESSAGE_LEN),
            ("loaded accounts", loaded.len(), abi::MAX_LOADED_LEN),
            ("parameters", params.len(), abi::MAX_PARAMS_LEN),
        ] {
            if len > limit {
                return Err(Error::InputTooLarge { what, len, limit });
            }
        }
        let (mut store, instance) = self.instantiate(m)?;
        let ex = exports(&store, &instance)?;
        let total = message.len() + loaded.len() + params.len();
        // Fits: each part is bounded above, the sum is far below i32::MAX.
        let total_i32 = i32::try_from(total).unwrap_or(i32::MAX);
        let ptr = ex
            .alloc
            .call(&mut store, total_i32)
            .map_err(|e| trap_to_rejection(&e))?;
        let base = u32::try_from(ptr)
            .map_err(|_| abi_violation("kms_alloc returned a negative pointer"))?;
        if base == 0 {
            return Err(abi_violation("kms_alloc could not allocate the inputs"));
        }
        let base = base as usize;
        {
            let mem = ex.memory.data_mut(&mut store);
            let region = base
                .checked_add(total)
                .and_then(|end| mem.get_mut(base..end))
                .ok_or_else(|| {
                    abi_violation("kms_alloc returned memory outside the module's memory")
                })?;
            let (a, rest) = region.split_at_mut(message.len());
            let (b, c) = rest.split_at_mut(loaded.len());
            a.copy_from_slice(message);
            b.copy_from_slice(loaded);
            c.copy_from_slice(params);
        }
        // All offsets are below `base + total`, which fits in the 32-bit memory.
        let at = |off: usize| (base + off) as i32;
        let len = |l: usize| l as i32;
        let code = ex
            .validate
            .call(
                &mut store,
                (
                    at(0),
                    len(message.len()),
                    at(message.len()),
                    len(loaded.len()),
                    at(message.len() + loaded.len()),
                    len(params.len()),
                ),
            )
            .map_err(|e| trap_to_rejection(&e))?;
        let kind = match code {
            abi::ACCEPT => return Ok(()),
            abi::REJECT => RejectionKind::Refused,
            abi::MALFORMED_MESSAGE => RejectionKind::MalformedMessage,
            abi::MALFORMED_PARAMS => RejectionKind::MalformedParams,
            abi::MALFORMED_LOADED => RejectionKind::MalformedLoadedAccounts,
            other => return Err(abi_violation(format!("unknown result code {other}"))),
        };
        let reason = read_reason(&mut store, &ex)?;
        Err(Error::Rejected { kind, reason })
    }
}

fn abi_violation(msg: impl Into<String>) -> Error {
    Error::rejected(RejectionKind::AbiViolation, msg)
}

fn exports(store: &Store<StoreLimits>, instance: &Instance) -> Result<Exports, Error> {
    // Types were checked at load; a failure here means the module changed under us.
    let missing = |name| Error::MissingExport {
        name,
        expected: "as checked at load",
    };
    Ok(Exports {
        memory: instance
            .get_memory(store, abi::EXPORT_MEMORY)
            .ok_or_else(|| missing(abi::EXPORT_MEMORY))?,
        alloc: instance
            .get_typed_func(store, abi::EXPORT_ALLOC)
            .map_err(|_| missing(abi::EXPORT_ALLOC))?,
        validate: instance
            .get_typed_func(store, abi::EXPORT_VALIDATE)
            .map_err(|_| missing(abi::EXPORT_VALIDATE))?,
        reason: instance
            .get_typed_func(store, abi::EXPORT_REASON)
            .map_err(|_| missing(abi::EXPORT_REASON))?,
    })
}

/// Reads the module's reason, cut to [`abi::MAX_REASON_LEN`] bytes, with every byte outside
/// printable ASCII replaced by `?` (a module cannot smuggle control characters or look-alike
/// Unicode into the text shown to a user or written to a log).
fn read_reason(store: &mut Store<StoreLimits>, ex: &Exports) -> Result<String, Error> {
    let packed = ex
        .reason
        .call(&mut *store, ())
        .map_err(|e| trap_to_rejection(&e))?;
    let ptr = (packed as u64 & 0xFFFF_FFFF) as usize;
    let len = ((packed as u64) >> 32) as usize;
    let len = len.min(abi::MAX_REASON_LEN);
    let mem = ex.memory.data(&*store);
    let bytes = ptr
        .checked_add(len)
        .and_then(|end| mem.get(ptr..end))
        .ok_or_else(|| abi_violation("kms_reason points outside the module's memory"))?;
    if bytes.is_empty() {
        return Ok("(the module gave no reason)".into());
    }
    Ok(bytes
        .iter()
        .map(|&b| {
            if (0x20..0x7F).contains(&b) {
                b as char
            } else {
                '?'
            }
        })
        .collect())
}

fn trap_to_rejection(e: &wasmi::Error) -> Error {
    match e.as_trap_code() {
        Some(TrapCode::OutOfFuel) => Error::rejected(
            RejectionKind::OutOfFuel,
            "the module used up its fuel before deciding",
        ),
        Some(TrapCode::GrowthOperationLimited) => Error::rejected(
            RejectionKind::MemoryLimit,
            "the module tried to grow its memory above the limit",
        ),
        Some(TrapCode::MemoryOutOfBounds) => Error::rejected(
            RejectionKind::Trap,
            "the module accessed memory out of bounds",
        ),
        Some(TrapCode::StackOverflow) => {
            Error::rejected(RejectionKind::Trap, "the module overflowed its call stack")
        }
        Some(code) => Error::rejected(RejectionKind::Trap, format!("the module trapped: {code}")),
        None if matches!(e.kind(), ErrorKind::Memory(_) | ErrorKind::Table(_)) => Error::rejected(
            RejectionKind::MemoryLimit,
            "the module tried to grow its memory above the limit",
        ),
        None => Error::rejected(RejectionKind::Trap, format!("the module failed: {e}")),
    }
}

/// The WebAssembly features a module may use: what the engine of [`Host::new`] compiles (no
/// floating point, one memory, no custom page sizes, no SIMD, threads or memory64), as wasmi's
/// own validator is configured with them.
fn wasm_features() -> wasmparser::WasmFeatures {
    use wasmparser::WasmFeatures as F;
    F::MUTABLE_GLOBAL
        | F::MULTI_VALUE
        | F::SATURATING_FLOAT_TO_INT
        | F::SIGN_EXTENSION
        | F::BULK_MEMORY
        | F::REFERENCE_TYPES
        | F::GC_TYPES // wasmparser needs it for reference types
        | F::TAIL_CALL
        | F::EXTENDED_CONST
}

/// Validates the whole module with wasmparser before wasmi sees it.
///
/// Why twice: wasmi validates each instruction just before it translates it, and checks some
/// rules only at the end of a function body. Instructions after a function's final `end` are
/// such a case: wasmi 2.0's eager, fuel-metering translator translates them before refusing the
/// body, and a debug assertion in its control stack fails on them (found by the
/// `constraints_host` fuzz target; release builds go on and refuse the module). Validating first
/// means wasmi's translator only ever sees valid code. It costs one extra pass at load, not per
/// validation.
fn validate_strictly(bytes: &[u8]) -> Result<(), Error> {
    wasmparser::Validator::new_with_features(wasm_features())
        .validate_all(bytes)
        .map(|_| ())
        .map_err(|e| Error::InvalidModule(e.to_string()))
}

/// Refuses `memory.grow` and `table.grow` anywhere in the code (runs after the module was
/// validated, so every body decodes).
///
/// Why: wasmi's tail-call dispatch (its default, and 2x faster than the portable loop) needs
/// every instruction handler to end in a tail call. The handlers of these two instructions call
/// the next handler instead (checked by disassembling the release build), so a guest loop over
/// either grows the host's stack until the process aborts. ABI v1 modules have a fixed arena and
/// never need to grow; `tests/malicious.rs` runs a guest loop over every other kind of
/// instruction on a small host stack.
fn refuse_growth(bytes: &[u8]) -> Result<(), Error> {
    use wasmparser::{Operator, Parser, Payload};
    let invalid = |e: wasmparser::BinaryReaderError| Error::InvalidModule(e.to_string());
    let mut function = 0u32;
    for payload in Parser::new(0).parse_all(bytes) {
        let Payload::CodeSectionEntry(body) = payload.map_err(invalid)? else {
            continue;
        };
        let mut ops = body.get_operators_reader().map_err(invalid)?;
        while !ops.eof() {
            let instruction = match ops.read().map_err(invalid)? {
                Operator::MemoryGrow { .. } => "memory.grow",
                Operator::TableGrow { .. } => "table.grow",
                _ => continue,
            };
            return Err(Error::InstructionNotAllowed {
                instruction,
                function,
            });
        }
        function += 1;
    }
    Ok(())
}

/// What the section walk found.
struct Sections {
    start: bool,
}

/// Walks the top-level sections (ids and sizes only) to find a start section before compiling,
/// so that it gets its own error. Everything else is validated by wasmi.
fn scan(bytes: &[u8]) -> Result<Sections, Error> {
    let invalid = |m: &str| Error::InvalidModule(m.to_owned());
    if bytes.len() < 8 || bytes[..4] != *b"\0asm" || bytes[4..8] != [1, 0, 0, 0] {
        return Err(invalid(
            "missing the WebAssembly magic number and version 1",
        ));
    }
    let mut i = 8;
    let mut start = false;
    while i < bytes.len() {
        let id = bytes[i];
        i += 1;
        let mut size: u64 = 0;
        let mut shift = 0;
        loop {
            let b = *bytes
                .get(i)
                .ok_or_else(|| invalid("truncated section size"))?;
            i += 1;
            if shift > 28 {
                return Err(invalid("section size LEB128 too long"));
            }
            size |= u64::from(b & 0x7F) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        let size = usize::try_from(size).map_err(|_| invalid("section too large"))?;
        i = i
            .checked_add(size)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| invalid("section runs past the end of the module"))?;
        if id == 8 {
            start = true;
        }
    }
    Ok(Sections { start })
}
