//! Test support: the emulator connection, adapters made fresh per test, and (in [`servers`])
//! local HTTP servers that behave like the chat platforms' APIs.

#![allow(clippy::unwrap_used)]

use herald::queue::memory::MemoryQueue;
use herald::queue::sqs::SqsQueue;
use herald::store::dynamo::DynamoTable;
use herald::store::embedded::EmbeddedTable;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The DynamoDB / SQS emulator's endpoint (`HERALD_TEST_EMULATOR`, set by the test command).
/// Absent, emulator tests skip themselves, unless `HERALD_REQUIRE_EMULATOR` (also set by the
/// test command, and by CI) says they must run: then they fail.
pub fn emulator() -> Option<String> {
    match std::env::var("HERALD_TEST_EMULATOR") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var_os("HERALD_REQUIRE_EMULATOR").is_some() || std::env::var_os("CI").is_some() => {
            panic!("HERALD_TEST_EMULATOR is not set but the emulator is required: run the README's test command")
        }
        _ => {
            eprintln!("skipped: no emulator (HERALD_TEST_EMULATOR unset)");
            None
        }
    }
}

pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "test"))
        .load()
        .await
}

/// A name no other test in this run uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!("{prefix}-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
}

/// A fresh DynamoDB table on the emulator, or `None` when there is none (see [`emulator`]).
pub async fn dynamo_table() -> Option<DynamoTable> {
    let endpoint = emulator()?;
    let config = sdk_config(&endpoint).await;
    let table = DynamoTable::new(aws_sdk_dynamodb::Client::new(&config), unique("herald"));
    table.ensure_table().await.unwrap();
    Some(table)
}

/// A fresh embedded table in a temporary directory (kept alive by the returned guard).
pub fn embedded_table() -> (tempfile::TempDir, EmbeddedTable) {
    let dir = tempfile::tempdir().unwrap();
    let table = EmbeddedTable::open(dir.path()).unwrap();
    (dir, table)
}

/// A fresh SQS FIFO queue pair on the emulator.
pub async fn sqs_queue(visibility_secs: u32, max_receives: u32) -> Option<SqsQueue> {
    let endpoint = emulator()?;
    let config = sdk_config(&endpoint).await;
    Some(SqsQueue::ensure(aws_sdk_sqs::Client::new(&config), &unique("herald"), visibility_secs, max_receives).await.unwrap())
}

pub fn memory_queue(visibility_secs: u32, max_receives: u32) -> MemoryQueue {
    MemoryQueue::new(Duration::from_secs(visibility_secs as u64), max_receives)
}

pub mod browser;
pub mod counting;
pub mod discord;
pub mod faults;
pub mod host;
pub mod runtime;
pub mod servers;
pub mod slack;
pub mod synology;
pub mod telegram;
pub mod vocechat;
pub mod webpush;
pub mod wecom;

use herald::app::{App, Config};
use herald::domain::clock::Clock;
use herald::domain::secret::Secret;
use herald::http::{Request, Response};

pub const TOKEN: &str = "test-token-0123456789";

/// Herald on the embedded store and the in-process queue, in a temporary directory (one
/// file, as the local runner keeps them).
pub fn embedded_app() -> (tempfile::TempDir, App) {
    embedded_app_with(std::sync::Arc::new(herald::domain::clock::SystemClock))
}

pub fn embedded_app_with(clock: std::sync::Arc<dyn Clock>) -> (tempfile::TempDir, App) {
    embedded_app_custom(clock, |_| {})
}

/// The test configuration: the test token, no caching, quick retries.
pub fn test_config() -> Config {
    Config { api_token: Some(Secret::new(TOKEN)), cache_ttl: Duration::ZERO, retry_base: Duration::ZERO, ..Config::default() }
}

pub fn embedded_app_custom(clock: std::sync::Arc<dyn Clock>, tweak: impl FnOnce(&mut Config)) -> (tempfile::TempDir, App) {
    let dir = tempfile::tempdir().unwrap();
    let table = EmbeddedTable::open(dir.path()).unwrap();
    let mut config = test_config();
    tweak(&mut config);
    let app = App::on_store_file(table, clock, config).unwrap();
    (dir, app)
}

/// Herald on DynamoDB and SQS (the emulator), each test with its own table and queues.
pub async fn aws_app() -> Option<App> {
    let table = dynamo_table().await?;
    let queue = sqs_queue(180, 20).await?;
    let config = test_config();
    Some(App::new(std::sync::Arc::new(table), std::sync::Arc::new(queue), std::sync::Arc::new(herald::domain::clock::SystemClock), config).unwrap())
}

/// A request as a client would send it, with the API token.
pub fn request(method: &str, path: &str, body: Option<serde_json::Value>) -> Request {
    let mut headers = http::HeaderMap::new();
    headers.insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
    let uri: http::Uri = path.parse().unwrap();
    let body = body.map(|b| bytes::Bytes::from(b.to_string())).unwrap_or_default();
    Request::new(method.parse().unwrap(), &uri, headers, body)
}

/// Sends a request through the router every function and the local runner use.
pub async fn call(app: &App, method: &str, path: &str, body: Option<serde_json::Value>) -> (u16, serde_json::Value) {
    let resp: Response = herald::edge::router::route(app, request(method, path, body)).await;
    let status = resp.status().as_u16();
    let v = serde_json::from_slice(resp.body()).unwrap_or(serde_json::Value::Null);
    (status, v)
}

/// Works the queue until it is empty (and nothing is in flight), as the dispatcher would.
pub async fn drain(app: &App, dispatcher: &herald::dispatch::Dispatcher) {
    for _ in 0..200 {
        let batch = app.queue.receive(10, Duration::from_millis(50)).await.unwrap();
        if batch.is_empty() {
            let depth = app.queue.depth().await.unwrap();
            if depth.waiting == 0 && depth.in_flight == 0 {
                return;
            }
            continue;
        }
        let failed = dispatcher.process(app, batch.clone()).await;
        for m in batch.iter().filter(|m| !failed.contains(&m.id)) {
            app.queue.delete(&m.receipt).await.unwrap();
        }
    }
}

/// Starts the local runner's HTTP server and workers on a free port; returns its base URL.
pub async fn start_local(app: App) -> (String, std::sync::Arc<App>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = std::sync::Arc::new(app);
    let dispatcher = std::sync::Arc::new(herald::dispatch::Dispatcher::default());
    tokio::spawn(herald::edge::local::work(app.clone(), dispatcher));
    tokio::spawn(herald::edge::local::serve(app.clone(), listener));
    (url, app)
}

/// Stores `n` users bound on Telegram whose accounts expire at `expires_at` (in one batch write),
/// and counts them as the API would.
pub async fn seed_users(app: &App, n: usize, expires_at: &str) -> usize {
    use herald::domain::{ChannelKind, User};
    let now = herald::domain::clock::Clock::now(&*app.clock);
    let at: jiff::Timestamp = expires_at.parse().unwrap();
    let mut created = 0;
    let ids: Vec<String> = (0..n).map(|i| format!("user{i:06}")).collect();
    for chunk in ids.chunks(2000) {
        let mut items = Vec::new();
        for id in chunk {
            let mut u = User::new(id, now);
            u.expires_at = Some(at);
            u.ids.insert(ChannelKind::Telegram.into(), format!("{}", 100_000 + created));
            items.push(u);
            created += 1;
        }
        app.repo.seed_users(&items).await.unwrap();
    }
    app.repo.bump_total("users", n as i64).await.unwrap();
    created
}

/// Stores users `f00000`.. bound to Telegram chats `500000`.. (one chat each).
pub async fn seed_chats(app: &App, n: usize) {
    let now = herald::domain::clock::Clock::now(&*app.clock);
    let users: Vec<herald::domain::User> = (0..n)
        .map(|i| {
            let mut u = herald::domain::User::new(&format!("f{i:05}"), now);
            u.ids.insert(herald::domain::ChannelKind::Telegram.into(), format!("{}", 500_000 + i));
            u
        })
        .collect();
    app.repo.seed_users(&users).await.unwrap();
}

/// A rendered-to-be message with only `text`, `format` and `title` set, for the renderers and
/// splitters' tests.
pub fn message(text: &str, format: herald::domain::Format, title: Option<String>) -> herald::text::message::Message {
    herald::text::message::Message {
        notification: "n".into(),
        delivery: "d".into(),
        ty: "announcement".into(),
        title,
        text: text.into(),
        format,
        link: None,
        image: None,
        buttons: Vec::new(),
        silent: false,
        locale: herald::domain::Locale::En,
        merged: false,
        created_at: jiff::Timestamp::UNIX_EPOCH,
    }
}

/// Signs a sample event of `events/` at `at` as its platform signs a request (the platform is
/// read from its `rawPath`): Slack's with the secret of Slack's documented example, Discord's
/// with the RFC 8032 test key. A file named `*invalid-signature*` gets a signature that does not
/// verify (another secret, or a signature over another body). Errors: not a Slack or Discord
/// request event.
pub fn sign_sample(event: &mut serde_json::Value, file: &str, at: i64) -> Result<(), String> {
    use serde_json::json;
    let body = event["body"].as_str().ok_or("the event has no body")?.to_owned();
    let path = event["rawPath"].as_str().unwrap_or_default().to_owned();
    let ts = at.to_string();
    let invalid = file.contains("invalid-signature");
    let headers = &mut event["headers"];
    if path == "/callback/slack" {
        let secret = if invalid { "another-app-secret-0000000000000" } else { slack::SIGNING_SECRET };
        headers["x-slack-request-timestamp"] = json!(ts);
        headers["x-slack-signature"] = json!(herald::platforms::slack::receive::signature(secret, &ts, body.as_bytes()));
    } else if path == "/callback/discord" {
        let signed = if invalid { format!("{body} ") } else { body };
        headers["x-signature-timestamp"] = json!(ts);
        headers["x-signature-ed25519"] = json!(discord::signature(&ts, &signed));
    } else {
        return Err(format!("{file}: not a Slack or Discord request (rawPath {path:?}); only those are signed"));
    }
    Ok(())
}

/// The sample events in `events/{dir}`: each file's name and its event.
pub fn samples(dir: &str) -> Vec<(String, serde_json::Value)> {
    let dir = format!("{}/../events/{dir}", env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<(String, serde_json::Value)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let event = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            (path.file_name().unwrap().to_string_lossy().into_owned(), event)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// When the signed samples in `events/` were signed (2026-11-23 12:00 UTC).
pub const SAMPLES_SIGNED_AT: i64 = 1_795_435_200;
