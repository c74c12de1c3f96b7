//! Signer ↔ HTTPS pool. Signer → pool: the messages the signer sends to a user's chat
//! ([`UserMessage`]). The business logic never sees them: they carry the decision tokens, the seed
//! phrase shown once, the TOTP enrollment and backup passwords. Pool → signer: the decisions the
//! user took in chat ([`PoolRequest`]). Same frames as the bus (4-byte length, JSON body).

use serde::{Deserialize, Serialize};

use crate::proto::{Bytes, ErrorKind, Proof, SecretText, UserId};

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
        /// The [`DescriptionStatement`](crate::statement::DescriptionStatement) of this
        /// challenge, encoded: what a page shows after checking `statement_signature`.
        #[serde(default)]
        statement: Bytes,
        /// Ed25519 signature of `statement` by the signer's description key.
        #[serde(default)]
        statement_signature: Bytes,
        /// The signer's description key (Ed25519 public key, 32 bytes).
        #[serde(default)]
        signer_key: Bytes,
    },
    /// A challenge was decided or expired (through any path): the chat message can say so and
    /// drop its buttons, and the pool forgets the challenge's tokens.
    Decided {
        /// The user.
        user: UserId,
        /// Challenge id (hex).
        challenge: String,
        /// Whether the user's choice was carried out as an approval.
        approved: bool,
        /// What happened, for the chat (no secrets: a signature, an intent id, "rejected").
        text: String,
    },
    /// The signer's answer to a [`PoolRequest::Decide`].
    DecideAnswer {
        /// The user.
        user: UserId,
        /// The request id the pool chose.
        id: u64,
        /// The error kind when the decision was not taken.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<ErrorKind>,
        /// What happened, for the chat (the error message or the outcome).
        text: String,
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
            | Self::Notice { user, .. }
            | Self::Decided { user, .. }
            | Self::DecideAnswer { user, .. } => *user,
        }
    }
}

/// What the HTTPS pool asks the signer: the user pressed a button (in chat or in the mini-app).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum PoolRequest {
    /// A decision: the token of a button of the message that showed `challenge`, pressed by
    /// `user` (the chat's authenticated sender).
    Decide {
        /// The pool's request id, echoed in [`UserMessage::DecideAnswer`].
        id: u64,
        /// Who pressed (Telegram's `callback_query.from.id`, or the mini-app's validated user).
        user: UserId,
        /// The challenge of the message the button belongs to: the signer refuses a token of
        /// any other challenge.
        challenge: String,
        /// The button's token.
        token: SecretText,
        /// A second factor the user gave (the TOTP code replied in chat).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        proof: Option<Proof>,
    },
}
