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
fn memory_and_table_growth_are_refused_at_load() {
    // A growth bomb never runs: ABI v1 modules have a fixed arena, and a guest loop over
    // `memory.grow` would grow the host's stack (see `refuse_growth` in the host).
    let unbounded = |body: &str| {
        format!(
            r#"(module (memory (export "memory") 1) (table 1 funcref)
            (func (export "kms_abi_version") (result i32) i32.const 1)
            (func (export "kms_alloc") (param i32) (result i32) i32.const 1024)
            (func (export "kms_reason") (result i64) i64.const 0)
            (func (export "kms_validate") (param i32 i32 i32 i32 i32 i32) (result i32) {body}))"#
        )
    };
    for (body, instruction) in [
        (
            "(loop $l (drop (memory.grow (i32.const 1))) (br $l)) i32.const 0x4B4D5331",
            "memory.grow",
        ),
        (
            "(drop (memory.grow (i32.const 60000))) i32.const 0x4B4D5331",
            "memory.grow",
        ),
        (
            "(drop (table.grow (ref.null func) (i32.const 1))) i32.const 0x4B4D5331",
            "table.grow",
        ),
    ] {
        let err = Registry::new(HostConfig::default())
            .load(&wat::parse_str(unbounded(body)).unwrap())
            .unwrap_err();
        assert!(
            matches!(err, Error::InstructionNotAllowed { instruction: i, function: 3 } if i == instruction),
            "{err}"
        );
        assert!(err.to_string().contains(instruction), "{err}");
    }
    // Declared memory above the limit is still refused before anything runs.
    let big = r#"(module (memory (export "memory") 1 17)
        (func (export "kms_abi_version") (result i32) i32.const 1))"#;
    let err = Registry::new(HostConfig::default())
        .load(&wat::parse_str(big).unwrap())
        .unwrap_err();
    assert!(matches!(err, Error::MemoryTooLarge { .. }), "{err}");
}

/// Loop bodies that together use every kind of instruction the host runs (integer arithmetic in
/// register, constant and mixed operand forms; fused compare-and-branch; loads, stores and bulk
/// memory; locals, globals, select; calls, indirect calls and tail calls; table and reference
/// instructions).
fn instruction_loops() -> Vec<(String, String)> {
    let mut loops = Vec::new();
    for (ty, v, c) in [("i32", "$a", "$c"), ("i64", "$b", "$d")] {
        let mut body = String::new();
        for op in [
            "add", "sub", "mul", "div_s", "div_u", "rem_s", "rem_u", "and", "or", "xor", "shl",
            "shr_s", "shr_u", "rotl", "rotr",
        ] {
            body += &format!(
                "(local.set {v} ({ty}.{op} (local.get {v}) (local.get {c})))
                 (local.set {v} ({ty}.{op} (local.get {v}) ({ty}.const 3)))
                 (local.set {v} ({ty}.{op} ({ty}.const 1000) (local.get {c})))
                 (local.set {v} ({ty}.add (local.get {v}) ({ty}.const 7)))\n"
            );
        }
        for op in ["clz", "ctz", "popcnt", "extend8_s", "extend16_s"] {
            body += &format!("(local.set {v} ({ty}.{op} (local.get {v})))\n");
        }
        for op in [
            "eq", "ne", "lt_s", "lt_u", "gt_s", "gt_u", "le_s", "le_u", "ge_s", "ge_u",
        ] {
            body += &format!(
                "(drop ({ty}.{op} (local.get {v}) (local.get {c})))
                 (drop ({ty}.{op} (local.get {v}) ({ty}.const 5)))
                 (block $x (br_if $x ({ty}.{op} (local.get {v}) (local.get {c}))))
                 (block $x (br_if $x ({ty}.{op} (local.get {v}) ({ty}.const -9))))
                 (if ({ty}.{op} ({ty}.const 9) (local.get {c})) (then (nop)) (else (nop)))\n"
            );
        }
        body += &format!("(drop ({ty}.eqz (local.get {v})))\n");
        loops.push((format!("{ty} arithmetic"), body));
    }
    loops.push((
        "conversions".into(),
        "(local.set $a (i32.wrap_i64 (local.get $b)))
         (local.set $b (i64.extend_i32_s (local.get $a)))
         (local.set $b (i64.extend_i32_u (local.get $a)))
         (local.set $b (i64.extend32_s (local.get $b)))"
            .into(),
    ));
    let mut mem = String::new();
    for (ty, loads, stores) in [
        (
            "i32",
            &["load", "load8_s", "load8_u", "load16_s", "load16_u"][..],
            &["store", "store8", "store16"][..],
        ),
        (
            "i64",
            &[
                "load", "load8_s", "load8_u", "load16_s", "load16_u", "load32_s", "load32_u",
            ][..],
            &["store", "store8", "store16", "store32"][..],
        ),
    ] {
        let v = if ty == "i32" { "$a" } else { "$b" };
        for l in loads {
            mem += &format!(
                "(drop ({ty}.{l} (local.get $p))) (drop ({ty}.{l} offset=8 (local.get $p)))
                 (drop ({ty}.{l} (i32.const 128)))\n"
            );
        }
        for st in stores {
            mem += &format!(
                "({ty}.{st} (local.get $p) (local.get {v})) ({ty}.{st} offset=4 (local.get $p) ({ty}.const 5))
                 ({ty}.{st} (i32.const 128) (local.get {v})) ({ty}.{st} (i32.const 256) ({ty}.const 6))\n"
            );
        }
    }
    loops.push(("loads and stores".into(), mem));
    loops.push((
        "bulk memory".into(),
        "(memory.fill (local.get $p) (i32.const 0) (i32.const 16))
         (memory.fill (i32.const 300) (local.get $a) (local.get $c))
         (memory.copy (i32.const 256) (local.get $p) (i32.const 16))
         (memory.copy (local.get $p) (i32.const 512) (local.get $c))
         (memory.init $seg (i32.const 512) (i32.const 0) (i32.const 0))
         (data.drop $seg)
         (drop (memory.size))"
            .into(),
    ));
    loops.push((
        "locals, globals, select".into(),
        "(local.set $a (select (local.get $a) (i32.const 1) (local.get $c)))
         (local.set $b (select (local.get $b) (local.get $d) (local.get $a)))
         (local.set $a (local.tee $p (i32.const 64)))
         (global.set $g (i32.add (global.get $g) (i32.const 1)))
         (global.set $h (local.get $b))
         (local.set $b (global.get $h))
         (nop)"
            .into(),
    ));
    loops.push((
        "control and calls".into(),
        "(local.set $a (call $f (local.get $a)))
         (local.set $a (call_indirect (type $t) (local.get $a) (i32.const 0)))
         (local.set $a (call $tail (local.get $a)))
         (call $nothing)
         (block $x (block $y (block $z
            (br_table $x $y $z (i32.and (local.get $a) (i32.const 3))))))
         (block $x (br_table $x (local.get $a)))
         (block $x (br $x))
         (if (local.get $a) (then (local.set $a (i32.const 1))) (else (local.set $a (i32.const 2))))"
            .into(),
    ));
    loops.push((
        "tables and references".into(),
        "(drop (table.size $t2))
         (drop (table.get $t2 (i32.const 0)))
         (table.set $t2 (i32.const 1) (ref.func $f))
         (table.set $t2 (i32.and (local.get $c) (i32.const 1)) (ref.func $f))
         (table.fill $t2 (i32.const 1) (ref.null func) (i32.const 1))
         (table.copy $t2 $t2 (i32.const 1) (i32.const 0) (i32.const 1))
         (table.init $t2 $e (i32.const 0) (i32.const 0) (i32.const 0))
         (elem.drop $e)
         (drop (ref.is_null (ref.null func)))"
            .into(),
    ));
    loops
}

#[test]
fn no_instruction_grows_the_host_stack() {
    // wasmi's tail-call dispatch relies on every instruction handler ending in a tail call. A
    // handler that calls the next one instead adds a host stack frame per executed instruction;
    // a guest loop then aborts the whole process with a stack overflow. Each loop below runs
    // until its fuel (2,000,000 instructions) is gone on a host thread with a 256 KiB stack: one
    // leaked frame per iteration would need megabytes.
    let loops = instruction_loops();
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(move || {
            for (what, body) in loops {
                let text = format!(
                    r#"(module
                    (memory (export "memory") 1 16)
                    (type $t (func (param i32) (result i32)))
                    (table $t2 2 funcref) (elem (i32.const 0) $f) (elem $e func $f)
                    (global $g (mut i32) (i32.const 0))
                    (global $h (mut i64) (i64.const 0))
                    (data $seg "abcd")
                    (func $f (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
                    (func $tail (param i32) (result i32) (return_call $f (local.get 0)))
                    (func $nothing (return))
                    (func (export "kms_abi_version") (result i32) i32.const 1)
                    (func (export "kms_alloc") (param i32) (result i32) i32.const 1024)
                    (func (export "kms_reason") (result i64) i64.const 0)
                    (func (export "kms_validate") (param i32 i32 i32 i32 i32 i32) (result i32)
                        (local $a i32) (local $b i64) (local $c i32) (local $d i64) (local $p i32)
                        (local.set $c (i32.const 3)) (local.set $d (i64.const 3))
                        (local.set $p (i32.const 64))
                        (loop $l {body} (local.set $p (i32.const 64)) (br $l))
                        i32.const 1))"#
                );
                let bytes = wat::parse_str(&text).unwrap_or_else(|e| panic!("{what}: {e}"));
                let (kind, reason) = rejected(&bytes);
                assert_eq!(kind, RejectionKind::OutOfFuel, "{what}: {reason}");
            }
        })
        .unwrap()
        .join()
        .unwrap();
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
    // The load-time rules apply in SPEC.md's order: an import is reported before a growth
    // instruction in the same module.
    let text = r#"(module (import "env" "sign" (func)) (memory (export "memory") 1)
                  (func (drop (memory.grow (i32.const 1)))))"#;
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
            // No declared maximum: allowed; the module cannot grow (`memory.grow` is refused).
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

/// A function body with an instruction after its final `end`: `(func (param i32) end local.get
/// 0 drop end)` with an exported memory, assembled by hand (the text format cannot say it).
const CODE_AFTER_END: &[u8] = &[
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    0x01, 0x05, 0x01, 0x60, 0x01, 0x7f, 0x00, // types: (func (param i32))
    0x03, 0x02, 0x01, 0x00, // functions: one of type 0
    0x05, 0x03, 0x01, 0x00, 0x01, // memories: one, minimum 1 page
    0x07, 0x0a, 0x01, 0x06, b'm', b'e', b'm', b'o', b'r', b'y', 0x02, 0x00, // export "memory"
    0x0a, 0x08, 0x01, 0x06, 0x00, // code: one body of 6 bytes, no locals
    0x0b, 0x20, 0x00, 0x1a, 0x0b, // end, local.get 0, drop, end
];

/// wasmi 2.0 translates the instructions after `end` before it refuses the body, and a debug
/// assertion of its translator fails on them (the `constraints_host` fuzz target found it; this
/// module is a committed seed there, so the fuzz smoke, built with debug assertions, checks it).
/// The host validates the whole module first, so it is a typed refusal in every build.
#[test]
fn code_after_a_functions_end_is_an_invalid_module() {
    match Registry::new(HostConfig::default()).load(CODE_AFTER_END) {
        Err(Error::InvalidModule(m)) => {
            assert!(
                m.contains("operators remaining after end of function"),
                "{m}"
            );
        }
        other => panic!("expected an invalid module, got {other:?}"),
    }
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
