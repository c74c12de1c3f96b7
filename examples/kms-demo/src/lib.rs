#![doc = include_str!("../README.md")]

mod chain;
mod phone;
mod tx;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kms_client::proto::{ExportWhat, IntentProposal, Pending};
use kms_client::{
    Bytes, Client, ClientError, ErrorKind, Request, Response, SignRequest, WalletRef,
};
use kms_intent::{TotpParams, totp_code};

pub use chain::Chain;
use phone::Phone;

/// The demo user's Telegram id.
const ALICE: u64 = 424_242;
/// Lamports per SOL.
const SOL: u64 = 1_000_000_000;

/// Where the demo finds its parts.
#[derive(Clone, Debug)]
pub struct Demo {
    /// The `kms` binary (supervisor, signer, pool, bridge).
    pub kms: PathBuf,
    /// The `kms-svm` binary (the Solana runtime, built in its own workspace).
    pub svm: PathBuf,
}

/// Why the demo failed: the step and what was not as expected.
#[derive(Debug, thiserror::Error)]
#[error("step {step} ({title}): {reason}")]
pub struct DemoError {
    /// Step number.
    pub step: usize,
    /// Step title.
    pub title: String,
    /// What went wrong.
    pub reason: String,
}

/// What a successful run did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Steps run (all as expected).
    pub steps: usize,
    /// Transactions the signer signed and the runtime executed.
    pub executed: usize,
    /// Transactions the signer signed for programs the runtime does not have.
    pub verdict_only: usize,
    /// Requests refused as they should be.
    pub refused: usize,
}

type Step<T> = Result<T, String>;

/// A running `kms dev`.
struct Kms {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl Drop for Kms {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Kms {
    fn client(&self) -> Step<Client> {
        let c = Client::connect(&self.socket).map_err(|e| format!("bus: {e}"))?;
        c.set_timeout(Some(Duration::from_secs(60)))
            .map_err(|e| e.to_string())?;
        Ok(c)
    }
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// The transcript printer and the step bookkeeping.
struct Run<'w> {
    out: &'w mut dyn Write,
    step: usize,
    title: String,
    started: Instant,
    summary: Summary,
}

impl Run<'_> {
    fn say(&mut self, text: impl AsRef<str>) {
        for line in text.as_ref().lines() {
            let _ = writeln!(self.out, "    {line}");
        }
    }
    fn step<T>(
        &mut self,
        title: &str,
        f: impl FnOnce(&mut Self) -> Step<T>,
    ) -> Result<T, DemoError> {
        self.step += 1;
        self.title = title.to_owned();
        let _ = writeln!(self.out, "\n[{:>2}] {title}", self.step);
        let t = Instant::now();
        match f(self) {
            Ok(v) => {
                let _ = writeln!(
                    self.out,
                    "    ✓ as expected ({} ms)",
                    t.elapsed().as_millis()
                );
                self.summary.steps += 1;
                Ok(v)
            }
            Err(reason) => {
                let _ = writeln!(self.out, "    ✗ NOT as expected: {reason}");
                Err(DemoError {
                    step: self.step,
                    title: title.to_owned(),
                    reason,
                })
            }
        }
    }
}

fn call(c: &mut Client, req: &Request) -> Step<Response> {
    c.call(req).map_err(|e| format!("{e}"))
}

fn error_kind(r: Result<Response, ClientError>) -> Step<(ErrorKind, String)> {
    match r {
        Err(ClientError::Remote(e)) => Ok((e.kind, e.message)),
        Ok(other) => Err(format!("expected a refusal, got {other:?}")),
        Err(e) => Err(format!("bus: {e}")),
    }
}

fn pending(r: Step<Response>) -> Step<Pending> {
    match r? {
        Response::Pending(p) => Ok(p),
        other => Err(format!("expected a challenge for the user, got {other:?}")),
    }
}

/// Waits for what became of challenge `id`.
fn outcome(c: &mut Client, id: &str) -> Step<Result<Response, (ErrorKind, String)>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match c.call(&Request::ChallengeOutcome {
            user: ALICE,
            challenge: id.to_owned(),
        }) {
            Ok(Response::Waiting { .. }) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(Response::Waiting { .. }) => return Err(format!("challenge {id} never decided")),
            Ok(r) => return Ok(Ok(r)),
            Err(ClientError::Remote(e)) => return Ok(Err((e.kind, e.message))),
            Err(e) => return Err(format!("bus: {e}")),
        }
    }
}

/// Alice's authenticator app. The signer accepts each 30-second code once, so a code is always
/// taken from a later time step than the last one used (waiting when that is more than one step
/// ahead of the clock, since the signer accepts one step of skew).
struct Authenticator {
    secret: kms_intent::TotpSecret,
    last: std::cell::Cell<u64>,
}

impl Authenticator {
    fn code(&self) -> String {
        let mut t = phone::now().max(self.last.get() + 30);
        while t > phone::now() + 30 {
            std::thread::sleep(Duration::from_millis(200));
            t = phone::now().max(self.last.get() + 30);
        }
        self.last.set(t);
        totp_code(&self.secret, &TotpParams::default(), t)
            .as_str()
            .to_owned()
    }
}

/// Presses `label` on `challenge` in Alice's chat and, when the signer bot asks for it, types the
/// current code of her authenticator app; returns what became of the challenge.
fn approve(
    phone: &Phone,
    c: &mut Client,
    challenge: &str,
    label: &str,
    totp: &Authenticator,
) -> Step<Result<Response, (ErrorKind, String)>> {
    let answer = phone.press(ALICE, challenge, label)?;
    if answer.contains("authenticator code") {
        let reply = phone.send_code(ALICE, challenge, &totp.code())?;
        if reply.contains("not done") || reply.starts_with("Not used") {
            return Err(format!("the signer refused the code: {reply}"));
        }
    } else if answer.starts_with("Not done") {
        return Err(format!("the signer refused the press: {answer}"));
    }
    outcome(c, challenge)
}

fn signed(r: Result<Response, (ErrorKind, String)>) -> Step<(String, Vec<u8>, String)> {
    match r {
        Ok(Response::Signed {
            signature,
            transaction,
            authorized_by,
            ..
        }) => Ok((signature, transaction.0, authorized_by)),
        other => Err(format!("expected a signature, got {other:?}")),
    }
}

fn sign_request(wallet: u32, module: &str, params: Vec<u8>, message: Vec<u8>) -> Request {
    Request::Sign(SignRequest {
        user: ALICE,
        wallet: WalletRef::Derived(wallet),
        module: module.into(),
        params: Bytes(params),
        message: Bytes(message),
        lookup: vec![],
        claimed_description: Some("Totally harmless, just sign it".into()),
    })
}

/// Base units of a 6-decimal token as text.
fn tokens(units: u64) -> String {
    format!("{}.{:06}", units / 1_000_000, units % 1_000_000)
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  │ {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Demo {
    /// Runs every step, printing the transcript to `out`.
    ///
    /// # Errors
    /// The first step that did not behave as expected.
    pub fn run(&self, out: &mut dyn Write) -> Result<Summary, DemoError> {
        let mut run = Run {
            out,
            step: 0,
            title: String::new(),
            started: Instant::now(),
            summary: Summary::default(),
        };
        let state = run.step("Start the KMS on embedded defaults", |r| self.start(r))?;
        let (_tmp, kms, phone, mut chain) = state;
        let mut c = run.step("Connect the business logic to the bus", |r| {
            let c = kms.client()?;
            r.say(format!("bus socket {}", kms.socket.display()));
            Ok(c)
        })?;

        let address = run.step("Create a user and wallet", |r| {
            match call(&mut c, &Request::CreateUser { user: ALICE })? {
                Response::UserCreated { address, .. } => {
                    r.say(format!(
                        "Alice (Telegram user {ALICE}) has wallet {address}"
                    ));
                    Ok(address)
                }
                other => Err(format!("{other:?}")),
            }
        })?;
        let user = tx::address(&address).map_err(|reason| DemoError {
            step: run.step,
            title: run.title.clone(),
            reason,
        })?;

        let words = run.step("Show the seed once, then pass the backup quiz", |r| {
            let words = phone.seed_phrase(ALICE)?;
            r.say(format!(
                "the signer bot showed Alice her 24-word phrase once (in her chat only; this transcript shows the first word: {:?} …)",
                words[0]
            ));
            let quiz = phone.quiz(ALICE, &words)?;
            for line in quiz {
                r.say(line);
            }
            Ok(words)
        })?;

        let bob = tx::demo_key(b"bob");
        run.step("Withdraw 25 tokens (before 2FA is on): the ATA and SPL Token programs run for real", |r| {
            chain.airdrop(&address, 2 * SOL)?;
            r.say(format!("the runtime funded Alice with 2 SOL: balance {}", chain.sol(&address)?));
            let mint = tx::demo_key(b"demo-usd-mint");
            let (m, a_ata, b_ata) = (tx::b58(&mint), tx::b58(&tx::ata(user, mint)), tx::b58(&tx::ata(bob, mint)));
            chain.token_setup(&m, 6, &address, &a_ata, 100_000_000)?;
            r.say(format!("the runtime holds a 6-decimal mint {m} and 100 of its tokens in Alice's token account"));
            let before = (chain.tokens(&a_ata)?, chain.tokens(&b_ata)?);
            let bh = chain.blockhash()?;
            let msg = tx::token_transfer(user, mint, 6, bob, 25_000_000, bh);
            let params = tx::token_params(user, mint, 6, bob, 25_000_000)?;
            let p = pending(call(&mut c, &sign_request(0, "token-withdraw", params, msg)))?;
            r.say("the signer's description:");
            r.say(indent(&p.description));
            let answer = phone.press(ALICE, &p.challenge, "Approve")?;
            if answer.starts_with("Not done") {
                return Err(answer);
            }
            let (sig, wire, by) = signed(outcome(&mut c, &p.challenge)?)?;
            r.say(format!("Alice pressed Approve (no second factor is enabled yet); signed ({by}): {sig}"));
            let exec = chain.send(&wire)?;
            r.say(format!(
                "executed: the ATA program created Bob's token account, SPL Token moved the tokens ({} compute units)",
                exec.compute_units
            ));
            let after = (chain.tokens(&a_ata)?, chain.tokens(&b_ata)?);
            r.say(format!(
                "tokens: Alice {} → {}, Bob {} → {}",
                tokens(before.0), tokens(after.0), tokens(before.1), tokens(after.1)
            ));
            if after != (before.0 - 25_000_000, before.1 + 25_000_000) {
                return Err("the token balances did not move as signed".into());
            }
            r.summary.executed += 1;
            Ok(())
        })?;

        let totp = run.step("Enable TOTP (QR code for the authenticator app)", |r| {
            let _ = call(
                &mut c,
                &Request::EnableTotp {
                    user: ALICE,
                    proof: None,
                },
            )?;
            let (uri, qr) = phone.totp_enrollment(ALICE)?;
            for l in qr.lines() {
                r.say(l);
            }
            let secret = phone::totp_secret(&uri)?;
            let code = totp_code(&secret, &TotpParams::default(), phone::now() - 30);
            let app = Authenticator {
                secret,
                last: std::cell::Cell::new(phone::now() - 30),
            };
            match call(
                &mut c,
                &Request::ConfirmTotp {
                    user: ALICE,
                    code: kms_client::SecretText::new(code.as_str()),
                },
            )? {
                Response::Done { what } => {
                    r.say(format!("confirmed with a code from the app: {what}"))
                }
                other => return Err(format!("{other:?}")),
            }
            Ok(app)
        })?;

        run.step("Withdraw 0.5 SOL: approved in chat with the token and a TOTP code", |r| {
            let before = (chain.lamports(&address)?, chain.lamports(&tx::b58(&bob))?);
            let bh = chain.blockhash()?;
            let msg = tx::sol_transfer(user, bob, SOL / 2, bh);
            let p = pending(call(&mut c, &sign_request(0, "sol-withdraw", tx::sol_params(user, bob, SOL / 2)?, msg)))?;
            r.say("the business logic claimed: \"Totally harmless, just sign it\"; the signer wrote instead:");
            r.say(indent(&p.description));
            let answer = phone.press(ALICE, &p.challenge, "Approve")?;
            r.say(format!("Alice pressed Approve; the signer bot answered: {answer:?}"));
            let reply = phone.send_code(ALICE, &p.challenge, &totp.code())?;
            r.say(format!("Alice replied to the request with her TOTP code; the signer bot answered: {reply:?}"));
            let (sig, wire, by) = signed(outcome(&mut c, &p.challenge)?)?;
            r.say(format!("signed ({by}): {sig}"));
            let exec = chain.send(&wire)?;
            r.say(format!("executed by the Solana runtime: fee {} lamports, {} compute units", exec.fee, exec.compute_units));
            let after = (chain.lamports(&address)?, chain.lamports(&tx::b58(&bob))?);
            r.say(format!(
                "Alice {} → {} SOL, Bob {} → {} SOL",
                chain::sol(before.0), chain::sol(after.0), chain::sol(before.1), chain::sol(after.1)
            ));
            if after.1 != before.1 + SOL / 2 || after.0 != before.0 - SOL / 2 - exec.fee {
                return Err("the balances did not move as signed".into());
            }
            r.summary.executed += 1;
            Ok(())
        })?;

        run.step("A Raydium v4 swap and a pump.fun buy, approved", |r| {
            let bh = chain.blockhash()?;
            for (name, module, program) in [
                ("Raydium v4 swap", "raydium-v4-swap", "675kPX9MHTjS2zt1qfr1NYHuzeLXfQM9H24wFSUt1Mp8"),
                ("pump.fun buy", "pumpfun-trade", "6EF8rrecthR5Dkzon8Nwu78hRvfCKubJ14M5uBEwF6P"),
            ] {
                let (msg, params, lookup) = tx::fixture(module, user, bh)?;
                let mut req = sign_request(0, module, params, msg);
                if let Request::Sign(s) = &mut req {
                    s.lookup = lookup;
                }
                let p = pending(call(&mut c, &req))?;
                r.say(format!("{name}: the signer's description:"));
                r.say(indent(&p.description));
                let result = approve(&phone, &mut c, &p.challenge, "Approve", &totp)?;
                let (sig, wire, _) = signed(result)?;
                r.say(format!("signed: {sig}"));
                if chain.has_program(program)? {
                    chain.send(&wire)?;
                    r.summary.executed += 1;
                } else {
                    r.say(format!(
                        "the runtime has no bytecode of program {program} (it ships in no crate and is not dumped into this repository): the module's verdict is all this demo shows"
                    ));
                    r.summary.verdict_only += 1;
                }
            }
            Ok(())
        })?;

        let intent = run.step(
            "A standing intent for a limit order, signed later without asking",
            |r| {
                let (_, params, _) = tx::fixture("pumpfun-trade", user, chain.blockhash()?)?;
                let p = pending(call(
                    &mut c,
                    &Request::CreateIntent(IntentProposal {
                        user: ALICE,
                        wallet: WalletRef::Derived(0),
                        module: "pumpfun-trade".into(),
                        params: Bytes(params.clone()),
                        per_transaction_limit: SOL,
                        cumulative_limit: SOL,
                        max_uses: 1,
                        valid_until: phone::now() + 24 * 3600,
                    }),
                ))?;
                r.say("the signer's description of the intent:");
                r.say(indent(&p.description));
                let result = approve(&phone, &mut c, &p.challenge, "Approve intent", &totp)?;
                let id = match result {
                    Ok(Response::IntentCreated { intent }) => intent,
                    other => return Err(format!("expected an intent, got {other:?}")),
                };
                r.say(format!(
                    "Alice approved (with her TOTP code): standing intent #{id}"
                ));
                r.say("later the price is reached and the bot submits the buy:");
                let (msg, _, _) = tx::fixture("pumpfun-trade", user, chain.blockhash()?)?;
                let before = phone.message_count(ALICE);
                let (sig, _, by) = signed(Ok(call(
                    &mut c,
                    &sign_request(0, "pumpfun-trade", params, msg),
                )?))?;
                r.say(format!(
                    "signed at once ({by}), nothing asked of Alice: {sig}"
                ));
                if phone.message_count(ALICE) != before {
                    return Err("Alice was asked although the intent covers the request".into());
                }
                if !by.starts_with("intent ") {
                    return Err(format!("authorized by {by}, not by the intent"));
                }
                r.say("the runtime has no pump.fun bytecode: module verdict only");
                r.summary.verdict_only += 1;
                Ok(id)
            },
        )?;

        run.step(
            "A tampered transaction (an added transfer to an attacker) is refused by its module",
            |r| {
                let attacker = tx::demo_key(b"attacker");
                let bh = chain.blockhash()?;
                let msg = tx::sol_transfer_with_extra(user, bob, SOL / 10, attacker, SOL, bh);
                let (kind, reason) = error_kind(c.call(&sign_request(
                    0,
                    "sol-withdraw",
                    tx::sol_params(user, bob, SOL / 10)?,
                    msg,
                )))?;
                r.say(format!("refused ({kind:?}): {reason}"));
                if kind != ErrorKind::ShapeRefused {
                    return Err(format!("refused as {kind:?}, not by the module"));
                }
                r.summary.refused += 1;
                Ok(())
            },
        )?;

        run.step(
            "A stolen chat account (no second factor) tries to withdraw",
            |r| {
                let thief = tx::demo_key(b"thief");
                let bh = chain.blockhash()?;
                let before = chain.lamports(&address)?;
                let p = pending(call(
                    &mut c,
                    &sign_request(
                        0,
                        "sol-withdraw",
                        tx::sol_params(user, thief, SOL)?,
                        tx::sol_transfer(user, thief, SOL, bh),
                    ),
                ))?;
                let answer = phone.press(ALICE, &p.challenge, "Approve")?;
                r.say(format!(
                    "the thief pressed Approve in Alice's chat: {answer:?}"
                ));
                for guess in ["123456", "000000", "654321"] {
                    let reply = phone.send_code(ALICE, &p.challenge, guess)?;
                    r.say(format!("guessed code {guess}: {reply:?}"));
                    phone.press(ALICE, &p.challenge, "Approve")?;
                }
                let (kind, msg) = error_kind(c.call(&Request::Decide {
                    user: ALICE,
                    token: kms_client::SecretText::new(phone.button_token(
                        ALICE,
                        &p.challenge,
                        "Approve",
                    )?),
                    proof: None,
                }))?;
                r.say(format!(
                    "through the bus, with the token but no factor: {kind:?}: {msg}"
                ));
                if !matches!(
                    kind,
                    ErrorKind::SecondFactorRequired | ErrorKind::RateLimited | ErrorKind::Locked
                ) {
                    return Err(format!("unexpected refusal {kind:?}"));
                }
                if chain.lamports(&address)? != before {
                    return Err("Alice's balance changed".into());
                }
                r.say(format!(
                    "nothing was signed; Alice still has {} SOL",
                    chain::sol(before)
                ));
                r.summary.refused += 1;
                Ok(())
            },
        )?;

        run.step(
            "The intent is revoked and the next request is no longer signed without asking",
            |r| {
                match call(
                    &mut c,
                    &Request::RevokeIntent {
                        user: ALICE,
                        intent,
                    },
                )? {
                    Response::Done { what } => r.say(format!("revoked: {what}")),
                    other => return Err(format!("{other:?}")),
                }
                let (msg, params, _) = tx::fixture("pumpfun-trade", user, chain.blockhash()?)?;
                let p = pending(call(&mut c, &sign_request(0, "pumpfun-trade", params, msg)))?;
                r.say(format!(
                    "the same buy now needs Alice's decision (challenge {}); she rejects it",
                    p.challenge
                ));
                phone.press(ALICE, &p.challenge, "Reject")?;
                match outcome(&mut c, &p.challenge)? {
                    Ok(Response::Rejected { .. }) => r.say("rejected: nothing signed"),
                    other => return Err(format!("{other:?}")),
                }
                r.summary.refused += 1;
                Ok(())
            },
        )?;

        run.step("Export the seed as an encrypted backup with 2FA, then restore it", |r| {
            let p = pending(call(&mut c, &Request::Export { user: ALICE, what: ExportWhat::Seed }))?;
            r.say("Alice approves and sends her TOTP code; the signer runs Argon2id (64 MiB, 3 passes)…");
            let backup = match approve(&phone, &mut c, &p.challenge, "Approve", &totp)? {
                Ok(Response::Exported { backup }) => backup.0,
                other => return Err(format!("expected the backup, got {other:?}")),
            };
            let password = phone.backup_password(ALICE)?;
            r.say(format!("the business logic got {} encrypted bytes; the password went to Alice's chat only", backup.len()));
            let contents = kms_core::import_backup(&backup, password.as_bytes()).map_err(|e| e.to_string())?;
            let phrase = contents.mnemonic.as_ref().ok_or("the backup holds no phrase")?;
            let restored_words: Vec<String> = phrase.phrase().as_str().split(' ').map(str::to_owned).collect();
            let seed = phrase.to_seed("");
            let wallet = seed.solana_wallet(contents.scheme, 0).map_err(|e| e.to_string())?;
            let restored = wallet.address().to_string();
            r.say(format!("restored with the password: wallet 0 is {restored}"));
            if restored != address || restored_words != words {
                return Err("the restored seed is not Alice's".into());
            }
            if kms_core::import_backup(&backup, b"wrong password").is_ok() {
                return Err("a wrong password opened the backup".into());
            }
            r.say("a wrong password does not open it");
            Ok(())
        })?;

        let log = kms.log();
        let secrets_in_log = words
            .iter()
            .filter(|w| w.len() > 4 && log.contains(&format!(" {w} ")))
            .count();
        run.step("Nothing secret reached the logs", |r| {
            if secrets_in_log > 2 {
                return Err("seed words are in the process log".into());
            }
            r.say(format!(
                "{} lines of process log checked",
                log.lines().count()
            ));
            Ok(())
        })?;
        drop(c);
        drop(kms);
        let mut summary = std::mem::take(&mut run.summary);
        summary.steps = run.step;
        let _ = writeln!(
            run.out,
            "\nDone in {:.1} s: {} steps as expected; {} transactions executed by the Solana runtime, {} signed with the module's verdict only (program not loadable), {} requests refused as they should be.",
            run.started.elapsed().as_secs_f64(),
            summary.steps,
            summary.executed,
            summary.verdict_only,
            summary.refused
        );
        Ok(summary)
    }

    /// The state directory, `kms dev --telegram` against the emulator, the phone and the chain.
    fn start(&self, r: &mut Run<'_>) -> Step<(tempfile::TempDir, Kms, Phone, Chain)> {
        let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
        let phone = Phone::start(tmp.path(), ALICE)?;
        r.say(format!(
            "Bot API emulator (test CA, loopback TLS) at {}",
            phone.base_url()
        ));
        let socket = tmp.path().join("bus.sock");
        let log = tmp.path().join("kms.log");
        let log_file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let child = Command::new(&self.kms)
            .arg("dev")
            .arg("--state-dir")
            .arg(tmp.path())
            .arg("--telegram")
            .arg(phone.config_path())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().map_err(|e| e.to_string())?)
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("{}: {e}", self.kms.display()))?;
        let kms = Kms { child, socket, log };
        wait_ready(&kms)?;
        let text = kms.log();
        if let Some(w) = text.lines().find(|l| l.contains("WARNING")) {
            r.say(format!("kms dev says: {}", w.trim()));
        }
        for l in text
            .lines()
            .filter(|l| l.contains("started signer") || l.contains("ready"))
        {
            r.say(l.trim());
        }
        let chain = Chain::start(&self.svm)?;
        r.say(format!(
            "Solana runtime (litesvm) with the programs shipped in its crate: {}",
            chain.programs().join(", ")
        ));
        Ok((tmp, kms, phone, chain))
    }
}

fn wait_ready(kms: &Kms) -> Step<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut c) = Client::connect(&kms.socket) {
            let _ = c.set_timeout(Some(Duration::from_secs(5)));
            if matches!(c.call(&Request::Ping), Ok(Response::Pong)) {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!("kms did not become ready:\n{}", kms.log()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `kms-svm` binary beside `exe`, or where `scripts/demo.sh` builds it
/// (`target/svm/release/kms-svm`, with `exe` in `target/<profile>/`).
#[must_use]
pub fn find_svm(exe: &Path) -> PathBuf {
    let dir = exe.parent().unwrap_or(Path::new("."));
    let beside = dir.join("kms-svm");
    if beside.exists() {
        return beside;
    }
    dir.parent()
        .unwrap_or(Path::new("."))
        .join("svm")
        .join("release")
        .join("kms-svm")
}
