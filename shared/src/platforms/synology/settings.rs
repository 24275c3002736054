//! Synology Chat settings: what a channel config of this kind holds, and its chat ids.

use crate::domain::secret::Secret;
use crate::domain::{Invalid, Valid};
use crate::domain::{check_url, list_or_csv};
use crate::platforms::config::{check_api_base, is_u64};
use serde::{Deserialize, Serialize};

/// One Synology Chat server: a channel's incoming webhook, and / or a chat bot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct SynologySettings {
    /// The incoming-webhook URL of a channel (Integration → Incoming Webhooks); it holds the
    /// token, so it is a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incoming_url: Option<Secret>,
    /// The chat bot's token (Integration → Bots), for messages to users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<Secret>,
    /// The token Synology puts in every request of the bot (or of an outgoing webhook) to Herald:
    /// compared in constant time; without it the receiver refuses everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outgoing_token: Option<Secret>,
    /// The NAS, e.g. `https://nas.example.com:5001` (needed for bot messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
    /// Only these Synology Chat user ids may talk to the bot (empty: everyone).
    #[serde(default, deserialize_with = "list_or_csv")]
    pub user_whitelist: Vec<String>,
    /// These Synology Chat user ids are admins on this config, bound or not.
    #[serde(default, deserialize_with = "list_or_csv")]
    pub admin_whitelist: Vec<String>,
}

impl SynologySettings {
    /// Checks every field; errors name the field (without `settings.`).
    pub fn validate(&self) -> Valid {
        if let Some(u) = &self.incoming_url {
            check_url("incoming_url", u.expose())?;
        }
        if self.bot_token.is_some() && self.api_base.is_none() {
            return Err(Invalid::new("api_base", "is required with bot_token (the NAS address)"));
        }
        if self.incoming_url.is_none() && self.bot_token.is_none() {
            return Err(Invalid::new("incoming_url", "set incoming_url, or bot_token and api_base"));
        }
        for (field, secret) in [("bot_token", &self.bot_token), ("outgoing_token", &self.outgoing_token)] {
            if let Some(t) = secret
                && (!(16..=256).contains(&t.expose().len()) || t.expose().contains(['"', '&', '\n']))
            {
                return Err(Invalid::new(field, "must be the token Synology Chat shows (16 to 256 characters)"));
            }
        }
        for (field, list) in [("user_whitelist", &self.user_whitelist), ("admin_whitelist", &self.admin_whitelist)] {
            if list.iter().any(|id| !is_u64(id)) {
                return Err(Invalid::new(field, "must list numeric Synology Chat user ids (digits, no leading zero)"));
            }
        }
        check_api_base(&self.api_base)
    }
}

/// Why `id` is not one chat id here, if it is not. Accepted: a numeric user id, or `channel` (the incoming webhook's own channel).
pub fn chat_problem(id: &str) -> Option<&'static str> {
    let ok = id == "channel" || is_u64(id);
    (!ok).then_some("must be a numeric Synology Chat user id (digits, no leading zero) or channel")
}
