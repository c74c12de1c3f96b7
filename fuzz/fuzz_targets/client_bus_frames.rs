//! Arbitrary bytes as a bus stream: frames are read (length checked before allocating) and each
//! body decoded as a request envelope; never a panic. A body that decodes re-encodes to an
//! envelope that decodes to the same request (round trip), and an error message never quotes
//! the input (the decoder reports only the error category and position).
#![no_main]

use kms_client::frame::read_frame;
use kms_client::proto::{decode_request, encode_request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut stream = data;
    let mut buf = Vec::new();
    for _ in 0..16 {
        match read_frame(&mut stream, &mut buf) {
            Ok(true) => {}
            _ => break,
        }
        match decode_request(&buf) {
            Ok(env) => {
                let again = decode_request(&encode_request(env.id, &env.req)).expect("round trip");
                assert_eq!(again.req, env.req);
            }
            Err((_, e)) => {
                // Quoting input would echo secrets sent in malformed requests.
                assert!(!e.message.contains('"'), "{}", e.message);
            }
        }
    }
    // The whole input as one body, too.
    let _ = decode_request(data);
});
