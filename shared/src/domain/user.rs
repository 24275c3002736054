//! Users: the directory the host app syncs (role, locale, plan, expiry, traffic), the chat ids
//! they are reached at, and their own notification preferences.

use super::*;
use crate::domain::channel::ChannelKind;
use jiff::Timestamp;
use jiff::civil::Time;
use jiff::tz::TimeZone;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    User,
    Admin,
}

/// The languages Herald writes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash, Serialize)]
pub enum Locale {
    #[default]
    #[serde(rename = "en")]
    En,
    #[serde(rename = "zh-CN")]
    ZhCn,
}

impl Locale {
    /// The supported locale nearest to a language tag (`zh`, `zh-Hans`, `zh_CN` → zh-CN;
    /// anything else → en).
    pub fn from_tag(tag: &str) -> Self {
        if tag.trim().to_ascii_lowercase().starts_with("zh") { Locale::ZhCn } else { Locale::En }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::ZhCn => "zh-CN",
        }
    }
}

impl<'de> Deserialize<'de> for Locale {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Locale::from_tag(&String::deserialize(d)?))
    }
}

/// Hours during which a user is not to be disturbed, in their own time zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuietHours {
    pub start: String,
    pub end: String,
    pub time_zone: String,
}

impl QuietHours {
    pub fn validate(&self) -> Valid {
        parse_hhmm(&self.start).ok_or_else(|| Invalid::new("start", "must be HH:MM"))?;
        parse_hhmm(&self.end).ok_or_else(|| Invalid::new("end", "must be HH:MM"))?;
        TimeZone::get(&self.time_zone).map_err(|_| Invalid::new("time_zone", "must be an IANA time zone such as Asia/Shanghai"))?;
        Ok(())
    }

    /// If `now` falls inside the quiet hours, the instant they end.
    pub fn ends_after(&self, now: Timestamp) -> Option<Timestamp> {
        let (start, end) = (parse_hhmm(&self.start)?, parse_hhmm(&self.end)?);
        let tz = TimeZone::get(&self.time_zone).ok()?;
        let local = now.to_zoned_datetime(tz.clone());
        let t = local.time();
        let inside = if start <= end { t >= start && t < end } else { t >= start || t < end };
        if !inside || start == end {
            return None;
        }
        let mut day = local.date();
        if t >= end {
            day = day.tomorrow().ok()?;
        }
        day.to_datetime(end).to_zoned_datetime(tz).ok().map(|z| z.timestamp())
    }
}

/// `HH:MM` → a time of day.
pub fn parse_hhmm(s: &str) -> Option<Time> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 {
        return None;
    }
    Time::new(h.parse().ok()?, m.parse().ok()?, 0, 0).ok()
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preferences {
    /// Types the user does not want (`system` cannot be switched off).
    #[serde(default)]
    pub disabled_types: Vec<String>,
    /// Only this channel config (by name), when the user has an id on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
}

impl Preferences {
    pub fn validate(&self) -> Valid {
        for (i, t) in self.disabled_types.iter().enumerate() {
            check_type(&format!("disabled_types[{i}]"), t)?;
            if t == "system" {
                return Err(Invalid::new(format!("disabled_types[{i}]"), "system notifications cannot be switched off"));
            }
        }
        if let Some(c) = &self.preferred_channel {
            check_name("preferred_channel", c, 64)?;
        }
        if let Some(q) = &self.quiet_hours {
            q.validate().map_err(|e| e.under("quiet_hours"))?;
        }
        Ok(())
    }

    pub fn wants(&self, ty: &str) -> bool {
        ty == "system" || !self.disabled_types.iter().any(|t| t == ty)
    }
}

/// A user of the host app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    #[serde(default)]
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<Locale>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Timestamp>,
    /// Bytes used and allowed in the current period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_used: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_total: Option<u64>,
    #[serde(default)]
    pub preferences: Preferences,
    /// Chat ids per channel kind: `{"telegram": "123", "wecom": "zhangsan"}`.
    #[serde(default)]
    pub ids: BTreeMap<ChannelKind, String>,
    /// Kinds on which the platform said the user cannot be reached (blocked the bot), and why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unreachable: BTreeMap<ChannelKind, String>,
    /// Sum of check-in rewards.
    #[serde(default)]
    pub rewards: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What `PUT /api/v1/users/{id}` takes. Fields left out keep their stored value.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub locale: Option<Locale>,
    #[serde(default)]
    pub plan: Option<String>,
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    #[serde(default)]
    pub traffic_used: Option<u64>,
    #[serde(default)]
    pub traffic_total: Option<u64>,
    #[serde(default)]
    pub preferences: Option<Preferences>,
    #[serde(default)]
    pub ids: Option<BTreeMap<ChannelKind, String>>,
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
}

impl UserInput {
    pub fn validate(&self) -> Valid {
        if let Some(n) = &self.name {
            check_len("name", n, 128)?;
        }
        if let Some(p) = &self.plan {
            check_len("plan", p, 128)?;
        }
        if let Some(p) = &self.preferences {
            p.validate().map_err(|e| e.under("preferences"))?;
        }
        for (kind, id) in self.ids.iter().flatten() {
            super::chat::ChatId::parse(&format!("ids.{kind}"), *kind, id)?;
        }
        Ok(())
    }

    /// The user after applying this input over `existing` (or a new user).
    pub fn apply(self, id: &str, existing: Option<User>, now: Timestamp) -> User {
        let mut u = existing.unwrap_or_else(|| User::new(id, now));
        if let Some(v) = self.role {
            u.role = v;
        }
        if self.name.is_some() {
            u.name = self.name;
        }
        if self.locale.is_some() {
            u.locale = self.locale;
        }
        if self.plan.is_some() {
            u.plan = self.plan;
        }
        if self.expires_at.is_some() {
            u.expires_at = self.expires_at;
        }
        if self.traffic_used.is_some() {
            u.traffic_used = self.traffic_used;
        }
        if self.traffic_total.is_some() {
            u.traffic_total = self.traffic_total;
        }
        if let Some(p) = self.preferences {
            u.preferences = p;
        }
        if let Some(ids) = self.ids {
            u.unreachable.retain(|k, _| ids.get(k) == u.ids.get(k));
            u.ids = ids;
        }
        u.updated_at = now;
        u
    }
}

impl User {
    pub fn new(id: &str, now: Timestamp) -> Self {
        User {
            id: id.to_owned(),
            role: Role::User,
            name: None,
            locale: None,
            plan: None,
            expires_at: None,
            traffic_used: None,
            traffic_total: None,
            preferences: Preferences::default(),
            ids: BTreeMap::new(),
            unreachable: BTreeMap::new(),
            rewards: 0,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Percent of traffic used, when both figures are known.
    pub fn traffic_percent(&self) -> Option<u64> {
        match (self.traffic_used, self.traffic_total) {
            (Some(used), Some(total)) if total > 0 => Some(used.saturating_mul(100) / total),
            _ => None,
        }
    }

    /// The chat id to reach the user on `kind`, unless they blocked it.
    pub fn reachable_id(&self, kind: ChannelKind) -> Option<&str> {
        if self.unreachable.contains_key(&kind) {
            return None;
        }
        self.ids.get(&kind).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn quiet_hours_across_midnight_end_next_morning_local_time() {
        let q = QuietHours { start: "23:00".into(), end: "07:00".into(), time_zone: "Asia/Shanghai".into() };
        // 2026-03-01 23:30 in Shanghai is 15:30 UTC.
        assert_eq!(q.ends_after(at("2026-03-01T15:30:00Z")), Some(at("2026-03-01T23:00:00Z")));
        // 06:59 local, same morning.
        assert_eq!(q.ends_after(at("2026-03-01T22:59:00Z")), Some(at("2026-03-01T23:00:00Z")));
        // 12:00 local: not quiet.
        assert_eq!(q.ends_after(at("2026-03-01T04:00:00Z")), None);
    }

    #[test]
    fn quiet_hours_follow_daylight_saving_time() {
        let q = QuietHours { start: "22:00".into(), end: "08:00".into(), time_zone: "Europe/Berlin".into() };
        // Night of the spring change (29 March 2026): 23:00 CET = 22:00 UTC, ends 08:00 CEST = 06:00 UTC.
        assert_eq!(q.ends_after(at("2026-03-28T22:00:00Z")), Some(at("2026-03-29T06:00:00Z")));
    }

    #[test]
    fn system_cannot_be_switched_off() {
        let p = Preferences { disabled_types: vec!["system".into()], ..Default::default() };
        assert_eq!(p.validate().unwrap_err().field, "disabled_types[0]");
        let p = Preferences { disabled_types: vec!["announcement".into()], ..Default::default() };
        assert!(!p.wants("announcement"));
        assert!(p.wants("system"));
    }

    #[test]
    fn omitted_fields_keep_their_values() {
        let now = at("2026-01-01T00:00:00Z");
        let mut u = User::new("u1", now);
        u.ids.insert(ChannelKind::Telegram, "42".into());
        u.plan = Some("pro".into());
        let input: UserInput = serde_json::from_str(r#"{"traffic_used": 5}"#).unwrap();
        let after = input.apply("u1", Some(u), now);
        assert_eq!(after.plan.as_deref(), Some("pro"));
        assert_eq!(after.ids.get(&ChannelKind::Telegram).map(String::as_str), Some("42"));
        assert_eq!(after.traffic_used, Some(5));
    }

    #[test]
    fn locales_map_to_the_nearest_supported_one() {
        assert_eq!(Locale::from_tag("zh-Hans"), Locale::ZhCn);
        assert_eq!(Locale::from_tag("zh_CN"), Locale::ZhCn);
        assert_eq!(Locale::from_tag("en-US"), Locale::En);
        assert_eq!(Locale::from_tag("ja"), Locale::En);
    }
}
