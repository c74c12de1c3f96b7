//! Master-key hand-over between two real software TPMs (two swtpm processes on loopback).
#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] fns

use kms_tpm::swtpm::Swtpm;
use kms_tpm::{
    Error, JoinChallenge, JoinHello, JoinMessage, JoinPolicy, JoinRequest, JoinResponse, Joiner,
    PcrAllowlist, PcrSelection, SealedBlob, Sealer as _, SecretBytes, Sponsor, Tpm, TpmSealer,
    ek_fingerprint,
};

/// Both machines boot the same image: the same measurements.
fn boot(tpm: &mut Tpm, image: &[u8]) {
    tpm.extend_pcr(4, image).unwrap();
    tpm.extend_pcr(7, b"secure boot: kms release key").unwrap();
    tpm.extend_pcr(11, b"kernel+initrd+cmdline").unwrap();
}

struct Pair {
    _sponsor_sw: Swtpm,
    joiner_sw: Swtpm,
    sponsor: Tpm,
    joiner: Tpm,
    policy: JoinPolicy,
    master: SecretBytes,
}

/// Sponsor genesis (master key generated in-process, sealed) and a joiner, both booted from
/// the same image; the sponsor allows its own PCR state and the joiner's EK.
fn pair() -> Pair {
    let sponsor_sw = Swtpm::start().unwrap();
    let joiner_sw = Swtpm::start().unwrap();
    let mut sponsor = Tpm::open(&sponsor_sw.tcti()).unwrap();
    let mut joiner = Tpm::open(&joiner_sw.tcti()).unwrap();
    boot(&mut sponsor, b"kms image v1");
    boot(&mut joiner, b"kms image v1");
    let sel = PcrSelection::measured_boot();
    let mut allowlist = PcrAllowlist::new(sel);
    allowlist.allow(sponsor.read_pcrs(sel).unwrap()).unwrap();
    let trusted = ek_fingerprint(&joiner.endorsement_key_public().unwrap());
    let master = SecretBytes::random(32).unwrap();
    Pair {
        _sponsor_sw: sponsor_sw,
        joiner_sw,
        sponsor,
        joiner,
        policy: JoinPolicy {
            allowlist,
            trusted_eks: vec![trusted],
        },
        master,
    }
}

/// Sends every message through its byte encoding, as over a network.
fn wire<T: Clone>(m: &T, enc: impl Fn(&T) -> Vec<u8>, dec: impl Fn(&[u8]) -> T) -> T {
    dec(&enc(m))
}

#[test]
fn happy_path_hands_over_the_master_key_and_joiner_seals_it() {
    let mut p = pair();
    // Genesis: the sponsor seals its master key to its own TPM.
    let mut sponsor_sealer = TpmSealer::new(p.sponsor, PcrSelection::measured_boot());
    let sponsor_blob = sponsor_sealer.seal(&p.master).unwrap();
    let mut sponsor = sponsor_sealer.into_tpm();
    let master = {
        let mut s = TpmSealer::new(sponsor, PcrSelection::measured_boot());
        let m = s.unseal(&sponsor_blob).unwrap();
        sponsor = s.into_tpm();
        m
    };

    let joiner = Joiner::new(&mut p.joiner).unwrap();
    let hello = wire(
        &joiner.hello(),
        |m| m.to_bytes().unwrap(),
        |b| JoinHello::from_bytes(b).unwrap(),
    );
    let (challenge, pending) = Sponsor::new(p.policy.clone())
        .challenge(&mut sponsor, &hello)
        .unwrap();
    let challenge = wire(
        &challenge,
        |m| m.to_bytes().unwrap(),
        |b| JoinChallenge::from_bytes(b).unwrap(),
    );
    let (request, awaiting) = joiner.respond(&mut p.joiner, &challenge).unwrap();
    let request = wire(
        &request,
        |m| m.to_bytes().unwrap(),
        |b| JoinRequest::from_bytes(b).unwrap(),
    );
    let response = pending.complete(&request, &master).unwrap();
    let response = wire(
        &response,
        |m| m.to_bytes().unwrap(),
        |b| JoinResponse::from_bytes(b).unwrap(),
    );
    assert!(
        !response
            .ciphertext
            .windows(16)
            .any(|w| master.expose_secret().windows(16).any(|x| x == w))
    );
    let (got, blob) = awaiting.finish(&mut p.joiner, &response).unwrap();
    assert_eq!(got.expose_secret(), p.master.expose_secret());

    // The joiner's blob unseals on the joiner (also in a fresh connection) ...
    let blob_bytes = blob.to_bytes().unwrap();
    drop(p.joiner);
    let mut js = TpmSealer::new(
        Tpm::open(&p.joiner_sw.tcti()).unwrap(),
        PcrSelection::measured_boot(),
    );
    assert_eq!(
        js.unseal(&blob_bytes).unwrap().expose_secret(),
        p.master.expose_secret()
    );
    assert_eq!(
        SealedBlob::from_bytes(&blob_bytes).unwrap().pcr_values(),
        &js.tpm().read_pcrs(PcrSelection::measured_boot()).unwrap()
    );
    // ... but not on the sponsor's TPM.
    let mut ss = TpmSealer::new(sponsor, PcrSelection::measured_boot());
    assert!(matches!(ss.unseal(&blob_bytes), Err(Error::Tpm { .. })));
}

/// Runs a join up to the sponsor's verdict.
fn attempt(p: &mut Pair) -> Result<JoinResponse, Error> {
    let joiner = Joiner::new(&mut p.joiner)?;
    let (challenge, pending) =
        Sponsor::new(p.policy.clone()).challenge(&mut p.sponsor, &joiner.hello())?;
    let (request, _) = joiner.respond(&mut p.joiner, &challenge)?;
    pending.complete(&request, &p.master)
}

#[test]
fn joiner_with_other_pcr_values_is_refused() {
    let mut p = pair();
    p.joiner
        .extend_pcr(11, b"debug kernel command line")
        .unwrap();
    let err = attempt(&mut p).unwrap_err();
    assert!(
        matches!(err, Error::PcrValuesNotAllowed { ref pcrs } if pcrs == &vec![11]),
        "{err:?}"
    );
}

#[test]
fn joiner_lying_about_its_pcr_values_is_refused() {
    let mut p = pair();
    let allowed = p.sponsor.read_pcrs(PcrSelection::measured_boot()).unwrap();
    p.joiner.extend_pcr(4, b"backdoored image").unwrap();
    let joiner = Joiner::new(&mut p.joiner).unwrap();
    let (challenge, pending) = Sponsor::new(p.policy.clone())
        .challenge(&mut p.sponsor, &joiner.hello())
        .unwrap();
    let (mut request, _) = joiner.respond(&mut p.joiner, &challenge).unwrap();
    request.quote.pcr_values = allowed;
    assert!(matches!(
        pending.complete(&request, &p.master),
        Err(Error::PcrDigestMismatch)
    ));
}

#[test]
fn replayed_quote_with_old_nonce_is_refused() {
    let mut p = pair();
    let joiner = Joiner::new(&mut p.joiner).unwrap();
    let sponsor = Sponsor::new(p.policy.clone());
    let (old_challenge, old_pending) = sponsor.challenge(&mut p.sponsor, &joiner.hello()).unwrap();
    let (old_request, _) = joiner.respond(&mut p.joiner, &old_challenge).unwrap();
    old_pending.complete(&old_request, &p.master).unwrap();

    // A new session: the old request (quote over the old nonce) is replayed whole ...
    let (_, pending) = sponsor.challenge(&mut p.sponsor, &joiner.hello()).unwrap();
    assert!(matches!(
        pending.complete(&old_request, &p.master),
        Err(Error::QuoteNonceMismatch)
    ));

    // ... or only its quote, next to a fresh certification.
    let (challenge, pending) = sponsor.challenge(&mut p.sponsor, &joiner.hello()).unwrap();
    let (mut request, _) = joiner.respond(&mut p.joiner, &challenge).unwrap();
    request.quote = old_request.quote.clone();
    assert!(matches!(
        pending.complete(&request, &p.master),
        Err(Error::QuoteNonceMismatch)
    ));

    // ... or the old certification next to a fresh quote.
    let (challenge, pending) = sponsor.challenge(&mut p.sponsor, &joiner.hello()).unwrap();
    let (mut request, _) = joiner.respond(&mut p.joiner, &challenge).unwrap();
    request.certification = old_request.certification.clone();
    request.dk_public = old_request.dk_public.clone();
    assert!(matches!(
        pending.complete(&request, &p.master),
        Err(Error::CertificationInvalid { .. })
    ));
}

#[test]
fn endorsement_key_not_on_allowlist_is_refused() {
    let mut p = pair();
    p.policy.trusted_eks = vec![ek_fingerprint(&p.sponsor.endorsement_key_public().unwrap())];
    let err = attempt(&mut p).unwrap_err();
    assert!(
        matches!(err, Error::EndorsementKeyNotTrusted { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("not on the trusted allowlist"));
}

#[test]
fn tampered_wrapped_key_is_refused() {
    let mut p = pair();
    let joiner = Joiner::new(&mut p.joiner).unwrap();
    let sponsor = Sponsor::new(p.policy.clone());
    let (challenge, pending) = sponsor.challenge(&mut p.sponsor, &joiner.hello()).unwrap();
    let (request, awaiting) = joiner.respond(&mut p.joiner, &challenge).unwrap();
    let response = pending.complete(&request, &p.master).unwrap();
    let mut t = response.clone();
    t.ciphertext[5] ^= 0x80;
    assert!(matches!(
        awaiting.finish(&mut p.joiner, &t),
        Err(Error::DecryptionFailed)
    ));

    // Another valid point instead of the sponsor's ephemeral key.
    let (challenge, pending) = sponsor.challenge(&mut p.sponsor, &joiner.hello()).unwrap();
    let (request, awaiting) = joiner.respond(&mut p.joiner, &challenge).unwrap();
    let other = pending.complete(&request, &p.master).unwrap();
    let mut t = other.clone();
    t.ephemeral_public = response.ephemeral_public;
    assert!(matches!(
        awaiting.finish(&mut p.joiner, &t),
        Err(Error::DecryptionFailed)
    ));

    // A point that is not on the curve.
    let (challenge, pending) = sponsor.challenge(&mut p.sponsor, &joiner.hello()).unwrap();
    let (request, awaiting) = joiner.respond(&mut p.joiner, &challenge).unwrap();
    let mut t = pending.complete(&request, &p.master).unwrap();
    t.ephemeral_public[64] ^= 1;
    assert!(matches!(
        awaiting.finish(&mut p.joiner, &t),
        Err(Error::Malformed { .. })
    ));
}

#[test]
fn ak_from_another_tpm_than_the_trusted_ek_is_refused() {
    let mut p = pair();
    // An attacker's TPM in the allowed state presents the trusted joiner's EK with its own AK.
    let attacker_sw = Swtpm::start().unwrap();
    let mut attacker = Tpm::open(&attacker_sw.tcti()).unwrap();
    boot(&mut attacker, b"kms image v1");
    let honest = Joiner::new(&mut p.joiner).unwrap();
    let fake = Joiner::new(&mut attacker).unwrap();
    let hello = JoinHello {
        ek_public: honest.hello().ek_public,
        ak_public: fake.hello().ak_public,
    };
    let (challenge, pending) = Sponsor::new(p.policy.clone())
        .challenge(&mut p.sponsor, &hello)
        .unwrap();
    // Its TPM cannot activate a credential made for another EK ...
    assert!(matches!(
        fake.respond(&mut attacker, &challenge),
        Err(Error::Tpm {
            operation: "ActivateCredential",
            ..
        })
    ));
    // ... so it can only guess the proof.
    let (own_challenge, _) = Sponsor::new(JoinPolicy {
        trusted_eks: vec![ek_fingerprint(&fake.hello().ek_public)],
        ..p.policy.clone()
    })
    .challenge(&mut p.sponsor, &fake.hello())
    .unwrap();
    let (mut request, _) = fake
        .respond(
            &mut attacker,
            &JoinChallenge {
                nonce: challenge.nonce,
                ..own_challenge
            },
        )
        .unwrap();
    request.activation_proof = [0u8; 32];
    assert!(matches!(
        pending.complete(&request, &p.master),
        Err(Error::ActivationProofInvalid)
    ));
}

#[test]
fn messages_reject_wrong_type_truncation_and_trailing_bytes() {
    let mut p = pair();
    let joiner = Joiner::new(&mut p.joiner).unwrap();
    let hello = joiner.hello().to_bytes().unwrap();
    assert!(matches!(
        JoinChallenge::from_bytes(&hello),
        Err(Error::UnexpectedMessage {
            expected: "JoinChallenge"
        })
    ));
    for n in 0..hello.len() {
        assert!(
            JoinMessage::from_bytes(&hello[..n]).is_err(),
            "truncated at {n} accepted"
        );
    }
    let mut long = hello.clone();
    long.push(0);
    assert!(matches!(
        JoinMessage::from_bytes(&long),
        Err(Error::Malformed { .. })
    ));
    let mut v2 = hello.clone();
    v2[5] = 2;
    assert!(matches!(
        JoinMessage::from_bytes(&v2),
        Err(Error::UnsupportedVersion { found: 2, .. })
    ));
    let (challenge, pending) = Sponsor::new(p.policy.clone())
        .challenge(&mut p.sponsor, &joiner.hello())
        .unwrap();
    let (request, _) = joiner.respond(&mut p.joiner, &challenge).unwrap();
    let bytes = request.to_bytes().unwrap();
    assert_eq!(JoinRequest::from_bytes(&bytes).unwrap(), request);
    assert!(JoinRequest::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    drop(pending);
}
