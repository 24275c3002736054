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
