//! kms-constraints: validation of a typical transaction by each built-in module, WASM with a
//! fresh instance per call, parameters checked beforehand (budget p99 ≤ 50 µs); the one-off
//! parameter check; `validate` doing both; the module run alone; and the same check compiled
//! natively (the WASM overhead as a ratio).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use kms_benches::constraints::{fixtures, native, registry};
use kms_module_sdk::Reason;

fn bench(c: &mut Criterion) {
    let reg = registry();
    let mut g = c.benchmark_group("constraints");
    for f in fixtures(&reg) {
        let m = reg.get(&f.hash).unwrap_or_else(|| std::process::abort());
        assert!(
            reg.validate(&f.hash, &f.message, &f.loaded, &f.params)
                .is_ok(),
            "{} fixture",
            f.module
        );
        let mut reason = Reason::new();
        assert_eq!(
            native(&f, &mut reason),
            kms_module_sdk::ACCEPT,
            "{} native",
            f.module
        );
        let checked = reg
            .check_params(&f.hash, &f.params)
            .unwrap_or_else(|_| std::process::abort());
        g.bench_function(format!("{}/validate-wasm", f.module), |b| {
            b.iter(|| reg.validate_checked(&checked, black_box(&f.message), &f.loaded));
        });
        g.bench_function(format!("{}/check-params", f.module), |b| {
            b.iter(|| reg.check_params(&f.hash, black_box(&f.params)));
        });
        g.bench_function(
            format!("{}/check-params-and-validate-wasm", f.module),
            |b| {
                b.iter(|| reg.validate(&f.hash, black_box(&f.message), &f.loaded, &f.params));
            },
        );
        g.bench_function(format!("{}/module-run-wasm", f.module), |b| {
            b.iter(|| {
                reg.host().run(
                    m.compiled(),
                    black_box(&f.message),
                    f.loaded.as_flattened(),
                    &f.params,
                )
            });
        });
        g.bench_function(format!("{}/native", f.module), |b| {
            b.iter(|| native(&f, black_box(&mut reason)));
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
