//! The generic JSON webhook: POSTs a JSON document to the configured URL, signed with
//! `X-Herald-Signature: sha256=<hex HMAC-SHA256 of the body>` when a secret is set.

pub mod settings;

use super::config::{Channel, ChannelSettings};
use super::{Answer, ApiCall, Context, Platform, SendOutcome, Sender, by_status, transport_error};
use crate::domain::{ChannelKind, Valid, parse_json};
use crate::text::message::Message;
use aws_lc_rs::hmac;
use serde_json::{Value, json};
pub use settings::WebhookSettings;

pub const SIGNATURE_HEADER: &str = "X-Herald-Signature";
pub const DELIVERY_HEADER: &str = "X-Herald-Delivery";

/// `sha256=<hex>` of `body` under `secret`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    format!("sha256={}", hex::encode(hmac::sign(&key, body).as_ref()))
}

/// The document a webhook receives. `recipient` is whom it is for: the person's `webhook` id
/// (`ids.webhook` in the user directory), or `url` for the channel's own default.
pub fn document(m: &Message, recipient: &str) -> Value {
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
}

/// The document as sent (the bytes the signature covers).
pub fn body(m: &Message, recipient: &str) -> Vec<u8> {
    document(m, recipient).to_string().into_bytes()
}

/// The generic JSON webhook.
pub struct Webhook;

impl Platform for Webhook {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Webhook
    }

    fn parse_settings(&self, value: Value) -> Valid<ChannelSettings> {
        let s: WebhookSettings = parse_json(value)?;
        s.validate()?;
        Ok(ChannelSettings::Webhook(s))
    }

    fn chat_problem(&self, id: &str) -> Option<&'static str> {
        settings::chat_problem(id)
    }

    fn destination_fields(&self) -> &'static [&'static str] {
        &["url"]
    }

    /// The URL often holds a token in its path or query: always shown as its host only.
    fn url_fields(&self) -> &'static [(&'static str, bool)] {
        &[("url", true)]
    }
}

#[async_trait::async_trait]
impl Sender for Webhook {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Webhook
    }

    fn render(&self, _channel: &Channel, recipient: &str, message: &Message) -> Vec<ApiCall> {
        vec![ApiCall::new(recipient, "POST", document(message, recipient))]
    }

    /// POSTs the document, signed when the config has a secret, with `X-Herald-Delivery` and
    /// the config's own headers; the HTTP status says what became of it.
    async fn call(&self, ctx: &Context<'_>, channel: &Channel, call: &ApiCall) -> Answer {
        let ChannelSettings::Webhook(s) = &channel.settings else { return SendOutcome::permanent("not a webhook channel").into() };
        let body = call.payload.to_string().into_bytes();
        let delivery = call.payload["delivery"].as_str().unwrap_or_default();
        let mut req = ctx.http.post(&s.url).header(http::header::CONTENT_TYPE, "application/json").header(DELIVERY_HEADER, delivery);
        if let Some(secret) = &s.secret {
            req = req.header(SIGNATURE_HEADER, signature(secret.expose(), &body));
        }
        for (name, value) in &s.headers {
            req = req.header(name.as_str(), value.expose());
        }
        match req.body(body).send().await {
            Ok(res) => {
                super::redirected(res.status(), res.headers(), Some(res.url())).unwrap_or_else(|| by_status(res.status(), res.headers())).into()
            }
            Err(e) => transport_error(e).into(),
        }
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
