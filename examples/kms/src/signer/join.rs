//! The attested master-key hand-over between instances (`[join]`): kms-tpm's join protocol
//! (both TPMs attested: EK trusted, quote of allowed PCR values, the joiner's decryption key
//! bound to its TPM and PCRs), its messages carried over NATS by the bridges.
//!
//! - Joiner: a signer with `join.join`, `key_source = "tpm"` and no `master.blob`. Before
//!   lock-down it opens its TPM and makes its hello (EK, AK); after lock-down it sends the hello
//!   to any sponsor, answers the sponsor's challenge (quote, certified decryption key), and
//!   decrypts the master key in its TPM, seals it to its own PCRs and writes `master.blob`. Any
//!   failure ends the signer with the reason (the supervisor tries again later); nothing is
//!   written.
//! - Sponsor: a signer with `join.sponsor` keeps its TPM connection (opened before lock-down,
//!   the one that unsealed its master key) and its attestation key, and answers joiners on one
//!   thread: a challenge per hello (session kept 120 s), and the wrapped master key for a
//!   request that passes every check. Refusals are logged with the reason and sent to the
//!   joiner; a hand-over is in the audit log (`master_key_sent`).

use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use kms_tpm::{
    EkTrustStore, JoinMessage, JoinPolicy, Joiner, PcrAllowlist, PcrSelection, PcrValues,
    PendingJoin, Sponsor, Tpm, TpmSealer,
};
use zeroize::Zeroizing;

use super::{AUDIT_FILE, KEYS_FILE, MASTER_BLOB, STATE_FILE, Service, SignerError};
use crate::audit::AuditEvent;
use crate::config::Config;
use crate::replica::Replica;

/// How long a sponsor keeps a joiner's session between its hello and its request.
const SESSION_SECS: u64 = 120;
/// Most sessions a sponsor keeps open at once (older ones go first).
const MAX_SESSIONS: usize = 64;

fn startup(e: impl std::fmt::Display) -> SignerError {
    SignerError::Startup(format!("join: {e}"))
}

/// The policy both sides apply to the other, from `[join]` and `tpm.pcrs`.
pub(crate) fn policy(cfg: &Config) -> Result<JoinPolicy, SignerError> {
    let selection: PcrSelection = cfg
        .tpm
        .pcrs
        .parse()
        .map_err(|e| startup(format!("tpm.pcrs: {e}")))?;
    let mut allow = PcrAllowlist::new(selection);
    for (i, state) in cfg.join.allowed_pcrs.iter().enumerate() {
        let values = parse_state(selection, state)
            .map_err(|e| startup(format!("join.allowed_pcrs[{i}]: {e}")))?;
        allow.allow(values).map_err(startup)?;
    }
    let mut policy = JoinPolicy::new(allow);
    for (i, fp) in cfg.join.trusted_eks.iter().enumerate() {
        let bytes: [u8; 32] = hex::decode(fp.trim())
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                startup(format!(
                    "join.trusted_eks[{i}] is not 64 hex digits (an EK fingerprint)"
                ))
            })?;
        policy = policy.trust_ek(bytes);
    }
    if let Some(path) = &cfg.join.ek_roots {
        let pem = std::fs::read(path)
            .map_err(|e| startup(format!("join.ek_roots {}: {e}", path.display())))?;
        let mut roots = EkTrustStore::new();
        let n = roots
            .add_roots_pem(&pem)
            .map_err(|e| startup(format!("join.ek_roots {}: {e}", path.display())))?;
        if n == 0 {
            return Err(startup(format!(
                "join.ek_roots {}: no certificate",
                path.display()
            )));
        }
        policy = policy.trust_manufacturers(roots);
    }
    Ok(policy)
}

/// `"4=<hex>,7=<hex>,11=<hex>"`: one value for each PCR of `selection`, any order.
fn parse_state(selection: PcrSelection, text: &str) -> Result<PcrValues, String> {
    let mut given: HashMap<u8, Vec<u8>> = HashMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (pcr, value) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?} is not <pcr>=<hex>"))?;
        let pcr: u8 = pcr
            .trim()
            .parse()
            .map_err(|_| format!("{pcr:?} is not a PCR number"))?;
        let value = hex::decode(value.trim()).map_err(|_| format!("PCR {pcr}: not hex"))?;
        if given.insert(pcr, value).is_some() {
            return Err(format!("PCR {pcr} given twice"));
        }
    }
    let mut values = Vec::new();
    for pcr in selection.pcrs() {
        values.push(
            given
                .remove(&pcr)
                .ok_or_else(|| format!("PCR {pcr} of tpm.pcrs is missing"))?,
        );
    }
    if let Some(extra) = given.keys().next() {
        return Err(format!("PCR {extra} is not in tpm.pcrs"));
    }
    PcrValues::new(selection, values).map_err(|e| e.to_string())
}

/// A joiner ready to say hello: its TPM (opened before lock-down) and attestation key.
pub(crate) struct PreparedJoin {
    tpm: Tpm,
    joiner: Joiner,
}

/// Opens the TPM and makes the joiner's attestation key (before lock-down).
pub(crate) fn prepare(cfg: &Config) -> Result<PreparedJoin, SignerError> {
    for existing in [KEYS_FILE, STATE_FILE, AUDIT_FILE] {
        if cfg.data_dir.join(existing).exists() {
            return Err(startup(format!(
                "{MASTER_BLOB} is missing but {existing} exists: refusing to join over existing data (restore {MASTER_BLOB})"
            )));
        }
    }
    let policy = policy(cfg)?;
    let mut tpm =
        Tpm::open(&cfg.tpm.tcti).map_err(|e| startup(format!("TPM {}: {e}", cfg.tpm.tcti)))?;
    let joiner = Joiner::new(&mut tpm, policy).map_err(startup)?;
    Ok(PreparedJoin { tpm, joiner })
}

/// Runs the join over the replication link (after lock-down) and writes `master.blob`. Returns
/// the master key (for the shield) and the sponsor's name.
pub(crate) fn run(
    prepared: PreparedJoin,
    replica: &Replica,
    cfg: &Config,
) -> Result<(Zeroizing<Vec<u8>>, String), SignerError> {
    let PreparedJoin { mut tpm, joiner } = prepared;
    let timeout = Duration::from_secs(cfg.join.timeout_secs);
    let (hello, sent) = joiner.hello().map_err(startup)?;
    let hello = JoinMessage::Hello(hello).to_bytes().map_err(startup)?;
    eprintln!("kms signer: join: asking a sponsor for the master key");
    let reply = replica
        .join_call(None, None, hello, timeout)
        .map_err(startup)?;
    let sponsor = reply.sponsor.clone();
    let challenge = match reply.body.map(|b| JoinMessage::from_bytes(&b)) {
        Ok(Ok(JoinMessage::Challenge(c))) => c,
        Ok(Ok(_)) => return Err(startup(format!("sponsor {sponsor} answered out of turn"))),
        Ok(Err(e)) => return Err(startup(format!("sponsor {sponsor}: {e}"))),
        Err(why) => return Err(startup(format!("sponsor {sponsor} refused: {why}"))),
    };
    // The sponsor's EK and quote are checked here: nothing of ours is sent to an unattested one.
    let (request, awaiting) = joiner
        .respond(&mut tpm, sent, &challenge)
        .map_err(|e| startup(format!("sponsor {sponsor}: {e}")))?;
    let request = JoinMessage::Request(request).to_bytes().map_err(startup)?;
    let reply = replica
        .join_call(Some(&sponsor), reply.session.as_deref(), request, timeout)
        .map_err(startup)?;
    let response = match reply.body.map(|b| JoinMessage::from_bytes(&b)) {
        Ok(Ok(JoinMessage::Response(r))) => r,
        Ok(Ok(_)) => return Err(startup(format!("sponsor {sponsor} answered out of turn"))),
        Ok(Err(e)) => return Err(startup(format!("sponsor {sponsor}: {e}"))),
        Err(why) => return Err(startup(format!("sponsor {sponsor} refused: {why}"))),
    };
    let (secret, blob) = awaiting
        .finish(&mut tpm, &response)
        .map_err(|e| startup(format!("sponsor {sponsor}: {e}")))?;
    if secret.len() != kms_core::MasterKey::LEN {
        return Err(startup(format!(
            "sponsor {sponsor} handed over {} bytes, not a master key",
            secret.len()
        )));
    }
    let path = cfg.data_dir.join(MASTER_BLOB);
    kms_tpm::write_blob_file(&path, &blob.to_bytes().map_err(startup)?)
        .map_err(|e| startup(format!("writing {}: {e}", path.display())))?;
    eprintln!(
        "kms signer: join: the master key came from the attested sponsor {sponsor}; sealed to this TPM in {}",
        path.display()
    );
    Ok((secret.into_zeroizing(), sponsor))
}

/// A sponsor's TPM side, made before lock-down.
pub(crate) struct PreparedSponsor {
    sealer: TpmSealer,
    sponsor: Sponsor,
}

/// Makes the sponsor's attestation key on the TPM that unsealed the master key.
pub(crate) fn prepare_sponsor(
    cfg: &Config,
    mut sealer: TpmSealer,
) -> Result<PreparedSponsor, SignerError> {
    let policy = policy(cfg)?;
    let sponsor = Sponsor::new(sealer.tpm(), policy).map_err(startup)?;
    Ok(PreparedSponsor { sealer, sponsor })
}

/// One join message from a joiner, through the bridge.
pub(crate) struct Step {
    pub(crate) id: u64,
    pub(crate) session: Option<String>,
    pub(crate) body: Vec<u8>,
}

/// Starts the sponsor thread (after lock-down); join steps go to the returned sender.
pub(crate) fn spawn_sponsor(
    prepared: PreparedSponsor,
    replica: Arc<Replica>,
    service: Weak<Service>,
    instance: String,
) -> Result<mpsc::Sender<Step>, SignerError> {
    let (tx, rx) = mpsc::channel::<Step>();
    std::thread::Builder::new()
        .name("kms-join-sponsor".into())
        .stack_size(512 * 1024)
        .spawn(move || {
            let PreparedSponsor {
                mut sealer,
                sponsor,
            } = prepared;
            let mut sessions: HashMap<String, (PendingJoin, Instant)> = HashMap::new();
            while let Ok(step) = rx.recv() {
                sessions.retain(|_, (_, at)| at.elapsed() < Duration::from_secs(SESSION_SECS));
                let answer = sponsor_step(
                    &sponsor,
                    sealer.tpm(),
                    &mut sessions,
                    &step,
                    &service,
                    &instance,
                );
                let (session, body) = match answer {
                    Ok((session, body)) => (session, Ok(body)),
                    Err(why) => {
                        eprintln!("kms signer: join: refused a joiner: {why}");
                        (step.session.clone(), Err(why))
                    }
                };
                if let Err(e) = replica.join_answer(step.id, session, body) {
                    eprintln!("kms signer: join: the answer was not sent: {e}");
                }
            }
        })
        .map_err(|e| startup(format!("sponsor thread: {e}")))?;
    Ok(tx)
}

fn sponsor_step(
    sponsor: &Sponsor,
    tpm: &mut Tpm,
    sessions: &mut HashMap<String, (PendingJoin, Instant)>,
    step: &Step,
    service: &Weak<Service>,
    instance: &str,
) -> Result<(Option<String>, Vec<u8>), String> {
    match JoinMessage::from_bytes(&step.body).map_err(|e| e.to_string())? {
        JoinMessage::Hello(hello) => {
            let (challenge, pending) = sponsor.challenge(tpm, &hello).map_err(|e| e.to_string())?;
            if sessions.len() >= MAX_SESSIONS
                && let Some(oldest) = sessions
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
            {
                sessions.remove(&oldest);
            }
            let mut id = [0u8; 16];
            getrandom::fill(&mut id).map_err(|e| format!("randomness: {e}"))?;
            let session = hex::encode(id);
            sessions.insert(session.clone(), (pending, Instant::now()));
            let body = JoinMessage::Challenge(challenge)
                .to_bytes()
                .map_err(|e| e.to_string())?;
            Ok((Some(session), body))
        }
        JoinMessage::Request(request) => {
            let session = step
                .session
                .clone()
                .ok_or("a join request without a session")?;
            let (pending, _) = sessions
                .remove(&session)
                .ok_or("no open join session of that id (expired, used, or another sponsor's)")?;
            let service = service.upgrade().ok_or("the signer is stopping")?;
            let secret = service.master_key_for_handover().map_err(|e| e.message)?;
            let response = pending
                .complete(tpm, &request, &secret)
                .map_err(|e| e.to_string())?;
            drop(secret);
            // Recorded before the wrapped key leaves (refused if the log cannot be written).
            service
                .audit(&AuditEvent::MasterKeySent {
                    instance: instance.to_string(),
                    peer: format!("attested joiner, session {session}"),
                })
                .map_err(|e| e.message)?;
            eprintln!(
                "kms signer: join: the master key was handed over to an attested joiner (session {session})"
            );
            let body = JoinMessage::Response(response)
                .to_bytes()
                .map_err(|e| e.to_string())?;
            Ok((Some(session), body))
        }
        _ => Err("not a joiner's message".into()),
    }
}
