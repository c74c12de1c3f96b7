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
        other => Err(format!("unknown op {other:?}")),
    }
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
