//! Byte reader and the compact-u16 ("short vec") length encoding.

use crate::error::{Error, Field};

/// Reads one compact-u16 from the start of `bytes`, as strictly as the Solana runtime.
///
/// Returns the value and the number of bytes it used (1 to 3). Rejects empty or truncated input
/// ([`Error::Truncated`]), aliases such as `80 00` for 0 ([`Error::NonCanonicalLength`]), and
/// encodings longer than 3 bytes or above 65535 ([`Error::LengthOverflow`]). Offsets in errors are
/// 0 (the start of `bytes`).
///
/// ```
/// assert_eq!(kms_solana::read_compact_u16(&[0xff, 0xff, 0x03]), Ok((65535, 3)));
/// assert!(kms_solana::read_compact_u16(&[0x80, 0x00]).is_err());
/// ```
pub fn read_compact_u16(bytes: &[u8]) -> Result<(u16, usize), Error> {
    let mut r = Reader::new(bytes, 0);
    let v = r.compact_u16(Field::DataLength)?;
    Ok((v, r.pos))
}

/// Number of bytes the compact-u16 encoding of `v` takes.
pub(crate) const fn compact_len(v: usize) -> usize {
    if v < 0x80 {
        1
    } else if v < 0x4000 {
        2
    } else {
        3
    }
}

/// A cursor over the input; errors report `base + pos`.
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pub(crate) pos: usize,
    base: usize,
}

impl<'a> Reader<'a> {
    pub(crate) const fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    /// Absolute offset (for errors) of the next byte.
    #[inline]
    pub(crate) const fn offset(&self) -> usize {
        self.base + self.pos
    }

    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[inline]
    pub(crate) fn u8(&mut self, field: Field) -> Result<u8, Error> {
        match self.buf.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(Error::Truncated {
                offset: self.offset(),
                field,
            }),
        }
    }

    #[inline]
    pub(crate) fn take(&mut self, n: usize, field: Field) -> Result<&'a [u8], Error> {
        match self.buf.get(self.pos..self.pos + n) {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(Error::Truncated {
                offset: self.offset(),
                field,
            }),
        }
    }

    #[inline]
    pub(crate) fn array32(&mut self, field: Field) -> Result<&'a [u8; 32], Error> {
        let s = self.take(32, field)?;
        s.try_into().map_err(|_| Error::Truncated {
            offset: self.offset(),
            field,
        })
    }

    /// Reads a compact-u16; errors point at the first byte of the encoding.
    ///
    /// The one-byte form (values below 128: nearly every length in a transaction) is read
    /// inline; longer forms and every error go through [`compact_u16_long`](Self::compact_u16_long).
    /// The split matters inside the WebAssembly modules, where this runs about 20 times per
    /// transaction in an interpreter.
    #[inline]
    pub(crate) fn compact_u16(&mut self, field: Field) -> Result<u16, Error> {
        match self.buf.get(self.pos) {
            Some(&b0) if b0 & 0x80 == 0 => {
                self.pos += 1;
                Ok(u16::from(b0))
            }
            _ => self.compact_u16_long(field),
        }
    }

    /// The two- and three-byte forms of a compact-u16, and its errors.
    #[cold]
    #[inline(never)]
    fn compact_u16_long(&mut self, field: Field) -> Result<u16, Error> {
        let start = self.offset();
        let trunc = Error::Truncated {
            offset: start,
            field,
        };
        let b0 = self.u8(field).map_err(|_| trunc.clone())?;
        if b0 & 0x80 == 0 {
            return Ok(u16::from(b0));
        }
        let b1 = self.u8(field).map_err(|_| trunc.clone())?;
        if b1 == 0 {
            return Err(Error::NonCanonicalLength {
                offset: start,
                field,
            });
        }
        let lo = u32::from(b0 & 0x7f) | (u32::from(b1 & 0x7f) << 7);
        if b1 & 0x80 == 0 {
            return Ok(lo as u16);
        }
        let b2 = self.u8(field).map_err(|_| trunc)?;
        if b2 == 0 {
            return Err(Error::NonCanonicalLength {
                offset: start,
                field,
            });
        }
        if b2 & 0x80 != 0 {
            return Err(Error::LengthOverflow {
                offset: start,
                field,
            });
        }
        let v = lo | (u32::from(b2) << 14);
        u16::try_from(v).map_err(|_| Error::LengthOverflow {
            offset: start,
            field,
        })
    }

    /// Reads a compact-u16 count followed by that many bytes.
    #[inline]
    pub(crate) fn short_bytes(
        &mut self,
        len_field: Field,
        field: Field,
    ) -> Result<&'a [u8], Error> {
        let n = self.compact_u16(len_field)?;
        self.take(usize::from(n), field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_u16_roundtrip_all_values() {
        for v in 0..=u16::MAX {
            let mut buf = [0u8; 3];
            let mut n = 0;
            let mut x = u32::from(v);
            loop {
                let mut b = (x & 0x7f) as u8;
                x >>= 7;
                if x != 0 {
                    b |= 0x80;
                }
                buf[n] = b;
                n += 1;
                if x == 0 {
                    break;
                }
            }
            assert_eq!(read_compact_u16(&buf[..n]), Ok((v, n)), "value {v}");
            assert_eq!(compact_len(usize::from(v)), n);
        }
    }
}
