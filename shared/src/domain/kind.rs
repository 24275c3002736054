//! Platform kinds: the names of the platforms Herald knows. What a kind means (its settings, its
//! chat ids, how it sends and receives) lives in its module under [`crate::platforms`].

use serde::{Deserialize, Serialize};

/// One platform Herald can send on (and, for most, receive from): its name in channel configs,
/// user ids (`ids.telegram`), metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    Telegram,
    Wecom,
    Slack,
    Discord,
    Synology,
    Vocechat,
    Webpush,
    Webhook,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 8] = [
        ChannelKind::Telegram,
        ChannelKind::Wecom,
        ChannelKind::Slack,
        ChannelKind::Discord,
        ChannelKind::Synology,
        ChannelKind::Vocechat,
        ChannelKind::Webpush,
        ChannelKind::Webhook,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Telegram => "telegram",
            ChannelKind::Wecom => "wecom",
            ChannelKind::Slack => "slack",
            ChannelKind::Discord => "discord",
            ChannelKind::Synology => "synology",
            ChannelKind::Vocechat => "vocechat",
            ChannelKind::Webpush => "webpush",
            ChannelKind::Webhook => "webhook",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for ChannelKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a person's chat id names them: a platform (`telegram`: a Telegram user id is the same
/// person on every bot), or one channel config of a platform whose ids are unique only within
/// one workspace or server (`slack:acme`: a Slack user id belongs to one workspace; Synology
/// Chat and VoceChat number users per server). Which platforms are scoped is the platform's
/// [`crate::platforms::Platform::ids_per_config`]; a channel's own is
/// [`crate::platforms::config::Channel::binding`].
///
/// Written `kind` or `kind:config` (the key of a user's `ids`, and of the binding records).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Binding {
    pub kind: ChannelKind,
    /// The channel config's name, for a platform whose ids are per config.
    pub config: Option<String>,
}

impl Binding {
    /// `kind` on `config` (`None`: every config of the kind).
    pub fn new(kind: ChannelKind, config: Option<&str>) -> Self {
        Binding { kind, config: config.map(str::to_owned) }
    }

    /// Reads `kind` or `kind:config`; the config name follows the channel name rules.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (kind, config) = match s.split_once(':') {
            Some((k, c)) => (k, Some(c)),
            None => (s, None),
        };
        let kind = ChannelKind::parse(kind).ok_or_else(|| format!("unknown platform {kind:?} (as `kind` or `kind:config`)"))?;
        if let Some(c) = config {
            super::check_name("", c, 64).map_err(|e| format!("config name {}", e.message))?;
        }
        Ok(Binding::new(kind, config))
    }
}

impl From<ChannelKind> for Binding {
    fn from(kind: ChannelKind) -> Self {
        Binding { kind, config: None }
    }
}

impl std::fmt::Display for Binding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.config {
            Some(c) => write!(f, "{}:{c}", self.kind),
            None => f.write_str(self.kind.as_str()),
        }
    }
}

impl Serialize for Binding {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Binding {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Binding::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binding_reads_and_writes_kind_or_kind_and_config() {
        for s in ["telegram", "slack:acme", "slack:a:b"] {
            assert_eq!(Binding::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(Binding::parse("slack:acme").unwrap(), Binding::new(ChannelKind::Slack, Some("acme")));
        assert!(Binding::parse("irc").is_err());
        assert!(Binding::parse("slack:").is_err());
        assert!(Binding::parse("slack:a b").is_err());
        let json: std::collections::BTreeMap<Binding, String> = serde_json::from_str(r#"{"slack:acme":"U1","telegram":"42"}"#).unwrap();
        assert_eq!(serde_json::to_string(&json).unwrap(), r#"{"telegram":"42","slack:acme":"U1"}"#);
    }
}
