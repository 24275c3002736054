//! Built-in wording in every supported language (en, zh-CN). A template has a title and a text
//! with `{name}` placeholders; values are substituted as plain text, never as markup.
//!
//! Counts take the right plural: `{days|day|days}` is the singular when `days` is 1 (or -1) and
//! the plural otherwise, so English reads "1 day" and "3 days"; Chinese has no plural and writes
//! `{days} 天`.
//!
//! A personal notice that goes to the admins because its user cannot be reached (the fall-back
//! copy) is worded for the admins and names the user: [`render_for_admins`] uses the
//! `KEY.admin` entry when there is one, else the notice's own title with the user's name added.

use crate::domain::notification::Template;
use crate::domain::user::Locale;
use std::collections::BTreeMap;

/// (key, en title, en text, zh-CN title, zh-CN text)
type Entry = (&'static str, &'static str, &'static str, &'static str, &'static str);

const TABLE: &[Entry] = &[
    ("test", "Test message", "Herald can reach you here through channel {channel}.", "测试消息", "Herald 可以通过渠道 {channel} 给你发消息。"),
    ("node.added", "Node added", "Node {name} was added.", "节点已添加", "节点 {name} 已添加。"),
    ("node.updated", "Node updated", "Node {name} was updated: {changes}.", "节点已更新", "节点 {name} 已更新：{changes}。"),
    ("node.deleted", "Node deleted", "Node {name} was deleted.", "节点已删除", "节点 {name} 已删除。"),
    (
        "node.offline",
        "Node offline",
        "Node {name} is offline (last heartbeat {last_seen}).",
        "节点离线",
        "节点 {name} 已离线（最后心跳 {last_seen}）。",
    ),
    (
        "node.never_seen",
        "Node offline",
        "Node {name} has sent no heartbeat since it was added ({added}).",
        "节点离线",
        "节点 {name} 自添加（{added}）以来从未发送心跳。",
    ),
    ("node.online", "Node online", "Node {name} is back online after {downtime}.", "节点恢复在线", "节点 {name} 已恢复在线，离线时长 {downtime}。"),
    ("node.blocked", "Node blocked", "Node {name} is unreachable from {region}.", "节点被墙", "节点 {name} 在 {region} 无法访问。"),
    ("node.unblocked", "Node unblocked", "Node {name} is reachable again from {region}.", "节点恢复访问", "节点 {name} 在 {region} 已恢复访问。"),
    (
        "account.expiring",
        "Account expiring",
        "Your account expires in {days} {days|day|days}, on {date}.",
        "账户即将到期",
        "你的账户将在 {days} 天后（{date}）到期。",
    ),
    (
        "account.expiring.admin",
        "Account expiring: {user}",
        "The account of {user} expires in {days} {days|day|days}, on {date}.",
        "账户即将到期：{user}",
        "用户 {user} 的账户将在 {days} 天后（{date}）到期。",
    ),
    ("account.expired", "Account expired", "Your account expired on {date}.", "账户已到期", "你的账户已于 {date} 到期。"),
    (
        "account.expired.admin",
        "Account expired: {user}",
        "The account of {user} expired on {date}.",
        "账户已到期：{user}",
        "用户 {user} 的账户已于 {date} 到期。",
    ),
    (
        "account.traffic",
        "Traffic almost used up",
        "You have used {percent}% of your traffic ({used} of {total}).",
        "流量即将用尽",
        "你已使用 {percent}% 的流量（{used} / {total}）。",
    ),
    (
        "account.traffic.admin",
        "Traffic almost used up: {user}",
        "{user} has used {percent}% of their traffic ({used} of {total}).",
        "流量即将用尽：{user}",
        "用户 {user} 已使用 {percent}% 的流量（{used} / {total}）。",
    ),
    ("account.traffic_exhausted", "Traffic used up", "You have used all of your traffic ({total}).", "流量已用尽", "你的流量已全部用完（{total}）。"),
    (
        "account.traffic_exhausted.admin",
        "Traffic used up: {user}",
        "{user} has used all of their traffic ({total}).",
        "流量已用尽：{user}",
        "用户 {user} 的流量已全部用完（{total}）。",
    ),
    ("checkin.done", "Check-in", "User {user} checked in and earned {reward} {unit}.", "签到", "用户 {user} 签到，获得 {reward} {unit}。"),
    (
        "report.daily",
        "Daily report {date}",
        "Users: {users} (+{new_users} new)\nCheck-ins: {checkins}\nNodes: {nodes_online} online, {nodes_offline} offline{downtime}\nNotifications: {sent} sent, {failed} failed{reasons}",
        "每日报告 {date}",
        "用户：{users}（新增 {new_users}）\n签到：{checkins}\n节点：{nodes_online} 在线，{nodes_offline} 离线{downtime}\n通知：成功 {sent}，失败 {failed}{reasons}",
    ),
    (
        "delivery.failed",
        "Delivery failed",
        "A notification of type {type} could not be sent to {recipient} on {channel}: {reason}",
        "通知发送失败",
        "{type} 通知无法通过 {channel} 发送给 {recipient}：{reason}",
    ),
    (
        "telegram.topic_stale",
        "Forum topic gone",
        "Channel {channel}: forum topic {topic} for {type} notifications no longer exists; they go to the group without a topic until the channel's topics are updated.",
        "论坛话题已删除",
        "渠道 {channel}：{type} 通知的论坛话题 {topic} 已不存在；在更新渠道的 topics 之前，这类通知将直接发到群里。",
    ),
    (
        "queue.dead_letters",
        "Dead letters waiting",
        "{count} {count|message is|messages are} in the dead-letter queue. Once the cause is fixed, send {count|it|them} again: Redrive in the console's Messages, or POST /api/v1/deadletters/redrive.",
        "死信队列有消息",
        "死信队列中有 {count} 条消息。修复原因后重新投递：控制台“消息”页的“重新投递”，或 POST /api/v1/deadletters/redrive。",
    ),
    (
        "command.failed",
        "Command failed: /{command}",
        "/{command} on {platform} could not be answered: {reason}. The person was told it did not work.",
        "命令失败：/{command}",
        "{platform} 上的 /{command} 未能得到回复：{reason}。已告知用户未能完成。",
    ),
];

/// The bot's words: (key, en, zh-CN).
const PHRASES: &[(&str, &str, &str)] = &[
    ("bot.open_link", "Open", "打开"),
    ("webpush.title", "Notification", "通知"),
    ("bot.cmd.start", "Start", "开始"),
    ("bot.cmd.help", "Show the commands", "查看命令"),
    ("bot.cmd.menu", "Your menu", "我的菜单"),
    ("bot.cmd.my", "Your account", "我的账户"),
    ("bot.cmd.checkin", "Daily check-in", "每日签到"),
    ("bot.cmd.bind", "Bind your account: /bind CODE", "绑定账户：/bind 绑定码"),
    ("bot.cmd.unbind", "Unbind this chat account", "解除绑定"),
    ("bot.cmd.ping", "Your user and chat id", "查看用户和会话 ID"),
    ("bot.cmd.status", "Service status (admins)", "服务状态（管理员）"),
    ("bot.cmd.broadcast", "Announce to everyone (admins)", "群发公告（管理员）"),
    ("bot.welcome", "Hello {name}! Send /help to see what I can do.", "你好 {name}！发送 /help 查看可用命令。"),
    ("bot.hint", "Send /help to see what I can do.", "发送 /help 查看可用命令。"),
    (
        "bot.bind_hint",
        "Your account is not bound yet. Get a code from the panel and send /bind CODE.",
        "你的账户尚未绑定。请在面板获取绑定码，然后发送 /bind 绑定码。",
    ),
    ("bot.bind_usage", "Send /bind CODE with the code from the panel.", "请发送 /bind 绑定码（绑定码在面板获取）。"),
    ("bot.bind_invalid", "This code is invalid or has expired. Get a new one from the panel.", "绑定码无效或已过期，请在面板重新获取。"),
    (
        "bot.bind_taken",
        "This {platform} account is already bound to another account. Send /unbind first.",
        "该{platform}账户已绑定其他账户，请先发送 /unbind 解绑。",
    ),
    ("bot.bind_same", "This account is already bound to {user}.", "该账户已绑定 {user}。"),
    ("bot.bound", "Bound to {user}. Your notifications will come here.", "已绑定 {user}，之后的通知会发到这里。"),
    (
        "bot.bound_replaced",
        "Bound to {user}. This replaces the {platform} account bound before ({old}).",
        "已绑定 {user}，替换了之前绑定的{platform}账户（{old}）。",
    ),
    (
        "bot.replaced_here",
        "This chat is no longer bound to {user}: another {platform} account was bound in its place.",
        "此会话已不再绑定 {user}：已有另一个{platform}账户替代绑定。",
    ),
    (
        "bot.unbind_ask",
        "Unbind this account from {user}? Notifications will stop coming here.",
        "确定解除与 {user} 的绑定？之后将不再在这里收到通知。",
    ),
    ("bot.unbind_confirm", "Send /unbind yes to confirm.", "发送 /unbind yes 确认。"),
    ("bot.unbound", "Unbound. Bind again any time with /bind CODE.", "已解除绑定。随时可以用 /bind 绑定码 重新绑定。"),
    ("bot.kept", "Nothing changed.", "未做更改。"),
    ("bot.yes_unbind", "Yes, unbind", "确认解绑"),
    ("bot.no", "No", "取消"),
    ("bot.menu", "What would you like to do?", "请选择："),
    ("bot.menu.my", "My account", "我的账户"),
    ("bot.menu.checkin", "Check in", "签到"),
    ("bot.menu.prefs", "Notifications", "通知设置"),
    ("bot.menu.unbind", "Unbind", "解除绑定"),
    ("bot.menu.back", "Back", "返回"),
    ("bot.menu_text", "Commands: /my /checkin /unbind /help", "可用命令：/my /checkin /unbind /help"),
    ("bot.prefs", "Tap a type to switch it on or off:", "点击类型切换开关："),
    ("bot.pref_on", "{type}: on", "{type}：开启"),
    ("bot.pref_off", "{type}: off", "{type}：关闭"),
    (
        "bot.my",
        "{user}\nPlan: {plan}\nExpires: {expires}\nTraffic: {traffic}\nCheck-in rewards: {rewards}",
        "{user}\n套餐：{plan}\n到期：{expires}\n流量：{traffic}\n签到奖励：{rewards}",
    ),
    ("bot.days_left", "{date} ({days} {days|day|days} left)", "{date}（剩余 {days} 天）"),
    ("bot.expired_on", "{date} (expired)", "{date}（已过期）"),
    ("bot.checked_in", "Checked in: +{reward} {unit}. Total {total} {unit}.", "签到成功：+{reward} {unit}，累计 {total} {unit}。"),
    ("bot.already", "You have already checked in today.", "今天已经签到过了。"),
    ("bot.checkin_off", "Check-in is turned off.", "签到功能已关闭。"),
    ("bot.not_whitelisted", "You are not on this bot's user whitelist.", "你不在用户白名单中，无法使用此机器人"),
    ("bot.admin_only", "Only administrators may run this command.", "只有管理员才有权限执行此命令"),
    ("bot.menu_denied", "You may not run menu commands.", "用户无权限执行菜单命令"),
    ("bot.expired_button", "This button has expired.", "此按钮已失效。"),
    ("bot.working", "Working on it…", "正在处理…"),
    ("bot.host_failed", "Sorry, that did not work. Please try again later.", "抱歉，操作未能完成，请稍后再试。"),
    ("bot.choose", "Reply with a number to choose.", "回复数字进行选择。"),
    ("bot.menu_more", "More commands:", "更多命令："),
    ("bot.menu.more", "More", "更多"),
    ("bot.unknown", "Unknown command. Send /help.", "未知命令，发送 /help 查看帮助。"),
    ("bot.help", "Commands:", "可用命令："),
    ("bot.ping", "Your id: {user}\nThis chat: {chat}", "你的 ID：{user}\n当前会话：{chat}"),
    ("bot.group_only", "/my works in the official group only.", "/my 只能在官方群组中使用。"),
    (
        "bot.removed",
        "{name} has not bound an account and will be removed. Bind it in a private chat with me, then come back.",
        "{name} 未绑定账户，将被移出群组。请私聊我完成绑定后再加入。",
    ),
    (
        "bot.status",
        "Nodes: {online} online, {offline} offline, {blocked} blocked ({total} in all)\nQueue: {waiting} waiting, {in_flight} in flight, {dead} dead letters\nToday: {sent} sent, {failed} failed",
        "节点：{online} 在线，{offline} 离线，{blocked} 被墙（共 {total}）\n队列：{waiting} 等待，{in_flight} 发送中，{dead} 死信\n今日：成功 {sent}，失败 {failed}",
    ),
    ("bot.broadcast_usage", "Send /broadcast followed by the text.", "请发送 /broadcast 加上公告内容。"),
    ("bot.broadcast_done", "Queued for {count} {count|recipient|recipients}.", "已加入队列，共 {count} 个接收者。"),
    ("platform.telegram", "Telegram", "Telegram "),
    ("fallback.title", "{title} (for {user})", "{title}（用户 {user}）"),
    ("fallback.untitled", "For {user}", "用户 {user} 的通知"),
    ("platform.wecom", "WeCom", "企业微信"),
    ("platform.slack", "Slack", "Slack "),
    ("platform.discord", "Discord", "Discord "),
    ("platform.synology", "Synology Chat", "Synology Chat "),
    ("platform.vocechat", "VoceChat", "VoceChat "),
    ("platform.webpush", "Web Push", "网页推送"),
    ("platform.webhook", "webhook", "Webhook "),
];

/// A phrase of the bot in `locale`, with `params` filled in.
pub fn phrase_with(key: &str, params: &BTreeMap<String, String>, locale: Locale) -> String {
    match PHRASES.iter().find(|p| p.0 == key) {
        Some((_, en, zh)) => fill(if locale == Locale::ZhCn { zh } else { en }, params),
        None => key.to_owned(),
    }
}

pub fn phrase(key: &str, locale: Locale) -> String {
    phrase_with(key, &BTreeMap::new(), locale)
}

/// The title and text of `key` in `locale` (falling back to en), with `params` filled in.
pub fn render(key: &str, params: &BTreeMap<String, String>, locale: Locale) -> (String, String) {
    let Some(e) = TABLE.iter().find(|e| e.0 == key) else {
        return (key.to_owned(), params.values().cloned().collect::<Vec<_>>().join(" "));
    };
    let (title, text) = match locale {
        Locale::En => (e.1, e.2),
        Locale::ZhCn => (e.3, e.4),
    };
    (fill(title, params), fill(text, params))
}

pub fn render_template(t: &Template, locale: Locale) -> (String, String) {
    render(&t.key, &t.params, locale)
}

/// The admins' copy of a personal template: `KEY.admin` with `user` (the person's label) added
/// when that entry exists, else the template itself with the user named in the title.
pub fn render_for_admins(t: &Template, user: &str, locale: Locale) -> (String, String) {
    let admin_key = format!("{}.admin", t.key);
    if TABLE.iter().any(|e| e.0 == admin_key) {
        let mut params = t.params.clone();
        params.insert("user".into(), user.to_owned());
        return render(&admin_key, &params, locale);
    }
    let (title, text) = render_template(t, locale);
    (admin_title(Some(&title), user, locale), text)
}

/// A title naming the user an admins' copy is for (`None`: the notice had no title).
pub fn admin_title(title: Option<&str>, user: &str, locale: Locale) -> String {
    match title.filter(|t| !t.is_empty()) {
        Some(t) => phrase_with("fallback.title", &crate::params! {"title" => t, "user" => user}, locale),
        None => phrase_with("fallback.untitled", &crate::params! {"user" => user}, locale),
    }
}

/// `{name|one|other}`: `one` when the value of `name` is 1 or -1, else `other`; `None` when
/// `name` has no value (the placeholder then stays as written).
fn plural<'a>(spec: &'a str, params: &BTreeMap<String, String>) -> Option<&'a str> {
    let mut parts = spec.splitn(3, '|');
    let (name, one, other) = (parts.next()?, parts.next()?, parts.next()?);
    let n: i64 = params.get(name)?.trim().parse().ok()?;
    Some(if n.abs() == 1 { one } else { other })
}

fn fill(s: &str, params: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len() + 32);
    let mut rest = s;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match params.get(name).map(String::as_str).or_else(|| plural(name, params)) {
                    Some(v) => out.push_str(v),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// `params!{"name" => value, ...}` for templates.
#[macro_export]
macro_rules! params {
    ($($k:expr => $v:expr),* $(,)?) => {{
        let mut m = std::collections::BTreeMap::<String, String>::new();
        $( m.insert($k.to_string(), $v.to_string()); )*
        m
    }};
}

/// Bytes as people read them (1.5 GB).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 { format!("{n} B") } else { format!("{v:.1} {}", UNITS[unit]) }
}

/// A duration as people read it (2h 5m).
pub fn human_duration(secs: i64, locale: Locale) -> String {
    let (d, h, m) = (secs / 86_400, (secs % 86_400) / 3600, (secs % 3600) / 60);
    let (ud, uh, um) = match locale {
        Locale::En => ("d", "h", "m"),
        Locale::ZhCn => ("天", "小时", "分钟"),
    };
    match (d, h) {
        (0, 0) => format!("{}{um}", m.max(if secs > 0 { 1 } else { 0 })),
        (0, _) => format!("{h}{uh} {m}{um}"),
        _ => format!("{d}{ud} {h}{uh}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_in_the_locale_and_falls_back_to_english() {
        let p = params! {"name" => "hk-1"};
        assert_eq!(render("node.added", &p, Locale::ZhCn), ("节点已添加".into(), "节点 hk-1 已添加。".into()));
        assert_eq!(render("node.added", &p, Locale::En).1, "Node hk-1 was added.");
    }

    #[test]
    fn values_are_inserted_verbatim_and_unknown_placeholders_stay() {
        let p = params! {"name" => "<b>{x}</b>"};
        assert_eq!(render("node.added", &p, Locale::En).1, "Node <b>{x}</b> was added.");
        assert_eq!(fill("{a} {b", &params! {"a" => 1}), "1 {b");
    }

    #[test]
    fn every_entry_has_both_languages() {
        for e in TABLE {
            assert!(!e.1.is_empty() && !e.2.is_empty() && !e.3.is_empty() && !e.4.is_empty(), "{}", e.0);
        }
        for p in PHRASES {
            assert!(!p.1.is_empty() && !p.2.is_empty(), "{}", p.0);
        }
        assert_eq!(phrase("bot.no", Locale::ZhCn), "取消");
    }

    /// The values a template text uses: `{name}`, and `{name|one|other}` (a plural word chosen
    /// by `name`, which a language without plurals leaves out) as `name`.
    fn placeholders(s: &str) -> std::collections::BTreeSet<&str> {
        s.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(spec, _)| spec.split('|').next().unwrap_or(spec))).collect()
    }

    /// A placeholder only one language has would show as `{name}` in the other, or drop a value.
    #[test]
    fn zh_and_en_carry_the_same_placeholders() {
        assert_eq!(placeholders("{a} and {b}, {a} {b|thing|things}"), ["a", "b"].into());
        for (key, en_title, en_text, zh_title, zh_text) in TABLE {
            assert_eq!(placeholders(en_title), placeholders(zh_title), "{key}: title");
            assert_eq!(placeholders(en_text), placeholders(zh_text), "{key}: text");
        }
        for (key, en, zh) in PHRASES {
            assert_eq!(placeholders(en), placeholders(zh), "{key}");
        }
    }

    #[test]
    fn counts_take_the_right_plural_in_both_languages() {
        let one = params! {"days" => 1, "date" => "2026-11-24"};
        let three = params! {"days" => 3, "date" => "2026-11-26"};
        assert_eq!(render("account.expiring", &one, Locale::En).1, "Your account expires in 1 day, on 2026-11-24.");
        assert_eq!(render("account.expiring", &three, Locale::En).1, "Your account expires in 3 days, on 2026-11-26.");
        assert_eq!(render("account.expiring", &one, Locale::ZhCn).1, "你的账户将在 1 天后（2026-11-24）到期。");
        assert_eq!(phrase_with("bot.days_left", &one, Locale::En), "2026-11-24 (1 day left)");
        assert_eq!(phrase_with("bot.broadcast_done", &params! {"count" => 1}, Locale::En), "Queued for 1 recipient.");
        assert_eq!(render("queue.dead_letters", &params! {"count" => 2}, Locale::En).1.split(" in ").next(), Some("2 messages are"));
        // No English text is left with a bare "{n} days"-style count.
        for e in TABLE.iter().map(|e| e.2).chain(PHRASES.iter().map(|p| p.1)) {
            for word in ["days", "messages", "recipients"] {
                assert!(!e.contains(&format!("}} {word}")), "{e}");
            }
        }
    }

    #[test]
    fn the_admins_copy_names_the_user_in_both_languages() {
        let t = Template { key: "account.expiring".into(), params: params! {"days" => 1, "date" => "2026-11-24"} };
        assert_eq!(
            render_for_admins(&t, "Zhang (u1)", Locale::En),
            ("Account expiring: Zhang (u1)".into(), "The account of Zhang (u1) expires in 1 day, on 2026-11-24.".into())
        );
        assert_eq!(render_for_admins(&t, "u1", Locale::ZhCn).1, "用户 u1 的账户将在 1 天后（2026-11-24）到期。");
        // A template without an admin wording keeps its text and names the user in the title.
        let t = Template { key: "node.added".into(), params: params! {"name" => "hk"} };
        assert_eq!(render_for_admins(&t, "u1", Locale::En), ("Node added (for u1)".into(), "Node hk was added.".into()));
        assert_eq!(admin_title(None, "u1", Locale::ZhCn), "用户 u1 的通知");
        for e in TABLE.iter().filter(|e| e.0.ends_with(".admin")) {
            assert!(e.1.contains("{user}") && e.2.contains("{user}") && e.3.contains("{user}") && e.4.contains("{user}"), "{}", e.0);
        }
    }

    #[test]
    fn humanises_sizes_and_durations() {
        assert_eq!(human_bytes(1536 * 1024 * 1024), "1.5 GB");
        assert_eq!(human_duration(7500, Locale::En), "2h 5m");
        assert_eq!(human_duration(30, Locale::En), "1m");
    }
}
