//! Describe a Solana transaction or bare message given as base64 or base58 (auto-detected).
//!
//! ```sh
//! cargo run -p kms-solana --example describe -- [--json] [--user ADDR] \
//!     [--alt TABLE=ADDR,ADDR,...] <TX>
//! ```
//!
//! Invalid input: a clear message on stderr and exit code 2.

use std::process::ExitCode;

use kms_solana::describe::{DescribeContext, describe_message};
use kms_solana::text::{Kind, decode_transaction_text, message_json, transaction_json};
use kms_solana::{address_from_base58, parse_message, parse_transaction};

const USAGE: &str = "usage: describe [--json] [--user ADDR] [--alt TABLE=ADDR,ADDR,...]... <TX>\n\
  TX is base64 or base58 of a transaction or a bare message (auto-detected).";

fn fail(msg: &str) -> ExitCode {
    eprintln!("describe: {msg}");
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let mut json = false;
    let mut ctx = DescribeContext::new();
    let mut input = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            "--user" => {
                let Some(v) = args.next() else {
                    return fail("--user needs an address");
                };
                let Some(u) = address_from_base58(&v) else {
                    return fail(&format!("--user: {v:?} is not a base58 address"));
                };
                ctx = ctx.with_user(u);
            }
            "--alt" => {
                let Some(v) = args.next() else {
                    return fail("--alt needs TABLE=ADDR,ADDR,...");
                };
                let Some((table, list)) = v.split_once('=') else {
                    return fail("--alt needs TABLE=ADDR,ADDR,...");
                };
                let Some(t) = address_from_base58(table) else {
                    return fail(&format!("--alt: table {table:?} is not a base58 address"));
                };
                let mut addrs = Vec::new();
                for s in list.split(',').filter(|s| !s.is_empty()) {
                    let Some(x) = address_from_base58(s) else {
                        return fail(&format!("--alt: {s:?} is not a base58 address"));
                    };
                    addrs.push(x);
                }
                ctx = ctx.with_lookup_table(t, addrs);
            }
            s if s.starts_with('-') && s.len() > 1 => {
                return fail(&format!("unknown option {s}\n{USAGE}"));
            }
            _ if input.is_some() => return fail(&format!("more than one transaction\n{USAGE}")),
            _ => input = Some(a),
        }
    }
    let Some(input) = input else {
        return fail(USAGE);
    };
    let (bytes, kind) = match decode_transaction_text(&input) {
        Ok(x) => x,
        Err(e) => return fail(&format!("invalid transaction: {e}")),
    };
    let (msg, tx) = match kind {
        Kind::Transaction => match parse_transaction(&bytes) {
            Ok(t) => (*t.message(), Some(t)),
            Err(e) => return fail(&format!("invalid transaction: {e}")),
        },
        Kind::Message => match parse_message(&bytes) {
            Ok(m) => (m, None),
            Err(e) => return fail(&format!("invalid message: {e}")),
        },
    };
    if json {
        let v = match &tx {
            Some(t) => transaction_json(t),
            None => message_json(&msg),
        };
        match serde_json::to_string_pretty(&v) {
            Ok(s) => println!("{s}"),
            Err(e) => return fail(&format!("cannot print JSON: {e}")),
        }
    } else {
        print!("{}", describe_message(&msg, &ctx));
    }
    ExitCode::SUCCESS
}
