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
