//! Calls to GP systems' webhooks: a JSON body signed with the webhook's secret,
//! `X-Aghub-Signature: t=UNIX,v1=HEX(HMAC-SHA256(secret, t + "." + body))` (contract 1.1).

use std::time::Duration;

use hmac::{Hmac, Mac};
use reqwest::Url;
use sha2::Sha256;

use super::SendError;

/// The signature header's value for `body` sent at `t` (Unix seconds).
pub fn signature(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// A webhook address we may call: `https://` only, or `http://` to a loopback address when
/// `allow_http` (`AGHUB_WEBHOOK_ALLOW_HTTP`, for tests).
pub fn check_url(url: &str, allow_http: bool) -> Result<Url, String> {
    let parsed =
        Url::parse(url.trim()).map_err(|e| format!("'{}' is not a URL: {e}", url.trim()))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("a webhook URL may not carry a user name or password".into());
    }
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => return Err(format!("'{parsed}' has no host")),
    };
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if allow_http && loopback => Ok(parsed),
        "http" if loopback => Err(
            "http:// webhook URLs need AGHUB_WEBHOOK_ALLOW_HTTP=true, and only on loopback".into(),
        ),
        _ => Err(format!(
            "'{parsed}': webhook URLs must start with https:// (patient events leave aghub)"
        )),
    }
}

pub struct WebhookClient {
    http: reqwest::Client,
    allow_http: bool,
}

/// What a delivery says about itself in its headers.
pub struct Call<'a> {
    pub url: &'a str,
    pub secret: &'a str,
    pub event_type: &'a str,
    pub delivery_id: &'a str,
    pub body: &'a [u8],
    pub now_s: i64,
}

impl WebhookClient {
    pub fn new(allow_http: bool) -> Self {
        super::use_aws_lc_rs();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .connect_timeout(Duration::from_secs(5))
            // A redirect could take the signed body somewhere the practice never registered.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("aghub/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a rustls client builds");
        Self { http, allow_http }
    }

    pub async fn post(&self, call: &Call<'_>) -> Result<(), SendError> {
        // Checked again at each call: the setting may have changed since the webhook was added.
        let url = check_url(call.url, self.allow_http).map_err(SendError::permanent)?;
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("x-aghub-event", call.event_type)
            .header("x-aghub-delivery", call.delivery_id)
            .header("idempotency-key", call.delivery_id)
            .header(
                "x-aghub-signature",
                signature(call.secret, call.now_s, call.body),
            )
            .body(call.body.to_vec())
            .send()
            .await
            .map_err(|e| SendError::transient(format!("webhook: {e}")))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(SendError::transient(format!("webhook answered {status}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_time_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac s3cret
        assert_eq!(
            signature("s3cret", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940"
        );
    }

    #[test]
    fn only_https_or_allowed_loopback_http() {
        assert!(check_url("https://gp.example.nhs.uk/hook", false).is_ok());
        assert!(check_url("http://gp.example.nhs.uk/hook", true).is_err());
        assert!(check_url("http://127.0.0.1:9000/hook", false).is_err());
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url("http://[::1]:9000/hook", true).is_ok());
        assert!(check_url("ftp://127.0.0.1/hook", true).is_err());
        assert!(check_url("https://user:pw@gp.example/hook", false).is_err());
        assert!(check_url("not a url", false).is_err());
    }
}
