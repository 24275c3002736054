//! Proof under faults, scaled down for the test suite (`HERALD_FAULT_N` scales it up; the long
//! run is in docs/reliability.md): nothing lost, nothing sent twice outside the documented
//! window, no 429 caused by our own pacing, and the bot's limit used.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_lost_or_sent_twice_under_faults_and_a_crash() {
    let n: usize = std::env::var("HERALD_FAULT_N").ok().and_then(|v| v.parse().ok()).unwrap_or(240);
    let dir = tempfile::tempdir().unwrap();
    let table = Arc::new(herald::store::embedded::EmbeddedTable::open(dir.path()).unwrap());
    let mut config = herald_tests::test_config();
    herald_tests::faults::config(&mut config);
    // Messages a killed instance held come back after three seconds, as SQS would redeliver them.
    let queue = Arc::new(herald::queue::memory::MemoryQueue::new(std::time::Duration::from_secs(3), config.max_receives));
    let app = herald::app::App::new(table, queue, Arc::new(herald::domain::clock::SystemClock), config).unwrap();
    let r = herald_tests::faults::run(app, n, n / 3, 3, 7).await;
    eprintln!("{}", serde_json::to_string_pretty(&r).unwrap());
    assert_eq!(r.lost, 0, "{r:?}");
    assert_eq!(r.failed, 0, "{r:?}");
    // The two windows no sender can close: a crash between the platform's answer and the `sent`
    // write, and an answer that arrives after the client gave up on a message already shown.
    assert!(r.duplicated <= r.in_flight_at_kill + r.injected_accepted_timeouts as usize, "{r:?}");
    assert_eq!(r.pacing_429, 0, "{r:?}");
    assert!(r.injected_5xx > 0 && r.injected_timeouts > 0 && r.injected_429 > 0 && r.injected_accepted_timeouts > 0, "{r:?}");
}
