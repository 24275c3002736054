//! Slack: settings and chat ids are validated and stored; this version does not send or
//! receive on it yet (every send fails permanently, saying so). Source: https://api.slack.com/messaging/sending.

pub mod settings;

use super::config::{Channel, ChannelSettings};
use super::{Answer, ApiCall, Context, Platform, SendOutcome, Sender, SharedLimit};
use crate::domain::{ChannelKind, Valid, parse_json};
use crate::text::message::Message;
use serde_json::Value;

/// The Slack platform.
pub struct Slack;

impl Platform for Slack {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Slack
    }

    fn parse_settings(&self, value: Value) -> Valid<ChannelSettings> {
        let s: settings::SlackSettings = parse_json(value)?;
        s.validate()?;
        Ok(ChannelSettings::Slack(s))
    }

    fn chat_problem(&self, id: &str) -> Option<&'static str> {
        settings::chat_problem(id)
    }
}

#[async_trait::async_trait]
impl Sender for Slack {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Slack
    }

    fn limits(&self, channel: &str, recipient: &str) -> Vec<SharedLimit> {
        vec![SharedLimit::new(format!("sl:{channel}:{recipient}"), 1, 1000)]
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
