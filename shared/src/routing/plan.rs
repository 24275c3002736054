//! Who receives a notification, on which channel, and how (silent, held).
//!
//! The type's scope (settings, else the built-in default, else the notification's `to`) picks
//! the audience; the user is `to.user`, else the operator:
//!
//! | scope | people | default chats |
//! |---|---|---|
//! | `user` | the user; if unknown or unreachable on every channel, the admins instead | no |
//! | `admin` | the admins | yes |
//! | `user,admin` | the user and the admins | yes |
//! | `all` | every user with an id on an enabled channel | yes |
//!
//! A person is reached on every enabled channel that carries the type and where they have an id
//! (only their preferred channel, when they have one there); a type they switched off is
//! skipped; during their quiet hours it is sent silently, or held if the type is deferrable.
//! Each (channel, recipient) gets one delivery per notification, however many roles lead there.

use crate::domain::Binding;
use crate::domain::notification::{Delivery, DeliveryStatus, Notification, Target};
use crate::domain::settings::{Scope, Settings};
use crate::domain::user::User;
use crate::platforms::config::Channel;
use crate::store::StoreResult;
use crate::store::repo::Repo;
use jiff::Timestamp;
use std::collections::HashSet;

pub use crate::queue::job::Resume;

#[derive(Debug, Default)]
pub struct Planned {
    pub deliveries: Vec<Delivery>,
    /// Set when the fan-out has more to plan.
    pub resume: Option<Resume>,
}

struct Audience {
    user: Option<String>,
    admins: bool,
    everyone: bool,
    defaults: bool,
}

fn audience(settings: &Settings, n: &Notification) -> Audience {
    let scope = settings.scope_of(&n.ty).unwrap_or(match n.to {
        Target::User(_) => Scope::User,
        Target::Admins => Scope::Admin,
        Target::All => Scope::All,
    });
    let user = match &n.to {
        Target::User(u) => Some(u.clone()),
        _ => n.operator.clone(),
    };
    match scope {
        Scope::User => Audience { user, admins: false, everyone: false, defaults: false },
        Scope::Admin => Audience { user: None, admins: true, everyone: false, defaults: true },
        Scope::UserAdmin => Audience { user, admins: true, everyone: false, defaults: true },
        Scope::All => Audience { user: None, admins: false, everyone: true, defaults: true },
    }
}

struct Planner<'a> {
    n: &'a Notification,
    settings: &'a Settings,
    channels: Vec<&'a Channel>,
    now: Timestamp,
    seen: HashSet<String>,
    out: Vec<Delivery>,
}

impl<'a> Planner<'a> {
    fn new(n: &'a Notification, settings: &'a Settings, channels: &'a [Channel], now: Timestamp) -> Self {
        let channels = channels.iter().filter(|c| c.carries(&n.ty) && !n.avoid.contains(&c.name)).collect();
        Self { n, settings, channels, now, seen: HashSet::new(), out: Vec::new() }
    }

    fn delivery(&self, channel: &Channel, recipient: &str, user: Option<&User>, fallback: Option<&Fallback>) -> Delivery {
        let locale = user.and_then(|u| u.locale).unwrap_or(self.settings.locale);
        let (note, for_user) = match fallback {
            Some(f) => (Some(f.note.as_str()), f.user.clone()),
            None => (None, None),
        };
        let mut d = Delivery {
            id: Delivery::id_for(&self.n.id, &channel.name, recipient),
            notification: self.n.id.clone(),
            channel: channel.name.clone(),
            recipient: recipient.to_owned(),
            user: user.map(|u| u.id.clone()),
            locale,
            status: DeliveryStatus::Queued,
            reason: None,
            note: note.map(str::to_owned),
            for_user,
            attempts: 0,
            silent: false,
            parts_done: 0,
            hold_until: None,
            claimed_at: None,
            sent_at: None,
            updated_at: self.now,
        };
        if let Some(end) = user.and_then(|u| u.preferences.quiet_hours.as_ref()).and_then(|q| q.ends_after(self.now)) {
            if self.settings.is_deferrable(&self.n.ty) {
                d.hold_until = Some(end);
            } else {
                d.silent = true;
            }
        }
        d
    }

    fn push(&mut self, d: Delivery) -> bool {
        if self.seen.insert(d.id.clone()) {
            self.out.push(d);
            return true;
        }
        false
    }

    /// The channels (and ids) a person is reached on.
    fn targets(&self, u: &User) -> Vec<(&'a Channel, String)> {
        let all: Vec<(&Channel, String)> =
            self.channels.iter().flat_map(|c| crate::platforms::reachable(c, u).into_iter().map(move |r| (*c, r))).collect();
        match &u.preferences.preferred_channel {
            Some(p) if all.iter().any(|(c, _)| &c.name == p) => all.into_iter().filter(|(c, _)| &c.name == p).collect(),
            _ => all,
        }
    }

    /// Plans a person on every channel they are reached on (limited to the channels of one
    /// binding when given); returns how many channels they are reached on overall.
    fn person(&mut self, u: &User, only: Option<&Binding>, fallback: Option<&Fallback>) -> usize {
        let targets = self.targets(u);
        for (c, id) in &targets {
            if only.is_none_or(|b| c.binding() == *b) {
                let d = self.delivery(c, id, Some(u), fallback);
                self.push(d);
            }
        }
        targets.len()
    }

    /// WeCom sends one message to many members at once (`touser=a|b|c`, at most 1000): the
    /// page's WeCom deliveries that can share a message become one delivery.
    /// Merges the copies planned since `start` on a platform that takes many recipients in
    /// one call ([`crate::platforms::Platform::merges_recipients`]): per channel, language and
    /// silence, at most `most` to a delivery (`a|b|c`); held copies stay apart.
    fn merge(&mut self, start: usize, most: usize) {
        let page: Vec<Delivery> = self.out.drain(start..).collect();
        let mut groups: Vec<((String, crate::domain::Locale, bool), Vec<Delivery>)> = Vec::new();
        for d in page {
            if d.hold_until.is_some() {
                self.out.push(d);
                continue;
            }
            let key = (d.channel.clone(), d.locale, d.silent);
            match groups.iter_mut().find(|(k, _)| *k == key) {
                Some((_, v)) => v.push(d),
                None => groups.push((key, vec![d])),
            }
        }
        for (_, members) in groups {
            if members.len() == 1 {
                self.out.extend(members);
                continue;
            }
            for chunk in members.chunks(most.max(1)) {
                let joined = chunk.iter().map(|d| d.recipient.as_str()).collect::<Vec<_>>().join("|");
                let first = &chunk[0];
                self.out.push(Delivery {
                    id: Delivery::id_for(&self.n.id, &first.channel, &joined),
                    recipient: joined,
                    user: None,
                    note: Some(format!("{} recipients in one message", chunk.len())),
                    ..first.clone()
                });
            }
        }
    }

    fn skipped(&mut self, recipient: &str, user: Option<&str>, reason: &str) {
        let d = Delivery {
            id: Delivery::id_for(&self.n.id, "-", recipient),
            notification: self.n.id.clone(),
            channel: "-".into(),
            recipient: recipient.to_owned(),
            user: user.map(str::to_owned),
            locale: self.settings.locale,
            status: DeliveryStatus::Skipped,
            reason: Some(reason.to_owned()),
            note: None,
            for_user: None,
            attempts: 0,
            silent: false,
            parts_done: 0,
            hold_until: None,
            claimed_at: None,
            sent_at: None,
            updated_at: self.now,
        };
        self.push(d);
    }

    fn defaults(&mut self) {
        let chats: Vec<(&Channel, String)> = self.channels.iter().filter_map(|c| Some((*c, c.settings.default_recipient()?))).collect();
        for (c, chat) in chats {
            let d = self.delivery(c, &chat, None, None);
            self.push(d);
        }
    }

    fn admins(&mut self, admins: &[User], fallback: Option<&Fallback>) {
        for a in admins.iter().filter(|a| a.preferences.wants(&self.n.ty)) {
            self.person(a, None, fallback);
        }
    }
}

/// Why admins get a copy of a notice, and whose notice it is when it is someone's.
struct Fallback {
    note: String,
    /// The user's label (see [`user_label`]) when the notice is a user's.
    user: Option<String>,
}

/// How the admins' copy names a user: `Name (id)`, or the id.
pub fn user_label(id: &str, user: Option<&User>) -> String {
    match user.and_then(|u| u.name.as_deref()).filter(|n| !n.trim().is_empty()) {
        Some(name) => format!("{name} ({id})"),
        None => id.to_owned(),
    }
}

/// What the planner must know about people, read beforehand (so that many notifications can be
/// planned with the reads of one).
pub struct Known<'a> {
    /// The notification's user, if it has one and they are in the directory.
    pub user: Option<&'a User>,
    pub admins: &'a [User],
}

/// Plans everything but the `all` walk, from what is already known (no store access).
fn plan_people(p: &mut Planner<'_>, a: &Audience, known: &Known<'_>) {
    if a.admins {
        p.admins(known.admins, None);
    }
    // A user's notice that reaches nobody at all is recorded as skipped, saying why.
    let mut unreached: Option<(String, String)> = None;
    if let Some(id) = &a.user {
        let fallback_note = match known.user {
            None => Some(format!("for user {id}, who is not in the directory")),
            Some(u) if !u.preferences.wants(&p.n.ty) => {
                p.skipped(id, Some(id), "the user switched this type off");
                None
            }
            Some(u) => (p.person(u, None, None) == 0).then(|| format!("for user {id}, who has no chat id on an enabled channel")),
        };
        if let Some(note) = fallback_note {
            // Admins already planned keep their delivery (once, not twice); new ones say why,
            // and their copy names the user.
            let fallback = Fallback { note: note.clone(), user: Some(user_label(id, known.user)) };
            p.admins(known.admins, Some(&fallback));
            let admins = if known.admins.is_empty() { "there are no admins" } else { "no admin has a chat id on an enabled channel" };
            unreached = Some((id.clone(), format!("no recipient: {note}, and {admins}")));
        }
    } else if !a.admins && !a.everyone {
        // `user` scope without a user: MoviePilot sends such messages to the admins.
        p.admins(known.admins, Some(&Fallback { note: "no user given".into(), user: None }));
    }
    if a.defaults {
        p.defaults();
    }
    if let Some((id, why)) = unreached
        && p.out.iter().all(|d| d.status == DeliveryStatus::Skipped)
    {
        p.skipped(&id, Some(&id), &why);
    }
}

/// Plans a notification for known people (the batch path: reminders, reports); the `all` scope
/// is not walked here.
pub fn plan_known(channels: &[Channel], settings: &Settings, n: &Notification, known: &Known<'_>, now: jiff::Timestamp) -> Vec<Delivery> {
    let mut p = Planner::new(n, settings, channels, now);
    plan_people(&mut p, &audience(settings, n), known);
    p.out
}

/// Plans a notification's deliveries; with `all` scope, at most about `budget` of them (the
/// rest is planned from [`Planned::resume`] by [`plan_more`]).
pub async fn plan(repo: &Repo, channels: &[Channel], settings: &Settings, n: &Notification, budget: usize) -> StoreResult<Planned> {
    let mut p = Planner::new(n, settings, channels, repo.clock.now());
    let a = audience(settings, n);
    let user = match &a.user {
        Some(id) => repo.user(id).await?.map(|v| v.value),
        None => None,
    };
    let needs_admins = a.admins || !a.everyone && (a.user.is_none() || user.as_ref().is_none_or(|u| p.targets(u).is_empty()));
    let admins = if needs_admins { repo.admins().await? } else { Vec::new() };
    plan_people(&mut p, &a, &Known { user: user.as_ref(), admins: &admins });
    let resume = if a.everyone { walk_everyone(repo, &mut p, Resume::default(), budget).await? } else { None };
    Ok(Planned { deliveries: p.out, resume })
}

/// Goes on with an `all` fan-out from `from`.
pub async fn plan_more(
    repo: &Repo,
    channels: &[Channel],
    settings: &Settings,
    n: &Notification,
    from: Resume,
    budget: usize,
) -> StoreResult<Planned> {
    let mut p = Planner::new(n, settings, channels, repo.clock.now());
    let resume = walk_everyone(repo, &mut p, from, budget).await?;
    Ok(Planned { deliveries: p.out, resume })
}

/// Users read per page of the `all` fan-out (WeCom takes up to 1000 recipients per call).
const PAGE: u32 = 1000;

async fn walk_everyone(repo: &Repo, p: &mut Planner<'_>, from: Resume, budget: usize) -> StoreResult<Option<Resume>> {
    // One walk per binding (a platform, or one config of a platform whose ids are per config).
    let mut kinds: Vec<Binding> = p.channels.iter().map(|c| c.binding()).collect();
    kinds.sort();
    kinds.dedup();
    let (mut k, mut cursor) = (from.kind, from.cursor);
    while k < kinds.len() {
        if p.out.len() >= budget {
            return Ok(Some(Resume { kind: k, cursor }));
        }
        let page = repo.users_on(&kinds[k], cursor.take(), PAGE).await?;
        let users = repo.users_by_ids(&page.items).await?;
        let start = p.out.len();
        for u in users.iter().filter(|u| u.preferences.wants(&p.n.ty)) {
            p.person(u, Some(&kinds[k]), None);
        }
        if let Some(most) = crate::platforms::platform(kinds[k].kind).merges_recipients() {
            p.merge(start, most);
        }
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => k += 1,
        }
    }
    Ok(None)
}

/// Why a planned delivery is no longer to be sent (see [`recheck`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// Recorded as the delivery's `reason`.
    pub reason: String,
    /// The channel went (disabled, deleted, no longer carrying the type): a user's copy may go
    /// to another channel they are bound on.
    pub channel_gone: bool,
}

impl Skip {
    /// The channel is what changed.
    pub fn channel(reason: String) -> Self {
        Self { reason, channel_gone: true }
    }

    /// The person or the route is what changed.
    pub fn person(reason: String) -> Self {
        Self { reason, channel_gone: false }
    }
}

/// What the planner decided, asked again when a delivery is about to be sent (it may have been
/// held for hours, or waited in the queue): `Some` when it must be recorded `skipped` instead. `user` is the delivery's person as stored now (`None`: deleted, or the delivery has
/// none: a channel's default chat, a merged WeCom message).
///
/// Checked: the channel still carries the type; the person still exists, still wants the type
/// and is still bound to this chat; the type's scope (settings, else built-in default, else
/// `to`) still reaches this recipient.
pub fn recheck(settings: &Settings, channel: &Channel, n: &Notification, d: &Delivery, user: Option<&User>) -> Option<Skip> {
    if !channel.enabled {
        return Some(Skip::channel(format!("channel {} is disabled", channel.name)));
    }
    if !channel.carries(&n.ty) {
        return Some(Skip::channel(format!("channel {} no longer carries {} notifications", channel.name, n.ty)));
    }
    let a = audience(settings, n);
    let not_routed = || Some(Skip::person(format!("{} notifications no longer go to this recipient", n.ty)));
    let Some(id) = &d.user else {
        if channel.settings.default_recipient().as_deref() == Some(d.recipient.as_str()) {
            return if a.defaults { None } else { not_routed() };
        }
        // Several WeCom members in one message: an `all` fan-out.
        if d.recipient.contains('|') && !a.everyone {
            return not_routed();
        }
        return None;
    };
    let Some(u) = user else { return Some(Skip::person(format!("user {id} was deleted"))) };
    if !u.preferences.wants(&n.ty) {
        return Some(Skip::person("the user switched this type off".into()));
    }
    if !crate::platforms::platform(channel.kind()).recipients(channel, u).contains(&d.recipient) {
        return Some(Skip::person(format!("the user is no longer bound to this {} chat", channel.kind())));
    }
    let is_the_user = a.user.as_deref() == Some(id.as_str());
    let admin_copy = u.is_admin() && (a.admins || d.for_user.is_some() || (a.user.is_none() && !a.everyone));
    if a.everyone || is_the_user || admin_copy {
        return None;
    }
    not_routed()
}
