//! The parser's rules, one attack or edge case per test, each checking the typed error and offset.

use kms_solana::{
    AccountRef, Error, Field, HeaderProblem, PACKET_DATA_SIZE, Version, parse_message,
    parse_transaction,
};

/// A v0 message: header [1,0,1], keys [1;32] (fee payer), [2;32], [3;32] (readonly).
/// One instruction: program index 2, accounts [0, 1, 3, 4], data [9, 9]; lookup table [0x40;32] w=[5] r=[6].
fn v0_message() -> Vec<u8> {
    let mut m = vec![0x80, 1, 0, 1, 3];
    for k in 1..=3u8 {
        m.extend_from_slice(&[k; 32]);
    }
    m.extend_from_slice(&[7; 32]); // blockhash
    m.extend_from_slice(&[1, 2, 4, 0, 1, 3, 4, 2, 9, 9]);
    m.extend_from_slice(&[1]);
    m.extend_from_slice(&[0x40; 32]);
    m.extend_from_slice(&[1, 5, 1, 6]);
    m
}

fn tx(msg: &[u8]) -> Vec<u8> {
    let mut t = vec![1];
    t.extend_from_slice(&[0xaa; 64]);
    t.extend_from_slice(msg);
    t
}

// Offsets inside v0_message().
const KEYS: usize = 5;
const HASH: usize = KEYS + 96;
const INS_COUNT: usize = HASH + 32;
const INS: usize = INS_COUNT + 1;
const LOOKUPS: usize = INS + 9;

#[test]
fn parses_every_field_of_a_v0_transaction() {
    let m = v0_message();
    let t = tx(&m);
    let p = parse_transaction(&t).unwrap();
    assert_eq!(p.signatures(), &[[0xaa; 64]]);
    let msg = p.message();
    assert_eq!(msg.offset(), 65);
    assert_eq!(msg.bytes(), &m[..]);
    assert_eq!(msg.version(), Version::V0);
    assert_eq!(msg.header().num_required_signatures, 1);
    assert_eq!(msg.account_keys(), &[[1; 32], [2; 32], [3; 32]]);
    assert_eq!(msg.fee_payer(), &[1; 32]);
    assert_eq!(msg.recent_blockhash(), &[7; 32]);
    let ins: Vec<_> = msg.instructions().collect();
    assert_eq!(ins.len(), 1);
    assert_eq!(ins[0].program_id(msg), &[3; 32]);
    assert_eq!(ins[0].accounts, &[0, 1, 3, 4]);
    assert_eq!(ins[0].data, &[9, 9]);
    assert_eq!(ins[0].offset, 65 + INS);
    let l: Vec<_> = msg.address_table_lookups().collect();
    assert_eq!(l.len(), 1);
    assert_eq!(l[0].table, &[0x40; 32]);
    assert_eq!(
        (l[0].writable_indexes, l[0].readonly_indexes),
        (&[5u8][..], &[6u8][..])
    );
    assert_eq!(msg.num_accounts(), 5);
    assert_eq!(msg.account(0), Some(AccountRef::Static(&[1; 32])));
    assert_eq!(
        msg.account(3),
        Some(AccountRef::Lookup {
            table: &[0x40; 32],
            index: 5
        })
    );
    assert_eq!(
        msg.account(4),
        Some(AccountRef::Lookup {
            table: &[0x40; 32],
            index: 6
        })
    );
    assert_eq!(msg.account(5), None);
    // Flags: key 0 writable signer; key 1 writable non-signer; key 2 readonly; 3 loaded writable.
    assert!(msg.is_signer(0) && msg.is_writable(0));
    assert!(!msg.is_signer(1) && msg.is_writable(1));
    assert!(!msg.is_writable(2));
    assert!(msg.is_writable(3) && msg.is_loaded(3) && !msg.is_signer(3));
    assert!(!msg.is_writable(4) && msg.is_loaded(4));
    assert_eq!(p.signers().next(), Some((&[1; 32], &[0xaa; 64])));
}

#[test]
fn trailing_bytes_are_rejected_where_they_start() {
    let mut m = v0_message();
    let end = m.len();
    m.push(0);
    assert_eq!(
        parse_message(&m),
        Err(Error::TrailingBytes {
            offset: end,
            count: 1
        })
    );
    let t = tx(&m);
    assert_eq!(
        parse_transaction(&t),
        Err(Error::TrailingBytes {
            offset: 65 + end,
            count: 1
        })
    );
}

#[test]
fn every_truncation_is_a_typed_error() {
    let t = tx(&v0_message());
    for n in 0..t.len() {
        let e = parse_transaction(&t[..n]).unwrap_err();
        assert!(matches!(e, Error::Truncated { .. }), "{n}: {e}");
        assert!(e.offset().is_some_and(|o| o <= n), "{n}: {e}");
    }
}

#[test]
fn aliased_length_is_rejected_with_its_field() {
    // Write the instruction data length 2 as the alias 0x82 0x00.
    let mut m = v0_message();
    let at = INS + 6;
    assert_eq!(m[at], 2);
    m[at] = 0x82;
    m.insert(at + 1, 0);
    assert_eq!(
        parse_message(&m),
        Err(Error::NonCanonicalLength {
            offset: at,
            field: Field::DataLength
        })
    );
    // The account-key count as 0x83 0x00.
    let mut m = v0_message();
    m[4] = 0x83;
    m.insert(5, 0);
    assert_eq!(
        parse_message(&m),
        Err(Error::NonCanonicalLength {
            offset: 4,
            field: Field::AccountKeyCount
        })
    );
}

#[test]
fn unknown_versions_and_offchain_prefix_are_rejected() {
    for (b, v) in [(0x81u8, 1u8), (0x82, 2), (0xff, 127)] {
        let mut m = v0_message();
        m[0] = b;
        assert_eq!(
            parse_message(&m),
            Err(Error::UnsupportedVersion {
                offset: 0,
                version: v
            })
        );
        assert_eq!(
            parse_transaction(&tx(&m)),
            Err(Error::UnsupportedVersion {
                offset: 65,
                version: v
            })
        );
    }
}

#[test]
fn program_cannot_be_fee_payer_or_come_from_a_lookup_table() {
    let mut m = v0_message();
    m[INS] = 0;
    assert_eq!(
        parse_message(&m),
        Err(Error::ProgramIsFeePayer {
            offset: INS,
            instruction: 0
        })
    );
    // Index 3 is a loaded account: a program must be static so it can be analysed statically.
    m[INS] = 3;
    assert_eq!(
        parse_message(&m),
        Err(Error::ProgramIndexOutOfRange {
            offset: INS,
            instruction: 0,
            index: 3,
            static_keys: 3
        })
    );
}

#[test]
fn account_index_out_of_range_names_the_byte() {
    let mut m = v0_message();
    m[INS + 5] = 5; // the fourth account index; only 0..=4 exist
    assert_eq!(
        parse_message(&m),
        Err(Error::AccountIndexOutOfRange {
            offset: INS + 5,
            instruction: 0,
            index: 5,
            accounts: 5
        })
    );
}

#[test]
fn duplicate_static_key_is_rejected() {
    let mut m = v0_message();
    m[KEYS + 64..KEYS + 96].copy_from_slice(&[1; 32]);
    assert_eq!(
        parse_message(&m),
        Err(Error::DuplicateAccountKey {
            offset: KEYS + 64,
            first: 0,
            index: 2
        })
    );
}

#[test]
fn lookup_entry_loaded_twice_is_rejected() {
    // Same index in writable and readonly of one lookup.
    let mut m = v0_message();
    let n = m.len();
    m[n - 1] = 5;
    assert_eq!(
        parse_message(&m),
        Err(Error::DuplicateLookupEntry {
            offset: n - 1,
            table_index: 5
        })
    );
    // Same table named twice, loading the same index.
    let mut m = v0_message();
    m[LOOKUPS] = 2;
    m.extend_from_slice(&[0x40; 32]);
    m.extend_from_slice(&[1, 6, 0]);
    // Accounts grew by one: instruction still valid.
    assert_eq!(
        parse_message(&m),
        Err(Error::DuplicateLookupEntry {
            offset: LOOKUPS + 1 + 36,
            table_index: 6
        })
    );
    // A different table with the same index is fine.
    let mut m = v0_message();
    m[LOOKUPS] = 2;
    m.extend_from_slice(&[0x41; 32]);
    m.extend_from_slice(&[1, 6, 0]);
    assert!(parse_message(&m).is_ok());
}

#[test]
fn empty_lookup_is_rejected() {
    let mut m = v0_message();
    m[LOOKUPS] = 2;
    m.extend_from_slice(&[0x41; 32]);
    m.extend_from_slice(&[0, 0]);
    assert_eq!(
        parse_message(&m),
        Err(Error::EmptyLookup {
            offset: LOOKUPS + 1 + 36,
            lookup: 1
        })
    );
}

#[test]
fn more_than_256_accounts_is_rejected() {
    let mut m = v0_message();
    m.truncate(LOOKUPS);
    m.push(2);
    for t in [0x40u8, 0x41] {
        m.extend_from_slice(&[t; 32]);
        m.extend_from_slice(&[0x80, 0x01]); // 128 writable
        m.extend((0..128).map(|i| i as u8));
        m.push(0);
    }
    // 3 static + 256 loaded = 259; the message is 1232-sized-ish but the count check comes first.
    let e = parse_message(&m).unwrap_err();
    assert_eq!(
        e,
        Error::TooManyAccounts {
            offset: LOOKUPS + 1,
            total: 259
        }
    );
}

#[test]
fn header_inconsistencies_are_rejected() {
    let mut m = v0_message();
    m[3] = 3; // 1 signer + 3 readonly unsigned > 3 keys
    assert_eq!(
        parse_message(&m),
        Err(Error::InvalidHeader {
            offset: 1,
            problem: HeaderProblem::CountsExceedKeys
        })
    );
    let mut m = v0_message();
    m[2] = 1; // the only signer readonly: no fee payer
    assert_eq!(
        parse_message(&m),
        Err(Error::InvalidHeader {
            offset: 1,
            problem: HeaderProblem::NoWritableFeePayer
        })
    );
    let mut m = v0_message();
    m[1] = 0; // no signer at all
    assert!(matches!(
        parse_message(&m),
        Err(Error::InvalidHeader { .. })
    ));
}

#[test]
fn signature_count_must_equal_required_signatures() {
    let m = v0_message();
    let mut t = vec![2];
    t.extend_from_slice(&[0xaa; 128]);
    t.extend_from_slice(&m);
    assert_eq!(
        parse_transaction(&t),
        Err(Error::SignatureCountMismatch {
            offset: 0,
            signatures: 2,
            required: 1
        })
    );
    let mut t = vec![0];
    t.extend_from_slice(&m);
    assert_eq!(
        parse_transaction(&t),
        Err(Error::SignatureCountMismatch {
            offset: 0,
            signatures: 0,
            required: 1
        })
    );
}

#[test]
fn size_limit_counts_the_signatures_a_bare_message_needs() {
    let mut m = v0_message();
    let ins_data_len_at = INS + 6;
    // Grow the data to make the message exactly 1232 - 65 bytes, then one more.
    let extra = PACKET_DATA_SIZE - 65 - m.len();
    let new_len = 1 + extra; // the 2-byte length below takes one more byte
    let mut enc = vec![(new_len & 0x7f) as u8 | 0x80, (new_len >> 7) as u8];
    m.splice(ins_data_len_at..ins_data_len_at + 1, enc.drain(..));
    let grown = PACKET_DATA_SIZE - 65 - m.len();
    m.splice(INS + 8..INS + 8, std::iter::repeat_n(9, grown));
    assert_eq!(m.len(), PACKET_DATA_SIZE - 65);
    assert!(parse_message(&m).is_ok());
    assert!(parse_transaction(&tx(&m)).is_ok());
    let mut big = m.clone();
    big[ins_data_len_at] += 1;
    big.insert(INS + 8, 9);
    assert_eq!(
        parse_message(&big),
        Err(Error::TooLarge {
            len: 1233,
            max: 1232
        })
    );
    assert_eq!(
        parse_transaction(&tx(&big)),
        Err(Error::TooLarge {
            len: 1233,
            max: 1232
        })
    );
}

#[test]
fn legacy_message_has_no_lookups_and_static_indices_only() {
    // Legacy: header [1,0,1], keys 1,2,3; ins program 2 accounts [0,1]; no lookup section.
    let mut m = vec![1, 0, 1, 3];
    for k in 1..=3u8 {
        m.extend_from_slice(&[k; 32]);
    }
    m.extend_from_slice(&[7; 32]);
    m.extend_from_slice(&[1, 2, 2, 0, 1, 0]);
    let p = parse_message(&m).unwrap();
    assert_eq!(p.version(), Version::Legacy);
    assert_eq!(p.address_table_lookups().len(), 0);
    assert_eq!(p.num_accounts(), 3);
    // Index 3 would be a loaded account in v0; in legacy it is out of range.
    let at = m.len() - 2;
    m[at] = 3;
    assert_eq!(
        parse_message(&m),
        Err(Error::AccountIndexOutOfRange {
            offset: at,
            instruction: 0,
            index: 3,
            accounts: 3
        })
    );
}

#[test]
fn error_messages_say_what_and_where() {
    let e = parse_message(&[1, 0, 0]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "input ends inside the account key count at byte 3"
    );
    let e = parse_message(&[0x81]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unsupported message version 1 at byte 0, the v1 transaction format of SIMD-0385 (only legacy and v0 are accepted)"
    );
    let e = parse_message(&[0x82]).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unsupported message version 2 at byte 0 (only legacy and v0 are accepted)"
    );
}

/// The v1 transaction format of SIMD-0385 (recent Agave and litesvm releases): the message,
/// version byte `0x81` first, then header, config mask, lifetime, counts, addresses, config
/// values, instructions, with the signatures after it and up to 4,096 bytes. No legacy or v0
/// transaction starts with a byte whose top bit is set (that would be 128 signatures or more),
/// so such a transaction is refused by its version, at byte 0, whatever its size: never
/// misread as a signature count, never reported as merely too large.
#[test]
fn the_v1_transaction_format_is_refused_by_name() {
    // A v1 transaction of one transfer: version, header, empty config mask, lifetime, one
    // instruction, three addresses, the instruction header and payload, then one signature.
    let mut v1 = vec![0x81, 1, 0, 1];
    v1.extend_from_slice(&0u32.to_le_bytes());
    v1.extend_from_slice(&[9; 32]);
    v1.extend_from_slice(&[1, 3]);
    for k in [1u8, 2, 0] {
        v1.extend_from_slice(&[k; 32]);
    }
    v1.extend_from_slice(&[2, 2, 12, 0, 0, 1]);
    v1.extend_from_slice(&[2, 0, 0, 0]);
    v1.extend_from_slice(&5u64.to_le_bytes());
    v1.extend_from_slice(&[7; 64]);
    let want = Error::UnsupportedVersion {
        offset: 0,
        version: 1,
    };
    assert_eq!(parse_transaction(&v1).unwrap_err(), want);
    assert!(want.to_string().contains("SIMD-0385"));
    // At the v1 size limit, far above a packet: still named by its version.
    v1.resize(4096, 0);
    assert_eq!(parse_transaction(&v1).unwrap_err(), want);
    // Any top-bit first byte (another version) is refused the same way, with its number.
    assert_eq!(
        parse_transaction(&[0xFF, 0, 0]).unwrap_err(),
        Error::UnsupportedVersion {
            offset: 0,
            version: 127
        }
    );
    // A legacy transaction over the packet size is still too large.
    assert!(matches!(
        parse_transaction(&[1; 1300]).unwrap_err(),
        Error::TooLarge { len: 1300, .. }
    ));
}

/// `Message::account` walks the raw lookups; it must number loaded accounts exactly as the
/// lookup iterator describes them (every lookup's writable entries first, then every lookup's
/// readonly entries), including lookups with an empty side and a 2-byte compact count.
#[test]
fn account_numbering_matches_the_lookup_iterator() {
    let mut m = vec![0x80, 1, 0, 1, 2];
    m.extend_from_slice(&[1; 32]);
    m.extend_from_slice(&[2; 32]);
    m.extend_from_slice(&[7; 32]); // blockhash
    m.extend_from_slice(&[1, 1, 1, 0, 0]); // one instruction: program 1, account 0, no data
    // Three lookups: (w 3, r 0), (w 0, r 130: a 2-byte count), (w 2, r 1).
    let lookups: [(u8, Vec<u8>, Vec<u8>); 3] = [
        (0x41, vec![0, 1, 2], vec![]),
        (0x42, vec![], (0..130).collect()),
        (0x43, vec![7, 8], vec![9]),
    ];
    m.push(3);
    for (t, w, r) in &lookups {
        m.extend_from_slice(&[*t; 32]);
        m.push(w.len() as u8);
        m.extend_from_slice(w);
        if r.len() < 128 {
            m.push(r.len() as u8);
        } else {
            m.extend_from_slice(&[(r.len() as u8 & 0x7f) | 0x80, (r.len() >> 7) as u8]);
        }
        m.extend_from_slice(r);
    }
    let msg = parse_message(&m).unwrap();
    let mut expected: Vec<AccountRef<'_>> =
        msg.account_keys().iter().map(AccountRef::Static).collect();
    for writable in [true, false] {
        for l in msg.address_table_lookups() {
            let list = if writable {
                l.writable_indexes
            } else {
                l.readonly_indexes
            };
            expected.extend(list.iter().map(|&index| AccountRef::Lookup {
                table: l.table,
                index,
            }));
        }
    }
    assert_eq!(expected.len(), msg.num_accounts());
    for i in 0..=255u8 {
        assert_eq!(msg.account(i), expected.get(usize::from(i)).copied(), "{i}");
    }
}

/// Index errors are reported exactly (first offending instruction, exact offset) now that the
/// index checks run only when the framing pass saw a suspicious index.
#[test]
fn index_errors_still_name_the_first_offending_instruction() {
    // Two instructions: the first is fine, the second names account 9 of 5.
    let mut m = vec![0x80, 1, 0, 1, 3];
    for k in 1..=3u8 {
        m.extend_from_slice(&[k; 32]);
    }
    m.extend_from_slice(&[7; 32]);
    m.extend_from_slice(&[2, 2, 1, 0, 0, 2, 2, 1, 9, 0]);
    m.extend_from_slice(&[1]);
    m.extend_from_slice(&[0x40; 32]);
    m.extend_from_slice(&[1, 5, 1, 6]);
    let second = HASH + 32 + 1 + 4;
    assert_eq!(
        parse_message(&m).unwrap_err(),
        Error::AccountIndexOutOfRange {
            offset: second + 3,
            instruction: 1,
            index: 9,
            accounts: 5,
        }
    );
    // A program index of 0 in the second instruction is still named as such.
    m[second] = 0;
    m[second + 3] = 1;
    assert_eq!(
        parse_message(&m).unwrap_err(),
        Error::ProgramIsFeePayer {
            offset: second,
            instruction: 1,
        }
    );
}
