//! Global settings: who receives each notification type, the daily report's time, node
//! thresholds, check-in rewards and reminders.

use super::*;
use crate::domain::user::{Locale, parse_hhmm};
use jiff::tz::TimeZone;
use std::collections::BTreeMap;

/// Who receives a notification type (MoviePilot's switch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "admin")]
    Admin,
    #[serde(rename = "user")]
    User,
    #[serde(rename = "user,admin")]
    UserAdmin,
    #[serde(rename = "all")]
    All,
}

/// Built-in notification types and who gets them unless the settings say otherwise.
pub const BUILT_IN_TYPES: [(&str, Scope); 7] = [
    ("system", Scope::Admin),
    ("node", Scope::Admin),
    ("daily_report", Scope::Admin),
    ("account", Scope::User),
    ("announcement", Scope::All),
    ("user_registered", Scope::Admin),
    ("checkin", Scope::User),
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DailyReport {
    pub enabled: bool,
    /// Local time (`HH:MM`, in `Settings::time_zone`).
    pub time: String,
}

impl Default for DailyReport {
    fn default() -> Self {
        Self { enabled: true, time: "09:00".into() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeSettings {
    /// A node whose last heartbeat is older than this is missing a beat.
    pub offline_after_secs: u64,
    /// Consecutive checks a node must miss (or pass) before its state changes.
    pub debounce: u32,
    /// Optional reachability checker: `{host}`, `{port}` and `{region}` are filled in; it must
    /// answer JSON `{"reachable": bool}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probe_url: Option<String>,
}

impl Default for NodeSettings {
    fn default() -> Self {
        Self { offline_after_secs: 600, debounce: 2, probe_url: None }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckinSettings {
    pub enabled: bool,
    /// Reward drawn uniformly from `min..=max`, in `unit`.
    pub min: i64,
    pub max: i64,
    pub unit: String,
}

impl Default for CheckinSettings {
    fn default() -> Self {
        Self { enabled: true, min: 10, max: 50, unit: "MB".into() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Reminders {
    /// Days before expiry to remind (e.g. 3 and 1), plus one on the day it has expired.
    pub expiry_days: Vec<u32>,
    /// Traffic-used percentage (50-100) that triggers a reminder (and one at 100%).
    pub traffic_percent: u64,
}

impl Default for Reminders {
    fn default() -> Self {
        Self { expiry_days: vec![3, 1], traffic_percent: 90 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Scope per type; types not listed use the built-in default, or for the host app's own
    /// types the notification's `to`.
    pub routes: BTreeMap<String, Scope>,
    /// The deployment's time zone (daily report, check-in day, reminders).
    pub time_zone: String,
    /// Language for admins and groups without one of their own.
    pub locale: Locale,
    pub daily_report: DailyReport,
    pub node: NodeSettings,
    pub checkin: CheckinSettings,
    pub reminders: Reminders,
    /// Types held until a user's quiet hours end (others are sent silently during them).
    pub deferrable_types: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            routes: BTreeMap::new(),
            time_zone: "UTC".into(),
            locale: Locale::En,
            daily_report: DailyReport::default(),
            node: NodeSettings::default(),
            checkin: CheckinSettings::default(),
            reminders: Reminders::default(),
            deferrable_types: vec!["announcement".into(), "daily_report".into()],
        }
    }
}

/// `node.offline_after_secs` bounds, in seconds: a minute to thirty days. Anything larger
/// would overflow the time arithmetic it feeds (a `u64` past `i64::MAX` wrapped to negative and
/// reported fresh nodes offline).
pub const MIN_OFFLINE_AFTER_SECS: u64 = 60;
pub const MAX_OFFLINE_AFTER_SECS: u64 = 30 * 86_400;
/// The largest check-in reward (`checkin.min` / `checkin.max`), in the settings' `unit`.
pub const MAX_CHECKIN_REWARD: i64 = 1_000_000_000;

/// `probe_url` with its documented placeholders (`{host}`, `{port}`, `{region}`) filled with
/// sample values, so that the result can be checked as a URL (`http://{host}:{port}/` is valid).
pub fn probe_sample(template: &str) -> String {
    template.replace("{host}", "node.example").replace("{port}", "443").replace("{region}", "region")
}

impl Settings {
    /// Checks every field, numbers by range; the error names the field (`node.debounce`).
    pub fn validate(&self) -> Valid {
        for ty in self.routes.keys() {
            check_type(&format!("routes.{ty}"), ty)?;
        }
        if self.routes.get("system").is_some_and(|s| *s != Scope::Admin) {
            return Err(Invalid::new(
                "routes.system",
                "must be admin: Herald's own notices (failures, tests) always go to the admins and the channels' default chats",
            ));
        }
        self.tz().map_err(|_| Invalid::new("time_zone", "must be an IANA time zone such as Asia/Shanghai"))?;
        parse_hhmm(&self.daily_report.time).ok_or_else(|| Invalid::new("daily_report.time", "must be HH:MM"))?;
        if !(MIN_OFFLINE_AFTER_SECS..=MAX_OFFLINE_AFTER_SECS).contains(&self.node.offline_after_secs) {
            return Err(Invalid::new("node.offline_after_secs", format!("must be {MIN_OFFLINE_AFTER_SECS} to {MAX_OFFLINE_AFTER_SECS} (30 days)")));
        }
        if self.node.debounce == 0 || self.node.debounce > 100 {
            return Err(Invalid::new("node.debounce", "must be 1 to 100"));
        }
        if let Some(p) = &self.node.probe_url {
            check_url("node.probe_url", &probe_sample(p))?;
        }
        if !(0..=MAX_CHECKIN_REWARD).contains(&self.checkin.min) {
            return Err(Invalid::new("checkin.min", format!("must be 0 to {MAX_CHECKIN_REWARD}")));
        }
        if !(self.checkin.min..=MAX_CHECKIN_REWARD).contains(&self.checkin.max) {
            return Err(Invalid::new("checkin.max", format!("must be checkin.min to {MAX_CHECKIN_REWARD}")));
        }
        check_len("checkin.unit", &self.checkin.unit, 32)?;
        if self.reminders.expiry_days.len() > 32 {
            return Err(Invalid::new("reminders.expiry_days", "at most 32 days"));
        }
        if !(50..=100).contains(&self.reminders.traffic_percent) {
            return Err(Invalid::new("reminders.traffic_percent", "must be 50 to 100"));
        }
        if self.reminders.expiry_days.iter().any(|d| *d > 365) {
            return Err(Invalid::new("reminders.expiry_days", "days must be at most 365"));
        }
        for (i, t) in self.deferrable_types.iter().enumerate() {
            check_type(&format!("deferrable_types[{i}]"), t)?;
        }
        Ok(())
    }

    /// Brings numbers into the ranges [`Settings::validate`] enforces (for settings stored before
    /// it enforced them): `offline_after_secs`, `debounce`, check-in rewards, reminder days.
    pub fn clamp_numbers(&mut self) {
        let n = &mut self.node;
        n.offline_after_secs = n.offline_after_secs.clamp(MIN_OFFLINE_AFTER_SECS, MAX_OFFLINE_AFTER_SECS);
        n.debounce = n.debounce.clamp(1, 100);
        let c = &mut self.checkin;
        c.min = c.min.clamp(0, MAX_CHECKIN_REWARD);
        c.max = c.max.clamp(c.min, MAX_CHECKIN_REWARD);
        self.reminders.expiry_days.retain(|d| *d <= 365);
        self.reminders.expiry_days.truncate(32);
        self.reminders.traffic_percent = self.reminders.traffic_percent.clamp(50, 100);
    }

    pub fn tz(&self) -> Result<TimeZone, jiff::Error> {
        TimeZone::get(&self.time_zone)
    }

    /// The configured scope of a type: the settings, else the built-in default.
    /// Who gets `ty`: its route, else its built-in default; `system` always goes to the admins
    /// (a route stored before [`Settings::validate`] refused another is not followed).
    pub fn scope_of(&self, ty: &str) -> Option<Scope> {
        if ty == "system" {
            return Some(Scope::Admin);
        }
        self.routes.get(ty).copied().or_else(|| BUILT_IN_TYPES.iter().find(|(t, _)| *t == ty).map(|(_, s)| *s))
    }

    pub fn is_deferrable(&self, ty: &str) -> bool {
        self.deferrable_types.iter().any(|t| t == ty)
    }
}

/// `probe_url` with anything after `?` and any `user:password@` replaced by the mask (the URL
/// holds `{host}`-style placeholders, so it is cut as text, not parsed).
pub fn masked_probe_url(url: &str) -> String {
    let mask = crate::domain::secret::MASK;
    let (base, query) = url.split_once('?').map_or((url, None), |(b, _)| (b, Some(mask)));
    let base = match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.find('/').map_or((rest, ""), |i| rest.split_at(i));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://{mask}@{host}{path}"),
                None => base.to_owned(),
            }
        }
        None => base.to_owned(),
    };
    match query {
        Some(q) => format!("{base}?{q}"),
        None => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_scopes_apply_until_overridden() {
        let mut s = Settings::default();
        assert_eq!(s.scope_of("node"), Some(Scope::Admin));
        assert_eq!(s.scope_of("download"), None);
        s.routes.insert("node".into(), Scope::All);
        assert_eq!(s.scope_of("node"), Some(Scope::All));
    }

    #[test]
    fn scopes_read_as_moviepilot_writes_them() {
        let s: Settings = serde_json::from_str(r#"{"routes": {"download": "user,admin"}}"#).unwrap();
        assert_eq!(s.routes["download"], Scope::UserAdmin);
        assert!(serde_json::from_str::<Settings>(r#"{"routes": {"x": "everyone"}}"#).is_err());
    }

    #[test]
    fn numbers_stored_before_the_checks_are_brought_into_range() {
        let mut s: Settings = serde_json::from_str(
            r#"{"node": {"offline_after_secs": 18446744073709551615, "debounce": 0}, "checkin": {"min": -5, "max": 9223372036854775807}}"#,
        )
        .unwrap();
        assert!(s.validate().is_err());
        s.clamp_numbers();
        assert_eq!((s.node.offline_after_secs, s.node.debounce, s.checkin.min, s.checkin.max), (MAX_OFFLINE_AFTER_SECS, 1, 0, MAX_CHECKIN_REWARD));
        assert!(s.validate().is_ok());
    }

    #[test]
    fn rejects_an_unknown_time_zone() {
        let s = Settings { time_zone: "Mars/Olympus".into(), ..Settings::default() };
        assert_eq!(s.validate().unwrap_err().field, "time_zone");
    }
}
