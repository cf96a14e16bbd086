//! Ways out of aghub to other systems: email over SMTP, text messages and signed webhook calls.
//! Adapters only: what to send and when is decided by `service::outbox`.

pub mod mail;
pub mod text;
pub mod webhook;

/// Makes aws-lc-rs (the TLS crypto provider aws-sdk-s3 already builds) the process default,
/// which reqwest (built without a provider of its own) takes. Idempotent: call it before the
/// first HTTP client of any binary, test or tool.
pub fn use_aws_lc_rs() {
    // An error only means a provider is installed already.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

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
