//! The dispatcher's promises, against a local webhook endpoint that misbehaves on cue: each
//! delivery sent once, retries with backoff, 429 honoured by rescheduling, permanent failures
//! recorded, dead-lettered, filed for the admins and redrivable.

#![allow(clippy::unwrap_used)]

use herald::app::App;
use herald::dispatch::Dispatcher;
use herald_tests::servers::{Reply, TestServer};
use herald_tests::{call, drain, embedded_app_custom};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A server answering with `replies` in turn, then 200 for ever.
async fn scripted(replies: Vec<Reply>) -> TestServer {
    let n = AtomicUsize::new(0);
    TestServer::start(move |_| replies.get(n.fetch_add(1, Ordering::SeqCst)).cloned().unwrap_or_else(|| Reply::ok("{}"))).await
}

async fn app_with_hook(url: &str, tweak: impl FnOnce(&mut herald::app::Config)) -> (tempfile::TempDir, App) {
    let (dir, app) = embedded_app_custom(Arc::new(herald::domain::clock::SystemClock), tweak);
    let (status, _) = call(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": url}}))).await;
    assert_eq!(status, 201);
    call(&app, "PUT", "/api/v1/users/a1", Some(json!({"role": "admin"}))).await;
    (dir, app)
}

async fn notify(app: &App) -> String {
    let (status, v) = call(app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": "n1 is offline", "to": "admins"}))).await;
    assert_eq!(status, 202, "{v}");
    v["id"].as_str().unwrap().to_owned()
}

async fn delivery(app: &App, id: &str) -> Value {
    let (_, v) = call(app, "GET", &format!("/api/v1/notifications/{id}"), None).await;
    v["deliveries"][0].clone()
}

#[tokio::test]
async fn sends_once_even_when_the_queue_delivers_the_message_again() {
    let hook = scripted(vec![]).await;
    let (_d, app) = app_with_hook(&hook.url, |_| {}).await;
    let d = Dispatcher::default();
    let id = notify(&app).await;
    drain(&app, &d).await;
    assert_eq!(hook.received().len(), 1);

    // SQS delivers at least once: the same job again (past the FIFO dedup window) sends nothing.
    let did = app.repo.deliveries(&id, None, 10).await.unwrap().items[0].id.clone();
    let mut again = herald::queue::job::Job::deliver(&app.repo.delivery(&id, &did).await.unwrap().unwrap().value);
    again.dedup = "a-later-copy".into();
    app.queue.send(vec![again]).await.unwrap();
    drain(&app, &d).await;
    assert_eq!(hook.received().len(), 1);
    assert_eq!(delivery(&app, &id).await["status"], "sent");
}

#[tokio::test]
async fn retries_transient_failures_then_sends() {
    let hook = scripted(vec![Reply::status(500), Reply::status(502)]).await;
    let (_d, app) = app_with_hook(&hook.url, |_| {}).await;
    let id = notify(&app).await;
    drain(&app, &Dispatcher::default()).await;
    let d = delivery(&app, &id).await;
    assert_eq!((d["status"].as_str(), d["attempts"].as_u64()), (Some("sent"), Some(3)));
    assert_eq!(hook.received().len(), 3);
}

#[tokio::test]
async fn treats_a_timeout_as_transient() {
    let hook = scripted(vec![Reply::ok("{}").after(Duration::from_millis(2500))]).await;
    let (_d, app) = app_with_hook(&hook.url, |c| c.http_timeout = Duration::from_secs(1)).await;
    let id = notify(&app).await;
    drain(&app, &Dispatcher::default()).await;
    let d = delivery(&app, &id).await;
    assert_eq!((d["status"].as_str(), d["attempts"].as_u64()), (Some("sent"), Some(2)));
}

#[tokio::test]
async fn honours_retry_after_by_rescheduling_not_counting_it_as_a_try() {
    let hook = scripted(vec![Reply::status(429).header("retry-after", "1")]).await;
    let (_d, app) = app_with_hook(&hook.url, |_| {}).await;
    let id = notify(&app).await;
    let started = Instant::now();
    // One pass: the 429 sends the message back to the queue (failed, visibility set to the
    // wait) instead of waiting in the function; a sleeping dispatcher would have sent twice here.
    let d = Dispatcher::default();
    let batch = app.queue.receive(10, Duration::from_millis(200)).await.unwrap();
    let failed = d.process(&app, batch.clone()).await;
    assert_eq!(failed, [batch[0].id.clone()]);
    assert_eq!(hook.received().len(), 1);
    let waiting = delivery(&app, &id).await;
    assert_eq!((waiting["status"].as_str(), waiting["attempts"].as_u64()), (Some("queued"), Some(0)), "{waiting}");
    assert!(app.queue.receive(10, Duration::ZERO).await.unwrap().is_empty(), "hidden until retry-after");
    drain(&app, &d).await;
    let got = hook.received();
    assert_eq!(got.len(), 2);
    assert!(got[1].at.duration_since(got[0].at) >= Duration::from_millis(950));
    assert!(started.elapsed() >= Duration::from_millis(950));
    let d = delivery(&app, &id).await;
    assert_eq!((d["status"].as_str(), d["attempts"].as_u64()), (Some("sent"), Some(1)));
}

#[tokio::test]
async fn gives_up_after_the_last_attempt_and_dead_letters() {
    let hook = TestServer::start(|_| Reply::status(503)).await;
    let (_d, app) = app_with_hook(&hook.url, |c| c.max_attempts = 3).await;
    let id = notify(&app).await;
    drain(&app, &Dispatcher::default()).await;
    let d = delivery(&app, &id).await;
    assert_eq!(d["status"], "failed");
    assert_eq!(d["reason"], "gave up after 3 attempts: HTTP 503");
    assert_eq!(hook.received().len(), 3);
    assert_eq!(app.queue.depth().await.unwrap().dead, 1);
}

/// A webhook URL that answers 404 (a wrong path: the usual set-up mistake) fails for good and
/// is filed for the admins, not dropped as a user who cannot be reached.
#[tokio::test]
async fn a_webhook_answering_404_is_filed_for_the_admins() {
    let hook = TestServer::start(|_| Reply::status(404)).await;
    let (_d, app) = app_with_hook(&hook.url, |_| {}).await;
    let id = notify(&app).await;
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(delivery(&app, &id).await["reason"], "HTTP 404");
    let (_, m) = call(&app, "GET", "/api/v1/messages", None).await;
    assert_eq!(m["messages"][0]["category"], "failure", "{m}");
    assert!(m["messages"][0]["text"].as_str().unwrap().contains("HTTP 404"), "{m}");
}

#[tokio::test]
async fn a_permanent_failure_is_recorded_filed_for_the_admins_and_redrivable() {
    let broken = Arc::new(AtomicUsize::new(1));
    let flag = broken.clone();
    let hook = TestServer::start(move |_| if flag.load(Ordering::SeqCst) == 1 { Reply::status(400) } else { Reply::ok("{}") }).await;
    let (_d, app) = app_with_hook(&hook.url, |_| {}).await;
    let id = notify(&app).await;
    drain(&app, &Dispatcher::default()).await;
    let d = delivery(&app, &id).await;
    assert_eq!((d["status"].as_str(), d["reason"].as_str(), d["attempts"].as_u64()), (Some("failed"), Some("HTTP 400"), Some(1)));
    assert_eq!(app.queue.depth().await.unwrap().dead, 1);

    // The admins' message center says so, for each admin and in the shared feed.
    for path in ["/api/v1/messages", "/api/v1/messages?admin=a1"] {
        let (status, m) = call(&app, "GET", path, None).await;
        assert_eq!(status, 200);
        let first = &m["messages"][0];
        assert_eq!(first["category"], "failure");
        assert!(first["text"].as_str().unwrap().contains("HTTP 400"), "{m}");
        assert_eq!(first["read"], false);
    }
    let (_, m) = call(&app, "GET", "/api/v1/messages?admin=a1", None).await;
    let mid = m["messages"][0]["id"].as_str().unwrap();
    assert_eq!(call(&app, "POST", &format!("/api/v1/messages/{mid}/read?admin=a1"), None).await.0, 204);
    let (_, m) = call(&app, "GET", "/api/v1/messages?admin=a1", None).await;
    assert_eq!(m["messages"][0]["read"], true);
    assert_eq!(call(&app, "POST", "/api/v1/messages/nope/read", None).await.0, 404);

    // Fixed, then redriven: sent.
    broken.store(0, Ordering::SeqCst);
    let (status, r) = call(&app, "POST", "/api/v1/deadletters/redrive", None).await;
    assert_eq!((status, r["moved"].as_u64()), (200, Some(1)));
    drain(&app, &Dispatcher::default()).await;
    assert_eq!(delivery(&app, &id).await["status"], "sent");
    assert_eq!(app.queue.depth().await.unwrap().dead, 0);
}

#[tokio::test]
async fn the_test_endpoint_reports_the_platforms_answer() {
    let hook = scripted(vec![Reply::ok("{}"), Reply::status(500)]).await;
    let (_d, app) = app_with_hook(&hook.url, |_| {}).await;
    let (status, ok) = call(&app, "POST", "/api/v1/channels/hook/test", None).await;
    assert_eq!((status, ok["ok"].as_bool(), ok["outcome"].as_str()), (200, Some(true), Some("sent")));
    assert_eq!(hook.received()[0].json()["title"], "Test message");
    let (_, failed) = call(&app, "POST", "/api/v1/channels/hook/test", Some(json!({"text": "hello"}))).await;
    assert_eq!((failed["ok"].as_bool(), failed["detail"].as_str()), (Some(false), Some("HTTP 500")));
    // Sent now, not queued.
    assert_eq!(app.queue.depth().await.unwrap().waiting, 0);
    assert_eq!(call(&app, "POST", "/api/v1/channels/none/test", None).await.0, 404);
}

#[tokio::test]
async fn status_shows_the_queue_and_todays_counts() {
    let hook = scripted(vec![]).await;
    let (_d, app) = app_with_hook(&hook.url, |_| {}).await;
    notify(&app).await;
    drain(&app, &Dispatcher::default()).await;
    let (status, s) = call(&app, "GET", "/api/v1/status", None).await;
    assert_eq!(status, 200);
    assert_eq!(s["today"]["sent"], 1);
    assert_eq!(s["queue"]["dead"], 0);
}

#[tokio::test]
async fn shared_limits_hold_across_instances() {
    use herald::dispatch::pacing::{Pace, Pacer};
    let clock = Arc::new(herald::domain::clock::ManualClock::new("2026-11-23T12:00:10Z".parse().unwrap()));
    let (_d, app) = embedded_app_custom(clock.clone(), |_| {});
    call(&app, "PUT", "/api/v1/channels/wc", Some(json!({"kind": "wecom", "settings": {"corp_id": "c", "agent_id": 1, "secret": "s"}}))).await;
    let channel = app.repo.channel("wc").await.unwrap().unwrap();
    // Two dispatcher instances, one store: 30 a minute to one member between them.
    let (a, b) = (Pacer::default(), Pacer::default());
    for i in 0..30 {
        let p = if i % 2 == 0 { &a } else { &b };
        assert_eq!(p.acquire(&app.repo, &channel, "zhangsan").await.unwrap(), Pace::Go, "send {i}");
    }
    let Pace::Later(wait) = b.acquire(&app.repo, &channel, "zhangsan").await.unwrap() else { panic!("the 31st must wait") };
    assert!(wait >= Duration::from_secs(45) && wait <= Duration::from_secs(60), "{wait:?}");
    // Another member has a budget of its own; the next minute the first has one again.
    assert_eq!(a.acquire(&app.repo, &channel, "lisi").await.unwrap(), Pace::Go);
    clock.advance(jiff::SignedDuration::from_secs(60));
    assert_eq!(a.acquire(&app.repo, &channel, "zhangsan").await.unwrap(), Pace::Go);
}

/// A batch's sends to many chats through one bot take their slots of the bot's 30 a second
/// together (pacing.rs, `take_gathered`): one write of the bot's schedule for all of them, and
/// the same schedule as one at a time: a thirtieth of a second (and 2%) apart, and another
/// instance's next send after them.
#[tokio::test]
async fn a_batchs_sends_through_one_bot_take_their_slots_in_one_write() {
    use herald::dispatch::pacing::{Pace, Pacer};
    let clock = Arc::new(herald::domain::clock::ManualClock::new("2026-11-23T12:00:10Z".parse().unwrap()));
    let (_d, app) = embedded_app_custom(clock.clone(), |_| {});
    let settings = json!({"bot_token": herald_tests::telegram::BOT_TOKEN, "api_base": "http://127.0.0.1:9"});
    call(&app, "PUT", "/api/v1/channels/tg", Some(json!({"kind": "telegram", "settings": settings}))).await;
    let channel = app.repo.channel("tg").await.unwrap().unwrap();
    let (a, b) = (Pacer::default(), Pacer::default());
    let chats: Vec<String> = (0..10).map(|i| format!("{}", 1000 + i)).collect();
    let paces = futures_util::future::join_all(chats.iter().map(|c| a.acquire(&app.repo, &channel, c))).await;
    assert!(paces.into_iter().all(|p| p.unwrap() == Pace::Go));
    let bot = app.repo.table.get("RL#tg:#123456", "slots").await.unwrap().unwrap();
    assert_eq!(bot.rev, 0, "one write for the ten (its first)");
    let start = herald::domain::clock::Clock::now(&*clock).as_microsecond();
    assert_eq!(serde_json::from_str::<Vec<i64>>(&bot.data).unwrap(), vec![start + 9 * 34_000], "the tenth slot, 34 ms apart");
    assert_eq!(b.acquire(&app.repo, &channel, "2000").await.unwrap(), Pace::Go);
    let bot = app.repo.table.get("RL#tg:#123456", "slots").await.unwrap().unwrap();
    assert_eq!(serde_json::from_str::<Vec<i64>>(&bot.data).unwrap(), vec![start + 10 * 34_000], "the other instance's after them");
    // Each chat's schedule holds the time its send went (its bot slot), not the earlier time
    // the chat alone allowed: the last chat's next send is 1.02 s after its slot.
    let mut slots = Vec::new();
    for c in &chats {
        let item = app.repo.table.get(&format!("RL#tgc:#123456:{c}"), "slots").await.unwrap().unwrap();
        slots.push((serde_json::from_str::<Vec<i64>>(&item.data).unwrap()[0], c));
    }
    slots.sort();
    assert_eq!(slots.iter().map(|(t, _)| *t).collect::<Vec<_>>(), (0..10).map(|i| start + i * 34_000).collect::<Vec<_>>());
    let Pace::Later(wait) = a.acquire(&app.repo, &channel, slots[9].1).await.unwrap() else { panic!("the chat's next send is over a second away") };
    assert_eq!(wait, Duration::from_micros(9 * 34_000 + 1_020_000));
}

/// The dispatcher starts no message past its stop time (the Lambda deadline less one send and
/// its writes): the rest of the batch comes back at once as batch item failures, in order, and
/// is sent later, each delivery once.
#[tokio::test]
async fn starts_no_message_past_its_deadline_and_returns_the_rest() {
    // A set clock that the endpoint moves on by a second for each send it receives.
    let clock = Arc::new(herald::domain::clock::ManualClock::new("2026-11-23T12:00:00Z".parse().unwrap()));
    let ticking = clock.clone();
    let hook = TestServer::start(move |_| {
        ticking.advance(jiff::SignedDuration::from_secs(1));
        Reply::ok("{}")
    })
    .await;
    let (_d, app) = embedded_app_custom(clock.clone(), |_| {});
    let (status, _) = call(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": hook.url}}))).await;
    assert_eq!(status, 201);
    call(&app, "PUT", "/api/v1/users/a1", Some(json!({"role": "admin"}))).await;
    let mut ids = Vec::new();
    for _ in 0..10 {
        ids.push(notify(&app).await);
    }
    let d = Dispatcher::default();
    let batch = app.queue.receive(10, Duration::from_millis(200)).await.unwrap();
    assert_eq!(batch.len(), 10);
    // One group (one recipient): the messages must keep their order.
    assert!(batch.iter().all(|m| m.group == batch[0].group));

    // Already past: nothing starts, everything comes back.
    let failed = d.process_until(&app, batch.clone(), Some(app.now())).await;
    assert_eq!(failed, batch.iter().map(|m| m.id.clone()).collect::<Vec<_>>());
    assert!(hook.received().is_empty());

    // Visible again at once (not after the queue's visibility timeout): the same ten, in order.
    let again = app.queue.receive(10, Duration::from_millis(200)).await.unwrap();
    assert_eq!(again.iter().map(|m| &m.body).collect::<Vec<_>>(), batch.iter().map(|m| &m.body).collect::<Vec<_>>());

    // Stop at 2.5 s, each send takes a second: three start (at 0, 1 and 2 s), the rest come back
    // untouched.
    let stop = app.now().checked_add(jiff::SignedDuration::from_millis(2500)).unwrap();
    let failed = d.process_until(&app, again.clone(), Some(stop)).await;
    let sent = hook.received().len();
    assert_eq!(sent, 3);
    let rest: Vec<String> = again[sent..].iter().map(|m| m.id.clone()).collect();
    assert_eq!(failed, rest, "the messages not started, and only those, come back");
    for m in &again[..sent] {
        app.queue.delete(&m.receipt).await.unwrap();
    }

    // Later, without a deadline: every delivery sent, each once.
    herald_tests::drain(&app, &d).await;
    assert_eq!(hook.received().len(), 10);
    for id in &ids {
        assert_eq!(delivery(&app, id).await["status"], "sent");
    }
}
