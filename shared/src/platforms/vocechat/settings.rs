//! VoceChat settings: what a channel config of this kind holds, and its chat ids.

use crate::domain::secret::Secret;
use crate::domain::{Invalid, Valid};
use crate::domain::{check_url, list_or_csv, opt_string_or_number};
use crate::platforms::config::{is_base64url, is_u64, required};
use serde::{Deserialize, Serialize};

/// One VoceChat server and its bot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct VocechatSettings {
    /// The server, e.g. `https://chat.example.com`.
    pub server_url: String,
    /// The bot's API key (Settings → Bot → the bot's key), sent as `x-api-key`.
    pub api_key: Secret,
    /// Default group: gets `all`- and `admin`-scope notifications.
    #[serde(default, deserialize_with = "opt_string_or_number", skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// The secret in the bot's webhook URL (`?token=`), 16 to 256 characters of `A-Z a-z 0-9 _ -`:
    /// VoceChat signs nothing, so this is what shows a request is the server's. Without it the
    /// receiver refuses everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<Secret>,
    /// The bot's own user id: messages it wrote are ignored.
    #[serde(default, deserialize_with = "opt_string_or_number", skip_serializing_if = "Option::is_none")]
    pub bot_uid: Option<String>,
    /// Only these VoceChat user ids may talk to the bot (empty: everyone).
    #[serde(default, deserialize_with = "list_or_csv")]
    pub user_whitelist: Vec<String>,
    /// These VoceChat user ids are admins on this config, bound or not.
    #[serde(default, deserialize_with = "list_or_csv")]
    pub admin_whitelist: Vec<String>,
}

impl VocechatSettings {
    /// Checks every field; errors name the field (without `settings.`).
    pub fn validate(&self) -> Valid {
        check_url("server_url", &self.server_url)?;
        if reqwest::Url::parse(&self.server_url).is_ok_and(|u| u.query().is_some() || u.fragment().is_some()) {
            return Err(Invalid::new("server_url", "must have no query or fragment"));
        }
        required("api_key", &self.api_key)?;
        for (field, v) in [("group_id", &self.group_id), ("bot_uid", &self.bot_uid)] {
            if v.as_ref().is_some_and(|g| !is_u64(g)) {
                return Err(Invalid::new(field, "must be a number"));
            }
        }
        if let Some(s) = &self.webhook_secret
            && !((16..=256).contains(&s.expose().len()) && is_base64url(s.expose()))
        {
            return Err(Invalid::new("webhook_secret", "must be 16 to 256 characters of A-Z a-z 0-9 _ -"));
        }
        for (field, list) in [("user_whitelist", &self.user_whitelist), ("admin_whitelist", &self.admin_whitelist)] {
            if list.iter().any(|id| !is_u64(id)) {
                return Err(Invalid::new(field, "must list numeric VoceChat user ids (digits, no leading zero)"));
            }
        }
        Ok(())
    }
}

/// Why `id` is not one chat id here, if it is not. Accepted: a numeric user id, or `group:N`.
pub fn chat_problem(id: &str) -> Option<&'static str> {
    let ok = is_u64(id) || id.strip_prefix("group:").is_some_and(is_u64);
    (!ok).then_some("must be a numeric VoceChat user id or group:N (digits, no leading zero)")
}
