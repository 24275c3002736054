//! VoceChat settings: what a channel config of this kind holds, and its chat ids.

use crate::domain::secret::Secret;
use crate::domain::{Invalid, Valid};
use crate::domain::{check_url, opt_string_or_number};
use crate::platforms::config::{is_u64, required};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct VocechatSettings {
    pub server_url: String,
    pub api_key: Secret,
    #[serde(default, deserialize_with = "opt_string_or_number", skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// The secret in the bot's webhook URL (`?token=`); VoceChat signs nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<Secret>,
}

impl VocechatSettings {
    /// Checks every field; errors name the field (without `settings.`).
    pub fn validate(&self) -> Valid {
        check_url("server_url", &self.server_url)?;
        required("api_key", &self.api_key)?;
        if self.group_id.as_ref().is_some_and(|g| g.parse::<u64>().is_err()) {
            return Err(Invalid::new("group_id", "must be a numeric group id"));
        }
        Ok(())
    }
}

/// Why `id` is not one chat id here, if it is not. Accepted: a numeric user id, or `group:N`.
pub fn chat_problem(id: &str) -> Option<&'static str> {
    let ok = is_u64(id) || id.strip_prefix("group:").is_some_and(is_u64);
    (!ok).then_some("must be a numeric VoceChat user id or group:N")
}
