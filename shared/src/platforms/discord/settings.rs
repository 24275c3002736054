//! Discord settings: what a channel config of this kind holds, and its chat ids.

use crate::domain::opt_string_or_number;
use crate::domain::secret::Secret;
use crate::domain::{Invalid, Valid};
use crate::platforms::config::{check_api_base, is_u64, required};
use serde::{Deserialize, Serialize};

/// Where the API is unless `api_base` says otherwise (a proxy, a test double).
pub const DEFAULT_API: &str = "https://discord.com/api/v10";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct DiscordSettings {
    pub bot_token: Secret,
    #[serde(default, deserialize_with = "opt_string_or_number", skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    #[serde(default, deserialize_with = "opt_string_or_number", skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
}

impl DiscordSettings {
    /// Checks every field; errors name the field (without `settings.`).
    pub fn validate(&self) -> Valid {
        required("bot_token", &self.bot_token)?;
        if let Some(k) = &self.public_key
            && (k.len() != 64 || hex::decode(k).is_err())
        {
            return Err(Invalid::new("public_key", "must be the application's 64-hex-digit public key"));
        }
        for (field, v) in [("application_id", &self.application_id), ("channel_id", &self.channel_id)] {
            if v.as_ref().is_some_and(|id| id.parse::<u64>().is_err()) {
                return Err(Invalid::new(field, "must be a numeric snowflake"));
            }
        }
        check_api_base(&self.api_base)
    }
}

/// Why `id` is not one chat id here, if it is not. Accepted: a numeric snowflake (a channel or a user).
pub fn chat_problem(id: &str) -> Option<&'static str> {
    let ok = is_u64(id);
    (!ok).then_some("must be a numeric Discord snowflake")
}
