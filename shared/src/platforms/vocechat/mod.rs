//! VoceChat: settings and chat ids are validated and stored; this version does not send or
//! receive on it yet (every send fails permanently, saying so). Source: https://doc.voce.chat/bot/bot-and-webhook.

pub mod settings;

use super::config::{Channel, ChannelSettings};
use super::{Answer, ApiCall, Context, Platform, SendOutcome, Sender, SharedLimit};
use crate::domain::{ChannelKind, Valid, parse_json};
use crate::text::message::Message;
use serde_json::Value;

/// The Vocechat platform.
pub struct Vocechat;

impl Platform for Vocechat {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Vocechat
    }

    fn parse_settings(&self, value: Value) -> Valid<ChannelSettings> {
        let s: settings::VocechatSettings = parse_json(value)?;
        s.validate()?;
        Ok(ChannelSettings::Vocechat(s))
    }

    fn chat_problem(&self, id: &str) -> Option<&'static str> {
        settings::chat_problem(id)
    }

    fn destination_fields(&self) -> &'static [&'static str] {
        &["server_url"]
    }

    fn url_fields(&self) -> &'static [(&'static str, bool)] {
        &[("server_url", false)]
    }
}

#[async_trait::async_trait]
impl Sender for Vocechat {
    fn kind(&self) -> ChannelKind {
        ChannelKind::Vocechat
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
