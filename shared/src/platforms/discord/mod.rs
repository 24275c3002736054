//! Discord: settings and chat ids are validated and stored; this version does not send or
//! receive on it yet (every send fails permanently, saying so). Source: https://discord.com/developers/docs/topics/rate-limits.

pub mod settings;

use super::config::{Channel, ChannelSettings};
use super::{Answer, ApiCall, Context, Platform, SendOutcome, Sender, SharedLimit};
use crate::domain::{ChannelKind, Valid, parse_json};
use crate::text::message::Message;
use serde_json::Value;

/// The Discord platform.
pub struct Discord;

impl Platform for Discord {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Discord
    }

    fn parse_settings(&self, value: Value) -> Valid<ChannelSettings> {
        let s: settings::DiscordSettings = parse_json(value)?;
        s.validate()?;
        Ok(ChannelSettings::Discord(s))
    }

    fn chat_problem(&self, id: &str) -> Option<&'static str> {
        settings::chat_problem(id)
    }
}

#[async_trait::async_trait]
impl Sender for Discord {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Discord
    }

    fn limits(&self, channel: &str, recipient: &str) -> Vec<SharedLimit> {
        vec![SharedLimit::new(format!("dc:{channel}"), 50, 1000), SharedLimit::new(format!("dcc:{channel}:{recipient}"), 5, 5000)]
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
