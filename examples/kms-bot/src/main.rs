//! `kms-bot`: the example trading bot. Configuration from the environment:
//!
//! | variable | meaning |
//! | --- | --- |
//! | `KMS_BOT_TOKEN_FILE` | file with this bot's token (not the signer bot's) |
//! | `KMS_SOCKET` | the signer's bus socket (default `.kms-dev/bus.sock`) |
//! | `KMS_SIGNER_BOT` | the signer bot's username, where users approve |
//! | `KMS_BOT_API` | Bot API base URL (default Telegram's) |
//! | `KMS_BOT_API_CA` | a PEM bundle to trust for it (an emulator's CA) |
//! | `SOLANA_RPC` | a JSON-RPC endpoint (optional) |

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use kms_bot::{Config, TradingBot};
use kms_telegram::{BotClient, BotToken};

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

fn run() -> Result<(), String> {
    let token_file = env("KMS_BOT_TOKEN_FILE").ok_or("KMS_BOT_TOKEN_FILE is not set")?;
    let text = std::fs::read_to_string(&token_file).map_err(|e| format!("{token_file}: {e}"))?;
    let token = BotToken::parse(text.trim()).map_err(|e| format!("{token_file}: {e}"))?;
    let mut tg = BotClient::builder(token);
    if let Some(api) = env("KMS_BOT_API") {
        tg = tg.base_url(api);
    }
    if let Some(ca) = env("KMS_BOT_API_CA") {
        let pem = std::fs::read(&ca).map_err(|e| format!("{ca}: {e}"))?;
        tg = tg.ca_pem(&pem);
    }
    let tg = tg.build().map_err(|e| e.to_string())?;
    let cfg = Config {
        kms_socket: env("KMS_SOCKET")
            .unwrap_or_else(|| ".kms-dev/bus.sock".into())
            .into(),
        signer_bot: env("KMS_SIGNER_BOT").ok_or("KMS_SIGNER_BOT is not set")?,
        rpc_url: env("SOLANA_RPC"),
        poll_timeout_secs: 25,
    };
    let bot = Arc::new(TradingBot::new(tg, cfg).map_err(|e| e.to_string())?);
    bot.run(&AtomicBool::new(false)).map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kms-bot: {e}");
            ExitCode::from(2)
        }
    }
}
