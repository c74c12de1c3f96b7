//! The built-in modules, compiled into the crate from `modules/dist/` (rebuilt reproducibly by
//! `modules/build.sh`; a test checks the files against the manifest).

/// The built-in manifest (`modules/dist/manifest.json`).
pub(crate) const MANIFEST: &str = include_str!("../modules/dist/manifest.json");

/// The bytes of a built-in module file by name.
pub(crate) fn file(name: &str) -> Option<&'static [u8]> {
    FILES.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// Every built-in module file.
pub(crate) const FILES: &[(&str, &[u8])] = &[
    (
        "sol-withdraw.wasm",
        include_bytes!("../modules/dist/sol-withdraw.wasm"),
    ),
    (
        "token-withdraw.wasm",
        include_bytes!("../modules/dist/token-withdraw.wasm"),
    ),
    (
        "raydium-v4-swap.wasm",
        include_bytes!("../modules/dist/raydium-v4-swap.wasm"),
    ),
    (
        "pumpfun-trade.wasm",
        include_bytes!("../modules/dist/pumpfun-trade.wasm"),
    ),
    (
        "jupiter-v6-route.wasm",
        include_bytes!("../modules/dist/jupiter-v6-route.wasm"),
    ),
];
