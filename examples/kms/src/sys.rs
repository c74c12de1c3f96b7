//! The reference signer's only `unsafe` code: taking ownership of the file descriptors the
//! supervisor passes to its children by number (the socketpair ends and the bus listener).
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};

/// Takes ownership of inherited descriptor `fd` after checking that it is an open socket.
///
/// Call it once per descriptor number, at start-up, before any other code could have opened or
/// closed that number: the supervisor cleared `FD_CLOEXEC` on exactly this descriptor before
/// `exec`, and nothing else in this process owns it.
pub(crate) fn adopt_socket(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 3 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {fd} is a standard stream, not an inherited socket"),
        ));
    }
    // SAFETY: `fd` is checked below to be open before it is used; per this function's contract
    // the supervisor handed this process exactly this descriptor and no other owner exists, so
    // creating the one `OwnedFd` for it cannot lead to a double close.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let stat = match rustix::fs::fstat(owned.as_fd()) {
        Ok(s) => s,
        Err(e) => {
            // Not open: do not let `OwnedFd` close a number someone may reuse.
            let _ = owned.into_raw_fd();
            return Err(io::Error::from(e));
        }
    };
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::Socket {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("descriptor {fd} is not a socket"),
        ));
    }
    Ok(owned)
}
