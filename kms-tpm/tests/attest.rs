//! Attestation against a real software TPM: quotes verified in pure Rust, credential activation.
#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] fns

use kms_tpm::swtpm::Swtpm;
use kms_tpm::{Error, PcrAllowlist, PcrSelection, PcrValues, Quote, Tpm, verify_quote};

fn allow(values: &PcrValues) -> PcrAllowlist {
    let mut a = PcrAllowlist::new(values.selection());
    a.allow(values.clone()).unwrap();
    a
}

fn quoted() -> (Swtpm, Tpm, kms_tpm::AttestationKey, Quote, [u8; 32]) {
    let sw = Swtpm::start().unwrap();
    let mut tpm = Tpm::open(&sw.tcti()).unwrap();
    tpm.extend_pcr(4, b"kms image v1").unwrap();
    let ak = tpm.create_attestation_key().unwrap();
    let nonce = [7u8; 32];
    let quote = tpm
        .quote(&ak, &nonce, PcrSelection::measured_boot())
        .unwrap();
    (sw, tpm, ak, quote, nonce)
}

#[test]
fn quote_verifies_and_each_failure_has_its_own_error() {
    let (_sw, mut tpm, ak, quote, nonce) = quoted();
    let ok = verify_quote(ak.public(), &quote, &nonce, &allow(&quote.pcr_values)).unwrap();
    assert_eq!(ok.pcr_values, quote.pcr_values);

    // Stale or replayed: another nonce.
    let err = verify_quote(ak.public(), &quote, &[8u8; 32], &allow(&quote.pcr_values)).unwrap_err();
    assert!(matches!(err, Error::QuoteNonceMismatch), "{err:?}");

    // Altered signature, altered attest.
    let mut q = quote.clone();
    q.signature[40] ^= 1;
    assert!(matches!(
        verify_quote(ak.public(), &q, &nonce, &allow(&quote.pcr_values)),
        Err(Error::QuoteSignatureInvalid)
    ));
    let mut q = quote.clone();
    let n = q.attest.len();
    q.attest[n - 1] ^= 1;
    assert!(matches!(
        verify_quote(ak.public(), &q, &nonce, &allow(&quote.pcr_values)),
        Err(Error::QuoteSignatureInvalid)
    ));

    // Reported values that are not what the TPM signed (claiming the allowed state).
    let sel = quote.pcr_values.selection();
    let claimed = PcrValues::new(sel, vec![vec![0u8; 32]; 3]).unwrap();
    let q = Quote {
        pcr_values: claimed.clone(),
        ..quote.clone()
    };
    assert!(matches!(
        verify_quote(ak.public(), &q, &nonce, &allow(&claimed)),
        Err(Error::PcrDigestMismatch)
    ));

    // Honest quote of a state not on the allowlist: names the PCR.
    let err = verify_quote(ak.public(), &quote, &nonce, &allow(&claimed)).unwrap_err();
    assert!(
        matches!(err, Error::PcrValuesNotAllowed { ref pcrs } if pcrs == &vec![4]),
        "{err:?}"
    );
    let empty = PcrAllowlist::new(sel);
    assert!(matches!(
        verify_quote(ak.public(), &quote, &nonce, &empty),
        Err(Error::PcrValuesNotAllowed { .. })
    ));

    // Verifier expects another selection.
    let other: PcrSelection = "sha256:4,7".parse().unwrap();
    let mut a = PcrAllowlist::new(other);
    a.allow(tpm.read_pcrs(other).unwrap()).unwrap();
    assert!(matches!(
        verify_quote(ak.public(), &quote, &nonce, &a),
        Err(Error::QuoteSelectionMismatch)
    ));

    // Another AK of the same TPM did not sign it.
    let ak2 = tpm.create_attestation_key().unwrap();
    assert!(matches!(
        verify_quote(ak2.public(), &quote, &nonce, &allow(&quote.pcr_values)),
        Err(Error::QuoteSignatureInvalid)
    ));

    // A key that is not a restricted signing key is no attestation key.
    let dk = tpm.create_decryption_key(&quote.pcr_values).unwrap();
    assert!(matches!(
        verify_quote(dk.public(), &quote, &nonce, &allow(&quote.pcr_values)),
        Err(Error::AttestationKeyRejected { .. })
    ));
    assert!(matches!(
        verify_quote(&[0u8; 10], &quote, &nonce, &allow(&quote.pcr_values)),
        Err(Error::Malformed { .. })
    ));
}

#[test]
fn allowlist_accepts_any_listed_state() {
    let (_sw, _tpm, ak, quote, nonce) = quoted();
    let sel = quote.pcr_values.selection();
    let mut a = PcrAllowlist::new(sel);
    a.allow(PcrValues::new(sel, vec![vec![1u8; 32]; 3]).unwrap())
        .unwrap();
    a.allow(quote.pcr_values.clone()).unwrap();
    verify_quote(ak.public(), &quote, &nonce, &a).unwrap();
    let other = PcrValues::new("sha256:1".parse().unwrap(), vec![vec![0; 32]]).unwrap();
    assert!(a.allow(other).is_err());
}

#[test]
fn credential_activation_binds_the_ak_to_the_ek() {
    let joiner = Swtpm::start().unwrap();
    let verifier = Swtpm::start().unwrap();
    let mut j = Tpm::open(&joiner.tcti()).unwrap();
    let mut v = Tpm::open(&verifier.tcti()).unwrap();
    let ek = j.endorsement_key_public().unwrap();
    assert_eq!(ek, j.endorsement_key_public().unwrap(), "EK is stable");
    let ak = j.create_attestation_key().unwrap();
    let name = ak_name(ak.public());
    let secret = [0x5au8; 32];
    let (blob, enc) = v.make_credential(&ek, &name, &secret).unwrap();
    let got = j.activate_credential(&ak, &blob, &enc).unwrap();
    assert_eq!(got.expose_secret(), &secret);

    // A credential made for another object name cannot be activated with this AK.
    let ak2 = j.create_attestation_key().unwrap();
    let (blob, enc) = v.make_credential(&ek, &name, &secret).unwrap();
    assert!(matches!(
        j.activate_credential(&ak2, &blob, &enc),
        Err(Error::Tpm { .. })
    ));
    // Nor in another TPM (another EK).
    let v_ak = v.create_attestation_key().unwrap();
    let (blob, enc) = j
        .make_credential(&ek, &ak_name(v_ak.public()), &secret)
        .unwrap();
    assert!(matches!(
        v.activate_credential(&v_ak, &blob, &enc),
        Err(Error::Tpm { .. })
    ));
}

fn ak_name(public: &[u8]) -> Vec<u8> {
    use sha2::Digest as _;
    let mut n = vec![0x00, 0x0b];
    n.extend_from_slice(&sha2::Sha256::digest(public));
    n
}
