//! A real crash: the dispatcher's release of the real binary, under the Lambda Runtime API
//! double and against the DynamoDB / SQS emulator, is killed with SIGKILL in the middle of a
//! batch. SQS hands the batch out again; another dispatcher finishes it. Nothing is lost, and
//! the only message sent twice is the one in flight at the kill (the documented window).

#![allow(clippy::unwrap_used)]

use herald_tests::runtime::RuntimeApi;
use herald_tests::servers::{Reply, TestServer};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const N: usize = 10;

#[tokio::test]
async fn a_dispatcher_killed_mid_batch_loses_nothing_and_repeats_at_most_the_send_in_flight() {
    let Some(endpoint) = herald_tests::emulator() else { return };
    let config = herald_tests::sdk_config(&endpoint).await;
    let table_name = herald_tests::unique("kill");
    let table = herald::store::dynamo::DynamoTable::new(aws_sdk_dynamodb::Client::new(&config), &table_name);
    table.ensure_table().await.unwrap();
    // Visibility 3 s: what the killed instance held comes back that soon, as SQS would after
    // the queue's visibility timeout.
    let queue = herald::queue::sqs::SqsQueue::ensure(aws_sdk_sqs::Client::new(&config), &herald_tests::unique("kill"), 3, 20).await.unwrap();
    let (queue_url, dlq_url) = queue.urls();
    let (queue_url, dlq_url) = (queue_url.to_owned(), dlq_url.to_owned());
    let mut cfg = herald_tests::test_config();
    cfg.lease = Duration::from_secs(2);
    let app = herald::app::App::new(Arc::new(table), Arc::new(queue), Arc::new(herald::domain::clock::SystemClock), cfg).unwrap();

    // A webhook endpoint that takes a while to answer, so the kill lands mid-batch.
    let hook = TestServer::start(|_| Reply::ok("{}").after(Duration::from_millis(300))).await;
    let (status, _) = herald_tests::call(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": hook.url}}))).await;
    assert_eq!(status, 201);
    let mut ids = Vec::new();
    for i in 0..N {
        let (status, v) =
            herald_tests::call(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": format!("k{i}"), "to": "admins"}))).await;
        assert_eq!(status, 202, "{v}");
        ids.push(v["id"].as_str().unwrap().to_owned());
    }

    // The batch, as the SQS event source would hand it to the function.
    let mut msgs = Vec::new();
    for _ in 0..20 {
        msgs.extend(app.queue.receive(10, Duration::from_millis(100)).await.unwrap());
        if msgs.len() >= N {
            break;
        }
    }
    assert_eq!(msgs.len(), N);
    let records: Vec<Value> = msgs
        .iter()
        .map(|m| json!({"messageId": m.id, "receiptHandle": m.receipt, "body": m.body, "attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": m.group}, "messageAttributes": {}, "eventSource": "aws:sqs"}))
        .collect();

    let rt = RuntimeApi::start().await;
    let bin = std::env::var("HERALD_BIN_DIR").unwrap_or_else(|_| format!("{}/../target/debug", env!("CARGO_MANIFEST_DIR")));
    let mut child = Command::new(format!("{bin}/herald-dispatcher"))
        .env_clear()
        .envs(rt.env("herald-dispatcher"))
        .env("AWS_ENDPOINT_URL", &endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("HERALD_TABLE", &table_name)
        .env("HERALD_QUEUE_URL", &queue_url)
        .env("HERALD_DLQ_URL", &dlq_url)
        .env("HERALD_LEASE_SECS", "2")
        .env("HERALD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run `cargo build --workspace` first (the test command does)");
    rt.started(Duration::from_secs(30)).await.unwrap();
    let invocation = rt.invoke(json!({"Records": records}));
    // SIGKILL once the third send has reached the endpoint: mid-batch, mid-send.
    hook.wait_for(3, Duration::from_secs(30)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let reached_before_kill = hook.received().len();
    assert!(reached_before_kill < N, "the kill came before the batch was done");
    assert!(rt.result(&invocation, Duration::from_millis(100)).await.is_none(), "the killed function never answered");

    // Another instance takes over what comes back.
    let d = herald::dispatch::Dispatcher::default();
    let until = Instant::now() + Duration::from_secs(90);
    loop {
        let batch = app.queue.receive(10, Duration::from_millis(500)).await.unwrap();
        let failed = d.process(&app, batch.clone()).await;
        for m in batch.iter().filter(|m| !failed.contains(&m.id)) {
            app.queue.delete(&m.receipt).await.unwrap();
        }
        let depth = app.queue.depth().await.unwrap();
        if depth.waiting == 0 && depth.in_flight == 0 && batch.is_empty() || Instant::now() > until {
            break;
        }
    }

    let mut per_delivery: HashMap<String, usize> = HashMap::new();
    for r in hook.received() {
        *per_delivery.entry(r.header("x-herald-delivery").unwrap().to_owned()).or_default() += 1;
    }
    assert_eq!(per_delivery.len(), N, "every notification reached the endpoint");
    let repeated: usize = per_delivery.values().map(|n| n - 1).sum();
    eprintln!("{reached_before_kill} sends reached the endpoint before the kill; {repeated} repeated after it");
    assert!(repeated <= 1, "only the send in flight at the kill may repeat: {per_delivery:?}");
    for id in &ids {
        let (_, v) = herald_tests::call(&app, "GET", &format!("/api/v1/notifications/{id}"), None).await;
        assert_eq!(v["deliveries"][0]["status"], "sent", "{v}");
    }
}

/// README: "Ctrl-C or `kill` (SIGINT, SIGTERM) stops `herald-local` in order": the real binary,
/// stopped while a send is under way, finishes and records it, exits 0, and after a restart on
/// the same data directory nothing is sent twice; what was still queued is sent then.
#[tokio::test]
async fn the_local_runner_stops_in_order_on_sigterm() {
    let hook = TestServer::start(|_| Reply::ok("{}").after(Duration::from_millis(1500))).await;
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let bin = std::env::var("HERALD_BIN_DIR").unwrap_or_else(|_| format!("{}/../target/debug", env!("CARGO_MANIFEST_DIR")));
    let start = || {
        Command::new(format!("{bin}/herald-local"))
            .env_clear()
            .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
            .env("HERALD_DATA_DIR", dir.path())
            .env("HERALD_API_TOKEN", herald_tests::TOKEN)
            .env("HERALD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("run `cargo build --workspace` first (the test command does)")
    };
    let client = reqwest::Client::new();
    let call = |method: reqwest::Method, path: &str, body: Value| {
        client.request(method, format!("{base}{path}")).bearer_auth(herald_tests::TOKEN).json(&body).send()
    };
    let up = || async {
        for _ in 0..100 {
            if client.get(format!("{base}/healthz")).send().await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("herald-local did not start");
    };
    let mut child = start();
    up().await;
    let put = call(reqwest::Method::PUT, "/api/v1/channels/hook", json!({"kind": "webhook", "settings": {"url": hook.url}})).await.unwrap();
    assert_eq!(put.status(), 201);
    for i in 0..3 {
        let r = call(reqwest::Method::POST, "/api/v1/notify", json!({"type": "node", "text": format!("n{i}"), "to": "admins"})).await.unwrap();
        assert_eq!(r.status(), 202);
    }
    // The first send is under way (the endpoint takes 1.5 s to answer): stop now.
    hook.wait_for(1, Duration::from_secs(10)).await;
    std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    // No new request is taken, not even on a connection kept alive from before.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let late = call(reqwest::Method::POST, "/api/v1/notify", json!({"type": "node", "text": "late", "to": "admins"})).await;
    assert!(late.is_err(), "{late:?}");
    // Waited for without blocking this runtime: the endpoint answers from it.
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status}");
    assert_eq!(hook.received().len(), 1, "the send under way finished; nothing more was started");

    let mut child = start();
    up().await;
    // The three, and whatever Herald raised itself at its first start (the daily report).
    let texts = |hook: &TestServer| hook.received().iter().filter_map(|r| r.json()["text"].as_str().map(str::to_owned)).collect::<Vec<_>>();
    for _ in 0..200 {
        if ["n0", "n1", "n2"].iter().all(|t| texts(&hook).iter().any(|x| x == t)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    child.kill().unwrap();
    child.wait().unwrap();
    let mut per_delivery: HashMap<String, usize> = HashMap::new();
    for r in hook.received() {
        *per_delivery.entry(r.header("x-herald-delivery").unwrap().to_owned()).or_default() += 1;
    }
    assert!(per_delivery.values().all(|n| *n == 1), "each sent once: {per_delivery:?}");
    for t in ["n0", "n1", "n2"] {
        assert_eq!(texts(&hook).iter().filter(|x| *x == t).count(), 1, "{t}");
    }
}

/// `herald-local --help` prints what sets it and exits, starting nothing (it once started the
/// server in `./.herald`); any other argument is refused (exit 2), as it takes none.
#[test]
fn the_local_runner_answers_help_and_refuses_arguments() {
    let bin = std::env::var("HERALD_BIN_DIR").unwrap_or_else(|_| format!("{}/../target/debug", env!("CARGO_MANIFEST_DIR")));
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| Command::new(format!("{bin}/herald-local")).args(args).current_dir(dir.path()).env_clear().output().unwrap();
    let help = run(&["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("HERALD_DATA_DIR"));
    for args in [&["serve"][..], &["--help", "extra"], &["-h", "-h"]] {
        let other = run(args);
        assert_eq!(other.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&other.stderr).contains("takes no arguments"), "{args:?}");
    }
    // Neither an argument nor a variable that is not UTF-8 is a panic or read as unset.
    use std::os::unix::ffi::OsStrExt;
    let bytes = std::ffi::OsStr::from_bytes(b"/tmp/d\xff");
    let odd = Command::new(format!("{bin}/herald-local")).arg(bytes).current_dir(dir.path()).env_clear().output().unwrap();
    assert_eq!(odd.status.code(), Some(2), "{odd:?}");
    let odd = Command::new(format!("{bin}/herald-local")).current_dir(dir.path()).env_clear().env("HERALD_DATA_DIR", bytes).output().unwrap();
    assert_eq!(odd.status.code(), Some(2), "{odd:?}");
    assert!(String::from_utf8_lossy(&odd.stderr).contains("HERALD_DATA_DIR is not valid UTF-8"), "{odd:?}");
    // A bad variable is refused before anything is written too.
    let bad = Command::new(format!("{bin}/herald-local")).current_dir(dir.path()).env_clear().env("HERALD_TICK_SECS", "0").output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("HERALD_TICK_SECS"));
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none(), "nothing started, nothing written");
}
