//! EK certificate chains: swtpm TPMs manufactured by `swtpm_setup --create-ek-cert
//! --create-platform-cert` under local CAs (`swtpm_localca`), validated in pure Rust.
#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] fns

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kms_tpm::swtpm::{LocalCa, Swtpm};
use kms_tpm::{
    EK_CERT_NV_INDEX_RSA_2048, EkAlgorithm, EkTrustStore, Error, Tpm, ek_fingerprint,
    verify_ek_certificate,
};

/// A TPM with an EK certificate from `ca`; returns (swtpm, tpm on the RSA EK, cert, EK public).
fn certified(ca: &LocalCa) -> (Swtpm, Tpm, Vec<u8>, Vec<u8>) {
    let sw = Swtpm::start_with_ek_certificates(ca).unwrap();
    let mut tpm = Tpm::open(&sw.tcti())
        .unwrap()
        .with_endorsement_key(EkAlgorithm::Rsa2048);
    let cert = tpm.endorsement_key_certificate().unwrap();
    let ek = tpm.endorsement_key_public().unwrap();
    (sw, tpm, cert, ek)
}

fn now() -> SystemTime {
    SystemTime::now()
}

#[test]
fn certificate_from_nv_chains_to_the_local_ca_root() {
    let ca = LocalCa::new().unwrap();
    let (_sw, _tpm, cert, ek) = certified(&ca);
    let v = verify_ek_certificate(&cert, &ek, &ca.trust_store().unwrap(), now()).unwrap();
    assert_eq!(v.chain.len(), 3, "{:?}", v.chain);
    assert_eq!(v.chain[1], "CN=swtpm-localca");
    assert_eq!(v.chain[2], "CN=swtpm-localca-rootca");
    assert_eq!(v.ek_fingerprint, ek_fingerprint(&ek));

    // Without the issuing CA in the store there is no path to the root.
    let mut roots_only = EkTrustStore::new();
    roots_only.add_roots_pem(&ca.root_pem().unwrap()).unwrap();
    assert!(matches!(
        roots_only.verify(&cert, &ek, now()),
        Err(Error::EkChainInvalid { .. })
    ));
    // Trusting the issuing CA as the root is the operator's choice and works.
    let mut issuer_as_root = EkTrustStore::new();
    issuer_as_root
        .add_roots_pem(&ca.intermediate_pem().unwrap())
        .unwrap();
    assert_eq!(
        issuer_as_root
            .verify(&cert, &ek, now())
            .unwrap()
            .chain
            .len(),
        2
    );
}

#[test]
fn chain_from_another_ca_is_refused() {
    let (ca, other) = (LocalCa::new().unwrap(), LocalCa::new().unwrap());
    let (_sw, _tpm, cert, ek) = certified(&ca);
    let _ = certified(&other); // makes the other CA's keys
    // Same names (both CAs call themselves swtpm-localca), other keys: the signature decides.
    let err = verify_ek_certificate(&cert, &ek, &other.trust_store().unwrap(), now()).unwrap_err();
    assert!(
        matches!(err, Error::EkChainInvalid { reason } if reason.contains("signature")),
        "{err:?}"
    );
    // Nothing configured: refused too.
    assert!(matches!(
        verify_ek_certificate(&cert, &ek, &EkTrustStore::new(), now()),
        Err(Error::EkChainInvalid { .. })
    ));
    // The other CA's intermediate next to the right root does not help either.
    let mut mixed = EkTrustStore::new();
    mixed.add_roots_pem(&ca.root_pem().unwrap()).unwrap();
    mixed
        .add_intermediates_pem(&other.intermediate_pem().unwrap())
        .unwrap();
    assert!(matches!(
        mixed.verify(&cert, &ek, now()),
        Err(Error::EkChainInvalid { .. })
    ));
}

#[test]
fn expired_and_not_yet_valid_certificates_are_refused() {
    let ca = LocalCa::new().unwrap();
    let (_sw, _tpm, cert, ek) = certified(&ca);
    let trust = ca.trust_store().unwrap();
    // swtpm_localca certificates end on 9999-12-31T23:59:59Z: one second later they expired.
    let after = UNIX_EPOCH + Duration::from_secs(253_402_300_800);
    let err = verify_ek_certificate(&cert, &ek, &trust, after).unwrap_err();
    assert!(
        matches!(err, Error::EkCertificateExpired { ref subject } if subject == "CN=unknown"),
        "{err:?}"
    );
    assert!(err.to_string().contains("expired"));
    let v = verify_ek_certificate(&cert, &ek, &trust, now()).unwrap();
    let last = v.not_after;
    assert!(verify_ek_certificate(&cert, &ek, &trust, last).is_ok());
    assert!(matches!(
        verify_ek_certificate(&cert, &ek, &trust, last + Duration::from_secs(1)),
        Err(Error::EkCertificateExpired { .. })
    ));
    // Issued now: a clock in 2001 is before notBefore.
    let before = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
    assert!(matches!(
        verify_ek_certificate(&cert, &ek, &trust, before),
        Err(Error::EkCertificateNotYetValid { .. })
    ));
}

#[test]
fn ek_that_does_not_match_its_certificate_is_refused() {
    let ca = LocalCa::new().unwrap();
    let (_sw, tpm, cert, _) = certified(&ca);
    let (_sw2, _, _, other_ek) = certified(&ca);
    let trust = ca.trust_store().unwrap();
    // A valid certificate of this CA presented for another TPM's EK.
    assert!(matches!(
        verify_ek_certificate(&cert, &other_ek, &trust, now()),
        Err(Error::EkPublicMismatch)
    ));
    // The same TPM's ECC EK with the RSA EK's certificate.
    let mut tpm_ecc = Tpm::open(tpm.tcti()).unwrap();
    let ecc_ek = tpm_ecc.endorsement_key_public().unwrap();
    assert!(matches!(
        verify_ek_certificate(&cert, &ecc_ek, &trust, now()),
        Err(Error::EkPublicMismatch)
    ));
    drop(tpm_ecc);
    // This TPM has no ECC P-256 EK certificate (swtpm certifies ECC P-384).
    let mut ecc = Tpm::open(tpm.tcti()).unwrap();
    assert!(matches!(
        ecc.endorsement_key_certificate(),
        Err(Error::EkCertificateMissing {
            nv_index: 0x01c0_000a
        })
    ));
    assert_eq!(
        tpm.endorsement_key_algorithm().certificate_nv_index(),
        EK_CERT_NV_INDEX_RSA_2048
    );
}

#[test]
fn tpm_without_certificates_says_so() {
    let sw = Swtpm::start().unwrap();
    let mut tpm = Tpm::open(&sw.tcti())
        .unwrap()
        .with_endorsement_key(EkAlgorithm::Rsa2048);
    let err = tpm.endorsement_key_certificate().unwrap_err();
    assert!(
        matches!(
            err,
            Error::EkCertificateMissing {
                nv_index: 0x01c0_0002
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("0x01c00002"), "{err}");
}

#[test]
fn altered_certificates_are_refused_without_panicking() {
    let ca = LocalCa::new().unwrap();
    let (_sw, _tpm, cert, ek) = certified(&ca);
    let trust = ca.trust_store().unwrap();
    for i in 0..cert.len() {
        let mut c = cert.clone();
        c[i] ^= 0x01;
        assert!(
            verify_ek_certificate(&c, &ek, &trust, now()).is_err(),
            "flip at byte {i} accepted"
        );
    }
    for n in 0..cert.len() {
        assert!(verify_ek_certificate(&cert[..n], &ek, &trust, now()).is_err());
    }
}

/// The committed ECDSA test CA (`tests/data/ecc-ca`): a P-384 root and a P-256 issuing CA.
fn ecc_ca() -> (LocalCa, EkTrustStore) {
    let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ecc-ca");
    let read = |n: &str| std::fs::read(data.join(n)).unwrap();
    let ca = LocalCa::with_issuing_ca(&read("ca-key.pem"), &read("ca.pem")).unwrap();
    let mut store = EkTrustStore::new();
    store.add_roots_pem(&read("root.pem")).unwrap();
    store.add_intermediates_pem(&read("ca.pem")).unwrap();
    (ca, store)
}

#[test]
fn ecdsa_chain_p256_under_p384_validates() {
    let (ca, store) = ecc_ca();
    let (_sw, _tpm, cert, ek) = certified(&ca);
    // EK certificate: ecdsa-with-SHA256 by the P-256 CA; the CA: ecdsa-with-SHA384 by P-384.
    let v = verify_ek_certificate(&cert, &ek, &store, now()).unwrap();
    assert_eq!(
        v.chain[1..],
        [
            "CN=kms-tpm test ECC EK CA,O=kms-tpm test".to_owned(),
            "CN=kms-tpm test ECC root,O=kms-tpm test".to_owned()
        ]
    );
    // The RSA local CA's store does not vouch for it, and the ECC store not for RSA-CA TPMs.
    let rsa_ca = LocalCa::new().unwrap();
    let (_sw2, _, rsa_cert, rsa_ek) = certified(&rsa_ca);
    assert!(matches!(
        verify_ek_certificate(&cert, &ek, &rsa_ca.trust_store().unwrap(), now()),
        Err(Error::EkChainInvalid { .. })
    ));
    assert!(matches!(
        verify_ek_certificate(&rsa_cert, &rsa_ek, &store, now()),
        Err(Error::EkChainInvalid { .. })
    ));
}

/// Regenerates `tests/data/ek-vectors/` (run by hand: `cargo test -p kms-tpm --test ekcert
/// -- --ignored regenerate_ek_vectors`; see the README there).
#[test]
#[ignore = "writes the committed test vectors; run by hand"]
fn regenerate_ek_vectors() {
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ek-vectors");
    std::fs::create_dir_all(&out).unwrap();
    let rsa_ca = LocalCa::new().unwrap();
    let (_sw, _, cert, ek) = certified(&rsa_ca);
    let (_sw2, _, _, other_ek) = certified(&rsa_ca);
    std::fs::write(out.join("rsa-ca-root.pem"), rsa_ca.root_pem().unwrap()).unwrap();
    std::fs::write(
        out.join("rsa-ca-issuer.pem"),
        rsa_ca.intermediate_pem().unwrap(),
    )
    .unwrap();
    std::fs::write(out.join("rsa-ca-ek-cert.der"), cert).unwrap();
    std::fs::write(out.join("rsa-ca-ek-public.bin"), ek).unwrap();
    std::fs::write(out.join("rsa-ca-other-ek-public.bin"), other_ek).unwrap();
    let (ecc, _) = ecc_ca();
    let (_sw3, _, cert, ek) = certified(&ecc);
    std::fs::write(out.join("ecc-ca-ek-cert.der"), cert).unwrap();
    std::fs::write(out.join("ecc-ca-ek-public.bin"), ek).unwrap();
}

/// The committed vectors, validated without a TPM (fixed times, so they never expire).
#[test]
fn committed_vectors_pass_and_fail_as_recorded() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    let at = |unix: u64| UNIX_EPOCH + Duration::from_secs(unix);
    let in_2030 = at(1_893_456_000);

    let mut rsa = EkTrustStore::new();
    rsa.add_roots_pem(&read("ek-vectors/rsa-ca-root.pem"))
        .unwrap();
    rsa.add_intermediates_pem(&read("ek-vectors/rsa-ca-issuer.pem"))
        .unwrap();
    let (cert, ek) = (
        read("ek-vectors/rsa-ca-ek-cert.der"),
        read("ek-vectors/rsa-ca-ek-public.bin"),
    );
    let (_, ecc) = ecc_ca();
    let (ecc_cert, ecc_ek) = (
        read("ek-vectors/ecc-ca-ek-cert.der"),
        read("ek-vectors/ecc-ca-ek-public.bin"),
    );

    // Pass set.
    assert_eq!(rsa.verify(&cert, &ek, in_2030).unwrap().chain.len(), 3);
    assert_eq!(
        ecc.verify(&ecc_cert, &ecc_ek, in_2030).unwrap().chain.len(),
        3
    );
    // Fail set.
    assert!(matches!(
        rsa.verify(&ecc_cert, &ecc_ek, in_2030),
        Err(Error::EkChainInvalid { .. })
    ));
    assert!(matches!(
        ecc.verify(&cert, &ek, in_2030),
        Err(Error::EkChainInvalid { .. })
    ));
    assert!(matches!(
        rsa.verify(
            &cert,
            &read("ek-vectors/rsa-ca-other-ek-public.bin"),
            in_2030
        ),
        Err(Error::EkPublicMismatch)
    ));
    assert!(matches!(
        rsa.verify(&cert, &ecc_ek, in_2030),
        Err(Error::EkPublicMismatch)
    ));
    assert!(matches!(
        rsa.verify(&cert, &ek, at(253_402_300_800)),
        Err(Error::EkCertificateExpired { .. })
    ));
    assert!(matches!(
        ecc.verify(&ecc_cert, &ecc_ek, at(1_000_000_000)),
        Err(Error::EkCertificateNotYetValid { .. })
    ));
    // Every single-bit change of the ECDSA-signed certificate is refused, as for RSA above.
    for i in 0..ecc_cert.len() {
        let mut c = ecc_cert.clone();
        c[i] ^= 0x01;
        assert!(ecc.verify(&c, &ecc_ek, in_2030).is_err(), "flip at {i}");
    }
    // The ECC root expires in 2126: a chain is only as valid as its CAs.
    assert!(matches!(
        ecc.verify(&ecc_cert, &ecc_ek, at(5_000_000_000)),
        Err(Error::EkCertificateExpired { ref subject }) if subject.contains("ECC")
    ));
}

/// The certificate certifies the key alone, so the public area around it must be exactly the TCG
/// template: otherwise one certified TPM could show many EK fingerprints (a fuzzer-made area
/// with one `authPolicy` byte changed validated before). Every single-bit change of the area is
/// refused, whether it touches the template or the key.
#[test]
fn the_certified_key_in_any_other_public_area_is_refused() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let read = |n: &str| std::fs::read(dir.join(n)).unwrap();
    let in_2030 = UNIX_EPOCH + Duration::from_secs(1_893_456_000);
    let mut rsa = EkTrustStore::new();
    rsa.add_roots_pem(&read("ek-vectors/rsa-ca-root.pem"))
        .unwrap();
    rsa.add_intermediates_pem(&read("ek-vectors/rsa-ca-issuer.pem"))
        .unwrap();
    let cert = read("ek-vectors/rsa-ca-ek-cert.der");
    let ek = read("ek-vectors/rsa-ca-ek-public.bin");
    assert!(rsa.verify(&cert, &ek, in_2030).is_ok());
    for i in 0..ek.len() {
        for bit in (0..8).map(|b| 1u8 << b) {
            let mut area = ek.clone();
            area[i] ^= bit;
            assert!(
                rsa.verify(&cert, &area, in_2030).is_err(),
                "byte {i} ^ {bit:#x}"
            );
        }
    }
    // The template outside the key: type, name algorithm, attributes, policy, symmetric
    // definition, scheme, key size and exponent (56 bytes before the modulus' size).
    let mut policy = ek.clone();
    policy[40] ^= 0x02; // the fuzzer's change
    assert!(matches!(
        rsa.verify(&cert, &policy, in_2030),
        Err(Error::Malformed { what }) if what.contains("TCG template")
    ));
    let mut exponent = ek.clone();
    exponent[53] = 0x01; // 65537 spelled out (0x00010001): the same key, another area
    exponent[55] = 0x01;
    assert!(rsa.verify(&cert, &exponent, in_2030).is_err());
    // A trailing byte is another area too.
    let mut longer = ek.clone();
    longer.push(0);
    assert!(rsa.verify(&cert, &longer, in_2030).is_err());
}
