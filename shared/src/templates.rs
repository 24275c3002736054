//! Built-in wording in every supported language (en, zh-CN). A template has a title and a text
//! with `{name}` placeholders; values are substituted as plain text, never as markup.

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
    ("node.online", "Node online", "Node {name} is back online after {downtime}.", "节点恢复在线", "节点 {name} 已恢复在线，离线时长 {downtime}。"),
    ("node.blocked", "Node blocked", "Node {name} is unreachable from {region}.", "节点被墙", "节点 {name} 在 {region} 无法访问。"),
    ("node.unblocked", "Node unblocked", "Node {name} is reachable again from {region}.", "节点恢复访问", "节点 {name} 在 {region} 已恢复访问。"),
    (
        "account.expiring",
        "Account expiring",
        "Your account expires in {days} days, on {date}.",
        "账户即将到期",
        "你的账户将在 {days} 天后（{date}）到期。",
    ),
    ("account.expired", "Account expired", "Your account expired on {date}.", "账户已到期", "你的账户已于 {date} 到期。"),
    (
        "account.traffic",
        "Traffic almost used up",
        "You have used {percent}% of your traffic ({used} of {total}).",
        "流量即将用尽",
        "你已使用 {percent}% 的流量（{used} / {total}）。",
    ),
    ("account.traffic_exhausted", "Traffic used up", "You have used all of your traffic ({total}).", "流量已用尽", "你的流量已全部用完（{total}）。"),
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
        "A {type} notification could not be sent to {recipient} on {channel}: {reason}",
        "通知发送失败",
        "{type} 通知无法通过 {channel} 发送给 {recipient}：{reason}",
    ),
    (
        "queue.dead_letters",
        "Dead letters waiting",
        "{count} messages are in the dead-letter queue. Redrive them with POST /api/v1/deadletters/redrive once the cause is fixed.",
        "死信队列有消息",
        "死信队列中有 {count} 条消息。修复原因后，用 POST /api/v1/deadletters/redrive 重新投递。",
    ),
];

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

fn fill(s: &str, params: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(s.len() + 32);
    let mut rest = s;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match params.get(name) {
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
    }

    #[test]
    fn humanises_sizes_and_durations() {
        assert_eq!(human_bytes(1536 * 1024 * 1024), "1.5 GB");
        assert_eq!(human_duration(7500, Locale::En), "2h 5m");
        assert_eq!(human_duration(30, Locale::En), "1m");
    }
}
