//! A minimal, strict CBOR (RFC 8949) decoder for WebAuthn attestation objects and COSE keys.
//!
//! Accepted: unsigned and negative integers, byte and text strings, arrays, maps, `false`,
//! `true` and `null`, every argument in its shortest form. Refused: indefinite lengths, tags,
//! floats, other simple values, non-shortest arguments, duplicate map keys, invalid UTF-8,
//! nesting deeper than [`MAX_DEPTH`]. Collections are allocated only after their announced
//! length was checked against the bytes left.

use crate::error::IntentError;

/// Deepest nesting accepted.
pub const MAX_DEPTH: usize = 8;

/// A decoded CBOR item borrowing from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// Major type 0.
    Uint(u64),
    /// Major type 1: the value is `-1 - n`.
    Nint(u64),
    /// Major type 2.
    Bytes(&'a [u8]),
    /// Major type 3.
    Text(&'a str),
    /// Major type 4.
    Array(Vec<Value<'a>>),
    /// Major type 5, in input order.
    Map(Vec<(Value<'a>, Value<'a>)>),
    /// `false` / `true`.
    Bool(bool),
    /// `null`.
    Null,
}

impl<'a> Value<'a> {
    /// The value of integer key `k` in a map.
    pub(crate) fn map_get_int(&self, k: i64) -> Option<&Value<'a>> {
        let Value::Map(entries) = self else {
            return None;
        };
        entries
            .iter()
            .find(|(key, _)| key.as_i64() == Some(k))
            .map(|(_, v)| v)
    }

    /// The value of text key `k` in a map.
    pub(crate) fn map_get_text(&self, k: &str) -> Option<&Value<'a>> {
        let Value::Map(entries) = self else {
            return None;
        };
        entries
            .iter()
            .find(|(key, _)| matches!(key, Value::Text(t) if *t == k))
            .map(|(_, v)| v)
    }

    pub(crate) fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Uint(n) => i64::try_from(n).ok(),
            Value::Nint(n) => i64::try_from(n).ok().map(|n| -1 - n),
            _ => None,
        }
    }
}

const ERR: fn(&'static str) -> IntentError = IntentError::MalformedCbor;

struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Decoder<'a> {
    fn byte(&mut self) -> Result<u8, IntentError> {
        let b = *self.buf.get(self.pos).ok_or(ERR("truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: u64) -> Result<&'a [u8], IntentError> {
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            return Err(ERR("truncated"));
        }
        let n = n as usize;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn argument(&mut self, info: u8) -> Result<u64, IntentError> {
        let v = match info {
            0..=23 => return Ok(u64::from(info)),
            24 => {
                let v = u64::from(self.byte()?);
                if v < 24 {
                    return Err(ERR("non-shortest integer encoding"));
                }
                v
            }
            25 => {
                let b = self.take(2)?;
                let v = u64::from(u16::from_be_bytes([b[0], b[1]]));
                if v <= 0xff {
                    return Err(ERR("non-shortest integer encoding"));
                }
                v
            }
            26 => {
                let b = self.take(4)?;
                let v = u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                if v <= 0xffff {
                    return Err(ERR("non-shortest integer encoding"));
                }
                v
            }
            27 => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                let v = u64::from_be_bytes(a);
                if v <= 0xffff_ffff {
                    return Err(ERR("non-shortest integer encoding"));
                }
                v
            }
            31 => return Err(ERR("indefinite length")),
            _ => return Err(ERR("reserved additional information")),
        };
        Ok(v)
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, IntentError> {
        if depth > MAX_DEPTH {
            return Err(ERR("nested too deeply"));
        }
        let initial = self.byte()?;
        let major = initial >> 5;
        let info = initial & 0x1f;
        if major == 7 {
            return match info {
                20 => Ok(Value::Bool(false)),
                21 => Ok(Value::Bool(true)),
                22 => Ok(Value::Null),
                _ => Err(ERR("floats and simple values other than false/true/null")),
            };
        }
        let arg = self.argument(info)?;
        match major {
            0 => Ok(Value::Uint(arg)),
            1 => Ok(Value::Nint(arg)),
            2 => Ok(Value::Bytes(self.take(arg)?)),
            3 => {
                let b = self.take(arg)?;
                core::str::from_utf8(b)
                    .map(Value::Text)
                    .map_err(|_| ERR("text is not UTF-8"))
            }
            4 => {
                // Every item takes at least one byte.
                if arg > (self.buf.len() - self.pos) as u64 {
                    return Err(ERR("truncated"));
                }
                let mut items = Vec::with_capacity(arg as usize);
                for _ in 0..arg {
                    items.push(self.value(depth + 1)?);
                }
                Ok(Value::Array(items))
            }
            5 => {
                if arg.saturating_mul(2) > (self.buf.len() - self.pos) as u64 {
                    return Err(ERR("truncated"));
                }
                let mut entries: Vec<(Value<'a>, Value<'a>)> = Vec::with_capacity(arg as usize);
                for _ in 0..arg {
                    let k = self.value(depth + 1)?;
                    if entries.iter().any(|(e, _)| *e == k) {
                        return Err(ERR("duplicate map key"));
                    }
                    let v = self.value(depth + 1)?;
                    entries.push((k, v));
                }
                Ok(Value::Map(entries))
            }
            _ => Err(ERR("tags are not accepted")),
        }
    }
}

/// Decodes the first CBOR item of `input`; returns it and the number of bytes it took.
///
/// # Errors
/// [`IntentError::MalformedCbor`] for anything outside the strict subset.
pub fn decode_prefix(input: &[u8]) -> Result<(Value<'_>, usize), IntentError> {
    let mut d = Decoder { buf: input, pos: 0 };
    let v = d.value(0)?;
    Ok((v, d.pos))
}

/// Decodes exactly one CBOR item that spans all of `input`.
///
/// # Errors
/// [`IntentError::MalformedCbor`] for anything outside the strict subset or trailing bytes.
pub fn decode(input: &[u8]) -> Result<Value<'_>, IntentError> {
    let (v, n) = decode_prefix(input)?;
    if n != input.len() {
        return Err(ERR("trailing bytes"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc8949_appendix_a_subset() {
        assert_eq!(decode(&[0x00]).unwrap(), Value::Uint(0));
        assert_eq!(decode(&[0x17]).unwrap(), Value::Uint(23));
        assert_eq!(decode(&[0x18, 0x18]).unwrap(), Value::Uint(24));
        assert_eq!(decode(&[0x19, 0x03, 0xe8]).unwrap(), Value::Uint(1000));
        assert_eq!(decode(&[0x20]).unwrap().as_i64(), Some(-1));
        assert_eq!(decode(&[0x38, 0x63]).unwrap().as_i64(), Some(-100));
        assert_eq!(decode(&[0x43, 1, 2, 3]).unwrap(), Value::Bytes(&[1, 2, 3]));
        assert_eq!(decode(&[0x62, b'a', b'b']).unwrap(), Value::Text("ab"));
        assert_eq!(
            decode(&[0x82, 0x01, 0x02]).unwrap(),
            Value::Array(vec![Value::Uint(1), Value::Uint(2)])
        );
        assert_eq!(decode(&[0xf4]).unwrap(), Value::Bool(false));
        assert_eq!(decode(&[0xf6]).unwrap(), Value::Null);
    }

    #[test]
    fn refuses_outside_the_strict_subset() {
        assert!(decode(&[0x18, 0x01]).is_err()); // non-shortest
        assert!(decode(&[0x19, 0x00, 0x10]).is_err()); // non-shortest
        assert!(decode(&[0x5f, 0x41, 0x00, 0xff]).is_err()); // indefinite bytes
        assert!(decode(&[0xc0, 0x00]).is_err()); // tag
        assert!(decode(&[0xf9, 0x3c, 0x00]).is_err()); // half float
        assert!(decode(&[0xa2, 0x01, 0x00, 0x01, 0x00]).is_err()); // duplicate key
        assert!(decode(&[0x62, 0xff, 0xfe]).is_err()); // bad UTF-8
        assert!(decode(&[0x01, 0x00]).is_err()); // trailing
        assert!(decode(&[0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]).is_err()); // huge
        let deep = [0x81u8; 20];
        assert!(decode(&deep).is_err());
    }
}
