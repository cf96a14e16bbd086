//! Email through an SMTP server (`AGHUB_SMTP_URL`), with lettre.

use lettre::message::{header, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::SendError;

/// One message: plain text with an HTML alternative. `message_id` makes a retried delivery
/// recognisable as the same message.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub message_id: String,
}

pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl Mailer {
    /// `smtp://host:port`, `smtp://user:pass@host:port?tls=starttls` or `smtps://…`
    /// (contract 1.1; lettre calls STARTTLS `tls=required`).
    pub fn new(url: &str, from: &str) -> Result<Self, String> {
        let url = url.replace("tls=starttls", "tls=required");
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&url)
            .map_err(|e| format!("AGHUB_SMTP_URL: {e}"))?
            .timeout(Some(std::time::Duration::from_secs(20)))
            .build();
        let from = from
            .parse()
            .map_err(|e| format!("AGHUB_MAIL_FROM '{from}': {e}"))?;
        Ok(Self { transport, from })
    }

    pub async fn send(&self, mail: &Mail) -> Result<(), SendError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| SendError::permanent(format!("address {}: {e}", mail.to)))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(&mail.subject)
            .message_id(Some(mail.message_id.clone()))
            .multipart(
                MultiPart::alternative()
                    .singlepart(
                        SinglePart::builder()
                            .header(header::ContentType::TEXT_PLAIN)
                            .body(mail.text.clone()),
                    )
                    .singlepart(
                        SinglePart::builder()
                            .header(header::ContentType::TEXT_HTML)
                            .body(mail.html.clone()),
                    ),
            )
            .map_err(|e| SendError::permanent(format!("building the message: {e}")))?;
        match self.transport.send(message).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_permanent() => Err(SendError::permanent(format!("SMTP: {e}"))),
            Err(e) => Err(SendError::transient(format!("SMTP: {e}"))),
        }
    }
}
