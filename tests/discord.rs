//! Discord end to end: the interactions endpoint (Ed25519-signed as Discord signs), the slash
//! commands registered on save, the bot's answers as the interaction's response and follow-ups,
//! notifications to DMs and channels, Discord's errors and rate-limit buckets, against the
//! FakeDiscord stand-in.

#![allow(clippy::unwrap_used)]

use herald::domain::DeliveryStatus;
use herald_tests::discord::{APPLICATION_ID, BOT_TOKEN, FakeDiscord, PUBLIC_KEY, command, press, signed};
use herald_tests::{TOKEN, call, drain, start_local};
use serde_json::{Value, json};
use std::time::Duration;

const ADA: &str = "4242";
const OPS: &str = "7001";

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

fn settings(fake: &FakeDiscord) -> Value {
    json!({"kind": "discord", "settings": {"bot_token": BOT_TOKEN, "application_id": APPLICATION_ID, "public_key": PUBLIC_KEY, "channel_id": OPS, "api_base": fake.url()}})
}

async fn setup() -> (tempfile::TempDir, herald::app::App, FakeDiscord) {
    let fake = FakeDiscord::start().await;
    fake.with(|s| s.unlimited = true);
    let (dir, app) = herald_tests::embedded_app_custom(std::sync::Arc::new(herald::domain::clock::SystemClock), |c| {
        c.public_url = Some("https://herald.test".into())
    });
    let (status, body) = call(&app, "PUT", "/api/v1/channels/dc", Some(settings(&fake))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["registration"]["ok"], true, "{body}");
    (dir, app, fake)
}

async fn post(app: &herald::app::App, body: &str) -> (u16, Value) {
    let resp = herald::edge::router::route(app, signed("dc", body, now())).await;
    let status = resp.status().as_u16();
    (status, serde_json::from_slice(resp.body()).unwrap_or(Value::Null))
}

#[tokio::test]
async fn saving_registers_the_commands_and_names_the_endpoint() {
    let (_d, app, fake) = setup().await;
    let (_, v) = call(&app, "GET", "/api/v1/channels/dc", None).await;
    assert!(v.to_string().contains("public_key"), "{v}");
    let global = fake.with(|s| s.commands.get("commands").cloned()).unwrap();
    let names: Vec<&str> = global.as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"bind") && names.contains(&"broadcast") && !names.contains(&"start"), "{names:?}");
    let (status, r) = call(&app, "POST", "/api/v1/channels/dc/register", None).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["interactions_endpoint_url"], "https://herald.test/callback/discord?source=dc", "{r}");
    assert!(r["install_url"].as_str().unwrap().contains(&format!("client_id={APPLICATION_ID}")));
    // With a guild: registered there.
    let mut with_guild = settings(&fake);
    with_guild["settings"]["guild_id"] = json!("5005");
    call(&app, "PUT", "/api/v1/channels/dc", Some(with_guild)).await;
    assert!(fake.with(|s| s.commands.contains_key("guilds/5005/commands")));
}

#[tokio::test]
async fn ping_is_answered_only_when_signed_and_a_bad_signature_is_401() {
    let (_d, app, _fake) = setup().await;
    let ping = r#"{"id":"1","application_id":"1198622483471925248","type":1,"token":"t","version":1}"#;
    let (status, v) = post(&app, ping).await;
    assert_eq!((status, v), (200, json!({"type": 1})));
    // Discord's probe: the same body with a wrong signature.
    let mut probe = signed("dc", ping, now());
    probe.headers.insert(herald::platforms::discord::receive::SIGNATURE_HEADER, "ab".repeat(64).parse().unwrap());
    assert_eq!(herald::edge::router::route(&app, probe).await.status(), 401);
    // Signed but not an interaction: 400. Oversize: 413. A GET: 405.
    assert_eq!(post(&app, "[1]").await.0, 400);
    let big = "x".repeat(herald::http::MAX_BODY + 1);
    assert_eq!(herald::edge::router::route(&app, signed("dc", &big, now())).await.status(), 413);
    assert_eq!(call(&app, "GET", "/callback/discord?source=dc", None).await.0, 405);
}

#[tokio::test]
async fn bind_menu_preferences_and_unbind_with_buttons() {
    let (_d, app, fake) = setup().await;
    let dispatcher = herald::dispatch::Dispatcher::default();
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"name": "Ada", "plan": "pro"}))).await;
    let (_, code) = call(&app, "POST", "/api/v1/users/u1/bind-code", None).await;
    let (_, v) = post(&app, &command("101", ADA, "bind", &[("code", code["code"].as_str().unwrap())])).await;
    assert_eq!((v["type"].as_u64(), v["data"]["flags"].as_u64()), (Some(4), Some(64)), "{v}");
    assert_eq!(v["data"]["content"], "Bound to Ada. Your notifications will come here.");
    let (_, user) = call(&app, "GET", "/api/v1/users/u1", None).await;
    assert_eq!(user["ids"], json!({"discord": ADA}));
    let (_, another) = call(&app, "POST", "/api/v1/users/u1/bind-code", None).await;
    assert_eq!(another["commands"]["dc"], format!("/bind code:{}", another["code"].as_str().unwrap()));

    // The same interaction again (a replay inside the window): acknowledged, not acted on.
    let (status, v) = post(&app, &command("101", ADA, "bind", &[("code", code["code"].as_str().unwrap())])).await;
    assert_eq!((status, v), (200, Value::Null));

    let (_, menu) = post(&app, &command("102", ADA, "menu", &[])).await;
    assert_eq!(menu["data"]["components"][0]["components"][0]["custom_id"], "m:my", "{menu}");
    let (_, prefs) = post(&app, &press("103", ADA, "555", "m:prefs")).await;
    assert_eq!(prefs["type"], 7, "the menu becomes the preferences: {prefs}");
    let rows = prefs["data"]["components"].as_array().unwrap();
    assert!(rows.len() <= 5 && rows.iter().all(|r| r["components"].as_array().unwrap().len() <= 5), "{prefs}");
    // Toggling one: the answer is an ephemeral message, the toggles are updated after it.
    let (_, toggled) = post(&app, &press("104", ADA, "555", "p:0")).await;
    assert_eq!(toggled["type"], 7, "{toggled}");
    drain(&app, &dispatcher).await;
    let follow = fake.delivered().into_iter().find(|m| m["channel_id"] == "followup:tok-104").unwrap();
    assert!(follow["content"].as_str().unwrap().contains("off"), "{follow}");
    assert_eq!(follow["flags"], 64);

    let (_, ask) = post(&app, &command("105", ADA, "unbind", &[])).await;
    assert_eq!(ask["data"]["components"][0]["components"][0]["custom_id"], "ub:y", "{ask}");
    let (_, done) = post(&app, &press("106", ADA, "556", "ub:y")).await;
    assert_eq!((done["type"].as_u64(), done["data"]["content"].as_str()), (Some(7), Some("Unbound. Bind again any time with /bind CODE.")));
    let (_, user) = call(&app, "GET", "/api/v1/users/u1", None).await;
    assert_eq!(user["ids"], json!({}));
}

#[tokio::test]
async fn notifications_open_the_dm_once_ping_nobody_and_closed_dms_mark_the_user_unreachable() {
    let (_d, app, fake) = setup().await;
    let dispatcher = herald::dispatch::Dispatcher::default();
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"name": "Ada", "ids": {"discord": ADA}}))).await;
    for text in ["@everyone first", "second"] {
        let n = json!({"type": "account", "title": "Hi", "text": text, "link": "https://example.com/a", "to": {"user": "u1"}});
        assert_eq!(call(&app, "POST", "/api/v1/notify", Some(n)).await.0, 202);
    }
    drain(&app, &dispatcher).await;
    assert_eq!(fake.texts_in(ADA), ["@everyone first", "second"]);
    assert_eq!(fake.calls("/users/@me/channels").len(), 1, "the DM was opened once");
    let first = &fake.delivered()[0];
    assert_eq!(first["allowed_mentions"], json!({"parse": []}));
    assert_eq!(first["embeds"][0], json!({"title": "Hi", "url": "https://example.com/a"}));
    assert_eq!(first["components"][0]["components"][0]["style"], 5);

    // An admin notice goes to the config's channel.
    let (_, a) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "system", "text": "disk full", "to": "admins"}))).await;
    drain(&app, &dispatcher).await;
    assert_eq!(fake.texts_in(OPS), ["disk full"]);
    let d = app.repo.deliveries(a["id"].as_str().unwrap(), None, 10).await.unwrap().items;
    assert!(d.iter().all(|d| d.status == DeliveryStatus::Sent), "{d:?}");

    // Ada closes her DMs: 50007 is permanent and recorded on her.
    fake.with(|s| s.closed.insert(ADA.into()));
    let (_, n) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "account", "text": "third", "to": {"user": "u1"}}))).await;
    drain(&app, &dispatcher).await;
    let (_, n) = call(&app, "GET", &format!("/api/v1/notifications/{}", n["id"].as_str().unwrap()), None).await;
    assert_eq!(n["deliveries"][0]["status"], "failed", "{n}");
    let (_, user) = call(&app, "GET", "/api/v1/users/u1", None).await;
    assert_eq!(user["unreachable"]["discord"], "Discord 50007: Cannot send messages to this user", "{user}");
}

#[tokio::test]
async fn a_bucket_the_headers_say_is_empty_waits_instead_of_drawing_a_429() {
    // Discord's bucket here is smaller than the usual one Herald paces for: 2 messages a second.
    let fake = FakeDiscord::start().await;
    fake.with(|s| s.bucket = Some((2, 1.0)));
    let (_d, app) = herald_tests::embedded_app();
    let mut s = json!({"kind": "discord", "settings": {"bot_token": BOT_TOKEN, "channel_id": OPS, "api_base": fake.url()}});
    s["settings"]["application_id"] = json!(APPLICATION_ID);
    call(&app, "PUT", "/api/v1/channels/dc", Some(s)).await;
    for i in 0..5 {
        call(&app, "POST", "/api/v1/notify", Some(json!({"type": "system", "text": format!("n{i}"), "to": "admins"}))).await;
    }
    let (_base, _app) = start_local(app).await;
    for _ in 0..200 {
        if fake.texts_in(OPS).len() == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut got = fake.texts_in(OPS);
    got.sort();
    assert_eq!(got, ["n0", "n1", "n2", "n3", "n4"]);
    assert_eq!(fake.with(|s| s.too_many), 0, "no request was made into an empty bucket");
}

#[tokio::test]
async fn the_test_endpoint_sends_and_shows_discords_answer() {
    let (_d, app, fake) = setup().await;
    let (status, v) = call(&app, "POST", "/api/v1/channels/dc/test", None).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(fake.texts_in(OPS).len(), 1);
    let (_, v) = call(&app, "POST", "/api/v1/channels/dc/test", Some(json!({"recipient": "123456789012345678"}))).await;
    assert!(v.to_string().contains("10003"), "not a user and no channel: {v}");
}

#[tokio::test]
async fn bind_check_in_my_and_unbind_through_the_local_runner() {
    let fake = FakeDiscord::start().await;
    fake.with(|s| s.unlimited = true);
    let (_dir, app) = herald_tests::embedded_app();
    let (base, _app) = start_local(app).await;
    let client = reqwest::Client::new();
    let api = |path: &str| format!("{base}/api/v1/{path}");
    assert_eq!(client.put(api("channels/dc")).bearer_auth(TOKEN).json(&settings(&fake)).send().await.unwrap().status(), 201);
    client
        .put(api("users/u1"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "Ada", "traffic_used": 1073741824u64, "traffic_total": 10737418240u64}))
        .send()
        .await
        .unwrap();
    let code: Value = client.post(api("users/u1/bind-code")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let send = |body: String| {
        let ts = now().to_string();
        client
            .post(format!("{base}/callback/discord?source=dc"))
            .header("x-signature-timestamp", &ts)
            .header("x-signature-ed25519", herald_tests::discord::signature(&ts, &body))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r: Value = send(command("201", ADA, "bind", &[("code", code["code"].as_str().unwrap())])).await.unwrap().json().await.unwrap();
    assert_eq!(r["data"]["content"], "Bound to Ada. Your notifications will come here.");
    let r: Value = send(command("202", ADA, "checkin", &[])).await.unwrap().json().await.unwrap();
    assert!(r["data"]["content"].as_str().unwrap().starts_with("Checked in: +"), "{r}");
    let r: Value = send(command("203", ADA, "my", &[])).await.unwrap().json().await.unwrap();
    assert!(r["data"]["content"].as_str().unwrap().contains("1.0 GB / 10.0 GB (10%)"), "{r}");
    let r: Value = send(command("204", ADA, "unbind", &[])).await.unwrap().json().await.unwrap();
    assert_eq!(r["data"]["components"][0]["components"][0]["custom_id"], "ub:y");
    let r: Value = send(press("205", ADA, "9", "ub:y")).await.unwrap().json().await.unwrap();
    assert_eq!(r["type"], 7);
    let u: Value = client.get(api("users/u1")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert!(u["ids"].get("discord").is_none() && u["rewards"].as_i64().unwrap() >= 10, "{u}");
    // A bad signature over HTTP: 401, as Discord's probe expects.
    let r = client
        .post(format!("{base}/callback/discord?source=dc"))
        .header("x-signature-timestamp", now().to_string())
        .header("x-signature-ed25519", "00".repeat(64))
        .body(r#"{"type":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[test]
fn the_sample_events_are_signed_as_discord_signs_at_their_own_time() {
    let at = jiff::Timestamp::from_second(herald_tests::SAMPLES_SIGNED_AT).unwrap();
    let samples = herald_tests::samples("discord");
    assert!(samples.len() >= 4);
    for (name, event) in samples {
        let h = &event["headers"];
        let (ts, sig) = (h["x-signature-timestamp"].as_str().unwrap(), h["x-signature-ed25519"].as_str().unwrap());
        let ok = herald::platforms::discord::receive::verify_signature(PUBLIC_KEY, ts, sig, event["body"].as_str().unwrap().as_bytes(), at);
        assert_eq!(ok, !name.contains("invalid"), "{name}");
    }
}
