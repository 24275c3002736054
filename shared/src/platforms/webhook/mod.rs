//! The generic JSON webhook: POSTs a JSON document to the configured URL, signed with
//! `X-Herald-Signature: sha256=<hex HMAC-SHA256 of the body>` when a secret is set.

use super::{SendOutcome, by_status, transport_error};
use crate::domain::message::Message;
use crate::platforms::config::WebhookSettings;
use aws_lc_rs::hmac;
use serde_json::json;

pub const SIGNATURE_HEADER: &str = "X-Herald-Signature";
pub const DELIVERY_HEADER: &str = "X-Herald-Delivery";

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", hex::encode(hmac::sign(&key, body).as_ref()))
}

/// The document a webhook receives. `recipient` is whom it is for: the person's `webhook` id
/// (`ids.webhook` in the user directory), or `url` for the channel's own default.
pub fn body(m: &Message, recipient: &str) -> Vec<u8> {
    json!({
        "id": m.notification,
        "delivery": m.delivery,
        "recipient": recipient,
        "type": m.ty,
        "title": m.title,
        "text": m.text,
        "format": m.format,
        "link": m.link,
        "image": m.image,
        "buttons": m.buttons,
        "created_at": m.created_at,
    })
    .to_string()
    .into_bytes()
}

pub async fn send(http: &reqwest::Client, s: &WebhookSettings, recipient: &str, m: &Message) -> SendOutcome {
    let body = body(m, recipient);
    let mut req = http.post(&s.url).header(http::header::CONTENT_TYPE, "application/json").header(DELIVERY_HEADER, &m.delivery);
    if let Some(secret) = &s.secret {
        req = req.header(SIGNATURE_HEADER, signature(secret.expose(), &body));
    }
    for (name, value) in &s.headers {
        req = req.header(name.as_str(), value.expose());
    }
    match req.body(body).send().await {
        Ok(res) => super::redirected(res.status(), res.headers(), Some(res.url())).unwrap_or_else(|| by_status(res.status(), res.headers())),
        Err(e) => transport_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_body_with_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(signature("Jefe", b"what do ya want for nothing?"), "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
}
