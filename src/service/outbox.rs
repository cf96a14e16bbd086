//! Delivering the outbox: emails and webhook calls, at least once, with retries and backoff,
//! from any number of instances. A worker leases due rows, delivers them, and records the
//! result; a row leased by an instance that died is taken again when its lease runs out.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;

use super::{Actor, AppState, ServiceError, ServiceResult};
use crate::db::{self, outbox::Delivery};
use crate::domain::notifications::{retry_delay_ms, About, Channel, Event, MAX_ATTEMPTS};
use crate::outbound::mail::{Mail, Mailer};
use crate::outbound::text::{LogFile, Text, TextSender};
use crate::outbound::webhook::{self, Call, WebhookClient};
use crate::outbound::SendError;

/// How aghub reaches other systems; built once from the settings.
pub struct Outbound {
    pub mailer: Option<Mailer>,
    pub texts: Option<Box<dyn TextSender>>,
    pub webhooks: WebhookClient,
}

impl Outbound {
    pub fn from_settings(settings: &crate::config::Settings) -> anyhow::Result<Self> {
        let mailer = match &settings.smtp_url {
            Some(url) => Some(Mailer::new(url, &settings.mail_from).map_err(anyhow::Error::msg)?),
            None => None,
        };
        let texts = settings
            .sms_log
            .clone()
            .map(|path| Box::new(LogFile::new(path)) as Box<dyn TextSender>);
        Ok(Self {
            mailer,
            texts,
            webhooks: WebhookClient::new(settings.webhook_allow_http),
        })
    }
}

/// A delivery's lease: longer than the slowest attempt (SMTP and webhook timeouts are 20 s).
const LEASE_MS: i64 = 120_000;
/// Rows leased at once, and delivered at once from one lease.
const BATCH: i64 = 100;
const IN_FLIGHT: usize = 16;

/// What one round of deliveries did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    pub delivered: usize,
    pub failed: usize,
    pub dead: usize,
}

/// Delivers everything due now, batch after batch, until nothing due is left. Tests call this
/// directly; the worker calls it when woken.
pub async fn run_pending(state: &AppState) -> ServiceResult<Round> {
    let mut total = Round::default();
    loop {
        let now = state.now_ms();
        let batch = db::outbox::lease_due(&state.db, now, now + LEASE_MS, BATCH).await?;
        if batch.is_empty() {
            return Ok(total);
        }
        let round = deliver_batch(state, batch).await?;
        total.delivered += round.delivered;
        total.failed += round.failed;
        total.dead += round.dead;
        if round.delivered == 0 && round.failed + round.dead > 0 {
            // Everything failed (a receiver is down): leave the rest for their backoff.
            return Ok(total);
        }
    }
}

/// One email per recipient's digest, one per other row, each webhook call on its own.
async fn deliver_batch(state: &AppState, batch: Vec<Delivery>) -> ServiceResult<Round> {
    let mut groups: Vec<Vec<Delivery>> = Vec::new();
    let mut digests: BTreeMap<String, Vec<Delivery>> = BTreeMap::new();
    for d in batch {
        if d.digest && d.channel == Channel::Email {
            digests.entry(d.recipient.clone()).or_default().push(d);
        } else {
            groups.push(vec![d]);
        }
    }
    groups.extend(digests.into_values());
    let sent: Vec<(Vec<Delivery>, Result<(), SendError>)> = futures::stream::iter(groups)
        .map(|group| async move {
            let first = &group[0];
            let result = match first.channel {
                Channel::Email => send_email(state, &group).await,
                Channel::Webhook => call_webhook(state, first).await,
                Channel::Text => send_text(state, first).await,
            };
            (group, result)
        })
        .buffer_unordered(IN_FLIGHT)
        .collect()
        .await;
    record(state, &sent).await
}

/// Records a batch's results in one transaction: one commit per batch, not two per delivery.
async fn record(
    state: &AppState,
    sent: &[(Vec<Delivery>, Result<(), SendError>)],
) -> ServiceResult<Round> {
    let now = state.now_ms();
    let mut round = Round::default();
    let mut tx = state.db.begin().await?;
    for (group, result) in sent {
        for d in group {
            match result {
                Ok(()) => {
                    db::outbox::delivered(&mut *tx, &d.id, now).await?;
                    db::audit::record(
                        &mut *tx,
                        db::audit::Event {
                            action: "outbox.delivered",
                            case_id: d.about.case_id(),
                            subject_id: Some(&d.id),
                            detail: Some(json!({
                                "call_id": d.about.call_id(),
                                "channel": d.channel.as_str(),
                                "kind": d.kind.as_str(),
                                "recipient": d.recipient,
                                "attempts": d.attempts,
                            })),
                            ..Default::default()
                        },
                        now,
                    )
                    .await?;
                    round.delivered += 1;
                }
                Err(e) => {
                    let retry = (!e.permanent && d.attempts < MAX_ATTEMPTS)
                        .then(|| now + retry_delay_ms(d.attempts));
                    tracing::warn!(delivery = %d.id, channel = d.channel.as_str(), attempts = d.attempts,
                        error = %e.message, dead = retry.is_none(), "delivery failed");
                    db::outbox::failed(&mut *tx, &d.id, &e.message, retry).await?;
                    if retry.is_some() {
                        round.failed += 1;
                    } else {
                        round.dead += 1;
                    }
                }
            }
        }
    }
    tx.commit().await?;
    Ok(round)
}

/// The email for one delivery, or a digest of several: what happened and a link that needs
/// sign-in. Never the patient's NHS number, name, date of birth or any clinical text.
async fn send_email(state: &AppState, group: &[Delivery]) -> Result<(), SendError> {
    let Some(mailer) = &state.outbound.mailer else {
        return Err(SendError::transient(
            "email is not configured (AGHUB_SMTP_URL)",
        ));
    };
    let first = &group[0];
    if first.kind == Event::PhotoLink {
        return mailer.send(&photo_link_mail(state, first)).await;
    }
    let to = db::notifications::email_of(&state.db, &first.recipient)
        .await
        .map_err(|e| SendError::transient(format!("database: {e}")))?
        .ok_or_else(|| SendError::permanent("the account is disabled or gone"))?;
    let items: Vec<(String, String, &str)> = group
        .iter()
        .map(|d| {
            let specialty = d.payload["specialty"].as_str().unwrap_or("a specialty");
            let link = format!("{}{}", state.settings.public_url(), d.about.path());
            let what = match d.about {
                About::Case(_) => "case",
                About::Call(_) => "call",
            };
            (d.kind.headline(specialty), link, what)
        })
        .collect();
    let settings_link = format!("{}/notifications/settings", state.settings.public_url());
    let (subject, intro) = if first.digest {
        (
            format!("aghub daily summary: {} updates", items.len()),
            "Here is what happened in your queues since yesterday's summary.".to_string(),
        )
    } else {
        (items[0].0.clone(), String::new())
    };
    let mut text = String::new();
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><body style=\"font-family: Arial, sans-serif\">",
    );
    if !intro.is_empty() {
        text.push_str(&format!("{intro}\n\n"));
        html.push_str(&format!("<p>{}</p>", escape(&intro)));
    }
    html.push_str("<ul>");
    for (headline, link, what) in &items {
        text.push_str(&format!(
            "{headline}.\nSign in to see the {what}: {link}\n\n"
        ));
        html.push_str(&format!(
            "<li><p>{}.</p><p><a href=\"{}\">Sign in to see the {what}</a></p></li>",
            escape(headline),
            escape(link)
        ));
    }
    html.push_str("</ul>");
    text.push_str(&format!(
        "You get this email because of your aghub notification settings: {settings_link}\n"
    ));
    html.push_str(&format!(
        "<p>You get this email because of your <a href=\"{}\">aghub notification settings</a>.</p></body></html>",
        escape(&settings_link)
    ));
    mailer
        .send(&Mail {
            to,
            subject,
            text,
            html,
            message_id: message_id(state, &first.id),
        })
        .await
}

/// The patient's link by text message: as short as the email, nothing about the case.
async fn send_text(state: &AppState, d: &Delivery) -> Result<(), SendError> {
    let Some(texts) = &state.outbound.texts else {
        return Err(SendError::transient(
            "text messages are not configured (AGHUB_SMS_LOG)",
        ));
    };
    let (practice, url, until) = photo_link_parts(d);
    texts
        .send(&Text {
            to: d.recipient.clone(),
            body: format!(
                "{practice} asks you to send photos of your skin problem for a specialist. \
                 Open {url} on your phone (until {until}); it asks your date of birth."
            ),
            id: d.id.clone(),
        })
        .await
}

fn photo_link_parts(d: &Delivery) -> (&str, &str, &str) {
    (
        d.payload["practice"].as_str().unwrap_or("Your GP surgery"),
        d.payload["url"].as_str().unwrap_or_default(),
        d.payload["until"].as_str().unwrap_or_default(),
    )
}

/// The patient's link to send their photos, to the address the GP gave: the practice's name
/// and the link, nothing about the case.
fn photo_link_mail(state: &AppState, d: &Delivery) -> Mail {
    let (practice, url, until) = photo_link_parts(d);
    let text = format!(
        "{practice} asks you to send photos of your skin problem for a specialist to look at.\n\n\
         Open this link on your phone: {url}\n\n\
         It works until {until}. You will be asked for your date of birth. \
         If you were not expecting this, ignore this email.\n"
    );
    let html = format!(
        "<!doctype html><html lang=\"en\"><body style=\"font-family: Arial, sans-serif\">\
         <p>{} asks you to send photos of your skin problem for a specialist to look at.</p>\
         <p><a href=\"{}\">Open this link on your phone to take the photos</a></p>\
         <p>It works until {}. You will be asked for your date of birth. If you were not \
         expecting this, ignore this email.</p></body></html>",
        escape(practice),
        escape(url),
        escape(until)
    );
    Mail {
        to: d.recipient.clone(),
        subject: format!("{practice} asks you for photos"),
        text,
        html,
        message_id: message_id(state, &d.id),
    }
}

fn message_id(state: &AppState, id: &str) -> String {
    let host = reqwest::Url::parse(&state.settings.public_url())
        .ok()
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| "aghub.localhost".into());
    format!("<{id}@{host}>")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The webhook body (contract 1.1): the event, its case and where to fetch the rest. The
/// receiver fetches the FHIR bundle and letter with its own credentials.
pub fn webhook_body(state: &AppState, d: &Delivery) -> serde_json::Value {
    let base = state.settings.public_url();
    // Only events about cases go to webhooks (`Event::webhook_type`).
    let case = d.about.case_id().unwrap_or_default();
    json!({
        "id": d.id,
        "type": d.kind.webhook_type(),
        "created_at": crate::clock::rfc3339(d.created_at_ms),
        "practice": d.payload["practice"],
        "case": {
            "id": case,
            "href": format!("{base}/api/v1/cases/{case}"),
            "fhir": format!("{base}/api/v1/cases/{case}/fhir"),
            "letter": format!("{base}/api/v1/cases/{case}/letter.pdf"),
            "page": format!("{base}/cases/{case}"),
        },
    })
}

async fn call_webhook(state: &AppState, d: &Delivery) -> Result<(), SendError> {
    let hook = db::outbox::webhook(&state.db, &d.recipient)
        .await
        .map_err(|e| SendError::transient(format!("database: {e}")))?
        .ok_or_else(|| SendError::permanent("the webhook was removed"))?;
    let body = webhook_body(state, d).to_string();
    state
        .outbound
        .webhooks
        .post(&Call {
            url: &hook.url,
            secret: &hook.secret,
            event_type: d.kind.webhook_type().unwrap_or("case.updated"),
            delivery_id: &d.id,
            body: body.as_bytes(),
            now_s: state.now_ms().div_euclid(1000),
        })
        .await
}

/// How often a worker looks for due work when nothing wakes it, and for time-driven events.
const POLL: Duration = Duration::from_secs(2);
const NOTICE_EVERY: Duration = Duration::from_secs(30);

/// The background worker of one instance: delivers when woken by a commit here, or on a poll
/// (another instance's commits, retries coming due), and looks for time-driven events.
pub async fn worker(state: AppState) {
    let mut last_notice: Option<std::time::Instant> = None;
    loop {
        if last_notice.is_none_or(|t| t.elapsed() >= NOTICE_EVERY) {
            last_notice = Some(std::time::Instant::now());
            if let Err(e) = super::notify::notice_timed_events(&state).await {
                tracing::warn!(error = %e, "could not look for escalated and overdue cases");
            }
        }
        if let Err(e) = run_pending(&state).await {
            tracing::warn!(error = %e, "outbox round failed");
        }
        let wake = state.outbox_wake.notified();
        let _ = tokio::time::timeout(POLL, wake).await;
    }
}

/// The outbox for admins: counts, and the deliveries that are failing or dead.
pub async fn overview(
    state: &AppState,
) -> ServiceResult<(db::outbox::Counts, Vec<db::outbox::Listed>)> {
    Ok((
        db::outbox::counts(&state.db).await?,
        db::outbox::troubled(&state.db, 200).await?,
    ))
}

/// Puts dead deliveries back in the queue (one, or all); audited.
pub async fn retry(state: &AppState, actor: Actor<'_>, id: Option<&str>) -> ServiceResult<u64> {
    let now = state.now_ms();
    let mut tx = state.db.begin().await?;
    let n = db::outbox::retry_dead(&mut tx, id, now).await?;
    if id.is_some() && n == 0 {
        return Err(ServiceError::NotFound(
            "There is no dead delivery with this id.".into(),
        ));
    }
    super::record_change(
        &mut tx,
        actor,
        "outbox.retried",
        id.unwrap_or("all"),
        json!({ "deliveries": n }),
        now,
    )
    .await?;
    tx.commit().await?;
    state.outbox_wake.notify_waiters();
    Ok(n)
}

/// Registers a GP system's webhook for a practice (contract 1.1, `aghub webhook add`) and
/// returns its id and signing secret, shown once.
pub async fn add_webhook(
    db: &db::Db,
    settings: &crate::config::Settings,
    actor: Actor<'_>,
    practice_ods: &str,
    url: &str,
    now_ms: i64,
) -> ServiceResult<(String, String)> {
    let invalid = |field, code, message: String| {
        ServiceError::Invalid(vec![super::FieldError {
            field,
            code,
            message,
        }])
    };
    let url = webhook::check_url(url, settings.webhook_allow_http)
        .map_err(|m| invalid("url", "invalid_url", m))?;
    let ods = crate::domain::parse_ods_code(practice_ods)
        .map_err(|m| invalid("practice", "invalid_ods_code", m))?;
    let practice = db::practices::find_by_ods(db, &ods).await?.ok_or_else(|| {
        invalid(
            "practice",
            "unknown_practice",
            format!("No practice has ODS code {ods}."),
        )
    })?;
    let secret = format!("whsec_{}", hex::encode(rand::random::<[u8; 32]>()));
    let mut tx = db.begin().await?;
    let id =
        db::outbox::insert_webhook(&mut tx, &practice.id, url.as_str(), &secret, now_ms).await?;
    super::record_change(
        &mut tx,
        actor,
        "webhook.added",
        &id,
        json!({ "practice": ods, "url": url.as_str() }),
        now_ms,
    )
    .await?;
    tx.commit().await?;
    Ok((id, secret))
}

/// Forgets deliveries made more than 30 days ago; their audit rows stay.
pub async fn sweep(state: &AppState) -> ServiceResult<u64> {
    Ok(db::outbox::sweep_delivered(&state.db, state.now_ms() - 30 * 86_400_000).await?)
}

/// Shared with the worker: woken after each commit that wrote outbox rows here.
pub type Wake = Arc<tokio::sync::Notify>;
