//! The bot token: the one secret that lets anyone act as the bot.

use core::fmt;
use core::str::FromStr;

use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::error::TokenError;

/// A Telegram bot token (`<bot id>:<secret>`, as BotFather prints it).
///
/// Zeroized on drop, compared in constant time, never printed: `Debug` shows the bot id only,
/// and there is no `Display`. Reading the token is an explicit [`BotToken::expose_secret`].
///
/// `Clone` exists because one process hands the token to both the [`BotClient`](crate::BotClient)
/// and the [`MiniAppServer`](crate::miniapp::MiniAppServer); each copy is wiped when dropped.
#[derive(Clone)]
pub struct BotToken {
    text: Zeroizing<String>,
    bot_id: u64,
}

impl BotToken {
    /// Parses and checks a token.
    ///
    /// Accepted: a non-zero decimal bot id, `:`, then 30-64 characters of the URL-safe base64
    /// alphabet (`A-Z a-z 0-9 _ -`; real tokens have 35). Everything that could change the
    /// request URL the token is put into (`/`, `?`, `#`, `%`, whitespace) is refused.
    ///
    /// # Errors
    /// [`TokenError`] saying which part is wrong (never repeating the text).
    pub fn parse(text: &str) -> Result<Self, TokenError> {
        let (id, secret) = text.split_once(':').ok_or(TokenError::Shape)?;
        if id.is_empty() || id.len() > 20 || !id.bytes().all(|b| b.is_ascii_digit()) {
            return Err(TokenError::Shape);
        }
        let bot_id: u64 = id.parse().map_err(|_| TokenError::Shape)?;
        if bot_id == 0 {
            return Err(TokenError::Shape);
        }
        if !(30..=64).contains(&secret.len())
            || !secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(TokenError::Secret);
        }
        Ok(Self {
            text: Zeroizing::new(text.to_owned()),
            bot_id,
        })
    }

    /// The bot's numeric id (the part before `:`; public: it is the bot's user id).
    #[must_use]
    pub fn bot_id(&self) -> u64 {
        self.bot_id
    }

    /// The whole token. Every call site is a place where the secret is read.
    #[must_use]
    pub fn expose_secret(&self) -> &str {
        &self.text
    }
}

impl FromStr for BotToken {
    type Err = TokenError;
    fn from_str(s: &str) -> Result<Self, TokenError> {
        Self::parse(s)
    }
}

impl PartialEq for BotToken {
    fn eq(&self, other: &Self) -> bool {
        self.text.as_bytes().ct_eq(other.text.as_bytes()).into()
    }
}

impl Eq for BotToken {}

impl fmt::Debug for BotToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BotToken")
            .field("bot_id", &self.bot_id)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const GOOD: &str = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0";

    #[test]
    fn parses_real_shape_and_hides_it() {
        let t = BotToken::parse(GOOD).unwrap();
        assert_eq!(t.bot_id(), 123_456_789);
        assert_eq!(t.expose_secret(), GOOD);
        let d = format!("{t:?}");
        assert!(!d.contains("AAHdq"), "{d}");
        assert!(d.contains("123456789"));
        assert_eq!(t, GOOD.parse().unwrap());
    }

    #[test]
    fn refuses_what_would_change_the_url() {
        for bad in [
            "",
            "123",
            ":AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
            "0:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
            "12a:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
            "-1:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0",
        ] {
            assert_eq!(BotToken::parse(bad), Err(TokenError::Shape), "{bad:?}");
        }
        for bad in [
            "1:short",
            "1:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDs/w0",
            "1:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDs?w0",
            "1:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDs#w0",
            "1:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDs w0",
            "1:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDs%w0",
            "1:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0\n",
            "1:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw0:x",
        ] {
            assert_eq!(BotToken::parse(bad), Err(TokenError::Secret), "{bad:?}");
        }
    }
}
