//! Master-key hand-over between two real software TPMs (two swtpm processes on loopback).
#![allow(clippy::unwrap_used, clippy::panic)] // test helpers outside #[test] fns

use kms_tpm::swtpm::Swtpm;
use kms_tpm::{
    Error, JoinChallenge, JoinHello, JoinMessage, JoinPolicy, JoinRequest, JoinResponse, Joiner,
    PcrAllowlist, PcrSelection, SealedBlob, Sealer as _, SecretBytes, Sponsor, Tpm, TpmSealer,
    ek_fingerprint,
};

/// Whether `e` is the joiner refusing its sponsor for a reason matching `inner`.
fn sponsor_rejected(e: &Error, inner: impl Fn(&Error) -> bool) -> bool {
    matches!(e, Error::SponsorRejected(i) if inner(i))
}

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
    /// What the sponsor requires of the joiner.
    policy: JoinPolicy,
    /// What the joiner requires of the sponsor.
    joiner_policy: JoinPolicy,
    master: SecretBytes,
}

/// Sponsor genesis (master key generated in-process, sealed) and a joiner, both booted from
/// the same image; each allows that PCR state and the other's EK.
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
    let sponsor_ek = ek_fingerprint(&sponsor.endorsement_key_public().unwrap());
    let master = SecretBytes::random(32).unwrap();
    Pair {
        _sponsor_sw: sponsor_sw,
        joiner_sw,
        sponsor,
        joiner,
        policy: JoinPolicy::new(allowlist.clone()).trust_ek(trusted),
        joiner_policy: JoinPolicy::new(allowlist).trust_ek(sponsor_ek),
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

    let joiner = Joiner::new(&mut p.joiner, p.joiner_policy.clone()).unwrap();
    let (hello, sent) = joiner.hello().unwrap();
    let hello = wire(
        &hello,
        |m| m.to_bytes().unwrap(),
        |b| JoinHello::from_bytes(b).unwrap(),
    );
    let (challenge, pending) = Sponsor::new(&mut sponsor, p.policy.clone())
        .unwrap()
        .challenge(&mut sponsor, &hello)
        .unwrap();
    let challenge = wire(
        &challenge,
        |m| m.to_bytes().unwrap(),
        |b| JoinChallenge::from_bytes(b).unwrap(),
    );
    let (request, awaiting) = joiner.respond(&mut p.joiner, sent, &challenge).unwrap();
    let request = wire(
        &request,
        |m| m.to_bytes().unwrap(),
        |b| JoinRequest::from_bytes(b).unwrap(),
    );
    let response = pending.complete(&mut sponsor, &request, &master).unwrap();
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
    let joiner = Joiner::new(&mut p.joiner, p.joiner_policy.clone())?;
    let (hello, sent) = joiner.hello()?;
    let (challenge, pending) =
        Sponsor::new(&mut p.sponsor, p.policy.clone())?.challenge(&mut p.sponsor, &hello)?;
    let (request, _) = joiner.respond(&mut p.joiner, sent, &challenge)?;
    pending.complete(&mut p.sponsor, &request, &p.master)
}

/// One session: the joiner, its hello and sent state, the sponsor's challenge and pending state.
fn session(
    p: &mut Pair,
    joiner: &Joiner,
    sponsor: &Sponsor,
) -> (JoinChallenge, kms_tpm::HelloSent, kms_tpm::PendingJoin) {
    let (hello, sent) = joiner.hello().unwrap();
    let (challenge, pending) = sponsor.challenge(&mut p.sponsor, &hello).unwrap();
    (challenge, sent, pending)
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
    // The joiner's own policy must let it go on: it allows the sponsor's state.
    let joiner = Joiner::new(&mut p.joiner, p.joiner_policy.clone()).unwrap();
    let sponsor = Sponsor::new(&mut p.sponsor, p.policy.clone()).unwrap();
    let (challenge, sent, pending) = session(&mut p, &joiner, &sponsor);
    let (mut request, _) = joiner.respond(&mut p.joiner, sent, &challenge).unwrap();
    request.quote.pcr_values = allowed;
    assert!(matches!(
        pending.complete(&mut p.sponsor, &request, &p.master),
        Err(Error::PcrDigestMismatch)
    ));
}

#[test]
fn replayed_quote_with_old_nonce_is_refused() {
    let mut p = pair();
    let joiner = Joiner::new(&mut p.joiner, p.joiner_policy.clone()).unwrap();
    let sponsor = Sponsor::new(&mut p.sponsor, p.policy.clone()).unwrap();
    let (old_challenge, sent, old_pending) = session(&mut p, &joiner, &sponsor);
    let (old_request, _) = joiner.respond(&mut p.joiner, sent, &old_challenge).unwrap();
    old_pending
        .complete(&mut p.sponsor, &old_request, &p.master)
        .unwrap();

    // A new session: the old request (quote over the old nonce) is replayed whole ...
    let (_, _, pending) = session(&mut p, &joiner, &sponsor);
    assert!(matches!(
        pending.complete(&mut p.sponsor, &old_request, &p.master),
        Err(Error::QuoteNonceMismatch)
    ));

    // ... or only its quote, next to a fresh certification.
    let (challenge, sent, pending) = session(&mut p, &joiner, &sponsor);
    let (mut request, _) = joiner.respond(&mut p.joiner, sent, &challenge).unwrap();
    request.quote = old_request.quote.clone();
    assert!(matches!(
        pending.complete(&mut p.sponsor, &request, &p.master),
        Err(Error::QuoteNonceMismatch)
    ));

    // ... or the old certification next to a fresh quote.
    let (challenge, sent, pending) = session(&mut p, &joiner, &sponsor);
    let (mut request, _) = joiner.respond(&mut p.joiner, sent, &challenge).unwrap();
    request.certification = old_request.certification.clone();
    request.dk_public = old_request.dk_public.clone();
    assert!(matches!(
        pending.complete(&mut p.sponsor, &request, &p.master),
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
    let joiner = Joiner::new(&mut p.joiner, p.joiner_policy.clone()).unwrap();
    let sponsor = Sponsor::new(&mut p.sponsor, p.policy.clone()).unwrap();
    let (challenge, sent, pending) = session(&mut p, &joiner, &sponsor);
    let (request, awaiting) = joiner.respond(&mut p.joiner, sent, &challenge).unwrap();
    let response = pending
        .complete(&mut p.sponsor, &request, &p.master)
        .unwrap();
    let mut t = response.clone();
    t.ciphertext[5] ^= 0x80;
    let err = awaiting.finish(&mut p.joiner, &t).unwrap_err();
    assert!(
        sponsor_rejected(&err, |e| matches!(e, Error::ActivationProofInvalid)),
        "{err:?}"
    );

    // Another valid point instead of the sponsor's ephemeral key.
    let (challenge, sent, pending) = session(&mut p, &joiner, &sponsor);
    let (request, awaiting) = joiner.respond(&mut p.joiner, sent, &challenge).unwrap();
    let other = pending
        .complete(&mut p.sponsor, &request, &p.master)
        .unwrap();
    let mut t = other.clone();
    t.ephemeral_public = response.ephemeral_public;
    assert!(matches!(
        awaiting.finish(&mut p.joiner, &t),
        Err(Error::SponsorRejected(_))
    ));

    // A point that is not on the curve.
    let (challenge, sent, pending) = session(&mut p, &joiner, &sponsor);
    let (request, awaiting) = joiner.respond(&mut p.joiner, sent, &challenge).unwrap();
    let mut t = pending
        .complete(&mut p.sponsor, &request, &p.master)
        .unwrap();
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
    let honest = Joiner::new(&mut p.joiner, p.joiner_policy.clone()).unwrap();
    let fake = Joiner::new(&mut attacker, p.joiner_policy.clone()).unwrap();
    let (fake_hello, fake_sent) = fake.hello().unwrap();
    let hello = JoinHello {
        ek_public: honest.hello().unwrap().0.ek_public,
        ..fake_hello.clone()
    };
    let sponsor = Sponsor::new(&mut p.sponsor, p.policy.clone()).unwrap();
    let (challenge, pending) = sponsor.challenge(&mut p.sponsor, &hello).unwrap();
    // Its TPM cannot activate a credential made for another EK ...
    assert!(matches!(
        fake.respond(&mut attacker, fake_sent, &challenge),
        Err(Error::Tpm {
            operation: "ActivateCredential",
            ..
        })
    ));
    // ... so it can only guess the proof.
    let (fake_hello, fake_sent) = fake.hello().unwrap();
    let own = Sponsor::new(
        &mut p.sponsor,
        p.policy
            .clone()
            .trust_ek(ek_fingerprint(&fake_hello.ek_public)),
    )
    .unwrap();
    let (own_challenge, _) = own.challenge(&mut p.sponsor, &fake_hello).unwrap();
    let (mut request, _) = fake
        .respond(
            &mut attacker,
            fake_sent,
            &JoinChallenge {
                nonce: challenge.nonce,
                ..own_challenge
            },
        )
        .unwrap();
    request.activation_proof = [0u8; 32];
    assert!(matches!(
        pending.complete(&mut p.sponsor, &request, &p.master),
        Err(Error::ActivationProofInvalid)
    ));
}

#[test]
fn joiner_refuses_a_sponsor_with_other_pcr_values() {
    let mut p = pair();
    // The sponsor booted something else since: its quote shows PCR 11 changed.
    p.sponsor
        .extend_pcr(11, b"debug kernel command line")
        .unwrap();
    let joiner = Joiner::new(&mut p.joiner, p.joiner_policy.clone()).unwrap();
    // The sponsor still allows the joiner's (original) state, so it answers ...
    let sponsor = Sponsor::new(&mut p.sponsor, p.policy.clone()).unwrap();
    let (challenge, sent, _pending) = session(&mut p, &joiner, &sponsor);
    // ... but the joiner stops before creating a key or sending anything.
    let err = joiner.respond(&mut p.joiner, sent, &challenge).unwrap_err();
    assert!(
        sponsor_rejected(
            &err,
            |e| matches!(e, Error::PcrValuesNotAllowed { pcrs } if pcrs == &vec![11])
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "sponsor rejected: quoted PCR values are not allowed: PCRs [11] differ from the closest allowed state"
    );
}

#[test]
fn joiner_refuses_a_replayed_sponsor_quote() {
    let mut p = pair();
    let joiner = Joiner::new(&mut p.joiner, p.joiner_policy.clone()).unwrap();
    let sponsor = Sponsor::new(&mut p.sponsor, p.policy.clone()).unwrap();
    // A recorded session with the real sponsor (its quote covers that hello's nonce) ...
    let (old_challenge, _old_sent, _) = session(&mut p, &joiner, &sponsor);
    // ... replayed by a rogue sponsor to a new hello: the quote's nonce is stale.
    let (_hello, sent) = joiner.hello().unwrap();
    let err = joiner
        .respond(&mut p.joiner, sent, &old_challenge)
        .unwrap_err();
    assert!(
        sponsor_rejected(&err, |e| matches!(e, Error::QuoteNonceMismatch)),
        "{err:?}"
    );
    // Its fresh challenge with only the old quote spliced in: refused the same way.
    let (mut challenge, sent, _) = session(&mut p, &joiner, &sponsor);
    challenge.sponsor_quote = old_challenge.sponsor_quote.clone();
    assert!(sponsor_rejected(
        &joiner.respond(&mut p.joiner, sent, &challenge).unwrap_err(),
        |e| matches!(e, Error::QuoteNonceMismatch)
    ));
}

#[test]
fn joiner_refuses_an_untrusted_sponsor_and_a_planted_key() {
    let mut p = pair();
    // A rogue sponsor: a TPM in the allowed state that is not on the joiner's EK list. It
    // trusts the joiner (it wants it to take its key).
    let rogue_sw = Swtpm::start().unwrap();
    let mut rogue = Tpm::open(&rogue_sw.tcti()).unwrap();
    boot(&mut rogue, b"kms image v1");
    let joiner = Joiner::new(&mut p.joiner, p.joiner_policy.clone()).unwrap();
    let rogue_sponsor = Sponsor::new(&mut rogue, p.policy.clone()).unwrap();
    let (hello, sent) = joiner.hello().unwrap();
    let (challenge, _) = rogue_sponsor.challenge(&mut rogue, &hello).unwrap();
    let err = joiner.respond(&mut p.joiner, sent, &challenge).unwrap_err();
    assert!(
        sponsor_rejected(&err, |e| matches!(
            e,
            Error::EndorsementKeyNotTrusted { .. }
        )),
        "{err:?}"
    );

    // The rogue relays the real sponsor's challenge (trusted EK, good quote), then answers the
    // joiner's request itself: a key it knows, correctly wrapped to the joiner's decryption key
    // (everything the wrap needs is public, SPEC.md "Join protocol" step 4).
    let sponsor = Sponsor::new(&mut p.sponsor, p.policy.clone()).unwrap();
    let (challenge, sent, _real_pending) = session(&mut p, &joiner, &sponsor);
    let (request, awaiting) = joiner.respond(&mut p.joiner, sent, &challenge).unwrap();
    let planted = [0x5A; 32];
    let forged = wrap_as_anyone(&challenge.nonce, &request.dk_public, &planted);
    let err = awaiting.finish(&mut p.joiner, &forged).unwrap_err();
    assert!(
        sponsor_rejected(&err, |e| matches!(e, Error::ActivationProofInvalid)),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("sponsor rejected: "), "{err}");
}

/// The v2 wrap (SPEC.md) of `secret` to a decryption key, as anyone can compute it, with a
/// guessed (zero) sponsor proof.
fn wrap_as_anyone(nonce: &[u8; 32], dk_public: &[u8], secret: &[u8]) -> JoinResponse {
    use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
    use p256::elliptic_curve::sec1::ToSec1Point as _;
    use sha2::{Digest as _, Sha256};
    // TPMT_PUBLIC of an ECC key ends with x and y as TPM2B (32 bytes each for P-256).
    let n = dk_public.len();
    let mut sec1 = [0u8; 65];
    sec1[0] = 4;
    sec1[1..33].copy_from_slice(&dk_public[n - 66..n - 34]);
    sec1[33..].copy_from_slice(&dk_public[n - 32..]);
    let dk = p256::PublicKey::from_sec1_bytes(&sec1).unwrap();
    let eph = p256::SecretKey::from_slice(&[7u8; 32]).unwrap();
    let mut e = [0u8; 65];
    e.copy_from_slice(eph.public_key().to_sec1_point(false).as_bytes());
    let shared = p256::ecdh::diffie_hellman(eph.to_nonzero_scalar(), dk.as_affine());
    let mut dk_name = vec![0x00, 0x0B];
    dk_name.extend_from_slice(&Sha256::digest(dk_public));
    let hk = hkdf::Hkdf::<Sha256>::new(Some(nonce), shared.raw_secret_bytes());
    let mut key = [0u8; 32];
    hk.expand_multi_info(&[b"kms-tpm/join/v2/wrap-key", &dk_name, &e], &mut key)
        .unwrap();
    let aad = [&b"kms-tpm/join/v2/wrapped-secret"[..], nonce, &dk_name].concat();
    let ciphertext = chacha20poly1305::ChaCha20Poly1305::new_from_slice(&key)
        .unwrap()
        .encrypt(
            &chacha20poly1305::Nonce::default(),
            Payload {
                msg: secret,
                aad: &aad,
            },
        )
        .unwrap();
    JoinResponse {
        ephemeral_public: e,
        ciphertext,
        sponsor_proof: [0u8; 32],
    }
}

#[test]
fn messages_reject_wrong_type_truncation_and_trailing_bytes() {
    let mut p = pair();
    let joiner = Joiner::new(&mut p.joiner, p.joiner_policy.clone()).unwrap();
    let (hello_msg, sent) = joiner.hello().unwrap();
    let hello = hello_msg.to_bytes().unwrap();
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
    // Version 1 (the protocol without the sponsor's attestation) is refused.
    let mut v1 = hello.clone();
    v1[5] = 1;
    assert!(matches!(
        JoinMessage::from_bytes(&v1),
        Err(Error::UnsupportedVersion { found: 1, .. })
    ));
    let sponsor = Sponsor::new(&mut p.sponsor, p.policy.clone()).unwrap();
    let (challenge, pending) = sponsor.challenge(&mut p.sponsor, &hello_msg).unwrap();
    let bytes = challenge.to_bytes().unwrap();
    assert_eq!(JoinChallenge::from_bytes(&bytes).unwrap(), challenge);
    assert!(JoinChallenge::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    let (request, _) = joiner.respond(&mut p.joiner, sent, &challenge).unwrap();
    let bytes = request.to_bytes().unwrap();
    assert_eq!(JoinRequest::from_bytes(&bytes).unwrap(), request);
    assert!(JoinRequest::from_bytes(&bytes[..bytes.len() - 1]).is_err());
    let response = pending
        .complete(&mut p.sponsor, &request, &p.master)
        .unwrap();
    let bytes = response.to_bytes().unwrap();
    assert_eq!(JoinResponse::from_bytes(&bytes).unwrap(), response);
    assert!(JoinResponse::from_bytes(&bytes[..bytes.len() - 1]).is_err());
}

#[test]
fn both_sides_trusted_by_manufacturer_chain_with_rsa_eks() {
    use kms_tpm::EkAlgorithm;
    use kms_tpm::swtpm::LocalCa;
    let ca = LocalCa::new().unwrap();
    let sponsor_sw = Swtpm::start_with_ek_certificates(&ca).unwrap();
    let joiner_sw = Swtpm::start_with_ek_certificates(&ca).unwrap();
    let open = |sw: &Swtpm| {
        Tpm::open(&sw.tcti())
            .unwrap()
            .with_endorsement_key(EkAlgorithm::Rsa2048)
    };
    let (mut sponsor, mut joiner) = (open(&sponsor_sw), open(&joiner_sw));
    boot(&mut sponsor, b"kms image v1");
    boot(&mut joiner, b"kms image v1");
    let sel = PcrSelection::measured_boot();
    let mut allowlist = PcrAllowlist::new(sel);
    allowlist.allow(sponsor.read_pcrs(sel).unwrap()).unwrap();
    // No fingerprints: the manufacturer (here the local CA) vouches for both TPMs.
    let policy = JoinPolicy::new(allowlist).trust_manufacturers(ca.trust_store().unwrap());
    let master = SecretBytes::random(32).unwrap();

    let j = Joiner::new(&mut joiner, policy.clone()).unwrap();
    let (hello, sent) = j.hello().unwrap();
    assert!(!hello.ek_certificate.is_empty());
    let s = Sponsor::new(&mut sponsor, policy.clone()).unwrap();
    let (challenge, pending) = s.challenge(&mut sponsor, &hello).unwrap();
    assert!(!challenge.sponsor_ek_certificate.is_empty());
    let (request, awaiting) = j.respond(&mut joiner, sent, &challenge).unwrap();
    let response = pending.complete(&mut sponsor, &request, &master).unwrap();
    let (got, _blob) = awaiting.finish(&mut joiner, &response).unwrap();
    assert_eq!(got.expose_secret(), master.expose_secret());

    // A joiner whose certificate is from another CA is refused by the sponsor, with the
    // chain's reason; and without its certificate there is nothing to trust it by.
    let other_ca = LocalCa::new().unwrap();
    let stranger_sw = Swtpm::start_with_ek_certificates(&other_ca).unwrap();
    let mut stranger = open(&stranger_sw);
    let (hello, _) = Joiner::new(&mut stranger, policy.clone())
        .unwrap()
        .hello()
        .unwrap();
    let err = s.challenge(&mut sponsor, &hello).unwrap_err();
    assert!(matches!(err, Error::EkChainInvalid { .. }), "{err:?}");
    let bare = JoinHello {
        ek_certificate: Vec::new(),
        ..hello
    };
    assert!(matches!(
        s.challenge(&mut sponsor, &bare),
        Err(Error::EkChainInvalid { .. })
    ));
}
