//! Signer → HTTPS pool: the messages the signer sends to a user's chat. The business logic never
//! sees them: they carry the decision tokens, the seed phrase shown once, the TOTP enrollment and
//! backup passwords. Same frames as the bus (4-byte length, JSON body).

use serde::{Deserialize, Serialize};

use crate::proto::{Bytes, SecretText, UserId};

/// One button of a challenge message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ButtonOut {
    /// The label the user sees.
    pub label: String,
    /// What a press sends back as callback data (secret until pressed).
    pub token: SecretText,
}

/// A message for one user's chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum UserMessage {
    /// A decision to take: the signer's description and one button per decision.
    Challenge {
        /// The user.
        user: UserId,
        /// Challenge id (hex).
        challenge: String,
        /// The signer-written description.
        description: String,
        /// The buttons.
        buttons: Vec<ButtonOut>,
        /// Unix time from which the buttons no longer work.
        expires_at: u64,
        /// The second factor the approval needs, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        factor_required: Option<String>,
        /// Request digest (hex): the challenge a passkey assertion must sign.
        request_digest: String,
    },
    /// The seed phrase, shown once at creation.
    SeedPhrase {
        /// The user.
        user: UserId,
        /// The words, in order.
        words: Vec<SecretText>,
    },
    /// TOTP enrollment: add this to an authenticator app.
    TotpEnrollment {
        /// The user.
        user: UserId,
        /// The `otpauth://` URI (holds the secret).
        otpauth_uri: SecretText,
        /// The same as a QR code (PNG).
        qr_png: Bytes,
        /// The same as a QR code in text (for terminals).
        qr_text: SecretText,
    },
    /// The password of a backup the business logic received encrypted.
    BackupPassword {
        /// The user.
        user: UserId,
        /// The password.
        password: SecretText,
    },
    /// Plain information (a challenge decided, a signature made).
    Notice {
        /// The user.
        user: UserId,
        /// The text.
        text: String,
    },
}

impl UserMessage {
    /// The user the message is for.
    #[must_use]
    pub fn user(&self) -> UserId {
        match self {
            Self::Challenge { user, .. }
            | Self::SeedPhrase { user, .. }
            | Self::TotpEnrollment { user, .. }
            | Self::BackupPassword { user, .. }
            | Self::Notice { user, .. } => *user,
        }
    }
}
