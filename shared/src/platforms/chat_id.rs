//! Chat ids: who a message goes to on each platform, checked at the edge (the user directory,
//! channel settings, the test endpoint) into a [`ChatId`], and again by each sender, so that no
//! stored or typed value can reach more people than one: WeCom's `@all` and `a|b|c`, a Telegram
//! id that is not a number, and the like are refused.

use crate::domain::{ChannelKind, Invalid, Valid};

/// One person's or one chat's id on one platform kind, known to address exactly one chat.
///
/// Numeric ids are taken only as the platform writes them (no `+`, no leading zero), so one chat
/// has one key in Herald (its binding, its pacing). The formats accepted are each platform's
/// (its `chat_problem`), e.g.:
/// - `telegram`: a signed 64-bit integer (`123`, `-1001234567890`) or a public `@channel`
///   username (5-32 of `A-Z a-z 0-9 _`, starting with a letter);
/// - `wecom`: a member's `userid`: 1-64 of `A-Z a-z 0-9 _ . @ -`, never `@all` (the whole company);
/// - `slack`: a conversation or user id (`C…`, `G…`, `D…`, `U…`, `W…`; 2-32 of `A-Z 0-9`) or a
///   `#channel` name (1-80 of `a-z 0-9 _ -`);
/// - `discord`: a numeric snowflake (a channel or a user);
/// - `synology`: a numeric user id, or `channel` (the incoming webhook's own channel);
/// - `vocechat`: a numeric user id, or `group:N`;
/// - `webpush`, `webhook`: 1-128 of `A-Z a-z 0-9 _ - . : @` (a subscription owner, `url`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChatId {
    kind: ChannelKind,
    id: String,
}

impl ChatId {
    /// Checks `id` as a chat id of `kind`; the error names `field` and the accepted format.
    pub fn parse(field: &str, kind: ChannelKind, id: &str) -> Valid<Self> {
        Self::check(field, super::platform(kind).chat_problem(id))?;
        Ok(ChatId { kind, id: id.to_owned() })
    }

    /// Checks `id` as a user's chat id on `on` (a key of a user's `ids`): a platform whose ids
    /// are per workspace must be keyed by config (`slack:NAME`), any other by its kind alone.
    pub fn bound(field: &str, on: &crate::domain::Binding, id: &str) -> Valid<Self> {
        let kind = on.kind;
        if !super::platform(kind).user_ids() {
            return Err(Invalid::new(field, format!("{kind} recipients are not kept in ids: a person's browser registers them")));
        }
        match (super::platform(kind).ids_per_config(), &on.config) {
            (true, None) => {
                return Err(Invalid::new(
                    field,
                    format!("{kind} ids are unique only within one workspace: key them by channel config, as \"{kind}:NAME\""),
                ));
            }
            (false, Some(_)) => {
                return Err(Invalid::new(field, format!("{kind} ids are the same on every config: key them as \"{kind}\"")));
            }
            _ => {}
        }
        Self::parse(field, kind, id)
    }

    /// `Ok` when `problem` (a platform's `chat_problem` for an id) is `None`, else the error
    /// naming `field`: for settings that hold a chat id of their own platform.
    pub fn check(field: &str, problem: Option<&'static str>) -> Valid {
        problem.map_or(Ok(()), |why| Err(Invalid::new(field, why)))
    }

    /// The platform kind the id is for.
    pub fn kind(&self) -> ChannelKind {
        self.kind
    }

    /// The id as the platform takes it.
    pub fn as_str(&self) -> &str {
        &self.id
    }
}

impl std::fmt::Display for ChatId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platforms::wecom::settings::wecom_touser;

    #[test]
    fn accepts_each_platforms_id_format_and_nothing_that_addresses_many() {
        use ChannelKind::*;
        let good = [
            (Telegram, "123"),
            (Telegram, "-1001234567890"),
            (Telegram, "@my_channel"),
            (Wecom, "zhangsan"),
            (Wecom, "li.si-2@corp"),
            (Slack, "C0123ABCD"),
            (Slack, "#general"),
            (Discord, "123456789012345678"),
            (Synology, "5"),
            (Synology, "channel"),
            (Vocechat, "7"),
            (Vocechat, "group:2"),
            (Webhook, "url"),
        ];
        for (k, id) in good {
            assert!(ChatId::parse("id", k, id).is_ok(), "{k} {id}");
        }
        let bad = [
            (Telegram, "general"),
            (Telegram, "@ab"),
            (Telegram, "+5"),
            (Telegram, "09000000050"),
            (Telegram, "-0100"),
            (Telegram, "-0"),
            (Discord, "0123456789012345678"),
            (Synology, "05"),
            (Vocechat, "07"),
            (Vocechat, "group:02"),
            (Telegram, ""),
            (Wecom, "@all"),
            (Wecom, "@ALL"),
            (Wecom, "a|b|c"),
            (Wecom, "a b"),
            (Wecom, ""),
            (Slack, "@here"),
            (Slack, "general"),
            (Discord, "abc"),
            (Synology, "all"),
            (Vocechat, "group:"),
            (Webhook, "a|b"),
        ];
        for (k, id) in bad {
            assert!(ChatId::parse("id", k, id).is_err(), "{k} {id}");
        }
        assert!(ChatId::parse("id", Wecom, &"a".repeat(65)).is_err());
    }

    #[test]
    fn a_wecom_sender_takes_a_list_only_as_herald_merged_it() {
        assert!(wecom_touser("a|b|c", true).is_ok());
        assert!(wecom_touser("a|b|c", false).is_err());
        assert!(wecom_touser("@all", false).is_err());
        assert!(wecom_touser("a|@all", true).is_err());
        assert!(wecom_touser("a||b", true).is_err());
        assert!(wecom_touser(&vec!["m"; 1001].join("|"), true).is_err());
    }
}
