//! The domain: channel configs of every kind, users, nodes, global settings, notifications and
//! their deliveries. Raw input becomes these validated types at the edge; nothing inside reads
//! raw input.

pub mod chat;
pub mod clock;
pub mod command;
pub mod error;
pub mod ids;
pub mod kind;
pub mod node;
pub mod notification;
pub mod secret;
pub mod settings;
pub mod user;

pub use error::Error;
pub use kind::{Binding, ChannelKind};
pub use node::Node;
pub use notification::{Button, Call, Delivery, DeliveryStatus, Format, Notification, Target, Template};
pub use settings::{Scope, Settings};
pub use user::{Locale, Preferences, QuietHours, Role, User};

use serde::{Deserialize, Deserializer, Serialize};

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn merge_patch_keeps_what_it_does_not_name_and_null_removes() {
        let mut v = json!({"a": 1, "b": {"c": 2, "d": 3}, "e": [1, 2]});
        super::merge_patch(&mut v, json!({"b": {"c": null, "x": 4}, "e": [3], "f": "new"}));
        assert_eq!(v, json!({"a": 1, "b": {"d": 3, "x": 4}, "e": [3], "f": "new"}));
    }
}

/// A validation failure naming the field at fault (`settings.bot_token`, `buttons[1].url`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: String,
    pub message: String,
}

impl Invalid {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { field: field.into(), message: message.into() }
    }

    /// The same error under a parent field (`bot_token` → `settings.bot_token`).
    pub fn under(mut self, parent: &str) -> Self {
        self.field = if self.field.is_empty() { parent.to_owned() } else { format!("{parent}.{}", self.field) };
        self
    }
}

pub type Valid<T = ()> = Result<T, Invalid>;

/// Parses JSON into `T`, naming the field at fault when it does not fit.
pub fn parse_json<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Valid<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let message = integer_range(&message).unwrap_or(message);
        let mut field = if path == "." { String::new() } else { path };
        // serde names a missing member in its message, at the path of the object it is missing from.
        if let Some(name) = message.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
            field = if field.is_empty() { name.to_owned() } else { format!("{field}.{name}") };
        }
        Invalid::new(field, message)
    })
}

/// serde's answer for a number out of its type's range or of the wrong type ("invalid value:
/// integer `70000`, expected u16") said as the range a client can act on ("must be an integer
/// from 0 to 65535").
fn integer_range(message: &str) -> Option<String> {
    let (lo, hi): (i128, i128) = match message.rsplit_once("expected ")?.1 {
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" | "usize" => (0, u64::MAX.into()),
        "i32" => (i32::MIN.into(), i32::MAX.into()),
        "i64" | "isize" => (i64::MIN.into(), i64::MAX.into()),
        _ => return None,
    };
    Some(format!("must be an integer from {lo} to {hi}"))
}

/// JSON merge patch (RFC 7396), the one rule of every `PUT` and `PATCH` in the API: members of
/// `patch` replace those of `target` (objects are merged member by member), `null` removes a
/// member, and members left out keep their value.
pub fn merge_patch(target: &mut serde_json::Value, patch: serde_json::Value) {
    use serde_json::Value;
    match patch {
        Value::Object(members) => {
            if !target.is_object() {
                *target = Value::Object(serde_json::Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in members {
                    if v.is_null() {
                        t.remove(&k);
                    } else {
                        merge_patch(t.entry(k).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other,
    }
}

/// Names: channel names (the `source`), user ids, node ids. Kept to what is safe in a URL, a
/// store key and a log line.
pub fn check_name(field: &str, value: &str, max: usize) -> Valid {
    if value.is_empty() || value.len() > max {
        return Err(Invalid::new(field, format!("must be 1 to {max} characters")));
    }
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | ':')) {
        return Err(Invalid::new(field, "may hold only letters, digits and _ - . @ :"));
    }
    if value.chars().all(|c| c == '.') {
        return Err(Invalid::new(field, "must not be only dots (a URL path would drop it)"));
    }
    Ok(())
}

/// The most notification types one list holds (a channel's `types`, a user's
/// `disabled_types`).
pub const MAX_TYPES: usize = 256;

/// Notification type names: built-in (`node`) or the host app's own (`download`).
pub fn check_type(field: &str, value: &str) -> Valid {
    if value.is_empty() || value.len() > 64 || !value.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-' | '.')) {
        return Err(Invalid::new(field, "a type is 1 to 64 characters of a-z 0-9 _ - ."));
    }
    Ok(())
}

/// An absolute http(s) URL.
pub fn check_url(field: &str, value: &str) -> Valid {
    match reqwest::Url::parse(value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => Ok(()),
        _ => Err(Invalid::new(field, "must be an absolute http or https URL")),
    }
}

pub fn check_len(field: &str, value: &str, max: usize) -> Valid {
    if value.chars().count() > max {
        return Err(Invalid::new(field, format!("must be at most {max} characters")));
    }
    Ok(())
}

/// Accepts a list, or a comma-separated string as MoviePilot's settings are written.
pub fn list_or_csv<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        List(Vec<serde_json::Value>),
        Csv(String),
    }
    let items = match Either::deserialize(d)? {
        Either::List(v) => v
            .into_iter()
            .map(|x| match x {
                serde_json::Value::String(s) => Ok(s),
                serde_json::Value::Number(n) => Ok(n.to_string()),
                _ => Err(serde::de::Error::custom("expected strings or numbers")),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Either::Csv(s) => s.split(',').map(str::to_owned).collect(),
    };
    Ok(items.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect())
}

/// Accepts a string or an integer (ids that platforms send as numbers: Telegram chat ids, WeCom
/// agent ids); a number with a fraction or an exponent (`1.5`, `1e2`, which would read as
/// `"100.0"`) is refused.
pub fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) => Ok(s),
        serde_json::Value::Number(n) => integer_id(&n).map_err(serde::de::Error::custom),
        _ => Err(serde::de::Error::custom("expected a string or an integer")),
    }
}

fn integer_id(n: &serde_json::Number) -> Result<String, &'static str> {
    if n.is_i64() || n.is_u64() { Ok(n.to_string()) } else { Err("expected a string or an integer") }
}

pub fn opt_string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(s)),
        Some(serde_json::Value::Number(n)) => integer_id(&n).map(Some).map_err(serde::de::Error::custom),
        _ => Err(serde::de::Error::custom("expected a string or an integer")),
    }
}
