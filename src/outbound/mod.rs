//! Ways out of aghub to other systems: email over SMTP and signed webhook calls. Adapters only:
//! what to send and when is decided by `service::outbox`.

pub mod mail;
pub mod webhook;

/// A delivery that did not go through. `permanent` failures (the mail server refused the
/// address, say) are not worth retrying.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SendError {
    pub message: String,
    pub permanent: bool,
}

impl SendError {
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: false,
        }
    }

    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            permanent: true,
        }
    }
}
