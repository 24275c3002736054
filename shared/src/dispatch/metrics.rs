//! CloudWatch Embedded Metric Format: one JSON line per event on stdout, which Lambda ships to
//! CloudWatch Logs and CloudWatch turns into metrics (`Herald` namespace, by channel kind). Off
//! unless enabled (the Lambda functions enable it; the local runner does not).

use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);

pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

/// The EMF line for one event (`sent`, `failed`, `retried`, `rescheduled`, ...).
pub fn line(kind: &str, event: &str, latency_ms: u64, now_ms: i64) -> String {
    serde_json::json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": "Herald",
                "Dimensions": [["kind"]],
                "Metrics": [{"Name": event, "Unit": "Count"}, {"Name": "latency", "Unit": "Milliseconds"}],
            }],
        },
        "kind": kind,
        event: 1,
        "latency": latency_ms,
    })
    .to_string()
}

pub fn emit(kind: &str, event: &str, latency_ms: u64) {
    if ENABLED.load(Ordering::Relaxed) {
        println!("{}", line(kind, event, latency_ms, jiff::Timestamp::now().as_millisecond()));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn writes_embedded_metric_format() {
        let v: serde_json::Value = serde_json::from_str(&super::line("telegram", "sent", 12, 1_700_000_000_000)).unwrap();
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Herald");
        assert_eq!(v["sent"], 1);
        assert_eq!(v["kind"], "telegram");
    }
}
