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

/// A text in each language the bot writes in; `zh-CN` falls back to `en`. Written
/// `{"en": "...", "zh-CN": "..."}`, or a plain string for English alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "LocalizedInput")]
pub struct Localized {
    pub en: String,
    #[serde(rename = "zh-CN", default, skip_serializing_if = "Option::is_none")]
    pub zh_cn: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged, deny_unknown_fields, expecting = r#"a string, or {"en": "...", "zh-CN": "..."}"#)]
enum LocalizedInput {
    English(String),
    Each {
        en: String,
        #[serde(rename = "zh-CN", default)]
        zh_cn: Option<String>,
    },
}

impl TryFrom<LocalizedInput> for Localized {
    type Error = &'static str;

    fn try_from(i: LocalizedInput) -> Result<Self, Self::Error> {
        Ok(match i {
            LocalizedInput::English(en) => Localized { en, zh_cn: None },
            LocalizedInput::Each { en, zh_cn } => Localized { en, zh_cn },
        })
    }
}

impl Localized {
    pub fn get(&self, locale: Locale) -> &str {
        match locale {
            Locale::ZhCn => self.zh_cn.as_deref().filter(|s| !s.trim().is_empty()).unwrap_or(&self.en),
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
            one_line(&f, text)?;
        }
        Ok(())
    }
}

/// Refuses line breaks and control characters (a description or label is one line of text).
fn one_line(field: &str, text: &str) -> Valid {
    if text.chars().any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')) {
        return Err(Invalid::new(field, "must be one line, without control characters"));
    }
    Ok(())
}

/// Longest endpoint URL and secret accepted.
pub const MAX_URL: usize = 2048;
pub const MAX_SECRET: usize = 256;

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

impl HostCommand {
    /// The endpoint as the API shows it: masked when it carries a user, password, query or
    /// fragment (as a webhook channel's URL is).
    pub fn public_url(&self) -> String {
        let carries = reqwest::Url::parse(&self.url)
            .is_ok_and(|u| !u.username().is_empty() || u.password().is_some() || u.query().is_some() || u.fragment().is_some());
        if carries { crate::platforms::config::mask_url(&self.url) } else { self.url.clone() }
    }

    /// The command as the API shows it (secret and credential-bearing URL masked).
    pub fn public_json(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        v["url"] = serde_json::Value::String(self.public_url());
        v
    }
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
        // The URL as `GET` showed it (masked) keeps the stored one.
        let url = match previous {
            Some(p) if self.url == p.public_url() => p.url.clone(),
            _ => self.url,
        };
        check_url("url", &url)?;
        check_len("url", &url, MAX_URL)?;
        let host = |u: &str| reqwest::Url::parse(u).ok().and_then(|u| u.host_str().map(str::to_owned));
        let secret = match (self.secret.as_deref(), previous) {
            // Kept only while it goes to the same host.
            (None | Some(super::secret::MASK), Some(p)) if host(&p.url) == host(&url) => p.secret.clone(),
            (None | Some(super::secret::MASK), Some(_)) => return Err(Invalid::new("secret", "send it again: the url's host changed")),
            (None | Some(super::secret::MASK), None) => return Err(Invalid::new("secret", "is required")),
            (Some(s), _) if s.trim().chars().count() < MIN_SECRET => {
                return Err(Invalid::new("secret", format!("must be at least {MIN_SECRET} characters")));
            }
            (Some(s), _) if s.len() > MAX_SECRET => return Err(Invalid::new("secret", format!("must be at most {MAX_SECRET} bytes"))),
            (Some(s), _) => Secret::new(s),
        };
        Ok(HostCommand { name: name.to_owned(), description: self.description, access: self.access, args: self.args, url, secret, updated_at: now })
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
    /// Until when the platform's response is waited for: a reply through the API that comes
    /// before is held back till then, so it is shown after "working on it".
    pub reply_by: Timestamp,
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

/// Limits of a reply: Discord's 5 rows of 5 buttons, its 80-character labels, its 2,000-character
/// messages and its 512-character link URLs (the tightest of the platforms'; WeCom's 2,048 bytes
/// is cut by its sender).
pub const MAX_REPLY_TEXT: usize = 2000;
pub const MAX_REPLY_URL: usize = 512;
pub const MAX_ROWS: usize = 5;
pub const MAX_PER_ROW: usize = 5;
pub const MAX_LABEL: usize = 80;
pub const MAX_ARGS: usize = 500;

impl HostReply {
    /// Checks the reply; `known` says whether a button's command exists. Errors name the field
    /// (`buttons[0][1].url`).
    pub fn check(&self, known: impl Fn(&str) -> bool) -> Valid {
        // Every platform needs text in a message (an image or a link alone is refused by some).
        if self.text.trim().is_empty() {
            return Err(Invalid::new("text", "must not be empty"));
        }
        check_len("text", &self.text, MAX_REPLY_TEXT)?;
        let url = |field: &str, u: &str| check_url(field, u).and_then(|()| check_len(field, u, MAX_REPLY_URL));
        if let Some(l) = &self.link {
            url("link.url", &l.url)?;
            check_len("link.text", l.text.as_deref().unwrap_or_default(), MAX_LABEL)?;
            one_line("link.text", l.text.as_deref().unwrap_or_default())?;
        }
        if let Some(i) = &self.image {
            url("image", i)?;
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
                one_line(&format!("{f}.text"), &b.text)?;
                check_len(&format!("{f}.args"), &b.args, MAX_ARGS)?;
                one_line(&format!("{f}.args"), &b.args)?;
                match (&b.url, &b.command) {
                    (Some(u), None) => url(&format!("{f}.url"), u)?,
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
    fn a_text_is_a_string_or_one_per_language() {
        let plain: Localized = serde_json::from_value(serde_json::json!("Say hi")).unwrap();
        assert_eq!((plain.get(Locale::En), plain.get(Locale::ZhCn)), ("Say hi", "Say hi"));
        let both: Localized = serde_json::from_value(serde_json::json!({"en": "Hi", "zh-CN": "你好"})).unwrap();
        assert_eq!(both.get(Locale::ZhCn), "你好");
        let blank: Localized = serde_json::from_value(serde_json::json!({"en": "Hi", "zh-CN": "  "})).unwrap();
        assert_eq!(blank.get(Locale::ZhCn), "Hi", "a blank translation falls back");
        assert!(serde_json::from_value::<Localized>(serde_json::json!({"en": "Hi", "fr": "Salut"})).is_err());
        assert!(serde_json::from_value::<Localized>(serde_json::json!(3)).is_err());
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
