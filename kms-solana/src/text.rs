//! Text encodings of transactions (feature `std`): base64 / base58 auto-detection and a JSON view
//! of a parse.

use std::string::String;
use std::vec::Vec;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::error::Error;
use crate::message::{AccountRef, Message, Transaction, Version, parse_message, parse_transaction};

/// What a decoded input turned out to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Signatures plus message.
    Transaction,
    /// A bare message.
    Message,
}

/// Decodes `text` as base58 or base64 (whichever yields bytes that parse; base58 first when the
/// text uses only base58 characters) of a transaction or a bare message (transaction first).
/// Returns the bytes and what they are.
///
/// # Errors
/// [`Error::InvalidEncoding`] when the text is neither encoding; otherwise the parse error of the
/// most plausible reading (the transaction parse of the first decoding that succeeded).
pub fn decode_transaction_text(text: &str) -> Result<(Vec<u8>, Kind), Error> {
    let t = text.trim();
    if t.is_empty() {
        return Err(Error::InvalidEncoding {
            what: "transaction",
            reason: "empty input",
        });
    }
    let mut candidates: Vec<Vec<u8>> = Vec::new();
    if let Ok(b) = bs58::decode(t).into_vec() {
        candidates.push(b);
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Ok(b) = b64.decode(t) {
        candidates.push(b);
    }
    let mut first_err = None;
    for b in candidates.iter() {
        match parse_transaction(b) {
            Ok(_) => return Ok((b.clone(), Kind::Transaction)),
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
        if parse_message(b).is_ok() {
            return Ok((b.clone(), Kind::Message));
        }
    }
    Err(first_err.unwrap_or(Error::InvalidEncoding {
        what: "transaction",
        reason: "neither base58 nor base64",
    }))
}

fn b58(a: &[u8]) -> String {
    bs58::encode(a).into_string()
}

/// The parse as JSON: version, header, keys with flags, blockhash, instructions, lookups and (for
/// transactions) signatures. Every account index is resolved to a key or `table[index]`.
pub fn message_json(m: &Message<'_>) -> Value {
    let keys: Vec<Value> = m
        .account_keys()
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let i = i as u8; // at most 256 accounts, static keys fewer
            json!({ "address": b58(k), "signer": m.is_signer(i), "writable": m.is_writable(i) })
        })
        .collect();
    let account = |i: u8| -> Value {
        match m.account(i) {
            Some(AccountRef::Static(k)) => json!({ "index": i, "address": b58(k) }),
            Some(AccountRef::Lookup { table, index }) => {
                json!({ "index": i, "table": b58(table), "table_index": index, "writable": m.is_writable(i) })
            }
            None => json!({ "index": i }),
        }
    };
    let instructions: Vec<Value> = m
        .instructions()
        .map(|ins| {
            json!({
                "program_id": b58(ins.program_id(m)),
                "program_id_index": ins.program_id_index,
                "accounts": ins.accounts.iter().map(|&i| account(i)).collect::<Vec<_>>(),
                "data_hex": hex_lower(ins.data),
                "offset": ins.offset,
            })
        })
        .collect();
    let lookups: Vec<Value> = m
        .address_table_lookups()
        .map(|l| {
            json!({
                "table": b58(l.table),
                "writable_indexes": l.writable_indexes,
                "readonly_indexes": l.readonly_indexes,
            })
        })
        .collect();
    let h = m.header();
    json!({
        "version": match m.version() { Version::Legacy => "legacy", Version::V0 => "v0" },
        "header": {
            "num_required_signatures": h.num_required_signatures,
            "num_readonly_signed_accounts": h.num_readonly_signed_accounts,
            "num_readonly_unsigned_accounts": h.num_readonly_unsigned_accounts,
        },
        "account_keys": keys,
        "recent_blockhash": b58(m.recent_blockhash()),
        "instructions": instructions,
        "address_table_lookups": lookups,
        "loaded_writable": m.num_loaded_writable(),
        "loaded_readonly": m.num_loaded_readonly(),
    })
}

/// [`message_json`] plus the signatures.
pub fn transaction_json(tx: &Transaction<'_>) -> Value {
    json!({
        "signatures": tx.signatures().iter().map(|s| b58(s)).collect::<Vec<_>>(),
        "message": message_json(tx.message()),
    })
}

fn hex_lower(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for &x in b {
        s.push(char::from(H[usize::from(x >> 4)]));
        s.push(char::from(H[usize::from(x & 15)]));
    }
    s
}
