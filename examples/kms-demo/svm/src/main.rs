//! `kms-svm`: an in-process Solana runtime (litesvm) behind a pipe. One JSON request per line on
//! standard input, one JSON answer per line on standard output:
//!
//! | request | answer |
//! | --- | --- |
//! | `{"op":"blockhash"}` | `{"ok":true,"blockhash":"<base58>"}` |
//! | `{"op":"airdrop","address":"<b58>","lamports":N}` | `{"ok":true}` |
//! | `{"op":"balance","address":"<b58>"}` | `{"ok":true,"lamports":N}` (0 for a missing account) |
//! | `{"op":"send","tx":"<base64 wire transaction>"}` | `{"ok":true,"fee":N,"compute_units":N,"logs":[…]}` or `{"ok":false,"error":"…","logs":[…]}` |
//! | `{"op":"programs"}` | `{"ok":true,"programs":["<b58>",…]}`: the programs loaded besides the builtins |
//! | `{"op":"create_mint","mint":"<b58>","authority":"<b58>","decimals":D,"supply":N}` | `{"ok":true}`: an SPL Token mint account (rent-exempt, owned by the Token program) |
//! | `{"op":"token_account","address":"<b58>","mint":"<b58>","owner":"<b58>","amount":N}` | `{"ok":true}`: an initialized SPL Token account |
//! | `{"op":"token_balance","address":"<b58>"}` | `{"ok":true,"amount":N}` (0 for a missing account) |
//!
//! Signatures are verified and blockhashes checked, as a validator does. A line that is not a
//! request gets `{"ok":false,"error":"…"}`; the process ends at the end of its input.

use std::io::{BufRead, Write};
use std::str::FromStr;

use base64::Engine as _;
use litesvm::LiteSVM;
use serde_json::{Value, json};
use solana_address::Address;
use solana_transaction::versioned::VersionedTransaction;

/// Programs `LiteSVM::with_default_programs` loads from the bytecode shipped in the crate.
const DEFAULT_PROGRAMS: [&str; 4] = [
    "TokenkegQfeZyiNwAJbNbGKPFXCWuBvf9Ss623VQ5DA",
    "TokenzQdBNbLqP5VEhdkAS6EPFLC1PHnBqCXEpPxuEb",
    "ATokenGPvbdGVxr1b2hvZbsiqW5xWH25efTNsLJA8knL",
    "MemoSq4gqABAXKb96qnH8TysNcWxMyWCqXgDLGmfcHr",
];

fn address(v: &Value, field: &str) -> Result<Address, String> {
    let s = v[field]
        .as_str()
        .ok_or_else(|| format!("`{field}` is missing"))?;
    Address::from_str(s).map_err(|_| format!("`{field}` is not a base58 address"))
}

fn handle(svm: &mut LiteSVM, req: &Value) -> Result<Value, String> {
    match req["op"].as_str().unwrap_or("") {
        "blockhash" => Ok(json!({"ok": true, "blockhash": svm.latest_blockhash().to_string()})),
        "airdrop" => {
            let to = address(req, "address")?;
            let lamports = req["lamports"].as_u64().ok_or("`lamports` is missing")?;
            svm.airdrop(&to, lamports)
                .map_err(|e| format!("airdrop failed: {:?}", e.err))?;
            Ok(json!({"ok": true}))
        }
        "balance" => {
            let a = address(req, "address")?;
            Ok(json!({"ok": true, "lamports": svm.get_balance(&a).unwrap_or(0)}))
        }
        "send" => {
            let b64 = req["tx"].as_str().ok_or("`tx` is missing")?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b64)
                .map_err(|_| "`tx` is not base64")?;
            let tx: VersionedTransaction =
                bincode::deserialize(&bytes).map_err(|e| format!("not a wire transaction: {e}"))?;
            Ok(match svm.send_transaction(tx) {
                Ok(meta) => json!({"ok": true, "fee": meta.fee,
                    "compute_units": meta.compute_units_consumed, "logs": meta.logs}),
                Err(failed) => json!({"ok": false, "error": format!("{:?}", failed.err),
                    "logs": failed.meta.logs}),
            })
        }
        "programs" => Ok(json!({"ok": true, "programs": DEFAULT_PROGRAMS})),
        "create_mint" => {
            let mint = address(req, "mint")?;
            let authority = address(req, "authority")?;
            let decimals = req["decimals"]
                .as_u64()
                .and_then(|d| u8::try_from(d).ok())
                .ok_or("`decimals` is missing")?;
            let supply = req["supply"].as_u64().unwrap_or(0);
            // SPL Token `Mint`, 82 bytes: COption<authority>, supply, decimals, initialized,
            // COption<freeze authority>.
            let mut data = vec![1, 0, 0, 0];
            data.extend_from_slice(authority.as_ref());
            data.extend_from_slice(&supply.to_le_bytes());
            data.extend_from_slice(&[decimals, 1]);
            data.extend_from_slice(&[0; 36]);
            set_token_owned(svm, mint, data)
        }
        "token_account" => {
            let at = address(req, "address")?;
            let mint = address(req, "mint")?;
            let owner = address(req, "owner")?;
            let amount = req["amount"].as_u64().ok_or("`amount` is missing")?;
            // SPL Token `Account`, 165 bytes: mint, owner, amount, COption<delegate>, state
            // (1 = initialized), COption<native rent reserve>, delegated amount,
            // COption<close authority>.
            let mut data = Vec::with_capacity(165);
            data.extend_from_slice(mint.as_ref());
            data.extend_from_slice(owner.as_ref());
            data.extend_from_slice(&amount.to_le_bytes());
            data.extend_from_slice(&[0; 36]);
            data.push(1);
            data.extend_from_slice(&[0; 12]);
            data.extend_from_slice(&[0; 8]);
            data.extend_from_slice(&[0; 36]);
            set_token_owned(svm, at, data)
        }
        "token_balance" => {
            let at = address(req, "address")?;
            let amount = svm
                .get_account(&at)
                .and_then(|a| a.data.get(64..72).map(|b| b.to_vec()))
                .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
                .map_or(0, u64::from_le_bytes);
            Ok(json!({"ok": true, "amount": amount}))
        }
        other => Err(format!("unknown op {other:?}")),
    }
}

/// Stores `data` at `at` as a rent-exempt account owned by the SPL Token program.
fn set_token_owned(svm: &mut LiteSVM, at: Address, data: Vec<u8>) -> Result<Value, String> {
    let owner = Address::from_str(DEFAULT_PROGRAMS[0]).map_err(|_| "token program id")?;
    let account = solana_account::Account {
        lamports: svm.minimum_balance_for_rent_exemption(data.len()),
        data,
        owner,
        executable: false,
        rent_epoch: 0,
    };
    svm.set_account(at, account)
        .map_err(|e| format!("set_account: {e:?}"))?;
    Ok(json!({"ok": true}))
}

fn main() {
    let mut svm = LiteSVM::new();
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        if line.trim().is_empty() {
            continue;
        }
        let answer = serde_json::from_str::<Value>(&line)
            .map_err(|_| "the line is not JSON".to_string())
            .and_then(|req| handle(&mut svm, &req))
            .unwrap_or_else(|e| json!({"ok": false, "error": e}));
        if writeln!(out, "{answer}")
            .and_then(|()| out.flush())
            .is_err()
        {
            break;
        }
    }
}
