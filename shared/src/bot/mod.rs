//! The chat bot, platform-neutral: commands (`/start [code]`, `/bind`, `/help`, `/ping`, `/menu`,
//! `/my`, `/checkin`, `/unbind`, admin `/status` and `/broadcast`), menu buttons, whitelists and
//! group rules. A platform module turns its update into an [`Inbound`] and the [`Action`]s back
//! into its own calls; no outbound call happens here.

use crate::app::App;
use crate::app::Snapshot;
use crate::domain::Error;
use crate::domain::command::{Access, HostCommand};
use crate::domain::notification::{Notification, Target};
use crate::domain::settings::{BUILT_IN_TYPES, Settings};
use crate::domain::user::{Locale, User};
use crate::params;
use crate::platforms::config::Channel;
use crate::store::StoreError;
use crate::store::repo::{BindError, Versioned};
use crate::text::templates::{human_bytes, phrase, phrase_with};
use std::collections::BTreeMap;

pub use crate::domain::chat::{Action, BotConf, Button, Inbound, Input, Press, Sender};

/// A host-app command the bot decided to relay (who may run it was checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub command: String,
    pub args: String,
    /// The Herald user, when the person is bound.
    pub user: Option<String>,
    /// `admin`, `user` (bound) or `guest`.
    pub role: &'static str,
    pub locale: Locale,
}

/// What the bot does with one inbound message: its actions, and a host command to relay
/// ([`crate::relay`]) whose reply comes after them.
#[derive(Debug, Default)]
pub struct Turn {
    pub actions: Vec<Action>,
    pub run: Option<Run>,
}

struct Ctx<'a> {
    app: &'a App,
    settings: &'a Settings,
    commands: &'a [HostCommand],
    run: Option<Run>,
    conf: BotConf,
    inbound: &'a Inbound,
    user: Option<Versioned<User>>,
    admin: bool,
    locale: Locale,
}

fn reply(text: String) -> Action {
    Action::reply(text)
}

/// A command line: `/cmd@bot arg` → ("cmd", Some("bot"), "arg").
pub fn parse_command(text: &str) -> Option<(String, Option<String>, String)> {
    let text = text.trim();
    let rest = text.strip_prefix('/')?;
    let (head, arg) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let (cmd, bot) = match head.split_once('@') {
        Some((c, b)) => (c, Some(b.to_owned())),
        None => (head, None),
    };
    (!cmd.is_empty()).then(|| (cmd.to_ascii_lowercase(), bot, arg.trim().to_owned()))
}

/// What the bot does with one inbound message (`snap`: the settings and the host's commands).
pub async fn handle(app: &App, channel: &Channel, snap: &Snapshot, inbound: &Inbound) -> Result<Turn, Error> {
    let settings = &snap.settings;
    let mut conf = crate::platforms::bot_conf(channel);
    let in_group = inbound.group;
    // The bot stays only in the configured group. Before leaving, the stored config is read
    // again: the cached one may predate a move (a group upgraded to a supergroup) that this or
    // another instance just stored.
    if in_group
        && let Some(g) = &conf.group
        && &inbound.chat != g
    {
        let fresh = app.repo.channel(&channel.name).await?.map(|c| crate::platforms::bot_conf(&c));
        match fresh {
            Some(f) if f.group.as_deref() == Some(inbound.chat.as_str()) => conf = f,
            _ => return Ok(Turn { actions: vec![Action::Leave], run: None }),
        }
    }
    let user = app.repo.user_by_chat(conf.binding.clone(), &inbound.from.id).await?;
    let admin = conf.admin_whitelist.contains(&inbound.from.id) || user.as_ref().is_some_and(|u| u.value.is_admin());
    let locale =
        user.as_ref().and_then(|u| u.value.locale).or_else(|| inbound.from.language.as_deref().map(Locale::from_tag)).unwrap_or(settings.locale);
    let mut ctx = Ctx { app, settings, commands: &snap.commands, run: None, conf, inbound, user, admin, locale };
    let actions = match &inbound.input {
        Input::AddedToGroup => Ok(Vec::new()),
        Input::Joined(members) => ctx.joined(members).await,
        _ if !ctx.conf.user_whitelist.is_empty() && !ctx.conf.user_whitelist.contains(&inbound.from.id) && !ctx.admin => {
            Ok(if in_group { Vec::new() } else { vec![reply(ctx.p("bot.not_whitelisted"))] })
        }
        Input::Text(text) => ctx.text(text).await,
        // Menu commands are for the admin whitelist, when there is one (MoviePilot's rule).
        Input::Menu(_) if !ctx.conf.admin_whitelist.is_empty() && !ctx.conf.admin_whitelist.contains(&inbound.from.id) => {
            Ok(vec![reply(ctx.p("bot.menu_denied"))])
        }
        Input::Menu(command) => ctx.text(command).await,
        Input::Button { id, data, message } => ctx.button(id, data, message.clone()).await,
    }?;
    Ok(Turn { actions, run: ctx.run })
}

impl Ctx<'_> {
    fn p(&self, key: &str) -> String {
        phrase(key, self.locale)
    }

    fn pw(&self, key: &str, params: BTreeMap<String, String>) -> String {
        phrase_with(key, &params, self.locale)
    }

    fn platform(&self) -> String {
        self.p(&format!("platform.{}", self.conf.kind))
    }

    fn user_label(u: &User) -> String {
        u.name.clone().unwrap_or_else(|| u.id.clone())
    }

    async fn joined(&self, members: &[Sender]) -> Result<Vec<Action>, Error> {
        let Some(group) = &self.conf.group else { return Ok(Vec::new()) };
        if !self.conf.bound_only || &self.inbound.chat != group {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for m in members {
            if self.app.repo.bound_user_id(&self.conf.binding, &m.id).await?.is_none() {
                out.push(reply(self.pw("bot.removed", params! {"name" => m.name})));
                out.push(Action::Remove { chat: group.clone(), user: m.id.clone() });
            }
        }
        Ok(out)
    }

    async fn text(&mut self, text: &str) -> Result<Vec<Action>, Error> {
        let group = self.inbound.group;
        let Some((cmd, bot, arg)) = parse_command(text) else {
            if group {
                return Ok(Vec::new());
            }
            // In a private chat: a host command typed without its `/`, or a numbered choice.
            let first = text.split_whitespace().next().unwrap_or_default().to_ascii_lowercase();
            if self.commands.iter().any(|c| c.name == first) {
                return Box::pin(self.text(&format!("/{}", text.trim()))).await;
            }
            // Numbered choices are offered only where there are no buttons.
            if !self.conf.buttons
                && let Ok(n) = text.trim().parse::<usize>()
            {
                let choices = self.app.repo.choices(&self.conf.binding, &self.inbound.chat, &self.inbound.from.id).await?;
                if let Some((command, args)) = n.checked_sub(1).and_then(|i| choices.get(i)).cloned() {
                    return Box::pin(self.text(&format!("/{command} {args}"))).await;
                }
            }
            return Ok(vec![reply(self.p("bot.hint"))]);
        };
        if let (Some(to), Some(me)) = (&bot, &self.conf.username)
            && !to.eq_ignore_ascii_case(me)
        {
            return Ok(Vec::new()); // a command for another bot
        }
        if group && self.conf.quiet && (bot.is_none() || cmd == "start") {
            return Ok(Vec::new());
        }
        match cmd.as_str() {
            "start" if !arg.is_empty() => self.bind(&arg).await,
            "start" => {
                let hello = self.pw("bot.welcome", params! {"name" => self.inbound.from.name});
                Ok(vec![reply(if self.user.is_none() && !group { format!("{hello}\n{}", self.p("bot.bind_hint")) } else { hello })])
            }
            "bind" if arg.is_empty() => Ok(vec![reply(self.p("bot.bind_usage"))]),
            "bind" => self.bind(&arg).await,
            "help" => Ok(vec![reply(self.help())]),
            "ping" => Ok(vec![reply(self.pw("bot.ping", params! {"user" => self.inbound.from.id, "chat" => self.inbound.chat}))]),
            "menu" => Ok(vec![self.menu(None)]),
            "my" => {
                if !self.account_shown_here() {
                    return Ok(vec![reply(self.p("bot.group_only"))]);
                }
                let mut r = self.my()?;
                if group
                    && self.conf.buttons
                    && let Action::Reply { buttons, .. } = &mut r
                {
                    buttons.push(vec![Button::data(self.p("bot.menu.checkin"), "ci")]);
                }
                Ok(vec![r])
            }
            "checkin" => Ok(vec![reply(self.checkin().await?)]),
            "unbind" => self.unbind_ask(&arg).await,
            "status" | "broadcast" if !self.admin => Ok(vec![reply(self.p("bot.admin_only"))]),
            "status" => Ok(vec![reply(self.status().await?)]),
            "broadcast" if arg.is_empty() => Ok(vec![reply(self.p("bot.broadcast_usage"))]),
            "broadcast" => {
                let n = Notification::text(crate::domain::ids::new_id(self.app.now()), "announcement", None, arg, Target::All, self.app.now());
                let accepted = crate::routing::notify::submit(self.app, n).await?;
                Ok(vec![reply(self.pw("bot.broadcast_done", params! {"count" => accepted.deliveries}))])
            }
            c => match self.commands.iter().find(|h| h.name == c) {
                Some(h) => Ok(self.host(h, &arg)),
                None => Ok(vec![reply(self.p("bot.unknown"))]),
            },
        }
    }

    /// A host command: who may run it is checked here, before the host is called; the run is
    /// left for the relay.
    fn host(&mut self, c: &HostCommand, args: &str) -> Vec<Action> {
        match c.access {
            Access::Admin if !self.admin => return vec![reply(self.p("bot.admin_only"))],
            Access::User if self.user.is_none() && !self.admin => return vec![reply(self.p("bot.bind_hint"))],
            _ => {}
        }
        let role = if self.admin {
            "admin"
        } else if self.user.is_some() {
            "user"
        } else {
            "guest"
        };
        let user = self.user.as_ref().map(|u| u.value.id.clone());
        self.run = Some(Run { command: c.name.clone(), args: args.to_owned(), user, role, locale: self.locale });
        Vec::new()
    }

    /// The host's commands this person may see: all but the admins' unless an admin.
    fn host_commands(&self) -> impl Iterator<Item = &HostCommand> {
        self.commands.iter().filter(|c| c.access != Access::Admin || self.admin)
    }

    fn help(&self) -> String {
        let mut names = crate::domain::chat::COMMANDS.to_vec();
        if self.admin {
            names.extend(crate::domain::chat::ADMIN_COMMANDS);
        }
        let mut lines: Vec<String> = names.iter().map(|c| format!("/{c} — {}", self.p(&format!("bot.cmd.{c}")))).collect();
        lines.extend(self.host_commands().map(|c| {
            let args = c.args.as_ref().map(|a| format!(" <{}>", a.get(self.locale))).unwrap_or_default();
            format!("/{}{args} — {}", c.name, c.description.get(self.locale))
        }));
        format!("{}\n{}", self.p("bot.help"), lines.join("\n"))
    }

    async fn bind(&mut self, code: &str) -> Result<Vec<Action>, Error> {
        let on = self.conf.binding.clone();
        let from = self.inbound.from.id.clone();
        let code = code.trim();
        if code.is_empty() || code.len() > 64 || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Ok(vec![reply(self.p("bot.bind_invalid"))]);
        }
        if let Some(u) = &self.user {
            // Bound already: this code is not spent on a second binding of the same account.
            return Ok(vec![reply(self.pw("bot.bind_same", params! {"user" => Self::user_label(&u.value)}))]);
        }
        let Some(user_id) = self.app.repo.take_bind_code(code).await? else {
            return Ok(vec![reply(self.p("bot.bind_invalid"))]);
        };
        for _ in 0..3 {
            let Some(current) = self.app.repo.user(&user_id).await? else {
                return Ok(vec![reply(self.p("bot.bind_invalid"))]);
            };
            let mut u = current.value.clone();
            let old = u.ids.insert(on.clone(), from.clone());
            u.unreachable.remove(&on);
            u.updated_at = self.app.now();
            match self.app.repo.save_user(&u, Some(&current)).await {
                Ok(()) => {
                    self.locale = u.locale.unwrap_or(self.locale);
                    let label = Self::user_label(&u);
                    let mut out = Vec::new();
                    match old {
                        Some(old) if old != from => {
                            out.push(reply(self.pw("bot.bound_replaced", params! {"user" => label, "platform" => self.platform(), "old" => old})));
                            out.push(Action::Tell {
                                chat: old,
                                text: self.pw("bot.replaced_here", params! {"user" => label, "platform" => self.platform()}),
                            });
                        }
                        _ => out.push(reply(self.pw("bot.bound", params! {"user" => label}))),
                    }
                    return Ok(out);
                }
                Err(BindError::Taken { .. }) => return Ok(vec![reply(self.pw("bot.bind_taken", params! {"platform" => self.platform()}))]),
                Err(BindError::Store(StoreError::ConditionFailed)) => continue,
                Err(BindError::Store(e)) => return Err(e.into()),
            }
        }
        Err(Error::Conflict("the user changed concurrently".into()))
    }

    fn my(&self) -> Result<Action, Error> {
        let Some(u) = &self.user else { return Ok(reply(self.p("bot.bind_hint"))) };
        let u = &u.value;
        let tz = self.settings.tz().unwrap_or(jiff::tz::TimeZone::UTC);
        let now = self.app.now();
        let expires = match u.expires_at {
            None => "-".to_owned(),
            Some(t) => {
                let date = t.to_zoned_datetime(tz.clone()).date().to_string();
                if t <= now {
                    self.pw("bot.expired_on", params! {"date" => date})
                } else {
                    // Local days, midnight to midnight in the deployment's zone (as reminders count).
                    let today = now.to_zoned_datetime(tz.clone()).date();
                    let days = today.until(t.to_zoned_datetime(tz.clone()).date()).map(|s| s.get_days()).unwrap_or(0).max(0);
                    self.pw("bot.days_left", params! {"date" => date, "days" => days})
                }
            }
        };
        let traffic = match (u.traffic_used, u.traffic_total) {
            (Some(used), Some(total)) => format!("{} / {} ({}%)", human_bytes(used), human_bytes(total), u.traffic_percent().unwrap_or(0)),
            (Some(used), None) => human_bytes(used),
            _ => "-".to_owned(),
        };
        let text = self.pw(
            "bot.my",
            params! {
                "user" => Self::user_label(u),
                "plan" => u.plan.clone().unwrap_or_else(|| "-".into()),
                "expires" => expires,
                "traffic" => traffic,
                "rewards" => format!("{} {}", u.rewards, self.settings.checkin.unit),
            },
        );
        Ok(reply(text))
    }

    async fn checkin(&mut self) -> Result<String, Error> {
        let Some(mut current) = self.user.clone() else { return Ok(self.p("bot.bind_hint")) };
        let c = &self.settings.checkin;
        if !c.enabled {
            return Ok(self.p("bot.checkin_off"));
        }
        let day = self.app.repo.local_day(self.app.now()).to_string();
        let span = (c.max - c.min).max(0) as u64 + 1;
        let roll = u64::from_le_bytes(crate::domain::ids::random_bytes::<8>());
        let reward = c.min + (roll % span) as i64;
        for _ in 0..3 {
            match self.app.repo.check_in(&current, &day, reward).await {
                Ok(Some(updated)) => {
                    self.app.repo.bump(&day, "checkins", 1).await?;
                    return Ok(self.pw("bot.checked_in", params! {"reward" => reward, "unit" => c.unit, "total" => updated.rewards}));
                }
                Ok(None) => return Ok(self.p("bot.already")),
                Err(StoreError::ConditionFailed) => match self.app.repo.user(&current.value.id).await? {
                    Some(u) => current = u,
                    None => return Ok(self.p("bot.bind_hint")),
                },
                Err(e) => return Err(e.into()),
            }
        }
        Err(Error::Conflict("the user changed concurrently".into()))
    }

    async fn unbind_ask(&mut self, arg: &str) -> Result<Vec<Action>, Error> {
        let Some(u) = &self.user else { return Ok(vec![reply(self.p("bot.bind_hint"))]) };
        if self.conf.buttons {
            let buttons = vec![vec![Button::data(self.p("bot.yes_unbind"), "ub:y"), Button::data(self.p("bot.no"), "ub:n")]];
            let text = self.pw("bot.unbind_ask", params! {"user" => Self::user_label(&u.value)});
            return Ok(vec![Action::buttons(text, buttons, None)]);
        }
        if arg.eq_ignore_ascii_case("yes") {
            return self.unbind(None).await;
        }
        Ok(vec![reply(format!("{}\n{}", self.pw("bot.unbind_ask", params! {"user" => Self::user_label(&u.value)}), self.p("bot.unbind_confirm")))])
    }

    async fn unbind(&mut self, edit: Option<String>) -> Result<Vec<Action>, Error> {
        let on = self.conf.binding.clone();
        for _ in 0..3 {
            let Some(current) = self.user.clone() else { return Ok(vec![reply(self.p("bot.bind_hint"))]) };
            let mut u = current.value.clone();
            u.ids.remove(&on);
            u.unreachable.remove(&on);
            u.updated_at = self.app.now();
            match self.app.repo.save_user(&u, Some(&current)).await {
                Ok(()) => {
                    let mut out = vec![Action::buttons(self.p("bot.unbound"), Vec::new(), edit)];
                    if self.conf.bound_only
                        && let Some(g) = &self.conf.group
                    {
                        out.push(Action::Remove { chat: g.clone(), user: self.inbound.from.id.clone() });
                    }
                    self.user = None;
                    return Ok(out);
                }
                Err(BindError::Store(StoreError::ConditionFailed)) => self.user = self.app.repo.user(&current.value.id).await?,
                Err(BindError::Store(e)) => return Err(e.into()),
                Err(BindError::Taken { .. }) => return Err(Error::Conflict("binding changed".into())),
            }
        }
        Err(Error::Conflict("the user changed concurrently".into()))
    }

    async fn status(&self) -> Result<String, Error> {
        let s = crate::jobs::status(self.app).await?;
        let today = |k: &str| s.today.get(k).copied().unwrap_or(0);
        Ok(self.pw(
            "bot.status",
            params! {
                "online" => s.nodes.online, "offline" => s.nodes.offline, "blocked" => s.nodes.blocked, "total" => s.nodes.total,
                "waiting" => s.queue.waiting, "in_flight" => s.queue.in_flight, "dead" => s.queue.dead,
                "sent" => today("sent"), "failed" => today("failed"),
            },
        ))
    }

    /// The types a user may switch, in a stable order (buttons carry an index: callback data is
    /// at most 64 bytes).
    fn switchable_types(&self) -> Vec<String> {
        let mut types: Vec<String> = BUILT_IN_TYPES.iter().map(|(t, _)| t.to_string()).filter(|t| t != "system").collect();
        types.extend(self.settings.routes.keys().filter(|t| *t != "system").cloned());
        types.sort();
        types.dedup();
        types
    }

    fn menu(&self, edit: Option<String>) -> Action {
        if !self.conf.buttons {
            let more: Vec<String> = self.host_commands().map(|c| format!("/{} — {}", c.name, c.description.get(self.locale))).collect();
            return match more.is_empty() {
                true => reply(self.p("bot.menu_text")),
                false => reply(format!("{}\n{}\n{}", self.p("bot.menu_text"), self.p("bot.menu_more"), more.join("\n"))),
            };
        }
        if self.user.is_none() {
            return Action::buttons(self.p("bot.bind_hint"), Vec::new(), edit);
        }
        let b = |key: &str, data: &str| vec![Button::data(self.p(key), data)];
        let mut buttons = vec![b("bot.menu.my", "m:my"), b("bot.menu.checkin", "ci"), b("bot.menu.prefs", "m:prefs"), b("bot.menu.unbind", "m:ub")];
        // The host's commands, two to a row, each pressing as if typed.
        let host: Vec<Button> = self.host_commands().map(|c| Button::data(c.description.get(self.locale), format!("/{}", c.name))).collect();
        buttons.extend(host.chunks(2).map(<[Button]>::to_vec));
        Action::buttons(self.p("bot.menu"), buttons, edit)
    }

    fn prefs(&self, edit: Option<String>) -> Action {
        let disabled = self.user.as_ref().map(|u| u.value.preferences.disabled_types.clone()).unwrap_or_default();
        let mut buttons: Vec<Vec<Button>> = self
            .switchable_types()
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let on = !disabled.contains(t);
                vec![Button::data(format!("{} {t}", if on { "✅" } else { "⬜" }), format!("p:{i}"))]
            })
            .collect();
        buttons.push(vec![Button::data(self.p("bot.menu.back"), "m:")]);
        Action::buttons(self.p("bot.prefs"), buttons, edit)
    }

    async fn toggle(&mut self, index: usize) -> Result<Option<String>, Error> {
        let Some(ty) = self.switchable_types().get(index).cloned() else { return Ok(None) };
        for _ in 0..3 {
            let Some(current) = self.user.clone() else { return Ok(None) };
            let mut u = current.value.clone();
            let on = if let Some(i) = u.preferences.disabled_types.iter().position(|t| *t == ty) {
                u.preferences.disabled_types.remove(i);
                true
            } else {
                u.preferences.disabled_types.push(ty.clone());
                false
            };
            u.updated_at = self.app.now();
            match self.app.repo.save_user(&u, Some(&current)).await {
                Ok(()) => {
                    self.user = Some(Versioned { value: u, rev: current.rev + 1 });
                    return Ok(Some(self.pw(if on { "bot.pref_on" } else { "bot.pref_off" }, params! {"type" => ty})));
                }
                Err(BindError::Store(StoreError::ConditionFailed)) => self.user = self.app.repo.user(&current.value.id).await?,
                Err(BindError::Store(e)) => return Err(e.into()),
                Err(BindError::Taken { .. }) => return Ok(None),
            }
        }
        Ok(None)
    }

    /// Whether the account may be shown in this chat: a private chat, or the configured group
    /// (whether asked by `/my` or by the menu's button).
    fn account_shown_here(&self) -> bool {
        !self.inbound.group || self.conf.group.as_deref() == Some(self.inbound.chat.as_str())
    }

    async fn button(&mut self, id: &str, data: &str, message: Option<String>) -> Result<Vec<Action>, Error> {
        let answer = |text: Option<String>, alert: bool| Action::Answer { id: id.to_owned(), text, alert };
        // A command button (a host reply's, or the menu's host commands): run as if typed, with
        // who may run it checked as for typed text.
        let typed = match data.strip_prefix("h:") {
            Some(kept) => self.app.repo.host_button(kept).await?.map(|(c, a)| format!("/{c} {a}")),
            None => data.starts_with('/').then(|| data.to_owned()),
        };
        if let Some(line) = typed {
            let mut out = vec![answer(None, false)];
            out.extend(self.text(&line).await?);
            return Ok(out);
        }
        if data.starts_with("h:") {
            return Ok(vec![answer(Some(self.p("bot.expired_button")), true)]);
        }
        if self.user.is_none() && data != "ub:n" {
            return Ok(vec![answer(Some(self.p("bot.bind_hint")), true)]);
        }
        let out = match data {
            "m:" => vec![answer(None, false), self.menu(message)],
            "m:my" if !self.account_shown_here() => vec![answer(Some(self.p("bot.group_only")), true)],
            "m:my" => {
                let Action::Reply { text, .. } = self.my()? else { return Ok(vec![answer(None, false)]) };
                vec![answer(None, false), Action::buttons(text, vec![vec![Button::data(self.p("bot.menu.back"), "m:")]], message)]
            }
            "ci" => {
                let text = self.checkin().await?;
                vec![answer(Some(text), true)]
            }
            "m:prefs" => vec![answer(None, false), self.prefs(message)],
            "m:ub" | "ub" => {
                let label = self.user.as_ref().map(|u| Self::user_label(&u.value)).unwrap_or_default();
                let buttons = vec![vec![Button::data(self.p("bot.yes_unbind"), "ub:y"), Button::data(self.p("bot.no"), "ub:n")]];
                vec![answer(None, false), Action::buttons(self.pw("bot.unbind_ask", params! {"user" => label}), buttons, message)]
            }
            "ub:y" => {
                let mut out = vec![answer(None, false)];
                out.extend(self.unbind(message).await?);
                out
            }
            "ub:n" => vec![answer(None, false), Action::buttons(self.p("bot.kept"), Vec::new(), message)],
            p if p.starts_with("p:") => {
                let Some(i) = p[2..].parse::<usize>().ok() else { return Ok(vec![answer(None, false)]) };
                let said = self.toggle(i).await?;
                vec![answer(said, false), self.prefs(message)]
            }
            _ => vec![answer(None, false)],
        };
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_commands_as_telegram_writes_them() {
        assert_eq!(parse_command("/start abc"), Some(("start".into(), None, "abc".into())));
        assert_eq!(parse_command("/my@herald_bot"), Some(("my".into(), Some("herald_bot".into()), String::new())));
        assert_eq!(parse_command("  /Bind   X1  "), Some(("bind".into(), None, "X1".into())));
        assert_eq!(parse_command("hello"), None);
        assert_eq!(parse_command("/"), None);
    }
}
