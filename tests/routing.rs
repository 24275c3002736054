//! Who gets what: the scope rules as a table of cases (scope × user has / lacks ids × channel
//! filter × preference off × quiet hours), run against the embedded store.

#![allow(clippy::unwrap_used)]

use herald::app::App;
use herald::clock::ManualClock;
use herald::domain::notification::{DeliveryStatus, Notification, Target};
use herald::routing::plan;
use herald_tests::call;
use serde_json::json;
use std::collections::BTreeSet;
use std::sync::Arc;

const BOT: &str = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11";

/// 2026-03-02 12:00 UTC = 20:00 in Shanghai.
fn now() -> jiff::Timestamp {
    "2026-03-02T12:00:00Z".parse().unwrap()
}

async fn world() -> (tempfile::TempDir, App) {
    let (dir, app) = herald_tests::embedded_app_with(Arc::new(ManualClock::new(now())));
    let put = |path: &str, body| {
        let app = &app;
        let path = path.to_owned();
        async move {
            let (status, resp) = call(app, "PUT", &path, Some(body)).await;
            assert!(status == 200 || status == 201, "{path}: {resp}");
        }
    };
    put("/api/v1/channels/tg", json!({"kind": "telegram", "settings": {"bot_token": BOT, "chat_id": "-1001"}})).await;
    put("/api/v1/channels/wc", json!({"kind": "wecom", "settings": {"corp_id": "ww1", "agent_id": 1000002, "secret": "s"}})).await;
    put("/api/v1/channels/ops", json!({"kind": "webhook", "types": ["node", "system", "daily_report"], "settings": {"url": "https://ops.test/h"}}))
        .await;
    put("/api/v1/channels/off", json!({"kind": "webhook", "enabled": false, "settings": {"url": "https://off.test/h"}})).await;
    put("/api/v1/settings", json!({"routes": {"download": "user,admin"}, "time_zone": "Asia/Shanghai"})).await;
    put("/api/v1/users/a1", json!({"role": "admin", "ids": {"telegram": "1", "wecom": "admin1"}})).await;
    put("/api/v1/users/a2", json!({"role": "admin", "ids": {"telegram": "2"}})).await;
    put("/api/v1/users/u1", json!({"ids": {"telegram": "11", "wecom": "zhang"}, "locale": "zh-CN"})).await;
    put("/api/v1/users/u2", json!({})).await;
    put("/api/v1/users/u3", json!({"ids": {"telegram": "13"}, "preferences": {"disabled_types": ["announcement", "account"]}})).await;
    // Quiet 19:00-07:00 Shanghai: it is 20:00 there.
    put(
        "/api/v1/users/u4",
        json!({"ids": {"telegram": "14"}, "preferences": {"quiet_hours": {"start": "19:00", "end": "07:00", "time_zone": "Asia/Shanghai"}}}),
    )
    .await;
    put("/api/v1/users/u5", json!({"ids": {"telegram": "15", "wecom": "li"}, "preferences": {"preferred_channel": "wc"}})).await;
    (dir, app)
}

fn n(ty: &str, to: Target, operator: Option<&str>) -> Notification {
    let mut n = Notification::text("N1".into(), ty, None, "x".into(), to, now());
    n.operator = operator.map(str::to_owned);
    n
}

fn user(id: &str) -> Target {
    Target::User(id.into())
}

async fn recipients(app: &App, n: &Notification) -> BTreeSet<String> {
    let snap = app.snapshot().await.unwrap();
    let p = plan(&app.repo, &snap.channels, &snap.settings, n, 10_000).await.unwrap();
    assert!(p.resume.is_none());
    p.deliveries
        .iter()
        .map(|d| match d.status {
            DeliveryStatus::Skipped => format!("skipped:{}", d.recipient),
            _ => format!("{}:{}", d.channel, d.recipient),
        })
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn scope_rules_decide_who_gets_what() {
    let (_d, app) = world().await;
    let admins = ["tg:1", "wc:admin1", "tg:2"];
    let cases: Vec<(&str, Notification, Vec<&str>)> = vec![
        ("user scope: the user on every channel they have an id on", n("account", user("u1"), None), vec!["tg:11", "wc:zhang"]),
        ("user scope: the operator when no user is named", n("account", Target::Admins, Some("u1")), vec!["tg:11", "wc:zhang"]),
        ("user scope: no ids anywhere -> the admins instead", n("account", user("u2"), None), admins.to_vec()),
        ("user scope: unknown user -> the admins instead", n("account", user("nobody"), None), admins.to_vec()),
        ("user scope: switched off -> skipped, no fallback", n("account", user("u3"), None), vec!["skipped:u3"]),
        ("user scope: preferred channel only", n("account", user("u5"), None), vec!["wc:li"]),
        (
            "admin scope: admins, the default group, channels carrying the type",
            n("node", Target::All, None),
            vec!["tg:1", "wc:admin1", "tg:2", "tg:-1001", "ops:url"],
        ),
        (
            "user,admin scope: the user and the admins and defaults (filters apply)",
            n("download", user("u1"), None),
            vec!["tg:11", "wc:zhang", "tg:1", "wc:admin1", "tg:2", "tg:-1001"],
        ),
        ("user,admin scope: an admin who is the user gets it once", n("download", user("a1"), None), vec!["tg:1", "wc:admin1", "tg:2", "tg:-1001"]),
        (
            // WeCom members who read the same language share one message (touser=a|b).
            "all scope: every reachable user who wants it, defaults once",
            n("announcement", Target::All, None),
            vec!["tg:1", "wc:admin1|li", "tg:2", "tg:11", "wc:zhang", "tg:14", "tg:-1001"],
        ),
        ("host type without a route: `to` decides (admins)", n("backup", Target::Admins, None), vec!["tg:1", "wc:admin1", "tg:2", "tg:-1001"]),
        ("host type without a route: `to` decides (user)", n("backup", user("u1"), None), vec!["tg:11", "wc:zhang"]),
    ];
    for (what, notification, want) in cases {
        assert_eq!(recipients(&app, &notification).await, set(&want), "{what}");
    }
}

#[tokio::test]
async fn fallback_deliveries_say_why() {
    let (_d, app) = world().await;
    let snap = app.snapshot().await.unwrap();
    let p = plan(&app.repo, &snap.channels, &snap.settings, &n("account", user("u2"), None), 100).await.unwrap();
    assert!(p.deliveries.iter().all(|d| d.note.as_deref() == Some("for user u2, who has no chat id on an enabled channel")));
    // Locale follows the recipient; defaults use the deployment's.
    let p = plan(&app.repo, &snap.channels, &snap.settings, &n("account", user("u1"), None), 100).await.unwrap();
    assert!(p.deliveries.iter().all(|d| d.locale == herald::domain::Locale::ZhCn));
}

#[tokio::test]
async fn quiet_hours_send_silently_or_hold_deferrable_types() {
    let (_d, app) = world().await;
    let snap = app.snapshot().await.unwrap();
    let p = plan(&app.repo, &snap.channels, &snap.settings, &n("account", user("u4"), None), 100).await.unwrap();
    let d = &p.deliveries[0];
    assert!(d.silent && d.hold_until.is_none());
    let p = plan(&app.repo, &snap.channels, &snap.settings, &n("announcement", Target::All, None), 100).await.unwrap();
    let held = p.deliveries.iter().find(|d| d.recipient == "14").unwrap();
    // Until 07:00 Shanghai = 23:00 UTC.
    assert_eq!(held.hold_until, Some("2026-03-02T23:00:00Z".parse().unwrap()));
    assert!(p.deliveries.iter().filter(|d| d.recipient != "14").all(|d| d.hold_until.is_none() && !d.silent));
}

#[tokio::test]
async fn an_all_fan_out_resumes_where_it_stopped() {
    let (_d, app) = world().await;
    let snap = app.snapshot().await.unwrap();
    let full: BTreeSet<String> = recipients(&app, &n("announcement", Target::All, None)).await;
    let note = n("announcement", Target::All, None);
    let mut got = BTreeSet::new();
    let mut p = plan(&app.repo, &snap.channels, &snap.settings, &note, 2).await.unwrap();
    let mut rounds = 1;
    loop {
        got.extend(p.deliveries.iter().map(|d| format!("{}:{}", d.channel, d.recipient)));
        let Some(r) = p.resume.take() else { break };
        p = herald::routing::plan_more(&app.repo, &snap.channels, &snap.settings, &note, r, 2).await.unwrap();
        rounds += 1;
    }
    assert!(rounds > 1);
    assert_eq!(got, full);
}

#[tokio::test]
async fn held_deliveries_go_out_when_quiet_hours_end() {
    let clock = Arc::new(ManualClock::new(now()));
    let (_d, app) = herald_tests::embedded_app_with(clock.clone());
    call(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": "https://h.test/x"}}))).await;
    call(
        &app,
        "PUT",
        "/api/v1/users/u4",
        Some(json!({"ids": {"webhook": "x"}, "preferences": {"quiet_hours": {"start": "19:00", "end": "07:00", "time_zone": "Asia/Shanghai"}}})),
    )
    .await;
    let (status, _) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "announcement", "text": "x", "to": "all"}))).await;
    assert_eq!(status, 202);
    // Only the channel's own destination is queued; u4's copy is held.
    assert_eq!(app.queue.depth().await.unwrap().waiting, 1);
    assert_eq!(herald::dispatch::sweep(&app).await.unwrap(), (0, 0));
    clock.advance(jiff::SignedDuration::from_hours(11));
    assert_eq!(herald::dispatch::sweep(&app).await.unwrap(), (1, 0));
    assert_eq!(app.queue.depth().await.unwrap().waiting, 2);
}
