//! `herald-bench`: Herald's measurements, printed as Markdown for docs/benchmarks.md.
//!
//! `make bench` runs it in full after a release build; `herald-bench --smoke` (in the test
//! command) runs every section tiny, so the harness cannot rot. Sections: start-up, delivery
//! rate against the limits, the fault run, Apprise side by side, the daily fan-out, peak memory,
//! and the cost model built from those figures.

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use herald::app::App;
use herald::dispatch::Dispatcher;
use herald_tests::counting::{CountingQueue, CountingTable, Counts};
use herald_tests::runtime::{RuntimeApi, peak_rss_kib};
use herald_tests::servers::{Reply, TestServer};
use herald_tests::telegram::{BOT_TOKEN, FakeTelegram};
use serde_json::{Value, json};
use std::fmt::Write as _;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Opts {
    smoke: bool,
    bins: String,
    zips: String,
    apprise_python: Option<String>,
    emulator: Option<String>,
    fanout: usize,
    fanout_emulator: usize,
    only: Option<String>,
}

/// An API call a figure depends on: anything but a 2xx stops the run, so no figure comes from
/// calls that failed (`--smoke` in the test command included).
async fn must(app: &herald::app::App, method: &str, path: &str, body: Option<serde_json::Value>) -> serde_json::Value {
    let (status, v) = herald_tests::call(app, method, path, body).await;
    assert!((200..300).contains(&status), "{method} {path}: {status} {v}");
    v
}

fn opts() -> Opts {
    let args: Vec<String> = std::env::args().collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let value = |f: &str| args.iter().position(|a| a == f).and_then(|i| args.get(i + 1)).cloned();
    let smoke = flag("--smoke");
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    Opts {
        smoke,
        // By default the binaries built beside this one (so a run never measures a stale build
        // of another profile or target).
        bins: value("--bins").unwrap_or_else(|| {
            let beside = std::env::current_exe().ok().and_then(|p| p.parent().map(|d| d.display().to_string()));
            beside.unwrap_or_else(|| format!("{root}/target/{}", if smoke { "debug" } else { "x86_64-unknown-linux-gnu/release" }))
        }),
        zips: value("--zips").unwrap_or_else(|| format!("{root}/target/lambda")),
        apprise_python: value("--apprise-python"),
        emulator: std::env::var("HERALD_TEST_EMULATOR").ok().filter(|v| !v.is_empty()),
        fanout: value("--fanout").and_then(|v| v.parse().ok()).unwrap_or(if smoke { 500 } else { 100_000 }),
        // moto slows down as its tables grow (every write and query walks them), so the emulator
        // run is smaller; its request counts are what carries over to DynamoDB.
        fanout_emulator: value("--fanout-emulator").and_then(|v| v.parse().ok()).unwrap_or(if smoke { 200 } else { 1_000 }),
        only: value("--only"),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() { 0.0 } else { v[v.len() / 2] }
}

fn cpu_seconds() -> f64 {
    // utime + stime of this process, from /proc (clock ticks of 100 Hz on Linux).
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

const FUNCTIONS: [&str; 9] = [
    "herald-api",
    "herald-telegram",
    "herald-wecom",
    "herald-slack",
    "herald-discord",
    "herald-synology",
    "herald-vocechat",
    "herald-dispatcher",
    "herald-scheduler",
];

fn function_env(rt: &RuntimeApi, name: &str) -> Vec<(String, String)> {
    let mut env = rt.env(name);
    for (k, v) in [
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("HERALD_TABLE", "herald"),
        ("HERALD_QUEUE_URL", "http://127.0.0.1:9/q.fifo"),
        ("HERALD_DLQ_URL", "http://127.0.0.1:9/d.fifo"),
        ("HERALD_API_TOKEN", "bench-api-token-0123456789"),
        ("HERALD_LOG", "warn"),
    ] {
        env.push((k.into(), v.into()));
    }
    env
}

/// Time from exec to the function's first `next` (its init done, SDK clients built).
async fn cold_start(path: &str, name: &str) -> Option<f64> {
    let rt = RuntimeApi::start().await;
    let t0 = Instant::now();
    let mut child = Command::new(path).env_clear().envs(function_env(&rt, name)).stdout(Stdio::null()).stderr(Stdio::null()).spawn().ok()?;
    let started = rt.started(Duration::from_secs(20)).await;
    let _ = child.kill();
    let _ = child.wait();
    started.ok().map(|t| t.duration_since(t0).as_secs_f64() * 1000.0)
}

async fn startup(o: &Opts, out: &mut String) -> Value {
    let runs = if o.smoke { 3 } else { 21 };
    let mut names: Vec<&str> = FUNCTIONS.to_vec();
    names.push("bare-lambda");
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    // Interleaved, so that a busy moment of the machine hits every binary alike.
    for _ in 0..runs {
        for (i, n) in names.iter().enumerate() {
            if let Some(ms) = cold_start(&format!("{}/{n}", o.bins), n).await {
                samples[i].push(ms);
            }
        }
    }
    let bare = median(samples[names.len() - 1].clone());
    writeln!(out, "| binary | start-up median (ms, {runs} cold starts) | × bare | x86_64 stripped | x86_64 zip | arm64 stripped | arm64 zip |\n|---|---|---|---|---|---|---|").ok();
    let mut result = serde_json::Map::new();
    for (i, n) in names.iter().enumerate() {
        let m = median(samples[i].clone());
        let len = |p: String| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        let mb = |b: u64| if b > 0 { format!("{:.2} MB", b as f64 / 1e6) } else { "-".into() };
        let size = len(format!("{}/{n}", o.bins));
        let zip = len(format!("{}/{n}/bootstrap.zip", o.zips));
        let arm = len(format!("{}/../target/aarch64-unknown-linux-gnu/release/{n}", env!("CARGO_MANIFEST_DIR")));
        let arm_zip = len(format!("{}-arm64/{n}/bootstrap.zip", o.zips));
        let ratio = if bare > 0.0 { m / bare } else { 0.0 };
        writeln!(out, "| {n} | {m:.1} | {ratio:.2} | {} | {} | {} | {} |", mb(size), mb(zip), mb(arm), mb(arm_zip)).ok();
        result.insert(
            n.to_string(),
            json!({"median_ms": m, "ratio": ratio, "bytes": size, "zip_bytes": zip, "arm64_bytes": arm, "arm64_zip_bytes": arm_zip}),
        );
    }
    Value::Object(result)
}

/// Herald in this process: the store in memory (or a file), the in-process queue, counting.
fn local_app(config: herald::app::Config, file: Option<&std::path::Path>) -> (App, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let table: Arc<dyn herald::store::Table> = match file {
        Some(dir) => Arc::new(herald::store::embedded::EmbeddedTable::open(dir).unwrap()),
        None => Arc::new(herald::store::embedded::EmbeddedTable::in_memory().unwrap()),
    };
    let queue = Arc::new(herald::queue::memory::MemoryQueue::new(Duration::from_secs(30), config.max_receives));
    let app = App::new(
        Arc::new(CountingTable(table, counts.clone())),
        Arc::new(CountingQueue(queue, counts.clone())),
        Arc::new(herald::domain::clock::SystemClock),
        config,
    )
    .unwrap();
    (app, counts)
}

/// Herald as `herald-local` runs it: the embedded store on a file, the queue in that file.
fn file_app(dir: &std::path::Path) -> App {
    let table = herald::store::embedded::EmbeddedTable::open(dir).unwrap();
    App::on_store_file(table, Arc::new(herald::domain::clock::SystemClock), herald_tests::test_config()).unwrap()
}

async fn notify_all(app: &App, n: usize, users: usize) {
    for i in 0..n {
        let body = json!({"type": "account", "text": format!("m{i:06}"), "to": {"user": format!("f{:05}", i % users)}});
        let (status, v) = herald_tests::call(app, "POST", "/api/v1/notify", Some(body)).await;
        assert_eq!(status, 202, "{v}");
    }
}

async fn rate(o: &Opts, out: &mut String) -> Value {
    // 1. Against Telegram's limits: N messages to N chats, one dispatcher instance.
    let n = if o.smoke { 40 } else { 600 };
    let fake = FakeTelegram::start().await;
    let (app, _) = local_app(herald_tests::test_config(), None);
    let (status, _) = herald_tests::call(
        &app,
        "PUT",
        "/api/v1/channels/tg",
        Some(json!({"kind": "telegram", "settings": {"bot_token": BOT_TOKEN, "api_base": fake.url()}})),
    )
    .await;
    assert_eq!(status, 201);
    herald_tests::seed_chats(&app, n).await;
    notify_all(&app, n, n).await;
    let app = Arc::new(app);
    let worker = tokio::spawn(herald::edge::local::work(app.clone(), Arc::new(Dispatcher::default())));
    let t0 = Instant::now();
    while fake.with(|s| s.delivered.len()) < n && t0.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.abort();
    let (attempts, too_many, delivered) = fake.with(|s| (s.attempts.clone(), s.too_many, s.delivered.clone()));
    let busy = attempts.last().zip(attempts.first()).map(|(l, f)| l.duration_since(*f).as_secs_f64()).unwrap_or(0.0);
    let achieved = if busy > 0.0 { (attempts.len() - 1) as f64 / busy } else { 0.0 };
    let unique: std::collections::HashSet<String> = delivered.iter().map(|m| m["text"].to_string()).collect();
    // The stand-in's buckets allow a short burst; a sliding count is what a stricter platform
    // may apply: no second, wherever it starts, may hold more than 30 sends.
    let busiest = most_in_window(&attempts, Duration::from_secs(1));
    writeln!(out, "| target | messages | achieved | of the limit | 429 caused | lost | duplicated |\n|---|---|---|---|---|---|---|").ok();
    writeln!(
        out,
        "| Telegram stand-in (30/s per bot, 1/s per chat) | {n} to {n} chats | {achieved:.2}/s; {busiest} in the busiest sliding second | {:.1}% | {too_many} | {} | {} |",
        achieved / 30.0 * 100.0,
        n - unique.len(),
        delivered.len() - unique.len()
    )
    .ok();

    // 2. Each other limit binding alone, one dispatcher instance: one chat (1/s), one group (20 a
    //    minute), one WeCom member (30 a minute). Per-second limits: the rate over the run;
    //    per-minute budgets: the most sends in any 60 s.
    let binding = binding_limits(o, out).await;

    // 3. An unthrottled webhook endpoint: deliveries per second per instance.
    let m = if o.smoke { 100 } else { 5000 };
    let hook = TestServer::start(|_| Reply::ok("{}")).await;
    let (app, _) = local_app(herald_tests::test_config(), None);
    must(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": hook.url}}))).await;
    for i in 0..m {
        must(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": format!("w{i}"), "to": "admins"}))).await;
    }
    let app = Arc::new(app);
    let t0 = Instant::now();
    let worker = tokio::spawn(herald::edge::local::work(app.clone(), Arc::new(Dispatcher::default())));
    while hook.count() < m && t0.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let secs = t0.elapsed().as_secs_f64();
    worker.abort();
    let per_sec = hook.count() as f64 / secs;
    writeln!(out, "| local webhook endpoint (no limit) | {m} | {per_sec:.0}/s per instance | - | 0 | {} | - |", m - hook.count()).ok();
    json!({"telegram": {"n": n, "achieved_per_sec": achieved, "of_limit": achieved / 30.0, "too_many": too_many}, "binding": binding, "webhook": {"n": m, "per_sec": per_sec}})
}

const LOAD_SECRET: &str = "load-webhook-secret-0123456789";

/// wrk's Lua for Telegram: every request a new `update_id` (per thread and counter), `/ping`
/// from one private chat, answered in the response (no outbound call).
const TELEGRAM_LUA: &str = r#"
local counter, tid = 0, 0
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) tid = tonumber(wrk.thread:get("tid")) or 0 end
function request()
  counter = counter + 1
  local id = tid * 100000000 + counter
  local body = string.format('{"update_id":%d,"message":{"message_id":%d,"from":{"id":42,"is_bot":false,"first_name":"A"},"chat":{"id":42,"type":"private"},"date":1,"text":"/ping"}}', id, id)
  return wrk.format("POST", "/callback/telegram?source=tg", {["Content-Type"] = "application/json", ["X-Telegram-Bot-Api-Secret-Token"] = "SECRET"}, body)
end
"#;

/// wrk's Lua for WeCom: requests made beforehand (each encrypted and signed, its own `MsgId`),
/// one a line as `path<TAB>body`, taken in turn; each thread starts at its own offset.
const WECOM_LUA: &str = r#"
local reqs, i = {}, 0
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args)
  for line in io.lines(args[1]) do
    local path, body = line:match("([^\t]+)\t(.*)")
    reqs[#reqs + 1] = wrk.format("POST", path, {["Content-Type"] = "text/xml"}, body)
  end
  i = (tonumber(wrk.thread:get("tid")) or 0) * math.floor(#reqs / 4)
end
function request()
  i = i % #reqs + 1
  return reqs[i]
end
"#;

/// What wrk printed, as (requests/s, p50 ms, p99 ms, requests, errors: socket errors plus
/// non-2xx answers).
fn parse_wrk(text: &str) -> Option<(f64, f64, f64, u64, u64)> {
    let ms = |v: &str| -> Option<f64> {
        let (n, unit) = v.trim().split_at(v.trim().find(|c: char| c.is_ascii_alphabetic())?);
        let n: f64 = n.parse().ok()?;
        Some(match unit {
            "us" => n / 1000.0,
            "ms" => n,
            "s" => n * 1000.0,
            "m" => n * 60_000.0,
            _ => return None,
        })
    };
    let field = |prefix: &str| text.lines().find_map(|l| l.trim().strip_prefix(prefix).map(str::trim));
    let rps: f64 = field("Requests/sec:")?.parse().ok()?;
    let p50 = ms(field("50%")?)?;
    let p99 = ms(field("99%")?)?;
    let requests: u64 = text.lines().find(|l| l.contains("requests in"))?.split_whitespace().next()?.parse().ok()?;
    let non_2xx: u64 = field("Non-2xx or 3xx responses:").and_then(|v| v.parse().ok()).unwrap_or(0);
    let socket: u64 =
        field("Socket errors:").map(|v| v.split(',').filter_map(|p| p.split_whitespace().last()?.parse::<u64>().ok()).sum()).unwrap_or(0);
    Some((rps, p50, p99, requests, non_2xx + socket))
}

/// The receivers of the local runner (HTTP server, durable embedded store in a temporary
/// directory: what `herald-local` runs) under wrk, 50 connections, 2 threads.
async fn load(o: &Opts, out: &mut String) -> Value {
    let wrk_ok = Command::new("wrk").arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    if !wrk_ok {
        writeln!(out, "(not run: `wrk` is not installed; `make bench` installs it)").ok();
        return Value::Null;
    }
    let secs = if o.smoke { 2 } else { 10 };
    let dir = tempfile::tempdir().unwrap();
    let app = file_app(dir.path());
    let tg = json!({"kind": "telegram", "settings": {"bot_token": BOT_TOKEN, "webhook_secret": LOAD_SECRET, "api_base": "http://127.0.0.1:9"}});
    let wc = json!({"kind": "wecom", "settings": {"corp_id": herald_tests::wecom::CORP, "agent_id": 1, "secret": "s", "token": herald_tests::wecom::TOKEN, "encoding_aes_key": herald_tests::wecom::AES_KEY, "api_base": "http://127.0.0.1:9"}});
    for (name, c) in [("tg", tg), ("wc", wc)] {
        let channel = herald::platforms::config::Channel::from_json(name, c, None, app.now()).unwrap();
        app.repo.put_channel(&channel).await.unwrap();
    }
    let (base, _app) = herald_tests::start_local(app).await;
    let scripts = tempfile::tempdir().unwrap();
    let tg_lua = scripts.path().join("telegram.lua");
    std::fs::write(&tg_lua, TELEGRAM_LUA.replace("SECRET", LOAD_SECRET)).unwrap();
    let wc_lua = scripts.path().join("wecom.lua");
    std::fs::write(&wc_lua, WECOM_LUA).unwrap();
    // WeCom: distinct messages, encrypted and signed now (inside the five-minute window).
    let crypto =
        herald::platforms::wecom::crypto::Crypto::new(herald_tests::wecom::TOKEN, herald_tests::wecom::AES_KEY, herald_tests::wecom::CORP).unwrap();
    let now = jiff::Timestamp::now().as_second();
    let n = if o.smoke { 2_000 } else { 80_000 };
    let mut lines = String::new();
    for id in 0..n {
        let inner = format!(
            "<xml><ToUserName><![CDATA[{0}]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[/ping]]></Content><MsgId>{id}</MsgId><AgentID>1</AgentID></xml>",
            herald_tests::wecom::CORP
        );
        let enc = crypto.encrypt_with(&inner, herald::domain::ids::random_bytes::<16>()).unwrap();
        let sig = crypto.signature(&now.to_string(), "n", &enc);
        writeln!(lines, "/callback/wecom?source=wc&msg_signature={sig}&timestamp={now}&nonce=n\t<xml><ToUserName><![CDATA[{}]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt><AgentID><![CDATA[1]]></AgentID></xml>", herald_tests::wecom::CORP).ok();
    }
    let wc_reqs = scripts.path().join("wecom.txt");
    std::fs::write(&wc_reqs, lines).unwrap();
    writeln!(out, "The local runner's HTTP server on the durable embedded store (redb in a temporary directory), `wrk -t2 -c50 -d{secs}s --latency`, on this machine beside the server (2 cores shared by both); every Telegram request a new update, each answered in its response.\n").ok();
    writeln!(out, "| receiver (request) | requests | errors | requests/s | p50 | p99 |\n|---|---|---|---|---|---|").ok();
    let mut result = serde_json::Map::new();
    for (name, label, script, args) in [
        ("telegram", "Telegram `/ping` (secret token, dedup, bot, passive reply)", &tg_lua, vec![]),
        (
            "wecom",
            "WeCom `/ping` (signature, AES, dedup, bot, encrypted passive reply)",
            &wc_lua,
            vec!["--".to_owned(), wc_reqs.display().to_string()],
        ),
    ] {
        let (script, base) = (script.display().to_string(), base.clone());
        let d = format!("{secs}s");
        let output = tokio::task::spawn_blocking(move || {
            Command::new("wrk").args(["-t2", "-c50", "-d", &d, "--latency", "-s", &script, &base]).args(args).output()
        })
        .await
        .unwrap()
        .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).to_string();
        let (rps, p50, p99, requests, errors) =
            parse_wrk(&text).unwrap_or_else(|| panic!("wrk said: {text} {}", String::from_utf8_lossy(&output.stderr)));
        assert_eq!(errors, 0, "{name}: {text}");
        let repeats = if name == "wecom" && requests as usize > n {
            format!(" ({} repeats of the {n} prepared: duplicates)", requests as usize - n)
        } else {
            String::new()
        };
        writeln!(out, "| {label}{repeats} | {requests} | {errors} | {rps:.0} | {p50:.2} ms | {p99:.2} ms |").ok();
        result.insert(name.into(), json!({"requests": requests, "errors": errors, "rps": rps, "p50_ms": p50, "p99_ms": p99}));
    }
    Value::Object(result)
}

/// The most of `times` (in order) inside any window of length `w`.
fn most_in_window(times: &[Instant], w: Duration) -> usize {
    let (mut most, mut start) = (0, 0);
    for (i, t) in times.iter().enumerate() {
        while t.duration_since(times[start]) >= w {
            start += 1;
        }
        most = most.max(i + 1 - start);
    }
    most
}

/// Runs one instance until `done` says so (or `limit` passes).
async fn work_until(app: App, limit: Duration, done: impl Fn() -> bool) {
    let app = Arc::new(app);
    let worker = tokio::spawn(herald::edge::local::work(app, Arc::new(Dispatcher::default())));
    let t0 = Instant::now();
    while !done() && t0.elapsed() < limit {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.abort();
}

/// An in-memory Herald with one Telegram channel `tg` on `fake`, default chat `chat_id`.
async fn telegram_app(fake: &FakeTelegram, chat_id: &str) -> App {
    let (app, _) = local_app(herald_tests::test_config(), None);
    let settings = json!({"bot_token": BOT_TOKEN, "chat_id": chat_id, "api_base": fake.url()});
    must(&app, "PUT", "/api/v1/channels/tg", Some(json!({"kind": "telegram", "settings": settings}))).await;
    app
}

/// A delivery-rate row for a per-minute budget: the most sends in any minute against the budget.
fn budget_row(out: &mut String, target: &str, messages: &str, (most, budget): (usize, usize), refused: &str, lost: usize) {
    let share = most as f64 / budget as f64 * 100.0;
    writeln!(out, "| {target} | {messages} | {most} in the busiest minute | {share:.1}% | {refused} | {lost} | - |").ok();
}

async fn binding_limits(o: &Opts, out: &mut String) -> Value {
    use herald_tests::wecom::{AGENT, CORP, FakeWecom, SECRET};
    const GROUP: &str = "-1001234567890";
    let (k, g, w) = if o.smoke { (3, 3, 3) } else { (20, 25, 35) };
    let sends = |received: Vec<herald_tests::servers::Recorded>, path: &str, to: &str, field: &str| -> Vec<Instant> {
        received.into_iter().filter(|r| r.path.ends_with(path) && r.json()[field] == to).map(|r| r.at).collect()
    };

    // One private chat, k messages: Telegram's ~1 a second per chat.
    let fake = FakeTelegram::start().await;
    let app = telegram_app(&fake, GROUP).await;
    must(&app, "PUT", "/api/v1/users/u1", Some(json!({"ids": {"telegram": "42"}}))).await;
    for i in 0..k {
        must(&app, "POST", "/api/v1/notify", Some(json!({"type": "account", "text": format!("c{i}"), "to": {"user": "u1"}}))).await;
    }
    work_until(app, Duration::from_secs(120), || fake.with(|s| s.delivered.len()) >= k).await;
    let chat = sends(fake.server.received(), "/sendMessage", "42", "chat_id");
    let span = chat.last().zip(chat.first()).map(|(l, f)| l.duration_since(*f).as_secs_f64()).unwrap_or(0.0);
    let per_sec = if span > 0.0 { (chat.len() - 1) as f64 / span } else { 0.0 };
    let chat_429 = fake.with(|s| s.too_many);
    writeln!(
        out,
        "| Telegram stand-in, one chat (1/s) | {k} to 1 chat | {per_sec:.2}/s | {:.1}% | {chat_429} | {} | - |",
        per_sec * 100.0,
        k - fake.delivered().len()
    )
    .ok();

    // One group, g messages: 20 a minute per group.
    let fake = FakeTelegram::start().await;
    let app = telegram_app(&fake, GROUP).await;
    for i in 0..g {
        must(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": format!("g{i}"), "to": "admins"}))).await;
    }
    work_until(app, Duration::from_secs(150), || fake.with(|s| s.delivered.len()) >= g).await;
    let group = sends(fake.server.received(), "/sendMessage", GROUP, "chat_id");
    let group_most = most_in_window(&group, Duration::from_secs(60));
    let group_429 = fake.with(|s| s.too_many);
    budget_row(
        out,
        "Telegram stand-in, one group (20/min)",
        &format!("{g} to 1 group"),
        (group_most, 20),
        &group_429.to_string(),
        g - fake.delivered().len(),
    );

    // One WeCom member, w messages: 30 a minute per member, the excess silently dropped.
    let fake = FakeWecom::start().await;
    let (app, _) = local_app(herald_tests::test_config(), None);
    must(
        &app,
        "PUT",
        "/api/v1/channels/wc",
        Some(json!({"kind": "wecom", "settings": {"corp_id": CORP, "agent_id": AGENT, "secret": SECRET, "api_base": fake.server.url}})),
    )
    .await;
    must(&app, "PUT", "/api/v1/users/u1", Some(json!({"ids": {"wecom": "zhangsan"}}))).await;
    for i in 0..w {
        must(&app, "POST", "/api/v1/notify", Some(json!({"type": "account", "text": format!("w{i}"), "to": {"user": "u1"}}))).await;
    }
    work_until(app, Duration::from_secs(150), || fake.delivered().len() >= w).await;
    let member = sends(fake.server.received(), "/cgi-bin/message/send", "zhangsan", "touser");
    let member_most = most_in_window(&member, Duration::from_secs(60));
    let dropped = fake.with(|s| s.dropped.len());
    let lost = w - fake.delivered().len();
    budget_row(
        out,
        "WeCom stand-in, one member (30/min, dropped beyond)",
        &format!("{w} to 1 member"),
        (member_most, 30),
        &format!("{dropped} dropped"),
        lost,
    );
    json!({"chat_per_sec": per_sec, "chat_429": chat_429, "group_busiest_minute": group_most, "group_429": group_429, "member_busiest_minute": member_most, "wecom_dropped": dropped})
}

async fn faults(o: &Opts, out: &mut String) -> Value {
    let n = if o.smoke { 60 } else { 3000 };
    let mut config = herald_tests::test_config();
    herald_tests::faults::config(&mut config);
    // The store stands in for DynamoDB, which takes writes side by side: in memory, not the
    // embedded file (one writer, a disk sync per commit), whose commits would set the pace here.
    let table = Arc::new(herald::store::embedded::EmbeddedTable::in_memory().unwrap());
    let queue = Arc::new(herald::queue::memory::MemoryQueue::new(Duration::from_secs(3), config.max_receives));
    let app = App::new(table, queue, Arc::new(herald::domain::clock::SystemClock), config).unwrap();
    // Five instances: the template's DispatcherMaxConcurrency.
    let instances = std::env::var("HERALD_FAULT_INSTANCES").ok().and_then(|v| v.parse().ok()).unwrap_or(5);
    let r = herald_tests::faults::run(app, n, n, instances, 42).await;
    writeln!(
        out,
        "| deliveries | delivered | lost | duplicated (in flight at the kill + accepted, then timed out) | failed | injected 5xx / timeouts / accepted, then timed out / 429 | 429 from our pacing | sends/s, steady (of 30/s) | sends/s, whole run | seconds |\n|---|---|---|---|---|---|---|---|---|---|\n| {} | {} | {} | {} ({} + {}) | {} | {} / {} / {} / {} | {} | {:.2} ({:.1}%) | {:.2} ({:.1}%) | {:.0} |",
        r.deliveries,
        r.delivered,
        r.lost,
        r.duplicated,
        r.in_flight_at_kill,
        r.injected_accepted_timeouts,
        r.failed,
        r.injected_5xx,
        r.injected_timeouts,
        r.injected_accepted_timeouts,
        r.injected_429,
        r.pacing_429,
        r.steady_per_second,
        r.steady_of_limit * 100.0,
        r.attempts_per_second,
        r.rate_of_limit * 100.0,
        r.seconds
    )
    .ok();
    serde_json::to_value(&r).unwrap_or_default()
}

async fn apprise(o: &Opts, out: &mut String) -> Value {
    let n = if o.smoke { 20 } else { 1000 };
    let hook = TestServer::start(|_| Reply::ok("{}")).await;
    let url = format!("{}/hook", hook.url);
    // Herald: the notifications taken by the API first (not timed), then the dispatcher (four
    // workers, as herald-local runs them) sends them; then the same end to end, API included.
    let (app, _) = local_app(herald_tests::test_config(), None);
    must(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": url}}))).await;
    for i in 0..n {
        must(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "title": "Herald", "text": format!("message {i}"), "to": "admins"}))).await;
    }
    let app = Arc::new(app);
    // One worker first: the like-for-like row beside Apprise's serial loop.
    let (c0, t0) = (cpu_seconds(), Instant::now());
    let single = tokio::spawn(herald::edge::local::work(app.clone(), Arc::new(Dispatcher::default())));
    while hook.count() < n && t0.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (one_wall, one_cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    // Stopped only once its last batch is acknowledged: a batch left in flight would hold the
    // endpoint's FIFO group for the queue's visibility timeout in the next row.
    while app.queue.depth().await.is_ok_and(|d| d.in_flight + d.waiting > 0) && t0.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    single.abort();
    let one_got = hook.count();
    for i in 0..n {
        must(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "title": "Herald", "text": format!("four {i}"), "to": "admins"}))).await;
    }
    let (c0, t0) = (cpu_seconds(), Instant::now());
    let dispatcher = Arc::new(Dispatcher::default());
    let workers: Vec<_> = (0..4).map(|_| tokio::spawn(herald::edge::local::work(app.clone(), dispatcher.clone()))).collect();
    while hook.count() < one_got + n && t0.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (dispatch_wall, dispatch_cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    let dispatched = hook.count() - one_got;
    let (c0, t0) = (cpu_seconds(), Instant::now());
    for i in 0..n {
        must(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "title": "Herald", "text": format!("again {i}"), "to": "admins"}))).await;
    }
    while hook.count() < one_got + dispatched + n && t0.elapsed() < Duration::from_secs(300) {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (e2e_wall, e2e_cpu) = (t0.elapsed().as_secs_f64(), cpu_seconds() - c0);
    for w in workers {
        w.abort();
    }
    let mut result = json!({"n": n, "herald_dispatcher_one_worker": {"wall": one_wall, "cpu": one_cpu, "received": one_got}, "herald_dispatcher": {"wall": dispatch_wall, "cpu": dispatch_cpu, "received": dispatched}, "herald_end_to_end": {"wall": e2e_wall, "cpu": e2e_cpu}});
    writeln!(out, "| sender | {n} notifications to one local JSON endpoint | wall | CPU | received |\n|---|---|---|---|---|").ok();
    writeln!(
        out,
        "| Herald dispatcher, 1 worker (queued notifications sent; API intake not timed) | | {one_wall:.2} s | {one_cpu:.2} s | {one_got} |"
    )
    .ok();
    writeln!(out, "| Herald dispatcher, 4 workers (as herald-local runs it; API intake not timed) | | {dispatch_wall:.2} s | {dispatch_cpu:.2} s | {dispatched} |").ok();
    writeln!(
        out,
        "| Herald end to end, 4 workers (API, store, queue, dispatcher) | | {e2e_wall:.2} s | {e2e_cpu:.2} s | {} |",
        hook.count() - dispatched - one_got
    )
    .ok();
    let Some(python) = &o.apprise_python else {
        writeln!(out, "| Apprise | (not run: pass --apprise-python) | | | |").ok();
        return result;
    };
    let host = hook.url.trim_start_matches("http://").to_owned();
    let before = hook.count();
    let script = format!(
        "import apprise, time, resource, json\na = apprise.Apprise()\na.add('json://{host}/hook')\nt = time.perf_counter()\nfor i in range({n}):\n    a.notify(title='Herald', body='message %d' % i)\nwall = time.perf_counter() - t\nr = resource.getrusage(resource.RUSAGE_SELF)\nprint(json.dumps({{'wall': wall, 'cpu': r.ru_utime + r.ru_stime, 'version': apprise.__version__}}))"
    );
    let py = python.clone();
    let output = tokio::task::spawn_blocking(move || Command::new(py).arg("-c").arg(script).output()).await.unwrap();
    let Ok(o2) = output
        .as_ref()
        .map_err(|e| e.to_string())
        .and_then(|o| if o.status.success() { Ok(o) } else { Err(String::from_utf8_lossy(&o.stderr).to_string()) })
    else {
        writeln!(out, "| Apprise | failed: {:?} | | | |", output.err()).ok();
        return result;
    };
    let v: Value = serde_json::from_slice(o2.stdout.trim_ascii()).unwrap_or(Value::Null);
    let got = hook.count() - before;
    let (wall, cpu) = (v["wall"].as_f64().unwrap_or(0.0), v["cpu"].as_f64().unwrap_or(0.0));
    writeln!(out, "| Apprise {} (library, `json://`, in a loop) | | {wall:.2} s | {cpu:.2} s | {got} |", v["version"].as_str().unwrap_or("?")).ok();
    result["apprise_library"] = json!({"wall": wall, "cpu": cpu, "received": got, "version": v["version"]});
    // The CLI, as scripts, cron jobs and hooks call it: one process per notification (a sample,
    // scaled to n).
    let sample = if o.smoke { 2 } else { 40 };
    let cli = std::path::Path::new(python).with_file_name("apprise");
    let before = hook.count();
    let (c0, t0) = (children_cpu_seconds(), Instant::now());
    for i in 0..sample {
        let (cli, target) = (cli.clone(), format!("json://{host}/hook"));
        let _ = tokio::task::spawn_blocking(move || Command::new(cli).args(["-t", "Herald", "-b", &format!("message {i}"), &target]).output()).await;
    }
    let scale = n as f64 / sample as f64;
    let (cli_wall, cli_cpu) = (t0.elapsed().as_secs_f64() * scale, (children_cpu_seconds() - c0) * scale);
    let cli_got = hook.count() - before;
    writeln!(out, "| Apprise CLI (`apprise -t -b json://...`, one process each; {sample} run, scaled to {n}) | | {cli_wall:.1} s | {cli_cpu:.1} s | {cli_got} of {sample} |").ok();
    writeln!(
        out,
        "\nHerald's dispatcher (API intake not timed) takes {:.1}% of the Apprise library's wall time with one worker ({:.1}% of its CPU), {:.1}% with four, and {:.2}% of the CLI's with four; end to end, API included, four workers, {:.1}% of the library's and {:.2}% of the CLI's.",
        one_wall / wall * 100.0,
        one_cpu / cpu * 100.0,
        dispatch_wall / wall * 100.0,
        dispatch_wall / cli_wall * 100.0,
        e2e_wall / wall * 100.0,
        e2e_wall / cli_wall * 100.0
    )
    .ok();
    result["apprise_cli"] = json!({"wall_scaled": cli_wall, "cpu_scaled": cli_cpu, "sample": sample});
    result
}

/// Percentile `p` (0..=1) of `v`, in the units given.
fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(((v.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(0.0)
}

/// What `strace -c` counted, by syscall name.
fn strace_counts(text: &str) -> std::collections::HashMap<String, u64> {
    let mut out = std::collections::HashMap::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        // % time, seconds, usecs/call, calls, [errors], syscall
        if cols.len() >= 5
            && cols[0].parse::<f64>().is_ok()
            && let (Some(name), Ok(calls)) = (cols.last(), cols[3].parse::<u64>())
        {
            out.insert((*name).to_owned(), calls);
        }
    }
    out
}

/// The local runner as a newcomer runs it: the `herald-local` binary of this build, its default
/// durable store (redb files, synced on every commit) in a fresh directory, a webhook channel to
/// a local JSON sink; `n` notifications through `POST /api/v1/notify` over HTTP from one client,
/// then from eight; each time until the sink has them all. The syscalls of the one-client run
/// are counted with `strace -c -f` when it can attach.
async fn durable(o: &Opts, out: &mut String) -> Value {
    let n = if o.smoke { 40 } else { 1000 };
    let bin = format!("{}/herald-local", o.bins);
    if !std::path::Path::new(&bin).exists() {
        writeln!(out, "(not run: no {bin})").ok();
        return Value::Null;
    }
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let token = "bench-token-0123456789";
    let mut child = Command::new(&bin)
        .env("HERALD_API_TOKEN", token)
        .env("HERALD_LISTEN", format!("127.0.0.1:{port}"))
        .env("HERALD_DATA_DIR", dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let auth = format!("Bearer {token}");
    for _ in 0..200 {
        if http.get(format!("{base}/healthz")).send().await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let hook = TestServer::start(|_| Reply::ok("{}")).await;
    let put = http
        .put(format!("{base}/api/v1/channels/hook"))
        .header("authorization", &auth)
        .json(&json!({"kind": "webhook", "settings": {"url": format!("{}/hook", hook.url)}}))
        .send()
        .await
        .unwrap();
    assert!(put.status().is_success(), "channel: {}", put.status());
    let notify = {
        let (http, base, auth) = (http.clone(), base.clone(), auth.clone());
        move |i: usize, tag: &'static str| {
            let (http, base, auth) = (http.clone(), base.clone(), auth.clone());
            async move {
                let t = Instant::now();
                let r = http
                    .post(format!("{base}/api/v1/notify"))
                    .header("authorization", auth)
                    .json(&json!({"type": "node", "title": "Herald", "text": format!("{tag} {i}"), "to": "admins"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 202);
                t.elapsed().as_secs_f64() * 1000.0
            }
        }
    };
    let wait_for = |want: usize| {
        let hook = &hook;
        async move {
            let t0 = Instant::now();
            while hook.count() < want && t0.elapsed() < Duration::from_secs(300) {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
    };
    // Warm up (connections, the first commits), not counted.
    for i in 0..20 {
        notify(i, "warm").await;
    }
    wait_for(20).await;
    let t0 = Instant::now();
    let mut one = Vec::with_capacity(n);
    for i in 0..n {
        one.push(notify(i, "one").await);
    }
    let intake_one = t0.elapsed().as_secs_f64();
    wait_for(20 + n).await;
    let e2e_one = t0.elapsed().as_secs_f64();
    // Eight clients at once, n each.
    let t0 = Instant::now();
    let clients: Vec<_> = (0..8)
        .map(|c| {
            let notify = notify.clone();
            tokio::spawn(async move {
                let mut v = Vec::with_capacity(n);
                for i in 0..n {
                    v.push(notify(c * n + i, "eight").await);
                }
                v
            })
        })
        .collect();
    let mut eight = Vec::new();
    for c in clients {
        eight.extend(c.await.unwrap());
    }
    let intake_eight = t0.elapsed().as_secs_f64();
    wait_for(20 + n + 8 * n).await;
    let e2e_eight = t0.elapsed().as_secs_f64();
    // The syscalls, in a run of their own (strace slows every call it counts).
    let m = (n / 5).max(1);
    let strace =
        Command::new("strace").args(["-c", "-f", "-q", "-p", &child.id().to_string()]).stderr(Stdio::piped()).stdout(Stdio::null()).spawn().ok();
    if strace.is_some() {
        tokio::time::sleep(Duration::from_millis(500)).await; // attached to every thread
    }
    for i in 0..m {
        notify(i, "traced").await;
    }
    wait_for(20 + 9 * n + m).await;
    let calls = strace.map(|s| {
        let _ = Command::new("kill").args(["-INT", &s.id().to_string()]).status();
        String::from_utf8_lossy(&s.wait_with_output().map(|o| o.stderr).unwrap_or_default()).into_owned()
    });
    let counts = calls.as_deref().map(strace_counts).unwrap_or_default();
    let per = |name: &str| counts.get(name).map(|c| format!("{:.1}", *c as f64 / m as f64)).unwrap_or_else(|| "-".into());
    let _ = child.kill();
    let _ = child.wait();
    let received = hook.count();
    let built = std::fs::metadata(&bin)
        .and_then(|m| m.modified())
        .ok()
        .map(|t| jiff::Timestamp::try_from(t).map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string()).unwrap_or_default());
    writeln!(
        out,
        "Binary: `{}` (built {}).\n",
        bin.rsplit("/target/").next().map(|p| format!("target/{p}")).unwrap_or(bin.clone()),
        built.unwrap_or_default()
    )
    .ok();
    writeln!(out, "The `herald-local` binary of this build on its default durable store (one redb file in a fresh directory, the queue in it, every commit synced to disk), a webhook channel to a local JSON sink, `POST /api/v1/notify` over HTTP (keep-alive); timed until the sink has every notification.\n").ok();
    writeln!(out, "| clients | notifications | notify p50 | notify p99 | taken per second | delivered end to end | per second end to end |\n|---|---|---|---|---|---|---|").ok();
    writeln!(
        out,
        "| 1 | {n} | {:.2} ms | {:.2} ms | {:.0} | {e2e_one:.2} s | {:.0} |",
        percentile(one.clone(), 0.5),
        percentile(one.clone(), 0.99),
        n as f64 / intake_one,
        n as f64 / e2e_one
    )
    .ok();
    writeln!(
        out,
        "| 8 | {} | {:.2} ms | {:.2} ms | {:.0} | {e2e_eight:.2} s | {:.0} |",
        8 * n,
        percentile(eight.clone(), 0.5),
        percentile(eight.clone(), 0.99),
        8.0 * n as f64 / intake_eight,
        8.0 * n as f64 / e2e_eight
    )
    .ok();
    writeln!(
        out,
        "\nSyscalls per notification, one client, end to end (API, store, queue, dispatcher; `strace -c -f`, over {m} more, not timed): fdatasync {}, fsync {}, pwrite64 {}, futex {}.",
        per("fdatasync"),
        per("fsync"),
        per("pwrite64"),
        per("futex")
    )
    .ok();
    // The dispatcher alone on a store file (in this process, the queue in its file): n queued
    // notifications sent by four workers, as herald-local runs them.
    let dir2 = tempfile::tempdir().unwrap();
    let sink = TestServer::start(|_| Reply::ok("{}")).await;
    let app2 = file_app(dir2.path());
    must(&app2, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": sink.url}}))).await;
    for i in 0..n {
        must(&app2, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": format!("d{i}"), "to": "admins"}))).await;
    }
    let app2 = Arc::new(app2);
    let t0 = Instant::now();
    let dispatcher = Arc::new(Dispatcher::default());
    let workers: Vec<_> = (0..4).map(|_| tokio::spawn(herald::edge::local::work(app2.clone(), dispatcher.clone()))).collect();
    while sink.count() < n && t0.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let dispatcher_rate = n as f64 / t0.elapsed().as_secs_f64();
    workers.into_iter().for_each(|w| w.abort());
    // The floor of one ordered FIFO group: the same n POSTs one after another with Herald's HTTP
    // client (no store, no queue).
    let t0 = Instant::now();
    for i in 0..n {
        let r = app2.http.post(&sink.url).json(&json!({"title": "Herald", "message": format!("floor {i}")})).send().await.unwrap();
        assert!(r.status().is_success());
    }
    let posts_rate = n as f64 / t0.elapsed().as_secs_f64();
    writeln!(out, "\nThe dispatcher alone on a store file (in this process, the queue in the same file, four workers, {n} queued notifications to one endpoint): {dispatcher_rate:.0} sent per second. The same endpoint's floor, {n} POSTs one after another with Herald's HTTP client and no bookkeeping: {posts_rate:.0} per second.").ok();
    // The floor under those: one durable write to the store file, alone and eight at once.
    let dir = tempfile::tempdir().unwrap();
    let table: Arc<dyn herald::store::Table> = Arc::new(herald::store::embedded::EmbeddedTable::open(dir.path()).unwrap());
    let writes = if o.smoke { 40 } else { 400 };
    let mut alone = Vec::with_capacity(writes);
    for i in 0..writes {
        let t = Instant::now();
        table
            .put(herald::store::Item { data: "x".repeat(300), ..herald::store::Item::new("BENCH", format!("{i:06}")) }, herald::store::Cond::Any)
            .await
            .unwrap();
        alone.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let t0 = Instant::now();
    let tasks: Vec<_> = (0..8)
        .map(|c| {
            let table = table.clone();
            tokio::spawn(async move {
                for i in 0..writes / 8 {
                    let item = herald::store::Item { data: "x".repeat(300), ..herald::store::Item::new("BENCH8", format!("{c}-{i:06}")) };
                    table.put(item, herald::store::Cond::Any).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let together = writes as f64 / t0.elapsed().as_secs_f64();
    writeln!(
        out,
        "
One durable write to the store file (redb commit and sync), {writes} one after another: p50 {:.2} ms, p99 {:.2} ms ({:.0}/s); eight writers at once: {together:.0}/s (writes waiting together share one commit).",
        percentile(alone.clone(), 0.5),
        percentile(alone.clone(), 0.99),
        writes as f64 / alone.iter().sum::<f64>() * 1000.0
    )
    .ok();
    json!({"n": n, "received": received, "dispatcher_alone_per_sec": dispatcher_rate, "posts_alone_per_sec": posts_rate, "commit_p50_ms": percentile(alone, 0.5), "writes_per_sec_eight": together, "one": {"p50_ms": percentile(one.clone(), 0.5), "p99_ms": percentile(one, 0.99), "intake_s": intake_one, "e2e_s": e2e_one},
        "eight": {"p50_ms": percentile(eight.clone(), 0.5), "p99_ms": percentile(eight, 0.99), "intake_s": intake_eight, "e2e_s": e2e_eight},
        "syscalls": counts, "apprise_python": o.apprise_python.is_some()})
}

/// CPU seconds of this process's finished children (utime + stime).
fn children_cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(13) + ticks(14)) / 100.0
}

async fn fanout(o: &Opts, out: &mut String) -> Value {
    writeln!(out, "| store | users | seed | daily job | store reads | store writes | queue requests | messages | ⌈messages/10⌉ |\n|---|---|---|---|---|---|---|---|---|").ok();
    let mut result = serde_json::Map::new();
    let expires = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(72)).to_string();
    let row = |name: &str, v: &Value, out: &mut String| {
        let m = v["messages"].as_u64().unwrap_or(0);
        writeln!(
            out,
            "| {name} | {} | {:.1} s | {:.1} s | {} | {} | {} | {m} | {} |",
            v["users"],
            v["seed_secs"].as_f64().unwrap_or(0.0),
            v["secs"].as_f64().unwrap_or(0.0),
            v["reads"],
            v["writes"],
            v["queue_requests"],
            m.div_ceil(10)
        )
        .ok();
    };
    // Embedded: the local runner's file store.
    let dir = tempfile::tempdir().unwrap();
    let (app, counts) = local_app(herald_tests::test_config(), Some(dir.path()));
    must(&app, "PUT", "/api/v1/channels/tg", Some(json!({"kind": "telegram", "settings": {"bot_token": BOT_TOKEN}}))).await;
    let v = fanout_with(&app, &counts, o.fanout, &expires).await;
    row("embedded (redb file)", &v, out);
    result.insert("embedded".into(), v);
    if let Some(endpoint) = &o.emulator {
        let config = herald_tests::sdk_config(endpoint).await;
        let table = herald::store::dynamo::DynamoTable::new(aws_sdk_dynamodb::Client::new(&config), herald_tests::unique("bench"));
        table.ensure_table().await.unwrap();
        let queue = herald::queue::sqs::SqsQueue::ensure(aws_sdk_sqs::Client::new(&config), &herald_tests::unique("bench"), 180, 20).await.unwrap();
        let counts = Arc::new(Counts::default());
        let app = App::new(
            Arc::new(CountingTable(Arc::new(table), counts.clone())),
            Arc::new(CountingQueue(Arc::new(queue), counts.clone())),
            Arc::new(herald::domain::clock::SystemClock),
            herald_tests::test_config(),
        )
        .unwrap();
        must(&app, "PUT", "/api/v1/channels/tg", Some(json!({"kind": "telegram", "settings": {"bot_token": BOT_TOKEN}}))).await;
        let v = fanout_with(&app, &counts, o.fanout_emulator, &expires).await;
        row("DynamoDB + SQS (moto emulator)", &v, out);
        result.insert("emulator".into(), v);
    }
    Value::Object(result)
}

async fn fanout_with(app: &App, counts: &Counts, n: usize, expires: &str) -> Value {
    let t0 = Instant::now();
    herald_tests::seed_users(app, n, expires).await;
    let seeded = t0.elapsed().as_secs_f64();
    let (r0, w0, q0, m0) = counts.get();
    let t0 = Instant::now();
    let v = herald::jobs::run(app, "daily", true, None).await.unwrap();
    let secs = t0.elapsed().as_secs_f64();
    let (r1, w1, q1, m1) = counts.get();
    json!({"users": n, "seed_secs": seeded, "secs": secs, "reads": r1 - r0, "writes": w1 - w0, "queue_requests": q1 - q0, "messages": m1 - m0, "result": v["daily"]["reminders"]})
}

/// Peak memory of the real function binaries under load: the API taking notifications, the
/// dispatcher sending batches, the scheduler's daily fan-out (against the emulator).
async fn memory(o: &Opts, out: &mut String) -> Value {
    let Some(endpoint) = &o.emulator else {
        writeln!(out, "(not measured: no emulator)").ok();
        return Value::Null;
    };
    let n = if o.smoke { 20 } else { 500 };
    let users = if o.smoke { 100 } else { 1_000 };
    let config = herald_tests::sdk_config(endpoint).await;
    let table_name = herald_tests::unique("mem");
    let table = herald::store::dynamo::DynamoTable::new(aws_sdk_dynamodb::Client::new(&config), &table_name);
    table.ensure_table().await.unwrap();
    let queue = herald::queue::sqs::SqsQueue::ensure(aws_sdk_sqs::Client::new(&config), &herald_tests::unique("mem"), 180, 20).await.unwrap();
    let (qurl, dlq) = queue.urls();
    let (qurl, dlq) = (qurl.to_owned(), dlq.to_owned());
    let hook = TestServer::start(|_| Reply::ok("{}")).await;
    let app = App::new(Arc::new(table), Arc::new(queue), Arc::new(herald::domain::clock::SystemClock), herald_tests::test_config()).unwrap();
    must(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": hook.url}}))).await;
    must(
        &app,
        "PUT",
        "/api/v1/channels/tg",
        Some(json!({"kind": "telegram", "settings": {"bot_token": BOT_TOKEN, "api_base": "http://127.0.0.1:9"}})),
    )
    .await;
    must(&app, "PUT", "/api/v1/users/admin", Some(json!({"role": "admin"}))).await;
    let expires = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(72)).to_string();
    herald_tests::seed_users(&app, users, &expires).await;
    let run = |name: &'static str| {
        let (endpoint, table_name, qurl, dlq) = (endpoint.clone(), table_name.clone(), qurl.clone(), dlq.clone());
        async move {
            let rt = RuntimeApi::start().await;
            let mut env = rt.env(name);
            for (k, v) in [
                ("AWS_ENDPOINT_URL", endpoint.as_str()),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ACCESS_KEY_ID", "test"),
                ("AWS_SECRET_ACCESS_KEY", "test"),
                ("HERALD_TABLE", table_name.as_str()),
                ("HERALD_QUEUE_URL", qurl.as_str()),
                ("HERALD_DLQ_URL", dlq.as_str()),
                ("HERALD_API_TOKEN", herald_tests::TOKEN),
                ("HERALD_LOG", "warn"),
            ] {
                env.push((k.into(), v.into()));
            }
            (rt, env)
        }
    };
    let mut rows = serde_json::Map::new();
    writeln!(out, "| function | load | peak RSS |\n|---|---|---|").ok();
    // API: n notifications.
    let (rt, env) = run("herald-api").await;
    let mut child = Command::new(format!("{}/herald-api", o.bins)).env_clear().envs(env).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    rt.started(Duration::from_secs(30)).await.ok();
    let mut api_ms = Vec::new();
    for i in 0..n {
        let body = json!({"type": "node", "text": format!("mem {i}"), "to": "admins"}).to_string();
        let event = json!({"version": "2.0", "routeKey": "$default", "rawPath": "/api/v1/notify", "rawQueryString": "", "headers": {"authorization": format!("Bearer {}", herald_tests::TOKEN), "content-type": "application/json"}, "requestContext": {"http": {"method": "POST", "path": "/api/v1/notify", "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "bench"}, "requestId": format!("r{i}"), "routeKey": "$default", "stage": "$default", "timeEpoch": 0, "accountId": "1", "apiId": "a", "domainName": "d", "domainPrefix": "d", "time": "23/Nov/2026:12:00:00 +0000"}, "body": body, "isBase64Encoded": false});
        let t = Instant::now();
        let answer = rt.call(event).await;
        let status = answer.as_ref().and_then(|a| a.as_ref().ok()).and_then(|v| v["statusCode"].as_u64());
        assert_eq!(status, Some(202), "notify through herald-api: {answer:?}");
        api_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let api_kib = peak_rss_kib(child.id()).unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    let api_median = median(api_ms);
    writeln!(out, "| herald-api | {n} notify requests (median {api_median:.1} ms each, emulator) | {:.1} MB |", api_kib as f64 / 1024.0).ok();
    rows.insert("herald-api".into(), json!(api_kib));
    rows.insert("api_ms".into(), json!(api_median));
    // Dispatcher: the queued deliveries, in SQS batches of ten.
    let (rt, env) = run("herald-dispatcher").await;
    let mut child =
        Command::new(format!("{}/herald-dispatcher", o.bins)).env_clear().envs(env).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    rt.started(Duration::from_secs(30)).await.ok();
    let mut batches = 0;
    let mut batch_ms = Vec::new();
    loop {
        let msgs = herald::queue::Queue::receive(&*app.queue, 10, Duration::from_millis(200)).await.unwrap();
        if msgs.is_empty() {
            break;
        }
        let records: Vec<Value> = msgs
            .iter()
            .map(|m| json!({"messageId": m.id, "receiptHandle": m.receipt, "body": m.body, "attributes": {"ApproximateReceiveCount": "1", "MessageGroupId": m.group}, "messageAttributes": {}, "eventSource": "aws:sqs"}))
            .collect();
        let t = Instant::now();
        let answer = rt.call(json!({"Records": records})).await;
        let failures = answer.as_ref().and_then(|a| a.as_ref().ok()).map(|v| v["batchItemFailures"].as_array().map_or(0, Vec::len));
        assert_eq!(failures, Some(0), "a dispatcher batch failed: {answer:?}");
        batch_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        for m in msgs {
            let _ = herald::queue::Queue::delete(&*app.queue, &m.receipt).await;
        }
        batches += 1;
    }
    let disp_kib = peak_rss_kib(child.id()).unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    let batch_median = median(batch_ms);
    writeln!(
        out,
        "| herald-dispatcher | {batches} batches of up to 10 ({} sends; median {batch_median:.1} ms a batch, emulator) | {:.1} MB |",
        hook.count(),
        disp_kib as f64 / 1024.0
    )
    .ok();
    rows.insert("herald-dispatcher".into(), json!(disp_kib));
    rows.insert("batch_ms".into(), json!(batch_median));
    // Scheduler: the daily job over the seeded users.
    let (rt, env) = run("herald-scheduler").await;
    let mut child =
        Command::new(format!("{}/herald-scheduler", o.bins)).env_clear().envs(env).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    rt.started(Duration::from_secs(30)).await.ok();
    let t0 = Instant::now();
    let id = rt.invoke(json!({"job": "daily", "force": true}));
    let r = rt.result(&id, Duration::from_secs(1800)).await;
    let secs = t0.elapsed().as_secs_f64();
    let sched_kib = peak_rss_kib(child.id()).unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    let reminded = match r {
        Some(Ok(v)) => v["daily"]["reminders"]["reminded"].clone(),
        other => panic!("the daily job through herald-scheduler failed: {other:?}"),
    };
    writeln!(out, "| herald-scheduler | daily job over {users} users ({reminded} reminders, {secs:.1} s) | {:.1} MB |", sched_kib as f64 / 1024.0)
        .ok();
    rows.insert("herald-scheduler".into(), json!(sched_kib));
    Value::Object(rows)
}

/// AWS list prices, us-east-1, arm64 (Lambda, API Gateway HTTP APIs, SQS FIFO, DynamoDB on-demand
/// after its November 2024 reduction, CloudWatch Logs ingestion). No AWS page can be read from the
/// build machine: check them against aws.amazon.com/pricing before relying on the totals.
const PRICES_DATE: &str = "AWS list prices as of the November 2024 DynamoDB on-demand reduction (not re-checked since)";
const PRICES: [(&str, f64); 7] = [
    ("lambda_request", 0.20 / 1e6),
    ("lambda_gb_second", 0.000_013_333_4),
    ("apigw_http_request", 1.00 / 1e6),
    ("sqs_fifo_request", 0.50 / 1e6),
    ("dynamodb_write", 0.625 / 1e6),
    ("dynamodb_read", 0.125 / 1e6),
    ("logs_gb", 0.50),
];

fn price(name: &str) -> f64 {
    PRICES.iter().find(|p| p.0 == name).map(|p| p.1).unwrap_or(0.0)
}

/// Runs a dispatcher worker on `app` until `sent()` says `n` requests came (or two minutes pass).
async fn send_all(app: App, sent: impl Fn() -> usize, n: usize) {
    let app = Arc::new(app);
    let worker = tokio::spawn(herald::edge::local::work(app.clone(), Arc::new(Dispatcher::default())));
    let t0 = Instant::now();
    while sent() < n && t0.elapsed() < Duration::from_secs(120) {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    worker.abort();
}

/// The configuration the per-million rows count with: the defaults users run (channels, settings
/// and commands cached for 30 s, so a function busy with a million notifications a month reads
/// them about twice a minute, not per request), the test token. The small deployment's month
/// counts with no cache: its requests are minutes apart, each finds the cache cold.
fn billed_config() -> herald::app::Config {
    herald::app::Config { cache_ttl: herald::app::Config::default().cache_ttl, ..herald_tests::test_config() }
}

/// Requests per notification, counted on the in-process stack (the same code paths as on AWS):
/// one notification to one recipient through the API and the dispatcher.
async fn cost(o: &Opts, out: &mut String, measured: &serde_json::Map<String, Value>) -> Value {
    let n = if o.smoke { 50 } else { 1000 };
    let hook = TestServer::start(|_| Reply::ok("{}")).await;
    let (app, counts) = local_app(billed_config(), None);
    must(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": hook.url}}))).await;
    counts.bill.store(true, std::sync::atomic::Ordering::SeqCst);
    let (r0, w0, q0, _) = counts.get();
    let (wu0, ru0) = counts.units();
    for i in 0..n {
        must(&app, "POST", "/api/v1/notify", Some(json!({"type": "node", "text": format!("c{i}"), "to": "admins"}))).await;
    }
    send_all(app, || hook.count(), n).await;
    let (r1, w1, q1, _) = counts.get();
    let (wu1, ru1) = counts.units();
    let per = |a: u64, b: u64| (b - a) as f64 / n as f64;
    let (reads, writes, sends) = (per(r0, r1), per(w0, w1), per(q0, q1));
    let (wcu, rcu) = (per(wu0, wu1), (ru1 - ru0) / n as f64);
    // SQS: the send (batched by the API per request: one), the event source's receive and delete
    // of each batch of ten.
    let sqs = sends + 0.2;
    let api_ms = measured.get("memory").and_then(|m| m["api_ms"].as_f64()).unwrap_or(10.0);
    let batch_ms = measured.get("memory").and_then(|m| m["batch_ms"].as_f64()).unwrap_or(100.0);
    let gb = 128.0 / 1024.0;
    let million = 1e6;
    let items = [
        ("API Gateway HTTP API (1 request)", million * price("apigw_http_request")),
        ("Lambda requests (API 1 + dispatcher 0.1)", million * 1.1 * price("lambda_request")),
        (
            "Lambda duration (API + dispatcher batch / 10, 128 MB)",
            million * ((api_ms.max(1.0) + batch_ms / 10.0) / 1000.0) * gb * price("lambda_gb_second"),
        ),
        ("SQS FIFO requests", million * sqs * price("sqs_fifo_request")),
        ("DynamoDB writes (on demand, write units)", million * wcu * price("dynamodb_write")),
        ("DynamoDB reads (on demand, read units)", million * rcu * price("dynamodb_read")),
        ("CloudWatch Logs (~600 bytes)", million * 600.0 / 1e9 * price("logs_gb")),
    ];
    writeln!(
        out,
        "Counted per notification (one recipient, a webhook channel): {reads:.2} store reads ({rcu:.2} read units), {writes:.2} store writes ({wcu:.2} write units: item sizes and index entries included), {sqs:.2} SQS requests; durations from the peak-memory run (API {api_ms:.1} ms, dispatcher {batch_ms:.1} ms a batch of ten, against the emulator). Prices: {PRICES_DATE}, us-east-1, arm64.\n"
    )
    .ok();
    writeln!(out, "| item | $ per million notifications |\n|---|---|").ok();
    let mut total = 0.0;
    for (name, usd) in items {
        total += usd;
        writeln!(out, "| {name} | {usd:.3} |").ok();
    }
    let no_api = total - items[0].1;
    writeln!(
        out,
        "| **total** | **{total:.2}** |\n\nWithout API Gateway (through Lambda function URLs, `FrontDoor=FunctionUrls`; and notifications raised inside Herald: reminders, node events, reports): {no_api:.2}."
    )
    .ok();
    let per_notification = json!({"reads": reads, "writes": writes, "read_units": rcu, "write_units": wcu, "sqs": sqs, "total_usd": total, "without_api_gateway": no_api});
    let modes = modes(o, out, (wcu, rcu, sqs), api_ms, batch_ms).await;
    let bill = small_bill(o, out, (wcu, rcu, sqs), api_ms, batch_ms).await;
    json!({"per_notification": per_notification, "modes": modes, "small_deployment": bill})
}

/// Provisioned capacity, per unit-hour, and the auto scaling target the template sets (70%):
/// what a write or read costs when the table's capacity follows the load.
const PROVISIONED_WCU_HOUR: f64 = 0.00065;
const PROVISIONED_RCU_HOUR: f64 = 0.00013;
const SCALING_TARGET: f64 = 0.70;
/// CloudWatch: a standard-resolution metric alarm, a month; PITR and table storage, a GB-month;
/// EventBridge Scheduler, an invocation.
const ALARM_MONTH: f64 = 0.10;
const PITR_GB_MONTH: f64 = 0.20;
const STORAGE_GB_MONTH: f64 = 0.25;
const SCHEDULER_INVOCATION: f64 = 1.00 / 1e6;

/// Per million notifications through single API calls, through batch calls (100 a call) and
/// raised inside Herald, for each front door and capacity mode. The store and queue requests of
/// a batch are counted on the in-process stack like the single ones.
async fn modes(o: &Opts, out: &mut String, (wcu, rcu, sqs): (f64, f64, f64), api_ms: f64, batch_ms: f64) -> Value {
    let (b_wcu, b_rcu, b_sqs) = counted(o, 100, false).await;
    let keyed_batch = counted(o, 100, true).await;
    let keyed_single = counted(o, 1, true).await;
    let raised = counted_raised(o).await;
    let m = 1e6;
    let gb = 128.0 / 1024.0;
    // (API requests, Lambda requests, Lambda GB-seconds) per notification for each way in.
    let ways = [
        ("single API calls", (wcu, rcu, sqs), 1.0, 1.1, (api_ms + batch_ms / 10.0) / 1000.0 * gb),
        ("single API calls, each with an idempotency key", keyed_single, 1.0, 1.1, (api_ms + batch_ms / 10.0) / 1000.0 * gb),
        ("batch calls (100 a call)", (b_wcu, b_rcu, b_sqs), 0.01, 0.11, (api_ms * 10.0 / 100.0 + batch_ms / 10.0) / 1000.0 * gb),
        ("batch calls, each entry with an idempotency key", keyed_batch, 0.01, 0.11, (api_ms * 10.0 / 100.0 + batch_ms / 10.0) / 1000.0 * gb),
        ("raised inside Herald: the daily reminders", raised[0], 0.0, 0.1, (batch_ms / 10.0) / 1000.0 * gb),
        ("raised inside Herald: one at a time (node events, notices)", raised[1], 0.0, 0.1, (batch_ms / 10.0) / 1000.0 * gb),
    ];
    writeln!(
        out,
        "\nPer million notifications by way in, front door and capacity mode (each way counted on the in-process stack like the single calls above; batch calls {b_wcu:.2} write units, {b_rcu:.2} read units, {b_sqs:.2} SQS requests each; with idempotency keys, single calls {:.2} write units, {:.2} read units, {:.2} SQS requests, batch calls {:.2}, {:.2}, {:.2}; raised inside Herald, the daily reminders {:.2}, {:.2}, {:.2}, one at a time {:.2}, {:.2}, {:.2}; provisioned capacity at ${PROVISIONED_WCU_HOUR}/WCU-hour and ${PROVISIONED_RCU_HOUR}/RCU-hour, used at the template's {:.0}% auto scaling target):\n",
        keyed_single.0,
        keyed_single.1,
        keyed_single.2,
        keyed_batch.0,
        keyed_batch.1,
        keyed_batch.2,
        raised[0].0,
        raised[0].1,
        raised[0].2,
        raised[1].0,
        raised[1].1,
        raised[1].2,
        SCALING_TARGET * 100.0
    )
    .ok();
    writeln!(
        out,
        "| way in | HTTP API, on demand | function URLs, on demand | HTTP API, provisioned | function URLs, provisioned |\n|---|---|---|---|---|"
    )
    .ok();
    let mut rows = Vec::new();
    for (name, (w, r, q), api, lambda, gbs) in ways {
        let base =
            m * (lambda * price("lambda_request") + gbs * price("lambda_gb_second") + q * price("sqs_fifo_request") + 600.0 / 1e9 * price("logs_gb"));
        let on_demand = m * (w * price("dynamodb_write") + r * price("dynamodb_read"));
        let provisioned = m * (w * PROVISIONED_WCU_HOUR + r * PROVISIONED_RCU_HOUR) / (3600.0 * SCALING_TARGET);
        let gw = m * api * price("apigw_http_request");
        let cells = [gw + base + on_demand, base + on_demand, gw + base + provisioned, base + provisioned];
        writeln!(out, "| {name} | {:.2} | {:.2} | {:.2} | {:.2} |", cells[0], cells[1], cells[2], cells[3]).ok();
        rows.push(json!({"way": name, "usd": cells}));
    }
    // The floor: the template's ProvisionedUnits (5) read and 5 write units on the table and on
    // each of its 3 indexes, paid every hour whatever the load.
    let floor = 4.0 * 5.0 * 730.0 * (PROVISIONED_WCU_HOUR + PROVISIONED_RCU_HOUR);
    let per_million_on_demand = m * (wcu * price("dynamodb_write") + rcu * price("dynamodb_read"));
    writeln!(
        out,
        "\nProvisioned capacity has a floor: 5 read and 5 write units (the template's `ProvisionedUnits`) on the table and on each of its 3 indexes, ${floor:.2} a month at any load. Its rows above leave the floor out. On demand, the store costs ${per_million_on_demand:.2} per million notifications, so provisioned pays once a deployment sends more than ~{:.1} million a month, steadily.",
        floor / (per_million_on_demand - m * (wcu * PROVISIONED_WCU_HOUR + rcu * PROVISIONED_RCU_HOUR) / (3600.0 * SCALING_TARGET))
    )
    .ok();
    Value::Array(rows)
}

/// Store and queue requests per notification (write units, read units, SQS requests with the
/// event source's receive and delete of each batch of ten), counted on the in-process stack:
/// 1,000 notifications to one recipient through `POST /api/v1/notify`, `per_call` a call
/// (1: single calls, else batches), each with its own idempotency key if `keyed`.
async fn counted(o: &Opts, per_call: usize, keyed: bool) -> (f64, f64, f64) {
    let n = if o.smoke { 100 } else { 1000 };
    let hook = TestServer::start(|_| Reply::ok("{}")).await;
    let (app, counts) = local_app(billed_config(), None);
    must(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": hook.url}}))).await;
    counts.bill.store(true, std::sync::atomic::Ordering::SeqCst);
    let (wu0, ru0) = counts.units();
    let (_, _, q0, _) = counts.get();
    let entry = |i: usize| {
        let mut e = json!({"type": "node", "text": format!("b{i}"), "to": "admins"});
        if keyed {
            e["idempotency_key"] = json!(format!("key-{i}"));
        }
        e
    };
    for b in 0..n / per_call {
        let body = match per_call {
            1 => entry(b),
            _ => json!({"notifications": (b * per_call..(b + 1) * per_call).map(entry).collect::<Vec<_>>()}),
        };
        must(&app, "POST", "/api/v1/notify", Some(body)).await;
    }
    send_all(app, || hook.count(), n).await;
    let (wu1, ru1) = counts.units();
    let (_, _, q1, _) = counts.get();
    ((wu1 - wu0) as f64 / n as f64, (ru1 - ru0) / n as f64, (q1 - q0) as f64 / n as f64 + 0.2)
}

/// Store and queue requests per notification Herald raises itself, counted like [`counted`]
/// (write units, read units, SQS requests with the event source's receive and delete of each
/// batch of ten): the daily job's reminders to 1,000 users bound on Telegram (the bulk of what
/// Herald raises), and 1,000 notices raised one at a time to the admins' webhook (as node events
/// and failure notices are).
async fn counted_raised(o: &Opts) -> [(f64, f64, f64); 2] {
    let n = if o.smoke { 100 } else { 1000 };
    let per = |c: &Counts, (w0, r0, q0): (u64, f64, u64)| {
        let (w1, r1) = c.units();
        ((w1 - w0) as f64 / n as f64, (r1 - r0) / n as f64, (c.get().2 - q0) as f64 / n as f64 + 0.2)
    };
    let start = |c: &Counts| {
        c.bill.store(true, std::sync::atomic::Ordering::SeqCst);
        let (w, r) = c.units();
        (w, r, c.get().2)
    };
    let fake = FakeTelegram::start().await;
    fake.with(|s| s.unlimited = true);
    let (app, counts) = local_app(billed_config(), None);
    must(&app, "PUT", "/api/v1/channels/tg", Some(json!({"kind": "telegram", "settings": {"bot_token": BOT_TOKEN, "api_base": fake.url()}}))).await;
    must(&app, "PUT", "/api/v1/settings", Some(json!({"daily_report": {"enabled": false}}))).await;
    let due = jiff::Timestamp::now().checked_add(jiff::SignedDuration::from_hours(72)).unwrap();
    herald_tests::seed_users(&app, n, &due.to_string()).await;
    let s0 = start(&counts);
    let v = must(&app, "POST", "/api/v1/jobs/daily/run", None).await;
    assert_eq!(v["daily"]["reminders"]["reminded"], n, "{v}");
    send_all(app, || fake.delivered().len(), n).await;
    let reminders = per(&counts, s0);

    let hook = TestServer::start(|_| Reply::ok("{}")).await;
    let (app, counts) = local_app(billed_config(), None);
    must(&app, "PUT", "/api/v1/channels/hook", Some(json!({"kind": "webhook", "settings": {"url": hook.url}}))).await;
    let s0 = start(&counts);
    for i in 0..n {
        let now = jiff::Timestamp::now();
        let note = herald::domain::notification::Notification::text(
            herald::domain::ids::new_id(now),
            "node",
            None,
            format!("node {i} is offline"),
            herald::domain::notification::Target::Admins,
            now,
        );
        herald::routing::notify::submit(&app, note).await.unwrap();
    }
    send_all(app, || hook.count(), n).await;
    [reminders, per(&counts, s0)]
}

/// The monthly bill of a small deployment, item by item: 1,000 users, 20 nodes sending a
/// heartbeat every 5 minutes and checked every 5 minutes, the daily job, 10,000 notifications a
/// month. Store requests per heartbeat, per check and per daily run are counted on the
/// in-process stack; durations are the measured API ones, or stated.
async fn small_bill(o: &Opts, out: &mut String, (wcu, rcu, sqs): (f64, f64, f64), api_ms: f64, batch_ms: f64) -> Value {
    let (app, counts) = local_app(herald_tests::test_config(), None);
    herald_tests::seed_users(&app, if o.smoke { 50 } else { 1000 }, "2099-01-01T00:00:00Z").await;
    for i in 0..20 {
        must(&app, "PUT", &format!("/api/v1/nodes/n{i}"), Some(json!({"name": format!("node {i}"), "key": format!("node-key-{i:02}-0123456789")})))
            .await;
    }
    counts.bill.store(true, std::sync::atomic::Ordering::SeqCst);
    let units = |c: &Counts| {
        let (w, r) = c.units();
        let (_, _, q, _) = c.get();
        (w as f64, r, q as f64)
    };
    let delta = |a: (f64, f64, f64), b: (f64, f64, f64), n: f64| ((b.0 - a.0) / n, (b.1 - a.1) / n, (b.2 - a.2) / n);
    let s0 = units(&counts);
    for round in 0..3 {
        for i in 0..20 {
            let _ = round;
            must(&app, "POST", &format!("/api/v1/nodes/n{i}/heartbeat"), Some(json!({}))).await;
        }
    }
    let s1 = units(&counts);
    let beat = delta(s0, s1, 60.0);
    for _ in 0..3 {
        must(&app, "POST", "/api/v1/jobs/node-check/run", None).await;
        must(&app, "POST", "/api/v1/jobs/sweep/run", None).await;
    }
    let s2 = units(&counts);
    let check = delta(s1, s2, 3.0);
    must(&app, "POST", "/api/v1/jobs/daily/run", None).await;
    let s3 = units(&counts);
    let daily = delta(s2, s3, 1.0);
    let month = 30.0;
    let beats = 20.0 * 12.0 * 24.0 * month;
    let checks = 12.0 * 24.0 * month;
    let notes = 10_000.0;
    let (api_requests, invocations) = (beats + notes, beats + notes + checks + month + notes);
    let gbs = (beats * api_ms + notes * (api_ms + batch_ms) + checks * 100.0 + month * 1000.0) / 1000.0 * (128.0 / 1024.0);
    let wcu_month = beats * beat.0 + checks * check.0 + month * daily.0 + notes * wcu;
    let rcu_month = beats * beat.1 + checks * check.1 + month * daily.1 + notes * rcu;
    // The SQS event source keeps polling the queue, idle or not, and each poll is a billed
    // request; Lambda does not publish how many pollers an idle mapping keeps. Assumed here: 5,
    // each a 20-second long poll at a time (an assumption, not a measurement).
    let polls = 5.0 * 3.0 * 60.0 * 24.0 * month;
    let sqs_month = notes * sqs + checks * check.2 + month * daily.2 + polls;
    let gb_stored = (1000.0 * 0.6 + notes * 1.0 + 20.0 * 0.5) / 1e6;
    let items: Vec<(&str, f64)> = vec![
        ("API Gateway HTTP API (heartbeats + notify calls)", api_requests * price("apigw_http_request")),
        ("Lambda requests", invocations * price("lambda_request")),
        ("Lambda duration (128 MB; API as measured, a check 100 ms, the daily job 1 s)", gbs * price("lambda_gb_second")),
        ("DynamoDB on-demand writes", wcu_month * price("dynamodb_write")),
        ("DynamoDB on-demand reads", rcu_month * price("dynamodb_read")),
        ("DynamoDB storage and PITR (~10 MB)", gb_stored * (STORAGE_GB_MONTH + PITR_GB_MONTH)),
        ("SQS FIFO requests (sends, deletes; the event source's long polls, assumed 5 pollers)", sqs_month * price("sqs_fifo_request")),
        ("EventBridge Scheduler (node check + daily job)", (checks + month) * SCHEDULER_INVOCATION),
        ("CloudWatch Logs ingestion (~1 KB an invocation)", invocations * 1e3 / 1e9 * price("logs_gb")),
        ("CloudWatch alarms (10, standard resolution)", 10.0 * ALARM_MONTH),
    ];
    writeln!(
        out,
        "\nA small deployment's month, on demand, no free tier: 1,000 users, 20 nodes (a heartbeat each every 5 minutes, {:.2} write units each), the node check and sweeper every 5 minutes ({:.2} read units each), the daily job ({:.1} read units), 10,000 notifications.\n",
        beat.0, check.1, daily.1
    )
    .ok();
    writeln!(out, "| item | $ a month |\n|---|---|").ok();
    let mut total = 0.0;
    for (name, usd) in &items {
        total += usd;
        writeln!(out, "| {name} | {usd:.3} |").ok();
    }
    let no_gw = total - items[0].1;
    let no_alarms = no_gw - items[items.len() - 1].1;
    let one_alarm = 9.0 * ALARM_MONTH;
    writeln!(
        out,
        "| **total** | **{total:.2}** |\n\nThrough function URLs: {no_gw:.2}; and without the alarms: {no_alarms:.2}. With only the dead-letter alarm (`Alarms=DeadLetters`): {:.2} through the HTTP API, {:.2} through function URLs.",
        total - one_alarm,
        no_gw - one_alarm
    )
    .ok();
    json!({"total": total, "function_urls": no_gw, "function_urls_no_alarms": no_alarms, "dead_letters_alarm_only": [total - one_alarm, no_gw - one_alarm], "per_heartbeat": [beat.0, beat.1], "per_check": [check.0, check.1], "daily": [daily.0, daily.1]})
}

#[tokio::main]
async fn main() {
    let o = opts();
    let mut report = String::new();
    let mut all = serde_json::Map::new();
    // Each section is printed as soon as it is done (a long run shows its progress).
    let machine = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned()))
        .unwrap_or_default();
    writeln!(
        report,
        "Machine: {} × {machine}; {}.\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        jiff::Timestamp::now().strftime("%Y-%m-%d")
    )
    .ok();
    let sections: [(&str, &str); 9] = [
        ("startup", "Start-up"),
        ("load", "Receivers under load"),
        ("rate", "Delivery rate"),
        ("faults", "Fault run"),
        ("apprise", "Apprise side by side"),
        ("durable", "The local runner on its durable store"),
        ("fanout", "Daily fan-out"),
        ("memory", "Peak memory"),
        ("cost", "Cost per million notifications"),
    ];
    for (key, title) in sections {
        if o.only.as_deref().is_some_and(|w| !w.split(',').any(|x| x == key)) {
            continue;
        }
        let mut out = String::new();
        eprintln!("bench: {title}...");
        let v = match key {
            "startup" => startup(&o, &mut out).await,
            "load" => load(&o, &mut out).await,
            "rate" => rate(&o, &mut out).await,
            "faults" => faults(&o, &mut out).await,
            "apprise" => apprise(&o, &mut out).await,
            "durable" => durable(&o, &mut out).await,
            "fanout" => fanout(&o, &mut out).await,
            "memory" => memory(&o, &mut out).await,
            _ => cost(&o, &mut out, &all).await,
        };
        println!("### {title}\n\n{out}");
        all.insert(key.into(), v);
    }
    if let Ok(path) = std::env::var("HERALD_BENCH_JSON") {
        std::fs::write(path, serde_json::to_string_pretty(&Value::Object(all)).unwrap_or_default()).ok();
    }
}
