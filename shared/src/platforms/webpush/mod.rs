//! Webpush: settings and chat ids are validated and stored; this version does not send or
//! receive on it yet: its sending face is [`super::Unsent`] (every send fails permanently,
//! saying so). Source: RFC 8030.

pub mod settings;

use super::Platform;
use super::config::ChannelSettings;
use crate::domain::{ChannelKind, Valid, parse_json};
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
