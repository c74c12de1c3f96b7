//! Malicious and broken modules: refused at load or rejected cleanly at run time, never a host
//! panic. Written as WebAssembly text.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use kms_constraints::{Error, HostConfig, Registry, RejectionKind};

/// ABI v1 exports around a `kms_validate` body; `extra` adds module fields.
fn module(validate_body: &str, extra: &str) -> Vec<u8> {
    let text = format!(
        r#"(module
            (memory (export "memory") 1 16)
            (global $g (mut i32) (i32.const 0))
            (func (export "kms_abi_version") (result i32) i32.const 1)
            (func (export "kms_alloc") (param i32) (result i32) i32.const 1024)
            (func (export "kms_reason") (result i64) i64.const 0x0000000500000010)
            (data (i32.const 16) "nope!")
            (func (export "kms_validate") (param i32 i32 i32 i32 i32 i32) (result i32) {validate_body})
            {extra})"#
    );
    wat::parse_str(text).expect("test module text is valid")
}

/// A one-transfer legacy message the host's parser accepts.
fn message() -> Vec<u8> {
    let mut m = vec![1, 0, 1, 3];
    m.extend_from_slice(&[7; 32]);
    m.extend_from_slice(&[9; 32]);
    m.extend_from_slice(&[0; 32]);
    m.extend_from_slice(&[0xAB; 32]);
    m.extend_from_slice(&[1, 2, 2, 0, 1, 12, 2, 0, 0, 0]);
    m.extend_from_slice(&5u64.to_le_bytes());
    m
}

fn run(bytes: &[u8]) -> Result<(), Error> {
    let mut r = Registry::new(HostConfig::default());
    let h = r.load(bytes)?;
    r.validate(&h, &message(), &[], &[])
}

fn rejected(bytes: &[u8]) -> (RejectionKind, String) {
    match run(bytes) {
        Err(Error::Rejected { kind, reason }) => (kind, reason),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
fn a_well_behaved_test_module_accepts_and_rejects() {
    assert!(run(&module("i32.const 0x4B4D5331", "")).is_ok());
    let (kind, reason) = rejected(&module("i32.const 1", ""));
    assert_eq!(kind, RejectionKind::Refused);
    assert_eq!(reason, "nope!");
}

#[test]
fn returning_zero_or_a_boolean_never_accepts() {
    for code in ["0", "5", "-1"] {
        let (kind, reason) = rejected(&module(&format!("i32.const {code}"), ""));
        assert_eq!(kind, RejectionKind::AbiViolation, "{code}");
        assert!(reason.contains("unknown result code"));
    }
}

#[test]
fn infinite_loop_runs_out_of_fuel() {
    let (kind, _) = rejected(&module("(loop $l (br $l)) i32.const 0x4B4D5331", ""));
    assert_eq!(kind, RejectionKind::OutOfFuel);
}

#[test]
fn memory_growth_bomb_hits_the_limit() {
    // A module without a declared maximum grows one page at a time forever: the host's limiter
    // refuses the 17th page with a trap.
    let unbounded = |body: &str| {
        format!(
            r#"(module (memory (export "memory") 1)
            (func (export "kms_abi_version") (result i32) i32.const 1)
            (func (export "kms_alloc") (param i32) (result i32) i32.const 1024)
            (func (export "kms_reason") (result i64) i64.const 0)
            (func (export "kms_validate") (param i32 i32 i32 i32 i32 i32) (result i32) {body}))"#
        )
    };
    let body = "(loop $l (drop (memory.grow (i32.const 1))) (br $l)) i32.const 0x4B4D5331";
    let (kind, reason) = rejected(&wat::parse_str(unbounded(body)).unwrap());
    assert_eq!(kind, RejectionKind::MemoryLimit, "{reason}");
    // One huge grow at once is refused the same way.
    let body = "(drop (memory.grow (i32.const 60000))) i32.const 0x4B4D5331";
    let (kind, _) = rejected(&wat::parse_str(unbounded(body)).unwrap());
    assert_eq!(kind, RejectionKind::MemoryLimit);
    // With a declared maximum, growth past it fails inside the module (memory.grow returns -1)
    // and the endless loop runs out of fuel.
    let body = "(loop $l (drop (memory.grow (i32.const 1))) (br $l)) i32.const 0x4B4D5331";
    let (kind, _) = rejected(&module(body, ""));
    assert_eq!(kind, RejectionKind::OutOfFuel);
}

#[test]
fn writing_past_memory_traps() {
    let body = "(i32.store (i32.const 0x7FFFFFF0) (i32.const 1)) i32.const 0x4B4D5331";
    let (kind, reason) = rejected(&module(body, ""));
    assert_eq!(kind, RejectionKind::Trap);
    assert!(reason.contains("out of bounds"), "{reason}");
    let (kind, _) = rejected(&module(
        "(i32.store (i32.const 65536) (i32.const 1)) i32.const 1",
        "",
    ));
    assert_eq!(kind, RejectionKind::Trap);
}

#[test]
fn unbounded_recursion_traps() {
    let extra = "(func $f (call $f))";
    let (kind, reason) = rejected(&module("(call $f) i32.const 0x4B4D5331", extra));
    assert!(
        matches!(kind, RejectionKind::Trap | RejectionKind::OutOfFuel),
        "{kind:?} {reason}"
    );
}

#[test]
fn no_state_carries_from_one_validation_to_the_next() {
    // Accepts only on its first ever call: with a fresh instance per call it always accepts.
    let body = "(global.set $g (i32.add (global.get $g) (i32.const 1)))
                (if (result i32) (i32.eq (global.get $g) (i32.const 1))
                    (then (i32.const 0x4B4D5331)) (else (i32.const 1)))";
    let mut r = Registry::new(HostConfig::default());
    let h = r.load(&module(body, "")).unwrap();
    for _ in 0..3 {
        r.validate(&h, &message(), &[], &[]).unwrap();
    }
}

#[test]
fn imports_are_refused_at_load() {
    let text = r#"(module (import "env" "sign" (func)) (memory (export "memory") 1))"#;
    let err = Registry::new(HostConfig::default())
        .load(&wat::parse_str(text).unwrap())
        .unwrap_err();
    assert!(
        matches!(err, Error::ImportNotAllowed { ref module, ref name } if module == "env" && name == "sign"),
        "{err}"
    );
    let text = r#"(module (import "env" "mem" (memory 1)))"#;
    let err = Registry::new(HostConfig::default())
        .load(&wat::parse_str(text).unwrap())
        .unwrap_err();
    assert!(matches!(err, Error::ImportNotAllowed { .. }), "{err}");
}

#[test]
fn start_function_is_refused_at_load() {
    let err = Registry::new(HostConfig::default())
        .load(&module("i32.const 1", "(func $s) (start $s)"))
        .unwrap_err();
    assert!(matches!(err, Error::StartFunctionNotAllowed), "{err}");
}

#[test]
fn memory_above_the_maximum_is_refused_at_load() {
    for decl in ["17", "1 17", "1"] {
        let text = format!(
            r#"(module (memory (export "memory") {decl})
               (func (export "kms_abi_version") (result i32) i32.const 1)
               (func (export "kms_alloc") (param i32) (result i32) i32.const 0)
               (func (export "kms_reason") (result i64) i64.const 0)
               (func (export "kms_validate") (param i32 i32 i32 i32 i32 i32) (result i32) i32.const 1))"#
        );
        let res = Registry::new(HostConfig::default()).load(&wat::parse_str(text).unwrap());
        if decl == "1" {
            // No declared maximum: allowed, the runtime limit applies (see the growth bomb).
            assert!(res.is_ok());
        } else {
            assert!(
                matches!(
                    res,
                    Err(Error::MemoryTooLarge {
                        pages: 17,
                        limit: 16
                    })
                ),
                "{res:?}"
            );
        }
    }
}

#[test]
fn oversized_module_is_refused_before_parsing() {
    let mut bytes = module("i32.const 1", "");
    // A custom section of padding pushes the module over a 4 KiB limit.
    let pad = vec![0u8; 5000];
    bytes.push(0);
    let mut payload = vec![3, b'p', b'a', b'd'];
    payload.extend_from_slice(&pad);
    let mut n = payload.len();
    loop {
        let b = (n & 0x7F) as u8;
        n >>= 7;
        bytes.push(if n == 0 { b } else { b | 0x80 });
        if n == 0 {
            break;
        }
    }
    bytes.extend_from_slice(&payload);
    let cfg = HostConfig::default().with_max_module_bytes(4096);
    let err = Registry::new(cfg).load(&bytes).unwrap_err();
    assert!(
        matches!(err, Error::ModuleTooLarge { limit: 4096, .. }),
        "{err}"
    );
    // The same module loads under the default limit (the padding is harmless).
    Registry::new(HostConfig::default()).load(&bytes).unwrap();
}

#[test]
fn missing_or_mistyped_exports_and_wrong_abi_version_are_refused() {
    let no_validate = r#"(module (memory (export "memory") 1)
        (func (export "kms_abi_version") (result i32) i32.const 1)
        (func (export "kms_alloc") (param i32) (result i32) i32.const 0)
        (func (export "kms_reason") (result i64) i64.const 0))"#;
    let err = Registry::new(HostConfig::default())
        .load(&wat::parse_str(no_validate).unwrap())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingExport {
                name: "kms_validate",
                ..
            }
        ),
        "{err}"
    );

    let wrong_alloc = r#"(module (memory (export "memory") 1)
        (func (export "kms_abi_version") (result i32) i32.const 1)
        (func (export "kms_alloc") (param i64) (result i32) i32.const 0)
        (func (export "kms_reason") (result i64) i64.const 0)
        (func (export "kms_validate") (param i32 i32 i32 i32 i32 i32) (result i32) i32.const 1))"#;
    let err = Registry::new(HostConfig::default())
        .load(&wat::parse_str(wrong_alloc).unwrap())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::MissingExport {
                name: "kms_alloc",
                ..
            }
        ),
        "{err}"
    );

    let v2_text = r#"(module (memory (export "memory") 1)
        (func (export "kms_abi_version") (result i32) i32.const 2)
        (func (export "kms_alloc") (param i32) (result i32) i32.const 0)
        (func (export "kms_reason") (result i64) i64.const 0)
        (func (export "kms_validate") (param i32 i32 i32 i32 i32 i32) (result i32) i32.const 1))"#;
    let err = Registry::new(HostConfig::default())
        .load(&wat::parse_str(v2_text).unwrap())
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::AbiVersionMismatch {
                found: 2,
                expected: 1
            }
        ),
        "{err}"
    );

    let no_memory = r#"(module
        (func (export "kms_abi_version") (result i32) i32.const 1))"#;
    let err = Registry::new(HostConfig::default())
        .load(&wat::parse_str(no_memory).unwrap())
        .unwrap_err();
    assert!(
        matches!(err, Error::MissingExport { name: "memory", .. }),
        "{err}"
    );
}

#[test]
fn floats_and_garbage_are_invalid_modules() {
    let floats = module(
        "(drop (f64.add (f64.const 1) (f64.const 2))) i32.const 1",
        "",
    );
    assert!(matches!(
        Registry::new(HostConfig::default()).load(&floats),
        Err(Error::InvalidModule(_))
    ));
    for bytes in [
        &b""[..],
        b"\0asm",
        b"\0asm\x01\0\0\0\x01\xFF",
        b"not wasm at all",
    ] {
        let err = Registry::new(HostConfig::default())
            .load(bytes)
            .unwrap_err();
        assert!(matches!(err, Error::InvalidModule(_)), "{err}");
    }
}

#[test]
fn lying_allocator_and_reason_pointers_are_abi_violations() {
    let text = |alloc: &str, reason: &str| {
        format!(
            r#"(module (memory (export "memory") 1 16)
            (func (export "kms_abi_version") (result i32) i32.const 1)
            (func (export "kms_alloc") (param i32) (result i32) {alloc})
            (func (export "kms_reason") (result i64) {reason})
            (func (export "kms_validate") (param i32 i32 i32 i32 i32 i32) (result i32) i32.const 1))"#
        )
    };
    for (alloc, reason, want) in [
        ("i32.const 0", "i64.const 0", "could not allocate"),
        (
            "i32.const 65530",
            "i64.const 0",
            "outside the module's memory",
        ),
        ("i32.const -8", "i64.const 0", "negative pointer"),
        (
            "i32.const 1024",
            "i64.const 0x00000010FFFFFFF0",
            "kms_reason points outside",
        ),
    ] {
        let (kind, msg) = rejected(&wat::parse_str(text(alloc, reason)).unwrap());
        assert_eq!(kind, RejectionKind::AbiViolation);
        assert!(msg.contains(want), "{msg}");
    }
}

#[test]
fn reasons_are_cut_and_sanitized() {
    let text = r#"(module (memory (export "memory") 1 16)
        (data (i32.const 16) "bad\n\1b[31mred\e2\80\ae")
        (func (export "kms_abi_version") (result i32) i32.const 1)
        (func (export "kms_alloc") (param i32) (result i32) i32.const 1024)
        (func (export "kms_reason") (result i64) i64.const 0x0000FFFF00000010)
        (func (export "kms_validate") (param i32 i32 i32 i32 i32 i32) (result i32) i32.const 1))"#;
    let (kind, reason) = rejected(&wat::parse_str(text).unwrap());
    assert_eq!(kind, RejectionKind::Refused);
    assert_eq!(reason.len(), 256);
    assert!(reason.starts_with("bad??[31mred???"), "{reason:?}");
    assert!(reason.bytes().all(|b| (0x20..0x7F).contains(&b)));
}

#[test]
fn the_host_parses_before_any_module_runs() {
    // A module that accepts everything still cannot accept bytes that are not a message.
    let accept_all = module("i32.const 0x4B4D5331", "");
    let mut r = Registry::new(HostConfig::default());
    let h = r.load(&accept_all).unwrap();
    let err = r.validate(&h, b"\x01\x00", &[], &[]).unwrap_err();
    assert_eq!(err.rejection_kind(), Some(RejectionKind::MalformedMessage));
    // Lookup-table accounts that the message does not load are refused too.
    let err = r.validate(&h, &message(), &[[1; 32]], &[]).unwrap_err();
    assert_eq!(
        err.rejection_kind(),
        Some(RejectionKind::MalformedLoadedAccounts)
    );
    let err = r.validate(&h, &message(), &[], &[0; 2000]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::InputTooLarge {
                what: "parameters",
                ..
            }
        ),
        "{err}"
    );
}
