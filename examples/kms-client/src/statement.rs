//! The description statement: what the signer signs so that a page or a chat client the signer
//! does not control can prove that the text it shows is the signer's, bound to one challenge.
//!
//! The signer signs the encoded statement with its *description key* (Ed25519, derived from the
//! master key; see the reference signer's `SPEC.md`). The HTTPS pool relays the statement, the
//! signature and the public key; the mini-app page verifies the signature over the bytes and then
//! shows only what it decoded from those bytes.
//!
//! Encoding, version 1 (every integer big-endian, every string UTF-8):
//!
//! | field | encoding |
//! | --- | --- |
//! | magic | the 36 bytes `kms-signer description statement v1` and a NUL |
//! | user | u64 |
//! | expires_at | u64, unix seconds |
//! | challenge | u32 length, bytes |
//! | request_digest | u32 length, bytes (hex text) |
//! | factor_required | u32 length, bytes (empty: none) |
//! | description | u32 length, bytes |
//! | buttons | u8 count, then per label: u32 length, bytes |
//!
//! Nothing may follow the last label. The magic is the signature's domain separation: no other
//! message the description key signs starts with it.

use thiserror::Error;

use crate::proto::UserId;

/// The first bytes of every version-1 statement (also its signing context).
pub const STATEMENT_MAGIC: &[u8; 36] = b"kms-signer description statement v1\0";

/// The longest statement accepted (64 KiB: descriptions are a few hundred bytes).
pub const MAX_STATEMENT_LEN: usize = 64 * 1024;

/// At most this many buttons.
pub const MAX_BUTTONS: usize = 16;

/// What the signer states about one challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DescriptionStatement {
    /// The user the challenge is for.
    pub user: UserId,
    /// Unix time from which the challenge's tokens no longer work.
    pub expires_at: u64,
    /// The challenge id (hex).
    pub challenge: String,
    /// The request digest (hex).
    pub request_digest: String,
    /// The second factor the approval needs (`totp`, `passkey`, …), if any.
    pub factor_required: Option<String>,
    /// The signer-written description.
    pub description: String,
    /// The button labels, in decision order.
    pub buttons: Vec<String>,
}

/// Why bytes are not a statement.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum StatementError {
    /// Longer than [`MAX_STATEMENT_LEN`].
    #[error("statement too long ({0} bytes, at most {MAX_STATEMENT_LEN})")]
    TooLong(usize),
    /// Does not start with [`STATEMENT_MAGIC`].
    #[error("not a version-1 description statement (bad magic)")]
    BadMagic,
    /// Ends inside a field.
    #[error("statement truncated inside field `{0}`")]
    Truncated(&'static str),
    /// A string field is not UTF-8.
    #[error("statement field `{0}` is not UTF-8")]
    NotUtf8(&'static str),
    /// More than [`MAX_BUTTONS`] buttons.
    #[error("statement has {0} buttons, at most {MAX_BUTTONS}")]
    TooManyButtons(usize),
    /// Bytes after the last field.
    #[error("{0} bytes after the end of the statement")]
    TrailingBytes(usize),
}

impl DescriptionStatement {
    /// The version-1 encoding (see the module documentation).
    ///
    /// # Errors
    /// [`StatementError::TooManyButtons`] or [`StatementError::TooLong`]: the statement could not
    /// be decoded again, so it is not produced.
    pub fn encode(&self) -> Result<Vec<u8>, StatementError> {
        if self.buttons.len() > MAX_BUTTONS {
            return Err(StatementError::TooManyButtons(self.buttons.len()));
        }
        let mut out = Vec::with_capacity(128 + self.description.len());
        out.extend_from_slice(STATEMENT_MAGIC);
        out.extend_from_slice(&self.user.to_be_bytes());
        out.extend_from_slice(&self.expires_at.to_be_bytes());
        for field in [
            self.challenge.as_str(),
            self.request_digest.as_str(),
            self.factor_required.as_deref().unwrap_or(""),
            self.description.as_str(),
        ] {
            put_str(&mut out, field)?;
        }
        // Checked above: at most MAX_BUTTONS (16) fits a byte.
        out.push(
            u8::try_from(self.buttons.len())
                .map_err(|_| StatementError::TooManyButtons(self.buttons.len()))?,
        );
        for label in &self.buttons {
            put_str(&mut out, label)?;
        }
        if out.len() > MAX_STATEMENT_LEN {
            return Err(StatementError::TooLong(out.len()));
        }
        Ok(out)
    }

    /// Decodes a version-1 statement.
    ///
    /// # Errors
    /// A [`StatementError`] naming what is wrong.
    pub fn decode(bytes: &[u8]) -> Result<Self, StatementError> {
        if bytes.len() > MAX_STATEMENT_LEN {
            return Err(StatementError::TooLong(bytes.len()));
        }
        let rest = bytes
            .strip_prefix(STATEMENT_MAGIC.as_slice())
            .ok_or(StatementError::BadMagic)?;
        let mut r = Reader(rest);
        let user = r.u64("user")?;
        let expires_at = r.u64("expires_at")?;
        let challenge = r.string("challenge")?;
        let request_digest = r.string("request_digest")?;
        let factor = r.string("factor_required")?;
        let description = r.string("description")?;
        let count = usize::from(r.take(1, "buttons")?[0]);
        if count > MAX_BUTTONS {
            return Err(StatementError::TooManyButtons(count));
        }
        let mut buttons = Vec::with_capacity(count);
        for _ in 0..count {
            buttons.push(r.string("button label")?);
        }
        if !r.0.is_empty() {
            return Err(StatementError::TrailingBytes(r.0.len()));
        }
        Ok(Self {
            user,
            expires_at,
            challenge,
            request_digest,
            factor_required: (!factor.is_empty()).then_some(factor),
            description,
            buttons,
        })
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) -> Result<(), StatementError> {
    let len = u32::try_from(s.len()).map_err(|_| StatementError::TooLong(s.len()))?;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], StatementError> {
        if self.0.len() < n {
            return Err(StatementError::Truncated(field));
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn u64(&mut self, field: &'static str) -> Result<u64, StatementError> {
        let b = self.take(8, field)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }
    fn string(&mut self, field: &'static str) -> Result<String, StatementError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4, field)?);
        let len =
            usize::try_from(u32::from_be_bytes(a)).map_err(|_| StatementError::Truncated(field))?;
        let b = self.take(len, field)?;
        String::from_utf8(b.to_vec()).map_err(|_| StatementError::NotUtf8(field))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DescriptionStatement {
        DescriptionStatement {
            user: 42,
            expires_at: 1_700_000_300,
            challenge: "00ff".into(),
            request_digest: "ab".repeat(32),
            factor_required: Some("totp".into()),
            description: "Send 1.5 SOL to 9xQe…\nfee 0.000005 SOL — ünïcode".into(),
            buttons: vec!["Approve".into(), "Reject".into()],
        }
    }

    #[test]
    fn round_trips() {
        let s = sample();
        let bytes = s.encode().unwrap();
        assert!(bytes.starts_with(STATEMENT_MAGIC));
        assert_eq!(DescriptionStatement::decode(&bytes).unwrap(), s);
        let none = DescriptionStatement {
            factor_required: None,
            buttons: vec![],
            ..s
        };
        assert_eq!(
            DescriptionStatement::decode(&none.encode().unwrap()).unwrap(),
            none
        );
    }

    #[test]
    fn refuses_malformed_bytes() {
        let bytes = sample().encode().unwrap();
        for cut in [0, 10, STATEMENT_MAGIC.len() + 3, bytes.len() - 1] {
            assert!(
                DescriptionStatement::decode(&bytes[..cut]).is_err(),
                "cut at {cut}"
            );
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(
            DescriptionStatement::decode(&extra),
            Err(StatementError::TrailingBytes(1))
        );
        let mut magic = bytes.clone();
        magic[3] ^= 1;
        assert_eq!(
            DescriptionStatement::decode(&magic),
            Err(StatementError::BadMagic)
        );
        let mut huge_len = bytes[..STATEMENT_MAGIC.len() + 16].to_vec();
        huge_len.extend_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            DescriptionStatement::decode(&huge_len),
            Err(StatementError::Truncated("challenge"))
        );
        let many = DescriptionStatement {
            buttons: vec![String::new(); 17],
            ..sample()
        };
        assert_eq!(many.encode(), Err(StatementError::TooManyButtons(17)));
    }

    /// The vector the mini-app page's decoder is tested against (`examples/kms-telegram`).
    #[test]
    fn fixed_vector() {
        let s = DescriptionStatement {
            user: 7,
            expires_at: 1,
            challenge: "c1".into(),
            request_digest: "d".into(),
            factor_required: None,
            description: "hi".into(),
            buttons: vec!["Approve".into()],
        };
        let mut want = STATEMENT_MAGIC.to_vec();
        want.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 1]);
        want.extend_from_slice(&[0, 0, 0, 2, b'c', b'1', 0, 0, 0, 1, b'd', 0, 0, 0, 0]);
        want.extend_from_slice(&[0, 0, 0, 2, b'h', b'i', 1, 0, 0, 0, 7]);
        want.extend_from_slice(b"Approve");
        assert_eq!(s.encode().unwrap(), want);
    }
}
