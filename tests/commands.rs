//! Host-app commands end to end: declared through the API (and registered again on Telegram and
//! Discord when the set changes), run on Telegram, Discord and Synology Chat against their
//! stand-ins, relayed to a host-app stand-in that checks the signature and answers fast, late
//! (through `POST /api/v1/interactions/{id}/reply`), too slowly, wrongly and not at all.

#![allow(clippy::unwrap_used)]

use herald::app::App;
use herald::domain::clock::ManualClock;
use herald_tests::host::{FakeHost, HOST_SECRET, LONG_ARGS};
use herald_tests::telegram::{BOT_TOKEN, FakeTelegram};
use herald_tests::{call, drain, embedded_app_custom};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const TG_SECRET: &str = "events-webhook-secret-0123456789";

fn declare(host: &FakeHost, access: &str) -> Value {
    json!({
        "description": {"en": "Search the library", "zh-CN": "搜索片库"},
        "access": access,
        "args": {"en": "title", "zh-CN": "片名"},
        "url": host.url(),
        "secret": HOST_SECRET,
    })
}

async fn put(app: &App, name: &str, body: Value) -> (u16, Value) {
    call(app, "PUT", &format!("/api/v1/commands/{name}"), Some(body)).await
}

/// An app on a manual clock (set to now: the host checks timestamps) with a Telegram channel
/// `tg`, a host, and the commands `search` (user), `about` (all), `stats` (admin), `later`,
/// `sleepy` and `broken` (all).
async fn setup() -> (tempfile::TempDir, App, Arc<ManualClock>, FakeTelegram, FakeHost) {
    let clock = Arc::new(ManualClock::new(jiff::Timestamp::now()));
    let (dir, app) = embedded_app_custom(clock.clone(), |c| c.public_url = Some("https://herald.test".into()));
    let fake = FakeTelegram::start().await;
    fake.with(|s| s.unlimited = true);
    let settings = json!({"bot_token": BOT_TOKEN, "api_base": fake.url(), "webhook_secret": TG_SECRET});
    let (status, body) = call(&app, "PUT", "/api/v1/channels/tg", Some(json!({"kind": "telegram", "settings": settings}))).await;
    assert_eq!(status, 201, "{body}");
    let host = FakeHost::start(Duration::from_secs(6)).await;
    for (name, access) in [("search", "user"), ("about", "all"), ("stats", "admin"), ("later", "all"), ("sleepy", "all"), ("broken", "all")] {
        let (status, v) = put(&app, name, declare(&host, access)).await;
        assert_eq!(status, 201, "{v}");
    }
    (dir, app, clock, fake, host)
}

static NEXT: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(1);

fn update(from: i64, text: &str) -> Value {
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({"update_id": id, "message": {"message_id": id, "from": {"id": from, "is_bot": false, "first_name": "Ada", "language_code": "en"}, "chat": {"id": from, "type": "private"}, "date": 1, "text": text}})
}

fn press(from: i64, data: &str) -> Value {
    let id = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    json!({"update_id": id, "callback_query": {"id": format!("cb{id}"), "from": {"id": from, "is_bot": false, "first_name": "Ada"}, "message": {"message_id": 7, "chat": {"id": from, "type": "private"}}, "chat_instance": "1", "data": data}})
}

async fn post_tg(app: &App, body: &Value) -> Value {
    let mut headers = http::HeaderMap::new();
    headers.insert("x-telegram-bot-api-secret-token", TG_SECRET.parse().unwrap());
    let uri: http::Uri = "/callback/telegram?source=tg".parse().unwrap();
    let req = herald::http::Request::new(http::Method::POST, &uri, headers, bytes::Bytes::from(body.to_string()));
    let resp = herald::edge::router::route(app, req).await;
    assert_eq!(resp.status(), 200);
    serde_json::from_slice(resp.body()).unwrap_or(Value::Null)
}

async fn bind(app: &App, user: &str, chat: i64, admin: bool) {
    let role = if admin { "admin" } else { "user" };
    call(app, "PUT", &format!("/api/v1/users/{user}"), Some(json!({"name": user, "role": role}))).await;
    let (_, code) = call(app, "POST", &format!("/api/v1/users/{user}/bind-code"), None).await;
    let r = post_tg(app, &update(chat, &format!("/start {}", code["code"].as_str().unwrap()))).await;
    assert!(r["text"].as_str().unwrap().starts_with("Bound to"), "{r}");
}

#[tokio::test]
async fn commands_are_declared_checked_listed_and_removed() {
    let (_d, app, _clock, fake, host) = setup().await;
    // Listed without their secrets; a built-in name, a bad name and a short secret are 400s.
    let (_, list) = call(&app, "GET", "/api/v1/commands", None).await;
    assert_eq!(list["commands"].as_array().unwrap().len(), 6, "{list}");
    assert!(!list.to_string().contains(HOST_SECRET), "{list}");
    let (status, v) = put(&app, "bind", declare(&host, "user")).await;
    assert_eq!((status, v["field"].as_str()), (400, Some("name")), "{v}");
    assert_eq!(put(&app, "Bad-Name", declare(&host, "user")).await.0, 400);
    let mut weak = declare(&host, "user");
    weak["secret"] = json!("short");
    let (status, v) = put(&app, "weak", weak).await;
    assert_eq!((status, v["field"].as_str()), (400, Some("secret")), "{v}");
    let mut nosecret = declare(&host, "user");
    nosecret.as_object_mut().unwrap().remove("secret");
    assert_eq!(put(&app, "fresh", nosecret.clone()).await.0, 400, "a new command needs its secret");
    // A later PUT without the secret keeps it (the host is still called with it below).
    let (status, v) = put(&app, "search", nosecret).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["command"]["secret"], "********");
    // A URL carrying a credential is shown masked, and sending that back keeps it; a secret is
    // kept only while the URL's host stays; descriptions are one line of text.
    let mut with_query = declare(&host, "user");
    with_query["url"] = json!(format!("{}?token=abc", host.url()));
    assert_eq!(put(&app, "q", with_query).await.0, 201);
    let (_, shown) = call(&app, "GET", "/api/v1/commands/q", None).await;
    assert!(shown["url"].as_str().unwrap().ends_with("/********") && !shown.to_string().contains("abc"), "{shown}");
    let (status, v) = put(&app, "q", json!({"description": {"en": "Q"}, "url": shown["url"]})).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = put(&app, "q", json!({"description": {"en": "Q"}, "url": "https://elsewhere.example/h"})).await;
    assert_eq!((status, v["field"].as_str()), (400, Some("secret")), "{v}");
    let (status, v) = put(&app, "q", json!({"description": {"en": "a\u{2028}b"}, "url": shown["url"]})).await;
    assert_eq!((status, v["field"].as_str()), (400, Some("description.en")), "{v}");
    call(&app, "DELETE", "/api/v1/commands/q", None).await;
    // The set changed: Telegram's command lists were registered again, with the host's own.
    let lists = fake.calls("setMyCommands");
    let last_default = lists.iter().rev().find(|c| c["scope"]["type"] == "default" && c.get("language_code").is_none()).unwrap();
    let names: Vec<&str> = last_default["commands"].as_array().unwrap().iter().map(|c| c["command"].as_str().unwrap()).collect();
    assert!(names.contains(&"search") && names.contains(&"bind") && !names.contains(&"stats"), "{names:?}");
    let zh = lists.iter().rev().find(|c| c["language_code"] == "zh").unwrap();
    assert!(zh.to_string().contains("搜索片库"), "{zh}");
    // /help lists them; admin ones only for admins.
    let help = post_tg(&app, &update(500, "/help")).await;
    assert!(help["text"].as_str().unwrap().contains("/search <title> — Search the library"), "{help}");
    assert!(!help["text"].as_str().unwrap().contains("/stats"), "{help}");
    // Removed: 404 after, and the lists no longer carry it.
    let (status, v) = call(&app, "DELETE", "/api/v1/commands/about", None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(call(&app, "GET", "/api/v1/commands/about", None).await.0, 404);
    assert_eq!(call(&app, "DELETE", "/api/v1/commands/about", None).await.0, 404);
    let after = fake.calls("setMyCommands");
    let last = after.iter().rev().find(|c| c["scope"]["type"] == "default" && c.get("language_code").is_none()).unwrap();
    assert!(!last.to_string().contains("\"about\""), "{last}");
    assert!(host.with(|s| s.refused.is_empty()));
}

#[tokio::test]
async fn a_command_runs_on_telegram_with_its_reply_as_the_passive_answer() {
    let (_d, app, _clock, fake, host) = setup().await;
    // Who may run what is checked before the host is called.
    let r = post_tg(&app, &update(42, "/search dune")).await;
    assert!(r["text"].as_str().unwrap().contains("bind"), "unbound people are told how to bind: {r}");
    let r = post_tg(&app, &update(42, "/stats")).await;
    assert_eq!(r["text"], "Only administrators may run this command.");
    assert!(host.events().is_empty(), "the host was not called");
    let r = post_tg(&app, &update(42, "/about")).await;
    assert_eq!(r["text"], "About: \"Ada\" as \"guest\"", "{r}");

    bind(&app, "u1", 42, false).await;
    let r = post_tg(&app, &update(42, "/search dune")).await;
    assert_eq!((r["method"].as_str(), r["parse_mode"].as_str()), (Some("sendMessage"), Some("HTML")), "{r}");
    assert_eq!(r["text"], "Found <b>2</b> for <i>dune</i> &lt;b&gt;", "markdown rendered, the rest escaped: {r}");
    assert_eq!(r["link_preview_options"]["url"], "https://example.com/poster.png");
    let keys = &r["reply_markup"]["inline_keyboard"];
    assert_eq!(keys[0][0], json!({"text": "Next page", "callback_data": "/search dune page 2"}));
    assert_eq!(keys[0][1], json!({"text": "Site", "url": "https://example.com/s"}));
    let long = keys[1][0]["callback_data"].as_str().unwrap();
    assert!(long.starts_with("h:") && long.len() <= 64, "data past 64 bytes is kept server-side: {long}");
    let e = host.events().last().cloned().unwrap();
    assert_eq!(
        (e["command"].as_str(), e["args"].as_str(), e["user"].as_str(), e["role"].as_str()),
        (Some("search"), Some("dune"), Some("u1"), Some("user"))
    );
    assert_eq!((e["platform"].as_str(), e["chat"].as_str(), e["locale"].as_str()), (Some("telegram"), Some("42"), Some("en")));
    assert!(e["reply_path"].as_str().unwrap().starts_with("/api/v1/interactions/"), "{e}");

    // Pressing a button runs its command: the press is answered, the reply follows.
    let r = post_tg(&app, &press(42, "/search dune page 2")).await;
    assert_eq!(r["method"], "answerCallbackQuery", "{r}");
    assert_eq!(host.events().last().unwrap()["args"], "dune page 2");
    let r = post_tg(&app, &press(42, long)).await;
    assert_eq!(r["method"], "answerCallbackQuery", "{r}");
    assert_eq!(host.events().last().unwrap()["args"], LONG_ARGS);
    drain(&app, &herald::dispatch::Dispatcher::default()).await;
    assert_eq!(fake.delivered().iter().filter(|m| m["text"].as_str().unwrap_or_default().starts_with("Found")).count(), 2);

    // The same update again (Telegram retries): relayed once.
    let before = host.events().len();
    let again = update(42, "/search twice");
    post_tg(&app, &again).await;
    post_tg(&app, &again).await;
    assert_eq!(host.events().len(), before + 1);
    assert!(host.with(|s| s.refused.is_empty()), "{:?}", host.with(|s| s.refused.clone()));
}

#[tokio::test]
async fn a_late_reply_comes_through_the_api_and_failures_are_short_and_reach_the_admins() {
    let (_d, app, clock, fake, host) = setup().await;
    let dispatcher = herald::dispatch::Dispatcher::default();
    // 202: "working on it" now, the reply through the API later, once.
    let r = post_tg(&app, &update(42, "/later")).await;
    assert_eq!(r["text"], "Working on it…");
    let id = host.events().last().unwrap()["interaction"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/interactions/{id}/reply");
    let (status, v) =
        call(&app, "POST", &path, Some(json!({"text": "Done: **ok**", "format": "markdown", "buttons": [[{"text": "Again", "command": "later"}]]})))
            .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = call(&app, "POST", &path, Some(json!({"text": "twice"}))).await;
    assert_eq!(status, 409, "{v}");
    drain(&app, &dispatcher).await;
    let shown = fake.delivered();
    let done = shown.iter().find(|m| m["text"] == "Done: <b>ok</b>").unwrap();
    assert_eq!(done["reply_markup"]["inline_keyboard"][0][0]["callback_data"], "/later");
    assert!(!shown.iter().any(|m| m["text"] == "Working on it…"), "the passive reply is not sent again");
    // An invalid reply is refused with its field, and the interaction stays open.
    post_tg(&app, &update(42, "/later")).await;
    let id2 = host.events().last().unwrap()["interaction"].as_str().unwrap().to_owned();
    let (status, v) =
        call(&app, "POST", &format!("/api/v1/interactions/{id2}/reply"), Some(json!({"text": "x", "buttons": [[{"text": "a", "command": "nope"}]]})))
            .await;
    assert_eq!((status, v["field"].as_str()), (400, Some("buttons[0][0].command")), "{v}");
    let (status, v) =
        call(&app, "POST", &format!("/api/v1/interactions/{id2}/reply"), Some(json!({"text": "", "image": "https://example.com/i.png"}))).await;
    assert_eq!((status, v["field"].as_str()), (400, Some("text")), "an image alone is refused: {v}");
    assert_eq!(call(&app, "POST", "/api/v1/interactions/unknown/reply", Some(json!({"text": "x"}))).await.0, 404);
    assert_eq!(call(&app, "POST", &format!("/api/v1/interactions/{id2}/reply"), None).await.0, 400);

    // The host fails (500 with its own words; an invalid reply): a short message, never the
    // host's words, and an entry in the admins' message center.
    let r = post_tg(&app, &update(42, "/broken")).await;
    assert_eq!(r["text"], "Sorry, that did not work. Please try again later.");
    assert!(!r.to_string().contains("stack trace"));
    let r = post_tg(&app, &update(42, "/sleepy")).await;
    assert_eq!(r["text"], "Working on it…", "past the deadline: working on it");
    let (_, m) = call(&app, "GET", "/api/v1/messages", None).await;
    let failures: Vec<&Value> = m["messages"].as_array().unwrap().iter().filter(|m| m["category"] == "failure").collect();
    assert_eq!(failures.len(), 1, "{m}");
    assert!(failures[0]["text"].as_str().unwrap().contains("HTTP 500"), "{m}");

    // No reply within 15 minutes: the sweeper closes it; the person is told, the admins too.
    clock.advance(jiff::SignedDuration::from_secs(16 * 60));
    let (_, swept) = call(&app, "POST", "/api/v1/jobs/sweep/run", None).await;
    assert_eq!(swept["sweep"]["interactions_closed"], 2, "{swept}"); // /later (the second) and /sleepy
    drain(&app, &dispatcher).await;
    let sorry = fake.delivered().iter().filter(|m| m["text"] == "Sorry, that did not work. Please try again later.").count();
    assert_eq!(sorry, 2);
    let (_, m) = call(&app, "GET", "/api/v1/messages", None).await;
    assert!(m.to_string().contains("no reply within 15 minutes"), "{m}");
    let (status, _) = call(&app, "POST", &format!("/api/v1/interactions/{id2}/reply"), Some(json!({"text": "too late"}))).await;
    assert_eq!(status, 409);
}

#[tokio::test]
async fn the_same_command_runs_on_discord_with_buttons_and_a_late_follow_up() {
    use herald_tests::discord::{APPLICATION_ID, BOT_TOKEN as DC_TOKEN, FakeDiscord, PUBLIC_KEY, command, signed};
    let (_d, app, _clock, _tg, host) = setup().await;
    let dc = FakeDiscord::start().await;
    dc.with(|s| s.unlimited = true);
    let settings = json!({"kind": "discord", "settings": {"bot_token": DC_TOKEN, "application_id": APPLICATION_ID, "public_key": PUBLIC_KEY, "api_base": dc.url()}});
    let (status, v) = call(&app, "PUT", "/api/v1/channels/dc", Some(settings)).await;
    assert_eq!(status, 201, "{v}");
    // Registered with the host's commands: `args` an optional option, admin ones for admins.
    let list = dc.with(|s| s.commands.get("commands").cloned()).unwrap();
    let search = list.as_array().unwrap().iter().find(|c| c["name"] == "search").unwrap().clone();
    assert_eq!(search["options"][0]["name"], "args");
    assert_eq!(search["description_localizations"]["zh-CN"], "搜索片库");
    let stats = list.as_array().unwrap().iter().find(|c| c["name"] == "stats").unwrap().clone();
    assert_eq!(stats["default_member_permissions"], "0");

    let now = jiff::Timestamp::now().as_second();
    let post = |body: String| {
        let app = &app;
        async move {
            let resp = herald::edge::router::route(app, signed("dc", &body, now)).await;
            serde_json::from_slice::<Value>(resp.body()).unwrap()
        }
    };
    let r = post(command("9001", "4242", "about", &[])).await;
    assert_eq!((r["type"].as_u64(), r["data"]["content"].as_str()), (Some(4), Some("About: \"Ada\" as \"guest\"")), "{r}");
    // Bound on Discord too, then the same search: Markdown, an embedded image, buttons.
    call(&app, "PUT", "/api/v1/users/u2", Some(json!({"name": "Bo"}))).await;
    let (_, code) = call(&app, "POST", "/api/v1/users/u2/bind-code", None).await;
    post(command("9002", "4242", "bind", &[("code", code["code"].as_str().unwrap())])).await;
    let r = post(command("9003", "4242", "search", &[("args", "dune")])).await;
    assert_eq!(r["data"]["content"], "Found **2** for *dune* \\<b\\>", "{r}");
    assert_eq!(r["data"]["embeds"][0]["image"]["url"], "https://example.com/poster.png");
    assert_eq!(r["data"]["components"][0]["components"][0]["custom_id"], "/search dune page 2");
    assert_eq!(r["data"]["components"][0]["components"][1]["url"], "https://example.com/s");
    assert_eq!(host.events().last().unwrap()["platform"], "discord");
    // Late: "working on it" now, the reply as a follow-up with the interaction's token.
    let r = post(command("9004", "4242", "later", &[])).await;
    assert_eq!(r["data"]["content"], "Working on it…");
    let id = host.events().last().unwrap()["interaction"].as_str().unwrap().to_owned();
    let (status, v) = call(&app, "POST", &format!("/api/v1/interactions/{id}/reply"), Some(json!({"text": "Done"}))).await;
    assert_eq!(status, 200, "{v}");
    drain(&app, &herald::dispatch::Dispatcher::default()).await;
    let followups: Vec<String> = dc
        .server
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.path == format!("/webhooks/{APPLICATION_ID}/tok-9004"))
        .map(|r| r.json()["content"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(followups, vec!["Done".to_owned()]);
}

#[tokio::test]
async fn without_buttons_the_choices_are_numbered_and_a_number_runs_one() {
    use herald_tests::synology::{BOT_TOKEN as NAS_BOT, FakeSynology, OUTGOING_TOKEN, bot_post, request};
    let (_d, app, _clock, _tg, host) = setup().await;
    let nas = FakeSynology::start().await;
    let settings = json!({"kind": "synology", "settings": {"incoming_url": nas.incoming_url(), "bot_token": NAS_BOT, "outgoing_token": OUTGOING_TOKEN, "api_base": nas.server.url}});
    let (status, v) = call(&app, "PUT", "/api/v1/channels/nas", Some(settings)).await;
    assert_eq!(status, 201, "{v}");
    let at = std::sync::atomic::AtomicI64::new(1);
    let post = |text: &str| {
        let req = request("nas", &bot_post("7", text, at.fetch_add(1, std::sync::atomic::Ordering::Relaxed), OUTGOING_TOKEN));
        let app = &app;
        async move { serde_json::from_slice::<Value>(herald::edge::router::route(app, req).await.body()).unwrap_or(Value::Null) }
    };
    let r = post("/about").await;
    assert!(r["text"].as_str().unwrap().starts_with("About:"), "{r}");
    // A reply with buttons, on a platform without them: numbered, links as lines.
    call(&app, "PUT", "/api/v1/users/u3", Some(json!({"name": "Cy"}))).await;
    let (_, code) = call(&app, "POST", "/api/v1/users/u3/bind-code", None).await;
    post(&format!("bind {}", code["code"].as_str().unwrap())).await;
    let r = post("search dune").await;
    let text = r["text"].as_str().unwrap();
    assert!(text.contains("1. Next page") && text.contains("Site: https://example.com/s") && text.contains("2. Long"), "{text}");
    assert!(text.contains("Reply with a number to choose."), "{text}");
    // "1" runs the first choice.
    post("1").await;
    assert_eq!(host.events().last().unwrap()["args"], "dune page 2");
    post("2").await;
    assert_eq!(host.events().last().unwrap()["args"], LONG_ARGS);
    // A reply without buttons replaces the choices: "1" runs nothing old.
    post("about").await;
    let before = host.events().len();
    let r = post("1").await;
    assert_eq!(host.events().len(), before, "{r}");
    // Without bot_token nothing can follow the response: a late reply is refused, not lost.
    post("later").await;
    let id = host.events().last().unwrap()["interaction"].as_str().unwrap().to_owned();
    let no_bot = json!({"kind": "synology", "settings": {"incoming_url": nas.incoming_url(), "outgoing_token": OUTGOING_TOKEN, "bot_token": null}});
    let (status, v) = call(&app, "PATCH", "/api/v1/channels/nas", Some(no_bot)).await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = call(&app, "POST", &format!("/api/v1/interactions/{id}/reply"), Some(json!({"text": "late"}))).await;
    assert_eq!(status, 409, "{v}");
    assert!(v.to_string().contains("bot_token"), "{v}");
}

#[tokio::test]
async fn on_slack_it_runs_as_herald_name_and_a_late_reply_goes_to_the_response_url() {
    use herald_tests::slack::{BOT_TOKEN as SL_TOKEN, FakeSlack, SIGNING_SECRET, signed, slash};
    let (_d, app, _clock, _tg, host) = setup().await;
    let sl = FakeSlack::start().await;
    sl.with(|s| s.unlimited = true);
    let settings = json!({"kind": "slack", "settings": {"bot_token": SL_TOKEN, "signing_secret": SIGNING_SECRET, "api_base": sl.url()}});
    let (status, v) = call(&app, "PUT", "/api/v1/channels/acme", Some(settings)).await;
    assert_eq!(status, 201, "{v}");
    let post = |body: String| {
        let app = &app;
        async move {
            let resp = herald::edge::router::route(app, signed("acme", &body, SIGNING_SECRET, jiff::Timestamp::now().as_second())).await;
            serde_json::from_slice::<Value>(resp.body()).unwrap_or(Value::Null)
        }
    };
    // `/herald about`: the reply is the slash command's response, ephemeral, in Block Kit.
    let r = post(slash("7.1", "U0ADA", "C0GENERAL", "about", &sl.response_url("r1"))).await;
    assert_eq!(r["response_type"], "ephemeral", "{r}");
    assert!(r["blocks"][0]["text"]["text"].as_str().unwrap().starts_with("About:"), "{r}");
    assert_eq!(host.events().last().unwrap()["platform"], "slack");
    // Late: "working on it" now, the reply through the command's response_url.
    let r = post(slash("7.2", "U0ADA", "C0GENERAL", "later", &sl.response_url("r2"))).await;
    assert_eq!(r["text"], "Working on it…", "{r}");
    let id = host.events().last().unwrap()["interaction"].as_str().unwrap().to_owned();
    let (status, v) =
        call(&app, "POST", &format!("/api/v1/interactions/{id}/reply"), Some(json!({"text": "Done: *ok*", "format": "markdown"}))).await;
    assert_eq!(status, 200, "{v}");
    drain(&app, &herald::dispatch::Dispatcher::default()).await;
    let sent: Vec<Value> = sl.server.received().iter().filter(|r| r.path == "/response/r2").map(|r| r.json()).collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["blocks"][0]["text"]["text"], "Done: _ok_");
    assert_eq!(sent[0]["response_type"], "ephemeral");
}
