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
        if let Some(k) = &self.public_key {
            match hex::decode(k) {
                Ok(key) if key.len() == 32 && !small_order(&key) => {}
                _ => return Err(Invalid::new("public_key", "must be the application's 64-hex-digit public key")),
            }
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

/// Whether an Ed25519 public key is a point of small order (the identity, order 2, 4 or 8, in
/// any of their encodings), under which a forged signature verifies for any message: never a
/// key Discord gives. Those points have coordinates of all-zero or all-one bytes around a sign
/// bit, or are the two order-8 points (and their negations, the sign bit set).
fn small_order(key: &[u8]) -> bool {
    const ORDER_8: [&str; 2] =
        ["26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"];
    let mut unsigned = key.to_vec();
    if let Some(last) = unsigned.last_mut() {
        *last &= 0x7f;
    }
    let flat = unsigned[1..31].iter().all(|b| *b == 0) || unsigned[1..31].iter().all(|b| *b == 0xff);
    flat || ORDER_8.iter().any(|p| hex::decode(p).is_ok_and(|p| p == unsigned))
}

/// Why `id` is not one chat id here, if it is not. Accepted: a numeric snowflake (a channel or a user).
pub fn chat_problem(id: &str) -> Option<&'static str> {
    let ok = is_u64(id);
    (!ok).then_some("must be a numeric Discord snowflake (digits, no leading zero)")
}
