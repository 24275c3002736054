//! Notifications (what to say, to whom) and deliveries (one per channel and recipient, with the
//! state the dispatcher moves along: queued → sending → sent / failed, or skipped).

use super::*;
use crate::domain::user::Locale;
use jiff::Timestamp;
use std::collections::BTreeMap;

/// How the host app's text is to be read. Plain text is never interpreted as markup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    #[default]
    #[serde(alias = "plain")]
    Text,
    Markdown,
    Html,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Button {
    pub text: String,
    pub url: String,
}

/// Who a notification is for: one user, the admins, or everyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    All,
    Admins,
    User(String),
}

impl Serialize for Target {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Target::All => s.serialize_str("all"),
            Target::Admins => s.serialize_str("admins"),
            Target::User(id) => BTreeMap::from([("user", id)]).serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        const EXPECTED: &str = r#"expected "all", "admins" or {"user": "ID"}"#;
        // A map, not a struct: serde reads a struct from a list too (`["all"]` would have
        // been the user `all`).
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            User(serde_json::Map<String, serde_json::Value>),
        }
        // Left out: say so, as serde does for every other member.
        let raw =
            Raw::deserialize(d).map_err(|e: D::Error| if e.to_string().starts_with("missing field") { e } else { D::Error::custom(EXPECTED) })?;
        match raw {
            Raw::Word(w) if w == "all" => Ok(Target::All),
            Raw::Word(w) if w == "admins" || w == "admin" => Ok(Target::Admins),
            Raw::Word(_) => Err(D::Error::custom(EXPECTED)),
            Raw::User(m) => match m.get("user") {
                None if m.is_empty() => Err(D::Error::missing_field("user")),
                Some(id) if m.len() == 1 => string_or_number(id.clone()).map(Target::User).map_err(|e| D::Error::custom(format!("user: {e}"))),
                _ => Err(D::Error::custom(EXPECTED)),
            },
        }
    }
}

/// Built-in content, rendered in each recipient's language (see [`crate::text::templates`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Template {
    pub key: String,
    #[serde(default)]
    pub params: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Notification {
    pub id: String,
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub format: Format,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Button>,
    pub to: Target,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Template>,
    /// Channels not to use (a failure notice avoids the channel that failed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub avoid: Vec<String>,
    pub created_at: Timestamp,
    /// Deliveries planned so far.
    #[serde(default)]
    pub deliveries: u32,
    /// Everything known so far is stored and on the queue (until then the sweeper watches it).
    #[serde(default)]
    pub planned: bool,
    /// The fan-out is finished: `deliveries` is the final count.
    #[serde(default)]
    pub complete: bool,
    /// The deliveries planned when it was taken in (`POST /api/v1/notify`), but for those held
    /// for quiet hours: each is kept here, in the notification's own record, until the
    /// dispatcher first writes its state (its claim, or a skip), from then on in its own
    /// record, which wins. One write for a notification and its deliveries instead of one
    /// each ([`crate::store::repo::Repo::notification_records`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plan: Vec<Delivery>,
}

/// What `POST /api/v1/notify` takes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyRequest {
    #[serde(rename = "type")]
    pub ty: String,
    #[serde(default)]
    pub title: Option<String>,
    pub text: String,
    #[serde(default)]
    pub format: Format,
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub buttons: Vec<Button>,
    pub to: Target,
    #[serde(default, deserialize_with = "opt_string_or_number")]
    pub operator: Option<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

pub const MAX_TEXT: usize = 16 * 1024;
pub const MAX_BUTTONS: usize = 8;

impl NotifyRequest {
    pub fn validate(&self) -> Valid {
        check_type("type", &self.ty)?;
        if self.text.trim().is_empty() {
            return Err(Invalid::new("text", "is required"));
        }
        check_len("text", &self.text, MAX_TEXT)?;
        if let Some(t) = &self.title {
            check_len("title", t, 256)?;
        }
        if let Some(l) = &self.link {
            check_url("link", l)?;
        }
        if let Some(i) = &self.image {
            check_url("image", i)?;
        }
        if self.buttons.len() > MAX_BUTTONS {
            return Err(Invalid::new("buttons", format!("at most {MAX_BUTTONS}")));
        }
        for (i, b) in self.buttons.iter().enumerate() {
            if b.text.trim().is_empty() {
                return Err(Invalid::new(format!("buttons[{i}].text"), "is required"));
            }
            check_len(&format!("buttons[{i}].text"), &b.text, 64)?;
            check_url(&format!("buttons[{i}].url"), &b.url)?;
        }
        if let Target::User(u) = &self.to {
            check_name("to.user", u, 128)?;
        }
        if let Some(o) = &self.operator {
            check_name("operator", o, 128)?;
        }
        if let Some(k) = &self.idempotency_key
            && (k.is_empty() || k.chars().count() > 128 || k.chars().any(|c| c.is_control()))
        {
            return Err(Invalid::new("idempotency_key", "must be 1 to 128 printable characters"));
        }
        Ok(())
    }

    pub fn into_notification(self, id: String, now: Timestamp) -> Notification {
        Notification {
            id,
            ty: self.ty,
            title: self.title,
            text: self.text,
            format: self.format,
            link: self.link,
            image: self.image,
            buttons: self.buttons,
            to: self.to,
            operator: self.operator,
            idempotency_key: self.idempotency_key,
            template: None,
            avoid: Vec::new(),
            created_at: now,
            deliveries: 0,
            planned: false,
            complete: false,
            plan: Vec::new(),
        }
    }
}

impl Notification {
    /// Delivery `id` as planned in [`Notification::plan`], if it is there (its own record, once
    /// written, is newer).
    pub fn planned_delivery(&self, id: &str) -> Option<&Delivery> {
        self.plan.iter().find(|d| d.id == id)
    }

    /// A plain-text notification.
    pub fn text(id: String, ty: &str, title: Option<String>, text: String, to: Target, now: Timestamp) -> Self {
        Notification { title, text, template: None, ..Self::built_in(id, ty, to, Template { key: String::new(), params: BTreeMap::new() }, now) }
    }

    /// A notification Herald itself raises (node events, reports, reminders, failures), rendered
    /// from a template in each recipient's language.
    pub fn built_in(id: String, ty: &str, to: Target, template: Template, now: Timestamp) -> Self {
        Notification {
            id,
            ty: ty.to_owned(),
            title: None,
            text: String::new(),
            format: Format::Text,
            link: None,
            image: None,
            buttons: Vec::new(),
            to,
            operator: None,
            idempotency_key: None,
            template: Some(template),
            avoid: Vec::new(),
            created_at: now,
            deliveries: 0,
            planned: false,
            complete: false,
            plan: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Queued,
    Sending,
    Sent,
    Failed,
    Skipped,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 5] = [Self::Queued, Self::Sending, Self::Sent, Self::Failed, Self::Skipped];

    /// The status as the API writes it (`queued`, `sending`, `sent`, `failed`, `skipped`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Sending => "sending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        matches!(self, DeliveryStatus::Sent | DeliveryStatus::Failed | DeliveryStatus::Skipped)
    }
}

/// One notification to one recipient on one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: String,
    pub notification: String,
    pub channel: String,
    pub recipient: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(default)]
    pub locale: Locale,
    pub status: DeliveryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Why this recipient was chosen, when it is not obvious (an admin standing in for a user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Set on an admin's copy of a personal notice whose user could not be reached: who it is
    /// about, as the admins read it (`Name (id)`, or the id). The copy is worded for the admins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_user: Option<String>,
    #[serde(default)]
    pub attempts: u32,
    /// Send without sound (quiet hours).
    #[serde(default)]
    pub silent: bool,
    /// Parts of a long message already sent (a retry goes on from there, sending none twice).
    #[serde(default)]
    pub parts_done: u32,
    /// Held until then (quiet hours of a deferrable type).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_until: Option<Timestamp>,
    /// When the current send attempt started (set with `sending`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}

impl Delivery {
    /// A delivery's id is derived from (notification, channel, recipient): planning the same
    /// notification twice yields the same deliveries.
    pub fn id_for(notification: &str, channel: &str, recipient: &str) -> String {
        crate::domain::ids::stable_id(&[notification, channel, recipient])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(v: serde_json::Value) -> Valid<NotifyRequest> {
        let r: NotifyRequest = parse_json(v)?;
        r.validate()?;
        Ok(r)
    }

    #[test]
    fn reads_the_fixed_notify_shape() {
        let r = req(json!({"type": "node", "title": "t", "text": "x", "link": "https://a.b/c", "buttons": [{"text": "Open", "url": "https://a.b"}], "to": {"user": 42}, "operator": "7", "idempotency_key": "k1"})).unwrap();
        assert_eq!(r.to, Target::User("42".into()));
        assert_eq!(req(json!({"type": "node", "text": "x", "to": "all"})).unwrap().to, Target::All);
        assert_eq!(req(json!({"type": "node", "text": "x", "to": "admins"})).unwrap().to, Target::Admins);
    }

    #[test]
    fn names_the_field_at_fault() {
        let field = |v| req(v).unwrap_err().field;
        assert_eq!(field(json!({"type": "node", "text": "x", "to": "everyone"})), "to");
        assert_eq!(field(json!({"type": "Node!", "text": "x", "to": "all"})), "type");
        assert_eq!(field(json!({"type": "node", "text": " ", "to": "all"})), "text");
        assert_eq!(field(json!({"type": "node", "text": "x", "to": "all", "buttons": [{"text": "a", "url": "javascript:x"}]})), "buttons[0].url");
        assert_eq!(field(json!({"type": "node", "text": "x", "to": "all", "colour": "red"})), "colour");
        assert_eq!(field(json!({"type": "node", "to": "all"})), "text");
    }

    #[test]
    fn target_round_trips() {
        for t in [Target::All, Target::Admins, Target::User("u1".into())] {
            let v = serde_json::to_value(&t).unwrap();
            assert_eq!(serde_json::from_value::<Target>(v).unwrap(), t);
        }
    }
}

/// A platform call that is not a notification: a bot's reply, a button's answer, a kick. Kept in
/// the store like a delivery, so it too is made once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub id: String,
    pub channel: String,
    /// The chat it concerns (its FIFO group, so a chat's replies keep their order).
    pub chat: String,
    pub method: String,
    pub payload: serde_json::Value,
    pub status: DeliveryStatus,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed_at: Option<Timestamp>,
    pub updated_at: Timestamp,
}
