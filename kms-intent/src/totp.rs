//! RFC 6238 TOTP: enrollment (secret, `otpauth://` URI, QR code) and replay-safe verification.

use core::fmt;

use hmac::{Hmac, KeyInit, Mac};
use rand_core::TryCryptoRng;
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::digest::fill_random;
use crate::error::IntentError;
use crate::wire::{Reader, Writer};

/// Longest issuer or account name in an enrollment, in bytes.
pub const MAX_TOTP_NAME_LEN: usize = 128;

/// The HMAC hash of a TOTP factor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TotpAlgorithm {
    /// HMAC-SHA1: what every authenticator app supports (the default).
    Sha1,
    /// HMAC-SHA256.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

impl TotpAlgorithm {
    /// The secret length used for this algorithm (its hash output length, as RFC 6238's test
    /// keys and RFC 4226 §4 recommend).
    #[must_use]
    pub fn secret_len(self) -> usize {
        match self {
            Self::Sha1 => 20,
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "SHA1",
            Self::Sha256 => "SHA256",
            Self::Sha512 => "SHA512",
        }
    }
    fn tag(self) -> u8 {
        match self {
            Self::Sha1 => 1,
            Self::Sha256 => 2,
            Self::Sha512 => 3,
        }
    }
    fn from_tag(t: u8) -> Result<Self, IntentError> {
        Ok(match t {
            1 => Self::Sha1,
            2 => Self::Sha256,
            3 => Self::Sha512,
            _ => return Err(IntentError::Malformed("unknown TOTP algorithm")),
        })
    }
}

/// TOTP parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TotpParams {
    /// The HMAC hash.
    pub algorithm: TotpAlgorithm,
    /// Code length, 6 to 8 digits.
    pub digits: u8,
    /// Time step in seconds, 15 to 300.
    pub period: u32,
}

impl Default for TotpParams {
    /// SHA1, 6 digits, 30 s: the parameters every authenticator app understands.
    fn default() -> Self {
        Self {
            algorithm: TotpAlgorithm::Sha1,
            digits: 6,
            period: 30,
        }
    }
}

impl TotpParams {
    fn validate(&self) -> Result<(), IntentError> {
        if !(6..=8).contains(&self.digits) {
            return Err(IntentError::InvalidInput {
                field: "digits",
                reason: "not 6 to 8",
            });
        }
        if !(15..=300).contains(&self.period) {
            return Err(IntentError::InvalidInput {
                field: "period",
                reason: "not 15 to 300 s",
            });
        }
        Ok(())
    }
}

/// A TOTP shared secret. Zeroized on drop; `Debug` does not print it.
#[derive(Clone)]
pub struct TotpSecret(Zeroizing<Vec<u8>>);

impl TotpSecret {
    /// A secret from its bytes (16 to 64 bytes).
    ///
    /// # Errors
    /// [`IntentError::InvalidInput`] outside that range.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IntentError> {
        if !(16..=64).contains(&bytes.len()) {
            return Err(IntentError::InvalidInput {
                field: "TOTP secret",
                reason: "not 16 to 64 bytes",
            });
        }
        Ok(Self(Zeroizing::new(bytes.to_vec())))
    }

    /// The secret bytes.
    #[must_use]
    pub fn expose_secret(&self) -> &[u8] {
        &self.0
    }

    /// The secret in unpadded RFC 4648 base32, as authenticator apps take it.
    #[must_use]
    pub fn to_base32(&self) -> Zeroizing<String> {
        base32_encode(&self.0)
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpSecret")
            .field("len", &self.0.len())
            .finish_non_exhaustive()
    }
}

fn base32_encode(data: &[u8]) -> Zeroizing<String> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = Zeroizing::new(String::with_capacity(data.len().div_ceil(5) * 8));
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &b in data {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buffer >> bits) & 31) as usize]));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

fn hmac_digest(alg: TotpAlgorithm, key: &[u8], msg: &[u8; 8]) -> Zeroizing<Vec<u8>> {
    // HMAC accepts keys of any length, so `new_from_slice` cannot fail here.
    macro_rules! mac {
        ($h:ty) => {{
            match <Hmac<$h> as KeyInit>::new_from_slice(key) {
                Ok(mut m) => {
                    m.update(msg);
                    Zeroizing::new(m.finalize().into_bytes().to_vec())
                }
                Err(_) => Zeroizing::new(Vec::new()),
            }
        }};
    }
    match alg {
        TotpAlgorithm::Sha1 => mac!(sha1::Sha1),
        TotpAlgorithm::Sha256 => mac!(sha2::Sha256),
        TotpAlgorithm::Sha512 => mac!(sha2::Sha512),
    }
}

/// The RFC 4226 HOTP value of `counter` (dynamic truncation, then modulo 10^digits).
fn hotp(secret: &TotpSecret, alg: TotpAlgorithm, digits: u8, counter: u64) -> u32 {
    let mac = hmac_digest(alg, &secret.0, &counter.to_be_bytes());
    if mac.len() < 20 {
        return u32::MAX; // unreachable: every supported hash is at least 20 bytes
    }
    let offset = usize::from(mac[mac.len() - 1] & 0x0f);
    let bin = (u32::from(mac[offset] & 0x7f) << 24)
        | (u32::from(mac[offset + 1]) << 16)
        | (u32::from(mac[offset + 2]) << 8)
        | u32::from(mac[offset + 3]);
    bin % 10u32.pow(u32::from(digits))
}

/// The TOTP code for `unix_time` (RFC 6238 with T0 = 0), as a zero-padded string.
///
/// ```
/// use kms_intent::{totp_code, TotpAlgorithm, TotpParams, TotpSecret};
/// // RFC 6238 Appendix B, SHA1, T = 59.
/// let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
/// let params = TotpParams { algorithm: TotpAlgorithm::Sha1, digits: 8, period: 30 };
/// assert_eq!(totp_code(&secret, &params, 59).as_str(), "94287082");
/// ```
#[must_use]
pub fn totp_code(secret: &TotpSecret, params: &TotpParams, unix_time: u64) -> Zeroizing<String> {
    let period = u64::from(params.period.max(1));
    let v = hotp(secret, params.algorithm, params.digits, unix_time / period);
    Zeroizing::new(format!("{v:0width$}", width = usize::from(params.digits)))
}

/// A TOTP factor: secret, parameters and the last accepted time step.
#[derive(Clone)]
pub(crate) struct TotpFactor {
    pub(crate) secret: TotpSecret,
    pub(crate) params: TotpParams,
    pub(crate) last_step: Option<u64>,
}

impl PartialEq for TotpFactor {
    fn eq(&self, other: &Self) -> bool {
        bool::from(self.secret.0.as_slice().ct_eq(other.secret.0.as_slice()))
            && self.params == other.params
            && self.last_step == other.last_step
    }
}
impl Eq for TotpFactor {}

impl fmt::Debug for TotpFactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpFactor")
            .field("params", &self.params)
            .field("last_step", &self.last_step)
            .finish_non_exhaustive()
    }
}

impl TotpFactor {
    pub(crate) fn generate<R: TryCryptoRng + ?Sized>(
        rng: &mut R,
        params: TotpParams,
    ) -> Result<Self, IntentError> {
        params.validate()?;
        let mut bytes = Zeroizing::new(vec![0u8; params.algorithm.secret_len()]);
        fill_random(rng, &mut bytes)?;
        Ok(Self {
            secret: TotpSecret(bytes),
            params,
            last_step: None,
        })
    }

    /// Verifies `code` at `now` with ±1 step of skew. The code is compared in constant time
    /// against all three candidate steps; a step at or before the last accepted one is refused,
    /// so no code (and no step) is accepted twice. Costs three HMACs.
    pub(crate) fn verify(&mut self, code: &str, now: u64) -> Result<(), IntentError> {
        let digits = usize::from(self.params.digits);
        if code.len() != digits || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(IntentError::TotpInvalid);
        }
        let presented: u32 = code.parse().map_err(|_| IntentError::TotpInvalid)?;
        let step = now / u64::from(self.params.period);
        let mut accepted: Option<u64> = None;
        let mut replayed = false;
        for s in [step.checked_sub(1), Some(step), step.checked_add(1)]
            .into_iter()
            .flatten()
        {
            let expected = hotp(&self.secret, self.params.algorithm, self.params.digits, s);
            let hit: Choice = expected.to_be_bytes().ct_eq(&presented.to_be_bytes());
            if bool::from(hit) {
                if self.last_step.is_some_and(|last| s <= last) {
                    replayed = true;
                } else {
                    accepted = Some(s);
                }
            }
        }
        match accepted {
            Some(s) => {
                self.last_step = Some(s);
                Ok(())
            }
            None if replayed => Err(IntentError::TotpReplayed),
            None => Err(IntentError::TotpInvalid),
        }
    }

    pub(crate) fn encode(&self, w: &mut Writer) {
        w.u8(self.params.algorithm.tag());
        w.u8(self.params.digits);
        w.u32(self.params.period);
        w.bytes(&self.secret.0);
        w.opt_u64(self.last_step);
    }

    pub(crate) fn decode(r: &mut Reader<'_>) -> Result<Self, IntentError> {
        let params = TotpParams {
            algorithm: TotpAlgorithm::from_tag(r.u8()?)?,
            digits: r.u8()?,
            period: r.u32()?,
        };
        params
            .validate()
            .map_err(|_| IntentError::Malformed("invalid TOTP parameters"))?;
        let secret = TotpSecret::from_bytes(r.bytes(64, "TOTP secret too long")?)
            .map_err(|_| IntentError::Malformed("TOTP secret length"))?;
        Ok(Self {
            secret,
            params,
            last_step: r.opt_u64()?,
        })
    }
}

/// What the user needs to add the factor to an authenticator app. Holds the secret: zeroized on
/// drop, `Debug` prints only the parameters.
pub struct TotpEnrollment {
    pub(crate) secret: TotpSecret,
    pub(crate) params: TotpParams,
    pub(crate) uri: Zeroizing<String>,
}

impl fmt::Debug for TotpEnrollment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpEnrollment")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

fn percent_encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

impl TotpEnrollment {
    pub(crate) fn new(
        factor: &TotpFactor,
        issuer: &str,
        account: &str,
    ) -> Result<Self, IntentError> {
        for (field, v) in [("issuer", issuer), ("account", account)] {
            if v.is_empty() {
                return Err(IntentError::InvalidInput {
                    field,
                    reason: "empty",
                });
            }
            if v.len() > MAX_TOTP_NAME_LEN {
                return Err(IntentError::TooLong {
                    field,
                    max: MAX_TOTP_NAME_LEN,
                });
            }
        }
        let mut uri = Zeroizing::new(String::from("otpauth://totp/"));
        percent_encode(issuer, &mut uri);
        uri.push(':');
        percent_encode(account, &mut uri);
        uri.push_str("?secret=");
        uri.push_str(&factor.secret.to_base32());
        uri.push_str("&issuer=");
        percent_encode(issuer, &mut uri);
        uri.push_str(&format!(
            "&algorithm={}&digits={}&period={}",
            factor.params.algorithm.name(),
            factor.params.digits,
            factor.params.period
        ));
        Ok(Self {
            secret: factor.secret.clone(),
            params: factor.params,
            uri,
        })
    }

    /// The secret (for manual entry: use [`TotpSecret::to_base32`]).
    #[must_use]
    pub fn secret(&self) -> &TotpSecret {
        &self.secret
    }

    /// The parameters.
    #[must_use]
    pub fn params(&self) -> TotpParams {
        self.params
    }

    /// The Key Uri Format URI:
    /// `otpauth://totp/ISSUER:ACCOUNT?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30`.
    #[must_use]
    pub fn otpauth_uri(&self) -> &str {
        &self.uri
    }

    fn qr(&self) -> Result<qrcode::QrCode, IntentError> {
        qrcode::QrCode::with_error_correction_level(self.uri.as_bytes(), qrcode::EcLevel::M)
            .map_err(|_| IntentError::InvalidInput {
                field: "otpauth URI",
                reason: "too long for a QR code",
            })
    }

    /// The URI as a QR code in a grayscale PNG, `scale` pixels per module (1 to 32) with the
    /// standard 4-module quiet zone.
    ///
    /// # Errors
    /// [`IntentError::InvalidInput`] for a bad scale or a URI too long for a QR code.
    pub fn qr_png(&self, scale: u32) -> Result<Zeroizing<Vec<u8>>, IntentError> {
        if !(1..=32).contains(&scale) {
            return Err(IntentError::InvalidInput {
                field: "scale",
                reason: "not 1 to 32",
            });
        }
        let code = self.qr()?;
        let modules = code.width();
        let colors = code.to_colors();
        let quiet = 4usize;
        let scale_us = scale as usize;
        let side = (modules + 2 * quiet) * scale_us;
        let mut pixels = Zeroizing::new(vec![255u8; side * side]);
        for y in 0..modules {
            for x in 0..modules {
                if colors[y * modules + x] == qrcode::Color::Dark {
                    for dy in 0..scale_us {
                        let row = ((y + quiet) * scale_us + dy) * side;
                        let start = row + (x + quiet) * scale_us;
                        pixels[start..start + scale_us].fill(0);
                    }
                }
            }
        }
        let side32 = u32::try_from(side).map_err(|_| IntentError::InvalidInput {
            field: "scale",
            reason: "image too large",
        })?;
        let mut out = Zeroizing::new(Vec::new());
        {
            let mut enc = png::Encoder::new(&mut *out, side32, side32);
            enc.set_color(png::ColorType::Grayscale);
            enc.set_depth(png::BitDepth::Eight);
            let png_err = |_| IntentError::InvalidInput {
                field: "QR image",
                reason: "PNG encoding failed",
            };
            let mut writer = enc.write_header().map_err(png_err)?;
            writer.write_image_data(&pixels).map_err(png_err)?;
            writer.finish().map_err(png_err)?;
        }
        Ok(out)
    }

    /// The URI as a QR code for a terminal, two modules per character cell (Unicode half
    /// blocks), with the quiet zone. `dark_background` swaps the colours so that the code reads
    /// right on a dark terminal.
    ///
    /// # Errors
    /// [`IntentError::InvalidInput`] for a URI too long for a QR code.
    pub fn qr_terminal(&self, dark_background: bool) -> Result<Zeroizing<String>, IntentError> {
        use qrcode::render::unicode::Dense1x2;
        let code = self.qr()?;
        let (dark, light) = if dark_background {
            (Dense1x2::Light, Dense1x2::Dark)
        } else {
            (Dense1x2::Dark, Dense1x2::Light)
        };
        Ok(Zeroizing::new(
            code.render::<Dense1x2>()
                .dark_color(dark)
                .light_color(light)
                .quiet_zone(true)
                .build(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_rfc4648_vectors() {
        // RFC 4648 §10, without padding.
        for (input, want) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32_encode(input.as_bytes()).as_str(), want);
        }
    }

    #[test]
    fn percent_encoding() {
        let mut s = String::new();
        percent_encode("a b:c@d", &mut s);
        assert_eq!(s, "a%20b%3Ac%40d");
    }
}
