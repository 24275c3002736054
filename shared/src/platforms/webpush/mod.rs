//! Webpush: settings and chat ids are validated and stored; this version does not send or
//! receive on it yet (every send fails permanently, saying so). Source: RFC 8030.

pub mod settings;

use super::config::{Channel, ChannelSettings};
use super::{Answer, ApiCall, Context, Platform, SendOutcome, Sender};
use crate::domain::{ChannelKind, Valid, parse_json};
use crate::text::message::Message;
use serde_json::Value;

/// The Webpush platform.
pub struct Webpush;

impl Platform for Webpush {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Webpush
    }

    fn parse_settings(&self, value: Value) -> Valid<ChannelSettings> {
        let s: settings::WebpushSettings = parse_json(value)?;
        s.validate()?;
        Ok(ChannelSettings::Webpush(s))
    }

    fn chat_problem(&self, id: &str) -> Option<&'static str> {
        settings::chat_problem(id)
    }

    /// Web Push sends to each subscription's own endpoint, never to a configured host.
    fn destination_fields(&self) -> &'static [&'static str] {
        &[]
    }

    fn url_fields(&self) -> &'static [(&'static str, bool)] {
        &[]
    }
}

#[async_trait::async_trait]
impl Sender for Webpush {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Webpush
    }

    fn sends(&self) -> bool {
        false
    }

    fn render(&self, _channel: &Channel, _recipient: &str, _message: &Message) -> Vec<ApiCall> {
        Vec::new()
    }

    async fn call(&self, _ctx: &Context<'_>, channel: &Channel, _call: &ApiCall) -> Answer {
        SendOutcome::permanent(format!("sending on {} is not available in this version", channel.kind())).into()
    }
}
