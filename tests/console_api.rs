//! The API routes the admin console reads (and any client may): the notification list with its
//! filters and cursor, the per-day delivery counts by kind and status with each channel's last
//! outcome, users found by name, the channels' callback URLs, and the console's own files with
//! their headers. On the embedded store and, when the emulator is there, on DynamoDB.

#![allow(clippy::unwrap_used)]

use herald::app::App;
use herald::dispatch::Dispatcher;
use herald::domain::ids::new_id;
use herald::domain::notification::{Notification, Target};
use herald::store::repo::utc_day;
use herald::store::{Cond, IndexKey, Item};
use herald_tests::servers::{Reply, TestServer};
use herald_tests::{call, drain, embedded_app, request};
use serde_json::{Value, json};

async fn scenario(app: &App) {
    let ok = TestServer::start(|_| Reply::ok("{}")).await;
    let refused = TestServer::start(|_| Reply::status(400)).await;
    for (name, url) in [("hook", &ok.url), ("bad", &refused.url)] {
        let (s, _) = call(app, "PUT", &format!("/api/v1/channels/{name}"), Some(json!({"kind": "webhook", "settings": {"url": url}}))).await;
        assert_eq!(s, 201);
    }
    // The console's channel list has no callback URL for a webhook (it receives nothing); a
    // Synology channel's is where its outgoing webhook posts.
    // Where Herald is, told by the request's host (as behind API Gateway).
    let mut req = request(
        "PUT",
        "/api/v1/channels/nas",
        Some(
            json!({"kind": "synology", "enabled": false, "settings": {"incoming_url": "https://nas.test/webapi/entry.cgi?token=x", "outgoing_token": "an-outgoing-token-0123"}}),
        ),
    );
    req.headers.insert("host", "herald.test".parse().unwrap());
    req.headers.insert("x-forwarded-proto", "https".parse().unwrap());
    let resp = herald::edge::router::route(app, req).await;
    let syn: Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(syn["callback_url"], "https://herald.test/callback/synology?source=nas", "{syn}");
    let (_, list) = call(app, "GET", "/api/v1/channels", None).await;
    assert!(list["channels"].as_array().unwrap().iter().filter(|c| c["kind"] == "webhook").all(|c| c.get("callback_url").is_none()), "{list}");

    for (name, user) in [("Ada Lovelace", "u1"), ("adam", "u2"), ("Bob", "u3")] {
        call(app, "PUT", &format!("/api/v1/users/{user}"), Some(json!({"name": name}))).await;
    }
    // Renamed: found by the new name only.
    call(app, "PUT", "/api/v1/users/u3", Some(json!({"name": "Carol"}))).await;
    let names = |v: &Value| {
        v["users"].as_array().unwrap_or_else(|| panic!("users: {v}")).iter().map(|u| u["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>()
    };
    let (_, found) = call(app, "GET", "/api/v1/users?q=ADA", None).await;
    assert_eq!(names(&found), ["u1", "u2"], "{found}");
    let (_, found) = call(app, "GET", "/api/v1/users?q=u3", None).await;
    assert_eq!(names(&found), ["u3"], "an exact id comes first");
    let (_, found) = call(app, "GET", "/api/v1/users?q=bob", None).await;
    assert_eq!(names(&found), Vec::<String>::new());
    let (_, all) = call(app, "GET", "/api/v1/users", None).await;
    assert_eq!(names(&all), ["u1", "u2", "u3"]);
    call(app, "DELETE", "/api/v1/users/u2", None).await;
    let (_, found) = call(app, "GET", "/api/v1/users?q=ada", None).await;
    assert_eq!(names(&found), ["u1"]);

    // Five notifications: three to the admins' webhook, one to u1, one failing.
    let (_, routes) = call(app, "PUT", "/api/v1/channels/bad", Some(json!({"types": ["alert"]}))).await;
    assert_eq!(routes["types"], json!(["alert"]));
    call(app, "PUT", "/api/v1/channels/hook", Some(json!({"types": ["news", "deal"]}))).await;
    call(app, "PUT", "/api/v1/settings", Some(json!({"routes": {"news": "admin", "alert": "admin", "deal": "user"}}))).await;
    for i in 0..3 {
        let (s, _) = call(app, "POST", "/api/v1/notify", Some(json!({"type": "news", "title": format!("n{i}"), "text": "t", "to": "admins"}))).await;
        assert_eq!(s, 202);
    }
    call(app, "PUT", "/api/v1/users/u1", Some(json!({"ids": {"webhook": "ada"}}))).await;
    let (_, deal) = call(app, "POST", "/api/v1/notify", Some(json!({"type": "deal", "text": "for Ada", "to": {"user": "u1"}}))).await;
    let (_, alert) =
        call(app, "POST", "/api/v1/notify", Some(json!({"type": "alert", "title": "<img src=x onerror=alert(1)>", "text": "t", "to": "admins"})))
            .await;
    drain(app, &Dispatcher::default()).await;

    let ids = |v: &Value| v["notifications"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    // The failure raises a notice (type `system`) of its own: left out here.
    let (s, page) = call(app, "GET", "/api/v1/notifications?type=news", None).await;
    assert_eq!(s, 200, "{page}");
    assert_eq!(page["notifications"].as_array().unwrap().len(), 3);
    let (s, page) = call(app, "GET", "/api/v1/notifications", None).await;
    let page = json!({"notifications": page["notifications"].as_array().unwrap().iter().filter(|n| n["type"] != "system").collect::<Vec<_>>()});
    assert_eq!(s, 200, "{page}");
    let all = ids(&page);
    assert_eq!(all.len(), 5, "{page}");
    assert_eq!(all[0], alert["id"].as_str().unwrap(), "newest first: {page}");
    assert_eq!(page["notifications"][0]["counts"]["failed"], 1, "{page}");
    assert_eq!(page["notifications"][0]["title"], "<img src=x onerror=alert(1)>");
    assert_eq!(page["notifications"][1]["id"], deal["id"]);
    assert_eq!(page["notifications"][1]["counts"]["sent"], 1);

    let (_, failed) = call(app, "GET", "/api/v1/notifications?status=failed", None).await;
    assert!(ids(&failed).contains(&alert["id"].as_str().unwrap().to_owned()));
    assert!(failed["notifications"].as_array().unwrap().iter().all(|n| n["counts"]["failed"].as_u64() > Some(0)));
    let (_, of_user) = call(app, "GET", "/api/v1/notifications?user=u1", None).await;
    assert_eq!(ids(&of_user), [deal["id"].as_str().unwrap()]);
    let (_, news) = call(app, "GET", "/api/v1/notifications?type=news&limit=2", None).await;
    assert_eq!(news["notifications"].as_array().unwrap().len(), 2);
    let cursor = news["cursor"].as_str().unwrap().to_owned();
    let (_, rest) = call(app, "GET", &format!("/api/v1/notifications?type=news&limit=2&cursor={cursor}"), None).await;
    let mut seen: Vec<String> = ids(&news);
    seen.extend(ids(&rest));
    assert_eq!(seen.iter().filter(|i| all.contains(i)).count(), 3, "the three news, once each: {news} {rest}");
    assert_eq!(seen.len(), 3);
    kept_before_the_days_list(app, &ids(&news).into_iter().chain(ids(&rest)).collect::<Vec<_>>()).await;
    let (_, none) = call(app, "GET", "/api/v1/notifications?type=nothing&cursor=", None).await;
    assert_eq!(none, json!({"notifications": [], "cursor": null}), "an empty page is the end");
    let (_, notices) = call(app, "GET", "/api/v1/notifications?type=system", None).await;
    let notice = &notices["notifications"][0];
    assert!(notice["title"] == "Delivery failed" && notice["text"].as_str().unwrap().contains("bad"), "Herald's own notice, rendered: {notices}");
    for bad in ["status=lost", "limit=0", "cursor=nonsense", "user=a%20b", "cursor=9999-12-31~", "cursor=2000-01-01~", "cursor=2026-11-30~!"] {
        let (s, e) = call(app, "GET", &format!("/api/v1/notifications?{bad}"), None).await;
        assert_eq!(s, 400, "{bad}: {e}");
    }
    // A cursor needs no escaping in a URL; one cut short (as a `#` in a URL would cut it) is refused.
    let (_, first) = call(app, "GET", "/api/v1/notifications?limit=1", None).await;
    let cursor = first["cursor"].as_str().unwrap();
    assert!(cursor.bytes().all(|b| b.is_ascii_alphanumeric() || b"-~.".contains(&b)), "{cursor}");
    let (s, e) = call(app, "GET", &format!("/api/v1/notifications?cursor={}", cursor.split('.').next().unwrap()), None).await;
    assert_eq!((s, e["field"].as_str()), (400, Some("cursor")), "{e}");
    // A forged store cursor is the caller's mistake (400 naming it), on either store.
    for forged in ["e30", "eyJwayI6IlVTRVJTIn0", "eyJwayI6Ik4jMSIsInNrIjoiTiJ9", "!!"] {
        let (s, e) = call(app, "GET", &format!("/api/v1/users?cursor={forged}"), None).await;
        assert_eq!((s, e["field"].as_str()), (400, Some("cursor")), "{forged}: {e}");
    }

    let (s, stats) = call(app, "GET", "/api/v1/stats", None).await;
    assert_eq!(s, 200);
    assert_eq!(stats["days"].as_array().unwrap().len(), 14);
    let today = |v: &Value| v.as_array().unwrap().last().unwrap().as_i64().unwrap();
    assert_eq!(today(&stats["kinds"]["webhook"]["sent"]), 4, "{stats}");
    assert_eq!(today(&stats["kinds"]["webhook"]["failed"]), 1, "{stats}");
    assert_eq!(stats["channels"]["hook"]["sent"], 4);
    assert_eq!(stats["channels"]["hook"]["last"]["status"], "sent");
    assert_eq!(stats["channels"]["bad"]["failed"], 1);
    assert_eq!(stats["channels"]["bad"]["last"]["status"], "failed");
    assert!(stats["channels"]["bad"]["last"]["reason"].as_str().unwrap().contains("400"), "{stats}");
    assert_eq!(stats["channels"]["nas"]["last"], Value::Null);
    let (_, status) = call(app, "GET", "/api/v1/status", None).await;
    assert_eq!(status["today"]["sent"], 4, "the daily report's totals add the channels up: {status}");
    assert_eq!(status["today"]["failed"], 1);
    let (s, _) = call(app, "GET", "/api/v1/stats?days=91", None).await;
    assert_eq!(s, 400);

    // A notification's deliveries page by id, as planned (in the notification) and once each
    // has a record of its own.
    for name in ["p1", "p2", "p3"] {
        call(app, "PUT", &format!("/api/v1/channels/{name}"), Some(json!({"kind": "webhook", "types": ["paged"], "settings": {"url": ok.url}})))
            .await;
    }
    call(app, "PUT", "/api/v1/settings", Some(json!({"routes": {"paged": "admin"}}))).await;
    let (_, paged) = call(app, "POST", "/api/v1/notify", Some(json!({"type": "paged", "text": "t", "to": "admins"}))).await;
    assert_eq!(paged["deliveries"], 3, "{paged}");
    let id = paged["id"].as_str().unwrap();
    for round in ["planned", "recorded"] {
        let (mut seen, mut cursor) = (Vec::new(), String::new());
        for _ in 0..5 {
            let (s, page) = call(app, "GET", &format!("/api/v1/notifications/{id}?limit=2&cursor={cursor}"), None).await;
            assert_eq!(s, 200, "{page}");
            let ds = page["deliveries"].as_array().unwrap();
            assert!(!ds.is_empty() && ds.len() <= 2, "{round}: {page}");
            seen.extend(ds.iter().map(|d| (d["channel"].as_str().unwrap().to_owned(), d["status"].as_str().unwrap().to_owned())));
            match page["cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => break,
            }
        }
        seen.sort();
        let status = if round == "planned" { "queued" } else { "sent" };
        assert_eq!(seen, ["p1", "p2", "p3"].map(|c| (c.to_owned(), status.to_owned())), "{round}");
        drain(app, &Dispatcher::default()).await;
    }
    for bad in ["not%20an%20id", "zzz", "ABC123", "0", "03d83db0a317787eca9ab65"] {
        let (s, e) = call(app, "GET", &format!("/api/v1/notifications/{id}?cursor={bad}"), None).await;
        assert_eq!((s, e["field"].as_str()), (400, Some("cursor")), "{bad}: {e}");
    }
}

/// A notification stored the way they were before each was kept in its day's list (at `N#id`,
/// listed through gsi3) is still listed, found by id and written where it is; one not planned
/// yet is not listed, and does not cut the day's list short. `news`: the three news ids.
async fn kept_before_the_days_list(app: &App, news: &[String]) {
    let now = app.now();
    let mut old = Notification::text(new_id(now), "news", None, "from before".into(), Target::Admins, now);
    (old.planned, old.complete) = (true, true);
    let mut item =
        Item { data: serde_json::to_string(&old).unwrap(), exp: Some(now.as_second() + 86_400), ..Item::new(format!("N#{}", old.id), "N") };
    item.gsi3 = Some(IndexKey::new(format!("NL#{}", utc_day(now)), format!("{:014}#{}", now.as_millisecond(), old.id)));
    app.repo.table.put(item, Cond::Absent).await.unwrap();
    let unplanned = Notification::text(new_id(now), "news", None, "not planned yet".into(), Target::Admins, now);
    app.repo.create_notification(&unplanned).await.unwrap();

    let (mut seen, mut cursor) = (Vec::new(), String::new());
    for _ in 0..20 {
        let (s, page) = call(app, "GET", &format!("/api/v1/notifications?type=news&limit=1&cursor={cursor}"), None).await;
        assert_eq!(s, 200, "{page}");
        seen.extend(page["notifications"].as_array().unwrap().iter().map(|n| n["id"].as_str().unwrap().to_owned()));
        match page["cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    let mut want: Vec<String> = news.iter().cloned().chain([old.id.clone()]).collect();
    want.sort();
    seen.sort();
    assert_eq!(seen, want, "each news once, the one stored before too, not the unplanned one");
    let (s, got) = call(app, "GET", &format!("/api/v1/notifications/{}", old.id), None).await;
    assert_eq!((s, got["id"].as_str()), (200, Some(old.id.as_str())), "{got}");
    let found = app.repo.notification(&old.id).await.unwrap().unwrap();
    old.text = "written where it is".into();
    app.repo.save_notification(&old, found.rev).await.unwrap();
    let again = app.repo.notification(&old.id).await.unwrap().unwrap();
    assert_eq!((again.value.text.as_str(), again.rev), ("written where it is", found.rev + 1));
    let place = app.repo.table.get(&format!("N#{}", old.id), "N").await.unwrap();
    assert_eq!(place.map(|i| i.rev), Some(found.rev + 1), "at its old place, not copied to the day's list");
}

/// A day with more notifications than one query reads (50) is listed whole: a filter that skips
/// most of them still finds the one it wants, and pages of 100 list every one once.
#[tokio::test]
async fn a_day_longer_than_one_query_is_listed_whole() {
    let (_d, app) = embedded_app();
    let ok = TestServer::start(|_| Reply::ok("{}")).await;
    call(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": ok.url}}))).await;
    call(&app, "POST", "/api/v1/notify", Some(json!({"type": "rare", "text": "find me", "to": "admins"}))).await;
    let batch: Vec<Value> = (0..100).map(|i| json!({"type": "node", "text": format!("n{i}"), "to": "admins"})).collect();
    call(&app, "POST", "/api/v1/notify", Some(json!({"notifications": batch}))).await;
    for i in 0..20 {
        call(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": format!("m{i}"), "to": "admins"}))).await;
    }
    let (_, rare) = call(&app, "GET", "/api/v1/notifications?type=rare", None).await;
    assert_eq!(rare["notifications"].as_array().unwrap().len(), 1, "{rare}");
    let (mut seen, mut cursor) = (std::collections::HashSet::new(), String::new());
    for _ in 0..10 {
        let (_, page) = call(&app, "GET", &format!("/api/v1/notifications?limit=100&cursor={cursor}"), None).await;
        for n in page["notifications"].as_array().unwrap() {
            assert!(seen.insert(n["id"].as_str().unwrap().to_owned()), "listed twice: {n}");
        }
        match page["cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    assert_eq!(seen.len(), 121);
}

#[tokio::test]
async fn the_consoles_reads_on_the_embedded_store() {
    let (_d, app) = embedded_app();
    scenario(&app).await;
}

#[tokio::test]
async fn the_consoles_reads_on_dynamodb() {
    let Some(app) = herald_tests::aws_app().await else { return };
    scenario(&app).await;
}

#[tokio::test]
async fn the_console_is_served_with_a_strict_policy() {
    let (_d, app) = embedded_app();
    let r = herald::edge::router::route(&app, request("GET", "/console", None)).await;
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/console/index.html");
    for (path, kind) in
        [("/console/", "text/html"), ("/console/index.html", "text/html"), ("/console/app.js", "text/javascript"), ("/console/style.css", "text/css")]
    {
        let r = herald::edge::router::route(&app, request("GET", path, None)).await;
        assert_eq!(r.status(), 200, "{path}");
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with(kind), "{path}");
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        let csp = r.headers()["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("script-src 'self';") && !csp.contains("unsafe") && csp.contains("frame-ancestors 'none'"), "{csp}");
    }
    let r = herald::edge::router::route(&app, request("GET", "/console/../api/v1/channels", None)).await;
    assert_eq!(r.status(), 404);
    for alias in ["/console/app.jsindex.html", "/push/sw.jsindex.html", "/console//app.js"] {
        assert_eq!(herald::edge::router::route(&app, request("GET", alias, None)).await.status(), 404, "{alias}");
    }
    let r = herald::edge::router::route(&app, request("GET", "/api/v1/status", None)).await;
    assert_eq!((r.headers()["cache-control"].to_str().unwrap(), r.headers()["x-content-type-options"].to_str().unwrap()), ("no-store", "nosniff"));
    let r = herald::edge::router::route(&app, request("POST", "/console/", None)).await;
    assert_eq!(r.status(), 405);
}
