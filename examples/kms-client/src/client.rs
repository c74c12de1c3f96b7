//! A blocking client for the bridge's Unix-socket API.

use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::frame::{FrameError, read_frame, write_frame};
use crate::proto::{
    Outcome, PROTOCOL_VERSION, Request, Response, ResponseEnvelope, WireError, encode_request,
};

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// Connecting to the socket failed.
    #[error("cannot connect to {path}: {source}")]
    Connect {
        /// The socket path.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A frame could not be sent or received (the connection is unusable afterwards).
    #[error("bus connection: {0}")]
    Frame(#[from] FrameError),
    /// The bridge closed the connection.
    #[error("the bridge closed the connection")]
    Closed,
    /// The answer was not a valid response envelope, or answered another request.
    #[error("invalid answer from the bridge: {0}")]
    Protocol(String),
    /// The signer answered with a typed error.
    #[error(transparent)]
    Remote(#[from] WireError),
}

impl ClientError {
    /// The typed error the signer sent, if this is one.
    #[must_use]
    pub fn remote(&self) -> Option<&WireError> {
        match self {
            Self::Remote(e) => Some(e),
            _ => None,
        }
    }
}

/// One connection to the bridge. Calls are answered in order; use one client per thread (or a
/// pool) for concurrency.
#[derive(Debug)]
pub struct Client {
    stream: UnixStream,
    next_id: u64,
    buf: Vec<u8>,
}

impl Client {
    /// Connects to the bridge's socket.
    ///
    /// # Errors
    /// [`ClientError::Connect`].
    pub fn connect(path: impl AsRef<Path>) -> Result<Self, ClientError> {
        let path = path.as_ref();
        let stream = UnixStream::connect(path).map_err(|source| ClientError::Connect {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self {
            stream,
            next_id: 1,
            buf: Vec::new(),
        })
    }

    /// Sets a read timeout for answers (`None`: wait forever, the default).
    ///
    /// # Errors
    /// The OS error.
    pub fn set_timeout(&self, timeout: Option<Duration>) -> std::io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }

    /// Sends `req` and waits for its answer.
    ///
    /// # Errors
    /// [`ClientError::Remote`] with the signer's typed error; transport errors otherwise.
    pub fn call(&mut self, req: &Request) -> Result<Response, ClientError> {
        let id = self.next_id;
        self.next_id += 1;
        write_frame(&mut self.stream, &encode_request(id, req))?;
        if !read_frame(&mut self.stream, &mut self.buf)? {
            return Err(ClientError::Closed);
        }
        let env: ResponseEnvelope = serde_json::from_slice(&self.buf)
            .map_err(|e| ClientError::Protocol(format!("not a response envelope: {e}")))?;
        if env.v != PROTOCOL_VERSION {
            return Err(ClientError::Protocol(format!("protocol version {}", env.v)));
        }
        if env.id != id {
            return Err(ClientError::Protocol(format!(
                "answer to request {} while waiting for {id}",
                env.id
            )));
        }
        match env.outcome {
            Outcome::Ok(r) => Ok(r),
            Outcome::Err(e) => Err(ClientError::Remote(e)),
        }
    }

    /// Sends raw bytes as one frame and reads one raw answer frame (for tests of malformed input).
    ///
    /// # Errors
    /// Transport errors.
    pub fn call_raw(&mut self, body: &[u8]) -> Result<Option<ResponseEnvelope>, ClientError> {
        write_frame(&mut self.stream, body)?;
        self.read_envelope()
    }

    /// Reads one answer envelope; `None` when the bridge closed the connection.
    ///
    /// # Errors
    /// Transport errors.
    pub fn read_envelope(&mut self) -> Result<Option<ResponseEnvelope>, ClientError> {
        if !read_frame(&mut self.stream, &mut self.buf)? {
            return Ok(None);
        }
        serde_json::from_slice(&self.buf)
            .map(Some)
            .map_err(|e| ClientError::Protocol(format!("not a response envelope: {e}")))
    }

    /// The underlying stream (to send malformed bytes in tests).
    pub fn stream(&mut self) -> &mut UnixStream {
        &mut self.stream
    }
}
