//! The error every use case (accept a notification, bind an account, run a job, handle a
//! platform's request) answers with. It says what went wrong, not how to tell a client: the
//! edge ([`crate::http`]) maps each variant to an HTTP status and a body in one place.

use super::Invalid;

#[derive(Debug, Clone, thiserror::Error)]
pub enum Error {
    /// Bad input, naming the field at fault.
    #[error("invalid: {0}")]
    Invalid(Invalid),
    /// No credentials, or wrong ones (an API token, a platform's signature or secret).
    #[error("unauthorized")]
    Unauthorized,
    #[error("not found")]
    NotFound,
    /// A body past the size the edge takes.
    #[error("body too large")]
    TooLarge,
    /// Changed concurrently, or in a state that refuses this; the text is for the client.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A dependency (the store, the queue) failed; the cause is logged, never shown.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A bug or an impossible state; the cause is logged, never shown.
    #[error("internal: {0}")]
    Internal(String),
}

impl From<Invalid> for Error {
    fn from(e: Invalid) -> Self {
        Error::Invalid(e)
    }
}

/// A use case's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
