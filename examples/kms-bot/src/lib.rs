#![doc = include_str!("../README.md")]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kms_client::proto::{IntentProposal, Pending};
use kms_client::{Bytes, Client, ClientError, Request, Response, SignRequest, WalletRef};
use kms_constraints::{HostConfig, ParamValue, Registry};
use kms_telegram::api::{GetUpdates, Message, SendMessage};
use kms_telegram::{ApiError, BotClient};

/// Lamports per SOL.
const LAMPORTS_PER_SOL: u64 = 1_000_000_000;
/// Compute-unit limit and price the bot's transactions may carry (the module parameters bound them).
const MAX_CU_LIMIT: u32 = 200_000;
const MAX_CU_PRICE: u64 = 10_000;
/// SPL Token program.
const TOKEN_PROGRAM: &str = "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA";
/// Wrapped SOL, the quote mint of a pump.fun bonding curve.
const WSOL_MINT: &str = "So11111111111111111111111111111111111111112";
/// The largest priority fee (CU limit × CU price, lamports) a trade may pay.
const MAX_PRIORITY_FEE: u64 = 10_000;
/// How long a limit order stays armed.
const LIMIT_ORDER_SECS: u64 = 24 * 3600;

/// What the bot needs to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// The signer's bus socket (`kms dev`: `<state dir>/bus.sock`).
    pub kms_socket: PathBuf,
    /// The signer bot's username, where users approve (without `@`).
    pub signer_bot: String,
    /// A Solana JSON-RPC endpoint for `/balance`, recent blockhashes and broadcasting; without
    /// one the bot signs with an all-zero blockhash and does not broadcast.
    pub rpc_url: Option<String>,
    /// Long-poll timeout of `getUpdates`, in seconds.
    pub poll_timeout_secs: u32,
}

/// Why the bot stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BotError {
    /// The built-in modules could not be loaded.
    #[error("built-in modules: {0}")]
    Modules(String),
    /// The Bot API refused the bot (wrong token, webhook set).
    #[error("Bot API: {0}")]
    Telegram(#[from] ApiError),
}

/// The example trading bot. Everything it knows is public: addresses, challenge ids, signatures.
pub struct TradingBot {
    tg: BotClient,
    cfg: Config,
    registry: Registry,
    /// Telegram username (lower case, no `@`) → wallet address, filled by `/start`.
    directory: Mutex<HashMap<String, String>>,
    /// User → wallet 0 address.
    wallets: Mutex<HashMap<u64, String>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `1.5` → 1 500 000 000 lamports (at most 9 decimals, no sign, no exponent).
fn parse_sol(text: &str) -> Option<u64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && frac.is_empty()
        || frac.len() > 9
        || !whole
            .bytes()
            .chain(frac.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let frac: u64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().ok()?
    };
    whole.checked_mul(LAMPORTS_PER_SOL)?.checked_add(frac)
}

fn sol(lamports: u64) -> String {
    let s = format!(
        "{}.{:09}",
        lamports / LAMPORTS_PER_SOL,
        lamports % LAMPORTS_PER_SOL
    );
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn address(text: &str) -> Option<[u8; 32]> {
    kms_solana::address_from_base58(text)
}

/// A legacy message in which `from` pays for and signs one System transfer to `to`.
fn transfer_message(from: [u8; 32], to: [u8; 32], lamports: u64, blockhash: [u8; 32]) -> Vec<u8> {
    let mut m = vec![1, 0, 1, 3];
    m.extend_from_slice(&from);
    m.extend_from_slice(&to);
    m.extend_from_slice(&[0; 32]); // System program
    m.extend_from_slice(&blockhash);
    // One instruction: program 2, accounts [0, 1], data = Transfer (2) + lamports.
    m.extend_from_slice(&[1, 2, 2, 0, 1, 12, 2, 0, 0, 0]);
    m.extend_from_slice(&lamports.to_le_bytes());
    m
}

impl TradingBot {
    /// A bot that talks to Telegram through `tg` and to the signer per `cfg`.
    ///
    /// # Errors
    /// [`BotError::Modules`] when the built-in module registry cannot be loaded.
    pub fn new(tg: BotClient, cfg: Config) -> Result<Self, BotError> {
        let registry = Registry::with_builtins(HostConfig::default())
            .map_err(|e| BotError::Modules(e.to_string()))?;
        Ok(Self {
            tg,
            cfg,
            registry,
            directory: Mutex::new(HashMap::new()),
            wallets: Mutex::new(HashMap::new()),
        })
    }

    /// Serves updates until `stop` is set.
    ///
    /// # Errors
    /// A Bot API refusal that retrying cannot fix (a wrong token, a webhook set).
    pub fn run(self: &Arc<Self>, stop: &AtomicBool) -> Result<(), BotError> {
        let mut offset = None;
        while !stop.load(Ordering::Relaxed) {
            let updates = match self.tg.get_updates(&GetUpdates {
                offset,
                limit: Some(100),
                timeout: Some(self.cfg.poll_timeout_secs),
                allowed_updates: Some(vec!["message".into()]),
            }) {
                Ok(u) => u,
                Err(e) if e.is_transient() => {
                    std::thread::sleep(Duration::from_millis(500));
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            for u in updates {
                offset = Some(u.update_id + 1);
                if let Some(m) = u.message {
                    self.on_message(&m);
                }
            }
        }
        Ok(())
    }

    fn on_message(self: &Arc<Self>, m: &Message) {
        let (Some(from), Some(text)) = (m.from.as_ref(), m.text.as_deref()) else {
            return;
        };
        let username = from.username.as_deref().map(str::to_lowercase);
        let reply = self.command(from.id, username.as_deref(), text);
        self.say(from.id, reply);
    }

    /// Sends `text` to `user`'s chat with this bot.
    fn say(&self, user: u64, text: String) {
        let Ok(chat_id) = i64::try_from(user) else {
            return;
        };
        let sent = self.tg.send_message(&SendMessage {
            chat_id,
            text,
            parse_mode: None,
            reply_markup: None,
        });
        if let Err(e) = sent {
            eprintln!("kms-bot: sendMessage to {user}: {e}");
        }
    }

    fn kms(&self, req: &Request) -> Result<Response, String> {
        let mut c = Client::connect(&self.cfg.kms_socket).map_err(|e| format!("signer: {e}"))?;
        c.set_timeout(Some(Duration::from_secs(30)))
            .map_err(|e| e.to_string())?;
        c.call(req).map_err(|e| match e {
            ClientError::Remote(w) => w.message,
            other => format!("signer: {other}"),
        })
    }

    /// Answers one command (the reply text); long outcomes are followed up by a thread.
    pub fn command(self: &Arc<Self>, user: u64, username: Option<&str>, text: &str) -> String {
        let mut words = text.split_whitespace();
        let cmd = words.next().unwrap_or("");
        let cmd = cmd.split('@').next().unwrap_or(cmd);
        let args: Vec<&str> = words.collect();
        let result = match cmd {
            "/start" => self.start(user, username),
            "/send" => self.send(user, &args),
            "/balance" => self.balance(user),
            "/limit" => self.limit(user, &args),
            "/revoke" => self.revoke(user, &args),
            _ => Ok(HELP.to_string()),
        };
        result.unwrap_or_else(|e| format!("Not done: {e}"))
    }

    fn wallet(&self, user: u64) -> Result<String, String> {
        if let Some(a) = lock(&self.wallets).get(&user) {
            return Ok(a.clone());
        }
        match self.kms(&Request::ListWallets { user })? {
            Response::Wallets { wallets } => {
                let a = wallets
                    .first()
                    .map(|w| w.address.clone())
                    .ok_or("no wallet yet: send /start")?;
                lock(&self.wallets).insert(user, a.clone());
                Ok(a)
            }
            other => Err(format!("unexpected answer {other:?}")),
        }
    }

    fn start(&self, user: u64, username: Option<&str>) -> Result<String, String> {
        let signer = &self.cfg.signer_bot;
        let (address, new) = match self.kms(&Request::CreateUser { user }) {
            Ok(Response::UserCreated { address, .. }) => (address, true),
            Ok(other) => return Err(format!("unexpected answer {other:?}")),
            Err(_) => (self.wallet(user)?, false),
        };
        lock(&self.wallets).insert(user, address.clone());
        if let Some(name) = username {
            lock(&self.directory).insert(name.to_owned(), address.clone());
        }
        Ok(if new {
            format!(
                "Your wallet: {address}\n\nYour recovery phrase and a short backup quiz are in your chat with @{signer}: only the signer ever sees the phrase, this bot never does. Every transaction you make is approved there too."
            )
        } else {
            format!("Welcome back. Your wallet: {address}")
        })
    }

    fn params(&self, module: &str, values: &[ParamValue]) -> Result<Vec<u8>, String> {
        let hash = self
            .registry
            .builtin(module)
            .ok_or_else(|| format!("no built-in module {module}"))?;
        let module = self.registry.get(&hash).ok_or("module not loaded")?;
        let schema = module
            .compiled()
            .schema()
            .ok_or("module without a parameter schema")?;
        schema.encode(values).map_err(|e| e.to_string())
    }

    fn send(self: &Arc<Self>, user: u64, args: &[&str]) -> Result<String, String> {
        let [to, amount] = args else {
            return Err("usage: /send @username <SOL>".into());
        };
        let name = to.trim_start_matches('@').to_lowercase();
        let to_addr = lock(&self.directory)
            .get(&name)
            .cloned()
            .ok_or_else(|| format!("@{name} has no wallet here (they must /start this bot)"))?;
        let lamports = parse_sol(amount).ok_or("the amount must be SOL like 0.25")?;
        let from = address(&self.wallet(user)?).ok_or("bad wallet address")?;
        let to = address(&to_addr).ok_or("bad destination address")?;
        let blockhash = self.rpc_blockhash()?;
        let message = transfer_message(from, to, lamports, blockhash);
        let params = self.params(
            "sol-withdraw",
            &[
                ParamValue::Pubkey(from),
                ParamValue::U32(MAX_CU_LIMIT),
                ParamValue::U64(MAX_CU_PRICE),
                ParamValue::Pubkey(to),
                ParamValue::U64(lamports),
            ],
        )?;
        let what = format!("{} SOL to @{name}", sol(lamports));
        let answer = self.kms(&Request::Sign(SignRequest {
            user,
            wallet: WalletRef::Derived(0),
            module: "sol-withdraw".into(),
            params: Bytes(params),
            message: Bytes(message),
            lookup: vec![],
            claimed_description: Some(format!("Send {what}")),
        }))?;
        match answer {
            Response::Signed {
                signature,
                transaction,
                ..
            } => Ok(self.broadcast(&what, &signature, &transaction.0)),
            Response::Pending(p) => {
                self.follow(user, p.clone(), what);
                Ok(format!(
                    "Approve in @{}: {}",
                    self.cfg.signer_bot, p.description
                ))
            }
            other => Err(format!("unexpected answer {other:?}")),
        }
    }

    /// Waits in a thread for the user's decision on `p`, then reports it in chat.
    fn follow(self: &Arc<Self>, user: u64, p: Pending, what: String) {
        let bot = Arc::clone(self);
        std::thread::spawn(move || {
            let deadline = Instant::now()
                + Duration::from_secs(p.expires_at.saturating_sub(now()).saturating_add(5));
            loop {
                let answer = bot.kms(&Request::ChallengeOutcome {
                    user,
                    challenge: p.challenge.clone(),
                });
                let text = match answer {
                    Ok(Response::Waiting { .. }) if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(200));
                        continue;
                    }
                    Ok(Response::Waiting { .. }) => format!("Expired: {what}"),
                    Ok(Response::Signed {
                        signature,
                        transaction,
                        ..
                    }) => bot.broadcast(&what, &signature, &transaction.0),
                    Ok(Response::Rejected { .. }) => format!("You rejected: {what}"),
                    Ok(Response::IntentCreated { intent }) => format!(
                        "Armed as standing intent #{intent}: {what}. The signer will sign it without asking when it is executed; /revoke {intent} cancels it."
                    ),
                    Ok(other) => format!("Done: {other:?}"),
                    Err(e) => format!("Not done: {e}"),
                };
                bot.say(user, text);
                return;
            }
        });
    }

    /// Broadcasts a signed transaction when an RPC endpoint is configured.
    fn broadcast(&self, what: &str, signature: &str, transaction: &[u8]) -> String {
        let Some(rpc) = &self.cfg.rpc_url else {
            return format!(
                "Signed: {what}\nSignature: {signature}\n(no RPC configured: not broadcast)"
            );
        };
        let b64 = kms_client_b64(transaction);
        let body = serde_json::json!({"jsonrpc":"2.0","id":1,"method":"sendTransaction",
            "params":[b64, {"encoding":"base64"}]});
        match rpc_call(rpc, &body) {
            Ok(_) => format!("Sent: {what}\nSignature: {signature}"),
            Err(e) => format!("Signed but not sent ({e}): {what}\nSignature: {signature}"),
        }
    }

    fn rpc_blockhash(&self) -> Result<[u8; 32], String> {
        let Some(rpc) = &self.cfg.rpc_url else {
            return Ok([0; 32]);
        };
        let body = serde_json::json!({"jsonrpc":"2.0","id":1,"method":"getLatestBlockhash"});
        let v = rpc_call(rpc, &body)?;
        v["value"]["blockhash"]
            .as_str()
            .and_then(address)
            .ok_or_else(|| "RPC answered no blockhash".into())
    }

    fn balance(&self, user: u64) -> Result<String, String> {
        let wallet = self.wallet(user)?;
        let Some(rpc) = &self.cfg.rpc_url else {
            return Ok(format!(
                "Your wallet: {wallet}\n(no RPC configured: balance unknown)"
            ));
        };
        let body =
            serde_json::json!({"jsonrpc":"2.0","id":1,"method":"getBalance","params":[wallet]});
        let v = rpc_call(rpc, &body)?;
        let lamports = v["value"].as_u64().ok_or("RPC answered no balance")?;
        Ok(format!(
            "Your wallet: {wallet}\nBalance: {} SOL",
            sol(lamports)
        ))
    }

    /// `/limit <mint> <creator> <max SOL> <min tokens>`: a standing intent that lets one pump.fun
    /// buy of at least `min tokens` for at most `max SOL` be signed without asking (a limit
    /// order). `creator` is the coin's creator (its bonding curve names it; the creator vault is
    /// derived from it).
    fn limit(self: &Arc<Self>, user: u64, args: &[&str]) -> Result<String, String> {
        let [mint, creator, max_sol, min_tokens] = args else {
            return Err(
                "usage: /limit <mint> <creator> <max SOL> <min tokens (base units)>".into(),
            );
        };
        let mint = address(mint).ok_or("the mint must be a base58 address")?;
        let creator = address(creator).ok_or("the creator must be a base58 address")?;
        let max_cost = parse_sol(max_sol).ok_or("the price must be SOL like 0.5")?;
        let min_out: u64 = min_tokens
            .parse()
            .map_err(|_| "min tokens must be a whole number")?;
        let from = address(&self.wallet(user)?).ok_or("bad wallet address")?;
        let token_program = address(TOKEN_PROGRAM).ok_or("token program")?;
        let wsol = address(WSOL_MINT).ok_or("wrapped SOL mint")?;
        // pumpfun-trade 3.x parameters (its schema.txt): the buy's bounds, then the accounts the
        // host derives from them, the quote mint (wrapped SOL) and pump.fun's published fee and
        // buyback recipients.
        let mut values = vec![
            ParamValue::Pubkey(from),
            ParamValue::U32(MAX_CU_LIMIT),
            ParamValue::U64(MAX_CU_PRICE),
            ParamValue::Pubkey(mint),
            ParamValue::Pubkey(token_program),
            ParamValue::U64(max_cost),
            ParamValue::U64(0),
            ParamValue::U64(min_out),
            ParamValue::U64(0),
            ParamValue::Derived,
            ParamValue::U64(MAX_PRIORITY_FEE),
            ParamValue::OptPubkey(None),
            ParamValue::Pubkey(creator),
        ];
        values.extend([ParamValue::Derived; 7]);
        values.extend([
            ParamValue::Pubkey(wsol),
            ParamValue::Pubkey(token_program),
            ParamValue::Pubkey(pumpfun_trade::FEE_RECIPIENTS[0]),
            ParamValue::Pubkey(pumpfun_trade::BUYBACK_FEE_RECIPIENTS[0]),
        ]);
        values.extend([ParamValue::Derived; 7]);
        let params = self.params("pumpfun-trade", &values)?;
        let answer = self.kms(&Request::CreateIntent(IntentProposal {
            user,
            wallet: WalletRef::Derived(0),
            module: "pumpfun-trade".into(),
            params: Bytes(params),
            per_transaction_limit: max_cost,
            cumulative_limit: max_cost,
            max_uses: 1,
            valid_until: now() + LIMIT_ORDER_SECS,
        }))?;
        match answer {
            Response::Pending(p) => {
                let what = format!("buy at least {min_out} for at most {} SOL", sol(max_cost));
                self.follow(user, p.clone(), what);
                Ok(format!(
                    "Approve the limit order in @{}: {}",
                    self.cfg.signer_bot, p.description
                ))
            }
            other => Err(format!("unexpected answer {other:?}")),
        }
    }

    fn revoke(&self, user: u64, args: &[&str]) -> Result<String, String> {
        let Some(id) = args.first() else {
            return match self.kms(&Request::ListIntents { user })? {
                Response::Intents { intents } => Ok(intents
                    .iter()
                    .filter(|i| i.status == "active")
                    .map(|i| format!("#{} ({} of {} uses)", i.id, i.uses, i.max_uses))
                    .fold("Active intents (/revoke <id>):".to_string(), |a, b| {
                        a + "\n" + &b
                    })),
                other => Err(format!("unexpected answer {other:?}")),
            };
        };
        let intent: u64 = id
            .trim_start_matches('#')
            .parse()
            .map_err(|_| "usage: /revoke <id>")?;
        match self.kms(&Request::RevokeIntent { user, intent }) {
            Ok(_) => Ok(format!("Standing intent #{intent} revoked.")),
            Err(e) => Err(e),
        }
    }
}

const HELP: &str = "Commands:\n/start: your wallet\n/send @username <SOL>\n/balance\n/limit <mint> <creator> <max SOL> <min tokens>: a limit order\n/revoke [id]: cancel a standing intent";

fn kms_client_b64(bytes: &[u8]) -> String {
    use kms_client::proto::Bytes as B;
    // `Bytes` serializes as standard padded base64: reuse it instead of another encoder.
    serde_json::to_value(B(bytes.to_vec()))
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// One JSON-RPC call; the `result` member.
fn rpc_call(url: &str, body: &serde_json::Value) -> Result<serde_json::Value, String> {
    let mut resp = ureq::post(url)
        .header("content-type", "application/json")
        .send(body.to_string())
        .map_err(|e| format!("RPC: {e}"))?;
    let text = resp
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("RPC: {e}"))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|_| "RPC answer is not JSON")?;
    if let Some(e) = v.get("error") {
        return Err(format!("RPC error {e}"));
    }
    Ok(v["result"].clone())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn sol_amounts() {
        assert_eq!(parse_sol("1"), Some(1_000_000_000));
        assert_eq!(parse_sol("0.25"), Some(250_000_000));
        assert_eq!(parse_sol(".5"), Some(500_000_000));
        assert_eq!(parse_sol("0.000000001"), Some(1));
        for bad in [
            "",
            ".",
            "-1",
            "1e9",
            "0.0000000001",
            "1.2.3",
            "99999999999999999999",
        ] {
            assert_eq!(parse_sol(bad), None, "{bad}");
        }
        assert_eq!(sol(250_000_000), "0.25");
        assert_eq!(sol(2_000_000_000), "2");
    }
}
