//! Webhook handling cost per request (verify + parse + route + bot + store + enqueue), store and
//! queue in memory, on one thread, and the cost of what Herald computes per send (a Web Push
//! message's encryption and signature): `cargo bench -p herald-tests --bench webhook`.

#![allow(clippy::unwrap_used)]

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use herald::app::App;
use herald::platforms::wecom::crypto::Crypto;
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

const SECRET: &str = "bench-webhook-secret-0123456789";

fn app(rt: &tokio::runtime::Runtime) -> App {
    let table = Arc::new(herald::store::embedded::EmbeddedTable::in_memory().unwrap());
    let mut config = herald_tests::test_config();
    config.cache_ttl = std::time::Duration::from_secs(3600);
    let app = App::new(table, Arc::new(herald_tests::memory_queue(180, 20)), Arc::new(herald::domain::clock::SystemClock), config).unwrap();
    rt.block_on(async {
        let now = app.now();
        let tg = json!({"kind": "telegram", "settings": {"bot_token": herald_tests::telegram::BOT_TOKEN, "webhook_secret": SECRET, "chat_id": "-100"}});
        app.repo.put_channel(&herald::platforms::config::Channel::from_json("tg", tg, None, now).unwrap()).await.unwrap();
        let wc = json!({"kind": "wecom", "settings": {"corp_id": herald_tests::wecom::CORP, "agent_id": 1, "secret": "s", "token": herald_tests::wecom::TOKEN, "encoding_aes_key": herald_tests::wecom::AES_KEY}});
        app.repo.put_channel(&herald::platforms::config::Channel::from_json("wc", wc, None, now).unwrap()).await.unwrap();
        let sl = json!({"kind": "slack", "settings": {"bot_token": herald_tests::slack::BOT_TOKEN, "signing_secret": herald_tests::slack::SIGNING_SECRET}});
        app.repo.put_channel(&herald::platforms::config::Channel::from_json("sl", sl, None, now).unwrap()).await.unwrap();
        let dc = json!({"kind": "discord", "settings": {"bot_token": herald_tests::discord::BOT_TOKEN, "public_key": herald_tests::discord::PUBLIC_KEY}});
        app.repo.put_channel(&herald::platforms::config::Channel::from_json("dc", dc, None, now).unwrap()).await.unwrap();
        let syn = json!({"kind": "synology", "settings": {"bot_token": herald_tests::synology::BOT_TOKEN, "outgoing_token": herald_tests::synology::OUTGOING_TOKEN, "api_base": "http://127.0.0.1:9"}});
        app.repo.put_channel(&herald::platforms::config::Channel::from_json("syn", syn, None, now).unwrap()).await.unwrap();
        let vc = json!({"kind": "vocechat", "settings": {"server_url": "http://127.0.0.1:9", "api_key": herald_tests::vocechat::API_KEY, "webhook_secret": herald_tests::vocechat::WEBHOOK_SECRET}});
        app.repo.put_channel(&herald::platforms::config::Channel::from_json("vc", vc, None, now).unwrap()).await.unwrap();
        let hook = json!({"kind": "webhook", "settings": {"url": "http://127.0.0.1:9/hook"}});
        app.repo.put_channel(&herald::platforms::config::Channel::from_json("hook", hook, None, now).unwrap()).await.unwrap();
        let mut u = herald::domain::User::new("u1", now);
        u.ids.insert(herald::domain::ChannelKind::Telegram.into(), "42".into());
        u.ids.insert(herald::domain::ChannelKind::Wecom.into(), "zhangsan".into());
        u.ids.insert(herald::domain::Binding::new(herald::domain::ChannelKind::Slack, Some("sl")), "U42ADA".into());
        u.ids.insert(herald::domain::ChannelKind::Discord.into(), "4242".into());
        u.ids.insert(herald::domain::Binding::new(herald::domain::ChannelKind::Synology, Some("syn")), "5".into());
        u.ids.insert(herald::domain::Binding::new(herald::domain::ChannelKind::Vocechat, Some("vc")), "7".into());
        u.plan = Some("pro".into());
        app.repo.save_user(&u, None).await.unwrap();
        app.snapshot().await.unwrap();
    });
    app
}

static UPDATE: AtomicI64 = AtomicI64::new(1);

fn telegram(text: &str) -> herald::http::Request {
    let id = UPDATE.fetch_add(1, Ordering::Relaxed);
    let body = json!({"update_id": id, "message": {"message_id": id, "from": {"id": 42, "is_bot": false, "first_name": "Ada", "language_code": "en"}, "chat": {"id": 42, "type": "private"}, "date": 1, "text": text}});
    let mut headers = http::HeaderMap::new();
    headers.insert("x-telegram-bot-api-secret-token", SECRET.parse().unwrap());
    herald::http::Request::new(http::Method::POST, &"/callback/telegram?source=tg".parse().unwrap(), headers, bytes::Bytes::from(body.to_string()))
}

fn wecom(now: i64) -> herald::http::Request {
    let id = UPDATE.fetch_add(1, Ordering::Relaxed);
    let c = Crypto::new(herald_tests::wecom::TOKEN, herald_tests::wecom::AES_KEY, herald_tests::wecom::CORP).unwrap();
    let inner = format!(
        "<xml><ToUserName><![CDATA[{0}]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[/my]]></Content><MsgId>{id}</MsgId><AgentID>1</AgentID></xml>",
        herald_tests::wecom::CORP
    );
    let enc = c.encrypt_with(&inner, [3; 16]).unwrap();
    let sig = c.signature(&now.to_string(), "n", &enc);
    let body = format!(
        "<xml><ToUserName><![CDATA[{}]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt><AgentID><![CDATA[1]]></AgentID></xml>",
        herald_tests::wecom::CORP
    );
    herald::http::Request::new(
        http::Method::POST,
        &format!("/callback/wecom?source=wc&msg_signature={sig}&timestamp={now}&nonce=n").parse().unwrap(),
        http::HeaderMap::new(),
        bytes::Bytes::from(body),
    )
}

/// `/herald my` as Slack posts a slash command, signed now.
fn slack_my() -> herald::http::Request {
    let id = UPDATE.fetch_add(1, Ordering::Relaxed);
    let body = herald_tests::slack::slash(&format!("{id}.1"), "U42ADA", "D42ADA", "my", "https://hooks.slack.com/commands/1");
    herald_tests::slack::signed("sl", &body, herald_tests::slack::SIGNING_SECRET, jiff::Timestamp::now().as_second())
}

/// `/my` as Discord posts a slash command interaction, signed now (Ed25519).
fn discord_my() -> herald::http::Request {
    let id = UPDATE.fetch_add(1, Ordering::Relaxed);
    let body = herald_tests::discord::command(&format!("{}", 1_300_000_000_000_000_000u64 + id as u64), "4242", "my", &[]);
    herald_tests::discord::signed("dc", &body, jiff::Timestamp::now().as_second())
}

/// `my` as the Synology Chat bot posts it.
fn synology_my() -> herald::http::Request {
    let id = UPDATE.fetch_add(1, Ordering::Relaxed);
    herald_tests::synology::request("syn", &herald_tests::synology::bot_post("5", "my", id, herald_tests::synology::OUTGOING_TOKEN))
}

/// `my` as VoceChat posts it to the bot's webhook.
fn vocechat_my() -> herald::http::Request {
    let id = UPDATE.fetch_add(1, Ordering::Relaxed);
    herald_tests::vocechat::request("vc", herald_tests::vocechat::WEBHOOK_SECRET, &herald_tests::vocechat::message(id as u64, "7", "my", None))
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let app = app(&rt);
    // Each request must succeed before it is timed: a benchmark of an error path is no figure.
    for (what, req) in [
        ("telegram /ping", telegram("/ping")),
        ("telegram /my", telegram("/my")),
        ("wecom /my", wecom(app.now().as_second())),
        ("slack /herald my", slack_my()),
        ("discord /my", discord_my()),
        ("synology my", synology_my()),
        ("vocechat my", vocechat_my()),
        ("api notify", herald_tests::request("POST", "/api/v1/notify", Some(json!({"type": "node", "text": "n1 offline", "to": "admins"})))),
    ] {
        let status = rt.block_on(herald::edge::router::route(&app, req)).status();
        assert!(status.is_success(), "{what}: {status}");
    }
    let mut g = c.benchmark_group("webhook");
    g.bench_function("telegram /ping (verify, dedup, bot, passive reply)", |b| {
        b.to_async(&rt).iter_batched(|| telegram("/ping"), |req| herald::edge::router::route(&app, req), BatchSize::SmallInput)
    });
    g.bench_function("telegram /my (and a user lookup)", |b| {
        b.to_async(&rt).iter_batched(|| telegram("/my"), |req| herald::edge::router::route(&app, req), BatchSize::SmallInput)
    });
    let now = app.now().as_second();
    g.bench_function("wecom /my (signature, AES decrypt, bot, encrypted reply)", |b| {
        b.to_async(&rt).iter_batched(|| wecom(now), |req| herald::edge::router::route(&app, req), BatchSize::SmallInput)
    });
    g.bench_function("slack /herald my (v0 signature, form, user lookup, ephemeral reply)", |b| {
        b.to_async(&rt).iter_batched(slack_my, |req| herald::edge::router::route(&app, req), BatchSize::SmallInput)
    });
    g.bench_function("discord /my (Ed25519 signature, user lookup, ephemeral response)", |b| {
        b.to_async(&rt).iter_batched(discord_my, |req| herald::edge::router::route(&app, req), BatchSize::SmallInput)
    });
    g.bench_function("synology my (token, form, user lookup, passive reply)", |b| {
        b.to_async(&rt).iter_batched(synology_my, |req| herald::edge::router::route(&app, req), BatchSize::SmallInput)
    });
    g.bench_function("vocechat my (URL secret, user lookup, reply queued)", |b| {
        b.to_async(&rt).iter_batched(vocechat_my, |req| herald::edge::router::route(&app, req), BatchSize::SmallInput)
    });
    g.bench_function("api notify (validate, plan, store, enqueue)", |b| {
        b.to_async(&rt).iter_batched(
            || herald_tests::request("POST", "/api/v1/notify", Some(json!({"type": "node", "text": "n1 offline", "to": "admins"}))),
            |req| herald::edge::router::route(&app, req),
            BatchSize::SmallInput,
        )
    });
    g.finish();

    // Sending cost that is Herald's own: a Web Push message encrypted (RFC 8291) and signed (VAPID).
    let mut g = c.benchmark_group("send");
    let (public, private) = herald::platforms::webpush::crypto::generate_vapid().unwrap();
    let ua = aws_lc_rs::agreement::PrivateKey::generate(&aws_lc_rs::agreement::ECDH_P256).unwrap();
    let ua_public = ua.compute_public_key().unwrap().as_ref().to_vec();
    let doc = json!({"title": "n1 offline", "body": "x".repeat(1000), "link": "https://panel.example.com/nodes/n1", "tag": "01N1"}).to_string();
    g.bench_function("webpush: encrypt a 1 KB document (aes128gcm, fresh ECDH key) and sign VAPID", |b| {
        b.iter(|| {
            let body = herald::platforms::webpush::crypto::encrypt(&ua_public, &[7; 16], doc.as_bytes()).unwrap();
            let auth =
                herald::platforms::webpush::crypto::vapid(&public, &private, "https://fcm.googleapis.com/fcm/send/x", "mailto:a@b.c", 1_900_000_000)
                    .unwrap();
            (body, auth)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
