//! Slack end to end: the request URL (Events API, slash command, interactivity) signed as Slack
//! signs, the bot's answers through the response and the queue, notifications as Block Kit, and
//! Slack's errors read from the body, against the FakeSlack stand-in.

#![allow(clippy::unwrap_used)]

use herald::domain::DeliveryStatus;
use herald_tests::slack::{BOT_TOKEN, BOT_USER, FakeSlack, SIGNING_SECRET, TEAM, dm, dm_event, press, signed, slash};
use herald_tests::{TOKEN, call, drain, start_local};
use serde_json::{Value, json};
use std::time::Duration;

const ADA: &str = "U42ADA";

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

async fn setup() -> (tempfile::TempDir, herald::app::App, FakeSlack) {
    let fake = FakeSlack::start().await;
    fake.with(|s| s.unlimited = true);
    let (dir, app) = herald_tests::embedded_app();
    let settings =
        json!({"kind": "slack", "settings": {"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET, "api_base": fake.url(), "channel": "C0OPS"}});
    let (status, body) = call(&app, "PUT", "/api/v1/channels/acme", Some(settings)).await;
    assert_eq!(status, 201, "{body}");
    // Registration checked the token and learned the bot and the workspace.
    assert_eq!(body["registration"]["ok"], true, "{body}");
    assert_eq!((body["settings"]["bot_user_id"].as_str(), body["settings"]["team_id"].as_str()), (Some(BOT_USER), Some(TEAM)), "{body}");
    (dir, app, fake)
}

async fn post(app: &herald::app::App, body: &str) -> (u16, Value) {
    let resp = herald::edge::router::route(app, signed("acme", body, SIGNING_SECRET, now())).await;
    let status = resp.status().as_u16();
    (status, serde_json::from_slice(resp.body()).unwrap_or(Value::Null))
}

#[tokio::test]
async fn url_verification_is_answered_only_when_signed() {
    let (_d, app, _fake) = setup().await;
    let body = r#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let (status, v) = post(&app, body).await;
    assert_eq!((status, v["challenge"].as_str()), (200, Some("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P")));
    let resp = herald::edge::router::route(&app, signed("acme", body, "another-secret-0123456789abcdef", now())).await;
    assert_eq!(resp.status(), 401);
    // Malformed but signed: 400; oversize: 413; a GET: 405.
    assert_eq!(post(&app, "{not json").await.0, 400);
    assert_eq!(post(&app, "a=b").await.0, 400);
    let big = "x".repeat(herald::http::MAX_BODY + 1);
    assert_eq!(herald::edge::router::route(&app, signed("acme", &big, SIGNING_SECRET, now())).await.status(), 413);
    let (status, _) = call(&app, "GET", "/callback/slack?source=acme", None).await;
    assert_eq!(status, 405);
}

#[tokio::test]
async fn a_slash_command_answers_ephemerally_in_the_response() {
    let (_d, app, fake) = setup().await;
    let (status, v) = post(&app, &slash("1.1", ADA, "C0GENERAL", "ping", &fake.response_url("r1"))).await;
    assert_eq!(status, 200);
    assert_eq!(v["response_type"], "ephemeral");
    assert_eq!(v["text"], format!("Your id: {ADA}\nThis chat: C0GENERAL"), "{v}");
    // `/herald` alone is help; an unknown word says so; both in the response.
    let (_, v) = post(&app, &slash("1.2", ADA, "C0GENERAL", "", &fake.response_url("r2"))).await;
    assert!(v["text"].as_str().unwrap().contains("/checkin"), "{v}");
    let (_, v) = post(&app, &slash("1.3", ADA, "C0GENERAL", "dance", &fake.response_url("r3"))).await;
    assert!(v["text"].as_str().unwrap().starts_with("Unknown command"), "{v}");
    // The same trigger again (a replay inside the window) is acknowledged and not answered.
    let (status, v) = post(&app, &slash("1.1", ADA, "C0GENERAL", "ping", &fake.response_url("r1"))).await;
    assert_eq!((status, v), (200, Value::Null));
    assert!(fake.calls("chat.postMessage").is_empty(), "all answers rode in the responses");
}

#[tokio::test]
async fn bind_check_in_menu_and_unbind_with_buttons() {
    let (_d, app, fake) = setup().await;
    let dispatcher = herald::dispatch::Dispatcher::default();
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"name": "Ada", "plan": "pro"}))).await;
    let (_, code) = call(&app, "POST", "/api/v1/users/u1/bind-code", None).await;
    let code = code["code"].as_str().unwrap();

    // Bind with the slash command; the answer is ephemeral.
    let (_, v) = post(&app, &slash("2.1", ADA, "C0GENERAL", &format!("bind {code}"), &fake.response_url("r1"))).await;
    assert_eq!(v["text"], "Bound to Ada. Your notifications will come here.", "{v}");
    let (_, user) = call(&app, "GET", "/api/v1/users/u1", None).await;
    assert_eq!(user["ids"], json!({"slack:acme": ADA}), "bound on this config");

    // In the DM, a mention and a command word without its slash: answered through the queue.
    assert_eq!(post(&app, &dm_event("Ev1", ADA, &format!("<@{BOT_USER}> menu"))).await.0, 200);
    drain(&app, &dispatcher).await;
    let menu = fake.calls("chat.postMessage").pop().unwrap();
    assert_eq!(menu["channel"], dm(ADA));
    let buttons = &menu["blocks"][1]["elements"];
    assert_eq!((buttons[0]["value"].as_str(), buttons[0]["action_id"].as_str()), (Some("m:my"), Some("hb-0-0")), "{menu}");

    // A button press: acknowledged at once, the message replaced through its response_url.
    let (status, v) = post(&app, &press("3.1", ADA, &dm(ADA), "1700000000.000001", "m:my", &fake.response_url("p1"))).await;
    assert_eq!((status, v), (200, Value::Null));
    drain(&app, &dispatcher).await;
    let shown = fake.delivered().into_iter().filter(|m| m["channel"] == "response:p1").collect::<Vec<_>>();
    assert_eq!(shown.len(), 1);
    assert_eq!(shown[0]["replace_original"], true);
    assert!(shown[0]["text"].as_str().unwrap().contains("Plan: pro"), "{shown:?}");

    // Check in from a button: the answer is an ephemeral message.
    post(&app, &press("3.2", ADA, &dm(ADA), "1700000000.000001", "ci", &fake.response_url("p2"))).await;
    drain(&app, &dispatcher).await;
    let said = fake.delivered().into_iter().find(|m| m["channel"] == "response:p2").unwrap();
    assert_eq!((said["response_type"].as_str(), said["replace_original"].as_bool()), (Some("ephemeral"), Some(false)));
    assert!(said["text"].as_str().unwrap().starts_with("Checked in: +"), "{said}");

    // Unbind asks, with buttons; "yes" unbinds and replaces the question.
    let (_, v) = post(&app, &slash("2.2", ADA, &dm(ADA), "unbind", &fake.response_url("r2"))).await;
    assert_eq!(v["blocks"][1]["elements"][0]["value"], "ub:y", "{v}");
    post(&app, &press("3.3", ADA, &dm(ADA), "1700000000.000002", "ub:y", &fake.response_url("p3"))).await;
    drain(&app, &dispatcher).await;
    let done = fake.delivered().into_iter().find(|m| m["channel"] == "response:p3").unwrap();
    assert_eq!(done["text"], "Unbound. Bind again any time with /bind CODE.");
    let (_, user) = call(&app, "GET", "/api/v1/users/u1", None).await;
    assert_eq!(user["ids"], json!({}));
}

#[tokio::test]
async fn retries_and_bots_are_not_answered() {
    let (_d, app, fake) = setup().await;
    let dispatcher = herald::dispatch::Dispatcher::default();
    let event = dm_event("Ev9", ADA, "ping");
    assert_eq!(post(&app, &event).await.0, 200);
    // Slack's retry: the same event_id, with X-Slack-Retry-Num.
    let mut retry = signed("acme", &event, SIGNING_SECRET, now());
    retry.headers.insert("x-slack-retry-num", "1".parse().unwrap());
    retry.headers.insert("x-slack-retry-reason", "http_timeout".parse().unwrap());
    assert_eq!(herald::edge::router::route(&app, retry).await.status(), 200);
    // The bot's own message, and another bot's.
    let own = dm_event("Ev10", BOT_USER, "ping");
    assert_eq!(post(&app, &own).await.0, 200);
    let mut bot: Value = serde_json::from_str(&dm_event("Ev11", "U0OTHER", "ping")).unwrap();
    bot["event"]["bot_id"] = json!("B0OTHER");
    assert_eq!(post(&app, &bot.to_string()).await.0, 200);
    drain(&app, &dispatcher).await;
    assert_eq!(fake.texts_in(ADA).len(), 1, "answered once: {:?}", fake.delivered());
    assert!(fake.texts_in(BOT_USER).is_empty() && fake.texts_in("U0OTHER").is_empty());
}

#[tokio::test]
async fn notifications_go_as_block_kit_and_an_unknown_channel_marks_the_user_unreachable() {
    let (_d, app, fake) = setup().await;
    let dispatcher = herald::dispatch::Dispatcher::default();
    // Ids are kept per config: a bare `slack` key is refused.
    let (status, v) = call(&app, "PUT", "/api/v1/users/u1", Some(json!({"ids": {"slack": ADA}}))).await;
    assert_eq!((status, v["field"].as_str()), (400, Some("ids.slack")), "{v}");
    let (status, _) = call(&app, "PUT", "/api/v1/users/u1", Some(json!({"name": "Ada", "ids": {"slack:acme": ADA}}))).await;
    assert_eq!(status, 201);

    let n = json!({"type": "account", "title": "R&D <weekly>", "text": "**Done**: 3 < 5", "format": "markdown", "link": "https://example.com/r?a=1&b=2", "to": {"user": "u1"}});
    let (status, _) = call(&app, "POST", "/api/v1/notify", Some(n)).await;
    assert_eq!(status, 202);
    drain(&app, &dispatcher).await;
    let sent = fake.calls("chat.postMessage");
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["channel"], ADA, "posted to the user id, which opens the DM");
    assert_eq!(sent[0]["text"], "*R&amp;D &lt;weekly&gt;*\n*Done*: 3 &lt; 5");
    assert_eq!(sent[0]["blocks"][1]["elements"][0]["url"], "https://example.com/r?a=1&b=2");

    // The person left the workspace: channel_not_found is permanent and recorded on the user.
    fake.with(|s| s.missing.insert(ADA.into()));
    let (_, accepted) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "account", "text": "again", "to": {"user": "u1"}}))).await;
    drain(&app, &dispatcher).await;
    let (_, n) = call(&app, "GET", &format!("/api/v1/notifications/{}", accepted["id"].as_str().unwrap()), None).await;
    assert_eq!(n["deliveries"][0]["status"], "failed", "{n}");
    assert_eq!(n["deliveries"][0]["reason"], "Slack channel_not_found");
    let (_, user) = call(&app, "GET", "/api/v1/users/u1", None).await;
    assert_eq!(user["unreachable"]["slack:acme"], "Slack channel_not_found", "{user}");

    // An admin-scope notice goes to the config's channel.
    let (_, accepted) = call(&app, "POST", "/api/v1/notify", Some(json!({"type": "system", "text": "disk full", "to": "admins"}))).await;
    drain(&app, &dispatcher).await;
    let d = app.repo.deliveries(accepted["id"].as_str().unwrap(), None, 10).await.unwrap().items;
    assert!(d.iter().any(|d| d.recipient == "C0OPS" && d.status == DeliveryStatus::Sent), "{d:?}");
}

#[tokio::test]
async fn the_test_endpoint_sends_to_slack_and_shows_its_answer() {
    let (_d, app, fake) = setup().await;
    let (status, v) = call(&app, "POST", "/api/v1/channels/acme/test", Some(json!({"recipient": "C0OPS"}))).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(fake.texts_in("C0OPS").len(), 1);
    fake.with(|s| s.missing.insert("C0GONE".into()));
    let (_, v) = call(&app, "POST", "/api/v1/channels/acme/test", Some(json!({"recipient": "C0GONE"}))).await;
    assert!(v.to_string().contains("channel_not_found"), "{v}");
}

#[tokio::test]
async fn slack_pacing_keeps_one_message_a_second_per_conversation() {
    // The stand-in enforces Slack's pace (about 1/s per conversation, a burst of 3): a burst of
    // notifications to one person all arrive, none refused with 429 on the way.
    let fake = FakeSlack::start().await;
    let (_d, app) = herald_tests::embedded_app();
    let settings = json!({"kind": "slack", "settings": {"bot_token": BOT_TOKEN, "api_base": fake.url()}});
    call(&app, "PUT", "/api/v1/channels/acme", Some(settings)).await;
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"ids": {"slack:acme": ADA}}))).await;
    for i in 0..5 {
        call(&app, "POST", "/api/v1/notify", Some(json!({"type": "account", "text": format!("n{i}"), "to": {"user": "u1"}}))).await;
    }
    // The local runner's dispatcher works the queue, paced as on Lambda.
    let (_base, _app) = start_local(app).await;
    for _ in 0..200 {
        if fake.texts_in(ADA).len() == 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut got = fake.texts_in(ADA);
    got.sort();
    assert_eq!(got, ["n0", "n1", "n2", "n3", "n4"]);
    let refused = fake.server.received().iter().filter(|r| r.path == "/chat.postMessage").count() - 5;
    assert_eq!(refused, 0, "Herald's pacing kept under Slack's limit");
}

#[tokio::test]
async fn bind_check_in_my_and_unbind_through_the_local_runner() {
    let fake = FakeSlack::start().await;
    fake.with(|s| s.unlimited = true);
    let (_dir, app) = herald_tests::embedded_app();
    let (base, _app) = start_local(app).await;
    let client = reqwest::Client::new();
    let api = |path: &str| format!("{base}/api/v1/{path}");
    let settings = json!({"kind": "slack", "settings": {"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET, "api_base": fake.url()}});
    assert_eq!(client.put(api("channels/acme")).bearer_auth(TOKEN).json(&settings).send().await.unwrap().status(), 201);
    client
        .put(api("users/u1"))
        .bearer_auth(TOKEN)
        .json(&json!({"name": "Ada", "traffic_used": 1073741824u64, "traffic_total": 10737418240u64}))
        .send()
        .await
        .unwrap();
    let code: Value = client.post(api("users/u1/bind-code")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    let code = code["code"].as_str().unwrap().to_owned();

    // Every request signed as Slack signs it, over HTTP.
    let send = |body: String| {
        let ts = now().to_string();
        let sig = herald::platforms::slack::receive::signature(SIGNING_SECRET, &ts, body.as_bytes());
        let kind = if body.starts_with('{') { "application/json" } else { "application/x-www-form-urlencoded" };
        client
            .post(format!("{base}/callback/slack?source=acme"))
            .header("x-slack-request-timestamp", ts)
            .header("x-slack-signature", sig)
            .header("content-type", kind)
            .body(body)
            .send()
    };
    let r: Value = send(slash("9.1", ADA, &dm(ADA), &format!("bind {code}"), &fake.response_url("a"))).await.unwrap().json().await.unwrap();
    assert_eq!(r["text"], "Bound to Ada. Your notifications will come here.");
    let r: Value = send(slash("9.2", ADA, &dm(ADA), "checkin", &fake.response_url("b"))).await.unwrap().json().await.unwrap();
    assert!(r["text"].as_str().unwrap().starts_with("Checked in: +"), "{r}");
    // `my` typed in the DM: answered through the queue and the local runner's dispatcher.
    assert_eq!(send(dm_event("EvL1", ADA, "my")).await.unwrap().status(), 200);
    for _ in 0..100 {
        if !fake.texts_in(ADA).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(fake.texts_in(ADA)[0].contains("1.0 GB / 10.0 GB (10%)"), "{:?}", fake.texts_in(ADA));
    let r: Value = send(slash("9.3", ADA, &dm(ADA), "unbind", &fake.response_url("c"))).await.unwrap().json().await.unwrap();
    assert_eq!(r["blocks"][1]["elements"][0]["value"], "ub:y");
    let r = send(press("9.4", ADA, &dm(ADA), "1700000000.000009", "ub:y", &fake.response_url("d"))).await.unwrap();
    assert_eq!(r.status(), 200);
    for _ in 0..100 {
        if fake.delivered().iter().any(|m| m["channel"] == "response:d") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let u: Value = client.get(api("users/u1")).bearer_auth(TOKEN).send().await.unwrap().json().await.unwrap();
    assert!(u["ids"].get("slack:acme").is_none() && u["rewards"].as_i64().unwrap() >= 10, "{u}");
    // A forged request over HTTP: 401.
    let r = client
        .post(format!("{base}/callback/slack?source=acme"))
        .header("x-slack-request-timestamp", now().to_string())
        .header("x-slack-signature", "v0=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[test]
fn the_sample_events_are_signed_as_slack_signs_at_their_own_time() {
    let at = jiff::Timestamp::from_second(herald_tests::SAMPLES_SIGNED_AT).unwrap();
    let samples = herald_tests::samples("slack");
    assert_eq!(samples.len(), 7);
    for (name, event) in samples {
        let h = &event["headers"];
        let (ts, sig) = (h["x-slack-request-timestamp"].as_str().unwrap(), h["x-slack-signature"].as_str().unwrap());
        let ok = herald::platforms::slack::receive::verify_signature(SIGNING_SECRET, ts, sig, event["body"].as_str().unwrap().as_bytes(), at);
        assert_eq!(ok, !name.contains("invalid"), "{name}");
    }
}

#[test]
fn the_app_manifest_points_every_request_url_at_the_receiver() {
    let manifest = std::fs::read_to_string(format!("{}/../infra/slack-app-manifest.yaml", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let urls: Vec<&str> =
        manifest.lines().filter_map(|l| l.trim().strip_prefix("url: ").or_else(|| l.trim().strip_prefix("request_url: "))).collect();
    assert_eq!(urls, ["HERALD_URL/callback/slack?source=NAME"; 3], "slash command, events, interactivity");
    for scope in ["chat:write", "im:history", "app_mentions:read", "commands"] {
        assert!(manifest.contains(&format!("- {scope} ")), "{scope}");
    }
    for event in ["app_mention", "message.im"] {
        assert!(manifest.contains(&format!("- {event}\n")), "{event}");
    }
}

#[tokio::test]
async fn the_bind_code_says_what_to_type_on_slack_and_a_failed_registration_still_names_the_url() {
    let (_d, app, _fake) = setup().await;
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"name": "Ada"}))).await;
    let (_, code) = call(&app, "POST", "/api/v1/users/u1/bind-code", None).await;
    assert_eq!(code["commands"]["acme"], format!("/herald bind {}", code["code"].as_str().unwrap()), "{code}");
    // Slack cannot be reached: the registration fails, and still says where Slack must send.
    let (_d2, app) = herald_tests::embedded_app_custom(std::sync::Arc::new(herald::domain::clock::SystemClock), |c| {
        c.public_url = Some("https://herald.test".into())
    });
    let (_, v) = call(
        &app,
        "PUT",
        "/api/v1/channels/down",
        Some(json!({"kind": "slack", "settings": {"bot_token": BOT_TOKEN, "signing_secret": SIGNING_SECRET, "api_base": "http://127.0.0.1:9"}})),
    )
    .await;
    assert_eq!(v["registration"]["ok"], false, "{v}");
    assert_eq!(v["registration"]["callback_url"], "https://herald.test/callback/slack?source=down", "{v}");
}
