//! Discord: settings and chat ids are validated and stored; this version does not send or
//! receive on it yet: its sending face is [`super::Unsent`] (every send fails permanently,
//! saying so). Source: https://discord.com/developers/docs/topics/rate-limits.

pub mod settings;

use super::Platform;
use super::config::ChannelSettings;
use crate::domain::{ChannelKind, Valid, parse_json};
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
