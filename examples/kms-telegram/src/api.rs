//! The subset of the Telegram Bot API types the signer's HTTPS pool uses
//! (<https://core.telegram.org/bots/api>).
//!
//! Every type ignores fields it does not know (Telegram adds fields over time) and omits absent
//! optional fields when serialized. Identifiers follow Telegram's ranges: user ids are positive
//! and fit 52 bits (`u64` here, the same as `kms_client::proto::UserId`), chat ids may be negative
//! (groups, channels), message ids and update ids are signed 32-bit in practice (`i64` here).
//!
//! `Debug` of the types that can carry secrets (button callback data, which holds decision
//! tokens; message texts, which can hold a seed phrase) prints their length only.

use core::fmt;

use serde::{Deserialize, Serialize};

/// A Telegram user or bot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Unique identifier.
    pub id: u64,
    /// Whether this is a bot.
    #[serde(default)]
    pub is_bot: bool,
    /// First name.
    #[serde(default)]
    pub first_name: String,
    /// Last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    /// Username, without the `@`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// IETF language tag of the user's client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
}

/// A chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    /// Unique identifier (for a private chat: the user's id).
    pub id: i64,
    /// `private`, `group`, `supergroup` or `channel`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Title of groups and channels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Username of private chats and public groups.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// First name of the other party of a private chat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
}

/// A message.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    /// Identifier inside the chat.
    pub message_id: i64,
    /// The sender (absent for channel posts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<User>,
    /// The chat it belongs to.
    pub chat: Chat,
    /// Unix time it was sent.
    #[serde(default)]
    pub date: i64,
    /// Unix time it was last edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edit_date: Option<i64>,
    /// The text of a text message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The inline keyboard attached to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_markup: Option<InlineKeyboardMarkup>,
    /// The message this one replies to (Telegram's "Reply"), as it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_message: Option<Box<Message>>,
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Message")
            .field("message_id", &self.message_id)
            .field("from", &self.from.as_ref().map(|u| u.id))
            .field("chat", &self.chat.id)
            .field("date", &self.date)
            .field("text_len", &self.text.as_ref().map(String::len))
            .field("reply_markup", &self.reply_markup)
            .field(
                "reply_to_message",
                &self.reply_to_message.as_ref().map(|m| m.message_id),
            )
            .finish_non_exhaustive()
    }
}

/// A press of an inline button.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackQuery {
    /// Identifier to answer with [`AnswerCallbackQuery`].
    pub id: String,
    /// Who pressed: the authenticated sender, the only user identity to trust.
    pub from: User,
    /// The message the button belongs to (absent when it is too old).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    /// Global identifier of the chat the message is in.
    #[serde(default)]
    pub chat_instance: String,
    /// The button's callback data (a decision token: secret until pressed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
}

impl fmt::Debug for CallbackQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackQuery")
            .field("id", &self.id)
            .field("from", &self.from.id)
            .field("message", &self.message.as_ref().map(|m| m.message_id))
            .field("data_len", &self.data.as_ref().map(String::len))
            .finish_non_exhaustive()
    }
}

/// One incoming update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Update {
    /// Increasing identifier; confirm updates by asking for `offset = update_id + 1`.
    pub update_id: i64,
    /// A new message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<Message>,
    /// A new version of a message that was edited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_message: Option<Message>,
    /// A button press.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_query: Option<CallbackQuery>,
}

/// An inline keyboard: rows of buttons.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlineKeyboardMarkup {
    /// The rows, top to bottom.
    pub inline_keyboard: Vec<Vec<InlineKeyboardButton>>,
}

/// One inline button. Exactly one of `callback_data`, `web_app`, `url` should be set.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InlineKeyboardButton {
    /// The label.
    pub text: String,
    /// Data sent back in a [`CallbackQuery`] (1-64 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_data: Option<String>,
    /// A Mini App opened by the button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_app: Option<WebAppInfo>,
    /// A URL opened by the button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

impl InlineKeyboardButton {
    /// A button that sends `data` back when pressed.
    #[must_use]
    pub fn callback(text: impl Into<String>, data: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            callback_data: Some(data.into()),
            ..Self::default()
        }
    }

    /// A button that opens the Mini App at `url`.
    #[must_use]
    pub fn web_app(text: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            web_app: Some(WebAppInfo { url: url.into() }),
            ..Self::default()
        }
    }
}

impl fmt::Debug for InlineKeyboardButton {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InlineKeyboardButton")
            .field("text", &self.text)
            .field(
                "callback_data_len",
                &self.callback_data.as_ref().map(String::len),
            )
            .field("web_app", &self.web_app)
            .field("url", &self.url)
            .finish()
    }
}

/// The Mini App a button opens.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebAppInfo {
    /// Its HTTPS URL.
    pub url: String,
}

/// Body of `sendMessage`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendMessage {
    /// The chat (for a user: the user id).
    pub chat_id: i64,
    /// The text, 1-4096 characters.
    pub text: String,
    /// `MarkdownV2`, `HTML` or absent for plain text (the signer sends plain text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_mode: Option<String>,
    /// The inline keyboard.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_markup: Option<InlineKeyboardMarkup>,
}

impl fmt::Debug for SendMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendMessage")
            .field("chat_id", &self.chat_id)
            .field("text_len", &self.text.len())
            .field("reply_markup", &self.reply_markup)
            .finish_non_exhaustive()
    }
}

/// Body of `editMessageText`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EditMessageText {
    /// The chat of the message.
    pub chat_id: i64,
    /// The message.
    pub message_id: i64,
    /// The new text.
    pub text: String,
    /// See [`SendMessage::parse_mode`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_mode: Option<String>,
    /// The new inline keyboard (absent: the message has none afterwards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_markup: Option<InlineKeyboardMarkup>,
}

impl fmt::Debug for EditMessageText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EditMessageText")
            .field("chat_id", &self.chat_id)
            .field("message_id", &self.message_id)
            .field("text_len", &self.text.len())
            .field("reply_markup", &self.reply_markup)
            .finish_non_exhaustive()
    }
}

/// Body of `answerCallbackQuery`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnswerCallbackQuery {
    /// [`CallbackQuery::id`].
    pub callback_query_id: String,
    /// A notification shown to the user (0-200 characters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Show an alert instead of a notification.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show_alert: Option<bool>,
}

/// Body of `getUpdates`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GetUpdates {
    /// First update to return; every update with a lower id is confirmed and forgotten.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offset: Option<i64>,
    /// At most this many updates (1-100, default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Long-poll timeout in seconds (0: short poll).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// Update kinds to receive (`message`, `callback_query`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_updates: Option<Vec<String>>,
}

/// Body of `setWebhook`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetWebhook {
    /// The HTTPS URL updates are POSTed to.
    pub url: String,
    /// Sent back in the `X-Telegram-Bot-Api-Secret-Token` header of every delivery (1-256
    /// characters `A-Z a-z 0-9 _ -`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_token: Option<String>,
    /// Update kinds to receive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_updates: Option<Vec<String>>,
    /// Drop the updates waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_pending_updates: Option<bool>,
}

impl fmt::Debug for SetWebhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetWebhook")
            .field("url", &self.url)
            .field("has_secret_token", &self.secret_token.is_some())
            .finish_non_exhaustive()
    }
}

/// Body of `deleteWebhook`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteWebhook {
    /// Drop the updates waiting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drop_pending_updates: Option<bool>,
}

/// The answer of `getWebhookInfo`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookInfo {
    /// The webhook URL; empty when none is set (updates are fetched with `getUpdates`).
    #[serde(default)]
    pub url: String,
    /// Whether a custom certificate was uploaded.
    #[serde(default)]
    pub has_custom_certificate: bool,
    /// Updates waiting to be delivered.
    #[serde(default)]
    pub pending_update_count: u64,
    /// Unix time of the last failed delivery.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_date: Option<i64>,
    /// Why the last delivery failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error_message: Option<String>,
    /// Update kinds the bot receives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_updates: Option<Vec<String>>,
}

/// A request without parameters (`getMe`, `getWebhookInfo`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoParams {}

/// The envelope of every Bot API answer: `{"ok":true,"result":…}` or
/// `{"ok":false,"error_code":…,"description":…,"parameters":…}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiResponse<T> {
    /// Whether the request succeeded.
    pub ok: bool,
    /// The result when `ok`.
    #[serde(default = "none", skip_serializing_if = "Option::is_none")]
    pub result: Option<T>,
    /// What went wrong, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The error code (an HTTP status in practice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    /// How the request can be repeated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameters: Option<ResponseParameters>,
}

fn none<T>() -> Option<T> {
    None
}

/// Why a request failed and how it can be repeated.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseParameters {
    /// Flood control: seconds to wait before repeating.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
    /// The group became a supergroup with this id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrate_to_chat_id: Option<i64>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ignores_unknown_fields_and_omits_absent_ones() {
        let json = r#"{"update_id":5,"callback_query":{"id":"q1","from":{"id":7,"is_bot":false,
            "first_name":"A","is_premium":true},"chat_instance":"-1","data":"tok",
            "message":{"message_id":3,"chat":{"id":7,"type":"private"},"date":1,"text":"t",
            "entities":[]}},"extra":1}"#;
        let u: Update = serde_json::from_str(json).unwrap();
        let q = u.callback_query.unwrap();
        assert_eq!(q.from.id, 7);
        assert_eq!(q.data.as_deref(), Some("tok"));
        assert_eq!(q.message.unwrap().message_id, 3);
        let body = serde_json::to_string(&SendMessage {
            chat_id: 1,
            text: "x".into(),
            parse_mode: None,
            reply_markup: None,
        })
        .unwrap();
        assert_eq!(body, r#"{"chat_id":1,"text":"x"}"#);
        let err: ApiResponse<bool> = serde_json::from_str(
            r#"{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 3","parameters":{"retry_after":3}}"#,
        )
        .unwrap();
        assert_eq!(err.parameters.unwrap().retry_after, Some(3));
    }

    #[test]
    fn debug_hides_callback_data_and_texts() {
        let m = SendMessage {
            chat_id: 1,
            text: "seed words here".into(),
            parse_mode: None,
            reply_markup: Some(InlineKeyboardMarkup {
                inline_keyboard: vec![vec![InlineKeyboardButton::callback(
                    "Approve",
                    "SECRETTOKEN",
                )]],
            }),
        };
        let d = format!("{m:?}");
        assert!(
            !d.contains("SECRETTOKEN") && !d.contains("seed words"),
            "{d}"
        );
        assert!(d.contains("Approve"));
    }
}
