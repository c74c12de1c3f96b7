//! Arbitrary message bytes into every built-in module, run directly in the WASM host without
//! the host's own parser in front (the module must hold on its own): a module never accepts a
//! message that `kms-solana`'s strict parser rejects, and nothing panics. The same bytes also go
//! through `Registry::validate` (parser first).
#![no_main]

use std::sync::OnceLock;

use kms_constraints::{HostConfig, ParamValue as V, Registry};
use kms_solana::programs::{NATIVE_MINT, TOKEN_PROGRAM};
use libfuzzer_sys::fuzz_target;

struct Setup {
    registry: Registry,
    cases: Vec<(kms_constraints::ModuleHash, Vec<u8>)>,
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| {
        let registry = Registry::with_builtins(HostConfig::default()).expect("built-ins load");
        let user = V::Pubkey([0x11; 32]);
        let head = |v: &[V]| {
            let mut out = vec![user, V::U32(1_400_000), V::U64(u64::MAX)];
            out.extend_from_slice(v);
            out
        };
        let m = V::Pubkey([0x33; 32]);
        let tp = V::Pubkey(TOKEN_PROGRAM);
        let all = [
            ("sol-withdraw", head(&[V::Pubkey([0x22; 32]), V::U64(u64::MAX)])),
            ("token-withdraw", head(&[m, tp, V::U8(6), V::Pubkey([0x22; 32]), V::U64(u64::MAX), V::Derived, V::Derived])),
            ("raydium-v4-swap", head(&[V::Pubkey(NATIVE_MINT), m, tp, V::U64(u64::MAX), V::U64(0), V::Derived, V::Derived, V::U64(u64::MAX), V::OptPubkey(Some([0x77; 32]))])),
            ("pumpfun-trade", head(&[m, tp, V::U64(u64::MAX), V::U64(0), V::U64(0), V::U64(u64::MAX), V::Derived, V::U64(u64::MAX), V::OptPubkey(Some([0x77; 32])), V::Pubkey([0x5C; 32]), V::Derived, V::Derived, V::Derived, V::Derived, V::Derived, V::Derived, V::Derived, V::Pubkey(NATIVE_MINT), tp, V::Pubkey(kms_solana::address_from_base58("62qc2CNXwrYqQScmEdiZFFAnJR262PxWEuNQtxfafNgV").expect("address")), V::Pubkey(kms_solana::address_from_base58("5YxQFdt3Tr9zJLvkFccqXVUwhdTWJQc1fFg2YPbxvxeD").expect("address")), V::Derived, V::Derived, V::Derived, V::Derived, V::Derived, V::Derived, V::Derived])),
            ("pumpswap-trade", {
                let mut v = head(&[m, tp, V::Pubkey(NATIVE_MINT), tp, V::U64(u64::MAX), V::U64(0), V::U64(0), V::U64(u64::MAX), V::U64(u64::MAX), V::OptPubkey(Some([0x77; 32])), V::U16(0), V::Pubkey([0x5D; 32]), V::Pubkey([0x5C; 32]), V::Pubkey([0x5E; 32]), V::Pubkey(kms_solana::address_from_base58("5YxQFdt3Tr9zJLvkFccqXVUwhdTWJQc1fFg2YPbxvxeD").expect("address"))]);
                v.extend([V::Derived; 14]);
                v
            }),
            ("jupiter-v6-route", head(&[m, tp, V::Pubkey(NATIVE_MINT), tp, V::U64(u64::MAX), V::U64(0), V::U16(10_000), V::U8(255), V::OptPubkey(None), V::Derived, V::Derived, V::U64(u64::MAX), V::OptPubkey(Some([0x77; 32])), V::U8(0), V::Derived, V::Derived, V::Derived])),
        ];
        let cases = all
            .into_iter()
            .map(|(name, values)| {
                let h = registry.builtin(name).expect("built-in");
                let p = registry.get(&h).expect("loaded").compiled().schema().expect("schema").encode(&values).expect("params");
                (h, p)
            })
            .collect();
        Setup { registry, cases }
    })
}

fuzz_target!(|data: &[u8]| {
    let s = setup();
    let parses = kms_solana::parse_message(data).is_ok();
    for (h, params) in &s.cases {
        let m = s.registry.get(h).expect("loaded");
        // Loaded accounts: as many zero addresses as the message loads, if it parses.
        let loaded: Vec<[u8; 32]> = kms_solana::parse_message(data)
            .map(|m| vec![[0u8; 32]; m.num_loaded_writable() + m.num_loaded_readonly()])
            .unwrap_or_default();
        let raw = s.registry.host().run(m.compiled(), data, loaded.as_flattened(), params);
        assert!(parses || raw.is_err(), "a module accepted a message the parser rejects");
        let full = s.registry.validate(h, data, &loaded, params);
        assert!(parses || full.is_err());
        assert_eq!(raw.is_ok(), full.is_ok(), "host pre-checks and module disagree");
    }
});
