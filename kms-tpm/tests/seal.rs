//! Sealing against a real software TPM (swtpm on 127.0.0.1, one per test).
#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] fns

use kms_tpm::swtpm::Swtpm;
use kms_tpm::{
    Error, PcrBank, PcrSelection, PcrValues, SealedBlob, Sealer as _, SecretBytes, Tpm, TpmSealer,
};
use sha2::{Digest as _, Sha256};

fn sealer(sw: &Swtpm) -> TpmSealer {
    TpmSealer::new(
        Tpm::open(&sw.tcti()).unwrap(),
        PcrSelection::measured_boot(),
    )
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn seal_unseal_round_trip_through_a_file() {
    let sw = Swtpm::start().unwrap();
    let mut s = sealer(&sw);
    let secret = SecretBytes::random(32).unwrap();
    let blob = s.seal(&secret).unwrap();
    assert!(
        !blob
            .windows(8)
            .any(|w| secret.expose_secret().windows(8).any(|x| x == w)),
        "secret bytes in blob"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.sealed");
    kms_tpm::write_blob_file(&path, &blob).unwrap();
    let back = s.unseal(&kms_tpm::read_blob_file(&path).unwrap()).unwrap();
    assert_eq!(back.expose_secret(), secret.expose_secret());
    // The return type is the zeroizing secret type.
    let _: SecretBytes = back;
}

#[test]
fn policy_digest_matches_the_tpm() {
    let sw = Swtpm::start().unwrap();
    let mut tpm = Tpm::open(&sw.tcti()).unwrap();
    for sel in ["sha256:4,7,11", "sha256:0,1,2,3,4,5,6,7,8,9,23", "sha1:7"] {
        let sel: PcrSelection = sel.parse().unwrap();
        let values = tpm.read_pcrs(sel).unwrap();
        assert_eq!(
            tpm.trial_policy_digest(&values).unwrap(),
            values.policy_digest().to_vec(),
            "{sel}"
        );
    }
}

#[test]
fn changed_pcr_gives_policy_mismatch_naming_the_pcrs() {
    let sw = Swtpm::start().unwrap();
    let mut s = sealer(&sw);
    let blob = s
        .seal(&SecretBytes::from_slice(b"master key bytes"))
        .unwrap();
    s.tpm().extend_pcr(4, b"evil boot loader").unwrap();
    s.tpm().extend_pcr(11, b"evil kernel").unwrap();
    s.tpm().extend_pcr(12, b"not in the policy").unwrap();
    match s.unseal(&blob) {
        Err(Error::PolicyMismatch { bank, pcrs }) => {
            assert_eq!(bank, PcrBank::Sha256);
            assert_eq!(pcrs, vec![4, 11]);
        }
        other => panic!("expected PolicyMismatch, got {other:?}"),
    }
    let msg = s.unseal(&blob).unwrap_err().to_string();
    assert!(msg.contains("[4, 11]") && msg.contains("sha256"), "{msg}");
}

#[test]
fn unseals_after_tpm_restart_with_same_state() {
    let sw = Swtpm::start().unwrap();
    let secret = SecretBytes::random(32).unwrap();
    let blob = {
        let mut s = sealer(&sw);
        s.seal(&secret).unwrap()
    };
    let dir = sw.stop_keep_state();
    let _cleanup = TempDirGuard(dir.clone());
    let sw = Swtpm::start_in(&dir).unwrap();
    let mut s = sealer(&sw);
    assert_eq!(
        s.unseal(&blob).unwrap().expose_secret(),
        secret.expose_secret()
    );
}

struct TempDirGuard(std::path::PathBuf);
impl Drop for TempDirGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Parent: seals, then runs this same test binary in a new process (child mode) to unseal.
#[test]
fn unseals_in_a_new_process() {
    if let (Ok(tcti), Ok(path)) = (
        std::env::var("KMS_TPM_TEST_CHILD_TCTI"),
        std::env::var("KMS_TPM_TEST_CHILD_BLOB"),
    ) {
        let mut s = TpmSealer::new(Tpm::open(&tcti).unwrap(), PcrSelection::measured_boot());
        let secret = s
            .unseal(&kms_tpm::read_blob_file(path.as_ref()).unwrap())
            .unwrap();
        println!(
            "CHILD-UNSEALED {}",
            hex(&Sha256::digest(secret.expose_secret()))
        );
        return;
    }
    let sw = Swtpm::start().unwrap();
    let secret = SecretBytes::random(32).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.sealed");
    {
        let mut s = sealer(&sw);
        kms_tpm::write_blob_file(&path, &s.seal(&secret).unwrap()).unwrap();
    } // the connection closes: swtpm serves one client at a time
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "unseals_in_a_new_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("KMS_TPM_TEST_CHILD_TCTI", sw.tcti())
        .env("KMS_TPM_TEST_CHILD_BLOB", &path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let want = format!(
        "CHILD-UNSEALED {}",
        hex(&Sha256::digest(secret.expose_secret()))
    );
    assert!(stdout.contains(&want), "child output: {stdout}");
}

#[test]
fn blob_from_another_tpm_is_refused() {
    let a = Swtpm::start().unwrap();
    let b = Swtpm::start().unwrap();
    let blob = sealer(&a).seal(&SecretBytes::random(32).unwrap()).unwrap();
    let err = sealer(&b).unseal(&blob).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Tpm {
                operation: "Load",
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn tampered_blobs_are_refused_before_or_by_the_tpm() {
    let sw = Swtpm::start().unwrap();
    let mut s = sealer(&sw);
    let blob = s.seal(&SecretBytes::random(32).unwrap()).unwrap();
    // Any flipped byte breaks the checksum.
    for i in [0, 9, 12, 20, blob.len() / 2, blob.len() - 1] {
        let mut t = blob.clone();
        t[i] ^= 0x01;
        assert!(
            matches!(
                s.unseal(&t),
                Err(Error::Malformed { .. } | Error::UnsupportedVersion { .. })
            ),
            "flip at {i}"
        );
    }
    assert!(matches!(
        s.unseal(&blob[..blob.len() - 1]),
        Err(Error::Malformed { .. })
    ));
    // An attacker who recomputes the checksum: changed PCR values no longer match the policy.
    let reseal = |mut body: Vec<u8>| {
        body.truncate(body.len() - 32);
        let c = Sha256::digest(&body);
        body.extend_from_slice(&c);
        body
    };
    let mut t = blob.clone();
    t[16] ^= 0x01; // first PCR value
    assert!(matches!(s.unseal(&reseal(t)), Err(Error::Malformed { .. })));
    // ... and an altered private part fails the TPM's integrity check.
    let mut t = blob.clone();
    let n = t.len();
    t[n - 40] ^= 0x01;
    assert!(matches!(s.unseal(&reseal(t)), Err(Error::Tpm { .. })));
}

#[test]
fn oversized_secret_is_refused() {
    let sw = Swtpm::start().unwrap();
    let mut s = sealer(&sw);
    let err = s.seal(&SecretBytes::from_slice(&[1u8; 129])).unwrap_err();
    assert!(matches!(err, Error::SecretTooLarge { len: 129, max: 128 }));
}

#[test]
fn seal_to_predicted_values_of_the_next_boot() {
    let sw = Swtpm::start().unwrap();
    let mut s = sealer(&sw);
    let sel = PcrSelection::measured_boot();
    let now = s.tpm().read_pcrs(sel).unwrap();
    // Predict PCR 11 after measuring the next image: SHA-256(old || SHA-256(image)).
    let mut values: Vec<Vec<u8>> = now.iter().map(|(_, v)| v.to_vec()).collect();
    let mut h = Sha256::new();
    h.update(&values[2]);
    h.update(Sha256::digest(b"kms image v2"));
    values[2] = h.finalize().to_vec();
    let predicted = PcrValues::new(sel, values).unwrap();
    let secret = SecretBytes::random(32).unwrap();
    let blob = s.seal_to(&secret, &predicted).unwrap();
    assert!(
        matches!(s.unseal(&blob), Err(Error::PolicyMismatch { ref pcrs, .. }) if pcrs == &vec![11])
    );
    s.tpm().extend_pcr(11, b"kms image v2").unwrap();
    assert_eq!(
        s.unseal(&blob).unwrap().expose_secret(),
        secret.expose_secret()
    );
    assert_eq!(
        SealedBlob::from_bytes(&blob).unwrap().pcr_values(),
        &predicted
    );
}

#[test]
fn other_bank_and_selection_are_configurable() {
    let sw = Swtpm::start().unwrap();
    let sel: PcrSelection = "sha1:0,7".parse().unwrap();
    let mut s = TpmSealer::new(Tpm::open(&sw.tcti()).unwrap(), sel);
    let secret = SecretBytes::random(48).unwrap();
    let blob = s.seal(&secret).unwrap();
    assert_eq!(
        s.unseal(&blob).unwrap().expose_secret(),
        secret.expose_secret()
    );
    // A measurement of PCR 7 shows in the SHA-1 bank too.
    s.tpm().extend_pcr(7, b"secure boot db update").unwrap();
    assert!(
        matches!(s.unseal(&blob), Err(Error::PolicyMismatch { bank: PcrBank::Sha1, ref pcrs }) if pcrs == &vec![7])
    );
}

#[test]
fn bad_tcti_is_a_typed_error() {
    assert!(matches!(
        Tpm::open("carrier-pigeon:coo"),
        Err(Error::InvalidTcti { .. })
    ));
}
