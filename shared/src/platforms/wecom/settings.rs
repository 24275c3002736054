//! WeCom settings: what a channel config of this kind holds, and its chat ids.

use crate::domain::secret::Secret;
use crate::domain::{Invalid, Valid};
use crate::domain::{list_or_csv, string_or_number};
use crate::platforms::chat_id::ChatId;
use crate::platforms::config::{chars_in, check_api_base, is_u64, required};
use serde::{Deserialize, Serialize};

/// Where the API is unless `api_base` says otherwise (a proxy, a test double).
pub const DEFAULT_API: &str = "https://qyapi.weixin.qq.com";

/// Longest WeCom member id (`userid`, 1-64 characters).
pub const WECOM_USERID_MAX: usize = 64;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct WecomSettings {
    pub corp_id: String,
    #[serde(deserialize_with = "string_or_number")]
    pub agent_id: String,
    pub secret: Secret,
    /// Callback `Token` and `EncodingAESKey` (needed to receive messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding_aes_key: Option<Secret>,
    #[serde(default, deserialize_with = "list_or_csv")]
    pub admin_whitelist: Vec<String>,
    /// The proxy in front of `qyapi.weixin.qq.com` (MoviePilot's WECHAT_PROXY).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_base: Option<String>,
}

impl WecomSettings {
    /// Checks every field; errors name the field (without `settings.`).
    pub fn validate(&self) -> Valid {
        if self.corp_id.is_empty() {
            return Err(Invalid::new("corp_id", "is required"));
        }
        // As WeCom writes them (`ww` and 16 hex digits; `1000002`): one app, one account key
        // for its pacing (`Platform::account`).
        if self.corp_id.len() > 64 || !chars_in(&self.corp_id, |c| c.is_ascii_alphanumeric()) {
            return Err(Invalid::new("corp_id", "must be the CorpID: 1 to 64 of A-Z a-z 0-9"));
        }
        if !is_u64(&self.agent_id) || self.agent_id == "0" {
            return Err(Invalid::new("agent_id", "must be the numeric AgentId: a positive integer, no + or leading zero"));
        }
        required("secret", &self.secret)?;
        for (i, a) in self.admin_whitelist.iter().enumerate() {
            ChatId::check(&format!("admin_whitelist[{i}]"), chat_problem(a))?;
        }
        if let Some(k) = &self.encoding_aes_key
            && (k.expose().len() != 43 || !k.expose().chars().all(|c| c.is_ascii_alphanumeric()))
        {
            return Err(Invalid::new("encoding_aes_key", "must be the 43-character EncodingAESKey"));
        }
        if let Some(t) = &self.token {
            required("token", t)?;
        }
        if self.token.is_some() != self.encoding_aes_key.is_some() {
            return Err(Invalid::new(if self.token.is_some() { "encoding_aes_key" } else { "token" }, "token and encoding_aes_key go together"));
        }
        check_api_base(&self.api_base)
    }
}

/// Why `id` is not one chat id here, if it is not. Accepted: a member's `userid`: 1-64 of `A-Z a-z 0-9 _ . @ -`, never `@all` (the whole company).
pub fn chat_problem(id: &str) -> Option<&'static str> {
    if id.eq_ignore_ascii_case("@all") {
        return Some("must be one member's userid; @all (the whole company) is never accepted");
    }
    let ok = (1..=WECOM_USERID_MAX).contains(&id.len()) && chars_in(id, |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-'));
    (!ok).then_some("must be one member's userid: 1 to 64 of A-Z a-z 0-9 _ . @ - (no | lists, never @all)")
}

/// A WeCom `touser`: one member, or — only when Herald itself merged a notification's members
/// (`batch`) — up to [`WECOM_BATCH_MAX`] members joined with `|`, each a valid userid. Anything
/// else (an `@all`, a `|` list for one person) is refused with the reason.
pub fn wecom_touser(touser: &str, batch: bool) -> Result<(), String> {
    let members: Vec<&str> = if batch { touser.split('|').collect() } else { vec![touser] };
    if members.len() > WECOM_BATCH_MAX {
        return Err(format!("{} members in one message; WeCom takes at most {WECOM_BATCH_MAX}", members.len()));
    }
    for m in members {
        if let Some(why) = chat_problem(m) {
            let shown: String = m.chars().take(70).collect();
            return Err(format!("refused recipient {shown:?}: it {why}"));
        }
    }
    Ok(())
}

/// Most members one WeCom `message/send` may name (`touser=a|b|c`).
pub const WECOM_BATCH_MAX: usize = 1000;
