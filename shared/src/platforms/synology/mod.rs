//! Synology: settings and chat ids are validated and stored; this version does not send or
//! receive on it yet (every send fails permanently, saying so). Source: https://kb.synology.com/en-global/DSM/help/Chat/chat_integration.

pub mod settings;

use super::config::{Channel, ChannelSettings};
use super::{Answer, ApiCall, Context, Platform, SendOutcome, Sender, SharedLimit};
use crate::domain::{ChannelKind, Valid, parse_json};
use crate::text::message::Message;
use serde_json::Value;

/// The Synology platform.
pub struct Synology;

impl Platform for Synology {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Synology
    }

    fn parse_settings(&self, value: Value) -> Valid<ChannelSettings> {
        let s: settings::SynologySettings = parse_json(value)?;
        s.validate()?;
        Ok(ChannelSettings::Synology(s))
    }

    fn chat_problem(&self, id: &str) -> Option<&'static str> {
        settings::chat_problem(id)
    }

    fn destination_fields(&self) -> &'static [&'static str] {
        &["api_base", "incoming_url"]
    }
}

#[async_trait::async_trait]
impl Sender for Synology {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Synology
    }

    fn limits(&self, channel: &str, _recipient: &str) -> Vec<SharedLimit> {
        vec![SharedLimit::new(format!("ch:{channel}"), 5, 1000)]
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
