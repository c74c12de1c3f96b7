//! Actions, second factors, per-user requirements and the token whitelist.

use core::fmt;
use std::collections::{BTreeMap, BTreeSet};

use crate::error::IntentError;
use crate::wire::{Reader, Writer};

/// Most mints on a whitelist.
pub const MAX_WHITELIST_LEN: usize = 1024;

/// A second factor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Factor {
    /// RFC 6238 time-based one-time codes.
    Totp,
    /// A WebAuthn passkey.
    Passkey,
}

impl Factor {
    pub(crate) fn tag(self) -> u8 {
        match self {
            Self::Totp => 1,
            Self::Passkey => 2,
        }
    }
    pub(crate) fn from_tag(t: u8) -> Result<Self, IntentError> {
        match t {
            1 => Ok(Self::Totp),
            2 => Ok(Self::Passkey),
            _ => Err(IntentError::Malformed("unknown factor")),
        }
    }
}

impl fmt::Display for Factor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Totp => "TOTP",
            Self::Passkey => "passkey",
        })
    }
}

/// Something a user asks the signer to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Action {
    /// Sign a trade.
    SignTrade,
    /// Withdraw SOL.
    WithdrawSol,
    /// Withdraw an SPL token.
    WithdrawToken,
    /// Export a private key.
    ExportKey,
    /// Show or export the seed phrase (after its first showing).
    ExportSeed,
    /// Add a mint to the token whitelist.
    AddToWhitelist,
    /// Remove a mint from the token whitelist.
    RemoveFromWhitelist,
    /// Create a standing intent.
    CreateIntent,
    /// Revoke a standing intent.
    RevokeIntent,
    /// Enable a second factor.
    EnableFactor(Factor),
    /// Disable a second factor.
    DisableFactor(Factor),
    /// Generate a new set of recovery codes (replacing the old set).
    ManageRecoveryCodes,
    /// Change the per-user policy or turn the whitelist off.
    ChangePolicy,
}

impl Action {
    /// Every action, for listing and tests.
    pub const ALL: [Action; 15] = [
        Action::SignTrade,
        Action::WithdrawSol,
        Action::WithdrawToken,
        Action::ExportKey,
        Action::ExportSeed,
        Action::AddToWhitelist,
        Action::RemoveFromWhitelist,
        Action::CreateIntent,
        Action::RevokeIntent,
        Action::EnableFactor(Factor::Totp),
        Action::EnableFactor(Factor::Passkey),
        Action::DisableFactor(Factor::Totp),
        Action::DisableFactor(Factor::Passkey),
        Action::ManageRecoveryCodes,
        Action::ChangePolicy,
    ];

    pub(crate) fn encode(self, w: &mut Writer) {
        match self {
            Self::SignTrade => w.u8(1),
            Self::WithdrawSol => w.u8(2),
            Self::WithdrawToken => w.u8(3),
            Self::ExportKey => w.u8(4),
            Self::ExportSeed => w.u8(5),
            Self::AddToWhitelist => w.u8(6),
            Self::RemoveFromWhitelist => w.u8(7),
            Self::CreateIntent => w.u8(8),
            Self::RevokeIntent => w.u8(9),
            Self::EnableFactor(f) => {
                w.u8(10);
                w.u8(f.tag());
            }
            Self::DisableFactor(f) => {
                w.u8(11);
                w.u8(f.tag());
            }
            Self::ManageRecoveryCodes => w.u8(12),
            Self::ChangePolicy => w.u8(13),
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, IntentError> {
        Ok(match r.u8()? {
            1 => Self::SignTrade,
            2 => Self::WithdrawSol,
            3 => Self::WithdrawToken,
            4 => Self::ExportKey,
            5 => Self::ExportSeed,
            6 => Self::AddToWhitelist,
            7 => Self::RemoveFromWhitelist,
            8 => Self::CreateIntent,
            9 => Self::RevokeIntent,
            10 => Self::EnableFactor(Factor::from_tag(r.u8()?)?),
            11 => Self::DisableFactor(Factor::from_tag(r.u8()?)?),
            12 => Self::ManageRecoveryCodes,
            13 => Self::ChangePolicy,
            _ => return Err(IntentError::Malformed("unknown action")),
        })
    }

    /// Whether a recovery code may stand in for a second factor for this action: only to manage
    /// factors (replace a lost one), never to move funds or export secrets.
    #[must_use]
    pub fn recovery_code_allowed(self) -> bool {
        matches!(
            self,
            Self::EnableFactor(_) | Self::DisableFactor(_) | Self::ManageRecoveryCodes
        )
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SignTrade => f.write_str("signing a trade"),
            Self::WithdrawSol => f.write_str("withdrawing SOL"),
            Self::WithdrawToken => f.write_str("withdrawing a token"),
            Self::ExportKey => f.write_str("exporting a key"),
            Self::ExportSeed => f.write_str("showing the seed phrase"),
            Self::AddToWhitelist => f.write_str("adding to the whitelist"),
            Self::RemoveFromWhitelist => f.write_str("removing from the whitelist"),
            Self::CreateIntent => f.write_str("creating a standing intent"),
            Self::RevokeIntent => f.write_str("revoking a standing intent"),
            Self::EnableFactor(x) => write!(f, "enabling {x}"),
            Self::DisableFactor(x) => write!(f, "disabling {x}"),
            Self::ManageRecoveryCodes => f.write_str("generating recovery codes"),
            Self::ChangePolicy => f.write_str("changing the security policy"),
        }
    }
}

/// Which second factor an action needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Requirement {
    /// No second factor (the chat approval alone).
    None,
    /// Any enabled second factor.
    AnyFactor,
    /// This factor.
    Factor(Factor),
}

impl Requirement {
    fn encode(self, w: &mut Writer) {
        match self {
            Self::None => w.u8(0),
            Self::AnyFactor => w.u8(1),
            Self::Factor(f) => {
                w.u8(2);
                w.u8(f.tag());
            }
        }
    }
    fn decode(r: &mut Reader<'_>) -> Result<Self, IntentError> {
        Ok(match r.u8()? {
            0 => Self::None,
            1 => Self::AnyFactor,
            2 => Self::Factor(Factor::from_tag(r.u8()?)?),
            _ => return Err(IntentError::Malformed("unknown requirement")),
        })
    }
}

/// The default requirement of `action` for a user whose enabled factors are `enabled`.
///
/// With no factor enabled nothing needs one (there is nothing to ask for). With TOTP or a passkey
/// enabled: withdrawals (SOL and tokens), key and seed export, whitelisting, creating standing
/// intents, enabling another factor, managing recovery codes and changing the policy need any
/// enabled factor; disabling a factor needs that factor; trades, removing from the whitelist and
/// revoking intents (which only reduce what can happen) need none.
#[must_use]
pub fn default_requirement(action: Action, enabled: &BTreeSet<Factor>) -> Requirement {
    if enabled.is_empty() {
        return Requirement::None;
    }
    match action {
        Action::SignTrade | Action::RemoveFromWhitelist | Action::RevokeIntent => Requirement::None,
        Action::DisableFactor(f) => Requirement::Factor(f),
        Action::WithdrawSol
        | Action::WithdrawToken
        | Action::ExportKey
        | Action::ExportSeed
        | Action::AddToWhitelist
        | Action::CreateIntent
        | Action::EnableFactor(_)
        | Action::ManageRecoveryCodes
        | Action::ChangePolicy => Requirement::AnyFactor,
    }
}

/// Per-user overrides of [`default_requirement`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub(crate) overrides: BTreeMap<Action, Requirement>,
}

impl Policy {
    /// The requirement in force for `action`.
    ///
    /// An override applies only while some factor is enabled, and can never weaken the two rules
    /// the design fixes: disabling a factor needs that factor, and changing the policy needs a
    /// factor.
    #[must_use]
    pub fn requirement(&self, action: Action, enabled: &BTreeSet<Factor>) -> Requirement {
        let default = default_requirement(action, enabled);
        if enabled.is_empty() {
            return default;
        }
        match action {
            Action::DisableFactor(_) | Action::ChangePolicy => default,
            _ => self.overrides.get(&action).copied().unwrap_or(default),
        }
    }

    /// The overrides, in action order.
    pub fn overrides(&self) -> impl Iterator<Item = (Action, Requirement)> + '_ {
        self.overrides.iter().map(|(a, r)| (*a, *r))
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.len(self.overrides.len());
        for (a, r) in &self.overrides {
            a.encode(w);
            r.encode(w);
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, IntentError> {
        let n = r.len(64, "too many policy overrides")?;
        let mut overrides = BTreeMap::new();
        for _ in 0..n {
            let a = Action::decode(r)?;
            let q = Requirement::decode(r)?;
            if overrides
                .last_key_value()
                .is_some_and(|(last, _)| *last >= a)
            {
                return Err(IntentError::Malformed(
                    "policy overrides not in ascending order",
                ));
            }
            overrides.insert(a, q);
        }
        Ok(Self { overrides })
    }
}

/// The optional token whitelist: when on, trades may touch only the listed mints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Whitelist {
    pub(crate) enabled: bool,
    pub(crate) mints: BTreeSet<[u8; 32]>,
}

impl Whitelist {
    /// Whether it is on.
    #[must_use]
    pub fn is_enabled(&self) -> bool {
        self.enabled
    }

    /// The listed mints.
    pub fn mints(&self) -> impl Iterator<Item = &[u8; 32]> {
        self.mints.iter()
    }

    /// Checks the mints a trade touches. Always passes while the whitelist is off.
    ///
    /// # Errors
    /// [`IntentError::MintNotWhitelisted`] if one of `mints` is not listed.
    pub fn check_trade(&self, mints: &[[u8; 32]]) -> Result<(), IntentError> {
        if !self.enabled || mints.iter().all(|m| self.mints.contains(m)) {
            Ok(())
        } else {
            Err(IntentError::MintNotWhitelisted)
        }
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.bool(self.enabled);
        w.len(self.mints.len());
        for m in &self.mints {
            w.fixed(m);
        }
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, IntentError> {
        let enabled = r.bool()?;
        let n = r.len(MAX_WHITELIST_LEN, "whitelist too long")?;
        let mut mints = BTreeSet::new();
        let mut prev: Option<[u8; 32]> = None;
        for _ in 0..n {
            let m: [u8; 32] = r.fixed()?;
            if prev.is_some_and(|p| p >= m) {
                return Err(IntentError::Malformed(
                    "whitelist not in strictly ascending order",
                ));
            }
            prev = Some(m);
            mints.insert(m);
        }
        Ok(Self { enabled, mints })
    }
}
