//! Host-app commands: commands the host app declares (`PUT /api/v1/commands/{name}`), which the
//! bot lists beside its own on every platform and relays to the host when a person runs one
//! ([`crate::relay`]); the interaction each run is; and the reply the host answers with.

use super::chat::is_command;
use super::secret::Secret;
use super::{ChannelKind, Format, Invalid, Locale, Valid, check_len, check_url};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Most commands a deployment may declare: Telegram and Discord list at most 100, and the
/// built-in ones come first.
pub const MAX_COMMANDS: usize = 50;
/// Longest description: Discord's limit for a command's (Telegram allows 256).
pub const MAX_DESCRIPTION: usize = 100;
/// Shortest endpoint secret, as for the API token.
pub const MIN_SECRET: usize = 16;
/// How long an interaction takes a reply, in seconds: Discord's interaction token lives 15
/// minutes, Slack's `response_url` 30.
pub const REPLY_WINDOW_SECS: i64 = 15 * 60;

/// Why `name` cannot be a command name, if it cannot: 1 to 32 of `a-z 0-9 _`, starting with a
/// letter (what Telegram's `BotCommand.command` and Discord's `CHAT_INPUT` names both accept),
/// and not one of the bot's own commands.
pub fn name_problem(name: &str) -> Option<&'static str> {
    let ok = (1..=32).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        Some("must be 1 to 32 of a-z, 0-9 and _, starting with a letter")
    } else if is_command(name) {
        Some("is one of the bot's own commands")
    } else {
        None
    }
}

/// A text in each language the bot writes in; `zh-CN` falls back to `en`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Localized {
    pub en: String,
    #[serde(rename = "zh-CN", default, skip_serializing_if = "Option::is_none")]
    pub zh_cn: Option<String>,
}

impl Localized {
    pub fn get(&self, locale: Locale) -> &str {
        match locale {
            Locale::ZhCn => self.zh_cn.as_deref().filter(|s| !s.is_empty()).unwrap_or(&self.en),
            Locale::En => &self.en,
        }
    }

    fn check(&self, field: &str, max: usize) -> Valid {
        for (lang, text) in [("en", Some(&self.en)), ("zh-CN", self.zh_cn.as_ref())] {
            let Some(text) = text else { continue };
            let f = format!("{field}.{lang}");
            if lang == "en" && text.trim().is_empty() {
                return Err(Invalid::new(f, "must not be empty"));
            }
            check_len(&f, text, max)?;
            if text.contains(['\n', '\r']) {
                return Err(Invalid::new(f, "must be one line"));
            }
        }
        Ok(())
    }
}

/// Who may run a command; Herald checks before the host is called.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    /// Bound users (and admins); others are told how to bind.
    #[default]
    User,
    /// Admins only.
    Admin,
    /// Anyone who may talk to the bot.
    All,
}

/// A command the host app declared: how it is listed, who may run it, and where it is relayed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HostCommand {
    pub name: String,
    pub description: Localized,
    #[serde(default)]
    pub access: Access,
    /// What the arguments are, shown after the command (`/search <title>`) and as the Discord
    /// option's description; `None`: the command takes none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Localized>,
    /// The host's endpoint the event is POSTed to.
    pub url: String,
    /// The key of the event's HMAC-SHA256 signature ([`crate::relay::signature`]).
    pub secret: Secret,
    pub updated_at: Timestamp,
}

/// A `PUT /api/v1/commands/{name}` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommandInput {
    pub description: Localized,
    #[serde(default)]
    pub access: Access,
    #[serde(default)]
    pub args: Option<Localized>,
    pub url: String,
    /// Left out (or sent back masked) on a later `PUT`: the stored one is kept.
    #[serde(default)]
    pub secret: Option<String>,
}

impl CommandInput {
    /// The command this body declares under `name`, keeping `previous`'s secret when none is
    /// given. Errors name the field.
    pub fn into_command(self, name: &str, previous: Option<&HostCommand>, now: Timestamp) -> Valid<HostCommand> {
        if let Some(why) = name_problem(name) {
            return Err(Invalid::new("name", why));
        }
        self.description.check("description", MAX_DESCRIPTION)?;
        if let Some(a) = &self.args {
            a.check("args", MAX_DESCRIPTION)?;
        }
        check_url("url", &self.url)?;
        let secret = match (self.secret.as_deref(), previous) {
            (None | Some(super::secret::MASK), Some(p)) => p.secret.clone(),
            (None | Some(super::secret::MASK), None) => return Err(Invalid::new("secret", "is required")),
            (Some(s), _) if s.len() < MIN_SECRET => return Err(Invalid::new("secret", format!("must be at least {MIN_SECRET} characters"))),
            (Some(s), _) => Secret::new(s),
        };
        Ok(HostCommand {
            name: name.to_owned(),
            description: self.description,
            access: self.access,
            args: self.args,
            url: self.url,
            secret,
            updated_at: now,
        })
    }
}

/// Where an interaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InteractionState {
    /// Relayed; the person was told the host is working on it, and a reply may still come.
    Waiting,
    /// The host's reply was shown (in the platform's response or through the queue).
    Replied,
    /// The host failed or never replied; the person was told.
    Failed,
}

/// A platform request as it came, kept with an interaction so a late reply is written as the
/// platform's receiver writes any reply to that request (Slack's `response_url`, Discord's
/// interaction token).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeptRequest {
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// One run of a host command: what was relayed, for whom, and where its reply goes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Interaction {
    /// Derived from the platform's event id, so a platform's retry is the same interaction.
    pub id: String,
    pub command: String,
    pub args: String,
    pub channel: String,
    pub kind: ChannelKind,
    pub chat: String,
    /// The person's id on the platform.
    pub from: String,
    /// The Herald user, when the person is bound.
    pub user: Option<String>,
    /// `admin`, `user` (bound) or `guest`.
    pub role: String,
    pub locale: Locale,
    pub state: InteractionState,
    pub created_at: Timestamp,
    /// After this no reply is taken ([`REPLY_WINDOW_SECS`]).
    pub expires_at: Timestamp,
    pub request: KeptRequest,
    /// What the platform's response already said (the "working on it"), so a late reply is
    /// written after it.
    pub said: Vec<super::chat::Action>,
}

/// A button of the host's reply: it opens `url`, or runs `command` with `args`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyButton {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub args: String,
}

/// A link under the reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplyLink {
    pub url: String,
    #[serde(default)]
    pub text: Option<String>,
}

/// The host's reply to an interaction: text in a format, a link and an image, and rows of
/// buttons. Shown with buttons where the platform has them, as numbered choices where not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostReply {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub format: Format,
    #[serde(default)]
    pub link: Option<ReplyLink>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub buttons: Vec<Vec<ReplyButton>>,
}

/// Limits of a reply: Discord's 5 rows of 5 buttons and its 80-character labels, the shortest
/// message any platform takes whole (WeCom's 2048 bytes is cut by its sender).
pub const MAX_REPLY_TEXT: usize = 4000;
pub const MAX_ROWS: usize = 5;
pub const MAX_PER_ROW: usize = 5;
pub const MAX_LABEL: usize = 80;
pub const MAX_ARGS: usize = 500;

impl HostReply {
    /// Checks the reply; `known` says whether a button's command exists. Errors name the field
    /// (`buttons[0][1].url`).
    pub fn check(&self, known: impl Fn(&str) -> bool) -> Valid {
        if self.text.trim().is_empty() && self.image.is_none() && self.link.is_none() {
            return Err(Invalid::new("text", "must not be empty (or give an image or a link)"));
        }
        check_len("text", &self.text, MAX_REPLY_TEXT)?;
        if let Some(l) = &self.link {
            check_url("link.url", &l.url)?;
            check_len("link.text", l.text.as_deref().unwrap_or_default(), MAX_LABEL)?;
        }
        if let Some(i) = &self.image {
            check_url("image", i)?;
        }
        if self.buttons.len() > MAX_ROWS {
            return Err(Invalid::new("buttons", format!("at most {MAX_ROWS} rows")));
        }
        for (r, row) in self.buttons.iter().enumerate() {
            if row.is_empty() || row.len() > MAX_PER_ROW {
                return Err(Invalid::new(format!("buttons[{r}]"), format!("1 to {MAX_PER_ROW} buttons")));
            }
            for (i, b) in row.iter().enumerate() {
                let f = format!("buttons[{r}][{i}]");
                if b.text.trim().is_empty() {
                    return Err(Invalid::new(format!("{f}.text"), "must not be empty"));
                }
                check_len(&format!("{f}.text"), &b.text, MAX_LABEL)?;
                check_len(&format!("{f}.args"), &b.args, MAX_ARGS)?;
                match (&b.url, &b.command) {
                    (Some(u), None) => check_url(&format!("{f}.url"), u)?,
                    (None, Some(c)) if known(c) => {}
                    (None, Some(_)) => return Err(Invalid::new(format!("{f}.command"), "is not a command of this deployment")),
                    _ => return Err(Invalid::new(f, "needs a url or a command (not both)")),
                }
            }
        }
        Ok(())
    }
}

/// Whether `kind`'s bot lists commands the platform shows (Telegram's command menu, Discord's
/// slash commands, WeCom's app menu), so that a change to the declared set re-registers it.
pub fn listed_by(kind: ChannelKind) -> bool {
    matches!(kind, ChannelKind::Telegram | ChannelKind::Discord | ChannelKind::Wecom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_what_telegram_and_discord_both_take_and_not_built_in() {
        assert_eq!(name_problem("search"), None);
        assert_eq!(name_problem("reset_link2"), None);
        assert!(name_problem("bind").is_some());
        assert!(name_problem("status").is_some());
        for bad in ["", "Search", "2fa", "a-b", "a b", &"x".repeat(33)] {
            assert!(name_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn a_reply_is_checked_field_by_field() {
        let r: HostReply = serde_json::from_value(serde_json::json!({"text": "hi", "buttons": [[{"text": "Go", "command": "nope"}]]})).unwrap();
        assert_eq!(r.check(|_| false).unwrap_err().field, "buttons[0][0].command");
        assert!(r.check(|_| true).is_ok());
        let r: HostReply = serde_json::from_value(serde_json::json!({"text": "", "buttons": []})).unwrap();
        assert_eq!(r.check(|_| true).unwrap_err().field, "text");
        let r: HostReply = serde_json::from_value(serde_json::json!({"text": "x", "buttons": [[{"text": "a", "url": "javascript:x"}]]})).unwrap();
        assert_eq!(r.check(|_| true).unwrap_err().field, "buttons[0][0].url");
    }
}
