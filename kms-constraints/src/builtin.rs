//! The built-in modules, compiled into the crate from `modules/dist/` (rebuilt reproducibly by
//! `modules/build.sh`; a test checks the files against the manifest), and the earlier versions
//! users may have authorized, frozen in `modules/dist/previous/` (no longer built: their bytes
//! are the ones that were committed when they were current).

/// The built-in manifest (`modules/dist/manifest.json`).
pub(crate) const MANIFEST: &str = include_str!("../modules/dist/manifest.json");

/// The manifest of the earlier versions (`modules/dist/previous/manifest.json`).
pub(crate) const PREVIOUS_MANIFEST: &str = include_str!("../modules/dist/previous/manifest.json");

/// The bytes of a built-in module file by name (current or previous).
pub(crate) fn file(name: &str) -> Option<&'static [u8]> {
    FILES
        .iter()
        .chain(PREVIOUS)
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
}

/// Earlier versions of built-in modules, still loadable by their hash.
const PREVIOUS: &[(&str, &[u8])] = &[
    (
        "raydium-v4-swap-1.0.0.wasm",
        include_bytes!("../modules/dist/previous/raydium-v4-swap-1.0.0.wasm"),
    ),
    (
        "pumpfun-trade-2.0.0.wasm",
        include_bytes!("../modules/dist/previous/pumpfun-trade-2.0.0.wasm"),
    ),
    (
        "jupiter-v6-route-2.0.0.wasm",
        include_bytes!("../modules/dist/previous/jupiter-v6-route-2.0.0.wasm"),
    ),
    (
        "pumpfun-trade-3.0.0.wasm",
        include_bytes!("../modules/dist/previous/pumpfun-trade-3.0.0.wasm"),
    ),
    (
        "pumpswap-trade-1.0.0.wasm",
        include_bytes!("../modules/dist/previous/pumpswap-trade-1.0.0.wasm"),
    ),
    (
        "jupiter-v6-route-3.0.0.wasm",
        include_bytes!("../modules/dist/previous/jupiter-v6-route-3.0.0.wasm"),
    ),
];

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
    (
        "pumpswap-trade.wasm",
        include_bytes!("../modules/dist/pumpswap-trade.wasm"),
    ),
];
