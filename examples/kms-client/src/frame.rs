//! Length-prefixed frames: a 4-byte big-endian body length, then the body.

use std::io::{self, Read, Write};

/// Largest frame body accepted, in bytes (1 MiB). A longer declared length is refused before
/// anything is allocated.
pub const MAX_FRAME_LEN: usize = 1 << 20;

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The peer closed the stream in the middle of a frame.
    #[error("the stream ended inside a frame ({got} of {want} bytes)")]
    Truncated {
        /// Bytes received.
        got: usize,
        /// Bytes the frame needed.
        want: usize,
    },
    /// The declared length is above [`MAX_FRAME_LEN`] (nothing was allocated).
    #[error("frame of {len} bytes is larger than the maximum of {max} bytes")]
    TooLarge {
        /// The declared length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// A zero-length frame.
    #[error("empty frame")]
    Empty,
    /// The underlying stream failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Reads one frame body into `buf` (replacing its contents). Returns `Ok(false)` when the peer
/// closed the stream cleanly between frames.
///
/// # Errors
/// [`FrameError::Truncated`], [`FrameError::TooLarge`] (checked before allocating),
/// [`FrameError::Empty`], [`FrameError::Io`].
pub fn read_frame(r: &mut impl Read, buf: &mut Vec<u8>) -> Result<bool, FrameError> {
    let mut len = [0u8; 4];
    let got = read_full(r, &mut len)?;
    if got == 0 {
        return Ok(false);
    }
    if got < len.len() {
        return Err(FrameError::Truncated { got, want: 4 });
    }
    let len = u32::from_be_bytes(len) as usize;
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len,
            max: MAX_FRAME_LEN,
        });
    }
    buf.clear();
    buf.resize(len, 0);
    let got = read_full(r, buf)?;
    if got < len {
        return Err(FrameError::Truncated {
            got: got + 4,
            want: len + 4,
        });
    }
    Ok(true)
}

/// Writes one frame (length prefix and body) with a single `write_all`.
///
/// # Errors
/// [`FrameError::TooLarge`] or [`FrameError::Empty`] for a body that is not a valid frame;
/// [`FrameError::Io`].
pub fn write_frame(w: &mut impl Write, body: &[u8]) -> Result<(), FrameError> {
    let framed = encode_frame(body)?;
    w.write_all(&framed)?;
    w.flush()?;
    Ok(())
}

/// The bytes of one frame: length prefix and body.
///
/// # Errors
/// [`FrameError::TooLarge`], [`FrameError::Empty`].
pub fn encode_frame(body: &[u8]) -> Result<Vec<u8>, FrameError> {
    if body.is_empty() {
        return Err(FrameError::Empty);
    }
    if body.len() > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge {
            len: body.len(),
            max: MAX_FRAME_LEN,
        });
    }
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
    Ok(out)
}

/// Reads until `buf` is full or the stream ends; returns the bytes read.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_clean_close() {
        let mut wire = Vec::new();
        write_frame(&mut wire, b"hello").unwrap();
        write_frame(&mut wire, b"world!").unwrap();
        let mut r = wire.as_slice();
        let mut buf = Vec::new();
        assert!(read_frame(&mut r, &mut buf).unwrap());
        assert_eq!(buf, b"hello");
        assert!(read_frame(&mut r, &mut buf).unwrap());
        assert_eq!(buf, b"world!");
        assert!(!read_frame(&mut r, &mut buf).unwrap());
    }

    #[test]
    fn oversized_length_is_refused_before_allocating() {
        let wire = u32::MAX.to_be_bytes();
        let mut buf = Vec::new();
        match read_frame(&mut wire.as_slice(), &mut buf) {
            Err(FrameError::TooLarge { len, .. }) => assert_eq!(len, u32::MAX as usize),
            other => panic!("{other:?}"),
        }
        assert_eq!(buf.capacity(), 0);
    }

    #[test]
    fn truncated_prefix_and_body() {
        let mut buf = Vec::new();
        assert!(matches!(
            read_frame(&mut [0u8, 0].as_slice(), &mut buf),
            Err(FrameError::Truncated { got: 2, want: 4 })
        ));
        let mut wire = 10u32.to_be_bytes().to_vec();
        wire.extend_from_slice(b"abc");
        assert!(matches!(
            read_frame(&mut wire.as_slice(), &mut buf),
            Err(FrameError::Truncated { got: 7, want: 14 })
        ));
        assert!(matches!(
            read_frame(&mut [0u8, 0, 0, 0].as_slice(), &mut buf),
            Err(FrameError::Empty)
        ));
    }
}
