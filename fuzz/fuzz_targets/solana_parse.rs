//! kms-solana parser: never panics, and accepts exactly what the Solana crates accept (bincode +
//! sanitize + the static runtime checks), with every field equal when both accept.
#![no_main]

use kms_solana::solana::{
    same_message, same_transaction, solana_decode_message, solana_decode_transaction,
};
use kms_solana::{parse_message, parse_transaction};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match (parse_transaction(data), solana_decode_transaction(data)) {
        (Ok(ours), Ok(theirs)) => assert!(same_transaction(&ours, &theirs)),
        (Err(e), Err(_)) => {
            assert!(e.offset().is_some() || matches!(e, kms_solana::Error::TooLarge { .. }))
        }
        (ours, theirs) => panic!(
            "transaction disagreement: ours {:?}, solana {:?}",
            ours.map(|_| ()),
            theirs.map(|_| ())
        ),
    }
    match (parse_message(data), solana_decode_message(data)) {
        (Ok(ours), Ok(theirs)) => assert!(same_message(&ours, &theirs)),
        (Err(_), Err(_)) => {}
        (ours, theirs) => panic!(
            "message disagreement: ours {:?}, solana {:?}",
            ours.map(|_| ()),
            theirs.map(|_| ())
        ),
    }
});
