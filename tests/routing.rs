//! Who gets what: the scope rules as a table of cases (scope × user has / lacks ids × channel
//! filter × preference off × quiet hours), run against the embedded store.

#![allow(clippy::unwrap_used)]

use herald::app::App;
use herald::domain::clock::ManualClock;
use herald::domain::notification::{DeliveryStatus, Notification, Target};
use herald::routing::plan::plan;
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
        p = herald::routing::plan::plan_more(&app.repo, &snap.channels, &snap.settings, &note, r, 2).await.unwrap();
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

/// Issue 24.1: what planning decided is checked again when a held delivery is sent: the
/// person switched the type off, was deleted, left the chat; the channel was disabled or no
/// longer carries the type; the type's route changed. Each is recorded `skipped` with why.
#[tokio::test]
async fn a_held_notice_is_skipped_if_planning_no_longer_holds_when_it_is_sent() {
    use herald_tests::servers::{Reply, TestServer};
    let clock = Arc::new(ManualClock::new(now())); // 20:00 in Shanghai
    let (_d, app) = herald_tests::embedded_app_with(clock.clone());
    let hook = TestServer::start(|_| Reply::ok("{}")).await;
    call(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": hook.url}}))).await;
    let quiet = json!({"start": "19:00", "end": "23:00", "time_zone": "Asia/Shanghai"});
    for u in ["off", "gone", "moved", "stays"] {
        call(&app, "PUT", &format!("/api/v1/users/{u}"), Some(json!({"ids": {"webhook": u}, "preferences": {"quiet_hours": quiet}}))).await;
    }
    let (status, v) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "announcement", "text": "held", "to": "all"}))).await;
    assert_eq!(status, 202, "{v}");
    let id = v["id"].as_str().unwrap().to_owned();
    // Before the hold ends: one switches announcements off, one is deleted, one is re-bound.
    call(&app, "PUT", "/api/v1/users/off", Some(json!({"preferences": {"disabled_types": ["announcement"], "quiet_hours": quiet}}))).await;
    assert_eq!(call(&app, "DELETE", "/api/v1/users/gone", None).await.0, 204);
    call(&app, "PUT", "/api/v1/users/moved", Some(json!({"ids": {"webhook": "elsewhere"}}))).await;
    // 23:00 in Shanghai: the sweeper releases all four; the dispatcher sends one.
    clock.set("2026-03-02T15:00:00Z".parse().unwrap());
    assert_eq!(herald::dispatch::sweep(&app).await.unwrap().0, 4);
    let d = herald::dispatch::Dispatcher::default();
    herald_tests::drain(&app, &d).await;
    let (_, n) = call(&app, "GET", &format!("/api/v1/notifications/{id}"), None).await;
    let mut got: Vec<(String, String, String)> = n["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (d["recipient"].as_str().unwrap().to_owned(), d["status"].as_str().unwrap().to_owned(), d["reason"].as_str().unwrap_or("").to_owned())
        })
        .collect();
    got.sort();
    let want = [
        ("gone", "skipped", "user gone was deleted"),
        ("moved", "skipped", "the user is no longer bound to this webhook chat"),
        ("off", "skipped", "the user switched this type off"),
        ("stays", "sent", ""),
        ("url", "sent", ""),
    ];
    assert_eq!(got, want.map(|(a, b, c)| (a.to_owned(), b.to_owned(), c.to_owned())));
    assert_eq!(hook.received().len(), 2);

    // The type's route, the channel's types, the channel itself: each changed while held.
    let changes = [
        (json!({"routes": {"announcement": "admin"}}), None, "announcement notifications no longer go to this recipient"),
        (json!({}), Some(json!({"types": ["node"]})), "channel hook no longer carries announcement notifications"),
        (json!({}), Some(json!({"enabled": false})), "channel hook is disabled"),
    ];
    for (settings, channel, reason) in changes {
        clock.set(now());
        let (_, v) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "announcement", "text": "held", "to": "all"}))).await;
        let id = v["id"].as_str().unwrap().to_owned();
        herald_tests::drain(&app, &d).await;
        assert_eq!(call(&app, "PUT", "/api/v1/settings", Some(settings)).await.0, 200);
        let mut body = json!({"kind": "webhook", "settings": {"url": hook.url}});
        for (k, v) in channel.iter().flat_map(|c| c.as_object().unwrap().clone()) {
            body[k] = v;
        }
        assert_eq!(call(&app, "PUT", "/api/v1/channels/hook", Some(body)).await.0, 200);
        clock.set("2026-03-02T15:00:00Z".parse().unwrap());
        herald::dispatch::sweep(&app).await.unwrap();
        herald_tests::drain(&app, &d).await;
        let (_, n) = call(&app, "GET", &format!("/api/v1/notifications/{id}"), None).await;
        let held = n["deliveries"].as_array().unwrap().iter().find(|d| d["recipient"] == "stays").unwrap().clone();
        assert_eq!((held["status"].as_str(), held["reason"].as_str()), (Some("skipped"), Some(reason)), "{n}");
        // Back as it was (a PUT keeps what it leaves out, so it says so).
        call(&app, "PUT", "/api/v1/channels/hook", Some(json!({"enabled": true, "types": []}))).await;
        call(&app, "PUT", "/api/v1/settings", Some(json!({"routes": null}))).await;
    }
}

/// Issue 24.1: quiet hours that begin after a notice was planned still hold it (deferrable
/// types) when it is sent.
#[tokio::test]
async fn quiet_hours_set_after_planning_hold_the_notice_when_it_is_sent() {
    use herald_tests::servers::{Reply, TestServer};
    let clock = Arc::new(ManualClock::new(now())); // 20:00 in Shanghai
    let (_d, app) = herald_tests::embedded_app_with(clock.clone());
    let hook = TestServer::start(|_| Reply::ok("{}")).await;
    call(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": hook.url}}))).await;
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"ids": {"webhook": "u1"}}))).await;
    let (_, v) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "announcement", "text": "x", "to": "all"}))).await;
    let id = v["id"].as_str().unwrap().to_owned();
    // Quiet hours switched on before the dispatcher gets to it.
    let quiet = json!({"start": "19:00", "end": "23:00", "time_zone": "Asia/Shanghai"});
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"preferences": {"quiet_hours": quiet}}))).await;
    let d = herald::dispatch::Dispatcher::default();
    herald_tests::drain(&app, &d).await;
    let (_, n) = call(&app, "GET", &format!("/api/v1/notifications/{id}"), None).await;
    let u1 = n["deliveries"].as_array().unwrap().iter().find(|d| d["recipient"] == "u1").unwrap().clone();
    assert_eq!((u1["status"].as_str(), u1["hold_until"].as_str()), (Some("queued"), Some("2026-03-02T15:00:00Z")), "{n}");
    clock.set("2026-03-02T15:00:00Z".parse().unwrap());
    assert_eq!(herald::dispatch::sweep(&app).await.unwrap().0, 1);
    herald_tests::drain(&app, &d).await;
    let (_, n) = call(&app, "GET", &format!("/api/v1/notifications/{id}"), None).await;
    assert!(n["deliveries"].as_array().unwrap().iter().all(|d| d["status"] == "sent"), "{n}");
}
