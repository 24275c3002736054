//! Slack settings: what a channel config of this kind holds, and its chat ids.

use crate::domain::list_or_csv;
use crate::domain::secret::Secret;
use crate::domain::{Invalid, Valid};
use crate::platforms::chat_id::ChatId;
use crate::platforms::config::{chars_in, check_api_base, required};
use serde::{Deserialize, Serialize};

/// Where the Web API is unless `api_base` says otherwise (a proxy, a test double).
pub const DEFAULT_API: &str = "https://slack.com/api";

/// One Slack app installed in one workspace.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct SlackSettings {
    /// The Bot User OAuth Token (`xoxb-…`, "OAuth & Permissions"), sent as `Authorization:
    /// Bearer` on every Web API call.
    pub bot_token: Secret,
    /// The app's Signing Secret ("Basic Information" → "App Credentials"): every request Slack
    /// sends to the receiver is checked with it (<https://api.slack.com/authentication/verifying-requests-from-slack>).
    /// Without it the app only sends, and the receiver refuses every request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<Secret>,
    /// Default conversation (`C…` or `#name`): gets `all`- and `admin`-scope notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// Only these Slack user ids (`U…`) may talk to the bot (empty: everyone in the workspace).
    #[serde(default, deserialize_with = "list_or_csv")]
    pub user_whitelist: Vec<String>,
    /// These Slack user ids are admins on this config, bound or not.
    #[serde(default, deserialize_with = "list_or_csv")]
    pub admin_whitelist: Vec<String>,
    /// The bot's own user id, learned from `auth.test` when the config is registered: events it
    /// wrote itself are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_user_id: Option<String>,
    /// The workspace (`T…`), learned with `bot_user_id`: events from any other are ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
}

impl SlackSettings {
    /// Checks every field; errors name the field (without `settings.`).
    pub fn validate(&self) -> Valid {
        required("bot_token", &self.bot_token)?;
        let token = self.bot_token.expose();
        if !token.starts_with("xox") || token.len() > 256 || !chars_in(token, |c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(Invalid::new("bot_token", "is not a Slack bot token (xoxb-…, from OAuth & Permissions)"));
        }
        if let Some(s) = &self.signing_secret
            && (!(16..=128).contains(&s.expose().len()) || !chars_in(s.expose(), |c| c.is_ascii_alphanumeric()))
        {
            return Err(Invalid::new("signing_secret", "must be the app's Signing Secret (16 to 128 letters and digits, from Basic Information)"));
        }
        if let Some(c) = &self.channel {
            ChatId::check("channel", chat_problem(c))?;
        }
        for (field, list) in [("user_whitelist", &self.user_whitelist), ("admin_whitelist", &self.admin_whitelist)] {
            if list.iter().any(|id| !is_user_id(id)) {
                return Err(Invalid::new(field, "must list Slack user ids (U… or W…)"));
            }
        }
        if let Some(id) = &self.bot_user_id
            && !is_user_id(id)
        {
            return Err(Invalid::new("bot_user_id", "must be a Slack user id (U…)"));
        }
        if let Some(t) = &self.team_id
            && !(t.starts_with(['T', 'E']) && is_id(t))
        {
            return Err(Invalid::new("team_id", "must be a Slack workspace id (T…)"));
        }
        check_api_base(&self.api_base)
    }
}

fn is_id(id: &str) -> bool {
    (2..=32).contains(&id.len()) && chars_in(id, |c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

/// Whether `id` is a Slack user id (`U…`, or `W…` on Enterprise Grid).
pub fn is_user_id(id: &str) -> bool {
    id.starts_with(['U', 'W']) && is_id(id)
}

/// Why `id` is not one chat id here, if it is not. Accepted: a conversation or user id (`C…`, `G…`, `D…`, `U…`, `W…`; 2-32 of `A-Z 0-9`) or a `#channel` name (1-80 of `a-z 0-9 _ -`).
pub fn chat_problem(id: &str) -> Option<&'static str> {
    let ok = id
        .strip_prefix('#')
        .is_some_and(|n| (1..=80).contains(&n.len()) && chars_in(n, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-')))
        || (id.starts_with(['C', 'G', 'D', 'U', 'W']) && is_id(id));
    (!ok).then_some("must be a Slack conversation or user id (C…, U…) or a #channel name")
}
