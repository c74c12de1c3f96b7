//! kms-solana describer: no panic on anything the parser accepts, and one line per instruction.
#![no_main]

use kms_solana::describe::{DescribeContext, describe_message};
use kms_solana::{parse_message, parse_transaction};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte chooses a context: default, or with a lookup table supplied for every table.
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let msg = match parse_transaction(rest) {
        Ok(t) => *t.message(),
        Err(_) => match parse_message(rest) {
            Ok(m) => m,
            Err(_) => return,
        },
    };
    let mut ctx = DescribeContext::new();
    if mode & 1 == 1 {
        for l in msg.address_table_lookups() {
            let n = usize::from(mode >> 1);
            ctx = ctx.with_lookup_table(*l.table, (0..n).map(|i| [i as u8; 32]).collect());
        }
    }
    let d = describe_message(&msg, &ctx);
    assert_eq!(d.instructions.len(), msg.num_instructions());
    let _ = d.to_string();
});
