//! Slack: settings and chat ids are validated and stored; this version does not send or
//! receive on it yet: its sending face is [`super::Unsent`] (every send fails permanently,
//! saying so). Source: https://api.slack.com/messaging/sending.

pub mod settings;

use super::Platform;
use super::config::ChannelSettings;
use crate::domain::{ChannelKind, Valid, parse_json};
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
