//! Discord settings: what a channel config of this kind holds, and its chat ids.

use crate::domain::secret::Secret;
use crate::domain::{Invalid, Valid};
use crate::domain::{list_or_csv, opt_string_or_number};
use crate::platforms::chat_id::ChatId;
use crate::platforms::config::{chars_in, check_api_base, is_u64, required};
use serde::{Deserialize, Serialize};

/// Where the API is unless `api_base` says otherwise (a proxy, a test double).
pub const DEFAULT_API: &str = "https://discord.com/api/v10";

/// One Discord application and its bot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct DiscordSettings {
    /// The bot's token ("Bot" page of the developer portal), sent as `Authorization: Bot …`.
    pub bot_token: Secret,
    /// The application id ("General Information"): needed to register the slash commands and to
    /// answer interactions after the first response.
    #[serde(default, deserialize_with = "opt_string_or_number", skip_serializing_if = "Option::is_none")]
    pub application_id: Option<String>,
    /// The application's public key (64 hex digits, "General Information"): every interaction
    /// is checked with it (Ed25519). Without it the config only sends, and the endpoint answers 401.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// Default channel: gets `all`- and `admin`-scope notifications.
    #[serde(default, deserialize_with = "opt_string_or_number", skip_serializing_if = "Option::is_none")]
    pub channel_id: Option<String>,
    /// A server (guild) id: the slash commands are registered there (at once) rather than
    /// globally.
    #[serde(default, deserialize_with = "opt_string_or_number", skip_serializing_if = "Option::is_none")]
    pub guild_id: Option<String>,
    /// Only these Discord user ids may talk to the bot (empty: everyone).
    #[serde(default, deserialize_with = "list_or_csv")]
    pub user_whitelist: Vec<String>,
    /// These Discord user ids are admins on this config, bound or not.
    #[serde(default, deserialize_with = "list_or_csv")]
    pub admin_whitelist: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
}

impl DiscordSettings {
    /// Checks every field; errors name the field (without `settings.`).
    pub fn validate(&self) -> Valid {
        required("bot_token", &self.bot_token)?;
        let token = self.bot_token.expose();
        if token.len() > 256 || !chars_in(token, |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            return Err(Invalid::new("bot_token", "is not a Discord bot token (from the Bot page of the developer portal)"));
        }
        if let Some(k) = &self.public_key
            && (k.len() != 64 || hex::decode(k).is_err())
        {
            return Err(Invalid::new("public_key", "must be the application's 64-hex-digit public key"));
        }
        for (field, v) in [("application_id", &self.application_id), ("channel_id", &self.channel_id), ("guild_id", &self.guild_id)] {
            if let Some(id) = v {
                ChatId::check(field, chat_problem(id))?;
            }
        }
        for (field, list) in [("user_whitelist", &self.user_whitelist), ("admin_whitelist", &self.admin_whitelist)] {
            if list.iter().any(|id| chat_problem(id).is_some()) {
                return Err(Invalid::new(field, "must list Discord user ids (numeric snowflakes)"));
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
