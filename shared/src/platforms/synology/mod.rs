//! Synology: settings and chat ids are validated and stored; this version does not send or
//! receive on it yet: its sending face is [`super::Unsent`] (every send fails permanently,
//! saying so). Source: https://kb.synology.com/en-global/DSM/help/Chat/chat_integration.

pub mod settings;

use super::Platform;
use super::config::ChannelSettings;
use crate::domain::{ChannelKind, Valid, parse_json};
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

    fn ids_per_config(&self) -> bool {
        true
    }

    fn destination_fields(&self) -> &'static [&'static str] {
        &["api_base", "incoming_url"]
    }
}
