//! The Solana runtime: the `kms-svm` process (litesvm), spoken to in JSON lines over a pipe.
//! Transactions cross as wire bytes, addresses as base58, balances as numbers, so neither
//! side's Solana crate generation reaches the other.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use serde_json::{Value, json};

use crate::Step;

/// A running `kms-svm`.
pub struct Chain {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
    programs: Vec<String>,
}

/// What executing a transaction cost.
pub(crate) struct Executed {
    pub(crate) fee: u64,
    pub(crate) compute_units: u64,
}

/// Lamports as SOL text.
pub(crate) fn sol(lamports: u64) -> String {
    let s = format!(
        "{}.{:09}",
        lamports / 1_000_000_000,
        lamports % 1_000_000_000
    );
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

impl Drop for Chain {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Chain {
    /// Starts `svm` (the `kms-svm` binary).
    ///
    /// # Errors
    /// When the binary cannot be started or does not answer.
    pub fn start(svm: &Path) -> Result<Self, String> {
        let mut child = Command::new(svm)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| {
                format!(
                    "{}: {e} (build it: cargo build --release --manifest-path examples/kms-demo/svm/Cargo.toml)",
                    svm.display()
                )
            })?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        let mut chain = Self {
            child,
            stdin,
            stdout,
            programs: Vec::new(),
        };
        let v = chain.call(&json!({"op": "programs"}))?;
        chain.programs = v["programs"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        Ok(chain)
    }

    fn call(&mut self, req: &Value) -> Step<Value> {
        writeln!(self.stdin, "{req}")
            .and_then(|()| self.stdin.flush())
            .map_err(|e| format!("runtime: {e}"))?;
        let mut line = String::new();
        self.stdout
            .read_line(&mut line)
            .map_err(|e| format!("runtime: {e}"))?;
        let v: Value =
            serde_json::from_str(&line).map_err(|_| "the runtime's answer is not JSON")?;
        if v["ok"] != true && req["op"] != "send" {
            return Err(format!("runtime: {}", v["error"]));
        }
        Ok(v)
    }

    /// The programs loaded from bytecode besides the runtime's builtins.
    pub(crate) fn programs(&self) -> Vec<String> {
        self.programs.clone()
    }

    /// Whether `program` can run here (a builtin or a loaded program).
    pub(crate) fn has_program(&self, program: &str) -> Step<bool> {
        Ok(program == "11111111111111111111111111111111"
            || program == "ComputeBudget111111111111111111111111111111"
            || self.programs.iter().any(|p| p == program))
    }

    pub(crate) fn blockhash(&mut self) -> Step<[u8; 32]> {
        let v = self.call(&json!({"op": "blockhash"}))?;
        v["blockhash"]
            .as_str()
            .and_then(kms_solana::address_from_base58)
            .ok_or_else(|| "no blockhash".into())
    }

    pub(crate) fn airdrop(&mut self, address: &str, lamports: u64) -> Step<()> {
        self.call(&json!({"op": "airdrop", "address": address, "lamports": lamports}))
            .map(drop)
    }

    pub(crate) fn lamports(&mut self, address: &str) -> Step<u64> {
        let v = self.call(&json!({"op": "balance", "address": address}))?;
        v["lamports"].as_u64().ok_or_else(|| "no balance".into())
    }

    pub(crate) fn sol(&mut self, address: &str) -> Step<String> {
        Ok(format!("{} SOL", sol(self.lamports(address)?)))
    }

    /// An SPL Token mint with `supply` base units, all in `owner`'s associated token account.
    pub(crate) fn token_setup(
        &mut self,
        mint: &str,
        decimals: u8,
        owner: &str,
        owner_ata: &str,
        supply: u64,
    ) -> Step<()> {
        self.call(
            &json!({"op": "create_mint", "mint": mint, "authority": owner,
            "decimals": decimals, "supply": supply}),
        )?;
        self.call(
            &json!({"op": "token_account", "address": owner_ata, "mint": mint,
            "owner": owner, "amount": supply}),
        )
        .map(drop)
    }

    /// The token balance of a token account (0 when it does not exist).
    pub(crate) fn tokens(&mut self, account: &str) -> Step<u64> {
        let v = self.call(&json!({"op": "token_balance", "address": account}))?;
        v["amount"].as_u64().ok_or_else(|| "no amount".into())
    }

    /// Executes a signed wire transaction.
    pub(crate) fn send(&mut self, wire: &[u8]) -> Step<Executed> {
        let b64 = serde_json::to_value(kms_client::Bytes(wire.to_vec()))
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .ok_or("base64")?;
        let v = self.call(&json!({"op": "send", "tx": b64}))?;
        if v["ok"] != true {
            return Err(format!(
                "the runtime refused the transaction: {} {}",
                v["error"], v["logs"]
            ));
        }
        Ok(Executed {
            fee: v["fee"].as_u64().unwrap_or(0),
            compute_units: v["compute_units"].as_u64().unwrap_or(0),
        })
    }
}
