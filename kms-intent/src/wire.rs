//! Strict, length-prefixed binary encoding primitives (see `SPEC.md`, "State encoding").
//!
//! Integers are big-endian. Variable-length fields carry a `u32` length prefix that is checked
//! against the field's maximum before anything is allocated. Booleans are exactly `0` or `1`.
//! Every decoder ends with [`Reader::finish`], which refuses trailing bytes.

use crate::error::IntentError;

pub(crate) struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub(crate) fn new() -> Self {
        Self {
            buf: Vec::with_capacity(256),
        }
    }
    pub(crate) fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    pub(crate) fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn bool(&mut self, v: bool) {
        self.u8(u8::from(v));
    }
    pub(crate) fn fixed(&mut self, v: &[u8]) {
        self.buf.extend_from_slice(v);
    }
    /// A count or length; callers keep every collection far below `u32::MAX` by their limits.
    pub(crate) fn len(&mut self, n: usize) {
        self.u32(u32::try_from(n).unwrap_or(u32::MAX));
    }
    pub(crate) fn bytes(&mut self, v: &[u8]) {
        self.len(v.len());
        self.fixed(v);
    }
    pub(crate) fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    pub(crate) fn opt_u64(&mut self, v: Option<u64>) {
        match v {
            None => self.u8(0),
            Some(x) => {
                self.u8(1);
                self.u64(x);
            }
        }
    }
    pub(crate) fn into_vec(self) -> Vec<u8> {
        self.buf
    }
}

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }
    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], IntentError> {
        if self.buf.len() < n {
            return Err(IntentError::Truncated);
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    pub(crate) fn fixed<const N: usize>(&mut self) -> Result<[u8; N], IntentError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, IntentError> {
        Ok(self.fixed::<1>()?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, IntentError> {
        Ok(u16::from_be_bytes(self.fixed()?))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, IntentError> {
        Ok(u32::from_be_bytes(self.fixed()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, IntentError> {
        Ok(u64::from_be_bytes(self.fixed()?))
    }
    pub(crate) fn bool(&mut self) -> Result<bool, IntentError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(IntentError::Malformed("boolean is neither 0 nor 1")),
        }
    }
    /// A count or length prefix, refused above `max` before anything is allocated.
    pub(crate) fn len(&mut self, max: usize, what: &'static str) -> Result<usize, IntentError> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(IntentError::Malformed(what));
        }
        Ok(n)
    }
    pub(crate) fn bytes(
        &mut self,
        max: usize,
        what: &'static str,
    ) -> Result<&'a [u8], IntentError> {
        let n = self.len(max, what)?;
        self.take(n)
    }
    pub(crate) fn string(&mut self, max: usize, what: &'static str) -> Result<String, IntentError> {
        let b = self.bytes(max, what)?;
        core::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| IntentError::Malformed("text is not UTF-8"))
    }
    pub(crate) fn opt_u64(&mut self) -> Result<Option<u64>, IntentError> {
        if self.bool()? {
            Ok(Some(self.u64()?))
        } else {
            Ok(None)
        }
    }
    pub(crate) fn finish(self) -> Result<(), IntentError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(IntentError::TrailingBytes)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strictness() {
        let mut w = Writer::new();
        w.u8(7);
        w.u64(u64::MAX - 1);
        w.str("héllo");
        w.opt_u64(Some(5));
        w.bool(true);
        let bytes = w.into_vec();
        let mut r = Reader::new(&bytes);
        assert_eq!(r.u8().unwrap(), 7);
        assert_eq!(r.u64().unwrap(), u64::MAX - 1);
        assert_eq!(r.string(16, "s").unwrap(), "héllo");
        assert_eq!(r.opt_u64().unwrap(), Some(5));
        assert!(r.bool().unwrap());
        r.finish().unwrap();

        // A length above the maximum is refused before allocation.
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            r.bytes(10, "too long"),
            Err(IntentError::Malformed("too long"))
        );
        // Truncation.
        let mut r = Reader::new(&[0, 0, 0, 5, 1]);
        assert_eq!(r.bytes(10, "x"), Err(IntentError::Truncated));
        // Booleans are strict.
        assert!(Reader::new(&[2]).bool().is_err());
        // Trailing bytes.
        let mut r = Reader::new(&[1, 2]);
        r.u8().unwrap();
        assert_eq!(r.finish(), Err(IntentError::TrailingBytes));
    }
}
