//! The dispatcher under faults: thousands of deliveries against a Telegram stand-in that fails
//! a share of sends with 5xx, hangs past the timeout on others, answers 429 in bursts and
//! enforces Telegram's limits; several dispatcher instances share the queue and the store, and one
//! is killed mid-batch and replaced. Used by the test suite (scaled down) and the benchmarks.

use crate::telegram::{BOT_TOKEN, FakeTelegram, Faults};
use herald::app::App;
use herald::dispatch::Dispatcher;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, serde::Serialize)]
pub struct FaultReport {
    pub deliveries: usize,
    pub delivered: usize,
    pub lost: usize,
    pub duplicated: usize,
    pub failed: usize,
    pub injected_5xx: u64,
    pub injected_timeouts: u64,
    /// Sends Telegram accepted but answered after the client's timeout: each may be sent again
    /// (the Bot API has no idempotency key), so each may add one duplicate.
    pub injected_accepted_timeouts: u64,
    pub injected_429: u64,
    /// 429s the stand-in gave because of its own limits: our pacing's fault.
    pub pacing_429: u64,
    /// Sends in flight when the instance was killed (the documented duplicate window).
    pub in_flight_at_kill: usize,
    pub seconds: f64,
    /// Send attempts per second at the bot over the whole run (the retries' tail included).
    pub attempts_per_second: f64,
    pub rate_of_limit: f64,
    /// The same between the 10th and the 90th percentile of the attempts: the steady state, while
    /// the queue held work for every slot.
    pub steady_per_second: f64,
    pub steady_of_limit: f64,
}

/// Runs `n` notifications to `chats` users (round robin) through `instances` dispatcher
/// instances (one of them killed). `app` must have a short lease, queue visibility, retry base
/// and HTTP timeout (see [`config`]).
pub async fn run(app: App, n: usize, chats: usize, instances: usize, seed: u64) -> FaultReport {
    let fake = FakeTelegram::start().await;
    fake.with(|s| {
        s.faults = Some(Faults {
            server_errors: 0.20,
            timeouts: 0.05,
            accepted_timeouts: 0.02,
            hang: app.config.http_timeout + Duration::from_millis(500),
            burst_every: 97,
            burst_len: 4,
            seed,
        })
    });
    let (status, _) = crate::call(
        &app,
        "PUT",
        "/api/v1/channels/tg",
        Some(json!({"kind": "telegram", "settings": {"bot_token": BOT_TOKEN, "api_base": fake.url()}})),
    )
    .await;
    assert!(status == 201 || status == 200);
    crate::seed_chats(&app, chats).await;
    let app = Arc::new(app);
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let body = json!({"type": "account", "text": format!("m{i:06}"), "to": {"user": format!("f{:05}", i % chats)}});
        let (status, v) = crate::call(&app, "POST", "/api/v1/notify", Some(body)).await;
        assert_eq!(status, 202, "{v}");
        ids.push(v["id"].as_str().unwrap_or_default().to_owned());
    }

    let started = Instant::now();
    let a = Arc::new(Dispatcher::default());
    let worker_a = tokio::spawn(herald::edge::local::work(app.clone(), a.clone()));
    let others: Vec<_> =
        (1..instances.max(2)).map(|_| tokio::spawn(herald::edge::local::work(app.clone(), Arc::new(Dispatcher::default())))).collect();
    // Kill instance A mid-run (mid-batch: it works batches back to back), and start a new one.
    let mut in_flight_at_kill = 0;
    let mut killed = false;
    let mut replacement = None;
    // Long enough for the slowest honest tail: a send failing six times in a row (27% of tries
    // fail here) waits 1 + 2 + ... + 32 s of backoff, and holds its chat behind it.
    let deadline = started + Duration::from_secs(120 + (n as u64) / 2);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let delivered = fake.with(|s| s.delivered.len());
        if !killed && delivered >= n * 2 / 5 {
            in_flight_at_kill = a.in_flight.load(std::sync::atomic::Ordering::SeqCst);
            worker_a.abort();
            killed = true;
            replacement = Some(tokio::spawn(herald::edge::local::work(app.clone(), Arc::new(Dispatcher::default()))));
        }
        let depth = app.queue.depth().await.expect("depth");
        if killed && depth.waiting == 0 && depth.in_flight == 0 || Instant::now() > deadline {
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    for w in others {
        w.abort();
    }
    if let Some(r) = replacement {
        r.abort();
    }

    let mut failed = 0;
    for id in &ids {
        let ds = app.repo.deliveries(id, None, 10).await.expect("deliveries");
        failed += ds.items.iter().filter(|d| d.status == herald::domain::DeliveryStatus::Failed).count();
    }
    let texts: Vec<String> = fake.delivered().iter().map(|m| m["text"].as_str().unwrap_or_default().to_owned()).collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for t in &texts {
        *counts.entry(t.as_str()).or_default() += 1;
    }
    let (attempts, pacing_429, i5, it, i4, late) =
        fake.with(|s| (s.attempts.clone(), s.too_many, s.injected_5xx, s.injected_timeouts, s.injected_429, s.injected_accepted_timeouts));
    let busy = match (attempts.first(), attempts.last()) {
        (Some(f), Some(l)) if attempts.len() > 1 => l.duration_since(*f).as_secs_f64(),
        _ => 0.0,
    };
    let rate = if busy > 0.0 { (attempts.len() - 1) as f64 / busy } else { 0.0 };
    let (p10, p90) = (attempts.len() / 10, attempts.len() * 9 / 10);
    let steady = match (attempts.get(p10), attempts.get(p90)) {
        (Some(a), Some(b)) if b > a => (p90 - p10) as f64 / b.duration_since(*a).as_secs_f64(),
        _ => 0.0,
    };
    FaultReport {
        deliveries: n,
        delivered: counts.len(),
        lost: n - counts.len(),
        duplicated: texts.len() - counts.len(),
        failed,
        injected_5xx: i5,
        injected_timeouts: it,
        injected_accepted_timeouts: late,
        injected_429: i4,
        pacing_429,
        in_flight_at_kill,
        seconds,
        attempts_per_second: rate,
        rate_of_limit: rate / 30.0,
        steady_per_second: steady,
        steady_of_limit: steady / 30.0,
    }
}

/// The configuration the fault run needs: quick lease, retries and timeout.
pub fn config(config: &mut herald::app::Config) {
    config.lease = Duration::from_secs(3);
    config.retry_base = Duration::from_secs(1);
    config.http_timeout = Duration::from_secs(1);
    config.max_attempts = 10;
    config.max_receives = 100;
}

/// A queue whose next `failing` sends fail (the queue unavailable), then works again.
pub struct FlakyQueue {
    pub inner: Arc<dyn herald::queue::Queue>,
    pub failing: std::sync::atomic::AtomicU32,
}

#[async_trait::async_trait]
impl herald::queue::Queue for FlakyQueue {
    async fn send(&self, m: Vec<herald::queue::OutMessage>) -> herald::queue::QueueResult<()> {
        let fail = self.failing.fetch_update(std::sync::atomic::Ordering::SeqCst, std::sync::atomic::Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
        if fail {
            return Err(herald::queue::QueueError::Backend("injected: queue unavailable".into()));
        }
        self.inner.send(m).await
    }
    async fn receive(&self, max: usize, wait: Duration) -> herald::queue::QueueResult<Vec<herald::queue::Received>> {
        self.inner.receive(max, wait).await
    }
    async fn delete(&self, r: &str) -> herald::queue::QueueResult<()> {
        self.inner.delete(r).await
    }
    async fn set_visibility(&self, r: &str, s: u32) -> herald::queue::QueueResult<()> {
        self.inner.set_visibility(r, s).await
    }
    async fn dead_letter(&self, m: &herald::queue::Received) -> herald::queue::QueueResult<()> {
        self.inner.dead_letter(m).await
    }
    async fn dead_letters(&self, max: usize) -> herald::queue::QueueResult<Vec<herald::queue::Received>> {
        self.inner.dead_letters(max).await
    }
    async fn delete_dead(&self, r: &str) -> herald::queue::QueueResult<()> {
        self.inner.delete_dead(r).await
    }
    async fn depth(&self) -> herald::queue::QueueResult<herald::queue::Depth> {
        self.inner.depth().await
    }
}
