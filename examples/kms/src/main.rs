//! `kms`: the reference signer of the kms workspace, and its tools.
//!
//! ```text
//! kms up --config kms.toml      run the supervisor, signer, HTTPS pool and bridge (TPM)
//! kms dev [--state-dir DIR]     the same on embedded defaults, INSECURE dev sealer
//! kms describe <tx>             what a transaction does, in words
//! kms derive --mnemonic "..."   addresses of a seed phrase
//! kms modules list|hash|verify  the transaction-shape modules
//! kms backup open <file>        open an Argon2id backup
//! kms audit verify <file>       check an audit log's hash chain
//! ```
//!
//! Each process's code lives in its own module: `supervisor`, `signer`, `bridge`, `pool`. The
//! internal subcommands `__signer`, `__bridge` and `__pool` are how the supervisor starts them.

/// The supervisor and its three children write their log lines to one shared stderr. std's
/// `eprintln!` writes a line in several `write(2)` calls, so two processes logging at once
/// interleave within a line ("kms kms poolbridge: …", seen in a test run). This crate's
/// `eprintln!` formats the whole line first and writes it in one call (atomic on a pipe up to
/// `PIPE_BUF`, 4096 bytes). It shadows std's macro in every module below, so each call site keeps
/// its familiar name.
macro_rules! eprintln {
    ($($arg:tt)*) => {
        $crate::util::write_log_line(format_args!($($arg)*))
    };
}

mod audit;
mod bridge;
mod cli;
mod config;
mod nats;
mod pool;
mod replica;
mod sandbox;
mod signer;
mod supervisor;
mod sys;
mod util;

use std::os::fd::RawFd;
use std::path::PathBuf;
use std::process::ExitCode;

use config::Config;

const USAGE: &str = "\
usage:
  kms up --config <kms.toml>        supervisor + signer + HTTPS pool + bridge (TPM-sealed master key)
  kms dev [--state-dir <dir>] [--challenge-ttl S] [--telegram <telegram.toml>] [--nats <url>]
                                    the same on embedded defaults (INSECURE dev sealer; default dir .kms-dev);
                                    with --telegram, deliver through a Telegram signer bot;
                                    with --nats nats://127.0.0.1:4222 [--instance NAME], serve on NATS
                                    and replicate through JetStream KV (several instances)
  kms demo [--svm <kms-svm>]        the whole system on embedded defaults, every signature executed in a Solana runtime
  kms describe <tx|file|->          describe a transaction or message (base58 or base64)
  kms derive --mnemonic \"<words>\" [--passphrase P] [--index I] [--count N]
  kms modules list | hash <file.wasm> | verify <tx> --module <name|sha256> --params <json> [--lookup ADDR]...
  kms backup open <file> [--password-file F] [--count N] [--show-phrase]
  kms audit verify <file>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((cmd, rest)) = args.split_first() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let code = match cmd.as_str() {
        "up" => match flag(rest, "--config") {
            Some(path) => match Config::load(&PathBuf::from(path)) {
                Ok(cfg) => supervisor::run(&cfg),
                Err(e) => usage_error(&e.to_string()),
            },
            None => usage_error("kms up needs --config <kms.toml>"),
        },
        "dev" => dev(rest),
        "demo" => demo(rest),
        "describe" => tool(cli::describe(rest)),
        "derive" => tool(cli::derive(rest)),
        "modules" => tool(cli::modules(rest)),
        "backup" => tool(cli::backup(rest)),
        "audit" => tool(cli::audit(rest)),
        "__signer" => child(rest, |cfg, fds| {
            Ok(signer::run(
                cfg,
                fds("--bus-fd")?,
                fds("--pool-fd")?,
                fds("--repl-fd").ok(),
            ))
        }),
        "__bridge" => child(rest, |cfg, fds| {
            Ok(bridge::run(
                fds("--listen-fd")?,
                fds("--signer-fd")?,
                fds("--repl-fd").ok(),
                cfg,
            ))
        }),
        "__pool" => child(rest, |cfg, fds| Ok(pool::run(fds("--signer-fd")?, cfg))),
        "help" | "--help" | "-h" => {
            println!("{USAGE}");
            0
        }
        other => usage_error(&format!("unknown command {other:?}")),
    };
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// `kms demo`: runs the `kms-demo` binary beside this one (the whole system on embedded defaults,
/// transactions executed in a Solana runtime), telling it where this binary is.
fn demo(args: &[String]) -> i32 {
    let exe = match std::env::current_exe() {
        Ok(e) => e,
        Err(e) => return usage_error(&format!("cannot find this binary: {e}")),
    };
    let demo = exe.with_file_name("kms-demo");
    match std::process::Command::new(&demo)
        .arg("--kms")
        .arg(&exe)
        .args(args)
        .status()
    {
        Ok(status) => status.code().unwrap_or(1),
        Err(e) => {
            eprintln!(
                "kms: {}: {e} (build it: cargo build --release -p kms-demo, or run bash scripts/demo.sh)",
                demo.display()
            );
            1
        }
    }
}

/// `kms dev`: the embedded defaults under a state directory.
fn dev(args: &[String]) -> i32 {
    let dir = flag(args, "--state-dir").unwrap_or_else(|| ".kms-dev".into());
    let mut cfg = match std::path::absolute(&dir) {
        Ok(dir) => Config::dev(&dir),
        Err(e) => return usage_error(&format!("--state-dir {dir}: {e}")),
    };
    if let Some(ttl) = flag(args, "--challenge-ttl") {
        match ttl.parse() {
            Ok(t) => cfg.signer.challenge_ttl_secs = t,
            Err(_) => {
                return usage_error(&format!(
                    "--challenge-ttl {ttl:?} is not a number of seconds"
                ));
            }
        }
    }
    if let Some(bus) = flag(args, "--nats") {
        cfg.bus = bus;
    }
    if let Some(name) = flag(args, "--instance") {
        cfg.nats.instance = Some(name);
    }
    if let Some(file) = flag(args, "--telegram") {
        match Config::load_telegram(&PathBuf::from(file)) {
            Ok(tg) => cfg.telegram = Some(tg),
            Err(e) => return usage_error(&e.to_string()),
        }
    }
    match cfg.validate() {
        Ok(()) => supervisor::run(&cfg),
        Err(e) => usage_error(&e.to_string()),
    }
}

fn usage_error(message: &str) -> i32 {
    eprintln!("kms: {message}\n{USAGE}");
    2
}

fn tool(result: Result<(), cli::Failure>) -> i32 {
    match result {
        Ok(()) => 0,
        Err(f) => {
            eprintln!("kms: {}", f.message);
            f.code
        }
    }
}

/// The value after `name` in `args`.
fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// Runs an internal child role with its resolved configuration and inherited descriptors.
fn child(
    args: &[String],
    run: impl FnOnce(&Config, &dyn Fn(&str) -> Result<RawFd, String>) -> Result<i32, String>,
) -> i32 {
    // A child never outlives its supervisor (a SIGKILLed supervisor takes its children along).
    let supervisor = rustix::process::getppid();
    if rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .is_err()
        || rustix::process::getppid() != supervisor
    {
        return 1;
    }
    let cfg = match flag(args, "--config-json").map(|j| serde_json::from_str::<Config>(&j)) {
        Some(Ok(cfg)) => cfg,
        _ => return usage_error("internal subcommand started without a valid --config-json"),
    };
    let fds = |name: &str| -> Result<RawFd, String> {
        flag(args, name)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("internal subcommand started without {name}"))
    };
    match run(&cfg, &fds) {
        Ok(code) => code,
        Err(e) => usage_error(&e),
    }
}
