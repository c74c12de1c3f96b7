//! The thin command-line tools: `describe`, `derive`, `modules`, `backup open`, `audit verify`.
//! Each prints its result on stdout; bad input prints a clear message on stderr and exits 2.

use std::io::Read as _;
use std::path::Path;

use kms_constraints::{HostConfig, ModuleHash, ParamType, ParamValue, Registry};
use kms_core::{Mnemonic, SolanaPathScheme};
use kms_solana::describe::{DescribeContext, describe_message, describe_transaction};
use kms_solana::text::{Kind, decode_transaction_text};
use zeroize::Zeroizing;

/// A command-line failure: exit code and message.
pub(crate) struct Failure {
    pub(crate) code: i32,
    pub(crate) message: String,
}

fn bad(message: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        message: message.into(),
    }
}

type CliResult = Result<(), Failure>;

/// Reads `arg` as transaction text, or as a file holding it when `arg` names a file.
fn tx_text(arg: &str) -> Result<String, Failure> {
    let p = Path::new(arg);
    if arg.len() < 4096 && p.is_file() {
        std::fs::read_to_string(p).map_err(|e| bad(format!("{arg}: {e}")))
    } else if arg == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| bad(format!("stdin: {e}")))?;
        Ok(s)
    } else {
        Ok(arg.to_string())
    }
}

fn message_bytes(arg: &str) -> Result<Vec<u8>, Failure> {
    let text = tx_text(arg)?;
    let (bytes, kind) =
        decode_transaction_text(text.trim()).map_err(|e| bad(format!("not a transaction: {e}")))?;
    Ok(match kind {
        Kind::Transaction => kms_solana::parse_transaction(&bytes)
            .map_err(|e| bad(format!("not a transaction: {e}")))?
            .message()
            .bytes()
            .to_vec(),
        _ => bytes,
    })
}

/// `kms describe <tx>`: the describer's words for a transaction or message (base58, base64, a
/// file, or `-` for stdin).
pub(crate) fn describe(args: &[String]) -> CliResult {
    let [arg] = args else {
        return Err(bad("usage: kms describe <base58|base64|file|->"));
    };
    let text = tx_text(arg)?;
    let (bytes, kind) =
        decode_transaction_text(text.trim()).map_err(|e| bad(format!("not a transaction: {e}")))?;
    let d = match kind {
        Kind::Transaction => {
            let tx = kms_solana::parse_transaction(&bytes).map_err(|e| bad(e.to_string()))?;
            describe_transaction(&tx, &DescribeContext::new())
        }
        _ => {
            let m = kms_solana::parse_message(&bytes).map_err(|e| bad(e.to_string()))?;
            describe_message(&m, &DescribeContext::new())
        }
    };
    print!("{d}");
    Ok(())
}

/// `kms derive --mnemonic "<words>" [--passphrase P] [--index I] [--count N]`.
pub(crate) fn derive(args: &[String]) -> CliResult {
    let mut mnemonic = None;
    let mut passphrase = Zeroizing::new(String::new());
    let (mut index, mut count) = (0u32, 1u32);
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| bad(format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--mnemonic" => mnemonic = Some(Zeroizing::new(value()?.clone())),
            "--passphrase" => passphrase = Zeroizing::new(value()?.clone()),
            "--index" => index = number(value()?, "--index", 0, kms_core::HARDENED - 1)?,
            "--count" => count = number(value()?, "--count", 1, 10_000)?,
            other => return Err(bad(format!("unknown option {other:?}"))),
        }
    }
    let mnemonic = mnemonic.ok_or_else(|| {
        bad("usage: kms derive --mnemonic \"<words>\" [--passphrase P] [--index I] [--count N]")
    })?;
    let phrase = Mnemonic::parse(&mnemonic).map_err(|e| bad(format!("--mnemonic: {e}")))?;
    let seed = phrase.to_seed(&passphrase);
    for i in index..index.saturating_add(count).min(kms_core::HARDENED) {
        let w = seed
            .solana_wallet(SolanaPathScheme::AccountChange, i)
            .map_err(|e| bad(e.to_string()))?;
        println!("{i}\tm/44'/501'/{i}'/0'\t{}", w.address());
    }
    Ok(())
}

fn number(v: &str, flag: &str, min: u32, max: u32) -> Result<u32, Failure> {
    v.parse::<u32>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| {
            bad(format!(
                "{flag} must be a whole number from {min} to {max}, got {v:?}"
            ))
        })
}

/// `kms modules list | hash <file> | verify <tx> --module <name|hash> --params <json>`.
pub(crate) fn modules(args: &[String]) -> CliResult {
    let registry = Registry::with_builtins(HostConfig::default()).map_err(|e| Failure {
        code: 1,
        message: format!("built-in modules: {e}"),
    })?;
    match args {
        [cmd] if cmd == "list" => {
            for name in builtin_names() {
                let Some(h) = registry.builtin(name) else {
                    continue;
                };
                let m = registry.get(&h);
                let version = m
                    .as_ref()
                    .and_then(|m| m.manifest().map(|e| e.version.clone()))
                    .unwrap_or_default();
                let params = m
                    .as_ref()
                    .and_then(|m| {
                        m.compiled()
                            .schema()
                            .map(|s| s.to_text().replace('\n', ", "))
                    })
                    .unwrap_or_default();
                println!("{name} {version}\n  sha256 {h}\n  params {params}");
            }
            Ok(())
        }
        [cmd, file] if cmd == "hash" => {
            let bytes = std::fs::read(file).map_err(|e| bad(format!("{file}: {e}")))?;
            println!("{}  {file}", ModuleHash::of(&bytes));
            Ok(())
        }
        [cmd, tx, rest @ ..] if cmd == "verify" => verify(&registry, tx, rest),
        _ => Err(bad(
            "usage: kms modules list | hash <file.wasm> | verify <tx> --module <name|sha256> --params <json>",
        )),
    }
}

fn builtin_names() -> [&'static str; 6] {
    [
        "sol-withdraw",
        "token-withdraw",
        "raydium-v4-swap",
        "pumpfun-trade",
        "pumpswap-trade",
        "jupiter-v6-route",
    ]
}

fn verify(registry: &Registry, tx: &str, rest: &[String]) -> CliResult {
    let (mut module, mut params, mut lookup) = (None, None, Vec::new());
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .ok_or_else(|| bad(format!("{flag} needs a value")))
        };
        match flag.as_str() {
            "--module" => module = Some(value()?.clone()),
            "--params" => params = Some(value()?.clone()),
            "--lookup" => lookup.push(
                kms_solana::address_from_base58(value()?)
                    .ok_or_else(|| bad("--lookup takes a base58 address"))?,
            ),
            other => return Err(bad(format!("unknown option {other:?}"))),
        }
    }
    let module = module.ok_or_else(|| bad("--module is required"))?;
    let hash = registry
        .builtin(&module)
        .or_else(|| ModuleHash::from_hex(&module))
        .filter(|h| registry.get(h).is_some())
        .ok_or_else(|| bad(format!("no module named or hashed {module:?}")))?;
    let params_json = params.ok_or_else(|| bad("--params is required (a JSON object)"))?;
    let params = encode_params(registry, &hash, &params_json)?;
    let message = message_bytes(tx)?;
    match registry.validate(&hash, &message, &lookup, &params) {
        Ok(()) => {
            println!("ACCEPT: {module} accepts this transaction under these parameters");
            Ok(())
        }
        Err(e) => Err(Failure {
            code: 1,
            message: format!("REFUSED: {e}"),
        }),
    }
}

/// Encodes `{"field": value, ...}` under the module's schema: pubkeys as base58 strings,
/// numbers as numbers, `ata(...)` fields omitted or `"derived"`, `opt-pubkey` as null or base58.
pub(crate) fn encode_params(
    registry: &Registry,
    hash: &ModuleHash,
    json: &str,
) -> Result<Vec<u8>, Failure> {
    let obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(json)
        .map_err(|e| bad(format!("--params is not a JSON object: {e}")))?;
    let m = registry.get(hash).ok_or_else(|| bad("unknown module"))?;
    let schema = m
        .compiled()
        .schema()
        .ok_or_else(|| bad("the module declares no parameter schema"))?;
    for k in obj.keys() {
        if !schema.fields().iter().any(|f| &f.name == k) {
            return Err(bad(format!("--params: the module has no parameter {k:?}")));
        }
    }
    let mut values = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let v = obj.get(&f.name);
        let key = |v: &serde_json::Value| {
            v.as_str()
                .and_then(kms_solana::address_from_base58)
                .ok_or_else(|| bad(format!("--params: {} must be a base58 address", f.name)))
        };
        let int = |v: Option<&serde_json::Value>, max: u64| {
            v.and_then(serde_json::Value::as_u64)
                .filter(|n| *n <= max)
                .ok_or_else(|| {
                    bad(format!(
                        "--params: {} must be a whole number up to {max}",
                        f.name
                    ))
                })
        };
        values.push(match &f.ty {
            ParamType::Ata { .. } => match v {
                None => ParamValue::Derived,
                Some(s) if s.as_str() == Some("derived") => ParamValue::Derived,
                Some(s) => ParamValue::Pubkey(key(s)?),
            },
            ParamType::Pubkey | ParamType::TokenProgram => ParamValue::Pubkey(key(
                v.ok_or_else(|| bad(format!("--params: {} is missing", f.name)))?
            )?),
            ParamType::OptPubkey => match v {
                None | Some(serde_json::Value::Null) => ParamValue::OptPubkey(None),
                Some(s) => ParamValue::OptPubkey(Some(key(s)?)),
            },
            ParamType::U8 => ParamValue::U8(int(v, u8::MAX.into())? as u8),
            ParamType::U16 => ParamValue::U16(int(v, u16::MAX.into())? as u16),
            ParamType::U32 => ParamValue::U32(int(v, u32::MAX.into())? as u32),
            ParamType::U64 => ParamValue::U64(int(v, u64::MAX)?),
            ParamType::Bool => ParamValue::Bool(
                v.and_then(serde_json::Value::as_bool)
                    .ok_or_else(|| bad(format!("--params: {} must be true or false", f.name)))?,
            ),
            _ => {
                return Err(bad(format!(
                    "--params: {} has a type this tool cannot write",
                    f.name
                )));
            }
        });
    }
    schema
        .encode(&values)
        .map_err(|e| bad(format!("--params: {e}")))
}

/// `kms backup open <file> [--password-file F] [--count N] [--show-phrase]`: decrypts a backup
/// (password from the file, or the first line of stdin) and prints its wallets.
pub(crate) fn backup(args: &[String]) -> CliResult {
    let [cmd, file, rest @ ..] = args else {
        return Err(bad(
            "usage: kms backup open <file> [--password-file F] [--count N] [--show-phrase]",
        ));
    };
    if cmd != "open" {
        return Err(bad(
            "usage: kms backup open <file> [--password-file F] [--count N] [--show-phrase]",
        ));
    }
    let (mut password_file, mut count, mut show) = (None, 1u32, false);
    let mut it = rest.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--password-file" => password_file = it.next().cloned(),
            "--count" => {
                count = number(
                    it.next().map(String::as_str).unwrap_or(""),
                    "--count",
                    1,
                    1000,
                )?
            }
            "--show-phrase" => show = true,
            other => return Err(bad(format!("unknown option {other:?}"))),
        }
    }
    let bytes = std::fs::read(file).map_err(|e| bad(format!("{file}: {e}")))?;
    kms_core::inspect_backup(&bytes).map_err(|e| bad(format!("{file}: {e}")))?;
    let password = Zeroizing::new(match password_file {
        Some(p) => std::fs::read_to_string(&p).map_err(|e| bad(format!("{p}: {e}")))?,
        None => {
            eprint!("backup password: ");
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .map_err(|e| bad(format!("stdin: {e}")))?;
            line
        }
    });
    let contents =
        kms_core::import_backup(&bytes, password.trim().as_bytes()).map_err(|e| Failure {
            code: 1,
            message: format!("{file}: {e}"),
        })?;
    let seed = match (&contents.mnemonic, &contents.raw_seed) {
        (Some(m), _) => {
            if show {
                println!("phrase: {}", m.phrase().as_str());
            }
            Some(m.to_seed(""))
        }
        (None, Some(_)) => None,
        (None, None) => None,
    };
    if contents.passphrase_needed {
        println!("note: this seed also needs its BIP39 passphrase; addresses below are without it");
    }
    if let Some(seed) = seed.as_ref().or(contents.raw_seed.as_ref()) {
        for i in 0..count {
            let w = seed
                .solana_wallet(contents.scheme, i)
                .map_err(|e| bad(e.to_string()))?;
            println!("wallet {i}: {}", w.address());
        }
    }
    for (slot, key) in &contents.imported {
        println!("imported key {slot}: {}", key.address());
    }
    Ok(())
}

/// `kms audit verify <file>`: checks the hash chain; exit 1 at the first broken entry.
pub(crate) fn audit(args: &[String]) -> CliResult {
    let [cmd, file] = args else {
        return Err(bad("usage: kms audit verify <file>"));
    };
    if cmd != "verify" {
        return Err(bad("usage: kms audit verify <file>"));
    }
    let report = crate::audit::verify_file(Path::new(file)).map_err(|e| bad(e.to_string()))?;
    println!("{report}");
    if matches!(report, crate::audit::VerifyReport::Ok { .. }) {
        Ok(())
    } else {
        Err(Failure {
            code: 1,
            message: format!("{file}: the audit log does not verify"),
        })
    }
}
