//! Chat ids: who a message goes to on each platform, checked at the edge (the user directory,
//! channel settings, the test endpoint) into a [`ChatId`], and again by each sender, so that no
//! stored or typed value can reach more people than one: WeCom's `@all` and `a|b|c`, a Telegram
//! id that is not a number, and the like are refused.

use crate::domain::{ChannelKind, Invalid, Valid};

/// Longest WeCom member id (`userid`, 1-64 characters).
pub const WECOM_USERID_MAX: usize = 64;
/// Most members one WeCom `message/send` may name (`touser=a|b|c`).
pub const WECOM_BATCH_MAX: usize = 1000;

/// One person's or one chat's id on one platform kind, known to address exactly one chat.
///
/// Formats accepted, per kind:
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

fn chars_in(s: &str, ok: impl Fn(char) -> bool) -> bool {
    s.chars().all(ok)
}

fn is_u64(s: &str) -> bool {
    !s.is_empty() && s.len() <= 20 && chars_in(s, |c| c.is_ascii_digit()) && s.parse::<u64>().is_ok()
}

/// Why `id` is not a chat id of `kind`, if it is not (the message names the accepted format).
fn problem(kind: ChannelKind, id: &str) -> Option<&'static str> {
    let ok = match kind {
        ChannelKind::Telegram => {
            id.parse::<i64>().is_ok() && !id.starts_with('+')
                || id.strip_prefix('@').is_some_and(|u| {
                    (5..=32).contains(&u.len())
                        && u.starts_with(|c: char| c.is_ascii_alphabetic())
                        && chars_in(u, |c| c.is_ascii_alphanumeric() || c == '_')
                })
        }
        ChannelKind::Wecom => {
            if id.eq_ignore_ascii_case("@all") {
                return Some("must be one member's userid; @all (the whole company) is never accepted");
            }
            (1..=WECOM_USERID_MAX).contains(&id.len()) && chars_in(id, |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '@' | '-'))
        }
        ChannelKind::Slack => {
            id.strip_prefix('#').is_some_and(|n| {
                (1..=80).contains(&n.len()) && chars_in(n, |c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'))
            }) || ((2..=32).contains(&id.len())
                && id.starts_with(['C', 'G', 'D', 'U', 'W'])
                && chars_in(id, |c| c.is_ascii_uppercase() || c.is_ascii_digit()))
        }
        ChannelKind::Discord => is_u64(id),
        ChannelKind::Synology => id == "channel" || is_u64(id),
        ChannelKind::Vocechat => is_u64(id) || id.strip_prefix("group:").is_some_and(is_u64),
        ChannelKind::Webpush | ChannelKind::Webhook => {
            (1..=128).contains(&id.len()) && chars_in(id, |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':' | '@'))
        }
    };
    (!ok).then_some(match kind {
        ChannelKind::Telegram => "must be a numeric Telegram chat id or an @channel username",
        ChannelKind::Wecom => "must be one member's userid: 1 to 64 of A-Z a-z 0-9 _ . @ - (no | lists, never @all)",
        ChannelKind::Slack => "must be a Slack conversation or user id (C…, U…) or a #channel name",
        ChannelKind::Discord => "must be a numeric Discord snowflake",
        ChannelKind::Synology => "must be a numeric Synology Chat user id or channel",
        ChannelKind::Vocechat => "must be a numeric VoceChat user id or group:N",
        ChannelKind::Webpush | ChannelKind::Webhook => "must be 1 to 128 of A-Z a-z 0-9 _ - . : @",
    })
}

impl ChatId {
    /// Checks `id` as a chat id of `kind`; the error names `field` and the accepted format.
    pub fn parse(field: &str, kind: ChannelKind, id: &str) -> Valid<Self> {
        match problem(kind, id) {
            None => Ok(ChatId { kind, id: id.to_owned() }),
            Some(why) => Err(Invalid::new(field, why)),
        }
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

/// A WeCom `touser`: one member, or — only when Herald itself merged a notification's members
/// (`batch`) — up to [`WECOM_BATCH_MAX`] members joined with `|`, each a valid userid. Anything
/// else (an `@all`, a `|` list for one person) is refused with the reason.
pub fn wecom_touser(touser: &str, batch: bool) -> Result<(), String> {
    let members: Vec<&str> = if batch { touser.split('|').collect() } else { vec![touser] };
    if members.len() > WECOM_BATCH_MAX {
        return Err(format!("{} members in one message; WeCom takes at most {WECOM_BATCH_MAX}", members.len()));
    }
    for m in members {
        if let Some(why) = problem(ChannelKind::Wecom, m) {
            let shown: String = m.chars().take(70).collect();
            return Err(format!("refused recipient {shown:?}: it {why}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
