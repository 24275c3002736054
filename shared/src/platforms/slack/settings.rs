//! Slack settings: what a channel config of this kind holds, and its chat ids.

use crate::domain::secret::Secret;
use crate::domain::{Invalid, Valid};
use crate::platforms::chat_id::ChatId;
use crate::platforms::config::{chars_in, check_api_base, required};
use serde::{Deserialize, Serialize};

/// Where the API is unless `api_base` says otherwise (a proxy, a test double).
pub const DEFAULT_API: &str = "https://slack.com/api";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct SlackSettings {
    pub bot_token: Secret,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
}

impl SlackSettings {
    /// Checks every field; errors name the field (without `settings.`).
    pub fn validate(&self) -> Valid {
        required("bot_token", &self.bot_token)?;
        if !self.bot_token.expose().starts_with("xox") {
            return Err(Invalid::new("bot_token", "is not a Slack bot token (xoxb-...)"));
        }
        if let Some(c) = &self.channel {
            ChatId::check("channel", chat_problem(c))?;
        }
        check_api_base(&self.api_base)
    }
}

/// Why `id` is not one chat id here, if it is not. Accepted: a conversation or user id (`C…`, `G…`, `D…`, `U…`, `W…`; 2-32 of `A-Z 0-9`) or a `#channel` name (1-80 of `a-z 0-9 _ -`).
pub fn chat_problem(id: &str) -> Option<&'static str> {
    let ok = id
        .strip_prefix('#')
        .is_some_and(|n| (1..=80).contains(&n.len()) && chars_in(n, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-')))
        || ((2..=32).contains(&id.len())
            && id.starts_with(['C', 'G', 'D', 'U', 'W'])
            && chars_in(id, |c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    (!ok).then_some("must be a Slack conversation or user id (C…, U…) or a #channel name")
}
