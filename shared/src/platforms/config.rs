//! Channel configs: one named config of one platform kind (several of one kind are told apart by
//! name, the `source`), with that platform's settings validated field by field. Secrets are
//! stored, never shown: [`Channel::public_json`] masks them, and a `PUT` that sends the mask back
//! keeps the stored value.

use crate::domain::secret::{MASK, Secret};
use crate::domain::{ChannelKind, Invalid, Valid, check_name, check_type, check_url, parse_json};
use jiff::Timestamp;
use serde::Deserialize;
use serde_json::{Map, Value, json};

/// Why `id` is not a plain id (1-128 of `A-Z a-z 0-9 _ - . : @`, no list separators), if it is
/// not: the ids of platforms that address a person by a name Herald is given (a webhook
/// recipient, a subscription owner).
pub(crate) fn plain_id_problem(id: &str) -> Option<&'static str> {
    let ok = (1..=128).contains(&id.len()) && chars_in(id, |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '@'));
    (!ok).then_some("must be 1 to 128 of A-Z a-z 0-9 _ - . : @")
}

pub(crate) fn chars_in(s: &str, ok: impl Fn(char) -> bool) -> bool {
    s.chars().all(ok)
}

/// Whether `s` is an unsigned 64-bit integer written as the platform writes it: digits only, no
/// leading zero (`"007"` would name the chat `7` on the platform, yet be another key to Herald:
/// its bindings, its pacing, its whitelists).
pub(crate) fn is_u64(s: &str) -> bool {
    s.parse::<u64>().is_ok_and(|n| n.to_string() == s)
}

/// [`is_u64`] for a signed 64-bit integer: no `+`, no leading zero, no `-0`.
pub(crate) fn is_i64(s: &str) -> bool {
    s.parse::<i64>().is_ok_and(|n| n.to_string() == s)
}

pub use super::discord::settings::DiscordSettings;
pub use super::slack::settings::SlackSettings;
pub use super::synology::settings::SynologySettings;
pub use super::telegram::settings::TelegramSettings;
pub use super::vocechat::settings::VocechatSettings;
pub use super::webhook::settings::WebhookSettings;
pub use super::webpush::settings::WebpushSettings;
pub use super::wecom::settings::WecomSettings;

/// A channel's platform settings.
#[derive(Debug, Clone, PartialEq)]
pub enum ChannelSettings {
    Telegram(TelegramSettings),
    Wecom(WecomSettings),
    Slack(SlackSettings),
    Discord(DiscordSettings),
    Synology(SynologySettings),
    Vocechat(VocechatSettings),
    Webpush(WebpushSettings),
    Webhook(WebhookSettings),
}

/// An `api_base`: an http(s) URL that paths are appended to, so no query or fragment (a user
/// and password for a proxy are fine; they are redacted from what the platform answers).
pub(crate) fn check_api_base(v: &Option<String>) -> Valid {
    let Some(u) = v else { return Ok(()) };
    check_url("api_base", u)?;
    if reqwest::Url::parse(u).is_ok_and(|url| url.query().is_some() || url.fragment().is_some()) {
        return Err(Invalid::new("api_base", "must not have a query or fragment: paths are appended to it"));
    }
    Ok(())
}

pub(crate) fn required(field: &str, s: &Secret) -> Valid {
    if s.is_empty() {
        return Err(Invalid::new(field, "is required"));
    }
    Ok(())
}

pub(crate) fn is_base64url(s: &str) -> bool {
    s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl ChannelSettings {
    pub fn kind(&self) -> ChannelKind {
        match self {
            ChannelSettings::Telegram(_) => ChannelKind::Telegram,
            ChannelSettings::Wecom(_) => ChannelKind::Wecom,
            ChannelSettings::Slack(_) => ChannelKind::Slack,
            ChannelSettings::Discord(_) => ChannelKind::Discord,
            ChannelSettings::Synology(_) => ChannelKind::Synology,
            ChannelSettings::Vocechat(_) => ChannelKind::Vocechat,
            ChannelSettings::Webpush(_) => ChannelKind::Webpush,
            ChannelSettings::Webhook(_) => ChannelKind::Webhook,
        }
    }

    /// Parses and validates the settings of `kind`; errors name the field (without `settings.`).
    pub fn parse(kind: ChannelKind, value: Value) -> Valid<Self> {
        super::platform(kind).parse_settings(value)
    }

    fn to_value(&self) -> Value {
        let v = match self {
            ChannelSettings::Telegram(s) => serde_json::to_value(s),
            ChannelSettings::Wecom(s) => serde_json::to_value(s),
            ChannelSettings::Slack(s) => serde_json::to_value(s),
            ChannelSettings::Discord(s) => serde_json::to_value(s),
            ChannelSettings::Synology(s) => serde_json::to_value(s),
            ChannelSettings::Vocechat(s) => serde_json::to_value(s),
            ChannelSettings::Webpush(s) => serde_json::to_value(s),
            ChannelSettings::Webhook(s) => serde_json::to_value(s),
        };
        v.unwrap_or(Value::Null)
    }

    /// The settings as the API shows them: every secret as [`MASK`] (a [`Secret`] serializes
    /// as the mask unless the caller opts in, see [`crate::domain::secret::exposed`]).
    fn masked_value(&self) -> Value {
        self.to_value()
    }

    /// The settings with their secrets, for the store only.
    fn exposed_value(&self) -> Value {
        crate::domain::secret::exposed(|| self.to_value())
    }

    /// Every secret of these settings, as `(path, value)`: the fields whose shown value is the
    /// mask while the kept one is not. Found from the types themselves: a field is a secret
    /// because it is a [`Secret`], not because a list names it.
    pub fn secrets(&self) -> Vec<(Vec<String>, String)> {
        let mut out = Vec::new();
        leaves(&self.masked_value(), &self.exposed_value(), &mut Vec::new(), &mut out);
        out
    }

    /// Every secret value of these settings, the URLs that may carry one (with their password
    /// and query), and whatever else its platform says may ([`super::Platform::also_redact`]: a
    /// Telegram token's secret half), for redacting platform text
    /// ([`crate::domain::secret::redact`]).
    pub fn secret_values(&self) -> Vec<String> {
        let mut out: Vec<String> = self.secrets().into_iter().map(|(_, v)| v).collect();
        let p = super::platform(self.kind());
        // URLs that may carry a credential (a webhook's; an api_base with a user or password):
        // the whole URL, its password and its query.
        let exposed = self.exposed_value();
        for (field, always) in p.url_fields() {
            let Some(u) = exposed.get(*field).and_then(Value::as_str).filter(|u| *always || carries_credential(u)) else { continue };
            out.push(u.to_owned());
            if let Ok(url) = reqwest::Url::parse(u) {
                out.extend(url.password().map(str::to_owned));
                out.extend(url.query().map(str::to_owned));
            }
        }
        out.extend(p.also_redact(self));
        out
    }

    /// Where `all`- and `admin`-scope notifications go besides people: the default group, chat
    /// or channel of the config, if it has one. The webhook kind's URL is its only destination.
    pub fn default_recipient(&self) -> Option<String> {
        match self {
            ChannelSettings::Telegram(t) => t.chat_id.clone(),
            ChannelSettings::Slack(s) => s.channel.clone(),
            ChannelSettings::Discord(d) => d.channel_id.clone(),
            ChannelSettings::Synology(s) => s.incoming_url.as_ref().map(|_| "channel".to_owned()),
            ChannelSettings::Vocechat(v) => v.group_id.as_ref().map(|g| format!("group:{g}")),
            ChannelSettings::Webhook(_) => Some("url".to_owned()),
            ChannelSettings::Wecom(_) | ChannelSettings::Webpush(_) => None,
        }
    }
}

/// One channel config.
#[derive(Debug, Clone, PartialEq)]
pub struct Channel {
    pub name: String,
    pub enabled: bool,
    /// The notification types this config carries; empty means all.
    pub types: Vec<String>,
    pub settings: ChannelSettings,
    pub updated_at: Timestamp,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChannelInput {
    kind: ChannelKind,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    types: Vec<String>,
    #[serde(default = "empty_object")]
    settings: Value,
    /// Shown by `GET` and taken back by `PUT` unchanged, but not set by a client: the name is
    /// the path's, and `updated_at` is when Herald stored the config.
    #[serde(default)]
    #[allow(dead_code)]
    name: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    updated_at: Option<Timestamp>,
}

fn yes() -> bool {
    true
}

fn empty_object() -> Value {
    Value::Object(Map::new())
}

/// The string leaves where `shown` holds the mask and `kept` another value: the secrets.
fn leaves(shown: &Value, kept: &Value, path: &mut Vec<String>, out: &mut Vec<(Vec<String>, String)>) {
    match (shown, kept) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in a {
                if let Some(w) = b.get(k) {
                    path.push(k.clone());
                    leaves(v, w, path, out);
                    path.pop();
                }
            }
        }
        (Value::String(a), Value::String(b)) if a == MASK && b != MASK => out.push((path.clone(), b.clone())),
        _ => {}
    }
}

/// The string leaves of `v` that hold the mask, by path.
fn masked_paths(v: &Value, path: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    match v {
        Value::Object(o) => {
            for (k, w) in o {
                path.push(k.clone());
                masked_paths(w, path, out);
                path.pop();
            }
        }
        Value::String(s) if s == MASK => out.push(path.clone()),
        _ => {}
    }
}

fn slot<'a>(v: &'a mut Value, path: &[String]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |v, k| v.get_mut(k))
}

/// A URL as the API shows it when it may hold a credential: scheme, host and port, then the
/// mask (`https://hooks.example.com/********`). Sending this back in a `PUT` keeps the stored URL.
pub fn mask_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            format!("{}://{}{port}/{MASK}", u.scheme(), u.host_str().unwrap_or_default())
        }
        Err(_) => MASK.to_owned(),
    }
}

fn carries_credential(url: &str) -> bool {
    reqwest::Url::parse(url).is_ok_and(|u| !u.username().is_empty() || u.password().is_some() || u.query().is_some() || u.fragment().is_some())
}

/// A settings field's value, for comparing destinations: strings trimmed of a trailing `/`,
/// numbers as their text; absent and empty read the same.
fn destination_value(settings: &Value, field: &str) -> String {
    match settings.get(field) {
        Some(Value::String(s)) => s.trim_end_matches('/').to_owned(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// Puts the stored values back where a `PUT` sent the mask (a secret's `********`, a URL's
/// [`mask_url`] form) — only when the kind and every destination field are unchanged, else 400
/// naming the first masked field: the stored secret must never follow a new destination.
fn restore_masked(kind: ChannelKind, settings: &mut Value, previous: Option<&Channel>) -> Valid {
    let old = previous.map(|p| p.settings.exposed_value());
    // Masked URLs first: they are destinations themselves.
    for (field, _) in super::platform(kind).url_fields() {
        let Some(v) = settings.get_mut(*field) else { continue };
        let Some(shown) = v.as_str().filter(|s| *s == MASK || s.ends_with(&format!("/{MASK}"))) else { continue };
        let stored = previous
            .filter(|p| p.kind() == kind)
            .and(old.as_ref())
            .and_then(|o| o.get(*field))
            .and_then(Value::as_str)
            .filter(|u| mask_url(u) == shown || shown == MASK);
        match stored {
            Some(u) => *v = Value::String(u.to_owned()),
            None => {
                return Err(Invalid::new(
                    format!("settings.{field}"),
                    "is masked: send the full URL (the stored one is kept only for the same kind and host)",
                ));
            }
        }
    }
    let mut masked: Vec<Vec<String>> = Vec::new();
    masked_paths(settings, &mut Vec::new(), &mut masked);
    if masked.is_empty() {
        return Ok(());
    }
    let name = |path: &[String]| format!("settings.{}", path.join("."));
    let (Some(prev), Some(old)) = (previous, old.as_ref()) else {
        return Err(Invalid::new(name(&masked[0]), "is masked, and there is no stored value to keep: send the secret"));
    };
    let stored: Vec<(Vec<String>, String)> = prev.settings.secrets();
    let moved = if prev.kind() != kind {
        Some(format!("the kind changed from {}", prev.kind()))
    } else {
        super::platform(kind)
            .destination_fields()
            .iter()
            // A destination sent back masked is the stored one, unchanged.
            .find(|f| settings.get(**f).and_then(Value::as_str) != Some(MASK) && destination_value(settings, f) != destination_value(old, f))
            .map(|f| format!("{f} changed"))
    };
    if let Some(why) = moved {
        // A secret Herald made itself is made anew for the new destination; any other must be
        // sent again by whoever changes where it goes.
        let generated = super::platform(kind).generated_secrets();
        masked.retain(|path| {
            let made_here = path.len() == 1 && generated.contains(&path[0].as_str());
            if made_here && let Some(obj) = settings.as_object_mut() {
                obj.remove(path[0].as_str());
            }
            !made_here
        });
        if let Some(first) = masked.first() {
            return Err(Invalid::new(
                name(first),
                format!("is masked or left out, but {why}: send the secret again (the stored one is kept only for the same kind and destination)"),
            ));
        }
        return Ok(());
    }
    for path in masked {
        let Some((_, value)) = stored.iter().find(|(p, _)| *p == path) else {
            return Err(Invalid::new(name(&path), "is masked, and there is no stored secret there to keep: send the value"));
        };
        if let Some(slot) = slot(settings, &path) {
            *slot = Value::String(value.clone());
        }
    }
    Ok(())
}

impl Channel {
    /// Builds a channel from the API's JSON (`{"kind", "enabled", "types", "settings"}`).
    /// Secret fields sent back as the mask keep the value stored in `previous`.
    pub fn from_json(name: &str, mut body: Value, previous: Option<&Channel>, now: Timestamp) -> Valid<Self> {
        check_name("name", name, 64)?;
        let kind = body.get("kind").and_then(Value::as_str).and_then(ChannelKind::parse);
        if let (Some(kind), Some(settings)) = (kind, body.get_mut("settings").filter(|s| s.is_object())) {
            restore_masked(kind, settings, previous)?;
        }
        let input: ChannelInput = parse_json(body)?;
        if input.types.len() > crate::domain::MAX_TYPES {
            return Err(Invalid::new("types", format!("at most {} types", crate::domain::MAX_TYPES)));
        }
        for (i, t) in input.types.iter().enumerate() {
            check_type(&format!("types[{i}]"), t)?;
        }
        let mut settings = ChannelSettings::parse(input.kind, input.settings).map_err(|e| e.under("settings"))?;
        let kept = previous.filter(|p| p.kind() == input.kind).map(|p| &p.settings);
        super::platform(input.kind).complete(&mut settings, kept).map_err(|e| e.under("settings"))?;
        Ok(Channel { name: name.to_owned(), enabled: input.enabled, types: input.types, settings, updated_at: now })
    }

    pub fn kind(&self) -> ChannelKind {
        self.settings.kind()
    }

    /// Where a chat id of this config names a person: the kind, or the kind and this config's
    /// name for a platform whose ids are per workspace ([`super::Platform::ids_per_config`]).
    pub fn binding(&self) -> crate::domain::Binding {
        let per_config = super::platform(self.kind()).ids_per_config();
        crate::domain::Binding::new(self.kind(), per_config.then_some(self.name.as_str()))
    }

    /// Whether this config carries notifications of type `ty`.
    pub fn carries(&self, ty: &str) -> bool {
        self.enabled && (self.types.is_empty() || self.types.iter().any(|t| t == ty))
    }

    /// The full record, secrets included (for the store only).
    pub fn to_json(&self) -> Value {
        self.record(self.settings.exposed_value())
    }

    fn record(&self, settings: Value) -> Value {
        json!({
            "name": self.name,
            "kind": self.kind(),
            "enabled": self.enabled,
            "types": self.types,
            "settings": settings,
            "updated_at": self.updated_at,
        })
    }

    /// What the API shows: every secret replaced by the mask, and URLs that may hold a
    /// credential (a webhook's `url`; an `api_base` or `server_url` with a user, query or
    /// fragment) shown as [`mask_url`] does, host visible.
    pub fn public_json(&self) -> Value {
        let mut v = self.record(self.settings.masked_value());
        if let Some(settings) = v.get_mut("settings") {
            for (field, always) in super::platform(self.kind()).url_fields() {
                if let Some(v) = settings.get_mut(*field)
                    && let Some(u) = v.as_str().filter(|u| *always || carries_credential(u))
                {
                    *v = Value::String(mask_url(u));
                }
            }
        }
        v
    }

    pub fn api_base(&self) -> &str {
        let (custom, default) = match &self.settings {
            ChannelSettings::Telegram(t) => (&t.api_base, super::telegram::settings::DEFAULT_API),
            ChannelSettings::Wecom(w) => (&w.api_base, super::wecom::settings::DEFAULT_API),
            ChannelSettings::Slack(s) => (&s.api_base, super::slack::settings::DEFAULT_API),
            ChannelSettings::Discord(d) => (&d.api_base, super::discord::settings::DEFAULT_API),
            ChannelSettings::Synology(s) => (&s.api_base, ""),
            ChannelSettings::Vocechat(v) => return v.server_url.trim_end_matches('/'),
            ChannelSettings::Webpush(w) => (&w.api_base, ""),
            ChannelSettings::Webhook(_) => return "",
        };
        custom.as_deref().unwrap_or(default).trim_end_matches('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_second(1_700_000_000).unwrap()
    }

    fn telegram(settings: Value) -> Valid<Channel> {
        Channel::from_json("tg", json!({"kind": "telegram", "settings": settings}), None, now())
    }

    #[test]
    fn names_the_missing_field() {
        let err = telegram(json!({})).unwrap_err();
        assert_eq!(err.field, "settings.bot_token");
        assert!(err.message.contains("bot_token"), "{err}");
    }

    #[test]
    fn names_the_field_with_a_bad_value() {
        let err = telegram(json!({"bot_token": "nope"})).unwrap_err();
        assert_eq!(err.field, "settings.bot_token");
        let err = telegram(json!({"bot_token": "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11", "chat_id": "general"})).unwrap_err();
        assert_eq!(err.field, "settings.chat_id");
        let err = telegram(json!({"bot_token": "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11", "bot_tokn": "x"})).unwrap_err();
        assert!(err.message.contains("unknown field"), "{err}");
        let err = Channel::from_json("tg", json!({"kind": "icq"}), None, now()).unwrap_err();
        assert_eq!(err.field, "kind");
        let err = Channel::from_json("bad name", json!({"kind": "webhook"}), None, now()).unwrap_err();
        assert_eq!(err.field, "name");
    }

    #[test]
    fn accepts_numbers_and_comma_lists_as_moviepilot_writes_them() {
        let c =
            telegram(json!({"bot_token": "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11", "chat_id": -1001234, "admin_whitelist": "1, 2,3"})).unwrap();
        let ChannelSettings::Telegram(t) = &c.settings else { panic!() };
        assert_eq!(t.chat_id.as_deref(), Some("-1001234"));
        assert_eq!(t.admin_whitelist, ["1", "2", "3"]);
    }

    #[test]
    fn masks_secrets_and_keeps_them_when_the_mask_comes_back() {
        let body = json!({"kind": "webhook", "settings": {"url": "https://example.com/h", "secret": "s3cret-value", "headers": {"Authorization": "Bearer abc"}}});
        let c = Channel::from_json("hook", body, None, now()).unwrap();
        let public = c.public_json();
        assert_eq!(public["settings"]["secret"], MASK);
        assert_eq!(public["settings"]["headers"]["Authorization"], MASK);
        assert!(!public.to_string().contains("s3cret"));

        let again = Channel::from_json("hook", public, Some(&c), now()).unwrap();
        assert_eq!(again.settings, c.settings);
    }

    #[test]
    fn validates_every_kind() {
        let cases = [
            (json!({"kind": "wecom", "settings": {"corp_id": "ww1", "agent_id": 1000002, "secret": "s"}}), true),
            (json!({"kind": "wecom", "settings": {"corp_id": "ww1", "agent_id": "x", "secret": "s"}}), false),
            (json!({"kind": "wecom", "settings": {"corp_id": "ww1", "agent_id": 1, "secret": "s", "token": "t"}}), false),
            (json!({"kind": "slack", "settings": {"bot_token": "xoxb-1", "channel": "C1"}}), true),
            (json!({"kind": "slack", "settings": {"bot_token": "abc"}}), false),
            (json!({"kind": "discord", "settings": {"bot_token": "x", "public_key": "zz"}}), false),
            (json!({"kind": "discord", "settings": {"bot_token": "x", "channel_id": 123}}), true),
            (json!({"kind": "synology", "settings": {"incoming_url": "https://nas/webapi/entry.cgi?token=x"}}), true),
            (json!({"kind": "synology", "settings": {"bot_token": "x"}}), false),
            (json!({"kind": "vocechat", "settings": {"server_url": "https://chat.example", "api_key": "k", "group_id": 2}}), true),
            (json!({"kind": "vocechat", "settings": {"server_url": "chat", "api_key": "k"}}), false),
            (
                json!({"kind": "webpush", "settings": {"vapid_public_key": "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8", "vapid_private_key": "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw", "subject": "mailto:a@b.c"}}),
                true,
            ),
            (json!({"kind": "webpush", "settings": {"vapid_public_key": "abc", "vapid_private_key": "x", "subject": "a"}}), false),
            (json!({"kind": "webhook", "settings": {"url": "ftp://x"}}), false),
            (json!({"kind": "webhook", "settings": {"url": "https://x", "headers": {"bad header": "v"}}}), false),
        ];
        for (body, ok) in cases {
            assert_eq!(Channel::from_json("c", body.clone(), None, now()).is_ok(), ok, "{body}");
        }
    }

    #[test]
    fn carries_only_its_types() {
        let c = Channel::from_json("hook", json!({"kind": "webhook", "types": ["node"], "settings": {"url": "https://x"}}), None, now()).unwrap();
        assert!(c.carries("node"));
        assert!(!c.carries("account"));
    }
}
