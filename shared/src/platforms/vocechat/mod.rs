//! VoceChat: settings and chat ids are validated and stored; this version does not send or
//! receive on it yet: its sending face is [`super::Unsent`] (every send fails permanently,
//! saying so). Source: https://doc.voce.chat/bot/bot-and-webhook.

pub mod settings;

use super::Platform;
use super::config::ChannelSettings;
use crate::domain::{ChannelKind, Valid, parse_json};
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

    fn ids_per_config(&self) -> bool {
        true
    }

    fn destination_fields(&self) -> &'static [&'static str] {
        &["server_url"]
    }

    fn url_fields(&self) -> &'static [(&'static str, bool)] {
        &[("server_url", false)]
    }
}
