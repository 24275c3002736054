//! The real function binaries under a Lambda Runtime API, against the DynamoDB / SQS emulator,
//! each invoked with its sample events from `events/`. The test command builds the binaries
//! first (`cargo build --workspace`); `HERALD_BIN_DIR` points elsewhere if needed.

#![allow(clippy::unwrap_used)]

use herald_tests::runtime::RuntimeApi;
use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn bin(name: &str) -> std::path::PathBuf {
    let dir = std::env::var("HERALD_BIN_DIR").unwrap_or_else(|_| format!("{}/../target/debug", env!("CARGO_MANIFEST_DIR")));
    let path = std::path::Path::new(&dir).join(name);
    assert!(path.exists(), "{} is missing: run `cargo build --workspace` first (the test command does)", path.display());
    path
}

fn sample(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(format!("{}/../events/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()).unwrap()
}

struct Env {
    endpoint: String,
    table: String,
    queue: String,
    dlq: String,
}

impl Env {
    fn spawn(&self, rt: &RuntimeApi, name: &str, extra: &[(&str, &str)]) -> Child {
        let mut cmd = Command::new(bin(name));
        cmd.env_clear()
            .envs(rt.env(name))
            .env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("HERALD_TABLE", &self.table)
            .env("HERALD_QUEUE_URL", &self.queue)
            .env("HERALD_DLQ_URL", &self.dlq)
            .env("HERALD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd.spawn().unwrap()
    }
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn status(r: &Option<Result<Value, Value>>) -> u64 {
    match r {
        Some(Ok(v)) => v["statusCode"].as_u64().unwrap_or(0),
        other => panic!("no HTTP answer: {other:?}"),
    }
}

/// A Slack or Discord sample, signed afresh (as the `sign-event` tool does).
fn signed_now(path: &str) -> Value {
    let mut event = sample(path);
    herald_tests::sign_sample(&mut event, path, jiff::Timestamp::now().as_second()).unwrap();
    event
}

async fn seed(env: &Env) {
    let config = herald_tests::sdk_config(&env.endpoint).await;
    let table = herald::store::dynamo::DynamoTable::new(aws_sdk_dynamodb::Client::new(&config), &env.table);
    let queue = herald::queue::sqs::SqsQueue::new(aws_sdk_sqs::Client::new(&config), &env.queue, &env.dlq);
    let app = herald::app::App::new(
        std::sync::Arc::new(table),
        std::sync::Arc::new(queue),
        std::sync::Arc::new(herald::domain::clock::SystemClock),
        herald_tests::test_config(),
    )
    .unwrap();
    let now = app.now();
    let tg = json!({"kind": "telegram", "settings": {"bot_token": herald_tests::telegram::BOT_TOKEN, "webhook_secret": "events-webhook-secret-0123456789", "api_base": "http://127.0.0.1:9"}});
    app.repo.put_channel(&herald::platforms::config::Channel::from_json("tg", tg, None, now).unwrap()).await.unwrap();
    let wc = json!({"kind": "wecom", "settings": {"corp_id": "wx5823bf96d3bd56c7", "agent_id": 1, "secret": "s", "token": "QDG6eK", "encoding_aes_key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "api_base": "http://127.0.0.1:9"}});
    app.repo.put_channel(&herald::platforms::config::Channel::from_json("wc", wc, None, now).unwrap()).await.unwrap();
    let sl = json!({"kind": "slack", "settings": {"bot_token": herald_tests::slack::BOT_TOKEN, "signing_secret": herald_tests::slack::SIGNING_SECRET, "api_base": "http://127.0.0.1:9"}});
    app.repo.put_channel(&herald::platforms::config::Channel::from_json("sl", sl, None, now).unwrap()).await.unwrap();
    app.repo.save_user(&herald::domain::User::new("1001", now), None).await.unwrap();
    app.repo.create_bind_code("1001", "evt-bind-code-0001").await.unwrap();
    app.repo.save_user(&herald::domain::User::new("1002", now), None).await.unwrap();
    app.repo.create_bind_code("1002", "evt-bind-code-0002").await.unwrap();
    let dc = json!({"kind": "discord", "settings": {"bot_token": herald_tests::discord::BOT_TOKEN, "application_id": herald_tests::discord::APPLICATION_ID, "public_key": herald_tests::discord::PUBLIC_KEY, "api_base": "http://127.0.0.1:9"}});
    app.repo.put_channel(&herald::platforms::config::Channel::from_json("dc", dc, None, now).unwrap()).await.unwrap();
    app.repo.save_user(&herald::domain::User::new("1003", now), None).await.unwrap();
    app.repo.create_bind_code("1003", "evt-bind-code-0003").await.unwrap();
    let syn = json!({"kind": "synology", "settings": {"bot_token": herald_tests::synology::BOT_TOKEN, "outgoing_token": herald_tests::synology::OUTGOING_TOKEN, "api_base": "http://127.0.0.1:9"}});
    app.repo.put_channel(&herald::platforms::config::Channel::from_json("syn", syn, None, now).unwrap()).await.unwrap();
    app.repo.save_user(&herald::domain::User::new("1004", now), None).await.unwrap();
    app.repo.create_bind_code("1004", "evt-bind-code-0004").await.unwrap();
    let vc = json!({"kind": "vocechat", "settings": {"server_url": "http://127.0.0.1:9", "api_key": herald_tests::vocechat::API_KEY, "webhook_secret": herald_tests::vocechat::WEBHOOK_SECRET}});
    app.repo.put_channel(&herald::platforms::config::Channel::from_json("vc", vc, None, now).unwrap()).await.unwrap();
    app.repo.save_user(&herald::domain::User::new("1005", now), None).await.unwrap();
    app.repo.create_bind_code("1005", "evt-bind-code-0005").await.unwrap();
}

#[tokio::test]
async fn every_function_binary_answers_its_sample_events() {
    let Some(endpoint) = herald_tests::emulator() else { return };
    let config = herald_tests::sdk_config(&endpoint).await;
    let table = herald_tests::unique("smoke");
    herald::store::dynamo::DynamoTable::new(aws_sdk_dynamodb::Client::new(&config), &table).ensure_table().await.unwrap();
    let q = herald::queue::sqs::SqsQueue::ensure(aws_sdk_sqs::Client::new(&config), &herald_tests::unique("smoke"), 180, 20).await.unwrap();
    let (queue, dlq) = q.urls();
    let env = Env { endpoint, table, queue: queue.to_owned(), dlq: dlq.to_owned() };
    seed(&env).await;

    // API
    let rt = RuntimeApi::start().await;
    let _f = Running(env.spawn(&rt, "herald-api", &[("HERALD_API_TOKEN", "events-api-token-0123456789")]));
    rt.started(Duration::from_secs(30)).await.unwrap();
    for (file, want) in [
        ("api/put-channel.json", 201),
        ("api/put-user.json", 200),
        ("api/notify.json", 202),
        ("api/get-status.json", 200),
        ("api/unauthorized.json", 401),
        ("api/invalid-notify.json", 400),
    ] {
        assert_eq!(status(&rt.call(sample(file)).await), want, "{file}");
    }

    // Telegram receiver
    let rt = RuntimeApi::start().await;
    let _f = Running(env.spawn(&rt, "herald-telegram", &[]));
    let bound = rt.call(sample("telegram/start-bind.json")).await;
    assert_eq!(status(&bound), 200);
    let reply: Value = serde_json::from_str(bound.unwrap().unwrap()["body"].as_str().unwrap()).unwrap();
    assert_eq!(reply["method"], "sendMessage");
    assert_eq!(status(&rt.call(sample("telegram/checkin.json")).await), 200);
    assert_eq!(status(&rt.call(sample("telegram/invalid-secret.json")).await), 401);
    assert_eq!(status(&rt.call(sample("telegram/invalid-body.json")).await), 400);

    // WeCom receiver
    let rt = RuntimeApi::start().await;
    let _f = Running(env.spawn(&rt, "herald-wecom", &[]));
    // The official vectors are from 2014: outside the replay window, which the URL check keeps
    // too (tests/wecom.rs answers them at their own time).
    assert_eq!(status(&rt.call(sample("wecom/url-check.json")).await), 401, "a 2014 URL check is stale");
    assert_eq!(status(&rt.call(sample("wecom/url-check-invalid-signature.json")).await), 401);
    assert_eq!(status(&rt.call(sample("wecom/message.json")).await), 401, "a 2014 timestamp is outside the replay window");

    // Slack receiver. The samples are signed at their own time (2026-11-23), which Herald refuses
    // now as Slack advises (5 minutes); signed afresh (as scripts/sign_slack_event.py does), they
    // are answered. The invalid ones are signed afresh with another app's secret.
    let rt = RuntimeApi::start().await;
    let _f = Running(env.spawn(&rt, "herald-slack", &[]));
    assert_eq!(status(&rt.call(sample("slack/slash-bind.json")).await), 401, "a sample signed days ago is stale");
    let verified = rt.call(signed_now("slack/url-verification.json")).await;
    assert_eq!(status(&verified), 200);
    assert!(verified.unwrap().unwrap()["body"].as_str().unwrap().contains("3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"));
    let bound = rt.call(signed_now("slack/slash-bind.json")).await;
    assert_eq!(status(&bound), 200);
    let reply: Value = serde_json::from_str(bound.unwrap().unwrap()["body"].as_str().unwrap()).unwrap();
    assert_eq!(
        (reply["response_type"].as_str(), reply["text"].as_str()),
        (Some("ephemeral"), Some("Bound to 1002. Your notifications will come here."))
    );
    for file in ["slack/event-checkin.json", "slack/button-my.json"] {
        assert_eq!(status(&rt.call(signed_now(file)).await), 200, "{file}");
    }
    for file in ["slack/slash-invalid-signature.json", "slack/event-invalid-signature.json", "slack/button-invalid-signature.json"] {
        assert_eq!(status(&rt.call(signed_now(file)).await), 401, "{file}");
    }

    // Discord interactions endpoint, the same way.
    let rt = RuntimeApi::start().await;
    let _f = Running(env.spawn(&rt, "herald-discord", &[]));
    assert_eq!(status(&rt.call(sample("discord/ping.json")).await), 401, "a sample signed days ago is stale");
    let pong = rt.call(signed_now("discord/ping.json")).await;
    assert_eq!(status(&pong), 200);
    assert_eq!(pong.unwrap().unwrap()["body"], r#"{"type":1}"#);
    let bound = rt.call(signed_now("discord/command-bind.json")).await;
    let reply: Value = serde_json::from_str(bound.unwrap().unwrap()["body"].as_str().unwrap()).unwrap();
    assert_eq!(reply["data"]["content"], "Bound to 1003. Your notifications will come here.", "{reply}");
    for file in ["discord/command-checkin.json", "discord/button-my.json"] {
        assert_eq!(status(&rt.call(signed_now(file)).await), 200, "{file}");
    }
    for file in ["discord/ping-invalid-signature.json", "discord/command-invalid-signature.json"] {
        assert_eq!(status(&rt.call(signed_now(file)).await), 401, "{file}");
    }

    // Synology Chat bot: the answer rides back in the response.
    let rt = RuntimeApi::start().await;
    let _f = Running(env.spawn(&rt, "herald-synology", &[]));
    let bound = rt.call(sample("synology/bot-bind.json")).await;
    let reply: Value = serde_json::from_str(bound.unwrap().unwrap()["body"].as_str().unwrap()).unwrap();
    assert_eq!(reply["text"], "Bound to 1004. Your notifications will come here.");
    assert_eq!(status(&rt.call(sample("synology/bot-my.json")).await), 200);
    assert_eq!(status(&rt.call(sample("synology/invalid-token.json")).await), 401);

    // VoceChat webhook: the URL check, messages (answered through the queue), a wrong token.
    let rt = RuntimeApi::start().await;
    let _f = Running(env.spawn(&rt, "herald-vocechat", &[]));
    for (file, want) in [
        ("vocechat/url-check.json", 200),
        ("vocechat/message-bind.json", 200),
        ("vocechat/message-my.json", 200),
        ("vocechat/invalid-token.json", 401),
    ] {
        assert_eq!(status(&rt.call(sample(file)).await), want, "{file}");
    }

    // Dispatcher
    let rt = RuntimeApi::start().await;
    let _f = Running(env.spawn(&rt, "herald-dispatcher", &[]));
    // The sample's delivery is not in the store: on its first receive it may be a moment ahead
    // of its records (the API queues before it stores), so it comes back to be looked at again.
    let r = rt.call(sample("dispatcher/deliver.json")).await.unwrap().unwrap();
    assert_eq!(r["batchItemFailures"], json!([{"itemIdentifier": "0d8a3f3e-1b7c-4a87-9f3e-2f1f1a1e0001"}]), "{r}");
    let r = rt.call(sample("dispatcher/unreadable.json")).await.unwrap().unwrap();
    assert_eq!(r["batchItemFailures"], json!([]), "{r}");
    let depth = herald::queue::Queue::depth(&q).await.unwrap();
    assert_eq!(depth.dead, 1, "the unreadable message went to the dead-letter queue");

    // Scheduler
    let rt = RuntimeApi::start().await;
    let _f = Running(env.spawn(&rt, "herald-scheduler", &[]));
    let tick = rt.call(sample("scheduler/tick.json")).await.unwrap().unwrap();
    assert!(tick["nodes"]["checked"].is_number(), "{tick}");
    assert!(rt.call(sample("scheduler/scheduled-event.json")).await.unwrap().is_ok());
    let bad = rt.call(sample("scheduler/invalid-job.json")).await.unwrap().unwrap_err();
    assert!(bad.to_string().contains("unknown job"), "{bad}");
}

#[tokio::test]
async fn the_api_function_refuses_to_start_with_a_short_token_and_says_why() {
    let rt = RuntimeApi::start().await;
    let env = Env { endpoint: "http://127.0.0.1:9".into(), table: "t".into(), queue: "q".into(), dlq: "d".into() };
    let mut cmd = Command::new(bin("herald-api"));
    cmd.env_clear()
        .envs(rt.env("herald-api"))
        .env("HERALD_API_TOKEN", "short")
        .env("HERALD_TABLE", &env.table)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let out = tokio::task::spawn_blocking(move || cmd.output()).await.unwrap().unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("HERALD_API_TOKEN must be at least 16 characters (it has 5)"), "{said}");
    // It never asked for work.
    assert!(rt.started(Duration::from_millis(200)).await.is_err());
}
