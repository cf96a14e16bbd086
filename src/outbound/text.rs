//! Text messages (SMS) to patients. No SMS gateway is reachable from aghub's machines yet, so
//! the one provider writes each message to a log file (`AGHUB_SMS_LOG`), one JSON line per
//! message; a gateway (GOV.UK Notify, say) is another implementation of `TextSender`.

use std::path::PathBuf;

use tokio::io::AsyncWriteExt;

use super::SendError;

/// One text message. `id` is the delivery's idempotency key (the gateway's reference).
pub struct Text {
    pub to: String,
    pub body: String,
    pub id: String,
}

#[async_trait::async_trait]
pub trait TextSender: Send + Sync {
    async fn send(&self, text: &Text) -> Result<(), SendError>;
}

/// Appends each message to a file readable by its owner only: the message carries a patient's
/// one-time link. One `write` per line, with `O_APPEND`, so several instances do not interleave.
pub struct LogFile {
    path: PathBuf,
}

impl LogFile {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }
}

#[async_trait::async_trait]
impl TextSender for LogFile {
    async fn send(&self, text: &Text) -> Result<(), SendError> {
        let mut line = serde_json::to_string(&serde_json::json!({
            "id": text.id,
            "to": text.to,
            "body": text.body,
        }))
        .map_err(|e| SendError::permanent(e.to_string()))?;
        line.push('\n');
        let mut file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
            .await
            .map_err(|e| SendError::transient(format!("{}: {e}", self.path.display())))?;
        file.write_all(line.as_bytes())
            .await
            .map_err(|e| SendError::transient(format!("{}: {e}", self.path.display())))?;
        tracing::info!(delivery = %text.id, "text message written to the log provider");
        Ok(())
    }
}
