//! The committed built-in modules match their manifest (hash, version, parameter schema), load,
//! and load the same way from a directory; tampering is refused.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // tests fail loudly

use std::path::Path;

use kms_constraints::{Error, HostConfig, MANIFEST_FILE, Manifest, ModuleHash, Registry};

fn dist() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/modules/dist"))
}

#[test]
fn committed_files_match_the_manifest_and_the_sources() {
    let manifest =
        Manifest::parse(&std::fs::read_to_string(dist().join(MANIFEST_FILE)).unwrap()).unwrap();
    let names: Vec<_> = manifest.modules.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "sol-withdraw",
            "token-withdraw",
            "raydium-v4-swap",
            "pumpfun-trade",
            "jupiter-v6-route",
            "pumpswap-trade"
        ]
    );
    let root = dist().parent().unwrap();
    for m in &manifest.modules {
        let bytes = std::fs::read(dist().join(&m.file)).unwrap();
        assert_eq!(ModuleHash::of(&bytes).to_string(), m.sha256, "{}", m.name);
        // The version is the module crate's version.
        let cargo = std::fs::read_to_string(root.join(&m.name).join("Cargo.toml")).unwrap();
        assert!(
            cargo.contains(&format!("\nversion = \"{}\"\n", m.version)),
            "{}",
            m.name
        );
        // The schema is the module's schema.txt (which the module embeds).
        let schema = std::fs::read_to_string(root.join(&m.name).join("schema.txt")).unwrap();
        let lines: Vec<&str> = schema.lines().skip(1).filter(|l| !l.is_empty()).collect();
        assert_eq!(lines, m.params, "{}", m.name);
    }
}

/// The earlier versions in `dist/previous/`: (name, version, SHA-256).
const PREVIOUS: &[(&str, &str, &str)] = &[
    (
        "raydium-v4-swap",
        "1.0.0",
        "49010a0ade397509fe557e0fa2bf4389eb44db292dd7bd2f1eb9ceb0a043564c",
    ),
    (
        "pumpfun-trade",
        "2.0.0",
        "fb269b81e68f2eeb17cc5b02324d692813ae3e2fa4d3285139164e75024d4c16",
    ),
    (
        "jupiter-v6-route",
        "2.0.0",
        "74263af2823d8627e321d7cd0c05474ca595060476b05cbb300f4ee68316d767",
    ),
    (
        "pumpfun-trade",
        "3.0.0",
        "9bd36d23653753166a4e5a70fd17d47ae399695a58a31020c5b5630b52718d99",
    ),
    (
        "pumpswap-trade",
        "1.0.0",
        "8792e00379c808fd1f581205d50c31c8861f850463ef45bc008da20f291596e0",
    ),
    (
        "jupiter-v6-route",
        "3.0.0",
        "05d6f8b2fd878541573fc2042572f44c715c61672bfb408d867baa5af083af5d",
    ),
];

#[test]
fn previous_versions_stay_loadable_by_their_hash() {
    let dir = dist().join("previous");
    let manifest =
        Manifest::parse(&std::fs::read_to_string(dir.join(MANIFEST_FILE)).unwrap()).unwrap();
    let listed: Vec<_> = manifest
        .modules
        .iter()
        .map(|m| (m.name.as_str(), m.version.as_str(), m.sha256.as_str()))
        .collect();
    assert_eq!(listed, PREVIOUS);
    // The directory loads on its own (hash and embedded schema checked against its manifest)...
    let loaded = Registry::new(HostConfig::default()).load_dir(&dir).unwrap();
    let r = Registry::with_builtins(HostConfig::default()).unwrap();
    for (h, (name, version, sha)) in loaded.iter().zip(PREVIOUS) {
        assert_eq!(h.to_string(), *sha);
        // ... the built-ins include it, and the name resolves to a newer version.
        let m = r.get(h).unwrap();
        assert_eq!(m.manifest().unwrap().version, *version);
        let newest = r.builtin(name).unwrap();
        assert_ne!(newest, *h, "{name}");
        assert!(r.get(&newest).unwrap().manifest().unwrap().version.as_str() > *version);
    }
}

#[test]
fn builtins_load_with_their_embedded_schema() {
    let r = Registry::with_builtins(HostConfig::default()).unwrap();
    // The six current modules and the earlier versions kept loadable (SPEC §6).
    assert_eq!(r.hashes().count(), 6 + PREVIOUS.len());
    for name in [
        "sol-withdraw",
        "token-withdraw",
        "raydium-v4-swap",
        "pumpfun-trade",
        "jupiter-v6-route",
        "pumpswap-trade",
    ] {
        let h = r.builtin(name).unwrap();
        let m = r.get(&h).unwrap();
        let entry = m.manifest().unwrap();
        let embedded = m.compiled().schema().unwrap().to_text();
        assert_eq!(
            embedded.lines().skip(1).collect::<Vec<_>>(),
            entry.params,
            "{name}"
        );
        // Every built-in starts with the common fields.
        assert!(
            embedded
                .starts_with("kms-params v1\nuser pubkey\nmax_cu_limit u32\nmax_cu_price u64\n")
        );
    }
}

#[test]
fn loading_a_directory_checks_every_hash() {
    let tmp = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(dist()).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            continue; // previous/
        }
        std::fs::copy(e.path(), tmp.path().join(e.file_name())).unwrap();
    }
    let mut r = Registry::new(HostConfig::default());
    let loaded = r.load_dir(tmp.path()).unwrap();
    assert_eq!(loaded.len(), 6);
    let builtins = Registry::with_builtins(HostConfig::default()).unwrap();
    for h in &loaded {
        assert!(builtins.get(h).is_some());
    }

    // One flipped byte in a module: refused, and nothing from that directory is added.
    let path = tmp.path().join("pumpfun-trade.wasm");
    let mut bytes = std::fs::read(&path).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, &bytes).unwrap();
    let mut r = Registry::new(HostConfig::default());
    let err = r.load_dir(tmp.path()).unwrap_err();
    assert!(
        matches!(err, Error::HashMismatch { ref name, .. } if name == "pumpfun-trade"),
        "{err}"
    );
    assert_eq!(r.hashes().count(), 0);

    // A manifest whose schema differs from the module's embedded one is refused.
    std::fs::write(
        &path,
        std::fs::read(dist().join("pumpfun-trade.wasm")).unwrap(),
    )
    .unwrap();
    let mpath = tmp.path().join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&mpath)
        .unwrap()
        .replace("\"min_sol_output u64\"", "\"min_sol_output u32\"");
    std::fs::write(&mpath, text).unwrap();
    let err = Registry::new(HostConfig::default())
        .load_dir(tmp.path())
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidManifest(ref m) if m.contains("schema")),
        "{err}"
    );

    // A manifest entry that escapes the directory is refused.
    let text = std::fs::read_to_string(dist().join(MANIFEST_FILE))
        .unwrap()
        .replace(
            "\"file\": \"sol-withdraw.wasm\"",
            "\"file\": \"../sol-withdraw.wasm\"",
        );
    std::fs::write(&mpath, text).unwrap();
    let err = Registry::new(HostConfig::default())
        .load_dir(tmp.path())
        .unwrap_err();
    assert!(matches!(err, Error::InvalidManifest(_)), "{err}");

    // A missing directory is an I/O error naming the path.
    let err = Registry::new(HostConfig::default())
        .load_dir(&tmp.path().join("nope"))
        .unwrap_err();
    assert!(
        matches!(err, Error::Io { .. }) && err.to_string().contains("nope"),
        "{err}"
    );
}

#[test]
fn loading_the_same_bytes_twice_compiles_once() {
    let mut r = Registry::new(HostConfig::default());
    let bytes = std::fs::read(dist().join("sol-withdraw.wasm")).unwrap();
    let a = r.load(&bytes).unwrap();
    let m1 = r.get(&a).unwrap();
    let b = r.load(&bytes).unwrap();
    assert_eq!(a, b);
    assert!(std::sync::Arc::ptr_eq(&m1, &r.get(&b).unwrap()));
}
