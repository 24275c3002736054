//! The scheduler's jobs with a moved clock: the node state machine (threshold, debounce,
//! recovery, blocked), node change notices, the daily report's numbers against a known data set,
//! reminder windows across time zones and daylight-saving changes, once per period.

#![allow(clippy::unwrap_used)]

use herald::app::App;
use herald::dispatch::Dispatcher;
use herald::domain::clock::ManualClock;
use herald_tests::servers::{Recorded, Reply, TestServer};
use herald_tests::{call, drain, embedded_app_custom};
use jiff::SignedDuration;
use serde_json::{Value, json};
use std::sync::Arc;

struct World {
    _dir: tempfile::TempDir,
    app: App,
    clock: Arc<ManualClock>,
    hook: TestServer,
    d: Dispatcher,
}

/// Herald with a webhook channel that carries everything (the admins' view), an admin, and
/// the settings given.
async fn world(at: &str, settings: Value) -> World {
    let clock = Arc::new(ManualClock::new(at.parse().unwrap()));
    let (dir, app) = embedded_app_custom(clock.clone(), |_| {});
    let hook = TestServer::start(|_| Reply::ok("{}")).await;
    assert_eq!(call(&app, "PUT", "/api/v1/settings", Some(settings)).await.0, 200);
    call(&app, "PUT", "/api/v1/channels/ops", Some(json!({"kind": "webhook", "settings": {"url": hook.url}}))).await;
    call(&app, "PUT", "/api/v1/users/admin", Some(json!({"role": "admin"}))).await;
    World { _dir: dir, app, clock, hook, d: Dispatcher::default() }
}

impl World {
    async fn texts(&self) -> Vec<String> {
        drain(&self.app, &self.d).await;
        self.hook.received().iter().map(|r: &Recorded| r.json()["text"].as_str().unwrap_or_default().to_owned()).collect()
    }

    async fn job(&self, name: &str) -> Value {
        let (status, v) = call(&self.app, "POST", &format!("/api/v1/jobs/{name}/run"), None).await;
        assert_eq!(status, 200, "{v}");
        v
    }

    fn advance_mins(&self, m: i64) {
        self.clock.advance(SignedDuration::from_mins(m));
    }
}

#[tokio::test]
async fn a_node_goes_offline_and_online_once_each_after_the_debounce() {
    let w = world("2026-11-23T12:00:00Z", json!({"node": {"offline_after_secs": 600, "debounce": 2}})).await;
    let (status, v) =
        call(&w.app, "PUT", "/api/v1/nodes/hk1", Some(json!({"name": "HK 1", "host": "hk1.example.net", "port": 443, "region": "cn"}))).await;
    assert_eq!(status, 201, "{v}");
    assert_eq!(w.texts().await, ["Node HK 1 was added."]);

    assert_eq!(call(&w.app, "POST", "/api/v1/nodes/hk1/heartbeat", None).await.0, 200);
    w.job("node-check").await;
    assert_eq!(call(&w.app, "GET", "/api/v1/nodes/hk1", None).await.1["status"], "online");

    // Silent for 11 minutes: the first late check only counts; the second changes the state.
    w.advance_mins(11);
    w.job("node-check").await;
    assert_eq!(w.texts().await.len(), 1);
    w.advance_mins(5);
    w.job("node-check").await;
    w.advance_mins(5);
    w.job("node-check").await;
    let texts = w.texts().await;
    assert_eq!(texts.len(), 2, "told once: {texts:?}");
    assert_eq!(texts[1], "Node HK 1 is offline (last heartbeat 2026-11-23 12:00).");

    // One heartbeat then silence again is a flap: no change.
    call(&w.app, "POST", "/api/v1/nodes/hk1/heartbeat", None).await;
    w.job("node-check").await;
    w.advance_mins(11);
    w.job("node-check").await;
    assert_eq!(w.texts().await.len(), 2);

    // Back for two checks: online, with the downtime since it was last heard from (12:00).
    for _ in 0..2 {
        call(&w.app, "POST", "/api/v1/nodes/hk1/heartbeat", None).await;
        w.job("node-check").await;
        w.advance_mins(5);
    }
    let texts = w.texts().await;
    assert_eq!(texts.len(), 3);
    assert_eq!(texts[2], "Node HK 1 is back online after 37m.");
}

#[tokio::test]
async fn node_changes_are_announced_with_what_changed() {
    let w = world("2026-11-23T12:00:00Z", json!({})).await;
    call(&w.app, "PUT", "/api/v1/nodes/n1", Some(json!({"name": "N1", "host": "a.example", "port": 443}))).await;
    let (status, v) = call(&w.app, "PUT", "/api/v1/nodes/n1", Some(json!({"name": "N1", "host": "b.example", "port": 8443}))).await;
    assert_eq!((status, v["changed"].clone()), (200, json!(["host", "port"])));
    // The same document again changes nothing and says nothing.
    call(&w.app, "PUT", "/api/v1/nodes/n1", Some(json!({"name": "N1", "host": "b.example", "port": 8443}))).await;
    assert_eq!(call(&w.app, "DELETE", "/api/v1/nodes/n1", None).await.0, 204);
    assert_eq!(call(&w.app, "DELETE", "/api/v1/nodes/n1", None).await.0, 404);
    assert_eq!(w.texts().await, ["Node N1 was added.", "Node N1 was updated: host, port.", "Node N1 was deleted."]);
}

#[tokio::test]
async fn a_node_may_send_its_own_heartbeat_with_its_key() {
    let w = world("2026-11-23T12:00:00Z", json!({})).await;
    call(&w.app, "PUT", "/api/v1/nodes/n1", Some(json!({"name": "N1", "key": "node-key-0123456789"}))).await;
    let (_, n) = call(&w.app, "GET", "/api/v1/nodes/n1", None).await;
    assert_eq!(n["key"], "********");
    let beat = |key: Option<&str>, node: &str| {
        let mut req = herald_tests::request("POST", &format!("/api/v1/nodes/{node}/heartbeat"), None);
        req.headers.remove("authorization");
        if let Some(k) = key {
            req.headers.insert("authorization", format!("Bearer {k}").parse().unwrap());
        }
        req
    };
    assert_eq!(herald::edge::router::route(&w.app, beat(Some("node-key-0123456789"), "n1")).await.status(), 200);
    assert_eq!(herald::edge::router::route(&w.app, beat(Some("wrong-key-0123456789"), "n1")).await.status(), 401);
    assert_eq!(herald::edge::router::route(&w.app, beat(None, "n1")).await.status(), 401);
    assert_eq!(herald::edge::router::route(&w.app, beat(Some("node-key-0123456789"), "n2")).await.status(), 401);
    assert_eq!(call(&w.app, "POST", "/api/v1/nodes/n2/heartbeat", None).await.0, 404);
    assert!(call(&w.app, "GET", "/api/v1/nodes/n1", None).await.1["last_heartbeat"].is_string());
}

#[tokio::test]
async fn blocked_comes_from_the_probe_or_the_host_with_the_same_debounce() {
    let reachable = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let r = reachable.clone();
    let probe = TestServer::start(move |_| Reply::ok(json!({"reachable": r.load(std::sync::atomic::Ordering::SeqCst)}).to_string())).await;
    let url = format!("{}/check?host={{host}}&port={{port}}&region={{region}}", probe.url);
    let w = world("2026-11-23T12:00:00Z", json!({"node": {"debounce": 2, "probe_url": url}})).await;
    call(&w.app, "PUT", "/api/v1/nodes/n1", Some(json!({"name": "N1", "host": "n1.example", "port": 443, "region": "cn-sh"}))).await;
    reachable.store(false, std::sync::atomic::Ordering::SeqCst);
    w.job("node-check").await;
    w.job("node-check").await;
    w.job("node-check").await;
    assert_eq!(probe.received()[0].query, "host=n1.example&port=443&region=cn-sh");
    reachable.store(true, std::sync::atomic::Ordering::SeqCst);
    w.job("node-check").await;
    w.job("node-check").await;
    assert_eq!(w.texts().await[1..], ["Node N1 is unreachable from cn-sh.".to_owned(), "Node N1 is reachable again from cn-sh.".to_owned()]);

    // Without a probe, the host's report counts.
    let w = world("2026-11-23T12:00:00Z", json!({"node": {"debounce": 2}})).await;
    call(&w.app, "PUT", "/api/v1/nodes/n2", Some(json!({"name": "N2", "region": "cn"}))).await;
    call(&w.app, "POST", "/api/v1/nodes/n2/heartbeat", Some(json!({"blocked": true}))).await;
    w.job("node-check").await;
    w.job("node-check").await;
    assert_eq!(call(&w.app, "GET", "/api/v1/nodes/n2", None).await.1["blocked"], true);
}

#[tokio::test]
async fn the_daily_report_counts_yesterday_once_at_the_configured_local_time() {
    // Shanghai is UTC+8: 2026-11-22 10:00 local = 02:00 UTC.
    let w = world("2026-11-22T02:00:00Z", json!({"time_zone": "Asia/Shanghai", "daily_report": {"time": "09:00"}, "node": {"debounce": 1}})).await;
    let broken = TestServer::start(|_| Reply::status(400)).await;
    call(&w.app, "PUT", "/api/v1/channels/bad", Some(json!({"kind": "webhook", "types": ["download"], "settings": {"url": broken.url}}))).await;
    for u in ["u1", "u2"] {
        call(&w.app, "PUT", &format!("/api/v1/users/{u}"), Some(json!({}))).await;
    }
    call(&w.app, "POST", "/api/v1/notify", Some(json!({"type": "download", "text": "done", "to": "admins"}))).await;
    call(&w.app, "PUT", "/api/v1/nodes/n1", Some(json!({"name": "N1"}))).await;
    call(&w.app, "POST", "/api/v1/nodes/n1/heartbeat", None).await;
    w.job("node-check").await;
    w.advance_mins(30);
    w.job("node-check").await; // offline from 10:30 local
    w.texts().await;
    let admin = w.app.repo.user("u1").await.unwrap().unwrap();
    w.app.repo.check_in(&admin, &w.app.repo.local_day(w.app.now()).to_string(), 10).await.unwrap();
    w.app.repo.bump(&w.app.repo.local_day(w.app.now()).to_string(), "checkins", 1).await.unwrap();

    // Next day 08:59 local: not yet; 09:00: the report, once.
    w.clock.set("2026-11-23T00:59:00Z".parse().unwrap());
    w.job("tick").await;
    let before = w.texts().await.len();
    w.clock.set("2026-11-23T01:00:00Z".parse().unwrap());
    let v = w.job("tick").await;
    assert_eq!(v["daily"]["ran"], true, "{v}");
    let r = &v["daily"]["report"];
    assert_eq!((r["date"].as_str(), r["users"].as_i64(), r["new_users"].as_i64()), (Some("2026-11-22"), Some(3), Some(3)));
    assert_eq!((r["checkins"].as_i64(), r["nodes_offline"].as_i64()), (Some(1), Some(1)));
    assert!(r["sent"].as_i64().unwrap() >= 3, "{r}");
    assert_eq!(r["failed"], 1);
    assert_eq!(r["top_failure_reasons"][0]["reason"], "HTTP 400");
    assert_eq!(r["downtime"][0]["node"], "N1");
    w.job("tick").await;
    let texts = w.texts().await;
    let reports: Vec<&String> = texts[before..].iter().filter(|t| t.starts_with("Users:")).collect();
    assert_eq!(reports.len(), 1, "{texts:?}");
    assert!(reports[0].contains("Check-ins: 1") && reports[0].contains("1 failed") && reports[0].contains("HTTP 400 (1)"), "{}", reports[0]);
}

async fn reminded(w: &World) -> Vec<(String, String)> {
    drain(&w.app, &w.d).await;
    w.hook
        .received()
        .iter()
        .filter(|r| r.json()["type"] == "account")
        .map(|r| (r.json()["title"].as_str().unwrap().to_owned(), r.json()["text"].as_str().unwrap().to_owned()))
        .collect()
}

#[tokio::test]
async fn expiry_reminders_follow_the_local_day_and_come_once() {
    let w = world("2026-11-23T01:00:00Z", json!({"time_zone": "Asia/Shanghai", "reminders": {"expiry_days": [3, 1]}})).await;
    // Today is 2026-11-23 in Shanghai. u3 expires 26th 00:30 local (= 25th 16:30 UTC): 3 days.
    let users = [("u3", "2026-11-25T16:30:00Z"), ("u1", "2026-11-24T15:59:00Z"), ("u2", "2026-11-25T15:00:00Z"), ("gone", "2026-11-22T03:00:00Z")];
    for (id, at) in users {
        call(&w.app, "PUT", &format!("/api/v1/users/{id}"), Some(json!({"expires_at": at, "ids": {"webhook": id}}))).await;
    }
    let v = w.job("daily").await;
    assert_eq!(v["daily"]["reminders"]["reminded"], 3, "{v}");
    let mut got = reminded(&w).await;
    got.sort();
    assert_eq!(
        got,
        [
            ("Account expired".to_owned(), "Your account expired on 2026-11-22.".to_owned()),
            ("Account expiring".to_owned(), "Your account expires in 1 day, on 2026-11-24.".to_owned()),
            ("Account expiring".to_owned(), "Your account expires in 3 days, on 2026-11-26.".to_owned()),
        ]
    );
    // However often the job runs, each reminder goes once.
    let v = w.job("daily").await;
    assert_eq!((v["daily"]["reminders"]["reminded"].as_u64(), v["daily"]["reminders"]["skipped"].as_u64()), (Some(0), Some(3)));
    assert_eq!(reminded(&w).await.len(), 3);
}

#[tokio::test]
async fn expiry_reminders_hold_across_a_daylight_saving_change() {
    // New York springs forward on 2026-03-08. Today (03-06, 09:00 local EST) + 3 days = 03-09.
    let w = world("2026-03-06T14:00:00Z", json!({"time_zone": "America/New_York", "reminders": {"expiry_days": [3]}})).await;
    // 03-09 00:30 EDT = 04:30 UTC (in); 03-08 23:30 EDT = 03:30 UTC on the 9th (out: the 8th).
    call(&w.app, "PUT", "/api/v1/users/in", Some(json!({"expires_at": "2026-03-09T04:30:00Z", "ids": {"webhook": "in"}}))).await;
    call(&w.app, "PUT", "/api/v1/users/out", Some(json!({"expires_at": "2026-03-09T03:30:00Z", "ids": {"webhook": "out"}}))).await;
    let v = w.job("daily").await;
    assert_eq!(v["daily"]["reminders"]["reminded"], 1, "{v}");
    assert_eq!(reminded(&w).await[0].1, "Your account expires in 3 days, on 2026-03-09.");
}

#[tokio::test]
async fn traffic_reminders_at_the_threshold_and_when_used_up_once_a_month() {
    let w = world("2026-11-23T10:00:00Z", json!({"reminders": {"traffic_percent": 90, "expiry_days": []}})).await;
    let gb = 1u64 << 30;
    for (id, used) in [("low", 50 * gb), ("high", 95 * gb), ("out", 100 * gb)] {
        call(&w.app, "PUT", &format!("/api/v1/users/{id}"), Some(json!({"traffic_used": used, "traffic_total": 100 * gb, "ids": {"webhook": id}})))
            .await;
    }
    w.job("daily").await;
    w.job("daily").await;
    let mut got: Vec<String> = reminded(&w).await.into_iter().map(|(_, t)| t).collect();
    got.sort();
    assert_eq!(got, ["You have used 95% of your traffic (95.0 GB of 100.0 GB).", "You have used all of your traffic (100.0 GB)."]);
}

/// `n` users whose accounts expire in three days, a Telegram channel, and a queue that counts.
async fn users_due(n: usize) -> (tempfile::TempDir, App, Arc<herald_tests::counting::Counts>) {
    users_due_on(n, Arc::new(ManualClock::new("2026-11-23T10:00:00Z".parse().unwrap()))).await
}

async fn users_due_on(n: usize, clock: Arc<ManualClock>) -> (tempfile::TempDir, App, Arc<herald_tests::counting::Counts>) {
    let dir = tempfile::tempdir().unwrap();
    let table = Arc::new(herald::store::embedded::EmbeddedTable::open(dir.path()).unwrap());
    let counts = Arc::new(herald_tests::counting::Counts::default());
    let queue = Arc::new(herald_tests::counting::CountingQueue(Arc::new(herald_tests::memory_queue(180, 20)), counts.clone()));
    let app = App::new(table, queue, clock, herald_tests::test_config()).unwrap();
    call(&app, "PUT", "/api/v1/channels/tg", Some(json!({"kind": "telegram", "settings": {"bot_token": herald_tests::telegram::BOT_TOKEN}}))).await;
    assert_eq!(herald_tests::seed_users(&app, n, "2026-11-26T12:00:00Z").await, n);
    (dir, app, counts)
}

#[tokio::test]
async fn fans_out_thousands_of_reminders_in_queue_batches_of_ten() {
    let (_dir, app, counts) = users_due(2_345).await;
    let v = herald::jobs::run(&app, "daily", true, None).await.unwrap();
    let r = &v["daily"]["reminders"];
    assert_eq!((r["reminded"].as_u64(), r["deliveries"].as_u64(), r["finished"].as_bool()), (Some(2_345), Some(2_345), Some(true)), "{v}");
    let (_, _, requests, messages) = counts.get();
    // One message per reminder (the daily report has no admin to go to here).
    assert_eq!(messages, 2_345);
    assert_eq!(requests, messages.div_ceil(10));
    // Nothing left for the sweeper: every reminder was marked planned.
    assert!(app.repo.unplanned(jiff::Timestamp::MAX, 10).await.unwrap().is_empty());
}

/// A daily run that nears its deadline stops; the next run goes on, and nobody is reminded twice.
#[tokio::test]
async fn a_run_out_of_time_stops_and_the_next_one_goes_on() {
    // The clock moves a millisecond each time it is read, so "time" passes as work is done, the
    // same way on every run.
    let clock = Arc::new(ManualClock::stepping("2026-11-23T10:00:00Z".parse().unwrap(), jiff::SignedDuration::from_millis(1)));
    let (_dir, app, counts) = users_due_on(1_500, clock).await;
    // Out of time from the start: nothing is done, and the run says it did not finish.
    let v = herald::jobs::run(&app, "daily", true, Some(app.now())).await.unwrap();
    assert_eq!((v["daily"]["reminders"]["finished"].as_bool(), counts.get().3), (Some(false), 0), "{v}");
    // Out of time part-way (it stops with 20 s left: here after the first page of 1,000 users,
    // about ten reads of the clock).
    let soon = app.now().checked_add(jiff::SignedDuration::from_millis(20_010)).unwrap();
    let v = herald::jobs::run(&app, "daily", true, Some(soon)).await.unwrap();
    let part = counts.get().3;
    assert_eq!(v["daily"]["reminders"]["finished"].as_bool(), Some(false), "{v}");
    assert!(part > 0 && part < 1_500, "stopped part-way: {part} of 1500 reminded");
    // The next run, without a deadline, goes on from there.
    let v = herald::jobs::run(&app, "daily", true, None).await.unwrap();
    assert_eq!(v["daily"]["reminders"]["finished"].as_bool(), Some(true), "{v}");
    let (_, _, requests, messages) = counts.get();
    assert_eq!(messages, 1_500, "each user reminded once over the three runs");
    assert!(requests <= messages.div_ceil(10) + 3, "{requests} queue requests");
}

#[test]
fn scheduler_events_name_their_job() {
    for (file, job) in [("tick.json", Ok("tick")), ("daily.json", Ok("daily")), ("scheduled-event.json", Ok("tick"))] {
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(format!("{}/../events/scheduler/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap()).unwrap();
        assert_eq!(herald::edge::lambda::job_of(&v).as_deref(), job.map_err(|_: ()| String::new()).as_deref(), "{file}");
    }
    let bad: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{}/../events/scheduler/invalid-job.json", env!("CARGO_MANIFEST_DIR"))).unwrap())
            .unwrap();
    assert!(herald::edge::lambda::job_of(&bad).unwrap_err().contains("unknown job"));
}

// ---- issue 24: scheduler and routing faults ----

async fn run(app: &App) -> Result<Value, herald::domain::Error> {
    herald::jobs::run(app, "tick", false, None).await
}

/// Issue 24.2: a day's run that no tick reached before midnight runs late, once; a restart
/// does not lose it; a new deployment does not send the day before's.
#[tokio::test]
async fn a_daily_run_missed_before_midnight_runs_once_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new("2026-11-22T23:51:00Z".parse().unwrap()));
    let hook = TestServer::start(|_| Reply::ok("{}")).await;
    let open = || {
        let table = Arc::new(herald::store::embedded::EmbeddedTable::open(dir.path()).unwrap());
        App::new(table, Arc::new(herald_tests::memory_queue(180, 20)), clock.clone(), herald_tests::test_config()).unwrap()
    };
    let app = open();
    let settings = json!({"daily_report": {"time": "23:59"}, "reminders": {"expiry_days": [1]}});
    assert_eq!(call(&app, "PUT", "/api/v1/settings", Some(settings)).await.0, 200);
    call(&app, "PUT", "/api/v1/channels/ops", Some(json!({"kind": "webhook", "settings": {"url": hook.url}}))).await;
    call(&app, "PUT", "/api/v1/users/admin", Some(json!({"role": "admin"}))).await;
    // Expires on the 23rd: the 22nd's run tells them "in 1 day".
    call(&app, "PUT", "/api/v1/users/u1", Some(json!({"expires_at": "2026-11-23T12:00:00Z", "ids": {"webhook": "u1"}}))).await;

    assert_eq!(run(&app).await.unwrap()["daily"]["ran"], false, "23:51: not yet due");
    clock.set("2026-11-22T23:56:00Z".parse().unwrap());
    assert_eq!(run(&app).await.unwrap()["daily"]["ran"], false, "23:56: not yet due");
    // The process restarts between the ticks: nothing of the 22nd is marked done.
    drop(app);
    let app = open();
    clock.set("2026-11-23T00:01:00Z".parse().unwrap());
    let v = run(&app).await.unwrap();
    assert_eq!((v["daily"]["ran"].as_bool(), v["daily"]["day"].as_str()), (Some(true), Some("2026-11-22")), "{v}");
    assert_eq!(v["daily"]["report"]["date"], "2026-11-21");
    assert_eq!(v["daily"]["reminders"]["reminded"], 1, "{v}");
    clock.set("2026-11-23T00:06:00Z".parse().unwrap());
    assert_eq!(run(&app).await.unwrap()["daily"]["ran"], false, "once");
    // The 23rd's own run comes at its time.
    clock.set("2026-11-23T23:59:00Z".parse().unwrap());
    let v = run(&app).await.unwrap();
    assert_eq!((v["daily"]["day"].as_str(), v["daily"]["report"]["date"].as_str()), (Some("2026-11-23"), Some("2026-11-22")), "{v}");
    let d = Dispatcher::default();
    drain(&app, &d).await;
    let texts: Vec<String> = hook.received().iter().map(|r| r.json()["text"].as_str().unwrap_or_default().to_owned()).collect();
    assert_eq!(texts.iter().filter(|t| t.starts_with("Users:")).count(), 2, "{texts:?}");
    assert_eq!(texts.iter().filter(|t| *t == "Your account expires in 1 day, on 2026-11-23.").count(), 1, "{texts:?}");

    // A new deployment that first ticks after midnight does not send the day before's run.
    let w = world("2026-11-23T00:01:00Z", json!({"daily_report": {"time": "23:59"}})).await;
    assert_eq!(herald::jobs::run(&w.app, "tick", false, None).await.unwrap()["daily"]["ran"], false);
    // Nor today's, first ticking after its time (13:33, the run due at 09:00): tomorrow's comes.
    let w = world("2026-11-23T13:33:00Z", json!({"daily_report": {"time": "09:00"}})).await;
    assert_eq!(herald::jobs::run(&w.app, "tick", false, None).await.unwrap()["daily"]["ran"], false);
    w.clock.set("2026-11-24T09:00:00Z".parse().unwrap());
    assert_eq!(herald::jobs::run(&w.app, "tick", false, None).await.unwrap()["daily"]["day"], "2026-11-24");
}

/// Issue 24.3: a local day is midnight to midnight (23 or 25 hours on a DST change).
#[tokio::test]
async fn expiry_reminders_count_23_and_25_hour_days_as_one_day() {
    // 2026-11-29 09:00 in New York. 2027-03-14 has 23 hours there, 2027-11-07 has 25.
    let w = world("2026-11-29T14:00:00Z", json!({"time_zone": "America/New_York", "reminders": {"expiry_days": [105, 106, 343, 344]}})).await;
    // 2027-03-15 00:30 EDT (106 days away) and 2027-11-07 23:30 EST (343 days away).
    call(&w.app, "PUT", "/api/v1/users/spring", Some(json!({"expires_at": "2027-03-15T04:30:00Z", "ids": {"webhook": "spring"}}))).await;
    call(&w.app, "PUT", "/api/v1/users/fall", Some(json!({"expires_at": "2027-11-08T04:30:00Z", "ids": {"webhook": "fall"}}))).await;
    let v = w.job("daily").await;
    assert_eq!(v["daily"]["reminders"]["reminded"], 2, "{v}");
    let mut got: Vec<String> = reminded(&w).await.into_iter().map(|(_, t)| t).collect();
    got.sort();
    assert_eq!(got, ["Your account expires in 106 days, on 2027-03-15.", "Your account expires in 343 days, on 2027-11-07."]);

    // The default [3, 1], run every day around both changes: each reminder on its own day.
    let w = world("2027-03-10T14:00:00Z", json!({"time_zone": "America/New_York"})).await;
    call(&w.app, "PUT", "/api/v1/users/spring", Some(json!({"expires_at": "2027-03-15T04:30:00Z", "ids": {"webhook": "spring"}}))).await;
    call(&w.app, "PUT", "/api/v1/users/fall", Some(json!({"expires_at": "2027-11-08T04:30:00Z", "ids": {"webhook": "fall"}}))).await;
    let mut seen = 0;
    let mut by_day = Vec::new();
    for day in [
        "2027-03-11",
        "2027-03-12",
        "2027-03-13",
        "2027-03-14",
        "2027-03-15",
        "2027-03-16",
        "2027-11-03",
        "2027-11-04",
        "2027-11-05",
        "2027-11-06",
        "2027-11-07",
        "2027-11-08",
    ] {
        // 09:00 local, whatever the offset that day.
        let at = jiff::civil::date(day[..4].parse().unwrap(), day[5..7].parse().unwrap(), day[8..].parse().unwrap())
            .at(9, 0, 0, 0)
            .to_zoned_datetime(jiff::tz::TimeZone::get("America/New_York").unwrap())
            .unwrap()
            .timestamp();
        w.clock.set(at);
        w.job("daily").await;
        let got = reminded(&w).await;
        for (_, t) in &got[seen..] {
            by_day.push(format!("{day}: {t}"));
        }
        seen = got.len();
    }
    assert_eq!(
        by_day,
        [
            "2027-03-12: Your account expires in 3 days, on 2027-03-15.",
            "2027-03-14: Your account expires in 1 day, on 2027-03-15.",
            "2027-03-16: Your account expired on 2027-03-15.",
            "2027-11-04: Your account expires in 3 days, on 2027-11-07.",
            "2027-11-06: Your account expires in 1 day, on 2027-11-07.",
            "2027-11-08: Your account expired on 2027-11-07.",
        ]
    );
}

/// Issue 24.4: traffic reminders once per quota cycle, not per calendar month.
#[tokio::test]
async fn traffic_reminders_come_once_per_quota_cycle() {
    let w = world("2026-11-05T10:00:00Z", json!({"reminders": {"traffic_percent": 90, "expiry_days": []}})).await;
    let gb = 1u64 << 30;
    let put = |used: u64, extra: Value| {
        let mut body = json!({"traffic_used": used * gb, "traffic_total": 100 * gb, "ids": {"webhook": "u1"}});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        call(&w.app, "PUT", "/api/v1/users/u1", Some(body))
    };
    put(95, json!({})).await;
    w.job("daily").await;
    assert_eq!(reminded(&w).await.len(), 1);
    // The host resets the counter mid-month and it climbs past the threshold again.
    put(0, json!({})).await;
    w.advance_mins(24 * 60);
    w.job("daily").await;
    put(92, json!({})).await;
    w.job("daily").await;
    let got = reminded(&w).await;
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].1, "You have used 92% of your traffic (92.0 GB of 100.0 GB).");
    // Unchanged into the next month: same cycle, no reminder on the 1st.
    w.clock.set("2026-12-01T10:00:00Z".parse().unwrap());
    put(92, json!({})).await;
    w.job("daily").await;
    assert_eq!(reminded(&w).await.len(), 2);
    // A reset the host states (the counter already past the threshold again): a new cycle.
    put(97, json!({"traffic_reset_at": "2026-12-01T00:00:00Z"})).await;
    w.job("daily").await;
    assert_eq!(reminded(&w).await.len(), 3);
    assert_eq!(call(&w.app, "GET", "/api/v1/users/u1", None).await.1["traffic_reset_at"], "2026-12-01T00:00:00Z");
    // A cycle start in the future is refused, naming the field.
    let (status, err) = put(97, json!({"traffic_reset_at": "2027-01-01T00:00:00Z"})).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("traffic_reset_at")), "{err}");
}

/// Issue 24.5: a node that never sends a heartbeat is missing once `offline_after_secs` have
/// passed since it was added, with the same debounce, and told once.
#[tokio::test]
async fn a_node_that_never_sends_a_heartbeat_goes_offline_once() {
    let w = world("2026-11-23T12:00:00Z", json!({"node": {"offline_after_secs": 600, "debounce": 2}})).await;
    call(&w.app, "PUT", "/api/v1/nodes/n1", Some(json!({"name": "N1"}))).await;
    for _ in 0..2 {
        w.advance_mins(5); // 12:05, 12:10 (600 s: the first missed beat)
        w.job("node-check").await;
    }
    assert_eq!(w.texts().await, ["Node N1 was added."]);
    assert_eq!(call(&w.app, "GET", "/api/v1/nodes/n1", None).await.1["status"], "unknown");
    w.advance_mins(5); // 12:15: the second in a row
    w.job("node-check").await;
    for _ in 0..3 {
        w.advance_mins(5);
        w.job("node-check").await;
    }
    assert_eq!(w.texts().await, ["Node N1 was added.", "Node N1 has sent no heartbeat since it was added (2026-11-23 12:00)."]);
    assert_eq!(call(&w.app, "GET", "/api/v1/nodes/n1", None).await.1["status"], "offline");
    // Its first heartbeats bring it online, told once.
    for _ in 0..2 {
        call(&w.app, "POST", "/api/v1/nodes/n1/heartbeat", None).await;
        w.job("node-check").await;
    }
    let texts = w.texts().await;
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert_eq!(texts[2], "Node N1 is back online after 30m.");
}

/// Issue 24.6: the admins' copy of a personal notice names the user and is worded for them,
/// in each admin's language; counts read "1 day".
#[tokio::test]
async fn the_admins_copy_of_a_personal_notice_names_the_user() {
    let w = world("2026-11-23T10:00:00Z", json!({"reminders": {"expiry_days": [1]}})).await;
    call(&w.app, "PUT", "/api/v1/users/admin", Some(json!({"ids": {"webhook": "admin"}}))).await;
    call(&w.app, "PUT", "/api/v1/users/admin2", Some(json!({"role": "admin", "locale": "zh-CN", "ids": {"webhook": "admin2"}}))).await;
    for (id, name) in [("u1", Some("Zhang")), ("u2", None), ("u3", None)] {
        call(&w.app, "PUT", &format!("/api/v1/users/{id}"), Some(json!({"name": name, "expires_at": "2026-11-24T12:00:00Z"}))).await;
    }
    w.job("daily").await;
    let mut got = reminded(&w).await;
    got.sort();
    assert_eq!(
        got,
        [
            ("Account expiring: Zhang (u1)".to_owned(), "The account of Zhang (u1) expires in 1 day, on 2026-11-24.".to_owned()),
            ("Account expiring: u2".to_owned(), "The account of u2 expires in 1 day, on 2026-11-24.".to_owned()),
            ("Account expiring: u3".to_owned(), "The account of u3 expires in 1 day, on 2026-11-24.".to_owned()),
            ("账户即将到期：Zhang (u1)".to_owned(), "用户 Zhang (u1) 的账户将在 1 天后（2026-11-24）到期。".to_owned()),
            ("账户即将到期：u2".to_owned(), "用户 u2 的账户将在 1 天后（2026-11-24）到期。".to_owned()),
            ("账户即将到期：u3".to_owned(), "用户 u3 的账户将在 1 天后（2026-11-24）到期。".to_owned()),
        ]
    );
    // The host's own text keeps its words, and the title says whose it is.
    let (status, _) =
        call(&w.app, "POST", "/api/v1/notify", Some(json!({"type": "backup", "title": "Backup done", "text": "ok", "to": {"user": "u1"}}))).await;
    assert_eq!(status, 202);
    drain(&w.app, &w.d).await;
    let mut titles: Vec<String> =
        w.hook.received().iter().filter(|r| r.json()["type"] == "backup").map(|r| r.json()["title"].as_str().unwrap().to_owned()).collect();
    titles.sort();
    assert_eq!(titles, ["Backup done (for Zhang (u1))", "Backup done（用户 Zhang (u1)）"]);
}

/// Issue 24.7: outages are counted in the local days they fell in, split at local midnight.
#[tokio::test]
async fn outages_are_split_at_local_midnight_in_the_report() {
    // Shanghai (UTC+8): 2026-11-22 22:50 local = 14:50 UTC.
    let w = world("2026-11-22T14:50:00Z", json!({"time_zone": "Asia/Shanghai", "node": {"offline_after_secs": 600, "debounce": 1}})).await;
    for n in ["n1", "n2"] {
        call(&w.app, "PUT", &format!("/api/v1/nodes/{n}"), Some(json!({"name": n.to_uppercase()}))).await;
    }
    // Both beat at 23:00 local, then go silent: offline since 23:00.
    w.clock.set("2026-11-22T15:00:00Z".parse().unwrap());
    for n in ["n1", "n2"] {
        call(&w.app, "POST", &format!("/api/v1/nodes/{n}/heartbeat"), None).await;
    }
    w.job("node-check").await;
    w.clock.set("2026-11-22T15:10:00Z".parse().unwrap());
    w.job("node-check").await;
    // n1 is back at 01:00 local on the 23rd: an hour in each day.
    w.clock.set("2026-11-22T17:00:00Z".parse().unwrap());
    call(&w.app, "POST", "/api/v1/nodes/n1/heartbeat", None).await;
    w.job("node-check").await;
    // n2 is still down the next morning, 09:00 local on the 23rd.
    w.clock.set("2026-11-23T01:00:00Z".parse().unwrap());
    let settings = w.app.snapshot().await.unwrap().settings.clone();
    let downtime = |r: &Value| -> Vec<(String, i64)> {
        r["downtime"].as_array().unwrap().iter().map(|d| (d["node"].as_str().unwrap().to_owned(), d["seconds"].as_i64().unwrap())).collect()
    };
    let d22 = herald::jobs::report_numbers(&w.app, &settings, jiff::civil::date(2026, 11, 22)).await.unwrap();
    assert_eq!(downtime(&d22), [("N1".to_owned(), 3600), ("N2".to_owned(), 3600)], "{d22}");
    let d23 = herald::jobs::report_numbers(&w.app, &settings, jiff::civil::date(2026, 11, 23)).await.unwrap();
    // n2: from midnight to now (9 h); n1: its hour after midnight.
    assert_eq!(downtime(&d23), [("N2".to_owned(), 9 * 3600), ("N1".to_owned(), 3600)], "{d23}");
}

/// Issue 24.7: sends, and users added by a function that never read the settings, count in
/// the local day they happened in.
#[tokio::test]
async fn sends_and_new_users_count_in_their_local_day() {
    // 23:59:30 in Shanghai on the 22nd.
    let w = world("2026-11-22T15:59:30Z", json!({"time_zone": "Asia/Shanghai"})).await;
    call(&w.app, "POST", "/api/v1/notify", Some(json!({"type": "system", "text": "before midnight", "to": "admins"}))).await;
    drain(&w.app, &w.d).await;
    w.clock.set("2026-11-22T16:00:30Z".parse().unwrap());
    call(&w.app, "POST", "/api/v1/notify", Some(json!({"type": "system", "text": "after midnight", "to": "admins"}))).await;
    drain(&w.app, &w.d).await;
    let sent = |day: &'static str| {
        let app = &w.app;
        async move { app.repo.stats(day).await.unwrap().get("sent").copied().unwrap_or(0) }
    };
    assert_eq!((sent("2026-11-22").await, sent("2026-11-23").await), (1, 1));
    // Another instance over the same store (a cold API function): its first write of the day
    // reads the time zone first.
    let fresh =
        App::new(w.app.repo.table.clone(), Arc::new(herald_tests::memory_queue(180, 20)), w.clock.clone(), herald_tests::test_config()).unwrap();
    call(&fresh, "PUT", "/api/v1/users/late", Some(json!({}))).await;
    assert_eq!(w.app.repo.stats("2026-11-23").await.unwrap().get("new_users"), Some(&1));
    assert_eq!(w.app.repo.stats("2026-11-22").await.unwrap().get("new_users"), Some(&1), "only the admin, added before midnight");
}

/// Issue 24.8: PUT (and PATCH) on a node keep the fields left out, as for users: a host
/// re-syncing its nodes does not end a maintenance pause.
#[tokio::test]
async fn a_node_re_sync_does_not_end_a_pause() {
    let w = world("2026-11-23T12:00:00Z", json!({"node": {"offline_after_secs": 600, "debounce": 1}})).await;
    let doc = json!({"name": "N1", "host": "n1.example", "port": 443});
    assert_eq!(call(&w.app, "PUT", "/api/v1/nodes/n1", Some(doc.clone())).await.0, 201);
    let (status, v) = call(&w.app, "PATCH", "/api/v1/nodes/n1", Some(json!({"enabled": false}))).await;
    assert_eq!((status, v["changed"].clone()), (200, json!(["enabled"])), "{v}");
    // The host's periodic full re-sync, without `enabled`.
    let (status, v) = call(&w.app, "PUT", "/api/v1/nodes/n1", Some(doc)).await;
    assert_eq!((status, v["node"]["enabled"].clone(), v["changed"].clone()), (200, json!(false), json!([])), "{v}");
    // Paused: never checked, so never reported offline.
    w.advance_mins(60);
    w.job("node-check").await;
    assert_eq!(w.texts().await, ["Node N1 was added.", "Node N1 was updated: enabled."]);
    // Users: the same rule, and PATCH too.
    call(&w.app, "PUT", "/api/v1/users/u1", Some(json!({"plan": "pro", "ids": {"webhook": "u1"}}))).await;
    let (status, u) = call(&w.app, "PATCH", "/api/v1/users/u1", Some(json!({"traffic_used": 5}))).await;
    assert_eq!((status, u["plan"].as_str(), u["ids"]["webhook"].as_str()), (200, Some("pro"), Some("u1")), "{u}");
    // A new node still needs a name; bad input is a 400 naming the field.
    let (status, err) = call(&w.app, "PUT", "/api/v1/nodes/n2", Some(json!({"host": "x"}))).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("name")), "{err}");
    let (status, err) = call(&w.app, "PATCH", "/api/v1/nodes/n1", Some(json!({"port": "http"}))).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("port")), "{err}");
}

/// Issue 24.8: the same rule for settings and channels: a PUT (or PATCH) keeps what it leaves
/// out, `null` puts a field back to its default or removes it.
#[tokio::test]
async fn settings_and_channels_keep_what_a_put_leaves_out() {
    let w = world("2026-11-23T12:00:00Z", json!({"time_zone": "Asia/Shanghai", "routes": {"download": "user,admin"}})).await;
    let (status, s) = call(&w.app, "PUT", "/api/v1/settings", Some(json!({"daily_report": {"time": "08:30"}}))).await;
    assert_eq!(status, 200, "{s}");
    assert_eq!(
        (s["time_zone"].as_str(), s["routes"]["download"].as_str(), s["daily_report"]["time"].as_str()),
        (Some("Asia/Shanghai"), Some("user,admin"), Some("08:30"))
    );
    assert_eq!(s["daily_report"]["enabled"], true);
    let (_, s) = call(&w.app, "PATCH", "/api/v1/settings", Some(json!({"time_zone": null, "routes": {"download": null}}))).await;
    assert_eq!((s["time_zone"].as_str(), s["routes"].as_object().map(|r| r.len())), (Some("UTC"), Some(0)), "{s}");
    let (status, err) = call(&w.app, "PATCH", "/api/v1/settings", Some(json!({"node": {"debounce": 0}}))).await;
    assert_eq!((status, err["field"].as_str()), (400, Some("node.debounce")), "{err}");

    // A channel paused by an admin stays paused when its settings are sent again.
    let (status, c) = call(&w.app, "PATCH", "/api/v1/channels/ops", Some(json!({"enabled": false}))).await;
    assert_eq!((status, c["enabled"].as_bool()), (200, Some(false)), "{c}");
    let (_, c) =
        call(&w.app, "PUT", "/api/v1/channels/ops", Some(json!({"kind": "webhook", "settings": {"url": w.hook.url, "secret": "a-signing-secret"}})))
            .await;
    assert_eq!((c["enabled"].as_bool(), c["settings"]["secret"].as_str()), (Some(false), Some("********")), "{c}");
    // Another kind under the same name replaces the channel.
    let (status, c) = call(&w.app, "PUT", "/api/v1/channels/ops", Some(json!({"kind": "slack", "settings": {"bot_token": "xoxb-1"}}))).await;
    assert_eq!((status, c["kind"].as_str(), c["enabled"].as_bool()), (200, Some("slack"), Some(true)), "{c}");
}

/// Issue 24.1: a user's held notice whose channel went away is skipped there and goes to
/// another channel the user is bound on.
#[tokio::test]
async fn a_held_notice_on_a_disabled_channel_goes_to_the_users_other_channel() {
    // 20:00 in Shanghai, quiet until 23:00.
    let w = world("2026-03-02T12:00:00Z", json!({"deferrable_types": ["news"]})).await;
    call(&w.app, "PUT", "/api/v1/channels/other", Some(json!({"kind": "webhook", "settings": {"url": w.hook.url}}))).await;
    let quiet = json!({"start": "19:00", "end": "23:00", "time_zone": "Asia/Shanghai"});
    let prefs = json!({"preferred_channel": "ops", "quiet_hours": quiet});
    call(&w.app, "PUT", "/api/v1/users/u1", Some(json!({"ids": {"webhook": "u1"}, "preferences": prefs}))).await;
    let (_, v) = call(&w.app, "POST", "/api/v1/notify", Some(json!({"type": "news", "text": "x", "to": {"user": "u1"}}))).await;
    let id = v["id"].as_str().unwrap().to_owned();
    call(&w.app, "PATCH", "/api/v1/channels/ops", Some(json!({"enabled": false}))).await;
    w.clock.set("2026-03-02T15:00:00Z".parse().unwrap());
    w.job("sweep").await;
    drain(&w.app, &w.d).await;
    let (_, n) = call(&w.app, "GET", &format!("/api/v1/notifications/{id}"), None).await;
    let mut got: Vec<(String, String, String)> = n["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["channel"].as_str().unwrap().to_owned(), d["status"].as_str().unwrap().to_owned(), d["note"].as_str().unwrap_or("").to_owned()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("ops".to_owned(), "skipped".to_owned(), String::new()),
            ("other".to_owned(), "sent".to_owned(), "fallback: channel ops is disabled".to_owned())
        ],
        "{n}"
    );
}
