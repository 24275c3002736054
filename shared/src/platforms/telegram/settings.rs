//! Telegram settings: what a channel config of this kind holds, and its chat ids.

use crate::domain::secret::Secret;
use crate::domain::{Invalid, Valid};
use crate::domain::{check_type, list_or_csv, opt_string_or_number};
use crate::platforms::chat_id::ChatId;
use crate::platforms::config::{chars_in, check_api_base, is_base64url, is_i64, required};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where the API is unless `api_base` says otherwise (a proxy, a test double).
pub const DEFAULT_API: &str = "https://api.telegram.org";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct TelegramSettings {
    pub bot_token: Secret,
    /// Default group or chat: gets `all`- and `admin`-scope notifications.
    #[serde(default, deserialize_with = "opt_string_or_number", skip_serializing_if = "Option::is_none")]
    pub chat_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_username: Option<String>,
    #[serde(default, deserialize_with = "list_or_csv")]
    pub user_whitelist: Vec<String>,
    #[serde(default, deserialize_with = "list_or_csv")]
    pub admin_whitelist: Vec<String>,
    #[serde(default)]
    pub group_quiet: bool,
    #[serde(default)]
    pub group_bound_only: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
    /// Forum topic (`message_thread_id`) per notification type, in the default group.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub topics: BTreeMap<String, i64>,
    /// The `secret_token` Herald registered with `setWebhook`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<Secret>,
}

impl TelegramSettings {
    /// Checks every field; errors name the field (without `settings.`).
    pub fn validate(&self) -> Valid {
        required("bot_token", &self.bot_token)?;
        let token = self.bot_token.expose();
        let ok = token
            .split_once(':')
            .is_some_and(|(id, rest)| !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) && rest.len() >= 20 && is_base64url(rest));
        if !ok {
            return Err(Invalid::new("bot_token", "is not a Telegram bot token (digits:secret, from @BotFather)"));
        }
        if let Some(c) = &self.chat_id {
            ChatId::check("chat_id", chat_problem(c))?;
        }
        for (field, list) in [("user_whitelist", &self.user_whitelist), ("admin_whitelist", &self.admin_whitelist)] {
            if list.iter().any(|id| !is_i64(id)) {
                return Err(Invalid::new(field, "must list numeric Telegram user ids, as Telegram writes them (no leading zero)"));
            }
        }
        if let Some(u) = &self.bot_username
            && !is_bot_username(u)
        {
            return Err(Invalid::new("bot_username", "must be a bot's username: 5 to 32 of A-Z a-z 0-9 _ (an @ before it is fine)"));
        }
        if let Some(s) = &self.webhook_secret
            && (s.is_empty() || s.expose().len() > 256 || !is_base64url(s.expose()))
        {
            return Err(Invalid::new("webhook_secret", "must be 1 to 256 characters of A-Z a-z 0-9 _ -"));
        }
        for ty in self.topics.keys() {
            check_type(&format!("topics.{ty}"), ty)?;
        }
        check_api_base(&self.api_base)
    }
}

/// Whether `u` is a Telegram username (5-32 of `A-Z a-z 0-9 _`, an `@` before it allowed):
/// what a deep link `https://t.me/NAME?start=CODE` may carry.
pub fn is_bot_username(u: &str) -> bool {
    let u = u.strip_prefix('@').unwrap_or(u);
    (5..=32).contains(&u.len()) && u.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Why `id` is not one chat id here, if it is not. Accepted: a signed 64-bit integer (`123`, `-1001234567890`) or a public `@channel` username (5-32 of `A-Z a-z 0-9 _`, starting with a letter).
pub fn chat_problem(id: &str) -> Option<&'static str> {
    // As Telegram writes it: no `+`, no leading zero, no `-0` (another key to Herald, one chat).
    let ok = is_i64(id)
        || id.strip_prefix('@').is_some_and(|u| {
            (5..=32).contains(&u.len()) && u.starts_with(|c: char| c.is_ascii_alphabetic()) && chars_in(u, |c| c.is_ascii_alphanumeric() || c == '_')
        });
    (!ok).then_some("must be a Telegram chat id as Telegram writes it (an integer, no + or leading zero) or an @channel username")
}
