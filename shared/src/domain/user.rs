//! Users: the directory the host app syncs (role, locale, plan, expiry, traffic), the chat ids
//! they are reached at, and their own notification preferences.

use super::*;
use crate::domain::Binding;
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
        if self.disabled_types.len() > crate::domain::MAX_TYPES {
            return Err(Invalid::new("disabled_types", format!("at most {} types", crate::domain::MAX_TYPES)));
        }
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
    /// When the current quota cycle began: as the host gave it, or when Herald saw
    /// `traffic_used` go down (the host reset the counter). Traffic reminders go once per cycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_reset_at: Option<Timestamp>,
    #[serde(default)]
    pub preferences: Preferences,
    /// Chat ids per platform, or per channel config for platforms whose ids are unique only in
    /// one workspace ([`Binding`]): `{"telegram": "123", "wecom": "zhangsan", "slack:acme": "U0G9QF9C6"}`.
    #[serde(default)]
    pub ids: BTreeMap<Binding, String>,
    /// Bindings on which the platform said the user cannot be reached (blocked the bot), and why.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub unreachable: BTreeMap<Binding, String>,
    /// The person's Web Push subscriptions (each browser or phone they turned notifications on
    /// in), each a recipient of its own on every `webpush` channel. Registered by the person's
    /// browser (`POST /api/v1/webpush/subscriptions`), never by `PUT`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub push: Vec<PushSubscription>,
    /// Sum of check-in rewards.
    #[serde(default)]
    pub rewards: i64,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A Web Push subscription (the Push API's `PushSubscription`, W3C Push API §4.2; RFC 8030):
/// the push service's `endpoint` (a capability URL: whoever has it may push), and the keys its
/// messages are encrypted to (RFC 8291): `p256dh`, the browser's P-256 public key, and `auth`,
/// its 16-byte secret, both base64url.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushSubscription {
    /// Herald's id for it: derived from the endpoint (a browser that subscribes again keeps it).
    pub id: String,
    /// The Web Push channel it was made with (its VAPID public key): only that one pushes to it.
    pub channel: String,
    /// The push service's URL for this browser: a capability, so shown as the mask.
    pub endpoint: crate::domain::secret::Secret,
    pub p256dh: String,
    pub auth: crate::domain::secret::Secret,
    /// What the page said about the browser ("Firefox on Linux"), for the person to tell them apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    pub created_at: Timestamp,
}

/// A field of a merge: left out (`None`: keep the stored value), `null` (`Some(None)`: clear it)
/// or a value.
fn patch<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// What `PUT` (and `PATCH`) `/api/v1/users/{id}` take: a merge over the stored user. Fields left
/// out keep their stored value; `null` clears an optional one (`name`, `locale`, `plan`,
/// `expires_at`, `traffic_used`, `traffic_total`, `traffic_reset_at`); `preferences` and `ids`
/// are replaced as a whole when given.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserInput {
    #[serde(default)]
    pub role: Option<Role>,
    #[serde(default, deserialize_with = "patch")]
    pub name: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    pub locale: Option<Option<Locale>>,
    #[serde(default, deserialize_with = "patch")]
    pub plan: Option<Option<String>>,
    #[serde(default, deserialize_with = "patch")]
    pub expires_at: Option<Option<Timestamp>>,
    #[serde(default, deserialize_with = "patch")]
    pub traffic_used: Option<Option<u64>>,
    #[serde(default, deserialize_with = "patch")]
    pub traffic_total: Option<Option<u64>>,
    /// When the current quota cycle began (RFC 3339); not in the future. Without it, a
    /// `traffic_used` lower than the stored one starts a new cycle.
    #[serde(default, deserialize_with = "patch")]
    pub traffic_reset_at: Option<Option<Timestamp>>,
    #[serde(default)]
    pub preferences: Option<Preferences>,
    #[serde(default)]
    pub ids: Option<BTreeMap<Binding, String>>,
    #[serde(default)]
    #[allow(dead_code)]
    id: Option<String>,
}

impl UserInput {
    pub fn validate(&self) -> Valid {
        if let Some(Some(n)) = &self.name {
            check_len("name", n, 128)?;
        }
        if let Some(Some(p)) = &self.plan {
            check_len("plan", p, 128)?;
        }
        if let Some(p) = &self.preferences {
            p.validate().map_err(|e| e.under("preferences"))?;
        }
        Ok(())
    }

    /// Checks what depends on the time: `traffic_reset_at` is when the current cycle began, so
    /// it may not lie in the future (five minutes of clock skew allowed).
    pub fn validate_at(&self, now: Timestamp) -> Valid {
        if let Some(Some(at)) = self.traffic_reset_at
            && at.as_second() > now.as_second() + 300
        {
            return Err(Invalid::new("traffic_reset_at", "is when the current quota cycle began and cannot be in the future"));
        }
        Ok(())
    }

    /// The user after applying this input over `existing` (or a new user).
    pub fn apply(self, id: &str, existing: Option<User>, now: Timestamp) -> User {
        let mut u = existing.unwrap_or_else(|| User::new(id, now));
        if let Some(v) = self.role {
            u.role = v;
        }
        if let Some(v) = self.name {
            u.name = v;
        }
        if let Some(v) = self.locale {
            u.locale = v;
        }
        if let Some(v) = self.plan {
            u.plan = v;
        }
        if let Some(v) = self.expires_at {
            u.expires_at = v;
        }
        match (self.traffic_reset_at, self.traffic_used, u.traffic_used) {
            (Some(at), _, _) => u.traffic_reset_at = at,
            // The host reset the counter: a new quota cycle starts now.
            (None, Some(Some(new)), Some(old)) if new < old => u.traffic_reset_at = Some(now),
            _ => {}
        }
        if let Some(v) = self.traffic_used {
            u.traffic_used = v;
        }
        if let Some(v) = self.traffic_total {
            u.traffic_total = v;
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
            traffic_reset_at: None,
            preferences: Preferences::default(),
            ids: BTreeMap::new(),
            unreachable: BTreeMap::new(),
            push: Vec::new(),
            rewards: 0,
            created_at: now,
            updated_at: now,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Percent of traffic used (rounded down; over 100 when past the quota), when both figures
    /// are known. Computed in 128 bits: any `u64` byte counts give the right percent.
    pub fn traffic_percent(&self) -> Option<u64> {
        match (self.traffic_used, self.traffic_total) {
            (Some(used), Some(total)) if total > 0 => Some(u64::try_from(u128::from(used) * 100 / u128::from(total)).unwrap_or(u64::MAX)),
            _ => None,
        }
    }

    /// Every binding the store indexes for this user: their `ids`, and `webpush` → their own id
    /// while they have a Web Push subscription (so an `all` fan-out finds them).
    pub fn bindings(&self) -> BTreeMap<Binding, String> {
        let mut b = self.ids.clone();
        if !self.push.is_empty() {
            b.insert(crate::domain::ChannelKind::Webpush.into(), self.id.clone());
        }
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn traffic_percent_holds_for_any_byte_counts() {
        let mut u = User::new("u1", at("2026-03-01T00:00:00Z"));
        let percent = |u: &mut User, used: u64, total: u64| {
            (u.traffic_used, u.traffic_total) = (Some(used), Some(total));
            u.traffic_percent()
        };
        assert_eq!(percent(&mut u, 90, 100), Some(90));
        // Past ~1.8e17 bytes, used × 100 no longer fits in 64 bits.
        assert_eq!(percent(&mut u, u64::MAX / 10 * 9, u64::MAX), Some(89));
        assert_eq!(percent(&mut u, u64::MAX, u64::MAX), Some(100));
        assert_eq!(percent(&mut u, u64::MAX, 1), Some(u64::MAX));
        assert_eq!(percent(&mut u, 5, 0), None);
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
        u.ids.insert(crate::domain::ChannelKind::Telegram.into(), "42".into());
        u.plan = Some("pro".into());
        let input: UserInput = serde_json::from_str(r#"{"traffic_used": 5}"#).unwrap();
        let after = input.apply("u1", Some(u), now);
        assert_eq!(after.plan.as_deref(), Some("pro"));
        assert_eq!(after.ids.get(&crate::domain::ChannelKind::Telegram.into()).map(String::as_str), Some("42"));
        assert_eq!(after.traffic_used, Some(5));
    }

    #[test]
    fn a_lower_traffic_counter_or_a_given_reset_starts_a_new_cycle() {
        let t0 = at("2026-11-01T00:00:00Z");
        let t1 = at("2026-11-10T00:00:00Z");
        let input = |v: serde_json::Value| serde_json::from_value::<UserInput>(v).unwrap();
        let u = input(serde_json::json!({"traffic_used": 90})).apply("u1", None, t0);
        assert_eq!(u.traffic_reset_at, None);
        let u = input(serde_json::json!({"traffic_used": 95})).apply("u1", Some(u), t1);
        assert_eq!(u.traffic_reset_at, None, "more traffic is the same cycle");
        let u = input(serde_json::json!({"traffic_used": 0})).apply("u1", Some(u), t1);
        assert_eq!(u.traffic_reset_at, Some(t1));
        let given = input(serde_json::json!({"traffic_used": 97, "traffic_reset_at": "2026-11-05T00:00:00Z"}));
        assert!(given.validate_at(t1).is_ok());
        assert_eq!(given.apply("u1", Some(u), t1).traffic_reset_at, Some(at("2026-11-05T00:00:00Z")));
        let future = input(serde_json::json!({"traffic_reset_at": "2026-12-01T00:00:00Z"}));
        assert_eq!(future.validate_at(t1).unwrap_err().field, "traffic_reset_at");
    }

    #[test]
    fn null_clears_an_optional_field() {
        let now = at("2026-01-01T00:00:00Z");
        let u = serde_json::from_str::<UserInput>(r#"{"plan": "pro", "name": "Ada"}"#).unwrap().apply("u1", None, now);
        let after = serde_json::from_str::<UserInput>(r#"{"plan": null}"#).unwrap().apply("u1", Some(u), now);
        assert_eq!((after.plan, after.name.as_deref()), (None, Some("Ada")));
    }

    #[test]
    fn locales_map_to_the_nearest_supported_one() {
        assert_eq!(Locale::from_tag("zh-Hans"), Locale::ZhCn);
        assert_eq!(Locale::from_tag("zh_CN"), Locale::ZhCn);
        assert_eq!(Locale::from_tag("en-US"), Locale::En);
        assert_eq!(Locale::from_tag("ja"), Locale::En);
    }
}
