//! kms-tpm against a real software TPM (swtpm on 127.0.0.1, started by this benchmark): seal,
//! unseal (salted sessions, PolicyPCR), quote, pure-Rust quote verification, and a full
//! two-TPM master-key hand-over. swtpm latencies, not hardware-TPM ones: a discrete TPM is
//! typically 10–100x slower per command.
//!
//! `cargo bench -p kms-benches --bench tpm`. With `--bench`, a per-call latency report (median
//! and p99 of individually timed calls) is printed after the criterion runs.
#![allow(clippy::expect_used)] // benchmark set-up: a failure aborts the run with its reason

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use kms_tpm::swtpm::Swtpm;
use kms_tpm::{
    JoinPolicy, Joiner, PcrAllowlist, PcrSelection, Sealer as _, SecretBytes, Sponsor, Tpm,
    TpmSealer, ek_fingerprint, verify_quote,
};

fn bench_tpm(c: &mut Criterion) {
    let sw = Swtpm::start().expect("swtpm (is the swtpm package installed?)");
    let sel = PcrSelection::measured_boot();
    let mut sealer = TpmSealer::new(Tpm::open(&sw.tcti()).expect("open TPM"), sel);
    let secret = SecretBytes::random(32).expect("rng");

    c.bench_function("tpm/seal_32B", |b| {
        b.iter(|| sealer.seal(black_box(&secret)).expect("seal"))
    });
    let blob = sealer.seal(&secret).expect("seal");
    c.bench_function("tpm/unseal_32B", |b| {
        b.iter(|| sealer.unseal(black_box(&blob)).expect("unseal"))
    });

    let mut tpm = sealer.into_tpm();
    let ak = tpm.create_attestation_key().expect("AK");
    let nonce = [9u8; 32];
    c.bench_function("tpm/quote_3_pcrs", |b| {
        b.iter(|| tpm.quote(&ak, black_box(&nonce), sel).expect("quote"))
    });
    let quote = tpm.quote(&ak, &nonce, sel).expect("quote");
    let mut allow = PcrAllowlist::new(sel);
    allow.allow(quote.pcr_values.clone()).expect("allow");
    c.bench_function("tpm/verify_quote_pure_rust", |b| {
        b.iter(|| verify_quote(ak.public(), black_box(&quote), &nonce, &allow).expect("verify"))
    });

    let sw2 = Swtpm::start().expect("second swtpm");
    let mut joiner = Tpm::open(&sw2.tcti()).expect("open joiner TPM");
    let of_joiner = JoinPolicy::new(allow.clone()).trust_ek(ek_fingerprint(
        &joiner.endorsement_key_public().expect("EK"),
    ));
    let of_sponsor = JoinPolicy::new(allow.clone())
        .trust_ek(ek_fingerprint(&tpm.endorsement_key_public().expect("EK")));
    let sponsor = Sponsor::new(&mut tpm, of_joiner).expect("sponsor");
    let mut g = c.benchmark_group("tpm/join");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("full_handover_two_tpms", |b| {
        b.iter(|| {
            let j = Joiner::new(&mut joiner, of_sponsor.clone()).expect("joiner");
            let (hello, sent) = j.hello().expect("hello");
            let (challenge, pending) = sponsor.challenge(&mut tpm, &hello).expect("challenge");
            let (request, awaiting) = j.respond(&mut joiner, sent, &challenge).expect("respond");
            let response = pending
                .complete(&mut tpm, &request, &secret)
                .expect("complete");
            awaiting.finish(&mut joiner, &response).expect("finish")
        })
    });
    g.finish();
}

/// Median and p99 of `n` individually timed calls.
fn percentiles(n: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    let mut t: Vec<Duration> = (0..n)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    t.sort();
    (t[n / 2], t[(n * 99).div_ceil(100) - 1])
}

fn latency_report() {
    let sw = Swtpm::start().expect("swtpm");
    let sel = PcrSelection::measured_boot();
    let mut sealer = TpmSealer::new(Tpm::open(&sw.tcti()).expect("open TPM"), sel);
    let secret = SecretBytes::random(32).expect("rng");
    let blob = sealer.seal(&secret).expect("seal");
    let mut rows = vec![
        (
            "seal 32 B",
            percentiles(200, || drop(sealer.seal(&secret).expect("seal"))),
        ),
        (
            "unseal 32 B",
            percentiles(200, || drop(sealer.unseal(&blob).expect("unseal"))),
        ),
    ];
    let mut tpm = sealer.into_tpm();
    let ak = tpm.create_attestation_key().expect("AK");
    let nonce = [3u8; 32];
    rows.push((
        "quote 3 PCRs",
        percentiles(200, || drop(tpm.quote(&ak, &nonce, sel).expect("quote"))),
    ));
    let quote = tpm.quote(&ak, &nonce, sel).expect("quote");
    let mut allow = PcrAllowlist::new(sel);
    allow.allow(quote.pcr_values.clone()).expect("allow");
    rows.push((
        "verify_quote (pure Rust)",
        percentiles(2000, || {
            drop(verify_quote(ak.public(), &quote, &nonce, &allow).expect("verify"))
        }),
    ));
    println!("\nkms-tpm per-call latency against swtpm (median / p99):");
    for (name, (median, p99)) in rows {
        println!("  {name:<26} {median:>12.2?} / {p99:>12.2?}");
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(Duration::from_secs(5));
    targets = bench_tpm
}

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    if std::env::args().any(|a| a == "--bench") {
        latency_report();
    }
}
